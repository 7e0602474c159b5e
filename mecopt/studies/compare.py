"""Side-by-side comparison of every method on one instance (the paper's Cases 1-4 and more).

Rows: TPOS-CAI and TPOS-UAI (the game, Case 1), GTPOS (Case 2, centralized MILP),
all-offload (Case 3), all-local (Case 4) and the contention-blind ``isolated`` profile.
Every figure is recomputed from the assignment by :mod:`mecopt.core.cost` and checked by
:mod:`mecopt.core.checker`; the all-offload row reports the *means over its seeded draws*
(``info["avg_*_mean"]``, and ``deadline_misses`` is the mean count), while its feasibility
columns (feasible, violations, violated, flagged) describe the representative draw 0.

Equilibrium-to-optimum ratios (price of anarchy) are computed for the TPOS rows only
against a GTPOS run that is proven OPTIMAL for the matching objective:
``delay_ratio = avg_delay(tpos) / avg_delay(gtpos)`` when GTPOS minimized average delay (under
``deadline_policy = "soft"`` each side adds its mean penalty in seconds, GTPOS's objective then),
``social_ratio = social_cost(tpos) / social_cost(gtpos)`` when it minimized social cost, where
``social_cost`` = sum_n (alpha_n c^T_n T_n + beta_n c^E_n E_n + soft penalty) is GTPOS's "social" objective (the
prices are transfers to the server and are left out; ``avg_cost`` includes them).
Otherwise the ratio is NaN and ``ratio_note`` says why.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import numpy as np
import pandas as pd

from mecopt.core import cost as costmod
from mecopt.core.cost import social_cost
from mecopt.core.errors import InfeasibleError, InputError, SolverError
from mecopt.core.instance import Instance
from mecopt.core.options import check_option_names
from mecopt.core.solution import Solution, Termination
from mecopt.methods import registry as solvers

ALL_METHODS = ("tpos-cai", "tpos-uai", "tpos-best", "gtpos", "all-local", "all-offload", "isolated")
GAME_METHODS = ("tpos-cai", "tpos-uai", "tpos-best")
#: rows added by ``spread`` = K > 0: the best and worst (by social cost) of the certified equilibria from K starts
SPREAD_ROWS = ("spread-best", "spread-worst")

COLUMNS = ["method", "avg_delay_s", "avg_energy_j", "avg_cost", "social_cost", "feasible", "violations", "violated",
           "deadline_misses", "flagged", "termination", "gap", "max_gain_rel", "iterations", "wall_s",
           "draws", "avg_delay_std_s", "delay_ratio", "social_ratio", "ratio_note", "status"]


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
         gtpos_objective: str | None = None, gtpos_solver: str | None = None) -> tuple[list[str], dict, dict]:
    """Every option of a comparison, converted and checked before any work (no instance needed).

    Parameters
    ----------
    methods, time_limit, seed, engine, draws, options, gtpos_objective, gtpos_solver
        As for :func:`compare`.
    text : bool, default False
        String values are command-line text (read by each option's declared type).

    Returns
    -------
    methods : list of str
        The methods compared.
    shared : dict
        The shared options, converted; ``engine`` resolved to TPOS-CAI's default when not given.
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
    per_method = {m: method_options(m, **shared, options=options, text=text) for m in methods}
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


def _row(method: str, sol: Solution, wall: float) -> dict:
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
    row = dict(
        method=method, avg_delay_s=ev.avg_delay, avg_energy_j=ev.avg_energy, avg_cost=ev.avg_cost,
        social_cost=social_cost(sol.instance, ev), feasible=not viol, violations=len(viol),
        violated=", ".join(f"{eq}x{k}" for eq, k in sorted(by_eq.items())),
        deadline_misses=int((~devices["deadline_met"]).sum()),
        flagged=", ".join(f"{f}:{k}" for f, k in sorted(flag_count.items())),
        termination=str(sol.termination), gap=np.nan if sol.gap is None else float(sol.gap),
        max_gain_rel=float(cert["max_gain_rel"]) if cert.get("max_gain_rel") is not None else np.nan,
        iterations=np.nan if sol.iterations is None else sol.iterations, wall_s=wall,
        draws=np.nan, avg_delay_std_s=np.nan, delay_ratio=np.nan, social_ratio=np.nan, ratio_note="",
        status=sol.status,
    )
    if method == "all-offload" and "avg_delay_s_mean" in sol.info:
        info = sol.info
        row.update(avg_delay_s=info["avg_delay_s_mean"], avg_energy_j=info["avg_energy_j_mean"],
                   avg_cost=info["avg_cost_mean"], social_cost=info["social_cost_mean"], draws=info["draws"],
                   avg_delay_std_s=info["avg_delay_s_std"],
                   deadline_misses=info["deadline_misses_mean"])
    return row


def _failed_row(method: str, err: Exception, wall: float) -> dict:
    row = {c: np.nan for c in COLUMNS}
    row.update(method=method, feasible=False, violated="", flagged="", ratio_note="", wall_s=wall,
               termination=str(Termination.INFEASIBLE if isinstance(err, InfeasibleError) else Termination.ERROR),
               status=f"{type(err).__name__}: {err}")
    return row


def _delay_objective(sol: Solution) -> float:
    """GTPOS's "delay" objective of a profile.

    The average delay, plus under the soft deadline policy the mean penalty in seconds (P_n / c^T_n, docs/MODEL.md Part
    B).
    """
    ev = sol.evaluation
    if sol.instance.deadline_policy != "soft":
        return ev.avg_delay
    return ev.avg_delay + float(np.mean([p / costmod.penalty_unit(d, "delay")
                                         for p, d in zip(ev.penalty, sol.instance.devices)]))


def _ratios(rows: list[dict], solutions: dict[str, Solution], gtpos_objective: str) -> None:
    """Fill delay_ratio / social_ratio / ratio_note of the TPOS rows in place."""
    gt = solutions.get("gtpos")
    gt_row = next((r for r in rows if r["method"] == "gtpos"), None)
    if gt_row is None:
        reason = "gtpos not among the methods compared"
    elif gt is None:
        reason = f"gtpos failed ({gt_row['termination']})"
    elif gt.termination != Termination.OPTIMAL:
        gap = "" if gt.gap is None else f", gap {gt.gap:.3g}"
        reason = f"GTPOS not proven optimal (termination {gt.termination}{gap})"
    else:
        reason = ""
    for r in rows:
        if r["method"] not in GAME_METHODS + SPREAD_ROWS:
            continue
        sol = solutions.get(r["method"])
        if sol is None:
            r["ratio_note"] = f"{r['method']} failed"
            continue
        if reason:
            r["ratio_note"] = reason
            continue
        notes = []
        if gtpos_objective == "delay":
            r["delay_ratio"] = _delay_objective(sol) / _delay_objective(gt)
            notes.append("GTPOS proven optimal for average delay"
                         + (" + deadline penalty (soft)" if gt.instance.deadline_policy == "soft" else ""))
        elif gtpos_objective == "social":
            r["social_ratio"] = (social_cost(sol.instance, sol.evaluation)
                                 / social_cost(gt.instance, gt.evaluation))
            notes.append("GTPOS proven optimal for social cost")
        else:
            notes.append(f"no ratio: GTPOS minimized {gtpos_objective}, neither delay nor social cost")
        if sol.violations:
            notes.append(f"{r['method']} profile has {len(sol.violations)} violation(s)")
        r["ratio_note"] = "; ".join(notes)


def compare(instance: Instance, *, methods=None, time_limit: float | None = None, seed: int | None = None,
            engine: str | None = None, draws: int | None = None, spread: int = 0,
            progress: Callable[[str], AbstractContextManager] | None = None,
            options: Mapping[str, Mapping[str, Any]] | None = None, text: bool = False,
            gtpos_objective: str | None = None, gtpos_solver: str | None = None,
            ) -> tuple[pd.DataFrame, dict[str, Solution]]:
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

    ``progress(method)``, when given, is a context manager entered while ``method`` runs; what it
    yields (if not None) is passed as the method's ``progress`` option to methods that accept one.

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
        Best-response engine, to every method that declares one (default: TPOS-CAI's).
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

    Returns
    -------
    tuple[pandas.DataFrame, dict[str, Solution]]
        The comparison table (columns :data:`COLUMNS`) and each method's Solution.

    Raises
    ------
    InputError
        For a bad option, or a method that cannot solve the instance's several servers.
    """
    methods, shared, planned = plan(methods, time_limit=time_limit, seed=seed, engine=engine, draws=draws,
                                    options=options, text=text, gtpos_objective=gtpos_objective,
                                    gtpos_solver=gtpos_solver)
    for method in methods:
        solvers.require_support(solvers.get(method), method, instance)
    gtpos_objective = planned.get("gtpos", {}).get("objective", solvers.option_set("gtpos")["objective"].default)
    rows, solutions = [], {}
    for method in methods:
        opts = dict(planned[method])
        t0 = time.perf_counter()
        try:
            with progress(method) if progress is not None else nullcontext() as callback:
                if callback is not None and "progress" in solvers.accepted_options(method):
                    opts["progress"] = callback
                sol = solvers.solve(instance, method, **opts)
        except (SolverError, InfeasibleError) as err:
            rows.append(_failed_row(method, err, time.perf_counter() - t0))
            continue
        wall = time.perf_counter() - t0
        solutions[method] = sol
        rows.append(_row(method, sol, wall))
    if spread:
        _spread_rows(instance, spread, shared.get("seed", solvers.option_set("tpos-cai")["seed"].default),
                     shared["engine"], rows, solutions)
    _ratios(rows, solutions, gtpos_objective)
    table = pd.DataFrame(rows, columns=COLUMNS)
    return table, solutions


def _spread_rows(instance: Instance, starts: int, seed: int, engine: str, rows: list[dict],
                 solutions: dict[str, Solution]) -> None:
    """Append the best and worst certified CAI equilibria (by social cost) over ``starts`` seeds."""
    from mecopt.studies.equilibria import spread as run_spread

    t0 = time.perf_counter()
    res = run_spread(instance, starts=starts, seed=seed, engine=engine, gtpos=False)
    cert = res.runs[res.runs["certified"]]
    if cert.empty:
        return
    for name, k in zip(SPREAD_ROWS, (cert["social_cost"].idxmin(), cert["social_cost"].idxmax())):
        sol = solvers.solve(instance, "tpos-cai", engine=engine, seed=int(cert.loc[k, "seed"]))
        solutions[name] = sol
        row = _row("tpos-cai", sol, time.perf_counter() - t0)
        row["method"] = name
        row["status"] = f"{row['status']} (seed {int(cert.loc[k, 'seed'])} of {starts} starts)"
        rows.append(row)


def ratio_summary(table: pd.DataFrame) -> list[str]:
    """One line per TPOS row: its ratio(s) to the GTPOS optimum, or why none is available.

    Parameters
    ----------
    table : pandas.DataFrame
        The comparison table.

    Returns
    -------
    list[str]
        The lines.
    """
    lines = []
    for r in table.itertuples(index=False):
        if r.method not in GAME_METHODS + SPREAD_ROWS:
            continue
        parts = []
        if pd.notna(r.delay_ratio):
            parts.append(f"avg delay / GTPOS optimum = {r.delay_ratio:.6g}")
        if pd.notna(r.social_ratio):
            parts.append(f"social cost / GTPOS optimum = {r.social_ratio:.6g}")
        if not parts:
            parts.append("ratio not available")
        line = f"{r.method}: " + "; ".join(parts)
        if r.ratio_note:
            line += f" ({r.ratio_note})"
        lines.append(line)
    return lines
