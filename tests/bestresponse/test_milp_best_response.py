"""The best-response MILP (problem 28) against the DP and brute-force enumeration.

* the linearization is exact: on every strategy of small devices, the MILP's
  objective at that strategy's point equals C_n + eps_n theta_n, and the point is
  feasible exactly when the strategy satisfies (17), (26), (27);
* MILP = DP = enumeration (same strategy, objective within 1e-9) on a few hundred
  random small cases: both capacity modes, binding B, binding tau (with the
  dropped-deadline fallback), gamma = 0, empty, full and overfull slots,
  fractional counts, zero-time layers (exact ties);
* AlexNet against the DP, and once against all 65,780 strategies.
"""

from __future__ import annotations

import dataclasses
from itertools import combinations_with_replacement

import enumeration as bruteforce
import numpy as np
import pyomo.environ as pyo
import pytest
import tomli_w

from mecopt.bestresponse.dp import DPDevice, DPEngine
from mecopt.bestresponse.milp import MILPEngine
from mecopt.core import cost as costmod
from mecopt.core.instance import instance_from_dict, load_instance
from mecopt.core.problem import Aggregates, layer_weights, strategy_feasible, theta, tie_weight
from mecopt.milp.best_response import MILPDevice
from mecopt.milp.network import BLOCK, build_network

#: runs a MILP solver (HiGHS or CP-SAT), directly or through a command: integration, not unit
pytestmark = pytest.mark.solver

REL = 1e-9


# ---------------------------------------------------------------------------------------------
# random small instances
# ---------------------------------------------------------------------------------------------

def chain_spec(rng: np.random.Generator, M: int, zero_server: float = 0.0) -> dict:
    """A chain of M layers with measured times; some server times are 0 when ``zero_server`` > 0."""
    layers = []
    for k in range(M):
        t_se = 0.0 if rng.random() < zero_server else float(rng.uniform(0.004, 0.08))
        layers.append({"name": f"l{k + 1}", "type": "block", "out_shape": [int(rng.integers(1, 120)), 1, 1],
                       "t_local_s": float(rng.uniform(0.02, 0.4)), "t_server_s": t_se})
    return {"name": "chain", "input": {"channels": int(rng.integers(20, 200)), "height": 1, "width": 1},
            "layers": layers}


def random_instance(tmp_path, rng, *, M=None, H=None, mode=None, gamma=None, tau=None, policy="hard",
                    zero_server=0.0, B=None):
    M = M or int(rng.integers(3, 7))
    H = H or int(rng.integers(1, 4))
    spec = chain_spec(rng, M, zero_server)
    path = tmp_path / f"chain{rng.integers(1 << 30)}.toml"
    path.write_text(tomli_w.dumps(spec))
    if gamma is None:
        gamma = 0.0 if rng.random() < 0.25 else float(rng.uniform(0.05, 0.6))
    alpha = float(rng.uniform(0, 1 - gamma))
    doc = {
        "seed": int(rng.integers(1000)),
        "model": {"bits_per_element": 1.0, "price_scale": 1.0,
                  "capacity_mode": mode or str(rng.choice(["per_device", "total"])),
                  "deadline_policy": policy},
        "server": {"slots": H, "frame_s": float(rng.uniform(0.04, 0.25)) * H,
                   "parallel_limit": B or int(rng.integers(1, 4)),
                   "freq_cycles_per_s": 100.0, "price_base": [float(x) for x in rng.uniform(0, 2, H)],
                   "price_growth": [float(x) for x in rng.uniform(0, 3, H)], "tx_power_w": 5.0},
        "devices": [{"name": "d1", "dnn": str(path), "alpha": alpha, "beta": 1 - gamma - alpha, "gamma": gamma,
                     "cost_delay_per_s": 10.0, "cost_energy_per_j": 2.0,
                     "delta_cycles_per_bit": float(rng.uniform(0.5, 2)),
                     "upload_power_w": 1.0, "compute_power_w": 2.0, "bandwidth_hz": float(rng.uniform(100, 600)),
                     "channel_gain": 3e-7, "noise_w_per_hz": 1e-9, "deadline_s": tau or 1e3}],
    }
    return instance_from_dict(doc), doc


def delays(dev, server):
    """Delay of every strategy (for choosing binding deadlines)."""
    return np.array([costmod.delay(dev, s, server) for s in bruteforce.strategies(dev.M, server.H)])


def feasible_like_dp(dev, server, others, slots, enforce) -> bool:
    """(17), (27) on the slots the strategy uses, and (26) if enforced: the DP's reading.

    ``mecopt.core.problem.strategy_feasible`` also rejects slots the strategy does not use when
    the others alone overfill them (capacity < 0 in mode "total"); the DP and the MILP do not.
    """
    used = np.isin(np.arange(1, server.H + 1), slots)
    if not (others.time > server.slot_len).any() or server.capacity_mode != "total":
        return strategy_feasible(dev, server, others, slots, enforce)
    _, T = costmod.own_loads(dev, slots, server.H)
    cap = server.slot_len - others.time
    if np.any(used & ((T > cap * (1 + 1e-9) + 1e-15) | ~(others.count + 1 <= server.B + 1e-9))):
        return False
    return not enforce or costmod.delay(dev, slots, server) <= dev.tau * (1 + 1e-12)


def random_aggregates(rng, dev, server) -> Aggregates:
    H, B, dt = server.H, server.B, server.slot_len
    load = rng.uniform(0, 3 * dev.S[1:].sum() + 1, H) * (rng.random(H) < 0.8)
    kind = rng.integers(0, 4)
    if kind == 0:
        time = np.zeros(H)
    elif kind == 1:
        time = rng.uniform(0, dt, H)
    else:  # binding: leave exactly the room of one block of the device (or of nothing)
        PT = np.concatenate([[0.0], np.cumsum(dev.t_server[1:])])
        j, m = sorted(rng.choice(dev.M + 1, 2, replace=False))
        time = np.full(H, max(0.0, dt - (PT[m] - PT[j])))
        time[rng.random(H) < 0.3] = rng.uniform(0, dt)
    count = rng.integers(0, B + 1, H).astype(float)  # B: the slot is full
    if rng.random() < 0.3:  # TPOS-UAI estimates are fractional
        count = np.clip(count - rng.choice([0.5, 1e-10, 0.0], H), 0, None)
    return Aggregates(load=load, time=time, count=count)


def assert_same(dev, server, others, milp, dp, check_bruteforce=True):
    a = dp.best_response(others)
    b = milp.best_response(others)
    assert np.array_equal(a.slots, b.slots), (a, b)
    assert b.objective == pytest.approx(a.objective, rel=REL, abs=REL)
    assert b.cost == pytest.approx(a.cost, rel=REL, abs=REL)
    assert a.deadline_dropped == b.deadline_dropped
    if check_bruteforce:
        c = bruteforce.best_response(dev, server, others)
        assert np.array_equal(c.slots, a.slots), (c, a)
        assert c.objective == pytest.approx(a.objective, rel=REL, abs=REL)
        assert c.deadline_dropped == a.deadline_dropped
    return b


# ---------------------------------------------------------------------------------------------
# the linearization is exact on every strategy
# ---------------------------------------------------------------------------------------------

def set_point(d: MILPDevice, slots: np.ndarray) -> bool:
    """Put the MILP's variables at the point of strategy ``slots``; False if the network lacks it."""
    m, net, dev, H = d.model, d.net, d.dev, d.server.H
    arcs = net.path(slots)
    if arcs is None:
        return False
    for a in range(net.n_arcs):
        m.f[a].set_value(1 if a in arcs else 0)
    for mm in range(1, dev.M + 1):
        for h in range(H + 1):
            m.y[mm, h].set_value(1 if slots[mm - 1] == h else 0)
    S, _ = costmod.own_loads(dev, slots, H)
    for h in range(1, H + 1):
        m.u[h].set_value(1 if h in slots else 0)
        m.own_load[h].set_value(float(S[h - 1]))
    return True


def point_feasible(model, tol=1e-9) -> bool:
    for c in model.component_data_objects(pyo.Constraint, active=True):
        v = pyo.value(c.body)
        if c.has_lb() and v < pyo.value(c.lower) - tol:
            return False
        if c.has_ub() and v > pyo.value(c.upper) + tol:
            return False
    for v in model.component_data_objects(pyo.Var):
        if v.lb is not None and v.value < v.lb - tol or v.ub is not None and v.value > v.ub + tol:
            return False
    return True


@pytest.mark.parametrize("seed", range(8))
def test_linearization_and_feasible_set_are_exact_on_every_strategy(tmp_path, seed):
    rng = np.random.default_rng(100 + seed)
    inst, _ = random_instance(tmp_path, rng, M=4, H=3, zero_server=0.2)
    dev, server = inst.devices[0], inst.server
    d = MILPDevice(dev, server)
    eps = tie_weight(dev)
    for _ in range(3):
        others = random_aggregates(rng, dev, server)
        for enforce in (True, False):
            d.set_params(others, enforce)
            for slots in bruteforce.strategies(dev.M, server.H):
                ok = feasible_like_dp(dev, server, others, slots, enforce)
                if not set_point(d, slots):
                    assert not ok  # only blocks over T_d/H are missing from the network
                    continue
                assert point_feasible(d.model) == ok, (slots, others)
                c = costmod.device_cost(dev, slots, server, others.load)
                assert pyo.value(d.model.obj) / d.scale == pytest.approx(c + eps * theta(slots), rel=1e-12)


def test_network_paths_are_the_monotone_strategies(tmp_path):
    rng = np.random.default_rng(5)
    inst, _ = random_instance(tmp_path, rng, M=5, H=3)
    dev, server = inst.devices[0], inst.server
    net = build_network(dev, server)
    seen = set()
    for slots in bruteforce.strategies(dev.M, server.H):
        arcs = net.path(slots)
        _, T = costmod.own_loads(dev, slots, server.H)
        if arcs is None:
            assert np.any(T > server.slot_len * (1 + 1e-9) + 1e-15)
            continue
        seen.add(tuple(arcs))
        blocks = [a for a in arcs if net.kind[a] == BLOCK]
        assert len({int(net.h[a]) for a in blocks}) == len(blocks)  # one block per slot
    assert len(seen) == sum(1 for s in bruteforce.strategies(dev.M, server.H) if net.path(s) is not None)


# ---------------------------------------------------------------------------------------------
# MILP = DP = enumeration
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["per_device", "total"])
@pytest.mark.parametrize("block", range(4))
def test_milp_dp_bruteforce_agree_on_random_cases(tmp_path, mode, block):
    """8 cases x 4 blocks x 2 modes x (1 + 4 aggregates) = 320 best responses."""
    rng = np.random.default_rng(1000 * block + (mode == "total"))
    for _ in range(8):
        inst, _ = random_instance(tmp_path, rng, mode=mode, zero_server=0.15 if rng.random() < 0.5 else 0.0)
        dev, server = inst.devices[0], inst.server
        milp, dp = MILPDevice(dev, server), DPDevice(dev, server)
        assert_same(dev, server, Aggregates.empty(server.H), milp, dp)
        for _ in range(4):
            assert_same(dev, server, random_aggregates(rng, dev, server), milp, dp)


@pytest.mark.parametrize("seed", range(6))
def test_binding_deadline_and_dropped_fallback(tmp_path, seed):
    """tau equal to an achievable delay (binding exactly), between, and below the local delay."""
    rng = np.random.default_rng(2000 + seed)
    inst, doc = random_instance(tmp_path, rng, M=5, H=3, mode=["per_device", "total"][seed % 2])
    dev, server = inst.devices[0], inst.server
    ds = np.unique(delays(dev, server))
    fastest = inst.devices[0].fastest_delay
    choices = [ds[len(ds) // 2], ds[len(ds) // 3], (ds[1] + ds[2]) / 2, fastest, dev.local_cum[-1] * 0.999]
    for tau in choices:
        if tau < fastest:
            continue
        doc["devices"][0]["deadline_s"] = float(tau)
        inst2 = instance_from_dict(doc)
        dev2 = inst2.devices[0]
        milp, dp = MILPDevice(dev2, server), DPDevice(dev2, server)
        for k in range(4):
            others = random_aggregates(rng, dev2, server)
            if k == 0:  # every slot full: only local remains, infeasible if tau < local delay
                others = Aggregates(others.load, others.time, np.full(server.H, float(server.B)))
            b = assert_same(dev2, server, others, milp, dp)
            if k == 0:
                assert b.deadline_dropped == (dev2.local_cum[-1] > dev2.tau * (1 + 1e-12))
                assert np.all(b.slots == 0)


@pytest.mark.parametrize("seed", range(3))
def test_slots_overfilled_by_the_others(tmp_path, seed):
    """Mode total, others' time > T_d/H: the slot is closed to the device, local stays available."""
    rng = np.random.default_rng(50 + seed)
    inst, _ = random_instance(tmp_path, rng, M=5, H=3, mode="total", zero_server=0.3)
    dev, server = inst.devices[0], inst.server
    milp, dp = MILPDevice(dev, server), DPDevice(dev, server)
    for _ in range(4):
        others = random_aggregates(rng, dev, server)
        time = others.time.copy()
        time[rng.integers(server.H)] = server.slot_len * 1.5
        others = Aggregates(others.load, time, others.count)
        b = assert_same(dev, server, others, milp, dp, check_bruteforce=False)
        assert feasible_like_dp(dev, server, others, b.slots, not b.deadline_dropped)


def test_relaxed_device_ignores_the_deadline(tmp_path):
    rng = np.random.default_rng(7)
    inst, doc = random_instance(tmp_path, rng, M=5, H=2)
    doc["devices"][0]["deadline_s"] = inst.devices[0].fastest_delay * 0.5
    doc["model"]["deadline_policy"] = "relax"
    inst = instance_from_dict(doc)
    dev = inst.devices[0]
    assert dev.deadline_relaxed
    milp, dp = MILPDevice(dev, inst.server), DPDevice(dev, inst.server)
    for _ in range(5):
        b = assert_same(dev, inst.server, random_aggregates(rng, dev, inst.server), milp, dp)
        assert not b.deadline_dropped


@pytest.mark.parametrize("H", [1, 2, 3])
def test_gamma_zero_ties_are_broken_like_the_dp(tmp_path, H):
    """gamma = 0: every split of the same offloaded tail over the same last slot costs the same."""
    rng = np.random.default_rng(30 + H)
    for _ in range(5):
        inst, _ = random_instance(tmp_path, rng, M=6, H=H, gamma=0.0, zero_server=0.3)
        dev, server = inst.devices[0], inst.server
        milp, dp = MILPDevice(dev, server), DPDevice(dev, server)
        for _ in range(3):
            assert_same(dev, server, random_aggregates(rng, dev, server), milp, dp)


def test_lenet_cases(tmp_path):
    rng = np.random.default_rng(8)
    inst = instance_from_dict({"seed": 3, "model": {"capacity_mode": "per_device"},
                               "server": {"slots": 3, "frame_s": 0.003},
                               "devices": [{"dnn": "lenet", "bandwidth_hz": 2e5, "alpha": 0.6, "beta": 0.2,
                                            "gamma": 0.2}]})
    dev, server = inst.devices[0], inst.server
    milp, dp = MILPDevice(dev, server), DPDevice(dev, server)
    for _ in range(6):
        others = Aggregates(rng.uniform(0, 0.01, 3), rng.uniform(0, 0.001, 3), rng.integers(0, 5, 3).astype(float))
        assert_same(dev, server, others, milp, dp)


def test_engine_interface_and_no_tie_break(tmp_path):
    rng = np.random.default_rng(9)
    inst, _ = random_instance(tmp_path, rng, M=5, H=3)
    eng = MILPEngine(inst)
    assert eng.name == "milp" and eng.calls == 0
    others = random_aggregates(rng, inst.devices[0], inst.server)
    br = eng.best_response(0, others)
    assert eng.calls == 1
    assert br.cost == pytest.approx(costmod.device_cost(inst.devices[0], br.slots, inst.server, others.load))
    # without the tie-break the optimum value is still the DP's
    raw, dp_raw = MILPEngine(inst, tie_break=False), DPEngine(inst, tie_break=False)
    for _ in range(5):
        others = random_aggregates(rng, inst.devices[0], inst.server)
        assert raw.best_response(0, others).cost == pytest.approx(dp_raw.best_response(0, others).cost, rel=REL)


# ---------------------------------------------------------------------------------------------
# soft deadline: (26) dropped, pi max(0, T - tau) added to C_n
# ---------------------------------------------------------------------------------------------

def test_soft_deadline_milp_dp_bruteforce_agree(tmp_path):
    """4 devices x 3 binding deadlines (below the fastest delay, between two, at an achievable delay)
    x 3 penalties (0 = deadline ignored, 5, and far above the delay weight c^T = 10) x 3 aggregates:
    same strategy and objective in the DP, the MILP and enumeration."""
    missed = changed = 0
    for seed in range(4):
        m, c = _soft_cases(tmp_path, seed)
        missed, changed = missed + m, changed + c
    assert missed and changed  # the deadline binds, and the penalty changes best responses


def _soft_cases(tmp_path, seed):
    rng = np.random.default_rng(4000 + seed)
    inst, doc = random_instance(tmp_path, rng, M=5, H=3, mode=["per_device", "total"][seed % 2], policy="soft")
    ds = np.unique(delays(inst.devices[0], inst.server))
    missed = changed = 0
    for tau in (ds[0] * 0.7, (ds[1] + ds[2]) / 2, ds[len(ds) // 2]):
        for pen in (0.0, 5.0, 3e4):
            doc["devices"][0]["deadline_s"] = float(tau)
            doc["model"]["deadline_penalty_per_s"] = pen
            inst2 = instance_from_dict(doc)
            dev, server = inst2.devices[0], inst2.server
            assert dev.deadline_soft and dev.deadline_penalty_per_s == pen
            milp, dp = MILPDevice(dev, server), DPDevice(dev, server)
            free = DPDevice(dataclasses.replace(dev, deadline_penalty_per_s=0.0), server)
            for k in range(3):
                others = Aggregates.empty(server.H) if k == 0 else random_aggregates(rng, dev, server)
                b = assert_same(dev, server, others, milp, dp)
                assert not b.deadline_dropped  # soft: (26) is never a constraint, so never dropped
                T = costmod.delay(dev, b.slots, server)
                assert b.cost == pytest.approx(costmod.device_cost(dataclasses.replace(dev, deadline_soft=False),
                                                                   b.slots,
                                                                   server, others.load) + pen * max(0.0, T - tau),
                                                                   rel=REL)
                missed += T > tau * (1 + 1e-9)
                changed += not np.array_equal(free.best_response(others).slots, b.slots)
    return missed, changed


def test_soft_deadline_alexnet_against_full_enumeration():
    """AlexNet, tau between its fastest and its all-local delay, a penalty of the order of alpha c^T."""
    doc = {"seed": 2, "model": {"deadline_policy": "soft", "deadline_penalty_per_s": 2000.0},
           "devices": [{"dnn": "alexnet", "alpha": 0.4, "beta": 0.3, "gamma": 0.3, "bandwidth_hz": 1500.0,
                        "deadline_s": 3.5}]}
    inst = instance_from_dict(doc)
    dev, server = inst.devices[0], inst.server
    assert dev.fastest_delay < dev.tau < dev.local_cum[-1]
    milp, dp = MILPDevice(dev, server), DPDevice(dev, server)
    rng = np.random.default_rng(13)
    for k in range(3):
        others = Aggregates(rng.uniform(0, 4, 5), np.zeros(5), rng.integers(0, 5, 5).astype(float))
        if k == 0:  # slots 1-3 full: meeting tau is impossible, the penalty decides
            others = Aggregates(others.load, others.time, np.array([4.0, 4.0, 4.0, 0.0, 1.0]))
        slots, obj, _ = enumerate_best(dev, server, others)
        a, b = dp.best_response(others), milp.best_response(others)
        assert np.array_equal(a.slots, slots) and np.array_equal(b.slots, slots)
        assert a.objective == pytest.approx(obj, rel=REL) and b.objective == pytest.approx(obj, rel=REL)
        if k == 0:
            assert costmod.delay(dev, slots, server) > dev.tau


# ---------------------------------------------------------------------------------------------
# AlexNet
# ---------------------------------------------------------------------------------------------

def alexnet_instance(mode="per_device", gamma=0.41, W=1500.0):
    return instance_from_dict({"seed": 2, "model": {"capacity_mode": mode},
                               "devices": [{"dnn": "alexnet", "alpha": 0.59 - gamma / 2, "beta": 0.41 - gamma / 2,
                                            "gamma": gamma, "bandwidth_hz": W}]})


@pytest.mark.parametrize("mode,gamma", [("per_device", 0.41), ("total", 0.2), ("per_device", 0.0)])
def test_alexnet_against_dp(mode, gamma):
    inst = alexnet_instance(mode, gamma)
    dev, server = inst.devices[0], inst.server
    milp, dp = MILPDevice(dev, server), DPDevice(dev, server)
    rng = np.random.default_rng(11)
    for _ in range(12):
        others = Aggregates(rng.uniform(0, 4, 5), rng.uniform(0, 0.15, 5), rng.integers(0, 5, 5).astype(float))
        assert_same(dev, server, others, milp, dp, check_bruteforce=False)


def enumerate_best(dev, server, others):
    """All C(M+H, H) strategies, vectorized: the least C_n + eps theta_n over the feasible ones."""
    M, H = dev.M, server.H
    S = np.array(list(combinations_with_replacement(range(H + 1), M)), dtype=np.int8)
    part = (S == 0).sum(axis=1)
    lc = dev.local_cum
    offl = part < M
    T = np.where(offl, lc[part] + dev.t_up[np.minimum(part, M)] + dev.t_down + S[:, -1] * server.slot_len, lc[M])
    E = dev.P_lo * lc[part] + np.where(offl, dev.P_up * dev.t_up[np.minimum(part, M)], 0.0)
    onehot = np.stack([(S == h) for h in range(1, H + 1)], axis=2)  # (K, M, H)
    loads = np.einsum("kmh,m->kh", onehot, dev.S[1:])
    times = np.einsum("kmh,m->kh", onehot, dev.t_server[1:])
    price = ((server.a + server.price_quad * (others.load + loads)) * loads).sum(axis=1)
    C = dev.alpha * dev.c_T * T + dev.beta * dev.c_E * E + dev.gamma * price + costmod.deadline_penalty(dev, T)
    obj = C + tie_weight(dev) * (S @ layer_weights(M))
    cap = server.slot_len if server.capacity_mode == "per_device" else server.slot_len - others.time
    ok = np.all(times <= cap * (1 + 1e-9) + 1e-15, axis=1)
    ok &= ~np.any(onehot.any(axis=1) & ~(others.count + 1 <= server.B + 1e-9), axis=1)
    ok &= (T <= dev.tau * (1 + 1e-12)) | dev.deadline_soft
    k = int(np.argmin(np.where(ok, obj, np.inf)))
    return S[k].astype(int), float(obj[k]), len(S)


def test_alexnet_against_full_enumeration():
    inst = alexnet_instance("per_device", 0.3)
    dev, server = inst.devices[0], inst.server
    others = Aggregates(np.array([3.0, 1.0, 0.5, 0.0, 2.0]), np.zeros(5), np.array([1.0, 4.0, 0.0, 2.0, 3.0]))
    slots, obj, count = enumerate_best(dev, server, others)
    assert count == 65_780
    br = MILPDevice(dev, server).best_response(others)
    assert np.array_equal(br.slots, slots)
    assert br.objective == pytest.approx(obj, rel=REL)
    assert strategy_feasible(dev, server, others, br.slots, True)


def test_vgg16_relaxed_device_against_dp():
    inst = load_instance("instances/paper/fig10-mixed.toml")
    rng = np.random.default_rng(12)
    dp, milp = DPEngine(inst), MILPEngine(inst)
    for n in range(inst.N):
        for _ in range(3):
            others = Aggregates(rng.uniform(0, 4, 5), rng.uniform(0, 0.15, 5), rng.integers(0, 5, 5).astype(float))
            a, b = dp.best_response(n, others), milp.best_response(n, others)
            assert np.array_equal(a.slots, b.slots)
            assert b.objective == pytest.approx(a.objective, rel=REL)
