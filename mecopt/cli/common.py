"""Options and helpers shared by the commands."""

from __future__ import annotations

import click
import pandas as pd

from mecopt.results.export import FORMATS
from mecopt.model.instance import Instance, load_instance

format_option = click.option("--format", "fmt", type=click.Choice(FORMATS), default="csv", show_default=True,
                             help="Format of the tables written.")


def instance_argument(f):
    """An INSTANCE argument: a TOML file or a bundled name such as ``paper:fig6-w1khz``."""
    return click.argument("instance", type=str, metavar="INSTANCE")(f)


def read_instance(path: str) -> Instance:
    return load_instance(path)


def echo_table(df: pd.DataFrame, floatfmt: str = ".6g") -> None:
    """Print a table to the terminal."""
    if df.empty:
        click.echo("(empty)")
        return
    click.echo(df.to_markdown(index=False, floatfmt=floatfmt, tablefmt="simple"))
