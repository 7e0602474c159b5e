"""TPOS-UAI remedies on sparse graphs, Case 3's overflow policy, and the readings of the paper."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from helpers import run

from mecopt.core.errors import InputError
from mecopt.core.instance import instance_from_dict, load_instance
from mecopt.game.estimate import consensus_weights
from mecopt.game.topology import weight_matrix
from mecopt.methods.baselines import solve_all_offload
from mecopt.methods.tpos import solve_uai
from mecopt.studies import reproduce as rep


def ring_instance(N=8):
    return instance_from_dict({
        "seed": 0, "model": {"deadline_policy": "relax"}, "server": {"slots": 3, "parallel_limit": 2},
        "topology": {"kind": "ring"},
        "devices": [{"dnn": "alexnet", "count": N, "alpha": 0.45, "beta": 0.15, "gamma": 0.4, "bandwidth_hz": 1500.0}],
    })


def test_consensus_weights_tend_to_the_average():
    W = weight_matrix(nx.cycle_graph(10), "metropolis")
    assert np.array_equal(consensus_weights(W, 1), W)
    assert np.abs(consensus_weights(W, 400) - 0.1).max() < 1e-6
    assert np.abs(consensus_weights(W, 5) - 0.1).max() > 1e-3


def test_polish_ends_in_a_certified_equilibrium_and_counts_both_phases():
    inst = ring_instance()
    sol = solve_uai(inst, engine="dp", seed=1, max_iter=400, polish_after=40)
    assert sol.certificate["certified"]
    info = sol.info
    assert sol.iterations == info["uai_ticks"] + info["polish_ticks"] <= 400
    assert sol.solver_calls == info["uai_calls"] + info["polish_calls"]
    assert info["uai_ticks"] <= 40
    assert list(sol.trace["tick"]) == list(range(sol.iterations + 1))


def test_consensus_rounds_change_the_estimate_and_defaults_do_not():
    inst = ring_instance()
    plain = solve_uai(inst, engine="dp", seed=1, max_iter=30)
    assert "consensus_rounds" not in plain.info and "uai_ticks" not in plain.info
    mixed = solve_uai(inst, engine="dp", seed=1, max_iter=30, consensus_rounds=200)
    assert mixed.info["consensus_rounds"] == 200
    with pytest.raises(InputError, match="consensus_rounds"):
        solve_uai(inst, engine="dp", consensus_rounds=0)
    with pytest.raises(InputError, match="polish_after"):
        solve_uai(inst, engine="dp", polish_after=0)


def test_case3_overflow_policy():
    inst = load_instance("instances/paper/fig8-vgg16.toml")   # no VGG16 fits the frame: all overflow
    queue = solve_all_offload(inst, draws=2)
    local = solve_all_offload(inst, draws=2, overflow="local")
    assert queue.info["queued_mean"] == inst.N and queue.info["local_fallback_mean"] == 0
    assert local.info["queued_mean"] == 0 and local.info["local_fallback_mean"] == inst.N
    assert all((s == 0).all() for s in local.profile) and local.violations == []
    with pytest.raises(InputError, match="overflow"):
        solve_all_offload(inst, overflow="drop")


def test_readings_file_and_rewritten_instances(tmp_path):
    rs = rep.load_readings("paper")
    assert len(rs) >= 6 and rs[0] == {"name": "default"}
    assert {k for r in rs for k in r} >= {"bits_per_element", "capacity_mode", "case3_overflow", "price_scale",
                                          "bandwidth_scale"}
    bad = tmp_path / "bad.toml"
    bad.write_text('[[reading]]\nname = "x"\nbits_per_elemnt = 2\n')
    with pytest.raises(InputError, match="bits_per_elemnt"):
        rep.load_readings(bad)
    s = rep.Settings(reading=(("bits_per_element", 0.25), ("bandwidth_scale", 1000.0)))
    ctx = rep.Context(tmp_path, s, None, False, None)
    inst = load_instance(ctx.instance("fig8-lenet"))
    ref = load_instance("instances/paper/fig8-lenet.toml")
    assert inst.bits_per_element == 0.25
    assert inst.devices[0].W == pytest.approx(1000 * ref.devices[0].W)
    assert rep.Context(tmp_path, rep.Settings(), None, False, None).instance("fig8-lenet") == rep.paper_instance(
        "fig8-lenet")


def test_cli_readings_bad_file_is_exit_2(tmp_path, capsys):
    code, _, err = run(capsys, "reproduce", "--readings", tmp_path / "none.toml", "--out", tmp_path / "o", "-q")
    assert code == 2 and "not found" in err
