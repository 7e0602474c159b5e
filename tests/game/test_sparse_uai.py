"""Issue 22: TPOS-UAI with sparse (CSR) weights, graphs built without networkx or N x N memory."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from mecopt.core.errors import InputError
from mecopt.core.instance import TopologySection, instance_from_dict
from mecopt.game import topology
from mecopt.game.estimate import consensus_weights, estimate_others, estimate_weights
from mecopt.methods.tpos import solve_uai


@pytest.mark.parametrize("kind, extra", [("random_geometric", {"radius": 0.09}), ("ring", {}),
                                         ("edges", {"edges": [(0, 5), (5, 0), (3, 4), (7, 2)]})])
def test_edges_are_the_networkx_graph(kind, extra):
    N = 300
    topo = TopologySection(kind=kind, seed=4, **extra)
    mine = topology.neighbour_edges(N, topo)
    g = topology.neighbour_graph(N, topo)
    theirs = np.array(sorted(tuple(sorted(e)) for e in g.edges()), dtype=np.int64).reshape(-1, 2)
    assert np.array_equal(mine, theirs)


def test_erdos_renyi_is_sparse_and_the_complete_graph_is_refused():
    e = topology.neighbour_edges(5000, TopologySection(kind="erdos_renyi", probability=2e-3, seed=1))
    assert 0.7 * 2e-3 * 5000 * 4999 / 2 < len(e) < 1.3 * 2e-3 * 5000 * 4999 / 2 and np.all(e[:, 0] < e[:, 1])
    with pytest.raises(InputError, match="tpos-cai"):
        topology.neighbour_edges(5000, TopologySection(kind="complete"))


@pytest.mark.parametrize("kind", ["metropolis", "uniform"])
def test_sparse_weights_are_the_dense_ones(kind):
    N = 200
    topo = TopologySection(kind="random_geometric", radius=0.12, seed=2)
    W = topology.sparse_weights(N, topology.neighbour_edges(N, topo), kind)
    dense = topology.weight_matrix(topology.neighbour_graph(N, topo), kind)
    assert sparse.issparse(W) and W.nnz < N * N / 4
    assert np.allclose(W.toarray(), dense, rtol=0, atol=1e-15)
    assert np.allclose(np.asarray(W.sum(axis=1)).ravel(), 1.0)


def test_sparse_estimate_and_consensus_are_the_dense_ones():
    N, H = 150, 4
    rng = np.random.default_rng(0)
    topo = TopologySection(kind="random_geometric", radius=0.15, seed=0)
    W = topology.sparse_weights(N, topology.neighbour_edges(N, topo), "metropolis")
    Wd = W.toarray()
    loads, times = rng.uniform(0, 3, (N, H)), rng.uniform(0, 0.1, (N, H))
    used = (rng.random((N, H)) < 0.3).astype(float)
    server = instance_from_dict({"devices": [{"dnn": "lenet"}]}).server
    for n in range(0, N, 7):
        a = estimate_others(n, W, loads, times, used, server)
        b = estimate_others(n, Wd, loads, times, used, server)
        for x, y in zip((a.load, a.time, a.count), (b.load, b.time, b.count)):
            assert np.allclose(x, y, rtol=1e-12, atol=1e-12)
    assert np.allclose(consensus_weights(W, 3).toarray(), np.linalg.matrix_power(Wd, 3), atol=1e-14)


def _geometric_instance(N: int, K: int) -> object:
    return instance_from_dict({
        "seed": 0, "model": {"deadline_policy": "relax"},
        "servers": [{"name": f"s{k}", "position": [200.0 * k, 0.0], "parallel_limit": max(2, N // (2 * K))}
                    for k in range(K)],
        "topology": {"kind": "random_geometric", "radius": 0.25, "seed": 1},
        "devices": [{"dnn": "lenet", "count": N, "alpha": 0.45, "beta": 0.15, "gamma": 0.4,
                     "bandwidth_hz": 1500.0, "channel_gain": 1.2e6}],
    })


def test_uai_runs_on_sparse_weights_with_both_remedies(monkeypatch):
    inst = _geometric_instance(40, 2)
    monkeypatch.setattr(topology, "DENSE_MAX_DEVICES", 10)   # take the CSR path at this small size
    calls = []
    real = estimate_weights
    monkeypatch.setattr("mecopt.game.dynamics.estimate_weights",
                        lambda W, views: calls.append(sparse.issparse(W)) or real(W, views))
    sol = solve_uai(inst, engine="dp", seed=0, max_iter=300, polish_after=30, consensus_rounds=2)
    assert calls and all(calls)
    assert sol.certificate["certified"] and sol.info["consensus_rounds"] == 2
    assert sol.info["edges"] > 0
