"""Independent feasibility check of any assignment, constraint by constraint.

It rebuilds the binary tensor y[n,m,h] of (14) from an assignment and tests
(15), (16), (17), (26) and (27) on the tensor itself, never trusting a solver's
figures. Each violation names its equation, device, slot or layer, the amount by
which it is violated and the tolerance used. Under ``deadline_policy = "soft"`` a
missed deadline is not a violation of (26) but a miss (:func:`deadline_misses`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mecopt.model import cost as costmod
from mecopt.errors import InputError
from mecopt.model.instance import Instance
from mecopt.model.tolerances import CAP_ABS, CAP_TOL, DEADLINE_TOL, deadline_limit, fits_capacity, meets_deadline


@dataclass(frozen=True)
class Violation:
    """One violated constraint, found by the independent checker.

    Attributes
    ----------
    equation : str
        The paper's equation: ``"(15)"``, ``"(16)"``, ``"(17)"``, ``"(26)"`` or ``"(27)"``; with several
        servers also ``"(15s)"``, the association (an MD offloads to one server it reaches).
    device : str or None
        The device's name, when the constraint is per device.
    slot : int or None
        The server slot (1..H), when the constraint is per slot.
    layer : int or None
        The layer (1-based), when the constraint is per layer.
    amount : float
        By how much the constraint is exceeded.
    tolerance : float
        The tolerance allowed (``mecopt.model.tolerances``).
    message : str
        The violation in words.
    server : str or None
        With several servers: the server the violation is on.

    Examples
    --------
    >>> import mecopt
    >>> inst = mecopt.load_instance("paper:fig6-w1khz")
    >>> v = mecopt.check(inst, [[1] * d.M for d in inst.devices])[0]   # every layer in slot 1
    >>> v.equation, v.device, v.slot
    ('(17)', 'md1', 1)
    """

    equation: str          # "(15)", "(16)", "(17)", "(26)", "(27)"
    device: str | None
    slot: int | None
    layer: int | None
    amount: float          # by how much the constraint is exceeded
    tolerance: float
    message: str
    server: str | None = None   # several servers: the server the violation is on

    def as_dict(self) -> dict:
        out = dict(equation=self.equation, device=self.device, slot=self.slot, layer=self.layer,
                   amount=self.amount, tolerance=self.tolerance, message=self.message)
        if self.server is not None:
            out["server"] = self.server
        return out


def assignment_to_y(instance: Instance, table: pd.DataFrame) -> np.ndarray:
    """The tensor y (N x M_max x (H+2)) of an assignment table (device, layer, slot).

    The last slot index H+1 marks a device queued after the frame (Case 3).
    ``device`` may be the device name or its 0-based index; ``layer`` is 1-based.
    """
    missing = {"device", "layer", "slot"} - set(table.columns)
    if missing:
        raise InputError(f"assignment table lacks columns {sorted(missing)}; it needs device, layer, slot")
    H = instance.server.H
    names = {d.name: n for n, d in enumerate(instance.devices)}
    Y = np.zeros((instance.N, instance.M_max, H + 2), dtype=int)
    problems = []
    for i, row in enumerate(table.itertuples(index=False)):
        dev = row.device
        n = names.get(str(dev))
        if n is None:
            try:
                n = int(dev)
            except (TypeError, ValueError):
                n = -1
            if not 0 <= n < instance.N or str(dev) not in (str(n),):
                problems.append((f"row {i + 1}.device", f"unknown device {dev!r}"))
                continue
        try:
            m, h = plain_integer(row.layer), plain_integer(row.slot)
        except (TypeError, ValueError):
            problems.append((f"row {i + 1}", f"layer and slot must be integers, got {row.layer!r}, {row.slot!r}"))
            continue
        M = instance.devices[n].M
        if not 1 <= m <= M:
            problems.append((f"row {i + 1}.layer", f"device {instance.devices[n].name} has layers 1..{M}, got {m}"))
            continue
        if not 0 <= h <= H + 1:
            problems.append((f"row {i + 1}.slot", f"slot must be 0 (local), 1..{H}, or {H + 1} (queued), got {h}"))
            continue
        Y[n, m - 1, h] += 1
    if problems:
        raise InputError("invalid assignment table", problems)
    return Y


_PLAIN_INT = re.compile(r"[+-]?[0-9]+")


def plain_integer(value) -> int:
    """An integer-valued cell (1, 1.0, "1") as int; ValueError for 1.5, nan, "x", True, and for
    strings that are not plain decimal integers ("1_0", "0x1", "١", "1e0", "1.0": Python's int() takes some)."""
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, str):
        if not _PLAIN_INT.fullmatch(value.strip()):
            raise ValueError(value)
        return int(value.strip())
    if isinstance(value, (float, np.floating)):
        f = float(value)
        if not (math.isfinite(f) and f.is_integer()):
            raise ValueError(value)
        return int(f)
    raise TypeError(value)


def profile_from_y(instance: Instance, Y: np.ndarray) -> list[np.ndarray]:
    """A strategy per device, reading each layer's slot (the smallest marked one)."""
    out = []
    for n, d in enumerate(instance.devices):
        rows = Y[n, :d.M]
        out.append(np.where(rows.any(axis=1), rows.argmax(axis=1), 0).astype(int))
    return out


def slot_server_times(instance: Instance, Y: np.ndarray) -> np.ndarray:
    """T[n, h-1]: device n's server time in slot h = sum_m y[n,m,h] T^se_{n,m}, as (17) sees it
    (a layer marked twice counts twice)."""
    H = instance.server.H
    return np.array([[float(Y[n, :d.M, h] @ d.t_server[1:]) for h in range(1, H + 1)]
                     for n, d in enumerate(instance.devices)]).reshape(instance.N, H)


def capacity_rule(instance: Instance) -> str:
    """In words: what (17) caps in this instance's capacity mode (docs/MODEL.md §4)."""
    s = instance.server
    if s.capacity_mode == "per_device":
        return (f"capacity mode per_device: (17) caps each device's own server time in a slot at T_d/H = "
                f"{s.slot_len:.6g} s (column busiest_device_s is checked against capacity_s); the slot total "
                f"server_time_s may reach B x T_d/H = {s.B * s.slot_len:.6g} s with B = {s.B} devices")
    return (f"capacity mode total: (17) caps the slot total server_time_s at T_d/H = {s.slot_len:.6g} s, "
            f"shared by every device in the slot")


def _finite(x) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def assignment_report(instance: Instance, table: pd.DataFrame) -> dict:
    """Everything ``mecopt check`` reports about an assignment table, as plain data.

    Returns ``dict(summary=, devices=, violations=, slots=, violation_list=)``. Every figure is
    recomputed from the tensor y by :mod:`mecopt.model.cost`; a device whose strategy is
    malformed ((15) or (16) violated) gets no delay, energy or cost, and the averages cover the
    well-formed devices only (the potential only when all are). Its layers still count in (17)
    and (27) as the tensor holds them. Each slot row says which capacity (17) applies in the
    instance's mode (``capacity_applies_to``) and the figure checked against it (``checked_s``).
    """
    Y = assignment_to_y(instance, table)
    violations = check_y(instance, Y)
    server, H = instance.server, instance.server.H
    profile = profile_from_y(instance, Y)
    malformed = {v.device for v in violations if v.equation in ("(15)", "(16)") and v.device is not None}
    queued = []
    for n, d in enumerate(instance.devices):
        rows = Y[n, :d.M]
        q = bool(rows[:, H + 1].all()) and int(rows.sum()) == d.M
        queued.append(q)
        if q:
            profile[n] = np.full(d.M, H + 1, dtype=int)
    ev = costmod.evaluate(instance, profile)
    present = Y[:, :, 1:H + 1].any(axis=1).sum(axis=0)
    T_nh = slot_server_times(instance, Y)
    by_dev: dict[str, list[str]] = {}
    for v in violations:
        if v.device is not None:
            by_dev.setdefault(v.device, []).append(v.equation)
    rows = []
    ok = np.ones(instance.N, dtype=bool)
    for n, d in enumerate(instance.devices):
        good = d.name not in malformed
        ok[n] = good
        T = ev.delay[n] if good else math.nan
        rows.append(dict(
            device=d.name, dnn=d.dnn, well_formed=good, queued=queued[n],
            partition_point=int(ev.partition[n]) if good else None,
            last_slot=int(ev.last_slot[n]) if good else None,
            delay_s=_finite(T), energy_j=_finite(ev.energy[n]) if good else None,
            price=_finite(ev.price[n]) if good else None,
            cost=_finite(ev.cost[n]) if good else None, deadline_s=d.tau, deadline_relaxed=d.deadline_relaxed,
            deadline_met=bool(meets_deadline(T, d.tau, DEADLINE_TOL)) if good else None,
            deadline_miss_s=max(0.0, float(T - d.tau)) if good else None,
            server_time_s=float(T_nh[n].sum()),
            violations=";".join(sorted(set(by_dev.get(d.name, [])))),
        ))
    devices = pd.DataFrame(rows).astype({"partition_point": "Int64", "last_slot": "Int64", "deadline_met": "boolean"})
    per_device = server.capacity_mode == "per_device"
    total = T_nh.sum(axis=0)
    busiest = T_nh.argmax(axis=0) if instance.N else np.zeros(H, dtype=int)
    busiest_s = T_nh.max(axis=0) if instance.N else np.zeros(H)
    checked = busiest_s if per_device else total
    cap = np.full(H, server.slot_len)
    slots = pd.DataFrame(dict(
        slot=np.arange(1, H + 1), server_time_s=total,
        busiest_device=[instance.devices[int(b)].name if t > 0 else "-" for b, t in zip(busiest, busiest_s)],
        busiest_device_s=busiest_s, capacity_s=cap,
        capacity_applies_to="each device" if per_device else "slot total",
        checked_s=checked, capacity_ok=fits_capacity(checked, cap),
        price_load=ev.slot_load, unit_price=server.a + server.price_quad * ev.slot_load,
        devices=present, parallel_limit=np.full(H, server.B)))
    n_ok = int(ok.sum())
    counts: dict[str, int] = {}
    for v in violations:
        counts[v.equation] = counts.get(v.equation, 0) + 1
    summary = dict(
        instance=instance.name, devices=instance.N, well_formed_devices=n_ok,
        malformed_devices=[d.name for n, d in enumerate(instance.devices) if not ok[n]],
        feasible=not violations, violations=len(violations), violations_by_equation=dict(sorted(counts.items())),
        avg_delay_s=_finite(ev.delay[ok].mean()) if n_ok else None,
        avg_energy_j=_finite(ev.energy[ok].mean()) if n_ok else None,
        avg_price=_finite(ev.price[ok].mean()) if n_ok else None,
        avg_cost=_finite(ev.cost[ok].mean()) if n_ok else None,
        averages_over="all devices" if n_ok == instance.N else f"the {n_ok} well-formed devices",
        potential=_finite(ev.potential) if n_ok == instance.N else None,
        capacity_mode=server.capacity_mode, capacity_rule=capacity_rule(instance),
        deadline_policy=instance.deadline_policy,
        deadline_misses=int(sum(1 for r in rows if r["deadline_met"] is False)),
    )
    vframe = violations_frame(violations).astype({"slot": "Int64", "layer": "Int64"})
    return dict(summary=summary, devices=devices, violations=vframe, slots=slots,
                violation_list=[v.as_dict() for v in violations])


def check_y(instance: Instance, Y: np.ndarray) -> list[Violation]:
    """Every violated constraint of (15), (16), (17), (26), (27) for tensor Y."""
    server, H = instance.server, instance.server.H
    out: list[Violation] = []
    queued = np.zeros(instance.N, dtype=bool)
    for n, d in enumerate(instance.devices):
        rows = Y[n, :d.M]
        q = rows[:, H + 1]
        if q.any() and not q.all():
            out.append(Violation("(15)", d.name, H + 1, None, float(q.sum()), 0.0,
                                 f"{d.name}: {int(q.sum())} of {d.M} layers queued after the frame; a queued device queues all its layers"))
        queued[n] = bool(q.all()) and rows.sum() == d.M
        # (15): sum_h y[n,m,h] = 1
        for m, total in enumerate(rows.sum(axis=1), start=1):
            if total != 1:
                out.append(Violation("(15)", d.name, None, m, float(abs(total - 1)), 0.0,
                                     f"{d.name} layer {m} ({d.layer_names[m - 1]}) is assigned {total} times"))
        # (16): h <= h' whenever m <= m'; by transitivity it suffices to compare each
        # assigned layer with the previous assigned one (so one misplaced layer is one row)
        prev_max, prev_layer = None, None
        for m, hs in enumerate((np.flatnonzero(r) for r in rows), start=1):
            if len(hs) == 0:
                continue
            if prev_max is not None and hs.min() < prev_max:
                out.append(Violation("(16)", d.name, int(hs.min()), m, float(prev_max - hs.min()), 0.0,
                                     f"{d.name} layer {m} runs in slot {hs.min()} after layer {prev_layer} in slot {prev_max}"))
            prev_max, prev_layer = int(hs.max()), m
    # (17) capacity and (27) parallel limit, on slots 1..H of the tensor
    T_nh = slot_server_times(instance, Y)
    cap = server.slot_len
    tol = cap * CAP_TOL + CAP_ABS
    if server.capacity_mode == "per_device":
        for n, d in enumerate(instance.devices):
            for h in range(H):
                if T_nh[n, h] > cap + tol:
                    out.append(Violation("(17)", d.name, h + 1, None, T_nh[n, h] - cap, tol,
                                         f"{d.name} uses {T_nh[n, h]:.6g} s of server time in slot {h + 1}; each MD may use T_d/H = {cap:.6g} s"))
    else:
        for h in range(H):
            total = T_nh[:, h].sum()
            if total > cap + tol:
                out.append(Violation("(17)", None, h + 1, None, total - cap, tol,
                                     f"slot {h + 1} holds {total:.6g} s of server time; capacity T_d/H = {cap:.6g} s"))
    present = Y[:, :, 1:H + 1].any(axis=1)
    for h in range(H):
        k = int(present[:, h].sum())
        if k > server.B:
            out.append(Violation("(27)", None, h + 1, None, float(k - server.B), 0.0,
                                 f"slot {h + 1} holds {k} MDs; the parallel limit B is {server.B}"))
    # (26): T_n <= tau_n, on devices whose strategy is well formed
    structural = {v.device for v in out if v.equation in ("(15)", "(16)")}
    profile = profile_from_y(instance, Y)
    for n, d in enumerate(instance.devices):
        if d.name in structural or d.deadline_relaxed or d.deadline_soft:
            continue
        slots = np.full(d.M, H + 1) if queued[n] else profile[n]
        T = costmod.delay(d, slots, server)
        if T > deadline_limit(d.tau, DEADLINE_TOL):
            out.append(Violation("(26)", d.name, None, None, T - d.tau, d.tau * DEADLINE_TOL,
                                 f"{d.name} finishes in {T:.6g} s, over its deadline tau = {d.tau:g} s"))
    return out


def deadline_misses(instance: Instance, profile: list[np.ndarray]) -> dict[str, float]:
    """{device name: seconds over tau_n} of every MD whose T_n (24) misses (26) by more than the
    checker's tolerance (the soft policy lists these instead of reporting violations)."""
    out = {}
    for d, s in zip(instance.devices, profile):
        T = costmod.delay(d, np.asarray(s), instance.server)
        if T > deadline_limit(d.tau, DEADLINE_TOL):
            out[d.name] = float(T - d.tau)
    return out


def check_profile(instance: Instance, profile: list[np.ndarray], server_of=None) -> list[Violation]:
    """``check_y`` of a strategy profile (slot vectors); with several servers, ``server_of[n]`` is the
    server MD n offloads to (-1 = all local) and :func:`check_multi` checks every server."""
    if instance.multi:
        return check_multi(instance, profile, server_of)
    H = instance.server.H
    Y = np.zeros((instance.N, instance.M_max, H + 2), dtype=int)
    for n, slots in enumerate(profile):
        s = np.asarray(slots)
        if len(s) != instance.devices[n].M:
            raise InputError(f"device {instance.devices[n].name}: strategy has {len(s)} layers, expected {instance.devices[n].M}")
        Y[n, np.arange(len(s)), s] = 1
    return check_y(instance, Y)


#: the association constraint of several servers: an MD offloads to at most one server, one it reaches
ASSOCIATION = "(15s)"


def check_multi(instance: Instance, profile: list[np.ndarray], server_of) -> list[Violation]:
    """Several servers: the association (15s) (every offloaded layer on ``server_of[n]``, a server
    MD n reaches), then (15)-(17), (26), (27) on each server's view; every per-server violation
    names its server in ``server`` and its message (docs/multiserver.md)."""
    from dataclasses import replace

    N = instance.N
    if len(profile) != N:
        raise InputError(f"the profile has {len(profile)} strategies for {N} devices")
    given = np.full(N, -1, dtype=int) if server_of is None else np.asarray(server_of, dtype=int)
    out: list[Violation] = []
    for n, d in enumerate(instance.devices):
        s = np.asarray(profile[n])
        if len(s) != d.M:
            raise InputError(f"device {d.name}: strategy has {len(s)} layers, expected {d.M}")
        offloads = bool(np.any(s != 0))
        k = int(given[n])
        names = [instance.servers[r].name for r in instance.reachable(n)]
        if offloads and k == -1:
            out.append(Violation(ASSOCIATION, d.name, None, None, 1.0, 0.0,
                                 f"{d.name} offloads layers but is associated with no server"))
        elif k != -1 and not 0 <= k < instance.K:
            out.append(Violation(ASSOCIATION, d.name, None, None, 1.0, 0.0,
                                 f"{d.name} is associated with server index {k}; the instance has {instance.K}"))
        elif k != -1 and k not in instance.reachable(n):
            out.append(Violation(ASSOCIATION, d.name, None, None, 1.0, 0.0, f"{d.name} offloads to server "
                                 f"{instance.servers[k].name}, which it cannot reach (it reaches {names})",
                                 server=instance.servers[k].name))
    eff = costmod.effective_servers(instance, profile, given)
    for v, prof in zip(instance.views, costmod.split_profile(instance, profile, eff)):
        name = v.server.name
        # an MD scored on another server is all local in this view: its deadline (26) is checked on its
        # own server only (else an MD that meets tau only by offloading elsewhere would miss it here)
        if not len(v.members):   # a server no device reaches
            continue
        elsewhere = {v.instance.devices[i].name for i, g in enumerate(v.members) if eff[g] != v.k}
        for viol in check_profile(v.instance, prof):
            if viol.equation == "(26)" and viol.device in elsewhere:
                continue
            out.append(replace(viol, server=name, message=f"server {name}: {viol.message}"))
    return out


def violations_frame(violations: list[Violation]) -> pd.DataFrame:
    cols = ["equation", "device", "slot", "layer", "amount", "tolerance", "message"]
    return pd.DataFrame([v.as_dict() for v in violations], columns=cols)
