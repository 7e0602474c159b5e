"""GTPOS (Case 2): the centralized optimum, by the class-network formulation of :mod:`mecopt.milp.gtpos`."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from mecopt.core import cost as costmod
from mecopt.core import limits
from mecopt.core.errors import InfeasibleError, InputError, SolverError
from mecopt.core.instance import Instance
from mecopt.core.options import Option, declare_options
from mecopt.core.problem import enforces_deadline
from mecopt.core.solution import Solution, Termination
from mecopt.core.tolerances import meets_deadline
from mecopt.methods.budget import Budget, OutOfTime
from mecopt.methods.objective import objective_value
from mecopt.methods.registry import PROGRESS, several_servers
from mecopt.milp import decomposition
from mecopt.milp import gtpos as formulation
from mecopt.milp.backends import DEFAULT_SOLVER, Limits, available_solvers, check_solver, get_backend
from mecopt.milp.backends import status as statusmod
from mecopt.milp.classes import OBJECTIVES, assignment_from_flows, class_networks, flows_from_profile, servers


def infeasible_message(instance: Instance, solver: str) -> str:
    """What to change when ``solver`` proved GTPOS's model infeasible (any number of servers).

    Parameters
    ----------
    instance : Instance
    solver : str
        The solver's name, as shown.

    Returns
    -------
    str
    """
    must = [d for d in instance.devices if enforces_deadline(d) and not meets_deadline(d.local_cum[-1], d.tau)]
    names = ", ".join(d.name for d in must[:10]) + (" ..." if len(must) > 10 else "")
    if instance.K > 1:   # presentation: the association (15s) and the limits of every server
        msg = (f"GTPOS: no joint strategy satisfies (15s), (15)-(17), (26) and (27) together ({solver} proved the "
               "model infeasible).")
        if must:
            limits_ = "; ".join(f"{sv.name}: B = {sv.B}, H = {sv.H}, T_d/H = {sv.slot_len:g} s"
                                for sv in servers(instance)[:10])
            msg += (f" {len(must)} device(s) can meet their deadline only by offloading ({names}), while (27) and "
                    f"(17) limit each server ({limits_}); enlarge the servers, let the devices reach more of them, "
                    "loosen tau, or set model.deadline_policy = \"soft\" to price each second over tau instead.")
        return msg
    s = servers(instance)[0]
    msg = (f"GTPOS: no joint strategy satisfies (15)-(17), (26) and (27) together ({solver} proved the model "
           "infeasible).")
    if must:
        msg += (f" {len(must)} device(s) can meet their deadline only by offloading ({names}), while (27) "
                f"allows at most B = {s.B} devices per slot over H = {s.H} slots and (17) limits each slot to "
                f"T_d/H = {s.slot_len:g} s; relax (26) with model.deadline_policy = \"relax\" only helps "
                f"devices with no tau-feasible strategy at all, so enlarge the server or loosen tau "
                f"(or set model.deadline_policy = \"soft\" to price each second over tau instead).")
    return msg


def _warm_start_problem(value) -> str | None:
    if isinstance(value, str) and value not in ("auto", "greedy"):
        return "a string must be 'auto' or 'greedy'"
    return None


def _solver_problem(solver: str) -> str | None:
    try:
        check_solver(solver)
    except InputError:
        return f"installed here: {', '.join(available_solvers())}; Pyomo cannot find or run {solver!r}"
    return None


#: the options of GTPOS (Case 2)
GTPOS_OPTIONS = (
    Option("objective", str, "what to minimize: average delay (the paper's), social cost or average energy",
           choices=OBJECTIVES),
    Option("solver", str, "MILP backend: cpsat, highs, or an installed Pyomo solver (gurobi, scip, cbc, ...)",
           check=_solver_problem, values="'cpsat', 'highs', or an installed Pyomo solver"),
    Option("time_limit", float, "time budget in seconds of the whole method (building the model included); a "
           "time-limited run returns its incumbent (else its start) as TIME_LIMIT [None: the default limit]",
           gt=0, nullable=True),
    Option("mip_rel_gap", float, "relative gap within which the solver's optimum counts as proven", ge=0, lt=1),
    Option("threads", int, "HiGHS's thread pool or CP-SAT's workers [None: 1]", ge=1, nullable=True),
    Option("canonical", bool, "fewest-blocks networks [None: on in mode per_device, where it is exact]",
           nullable=True),
    Option("aggregate", bool, "model identical devices once, as a class with a multiplicity (exact)"),
    Option("warm_start", object, "CP-SAT's solution hint: 'greedy', a profile or a Solution ('auto', None: none)",
           check=_warm_start_problem, values="'auto', 'greedy', a profile, a Solution, or None"),
    Option("decompose", bool, "decompose by server first (Lagrangian bound of the association, primal from "
           "per-server optima; docs/milp.md §3.10) [None: on with several servers in mode total]", nullable=True),
    PROGRESS,
)


@several_servers
@declare_options("gtpos", *GTPOS_OPTIONS)
def solve_gtpos(instance: Instance, *, objective: str = "delay", solver: str = DEFAULT_SOLVER,
                time_limit: float | None = None, mip_rel_gap: float = 1e-6, threads: int | None = None,
                canonical: bool | None = None, aggregate: bool = True, warm_start="auto",
                decompose: bool | None = None, progress: Callable[[dict], None] | None = None) -> Solution:
    """Solve GTPOS (Case 2); see the module docstring for the model and the termination rules.

    Parameters
    ----------
    instance : Instance
        One or several servers.
    objective : {"delay", "social", "energy"}
        (1/N) sum_n T_n (24) (the paper's), sum_n C_n (23), or (1/N) sum_n E_n (25).
    solver : str
        A backend of :mod:`mecopt.milp.backends`: ``"cpsat"`` (default), ``"highs"``, or an installed
        Pyomo solver name (``gurobi``, ``scip``, ...).
    time_limit : float, optional
        Seconds (finite, > 0) for the whole method: the deadline is taken when it starts, building the
        class networks checks it and the solver gets what is left. A time-limited run returns its
        incumbent as ``TIME_LIMIT`` with bound and gap; when time runs out before any incumbent (while
        building, or before the solver's first solution) it returns its start (the ``warm_start``, else
        the greedy assignment) as ``TIME_LIMIT`` with no bound. Default
        :data:`mecopt.core.limits.DEFAULT_GTPOS_TIME_LIMIT_S`.
    mip_rel_gap : float
        Relative gap in [0, 1) within which a solver's optimum counts as proven.
    threads : int, optional
        HiGHS's thread pool (per process) or CP-SAT's workers (>= 1; default 1).
    canonical : bool, optional
        Fewest-blocks networks (default: on in mode per_device, where it is exact).
    aggregate : bool
        Model identical MDs once, as a class with an integer multiplicity (default on; exact).
    warm_start : "auto", "greedy", a profile, a Solution, or None
        CP-SAT only: a solution hint. ``"greedy"`` runs :func:`mecopt.game.greedy.greedy_assignment`
        (exact best responses on the GTPOS objective, an equilibrium of the price-free game); a
        profile (one slot vector per MD, e.g. the game's equilibrium) is used as given; with several
        servers give a :class:`~mecopt.Solution` (its ``profile`` and ``server_of``) or
        ``dict(profile=..., server_of=...)``; ``"auto"``
        (default) and None: no hint (it did not pay off in the measurements, docs/milp.md §3.5).
        Ignored when not feasible here. HiGHS gets no start solution (see docs/milp.md §3.5).
    decompose : bool, optional
        Solve the server subproblems first (:mod:`mecopt.milp.decomposition`): their Lagrangian bound and a
        primal from their optima, which prove the optimum when they meet; otherwise the full model runs for
        the time left from that primal, and the better bound is reported. Default: on with several servers
        in capacity mode total.
    progress : callable, optional
        Called during the solve with ``dict(incumbent=, bound=, gap=, time_s=)`` (objective units).

    Returns
    -------
    Solution
        Termination ``OPTIMAL`` only when proven within ``mip_rel_gap``; ``server_of`` with several servers.

    Raises
    ------
    InputError
        For an option out of range (named, before any work), an unusable solver, or an instance
        too large for the model.
    InfeasibleError
        When the solver proves (15)-(17), (26), (27) (and (15s)) jointly infeasible.
    SolverError
        When the solver stops without a solution or fails.

    Examples
    --------
    >>> import mecopt
    >>> sol = solve_gtpos(mecopt.load_instance("paper:fig5-n5"))
    >>> str(sol.termination), sol.feasible
    ('optimal', True)
    """
    backend = get_backend(solver)
    c0 = time.process_time()
    if time_limit is None:  # never unbounded (issue 12): the default is reported as the time limit
        time_limit = limits.DEFAULT_GTPOS_TIME_LIMIT_S
    budget = Budget(time_limit)   # the whole method's: building the model counts (issue 24)
    t0 = budget.started
    Limits(time_limit=time_limit, mip_rel_gap=mip_rel_gap, threads=threads, progress=progress)  # validated first
    svs = servers(instance)
    arcs = limits.gtpos_arcs(instance, distinct=aggregate)
    if arcs > limits.MAX_GTPOS_ARCS:
        slots = (f"H = {svs[0].H} slots" if instance.K == 1 else
                 f"{instance.K} servers with {sum(sv.H for sv in svs)} slots in all")
        raise InputError(f"GTPOS: the instance needs {arcs} block arcs (N = {instance.N} devices, up to "
                         f"{instance.M_max} layers, {slots}); the limit is "
                         f"{limits.MAX_GTPOS_ARCS} (server.slots, devices.count, devices.dnn); use tpos-cai/uai")
    if (isinstance(warm_start, str) and warm_start == "auto") or not backend.accepts_start:
        warm_start = None
    hint_servers = None
    if isinstance(warm_start, str):
        from mecopt.game.greedy import greedy_assignment
        hint_profile, hint_servers = greedy_assignment(instance, objective)
    else:
        hint_profile, hint_servers = _given_start(instance, warm_start)
    common = dict(objective=objective, solver=solver, time_limit=time_limit, mip_rel_gap=mip_rel_gap, c0=c0,
                  start=(hint_profile, hint_servers))
    try:
        nets = class_networks(instance, objective, aggregate, canonical, check=budget.check)
    except OutOfTime:
        return _out_of_time(instance, budget, "the time limit ran out while the model was being built", **common)
    problem = formulation.Problem(instance, objective, nets, 1.0 if objective == "social" else 1.0 / instance.N)
    hint = _hint(instance, nets, hint_profile, hint_servers)
    t1 = time.perf_counter()
    if decompose is None:   # the search strategy: a single server is its own (only) subproblem
        decompose = instance.K > 1 and svs[0].capacity_mode == "total"
    # the decomposition counts from ``started``; a backend gets what is left (and counts its own building)
    run_limits = Limits(time_limit=time_limit if decompose else budget.left(), mip_rel_gap=mip_rel_gap,
                        threads=threads, progress=progress, start=hint, started=t0)
    if decompose:
        rep, flows, solved = decomposition.solve(problem, backend, run_limits)
    else:
        rep, flows, solved = backend.solve(problem, run_limits)
    info = dict(solved, build_s=solved["build_s"] + t1 - t0)
    wall = time.perf_counter() - t0
    term = statusmod.termination(rep, mip_rel_gap)
    if term == Termination.INFEASIBLE:
        raise InfeasibleError(infeasible_message(instance, solver))
    if flows is None and rep.time_limit:   # no incumbent when the time ran out
        return _out_of_time(instance, budget, f"the time limit ran out before {solver} found a solution "
                            f"({rep.status})", **common)
    if flows is None:
        raise SolverError(f"GTPOS ({solver}) stopped without a feasible solution ({rep.status})")
    if term == Termination.ERROR:
        raise SolverError(f"GTPOS ({solver}) failed ({rep.status})")
    profile, server_of = assignment_from_flows(instance, nets, flows)
    flags = {d.name: ["deadline_relaxed"] for d in instance.devices if d.deadline_relaxed}
    info.update(cpu_s=time.process_time() - c0, objective_name=objective, solver=solver, nodes=rep.nodes,
                mip_rel_gap=mip_rel_gap,
                time_limit=time_limit, classes=len(nets), arcs=int(sum(n.n_arcs for n in nets)),
                canonical=bool(canonical if canonical is not None else svs[0].capacity_mode == "per_device"),
                aggregate=aggregate, warm_start=hint is not None)
    return Solution(
        method="gtpos", instance=instance, profile=profile, termination=term, status=rep.status,
        objective=rep.objective, bound=rep.bound, gap=statusmod.gap(rep.objective, rep.bound), wall_time=wall,
        solver_calls=1, engine=solver, flags=flags, info=info, server_of=server_of,
    )


def _out_of_time(instance: Instance, budget: Budget, why: str, *, objective: str, solver: str, time_limit: float,
                 mip_rel_gap: float, c0: float, start) -> Solution:
    """GTPOS's answer when the time limit ends before the solver has a solution: the best start, unproven.

    The start is the ``warm_start`` when one was given and is feasible, else
    :func:`mecopt.game.greedy.greedy_assignment` (exact best responses on the objective); termination
    ``TIME_LIMIT``, no bound.

    Raises
    ------
    SolverError
        When neither gives a feasible assignment.
    """
    from mecopt.core import checker as checkmod
    from mecopt.game.greedy import greedy_assignment

    profile, server_of = start
    origin = "the warm start"
    if profile is None or checkmod.check_profile(instance, profile, server_of):
        profile, server_of = greedy_assignment(instance, objective)
        origin = "the greedy assignment (exact best responses on the objective)"
    if profile is None:
        raise SolverError(f"GTPOS ({solver}): {why}, and the greedy assignment is not feasible; raise the "
                          f"'time_limit' option (it was {time_limit:g} s)")
    ev = costmod.evaluate(instance, profile, server_of)
    flags = {d.name: ["deadline_relaxed"] for d in instance.devices if d.deadline_relaxed}
    info = dict(cpu_s=time.process_time() - c0, objective_name=objective, solver=solver, mip_rel_gap=mip_rel_gap,
                time_limit=time_limit, fallback=origin)
    return Solution(
        method="gtpos", instance=instance, profile=profile, termination=Termination.TIME_LIMIT,
        status=f"{why}; returned {origin}, no bound", objective=objective_value(instance, ev, objective),
        bound=None, gap=None, wall_time=budget.elapsed(), solver_calls=0, engine=solver, flags=flags, info=info,
        server_of=server_of,
    )


def _given_start(instance: Instance, warm_start):
    """(profile, server_of) of a warm start given as a profile, a Solution or dict(profile=, server_of=)."""
    if warm_start is None:
        return None, None
    if isinstance(warm_start, Solution):
        return [np.asarray(s, dtype=int) for s in warm_start.profile], warm_start.server_of
    if isinstance(warm_start, dict):
        if "profile" not in warm_start:
            raise InputError("The 'warm_start' option as a dict needs the keys 'profile' and 'server_of'.")
        servers = warm_start.get("server_of")
        return ([np.asarray(s, dtype=int) for s in warm_start["profile"]],
                None if servers is None else np.asarray(servers, dtype=int))
    if instance.K > 1:
        raise InputError("The 'warm_start' option needs the servers too with several servers: give a Solution or "
                         "dict(profile=..., server_of=...).")
    return [np.asarray(s, dtype=int) for s in warm_start], None


def _hint(instance, nets, profile, server_of=None):
    if profile is None:
        return None
    if len(profile) != instance.N:
        raise InputError(f"The 'warm_start' option must hold one strategy per device ({instance.N}). "
                         f"Got {len(profile)} instead.")
    if server_of is not None and np.shape(server_of) != (instance.N,):
        raise InputError(f"The 'warm_start' option's server_of must hold one server per device ({instance.N}).")
    from mecopt.core import checker as checkmod
    if checkmod.check_profile(instance, profile, server_of):
        return None
    return flows_from_profile(nets, profile, server_of)
