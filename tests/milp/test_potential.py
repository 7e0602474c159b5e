"""TPOS-best (min of the potential Phi) against joint brute force over every feasible profile.

Tiny instances of tests/milp/test_gtpos.py (N = 2-3, 3-4 layers, H = 2-3, both capacity
modes, binding B and tau): the proven minimum of Phi equals the enumerated one,
the profile passes the checker, and it is a certified equilibrium.
"""

from __future__ import annotations

from itertools import product

import numpy as np
import pytest
from enumeration import strategies
from game.test_game import small_instance  # tests/game
from test_gtpos import tiny_instance

import mecopt
from mecopt.core import checker as check
from mecopt.core import cost as costmod
from mecopt.core.errors import InputError
from mecopt.core.solution import Termination
from mecopt.core.tolerances import CAP_TOL
from mecopt.methods.tpos_best import solve_best

#: runs a MILP solver (HiGHS or CP-SAT), directly or through a command: integration, not unit
pytestmark = pytest.mark.solver


def enumerate_min_phi(inst):
    """Least Phi over all profiles satisfying (15)-(17), (26), (27), by brute force."""
    server, H = inst.server, inst.server.H
    per = []
    for dev in inst.devices:
        rows = []
        for s in strategies(dev.M, H):
            T, E = costmod.delay(dev, s, server), costmod.energy(dev, s, server)
            if not dev.deadline_relaxed and T > dev.tau * (1 + 1e-12):
                continue
            S, t = costmod.own_loads(dev, s, H)
            if server.capacity_mode == "per_device" and np.any(t > server.slot_len * (1 + CAP_TOL) + 1e-15):
                continue
            own = (dev.alpha * dev.c_T * T + dev.beta * dev.c_E * E) / dev.gamma
            rows.append((own, S, t, np.isin(np.arange(1, H + 1), s).astype(int), s))
        per.append(rows)
    if any(not r for r in per):
        return None, None
    own = [np.array([r[0] for r in rows]) for rows in per]
    S = [np.array([r[1] for r in rows]) for rows in per]
    t = [np.array([r[2] for r in rows]) for rows in per]
    u = [np.array([r[3] for r in rows]) for rows in per]
    idx = np.array(list(product(*[range(len(rows)) for rows in per])))
    L = sum(S[n][idx[:, n]] for n in range(inst.N))
    sq = sum(S[n][idx[:, n]] ** 2 for n in range(inst.N))
    phi = sum(own[n][idx[:, n]] for n in range(inst.N)) + L @ server.a + (L ** 2 + sq) @ (server.price_quad / 2)
    ok = np.all(sum(u[n][idx[:, n]] for n in range(inst.N)) <= server.B, axis=1)
    if server.capacity_mode == "total":
        ok &= np.all(sum(t[n][idx[:, n]] for n in range(inst.N)) <= server.slot_len * (1 + CAP_TOL) + 1e-15, axis=1)
    if not ok.any():
        return None, None
    k = int(np.argmin(np.where(ok, phi, np.inf)))
    return float(phi[k]), [per[n][idx[k, n]][4] for n in range(inst.N)]


@pytest.mark.parametrize("mode", ["per_device", "total"])
def test_min_potential_equals_joint_enumeration(tmp_path, mode):
    rng = np.random.default_rng(7 + (mode == "total"))
    solved = cuts = 0
    for k in range(8):
        inst = tiny_instance(tmp_path, rng, mode, identical=(k == 7))
        best, _ = enumerate_min_phi(inst)
        if best is None:
            continue
        sol = solve_best(inst, pos=False, grid=2)   # few initial cuts: the outer approximation must do the work
        solved += 1
        cuts += sol.info["cuts_added"]
        assert sol.termination == Termination.OPTIMAL
        assert check.check_profile(inst, sol.profile) == []
        assert sol.objective == pytest.approx(best, rel=1e-8, abs=1e-8)
        assert costmod.evaluate(inst, sol.profile).potential == pytest.approx(best, rel=1e-8, abs=1e-8)
        assert sol.bound <= best * (1 + 1e-8) + 1e-8
        assert sol.certificate["certified"]
    assert solved >= 5
    assert cuts > 0   # the outer approximation was exercised, not just the initial grid


def test_price_of_stability_against_gtpos():
    inst = small_instance(N=3, gamma=0.3, H=3, B=2, dnn="lenet")
    sol = solve_best(inst)
    info = sol.info
    assert info["pos_delay"] == pytest.approx(info["delay"] / info["gtpos_delay"])
    assert info["pos_delay"] >= 1 - 1e-9 and info["pos_social"] >= 1 - 1e-9


def test_zero_gamma_and_bad_options_are_input_errors():
    with pytest.raises(InputError, match="gamma"):
        solve_best(small_instance(N=2, gamma=0.0), pos=False)
    with pytest.raises(InputError, match="grid"):
        solve_best(small_instance(N=2), grid=1)


def test_polish_leaves_a_soft_deadline_equilibrium_alone():
    """Under the soft policy a missed deadline is priced, not infeasible: a certified equilibrium
    whose devices miss tau needs no polish move (it used to "move" them to the same strategy on
    every pass, 1,000 passes)."""
    from mecopt.methods.tpos_best import _polish

    inst = mecopt.load_instance("examples:soft-deadline")
    eq = mecopt.solve(inst, "tpos-cai", engine="dp")
    assert eq.certificate["certified"] and eq.summary()["deadline_misses"] > 0
    profile, server_of, moves = _polish(inst, eq.profile)
    assert moves == 0 and server_of is None
    assert all(np.array_equal(a, b) for a, b in zip(profile, eq.profile))
