"""Issue 22: the compiled tick, the batched certificate and the pair table give, bit for bit, what the
Python loop, the per-device certificate and DPDevice give."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import random_multiserver_doc

import mecopt
from mecopt.bestresponse import batch
from mecopt.bestresponse.dp import DPDevice
from mecopt.bestresponse.engines import make_engine
from mecopt.core.instance import Instance
from mecopt.game import certificate as certmod
from mecopt.game import compiled, dynamics
from mecopt.game.state import GameState

pytestmark = pytest.mark.skipif(not batch.AVAILABLE, reason="numba is not installed")


CASES = [("examples:multiserver-n50-k4", None), ("examples:soft-deadline", None),
         ("bench:mixed-per_device-n50", None), ("paper:fig6-w1khz", None)] + [
    (f"random-{seed}-{mode}-{policy}", (seed, mode, policy))
    for seed, mode, policy in [(1, "per_device", "relax"), (2, "total", "relax"), (3, "total", "soft"),
                               (4, "per_device", "soft")]]


def _instance(name, spec) -> Instance:
    if spec is None:
        return mecopt.load_instance(name)
    seed, mode, policy = spec
    return Instance.from_dict(random_multiserver_doc(seed, K=3, N=40, mode=mode, policy=policy))


def _python_loop(monkeypatch):
    monkeypatch.setattr(dynamics, "usable", lambda engine: False)


@pytest.mark.parametrize("name, spec", CASES, ids=[c[0] for c in CASES])
def test_compiled_tick_equals_the_python_loop(name, spec, monkeypatch):
    inst = _instance(name, spec)
    assert compiled.usable(make_engine(inst, "dp"))   # the compiled tick is what play() runs
    for seed in (0, 1):
        fast = dynamics.play(inst, seed=seed)
        with monkeypatch.context() as m:
            _python_loop(m)
            slow = dynamics.play(inst, seed=seed)
        assert fast.iterations == slow.iterations and fast.solver_calls == slow.solver_calls
        assert fast.info.get("server_best_responses") == slow.info.get("server_best_responses")
        assert all(np.array_equal(a, b) for a, b in zip(fast.profile, slow.profile))
        assert np.array_equal(np.asarray(fast.server_of), np.asarray(slow.server_of)) or fast.server_of is None
        assert fast.trace.equals(slow.trace)   # avg cost, potential, clean counts, loads: bit for bit


@pytest.mark.parametrize("name, spec", CASES, ids=[c[0] for c in CASES])
def test_batched_certificate_equals_the_per_device_one(name, spec, monkeypatch):
    inst = _instance(name, spec)
    rng = np.random.default_rng(7)
    profile, server_of = dynamics.random_initial(inst, rng)   # not an equilibrium: gains > 0, some inf
    eq = dynamics.play(inst, seed=3)
    for prof, so in [(profile, server_of), (eq.profile, eq.server_of)]:
        fast = certmod.certificate(inst, prof, server_of=so)
        with monkeypatch.context() as m:
            m.setattr(certmod.batch, "AVAILABLE", False)
            slow = certmod.certificate(inst, prof, server_of=so)
        assert fast == slow


def test_the_certificate_sees_infinite_gains_and_dropped_deadlines(monkeypatch):
    # a start that breaks (17)/(27): every figure of the Python path, inf gains included
    inst = Instance.from_dict(random_multiserver_doc(5, K=2, N=30, mode="total", policy="relax"))
    prof = [np.full(d.M, 1) for d in inst.devices]   # everybody in slot 1 of its first server
    fast = certmod.certificate(inst, prof)
    with monkeypatch.context() as m:
        m.setattr(certmod.batch, "AVAILABLE", False)
        slow = certmod.certificate(inst, prof)
    assert fast == slow and fast["infeasible_devices"]


@pytest.mark.parametrize("name, spec", CASES[:3] + CASES[-2:], ids=[c[0] for c in CASES[:3] + CASES[-2:]])
def test_pair_table_holds_what_dpdevice_precomputes(name, spec):
    inst = _instance(name, spec)
    for tie_break in (True, False):
        tab = batch.PairTable(inst, tie_break).pairs
        p = 0
        for n in range(inst.N):
            for k in inst.reachable(n):
                view = inst.view(k)
                d = DPDevice(view.instance.devices[int(view.local[n])], view.server, tie_break, backend="numpy")
                v, M, e, H = tab.voff[p], d.M, tab.eoff[p], view.server.H
                for mine, theirs in [(tab.PS, d.PS), (tab.PT, d.PT), (tab.PW, d.PW), (tab.A, d.A),
                                     (tab.DS, d.delay_start)]:
                    assert np.array_equal(mine[v:v + M + 1], theirs)
                assert np.array_equal(tab.END[e:e + H], d.end)
                assert np.array_equal(tab.QUAD[e:e + H], d.dev.gamma * view.server.price_quad)
                assert (tab.eps[p], tab.local_obj[p], tab.local_delay[p]) == (d.eps, d.local_obj, d.local_delay)
                p += 1


def test_draw_fits_is_the_bincount_test():
    inst = mecopt.load_instance("bench:mixed-per_device-n50")
    rng = np.random.default_rng(0)
    from mecopt.core.problem import Aggregates, slot_capacity, slot_open
    from mecopt.core.tolerances import capacity_limit, fits_capacity

    server = inst.server
    for n in range(20):
        dev = inst.devices[n]
        others = Aggregates(rng.uniform(0, 5, server.H), rng.uniform(0, server.slot_len * 1.2, server.H),
                            rng.integers(0, int(server.B) + 1, server.H).astype(float))
        cap = capacity_limit(slot_capacity(server, others))
        open_ = slot_open(server, others)
        for _ in range(30):
            m = int(rng.integers(0, dev.M + 1))
            slots = np.zeros(dev.M, dtype=int)
            slots[m:] = np.sort(rng.integers(1, server.H + 1, size=dev.M - m))
            T = np.bincount(slots, weights=dev.t_server[1:], minlength=server.H + 1)[1:]
            used = np.bincount(slots, minlength=server.H + 1)[1:] > 0
            want = not np.any(used & (~fits_capacity(T, slot_capacity(server, others)) | ~open_))
            assert compiled.draw_fits(slots, dev.t_server, np.asarray(cap, dtype=float), open_) == want


def test_game_state_flat_rows_are_the_server_rows():
    inst = mecopt.load_instance("examples:multiserver-n50-k4")
    profile, server_of = dynamics.random_initial(inst, np.random.default_rng(0))
    state = GameState(inst, profile, server_of)
    for k, on in enumerate(state.on_server):
        lo, hi = state.row_offset[k], state.row_offset[k + 1]
        assert np.shares_memory(on.loads, state.flat_rows) and on.loads.size == hi - lo
        assert np.array_equal(state.flat_rows[0, lo:hi], on.loads.ravel())
        t = state.total_offset[k]
        assert np.array_equal(state.flat_totals[0, t:t + on.server.H], on.total_load)
