"""mecopt simulate on several servers: per-link scenario, frame instances as the loader builds them,
warm starts that carry each device's server, handovers, determinism, the bundled 50 x 4 instance."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from mecopt.cli import cli
from mecopt.core import checker as check
from mecopt.core.errors import InputError
from mecopt.core.instance import ChannelSection, instance_from_dict, load_instance
from mecopt.core.resources import instance_path
from mecopt.game import dynamics
from mecopt.studies import simulate as sim
from mecopt.studies.generate import dumps, generate_instance

BUNDLED = "examples:multiserver-n50-k4"


def tiny(N=6, seed=1, **kw):
    """N devices on 3 servers (generated: positions, reach 2, path loss)."""
    return instance_from_dict(generate_instance(N, "alexnet:0.5,lenet:0.25,vgg16:0.25", seed, servers=3, reach=2,
                                                deadline_policy="relax", **kw))


def without_time(table):
    return table.drop(columns=["time_s"])


def test_link_scenario_is_seeded_per_link_and_frame():
    inst = tiny()
    spec = sim.SimulationSpec(frames=300, activity=0.7)
    a, b = sim.scenario(inst, spec, 5), sim.scenario(inst, spec, 5)
    assert isinstance(a, sim.LinkScenario) and np.array_equal(a.active, b.active)
    assert np.array_equal(a.gain(7), b.gain(7), equal_nan=True)
    assert not np.array_equal(a.gain(7), sim.scenario(inst, spec, 6).gain(7), equal_nan=True)
    ratio = np.array([a.gain(t) / a.base for t in range(300)])            # (T, N, K) |h|^2, NaN off reach
    seen = ratio[~np.isnan(ratio)]
    assert seen.mean() == pytest.approx(1.0, abs=0.08)                       # E|h|^2 = 1
    reached = ~np.isnan(a.base)
    assert np.all(reached.sum(axis=1) == 2)
    k1, k2 = np.flatnonzero(reached[0])
    assert abs(np.corrcoef(ratio[:, 0, k1], ratio[:, 0, k2])[0, 1]) < 0.2     # independent per link
    assert a.active.mean() == pytest.approx(0.7, abs=0.05)
    assert a.reach(0) == a.reach(299) == tuple(inst.reachable(n) for n in range(inst.N))   # static


def test_frame_instance_is_what_the_loader_builds_for_the_frame_gains():
    inst = tiny(8)
    spec = sim.SimulationSpec(frames=3, activity=0.8)
    sc = sim.scenario(inst, spec, 2)
    fi, idx = sim.frame_instance(inst, sc, 1)
    G = sc.gain(1)
    doc = generate_instance(8, "alexnet:0.5,lenet:0.25,vgg16:0.25", 1, servers=3, reach=2, deadline_policy="relax")
    doc["devices"] = [dict(doc["devices"][n], channel_gain=[float(g) if g == g else 1.0 for g in G[n]])
                      for n in idx]
    ref = instance_from_dict(doc)
    assert fi.N == ref.N == len(idx) and fi.reach == ref.reach
    for v, rv in zip(fi.views, ref.views):
        assert np.array_equal(v.members, rv.members) and np.array_equal(v.local, rv.local)
        for d, r in zip(v.instance.devices, rv.instance.devices):
            assert (d.index, d.G, d.rate_up, d.rate_down, d.t_down, d.fastest_delay, d.deadline_relaxed) == \
                (r.index, r.G, r.rate_up, r.rate_down, r.t_down, r.fastest_delay, r.deadline_relaxed)
            assert np.array_equal(d.t_up, r.t_up) and np.array_equal(d.S, r.S)
    for d, r in zip(fi.devices, ref.devices):
        assert (d.fastest_delay, d.deadline_relaxed, d.G) == (r.fastest_delay, r.deadline_relaxed, r.G)


def test_handover_resolves_a_new_link_with_that_servers_prices():
    doc = generate_instance(4, "alexnet", 0, servers=2, reach=1, area_m=400.0)
    doc["servers"][1]["freq_cycles_per_s"] = 5000.0                  # other prices on server 2
    inst = instance_from_dict(doc)
    spec = sim.SimulationSpec(frames=2, fading="none", speed_mps=1.0)
    sc = sim.scenario(inst, spec, 0)
    # move every device next to the server it did not reach in the instance
    pos = sc.positions.copy()
    far = [1 - inst.reachable(n)[0] for n in range(4)]
    pos[1] = sc.server_positions[far] + 5.0
    sc = sim.LinkScenario(**{**sc.__dict__, "positions": pos})
    assert sc.reach(0) == tuple(inst.reachable(n) for n in range(4)) and sc.reach(1) == tuple((k,) for k in far)
    fi, _ = sim.frame_instance(inst, sc, 1)
    G = sc.gain(1)
    ref_doc = dict(doc, devices=[dict(d, channel_gain=[float(G[n, 0]), float(G[n, 1])], servers=[f"s{far[n] + 1}"])
                                 for n, d in enumerate(doc["devices"])])
    ref = instance_from_dict(ref_doc)
    for v, rv in zip(fi.views, ref.views):
        assert np.array_equal(v.members, rv.members)
        for d, r in zip(v.instance.devices, rv.instance.devices):
            assert np.array_equal(d.S, r.S) and d.rate_up == r.rate_up and d.fastest_delay == r.fastest_delay
    # the channel's path loss at the moved positions
    d = np.hypot(*(pos[1][0] - sc.server_positions[far[0]]))
    assert G[0, far[0]] == pytest.approx(ChannelSection(model="3gpp-umi").gain(d), rel=1e-12)


def test_simulation_is_deterministic_and_counts_servers():
    inst = tiny(6)
    spec = sim.SimulationSpec(frames=4, activity=0.8, speed_mps=2.0)
    a = sim.simulate(inst, spec, seeds=[3])
    b = sim.simulate(inst, spec, seeds=[3])
    pd.testing.assert_frame_equal(without_time(a), without_time(b))
    assert not without_time(a).equals(without_time(sim.simulate(inst, spec, seeds=[4])))
    assert list(a.columns) == sim.columns(inst) and {"offload_s1", "offload_s2", "offload_s3"} <= set(a.columns)
    played = a[a["active"] > 0]
    assert (played["termination"] == "equilibrium").all() and played["certified"].all()
    offload = played[["offload_s1", "offload_s2", "offload_s3"]].sum(axis=1)
    assert (offload + played["local"] == played["active"]).all()


class Spy:
    """Records every frame game's start and result (wraps mecopt.game.dynamics.play)."""

    def __init__(self, monkeypatch):
        self.calls = []
        real = dynamics.play

        def play(fi, **kw):
            sol = real(fi, **kw)
            self.calls.append((fi, kw, sol))
            return sol
        monkeypatch.setattr(dynamics, "play", play)


def test_warm_start_consumes_the_previous_servers(monkeypatch):
    inst = tiny(6, seed=4)
    spy = Spy(monkeypatch)
    table = sim.simulate(inst, sim.SimulationSpec(frames=3, fading="none"), seeds=[0])
    assert len(spy.calls) == 3
    first = spy.calls[0][2]
    assert len(set(first.server_of[first.server_of >= 0].tolist())) >= 2      # offloads to different servers
    for (_, kw, _), (_, _, before) in zip(spy.calls[1:], spy.calls[:-1]):
        assert np.array_equal(kw["init_server_of"], before.server_of)
        assert all(np.array_equal(p, q) for p, q in zip(kw["init_profile"], before.profile))
    # the same channels every frame: started at the previous equilibrium, nobody moves
    assert table["moves"].iloc[0] > 0 and (table["moves"].iloc[1:] == 0).all()
    assert (table["switched"] == 0).all()
    for fi, _, sol in spy.calls:
        assert check.check_profile(fi, sol.profile, sol.server_of) == [] and sol.certificate["certified"]


def test_a_device_whose_server_left_its_reach_starts_local(monkeypatch):
    doc = generate_instance(3, "alexnet", 0, servers=2, reach=1, area_m=600.0)
    inst = instance_from_dict(doc)
    spec = sim.SimulationSpec(frames=2, fading="none", speed_mps=1.0)
    sc = sim.scenario(inst, spec, 0)
    pos = sc.positions.copy()
    pos[0] = sc.server_positions[[0, 0, 1]] + 3.0                    # frame 0: md1, md2 by s1, md3 by s2
    pos[1] = sc.server_positions[[1, 0, 1]] + 3.0                    # frame 1: md1 walked to s2
    monkeypatch.setattr(sim, "scenario", lambda *a: sim.LinkScenario(**{**sc.__dict__, "positions": pos}))
    spy = Spy(monkeypatch)
    table = sim.simulate(inst, spec, seeds=[0])
    before = spy.calls[0][2].server_of
    assert before[0] == 0                                             # md1 offloaded to s1 ...
    start = spy.calls[1][1]["init_server_of"]
    assert start[0] == -1 and not np.any(spy.calls[1][1]["init_profile"][0])   # ... and restarts all local
    assert np.array_equal(start[1:], before[1:])
    assert list(table["handovers"]) == [0, 1] and list(table["unreachable"]) == [0, 1]


def test_cold_chunks_give_the_same_table():
    """``switched`` compares frames across task boundaries: chunks of one frame give the one-task table."""
    inst = tiny(5)
    spec = sim.SimulationSpec(frames=4, warm=False, activity=0.8)
    a = sim.simulate(inst, spec, seeds=[0, 1], chunk=1)
    b = sim.simulate(inst, spec, seeds=[0, 1], chunk=4)
    pd.testing.assert_frame_equal(without_time(a), without_time(b))
    assert a["switched"].sum() > 0 and (a.loc[a["frame"] == 0, "switched"] == 0).all()


def test_mobility_needs_positions():
    inst = instance_from_dict({"servers": [{"name": "a"}, {"name": "b"}], "model": {"deadline_policy": "relax"},
                               "devices": [{"dnn": "lenet", "count": 2}]})
    sim.simulate(inst, sim.SimulationSpec(frames=1), seeds=[0])        # fading alone is fine
    with pytest.raises(InputError, match="positions"):
        sim.simulate(inst, sim.SimulationSpec(frames=2, speed_mps=1.0), seeds=[0])


def test_bundled_instance_is_what_generate_writes():
    text = instance_path(BUNDLED).read_text()
    header, _, body = text.partition("\n\n")
    command = header.splitlines()[0].removeprefix("# mecopt generate ").split()
    assert command == ["--devices", "50", "--servers", "4", "--seed", "0", "--dnn-mix",
                       "alexnet:0.4,vgg16:0.2,vgg13:0.2,lenet:0.2", "--device-layout", "clustered",
                       "--deadline-policy", "relax", "--name", "multiserver-n50-k4", "--units", "paper"]
    assert body == dumps(generate_instance(50, "alexnet:0.4,vgg16:0.2,vgg13:0.2,lenet:0.2", 0, servers=4,
                                           device_layout="clustered", deadline_policy="relax",
                                           name="multiserver-n50-k4", units="paper"))
    inst = load_instance(BUNDLED)
    assert (inst.N, inst.K) == (50, 4)


def test_cli_simulate_on_the_bundled_instance(tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "sim"
    res = CliRunner().invoke(cli, ["simulate", BUNDLED, "--frames", "2", "--speed", "1.5", "--activity", "0.9",
                                   "--out", str(out)])
    assert res.exit_code == 0, res.output
    table = pd.read_csv(out / "frames.csv")
    assert len(table) == 2 and [c for c in table.columns if c.startswith("offload_")] == \
        ["offload_s1", "offload_s2", "offload_s3", "offload_s4"]
    assert (table[["offload_s1", "offload_s2", "offload_s3", "offload_s4", "local"]].sum(axis=1)
            == table["active"]).all()
    summary = json.loads((out / "simulation.json").read_text())["summary"]
    assert set(summary["mean_offload"]) == {"s1", "s2", "s3", "s4"}
    assert (out / "frames.png").stat().st_size > 0 and "all local" in res.output


def test_mobility_with_the_default_channel():
    """Positions without a [channel] section: the default path loss moves with the devices."""
    doc = dict(name="placed", model=dict(deadline_policy="relax"),
               servers=[dict(name="a", position=[0.0, 0.0]), dict(name="b", position=[300.0, 0.0])],
               device_defaults=dict(noise_w_per_hz=3.98e-21),
               devices=[dict(dnn="alexnet", position=[float(x), 10.0]) for x in (20, 150, 280)])
    inst = instance_from_dict(doc)
    assert "channel" not in inst.source
    table = sim.simulate(inst, sim.SimulationSpec(frames=3, speed_mps=20.0), seeds=[0])
    assert len(table) == 3 and table["certified"].all()
