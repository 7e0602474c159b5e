"""A method's time budget: one deadline, taken when the method starts, for every phase of it.

A ``time_limit`` of GTPOS or tpos-best bounds the whole method (issue 24): building the model,
the start runs, the solver and any polish share one deadline. A phase that builds asks
:meth:`Budget.check` between pieces of work and stops with :class:`OutOfTime` once the deadline
has passed; a solver is handed :meth:`Budget.left`. The method then returns its best solution so far
with termination ``TIME_LIMIT``.
"""

from __future__ import annotations

import time


class OutOfTime(Exception):
    """Raised by :meth:`Budget.check` when the deadline has passed (caught by the method that owns the budget)."""


class Budget:
    """The whole method's time budget: one deadline for every phase.

    Parameters
    ----------
    time_limit : float or None
        Seconds from now (None: unbounded).

    Examples
    --------
    >>> b = Budget(None)
    >>> b.left() is None, b.spent()
    (True, False)
    >>> Budget(3600).left() > 3500
    True
    """

    def __init__(self, time_limit: float | None):
        self.started = time.perf_counter()
        self.deadline = None if time_limit is None else self.started + float(time_limit)

    def left(self) -> float | None:
        """Seconds left (None: unbounded; never below 1 ms, so a solver is never handed 0).

        Returns
        -------
        float or None
        """
        return None if self.deadline is None else max(1e-3, self.deadline - time.perf_counter())

    def spent(self) -> bool:
        """Whether the deadline has passed.

        Returns
        -------
        bool
        """
        return self.deadline is not None and time.perf_counter() >= self.deadline

    def elapsed(self) -> float:
        """Seconds since the start.

        Returns
        -------
        float
        """
        return time.perf_counter() - self.started

    def check(self) -> None:
        """Stop a phase once the deadline has passed.

        Raises
        ------
        OutOfTime
            When the deadline has passed.
        """
        if self.spent():
            raise OutOfTime(f"time budget of {self.deadline - self.started:g} s spent")  # type: ignore[operator]
