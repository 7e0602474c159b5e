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
            from mecopt.core.document import merge_repeated  # (document imports this module)

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
