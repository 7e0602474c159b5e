"""Side-by-side comparison of every method on one instance (the paper's Cases 1-4 and more).

Rows: TPOS-CAI and TPOS-UAI (the game, Case 1), GTPOS (Case 2, centralized MILP),
all-offload (Case 3), all-local (Case 4) and the contention-blind ``isolated`` profile.
Every figure is recomputed from the assignment by :mod:`mecopt.core.cost` and checked by
:mod:`mecopt.core.checker`, never taken from a solver; the all-offload row reports the *means over its
seeded draws* (``info["avg_*_mean"]``, and ``deadline_misses`` is the mean count), while its feasibility
columns (feasible, violations, violated, flagged) describe the representative draw 0.

The column ``objective`` is GTPOS's objective (``--objective``: delay, energy or social) of each
row's assignment, computed from the cost model (:func:`mecopt.studies.ratios.objective_value`):
under ``deadline_policy = "soft"`` the delay and energy objectives are *penalised* (they add the
mean deadline penalty), so ``objective`` then differs from ``avg_delay_s`` / ``avg_energy_j``.
``bound`` is a MILP's own bound on what it minimized (GTPOS: on ``objective``).

Ratios (TPOS rows and the spread rows, against the GTPOS row), each named by what it divides:

- ``objective_ratio`` = objective / GTPOS's objective: the equilibrium-to-optimum ratio (price of
  anarchy) of GTPOS's objective. When GTPOS did not prove its optimum, the ratio to the unknown
  optimum lies in [``objective_ratio``, ``objective_ratio_bound``] = [objective / incumbent,
  objective / bound] (:func:`mecopt.studies.ratios.ratio_interval`);
- ``delay_ratio``, ``energy_ratio``, ``social_ratio``: avg delay, avg energy and social cost over the same
  measure of GTPOS's assignment (a ratio to an optimum only for the measure GTPOS minimized, and for
  delay and energy only without soft deadlines).

``ratio_note`` says which GTPOS objective was compared and whether it is proven.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mecopt.core import manifest as result_set
from mecopt.core.cost import social_cost
from mecopt.core.errors import InfeasibleError, InputError, SolverError
from mecopt.core.instance import Instance
from mecopt.core.options import Option, check_option_names
from mecopt.core.solution import Solution, Termination, read_solution
from mecopt.core.tables import FORMATS, find_table, jsonable, write_json, write_table
from mecopt.methods import registry as solvers
from mecopt.studies import ratios

ALL_METHODS = ("tpos-cai", "tpos-uai", "tpos-best", "gtpos", "all-local", "all-offload", "isolated")
GAME_METHODS = ("tpos-cai", "tpos-uai", "tpos-best")
#: rows added by ``spread`` = K > 0: the best and worst (by social cost) of the certified equilibria from K starts
SPREAD_ROWS = ("spread-best", "spread-worst")

#: methods that prove optimality (a row not proven is marked by :func:`proof_lines`)
PROVING_METHODS = ("gtpos", "tpos-best")

COLUMNS = ["method", "avg_delay_s", "avg_energy_j", "avg_cost", "social_cost", "objective", "bound", "feasible",
           "violations", "violated", "deadline_misses", "flagged", "termination", "gap", "max_gain_rel", "iterations",
           "wall_s", "time_limit_s", "draws", "avg_delay_std_s", "objective_ratio", "objective_ratio_bound",
           "delay_ratio", "energy_ratio", "social_ratio", "ratio_note", "status"]
#: the whole comparison's time budget (:func:`compare`)
BUDGET = Option("budget", float, "seconds for the whole comparison, split over the methods", gt=0)
#: under a budget, the least time limit a method gets (so that it returns its best solution)
MIN_SHARE_S = 1.0
#: the part of a budget the methods do not share: it covers loading the instance, each method's return after
#: its limit (its answer, a fallback start) and writing the tables; at least :data:`MIN_RESERVE_S`
BUDGET_RESERVE = 0.05
MIN_RESERVE_S = 2.0
#: the comparison's identity (instance and options) in its folder, checked by ``resume``
IDENTITY_FILE = "compare.json"
#: a method's row of the table, in its folder
ROW_FILE = "row.json"
#: table formats :func:`mecopt.core.solution.read_solution` reads back
READABLE = ("csv", "parquet", "json")


#: options compare passes to every method that declares them, and the method whose declaration
#: checks a value when no compared method declares it
SHARED_OPTIONS = {"engine": "tpos-cai", "seed": "tpos-cai", "time_limit": "tpos-cai", "draws": "all-offload"}


def method_options(method: str, *, time_limit: float | None = None, seed: int | None = None,
                   engine: str | None = None, draws: int | None = None,
                   options: Mapping[str, Mapping[str, Any]] | None = None, text: bool = False) -> dict:
    """The options :func:`compare` passes to ``method``, converted and range-checked.

    Parameters
    ----------
    method : str
        A method name.
    time_limit, seed, engine, draws : optional
        Shared options: each one given (not None) goes to ``method`` when it declares it.
    options : mapping, optional
        Per-method options, ``{method: {name: value}}``; the key ``"*"`` holds options for
        every method that declares them. ``method``'s own entry overrides the shared ones.
    text : bool, default False
        String values are command-line text (read by each option's declared type).

    Returns
    -------
    dict
        What ``method`` receives. TPOS-best also gets ``pos=False`` (the ratio columns of the
        table give its price of stability) unless given.

    Raises
    ------
    InputError
        A value outside its option's type, range or choices, or an option ``method`` does
        not declare in its own entry of ``options``.

    Examples
    --------
    >>> from mecopt.studies.compare import method_options
    >>> method_options("gtpos", engine="dp", seed=1, options={"gtpos": {"solver": "highs"}})
    {'solver': 'highs'}
    >>> method_options("tpos-cai", engine="dp", seed="1", options={"*": {"max_iter": "50"}}, text=True)
    {'engine': 'dp', 'seed': 1, 'max_iter': 50}
    """
    declared = solvers.option_set(method)
    shared = dict(engine=engine, seed=seed, time_limit=time_limit, draws=draws)
    candidates = {k: v for k, v in shared.items() if v is not None and k in declared}
    candidates.update({k: v for k, v in (options or {}).get("*", {}).items() if k in declared})
    if method == "tpos-best":
        candidates["pos"] = False   # the ratio columns below give its price of stability
    candidates.update((options or {}).get(method, {}))
    return solvers.validate_options(method, candidates, text=text)


def plan(methods=None, *, time_limit=None, seed=None, engine=None, draws=None,
         options: Mapping[str, Mapping[str, Any]] | None = None, text: bool = False,
         gtpos_objective: str | None = None, gtpos_solver: str | None = None,
         budget=None) -> tuple[list[str], dict, dict]:
    """Every option of a comparison, converted and checked before any work (no instance needed).

    Parameters
    ----------
    methods, time_limit, seed, engine, draws, options, gtpos_objective, gtpos_solver, budget
        As for :func:`compare`.
    text : bool, default False
        String values are command-line text (read by each option's declared type).

    Returns
    -------
    methods : list of str
        The methods compared.
    shared : dict
        The shared options, converted; ``engine`` resolved to TPOS-CAI's default when not given;
        ``budget`` when given.
    per_method : dict of str to dict
        What each method receives (:func:`method_options`).

    Raises
    ------
    InputError
        An unknown method or option, a value outside its option's type, range or choices, a
        ``"*"`` option no compared method declares, or options for a method not compared.
    """
    methods = _parse_methods(ALL_METHODS if methods is None else methods)
    options = {m: dict(o) for m, o in (options or {}).items()}
    legacy = {k: v for k, v in (("objective", gtpos_objective), ("solver", gtpos_solver)) if v is not None}
    if legacy:
        legacy = solvers.validate_options("gtpos", legacy, text=text)
        if "gtpos" in methods:
            twice = sorted(legacy.keys() & options.get("gtpos", {}).keys())
            if twice:
                raise InputError(f"GTPOS's {', '.join(map(repr, twice))} given twice: as gtpos_* and in options.")
            options.setdefault("gtpos", {}).update(legacy)
    unknown = sorted(set(options) - set(methods) - {"*"})
    if unknown:
        raise InputError(f"The 'options' option names methods not compared: {', '.join(unknown)}. "
                         f"Compared: {', '.join(methods)}.")
    for name in options.get("*", {}):
        if not any(name in solvers.option_set(m) for m in methods):
            valid = sorted({o for m in methods for o in solvers.accepted_options(m)})
            check_option_names(f"any of the methods {', '.join(methods)}", [name], valid)
    shared = {}
    for name, value in dict(engine=engine, seed=seed, time_limit=time_limit, draws=draws).items():
        if value is None:
            continue
        owner = next((m for m in methods if name in solvers.option_set(m)), SHARED_OPTIONS[name])
        shared[name] = solvers.validate_options(owner, {name: value}, text=text)[name]
    if "engine" not in shared:
        shared["engine"] = solvers.option_set("tpos-cai")["engine"].default
    if budget is not None:
        shared["budget"] = BUDGET.convert(budget, "compare", text=text)
    method_shared = {k: v for k, v in shared.items() if k != "budget"}
    per_method = {m: method_options(m, **method_shared, options=options, text=text) for m in methods}
    return methods, shared, per_method


def _parse_methods(methods) -> list[str]:
    if isinstance(methods, str):
        methods = [m.strip() for m in methods.split(",") if m.strip()]
    methods = list(methods)
    bad = [m for m in methods if m not in solvers.method_names()]
    if bad or not methods:
        raise InputError(f"The 'methods' option must list methods among {', '.join(solvers.method_names())}. "
                         f"Got {', '.join(map(repr, bad)) if bad else 'none'} instead.")
    dup = sorted({m for m in methods if methods.count(m) > 1})
    if dup:
        raise InputError(f"The 'methods' option lists {', '.join(dup)} more than once.")
    return methods


def _row(method: str, sol: Solution, wall: float, objective: str) -> dict:
    ev = sol.evaluation
    viol = sol.violations
    by_eq: dict[str, int] = {}
    for v in viol:
        by_eq[v.equation] = by_eq.get(v.equation, 0) + 1
    flag_count: dict[str, int] = {}
    for fl in sol.flags.values():
        for f in fl:
            flag_count[f] = flag_count.get(f, 0) + 1
    devices = sol.devices_frame()
    cert = sol.certificate or {}
    row = {c: np.nan for c in COLUMNS}
    row.update(
        method=method, avg_delay_s=ev.avg_delay, avg_energy_j=ev.avg_energy, avg_cost=ev.avg_cost,
        social_cost=social_cost(sol.instance, ev), objective=ratios.objective_value(sol.instance, ev, objective),
        bound=np.nan if sol.bound is None else float(sol.bound), feasible=not viol, violations=len(viol),
        violated=", ".join(f"{eq}x{k}" for eq, k in sorted(by_eq.items())),
        deadline_misses=int((~devices["deadline_met"]).sum()),
        flagged=", ".join(f"{f}:{k}" for f, k in sorted(flag_count.items())),
        termination=str(sol.termination), gap=np.nan if sol.gap is None else float(sol.gap),
        max_gain_rel=float(cert["max_gain_rel"]) if cert.get("max_gain_rel") is not None else np.nan,
        iterations=np.nan if sol.iterations is None else sol.iterations, wall_s=wall, ratio_note="",
        status=sol.status,
    )
    if method == "all-offload" and "avg_delay_s_mean" in sol.info:
        info = sol.info
        row.update(avg_delay_s=info["avg_delay_s_mean"], avg_energy_j=info["avg_energy_j_mean"],
                   avg_cost=info["avg_cost_mean"], social_cost=info["social_cost_mean"], draws=info["draws"],
                   avg_delay_std_s=info["avg_delay_s_std"],
                   deadline_misses=info["deadline_misses_mean"])
        # the mean of GTPOS's objective over the draws; a penalised one is not in the trace
        penalised = objective != "social" and ratios.soft(sol.instance)
        row["objective"] = np.nan if penalised else row[ratios.OBJECTIVE_MEASURE[objective]]
    return row


def _failed_row(method: str, err: Exception, wall: float) -> dict:
    row = {c: np.nan for c in COLUMNS}
    row.update(method=method, feasible=False, violated="", flagged="", ratio_note="", wall_s=wall,
               termination=str(Termination.INFEASIBLE if isinstance(err, InfeasibleError) else Termination.ERROR),
               status=f"{type(err).__name__}: {err}")
    return row


def solved(row: Mapping[str, Any]) -> bool:
    """Whether a comparison row holds a method's assignment (not a failure row).

    Parameters
    ----------
    row : Mapping
        A row of the comparison table.

    Returns
    -------
    bool
        True when the method returned an assignment (a failure row has no measures).
    """
    return bool(pd.notna(row["avg_delay_s"]))


def _ratios(rows: list[dict]) -> None:
    """Fill the ratio columns and ratio_note of the TPOS and spread rows in place, from the rows alone."""
    gt = next((r for r in rows if r["method"] == "gtpos"), None)
    if gt is None:
        reason = "gtpos not among the methods compared"
    elif not solved(gt):
        reason = f"gtpos failed ({gt['termination']})"
    else:
        reason = ""
    proven = gt is not None and gt["termination"] == str(Termination.OPTIMAL)
    for r in rows:
        if r["method"] not in GAME_METHODS + SPREAD_ROWS:
            continue
        if not solved(r):
            r["ratio_note"] = f"{r['method']} failed"
            continue
        if reason:
            r["ratio_note"] = reason
            continue
        assert gt is not None
        for col, measure in (("delay_ratio", "avg_delay_s"), ("energy_ratio", "avg_energy_j"),
                             ("social_ratio", "social_cost")):
            r[col] = r[measure] / gt[measure] if gt[measure] > 0 else np.nan
        bound = None if pd.isna(gt["bound"]) else float(gt["bound"])
        r["objective_ratio"], r["objective_ratio_bound"] = ratios.ratio_interval(
            float(r["objective"]), float(gt["objective"]), bound, proven)
        if proven:
            notes = ["GTPOS proven optimal"]
        else:
            gap = "" if pd.isna(gt["gap"]) else f", gap {100 * gt['gap']:.3g}%"
            notes = [f"GTPOS not proven optimal: termination {gt['termination']}{gap}; interval [objective / "
                     "incumbent, objective / bound]"]
        if r["violations"]:
            notes.append(f"{r['method']} profile has {int(r['violations'])} violation(s)")
        r["ratio_note"] = "; ".join(notes)


def budget_share(budget: float, elapsed: float, remaining: int) -> float:
    """The time limit of the next time-limited method under a whole-comparison ``budget``.

    What is left of the budget, split evenly over the ``remaining`` time-limited methods (this
    one included), so that a method that finishes early leaves its time to the next ones; at
    least :data:`MIN_SHARE_S` so that every method returns a result even when the budget is spent.

    Parameters
    ----------
    budget : float
        The comparison's budget in seconds.
    elapsed : float
        Seconds spent so far.
    remaining : int
        Time-limited methods still to run, this one included (>= 1).

    Returns
    -------
    float
        Seconds.

    Examples
    --------
    >>> budget_share(120.0, 0.0, 4), budget_share(120.0, 100.0, 1), budget_share(120.0, 130.0, 2)
    (30.0, 20.0, 1.0)
    """
    return max(MIN_SHARE_S, (budget - elapsed) / max(remaining, 1))


def compare(instance: Instance, *, methods=None, time_limit: float | None = None, seed: int | None = None,
            engine: str | None = None, draws: int | None = None, spread: int = 0,
            progress: Callable[[str], AbstractContextManager] | None = None,
            options: Mapping[str, Mapping[str, Any]] | None = None, text: bool = False,
            gtpos_objective: str | None = None, gtpos_solver: str | None = None,
            budget: float | None = None, out: str | Path | None = None, fmt: str = "csv", resume: bool = False,
            on_start: Callable[[str, int, int, float | None], None] | None = None,
            started: float | None = None) -> tuple[pd.DataFrame, dict[str, Solution]]:
    """Run ``methods`` on ``instance``.

    Returns the comparison table (columns :data:`COLUMNS`) and the Solution of every method that returned one.

    Every option is converted and checked against the methods' declarations before any method
    runs (:func:`plan`). The shared options ``time_limit``, ``seed`` and ``draws`` go, when
    given, to every method that declares them (otherwise each method's default holds);
    ``engine`` goes to every method that declares one, by default TPOS-CAI's default engine
    (one engine for the whole table). ``options`` gives a method its own options under their
    declared names, e.g. ``{"gtpos": {"objective": "social", "solver": "highs"}}``, and ``"*"``
    options to every method that declares them; ``gtpos_objective`` and ``gtpos_solver`` are the
    older spellings of GTPOS's ``objective`` and ``solver`` there. ``text``: string values are
    command-line text, read by each option's declared type.

    ``budget`` bounds the whole comparison: the methods without a ``time_limit`` option run first
    (all-local, all-offload, isolated: quick), then each method that declares ``time_limit`` runs with
    :func:`budget_share` of what is left (or its own ``time_limit`` if smaller) once
    :data:`BUDGET_RESERVE` of the budget (at least :data:`MIN_RESERVE_S`) is held back for loading,
    each method's return and writing the tables. A method's time limit bounds the whole
    method (building its model included), and returns its best solution with termination
    ``time_limit`` (and its gap, or none) when that runs out. The column ``time_limit_s`` gives the
    limit each method ran with; the table keeps the order of ``methods``.

    ``out``: each method's folder ``out/<method>`` (its solution tables and ``row.json``, its row
    of the table) is written when the method finishes, atomically (a hidden temporary folder
    renamed into place), then ``out/comparison.<fmt>`` at the end; ``out/compare.json`` records the
    instance (SHA-256 of its document) and every option. ``resume`` continues a comparison in
    ``out`` with the same instance and options, skipping the methods whose folder is there (an
    interrupted run keeps every method that finished).

    ``progress(method)``, when given, is a context manager entered while ``method`` runs; what it
    yields (if not None) is passed as the method's ``progress`` option to methods that accept one.
    ``on_start(method, index, count, time_limit)`` is called before each method runs (``index``: its place
    in the run, which under a budget puts the methods without a time limit first).

    A method that raises :class:`~mecopt.core.errors.SolverError` or
    :class:`~mecopt.core.errors.InfeasibleError` gets a row with termination error/infeasible and
    the message in ``status``; bad options (:class:`~mecopt.core.errors.InputError`) propagate.
    ``spread`` = K > 0 adds the rows :data:`SPREAD_ROWS`: the best and worst certified TPOS-CAI
    equilibria (by social cost) over seeds seed..seed+K-1 (:mod:`mecopt.studies.equilibria`).

    ``methods`` None runs :data:`ALL_METHODS` (every one solves several servers too). With several
    servers a named method that does not solve such instances is an InputError before any method runs.

    Parameters
    ----------
    instance : Instance
        The instance.
    methods : sequence of str or None, optional, default None
        Method names (None: :data:`ALL_METHODS`).
    time_limit : float or None, default None
        Time limit in seconds, to every method that declares one.
    seed : int or None, default None
        Seed, to every method that declares one.
    engine : str or None, default None
        Best-response engine, to every method that declares one (default: TPOS-CAI's, ``dp``).
    draws : int or None, default None
        Case 3 draws, to every method that declares them.
    spread : int, default 0
        K > 0 adds the best and worst certified TPOS-CAI equilibria over K seeds.
    progress : Callable[[str], AbstractContextManager] or None, default None
        A context manager per method; what it yields is the method's ``progress`` option.
    options : Mapping[str, Mapping[str, Any]] or None, default None
        Per-method options (``"*"``: every method that declares them).
    text : bool, default False
        Whether string values are command-line text, read by each option's declared type.
    gtpos_objective : str or None, default None
        Older spelling of GTPOS's ``objective`` option.
    gtpos_solver : str or None, default None
        Older spelling of GTPOS's ``solver`` option.
    budget : float or None, default None
        Seconds for the whole comparison (None: no budget).
    out : str or Path or None, default None
        The result folder, written method by method (None: nothing written).
    fmt : str, default 'csv'
        Table format of ``out``.
    resume : bool, default False
        Continue the comparison already in ``out``.
    on_start : Callable or None, default None
        Called as ``on_start(method, index, count, time_limit)`` before each method.
    started : float or None, default None
        ``time.perf_counter()`` when the comparison began, from which ``budget`` counts (default: now;
        the command line passes its own start, so that loading the instance counts).

    Returns
    -------
    tuple[pandas.DataFrame, dict[str, Solution]]
        The comparison table (columns :data:`COLUMNS`) and each method's Solution (those skipped
        by ``resume`` read back from ``out``).

    Raises
    ------
    InputError
        For a bad option, a method that cannot solve the instance's several servers, or an
        ``out`` holding another comparison (or one without ``resume``).
    """
    t_start = time.perf_counter() if started is None else started
    methods, shared, planned = plan(methods, time_limit=time_limit, seed=seed, engine=engine, draws=draws,
                                    options=options, text=text, gtpos_objective=gtpos_objective,
                                    gtpos_solver=gtpos_solver, budget=budget)
    for method in methods:
        solvers.require_support(solvers.get(method), method, instance)
    gtpos_objective = planned.get("gtpos", {}).get("objective", solvers.option_set("gtpos")["objective"].default)
    folder = None
    if out is not None:
        folder = ComparisonFolder(out, identity(instance, methods, planned, spread), fmt, resume)
    budget = shared.get("budget")
    finished = folder.finished(methods) if folder is not None else {}
    timed = [m for m in methods if "time_limit" in solvers.option_set(m) and m not in finished]
    by_method: dict[str, dict] = {}
    solutions = {}
    # under a budget the methods without a time limit run first (they are quick), so that the time-limited
    # ones share what they leave; the table keeps the order of ``methods``
    order = ([m for m in methods if m not in timed] + timed) if budget is not None else methods
    for index, method in enumerate(order):   # index: the method's place in the run (on_start)
        if method in finished:
            by_method[method] = finished[method]
            continue
        opts = dict(planned[method])
        if budget is not None and method in timed:
            usable = budget - max(MIN_RESERVE_S, BUDGET_RESERVE * budget)   # the rest: loading, returns, writing
            share = budget_share(usable, time.perf_counter() - t_start, len(timed) - timed.index(method))
            opts["time_limit"] = min(opts.get("time_limit") or share, share)
        if on_start is not None:
            on_start(method, index, len(methods), opts.get("time_limit"))
        t0 = time.perf_counter()
        try:
            with progress(method) if progress is not None else nullcontext() as callback:
                if callback is not None and "progress" in solvers.accepted_options(method):
                    opts["progress"] = callback
                sol = solvers.solve(instance, method, **opts)
        except (SolverError, InfeasibleError) as err:
            row = _failed_row(method, err, time.perf_counter() - t0)
            row["time_limit_s"] = opts.get("time_limit", np.nan)
            by_method[method] = row
            continue
        row = _row(method, sol, time.perf_counter() - t0, gtpos_objective)
        row["time_limit_s"] = opts.get("time_limit", np.nan)
        solutions[method] = sol
        by_method[method] = row
        if folder is not None:
            folder.save(method, sol, row)
    rows = [by_method[m] for m in methods]
    if spread:
        spread_rows = [finished[m] for m in SPREAD_ROWS if m in finished]
        if spread_rows:
            rows += spread_rows
        else:
            for name, row, sol in _spread_rows(instance, spread,
                                               shared.get("seed", solvers.option_set("tpos-cai")["seed"].default),
                                               shared["engine"], gtpos_objective):
                rows.append(row)
                solutions[name] = sol
                if folder is not None:
                    folder.save(name, sol, row)
    _ratios(rows)
    table = pd.DataFrame(rows, columns=COLUMNS)
    table.attrs["objective_label"] = ratios.objective_label(instance, gtpos_objective)
    if folder is not None:
        folder.finish(table, instance)
        for method in finished:                # read back once the folder is complete again
            sol = folder.read_back(method, instance)
            if sol is not None:
                solutions[method] = sol
    return table, solutions


def identity(instance: Instance, methods: list[str], planned: Mapping[str, Mapping[str, Any]],
             spread: int) -> dict:
    """What a resumed comparison must match: the instance's document (SHA-256), the methods and their options.

    Parameters
    ----------
    instance : Instance
        The instance.
    methods : list of str
        The methods compared.
    planned : Mapping
        Each method's options (:func:`plan`).
    spread : int
        The spread's starts.

    Returns
    -------
    dict
        Plain JSON data.
    """
    document = json.dumps(instance.source, sort_keys=True, default=str)
    options = {m: {k: v for k, v in sorted(planned[m].items()) if k != "progress"} for m in methods}
    return json.loads(json.dumps(dict(instance=instance.name, sha256=hashlib.sha256(document.encode()).hexdigest(),
                                      methods=list(methods), options=options, spread=int(spread)),
                                 default=str))


class ComparisonFolder:
    """A comparison's result folder, written method by method (see :func:`compare`).

    Parameters
    ----------
    out : str or Path
        The folder.
    ident : dict
        :func:`identity` of the comparison.
    fmt : str
        Table format.
    resume : bool
        Continue the comparison already there (same identity); without it a folder holding a
        comparison is refused.

    Raises
    ------
    InputError
        An unknown ``fmt``, a folder holding another comparison, or one without ``resume``.
    """

    def __init__(self, out: str | Path, ident: dict, fmt: str, resume: bool):
        if fmt not in FORMATS:
            raise InputError(f"The 'format' option must be one of {', '.join(FORMATS)}. Got {fmt!r} instead.")
        self.out, self.fmt = Path(out), fmt
        path = self.out / IDENTITY_FILE
        if path.exists():
            try:
                old = json.loads(path.read_text())
            except (OSError, json.JSONDecodeError, UnicodeDecodeError) as err:
                raise InputError(f"{path} is not a comparison's identity file: {err}") from None
            if not resume:
                raise InputError(f"{self.out} already holds a comparison; pass --resume to continue it or choose "
                                 "another --out")
            if old != ident:
                raise InputError(f"{self.out} holds a different comparison (instance, methods, options or spread "
                                 "differ); resume it with the same settings or choose another --out")
        self.out.mkdir(parents=True, exist_ok=True)
        for stale in self.out.glob(".*.partial"):
            shutil.rmtree(stale, ignore_errors=True)
        result_set.begin(self.out, "comparison")
        if not path.exists():
            write_json(path, ident)

    def finished(self, methods: list[str]) -> dict[str, dict]:
        """The rows of the methods already written here (``row.json`` of each method's folder), by method."""
        done = {}
        for method in list(methods) + list(SPREAD_ROWS):
            try:
                saved = json.loads((self.out / method / ROW_FILE).read_text())
            except (OSError, json.JSONDecodeError, UnicodeDecodeError):
                continue                       # not written, or unreadable: run the method again
            done[method] = {c: np.nan if saved.get(c) is None else saved[c] for c in COLUMNS}
        return done

    def read_back(self, method: str, instance: Instance) -> Solution | None:
        """The solution of a method written by an earlier run (None when it has no readable assignment table)."""
        if self.fmt not in READABLE or find_table(self.out / method / "assignment") is None:
            return None
        return read_solution(self.out / method, instance)

    def save(self, method: str, sol: Solution, row: dict) -> None:
        """Write ``out/<method>`` (solution tables and its row) atomically."""
        tmp = self.out / f".{method}.partial"
        final = self.out / method
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        write_json(tmp / ROW_FILE, {k: jsonable(v) for k, v in row.items()})
        if sol.profile:
            sol.write(tmp, self.fmt)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)

    def finish(self, table: pd.DataFrame, instance: Instance) -> None:
        """Write the comparison table and mark the folder complete."""
        write_table(table, self.out / "comparison", self.fmt)
        result_set.finish(self.out, "comparison", format=self.fmt, instance_path=instance.path)


def _spread_rows(instance: Instance, starts: int, seed: int, engine: str,
                 gtpos_objective: str) -> list[tuple[str, dict, Solution]]:
    """The best and worst certified CAI equilibria (by social cost) over ``starts`` seeds, as rows."""
    from mecopt.studies.equilibria import spread as run_spread

    t0 = time.perf_counter()
    res = run_spread(instance, starts=starts, seed=seed, engine=engine, gtpos=False)
    cert = res.runs[res.runs["certified"]]
    if cert.empty:
        return []
    out = []
    for name, k in zip(SPREAD_ROWS, (cert["social_cost"].idxmin(), cert["social_cost"].idxmax())):
        sol = solvers.solve(instance, "tpos-cai", engine=engine, seed=int(cert.loc[k, "seed"]))
        row = _row("tpos-cai", sol, time.perf_counter() - t0, gtpos_objective)
        row["method"] = name
        row["status"] = f"{row['status']} (seed {int(cert.loc[k, 'seed'])} of {starts} starts)"
        out.append((name, row, sol))
    return out


def ratio_summary(table: pd.DataFrame, objective_label: str | None = None) -> list[str]:
    """One line per TPOS row: its ratios to GTPOS, each naming what it divides, or why none is available.

    The equilibrium-to-optimum ratio of GTPOS's objective comes first, as ``= r`` when GTPOS
    proved its optimum and as an interval ``in [objective / incumbent, objective / bound]``
    otherwise; then, under soft deadlines, the plain average delay (or energy) ratio, which
    differs from the penalised one. The other ratios are columns of the table.

    Parameters
    ----------
    table : pandas.DataFrame
        The comparison table.
    objective_label : str or None, default None
        How GTPOS's objective is named (default: ``table.attrs["objective_label"]``, set by
        :func:`compare`, else "GTPOS's objective").

    Returns
    -------
    list[str]
        The lines.
    """
    label = objective_label or table.attrs.get("objective_label") or "GTPOS's objective"
    lines = []
    for r in table.itertuples(index=False):
        if r.method not in GAME_METHODS + SPREAD_ROWS:
            continue
        parts = []
        if pd.notna(r.objective_ratio):
            parts.append(f"{label} / GTPOS optimum {ratios.format_ratio(r.objective_ratio, r.objective_ratio_bound)}")
            if label.startswith("penalised delay") and pd.notna(r.delay_ratio):
                parts.append(f"avg delay / GTPOS's avg delay = {r.delay_ratio:.6g}")
            if label.startswith("penalised energy") and pd.notna(r.energy_ratio):
                parts.append(f"avg energy / GTPOS's avg energy = {r.energy_ratio:.6g}")
        if not parts:
            parts.append("ratio not available")
        line = f"{r.method}: " + "; ".join(parts)
        if r.ratio_note:
            line += f" ({r.ratio_note})"
        lines.append(line)
    return lines


def proof_lines(table: pd.DataFrame) -> list[str]:
    """One line per GTPOS or tpos-best row that is not proven optimal: its figures are an incumbent.

    Parameters
    ----------
    table : pandas.DataFrame
        The comparison table.

    Returns
    -------
    list[str]
        The lines (none when every such row is proven).
    """
    lines = []
    for r in table.itertuples(index=False):
        if r.method in PROVING_METHODS and solved(r._asdict()) and r.termination != str(Termination.OPTIMAL):
            gap = "" if pd.isna(r.gap) else f", gap {100 * r.gap:.3g}%"
            lines.append(f"{r.method}: NOT proven optimal (termination {r.termination}{gap}); its row is its best "
                         "solution found, not an optimum")
    return lines
