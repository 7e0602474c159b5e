"""examples/scenario-k3-n200.toml (issue 24's scenario) is what its script writes, and what it says."""

from __future__ import annotations

import runpy
from collections import Counter
from pathlib import Path

from mecopt.core.instance import load_instance
from mecopt.core.tolerances import meets_deadline

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_the_scenario_file_is_what_its_script_writes(tmp_path):
    script = runpy.run_path(str(EXAMPLES / "scenario_k3_n200.py"))
    written = script["main"](tmp_path / "scenario.toml")
    assert written.read_text() == (EXAMPLES / "scenario-k3-n200.toml").read_text()


def test_the_scenario_is_three_servers_and_200_devices_that_can_each_meet_their_deadline():
    inst = load_instance(str(EXAMPLES / "scenario-k3-n200.toml"))
    assert inst.K == 3 and inst.N == 200 and inst.deadline_policy == "soft"
    assert Counter(d.dnn for d in inst.devices) == {"resnet18": 100, "mobilenet_v2": 100}
    assert all(sv.f_s == 3.4e9 for sv in inst.servers) and all(d.deadline_soft for d in inst.devices)
    for k in range(inst.K):        # every device reaches every server and meets tau there alone
        view = inst.view(k).instance
        assert view.N == inst.N and all(meets_deadline(d.fastest_delay, d.tau) for d in view.devices)
