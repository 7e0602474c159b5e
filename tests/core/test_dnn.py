"""DNN chains (§2.1, MODEL.md §1): layer counts, shapes, factors, new specs as data, bad specs."""

from __future__ import annotations

import pytest
import tomli_w

from mecopt.core import dnn
from mecopt.core.errors import InputError


@pytest.mark.parametrize("name, layers", [("lenet", 8), ("alexnet", 21), ("vgg13", 31), ("vgg16", 37)])
def test_layer_counts_match_the_paper(name, layers):
    table = dnn.layer_table(name)
    assert table.num_layers == layers
    assert len(table.frame) == layers + 1
    row0 = table.frame.iloc[0]
    assert row0["layer"] == 0 and row0["name"] == "input"
    assert (row0[["G", "K", "O", "I"]] == 0).all()
    assert list(table.frame["layer"]) == list(range(layers + 1))


def test_catalog_lists_the_bundled_dnns():
    assert {"lenet", "alexnet", "vgg13", "vgg16"} <= set(dnn.catalog())


def _row(table, name):
    rows = table.frame[table.frame["name"] == name]
    assert len(rows) == 1, name
    return rows.iloc[0]


def test_alexnet_shapes():
    t = dnn.layer_table("alexnet")
    inp = t.frame.iloc[0]
    assert (inp["C"], inp["H"], inp["W"]) == (3, 227, 227)
    expected = {"conv1": (96, 55, 55), "pool1": (96, 27, 27), "conv2": (256, 27, 27), "pool2": (256, 13, 13),
                "conv3": (384, 13, 13), "conv5": (256, 13, 13), "pool5": (256, 6, 6), "fc6": (4096, 1, 1),
                "fc8": (1000, 1, 1), "prob": (1000, 1, 1)}
    for name, shape in expected.items():
        r = _row(t, name)
        assert (r["C"], r["H"], r["W"]) == shape, name
        assert r["out_elements"] == shape[0] * shape[1] * shape[2]
    # factors of (5)-(7): conv G = output side, K = kernel, O = input channels, I = output channels
    c1 = _row(t, "conv1")
    assert (c1["G"], c1["K"], c1["O"], c1["I"]) == (55, 11, 3, 96)
    fc6 = _row(t, "fc6")
    assert (fc6["G"], fc6["K"], fc6["O"], fc6["I"]) == (1, 1, 256 * 6 * 6, 4096)
    p5 = _row(t, "pool5")
    assert (p5["G"], p5["K"], p5["O"], p5["I"]) == (6, 3, 256, 1)
    r1 = _row(t, "relu1")
    assert (r1["G"], r1["K"], r1["O"], r1["I"]) == (55, 1, 96, 1)


def test_vgg16_and_lenet_shapes():
    v = dnn.layer_table("vgg16")
    assert tuple(_row(v, "pool5")[["C", "H", "W"]]) == (512, 7, 7)
    assert tuple(_row(v, "conv5_3")[["C", "H", "W"]]) == (512, 14, 14)
    assert _row(v, "fc6")["O"] == 512 * 7 * 7
    le = dnn.layer_table("lenet")
    assert tuple(_row(le, "conv1")[["C", "H", "W"]]) == (20, 24, 24)
    assert tuple(_row(le, "pool2")[["C", "H", "W"]]) == (50, 4, 4)
    assert _row(le, "ip1")["O"] == 800


def test_grouped_conv_per_group_changes_O_of_conv2():
    full = dnn.layer_table("alexnet")
    per_group = dnn.layer_table("alexnet", grouped_conv="per_group")
    assert _row(full, "conv2")["O"] == 96
    assert _row(per_group, "conv2")["O"] == 48
    assert _row(per_group, "conv4")["O"] == 192  # 384 / 2
    # ungrouped layers and shapes are unchanged
    assert _row(per_group, "conv3")["O"] == _row(full, "conv3")["O"] == 256
    assert (per_group.frame["out_elements"] == full.frame["out_elements"]).all()


def _write(tmp_path, spec, name="net.toml"):
    path = tmp_path / name
    path.write_text(tomli_w.dumps(spec))
    return path


def test_a_new_chain_spec_works_without_code(tmp_path, instance_dict):
    spec = {"name": "mininet", "input": {"channels": 3, "height": 32, "width": 32},
            "layers": [{"name": "c1", "type": "conv", "out_channels": 8, "kernel": 5, "pad": 2},
                       {"name": "r1", "type": "relu"},
                       {"name": "p1", "type": "pool", "kernel": 2, "stride": 2},
                       {"name": "c2", "type": "conv", "out_channels": 16, "kernel": 3},
                       {"name": "f1", "type": "fc", "out_features": 10},
                       {"name": "prob", "type": "softmax"}]}
    path = _write(tmp_path, spec)
    t = dnn.layer_table(str(path))
    assert t.name == "mininet" and t.num_layers == 6
    assert tuple(_row(t, "c1")[["C", "H", "W"]]) == (8, 32, 32)
    assert tuple(_row(t, "p1")[["C", "H", "W"]]) == (8, 16, 16)
    assert tuple(_row(t, "c2")[["C", "H", "W"]]) == (16, 14, 14)
    assert _row(t, "f1")["O"] == 16 * 14 * 14
    # and an instance can use it directly
    from mecopt.core.instance import instance_from_dict
    inst = instance_from_dict(instance_dict(devices=[{"name": "x", "dnn": str(path)}]))
    assert inst.devices[0].M == 6 and inst.devices[0].dnn == "mininet"
    assert inst.devices[0].t_local[1] > 0  # predicted by eq. (6): no measured times in this spec


def test_measured_times_override_the_prediction(tiny_dnn):
    t = dnn.layer_table(str(tiny_dnn))
    assert list(t.frame["t_local_s"][1:]) == [0.1, 0.2, 0.3, 0.4]
    assert list(t.frame["out_elements"]) == [64, 144, 144, 36, 10]


def _problems(err: InputError) -> str:
    return "\n".join(f"{p} :: {m}" for p, m in err.problems)


BASE_INPUT = {"channels": 1, "height": 8, "width": 8}


@pytest.mark.parametrize("layers, where, what", [
    ([{"name": "ok", "type": "relu"}, {"name": "cX", "type": "conv", "out_channels": 4}],
     "layers.1 (cX)", "kernel"),
    ([{"name": "a", "type": "relu"}, {"name": "b", "type": "dense"}], "layers.1.type", "conv"),
    ([{"name": "big", "type": "conv", "out_channels": 4, "kernel": 11}], "layers.0 (big)", "larger than"),
    ([{"name": "p", "type": "pool", "kernel": 9}], "layers.0 (p)", "larger than"),
    ([{"name": "c", "type": "conv", "out_channels": 4, "kernel": 3, "dilation": 2}], "layers.0.dilation",
     "unknown field"),
    ([{"name": "f", "type": "fc"}], "layers.0 (f)", "out_features"),
])
def test_bad_specs_name_the_layer_and_field(tmp_path, layers, where, what):
    path = _write(tmp_path, {"name": "bad", "input": BASE_INPUT, "layers": layers})
    with pytest.raises(InputError) as exc:
        dnn.layer_table(str(path))
    text = _problems(exc.value)
    assert where in text, text
    assert what in text, text


def test_bad_spec_reports_every_broken_layer(tmp_path):
    layers = [{"name": "c1", "type": "conv", "out_channels": 4},   # no kernel
              {"name": "f1", "type": "fc"}]                        # no out_features
    path = _write(tmp_path, {"name": "bad", "input": BASE_INPUT, "layers": layers})
    with pytest.raises(InputError) as exc:
        dnn.layer_table(str(path))
    paths = [p for p, _ in exc.value.problems]
    assert any("c1" in p for p in paths) and any("f1" in p for p in paths)


def test_unknown_top_level_field_and_missing_input(tmp_path):
    path = _write(tmp_path, {"name": "bad", "inputs": BASE_INPUT, "layers": [{"name": "r", "type": "relu"}]})
    with pytest.raises(InputError) as exc:
        dnn.layer_table(str(path))
    paths = [p for p, _ in exc.value.problems]
    assert "inputs" in paths and "input" in paths


def test_unknown_dnn_and_missing_spec_file(tmp_path):
    with pytest.raises(InputError, match="unknown DNN 'resnet'"):
        dnn.layer_table("resnet")
    with pytest.raises(InputError, match="not found"):
        dnn.layer_table(str(tmp_path / "nope.toml"))
    bad = tmp_path / "broken.toml"
    bad.write_text("name = [unclosed")
    with pytest.raises(InputError, match="not valid TOML"):
        dnn.layer_table(str(bad))
