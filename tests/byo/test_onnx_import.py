"""ONNX import (issue 6): chains import to the hand-written layer table, branches collapse or are refused,
unsupported operators are named. Models are built here with onnx.helper; weights carry shapes only."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

onnx = pytest.importorskip("onnx")
from helpers import run  # noqa: E402
from onnx import TensorProto, helper  # noqa: E402

from mecopt.byo.onnx_import import import_onnx  # noqa: E402
from mecopt.core import dnn  # noqa: E402
from mecopt.core.dnn import format_spec_toml  # noqa: E402
from mecopt.core.errors import InputError  # noqa: E402

FLOAT = TensorProto.FLOAT




def weight(name: str, *dims: int) -> TensorProto:
    """An initializer with a shape and no data: the importer reads shapes only (keeps the models tiny)."""
    return TensorProto(name=name, data_type=FLOAT, dims=list(dims))


def values(name: str, array) -> TensorProto:
    return onnx.numpy_helper.from_array(np.asarray(array), name)


def model(nodes, inits, in_shape, out_shape=None, opset=13):
    graph = helper.make_graph(nodes, "test", [helper.make_tensor_value_info("x", FLOAT, list(in_shape))],
                              [helper.make_tensor_value_info("y", FLOAT, out_shape)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def table(spec_or_data) -> pd.DataFrame:
    spec = spec_or_data if isinstance(spec_or_data, dnn.DNNSpec) else dnn.parse_spec(spec_or_data)
    return dnn.propagate(spec).frame


# ------------------------------------------------------------------ the chain CNN

CHAIN_SPEC = {
    "name": "chain",
    "input": {"channels": 3, "height": 32, "width": 32},
    "layers": [
        {"name": "conv1", "type": "conv", "out_channels": 16, "kernel": 5, "pad": 2},
        {"name": "relu1", "type": "relu"},
        {"name": "pool1", "type": "pool", "kernel": 2, "stride": 2},
        {"name": "conv2", "type": "conv", "out_channels": 32, "kernel": 3},
        {"name": "relu2", "type": "relu"},
        {"name": "fc1", "type": "fc", "out_features": 10},
        {"name": "prob", "type": "softmax"},
    ],
}


def chain_cnn(batch=1):
    """Conv-Relu-MaxPool-Conv-Relu-Flatten-Gemm-Softmax, as an exporter writes it."""
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", kernel_shape=[5, 5], pads=[2, 2, 2, 2]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("MaxPool", ["r1"], ["p1"], name="pool1", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["p1", "w2", "b2"], ["c2"], name="conv2", kernel_shape=[3, 3]),
        helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
        helper.make_node("Flatten", ["r2"], ["f"], name="flatten", axis=1),
        helper.make_node("Gemm", ["f", "wf", "bf"], ["g"], name="fc1", transB=1),
        helper.make_node("Softmax", ["g"], ["y"], name="prob", axis=1),
    ]
    inits = [weight("w1", 16, 3, 5, 5), weight("b1", 16), weight("w2", 32, 16, 3, 3), weight("b2", 32),
             weight("wf", 10, 32 * 14 * 14), weight("bf", 10)]
    return model(nodes, inits, [batch, 3, 32, 32], out_shape=[batch, 10])


def test_chain_cnn_imports_to_the_hand_written_layer_table():
    result = import_onnx(chain_cnn(), name="chain")
    pd.testing.assert_frame_equal(result.table.frame, table(CHAIN_SPEC))
    assert [layer["type"] for layer in result.data["layers"]] == [
        "conv", "relu", "pool", "conv", "relu", "fc", "softmax"]
    assert not any("out_shape" in layer for layer in result.data["layers"])  # real types, no overrides
    assert any("Flatten" in note for note in result.notes)


def test_written_toml_reads_back_to_the_same_table(tmp_path):
    result = import_onnx(chain_cnn(), name="chain")
    path = tmp_path / "chain.toml"
    path.write_text(result.to_toml())
    pd.testing.assert_frame_equal(dnn.propagate(dnn.load_spec(path)).frame, table(CHAIN_SPEC))
    # the style of models/dnn: one inline table per layer
    assert ('layers = [\n  { name = "conv1", type = "conv", out_channels = 16, kernel = 5, pad = 2 },'
            in path.read_text())


def test_cli_import_onnx_writes_a_loadable_spec(tmp_path, capsys):
    src = tmp_path / "net.onnx"
    onnx.save(chain_cnn(), src)
    out = tmp_path / "specs" / "net.toml"
    code, stdout, _ = run(capsys, "import-onnx", src, "--out", out)
    assert code == 0, stdout
    assert f"wrote {out} (7 layers)" in stdout
    t = dnn.layer_table(str(out))
    assert t.name == "net" and t.num_layers == 7
    pd.testing.assert_frame_equal(t.frame.drop(columns="name"), table(CHAIN_SPEC).drop(columns="name"))
    # no silent overwrite
    code, _, err = run(capsys, "import-onnx", src, "--out", out)
    assert code == 2 and "--force" in err
    assert run(capsys, "import-onnx", src, "--out", out, "--force", "-q")[0] == 0


def test_symbolic_batch_is_one_sample():
    result = import_onnx(chain_cnn(batch="N"), name="chain")
    pd.testing.assert_frame_equal(result.table.frame, table(CHAIN_SPEC))


def test_bundled_lenet_and_alexnet_round_trip():
    """Caffe's LeNet and AlexNet (grouped convs, LRN) written as ONNX import to the bundled specs' tables."""
    for name in ("lenet", "alexnet"):
        spec = dnn.load_spec(dnn.resolve_path(name))
        m = _onnx_from_spec(spec)
        result = import_onnx(m, name=name)
        # imported specs count grouped convolutions per group (MACs-consistent); the bundled AlexNet keeps
        # its full input channels by default (MODEL.md §1), and either rule can be forced for both
        assert result.spec.grouped_conv == "per_group" and spec.grouped_conv == "full"
        pd.testing.assert_frame_equal(result.table.frame, dnn.propagate(spec, "per_group").frame)
        for rule in ("full", "per_group"):
            pd.testing.assert_frame_equal(dnn.propagate(result.spec, rule).frame, dnn.propagate(spec, rule).frame)


def _onnx_from_spec(spec: dnn.DNNSpec):
    """An ONNX graph for a chain spec of conv/pool/fc/relu/lrn/softmax (test helper)."""
    frame = dnn.propagate(spec).frame
    nodes, inits, x, flat = [], [], "x", False
    for i, layer in enumerate(spec.layers):
        prev = frame.iloc[i]  # the layer's input
        c_in, n_in = int(prev.C), int(prev.C * prev.H * prev.W)
        y = "y" if i == len(spec.layers) - 1 else f"t{i}"
        t, n = layer.type, layer.name
        if t == "conv":
            k, p, s = layer.kernel, layer.pad, layer.stride
            inits += [weight(f"{n}.w", layer.out_channels, c_in // layer.groups, k, k),
                      weight(f"{n}.b", layer.out_channels)]
            nodes.append(helper.make_node("Conv", [x, f"{n}.w", f"{n}.b"], [y], name=n, kernel_shape=[k, k],
                                          strides=[s, s], pads=[p] * 4, group=layer.groups))
        elif t == "pool":
            nodes.append(helper.make_node("MaxPool", [x], [y], name=n, kernel_shape=[layer.kernel] * 2,
                                          strides=[layer.stride] * 2, pads=[layer.pad] * 4,
                                          ceil_mode=int(layer.ceil_mode)))
        elif t == "fc":
            if not flat:
                nodes.append(helper.make_node("Flatten", [x], [f"{n}.flat"], name=f"{n}.flatten"))
                x, flat = f"{n}.flat", True
            inits += [weight(f"{n}.w", layer.out_features, n_in), weight(f"{n}.b", layer.out_features)]
            nodes.append(helper.make_node("Gemm", [x, f"{n}.w", f"{n}.b"], [y], name=n, transB=1))
        elif t == "relu":
            nodes.append(helper.make_node("Relu", [x], [y], name=n))
        elif t == "lrn":
            nodes.append(helper.make_node("LRN", [x], [y], name=n, size=5, alpha=1e-4, beta=0.75))
        elif t == "softmax":
            nodes.append(helper.make_node("Softmax", [x], [y], name=n, axis=1))
        x = y
    return model(nodes, inits, [1, spec.input.channels, spec.input.height, spec.input.width])


def test_exporter_style_chain_folds_batchnorm_bias_and_shape_arithmetic():
    """What torch's exporter writes: BatchNormalization after Conv, Dropout, a Reshape whose target shape is
    computed from Shape/Gather/Concat (at opset 13, where ONNX propagates such shapes only after conversion
    to opset 17), MatMul + Add for the linear layer."""
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["c1"], name="/features/features.0/Conv", kernel_shape=[3, 3],
                         pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c1", "s", "bb", "m", "v"], ["bn"], name="/features/features.1/BN"),
        helper.make_node("Relu", ["bn"], ["r1"], name="/features/features.2/Relu"),
        helper.make_node("AveragePool", ["r1"], ["p1"], name="/features/features.3/AveragePool",
                         kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Shape", ["p1"], ["sh"], name="/Shape"),
        helper.make_node("Gather", ["sh", "zero"], ["n"], name="/Gather", axis=0),
        helper.make_node("Unsqueeze", ["n", "axes0"], ["n1"], name="/Unsqueeze"),
        helper.make_node("Concat", ["n1", "minus1"], ["target"], name="/Concat", axis=0),
        helper.make_node("Reshape", ["p1", "target"], ["flat"], name="/Reshape"),
        helper.make_node("Dropout", ["flat"], ["d"], name="/classifier/classifier.0/Dropout"),
        helper.make_node("MatMul", ["d", "wf"], ["mm"], name="/classifier/classifier.1/MatMul"),
        helper.make_node("Add", ["mm", "bf"], ["y"], name="/classifier/classifier.1/Add"),
    ]
    inits = [weight("w1", 8, 3, 3, 3), weight("s", 8), weight("bb", 8), weight("m", 8), weight("v", 8),
             values("zero", np.array(0, dtype=np.int64)), values("axes0", np.array([0], dtype=np.int64)),
             values("minus1", np.array([-1], dtype=np.int64)), weight("wf", 8 * 8 * 8, 5), weight("bf", 5)]
    result = import_onnx(model(nodes, inits, ["batch", 3, 16, 16]), name="exp")
    expected = {"name": "exp", "input": {"channels": 3, "height": 16, "width": 16}, "layers": [
        {"name": "features.0", "type": "conv", "out_channels": 8, "kernel": 3, "pad": 1},
        {"name": "features.2", "type": "relu"},
        {"name": "features.3", "type": "pool", "kernel": 2, "stride": 2},
        {"name": "classifier.1", "type": "fc", "out_features": 5},
    ]}
    pd.testing.assert_frame_equal(result.table.frame, table(expected))
    notes = " ".join(result.notes)
    assert "BatchNormalization" in notes and "Dropout" in notes and "Add" in notes
    # (the Shape -> Gather -> Concat target is folded by the importer; ONNX alone propagates it only at opset 17)


def test_shapes_the_plain_fields_cannot_express_become_explicit_overrides():
    """A non-square kernel, asymmetric padding and an activation on a flattened vector keep ONNX's shapes."""
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], name="conv", kernel_shape=[3, 1], pads=[1, 0, 1, 0]),
        helper.make_node("MaxPool", ["c"], ["p"], name="pool", kernel_shape=[2, 2], strides=[2, 2],
                         pads=[0, 0, 1, 1]),
        helper.make_node("Flatten", ["p"], ["f"], name="flat"),
        helper.make_node("Sigmoid", ["f"], ["y"], name="act"),
    ]
    m = model(nodes, [weight("w", 4, 2, 3, 1)], [1, 2, 9, 7])
    result = import_onnx(m, name="odd")
    inferred = onnx.shape_inference.infer_shapes(m)
    shapes = {vi.name: [d.dim_value for d in vi.type.tensor_type.shape.dim]
              for vi in list(inferred.graph.value_info) + list(inferred.graph.output)}
    frame = result.table.frame
    assert tuple(frame.loc[1, ["C", "H", "W"]]) == tuple(shapes["c"][1:]) == (4, 9, 7)
    assert tuple(frame.loc[2, ["C", "H", "W"]]) == tuple(shapes["p"][1:]) == (4, 5, 4)
    assert tuple(frame.loc[3, ["C", "H", "W"]]) == (80, 1, 1)
    conv, pool, act = result.data["layers"]
    assert conv["out_shape"] == [4, 9, 7] and conv["K"] == pytest.approx(math.sqrt(3))
    assert (conv["G"], conv["O"], conv["I"]) == (9, 2, 4)
    assert pool["out_shape"] == [4, 5, 4] and pool["K"] == 2
    assert act["type"] == "relu" and act["out_shape"] == [80, 1, 1] and (act["G"], act["O"]) == (1, 80)


def test_symbolic_spatial_input_needs_input_shape():
    m = chain_cnn()
    dims = m.graph.input[0].type.tensor_type.shape.dim
    dims[2].Clear()
    dims[2].dim_param = "H"
    with pytest.raises(InputError, match="--input-shape"):
        import_onnx(m)
    result = import_onnx(m, name="chain", input_shape=(3, 32, 32))
    pd.testing.assert_frame_equal(result.table.frame, table(CHAIN_SPEC))


# ------------------------------------------------------------------ branches

def residual_net():
    """conv-relu, then a residual block (conv-relu-conv + identity, Add, Relu), global pool, fc."""
    nodes = [
        helper.make_node("Conv", ["x", "w0"], ["a"], name="/stem/Conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["a"], ["a1"], name="/stem_relu/Relu"),
        helper.make_node("Conv", ["a1", "w1"], ["b"], name="/layer1/conv1/Conv", kernel_shape=[3, 3],
                         pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["b"], ["b1"], name="/layer1/relu/Relu"),
        helper.make_node("Conv", ["b1", "w2"], ["b2"], name="/layer1/conv2/Conv", kernel_shape=[3, 3],
                         pads=[1, 1, 1, 1]),
        helper.make_node("Add", ["b2", "a1"], ["s"], name="/layer1/Add"),
        helper.make_node("Relu", ["s"], ["s1"], name="/layer1/relu_1/Relu"),
        helper.make_node("GlobalAveragePool", ["s1"], ["g"], name="/pool/GlobalAveragePool"),
        helper.make_node("Flatten", ["g"], ["f"], name="/Flatten"),
        helper.make_node("Gemm", ["f", "wf"], ["y"], name="/fc/Gemm", transB=1),
    ]
    inits = [weight("w0", 8, 3, 3, 3), weight("w1", 8, 8, 3, 3), weight("w2", 8, 8, 3, 3), weight("wf", 10, 8)]
    return model(nodes, inits, [1, 3, 12, 12])


def test_residual_block_is_collapsed_between_crossing_points():
    result = import_onnx(residual_net(), name="res")
    layers = result.data["layers"]
    # the Relu after the Add works in place on the block's output: it joins the block (no duplicate point)
    assert [(l["name"], l["type"]) for l in layers] == [
        ("stem", "conv"), ("stem_relu", "relu"), ("layer1", "block"), ("pool", "pool"), ("fc", "fc")]
    block = layers[2]
    assert block["out_shape"] == [8, 12, 12]
    assert [(op["type"], op["op"]) for op in block["ops"]] == [
        ("conv", "Conv"), ("eltwise", "Relu"), ("conv", "Conv"), ("eltwise", "Add"), ("eltwise", "Relu")]
    assert all((op["G"], op["O"]) == (12, 8) for op in block["ops"])
    assert [(op["K"], op["I"]) for op in block["ops"]] == [(3, 8), (1, 1), (3, 8), (1, 1), (1, 1)]
    frame = result.table.frame
    assert list(frame["type"]) == ["input", "conv", "relu", "block", "pool", "fc"]
    # the table's summary of the block: G²K²OI = the sum over its operators
    macs = 2 * 12**2 * 3**2 * 8 * 8 + 3 * 12**2 * 8
    G, K, O, I = frame.loc[3, ["G", "K", "O", "I"]]
    assert (G, O, I) == (12, 8, 8) and G**2 * K**2 * O * I == pytest.approx(macs)
    assert tuple(frame.loc[4, ["C", "H", "W", "G", "K"]]) == (8, 1, 1, 1.0, 12.0)
    assert any("branching" in n for n in result.notes) and any("in place" in n for n in result.notes)
    assert "4 nodes: Conv x2, Relu, Add, Relu (in place)" in result.to_toml()
    again = dnn.parse_spec(__import__("tomllib").loads(result.to_toml()))
    pd.testing.assert_frame_equal(dnn.propagate(again).op_frame(), result.table.op_frame())


def test_residual_block_refused_names_the_forking_and_merging_nodes(tmp_path, capsys):
    with pytest.raises(InputError) as err:
        import_onnx(residual_net(), branches="refuse")
    msg = str(err.value)
    assert "branches" in msg
    assert "tensor 'a1': forks into Conv '/layer1/conv1/Conv', Add '/layer1/Add'" in msg
    assert "Add '/layer1/Add': merges 'b2', 'a1'" in msg
    src = tmp_path / "res.onnx"
    onnx.save(residual_net(), src)
    code, _, stderr = run(capsys, "import-onnx", src, "--branches", "refuse", "--out", tmp_path / "r.toml")
    assert code == 2 and "/layer1/Add" in stderr
    assert not (tmp_path / "r.toml").exists()


def test_branch_to_the_output_is_not_a_partition_point():
    """Two heads concatenated at the end: everything after the fork is one block."""
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], name="conv", kernel_shape=[1, 1]),
        helper.make_node("MaxPool", ["c"], ["p1"], name="left", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("AveragePool", ["c"], ["p2"], name="right", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Concat", ["p1", "p2"], ["y"], name="cat", axis=1),
    ]
    result = import_onnx(model(nodes, [weight("w", 4, 3, 1, 1)], [1, 3, 8, 8]), name="heads")
    assert [l["type"] for l in result.data["layers"]] == ["conv", "block"]
    assert result.data["layers"][1]["out_shape"] == [8, 4, 4]


# ------------------------------------------------------------------ unsupported operators

def test_unsupported_operator_is_named(tmp_path, capsys):
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], name="conv1", kernel_shape=[3, 3]),
        helper.make_node("LpNormalization", ["c"], ["n"], name="norm_p", axis=1),
        helper.make_node("Relu", ["n"], ["y"], name="relu1"),
    ]
    m = model(nodes, [weight("w", 4, 3, 3, 3)], [1, 3, 8, 8])
    with pytest.raises(InputError, match=r"unsupported operator\(s\) LpNormalization") as err:
        import_onnx(m)
    assert "LpNormalization 'norm_p'" in str(err.value)
    src = tmp_path / "bad.onnx"
    onnx.save(m, src)
    code, _, stderr = run(capsys, "import-onnx", src, "--out", tmp_path / "bad.toml")
    assert code == 2 and "LpNormalization 'norm_p'" in stderr


def test_every_problem_is_reported_in_one_run_without_a_misleading_hint():
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], name="conv1", kernel_shape=[3, 3]),
        helper.make_node("LpNormalization", ["c"], ["n"], name="norm_p", axis=1),
        helper.make_node("Relu", ["n"], ["r"], name="relu1"),
        helper.make_node("Einsum", ["r"], ["y"], name="einsum", equation="nchw->nchw"),
    ]
    with pytest.raises(InputError) as err:
        import_onnx(model(nodes, [weight("w", 4, 3, 3, 3)], [1, 3, 8, 8]))
    msg = str(err.value)
    assert "LpNormalization 'norm_p'" in msg and "Einsum 'einsum'" in msg
    assert "--input-shape" not in msg  # the input's shape is fixed: that hint would not apply


def test_unreadable_and_multi_input_models_are_input_errors(tmp_path):
    bad = tmp_path / "junk.onnx"
    bad.write_bytes(b"not a protobuf at all")
    with pytest.raises(InputError):
        import_onnx(bad)
    with pytest.raises(InputError, match="not found"):
        import_onnx(tmp_path / "missing.onnx")
    g = helper.make_graph([helper.make_node("Add", ["x", "z"], ["y"])], "two",
                          [helper.make_tensor_value_info("x", FLOAT, [1, 3]),
                           helper.make_tensor_value_info("z", FLOAT, [1, 3])],
                          [helper.make_tensor_value_info("y", FLOAT, None)])
    with pytest.raises(InputError, match="exactly one graph input"):
        import_onnx(helper.make_model(g))


def test_format_spec_toml_round_trips_explicit_fields():
    data = {"name": "x", "description": 'quote " and \\ backslash', "input": {"channels": 1, "height": 4, "width": 4},
            "layers": [{"name": "b", "type": "block", "out_shape": [2, 2, 2], "G": 2, "K": 0.5, "O": 1, "I": 2}]}
    text = format_spec_toml(data, header=["# hello"], comments={0: "a block"})
    spec = dnn.parse_spec(__import__("tomllib").loads(text))
    assert spec.description == data["description"]
    assert spec.layers[0].K == 0.5 and spec.layers[0].out_shape == (2, 2, 2)


def test_import_needs_nothing_from_disk_but_the_model(tmp_path, monkeypatch):
    """The importer reads shapes only: a model saved with weights imports the same as the shape-only one."""
    rng = np.random.default_rng(0)
    m = chain_cnn()
    for init in m.graph.initializer:
        init.CopyFrom(values(init.name, rng.standard_normal(tuple(init.dims)).astype(np.float32)))
    onnx.checker.check_model(m)
    path = tmp_path / "full.onnx"
    onnx.save(m, path)
    monkeypatch.chdir(tmp_path)
    pd.testing.assert_frame_equal(import_onnx(Path("full.onnx"), name="chain").table.frame, table(CHAIN_SPEC))


def test_torch_export_of_the_chain_cnn(tmp_path):
    """A real exporter's output (PyTorch's TorchScript-based exporter) imports to the hand-written table."""
    torch = pytest.importorskip("torch")
    nn = torch.nn
    net = nn.Sequential(
        nn.Conv2d(3, 16, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2, 2),
        nn.Conv2d(16, 32, 3), nn.ReLU(), nn.Dropout(),
        nn.Flatten(), nn.Linear(32 * 14 * 14, 10), nn.Softmax(dim=1),
    ).eval()
    path = tmp_path / "chain.onnx"
    try:
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(net, (torch.randn(1, 3, 32, 32),), str(path), dynamo=False,
                              input_names=["x"], output_names=["y"], dynamic_axes={"x": {0: "N"}, "y": {0: "N"}})
    except Exception as err:  # the exporter itself is optional here (it may need onnxscript)
        pytest.skip(f"torch.onnx.export unavailable: {err}")
    result = import_onnx(path, name="chain")
    pd.testing.assert_frame_equal(result.table.frame.drop(columns="name"), table(CHAIN_SPEC).drop(columns="name"))
    assert list(result.table.frame["name"][1:]) == ["conv0", "relu1", "maxpool2", "conv3", "relu4", "gemm7",
                                                    "softmax8"]
