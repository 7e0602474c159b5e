"""Options and helpers shared by the commands."""

from __future__ import annotations

import click
import pandas as pd

from ..export import FORMATS
from ..instance import Instance, load_instance

format_option = click.option("--format", "fmt", type=click.Choice(FORMATS), default="csv", show_default=True,
                             help="Format of the tables written.")


def instance_argument(f):
    return click.argument("instance", type=click.Path(dir_okay=False, path_type=str))(f)


def read_instance(path: str) -> Instance:
    return load_instance(path)


def echo_table(df: pd.DataFrame, floatfmt: str = ".6g") -> None:
    """Print a table to the terminal."""
    if df.empty:
        click.echo("(empty)")
        return
    click.echo(df.to_markdown(index=False, floatfmt=floatfmt, tablefmt="simple"))
