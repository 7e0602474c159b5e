"""Shared fixtures: a tiny hand-checkable DNN and instance documents.

``tiny_dnn`` is a 4-layer chain on a 1x8x8 input with *measured* per-layer times
(they override the delay model), so every figure can be computed by hand:

=====  ======  ==========  ========  =========  ==========
layer  name    output      elements  t_local_s  t_server_s
=====  ======  ==========  ========  =========  ==========
0      input   1x8x8       64        -          -
1      conv1   4x6x6       144       0.1        0.02
2      relu1   4x6x6       144       0.2        0.03
3      pool1   4x3x3       36        0.3        0.04
4      fc1     10          10        0.4        0.05
=====  ======  ==========  ========  =========  ==========

``instance_dict`` builds instance documents around it. With its defaults
(bits_per_element 1, W = 100 Hz, P_up = 1 W, P_s = 5 W, G = 3e-7, N0 = 1e-9):
R_up = 100 log2(1 + 3) = 200 bit/s, R_down = 100 log2(1 + 15) = 400 bit/s;
f_s = 100, delta = 1, price_scale = 1 give S_{n,m} = 100 T^se = 2, 3, 4, 5;
H = 3, T_d = 0.3 s (T_d/H = 0.1 s), B = 2, a_h = 1, b_h = 2; weights .5/.3/.2,
c^T = 10, c^E = 2, P_lo = 2 W, tau = 10 s.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import tomli_w

TINY_SPEC = {
    "name": "tiny",
    "description": "4-layer test chain with measured times",
    "input": {"channels": 1, "height": 8, "width": 8},
    "layers": [
        {"name": "conv1", "type": "conv", "out_channels": 4, "kernel": 3, "t_local_s": 0.1, "t_server_s": 0.02},
        {"name": "relu1", "type": "relu", "t_local_s": 0.2, "t_server_s": 0.03},
        {"name": "pool1", "type": "pool", "kernel": 2, "stride": 2, "t_local_s": 0.3, "t_server_s": 0.04},
        {"name": "fc1", "type": "fc", "out_features": 10, "t_local_s": 0.4, "t_server_s": 0.05},
    ],
}


@pytest.fixture
def tiny_dnn(tmp_path: Path) -> Path:
    """Path of the 4-layer spec above, written to tmp_path."""
    path = tmp_path / "tiny.toml"
    path.write_text(tomli_w.dumps(TINY_SPEC))
    return path


def _merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


@pytest.fixture
def instance_dict(tiny_dnn: Path):
    """Factory: ``instance_dict(n_devices=2, devices=None, **overrides)`` -> an instance document.

    ``devices`` replaces the device list (default: ``n_devices`` entries named d1, d2, ...);
    other keyword arguments are merged section by section (``server={"slots": 4}``).
    A key set to ``None`` is removed.
    """

    def make(n_devices: int = 2, devices: list[dict] | None = None, **overrides) -> dict:
        doc = {
            "name": "tiny",
            "seed": 7,
            "model": {"bits_per_element": 1.0, "price_scale": 1.0, "capacity_mode": "per_device",
                      "deadline_policy": "hard"},
            "server": {"slots": 3, "frame_s": 0.3, "parallel_limit": 2, "freq_cycles_per_s": 100.0,
                       "price_base": 1.0, "price_growth": 2.0, "tx_power_w": 5.0},
            "device_defaults": {"dnn": str(tiny_dnn), "alpha": 0.5, "beta": 0.3, "gamma": 0.2,
                                "cost_delay_per_s": 10.0, "cost_energy_per_j": 2.0, "delta_cycles_per_bit": 1.0,
                                "upload_power_w": 1.0, "compute_power_w": 2.0, "bandwidth_hz": 100.0,
                                "channel_gain": 3e-7, "noise_w_per_hz": 1e-9, "deadline_s": 10.0},
            "devices": devices if devices is not None else [{"name": f"d{i + 1}"} for i in range(n_devices)],
        }
        doc = _merge(doc, overrides)
        return _drop_none(doc)

    return make


def _drop_none(d):
    if isinstance(d, dict):
        return {k: _drop_none(v) for k, v in d.items() if v is not None}
    if isinstance(d, list):
        return [_drop_none(v) for v in d]
    return d


@pytest.fixture
def write_toml(tmp_path: Path):
    """Factory: ``write_toml(doc, name="instance.toml")`` writes a dict as TOML into tmp_path, returns the path."""

    def write(doc: dict, name: str = "instance.toml") -> Path:
        path = tmp_path / name
        path.write_text(tomli_w.dumps(doc))
        return path

    return write


@pytest.fixture
def registries():
    """Restore the method and engine registries after a test that registers some."""
    from mecopt.bestresponse import engines
    from mecopt.methods import registry

    methods, engine_table = dict(registry.METHODS), dict(engines.ENGINES.entries)
    yield
    registry.METHODS.clear()
    registry.METHODS.update(methods)
    engines.ENGINES.entries.clear()
    engines.ENGINES.entries.update(engine_table)
