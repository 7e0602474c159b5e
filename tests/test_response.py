"""Shared best-response rules: feasibility of a strategy against the others' aggregates."""

import numpy as np

from mecopt import bruteforce
from mecopt.dp import DPDevice
from mecopt.instance import instance_from_dict
from mecopt.response import Aggregates, strategy_feasible


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
