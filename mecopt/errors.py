"""Exceptions of mecopt, all under one base class.

The command line maps them to exit codes: :class:`InputError` -> 2 (bad input),
:class:`InfeasibleError` -> 3, :class:`SolverError` -> 4.
"""

from __future__ import annotations


class MecoptError(Exception):
    """Base class of every error mecopt raises on purpose."""

    exit_code = 1


class InputError(MecoptError, ValueError):
    """Bad input: an instance file, a DNN spec, an assignment table, an option.

    ``problems`` lists every problem found, each as ``(field_path, message)``.
    """

    exit_code = 2

    def __init__(self, message: str, problems: list[tuple[str, str]] | None = None):
        self.problems = list(problems or [])
        if self.problems:
            lines = [message] + [f"  - {path}: {msg}" if path else f"  - {msg}" for path, msg in self.problems]
            message = "\n".join(lines)
        super().__init__(message)


class InfeasibleError(MecoptError):
    """The model has no solution that satisfies the hard constraints."""

    exit_code = 3


class SolverError(MecoptError, RuntimeError):
    """A solver failed or stopped without a usable solution."""

    exit_code = 4


def validation_problems(err) -> list[tuple[str, str]]:
    """A pydantic ``ValidationError`` as ``(field_path, message)`` pairs, one per problem.

    Union branches (``float | tuple``) are folded, so each field is named once.
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
