"""Regression tests of issue 12: every reproduction of the issue exits 2 naming the field (or the
file), strict types, derived-quantity checks, size limits, strict assignment cells, BOM."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import tomli_w
from fuzz_cases import run_cli

from mecopt.core import limits

#: runs a MILP solver (HiGHS or CP-SAT), directly or through a command: integration, not unit
pytestmark = pytest.mark.solver

BASE = {"name": "t", "model": {"deadline_policy": "relax"}, "devices": [{"dnn": "lenet", "count": 2}]}


def write(tmp_path: Path, doc: dict, name: str = "inst.toml") -> Path:
    p = tmp_path / name
    p.write_text(tomli_w.dumps(doc))
    return p


def with_(path: str, value) -> dict:
    doc = json.loads(json.dumps(BASE))
    keys = path.split(".")
    target = doc
    for k in keys[:-1]:
        target = target[int(k)] if k.isdigit() else target.setdefault(k, {})
    target[int(keys[-1]) if keys[-1].isdigit() else keys[-1]] = value
    return doc


def exits_2_naming(res, *needles: str) -> None:
    assert res.traceback is None, res.describe()
    assert res.code == 2, res.describe()
    for n in needles:
        assert n in res.err, res.describe()


@pytest.mark.parametrize("command", [["inspect"], ["solve", "-m", "tpos-cai", "--engine", "dp"]])
def test_binary_file(tmp_path, command):
    p = tmp_path / "bin.toml"
    p.write_bytes(b"\xff\x99" + bytes(range(256)))
    exits_2_naming(run_cli(command[0], p, *command[1:]), str(p), "not UTF-8")


def test_dnn_spec_that_is_a_directory(tmp_path):
    (tmp_path / "spec.toml").mkdir()
    res = run_cli("inspect", write(tmp_path, with_("devices.0.dnn", "spec.toml")))
    exits_2_naming(res, "devices.0.dnn", "directory")


def test_instance_that_is_a_directory(tmp_path):
    exits_2_naming(run_cli("inspect", tmp_path), "directory")


def test_unreadable_file_is_named(tmp_path, monkeypatch):
    p = write(tmp_path, BASE)

    def deny(self, *a, **k):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", deny)
    exits_2_naming(run_cli("inspect", p), str(p), "permission denied")


def test_utf8_bom_is_accepted(tmp_path):
    """issue 15 point 9: an instance file starting with a UTF-8 byte-order mark."""
    p = tmp_path / "bom.toml"
    p.write_bytes(b"\xef\xbb\xbf" + tomli_w.dumps(BASE).encode())
    res = run_cli("inspect", p)
    assert res.code == 0, res.describe()


@pytest.mark.parametrize("field,value,needle", [
    ("devices.0.bandwidth_hz", 5e-324, "devices.0.{bandwidth_hz"),
    ("devices.0.bandwidth_hz", 1e308, "devices.0.bandwidth_hz"),
    ("devices.0.upload_power_w", 5e-324, "upload_power_w"),
    ("devices.0.channel_gain", 1e-300, "channel_gain"),
    ("devices.0.noise_w_per_hz", 1e308, "devices.0.noise_w_per_hz"),
    ("model.bits_per_element", 1e308, "model.bits_per_element"),
    ("seed", -1, "seed"),
    ("server.slots", True, "server.slots"),
    ("server.frame_s", True, "server.frame_s"),
    ("model.price_scale", "1e6", "model.price_scale"),
    ("devices.0.count", "3", "devices.0.count"),
    ("devices.0.count", limits.MAX_DEVICES + 1, "devices.0.count"),
    ("server.slots", limits.MAX_SLOTS + 1, "server.slots"),
    ("server.frame_s", 5e-324, "server.frame_s"),
    ("devices.0.deadline_s", 1e308, "devices.0.deadline_s"),
    ("topology.seed", -1, "topology.seed"),
    ("devices.0.delta_cycles_per_bit", [2000, True], "devices.0.delta_cycles_per_bit"),
    ("devices.0.colour", 1, "devices.0.colour"),
])
def test_instance_reproductions_exit_2_naming_the_field(tmp_path, field, value, needle):
    res = run_cli("solve", write(tmp_path, with_(field, value)), "-m", "tpos-cai", "--engine", "dp")
    exits_2_naming(res, needle)


def test_string_seed_rejected(tmp_path):
    exits_2_naming(run_cli("inspect", write(tmp_path, with_("seed", "1"))), "seed")


def test_deep_nesting(tmp_path):
    p = tmp_path / "deep.toml"
    p.write_text("name = 'x'\na = " + "[" * 5000 + "]" * 5000 + "\n")
    exits_2_naming(run_cli("inspect", p), str(p), "nested too deeply")


def test_moderate_nesting_names_the_field(tmp_path):
    p = tmp_path / "deep.toml"
    p.write_text("name = 'x'\nseed = " + "[" * 300 + "1" + "]" * 300 + "\n[[devices]]\ndnn = 'lenet'\n")
    exits_2_naming(run_cli("inspect", p), "seed")


def spec_doc(layers: list[dict]) -> dict:
    return {"name": "s", "input": {"channels": 1, "height": 8, "width": 8}, "layers": layers}


def test_5000_layer_chain(tmp_path):
    write(tmp_path, spec_doc([{"name": f"r{i}", "type": "relu"} for i in range(5000)]), "chain.toml")
    res = run_cli("solve", write(tmp_path, with_("devices.0.dnn", "chain.toml")), "-m", "gtpos", "--time-limit", 5)
    exits_2_naming(res, "layers", f"at most {limits.MAX_LAYERS}")


@pytest.mark.parametrize("layer,needle", [
    ({"name": "a", "type": "relu", "G": float("inf")}, "layers.0.G"),
    ({"name": "a", "type": "relu", "O": 1e308}, "layers.0.O"),
    ({"name": "a", "type": "relu", "t_local_s": float("inf")}, "layers.0.t_local_s"),
    ({"name": "a", "type": "relu", "t_server_s": float("inf")}, "layers.0.t_server_s"),
    ({"name": "a", "type": "pool", "kernel": 2, "ceil_mode": "yes"}, "layers.0.ceil_mode"),
    ({"name": "a", "type": "pool", "kernel": "5"}, "layers.0.kernel"),
    ({"name": "a", "type": "conv", "kernel": True, "out_channels": 2}, "layers.0.kernel"),
    ({"name": "a", "type": "block", "out_shape": [0, 0, 0]}, "layers.0.out_shape"),
    ({"name": "a", "type": "block", "out_shape": [-5, 1, 1]}, "layers.0.out_shape"),
    ({"name": "a", "type": "fc", "out_features": 10**8}, "layers.0.out_features"),
])
def test_spec_reproductions_exit_2_naming_the_field(tmp_path, layer, needle):
    write(tmp_path, spec_doc([layer]), "spec.toml")
    exits_2_naming(run_cli("inspect", write(tmp_path, with_("devices.0.dnn", "spec.toml"))), needle)


def test_derived_times_out_of_range_name_the_fields(tmp_path):
    """Measured times within their own limit, but adding up over the limit."""
    layers = [{"name": f"a{i}", "type": "relu", "t_local_s": 9e5, "t_server_s": 1.0} for i in range(3)]
    write(tmp_path, spec_doc(layers), "spec.toml")
    res = run_cli("inspect", write(tmp_path, with_("devices.0.dnn", "spec.toml")))
    exits_2_naming(res, "devices.0.dnn (s)", "model.delay_local")


def test_delay_coefficient_set_strict(tmp_path):
    (tmp_path / "coef.toml").write_text('name = "c"\nunit = "ms"\n[coefficients]\nG2O = "1e-5"\nG2K2I = inf\n')
    res = run_cli("inspect", write(tmp_path, with_("model.delay_local", "coef.toml")))
    exits_2_naming(res, "model.delay_local", "coefficients.G2O", "coefficients.G2K2I")


def test_negative_predicted_time_named(tmp_path):
    (tmp_path / "coef.toml").write_text('name = "c"\n[coefficients]\n"1" = -1.0\n')
    res = run_cli("inspect", write(tmp_path, with_("model.delay_server", "coef.toml")))
    exits_2_naming(res, "model.delay_server", ">= 0")


def test_sweep_rejects_bool_and_huge_grids(tmp_path):
    inst = write(tmp_path, BASE)
    res = run_cli("sweep", inst, "--values", "server.slots=true", "--out", tmp_path / "s1", "-q")
    exits_2_naming(res, "server.slots")
    res = run_cli("sweep", inst, "--set", "server.frame_s=0.1:1:1000000", "--out", tmp_path / "s2", "-q")
    exits_2_naming(res, "--set server.frame_s", "COUNT")
    res = run_cli("sweep", inst, "--set", "server.frame_s=0.1:inf:3", "--out", tmp_path / "s3", "-q")
    exits_2_naming(res, "finite")


@pytest.mark.parametrize("cell", ["1_0", "1e0", "0x1", "\u0661", "1.5", "True", ""])
def test_assignment_cells_must_be_plain_integers(tmp_path, cell):
    """issue 15 point 10: `1_0` is not 10."""
    inst = write(tmp_path, {**BASE, "devices": [{"dnn": "lenet", "name": "a"}]})
    rows = ["device,layer,slot"] + [f"a,{m},0" for m in range(1, 9)]
    rows[1] = f"a,{cell},0"
    (tmp_path / "a.csv").write_text("\n".join(rows) + "\n")
    exits_2_naming(run_cli("check", inst, tmp_path / "a.csv"), "row 1.layer")


def test_assignment_plain_integers_accepted(tmp_path):
    inst = write(tmp_path, {**BASE, "devices": [{"dnn": "lenet", "name": "a"}]})
    rows = ["device,layer,slot"] + [f"a,{m},0" for m in range(1, 9)]
    rows[1] = "a, 1 ,+0"
    (tmp_path / "a.csv").write_text("\n".join(rows) + "\n")
    res = run_cli("check", inst, tmp_path / "a.csv")
    assert res.code == 0, res.describe()


def test_accepted_instances_still_accept_ints_for_floats(tmp_path):
    """Strict types keep TOML ints valid where floats are expected (frame_s = 1, bandwidth_hz = 2000)."""
    doc = with_("server.frame_s", 1)
    doc["devices"][0]["bandwidth_hz"] = 2000
    doc["devices"][0]["delta_cycles_per_bit"] = [2000, 2500]
    res = run_cli("inspect", write(tmp_path, doc))
    assert res.code == 0, res.describe()


def test_paper_instances_load_unchanged():
    """Every bundled instance still validates (the strict schema accepts what the paper uses)."""
    from mecopt.core.instance import load_instance
    from mecopt.core.resources import bundled_instances

    for name in bundled_instances():
        assert load_instance(name).N >= 1


def test_best_response_size_limit(tmp_path):
    """H x (M+1)^2 bounds the DP's arrays (a 5,000-layer chain allocated 957 MiB before)."""
    write(tmp_path, spec_doc([{"name": f"r{i}", "type": "relu"} for i in range(400)]), "chain.toml")
    doc = with_("devices.0.dnn", "chain.toml")
    doc["server"] = {"slots": 125, "frame_s": 12.5}
    exits_2_naming(run_cli("inspect", write(tmp_path, doc)), "server.slots", "H x (M+1)^2")


def test_gtpos_size_limit(tmp_path):
    write(tmp_path, spec_doc([{"name": f"r{i}", "type": "relu"} for i in range(400)]), "chain.toml")
    doc = with_("devices.0.dnn", "chain.toml")
    doc["devices"][0]["count"] = 8
    # identical devices are modelled once (device classes), so only the disaggregated model is too big
    res = run_cli("solve", write(tmp_path, doc), "-m", "gtpos", "--time-limit", 5, "--option", "aggregate=false")
    exits_2_naming(res, "block arcs", "use tpos-cai/uai")


def test_damaged_onnx_attribute_is_bad_input(tmp_path):
    """A flipped byte turned Gemm's transB into an attribute of undefined type: a traceback before."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    w = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[4, 8])
    node = helper.make_node("Gemm", ["x", "w"], ["y"], transB=1)
    node.attribute[0].type = onnx.AttributeProto.UNDEFINED
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w])
    path = tmp_path / "m.onnx"
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString())
    res = run_cli("import-onnx", path, "--out", tmp_path / "m.toml", "-q")
    assert res.traceback is None and res.code in (0, 2), res.describe()
