"""Command line: inspect, check, generate; exit codes 0 / 2 (bad input) / 3 (violations)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pandas as pd
import pytest
from helpers import run

from mecopt.cli import cli
from mecopt.core.instance import load_instance
from mecopt.core.resources import instances_dir
from mecopt.studies.generate import generate_instance

FIG6 = instances_dir() / "paper" / "fig6-w1khz.toml"
FIG10 = instances_dir() / "paper" / "fig10-mixed.toml"
MECOPT = Path(sys.executable).with_name("mecopt")




def test_commands_are_registered():
    assert {"inspect", "check", "generate"} <= set(cli.commands)


# ---------------------------------------------------------------- inspect


def test_inspect_paper_instance_human(capsys):
    code, out, err = run(capsys, "inspect", FIG6)
    assert code == 0, err
    assert out.count("(alexnet, 21 layers)") == 5
    assert out.count("fully local 4.562 s") == 5
    for word in ("conv1", "pool5", "fc8", "prob", "per_device", "T_d/H", "rate_up_bps", "fastest_delay_s"):
        assert word in out
    # each layer table lists the input row and 21 layers: 5 devices x 'prob' rows
    assert sum(1 for line in out.splitlines() if line.split()[:3] == ["21", "prob", "softmax"]) == 5


def test_inspect_json(capsys):
    code, out, _ = run(capsys, "inspect", FIG6, "--json")
    assert code == 0
    info = json.loads(out)  # nothing but JSON on stdout
    assert info["N"] == 5 and len(info["devices"]) == 5
    assert info["server"] == {"H": 5, "T_d_s": 0.75, "slot_len_s": 0.15, "B": 4, "f_s_cycles_per_s": 3400.0,
                              "a_h": [1.0] * 5, "b_h": [2.0] * 5, "P_s_w": 4.0, "capacity_mode": "per_device"}
    inst = load_instance(FIG6)
    for d, dev in zip(info["devices"], inst.devices):
        assert d["layers"] == 21 and len(d["layer_table"]) == 22
        assert [r["name"] for r in d["layer_table"][1:]] == list(dev.layer_names)
        assert d["fully_local_s"] == pytest.approx(4.562, rel=5e-3)
        assert sum(r["t_local_s"] for r in d["layer_table"]) == pytest.approx(d["fully_local_s"])
        assert d["rate_up_bps"] == pytest.approx(dev.rate_up) and d["download_s"] == pytest.approx(dev.t_down)
        assert len(d["upload_s"]) == 21 and d["upload_s"][0] == pytest.approx(dev.t_up[0])
        assert d["delta_cycles_per_bit"] == pytest.approx(dev.delta)
        assert (d["alpha"], d["beta"], d["gamma"]) == (0.95, 0.049, 0.001)
        assert d["deadline_s"] == 5.0 and d["deadline_relaxed"] is False
        assert d["fastest_delay_s"] == pytest.approx(dev.fastest_delay)
        assert d["layer_table"][5]["S"] == pytest.approx(dev.S[5])


def test_inspect_one_device_and_relaxed_flag(capsys):
    code, out, _ = run(capsys, "inspect", FIG10, "--json", "--device", "md2")
    assert code == 0
    info = json.loads(out)
    assert [d["name"] for d in info["devices"]] == ["md2"]
    assert info["devices"][0]["dnn"] == "vgg13" and info["devices"][0]["deadline_relaxed"] is True
    code, out, _ = run(capsys, "inspect", FIG10, "--device", "md4")
    assert code == 0 and "(lenet, 8 layers)" in out and "vgg" not in out.split("Devices")[1]


def test_inspect_unknown_device_is_exit_2(capsys):
    code, out, err = run(capsys, "inspect", FIG6, "--device", "md9")
    assert code == 2 and "md9" in err and "md1" in err and "Traceback" not in err


# ---------------------------------------------------------------- bad instances


def test_bad_instance_exit_2_names_the_field(capsys, instance_dict, write_toml):
    doc = instance_dict(devices=[{"name": "a", "bandwidth_hz": 0.0}, {"name": "b", "alpha": 0.9}])
    doc["server"]["parallel_limt"] = 3
    path = write_toml(doc)
    for cmd in (["inspect", path], ["check", path, path]):
        code, out, err = run(capsys, *cmd)
        assert code == 2
        assert "devices.0.bandwidth_hz" in err and "server.parallel_limt" in err and "unknown field" in err
        assert "Traceback" not in err and out == ""


def test_bad_instance_through_the_console_script(instance_dict, write_toml):
    path = write_toml(instance_dict(model={"capacity_mode": "shared"}))
    proc = subprocess.run([str(MECOPT), "inspect", str(path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "model.capacity_mode" in proc.stderr and "Traceback" not in proc.stderr
    proc = subprocess.run([str(MECOPT), "inspect", str(FIG6), "--json"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and json.loads(proc.stdout)["name"] == "fig6-w1khz"


def test_missing_and_non_toml_instance(capsys, tmp_path):
    code, _, err = run(capsys, "inspect", tmp_path / "none.toml")
    assert code == 2 and "not found" in err
    bad = tmp_path / "x.toml"
    bad.write_text("devices = [")
    code, _, err = run(capsys, "inspect", bad)
    assert code == 2 and "not valid TOML" in err and "Traceback" not in err


# ---------------------------------------------------------------- check


@pytest.fixture
def tiny_path(instance_dict, write_toml):
    return write_toml(instance_dict(n_devices=2))


def _assignment(tmp_path, profile: dict, suffix=".csv", name="assign") -> Path:
    rows = [dict(device=d, layer=m, layer_name=f"L{m}", slot=h)
            for d, slots in profile.items() for m, h in enumerate(slots, start=1)]
    df = pd.DataFrame(rows)
    path = tmp_path / f"{name}{suffix}"
    if suffix == ".csv":
        df.to_csv(path, index=False)
    elif suffix == ".parquet":
        df.to_parquet(path, index=False)
    else:
        path.write_text(json.dumps(rows))
    return path


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".json"])
def test_check_feasible_exit_0(capsys, tmp_path, tiny_path, suffix):
    path = _assignment(tmp_path, {"d1": [1, 1, 1, 2], "d2": [0, 0, 0, 0]}, suffix)
    code, out, err = run(capsys, "check", tiny_path, path)
    assert code == 0, err
    assert "feasible: no constraint violated" in out
    assert "0.545" in out  # d1's delay, recomputed


def test_check_violations_exit_3_and_out_dir(capsys, tmp_path, tiny_path):
    path = _assignment(tmp_path, {"d1": [1, 1, 1, 1], "d2": [0, 2, 1, 1]})
    out_dir = tmp_path / "report"
    code, out, err = run(capsys, "check", tiny_path, path, "--out", out_dir)
    assert code == 3
    assert "(17)" in out and "(16)" in out and "violates" in err and "Traceback" not in err
    assert sorted(p.name for p in out_dir.iterdir()) == ["MANIFEST.json", "devices.csv", "summary.json",
                                                         "violations.csv"]
    summary = json.loads((out_dir / "summary.json").read_text())
    assert summary["feasible"] is False and summary["malformed_devices"] == ["d2"]
    assert summary["violations_by_equation"] == {"(16)": 1, "(17)": 1}
    viol = pd.read_csv(out_dir / "violations.csv")
    row = viol[viol.equation == "(17)"].iloc[0]
    assert row.device == "d1" and row.slot == 1 and row.amount == pytest.approx(0.04)
    devices = pd.read_csv(out_dir / "devices.csv")
    assert devices.loc[devices.device == "d1", "delay_s"].item() == pytest.approx(0.32 + 0.1 + 0.025)
    assert pd.isna(devices.loc[devices.device == "d2", "cost"].item())


def test_check_json_output_and_formats(capsys, tmp_path, tiny_path):
    path = _assignment(tmp_path, {0: [1, 1, 1, 2], 1: [0, 0, 3, 3]})  # devices by 0-based index
    code, out, _ = run(capsys, "check", tiny_path, path, "--json", "--out", tmp_path / "r", "--format", "parquet")
    assert code == 0
    res = json.loads(out)
    assert res["feasible"] is True and res["violation_list"] == []
    assert [d["device"] for d in res["devices"]] == ["d1", "d2"]
    assert res["devices"][1]["delay_s"] == pytest.approx(0.3 + 0.72 + 0.3 + 0.025)
    assert res["avg_delay_s"] == pytest.approx((0.545 + 1.345) / 2)
    assert (tmp_path / "r" / "devices.parquet").exists() and (tmp_path / "r" / "violations.parquet").exists()


@pytest.mark.parametrize("profile, words", [
    ({"d1": [0, 0, 0, 0], "dX": [0, 0, 0, 0]}, ["row 5.device", "dX"]),
    ({"d1": [0, 0, 0, 0, 0], "d2": [0, 0, 0, 0]}, ["row 5.layer", "1..4"]),
    ({"d1": [0, 0, 0, 9], "d2": [0, 0, 0, 0]}, ["row 4.slot"]),
])
def test_check_malformed_assignment_exit_2(capsys, tmp_path, tiny_path, profile, words):
    code, out, err = run(capsys, "check", tiny_path, _assignment(tmp_path, profile))
    assert code == 2 and "Traceback" not in err
    for w in words:
        assert w in err


def test_check_unreadable_assignments_exit_2(capsys, tmp_path, tiny_path):
    cases = {"a.txt": "device,layer,slot\n", "b.csv": "device,layer\nd1,1\n", "c.json": '{"device": 1}',
             "d.parquet": "not parquet", "e.csv": "device,layer,slot\nd1,1.5,0\n"}
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
        code, _, err = run(capsys, "check", tiny_path, tmp_path / name)
        assert code == 2, (name, err)
        assert "Traceback" not in err
    code, _, err = run(capsys, "check", tiny_path, tmp_path / "absent.csv")
    assert code == 2 and "not found" in err


def test_check_help_documents_exit_codes(capsys):
    code, out, _ = run(capsys, "check", "--help")
    assert code == 0 and "Exit status" in out and "3  one or more constraints are violated" in out


def test_ctx_exit_code_reaches_the_shell(capsys):
    @click.command("probe-exit-code")
    @click.pass_context
    def probe(ctx):
        ctx.exit(3)

    cli.add_command(probe)
    try:
        code, _, _ = run(capsys, "probe-exit-code")
    finally:
        cli.commands.pop("probe-exit-code", None)
    assert code == 3


# ---------------------------------------------------------------- generate


def test_generate_is_deterministic_and_loads(capsys, tmp_path):
    args = ["generate", "--devices", 6, "--dnn-mix", "alexnet:0.5,lenet:0.5", "--seed", 11,
            "--bandwidth-khz", "0.5:2", "--weights", "random", "--slots", 4, "--capacity-mode", "total"]
    a, b, c = tmp_path / "a.toml", tmp_path / "b.toml", tmp_path / "c.toml"
    assert run(capsys, *args, "--out", a)[0] == 0
    assert run(capsys, *args, "--out", b)[0] == 0
    assert a.read_bytes() == b.read_bytes()
    args[args.index("--seed") + 1] = 12
    assert run(capsys, *args, "--out", c)[0] == 0
    assert a.read_bytes() != c.read_bytes()
    inst = load_instance(a)
    assert inst.N == 6 and inst.server.H == 4 and inst.server.capacity_mode == "total"
    assert sorted(d.dnn for d in inst.devices) == ["alexnet"] * 3 + ["lenet"] * 3
    for d in inst.devices:
        assert 500 <= d.W <= 2000 and 2000 <= d.delta <= 2500
        assert d.alpha + d.beta + d.gamma == pytest.approx(1.0, abs=1e-9) and min(d.alpha, d.beta, d.gamma) > 0
    assert len({(d.alpha, d.beta) for d in inst.devices}) == 6  # drawn per MD
    assert len({d.W for d in inst.devices}) == 6


def test_generate_library_matches_cli(capsys, tmp_path):
    out = tmp_path / "g.toml"
    assert run(capsys, "generate", "--devices", 3, "--seed", 5, "--out", out)[0] == 0
    import tomllib
    assert tomllib.loads(out.read_text()) == generate_instance(3, "alexnet", 5)


def test_generate_fixed_weights_and_ranges():
    doc = generate_instance(4, "lenet", 0, weights="0.2,0.3,0.5", gain="1e6:2e6", deadline_s="3:4",
                            delta="100")
    for d in doc["devices"]:
        assert (d["alpha"], d["beta"], d["gamma"]) == (0.2, 0.3, 0.5)
        assert 1e6 <= d["channel_gain"] <= 2e6 and 3 <= d["deadline_s"] <= 4 and d["delta_cycles_per_bit"] == 100.0


def test_generate_hard_deadline_with_vgg_fails_and_writes_nothing(capsys, tmp_path):
    out = tmp_path / "v.toml"
    code, _, err = run(capsys, "generate", "--devices", 2, "--dnn-mix", "vgg16", "--seed", 1, "--out", out)
    assert code == 2 and "relax" in err and "fastest possible delay" in err and not out.exists()
    code, _, _ = run(capsys, "generate", "--devices", 2, "--dnn-mix", "vgg16", "--seed", 1,
                     "--deadline-policy", "relax", "--out", out)
    assert code == 0 and all(d.deadline_relaxed for d in load_instance(out).devices)


@pytest.mark.parametrize("args, word", [
    (["--dnn-mix", "resnet:1"], "resnet"),
    (["--dnn-mix", "alexnet:x"], "share"),
    (["--weights", "0.5,0.5,0.5"], "weights"),
    (["--bandwidth-khz", "2:1"], "bandwidth_khz"),
    (["--slots", "0"], "slots"),
    (["--capacity-mode", "both"], "capacity-mode"),
])
def test_generate_bad_options_exit_2(capsys, tmp_path, args, word):
    out = tmp_path / "bad.toml"
    code, _, err = run(capsys, "generate", "--devices", 2, "--seed", 0, *args, "--out", out)
    assert code == 2 and word in err and not out.exists() and "Traceback" not in err


def test_generate_with_a_spec_file(capsys, tmp_path, tiny_dnn):
    out = tmp_path / "sub" / "t.toml"
    code, _, err = run(capsys, "generate", "--devices", 3, "--dnn-mix", f"{tiny_dnn}:1,lenet:2", "--seed", 3,
                       "--out", out)
    assert code == 0, err
    inst = load_instance(out)
    assert sorted(d.dnn for d in inst.devices) == ["lenet", "lenet", "tiny"]
