"""``mecopt compare``: every method on one instance, one table (Cases 1-4 of the paper and more)."""

from __future__ import annotations

import click
import numpy as np
import pandas as pd

from mecopt.studies import compare as comparemod
from mecopt.core.errors import InfeasibleError, SolverError
from mecopt.core import manifest
from mecopt.core.tables import write_table
from mecopt.cli.progress import method_progress
from mecopt.cli.common import echo_table, format_option, instance_argument, read_instance, writable_output

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
@click.option("--engine", default="milp", show_default=True, metavar="dp|milp",
              help="Best-response engine of the game (and of isolated), or a registered one.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seed of the game and of the all-offload draws.")
@click.option("--time-limit", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Time limit in seconds per method (gtpos, tpos-*).")
@click.option("--objective", type=click.Choice(comparemod.GTPOS_OBJECTIVES), default="delay", show_default=True,
              help="GTPOS objective; the ratios use the matching figure.")
@click.option("--draws", type=click.IntRange(min=1), default=20, show_default=True,
              help="Seeded draws averaged for all-offload (Case 3).")
@click.option("--spread", type=click.IntRange(min=0), default=0, show_default=True,
              help="Add the best and worst certified TPOS-CAI equilibria over this many seeded starts.")
@click.option("--solver", default=None, metavar="highs|cpsat|NAME",
              help="GTPOS backend: cpsat, highs, or an installed Pyomo solver.")
@format_option
@click.option("--out", type=click.Path(file_okay=False, path_type=str), callback=writable_output, default=None,
              help="Write comparison.<format> and each method's outputs in OUT/<method>/.")
@click.option("-q", "--quiet", is_flag=True, help="No progress display (it is off anyway when not on a terminal).")
def compare_command(instance, methods, engine, seed, time_limit, objective, draws, spread, solver, fmt, out, quiet):
    """Run several methods on INSTANCE and print the comparison table with the
    equilibrium-to-optimum ratios (only against a proven-optimal GTPOS).

    The all-offload row shows the means over its seeded draws. Exit codes: 0 when every
    method returned an assignment (infeasible ones are shown in the table), 2 bad input,
    3 a method reported its model infeasible, 4 a method failed.
    """
    from mecopt.bestresponse.engines import engine_names
    from mecopt.core.options import check_choice

    check_choice("engine", engine, engine_names())
    inst = read_instance(instance)
    table, solutions = comparemod.compare(inst, methods=methods, time_limit=time_limit, seed=seed, engine=engine,
                                          gtpos_objective=objective, draws=draws, spread=spread,
                                          progress=lambda m: method_progress(m, quiet, inst.N), gtpos_solver=solver)
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
