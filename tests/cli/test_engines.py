"""One default best-response engine (dp) for every command, and the HiGHS engine (milp) on every path."""

from __future__ import annotations

import pandas as pd
import pytest
from helpers import run

#: runs a MILP solver (HiGHS or CP-SAT), directly or through a command: integration, not unit
pytestmark = pytest.mark.solver

SMALL = "paper:fig5-n5"


def test_solve_defaults_to_dp_and_milp_gives_the_same_equilibrium(tmp_path, capsys):
    for engine in ("default", "dp", "milp"):
        extra = () if engine == "default" else ("--engine", engine)
        code, _, _ = run(capsys, "solve", SMALL, "-m", "tpos-cai", "--seed", "1", *extra, "--out", tmp_path / engine)
        assert code == 0
    summaries = {e: pd.read_json(tmp_path / e / "summary.json", typ="series") for e in ("default", "dp", "milp")}
    assert summaries["default"]["engine"] == "dp" and summaries["milp"]["engine"] == "milp"
    tables = {e: pd.read_csv(tmp_path / e / "assignment.csv") for e in ("default", "dp", "milp")}
    pd.testing.assert_frame_equal(tables["default"], tables["dp"])
    pd.testing.assert_frame_equal(tables["dp"], tables["milp"])      # both engines are exact


def test_milp_engine_on_compare_equilibria_simulate_and_sweep(tmp_path, capsys):
    code, out, _ = run(capsys, "compare", SMALL, "--methods", "tpos-cai,tpos-uai,isolated", "--engine", "milp",
                       "--out", tmp_path / "cmp")
    assert code == 0
    for m in ("tpos-cai", "tpos-uai", "isolated"):
        assert pd.read_json(tmp_path / "cmp" / m / "summary.json", typ="series")["engine"] == "milp"
    code, out, _ = run(capsys, "equilibria", SMALL, "--starts", "2", "--engine", "milp", "--no-gtpos")
    assert code == 0 and "2 certified" in out
    code, _, _ = run(capsys, "simulate", SMALL, "--frames", "2", "--engine", "milp", "--out", tmp_path / "sim")
    assert code == 0
    code, _, _ = run(capsys, "sweep", SMALL, "--values", "server.slots=4,5", "--methods", "tpos-cai",
                     "--option", "engine=milp", "--out", tmp_path / "sw")
    assert code == 0
    table = pd.read_csv(tmp_path / "sw" / "results.csv")
    assert (table["engine"] == "milp").all() and len(table) == 2

