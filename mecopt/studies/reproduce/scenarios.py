"""The paper's scenarios (Figs. 5-10) as sweeps of ``instances/paper/``, and their tables."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mecopt.core.cost import blocks
from mecopt.core.errors import InputError
from mecopt.core.files import write_text
from mecopt.core.resources import instances_dir
from mecopt.core.tables import read_table
from mecopt.studies.sweep import Axis, SweepSpec, run_sweep, solution_path

FIGURES = ("5", "6", "7", "8", "9", "10")
META_NAME = "reproduce.json"
CASES = {"tpos-uai": 1, "gtpos": 2, "all-offload": 3, "all-local": 4}
CASE_NAMES = {1: "Case 1 (TPOS-UAI)", 2: "Case 2 (GTPOS)", 3: "Case 3 (all offload)", 4: "Case 4 (all local)"}
ALGORITHMS = {"tpos-cai": "Algorithm 1 (TPOS-CAI)", "tpos-uai": "Algorithm 2 (TPOS-UAI)"}
#: decreasing computational complexity (the paper's order)
DNNS = ("vgg16", "vgg13", "alexnet", "lenet")
COMPLEX_DNNS = ("vgg16", "vgg13", "alexnet")

CONVERGED_REL = 1e-9        # a trace has converged once avg_cost stays within this of its final value



@dataclass(frozen=True)
class Settings:
    """The settings of a reproduction: engine, quick mode, bandwidths, seeds, draws and the model reading.

    Attributes
    ----------
    engine : str
        Best-response engine (``dp`` or ``milp``).
    quick : bool
        Whether this is the quick variant.
    bandwidths_khz : tuple[float, ...]
        The bandwidths W of Figs. 6-7, in kHz.
    fig5_seeds : tuple[int, ...]
        Seeds of Fig. 5.
    draws : int
        Case 3 draws.
    gtpos_time_limit : float or None
        Time limit of each GTPOS solve (None: none).
    seed : int
        Seed of the game and Case 3 in Figs. 6-10.
    gtpos_solver : str or None
        GTPOS backend (None: its default)
    reading : tuple
        ((key, value), ...) of READING_KEYS; () = the documented model.
    """

    engine: str = "dp"
    quick: bool = False
    bandwidths_khz: tuple[float, ...] = tuple(round(0.2 * k, 1) for k in range(1, 11))
    fig5_seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    draws: int = 20                   # Case 3 draws
    gtpos_time_limit: float | None = None
    seed: int = 0                     # seed of the game and Case 3 in Figs. 6-10
    gtpos_solver: str | None = None   # GTPOS backend (None: its default)
    reading: tuple = ()               # ((key, value), ...) of READING_KEYS; () = the documented model

    @classmethod
    def make(cls, engine: str = "dp", quick: bool = False) -> Settings:
        """The settings of a full run, or of a quick one (fewer bandwidths, seeds and draws, GTPOS time limit).

        Parameters
        ----------
        engine : str, default 'dp'
            Best-response engine: ``dp`` or ``milp``.
        quick : bool, default False
            Whether to run the quick variant.

        Returns
        -------
        Settings
            The settings.

        Raises
        ------
        InputError
            For another engine.
        """
        if engine not in ("dp", "milp"):
            raise InputError(f"The 'engine' option must be one of dp, milp. Got {engine!r} instead.")
        if quick:
            return cls(engine=engine, quick=True, bandwidths_khz=(0.2, 0.4, 1.0, 2.0), fig5_seeds=(0,), draws=5,
                       gtpos_time_limit=60.0)
        return cls(engine=engine)


def parse_figures(spec: str | Iterable[str]) -> tuple[str, ...]:
    """``"all"``, ``"6"``, ``"5,8"`` or a list -> the figures in paper order.

    Parameters
    ----------
    spec : str or Iterable[str]
        The figures.

    Returns
    -------
    tuple[str, ...]
        The figure numbers, in order.

    Raises
    ------
    InputError
        For an unknown figure.
    """
    items = [s.strip() for s in (spec.split(",") if isinstance(spec, str) else spec) if str(s).strip()]
    if not items or "all" in items:
        return FIGURES
    bad = [s for s in items if s not in FIGURES]
    if bad:
        raise InputError(f"The 'fig' option must be among {', '.join(FIGURES)} or all. Got {', '.join(bad)} instead.")
    return tuple(f for f in FIGURES if f in items)


#: a reading of the paper (docs/results.md): key -> what it changes
READING_KEYS = {
    "bits_per_element": "model.bits_per_element of every instance (bits per output element, eq. 8)",
    "capacity_mode": "model.capacity_mode of every instance (per_device or total, eq. 17)",
    "price_scale": "model.price_scale of every instance (the divisor of S_{n,m}, eq. 20)",
    "bandwidth_scale": "factor on every bandwidth_hz (e.g. 1000: the paper's kHz read as MHz)",
    "case3_overflow": "Case 3's overflow policy (queue or local; mecopt.methods.baselines.solve_all_offload)",
}
MODEL_READINGS = ("bits_per_element", "capacity_mode", "price_scale")


def check_reading(reading) -> dict:
    """A reading as a dict, its keys and values checked (InputError naming the key).

    Parameters
    ----------
    reading : mapping or iterable of pairs
        A reading: a mapping or (key, value) pairs.

    Returns
    -------
    dict
        The reading.

    Raises
    ------
    InputError
        For an unknown key or a bad value.
    """
    from mecopt.core.options import check_choice, check_option_names
    from mecopt.methods.baselines import OVERFLOW

    d = dict(reading)
    check_option_names("a reading", d, ["name", *READING_KEYS])
    if "capacity_mode" in d:
        check_choice("capacity_mode", d["capacity_mode"], ("per_device", "total"))
    if "case3_overflow" in d:
        check_choice("case3_overflow", d["case3_overflow"], OVERFLOW)
    for k in ("bits_per_element", "price_scale", "bandwidth_scale"):
        if k in d and not (isinstance(d[k], int | float) and not isinstance(d[k], bool) and d[k] > 0):
            raise InputError(f"The {k!r} option must be a number > 0. Got {d[k]!r} instead.")
    return d


def paper_instance(name: str) -> Path:
    """The path of paper instance ``name`` (``instances/paper``); InputError when it is missing.

    Parameters
    ----------
    name : str
        The instance name.

    Returns
    -------
    Path
        The file.

    Raises
    ------
    InputError
        When it is missing.
    """
    path = instances_dir() / "paper" / f"{name}.toml"
    if not path.is_file():
        raise InputError(f"paper instance not found: {path}")
    return path


# =========================================================================== running

@dataclass
class Context:
    """What the figure runners share: output folder, settings, executor, resume flag and progress callback.

    Attributes
    ----------
    out : Path
        The output folder.
    settings : Settings
        The settings.
    executor : Executor
        Where the sweeps run.
    resume : bool
        Whether finished runs are kept.
    progress : Callable[[str, int, int], None] or None
        Called with (figure, done, total) (None: silent).
    """

    out: Path
    settings: Settings
    executor: Executor
    resume: bool
    progress: Callable[[str, int, int], None] | None

    @property
    def bandwidth_scale(self) -> float:
        """The bandwidth factor of the settings' reading (1 for the documented model)."""
        return float(dict(self.settings.reading).get("bandwidth_scale", 1.0))

    def instance(self, name: str) -> Path:
        """The paper instance ``name`` under the settings' reading (a rewritten copy in OUT/instances/).

        Parameters
        ----------
        name : str
            The paper instance name.

        Returns
        -------
        Path
            The file to solve.
        """
        path = paper_instance(name)
        reading = dict(self.settings.reading)
        model = {k: reading[k] for k in MODEL_READINGS if k in reading}
        if not model and self.bandwidth_scale == 1.0:
            return path
        import tomli_w

        from mecopt.core.instance import read_document

        data, _ = read_document(path)
        data.setdefault("model", {}).update(model)
        for entry in [data.get("device_defaults", {}), *data.get("devices", [])]:
            if "bandwidth_hz" in entry:
                entry["bandwidth_hz"] = float(entry["bandwidth_hz"]) * self.bandwidth_scale
        out = self.out / "instances" / f"{name}.toml"
        return write_text(out, tomli_w.dumps(data))

    def sweep(self, fig: str, instances: Sequence[Path], methods: Sequence[str], *, axes: Sequence[Axis] = (),
              seeds: Sequence[int] = (0,), options: dict | None = None) -> tuple[pd.DataFrame, Path]:
        """Run (or resume) one figure's sweep under the settings; returns its results table and folder.

        Parameters
        ----------
        fig : str
            The figure number.
        instances : Sequence[Path]
            The instance files.
        methods : Sequence[str]
            The methods (cases).
        axes : Sequence[Axis], default ()
            Swept fields.
        seeds : Sequence[int], default (0,)
            Seeds.
        options : dict or None, default None
            Method options (``"*"`` for every method).

        Returns
        -------
        tuple[pandas.DataFrame, Path]
            (results table, sweep folder).
        """
        s = self.settings
        options = {"*": {"engine": s.engine}, **(options or {})}
        overflow = dict(s.reading).get("case3_overflow")
        if overflow is not None and "all-offload" in methods:
            options["all-offload"] = {"overflow": overflow}
        if "all-offload" in methods:
            options["all-offload"] = {"draws": s.draws, **options.get("all-offload", {})}
        if "gtpos" in methods and s.gtpos_time_limit is not None:
            options["gtpos"] = {"time_limit": s.gtpos_time_limit}
        if "gtpos" in methods and s.gtpos_solver is not None:
            options.setdefault("gtpos", {})["solver"] = s.gtpos_solver
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


def cases_table(results: pd.DataFrame, sweep_dir: Path, x_name: str,
                x_of: Callable[[pd.Series], object]) -> pd.DataFrame:
    """One row per (x, case): the figures of Cases 1-4 at each x.

    Parameters
    ----------
    results : pandas.DataFrame
        The sweep's results.
    sweep_dir : Path
        The sweep folder.
    x_name : str
        Name of the x column.
    x_of : Callable[[pd.Series], object]
        The x value of a results row.

    Returns
    -------
    pandas.DataFrame
        One row per (x, case).
    """
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


#: Fig. 5 on a sparse neighbour graph (issue 14): TPOS-UAI on a ring, with the documented remedy
#: (mecopt.game.remedy); on the paper's complete graph (29) is the exact aggregate and UAI is CAI
SPARSE_TOPOLOGY = "ring"
SPARSE_METHOD = "tpos-uai-ring"
SPARSE_OPTIONS = {"consensus_rounds": 50, "polish_after": 500}


def _fig5_runs(results: pd.DataFrame, sdir: Path, N_of: dict, label: Callable[[str], str]):
    traces, runs = [], []
    for _, r in results.iterrows():
        N = N_of[r["instance"]]
        tpath = solution_path(sdir, r["point"], r["method"], r["seed"]) / "trace.csv"
        tr = read_table(tpath) if tpath.is_file() else pd.DataFrame(columns=["tick", "avg_cost", "potential"])
        method = label(r["method"])
        traces.append(pd.DataFrame({"N": N, "method": method, "seed": int(r["seed"]),
                                    "tick": tr["tick"].astype(int), "avg_cost": tr["avg_cost"].astype(float),
                                    "potential": tr["potential"].astype(float)}))
        runs.append(dict(N=N, method=method, seed=int(r["seed"]), final_avg_cost=float(r["avg_cost"]),
                         ticks=_int(r.get("iterations")), ticks_to_converge=ticks_to_converge(tr),
                         calls=_int(r.get("solver_calls")), calls_to_converge=calls_to_converge(tr),
                         termination=r.get("termination"), certified=r.get("certificate.certified"),
                         max_gain_rel=r.get("certificate.max_gain_rel"),
                         topology=r.get("info.topology") if r["method"] == "tpos-uai" else None))
    return runs, traces


def run_fig5(ctx: Context) -> dict[str, pd.DataFrame]:
    """Fig. 5 on the paper's instances, plus TPOS-UAI on a ring (:data:`SPARSE_METHOD`).

    Parameters
    ----------
    ctx : Context
        The run's context (settings, output folder, executor).

    Returns
    -------
    dict[str, pandas.DataFrame]
        The tables of Fig. 5, by name.
    """
    s = ctx.settings
    names = ("fig5-n5", "fig5-n10", "fig5-n20")
    from mecopt.core.instance import load_instance
    files = [ctx.instance(n) for n in names]
    N_of = {inst.name: inst.N for inst in (load_instance(f) for f in files)}
    results, sdir = ctx.sweep("5", files, ["tpos-cai", "tpos-uai"], seeds=s.fig5_seeds)
    runs, traces = _fig5_runs(results, sdir, N_of, lambda m: m)
    ring, rdir = ctx.sweep("5-ring", files, ["tpos-uai"], seeds=s.fig5_seeds,
                           axes=[Axis("topology.kind", (SPARSE_TOPOLOGY,))], options={"tpos-uai": SPARSE_OPTIONS})
    more_runs, more_traces = _fig5_runs(ring, rdir, N_of, lambda m: SPARSE_METHOD)
    runs_df = pd.DataFrame(runs + more_runs).sort_values(["N", "method", "seed"]).reset_index(drop=True)
    trace_df = (pd.concat(traces + more_traces, ignore_index=True).sort_values(["N", "method", "seed", "tick"])
                .reset_index(drop=True))
    summary = (runs_df.groupby(["N", "method"], sort=True)
               .agg(seeds=("seed", "count"), final_avg_cost=("final_avg_cost", "mean"),
                    ticks_to_converge=("ticks_to_converge", "mean"), ticks=("ticks", "mean"),
                    calls_to_converge=("calls_to_converge", "mean"), calls=("calls", "mean"))
               .reset_index())
    return {"fig5_summary": summary, "fig5_runs": runs_df, "fig5_trace": trace_df}


def calls_to_converge(trace: pd.DataFrame) -> int | None:
    """Best-response calls up to and including the tick :func:`ticks_to_converge` returns.

    These are the paper's iterations: one per awake MD, Alg. 1-2 steps 5-12.

    Parameters
    ----------
    trace : pandas.DataFrame
        A game's trace.

    Returns
    -------
    int or None
        The number of calls, or None when it never converges.
    """
    k = ticks_to_converge(trace)
    if k is None or "awake" not in trace.columns:
        return None
    t = trace.sort_values("tick")
    return int(t.loc[t["tick"] <= k, "awake"].astype(int).sum())


def ticks_to_converge(trace: pd.DataFrame) -> int | None:
    """The first tick from which the average cost stays within CONVERGED_REL of its final value.

    Parameters
    ----------
    trace : pandas.DataFrame
        A game's trace.

    Returns
    -------
    int or None
        The tick, or None.
    """
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
    k = ctx.bandwidth_scale   # a reading's bandwidth unit; W_khz stays the paper's number
    axis = Axis("devices.0.bandwidth_hz", tuple(float(round(w * 1000, 6)) * k for w in ctx.settings.bandwidths_khz))
    results, sdir = ctx.sweep(fig, [ctx.instance(instance)], list(CASES), axes=[axis], seeds=(ctx.settings.seed,))
    return {f"fig{fig}_cases": cases_table(results, sdir, "W_khz",
                                           lambda r: round(float(r["devices.0.bandwidth_hz"]) / k / 1000, 9))}


def run_fig6(ctx: Context) -> dict[str, pd.DataFrame]:
    """The tables of Fig. 6 (average delay of Cases 1-4 against bandwidth W).

    Parameters
    ----------
    ctx : Context
        The run's context (settings, output folder, executor).

    Returns
    -------
    dict[str, pandas.DataFrame]
        The tables, by name.
    """
    return _bandwidth_sweep(ctx, "6", "fig6-w0.2khz")


def run_fig7(ctx: Context) -> dict[str, pd.DataFrame]:
    """The tables of Fig. 7 (average energy of Cases 1-4 against bandwidth W).

    Parameters
    ----------
    ctx : Context
        The run's context (settings, output folder, executor).

    Returns
    -------
    dict[str, pandas.DataFrame]
        The tables, by name.
    """
    return _bandwidth_sweep(ctx, "7", "fig7-w0.4khz")


def _dnn_sweep(ctx: Context, fig: str) -> dict[str, pd.DataFrame]:
    files = {d: ctx.instance(f"fig{fig}-{d}") for d in DNNS}
    from mecopt.core.instance import load_instance
    dnn_of = {load_instance(p).name: d for d, p in files.items()}
    results, sdir = ctx.sweep(fig, list(files.values()), list(CASES), seeds=(ctx.settings.seed,))
    return {f"fig{fig}_cases": cases_table(results, sdir, "dnn", lambda r: dnn_of[r["instance"]])}


def run_fig8(ctx: Context) -> dict[str, pd.DataFrame]:
    """The tables of Fig. 8 (average delay of Cases 1-4 per DNN).

    Parameters
    ----------
    ctx : Context
        The run's context (settings, output folder, executor).

    Returns
    -------
    dict[str, pandas.DataFrame]
        The tables, by name.
    """
    return _dnn_sweep(ctx, "8")


def run_fig9(ctx: Context) -> dict[str, pd.DataFrame]:
    """The tables of Fig. 9 (average energy of Cases 1-4 per DNN).

    Parameters
    ----------
    ctx : Context
        The run's context (settings, output folder, executor).

    Returns
    -------
    dict[str, pandas.DataFrame]
        The tables, by name.
    """
    return _dnn_sweep(ctx, "9")


def run_fig10(ctx: Context) -> dict[str, pd.DataFrame]:
    """The tables of Fig. 10 (each MD's partition point and server blocks under TPOS-UAI).

    Parameters
    ----------
    ctx : Context
        The run's context (settings, output folder, executor).

    Returns
    -------
    dict[str, pandas.DataFrame]
        The tables, by name.
    """
    results, sdir = ctx.sweep("10", [ctx.instance("fig10-mixed")], ["tpos-uai"], seeds=(ctx.settings.seed,))
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
                         server_blocks=" ".join(server_blocks), last_slot=int(dv["last_slot"]),
                         delay_s=float(dv["delay_s"]),
                         energy_j=float(dv["energy_j"]), deadline_met=bool(dv["deadline_met"])))
    summary = pd.DataFrame([dict(method=r["method"], termination=r.get("termination"),
                                 avg_delay_s=float(r["avg_delay_s"]), avg_energy_j=float(r["avg_energy_j"]),
                                 avg_cost=float(r["avg_cost"]), violations=_int(r.get("violations")),
                                 deadline_misses=_int(r.get("deadline_misses")))])
    return {"fig10_devices": pd.DataFrame(rows), "fig10_assignment": assignment, "fig10_summary": summary}


def _span(a: int, b: int) -> str:
    return f"{a}" if a == b else f"{a}-{b}"


RUNNERS = {"5": run_fig5, "6": run_fig6, "7": run_fig7, "8": run_fig8, "9": run_fig9, "10": run_fig10}
