"""mecopt.byo.execution.split: head then tail equals the whole model; layer segments; the cut tensors."""

from __future__ import annotations

import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from mecopt.byo.execution import split  # noqa: E402
from mecopt.core import dnn  # noqa: E402
from mecopt.core.errors import InputError  # noqa: E402

BLOCKY = {"name": "blocky", "grouped_conv": "per_group", "input": {"channels": 2, "height": 8, "width": 8},
          "layers": [
              {"name": "conv1", "type": "conv", "out_channels": 4, "kernel": 3, "pad": 1},
              {"name": "res", "type": "block", "out_shape": [4, 8, 8], "ops": [
                  {"type": "conv", "op": "Conv", "G": 8, "K": 3, "O": 4, "I": 4},
                  {"type": "eltwise", "op": "Add", "G": 8, "K": 1, "O": 4, "I": 1}]},
              {"name": "relu2", "type": "relu"},
              {"name": "pool", "type": "pool", "kernel": 2, "stride": 2},
              {"name": "fc", "type": "fc", "out_features": 5}]}


def lenet():
    return split.from_spec(dnn.load_spec(dnn.resolve_path("lenet")))


def test_head_then_tail_equals_the_whole_model_at_every_point():
    lm = lenet()
    assert lm.M == 8
    for m in range(lm.M + 1):
        assert split.check_split(lm, m) <= 1e-6
        head, tail = split.split(lm, m)
        assert (head is None) == (m == 0) and (tail is None) == (m == lm.M)
        if head is not None and tail is not None:
            # the head hands over exactly the tensors the tail reads from it
            assert set(lm.boundary(m)) <= {o.name for o in head.graph.output}
            assert set(lm.boundary(m)) <= {i.name for i in tail.graph.input}


def test_the_cut_tensor_is_the_layer_output_the_spec_says():
    lm = lenet()
    table = dnn.propagate(dnn.load_spec(dnn.resolve_path("lenet")))
    assert lm.boundary(0) == ["x"]
    assert lm.boundary(2) == ["pool1.y"]
    shape_of = {vi.name: [d.dim_value for d in vi.type.tensor_type.shape.dim]
                for vi in lm.segment(1, 2).graph.output}
    c, h, w = (int(table.frame.iloc[2][k]) for k in ("C", "H", "W"))
    assert shape_of["pool1.y"] == [1, c, h, w]


def test_a_block_layer_hands_over_its_stand_in_output():
    lm = split.from_spec(dnn.parse_spec(BLOCKY))
    assert lm.carriers == {2: "res.out"}
    assert lm.boundary(2) == ["res.out"]
    assert "res.out" not in lm.free_inputs() and "x" not in lm.free_inputs()
    for m in range(lm.M + 1):
        assert split.check_split(lm, m) <= 1e-6


def test_a_wrong_tail_is_caught(monkeypatch):
    lm = lenet()
    real = split.split

    def tampered(lm_, m):
        head, tail = real(lm_, m)
        w = next(t for t in tail.graph.initializer if t.name == "ip2.w")
        w.float_data[:] = []
        w.raw_data = bytes(len(w.raw_data))   # zero weights: a different network
        return head, tail

    monkeypatch.setattr(split, "split", tampered)
    with pytest.raises(InputError, match="differs from the whole model"):
        split.check_split(lm, 3)


def test_segments_refuse_a_range_outside_the_network():
    with pytest.raises(InputError, match="not a range"):
        lenet().segment(3, 9)
    with pytest.raises(InputError, match="partition point"):
        split.split(lenet(), 9)
