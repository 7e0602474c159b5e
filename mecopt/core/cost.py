"""The one numpy definition of delay, energy, price, cost and the potential (eqs. 19-25).

A device's *strategy* is an integer vector ``slots`` of length M_n: ``slots[m-1]``
is the h of ``y[n,m,h] = 1`` (0 = local, 1..H = server slot). Constraints (15)
and (16) then read: one entry per layer, non-decreasing. A device served after
the frame (Case 3's queue, docs/MODEL.md §6) has every entry equal to H+1.

Every solver's output is scored here, never by the solver itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray

from mecopt.core.instance import Device, Instance, Server


def queued(slots: np.ndarray, H: int) -> bool:
    """Case 3: the device waits for the next frame (every layer at slot H+1).

    Parameters
    ----------
    slots : numpy.ndarray
        The strategy: the slot of each layer 1..M (0 = local, 1..H = server slot, H+1 = queued after the frame).
    H : int
        Number of slots of the server.

    Returns
    -------
    bool
        True when every layer waits for the next frame.
    """
    return len(slots) > 0 and bool(np.all(slots == H + 1))


def partition_point(slots: np.ndarray) -> int:
    """Eq. (18): m* = sum_m y[n,m,0].

    Parameters
    ----------
    slots : numpy.ndarray
        The strategy: the slot of each layer 1..M (0 = local, 1..H = server slot, H+1 = queued after the frame).

    Returns
    -------
    int
        m*, the number of layers computed locally (eq. 18).
    """
    return int(np.count_nonzero(slots == 0))


def blocks(slots: np.ndarray) -> list[tuple[int, int, int]]:
    """Contiguous runs (first layer, last layer, slot) of layers 1..M with equal slot (slot 0 = the local prefix).

    Parameters
    ----------
    slots : numpy.ndarray
        The strategy: the slot of each layer 1..M (0 = local, 1..H = server slot, H+1 = queued after the frame).

    Returns
    -------
    list[tuple[int, int, int]]
        (first layer, last layer, slot) of each run of equal slots, in layer order.
    """
    out, start = [], 0
    for m in range(1, len(slots) + 1):
        if m == len(slots) or slots[m] != slots[start]:
            out.append((start + 1, m, int(slots[start])))
            start = m
    return out


def own_loads(dev: Device, slots: np.ndarray, H: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-slot price load S_n^h = sum_m y S_{n,m} and server time T_n^h (h = 1..H).

    Parameters
    ----------
    dev : Device
        The mobile device (MD) n: its DNN's layer times, link and weights.
    slots : numpy.ndarray
        The strategy: the slot of each layer 1..M (0 = local, 1..H = server slot, H+1 = queued after the frame).
    H : int
        Number of slots of the server.

    Returns
    -------
    tuple[numpy.ndarray, numpy.ndarray]
        S_n^h and T_n^h, each of shape (H,).
    """
    s = np.asarray(slots)
    inside = (s >= 1) & (s <= H)
    idx = s[inside]
    S = np.bincount(idx, weights=dev.S[1:][inside], minlength=H + 1)[1:H + 1]
    T = np.bincount(idx, weights=dev.t_server[1:][inside], minlength=H + 1)[1:H + 1]
    return S, T


def delay(dev: Device, slots: np.ndarray, server: Server) -> float:
    """Eq. (24): local time of 1..m*, upload of m*'s output, (h_max/H) T_d, download.

    Fully local: only the local term. Queued (Case 3): upload of the input + T_d +
    total server time + download.

    Parameters
    ----------
    dev : Device
        The mobile device (MD) n: its DNN's layer times, link and weights.
    slots : numpy.ndarray
        The strategy: the slot of each layer 1..M (0 = local, 1..H = server slot, H+1 = queued after the frame).
    server : Server
        The edge server (a single-server instance's, or one server view's).

    Returns
    -------
    float
        T_n (24) in seconds.
    """
    if queued(slots, server.H):
        return float(dev.t_up[0] + server.T_d + dev.t_server[1:].sum() + dev.t_down)
    m = partition_point(slots)
    local = float(dev.local_cum[m])
    if m == dev.M:
        return local
    h_max = int(slots[-1])
    return local + float(dev.t_up[m]) + h_max * server.slot_len + dev.t_down


def energy(dev: Device, slots: np.ndarray, server: Server) -> float:
    """Eq. (25): P_lo x local time (12) + P_up x upload time (13).

    Parameters
    ----------
    dev : Device
        The mobile device (MD) n: its DNN's layer times, link and weights.
    slots : numpy.ndarray
        The strategy: the slot of each layer 1..M (0 = local, 1..H = server slot, H+1 = queued after the frame).
    server : Server
        The edge server (a single-server instance's, or one server view's).

    Returns
    -------
    float
        E_n (25) in joules.
    """
    if queued(slots, server.H):
        return float(dev.P_up * dev.t_up[0])
    m = partition_point(slots)
    e = dev.P_lo * float(dev.local_cum[m])
    if m < dev.M:
        e += dev.P_up * float(dev.t_up[m])
    return e


def price(own_S: np.ndarray, total_S: np.ndarray, server: Server) -> float:
    """C^P_n = sum_h p_h S_n^h with p_h = a_h + (b_h/h) S_Sigma^h (19); S_Sigma^h includes the MD's own load.

    Parameters
    ----------
    own_S : numpy.ndarray
        S_n^h, the MD's own price load per slot, shape (H,).
    total_S : numpy.ndarray
        S_Sigma^h, every MD's price load per slot (the MD's own included), shape (H,).
    server : Server
        The edge server (a single-server instance's, or one server view's).

    Returns
    -------
    float
        C^P_n (19).
    """
    p = server.a + server.price_quad * total_S
    return float(p @ own_S)


def weighted_cost(dev: Device, T: float, E: float, P: float) -> float:
    """Eq. (23): alpha c^T T + beta c^E E + gamma C^P.

    Parameters
    ----------
    dev : Device
        The mobile device (MD) n: its DNN's layer times, link and weights.
    T : float
        Delay T_n in seconds (24).
    E : float
        Energy E_n in joules (25).
    P : float
        Price C^P_n (19).

    Returns
    -------
    float
        C_n (23).
    """
    return dev.alpha * dev.c_T * T + dev.beta * dev.c_E * E + dev.gamma * P


@overload
def deadline_penalty(dev: Device, T: float) -> float: ...
@overload
def deadline_penalty(dev: Device, T: NDArray[np.float64]) -> float | NDArray[np.float64]: ...
def deadline_penalty(dev: Device, T: float | NDArray[np.float64]) -> float | NDArray[np.float64]:
    """Soft deadline (26'): P_n = pi_n max(0, T_n - tau_n) in the units of C_n (23), for a delay or an array of delays.

    0 unless ``deadline_policy = "soft"`` (docs/MODEL.md Part B). It depends only on the MD's own strategy, which keeps
    the game an exact potential game.

    Parameters
    ----------
    dev : Device
        The mobile device (MD) n: its DNN's layer times, link and weights.
    T : float or numpy.ndarray
        A delay T_n in seconds, or an array of delays.

    Returns
    -------
    float or numpy.ndarray
        P_n in C_n units (an array for an array of delays); 0.0 unless the policy is soft.
    """
    if not dev.deadline_soft:
        return 0.0
    return dev.deadline_penalty_per_s * np.maximum(0.0, np.asarray(T, dtype=float) - dev.tau)


def penalty_unit(dev: Device, objective: str) -> float:
    """What one unit of a GTPOS objective costs MD n in C_n units.

    ("delay": c^T per second, "energy": c^E per joule, "social": 1), so that P_n / penalty_unit is its soft-deadline
    penalty in that unit.

    Parameters
    ----------
    dev : Device
        The mobile device (MD) n: its DNN's layer times, link and weights.
    objective : str
        The GTPOS objective: ``"delay"``, ``"energy"`` or ``"social"``.

    Returns
    -------
    float
        C_n units per unit of ``objective``.
    """
    return {"delay": dev.c_T, "energy": dev.c_E}.get(objective, 1.0)


def device_cost(dev: Device, slots: np.ndarray, server: Server, others_S: np.ndarray) -> float:
    """C_n (23) of one strategy against the others' per-slot price load.

    Plus the soft-deadline penalty under ``deadline_policy = "soft"`` (what the game minimizes).

    Parameters
    ----------
    dev : Device
        The mobile device (MD) n: its DNN's layer times, link and weights.
    slots : numpy.ndarray
        The strategy: the slot of each layer 1..M (0 = local, 1..H = server slot, H+1 = queued after the frame).
    server : Server
        The edge server (a single-server instance's, or one server view's).
    others_S : numpy.ndarray
        The other MDs' price load per slot, shape (H,).

    Returns
    -------
    float
        C_n (23), plus P_n under the soft deadline policy.
    """
    T = delay(dev, slots, server)
    if queued(slots, server.H):
        return weighted_cost(dev, T, energy(dev, slots, server), 0.0) + deadline_penalty(dev, T)
    S, _ = own_loads(dev, slots, server.H)
    return weighted_cost(dev, T, energy(dev, slots, server), price(S, others_S + S, server)) + deadline_penalty(dev, T)


@dataclass(frozen=True)
class Evaluation:
    """Every figure of a strategy profile, per device and per slot.

    Attributes
    ----------
    delay : numpy.ndarray
        (N,) T_n.
    energy : numpy.ndarray
        (N,) E_n.
    price : numpy.ndarray
        (N,) C^P_n.
    cost : numpy.ndarray
        (N,) C_n (23), plus the penalty below under the soft deadline policy.
    partition : numpy.ndarray
        (N,) m*.
    last_slot : numpy.ndarray
        (N,) h_max (0 = local, H+1 = queued)
    loads : numpy.ndarray
        (N, max_k H_k) S_n^h on the slots of the MD's own server.
    times : numpy.ndarray
        (N, max_k H_k) T_n^h (idem)
    slot_load : numpy.ndarray
        (sum_k H_k,) S_Sigma^h, every server's slots in turn (see slot_server)
    slot_time : numpy.ndarray
        (sum_k H_k,) T_Sigma^h.
    slot_count : numpy.ndarray
        (sum_k H_k,) number of MDs with a layer in slot h.
    potential : float
        Phi of docs/MODEL.md §6 (nan if some gamma_n = 0)
    penalty : numpy.ndarray or None
        (N,) soft-deadline penalty pi_n max(0, T_n - tau_n) (0 unless soft)
    server : numpy.ndarray or None
        (N,) the server each MD offloads to (-1 = all local)
    slot_server : numpy.ndarray or None
        (sum_k H_k,) the server of each slot column.
    """

    delay: np.ndarray          # (N,) T_n
    energy: np.ndarray         # (N,) E_n
    price: np.ndarray          # (N,) C^P_n
    cost: np.ndarray           # (N,) C_n (23), plus the penalty below under the soft deadline policy
    partition: np.ndarray      # (N,) m*
    last_slot: np.ndarray      # (N,) h_max (0 = local, H+1 = queued)
    loads: np.ndarray          # (N, max_k H_k) S_n^h on the slots of the MD's own server
    times: np.ndarray          # (N, max_k H_k) T_n^h (idem)
    slot_load: np.ndarray      # (sum_k H_k,) S_Sigma^h, every server's slots in turn (see slot_server)
    slot_time: np.ndarray      # (sum_k H_k,) T_Sigma^h
    slot_count: np.ndarray     # (sum_k H_k,) number of MDs with a layer in slot h
    potential: float           # Phi of docs/MODEL.md §6 (nan if some gamma_n = 0)
    penalty: np.ndarray | None = None  # (N,) soft-deadline penalty pi_n max(0, T_n - tau_n) (0 unless soft)
    server: np.ndarray | None = None   # (N,) the server each MD offloads to (-1 = all local)
    slot_server: np.ndarray | None = None  # (sum_k H_k,) the server of each slot column

    @property
    def avg_delay(self) -> float:
        """Average delay of the MDs (s), the mean of T_n (24)."""
        return float(self.delay.mean())

    @property
    def avg_energy(self) -> float:
        """Average energy of the MDs (J), the mean of E_n (25)."""
        return float(self.energy.mean())

    @property
    def avg_cost(self) -> float:
        """Average cost of the MDs, the mean of C_n (23)."""
        return float(self.cost.mean())


def evaluate(instance: Instance, profile: list[np.ndarray], server_of: ArrayLike | None = None) -> Evaluation:
    """Score a strategy profile with the shared model (eqs. 19-25), on one server or several.

    Each server view ([Instance.view][mecopt.Instance.view]) is scored as a single-server
    instance and every MD's figures are read from the view of its server (docs/multiserver.md);
    with one server the one view is the instance itself.

    Parameters
    ----------
    instance : Instance
        The instance (K >= 1 servers).
    profile : list of numpy.ndarray
        One slot vector per device (0 = local, 1..H_k = slot of its server, H_k + 1 = queued).
    server_of : array_like of int, optional
        ``server_of[n]``: the server MD n offloads to (-1 = all local). A device whose entry is
        missing or names a server it does not reach is scored on its first reachable server
        (:func:`effective_servers`); with one server it may be omitted.

    Returns
    -------
    Evaluation
        Delay (24), energy (25), price (19), cost (23) per device, the per-slot loads and the
        potential Phi; ``server`` and ``slot_server`` name the server of each MD and slot column.

    Raises
    ------
    ValueError
        When ``profile`` or ``server_of`` does not have one entry per device.

    Examples
    --------
    >>> import mecopt
    >>> from mecopt.core import cost
    >>> inst = mecopt.load_instance("paper:fig6-w1khz")
    >>> ev = cost.evaluate(inst, cost.all_local(inst))
    >>> round(ev.avg_delay, 4), list(ev.server)
    (4.5619, [-1, -1, -1, -1, -1])
    """
    N = instance.N
    if len(profile) != N:
        raise ValueError(f"the profile has {len(profile)} strategies for {N} devices")
    eff = effective_servers(instance, profile, server_of)
    views = instance.views
    per = [_evaluate_view(v.instance, prof, np.flatnonzero(eff[v.members] == v.k))
           for v, prof in zip(views, split_profile(instance, profile, eff))]
    Hs = [v.server.H for v in views]
    T, E, P, C, pen = (np.zeros(N) for _ in range(5))
    part, last = np.zeros(N, dtype=int), np.zeros(N, dtype=int)
    loads, times = np.zeros((N, max(Hs))), np.zeros((N, max(Hs)))
    for v, ev, H in zip(views, per, Hs):
        mine = np.flatnonzero(eff[v.members] == v.k)   # view-local indices of the MDs scored here
        g = v.members[mine]
        T[g], E[g], P[g], C[g], pen[g] = (ev.delay[mine], ev.energy[mine], ev.price[mine], ev.cost[mine],
                                          cast(np.ndarray, ev.penalty)[mine])   # a view's evaluation sets it
        part[g], last[g] = ev.partition[mine], ev.last_slot[mine]
        loads[g, :H], times[g, :H] = ev.loads[mine], ev.times[mine]
    phi = potential(instance, T, E, pen, [ev.loads for ev in per])
    offloads = part < np.array([len(s) for s in profile], dtype=int)
    return Evaluation(T, E, P, C, part, last, loads, times, np.concatenate([ev.slot_load for ev in per]),
                      np.concatenate([ev.slot_time for ev in per]), np.concatenate([ev.slot_count for ev in per]),
                      phi, pen, server=np.where(offloads, eff, -1), slot_server=np.repeat(np.arange(instance.K), Hs))


def _evaluate_view(instance: Instance, profile: list[np.ndarray], scored: np.ndarray | None = None) -> Evaluation:
    """The figures of one server view (a single-server instance) without the potential.

    Which :func:`evaluate` sums over every server. Only the MDs ``scored`` (view-local indices;
    default all) get their figures; the others must play all local here (``split_profile``), so
    their zero rows change no sum and their figures (left 0) are not read.
    """
    server = instance.server
    H = server.H
    N = instance.N
    idx = np.arange(N) if scored is None else np.asarray(scored, dtype=int)
    devs = [instance.devices[n] for n in idx]
    prof = [np.asarray(profile[n]) for n in idx]
    loads, times = np.zeros((N, H)), np.zeros((N, H))
    for n, dev, s in zip(idx, devs, prof):
        loads[n], times[n] = own_loads(dev, s, H)
    slot_load, slot_time = loads.sum(axis=0), times.sum(axis=0)
    count = np.zeros(H, dtype=int)
    for s in prof:
        used = np.unique(s[(s >= 1) & (s <= H)])
        count[used - 1] += 1
    T, E, P, pen, C = (np.zeros(N) for _ in range(5))
    part, last = np.zeros(N, dtype=int), np.zeros(N, dtype=int)
    T[idx] = [delay(d, s, server) for d, s in zip(devs, prof)]
    E[idx] = [energy(d, s, server) for d, s in zip(devs, prof)]
    P[idx] = [price(loads[n], slot_load, server) for n in idx]
    pen[idx] = [float(deadline_penalty(d, T[n])) for n, d in zip(idx, devs)]
    C[idx] = np.array([weighted_cost(d, T[n], E[n], P[n]) for n, d in zip(idx, devs)], dtype=float) + pen[idx]
    part[idx] = [partition_point(s) for s in prof]
    last[idx] = [int(s[-1]) if partition_point(s) < len(s) else 0 for s in prof]
    return Evaluation(T, E, P, C, part, last, loads, times, slot_load, slot_time, count, float("nan"), pen)


def potential(instance: Instance, T: np.ndarray, E: np.ndarray, penalty: np.ndarray,
              view_loads: list[np.ndarray]) -> float:
    """Exact potential of the game with costs divided by gamma_n (docs/MODEL.md §6), over every server.

    The potential is

    Phi = sum_k sum_h [a_h L_h + (b_h/2h)(L_h^2 + sum_n (S_n^h)^2)]
          + sum_n (alpha c^T T_n + beta c^E E_n + P_n)/gamma_n,

    with P_n the soft-deadline penalty (0 unless ``deadline_policy = "soft"``): it depends only on
    MD n's own strategy, so a unilateral move still changes Phi by the mover's cost change / gamma_n.

    Parameters
    ----------
    instance : Instance
        The instance.
    T, E, penalty : numpy.ndarray
        (N,) delay (24), energy (25) and soft-deadline penalty of each MD.
    view_loads : list of numpy.ndarray
        Per server view k, the (N_k, H_k) price loads S_n^h of its members (zero rows for a
        member scored on another server).

    Returns
    -------
    float
        Phi, or nan when some gamma_n = 0 (the division is undefined).
    """
    if any(d.gamma <= 0 for d in instance.devices):
        return float("nan")
    slot_part = sum(slot_potential(v.server, L) for v, L in zip(instance.views, view_loads))
    own = sum((d.alpha * d.c_T * T[n] + d.beta * d.c_E * E[n] + penalty[n]) / d.gamma
              for n, d in enumerate(instance.devices))
    return slot_part + float(own)


def slot_potential(server: Server, loads: np.ndarray) -> float:
    """The slot part of Phi for one server: sum_h [a_h L_h + (b_h/2h)(L_h^2 + sum_n (S_n^h)^2)], loads (N, H).

    Parameters
    ----------
    server : Server
        The edge server (a single-server instance's, or one server view's).
    loads : numpy.ndarray
        S_n^h of every MD on the server, shape (N, H).

    Returns
    -------
    float
        The slot part of the potential Phi.
    """
    L = loads.sum(axis=0)
    return float(server.a @ L + (server.price_quad / 2) @ (L ** 2 + (loads ** 2).sum(axis=0)))


def effective_servers(instance: Instance, profile: list[np.ndarray], server_of: ArrayLike | None) -> np.ndarray:
    """The server whose link and prices score each MD.

    ``server_of[n]`` when MD n reaches it and offloads something, else its first reachable server (an all-local MD costs
    the same on every link; a wrong association is reported by the checker, ``mecopt.core.checker``).

    Parameters
    ----------
    instance : Instance
        The instance.
    profile : list[numpy.ndarray]
        One strategy (slot vector) per MD.
    server_of : array_like or None
        The server each MD offloads to (-1 = all local); None: all -1.

    Returns
    -------
    numpy.ndarray
        The scoring server of each MD, shape (N,).

    Raises
    ------
    ValueError
        When ``server_of`` does not have one entry per device.
    """
    N = instance.N
    given = np.full(N, -1, dtype=int) if server_of is None else np.asarray(server_of, dtype=int)
    if given.shape != (N,):
        raise ValueError(f"server_of needs one entry per device ({N}), got shape {given.shape}")
    out = np.empty(N, dtype=int)
    for n in range(N):
        reach = instance.reachable(n)
        out[n] = given[n] if given[n] in reach else reach[0]
    return out


def split_profile(instance: Instance, profile: list[np.ndarray], eff: np.ndarray) -> list[list[np.ndarray]]:
    """Per server view: each member's slot vector if it is scored on that server, else all local.

    Parameters
    ----------
    instance : Instance
        The instance.
    profile : list[numpy.ndarray]
        One strategy (slot vector) per MD.
    eff : numpy.ndarray
        The scoring server of each MD (:func:`effective_servers`).

    Returns
    -------
    list[list[numpy.ndarray]]
        Per server view, the strategies of its members in view order.
    """
    out = []
    for v in instance.views:
        out.append([np.asarray(profile[g]) if eff[g] == v.k else np.zeros(len(profile[g]), dtype=int)
                    for g in v.members])
    return out


def all_local(instance: Instance) -> list[np.ndarray]:
    """Case 4: every layer of every MD computed locally.

    Parameters
    ----------
    instance : Instance
        The instance.

    Returns
    -------
    list[numpy.ndarray]
        One all-zero slot vector per MD.
    """
    return [np.zeros(d.M, dtype=int) for d in instance.devices]


def social_cost(instance: Instance, ev: Evaluation) -> float:
    """The social cost GTPOS minimizes with objective ``"social"``.

    sum_n (alpha_n c^T_n T_n + beta_n c^E_n E_n + P_n), the weighted delay (24) and energy (25)
    terms of the cost (19) without the prices gamma_n C^P_n (20)-(23), which are transfers to the
    server and cancel out; P_n is the soft-deadline penalty (0 unless ``deadline_policy = "soft"``).

    Parameters
    ----------
    instance : Instance
        The instance ``ev`` scores (any number of servers).
    ev : Evaluation
        Its profile's figures, from :func:`evaluate`.

    Returns
    -------
    float
        The sum over every MD, in device order.

    Examples
    --------
    >>> from mecopt.core.instance import load_instance
    >>> inst = load_instance("paper:fig6-w1khz")
    >>> ev = evaluate(inst, all_local(inst))
    >>> social_cost(inst, ev) > 0
    True
    """
    penalty = cast(np.ndarray, ev.penalty)   # set by evaluate
    return float(sum(d.alpha * d.c_T * ev.delay[n] + d.beta * d.c_E * ev.energy[n] + penalty[n]
                     for n, d in enumerate(instance.devices)))
