"""Alg. 1-2 step 3, the random start, in compiled code: the same draws from the same generator.

:func:`mecopt.game.dynamics.random_initial` draws, MD after MD, a server (``rng.integers(R)``) and
up to ``tries`` strategies (``rng.integers(0, M + 1)``, then ``rng.integers(1, H + 1, size=...)``)
from the run's :class:`numpy.random.Generator`; the recorded results fix that stream. Each of these
calls asks numpy for integers in a range of at most 2^32 values, which numpy answers with Lemire's
bounded method on 32-bit words of the bit generator (``random_bounded_uint64`` ->
``buffered_bounded_lemire_uint32``). PCG64 hands out 32-bit words as the low then the high half of
one 64-bit output, keeping the high half for the next call (``has_uint32``/``uinteger`` of its
state). So the whole start reads one stream of 32-bit words, which this module draws in bulk
(``bit_generator.random_raw``), replays with the same Lemire rejection in one compiled pass
(:func:`_replay`), and finally puts the generator exactly where the draws one at a time would have
left it (``advance`` by the 64-bit outputs consumed, plus the kept half). The tests compare the
profile, the servers and the generator's next draws with the Python path
(tests/game/test_start.py).

The tests of a draw are those of :func:`mecopt.game.dynamics.draw_strategy`: (17) and (27) against
the MDs placed before, with the per-slot server time summed in layer order (as
:func:`mecopt.core.cost.own_loads`), then (26) where enforced, with T_n (24) summed as
:func:`mecopt.core.cost.delay` does. A drawn strategy never queues (slots 1..H), so
:func:`mecopt.core.problem.strategy_feasible` adds nothing to these.
"""

from __future__ import annotations

import sys

import numpy as np

from mecopt.bestresponse import batch
from mecopt.bestresponse.jit import compile_kernel
from mecopt.core.tolerances import CAP_ABS, CAP_TOL, PARALLEL_TOL

#: 64-bit outputs drawn per refill of the stream (8 MB)
CHUNK_WORDS = 1 << 20


def _bounded(stream, pos, rng):
    """A uniform integer in 0..rng from ``stream[pos:]``: numpy's ``buffered_bounded_lemire_uint32``.

    Returns (value, new position); position -1 when the stream runs out. rng = 0 reads nothing.
    """
    if rng == 0:
        return 0, pos
    rng_excl = np.uint64(rng) + np.uint64(1)
    if pos >= stream.shape[0]:
        return 0, -1
    m = np.uint64(stream[pos]) * rng_excl
    pos += 1
    leftover = m & np.uint64(0xFFFFFFFF)
    if leftover < rng_excl:
        threshold = (np.uint64(0xFFFFFFFF) - np.uint64(rng)) % rng_excl
        while leftover < threshold:
            if pos >= stream.shape[0]:
                return 0, -1
            m = np.uint64(stream[pos]) * rng_excl
            pos += 1
            leftover = m & np.uint64(0xFFFFFFFF)
    return np.int64(m >> np.uint64(32)), pos


def _replay(stream, pos, n0, tries, tab, srv, tot_time, tot_count, slots, slot_off, server_of, draw, lim, open_,
            row_time, row_used):
    """MDs n0.. in turn: a server, then up to ``tries`` strategies, from ``stream[pos:]`` (module docstring).

    Writes each MD's strategy into ``slots[slot_off[n]:slot_off[n + 1]]`` (zeros when all local)
    and its server into ``server_of`` (-1 all local); the accepted strategies' server time and MD
    count are added to ``tot_time`` and ``tot_count`` in MD order (what ServerLoads.move adds).
    Returns (the first MD not done, the stream position where its draws start): (N, end) when all
    are done, else the stream ran out during that MD, whose draws are then replayed from there.
    """
    N = tab.ptr.shape[0] - 1
    for n in range(n0, N):
        start = pos
        first = tab.ptr[n]
        c, pos = _bounded(stream, pos, tab.ptr[n + 1] - first - 1)   # the server: rng.integers(R)
        if pos < 0:
            return n, start
        p = first + c
        k = tab.k[p]
        H = srv.H[k]
        M = tab.M[p]
        v = tab.voff[p]
        t = srv.toff[k]
        slot_len = srv.slot_len[k]
        for h in range(H):   # capacity_limit(slot_capacity(...)) and slot_open(...) against the MDs before
            cap = slot_len if srv.per_device[k] else slot_len - tot_time[t + h]
            lim[h] = cap * (1 + CAP_TOL) + CAP_ABS
            open_[h] = tot_count[t + h] + 1 <= srv.B[k] + PARALLEL_TOL
        accepted = False
        m = M
        for _ in range(tries):
            m, pos = _bounded(stream, pos, M)             # rng.integers(0, M + 1)
            if pos < 0:
                return n, start
            for x in range(m):
                draw[x] = 0
            for x in range(m, M):                          # rng.integers(1, H + 1, size=M - m)
                d, pos = _bounded(stream, pos, H - 1)
                if pos < 0:
                    return n, start
                draw[x] = d + 1
            draw[m:M].sort()
            for h in range(H):   # own server time per slot, summed in layer order (draw_fits, own_loads)
                row_time[h] = 0.0
                row_used[h] = False
            for x in range(m, M):
                row_time[draw[x] - 1] += tab.TS[v + x]
                row_used[draw[x] - 1] = True
            fits = True
            for h in range(H):   # (17), (27) on the slots it uses
                if row_used[h] and not (row_time[h] <= lim[h] and open_[h]):
                    fits = False
                    break
            if not fits:
                continue
            if tab.enforce[p]:   # (26), T_n summed as costmod.delay
                T = tab.LC[v + m]
                if m < M:
                    T = T + tab.TU[v + m] + draw[M - 1] * slot_len + tab.t_down[p]
                if not T <= tab.tau_lim[p]:
                    continue
            accepted = True
            break
        o = slot_off[n]
        if accepted and m < M:
            for x in range(M):
                slots[o + x] = draw[x]
            server_of[n] = k
            for h in range(H):   # ServerLoads.move of an MD that was all local: totals += its rows
                tot_time[t + h] += row_time[h]
                tot_count[t + h] += 1.0 if row_used[h] else 0.0
        else:
            for x in range(M):
                slots[o + x] = 0
            server_of[n] = -1
    return N, pos


if batch.AVAILABLE:
    _bounded = compile_kernel(_bounded)
    _replay = compile_kernel(_replay)


def usable(rng: np.random.Generator) -> bool:
    """Whether :func:`random_initial` reproduces ``rng``'s draws (compiled kernels, a PCG64 generator).

    Parameters
    ----------
    rng : numpy.random.Generator
        The run's generator.

    Returns
    -------
    bool
    """
    return batch.AVAILABLE and type(rng.bit_generator) is np.random.PCG64 and sys.byteorder == "little"


def random_initial(table: batch.PairTable, rng: np.random.Generator,
                   tries: int = 50) -> tuple[list[np.ndarray], np.ndarray]:
    """:func:`mecopt.game.dynamics.random_initial` in one compiled pass, leaving ``rng`` where it would.

    Parameters
    ----------
    table : PairTable
        The instance's pair table (:mod:`mecopt.bestresponse.batch`).
    rng : numpy.random.Generator
        The run's generator (PCG64, :func:`usable`), consumed as by the draws one at a time.
    tries : int, default 50
        Draws per MD before it starts all local.

    Returns
    -------
    profile : list of numpy.ndarray
        One slot vector per MD.
    server_of : numpy.ndarray
        The server each MD offloads to, -1 when all local.
    """
    tab, srv = table.pairs, table.servers
    N = len(tab.ptr) - 1
    M = tab.M[tab.ptr[:-1]] if N else np.zeros(0, dtype=np.int64)
    slot_off = np.concatenate([[0], np.cumsum(M)]).astype(np.int64)
    slots = np.zeros(int(slot_off[-1]), dtype=np.int64)
    server_of = np.full(N, -1, dtype=np.int64)
    tot_time, tot_count = np.zeros(len(srv.a)), np.zeros(len(srv.a))
    draw = np.zeros(table.max_M, dtype=np.int64)
    lim, open_ = np.zeros(table.max_H), np.zeros(table.max_H, dtype=np.bool_)
    row_time, row_used = np.zeros(table.max_H), np.zeros(table.max_H, dtype=np.bool_)

    bitgen = rng.bit_generator
    state0 = bitgen.state
    kept = [np.uint32(state0["uinteger"])] if state0["has_uint32"] else []
    stream = np.array(kept, dtype=np.uint32)
    consumed, pos, n = 0, 0, 0   # consumed: words of the logical stream before stream[0]
    last = 0                     # the last word read (kept in the state as PCG64 keeps it)
    while True:
        n, end = _replay(stream, pos, n, tries, tab, srv, tot_time, tot_count, slots, slot_off, server_of, draw,
                         lim, open_, row_time, row_used)
        if n >= N:
            pos = end
            break
        consumed += end
        if end > 0:
            last = int(stream[end - 1])
        words = bitgen.random_raw(CHUNK_WORDS).astype(np.uint64)
        stream = np.concatenate([stream[end:], words.view(np.uint32)])
        pos = 0
    used = consumed + pos            # 32-bit words read in all
    if pos > 0:
        last = int(stream[pos - 1])
    _restore(bitgen, state0, used, last, int(stream[pos]) if pos < len(stream) else 0)
    profile = [slots[slot_off[i]:slot_off[i + 1]].astype(int) for i in range(N)]
    return profile, server_of.astype(int)


def _restore(bitgen, state0: dict, used: int, last: int, following: int) -> None:
    """Put ``bitgen`` where ``used`` 32-bit draws from ``state0`` leave it (module docstring).

    ``last`` is the last word read, ``following`` the one after it (kept when it is the high half
    of a 64-bit output whose low half was read).
    """
    if used == 0:
        bitgen.state = state0
        return
    halves = used - int(state0["has_uint32"])   # halves of 64-bit outputs read after the kept one
    bitgen.state = dict(state0, has_uint32=0)
    bitgen.advance((halves + 1) // 2)
    state = bitgen.state
    if halves % 2:                              # the high half of the last output is kept
        state["has_uint32"], state["uinteger"] = 1, following
    else:
        state["has_uint32"], state["uinteger"] = 0, last
    bitgen.state = state
