"""What every best-response engine shares.

The others' aggregates, the result type, the tie-breaking rule and the deadline rule (problem 28, docs/MODEL.md §5-6).

Tie-breaking (both engines, so that they reach the same equilibrium): an engine
minimizes ``C_n + eps_n * theta_n`` where ``theta_n = sum_m h(m) (1 + m/(M+1))``
(h(m) = slot of layer m, 0 = local) and ``eps_n = TIE_REL * max(1, C_n(all local))``.
Among strategies of equal cost this prefers local layers and earlier slots, later
layers first. The perturbation never exceeds ``TIE_REL * 2 M H`` (2e-10 for
AlexNet, H = 5) relative to the all-local cost, below every tolerance reported,
and it is large enough for HiGHS to resolve exact ties (gamma_n = 0 makes every
split of the same offloaded tail over the same last slot cost the same).

Deadline rule: (26) is enforced unless the device was relaxed by the instance's
``deadline_policy = "relax"``; when the others' choices leave the device no
tau-feasible strategy, the best response minimizes C_n with (26) dropped and
says so (``deadline_dropped``). Under ``deadline_policy = "soft"`` (26) is never a
constraint: the engines minimize C_n + pi_n max(0, T_n - tau_n)
(:func:`mecopt.core.cost.deadline_penalty`, part of :func:`~mecopt.core.cost.device_cost`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mecopt.core.instance import Device, Server
from mecopt.core.tolerances import fits_capacity, has_room, meets_deadline

TIE_REL = 1e-12


@dataclass(frozen=True)
class Aggregates:
    """The other MDs' per-slot aggregates seen by one MD (h = 1..H).

    Attributes
    ----------
    load : numpy.ndarray
        Sum over others of S_q^h (price load)
    time : numpy.ndarray
        Sum over others of T_q^h (server time, for capacity mode "total")
    count : numpy.ndarray
        Number of other MDs with a layer in slot h (float for UAI estimates)
    """

    load: np.ndarray   # sum over others of S_q^h (price load)
    time: np.ndarray   # sum over others of T_q^h (server time, for capacity mode "total")
    count: np.ndarray  # number of other MDs with a layer in slot h (float for UAI estimates)

    @classmethod
    def empty(cls, H: int) -> Aggregates:
        """The aggregates of no other MD: all zero over ``H`` slots.

        Parameters
        ----------
        H : int
            Number of slots.

        Returns
        -------
        Aggregates
            Zero price load, server time and count in every slot.
        """
        return cls(np.zeros(H), np.zeros(H), np.zeros(H))


@dataclass(frozen=True)
class BestResponse:
    """A best response (28): the strategy, its objective and cost, whether (26) was dropped, and its server.

    Attributes
    ----------
    slots : numpy.ndarray
        The strategy, layer 1..M -> slot (0 = local)
    objective : float
        C_n + tie-break perturbation, what the engine minimized.
    cost : float
        C_n.
    deadline_dropped : bool
        (26) had to be dropped: no tau-feasible strategy was left.
    server : int
        The server it offloads to (-1: all local, or not said by a one-server engine)
    """

    slots: np.ndarray        # the strategy, layer 1..M -> slot (0 = local)
    objective: float         # C_n + tie-break perturbation, what the engine minimized
    cost: float              # C_n
    deadline_dropped: bool   # (26) had to be dropped: no tau-feasible strategy was left
    server: int = -1         # the server it offloads to (-1: all local, or not said by a one-server engine)


def layer_weights(M: int) -> np.ndarray:
    """w_m = 1 + m/(M+1), m = 1..M: theta_n = sum_m h(m) w_m.

    Parameters
    ----------
    M : int
        Number of layers.

    Returns
    -------
    numpy.ndarray
        w_1..w_M, shape (M,).
    """
    return 1.0 + np.arange(1, M + 1) / (M + 1)


def tie_weight(dev: Device) -> float:
    """eps_n of the tie-breaking rule.

    Parameters
    ----------
    dev : Device
        The mobile device (MD) n: its DNN's layer times, link and weights.

    Returns
    -------
    float
        eps_n, small enough never to overturn a strict cost difference.
    """
    local = float(dev.local_cum[-1])
    return TIE_REL * max(1.0, dev.alpha * dev.c_T * local + dev.beta * dev.c_E * dev.P_lo * local)


def theta(slots: np.ndarray) -> float:
    """theta_n = sum_m h(m) w_m of a strategy, the tie-breaking key (:func:`layer_weights`).

    Parameters
    ----------
    slots : numpy.ndarray
        The strategy: the slot of each layer 1..M (0 = local, 1..H = server slot, H+1 = queued after the frame).

    Returns
    -------
    float
        theta_n of the strategy.
    """
    s = np.asarray(slots, dtype=float)
    return float(s @ layer_weights(len(s)))


def slot_capacity(server: Server, others: Aggregates) -> np.ndarray:
    """Server time one MD may still use in each slot under (17).

    Parameters
    ----------
    server : Server
        The edge server (a single-server instance's, or one server view's).
    others : Aggregates
        The other MDs' aggregates per slot.

    Returns
    -------
    numpy.ndarray
        The server time left per slot, shape (H,).
    """
    if server.capacity_mode == "per_device":
        return np.full(server.H, server.slot_len)
    return server.slot_len - others.time


def slot_open(server: Server, others: Aggregates) -> np.ndarray:
    """(27): slot h can take one more MD.

    Parameters
    ----------
    server : Server
        The edge server (a single-server instance's, or one server view's).
    others : Aggregates
        The other MDs' aggregates per slot.

    Returns
    -------
    numpy.ndarray
        Per slot, whether one more MD fits under B (27), shape (H,).
    """
    room: np.ndarray = has_room(others.count, server.B)
    return room


def enforces_deadline(dev: Device) -> bool:
    """(26) is a constraint unless relaxed, or replaced by its penalty (``deadline_policy = "soft"``).

    Parameters
    ----------
    dev : Device
        The mobile device (MD) n: its DNN's layer times, link and weights.

    Returns
    -------
    bool
        True when (26) constrains the MD's strategies.
    """
    return not (dev.deadline_relaxed or dev.deadline_soft)


def strategy_feasible(dev: Device, server: Server, others: Aggregates, slots: np.ndarray,
                      enforce_deadline: bool) -> bool:
    """Whether ``slots`` satisfies (17), (27) against ``others`` and, if asked, (26).

    (15)-(16) hold by form.

    Parameters
    ----------
    dev : Device
        The mobile device (MD) n: its DNN's layer times, link and weights.
    server : Server
        The edge server (a single-server instance's, or one server view's).
    others : Aggregates
        The other MDs' aggregates per slot.
    slots : numpy.ndarray
        The strategy: the slot of each layer 1..M (0 = local, 1..H = server slot, H+1 = queued after the frame).
    enforce_deadline : bool
        Whether (26) is checked too.

    Returns
    -------
    bool
        True when the strategy is feasible.
    """
    from mecopt.core import cost as costmod

    s = np.asarray(slots)
    if costmod.queued(s, server.H):
        return not enforce_deadline or meets_deadline(costmod.delay(dev, s, server), dev.tau)
    _, T_own = costmod.own_loads(dev, s, server.H)
    used = np.isin(np.arange(1, server.H + 1), s)
    # only the slots the MD uses: others may overfill a slot it stays out of
    if np.any(used & ~fits_capacity(T_own, slot_capacity(server, others))):
        return False
    if np.any(used & ~slot_open(server, others)):
        return False
    return not enforce_deadline or meets_deadline(costmod.delay(dev, s, server), dev.tau)
