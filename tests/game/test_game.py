"""TPOS-CAI / TPOS-UAI: certificates, potential, estimate (29), determinism."""

from __future__ import annotations

import glob

import networkx as nx
import numpy as np
import pytest

from mecopt.bestresponse.dp import DPEngine
from mecopt.core import checker as check
from mecopt.core import cost
from mecopt.core.instance import instance_from_dict, load_instance
from mecopt.core.problem import strategy_feasible
from mecopt.core.solution import Termination
from mecopt.game.certificate import certificate
from mecopt.game.dynamics import CERTIFICATE_TOL, random_initial
from mecopt.game.estimate import estimate_others
from mecopt.game.state import GameState
from mecopt.game.topology import weight_matrix
from mecopt.methods.tpos import solve_cai, solve_uai

#: runs a MILP solver (HiGHS or CP-SAT), directly or through a command: integration, not unit
pytestmark = pytest.mark.solver

PAPER = sorted(glob.glob("instances/paper/*.toml"))


def small_instance(N=4, seed=0, gamma=0.3, capacity_mode="per_device", B=2, H=3, dnn="alexnet", **server):
    return instance_from_dict({
        "seed": seed,
        "model": {"capacity_mode": capacity_mode, "deadline_policy": "relax"},
        "server": {"slots": H, "parallel_limit": B, **server},
        "devices": [{"dnn": dnn, "count": N, "alpha": 0.6 - gamma / 2, "beta": 0.4 - gamma / 2, "gamma": gamma,
                     "bandwidth_hz": 1500.0}],
    })


@pytest.mark.parametrize("path", PAPER, ids=lambda p: p.split("/")[-1])
def test_cai_dp_certified_on_every_paper_instance(path):
    inst = load_instance(path)
    sol = solve_cai(inst, engine="dp", seed=3)
    assert sol.termination == Termination.EQUILIBRIUM
    assert sol.certificate["max_gain_rel"] <= CERTIFICATE_TOL
    assert sol.certificate["certified"]
    assert check.check_profile(inst, sol.profile) == []
    assert sol.info["potential_rises"] == 0


@pytest.mark.parametrize("path", PAPER, ids=lambda p: p.split("/")[-1])
def test_uai_on_every_paper_instance_ends_with_a_certificate(path):
    inst = load_instance(path)
    sol = solve_uai(inst, engine="dp", seed=3)
    assert sol.termination in (Termination.EQUILIBRIUM, Termination.CONVERGED)
    assert "max_gain_rel" in sol.certificate
    # an 'equilibrium' UAI result must hold against the true aggregates
    if sol.termination == Termination.EQUILIBRIUM:
        assert sol.certificate["certified"] and sol.feasible


def test_certificate_detects_a_non_equilibrium():
    inst = small_instance()
    local = cost.all_local(inst)
    cert = certificate(inst, local)
    # AlexNet at 1.5 kHz gains by offloading: all-local is not an equilibrium
    assert cert["max_gain"] > 1.0 and not cert["certified"]
    sol = solve_cai(inst, engine="dp", seed=0)
    gains = certificate(inst, sol.profile)["gains"]
    assert max(gains) <= CERTIFICATE_TOL * max(1, abs(sol.evaluation.cost).max())


def test_certificate_gain_is_the_exact_best_response_gap():
    inst = small_instance(N=3)
    sol = solve_cai(inst, engine="dp", seed=1, max_iter=1, init="random")
    cert = certificate(inst, sol.profile)
    state = GameState(inst, sol.profile)
    exact = DPEngine(inst, tie_break=False)
    for n in range(inst.N):
        others = state.others(n)
        if not strategy_feasible(inst.devices[n], inst.server, others[0], state.slots[n], True):
            assert cert["gains"][n] == float("inf")
            continue
        expected = max(0.0, state.cost(n, others) - exact.best_response(n, others[0]).cost)
        assert cert["gains"][n] == pytest.approx(expected, rel=1e-12, abs=1e-9)


@pytest.mark.parametrize("mode", ["per_device", "total"])
@pytest.mark.parametrize("seed", range(4))
def test_potential_never_rises_and_ends_at_equilibrium(mode, seed):
    inst = small_instance(N=6, seed=seed, capacity_mode=mode, B=3, gamma=0.2 + 0.1 * seed,
                          frame_s=0.75 if mode == "per_device" else 3.0)
    sol = solve_cai(inst, engine="dp", seed=seed, wake_prob=0.7)
    phi = sol.trace["potential"].to_numpy()
    assert np.all(np.diff(phi) <= 1e-9 * np.abs(phi[:-1]))
    assert sol.termination == Termination.EQUILIBRIUM
    assert sol.certificate["certified"]
    assert sol.feasible


def test_potential_is_exact_for_the_trace():
    inst = small_instance(N=5, seed=2)
    sol = solve_cai(inst, engine="dp", seed=2)
    assert sol.trace["potential"].iloc[-1] == pytest.approx(cost.evaluate(inst, sol.profile).potential, rel=1e-12)


def test_same_seed_same_result_and_different_seed_runs():
    inst = small_instance(N=6, seed=4)
    a = solve_cai(inst, engine="dp", seed=11)
    b = solve_cai(inst, engine="dp", seed=11)
    assert all(np.array_equal(x, y) for x, y in zip(a.profile, b.profile))
    assert a.trace.equals(b.trace)
    c = solve_cai(inst, engine="dp", seed=12)
    assert c.certificate["certified"]


def test_uai_on_complete_graph_equals_cai():
    """Metropolis weights on the complete graph are 1/N: (29) is then the exact total."""
    inst = small_instance(N=5, seed=5)
    a = solve_cai(inst, engine="dp", seed=7)
    b = solve_uai(inst, engine="dp", seed=7)
    assert all(np.array_equal(x, y) for x, y in zip(a.profile, b.profile))


def test_paper_stop_rule_reports_converged_with_certificate():
    inst = small_instance(N=6, seed=1)
    sol = solve_cai(inst, engine="dp", seed=1, stop="paper", eps=1e9)
    assert sol.termination == Termination.CONVERGED
    assert "max_gain_rel" in sol.certificate


def test_iteration_limit_is_reported():
    inst = small_instance(N=6, seed=1)
    sol = solve_cai(inst, engine="dp", seed=1, max_iter=1, wake_prob=0.2)
    assert sol.termination == Termination.ITERATION_LIMIT
    assert sol.iterations == 1


def test_gamma_zero_game_terminates_and_potential_is_nan():
    inst = small_instance(N=4, gamma=0.0)
    sol = solve_cai(inst, engine="dp", seed=0)
    assert np.isnan(sol.evaluation.potential)
    assert sol.termination == Termination.EQUILIBRIUM and sol.certificate["certified"]


def test_random_initial_profile_satisfies_28b():
    inst = small_instance(N=6, B=2)
    prof, server_of = random_initial(inst, np.random.default_rng(0))
    assert check.check_profile(inst, prof) == []
    assert any(cost.partition_point(s) < len(s) for s in prof)  # not trivially all local
    assert server_of.tolist() == [0 if np.any(s) else -1 for s in prof]


def test_bad_options_are_input_errors():
    from mecopt.core.errors import InputError
    inst = small_instance(N=2)
    with pytest.raises(InputError, match="wake_prob"):
        solve_cai(inst, engine="dp", wake_prob=0)
    with pytest.raises(InputError, match="engine"):
        solve_cai(inst, engine="gurobi")


def test_metropolis_and_uniform_weights():
    g = nx.cycle_graph(5)
    W = weight_matrix(g, "metropolis")
    assert np.allclose(W.sum(axis=1), 1) and np.allclose(W, W.T)
    assert W[0, 1] == pytest.approx(1 / 3) and W[0, 0] == pytest.approx(1 / 3) and W[0, 2] == 0
    star = nx.star_graph(3)  # centre 0 with degree 3
    Wm = weight_matrix(star, "metropolis")
    assert Wm[1, 0] == pytest.approx(1 / 4) and Wm[1, 1] == pytest.approx(3 / 4)
    Wu = weight_matrix(star, "uniform")
    assert Wu[1, 0] == pytest.approx(1 / 2) and Wu[0, 1] == pytest.approx(1 / 4)
    assert np.allclose(Wu.sum(axis=1), 1)


def test_estimate_29_by_hand():
    inst = small_instance(N=3, H=2, B=2)
    server = inst.server
    W = np.array([[0.5, 0.25, 0.25], [0.25, 0.5, 0.25], [0.25, 0.25, 0.5]])
    times = np.array([[0.1, 0.0], [0.05, 0.3], [0.0, 0.3]])
    loads = 10 * times
    used = (times > 0).astype(float)
    est = estimate_others(0, W, loads, times, used, server)
    raw = 3 * (W[0] @ times)                      # [0.2625, 0.45]
    cap = server.B * server.slot_len              # 2 * 0.375 = 0.75
    assert np.allclose(est.time, np.minimum(cap, raw) - times[0])
    assert np.allclose(est.load, 10 * (np.minimum(cap, raw)) - loads[0])
    assert np.allclose(est.count, np.minimum(2, 3 * (W[0] @ used)) - used[0])
    # when the cap binds, S shrinks by the same factor as T
    big = times * 10
    est2 = estimate_others(0, W, 10 * big, big, used, server)
    raw2 = 3 * (W[0] @ big)
    factor = np.minimum(1, cap / raw2)
    assert np.allclose(est2.load, np.maximum(3 * (W[0] @ (10 * big)) * factor - 10 * big[0], 0))


def test_uai_on_a_ring_reports_true_aggregate_violations_honestly():
    data = {"seed": 0, "model": {"deadline_policy": "relax"}, "server": {"parallel_limit": 2, "slots": 3},
            "topology": {"kind": "ring", "weights": "uniform"},
            "devices": [{"dnn": "alexnet", "count": 8, "alpha": 0.8, "beta": 0.1, "gamma": 0.1,
                         "bandwidth_hz": 1500.0}]}
    inst = instance_from_dict(data)
    sol = solve_uai(inst, engine="dp", seed=0)
    summary = sol.summary()
    assert summary["violations"] == len(check.check_profile(inst, sol.profile))
    if sol.violations:
        assert sol.termination == Termination.CONVERGED and not sol.certificate["certified"]


def test_time_limit_is_reported():
    inst = small_instance(N=6, seed=1)
    sol = solve_cai(inst, engine="dp", seed=1, time_limit=1e-9, wake_prob=0.2)
    assert sol.termination == Termination.TIME_LIMIT and sol.iterations == 1
    assert "time limit" in sol.status


@pytest.mark.parametrize("name", ["fig5-n5", "fig10-mixed"])
def test_milp_and_dp_engines_reach_the_same_equilibrium(name):
    inst = load_instance(f"instances/paper/{name}.toml")
    a = solve_cai(inst, engine="milp", seed=5)
    b = solve_cai(inst, engine="dp", seed=5)
    assert all(np.array_equal(x, y) for x, y in zip(a.profile, b.profile))
    assert a.trace["avg_cost"].tolist() == pytest.approx(b.trace["avg_cost"].tolist(), rel=1e-12)
    assert a.certificate["certified"] and a.solver_calls == b.solver_calls


@pytest.mark.parametrize("seed", range(6))
def test_gtpos_optimum_is_never_above_the_equilibrium_delay(seed):
    """Same instance, same constraints: a proven-optimal GTPOS average delay <= any feasible equilibrium's."""
    from mecopt.methods.gtpos import solve_gtpos

    rng = np.random.default_rng(seed)
    inst = small_instance(N=int(rng.integers(3, 6)), seed=seed, B=int(rng.integers(1, 4)), H=3,
                          capacity_mode=["per_device", "total"][seed % 2],
                          frame_s=0.75 if seed % 2 == 0 else 2.0, gamma=float(rng.uniform(0.05, 0.5)))
    eq = solve_cai(inst, engine="dp", seed=seed)
    assert eq.certificate["certified"] and eq.feasible  # so the equilibrium lies in GTPOS's feasible set
    opt = solve_gtpos(inst, objective="delay")
    assert opt.termination == Termination.OPTIMAL and opt.feasible
    assert opt.evaluation.avg_delay <= eq.evaluation.avg_delay + 1e-9


def test_estimate_weights_are_each_servers_block():
    from mecopt.core.instance import Instance
    from mecopt.game.estimate import estimate_weights

    inst = Instance.from_dict(dict(servers=[{}, {}], devices=[dict(dnn="lenet", count=2),
                                                              dict(dnn="lenet", servers=["s2"])]))
    W = np.arange(9.0).reshape(3, 3)
    blocks = estimate_weights(W, [inst.view(k) for k in range(inst.K)])
    assert blocks[0].shape == (2, 2) and np.array_equal(blocks[0], W[:2, :2])
    assert blocks[1] is W          # every device reaches the second server
