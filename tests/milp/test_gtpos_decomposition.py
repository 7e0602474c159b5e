"""GTPOS by server decomposition (mecopt.milp.decomposition, docs/milp.md §3.10) against joint brute force.

42 tiny instances with 2-3 servers (random reach, own H_k, T_d,k, B_k), relax / hard / soft deadlines,
both capacity modes and all three objectives: GTPOS with the decomposition on and off, with each
backend, equals the joint enumeration of tests/enumeration.py; the Lagrangian bound never exceeds
the optimum; tpos-best equals the brute-force minimum of Phi on the same instances.

The default run takes a representative subset (every mode, server count, policy and objective); all 42 (and
18 instances of one shared DNN) with ``MECOPT_HEAVY_TESTS=1``.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from enumeration import joint_min_potential, joint_optimum
from test_gtpos_multiserver import assert_association, objective_of, term, tiny_multi

from mecopt.core.errors import InfeasibleError
from mecopt.core.instance import instance_from_dict
from mecopt.core.solution import Termination
from mecopt.methods.gtpos import solve_gtpos
from mecopt.methods.tpos_best import solve_best

pytestmark = pytest.mark.solver

GAP = 1e-9
POLICIES = ("relax", "hard", "soft")
OBJECTIVES = ("delay", "social", "energy")
#: all instances (else a representative subset): MECOPT_HEAVY_TESTS=1
HEAVY = os.environ.get("MECOPT_HEAVY_TESTS") == "1"
#: the default run's instances of block 0 (total / per_device, 2 / 3 servers, relax / hard / soft, identical MDs,
#: every objective)
DEFAULT_SUBSET = (0, 5, 6, 10)


def cases(tmp_path, seed: int, count: int, subset=None):
    """``count`` tiny instances: (instance, objective), cycling servers, policies, modes and objectives.

    ``subset``: only those indices (the others are drawn all the same, so an instance does not depend on it).
    """
    rng = np.random.default_rng(seed)
    for i in range(count):
        mode = ("total", "per_device")[i % 2]
        inst = tiny_multi(tmp_path, rng, mode, 2 + (i // 2) % 2, POLICIES[(i // 4) % 3], identical=(i % 7 == 6))
        if subset is None or i in subset:
            yield inst, OBJECTIVES[i % 3]


@pytest.mark.parametrize("block", range(3))
def test_decomposed_gtpos_equals_joint_enumeration(tmp_path, block):
    """3 blocks x 14 = 42 instances (heavy; by default 4 of block 0); each solved 4 ways (cpsat, highs) x (decompose
    on, off)."""
    if not HEAVY and block:
        pytest.skip("MECOPT_HEAVY_TESTS=1 runs every block")
    proven_by_decomposition = 0
    for inst, objective in cases(tmp_path, 9100 + block, 14, None if HEAVY else DEFAULT_SUBSET):
        best, _, _ = joint_optimum(inst, term(inst, objective))
        for solver in ("cpsat", "highs"):
            for decompose in (True, False):
                if best is None:
                    with pytest.raises(InfeasibleError):
                        solve_gtpos(inst, objective=objective, solver=solver, mip_rel_gap=GAP, decompose=decompose)
                    continue
                sol = solve_gtpos(inst, objective=objective, solver=solver, mip_rel_gap=GAP, decompose=decompose)
                assert sol.termination == Termination.OPTIMAL, (solver, decompose, sol.status)
                assert sol.feasible, sol.violations
                assert_association(inst, sol)
                assert sol.objective == pytest.approx(best, rel=1e-7, abs=1e-9), (solver, decompose)
                assert objective_of(inst, sol, objective) == pytest.approx(best, rel=1e-7, abs=1e-9)
                dec = sol.info.get("decomposition")
                assert (dec is not None) == decompose
                if dec is not None:
                    assert dec["lagrangian_bound"] <= best * (1 + 1e-9) + 1e-9, (solver, dec)
                    proven_by_decomposition += sol.info["bound_source"] == "decomposition"
    assert proven_by_decomposition > 0


def separable(K: int = 2, per_server: int = 3, mode: str = "total") -> dict:
    """K servers, each with its own AlexNet MDs near it (and far from, but reaching, every other)."""
    servers = [{"name": f"s{k + 1}", "slots": 5, "frame_s": 0.75, "parallel_limit": 4, "freq_cycles_per_s": 3400.0,
                "tx_power_w": 4.0} for k in range(K)]
    devices = [{"name": f"home{k + 1}", "dnn": "alexnet", "count": per_server,
                "channel_gain": [1.2e6 if j == k else 3e5 for j in range(K)]} for k in range(K)]
    return {"name": "separable", "servers": servers, "devices": devices,
            "device_defaults": {"bandwidth_hz": 2000.0, "deadline_s": 5.0, "noise_w_per_hz": 1e-9},
            "model": {"bits_per_element": 1, "price_scale": 1e6, "capacity_mode": mode, "deadline_policy": "relax"}}


def test_the_decomposition_alone_proves_a_separable_instance():
    """Each server's own devices: the per-server optima do not conflict, so the bound meets the primal at once."""
    inst = instance_from_dict(separable(per_server=2))
    sol = solve_gtpos(inst)
    assert sol.termination == Termination.OPTIMAL
    assert sol.info["bound_source"] == "decomposition" and sol.info["decomposition"]["rounds"] == 1
    assert sol.gap <= 1e-6
    # the other backend's subproblems prove the same optimum (the full model cannot prove it quickly)
    ref = solve_gtpos(inst, solver="highs")
    assert ref.termination == Termination.OPTIMAL and ref.objective == pytest.approx(sol.objective, rel=1e-9)


def test_decomposition_is_on_by_default_only_with_several_servers_in_mode_total():
    assert "decomposition" in solve_gtpos(instance_from_dict(separable(per_server=1))).info
    assert "decomposition" not in solve_gtpos(instance_from_dict(separable(per_server=1, mode="per_device"))).info
    assert "decomposition" not in solve_gtpos(instance_from_dict(separable(K=1, per_server=1))).info


@pytest.mark.parametrize("block", range(2))
def test_tpos_best_equals_the_brute_force_minimum_of_phi(tmp_path, block):
    """2 blocks x 21 = 42 instances (heavy; by default 3 of block 0): tpos-best = the joint brute-force min Phi."""
    if not HEAVY and block:
        pytest.skip("MECOPT_HEAVY_TESTS=1 runs every block")
    solved = 0
    for inst, _ in cases(tmp_path, 9300 + block, 21, None if HEAVY else (0, 5, 10)):
        best, _, _ = joint_min_potential(inst)
        if best is None:
            with pytest.raises(InfeasibleError, match="tpos-best"):
                solve_best(inst, pos=False, starts=0)
            continue
        sol = solve_best(inst, pos=False, starts=0)
        assert sol.termination == Termination.OPTIMAL, sol.status
        assert sol.objective == pytest.approx(best, rel=1e-7)
        assert sol.bound <= best * (1 + 1e-9) + 1e-9
        assert sol.feasible and sol.certificate["certified"]
        assert_association(inst, sol)
        solved += 1
    assert solved >= (14 if HEAVY else 2)


def test_the_first_round_may_use_half_of_the_time_limit(monkeypatch):
    """The first round's parts share DECOMPOSITION_SHARE (half) of the limit (it proves alone without conflicts).

    With 25 % for every round, bench mixed-K4-total-n200 was proven in 16 s under a 120 s limit but not under
    60 s: a part was stopped just before its proof.
    """
    from mecopt.milp import decomposition

    limit, given = 100.0, []
    real = decomposition.solve_part

    def spy(part, s, objective, weight, backend, limits):
        given.append(limits.time_limit)
        return real(part, s, objective, weight, backend, limits)

    monkeypatch.setattr(decomposition, "solve_part", spy)
    sol = solve_gtpos(instance_from_dict(separable(K=3, per_server=1)), time_limit=limit)
    assert sol.feasible and len(given) >= 3   # the first round solves every server's part
    # each part gets an equal slice of what is left of the first round's share (the build took a little)
    assert given[0] == pytest.approx(decomposition.DECOMPOSITION_SHARE * limit / 3, rel=0.05)
    assert decomposition.DECOMPOSITION_SHARE >= 0.5


def test_a_server_subproblem_always_has_a_bound(tmp_path):
    """Stopped at once, a subproblem still bounds W_k (uncoupled: each class on its cheapest path or skipped)."""
    from mecopt.milp import decomposition
    from mecopt.milp.backends import Limits, get_backend
    from mecopt.milp.gtpos import problem

    inst = instance_from_dict(separable(per_server=2))
    prob = problem(inst)
    costs = [net.cost("delay") for net in prob.nets]
    s = np.array([c[net.local_arc] for net, c in zip(prob.nets, costs)])
    for part in decomposition.server_parts(inst, prob.nets, "delay"):
        rushed = decomposition.solve_part(part, s, "delay", prob.weight, get_backend("cpsat"), Limits(time_limit=1e-3))
        full = decomposition.solve_part(part, s, "delay", prob.weight, get_backend("cpsat"), Limits())
        assert full.proven and np.isfinite(rushed.bound)
        assert rushed.bound <= full.bound * (1 + 1e-9)


def test_bench_verify_checks_a_several_server_instance():
    """The smallest several-server bench instance: re-solved (by the decomposition) and checked against optima.csv."""
    from mecopt.studies import bench

    table = bench.read_table().set_index("name")
    assert {"alexnet-K2-total-n20", "mixed-K4-total-n50", "mixed-K4-per_device-n50"} <= set(table.index)
    row = bench.verify(["alexnet-K2-total-n20"], solver="cpsat").iloc[0]
    assert row["verdict"] in ("ok", "consistent"), row["problems"]
    assert row["objective"] == pytest.approx(table.loc["alexnet-K2-total-n20", "value"], rel=1e-9)


def shared_dnn_cases(tmp_path, seed: int, count: int):
    """Tiny instances whose MDs all run one DNN on their own links (classes that share their server part)."""
    rng = np.random.default_rng(seed)
    for i in range(count):
        inst = tiny_multi(tmp_path, rng, "total", 2 + i % 2, POLICIES[(i // 2) % 3], N=3, shared_dnn=True)
        yield inst, ("delay", "energy", "social")[i % 3]


def test_merged_server_subproblems_equal_the_separate_ones(tmp_path):
    """Classes of one DNN share one network per server (entry arcs), arcs that cannot beat skipping are closed: the
    same W_k as the classes side by side with every arc open.

    At the decomposition's start prices and at perturbed ones, with both backends; and GTPOS decomposed on these
    instances equals the joint brute force.
    """
    from mecopt.milp import decomposition
    from mecopt.milp.backends import Limits, get_backend
    from mecopt.milp.gtpos import problem

    rng = np.random.default_rng(7)
    merged = closed = 0
    for inst, objective in shared_dnn_cases(tmp_path, 9500, HEAVY and 18 or 3):
        prob = problem(inst, objective)
        costs = [np.asarray(net.cost(objective), dtype=float) for net in prob.nets]
        s0 = np.array([c[net.local_arc] if net.local_arc >= 0 else decomposition.shortest_path_cost(net, c)
                       for net, c in zip(prob.nets, costs)])
        together = decomposition.server_parts(inst, prob.nets, objective)
        apart = decomposition.server_parts(inst, prob.nets, objective, merge=False)
        for part in apart:
            part.prune = False   # the classes side by side, every arc open: the reference
        merged += sum(len(g) > 1 for part in together for g in part.groups)
        assert all(len(g) == 1 for part in apart for g in part.groups)
        for s in (s0, s0 * rng.uniform(0.5, 1.5, len(s0))):
            closed += sum(int(np.sum(net.ub == 0)) for part in together for net in part.priced(s))
            for solver in ("cpsat", "highs"):
                for one, other in zip(together, apart):
                    a = decomposition.solve_part(one, s, objective, prob.weight, get_backend(solver), Limits())
                    b = decomposition.solve_part(other, s, objective, prob.weight, get_backend(solver), Limits())
                    assert a.proven and b.proven
                    assert a.bound == pytest.approx(b.bound, rel=1e-7, abs=1e-9), (solver, one.k)
                    assert set(a.taken) == set(b.taken)
        best, _, _ = joint_optimum(inst, term(inst, objective))
        for solver in ("cpsat", "highs"):
            if best is None:
                with pytest.raises(InfeasibleError):
                    solve_gtpos(inst, objective=objective, solver=solver, mip_rel_gap=GAP, decompose=True)
                continue
            sol = solve_gtpos(inst, objective=objective, solver=solver, mip_rel_gap=GAP, decompose=True)
            assert sol.termination == Termination.OPTIMAL and sol.feasible, sol.status
            assert_association(inst, sol)
            assert sol.objective == pytest.approx(best, rel=1e-7, abs=1e-9), solver
    assert merged >= (12 if HEAVY else 2) and closed > 0


def test_the_full_model_on_merged_classes_equals_the_union_model(tmp_path):
    """merge_classes: the classes' server parts shared across classes (entry arcs) give the union model's optimum,
    and the solution maps back to class flows of the union model that the checker accepts (both backends)."""
    from mecopt.core import checker
    from mecopt.milp import decomposition
    from mecopt.milp.backends import Limits, get_backend
    from mecopt.milp.classes import assignment_from_flows
    from mecopt.milp.gtpos import Problem, problem

    merged = 0
    for inst, objective in shared_dnn_cases(tmp_path, 9600, HEAVY and 18 or 4):
        prob = problem(inst, objective)
        nets = decomposition.merge_classes(prob.nets, objective)
        merged += len(nets) < len(prob.nets)
        for solver in ("cpsat", "highs"):
            ref, ref_flows, _ = get_backend(solver).solve(prob, Limits(mip_rel_gap=GAP))
            rep, flows, _ = get_backend(solver).solve(Problem(inst, objective, nets, prob.weight),
                                                      Limits(mip_rel_gap=GAP))
            assert (ref_flows is None) == (flows is None)
            if flows is None:
                continue
            assert rep.proven_optimal and ref.proven_optimal
            assert rep.objective == pytest.approx(ref.objective, rel=1e-7, abs=1e-9), solver
            back = decomposition.class_flows(prob.nets, nets, flows)
            value = prob.weight * sum(float(c @ f) for c, f in zip((n.cost(objective) for n in prob.nets), back))
            assert value == pytest.approx(ref.objective, rel=1e-7, abs=1e-9)
            profile, server_of = assignment_from_flows(inst, prob.nets, back)
            assert not checker.check_profile(inst, profile, server_of)
    assert merged >= (8 if HEAVY else 2)
