"""REPORT.md, the figures (PNG, PDF or SVG) and the entry points :func:`reproduce` and :func:`rebuild_report`."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mecopt.core import manifest as result_set
from mecopt.core.errors import InputError
from mecopt.core.resources import instances_dir
from mecopt.core.tables import FORMATS, find_table, read_table, write_json, write_table, write_text
from mecopt.results import style
from mecopt.results.style import FigureStyle
from mecopt.studies.reproduce.claims import (
    MISSING,
    NEEDS,
    NOT,
    PARTLY,
    REPRODUCED,
    Claim,
    claims_frame,
    evaluate_claims,
    num,
    xlabel,
)
from mecopt.studies.reproduce.scenarios import (
    ALGORITHMS,
    CASE_NAMES,
    CASES,
    DNNS,
    FIGURES,
    META_NAME,
    RUNNERS,
    SPARSE_METHOD,
    SPARSE_OPTIONS,
    SPARSE_TOPOLOGY,
    Context,
    Settings,
    parse_figures,
)
from mecopt.studies.sweep import pool_for, solution_path

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
    """REPORT.md: settings, the verdict table, then per figure its data, its PNG and its claims.

    Parameters
    ----------
    tables : dict of str to pandas.DataFrame
        The figure tables by name (``fig5_trace``, ...).
    claims : sequence of Claim
        The evaluated claims with their verdicts.
    settings : Settings or None, optional
        The settings the tables were made with; default ``Settings()``.
    figures : sequence of str, optional
        The paper figures to report, in order (``"5"`` .. ``"10"``).
    fmt : str, optional
        Format of the tables beside the report (``"csv"``, ``"parquet"`` or ``"json"``); names their files.
    pngs : dict of str to str or None, optional
        Figure -> image file name to embed (a PDF is linked).
    wall_times : dict of str to float or None, optional
        Figure (and ``"total"``) -> wall time [s].
    note : str, optional
        An extra line under the settings (e.g. why no figures were drawn).

    Returns
    -------
    str
        The Markdown text, ending in a newline.
    """
    s = settings or Settings()
    from mecopt.core.tables import SUFFIX
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
            image = pngs[f]
            lines += [f"![Fig. {f}]({image})" if not image.endswith(".pdf") else f"Figure: [{image}]({image})", ""]
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
                              "sees what Algorithm 1 sees; C5.1 and C5.3 test little on this graph. Rows "
                              f"`{SPARSE_METHOD}` run Algorithm 2 on a {SPARSE_TOPOLOGY} instead, where (29) "
                              "without a remedy does not converge (docs/equilibria.md); they use the documented remedy "
                              f"({', '.join(f'{k} = {v}' for k, v in SPARSE_OPTIONS.items())}), and C5.1 and "
                              "C5.3 are judged on them too. Convergence is counted in best-response calls, the "
                              "paper's iterations (see C5.2), with ticks beside.", ""]
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
                               f"{xlabel(x, r[x])} ({r['termination']})" for _, r in open_.iterrows())
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

def draw_figures(out: Path, tables: dict[str, pd.DataFrame], figures: Sequence[str],
                 figure_style: FigureStyle | None = None) -> dict[str, str]:
    """One image per paper figure (panels (a)/(b) side by side, stacked at column width); returns figure -> file.

    Panels 6a and 7a show the TPOS-UAI schedule at the smallest swept bandwidth at which some device
    offloads (the paper's panels show offloaded subtasks and do not give their W); their titles name
    the bandwidths at which no device offloads. Claims C6.5 and C7.3 still judge the schedules at
    0.2 and 0.4 kHz.

    Parameters
    ----------
    out : pathlib.Path
        The reproduction folder the images are written to.
    tables : dict of str to pandas.DataFrame
        The figure tables by name; a figure whose tables are missing is skipped.
    figures : sequence of str
        The paper figures to draw.
    figure_style : FigureStyle or None, optional
        Size preset and format (default: double-column PNG).

    Returns
    -------
    dict of str to str
        Figure -> image file name (relative to ``out``).

    Raises
    ------
    InputError
        If matplotlib is not installed.
    """
    from mecopt.results import plots
    plots.require_matplotlib()
    made = {}
    with style.use(figure_style) as st:
        for f in figures:
            if not all(n in tables for n in NEEDS[f]):
                continue
            fig = draw_figure(out, tables, f, st)
            made[f] = plots.save(fig, out / f"fig{f}.{st.fig_format}").name
    return made


def _panels(st: FigureStyle, height: float, ratios=(1, 1)):
    """A figure of two panels: side by side, or stacked in a narrow (column) figure."""
    from mecopt.results import plots
    Figure = plots.require_matplotlib()
    if st.narrow:
        fig = Figure(figsize=st.figsize(2 * height), layout="constrained")
        return fig, fig.subplots(2, 1)
    fig = Figure(figsize=st.figsize(height), layout="constrained")
    return fig, fig.subplots(1, 2, width_ratios=ratios)


def draw_figure(out: Path, tables: dict[str, pd.DataFrame], f: str, st: FigureStyle):
    """The matplotlib figure of paper figure ``f`` (see :func:`draw_figures`), drawn, not saved.

    Call it inside ``style.use(st)`` so that its text takes the style's sizes.

    Parameters
    ----------
    out : pathlib.Path
        The reproduction folder (its sweeps hold the solutions the schedules draw).
    tables : dict of str to pandas.DataFrame
        The figure tables by name.
    f : str
        The paper figure, ``"5"`` .. ``"10"``.
    st : FigureStyle
        The style: its width, and whether panels are stacked.

    Returns
    -------
    matplotlib.figure.Figure
        The figure.
    """
    from mecopt.core.solution import read_result_folder
    from mecopt.results import plots
    labels = {m: CASE_NAMES[c] for m, c in CASES.items()}
    if f == "5":
        fig, ax = plots.new_axes(None, 3.6)
        tr = tables["fig5_trace"]
        first = tr[tr["seed"] == tr["seed"].min()].copy()
        first["method"] = first["method"].map(lambda m: ALGORITHMS.get(m, m))
        plots.convergence(first, by=("N", "method"), ax=ax,
                          title="Fig. 5: convergence of the average cost per tick, N = 5, 10, 20 (first seed)",
                          ylabel="average cost C (cost units)")
    elif f in ("6", "7"):
        fig, (a, b) = _panels(st, 3.6, (1.2, 1))
        cases = tables[f"fig{f}_cases"]
        paper_w = 0.2 if f == "6" else 0.4
        w, idle = _offloading_bandwidth(cases, paper_w)
        d = _schedule_dir(out, f, w) if w is not None else None
        note = (f" (at W = {', '.join(num(v) for v in idle)} kHz no device offloads)" if idle else "")
        if d is not None:
            plots.schedule(read_result_folder(d), ax=a, title=f"Fig. {f}a: TPOS-UAI schedule at W = {num(w)} kHz"
                           + note)
        else:
            a.text(0.5, 0.5, st.wrap(f"Fig. {f}a: no device offloads at any swept bandwidth "
                                     f"({', '.join(num(v) for v in idle)} kHz), so there is no schedule to draw",
                                     st.font, 0.45), transform=a.transAxes, ha="center", va="center")
            a.set_axis_off()
        metric = "avg_delay_s" if f == "6" else "avg_energy_j"
        plots.compare(cases, x="W_khz", y=metric, by="method", ax=b, labels=labels,
                      xlabel="bandwidth W (kHz)",
                      ylabel="average delay T (s)" if f == "6" else "average energy E (J)",
                      title=f"Fig. {f}b: average {'delay' if f == '6' else 'energy'} vs bandwidth W, Cases 1-4")
    elif f in ("8", "9"):
        fig, ax = plots.new_axes(None, 3.6)
        metric = "avg_delay_s" if f == "8" else "avg_energy_j"
        plots.compare(tables[f"fig{f}_cases"], x="dnn", y=metric, by="method", ax=ax,
                      labels=labels, order=DNNS, log=True, xlabel="DNN of the 5 devices",
                      ylabel="average delay T (s)" if f == "8" else "average energy E (J)",
                      title=f"Fig. {f}: average {'delay' if f == '8' else 'energy'} per DNN type, Cases 1-4")
    else:
        fig, (a, b) = _panels(st, 3.8)
        d = out / "sweeps" / "fig10" / "solutions"
        dirs = sorted(d.glob("p0000-tpos-uai-s*")) if d.is_dir() else []
        src = read_result_folder(dirs[0]) if dirs else tables["fig10_assignment"]
        plots.partition(src, ax=a, title="Fig. 10a: partition points (TPOS-UAI), colour = slot")
        plots.schedule(src, ax=b, title="Fig. 10b: server schedule (TPOS-UAI), colour = device")
    return fig


def _offloading_bandwidth(cases: pd.DataFrame, paper_w: float) -> tuple[float | None, list[float]]:
    """The bandwidth of panel 6a/7a, and the smaller ones at which no device offloads under Case 1.

    The paper's W (``paper_w``) when some device offloads there, else the smallest swept W at
    which one does (None: none at any).
    """
    c1 = cases[cases["case"] == 1].sort_values("W_khz")
    if "offloading_devices" not in c1.columns:
        return paper_w, []
    offl = pd.to_numeric(c1["offloading_devices"], errors="coerce").fillna(0) > 0
    ws = c1["W_khz"].to_numpy(dtype=float)
    at = ws[np.isclose(ws, paper_w)]
    if len(at) and offl[np.isclose(c1["W_khz"], paper_w)].any():
        return paper_w, []
    cand = [w for w, o in zip(ws, offl) if o and w >= paper_w] or [w for w, o in zip(ws, offl) if o]
    if not cand:
        return None, [float(w) for w in ws]
    return float(cand[0]), [float(w) for w, o in zip(ws, offl) if not o and w < cand[0]]


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
    """What :func:`reproduce` returns: the tables, claims, report path, figures and wall times.

    Attributes
    ----------
    out_dir : Path
        The output folder.
    tables : dict[str, pandas.DataFrame]
        The figure tables, by name.
    claims : list[Claim]
        The judged claims.
    report_path : Path
        REPORT.md.
    pngs : dict[str, str]
        Figure -> PNG file.
    wall_times : dict[str, float]
        Figure -> seconds.
    """

    out_dir: Path
    tables: dict[str, pd.DataFrame]
    claims: list[Claim]
    report_path: Path
    pngs: dict[str, str]
    wall_times: dict[str, float]


def reproduce(out_dir: str | Path, figures: str | Iterable[str] = "all", *, engine: str = "dp", quick: bool = False,
              fmt: str = "csv", workers: int | None = None, executor: Executor | None = None, resume: bool = False,
              progress: Callable[[str, int, int], None] | None = None,
              settings: Settings | None = None, gtpos_solver: str | None = None,
              figure_style: FigureStyle | None = None) -> ReproduceResult:
    """Run the paper's scenarios, write the tables, the figures and REPORT.md into ``out_dir``.

    Parameters
    ----------
    out_dir : str or pathlib.Path
        The result folder (created; a result set of kind ``reproduction``).
    figures : str or iterable of str, optional
        ``"all"``, ``"6"``, ``"5,8"`` or a list of figures (see ``parse_figures``).
    engine : str, optional
        Best-response engine (e.g. ``"dp"``), when ``settings`` is not given.
    quick : bool, optional
        Quick (smaller) settings instead of the full ones, when ``settings`` is not given.
    fmt : str, optional
        Table format, one of ``FORMATS``.
    workers : int or None, optional
        Worker processes for the scenarios (see ``pool_for``).
    executor : concurrent.futures.Executor or None, optional
        An executor to run on instead of a new pool.
    resume : bool, optional
        Reuse the runs already in ``out_dir``.
    progress : callable or None, optional
        Called as ``progress(label, done, total)``.
    settings : Settings or None, optional
        Full settings; default ``Settings.make(engine, quick)``.
    gtpos_solver : str or None, optional
        MILP solver for Case 2 (GTPOS), checked before anything runs.
    figure_style : FigureStyle or None, optional
        Size preset and image format of the figures (default: double-column PNG).

    Returns
    -------
    ReproduceResult
        The folder, tables, claims, report path, PNGs and wall times.

    Raises
    ------
    InputError
        On an unknown ``fmt``, figure or solver.
    """
    if fmt not in FORMATS:
        raise InputError(f"The 'format' option must be one of {', '.join(FORMATS)}. Got {fmt!r} instead.")
    figs = parse_figures(figures)
    s = settings or Settings.make(engine, quick)
    if gtpos_solver is not None:
        from dataclasses import replace

        from mecopt.milp.backends import check_solver
        check_solver(gtpos_solver)
        s = replace(s, gtpos_solver=gtpos_solver)
    out = result_set.begin(out_dir, "reproduction")
    tables: dict[str, pd.DataFrame] = {}
    wall: dict[str, float] = {}
    t_all = time.perf_counter()
    with pool_for(workers, executor) as pool:
        ctx = Context(out, s, pool, resume, progress)
        for f in figs:
            t0 = time.perf_counter()
            for name, df in RUNNERS[f](ctx).items():
                tables[name] = df
                write_table(df, out / name, fmt)
            wall[f] = time.perf_counter() - t0
    claims = evaluate_claims(tables, figs)
    write_table(claims_frame(claims), out / "claims", fmt)
    note = ""
    try:
        pngs = draw_figures(out, tables, figs, figure_style)
    except InputError as err:   # matplotlib missing
        pngs, note = {}, f"No figures drawn: {err}."
    wall["total"] = time.perf_counter() - t_all
    write_json(out / META_NAME, dict(settings=asdict(s), figures=list(figs), fmt=fmt, pngs=pngs, wall_times=wall,
                                     note=note))
    text = render_report(tables, claims, settings=s, figures=figs, fmt=fmt, pngs=pngs, wall_times=wall, note=note)
    report = write_text(out / "REPORT.md", text)
    result_set.finish(out, "reproduction", format=fmt)
    return ReproduceResult(out, tables, claims, report, pngs, wall)


def load_tables(out_dir: str | Path, figures: Sequence[str] = FIGURES) -> dict[str, pd.DataFrame]:
    """The figure tables written in ``out_dir`` (csv, parquet or json), by name.

    Parameters
    ----------
    out_dir : str or Path
        The reproduction folder.
    figures : Sequence[str], default FIGURES
        The figures whose tables are read.

    Returns
    -------
    dict[str, pandas.DataFrame]
        The tables found, by name.
    """
    out = Path(out_dir)
    names = {n for f in figures for n in NEEDS[f]} | {"fig5_runs", "fig5_trace", "fig10_assignment"}
    tables = {}
    for n in sorted(names):
        p = find_table(out / n)
        if p is not None:
            tables[n] = read_table(p)
    return tables


def rebuild_report(out_dir: str | Path) -> ReproduceResult:
    """Judge the claims again from the tables on disk in ``out_dir`` and rewrite REPORT.md and the claims table.

    (figures are not redrawn). Tables written as markdown or LaTeX cannot be read.

    Parameters
    ----------
    out_dir : str or Path
        The reproduction folder.

    Returns
    -------
    ReproduceResult
        The tables, claims and report path.

    Raises
    ------
    InputError
        When the folder holds no readable tables.
    """
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


# =========================================================================== readings

READINGS_NAME = "readings"


def load_readings(path: str | Path) -> list[dict]:
    """The readings of a TOML file.

    (``[[reading]]`` tables with a ``name`` and keys of :data:`~mecopt.studies.reproduce.scenarios.READING_KEYS`);
    ``paper`` is the bundled file.

    Parameters
    ----------
    path : str or Path
        The TOML file.

    Returns
    -------
    list[dict]
        One dict per reading.

    Raises
    ------
    InputError
        When the file or a reading is not valid.
    """
    import tomllib

    from mecopt.studies.reproduce.scenarios import check_reading

    p = instances_dir() / "readings" / "paper.toml" if str(path) == "paper" else Path(path)
    if not p.is_file():
        raise InputError(f"readings file not found: {p}")
    try:
        doc = tomllib.loads(p.read_text())
    except tomllib.TOMLDecodeError as err:
        raise InputError(f"{p}: not valid TOML ({err})") from None
    readings = doc.get("reading")
    if not isinstance(readings, list) or not readings:
        raise InputError(f"{p}: expected one or more [[reading]] tables")
    out, names = [], set()
    for i, r in enumerate(readings):
        d = check_reading(r)
        name = d.get("name")
        if not isinstance(name, str) or not name or name in names or "/" in name:
            raise InputError(f"{p}: reading {i + 1} needs a unique 'name' (no '/'); got {name!r}")
        names.add(name)
        out.append(d)
    return out


def reproduce_readings(out_dir: str | Path, readings: str | Path | Sequence[dict], figures: str | Iterable[str] = "all",
                       *, engine: str = "dp", quick: bool = False, fmt: str = "csv", workers: int | None = None,
                       executor: Executor | None = None, resume: bool = False,
                       progress: Callable[[str, int, int], None] | None = None,
                       gtpos_solver: str | None = None, figure_style: FigureStyle | None = None) -> pd.DataFrame:
    """Run the reproduction once per reading (OUT/<name>/) and write OUT/readings.<fmt>.

    (reading x claim -> verdict, with totals per reading) and OUT/READINGS.md. Returns the wide table.

    Parameters
    ----------
    out_dir : str or pathlib.Path
        The parent folder; each reading goes to ``out_dir/<name>/``.
    readings : str, pathlib.Path or sequence of dict
        A TOML file of ``[[reading]]`` tables, or the readings themselves; each has a unique ``name`` and the
        settings it changes.
    figures : str or iterable of str, optional
        The figures to reproduce, as for :func:`reproduce`.
    engine : str, optional
        Best-response engine.
    quick : bool, optional
        Quick settings instead of the full ones.
    fmt : str, optional
        Table format, one of ``FORMATS``.
    workers : int or None, optional
        Worker processes, shared by all readings.
    executor : concurrent.futures.Executor or None, optional
        An executor to run on instead of a new pool.
    resume : bool, optional
        Reuse the runs already in the folders.
    progress : callable or None, optional
        Called as ``progress(label, done, total)``.
    gtpos_solver : str or None, optional
        MILP solver for Case 2 (GTPOS).
    figure_style : FigureStyle or None, optional
        Size preset and image format of the figures.

    Returns
    -------
    pandas.DataFrame
        One row per reading: ``reading``, ``changes``, one verdict column per claim and the counts
        ``reproduced``, ``partly``, ``not_reproduced`` and ``not_evaluated``.

    Raises
    ------
    InputError
        On a missing or invalid readings file, or as :func:`reproduce`.
    """
    import dataclasses

    rs = load_readings(readings) if isinstance(readings, str | Path) else [dict(r) for r in readings]
    out = Path(out_dir)
    long = []
    with pool_for(workers, executor) as pool:
        for r in rs:
            reading = tuple((k, v) for k, v in r.items() if k != "name")
            s = dataclasses.replace(Settings.make(engine, quick), reading=reading)
            res = reproduce(out / r["name"], figures, settings=s, gtpos_solver=gtpos_solver, fmt=fmt,
                            executor=pool, resume=resume, progress=progress, figure_style=figure_style)
            long += [dict(reading=r["name"], id=c.id, verdict=c.verdict) for c in res.claims]
    df = pd.DataFrame(long)
    wide = df.pivot(index="reading", columns="id", values="verdict").reindex([r["name"] for r in rs])
    wide = wide[list(dict.fromkeys(df["id"]))]
    for v, col in ((REPRODUCED, "reproduced"), (PARTLY, "partly"), (NOT, "not_reproduced"), (MISSING, "not_evaluated")):
        wide[col] = (wide.iloc[:, :len(set(df["id"]))] == v).sum(axis=1)
    desc = {r["name"]: "; ".join(f"{k} = {v}" for k, v in r.items() if k != "name") or "the documented model"
            for r in rs}
    wide.insert(0, "changes", [desc[n] for n in wide.index])
    wide = wide.reset_index()
    write_table(wide, out / READINGS_NAME, fmt)
    short = {REPRODUCED: "yes", PARTLY: "partly", NOT: "no", MISSING: "n/a"}
    shown = wide.copy()
    for c in set(df["id"]):
        shown[c] = shown[c].map(lambda v: short.get(v, v))
    lines = ["# The claims under several readings of the paper", "",
             f"Each row is one reproduction (`{'quick' if quick else 'full'}` settings, engine `{engine}`) in "
             "the folder of the same name; the default reading is the documented model (docs/MODEL.md).", "",
             _md(shown), ""]
    write_text(out / "READINGS.md", "\n".join(lines) + "\n")
    return wide
