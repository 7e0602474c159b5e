"""Reproduction of the paper's §5 (Figs. 5-10): tables, one PNG per figure, and REPORT.md.

Each figure runs as a :mod:`mecopt.studies.sweep` of the instances in ``instances/paper/``
(so it is parallel, and resumable with ``resume=True``), its table is written
beside the report, and every claim of the paper's text about that figure is
judged *from that table* by a rule stated in the report: **reproduced**,
**partly** (saying where it fails) or **not reproduced** — never forced.

Cases (the paper's §5): Case 1 = TPOS-UAI, Case 2 = GTPOS (minimum average
delay), Case 3 = all offload (figures are the means over its seeded draws),
Case 4 = all local.

Layout of ``OUT``: ``fig*_*.<fmt>`` (the tables), ``claims.<fmt>``,
``fig5.png`` ... ``fig10.png``, ``REPORT.md``, and ``sweeps/figN/`` (each
figure's sweep: its log, results and solution directories, always CSV so that
figures can be re-drawn from them).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from mecopt.model.cost import blocks
from mecopt.errors import InputError
from mecopt.results.export import FORMATS, find_table, read_table, write_json, write_table, write_text
from mecopt.resources import instances_dir
from mecopt.studies.sweep import Axis, SweepSpec, _stop_workers, local_executor, run_sweep, solution_path

FIGURES = ("5", "6", "7", "8", "9", "10")
META_NAME = "reproduce.json"
CASES = {"tpos-uai": 1, "gtpos": 2, "all-offload": 3, "all-local": 4}
CASE_NAMES = {1: "Case 1 (TPOS-UAI)", 2: "Case 2 (GTPOS)", 3: "Case 3 (all offload)", 4: "Case 4 (all local)"}
ALGORITHMS = {"tpos-cai": "Algorithm 1 (TPOS-CAI)", "tpos-uai": "Algorithm 2 (TPOS-UAI)"}
#: decreasing computational complexity (the paper's order)
DNNS = ("vgg16", "vgg13", "alexnet", "lenet")
COMPLEX_DNNS = ("vgg16", "vgg13", "alexnet")

REPRODUCED, PARTLY, NOT, MISSING = "reproduced", "partly", "not reproduced", "not evaluated"

#: rules' thresholds, stated in the report
SAME_COST_REL = 0.01        # C5.1: |UAI - CAI| / CAI
SIMILAR_SPEED = (0.5, 2.0)  # C5.3: UAI ticks / CAI ticks
SHARP_FACTOR = 2.0          # C5.2: ticks(max N) >= 2 x ticks(min N)
NEAR_OPT_REL = 0.10         # C8.1: (Case 1 - Case 2) / Case 2
TOL = 1e-9                  # relative tolerance of every comparison
#: Fig. 10b as printed: MD 2 (VGG13) runs layers 21-22 in slot 1, 23 in slot 2, 24-31 in slot 3
PAPER_VGG13_BLOCKS = "21-22:1 23:2 24-31:3"
CONVERGED_REL = 1e-9        # a trace has converged once avg_cost stays within this of its final value


@dataclass(frozen=True)
class Settings:
    engine: str = "dp"
    quick: bool = False
    bandwidths_khz: tuple[float, ...] = tuple(round(0.2 * k, 1) for k in range(1, 11))
    fig5_seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    draws: int = 20                   # Case 3 draws
    gtpos_time_limit: float | None = None
    seed: int = 0                     # seed of the game and Case 3 in Figs. 6-10

    @classmethod
    def make(cls, engine: str = "dp", quick: bool = False) -> "Settings":
        if engine not in ("dp", "milp"):
            raise InputError(f"The 'engine' option must be one of dp, milp. Got {engine!r} instead.")
        if quick:
            return cls(engine=engine, quick=True, bandwidths_khz=(0.2, 0.4, 1.0, 2.0), fig5_seeds=(0,), draws=5,
                       gtpos_time_limit=60.0)
        return cls(engine=engine)


def parse_figures(spec: str | Iterable[str]) -> tuple[str, ...]:
    """``"all"``, ``"6"``, ``"5,8"`` or a list -> the figures in paper order."""
    items = [s.strip() for s in (spec.split(",") if isinstance(spec, str) else spec) if str(s).strip()]
    if not items or "all" in items:
        return FIGURES
    bad = [s for s in items if s not in FIGURES]
    if bad:
        raise InputError(f"The 'fig' option must be among {', '.join(FIGURES)} or all. Got {', '.join(bad)} instead.")
    return tuple(f for f in FIGURES if f in items)


def paper_instance(name: str) -> Path:
    path = instances_dir() / "paper" / f"{name}.toml"
    if not path.is_file():
        raise InputError(f"paper instance not found: {path}")
    return path


# =========================================================================== running

@dataclass
class Context:
    out: Path
    settings: Settings
    executor: Executor
    resume: bool
    progress: Callable[[str, int, int], None] | None

    def sweep(self, fig: str, instances: Sequence[Path], methods: Sequence[str], *, axes: Sequence[Axis] = (),
              seeds: Sequence[int] = (0,)) -> tuple[pd.DataFrame, Path]:
        s = self.settings
        options: dict = {"*": {"engine": s.engine}}
        if "all-offload" in methods:
            options["all-offload"] = {"draws": s.draws}
        if "gtpos" in methods and s.gtpos_time_limit is not None:
            options["gtpos"] = {"time_limit": s.gtpos_time_limit}
        spec = SweepSpec(instances=tuple(str(p) for p in instances), axes=tuple(axes), methods=tuple(methods),
                         seeds=tuple(seeds), options=options, save_solutions=True)
        out = self.out / "sweeps" / f"fig{fig}"
        cb = (lambda done, total: self.progress(f"fig{fig}", done, total)) if self.progress else None
        res = run_sweep(spec, out, fmt="csv", resume=self.resume, executor=self.executor, progress=cb)
        return res.table, out


def _metric(row: pd.Series, col: str) -> float:
    """A figure of a results row; Case 3 reports the mean over its draws (``info.<col>_mean``)."""
    mean = row.get(f"info.{col}_mean")
    if row.get("method") == "all-offload" and mean is not None and not pd.isna(mean):
        return float(mean)
    v = row.get(col)
    return float(v) if v is not None and not pd.isna(v) else math.nan


def _offloading(sweep_dir: Path, row: pd.Series) -> int | None:
    """How many devices offload at least one layer (m* < M), from the run's solution directory."""
    d = solution_path(sweep_dir, row["point"], row["method"], row["seed"])
    path = d / "assignment.csv"
    if not path.is_file():
        return None
    a = read_table(path)
    return int((a.groupby("device")["slot"].max() > 0).sum())


def cases_table(results: pd.DataFrame, sweep_dir: Path, x_name: str, x_of: Callable[[pd.Series], object]) -> pd.DataFrame:
    """One row per (x, case): the figures of Cases 1-4 at each x."""
    rows = []
    for _, r in results.iterrows():
        case = CASES.get(r["method"])
        if case is None:
            continue
        rows.append({
            x_name: x_of(r), "case": case, "method": r["method"],
            "avg_delay_s": _metric(r, "avg_delay_s"), "avg_energy_j": _metric(r, "avg_energy_j"),
            "avg_cost": _metric(r, "avg_cost"),
            "termination": r.get("termination"), "violations": _int(r.get("violations")),
            "deadline_misses": _int(r.get("deadline_misses")), "offloading_devices": _offloading(sweep_dir, r),
            "draws": _int(r.get("info.draws")) if r["method"] == "all-offload" else None,
            "queued": _num(r.get("info.queued_mean")) if r["method"] == "all-offload" else None,
        })
    df = pd.DataFrame(rows)
    return df.sort_values([x_name, "case"], kind="stable", key=_order_key).reset_index(drop=True)


def _order_key(col: pd.Series):
    if col.name == "dnn":
        return col.map({d: i for i, d in enumerate(DNNS)})
    return col


def _int(v):
    return None if v is None or pd.isna(v) else int(v)


def _num(v):
    return None if v is None or pd.isna(v) else float(v)


def run_fig5(ctx: Context) -> dict[str, pd.DataFrame]:
    s = ctx.settings
    names = ("fig5-n5", "fig5-n10", "fig5-n20")
    from mecopt.model.instance import load_instance
    N_of = {inst.name: inst.N for inst in (load_instance(paper_instance(n)) for n in names)}
    results, sdir = ctx.sweep("5", [paper_instance(n) for n in names], ["tpos-cai", "tpos-uai"], seeds=s.fig5_seeds)
    traces, runs = [], []
    for _, r in results.iterrows():
        N = N_of[r["instance"]]
        tpath = solution_path(sdir, r["point"], r["method"], r["seed"]) / "trace.csv"
        tr = read_table(tpath) if tpath.is_file() else pd.DataFrame(columns=["tick", "avg_cost", "potential"])
        traces.append(pd.DataFrame({"N": N, "method": r["method"], "seed": int(r["seed"]),
                                    "tick": tr["tick"].astype(int), "avg_cost": tr["avg_cost"].astype(float),
                                    "potential": tr["potential"].astype(float)}))
        runs.append(dict(N=N, method=r["method"], seed=int(r["seed"]), final_avg_cost=float(r["avg_cost"]),
                         ticks=_int(r.get("iterations")), ticks_to_converge=ticks_to_converge(tr),
                         termination=r.get("termination"), certified=r.get("certificate.certified"),
                         max_gain_rel=r.get("certificate.max_gain_rel"),
                         topology=r.get("info.topology") if r["method"] == "tpos-uai" else None))
    runs_df = pd.DataFrame(runs).sort_values(["N", "method", "seed"]).reset_index(drop=True)
    trace_df = pd.concat(traces, ignore_index=True).sort_values(["N", "method", "seed", "tick"]).reset_index(drop=True)
    summary = (runs_df.groupby(["N", "method"], sort=True)
               .agg(seeds=("seed", "count"), final_avg_cost=("final_avg_cost", "mean"),
                    ticks_to_converge=("ticks_to_converge", "mean"), ticks=("ticks", "mean"))
               .reset_index())
    return {"fig5_summary": summary, "fig5_runs": runs_df, "fig5_trace": trace_df}


def ticks_to_converge(trace: pd.DataFrame) -> int | None:
    """The first tick from which the average cost stays within CONVERGED_REL of its final value."""
    if trace.empty:
        return None
    c = trace.sort_values("tick")["avg_cost"].to_numpy(dtype=float)
    ticks = trace.sort_values("tick")["tick"].to_numpy(dtype=int)
    final = c[-1]
    off = np.abs(c - final) > CONVERGED_REL * max(1.0, abs(final))
    if not off.any():
        return int(ticks[0])
    return int(ticks[np.flatnonzero(off)[-1] + 1])


def _bandwidth_sweep(ctx: Context, fig: str, instance: str) -> dict[str, pd.DataFrame]:
    axis = Axis("devices.0.bandwidth_hz", tuple(float(round(w * 1000, 6)) for w in ctx.settings.bandwidths_khz))
    results, sdir = ctx.sweep(fig, [paper_instance(instance)], list(CASES), axes=[axis], seeds=(ctx.settings.seed,))
    return {f"fig{fig}_cases": cases_table(results, sdir, "W_khz", lambda r: float(r["devices.0.bandwidth_hz"]) / 1000)}


def run_fig6(ctx: Context) -> dict[str, pd.DataFrame]:
    return _bandwidth_sweep(ctx, "6", "fig6-w0.2khz")


def run_fig7(ctx: Context) -> dict[str, pd.DataFrame]:
    return _bandwidth_sweep(ctx, "7", "fig7-w0.4khz")


def _dnn_sweep(ctx: Context, fig: str) -> dict[str, pd.DataFrame]:
    files = {d: paper_instance(f"fig{fig}-{d}") for d in DNNS}
    from mecopt.model.instance import load_instance
    dnn_of = {load_instance(p).name: d for d, p in files.items()}
    results, sdir = ctx.sweep(fig, list(files.values()), list(CASES), seeds=(ctx.settings.seed,))
    return {f"fig{fig}_cases": cases_table(results, sdir, "dnn", lambda r: dnn_of[r["instance"]])}


def run_fig8(ctx: Context) -> dict[str, pd.DataFrame]:
    return _dnn_sweep(ctx, "8")


def run_fig9(ctx: Context) -> dict[str, pd.DataFrame]:
    return _dnn_sweep(ctx, "9")


def run_fig10(ctx: Context) -> dict[str, pd.DataFrame]:
    results, sdir = ctx.sweep("10", [paper_instance("fig10-mixed")], ["tpos-uai"], seeds=(ctx.settings.seed,))
    r = results.iloc[0]
    d = solution_path(sdir, r["point"], r["method"], r["seed"])
    assignment = read_table(d / "assignment.csv")
    devices = read_table(d / "devices.csv")
    rows = []
    for _, dv in devices.iterrows():
        a = assignment[assignment["device"] == dv["device"]].sort_values("layer")
        slots = a["slot"].to_numpy(dtype=int)
        M, m = len(slots), int(dv["partition_point"])
        server_blocks = [f"{_span(x, y)}:{h}" for x, y, h in blocks(slots) if h > 0]
        rows.append(dict(device=dv["device"], dnn=dv["dnn"], layers=M, partition_point=m,
                         local_layers=_span(1, m) if m else "", offloaded_layers=_span(m + 1, M) if m < M else "",
                         server_blocks=" ".join(server_blocks), last_slot=int(dv["last_slot"]), delay_s=float(dv["delay_s"]),
                         energy_j=float(dv["energy_j"]), deadline_met=bool(dv["deadline_met"])))
    summary = pd.DataFrame([dict(method=r["method"], termination=r.get("termination"),
                                 avg_delay_s=float(r["avg_delay_s"]), avg_energy_j=float(r["avg_energy_j"]),
                                 avg_cost=float(r["avg_cost"]), violations=_int(r.get("violations")),
                                 deadline_misses=_int(r.get("deadline_misses")))])
    return {"fig10_devices": pd.DataFrame(rows), "fig10_assignment": assignment, "fig10_summary": summary}


def _span(a: int, b: int) -> str:
    return f"{a}" if a == b else f"{a}-{b}"


RUNNERS = {"5": run_fig5, "6": run_fig6, "7": run_fig7, "8": run_fig8, "9": run_fig9, "10": run_fig10}


# =========================================================================== claims

@dataclass(frozen=True)
class Evidence:
    """A number a claim's detail quotes, and where it sits: ``table`` row matching ``where``, ``column``."""

    table: str
    where: tuple[tuple[str, object], ...]
    column: str
    value: object


@dataclass
class Claim:
    id: str
    figure: str
    text: str          # the paper's claim
    rule: str          # how it is judged from the table
    verdict: str = MISSING
    detail: str = ""
    evidence: list[Evidence] = field(default_factory=list)


def num(v) -> str:
    """How every number appears in the report."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    if isinstance(v, bool | np.bool_):
        return str(bool(v))
    if isinstance(v, int | np.integer):
        return str(int(v))
    return f"{float(v):.4g}"


class _Lookup:
    """Fetches table values for one claim and records them as evidence."""

    def __init__(self, tables: dict[str, pd.DataFrame], claim: Claim):
        self.tables, self.claim = tables, claim

    def get(self, table: str, column: str, **where):
        df = self.tables.get(table)
        if df is None or column not in df.columns:
            raise KeyError(table)
        mask = np.ones(len(df), dtype=bool)
        for k, v in where.items():
            mask &= (df[k] == v).to_numpy()
        rows = df[mask]
        if len(rows) != 1:
            raise KeyError(f"{table}: {len(rows)} rows match {where}")
        v = rows.iloc[0][column]
        v = v.item() if hasattr(v, "item") else v
        self.claim.evidence.append(Evidence(table, tuple(where.items()), column, v))
        return v

    def n(self, v) -> str:
        return num(v)


def _verdict(flags: Sequence[bool]) -> str:
    if flags and all(flags):
        return REPRODUCED
    return PARTLY if any(flags) else NOT


def _le(a: float, b: float) -> bool:
    return a <= b + TOL * max(1.0, abs(b))


def _lt(a: float, b: float) -> bool:
    return a < b - TOL * max(1.0, abs(b))


def _xs(tables, table: str, x: str) -> list:
    df = tables[table]
    xs = list(dict.fromkeys(df[x]))
    return [d for d in DNNS if d in xs] if x == "dnn" else sorted(xs)


def _xlabel(x, v) -> str:
    return f"W = {num(v)} kHz" if x == "W_khz" else str(v)


def claims_fig5(t) -> list[Claim]:
    out = []
    c = Claim("C5.1", "5", "Algorithms 1 and 2 converge to the same average cost.",
              f"|C(UAI) - C(CAI)| / C(CAI) <= {SAME_COST_REL:.0%} at every N (final average cost, mean over seeds)")
    def same(L):
        flags, parts = [], []
        for N in sorted(t["fig5_summary"]["N"].unique()):
            a = L.get("fig5_summary", "final_avg_cost", N=N, method="tpos-cai")
            b = L.get("fig5_summary", "final_avg_cost", N=N, method="tpos-uai")
            rel = abs(b - a) / max(abs(a), 1e-300)
            flags.append(rel <= SAME_COST_REL)
            parts.append(f"N = {N}: CAI {L.n(a)}, UAI {L.n(b)} ({rel:.2%} apart)")
        return flags, "; ".join(parts)
    out.append(_judge(t, c, same))

    c = Claim("C5.2", "5", "The convergence speed of each algorithm drops sharply as N increases.",
              f"ticks to converge rise strictly with N for both algorithms, and at least {SHARP_FACTOR:g}x from the "
              f"smallest to the largest N ('sharply'); partly if they rise less or for one algorithm only")
    def speed(L):
        flags, parts = [], []
        Ns = sorted(t["fig5_summary"]["N"].unique())
        for m in ("tpos-cai", "tpos-uai"):
            k = [L.get("fig5_summary", "ticks_to_converge", N=N, method=m) for N in Ns]
            rising = all(_lt(a, b) for a, b in zip(k, k[1:]))
            sharp = rising and k[-1] >= SHARP_FACTOR * k[0]
            flags += [rising, sharp]
            parts.append(f"{ALGORITHMS[m]}: " + ", ".join(f"N = {N}: {L.n(v)}" for N, v in zip(Ns, k))
                         + (" ticks (rising" + (", sharply)" if sharp else ", not sharply)") if rising else
                            " ticks (not rising)"))
        return flags, "; ".join(parts)
    out.append(_judge(t, c, speed))

    c = Claim("C5.3", "5", "Algorithms 1 and 2 converge with similar speed.",
              f"ticks to converge of UAI / CAI within [{SIMILAR_SPEED[0]:g}, {SIMILAR_SPEED[1]:g}] at every N")
    def similar(L):
        flags, parts = [], []
        for N in sorted(t["fig5_summary"]["N"].unique()):
            a = L.get("fig5_summary", "ticks_to_converge", N=N, method="tpos-cai")
            b = L.get("fig5_summary", "ticks_to_converge", N=N, method="tpos-uai")
            ratio = b / a if a else math.inf
            flags.append(SIMILAR_SPEED[0] <= ratio <= SIMILAR_SPEED[1])
            parts.append(f"N = {N}: CAI {L.n(a)}, UAI {L.n(b)} ticks")
        return flags, "; ".join(parts)
    out.append(_judge(t, c, similar))
    return out


def _case_values(L, table, x, xv, metric, cases=(1, 2, 3, 4)):
    return {k: L.get(table, metric, **{x: xv}, case=k) for k in cases}


def _claim_case1_beats(t, cid, fig, table, x, metric, others, text, unit):
    c = Claim(cid, fig, text, f"{metric} of Case 1 strictly below that of Case(s) {', '.join(map(str, others))} at "
              f"every {'W' if x == 'W_khz' else 'DNN'}")
    def rule(L):
        flags, parts, fails = [], [], []
        for xv in _xs(t, table, x):
            v = _case_values(L, table, x, xv, metric, (1, *others))
            ok = all(_lt(v[1], v[o]) for o in others)
            flags.append(ok)
            parts.append(f"{_xlabel(x, xv)}: " + " / ".join(f"{L.n(v[k])}" for k in (1, *others)))
            if not ok:
                beaten_by_3 = 3 in others and not _lt(v[1], v[3])
                fails.append(_xlabel(x, xv) + (f" ({_queue_note(L, table, x, xv).lstrip('; ')})" if beaten_by_3 else ""))
        head = f"Case 1 / Case {' / Case '.join(map(str, others))} in {unit}: "
        return flags, head + "; ".join(parts) + (f". Fails at {', '.join(fails)}." if fails else ".")
    return _judge(t, c, rule)


def _queue_note(L, table, x, xv) -> str:
    """Case 3 can win because an MD that does not fit the frame is served after it, outside the
    slot model (docs/MODEL.md §6): say how many MDs it queued there on average."""
    if "queued" not in L.tables[table].columns:
        return ""
    q = L.get(table, "queued", **{x: xv}, case=3)
    return f"; Case 3 queues {L.n(q)} MD(s) on average after the frame, outside (17)/(27)" if q else ""


def _claim_min(t, cid, fig, table, x, metric, case, text, unit):
    c = Claim(cid, fig, text, f"{metric} of Case {case} <= that of every other case at every "
              f"{'W' if x == 'W_khz' else 'DNN'}")
    def rule(L):
        flags, parts, fails = [], [], []
        for xv in _xs(t, table, x):
            v = _case_values(L, table, x, xv, metric)
            ok = all(_le(v[case], v[k]) for k in v if k != case)
            flags.append(ok)
            if not ok:
                best = min(v, key=v.get)
                fails.append(f"{_xlabel(x, xv)} (Case {best} lowest{_queue_note(L, table, x, xv) if best == 3 else ''})")
            parts.append(f"{_xlabel(x, xv)}: " + " / ".join(L.n(v[k]) for k in (1, 2, 3, 4)))
        return flags, (f"Cases 1 / 2 / 3 / 4 in {unit}: " + "; ".join(parts)
                       + (f". Fails at {', '.join(fails)}." if fails else "."))
    return _judge(t, c, rule)


def _claim_trend_w(t, cid, fig, table, metric, text, unit):
    c = Claim(cid, fig, text, f"{metric} of Cases 1-3 never rises from one W to the next and ends lower than it "
              f"starts; that of Case 4 is the same at every W (relative tolerance {TOL:g})")
    def rule(L):
        Ws = _xs(t, table, "W_khz")
        flags, parts = [], []
        for k in (1, 2, 3, 4):
            vals = [L.get(table, metric, W_khz=w, case=k) for w in Ws]
            if k == 4:
                ok = max(vals) - min(vals) <= TOL * max(1.0, abs(max(vals)))
                parts.append("Case 4 " + ", ".join(L.n(v) for v in vals) + f" {unit}"
                             + (" (constant)" if ok else " (varies)"))
            else:
                rises = [f"{num(a)}->{num(b)} {unit} at W = {num(w1)}->{num(w2)} kHz"
                         for (w1, a), (w2, b) in zip(zip(Ws, vals), zip(Ws[1:], vals[1:])) if _lt(a, b)]
                ok = not rises and _lt(vals[-1], vals[0])
                desc = f"Case {k} " + ", ".join(L.n(v) for v in vals) + f" {unit}"
                if rises:
                    desc += f" (rises {'; '.join(rises)})"
                elif not _lt(vals[-1], vals[0]):
                    desc += " (no decrease)"
                parts.append(desc)
            flags.append(ok)
        return flags, f"at W = {', '.join(num(w) for w in Ws)} kHz: " + "; ".join(parts) + "."
    return _judge(t, c, rule)


def _claim_schedule(t, cid, fig, table, where, text):
    c = Claim(cid, fig, text, "the Case 1 (TPOS-UAI) profile passes the independent checker (no violation of "
              "(15)-(17), (26), (27)) and offloads something (the paper's panel shows offloaded subtasks); "
              "partly if it is feasible but offloads nothing")
    def rule(L):
        v = L.get(table, "violations", **where)
        k = L.get(table, "offloading_devices", **where)
        feasible = v == 0
        detail = f"{L.n(v)} violation(s); {L.n(k)} device(s) offload at least one layer"
        if feasible and not k:
            detail += " (no layer is offloaded, so the schedule is empty and the rules hold vacuously)"
        return [feasible, feasible and bool(k)], detail + "."
    return _judge(t, c, rule)


def claims_fig6(t) -> list[Claim]:
    tb = "fig6_cases"
    return [
        _claim_case1_beats(t, "C6.1", "6", tb, "W_khz", "avg_delay_s", (3, 4),
                           "Case 1 achieves a smaller average delay than Cases 3 and 4.", "s"),
        _claim_min(t, "C6.2", "6", tb, "W_khz", "avg_delay_s", 2,
                   "Case 2 achieves the minimum average delay.", "s"),
        _claim_trend_w(t, "C6.3", "6", tb, "avg_delay_s",
                       "The average delay of Cases 1, 2 and 3 decreases as W increases, while that of Case 4 "
                       "remains unchanged.", "s"),
        _claim_drop(t),
        _claim_schedule(t, "C6.5", "6", tb, dict(W_khz=0.2, case=1),
                        "Fig. 6a: the TPOS-UAI schedule at W = 0.2 kHz is consistent with Rules 1 and 2."),
    ]


def _claim_drop(t):
    tb = "fig6_cases"
    c = Claim("C6.4", "6", "The reduction of the average delay with W is more significant under Case 3 than under "
              "Cases 1 and 2.", "delay(W_min) - delay(W_max) of Case 3 larger than that of Case 1 and of Case 2")
    def rule(L):
        Ws = _xs(t, tb, "W_khz")
        drop, parts = {}, []
        for k in (1, 2, 3):
            a, b = L.get(tb, "avg_delay_s", W_khz=Ws[0], case=k), L.get(tb, "avg_delay_s", W_khz=Ws[-1], case=k)
            drop[k] = a - b
            parts.append(f"Case {k} {L.n(a)} -> {L.n(b)} s (drop {num(drop[k])} s)")
        flags = [drop[3] > drop[1], drop[3] > drop[2]]
        return flags, f"from W = {num(Ws[0])} to {num(Ws[-1])} kHz: " + "; ".join(parts) + "."
    return _judge(t, c, rule)


def claims_fig7(t) -> list[Claim]:
    tb = "fig7_cases"
    return [
        _claim_min(t, "C7.1", "7", tb, "W_khz", "avg_energy_j", 1,
                   "Case 1 achieves the minimum average energy consumption.", "J"),
        _claim_trend_w(t, "C7.2", "7", tb, "avg_energy_j",
                       "The average energy of Cases 1, 2 and 3 decreases as W increases, while that of Case 4 "
                       "remains unchanged.", "J"),
        _claim_schedule(t, "C7.3", "7", tb, dict(W_khz=0.4, case=1),
                        "Fig. 7a: the TPOS-UAI schedule at W = 0.4 kHz is consistent with Rules 1 and 2."),
    ]


def _claim_near_opt(t):
    tb = "fig8_cases"
    c = Claim("C8.1", "8", "Case 1 approaches the optimal average delay of Case 2 regardless of the DNN type.",
              f"(delay of Case 1 - delay of Case 2) / delay of Case 2 <= {NEAR_OPT_REL:.0%} for every DNN")
    def rule(L):
        flags, parts = [], []
        for d in _xs(t, tb, "dnn"):
            a, b = L.get(tb, "avg_delay_s", dnn=d, case=1), L.get(tb, "avg_delay_s", dnn=d, case=2)
            gap = (a - b) / b
            flags.append(gap <= NEAR_OPT_REL)
            parts.append(f"{d}: {L.n(a)} vs {L.n(b)} s ({gap:+.1%})")
        return flags, "Case 1 vs Case 2: " + "; ".join(parts) + "."
    return _judge(t, c, rule)


def _claim_complexity(t, cid, fig, table, metric, text, unit):
    c = Claim(cid, fig, text, f"{metric} strictly decreases along VGG16, VGG13, AlexNet, LeNet for each of Cases 1-4")
    def rule(L):
        flags, parts = [], []
        ds = _xs(t, table, "dnn")
        for k in (1, 2, 3, 4):
            vals = [L.get(table, metric, dnn=d, case=k) for d in ds]
            ok = all(_lt(b, a) for a, b in zip(vals, vals[1:]))
            flags.append(ok)
            parts.append(f"Case {k}: " + " > ".join(L.n(v) for v in vals) + ("" if ok else " (not decreasing)"))
        return flags, f"{' / '.join(ds)} in {unit}: " + "; ".join(parts) + "."
    return _judge(t, c, rule)


def claims_fig8(t) -> list[Claim]:
    tb = "fig8_cases"
    return [
        _claim_near_opt(t),
        _claim_min(t, "C8.2", "8", tb, "dnn", "avg_delay_s", 2,
                   "Case 2 achieves the smallest average delay among the four cases.", "s"),
        _claim_complexity(t, "C8.3", "8", tb, "avg_delay_s",
                          "The average delay under Cases 1-4 decreases as the computational complexity of the DNN "
                          "decreases.", "s"),
    ]


def claims_fig9(t) -> list[Claim]:
    tb = "fig9_cases"
    return [
        _claim_min(t, "C9.1", "9", tb, "dnn", "avg_energy_j", 1,
                   "Case 1 achieves the smallest average energy consumption regardless of the DNN type.", "J"),
        _claim_case2_energy(t),
        _claim_complexity(t, "C9.3", "9", tb, "avg_energy_j",
                          "The average energy under Cases 1-4 decreases as the computational complexity of the DNN "
                          "decreases.", "J"),
    ]


def _claim_case2_energy(t):
    tb = "fig9_cases"
    c = Claim("C9.2", "9", "Case 2 is energy-consuming, since it does not take energy into account.",
              "energy of Case 2 strictly above that of Case 1 for every DNN")
    def rule(L):
        flags, parts = [], []
        for d in _xs(t, tb, "dnn"):
            a, b = L.get(tb, "avg_energy_j", dnn=d, case=1), L.get(tb, "avg_energy_j", dnn=d, case=2)
            flags.append(_lt(a, b))
            parts.append(f"{d}: Case 2 {L.n(b)} vs Case 1 {L.n(a)} J")
        return flags, "; ".join(parts) + "."
    return _judge(t, c, rule)


def claims_fig10(t) -> list[Claim]:
    tb = "fig10_devices"
    out = []
    c = Claim("C10.1", "10", "MDs with complex DNNs (VGG16, VGG13, AlexNet) offload part of their subtasks, while "
              "the MD with LeNet prefers local execution.",
              "partition point m* < M (a tail offloaded) for each VGG16/VGG13/AlexNet MD, m* = M for the LeNet MD")
    def offload(L):
        flags, parts = [], []
        for dev in t[tb]["device"]:
            dnn = L.get(tb, "dnn", device=dev)
            m, M = L.get(tb, "partition_point", device=dev), L.get(tb, "layers", device=dev)
            if dnn in COMPLEX_DNNS:
                flags.append(m < M)
            elif dnn == "lenet":
                flags.append(m == M)
            else:
                continue
            parts.append(f"{dev} ({dnn}): m* = {L.n(m)} of {L.n(M)}" + (" (all local)" if m == M else ""))
        return flags, "; ".join(parts) + "."
    out.append(_judge(t, c, offload))

    c = Claim("C10.2", "10", "MD 2 (VGG13) computes layers 1-20 locally and offloads layers 21-31 "
              "(21-22 to slot 1, 23 to slot 2, 24-31 to slot 3).",
              f"the VGG13 MD has m* = 20 of 31 and server blocks {PAPER_VGG13_BLOCKS} (layers:slot); partly if "
              "only some of: a tail offloaded, m* = 20, those blocks")
    def vgg13(L):
        devs = [d for d in t[tb]["device"] if L.tables[tb].set_index("device").loc[d, "dnn"] == "vgg13"]
        if not devs:
            raise KeyError("no VGG13 device")
        dev = devs[0]
        m, M = L.get(tb, "partition_point", device=dev), L.get(tb, "layers", device=dev)
        blocks = L.get(tb, "server_blocks", device=dev)
        detail = (f"{dev}: m* = {L.n(m)} of {L.n(M)}; server blocks (layers:slot) "
                  f"{blocks if isinstance(blocks, str) and blocks else 'none'}.")
        return [m < M, m == 20, blocks == PAPER_VGG13_BLOCKS], detail
    out.append(_judge(t, c, vgg13))

    c = Claim("C10.3", "10", "Fig. 10b: the TPOS-UAI schedule of the mixed-DNN MDs is consistent with Rules 1 and 2.",
              "the TPOS-UAI profile passes the independent checker (no violation of (15)-(17), (26), (27))")
    def rules(L):
        v = L.get("fig10_summary", "violations", method="tpos-uai")
        return [v == 0], f"{L.n(v)} violation(s)."
    out.append(_judge(t, c, rules))
    return out


def _judge(tables, claim: Claim, rule) -> Claim:
    try:
        flags, detail = rule(_Lookup(tables, claim))
    except (KeyError, IndexError, TypeError, ValueError, ZeroDivisionError) as err:
        claim.verdict, claim.detail = MISSING, f"cannot be judged from the tables ({err})"
        return claim
    claim.verdict, claim.detail = _verdict([bool(f) for f in flags]), detail
    if any(isinstance(e.value, float) and math.isnan(e.value) for e in claim.evidence):
        claim.verdict = MISSING
        claim.detail += " (some figures are missing: a run failed)"
    return claim


CLAIMS = {"5": claims_fig5, "6": claims_fig6, "7": claims_fig7, "8": claims_fig8, "9": claims_fig9,
          "10": claims_fig10}
#: tables each figure's claims read
NEEDS = {"5": ("fig5_summary",), "6": ("fig6_cases",), "7": ("fig7_cases",), "8": ("fig8_cases",),
         "9": ("fig9_cases",), "10": ("fig10_devices", "fig10_summary")}


def evaluate_claims(tables: dict[str, pd.DataFrame], figures: Sequence[str] = FIGURES) -> list[Claim]:
    """Judge every claim of the given figures from the tables (figures whose tables are absent are skipped)."""
    out = []
    for f in figures:
        if all(n in tables for n in NEEDS[f]):
            out.extend(CLAIMS[f](tables))
    return out


def claims_frame(claims: Sequence[Claim]) -> pd.DataFrame:
    return pd.DataFrame([dict(id=c.id, figure=c.figure, claim=c.text, verdict=c.verdict, rule=c.rule,
                              detail=c.detail) for c in claims],
                        columns=["id", "figure", "claim", "verdict", "rule", "detail"])


# =========================================================================== report

TITLES = {
    "5": "Fig. 5 — convergence of Algorithms 1 and 2 (AlexNet, .42/.17/.41, N = 5, 10, 20)",
    "6": "Fig. 6 — average delay of Cases 1-4 vs bandwidth (5 AlexNet MDs, .95/.049/.001)",
    "7": "Fig. 7 — average energy of Cases 1-4 vs bandwidth (5 AlexNet MDs, .1/.75/.15)",
    "8": "Fig. 8 — average delay of Cases 1-4 per DNN type (W = 1 kHz, .95/.049/.001)",
    "9": "Fig. 9 — average energy of Cases 1-4 per DNN type (W = 1 kHz, .049/.95/.001)",
    "10": "Fig. 10 — TPOS-UAI strategies of MDs with mixed DNNs (.95/.049/.001)",
}


def _pivot(df: pd.DataFrame, x: str, metric: str) -> pd.DataFrame:
    p = df.pivot(index=x, columns="case", values=metric)
    if x == "dnn":
        p = p.reindex([d for d in DNNS if d in p.index])
    p.columns = [CASE_NAMES[c] for c in p.columns]
    return p.reset_index()


def _md(df: pd.DataFrame) -> str:
    shown = df.copy()
    for col in shown.columns:
        shown[col] = ["" if v is None or (isinstance(v, float | np.floating) and math.isnan(v))
                      else num(v) if isinstance(v, float | int | np.integer | np.floating) and not isinstance(v, bool)
                      else str(v) for v in shown[col]]
    return shown.to_markdown(index=False)


def render_report(tables: dict[str, pd.DataFrame], claims: Sequence[Claim], *, settings: Settings | None = None,
                  figures: Sequence[str] = FIGURES, fmt: str = "csv", pngs: dict[str, str] | None = None,
                  wall_times: dict[str, float] | None = None, note: str = "") -> str:
    """REPORT.md: settings, the verdict table, then per figure its data, its PNG and its claims."""
    s = settings or Settings()
    from mecopt.results.export import SUFFIX
    ext = SUFFIX[fmt]
    lines = ["# Reproduction of Gao et al., §5 (Figs. 5-10)", ""]
    lines.append("Every number below is read from the tables beside this report; every verdict is computed from "
                 "those tables by the rule printed with the claim. A claim this model does not reproduce is "
                 "reported as such; the model is not bent to match.")
    lines.append("")
    lines.append(f"- Cases: {'; '.join(CASE_NAMES.values())}. Case 2 minimizes the average delay (a MILP, "
                 "optimal unless its termination says otherwise); Case 3 figures are means over "
                 f"{s.draws} seeded draws.")
    lines.append(f"- Best-response engine: `{s.engine}`; {'quick' if s.quick else 'full'} settings; "
                 f"bandwidths {', '.join(num(w) for w in s.bandwidths_khz)} kHz; Fig. 5 seeds "
                 f"{', '.join(map(str, s.fig5_seeds))}; seed {s.seed} elsewhere"
                 + (f"; GTPOS time limit {num(s.gtpos_time_limit)} s" if s.gtpos_time_limit else "") + ".")
    if wall_times:
        lines.append("- Wall time: " + ", ".join(f"Fig. {f} {wall_times[f]:.1f} s" for f in figures if f in wall_times)
                     + (f"; total {wall_times['total']:.1f} s" if "total" in wall_times else "") + ".")
    if note:
        lines.append(f"- {note}")
    lines += ["", "## Verdicts", "", "| claim | figure | paper says | verdict |", "|---|---|---|---|"]
    for c in claims:
        lines.append(f"| {c.id} | {c.figure} | {c.text} | **{c.verdict}** |")
    counts = {v: sum(c.verdict == v for c in claims) for v in (REPRODUCED, PARTLY, NOT, MISSING)}
    lines += ["", "Totals: " + ", ".join(f"{k}: {v}" for k, v in counts.items() if v or k != MISSING) + ".", ""]

    for f in figures:
        if not all(n in tables for n in NEEDS[f]):
            continue
        lines += [f"## {TITLES[f]}", ""]
        if pngs and f in pngs:
            lines += [f"![Fig. {f}]({pngs[f]})", ""]
        if f == "5":
            lines += [f"Table `fig5_summary{ext}` (means over seeds; per-seed runs in `fig5_runs{ext}`, "
                      f"traces in `fig5_trace{ext}`):", "", _md(tables["fig5_summary"]), ""]
            runs = tables.get("fig5_runs")
            if runs is not None and "topology" in runs.columns:
                topo = set(runs.loc[runs["method"] == "tpos-uai", "topology"].dropna())
                if topo == {"complete"}:
                    lines += ["Note: the paper's instances give TPOS-UAI a complete neighbour graph (column "
                              f"`topology` of `fig5_runs{ext}`). With Metropolis weights (each 1/N) the estimate "
                              "(29) then equals the true aggregate unless its cap B T_d/H binds, so Algorithm 2 "
                              "sees what Algorithm 1 sees; C5.1 and C5.3 test little on this graph.", ""]
        elif f in ("6", "7", "8", "9"):
            x = "W_khz" if f in ("6", "7") else "dnn"
            metric = "avg_delay_s" if f in ("6", "8") else "avg_energy_j"
            t = tables[f"fig{f}_cases"]
            lines += [f"`{metric}` from table `fig{f}_cases{ext}`:", "", _md(_pivot(t, x, metric)), ""]
            if "termination" in t.columns:
                c2 = t[t["case"] == 2]
                open_ = c2[c2["termination"] != "optimal"]
                lines += [("Case 2 (GTPOS) proved optimal at every point." if open_.empty else
                           "Case 2 (GTPOS) NOT proved optimal at " + ", ".join(
                               f"{_xlabel(x, r[x])} ({r['termination']})" for _, r in open_.iterrows())
                           + "; its figures there are the best found."), ""]
        else:
            cols = ["device", "dnn", "layers", "partition_point", "local_layers", "offloaded_layers", "server_blocks",
                    "delay_s", "deadline_met"]
            lines += [f"Table `fig10_devices{ext}` (server blocks as layers:slot):", "",
                      _md(tables["fig10_devices"][cols]), ""]
        for c in claims:
            if c.figure != f:
                continue
            lines += [f"- **{c.id} — {c.verdict}.** *{c.text}*  ", f"  Rule: {c.rule}.  ", f"  Model: {c.detail}", ""]
    return "\n".join(lines) + "\n"


# =========================================================================== figures

def draw_figures(out: Path, tables: dict[str, pd.DataFrame], figures: Sequence[str]) -> dict[str, str]:
    """One PNG per paper figure (panels (a)/(b) side by side); returns figure -> file name."""
    from mecopt.results import plots
    Figure = plots._require()
    made = {}
    labels = {m: CASE_NAMES[c] for m, c in CASES.items()}
    for f in figures:
        if not all(n in tables for n in NEEDS[f]):
            continue
        if f == "5":
            fig = Figure(figsize=(8, 4.5), layout="constrained")
            tr = tables["fig5_trace"]
            first = tr[tr["seed"] == tr["seed"].min()].copy()
            first["method"] = first["method"].map(lambda m: ALGORITHMS.get(m, m))
            plots.convergence(first, by=("N", "method"), ax=fig.add_subplot(),
                              title="Fig. 5: average cost per tick (first seed)", ylabel="average cost")
        elif f in ("6", "7"):
            fig = Figure(figsize=(14, 4.8), layout="constrained")
            a, b = fig.subplots(1, 2, width_ratios=(1.2, 1))
            w = 0.2 if f == "6" else 0.4
            d = _schedule_dir(out, f, w)
            if d is not None:
                plots.schedule(d, ax=a, title=f"Fig. {f}a: TPOS-UAI schedule at W = {num(w)} kHz")
            metric = "avg_delay_s" if f == "6" else "avg_energy_j"
            plots.compare(tables[f"fig{f}_cases"], x="W_khz", y=metric, by="method", ax=b, labels=labels,
                          xlabel="W (kHz)", ylabel="average delay (s)" if f == "6" else "average energy (J)",
                          title=f"Fig. {f}b")
        elif f in ("8", "9"):
            fig = Figure(figsize=(8, 4.5), layout="constrained")
            metric = "avg_delay_s" if f == "8" else "avg_energy_j"
            plots.compare(tables[f"fig{f}_cases"], x="dnn", y=metric, by="method", ax=fig.add_subplot(),
                          labels=labels, order=DNNS, log=True, xlabel="DNN",
                          ylabel="average delay (s)" if f == "8" else "average energy (J)", title=f"Fig. {f}")
        else:
            fig = Figure(figsize=(14, 4.5), layout="constrained")
            a, b = fig.subplots(1, 2)
            d = out / "sweeps" / "fig10" / "solutions"
            dirs = sorted(d.glob("p0000-tpos-uai-s*")) if d.is_dir() else []
            src = dirs[0] if dirs else tables["fig10_assignment"]
            plots.partition(src, ax=a, title="Fig. 10a: partition points (TPOS-UAI)")
            plots.schedule(src, ax=b, title="Fig. 10b: server schedule (TPOS-UAI)")
        made[f] = plots.save(fig, out / f"fig{f}.png").name
    return made


def _schedule_dir(out: Path, fig: str, w_khz: float) -> Path | None:
    sweep_dir = out / "sweeps" / f"fig{fig}"
    path = sweep_dir / "results.csv"
    if not path.is_file():
        return None
    res = read_table(path)
    hit = res[(res["method"] == "tpos-uai") & np.isclose(res["devices.0.bandwidth_hz"], w_khz * 1000)]
    if hit.empty:
        return None
    r = hit.iloc[0]
    return solution_path(sweep_dir, r["point"], r["method"], r["seed"])


# =========================================================================== entry point

@dataclass
class ReproduceResult:
    out_dir: Path
    tables: dict[str, pd.DataFrame]
    claims: list[Claim]
    report_path: Path
    pngs: dict[str, str]
    wall_times: dict[str, float]


def reproduce(out_dir: str | Path, figures: str | Iterable[str] = "all", *, engine: str = "dp", quick: bool = False,
              fmt: str = "csv", workers: int | None = None, executor: Executor | None = None, resume: bool = False,
              progress: Callable[[str, int, int], None] | None = None,
              settings: Settings | None = None) -> ReproduceResult:
    """Run the paper's scenarios, write the tables, the PNGs and REPORT.md into ``out_dir``."""
    if fmt not in FORMATS:
        raise InputError(f"The 'format' option must be one of {', '.join(FORMATS)}. Got {fmt!r} instead.")
    figs = parse_figures(figures)
    s = settings or Settings.make(engine, quick)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    own = executor is None
    pool = local_executor(workers) if own else executor
    tables: dict[str, pd.DataFrame] = {}
    wall: dict[str, float] = {}
    t_all = time.perf_counter()
    try:
        ctx = Context(out, s, pool, resume, progress)
        for f in figs:
            t0 = time.perf_counter()
            for name, df in RUNNERS[f](ctx).items():
                tables[name] = df
                write_table(df, out / name, fmt)
            wall[f] = time.perf_counter() - t0
    except BaseException:
        if own:
            _stop_workers(pool)  # an interrupt must not wait for running solves
        raise
    finally:
        if own:
            pool.shutdown(wait=True, cancel_futures=True)
    claims = evaluate_claims(tables, figs)
    write_table(claims_frame(claims), out / "claims", fmt)
    note = ""
    try:
        pngs = draw_figures(out, tables, figs)
    except InputError as err:   # matplotlib missing
        pngs, note = {}, f"No figures drawn: {err}."
    wall["total"] = time.perf_counter() - t_all
    write_json(out / META_NAME, dict(settings=asdict(s), figures=list(figs), fmt=fmt, pngs=pngs, wall_times=wall,
                                     note=note))
    text = render_report(tables, claims, settings=s, figures=figs, fmt=fmt, pngs=pngs, wall_times=wall, note=note)
    report = write_text(out / "REPORT.md", text)
    return ReproduceResult(out, tables, claims, report, pngs, wall)


def load_tables(out_dir: str | Path, figures: Sequence[str] = FIGURES) -> dict[str, pd.DataFrame]:
    """The figure tables written in ``out_dir`` (csv, parquet or json), by name."""
    out = Path(out_dir)
    names = {n for f in figures for n in NEEDS[f]} | {"fig5_runs", "fig5_trace", "fig10_assignment"}
    tables = {}
    for n in sorted(names):
        p = find_table(out / n)
        if p is not None:
            tables[n] = read_table(p)
    return tables


def rebuild_report(out_dir: str | Path) -> ReproduceResult:
    """Judge the claims again from the tables on disk in ``out_dir`` and rewrite REPORT.md and
    the claims table (figures are not redrawn). Tables written as markdown or LaTeX cannot be read."""
    out = Path(out_dir)
    meta_path = out / META_NAME
    if not meta_path.is_file():
        raise InputError(f"{out} holds no reproduction ({META_NAME} is missing)")
    meta = json.loads(meta_path.read_text())
    st = meta["settings"]
    s = Settings(**{k: tuple(v) if isinstance(v, list) else v for k, v in st.items()})
    figs = tuple(meta["figures"])
    tables = load_tables(out, figs)
    if not tables:
        raise InputError(f"{out} holds no readable figure tables (.csv, .parquet or .json)")
    claims = evaluate_claims(tables, figs)
    fmt = meta.get("fmt", "csv")
    write_table(claims_frame(claims), out / "claims", fmt if fmt in FORMATS else "csv")
    text = render_report(tables, claims, settings=s, figures=figs, fmt=fmt, pngs=meta.get("pngs"),
                         wall_times=meta.get("wall_times"), note=meta.get("note", ""))
    report = write_text(out / "REPORT.md", text)
    return ReproduceResult(out, tables, claims, report, meta.get("pngs") or {}, meta.get("wall_times") or {})
