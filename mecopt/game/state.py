"""The strategy profile of the game and its aggregates, updated incrementally."""

from __future__ import annotations

import numpy as np

from mecopt.model import cost as costmod
from mecopt.model.instance import Instance
from mecopt.bestresponse.problem import Aggregates, theta, tie_weight


class GameState:
    """Strategies of all MDs with per-slot aggregates S_Sigma^h, T_Sigma^h and MD counts (eqs. 22, 27)."""

    def __init__(self, instance: Instance, profile: list[np.ndarray]):
        self.instance = instance
        H = instance.server.H
        N = instance.N
        self.slots = [np.asarray(s, dtype=int).copy() for s in profile]
        self.loads = np.zeros((N, H))
        self.times = np.zeros((N, H))
        self.used = np.zeros((N, H))
        for n in range(N):
            self._set_rows(n)
        self.recompute_totals()
        self.eps = np.array([tie_weight(d) for d in instance.devices])

    def _set_rows(self, n: int) -> None:
        H = self.instance.server.H
        self.loads[n], self.times[n] = costmod.own_loads(self.instance.devices[n], self.slots[n], H)
        self.used[n] = np.isin(np.arange(1, H + 1), self.slots[n])

    def recompute_totals(self) -> None:
        """Totals from scratch (the incremental updates of :meth:`set` are exact up to rounding)."""
        self.total_load, self.total_time = self.loads.sum(axis=0), self.times.sum(axis=0)
        self.total_used = self.used.sum(axis=0)

    def others(self, n: int) -> Aggregates:
        """The exact aggregates of every MD but n (the server's feedback in TPOS-CAI)."""
        return Aggregates(self.total_load - self.loads[n], self.total_time - self.times[n],
                          self.total_used - self.used[n])

    def set(self, n: int, slots: np.ndarray) -> None:
        self.total_load -= self.loads[n]
        self.total_time -= self.times[n]
        self.total_used -= self.used[n]
        self.slots[n] = np.asarray(slots, dtype=int).copy()
        self._set_rows(n)
        self.total_load += self.loads[n]
        self.total_time += self.times[n]
        self.total_used += self.used[n]

    def cost(self, n: int, others: Aggregates) -> float:
        return costmod.device_cost(self.instance.devices[n], self.slots[n], self.instance.server, others.load)

    def objective(self, n: int, others: Aggregates) -> float:
        """C_n plus the tie-break perturbation, what the engines minimize."""
        return self.cost(n, others) + self.eps[n] * theta(self.slots[n])

    def perturbed_potential(self, ev: costmod.Evaluation) -> float:
        """Phi + sum_n eps_n theta_n / gamma_n: the exact potential of the tie-broken game."""
        gam = np.array([d.gamma for d in self.instance.devices])
        if np.isnan(ev.potential):
            return float("nan")
        th = np.array([theta(s) for s in self.slots])
        return ev.potential + float(np.sum(self.eps * th / gam))

    def profile(self) -> list[np.ndarray]:
        return [s.copy() for s in self.slots]
