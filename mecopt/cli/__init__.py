"""The ``mecopt`` command line: a thin layer over the library.

Every module in :mod:`mecopt.cli.commands` that defines ``commands`` (a list of
click commands) is registered. Exit codes: 0 success, 2 bad input (or an output that
cannot be written), 3 infeasible, 4 solver failure, 5 some runs of a sweep or study failed,
130 interrupted, 1 anything
unexpected (a bug: please report it).
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

import click

from mecopt.core.version import __version__
from mecopt.core import interrupt
from mecopt.core.errors import InputError, MecoptError
from mecopt.cli import commands as _commands_pkg


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="mecopt")
def cli():
    """DNN task partitioning and offloading in mobile edge computing (Gao et al.).

    Solve benchmark instances with the aggregative game (TPOS-CAI / TPOS-UAI), the
    centralized optimum (GTPOS) and the baselines, check any assignment against
    constraints (15)-(17), (26), (27), and export the tables.
    """


def _register() -> None:
    for info in sorted(pkgutil.iter_modules(_commands_pkg.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{_commands_pkg.__name__}.{info.name}")
        for command in getattr(module, "commands", []):
            cli.add_command(command)


_register()


def main(argv: list[str] | None = None) -> None:
    """Console entry point: maps mecopt errors to exit codes and one-paragraph messages.

    An interrupt (Ctrl-C, SIGINT, SIGTERM) exits 130 with "interrupted", also when a solver
    swallowed it and reported a failure (:mod:`mecopt.core.interrupt`). An output that cannot be
    written (read-only folder, full disk) exits 2 naming the file.
    """
    try:
        with interrupt.handling():
            try:
                code = cli.main(args=argv, prog_name="mecopt", standalone_mode=False)
            except MecoptError:
                interrupt.check()
                raise
        # click returns (instead of raising) the code of ctx.exit(n) when standalone_mode is False
        if isinstance(code, int) and not isinstance(code, bool) and code != 0:
            sys.exit(code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort as exc:
        if isinstance(exc.__cause__, KeyboardInterrupt):    # click turns Ctrl-C into Abort
            click.echo("interrupted", err=True)
            _exit_interrupted(hard=argv is None)
        click.echo("Aborted.", err=True)
        sys.exit(1)
    except MecoptError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        _exit_interrupted(hard=argv is None)
    except OSError as exc:
        # writing an output: disk full, read-only file system, permission denied (inputs are
        # reported by the readers as InputError); earlier outputs stay intact (atomic writes)
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        click.echo(f"error: {exc.strerror or exc}{where}", err=True)
        sys.exit(InputError.exit_code)


#: exit code of an interrupted command (128 + SIGINT, as shells report it)
INTERRUPTED = 130


def _exit_interrupted(hard: bool) -> None:
    """Exit with :data:`INTERRUPTED`; ``hard`` (the console entry point, not a call from Python) exits at once.

    Outputs are already safe (every file is written atomically and temporary files are removed as the interrupt
    unwinds); skipping the interpreter's teardown avoids native solver threads (OR-Tools) aborting the process at exit
    when a search was stopped early.
    """
    import os

    if not hard:
        sys.exit(INTERRUPTED)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(INTERRUPTED)

