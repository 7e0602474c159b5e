"""The front door: load an instance, solve it, compare methods, check an assignment.

Everything here is re-exported by ``mecopt``; see ``docs/api.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from mecopt.core import checker as checkmod
from mecopt.core.errors import InputError
from mecopt.core.instance import Instance
from mecopt.core.instance import load_instance as _load_instance
from mecopt.core.solution import Solution
from mecopt.methods import registry


def load_instance(path_or_name: str | Path) -> Instance:
    """Read and validate an instance file, or a bundled instance by name.

    Parameters
    ----------
    path_or_name : str or Path
        A TOML instance file, or a bundled instance ``COLLECTION:NAME`` such as
        ``"paper:fig6-w1khz"`` (see [mecopt.bundled_instances][]).

    Returns
    -------
    Instance
        Per-device numbers (layer times, data sizes, rates) and the server.

    Raises
    ------
    InputError
        When the file is missing or invalid; every problem is listed with its field path.

    Examples
    --------
    >>> import mecopt
    >>> inst = mecopt.load_instance("paper:fig6-w1khz")
    >>> inst.N, inst.server.H
    (5, 5)
    """
    return _load_instance(path_or_name)


def solve(instance: Instance, method: str, **options) -> Solution:
    """Solve ``instance`` with one method.

    Parameters
    ----------
    instance : Instance
        The instance ([load_instance][mecopt.load_instance] or [Instance.from_dict][mecopt.Instance.from_dict]).
    method : str
        ``"tpos-cai"``, ``"tpos-uai"`` (the game, Alg. 1-2), ``"gtpos"`` (the centralized
        MILP), ``"all-local"``, ``"all-offload"`` (Cases 4 and 3), ``"isolated"``, or a
        method added with [mecopt.register_method][] or a ``mecopt.methods`` entry point.
    **options
        The method's options, e.g. ``engine="dp"``, ``seed=1``, ``time_limit=60``, each
        declared once by the method with its type, range or choices and default:
        ``mecopt.methods.registry.option_set(method)`` lists them (``mecopt solve -m METHOD
        --help`` too). Every value is checked before any work.

    Returns
    -------
    Solution
        The assignment with why the method stopped (``termination``), its figures
        re-scored by the shared cost model, and the constraint check.

    Raises
    ------
    InputError
        Unknown method or option (the message lists the valid ones), or a value outside the
        option's type, range or choices (the message says which values go).
    InfeasibleError
        GTPOS with no assignment meeting every hard constraint.
    SolverError
        The solver failed or stopped without a usable solution.

    Examples
    --------
    >>> import mecopt
    >>> inst = mecopt.load_instance("paper:fig6-w1khz")
    >>> sol = mecopt.solve(inst, "gtpos")
    >>> str(sol.termination), round(sol.summary()["avg_delay_s"], 4)
    ('optimal', 3.4905)
    >>> mecopt.solve(inst, "tpos-cai", engin="dp")
    Traceback (most recent call last):
    ...
    mecopt.core.errors.InputError: The 'engin' option is not accepted by method 'tpos-cai'. Valid options: ...
    >>> mecopt.solve(inst, "gtpos", time_limit=-1)
    Traceback (most recent call last):
    ...
    mecopt.core.errors.InputError: The 'time_limit' option of method 'gtpos' must be a finite number > 0, or None.
    Got -1 instead.
    """
    if not isinstance(instance, Instance):
        raise InputError(f"solve() needs an Instance (mecopt.load_instance), got {type(instance).__name__}")
    return registry.solve(instance, method, **options)


def compare(instance: Instance, methods: Sequence[str] | str | None = None, **options):
    """Run several methods on one instance, side by side (the paper's Cases 1-4).

    Parameters
    ----------
    instance : Instance
        The instance every method solves.
    methods : sequence of str or str, optional
        Method names (or one comma-separated string); default every built-in method (with
        several servers, every built-in method that solves such instances).
    **options
        ``time_limit``, ``seed``, ``engine``, ``draws``: each is passed to the methods that
        declare it (``engine`` defaults to TPOS-CAI's, for every method that takes one);
        ``options``: each method's own options under their declared names, e.g.
        ``options={"gtpos": {"objective": "social", "solver": "highs"}}`` (``"*"``: every method
        that declares them); ``gtpos_objective``, ``gtpos_solver``: older spellings of GTPOS's
        ``objective`` and ``solver``; ``spread``: add the best and worst certified equilibria over
        that many seeds; ``progress``: a function ``method ->`` context manager entered while the
        method runs, yielding the callback passed as the method's ``progress`` option (or None);
        ``budget``: seconds for the whole comparison; ``out``, ``fmt``, ``resume``: write each
        method's folder as it finishes and continue an interrupted comparison
        (``mecopt.studies.compare.compare``).
        Every value is checked against the methods' declarations before any method runs.

    Returns
    -------
    table : pandas.DataFrame
        One row per method: average delay, energy, cost, feasibility, termination,
        gap and the ratios to GTPOS, each named by what it divides (the equilibrium-to-optimum
        ratio as an interval when GTPOS did not prove its optimum).
    solutions : dict of str to Solution
        The solution of every method that returned one.

    Raises
    ------
    InputError
        Unknown method or option, or a value outside its option's type, range or choices.

    Examples
    --------
    >>> import mecopt
    >>> inst = mecopt.load_instance("paper:fig6-w1khz")
    >>> table, sols = mecopt.compare(inst, methods=["tpos-cai", "gtpos"], engine="dp",
    ...                              options={"gtpos": {"solver": "highs"}})
    >>> list(table["method"]), sols["gtpos"].engine
    (['tpos-cai', 'gtpos'], 'highs')
    """
    from mecopt.core.options import accepted_options, check_option_names
    from mecopt.studies.compare import compare as _compare

    check_option_names("compare()", options, [o for o in accepted_options(_compare) if o != "methods"])
    return _compare(instance, methods=methods, **options)


def check(instance: Instance, assignment, server_of=None) -> list[checkmod.Violation]:
    """Check an assignment against constraints (15)-(17), (26) and (27).

    With several servers (docs/multiserver.md) also the association (15s), and every
    per-server violation names its server.

    Parameters
    ----------
    instance : Instance
        The instance the assignment is for.
    assignment : Solution, pandas.DataFrame, str, Path or list of arrays
        A solution; a table with columns ``device``, ``layer``, ``slot`` (slot 0 = local),
        with several servers also ``server`` (the server of each offloaded layer);
        a path to such a table or to a folder written by [Solution.write][mecopt.Solution.write]; or a
        profile (one slot vector per device).
    server_of : sequence of int, optional
        With several servers and a profile: the index of each device's server (-1 = all
        local). Ignored otherwise (a Solution carries its own, a table has its ``server`` column).

    Returns
    -------
    list of Violation
        Every violated constraint with its equation number, device, slot or layer,
        amount and tolerance; empty when the assignment is feasible.

    Raises
    ------
    InputError
        When the assignment cannot be read or does not match the instance.

    Examples
    --------
    >>> import mecopt
    >>> inst = mecopt.load_instance("paper:fig6-w1khz")
    >>> mecopt.check(inst, [[0] * d.M for d in inst.devices])   # all local: feasible
    []
    """
    if isinstance(assignment, Solution):
        return checkmod.check_profile(instance, assignment.profile, assignment.server_of)
    if isinstance(assignment, str | Path):
        from mecopt.core.solution import read_assignment

        assignment = read_assignment(assignment)   # a table or a result folder, by the one reader
    if isinstance(assignment, pd.DataFrame):
        return checkmod.check_y(instance, checkmod.assignment_to_y(instance, assignment))
    try:
        profile = [np.asarray(s, dtype=int).reshape(-1) for s in assignment]
    except (TypeError, ValueError):
        raise InputError(f"cannot check an assignment of type {type(assignment).__name__}") from None
    if len(profile) != instance.N or any(len(s) != d.M for s, d in zip(profile, instance.devices)):
        raise InputError(f"the profile does not match the instance ({instance.N} devices with "
                         f"{[d.M for d in instance.devices]} layers)")
    if instance.K > 1 and server_of is not None:
        try:
            server_of = np.asarray(server_of, dtype=int).reshape(-1)
        except (TypeError, ValueError):
            raise InputError("server_of must hold one server index per device (-1 = all local)") from None
        if server_of.shape != (instance.N,):
            raise InputError(f"server_of must hold one server index per device ({instance.N}), "
                             f"got {server_of.size}")
    return checkmod.check_profile(instance, profile, server_of)
