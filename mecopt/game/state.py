"""The strategy profile of the game and its aggregates, updated incrementally.

Besides the per-slot aggregates the best responses read (S_Sigma^h, T_Sigma^h and
the MD counts, eqs. 22, 27), the state keeps running totals from which the
average cost (23) and the potential Phi (docs/MODEL.md §6) follow in O(H):

    sum_n C_n = sum_n own_n + sum_h (a_h + q_h L_h) * sum_n gamma_n S_n^h
    Phi       = sum_h [a_h L_h + (q_h / 2)(L_h^2 + sum_n (S_n^h)^2)] + sum_n own_n / gamma_n

with own_n = alpha c^T T_n + beta c^E E_n + P_n (P_n the soft-deadline penalty, 0 unless
``deadline_policy = "soft"``) and q_h = b_h / h. A move updates them
in O(M + H), so a tick of the game costs nothing per MD that does not move. The
totals are exact up to rounding (:meth:`recompute_totals` rebuilds them).
"""

from __future__ import annotations

import numpy as np

from mecopt.core import cost as costmod
from mecopt.core.instance import Instance
from mecopt.core.problem import Aggregates, slot_capacity, slot_open, theta, tie_weight
from mecopt.core.tolerances import fits_capacity, meets_deadline


class GameState:
    """Strategies of all MDs with per-slot aggregates S_Sigma^h, T_Sigma^h and MD counts (eqs. 22, 27)."""

    def __init__(self, instance: Instance, profile: list[np.ndarray]):
        self.instance = instance
        H = instance.server.H
        N = instance.N
        self._slot_ids = np.arange(1, H + 1)
        self.slots = [np.asarray(s, dtype=int).copy() for s in profile]
        self.loads = np.zeros((N, H))
        self.times = np.zeros((N, H))
        self.used = np.zeros((N, H))
        self.own = np.zeros(N)       # alpha c^T T_n + beta c^E E_n + P_n (soft deadline)
        self.delay = np.zeros(N)     # T_n (24)
        self.energy = np.zeros(N)    # E_n (25)
        self.theta = np.zeros(N)     # tie-break theta_n
        self.eps = np.array([tie_weight(d) for d in instance.devices])
        self.gamma = np.array([d.gamma for d in instance.devices], dtype=float)
        self._has_potential = bool(np.all(self.gamma > 0))
        self._inv_gamma = 1.0 / self.gamma if self._has_potential else np.zeros(N)
        for n in range(N):
            self._set_rows(n)
        self.recompute_totals()

    def _set_rows(self, n: int) -> None:
        dev, server = self.instance.devices[n], self.instance.server
        s = self.slots[n]
        self.loads[n], self.times[n] = costmod.own_loads(dev, s, server.H)
        inside = s[(s >= 1) & (s <= server.H)]
        self.used[n] = np.bincount(inside, minlength=server.H + 1)[1:] > 0
        self.delay[n] = costmod.delay(dev, s, server)
        self.energy[n] = costmod.energy(dev, s, server)
        self.own[n] = (costmod.weighted_cost(dev, self.delay[n], self.energy[n], 0.0)
                       + costmod.deadline_penalty(dev, self.delay[n]))
        self.theta[n] = theta(s)

    def recompute_totals(self) -> None:
        """Totals from scratch (the incremental updates of :meth:`set` are exact up to rounding)."""
        self.total_load, self.total_time = self.loads.sum(axis=0), self.times.sum(axis=0)
        self.total_used = self.used.sum(axis=0)
        self.total_gamma_load = self.gamma @ self.loads
        self.total_sq_load = (self.loads ** 2).sum(axis=0)
        self.total_own = float(self.own.sum())
        self.total_own_gamma = float(self.own @ self._inv_gamma)
        self.total_tie_gamma = float((self.eps * self.theta) @ self._inv_gamma)

    def others(self, n: int) -> Aggregates:
        """The exact aggregates of every MD but n (the server's feedback in TPOS-CAI)."""
        return Aggregates(self.total_load - self.loads[n], self.total_time - self.times[n],
                          self.total_used - self.used[n])

    def _add(self, n: int, sign: float) -> None:
        S = self.loads[n]
        self.total_load += sign * S
        self.total_time += sign * self.times[n]
        self.total_used += sign * self.used[n]
        self.total_gamma_load += sign * self.gamma[n] * S
        self.total_sq_load += sign * S * S
        self.total_own += sign * self.own[n]
        self.total_own_gamma += sign * self.own[n] * self._inv_gamma[n]
        self.total_tie_gamma += sign * self.eps[n] * self.theta[n] * self._inv_gamma[n]

    def apply(self, n: int, br) -> None:
        """MD n plays the best response ``br`` (what the game loop calls; :meth:`set` of its slots)."""
        self.set(n, br.slots)

    def set(self, n: int, slots: np.ndarray) -> None:
        """MD n plays ``slots``: its rows and every running total change in O(M + H)."""
        self._add(n, -1.0)
        self.slots[n] = np.asarray(slots, dtype=int).copy()
        self._set_rows(n)
        self._add(n, 1.0)

    def feasible(self, n: int, others: Aggregates, enforce_deadline: bool) -> bool:
        """:func:`mecopt.core.problem.strategy_feasible` of MD n's current strategy, read
        from its cached rows: (17) and (27) on the slots it uses, (26) if asked."""
        server, dev = self.instance.server, self.instance.devices[n]
        used = self.used[n] > 0
        if used.any():
            if np.any(used & ~fits_capacity(self.times[n], slot_capacity(server, others))):
                return False
            if np.any(used & ~slot_open(server, others)):
                return False
        return not enforce_deadline or meets_deadline(self.delay[n], dev.tau)

    def cost(self, n: int, others: Aggregates) -> float:
        return costmod.device_cost(self.instance.devices[n], self.slots[n], self.instance.server, others.load)

    def objective(self, n: int, others: Aggregates) -> float:
        """C_n plus the tie-break perturbation, what the engines minimize.

        From the cached rows: own_n + gamma_n C^P_n (19) is :meth:`cost` to the last bit
        (own_n = weighted_cost(T_n, E_n, 0) + P_n), without recomputing T_n, E_n and S_n.
        """
        S = self.loads[n]
        price = costmod.price(S, others.load + S, self.instance.server)
        return self.own[n] + self.gamma[n] * price + self.eps[n] * self.theta[n]

    # ------------------------------------------------------------------ O(H) figures of the profile

    def avg_cost(self) -> float:
        """Average C_n (23) from the running totals."""
        return (self.total_own + self.price_total()) / self.instance.N

    def price_total(self) -> float:
        """sum_n gamma_n C^P_n (19) from the running totals, O(H)."""
        server = self.instance.server
        price = server.a + server.price_quad * self.total_load
        return float(price @ self.total_gamma_load)

    def potential(self) -> float:
        """Phi (docs/MODEL.md §6) from the running totals; NaN when some gamma_n = 0."""
        if not self._has_potential:
            return float("nan")
        return self.slot_potential() + self.total_own_gamma

    def slot_potential(self) -> float:
        """The slot part of Phi, sum_h [a_h L_h + (q_h / 2)(L_h^2 + sum_n (S_n^h)^2)], O(H)."""
        server, L = self.instance.server, self.total_load
        return float(server.a @ L + (server.price_quad / 2) @ (L ** 2 + self.total_sq_load))

    def perturbed_potential(self, ev: costmod.Evaluation | None = None) -> float:
        """Phi + sum_n eps_n theta_n / gamma_n: the exact potential of the tie-broken game.

        From ``ev`` (a full evaluation of the current profile) when given, else from the running totals.
        """
        if not self._has_potential:
            return float("nan")
        if ev is not None:
            if np.isnan(ev.potential):
                return float("nan")
            th = np.array([theta(s) for s in self.slots])
            return ev.potential + float(np.sum(self.eps * th / self.gamma))
        return self.potential() + self.total_tie_gamma

    def profile(self) -> list[np.ndarray]:
        return [s.copy() for s in self.slots]
