"""Links (eqs. 8-11) and the cost model (eqs. 19-25, MODEL.md §3-6), checked by hand.

The tiny instance of conftest.py: R_up = 200 bit/s, R_down = 400 bit/s, output bits
64 (input), 144, 144, 36, 10; t_local .1 .2 .3 .4 s; t_server .02 .03 .04 .05 s;
S = 2, 3, 4, 5; H = 3, T_d = .3 s; a_h = 1, b_h = 2; alpha/beta/gamma = .5/.3/.2,
c^T = 10, c^E = 2, P_lo = 2 W, P_up = 1 W.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from mecopt.core import channel
from mecopt.core import cost as costmod
from mecopt.core.instance import instance_from_dict

# ---------------------------------------------------------------- channel


def test_shannon_rate_by_hand():
    # W = 2 kHz, P = 4 W, G = 1.2e6, N0 = 1e-9: SNR = 4 * 1.2e6 / (2000 * 1e-9) = 2.4e12
    expected = 2000 * math.log(1 + 2.4e12, 2)
    assert channel.shannon_rate(2000.0, 4.0, 1.2e6, 1e-9) == pytest.approx(expected, rel=1e-12)
    assert channel.shannon_rate(100.0, 1.0, 3e-7, 1e-9) == pytest.approx(200.0, rel=1e-12)  # log2(4) = 2
    assert channel.shannon_rate(100.0, 5.0, 3e-7, 1e-9) == pytest.approx(400.0, rel=1e-12)  # log2(16) = 4


def test_transfer_time():
    np.testing.assert_allclose(channel.transfer_time([64, 144, 10], 200.0), [0.32, 0.72, 0.05])


def test_paper_instance_rates():
    from mecopt.core.instance import load_instance
    from mecopt.core.resources import instances_dir
    inst = load_instance(instances_dir() / "paper" / "fig6-w1khz.toml")
    d = inst.devices[0]
    expected = 1000 * math.log2(1 + 4 * 1.2e6 / (1000 * 1e-9))
    assert d.rate_up == pytest.approx(expected, rel=1e-12)
    assert d.t_up[0] == pytest.approx(227 * 227 * 3 / expected, rel=1e-12)  # bits_per_element = 1
    assert d.t_down == pytest.approx(1000 / expected, rel=1e-12)           # P_s = 4 W = P_up here


# ---------------------------------------------------------------- resolved tiny device


@pytest.fixture
def tiny(instance_dict):
    return instance_from_dict(instance_dict(n_devices=2))


def test_tiny_device_resolution(tiny):
    d = tiny.devices[0]
    assert d.M == 4
    assert d.rate_up == pytest.approx(200.0) and d.rate_down == pytest.approx(400.0)
    np.testing.assert_allclose(d.out_bits, [64, 144, 144, 36, 10])
    np.testing.assert_allclose(d.t_up, [0.32, 0.72, 0.72, 0.18, 0.05])
    assert d.t_down == pytest.approx(0.025)
    np.testing.assert_allclose(d.S, [0, 2, 3, 4, 5])  # delta f_s T_se / price_scale = 1 * 100 * T_se / 1
    assert d.fastest_delay == pytest.approx(0.32 + 2 * 0.1 + 0.025)  # m* = 0, two slots needed (0.09 + 0.05)


# ---------------------------------------------------------------- one device alone


def _figures(inst, profile):
    ev = costmod.evaluate(inst, [np.asarray(p) for p in profile])
    return ev


def test_fully_local_by_hand(tiny):
    ev = _figures(tiny, [[0, 0, 0, 0], [0, 0, 0, 0]])
    # T = .1 + .2 + .3 + .4 = 1; E = 2 W * 1 s = 2; no price; C = .5*10*1 + .3*2*2 = 6.2
    np.testing.assert_allclose(ev.delay, [1.0, 1.0])
    np.testing.assert_allclose(ev.energy, [2.0, 2.0])
    np.testing.assert_allclose(ev.price, [0.0, 0.0])
    np.testing.assert_allclose(ev.cost, [6.2, 6.2])
    assert list(ev.partition) == [4, 4] and list(ev.last_slot) == [0, 0]


def test_fully_offloaded_by_hand(tiny):
    ev = _figures(tiny, [[1, 1, 2, 2], [0, 0, 0, 0]])
    # m* = 0: upload the input 64/200 = .32 s, h_max = 2: 2/3 * .3 = .2 s, download 10/400 = .025 s
    assert ev.delay[0] == pytest.approx(0.545)
    assert ev.energy[0] == pytest.approx(1 * 0.32)  # no local layer, upload energy only
    # S^1 = 2 + 3 = 5, S^2 = 4 + 5 = 9; p_1 = 1 + 2/1*5 = 11, p_2 = 1 + 2/2*9 = 10
    assert ev.price[0] == pytest.approx(11 * 5 + 10 * 9)
    assert ev.cost[0] == pytest.approx(0.5 * 10 * 0.545 + 0.3 * 2 * 0.32 + 0.2 * 145)
    assert ev.partition[0] == 0 and ev.last_slot[0] == 2
    np.testing.assert_allclose(ev.slot_time, [0.05, 0.09, 0.0])
    np.testing.assert_allclose(ev.slot_load, [5.0, 9.0, 0.0])
    assert list(ev.slot_count) == [1, 1, 0]


def test_split_by_hand(tiny):
    ev = _figures(tiny, [[0, 0, 0, 0], [0, 0, 3, 3]])
    # m* = 2: local .1 + .2, upload 144/200 = .72, h_max = 3: .3, download .025
    assert ev.delay[1] == pytest.approx(0.3 + 0.72 + 0.3 + 0.025)
    assert ev.energy[1] == pytest.approx(2 * 0.3 + 1 * 0.72)
    # S^3 = 9, p_3 = 1 + 2/3 * 9 = 7
    assert ev.price[1] == pytest.approx(63.0)
    assert ev.cost[1] == pytest.approx(0.5 * 10 * 1.345 + 0.3 * 2 * 1.32 + 0.2 * 63)
    assert ev.avg_delay == pytest.approx((1.0 + 1.345) / 2)


def test_price_is_quadratic_in_own_load_and_includes_the_others(tiny):
    server = tiny.server
    dev = tiny.devices[1]
    alone = costmod.evaluate(tiny, [np.zeros(4, int), np.array([0, 0, 0, 2])]).price[1]
    # S_B^2 = 5 alone: p_2 = 1 + 1 * 5 = 6, price 6 * 5 = 30 (own load counted)
    assert alone == pytest.approx(30.0)
    both = costmod.evaluate(tiny, [np.array([1, 1, 2, 2]), np.array([0, 0, 0, 2])])
    # slot 2 now holds 9 + 5 = 14: p_2 = 15; A pays 11*5 + 15*9 = 190, B pays 15*5 = 75
    assert both.price[0] == pytest.approx(190.0)
    assert both.price[1] == pytest.approx(75.0)
    b_T = 0.6 + 0.18 + 0.2 + 0.025
    assert both.delay[1] == pytest.approx(b_T)
    assert both.cost[1] == pytest.approx(0.5 * 10 * b_T + 0.3 * 2 * (2 * 0.6 + 0.18) + 0.2 * 75)
    # device_cost against the others' load agrees with evaluate
    others = np.array([5.0, 9.0, 0.0])
    assert costmod.device_cost(dev, np.array([0, 0, 0, 2]), server, others) == pytest.approx(both.cost[1])
    # quadratic: doubling the own load in an empty slot more than doubles the price
    S1 = np.array([0.0, 5.0, 0.0])
    S2 = 2 * S1
    assert costmod.price(S2, S2, server) - 2 * costmod.price(S1, S1, server) == pytest.approx(1.0 * 5 * 5 * 2)


def test_queued_device_by_hand(tiny):
    ev = _figures(tiny, [[4, 4, 4, 4], [0, 0, 0, 0]])  # H + 1 = 4: served after the frame
    # upload input .32 + T_d .3 + all server time .14 + download .025
    assert ev.delay[0] == pytest.approx(0.32 + 0.3 + 0.14 + 0.025)
    assert ev.energy[0] == pytest.approx(0.32)
    assert ev.price[0] == 0.0 and ev.slot_load.sum() == 0.0 and ev.slot_count.sum() == 0


# ---------------------------------------------------------------- the potential


def test_potential_by_hand(tiny):
    prof = [np.array([1, 1, 2, 2]), np.array([0, 0, 0, 2])]
    ev = costmod.evaluate(tiny, prof)
    # slots: L = (5, 14, 0); sum_n (S_n^h)^2 = (25, 81 + 25, 0)
    slot = (1 * 5 + (2 / 2) * (25 + 25)) + (1 * 14 + (2 / 4) * (14 ** 2 + 81 + 25))
    own = (0.5 * 10 * 0.545 + 0.3 * 2 * 0.32) / 0.2 + (0.5 * 10 * 1.005 + 0.3 * 2 * 1.38) / 0.2
    assert ev.potential == pytest.approx(slot + own, rel=1e-12)


def test_soft_deadline_cost_and_potential_by_hand(instance_dict):
    """tau = 0.5 s, pi = 100 per s: the profile of test_potential_by_hand misses by 0.045 s and 0.505 s."""
    tiny = instance_from_dict(instance_dict(model={"deadline_policy": "soft", "deadline_penalty_per_s": 100.0},
                                            device_defaults={"deadline_s": 0.5}))
    prof = [np.array([1, 1, 2, 2]), np.array([0, 0, 0, 2])]
    ev = costmod.evaluate(tiny, prof)
    assert ev.delay == pytest.approx([0.545, 1.005], rel=1e-12)
    assert ev.penalty == pytest.approx([4.5, 50.5], rel=1e-9)
    hard = costmod.evaluate(instance_from_dict(instance_dict(device_defaults={"deadline_s": 10.0})), prof)
    assert ev.cost == pytest.approx(hard.cost + [4.5, 50.5], rel=1e-12)
    assert ev.potential == pytest.approx(hard.potential + (4.5 + 50.5) / 0.2, rel=1e-12)
    others = costmod.own_loads(tiny.devices[1], prof[1], 3)[0]
    assert costmod.device_cost(tiny.devices[0], prof[0], tiny.server, others) == pytest.approx(ev.cost[0], rel=1e-12)
    # meeting tau costs nothing extra; the penalty is linear in the seconds over
    assert costmod.deadline_penalty(tiny.devices[0], 0.5) == 0.0
    assert costmod.deadline_penalty(tiny.devices[0], 0.75) == pytest.approx(25.0)


def _random_strategy(rng, M, H, queue=True):
    kind = rng.random()
    if queue and kind < 0.05:
        return np.full(M, H + 1)
    if kind < 0.15:
        return np.zeros(M, dtype=int)
    return np.sort(rng.integers(0, H + 1, M))


@pytest.mark.parametrize("policy", ["relax", "soft"])
def test_exact_potential_property_on_random_profiles_and_deviations(instance_dict, policy):
    """For every unilateral deviation, Phi(new) - Phi(old) = (C_n(new) - C_n(old)) / gamma_n;
    under the soft deadline policy C_n includes the penalty and Phi its sum_n P_n / gamma_n."""
    rng = np.random.default_rng(2024)
    doc = instance_dict(
        devices=[
            {"name": "a", "alpha": 0.2, "beta": 0.3, "gamma": 0.5},
            {"name": "b", "dnn": "lenet", "alpha": 0.6, "beta": 0.1, "gamma": 0.3, "delta_cycles_per_bit": 2.5},
            {"name": "c", "dnn": "alexnet", "alpha": 0.1, "beta": 0.1, "gamma": 0.8},
            {"name": "d", "alpha": 0.05, "beta": 0.9, "gamma": 0.05, "cost_delay_per_s": 3.0},
        ],
        server={"slots": 4, "price_base": [1.0, 0.5, 2.0, 0.1], "price_growth": [2.0, 3.0, 0.5, 1.0]},
        model={"deadline_policy": "relax"},
    )
    if policy == "soft":  # deadlines that the random strategies often miss
        doc["model"].update(deadline_policy="soft", deadline_penalty_per_s=50.0)
        for d, tau in zip(doc["devices"], (0.6, 0.02, 2.0, 0.8)):
            d["deadline_s"] = tau
    inst = instance_from_dict(doc)
    H = inst.server.H
    checked = soft_moves = 0
    for _ in range(60):
        prof = [_random_strategy(rng, d.M, H) for d in inst.devices]
        ev = costmod.evaluate(inst, prof)
        for _ in range(4):
            n = int(rng.integers(inst.N))
            new = list(prof)
            new[n] = _random_strategy(rng, inst.devices[n].M, H)
            ev2 = costmod.evaluate(inst, new)
            dphi = ev2.potential - ev.potential
            dC = (ev2.cost[n] - ev.cost[n]) / inst.devices[n].gamma
            assert dphi == pytest.approx(dC, rel=1e-9, abs=1e-9 * max(1.0, abs(ev.potential)))
            soft_moves += ev2.penalty[n] != ev.penalty[n]
            # the others' costs move too (the price is shared), so Phi is not just any sum of costs
            checked += 1
    assert checked == 240
    if policy == "soft":
        assert soft_moves > 50  # the penalty changed with the move, so it is what was tested


def test_potential_is_nan_when_some_gamma_is_zero(instance_dict):
    inst = instance_from_dict(instance_dict(devices=[{"name": "a", "alpha": 0.7, "beta": 0.3, "gamma": 0.0}]))
    ev = costmod.evaluate(inst, costmod.all_local(inst))
    assert math.isnan(ev.potential)


def test_one_evaluation_for_one_server_names_the_server_of_each_device_and_slot(tiny):
    profile = [np.array([0, 0, 1, 2]), np.zeros(4, dtype=int)]
    ev = costmod.evaluate(tiny, profile)
    assert list(ev.server) == [0, -1] and list(ev.slot_server) == [0] * tiny.server.H
    assert ev.loads.shape == (tiny.N, tiny.server.H) and ev.slot_load.shape == (tiny.server.H,)
    same = costmod.evaluate(tiny, profile, server_of=[0, -1])   # the same association, given
    assert (same.cost == ev.cost).all() and same.potential == ev.potential
    with pytest.raises(ValueError, match="strategies for 2 devices"):
        costmod.evaluate(tiny, profile[:1])


def test_a_one_server_instance_and_its_servers_list_score_alike(tiny, instance_dict):
    doc = instance_dict(n_devices=2)
    listed = instance_from_dict({**{k: v for k, v in doc.items() if k != "server"}, "servers": [doc["server"]]})
    profile = [np.array([0, 1, 1, 2]), np.array([0, 0, 3, 3])]
    a, b = costmod.evaluate(tiny, profile), costmod.evaluate(listed, profile)
    for f in ("delay", "energy", "price", "cost", "slot_load", "server"):
        assert (getattr(a, f) == getattr(b, f)).all(), f
    assert a.potential == b.potential
