"""Bundled instances by name (``paper:NAME``) in every command that reads an instance,
run from a folder outside the repository; outputs go where the user points.
(``mecopt sweep paper:...`` is exercised by tests/methods/test_extensions.py.)"""

from __future__ import annotations

import json

import pytest
from helpers import run

import mecopt
from mecopt.core import resources

PAPER = "paper:fig6-w1khz"


def _bundled_files():
    return sorted(p for root in (resources.models_dir(), resources.instances_dir()) for p in root.rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts)


@pytest.fixture
def elsewhere(tmp_path, monkeypatch):
    """A current folder outside the repository; the bundled data must not change."""
    before = {p: p.stat().st_mtime_ns for p in _bundled_files()}
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    assert {p: p.stat().st_mtime_ns for p in _bundled_files()} == before, "a command wrote into the bundled data"


def test_bundled_names_are_listed_and_load():
    names = mecopt.bundled_instances()
    assert len(names) >= 15 and PAPER in names
    inst = mecopt.load_instance(PAPER)
    assert inst.name == "fig6-w1khz" and inst.path == PAPER


def test_inspect_solve_check_compare_plot_take_bundled_names(capsys, elsewhere):
    code, out, err = run(capsys, "inspect", PAPER)
    assert code == 0 and "Instance fig6-w1khz: 5 MDs" in out, err
    code, out, err = run(capsys, "inspect", PAPER, "--json")
    assert code == 0 and json.loads(out)["name"] == "fig6-w1khz"

    code, out, err = run(capsys, "solve", PAPER, "--method", "tpos-cai", "--engine", "dp", "--out", "sol")
    assert code == 0 and "termination equilibrium" in out, err
    man = json.loads((elsewhere / "sol" / "MANIFEST.json").read_text())
    assert man["complete"] and man["instance_path"] == PAPER
    back = mecopt.read_solution(elsewhere / "sol")        # rebuilt from the bundled name
    assert back.instance.name == "fig6-w1khz" and back.feasible

    code, out, err = run(capsys, "check", PAPER, "sol/assignment.csv")
    assert code == 0 and "feasible" in out, err

    code, out, err = run(capsys, "compare", PAPER, "--methods", "all-local,tpos-cai", "--engine", "dp",
                         "--out", "cmp")
    assert code == 0 and "tpos-cai" in out, err
    assert (elsewhere / "cmp" / "comparison.csv").is_file()

    code, out, err = run(capsys, "plot", "schedule", "sol")
    assert code == 0 and (elsewhere / "sol" / "schedule.png").is_file(), err
    from mecopt.core.solution import read_result_folder
    from mecopt.results import plots
    data = plots.schedule_data(read_result_folder(elsewhere / "sol").solution)   # read back with its instance
    assert data.H == 5 and data.frame_s == 0.75 and set(data.t_server) == {f"md{i}" for i in range(1, 6)}


@pytest.mark.parametrize("command", [["inspect"], ["solve", "--method", "all-local"], ["compare"],
                                     ["check", "-", "sol.csv"]])
def test_an_unknown_bundled_name_is_an_input_error(capsys, elsewhere, command):
    (elsewhere / "sol.csv").write_text("device,layer,slot\n")
    args = [a if a != "-" else "paper:fig99" for a in command]
    if "paper:fig99" not in args:
        args.insert(1, "paper:fig99")
    code, out, err = run(capsys, *args)
    assert code == 2 and "unknown bundled instance 'paper:fig99'" in err and PAPER in err
