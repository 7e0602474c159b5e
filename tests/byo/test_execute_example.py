"""The scaled scenario of mecopt execute (examples/execute/): its calibrated sets load, and both the equilibrium and
the GTPOS plan offload with B = 1 (the execution itself is benchmarks/bench_execute.py: it takes a minute)."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import pytest

import mecopt

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
sys.path.insert(0, str(EXAMPLES))
import execute_scaled  # noqa: E402


def test_the_device_set_is_the_server_set_scaled(tmp_path):
    execute_scaled.scale_set(execute_scaled.HERE / "calibrated-server.toml", tmp_path / "dev.toml", 4.0, "dev")
    server = tomllib.loads((execute_scaled.HERE / "calibrated-server.toml").read_text())
    dev = tomllib.loads((tmp_path / "dev.toml").read_text())
    conv = server["types"]["conv"]["coefficients"]
    assert dev["types"]["conv"]["coefficients"] == {k: 4 * v for k, v in conv.items()}
    bundled = tomllib.loads((execute_scaled.HERE / "calibrated-device.toml").read_text())
    assert bundled["types"] == dev["types"]


@pytest.mark.solver
def test_both_plans_of_the_scaled_scenario_offload():
    inst = execute_scaled.scenario(1)
    assert inst.N == 6 and inst.server.B == 1 and inst.bits_per_element == 32
    for d in inst.devices:   # the devices are the server x 4 (calibrated sets)
        assert d.t_local[1:].sum() == pytest.approx(4 * d.t_server[1:].sum(), rel=1e-9)
    for method in ("tpos-cai", "gtpos"):
        sol = mecopt.solve(inst, method)
        assert sol.feasible
        # the bundled sets (calibrated on a quiet machine) make both plans offload; GTPOS offloads one device
        assert sum(int((p > 0).any()) for p in sol.profile) >= 1
