"""Option validation, in one place and one message format.

Every public entry point (methods, engines, MILP backends, studies) checks its
keyword options here, so that a misspelled option always fails loudly with the
valid names, and a bad value always reads "The 'x' option must be ... Got ... instead."
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable

from mecopt.core.errors import InputError


def accepted_options(function: Callable) -> list[str]:
    """The keyword options ``function`` names explicitly (its first positional parameter,
    the instance, excluded), in signature order."""
    params = list(inspect.signature(function).parameters.values())
    names = [p.name for p in params
             if p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    return names[1:] if names and params[0].kind != inspect.Parameter.KEYWORD_ONLY else names


def check_option_names(owner: str, given: Iterable[str], valid: Iterable[str]) -> None:
    """Raise :class:`InputError` when ``given`` holds a name not in ``valid``.

    ``owner`` says whose options they are, e.g. ``"method 'tpos-cai'"``.
    """
    valid = list(valid)
    unknown = [k for k in given if k not in valid]
    if unknown:
        names = ", ".join(repr(k) for k in unknown)
        hint = ", ".join(valid) if valid else "none"
        raise InputError(f"The {names} option{'s are' if len(unknown) > 1 else ' is'} not accepted by {owner}. "
                         f"Valid options: {hint}.")


def check_choice(name: str, value, choices: Iterable) -> None:
    """Raise :class:`InputError` unless ``value`` is one of ``choices``."""
    choices = list(choices)
    if value not in choices:
        raise InputError(f"The {name!r} option must be one of {', '.join(map(str, choices))}. Got {value!r} instead.")
