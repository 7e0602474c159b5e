"""The examples run: examples/quickstart.py (a jupytext percent-format notebook script)
executed top to bottom in a temporary current folder."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

import mecopt

#: runs a MILP solver (HiGHS or CP-SAT), directly or through a command: integration, not unit
pytestmark = pytest.mark.solver

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_quickstart_runs(tmp_path, monkeypatch, capsys, registries):
    monkeypatch.chdir(tmp_path)
    ns = runpy.run_path(str(EXAMPLES / "quickstart.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert (tmp_path / "schedule.png").stat().st_size > 0
    assert str(ns["game"].termination) == "equilibrium" and str(ns["opt"].termination) == "optimal"
    assert ns["game"].evaluation.avg_delay >= ns["opt"].evaluation.avg_delay - 1e-9
    rows = ns["table"].set_index("method")
    assert rows.loc["greedy", "feasible"] and rows.loc["greedy", "avg_delay_s"] >= rows.loc["gtpos", "avg_delay_s"]
    assert "stagger=False: infeasible" in out and "'(27)'" in out
    assert "greedy" in mecopt.method_names()


def test_quickstart_in_a_notebook_shows_its_figure(tmp_path, monkeypatch, registries):
    """Run as a notebook (a Jupyter kernel is loaded), the quick start displays the schedule under
    its cell and still saves it; run as a script (above), it displays nothing."""
    import sys
    import types

    shown = []

    class Image:
        def __init__(self, filename):
            self.filename = filename

    display_mod = types.ModuleType("IPython.display")
    display_mod.Image = Image
    display_mod.display = shown.append
    ipython = types.ModuleType("IPython")
    ipython.display = display_mod
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    monkeypatch.setitem(sys.modules, "IPython.display", display_mod)
    monkeypatch.chdir(tmp_path)
    ns = runpy.run_path(str(EXAMPLES / "quickstart.py"), run_name="__main__")
    assert ns["IN_NOTEBOOK"]
    assert [type(x).__name__ for x in shown] == ["Image"] and shown[0].filename == "schedule.png"
    assert (tmp_path / "schedule.png").stat().st_size > 0
