"""GTPOS (Case 2): the centralized optimum, by the class-network formulation of :mod:`mecopt.milp.gtpos`."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from mecopt.core import limits
from mecopt.core.errors import InfeasibleError, InputError, SolverError
from mecopt.core.instance import Instance
from mecopt.core.options import check_choice
from mecopt.core.problem import enforces_deadline
from mecopt.core.solution import Solution, Termination
from mecopt.core.tolerances import meets_deadline
from mecopt.methods.registry import several_servers
from mecopt.milp.backends import status as statusmod
from mecopt.milp.classes import OBJECTIVES, assignment_from_flows, class_networks, flows_from_profile
from mecopt.milp.gtpos import DEFAULT_SOLVER, _solve_highs, _solve_pyomo, build_model, check_solver



def _infeasible_message(instance: Instance, solver: str) -> str:
    must = [d for d in instance.devices if enforces_deadline(d) and not meets_deadline(d.local_cum[-1], d.tau)]
    if instance.multi:
        msg = (f"GTPOS: no joint strategy satisfies (15s), (15)-(17), (26) and (27) together ({solver} proved the "
               "model infeasible).")
        if must:
            names = ", ".join(d.name for d in must[:10]) + (" ..." if len(must) > 10 else "")
            limits_ = "; ".join(f"{sv.name}: B = {sv.B}, H = {sv.H}, T_d/H = {sv.slot_len:g} s"
                                for sv in instance.servers[:10])
            msg += (f" {len(must)} device(s) can meet their deadline only by offloading ({names}), while (27) and "
                    f"(17) limit each server ({limits_}); enlarge the servers, let the devices reach more of them, "
                    "loosen tau, or set model.deadline_policy = \"soft\" to price each second over tau instead.")
        return msg
    s = instance.server
    msg = (f"GTPOS: no joint strategy satisfies (15)-(17), (26) and (27) together ({solver} proved the model "
           "infeasible).")
    if must:
        names = ", ".join(d.name for d in must[:10]) + (" ..." if len(must) > 10 else "")
        msg += (f" {len(must)} device(s) can meet their deadline only by offloading ({names}), while (27) "
                f"allows at most B = {s.B} devices per slot over H = {s.H} slots and (17) limits each slot to "
                f"T_d/H = {s.slot_len:g} s; relax (26) with model.deadline_policy = \"relax\" only helps "
                f"devices with no tau-feasible strategy at all, so enlarge the server or loosen tau "
                f"(or set model.deadline_policy = \"soft\" to price each second over tau instead).")
    return msg


@several_servers
def solve_gtpos(instance: Instance, *, objective: str = "delay", solver: str = DEFAULT_SOLVER,
                time_limit: float | None = None, mip_rel_gap: float = 1e-6, threads: int | None = None,
                canonical: bool | None = None, aggregate: bool = True, warm_start="auto",
                progress: Callable[[dict], None] | None = None) -> Solution:
    """Solve GTPOS (Case 2); see the module docstring for the model and the termination rules.

    Parameters
    ----------
    objective : {"delay", "social", "energy"}
    solver : str
        ``"cpsat"`` (default), ``"highs"``, or an installed Pyomo solver name (``gurobi``, ``scip``, ...).
    time_limit : float, optional
        Seconds; a time-limited run returns its incumbent as ``TIME_LIMIT`` with bound and gap.
    mip_rel_gap : float
        Relative gap within which a solver's optimum counts as proven.
    threads : int, optional
        HiGHS's thread pool (per process) or CP-SAT's workers (default 1).
    canonical : bool, optional
        Fewest-blocks networks (default: on in mode per_device, where it is exact).
    aggregate : bool
        Model identical MDs once, as a class with an integer multiplicity (default on; exact).
    warm_start : "auto", "greedy", a profile, a Solution, or None
        CP-SAT only: a solution hint. ``"greedy"`` runs :func:`mecopt.game.greedy.greedy_profile`
        (exact best responses on the GTPOS objective, an equilibrium of the price-free game); a
        profile (one slot vector per MD, e.g. the game's equilibrium) is used as given; with several
        servers give a :class:`~mecopt.Solution` (its ``profile`` and ``server_of``) or
        ``dict(profile=..., server_of=...)``; ``"auto"``
        (default) and None: no hint (it did not pay off in the measurements, docs/milp.md §3.5).
        Ignored when not feasible here. HiGHS gets no start solution (see docs/milp.md §3.5).
    progress : callable, optional
        Called during the solve with ``dict(incumbent=, bound=, gap=, time_s=)`` (objective units).
    """
    check_choice("objective", objective, OBJECTIVES)
    check_solver(solver)
    t0, c0 = time.perf_counter(), time.process_time()
    if time_limit is None:  # never unbounded (issue 12): the default is reported as the time limit
        time_limit = limits.DEFAULT_GTPOS_TIME_LIMIT_S
    arcs = limits.gtpos_arcs(instance, distinct=aggregate)
    if arcs > limits.MAX_GTPOS_ARCS:
        slots = (f"H = {instance.server.H} slots" if not instance.multi else
                 f"{instance.K} servers with {sum(sv.H for sv in instance.servers)} slots in all")
        raise InputError(f"GTPOS: the instance needs {arcs} block arcs (N = {instance.N} devices, up to "
                         f"{instance.M_max} layers, {slots}); the limit is "
                         f"{limits.MAX_GTPOS_ARCS} (server.slots, devices.count, devices.dnn); use tpos-cai/uai")
    if (isinstance(warm_start, str) and warm_start == "auto") or solver != "cpsat":
        warm_start = None
    hint_servers = None
    if isinstance(warm_start, str):
        check_choice("warm_start", warm_start, ["auto", "greedy"])
        from mecopt.game.greedy import greedy_assignment
        hint_profile, hint_servers = greedy_assignment(instance, objective)
    else:
        hint_profile, hint_servers = _given_start(instance, warm_start)
    if solver == "cpsat":
        from mecopt.milp.backends import cpsat

        nets = class_networks(instance, objective, aggregate, canonical)
        weight = 1.0 if objective == "social" else 1.0 / instance.N
        hint = _hint(instance, nets, hint_profile, hint_servers)
        t1 = time.perf_counter()
        rep, flows, info = cpsat.solve(instance, nets, objective, weight, time_limit=time_limit, threads=threads,
                                       hint=hint, progress=progress)
        info["build_s"] += t1 - t0
    else:
        model = build_model(instance, objective, canonical, aggregate)
        nets = model.nets
        hint = _hint(instance, nets, hint_profile, hint_servers)
        t1 = time.perf_counter()
        if solver == "highs":
            rep, flows = _solve_highs(model, mip_rel_gap=mip_rel_gap, time_limit=time_limit, threads=threads,
                                      progress=progress, t0=t0)
        else:
            rep, flows = _solve_pyomo(model, solver, mip_rel_gap=mip_rel_gap, time_limit=time_limit,
                                      threads=threads)
        info = dict(build_s=t1 - t0, solve_s=time.perf_counter() - t1)
    wall = time.perf_counter() - t0
    term = statusmod.termination(rep, mip_rel_gap)
    if term == Termination.INFEASIBLE:
        raise InfeasibleError(_infeasible_message(instance, solver))
    if flows is None:
        raise SolverError(f"GTPOS ({solver}) stopped without a feasible solution ({rep.status})")
    if term == Termination.ERROR:
        raise SolverError(f"GTPOS ({solver}) failed ({rep.status})")
    profile, server_of = assignment_from_flows(instance, nets, flows)
    flags = {d.name: ["deadline_relaxed"] for d in instance.devices if d.deadline_relaxed}
    info.update(cpu_s=time.process_time() - c0, objective_name=objective, solver=solver, nodes=rep.nodes, mip_rel_gap=mip_rel_gap,
                time_limit=time_limit, classes=len(nets), arcs=int(sum(n.n_arcs for n in nets)),
                canonical=bool(canonical if canonical is not None else instance.servers[0].capacity_mode == "per_device"),
                aggregate=aggregate, warm_start=hint is not None)
    return Solution(
        method="gtpos", instance=instance, profile=profile, termination=term, status=rep.status,
        objective=rep.objective, bound=rep.bound, gap=statusmod.gap(rep.objective, rep.bound), wall_time=wall,
        solver_calls=1, engine=solver, flags=flags, info=info, server_of=server_of,
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
    if instance.multi:
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
