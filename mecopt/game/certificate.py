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

from mecopt.bestresponse import batch
from mecopt.bestresponse.batch import PairTable
from mecopt.bestresponse.engines import make_engine
from mecopt.core import cost as costmod
from mecopt.core.instance import Instance
from mecopt.core.problem import enforces_deadline
from mecopt.game.compiled import certify
from mecopt.game.state import GameState


def certificate(instance: Instance, profile: list[np.ndarray], tol_rel: float = 1e-9, server_of=None,
                state: GameState | None = None, table: PairTable | None = None) -> dict:
    """Per-device gains and the largest (absolute and relative to max(1, |C_n|)).

    A device's best response (28) is the least over every server it reaches
    (:func:`mecopt.bestresponse.engines.make_engine`, the DP without tie-break), against the
    true aggregates of the others there (:meth:`mecopt.game.state.GameState.others`).

    Parameters
    ----------
    instance : Instance
        One server or several.
    profile : list of numpy.ndarray
        One slot vector per device.
    tol_rel : float, default 1e-9
        Largest relative gain of a certified equilibrium.
    server_of : sequence of int, optional
        Each device's server (-1 all local); an offloading device without one is on its first
        reachable server (with one server, server 0).
    state : GameState, optional
        A game state already holding this profile and these servers (the game's own at its end):
        used instead of building one, after :meth:`GameState.recompute_totals` (so its totals are
        those a new state would have).
    table : PairTable, optional
        The instance's DP pair table (:mod:`mecopt.bestresponse.batch`), when the caller has one.

    Returns
    -------
    dict
        ``max_gain``, ``max_gain_rel``, ``worst_device``, ``tolerance_rel``, ``certified``,
        ``gains`` (per device; inf when its strategy breaks (17), (27) or, where enforced, (26)),
        ``deadline_dropped``, ``infeasible_devices`` and ``against`` (what was checked).

    Examples
    --------
    >>> import mecopt
    >>> from mecopt.game.certificate import certificate
    >>> inst = mecopt.load_instance("paper:fig6-w1khz")
    >>> cert = certificate(inst, mecopt.solve(inst, "tpos-cai", engine="dp").profile)
    >>> cert["certified"], len(cert["gains"])
    (True, 5)
    """
    if state is None:
        state = GameState(instance, profile, server_of)
    else:
        state.recompute_totals()
    where = " on every reachable server" if instance.K > 1 else ""   # presentation only
    against = f"true aggregates{where}, exact DP best response without tie-break"
    if batch.AVAILABLE and not _any_queued(state):   # one compiled pass (mecopt.game.compiled.certify)
        fast = certify(state, table)
        names = [d.name for d in instance.devices]
        gains = [float(g) for g in fast["gains"]]
        rel = [float(r) for r in fast["rel"]]
        dropped = [names[n] for n in np.flatnonzero(fast["dropped"])]
        infeasible = [names[n] for n in np.flatnonzero(fast["infeasible"])]
        return _summary(instance, gains, rel, dropped, infeasible, tol_rel, against)
    exact = make_engine(instance, "dp", tie_break=False)
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
    return _summary(instance, gains, rel, dropped, infeasible, tol_rel, against)


def _any_queued(state: GameState) -> bool:
    """Whether some MD waits for the next frame (Case 3), which only the Python path scores."""
    H = np.array([v.server.H for v in state.views])
    k = np.where(state.server_of >= 0, state.server_of, state.home)
    top = np.array([s.max(initial=0) for s in state.slots])
    maybe = np.flatnonzero(top == H[k] + 1)   # only these can be all H + 1
    return any(costmod.queued(state.slots[n], int(H[k[n]])) for n in maybe)


def _summary(instance: Instance, gains: list[float], rel: list[float], dropped: list[str], infeasible: list[str],
             tol_rel: float, against: str) -> dict:
    k = int(np.argmax(rel)) if rel else 0
    max_rel = float(max(rel)) if rel else 0.0
    return dict(
        max_gain=float(max(gains)) if gains else 0.0, max_gain_rel=max_rel,
        worst_device=instance.devices[k].name if rel else None, tolerance_rel=tol_rel,
        certified=bool(max_rel <= tol_rel), gains=[float(g) for g in gains],
        deadline_dropped=dropped, infeasible_devices=infeasible, against=against,
    )
