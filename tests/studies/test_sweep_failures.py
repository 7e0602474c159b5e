"""Sweeps fail loudly (issue 23 A3, item 4): bad grid points and options refused before any run,
failed runs listed in ``failures.<fmt>`` and on stderr, exit 5."""

from __future__ import annotations

import textwrap
from concurrent.futures import ThreadPoolExecutor

import pytest
from click.testing import CliRunner

from mecopt.cli import cli, main
from mecopt.core.tables import read_table
from mecopt.methods import registry as solvers
from mecopt.studies import sweep as sw

MULTI = "examples:multiserver-n50-k4"


def _main(args, capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(args)
    out, err = capsys.readouterr()
    return exc.value.code or 0, out, err


@pytest.mark.parametrize("axis, field", [
    ("server.slots=3,4", "server, servers"),                # [server] added to a [[servers]] file
    ("servers.1.name=s1", "servers.name"),                   # duplicate server names
])
def test_grid_point_making_an_invalid_instance_exits_2_naming_point_and_field(axis, field, tmp_path, capsys):
    out = tmp_path / "o"
    code, _, err = _main(["sweep", MULTI, "--values", axis, "--methods", "all-local", "--out", str(out), "-q"],
                         capsys)
    assert code == 2, err
    assert field in err and axis.split("=")[0] in err and "Traceback" not in err
    assert not out.exists()                                  # nothing run, nothing written


def test_duplicate_server_name_reports_each_field_once(tmp_path, capsys):
    """The 50 devices that name the renamed server are one line with a count, not 50."""
    _, _, err = _main(["sweep", MULTI, "--values", "servers.1.name=s1", "--methods", "all-local",
                       "--out", str(tmp_path / "o"), "-q"], capsys)
    assert err.count("devices.") < 10 and "devices.*.servers" in err and "50 entries" in err


@pytest.mark.parametrize("option, needle", [
    ("gtpos:solver=nosuch", "'solver' option of method 'gtpos'"),
    ("gtpos:time_limit=nan", "'time_limit' option of method 'gtpos'"),
    ("gtpos:time_limit=-5", "'time_limit' option of method 'gtpos'"),
])
def test_bad_option_value_exits_2_before_any_run(option, needle, tmp_path, capsys):
    out = tmp_path / "o"
    code, _, err = _main(["sweep", "paper:fig5-n5", "--methods", "gtpos", "--option", option,
                          "--out", str(out), "-q"], capsys)
    assert code == 2 and needle in err
    assert not out.exists()


FAILING = textwrap.dedent('''
    from mecopt.core.errors import SolverError
    from mecopt.methods.baselines import solve_all_local

    def solve(instance, *, seed=0):
        if seed == 1:
            raise SolverError(f"deliberate failure at seed {seed}")
        return solve_all_local(instance)
''')


@pytest.fixture
def failing_method(tmp_path, monkeypatch, registries):
    (tmp_path / "failsolver.py").write_text(FAILING)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(solvers.METHODS, "flaky", "failsolver:solve")
    return "flaky"


def test_failed_runs_are_listed_in_failures_table(failing_method, write_toml, instance_dict, tmp_path):
    inst = write_toml(instance_dict(n_devices=2))
    spec = sw.SweepSpec((str(inst),), (sw.Axis("server.slots", (2, 3)),), (failing_method,), seeds=(0, 1))
    res = sw.run_sweep(spec, tmp_path / "o", executor=ThreadPoolExecutor(2))
    assert res.failed == 2 and res.failures_path == tmp_path / "o" / "failures.csv"
    failures = read_table(res.failures_path)
    assert list(failures.columns) == ["key", "point", "instance", "server.slots", "method", "seed", "error"]
    assert list(failures["server.slots"]) == [2, 3] and set(failures["seed"]) == {1}
    assert failures["error"].str.contains("deliberate failure at seed 1").all()
    assert list(res.table["termination"]).count("error") == 2      # the others finished


def test_sweep_without_failures_writes_an_empty_failures_table(write_toml, instance_dict, tmp_path):
    inst = write_toml(instance_dict(n_devices=2))
    res = sw.run_sweep(sw.SweepSpec((str(inst),), (), ("all-local",)), tmp_path / "o",
                       executor=ThreadPoolExecutor(1))
    assert res.failed == 0 and len(read_table(res.failures_path)) == 0


def test_cli_sweep_with_failed_runs_exits_5_and_lists_them(failing_method, write_toml, instance_dict, tmp_path):
    inst = write_toml(instance_dict(n_devices=2))
    res = CliRunner().invoke(cli, ["sweep", str(inst), "--values", "server.slots=2,3", "--methods", failing_method,
                                   "--seeds", "2", "--workers", "1", "--out", str(tmp_path / "o"), "-q"])
    assert isinstance(res.exception, sw.RunsFailedError) and res.exception.exit_code == sw.RUNS_FAILED_EXIT == 5
    message = str(res.exception)
    assert "2 of 4 run(s) failed" in message and "server.slots=2" in message and "server.slots=3" in message
    assert "deliberate failure" in message and "failures.csv" in message
    assert (tmp_path / "o" / "results.csv").exists()        # everything else written


def test_exit_5_is_documented_next_to_the_other_codes():
    from pathlib import Path
    text = (Path(__file__).resolve().parents[2] / "docs" / "reliability.md").read_text()
    table = text.split("## Exit codes", 1)[1].split("##", 1)[0]
    assert "| 5 |" in table and "failures" in table


def test_study_with_failed_runs_exits_5_after_writing_table_and_figures(failing_method, tmp_path, capsys):
    study = tmp_path / "s.toml"
    study.write_text(textwrap.dedent(f"""
        instances = ["paper:fig5-n5"]
        methods = ["{failing_method}", "all-local"]
        method_seeds = 2
        [[figures]]
        x = "seed"
        y = "avg_cost"
        """))
    code, out, err = _main(["study", str(study), "--out", str(tmp_path / "o"), "--workers", "1", "-q"], capsys)
    assert code == 5, err
    assert "1 of 3 run(s) failed" in err and "method=flaky|seed=1" in err and "deliberate failure" in err
    assert len(read_table(tmp_path / "o" / "failures.csv")) == 1
    assert (tmp_path / "o" / "figures" / "avg_cost_vs_seed.png").exists()
