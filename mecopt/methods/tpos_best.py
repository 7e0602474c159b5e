"""tpos-best: the best equilibrium, the proven minimum of the potential Phi (outer approximation).

The formulation is :mod:`mecopt.milp.potential`; this module runs it (HiGHS), starts it from
the game's equilibria, polishes and certifies the result.
"""

from __future__ import annotations

import time

import numpy as np
import pyomo.environ as pyo

from mecopt.core import cost as costmod
from mecopt.core.errors import InfeasibleError, SolverError
from mecopt.core.instance import Instance
from mecopt.core.options import Option, declare_options
from mecopt.core.solution import Solution, Termination
from mecopt.methods import gtpos
from mecopt.methods.registry import TIME_LIMIT, several_servers
from mecopt.milp import potential
from mecopt.milp.backends.highs import highs_object, outcome, persistent_solver
from mecopt.milp.potential import DEFAULT_CUT_TOL, DEFAULT_GRID, POTENTIAL_OPTIONS, build_model


def _warm_start(opt, model: pyo.ConcreteModel, instance: Instance, profile: list[np.ndarray]) -> bool:
    """Hand HiGHS ``profile`` as its first incumbent, where the model takes one.

    See :func:`mecopt.milp.potential.start_values`.

    Parameters
    ----------
    opt : pyomo.contrib.solver.solvers.highs.Highs
        The persistent solver, with ``model`` set.
    model : pyomo.environ.ConcreteModel
        The potential MILP (:func:`mecopt.milp.potential.build_model`).
    instance : Instance
    profile : list of numpy.ndarray

    Returns
    -------
    bool
        Whether HiGHS accepted a start.
    """
    values = potential.start_values(model, instance, profile)
    if values is None:
        return False
    col = opt._pyomo_var_to_solver_var_map   # Pyomo keeps it private; read-only use here
    idx = [col[k] for k in values if k in col]
    val = [values[k] for k in values if k in col]
    h = highs_object(opt)
    return str(h.setSolution(len(idx), np.array(idx, dtype=np.int32), np.array(val, dtype=float))).endswith("kOk")


def _start_assignment(instance: Instance, starts: int) -> tuple[list[np.ndarray] | None, float, np.ndarray | None]:
    """The certified CAI equilibrium of least Phi over seeds 0..starts-1 (DP engine).

    (profile, Phi, server_of), (None, inf, None) when none is certified (``server_of`` None with one server).
    """
    from mecopt.methods.tpos import solve_cai

    best, phi, servers = None, np.inf, None
    for seed in range(starts):
        sol = solve_cai(instance, engine="dp", seed=seed)
        p = costmod.evaluate(instance, sol.profile, sol.server_of).potential
        if sol.certificate["certified"] and p < phi:
            best, phi, servers = sol.profile, float(p), sol.server_of
    return best, phi, servers


def _polish(instance: Instance, profile: list[np.ndarray], server_of=None,
            max_passes: int = 1000) -> tuple[list[np.ndarray], np.ndarray | None, int]:
    """Exact best responses in index order until a full pass has no improving move.

    The best responses are exact (DP, no tie-break, over every reachable server). A device's current strategy must move
    when it breaks (17), (27) or, where (26) is a constraint (not relaxed, not soft), its deadline. Returns the profile,
    its servers (None with one server) and the number of moves.
    """
    from mecopt.bestresponse.engines import make_engine
    from mecopt.core.problem import enforces_deadline
    from mecopt.game.state import GameState

    state, eng = GameState(instance, profile, server_of), make_engine(instance, "dp", tie_break=False)
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
    return state.profile(), state.solution_servers(), moves


def price_of_stability(instance: Instance, ev: costmod.Evaluation, *, time_limit: float | None = None) -> dict:
    """Avg delay and social cost of ``ev`` over GTPOS's optima of the same measure (None if not proven).

    Parameters
    ----------
    instance : Instance
        The instance.
    ev : Evaluation
        The evaluation of the best equilibrium found.
    time_limit : float or None, default None
        Time limit of each GTPOS solve in seconds (None: none).

    Returns
    -------
    dict
        The ratios of average delay and social cost to GTPOS's optima (None where not proven optimal).
    """
    from mecopt.core.cost import social_cost

    out = {}
    for objective, mine, key in (("delay", ev.avg_delay, "delay"), ("social", social_cost(instance, ev), "social")):
        opt = gtpos.solve_gtpos(instance, objective=objective, time_limit=time_limit)
        proven = opt.termination == Termination.OPTIMAL
        out[f"gtpos_{key}"] = float(opt.objective)
        out[f"gtpos_{key}_termination"] = str(opt.termination)
        out[f"{key}"] = float(mine)
        out[f"pos_{key}"] = float(mine / opt.objective) if proven and opt.objective else None
    return out


#: the options of TPOS-best
BEST_OPTIONS = (
    Option("gap", float, "relative gap between the incumbent's true Phi (25) and the MILP bound that counts as "
           "proven", ge=0, lt=1),
    Option("cut_tol", float, "cut error below which no cut is added", gt=0),
    Option("grid", int, "breakpoints of the initial outer approximation", ge=2),
    Option("max_rounds", int, "most MILP solves", ge=1),
    TIME_LIMIT,
    Option("starts", int, "CAI runs (seeds 0..starts-1) whose best equilibrium is the first incumbent (0: none)",
           ge=0),
    Option("pos", bool, "also solve GTPOS (delay and social) for the price-of-stability ratios"),
)


@several_servers
@declare_options("tpos-best", *BEST_OPTIONS)
def solve_best(instance: Instance, *, gap: float = 1e-9, cut_tol: float = DEFAULT_CUT_TOL, grid: int = DEFAULT_GRID,
               max_rounds: int = 50, time_limit: float | None = None, starts: int = 3, pos: bool = True) -> Solution:
    """TPOS-best: minimize Phi over the feasible profiles by outer approximation (module docstring).

    ``gap``: relative gap between the true Phi of the incumbent and the MILP bound that counts as proven;
    ``cut_tol``: cut error below which no cut is added; ``max_rounds``: MILP solves at most;
    ``starts``: CAI runs (seeds 0..starts-1) whose best equilibrium is HiGHS's first incumbent (0: none);
    ``pos``: also solve GTPOS (delay and social) for the price-of-stability ratios.

    Parameters
    ----------
    instance : Instance
        The instance.
    gap : float, default 1e-09
        Relative gap between the incumbent's true Phi and the MILP bound that counts as proven.
    cut_tol : float, default DEFAULT_CUT_TOL
        Cut error below which no cut is added.
    grid : int, default DEFAULT_GRID
        Breakpoints of the initial outer approximation.
    max_rounds : int, default 50
        Most MILP solves.
    time_limit : float or None, default None
        Time limit in seconds (None: none).
    starts : int, default 3
        CAI runs (seeds 0..starts-1) whose best equilibrium is the first incumbent (0: none).
    pos : bool, default True
        Also solve GTPOS (delay and social) for the price-of-stability ratios.

    Returns
    -------
    Solution
        The profile of least potential found, with its bound and certificate.

    Raises
    ------
    InfeasibleError
        When the potential model has no feasible profile.
    SolverError
        When HiGHS fails.
    """
    from mecopt.game.certificate import certificate
    from mecopt.game.dynamics import CERTIFICATE_TOL

    t0 = time.perf_counter()
    model, _ = build_model(instance, grid)
    H = len(model.columns)   # one column per (server, slot)
    opt = persistent_solver(dict(POTENTIAL_OPTIONS, mip_rel_gap=min(gap, 1e-4) / 10))
    opt.set_instance(model)
    start, start_phi, _ = _start_assignment(instance, starts) if starts else (None, np.inf, None)
    solution_vars = potential.solution_vars(model)
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
        if start is not None:   # taken where the model takes a start (one server; module docstring)
            _warm_start(opt, model, instance, start if best is None else best)
        res = opt.solve(model)
        out = outcome(opt, res)
        status = out.status
        if out.termination == Termination.INFEASIBLE:
            raise InfeasibleError(gtpos.infeasible_message(instance, "HiGHS").replace("GTPOS", "tpos-best"))
        if not out.has_solution:
            raise SolverError(f"tpos-best: HiGHS stopped without a feasible solution ({out.status})")
        if out.bound is not None:
            # a time-limited round still bounds this relaxation, hence min Phi
            bound = max(bound, float(out.bound) / model.phi_scale)
        vals = res.solution_loader.get_vars(vars_to_load=solution_vars)
        prof, servers = potential.assignment_of(model, instance, vals)
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
    if best is None:   # the time limit ran out before the first MILP solve (the starts took it)
        raise SolverError(f"tpos-best: the time limit ({time_limit:g} s) ran out before the first MILP solve; "
                          "raise the 'time_limit' option or lower 'starts'")
    rel_gap = max(0.0, (best_phi - bound) / max(abs(best_phi), 1e-12)) if np.isfinite(bound) else None
    if term == Termination.OPTIMAL and (rel_gap is None or rel_gap > gap):
        term = Termination.FEASIBLE
    profile, server_of, polish = _polish(instance, best, best_servers)
    cert = certificate(instance, profile, tol_rel=CERTIFICATE_TOL, server_of=server_of)
    ev = costmod.evaluate(instance, profile, server_of)
    info = dict(start_phi=start_phi if np.isfinite(start_phi) else None, starts=starts, rounds=rounds,
                cuts_added=cuts_added, grid=grid, cut_tol=cut_tol, phi_milp_incumbent=best_phi,
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
