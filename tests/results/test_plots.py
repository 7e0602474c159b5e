"""Plots: each returns a Figure; matplotlib stays optional for the core."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import tomli_w
from click.testing import CliRunner

from mecopt.cli import cli
from mecopt.core.errors import InputError
from mecopt.core.instance import instance_from_dict
from mecopt.core.solution import read_result_folder
from mecopt.methods import registry as solvers
from mecopt.results import plots

pytest.importorskip("matplotlib")
from matplotlib.figure import Figure  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"


def test_core_imports_without_matplotlib():
    code = (
        "import sys; sys.modules['matplotlib'] = None\n"
        "import mecopt, mecopt.results.plots, mecopt.studies.sweep, mecopt.studies.reproduce, mecopt.core.solution, "
        "mecopt.cli\n"
        "from mecopt.core.errors import InputError\n"
        "import pandas as pd\n"
        "try:\n"
        "    mecopt.results.plots.schedule(pd.DataFrame({'device': ['a'], 'layer': [1], 'slot': [0]}))\n"
        "except InputError as e:\n"
        "    print('ERR', e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "ERR plots need matplotlib, which this installation lacks: pip install matplotlib" in out.stdout


@pytest.fixture
def doc(instance_dict):
    return instance_dict(n_devices=3, server={"parallel_limit": 3})


@pytest.fixture
def offload_solution(doc):
    return solvers.solve(instance_from_dict(doc), "all-offload", seed=1, draws=1)


@pytest.fixture
def game_solution(doc):
    return solvers.solve(instance_from_dict(doc), "tpos-cai", engine="dp", seed=0)


def _bars(ax):
    from matplotlib.collections import PolyCollection
    return [c for c in ax.collections if isinstance(c, PolyCollection)]


def test_schedule_of_a_solution(offload_solution, tmp_path):
    fig = plots.schedule(offload_solution)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    # one bar per offloaded block: each device's contiguous run of layers in one slot
    blocks = 0
    for s in offload_solution.profile:
        s = np.asarray(s)
        blocks += sum(1 for m in range(len(s)) if s[m] > 0 and (m == 0 or s[m] != s[m - 1]))
    assert len(_bars(ax)) == blocks
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[-1].startswith("d1") and len(labels) == 3
    path = plots.save(fig, tmp_path / "s.png")
    assert path.read_bytes()[:8] == PNG


def test_schedule_and_partition_from_a_solution_dir(game_solution, doc, tmp_path):
    d = tmp_path / "sol"
    game_solution.write(d, "csv")
    (d / "instance.toml").write_text(tomli_w.dumps(doc))
    res = read_result_folder(d)                                  # the core reader: the whole solution
    assert res.solution is not None and res.title == "tpos-cai on tiny"
    fig = plots.schedule(res.solution)
    assert "tpos-cai on tiny" in fig.axes[0].get_title()
    assert "slot length" in fig.axes[0].get_xlabel()          # server times known from the instance
    fig = plots.partition(res.solution)
    M = sum(len(s) for s in game_solution.profile)
    assert len(fig.axes[0].patches) >= M                        # one cell per layer (+ legend patches)


def test_schedule_of_a_folder_with_only_an_assignment_and_its_instance(game_solution, doc, tmp_path):
    d = tmp_path / "plain"
    d.mkdir()
    game_solution.assignment_frame().to_csv(d / "assignment.csv", index=False)
    (d / "summary.json").write_text('{"method": "mine", "instance": "tiny"}')
    res = read_result_folder(d)                                  # no manifest: the table and instance.toml
    assert res.solution is None and res.instance is None and res.title == "mine on tiny"
    assert list(res.assignment["slot"]) == list(game_solution.assignment_frame()["slot"])
    bare = plots.schedule_data(res.assignment, instance=res.instance, title=res.title)
    assert bare.frame_s is None and bare.t_server is None and bare.title == "mine on tiny"
    (d / "instance.toml").write_text(tomli_w.dumps(doc))
    res = read_result_folder(d)
    data = plots.schedule_data(res.assignment, instance=res.instance, title=res.title)
    assert data.H == res.instance.servers[0].H and data.frame_s == res.instance.servers[0].T_d
    assert set(data.t_server) == {dev.name for dev in res.instance.devices}
    fig = plots.schedule(data)
    assert "slot length" in fig.axes[0].get_xlabel()


def test_schedule_of_an_assignment_table_and_all_local():
    df = pd.DataFrame({"device": ["a"] * 3 + ["b"] * 3, "layer": [1, 2, 3] * 2, "slot": [0, 0, 0, 0, 1, 2]})
    fig = plots.schedule(df)
    assert len(_bars(fig.axes[0])) == 2
    local = plots.schedule(df.assign(slot=0))
    assert any("no layer offloaded" in t.get_text() for t in local.axes[0].texts)


def test_schedule_rejects_a_table_without_slots(tmp_path):
    with pytest.raises(InputError, match="slot"):
        plots.schedule(pd.DataFrame({"device": ["a"], "layer": [1]}))
    with pytest.raises(InputError, match="cannot plot a schedule from"):
        plots.schedule(tmp_path / "missing")                    # plots read no folder
    with pytest.raises(InputError, match="not a solution directory"):
        read_result_folder(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no readable assignment"):
        read_result_folder(tmp_path / "empty")


def test_convergence_groups_and_mapping(game_solution):
    tr = game_solution.trace
    table = pd.concat([tr.assign(N=n, method=m) for n in (5, 10) for m in ("tpos-cai", "tpos-uai")])
    fig = plots.convergence(table, by=("N", "method"))
    ax = fig.axes[0]
    assert len(ax.lines) == 4
    styles = {(l.get_label(), l.get_linestyle()) for l in ax.lines}
    assert {s for _, s in styles} == {"-", "--"}                # CAI vs UAI told apart by line style
    fig = plots.convergence({"run A": tr, "run B": tr})
    assert [l.get_label() for l in fig.axes[0].lines] == ["run A", "run B"]
    with pytest.raises(InputError, match="lacks columns"):
        plots.convergence(tr, by="N")


def test_compare_lines_for_numbers_bars_for_categories():
    t = pd.DataFrame({"W": [1, 2, 1, 2, 1, 1], "method": ["a", "a", "b", "b", "a", "a"],
                      "y": [4.0, 2.0, 3.0, 3.0, 6.0, 5.0]})
    ax = plots.compare(t, x="W", y="y").axes[0]
    assert len(ax.lines) == 2
    a = next(l for l in ax.lines if l.get_label() == "a")
    assert list(a.get_ydata()) == [5.0, 2.0]                    # mean over the repeated rows (seeds)
    cat = pd.DataFrame({"dnn": ["vgg16", "lenet"] * 2, "method": ["a", "a", "b", "b"], "y": [1.0, 2.0, 3.0, 4.0]})
    ax = plots.compare(cat, x="dnn", y="y", order=["vgg16", "lenet"], labels={"a": "Case A"}).axes[0]
    assert len(ax.patches) == 4 and [t.get_text() for t in ax.get_xticklabels()] == ["vgg16", "lenet"]
    assert "Case A" in [t.get_text() for t in ax.get_legend().get_texts()]


def test_plots_draw_on_given_axes():
    from matplotlib.figure import Figure as F
    fig = F()
    a, b = fig.subplots(1, 2)
    df = pd.DataFrame({"device": ["a"] * 2, "layer": [1, 2], "slot": [0, 1]})
    assert plots.schedule(df, ax=a) is fig and plots.partition(df, ax=b) is fig


def test_cli_plot_commands(game_solution, tmp_path):
    d = tmp_path / "sol"
    game_solution.write(d, "json")
    runner = CliRunner()
    for args, made in [(["schedule", str(d)], d / "schedule.png"),
                       (["partition", str(d), "-o", str(tmp_path / "p.svg")], tmp_path / "p.svg"),
                       (["convergence", str(d)], d / "convergence.png")]:
        res = runner.invoke(cli, ["plot", *args])
        assert res.exit_code == 0, res.output
        assert made.is_file() and made.stat().st_size > 0
    t = pd.DataFrame({"x": [1, 2, 1, 2], "method": ["a", "a", "b", "b"], "avg_delay_s": [1.0, 2.0, 3.0, 4.0]})
    t.to_csv(tmp_path / "results.csv", index=False)
    res = runner.invoke(cli, ["plot", "sweep", str(tmp_path), "--x", "x"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "avg_delay_s_vs_x.png").read_bytes()[:8] == PNG
    res = runner.invoke(cli, ["plot", "sweep", str(tmp_path / "results.csv"), "--x", "nope"])
    assert isinstance(res.exception, InputError)
