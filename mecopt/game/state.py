"""The strategy profile of the game and its aggregates, updated incrementally, for any number of servers.

A strategy of MD n is all local, or (server k, partition point, slots on k) for a server k it
reaches (docs/multiserver.md); with one server (K = 1) k is always 0. Prices (19)-(22), capacity
(17) and the parallel limit (27) are per server, so each server k is a single-server game over the
MDs that reach it (its :class:`~mecopt.core.instance.ServerView`), in which an MD offloading
elsewhere plays "all local". :class:`GameState` keeps, per server view, the per-slot aggregates the
best responses read (S_Sigma^kh, T_Sigma^kh and the MD counts, eqs. 22, 27), and over all MDs the
running totals from which the average cost (23) and the potential Phi follow in O(sum_k H_k):

    sum_n C_n = sum_n own_n + sum_k sum_h (a_kh + q_kh L_kh) * sum_n gamma_n S_n^kh
    Phi       = sum_k sum_h [a_kh L_kh + (q_kh / 2)(L_kh^2 + sum_n (S_n^kh)^2)] + sum_n own_n / gamma_n

with own_n = alpha c^T T_n + beta c^E E_n + P_n on MD n's own server (P_n the soft-deadline
penalty, 0 unless ``deadline_policy = "soft"``) and q_kh = b_kh / h. With every gamma_n > 0 this is
an exact potential: a unilateral move of MD n from server k to k' changes only the slot terms of k
and k' and MD n's own term, by exactly its cost change / gamma_n (the single-server argument of
docs/MODEL.md §6 applied on k, where n leaves, and on k', where it arrives; k = k' is the
single-server case). A move updates the totals in O(M + H) on at most two views, so a tick of the
game costs nothing per MD that does not move. The totals are exact up to rounding
(:meth:`GameState.recompute_totals` rebuilds them).
"""

from __future__ import annotations

import numpy as np

from mecopt.bestresponse import batch
from mecopt.bestresponse.jit import compile_kernel
from mecopt.core import cost as costmod
from mecopt.core import slots as slotcodes
from mecopt.core.instance import Instance, ServerView
from mecopt.core.problem import Aggregates, BestResponse, slot_capacity, slot_open, theta, tie_weight
from mecopt.core.tolerances import fits_capacity, meets_deadline


class ServerLoads:
    """One server view's per-slot aggregates: each member's rows and their running totals (eqs. 22, 27).

    Row ``i`` is member ``view.members[i]``; it is zero when that MD offloads to another server or
    runs all local.

    Parameters
    ----------
    view : ServerView
        The server and the MDs that reach it (``instance.view(k)``).
    rows : tuple of three numpy.ndarray, optional
        Zeroed storage for ``loads``, ``times`` and ``used`` (each of Nk x H entries), e.g. views
        into the flat arrays of :class:`GameState` that the compiled game reads
        (:mod:`mecopt.game.compiled`); default: new arrays.
    totals : tuple of five numpy.ndarray, optional
        Storage for ``total_load``, ``total_time``, ``total_used``, ``total_gamma_load`` and
        ``total_sq_load`` (H entries each), likewise.
    """

    def __init__(self, view: ServerView, rows: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
                 totals: tuple[np.ndarray, ...] | None = None):
        self.view = view
        self.server = view.server
        self.devices = view.instance.devices
        H, Nk = self.server.H, len(self.devices)
        if rows is None:
            rows = (np.zeros(Nk * H), np.zeros(Nk * H), np.zeros(Nk * H))
        self.loads = rows[0].reshape(Nk, H)   # S_n^h (20)-(21)
        self.times = rows[1].reshape(Nk, H)   # T_n^h, server time
        self.used = rows[2].reshape(Nk, H)    # 1 where MD n has a layer in slot h
        self._totals = totals if totals is not None else tuple(np.zeros(H) for _ in range(5))
        self.total_load, self.total_time, self.total_used, self.total_gamma_load, self.total_sq_load = self._totals
        self.gamma = np.array([d.gamma for d in self.devices], dtype=float)

    def set_row(self, i: int, slots: np.ndarray) -> None:
        """Member i's rows from its slot vector (no running total changes; see :meth:`move`).

        Parameters
        ----------
        i : int
            Member index on this server.
        slots : numpy.ndarray
            Its slot vector.
        """
        H = self.server.H
        self.loads[i], self.times[i] = costmod.own_loads(self.devices[i], slots, H)
        inside = slots[(slots >= 1) & (slots <= H)]
        self.used[i] = np.bincount(inside, minlength=len(slotcodes.placements(H)))[1:] > 0

    def recompute_totals(self) -> None:
        """Totals from the rows (written into their storage, which the compiled game reads)."""
        self.total_load, self.total_time, self.total_used, self.total_gamma_load, self.total_sq_load = self._totals
        self.total_load[:] = self.loads.sum(axis=0)
        self.total_time[:] = self.times.sum(axis=0)
        self.total_used[:] = self.used.sum(axis=0)
        self.total_gamma_load[:] = self.gamma @ self.loads
        self.total_sq_load[:] = (self.loads ** 2).sum(axis=0)

    def _add(self, i: int, sign: float) -> None:
        S = self.loads[i]
        self.total_load += sign * S
        self.total_time += sign * self.times[i]
        self.total_used += sign * self.used[i]
        self.total_gamma_load += sign * self.gamma[i] * S
        self.total_sq_load += sign * S * S

    def move(self, i: int, slots: np.ndarray) -> None:
        """Member i plays ``slots`` on this server (all zero: it leaves it); O(M + H).

        Parameters
        ----------
        i : int
            Member index on this server.
        slots : numpy.ndarray
            Its slot vector (all zero: it leaves).
        """
        self._add(i, -1.0)
        self.set_row(i, slots)
        self._add(i, 1.0)

    def others(self, i: int) -> Aggregates:
        """The exact aggregates of every member but i.

        Parameters
        ----------
        i : int
            Member index on this server.

        Returns
        -------
        Aggregates
            The aggregates of the other members.
        """
        return Aggregates(self.total_load - self.loads[i], self.total_time - self.times[i],
                          self.total_used - self.used[i])

    def price_total(self) -> float:
        """sum_n gamma_n C^P_n (19) over this server's slots, from the running totals, O(H).

        Returns
        -------
        float
            The weighted price total.
        """
        price = self.server.a + self.server.price_quad * self.total_load
        return float(price @ self.total_gamma_load)

    def slot_potential(self) -> float:
        """The slot part of Phi of this server, sum_h [a_h L_h + (q_h / 2)(L_h^2 + sum_n (S_n^h)^2)], O(H).

        Returns
        -------
        float
            This server's slot part of Phi.
        """
        server, L = self.server, self.total_load
        return float(server.a @ L + (server.price_quad / 2) @ (L ** 2 + self.total_sq_load))


class GameState:
    """Every MD's strategy and server, with per-server aggregates and running totals (module docstring).

    Parameters
    ----------
    instance : Instance
        One server or several.
    profile : list of numpy.ndarray
        One slot vector per MD (0 local, 1..H_k slots of its server; :mod:`mecopt.core.slots`).
    server_of : sequence of int, optional
        The server each MD offloads to (-1 = all local). An offloading MD without one (or
        without this argument) is on its first reachable server (with one server: server 0),
        as in :func:`mecopt.core.cost.evaluate`.
    table : PairTable, optional
        The instance's DP pair table (:mod:`mecopt.bestresponse.batch`): the rows and per-MD
        figures are then built, and moves applied, in compiled code (:func:`_fill`, :func:`_move`),
        with the same operations in the same order as the Python path, so to the same bits.

    Examples
    --------
    >>> import mecopt
    >>> from mecopt.game.state import GameState
    >>> inst = mecopt.load_instance("paper:fig6-w1khz")
    >>> state = GameState(inst, [[0] * d.M for d in inst.devices])    # everybody local
    >>> sorted(state.others(0)), float(state.others(0)[0].load.sum())  # one server, nobody on it
    ([0], 0.0)
    """

    def __init__(self, instance: Instance, profile: list[np.ndarray], server_of=None,
                 table: batch.PairTable | None = None):
        self.instance = instance
        self.table = table if batch.AVAILABLE else None
        N = instance.N
        self.views = [instance.view(k) for k in range(instance.K)]
        # every server's rows and totals in flat arrays (server k's rows from row_offset[k], its
        # totals from total_offset[k]), so that compiled code can read them all (mecopt.game.compiled)
        sizes = np.array([len(v.members) * v.server.H for v in self.views], dtype=np.int64)
        Hs = np.array([v.server.H for v in self.views], dtype=np.int64)
        self.row_offset = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.total_offset = np.concatenate([[0], np.cumsum(Hs)]).astype(np.int64)
        self.flat_rows = np.zeros((3, int(self.row_offset[-1])))      # loads, times, used
        # their totals, then sum_n gamma_n S_n^h and sum_n (S_n^h)^2
        self.flat_totals = np.zeros((5, int(self.total_offset[-1])))
        self.on_server = [
            ServerLoads(v, tuple(self.flat_rows[j, self.row_offset[k]:self.row_offset[k + 1]] for j in range(3)),
                        tuple(self.flat_totals[j, self.total_offset[k]:self.total_offset[k + 1]] for j in range(5)))
            for k, v in enumerate(self.views)]
        self.home = np.array([instance.reachable(n)[0] for n in range(N)], dtype=int)
        self.slots = [np.asarray(s, dtype=int).copy() for s in profile]
        given = np.full(N, -1, dtype=int) if server_of is None else np.asarray(server_of, dtype=int)
        self.server_of = np.array([self._server(n, self.slots[n], int(given[n])) for n in range(N)], dtype=int)
        self.own = np.zeros(N)       # alpha c^T T_n + beta c^E E_n + P_n (soft deadline), on n's server
        self.delay = np.zeros(N)     # T_n (24)
        self.energy = np.zeros(N)    # E_n (25)
        self.theta = np.zeros(N)     # tie-break theta_n
        self.eps = np.array([tie_weight(d) for d in instance.devices])
        self.gamma = np.array([d.gamma for d in instance.devices], dtype=float)
        self._has_potential = bool(np.all(self.gamma > 0))
        self._inv_gamma = 1.0 / self.gamma if self._has_potential else np.zeros(N)
        self._own_totals = np.zeros(3)   # sum_n own_n, sum_n own_n / gamma_n, sum_n eps_n theta_n / gamma_n
        if self.table is not None:
            lengths = np.array([len(x) for x in self.slots], dtype=np.int64)
            flat = np.concatenate(self.slots).astype(np.int64) if N else np.zeros(0, dtype=np.int64)
            done = np.zeros(N, dtype=np.bool_)
            tab = self.table
            _fill(flat, np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64), self.server_of, self.home,
                  tab.pairs, tab.servers, self.flat_rows, self.own, self.delay, self.energy, done)
            self.theta[:] = [theta(x) for x in self.slots]
            rest = np.flatnonzero(~done)   # queued MDs (Case 3): the Python path
        else:
            rest = np.arange(N)
        for n in rest:
            n = int(n)
            k = self.server_of[n]
            if k >= 0:
                self.on_server[k].set_row(int(self.views[k].local[n]), self.slots[n])
            self._set_own(n)
        self.recompute_totals()

    def _server(self, n: int, slots: np.ndarray, server: int) -> int:
        """The server MD n is on when it plays ``slots``.

        -1 all local, else ``server`` when it reaches it, else its first reachable one.
        """
        if not (slots != slotcodes.LOCAL).any():   # slots: an int array (slotcodes.offloads, without its checks)
            return -1
        return server if server in self.instance.reachable(n) else int(self.home[n])

    def where(self, n: int) -> tuple[int, int]:
        """The server whose link and prices score MD n.

        (its own, or its first reachable one when all local) and n's index in that server's view.

        Parameters
        ----------
        n : int
            The MD.

        Returns
        -------
        tuple[int, int]
            (server index, n's index in that server's view).
        """
        k = int(self.server_of[n])
        if k < 0:
            k = int(self.home[n])
        return k, int(self.views[k].local[n])

    def _set_own(self, n: int) -> None:
        k, i = self.where(n)
        dev, server, s = self.views[k].instance.devices[i], self.views[k].server, self.slots[n]
        self.delay[n] = costmod.delay(dev, s, server)
        self.energy[n] = costmod.energy(dev, s, server)
        self.own[n] = (costmod.weighted_cost(dev, self.delay[n], self.energy[n], 0.0)
                       + costmod.deadline_penalty(dev, self.delay[n]))
        self.theta[n] = theta(s)

    def recompute_totals(self) -> None:
        """Totals from scratch (the incremental updates of :meth:`set` are exact up to rounding)."""
        for on in self.on_server:
            on.recompute_totals()
        self._own_totals[:] = (float(self.own.sum()), float(self.own @ self._inv_gamma),
                               float((self.eps * self.theta) @ self._inv_gamma))

    @property
    def total_own(self) -> float:
        """sum_n own_n (module docstring), running."""
        return float(self._own_totals[0])

    @property
    def total_own_gamma(self) -> float:
        """sum_n own_n / gamma_n, running."""
        return float(self._own_totals[1])

    @property
    def total_tie_gamma(self) -> float:
        """sum_n eps_n theta_n / gamma_n, running."""
        return float(self._own_totals[2])

    def _add(self, n: int, sign: float) -> None:
        t = self._own_totals
        t[0] += sign * self.own[n]
        t[1] += sign * self.own[n] * self._inv_gamma[n]
        t[2] += sign * self.eps[n] * self.theta[n] * self._inv_gamma[n]

    # ------------------------------------------------------------------ what the game loop reads

    def others(self, n: int) -> dict[int, Aggregates]:
        """The exact aggregates of every MD but n on each server n reaches (the server's feedback in TPOS-CAI).

        Parameters
        ----------
        n : int
            The MD's index.

        Returns
        -------
        dict of int to Aggregates
            Server index -> the others' per-slot price load, server time and MD count (eqs. 17,
            22, 27), for every server in ``instance.reachable(n)``.
        """
        views, on = self.views, self.on_server
        return {k: on[k].others(int(views[k].local[n])) for k in self.instance.reachable(n)}

    def feasible(self, n: int, others: dict[int, Aggregates], enforce_deadline: bool) -> bool:
        """:func:`mecopt.core.problem.strategy_feasible` of MD n's current strategy on its own server.

        Read from its cached rows: (17) and (27) on the slots it uses, (26) if asked.

        Parameters
        ----------
        n : int
            The MD's index.
        others : dict of int to Aggregates
            The others' aggregates per reachable server (:meth:`others`).
        enforce_deadline : bool
            Whether (26) is a constraint.

        Returns
        -------
        bool
        """
        k, i = self.where(n)
        on, server = self.on_server[k], self.views[k].server
        used = on.used[i] > 0
        if used.any():
            if np.any(used & ~fits_capacity(on.times[i], slot_capacity(server, others[k]))):
                return False
            if np.any(used & ~slot_open(server, others[k])):
                return False
        return not enforce_deadline or meets_deadline(self.delay[n], self.instance.devices[n].tau)

    def cost(self, n: int, others: dict[int, Aggregates]) -> float:
        """C_n (22)-(23) of MD n's current strategy against ``others`` on its own server.

        Parameters
        ----------
        n : int
            Which MD.
        others : dict of int to Aggregates
            :meth:`others` of MD n, true or estimated (29).

        Returns
        -------
        float
            Re-scored by :func:`mecopt.core.cost.device_cost`.
        """
        k, i = self.where(n)
        return costmod.device_cost(self.views[k].instance.devices[i], self.slots[n], self.views[k].server,
                                   others[k].load)

    def objective(self, n: int, others: dict[int, Aggregates]) -> float:
        """C_n plus the tie-break perturbation of MD n's current strategy, what the engines minimize.

        From the cached rows: own_n + gamma_n C^P_n (19) is :meth:`cost` to the last bit
        (own_n = weighted_cost(T_n, E_n, 0) + P_n), without recomputing T_n, E_n and S_n.

        Parameters
        ----------
        n, others : int, dict of int to Aggregates
            The MD's index and the others' aggregates per reachable server (:meth:`others`).

        Returns
        -------
        float
            C_n + eps_n theta_n (:mod:`mecopt.core.problem`'s tie-breaking rule).
        """
        k, i = self.where(n)
        S = self.on_server[k].loads[i]
        price = costmod.price(S, others[k].load + S, self.views[k].server)
        return self.own[n] + self.gamma[n] * price + self.eps[n] * self.theta[n]

    def apply(self, n: int, br: BestResponse) -> None:
        """MD n plays the best response ``br`` (what the game loop calls; :meth:`set` of its slots and server).

        Parameters
        ----------
        n : int
            The MD.
        br : BestResponse
            Its best response.
        """
        self.set(n, br.slots, br.server)

    def set(self, n: int, slots: np.ndarray, server: int = -1) -> None:
        """MD n plays ``slots`` on ``server``: its rows and every running total change in O(M + H).

        Parameters
        ----------
        n : int
            The MD's index.
        slots : numpy.ndarray
            Its new slot vector.
        server : int, default -1
            The server it offloads to; -1 (or a server it does not reach): its first reachable one,
            the only one with one server. Ignored when ``slots`` is all local.
        """
        slots = np.asarray(slots, dtype=int)
        server = self._server(n, slots, int(server))
        if self.table is not None and (server < 0 or slots[-1] <= self.views[server].server.H):  # not queued
            tab = self.table
            _move(n, slots.astype(np.int64), server, tab.pairs, tab.servers, self.flat_rows, self.flat_totals,
                  self.server_of, self.home, self.own, self.delay, self.energy, self._inv_gamma, self._own_totals)
            self.set_theta(n, theta(slots))
            self.slots[n] = slots.copy()
            return
        old = int(self.server_of[n])
        views, on = self.views, self.on_server
        self._add(n, -1.0)
        if old >= 0 and old != server:
            on[old].move(int(views[old].local[n]), np.zeros(len(slots), dtype=int))
        if server >= 0:
            on[server].move(int(views[server].local[n]), slots)
        self.server_of[n], self.slots[n] = server, slots.copy()
        self._set_own(n)
        self._add(n, 1.0)

    def set_theta(self, n: int, value: float) -> None:
        """MD n's new tie-break key theta_n, and the running sum_n eps_n theta_n / gamma_n.

        The part of :meth:`set` that the compiled moves leave to Python (a numpy dot product); the
        compiled tick calls it after the tick for its movers in their order (each MD moves at most
        once a tick, and nothing in the tick reads the others' theta or this total).

        Parameters
        ----------
        n : int
            The MD.
        value : float
            theta_n of its new strategy (:func:`mecopt.core.problem.theta`).
        """
        t = self._own_totals
        t[2] += -1.0 * self.eps[n] * self.theta[n] * self._inv_gamma[n]
        self.theta[n] = value
        t[2] += 1.0 * self.eps[n] * self.theta[n] * self._inv_gamma[n]

    # ------------------------------------------------------------------ O(sum_k H_k) figures of the profile

    def avg_cost(self) -> float:
        """Average C_n (23) from the running totals.

        Returns
        -------
        float
            The average cost.
        """
        return (self.total_own + sum(on.price_total() for on in self.on_server)) / self.instance.N

    def potential(self) -> float:
        """Phi (module docstring, docs/MODEL.md §6) from the running totals; NaN when some gamma_n = 0.

        Returns
        -------
        float
            Phi, or NaN.
        """
        if not self._has_potential:
            return float("nan")
        return sum(on.slot_potential() for on in self.on_server) + self.total_own_gamma

    def perturbed_potential(self, potential: float | None = None) -> float:
        """Phi + sum_n eps_n theta_n / gamma_n: the exact potential of the tie-broken game.

        Parameters
        ----------
        potential : float, optional
            Phi of the current profile by a full evaluation (:meth:`evaluated_figures`), used
            instead of the running totals'.

        Returns
        -------
        float
            NaN when some gamma_n = 0.
        """
        if not self._has_potential:
            return float("nan")
        if potential is not None:
            return float("nan") if np.isnan(potential) else potential + self.total_tie_gamma
        return self.potential() + self.total_tie_gamma

    def evaluated_figures(self) -> tuple[float, float]:
        """Average C_n (23) and Phi of the profile to the bit as :func:`mecopt.core.cost.evaluate` gives them.

        The same operations in the same order on the state's rows and per-MD figures (which are
        :func:`~mecopt.core.cost.own_loads`, :func:`~mecopt.core.cost.delay` and
        :func:`~mecopt.core.cost.energy` of each MD on its scoring server), without re-deriving them
        MD by MD: per server the slot totals are the sum of its rows, each MD's price (19) is
        :func:`~mecopt.core.cost.price` against them, and Phi is :func:`~mecopt.core.cost.potential`.

        Returns
        -------
        tuple of float
            (average cost, Phi); Phi is NaN when some gamma_n = 0.
        """
        N = self.instance.N
        P, pen, C = np.zeros(N), np.zeros(N), np.zeros(N)
        for k, (view, on) in enumerate(zip(self.views, self.on_server)):
            scored = np.flatnonzero(np.where(self.server_of[view.members] >= 0, self.server_of[view.members],
                                             self.home[view.members]) == k)
            if not len(scored):
                continue
            slot_load = on.loads.sum(axis=0)
            devs = [view.instance.devices[i] for i in scored]
            g = view.members[scored]
            P[g] = [costmod.price(on.loads[i], slot_load, view.server) for i in scored]
            T, E = self.delay[g], self.energy[g]
            pen[g] = [float(costmod.deadline_penalty(d, t)) for d, t in zip(devs, T)]
            C[g] = np.array([costmod.weighted_cost(d, t, e, p) for d, t, e, p in zip(devs, T, E, P[g])],
                            dtype=float) + pen[g]
        phi = costmod.potential(self.instance, self.delay, self.energy, pen, [on.loads for on in self.on_server])
        return float(C.mean()), phi

    def profile(self) -> list[np.ndarray]:
        """A copy of every MD's slot vector.

        Returns
        -------
        list[numpy.ndarray]
            One slot vector per MD.
        """
        return [s.copy() for s in self.slots]

    def loads_by_server(self) -> list[np.ndarray]:
        """Per server, the total price load S_Sigma^h of its slots (20)-(22).

        Returns
        -------
        list[numpy.ndarray]
            One array of shape (H_k,) per server.
        """
        return [on.total_load.copy() for on in self.on_server]

    def solution_servers(self) -> np.ndarray | None:
        """``Solution.server_of``: a copy of every MD's server with several servers, None with one.

        Returns
        -------
        numpy.ndarray or None
            The servers, or None.
        """
        return self.server_of.copy() if self.instance.K > 1 else None


# ---------------------------------------------------------------------------------------- compiled paths
# What set_row, _set_own and set compute, for the pairs of a PairTable (mecopt.bestresponse.batch), with
# the same floating-point operations in the same order (bincount's and np.cumsum's sums are sums in
# layer order); theta_n (a dot product) stays numpy's. Strategies of 0..H only (not queued).


def _own_figures(p, slots, o, tab, srv):
    """(T_n, E_n, own_n) of pair p playing ``slots[o:o + M]``: costmod.delay, energy, weighted_cost + penalty."""
    k = tab.k[p]
    M = tab.M[p]
    v = tab.voff[p]
    m = 0
    for x in range(M):
        if slots[o + x] == 0:
            m += 1
    local = tab.LC[v + m]
    if m == M:
        T = local
    else:
        T = local + tab.TU[v + m] + slots[o + M - 1] * srv.slot_len[k] + tab.t_down[p]
    E = tab.P_lo[p] * local
    if m < M:
        E += tab.P_up[p] * tab.TU[v + m]
    own = tab.aT[p] * T + tab.bE[p] * E + tab.gamma[p] * 0.0
    if tab.soft[p]:
        over = T - tab.tau[p]
        own = own + tab.pps[p] * (over if over > 0.0 else 0.0)
    else:
        own = own + 0.0
    return T, E, own


def _set_row(p, slots, o, tab, srv, rows):
    """ServerLoads.set_row of pair p (its member row on its server) from ``slots[o:o + M]``."""
    k = tab.k[p]
    H = srv.H[k]
    M = tab.M[p]
    v = tab.voff[p]
    r = srv.roff[k] + tab.i[p] * H
    for h in range(H):
        rows[0, r + h] = 0.0
        rows[1, r + h] = 0.0
        rows[2, r + h] = 0.0
    for x in range(M):
        s = slots[o + x]
        if s >= 1 and s <= H:
            rows[0, r + s - 1] += tab.SL[v + x]
            rows[1, r + s - 1] += tab.TS[v + x]
            rows[2, r + s - 1] = 1.0


def _add_row(p, sign, tab, srv, rows, totals):
    """ServerLoads._add of pair p's row: its loads, times, counts, gamma-weighted and squared loads."""
    k = tab.k[p]
    H = srv.H[k]
    t = srv.toff[k]
    r = srv.roff[k] + tab.i[p] * H
    g = sign * tab.gamma[p]
    for h in range(H):
        S = rows[0, r + h]
        totals[0, t + h] += sign * S
        totals[1, t + h] += sign * rows[1, r + h]
        totals[2, t + h] += sign * rows[2, r + h]
        totals[3, t + h] += g * S
        totals[4, t + h] += sign * S * S


def _fill(slots, slot_off, server_of, home, tab, srv, rows, own, delay, energy, done):
    """GameState.__init__'s rows and per-MD figures; ``done[n]`` False for a queued MD (left to Python)."""
    for n in range(server_of.shape[0]):
        k = server_of[n]
        p = batch.find_pair(n, k if k >= 0 else home[n], tab)
        o = slot_off[n]
        M = tab.M[p]
        if M > 0 and slots[o + M - 1] > srv.H[tab.k[p]]:
            continue
        if k >= 0:
            _set_row(p, slots, o, tab, srv, rows)
        delay[n], energy[n], own[n] = _own_figures(p, slots, o, tab, srv)
        done[n] = True


def _move(n, slots, server, tab, srv, rows, totals, server_of, home, own, delay, energy, inv_gamma, own_totals):
    """GameState.set of MD n to ``slots`` on ``server`` (-1 all local), not queued, but theta_n.

    theta_n and its running total (own_totals[2], which nothing here reads) are GameState.set_theta's.
    """
    own_totals[0] += -1.0 * own[n]
    own_totals[1] += -1.0 * own[n] * inv_gamma[n]
    old = server_of[n]
    if old >= 0 and old != server:   # it leaves its old server: ServerLoads.move to all local
        p = batch.find_pair(n, old, tab)
        _add_row(p, -1.0, tab, srv, rows, totals)
        _clear_row(p, tab, srv, rows)
        _add_row(p, 1.0, tab, srv, rows, totals)
    if server >= 0:
        p = batch.find_pair(n, server, tab)
        _add_row(p, -1.0, tab, srv, rows, totals)
        _set_row(p, slots, 0, tab, srv, rows)
        _add_row(p, 1.0, tab, srv, rows, totals)
    server_of[n] = server
    p = batch.find_pair(n, server if server >= 0 else home[n], tab)
    delay[n], energy[n], own[n] = _own_figures(p, slots, 0, tab, srv)
    own_totals[0] += 1.0 * own[n]
    own_totals[1] += 1.0 * own[n] * inv_gamma[n]


def _clear_row(p, tab, srv, rows):
    """ServerLoads.set_row of pair p to all local: a zero row."""
    k = tab.k[p]
    H = srv.H[k]
    r = srv.roff[k] + tab.i[p] * H
    for h in range(H):
        rows[0, r + h] = 0.0
        rows[1, r + h] = 0.0
        rows[2, r + h] = 0.0


if batch.AVAILABLE:
    _own_figures = compile_kernel(_own_figures)
    _set_row = compile_kernel(_set_row)
    _clear_row = compile_kernel(_clear_row)
    _add_row = compile_kernel(_add_row)
    _fill = compile_kernel(_fill)
    _move = compile_kernel(_move)

#: GameState.set of a strategy in 0..H, without theta_n (compiled when numba is there; mecopt.game.compiled)
move_state = _move
