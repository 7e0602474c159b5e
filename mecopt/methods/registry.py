"""Solution methods by name: ``solve(instance, method, **options) -> Solution``.

Built-in methods are imported lazily (a method's heavier dependencies load only
when it is used). Other packages add methods in two ways, and either way the
method appears in ``mecopt solve --method``, ``compare --methods``, ``sweep`` and
the Python API:

- [register_method][mecopt.register_method] at run time;
- an entry point in the ``mecopt.methods`` group, e.g. in the other package's
  ``pyproject.toml``::

      [project.entry-points."mecopt.methods"]
      greedy = "mypkg.greedy:solve"

A method is a function ``f(instance, *, option=default, ...)``. It returns a
[Solution][mecopt.Solution] or just the profile (one slot vector per
device, 0 = local), which is wrapped in one. Every solution is re-scored by the
shared cost model and checked by ``mecopt.core.checker``, never trusted as given.
Options are strict: a name the function does not declare raises
[InputError][mecopt.InputError] listing the valid ones.

Instances with several servers (docs/multiserver.md) go only to methods whose
function carries ``multi_server = True`` (:func:`several_servers` sets it); any other
method is refused with an InputError before it runs. Such a method returns a
Solution whose ``server_of`` gives each device's server.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from mecopt.bestresponse.engines import engine_names
from mecopt.core.errors import InputError
from mecopt.core.options import Option, OptionSet, option_set_of
from mecopt.core.registry import Registry, resolve

ENTRY_POINT_GROUP = "mecopt.methods"

#: built-in methods: name -> "module:function"
BUILTIN = {
    "tpos-cai": "mecopt.methods.tpos:solve_cai",
    "tpos-uai": "mecopt.methods.tpos:solve_uai",
    "gtpos": "mecopt.methods.gtpos:solve_gtpos",
    "tpos-best": "mecopt.methods.tpos_best:solve_best",
    "all-local": "mecopt.methods.baselines:solve_all_local",
    "all-offload": "mecopt.methods.baselines:solve_all_offload",
    "isolated": "mecopt.methods.baselines:solve_isolated",
}

#: the method registry: built-in, entry points of :data:`ENTRY_POINT_GROUP`, registered
REGISTRY = Registry("method", BUILTIN, group=ENTRY_POINT_GROUP)
#: every method: name -> "module:function" or the function itself (the registry's entries)
METHODS: dict[str, str | Callable] = REGISTRY.entries

# ---------------------------------------------------------------- options several methods declare
#: the best-response engine (problem (28)): dp, milp, or a registered one
ENGINE = Option("engine", str, "best-response engine for problem (28): dp (exact dynamic program) or milp "
                "(Pyomo + HiGHS), or a registered one", choices=engine_names)
#: the seed of a method's random draws
SEED = Option("seed", int, "seed of the random draws (numpy.random.default_rng)", ge=0)
#: a time limit in seconds (None: the method's own rule)
TIME_LIMIT = Option("time_limit", float, "time limit in seconds", gt=0, nullable=True)
#: a progress callback (Python only; the command line shows its own display)
PROGRESS = Option("progress", "callable", "called with the method's progress (Python only)", nullable=True)


def method_names() -> list[str]:
    """Every method available: built-in, from ``mecopt.methods`` entry points, and registered.

    Returns
    -------
    list of str
        The names [mecopt.solve][] (and ``mecopt solve --method``) accepts, built-in first.

    Examples
    --------
    >>> import mecopt
    >>> mecopt.method_names()[:7]
    ['tpos-cai', 'tpos-uai', 'gtpos', 'tpos-best', 'all-local', 'all-offload', 'isolated']
    """
    return REGISTRY.names()


def register_method(name: str, function: Callable, *, replace: bool = False) -> None:
    """Make ``function`` available as method ``name`` in every command and in [solve][mecopt.solve].

    Parameters
    ----------
    name : str
        The method's name, e.g. ``"greedy"``.
    function : callable
        ``function(instance, *, option=default, ...)`` returning a
        [Solution][mecopt.Solution] or a profile (one slot vector per device); for an
        instance with several servers, a dict ``{"profile": ..., "server_of": ...}``
        (``server_of[n]``: index of device n's server, -1 = all local; docs/multiserver.md)
        — such a function must be marked with :func:`several_servers`.
    replace : bool, default False
        Allow replacing a method of the same name.

    Returns
    -------
    None

    Raises
    ------
    ValueError
        When ``name`` is taken and ``replace`` is False, ``name`` holds ``,``, ``:``, ``=``
        or a space, or ``function`` is not callable.

    Notes
    -----
    The function's keyword parameters are the method's options: [mecopt.solve][]
    refuses any other. Its result is re-scored by the shared cost model and checked;
    a returned profile that breaks a hard constraint gets termination ``infeasible``
    and lists its violations. ``mecopt sweep`` runs methods in spawned worker
    processes, which import the function by module and name: register a function
    defined at the top level of an importable module for that.

    Examples
    --------
    >>> import mecopt
    >>> def all_local(instance):
    ...     return [[0] * d.M for d in instance.devices]
    >>> mecopt.register_method("my-local", all_local, replace=True)
    >>> "my-local" in mecopt.method_names()
    True
    >>> sol = mecopt.solve(mecopt.load_instance("paper:fig6-w1khz"), "my-local")
    >>> str(sol.termination), sol.feasible, round(sol.summary()["avg_delay_s"], 4)
    ('feasible', True, 4.5619)
    """
    if not callable(function):
        raise ValueError(f"method {name!r}: {function!r} is not callable")
    if not name or not isinstance(name, str) or any(c in name for c in ", :="):
        raise ValueError(f"method name {name!r} must be a non-empty string without ',', ':', '=' or spaces")
    REGISTRY.register(name, function, replace=replace)


def get(method: str) -> Callable:
    """The function behind ``method`` (InputError for an unknown name).

    Parameters
    ----------
    method : str
        A method name.

    Returns
    -------
    Callable
        The method function.
    """
    return REGISTRY.get(method)


def several_servers(function: Callable) -> Callable:
    """Mark a method function as solving instances with several servers (docs/multiserver.md).

    Methods without the mark are refused on such instances before they run.

    Parameters
    ----------
    function : callable
        A method function (see [register_method][mecopt.register_method]); it must return a
        [Solution][mecopt.Solution] with ``server_of``, or ``{"profile": ..., "server_of": ...}``.

    Returns
    -------
    callable
        The same function with ``multi_server = True``, so this serves as a decorator.

    Examples
    --------
    >>> import mecopt
    >>> @mecopt.several_servers
    ... def all_local(instance):
    ...     return {"profile": [[0] * d.M for d in instance.devices], "server_of": [-1] * instance.N}
    >>> mecopt.register_method("my-local-k", all_local, replace=True)
    >>> inst = mecopt.Instance.from_dict({"servers": [{}, {}], "devices": [{"dnn": "lenet", "count": 2}]})
    >>> sol = mecopt.solve(inst, "my-local-k")
    >>> inst.K, str(sol.termination), sol.server_of.tolist()
    (2, 'feasible', [-1, -1])
    """
    function.multi_server = True
    return function


def supports_several_servers(method: str) -> bool:
    """True when ``method`` solves instances with several servers (its function has ``multi_server = True``).

    Parameters
    ----------
    method : str
        A method name.

    Returns
    -------
    bool
        Whether the method solves instances with several servers.
    """
    return bool(getattr(get(method), "multi_server", False))


def multi_server_methods() -> list[str]:
    """The methods that solve instances with several servers (a method that cannot be loaded is left out).

    Returns
    -------
    list[str]
        The method names.
    """
    out = []
    for name in method_names():
        try:
            if supports_several_servers(name):
                out.append(name)
        except InputError:
            continue
    return out


def require_support(fn: Callable, method: str, instance) -> None:
    """InputError when ``instance`` has several servers and method ``method``.

    (function ``fn``) does not solve such instances: refused before it runs (the CLI exits 2).

    Parameters
    ----------
    fn : Callable
        The method function.
    method : str
        Its name.
    instance : object
        The instance.

    Raises
    ------
    InputError
        When the method cannot solve the instance's several servers.
    """
    if getattr(instance, "K", 1) <= 1 or getattr(fn, "multi_server", False):
        return
    names = ", ".join(s.name for s in instance.servers)
    raise InputError(f"method {method!r} does not solve instances with several servers; instance "
                     f"{instance.name} has {instance.K} ({names}). Methods that do: "
                     f"{', '.join(multi_server_methods())} (docs/multiserver.md)")


def accepted_options(method: str) -> list[str]:
    """The options ``method`` accepts: the keyword parameters its function declares.

    Parameters
    ----------
    method : str
        A method name.

    Returns
    -------
    list[str]
        The option names, in signature order.
    """
    return option_set(method).names()


def option_set(method: str) -> OptionSet:
    """The options of ``method``, each with its type, range or choices, default and doc.

    Parameters
    ----------
    method : str
        A method name ([method_names][mecopt.method_names]).

    Returns
    -------
    OptionSet
        The method's declaration (:func:`mecopt.core.options.declare_options`), or for a
        method registered without one, the options derived from its function's signature.

    Raises
    ------
    InputError
        When ``method`` is unknown.

    Examples
    --------
    >>> from mecopt.methods.registry import option_set
    >>> opt = option_set("gtpos")["mip_rel_gap"]
    >>> opt.describe(), opt.default
    ('a finite number in [0, 1)', 1e-06)
    """
    return option_set_of(get(method))


def validate_options(method: str, options: Mapping[str, Any], *, text: bool = False) -> dict:
    """``options`` of ``method`` converted and range-checked, before any work.

    Parameters
    ----------
    method : str
        A method name.
    options : mapping of str to object
        Option values.
    text : bool, default False
        String values are command-line text, read by the option's type (``"60"``, ``"true"``).

    Returns
    -------
    dict
        The options with converted values (what the method receives).

    Raises
    ------
    InputError
        An unknown method or option name (the message lists the valid ones), or a value
        outside the option's type, range or choices, e.g. "The 'time_limit' option of
        method 'gtpos' must be a finite number > 0, or None. Got 'abc' instead."

    Examples
    --------
    >>> from mecopt.methods.registry import validate_options
    >>> validate_options("gtpos", {"time_limit": "60", "threads": "2", "solver": "highs"}, text=True)
    {'time_limit': 60, 'threads': 2, 'solver': 'highs'}
    """
    return option_set(method).validate(options, f"method {method!r}", text=text)


def target(method: str) -> str:
    """An importable ``module:function`` reference of ``method`` (for worker processes).

    Worker processes (``sweep``, ``reproduce``) are spawned: they import the method's
    function by this reference instead of inheriting the registration. A function that
    cannot be imported that way (defined in ``__main__``, a notebook, or inside another
    function) is an [InputError][mecopt.InputError] here, before any run starts.

    Parameters
    ----------
    method : str
        A method name.

    Returns
    -------
    str
        The ``module:function`` reference.

    Raises
    ------
    InputError
        When the method has no importable reference (registered in this process only).
    """
    fn = get(method)
    ref = f"{getattr(fn, '__module__', None)}:{getattr(fn, '__qualname__', None)}"
    try:
        found = _resolve(ref)
    except (ImportError, AttributeError, ValueError):
        found = None
    if found is not fn:
        raise InputError(f"method {method!r} ({ref}) cannot run in worker processes: they import it by "
                         f"module and name, so define it at the top level of an importable module "
                         f"(not in __main__, a notebook or a function) and register that")
    return ref


def _resolve(ref: str) -> Callable:
    if ref.partition(":")[0] == "__main__":
        raise ValueError("__main__ is not importable in a worker process")
    return resolve(ref)


def solve(instance, method: str, **options):
    """Run ``method`` on ``instance`` with strictly checked ``options``; always a Solution.

    Parameters
    ----------
    instance : object
        The instance.
    method : str
        A method name.
    **options
        The method's options.

    Returns
    -------
    Solution
        The solution.
    """
    return run(get(method), method, instance, options)


def run_target(target_ref: str, method: str, instance, options: dict):
    """[solve][mecopt.solve] through a ``module:function`` reference (what worker processes receive).

    Parameters
    ----------
    target_ref : str
        A ``module:function`` reference.
    method : str
        The method's name.
    instance : object
        The instance.
    options : dict
        The method's options.

    Returns
    -------
    Solution
        The solution.
    """
    return run(_resolve(target_ref), method, instance, options)


def run(fn: Callable, method: str, instance, options: dict):
    """Call method function ``fn`` with checked ``options``; wrap a bare profile in a Solution.

    Parameters
    ----------
    fn : Callable
        The method function.
    method : str
        The method's name.
    instance : object
        The instance.
    options : dict
        The method's options.

    Returns
    -------
    Solution
        The solution.

    Raises
    ------
    InputError
        For a bad option, or an instance the method cannot solve.
    """
    from mecopt.core.solution import Solution, Termination

    options = option_set_of(fn).validate(options, f"method {method!r}")
    require_support(fn, method, instance)
    t0 = time.perf_counter()
    result = fn(instance, **options)
    if isinstance(result, Solution):
        return result
    server_of = None
    if isinstance(result, dict):   # several servers: {"profile": [...], "server_of": [...]}
        if set(result) != {"profile", "server_of"}:
            raise InputError(f"method {method!r} returned a dict with keys {sorted(result)}; expected "
                             "'profile' and 'server_of'")
        result, server_of = result["profile"], np.asarray(result["server_of"], dtype=int).reshape(-1)
        if server_of.shape != (instance.N,):
            raise InputError(f"method {method!r} returned {server_of.size} servers for {instance.N} devices")
    elif instance.K > 1:
        raise InputError(f"method {method!r} returned a bare profile on an instance with several servers; it must "
                         "return a Solution with server_of, or {'profile': ..., 'server_of': ...}")
    try:
        profile = [np.asarray(s, dtype=int).reshape(-1) for s in result]
    except (TypeError, ValueError) as err:
        raise InputError(f"method {method!r} returned {type(result).__name__}, not a Solution or a profile") from err
    if len(profile) != instance.N or any(len(s) != d.M for s, d in zip(profile, instance.devices)):
        raise InputError(f"method {method!r} returned a profile that does not match the instance "
                         f"({instance.N} devices with {[d.M for d in instance.devices]} layers)")
    wall = time.perf_counter() - t0
    sol = Solution(method=method, instance=instance, profile=profile, termination=Termination.FEASIBLE,
                   status="profile returned by the method; re-scored and checked by mecopt", wall_time=wall,
                   server_of=server_of if instance.K > 1 else None)
    if sol.violations:   # the method claimed nothing; the checker says the profile breaks a hard constraint
        sol = sol.replace(termination=Termination.INFEASIBLE,
                          status=("profile returned by the method violates "
                                  + ", ".join(sorted({v.equation for v in sol.violations}))
                                  + f" ({len(sol.violations)} violation(s)); re-scored and checked by mecopt"))
    return sol
