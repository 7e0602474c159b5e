"""Alg. 1's tick and the certificate in compiled code, for the DP engine (issue 22).

The Python loop of :func:`mecopt.game.dynamics.iterate` spends most of its time around the DP
(building aggregates, choosing among servers, testing the current strategy), not in it. Here the
woken MDs of a tick are walked in their order by one compiled call (:func:`walk`): each MD's best
response over its reachable servers is computed against the *current* aggregates, read from the
flat arrays of :class:`~mecopt.game.state.GameState`, and compared with its current strategy
exactly as the Python loop does. The walk stops at the first MD that moves; Python applies the
move with :meth:`GameState.set` (the same code, hence the same running totals and trace) and the
walk resumes after it. Alg. 1's sequential semantics are therefore kept: every MD answers the
profile as left by the MDs before it, and the equilibria, ticks, best-response counts and traces
are bit-identical to the Python loop's (tests/game/test_compiled.py).

:func:`certify` is the certificate (:mod:`mecopt.game.certificate`) as one compiled pass over
all MDs: the exact best response without tie-break, its cost re-scored as
:func:`mecopt.core.cost.device_cost` does, and the current strategy's cost and feasibility.
"""

from __future__ import annotations

import numpy as np

from mecopt.bestresponse import batch
from mecopt.bestresponse.dp import DEFAULT_BACKEND, DPEngine
from mecopt.bestresponse.jit import compile_kernel
from mecopt.core.instance import Instance
from mecopt.core.problem import enforces_deadline
from mecopt.core.tolerances import deadline_limit
from mecopt.game.state import GameState


def _walk(order, pos, tol, tab, srv, rows, totals, server_of, home, own, theta, delay, gamma, eps, enforce,
          tau_lim, clean_mark, counters, server_calls, scr, out_val, out_int, changed_at, checked_at):
    """Walk the woken MDs ``order[pos:]`` until one moves (module docstring).

    counters = [clean epoch, clean count, device best responses, moves so far, best responses
    computed]; returns the index
    of the MD that moves (its strategy in scr.best, objective in out_val[0], server and forced flag
    in out_int), or len(order) when none does. An MD that decided not to move after move number
    ``checked_at[n]`` decides the same while no server it reaches has changed since
    (``changed_at[k]``, the number of the last move on server k): its best response is counted,
    not recomputed (the same inputs give the same decision).
    """
    for idx in range(pos, order.shape[0]):
        n = order[idx]
        counters[2] += 1
        first, last = tab.ptr[n], tab.ptr[n + 1]
        same = checked_at[n] >= 0
        for p in range(first, last):
            if same and changed_at[tab.k[p]] > checked_at[n]:
                same = False
        if same:
            for p in range(first, last):
                server_calls[tab.k[p]] += 1
            if clean_mark[n] != counters[0]:
                clean_mark[n] = counters[0]
                counters[1] += 1
            continue
        counters[4] += 1
        val, server, dropped, _ = batch.device_response(n, tab, srv, rows, totals, scr, server_calls)
        k = server_of[n]
        if k < 0:
            k = home[n]
        p = batch.find_pair(n, k, tab)
        batch.others(p, tab, srv, rows, totals, scr)
        ok = batch.row_feasible(p, tab, srv, rows, scr)
        if ok and enforce[n] and not dropped:
            ok = delay[n] <= tau_lim[n]
        current = own[n] + gamma[n] * batch.price_of_row(p, tab, srv, rows, scr) + eps[n] * theta[n]
        a = abs(current)
        if not ok or current - val > tol * (a if a > 1.0 else 1.0):
            out_val[0] = val
            out_int[0] = server
            out_int[1] = 0 if ok else 1
            return idx
        checked_at[n] = counters[3]
        if clean_mark[n] != counters[0]:
            clean_mark[n] = counters[0]
            counters[1] += 1
    return order.shape[0]


def _certify(tab, srv, rows, totals, server_of, home, enforce, tau_lim, delay, slots, slot_off, scr, server_calls,
             gains, rel, dropped_out, infeasible_out):
    """Every MD's certificate gain (mecopt.game.certificate), into the output arrays."""
    N = server_of.shape[0]
    for n in range(N):
        _, _, dropped, pc = batch.device_response(n, tab, srv, rows, totals, scr, server_calls)
        batch.others(pc, tab, srv, rows, totals, scr)
        br_cost = batch.strategy_cost(pc, scr.best, tab, srv, scr)
        k = server_of[n]
        if k < 0:
            k = home[n]
        p = batch.find_pair(n, k, tab)
        batch.others(p, tab, srv, rows, totals, scr)
        current = batch.strategy_cost(p, slots[slot_off[n]:slot_off[n + 1]], tab, srv, scr)
        ok = batch.row_feasible(p, tab, srv, rows, scr)
        if ok and enforce[n] and not dropped:
            ok = delay[n] <= tau_lim[n]
        if not ok:
            g = np.inf
        else:
            d = current - br_cost
            g = d if d > 0.0 else 0.0
        a = abs(current)
        gains[n] = g
        rel[n] = g / (a if a > 1.0 else 1.0)
        dropped_out[n] = dropped
        infeasible_out[n] = not ok


def _draw_fits(slots, t_server, cap_limit, open_):
    """(17) and (27) of one drawn strategy of the random start.

    Per-slot server time summed in layer order (as :func:`mecopt.core.cost.own_loads`), tested on
    the slots the strategy uses.
    """
    H = cap_limit.shape[0]
    T = np.zeros(H)
    used = np.zeros(H, dtype=np.bool_)
    for m in range(slots.shape[0]):
        s = slots[m]
        if s >= 1 and s <= H:
            T[s - 1] += t_server[m + 1]
            used[s - 1] = True
    for h in range(H):
        if used[h] and not (T[h] <= cap_limit[h] and open_[h]):
            return False
    return True


if batch.AVAILABLE:
    _walk = compile_kernel(_walk)
    _certify = compile_kernel(_certify)
    _draw_fits = compile_kernel(_draw_fits)

#: (17) and (27) of one random draw (compiled when numba is there)
draw_fits = _draw_fits


def _device_flags(instance: Instance) -> tuple[np.ndarray, np.ndarray]:
    """Per MD: whether (26) is enforced, and its deadline with the solvers' tolerance."""
    return (np.array([enforces_deadline(d) for d in instance.devices], dtype=bool),
            np.array([deadline_limit(d.tau) for d in instance.devices], dtype=float))


def usable(engine) -> bool:
    """Whether the compiled tick reproduces ``engine`` (a ServerEngine of compiled tie-broken DPs).

    Parameters
    ----------
    engine : ServerEngine
        The game's engine.

    Returns
    -------
    bool
    """
    engines = getattr(engine, "engines", None)
    return batch.AVAILABLE and bool(engines) and all(
        type(e) is DPEngine and (e.backend or DEFAULT_BACKEND) == "compiled" and e.tie_break for e in engines)


class CompiledTick:
    """The woken MDs of one tick, walked in compiled code; moves applied by :meth:`GameState.set`.

    Parameters
    ----------
    state : GameState
        The game state (its flat arrays are read in place).
    engine : ServerEngine
        The game's engine (:func:`usable`); its call counters are kept up to date.
    table : PairTable, optional
        The instance's pair table with its tie-break (default: built).
    """

    def __init__(self, state: GameState, engine, table: batch.PairTable | None = None):
        self.state, self.engine = state, engine
        self.table = table if table is not None else batch.PairTable(state.instance, tie_break=True)
        self.scratch = self.table.scratch()
        self.enforce, self.tau_lim = _device_flags(state.instance)
        N = state.instance.N
        self.clean_mark = np.zeros(N, dtype=np.int64)
        # clean epoch, clean count, best responses, moves (a move's number stamps what it changes),
        # best responses computed (the others were known unchanged)
        self.counters = np.array([1, 0, 0, 0, 0], dtype=np.int64)
        self.changed_at = np.full(state.instance.K, -1, dtype=np.int64)   # per server: its last move's number
        self.checked_at = np.full(N, -1, dtype=np.int64)   # per MD: moves before its last "no move"
        self.server_calls = np.zeros(state.instance.K, dtype=np.int64)
        self.out_val = np.zeros(1)
        self.out_int = np.zeros(2, dtype=np.int64)

    @property
    def computed(self) -> int:
        """Best responses actually computed (the others were counted: nothing they read had changed)."""
        return int(self.counters[4])

    def run(self, awake: np.ndarray, tol: float) -> tuple[int, int, int]:
        """One tick: every woken MD in ``awake`` order answers the current profile.

        Parameters
        ----------
        awake : numpy.ndarray
            The woken MDs in their order.
        tol : float
            A device moves only when it gains more than ``tol`` relative.

        Returns
        -------
        tuple of int
            (moves, forced moves, MDs verified unable to improve).
        """
        st, tab = self.state, self.table
        order = np.ascontiguousarray(awake, dtype=np.int64)
        moves = forced = 0
        pos = 0
        calls0, server0 = int(self.counters[2]), self.server_calls.copy()
        while pos < len(order):
            pos = _walk(order, pos, tol, tab.pairs, tab.servers, st.flat_rows, st.flat_totals, st.server_of,
                        st.home, st.own, st.theta, st.delay, st.gamma, st.eps, self.enforce, self.tau_lim,
                        self.clean_mark, self.counters, self.server_calls, self.scratch, self.out_val,
                        self.out_int, self.changed_at, self.checked_at)
            if pos >= len(order):
                break
            n = int(order[pos])
            M = st.instance.devices[n].M
            old = int(st.server_of[n])
            st.set(n, self.scratch.best[:M].copy(), int(self.out_int[0]))
            self.counters[3] += 1         # what this move changed: its old and new server
            for k in (old, int(st.server_of[n])):
                if k >= 0:
                    self.changed_at[k] = self.counters[3]
            self.checked_at[n] = -1
            moves += 1
            forced += int(self.out_int[1])
            self.counters[0] += 1         # clean = {n}
            self.clean_mark[n] = self.counters[0]
            self.counters[1] = 1
            pos += 1
        self.engine.calls += int(self.counters[2]) - calls0
        for k, e in enumerate(self.engine.engines):
            e.calls += int(self.server_calls[k] - server0[k])
        return moves, forced, int(self.counters[1])


def certify(state: GameState, table: batch.PairTable | None = None) -> dict:
    """The certificate's per-MD figures of ``state``'s profile in one compiled pass.

    Parameters
    ----------
    state : GameState
        The profile, with totals computed from its rows (a fresh state or after
        :meth:`GameState.recompute_totals`).

    table : PairTable, optional
        The instance's pair table (the game's own), used without its tie-break; default: built.

    Returns
    -------
    dict
        ``gains``, ``rel`` (float arrays), ``dropped``, ``infeasible`` (bool arrays), per MD.
    """
    inst = state.instance
    tab = table.without_tie_break() if table is not None else batch.PairTable(inst, tie_break=False)
    enforce, tau_lim = _device_flags(inst)
    N = inst.N
    lengths = np.array([len(s) for s in state.slots], dtype=np.int64)
    slot_off = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    slots = np.concatenate(state.slots).astype(np.int64) if N else np.zeros(0, dtype=np.int64)
    gains, rel = np.zeros(N), np.zeros(N)
    dropped, infeasible = np.zeros(N, dtype=bool), np.zeros(N, dtype=bool)
    _certify(tab.pairs, tab.servers, state.flat_rows, state.flat_totals, state.server_of, state.home, enforce,
             tau_lim, state.delay, slots, slot_off, tab.scratch(), np.zeros(inst.K, dtype=np.int64), gains, rel,
             dropped, infeasible)
    return dict(gains=gains, rel=rel, dropped=dropped, infeasible=infeasible)
