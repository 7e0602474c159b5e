"""Brute-force enumeration of one device's strategies: the test oracle of the
best-response engines (problem 28) for small M and H.

Every non-decreasing vector over {0..H} of length M is a strategy satisfying
(15)-(16); it is kept when (17) and (27) hold against the others' aggregates and,
unless dropped, (26). There are C(M+H, H) of them (65,780 for AlexNet, H = 5).
"""

from __future__ import annotations

from itertools import combinations_with_replacement

import numpy as np

from . import cost as costmod
from .instance import Device, Server
from .response import (CAP_TOL, Aggregates, BestResponse, enforces_deadline, slot_capacity, slot_open, theta,
                       tie_weight)


def strategies(M: int, H: int):
    """All non-decreasing slot vectors of length M over 0..H."""
    for combo in combinations_with_replacement(range(H + 1), M):
        yield np.array(combo, dtype=int)


def feasible(dev: Device, server: Server, others: Aggregates, slots: np.ndarray, enforce_deadline: bool) -> bool:
    _, T_own = costmod.own_loads(dev, slots, server.H)
    used = T_own > 0
    used |= np.isin(np.arange(1, server.H + 1), slots)
    cap = slot_capacity(server, others)
    if np.any(T_own > cap * (1 + CAP_TOL) + 1e-15):
        return False
    if np.any(used & ~slot_open(server, others)):
        return False
    if enforce_deadline and costmod.delay(dev, slots, server) > dev.tau * (1 + 1e-12):
        return False
    return True


def best_response(dev: Device, server: Server, others: Aggregates, tie_break: bool = True) -> BestResponse:
    """The exact best response by enumeration, with the same tie and deadline rules as the engines."""
    eps = tie_weight(dev) if tie_break else 0.0
    for enforce, dropped in ((enforces_deadline(dev), False), (False, True)):
        best = None
        for slots in strategies(dev.M, server.H):
            if not feasible(dev, server, others, slots, enforce):
                continue
            c = costmod.device_cost(dev, slots, server, others.load)
            obj = c + eps * theta(slots)
            if best is None or obj < best.objective:
                best = BestResponse(slots, obj, c, dropped and enforces_deadline(dev))
        if best is not None:
            return best
    raise AssertionError("fully local is always feasible without (26)")
