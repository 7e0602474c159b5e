"""GTPOS with OR-Tools CP-SAT, built directly with its Python API (Pyomo has no CP-SAT interface).

The model is the aggregated path-flow model of :mod:`mecopt.milp.classes` (the same arcs the
HiGHS model has): integer flow f[k,a] in [0, count_k] on every arc of class k's network,
conservation with supply count_k, (27) sum of block flows of slot h <= B, and in mode total
(17) sum of block server times of slot h <= T_d/H, with the times scaled to integers by
:func:`capacity_scaling`. Per-device (17) and the deadline (26) are structural (arcs that
break them are not in the network), so they involve no arithmetic at all.

**Integer scaling of (17) (mode total), and why it cannot change feasibility.** Let cap = T_d/H,
tol = CAP_TOL (the checker's 1e-9), and K = the most blocks one slot can hold (min(B, N): each
MD has at most one block per slot, and (27) admits at most B MDs). With an integer scale
s >= 4K / (cap tol), every block time t (a double, hence an exact rational) becomes
T = ceil(s t) and the capacity C = floor(s cap (1 + tol/2)), both computed exactly with
:class:`fractions.Fraction`. For any set of at most K blocks:

* if sum t <= cap (feasible with no tolerance at all), then sum T < s sum t + K <= s cap + s cap
  tol/4 < s cap (1 + tol/2), so sum T <= C: CP-SAT keeps it;
* if sum T <= C, then sum t <= sum T / s <= C / s <= cap (1 + tol/2): the checker (which allows
  cap (1 + tol) + 1e-15) accepts it, with a margin of cap tol/2 far above the rounding of any
  float sum of a few block times.

So every profile that meets (17) exactly is feasible for CP-SAT, and every profile CP-SAT
accepts passes the checker; only profiles inside the checker's own tolerance band
(cap, cap (1 + tol/2)] may go either way. Tested on constructed boundary cases
(tests/milp/test_gtpos_backends.py).

**Objective.** Arc costs c are scaled to integers by rounding with a power-of-two scale s_o
(the largest with max |c| s_o <= 2^40 and N max |c| s_o <= 2^52). Every path has at most two
costed arcs (START or LOCAL, and the final block), so for any profile the scaled objective
differs from s_o times the true one by at most N (per class: count); the bound reported is
CP-SAT's bound / s_o minus that error (a valid bound on the true optimum), the objective is
the true value of the returned profile, and ``OPTIMAL`` requires the gap between the two to
be within ``mip_rel_gap`` (:mod:`mecopt.milp.backends.status`).

**Several servers.** The slots are the columns (server k, slot h) of
:func:`mecopt.milp.classes.columns`; (27) is per column with B_k, and (17) in mode total per
column with server k's own scale: cap = T_d,k/H_k and K = min(B_k, N_k) (N_k the MDs that reach
k), so the argument above holds on every server.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from fractions import Fraction

import numpy as np

from mecopt.core.tolerances import CAP_TOL
from mecopt.milp.backends.base import Backend, Limits
from mecopt.milp.backends.status import Report
from mecopt.milp.classes import ClassNetwork, columns
from mecopt.milp.network import BLOCK


def capacity_scaling(cap: float, max_terms: int) -> tuple[int, int]:
    """(s, C): the integer scale of block times and the scaled capacity of (17) (module docstring).

    Parameters
    ----------
    cap : float
        The capacity T_d/H of (17) in seconds.
    max_terms : int
        Most block times summed in one capacity row.

    Returns
    -------
    tuple[int, int]
        (s, C).
    """
    s = math.ceil(Fraction(4 * max(1, max_terms)) / (Fraction(cap) * Fraction(CAP_TOL)))
    C = math.floor(Fraction(s) * Fraction(cap) * (1 + Fraction(CAP_TOL) / 2))
    return s, C


def scale_time(t: float, s: int) -> int:
    """ceil(s t), exactly.

    Parameters
    ----------
    t : float
        A time in seconds.
    s : int
        The scale.

    Returns
    -------
    int
        The scaled time, rounded up.
    """
    return math.ceil(Fraction(float(t)) * s)


def objective_scale(costs: list[np.ndarray], n_units: int) -> float:
    """The power-of-two objective scale s_o (module docstring).

    Parameters
    ----------
    costs : list[numpy.ndarray]
        The arc costs of every class.
    n_units : int
        The number of MDs (flow units).

    Returns
    -------
    float
        s_o, a power of two.
    """
    cmax = max((float(np.abs(c).max()) for c in costs if len(c)), default=1.0) or 1.0
    limit = min(2.0 ** 40 / cmax, 2.0 ** 52 / (max(1, n_units) * cmax))
    return 2.0 ** math.floor(math.log2(limit))


def solve(instance, nets: list[ClassNetwork], objective: str, weight: float, *, time_limit: float | None,
          threads: int | None, hint: list[np.ndarray] | None = None,
          progress: Callable[[dict], None] | None = None, seed: int = 0, params: dict | None = None):
    """Build and solve the CP-SAT model; returns (Report, flows or None, info dict).

    ``params`` overrides CP-SAT parameters (e.g. the benchmark's plain reference model).

    Parameters
    ----------
    instance : Instance
        The instance.
    nets : list[ClassNetwork]
        The class networks.
    objective : str
        The GTPOS objective: ``delay``, ``energy`` or ``social``.
    weight : float
        Factor of the objective (1/N for delay and energy).
    time_limit : float or None
        Time limit in seconds (None: none).
    threads : int or None
        Worker threads (None: CP-SAT's default).
    hint : list[numpy.ndarray] or None, default None
        A start profile handed to CP-SAT as a hint.
    progress : Callable[[dict], None] or None, default None
        Called with the incumbent's figures as they improve.
    seed : int, default 0
        CP-SAT's random seed.
    params : dict or None, default None
        CP-SAT parameters overriding the defaults.

    Returns
    -------
    tuple
        (report, class flows or None, info).
    """
    from ortools.sat.python import cp_model

    t0 = time.perf_counter()
    views = [instance.view(k) for k in range(instance.K)]
    cols = columns(instance)   # (server, slot) per column: 1..H with one server
    col_server = [views[k].server for k, _ in cols]
    H = len(cols)
    model = cp_model.CpModel()
    flows = []
    costs = [net.cost(objective) for net in nets]
    s_o = objective_scale(costs, sum(net.count for net in nets))
    obj_terms, err = [], 0
    blocks = {h: [] for h in range(1, H + 1)}
    for net, c in zip(nets, costs):
        ub = [net.count] * net.n_arcs if net.ub is None else [int(u) for u in net.ub]
        f = [model.new_int_var(0, ub[a], f"f{net.members[0]}_{a}") for a in range(net.n_arcs)]
        flows.append(f)
        out_, in_ = {}, {}
        for a in range(net.n_arcs):
            out_.setdefault(int(net.tail[a]), []).append(f[a])
            in_.setdefault(int(net.head[a]), []).append(f[a])
        model.add(sum(out_.get(0, [])) == net.count)
        for node in out_:
            if node != 0:
                model.add(sum(out_[node]) == sum(in_.get(node, [])))
        ci = np.rint(c * s_o).astype(np.int64)
        obj_terms += [(int(ci[a]), f[a]) for a in np.flatnonzero(ci)]
        err += net.count
        for a in np.flatnonzero(net.kind == BLOCK):
            blocks[int(net.h[a])].append((net, int(a), f[a]))
    for h in range(1, H + 1):
        if blocks[h]:
            model.add(sum(v for _, _, v in blocks[h]) <= col_server[h - 1].B)  # (27), per (server, slot)
    cap_scale = None
    if views[0].server.capacity_mode == "total":   # one capacity mode for every server
        # (17) per (server, slot): server k's T_d,k/H_k, at most min(B_k, N_k) blocks
        scales = {k: capacity_scaling(v.server.slot_len, min(v.server.B, len(v.members))) for k, v in enumerate(views)}
        cap_scale = [dict(server=v.server.name, s=scales[k][0], C=scales[k][1]) for k, v in enumerate(views)]
        if instance.K == 1:   # reported as one dict with one server (Solution.info["capacity_scale"])
            cap_scale = dict(s=scales[0][0], C=scales[0][1])
        for h in range(1, H + 1):
            if blocks[h]:
                s, C = scales[cols[h - 1][0]]
                model.add(sum(scale_time(net.t_blk[a], s) * v for net, a, v in blocks[h]) <= C)  # (17)
    model.minimize(sum(k * v for k, v in obj_terms))
    if hint is not None:
        for f, fv in zip(flows, hint):
            for v, x in zip(f, fv):
                model.add_hint(v, int(x))

    solver = cp_model.CpSolver()
    p = solver.parameters
    p.num_workers = int(threads) if threads else 1
    p.random_seed = int(seed)
    p.catch_sigint_signal = False  # Ctrl-C is mecopt's to handle (_solve_interruptibly); OR-Tools' own handler aborts
    p.linearization_level = 2  # the LP with cuts: measured 2-10x faster here than the default level 1
    if time_limit is not None:
        p.max_time_in_seconds = max(1e-3, float(time_limit) - (time.perf_counter() - t0))   # building counts
    for key, val in (params or {}).items():
        setattr(p, key, val)
    t1 = time.perf_counter()

    class _Progress(cp_model.CpSolverSolutionCallback):
        def on_solution_callback(self):
            if progress is None:
                return
            inc = self.objective_value / s_o * weight
            bnd = (self.best_objective_bound - err) / s_o * weight
            progress(dict(incumbent=inc, bound=bnd, gap=max(0.0, inc - bnd) / max(abs(inc), 1e-12),
                          time_s=time.perf_counter() - t0))

    cb = _Progress()  # always one: stopping a search that has no callback aborts OR-Tools (bad_function_call)
    st = _solve_interruptibly(solver, model, cb)
    name = solver.status_name(st)
    info = dict(build_s=t1 - t0, solve_s=time.perf_counter() - t1, objective_scale=s_o,
                capacity_scale=cap_scale,
                workers=p.num_workers, branches=solver.num_branches)
    if st in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        vals = [np.array([solver.value(v) for v in f], dtype=int) for f in flows]
        bound = (solver.best_objective_bound - err) / s_o * weight
        true_obj = sum(float(c @ v) for c, v in zip(costs, vals)) * weight
        timed_out = st == cp_model.FEASIBLE and time_limit is not None
        rep = Report(status=f"CP-SAT {name}", proven_optimal=st == cp_model.OPTIMAL, time_limit=timed_out,
                     other_limit=st == cp_model.FEASIBLE and not timed_out, objective=true_obj,
                     bound=min(bound, true_obj), nodes=solver.num_branches)
        return rep, vals, info
    rep = Report(status=f"CP-SAT {name}", infeasible=st == cp_model.INFEASIBLE,
                 time_limit=st == cp_model.UNKNOWN and time_limit is not None)
    return rep, None, info


def _solve_interruptibly(solver, model, callback):
    """``solver.solve`` in a helper thread.

    So that Ctrl-C (a KeyboardInterrupt in the main thread, :mod:`mecopt.core.interrupt`) stops the search at once and
    is reported as an interruption.
    """
    import threading

    out: dict = {}

    def run():
        try:
            out["status"] = solver.solve(model, callback)
        except BaseException as err:  # re-raised in the caller's thread
            out["error"] = err

    worker = threading.Thread(target=run, name="cp-sat", daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.05)
    except BaseException:
        solver.stop_search()
        worker.join()
        raise
    if "error" in out:
        raise out["error"]
    return out["status"]



class CpSatBackend(Backend):
    """GTPOS on the class networks with OR-Tools CP-SAT (:func:`solve`).

    Limits: ``time_limit`` -> ``max_time_in_seconds``, ``threads`` -> ``num_workers`` (default 1),
    ``start`` -> a solution hint; ``progress`` from CP-SAT's solution callback. ``mip_rel_gap`` is
    applied to the reported gap (:func:`mecopt.milp.backends.status.termination`): CP-SAT proves
    optimality of its integer objective.
    """

    name = "cpsat"
    accepts_start = True

    def available(self) -> bool:
        """Whether OR-Tools imports here.

        Returns
        -------
        bool
            True when ``ortools`` imports.
        """
        try:
            from ortools.sat.python import cp_model  # noqa: F401
        except ImportError:
            return False
        return True

    def solve(self, problem, limits: Limits):
        """See :meth:`mecopt.milp.backends.base.Backend.solve`.

        Parameters
        ----------
        problem : Problem
            The class networks (``problem.nets``) and, on demand, their Pyomo model.
        limits : Limits
            Time limit, gap, threads, start and progress of the solve.

        Returns
        -------
        tuple
            ``(report, flows, info)`` as :meth:`mecopt.milp.backends.base.Backend.solve` describes.
        """
        return solve(problem.instance, problem.nets, problem.objective, problem.weight,
                     time_limit=limits.time_limit, threads=limits.threads, hint=limits.start,
                     progress=limits.progress)
