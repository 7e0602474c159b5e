"""``mecopt solve`` and ``mecopt compare``: output, written files, exit codes."""

from __future__ import annotations

import importlib.util
import json

import pytest

from mecopt.cli import main
from mecopt.cli.commands.solve import method_options as solve_method_options
from mecopt.core import checker as check
from mecopt.core.instance import load_instance
from mecopt.core.solution import Solution, Termination
from mecopt.core.tables import read_table
from mecopt.methods import registry as solvers
from mecopt.methods.registry import accepted_options

#: runs a MILP solver (HiGHS or CP-SAT), directly or through a command: integration, not unit
pytestmark = pytest.mark.solver

FIG6 = "instances/paper/fig6-w1khz.toml"
FIG10 = "instances/paper/fig10-mixed.toml"
HAVE_GTPOS = importlib.util.find_spec("mecopt.methods.gtpos") is not None
HAVE_MILP_BR = importlib.util.find_spec("mecopt.bestresponse.milp") is not None


def run(argv) -> int:
    """Exit code of the console entry point."""
    try:
        main(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    return 0


def assert_assignment_checks(instance_path, folder, expect_equations=()):
    inst = load_instance(instance_path)
    table = read_table(folder / "assignment.csv")
    viol = check.check_y(inst, check.assignment_to_y(inst, table))
    assert {v.equation for v in viol} == set(expect_equations)
    written = read_table(folder / "violations.csv")
    assert len(written) == len(viol)


def test_solve_all_local_prints_devices_and_summary(capsys, tmp_path):
    out = tmp_path / "local"
    assert run(["solve", FIG6, "--method", "all-local", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    for col in ("device", "dnn", "partition_point", "last_slot", "delay_s", "energy_j", "price", "cost",
                "deadline_met"):
        assert col in text
    assert "termination feasible" in text and "wall" in text
    assert {p.name for p in out.iterdir()} == {"assignment.csv", "devices.csv", "violations.csv", "summary.json",
                                            "instance.json", "MANIFEST.json"}
    assert_assignment_checks(FIG6, out)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["method"] == "all-local" and summary["termination"] == "feasible"
    capsys.readouterr()
    assert run(["check", FIG6, str(out / "assignment.csv")]) == 0          # `mecopt check` accepts it


def test_solve_all_offload_writes_trace_and_draw_means(capsys, tmp_path):
    out = tmp_path / "off"
    assert run(["solve", FIG6, "-m", "all-offload", "--draws", "4", "--seed", "1", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "over 4 draws (seed 1)" in text and "queued" in text
    assert len(read_table(out / "trace.csv")) == 4
    summary = json.loads((out / "summary.json").read_text())
    assert summary["info"]["draws"] == 4 and "avg_delay_s_mean" in summary["info"]
    assert_assignment_checks(FIG6, out)   # queued MDs (slot H+1) are legal
    assert run(["check", FIG6, str(out / "assignment.csv")]) == 0


def test_solve_deadline_misses_still_exit_0(capsys, tmp_path):
    # Fig. 10 has VGG MDs that cannot meet tau: all-local misses are flagged, not errors
    assert run(["solve", FIG10, "-m", "all-local", "--out", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "deadline_miss" in text and "False" in text


def test_solve_isolated_with_contention_exits_3_and_writes_violations(capsys, tmp_path):
    assert run(["solve", FIG6, "-m", "isolated", "--engine", "dp", "--out", str(tmp_path)]) == 3
    captured = capsys.readouterr()
    assert "infeasible" in captured.err and "(27)" in captured.err
    assert_assignment_checks(FIG6, tmp_path, expect_equations={"(27)"})
    assert run(["check", FIG6, str(tmp_path / "assignment.csv")]) == 3     # `mecopt check` agrees


def test_solve_game_prints_certificate(capsys, tmp_path):
    assert run(["solve", FIG6, "-m", "tpos-cai", "--engine", "dp", "--seed", "2", "--wake-prob", "0.7",
                "--stop", "certified", "--max-iter", "500", "--format", "json", "--out", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "termination equilibrium" in text and "max unilateral gain" in text
    assert (tmp_path / "assignment.json").exists() and (tmp_path / "trace.json").exists()
    inst = load_instance(FIG6)
    table = read_table(tmp_path / "assignment.json")
    assert check.check_y(inst, check.assignment_to_y(inst, table)) == []


def test_solve_refuses_options_that_do_not_apply(capsys):
    """Strict options: the CLI refuses what the method does not accept, as the Python API does."""
    assert run(["solve", FIG6, "-m", "all-local", "--draws", "3", "--objective", "social"]) == 2
    err = capsys.readouterr().err
    assert "'objective', 'draws' options are not accepted by method 'all-local'" in err


def test_solve_misspelled_option_exits_2_naming_the_valid_ones(capsys):
    assert run(["solve", FIG6, "-m", "tpos-cai", "--option", "engin=dp"]) == 2
    err = capsys.readouterr().err
    assert "'engin'" in err and "engine" in err and "Traceback" not in err


@pytest.mark.parametrize("argv", [
    ["solve", "no/such/file.toml", "-m", "all-local"],
    ["solve", FIG6, "-m", "simplex"],
    ["solve", FIG6],
    ["solve", FIG6, "-m", "all-offload", "--draws", "0"],
    ["solve", FIG6, "-m", "all-local", "--format", "ods"],
])
def test_solve_bad_input_exits_2(argv, capsys):
    assert run(argv) == 2


def patch_gtpos(monkeypatch, gtpos):
    real_get = solvers.get
    monkeypatch.setattr(solvers, "get", lambda method: gtpos if method == "gtpos" else real_get(method))


def test_solve_solver_failure_exits_4(monkeypatch, capsys, tmp_path):
    def broken(instance, *, objective="delay", time_limit=None):
        return Solution(method="gtpos", instance=instance, profile=[], termination=Termination.ERROR,
                        status="HiGHS returned an error")
    patch_gtpos(monkeypatch, broken)
    assert run(["solve", FIG6, "-m", "gtpos", "--out", str(tmp_path / "x")]) == 4
    assert "HiGHS returned an error" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_solve_infeasible_termination_exits_3(monkeypatch, capsys):
    def infeasible(instance, *, objective="delay", time_limit=None):
        return Solution(method="gtpos", instance=instance, profile=[], termination=Termination.INFEASIBLE,
                        status="model infeasible")
    patch_gtpos(monkeypatch, infeasible)
    assert run(["solve", FIG6, "-m", "gtpos", "--objective", "social", "--time-limit", "5"]) == 3


def test_solve_passes_only_applicable_options(monkeypatch, capsys):
    seen = {}

    def spy_gtpos(instance, *, objective="delay", time_limit=None, mip_rel_gap=1e-9, threads=None):
        seen["gtpos"] = dict(objective=objective, time_limit=time_limit)
        return solvers.solve(instance, "all-local")
    patch_gtpos(monkeypatch, spy_gtpos)
    assert run(["solve", FIG6, "-m", "gtpos", "--objective", "social", "--time-limit", "5"]) == 0
    assert seen["gtpos"] == {"objective": "social", "time_limit": 5.0}
    assert run(["solve", FIG6, "-m", "gtpos", "--seed", "3"]) == 2
    assert "'seed' option is not accepted by method 'gtpos'" in capsys.readouterr().err
    # unset flags (None) are not passed; --option adds any other option of the method
    opts = solve_method_options("tpos-uai", dict(engine="dp", eps=0.01, stop="paper", draws=None),
                                ("tol=1e-8",))
    assert opts == {"engine": "dp", "eps": 0.01, "stop": "paper", "tol": 1e-8}
    assert {"engine", "seed", "wake_prob", "eps", "stop", "max_iter"} <= set(accepted_options("tpos-cai"))


# --------------------------------------------------------------------------- compare

def test_compare_cli_writes_table_and_method_folders(capsys, tmp_path):
    methods = "tpos-cai,all-local,all-offload,isolated"
    assert run(["compare", FIG6, "--methods", methods, "--engine", "dp", "--draws", "3", "--out", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "avg_delay_s" in text and "tpos-cai: ratio not available" in text
    table = read_table(tmp_path / "comparison.csv")
    assert list(table["method"]) == methods.split(",")
    for m in methods.split(","):
        assert (tmp_path / m / "assignment.csv").exists() and (tmp_path / m / "summary.json").exists()
    assert_assignment_checks(FIG6, tmp_path / "all-offload")
    assert_assignment_checks(FIG6, tmp_path / "isolated", expect_equations={"(27)"})


def test_compare_cli_markdown_and_bad_methods(capsys, tmp_path):
    assert run(["compare", FIG6, "--methods", "all-local", "--format", "markdown", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "comparison.md").exists() and (tmp_path / "all-local" / "assignment.md").exists()
    assert run(["compare", FIG6, "--methods", "all-local,bogus"]) == 2


@pytest.mark.skipif(not (HAVE_GTPOS and HAVE_MILP_BR), reason="GTPOS / MILP engine not available yet")
def test_compare_cli_fig6_full(capsys, tmp_path):
    assert run(["compare", FIG6, "--engine", "dp", "--out", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "avg delay / GTPOS optimum" in text
    table = read_table(tmp_path / "comparison.csv").set_index("method")
    assert table.loc["gtpos", "termination"] == "optimal"
    for m in ("tpos-cai", "gtpos", "all-local"):
        assert_assignment_checks(FIG6, tmp_path / m)
