"""Calibrated to the user's hardware (issue 20): profiling the optimized graph with every node given to a layer,
fits that cannot go negative (a layer = the sum of its operators), `mecopt calibrate`, and the torchvision skip.
No assertion on how long anything takes."""

from __future__ import annotations

import sys
import types

import numpy as np
import pandas as pd
import pytest
from helpers import run
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mecopt.byo import fitting
from mecopt.core import dnn
from mecopt.core.delay import CoefficientSet, PerTypeCoefficients, layer_delays, load_coefficients
from mecopt.core.errors import InputError
from mecopt.core.instance import instance_from_dict

CLASSES = tuple(fitting.CLASS_TERMS)

# ----------------------------------------------------------------------------- fits


def random_profile(draw_or_rng, n_nets=3, max_layers=6):
    """Random networks of random layers of random operators, with positive times of no particular law."""
    rng = draw_or_rng
    layer_rows, op_rows = [], []
    for k in range(n_nets):
        for layer in range(1, int(rng.integers(2, max_layers + 1)) + 1):
            for _ in range(int(rng.integers(1, 4))):
                cls = CLASSES[int(rng.integers(len(CLASSES)))]
                G, K = float(rng.integers(1, 60)), float(rng.choice([1, 3, 5, 7]))
                O = 1.0 if cls == "dwconv" else float(rng.integers(1, 600))
                I = float(rng.integers(1, 600))
                op = str(rng.choice(["BatchNormalization", "LayerNormalization"])) if cls == "norm" else cls
                op_rows.append({"dnn": f"net{k}", "layer": layer, "type": cls, "op": op, "G": G, "K": K, "O": O,
                                "I": I})
            layer_rows.append({"dnn": f"net{k}", "layer": layer, "median_ms": float(rng.lognormal(-1, 2))})
    return pd.DataFrame(layer_rows), pd.DataFrame(op_rows)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), per_type=st.booleans(), weight=st.sampled_from(["network", "none"]),
       terms=st.sampled_from([None, ("G2K2OI", "G2K2I", "G2O"), ("G2K2OI", "G2O", "1"), ("K2O", "OI", "I", "1")]))
def test_no_fitted_set_gives_a_negative_layer_time(seed, per_type, weight, terms):
    """Property: whatever the measured times, a set fitted by `fit` / `calibrate` (fit_layers) has coefficients
    >= 0 and predicts no negative or non-finite time for any layer, of its own data or any other."""
    rng = np.random.default_rng(seed)
    layers, ops = random_profile(rng)
    if not per_type and terms is None:
        terms = ("G2K2OI", "G2K2I", "G2O")
    fit = fitting.fit_layers(layers, ops, per_type=per_type, terms=terms, weight=weight)
    model = fit.model
    sets = [model] if isinstance(model, CoefficientSet) else [model.fallback, *model.sets.values()]
    assert all(min(s.eta) >= 0 and np.isfinite(s.eta).all() for s in sets)
    assert np.isfinite(fit.predicted).all() and (fit.predicted >= 0).all()
    _, other = random_profile(np.random.default_rng(seed + 1), n_nets=2)
    t = model.predict_ops(other["type"], other[["G", "K", "O", "I"]].to_numpy(float), other["op"])
    assert np.isfinite(t).all() and (t >= 0).all()
    fitting.check_model(model, other)  # does not raise


def test_fit_uses_the_features_prediction_uses_and_recovers_a_per_class_law():
    """Blocks are fitted as the sum of their operators: times made by a non-negative per-class law over
    the catalog's operators are recovered, and every layer (blocks included) is predicted exactly."""
    law = {cls: {**{t: 10.0 ** -(5 + i) for i, t in enumerate(terms) if t != "1"}, "1": 1e-3}  # one shared "1"
           for cls, terms in fitting.CLASS_TERMS.items()}
    true = PerTypeCoefficients("true", {c: CoefficientSet.from_terms(c, v) for c, v in law.items()},
                               CoefficientSet.from_terms("fb", {"G2O": 1e-6}))
    layer_rows, op_rows = [], []
    for name in ("mobilenet_v2", "resnet18", "shufflenet_v2_x1_0", "vit_b_16"):
        table = dnn.layer_table(name)
        t = layer_delays(true, table)[1:] * 1e3
        layer_rows.append(pd.DataFrame({"dnn": name, "layer": np.arange(1, len(t) + 1), "median_ms": t}))
        op_rows.append(table.op_frame().assign(dnn=name))
    layers, ops = pd.concat(layer_rows, ignore_index=True), pd.concat(op_rows, ignore_index=True)
    fit = fitting.fit_layers(layers, ops, weight="none")
    np.testing.assert_allclose(fit.predicted, layers["median_ms"], rtol=1e-6)
    per_net, per_layer = fitting.leave_one_network_out(layers, ops)
    assert len(per_net) == 4 and np.isfinite(per_net["error"]).all()
    assert len(per_layer) == len(layers)


def test_depthwise_terms_are_not_collinear():
    """For a depthwise convolution (O = 1) the paper's G2K2OI = G2K2I and G2O = G2: its own terms differ."""
    assert fitting._usable("dwconv", ("G2K2OI", "G2K2I", "G2O")) == ("G2K2I", "G2")
    ops = pd.DataFrame({"type": "dwconv", "G": [7.0, 14, 28], "K": 3.0, "O": 1.0, "I": [96.0, 144, 32]})
    cols = fitting.design_columns(True, None, {"dwconv"})
    X = fitting.op_features(ops.assign(dnn="n", layer=[1, 2, 3]), cols)
    assert np.linalg.matrix_rank(X) == min(X.shape)


def test_check_model_refuses_negative_and_non_finite_sets():
    ops = pd.DataFrame({"type": ["conv"], "G": [10.0], "K": [3.0], "O": [16.0], "I": [16.0]})
    with pytest.raises(InputError, match="negative"):
        fitting.check_model(CoefficientSet.from_terms("bad", {"G2K2OI": 1e-6, "G2O": -1e-3}), ops)
    with pytest.raises(InputError, match="non-finite"):
        fitting.check_model(CoefficientSet.from_terms("bad", {"G2K2OI": float("nan")}), ops)


def test_cli_fit_refuses_to_write_a_negative_set(tmp_path, capsys, monkeypatch):
    layers, ops = random_profile(np.random.default_rng(0))
    layers = layers.merge(ops.groupby(["dnn", "layer"]).first().reset_index()[["dnn", "layer", "G", "K", "O", "I"]])
    layers.to_csv(tmp_path / "p.csv", index=False)
    ops.assign(node=[f"n{i}" for i in range(len(ops))], median_ms=np.nan).to_csv(tmp_path / "p-ops.csv", index=False)
    monkeypatch.setattr(fitting, "nnls", lambda X, y, w=None: -np.ones(X.shape[1]))
    code, _, err = run(capsys, "fit", tmp_path / "p.csv", "--per-type", "--out", tmp_path / "x.toml")
    assert code == 2 and "negative" in err and not (tmp_path / "x.toml").exists()


def test_cli_fit_layer_table_with_blocks_takes_the_operators_next_to_it(tmp_path, capsys):
    """A layer table with block rows is fitted on the blocks' operators (from NAME-ops.csv next to it) and prints
    the held-out error per network."""
    rows, opr = [], []
    for name in ("mobilenet_v2", "resnet18"):
        table = dnn.layer_table(name)
        t = layer_delays(load_coefficients("device"), table)[1:] * 1e3
        f = table.frame.iloc[1:]
        rows.append(pd.DataFrame({"dnn": name, "layer": f["layer"], "name": f["name"], "type": f["type"],
                                  "G": f["G"], "K": f["K"], "O": f["O"], "I": f["I"], "median_ms": t}))
        opr.append(table.op_frame().assign(dnn=name, node="x", median_ms=np.nan))
    pd.concat(rows).to_csv(tmp_path / "cat.csv", index=False)
    pd.concat(opr).to_csv(tmp_path / "cat-ops.csv", index=False)
    code, out, err = run(capsys, "fit", tmp_path / "cat.csv", "--terms", "paper", "--test-fraction", "0",
                         "--weight", "none", "--out", tmp_path / "f.toml")
    assert code == 0, err
    assert "held-out error per network" in out and "mobilenet_v2" in out
    coef = load_coefficients(str(tmp_path / "f.toml"))
    for term, v in load_coefficients("device").as_terms().items():  # eq. (6) itself, blocks included
        assert coef.as_terms()[term] == pytest.approx(v, rel=1e-5)


# ----------------------------------------------------------------------------- profiling what runs

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402


def fused_model():
    """Conv -> BatchNormalization (ORT folds it into the Conv, NCHWc renames it) -> Relu -> Conv -> HardSwish
    (ORT inlines it as unnamed HardSigmoid + Mul) -> GlobalAveragePool -> Flatten -> Gemm."""
    rng = np.random.default_rng(0)
    w = lambda name, *s: numpy_helper.from_array(rng.standard_normal(s).astype(np.float32) * 0.1, name)  # noqa
    nodes = [
        helper.make_node("Conv", ["x", "w0"], ["a"], name="/c0/Conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["a", "s", "b", "m", "v"], ["a2"], name="/c0/BN"),
        helper.make_node("Relu", ["a2"], ["a3"], name="/c0/Relu"),
        helper.make_node("Conv", ["a3", "w1"], ["c"], name="/c1/Conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("HardSwish", ["c"], ["h"], name="/c1/HardSwish"),
        helper.make_node("GlobalAveragePool", ["h"], ["g"], name="/pool"),
        helper.make_node("Flatten", ["g"], ["f"], name="/flat"),
        helper.make_node("Gemm", ["f", "wf"], ["y"], name="/fc", transB=1),
    ]
    inits = [w("w0", 16, 8, 3, 3), w("s", 16), w("b", 16), w("m", 16),
             numpy_helper.from_array(np.ones(16, np.float32), "v"), w("w1", 32, 16, 3, 3), w("wf", 10, 32)]
    graph = helper.make_graph(nodes, "fused", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 16, 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_a_model_ort_fuses_is_attributed_to_its_layers(tmp_path):
    from mecopt.byo.profiling import profile_onnx
    path = tmp_path / "fused.onnx"
    onnx.save(fused_model(), path)
    result, layers, ops, other = profile_onnx(path, runs=4, warmup=1, rounds=2, optimization="all")
    t = layers.attrs["timing"]
    assert t["optimization"] == "all" and t["share"] >= 0.99 and other == 0.0
    assert (layers["median_ms"] > 0).all()  # every layer got the time of its (fused, renamed) nodes
    assert t["e2e_median_ms"] > 0 and t["runs"] == 4 and t["rounds"] == 2 and np.isfinite(t["load_max"])
    # ORT did rewrite the graph: the BatchNormalization is gone (its row has no time of its own)
    assert ops.set_index("node").loc["/c0/Conv", "median_ms"] > 0
    from mecopt.byo.measure import measure
    model = fused_model()
    timing = measure(model, result.node_layer, runs=2, warmup=0, rounds=1)
    renamed = [n for n, o in timing.node_origin.items() if n != o]
    assert renamed and all(o is not None for o in timing.node_origin.values())
    assert "/c0/BN" not in timing.node_origin  # ORT folded it into the Conv
    inlined = [o for n, o in timing.node_origin.items() if n.startswith(("HardSigmoid_", "Mul_"))]
    assert inlined and set(inlined) == {"/c1/HardSwish"}  # ORT's unnamed HardSigmoid + Mul: the HardSwish's
    assert not any(n.startswith(("HardSigmoid_", "Mul_")) for n in timing.node_times)  # inlined: mapped back


def test_map_to_original_by_name_output_stem_and_data_flow():
    from mecopt.byo.measure import map_to_original
    orig = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv"),
            helper.make_node("Relu", ["c"], ["r"], name="relu"),
            helper.make_node("Add", ["r", "x"], ["y"], name="add")]
    opt = [helper.make_node("ReorderInput", ["x"], ["t1"], name="ReorderInput"),
           helper.make_node("Conv", ["t1", "w"], ["t2"], name="c_nchwc", domain="com.microsoft.nchwc"),
           helper.make_node("ReorderOutput", ["t2"], ["r"], name="ReorderOutput_token_3"),
           helper.make_node("Add", ["r", "x"], ["y"], name="add")]
    assert map_to_original(opt, orig) == {"ReorderInput": "conv", "c_nchwc": "conv", "ReorderOutput_token_3": "relu",
                                          "add": "add"}


def test_cli_profile_refuses_when_less_than_99_percent_is_attributed(tmp_path, capsys, monkeypatch):
    from mecopt.byo import measure
    path = tmp_path / "fused.onnx"
    onnx.save(fused_model(), path)
    real = measure.attribution
    monkeypatch.setattr(measure, "attribution",
                        lambda timing, node_layer: {**real(timing, node_layer), "share": 0.5, "attributed_ms": 1.0,
                                                    "total_ms": 2.0, "outside_ms": 1.0})
    code, _, err = run(capsys, "profile", path, "--runs", "2", "--warmup", "0", "--out", tmp_path / "p.csv")
    assert code == 2 and "50.00%" in err and "less than 99%" in err
    assert not (tmp_path / "p.csv").exists()


def test_cli_profile_prints_end_to_end_and_load(tmp_path, capsys):
    path = tmp_path / "fused.onnx"
    onnx.save(fused_model(), path)
    code, out, err = run(capsys, "profile", path, "--runs", "3", "--warmup", "1", "--rounds", "1",
                         "--out", tmp_path / "p.csv")
    assert code == 0, err
    assert "optimization all" in out and "end to end" in out and "attributed to layers 100.00%" in out
    assert "load average" in out


TINY = {"name": "tiny", "grouped_conv": "per_group", "input": {"channels": 3, "height": 16, "width": 16},
        "layers": [{"name": "conv1", "type": "conv", "out_channels": 8, "kernel": 3, "pad": 1},
                   {"name": "relu1", "type": "relu"},
                   {"name": "res", "type": "block", "out_shape": [8, 16, 16], "ops": [
                       {"type": "conv", "op": "Conv", "G": 16, "K": 1, "O": 8, "I": 16},
                       {"type": "dwconv", "op": "Conv", "G": 16, "K": 3, "O": 1, "I": 16, "groups": 16},
                       {"type": "eltwise", "op": "HardSwish", "G": 16, "K": 1, "O": 16, "I": 1},
                       {"type": "conv", "op": "Conv", "G": 16, "K": 1, "O": 16, "I": 8},
                       {"type": "eltwise", "op": "Add", "G": 16, "K": 1, "O": 8, "I": 1}]},
                   {"name": "pool", "type": "pool", "kernel": 16, "ceil_mode": False},
                   {"name": "fc", "type": "fc", "out_features": 10}]}


def test_calibrate_end_to_end_writes_a_set_an_instance_uses(tmp_path, capsys, write_toml):
    a = write_toml(TINY, "tiny.toml")
    b = write_toml({**TINY, "name": "tiny2", "input": {"channels": 3, "height": 24, "width": 24},
                    "layers": [l if l["name"] != "res" else {**l, "out_shape": [8, 24, 24], "ops": [
                        {**o, "G": 24} for o in l["ops"]]} for l in TINY["layers"][:3]]
                    + [{"name": "pool", "type": "pool", "kernel": 24, "ceil_mode": False}, TINY["layers"][4]]},
                   "tiny2.toml")
    out = tmp_path / "delay" / "here.toml"
    code, stdout, err = run(capsys, "calibrate", a, b, "--runs", "3", "--rounds", "1", "--warmup", "0",
                            "--min-ms", "0", "--out", out)
    assert code == 0, err
    assert "each network left out" in stdout and "load average" in stdout and "tiny2" in stdout
    for f in ("networks.csv", "layers.csv", "profiles.csv", "predicted-vs-measured.png"):
        assert (tmp_path / "delay" / "here-report" / f).exists(), f
    model = load_coefficients(str(out))
    assert isinstance(model, PerTypeCoefficients) and "calibrate --role local" in model.description
    inst = instance_from_dict({"model": {"delay_local": str(out), "deadline_policy": "relax"},
                               "devices": [{"dnn": "mobilenet_v2", "alpha": 0.5, "beta": 0.25, "gamma": 0.25}]})
    assert (inst.devices[0].t_local >= 0).all() and np.isfinite(inst.devices[0].t_local).all()
    code, _, err = run(capsys, "calibrate", a, b, "--out", out)
    assert code == 2 and "--force" in err


def test_roles_imply_thread_counts():
    from mecopt.byo.calibrate import role_threads
    assert role_threads("local") == 1 and role_threads("server") >= 1
    with pytest.raises(InputError):
        role_threads("edge")


def test_catalog_tests_skip_when_torchvision_does_not_match_torch(monkeypatch):
    """A torchvision built against another torch fails with a RuntimeError at import: a skip reason, no error."""
    import test_catalog
    fake_torch = types.ModuleType("torch")
    fake_torch.library = types.SimpleNamespace(Library=lambda *a: (_ for _ in ()).throw(
        RuntimeError("operator torchvision::nms does not exist")))
    monkeypatch.setitem(sys.modules, "torch", fake_torch)

    class Broken(types.ModuleType):
        def __getattr__(self, name):
            raise RuntimeError("operator torchvision::nms does not exist")

    monkeypatch.setitem(sys.modules, "torchvision", Broken("torchvision"))
    monkeypatch.setitem(sys.modules, "torchvision.models", None)  # import fails
    why = test_catalog.usable_torchvision()
    assert why is not None and "torchvision" in why
    assert test_catalog.reference_counts()["resnet18"] > 0  # the committed counts
