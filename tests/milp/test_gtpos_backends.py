"""GTPOS backends (HiGHS via Pyomo, CP-SAT), device classes, integer scaling and options.

* total mode ((17) as printed) = joint brute force on 50 tiny instances, with every backend;
* aggregated classes = disaggregated model, both capacity modes, both backends;
* CP-SAT's integer scaling of (17) and the structural deadline (26) at their exact boundaries;
* solver names, progress reports, warm starts, the status mapping.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
import tomli_w
from test_gtpos import enumerate_optimum, objective_of, tiny_instance

from mecopt.core import checker as check
from mecopt.core import cost as costmod
from mecopt.core.errors import InfeasibleError, InputError
from mecopt.core.instance import instance_from_dict, load_instance
from mecopt.core.solution import Termination
from mecopt.core.tolerances import CAP_TOL
from mecopt.methods.gtpos import solve_gtpos
from mecopt.milp.backends import cpsat
from mecopt.milp.backends import status as statusmod
from mecopt.milp.classes import class_networks, device_classes, flows_from_profile, profile_from_flows

#: runs a MILP solver (HiGHS or CP-SAT), directly or through a command: integration, not unit
pytestmark = pytest.mark.solver

BACKENDS = ["highs", "cpsat"]
GAP = 1e-9


@pytest.mark.parametrize("block", range(5))
def test_total_mode_equals_joint_enumeration_with_every_backend(tmp_path, block):
    """10 instances x 5 blocks = 50 tiny total-mode instances, each solved by every backend
    (CP-SAT also with the greedy hint)."""
    rng = np.random.default_rng(1000 + block)
    for k in range(10):
        inst = tiny_instance(tmp_path, rng, "total", identical=(k % 3 == 2))
        objective = ["delay", "social", "energy"][k % 3]
        best, _ = enumerate_optimum(inst, objective)
        for solver, warm in [("highs", None), ("cpsat", None), ("cpsat", "greedy")]:
            if best is None:
                with pytest.raises(InfeasibleError, match="GTPOS"):
                    solve_gtpos(inst, objective=objective, solver=solver, mip_rel_gap=GAP)
                continue
            sol = solve_gtpos(inst, objective=objective, solver=solver, mip_rel_gap=GAP, warm_start=warm)
            assert sol.termination == Termination.OPTIMAL, (solver, sol.status)
            assert check.check_profile(inst, sol.profile) == []
            assert objective_of(inst, sol.profile, objective) == pytest.approx(best, rel=1e-7, abs=1e-9), solver
            assert sol.objective == pytest.approx(best, rel=1e-7, abs=1e-9)
            assert sol.bound <= sol.objective * (1 + 1e-9) + 1e-12 and sol.gap <= GAP * 1.01


def _with_copies(tmp_path, rng, mode, N=4):
    """A tiny instance whose devices come in classes: device k copies device k % 2."""
    inst = tiny_instance(tmp_path, rng, mode, N=2)
    doc = dict(inst.source)
    devs = [dict(d) for d in doc["devices"]]
    doc["devices"] = [dict(devs[k % 2], name=f"c{k}") for k in range(N)]
    return instance_from_dict(doc, base=tmp_path)


@pytest.mark.parametrize("mode", ["per_device", "total"])
def test_aggregated_classes_equal_the_disaggregated_model(tmp_path, mode):
    rng = np.random.default_rng(77 if mode == "total" else 78)
    for _ in range(5):
        inst = _with_copies(tmp_path, rng, mode)
        assert len(device_classes(inst, "delay")) == 2 and len(device_classes(inst, "delay", aggregate=False)) == 4
        best, _ = enumerate_optimum(inst, "delay")
        for solver in BACKENDS:
            if best is None:
                continue
            a = solve_gtpos(inst, solver=solver, mip_rel_gap=GAP, aggregate=True)
            b = solve_gtpos(inst, solver=solver, mip_rel_gap=GAP, aggregate=False)
            assert a.info["classes"] == 2 and b.info["classes"] == 4
            assert a.objective == pytest.approx(b.objective, rel=1e-9) == pytest.approx(best, rel=1e-7)
            assert check.check_profile(inst, a.profile) == [] and check.check_profile(inst, b.profile) == []


def test_classes_follow_the_objective(tmp_path):
    """Prices and weights do not split a class under delay; the weights do under social."""
    rng = np.random.default_rng(5)
    inst = tiny_instance(tmp_path, rng, "total", N=2)
    doc = dict(inst.source)
    d0 = dict(doc["devices"][0])
    doc["devices"] = [dict(d0, name="a"), dict(d0, name="b", gamma=d0["gamma"] / 2,
                                                 alpha=d0["alpha"] + d0["gamma"] / 2)]
    inst = instance_from_dict(doc, base=tmp_path)
    assert device_classes(inst, "delay") == [(0, 1)] and device_classes(inst, "energy") == [(0, 1)]
    assert device_classes(inst, "social") == [(0,), (1,)]


def test_flow_decomposition_round_trips(tmp_path):
    """profile -> class flows -> profile gives the same multiset of strategies per class."""
    rng = np.random.default_rng(9)
    inst = _with_copies(tmp_path, rng, "total", N=5)
    sol = solve_gtpos(inst, solver="highs")
    nets = class_networks(inst, "delay")
    flows = flows_from_profile(nets, sol.profile)
    back = profile_from_flows(inst, nets, flows)
    for net in nets:
        assert sorted(tuple(sol.profile[n]) for n in net.members) == sorted(tuple(back[n]) for n in net.members)


# ----------------------------------------------------------------------------- boundaries

def test_capacity_scaling_sandwich_on_random_boundary_sets():
    """The argument of mecopt.milp.backends.cpsat, checked exactly (Fractions) on sets of <= K block times
    whose sum is at, just below, or just above the capacity."""
    rng = np.random.default_rng(0)
    for _ in range(300):
        cap = float(rng.uniform(0.01, 2.0))
        K = int(rng.integers(1, 9))
        s, C = cpsat.capacity_scaling(cap, K)
        k = int(rng.integers(1, K + 1))
        t = rng.dirichlet(np.ones(k)) * cap * float(rng.choice([1.0, 1 - 1e-12, 1 + 1e-12, 1 + 4e-10, 1 + 2e-9]))
        exact = sum(Fraction(float(x)) for x in t)
        T = sum(cpsat.scale_time(float(x), s) for x in t)
        if exact <= Fraction(cap):
            assert T <= C
        if T <= C:
            assert exact <= Fraction(cap) * (1 + Fraction(CAP_TOL) / 2)


def _two_device_instance(tmp_path, t_each: float, tau: float = 1e3, H: int = 1, B: int = 2):
    """Two MDs with one layer each, T_d/H = 1 s, (17) total."""
    spec = {"name": "one", "input": {"channels": 1, "height": 1, "width": 1},
            "layers": [{"name": "l1", "type": "block", "out_shape": [1, 1, 1], "t_local_s": 10.0,
                        "t_server_s": t_each}]}
    (tmp_path / "one.toml").write_text(tomli_w.dumps(spec))
    doc = {"model": {"bits_per_element": 1.0, "price_scale": 1.0, "capacity_mode": "total"},
           "server": {"slots": H, "frame_s": float(H), "parallel_limit": B, "freq_cycles_per_s": 100.0},
           "device_defaults": {"dnn": "one.toml", "alpha": 0.5, "beta": 0.3, "gamma": 0.2, "bandwidth_hz": 1e6,
                               "channel_gain": 3e-7, "noise_w_per_hz": 1e-9, "upload_power_w": 1.0,
                               "deadline_s": tau},
           "devices": [{"name": "a"}, {"name": "b"}]}
    return instance_from_dict(doc, base=tmp_path)


@pytest.mark.parametrize("solver", BACKENDS)
def test_capacity_exactly_full_is_feasible_and_just_over_is_not(tmp_path, solver):
    # 0.5 + 0.5 == 1.0 exactly: both offload in slot 1
    inst = _two_device_instance(tmp_path, 0.5)
    sol = solve_gtpos(inst, solver=solver)
    assert [list(s) for s in sol.profile] == [[1], [1]] and sol.feasible
    # 2 x 0.5 (1 + 2e-9) breaks (17) beyond the checker's tolerance: only one may offload
    inst = _two_device_instance(tmp_path, 0.5 * (1 + 2e-9))
    sol = solve_gtpos(inst, solver=solver)
    assert sorted(int(s[0]) for s in sol.profile) == [0, 1] and sol.feasible
    assert check.check_profile(inst, [np.array([1]), np.array([1])]) != []


@pytest.mark.parametrize("solver", BACKENDS)
def test_deadline_exactly_met_is_feasible_and_just_missed_is_not(tmp_path, solver):
    """H = 2, B = 1: one MD offloads in slot 1, the other must use slot 2 (local takes 10 s)."""
    inst = _two_device_instance(tmp_path, 0.5, H=2, B=1)
    d2 = costmod.delay(inst.devices[0], np.array([2]), inst.server)   # upload + 2 s + download
    # tau = that delay exactly: slot 2 meets (26)
    sol = solve_gtpos(_two_device_instance(tmp_path, 0.5, tau=d2, H=2, B=1), solver=solver)
    assert sorted(int(s[0]) for s in sol.profile) == [1, 2] and sol.feasible
    # tau 1e-9 relative below: slot 2 misses it, and slot 1 holds one MD only: infeasible
    with pytest.raises(InfeasibleError):
        solve_gtpos(_two_device_instance(tmp_path, 0.5, tau=d2 * (1 - 1e-9), H=2, B=1), solver=solver)


# ----------------------------------------------------------------------------- options

def test_unknown_solver_is_an_input_error_listing_what_was_found():
    inst = load_instance("instances/paper/fig6-w1khz.toml")
    with pytest.raises(InputError, match=r"highs, cpsat.*no-such-solver"):
        solve_gtpos(inst, solver="no-such-solver")


@pytest.mark.parametrize("solver", BACKENDS)
def test_progress_reports_incumbent_bound_gap_time(solver):
    import tomllib
    data = tomllib.loads(open("instances/paper/fig6-w1khz.toml").read())
    data["model"]["capacity_mode"] = "total"
    inst = instance_from_dict(data)
    seen = []
    sol = solve_gtpos(inst, solver=solver, progress=seen.append)
    assert seen and set(seen[0]) == {"incumbent", "bound", "gap", "time_s"}
    assert all(r["incumbent"] >= sol.objective - 1e-9 for r in seen)
    assert sol.termination == Termination.OPTIMAL


@pytest.mark.parametrize("solver", BACKENDS)
def test_warm_start_from_a_feasible_profile(solver):
    import tomllib
    data = tomllib.loads(open("instances/paper/fig5-n5.toml").read())
    data["model"]["capacity_mode"] = "total"
    inst = instance_from_dict(data)
    cold = solve_gtpos(inst, solver=solver)
    warm = solve_gtpos(inst, solver=solver, warm_start=cold.profile)
    assert warm.info["warm_start"] == (solver == "cpsat")   # HiGHS gets no start solution (docs/milp.md 3.5)
    assert warm.objective == pytest.approx(cold.objective, rel=1e-9)
    greedy = solve_gtpos(inst, solver=solver, warm_start="greedy")
    assert greedy.objective == pytest.approx(cold.objective, rel=1e-9)
    local = solve_gtpos(inst, solver=solver, warm_start=costmod.all_local(inst))
    assert local.objective == pytest.approx(cold.objective, rel=1e-9)


def test_status_mapping_never_calls_a_time_limited_run_optimal():
    r = statusmod.Report(status="x", proven_optimal=False, time_limit=True, objective=1.0, bound=1.0)
    assert statusmod.termination(r, 1e-6) == Termination.TIME_LIMIT
    r = statusmod.Report(status="x", proven_optimal=True, objective=1.0, bound=0.9)
    assert statusmod.termination(r, 1e-6) == Termination.FEASIBLE   # claimed optimal, gap says otherwise
    r = statusmod.Report(status="x", proven_optimal=True, objective=1.0, bound=1.0 - 1e-8)
    assert statusmod.termination(r, 1e-6) == Termination.OPTIMAL
    assert statusmod.termination(statusmod.Report(status="x", infeasible=True), 1e-6) == Termination.INFEASIBLE
    assert statusmod.termination(statusmod.Report(status="x"), 1e-6) == Termination.ERROR


@pytest.mark.parametrize("solver", BACKENDS)
def test_paper_optima_are_unchanged(solver):
    """per_device (the paper's default): the optima of GTPOS before device classes (HiGHS, full model)."""
    for name, value in [("fig6-w1khz", 3.490510341990177), ("fig5-n10", 3.3950939788764245),
                        ("fig5-n5", 2.598961069075912), ("fig10-mixed", 21.71612451287188)]:
        sol = solve_gtpos(load_instance(f"paper:{name}"), solver=solver)
        assert sol.termination == Termination.OPTIMAL
        assert sol.evaluation.avg_delay == pytest.approx(value, rel=1e-9)
        assert math.isclose(sol.objective, value, rel_tol=1e-9)
