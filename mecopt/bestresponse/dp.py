"""Exact dynamic-programming best response (problem 28), O(M^2 H^2) per device.

Structure (docs/MODEL.md §6): delay depends only on the partition point m* and
the last slot h_max, energy only on m*, and the offloaded layers form contiguous
blocks in strictly increasing slots, each block's price depending only on the
block (the MD has at most one block per slot, so its own-load square is exact).
With ``G[h, m]`` = least cost of placing layers m*+1..m with layer m closing a
block in slot h:

    G[h, m] = min_j  min(A(j), min_{h' < h} G[h', j]) + block(j+1..m, h)

where A(j) holds the local, upload and download terms of partition point j. The
deadline (26) couples m* and h_max, so the recursion runs once per distinct set
of tau-feasible partition points over h_max = 1..H (usually once). Under the soft
policy the penalty pi max(0, T - tau) of (j, h_max) is added to A(j) instead
(:meth:`DPDevice._start`), one recursion per distinct penalized start vector.
"""

from __future__ import annotations

import numpy as np

from mecopt.model.instance import Device, Instance, Server
from mecopt.model.tolerances import capacity_limit, deadline_limit
from mecopt.bestresponse.problem import (Aggregates, BestResponse, enforces_deadline, layer_weights, slot_capacity,
                       slot_open, tie_weight)
from mecopt.model import cost as costmod


class DPDevice:
    """Per-device arrays precomputed once; :meth:`best_response` is cheap."""

    def __init__(self, dev: Device, server: Server, tie_break: bool = True):
        self.dev, self.server = dev, server
        M, H = dev.M, server.H
        self.M = M
        lc = dev.local_cum
        PS = np.concatenate([[0.0], np.cumsum(dev.S[1:])])
        PT = np.concatenate([[0.0], np.cumsum(dev.t_server[1:])])
        PW = np.concatenate([[0.0], np.cumsum(layer_weights(M))])
        j = np.arange(M + 1)[:, None]
        m = np.arange(M + 1)[None, :]
        self.upper = j < m
        self.s_blk = np.where(self.upper, PS[m] - PS[j], 0.0)
        self.t_blk = np.where(self.upper, PT[m] - PT[j], np.inf)
        eps = tie_weight(dev) if tie_break else 0.0
        self.eps = eps
        self.w_blk = np.where(self.upper, PW[m] - PW[j], 0.0) * eps
        aT, bE = dev.alpha * dev.c_T, dev.beta * dev.c_E
        t_up = dev.t_up[:M + 1]
        A = aT * (lc + t_up + dev.t_down) + bE * (dev.P_lo * lc + dev.P_up * t_up)
        A[M] = np.inf  # partition point M offloads nothing
        self.A = A
        self.delay_start = lc + t_up + dev.t_down
        self.delay_start[M] = np.inf
        self.end = aT * server.slot_len * np.arange(1, H + 1)
        self.local_delay = float(lc[M])
        self.local_obj = aT * lc[M] + bE * dev.P_lo * lc[M] + costmod.deadline_penalty(dev, self.local_delay)

    def _blocks(self, others: Aggregates) -> np.ndarray:
        """(H, M+1, M+1) objective of block j+1..m in slot h; inf where (17)/(27) forbid it."""
        server, dev = self.server, self.dev
        H = server.H
        q = server.price_quad
        lin = dev.gamma * (server.a + q * others.load)
        quad = dev.gamma * q
        cap = slot_capacity(server, others)
        open_ = slot_open(server, others)
        s = self.s_blk[None]
        blk = lin[:, None, None] * s + quad[:, None, None] * s * s + np.arange(1, H + 1)[:, None, None] * self.w_blk[None]
        bad = (self.t_blk[None] > capacity_limit(cap)[:, None, None]) | ~open_[:, None, None]
        return np.where(bad, np.inf, blk)

    def _recursion(self, blk: np.ndarray, start: np.ndarray):
        H = self.server.H
        G = np.full((H, self.M + 1), np.inf)
        arg = np.zeros((H, self.M + 1), dtype=int)
        src = np.zeros((H, self.M + 1), dtype=int)  # for each h, j: 0 = start at j, else slot h' of the previous block
        run = np.full(self.M + 1, np.inf)
        run_arg = np.zeros(self.M + 1, dtype=int)
        for h in range(H):
            from_start = start <= run
            before = np.where(from_start, start, run)
            src[h] = np.where(from_start, 0, run_arg)
            cand = before[:, None] + blk[h]
            arg[h] = np.argmin(cand, axis=0)
            G[h] = cand[arg[h], np.arange(self.M + 1)]
            better = G[h] < run
            run = np.where(better, G[h], run)
            run_arg = np.where(better, h + 1, run_arg)
        return G, arg, src

    def _trace(self, h_max: int, arg: np.ndarray, src: np.ndarray) -> np.ndarray:
        slots = np.zeros(self.M, dtype=int)
        m, h = self.M, h_max
        while True:
            j = arg[h - 1, m]
            slots[j:m] = h
            prev = src[h - 1, j]
            if prev == 0:
                return slots
            m, h = j, prev

    def _start(self, h_max: int, enforce_deadline: bool) -> np.ndarray:
        """A(j) for paths ending in slot h_max: inf where (26) forbids (j, h_max) when enforced;
        plus the soft-deadline penalty of (j, h_max) under the soft policy."""
        delay = self.delay_start + h_max * self.server.slot_len
        if enforce_deadline:
            return np.where(delay <= deadline_limit(self.dev.tau), self.A, np.inf)
        if self.dev.deadline_soft:
            finite = np.isfinite(self.A)
            return np.where(finite, self.A + costmod.deadline_penalty(self.dev, np.where(finite, delay, 0.0)), np.inf)
        return self.A

    def solve(self, others: Aggregates, enforce_deadline: bool) -> tuple[float, np.ndarray] | None:
        """Least objective and its strategy, or None when nothing is feasible."""
        H = self.server.H
        blk = self._blocks(others)
        tau = deadline_limit(self.dev.tau)
        best_val, best_slots = np.inf, None
        if not enforce_deadline or self.local_delay <= tau:
            best_val, best_slots = self.local_obj, np.zeros(self.M, dtype=int)
        cache: dict[bytes, tuple] = {}
        for h_max in range(1, H + 1):
            start = self._start(h_max, enforce_deadline)
            if not np.isfinite(start).any():
                continue
            key = start.tobytes()
            if key not in cache:
                cache[key] = self._recursion(blk, start)
            G, arg, src = cache[key]
            val = G[h_max - 1, self.M] + self.end[h_max - 1]
            if val < best_val:
                best_val, best_slots = val, (h_max, arg, src)
        if best_slots is None:
            return None
        if isinstance(best_slots, tuple):
            best_slots = self._trace(*best_slots)
        return float(best_val), best_slots

    def best_response(self, others: Aggregates) -> BestResponse:
        enforce = enforces_deadline(self.dev)
        res = self.solve(others, enforce)
        dropped = False
        if res is None:
            res = self.solve(others, False)
            dropped = True
        obj, slots = res
        c = costmod.device_cost(self.dev, slots, self.server, others.load)
        return BestResponse(slots=slots, objective=obj, cost=c, deadline_dropped=dropped)


class DPEngine:
    """The DP engine for every device of an instance."""

    name = "dp"

    def __init__(self, instance: Instance, tie_break: bool = True):
        self.instance = instance
        self.devices = [DPDevice(d, instance.server, tie_break) for d in instance.devices]
        self.calls = 0

    def best_response(self, n: int, others: Aggregates) -> BestResponse:
        self.calls += 1
        return self.devices[n].best_response(others)


def best_response(dev: Device, server: Server, others: Aggregates, tie_break: bool = True) -> BestResponse:
    """One-off DP best response of ``dev`` against ``others``."""
    return DPDevice(dev, server, tie_break).best_response(others)
