"""Neighbour graphs and weights for TPOS-UAI (Alg. 2, eq. 29), built with networkx.

Weights form a row-stochastic matrix W with w_nn + sum_{q in N_n} w_nq = 1:

- ``metropolis``: w_nq = 1 / (1 + max(d_n, d_q)) for neighbours, w_nn = 1 - sum_q w_nq;
- ``uniform``: w_nq = w_nn = 1 / (1 + d_n).

On the complete graph both give w = 1/N, and (29) is then the exact slot total.
"""

from __future__ import annotations

import networkx as nx
import numpy as np

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


def instance_weights(instance: Instance, seed: int = 0) -> tuple[nx.Graph, np.ndarray]:
    """The neighbour graph of ``instance``'s topology and its weight matrix W (29).

    Parameters
    ----------
    instance : Instance
        The instance.
    seed : int, default 0
        Seed of a random graph.

    Returns
    -------
    tuple[nx.Graph, numpy.ndarray]
        (graph, W).
    """
    g = neighbour_graph(instance.N, instance.topology, seed)
    return g, weight_matrix(g, instance.topology.weights)
