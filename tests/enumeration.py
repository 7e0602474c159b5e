"""Brute-force enumeration of one device's strategies: the test oracle of the
best-response engines (problem 28) for small M and H.

Every non-decreasing vector over {0..H} of length M is a strategy satisfying
(15)-(16); it is kept when (17) and (27) hold against the others' aggregates and,
unless dropped, (26). There are C(M+H, H) of them (65,780 for AlexNet, H = 5).
"""

from __future__ import annotations

from itertools import combinations_with_replacement

import numpy as np

from mecopt.core import cost as costmod
from mecopt.core.instance import Device, Server
from mecopt.core.problem import Aggregates, BestResponse, enforces_deadline, strategy_feasible, theta, tie_weight


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


# ---------------------------------------------------------------------------- several servers

def assignments(instance, n: int):
    """Every (server, strategy) of MD ``n`` with several servers: all local (server -1) once, then
    every strategy with at least one offloaded layer on every server it reaches (slots of that server)."""
    dev = instance.devices[n]
    yield -1, np.zeros(dev.M, dtype=int)
    for k in instance.reachable(n):
        for s in strategies(dev.M, instance.servers[k].H):
            if s.any():
                yield k, s


def _joint(instance, term, max_profiles: int):
    """Every MD's assignments that the checker accepts alone (the others all local), with their
    objective term, per-column server time, use and price load, and the joint profiles (indices)
    that also meet (17) in mode total and (27) per (server, slot), with the checker's tolerance."""
    from itertools import product

    from mecopt.core.tolerances import CAP_ABS, CAP_TOL

    N = instance.N
    offsets = np.concatenate([[0], np.cumsum([sv.H for sv in instance.servers])])
    G = int(offsets[-1])
    base = costmod.all_local(instance)
    per = []
    for n in range(N):
        rows = []
        for k, s in assignments(instance, n):
            prof = list(base)
            prof[n] = s
            servers = np.full(N, -1)
            servers[n] = k
            if _own_violations(instance, n, prof, servers):
                continue
            ev = costmod.evaluate(instance, prof, servers)
            used, time_, load = np.zeros(G), np.zeros(G), np.zeros(G)
            if k >= 0:
                v = instance.view(k)
                S, t = costmod.own_loads(v.instance.devices[int(v.local[n])], s, instance.servers[k].H)
                time_[offsets[k]:offsets[k + 1]] = t
                load[offsets[k]:offsets[k + 1]] = S
                used[offsets[k]:offsets[k + 1]] = np.isin(np.arange(1, instance.servers[k].H + 1), s)
            rows.append((float(term(n, ev)), time_, used, load, k, s))
        per.append(rows)
    if any(not r for r in per):
        return per, None, None, offsets
    total = int(np.prod([len(r) for r in per]))
    assert total <= max_profiles, f"{total} joint profiles: too many for the oracle"
    idx = np.array(list(product(*[range(len(rows)) for rows in per])))
    cnt = sum(np.array([r[2] for r in per[n]])[idx[:, n]] for n in range(N))
    B = np.repeat([sv.B for sv in instance.servers], np.diff(offsets))
    ok = np.all(cnt <= B, axis=1)
    if instance.servers[0].capacity_mode == "total":
        cap = np.repeat([sv.slot_len for sv in instance.servers], np.diff(offsets))
        tt = sum(np.array([r[1] for r in per[n]])[idx[:, n]] for n in range(N))
        ok &= np.all(tt <= cap + cap * CAP_TOL + CAP_ABS, axis=1)
    return per, idx, ok, offsets


def _pick(instance, per, idx, values, ok):
    from mecopt.core import checker as checkmod

    best = int(np.argmin(np.where(ok, values, np.inf)))
    servers = np.array([per[n][idx[best, n]][4] for n in range(instance.N)])
    profile = [per[n][idx[best, n]][5] for n in range(instance.N)]
    assert checkmod.check_profile(instance, profile, servers) == []
    return float(values[best]), servers, profile


def joint_optimum(instance, term, max_profiles: int = 2_000_000):
    """The least sum of ``term`` over every joint (server_of, profile) the checker accepts, by brute force.

    ``term(n, ev)`` is MD n's share of the objective read from a :class:`mecopt.core.cost.Evaluation`
    (it may depend on MD n's own choice only, as GTPOS's objective does). Each MD's assignments are
    first checked alone (the others all local) with :func:`mecopt.core.checker.check_profile`; what
    one MD's choice cannot break alone — (17) in mode total and (27), per (server, slot) — is then
    summed over every joint profile (numpy), with the checker's own tolerance; the best joint
    profile is re-checked by the checker and re-scored by :func:`mecopt.core.cost.evaluate` as a
    whole. Returns (value, server_of, profile), or (None, None, None) when no joint profile is feasible.
    """
    per, idx, ok, _ = _joint(instance, term, max_profiles)
    if idx is None or not ok.any():
        return None, None, None
    f = sum(np.array([r[0] for r in per[n]])[idx[:, n]] for n in range(instance.N))
    value, servers, profile = _pick(instance, per, idx, f, ok)
    ev = costmod.evaluate(instance, profile, servers)
    assert np.isclose(sum(term(n, ev) for n in range(instance.N)), value, rtol=1e-12, atol=1e-12)
    return value, servers, profile


def joint_min_potential(instance, max_profiles: int = 2_000_000):
    """The least potential Phi (docs/multiserver.md) over every joint profile the checker accepts:
    sum_n own_n / gamma_n + per (server, slot) a L + (b/2h)(L^2 + sum_n S_n^2), by brute force; the
    minimizer's Phi is re-computed by :func:`mecopt.core.cost.evaluate`."""
    def own(n, ev):
        d = instance.devices[n]
        return (d.alpha * d.c_T * ev.delay[n] + d.beta * d.c_E * ev.energy[n] + ev.penalty[n]) / d.gamma

    per, idx, ok, offsets = _joint(instance, own, max_profiles)
    if idx is None or not ok.any():
        return None, None, None
    N = instance.N
    a = np.concatenate([sv.a for sv in instance.servers])
    q = np.concatenate([sv.price_quad for sv in instance.servers])
    loads = [np.array([r[3] for r in per[n]])[idx[:, n]] for n in range(N)]
    L = sum(loads)
    phi = (sum(np.array([r[0] for r in per[n]])[idx[:, n]] for n in range(N))
           + L @ a + (L ** 2 + sum(x ** 2 for x in loads)) @ (q / 2))
    value, servers, profile = _pick(instance, per, idx, phi, ok)
    check = costmod.evaluate(instance, profile, servers).potential
    assert np.isclose(check, value, rtol=1e-9, atol=1e-12), (check, value)
    return float(check), servers, profile


def _own_violations(instance, n: int, profile, servers) -> list:
    """The checker's violations that MD n's own choice causes, the others all local: those naming n,
    and the per-slot ones (an all-local MD uses no slot; its own (26) is not n's doing)."""
    from mecopt.core import checker as checkmod

    name = instance.devices[n].name
    return [v for v in checkmod.check_profile(instance, profile, servers) if v.device in (name, None)]


def joint_feasible(instance, servers, profile) -> bool:
    """What :func:`joint_optimum`'s numpy coupling says of one joint profile (for its self-test)."""
    from mecopt.core.tolerances import CAP_ABS, CAP_TOL

    N = instance.N
    base = costmod.all_local(instance)
    for n in range(N):
        prof = list(base)
        prof[n] = profile[n]
        alone = np.full(N, -1)
        alone[n] = servers[n]
        if _own_violations(instance, n, prof, alone):
            return False
    for k, sv in enumerate(instance.servers):
        cnt, tt = np.zeros(sv.H), np.zeros(sv.H)
        v = instance.view(k)
        for n in range(N):
            if servers[n] == k:
                s = profile[n]
                _, t = costmod.own_loads(v.instance.devices[int(v.local[n])], s, sv.H)
                tt += t
                cnt += np.isin(np.arange(1, sv.H + 1), s)
        if np.any(cnt > sv.B):
            return False
        if sv.capacity_mode == "total" and np.any(tt > sv.slot_len + sv.slot_len * CAP_TOL + CAP_ABS):
            return False
    return True
