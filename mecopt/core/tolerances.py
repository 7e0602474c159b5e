"""The named tolerances of every feasibility test, in one place.

Every solver path (DP, MILP best response, GTPOS, baselines) and the checker decide
"fits the slot" (17), "meets the deadline" (26) and "room for one more MD" (27) with
these functions, so that they can never disagree at a boundary. The solvers use a
deadline tolerance tighter than the checker's, so what they return always passes it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

#: relative tolerance of the slot-capacity test (17); ``1e-15`` absolute on top of it
CAP_TOL = 1e-9
CAP_ABS = 1e-15
#: relative tolerance of the checker's deadline test (26)
DEADLINE_TOL = 1e-9
#: relative tolerance of the solvers' deadline test (26): tighter than the checker's
SOLVER_DEADLINE_TOL = 1e-12
#: absolute slack of the parallel limit (27) when counts are real-valued (UAI estimates)
PARALLEL_TOL = 1e-9


def capacity_limit(cap: float | NDArray[np.float64]) -> Any:
    """The largest server time that still fits a slot of capacity ``cap`` (17).

    Parameters
    ----------
    cap : float or numpy.ndarray
        Slot capacity in seconds (a number or an array).

    Returns
    -------
    float or numpy.ndarray
        The capacity with the shared tolerance added (same shape as ``cap``).
    """
    return np.asarray(cap) * (1 + CAP_TOL) + CAP_ABS if np.ndim(cap) else cap * (1 + CAP_TOL) + CAP_ABS


def fits_capacity(t: float | NDArray[np.float64], cap: float | NDArray[np.float64]) -> Any:
    """(17): server time ``t`` fits in capacity ``cap`` (element-wise for arrays).

    Parameters
    ----------
    t : float or numpy.ndarray
        Server time in seconds.
    cap : float or numpy.ndarray
        Slot capacity in seconds.

    Returns
    -------
    bool or numpy.ndarray
        Whether ``t`` fits (a bool, or a bool array).
    """
    return np.asarray(t) <= capacity_limit(cap) if np.ndim(t) or np.ndim(cap) else t <= capacity_limit(cap)


def deadline_limit(tau: float, rel: float = SOLVER_DEADLINE_TOL) -> float:
    """The largest delay that meets deadline ``tau`` (26), at relative tolerance ``rel``.

    Parameters
    ----------
    tau : float
        The deadline tau_n in seconds.
    rel : float, default SOLVER_DEADLINE_TOL
        Relative tolerance.

    Returns
    -------
    float
        tau with the tolerance added, in seconds.
    """
    return tau * (1 + rel)


def meets_deadline(delay: float, tau: float, rel: float = SOLVER_DEADLINE_TOL) -> bool:
    """(26): ``delay <= tau`` up to ``rel`` relative (solvers' tolerance by default).

    Parameters
    ----------
    delay : float
        The delay T_n in seconds.
    tau : float
        The deadline tau_n in seconds.
    rel : float, default SOLVER_DEADLINE_TOL
        Relative tolerance.

    Returns
    -------
    bool
        True when the deadline is met.
    """
    return delay <= deadline_limit(tau, rel)


def has_room(count: ArrayLike, B: float) -> Any:
    """(27): a slot used by ``count`` other MDs can take one more when the limit is ``B``.

    Parameters
    ----------
    count : array_like
        The number of other MDs in each slot.
    B : float
        The parallel limit B.

    Returns
    -------
    bool or numpy.ndarray
        Whether each slot can take one more MD (a bool, or a bool array).
    """
    return np.asarray(count) + 1 <= B + PARALLEL_TOL
