"""Exact dynamic-programming best response (problem 28), O(M^2 H^2) per device.

Structure (docs/MODEL.md §6): delay depends only on the partition point m* and
the last slot h_max, energy only on m*, and the offloaded layers form contiguous
blocks in strictly increasing slots, each block's price depending only on the
block (the MD has at most one block per slot, so its own-load square is exact).
With ``G[h, m]`` = least cost of placing layers m*+1..m with layer m closing a
block in slot h:

    G[h, m] = min_j  min(A(j), min_{h' < h} G[h', j]) + block(j+1..m, h)

where A(j) holds the local, upload and download terms of partition point j. The
deadline (26) couples m* and h_max, so the recursion runs once per distinct
start vector over h_max = 1..H (usually once). Under the soft policy the penalty
pi max(0, T - tau) of (j, h_max) is added to A(j) instead (:meth:`DPDevice._starts`).

The work is split in three parts so that each can change on its own:

- :meth:`DPDevice._slot_terms`: what the others' aggregates change, per slot:
  the price's linear and quadratic coefficients and the largest block that fits
  (17) (-inf where (27) closes the slot);
- :meth:`DPDevice._starts`: per h_max, the start vector (A(j), or inf where the
  deadline forbids partition point j for that h_max);
- the recursion itself, in two interchangeable kernels that give bit-identical
  results: :func:`_solve_numpy` (numpy, the reference) and :func:`_solve_compiled`
  (the same loops compiled by numba, used when numba is installed; about 10x faster).

Per device only O(M) vectors are kept (prefix sums of S, T^se and the tie
weights), so 50,000 devices fit in a few hundred MB.
"""

from __future__ import annotations

import os

import numpy as np

from mecopt.bestresponse.jit import compile_kernel
from mecopt.core import cost as costmod
from mecopt.core.instance import Device, Instance, Server
from mecopt.core.problem import (
    Aggregates,
    BestResponse,
    enforces_deadline,
    layer_weights,
    slot_capacity,
    slot_open,
    theta,
    tie_weight,
)
from mecopt.core.tolerances import capacity_limit, deadline_limit

#: recursion kernels by name; "compiled" only when numba imports
BACKENDS = ("compiled", "numpy")


def _solve_numpy(PS, PT, PW, eps, lin, quad, limit, starts, end, local_val):
    """Least objective over the starts of each h_max (and all-local), with its strategy (numpy reference)."""
    H, M = len(lin), len(PS) - 1
    j = np.arange(M + 1)[:, None]
    m = np.arange(M + 1)[None, :]
    upper = j < m
    s_blk = np.where(upper, PS[m] - PS[j], 0.0)
    t_blk = np.where(upper, PT[m] - PT[j], np.inf)
    w_blk = np.where(upper, PW[m] - PW[j], 0.0) * eps
    s = s_blk[None]
    blk = lin[:, None, None] * s + quad[:, None, None] * s * s + np.arange(1, H + 1)[:, None, None] * w_blk[None]
    blk = np.where(t_blk[None] > limit[:, None, None], np.inf, blk)

    best_val, best = local_val, None
    G = arg = src = None
    prev = None
    for h_max in range(1, H + 1):
        start = starts[h_max - 1]
        if not np.isfinite(start).any():
            continue
        if prev is None or not np.array_equal(start, prev):
            G, arg, src = _recursion_numpy(blk, start)
            prev = start
        val = G[h_max - 1, M] + end[h_max - 1]
        if val < best_val:
            best_val, best = val, _trace(M, h_max, arg, src)
    if best is None:
        best = np.zeros(M, dtype=np.int64)
    return best_val, best


def _recursion_numpy(blk: np.ndarray, start: np.ndarray):
    H, M1 = blk.shape[0], blk.shape[1]
    G = np.full((H, M1), np.inf)
    arg = np.zeros((H, M1), dtype=np.int64)
    src = np.zeros((H, M1), dtype=np.int64)  # for each h, j: 0 = start at j, else slot h' of the previous block
    run = np.full(M1, np.inf)
    run_arg = np.zeros(M1, dtype=np.int64)
    for h in range(H):
        from_start = start <= run
        before = np.where(from_start, start, run)
        src[h] = np.where(from_start, 0, run_arg)
        cand = before[:, None] + blk[h]
        arg[h] = np.argmin(cand, axis=0)
        G[h] = cand[arg[h], np.arange(M1)]
        better = G[h] < run
        run = np.where(better, G[h], run)
        run_arg = np.where(better, h + 1, run_arg)
    return G, arg, src


def _trace(M, h_max, arg, src):
    """The strategy (layer -> slot) of the recursion's optimum ending at (h_max, M)."""
    slots = np.zeros(M, dtype=np.int64)
    m, h = M, h_max
    while True:
        j = arg[h - 1, m]
        slots[j:m] = h
        prev = src[h - 1, j]
        if prev == 0:
            return slots
        m, h = j, prev


def _solve_loops(PS, PT, PW, eps, lin, quad, limit, starts, end, local_val):
    """:func:`_solve_numpy` as plain loops (compiled by numba); same operations in the same order."""
    H, M = lin.shape[0], PS.shape[0] - 1
    M1 = M + 1
    G = np.full((H, M1), np.inf)
    arg = np.zeros((H, M1), dtype=np.int64)
    src = np.zeros((H, M1), dtype=np.int64)
    best = np.zeros(M, dtype=np.int64)
    best_val = dp_into(PS, PT, PW, eps, lin, quad, limit, starts, end, local_val, G, arg, src,
                       np.empty(M1), np.empty(M1, dtype=np.int64), np.empty(M1), np.empty(M1, dtype=np.int64), best)
    return best_val, best


def _dp_into(PS, PT, PW, eps, lin, quad, limit, starts, end, local_val, G, arg, src, before, bsrc, run, run_arg,
             best):
    """The loops of :func:`_solve_loops` on caller-owned scratch arrays; the strategy is written into ``best``.

    ``G``, ``arg``, ``src`` are (H, M+1) or larger (only [:H, :M+1] is used; G need not be
    initialised: every cell read was written in this call); ``before``, ``bsrc``, ``run``,
    ``run_arg`` hold M+1 entries, ``best`` M. Returns the least objective (``local_val`` when no
    offloading strategy beats it, ``best`` then all zero). What the batched kernels
    (:mod:`mecopt.bestresponse.batch`) call with no allocation per call.
    """
    H, M = lin.shape[0], PS.shape[0] - 1
    M1 = M + 1
    best_val = local_val
    for x in range(M):
        best[x] = 0
    have = -1  # h_max whose start the current G was computed from
    for h_max in range(1, H + 1):
        start = starts[h_max - 1]
        finite = False
        for x in range(M1):
            if start[x] < np.inf:
                finite = True
                break
        if not finite:
            continue
        same = have >= 0
        if same:
            prev = starts[have - 1]
            for x in range(M1):
                if prev[x] != start[x]:
                    same = False
                    break
        if not same:
            have = h_max
            for x in range(M1):
                run[x] = np.inf
                run_arg[x] = 0
            for h in range(H):
                for x in range(M1):
                    if start[x] <= run[x]:
                        before[x] = start[x]
                        bsrc[x] = 0
                    else:
                        before[x] = run[x]
                        bsrc[x] = run_arg[x]
                    src[h, x] = bsrc[x]
                for mm in range(M1):
                    bv = np.inf
                    ba = 0
                    for jj in range(mm):
                        if PT[mm] - PT[jj] > limit[h]:
                            c = np.inf
                        else:
                            s = PS[mm] - PS[jj]
                            c = before[jj] + (lin[h] * s + quad[h] * s * s + (h + 1) * ((PW[mm] - PW[jj]) * eps))
                        if c < bv:  # first minimum, as np.argmin (0 when every candidate is inf)
                            bv = c
                            ba = jj
                    G[h, mm] = bv
                    arg[h, mm] = ba
                for x in range(M1):
                    if G[h, x] < run[x]:
                        run[x] = G[h, x]
                        run_arg[x] = h + 1
        val = G[h_max - 1, M] + end[h_max - 1]
        if val < best_val:
            best_val = val
            for x in range(M):
                best[x] = 0
            m, h = M, h_max
            while True:
                jj = arg[h - 1, m]
                for x in range(jj, m):
                    best[x] = h
                p = src[h - 1, jj]
                if p == 0:
                    break
                m, h = jj, p
    return best_val


dp_into = _dp_into   # the compiled kernel once numba has compiled it (_compile)


def _compile():
    if os.environ.get("MECOPT_DP_BACKEND", "") == "numpy":
        return None
    try:
        import numba  # noqa: F401
    except ImportError:
        return None
    global dp_into
    dp_into = compile_kernel(_dp_into, nogil=True)
    return compile_kernel(_solve_loops, nogil=True)


_solve_compiled = _compile()
DEFAULT_BACKEND = "compiled" if _solve_compiled is not None else "numpy"


class DPDevice:
    """Per-device vectors precomputed once; :meth:`best_response` is cheap.

    Parameters
    ----------
    dev : Device
        The MD.
    server : Server
        Its server.
    tie_break : bool, default True
        Whether ties are broken by theta_n (the tie-breaking rule).
    backend : str or None, optional
        DP kernel: ``compiled`` (numba) or ``numpy``; None: the fastest available.
    """

    def __init__(self, dev: Device, server: Server, tie_break: bool = True, backend: str | None = None):
        self.dev, self.server = dev, server
        M, H = dev.M, server.H
        self.M = M
        backend = backend or DEFAULT_BACKEND
        if backend not in BACKENDS or (backend == "compiled" and _solve_compiled is None):
            raise ValueError(f"DP backend {backend!r} is not available (have: {DEFAULT_BACKEND}, numpy)")
        self._kernel = _solve_compiled if backend == "compiled" else _solve_numpy
        self.backend = backend
        lc = dev.local_cum
        self.PS = np.concatenate([[0.0], np.cumsum(dev.S[1:])])
        self.PT = np.concatenate([[0.0], np.cumsum(dev.t_server[1:])])
        self.PW = np.concatenate([[0.0], np.cumsum(layer_weights(M))])
        self.eps = tie_weight(dev) if tie_break else 0.0
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
        self._starts_cache: dict[bool, np.ndarray] = {}
        self._q = server.price_quad
        self._quad = dev.gamma * self._q
        # (17) per device: the capacity does not depend on the others
        self._limit = (capacity_limit(slot_capacity(server, Aggregates.empty(H)))
                       if server.capacity_mode == "per_device" else None)

    def _slot_terms(self, others: Aggregates) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per slot: linear and quadratic price coefficients.

        (x gamma) and the largest server time a block may have under (17); -inf where (27) closes the slot.
        """
        server, dev = self.server, self.dev
        lin = dev.gamma * (server.a + self._q * others.load)
        limit = self._limit if self._limit is not None else capacity_limit(slot_capacity(server, others))
        limit = np.where(slot_open(server, others), limit, -np.inf)
        return lin, self._quad, limit

    def _starts(self, enforce_deadline: bool) -> np.ndarray:
        """(H, M+1): for each h_max, A(j) where partition point j may end in slot h_max, else inf.

        Under the soft policy A(j) plus the penalty of the delay of (j, h_max).
        """
        cached = self._starts_cache.get(enforce_deadline)
        if cached is not None:
            return cached
        H = self.server.H
        starts = np.full((H, self.M + 1), np.inf)
        tau = deadline_limit(self.dev.tau)
        for h_max in range(1, H + 1):
            delay = self.delay_start + h_max * self.server.slot_len
            if enforce_deadline:
                starts[h_max - 1] = np.where(delay <= tau, self.A, np.inf)
            elif self.dev.deadline_soft:
                finite = np.isfinite(self.A)
                penalty = costmod.deadline_penalty(self.dev, np.where(finite, delay, 0.0))
                starts[h_max - 1] = np.where(finite, self.A + penalty, np.inf)
            else:
                starts[h_max - 1] = np.where(np.isfinite(self.A), self.A, np.inf)
        self._starts_cache[enforce_deadline] = starts
        return starts

    def solve(self, others: Aggregates, enforce_deadline: bool) -> tuple[float, np.ndarray] | None:
        """Least objective and its strategy, or None when nothing is feasible.

        Parameters
        ----------
        others : Aggregates
            The other MDs' aggregates per slot on the server.
        enforce_deadline : bool
            Whether (26) is a constraint.

        Returns
        -------
        tuple[float, numpy.ndarray] or None
            (least objective, strategy), or None.
        """
        lin, quad, limit = self._slot_terms(others)
        local_ok = not enforce_deadline or self.local_delay <= deadline_limit(self.dev.tau)
        local_val = self.local_obj if local_ok else np.inf
        val, slots = self._kernel(self.PS, self.PT, self.PW, self.eps, lin, quad, limit,
                                  self._starts(enforce_deadline), self.end, local_val)
        if not val < np.inf:
            return None
        return float(val), slots

    def _solve_with_fallback(self, others: Aggregates) -> tuple[float, np.ndarray, bool]:
        """Problem (28) under the deadline rule: (26) enforced unless relaxed, dropped when nothing meets it."""
        res = self.solve(others, enforces_deadline(self.dev))
        if res is not None:
            return res[0], res[1], False
        obj, slots = self.solve(others, False)
        return obj, slots, True

    def best_response(self, others: Aggregates) -> BestResponse:
        """The best response, its cost re-scored by the cost model (:func:`mecopt.core.cost.device_cost`).

        Parameters
        ----------
        others : Aggregates
            The other MDs' aggregates per slot on the server.

        Returns
        -------
        BestResponse
            The best response (28).
        """
        obj, slots, dropped = self._solve_with_fallback(others)
        c = costmod.device_cost(self.dev, slots, self.server, others.load)
        return BestResponse(slots=slots, objective=obj, cost=c, deadline_dropped=dropped)

    def best_move(self, others: Aggregates) -> BestResponse:
        """The same strategy and objective as :meth:`best_response`, without re-scoring.

        ``cost`` is the DP's own value (objective less the tie-break term), equal up to rounding. What the game loop
        uses, since it only compares objectives.

        Parameters
        ----------
        others : Aggregates
            The other MDs' aggregates per slot on the server.

        Returns
        -------
        BestResponse
            The best response, ``cost`` the DP's own value.
        """
        obj, slots, dropped = self._solve_with_fallback(others)
        return BestResponse(slots=slots, objective=obj, cost=obj - self.eps * theta(slots), deadline_dropped=dropped)


class DPEngine:
    """The DP engine for every device of an instance (each device's vectors built on first use).

    Parameters
    ----------
    instance : Instance
        A single-server instance (or server view).
    tie_break : bool, default True
        Whether ties are broken by theta_n.
    backend : str or None, optional
        DP kernel (see :class:`DPDevice`).
    """

    name = "dp"

    def __init__(self, instance: Instance, tie_break: bool = True, backend: str | None = None):
        self.instance = instance
        self.tie_break, self.backend = tie_break, backend
        self._devices: list[DPDevice | None] = [None] * instance.N
        self.calls = 0

    def device(self, n: int) -> DPDevice:
        """The DP solver of device ``n``, built on first use.

        Parameters
        ----------
        n : int
            Device index.

        Returns
        -------
        DPDevice
            Its DP solver.
        """
        d = self._devices[n]
        if d is None:
            d = self._devices[n] = DPDevice(self.instance.devices[n], self.instance.server, self.tie_break,
                                            self.backend)
        return d

    @property
    def devices(self) -> list[DPDevice]:
        """The DP solver of every device, in index order (each built on first use)."""
        return [self.device(n) for n in range(self.instance.N)]

    def best_response(self, n: int, others: Aggregates) -> BestResponse:
        """Exact best response (28) of device ``n`` against ``others`` (counted as a best-response call).

        Parameters
        ----------
        n : int
            Device index.
        others : Aggregates
            The other MDs' aggregates per slot on the server.

        Returns
        -------
        BestResponse
            The best response (28).
        """
        self.calls += 1
        return self.device(n).best_response(others)

    def best_move(self, n: int, others: Aggregates) -> BestResponse:
        """:meth:`DPDevice.best_move` of device n (counted as a best-response call).

        Parameters
        ----------
        n : int
            Device index.
        others : Aggregates
            The other MDs' aggregates per slot on the server.

        Returns
        -------
        BestResponse
            The best response, ``cost`` the DP's own value.
        """
        self.calls += 1
        return self.device(n).best_move(others)


def best_response(dev: Device, server: Server, others: Aggregates, tie_break: bool = True) -> BestResponse:
    """One-off DP best response of ``dev`` against ``others``.

    Parameters
    ----------
    dev : Device
        The MD.
    server : Server
        Its server.
    others : Aggregates
        The other MDs' aggregates per slot on the server.
    tie_break : bool, default True
        Whether ties are broken by theta_n.

    Returns
    -------
    BestResponse
        The best response (28).
    """
    return DPDevice(dev, server, tie_break).best_response(others)
