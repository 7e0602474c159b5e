"""TPOS-best: the global minimum of the exact potential Phi, an equilibrium found with a proof.

With every gamma_n > 0 the game is an exact potential game (docs/MODEL.md §6)::

    Phi = sum_h [a_h L_h + (q_h/2)(L_h^2 + sum_n (S_n^h)^2)] + sum_n (alpha_n c^T T_n + beta_n c^E E_n) / gamma_n,

with L_h = sum_n S_n^h and q_h = b_h/h. A unilateral move that keeps (17), (26),
(27) changes Phi by the mover's cost change / gamma_n, so a profile minimizing
Phi over all joint profiles satisfying (15)-(17), (26), (27) is a Nash
equilibrium (no device can gain), and its Phi is the least of every equilibrium
of that set: the *best* equilibrium in the potential's order.

Model (docs/milp.md). The GTPOS MILP (:func:`mecopt.milp.device_model.build_model`: each MD's
path network of :mod:`mecopt.milp.network` with y[n,m,h], (15)-(17), (26), (27)),
without the canonical block restriction (the price depends on the blocks), with
the objective replaced by Phi:

* T_n, E_n are linear in y (24)-(25); L_h = sum_n sum_m S_{n,m} y[n,m,h] is linear;
* (S_n^h)^2 is exact and linear on the path: a path holds at most one block per
  slot, so (S_n^h)^2 = sum over n's block arcs a in slot h of s_a^2 f[a];
* the convex L_h^2 is a variable lam_h >= L_h^2 kept from below by tangent cuts
  lam_h >= 2 l L_h - l^2 (outer approximation). The cuts start on a grid of
  ``grid`` points of [0, max L_h]; after each MILP solve a cut is added at the
  incumbent's L_h wherever L_h^2 - lam_h exceeds ``cut_tol`` (relative to
  max(1, L_h^2)), and the MILP is solved again.

Every MILP bound is a valid lower bound of min Phi (the cuts under-estimate
L_h^2); the true Phi of the best incumbent is an upper bound. The method stops
when the relative gap between them is <= ``gap`` (``OPTIMAL``), or at the
iteration or time limit (the gap is then reported). The profile is then
certified with the equilibrium certificate (:mod:`mecopt.game.certificate`);
should a rounding gap leave a device an improving move, a certified CAI polish
(exact best responses until no device moves; each move lowers Phi) finishes,
and ``info["polish_moves"]`` says how many moves it took.

**Several servers** (docs/multiserver.md). The potential is
Phi = sum_k sum_h [a_kh L_kh + (q_kh/2)(L_kh^2 + sum_n (S_n^kh)^2)] + sum_n own_n / gamma_n: its slot
terms are separate per (server, slot), so the same outer approximation applies column by column
(one lam and its cuts per (server, slot)). The model (:func:`build_model_multi`) is the
disaggregated GTPOS class model of :mod:`mecopt.milp.gtpos` (one union network per MD: all local,
or a path on one reachable server, (15s)), without canonical blocks or dominance pruning (both
ignore the price); own_n / gamma_n is the ``social`` arc cost / gamma_n (it includes the
soft-deadline penalty), L_kh and (S_n^kh)^2 are sums over block arcs of s_a f_a and s_a^2 f_a.
Polish and certificate use the multi-server game (:mod:`mecopt.game.multiserver`). HiGHS gets no
start solution here: with ``Highs.setSolution`` it returned the start's values together with an
objective value that was not theirs (below them, and below the enumerated minimum of Phi), the
wrong result of docs/milp.md §3.5, caught by tests/test_gtpos_multiserver.py; the CAI runs of
``starts`` then only report ``start_phi``.

The price of stability is reported against GTPOS: avg delay of this equilibrium
/ GTPOS's least average delay, and its social cost sum_n (alpha c^T T + beta c^E E)
/ GTPOS's least social cost (both GTPOS runs must be proven optimal for a ratio).
Since this equilibrium is one equilibrium, the ratios are upper bounds of the
price of stability in those two measures.
"""

from __future__ import annotations

import time

import numpy as np
import pyomo.environ as pyo

from mecopt.registry import several_servers
from mecopt.errors import InfeasibleError, InputError, SolverError
from mecopt.model import cost as costmod
from mecopt.model.instance import Instance
from mecopt.solution import Solution, Termination
from mecopt.milp.highs import GTPOS_OPTIONS, outcome, persistent_solver
from mecopt.milp.network import BLOCK, build_network
from mecopt.milp import device_model, gtpos

#: initial tangent points per slot, and the cut error (relative to max(1, L_h^2)) that ends the loop
DEFAULT_GRID = 16
DEFAULT_CUT_TOL = 1e-10
#: the MILP objective is Phi scaled to about this size (with Phi in the 1e5-1e8 of the paper
#: instances HiGHS warned of bad scaling and stalled at the root; scaled, fig5-n10 solves)
OBJECTIVE_UNITS = 100.0
#: HiGHS options of the potential MILP: GTPOS's, with presolve probing back on
POTENTIAL_OPTIONS = dict(GTPOS_OPTIONS, presolve_rule_off=0, mip_abs_gap=0.0)


def _require_potential(instance: Instance) -> None:
    bad = [d.name for d in instance.devices if not d.gamma > 0]
    if bad:
        raise InputError("tpos-best needs every gamma_n > 0 (the game has no potential otherwise); "
                         f"gamma = 0 for {', '.join(bad[:10])}")


def build_model(instance: Instance, grid: int = DEFAULT_GRID) -> tuple[pyo.ConcreteModel, np.ndarray]:
    """The potential MILP (module docstring) and the largest possible slot load per slot."""
    _require_potential(instance)
    server, H = instance.server, instance.server.H
    m = device_model.build_model(instance, "social", canonical=False)
    m.obj.deactivate()
    S = range(1, H + 1)
    q = server.price_quad
    own_sq, lmax = {h: [] for h in S}, np.zeros(H)
    for n, dev in enumerate(instance.devices):
        net = build_network(dev, server, canonical=False)   # the arcs device_model.build_model used
        b = m.md[n]
        for h in S:
            arcs = np.flatnonzero((net.kind == BLOCK) & (net.h == h))
            own_sq[h] += [(float(net.s_blk[a]) ** 2, b.f[int(a)]) for a in arcs if net.s_blk[a] != 0]
            lmax[h - 1] += float(net.s_blk[arcs].max()) if len(arcs) else 0.0
    m.L = pyo.Expression(S, rule=lambda _, h: pyo.quicksum(
        float(dev.S[k]) * m.md[n].y[k, h] for n, dev in enumerate(instance.devices)
        for k in range(1, dev.M + 1) if dev.S[k] != 0))
    m.lam = pyo.Var(S, within=pyo.NonNegativeReals, bounds=lambda _, h: (0.0, float(lmax[h - 1]) ** 2))
    m.cuts = pyo.ConstraintList()
    for h in S:
        for ll in np.linspace(0.0, lmax[h - 1], max(2, grid)):
            m.cuts.add(m.lam[h] >= 2 * float(ll) * m.L[h] - float(ll) ** 2)
    own = pyo.quicksum(m.term[n] / float(d.gamma) for n, d in enumerate(instance.devices))
    slot = pyo.quicksum(float(server.a[h - 1]) * m.L[h] + float(q[h - 1]) / 2 * (m.lam[h] + pyo.quicksum(
        c * f for c, f in own_sq[h])) for h in S)
    scale = OBJECTIVE_UNITS / max(1.0, abs(costmod.evaluate(instance, costmod.all_local(instance)).potential))
    m.phi_scale = scale   # the objective is Phi x phi_scale (about OBJECTIVE_UNITS): HiGHS is badly scaled otherwise
    m.phi = pyo.Objective(expr=scale * (own + slot), sense=pyo.minimize)
    return m, lmax


def build_model_multi(instance: Instance, grid: int = DEFAULT_GRID) -> tuple[pyo.ConcreteModel, np.ndarray]:
    """Several servers: the potential MILP on the GTPOS class model (module docstring), one slot
    column per (server, slot) (:func:`mecopt.milp.classes.columns`); the largest load per column."""
    _require_potential(instance)
    m = gtpos.build_model(instance, "social", canonical=False, aggregate=False, prune=False)
    m.obj.deactivate()
    G = len(m.columns)
    S = range(1, G + 1)
    col_server = [instance.servers[k] for k, _ in m.columns]
    a = np.array([sv.a[h - 1] for sv, (_, h) in zip(col_server, m.columns)])
    q = np.array([sv.price_quad[h - 1] for sv, (_, h) in zip(col_server, m.columns)])
    load, own_sq, lmax = {g: [] for g in S}, {g: [] for g in S}, np.zeros(G)
    own = []
    for i, net in enumerate(m.nets):
        f = m.cls[i].f
        (n,) = net.members
        c = net.cost("social") / float(instance.devices[n].gamma)
        own += [(float(c[arc]), f[arc]) for arc in np.flatnonzero(c)]
        for g in S:
            arcs = net.blocks_in(g)
            load[g] += [(float(net.s_blk[arc]), f[int(arc)]) for arc in arcs if net.s_blk[arc] != 0]
            own_sq[g] += [(float(net.s_blk[arc]) ** 2, f[int(arc)]) for arc in arcs if net.s_blk[arc] != 0]
            lmax[g - 1] += float(net.s_blk[arcs].max()) if len(arcs) else 0.0
    m.L = pyo.Expression(S, rule=lambda _, g: pyo.quicksum(c * v for c, v in load[g]))
    m.lam = pyo.Var(S, within=pyo.NonNegativeReals, bounds=lambda _, g: (0.0, float(lmax[g - 1]) ** 2))
    m.cuts = pyo.ConstraintList()
    for g in S:
        for ll in np.linspace(0.0, lmax[g - 1], max(2, grid)):
            m.cuts.add(m.lam[g] >= 2 * float(ll) * m.L[g] - float(ll) ** 2)
    slot = pyo.quicksum(float(a[g - 1]) * m.L[g] + float(q[g - 1]) / 2 * (m.lam[g] + pyo.quicksum(
        c * v for c, v in own_sq[g])) for g in S)
    local = costmod.evaluate(instance, costmod.all_local(instance), np.full(instance.N, -1)).potential
    scale = OBJECTIVE_UNITS / max(1.0, abs(local))
    m.phi_scale = scale
    m.phi = pyo.Objective(expr=scale * (pyo.quicksum(c * v for c, v in own) + slot), sense=pyo.minimize)
    return m, lmax


def _warm_start(opt, model: pyo.ConcreteModel, instance: Instance, profile: list[np.ndarray]) -> bool:
    """Hand HiGHS ``profile`` as its first incumbent (arc flows, y, u and lam of the profile)."""
    from mecopt.milp.highs import highs_object

    server, H = instance.server, instance.server.H
    values = {}
    for n, (dev, slots) in enumerate(zip(instance.devices, profile)):
        b, net = model.md[n], build_network(dev, server, canonical=False)
        path = net.path(slots)
        if path is None:
            return False
        on = set(path)
        values.update({id(b.f[a]): float(a in on) for a in b.f})
        values.update({id(b.y[k, h]): float(slots[k - 1] == h) for k in range(1, dev.M + 1) for h in range(H + 1)})
        values.update({id(b.u[h]): float(h in slots) for h in range(1, H + 1)})
    L = costmod.evaluate(instance, profile).slot_load
    values.update({id(model.lam[h]): float(L[h - 1]) ** 2 for h in range(1, H + 1)})
    col = opt._pyomo_var_to_solver_var_map   # Pyomo keeps it private; read-only use here
    idx = [col[k] for k in values if k in col]
    val = [values[k] for k in values if k in col]
    h = highs_object(opt)
    return str(h.setSolution(len(idx), np.array(idx, dtype=np.int32), np.array(val, dtype=float))).endswith("kOk")


def _start_profile(instance: Instance, starts: int) -> tuple[list[np.ndarray] | None, float]:
    """The certified CAI equilibrium of least Phi over seeds 0..starts-1 (DP engine)."""
    best, phi, _ = _start_assignment(instance, starts)
    return best, phi


def _start_assignment(instance: Instance, starts: int):
    """(profile, Phi, server_of) of :func:`_start_profile` (``server_of`` None with one server)."""
    from mecopt.game.dynamics import solve_cai

    best, phi, servers = None, np.inf, None
    for seed in range(starts):
        sol = solve_cai(instance, engine="dp", seed=seed)
        p = costmod.evaluate(instance, sol.profile, sol.server_of).potential
        if sol.certificate["certified"] and p < phi:
            best, phi, servers = sol.profile, float(p), sol.server_of
    return best, phi, servers


def _polish(instance: Instance, profile: list[np.ndarray], server_of=None,
            max_passes: int = 1000) -> tuple[list[np.ndarray], np.ndarray | None, int]:
    """Exact best responses (DP, no tie-break; with several servers over every reachable server) in
    index order until a full pass has no improving move. A device's current strategy must move when
    it breaks (17), (27) or, where (26) is a constraint (not relaxed, not soft), its deadline."""
    from mecopt.bestresponse.dp import DPEngine
    from mecopt.bestresponse.problem import enforces_deadline
    from mecopt.game.dynamics import server_of as servers_of
    from mecopt.game.multiserver import MultiEngine, MultiState
    from mecopt.game.state import GameState

    if instance.multi:
        state, eng = MultiState(instance, server_of, profile), MultiEngine(instance, tie_break=False)
    else:
        state, eng = GameState(instance, profile), DPEngine(instance, tie_break=False)
    moves = 0
    for _ in range(max_passes):
        moved = False
        for n, dev in enumerate(instance.devices):
            others = state.others(n)
            br = eng.best_response(n, others)
            cur = state.cost(n, others)
            ok = state.feasible(n, others, enforce_deadline=enforces_deadline(dev) and not br.deadline_dropped)
            if not ok or cur - br.cost > 1e-12 * max(1.0, abs(cur)):
                state.apply(n, br)
                moves += 1
                moved = True
        if not moved:
            break
    return state.profile(), servers_of(state), moves


def price_of_stability(instance: Instance, ev: costmod.Evaluation, *, time_limit: float | None = None) -> dict:
    """Avg delay and social cost of ``ev`` over GTPOS's optima of the same measure (None if not proven)."""
    from mecopt.baselines import social_cost

    out = {}
    for objective, mine, key in (("delay", ev.avg_delay, "delay"), ("social", social_cost(instance, ev), "social")):
        opt = gtpos.solve_gtpos(instance, objective=objective, time_limit=time_limit)
        proven = opt.termination == Termination.OPTIMAL
        out[f"gtpos_{key}"] = float(opt.objective)
        out[f"gtpos_{key}_termination"] = str(opt.termination)
        out[f"{key}"] = float(mine)
        out[f"pos_{key}"] = float(mine / opt.objective) if proven and opt.objective else None
    return out


@several_servers
def solve_best(instance: Instance, *, gap: float = 1e-9, cut_tol: float = DEFAULT_CUT_TOL, grid: int = DEFAULT_GRID,
               max_rounds: int = 50, time_limit: float | None = None, starts: int = 3, pos: bool = True) -> Solution:
    """TPOS-best: minimize Phi over the feasible profiles by outer approximation (module docstring).

    ``gap``: relative gap between the true Phi of the incumbent and the MILP bound that counts as proven;
    ``cut_tol``: cut error below which no cut is added; ``max_rounds``: MILP solves at most;
    ``starts``: CAI runs (seeds 0..starts-1) whose best equilibrium is HiGHS's first incumbent (0: none);
    ``pos``: also solve GTPOS (delay and social) for the price-of-stability ratios.
    """
    from mecopt.game.certificate import certificate
    from mecopt.game.dynamics import CERTIFICATE_TOL

    problems = []
    if not gap >= 0:
        problems.append(("gap", f"must be >= 0, got {gap}"))
    if not cut_tol > 0:
        problems.append(("cut_tol", f"must be > 0, got {cut_tol}"))
    if grid < 2:
        problems.append(("grid", f"must be >= 2, got {grid}"))
    if max_rounds < 1:
        problems.append(("max_rounds", f"must be >= 1, got {max_rounds}"))
    if starts < 0:
        problems.append(("starts", f"must be >= 0, got {starts}"))
    if time_limit is not None and not time_limit > 0:
        problems.append(("time_limit", f"must be > 0 seconds, got {time_limit}"))
    if problems:
        raise InputError("invalid tpos-best options", problems)
    t0 = time.perf_counter()
    multi = instance.multi
    model, _ = build_model_multi(instance, grid) if multi else build_model(instance, grid)
    H = len(model.columns) if multi else instance.server.H   # multi: one column per (server, slot)
    opt = persistent_solver(dict(POTENTIAL_OPTIONS, mip_rel_gap=min(gap, 1e-4) / 10))
    opt.set_instance(model)
    start, start_phi, _ = _start_assignment(instance, starts) if starts else (None, np.inf, None)
    if multi:
        yvars = [v for i in model.K for v in model.cls[i].f.values()]
    else:
        yvars = [v for n in range(instance.N) for v in model.md[n].y.values()]
    best, best_phi, bound, rounds, term, status, cuts_added = None, np.inf, -np.inf, 0, Termination.OPTIMAL, "", 0
    best_servers = None
    while True:
        rounds += 1
        if time_limit is not None:
            left = time_limit - (time.perf_counter() - t0)
            if left <= 0:
                term = Termination.TIME_LIMIT
                break
            opt.config.time_limit = left
        if start is not None and not multi:   # several servers: no HiGHS start (module docstring)
            _warm_start(opt, model, instance, start if best is None else best)
        res = opt.solve(model)
        out = outcome(opt, res)
        status = out.status
        if out.termination == Termination.INFEASIBLE:
            raise InfeasibleError(gtpos._infeasible_message(instance, "HiGHS").replace("GTPOS", "tpos-best"))
        if not out.has_solution:
            raise SolverError(f"tpos-best: HiGHS stopped without a feasible solution ({out.status})")
        if out.bound is not None:
            # a time-limited round still bounds this relaxation, hence min Phi
            bound = max(bound, float(out.bound) / model.phi_scale)
        vals = res.solution_loader.get_vars(vars_to_load=yvars + [model.lam[h] for h in range(1, H + 1)])
        if multi:
            prof, servers = gtpos.assignment_of(model, instance, vals)
        else:
            prof, servers = device_model.profile_of(model, instance, vals), None
        ev = costmod.evaluate(instance, prof, servers)
        if ev.potential < best_phi:
            best, best_phi, best_servers = prof, float(ev.potential), servers
        if out.termination != Termination.OPTIMAL:
            term = out.termination
            break
        new = 0
        for h in range(1, H + 1):
            Lh = float(ev.slot_load[h - 1])
            if Lh ** 2 - vals[model.lam[h]] > cut_tol * max(1.0, Lh ** 2):
                c = model.cuts.add(model.lam[h] >= 2 * Lh * model.L[h] - Lh ** 2)
                opt.add_constraints([c])
                new += 1
        cuts_added += new
        gap_now = (best_phi - bound) / max(abs(best_phi), 1e-12)
        if new == 0 or gap_now <= gap:
            break
        if rounds >= max_rounds:
            term = Termination.ITERATION_LIMIT
            break
    rel_gap = max(0.0, (best_phi - bound) / max(abs(best_phi), 1e-12)) if np.isfinite(bound) else None
    if term == Termination.OPTIMAL and (rel_gap is None or rel_gap > gap):
        term = Termination.FEASIBLE
    profile, server_of, polish = _polish(instance, best, best_servers if multi else None)
    cert = certificate(instance, profile, tol_rel=CERTIFICATE_TOL, server_of=server_of)
    ev = costmod.evaluate(instance, profile, server_of)
    info = dict(start_phi=start_phi if np.isfinite(start_phi) else None, starts=starts, rounds=rounds, cuts_added=cuts_added, grid=grid, cut_tol=cut_tol, phi_milp_incumbent=best_phi,
                polish_moves=polish, phi_bound=bound if np.isfinite(bound) else None, highs_status=status,
                potential=float(ev.potential))
    if pos:
        info.update(price_of_stability(instance, ev, time_limit=time_limit))
    words = {Termination.OPTIMAL: f"Phi minimized within relative gap {gap:g} (outer approximation, {rounds} MILP "
                                  f"solve(s))",
             Termination.FEASIBLE: "Phi not proven minimal (see gap)",
             Termination.TIME_LIMIT: "time limit reached; Phi not proven minimal (see gap)",
             Termination.ITERATION_LIMIT: f"{max_rounds} MILP rounds reached; Phi not proven minimal (see gap)"}
    text = words.get(term, status) + ("; certified equilibrium" if cert["certified"] else
                                      "; NOT certified as an equilibrium (see certificate)")
    flags = {d.name: ["deadline_relaxed"] for d in instance.devices if d.deadline_relaxed}
    return Solution(method="tpos-best", instance=instance, profile=profile, termination=term, status=text,
                    objective=float(ev.potential), bound=bound if np.isfinite(bound) else None,
                    gap=None if rel_gap is None else float(max(0.0, (ev.potential - bound) / max(abs(ev.potential),
                                                                                                  1e-12))),
                    wall_time=time.perf_counter() - t0, iterations=rounds, solver_calls=rounds, engine="highs",
                    certificate=cert, flags=flags, info=info, server_of=server_of)
