"""Registry of solution methods: ``solve(instance, method, **options) -> Solution``.

Each entry is imported lazily so that a method's heavier dependencies load only when used.
"""

from __future__ import annotations

import inspect
from importlib import import_module

from mecopt.errors import InputError

#: method name -> "module:function"; every function takes (instance, **options) and returns a Solution
METHODS = {
    "tpos-cai": "mecopt.game.dynamics:solve_cai",
    "tpos-uai": "mecopt.game.dynamics:solve_uai",
    "gtpos": "mecopt.milp.gtpos:solve_gtpos",
    "all-local": "mecopt.baselines:solve_all_local",
    "all-offload": "mecopt.baselines:solve_all_offload",
    "isolated": "mecopt.baselines:solve_isolated",
}


def get(method: str):
    if method not in METHODS:
        raise InputError(f"The 'method' option must be one of {', '.join(METHODS)}. Got {method!r} instead.")
    module, func = METHODS[method].split(":")
    return getattr(import_module(module), func)


def solve(instance, method: str, **options):
    return get(method)(instance, **options)


def accepted_options(method: str) -> set[str]:
    """The keyword options ``method``'s function names explicitly (a catch-all ``**_`` does not
    count: a method that merely swallows ``seed`` is deterministic and runs once per sweep point)."""
    params = inspect.signature(get(method)).parameters.values()
    return {p.name for p in params
            if p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)} - {"instance"}
