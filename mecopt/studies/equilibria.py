"""The spread of the game's equilibria: TPOS dynamics from many seeded starts (``mecopt equilibria``).

Run ``k`` of ``starts`` uses seed ``seed + k``, which draws both the random initial
profile (Alg. 1-2 step 3) and every wake-up and wake order of the run. Certified
equilibria (the certificate of :mod:`mecopt.game.certificate`) are deduplicated by
their profile; runs that end uncertified are counted apart and never enter the
best/worst figures. For each measure (average delay, average energy, social cost
sum_n (alpha c^T T + beta c^E E + P_n), average cost, potential Phi) the best and worst
distinct equilibria are reported, every figure re-evaluated by the cost model
(:func:`mecopt.core.cost.evaluate`), never a solver's objective.

Each of delay, energy and social cost is compared with GTPOS's solution for the matching
objective, and the column ``ratio`` names what is divided. The ratio to GTPOS's *optimum* is
for the measure GTPOS minimized: the social cost, and the average delay and energy without
soft deadlines. Under ``deadline_policy = "soft"`` GTPOS minimizes the *penalised* delay and
energy (plus the mean deadline penalty, :mod:`mecopt.studies.ratios`): those are the extra
measures ``penalised_delay_s`` and ``penalised_energy_j`` (ratios to GTPOS's optimum), while the
plain average delay and energy are divided by those of GTPOS's solution (``gtpos`` is then
that solution's figure, not an optimum). When GTPOS did not prove its optimum the ratio lies in
[``*_ratio``, ``*_ratio_bound``] = [x / incumbent, x / bound]. The worst social ratio is the
*empirical price of anarchy*, the best one an empirical price of stability (both over the
equilibria found, not over all equilibria; :mod:`mecopt.milp.potential` gives a proven one).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from mecopt.core import cost as costmod
from mecopt.core.cost import social_cost
from mecopt.core.errors import InfeasibleError, InputError, SolverError
from mecopt.core.instance import Instance
from mecopt.core.solution import Termination
from mecopt.studies import ratios

#: each measure of an equilibrium and the GTPOS objective whose solution it is compared with (None: not compared)
MEASURES = {"avg_delay_s": "delay", "avg_energy_j": "energy", "social_cost": "social", "avg_cost": None,
            "potential": None}
#: the measures added under soft deadlines: GTPOS's penalised delay and energy objectives
PENALISED = {"penalised_delay_s": "delay", "penalised_energy_j": "energy"}
METHODS = ("tpos-cai", "tpos-uai")
SUMMARY_COLUMNS = ["measure", "best", "best_equilibrium", "worst", "worst_equilibrium", "gtpos", "gtpos_is",
                   "best_ratio", "worst_ratio", "best_ratio_bound", "worst_ratio_bound", "ratio"]


@dataclass
class Spread:
    """Result of :func:`spread`.

    Attributes
    ----------
    instance : str
        Instance name.
    runs : pandas.DataFrame
        One row per start.
    equilibria : pandas.DataFrame
        One row per distinct certified equilibrium.
    summary : pandas.DataFrame
        Per measure: best, worst, GTPOS's figure, ratios (columns :data:`SUMMARY_COLUMNS`).
    gtpos : dict
        GTPOS's proven optimum per objective (delay, energy, social; only those proven).
    gtpos_runs : dict
        Per objective solved: GTPOS's termination, gap, bound, objective and measures.
    wall_time : float
        Seconds for the whole spread.
    """

    instance: str
    runs: pd.DataFrame          # one row per start
    equilibria: pd.DataFrame    # one row per distinct certified equilibrium
    summary: pd.DataFrame       # per measure: best, worst, GTPOS's figure, ratios
    gtpos: dict = field(default_factory=dict)
    wall_time: float = 0.0
    gtpos_runs: dict = field(default_factory=dict)

    def lines(self) -> list[str]:
        """The lines printed by ``mecopt equilibria``: counts and the empirical price of anarchy.

        Returns
        -------
        list[str]
            The lines.
        """
        r = self.runs
        out = [f"{self.instance}: {len(r)} start(s), {int(r['certified'].sum())} certified, "
               f"{len(self.equilibria)} distinct equilibri{'um' if len(self.equilibria) == 1 else 'a'}"]
        s = self.summary.set_index("measure")
        if "social_cost" in s.index and pd.notna(s.loc["social_cost", "worst_ratio"]):
            row = s.loc["social_cost"]
            out.append(f"empirical price of anarchy (worst social cost / GTPOS optimum) "
                       f"{ratios.format_ratio(row['worst_ratio'], row['worst_ratio_bound'])}; best equilibrium "
                       f"found {ratios.format_ratio(row['best_ratio'], row['best_ratio_bound'])}")
        for objective, run in self.gtpos_runs.items():
            if "error" in run:
                out.append(f"GTPOS ({objective}) returned no solution: {run['error']}")
            elif run["termination"] != str(Termination.OPTIMAL):
                gap = "" if run["gap"] is None else f", gap {100 * run['gap']:.3g}%"
                out.append(f"GTPOS ({objective}) NOT proven optimal (termination {run['termination']}{gap}): its "
                           "ratios are intervals [x / incumbent, x / bound]")
        return out


def _key(profile) -> tuple:
    return tuple(tuple(int(x) for x in s) for s in profile)


def spread(instance: Instance, *, starts: int = 50, seed: int = 0, method: str = "tpos-cai", engine: str = "dp",
           wake_prob: float = 0.5, max_iter: int = 10_000, gtpos: bool = True,
           gtpos_time_limit: float | None = None) -> Spread:
    """Run ``method`` from ``starts`` seeded starts; see the module docstring.

    Parameters
    ----------
    instance : Instance
        The instance.
    starts : int, default 50
        Number of seeded starts.
    seed : int, default 0
        First seed.
    method : str, default 'tpos-cai'
        ``tpos-cai`` or ``tpos-uai``.
    engine : str, default 'dp'
        Best-response engine.
    wake_prob : float, default 0.5
        Probability that a device wakes up in a tick.
    max_iter : int, default 10000
        Most ticks per run.
    gtpos : bool, default True
        Whether to solve GTPOS for the ratios.
    gtpos_time_limit : float or None, default None
        Time limit of each GTPOS solve in seconds (None: none).

    Returns
    -------
    Spread
        The runs, the distinct equilibria and the summary.

    Raises
    ------
    InputError
        For a method that is not a TPOS game.
    """
    from mecopt.methods import registry

    if starts < 1:
        raise InputError(f"The 'starts' option must be >= 1. Got {starts} instead.")
    if method not in METHODS:
        raise InputError(f"The 'method' option must be one of {', '.join(METHODS)}. Got {method!r} instead.")
    t0 = time.perf_counter()
    soft = ratios.soft(instance)
    measures = {**MEASURES, **(PENALISED if soft else {})}
    runs, seen = [], {}
    for k in range(starts):
        sol = registry.solve(instance, method, engine=engine, seed=seed + k, wake_prob=wake_prob, max_iter=max_iter)
        ev = costmod.evaluate(instance, sol.profile)
        cert = bool(sol.certificate and sol.certificate["certified"])
        key = _key(sol.profile)
        row = dict(seed=seed + k, termination=str(sol.termination), certified=cert, ticks=sol.iterations,
                   best_response_calls=sol.solver_calls, avg_delay_s=ev.avg_delay, avg_energy_j=ev.avg_energy,
                   social_cost=social_cost(instance, ev), avg_cost=ev.avg_cost, potential=ev.potential,
                   **({m: ratios.objective_value(instance, ev, o) for m, o in PENALISED.items()} if soft else {}),
                   max_gain_rel=sol.certificate["max_gain_rel"] if sol.certificate else np.nan,
                   equilibrium=None)
        if cert:
            if key not in seen:
                seen[key] = dict(equilibrium=len(seen), first_seed=seed + k, count=0,
                                 **{m: row[m] for m in measures},
                                 partition_points=" ".join(str(int(x)) for x in ev.partition),
                                 last_slots=" ".join(str(int(x)) for x in ev.last_slot))
            seen[key]["count"] += 1
            row["equilibrium"] = seen[key]["equilibrium"]
        runs.append(row)
    runs_df = pd.DataFrame(runs)
    eq = pd.DataFrame(list(seen.values()))
    gtpos_runs = _gtpos_runs(instance, gtpos_time_limit) if gtpos else {}
    rows = []
    for m, objective in measures.items():
        if eq.empty:
            rows.append(dict(measure=m))
            continue
        best, worst = eq.loc[eq[m].idxmin()], eq.loc[eq[m].idxmax()]
        row = dict(measure=m, best=float(best[m]), best_equilibrium=int(best["equilibrium"]),
                   worst=float(worst[m]), worst_equilibrium=int(worst["equilibrium"]))
        run = gtpos_runs.get(objective) if objective else None
        if run is not None and "error" in run:
            row.update(gtpos_is=f"GTPOS({objective}) failed: {run['termination']}")
        elif run is not None:
            row.update(_ratio_columns(m, objective, run, row["best"], row["worst"], instance))
        rows.append(row)
    summary = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    opt = {o: r["objective"] for o, r in gtpos_runs.items() if r["termination"] == str(Termination.OPTIMAL)}
    return Spread(instance.name, runs_df, eq, summary, opt, time.perf_counter() - t0, gtpos_runs)


def _ratio_columns(measure: str, objective: str, run: dict, best: float, worst: float, instance: Instance) -> dict:
    """GTPOS's figure of ``measure`` and the best/worst ratios to it, named (see the module docstring)."""
    is_objective = measure in PENALISED or measure == "social_cost" or not ratios.soft(instance)
    if not is_objective:      # a plain measure under soft deadlines: GTPOS's solution, not an optimum
        value = run[measure]
        return dict(gtpos=value, gtpos_is=f"solution of GTPOS({objective})",
                    best_ratio=best / value if value > 0 else np.nan,
                    worst_ratio=worst / value if value > 0 else np.nan,
                    ratio=f"{measure} / {measure} of GTPOS({objective})'s solution")
    proven = run["termination"] == str(Termination.OPTIMAL)
    value = run["objective"]
    b_lo, b_hi = ratios.ratio_interval(best, value, run["bound"], proven)
    w_lo, w_hi = ratios.ratio_interval(worst, value, run["bound"], proven)
    gap = "" if run["gap"] is None else f", gap {run['gap']:.3g}"
    return dict(gtpos=value, gtpos_is="optimum" if proven else f"incumbent ({run['termination']}{gap})",
                best_ratio=b_lo, worst_ratio=w_lo, best_ratio_bound=b_hi, worst_ratio_bound=w_hi,
                ratio=f"{measure} / GTPOS({objective}) optimum" + ("" if proven else " [/ incumbent, / bound]"))


def _gtpos_runs(instance: Instance, time_limit: float | None) -> dict:
    """GTPOS for delay, energy and social cost: termination, gap, bound, objective and measures of each solution.

    A solve that returns no solution (a solver failure, an infeasible model) is recorded with its
    ``error``, and that objective gets no ratio.
    """
    from mecopt.methods.gtpos import solve_gtpos

    out = {}
    for objective in ("delay", "energy", "social"):
        try:
            sol = solve_gtpos(instance, objective=objective, time_limit=time_limit)
        except (SolverError, InfeasibleError) as err:   # no solution: no ratio for this objective
            out[objective] = dict(termination=str(Termination.INFEASIBLE if isinstance(err, InfeasibleError)
                                                  else Termination.ERROR), gap=None, error=str(err))
            continue
        ev = sol.evaluation
        out[objective] = dict(termination=str(sol.termination), gap=None if sol.gap is None else float(sol.gap),
                              bound=None if sol.bound is None else float(sol.bound),
                              objective=ratios.objective_value(instance, ev, objective),
                              avg_delay_s=ev.avg_delay, avg_energy_j=ev.avg_energy,
                              social_cost=social_cost(instance, ev))
    return out


def histogram(result: Spread, path: str | Path, measure: str = "social_cost") -> Path:
    """Histogram of ``measure`` over the certified runs (with multiplicity), GTPOS's figure marked.

    The line is labelled "GTPOS optimum" only when it is a proven optimum of ``measure``.

    Parameters
    ----------
    result : Spread
        The spread.
    path : str or Path
        The image file to write.
    measure : str, default 'social_cost'
        The column plotted.

    Returns
    -------
    Path
        The file written.
    """
    from mecopt.results import plots

    Figure = plots.require_matplotlib()
    fig = Figure(figsize=(7, 4), layout="constrained")
    ax = fig.add_subplot()
    vals = result.runs.loc[result.runs["certified"], measure].to_numpy(dtype=float)
    ax.hist(vals, bins=min(30, max(5, len(np.unique(vals)))), color="#4c72b0")
    s = result.summary.set_index("measure")
    o = s.loc[measure, "gtpos"] if measure in s.index and pd.notna(s.loc[measure, "gtpos"]) else None
    what = "GTPOS optimum" if o is not None and s.loc[measure, "gtpos_is"] == "optimum" else "GTPOS (not an optimum)"
    if o:
        ax.axvline(o, color="#c44e52", linestyle="--", label=what)
        ax.legend()
    ax.set_xlabel(measure.replace("_", " "))
    ax.set_ylabel("runs")
    ax.set_title(f"{result.instance}: {len(vals)} certified runs, {len(result.equilibria)} distinct equilibria")
    return plots.save(fig, path)
