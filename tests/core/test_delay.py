"""Delay prediction (eqs. 5-7, MODEL.md §2): self-check values, fitting, R² / MAE of footnote 1."""

from __future__ import annotations

import numpy as np
import pytest

from mecopt.core import delay, dnn
from mecopt.core.errors import InputError


@pytest.fixture(scope="module")
def device_coef():
    return delay.load_coefficients("device")


@pytest.fixture(scope="module")
def server_coef():
    return delay.load_coefficients("server")


def _total(coef, name):
    return float(coef.predict(dnn.layer_table(name).factors()).sum())


def test_alexnet_fully_local_4_562_s(device_coef):
    assert _total(device_coef, "alexnet") == pytest.approx(4.562, rel=5e-3)


def test_alexnet_fully_on_server_0_376_s(server_coef):
    assert _total(server_coef, "alexnet") == pytest.approx(0.376, rel=5e-3)


def test_vgg13_conv5_1_on_server_139_65_ms(server_coef):
    t = dnn.layer_table("vgg13")
    idx = int(np.flatnonzero(t.frame["name"] == "conv5_1")[0])
    # by hand: G=14, K=3, O=512, I=512: (3*14²*9*512*512 + 7.4*14²*9*512 + 25.8*14²*512) * 1e-7 ms
    G2 = 14 ** 2
    by_hand_ms = (3 * G2 * 9 * 512 * 512 + 7.4 * G2 * 9 * 512 + 25.8 * G2 * 512) * 1e-7
    assert by_hand_ms == pytest.approx(139.65, abs=0.01)
    assert float(server_coef.predict(t.factors()[idx:idx + 1])[0]) == pytest.approx(by_hand_ms * 1e-3, rel=1e-12)


def test_lenet_fully_local_16_9_ms(device_coef):
    assert _total(device_coef, "lenet") == pytest.approx(16.9e-3, rel=5e-3)


def test_predict_is_in_seconds_from_milliseconds(device_coef):
    # one conv layer by hand with eq. (6): G=2, K=3, O=4, I=5
    G2, K2, O, I = 4, 9, 4, 5
    ms = (0.3 * G2 * K2 * O * I + 2.6 * G2 * K2 * I + 4.8 * G2 * O) * 1e-5
    assert float(device_coef.predict(np.array([[2, 3, 4, 5]]))[0]) == pytest.approx(ms / 1000, rel=1e-12)
    assert float(device_coef.predict(np.zeros((1, 4)))[0]) == 0.0


def test_features_are_the_16_monomials_in_paper_order():
    G, K, O, I = 2.0, 3.0, 5.0, 7.0
    f = delay.features(np.array([[G, K, O, I]]))[0]
    G2, K2 = G * G, K * K
    expected = [G2 * K2 * O * I, G2 * K2 * I, G2 * K2 * O, K2 * O * I, G2 * O * I, G2 * K2, G2 * O, G2 * I,
                K2 * O, K2 * I, O * I, G2, K2, O, I, 1.0]
    assert f.tolist() == expected
    assert len(delay.TERMS) == 16 and delay.PAPER_TERMS == ("G2K2OI", "G2K2I", "G2O")


def _synthetic(n, seed):
    rng = np.random.default_rng(seed)
    return np.column_stack([rng.integers(1, 60, n), rng.integers(1, 12, n), rng.integers(1, 300, n),
                            rng.integers(1, 300, n)]).astype(float), rng


def test_fit_recovers_all_16_coefficients_from_noisy_rows():
    factors, rng = _synthetic(400, 0)
    X = delay.features(factors)
    # every term contributes about equally to the data
    eta = rng.uniform(0.5, 2.0, 16) / np.abs(X).mean(axis=0)
    y = X @ eta
    noisy = y + rng.normal(0.0, 1e-3 * y.std(), len(y))
    rep = delay.fit(factors, noisy)
    assert rep.terms == delay.TERMS
    np.testing.assert_allclose(rep.coefficients.eta, eta, rtol=0.05)
    assert rep.r2_train > 0.9999
    assert rep.n_train == 400 and rep.n_test == 0
    assert rep.r2_test is None and rep.mae_test is None and rep.within_10pct_test is None


def test_fit_recovers_the_paper_3_term_subset(device_coef):
    # half conv-like rows, half element-wise rows (K = I = 1) so that every term of (6) matters
    rng = np.random.default_rng(1)
    n = 300
    G, K = rng.integers(1, 60, n), rng.choice([1, 3, 5, 7], n)
    O, I = rng.integers(1, 256, n), rng.integers(1, 256, n)
    elementwise = rng.random(n) < 0.5
    K[elementwise], I[elementwise] = 1, 1
    factors = np.column_stack([G, K, O, I]).astype(float)
    truth_ms = delay.features(factors) @ np.asarray(device_coef.eta)
    noisy = truth_ms + rng.normal(0.0, 1e-3 * truth_ms.std(), n)
    rep = delay.fit(factors, noisy, terms=delay.PAPER_TERMS, unit="ms")
    got = rep.coefficients.as_terms()
    assert set(got) == set(delay.PAPER_TERMS)  # the other 13 coefficients stay 0
    for term, value in device_coef.as_terms().items():
        assert got[term] == pytest.approx(value, rel=0.02), term
    # the fitted set predicts in seconds like the bundled one
    np.testing.assert_allclose(rep.coefficients.predict(factors[:5]), device_coef.predict(factors[:5]), rtol=0.05)


def test_r2_and_mae_follow_footnote_1_by_hand():
    y = np.array([1.0, 2.0, 3.0, 4.0])
    y_hat = np.array([1.1, 1.9, 3.2, 3.8])
    # mean 2.5; sum (y - mean)^2 = 2.25 + 0.25 + 0.25 + 2.25 = 5; sum (y - y_hat)^2 = .01 + .01 + .04 + .04 = .1
    assert delay.r_squared(y, y_hat) == pytest.approx(1 - 0.1 / 5, rel=1e-12)
    # (0.1 + 0.1 + 0.2 + 0.2) / 4
    assert delay.mean_absolute_error(y, y_hat) == pytest.approx(0.15, rel=1e-12)
    assert delay.r_squared(y, y) == 1.0


def test_fit_reports_r2_and_mae_of_its_own_predictions():
    factors, rng = _synthetic(60, 2)
    y = delay.features(factors)[:, [0, 6]] @ np.array([1e-5, 3e-4]) + rng.normal(0, 0.05, 60)
    rep = delay.fit(factors, y, terms=("G2K2OI", "G2O"))
    pred = delay.features(factors) @ np.asarray(rep.coefficients.eta)
    resid = y - pred
    assert rep.mae_train == pytest.approx(np.mean(np.abs(resid)), rel=1e-9)
    assert rep.r2_train == pytest.approx(1 - np.sum(resid ** 2) / np.sum((y - y.mean()) ** 2), rel=1e-9)


def test_held_out_split_fields():
    factors, rng = _synthetic(100, 3)
    y = delay.features(factors)[:, [0, 1, 6]] @ np.array([1e-5, 2e-4, 3e-4])
    noisy = y * (1 + rng.normal(0, 0.02, 100))
    rep = delay.fit(factors, noisy, terms=delay.PAPER_TERMS, test_fraction=0.25, seed=5)
    assert (rep.n_train, rep.n_test) == (75, 25)
    assert rep.r2_test is not None and 0.9 < rep.r2_test <= 1.0
    assert 0.0 <= rep.within_10pct_test <= 1.0
    # the split partitions the rows: train and test absolute errors add up to the total
    pred = delay.features(factors) @ np.asarray(rep.coefficients.eta)
    total = np.sum(np.abs(noisy - pred))
    assert rep.mae_train * rep.n_train + rep.mae_test * rep.n_test == pytest.approx(total, rel=1e-9)
    # same seed, same split; noise-free data is fitted exactly on the held-out rows
    again = delay.fit(factors, noisy, terms=delay.PAPER_TERMS, test_fraction=0.25, seed=5)
    assert again.mae_test == rep.mae_test
    exact = delay.fit(factors, y, terms=delay.PAPER_TERMS, test_fraction=0.25, seed=5)
    assert exact.r2_test == pytest.approx(1.0, abs=1e-9) and exact.within_10pct_test == 1.0
    assert exact.mae_test == pytest.approx(0.0, abs=1e-9 * np.abs(y).mean())


def test_fit_rejects_bad_arguments():
    factors, _ = _synthetic(10, 4)
    with pytest.raises(InputError, match="unknown terms"):
        delay.fit(factors, np.ones(10), terms=("G3",))
    with pytest.raises(InputError, match="times"):
        delay.fit(factors, np.ones(9))
    with pytest.raises(InputError, match="test_fraction"):
        delay.fit(factors, np.ones(10), test_fraction=1.0)
    with pytest.raises(InputError, match="cannot determine"):
        delay.fit(factors, np.ones(10))  # 10 rows, 16 coefficients


def test_coefficient_set_roundtrip(tmp_path, server_coef):
    path = tmp_path / "c.toml"
    server_coef.save(path)
    back = delay.load_coefficients(str(path))
    assert back.eta == server_coef.eta and back.unit == "ms"
    with pytest.raises(InputError, match="unknown delay coefficient set"):
        delay.load_coefficients("gpu")
