"""Eq. (29): a device's estimate of the slot aggregates from its neighbours (TPOS-UAI).

    T_hat^h = min{ B T_d / H,  N (w_nn T_n^h + sum_{q in N_n} w_nq T_q^h) }

is the estimated slot total *including* the MD's own load; the others' part is
the estimate minus its own (clipped at 0). The price load S and the per-slot MD
count are estimated the same way: S_hat^h = N (w_n . S^h) scaled down by the
same factor as T_hat^h when the cap binds, and count_hat^h = min{B, N (w_n . 1[q in h])}.
The neighbours' current strategies are used (an inactive neighbour's strategy
is simply its last one).
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from mecopt.core.instance import Server, ServerView
from mecopt.core.problem import Aggregates


def estimate_others(n: int, W: np.ndarray, loads: np.ndarray, times: np.ndarray, used: np.ndarray,
                    server: Server, N: int | None = None) -> Aggregates:
    """The others' aggregates as MD n estimates them by (29).

    ``N`` defaults to the size of W (with several servers W is one server's block of the weights and N the number of all
    MDs).

    Parameters
    ----------
    n : int
        The MD.
    W : numpy.ndarray or scipy.sparse.csr_matrix
        The weights of (29) (one server's block with several servers); dense, or CSR with sorted
        indices (:func:`mecopt.game.topology.sparse_weights`), where only MD n's row is read.
    loads : numpy.ndarray
        Every MD's price load per slot, (N, H).
    times : numpy.ndarray
        Every MD's server time per slot, (N, H).
    used : numpy.ndarray
        Whether each MD uses each slot, (N, H).
    server : Server
        The server.
    N : int or None, default None
        The number of MDs (default: the size of W).

    Returns
    -------
    Aggregates
        MD n's estimate of the others' aggregates.
    """
    N = W.shape[0] if N is None else N
    if sparse.issparse(W):   # CSR: only n's neighbours (and n) are read, O(degree x H)
        lo, hi = W.indptr[n], W.indptr[n + 1]
        q, w = W.indices[lo:hi], W.data[lo:hi]
        times, loads, used = times[q], loads[q], used[q]
        own_load, own_time, own_used = _own_rows(n, q, loads, times, used)
    else:
        w = W[n]
        own_load, own_time, own_used = loads[n], times[n], used[n]
    raw_time = N * (w @ times)
    cap = server.B * server.slot_len
    est_time = np.minimum(cap, raw_time)
    with np.errstate(divide="ignore", invalid="ignore"):
        shrink = np.where(raw_time > cap, cap / raw_time, 1.0)
    est_load = N * (w @ loads) * shrink
    est_count = np.minimum(server.B, N * (w @ used))
    return Aggregates(load=np.maximum(est_load - own_load, 0.0), time=np.maximum(est_time - own_time, 0.0),
                      count=np.maximum(est_count - own_used, 0.0))


def _own_rows(n: int, q: np.ndarray, loads: np.ndarray, times: np.ndarray,
              used: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MD n's rows among its neighbours' (q sorted, n in it unless w_nn = 0; zero rows otherwise)."""
    j = int(np.searchsorted(q, n))
    if j < len(q) and q[j] == n:
        return loads[j], times[j], used[j]
    H = loads.shape[1]
    return np.zeros(H), np.zeros(H), np.zeros(H)


def estimate_weights(W: np.ndarray, views: list[ServerView]) -> list[np.ndarray]:
    """Per server view, the rows and columns of the neighbour weights W of (29) for its members.

    An MD that cannot reach server k has no load on it, so it adds nothing to k's estimate.

    Parameters
    ----------
    W : numpy.ndarray
        (N, N) weights of every MD (:func:`mecopt.game.topology.weight_matrix`).
    views : list of ServerView
        ``instance.view(k)`` for every server k.

    Returns
    -------
    list of numpy.ndarray
        Per server, its members' block of W (W itself when every MD reaches it).
    """
    N = W.shape[0]
    if sparse.issparse(W):
        return [W if len(v.members) == N else W[v.members][:, v.members].tocsr() for v in views]
    return [W if len(v.members) == N else W[np.ix_(v.members, v.members)] for v in views]


def consensus_weights(W: np.ndarray, rounds: int) -> np.ndarray:
    """W^rounds: the weights of (29) after ``rounds`` consensus (gossip) rounds between decisions.

    Remedy for sparse neighbour graphs (docs/equilibria.md): each MD keeps its per-slot
    estimate vector and, between two decisions, averages it ``rounds`` times with its
    neighbours' (x <- W x, started from the MDs' own loads). The estimate then reads
    N (W^k)_n . loads; for a connected graph and a doubly stochastic W (Metropolis)
    W^k -> 11^T/N geometrically (rate |lambda_2(W)|^k), so (29) tends to the true total.
    ``rounds`` = 1 is the paper's (29).

    Parameters
    ----------
    W : numpy.ndarray
        The weights of (29).
    rounds : int
        Gossip rounds, >= 1.

    Returns
    -------
    numpy.ndarray
        W to the power ``rounds``.

    Raises
    ------
    ValueError
        When ``rounds`` < 1.
    """
    if rounds < 1:
        raise ValueError("consensus rounds must be >= 1")
    if sparse.issparse(W):   # W^k stays sparse for few rounds on a sparse graph (k-hop neighbourhoods)
        out = W
        for _ in range(rounds - 1):
            out = out @ W
        return out.tocsr()
    return np.linalg.matrix_power(W, rounds)
