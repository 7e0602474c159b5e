"""Sweeps: grids over field paths, parallel runs, append-only log, resume, Dask."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from mecopt.cli import cli
from mecopt.core.errors import InputError
from mecopt.core.tables import read_table
from mecopt.methods import registry as solvers
from mecopt.studies import sweep as sw

#: runs a MILP solver (HiGHS or CP-SAT), directly or through a command: integration, not unit
pytestmark = pytest.mark.solver

REPO = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------- parsing

def test_parse_range_ints_and_floats():
    assert sw.parse_range("server.slots=2:6:3") == sw.Axis("server.slots", (2, 4, 6))
    assert sw.parse_range("devices.0.bandwidth_hz=200:2000:10").values == tuple(200 * k for k in range(1, 11))
    a = sw.parse_range("x=0.2:2.0:10")
    assert a.values[0] == 0.2 and a.values[-1] == 2.0 and len(a.values) == 10
    assert sw.parse_range("x=1:2:1").values == (1,)


@pytest.mark.parametrize("spec", ["x=1:2", "x=a:2:3", "x=1:2:0", "=1:2:3", "x"])
def test_parse_range_rejects(spec):
    with pytest.raises(InputError):
        sw.parse_range(spec)


def test_parse_values_reads_toml_scalars():
    a = sw.parse_values("device_defaults.dnn=alexnet,vgg16")
    assert a.values == ("alexnet", "vgg16")
    assert sw.parse_values("x=200,1e3,true,\"s\"").values == (200, 1000.0, True, "s")


def test_set_path_tables_lists_and_errors():
    doc = {"server": {"slots": 5}, "devices": [{"count": 1}, {"count": 2}]}
    sw.set_path(doc, "server.slots", 3)
    sw.set_path(doc, "devices.1.count", 7)
    sw.set_path(doc, "model.capacity_mode", "total")        # a missing table is created
    assert doc["server"]["slots"] == 3 and doc["devices"][1]["count"] == 7
    assert doc["model"] == {"capacity_mode": "total"}
    with pytest.raises(InputError, match="devices.2"):
        sw.set_path(doc, "devices.2.count", 1)
    with pytest.raises(InputError, match="devices.x"):
        sw.set_path(doc, "devices.x.count", 1)
    with pytest.raises(InputError, match="server.slots is a value"):
        sw.set_path(doc, "server.slots.more", 1)
    with pytest.raises(InputError, match="bad sweep path"):
        sw.set_path(doc, "server..slots", 1)


# --------------------------------------------------------------------------- planning

@pytest.fixture
def tiny(write_toml, instance_dict):
    return write_toml(instance_dict(n_devices=2))


def test_bad_paths_are_input_errors_naming_them(tiny, tmp_path):
    for axis, needle in [(sw.Axis("devices.5.alpha", (0.5,)), "devices.5"),
                         (sw.Axis("server.slotz", (3,)), "server.slotz"),
                         (sw.Axis("server.slots", (0, 3)), "server.slots")]:
        spec = sw.SweepSpec((str(tiny),), (axis,), ("all-local",))
        with pytest.raises(InputError, match=needle.replace(".", r"\.")):
            sw.run_sweep(spec, tmp_path / "never", workers=1)
        assert not (tmp_path / "never").exists()       # nothing written before the plan is valid


def test_unknown_method_and_options(tiny, tmp_path):
    with pytest.raises(InputError, match="method"):
        sw.plan(sw.SweepSpec((str(tiny),), (), ("no-such",)))
    with pytest.raises(InputError, match="options given for methods not in the sweep"):
        sw.plan(sw.SweepSpec((str(tiny),), (), ("all-local",), options={"gtpos": {"time_limit": 1}}))


def test_plan_order_seeds_and_options(tiny):
    spec = sw.SweepSpec((str(tiny),), (sw.Axis("server.slots", (2, 3)),), ("all-offload", "all-local", "tpos-cai"),
                        seeds=(0, 1), options={"*": {"engine": "dp"}, "all-offload": {"draws": 2}})
    points, runs, manifest = sw.plan(spec)
    assert [p.values for p in points] == [(("server.slots", 2),), (("server.slots", 3),)]
    got = [(r.point.index, r.method, r.seed) for r in runs]
    # all-local names no seed: it runs once per point; the others once per seed
    assert got == [(0, "all-offload", 0), (0, "all-offload", 1), (0, "all-local", 0), (0, "tpos-cai", 0),
                   (0, "tpos-cai", 1), (1, "all-offload", 0), (1, "all-offload", 1), (1, "all-local", 0),
                   (1, "tpos-cai", 0), (1, "tpos-cai", 1)]
    by = {(r.point.index, r.method, r.seed): r.options for r in runs}
    assert by[(0, "all-offload", 1)] == {"draws": 2, "seed": 1}      # engine is not an all-offload option
    assert by[(0, "tpos-cai", 1)] == {"engine": "dp", "seed": 1}
    assert by[(0, "all-local", 0)] == {}
    assert manifest["methods"] == ["all-offload", "all-local", "tpos-cai"]


# --------------------------------------------------------------------------- running

SPEC_METHODS = ("all-local", "all-offload", "tpos-cai")


def _spec(tiny, **kw):
    base = dict(instances=(str(tiny),),
                axes=(sw.Axis("server.slots", (2, 3)), sw.Axis("device_defaults.bandwidth_hz", (50.0, 400.0))),
                methods=SPEC_METHODS, seeds=(0, 1), options={"*": {"engine": "dp"}, "all-offload": {"draws": 2}})
    base.update(kw)
    return sw.SweepSpec(**base)


def test_sweep_table_log_and_seeds(tiny, tmp_path):
    seen = []
    res = sw.run_sweep(_spec(tiny, save_solutions=True), tmp_path / "a", workers=2,
                       progress=lambda d, t: seen.append((d, t)))
    t = res.table
    assert len(t) == 4 * 5 and res.ran == 20 and res.skipped == 0
    assert seen[0] == (0, 20) and seen[-1] == (20, 20)
    assert list(t.columns[:6]) == ["key", "point", "instance", "server.slots", "device_defaults.bandwidth_hz", "method"]
    assert list(t["point"]) == sorted(t["point"])
    assert t["key"].is_unique and (t["termination"] != "error").all()
    # the seed reaches the solver: all-offload reports it back
    offl = t[t["method"] == "all-offload"]
    assert list(offl["info.seed"]) == list(offl["seed"])
    # the log has one line per run; the final table is built from it
    lines = (tmp_path / "a" / "results.jsonl").read_text().splitlines()
    assert len(lines) == 20 and {json.loads(l)["key"] for l in lines} == set(t["key"])
    pd.testing.assert_frame_equal(read_table(res.table_path), t, check_exact=True)
    timings = read_table(res.timings_path)
    assert list(timings["key"]) == list(t["key"]) and (timings["wall_time_s"] > 0).all()
    # every run's solution, with the instance it solved
    d = sw.solution_path(tmp_path / "a", 3, "tpos-cai", 1)
    assert (d / "assignment.csv").is_file() and (d / "instance.toml").is_file() and (d / "trace.csv").is_file()
    # the overrides were applied: a wider link offloads more, never less cheaply
    cai = t[(t["method"] == "tpos-cai")].groupby("device_defaults.bandwidth_hz")["avg_cost"].mean()
    assert cai[400.0] <= cai[50.0]


def test_resume_after_truncation_gives_the_same_table(tiny, tmp_path):
    """Simulated kill: the log keeps k finished rows plus a torn half line."""
    spec = _spec(tiny)
    sw.run_sweep(spec, tmp_path / "full", workers=2)
    for k in (0, 7, 19):
        part = tmp_path / f"part{k}"
        shutil.copytree(tmp_path / "full", part)
        (part / "results.csv").unlink()
        lines = (part / "results.jsonl").read_text().splitlines(keepends=True)
        (part / "results.jsonl").write_text("".join(lines[:k]) + (lines[k][: len(lines[k]) // 2] if k < 20 else ""))
        # resumed on an in-process executor: the table must not depend on where the runs ran
        with ThreadPoolExecutor(max_workers=1) as pool:
            res = sw.run_sweep(spec, part, executor=pool, resume=True)
        assert (res.ran, res.skipped) == (20 - k, k)
        assert (part / "results.csv").read_bytes() == (tmp_path / "full" / "results.csv").read_bytes()
        assert len((part / "results.jsonl").read_text().splitlines()) == 20


def test_resume_refuses_another_sweep_and_fresh_run_refuses_old_dir(tiny, tmp_path):
    sw.run_sweep(_spec(tiny, seeds=(0,)), tmp_path / "a", workers=1)
    with pytest.raises(InputError, match="already holds a sweep"):
        sw.run_sweep(_spec(tiny, seeds=(0,)), tmp_path / "a", workers=1)
    with pytest.raises(InputError, match="different sweep"):
        sw.run_sweep(_spec(tiny, seeds=(0, 1)), tmp_path / "a", workers=1, resume=True)
    res = sw.run_sweep(_spec(tiny, seeds=(0,)), tmp_path / "a", workers=1, resume=True)
    assert res.ran == 0


def test_gtpos_in_a_sweep_gets_its_options(tiny, tmp_path):
    # HiGHS runs in this process first: forked workers would then hang in HiGHS (its thread
    # pool does not survive fork), which is why local workers are spawned
    from mecopt.core.instance import load_instance
    assert solvers.solve(load_instance(tiny), "gtpos").termination.value == "optimal"
    spec = sw.SweepSpec((str(tiny),), (sw.Axis("server.parallel_limit", (1, 2)),), ("gtpos", "tpos-uai"),
                        seeds=(0, 1), options={"*": {"engine": "dp"}, "gtpos": {"time_limit": 30}})
    _, runs, _ = sw.plan(spec)
    assert [(r.method, r.seed) for r in runs[:3]] == [("gtpos", 0), ("tpos-uai", 0), ("tpos-uai", 1)]
    assert runs[0].options == {"time_limit": 30}
    t = sw.run_sweep(spec, tmp_path / "o", workers=2).table
    g = t[t["method"] == "gtpos"]
    assert list(g["termination"]) == ["optimal", "optimal"] and (g["violations"] == 0).all()
    # the centralized optimum is never slower on average than the equilibrium
    for b in (1, 2):
        at = t[t["server.parallel_limit"] == b]
        assert at.loc[at["method"] == "gtpos", "avg_delay_s"].iloc[0] <= at.loc[at["method"] == "tpos-uai",
                                                                                "avg_delay_s"].min() + 1e-9
    # GTPOS' own timings go to the timings table, so a resumed sweep still writes the same results
    assert not any(sw.is_timing(c) for c in t.columns if c.startswith(("info.", "certificate.")))
    timings = read_table(tmp_path / "o" / "timings.csv")
    assert {"wall_time_s", "info.solve_s"} <= set(timings.columns)
    shutil.copytree(tmp_path / "o", tmp_path / "r")
    lines = (tmp_path / "r" / "results.jsonl").read_text().splitlines(keepends=True)
    (tmp_path / "r" / "results.jsonl").write_text("".join(lines[:2]))
    assert sw.run_sweep(spec, tmp_path / "r", workers=2, resume=True).ran == 4
    assert (tmp_path / "r" / "results.csv").read_bytes() == (tmp_path / "o" / "results.csv").read_bytes()


def test_summary_row_keeps_timings_apart():
    row, timing = sw.summary_row({"avg_delay_s": 1.5, "wall_time_s": 9.0, "termination": "optimal",
                                  "info": {"solve_s": 0.3, "build_s": 0.1, "avg_delay_s_mean": 2.0, "nodes": 4,
                                           "nested": {"a": 1}},
                                  "certificate": {"gains": [0.0, 1.0], "certified": True}})
    assert row == {"avg_delay_s": 1.5, "termination": "optimal", "info.avg_delay_s_mean": 2.0, "info.nodes": 4,
                   "certificate.gains": "[0.0, 1.0]", "certificate.certified": True}
    assert timing == {"info.solve_s": 0.3, "info.build_s": 0.1}


def test_point_whose_instance_cannot_be_built_is_refused_before_any_run(write_toml, instance_dict, tmp_path):
    """Under the hard deadline a point can be infeasible: the sweep refuses it up front, naming the point."""
    inst = write_toml(instance_dict(n_devices=1))
    spec = sw.SweepSpec((str(inst),), (sw.Axis("device_defaults.deadline_s", (10.0, 0.01)),), ("all-local",))
    with pytest.raises(InputError, match=r"deadline.*device_defaults.deadline_s=0.01"):
        sw.run_sweep(spec, tmp_path / "o", executor=ThreadPoolExecutor(2))
    assert not (tmp_path / "o").exists()


def test_axis_named_like_a_column(write_toml, instance_dict, tmp_path):
    inst = write_toml(instance_dict(n_devices=1, device_defaults={"delta_cycles_per_bit": [1.0, 2.0]}))
    spec = sw.SweepSpec((str(inst),), (sw.Axis("seed", (1, 2)),), ("all-offload",), seeds=(5,),
                        options={"all-offload": {"draws": 1}})
    t = sw.run_sweep(spec, tmp_path / "o", workers=1).table
    assert list(t["instance.seed"]) == [1, 2] and list(t["seed"]) == [5, 5]


def test_several_instances_are_an_axis(write_toml, instance_dict, tmp_path):
    a = write_toml(instance_dict(n_devices=1, name="one"), "one.toml")
    b = write_toml(instance_dict(n_devices=3, name="three"), "three.toml")
    t = sw.run_sweep(sw.SweepSpec((str(a), str(b)), (), ("all-local",)), tmp_path / "o", workers=1).table
    assert list(t["instance"]) == ["one", "three"]


# --------------------------------------------------------------------------- a real kill

SLOW = textwrap.dedent('''
    import time
    from mecopt.methods.baselines import solve_all_offload

    def solve(instance, *, seed=0):
        time.sleep(0.25)
        return solve_all_offload(instance, seed=seed, draws=1)
''')


def test_killed_sweep_resumes_to_the_same_table(tiny, tmp_path, monkeypatch):
    (tmp_path / "slowsolver.py").write_text(SLOW)
    args = ["sweep", str(tiny), "--values", "server.slots=2,3,4", "--methods", "slow", "--seeds", "4",
            "--workers", "2", "-q"]
    code = (f"import sys; sys.path.insert(0, {str(tmp_path)!r}); import mecopt.methods.registry as s; "
            "s.METHODS['slow'] = 'slowsolver:solve'; from mecopt.cli import main; main(sys.argv[1:])")
    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-c", code, *args, "--out", str(killed)], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    log = killed / "results.jsonl"
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            if log.exists() and len(log.read_bytes().splitlines()) >= 2:
                break
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.02)
        else:
            pytest.fail("the sweep wrote no rows")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)   # the sweep and its worker processes
        proc.wait()
        proc.stderr.close()
    done = len(log.read_bytes().splitlines())
    assert 2 <= done < 12 and not (killed / "results.csv").exists()

    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(solvers.METHODS, "slow", "slowsolver:solve")
    runner = CliRunner()
    res = runner.invoke(cli, args + ["--out", str(killed), "--resume"])
    assert res.exit_code == 0, res.output
    assert f"{12 - done} solved now, {done} already done" in res.output
    res = runner.invoke(cli, args + ["--out", str(tmp_path / "whole")])
    assert res.exit_code == 0, res.output
    assert (killed / "results.csv").read_bytes() == (tmp_path / "whole" / "results.csv").read_bytes()


# --------------------------------------------------------------------------- Dask

def test_dask_cluster_gives_the_same_table(tiny, tmp_path):
    distributed = pytest.importorskip("distributed")
    args = ["sweep", str(tiny), "--values", "server.slots=2,3", "--methods", "all-local,all-offload",
            "--seeds", "2", "--option", "all-offload:draws=2", "-q"]
    runner = CliRunner()
    res = runner.invoke(cli, args + ["--out", str(tmp_path / "local"), "--workers", "2"])
    assert res.exit_code == 0, res.output
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster:
        res = runner.invoke(cli, args + ["--out", str(tmp_path / "dask"), "--dask", cluster.scheduler_address])
        assert res.exit_code == 0, res.output
    assert (tmp_path / "dask" / "results.csv").read_bytes() == (tmp_path / "local" / "results.csv").read_bytes()


def test_dask_unreachable_is_input_error(tiny, tmp_path):
    pytest.importorskip("distributed")
    spec = sw.SweepSpec((str(tiny),), (), ("all-local",))
    with pytest.raises(InputError, match="Dask scheduler"):
        with sw.dask_executor("tcp://127.0.0.1:9", timeout=1) as ex:
            sw.run_sweep(spec, tmp_path / "o", executor=ex)


# --------------------------------------------------------------------------- CLI

def test_cli_sweep_reports_and_exit_codes(tiny, tmp_path):
    runner = CliRunner()
    res = runner.invoke(cli, ["sweep", str(tiny), "--set", "server.slots=2:4:3", "--methods", "all-local",
                              "--out", str(tmp_path / "o"), "--workers", "1", "-q"])
    assert res.exit_code == 0, res.output
    assert "3 run(s): 3 solved now, 0 already done" in res.output
    res = runner.invoke(cli, ["sweep", str(tiny), "--set", "devices.9.alpha=0:1:2", "--methods", "all-local",
                              "--out", str(tmp_path / "p"), "-q"])
    assert res.exit_code != 0 and "devices.9" in str(res.exception)
