"""Profiling with ONNX Runtime (issue 10): every node timed, summed per layer (blocks too), for ONNX files
and for specs; per-operator tables for `mecopt fit --per-type`. No assertion on how long anything takes."""

from __future__ import annotations

import math

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from helpers import run  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from mecopt.byo.profiling import OP_COLUMNS, PROFILE_COLUMNS, profile_onnx, profile_spec_ort, spec_to_onnx  # noqa: E402
from mecopt.core import dnn  # noqa: E402
from mecopt.core.instance import instance_from_dict  # noqa: E402

BLOCKY = {
    "name": "blocky",
    "grouped_conv": "per_group",
    "input": {"channels": 4, "height": 8, "width": 8},
    "layers": [
        {"name": "conv1", "type": "conv", "out_channels": 8, "kernel": 3, "pad": 1},
        {"name": "relu1", "type": "relu"},
        {"name": "res", "type": "block", "out_shape": [8, 8, 8], "ops": [
            {"type": "conv", "op": "Conv", "G": 8, "K": 1, "O": 8, "I": 16},
            {"type": "dwconv", "op": "Conv", "G": 8, "K": 3, "O": 1, "I": 16, "groups": 16},
            {"type": "eltwise", "op": "Clip", "G": 8, "K": 1, "O": 16, "I": 1},
            {"type": "conv", "op": "Conv", "G": 8, "K": 1, "O": 16, "I": 8},
            {"type": "eltwise", "op": "Add", "G": 8, "K": 1, "O": 8, "I": 1},
        ]},
        {"name": "attn", "type": "block", "out_shape": [8, 8, 8], "ops": [
            {"type": "norm", "op": "LayerNormalization", "G": 8, "K": 1, "O": 8, "I": 1},
            {"type": "fc", "op": "MatMul", "G": 8, "K": 1, "O": 8, "I": 24},
            {"type": "attention", "op": "MatMul", "G": math.sqrt(2 * 64), "K": 1, "O": 4, "I": 64},
            {"type": "norm", "op": "Softmax", "G": math.sqrt(2 * 64), "K": 1, "O": 64, "I": 1},
            {"type": "pool", "op": "ReduceMean", "G": 1, "K": 8, "O": 8, "I": 1},
        ]},
        {"name": "pool", "type": "pool", "kernel": 8, "ceil_mode": False},
        {"name": "fc", "type": "fc", "out_features": 5},
        {"name": "prob", "type": "softmax"},
    ],
}


@pytest.fixture
def blocky() -> dnn.DNNSpec:
    return dnn.parse_spec(BLOCKY)


def _macs_from_shapes(model, node_ops):
    """Multiply-adds of each conv/fc/attention node of a model, from its inferred shapes."""
    inferred = onnx.shape_inference.infer_shapes(model)
    g = inferred.graph
    shape = {vi.name: [d.dim_value for d in vi.type.tensor_type.shape.dim]
             for vi in list(g.input) + list(g.value_info) + list(g.output)}
    shape.update({t.name: list(t.dims) for t in g.initializer})
    out = {}
    for n in g.node:
        if n.name not in node_ops or node_ops[n.name]["type"] not in ("conv", "dwconv", "fc", "attention"):
            continue
        y = shape[n.output[0]]
        if n.op_type == "Conv":
            w = shape[n.input[1]]
            out[n.name] = math.prod(y) * w[1] * w[2] * w[3]
        else:  # MatMul / Gemm: output elements x inner size
            out[n.name] = math.prod(y) * shape[n.input[0]][-1]
    return out


def test_spec_graph_does_the_work_of_every_operator(blocky):
    model, node_layer, node_ops = spec_to_onnx(blocky)
    table = dnn.propagate(blocky)
    assert set(node_layer.values()) == set(range(1, table.num_layers + 1))  # every layer has nodes
    ops = table.op_frame()
    assert sorted((r["type"], r["G"], r["K"], r["O"], r["I"]) for r in node_ops.values()) == \
        sorted(ops[["type", "G", "K", "O", "I"]].itertuples(index=False, name=None))
    for name, macs in _macs_from_shapes(model, node_ops).items():
        r = node_ops[name]
        assert macs == pytest.approx(r["G"] ** 2 * r["K"] ** 2 * r["O"] * r["I"], rel=1e-9), name


def test_profile_spec_with_blocks(blocky):
    layers, ops, other = profile_spec_ort(blocky, runs=3, warmup=1)
    assert tuple(layers.columns) == PROFILE_COLUMNS and tuple(ops.columns) == OP_COLUMNS
    expected = dnn.propagate(blocky).frame.iloc[1:].reset_index(drop=True)
    assert list(layers["name"]) == list(expected["name"]) and list(layers["type"]) == list(expected["type"])
    assert (layers["median_ms"] > 0).all() and (layers["runs"] == 3).all() and (layers["threads"] == 1).all()
    assert (layers["p10_ms"] <= layers["median_ms"] + 1e-12).all()
    assert len(ops) == len(dnn.propagate(blocky).op_frame())
    assert ops.groupby("layer").size().to_dict() == {1: 1, 2: 1, 3: 5, 4: 5, 5: 1, 6: 1, 7: 1}
    assert other == 0.0


def residual_model_with_weights():
    rng = np.random.default_rng(0)
    w = lambda name, *s: numpy_helper.from_array(rng.standard_normal(s).astype(np.float32), name)  # noqa: E731
    nodes = [
        helper.make_node("Conv", ["x", "w0"], ["a"], name="/stem/Conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["a"], ["a1"], name="/stem/Relu"),
        helper.make_node("Conv", ["a1", "w1"], ["b"], name="/l1/conv1/Conv", kernel_shape=[1, 1]),
        helper.make_node("Conv", ["b", "wd"], ["c"], name="/l1/dw/Conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                         group=16),
        helper.make_node("Conv", ["c", "w2"], ["d"], name="/l1/conv2/Conv", kernel_shape=[1, 1]),
        helper.make_node("Add", ["d", "a1"], ["s"], name="/l1/Add"),
        helper.make_node("GlobalAveragePool", ["s"], ["g"], name="/pool/GlobalAveragePool"),
        helper.make_node("Flatten", ["g"], ["f"], name="/Flatten"),
        helper.make_node("Gemm", ["f", "wf"], ["y"], name="/fc/Gemm", transB=1),
    ]
    inits = [w("w0", 8, 3, 3, 3), w("w1", 16, 8, 1, 1), w("wd", 16, 1, 3, 3), w("w2", 8, 16, 1, 1), w("wf", 10, 8)]
    graph = helper.make_graph(nodes, "res", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 12, 12])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_profile_an_onnx_file_node_by_node(tmp_path):
    path = tmp_path / "res.onnx"
    onnx.save(residual_model_with_weights(), path)
    result, layers, ops, other = profile_onnx(path, runs=3, warmup=1)
    assert list(layers["name"]) == list(result.table.frame["name"][1:])
    assert list(layers["type"]) == ["conv", "relu", "block", "pool", "fc"]
    # every node of the model has its time in a layer (the Flatten in the fc's), the block sums four nodes
    assert sorted(result.node_layer) == sorted(n.name for n in residual_model_with_weights().graph.node)
    assert list(ops.query("layer == 3")["type"]) == ["conv", "dwconv", "conv", "eltwise"]
    assert (layers["median_ms"] > 0).all() and other == 0.0


def test_cli_profile_onnx_and_spec_then_fit_per_type(tmp_path, capsys, write_toml):
    path = tmp_path / "res.onnx"
    onnx.save(residual_model_with_weights(), path)
    code, out, err = run(capsys, "profile", path, "--runs", "2", "--warmup", "0", "--out", tmp_path / "res.csv",
                         "--attach", tmp_path / "res-measured.toml", "--as", "local")
    assert code == 0, err
    assert "onnxruntime" in out and (tmp_path / "res.csv").exists() and (tmp_path / "res-ops.csv").exists()
    measured = dnn.load_spec(tmp_path / "res-measured.toml")
    assert all(layer.t_local_s is not None for layer in measured.layers)
    inst = instance_from_dict({"model": {"deadline_policy": "relax"},
                               "devices": [{"dnn": str(tmp_path / "res-measured.toml"), "alpha": 0.5, "beta": 0.25,
                                            "gamma": 0.25}]})
    np.testing.assert_allclose(inst.devices[0].t_local[1:], [layer.t_local_s for layer in measured.layers])
    spec = write_toml(BLOCKY, "blocky.toml")
    code, out, err = run(capsys, "profile", spec, "--runs", "2", "--warmup", "0", "--out", tmp_path / "b.csv")
    assert code == 0, err
    code, out, err = run(capsys, "fit", tmp_path / "res-ops.csv", tmp_path / "b-ops.csv", "--per-type",
                         "--test-fraction", "0", "--out", tmp_path / "pt.toml")
    assert code == 0, err
    assert "per-type" in out and (tmp_path / "pt.toml").exists()
    code, _, err = run(capsys, "profile", tmp_path / "missing.onnx")
    assert code == 2 and "not found" in err
