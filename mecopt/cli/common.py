"""Options and helpers shared by the commands."""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

import click
import pandas as pd

from mecopt.core.errors import InputError
from mecopt.core.instance import Instance, load_instance
from mecopt.core.options import Option
from mecopt.core.tables import FORMATS


class FiniteFloat(click.FloatRange):
    """click's FloatRange without inf and nan (click's own accepts them: nan compares false with every bound).

    Examples
    --------
    >>> from mecopt.cli.common import FiniteFloat
    >>> FiniteFloat(min=0).convert("1.5", None, None)
    1.5
    """

    name = "float"

    def convert(self, value, param, ctx):
        """The number, range-checked; inf and nan are bad input (exit 2 naming the option)."""
        out = super().convert(value, param, ctx)
        if not math.isfinite(out):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return out


#: the type of every ``--workers`` option: a process count a process pool can hold (a C int)
WORKERS = click.IntRange(1, 1024)

format_option = click.option("--format", "fmt", type=click.Choice(FORMATS), default="csv", show_default=True,
                             help="Format of the tables written.")


def instance_argument(f):
    """An INSTANCE argument: a TOML file or a bundled name such as ``paper:fig6-w1khz``."""
    return click.argument("instance", type=str, metavar="INSTANCE")(f)


def read_instance(path: str) -> Instance:
    """The instance at ``path`` (a file or a bundled name), read by :func:`mecopt.load_instance`."""
    return load_instance(path)


def echo_table(df: pd.DataFrame, floatfmt: str = ".6g") -> None:
    """Print a table to the terminal."""
    if df.empty:
        click.echo("(empty)")
        return
    click.echo(df.to_markdown(index=False, floatfmt=floatfmt, tablefmt="simple"))


def check_writable(path: str | os.PathLike, *, directory: bool, option: str = "--out") -> Path:
    """Refuse, before any work, an output that cannot be written.

    ``path`` (a folder when ``directory``, else a file) must be non-empty and creatable under its nearest existing
    ancestor, that ancestor must be a folder, and a file must be creatable in it (probed with a temporary file, which
    also catches read-only file systems). InputError (exit 2) naming the option otherwise.
    """
    if not str(path):   # Path("") is the current folder: an empty --out is a slip, not a choice
        raise InputError(f"{option}: an empty path; give a {'folder' if directory else 'file'} name")
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
    """Click callback of every output option (``--out``, ``-o``): :func:`check_writable` at parse time."""
    if value is None:
        return value
    directory = isinstance(param.type, click.Path) and not param.type.file_okay
    check_writable(value, directory=directory, option="/".join(param.opts))
    return value


class DeclaredType(click.ParamType):
    """A click type converting a flag's text through an option declaration (:class:`mecopt.core.options.Option`).

    The flag then has the declaration's type and range: a bad value is exit 2 with click's "Invalid value for
    '--flag'" and the declaration's message ("... must be a finite number in [0, 10]. Got 'inf' instead.").

    Parameters
    ----------
    option : Option
        The declaration.
    owner : str
        Whose option it is, for the message, e.g. ``"the simulation"``.
    """

    def __init__(self, option: Option, owner: str):
        self.option, self.owner = option, owner
        self.name = option.name

    def get_metavar(self, param, ctx=None) -> str:
        """The flag's metavar in ``--help``: what a value must be, shortened (``FLOAT``, ``INTEGER``, ``A|B``)."""
        if self.option.choices is not None:
            return "|".join(str(c) for c in self.option.allowed())
        return {int: "INTEGER", float: "FLOAT", bool: "BOOLEAN"}.get(self.option.type, "TEXT")

    def declaration(self) -> Option:
        """The option's declaration."""
        return self.option

    def convert(self, value, param, ctx):
        """A text value converted and range-checked by the declaration (other values, the defaults, as given)."""
        if not isinstance(value, str):
            return value
        try:
            return self.declaration().convert(value, self.owner, text=True)
        except InputError as err:
            self.fail(str(err), param, ctx)


class DeclaredOption(DeclaredType):
    """A click type converting a flag's text through a method's option declaration.

    ``--time-limit nan`` of ``equilibria`` (GTPOS's ``time_limit``) then fails at parse time,
    exit 2, naming the flag, with the declaration's message ("... must be a finite number > 0,
    or None. Got 'nan' instead.") instead of reaching the solver.

    Parameters
    ----------
    method : str
        The method declaring the option.
    option : str
        The option's declared name.
    """

    def __init__(self, method: str, option: str):
        self.method, self.owner = method, f"method {method!r}"
        self.name = option

    def get_metavar(self, param, ctx=None) -> str | None:
        """None (click's own metavar): the method's registry is read only when a value is converted."""
        return None

    def declaration(self) -> Option:
        """The method's declaration of the option (read from the registry when a value is converted)."""
        from mecopt.methods.registry import option_set

        return option_set(self.method)[self.name]


def parse_method_options(items, option: str = "--option") -> dict[str, dict[str, str]]:
    """``[METHOD:]KEY=VALUE`` items -> ``{METHOD or "*": {KEY: VALUE text}}``.

    Parameters
    ----------
    items : iterable of str
        The values of a repeatable ``--option``.
    option : str
        The option's name, for the message.

    Returns
    -------
    dict
        ``"*"`` holds the items without a method (options for every method that declares them).

    Raises
    ------
    InputError
        An item that is not ``[METHOD:]KEY=VALUE``.

    Examples
    --------
    >>> from mecopt.cli.common import parse_method_options
    >>> parse_method_options(["engine=dp", "gtpos:time_limit=60"])
    {'*': {'engine': 'dp'}, 'gtpos': {'time_limit': '60'}}
    """
    out: dict[str, dict[str, str]] = {}
    for item in items:
        left, sep, value = item.partition("=")
        method, _, key = left.rpartition(":")
        if not sep or not key.strip():
            raise InputError(f"The {option!r} option must look like [METHOD:]KEY=VALUE. Got {item!r} instead.")
        out.setdefault(method.strip() or "*", {})[key.strip()] = value
    return out
