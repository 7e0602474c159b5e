"""GTPOS and tpos-best with several edge servers (docs/multiserver.md) against joint brute force.

Tiny instances: 2-3 servers with their own H_k, T_d,k, B_k; 2-3 MDs on 3-4 layer chains with
measured times, each reaching a random subset of the servers with its own channel gain to each;
binding deadlines (relax policy) or priced ones (soft); both capacity modes; all three objectives.
The oracle (tests/enumeration.py, joint_optimum) enumerates every joint (server, strategy) profile,
judged by the checker and scored by mecopt.core.cost.evaluate.
"""

from __future__ import annotations

import numpy as np
import pytest
from enumeration import joint_feasible, joint_optimum, strategies
from test_gtpos import write_spec

from mecopt.core import checker as check
from mecopt.core import cost as costmod
from mecopt.core.errors import InfeasibleError, InputError
from mecopt.core.instance import instance_from_dict
from mecopt.core.solution import Termination
from mecopt.methods.gtpos import solve_gtpos
from mecopt.milp.classes import assignment_from_flows, class_networks, device_classes, flows_from_profile
from mecopt.milp.gtpos import lp_bound

#: runs a MILP solver (HiGHS or CP-SAT), directly or through a command: integration, not unit
pytestmark = pytest.mark.solver

GAP = 1e-9
BACKENDS = ["cpsat", "highs"]


def tiny_multi(tmp_path, rng, mode: str, K: int, policy: str = "relax", N: int | None = None,
               identical: bool = False, shared_dnn: bool = False):
    """A tiny multi-server instance; with ``identical`` every MD has the same DNN, reach and gains.

    With ``shared_dnn`` every MD runs the same DNN (same server times) on its own links.
    """
    N = N or int(rng.integers(2, 4))
    Hmax = 2 if K == 3 else 3
    specs = [write_spec(tmp_path, rng, int(rng.integers(3, 5)), f"tm{k}") for k in range(N)]
    if shared_dnn:
        specs = [specs[0]] * N
    servers = []
    for k in range(K):
        H = int(rng.integers(2, Hmax + 1))
        servers.append({"name": f"s{k + 1}", "slots": H, "frame_s": float(rng.uniform(0.05, 0.2)) * H,
                        "parallel_limit": int(rng.integers(1, N + 1)), "freq_cycles_per_s": 100.0,
                        "tx_power_w": float(rng.uniform(2, 8))})
    devices = []
    for n in range(N):
        gamma = float(rng.uniform(0, 0.5))
        alpha = float(rng.uniform(0, 1 - gamma))
        reach = [s["name"] for s in servers if rng.random() < 0.6] or [servers[int(rng.integers(K))]["name"]]
        devices.append({"name": f"d{n + 1}", "dnn": specs[n], "alpha": alpha, "beta": 1 - alpha - gamma,
                        "gamma": gamma, "bandwidth_hz": float(rng.uniform(100, 600)), "deadline_s": 1e3,
                        "channel_gain": [float(3e-7 * rng.uniform(0.2, 4)) for _ in range(K)], "servers": reach})
    if identical:
        devices = [dict(devices[0], name=f"d{n + 1}") for n in range(N)]
    doc = {"seed": int(rng.integers(1000)),
           "model": {"bits_per_element": 1.0, "price_scale": 1.0, "capacity_mode": mode, "deadline_policy": policy},
           "servers": servers,
           "device_defaults": {"cost_delay_per_s": 10.0, "cost_energy_per_j": 2.0, "delta_cycles_per_bit": 1.0,
                               "upload_power_w": 1.0, "compute_power_w": 2.0, "noise_w_per_hz": 1e-9},
           "devices": devices}
    inst = instance_from_dict(doc, base=tmp_path)
    # binding deadlines: tau = some achievable delay on one of the MD's servers, or below the fastest
    taus = []
    for n, dev in enumerate(inst.devices):
        ds = [dev.local_cum[-1]]
        for k in inst.reachable(n):
            v = inst.view(k)
            vd = v.instance.devices[int(v.local[n])]
            ds += [costmod.delay(vd, s, v.server) for s in strategies(vd.M, v.server.H) if fits_alone(vd, s, v.server)]
        ds = np.unique(ds)
        r = rng.random()
        if policy == "hard":   # every MD keeps a tau-feasible strategy alone (else the instance is refused)
            r = min(r, 0.59) if r < 0.7 else r
        taus.append(float(ds[rng.integers(len(ds))]) if r < 0.6 else float(ds[0] * 0.9) if r < 0.7 else 1e3)
    for n in range(N):
        doc["devices"][n]["deadline_s"] = taus[0] if identical else taus[n]
    if policy == "soft":
        doc["model"]["deadline_penalty_per_s"] = float(rng.choice([2.0, 10.0, 40.0]))
    return instance_from_dict(doc, base=tmp_path)


def fits_alone(dev, slots, server) -> bool:
    """(17) for one MD alone on ``server`` (its own server time per slot)."""
    _, t = costmod.own_loads(dev, slots, server.H)
    return bool(np.all(t <= server.slot_len * (1 + 1e-9)))


def term(inst, objective):
    """MD n's share of the GTPOS objective (soft-deadline penalty in the objective's unit)."""
    N = inst.N

    def f(n, ev):
        d = inst.devices[n]
        if objective == "delay":
            return (ev.delay[n] + ev.penalty[n] / d.c_T) / N
        if objective == "energy":
            return (ev.energy[n] + ev.penalty[n] / d.c_E) / N
        return d.alpha * d.c_T * ev.delay[n] + d.beta * d.c_E * ev.energy[n] + ev.penalty[n]
    return f


def objective_of(inst, sol, objective):
    ev = costmod.evaluate(inst, sol.profile, sol.server_of)
    f = term(inst, objective)
    return float(sum(f(n, ev) for n in range(inst.N)))


def assert_association(inst, sol):
    """server_of: -1 exactly for the all-local MDs, else a server the MD reaches."""
    assert sol.server_of is not None and sol.server_of.shape == (inst.N,)
    for n, (k, s) in enumerate(zip(sol.server_of, sol.profile)):
        assert (k == -1) == (not np.any(s)), (n, k, s)
        assert k == -1 or k in inst.reachable(n)


# ---------------------------------------------------------------------------- GTPOS = brute force

@pytest.mark.parametrize("mode", ["per_device", "total"])
@pytest.mark.parametrize("block", range(3))
def test_gtpos_equals_joint_enumeration(tmp_path, mode, block):
    """6 instances x 3 blocks x 2 modes = 36 tiny multi-server instances (2 and 3 servers, relax, soft
    and hard deadlines, identical MDs), each solved by both backends."""
    rng = np.random.default_rng(4200 + 10 * block + (mode == "total"))
    servers_used, infeasible = set(), 0
    for k in range(6):
        K = 2 + (k + block) % 2
        policy = ["relax", "soft", "relax", "hard", "relax", "soft"][k]
        inst = tiny_multi(tmp_path, rng, mode, K, policy, identical=(k == 4))
        assert inst.K == K
        objective = ["delay", "social", "energy"][(k + block) % 3]
        best, _, _ = joint_optimum(inst, term(inst, objective))
        for solver in BACKENDS:
            if best is None:
                infeasible += 1
                with pytest.raises(InfeasibleError, match=r"GTPOS: .*\(15s\)"):
                    solve_gtpos(inst, objective=objective, solver=solver, mip_rel_gap=GAP)
                continue
            sol = solve_gtpos(inst, objective=objective, solver=solver, mip_rel_gap=GAP)
            assert sol.termination == Termination.OPTIMAL, (solver, sol.status)
            assert sol.feasible, sol.violations
            assert_association(inst, sol)
            assert sol.objective == pytest.approx(best, rel=1e-7, abs=1e-9), solver
            assert objective_of(inst, sol, objective) == pytest.approx(best, rel=1e-7, abs=1e-9), solver
            assert sol.bound <= sol.objective * (1 + 1e-9) + 1e-12 and sol.gap <= GAP * 1.01
            servers_used |= set(int(x) for x in sol.server_of if x >= 0)
        if best is not None and k == 0:
            assert lp_bound(inst, objective) <= best * (1 + 1e-9) + 1e-9
    assert len(servers_used) >= 2   # the optima do spread over several servers
    assert infeasible < 2 * 6


def test_the_oracle_judges_joint_profiles_as_the_checker_does(tmp_path):
    """joint_optimum's numpy coupling ((17) total, (27) per (server, slot)) against the checker on
    random joint profiles (its self-test)."""
    from enumeration import assignments

    rng = np.random.default_rng(99)
    agree = {True: 0, False: 0}
    for i in range(6):
        inst = tiny_multi(tmp_path, rng, ["per_device", "total"][i % 2], 2 + i % 2)
        options = [list(assignments(inst, n)) for n in range(inst.N)]
        for _ in range(60):
            pick = [opts[int(rng.integers(len(opts)))] for opts in options]
            servers = np.array([k for k, _ in pick])
            profile = [s for _, s in pick]
            verdict = not check.check_profile(inst, profile, servers)
            assert joint_feasible(inst, servers, profile) == verdict
            agree[verdict] += 1
    assert agree[True] > 0 and agree[False] > 0


# ---------------------------------------------------------------------------- classes, K = 1, options

def test_classes_key_on_reach_and_on_the_links_reached(tmp_path):
    rng = np.random.default_rng(5)
    inst = tiny_multi(tmp_path, rng, "total", 3, N=2)
    d0 = dict(inst.source["devices"][0], servers=["s1", "s2"], channel_gain=[3e-7, 6e-7, 9e-7])
    same = [dict(d0, name="a"), dict(d0, name="b"), dict(d0, name="c", channel_gain=[3e-7, 6e-7, 1e-7])]
    doc = dict(inst.source, devices=same)
    # a different gain to s3, which no one of them reaches, does not split the class
    assert device_classes(instance_from_dict(doc, base=tmp_path), "delay") == [(0, 1, 2)]
    doc["devices"] = same[:2] + [dict(d0, name="c", servers=["s1"])]
    assert device_classes(instance_from_dict(doc, base=tmp_path), "delay") == [(0, 1), (2,)]
    doc["devices"] = same[:2] + [dict(d0, name="c", channel_gain=[3e-7, 5e-7, 9e-7])]
    multi = instance_from_dict(doc, base=tmp_path)
    assert device_classes(multi, "delay") == [(0, 1), (2,)]
    best, _, _ = joint_optimum(multi, term(multi, "delay"))
    for solver in BACKENDS:
        a = solve_gtpos(multi, solver=solver, mip_rel_gap=GAP)
        b = solve_gtpos(multi, solver=solver, mip_rel_gap=GAP, aggregate=False)
        assert a.info["classes"] == 2 and b.info["classes"] == 3
        assert a.objective == pytest.approx(best, rel=1e-7) and b.objective == pytest.approx(best, rel=1e-7)
        assert a.feasible and b.feasible


def test_flows_round_trip_with_servers(tmp_path):
    rng = np.random.default_rng(8)
    inst = tiny_multi(tmp_path, rng, "per_device", 2, N=3)
    sol = solve_gtpos(inst, mip_rel_gap=GAP)
    nets = class_networks(inst, "delay")
    flows = flows_from_profile(nets, sol.profile, sol.server_of)
    profile, servers = assignment_from_flows(inst, nets, flows)
    assert np.array_equal(servers, sol.server_of)
    assert all(np.array_equal(a, b) for a, b in zip(profile, sol.profile))


def test_one_entry_of_servers_is_the_single_server_model(tmp_path):
    rng = np.random.default_rng(3)
    inst = tiny_multi(tmp_path, rng, "total", 2, N=3)
    doc = dict(inst.source)
    doc["servers"] = doc["servers"][:1]
    doc["devices"] = [{k: v for k, v in d.items() if k not in ("servers", "channel_gain")} for d in doc["devices"]]
    doc["device_defaults"] = dict(doc["device_defaults"], channel_gain=3e-7)
    one = instance_from_dict(doc, base=tmp_path)
    plain = dict(doc, server={k: v for k, v in doc["servers"][0].items() if k != "name"})
    del plain["servers"]
    ref = instance_from_dict(plain, base=tmp_path)
    assert one.K == 1
    for solver in BACKENDS:
        a, b = solve_gtpos(one, solver=solver), solve_gtpos(ref, solver=solver)
        assert a.server_of is None and a.objective == b.objective
        assert all(np.array_equal(x, y) for x, y in zip(a.profile, b.profile))


def test_warm_starts_with_several_servers(tmp_path):
    rng = np.random.default_rng(11)
    inst = tiny_multi(tmp_path, rng, "total", 2, N=3)
    cold = solve_gtpos(inst, mip_rel_gap=GAP)
    greedy = solve_gtpos(inst, mip_rel_gap=GAP, warm_start="greedy")
    given = solve_gtpos(inst, mip_rel_gap=GAP, warm_start=cold)
    as_dict = solve_gtpos(inst, mip_rel_gap=GAP, warm_start=dict(profile=cold.profile, server_of=cold.server_of))
    assert given.info["warm_start"] and as_dict.info["warm_start"]
    for sol in (greedy, given, as_dict):
        assert sol.termination == Termination.OPTIMAL and sol.feasible
        assert sol.objective == pytest.approx(cold.objective, rel=1e-9)
    with pytest.raises(InputError, match="servers"):
        solve_gtpos(inst, warm_start=cold.profile)


def test_infeasible_with_several_servers_names_the_devices(tmp_path):
    """Three MDs that meet tau only by offloading; two servers of one slot for one MD each."""
    import tomli_w

    spec = {"name": "must", "input": {"channels": 10, "height": 1, "width": 1},
            "layers": [{"name": f"l{k}", "type": "block", "out_shape": [10, 1, 1], "t_local_s": 1.0,
                        "t_server_s": 0.01} for k in range(3)]}
    (tmp_path / "must.toml").write_text(tomli_w.dumps(spec))
    server = {"slots": 1, "frame_s": 1.0, "parallel_limit": 1, "freq_cycles_per_s": 100.0}
    doc = {"model": {"bits_per_element": 1.0, "price_scale": 1.0},
           "servers": [dict(server, name="a"), dict(server, name="b")],
           "device_defaults": {"dnn": "must.toml", "alpha": 0.5, "beta": 0.3, "gamma": 0.2, "bandwidth_hz": 1e5,
                               "channel_gain": 3e-7, "noise_w_per_hz": 1e-9, "upload_power_w": 1.0},
           "devices": [{"name": f"m{k}"} for k in range(3)]}
    dev = instance_from_dict(doc, base=tmp_path).devices[0]
    doc["device_defaults"]["deadline_s"] = float((dev.fastest_delay + dev.local_cum[-1]) / 2)
    inst = instance_from_dict(doc, base=tmp_path)
    for solver in BACKENDS:
        with pytest.raises(InfeasibleError, match="m0, m1, m2"):
            solve_gtpos(inst, solver=solver)
    doc["devices"] = doc["devices"][:2]   # one per server fits
    sol = solve_gtpos(instance_from_dict(doc, base=tmp_path))
    assert sol.feasible and sorted(sol.server_of) == [0, 1]


def test_the_checker_judges_the_deadline_on_the_device_s_own_server(tmp_path):
    """An MD that meets tau only by offloading, on its second server: no (26) on the first; and a
    server that no device reaches is checked without error."""
    rng = np.random.default_rng(21)
    inst = tiny_multi(tmp_path, rng, "per_device", 3, N=2)
    doc = dict(inst.source, devices=[dict(d, servers=["s1", "s2"]) for d in inst.source["devices"]])
    doc["model"] = dict(doc["model"], deadline_policy="hard")
    probe = instance_from_dict(doc, base=tmp_path)
    v = probe.view(1)
    d = v.instance.devices[0]
    fast = min((costmod.delay(d, s, v.server), tuple(s)) for s in strategies(d.M, v.server.H)
               if s.any() and fits_alone(d, s, v.server))
    assert fast[0] < d.local_cum[-1]
    doc["devices"][0]["deadline_s"] = float(fast[0])
    doc["devices"][1]["deadline_s"] = 1e3
    inst = instance_from_dict(doc, base=tmp_path)
    profile = [np.array(fast[1]), np.zeros(inst.devices[1].M, dtype=int)]
    servers = np.array([1, -1])
    assert check.check_profile(inst, profile, servers) == []
    assert [v.equation for v in check.check_profile(inst, costmod.all_local(inst), [-1, -1])] == ["(26)"]


# ---------------------------------------------------------------------------- export, tpos-best, game

def test_export_model_round_trips_with_several_servers(tmp_path):
    import json

    import highspy

    from mecopt.milp.export import assignment_from_values, export_model, profile_from_values

    rng = np.random.default_rng(31)
    inst = tiny_multi(tmp_path, rng, "total", 2, N=3)
    model, sidecar = export_model(inst, tmp_path / "m.mps", objective="social")
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("mip_rel_gap", 1e-9)
    assert h.readModel(str(model)) == highspy.HighsStatus.kOk
    h.run()
    best, _, _ = joint_optimum(inst, term(inst, "social"))
    assert h.getInfo().objective_function_value == pytest.approx(best, rel=1e-7)
    doc = json.loads(sidecar.read_text())
    assert [c["server"] for c in doc["columns"]] == [sv.name for sv in inst.servers for _ in range(sv.H)]
    assert {v["server"] for v in doc["y"].values()} == {None} | {sv.name for sv in inst.servers}
    values = dict(zip(h.getLp().col_names_, h.getSolution().col_value))
    profile, servers = assignment_from_values(inst, doc, values)
    assert check.check_profile(inst, profile, servers) == []
    ev = costmod.evaluate(inst, profile, servers)
    assert sum(term(inst, "social")(n, ev) for n in range(inst.N)) == pytest.approx(best, rel=1e-7)
    with pytest.raises(InputError, match="assignment_from_values"):
        profile_from_values(inst, doc, values)
    # the best-response problem is per server: the server must be named, and reachable
    n = 0
    with pytest.raises(InputError, match="server"):
        export_model(inst, tmp_path / "br.mps", problem="best-response", device=n)
    name = inst.servers[inst.reachable(n)[0]].name
    _, side = export_model(inst, tmp_path / "br.mps", problem="best-response", device=n, server=name)
    assert json.loads(side.read_text())["server"] == name


@pytest.mark.parametrize("mode", ["per_device", "total"])
def test_tpos_best_minimizes_the_multi_server_potential(tmp_path, mode):
    """tpos-best = the joint brute-force minimum of Phi (per (server, slot) terms), certified."""
    from enumeration import joint_min_potential

    from mecopt.methods.tpos_best import solve_best

    rng = np.random.default_rng(61 + (mode == "total"))
    solved = 0
    for k in range(5):
        inst = tiny_multi(tmp_path, rng, mode, 2 + k % 2, "soft" if k == 3 else "relax")
        best, _, _ = joint_min_potential(inst)
        if best is None:
            with pytest.raises(InfeasibleError, match="tpos-best"):
                solve_best(inst, pos=False, starts=0)
            continue
        sol = solve_best(inst, pos=(k == 0), starts=1 if k == 0 else 0)
        assert sol.termination == Termination.OPTIMAL, sol.status
        assert sol.objective == pytest.approx(best, rel=1e-7)
        assert sol.bound <= best * (1 + 1e-9) + 1e-9
        assert sol.feasible and sol.certificate["certified"]
        assert_association(inst, sol)
        if k == 0:
            assert sol.info["gtpos_delay_termination"] == "optimal" and sol.info["pos_delay"] >= 1 - 1e-9
        solved += 1
    assert solved >= 3


def test_game_with_the_milp_engine_reaches_the_dp_equilibrium_on_several_servers(tmp_path):
    from mecopt.methods.tpos import solve_cai, solve_uai

    rng = np.random.default_rng(71)
    offloaded = 0
    for k in range(4):
        inst = tiny_multi(tmp_path, rng, ["per_device", "total"][k % 2], 2 + k % 2, "soft" if k == 3 else "relax")
        for solve in (solve_cai, solve_uai):
            a, b = solve(inst, engine="dp", seed=k), solve(inst, engine="milp", seed=k)
            assert np.array_equal(a.server_of, b.server_of)
            assert all(np.array_equal(x, y) for x, y in zip(a.profile, b.profile))
            assert a.certificate["certified"] and b.certificate["certified"]
            assert a.feasible and b.feasible
            offloaded += int(np.sum(b.server_of >= 0))
    assert offloaded > 0
