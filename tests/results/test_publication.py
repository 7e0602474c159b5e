"""Figures and tables for a paper: styles, summaries of many devices, unproven points, LaTeX and xlsx."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from mecopt.cli import cli
from mecopt.core import tables
from mecopt.core.errors import InputError
from mecopt.core.instance import instance_from_dict
from mecopt.core.solution import Termination
from mecopt.methods import registry as solvers
from mecopt.results import plots, style, summary_plots

pytest.importorskip("matplotlib")
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.collections import PolyCollection  # noqa: E402
from matplotlib.text import Text  # noqa: E402

N_MANY = plots.SUMMARY_ABOVE + 5


@pytest.fixture
def many_solution(instance_dict):
    doc = instance_dict(n_devices=N_MANY, server={"parallel_limit": 8, "slots": 4})
    return solvers.solve(instance_from_dict(doc), "all-offload", seed=3, draws=1)


@pytest.fixture
def small_solution(instance_dict):
    doc = instance_dict(n_devices=3, server={"parallel_limit": 3})
    return solvers.solve(instance_from_dict(doc), "tpos-cai", engine="dp", seed=0)


def _texts(fig):
    FigureCanvasAgg(fig).draw()
    return [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]


# --------------------------------------------------------------------------- style

def test_style_rejects_unknown_presets_and_formats():
    with pytest.raises(InputError, match="'size' option"):
        style.FigureStyle("poster")
    with pytest.raises(InputError, match="'fig-format' option"):
        style.FigureStyle("column", "jpg")


def test_a_style_sets_the_width_fonts_and_colours_of_every_plot(small_solution):
    with style.use(style.FigureStyle("column")):
        figs = [plots.schedule(small_solution), plots.partition(small_solution),
                plots.slot_load(small_solution), plots.partition_histogram(small_solution),
                summary_plots.delay_cdf(small_solution)]
    for fig in figs:
        assert fig.get_figwidth() == pytest.approx(3.5)
        assert min(t.get_fontsize() for t in _texts(fig)) >= style.MIN_FONT_PT
    with style.use(style.FigureStyle("slides")):
        assert plots.schedule(small_solution).get_figwidth() == pytest.approx(10.0)
    # outside any style: the default preset (double column)
    assert plots.schedule(small_solution).get_figwidth() == pytest.approx(7.16)


def test_series_take_okabe_ito_colours_and_distinct_markers():
    t = pd.DataFrame({"x": [1, 2] * 3, "method": ["a"] * 2 + ["b"] * 2 + ["c"] * 2, "y": np.arange(6.0)})
    ax = plots.compare(t, x="x", y="y").axes[0]
    from matplotlib.colors import to_hex
    lines = ax.get_lines()
    assert [to_hex(line.get_color()) for line in lines] == [c.lower() for c in style.OKABE_ITO[:3]]
    assert len({line.get_marker() for line in lines}) == 3 and len({line.get_linestyle() for line in lines}) == 3


def test_save_uses_the_style_format_and_keeps_vector_text(small_solution, tmp_path):
    with style.use(style.FigureStyle("column", "pdf")):
        path = plots.save(plots.schedule(small_solution), tmp_path / "s")
    assert path.suffix == ".pdf"
    data = path.read_bytes()
    assert b"/FontFile2" in data and b"/Type3" not in data
    svg = plots.save(plots.schedule(small_solution), tmp_path / "s.svg").read_text()
    assert "<text" in svg


# --------------------------------------------------------------------------- ticks and bands

def test_counts_get_integer_ticks(small_solution):
    ax = plots.convergence(small_solution.trace.assign(method="tpos-cai"), by="method").axes[0]
    assert all(float(v).is_integer() for v in ax.get_xticks())
    ax = plots.partition(small_solution).axes[0]
    assert all(float(v).is_integer() for v in ax.get_xticks())


def test_a_point_over_seeds_gets_its_95_percent_confidence_band():
    from scipy import stats
    rng = np.random.default_rng(0)
    rows = [dict(x=x, method=m, seed=s, y=float(x + (m == "b") + rng.normal(0, 0.3)))
            for x in (1.0, 2.0, 3.0) for m in ("a", "b") for s in range(5)]
    t = pd.DataFrame(rows)
    ax = plots.compare(t, x="x", y="y").axes[0]
    bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(bands) == 2
    assert "95 % CI" in ax.get_title()
    # the band of series "a" at x = 2 is the t interval of its five values
    v = t[(t["method"] == "a") & (t["x"] == 2.0)]["y"].to_numpy()
    lo, hi = stats.t.interval(0.95, len(v) - 1, loc=v.mean(), scale=stats.sem(v))
    ys = bands[0].get_paths()[0].vertices
    at2 = ys[np.isclose(ys[:, 0], 2.0), 1]
    assert at2.min() == pytest.approx(lo) and at2.max() == pytest.approx(hi)
    # one row per point: no band
    one = t[t["seed"] == 0]
    ax = plots.compare(one, x="x", y="y").axes[0]
    assert not [c for c in ax.collections if isinstance(c, PolyCollection)]


def test_bars_over_seeds_get_error_bars():
    t = pd.DataFrame({"dnn": ["p", "p", "q", "q"], "method": ["a"] * 4, "y": [1.0, 3.0, 2.0, 2.0]})
    ax = plots.compare(t, x="dnn", y="y").axes[0]
    from matplotlib.container import BarContainer
    bars = [c for c in ax.containers if isinstance(c, BarContainer)]
    assert bars and bars[0].errorbar is not None
    segments = bars[0].errorbar.lines[2][0].get_segments()
    assert segments[1][0][1] == segments[1][1][1] == 2.0        # q: two equal values, no spread


# --------------------------------------------------------------------------- unproven points

def test_unproven_optimiser_points_are_ringed_with_their_termination_and_gap():
    t = pd.DataFrame({"W": [1.0, 2.0, 1.0, 2.0], "method": ["gtpos", "gtpos", "tpos-uai", "tpos-uai"],
                      "avg_delay_s": [1.0, 0.8, 1.1, 0.9],
                      "termination": ["optimal", "time_limit", "equilibrium", "equilibrium"],
                      "gap": [0.0, 0.052, np.nan, np.nan]})
    assert list(plots.unproven_rows(t)) == [False, True, False, False]
    ax = plots.compare(t, x="W", y="avg_delay_s").axes[0]
    rings = [c for c in ax.collections if c.get_label().startswith("not proven optimal")]
    assert len(rings) == 1
    assert rings[0].get_label() == "not proven optimal (time_limit, gap up to 5.2 %)"
    assert rings[0].get_offsets().tolist() == [[2.0, 0.8]]
    assert "not proven optimal (time_limit, gap up to 5.2 %)" in [x.get_text() for x in ax.get_legend().texts]
    proven = t.assign(termination=["optimal", "optimal", "equilibrium", "equilibrium"])
    ax = plots.compare(proven, x="W", y="avg_delay_s").axes[0]
    assert not [c for c in ax.collections if c.get_label().startswith("not proven")]


def test_summaries_mark_an_unproven_optimum(small_solution):
    opt = dataclasses.replace(small_solution, method="gtpos", termination=Termination.TIME_LIMIT, gap=0.031)
    ax = summary_plots.delay_cdf({"eq": small_solution, "opt": opt}).axes[0]
    labels = [t.get_text() for t in ax.get_legend().texts]
    assert labels == ["eq", "opt — not proven optimal (time_limit, gap 3.1 %)"]
    ax = summary_plots.equilibrium_vs_optimum(small_solution, opt).axes[0]
    assert "not proven optimal (time_limit, gap 3.1 %)" in ax.collections[0].get_label()
    assert ax.collections[0].get_paths() and "x" == _marker_of(ax.collections[0])
    proven = dataclasses.replace(opt, termination=Termination.OPTIMAL, gap=0.0)
    ax = summary_plots.equilibrium_vs_optimum(small_solution, proven).axes[0]
    assert "not proven" not in ax.collections[0].get_label()


def _marker_of(collection):
    from matplotlib.markers import MarkerStyle
    x = MarkerStyle("x")
    want = x.get_path().transformed(x.get_transform()).vertices
    path = collection.get_paths()[0]
    return "x" if path.vertices.shape == want.shape and np.allclose(path.vertices, want) else "other"


# --------------------------------------------------------------------------- many devices

def test_many_devices_switch_schedule_and_partition_to_summaries(many_solution):
    fig = plots.schedule(many_solution)
    ax = fig.axes[0]
    assert f"{N_MANY} devices (more than {plots.SUMMARY_ABOVE})" in ax.get_title().replace("\n", " ")
    assert ax.images                                   # the slot-load heatmap
    fig = plots.partition(many_solution)
    assert "partition points" in fig.axes[0].get_title().replace("\n", " ")
    every = plots.schedule(many_solution, max_devices=None)
    assert len(every.axes[0].get_yticks()) == N_MANY   # one row per device on request


def test_slot_load_counts_devices_per_slot(many_solution):
    loads = plots.slot_loads(plots.schedule_data(many_solution))
    # independent count from the profile: devices with a layer in slot h (h <= H), and after the frame
    H = many_solution.instance.servers[0].H
    expect = {h: sum(1 for s in many_solution.profile if h in set(np.asarray(s).tolist())) for h in range(1, H + 1)}
    assert {int(c): int(v) for c, v in loads.loc["server"].items() if c != "after frame"} == expect
    queued = sum(1 for s in many_solution.profile if (np.asarray(s) > H).any())
    assert queued == 0 or int(loads.loc["server", "after frame"]) == queued
    ax = plots.slot_load(many_solution).axes[0]
    shown = [int(t.get_text()) for t in ax.texts]
    assert sorted(shown) == sorted(int(v) for v in loads.to_numpy().ravel())


def test_partition_histogram_counts_the_partition_points(many_solution):
    ax = plots.partition_histogram(many_solution).axes[0]
    pp = many_solution.devices_frame()["partition_point"].to_numpy()
    heights = {}
    for bar in ax.patches:
        x = round(bar.get_x() + bar.get_width() / 2)
        heights[x] = heights.get(x, 0) + bar.get_height()
    assert {k: int(v) for k, v in heights.items() if v} == {int(k): int(v) for k, v in
                                                             zip(*np.unique(pp, return_counts=True))}
    assert all(float(v).is_integer() for v in ax.get_yticks())


def test_delay_cdf_steps_over_every_device(many_solution):
    ax = summary_plots.delay_cdf({"all-offload": many_solution}).axes[0]
    step = ax.get_lines()[0]
    y = step.get_ydata()
    assert y[-1] == pytest.approx(1.0) and len(y) == N_MANY + 1
    assert np.all(np.diff(step.get_xdata()) >= 0)
    delays = np.sort(many_solution.devices_frame()["delay_s"].to_numpy())
    assert np.allclose(step.get_xdata()[1:], delays)


def test_equilibrium_vs_optimum_scatter_matches_devices(small_solution, instance_dict):
    other = solvers.solve(small_solution.instance, "all-local")
    ax = summary_plots.equilibrium_vs_optimum(small_solution, other).axes[0]
    pts = ax.collections[0].get_offsets()
    eq = small_solution.devices_frame()["delay_s"].to_numpy()
    opt = other.devices_frame()["delay_s"].to_numpy()
    assert np.allclose(np.asarray(pts)[:, 0], opt) and np.allclose(np.asarray(pts)[:, 1], eq)
    with pytest.raises(InputError, match="lacks column"):
        summary_plots.equilibrium_vs_optimum(small_solution, other, metric="nope")


def test_cli_summary_plots_in_pdf_at_column_width(many_solution, small_solution, tmp_path):
    many_dir, small_dir = tmp_path / "many", tmp_path / "small"
    many_solution.write(many_dir, "csv")
    small_solution.write(small_dir, "csv")
    other = tmp_path / "local"
    solvers.solve(small_solution.instance, "all-local").write(other, "csv")
    runner = CliRunner()
    for args, made in [(["schedule", str(many_dir)], many_dir / "schedule.pdf"),
                       (["partition-hist", str(many_dir)], many_dir / "partition_hist.pdf"),
                       (["slot-load", str(many_dir)], many_dir / "slot_load.pdf"),
                       (["cdf", str(small_dir), str(other)], tmp_path / "delay_s_cdf.pdf"),
                       (["eq-vs-opt", str(small_dir), str(other), "--metric", "energy_j"],
                        tmp_path / "eq_vs_opt_energy_j.pdf")]:
        res = runner.invoke(cli, ["plot", *args, "--fig-format", "pdf", "--size", "column"])
        assert res.exit_code == 0, (args, res.output)
        assert made.read_bytes()[:5] == b"%PDF-", args
    res = runner.invoke(cli, ["plot", "schedule", str(many_dir), "--all-devices", "-o", str(tmp_path / "all.svg")])
    assert res.exit_code == 0 and (tmp_path / "all.svg").is_file()


# --------------------------------------------------------------------------- tables

def _awkward() -> pd.DataFrame:
    return pd.DataFrame({"method": ["tpos_uai", "gtpos & co"], "avg_delay_s": [1.23456789, np.nan],
                         "gap": [0.000012345, 0.5], "deadline_met": [True, False], "share%": [12.5, 100.0],
                         "count": [3, 4], "note": ["#1 ~ok^", None]})


def test_latex_table_escapes_rounds_and_writes_missing_and_booleans():
    tex = tables.latex_table(_awkward(), digits=3)
    assert "tpos\\_uai" in tex and "gtpos \\& co" in tex and "share\\%" in tex and "\\#1" in tex
    assert "1.23 &" in tex and "1.23456789" not in tex and "$1.23\\times10^{-5}$" in tex
    assert "nan" not in tex.lower() and "True" not in tex and "False" not in tex and "None" not in tex
    assert " yes " in tex and " no " in tex and " -- " in tex
    assert "\\toprule" in tex and "\\midrule" in tex and "\\bottomrule" in tex
    assert "\\begin{tabular}{lrrlrrl}" in tex


def test_latex_table_parses_with_balanced_environments():
    pylatexenc = pytest.importorskip("pylatexenc.latexwalker")
    tex = tables.latex_table(_awkward(), caption="Results: 100% & more", label="tab:r")
    walker = pylatexenc.LatexWalker(tex, tolerant_parsing=False)
    nodes, _, _ = walker.get_latex_nodes()
    envs = [n for n in nodes if n.isNodeType(pylatexenc.LatexEnvironmentNode)]
    assert [e.environmentname for e in envs] == ["table"]
    inner = [n for n in envs[0].nodelist if n.isNodeType(pylatexenc.LatexEnvironmentNode)]
    assert [e.environmentname for e in inner] == ["tabular"]
    # every special character is escaped: no stray &-cells beyond the columns, no % comment eats a cell
    body = tex.split("\\midrule\n")[1].split("\\bottomrule")[0]
    for line in body.strip().splitlines():
        assert line.count(" & ") == 6 and "%" not in line.replace("\\%", "")


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="no TeX engine on PATH (CI has none)")
def test_latex_table_compiles(tmp_path):
    tables.export_table(_awkward(), tmp_path / "t.tex", "latex", caption="A & B_c", label="tab:x")
    (tmp_path / "doc.tex").write_text("\\documentclass{article}\n\\usepackage{booktabs}\n\\begin{document}\n"
                                      "\\input{t.tex}\n\\end{document}\n")
    res = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "doc.tex"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout[-2000:]
    assert (tmp_path / "doc.pdf").is_file()


def test_xlsx_reads_back_with_pandas(tmp_path):
    pytest.importorskip("openpyxl")
    df = _awkward()
    path = tables.write_table(df, tmp_path / "r", "xlsx")
    assert path.suffix == ".xlsx"
    back = pd.read_excel(path)
    assert list(back.columns) == list(df.columns)
    assert back["avg_delay_s"].iloc[0] == df["avg_delay_s"].iloc[0] and np.isnan(back["avg_delay_s"].iloc[1])
    assert list(back["count"]) == [3, 4] and list(back["deadline_met"]) == [True, False]


def test_export_table_chooses_columns_and_refuses_unknown_ones(tmp_path):
    path = tables.export_table(_awkward(), tmp_path / "t.tex", "latex", columns=["avg_delay_s", "method"], digits=2)
    tex = path.read_text()
    assert "avg\\_delay\\_s & method \\\\" in tex and "deadline" not in tex and "1.2 & tpos\\_uai" in tex
    with pytest.raises(InputError, match="'columns' option.*nope"):
        tables.export_table(_awkward(), tmp_path / "t.tex", "latex", columns=["nope"])


def test_cli_table_exports_latex_and_xlsx(tmp_path):
    _awkward().to_csv(tmp_path / "results.csv", index=False)
    runner = CliRunner()
    res = runner.invoke(cli, ["table", str(tmp_path / "results.csv"), "--columns", "method,gap", "--digits", "2"])
    assert res.exit_code == 0, res.output
    tex = (tmp_path / "results.tex").read_text()
    assert "method & gap \\\\" in tex and "$1.2\\times10^{-5}$" in tex
    res = runner.invoke(cli, ["table", str(tmp_path), "--format", "xlsx", "-o", str(tmp_path / "out.xlsx")])
    assert res.exit_code == 0, res.output
    assert list(pd.read_excel(tmp_path / "out.xlsx").columns) == list(_awkward().columns)
    res = runner.invoke(cli, ["table", str(tmp_path / "results.csv"), "--columns", "nope"])
    assert isinstance(res.exception, InputError) and "nope" in str(res.exception)   # main() exits 2 with it
    out = subprocess.run([sys.executable, "-m", "mecopt", "table", str(tmp_path / "results.csv"), "--columns",
                          "nope"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "'columns' option" in out.stderr and "Traceback" not in out.stderr
