"""The one numpy definition of delay, energy, price, cost and the potential (eqs. 19-25).

A device's *strategy* is an integer vector ``slots`` of length M_n: ``slots[m-1]``
is the h of ``y[n,m,h] = 1`` (0 = local, 1..H = server slot). Constraints (15)
and (16) then read: one entry per layer, non-decreasing. A device served after
the frame (Case 3's queue, docs/MODEL.md §6) has every entry equal to H+1.

Every solver's output is scored here, never by the solver itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mecopt.core.instance import Device, Instance, Server


def queued(slots: np.ndarray, H: int) -> bool:
    """Case 3: the device waits for the next frame (every layer at slot H+1)."""
    return len(slots) > 0 and bool(np.all(slots == H + 1))


def partition_point(slots: np.ndarray) -> int:
    """Eq. (18): m* = sum_m y[n,m,0]."""
    return int(np.count_nonzero(slots == 0))


def blocks(slots: np.ndarray) -> list[tuple[int, int, int]]:
    """Contiguous runs (first layer, last layer, slot) of layers 1..M with equal slot (slot 0 = the local prefix)."""
    out, start = [], 0
    for m in range(1, len(slots) + 1):
        if m == len(slots) or slots[m] != slots[start]:
            out.append((start + 1, m, int(slots[start])))
            start = m
    return out


def own_loads(dev: Device, slots: np.ndarray, H: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-slot price load S_n^h = sum_m y S_{n,m} and server time T_n^h (h = 1..H)."""
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
    """Eq. (25): P_lo x local time (12) + P_up x upload time (13)."""
    if queued(slots, server.H):
        return float(dev.P_up * dev.t_up[0])
    m = partition_point(slots)
    e = dev.P_lo * float(dev.local_cum[m])
    if m < dev.M:
        e += dev.P_up * float(dev.t_up[m])
    return e


def price(own_S: np.ndarray, total_S: np.ndarray, server: Server) -> float:
    """C^P_n = sum_h p_h S_n^h with p_h = a_h + (b_h/h) S_Sigma^h (19); S_Sigma^h includes the MD's own load."""
    p = server.a + server.price_quad * total_S
    return float(p @ own_S)


def weighted_cost(dev: Device, T: float, E: float, P: float) -> float:
    """Eq. (23): alpha c^T T + beta c^E E + gamma C^P."""
    return dev.alpha * dev.c_T * T + dev.beta * dev.c_E * E + dev.gamma * P


def deadline_penalty(dev: Device, T):
    """Soft deadline (26'): P_n = pi_n max(0, T_n - tau_n) in the units of C_n (23), for a delay or an
    array of delays; 0 unless ``deadline_policy = "soft"`` (docs/MODEL.md Part B). It depends only on
    the MD's own strategy, which keeps the game an exact potential game."""
    if not dev.deadline_soft:
        return 0.0
    return dev.deadline_penalty_per_s * np.maximum(0.0, np.asarray(T, dtype=float) - dev.tau)


def penalty_unit(dev: Device, objective: str) -> float:
    """What one unit of a GTPOS objective costs MD n in C_n units ("delay": c^T per second, "energy":
    c^E per joule, "social": 1), so that P_n / penalty_unit is its soft-deadline penalty in that unit."""
    return {"delay": dev.c_T, "energy": dev.c_E}.get(objective, 1.0)


def device_cost(dev: Device, slots: np.ndarray, server: Server, others_S: np.ndarray) -> float:
    """C_n (23) of one strategy against the others' per-slot price load, plus the soft-deadline
    penalty under ``deadline_policy = "soft"`` (what the game minimizes)."""
    T = delay(dev, slots, server)
    if queued(slots, server.H):
        return weighted_cost(dev, T, energy(dev, slots, server), 0.0) + deadline_penalty(dev, T)
    S, _ = own_loads(dev, slots, server.H)
    return weighted_cost(dev, T, energy(dev, slots, server), price(S, others_S + S, server)) + deadline_penalty(dev, T)


@dataclass(frozen=True)
class Evaluation:
    """Every figure of a strategy profile, per device and per slot."""

    delay: np.ndarray          # (N,) T_n
    energy: np.ndarray         # (N,) E_n
    price: np.ndarray          # (N,) C^P_n
    cost: np.ndarray           # (N,) C_n (23), plus the penalty below under the soft deadline policy
    partition: np.ndarray      # (N,) m*
    last_slot: np.ndarray      # (N,) h_max (0 = local, H+1 = queued)
    loads: np.ndarray          # (N, H) S_n^h (several servers: (N, max_k H_k), the slots of the MD's own server)
    times: np.ndarray          # (N, H) T_n^h (idem)
    slot_load: np.ndarray      # (H,) S_Sigma^h (several servers: every server's slots in turn, see slot_server)
    slot_time: np.ndarray      # (H,) T_Sigma^h
    slot_count: np.ndarray     # (H,) number of MDs with a layer in slot h
    potential: float           # Phi of docs/MODEL.md §6 (nan if some gamma_n = 0)
    penalty: np.ndarray | None = None  # (N,) soft-deadline penalty pi_n max(0, T_n - tau_n) (0 unless soft)
    server: np.ndarray | None = None   # (N,) several servers: the server each MD offloads to (-1 = all local)
    slot_server: np.ndarray | None = None  # (sum_k H_k,) several servers: the server of each slot column

    @property
    def avg_delay(self) -> float:
        return float(self.delay.mean())

    @property
    def avg_energy(self) -> float:
        return float(self.energy.mean())

    @property
    def avg_cost(self) -> float:
        return float(self.cost.mean())


def evaluate(instance: Instance, profile: list[np.ndarray], server_of=None) -> Evaluation:
    """Score a strategy profile with the shared model (eqs. 19-25).

    With several servers, ``server_of[n]`` is the server MD n offloads to (-1 = all local;
    docs/multiserver.md) and every figure is computed on that server's link and prices.
    """
    if instance.multi:
        return _evaluate_multi(instance, profile, server_of)
    server, H = instance.server, instance.server.H
    N = instance.N
    loads, times = np.zeros((N, H)), np.zeros((N, H))
    for n, (dev, slots) in enumerate(zip(instance.devices, profile)):
        loads[n], times[n] = own_loads(dev, np.asarray(slots), H)
    slot_load, slot_time = loads.sum(axis=0), times.sum(axis=0)
    count = np.zeros(H, dtype=int)
    for slots in profile:
        s = np.asarray(slots)
        used = np.unique(s[(s >= 1) & (s <= H)])
        count[used - 1] += 1
    T = np.array([delay(d, np.asarray(s), server) for d, s in zip(instance.devices, profile)])
    E = np.array([energy(d, np.asarray(s), server) for d, s in zip(instance.devices, profile)])
    P = np.array([price(loads[n], slot_load, server) for n in range(N)])
    pen = np.array([float(deadline_penalty(d, T[n])) for n, d in enumerate(instance.devices)])
    C = np.array([weighted_cost(d, T[n], E[n], P[n]) for n, d in enumerate(instance.devices)]) + pen
    part = np.array([partition_point(np.asarray(s)) for s in profile])
    last = np.array([int(s[-1]) if partition_point(np.asarray(s)) < len(s) else 0 for s in profile])
    phi = potential(instance, T, E, loads)
    return Evaluation(T, E, P, C, part, last, loads, times, slot_load, slot_time, count, phi, pen)


def potential(instance: Instance, T: np.ndarray, E: np.ndarray, loads: np.ndarray) -> float:
    """Exact potential of the game with costs divided by gamma_n (docs/MODEL.md §6):

    Phi = sum_h [a_h L_h + (b_h/2h)(L_h^2 + sum_n (S_n^h)^2)] + sum_n (alpha c^T T_n + beta c^E E_n + P_n)/gamma_n,

    with P_n the soft-deadline penalty (0 unless ``deadline_policy = "soft"``): it depends only on
    MD n's own strategy, so a unilateral move still changes Phi by the mover's cost change / gamma_n.
    """
    gammas = np.array([d.gamma for d in instance.devices])
    if np.any(gammas <= 0):
        return float("nan")
    slot_part = slot_potential(instance.server, loads)
    own = sum((d.alpha * d.c_T * T[n] + d.beta * d.c_E * E[n] + deadline_penalty(d, T[n])) / d.gamma
              for n, d in enumerate(instance.devices))
    return slot_part + float(own)


def slot_potential(server: Server, loads: np.ndarray) -> float:
    """The slot part of Phi for one server: sum_h [a_h L_h + (b_h/2h)(L_h^2 + sum_n (S_n^h)^2)], loads (N, H)."""
    L = loads.sum(axis=0)
    return float(server.a @ L + (server.price_quad / 2) @ (L ** 2 + (loads ** 2).sum(axis=0)))


def effective_servers(instance: Instance, profile: list[np.ndarray], server_of) -> np.ndarray:
    """The server whose link and prices score each MD: ``server_of[n]`` when MD n reaches it and
    offloads something, else its first reachable server (an all-local MD costs the same on every
    link; a wrong association is reported by the checker, ``mecopt.core.checker``)."""
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
    """Per server view: each member's slot vector if it is scored on that server, else all local."""
    out = []
    for v in instance.views:
        out.append([np.asarray(profile[g]) if eff[g] == v.k else np.zeros(len(profile[g]), dtype=int)
                    for g in v.members])
    return out


def _evaluate_multi(instance: Instance, profile: list[np.ndarray], server_of) -> Evaluation:
    """:func:`evaluate` with several servers: each server view is scored as a single-server instance
    and every MD's figures are read from the view of its server (docs/multiserver.md)."""
    N = instance.N
    if len(profile) != N:
        raise ValueError(f"the profile has {len(profile)} strategies for {N} devices")
    eff = effective_servers(instance, profile, server_of)
    per = [evaluate(v.instance, prof) for v, prof in zip(instance.views, split_profile(instance, profile, eff))]
    offsets = np.concatenate([[0], np.cumsum([v.server.H for v in instance.views])])
    T, E, P, C, pen = (np.zeros(N) for _ in range(5))
    part, last = np.zeros(N, dtype=int), np.zeros(N, dtype=int)
    H_max = max(v.server.H for v in instance.views)
    loads, times = np.zeros((N, H_max)), np.zeros((N, H_max))
    for n in range(N):
        k = eff[n]
        i, ev = instance.views[k].local[n], per[k]
        T[n], E[n], P[n], C[n], pen[n] = ev.delay[i], ev.energy[i], ev.price[i], ev.cost[i], ev.penalty[i]
        part[n], last[n] = ev.partition[i], ev.last_slot[i]
        H = offsets[k + 1] - offsets[k]
        loads[n, :H], times[n, :H] = ev.loads[i], ev.times[i]
    gammas = np.array([d.gamma for d in instance.devices])
    if np.any(gammas <= 0):
        phi = float("nan")
    else:
        slot_part = sum(slot_potential(v.server, ev.loads) for v, ev in zip(instance.views, per))
        phi = slot_part + float(sum((d.alpha * d.c_T * T[n] + d.beta * d.c_E * E[n] + pen[n]) / d.gamma
                                    for n, d in enumerate(instance.devices)))
    offloads = np.array([part[n] < len(profile[n]) for n in range(N)])
    return Evaluation(T, E, P, C, part, last, loads, times, np.concatenate([ev.slot_load for ev in per]),
                      np.concatenate([ev.slot_time for ev in per]), np.concatenate([ev.slot_count for ev in per]),
                      phi, pen, server=np.where(offloads, eff, -1),
                      slot_server=np.repeat(np.arange(instance.K), np.diff(offsets)))


def all_local(instance: Instance) -> list[np.ndarray]:
    """Case 4: every layer of every MD computed locally."""
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
    return float(sum(d.alpha * d.c_T * ev.delay[n] + d.beta * d.c_E * ev.energy[n] + ev.penalty[n]
                     for n, d in enumerate(instance.devices)))
