"""Exceptions of mecopt, all under one base class.

The command line maps them to exit codes: [InputError][mecopt.InputError] -> 2 (bad input),
[InfeasibleError][mecopt.InfeasibleError] -> 3, [SolverError][mecopt.SolverError] -> 4.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError


class MecoptError(Exception):
    """Base class of every error mecopt raises on purpose.

    ``exit_code`` is the command line's exit status for the error.

    Examples
    --------
    >>> import mecopt
    >>> issubclass(mecopt.InputError, mecopt.MecoptError), mecopt.InputError.exit_code
    (True, 2)
    """

    exit_code = 1


class InputError(MecoptError, ValueError):
    """Bad input: an instance file, a DNN spec, an assignment table, an option.

    Also a ``ValueError``. The command line exits with status 2.

    Parameters
    ----------
    message : str
        What is wrong.
    problems : list of (str, str), optional
        Every problem found, each as ``(field_path, message)``; kept in ``problems``
        and listed under ``message``.

    Examples
    --------
    >>> import mecopt
    >>> inst = mecopt.load_instance("paper:fig6-w1khz")
    >>> try:
    ...     mecopt.solve(inst, "tpos-cai", engin="dp")
    ... except mecopt.InputError as err:
    ...     print(err)
    The 'engin' option is not accepted by method 'tpos-cai'. Valid options: engine, seed, wake_prob, eps, stop,
    max_iter, tol, init, time_limit, progress.
    """

    exit_code = 2

    def __init__(self, message: str, problems: list[tuple[str, str]] | None = None):
        self.problems = list(problems or [])
        if self.problems:
            lines = [message] + [f"  - {path}: {msg}" if path else f"  - {msg}"
                                 for path, msg in merge_repeated(self.problems)]
            message = "\n".join(lines)
        super().__init__(message)


class InfeasibleError(MecoptError):
    """The model has no solution that satisfies the hard constraints.

    Raised by [mecopt.solve][] when GTPOS proves its model infeasible; the command
    line exits with status 3.

    Examples
    --------
    >>> import mecopt
    >>> mecopt.InfeasibleError.exit_code
    3
    """

    exit_code = 3


class SolverError(MecoptError, RuntimeError):
    """A solver failed or stopped without a usable solution.

    Also a ``RuntimeError``. The command line exits with status 4.

    Examples
    --------
    >>> import mecopt
    >>> mecopt.SolverError.exit_code
    4
    """

    exit_code = 4


def validation_problems(err: ValidationError) -> list[tuple[str, str]]:
    """A pydantic ``ValidationError`` as ``(field_path, message)`` pairs, one per problem.

    Union branches (``float | tuple``) are folded, so each field is named once.

    Parameters
    ----------
    err : ValidationError
        The pydantic error.

    Returns
    -------
    list[tuple[str, str]]
        ``(field_path, message)`` per problem.
    """
    out: list[tuple[str, str]] = []
    for e in err.errors():
        path = ".".join(str(p) for p in e["loc"] if not str(p).startswith(("float", "tuple", "list[")))
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown field"
        elif e["type"] != "missing" and not isinstance(e.get("input"), dict | list):
            got = repr(e.get("input"))
            msg += f" (got {got if len(got) <= 80 else got[:77] + '...'})"
        if (path, msg) not in out:
            out.append((path, msg))
    return out


#: entries named when :func:`merge_repeated` folds a problem (the rest are counted)
SHOWN_ENTRIES = 3


def merge_repeated(problems: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Problems that differ only in a list index, folded into one line per field with a count.

    An unknown field in every device entry of a 200-device file is one line,
    ``devices.*.foo: unknown field (200 entries: devices.0, devices.1, devices.2 and 197 more)``,
    not 200. A problem that occurs once keeps its own path; the order of first occurrence is kept.

    Parameters
    ----------
    problems : list of (str, str)
        ``(field_path, message)`` pairs, e.g. :attr:`InputError.problems`.

    Returns
    -------
    list of (str, str)
        One pair per (path with indices as ``*``, message).

    Examples
    --------
    >>> merge_repeated([("devices.0.foo", "unknown field"), ("devices.1.foo", "unknown field"),
    ...                 ("server.slots", "must be >= 1")])
    [('devices.*.foo', 'unknown field (2 entries: devices.0, devices.1)'), ('server.slots', 'must be >= 1')]
    """
    groups: dict[tuple[str, str], list[str]] = {}
    for path, msg in problems:
        parts = path.split(".")
        pattern = ".".join("*" if p.isdigit() else p for p in parts)
        groups.setdefault((pattern, msg), []).append(path)
    out = []
    for (pattern, msg), paths in groups.items():
        if len(paths) == 1:
            out.append((paths[0], msg))
            continue
        entries = list(dict.fromkeys(_entry(p) for p in paths))
        shown = ", ".join(entries[:SHOWN_ENTRIES])
        more = f" and {len(entries) - SHOWN_ENTRIES} more" if len(entries) > SHOWN_ENTRIES else ""
        out.append((pattern, f"{msg} ({len(paths)} entries: {shown}{more})"))
    return out


def _entry(path: str) -> str:
    """``devices.7.foo`` -> ``devices.7``: the path up to its last list index."""
    parts = path.split(".")
    last = max((i for i, p in enumerate(parts) if p.isdigit()), default=len(parts) - 1)
    return ".".join(parts[:last + 1])
