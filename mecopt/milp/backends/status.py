"""The neutral status of a MILP solve.

:class:`Report` (what a solver said), :class:`Outcome` (what one HiGHS solve of the best-response or potential model
produced) and one rule, :func:`termination`, turning a GTPOS backend's report into a Termination.

Each backend maps its solver's statuses with one table in its own module (HiGHS:
:data:`mecopt.milp.backends.highs.HIGHS_STATUS`; CP-SAT and Pyomo solvers in theirs). A backend reports what its solver
said in neutral terms (:class:`Report`); :func:`termination` turns it into mecopt's
:class:`~mecopt.core.solution.Termination`: ``OPTIMAL`` only when the solver proved optimality *and* the reported gap
(objective and bound in the model's own units) is within ``mip_rel_gap`` (or ``abs_gap``); a run stopped by its time
limit is ``TIME_LIMIT`` even when its incumbent happens to be optimal; other limits ``ITERATION_LIMIT``; a solution
without any optimality claim ``FEASIBLE``; a proof of infeasibility ``INFEASIBLE``; anything else ``ERROR``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from mecopt.core.solution import Termination


@dataclass(frozen=True)
class Report:
    """What a solver said, in neutral terms.

    Attributes
    ----------
    status : str
        The solver's own words.
    proven_optimal : bool
        The solver proved optimality.
    infeasible : bool
        The solver proved the model infeasible.
    time_limit : bool
        The solver stopped at its time limit.
    other_limit : bool
        The solver stopped at another limit.
    objective : float or None
        incumbent, in the model's units.
    bound : float or None
        Dual bound, in the model's units.
    nodes : int or None
        Branch-and-bound nodes (None: not reported).
    """

    status: str                  # the solver's own words
    proven_optimal: bool = False
    infeasible: bool = False
    time_limit: bool = False
    other_limit: bool = False
    objective: float | None = None   # incumbent, in the model's units
    bound: float | None = None       # dual bound, in the model's units
    nodes: int | None = None

    @property
    def has_solution(self) -> bool:
        """Whether the solver reported a finite objective, i.e. holds a solution."""
        return self.objective is not None and math.isfinite(self.objective)


@dataclass(frozen=True)
class Outcome:
    """What one solve produced, in mecopt's terms (termination apart from the solution held).

    Attributes
    ----------
    termination : Termination
        mecopt's termination.
    status : str
        The solver's own words.
    has_solution : bool
        Whether a solution is held.
    objective : float or None
        The incumbent's objective (None: none).
    bound : float or None
        The proven bound (None: none).
    gap : float or None
        (objective - bound) / |objective|.
    nodes : int or None
        Branch-and-bound nodes (None: not reported).
    solve_time : float
        Seconds in the solver.
    """

    termination: Termination
    status: str            # the solver's own words
    has_solution: bool
    objective: float | None
    bound: float | None
    gap: float | None      # (objective - bound) / |objective|
    nodes: int | None
    solve_time: float


def gap(objective: float | None, bound: float | None) -> float | None:
    """(objective - bound) / |objective| (0 when equal; None when either is missing).

    Parameters
    ----------
    objective : float or None
        The incumbent's objective.
    bound : float or None
        The proven bound.

    Returns
    -------
    float or None
        The relative gap, or None.
    """
    if objective is None or bound is None or not math.isfinite(bound):
        return None
    if objective == bound:
        return 0.0
    return max(0.0, objective - bound) / max(abs(objective), 1e-12)


def termination(r: Report, mip_rel_gap: float, abs_gap: float = 1e-9) -> Termination:
    """The :class:`Termination` of a run (see the module docstring).

    Parameters
    ----------
    r : Report
        What the solver said.
    mip_rel_gap : float
        Relative gap within which an optimum counts as proven.
    abs_gap : float, default 1e-09
        Absolute gap within which an optimum counts as proven.

    Returns
    -------
    Termination
        The termination.
    """
    if r.infeasible:
        return Termination.INFEASIBLE
    if not r.has_solution:
        return Termination.ERROR
    if r.time_limit:
        return Termination.TIME_LIMIT
    g = gap(r.objective, r.bound)
    if r.proven_optimal and g is not None and (g <= mip_rel_gap * (1 + 1e-9) or r.objective - r.bound <= abs_gap):
        return Termination.OPTIMAL
    if r.other_limit:
        return Termination.ITERATION_LIMIT
    return Termination.FEASIBLE
