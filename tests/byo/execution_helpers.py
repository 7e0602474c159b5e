"""Tiny instances and plans for the tests of mecopt.byo.execution (LeNet devices, hand-made profiles)."""

from __future__ import annotations

import numpy as np

from mecopt.core.instance import Instance
from mecopt.core.solution import Solution, Termination


def lenet_instance(n: int = 3, *, B: int = 2, H: int = 4, frame_s: float = 0.2, servers: int = 1,
                   bits: int = 32) -> Instance:
    """N LeNet devices, 32 bits per element (real float32 sizes), a fast link (about 32 Mbit/s)."""
    data = {"name": "tiny-exec", "seed": 1,
            "model": {"bits_per_element": bits, "deadline_policy": "relax"},
            "device_defaults": {"dnn": "lenet", "bandwidth_hz": 1e6, "alpha": 0.95, "beta": 0.049, "gamma": 0.001},
            "devices": [{"count": n}]}
    server = {"slots": H, "frame_s": frame_s, "parallel_limit": B}
    if servers == 1:
        data["server"] = server
    else:
        data["servers"] = [{**server, "name": f"s{k + 1}"} for k in range(servers)]
    return Instance.from_dict(data)


def plan(inst: Instance, profile: list[list[int]], server_of=None) -> Solution:
    """A Solution with the given slot vectors (method 'manual')."""
    return Solution("manual", inst, [np.asarray(p) for p in profile], Termination.FEASIBLE,
                    server_of=None if server_of is None else np.asarray(server_of))
