"""``mecopt compare``: every method on one instance, one table (Cases 1-4 of the paper and more)."""

from __future__ import annotations

import click
import numpy as np
import pandas as pd

from mecopt.cli.common import (
    echo_table,
    format_option,
    instance_argument,
    parse_method_options,
    read_instance,
    writable_output,
)
from mecopt.cli.progress import method_progress
from mecopt.core import manifest
from mecopt.core.errors import InfeasibleError, SolverError
from mecopt.core.tables import write_table
from mecopt.studies import compare as comparemod

SHOWN = ["method", "avg_delay_s", "avg_energy_j", "avg_cost", "feasible", "violated", "deadline_misses",
         "termination", "gap", "max_gain_rel", "wall_s"]


def _cell(x):
    if isinstance(x, (bool, np.bool_)) or x is None or isinstance(x, str):
        return "-" if x is None else x
    if isinstance(x, (float, np.floating)):
        return "-" if np.isnan(x) else f"{x:.6g}"
    return x


def display_frame(df: pd.DataFrame) -> pd.DataFrame:
    """The table as text cells: 6 significant digits, "-" for not available."""
    out = df.astype(object).map(_cell)
    if "wall_s" in df:
        out["wall_s"] = [f"{x:.3f}" for x in df["wall_s"]]
    return out


@click.command("compare")
@instance_argument
@click.option("--methods", default=None,
              help="Comma-separated methods to run. [default: " + ",".join(comparemod.ALL_METHODS)
              + "; with several servers, those of them that solve such instances]")
@click.option("--engine", default=None, metavar="dp|milp",
              help="Best-response engine of every method that takes one (the game, isolated), or a registered one. "
                   "[default: TPOS-CAI's, milp]")
@click.option("--seed", default=None, metavar="INTEGER",
              help="Seed of the game and of the all-offload draws. [default: each method's, 0]")
@click.option("--time-limit", default=None, metavar="SECONDS",
              help="Time limit in seconds per method (gtpos, tpos-*, tpos-best).")
@click.option("--objective", default=None, metavar="delay|social|energy",
              help="GTPOS's objective (--option gtpos:objective=...); the ratios use the matching figure. "
                   "[default: average delay]")
@click.option("--draws", default=None, metavar="INTEGER",
              help="Seeded draws averaged for all-offload (Case 3). [default: 20]")
@click.option("--spread", type=click.IntRange(0, 100_000), default=0, show_default=True,
              help="Add the best and worst certified TPOS-CAI equilibria over this many seeded starts.")
@click.option("--solver", default=None, metavar="highs|cpsat|NAME",
              help="GTPOS's backend (--option gtpos:solver=...): cpsat, highs, or an installed Pyomo solver.")
@click.option("--option", "extra", multiple=True, metavar="[METHOD:]KEY=VALUE",
              help="A method option (repeatable): KEY=VALUE goes to every method that declares KEY, "
                   "METHOD:KEY=VALUE to METHOD, e.g. --option gtpos:mip_rel_gap=1e-4.")
@format_option
@click.option("--out", type=click.Path(file_okay=False, path_type=str), callback=writable_output, default=None,
              help="Write comparison.<format> and each method's outputs in OUT/<method>/.")
@click.option("-q", "--quiet", is_flag=True, help="No progress display (it is off anyway when not on a terminal).")
def compare_command(instance, methods, engine, seed, time_limit, objective, draws, spread, solver, extra, fmt, out,
                    quiet):
    """Run several methods on INSTANCE and print the comparison table with the
    equilibrium-to-optimum ratios (only against a proven-optimal GTPOS).

    The all-offload row shows the means over its seeded draws. Exit codes: 0 when every
    method returned an assignment (infeasible ones are shown in the table), 2 bad input,
    3 a method reported its model infeasible, 4 a method failed.
    """  # noqa: D205 (click prints this docstring as the --help text, unchanged)
    run = dict(methods=methods, engine=engine, seed=seed, time_limit=time_limit, draws=draws,
               options=parse_method_options(extra), gtpos_objective=objective, gtpos_solver=solver, text=True)
    comparemod.plan(**run)        # every option checked before any work (exit 2)
    inst = read_instance(instance)
    table, solutions = comparemod.compare(inst, spread=spread, progress=lambda m: method_progress(m, quiet, inst.N),
                                          **run)
    echo_table(display_frame(table[SHOWN]))
    for line in comparemod.ratio_summary(table):
        click.echo(line)
    for r in table.itertuples(index=False):
        if r.method not in solutions:
            click.echo(f"{r.method}: {r.status}", err=True)
    if out is not None:
        outp = manifest.begin(out, "comparison")
        written = [write_table(table, outp / "comparison", fmt)]
        for method, sol in solutions.items():
            if sol.profile:
                written += sol.write(outp / method, fmt)
        manifest.finish(outp, "comparison", written, format=fmt, instance_path=inst.path)
        click.echo(f"wrote comparison and {len(solutions)} method folder(s) to {outp}")
    failed = table[~table["method"].isin(list(solutions))]
    if (failed["termination"] == "error").any():
        raise SolverError("method(s) failed: " + ", ".join(failed.loc[failed["termination"] == "error", "method"]))
    if len(failed):
        raise InfeasibleError("method(s) reported infeasible: " + ", ".join(failed["method"]))


commands = [compare_command]
