"""Best response (problem 28) of one MD as a MILP, solved by HiGHS: :class:`MILPEngine`.

Formulation (docs/milp.md): the MD's path network (:mod:`mecopt.milp.network`)
with the tensor y[m,h] and (15), (16), (26) stated on y, plus

* (17) ``sum_m y[m,h] T^se_m <= cap_h``: per_device cap_h = T_d/H; total
  cap_h = T_d/H - T_others^h (mutable). The right-hand side is set halfway
  between the largest block time that fits (the DP's rule and tolerance) and the
  smallest that does not, so the solver's feasibility tolerance cannot change
  the answer. Blocks that never fit are not in the network.
* (27) ``u[h] <= open_h`` with u[h] = 1(sum_m y[m,h]) and open_h = 1 iff
  count_others^h + 1 <= B (+1e-9, as :func:`mecopt.core.problem.slot_open`), and
  also 0 when (17) leaves no room at all in slot h (total mode).
* objective ``C_n + eps_n theta_n`` (23) with the tie-breaking rule of
  :mod:`mecopt.core.problem`. The price (19) is gamma sum_h (a_h + b_h/h (L_h + S_h)) S_h
  with S_h = the MD's own load: its linear part has the mutable coefficient
  gamma (a_h + b_h/h L_h) on the variable own_load[h]; its square S_h^2 equals
  sum over the MD's block arcs in slot h of s_blk^2 z (at most one block per slot,
  z binary), a constant cost per block arc: the quadratic price is linearized
  exactly. Delay (24) and energy (25) are additive along the path (start arc:
  local + upload + download; final block arc: h_max T_d/H).
* soft deadline policy: (26) is switched off and the objective gets pi_n * overrun with a
  continuous overrun >= T_n - tau_n, >= 0 (:func:`~mecopt.milp.network.add_overrun`).

The Pyomo model is built once per device; a best response updates the mutable
Params (others' load L_h, capacity, open slots, deadline switch) and re-solves
through the persistent interface, LP relaxation first: when its optimum is
integral (almost always: the network is integral and the side rows rarely cut
it) it is the MILP optimum; otherwise HiGHS branches. The objective is scaled by
K = 1e-3 / eps_n, so the smallest tie-break difference (eps_n / (M+1)) is
1e-3/(M+1) in solver units, far above HiGHS's absolute tolerances (1e-9 feasibility,
1e-7 absolute gap): ties are resolved exactly like the DP.
"""

from __future__ import annotations

import numpy as np
import pyomo.environ as pyo

from mecopt.core import cost as costmod
from mecopt.core.errors import SolverError
from mecopt.core.instance import Device, Server
from mecopt.core.problem import Aggregates, BestResponse, enforces_deadline, slot_capacity, slot_open, theta, tie_weight
from mecopt.core.solution import Termination
from mecopt.core.tolerances import capacity_limit
from mecopt.milp.backends.highs import BEST_RESPONSE_OPTIONS, outcome, persistent_solver
from mecopt.milp.network import BLOCK, LOCAL, START, add_device, add_overrun, block_fits, build_network

#: one tie-break unit eps_n, in scaled objective units (see module docstring)
TIE_UNIT_SCALED = 1e-3
#: an LP value this close to 0 or 1 counts as integral
INTEGRALITY_TOL = 1e-9


class MILPDevice:
    """The MILP of one device, built once; :meth:`best_response` re-solves it.

    Parameters
    ----------
    dev : Device
        The device whose best response is solved.
    server : Server
        The server (H slots, slot length T_d/H, its prices).
    tie_break : bool, optional
        Add the tie-breaking rule's term (eps_n of :func:`mecopt.core.problem.tie_weight`) to the arc costs.
    **solver_options
        Solver options, over ``BEST_RESPONSE_OPTIONS``.

    Attributes
    ----------
    model : pyomo.environ.ConcreteModel
        The device's MILP (eqs. 19 and 23-26 on its flow network).
    last : object
        Outcome of the last solve, or None.
    lp_hits : int
        Solves settled by an integral LP relaxation.
    mip_solves : int
        Solves that needed the MILP.
    """

    def __init__(self, dev: Device, server: Server, tie_break: bool = True, **solver_options):
        self.dev, self.server = dev, server
        M, H = dev.M, server.H
        self.net = net = build_network(dev, server)
        self.eps = tie_weight(dev) if tie_break else 0.0
        self.scale = TIE_UNIT_SCALED / tie_weight(dev)  # objective scale K (tie_weight > 0 always)
        aT, bE = dev.alpha * dev.c_T, dev.beta * dev.c_E
        q = server.price_quad

        # arc costs: the DP's A(j), block and end terms (eqs. 23-25 and the own-load square of 19)
        c = np.zeros(net.n_arcs)
        k = net.kind
        c[k == LOCAL] = aT * net.local_delay + bE * net.local_energy
        st = k == START
        c[st] = aT * net.start_delay[net.j[st]] + bE * net.start_energy[net.j[st]]
        bl = k == BLOCK
        c[bl] = dev.gamma * q[net.h[bl] - 1] * net.s_blk[bl] ** 2 + self.eps * net.h[bl] * net.w_blk[bl]
        fin = net.finals()
        c[fin] += aT * net.h[fin] * server.slot_len  # h_max T_d/H of (24) on the final block
        self.arc_cost = c

        m = pyo.ConcreteModel(name=f"best_response_{dev.name}")
        add_device(m, dev, server, net, own_load=True)
        S = range(1, H + 1)
        m.cap = pyo.Param(S, mutable=True, initialize=float(server.slot_len * (1 + 1e-9)))
        m.open = pyo.Param(S, mutable=True, initialize=1.0)
        m.price = pyo.Param(S, mutable=True, initialize=0.0)

        def capacity_rule(b, h):
            """(17): sum_m y[m,h] T^se_{n,m} <= cap_h."""
            return m.server_time[h] <= m.cap[h]

        m.capacity = pyo.Constraint(S, rule=capacity_rule)
        self._blocks_of = {h: np.flatnonzero(bl & (net.h == h)) for h in S}
        self._sorted_t = {h: np.unique(net.t_blk[self._blocks_of[h]]) for h in S}
        # total mode: a block that no longer fits gets the upper bound 0 (changed bounds only)
        self._blk = np.flatnonzero(bl)
        self._blk_ub = np.ones(len(self._blk), dtype=bool)

        def parallel_rule(b, h):
            """(27): the MD may use slot h only if it holds fewer than B other MDs."""
            return m.u[h] <= m.open[h]

        m.parallel = pyo.Constraint(S, rule=parallel_rule)
        K = self.scale
        soft = 0.0
        if dev.deadline_soft:  # soft (26): pi_n max(0, T_n - tau_n)
            add_overrun(m, dev)
            soft = float(K * dev.deadline_penalty_per_s) * m.overrun
        m.obj = pyo.Objective(expr=(
            pyo.quicksum(float(K * c[a]) * m.f[a] for a in range(net.n_arcs) if c[a] != 0)
            + pyo.quicksum(m.price[h] * m.own_load[h] for h in S) + soft), sense=pyo.minimize)
        self.model = m
        self._y = [m.y[mm, h] for mm in range(1, M + 1) for h in range(H + 1)]
        options = dict(BEST_RESPONSE_OPTIONS)
        options.update(solver_options)
        self.opt = persistent_solver(options)
        self.opt.set_instance(m)
        self._deadline_on = None
        self.last = None   # Outcome of the last solve
        self.lp_hits = 0   # solves settled by an integral LP relaxation
        self.mip_solves = 0

    # -- parameters -------------------------------------------------------------------------
    def _cap_rhs(self, cap: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Right-hand side of (17) per slot, and whether any block can still fit."""
        H = self.server.H
        rhs, room = np.zeros(H), np.ones(H, dtype=bool)
        thr = capacity_limit(cap)  # the DP's rule (network.block_fits)
        for h in range(1, H + 1):
            if thr[h - 1] < 0:
                room[h - 1] = False
                continue
            t = self._sorted_t[h]
            i = int(np.searchsorted(t, thr[h - 1], side="right"))  # t[:i] fit
            lo = t[i - 1] if i > 0 else 0.0
            rhs[h - 1] = (lo + t[i]) / 2 if i < len(t) else max(thr[h - 1], t[-1] if len(t) else 0.0)
        return rhs, room

    def set_params(self, others: Aggregates, deadline_on: bool) -> None:
        """Set the mutable Params to the others' aggregates: price (19), capacity (17), open slots (27), (26).

        Parameters
        ----------
        others : Aggregates
            The other MDs' loads, server times and counts per slot.
        deadline_on : bool
            Whether (26) is a constraint (off when relaxed or soft).
        """
        m, dev, server, net = self.model, self.dev, self.server, self.net
        H = server.H
        price = self.scale * dev.gamma * (server.a + server.price_quad * np.asarray(others.load, float))
        cap = np.asarray(slot_capacity(server, others), float)
        rhs, room = self._cap_rhs(cap)
        open_ = slot_open(server, others) & room
        for h in range(1, H + 1):
            m.price[h] = float(price[h - 1])
            m.cap[h] = float(rhs[h - 1])
            m.open[h] = 1.0 if open_[h - 1] else 0.0
        if server.capacity_mode == "total":
            ub = block_fits(net.t_blk[self._blk], cap[net.h[self._blk] - 1])
            changed = np.flatnonzero(ub != self._blk_ub)
            if len(changed):
                vs = []
                for i in changed:
                    v = m.f[int(self._blk[i])]
                    v.setub(1 if ub[i] else 0)
                    vs.append(v)
                self.opt.update_variables(vs)
                self._blk_ub = ub
        if deadline_on != self._deadline_on:
            m.deadline_on = 1 if deadline_on else 0
            self._deadline_on = deadline_on

    def _run(self, relaxation: bool):
        self.opt.config.solver_options["solve_relaxation"] = relaxation
        res = self.opt.solve(self.model)
        out = outcome(self.opt, res)
        self.last = out
        return res, out

    def _solve(self) -> np.ndarray | None:
        """LP relaxation first: an integral LP optimum is the MILP optimum; otherwise branch and bound."""
        M, H1 = self.dev.M, self.server.H + 1
        res, out = self._run(True)
        if out.termination == Termination.INFEASIBLE:
            return None  # the relaxation is infeasible, so is the MILP
        if out.termination == Termination.OPTIMAL and out.has_solution:
            vals = res.solution_loader.get_vars(vars_to_load=self._y)
            Y = np.fromiter((vals[v] for v in self._y), float, len(self._y)).reshape(M, H1)
            if np.all(np.abs(Y - np.round(Y)) <= INTEGRALITY_TOL):
                self.lp_hits += 1
                return np.argmax(Y, axis=1).astype(int)
        self.mip_solves += 1
        res, out = self._run(False)
        if out.termination == Termination.INFEASIBLE:
            return None
        if out.termination != Termination.OPTIMAL or not out.has_solution:
            raise SolverError(f"HiGHS best response of {self.dev.name}: {out.status}")
        vals = res.solution_loader.get_vars(vars_to_load=self._y)
        Y = np.fromiter((vals[v] for v in self._y), float, len(self._y)).reshape(M, H1)
        return np.argmax(Y, axis=1).astype(int)

    def solve(self, others: Aggregates, enforce_deadline: bool) -> np.ndarray | None:
        """The optimal strategy, or None when (with the deadline enforced) nothing is feasible.

        Parameters
        ----------
        others : Aggregates
            The other MDs' aggregates per slot.
        enforce_deadline : bool
            Whether (26) is enforced.

        Returns
        -------
        numpy.ndarray or None
            The slot of each layer, or None.
        """
        self.set_params(others, enforce_deadline)
        return self._solve()

    def best_response(self, others: Aggregates) -> BestResponse:
        """Problem (28) against ``others`` (non-negative aggregates), with the deadline rule of the DP.

        Parameters
        ----------
        others : Aggregates
            The other MDs' aggregates per slot.

        Returns
        -------
        BestResponse
            The best response.

        Raises
        ------
        SolverError
            When HiGHS fails or reports an unexpected status.
        """
        enforce = enforces_deadline(self.dev)
        slots = self.solve(others, enforce)
        dropped = False
        if slots is None:
            if not enforce:
                raise SolverError(f"best response of {self.dev.name}: infeasible without (26), which cannot happen")
            slots = self.solve(others, False)
            dropped = True
            if slots is None:
                raise SolverError(f"best response of {self.dev.name}: infeasible with (26) dropped")
        c = costmod.device_cost(self.dev, slots, self.server, others.load)
        return BestResponse(slots=slots, objective=c + self.eps * theta(slots), cost=c, deadline_dropped=dropped)
