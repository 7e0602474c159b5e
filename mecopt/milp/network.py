"""The per-device path network shared by the best-response MILP and GTPOS.

A strategy of one MD (docs/MODEL.md §4) is a local prefix 1..j (partition point
m* = j, eq. 18) followed by contiguous *blocks* of layers in strictly increasing
server slots (15)-(16). It is a path from ``src`` to ``sink`` in a small acyclic
network with nodes ``U[j,h]`` = "layers 1..j placed, the next block goes to slot
h or later" (j = 0..M-1, h = 1..H):

========  ===========================  ============================================
kind      arc                          meaning
========  ===========================  ============================================
LOCAL     src -> sink                  every layer local (m* = M)
START     src -> U[j,1]                layers 1..j local, upload j's output (j < M)
BLOCK     U[j,h] -> U[m,h+1]           z[j,m,h]: layers j+1..m run in slot h;
          U[j,h] -> sink  (m = M)      a final block: h_max = h (24)
WAIT      U[j,h] -> U[j,h+1]           slot h not used
========  ===========================  ============================================

A path uses at most one block per slot, so the MD's own load in slot h is that
of a single block and the own-load square of the price (19) is a per-block
constant. The delay (24) is START (local + upload + download) plus the final
block's h T_d/H; the energy (25) is on the START arc. The arc-node matrix is a
network matrix: without side constraints the LP relaxation is integral.

Blocks whose own server time exceeds T_d/H can never satisfy (17) and are left
out (the DP's rule and tolerance), as are arcs on no src-sink path.

:func:`add_device` writes the network on a Pyomo block together with the
paper's binary tensor y[m,h] (14) and the constraints stated on y: (15) one slot
per layer, (16) slots non-decreasing along the chain, the link between y and the
path (layer by layer, each arc in two rows: again a network matrix), the slot-use
indicator u[h] of (27), the delay (24) and energy (25) as linear expressions of
y, and the deadline (26) in two exact forms (the paper's row on y, and clique
rows on the path that keep the LP tight). Capacity (17), the parallel limit (27)
and the objective depend on the model (best response or GTPOS) and are added
there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyomo.environ as pyo

from mecopt.core.instance import Device, Server
from mecopt.core.problem import layer_weights
from mecopt.core.tolerances import capacity_limit

LOCAL, START, BLOCK, WAIT = range(4)
#: relative tolerance of the deadline (26), the same as the DP's
DEADLINE_REL = 1e-12


def block_fits(t: np.ndarray | float, cap: np.ndarray | float) -> np.ndarray:
    """(17) for one block of server time ``t`` against capacity ``cap`` (the DP's rule and tolerance).

    Parameters
    ----------
    t : numpy.ndarray or float
        Server time of the block in seconds.
    cap : numpy.ndarray or float
        Capacity in seconds.

    Returns
    -------
    numpy.ndarray
        Whether it fits (element-wise).
    """
    return np.asarray(t) <= capacity_limit(np.asarray(cap, dtype=float))


@dataclass(frozen=True)
class DeviceNetwork:
    """Arcs of one device's network (numpy arrays, one entry per arc).

    Attributes
    ----------
    M : int
        Number of layers.
    H : int
        Number of slots.
    n_nodes : int
        Number of nodes.
    kind : numpy.ndarray
        Arc kind (LOCAL, START, BLOCK, WAIT)
    tail : numpy.ndarray
        Node ids; 0 = src, 1 = sink.
    head : numpy.ndarray
        Head node of each arc.
    j : numpy.ndarray
        START: partition point; BLOCK: layers j+1..m.
    m : numpy.ndarray
        BLOCK: its last layer.
    h : numpy.ndarray
        BLOCK / WAIT: slot.
    s_blk : numpy.ndarray
        BLOCK: price load sum S_{n,m} (20)-(21); 0 elsewhere.
    t_blk : numpy.ndarray
        BLOCK: server time sum T^se; 0 elsewhere.
    w_blk : numpy.ndarray
        BLOCK: sum of tie weights w_m of its layers; 0 elsewhere.
    start_delay : numpy.ndarray
        (M+1,) local time + upload + download of partition point j (inf at M)
    start_energy : numpy.ndarray
        (M+1,) P_lo local time + P_up upload of partition point j.
    local_delay : float
        Delay of the all-local strategy.
    local_energy : float
        Energy of the all-local strategy.
    hcap : numpy.ndarray
        (M+1,) largest h_max meeting (26) after partition point j (0: none)
    local_ok : bool
        Fully local meets (26)
    delay_ok : float
        Largest delay meeting (26) (-inf if none)
    delay_bad : float
        Smallest delay violating (26) (inf if none)
    delay_max : float
        Largest delay of any strategy.
    """

    M: int
    H: int
    n_nodes: int
    kind: np.ndarray     # arc kind (LOCAL, START, BLOCK, WAIT)
    tail: np.ndarray     # node ids; 0 = src, 1 = sink
    head: np.ndarray
    j: np.ndarray        # START: partition point; BLOCK: layers j+1..m
    m: np.ndarray
    h: np.ndarray        # BLOCK / WAIT: slot
    s_blk: np.ndarray    # BLOCK: price load sum S_{n,m} (20)-(21); 0 elsewhere
    t_blk: np.ndarray    # BLOCK: server time sum T^se; 0 elsewhere
    w_blk: np.ndarray    # BLOCK: sum of tie weights w_m of its layers; 0 elsewhere
    start_delay: np.ndarray   # (M+1,) local time + upload + download of partition point j (inf at M)
    start_energy: np.ndarray  # (M+1,) P_lo local time + P_up upload of partition point j
    local_delay: float
    local_energy: float
    hcap: np.ndarray     # (M+1,) largest h_max meeting (26) after partition point j (0: none)
    local_ok: bool       # fully local meets (26)
    delay_ok: float      # largest delay meeting (26) (-inf if none)
    delay_bad: float     # smallest delay violating (26) (inf if none)
    delay_max: float     # largest delay of any strategy

    @property
    def n_arcs(self) -> int:
        """Number of arcs of the network."""
        return len(self.kind)

    def arcs(self, kind: int) -> np.ndarray:
        """Indices of the arcs of kind ``kind``.

        Parameters
        ----------
        kind : int
            An arc kind.

        Returns
        -------
        numpy.ndarray
            The arc indices.
        """
        return np.flatnonzero(self.kind == kind)

    def finals(self) -> np.ndarray:
        """Block arcs that end the path (their slot is h_max of eq. 24).

        Returns
        -------
        numpy.ndarray
            The arc indices.
        """
        return np.flatnonzero((self.kind == BLOCK) & (self.m == self.M))

    def path(self, slots: np.ndarray) -> list[int] | None:
        """The arcs of strategy ``slots`` (slot per layer).

        Or None if the network lacks one of them (a block over T_d/H, which (17) forbids anyway).

        Parameters
        ----------
        slots : numpy.ndarray
            The strategy: the slot of each layer (0 = local).

        Returns
        -------
        list[int] or None
            The arcs, or None.
        """
        s = np.asarray(slots, dtype=int)
        index = self._index()
        j = int(np.count_nonzero(s == 0))
        if j == self.M:
            a = index.get((LOCAL, self.M, self.M, 0))
            return None if a is None else [int(a)]
        arcs = [index.get((START, j, j, 0))]
        pos, slot = j, 1
        while pos < self.M:
            h = int(s[pos])
            end = pos
            while end < self.M and s[end] == h:
                end += 1
            arcs += [index.get((WAIT, pos, pos, k)) for k in range(slot, h)]
            arcs.append(index.get((BLOCK, pos, end, h)))
            pos, slot = end, h + 1
        return None if any(a is None for a in arcs) else [int(a) for a in arcs]

    def _index(self) -> dict:
        idx = self.__dict__.get("_idx")
        if idx is None:
            idx = {(int(k), int(a), int(b), int(c)): i
                   for i, (k, a, b, c) in enumerate(zip(self.kind, self.j, self.m, self.h))}
            object.__setattr__(self, "_idx", idx)
        return idx


def prune_arcs(tail: np.ndarray, head: np.ndarray, n_nodes: int) -> np.ndarray:
    """Mask of the arcs on some src (node 0) -> sink (node 1) path of an acyclic network.

    Parameters
    ----------
    tail : numpy.ndarray
        Tail node of each arc.
    head : numpy.ndarray
        Head node of each arc.
    n_nodes : int
        Number of nodes.

    Returns
    -------
    numpy.ndarray
        The mask, one entry per arc.
    """
    fwd = np.zeros(n_nodes, bool)
    fwd[0] = True
    bwd = np.zeros(n_nodes, bool)
    bwd[1] = True
    while True:  # propagate to a fixpoint (a path has at most 2H + 1 arcs)
        new_f = fwd.copy()
        new_f[head[fwd[tail]]] = True
        new_b = bwd.copy()
        new_b[tail[bwd[head]]] = True
        if (new_f == fwd).all() and (new_b == bwd).all():
            break
        fwd, bwd = new_f, new_b
    return fwd[tail] & bwd[head]


def canonical_cuts(t_server: np.ndarray, cap: float) -> dict[int, int]:
    """Blocks of the greedy packing from the last layer backwards: end layer -> start (block start+1..end).

    Packing greedily from either end gives the fewest blocks of server time <= cap; from the
    end, the cuts do not depend on where the offloaded part begins.

    Parameters
    ----------
    t_server : numpy.ndarray
        T^se per layer, index 0 the input.
    cap : float
        The block capacity.

    Returns
    -------
    dict[int, int]
        End layer -> start of its block.
    """
    M = len(t_server) - 1
    PT = np.concatenate([[0.0], np.cumsum(t_server[1:])])
    out, end = {}, M
    while end > 0:
        start = end
        while start > 0 and block_fits(PT[end] - PT[start - 1], cap):
            start -= 1
        if start == end:  # layer `end` alone exceeds cap: nothing before it can be offloaded
            break
        out[end] = start
        end = start
    return out


def build_network(dev: Device, server: Server, canonical: bool = False) -> DeviceNetwork:
    """The network of ``dev`` (blocks limited by the static capacity T_d/H of (17)).

    ``canonical``: keep only the blocks of :func:`canonical_cuts` (the first one cut short at
    the partition point). Valid where the cost depends only on (m*, h_max) and the coupling only on
    the slots used and the per-device capacity (GTPOS, ``per_device`` mode): any strategy can be
    re-cut into these fewest blocks, put into a subset of its slots that keeps its last slot.

    Parameters
    ----------
    dev : Device
        The MD.
    server : Server
        Its server.
    canonical : bool, default False
        Whether only the fewest-blocks packing of each partition is kept.

    Returns
    -------
    DeviceNetwork
        The network.
    """
    M, H, dt = dev.M, server.H, server.slot_len
    PT = np.concatenate([[0.0], np.cumsum(dev.t_server[1:])])
    PS = np.concatenate([[0.0], np.cumsum(dev.S[1:])])
    PW = np.concatenate([[0.0], np.cumsum(layer_weights(M))])

    def U(j, h):
        return 2 + j * H + (h - 1)

    n_nodes = 2 + M * H
    rows = [(LOCAL, 0, 1, M, M, 0)]
    rows += [(START, 0, U(j, 1), j, j, 0) for j in range(M)]
    cuts = canonical_cuts(dev.t_server, dt) if canonical else None
    fits = block_fits(PT[None, :] - PT[:, None], dt)   # fits[j, m]: block j+1..m meets (17), tested at once
    for j in range(M):
        for m in range(j + 1, M + 1):
            if not fits[j, m]:
                continue
            if cuts is not None and not (m in cuts and cuts[m] <= j):
                continue
            for h in range(1, H + 1):
                if m == M:
                    rows.append((BLOCK, U(j, h), 1, j, m, h))
                elif h < H:
                    rows.append((BLOCK, U(j, h), U(m, h + 1), j, m, h))
    rows += [(WAIT, U(j, h), U(j, h + 1), j, j, h) for h in range(1, H) for j in range(M)]
    arr = np.array(rows, dtype=np.int64)
    tail, head = arr[:, 1], arr[:, 2]

    arr = arr[prune_arcs(tail, head, n_nodes)]
    kind, tail, head, j, m, h = (arr[:, i] for i in range(6))

    blk = kind == BLOCK
    s_blk = np.where(blk, PS[m] - PS[j], 0.0)
    t_blk = np.where(blk, PT[m] - PT[j], 0.0)
    w_blk = np.where(blk, PW[m] - PW[j], 0.0)

    lc = dev.local_cum
    t_up = dev.t_up[:M + 1]
    start_delay = lc + t_up + dev.t_down
    start_delay[M] = np.inf
    start_energy = dev.P_lo * lc + dev.P_up * t_up
    local_delay = float(lc[M])
    local_energy = float(dev.P_lo * lc[M])

    # (26): the DP's rule, delay_start[j] + h dt <= tau (1 + 1e-12)
    tau = dev.tau * (1 + DEADLINE_REL)
    hs = np.arange(1, H + 1)
    delays = start_delay[:M, None] + hs[None, :] * dt          # (M, H)
    ok = delays <= tau
    hcap = np.concatenate([ok.sum(axis=1), [0]])               # ok is monotone in h
    local_ok = bool(local_delay <= tau)
    all_d = np.concatenate([delays.ravel(), [local_delay]])
    all_ok = np.concatenate([ok.ravel(), [local_ok]])
    delay_ok = float(all_d[all_ok].max()) if all_ok.any() else -np.inf
    delay_bad = float(all_d[~all_ok].min()) if (~all_ok).any() else np.inf
    return DeviceNetwork(M=M, H=H, n_nodes=n_nodes, kind=kind, tail=tail, head=head, j=j, m=m, h=h,
                         s_blk=s_blk, t_blk=t_blk, w_blk=w_blk, start_delay=start_delay,
                         start_energy=start_energy, local_delay=local_delay, local_energy=local_energy,
                         hcap=hcap, local_ok=local_ok, delay_ok=delay_ok, delay_bad=delay_bad,
                         delay_max=float(all_d.max()))


def add_device(b: pyo.Block, dev: Device, server: Server, net: DeviceNetwork, *, own_load: bool = False) -> None:
    """Write the device's network, its tensor y and (15), (16), (24)-(26), (27)'s indicator on block ``b``.

    Components: ``f[a]`` arc flows (binary), ``y[m,h]`` (14), ``u[h]`` = 1(sum_m y[m,h]) (27),
    expressions ``delay`` (24), ``energy`` (25), ``server_time[h]`` (17), and with
    ``own_load`` a variable ``own_load[h]`` = S_n^h (19)-(21). Param ``deadline_on`` (mutable, 1 =
    enforce (26)) switches the deadline rows.

    Parameters
    ----------
    b : pyo.Block
        The block.
    dev : Device
        The MD.
    server : Server
        Its server.
    net : DeviceNetwork
        Its network.
    own_load : bool, default False
        Whether to add the variable ``own_load[h]`` = S_n^h (19)-(21).
    """
    M, H = dev.M, server.H
    A = range(net.n_arcs)
    L = range(1, M + 1)
    b.f = pyo.Var(A, within=pyo.Binary)
    b.y = pyo.Var(L, range(H + 1), within=pyo.Binary)
    b.u = pyo.Var(range(1, H + 1), within=pyo.Binary)
    f, y, u = b.f, b.y, b.u

    # flow conservation: src emits one unit, every inner node passes it on
    out_arcs, in_arcs, nodes = adjacency(net.tail, net.head)

    def flow_rule(_, node):
        out = pyo.quicksum(f[a] for a in out_arcs.get(node, []))
        if node == 0:
            return out == 1
        return out - pyo.quicksum(f[a] for a in in_arcs.get(node, [])) == 0

    b.flow = pyo.Constraint(nodes, rule=flow_rule)

    # y <-> path, layer by layer: layer m is in slot h iff layer m-1 is and no block of slot h
    # ends at m-1, or a block of slot h starts at m (h = 0: the local prefix goes on unless
    # the path starts at j = m-1). Each arc enters two rows: a network matrix again.
    begins: dict[tuple[int, int], list[int]] = {}
    ends: dict[tuple[int, int], list[int]] = {}
    for a in net.arcs(START):
        begins.setdefault((int(net.j[a]), 0), []).append(a)
    for a in net.arcs(BLOCK):
        begins.setdefault((int(net.j[a]), int(net.h[a])), []).append(a)
        ends.setdefault((int(net.m[a]), int(net.h[a])), []).append(a)

    def link_rule(_, m, h):
        prev = (1 if h == 0 else 0) if m == 1 else y[m - 1, h]
        if h == 0:  # a START at j = m-1 ends the local prefix before m
            change = -pyo.quicksum(f[a] for a in begins.get((m - 1, 0), []))
        else:
            change = (pyo.quicksum(f[a] for a in begins.get((m - 1, h), []))
                      - pyo.quicksum(f[a] for a in ends.get((m - 1, h), [])))
        return y[m, h] == prev + change

    b.link_y = pyo.Constraint(L, range(H + 1), rule=link_rule)

    def onehot_rule(_, m):
        """(15): every layer runs in exactly one place."""
        return pyo.quicksum(y[m, h] for h in range(H + 1)) == 1

    b.onehot = pyo.Constraint(L, rule=onehot_rule)

    def order_rule(_, m, h):
        """(16): slot(m+1) >= slot(m), i.e. sum_{h'<=h} y[m+1,h'] <= sum_{h'<=h} y[m,h']."""
        return (pyo.quicksum(y[m + 1, k] for k in range(h + 1))
                <= pyo.quicksum(y[m, k] for k in range(h + 1)))

    b.order = pyo.Constraint(range(1, M), range(H), rule=order_rule)

    # (27)'s indicator u[h] = 1(sum_m y[m,h]): on y (u >= every y[m,h]) and on the path
    # (u = the number of the MD's blocks in slot h, at most one by construction)
    blocks_in = {h: [a for a in net.arcs(BLOCK) if net.h[a] == h] for h in range(1, H + 1)}

    def ind_rule(_, h):
        """(27): u[h] >= 1(sum_m y[m,h]), as sum_m y[m,h] <= M u[h]."""
        return pyo.quicksum(y[m, h] for m in L) <= M * u[h]

    b.indicator = pyo.Constraint(range(1, H + 1), rule=ind_rule)

    def used_rule(_, h):
        return u[h] == pyo.quicksum(f[a] for a in blocks_in[h]) if blocks_in[h] else u[h] == 0

    b.link_u = pyo.Constraint(range(1, H + 1), rule=used_rule)

    # (24) and (25) on y: the partition indicator of j is y[j,0] - y[j+1,0] (y[0,0] = 1), h_max = sum_h h y[M,h]
    t_up = dev.t_up
    y0 = [1.0] + [y[m, 0] for m in L]  # y0[m] = y[m,0]

    def part(jj):  # 1 iff the partition point m* (18) is jj < M
        return y0[jj] - y0[jj + 1]

    dt = server.slot_len
    b.delay = pyo.Expression(expr=(
        pyo.quicksum(float(dev.t_local[m]) * y[m, 0] for m in L)
        + pyo.quicksum(float(t_up[jj]) * part(jj) for jj in range(M))
        + dev.t_down * (1 - y[M, 0])
        + pyo.quicksum(h * dt * y[M, h] for h in range(1, H + 1))))
    b.energy = pyo.Expression(expr=(
        pyo.quicksum(dev.P_lo * float(dev.t_local[m]) * y[m, 0] for m in L)
        + pyo.quicksum(dev.P_up * float(t_up[jj]) * part(jj) for jj in range(M))))
    b.server_time = pyo.Expression(range(1, H + 1), rule=lambda _, h: pyo.quicksum(
        float(dev.t_server[m]) * y[m, h] for m in L if dev.t_server[m] != 0))

    if own_load:
        b.own_load = pyo.Var(range(1, H + 1), within=pyo.NonNegativeReals)

        def load_rule(_, h):
            """S_n^h = sum_m S_{n,m} y[m,h] (19)-(21)."""
            return b.own_load[h] == pyo.quicksum(float(dev.S[m]) * y[m, h] for m in L if dev.S[m] != 0)

        b.link_load = pyo.Constraint(range(1, H + 1), rule=load_rule)

    # (26): T_n <= tau_n, switched by deadline_on
    b.deadline_on = pyo.Param(initialize=1, mutable=True, within=pyo.Binary)
    add_deadline(b, net)


def add_deadline(b: pyo.Block, net: DeviceNetwork) -> None:
    """(26) T_n <= tau_n in two exact forms, both off when ``b.deadline_on`` = 0.

    * On y (the paper's row): delay(y) <= rhs, with rhs halfway between the largest delay
      meeting (26) and the smallest violating it (so the solver's feasibility tolerance
      cannot admit a violating strategy), plus a slack when switched off.
    * On the path: a path's delay depends only on its START j and the slot h of its final
      block, so (26) forbids the pairs h > hcap(j). For each c = 1..H, the starts with
      hcap < c and the final blocks in slots >= c pairwise exclude each other:
      sum x_j + sum z_final <= 1 (a clique). Fully local is forbidden by x_loc <= 0 when it
      misses tau. These rows alone are exact (no tolerance) and keep the LP tight.

    Parameters
    ----------
    b : pyo.Block
        The device's block.
    net : DeviceNetwork
        Its network.
    """
    f = b.f
    on = b.deadline_on
    big = net.delay_max + 1.0
    if np.isfinite(net.delay_bad):
        rhs = (net.delay_ok + net.delay_bad) / 2 if np.isfinite(net.delay_ok) else net.delay_bad / 2
    else:
        rhs = big
    b.deadline = pyo.Constraint(expr=b.delay <= rhs + (1 - on) * (big - rhs))
    starts, ends = net.arcs(START), net.finals()
    cliques = {}
    for c in range(1, net.H + 1):
        xs = [a for a in starts if net.hcap[net.j[a]] < c]
        es = [a for a in ends if net.h[a] >= c]
        if xs and es:
            cliques[c] = (xs, es)
    b.deadline_pairs = pyo.Constraint(list(cliques), rule=lambda _, c: (
        pyo.quicksum(f[a] for a in cliques[c][0] + cliques[c][1]) <= 2 - on))
    loc = net.arcs(LOCAL)
    if not net.local_ok and len(loc):
        b.deadline_local = pyo.Constraint(expr=f[int(loc[0])] <= 1 - on)


def add_overrun(b: pyo.Block, dev: Device) -> None:
    """Soft deadline (26'): a continuous ``b.overrun`` >= T_n - tau_n, >= 0 (seconds).

    With a positive cost on ``overrun`` in a minimized objective it equals max(0, T_n - tau_n) at
    every optimum, so adding pi_n * overrun prices :func:`mecopt.core.cost.deadline_penalty` exactly.

    Parameters
    ----------
    b : pyo.Block
        The device's block.
    dev : Device
        The MD.
    """
    b.overrun = pyo.Var(within=pyo.NonNegativeReals)
    b.overrun_row = pyo.Constraint(expr=b.overrun >= b.delay - float(dev.tau))


def adjacency(tail, head) -> tuple[dict[int, list[int]], dict[int, list[int]], list[int]]:
    """Arcs leaving and entering each node.

    And the nodes that carry flow conservation (all but the sink, node 1; the source, node 0, emits the supply).

    Parameters
    ----------
    tail : array_like
        Tail node of each arc.
    head : array_like
        Head node of each arc.

    Returns
    -------
    tuple[dict[int, list[int]], dict[int, list[int]], list[int]]
        (leaving arcs per node, entering arcs per node, nodes with flow conservation).
    """
    out_arcs: dict[int, list[int]] = {}
    in_arcs: dict[int, list[int]] = {}
    for a, (t, h) in enumerate(zip(tail, head)):
        out_arcs.setdefault(int(t), []).append(a)
        in_arcs.setdefault(int(h), []).append(a)
    return out_arcs, in_arcs, sorted((set(out_arcs) | set(in_arcs)) - {1})

