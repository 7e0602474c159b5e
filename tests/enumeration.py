"""Brute-force enumeration of one device's strategies: the test oracle of the
best-response engines (problem 28) for small M and H.

Every non-decreasing vector over {0..H} of length M is a strategy satisfying
(15)-(16); it is kept when (17) and (27) hold against the others' aggregates and,
unless dropped, (26). There are C(M+H, H) of them (65,780 for AlexNet, H = 5).
"""

from __future__ import annotations

from itertools import combinations_with_replacement

import numpy as np

from mecopt.model import cost as costmod
from mecopt.model.instance import Device, Server
from mecopt.bestresponse.problem import Aggregates, BestResponse, enforces_deadline, strategy_feasible, theta, tie_weight


def strategies(M: int, H: int):
    """All non-decreasing slot vectors of length M over 0..H."""
    for combo in combinations_with_replacement(range(H + 1), M):
        yield np.array(combo, dtype=int)


def best_response(dev: Device, server: Server, others: Aggregates, tie_break: bool = True) -> BestResponse:
    """The exact best response by enumeration, with the same tie and deadline rules as the engines."""
    eps = tie_weight(dev) if tie_break else 0.0
    for enforce, dropped in ((enforces_deadline(dev), False), (False, True)):
        best = None
        for slots in strategies(dev.M, server.H):
            if not strategy_feasible(dev, server, others, slots, enforce):
                continue
            c = costmod.device_cost(dev, slots, server, others.load)
            obj = c + eps * theta(slots)
            if best is None or obj < best.objective:
                best = BestResponse(slots, obj, c, dropped and enforces_deadline(dev))
        if best is not None:
            return best
    raise AssertionError("fully local is always feasible without (26)")
