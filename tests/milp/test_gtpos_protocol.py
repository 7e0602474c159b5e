"""The MILP backend protocol: neutral limits validated up front, the backend registry, the Pyomo
option tables, one class network for any number of servers, one potential builder."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mecopt.core.errors import InputError, SolverError
from mecopt.core.instance import load_instance
from mecopt.methods.gtpos import solve_gtpos
from mecopt.methods.tpos_best import solve_best
from mecopt.milp import potential
from mecopt.milp.backends import BACKENDS, Limits, available_solvers, check_solver, get_backend
from mecopt.milp.backends.highs import HIGHS_STATUS
from mecopt.milp.backends.pyomo import PyomoBackend, solver_options
from mecopt.milp.classes import build_class_network, build_link_network, class_key, columns, device_classes

#: runs a MILP solver (HiGHS or CP-SAT), directly or through a command: integration, not unit
pytestmark = pytest.mark.solver

SMALL = "paper:fig5-n5"
SEVERAL = "examples:multiserver-n50-k4"


@pytest.mark.parametrize("option, value", [
    ("time_limit", float("nan")), ("time_limit", -1.0), ("time_limit", 0), ("time_limit", math.inf),
    ("time_limit", "abc"), ("mip_rel_gap", -1), ("mip_rel_gap", 1.0), ("mip_rel_gap", float("nan")),
    ("mip_rel_gap", "abc"), ("threads", 0), ("threads", 1.5), ("threads", True), ("threads", "abc"),
])
def test_limits_reject_what_a_solver_cannot_take(option, value):
    with pytest.raises(InputError, match=f"'{option}'"):
        Limits(**{option: value})


@settings(max_examples=60, deadline=None)
@given(t=st.floats(allow_nan=True, allow_infinity=True), g=st.floats(allow_nan=True, allow_infinity=True),
       n=st.integers(-3, 64))
def test_limits_accept_exactly_the_declared_ranges(t, g, n):
    ok = math.isfinite(t) and t > 0 and 0 <= g < 1 and n >= 1
    if ok:
        lim = Limits(time_limit=t, mip_rel_gap=g, threads=n)
        assert (lim.time_limit, lim.mip_rel_gap, lim.threads) == (t, g, n)
    else:
        with pytest.raises(InputError):
            Limits(time_limit=t, mip_rel_gap=g, threads=n)


@pytest.mark.parametrize("option, value", [("time_limit", float("nan")), ("time_limit", -1.0),
                                           ("mip_rel_gap", -1.0), ("threads", 0)])
def test_gtpos_rejects_bad_limits_before_any_work(option, value, monkeypatch):
    import mecopt.milp.gtpos as formulation

    def boom(*a, **k):   # no network may be built before the limits are checked
        raise AssertionError("built a problem with an invalid limit")

    monkeypatch.setattr(formulation, "problem", boom)
    with pytest.raises(InputError, match=f"'{option}'"):
        solve_gtpos(load_instance(SMALL), **{option: value})


def test_registry_names_the_backends_and_their_capabilities():
    assert list(BACKENDS) == ["highs", "cpsat"] == available_solvers()[:2]
    assert get_backend("cpsat").accepts_start and not get_backend("highs").accepts_start
    assert all(b.available() for b in BACKENDS.values())
    with pytest.raises(InputError, match="'solver'"):
        check_solver("no-such-solver")
    with pytest.raises(InputError, match="'solver'"):
        get_backend("")


def test_pyomo_option_tables_translate_the_neutral_limits():
    lim = Limits(time_limit=0.4, mip_rel_gap=1e-4, threads=2)
    assert solver_options("glpk", lim) == {"tmlim": 1, "mipgap": 1e-4}
    assert solver_options("gurobi", lim) == {"TimeLimit": 0.4, "MIPGap": 1e-4, "Threads": 2}
    assert solver_options("scip", Limits(mip_rel_gap=0.0)) == {"limits/gap": 0.0}
    assert solver_options("unknown", lim) == {}
    assert not PyomoBackend("no-such-solver").available()


def test_highs_status_table_covers_the_statuses_mecopt_acts_on():
    assert HIGHS_STATUS["kOptimal"] == "optimal" and HIGHS_STATUS["kTimeLimit"] == "time_limit"
    assert {HIGHS_STATUS[k] for k in ("kInfeasible", "kUnboundedOrInfeasible")} == {"infeasible"}


@pytest.mark.parametrize("name", [SMALL, "examples:soft-deadline", "paper:fig10-mixed"])
def test_one_server_class_network_is_its_link_network(name):
    """The class network is the union over the servers a class reaches: with one server, the
    arcs of that server's network, in the same order."""
    inst = load_instance(name)
    for members in device_classes(inst, "social"):
        net = build_class_network(inst, members, canonical=False, objective="social")
        link = build_link_network(inst.view(0).instance, members, canonical=False, objective="social")
        assert net.servers == (0,) and net.local_arc == (int(np.flatnonzero(link.kind == 0)[0])
                                                          if (link.kind == 0).any() else -1)
        for f in ("kind", "tail", "head", "j", "m", "h", "cap", "copy", "t_blk", "delay", "energy", "s_blk"):
            assert np.array_equal(getattr(net, f), getattr(link, f)), f
        assert np.array_equal(net.cost("social"), link.cost("social"))
        assert net.n_nodes == link.n_nodes and (net.server[net.kind != 0] == 0).all()


def test_class_key_names_the_servers_reached():
    one, several = load_instance(SMALL), load_instance(SEVERAL)
    assert {k for k, _ in class_key(one, 0, "delay")} == {0}
    for n in range(several.N):
        assert tuple(k for k, _ in class_key(several, n, "delay")) == several.reachable(n)
    assert columns(one) == [(0, h) for h in range(1, one.view(0).server.H + 1)]


def test_potential_formulation_and_its_start():
    one = load_instance(SMALL)
    m, lmax = potential.build_model(one, grid=2)
    assert potential.formulation(one) == m.formulation == "device" and len(lmax) == len(m.columns)
    zeros = [np.zeros(d.M, dtype=int) for d in one.devices]
    assert potential.start_values(m, one, zeros) is not None
    several = load_instance(SEVERAL)
    assert potential.formulation(several) == "class"


def test_tpos_best_out_of_time_before_its_first_solve_says_so():
    with pytest.raises(SolverError, match="time_limit"):
        solve_best(load_instance(SMALL), time_limit=1e-9, starts=1, pos=False)
