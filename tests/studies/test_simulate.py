"""mecopt simulate: scenarios, warm starts, per-frame equilibria, the folder it writes, Dask."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from mecopt.cli import cli
from mecopt.core import checker as check
from mecopt.core.errors import InputError
from mecopt.core.instance import deadline_unreachable, instance_from_dict, load_instance
from mecopt.game.dynamics import play
from mecopt.methods.tpos import solve_cai
from mecopt.studies import simulate as sim


def small(N=6, policy="relax"):
    return instance_from_dict({
        "name": "sim-small", "seed": 2, "model": {"deadline_policy": policy},
        "devices": [{"dnn": "alexnet", "count": N - 2, "alpha": 0.42, "beta": 0.17, "gamma": 0.41},
                    {"dnn": "lenet", "count": 2, "alpha": 0.42, "beta": 0.17, "gamma": 0.41}],
    })


def test_scenario_is_seeded_and_has_the_fading_mean():
    inst = small()
    spec = sim.SimulationSpec(frames=400, fading="rayleigh", activity=0.7)
    a, b = sim.scenario(inst, spec, 5), sim.scenario(inst, spec, 5)
    assert np.array_equal(a.gains, b.gains) and np.array_equal(a.active, b.active)
    assert not np.array_equal(a.gains, sim.scenario(inst, spec, 6).gains)
    G = np.array([d.G for d in inst.devices])
    assert np.mean(a.gains / G) == pytest.approx(1.0, abs=0.08)       # E|h|^2 = 1
    assert a.active.mean() == pytest.approx(0.7, abs=0.03)
    ric = sim.scenario(inst, sim.SimulationSpec(frames=400, fading="rician", rician_k=5.0), 0)
    assert np.mean(ric.gains / G) == pytest.approx(1.0, abs=0.05)
    assert np.var(ric.gains / G) < np.var(a.gains / G)                 # a line of sight fades less
    none = sim.scenario(inst, sim.SimulationSpec(frames=3, fading="none"), 0)
    assert np.array_equal(none.gains, np.broadcast_to(G, (3, inst.N))) and none.active.all()


def test_mobility_changes_gains_by_path_loss():
    inst = small()
    spec = sim.SimulationSpec(frames=30, fading="none", speed_mps=20.0, ref_distance_m=50.0, path_loss_exp=3.0)
    sc = sim.scenario(inst, spec, 0)
    G = np.array([d.G for d in inst.devices])
    assert np.allclose(sc.gains[0], G)                                 # frame 0: at the reference distance
    assert not np.allclose(sc.gains[-1], G)


def test_frame_instance_recomputes_the_links():
    inst = small()
    sc = sim.Scenario(gains=np.array([[d.G * 4 for d in inst.devices]]), active=np.array([[True, False] * 3]))
    fi, idx = sim.frame_instance(inst, sc, 0)
    assert list(idx) == [0, 2, 4] and [d.index for d in fi.devices] == [0, 1, 2]
    # the same device written with 4x the gain in the instance file gives the same numbers
    ref = instance_from_dict({"seed": 2, "model": {"deadline_policy": "relax"},
                              "devices": [{"dnn": "alexnet", "alpha": 0.42, "beta": 0.17, "gamma": 0.41,
                                           "channel_gain": inst.devices[2].G * 4,
                                           "delta_cycles_per_bit": inst.devices[2].delta}]}).devices[0]
    d = fi.devices[1]
    assert d.rate_up == ref.rate_up and d.rate_down == ref.rate_down and d.t_down == ref.t_down
    assert np.array_equal(d.t_up, ref.t_up) and d.fastest_delay == ref.fastest_delay


def test_one_server_scenario_answers_as_a_link_scenario():
    inst = small()
    sc = sim.scenario(inst, sim.SimulationSpec(frames=3, activity=0.7), 4)
    assert isinstance(sc, sim.Scenario)
    for t in range(3):
        assert sc.gain(t).shape == (inst.N, 1) and np.array_equal(sc.gain(t)[:, 0], sc.gains[t])
        assert sc.reach(t) == tuple(inst.reachable(n) for n in range(inst.N)) == ((0,),) * inst.N


def test_a_deep_fade_relaxes_the_deadline_by_the_loaders_rule():
    inst = instance_from_dict({        # alexnet meets tau = 3 s only by offloading (local: 4.56 s)
        "name": "sim-tight", "seed": 2, "model": {"deadline_policy": "hard"},   # the policy does not matter
        "devices": [{"dnn": "alexnet", "count": 3, "deadline_s": 3.0}, {"dnn": "lenet", "count": 1}]})
    fade = np.array([[d.G * (1e-9 if n == 1 else 1.0) for n, d in enumerate(inst.devices)]])
    fi, idx = sim.frame_instance(inst, sim.Scenario(gains=fade, active=np.ones((1, inst.N), bool)), 0)
    relaxed = [d.deadline_relaxed for d in fi.devices]
    assert relaxed == [deadline_unreachable(d.fastest_delay, d.tau) for d in fi.devices]
    assert relaxed[1] and not any(relaxed[:1] + relaxed[2:])
    assert [fi.reachable(i) for i in range(fi.N)] == [(0,)] * fi.N


def test_one_server_rows_count_local_and_offloading_devices():
    inst = small()
    spec = sim.SimulationSpec(frames=3, activity=0.8)
    rows = sim.run_task(sim.plan(inst, spec, [2])[0])
    name = inst.view(0).server.name
    for r in rows:
        assert r["local"] + r[f"offload_{name}"] == r["active"]
        assert r["handovers"] == r["unreachable"] == 0
        assert set(np.unique(r["_servers"])) <= {-2, -1, 0}
    assert any(r[f"offload_{name}"] for r in rows)
    # the table keeps the one-server columns only
    assert list(sim.simulate(inst, spec, seeds=[2]).columns) == list(sim.COLUMNS)


def test_init_profile_starts_the_game_there():
    inst = load_instance("paper:fig5-n5")
    eq = solve_cai(inst, engine="dp", seed=0)
    again = play(inst, init_profile=eq.profile, seed=7)
    # started at a certified equilibrium: every MD checks once, nobody moves
    assert again.info["init"] == "given" and int(again.trace["moves"].sum()) == 0
    assert all(np.array_equal(a, b) for a, b in zip(again.profile, eq.profile))
    with pytest.raises(InputError, match="init_profile"):
        play(inst, init_profile=eq.profile[:-1])
    bad = [p.copy() for p in eq.profile]
    bad[0] = np.zeros_like(bad[0])
    bad[0][0] = 1                      # slot 1, then local: breaks (16)
    with pytest.raises(InputError, match="non-decreasing"):
        play(inst, init_profile=bad)


def test_warm_static_frames_need_no_moves_after_the_first():
    inst = small()
    table = sim.simulate(inst, sim.SimulationSpec(frames=3, fading="none"), seeds=[0])
    assert list(table["frame"]) == [0, 1, 2] and table["certified"].all()
    assert table["moves"].iloc[0] > 0 and (table["moves"].iloc[1:] == 0).all()
    assert (table["best_responses"].iloc[1:] < table["best_responses"].iloc[0]).all()


def test_frames_are_equilibria_of_their_own_instance():
    inst = small()
    spec = sim.SimulationSpec(frames=4, activity=0.6, speed_mps=3.0)
    table = sim.simulate(inst, spec, seeds=[1])
    sc = sim.scenario(inst, spec, 1)
    assert list(table["active"]) == list(sc.active.sum(axis=1))
    assert (table.loc[table["active"] > 0, "termination"] == "equilibrium").all()
    # replay frame 2 cold by hand: the row's figures come from a game on that frame's instance
    fi, idx = sim.frame_instance(inst, sc, 2)
    if len(idx):
        sol = solve_cai(fi, engine="dp", seed=3)
        assert check.check_profile(fi, sol.profile) == [] and sol.certificate["certified"]


def test_cold_chunks_equal_one_task_and_executor(tmp_path):
    inst = small(5)
    spec = sim.SimulationSpec(frames=5, warm=False, activity=0.8)
    a = sim.simulate(inst, spec, seeds=[0, 1], chunk=2)
    b = sim.simulate(inst, spec, seeds=[0, 1], chunk=5)
    cols = [c for c in sim.COLUMNS if c != "time_s"]
    pd.testing.assert_frame_equal(a[cols], b[cols])
    assert len(sim.plan(inst, spec, [0, 1], chunk=2)) == 6
    assert len(sim.plan(inst, sim.SimulationSpec(frames=5), [0, 1])) == 2   # warm: one task per seed


def test_dask_local_cluster_gives_the_same_table():
    distributed = pytest.importorskip("distributed")
    inst = small(5)
    spec = sim.SimulationSpec(frames=4, warm=False, activity=0.9)
    serial = sim.simulate(inst, spec, seeds=[0, 1], chunk=2)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        par = sim.simulate(inst, spec, seeds=[0, 1], chunk=2, executor=client.get_executor())
    cols = [c for c in sim.COLUMNS if c != "time_s"]
    pd.testing.assert_frame_equal(serial[cols], par[cols])


def test_bad_options_are_input_errors():
    with pytest.raises(InputError, match="fading"):
        sim.SimulationSpec(frames=2, fading="nakagami")
    with pytest.raises(InputError) as err:
        sim.SimulationSpec(frames=0, activity=1.5)
    assert "frames" in str(err.value.problems) and "activity" in str(err.value.problems)


def test_cli_simulate_writes_a_complete_folder(tmp_path):
    out = tmp_path / "sim"
    res = CliRunner().invoke(cli, ["simulate", "paper:fig5-n5", "--frames", "3", "--activity", "0.8",
                                   "--seed", "4", "--out", str(out)])
    assert res.exit_code == 0, res.output
    man = json.loads((out / "MANIFEST.json").read_text())
    assert man["complete"] and "frames.csv" in man["files"] and "simulation.json" in man["files"]
    table = pd.read_csv(out / "frames.csv")
    assert list(table.columns) == list(sim.COLUMNS) and len(table) == 3 and (table["seed"] == 4).all()
    summary = json.loads((out / "simulation.json").read_text())["summary"]
    assert summary["best_responses"] == int(table["best_responses"].sum())
    res = CliRunner().invoke(cli, ["simulate", "paper:fig5-n5", "--frames", "2", "--fading", "bad",
                                   "--out", str(tmp_path / "x")])
    assert res.exit_code == 2
