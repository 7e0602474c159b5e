"""The protocol every GTPOS backend follows: neutral limits in, a neutral report out.

A backend (:class:`Backend`) solves one GTPOS problem (:class:`mecopt.milp.gtpos.Problem`: the
class networks of :mod:`mecopt.milp.classes`, and on demand their Pyomo model) under
:class:`Limits` (time, relative gap, threads, a progress callback, a start solution), each
translated to its solver's own option names in the backend's module. It returns what the solver
said as a :class:`~mecopt.milp.backends.status.Report` (mapped by the backend's own status table),
the class flows of its solution (or None), and solver facts for ``Solution.info``. One rule then
turns every report into a :class:`~mecopt.core.solution.Termination`
(:func:`mecopt.milp.backends.status.termination`).

:class:`Limits` validates every value when it is built, so a solver is never handed a value that
can make it fail (a non-finite or non-positive time, a gap outside [0, 1), threads < 1).
"""

from __future__ import annotations

import math
import numbers
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from mecopt.core.errors import InputError


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


@dataclass(frozen=True)
class Limits:
    """Neutral limits of one MILP solve, validated when built.

    Parameters
    ----------
    time_limit : float, optional
        Seconds (finite, > 0); None: no limit.
    mip_rel_gap : float
        Relative gap in [0, 1) within which an optimum counts as proven.
    threads : int, optional
        Worker threads (>= 1); None: the backend's default (CP-SAT: 1).
    progress : callable, optional
        Called with ``dict(incumbent=, bound=, gap=, time_s=)`` during the solve.
    start : list of numpy.ndarray, optional
        A start solution as class flows (one integer vector per class network); used only by a
        backend with ``accepts_start``.
    started : float
        ``time.perf_counter()`` at the start of the run (``time_s`` of progress counts from it).

    Raises
    ------
    InputError
        Naming the option whose value is out of range.

    Examples
    --------
    >>> Limits(time_limit=10, mip_rel_gap=1e-6).threads is None
    True
    >>> Limits(mip_rel_gap=1.5)
    Traceback (most recent call last):
    ...
    mecopt.core.errors.InputError: The 'mip_rel_gap' option must be a number in [0, 1). Got 1.5 instead.
    """

    time_limit: float | None = None
    mip_rel_gap: float = 1e-6
    threads: int | None = None
    progress: Callable[[dict], None] | None = None
    start: list[np.ndarray] | None = None
    started: float = field(default_factory=time.perf_counter)

    def __post_init__(self) -> None:
        t = self.time_limit
        if t is not None and not (_is_real(t) and math.isfinite(t) and t > 0):
            raise InputError(f"The 'time_limit' option must be a finite number of seconds > 0. Got {t!r} instead.")
        g = self.mip_rel_gap
        if not (_is_real(g) and 0 <= g < 1):
            raise InputError(f"The 'mip_rel_gap' option must be a number in [0, 1). Got {g!r} instead.")
        n = self.threads
        if n is not None and not (isinstance(n, numbers.Integral) and not isinstance(n, bool) and n >= 1):
            raise InputError(f"The 'threads' option must be an integer >= 1. Got {n!r} instead.")
        if self.progress is not None and not callable(self.progress):
            raise InputError(f"The 'progress' option must be callable. Got {self.progress!r} instead.")


class Backend(ABC):
    """A MILP solver that solves GTPOS problems (one module per backend).

    Attributes
    ----------
    name : str
        The name users give (``solver="..."``).
    accepts_start : bool
        Whether :attr:`Limits.start` is handed to the solver (CP-SAT: as a hint; HiGHS gets none,
        docs/milp.md §3.5).
    """

    name: str = ""
    accepts_start: bool = False

    @abstractmethod
    def available(self) -> bool:
        """Whether the solver can run here.

        Returns
        -------
        bool
        """

    @abstractmethod
    def solve(self, problem, limits: Limits):
        """Solve ``problem`` under ``limits``.

        Parameters
        ----------
        problem : mecopt.milp.gtpos.Problem
            The class networks (``problem.nets``) and, on demand, their Pyomo model (``problem.model``).
        limits : Limits

        Returns
        -------
        tuple
            ``(report, flows, info)``: a :class:`~mecopt.milp.backends.status.Report`, the class flows of
            the solution (None without one), and a dict of solver facts with at least ``build_s`` and
            ``solve_s``.
        """
