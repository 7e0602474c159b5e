"""`mecopt fit` end to end on a synthetic profile: recovers known coefficients, reports footnote-1 figures,
writes a coefficient set an instance can use (issue 6)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from helpers import run

from mecopt.core import dnn
from mecopt.core.delay import load_coefficients
from mecopt.core.instance import instance_from_dict, load_instance

# eq. (6) of the paper, in ms
DEVICE = {"G2K2OI": 0.3e-5, "G2K2I": 2.6e-5, "G2O": 4.8e-5}




def synthetic_profile(noise: float, seed: int = 0) -> pd.DataFrame:
    """The layers of the bundled DNNs with eq. (6) times x (1 + noise * N(0, 1)), in the profile's layout."""
    rng = np.random.default_rng(seed)
    frames = []
    for name in ("lenet", "alexnet", "vgg13"):
        f = dnn.layer_table(name).frame.iloc[1:]
        G2, K2, O, I = f["G"] ** 2, f["K"] ** 2, f["O"], f["I"]
        t = DEVICE["G2K2OI"] * G2 * K2 * O * I + DEVICE["G2K2I"] * G2 * K2 * I + DEVICE["G2O"] * G2 * O
        t = t * (1 + noise * rng.standard_normal(len(t)))
        frames.append(pd.DataFrame({"dnn": name, "layer": f["layer"], "name": f["name"], "type": f["type"],
                                    "G": f["G"], "K": f["K"], "O": f["O"], "I": f["I"], "median_ms": t}))
    return pd.concat(frames, ignore_index=True)


def figure(label: str, text: str) -> list[float]:
    line = next(l for l in text.splitlines() if l.startswith(label))
    return [float(x) for x in re.findall(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?", line)]


def test_fit_recovers_eq6_and_reports_r2_mae_within10(tmp_path, capsys):
    csv = tmp_path / "synthetic-profile.csv"
    synthetic_profile(noise=0.0).to_csv(csv, index=False)
    out = tmp_path / "delay" / "mine.toml"
    code, stdout, stderr = run(capsys, "fit", csv, "--terms", "paper", "--test-fraction", 0.2, "--seed", 3,
                               "--out", out)
    assert code == 0, stderr
    n = 8 + 21 + 31
    assert f"on {n - round(0.2 * n)} rows, {round(0.2 * n)} held out (seed 3)" in stdout
    r2_train, mae_train = figure("train", stdout)
    r2_test, mae_test, within = figure("held-out", stdout)
    assert r2_train == pytest.approx(1.0) and r2_test == pytest.approx(1.0)
    assert mae_train < 1e-6 and mae_test < 1e-6
    assert within == 100  # printed as a percentage
    coef = load_coefficients(str(out))
    assert coef.name == "mine" and coef.unit == "ms"
    assert set(coef.as_terms()) == set(DEVICE)
    for term, value in DEVICE.items():
        assert coef.as_terms()[term] == pytest.approx(value, rel=1e-6)
    assert f'model.delay_local = "{out}"' in stdout


def test_fit_on_noisy_times(tmp_path, capsys):
    """2% noise: R² stays high, the dominant term (G2K2OI) is recovered closely; MAE is in ms."""
    csv = tmp_path / "noisy.csv"
    synthetic_profile(noise=0.02).to_csv(csv, index=False)
    out = tmp_path / "noisy.toml"
    code, stdout, _ = run(capsys, "fit", csv, "--seed", 3, "--out", out)
    assert code == 0
    r2_test, mae_test, within = figure("held-out", stdout)
    assert r2_test > 0.99 and mae_test > 0 and 0 <= within <= 100
    assert load_coefficients(str(out)).as_terms()["G2K2OI"] == pytest.approx(DEVICE["G2K2OI"], rel=0.05)
    assert "median |rel. error|" in stdout  # the per-type breakdown


def test_fitted_set_drives_an_instance(tmp_path, capsys, write_toml):
    csv = tmp_path / "p.csv"
    synthetic_profile(noise=0.0).to_csv(csv, index=False)
    out = tmp_path / "fitted.toml"
    assert run(capsys, "fit", csv, "--terms", "G2K2OI,G2K2I,G2O", "--test-fraction", 0, "--out", out)[0] == 0
    doc = {"name": "fitted", "model": {"delay_local": str(out)},
           "devices": [{"name": "md1", "dnn": "alexnet", "alpha": 0.42, "beta": 0.17, "gamma": 0.41}]}
    fitted = load_instance(write_toml(doc, "fitted-instance.toml"))
    paper = instance_from_dict({**doc, "model": {"delay_local": "device"}})
    np.testing.assert_allclose(fitted.devices[0].t_local, paper.devices[0].t_local, rtol=1e-6)
    # AlexNet fully local 4.562 s (MODEL.md §2) from the fitted set
    assert fitted.devices[0].t_local.sum() == pytest.approx(4.562, abs=5e-3)


def test_all_terms_and_type_filter(tmp_path, capsys):
    csv = tmp_path / "p.csv"
    synthetic_profile(noise=0.01).to_csv(csv, index=False)
    code, stdout, _ = run(capsys, "fit", csv, "--terms", "all", "--out", tmp_path / "all.toml")
    assert code == 0 and "with 16 term(s)" in stdout
    code, stdout, _ = run(capsys, "fit", csv, "--types", "conv,fc", "--out", tmp_path / "convfc.toml")
    assert code == 0
    assert "on 20 rows, 5 held out" in stdout  # conv 2+5+10, fc 2+3+3: 25 rows


@pytest.mark.parametrize("args, message", [
    (["--terms", "G2K2OI,G9"], "--terms"),
    (["--time-column", "nope_ms"], "nope_ms"),
    (["--time-column", "runs"], "unit"),
    (["--types", "lstm"], "--types"),
])
def test_bad_options_exit_2(tmp_path, capsys, args, message):
    csv = tmp_path / "p.csv"
    synthetic_profile(noise=0.0).assign(runs=5).to_csv(csv, index=False)
    code, _, stderr = run(capsys, "fit", csv, "--out", tmp_path / "x.toml", *args)
    assert code == 2 and message in stderr
    assert not (tmp_path / "x.toml").exists()


def test_existing_file_and_missing_profile(tmp_path, capsys):
    csv = tmp_path / "p.csv"
    synthetic_profile(noise=0.0).to_csv(csv, index=False)
    out = tmp_path / "x.toml"
    out.write_text("keep me")
    code, _, stderr = run(capsys, "fit", csv, "--out", out)
    assert code == 2 and "--force" in stderr and out.read_text() == "keep me"
    assert run(capsys, "fit", csv, "--out", out, "--force")[0] == 0
    code, _, stderr = run(capsys, "fit", tmp_path / "none.csv", "--out", tmp_path / "y.toml")
    assert code == 2 and "not found" in stderr
