"""``mecopt check``: score and check any assignment table, independently of whoever produced it.

The assignment (csv, parquet or json records with columns device, layer, slot;
other columns ignored) is turned into the tensor y of (14) by
:func:`mecopt.core.checker.assignment_to_y`; every figure is recomputed by
:mod:`mecopt.core.cost` and every constraint tested by :func:`mecopt.core.checker.check_y`.
A solver's own figures are never read.

A device whose strategy is malformed ((15) or (16) violated: a layer assigned
zero or several times, slots going backwards, a partly queued DNN) has no
well-defined delay, energy or cost: those figures are left empty for it and the
averages and the potential cover the well-formed devices only (the potential is
left empty unless every device is well formed). Its layers still count in (17)
and (27) exactly as the tensor holds them, and in the price loads the others pay
as :func:`mecopt.core.checker.profile_from_y` reads them (each layer at its first
marked slot; an unassigned layer as local).
"""

from __future__ import annotations

import json

import click

from mecopt.cli.common import echo_table, format_option, instance_argument, read_instance, writable_output
from mecopt.core import checker as checkmod
from mecopt.core import manifest
from mecopt.core.errors import InfeasibleError
from mecopt.core.solution import read_assignment
from mecopt.core.tables import jsonable, write_json, write_table

#: kept for callers of the former CLI function; the report is built by the library
check_assignment = checkmod.assignment_report


_EPILOG = """\b
Exit status:
  0  the assignment satisfies (15), (16), (17), (26) and (27) (and (15s) with several servers)
  3  one or more constraints are violated (all are listed)
  2  malformed input (instance, assignment file, unknown device, layer, slot or server; with
     several servers, an offloaded layer that names no server)
"""


@click.command("check", epilog=_EPILOG)
@instance_argument
@click.argument("assignment", type=click.Path(path_type=str))
@format_option
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=str), callback=writable_output,
              default=None,
              help="Write devices and violations tables and summary.json to this folder (atomically).")
@click.option("--json", "as_json", is_flag=True, help="Print summary, devices and violations as JSON (nothing else).")
def check_cmd(instance, assignment, fmt, out_dir, as_json):
    """Check ASSIGNMENT (device, layer, slot) against INSTANCE and score it.

    ASSIGNMENT is a csv, parquet or json table with columns device (name or 0-based index), layer (1-based) and slot (0
    = local, 1..H = server slot, H+1 = queued after the frame), or a solution folder (mecopt solve --out); other columns
    are ignored. With several servers each offloaded layer also names its server in a server column (empty for local
    layers); layers of one device on two servers, or on a server it cannot reach, are reported as violations of (15s). A
    folder (or a table in one) that a killed run left incomplete is refused. Delay, energy, price and cost per device,
    their averages and the potential are recomputed from the tensor y, and every violated constraint is listed with its
    equation, device, slot or layer, amount and tolerance.
    """
    inst = read_instance(instance)
    table = read_assignment(assignment)
    res = checkmod.assignment_report(inst, table)
    summary = {"assignment": str(assignment), **res["summary"]}
    written = []
    if out_dir is not None:
        out = manifest.begin(out_dir, "check")
        written = [write_table(res["devices"], out / "devices", fmt),
                   write_table(res["violations"], out / "violations", fmt),
                   write_json(out / "summary.json", {**summary, "slots": res["slots"].to_dict(orient="list")})]
        written.append(manifest.finish(out, "check", written, format=fmt))
    if as_json:
        click.echo(json.dumps(jsonable({**summary, "slots": res["slots"].to_dict(orient="records"),
                                        "devices": res["devices"].to_dict(orient="records"),
                                        "violation_list": res["violation_list"]}, nonfinite="null", other="str"),
                              indent=2, allow_nan=False))
    else:
        s = res["summary"]
        servers = f", {inst.K} servers" if inst.K > 1 else ""
        click.echo(f"Assignment {assignment} on instance {inst.name} ({inst.N} MDs{servers}, capacity mode "
                   f"{s['capacity_mode']}):")
        click.echo("\nDevices")
        echo_table(res["devices"])
        click.echo("\nSlots")
        echo_table(res["slots"])
        click.echo(f"({s['capacity_rule']})")
        fig = lambda k: "-" if s[k] is None else f"{s[k]:.6g}"  # noqa: E731
        click.echo(f"\nAverages over {s['averages_over']}: delay {fig('avg_delay_s')} s, energy "
                   f"{fig('avg_energy_j')} J, price {fig('avg_price')}, cost {fig('avg_cost')}; "
                   f"potential {fig('potential')}")
        if s["feasible"]:
            click.echo("\nfeasible: no constraint violated")
        else:
            click.echo(f"\nViolations ({s['violations']})")
            echo_table(res["violations"])
        if s["deadline_policy"] == "soft" and s["deadline_misses"]:
            click.echo(f"deadline misses (soft (26), priced, not violations): {s['deadline_misses']}")
        for p in written:
            click.echo(f"wrote {p}")
    if not res["summary"]["feasible"]:
        by = ", ".join(f"{k} x{v}" for k, v in res["summary"]["violations_by_equation"].items())
        raise InfeasibleError(f"the assignment violates {res['summary']['violations']} constraint(s): {by}")


commands = [check_cmd]
