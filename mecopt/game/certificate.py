"""Equilibrium certificate: every device's largest unilateral gain against a profile.

For each MD the exact best response (the DP, without the tie-break perturbation)
against the true aggregates of the others gives the least cost C_n* it could
reach alone; its gain is C_n(current) - C_n*. A profile is a (tau-feasible where
possible) Nash equilibrium of the game of (28) iff every gain is <= 0 up to the
tolerance. A device whose current strategy breaks (17) or (27) against the others
has an infinite gain: it must move.
"""

from __future__ import annotations

import numpy as np

from mecopt.bestresponse.dp import DPEngine
from mecopt.core.instance import Instance
from mecopt.core.problem import enforces_deadline
from mecopt.game.state import GameState


def certificate(instance: Instance, profile: list[np.ndarray], tol_rel: float = 1e-9, server_of=None) -> dict:
    """Per-device gains and the largest (absolute and relative to max(1, |C_n|)).

    With several servers (``server_of``: each device's server, -1 all local) a device's best
    response is the least over every server it reaches (:mod:`mecopt.game.multiserver`).
    """
    if instance.multi:
        from mecopt.game.multiserver import MultiEngine, MultiState
        state, exact = MultiState(instance, server_of, profile), MultiEngine(instance, tie_break=False)
        against = "true aggregates on every reachable server, exact DP best response without tie-break"
    else:
        state, exact = GameState(instance, profile), DPEngine(instance, tie_break=False)
        against = "true aggregates, exact DP best response without tie-break"
    gains, rel, dropped, infeasible = [], [], [], []
    for n, dev in enumerate(instance.devices):
        others = state.others(n)
        br = exact.best_response(n, others)
        current = state.cost(n, others)
        if not state.feasible(n, others, enforce_deadline=enforces_deadline(dev) and not br.deadline_dropped):
            g = float("inf")
            infeasible.append(dev.name)
        else:
            g = max(0.0, current - br.cost)
        gains.append(g)
        rel.append(g / max(1.0, abs(current)))
        if br.deadline_dropped:
            dropped.append(dev.name)
    k = int(np.argmax(rel)) if rel else 0
    max_rel = float(max(rel)) if rel else 0.0
    return dict(
        max_gain=float(max(gains)) if gains else 0.0, max_gain_rel=max_rel,
        worst_device=instance.devices[k].name if rel else None, tolerance_rel=tol_rel,
        certified=bool(max_rel <= tol_rel), gains=[float(g) for g in gains],
        deadline_dropped=dropped, infeasible_devices=infeasible, against=against,
    )
