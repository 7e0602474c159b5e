"""``mecopt equilibria``: the spread of the game's equilibria over seeded starts (empirical price of anarchy)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import click

from mecopt.cli.common import (
    DeclaredOption,
    echo_table,
    format_option,
    instance_argument,
    read_instance,
    writable_output,
)
from mecopt.core.tables import write_table
from mecopt.studies import equilibria as eqmod


@click.command("equilibria")
@instance_argument
@click.option("--starts", type=click.IntRange(1, 100_000), default=50, show_default=True,
              help="Seeded starts (seed, seed+1, ...; each seed draws the start and the wake orders).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="First seed.")
@click.option("--method", type=click.Choice(eqmod.METHODS), default="tpos-cai", show_default=True)
@click.option("--engine", type=DeclaredOption("tpos-cai", "engine"), default="dp", show_default=True, metavar="dp|milp",
              help="Best-response engine of the game, or a registered one.")
@click.option("--no-gtpos", is_flag=True, help="Skip the GTPOS optima (no ratios).")
@click.option("--time-limit", type=DeclaredOption("gtpos", "time_limit"), default=None, metavar="SECONDS",
              help="Time limit in seconds of each GTPOS solve.")
@format_option
@click.option("--out", type=click.Path(file_okay=False, path_type=str), callback=writable_output, default=None,
              help="Write equilibria_runs, equilibria, equilibria_summary (tables) and equilibria.png to OUT.")
def equilibria_command(instance, starts, seed, method, engine, no_gtpos, time_limit, fmt, out):
    """Run the dynamics from STARTS seeded starts on INSTANCE, deduplicate the certified
    equilibria, and print the best and worst (delay, energy, social cost, average cost,
    potential) with their ratios to GTPOS's proven optimum of the same measure.
    """  # noqa: D205 (click prints this docstring as the --help text, unchanged)
    inst = read_instance(instance)
    res = eqmod.spread(inst, starts=starts, seed=seed, method=method, engine=engine, gtpos=not no_gtpos,
                       gtpos_time_limit=time_limit)
    echo_table(res.summary)
    for line in res.lines():
        click.echo(line)
    if out is not None:
        outp = Path(out)
        write_table(res.runs, outp / "equilibria_runs", fmt)
        write_table(res.equilibria, outp / "equilibria", fmt)
        write_table(res.summary, outp / "equilibria_summary", fmt)
        msg = "tables"
        if importlib.util.find_spec("matplotlib") is None:   # tables only, said so
            click.echo("no histogram: matplotlib is not installed (pip install matplotlib)", err=True)
        else:   # a figure that cannot be written fails the command (exit 2 naming the file), as a table would
            eqmod.histogram(res, outp / "equilibria.png")
            msg += " and equilibria.png"
        click.echo(f"wrote {msg} to {outp}")


commands = [equilibria_command]
