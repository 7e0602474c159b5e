"""Shared best-response rules: feasibility of a strategy against the others' aggregates."""

import enumeration as bruteforce
import numpy as np

from mecopt.bestresponse.dp import DPDevice
from mecopt.core.instance import instance_from_dict
from mecopt.core.problem import Aggregates, strategy_feasible


def test_a_slot_overfilled_by_others_only_blocks_those_who_use_it():
    inst = instance_from_dict({"model": {"capacity_mode": "total", "deadline_policy": "relax"},
                               "server": {"slots": 2, "frame_s": 0.01}, "devices": [{"dnn": "lenet"}]})
    dev, server = inst.devices[0], inst.server
    others = Aggregates(np.zeros(2), np.array([2 * server.slot_len, 0.0]), np.zeros(2))
    assert strategy_feasible(dev, server, others, np.zeros(dev.M, dtype=int), True)
    assert strategy_feasible(dev, server, others, np.full(dev.M, 2), False)
    assert not strategy_feasible(dev, server, others, np.full(dev.M, 1), False)
    dp = DPDevice(dev, server).best_response(others)
    bf = bruteforce.best_response(dev, server, others)
    assert np.array_equal(dp.slots, bf.slots) and 1 not in dp.slots


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=80, deadline=None)
@given(H=st.integers(1, 3), mode=st.sampled_from(["per_device", "total"]), B=st.integers(1, 3),
       gamma=st.sampled_from([0.0, 0.001, 0.3, 1.0]), frame=st.floats(0.0005, 0.02),
       deadline=st.floats(0.003, 0.05), bandwidth=st.floats(500, 2e5), seed=st.integers(0, 2**16))
def test_dp_best_response_equals_enumeration(H, mode, B, gamma, frame, deadline, bandwidth, seed):
    """Property: on random LeNet devices and random aggregates the DP returns the enumeration's
    strategy and objective, and that strategy satisfies (17), (27) (and (26) unless dropped)."""
    rest = 1.0 - gamma
    inst = instance_from_dict({
        "model": {"capacity_mode": mode, "deadline_policy": "relax"},
        "server": {"slots": H, "frame_s": frame, "parallel_limit": B},
        "devices": [{"dnn": "lenet", "alpha": rest * 0.7, "beta": rest * 0.3, "gamma": gamma,
                     "bandwidth_hz": bandwidth, "deadline_s": deadline}]})
    dev, server = inst.devices[0], inst.server
    rng = np.random.default_rng(seed)
    others = Aggregates(rng.uniform(0, 3, H), rng.uniform(0, 1.2 * server.slot_len, H),
                        rng.integers(0, B + 1, H).astype(float))
    dp = DPDevice(dev, server).best_response(others)
    bf = bruteforce.best_response(dev, server, others)
    assert np.array_equal(dp.slots, bf.slots)
    assert abs(dp.objective - bf.objective) <= 1e-9 * max(1.0, abs(bf.objective))
    assert dp.deadline_dropped == bf.deadline_dropped
    enforce = not (dev.deadline_relaxed or dp.deadline_dropped)
    assert strategy_feasible(dev, server, others, dp.slots, enforce)
