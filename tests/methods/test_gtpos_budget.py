"""GTPOS's time_limit is a budget for the whole method, building the model included (issue 24 item 1)."""

from __future__ import annotations

import time

import pytest

from mecopt.core import checker
from mecopt.core.cost import evaluate
from mecopt.core.errors import SolverError
from mecopt.core.instance import load_instance
from mecopt.core.solution import Termination
from mecopt.game.greedy import greedy_assignment
from mecopt.methods import budget as budgetmod
from mecopt.methods import gtpos
from mecopt.methods.objective import objective_value
from mecopt.milp import classes
from mecopt.milp.backends.status import Report

pytestmark = pytest.mark.solver

#: four different DNNs: four classes, so the build is checked between them
MIXED = "paper:fig10-mixed"


def test_the_build_stops_at_the_deadline_and_the_greedy_start_comes_back(monkeypatch):
    """Building the class networks outlasts the limit: no solve, the greedy assignment as TIME_LIMIT, no bound."""
    real, built = classes.build_class_network, []

    def slow_build(*args, **kwargs):
        built.append(1)
        time.sleep(0.3)          # the first class alone takes longer than the whole limit
        return real(*args, **kwargs)

    monkeypatch.setattr(classes, "build_class_network", slow_build)
    monkeypatch.setattr(gtpos, "get_backend", lambda solver: _Unreachable())
    inst = load_instance(MIXED)
    sol = gtpos.solve_gtpos(inst, time_limit=0.2)
    assert len(built) == 1                                   # checked before the second class
    assert sol.termination == Termination.TIME_LIMIT and sol.bound is None and sol.gap is None
    assert "being built" in sol.status and sol.feasible
    profile, server_of = greedy_assignment(inst, "delay")
    assert [list(s) for s in sol.profile] == [list(s) for s in profile]
    assert sol.objective == pytest.approx(objective_value(inst, evaluate(inst, profile, server_of), "delay"))


class _Unreachable:
    name, accepts_start = "unreachable", False

    def solve(self, problem, limits):
        pytest.fail("solved after the deadline")


class _NoIncumbent:
    """A backend stopped by its time limit before any solution."""

    name, accepts_start = "fake", True

    def solve(self, problem, limits):
        return Report(status="fake: no solution", time_limit=True), None, dict(build_s=0.0)


def test_no_incumbent_at_the_limit_returns_the_warm_start(monkeypatch):
    """The solver stops at its limit with nothing: the warm start (feasible) is the answer, not an error."""
    inst = load_instance("paper:fig5-n5")
    monkeypatch.setattr(gtpos, "get_backend", lambda solver: _NoIncumbent())
    start = gtpos.solve_gtpos(inst, time_limit=30)           # a feasible profile (the real optimum)
    sol = gtpos.solve_gtpos(inst, time_limit=30, warm_start=start)
    assert sol.termination == Termination.TIME_LIMIT and sol.bound is None
    assert [list(s) for s in sol.profile] == [list(s) for s in start.profile]
    assert sol.info["fallback"] == "the warm start" and "fake: no solution" in sol.status
    assert not checker.check_profile(inst, sol.profile, sol.server_of)


def test_without_a_feasible_start_the_time_out_is_an_error(monkeypatch):
    monkeypatch.setattr(gtpos, "get_backend", lambda solver: _NoIncumbent())
    import mecopt.game.greedy as greedy
    monkeypatch.setattr(greedy, "greedy_assignment", lambda instance, objective: (None, None))
    with pytest.raises(SolverError, match="time_limit"):
        gtpos.solve_gtpos(load_instance("paper:fig5-n5"), time_limit=30)


def test_the_solver_gets_what_the_build_left(monkeypatch):
    """The backend's time limit is the budget minus the time already spent (it was the whole limit)."""
    seen = []

    class Recording(_NoIncumbent):
        def solve(self, problem, limits):
            seen.append(limits.time_limit)
            return super().solve(problem, limits)

    real = classes.build_class_network

    def slow_build(*args, **kwargs):
        time.sleep(0.5)
        return real(*args, **kwargs)

    monkeypatch.setattr(gtpos, "get_backend", lambda solver: Recording())
    monkeypatch.setattr(classes, "build_class_network", slow_build)
    gtpos.solve_gtpos(load_instance("paper:fig5-n5"), time_limit=30, decompose=False)
    assert seen and seen[0] <= 30 - 0.5


def test_class_networks_call_the_check_before_each_class():
    inst = load_instance(MIXED)
    calls = []
    nets = classes.class_networks(inst, check=lambda: calls.append(1))
    assert len(calls) == len(nets) > 1
    b = budgetmod.Budget(10.0)
    b.deadline = time.perf_counter()                         # spent
    with pytest.raises(budgetmod.OutOfTime):
        classes.class_networks(inst, check=b.check)
