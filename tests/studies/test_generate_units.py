"""``generate --units paper|si``, relative DNN paths in generated files, problems folded per field (issue 24 item 7)."""

from __future__ import annotations

import shutil
import tomllib

import pytest
import tomli_w

from mecopt.cli import main
from mecopt.core.errors import InputError, merge_repeated
from mecopt.core.instance import instance_from_dict, load_instance
from mecopt.studies import generate as gen


def _run(capsys, *args) -> tuple[int, str, str]:
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = exc.code or 0
    out, err = capsys.readouterr()
    return code, out, err


def test_si_units_are_the_default_and_physical():
    doc = gen.generate_instance(4, "lenet", 0)
    assert doc == gen.generate_instance(4, "lenet", 0, units="si")
    assert doc["server"]["freq_cycles_per_s"] == 3.4e9 and doc["model"]["price_scale"] == 1e12
    assert doc["model"]["bits_per_element"] == 32.0 and doc["device_defaults"]["noise_w_per_hz"] == 3.98e-21
    assert all(1e6 <= d["bandwidth_hz"] <= 2e6 and d["channel_gain"] == 1e-9 for d in doc["devices"])
    assert "si units" in doc["description"] and "MHz" in doc["description"]


def test_paper_units_keep_the_papers_scale():
    doc = gen.generate_instance(4, "lenet", 0, units="paper")
    assert doc["server"]["freq_cycles_per_s"] == 3400.0 and doc["model"]["price_scale"] == 1e6
    assert doc["model"]["bits_per_element"] == 1.0 and doc["device_defaults"]["noise_w_per_hz"] == 1e-9
    assert all(1e3 <= d["bandwidth_hz"] <= 2e3 and d["channel_gain"] == 1.2e6 for d in doc["devices"])


def test_si_prices_equal_the_papers():
    """price_scale follows f_s, so the price units S (20) are those of the paper for the same delays."""
    si = instance_from_dict(gen.generate_instance(3, "alexnet", 0, bandwidth_khz="1:2"))
    paper = instance_from_dict(gen.generate_instance(3, "alexnet", 0, units="paper", bandwidth_khz="1:2"))
    for a, b in zip(si.devices, paper.devices):
        assert a.S == pytest.approx(b.S, rel=1e-12)


def test_resnet18_meets_a_5s_deadline_in_si_units_but_not_in_the_papers(capsys, tmp_path):
    """The issue's scenario: ResNet-18 devices under a hard 5 s deadline, three servers."""
    args = ["generate", "--devices", 6, "--servers", 3, "--seed", 0, "--dnn-mix", "resnet18"]
    code, _, err = _run(capsys, *args, "--units", "paper", "--out", tmp_path / "paper.toml")
    assert code == 2 and "no strategy meets its deadline" in err
    code, _, err = _run(capsys, *args, "--out", tmp_path / "si.toml")
    assert code == 0, err
    assert load_instance(tmp_path / "si.toml").N == 6


def test_bandwidth_in_one_unit_only(capsys, tmp_path):
    code, _, err = _run(capsys, "generate", "--devices", 2, "--seed", 0, "--bandwidth-khz", "1", "--bandwidth-mhz",
                        "1", "--out", tmp_path / "x.toml")
    assert code == 2 and "--bandwidth-khz, --bandwidth-mhz" in err and not (tmp_path / "x.toml").exists()
    doc = gen.generate_instance(2, "lenet", 0, bandwidth_mhz="3")
    assert all(d["bandwidth_hz"] == 3e6 for d in doc["devices"])
    with pytest.raises(InputError, match="units"):
        gen.generate_instance(2, "lenet", 0, units="imperial")


def test_spec_file_is_written_relative_to_the_instance(capsys, tmp_path, tiny_dnn):
    """An imported model's spec is named relative to the instance file: both can move together."""
    models = tmp_path / "models"
    models.mkdir()
    spec = models / "imported.toml"
    shutil.copy(tiny_dnn, spec)
    out = tmp_path / "study" / "inst.toml"
    code, _, err = _run(capsys, "generate", "--devices", 3, "--dnn-mix", f"{spec}:1,lenet:1", "--seed", 0,
                        "--units", "paper", "--out", out)
    assert code == 0, err
    names = {d["dnn"] for d in tomllib.loads(out.read_text())["devices"]}
    assert names == {"../models/imported.toml", "lenet"}
    moved = tmp_path / "elsewhere"
    shutil.copytree(tmp_path / "study", moved / "study")
    shutil.copytree(models, moved / "models")
    assert sorted(d.dnn for d in load_instance(moved / "study" / "inst.toml").devices) == ["lenet", "tiny", "tiny"]


def test_unknown_field_in_every_device_is_reported_once(capsys, tmp_path):
    doc = gen.generate_instance(200, "lenet", 0, units="paper")
    for d in doc["devices"]:
        d["bandwith_hz"] = 1.0                       # a typo in every device entry
    path = tmp_path / "typo.toml"
    path.write_text(tomli_w.dumps(doc))
    code, _, err = _run(capsys, "inspect", path)
    assert code == 2
    lines = [ln for ln in err.splitlines() if "bandwith_hz" in ln]
    assert len(lines) == 1 and "devices.*.bandwith_hz" in lines[0] and "200 entries" in lines[0]


def test_merge_repeated_keeps_single_problems_and_order():
    problems = [("server.slots", "must be >= 1"), ("devices.3.x", "unknown field"), ("devices.5.x", "unknown field"),
                ("devices.5.y", "unknown field"), ("devices.3.x", "other")]
    assert merge_repeated(problems) == [
        ("server.slots", "must be >= 1"), ("devices.*.x", "unknown field (2 entries: devices.3, devices.5)"),
        ("devices.5.y", "unknown field"), ("devices.3.x", "other")]
    many = [(f"devices.{i}.x", "bad") for i in range(5)]
    assert merge_repeated(many) == [("devices.*.x", "bad (5 entries: devices.0, devices.1, devices.2 and 2 more)")]
