"""Slot codes: what the integer ``profile[n][m - 1]`` of a strategy means (§3, rules 1-2).

A layer of an MD runs locally (code :data:`LOCAL` = 0), in server slot ``h`` (code ``h``,
1..H), or, for the all-offload baseline (Case 3) only, queued after the frame (code
:func:`queued` = H + 1). Every module names these codes through this one; numba kernels,
which cannot call Python, keep the raw arithmetic with a comment pointing here.

Examples
--------
>>> from mecopt.core import slots
>>> list(slots.server_slots(3)), slots.queued(3), list(slots.placements(3)), list(slots.codes(3))
([1, 2, 3], 4, [0, 1, 2, 3], [0, 1, 2, 3, 4])
"""

from __future__ import annotations

import numpy as np

#: the code of a layer that runs on the MD itself
LOCAL = 0


def server_slots(H: int) -> range:
    """The server slots 1..H of a frame of ``H`` slots.

    Parameters
    ----------
    H : int
        Slots per frame.

    Returns
    -------
    range
        ``range(1, H + 1)``.
    """
    return range(1, H + 1)


def queued(H: int) -> int:
    """The code H + 1 of a layer queued after the frame (Case 3's overflow).

    Parameters
    ----------
    H : int
        Slots per frame.

    Returns
    -------
    int
    """
    return H + 1


def placements(H: int) -> range:
    """Every placement a layer may take in a strategy of the game: local (0) and the slots 1..H.

    Parameters
    ----------
    H : int
        Slots per frame.

    Returns
    -------
    range
        ``range(H + 1)``, the last index of the binary tensor ``y[n, m, h]`` of (15)-(16).
    """
    return range(H + 1)


def codes(H: int) -> range:
    """Every code, the queue included: ``range(H + 2)`` (the width of a checker's tensor).

    Parameters
    ----------
    H : int
        Slots per frame.

    Returns
    -------
    range
    """
    return range(H + 2)


def is_queued(slots: np.ndarray, H: int) -> bool:
    """True when any layer of ``slots`` waits after the frame (code H + 1).

    Parameters
    ----------
    slots : numpy.ndarray
        One MD's slot vector.
    H : int
        Slots per frame of the server it offloads to.

    Returns
    -------
    bool
    """
    return bool(np.any(np.asarray(slots) == queued(H)))


def offloads(slots: np.ndarray) -> bool:
    """True when some layer of ``slots`` leaves the MD (any code other than :data:`LOCAL`).

    Parameters
    ----------
    slots : numpy.ndarray
        One MD's slot vector.

    Returns
    -------
    bool
    """
    return bool(np.any(np.asarray(slots) != LOCAL))
