"""Any other MILP solver Pyomo reaches by name (``gurobi``, ``cplex``, ``scip``, ``cbc``, ``glpk``, ...).

Through Pyomo's classic ``SolverFactory`` interface, on the GTPOS Pyomo model.

Neutral limits are translated by :data:`TIME_OPTION`, :data:`GAP_OPTION` and
:data:`THREADS_OPTION` (a solver missing from a table gets no such option); Pyomo's
termination conditions are mapped by :data:`PYOMO_STATUS`.
"""

from __future__ import annotations

import time

import numpy as np
import pyomo.environ as pyo
from pyomo.opt import TerminationCondition as TC

from mecopt.milp.backends import status as statusmod
from mecopt.milp.backends.base import Backend, Limits

#: Pyomo solver names tried when listing what is installed (any other name is tried as given)
KNOWN_PYOMO_SOLVERS = ("gurobi", "cplex", "xpress", "scip", "cbc", "glpk")
#: the time limit (seconds) by solver: option name and conversion
TIME_OPTION = {"cbc": ("sec", float), "glpk": ("tmlim", lambda t: int(max(1, t))), "gurobi": ("TimeLimit", float),
               "cplex": ("timelimit", float), "scip": ("limits/time", float)}
#: the relative gap by solver
GAP_OPTION = {"cbc": "ratio", "glpk": "mipgap", "gurobi": "MIPGap", "cplex": "mipgap", "scip": "limits/gap"}
#: the thread count by solver
THREADS_OPTION = {"cbc": "threads", "gurobi": "Threads", "cplex": "threads"}
#: Pyomo's termination conditions in neutral kinds (any other: no claim)
PYOMO_STATUS = {TC.optimal: "optimal", TC.infeasible: "infeasible", TC.infeasibleOrUnbounded: "infeasible",
                TC.maxTimeLimit: "time_limit", TC.maxIterations: "other_limit", TC.maxEvaluations: "other_limit"}


def pyomo_available(name: str) -> bool:
    """Whether Pyomo can find and run the solver ``name`` here.

    Parameters
    ----------
    name : str

    Returns
    -------
    bool
    """
    import io

    from pyomo.common.log import LoggingIntercept

    try:   # an unknown name makes Pyomo log a warning with a traceback: kept off the terminal (the caller says why)
        with LoggingIntercept(io.StringIO(), "pyomo.opt"):
            opt = pyo.SolverFactory(name)
        return bool(opt is not None and opt.available(exception_flag=False))
    except Exception:  # noqa: BLE001  (Pyomo raises various errors for unknown or broken solvers)
        return False


def solver_options(solver: str, limits: Limits) -> dict:
    """The solver's own options for ``limits`` (:data:`TIME_OPTION`, :data:`GAP_OPTION`, :data:`THREADS_OPTION`).

    Parameters
    ----------
    solver : str
    limits : mecopt.milp.backends.base.Limits

    Returns
    -------
    dict

    Examples
    --------
    >>> solver_options("glpk", Limits(time_limit=0.5, mip_rel_gap=1e-4))
    {'tmlim': 1, 'mipgap': 0.0001}
    """
    options = {}
    if limits.time_limit is not None and solver in TIME_OPTION:
        key, conv = TIME_OPTION[solver]
        options[key] = conv(limits.time_limit)
    if solver in GAP_OPTION:
        options[GAP_OPTION[solver]] = limits.mip_rel_gap
    if limits.threads and solver in THREADS_OPTION:
        options[THREADS_OPTION[solver]] = limits.threads
    return options


class PyomoBackend(Backend):
    """GTPOS on the Pyomo model with the solver Pyomo finds by ``name``; no start solution, no progress.

    Parameters
    ----------
    name : str
        A Pyomo solver name (``gurobi``, ``scip``, ...).
    """

    accepts_start = False

    def __init__(self, name: str):
        self.name = name

    def available(self) -> bool:
        """Whether Pyomo finds and can run the solver.

        Returns
        -------
        bool
            True when the solver is available.
        """
        return pyomo_available(self.name)

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
        opt = pyo.SolverFactory(self.name)
        res = opt.solve(model, options=solver_options(self.name, limits), load_solutions=False)
        tc = res.solver.termination_condition
        kind = PYOMO_STATUS.get(tc, "")
        obj = bound = flows = None
        if len(res.solution) > 0:
            model.solutions.load_from(res)
            obj = pyo.value(model.obj)
            flows = problem.flows_of()
        lb = getattr(res.problem, "lower_bound", None)
        try:
            bound = float(lb) if lb is not None and np.isfinite(float(lb)) else None
        except (TypeError, ValueError):
            bound = None
        rep = statusmod.Report(status=f"{self.name}: {tc}", proven_optimal=kind == "optimal",
                               infeasible=kind == "infeasible", time_limit=kind == "time_limit",
                               other_limit=kind == "other_limit", objective=obj,
                               bound=obj if (kind == "optimal" and bound is None) else bound)
        return rep, flows, dict(build_s=t1 - t0, solve_s=time.perf_counter() - t1)
