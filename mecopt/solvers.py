"""Registry of solution methods: ``solve(instance, method, **options) -> Solution``.

Each entry is imported lazily so that a method's heavier dependencies load only when used.
"""

from __future__ import annotations

from importlib import import_module

from .errors import InputError

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
