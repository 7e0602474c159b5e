"""Alg. 1's tick and the certificate in compiled code, for the DP engine (issue 22).

The Python loop of :func:`mecopt.game.dynamics.iterate` spends most of its time around the DP
(building aggregates, choosing among servers, testing the current strategy), not in it. Here the
woken MDs of a tick are walked in their order by one compiled call (:func:`walk`): each MD's best
response over its reachable servers is computed against the *current* aggregates, read from the
flat arrays of :class:`~mecopt.game.state.GameState`, and compared with its current strategy
exactly as the Python loop does. A move is applied at once by the state's compiled move
(:func:`mecopt.game.state.move_state`: :meth:`GameState.set` with the same operations in the same
order) except its tie-break key theta_n (a numpy dot product), which Python sets after the tick
for the movers in their order (:meth:`GameState.set_theta`; an MD wakes at most once a tick). Alg.
1's sequential semantics are therefore kept: every MD answers the profile as left by the MDs
before it, and the equilibria, ticks, best-response counts and traces are bit-identical to the
Python loop's (tests/game/test_compiled.py).

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
from mecopt.core.problem import enforces_deadline, theta
from mecopt.core.tolerances import deadline_limit
from mecopt.game.state import GameState, move_state


def _walk(order, tol, tab, srv, rows, totals, server_of, home, own, theta, delay, energy, gamma, eps, inv_gamma,
          own_totals, enforce, tau_lim, clean_mark, counters, server_calls, scr, changed_at, checked_at, movers,
          mover_slots):
    """Walk the woken MDs of a tick in ``order``, applying their moves (module docstring).

    counters = [clean epoch, clean count, device best responses, moves so far, best responses
    computed, moves this tick, forced moves this tick]. A move is GameState.set without theta_n
    (mecopt.game.state._move); the movers and their strategies are listed in ``movers`` and
    ``mover_slots`` for Python to set theta_n after the tick (each MD wakes at most once a tick, so
    its own theta_n is not read again in it, and nothing in the tick reads the tie total).

    An MD that decided not to move after move number ``checked_at[n]`` decides the same while no
    server it reaches has changed since (``changed_at[k]``, the number of the last move on server
    k): its best response is counted, not recomputed (the same inputs give the same decision).
    """
    width = mover_slots.shape[1]
    for idx in range(order.shape[0]):
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
            M = tab.M[first]
            old = server_of[n]
            move_state(n, scr.best[:M], server, tab, srv, rows, totals, server_of, home, own, delay, energy,
                       inv_gamma, own_totals)
            j = counters[5]
            movers[j] = n
            for x in range(M):
                mover_slots[j, x] = scr.best[x]
            for x in range(M, width):
                mover_slots[j, x] = 0
            counters[5] += 1
            if not ok:
                counters[6] += 1
            counters[3] += 1                 # what this move changed: its old and new server
            if old >= 0:
                changed_at[old] = counters[3]
            if server >= 0:
                changed_at[server] = counters[3]
            checked_at[n] = -1
            counters[0] += 1                 # clean = {n}
            clean_mark[n] = counters[0]
            counters[1] = 1
            continue
        checked_at[n] = counters[3]
        if clean_mark[n] != counters[0]:
            clean_mark[n] = counters[0]
            counters[1] += 1


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
        # best responses computed (the others were known unchanged), moves and forced moves this tick
        self.counters = np.zeros(7, dtype=np.int64)
        self.counters[0] = 1
        self.changed_at = np.full(state.instance.K, -1, dtype=np.int64)   # per server: its last move's number
        self.checked_at = np.full(N, -1, dtype=np.int64)   # per MD: moves before its last "no move"
        self.server_calls = np.zeros(state.instance.K, dtype=np.int64)

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
        calls0, server0 = int(self.counters[2]), self.server_calls.copy()
        self.counters[5] = self.counters[6] = 0
        movers = np.zeros(len(order), dtype=np.int64)
        mover_slots = np.zeros((len(order), tab.max_M), dtype=np.int64)
        _walk(order, tol, tab.pairs, tab.servers, st.flat_rows, st.flat_totals, st.server_of, st.home, st.own,
              st.theta, st.delay, st.energy, st.gamma, st.eps, st._inv_gamma, st._own_totals, self.enforce,
              self.tau_lim, self.clean_mark, self.counters, self.server_calls, self.scratch, self.changed_at,
              self.checked_at, movers, mover_slots)
        moves, forced = int(self.counters[5]), int(self.counters[6])
        for j in range(moves):   # theta_n of the movers, in their order (GameState.set_theta)
            n = int(movers[j])
            slots = mover_slots[j, :len(st.slots[n])].astype(int)
            st.slots[n] = slots
            st.set_theta(n, theta(slots))
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
