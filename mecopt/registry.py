"""Solution methods by name: ``solve(instance, method, **options) -> Solution``.

Built-in methods are imported lazily (a method's heavier dependencies load only
when it is used). Other packages add methods in two ways, and either way the
method appears in ``mecopt solve --method``, ``compare --methods``, ``sweep`` and
the Python API:

- :func:`register_method` at run time;
- an entry point in the ``mecopt.methods`` group, e.g. in the other package's
  ``pyproject.toml``::

      [project.entry-points."mecopt.methods"]
      greedy = "mypkg.greedy:solve"

A method is a function ``f(instance, *, option=default, ...)``. It returns a
:class:`~mecopt.solution.Solution` or just the profile (one slot vector per
device, 0 = local), which is wrapped in one. Every solution is re-scored by the
shared cost model and checked by :mod:`mecopt.constraints`, never trusted as given.
Options are strict: a name the function does not declare raises
:class:`~mecopt.errors.InputError` listing the valid ones.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from importlib import import_module
from importlib.metadata import entry_points

import numpy as np

from mecopt.errors import InputError
from mecopt.options import accepted_options as _signature_options
from mecopt.options import check_option_names

ENTRY_POINT_GROUP = "mecopt.methods"

#: built-in methods: name -> "module:function"
BUILTIN = {
    "tpos-cai": "mecopt.game.dynamics:solve_cai",
    "tpos-uai": "mecopt.game.dynamics:solve_uai",
    "gtpos": "mecopt.milp.gtpos:solve_gtpos",
    "tpos-best": "mecopt.milp.potential:solve_best",
    "all-local": "mecopt.baselines:solve_all_local",
    "all-offload": "mecopt.baselines:solve_all_offload",
    "isolated": "mecopt.baselines:solve_isolated",
}

#: every method: name -> "module:function" or the function itself
METHODS: dict[str, str | Callable] = dict(BUILTIN)
_entry_points_loaded = False


def _load_entry_points() -> None:
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        METHODS.setdefault(ep.name, ep.value)


def method_names() -> list[str]:
    """Every method available: built-in, from entry points, and registered."""
    _load_entry_points()
    return list(METHODS)


def register_method(name: str, function: Callable, *, replace: bool = False) -> None:
    """Make ``function`` available as method ``name`` in every command and in :func:`solve`.

    Parameters
    ----------
    name : str
        The method's name, e.g. ``"greedy"``.
    function : callable
        ``function(instance, *, option=default, ...)`` returning a
        :class:`~mecopt.solution.Solution` or a profile (one slot vector per device).
    replace : bool, default False
        Allow replacing a method of the same name.

    Raises
    ------
    ValueError
        When ``name`` is taken and ``replace`` is False, or ``function`` is not callable.

    Examples
    --------
    >>> import mecopt
    >>> def all_local(instance):
    ...     return [[0] * d.M for d in instance.devices]
    >>> mecopt.register_method("my-local", all_local, replace=True)
    >>> "my-local" in mecopt.method_names()
    True
    """
    _load_entry_points()
    if not callable(function):
        raise ValueError(f"method {name!r}: {function!r} is not callable")
    if not name or not isinstance(name, str) or any(c in name for c in ", :="):
        raise ValueError(f"method name {name!r} must be a non-empty string without ',', ':', '=' or spaces")
    if name in METHODS and not replace:
        raise ValueError(f"method {name!r} is already registered (pass replace=True)")
    METHODS[name] = function


def get(method: str) -> Callable:
    """The function behind ``method`` (InputError for an unknown name)."""
    _load_entry_points()
    if method not in METHODS:
        raise InputError(f"The 'method' option must be one of {', '.join(METHODS)}. Got {method!r} instead.")
    target = METHODS[method]
    if callable(target):
        return target
    module, func = target.split(":")
    try:
        return getattr(import_module(module), func)
    except (ImportError, AttributeError) as err:
        raise InputError(f"method {method!r} ({target}) cannot be loaded: {err}") from None


def accepted_options(method: str) -> list[str]:
    """The options ``method`` accepts: the keyword parameters its function declares."""
    return _signature_options(get(method))


def target(method: str) -> str:
    """An importable ``module:function`` reference of ``method`` (for worker processes)."""
    fn = get(method)
    return f"{fn.__module__}:{fn.__qualname__}"


def solve(instance, method: str, **options):
    """Run ``method`` on ``instance`` with strictly checked ``options``; always a Solution."""
    return run(get(method), method, instance, options)


def run_target(target_ref: str, method: str, instance, options: dict):
    """:func:`solve` through a ``module:function`` reference (what worker processes receive)."""
    module, func = target_ref.split(":")
    fn = import_module(module)
    for part in func.split("."):
        fn = getattr(fn, part)
    return run(fn, method, instance, options)


def run(fn: Callable, method: str, instance, options: dict):
    """Call method function ``fn`` with checked ``options``; wrap a bare profile in a Solution."""
    from mecopt.solution import Solution, Termination

    check_option_names(f"method {method!r}", options, _signature_options(fn))
    t0 = time.perf_counter()
    result = fn(instance, **options)
    if isinstance(result, Solution):
        return result
    try:
        profile = [np.asarray(s, dtype=int).reshape(-1) for s in result]
    except (TypeError, ValueError) as err:
        raise InputError(f"method {method!r} returned {type(result).__name__}, not a Solution or a profile") from err
    if len(profile) != instance.N or any(len(s) != d.M for s, d in zip(profile, instance.devices)):
        raise InputError(f"method {method!r} returned a profile that does not match the instance "
                         f"({instance.N} devices with {[d.M for d in instance.devices]} layers)")
    return Solution(method=method, instance=instance, profile=profile, termination=Termination.FEASIBLE,
                    status="profile returned by a registered method; re-scored and checked by mecopt",
                    wall_time=time.perf_counter() - t0)
