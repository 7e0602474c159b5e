"""The spread of the game's equilibria: TPOS dynamics from many seeded starts (``mecopt equilibria``).

Run ``k`` of ``starts`` uses seed ``seed + k``, which draws both the random initial
profile (Alg. 1-2 step 3) and every wake-up and wake order of the run. Certified
equilibria (the certificate of :mod:`mecopt.game.certificate`) are deduplicated by
their profile; runs that end uncertified are counted apart and never enter the
best/worst figures. For each measure (average delay, average energy, social cost
sum_n (alpha c^T T + beta c^E E), average cost, potential Phi) the best and worst
distinct equilibria are reported, with the ratio to GTPOS's proven optimum of that
measure (delay, energy, social): the worst social ratio is the *empirical price of
anarchy*, the best one an empirical price of stability (both over the equilibria
found, not over all equilibria; :mod:`mecopt.milp.potential` gives a proven one).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from mecopt.core import cost as costmod
from mecopt.core.cost import social_cost
from mecopt.core.errors import InputError
from mecopt.core.instance import Instance
from mecopt.core.solution import Termination

MEASURES = {"avg_delay_s": "delay", "avg_energy_j": "energy", "social_cost": "social", "avg_cost": None,
            "potential": None}
METHODS = ("tpos-cai", "tpos-uai")


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
        Per measure: best, worst, GTPOS optimum, ratios.
    gtpos : dict
        GTPOS's optimum per measure (when solved).
    wall_time : float
        Seconds for the whole spread.
    """

    instance: str
    runs: pd.DataFrame          # one row per start
    equilibria: pd.DataFrame    # one row per distinct certified equilibrium
    summary: pd.DataFrame       # per measure: best, worst, GTPOS optimum, ratios
    gtpos: dict = field(default_factory=dict)
    wall_time: float = 0.0

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
            out.append(f"empirical price of anarchy (worst social cost / GTPOS optimum) = "
                       f"{s.loc['social_cost', 'worst_ratio']:.6g}; best equilibrium found: "
                       f"{s.loc['social_cost', 'best_ratio']:.6g}")
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
    runs, seen = [], {}
    for k in range(starts):
        sol = registry.solve(instance, method, engine=engine, seed=seed + k, wake_prob=wake_prob, max_iter=max_iter)
        ev = costmod.evaluate(instance, sol.profile)
        cert = bool(sol.certificate and sol.certificate["certified"])
        key = _key(sol.profile)
        row = dict(seed=seed + k, termination=str(sol.termination), certified=cert, ticks=sol.iterations,
                   best_response_calls=sol.solver_calls, avg_delay_s=ev.avg_delay, avg_energy_j=ev.avg_energy,
                   social_cost=social_cost(instance, ev), avg_cost=ev.avg_cost, potential=ev.potential,
                   max_gain_rel=sol.certificate["max_gain_rel"] if sol.certificate else np.nan,
                   equilibrium=None)
        if cert:
            if key not in seen:
                seen[key] = dict(equilibrium=len(seen), first_seed=seed + k, count=0,
                                 **{m: row[m] for m in MEASURES},
                                 partition_points=" ".join(str(int(x)) for x in ev.partition),
                                 last_slots=" ".join(str(int(x)) for x in ev.last_slot))
            seen[key]["count"] += 1
            row["equilibrium"] = seen[key]["equilibrium"]
        runs.append(row)
    runs_df = pd.DataFrame(runs)
    eq = pd.DataFrame(list(seen.values()))
    opt = _gtpos_optima(instance, gtpos_time_limit) if gtpos else {}
    rows = []
    for m, objective in MEASURES.items():
        if eq.empty:
            rows.append(dict(measure=m))
            continue
        best, worst = eq.loc[eq[m].idxmin()], eq.loc[eq[m].idxmax()]
        o = opt.get(objective) if objective else None
        rows.append(dict(measure=m, best=float(best[m]), best_equilibrium=int(best["equilibrium"]),
                         worst=float(worst[m]), worst_equilibrium=int(worst["equilibrium"]),
                         gtpos_optimum=o, best_ratio=float(best[m] / o) if o else np.nan,
                         worst_ratio=float(worst[m] / o) if o else np.nan))
    summary = pd.DataFrame(rows, columns=["measure", "best", "best_equilibrium", "worst", "worst_equilibrium",
                                          "gtpos_optimum", "best_ratio", "worst_ratio"])
    return Spread(instance.name, runs_df, eq, summary, opt, time.perf_counter() - t0)


def _gtpos_optima(instance: Instance, time_limit: float | None) -> dict:
    """GTPOS's proven optima of delay, energy and social cost (a measure is left out unless proven)."""
    from mecopt.methods.gtpos import solve_gtpos

    out = {}
    for objective in ("delay", "energy", "social"):
        sol = solve_gtpos(instance, objective=objective, time_limit=time_limit)
        if sol.termination == Termination.OPTIMAL:
            out[objective] = float(sol.objective)
    return out


def histogram(result: Spread, path: str | Path, measure: str = "social_cost") -> Path:
    """Histogram of ``measure`` over the certified runs (with multiplicity), GTPOS's optimum marked.

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
    o = result.gtpos.get(MEASURES.get(measure) or "")
    if o:
        ax.axvline(o, color="#c44e52", linestyle="--", label="GTPOS optimum")
        ax.legend()
    ax.set_xlabel(measure.replace("_", " "))
    ax.set_ylabel("runs")
    ax.set_title(f"{result.instance}: {len(vals)} certified runs, {len(result.equilibria)} distinct equilibria")
    return plots.save(fig, path)
