"""Per-layer profiling with PyTorch (issue 6; `mecopt profile --engine torch`).

Table layout, attaching measured times, refusals. No assertion on how long anything takes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")

from helpers import run  # noqa: E402

from mecopt.byo.profiling import PROFILE_COLUMNS, attach_times, build_chain, profile  # noqa: E402
from mecopt.core import dnn  # noqa: E402
from mecopt.core.errors import InputError  # noqa: E402
from mecopt.core.instance import instance_from_dict  # noqa: E402

SMALL = {
    "name": "small",
    "input": {"channels": 3, "height": 15, "width": 15},
    "layers": [
        {"name": "conv1", "type": "conv", "out_channels": 8, "kernel": 3, "stride": 2, "pad": 1},
        {"name": "relu1", "type": "relu"},
        {"name": "norm1", "type": "lrn"},
        {"name": "pool1", "type": "pool", "kernel": 3, "stride": 2},           # Caffe rounding: 8 -> 4
        {"name": "conv2", "type": "conv", "out_channels": 8, "kernel": 3, "pad": 1, "groups": 2},
        {"name": "fc1", "type": "fc", "out_features": 12},
        {"name": "relu2", "type": "relu"},
        {"name": "fc2", "type": "fc", "out_features": 5},
        {"name": "prob", "type": "softmax"},
    ],
}




@pytest.fixture
def small_spec() -> dnn.DNNSpec:
    return dnn.parse_spec(SMALL)


def test_profile_table_has_one_row_per_layer_with_the_factors(small_spec):
    before = torch.get_num_threads()
    calls = []
    table = profile(small_spec, runs=4, warmup=1, threads=1, progress=lambda done, total: calls.append((done, total)))
    assert torch.get_num_threads() == before  # restored
    assert tuple(table.columns) == PROFILE_COLUMNS
    assert len(table) == len(SMALL["layers"])
    expected = dnn.propagate(small_spec).frame.iloc[1:].reset_index(drop=True)
    assert list(table["name"]) == list(expected["name"])
    for col in ("layer", "C", "H", "W", "out_elements", "G", "K", "O", "I"):
        np.testing.assert_array_equal(table[col].to_numpy(float), expected[col].to_numpy(float))
    assert (table["runs"] == 4).all() and (table["threads"] == 1).all()
    med, p10, p90 = table["median_ms"], table["p10_ms"], table["p90_ms"]
    assert np.isfinite(med).all() and (table["min_ms"] >= 0).all()
    assert (p10 <= med + 1e-12).all() and (med <= p90 + 1e-12).all() and (table["iqr_ms"] >= 0).all()
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]


def test_built_layers_reproduce_the_layer_table(small_spec):
    chain = build_chain(small_spec, seed=1)
    frame = dnn.propagate(small_spec).frame
    x = torch.zeros(1, 3, 15, 15)
    with torch.inference_mode():
        for i, (layer, module, shape) in enumerate(chain, start=1):
            x = module(x.reshape(1, *shape))
            assert x.numel() == frame.loc[i, "out_elements"], layer.name
    assert isinstance(chain[4][1], torch.nn.Conv2d) and chain[4][1].groups == 2


def test_blocks_and_unbuildable_layers_are_refused():
    spec = dnn.parse_spec({"name": "b", "input": {"channels": 2, "height": 4, "width": 4}, "layers": [
        {"name": "blk", "type": "block", "out_shape": [2, 4, 4], "G": 4, "K": 3, "O": 2, "I": 2},
        {"name": "relu", "type": "relu"},
    ]})
    with pytest.raises(InputError, match=r"layers\.0 \(blk\).*block layer has no architecture"):
        build_chain(spec)


def test_bad_parameters_are_input_errors(small_spec):
    with pytest.raises(InputError, match="'runs'"):
        profile(small_spec, runs=0)
    with pytest.raises(InputError, match="'threads'"):
        profile(small_spec, runs=1, threads=0)


def test_attach_times_overrides_the_prediction(small_spec, instance_dict, write_toml, tmp_path):
    table = profile(small_spec, runs=2, warmup=0, threads=1)
    attached = attach_times(small_spec, table, "local", name="small-measured")
    assert attached.name == "small-measured"
    assert [l.t_local_s for l in attached.layers] == pytest.approx(list(table["median_ms"] * 1e-3), abs=1e-9)
    assert all(l.t_server_s is None for l in attached.layers)
    # both sides: attach the server times on top
    both = attach_times(attached, table.assign(median_ms=table["median_ms"] * 0.1), "server")
    assert [l.t_local_s for l in both.layers] == [l.t_local_s for l in attached.layers]

    from mecopt.core.dnn import format_spec_toml, spec_to_data
    spec_path = tmp_path / "small-measured.toml"
    spec_path.write_text(format_spec_toml(spec_to_data(both)))
    doc = instance_dict(n_devices=1, device_defaults={"dnn": str(spec_path)},
                        model={"deadline_policy": "relax"})
    inst = instance_from_dict(doc)
    dev = inst.devices[0]
    assert dev.t_local[1:] == pytest.approx(list(table["median_ms"] * 1e-3), abs=1e-9)
    assert dev.t_server[1:] == pytest.approx(list(table["median_ms"] * 1e-4), abs=1e-9)


def test_attach_refuses_a_profile_of_another_network(small_spec):
    table = profile(small_spec, runs=1, warmup=0, threads=1)
    with pytest.raises(InputError, match="named"):
        attach_times(small_spec, table.assign(name=[f"x{i}" for i in range(len(table))]), "local")
    with pytest.raises(InputError, match="no measured row"):
        attach_times(small_spec, table.iloc[:-1], "server")
    with pytest.raises(InputError, match="'side'"):
        attach_times(small_spec, table, "both")


def test_cli_profile_writes_the_table_and_the_attached_spec(tmp_path, capsys, write_toml):
    spec_path = write_toml(SMALL, "small.toml")
    out, attach = tmp_path / "small-profile.csv", tmp_path / "small-local.toml"
    code, stdout, stderr = run(capsys, "profile", spec_path, "--engine", "torch", "--runs", 2, "--warmup", 0,
                               "--out", out, "--attach", attach, "--as", "local")
    assert code == 0, stderr
    table = pd.read_csv(out)
    assert tuple(table.columns) == PROFILE_COLUMNS and len(table) == len(SMALL["layers"])
    assert "median_ms" in stdout and f"wrote {out}" in stdout
    measured = dnn.layer_table(str(attach))
    assert measured.name == "small-local"
    np.testing.assert_allclose(measured.frame["t_local_s"].to_numpy()[1:], table["median_ms"] * 1e-3, rtol=0, atol=1e-9)
    # no silent overwrite of measurements
    code, _, stderr = run(capsys, "profile", spec_path, "--runs", 1, "--out", out)
    assert code == 2 and "--force" in stderr
    # PyTorch cannot build a block: exit 2 with the layer named (ONNX Runtime profiles it, test_profiling_ort.py)
    blk = write_toml({"name": "b", "input": {"channels": 1, "height": 2, "width": 2}, "layers": [
        {"name": "blk", "type": "block", "out_shape": [1, 2, 2], "G": 2, "K": 1, "O": 1, "I": 1}]}, "b.toml")
    code, _, stderr = run(capsys, "profile", blk, "--engine", "torch", "--runs", 1, "--out", tmp_path / "b.csv")
    assert code == 2 and "blk" in stderr
