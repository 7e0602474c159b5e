"""HiGHS through Pyomo's persistent interface (``pyomo.contrib.solver``, name ``highs``):
the options of both MILPs and the mapping of HiGHS's model status to
:class:`~mecopt.core.solution.Termination`.

HiGHS accepts an improving incumbent only when it beats the last one by more
than ``mip_feasibility_tolerance`` (absolute) and stops at ``mip_abs_gap`` /
``mip_rel_gap``; the best-response model scales its objective so that the
tie-breaking unit of :mod:`mecopt.core.problem` is far above both (see
:mod:`mecopt.bestresponse.milp`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pyomo.environ  # noqa: F401  (registers Pyomo's components)
from pyomo.contrib.solver.common.factory import SolverFactory
from pyomo.contrib.solver.common.results import Results, SolutionStatus

from mecopt.core import interrupt
from mecopt.core.errors import SolverError
from mecopt.core.solution import Termination

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
    """The underlying ``highspy.Highs`` of a Pyomo persistent solver (for status text and info)."""
    return opt._solver_model  # Pyomo keeps it private; read-only use here


@dataclass(frozen=True)
class Outcome:
    """What one solve produced, in mecopt's terms."""

    termination: Termination
    status: str            # HiGHS's own words
    has_solution: bool
    objective: float | None
    bound: float | None
    gap: float | None      # (objective - bound) / |objective|
    nodes: int | None
    solve_time: float


def outcome(opt, results: Results) -> Outcome:
    """Map a HiGHS run to a :class:`Termination` (OPTIMAL only when proven within the gap)."""
    interrupt.check()  # HiGHS may have caught a Ctrl-C and returned an error status: an interruption
    h = highs_object(opt)
    status = h.getModelStatus()
    text = h.modelStatusToString(status)
    name = getattr(status, "name", str(status))
    has = results.solution_status in (SolutionStatus.optimal, SolutionStatus.feasible)
    if name == "kOptimal":
        term = Termination.OPTIMAL
    elif name in ("kInfeasible", "kUnboundedOrInfeasible"):
        # every variable is bounded and every cost finite: "unbounded or infeasible" is infeasible
        term = Termination.INFEASIBLE
    elif name in ("kTimeLimit",):
        term = Termination.TIME_LIMIT
    elif name in ("kIterationLimit", "kSolutionLimit"):
        term = Termination.ITERATION_LIMIT
    elif name in ("kInterrupt", "kHighsInterrupt", "kObjectiveBound", "kObjectiveTarget") and has:
        term = Termination.FEASIBLE
    else:
        term = Termination.ERROR
    obj = results.incumbent_objective if has else None
    bound = results.objective_bound
    if bound is not None and not math.isfinite(bound):
        bound = None
    gap = None
    if obj is not None and bound is not None:
        gap = 0.0 if obj == bound else abs(obj - bound) / max(abs(obj), 1e-12)
    nodes = getattr(results.extra_info, "mip_node_count", None)
    return Outcome(term, text, has, obj, bound, gap, nodes, float(results.timing_info.highs_time or 0.0))
