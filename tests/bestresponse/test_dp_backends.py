"""The DP's two kernels (numba-compiled loops and the numpy reference) give the same best
response to the last bit, and ``best_move`` the same strategy and objective as ``best_response``."""

from __future__ import annotations

import numpy as np
import pytest
from test_milp_best_response import delays, random_aggregates, random_instance

from mecopt.bestresponse import dp as dpmod
from mecopt.bestresponse.dp import DPDevice
from mecopt.core.instance import instance_from_dict

pytestmark = pytest.mark.skipif(dpmod._solve_compiled is None, reason="numba is not installed")


@pytest.mark.parametrize("seed", range(6))
def test_kernels_agree_bit_for_bit(tmp_path, seed):
    rng = np.random.default_rng(100 + seed)
    for case in range(12):
        inst, _ = random_instance(tmp_path, rng, zero_server=0.3 if case % 3 == 0 else 0.0)
        dev, server = inst.devices[0], inst.server
        if case % 2:   # a binding deadline
            d = np.sort(delays(dev, server))
            inst, _ = random_instance(tmp_path, np.random.default_rng(seed * 100 + case), tau=float(d[len(d) // 3]),
                                     policy="relax")
            dev, server = inst.devices[0], inst.server
        for tie in (True, False):
            a = DPDevice(dev, server, tie_break=tie, backend="compiled")
            b = DPDevice(dev, server, tie_break=tie, backend="numpy")
            for _ in range(8):
                others = random_aggregates(rng, dev, server)
                for enforce in (True, False):
                    x, y = a.solve(others, enforce), b.solve(others, enforce)
                    assert (x is None) == (y is None)
                    if x is not None:
                        assert x[0] == y[0] and np.array_equal(x[1], y[1])
                r, m = a.best_response(others), a.best_move(others)
                assert np.array_equal(r.slots, m.slots) and r.objective == m.objective
                assert m.cost == pytest.approx(r.cost, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("dnn", ["alexnet", "vgg16"])
def test_kernels_agree_on_bundled_networks(dnn):
    inst = instance_from_dict({"seed": 0, "model": {"deadline_policy": "relax", "capacity_mode": "total"},
                               "devices": [{"dnn": dnn, "alpha": 0.42, "beta": 0.17, "gamma": 0.41}]})
    dev, server = inst.devices[0], inst.server
    a, b = DPDevice(dev, server, backend="compiled"), DPDevice(dev, server, backend="numpy")
    rng = np.random.default_rng(1)
    for _ in range(40):
        others = random_aggregates(rng, dev, server)
        x, y = a.best_response(others), b.best_response(others)
        assert x.objective == y.objective and np.array_equal(x.slots, y.slots)


def test_unknown_backend_is_refused():
    inst = instance_from_dict({"seed": 0, "devices": [{"dnn": "lenet"}]})
    with pytest.raises(ValueError, match="backend"):
        DPDevice(inst.devices[0], inst.server, backend="gpu")
