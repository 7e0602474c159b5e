"""Baselines: Case 4 (all-local), Case 3 (all-offload, exact uniform sampling) and the
contention-blind isolated profile."""

from __future__ import annotations

import math
from collections import Counter
from itertools import combinations_with_replacement

import enumeration as bruteforce
import numpy as np
import pytest

from mecopt.bestresponse import dp
from mecopt.core import checker as check
from mecopt.core import cost
from mecopt.core.errors import InputError
from mecopt.core.instance import instance_from_dict, load_instance
from mecopt.core.problem import Aggregates, strategy_feasible
from mecopt.core.solution import Termination
from mecopt.methods import baselines

#: runs a MILP solver (HiGHS or CP-SAT), directly or through a command: integration, not unit
pytestmark = pytest.mark.solver

FIG6 = "instances/paper/fig6-w1khz.toml"


def lenet_instance(N=3, H=3, B=2, frame_s=0.0024, capacity_mode="per_device", deadline_s=5.0, policy="relax"):
    """LeNet MDs on a tiny server: slot length 0.8 ms, so conv1 and conv2 (0.30 + 0.54 ms) cannot share a
    slot and 17 of the 45 all-offloaded sequences keep (17) alone on the server."""
    return instance_from_dict({
        "seed": 4,
        "model": {"capacity_mode": capacity_mode, "deadline_policy": policy},
        "server": {"slots": H, "parallel_limit": B, "frame_s": frame_s},
        "devices": [{"dnn": "lenet", "count": N, "deadline_s": deadline_s}],
    })


def brute_offload_set(dev, server, others) -> set[tuple[int, ...]]:
    """Every all-offloaded (m* = 0) monotone sequence that keeps (17) and (27), by enumeration,
    judged by the shared feasibility test (independent of the counting DP)."""
    out = set()
    for combo in combinations_with_replacement(range(1, server.H + 1), dev.M):
        s = np.array(combo, dtype=int)
        if strategy_feasible(dev, server, others, s, enforce_deadline=False):
            out.add(combo)
    return out


AGGREGATES = [
    ("empty", "per_device", lambda H: Aggregates.empty(H)),
    ("slot2-full", "per_device", lambda H: Aggregates(np.zeros(H), np.zeros(H), np.array([0.0, 2.0, 1.0]))),
    ("total-busy", "total", lambda H: Aggregates(np.zeros(H), np.array([2.0e-4, 0.0, 5.0e-4]), np.array([1.0, 0, 1]))),
    ("total-closed", "total", lambda H: Aggregates(np.zeros(H), np.array([0.0, 1.0e-4, 0.0]), np.array([2.0, 0, 0]))),
]


# --------------------------------------------------------------------------- Case 3 sampler

@pytest.mark.parametrize("name,mode,make", AGGREGATES, ids=[a[0] for a in AGGREGATES])
def test_counting_dp_equals_enumeration_and_unranking_is_a_bijection(name, mode, make):
    inst = lenet_instance(capacity_mode=mode)
    dev, server = inst.devices[0], inst.server
    others = make(server.H)
    expected = brute_offload_set(dev, server, others)
    f = baselines.count_offload_sequences(dev, server, others)
    assert f[0][0] == len(expected)
    ranked = [tuple(baselines.unrank_offload_sequence(dev, server, others, f, r)) for r in range(f[0][0])]
    assert len(set(ranked)) == len(ranked)          # injective
    assert set(ranked) == expected                   # onto the feasible set


def test_counting_dp_on_alexnet_matches_enumeration():
    inst = load_instance(FIG6)
    dev, server = inst.devices[0], inst.server
    others = Aggregates(np.zeros(server.H), np.zeros(server.H), np.array([4.0, 0, 3, 0, 0]))
    assert baselines.count_offload_sequences(dev, server, others)[0][0] == len(brute_offload_set(dev, server, others))


def test_sampling_is_uniform_chi_square():
    inst = lenet_instance(H=4, frame_s=0.0032)
    dev, server = inst.devices[0], inst.server
    others = Aggregates.empty(server.H)
    support = sorted(brute_offload_set(dev, server, others))
    k = len(support)
    assert k == 81   # of 165 monotone sequences
    n = 200 * k
    rng = np.random.default_rng(12345)
    freq = Counter(tuple(baselines.sample_offload_sequence(dev, server, others, rng)) for _ in range(n))
    assert set(freq) <= set(support)
    e = n / k
    chi2 = sum((freq.get(s, 0) - e) ** 2 / e for s in support)
    df = k - 1
    z = 3.719  # upper 1e-4 quantile of N(0, 1); Wilson-Hilferty approximation of the chi-square quantile
    limit = df * (1 - 2 / (9 * df) + z * math.sqrt(2 / (9 * df))) ** 3
    assert chi2 < limit


def test_randbelow_handles_huge_counts():
    rng = np.random.default_rng(0)
    n = 3 ** 80 + 7
    xs = [baselines._randbelow(rng, n) for _ in range(200)]
    assert all(0 <= x < n for x in xs)
    assert max(xs) > n // 2 and min(xs) < n // 2   # both halves hit


@pytest.mark.parametrize("mode", ["per_device", "total"])
def test_each_draw_respects_capacity_and_parallel_limit(mode):
    inst = lenet_instance(N=5, B=2, capacity_mode=mode)
    H = inst.server.H
    for s in range(25):
        profile, server_of, order = baselines._offload_draw(inst, np.random.default_rng(s),
                                                            baselines.offload_servers(inst))
        assert np.array_equal(server_of, np.zeros(inst.N, dtype=int))   # queue mode: every MD keeps its server
        viol = check.check_profile(inst, profile, server_of)
        assert [v for v in viol if v.equation != "(26)"] == []
        # placed MDs offload everything; a queued MD could not fit given the MDs placed before it
        placed_time, placed_count = np.zeros(H), np.zeros(H)
        for n in order:
            dev, slots = inst.devices[n], profile[n]
            others = Aggregates(np.zeros(H), placed_time.copy(), placed_count.copy())
            if cost.queued(slots, H):
                assert brute_offload_set(dev, inst.server, others) == set()
            else:
                assert cost.partition_point(slots) == 0
                assert strategy_feasible(dev, inst.server, others, slots, enforce_deadline=False)
                _, t = cost.own_loads(dev, slots, H)
                placed_time += t
                placed_count[np.unique(slots) - 1] += 1


def test_queue_when_nothing_fits():
    # B = 1 and every LeNet needs two slots of three: the first MD placed leaves no room
    inst = lenet_instance(N=4, B=1)
    H, server = inst.server.H, inst.server
    sol = baselines.solve_all_offload(inst, seed=3, draws=5)
    assert sol.termination == Termination.FEASIBLE
    assert (sol.trace["queued"] == 3).all()
    queued = [n for n, s in enumerate(sol.profile) if cost.queued(s, H)]
    assert len(queued) == 3
    for n in queued:
        d = inst.devices[n]
        assert "queued" in sol.flags[d.name]
        expected = d.t_up[0] + server.T_d + d.t_server[1:].sum() + d.t_down
        assert sol.evaluation.delay[n] == pytest.approx(expected, rel=1e-12)
        assert sol.evaluation.energy[n] == pytest.approx(d.P_up * d.t_up[0], rel=1e-12)
    assert [v for v in sol.violations if v.equation != "(26)"] == []
    # queued MDs are written as slot H+1 and the checker accepts them
    table = sol.assignment_frame()
    assert check.check_y(inst, check.assignment_to_y(inst, table)) == sol.violations


def test_all_offload_deadline_misses_are_flagged_not_avoided():
    # LeNet locally takes ~17 ms; any offload needs at least one 150 ms slot: tau = 20 ms is missed
    inst = lenet_instance(N=2, H=5, B=4, frame_s=0.75, deadline_s=0.02, policy="hard")
    sol = baselines.solve_all_offload(inst, seed=0, draws=3)
    assert sol.termination == Termination.FEASIBLE
    assert all("deadline_miss" in sol.flags[d.name] for d in inst.devices)
    assert {v.equation for v in sol.violations} == {"(26)"}
    assert sol.info["deadline_misses_mean"] == 2


def test_all_offload_is_seeded_and_averages_its_draws():
    inst = load_instance(FIG6)
    a = baselines.solve_all_offload(inst, seed=7, draws=6)
    b = baselines.solve_all_offload(inst, seed=7, draws=6)
    assert all(np.array_equal(x, y) for x, y in zip(a.profile, b.profile))
    assert a.trace.equals(b.trace)
    assert a.info == b.info
    # draw 0 does not depend on how many draws follow
    c = baselines.solve_all_offload(inst, seed=7, draws=1)
    assert all(np.array_equal(x, y) for x, y in zip(a.profile, c.profile))
    # other seeds give other draws
    others = [baselines.solve_all_offload(inst, seed=s, draws=1).profile for s in range(5)]
    assert any(not all(np.array_equal(x, y) for x, y in zip(others[0], p)) for p in others[1:])
    # the representative is draw 0; info holds the means over draws
    assert a.trace.loc[0, "avg_delay_s"] == pytest.approx(a.evaluation.avg_delay, rel=1e-12)
    assert a.info["avg_delay_s_mean"] == pytest.approx(a.trace["avg_delay_s"].mean(), rel=1e-12)
    assert a.info["avg_cost_std"] == pytest.approx(a.trace["avg_cost"].std(ddof=1), rel=1e-12)
    assert a.info["draws"] == 6
    assert all(cost.partition_point(s) == 0 or cost.queued(s, inst.server.H) for s in a.profile)


@pytest.mark.parametrize("bad", [0, -1, 1.5, "3"])
def test_all_offload_rejects_bad_draws(bad):
    with pytest.raises(InputError, match="draws"):
        baselines.solve_all_offload(lenet_instance(), draws=bad)


# --------------------------------------------------------------------------- Case 4

def test_all_local_cost_by_hand():
    inst = load_instance(FIG6)
    sol = baselines.solve_all_local(inst)
    assert sol.termination == Termination.FEASIBLE and sol.feasible
    for n, d in enumerate(inst.devices):
        T = float(np.sum(d.t_local[1:]))
        E = d.P_lo * T
        C = d.alpha * d.c_T * T + d.beta * d.c_E * E   # no price: nothing offloaded
        assert sol.evaluation.delay[n] == pytest.approx(T, rel=1e-12)
        assert sol.evaluation.energy[n] == pytest.approx(E, rel=1e-12)
        assert sol.evaluation.price[n] == 0
        assert sol.evaluation.cost[n] == pytest.approx(C, rel=1e-12)
        assert np.all(sol.profile[n] == 0)
    assert sol.evaluation.avg_delay == pytest.approx(4.562, abs=1e-3)   # MODEL.md §2 self-check


def test_all_local_flags_deadline_misses():
    inst = instance_from_dict({"model": {"deadline_policy": "relax"},
                               "devices": [{"dnn": "vgg13"}, {"dnn": "lenet"}]})
    sol = baselines.solve_all_local(inst)
    assert sol.flags["md1"] == ["deadline_relaxed", "deadline_miss"]
    assert sol.flags["md2"] == []
    assert sol.violations == []   # (26) is dropped for the relaxed VGG13


# --------------------------------------------------------------------------- isolated

def test_isolated_is_the_dp_best_response_alone():
    inst = load_instance(FIG6)
    sol = baselines.solve_isolated(inst, engine="dp")
    H = inst.server.H
    for n, d in enumerate(inst.devices):
        br = dp.best_response(d, inst.server, Aggregates.empty(H))
        assert np.array_equal(sol.profile[n], br.slots)


def test_isolated_matches_enumeration_on_a_tiny_instance():
    inst = lenet_instance(N=2, B=1)
    sol = baselines.solve_isolated(inst)
    H = inst.server.H
    for n, d in enumerate(inst.devices):
        oracle = bruteforce.best_response(d, inst.server, Aggregates.empty(H))
        alone = cost.device_cost(d, sol.profile[n], inst.server, np.zeros(H))
        assert alone == pytest.approx(oracle.cost, rel=1e-9)


def test_isolated_reports_parallel_limit_breaches():
    # five AlexNets each optimal alone pick the same slots: (27) breaks with B = 4
    inst = load_instance(FIG6)
    sol = baselines.solve_isolated(inst)
    assert sol.termination == Termination.INFEASIBLE
    assert sol.violations and {v.equation for v in sol.violations} == {"(27)"}
    assert "(27)" in sol.status and sol.info["violations"]["(27)"] == len(sol.violations)


def test_isolated_reports_capacity_breaches_in_total_mode():
    inst = instance_from_dict({"model": {"capacity_mode": "total"}, "server": {"parallel_limit": 10},
                               "devices": [{"dnn": "alexnet", "count": 3, "alpha": 0.95, "beta": 0.049,
                                            "gamma": 0.001}]})
    sol = baselines.solve_isolated(inst)
    assert sol.termination == Termination.INFEASIBLE
    assert "(17)" in {v.equation for v in sol.violations}


def test_isolated_feasible_without_contention():
    inst = load_instance(FIG6)
    single = instance_from_dict({**inst.source, "devices": [{**inst.source["devices"][0], "count": 1}]})
    sol = baselines.solve_isolated(single)
    assert sol.termination == Termination.FEASIBLE and sol.feasible


def test_isolated_milp_engine_agrees_with_dp():
    pytest.importorskip("mecopt.bestresponse.milp")
    inst = lenet_instance(N=2)
    a = baselines.solve_isolated(inst, engine="dp")
    b = baselines.solve_isolated(inst, engine="milp")
    assert a.evaluation.cost == pytest.approx(b.evaluation.cost, rel=1e-9)


def test_isolated_rejects_unknown_engine():
    with pytest.raises(InputError, match="engine"):
        baselines.solve_isolated(lenet_instance(), engine="cplex")


def test_one_server_is_the_k1_case_of_the_several_server_path():
    """A [server] instance and two servers where every MD reaches only the first give the same
    baselines: the draw, the queue and the isolated best responses run one code path."""
    one = lenet_instance(N=4, B=1)
    doc = {k: v for k, v in one.source.items() if k != "server"}
    doc["servers"] = [dict(one.source["server"], name="a"), dict(one.source["server"], name="b")]
    doc["devices"] = [dict(d, servers=["a"]) for d in doc["devices"]]
    two = instance_from_dict(doc)
    assert two.K == 2 and all(two.reachable(n) == (0,) for n in range(two.N))
    for method, opts in ((baselines.solve_all_offload, dict(seed=3, draws=4)), (baselines.solve_isolated, {}),
                         (baselines.solve_all_local, {})):
        a, b = method(one, **opts), method(two, **opts)
        assert all(np.array_equal(x, y) for x, y in zip(a.profile, b.profile))
        assert np.array_equal(a.server_of, b.server_of)
        assert np.array_equal(a.evaluation.cost, b.evaluation.cost) and a.flags == b.flags
    offload = baselines.solve_all_offload(one, seed=3, draws=4)
    assert offload.info["queued_mean"] > 0 and set(offload.server_of) == {0}   # B = 1: some MDs wait
