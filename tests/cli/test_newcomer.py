"""Issue 15, "what a newcomer trips over": one regression test (or a few) per point, at the
command line where the user meets it. Points 9 (BOM) and 10 (``1_0``) are tested elsewhere."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from importlib.metadata import requires
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import run

import mecopt
from mecopt.core import checker as constraints
from mecopt.core import manifest
from mecopt.core.errors import InputError
from mecopt.core.instance import instance_from_dict, read_document
from mecopt.core.options import scalar_from_text
from mecopt.core.solution import Solution
from mecopt.core.tables import read_table
from mecopt.core.tolerances import DEADLINE_TOL, meets_deadline
from mecopt.methods import registry as solvers
from mecopt.studies import sweep as sw

#: runs a MILP solver (HiGHS or CP-SAT), directly or through a command: integration, not unit
pytestmark = pytest.mark.solver

ROOT = Path(__file__).resolve().parents[2]
FIG6 = "paper:fig6-w1khz"


@pytest.fixture
def tiny(instance_dict, write_toml):
    return write_toml(instance_dict(n_devices=2))


# --------------------------------------------------------------------------- 1. sweeps that change nothing

def test_sweep_refuses_a_default_every_device_entry_overrides(capsys, tmp_path):
    out = tmp_path / "sw"
    code, _, err = run(capsys, "sweep", FIG6, "--values", "device_defaults.bandwidth_hz=500,2000",
                       "--methods", "all-local", "--out", out, "-q")
    assert code == 2 and "Traceback" not in err
    assert "devices.0" in err and "bandwidth_hz = 1000.0" in err       # the overriding entry, named
    assert "devices.*.bandwidth_hz" in err                               # the path that works
    assert not out.exists()                                              # nothing solved, nothing written


def test_sweep_refuses_device_default_count(capsys, tmp_path):
    code, _, err = run(capsys, "sweep", FIG6, "--values", "device_defaults.count=2,3", "--out", tmp_path / "x")
    assert code == 2 and "devices.*.count" in err


def test_sweep_warns_loudly_when_some_entries_override(capsys, instance_dict, write_toml, tmp_path):
    doc = instance_dict(devices=[{"name": "d1"}, {"name": "d2", "bandwidth_hz": 50.0}])
    path = write_toml(doc)
    code, out, err = run(capsys, "sweep", path, "--values", "device_defaults.bandwidth_hz=80,120",
                         "--methods", "all-local", "--workers", "1", "--out", tmp_path / "sw", "-q")
    assert code == 0, err
    assert "WARNING" in err and "1 of 2 device entries" in err and "devices.1" in err
    assert "devices.*.bandwidth_hz" in err
    # the Python API warns too
    spec = sw.SweepSpec(instances=(str(path),), axes=(sw.Axis("device_defaults.bandwidth_hz", (80.0,)),))
    with pytest.warns(sw.SweepWarning, match="devices.1"):
        sw.plan(spec)


def test_sweep_wildcard_changes_every_device_entry(capsys, tmp_path):
    out = tmp_path / "sw"
    code, _, err = run(capsys, "sweep", FIG6, "--values", "devices.*.bandwidth_hz=500,2000",
                       "--methods", "isolated", "--workers", "1", "--out", out, "-q")
    assert code == 0, err
    table = read_table(out / "results.csv")
    assert list(table["devices.*.bandwidth_hz"]) == [500, 2000]
    assert table["avg_delay_s"].nunique() == 2                          # the axis changes the results
    doc, _ = read_document(FIG6)
    sw.set_path(doc, "devices.*.bandwidth_hz", 777.0)
    assert all(e["bandwidth_hz"] == 777.0 for e in doc["devices"])
    with pytest.raises(InputError, match="not a list"):
        sw.set_path(doc, "server.*.slots", 1)


def test_sweep_help_example_changes_something(capsys):
    code, out, _ = run(capsys, "sweep", "--help")
    assert code == 0
    example = re.search(r"mecopt sweep (\S+) --values (\S+?)=(\S+)", out)
    assert example, out
    source, path, values = example.groups()
    doc, _ = read_document(source)
    assert sw.shadowed(doc, path, source) is None
    widths = set()
    for v in values.split(","):
        d = json.loads(json.dumps(doc))
        sw.set_path(d, path, scalar_from_text(v))
        widths.add(tuple(dev.W for dev in instance_from_dict(d, source_path=source).devices))
    assert len(widths) == len(values.split(","))


# --------------------------------------------------------------------------- 2. plots

def test_matplotlib_is_a_base_dependency():
    base = [r for r in requires("mecopt") if r.startswith("matplotlib") and "extra ==" not in r]
    assert base, requires("mecopt")


def test_reproduce_without_matplotlib_says_so_on_the_terminal(capsys, tmp_path, monkeypatch):
    for mod in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, mod)
    monkeypatch.setitem(sys.modules, "matplotlib", None)          # import matplotlib -> ImportError
    out = tmp_path / "r"
    code, _, err = run(capsys, "reproduce", "--fig", "10", "--quick", "--out", out, "--workers", "1", "-q")
    assert code == 0, err
    assert "WARNING" in err and "no PNG drawn for figure(s) 10" in err and "pip install matplotlib" in err
    assert not (out / "fig10.png").exists()
    assert manifest.read(out)["complete"] is True


# --------------------------------------------------------------------------- 3. progress

@pytest.fixture
def terminal(monkeypatch):
    """Pretend stdout and stderr are terminals (the captured streams are not)."""
    from mecopt.cli import progress
    monkeypatch.setattr(progress, "interactive", lambda: True)


def test_no_progress_when_not_a_terminal(capsys, tiny):
    code, _, err = run(capsys, "solve", tiny, "--method", "tpos-cai", "--engine", "dp")
    assert code == 0 and "tick" not in err and "tpos-cai:" not in err


def test_game_progress_on_a_terminal_and_quiet(capsys, tiny, terminal):
    code, _, err = run(capsys, "solve", tiny, "--method", "tpos-cai", "--engine", "dp")
    assert code == 0
    assert re.search(r"tpos-cai: \d\d:\d\d, tick \d+, moves \d+, verified \d/2, potential ", err), err
    code, _, err = run(capsys, "solve", tiny, "--method", "tpos-cai", "--engine", "dp", "-q")
    assert code == 0 and "tick" not in err


def test_milp_progress_and_elapsed_time_in_compare(capsys, tiny, terminal, monkeypatch):
    """A method with a progress option (GTPOS after its rewrite) reports incumbent, bound, gap and
    time; one without (all-local) still shows its elapsed time."""
    def fake_milp(instance, *, progress=None):
        if progress is not None:
            progress(dict(incumbent=1.25, bound=1.0, gap=0.2, time_s=0.5))
        return [[0] * d.M for d in instance.devices]

    monkeypatch.setitem(solvers.METHODS, "fake-milp", fake_milp)
    code, _, err = run(capsys, "compare", tiny, "--methods", "fake-milp,all-local,tpos-uai", "--engine", "dp")
    assert code == 0, err
    assert "fake-milp: " in err and "incumbent 1.25, bound 1, gap 20%, 0.5 s" in err
    assert re.search(r"all-local: \d\d:\d\d", err)
    assert re.search(r"tpos-uai: \d\d:\d\d, tick 1,", err)
    code, _, err = run(capsys, "compare", tiny, "--methods", "fake-milp,all-local", "-q")
    assert code == 0 and "incumbent" not in err and "all-local:" not in err


# --------------------------------------------------------------------------- 4. result sets

def _assert_refused(capsys, instance, folder: Path):
    for target in (folder, folder / "tpos-cai", folder / "tpos-cai" / "assignment.csv"):
        if not target.exists():
            continue
        code, _, err = run(capsys, "check", instance, target)
        assert code == 2 and "incomplete" in err and "Traceback" not in err, (target, err)
    if (folder / "tpos-cai").is_dir():
        with pytest.raises(InputError, match="incomplete"):
            mecopt.read_solution(folder / "tpos-cai")
        code, _, err = run(capsys, "plot", "schedule", folder / "tpos-cai", "-o", folder.parent / "s.png")
        assert code == 2 and "incomplete" in err


KILL_AFTER_FIRST_METHOD = """
import sys, time
import mecopt.studies.compare as c
real = c.ComparisonFolder.save
def save(self, *a, **k):
    out = real(self, *a, **k)
    time.sleep(120)          # killed here, after the first method folder is complete
    return out
c.ComparisonFolder.save = save
from mecopt.cli import main
main(sys.argv[1:])
"""


def test_compare_killed_midway_is_refused(capsys, tiny, tmp_path):
    out = tmp_path / "cmp"
    proc = subprocess.Popen([sys.executable, "-c", KILL_AFTER_FIRST_METHOD, "compare", str(tiny), "--methods",
                             "tpos-cai,all-local", "--engine", "dp", "--out", str(out), "-q"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    first = out / "tpos-cai" / manifest.MANIFEST
    deadline = time.monotonic() + 120
    try:
        while not (first.is_file() and json.loads(first.read_text())["complete"]):
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "compare wrote no method folder"
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stderr.close()
    assert manifest.read(out)["complete"] is False and not (out / "all-local").exists()
    _assert_refused(capsys, tiny, out)


def test_compare_interrupted_while_writing_is_refused(capsys, tiny, tmp_path, monkeypatch):
    out = tmp_path / "cmp"
    real = Solution.write

    def write(self, folder, format="csv"):
        if Path(folder).name == ".all-local.partial":
            raise KeyboardInterrupt                     # Ctrl-C while writing the second method's folder
        return real(self, folder, format)

    monkeypatch.setattr(Solution, "write", write)
    code, _, _ = run(capsys, "compare", tiny, "--methods", "tpos-cai,all-local", "--engine", "dp", "--out", out)
    assert code == 130
    assert not (out / "all-local").exists()             # a method folder appears only complete
    _assert_refused(capsys, tiny, out)
    monkeypatch.setattr(Solution, "write", real)
    code, _, err = run(capsys, "compare", tiny, "--methods", "tpos-cai,all-local", "--engine", "dp", "--out", out,
                       "--resume")
    assert code == 0, err
    man = manifest.read(out)
    assert man["complete"] and "comparison.csv" in man["files"] and "all-local/summary.json" in man["files"]
    code, _, err = run(capsys, "check", tiny, out / "tpos-cai")      # a complete solution folder is checked
    assert code == 0, err
    assert mecopt.read_solution(out / "tpos-cai").method == "tpos-cai"


def test_check_out_and_sweep_write_manifests(capsys, tiny, tmp_path, monkeypatch):
    table = tmp_path / "a.csv"
    pd.DataFrame([(d, m, 0) for d in ("d1", "d2") for m in range(1, 5)],
                 columns=["device", "layer", "slot"]).to_csv(table, index=False)
    code, _, err = run(capsys, "check", tiny, table, "--out", tmp_path / "chk")
    assert code == 0, err
    assert manifest.read(tmp_path / "chk")["complete"] is True

    def broken(*a, **k):
        raise KeyboardInterrupt                          # killed while writing the final table

    monkeypatch.setattr(sw, "write_table", broken)
    code, _, _ = run(capsys, "sweep", tiny, "--values", "server.slots=2,3", "--methods", "all-local",
                     "--workers", "1", "--out", tmp_path / "sw", "-q")
    assert code == 130 and manifest.read(tmp_path / "sw")["complete"] is False
    code, _, err = run(capsys, "plot", "sweep", tmp_path / "sw", "--x", "server.slots")
    assert code == 2 and "incomplete" in err
    monkeypatch.undo()
    code, _, err = run(capsys, "sweep", tiny, "--values", "server.slots=2,3", "--methods", "all-local",
                       "--workers", "1", "--out", tmp_path / "sw", "--resume", "-q")
    assert code == 0, err
    assert manifest.read(tmp_path / "sw")["complete"] is True


# --------------------------------------------------------------------------- 5. check explains capacity

def _check_json(capsys, instance, table_path):
    code, out, err = run(capsys, "check", instance, table_path, "--json")
    return code, json.loads(out)


@pytest.mark.parametrize("mode", ["per_device", "total"])
def test_check_explains_each_slot_against_the_capacity_of_the_mode(capsys, instance_dict, write_toml, tmp_path,
                                                                  mode):
    # slot 3: d1 runs layers 3-4 (0.04 + 0.05 s), d2 layer 4 (0.05 s): 0.14 s in all, each under 0.1 s
    inst = write_toml(instance_dict(n_devices=2, model={"capacity_mode": mode}))
    rows = [("d1", m, h) for m, h in zip(range(1, 5), [0, 0, 3, 3])] + \
           [("d2", m, h) for m, h in zip(range(1, 5), [1, 1, 1, 3])]
    table = tmp_path / "a.csv"
    pd.DataFrame(rows, columns=["device", "layer", "slot"]).to_csv(table, index=False)
    code, res = _check_json(capsys, inst, table)
    slot3 = res["slots"][2]
    assert slot3["server_time_s"] == pytest.approx(0.14) and slot3["capacity_s"] == pytest.approx(0.1)
    assert slot3["busiest_device"] == "d1" and slot3["busiest_device_s"] == pytest.approx(0.09)
    code_txt, out, _ = run(capsys, "check", inst, table)
    if mode == "per_device":
        assert code == code_txt == 0 and res["feasible"]
        assert slot3["capacity_applies_to"] == "each device" and slot3["checked_s"] == pytest.approx(0.09)
        assert slot3["capacity_ok"] is True
        assert "caps each device's own server time in a slot at T_d/H = 0.1 s" in out
        assert "B x T_d/H = 0.2 s" in out
    else:
        assert code == code_txt == 3 and res["violations_by_equation"] == {"(17)": 1}
        assert slot3["capacity_applies_to"] == "slot total" and slot3["checked_s"] == pytest.approx(0.14)
        assert slot3["capacity_ok"] is False
        assert "caps the slot total server_time_s at T_d/H = 0.1 s" in out


def test_check_report_is_library_code(tiny):
    inst = mecopt.load_instance(tiny)
    table = pd.DataFrame([(d, m, 0) for d in ("d1", "d2") for m in range(1, 5)], columns=["device", "layer", "slot"])
    res = constraints.assignment_report(inst, table)
    assert res["summary"]["feasible"] and "capacity mode per_device" in res["summary"]["capacity_rule"]


# --------------------------------------------------------------------------- 6. deadline flags

METHODS = ("tpos-cai", "tpos-uai", "gtpos", "all-local", "all-offload", "isolated", "my-profile")


@pytest.mark.parametrize("policy,tau,parallel", [("hard", 0.7, 1), ("relax", 0.5, 2)])
def test_deadline_miss_means_the_same_for_every_method(instance_dict, policy, tau, parallel, monkeypatch):
    """hard/0.7 s/B = 1: at most one device can offload in time, so the game drops the deadline of
    the others (GTPOS: infeasible); relax/0.5 s: no device can meet tau, every method misses it."""
    monkeypatch.setitem(solvers.METHODS, "my-profile", lambda instance: [[0] * d.M for d in instance.devices])
    inst = instance_from_dict(instance_dict(n_devices=3, model={"deadline_policy": policy},
                                            server={"parallel_limit": parallel},
                                            device_defaults={"deadline_s": tau}))
    missed = set()
    for method in METHODS:
        try:
            sol = mecopt.solve(inst, method, **({"engine": "dp"} if "engine" in solvers.accepted_options(method)
                                                 else {}))
        except mecopt.InfeasibleError:
            assert method == "gtpos" and policy == "hard"
            continue
        frame = sol.devices_frame()
        for n, d in enumerate(inst.devices):
            late = not meets_deadline(sol.evaluation.delay[n], d.tau, DEADLINE_TOL)
            assert ("deadline_miss" in sol.flags[d.name]) == late, (method, d.name)
            assert ("deadline_miss" in frame.loc[n, "flags"].split(";")) == late
            assert frame.loc[n, "deadline_met"] == (not late)
            if late:
                missed.add(method)
    assert {"tpos-cai", "tpos-uai", "all-local"} <= missed


def test_cli_solve_shows_the_game_deadline_miss(capsys, instance_dict, write_toml):
    path = write_toml(instance_dict(n_devices=3, server={"parallel_limit": 1}, device_defaults={"deadline_s": 0.7}))
    code, out, _ = run(capsys, "solve", path, "--method", "tpos-cai", "--engine", "dp")
    assert code == 0 and "deadline_dropped;deadline_miss" in out


# --------------------------------------------------------------------------- 7. profile hint

def test_profile_without_torch_suggests_the_cpu_build(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    code, _, err = run(capsys, "profile", "alexnet", "--engine", "torch")
    assert code == 2 and "Traceback" not in err
    assert "--index-url https://download.pytorch.org/whl/cpu" in err
    assert "pip install 'mecopt[profile]'" not in err
    pinned = re.search(r"pip install (torch==\S+)", (ROOT / "README.md").read_text())
    assert pinned and pinned.group(1) in err                        # the version the README pins


# --------------------------------------------------------------------------- 8. plots say what they show

def test_plot_labels_titles_legends_and_palettes(tiny):
    from matplotlib.colors import to_hex

    from mecopt.results import plots
    table = pd.DataFrame({"devices.*.bandwidth_hz": [500, 1000, 500, 1000], "method": ["a", "a", "b", "b"],
                          "avg_delay_s": [2.0, 1.0, 3.0, 2.5], "avg_cost": [1, 2, 3, 4]})
    ax = plots.compare(table, x="devices.*.bandwidth_hz", y="avg_delay_s").axes[0]
    assert ax.get_xlabel() == "bandwidth W (Hz), every device" and ax.get_ylabel() == "average delay T (s)"
    assert ax.get_title() == "average delay T vs bandwidth W, every device, per method"
    ax = plots.convergence(pd.DataFrame({"tick": [0, 1], "avg_cost": [3.0, 2.0]}), by=None).axes[0]
    assert ax.get_ylabel() == "average cost C (cost units)" and ax.get_xlabel() == "tick (clock steps)"

    sol = mecopt.solve(mecopt.load_instance(tiny), "all-offload", draws=1)
    part = plots.partition(sol).axes[0]
    sched = plots.schedule(sol).axes[0]
    slot_colours = {to_hex(h.get_facecolor()) for h in part.get_legend().legend_handles} - {plots.LOCAL_COLOR}
    device_legend = sched.get_legend()
    assert device_legend is not None and {t.get_text() for t in device_legend.get_texts()} >= {"d1"}
    device_colours = {to_hex(h.get_facecolor()) for h in device_legend.legend_handles}
    assert slot_colours and not slot_colours & device_colours
    assert "colour = slot" in part.get_title() and "colour = device" in sched.get_title()
    assert "(s)" in sched.get_xlabel()


def test_reproduce_figure_titles_say_what_they_show(monkeypatch, tmp_path):
    from mecopt.results import plots
    from mecopt.studies import reproduce as rep
    drawn = {}

    def save(fig, path):
        drawn[Path(path).stem] = fig
        return Path(path)

    monkeypatch.setattr(plots, "save", save)
    rows = [dict(dnn=dnn, method=m, avg_delay_s=1.0 + i, avg_energy_j=2.0 + i)
            for dnn in rep.DNNS for i, m in enumerate(rep.CASES)]
    rep.draw_figures(tmp_path, {"fig8_cases": pd.DataFrame(rows), "fig9_cases": pd.DataFrame(rows)}, ["8", "9"])
    t8, t9 = (drawn[f].axes[0] for f in ("fig8", "fig9"))
    assert t8.get_title() == "Fig. 8: average delay per DNN type, Cases 1-4" and "(s)" in t8.get_ylabel()
    assert t9.get_title() == "Fig. 9: average energy per DNN type, Cases 1-4" and "(J)" in t9.get_ylabel()


# --------------------------------------------------------------------------- 9. README and generate

def test_readme_command_table_lists_plot():
    rows = [line for line in (ROOT / "README.md").read_text().splitlines() if line.startswith("| `mecopt ")]
    assert any(line.startswith("| `mecopt plot") for line in rows)


def test_generate_hint_names_its_own_option(capsys, tmp_path):
    code, _, err = run(capsys, "generate", "--devices", "2", "--dnn-mix", "vgg16:1", "--seed", "1",
                       "--out", tmp_path / "g.toml")
    assert code == 2 and "--deadline-policy relax" in err and "model.deadline_policy" not in err
    code, out, err = run(capsys, "generate", "--devices", "2", "--dnn-mix", "vgg16:1", "--seed", "1",
                         "--deadline-policy", "relax", "--out", tmp_path / "g.toml")
    assert code == 0, err
    inst = mecopt.load_instance(tmp_path / "g.toml")
    assert all(d.deadline_relaxed for d in inst.devices) and np.isfinite(inst.devices[0].fastest_delay)
