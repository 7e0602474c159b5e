"""Issue 22, game time: the compiled random start, the compiled game-state updates, the start's
evaluated figures and the skipped best responses give, bit for bit, what the Python paths give."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import random_multiserver_doc

import mecopt
from mecopt.bestresponse import batch
from mecopt.core import cost as costmod
from mecopt.core.instance import Instance
from mecopt.game import compiled, dynamics, start
from mecopt.game.state import GameState

pytestmark = pytest.mark.skipif(not batch.AVAILABLE, reason="numba is not installed")

NAMED = ["paper:fig6-w1khz", "examples:multiserver-n50-k4", "examples:soft-deadline", "bench:mixed-per_device-n50"]
RANDOM = [(1, "per_device", "relax"), (2, "total", "hard"), (3, "total", "soft"), (4, "per_device", "hard")]


def _instances():
    for name in NAMED:
        yield name, mecopt.load_instance(name)
    for seed, mode, policy in RANDOM:
        doc = random_multiserver_doc(seed, K=3, N=40, mode=mode, policy=policy)
        yield f"random-{seed}-{mode}-{policy}", Instance.from_dict(doc)


CASES = list(_instances())
IDS = [c[0] for c in CASES]


@pytest.mark.parametrize("name, inst", CASES, ids=IDS)
@pytest.mark.parametrize("chunk", [start.CHUNK_WORDS, 3])
def test_compiled_start_replays_the_draws_one_at_a_time(name, inst, chunk, monkeypatch):
    monkeypatch.setattr(start, "CHUNK_WORDS", chunk)   # 3: the stream runs out mid-MD again and again
    table = batch.PairTable(inst)
    for seed, before in [(0, 0), (1, 1), (2, 2)]:   # 1 draw before: the generator keeps a 32-bit half
        slow_rng, fast_rng = np.random.default_rng(seed), np.random.default_rng(seed)
        for rng in (slow_rng, fast_rng):
            rng.integers(7, size=before)
        slow = dynamics.random_initial(inst, slow_rng)
        fast = dynamics.random_initial(inst, fast_rng, table=table)
        assert all(np.array_equal(a, b) for a, b in zip(slow[0], fast[0])) and len(slow[0]) == len(fast[0])
        assert np.array_equal(slow[1], fast[1])
        assert slow_rng.bit_generator.state == fast_rng.bit_generator.state
        assert slow_rng.integers(1000, size=5).tolist() == fast_rng.integers(1000, size=5).tolist()


def test_some_start_draws_are_rejected_and_some_md_stays_local():
    # the replay must see rejections (tight deadlines, B, capacity), else the test above proves little
    inst = Instance.from_dict(random_multiserver_doc(2, K=3, N=40, mode="total", policy="hard"))
    profile, server_of = dynamics.random_initial(inst, np.random.default_rng(0), table=batch.PairTable(inst))
    assert (server_of == -1).any() and (server_of >= 0).any()


def test_other_generators_take_the_python_path():
    inst = mecopt.load_instance("paper:fig6-w1khz")
    rng = np.random.Generator(np.random.MT19937(0))
    assert not start.usable(rng)
    a = dynamics.random_initial(inst, rng, table=batch.PairTable(inst))
    b = dynamics.random_initial(inst, np.random.Generator(np.random.MT19937(0)))
    assert all(np.array_equal(x, y) for x, y in zip(a[0], b[0]))


def _states(inst, seed):
    """The same profile in a Python state and in a compiled one."""
    profile, server_of = dynamics.random_initial(inst, np.random.default_rng(seed))
    return GameState(inst, profile, server_of), GameState(inst, profile, server_of, table=batch.PairTable(inst))


def _same(a: GameState, b: GameState) -> None:
    assert np.array_equal(a.flat_rows, b.flat_rows) and np.array_equal(a.flat_totals, b.flat_totals)
    for x, y in [(a.own, b.own), (a.delay, b.delay), (a.energy, b.energy), (a.theta, b.theta),
                 (a.server_of, b.server_of), (a._own_totals, b._own_totals)]:
        assert np.array_equal(x, y)
    assert all(np.array_equal(x, y) for x, y in zip(a.slots, b.slots))


@pytest.mark.parametrize("name, inst", CASES, ids=IDS)
def test_compiled_state_moves_are_the_python_moves(name, inst):
    slow, fast = _states(inst, 0)
    _same(slow, fast)
    rng = np.random.default_rng(1)
    for _ in range(200):   # random moves: to another server, within one, to all local, to the queue
        n = int(rng.integers(inst.N))
        reach = inst.reachable(n)
        k = reach[int(rng.integers(len(reach)))]
        H, M = inst.view(k).server.H, inst.devices[n].M
        kind = rng.random()
        if kind < 0.1:
            slots = np.zeros(M, dtype=int)
        elif kind < 0.15:
            slots = np.full(M, H + 1)   # queued (Case 3): the Python path in both
        else:
            m = int(rng.integers(0, M + 1))
            slots = np.zeros(M, dtype=int)
            slots[m:] = np.sort(rng.integers(1, H + 1, size=M - m))
        slow.set(n, slots, k)
        fast.set(n, slots, k)
        _same(slow, fast)
    assert slow.avg_cost() == fast.avg_cost() and slow.potential() == fast.potential() or np.isnan(slow.potential())


@pytest.mark.parametrize("name, inst", CASES, ids=IDS)
def test_evaluated_figures_are_the_evaluation(name, inst):
    for seed in (0, 1):
        state = GameState(inst, *dynamics.random_initial(inst, np.random.default_rng(seed)),
                          table=batch.PairTable(inst))
        if seed:   # some queued MDs too
            for n in range(0, inst.N, 7):
                k = inst.reachable(n)[0]
                state.set(n, np.full(inst.devices[n].M, inst.view(k).server.H + 1), k)
        ev = costmod.evaluate(inst, state.slots, state.server_of)
        avg, phi = state.evaluated_figures()
        assert avg == ev.avg_cost
        assert phi == ev.potential or (np.isnan(phi) and np.isnan(ev.potential))


def test_unchanged_devices_are_counted_not_solved(monkeypatch):
    inst = mecopt.load_instance("examples:multiserver-n50-k4")
    ticks = []
    original = compiled.CompiledTick

    def keep(*args, **kwargs):
        ticks.append(original(*args, **kwargs))
        return ticks[-1]

    monkeypatch.setattr(dynamics, "CompiledTick", keep)
    sol = dynamics.play(inst, seed=0)
    assert sol.certificate["certified"]
    assert 0 < ticks[0].computed < sol.solver_calls   # the equality with the Python loop: test_compiled.py
