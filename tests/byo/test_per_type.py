"""Per-type delay models (issue 10): one coefficient set of eq. (5) per operator class, fitted, saved in one
file, used by model.delay_local / delay_server, a block's delay = the sum over its operators."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import run

from mecopt.core import dnn
from mecopt.core.delay import (
    PAPER_TERMS,
    CoefficientSet,
    PerTypeCoefficients,
    fit_per_type,
    layer_delays,
    load_coefficients,
)
from mecopt.core.errors import InputError
from mecopt.core.instance import instance_from_dict

#: a different eq. (5) per class (ms), as a machine might have
TRUE = {"conv": (3e-8, 2e-6, 1e-6), "dwconv": (4e-7, 1e-6, 5e-6), "fc": (2e-6, 0.0, 1e-5),
        "pool": (1e-7, 0.0, 3e-6), "eltwise": (0.0, 0.0, 2e-5), "norm": (0.0, 0.0, 9e-5), "attention": (5e-8, 0.0, 0.0)}


def synthetic_rows(n_per_class=40, seed=1):
    rng = np.random.default_rng(seed)
    rows = []
    for cls, eta in TRUE.items():
        for _ in range(n_per_class):
            G, K, O, I = rng.integers(1, 60), rng.choice([1, 3, 5]), rng.integers(1, 512), rng.integers(1, 512)
            t = eta[0] * G**2 * K**2 * O * I + eta[1] * G**2 * K**2 * I + eta[2] * G**2 * O
            rows.append({"type": cls, "op": "x", "G": G, "K": K, "O": O, "I": I, "median_ms": t})
    return pd.DataFrame(rows)


def test_fit_per_type_recovers_each_class_and_beats_one_polynomial():
    df = synthetic_rows()
    report = fit_per_type(df["type"], df[["G", "K", "O", "I"]].to_numpy(float), df["median_ms"], terms=PAPER_TERMS,
                          test_fraction=0.25, seed=0)
    for cls, eta in TRUE.items():
        got = report.model.sets[cls].as_terms()
        for term, want in zip(PAPER_TERMS, eta):
            assert got.get(term, 0.0) == pytest.approx(want, rel=1e-6, abs=1e-15), (cls, term)
    q = pd.DataFrame(report.quality).set_index(["class", "model", "split"])
    assert q.loc[("all", "per-type", "held-out"), "r2"] == pytest.approx(1.0)
    assert q.loc[("all", "per-type", "held-out"), "within_10pct"] == 1.0
    assert q.loc[("all", "single", "held-out"), "r2"] < 0.99
    assert report.n_test == round(0.25 * len(df))


def test_per_type_file_round_trip_and_layer_delays_sum_over_operators(tmp_path):
    sets = {cls: CoefficientSet.from_terms(cls, dict(zip(PAPER_TERMS, eta))) for cls, eta in TRUE.items()
            if cls != "norm"}
    fallback = CoefficientSet.from_terms("fb", {"G2O": 1e-4})
    model = PerTypeCoefficients("pt", sets, fallback, "ms", "test")
    model.save(tmp_path / "pt.toml")
    loaded = load_coefficients(str(tmp_path / "pt.toml"))
    assert isinstance(loaded, PerTypeCoefficients) and set(loaded.sets) == set(sets)
    spec = dnn.parse_spec({"name": "s", "input": {"channels": 4, "height": 8, "width": 8}, "layers": [
        {"name": "c", "type": "conv", "out_channels": 4, "kernel": 3, "pad": 1, "groups": 4},
        {"name": "n", "type": "lrn"},
        {"name": "b", "type": "block", "out_shape": [4, 8, 8], "ops": [
            {"type": "conv", "G": 8, "K": 3, "O": 4, "I": 4}, {"type": "eltwise", "op": "Add", "G": 8, "K": 1, "O": 4,
                                                                 "I": 1}]}]})
    table = dnn.propagate(spec)
    t = layer_delays(loaded, table)
    by_hand = lambda eta, G, K, O, I: (eta[0] * G**2 * K**2 * O * I + eta[1] * G**2 * K**2 * I  # noqa: E731
                                       + eta[2] * G**2 * O) * 1e-3
    assert t[0] == 0.0
    assert t[1] == pytest.approx(by_hand(TRUE["dwconv"], 8, 3, 1, 4))       # depthwise: its own set
    assert t[2] == pytest.approx(1e-4 * 64 * 4 * 1e-3)                       # norm: no set, the fallback
    assert t[3] == pytest.approx(by_hand(TRUE["conv"], 8, 3, 4, 4) + by_hand(TRUE["eltwise"], 8, 1, 4, 1))


def test_instances_accept_a_per_type_file_and_bad_files_are_named(tmp_path, write_toml):
    df = synthetic_rows(10)
    report = fit_per_type(df["type"], df[["G", "K", "O", "I"]].to_numpy(float), df["median_ms"])
    report.model.save(tmp_path / "pt.toml")
    inst = instance_from_dict({"model": {"delay_local": str(tmp_path / "pt.toml"),
                                         "delay_server": str(tmp_path / "pt.toml"), "deadline_policy": "relax"},
                               "devices": [{"dnn": "mobilenet_v2", "alpha": 0.5, "beta": 0.25, "gamma": 0.25}]})
    table = dnn.layer_table("mobilenet_v2")
    np.testing.assert_allclose(inst.devices[0].t_local, layer_delays(report.model, table))
    np.testing.assert_allclose(inst.devices[0].t_server, layer_delays(report.model, table))
    (tmp_path / "bad.toml").write_text('name = "b"\n[coefficients]\nG2O = 1.0\n'
                                       '[types.convolution.coefficients]\nG2O = 1\n')
    with pytest.raises(InputError, match="unknown operator classes"):
        load_coefficients(str(tmp_path / "bad.toml"))


def test_cli_fit_per_type_end_to_end(tmp_path, capsys):
    df = synthetic_rows()
    df.insert(0, "node", [f"n{i}" for i in range(len(df))])
    df.to_csv(tmp_path / "ops.csv", index=False)
    code, out, err = run(capsys, "fit", tmp_path / "ops.csv", "--per-type", "--out", tmp_path / "pt.toml")
    assert code == 0, err
    assert "held-out rows" in out and "attention" in out
    model = load_coefficients(str(tmp_path / "pt.toml"))
    assert set(model.sets) == set(TRUE) | {"norm/BatchNormalization"}  # BN: the eltwise set (fitting.OP_COST_CLASS)
    assert model.sets["norm/BatchNormalization"].as_terms() == model.sets["eltwise"].as_terms()
    code, _, err = run(capsys, "fit", tmp_path / "ops.csv", "--per-type", "--out", tmp_path / "pt.toml")
    assert code == 2 and "--force" in err


def test_a_class_keeps_its_own_set_only_when_it_wins_leaving_one_network_out():
    """The per-class rule of fit_per_type: cross-validated on the training rows, one group (network) left out at a
    time; a class seen in one network only cannot be validated on another one and keeps the fallback."""
    df = synthetic_rows()
    X = df[["G", "K", "O", "I"]].to_numpy(float)
    groups = np.array([f"net{i % 4}" for i in range(len(df))], dtype=object)
    groups[(df["type"] == "attention").to_numpy()] = "net0"
    report = fit_per_type(df["type"], X, df["median_ms"], groups=groups)
    assert set(report.model.sets) == set(TRUE) - {"attention"}
    att = (df["type"] == "attention").to_numpy()
    np.testing.assert_allclose(report.model.predict_ops(df["type"][att], X[att]), report.single.predict(X[att]))
    # without groups (seeded 5-fold) every class of this data has its own law and keeps its set
    assert set(fit_per_type(df["type"], X, df["median_ms"]).model.sets) == set(TRUE)
    # a class whose rows follow the law of all the others gains nothing from a set of its own
    same = df.copy()
    law = same["type"] != "pool"
    G2, K2, O, I = X[:, 0] ** 2, X[:, 1] ** 2, X[:, 2], X[:, 3]
    same["median_ms"] = np.where(law, 2e-7 * G2 * K2 * O * I + 3e-6 * G2 * O,
                                 (1 + 0.5 * np.random.default_rng(3).standard_normal(len(same)))
                                 * (2e-7 * G2 * K2 * O * I + 3e-6 * G2 * O))
    assert "pool" not in fit_per_type(same["type"], X, same["median_ms"], groups=groups).model.sets
    with pytest.raises(InputError, match="groups"):
        fit_per_type(df["type"], X, df["median_ms"], groups=groups[:-1])
