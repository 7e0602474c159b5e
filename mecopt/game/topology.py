"""Neighbour graphs and weights for TPOS-UAI (Alg. 2, eq. 29).

Weights form a row-stochastic matrix W with w_nn + sum_{q in N_n} w_nq = 1:

- ``metropolis``: w_nq = 1 / (1 + max(d_n, d_q)) for neighbours, w_nn = 1 - sum_q w_nq;
- ``uniform``: w_nq = w_nn = 1 / (1 + d_n).

On the complete graph both give w = 1/N, and (29) is then the exact slot total.

Two representations (issue 22). Up to :data:`DENSE_MAX_DEVICES` MDs, W is the dense N x N array
built from a networkx graph (:func:`neighbour_graph`, :func:`weight_matrix`), as every recorded
result was computed. Above, W is a ``scipy.sparse`` CSR matrix built from an edge list made
without networkx and without O(N^2) memory (:func:`neighbour_edges`, :func:`sparse_weights`): the
random geometric graph draws the same positions as networkx and finds its pairs with a KD-tree
(``scipy.spatial.cKDTree``), so it is the same graph; Erdős–Rényi uses networkx's
``fast_gnp_random_graph`` (O(N + E), a different draw than ``erdos_renyi_graph``); the complete
graph is refused there (N^2 edges: use the exact aggregates, TPOS-CAI, which it equals).
"""

from __future__ import annotations

import random

import networkx as nx
import numpy as np
from scipy import sparse
from scipy.spatial import cKDTree

from mecopt.core.errors import InputError
from mecopt.core.instance import Instance, TopologySection


def neighbour_graph(N: int, topo: TopologySection, seed: int = 0) -> nx.Graph:
    """The neighbour graph of ``N`` MDs (nodes 0..N-1).

    Parameters
    ----------
    N : int
        Number of MDs.
    topo : TopologySection
        The ``[topology]`` section.
    seed : int, default 0
        Seed of a random graph when the section gives none.

    Returns
    -------
    nx.Graph
        The graph.

    Raises
    ------
    InputError
        For an unknown topology kind (the schema forbids it).
    """
    s = topo.seed if topo.seed is not None else seed
    if topo.kind == "complete":
        g = nx.complete_graph(N)
    elif topo.kind == "ring":
        g = nx.cycle_graph(N) if N > 2 else nx.complete_graph(N)
    elif topo.kind == "random_geometric":
        g = nx.random_geometric_graph(N, topo.radius, seed=s)
    elif topo.kind == "erdos_renyi":
        g = nx.erdos_renyi_graph(N, topo.probability, seed=s)
    elif topo.kind == "edges":
        g = nx.Graph()
        g.add_nodes_from(range(N))
        g.add_edges_from(topo.edges)
    else:  # pragma: no cover - the schema forbids it
        raise InputError(f"unknown topology kind {topo.kind!r}")
    return g


def weight_matrix(g: nx.Graph, kind: str) -> np.ndarray:
    """Row-stochastic N x N weights of eq. (29).

    Parameters
    ----------
    g : nx.Graph
        The neighbour graph.
    kind : str
        ``metropolis`` or ``uniform``.

    Returns
    -------
    numpy.ndarray
        W, N x N, rows summing to 1.

    Raises
    ------
    InputError
        For an unknown ``kind``.
    """
    N = g.number_of_nodes()
    W = np.zeros((N, N))
    deg = dict(g.degree())
    for n in range(N):
        for q in g.neighbors(n):
            if kind == "metropolis":
                W[n, q] = 1.0 / (1 + max(deg[n], deg[q]))
            elif kind == "uniform":
                W[n, q] = 1.0 / (1 + deg[n])
            else:
                raise InputError(f"The 'weights' option must be 'metropolis' or 'uniform'. Got {kind!r} instead.")
        W[n, n] = 1.0 - W[n].sum()
    return W


#: above this many MDs the weights of (29) are sparse (CSR) and the graph is built without networkx
DENSE_MAX_DEVICES = 2000


def neighbour_edges(N: int, topo: TopologySection, seed: int = 0) -> np.ndarray:
    """The neighbour graph's edges (u < v, each once) without building a networkx graph or N x N memory.

    Parameters
    ----------
    N : int
        Number of MDs.
    topo : TopologySection
        The ``[topology]`` section (``complete`` is refused: N^2 edges).
    seed : int, default 0
        Seed of a random graph when the section gives none.

    Returns
    -------
    numpy.ndarray
        (E, 2) int array of edges.

    Raises
    ------
    InputError
        For the complete graph, or an unknown kind.
    """
    s = topo.seed if topo.seed is not None else seed
    if topo.kind == "ring":
        if N <= 2:
            return np.array([(0, 1)] if N == 2 else [], dtype=np.int64).reshape(-1, 2)
        u = np.arange(N)
        return _sorted(np.sort(np.stack([u, (u + 1) % N], axis=1), axis=1))
    if topo.kind == "random_geometric":   # networkx's draw: a random.Random(seed), 2 coordinates per node in order
        r = random.Random(s)
        pos = np.array([[r.random(), r.random()] for _ in range(N)]).reshape(N, 2)
        e = np.asarray(cKDTree(pos).query_pairs(topo.radius, 2.0, output_type="ndarray"), dtype=np.int64)
        return _sorted(e)
    if topo.kind == "erdos_renyi":
        g = nx.fast_gnp_random_graph(N, topo.probability, seed=s)
        return np.array(sorted(tuple(sorted(e)) for e in g.edges()), dtype=np.int64).reshape(-1, 2)
    if topo.kind == "edges":
        e = np.array([tuple(sorted(x)) for x in topo.edges], dtype=np.int64).reshape(-1, 2)
        return np.unique(e, axis=0) if len(e) else e
    raise InputError(f"topology.kind {topo.kind!r} has N^2 edges: not supported above {DENSE_MAX_DEVICES} devices "
                     f"(the complete graph's estimate (29) is the exact total: use tpos-cai)")


def _sorted(e: np.ndarray) -> np.ndarray:
    """Edges as an (E, 2) int64 array in lexicographic order."""
    e = np.asarray(e, dtype=np.int64).reshape(-1, 2)
    return e[np.lexsort((e[:, 1], e[:, 0]))]


def sparse_weights(N: int, edges: np.ndarray, kind: str) -> sparse.csr_matrix:
    """The weights of (29) as a CSR matrix (rows sum to 1), from an edge list.

    Parameters
    ----------
    N : int
        Number of MDs.
    edges : numpy.ndarray
        (E, 2) edges, each once (:func:`neighbour_edges`).
    kind : str
        ``metropolis`` or ``uniform``.

    Returns
    -------
    scipy.sparse.csr_matrix
        W, N x N with N + 2E stored entries.

    Raises
    ------
    InputError
        For an unknown ``kind``.
    """
    u, v = edges[:, 0], edges[:, 1]
    deg = np.bincount(np.concatenate([u, v]), minlength=N).astype(float)
    rows, cols = np.concatenate([u, v]), np.concatenate([v, u])
    if kind == "metropolis":
        vals = 1.0 / (1 + np.maximum(deg[rows], deg[cols]))
    elif kind == "uniform":
        vals = 1.0 / (1 + deg[rows])
    else:
        raise InputError(f"The 'weights' option must be 'metropolis' or 'uniform'. Got {kind!r} instead.")
    off = sparse.csr_matrix((vals, (rows, cols)), shape=(N, N))
    off.sum_duplicates()
    diag = 1.0 - np.asarray(off.sum(axis=1)).ravel()
    W = (off + sparse.diags(diag)).tocsr()
    W.sort_indices()
    return W


def instance_weights(instance: Instance, seed: int = 0) -> tuple[int, np.ndarray | sparse.csr_matrix]:
    """The number of edges of ``instance``'s neighbour graph and its weight matrix W (29).

    Dense (networkx graph) up to :data:`DENSE_MAX_DEVICES` MDs, CSR above (module docstring).

    Parameters
    ----------
    instance : Instance
        The instance.
    seed : int, default 0
        Seed of a random graph.

    Returns
    -------
    tuple[int, numpy.ndarray or scipy.sparse.csr_matrix]
        (edges, W).
    """
    if instance.N <= DENSE_MAX_DEVICES:
        g = neighbour_graph(instance.N, instance.topology, seed)
        return g.number_of_edges(), weight_matrix(g, instance.topology.weights)
    edges = neighbour_edges(instance.N, instance.topology, seed)
    return len(edges), sparse_weights(instance.N, edges, instance.topology.weights)
