"""Numerical robustness (issue 12 point 5): results do not depend on units that should not matter.

- ``price_scale``: S = delta f_s T^se / price_scale (20)-(21) and p_h = a_h + (b_h/h) S (19), so
  multiplying price_scale by k, a_h by k and b_h by k^2 leaves every price, cost and the
  potential unchanged: the same profile scores the same, the DP best responses and the
  game reach the same profile (GTPOS' objectives have no price term).
- device order: permuting the device entries permutes the per-device figures of a profile,
  the isolated baseline, and leaves the GTPOS optimum and the all-local figures unchanged.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mecopt import solve
from mecopt.core import cost as costmod
from mecopt.core.instance import instance_from_dict

#: runs a MILP solver (HiGHS or CP-SAT), directly or through a command: integration, not unit
pytestmark = pytest.mark.solver

REL = 1e-9
PROPERTY = settings(max_examples=5, deadline=None, database=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def devices(draw) -> list[dict]:
    out = []
    for i in range(draw(st.integers(2, 3))):
        alpha = draw(st.sampled_from([0.2, 0.5, 0.8]))
        beta = draw(st.sampled_from([0.0, 0.1]))
        out.append({"name": f"d{i + 1}", "alpha": alpha, "beta": beta, "gamma": round(1 - alpha - beta, 6),
                    "bandwidth_hz": draw(st.sampled_from([50.0, 100.0, 400.0])),
                    "delta_cycles_per_bit": draw(st.sampled_from([0.5, 1.0, 3.0]))})
    return out


@st.composite
def documents(draw, make) -> dict:
    return make(devices=devices(draw), server={"slots": draw(st.integers(2, 3)),
                                               "price_base": draw(st.sampled_from([0.5, 1.0, 4.0])),
                                               "price_growth": draw(st.sampled_from([0.5, 2.0, 8.0]))},
                model={"capacity_mode": draw(st.sampled_from(["per_device", "total"]))})


def rescaled(doc: dict, k: float) -> dict:
    out = copy.deepcopy(doc)
    out["model"]["price_scale"] = doc["model"]["price_scale"] * k
    out["server"]["price_base"] = doc["server"]["price_base"] * k
    out["server"]["price_growth"] = doc["server"]["price_growth"] * k * k
    return out


def close(a, b, rel=REL) -> bool:
    return bool(np.allclose(np.asarray(a, float), np.asarray(b, float), rtol=rel, atol=1e-12))


@PROPERTY
@given(data=st.data(), k=st.sampled_from([1e-3, 10.0, 1e3]))
def test_price_scale_with_matching_prices_changes_nothing(instance_dict, data, k):
    doc = data.draw(documents(instance_dict))
    a, b = instance_from_dict(doc), instance_from_dict(rescaled(doc, k))
    rng = np.random.default_rng(0)
    for _ in range(5):   # the cost model: any profile scores the same
        profile = [np.sort(rng.integers(0, a.server.H + 1, d.M)) for d in a.devices]
        ea, eb = costmod.evaluate(a, profile), costmod.evaluate(b, profile)
        assert close(ea.price, eb.price) and close(ea.cost, eb.cost) and close(ea.potential, eb.potential)
    for method, opts in (("isolated", {"engine": "dp"}), ("tpos-cai", {"engine": "dp", "seed": 1})):
        sa, sb = solve(a, method, **opts), solve(b, method, **opts)
        assert sa.termination == sb.termination
        assert close(sa.evaluation.cost, sb.evaluation.cost, 1e-7), (method, sa.profile, sb.profile)


@PROPERTY
@given(data=st.data())
def test_device_order_does_not_matter(instance_dict, data):
    doc = data.draw(documents(instance_dict))
    order = data.draw(st.permutations(range(len(doc["devices"]))))
    perm = copy.deepcopy(doc)
    perm["devices"] = [doc["devices"][i] for i in order]
    a, b = instance_from_dict(doc), instance_from_dict(perm)
    by_name = {d.name: n for n, d in enumerate(b.devices)}
    idx = [by_name[d.name] for d in a.devices]   # a's device n is b's device idx[n]
    rng = np.random.default_rng(1)
    profile = [np.sort(rng.integers(0, a.server.H + 1, d.M)) for d in a.devices]
    pb = [None] * b.N
    for n, j in enumerate(idx):
        pb[j] = profile[n]
    ea, eb = costmod.evaluate(a, profile), costmod.evaluate(b, pb)
    assert close(ea.cost, eb.cost[idx]) and close(ea.delay, eb.delay[idx]) and close(ea.potential, eb.potential)
    ia, ib = solve(a, "isolated", engine="dp"), solve(b, "isolated", engine="dp")
    assert all(np.array_equal(ia.profile[n], ib.profile[j]) for n, j in enumerate(idx))
    for objective in ("delay", "social"):   # GTPOS' own objective (social: delay and energy terms, no price)
        ga = solve(a, "gtpos", objective=objective, time_limit=30)
        gb = solve(b, "gtpos", objective=objective, time_limit=30)
        assert ga.termination == gb.termination == "optimal"
        assert close(ga.objective, gb.objective, 1e-5), objective
    # the game's dynamics depend on the order (who wakes first), its outcome must still be an equilibrium
    tb = solve(b, "tpos-cai", engine="dp", seed=1)
    assert tb.termination == "equilibrium" and tb.certificate["max_gain_rel"] <= 1e-9


@pytest.mark.parametrize("k", [1e-3, 1e3])
def test_paper_instance_price_scale_rescaling(k):
    """Fig. 6's instance (W = 1 kHz): the same TPOS-CAI equilibrium with prices in other units."""
    from mecopt.core.instance import read_document
    from mecopt.core.resources import instance_path

    doc, _ = read_document("paper:fig6-w1khz")
    base = instance_path("paper:fig6-w1khz").parent
    a, b = instance_from_dict(doc, base=base), instance_from_dict(rescaled(doc, k), base=base)
    sa, sb = solve(a, "tpos-cai", engine="dp", seed=0), solve(b, "tpos-cai", engine="dp", seed=0)
    assert all(np.array_equal(x, y) for x, y in zip(sa.profile, sb.profile))
    assert close(sa.evaluation.cost, sb.evaluation.cost, 1e-9)
