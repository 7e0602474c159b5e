"""tpos-best: the best equilibrium, the proven minimum of the potential Phi (outer approximation).

The formulation is :mod:`mecopt.milp.potential`; this module runs it (HiGHS), starts it from
the game's equilibria, polishes and certifies the result.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pyomo.environ as pyo

from mecopt.core import cost as costmod
from mecopt.core.errors import InfeasibleError, SolverError
from mecopt.core.instance import Instance
from mecopt.core.options import Option, declare_options
from mecopt.core.solution import Solution, Termination
from mecopt.methods import gtpos
from mecopt.methods.budget import Budget, OutOfTime
from mecopt.methods.registry import PROGRESS, several_servers
from mecopt.milp import potential
from mecopt.milp.backends.highs import highs_object, outcome, persistent_solver
from mecopt.milp.potential import BUILD_S_PER_ARC, DEFAULT_CUT_TOL, DEFAULT_GRID, build_model

#: share of ``time_limit`` kept from the MILP rounds for the polish and the certificate: a MILP stopped by the
#: budget holds an incumbent that is not always an equilibrium (bench alexnet-total-n10 at 60 s: uncertified,
#: the polish had no time left), and the polish (exact best responses, milliseconds each) needs a little time
POLISH_RESERVE = 0.05


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


def _build_check(budget: Budget, arcs: int, done: int, total: int) -> None:
    """Stop building the potential MILP when the budget is spent or cannot build it.

    ``arcs`` arcs in ``done`` of ``total`` networks so far; the whole model is projected at
    :data:`mecopt.milp.potential.BUILD_S_PER_ARC` seconds per arc.

    Raises
    ------
    OutOfTime
        When the deadline has passed, or the projected build needs more than the time left.
    """
    budget.check()
    if budget.deadline is None or not done:
        return
    projected = arcs / done * total * BUILD_S_PER_ARC
    left = budget.deadline - time.perf_counter()
    if projected > left:
        raise OutOfTime(f"about {arcs / done * total:.3g} arcs, projected {projected:.3g} s to build "
                        f"({done} of {total} networks built), {max(left, 0.0):.3g} s left")


def _start_assignment(instance: Instance, starts: int, budget: Budget | None = None):
    """The certified CAI equilibrium of least Phi over seeds 0..starts-1 (DP engine).

    (profile, Phi, server_of, fallback): (None, inf, None, ...) when none is certified (``server_of`` None with
    one server). Under a ``budget`` each run gets the time left and no run starts once it is spent;
    ``fallback`` is (profile, Phi, server_of) of the best feasible run stopped uncertified, or None (the
    answer of last resort when the budget ends before any MILP incumbent).
    """
    from mecopt.methods.tpos import solve_cai

    best, phi, servers, fallback = None, np.inf, None, None
    for seed in range(starts):
        if budget is not None and budget.spent():
            break
        sol = solve_cai(instance, engine="dp", seed=seed, time_limit=None if budget is None else budget.left())
        p = costmod.evaluate(instance, sol.profile, sol.server_of).potential
        if sol.certificate["certified"] and p < phi:
            best, phi, servers = sol.profile, float(p), sol.server_of
        elif sol.feasible and (fallback is None or p < fallback[1]):
            fallback = (sol.profile, float(p), sol.server_of)
    return best, phi, servers, fallback


def _polish(instance: Instance, profile: list[np.ndarray], server_of=None,
            max_passes: int = 1000, budget: Budget | None = None) -> tuple[list[np.ndarray], np.ndarray | None, int]:
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
        if budget is not None and budget.spent():   # stopped by the budget: the certificate says what is left
            break
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


def price_of_stability(instance: Instance, ev: costmod.Evaluation, *, time_limit: float | None = None,
                       budget: Budget | None = None) -> dict:
    """Avg delay and social cost of ``ev`` over GTPOS's optima of the same measure (None if not proven).

    Under a ``budget`` the two GTPOS solves share the time left (the first gets half of it); a solve with
    no time left is not run (``gtpos_*`` None, termination ``"not run: time budget spent"``). With several
    servers the GTPOS bound and gap are reported too (``gtpos_delay_bound``, ``gtpos_delay_gap``, and the
    same for ``social``), so a ratio to an unproven optimum can be given as an interval.

    Parameters
    ----------
    instance : Instance
        The instance.
    ev : Evaluation
        The evaluation of the best equilibrium found.
    time_limit : float or None, default None
        Time limit of each GTPOS solve in seconds (None: none).
    budget : Budget or None, default None
        The whole method's budget (each solve also stays within ``time_limit``).

    Returns
    -------
    dict
        The ratios of average delay and social cost to GTPOS's optima (None where not proven optimal).
    """
    from mecopt.core.cost import social_cost

    out: dict = {}
    for i, (objective, mine, key) in enumerate((("delay", ev.avg_delay, "delay"),
                                                ("social", social_cost(instance, ev), "social"))):
        limit = time_limit
        if budget is not None and budget.deadline is not None:
            share = budget.left() / (2 - i)
            if share <= 0.05:
                out.update({f"gtpos_{key}": None, f"gtpos_{key}_termination": "not run: time budget spent",
                            f"{key}": float(mine), f"pos_{key}": None})
                continue
            limit = share if limit is None else min(limit, share)
        opt = gtpos.solve_gtpos(instance, objective=objective, time_limit=limit)
        proven = opt.termination == Termination.OPTIMAL
        out[f"gtpos_{key}"] = float(opt.objective)
        out[f"gtpos_{key}_termination"] = str(opt.termination)
        if instance.K > 1:   # presentation: the interval of an unproven ratio (K = 1 summaries unchanged)
            out[f"gtpos_{key}_bound"] = opt.bound
            out[f"gtpos_{key}_gap"] = opt.gap
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
    Option("time_limit", float, "time budget in seconds of the whole method (start runs, MILP rounds, polish, "
           "GTPOS solves); when it ends the best profile found is returned with its gap", gt=0, nullable=True),
    Option("starts", int, "CAI runs (seeds 0..starts-1) whose best equilibrium is the first incumbent (0: none)",
           ge=0),
    Option("pos", bool, "also solve GTPOS (delay and social) for the price-of-stability ratios"),
    PROGRESS,
)


@several_servers
@declare_options("tpos-best", *BEST_OPTIONS)
def solve_best(instance: Instance, *, gap: float = 1e-9, cut_tol: float = DEFAULT_CUT_TOL, grid: int = DEFAULT_GRID,
               max_rounds: int = 50, time_limit: float | None = None, starts: int = 3, pos: bool = True,
               progress: Callable[[dict], None] | None = None) -> Solution:
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
        Time budget in seconds of the whole method (None: none), taken when it starts: the start runs
        (first), building the MILP, the MILP rounds, the polish and the GTPOS solves of ``pos`` share it.
        Building stops when the deadline passes or when the model projected from the networks built so far
        (:data:`mecopt.milp.potential.BUILD_S_PER_ARC` per arc) cannot be built in the time left; then no
        MILP runs. The MILP rounds leave :data:`POLISH_RESERVE` of it to the polish. When it ends, the best
        profile found so far (the MILP's incumbent or the best certified start, whichever has the lower Phi,
        compared again after the polish; else the best feasible start run), polished, is returned with
        termination ``TIME_LIMIT`` and its gap to the best bound (None before the first bound).
    starts : int, default 3
        CAI runs (seeds 0..starts-1) whose best equilibrium is the first incumbent (0: none).
    pos : bool, default True
        Also solve GTPOS (delay and social) for the price-of-stability ratios.
    progress : callable, optional
        Called with ``dict(phase=, incumbent=, bound=, gap=, time_s=)`` (Phi's units) as the method moves
        on: phase ``"starts"``, ``"milp round R"``, ``"polish"``, ``"gtpos delay"``/``"gtpos social"``.

    Returns
    -------
    Solution
        The profile of least potential found, with its bound and certificate.

    Raises
    ------
    InfeasibleError
        When the potential model has no feasible profile.
    SolverError
        When HiGHS fails, or the budget ends before any profile is found.
    """
    from mecopt.game.certificate import certificate
    from mecopt.game.dynamics import CERTIFICATE_TOL

    budget = Budget(time_limit)
    t0 = budget.started

    def report(phase: str, incumbent: float, lower: float) -> None:
        if progress is not None:
            inc = incumbent if np.isfinite(incumbent) else None
            bnd = lower if np.isfinite(lower) else None
            progress(dict(phase=phase, incumbent=inc, bound=bnd, time_s=budget.elapsed(),
                          gap=None if inc is None or bnd is None else max(0.0, inc - bnd) / max(abs(inc), 1e-12)))

    # the starts first: under a budget they are the answer when the MILP cannot be built or solved in time
    start, start_phi, start_servers, fallback = (_start_assignment(instance, starts, budget) if starts
                                                 else (None, np.inf, None, None))
    report("starts", start_phi, -np.inf)
    best, best_phi, bound, rounds, term, status, cuts_added = None, np.inf, -np.inf, 0, Termination.OPTIMAL, "", 0
    best_servers = None
    try:
        model, _ = build_model(instance, grid, check=lambda arcs, done, total: _build_check(budget, arcs, done,
                                                                                            total))
        opt = persistent_solver(dict(potential.highs_options(model), mip_rel_gap=min(gap, 1e-4) / 10))
        opt.set_instance(model)
    except OutOfTime as err:
        model, term, status = None, Termination.TIME_LIMIT, f"MILP not built: {err}"
    if model is not None:
        H = len(model.columns)   # one column per (server, slot)
        solution_vars = potential.solution_vars(model)
    while model is not None:
        rounds += 1
        if time_limit is not None:
            milp_left = budget.left() - POLISH_RESERVE * time_limit
            if milp_left <= 0:
                term = Termination.TIME_LIMIT
                break
            opt.config.time_limit = milp_left
        if start is not None:   # taken where the model takes a start (one server; module docstring)
            _warm_start(opt, model, instance, start if best is None else best)
        res = opt.solve(model)
        out = outcome(opt, res)
        status = out.status
        if out.termination == Termination.INFEASIBLE:
            raise InfeasibleError(gtpos.infeasible_message(instance, "HiGHS").replace("GTPOS", "tpos-best"))
        if out.bound is not None:
            # a time-limited round still bounds this relaxation, hence min Phi; and Phi >= 0 (every term of
            # (19)-(25) is), which HiGHS's bound may not show when stopped before its root LP (a negative
            # bound: the presolved model's, with its objective offset)
            bound = max(bound, float(out.bound) / model.phi_scale, 0.0)
        if not out.has_solution:
            if out.termination == Termination.TIME_LIMIT:   # the budget ended inside this round
                term = Termination.TIME_LIMIT
                break
            raise SolverError(f"tpos-best: HiGHS stopped without a feasible solution ({out.status})")
        vals = res.solution_loader.get_vars(vars_to_load=solution_vars)
        prof, servers = potential.assignment_of(model, instance, vals)
        ev = costmod.evaluate(instance, prof, servers)
        if ev.potential < best_phi:
            best, best_phi, best_servers = prof, float(ev.potential), servers
        report(f"milp round {rounds}", best_phi, bound)
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
    if start is not None and start_phi < best_phi:
        # no MILP incumbent, or one worse than the best start: with several servers HiGHS gets no start
        # (module docstring of mecopt.milp.potential), so a time-limited MILP may hold a worse profile
        best, best_phi, best_servers = start, start_phi, start_servers
    if best is None and fallback is not None:   # nor a certified start: the best feasible one (polish may certify it)
        best, best_phi, best_servers = fallback
    if best is None:   # the budget ran out before any profile was found
        raise SolverError(f"tpos-best: the time limit ({time_limit:g} s) ran out before any profile was found "
                          "(no feasible start, no MILP incumbent); raise the 'time_limit' option")
    report("polish", best_phi, bound)
    profile, server_of, polish = _polish(instance, best, best_servers, budget=budget)
    ev = costmod.evaluate(instance, profile, server_of)
    if start is not None and best is not start and start_phi < ev.potential:
        # the polish had to move a device of the MILP's profile (one that breaks (17) or (27) by less than
        # HiGHS's tolerance, docs/milp.md) and lost more than the profile had over the certified start
        profile, server_of, polish = start, start_servers, 0
        ev = costmod.evaluate(instance, profile, server_of)
    # proven only as the profile returned: a forced polish move, or the start above, may leave it above the MILP's
    rel_gap = max(0.0, (ev.potential - bound) / max(abs(ev.potential), 1e-12)) if np.isfinite(bound) else None
    if term == Termination.OPTIMAL and (rel_gap is None or rel_gap > gap):
        term = Termination.FEASIBLE
    cert = certificate(instance, profile, tol_rel=CERTIFICATE_TOL, server_of=server_of)
    info = dict(start_phi=start_phi if np.isfinite(start_phi) else None, starts=starts, rounds=rounds,
                cuts_added=cuts_added, grid=grid, cut_tol=cut_tol, phi_milp_incumbent=best_phi,
                polish_moves=polish, phi_bound=bound if np.isfinite(bound) else None, highs_status=status,
                potential=float(ev.potential))
    if pos:
        report("gtpos (price of stability)", float(ev.potential), bound)
        info.update(price_of_stability(instance, ev, time_limit=time_limit, budget=budget))
    words = {Termination.OPTIMAL: f"Phi minimized within relative gap {gap:g} (outer approximation, {rounds} MILP "
                                  f"solve(s))",
             Termination.FEASIBLE: "Phi not proven minimal (see gap)",
             Termination.TIME_LIMIT: "time limit reached; Phi not proven minimal (see gap)",
             Termination.ITERATION_LIMIT: f"{max_rounds} MILP rounds reached; Phi not proven minimal (see gap)"}
    if model is None:
        words[Termination.TIME_LIMIT] = f"time limit reached before the MILP ({status}); Phi not proven minimal"
    text = words.get(term, status) + ("; certified equilibrium" if cert["certified"] else
                                      "; NOT certified as an equilibrium (see certificate)")
    flags = {d.name: ["deadline_relaxed"] for d in instance.devices if d.deadline_relaxed}
    return Solution(method="tpos-best", instance=instance, profile=profile, termination=term, status=text,
                    objective=float(ev.potential), bound=bound if np.isfinite(bound) else None,
                    gap=None if rel_gap is None else float(rel_gap),
                    wall_time=time.perf_counter() - t0, iterations=rounds, solver_calls=rounds, engine="highs",
                    certificate=cert, flags=flags, info=info, server_of=server_of)
