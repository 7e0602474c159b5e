"""The game with several edge servers (docs/multiserver.md): state and best response.

A strategy of MD n is all-local, or (server k, partition point, slots on k) for a
server k it reaches. Prices (19)-(22), capacity (17) and the parallel limit (27)
are per server, so each server k is a single-server game over the MDs that reach
it (:class:`mecopt.core.instance.ServerView`), and an MD not on k plays "all local"
in k's view. With every gamma_n > 0 the game stays an exact potential game:

    Phi = sum_k sum_h [a_kh L_kh + (b_kh/2h)(L_kh^2 + sum_n (S_n^kh)^2)] + sum_n own_n / gamma_n

(own_n = alpha c^T T_n + beta c^E E_n + the soft-deadline penalty, on MD n's own server):
a unilateral move from server k to k' changes only the slot terms of k and k' and MD
n's own term, by exactly its cost change / gamma_n (the single-server argument of
docs/MODEL.md §6 applied on k, where n leaves, and on k', where it arrives).

:class:`MultiState` keeps one :class:`~mecopt.game.state.GameState` per server view,
so a move costs O(M + H) on at most two views; :class:`MultiEngine` answers the best
response (28) as the least over the reachable servers of each view's engine.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mecopt.bestresponse.engines import make_engine
from mecopt.core.problem import Aggregates, BestResponse
from mecopt.game.state import GameState
from mecopt.core import cost as costmod
from mecopt.core.instance import Instance


@dataclass(frozen=True)
class MultiBestResponse(BestResponse):
    """A best response with the server it offloads to (-1 = all local)."""

    server: int = -1


class MultiState:
    """Every MD's server and slots, with one incremental single-server state per server view."""

    def __init__(self, instance: Instance, server_of, profile: list[np.ndarray]):
        self.instance = instance
        N = instance.N
        self.server_of = np.asarray(server_of, dtype=int).copy()
        self.slots = [np.asarray(s, dtype=int).copy() for s in profile]
        self.home = np.array([instance.reachable(n)[0] for n in range(N)], dtype=int)
        self.views = views = all_views(instance)
        self.states = []
        for v in views:
            prof = [self.slots[g] if self.server_of[g] == v.k else np.zeros(len(self.slots[g]), dtype=int)
                    for g in v.members]
            self.states.append(GameState(v.instance, prof))
        self.gamma = np.array([d.gamma for d in instance.devices], dtype=float)
        self._has_potential = bool(np.all(self.gamma > 0))
        self._inv_gamma = 1.0 / self.gamma if self._has_potential else np.zeros(N)
        self.own, self.tie = np.zeros(N), np.zeros(N)
        for n in range(N):
            self._read_own(n)
        self.recompute_totals()

    def _where(self, n: int) -> tuple[GameState, int, int]:
        """The view state that scores MD n (its server's, or its first reachable one when all local),
        n's index in that view and the server's index."""
        k = int(self.server_of[n] if self.server_of[n] >= 0 else self.home[n])
        return self.states[k], int(self.views[k].local[n]), k

    def _read_own(self, n: int) -> None:
        st, i, _ = self._where(n)
        self.own[n], self.tie[n] = st.own[i], st.eps[i] * st.theta[i]

    def recompute_totals(self) -> None:
        for st in self.states:
            st.recompute_totals()
        self.total_own = float(self.own.sum())
        self.total_own_gamma = float(self.own @ self._inv_gamma)
        self.total_tie_gamma = float(self.tie @ self._inv_gamma)

    def _add(self, n: int, sign: float) -> None:
        self.total_own += sign * self.own[n]
        self.total_own_gamma += sign * self.own[n] * self._inv_gamma[n]
        self.total_tie_gamma += sign * self.tie[n] * self._inv_gamma[n]

    # ------------------------------------------------------------------ what the game loop reads

    def others(self, n: int) -> dict[int, Aggregates]:
        """The exact aggregates of every MD but n on each server n reaches."""
        views = self.views
        return {k: self.states[k].others(int(views[k].local[n])) for k in self.instance.reachable(n)}

    def feasible(self, n: int, others: dict[int, Aggregates], enforce_deadline: bool) -> bool:
        """(17), (27) and, if asked, (26) of MD n's current strategy on its own server."""
        st, i, k = self._where(n)
        return st.feasible(i, others[k], enforce_deadline)

    def objective(self, n: int, others: dict[int, Aggregates]) -> float:
        """C_n plus the tie-break perturbation of MD n's current strategy (what the engines minimize)."""
        st, i, k = self._where(n)
        return st.objective(i, others[k])

    def cost(self, n: int, others: dict[int, Aggregates]) -> float:
        """C_n (23) of MD n's current strategy against ``others`` on its own server."""
        st, i, k = self._where(n)
        return st.cost(i, others[k])

    def apply(self, n: int, br: MultiBestResponse) -> None:
        self.set(n, br.server, br.slots)

    def set(self, n: int, server: int, slots: np.ndarray) -> None:
        """MD n offloads to ``server`` (-1 = all local) with ``slots``: at most two views change, O(M + H)."""
        slots = np.asarray(slots, dtype=int)
        server = -1 if not np.any(slots != 0) else int(server)
        views, old = self.views, self.server_of[n]
        self._add(n, -1.0)
        if old >= 0 and old != server:
            self.states[old].set(int(views[old].local[n]), np.zeros(len(slots), dtype=int))
        if server >= 0:
            self.states[server].set(int(views[server].local[n]), slots)
        self.server_of[n], self.slots[n] = server, slots.copy()
        self._read_own(n)
        self._add(n, 1.0)

    def avg_cost(self) -> float:
        """Average C_n (23) from the running totals, O(K H)."""
        return (self.total_own + sum(st.price_total() for st in self.states)) / self.instance.N

    def potential(self) -> float:
        """Phi of the module docstring from the running totals; NaN when some gamma_n = 0."""
        if not self._has_potential:
            return float("nan")
        return sum(st.slot_potential() for st in self.states) + self.total_own_gamma

    def perturbed_potential(self, ev: costmod.Evaluation | None = None) -> float:
        """Phi + sum_n eps_n theta_n / gamma_n (the tie-broken game's potential)."""
        if not self._has_potential:
            return float("nan")
        if ev is not None:
            return float("nan") if np.isnan(ev.potential) else ev.potential + self.total_tie_gamma
        return self.potential() + self.total_tie_gamma

    def profile(self) -> list[np.ndarray]:
        return [s.copy() for s in self.slots]

    def loads_by_server(self) -> list[np.ndarray]:
        """Per server, the total price load S_Sigma^h of its slots."""
        return [st.total_load for st in self.states]


def choose(candidates: list[tuple[int, BestResponse]]) -> MultiBestResponse:
    """The best of the per-server best responses: a tau-feasible one when any server has one (26),
    then the least objective; ties go to the first server (the lowest index)."""
    feasible = [c for c in candidates if not c[1].deadline_dropped] or candidates
    k, br = feasible[0]
    for kk, b in feasible[1:]:
        if b.objective < br.objective:
            k, br = kk, b
    offloads = bool(np.any(br.slots != 0))
    return MultiBestResponse(br.slots, br.objective, br.cost, br.deadline_dropped, k if offloads else -1)


class MultiEngine:
    """Problem (28) with several servers: each reachable server's single-server engine, the best kept."""

    def __init__(self, instance: Instance, engine: str = "dp", **options):
        self.instance = instance
        self.name = engine
        self.views = all_views(instance)
        self.engines = [make_engine(v.instance, engine) if not options else _dp(v.instance, **options)
                        for v in self.views]
        self.calls = 0   # best responses of devices (each solves one problem per reachable server)

    @property
    def server_calls(self) -> int:
        """Single-server best responses solved (one per reachable server per device best response)."""
        return sum(e.calls for e in self.engines)

    def _each(self, n: int, others: dict[int, Aggregates], fast: bool) -> MultiBestResponse:
        self.calls += 1
        views, out = self.views, []
        for k, agg in others.items():
            eng = self.engines[k]
            respond = (getattr(eng, "best_move", None) if fast else None) or eng.best_response
            out.append((k, respond(int(views[k].local[n]), agg)))
        return choose(out)

    def best_response(self, n: int, others: dict[int, Aggregates]) -> MultiBestResponse:
        return self._each(n, others, fast=False)

    def best_move(self, n: int, others: dict[int, Aggregates]) -> MultiBestResponse:
        return self._each(n, others, fast=True)


def _dp(instance: Instance, **options):
    from mecopt.bestresponse.dp import DPEngine
    return DPEngine(instance, **options)


def random_initial(instance: Instance, rng: np.random.Generator, draw_strategy) -> tuple[np.ndarray, list]:
    """Alg. 1-2 step 3 with several servers: each MD in turn picks one of its reachable servers
    uniformly, then draws a strategy on it as with one server (``draw_strategy``); all local when
    no draw fits."""
    state = MultiState(instance, np.full(instance.N, -1), costmod.all_local(instance))
    for n, dev in enumerate(instance.devices):
        reach = instance.reachable(n)
        k = reach[int(rng.integers(len(reach)))]
        view = state.views[k]
        i = int(view.local[n])
        slots = draw_strategy(view.instance.devices[i], view.server, state.states[k].others(i), rng)
        if slots is not None:
            state.set(n, k, slots)
    return state.server_of.copy(), state.profile()


def estimate_weights(W: np.ndarray, instance: Instance) -> list[np.ndarray]:
    """Per server view, the rows and columns of the neighbour weights W of (29) for its members
    (an MD that cannot reach server k has no load on it, so it adds nothing to k's estimate)."""
    return [W[np.ix_(v.members, v.members)] for v in all_views(instance)]


def all_views(instance: Instance) -> list:
    """Every server's view (one server: the instance itself), so that this module runs on K = 1 too."""
    return [instance.view(k) for k in range(instance.K)]
