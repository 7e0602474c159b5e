"""Options and helpers shared by the commands."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import click
import pandas as pd

from mecopt.core.errors import InputError

from mecopt.core.tables import FORMATS
from mecopt.core.instance import Instance, load_instance

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


def check_writable(path: str | os.PathLike, *, directory: bool, option: str = "--out") -> Path:
    """Refuse, before any work, an output that cannot be written: ``path`` (a folder when
    ``directory``, else a file) must be creatable under its nearest existing ancestor, that
    ancestor must be a folder, and a file must be creatable in it (probed with a temporary file,
    which also catches read-only file systems). InputError (exit 2) naming the option otherwise."""
    p = Path(path)
    if directory and p.exists() and not p.is_dir():
        raise InputError(f"{option} {p}: exists and is not a folder")
    if not directory and p.is_dir():
        raise InputError(f"{option} {p}: is a folder; give a file name")
    anchor = p if directory else p.parent
    anchor = anchor if str(anchor) else Path(".")
    while not anchor.exists() and anchor != anchor.parent:
        anchor = anchor.parent
    if not anchor.is_dir():
        raise InputError(f"{option} {p}: cannot be created: {anchor} is a file, not a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=".mecopt-write-test-", dir=anchor)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise InputError(f"{option} {p}: cannot write in {anchor}: {err.strerror or err}") from None
    return p


def writable_output(ctx: click.Context, param: click.Parameter, value):
    """click callback of every output option (``--out``, ``-o``): :func:`check_writable` at parse time."""
    if value is None:
        return value
    directory = isinstance(param.type, click.Path) and not param.type.file_okay
    check_writable(value, directory=directory, option="/".join(param.opts))
    return value
