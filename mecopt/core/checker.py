"""Independent feasibility check of any assignment, constraint by constraint.

It rebuilds the binary tensor y[n,m,k,h] of (14) (k the server; K = 1 for one server) from an assignment and tests the
association (15s) (several servers), then (15), (16), (17), (26) and (27) on each server's view of the tensor, never
trusting a solver's figures. One code path serves one server and several. Each violation names its equation, device,
slot or layer, the amount by which it is violated and the tolerance used. Under ``deadline_policy = "soft"`` a missed
deadline is not a violation of (26) but a miss (:func:`deadline_misses`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, SupportsFloat, cast

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from mecopt.core import cost as costmod
from mecopt.core.errors import InputError
from mecopt.core.instance import Device, Instance
from mecopt.core.tolerances import CAP_ABS, CAP_TOL, DEADLINE_TOL, deadline_limit, fits_capacity, meets_deadline


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
        The tolerance allowed (``mecopt.core.tolerances``).
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

    def as_dict(self) -> dict[str, Any]:
        """The violation as a plain dict (``server`` only when the instance has several servers).

        Returns
        -------
        dict[str, Any]
            equation, device, slot, layer, amount, tolerance, message (and server).
        """
        out = dict(equation=self.equation, device=self.device, slot=self.slot, layer=self.layer,
                   amount=self.amount, tolerance=self.tolerance, message=self.message)
        if self.server is not None:
            out["server"] = self.server
        return out


#: the value of the ``server`` column of a local layer (slot 0): empty, as no server may be named ""
LOCAL_SERVER = ""


def _empty_cell(value: Any) -> bool:
    """A missing ``server`` cell: None, NaN, pd.NA or a blank string."""
    if value is None or value is pd.NA:
        return True
    if isinstance(value, (float, np.floating)) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def _device_of(instance: Instance, names: dict[str, int], dev: Any) -> int | None:
    """The 0-based index of the ``device`` cell (a name, else a 0-based index), None when unknown."""
    n = names.get(str(dev))
    if n is None:
        try:
            n = int(dev)
        except (TypeError, ValueError):
            return None
        if not 0 <= n < instance.N or str(dev) not in (str(n),):
            return None
    return n


def _server_of_cell(instance: Instance, value: Any) -> int | None:
    """The server index of a ``server`` cell: a server name, else a 0-based index; None when unknown."""
    names = [s.name for s in instance.servers]
    if str(value) in names:
        return names.index(str(value))
    try:
        k = plain_integer(value)
    except (TypeError, ValueError):
        return None
    return k if 0 <= k < instance.K else None


def assignment_to_y(instance: Instance, table: pd.DataFrame) -> np.ndarray:
    """The tensor y[n, m, k, h] (N x M_max x K x (max_k H_k + 2)) of an assignment table, eq. (14).

    Columns ``device`` (the name, or its 0-based index), ``layer`` (1-based) and ``slot``. A row
    with slot h >= 1 runs layer m in slot h of server k (1..H_k, or H_k + 1 = queued after k's
    frame, Case 3). Local layers (slot 0) run on no server and are recorded at y[n, m, 0, 0];
    y[n, m, k, 0] stays 0 for k >= 1. A ``server`` cell, when given, names a server of the
    instance (or its 0-based index), with one server as with several. With several servers
    (docs/multiserver.md) the ``server`` cell of an offloaded row must name its server; with one
    server (K = 1) an offloaded row may leave it empty (the table needs no ``server`` column).
    A local row's cell is ignored when empty (as :meth:`mecopt.Solution.assignment_frame` writes
    it).

    Parameters
    ----------
    instance : Instance
        The instance the table assigns.
    table : pandas.DataFrame
        The assignment table.

    Returns
    -------
    numpy.ndarray
        The integer tensor y; a layer marked twice counts twice.

    Raises
    ------
    InputError
        Naming each bad row: a column missing, an unknown device or server, a layer or slot out
        of range, or (several servers) an offloaded row that names no server. A device with
        layers on two servers, or on a server it cannot reach, is not an input error: the
        checker reports it as a violation of the association (15s).

    Examples
    --------
    >>> import mecopt, pandas as pd
    >>> from mecopt.core import checker
    >>> inst = mecopt.load_instance("paper:fig6-w1khz")
    >>> table = pd.DataFrame({"device": ["md1"], "layer": [1], "slot": [2]})
    >>> checker.assignment_to_y(inst, table).shape, inst.M_max
    ((5, 21, 1, 7), 21)
    """
    missing = {"device", "layer", "slot"} - set(table.columns)
    if missing:
        raise InputError(f"assignment table lacks columns {sorted(missing)}; it needs device, layer, slot")
    K = instance.K
    Hs = [s.H for s in instance.servers]
    server_names = [s.name for s in instance.servers]
    Y = np.zeros((instance.N, instance.M_max, K, max(Hs) + 2), dtype=int)
    # a server cell that is given must name a server of the instance, with one server as with several; one server: an
    # offloaded layer that names none is on it
    has_server = "server" in table.columns
    if K > 1 and not has_server:
        offloaded = [i for i, v in enumerate(table["slot"].tolist()) if _nonzero_slot(v)]
        if offloaded:
            raise InputError(
                f"assignment table lacks a server column: with several servers ({', '.join(server_names)}) every "
                f"offloaded layer (slot >= 1) names the server it runs on (row {offloaded[0] + 1} has slot "
                f"{table['slot'].iloc[offloaded[0]]!r}); local layers (slot 0) need none")
    problems: list[tuple[str, str]] = []
    for i, row, n, m, h in _table_rows(instance, table, problems):
        k = 0 if K == 1 else None
        cell = row.server if has_server else None
        if has_server and not _empty_cell(cell):
            k = _server_of_cell(instance, cell)
            if k is None:
                problems.append((f"row {i + 1}.server", f"unknown server {cell!r}; the instance's servers are "
                                 f"{server_names}"))
                continue
        if h == 0:
            Y[n, m - 1, 0, 0] += 1
            continue
        if k is None:
            problems.append((f"row {i + 1}.server", f"layer {m} of {instance.devices[n].name} is offloaded (slot {h}) "
                             f"but names no server; the instance's servers are {server_names}"))
            continue
        if not 1 <= h <= Hs[k] + 1:
            on, after = (f" on server {server_names[k]}", " after its frame") if K > 1 else ("", "")
            problems.append((f"row {i + 1}.slot", f"slot must be 0 (local), 1..{Hs[k]}{on}, or {Hs[k] + 1} "
                             f"(queued{after}), got {h}"))
            continue
        Y[n, m - 1, k, h] += 1
    if problems:
        raise InputError("invalid assignment table", problems)
    return Y


def _table_rows(instance: Instance, table: pd.DataFrame,
                problems: list[tuple[str, str]]) -> Iterator[tuple[int, Any, int, int, int]]:
    """Each row of an assignment table as (row index, row, device index, layer, slot).

    A row whose device, layer or slot cannot be read is added to ``problems`` (naming the row) and skipped.
    """
    names = {d.name: n for n, d in enumerate(instance.devices)}
    for i, row in enumerate(table.itertuples(index=False)):
        dev = row.device
        n = _device_of(instance, names, dev)
        if n is None:
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
        yield i, row, n, m, h


def _nonzero_slot(value: Any) -> bool:
    try:
        return plain_integer(value) != 0
    except (TypeError, ValueError):
        return True


_PLAIN_INT = re.compile(r"[+-]?[0-9]+")


def plain_integer(value: Any) -> int:
    """An integer-valued cell (1, 1.0, "1") as int.

    ValueError for 1.5, nan, "x", True, and for strings that are not plain decimal integers ("1_0", "0x1", "١", "1e0",
    "1.0": Python's int() takes some).

    Parameters
    ----------
    value : object
        A table cell.

    Returns
    -------
    int
        The cell's integer value.

    Raises
    ------
    TypeError
        For a cell of no numeric or text type.
    ValueError
        For a cell that is not a plain integer (see above).
    """
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
    """A strategy per device from tensor y[n, m, k, h].

    Each layer's slot (the smallest marked one) on the device's server (:func:`server_of_from_y`); layers on any other
    server read as local.

    Parameters
    ----------
    instance : Instance
        The instance.
    Y : numpy.ndarray
        The tensor of :func:`assignment_to_y`.

    Returns
    -------
    list of numpy.ndarray
        One slot vector per device (0 = local, 1..H_k, H_k + 1 = queued).
    """
    server_of = server_of_from_y(instance, Y)
    out = []
    for n, d in enumerate(instance.devices):
        k = int(server_of[n])
        if k < 0:
            out.append(np.zeros(d.M, dtype=int))
            continue
        rows = Y[n, :d.M, k].copy()
        rows[:, 0] = Y[n, :d.M, 0, 0]
        out.append(np.where(rows.any(axis=1), rows.argmax(axis=1), 0).astype(int))
    return out


def servers_used(instance: Instance, Y: np.ndarray) -> list[list[int]]:
    """Per device, the servers that hold at least one of its layers in tensor Y (y[n, m, k, h >= 1]).

    Parameters
    ----------
    instance : Instance
        The instance.
    Y : numpy.ndarray
        The binary assignment tensor y[n, m, k, h] (14).

    Returns
    -------
    list[list[int]]
        Per device, the indices of the servers holding its offloaded layers.
    """
    return [[k for k in range(Y.shape[2]) if Y[n, :d.M, k, 1:].any()] for n, d in enumerate(instance.devices)]


def server_of_from_y(instance: Instance, Y: np.ndarray) -> np.ndarray:
    """The server of each device in tensor Y (-1 = all local).

    A device with layers on several servers (a (15s) violation) gets the first of them that it
    reaches (else the first of them).

    Parameters
    ----------
    instance : Instance
        The instance.
    Y : numpy.ndarray
        The tensor of :func:`assignment_to_y`.

    Returns
    -------
    numpy.ndarray
        (N,) server indices into ``instance.servers``, -1 for a device with no offloaded layer.
    """
    out = np.full(instance.N, -1, dtype=int)
    for n, used in enumerate(servers_used(instance, Y)):
        if used:
            reach = instance.reachable(n)
            out[n] = next((k for k in used if k in reach), used[0])
    return out


def slot_server_times(instance: Instance, Y: np.ndarray) -> np.ndarray:
    """T[n, h-1]: device n's server time in slot h = sum_m y[n,m,h] T^se_{n,m}.

    As (17) sees it (a layer marked twice counts twice), for one server: ``instance`` a single-server instance (a server
    view) and Y its tensor y[n, m, h] (N x M_max x (H+2)).

    Parameters
    ----------
    instance : Instance
        A single-server instance (a server view).
    Y : numpy.ndarray
        Its tensor y[n, m, h].

    Returns
    -------
    numpy.ndarray
        T[n, h-1], shape (N, H).
    """
    H = instance.server.H
    return np.array([[float(Y[n, :d.M, h] @ d.t_server[1:]) for h in range(1, H + 1)]
                     for n, d in enumerate(instance.devices)]).reshape(instance.N, H)


def capacity_rule(instance: Instance) -> str:
    """In words: what (17) caps on a single-server instance (a server view) in its capacity mode (docs/MODEL.md §4).

    Parameters
    ----------
    instance : Instance
        A single-server instance (a server view).

    Returns
    -------
    str
        The rule in words.
    """
    s = instance.server
    if s.capacity_mode == "per_device":
        return (f"capacity mode per_device: (17) caps each device's own server time in a slot at T_d/H = "
                f"{s.slot_len:.6g} s (column busiest_device_s is checked against capacity_s); the slot total "
                f"server_time_s may reach B x T_d/H = {s.B * s.slot_len:.6g} s with B = {s.B} devices")
    return (f"capacity mode total: (17) caps the slot total server_time_s at T_d/H = {s.slot_len:.6g} s, "
            f"shared by every device in the slot")


def _finite(x: SupportsFloat | str) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def assignment_report(instance: Instance, table: pd.DataFrame) -> dict[str, Any]:
    """Everything ``mecopt check`` reports about an assignment table, as plain data.

    Every figure is recomputed from the tensor y (:func:`assignment_to_y`) by
    :mod:`mecopt.core.cost`; a device whose strategy is malformed ((15), (16) or the
    association (15s) violated) gets no delay, energy or cost, and the averages cover the
    well-formed devices only (the potential only when all are). Its layers still count in (17)
    and (27) as the tensor holds them. Each slot row says which capacity (17) applies in the
    instance's mode (``capacity_applies_to``) and the figure checked against it (``checked_s``).

    With several servers the devices table gains ``server`` (the server its offloaded layers
    name, several joined by ``;``, empty when all local), the slots table has one row per server
    and slot with ``server`` first, the summary gains ``servers`` (per server: devices offloading
    there, violations on it) and ``capacity_rule`` names each server's capacity.

    Parameters
    ----------
    instance : Instance
        The instance.
    table : pandas.DataFrame
        The assignment table (``device``, ``layer``, ``slot``; ``server`` with several servers).

    Returns
    -------
    dict
        ``summary`` (dict), ``devices``, ``violations`` and ``slots`` (DataFrames) and
        ``violation_list`` (the violations as dicts).

    Raises
    ------
    InputError
        When the table cannot be read as an assignment (:func:`assignment_to_y`).
    """
    K = instance.K
    Y = assignment_to_y(instance, table)
    split = _split(instance, Y)
    violations = _split_violations(instance, split)
    names = [s.name for s in instance.servers]
    profile = profile_from_y(instance, Y)
    server_of = split.server_of.copy()
    for n in range(instance.N):   # a server it cannot reach: scored all local (its figures are not shown)
        if server_of[n] >= 0 and server_of[n] not in instance.reachable(n):
            profile[n], server_of[n] = np.zeros(instance.devices[n].M, dtype=int), -1
    malformed = {v.device for v in violations
                 if v.equation in ("(15)", "(16)", ASSOCIATION) and v.device is not None}
    ev = costmod.evaluate(instance, profile, server_of)
    by_dev: dict[str, list[str]] = {}
    for v in violations:
        if v.device is not None:
            by_dev.setdefault(v.device, []).append(v.equation)
    ok = np.array([d.name not in malformed for d in instance.devices], dtype=bool)
    rows = []
    for n, d in enumerate(instance.devices):
        used = split.used[n]
        queued = (bool(used) and int(Y[n, :d.M].sum()) == d.M
                  and all(bool(Y[n, :d.M, k, instance.servers[k].H + 1].all()) for k in used))
        server_time = _server_time(instance, Y, n, used)
        where = dict(server=";".join(names[k] for k in used)) if K > 1 else {}
        rows.append(_device_row(d, n, ok[n], ev, by_dev, queued=queued, server_time_s=server_time, **where))
    devices = pd.DataFrame(rows).astype({"partition_point": "Int64", "last_slot": "Int64", "deadline_met": "boolean"})
    frames = []
    for view, Yk in zip(instance.views, split.views):
        H = view.server.H
        frame = _slot_frame(view.instance, slot_server_times(view.instance, Yk),
                            Yk[:, :, 1:H + 1].any(axis=1).sum(axis=0), ev.slot_load[ev.slot_server == view.k])
        if K > 1:
            frame.insert(0, "server", view.server.name)
        frames.append(frame)
    slots = pd.concat(frames, ignore_index=True) if K > 1 else frames[0]
    rule = ("; ".join(f"server {v.server.name}: {capacity_rule(v.instance)}" for v in instance.views) if K > 1
            else capacity_rule(instance.view(0).instance))
    summary = _report_summary(instance, ok, violations, ev, rows, rule)
    if K > 1:
        summary["servers"] = [dict(server=name, devices=int(sum(1 for u in split.used if k in u)),
                                   violations=int(sum(1 for v in violations if v.server == name)))
                              for k, name in enumerate(names)]
    vframe = violations_frame(violations, servers=K > 1).astype({"slot": "Int64", "layer": "Int64"})
    return dict(summary=summary, devices=devices, violations=vframe, slots=slots,
                violation_list=[v.as_dict() for v in violations])


def _server_time(instance: Instance, Y: np.ndarray, n: int, used: list[int]) -> float:
    """Device n's server time over every slot of the servers ``used`` holding its layers.

    The summation order is the one each report had before one- and several-server reports
    merged (per slot, then over the slots, with one server; per layer with several), so that no
    reported figure moves in its last bit; the two differ only by rounding.
    """
    d = instance.devices[n]
    if instance.K == 1:
        H = instance.servers[0].H
        return float(np.array([float(Y[n, :d.M, 0, h] @ d.t_server[1:]) for h in range(1, H + 1)]).sum())
    return sum(float(Y[n, :d.M, k, 1:instance.servers[k].H + 1].sum(axis=1) @ d.t_server[1:]) for k in used)


def _device_row(d: Device, n: int, good: bool, ev: costmod.Evaluation, by_dev: dict[str, list[str]], *,
                queued: bool, server_time_s: float, **server: str) -> dict[str, Any]:
    """One row of the report's devices table (``server`` after ``dnn`` with several servers)."""
    T = ev.delay[n] if good else math.nan
    return dict(
        device=d.name, dnn=d.dnn, **server, well_formed=bool(good), queued=queued,
        partition_point=int(ev.partition[n]) if good else None,
        last_slot=int(ev.last_slot[n]) if good else None,
        delay_s=_finite(T), energy_j=_finite(ev.energy[n]) if good else None,
        price=_finite(ev.price[n]) if good else None,
        cost=_finite(ev.cost[n]) if good else None, deadline_s=d.tau, deadline_relaxed=d.deadline_relaxed,
        deadline_met=bool(meets_deadline(T, d.tau, DEADLINE_TOL)) if good else None,
        deadline_miss_s=max(0.0, float(T - d.tau)) if good else None,
        server_time_s=server_time_s,
        violations=";".join(sorted(set(by_dev.get(d.name, [])))),
    )


def _slot_frame(instance: Instance, T_nh: np.ndarray, present: np.ndarray, load: np.ndarray) -> pd.DataFrame:
    """The report's slots table of one server.

    Server time, the busiest device, which capacity (17) applies and the figure checked, price load and unit price (19),
    MDs present against B (27).
    """
    server, H = instance.server, instance.server.H
    per_device = server.capacity_mode == "per_device"
    total = T_nh.sum(axis=0)
    busiest = T_nh.argmax(axis=0) if instance.N else np.zeros(H, dtype=int)
    busiest_s = T_nh.max(axis=0) if instance.N else np.zeros(H)
    checked = busiest_s if per_device else total
    cap = np.full(H, server.slot_len)
    return pd.DataFrame(dict(
        slot=np.arange(1, H + 1), server_time_s=total,
        busiest_device=[instance.devices[int(b)].name if t > 0 else "-" for b, t in zip(busiest, busiest_s)],
        busiest_device_s=busiest_s, capacity_s=cap,
        capacity_applies_to="each device" if per_device else "slot total",
        checked_s=checked, capacity_ok=fits_capacity(checked, cap),
        price_load=load, unit_price=server.a + server.price_quad * load,
        devices=present, parallel_limit=np.full(H, server.B)))


def _report_summary(instance: Instance, ok: np.ndarray, violations: list[Violation], ev: costmod.Evaluation,
                    rows: list[dict[str, Any]], rule: str) -> dict[str, Any]:
    """The report's summary: counts, averages over the well-formed devices, capacity rule, deadlines."""
    n_ok = int(ok.sum())
    counts: dict[str, int] = {}
    for v in violations:
        counts[v.equation] = counts.get(v.equation, 0) + 1
    return dict(
        instance=instance.name, devices=instance.N, well_formed_devices=n_ok,
        malformed_devices=[d.name for n, d in enumerate(instance.devices) if not ok[n]],
        feasible=not violations, violations=len(violations), violations_by_equation=dict(sorted(counts.items())),
        avg_delay_s=_finite(ev.delay[ok].mean()) if n_ok else None,
        avg_energy_j=_finite(ev.energy[ok].mean()) if n_ok else None,
        avg_price=_finite(ev.price[ok].mean()) if n_ok else None,
        avg_cost=_finite(ev.cost[ok].mean()) if n_ok else None,
        averages_over="all devices" if n_ok == instance.N else f"the {n_ok} well-formed devices",
        potential=_finite(ev.potential) if n_ok == instance.N else None,
        capacity_mode=instance.servers[0].capacity_mode, capacity_rule=rule,
        deadline_policy=instance.deadline_policy,
        deadline_misses=int(sum(1 for r in rows if r["deadline_met"] is False)),
    )


def _check_view(instance: Instance, Y: np.ndarray) -> list[Violation]:
    """(15), (16), (17), (26), (27) on one server.

    ``instance`` a single-server instance (a server view) and Y its tensor y[n, m, h] (N x M_max x (H+2); h = H+1 queued
    after the frame).
    """
    server, H = instance.server, instance.server.H
    out: list[Violation] = []
    queued = np.zeros(instance.N, dtype=bool)
    for n, d in enumerate(instance.devices):
        rows = Y[n, :d.M]
        q = rows[:, H + 1]
        if q.any() and not q.all():
            out.append(Violation("(15)", d.name, H + 1, None, float(q.sum()), 0.0,
                                 f"{d.name}: {int(q.sum())} of {d.M} layers queued after the frame; "
                                 "a queued device queues all its layers"))
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
                                     f"{d.name} layer {m} runs in slot {hs.min()} "
                                     f"after layer {prev_layer} in slot {prev_max}"))
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
                                         f"{d.name} uses {T_nh[n, h]:.6g} s of server time in slot {h + 1}; "
                                         f"each MD may use T_d/H = {cap:.6g} s"))
    else:
        for h in range(H):
            total = T_nh[:, h].sum()
            if total > cap + tol:
                out.append(Violation("(17)", None, h + 1, None, total - cap, tol,
                                     f"slot {h + 1} holds {total:.6g} s of server time; capacity T_d/H = {cap:.6g} s"))
    present = cast(np.ndarray, Y[:, :, 1:H + 1].any(axis=1))   # numpy's stubs: any(axis=...) may be a scalar
    for h in range(H):
        k = int(present[:, h].sum())
        if k > server.B:
            out.append(Violation("(27)", None, h + 1, None, float(k - server.B), 0.0,
                                 f"slot {h + 1} holds {k} MDs; the parallel limit B is {server.B}"))
    # (26): T_n <= tau_n, on devices whose strategy is well formed
    structural = {v.device for v in out if v.equation in ("(15)", "(16)")}
    for n, d in enumerate(instance.devices):
        if d.name in structural or d.deadline_relaxed or d.deadline_soft:
            continue
        rows = Y[n, :d.M]
        slots = np.full(d.M, H + 1) if queued[n] else np.where(rows.any(axis=1), rows.argmax(axis=1), 0).astype(int)
        T = costmod.delay(d, slots, server)
        if T > deadline_limit(d.tau, DEADLINE_TOL):
            out.append(Violation("(26)", d.name, None, None, T - d.tau, d.tau * DEADLINE_TOL,
                                 f"{d.name} finishes in {T:.6g} s, over its deadline tau = {d.tau:g} s"))
    return out


#: the association constraint of several servers: an MD offloads to at most one server, one it reaches
ASSOCIATION = "(15s)"


@dataclass(frozen=True)
class _Split:
    """Tensor y[n, m, k, h] taken apart.

    Each device's server, the association violations and one single-server tensor per server view (what
    :func:`_check_view` checks on that server).
    """

    server_of: np.ndarray          # (N,) server_of_from_y
    used: list[list[int]]          # per device, the servers holding its layers
    bad: set[int]                  # devices violating (15s): layers on several servers or on one they cannot reach
    association: list[Violation]   # the (15s) violations, and (15) of the bad devices
    views: list[np.ndarray]        # per server view, y_k[i, m, h] of its members
    judged: np.ndarray             # (N,) the server whose view judges (26): its own, else its first one


def _split(instance: Instance, Y: np.ndarray) -> _Split:
    """The association (15s) of tensor Y and the tensor each server view sees.

    A device on server k (its local layers and its slots on k) in k's view and all local in the others' views. A device
    in ``bad`` has its layers on each server it reaches counted there ((17), (27)) and nothing else: (15), (16) and (26)
    have no meaning across servers, so (15) is checked on its whole row instead. With one server nothing is bad and the
    one view's tensor is y[:, :, 0, :].
    """
    names = [s.name for s in instance.servers]
    used = servers_used(instance, Y)
    server_of = server_of_from_y(instance, Y)
    bad: set[int] = set()
    out: list[Violation] = []
    for n, d in enumerate(instance.devices):
        reach = instance.reachable(n)
        if len(used[n]) > 1:
            bad.add(n)
            on = ", ".join(names[k] for k in used[n])
            out.append(Violation(ASSOCIATION, d.name, None, None, float(len(used[n]) - 1), 0.0,
                                 f"{d.name} has layers on servers {on}; an MD offloads to one server"))
        if any(k not in reach for k in used[n]):
            bad.add(n)
            for k in used[n]:
                if k not in reach:
                    out.append(Violation(ASSOCIATION, d.name, None, None, 1.0, 0.0, f"{d.name} offloads to server "
                                         f"{names[k]}, which it cannot reach (it reaches "
                                         f"{[names[r] for r in reach]})", server=names[k]))
        if n in bad:
            for m, total in enumerate(Y[n, :d.M].sum(axis=(1, 2)), start=1):
                if total != 1:
                    out.append(Violation("(15)", d.name, None, m, float(abs(total - 1)), 0.0,
                                         f"{d.name} layer {m} ({d.layer_names[m - 1]}) is assigned {total} times"))
    first = np.array([r[0] for r in instance.reach], dtype=int)
    judged = np.where(server_of >= 0, server_of, first)
    is_bad = np.zeros(instance.N, dtype=bool)
    is_bad[list(bad)] = True
    M = np.array([d.M for d in instance.devices], dtype=int)
    views = []
    for v in instance.views:
        k, Hk, g = v.k, v.server.H, v.members
        Mv = v.instance.M_max
        Yk = np.zeros((len(g), Mv, Hk + 2), dtype=int)
        own = (server_of[g] == k) & ~is_bad[g]
        local = own | ((server_of[g] < 0) & (first[g] == k) & ~is_bad[g])   # an all-local device: on its first server
        elsewhere = ~local & ~is_bad[g]                                       # on another server: all local here
        Yk[local, :, 0] = Y[g[local], :Mv, 0, 0]
        Yk[elsewhere, :, 0] = np.arange(Mv)[None, :] < M[g[elsewhere], None]
        slots = own | is_bad[g]
        Yk[slots, :, 1:] = Y[g[slots], :Mv, k, 1:Hk + 2]
        views.append(Yk)
    return _Split(server_of, used, bad, out, views, judged)


def _on_server(instance: Instance, k: int, viol: Violation) -> Violation:
    """A violation found on server k's view, naming its server when there are several."""
    if instance.K == 1:
        return viol
    from dataclasses import replace

    name = instance.servers[k].name
    return replace(viol, server=name, message=f"server {name}: {viol.message}")


def _split_violations(instance: Instance, split: _Split) -> list[Violation]:
    """The association violations of ``split``, then every server view's (15), (16), (17), (26), (27).

    A device violating (15s) is not judged by (15), (16), (26) on a view, and (26) only on the view of its own server
    (an all-local device: its first one).
    """
    out = list(split.association)
    bad_names = {instance.devices[n].name for n in split.bad}
    judged: dict[str | None, int] = {d.name: int(split.judged[n]) for n, d in enumerate(instance.devices)}
    for v, Yk in zip(instance.views, split.views):
        for viol in _check_view(v.instance, Yk):
            if viol.device in bad_names and viol.equation in ("(15)", "(16)", "(26)"):
                continue
            if viol.equation == "(26)" and judged.get(viol.device) != v.k:
                continue   # the device runs elsewhere: its all-local stand-in on this server is not its strategy
            out.append(_on_server(instance, v.k, viol))
    return out


def check_y(instance: Instance, Y: np.ndarray) -> list[Violation]:
    """Every violated constraint of tensor y[n, m, k, h] (:func:`assignment_to_y`).

    First the association (15s) (several servers only): a device with layers on two servers or
    more, or on a server it cannot reach (such a device's layers still count in (17) and (27) of
    each server it reaches; (15) is checked on its whole row, (16) and (26) are not). Then (15),
    (16), (17), (26), (27) on each server's view; with several servers every per-server
    violation names its server in ``server`` and its message.

    Parameters
    ----------
    instance : Instance
        The instance.
    Y : numpy.ndarray
        The tensor of :func:`assignment_to_y`.

    Returns
    -------
    list of Violation
        Empty when the assignment is feasible.

    Examples
    --------
    >>> import mecopt, pandas as pd
    >>> from mecopt.core import checker
    >>> inst = mecopt.load_instance("paper:fig6-w1khz")
    >>> table = pd.DataFrame({"device": ["md1"] * 2, "layer": [1, 2], "slot": [0, 0]})
    >>> [v.equation for v in checker.check_y(inst, checker.assignment_to_y(inst, table))][:2]
    ['(15)', '(15)']
    """
    return _split_violations(instance, _split(instance, Y))


def deadline_misses(instance: Instance, profile: list[np.ndarray],
                    server_of: ArrayLike | None = None) -> dict[str, float]:
    """{device name: seconds over tau_n} of every MD whose T_n (24) misses (26) by more than the checker's tolerance.

    (the soft policy lists these instead of reporting violations).

    Parameters
    ----------
    instance : Instance
        The instance.
    profile : list of numpy.ndarray
        One slot vector per device.
    server_of : array_like of int, optional
        Each MD's server (as for :func:`mecopt.core.cost.evaluate`); may be omitted with one server.

    Returns
    -------
    dict of str to float
    """
    delays = costmod.evaluate(instance, profile, server_of).delay
    out = {}
    for d, T in zip(instance.devices, delays):
        if T > deadline_limit(d.tau, DEADLINE_TOL):
            out[d.name] = float(T - d.tau)
    return out


def check_profile(instance: Instance, profile: list[np.ndarray],
                  server_of: ArrayLike | None = None) -> list[Violation]:
    """Every violated constraint of a strategy profile (slot vectors), on one server or several.

    The association (15s) first (every offloaded layer on ``server_of[n]``, a server MD n
    reaches), then (15)-(17), (26), (27) on each server's view (docs/multiserver.md).

    Parameters
    ----------
    instance : Instance
        The instance.
    profile : list of numpy.ndarray
        One slot vector per device (0 = local, 1..H_k, H_k + 1 = queued).
    server_of : array_like of int, optional
        ``server_of[n]``: the server MD n offloads to (-1 = all local). Omitted: server 0 for
        every device with one server, no server (so every offloading MD violates (15s)) with several.

    Returns
    -------
    list of Violation
        Empty when the profile is feasible.

    Raises
    ------
    InputError
        When the profile does not have one strategy per device, or a strategy has the wrong length.

    Examples
    --------
    >>> import mecopt
    >>> from mecopt.core import checker, cost
    >>> inst = mecopt.load_instance("paper:fig6-w1khz")
    >>> checker.check_profile(inst, cost.all_local(inst))
    []
    """
    N = instance.N
    if len(profile) != N:
        raise InputError(f"the profile has {len(profile)} strategies for {N} devices")
    if server_of is None:
        given = np.zeros(N, dtype=int) if instance.K == 1 else np.full(N, -1, dtype=int)
    else:
        given = np.asarray(server_of, dtype=int)
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
    # a device with a wrong association (15s) counts on no server, as in the table checker; its
    # deadline (26) is judged on its own server only (an all-local device: on its first one)
    eff = np.array([k if k in instance.reachable(n) else -1 for n, k in enumerate(given)], dtype=int)
    judged: dict[str | None, int] = {
        d.name: (eff[n] if np.any(np.asarray(profile[n]) != 0) else instance.reachable(n)[0])
        for n, d in enumerate(instance.devices)}
    for v, prof in zip(instance.views, costmod.split_profile(instance, profile, eff)):
        vi = v.instance
        Yk = np.zeros((vi.N, vi.M_max, v.server.H + 2), dtype=int)
        for i, slots in enumerate(prof):
            s = np.asarray(slots)
            Yk[i, np.arange(len(s)), s] = 1
        for viol in _check_view(vi, Yk):
            if viol.equation == "(26)" and judged.get(viol.device) != v.k:
                continue   # the device runs elsewhere: its all-local stand-in on this server is not its strategy
            out.append(_on_server(instance, v.k, viol))
    return out


def violations_frame(violations: list[Violation], servers: bool = False) -> pd.DataFrame:
    """The violations as a table: equation, device, slot, layer, amount, tolerance, message.

    With ``servers`` (an instance with several servers) also ``server`` after ``device`` (empty when the violation is on
    no one server, e.g. a device with layers on two servers).

    Parameters
    ----------
    violations : list[Violation]
        The violations, as :func:`check_profile` returns them.
    servers : bool, default False
        Whether to add the ``server`` column (several servers).

    Returns
    -------
    pandas.DataFrame
        One row per violation.
    """
    cols = ["equation", "device", "slot", "layer", "amount", "tolerance", "message"]
    if not servers:
        return pd.DataFrame([v.as_dict() for v in violations], columns=cols)
    cols.insert(2, "server")
    return pd.DataFrame([{**v.as_dict(), "server": v.server} for v in violations], columns=cols)
