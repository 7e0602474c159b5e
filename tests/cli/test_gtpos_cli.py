"""GTPOS on the command line: --solver on every path, export-model round trips, bench verify."""

from __future__ import annotations

import json

import highspy
import numpy as np
import pandas as pd
import pytest
from helpers import run

from mecopt.bestresponse.dp import DPEngine
from mecopt.core import checker as check
from mecopt.core.instance import load_instance
from mecopt.core.problem import Aggregates
from mecopt.methods.gtpos import solve_gtpos
from mecopt.milp.export import profile_from_values

#: runs a MILP solver (HiGHS or CP-SAT), directly or through a command: integration, not unit
pytestmark = pytest.mark.solver


@pytest.mark.parametrize("solver", ["highs", "cpsat"])
def test_solve_and_compare_take_the_solver(capsys, solver):
    code, out, _ = run(capsys, "solve", "paper:fig6-w1khz", "-m", "gtpos", "--solver", solver)
    assert code == 0 and "termination optimal" in out
    code, out, _ = run(capsys, "compare", "paper:fig6-w1khz", "--methods", "gtpos,all-local", "--solver", solver)
    assert code == 0 and "gtpos" in out and "optimal" in out


def test_missing_solver_exits_2_listing_what_was_found(capsys):
    code, _, err = run(capsys, "solve", "paper:fig6-w1khz", "-m", "gtpos", "--solver", "nosuch")
    assert code == 2 and "highs, cpsat" in err and "nosuch" in err
    code, _, err = run(capsys, "compare", "paper:fig6-w1khz", "--methods", "gtpos", "--solver", "nosuch")
    assert code == 2 and "highs, cpsat" in err
    code, _, err = run(capsys, "reproduce", "--fig", "6", "--out", "unused-dir-never-written", "--solver", "nosuch")
    assert code == 2 and "highs, cpsat" in err
    code, _, err = run(capsys, "bench", "verify", "--names", "alexnet-total-n5", "--solver", "nosuch")
    assert code == 2 and "highs, cpsat" in err


def test_sweep_passes_the_solver_option(capsys, tmp_path):
    out = tmp_path / "sw"
    code, _, err = run(capsys, "sweep", "paper:fig6-w1khz", "--methods", "gtpos", "--option", "gtpos:solver=highs",
                       "--values", "server.parallel_limit=2,4", "--out", out, "--workers", "1", "-q")
    assert code == 0, err
    table = pd.read_csv(out / "results.csv")
    assert len(table) == 2 and set(table["engine"]) == {"highs"} and set(table["termination"]) == {"optimal"}


def _highs_solve(path):
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("mip_rel_gap", 1e-9)
    assert h.readModel(str(path)) == highspy.HighsStatus.kOk
    h.run()
    assert h.modelStatusToString(h.getModelStatus()) == "Optimal"
    return h


@pytest.mark.parametrize("fmt,name",
                         [("mps", "bench:mixed-per_device-n50"), ("lp", "bench:alexnet-total-n5"),
                          ("mps", "paper:fig10-mixed")])
def test_export_model_round_trips_through_highspy(capsys, tmp_path, fmt, name):
    path = tmp_path / f"model.{fmt}"
    code, out, err = run(capsys, "export-model", name, "--problem", "gtpos", "--format", fmt, "--out", path)
    assert code == 0, err
    inst = load_instance(name)
    h = _highs_solve(path)
    expected = solve_gtpos(inst, mip_rel_gap=1e-9)
    assert h.getInfo().objective_function_value == pytest.approx(expected.objective, rel=1e-8)
    values = dict(zip(h.getLp().col_names_, h.getSolution().col_value))
    sidecar = json.loads((tmp_path / f"model.{fmt}.json").read_text())
    assert sidecar["y"] and all({"devices", "layer", "slot"} <= set(v) for v in sidecar["y"].values())
    profile = profile_from_values(inst, sidecar, values)
    assert check.check_profile(inst, profile) == []
    from mecopt.core import cost as costmod
    assert costmod.evaluate(inst, profile).avg_delay == pytest.approx(expected.objective, rel=1e-8)


def test_export_best_response_matches_the_dp(capsys, tmp_path):
    path = tmp_path / "br.mps"
    code, _, err = run(capsys, "export-model", "paper:fig10-mixed", "--problem", "best-response", "--device", "2",
                       "--out", path)
    assert code == 0, err
    sidecar = json.loads((tmp_path / "br.mps.json").read_text())
    inst = load_instance("paper:fig10-mixed")
    h = _highs_solve(path)
    br = DPEngine(inst).best_response(2, Aggregates.empty(inst.server.H))
    assert h.getInfo().objective_function_value / sidecar["objective_scale"] == pytest.approx(br.objective, rel=1e-9)
    code, _, err = run(capsys, "export-model", "paper:fig10-mixed", "--problem", "best-response", "--out", path)
    assert code == 2 and "device" in err


@pytest.mark.parametrize("solver", ["highs", "cpsat"])
def test_bench_verify_fast_subset(capsys, solver):
    code, out, err = run(capsys, "bench", "verify", "--names", "alexnet-total-n5,mixed-per_device-n50",
                         "--solver", solver)
    assert code == 0, err
    assert "2 ok" in out and "0 FAIL" in out


def test_bench_table_covers_the_library():
    from mecopt.studies import bench
    table = bench.read_table()
    assert sorted(table["name"]) == bench.names()
    assert set(table["capacity_mode"]) == {"total", "per_device"}
    assert table["N"].min() <= 5 and table["N"].max() >= 1000
    assert (table["bound"] <= table["value"] * (1 + 1e-9)).all()
    assert np.all(table.loc[table["status"] == "optimal", "proven_by"].str.len() > 0)
