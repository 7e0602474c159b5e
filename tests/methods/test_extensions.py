"""Extension points for real: a method registered from outside the package runs in
``mecopt.solve``, ``compare`` (API and CLI), ``mecopt solve`` and ``mecopt sweep`` (spawned
workers) and is re-scored and checked; a ``mecopt.methods`` entry point of another
distribution appears in a fresh process; a registered engine drives the game."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import custom_methods
import numpy as np
import pandas as pd
import pytest
from helpers import run

import mecopt
from mecopt.core import cost as costmod

PAPER = "paper:fig6-w1khz"


@pytest.fixture(scope="module")
def inst():
    return mecopt.load_instance(PAPER)


@pytest.fixture(autouse=True)
def registered(registries):
    mecopt.register_method("test-local", custom_methods.local_profile, replace=True)
    mecopt.register_method("test-crowd", custom_methods.crowd_slot, replace=True)
    yield


def test_registered_method_in_solve_is_rescored_and_checked(inst):
    sol = mecopt.solve(inst, "test-local")
    assert isinstance(sol, mecopt.Solution) and sol.method == "test-local"
    assert sol.feasible and str(sol.termination) == "feasible"
    ev = costmod.evaluate(inst, sol.profile)
    builtin = mecopt.solve(inst, "all-local").summary()
    assert sol.summary()["avg_cost"] == ev.avg_cost == builtin["avg_cost"]
    assert sol.summary()["avg_delay_s"] == builtin["avg_delay_s"]


def test_infeasible_registered_method_is_reported_with_violations(inst):
    sol = mecopt.solve(inst, "test-crowd", slot=2)
    assert not sol.feasible and str(sol.termination) == "infeasible"
    assert str(sol.solution_status) == "infeasible"
    assert {v.equation for v in sol.violations} >= {"(17)"}
    assert all(v.slot == 2 for v in sol.violations if v.equation == "(17)")
    assert "(17)" in sol.status
    with pytest.raises(mecopt.InputError, match="'slott'.*Valid options: slot"):
        mecopt.solve(inst, "test-crowd", slott=2)


def test_registered_methods_in_compare(inst):
    table, sols = mecopt.compare(inst, methods=["all-local", "test-local", "test-crowd"])
    rows = table.set_index("method")
    assert rows.loc["test-local", "avg_cost"] == rows.loc["all-local", "avg_cost"]
    assert not rows.loc["test-crowd", "feasible"] and "(17)" in rows.loc["test-crowd", "violated"]
    assert set(sols) == {"all-local", "test-local", "test-crowd"}


def test_registered_methods_in_the_cli(capsys, tmp_path):
    code, out, err = run(capsys, "solve", PAPER, "--method", "test-local", "--out", tmp_path / "local")
    assert code == 0, err
    assert mecopt.read_solution(tmp_path / "local").method == "test-local"
    code, out, err = run(capsys, "solve", PAPER, "--method", "test-crowd", "--option", "slot=3")
    assert code == 3 and "violations" in out and "(17)" in out
    code, out, err = run(capsys, "solve", PAPER, "--method", "test-crowd", "--option", "slott=3")
    assert code == 2 and "'slott'" in err and "slot" in err
    code, out, err = run(capsys, "compare", PAPER, "--methods", "all-local,test-local,test-crowd",
                         "--out", tmp_path / "cmp")
    assert code == 0, err
    table = pd.read_csv(tmp_path / "cmp" / "comparison.csv").set_index("method")
    assert table.loc["test-local", "avg_delay_s"] == table.loc["all-local", "avg_delay_s"]
    assert not table.loc["test-crowd", "feasible"]


def test_registered_methods_in_sweep_workers(capsys, tmp_path):
    """``mecopt sweep`` runs methods in spawned processes that import them by module name."""
    out = tmp_path / "sweep"
    code, _, err = run(capsys, "sweep", PAPER, "--values", "server.slots=4,5", "--methods",
                       "test-local,test-crowd", "--option", "test-crowd:slot=1", "--workers", "1", "--out", out, "-q")
    assert code == 0, err
    table = pd.read_csv(out / "results.csv")
    assert len(table) == 4 and "error" not in set(table["termination"])
    local = table[table["method"] == "test-local"]
    assert np.allclose(local["avg_delay_s"], mecopt.solve(mecopt.load_instance(PAPER), "all-local")
                       .summary()["avg_delay_s"])
    crowd = table[table["method"] == "test-crowd"]
    assert (crowd["termination"] == "infeasible").all() and (crowd["violations"] > 0).all()


def test_sweep_refuses_a_method_workers_cannot_import(capsys, tmp_path):
    mecopt.register_method("test-closure", lambda instance: custom_methods.local_profile(instance), replace=True)
    code, _, err = run(capsys, "sweep", PAPER, "--methods", "test-closure", "--out", tmp_path / "s", "-q")
    assert code == 2 and "worker processes" in err
    assert not (tmp_path / "s").exists()
    assert mecopt.solve(mecopt.load_instance(PAPER), "test-closure").feasible   # fine in-process


def test_entry_point_method_of_another_distribution(tmp_path):
    """A tiny distribution on disk (a ``*.dist-info`` with ``entry_points.txt`` and its module)
    declares method ``ep-local``; a fresh process with it on the path sees and runs it."""
    site = tmp_path / "site"
    (site / "mecopt_ep_demo-0.1.dist-info").mkdir(parents=True)
    (site / "mecopt_ep_demo-0.1.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: mecopt-ep-demo\nVersion: 0.1\n")
    (site / "mecopt_ep_demo-0.1.dist-info" / "entry_points.txt").write_text(
        "[mecopt.methods]\nep-local = mecopt_ep_demo:solve\n")
    (site / "mecopt_ep_demo.py").write_text(textwrap.dedent("""
        def solve(instance, *, offloading=0):
            # the first `offloading` devices run their last layer in slot 1, the rest all local
            return [[0] * (d.M - 1) + [1 if n < offloading else 0] for n, d in enumerate(instance.devices)]
        """))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]))
    names = subprocess.run([sys.executable, "-c", "import mecopt; print(mecopt.method_names())"], env=env,
                           cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert names.returncode == 0, names.stderr
    assert "'ep-local'" in names.stdout
    res = subprocess.run([sys.executable, "-m", "mecopt", "solve", PAPER, "--method", "ep-local",
                          "--option", "offloading=2", "--out", str(tmp_path / "sol")], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    sol = mecopt.read_solution(tmp_path / "sol")
    assert sol.method == "ep-local" and [int(s[-1]) for s in sol.profile] == [1, 1, 0, 0, 0]
    assert all(int(s[:-1].max()) == 0 for s in sol.profile)
    assert sol.feasible
    assert "ep-local" not in mecopt.method_names()     # not on this process's path


def test_registered_engine_reaches_the_dp_equilibrium(capsys, tmp_path):
    """The enumeration oracle registered as engine ``enum`` drives TPOS-CAI to the same
    equilibrium (profile, ticks, best-response count) as the DP engine."""
    mecopt.register_engine("enum", custom_methods.EnumerationEngine, replace=True)
    doc = {"name": "lenet4", "model": {"deadline_policy": "relax"},
           "server": {"slots": 3, "frame_s": 0.005, "parallel_limit": 2},
           "devices": [{"dnn": "lenet", "count": 4, "bandwidth_hz": 2e3}]}
    inst = mecopt.Instance.from_dict(doc)
    for seed in (0, 1):
        dp = mecopt.solve(inst, "tpos-cai", engine="dp", seed=seed)
        en = mecopt.solve(inst, "tpos-cai", engine="enum", seed=seed)
        assert str(en.termination) == "equilibrium" and en.engine == "enum" and en.feasible
        assert all(np.array_equal(a, b) for a, b in zip(dp.profile, en.profile))
        assert (dp.iterations, dp.solver_calls) == (en.iterations, en.solver_calls)
        assert any(s.max() > 0 for s in en.profile)          # not the trivial all-local profile
    with pytest.raises(mecopt.InputError,
                       match="'engine' option of method 'tpos-cai' must be one of 'dp', 'milp'.*'enum'.*Got 'enumm'"):
        mecopt.solve(inst, "tpos-cai", engine="enumm")
    import tomli_w
    path = tmp_path / "lenet4.toml"
    path.write_text(tomli_w.dumps(doc))
    code, out, err = run(capsys, "solve", path, "--method", "tpos-cai", "--engine", "enum")
    assert code == 0 and "termination equilibrium" in out, err
    code, out, err = run(capsys, "compare", path, "--methods", "tpos-cai,all-local", "--engine", "enum")
    assert code == 0, err
