"""The GTPOS benchmark library ``instances/bench/`` and its table of known optima.

Each ``instances/bench/NAME.toml`` (``bench:NAME``) has a row in ``instances/bench/optima.csv``:
``status`` = ``optimal`` (``value`` is a proven optimum of the average delay, by every backend
that proved it, listed in ``proven_by``) or ``bounds`` (``value`` is the best incumbent and
``bound`` the best proven lower bound). :func:`verify` re-solves instances with one backend
and checks them against the table: the returned profile must pass the checker, a proven optimum
must equal the table's value (relative ``rel_tol``), and any incumbent/bound must be consistent
with it (incumbent >= table bound, bound <= table value). A run that cannot prove optimality
within its time limit but is consistent is reported as ``consistent``, not as a failure.
"""

from __future__ import annotations

import time

import pandas as pd

from mecopt.core.errors import InputError
from mecopt.core.instance import load_instance
from mecopt.core.resources import instances_dir
from mecopt.core.solution import Termination

TABLE = "optima.csv"
COLUMNS = ["name", "capacity_mode", "N", "classes", "objective", "status", "value", "bound", "proven_by", "note"]


def names() -> list[str]:
    """Names of the bundled benchmark instances (``instances/bench``).

    Returns
    -------
    list[str]
        The instance names, sorted.
    """
    return sorted(p.stem for p in (instances_dir() / "bench").glob("*.toml"))


def read_table() -> pd.DataFrame:
    """The bundled benchmark table; InputError when it is missing.

    Returns
    -------
    pandas.DataFrame
        The table of reference results.

    Raises
    ------
    InputError
        When the table is missing.
    """
    path = instances_dir() / "bench" / TABLE
    if not path.is_file():
        raise InputError(f"benchmark table not found: {path}")
    return pd.read_csv(path)


def _select(table: pd.DataFrame, which) -> pd.DataFrame:
    if which is None:
        return table
    which = [w.strip() for w in (which.split(",") if isinstance(which, str) else which) if w.strip()]
    bad = [w for w in which if w not in set(table["name"])]
    if bad:
        raise InputError(f"The 'names' option must list benchmark instances among {', '.join(table['name'])}. "
                         f"Got {', '.join(bad)} instead.")
    return table[table["name"].isin(which)]


def verify(which=None, *, solver: str | None = None, time_limit: float | None = None,
           rel_tol: float = 1e-6) -> pd.DataFrame:
    """Re-solve benchmark instances (all, or ``which``) and check them against the table.

    Returns one row per instance with ``verdict`` in {``ok``, ``consistent``, ``FAIL``}.

    Parameters
    ----------
    which : sequence of str or None, optional, default None
        Instance names (None: all).
    solver : str or None, default None
        GTPOS backend (None: its default).
    time_limit : float or None, default None
        Time limit per solve in seconds (None: none).
    rel_tol : float, default 1e-06
        Relative tolerance of the objective check.

    Returns
    -------
    pandas.DataFrame
        One row per instance, with its verdict.
    """
    from mecopt.methods.gtpos import solve_gtpos
    from mecopt.milp.backends import DEFAULT_SOLVER, Limits, check_solver

    solver = solver or DEFAULT_SOLVER
    check_solver(solver)
    Limits(time_limit=time_limit)   # InputError naming the option before any solve
    rows = []
    for r in _select(read_table(), which).itertuples(index=False):
        inst = load_instance(f"bench:{r.name}")
        t0 = time.perf_counter()
        sol = solve_gtpos(inst, objective=r.objective, solver=solver, time_limit=time_limit)
        wall = time.perf_counter() - t0
        value, bound = float(r.value), float(r.bound)
        tol = rel_tol * max(1.0, abs(value))
        problems = []
        if not sol.feasible:
            problems.append(f"{len(sol.violations)} violation(s)")
        if sol.termination == Termination.OPTIMAL and r.status == "optimal" and abs(sol.objective - value) > tol:
            problems.append(f"optimum {sol.objective:.10g} != table {value:.10g}")
        if sol.objective < bound - tol:
            problems.append(f"incumbent {sol.objective:.10g} below the table's bound {bound:.10g}")
        if sol.bound is not None and sol.bound > value + tol:
            problems.append(f"bound {sol.bound:.10g} above the table's value {value:.10g}")
        verdict = "FAIL" if problems else ("ok" if sol.termination == Termination.OPTIMAL else "consistent")
        rows.append(dict(name=r.name, N=r.N, capacity_mode=r.capacity_mode, table_status=r.status,
                         table_value=value, solver=solver, termination=str(sol.termination),
                         objective=sol.objective, bound=sol.bound, gap=sol.gap, wall_s=round(wall, 3),
                         verdict=verdict, problems="; ".join(problems)))
    return pd.DataFrame(rows)


def make_table(solvers=("cpsat", "highs"), time_limit: float = 300.0, objective: str = "delay",
               which=None) -> pd.DataFrame:
    """Solve every library instance with every backend and build the table (cross-checking them).

    Backends that both prove an optimum must agree (else an AssertionError).

    Parameters
    ----------
    solvers : tuple of str, optional, default ('cpsat', 'highs')
        The backends run.
    time_limit : float, default 300.0
        Time limit per solve in seconds.
    objective : str, default 'delay'
        The GTPOS objective.
    which : sequence of str or None, default None
        Instance names (None: every bundled one).

    Returns
    -------
    pandas.DataFrame
        The benchmark table.
    """
    from mecopt.methods.gtpos import solve_gtpos
    from mecopt.milp.classes import device_classes

    rows = []
    for name in (names() if which is None else which):
        inst = load_instance(f"bench:{name}")
        sols = {s: solve_gtpos(inst, objective=objective, solver=s, time_limit=time_limit) for s in solvers}
        assert all(s.feasible for s in sols.values()), name
        proven = {k: s for k, s in sols.items() if s.termination == Termination.OPTIMAL}
        vals = [s.objective for s in proven.values()]
        assert not vals or max(vals) - min(vals) <= 1e-6 * max(1.0, abs(vals[0])), (name, vals)
        best = min(sols.values(), key=lambda s: s.objective)
        bound = max((s.bound for s in sols.values() if s.bound is not None), default=float("nan"))
        note = "; ".join(f"{k}: {s.termination} in {s.wall_time:.1f} s" for k, s in sols.items())
        rows.append(dict(name=name, capacity_mode=inst.servers[0].capacity_mode, N=inst.N,
                         classes=len(device_classes(inst, objective)), objective=objective,
                         status="optimal" if proven else "bounds",
                         value=min(vals) if vals else best.objective, bound=min(vals) if vals else bound,
                         proven_by=",".join(sorted(proven)), note=note))
    return pd.DataFrame(rows, columns=COLUMNS)
