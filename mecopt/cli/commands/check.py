"""``mecopt check``: score and check any assignment table, independently of whoever produced it.

The assignment (csv, parquet or json records with columns device, layer, slot;
other columns ignored) is turned into the tensor y of (14) by
:func:`mecopt.constraints.assignment_to_y`; every figure is recomputed by
:mod:`mecopt.model.cost` and every constraint tested by :func:`mecopt.constraints.check_y`.
A solver's own figures are never read.

A device whose strategy is malformed ((15) or (16) violated: a layer assigned
zero or several times, slots going backwards, a partly queued DNN) has no
well-defined delay, energy or cost: those figures are left empty for it and the
averages and the potential cover the well-formed devices only (the potential is
left empty unless every device is well formed). Its layers still count in (17)
and (27) exactly as the tensor holds them, and in the price loads the others pay
as :func:`mecopt.constraints.profile_from_y` reads them (each layer at its first
marked slot; an unassigned layer as local).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import click
import numpy as np
import pandas as pd

from mecopt import constraints as checkmod
from mecopt.model import cost as costmod
from mecopt.errors import InfeasibleError, InputError
from mecopt.model.tolerances import DEADLINE_TOL, meets_deadline
from mecopt.results.export import read_table, write_json, write_table
from mecopt.model.instance import Instance
from mecopt.cli.common import echo_table, format_option, instance_argument, read_instance, writable_output


def read_assignment(path: str | Path) -> pd.DataFrame:
    """An assignment table from csv, parquet or json (a list of records, or {"assignment": [...]})."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"assignment file not found: {path}")
    if path.is_dir():
        raise InputError(f"assignment path is a directory, not a file: {path}")
    suffix = path.suffix.lower()
    try:
        if suffix == ".json":
            data = json.loads(path.read_text())
            if isinstance(data, dict) and "assignment" in data:
                data = data["assignment"]
            if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
                raise InputError(f"assignment {path}: expected a JSON list of records "
                                 "({\"device\": ..., \"layer\": ..., \"slot\": ...}) or {\"assignment\": [...]}")
            table = pd.DataFrame.from_records(data)
        elif suffix == ".csv":
            # cells as text: "1_0" or "1e0" must not become numbers on the way (plain_integer judges them)
            table = pd.read_csv(path, dtype=str, keep_default_na=False)
        elif suffix == ".parquet":
            table = read_table(path)
        else:
            raise InputError(f"cannot read an assignment from {path}: expected .csv, .parquet or .json")
    except InputError:
        raise
    except Exception as err:  # pandas / pyarrow / json parse errors: the file is malformed
        raise InputError(f"assignment {path} could not be read: {type(err).__name__}: {err}") from None
    missing = {"device", "layer", "slot"} - set(table.columns)
    if missing:
        raise InputError(f"assignment {path} lacks columns {sorted(missing)}; it needs device, layer, slot "
                         f"(it has {list(table.columns)})")
    problems = []
    for col in ("layer", "slot"):
        for i, v in enumerate(table[col].tolist()):
            if not _is_integral(v):
                problems.append((f"row {i + 1}.{col}", f"must be an integer, got {v!r}"))
    if problems:
        raise InputError(f"invalid assignment table {path}", problems)
    return table


def _is_integral(v) -> bool:
    try:
        checkmod.plain_integer(v)
        return True
    except (TypeError, ValueError):
        return False


def _f(x) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def check_assignment(instance: Instance, table: pd.DataFrame) -> dict:
    """Everything ``mecopt check`` reports, as plain data: devices, violations, slots, summary."""
    Y = checkmod.assignment_to_y(instance, table)
    violations = checkmod.check_y(instance, Y)
    H = instance.server.H
    profile = checkmod.profile_from_y(instance, Y)
    malformed = {v.device for v in violations if v.equation in ("(15)", "(16)") and v.device is not None}
    queued = []
    for n, d in enumerate(instance.devices):
        rows = Y[n, :d.M]
        q = bool(rows[:, H + 1].all()) and int(rows.sum()) == d.M
        queued.append(q)
        if q:
            profile[n] = np.full(d.M, H + 1, dtype=int)
    ev = costmod.evaluate(instance, profile)
    # server time and MD count per slot from the tensor itself, as (17) and (27) see them (a doubly
    # assigned layer counts twice); price loads as cost.evaluate reads the profile
    present = Y[:, :, 1:H + 1].any(axis=1).sum(axis=0)
    T_nh = np.array([[float(Y[n, :d.M, h] @ d.t_server[1:]) for h in range(1, H + 1)]
                     for n, d in enumerate(instance.devices)])
    by_dev = {}
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
            delay_s=_f(T), energy_j=_f(ev.energy[n]) if good else None, price=_f(ev.price[n]) if good else None,
            cost=_f(ev.cost[n]) if good else None, deadline_s=d.tau, deadline_relaxed=d.deadline_relaxed,
            deadline_met=bool(meets_deadline(T, d.tau, DEADLINE_TOL)) if good else None,
            deadline_miss_s=max(0.0, float(T - d.tau)) if good else None,
            server_time_s=float(T_nh[n].sum()),
            violations=";".join(sorted(set(by_dev.get(d.name, [])))),
        ))
    devices = pd.DataFrame(rows).astype({"partition_point": "Int64", "last_slot": "Int64", "deadline_met": "boolean"})
    slots = pd.DataFrame(dict(slot=np.arange(1, H + 1), server_time_s=T_nh.sum(axis=0),
                              capacity_s=np.full(H, instance.server.slot_len), price_load=ev.slot_load,
                              unit_price=instance.server.a + instance.server.price_quad * ev.slot_load,
                              devices=present, parallel_limit=np.full(H, instance.server.B)))
    n_ok = int(ok.sum())
    counts: dict[str, int] = {}
    for v in violations:
        counts[v.equation] = counts.get(v.equation, 0) + 1
    summary = dict(
        instance=instance.name, devices=instance.N, well_formed_devices=n_ok,
        malformed_devices=[d.name for n, d in enumerate(instance.devices) if not ok[n]],
        feasible=not violations, violations=len(violations), violations_by_equation=dict(sorted(counts.items())),
        avg_delay_s=_f(ev.delay[ok].mean()) if n_ok else None,
        avg_energy_j=_f(ev.energy[ok].mean()) if n_ok else None,
        avg_price=_f(ev.price[ok].mean()) if n_ok else None,
        avg_cost=_f(ev.cost[ok].mean()) if n_ok else None,
        averages_over="all devices" if n_ok == instance.N else f"the {n_ok} well-formed devices",
        potential=_f(ev.potential) if n_ok == instance.N else None,
        capacity_mode=instance.server.capacity_mode, deadline_policy=instance.deadline_policy,
        deadline_misses=int(sum(1 for r in rows if r["deadline_met"] is False)),
    )
    vframe = checkmod.violations_frame(violations).astype({"slot": "Int64", "layer": "Int64"})
    return dict(summary=summary, devices=devices, violations=vframe, slots=slots,
                violation_list=[v.as_dict() for v in violations])


_EPILOG = """\b
Exit status:
  0  the assignment satisfies (15), (16), (17), (26) and (27)
  3  one or more constraints are violated (all are listed)
  2  malformed input (instance, assignment file, unknown device, layer or slot out of range)
"""


@click.command("check", epilog=_EPILOG)
@instance_argument
@click.argument("assignment", type=click.Path(dir_okay=False, path_type=str))
@format_option
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=str), callback=writable_output,
              default=None,
              help="Write devices and violations tables and summary.json to this folder (atomically).")
@click.option("--json", "as_json", is_flag=True, help="Print summary, devices and violations as JSON (nothing else).")
def check_cmd(instance, assignment, fmt, out_dir, as_json):
    """Check ASSIGNMENT (device, layer, slot) against INSTANCE and score it.

    ASSIGNMENT is a csv, parquet or json table with columns device (name or 0-based
    index), layer (1-based) and slot (0 = local, 1..H = server slot, H+1 = queued
    after the frame); other columns are ignored. Delay, energy, price and cost per
    device, their averages and the potential are recomputed from the tensor y, and
    every violated constraint is listed with its equation, device, slot or layer,
    amount and tolerance.
    """
    inst = read_instance(instance)
    table = read_assignment(assignment)
    res = check_assignment(inst, table)
    summary = {"assignment": str(assignment), **res["summary"]}
    written = []
    if out_dir is not None:
        out = Path(out_dir)
        written = [write_table(res["devices"], out / "devices", fmt),
                   write_table(res["violations"], out / "violations", fmt),
                   write_json(out / "summary.json", {**summary, "slots": res["slots"].to_dict(orient="list")})]
    if as_json:
        click.echo(json.dumps(_jsonable({**summary, "slots": res["slots"].to_dict(orient="records"),
                                         "devices": res["devices"].to_dict(orient="records"),
                                         "violation_list": res["violation_list"]}),
                              indent=2, allow_nan=False))
    else:
        s = res["summary"]
        click.echo(f"Assignment {assignment} on instance {inst.name} ({inst.N} MDs, capacity mode "
                   f"{s['capacity_mode']}):")
        click.echo("\nDevices")
        echo_table(res["devices"])
        click.echo("\nSlots")
        echo_table(res["slots"])
        fig = lambda k: "-" if s[k] is None else f"{s[k]:.6g}"  # noqa: E731
        click.echo(f"\nAverages over {s['averages_over']}: delay {fig('avg_delay_s')} s, energy "
                   f"{fig('avg_energy_j')} J, price {fig('avg_price')}, cost {fig('avg_cost')}; "
                   f"potential {fig('potential')}")
        if s["feasible"]:
            click.echo("\nfeasible: no constraint violated")
        else:
            click.echo(f"\nViolations ({s['violations']})")
            echo_table(res["violations"])
        for p in written:
            click.echo(f"wrote {p}")
    if not res["summary"]["feasible"]:
        by = ", ".join(f"{k} x{v}" for k, v in res["summary"]["violations_by_equation"].items())
        raise InfeasibleError(f"the assignment violates {res['summary']['violations']} constraint(s): {by}")


def _jsonable(o):
    if isinstance(o, dict):
        return {str(k): _jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_jsonable(v) for v in o]
    if isinstance(o, (bool, np.bool_)):
        return bool(o)
    if isinstance(o, (int, np.integer)):
        return int(o)
    if isinstance(o, (float, np.floating)):
        return float(o) if math.isfinite(o) else None
    if o is None or isinstance(o, str):
        return o
    if o is pd.NA or o is pd.NaT:
        return None
    return str(o)


commands = [check_cmd]
