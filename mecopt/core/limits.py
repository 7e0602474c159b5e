"""Validation limits: the sizes the solvers handle and the range of every derived number.

Sizes (layers per DNN, devices, slots) are chosen from the measurements of
``benchmarks/bench_limits.py`` (``benchmarks/results/limits.csv``, docs/reliability.md).
Ranges keep every number a solver sees finite and within a span HiGHS and the DP handle
(a time of 1e6 s is 11.6 days, far above any frame or deadline the model describes).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from mecopt.core.tolerances import capacity_limit

if TYPE_CHECKING:
    from mecopt.core.instance import Instance

#: layers per DNN (the chain the DP, the MILP network and the checker walk)
MAX_LAYERS = 1000
#: devices in one instance (sum of ``count``): the game reaches a certified equilibrium for 50,000
#: devices in about 2 minutes and 1 GB (``benchmarks/bench_scale.py``); GTPOS is bounded separately
#: by :data:`MAX_GTPOS_ARCS`
MAX_DEVICES = 100_000
#: edge servers in one instance ([[servers]]); the game handles 10,000 devices on 100 servers
#: (``benchmarks/bench_multiserver.py``)
MAX_SERVERS = 1000
#: reachable (device, server) pairs: each is a resolved device (layer times, rates, prices)
MAX_LINKS = 500_000
#: server slots H
MAX_SLOTS = 1000
#: largest feature-map element count of one layer (C x H x W)
MAX_ELEMENTS = 10**12
#: H x (M+1)^2 per device: the DP best response holds several (H, M+1, M+1) arrays (a 1,000-layer
#: chain with H = 5, 5e6 cells, peaked at 365 MiB), the best-response MILP up to H M (M+1) / 2 block arcs
MAX_DP_CELLS = 2 * 10**7
#: block arcs of the whole GTPOS model (sum over devices of H x the blocks that fit a slot): two
#: 500-layer chains (2.5e6 arcs) took 43 s to build and solve
MAX_GTPOS_ARCS = 3 * 10**6

#: largest derived time (layer times, totals, upload/download, frame, deadline), seconds
MAX_TIME_S = 1e6
#: smallest frame T_d, seconds
MIN_FRAME_S = 1e-6
#: largest per-layer price load S (20)-(21) and per-slot price coefficient a_h, b_h
MAX_PRICE = 1e12
#: largest possible cost C_n (23) of any strategy
MAX_COST = 1e18

#: GTPOS time limit when none is given (seconds): a run ends, reporting ``time_limit``, with its incumbent
DEFAULT_GTPOS_TIME_LIMIT_S = 3600.0


def gtpos_arcs(instance: Instance, distinct: bool = False) -> int:
    """Block arcs of the GTPOS model, summed over the servers.

    Per server view and device: H x the blocks j+1..m whose server time fits T_d/H (17); with
    ``distinct`` only once per distinct layer-time vector on a server (GTPOS models identical
    devices once).

    Parameters
    ----------
    instance : Instance
        Any number of servers (a device counts on every server it reaches).
    distinct : bool, default False
        Count a device's layer-time vector once per server.

    Returns
    -------
    int
    """
    total = 0
    for k in range(instance.K):
        view = instance.view(k)
        server = view.server
        cap = capacity_limit(server.slot_len)
        seen: set[bytes] = set()
        for d in view.instance.devices:
            if distinct:
                key = d.t_server.tobytes()
                if key in seen:
                    continue
                seen.add(key)
            pt = np.concatenate([[0.0], np.cumsum(d.t_server[1:])])
            last = np.searchsorted(pt, pt[:-1] + cap, side="right") - 1
            total += int(np.sum(last - np.arange(d.M))) * server.H
    return total
