"""Every reproduction of issue 23 that belongs to the command line (A2, A4, A5, T2, F1, U1) as a regression test.

Each command runs in-process (:func:`fuzz_cases.run_cli`): no traceback, the exit code, and the option or file named.
"""

from __future__ import annotations

import errno
import math

import pandas as pd
import pytest
from fuzz_cases import run_cli

from mecopt.core.errors import InputError
from mecopt.studies import simulate as sim

INSTANCE = "paper:fig6-w1khz"


def _refused(res, name: str) -> None:
    assert res.traceback is None, res.describe()
    assert res.code == 2, res.describe()
    assert name in res.err, res.describe()


# ---------------------------------------------------------------- A2: simulate parameters

@pytest.mark.parametrize("args, flag", [
    (["--fading", "rician", "--rician-k", "inf"], "--rician-k"),
    (["--rician-k", "nan"], "--rician-k"),
    (["--speed", "inf"], "--speed"),
    (["--speed", "1e308"], "--speed"),
    (["--path-loss-exp", "inf"], "--path-loss-exp"),
    (["--path-loss-exp", "1e308"], "--path-loss-exp"),
    (["--ref-distance", "inf"], "--ref-distance"),
    (["--activity", "nan"], "--activity"),
    (["--frames", "10000000000"], "--frames"),
    (["--seeds", "100000000"], "--seeds"),
    (["--workers", "3000000000"], "--workers"),
])
def test_simulate_rejects_non_finite_and_huge_parameters(tmp_path, args, flag):
    res = run_cli("simulate", INSTANCE, "--frames", "1", *args, "--out", tmp_path / "out")
    _refused(res, flag)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("field, value", [("rician_k", math.inf), ("speed_mps", 1e308), ("path_loss_exp", math.inf),
                                          ("ref_distance_m", math.nan), ("activity", True), ("frames", 2.5)])
def test_simulation_spec_names_the_bad_field(field, value):
    kwargs = dict(frames=1, **{field: value}) if field != "frames" else dict(frames=value)
    with pytest.raises(InputError) as exc:
        sim.SimulationSpec(**kwargs)
    assert [p for p, _ in exc.value.problems] == [field]


def test_simulation_spec_checks_the_game_options_before_any_frame():
    with pytest.raises(InputError, match="'wake_prob'"):
        sim.SimulationSpec(frames=1, wake_prob=0.0)
    with pytest.raises(InputError, match="'engine'"):
        sim.SimulationSpec(frames=1, engine="nosuch")


def test_a_frame_gain_that_is_not_finite_never_reaches_a_game():
    import mecopt

    inst = mecopt.load_instance(INSTANCE)
    dev = inst.devices[0]
    for gain in (math.nan, math.inf, -1.0):
        with pytest.raises(InputError, match="channel gain"):
            sim.with_gain(dev, gain, inst)
    assert sim.with_gain(dev, 0.0, inst).rate_up == 0.0   # out of range: no rate, the device stays local


def test_the_largest_allowed_mobility_keeps_every_frame_finite(tmp_path):
    res = run_cli("simulate", INSTANCE, "--frames", "2", "--fading", "rician", "--rician-k", "1e6", "--speed", "1000",
                  "--path-loss-exp", "10", "--ref-distance", "1e6", "--no-plot", "--out", tmp_path / "o")
    assert res.code == 0, res.describe()
    frames = pd.read_csv(tmp_path / "o" / "frames.csv")
    assert frames["certified"].all()
    assert frames[["avg_delay_s", "avg_energy_j", "avg_cost"]].notna().all().all()


# ---------------------------------------------------------------- A4, T2: bench verify

@pytest.mark.parametrize("args, flag", [
    (["--solver", ""], "--solver"),
    (["--solver", "nosuch"], "--solver"),
    (["--names", ""], "--names"),
    (["--names", ",,"], "--names"),
    (["--names", "alexnet-total-n5,,"], "--names"),
    (["--time-limit", "nan"], "--time-limit"),
])
def test_bench_verify_refuses_empty_solver_and_names(args, flag):
    res = run_cli("bench", "verify", *args)
    _refused(res, flag)


# ---------------------------------------------------------------- A5: check, one server

def test_check_refuses_an_unknown_server_with_one_server(tmp_path):
    table = tmp_path / "a.csv"
    table.write_text("device,layer,slot,server\nmd1,1,1,nosuch\n")
    res = run_cli("check", INSTANCE, table)
    _refused(res, "row 1.server")
    assert "nosuch" in res.err


def test_check_reads_the_one_servers_name_as_no_column(tmp_path):
    solved = run_cli("solve", INSTANCE, "-m", "tpos-cai", "--engine", "dp", "--out", tmp_path / "sol")
    assert solved.code == 0, solved.describe()
    table = pd.read_csv(tmp_path / "sol" / "assignment.csv")
    assert "server" not in table
    import mecopt

    name = mecopt.load_instance(INSTANCE).servers[0].name
    table.assign(server=[name if s else "" for s in table["slot"]]).to_csv(tmp_path / "named.csv", index=False)
    plain, named = run_cli("check", INSTANCE, tmp_path / "sol" / "assignment.csv"), run_cli("check", INSTANCE,
                                                                                            tmp_path / "named.csv")
    assert plain.code == named.code == 0
    assert plain.out.replace("sol/assignment.csv", "X") == named.out.replace("named.csv", "X")


# ---------------------------------------------------------------- U1: --out first

@pytest.mark.parametrize("argv", [
    ["simulate", "no-such-instance.toml", "--frames", "1", "--out", "{file}/sub"],
    ["simulate", "no-such-instance.toml", "--frames", "1", "--out", "{file}"],
    ["equilibria", "no-such-instance.toml", "--out", "{file}/sub"],
    ["equilibria", "no-such-instance.toml", "--out", "{file}"],
    ["export-model", "no-such-instance.toml", "--out", "{file}/model.mps"],
    ["export-model", "no-such-instance.toml", "--out", "{folder}"],
])
def test_out_is_checked_before_any_work(tmp_path, argv):
    """The instance does not exist: a message about --out shows that it was checked first."""
    (tmp_path / "file").write_text("x")
    args = [a.format(file=tmp_path / "file", folder=tmp_path) for a in argv]
    res = run_cli(*args)
    _refused(res, "--out")
    assert "no-such-instance" not in res.err


# ---------------------------------------------------------------- F1: atomic writes, named errors

def _full_disk_writer(real):
    """A Pyomo ``write`` that writes part of the model, then fails as a full disk does."""
    def write(self, filename=None, *args, **kwargs):
        with open(filename, "w") as f:
            f.write("NAME partial\n" * 100)
        raise OSError(errno.ENOSPC, "No space left on device")
    return write


def test_export_model_on_a_full_disk_leaves_no_file_and_names_it(tmp_path, monkeypatch):
    from pyomo.core.base.block import BlockData

    monkeypatch.setattr(BlockData, "write", _full_disk_writer(BlockData.write))
    out = tmp_path / "model.mps"
    res = run_cli("export-model", INSTANCE, "--out", out)
    _refused(res, str(out))
    assert "No space left on device" in res.err
    assert list(tmp_path.iterdir()) == []   # neither the model, nor its sidecar, nor a temporary file


def test_export_model_writes_both_files(tmp_path):
    out = tmp_path / "model.lp"
    res = run_cli("export-model", INSTANCE, "--format", "lp", "--out", out)
    assert res.code == 0, res.describe()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.lp", "model.lp.json"]
    import json

    assert out.read_text().startswith("\\* Source Pyomo model") and out.read_text().endswith("end\n")
    assert json.loads((tmp_path / "model.lp.json").read_text())["y"]


def test_a_failed_table_write_keeps_the_earlier_file(tmp_path, monkeypatch):
    from mecopt.core.tables import write_table

    df = pd.DataFrame({"a": [1, 2]})
    path = write_table(df, tmp_path / "t")
    before = path.read_bytes()

    def broken(self, target, *args, **kwargs):
        with open(target, "w") as f:
            f.write("a\n")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_csv", broken)
    with pytest.raises(InputError, match=f"cannot write {path}: No space left on device"):
        write_table(pd.DataFrame({"a": [3]}), tmp_path / "t")
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["t.csv"]


def test_solve_out_on_a_full_disk_names_the_file(tmp_path, monkeypatch):
    import os

    from mecopt.core import files

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", full)   # a full disk may only show when the data is flushed
    res = run_cli("solve", INSTANCE, "-m", "all-local", "--out", tmp_path / "sol")
    _refused(res, str(tmp_path / "sol"))
    assert "No space left on device" in res.err
    left = [p.name for p in (tmp_path / "sol").iterdir()] if (tmp_path / "sol").exists() else []
    assert not [n for n in left if n.endswith(".tmp")]
    assert os.path.exists(tmp_path / "sol") is False or "assignment.csv" not in left


@pytest.mark.parametrize("argv", [["check", INSTANCE, "{table}", "--out", ""],
                                  ["solve", INSTANCE, "-m", "all-local", "--out", ""],
                                  ["simulate", INSTANCE, "--frames", "1", "--out", ""]])
def test_an_empty_out_is_refused(tmp_path, monkeypatch, argv):
    """Found by the command-line fuzz: ``--out ''`` wrote into the current folder (Path('') is '.')."""
    table = tmp_path / "a.csv"
    table.write_text("device,layer,slot\nmd1,1,0\n")
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    res = run_cli(*[a.format(table=table) for a in argv])
    _refused(res, "--out")
    assert list(work.iterdir()) == []


def test_plot_output_with_an_unknown_image_suffix_is_bad_input(tmp_path):
    """Found by the command-line fuzz: ``-o -0.5`` (suffix .5) was a matplotlib ValueError traceback."""
    sol = tmp_path / "sol"
    assert run_cli("solve", INSTANCE, "-m", "all-local", "--out", sol).code == 0
    res = run_cli("plot", "partition", sol, "-o", tmp_path / "x.5")
    _refused(res, str(tmp_path / "x.5"))
    assert "no image format '5'" in res.err
    assert not (tmp_path / "x.5").exists()
