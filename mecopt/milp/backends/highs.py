"""HiGHS through Pyomo's persistent interface (``pyomo.contrib.solver``, name ``highs``).

The options of the MILPs, HiGHS's status table (:data:`HIGHS_STATUS`), the neutral :func:`outcome` of one solve, and the
GTPOS backend :class:`HighsBackend` (neutral limits -> HiGHS options).

HiGHS accepts an improving incumbent only when it beats the last one by more
than ``mip_feasibility_tolerance`` (absolute) and stops at ``mip_abs_gap`` /
``mip_rel_gap``; the best-response model scales its objective so that the
tie-breaking unit of :mod:`mecopt.core.problem` is far above both (see
:mod:`mecopt.bestresponse.milp`).
"""

from __future__ import annotations

import math
import time

import numpy as np
import pyomo.environ  # noqa: F401  (registers Pyomo's components)
from pyomo.contrib.solver.common.factory import SolverFactory
from pyomo.contrib.solver.common.results import Results, SolutionStatus

from mecopt.core import interrupt
from mecopt.core.errors import SolverError
from mecopt.core.solution import Termination
from mecopt.milp.backends import status as statusmod
from mecopt.milp.backends.base import Backend, Limits
from mecopt.milp.backends.status import Outcome

#: best response: exact optimum (rel gap 0), tight tolerances (docs/milp.md)
BEST_RESPONSE_OPTIONS = dict(
    mip_rel_gap=0.0,
    presolve="off",
    mip_detect_symmetry=False,
    mip_heuristic_run_feasibility_jump=False,
    mip_abs_gap=1e-7,
    mip_feasibility_tolerance=1e-9,
    primal_feasibility_tolerance=1e-9,
    dual_feasibility_tolerance=1e-9,
    output_flag=False,
)

#: GTPOS: tolerances tighter than the checker's (CAP_TOL, DEADLINE_TOL); presolve probing off
#: (it took seconds on the full networks of capacity mode "total" and rarely paid off)
GTPOS_OPTIONS = dict(
    presolve_rule_off=32768,
    mip_abs_gap=1e-9,
    mip_feasibility_tolerance=1e-10,
    primal_feasibility_tolerance=1e-10,
    dual_feasibility_tolerance=1e-9,
    output_flag=False,
)


def persistent_solver(options: dict, *, time_limit: float | None = None, threads: int | None = None):
    """A persistent HiGHS solver that, on re-solve, only pushes changed mutable Params.

    Automatic updates scan the whole model for new or changed components; the models
    here change only through mutable Params, so every other check is off.

    ``threads``: HiGHS runs one thread pool per process, sized at its first run; a
    different ``threads`` later makes HiGHS refuse to run ("Not Set"), so the pool is
    reset first (it is rebuilt with the new size at the next run).

    Parameters
    ----------
    options : dict
        HiGHS options.
    time_limit : float or None, default None
        Time limit in seconds (None: none).
    threads : int or None, default None
        Threads (None: HiGHS's default).

    Returns
    -------
    pyomo.contrib.solver.solvers.highs.Highs
        Pyomo's persistent HiGHS interface (``SolverFactory("highs")``), configured.

    Raises
    ------
    SolverError
        When highspy cannot be used.
    """
    if threads is not None:
        import highspy

        highspy.Highs.resetGlobalScheduler(True)
    opt = SolverFactory("highs")
    if not opt.available():
        raise SolverError("HiGHS (highspy) is not available to Pyomo")
    cfg = opt.config
    au = cfg.auto_updates
    au.check_for_new_or_removed_constraints = False
    au.check_for_new_or_removed_vars = False
    au.check_for_new_or_removed_params = False
    au.check_for_new_objective = False
    au.update_constraints = False
    au.update_vars = False
    au.update_named_expressions = False
    au.update_objective = False
    au.update_parameters = True
    cfg.load_solutions = False
    cfg.raise_exception_on_nonoptimal_result = False
    cfg.time_limit = time_limit
    cfg.threads = threads
    for key, val in options.items():
        cfg.solver_options[key] = val
    return opt


def highs_object(opt):
    """The underlying ``highspy.Highs`` of a Pyomo persistent solver (for status text and info).

    Parameters
    ----------
    opt : object
        A Pyomo persistent HiGHS solver.

    Returns
    -------
    highspy.Highs
        Its ``highspy.Highs``.
    """
    return opt._solver_model  # Pyomo keeps it private; read-only use here


#: HiGHS's model statuses (by enum name) in neutral kinds; any other status is an error. Every
#: variable of mecopt's models is bounded and every cost finite, so "unbounded or infeasible" is
#: infeasible. "interrupted" counts as a limit for GTPOS; "stopped" (objective bound or target
#: reached) only keeps the incumbent.
HIGHS_STATUS = {
    "kOptimal": "optimal",
    "kInfeasible": "infeasible",
    "kUnboundedOrInfeasible": "infeasible",
    "kTimeLimit": "time_limit",
    "kIterationLimit": "iteration_limit",
    "kSolutionLimit": "iteration_limit",
    "kInterrupt": "interrupted",
    "kHighsInterrupt": "stopped",
    "kObjectiveBound": "stopped",
    "kObjectiveTarget": "stopped",
}
_TERMINATION = {"optimal": Termination.OPTIMAL, "infeasible": Termination.INFEASIBLE,
                "time_limit": Termination.TIME_LIMIT, "iteration_limit": Termination.ITERATION_LIMIT,
                "error": Termination.ERROR}


def _read(opt, results: Results) -> tuple[str, str, bool, float | None]:
    """(HiGHS's words, the status kind of :data:`HIGHS_STATUS`, whether a solution is held, the finite bound)."""
    interrupt.check()  # HiGHS may have caught a Ctrl-C and returned an interrupt status: an interruption
    h = highs_object(opt)
    status = h.getModelStatus()
    has = results.solution_status in (SolutionStatus.optimal, SolutionStatus.feasible)
    bound = results.objective_bound
    if bound is not None and not math.isfinite(bound):
        bound = None
    return h.modelStatusToString(status), HIGHS_STATUS.get(getattr(status, "name", str(status)), "error"), has, bound


def outcome(opt, results: Results) -> Outcome:
    """The neutral outcome of one HiGHS solve (best response, potential), by :data:`HIGHS_STATUS`.

    Parameters
    ----------
    opt : pyomo.contrib.solver.solvers.highs.Highs
        The persistent solver that ran.
    results : pyomo.contrib.solver.common.results.Results
        Its results.

    Returns
    -------
    mecopt.milp.backends.status.Outcome
        ``OPTIMAL`` when HiGHS proved optimality within its own gaps.
    """
    text, kind, has, bound = _read(opt, results)
    if kind in ("interrupted", "stopped"):
        term = Termination.FEASIBLE if has else Termination.ERROR
    else:
        term = _TERMINATION[kind]
    obj = results.incumbent_objective if has else None
    gap = None
    if obj is not None and bound is not None:
        gap = 0.0 if obj == bound else abs(obj - bound) / max(abs(obj), 1e-12)
    nodes = getattr(results.extra_info, "mip_node_count", None)
    return Outcome(term, text, has, obj, bound, gap, nodes, float(results.timing_info.highs_time or 0.0))


def report(opt, results: Results) -> statusmod.Report:
    """What HiGHS said about a GTPOS solve, in neutral terms (:data:`HIGHS_STATUS`).

    Parameters and errors as :func:`outcome`; returns a :class:`~mecopt.milp.backends.status.Report`
    (the GTPOS rule :func:`~mecopt.milp.backends.status.termination` checks its gap).

    Parameters
    ----------
    opt : object
        The persistent solver.
    results : Results
        Pyomo's results of the solve.

    Returns
    -------
    statusmod.Report
        The report.
    """
    text, kind, has, bound = _read(opt, results)
    return statusmod.Report(
        status=text, proven_optimal=kind == "optimal", infeasible=kind == "infeasible",
        time_limit=kind == "time_limit", other_limit=kind in ("iteration_limit", "interrupted"),
        objective=results.incumbent_objective if has else None, bound=bound,
        nodes=getattr(results.extra_info, "mip_node_count", None))


class HighsProgress:
    """Calls ``progress`` from HiGHS's MIP callbacks (improving solutions, and at most every 0.5 s).

    Parameters
    ----------
    progress : callable
        Called with ``dict(incumbent=, bound=, gap=, time_s=)`` (objective units).
    t0 : float
        ``time.perf_counter()`` at the start of the run.
    """

    def __init__(self, progress, t0: float):
        self.progress, self.t0, self.last = progress, t0, -1.0
        self.reported = False

    def __call__(self, e):
        """HiGHS callback: report an improving incumbent (or, at most twice a second, the bounds)."""
        out = e.data_out
        now = time.perf_counter()
        improving = "Improving" in str(e.callback_type) or "ImprovingSolution" in str(e.callback_type)
        if not improving and now - self.last < 0.5:
            return
        self.last = now
        inc, bnd = float(out.mip_primal_bound), float(out.mip_dual_bound)
        if not np.isfinite(inc):
            return
        self.reported = True
        self.progress(dict(incumbent=inc, bound=bnd if np.isfinite(bnd) else None,
                           gap=statusmod.gap(inc, bnd if np.isfinite(bnd) else None), time_s=now - self.t0))


class HighsBackend(Backend):
    """GTPOS on the Pyomo model (:func:`mecopt.milp.gtpos.build_model`) with HiGHS.

    Limits: ``time_limit`` -> ``time_limit``, ``threads`` -> the thread pool (per process),
    ``mip_rel_gap`` -> ``mip_rel_gap`` (with :data:`GTPOS_OPTIONS`); ``progress`` from HiGHS's MIP
    callbacks. No start solution (docs/milp.md §3.5).
    """

    name = "highs"
    accepts_start = False

    def available(self) -> bool:
        """Whether Pyomo reaches HiGHS (highspy) here.

        Returns
        -------
        bool
            True when highspy is usable.
        """
        return bool(SolverFactory("highs").available())

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
        t0 = time.perf_counter()
        model = problem.model
        t1 = time.perf_counter()
        opt = persistent_solver(dict(GTPOS_OPTIONS, mip_rel_gap=float(limits.mip_rel_gap)),
                                time_limit=limits.time_limit, threads=limits.threads)
        opt.set_instance(model)
        if limits.time_limit is not None:   # building the model counts against the time limit
            opt.config.time_limit = max(1e-3, limits.time_limit - (time.perf_counter() - t0))
        h = highs_object(opt)
        progress = limits.progress
        if progress is not None:
            cb = HighsProgress(progress, limits.started)
            h.cbMipImprovingSolution.subscribe(cb)
            h.cbMipInterrupt.subscribe(cb)
        res = opt.solve(model)
        rep = report(opt, res)
        has = res.solution_status.name in ("optimal", "feasible")
        if progress is not None and not cb.reported and has:  # solved before any incumbent (presolve)
            inc = float(res.incumbent_objective)
            progress(dict(incumbent=inc, bound=rep.bound, gap=statusmod.gap(inc, rep.bound),
                          time_s=time.perf_counter() - limits.started))
        flows = None
        if has:
            vals = res.solution_loader.get_vars(vars_to_load=problem.flow_vars())
            flows = problem.flows_of(vals)
        return rep, flows, dict(build_s=t1 - t0, solve_s=time.perf_counter() - t1)
