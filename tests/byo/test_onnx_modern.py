"""Importer for today's networks (issue 10): per-operator block factors, the grouped-convolution rule,
merged partition points, the operators of ShuffleNet/ConvNeXt/ViT, light loading. Models are built with
onnx.helper (weights carry shapes only unless a test needs data)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from mecopt.byo.onnx_import import _light_bytes, import_onnx  # noqa: E402
from mecopt.core import dnn  # noqa: E402
from mecopt.core.delay import layer_delays, load_coefficients  # noqa: E402

FLOAT = TensorProto.FLOAT


def weight(name, *dims):
    return TensorProto(name=name, data_type=FLOAT, dims=list(dims))


def ints(name, values):
    return numpy_helper.from_array(np.asarray(values, dtype=np.int64), name)


def model(nodes, inits, in_shape, opset=17):
    graph = helper.make_graph(nodes, "m", [helper.make_tensor_value_info("x", FLOAT, list(in_shape))],
                              [helper.make_tensor_value_info("y", FLOAT, None)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def inverted_residual(C=8, E=16, S=6):
    """MobileNetV2's inverted residual: 1x1 expand, ReLU, 3x3 depthwise, ReLU, 1x1 project, + input."""
    nodes = [
        helper.make_node("Conv", ["x", "we"], ["e"], name="/b/expand/Conv", kernel_shape=[1, 1]),
        helper.make_node("Relu", ["e"], ["e1"], name="/b/relu1/Relu"),
        helper.make_node("Conv", ["e1", "wd"], ["d"], name="/b/dw/Conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                         group=E),
        helper.make_node("Relu", ["d"], ["d1"], name="/b/relu2/Relu"),
        helper.make_node("Conv", ["d1", "wp"], ["p"], name="/b/project/Conv", kernel_shape=[1, 1]),
        helper.make_node("Add", ["p", "x"], ["y"], name="/b/Add"),
    ]
    inits = [weight("we", E, C, 1, 1), weight("wd", E, 1, 3, 3), weight("wp", C, E, 1, 1)]
    return model(nodes, inits, [1, C, S, S]), nodes, inits


def one_node(node, inits, in_shape):
    """The node alone, reading the graph input (a second data input reads it too: Add(x, x))."""
    n = helper.make_node(node.op_type, ["x" if i in ("x", "e", "e1", "d", "d1", "p") else i for i in node.input],
                         ["y"], name=node.name, **{a.name: helper.get_attribute_value(a) for a in node.attribute})
    return model([n], [i for i in inits if i.name in n.input], in_shape)


def test_block_with_a_depthwise_conv_predicts_the_sum_of_its_ops_imported_one_by_one():
    C, E, S = 8, 16, 6
    m, nodes, inits = inverted_residual(C, E, S)
    result = import_onnx(m, name="ir")
    assert [layer["type"] for layer in result.data["layers"]] == ["block"]
    ops = result.data["layers"][0]["ops"]
    assert [op["type"] for op in ops] == ["conv", "eltwise", "dwconv", "eltwise", "conv", "eltwise"]
    assert ops[2] == {"type": "dwconv", "op": "Conv", "G": S, "K": 3, "O": 1, "I": E, "groups": E}
    in_shapes = [(1, C, S, S), (1, E, S, S), (1, E, S, S), (1, E, S, S), (1, E, S, S), (1, C, S, S)]
    for name in ("device", "server"):
        coef = load_coefficients(name)
        block = layer_delays(coef, result.table)[1]
        alone = sum(layer_delays(coef, import_onnx(one_node(n, inits, shape)).table).sum()
                    for n, shape in zip(nodes, in_shapes))
        assert block == pytest.approx(alone, rel=1e-12)
    # a depthwise conv counts one input channel per group under every rule but "full"
    assert dnn.uses_channels_per_group("auto", "full", E, 1)
    assert not dnn.uses_channels_per_group("auto", "full", 2, 48)   # AlexNet's two groups keep C_in
    assert dnn.uses_channels_per_group("auto", "per_group", 2, 48)  # ... unless the spec says per group
    full = dnn.propagate(result.spec, "full").op_frame()
    assert list(full["O"]) == [C, E, E, E, E, C]  # forced: the depthwise conv counts all E input channels


def test_grouped_conv_rule_of_imported_specs_and_paper_networks():
    nodes = [helper.make_node("Conv", ["x", "w"], ["y"], name="g", kernel_shape=[3, 3], group=4)]
    spec = import_onnx(model(nodes, [weight("w", 16, 2, 3, 3)], [1, 8, 10, 10])).spec
    assert spec.grouped_conv == "per_group"
    assert dnn.propagate(spec).frame.loc[1, "O"] == 2
    assert dnn.propagate(spec, "full").frame.loc[1, "O"] == 8
    alex = dnn.layer_table("alexnet")  # the default "auto" keeps the paper's numbers
    assert alex.frame.loc[5, "O"] == 96
    pd.testing.assert_frame_equal(alex.frame, dnn.layer_table("alexnet", "full").frame)


def test_identity_copies_make_no_partition_point():
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], name="conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("AveragePool", ["c"], ["a"], name="adaptive", kernel_shape=[1, 1], strides=[1, 1]),
        helper.make_node("Identity", ["a"], ["i"], name="ident"),
        helper.make_node("Relu", ["i"], ["y"], name="relu"),
    ]
    result = import_onnx(model(nodes, [weight("w", 4, 3, 3, 3)], [1, 3, 7, 7]))
    assert [layer["type"] for layer in result.data["layers"]] == ["conv", "relu"]
    assert "AveragePool 'adaptive'" in " ".join(result.notes)


def test_channel_shuffle_reduce_mean_and_split():
    """ShuffleNetV2: x.chunk(2) (Split), a branch, Concat, a rank-5 Reshape/Transpose/Reshape, then ReduceMean."""
    nodes = [
        helper.make_node("Split", ["x", "halves"], ["a", "b"], name="/u/Split", axis=1),
        helper.make_node("Conv", ["b", "w"], ["c"], name="/u/branch/Conv", kernel_shape=[1, 1]),
        helper.make_node("Concat", ["a", "c"], ["cat"], name="/u/Concat", axis=1),
        helper.make_node("Reshape", ["cat", "s5"], ["r5"], name="/u/Reshape"),
        helper.make_node("Transpose", ["r5"], ["t5"], name="/u/Transpose", perm=[0, 2, 1, 3, 4]),
        helper.make_node("Reshape", ["t5", "s4"], ["r4"], name="/u/Reshape_1"),
        helper.make_node("ReduceMean", ["r4"], ["y"], name="/ReduceMean", axes=[2, 3], keepdims=0),
    ]
    inits = [ints("halves", [4, 4]), weight("w", 4, 4, 1, 1), ints("s5", [1, 2, 4, 6, 6]), ints("s4", [1, 8, 6, 6])]
    result = import_onnx(model(nodes, inits, [1, 8, 6, 6], opset=17))
    layers = result.data["layers"]
    assert [layer["type"] for layer in layers] == ["block", "copy", "pool"]
    assert [op["op"] for op in layers[0]["ops"]] == ["Split", "Conv", "Concat"]
    assert layers[1].get("out_shape") is None  # (1, 2, 4, 6, 6) -> (1, 4, 2, 6, 6) is the same (8, 6, 6) view
    pool = result.table.frame.iloc[3]
    assert (pool.C, pool.H, pool.W) == (8, 1, 1)
    assert pool.G ** 2 * pool.K ** 2 * pool.O == 8 * 6 * 6  # reads every input element once
    ops = result.table.op_frame()
    assert list(ops["type"]) == ["eltwise", "conv", "eltwise", "eltwise", "pool"]


def attention_block(T=5, F=8, heads=2):
    """A pre-norm transformer encoder block on tokens (1, T, F): LayerNorm, QKV projection, per-head
    Q·Kᵀ, Softmax over the last axis, A·V, output projection, residual; then a decomposed GELU."""
    d = F // heads
    nodes = [
        helper.make_node("LayerNormalization", ["x", "g", "bt"], ["n"], name="/l/ln/LayerNormalization", axis=-1),
        helper.make_node("MatMul", ["n", "wqkv"], ["qkv"], name="/l/attn/MatMul"),
        helper.make_node("Split", ["qkv", "thirds"], ["q", "k", "v"], name="/l/attn/Split", axis=-1),
        helper.make_node("Reshape", ["q", "heads"], ["q4"], name="/l/attn/Reshape"),
        helper.make_node("Transpose", ["q4"], ["qh"], name="/l/attn/Transpose", perm=[0, 2, 1, 3]),
        helper.make_node("Reshape", ["k", "heads"], ["k4"], name="/l/attn/Reshape_1"),
        helper.make_node("Transpose", ["k4"], ["kt"], name="/l/attn/Transpose_1", perm=[0, 2, 3, 1]),
        helper.make_node("Reshape", ["v", "heads"], ["v4"], name="/l/attn/Reshape_2"),
        helper.make_node("Transpose", ["v4"], ["vh"], name="/l/attn/Transpose_2", perm=[0, 2, 1, 3]),
        helper.make_node("MatMul", ["qh", "kt"], ["s"], name="/l/attn/MatMul_1"),
        helper.make_node("Softmax", ["s"], ["p"], name="/l/attn/Softmax", axis=-1),
        helper.make_node("MatMul", ["p", "vh"], ["o"], name="/l/attn/MatMul_2"),
        helper.make_node("Transpose", ["o"], ["o2"], name="/l/attn/Transpose_3", perm=[0, 2, 1, 3]),
        helper.make_node("Reshape", ["o2", "tokens"], ["o3"], name="/l/attn/Reshape_3"),
        helper.make_node("MatMul", ["o3", "wo"], ["proj"], name="/l/attn/MatMul_3"),
        helper.make_node("Add", ["proj", "x"], ["res"], name="/l/Add"),
        # GELU as exporters decompose it: x * (0.5 * (1 + erf(x / sqrt 2)))
        helper.make_node("Div", ["res", "sqrt2"], ["g1"], name="/gelu/Div"),
        helper.make_node("Erf", ["g1"], ["g2"], name="/gelu/Erf"),
        helper.make_node("Add", ["g2", "one"], ["g3"], name="/gelu/Add"),
        helper.make_node("Mul", ["g3", "half"], ["g4"], name="/gelu/Mul"),
        helper.make_node("Mul", ["res", "g4"], ["act"], name="/gelu/Mul_1"),
        helper.make_node("Gather", ["act", "zero"], ["cls"], name="/Gather", axis=1),
        helper.make_node("Gemm", ["cls", "wh"], ["y"], name="/head/Gemm", transB=1),
    ]
    scalar = lambda name, v: numpy_helper.from_array(np.asarray(v, dtype=np.float32), name)  # noqa: E731
    inits = [weight("g", F), weight("bt", F), weight("wqkv", F, 3 * F), ints("thirds", [F, F, F]),
             ints("heads", [1, T, heads, d]), ints("tokens", [1, T, F]), weight("wo", F, F),
             scalar("sqrt2", math.sqrt(2)), scalar("one", 1.0), scalar("half", 0.5),
             numpy_helper.from_array(np.asarray(0, dtype=np.int64), "zero"), weight("wh", 3, F)]
    return model(nodes, inits, [1, T, F])


def test_attention_layernorm_softmax_gelu_and_class_token():
    T, F, h = 5, 8, 2
    result = import_onnx(attention_block(T, F, h), name="vit")
    layers = result.data["layers"]
    assert [layer["type"] for layer in layers] == ["block", "block", "copy", "fc"]
    attn = result.table.op_frame().query("layer == 1")
    by_op = attn.groupby("type").size().to_dict()
    assert by_op == {"norm": 2, "fc": 2, "attention": 2, "eltwise": 6}  # LN + Softmax; Split, 4 Transposes, Add
    macs = attn.query("type in ['fc', 'attention']").eval("G**2 * K**2 * O * I").sum()
    assert macs == pytest.approx(T * F * 3 * F + 2 * h * T * T * (F // h) + T * F * F)
    softmax = attn[attn["op"] == "Softmax"].iloc[0]
    assert softmax.G ** 2 * softmax.O == pytest.approx(h * T * T)  # any axis: its elements
    gelu = result.table.op_frame().query("layer == 2")
    assert list(gelu["op"]) == ["Div", "Erf", "Add", "Mul", "Mul"] and set(gelu["type"]) == {"eltwise"}
    assert list(gelu["G"] ** 2 * gelu["O"]) == pytest.approx([T * F] * 5)
    cls = result.table.frame.iloc[3]
    assert cls.out_elements == F  # the class token
    assert tuple(result.table.frame.iloc[4][["C", "G", "O", "I"]]) == (3, 1, F, 3)


def test_light_reading_leaves_the_weights_out(tmp_path):
    m, _, _ = inverted_residual()
    rng = np.random.default_rng(0)
    big = numpy_helper.from_array(rng.standard_normal((16, 8, 1, 1)).astype(np.float32), "we")
    for init in m.graph.initializer:
        if init.name == "we":
            init.CopyFrom(big)
    import mecopt.byo.onnx_import as imp
    light = onnx.ModelProto.FromString(_light_bytes(m.SerializeToString()))
    assert [len(t.raw_data) for t in light.graph.initializer] == [len(big.raw_data), 0, 0]  # small ones stay
    old = imp._LIGHT_LIMIT
    imp._LIGHT_LIMIT = 64  # now "we" is large too: shapes only, same import
    try:
        light = onnx.ModelProto.FromString(_light_bytes(m.SerializeToString()))
        assert all(len(t.raw_data) == 0 and list(t.dims) for t in light.graph.initializer)
        path = tmp_path / "ir.onnx"
        onnx.save(m, path)
        pd.testing.assert_frame_equal(import_onnx(path, name="ir").table.op_frame(), import_onnx(m).table.op_frame())
    finally:
        imp._LIGHT_LIMIT = old
