"""mecopt execute on a user's ONNX file (a LeNet-sized model built with onnx.helper): the file is split where the
imported spec's partition points are, head then tail equals the whole, and the plan runs."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from execution_helpers import plan  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from mecopt.byo.execution import report, runner, split  # noqa: E402
from mecopt.byo.onnx_import import import_onnx  # noqa: E402
from mecopt.core import dnn  # noqa: E402
from mecopt.core.errors import InputError  # noqa: E402
from mecopt.core.instance import Instance  # noqa: E402


def tiny_lenet(path):
    rng = np.random.default_rng(0)
    w = lambda name, *shape: numpy_helper.from_array((0.1 * rng.standard_normal(shape)).astype(np.float32), name)  # noqa: E731
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", kernel_shape=[5, 5]),
             helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
             helper.make_node("MaxPool", ["r1"], ["p1"], name="pool1", kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Flatten", ["p1"], ["f"], name="flat"),
             helper.make_node("Gemm", ["f", "w2", "b2"], ["g"], name="fc", transB=1),
             helper.make_node("Softmax", ["g"], ["y"], name="prob", axis=1)]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 28, 28])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])
    graph = helper.make_graph(nodes, "tiny_lenet", [x], [y],
                              [w("w1", 6, 1, 5, 5), w("b1", 6), w("w2", 10, 6 * 12 * 12), w("b2", 10)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_a_user_onnx_file_is_split_and_executed(tmp_path):
    path = tiny_lenet(tmp_path / "tiny_lenet.onnx")
    imported = import_onnx(path)
    (tmp_path / "tiny_lenet.toml").write_text(dnn.format_spec_toml(imported.data))
    lm = split.from_onnx(path)
    assert lm.M == len(imported.spec.layers) and lm.carriers == {}
    for m in range(lm.M + 1):
        assert split.check_split(lm, m) <= 1e-6
    inst = Instance.from_dict({"name": "file", "model": {"bits_per_element": 32},
                               "server": {"slots": 2, "frame_s": 0.1, "parallel_limit": 1},
                               "device_defaults": {"dnn": str(tmp_path / "tiny_lenet.toml"), "bandwidth_hz": 1e6},
                               "devices": [{"count": 1}]})
    M = inst.devices[0].M
    ex = runner.execute(plan(inst, [[0] + [1] * (M - 1)]), runs=1, warmup=0, onnx_models={"tiny_lenet": str(path)})
    devices = report.devices_table(ex)
    # the cut tensor is the file's own: conv1's output, 6x24x24 float32
    assert devices.loc[0, "up_bits_real"] == 32 * 6 * 24 * 24 == devices.loc[0, "up_bits_model"]
    assert {(r["first"], r["last"]) for r in ex.records[0]} == {(2, M)}
    with pytest.raises(InputError, match="not found"):   # the file, not the spec, is what runs
        runner.execute(plan(inst, [[0] + [1] * (M - 1)]), runs=1, onnx_models={"tiny_lenet": str(tmp_path / "no.onnx")})
