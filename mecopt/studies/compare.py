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
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

import numpy as np
import pandas as pd

from mecopt.methods import registry as solvers
from mecopt.core.cost import social_cost
from mecopt.core import cost as costmod
from mecopt.core.errors import InfeasibleError, InputError, SolverError
from mecopt.core.instance import Instance
from mecopt.core.solution import Solution, Termination

ALL_METHODS = ("tpos-cai", "tpos-uai", "tpos-best", "gtpos", "all-local", "all-offload", "isolated")
GAME_METHODS = ("tpos-cai", "tpos-uai", "tpos-best")
#: rows added by ``spread`` = K > 0: the best and worst (by social cost) of the certified equilibria from K starts
SPREAD_ROWS = ("spread-best", "spread-worst")
GTPOS_OBJECTIVES = ("delay", "social", "energy")

COLUMNS = ["method", "avg_delay_s", "avg_energy_j", "avg_cost", "social_cost", "feasible", "violations", "violated",
           "deadline_misses", "flagged", "termination", "gap", "max_gain_rel", "iterations", "wall_s",
           "draws", "avg_delay_std_s", "delay_ratio", "social_ratio", "ratio_note", "status"]


def method_options(method: str, *, time_limit: float | None = None, seed: int = 0, engine: str = "milp",
                   gtpos_objective: str = "delay", draws: int = 20, gtpos_solver: str | None = None) -> dict:
    """The options :func:`compare` passes to ``method``: of engine, seed, time_limit (when given),
    objective (GTPOS) and draws, those the method's function names."""
    candidates = dict(engine=engine, seed=seed, draws=draws)
    if time_limit is not None:
        candidates["time_limit"] = time_limit
    if method == "gtpos":
        candidates["objective"] = gtpos_objective
        if gtpos_solver is not None:
            candidates["solver"] = gtpos_solver
    if method == "tpos-best":
        candidates["pos"] = False   # the ratio columns below give its price of stability
    accepted = solvers.accepted_options(method)
    return {k: v for k, v in candidates.items() if k in accepted}


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
                   avg_cost=info["avg_cost_mean"], social_cost=info["social_cost_mean"], draws=info["draws"], avg_delay_std_s=info["avg_delay_s_std"],
                   deadline_misses=info["deadline_misses_mean"])
    return row


def _failed_row(method: str, err: Exception, wall: float) -> dict:
    row = {c: np.nan for c in COLUMNS}
    row.update(method=method, feasible=False, violated="", flagged="", ratio_note="", wall_s=wall,
               termination=str(Termination.INFEASIBLE if isinstance(err, InfeasibleError) else Termination.ERROR),
               status=f"{type(err).__name__}: {err}")
    return row


def _delay_objective(sol: Solution) -> float:
    """GTPOS's "delay" objective of a profile: the average delay, plus under the soft deadline policy
    the mean penalty in seconds (P_n / c^T_n, docs/MODEL.md Part B)."""
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


def compare(instance: Instance, *, methods=None, time_limit: float | None = None, seed: int = 0,
            engine: str = "milp", gtpos_objective: str = "delay", draws: int = 20, spread: int = 0,
            progress: Callable[[str], AbstractContextManager] | None = None,
            gtpos_solver: str | None = None) -> tuple[pd.DataFrame, dict[str, Solution]]:
    """Run ``methods`` on ``instance``; returns the comparison table (columns :data:`COLUMNS`)
    and the Solution of every method that returned one.

    ``progress(method)``, when given, is a context manager entered while ``method`` runs; what it
    yields (if not None) is passed as the method's ``progress`` option to methods that accept one.

    A method that raises :class:`~mecopt.core.errors.SolverError` or
    :class:`~mecopt.core.errors.InfeasibleError` gets a row with termination error/infeasible and
    the message in ``status``; bad options (:class:`~mecopt.core.errors.InputError`) propagate.
    ``spread`` = K > 0 adds the rows :data:`SPREAD_ROWS`: the best and worst certified TPOS-CAI
    equilibria (by social cost) over seeds seed..seed+K-1 (:mod:`mecopt.studies.equilibria`).

    ``methods`` None runs :data:`ALL_METHODS` (every one solves several servers too). With several
    servers a named method that does not solve such instances is an InputError before any method runs.
    """
    methods = _parse_methods(ALL_METHODS if methods is None else methods)
    if instance.multi:
        for method in methods:
            solvers.require_support(solvers.get(method), method, instance)
    if gtpos_objective not in GTPOS_OBJECTIVES:
        raise InputError(f"The 'gtpos_objective' option must be one of {', '.join(GTPOS_OBJECTIVES)}. "
                         f"Got {gtpos_objective!r} instead.")
    rows, solutions = [], {}
    for method in methods:
        opts = method_options(method, time_limit=time_limit, seed=seed, engine=engine,
                              gtpos_objective=gtpos_objective, draws=draws, gtpos_solver=gtpos_solver)
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
        _spread_rows(instance, spread, seed, engine, rows, solutions)
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
    """One line per TPOS row: its ratio(s) to the GTPOS optimum, or why none is available."""
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
