"""``mecopt bench verify``: re-solve the GTPOS benchmark library (instances/bench/) and check its table."""

from __future__ import annotations

import click

from mecopt.cli.common import DeclaredOption, echo_table
from mecopt.core.errors import InfeasibleError

SHOWN = ["name", "N", "capacity_mode", "table_status", "table_value", "termination", "objective", "gap", "wall_s",
         "verdict"]


@click.group("bench")
def bench_group():
    """The GTPOS benchmark library: instances bench:NAME with a table of proven optima."""


@bench_group.command("list")
def bench_list():
    """Print the table of known optima (instances/bench/optima.csv)."""
    from mecopt.studies import bench

    echo_table(bench.read_table()[["name", "capacity_mode", "N", "classes", "status", "value", "bound",
                                   "proven_by"]], floatfmt=".10g")


def _names(ctx, param, value):
    """``--names A,B,...`` as a list of names; an empty name (``''``, ``a,,b``) is bad input."""
    if value is None:
        return None
    names = [w.strip() for w in value.split(",")]
    if not all(names):
        raise click.BadParameter(f"must be a comma-separated list of benchmark instance names (mecopt bench list). "
                                 f"Got {value!r}, with an empty name.", ctx, param)
    return names


@bench_group.command("verify")
@click.option("--solver", type=DeclaredOption("gtpos", "solver"), default=None, metavar="highs|cpsat|NAME",
              help="GTPOS backend. [default: cpsat]")
@click.option("--names", default=None, metavar="A,B,...", callback=_names,
              help="Only these instances (default: all).")
@click.option("--time-limit", type=DeclaredOption("gtpos", "time_limit"), default=120.0, show_default=True,
              help="Time limit in seconds per instance.")
def bench_verify(solver, names, time_limit):
    """Re-solve the benchmark instances and check them against the committed table.

    Verdicts: ok (optimum proven and equal to the table), consistent (not proven within the time
    limit, incumbent and bound agree with the table), FAIL. Exit codes: 0 no FAIL, 2 bad input,
    3 some FAIL.
    """
    from mecopt.studies import bench

    res = bench.verify(names, solver=solver, time_limit=time_limit)
    echo_table(res[SHOWN], floatfmt=".10g")
    failed = res[res["verdict"] == "FAIL"]
    for r in failed.itertuples(index=False):
        click.echo(f"{r.name}: {r.problems}", err=True)
    click.echo(f"{len(res)} instance(s): {int((res['verdict'] == 'ok').sum())} ok, "
               f"{int((res['verdict'] == 'consistent').sum())} consistent, {len(failed)} FAIL")
    if len(failed):
        raise InfeasibleError(f"benchmark table contradicted on {', '.join(failed['name'])}")


commands = [bench_group]
