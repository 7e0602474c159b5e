"""The DP best response (28) of many (device, server) pairs in compiled code, with no Python per call.

:class:`PairTable` lays out, once per instance, what :class:`mecopt.bestresponse.dp.DPDevice`
precomputes for every reachable (device, server) pair, in flat arrays (device n's pairs are
``ptr[n]:ptr[n+1]``, in the order of ``instance.reachable(n)``). The numba kernels below read the
others' aggregates straight from the flat rows and totals of :class:`mecopt.game.state.GameState`
and run the recursion of :func:`mecopt.bestresponse.dp._dp_into` on scratch arrays allocated once
per batch. They repeat, operation for operation, what the Python path computes
(:meth:`DPDevice._slot_terms`, :meth:`DPDevice._starts`, :meth:`DPDevice.solve` with its deadline
fallback, and :func:`mecopt.bestresponse.engines.choose`), so the results are bit-identical
(tests/bestresponse/test_batch.py compares them on random instances).

The kernels are compiled on first use (:mod:`mecopt.bestresponse.jit`); without numba
:data:`AVAILABLE` is False and the game keeps its Python loop.
"""

from __future__ import annotations

import math
from operator import attrgetter
from typing import Any, NamedTuple

import numpy as np

from mecopt.bestresponse import dp as dpmod
from mecopt.bestresponse.jit import compile_kernel
from mecopt.core.instance import Instance
from mecopt.core.problem import TIE_REL
from mecopt.core.tolerances import CAP_ABS, CAP_TOL, PARALLEL_TOL, SOLVER_DEADLINE_TOL

AVAILABLE = dpmod._solve_compiled is not None  # noqa: SLF001 - the same switch as the DP's own backend


class Servers(NamedTuple):
    """Per server k: slots, slot length, B, the capacity mode, and its prices by ``toff[k] + h``."""

    H: np.ndarray
    slot_len: np.ndarray
    B: np.ndarray
    per_device: np.ndarray
    toff: np.ndarray      # offset of server k's slots in a, q and the state's totals
    roff: np.ndarray      # offset of server k's rows in the state's flat rows
    a: np.ndarray
    q: np.ndarray         # b_h / h (Server.price_quad)


class Pairs(NamedTuple):
    """Per (device, server) pair p: its DP vectors and scalars (what DPDevice precomputes)."""

    ptr: np.ndarray       # device n's pairs: ptr[n]:ptr[n+1]
    k: np.ndarray         # server
    i: np.ndarray         # index in server k's view
    M: np.ndarray
    voff: np.ndarray      # offset of the (M+1)-vectors
    eoff: np.ndarray      # offset of the H_k-vectors
    eps: np.ndarray       # tie weight (0 without tie-break)
    gamma: np.ndarray
    local_obj: np.ndarray
    local_delay: np.ndarray
    tau: np.ndarray
    tau_lim: np.ndarray   # deadline_limit(tau)
    enforce: np.ndarray   # enforces_deadline(dev)
    soft: np.ndarray
    pps: np.ndarray       # deadline penalty per second
    aT: np.ndarray        # alpha c^T
    bE: np.ndarray        # beta c^E
    P_lo: np.ndarray
    P_up: np.ndarray
    t_down: np.ndarray
    PS: np.ndarray        # (M+1)-vectors: prefix sums of S, T^se and the tie weights
    PT: np.ndarray
    PW: np.ndarray
    A: np.ndarray         # start terms A(j) (inf at j = M)
    DS: np.ndarray        # delay of partition point j before the slots (inf at j = M)
    LC: np.ndarray        # local_cum
    TU: np.ndarray        # t_up[:M+1]
    SL: np.ndarray        # S_{n,m}, m = 1..M (entry M unused)
    TS: np.ndarray        # t_server, m = 1..M (entry M unused)
    END: np.ndarray       # H_k-vectors: alpha c^T slot_len h
    QUAD: np.ndarray      # gamma b_h / h


class Scratch(NamedTuple):
    """Work arrays of one batch, sized for the largest M and H."""

    G: np.ndarray
    arg: np.ndarray
    src: np.ndarray
    before: np.ndarray
    bsrc: np.ndarray
    run: np.ndarray
    run_arg: np.ndarray
    starts: np.ndarray
    lin: np.ndarray
    limit: np.ndarray
    o_load: np.ndarray
    o_time: np.ndarray
    o_count: np.ndarray
    vec1: np.ndarray
    vec2: np.ndarray
    cand: np.ndarray      # (max reachable servers, M) candidate strategies of one device
    cand_val: np.ndarray
    cand_drop: np.ndarray
    best: np.ndarray      # (M,) the chosen strategy


class PairTable:
    """Every reachable (device, server) pair's DP data in flat arrays (module docstring).

    Parameters
    ----------
    instance : Instance
        One server or several.
    tie_break : bool, default True
        Whether ties are broken by theta_n (False: the certificate's exact best response).
    """

    def __init__(self, instance: Instance, tie_break: bool = True):
        views = [instance.view(k) for k in range(instance.K)]
        self.instance = instance
        Hs = np.array([v.server.H for v in views], dtype=np.int64)
        toff = np.concatenate([[0], np.cumsum(Hs)]).astype(np.int64)
        roff = np.concatenate([[0], np.cumsum([len(v.members) * v.server.H for v in views])]).astype(np.int64)
        self.servers = Servers(
            H=Hs, slot_len=np.array([v.server.slot_len for v in views], dtype=float),
            B=np.array([v.server.B for v in views], dtype=float),
            per_device=np.array([v.server.capacity_mode == "per_device" for v in views]),
            toff=toff, roff=roff,
            a=np.concatenate([np.asarray(v.server.a, dtype=float) for v in views]),
            q=np.concatenate([np.asarray(v.server.price_quad, dtype=float) for v in views]))
        # gathered per pair in Python (attributes only); every derived number computed by _build_pairs
        scalars = attrgetter("gamma", "tau", "deadline_penalty_per_s", "alpha", "c_T", "beta", "c_E", "P_lo", "P_up",
                             "t_down", "deadline_soft", "deadline_relaxed")
        ints: list[tuple[int, int, int]] = []
        rows: list[tuple] = []
        raw: dict[str, list[np.ndarray]] = {"t_local": [], "S": [], "t_server": [], "t_up": []}
        ptr = [0]
        for n in range(instance.N):
            for k in instance.reachable(n):
                view = views[k]
                i = int(view.local[n])
                dev = view.instance.devices[i]
                M = dev.M
                ints.append((k, i, M))
                rows.append(scalars(dev))
                raw["t_local"].append(dev.t_local[1:])
                raw["S"].append(dev.S[1:])
                raw["t_server"].append(dev.t_server[1:])
                raw["t_up"].append(dev.t_up[:M + 1])
            ptr.append(len(ints))
        P = len(ints)
        iv = np.array(ints, dtype=np.int64).reshape(P, 3)
        fv = np.array([r[:10] for r in rows], dtype=float).reshape(P, 10)
        soft = np.array([r[10] for r in rows], dtype=bool)
        relaxed = np.array([r[11] for r in rows], dtype=bool)
        arr: dict[str, Any] = dict(k=iv[:, 0].copy(), i=iv[:, 1].copy(), M=iv[:, 2].copy())
        arr.update(gamma=fv[:, 0].copy(), tau=fv[:, 1].copy(), pps=np.where(soft, fv[:, 2], 0.0),
                   aT=fv[:, 3] * fv[:, 4], bE=fv[:, 5] * fv[:, 6],   # dev.alpha * dev.c_T: the same product
                   P_lo=fv[:, 7].copy(), P_up=fv[:, 8].copy(), t_down=fv[:, 9].copy(),
                   enforce=~(relaxed | soft), soft=soft)   # core.problem.enforces_deadline
        M_ = arr["M"]
        arr["voff"] = np.concatenate([[0], np.cumsum(M_ + 1)[:-1]]).astype(np.int64) if P else np.zeros(0, np.int64)
        Hp = Hs[arr["k"]] if P else np.zeros(0, np.int64)
        arr["eoff"] = np.concatenate([[0], np.cumsum(Hp)[:-1]]).astype(np.int64) if P else np.zeros(0, np.int64)
        V, E = int((M_ + 1).sum()), int(Hp.sum())
        for f in ("PS", "PT", "PW", "A", "DS", "LC", "TU", "SL", "TS"):
            arr[f] = np.zeros(V)
        arr["END"], arr["QUAD"] = np.zeros(E), np.zeros(E)
        for f in ("eps", "local_obj", "local_delay", "tau_lim"):
            arr[f] = np.zeros(P)

        def cat(key: str) -> np.ndarray:
            return np.concatenate(raw[key]).astype(float) if P else np.zeros(0)

        self.pairs = Pairs(ptr=np.array(ptr, dtype=np.int64), **arr)
        _build_pairs(self.pairs, self.servers, cat("t_local"), cat("S"), cat("t_server"), cat("t_up"), tie_break)
        self.max_M = int(M_.max()) if P else 1
        self.max_H = int(Hs.max()) if len(Hs) else 1
        self.max_reach = int(np.diff(self.pairs.ptr).max()) if instance.N else 1

    def without_tie_break(self) -> PairTable:
        """The same table with eps = 0: the certificate's exact best response (tie_break=False).

        Returns
        -------
        PairTable
        """
        other = object.__new__(PairTable)
        other.__dict__.update(self.__dict__)
        other.pairs = self.pairs._replace(eps=np.zeros_like(self.pairs.eps))
        return other

    def scratch(self) -> Scratch:
        """Work arrays for one batch (allocated once, reused by every pair of it).

        Returns
        -------
        Scratch
        """
        M1, H = self.max_M + 1, self.max_H
        return Scratch(G=np.empty((H, M1)), arg=np.zeros((H, M1), dtype=np.int64),
                       src=np.zeros((H, M1), dtype=np.int64), before=np.empty(M1),
                       bsrc=np.empty(M1, dtype=np.int64), run=np.empty(M1), run_arg=np.empty(M1, dtype=np.int64),
                       starts=np.empty((H, M1)), lin=np.empty(H), limit=np.empty(H), o_load=np.empty(H),
                       o_time=np.empty(H), o_count=np.empty(H), vec1=np.empty(H), vec2=np.empty(H),
                       cand=np.zeros((self.max_reach, self.max_M), dtype=np.int64),
                       cand_val=np.empty(self.max_reach), cand_drop=np.zeros(self.max_reach, dtype=np.bool_),
                       best=np.zeros(self.max_M, dtype=np.int64))


# ------------------------------------------------------------------------------------------- kernels


def _build_pairs(tab, srv, t_local, S, t_server, t_up, tie_break):
    """What DPDevice.__init__ computes, for every pair, from the raw layer vectors.

    The vectors are concatenated over the pairs: M entries per pair for t_local[1:], S[1:] and
    t_server[1:], M+1 for t_up. Same operations in the same order: prefix sums as np.cumsum, the
    rest element by element.
    """
    raw = 0
    for p in range(tab.k.shape[0]):
        M = tab.M[p]
        v = tab.voff[p]
        e = tab.eoff[p]
        k = tab.k[p]
        lc = 0.0
        ps = 0.0
        pt = 0.0
        pw = 0.0
        tab.LC[v] = 0.0
        tab.PS[v] = 0.0
        tab.PT[v] = 0.0
        tab.PW[v] = 0.0
        for m in range(M):
            lc += t_local[raw + m]
            ps += S[raw + m]
            pt += t_server[raw + m]
            pw += 1.0 + (m + 1) / (M + 1)
            tab.LC[v + m + 1] = lc
            tab.PS[v + m + 1] = ps
            tab.PT[v + m + 1] = pt
            tab.PW[v + m + 1] = pw
            tab.SL[v + m] = S[raw + m]
            tab.TS[v + m] = t_server[raw + m]
        tab.SL[v + M] = 0.0
        tab.TS[v + M] = 0.0
        aT = tab.aT[p]
        bE = tab.bE[p]
        for j in range(M + 1):
            tu = t_up[v + j]
            tab.TU[v + j] = tu
            if j < M:
                l = tab.LC[v + j]
                tab.A[v + j] = aT * (l + tu + tab.t_down[p]) + bE * (tab.P_lo[p] * l + tab.P_up[p] * tu)
                tab.DS[v + j] = l + tu + tab.t_down[p]
            else:
                tab.A[v + j] = np.inf
                tab.DS[v + j] = np.inf
        local = tab.LC[v + M]
        if tie_break:
            x = aT * local + bE * tab.P_lo[p] * local
            tab.eps[p] = TIE_REL * (x if x > 1.0 else 1.0)
        else:
            tab.eps[p] = 0.0
        tab.local_delay[p] = local
        pen = 0.0
        if tab.soft[p]:
            over = local - tab.tau[p]
            pen = tab.pps[p] * (over if over > 0.0 else 0.0)
        tab.local_obj[p] = aT * local + bE * tab.P_lo[p] * local + pen
        tab.tau_lim[p] = tab.tau[p] * (1 + SOLVER_DEADLINE_TOL)
        step = aT * srv.slot_len[k]
        t = srv.toff[k]
        for h in range(srv.H[k]):
            tab.END[e + h] = step * (h + 1)
            tab.QUAD[e + h] = tab.gamma[p] * srv.q[t + h]
        raw += M



def _others(p, tab, srv, rows, totals, scr):
    """The others' aggregates on pair p's server into scr.o_* (ServerLoads.others: total - own row)."""
    k = tab.k[p]
    H = srv.H[k]
    t = srv.toff[k]
    r = srv.roff[k] + tab.i[p] * H
    for h in range(H):
        scr.o_load[h] = totals[0, t + h] - rows[0, r + h]
        scr.o_time[h] = totals[1, t + h] - rows[1, r + h]
        scr.o_count[h] = totals[2, t + h] - rows[2, r + h]


def _slot_limit(k, h, srv, scr):
    """(17)'s largest block server time in slot h, -inf where (27) closes it (DPDevice._slot_terms)."""
    if srv.per_device[k]:
        lim = srv.slot_len[k] * (1 + CAP_TOL) + CAP_ABS
    else:
        lim = (srv.slot_len[k] - scr.o_time[h]) * (1 + CAP_TOL) + CAP_ABS
    if not (scr.o_count[h] + 1 <= srv.B[k] + PARALLEL_TOL):
        lim = -np.inf
    return lim


def _pair_solve(p, enforce, tab, srv, scr, out):
    """DPDevice.solve of pair p against scr.o_* (filled by _others): the least objective, strategy in ``out``."""
    k = tab.k[p]
    H = srv.H[k]
    M = tab.M[p]
    v = tab.voff[p]
    e = tab.eoff[p]
    t = srv.toff[k]
    gamma = tab.gamma[p]
    for h in range(H):
        scr.lin[h] = gamma * (srv.a[t + h] + srv.q[t + h] * scr.o_load[h])
        scr.limit[h] = _slot_limit(k, h, srv, scr)
    slot_len = srv.slot_len[k]
    starts = scr.starts
    for hm in range(1, H + 1):
        step = hm * slot_len
        for j in range(M + 1):
            a = tab.A[v + j]
            delay = tab.DS[v + j] + step
            if enforce:
                starts[hm - 1, j] = a if delay <= tab.tau_lim[p] else np.inf
            elif not math.isfinite(a):
                starts[hm - 1, j] = np.inf
            elif tab.soft[p]:   # A(j) + pi max(0, delay - tau) (costmod.deadline_penalty)
                over = delay - tab.tau[p]
                starts[hm - 1, j] = a + tab.pps[p] * (over if over > 0.0 else 0.0)
            else:
                starts[hm - 1, j] = a
    local_ok = (not enforce) or tab.local_delay[p] <= tab.tau_lim[p]
    local_val = tab.local_obj[p] if local_ok else np.inf
    return dpmod.dp_into(tab.PS[v:v + M + 1], tab.PT[v:v + M + 1], tab.PW[v:v + M + 1], tab.eps[p],
                         scr.lin[:H], tab.QUAD[e:e + H], scr.limit[:H], starts[:H, :M + 1], tab.END[e:e + H],
                         local_val, scr.G, scr.arg, scr.src, scr.before, scr.bsrc, scr.run, scr.run_arg, out)


def _device_response(n, tab, srv, rows, totals, scr, server_calls):
    """Device n's best response over its reachable servers (DPDevice.best_move + engines.choose).

    The strategy is written into scr.best; returns (objective, server or -1 when all local,
    deadline dropped, index of the chosen pair).
    """
    first, last = tab.ptr[n], tab.ptr[n + 1]
    M = tab.M[first]
    any_kept = False
    for c in range(last - first):
        p = first + c
        _others(p, tab, srv, rows, totals, scr)
        out = scr.cand[c, :M]
        val = _pair_solve(p, tab.enforce[p], tab, srv, scr, out)
        dropped = False
        if not val < np.inf:   # (26) cannot be met here: dropped (DPDevice._solve_with_fallback)
            val = _pair_solve(p, False, tab, srv, scr, out)
            dropped = True
        scr.cand_val[c] = val
        scr.cand_drop[c] = dropped
        any_kept = any_kept or not dropped
        server_calls[tab.k[p]] += 1
    chosen = -1
    for c in range(last - first):
        if any_kept and scr.cand_drop[c]:
            continue
        if chosen < 0 or scr.cand_val[c] < scr.cand_val[chosen]:
            chosen = c
    for x in range(M):
        scr.best[x] = scr.cand[chosen, x]
    p = first + chosen
    server = tab.k[p] if scr.best[M - 1] != 0 else -1
    return scr.cand_val[chosen], server, scr.cand_drop[chosen], p


def _price(p, tab, srv, rows, scr):
    """costmod.price of pair p's current row against scr.o_load: (a + q (others + S)) . S."""
    k = tab.k[p]
    H = srv.H[k]
    t = srv.toff[k]
    r = srv.roff[k] + tab.i[p] * H
    pv = scr.vec1[:H]
    sv = scr.vec2[:H]
    for h in range(H):
        S = rows[0, r + h]
        sv[h] = S
        pv[h] = srv.a[t + h] + srv.q[t + h] * (scr.o_load[h] + S)
    return np.dot(pv, sv)


def _row_feasible(p, tab, srv, rows, scr):
    """(17) and (27) of pair p's current row against scr.o_* (GameState.feasible without (26))."""
    k = tab.k[p]
    H = srv.H[k]
    r = srv.roff[k] + tab.i[p] * H
    for h in range(H):
        if rows[2, r + h] > 0:
            cap = srv.slot_len[k] if srv.per_device[k] else srv.slot_len[k] - scr.o_time[h]
            if not (rows[1, r + h] <= cap * (1 + CAP_TOL) + CAP_ABS):
                return False
            if not (scr.o_count[h] + 1 <= srv.B[k] + PARALLEL_TOL):
                return False
    return True


def _find_pair(n, k, tab):
    for p in range(tab.ptr[n], tab.ptr[n + 1]):
        if tab.k[p] == k:
            return p
    return -1


def _strategy_cost(p, slots, tab, srv, scr):
    """costmod.device_cost of pair p playing ``slots`` (0..H, not queued) against scr.o_load."""
    k = tab.k[p]
    H = srv.H[k]
    M = tab.M[p]
    v = tab.voff[p]
    t = srv.toff[k]
    m = 0
    for x in range(M):
        if slots[x] == 0:
            m += 1
    local = tab.LC[v + m]
    if m == M:
        T = local
    else:
        T = local + tab.TU[v + m] + slots[M - 1] * srv.slot_len[k] + tab.t_down[p]
    E = tab.P_lo[p] * tab.LC[v + m]
    if m < M:
        E += tab.P_up[p] * tab.TU[v + m]
    pv = scr.vec1[:H]
    sv = scr.vec2[:H]
    for h in range(H):
        sv[h] = 0.0
    for x in range(M):
        s = slots[x]
        if s >= 1 and s <= H:
            sv[s - 1] += tab.SL[v + x]
    for h in range(H):
        pv[h] = srv.a[t + h] + srv.q[t + h] * (scr.o_load[h] + sv[h])
    price = np.dot(pv, sv)
    c = tab.aT[p] * T + tab.bE[p] * E + tab.gamma[p] * price
    if tab.soft[p]:
        over = T - tab.tau[p]
        c = c + tab.pps[p] * (over if over > 0.0 else 0.0)
    else:
        c = c + 0.0
    return c


if AVAILABLE:   # compiled in place: the kernels call each other by these module names
    _build_pairs = compile_kernel(_build_pairs)
    _others = compile_kernel(_others)
    _slot_limit = compile_kernel(_slot_limit)
    _pair_solve = compile_kernel(_pair_solve)
    _device_response = compile_kernel(_device_response)
    _price = compile_kernel(_price)
    _row_feasible = compile_kernel(_row_feasible)
    _find_pair = compile_kernel(_find_pair)
    _strategy_cost = compile_kernel(_strategy_cost)

#: the kernels other modules call (compiled when AVAILABLE)
others, pair_solve, device_response = _others, _pair_solve, _device_response
price_of_row, row_feasible, find_pair, strategy_cost = _price, _row_feasible, _find_pair, _strategy_cost
