"""``mecopt compare``: every method on one instance, one table (Cases 1-4 of the paper and more)."""

from __future__ import annotations

import time

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
from mecopt.core.errors import InfeasibleError, InputError, SolverError
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
                   "[default: dp, as in every command]")
@click.option("--seed", default=None, metavar="INTEGER",
              help="Seed of the game and of the all-offload draws. [default: each method's, 0]")
@click.option("--time-limit", default=None, metavar="SECONDS",
              help="Time limit in seconds of each method that takes one (tpos-*, tpos-best, gtpos), passed as its "
                   "time_limit option: at the limit it returns its best solution, marked time_limit.")
@click.option("--budget", default=None, metavar="SECONDS",
              help="Seconds for the whole comparison, loading and writing included: the quick methods run first, "
                   "then each time-limited method gets an even share of what is left after a 5% reserve (at most "
                   "--time-limit); a method's limit bounds all of it, model building included.")
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
@click.option("--resume", is_flag=True,
              help="Continue the comparison in --out (same instance and options), skipping the methods it finished.")
@click.option("-q", "--quiet", is_flag=True, help="No progress display (it is off anyway when not on a terminal).")
def compare_command(instance, methods, engine, seed, time_limit, budget, objective, draws, spread, solver, extra, fmt,
                    out, resume, quiet):
    """Run several methods on INSTANCE and print the comparison table with the
    equilibrium-to-optimum ratios, each named by what it divides (an interval when
    GTPOS did not prove its optimum).

    The all-offload row shows the means over its seeded draws. With --out each method's
    folder is written as soon as it finishes; --resume skips them, so an interrupted
    comparison (Ctrl-C: exit 130) loses only the method in flight. Exit codes: 0 when
    every method returned an assignment (infeasible ones are shown in the table), 2 bad
    input, 3 a method reported its model infeasible, 4 a method failed, 130 interrupted.
    """  # noqa: D205 (click prints this docstring as the --help text, unchanged)
    began = time.perf_counter()   # --budget counts from here (loading the instance included)
    if resume and out is None:
        raise InputError("--resume needs --out: the folder of the comparison to continue")
    run = dict(methods=methods, engine=engine, seed=seed, time_limit=time_limit, draws=draws,
               options=parse_method_options(extra), gtpos_objective=objective, gtpos_solver=solver, text=True,
               budget=budget)
    comparemod.plan(**run)        # every option checked before any work (exit 2)
    inst = read_instance(instance)
    label = {}

    def started(method, index, count, limit):
        label[method] = f"[{index + 1}/{count}] {method}" + ("" if limit is None else f", limit {limit:.3g} s")

    table, solutions = comparemod.compare(
        inst, spread=spread, out=out, fmt=fmt, resume=resume, on_start=started, started=began,
        progress=lambda m: method_progress(m, quiet, inst.N, label=label.get(m)), **run)
    shown = SHOWN + (["time_limit_s"] if table["time_limit_s"].notna().any() else [])
    echo_table(display_frame(table[shown]))
    for line in comparemod.proof_lines(table) + comparemod.ratio_summary(table):
        click.echo(line)
    failed = table[[not comparemod.solved(r) for r in table.to_dict("records")]]
    for r in failed.itertuples(index=False):
        click.echo(f"{r.method}: {r.status}", err=True)
    if out is not None:
        click.echo(f"wrote comparison and {len(table) - len(failed)} method folder(s) to {out}")
    if (failed["termination"] == "error").any():
        raise SolverError("method(s) failed: " + ", ".join(failed.loc[failed["termination"] == "error", "method"]))
    if len(failed):
        raise InfeasibleError("method(s) reported infeasible: " + ", ".join(failed["method"]))


commands = [compare_command]
