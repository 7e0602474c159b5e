"""Device classes and their aggregated path networks: the data every GTPOS backend solves.

**Classes.** Two MDs are in one class when every number the GTPOS model reads from
them is equal (bit for bit): layer counts and times, upload/download times, the
deadline and whether it is relaxed, and the coefficients of the objective in use
(``delay``: nothing more; ``energy``: P_lo, P_up; ``social``: also alpha c^T and
beta c^E). Prices (gamma, delta, S) do not enter GTPOS. A class of ``count`` MDs is
modelled once, by an integer flow of ``count`` units through the class's network:
an integral flow of value k in an acyclic network with unit source supply per MD
decomposes into k src-sink paths, one strategy per MD, and every coupling of
GTPOS — (17) in mode total, (27) — and its objective are sums over MDs of
quantities that are linear in the arcs of each path. So the aggregated model has
exactly the disaggregated optimum (tested on random small instances in both
capacity modes), and its size does not grow with the class size.

**The class network.** The per-device network of :mod:`mecopt.milp.network`
(START j, BLOCK (j, m, h), WAIT, LOCAL), with the deadline (26) built into its
structure instead of side rows: a path's delay depends only on its START j and the
slot h_max of its final block, and (26) allows h_max <= hcap(j). The arcs behind
START j are therefore a copy of the network restricted to slots 1..hcap(j), one
copy per distinct value of hcap among the starts (:func:`deadline_caps` — the only
place where (26) enters GTPOS). A flow can then never pair a START with a final
slot its deadline forbids, whatever its decomposition, and no tolerance is
involved (hcap is computed by the DP's rule). Per-device capacity (17) is
structural too: blocks over T_d/H are not arcs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mecopt.core.cost import deadline_penalty, penalty_unit
from mecopt.core.errors import InputError
from mecopt.core.instance import Device, Instance, Server
from mecopt.milp.network import BLOCK, LOCAL, START, WAIT, build_network, prune_arcs

OBJECTIVES = ("delay", "social", "energy")


def servers(instance: Instance) -> tuple[Server, ...]:
    """The instance's servers, in order (one server: a tuple of one).

    Parameters
    ----------
    instance : Instance

    Returns
    -------
    tuple of Server
    """
    return tuple(instance.view(k).server for k in range(instance.K))


def _link_key(dev: Device, objective: str) -> tuple:
    """What GTPOS reads from ``dev`` (a device on one link) under ``objective``."""
    key = (dev.M, dev.t_local.tobytes(), dev.t_server.tobytes(), dev.t_up.tobytes(), float(dev.t_down),
           float(dev.tau), bool(dev.deadline_relaxed), bool(dev.deadline_soft), float(dev.deadline_penalty_per_s))
    if objective in ("energy", "social"):
        key += (float(dev.P_lo), float(dev.P_up))
    if objective == "social":
        key += (float(dev.alpha * dev.c_T), float(dev.beta * dev.c_E))
    return key


def class_key(instance: Instance, n: int, objective: str, views=None) -> tuple:
    """What GTPOS reads from MD ``n`` under ``objective``; equal keys = one class.

    The servers MD ``n`` reaches and, on each of those links, its layer counts and times,
    upload/download times (8), (10), deadline (26) and its relaxation, and the objective's
    coefficients (``energy``: P_lo, P_up; ``social``: also alpha c^T and beta c^E).

    Parameters
    ----------
    instance : Instance
    n : int
        Device index.
    objective : {"delay", "social", "energy"}
    views : sequence of ServerView, optional
        ``instance.view(k)`` for every k, when already at hand.

    Returns
    -------
    tuple
    """
    out = []
    for k in instance.reachable(n):
        v = instance.view(k) if views is None else views[k]
        out.append((k, _link_key(v.instance.devices[int(v.local[n])], objective)))
    return tuple(out)


def device_classes(instance: Instance, objective: str = "delay", aggregate: bool = True) -> list[tuple[int, ...]]:
    """The MDs grouped into classes (tuples of device indices, in index order, classes by first member).

    Parameters
    ----------
    instance : Instance
    objective : {"delay", "social", "energy"}
    aggregate : bool
        False: one class per MD (the disaggregated model).

    Returns
    -------
    list of tuple of int
        Grouped by :func:`class_key`.
    """
    if not aggregate:
        return [(n,) for n in range(instance.N)]
    views = [instance.view(k) for k in range(instance.K)]
    groups: dict[tuple, list[int]] = {}
    for n in range(instance.N):
        groups.setdefault(class_key(instance, n, objective, views), []).append(n)
    return [tuple(g) for g in groups.values()]


def deadline_caps(dev: Device, server: Server, hcap: np.ndarray) -> np.ndarray:
    """(26) for GTPOS: the last slot allowed after partition point j (0 = START j is not allowed).

    ``hcap`` is the DP's rule from :func:`mecopt.milp.network.build_network`; an MD relaxed by
    ``deadline_policy = "relax"`` or priced by ``"soft"`` may use every slot (under "soft" the
    penalty is an arc cost instead, see :func:`build_class_network`).

    Parameters
    ----------
    dev : Device
        The MD.
    server : Server
        Its server.
    hcap : numpy.ndarray
        The DP's last allowed slot per partition point.

    Returns
    -------
    numpy.ndarray
        The last allowed slot per partition point j, shape (M+1,).
    """
    if dev.deadline_relaxed or dev.deadline_soft:
        return np.full(dev.M + 1, server.H, dtype=int)
    return np.asarray(hcap, dtype=int)


@dataclass(frozen=True)
class LinkNetwork:
    """One class's network on one server (link): arcs as numpy arrays (one entry per arc); node 0 = src, 1 = sink.

    Attributes
    ----------
    dev : Device
        The representative MD.
    members : tuple[int, ...]
        Device indices of the class.
    H : int
        Number of slots.
    n_nodes : int
        Number of nodes.
    kind : numpy.ndarray
        Arc kind (LOCAL, START, BLOCK, WAIT).
    tail : numpy.ndarray
        Tail node of each arc.
    head : numpy.ndarray
        Head node of each arc.
    j : numpy.ndarray
        START: partition point; BLOCK: layers j+1..m.
    m : numpy.ndarray
        BLOCK: its last layer.
    h : numpy.ndarray
        BLOCK / WAIT: slot.
    cap : numpy.ndarray
        The largest slot of the copy an arc belongs to; 0 for LOCAL.
    copy : numpy.ndarray
        The copy an arc belongs to (= cap, or one per partition point under "soft")
    t_blk : numpy.ndarray
        BLOCK: its server time (17)
    delay : numpy.ndarray
        Contribution to T_n (24): START / LOCAL / final blocks.
    energy : numpy.ndarray
        Contribution to E_n (25): START / LOCAL.
    penalty : numpy.ndarray
        Soft deadline: pi max(0, T - tau) in C_n units, on LOCAL / final blocks.
    s_blk : numpy.ndarray or None
        BLOCK: its price load S (20)-(21) (tpos-best's potential); 0 elsewhere.
    ub : numpy.ndarray or None
        Per arc, the most flow it may carry (None: ``count`` on every arc); set only by the merged
        server networks of :mod:`mecopt.milp.decomposition`.
    """

    dev: Device             # the representative MD
    members: tuple[int, ...]
    H: int
    n_nodes: int
    kind: np.ndarray
    tail: np.ndarray
    head: np.ndarray
    j: np.ndarray           # START: partition point; BLOCK: layers j+1..m
    m: np.ndarray
    h: np.ndarray           # BLOCK / WAIT: slot
    cap: np.ndarray         # the largest slot of the copy an arc belongs to; 0 for LOCAL
    copy: np.ndarray        # the copy an arc belongs to (= cap, or one per partition point under "soft")
    t_blk: np.ndarray       # BLOCK: its server time (17)
    delay: np.ndarray       # contribution to T_n (24): START / LOCAL / final blocks
    energy: np.ndarray      # contribution to E_n (25): START / LOCAL
    penalty: np.ndarray     # soft deadline: pi max(0, T - tau) in C_n units, on LOCAL / final blocks
    s_blk: np.ndarray | None = None   # BLOCK: its price load S (20)-(21) (tpos-best's potential); 0 elsewhere
    ub: np.ndarray | None = None      # per arc, the most flow it may carry (None: count)

    @property
    def count(self) -> int:
        """Number of MDs in the class."""
        return len(self.members)

    @property
    def n_arcs(self) -> int:
        """Number of arcs of the class's network."""
        return len(self.kind)

    def cost(self, objective: str) -> np.ndarray:
        """Per-unit arc cost of ``objective`` (before the 1/N of delay and energy).

        Under the soft deadline policy plus the penalty in the objective's unit (docs/MODEL.md Part B).

        Parameters
        ----------
        objective : str
            The GTPOS objective: ``delay``, ``energy`` or ``social``.

        Returns
        -------
        numpy.ndarray
            Cost per arc.

        Raises
        ------
        InputError
            For an unknown objective.
        """
        d = self.dev
        if objective == "delay":
            base = self.delay
        elif objective == "energy":
            base = self.energy
        else:
            base = d.alpha * d.c_T * self.delay + d.beta * d.c_E * self.energy
        if not d.deadline_soft:
            return base
        unit = penalty_unit(d, objective)
        if unit <= 0:
            field = {"delay": "cost_delay_per_s", "energy": "cost_energy_per_j"}[objective]
            raise InputError(f"GTPOS objective {objective!r} with deadline_policy \"soft\" converts the penalty "
                             f"with device {d.name}'s {field}, which is 0; use objective \"social\"")
        return base + self.penalty / unit

    def blocks_in(self, h: int) -> np.ndarray:
        """Indices of the block arcs in slot ``h``.

        Parameters
        ----------
        h : int
            A slot.

        Returns
        -------
        numpy.ndarray
            The arc indices.
        """
        return np.flatnonzero((self.kind == BLOCK) & (self.h == h))

    def slots_of_path(self, arcs: list[int]) -> np.ndarray:
        """The strategy (slot of each layer, 0 = local) of a src-sink path.

        Parameters
        ----------
        arcs : list[int]
            The arcs of a path.

        Returns
        -------
        numpy.ndarray
            The slot of each layer.
        """
        s = np.zeros(self.dev.M, dtype=int)
        for a in arcs:
            if self.kind[a] == BLOCK:
                s[self.j[a]:self.m[a]] = self.h[a]
        return s

    def path_of_slots(self, slots) -> list[int] | None:
        """The arcs of strategy ``slots`` in this network.

        (None when it is not a path here: a block over T_d/H, a deadline miss, or a non-canonical block).

        Parameters
        ----------
        slots : array_like
            The strategy: the slot of each layer (0 = local).

        Returns
        -------
        list[int] or None
            The arcs, or None when the strategy is not a path here.
        """
        s = np.asarray(slots, dtype=int)
        M = self.dev.M
        jj = int(np.count_nonzero(s == 0))
        if jj == M:
            a = np.flatnonzero(self.kind == LOCAL)
            return [int(a[0])] if len(a) else None
        blocks, pos = [], jj
        while pos < M:
            end = pos
            while end < M and s[end] == s[pos]:
                end += 1
            blocks.append((pos, end, int(s[pos])))
            pos = end
        c = blocks[-1][2]
        idx = self._index()
        st = idx.get((START, jj, jj, 0, None))
        if st is None or self.cap[st] < c:
            return None
        c = int(self.copy[st])
        arcs, slot = [st], 1
        for (a, b, h) in blocks:
            arcs += [idx.get((WAIT, a, a, k, c)) for k in range(slot, h)]
            arcs.append(idx.get((BLOCK, a, b, h, c)))
            slot = h + 1
        return None if any(x is None for x in arcs) else [int(x) for x in arcs]

    def _index(self) -> dict:
        idx = self.__dict__.get("_idx")
        if idx is None:
            idx = {}
            for i, (k, a, b, c, cp) in enumerate(zip(self.kind, self.j, self.m, self.h, self.copy)):
                idx[(int(k), int(a), int(b), int(c), None if k == START else int(cp))] = i
            object.__setattr__(self, "_idx", idx)
        return idx

    def decompose(self, flow) -> list[np.ndarray]:
        """Split an integral flow of value ``count`` into ``count`` strategies (one per member).

        Deterministic: from src, always the lowest-numbered arc with flow left.

        Parameters
        ----------
        flow : array_like
            The integral flow per arc.

        Returns
        -------
        list[numpy.ndarray]
            ``count`` strategies.

        Raises
        ------
        ValueError
            When the flow is not a decomposable integral flow of value ``count``.
        """
        f = np.rint(np.asarray(flow, dtype=float)).astype(int)
        out_arcs: dict[int, list[int]] = {}
        for a in np.argsort(self.tail, kind="stable"):
            out_arcs.setdefault(int(self.tail[a]), []).append(int(a))
        paths = []
        for _ in range(self.count):
            node, arcs = 0, []
            while node != 1:
                nxt = next((a for a in out_arcs.get(node, []) if f[a] > 0), None)
                if nxt is None:
                    raise ValueError("not a flow of value count (conservation broken)")
                f[nxt] -= 1
                arcs.append(nxt)
                node = int(self.head[nxt])
            paths.append(self.slots_of_path(arcs))
        if f.any():
            raise ValueError("flow left after decomposition (not a src-sink flow)")
        return paths


def start_costs(dev: Device, base, objective: str) -> np.ndarray:
    """(M+1,) objective cost of partition point j before the server part (START arcs; [M] = all local).

    Parameters
    ----------
    dev : Device
        The MD.
    base : object
        The link's per-partition delays and energies.
    objective : str
        The GTPOS objective: ``delay``, ``energy`` or ``social``.

    Returns
    -------
    numpy.ndarray
        Cost per partition point, shape (M+1,).
    """
    d = np.append(base.start_delay[:dev.M], base.local_delay)
    e = np.append(base.start_energy[:dev.M], base.local_energy)
    if objective == "delay":
        return d
    if objective == "energy":
        return e
    return dev.alpha * dev.c_T * d + dev.beta * dev.c_E * e


def undominated_starts(starts: list[int], caps: np.ndarray, cost: np.ndarray, local_ok: bool) -> list[int]:
    """Partition points not dominated by a later one (docs/milp.md §3).

    START j is dominated by j' > j (or by all-local, j' = M) when cost[j'] <= cost[j] and j' allows at
    least the slots j allows: moving layers j+1..j' of any strategy from j local keeps every block a
    contiguous block (shorter, or gone), lowers the server time of every slot, uses no new slot,
    keeps h_max or lowers it, so it stays feasible for (15)-(17), (26), (27) and costs no more
    (the cost of a path is cost[j] plus h_max T_d/H for the delay). So dropping j loses no optimum.

    Parameters
    ----------
    starts : list[int]
        The partition points.
    caps : numpy.ndarray
        The last allowed slot per partition point.
    cost : numpy.ndarray
        The cost per partition point.
    local_ok : bool
        Whether all-local is allowed.

    Returns
    -------
    list[int]
        The partition points kept.
    """
    M = len(caps) - 1
    cands = [(float(cost[j]), int(caps[j]), j) for j in starts]
    if local_ok:
        cands.append((float(cost[M]), M * 10 + 10 ** 6, M))  # all-local allows "every slot" (uses none)
    return [j for c, k, j in cands
            if j != M and not any(j2 > j and c2 <= c and k2 >= k for c2, k2, j2 in cands)]


def build_link_network(instance: Instance, members: tuple[int, ...], canonical: bool,
                       objective: str = "delay", prune: bool = True) -> LinkNetwork:
    """The network of the class ``members`` on the server of ``instance`` (see the module docstring).

    Parameters
    ----------
    instance : Instance
        One server's view (:meth:`Instance.view`): a single-server instance of its devices.
    members : tuple of int
        The class's device indices in ``instance``.
    canonical : bool
        Fewest-blocks packings only.
    objective : {"delay", "social", "energy"}
        The objective, for the dominance of partition points.
    prune : bool
        Drop dominated partition points.

    Returns
    -------
    LinkNetwork
    """
    dev, server = instance.devices[members[0]], instance.view(0).server
    base = build_network(dev, server, canonical=canonical)
    M, H, dt = dev.M, server.H, server.slot_len
    caps = deadline_caps(dev, server, base.hcap)
    soft = bool(dev.deadline_soft)
    local_ok = bool(dev.deadline_relaxed or soft or base.local_ok)
    starts = [int(base.j[a]) for a in base.arcs(START) if caps[base.j[a]] >= 1]
    if prune and not soft:  # the dominance argument needs a hard (or no) deadline: the penalty is not monotone in cost
        starts = undominated_starts(starts, caps, start_costs(dev, base, objective), local_ok)
    # one copy of the block network per distinct cap; under "soft" one per partition point, so that a
    # final block knows its path's start and can carry the penalty of (start, last slot)
    copy_of = {j: (int(caps[j]) + (H + 1) * (j + 1) if soft else int(caps[j])) for j in starts}
    copies = sorted(set(copy_of.values()))
    cidx = {c: i for i, c in enumerate(copies)}

    def U(c, j, h):   # node of (copy c, layer j, slot h); vectorised over j and h
        return 2 + (cidx[c] * M + j) * H + (h - 1)

    rows = []  # kind, tail, head, j, m, h, cap, copy
    if local_ok:
        rows.append((LOCAL, 0, 1, M, M, 0, 0, 0))
    for j in starts:
        rows.append((START, 0, U(copy_of[j], j, 1), j, j, 0, int(caps[j]), copy_of[j]))
    parts = [np.array(rows, dtype=np.int64).reshape(-1, 8)]
    blk = base.arcs(BLOCK)
    bj, bm, bh = (np.asarray(x[blk], dtype=np.int64) for x in (base.j, base.m, base.h))
    wj, wh = np.tile(np.arange(M), H), np.repeat(np.arange(1, H + 1), M)   # WAIT arcs, slot-major as before
    for c in copies:
        cap_c = c % (H + 1)
        keep = (bh <= cap_c) & ((bm == M) | (bh < cap_c))
        j, m, h = bj[keep], bm[keep], bh[keep]
        head = np.where(m == M, 1, U(c, m, h + 1))
        n_b = len(j)
        parts.append(np.column_stack([np.full(n_b, BLOCK), U(c, j, h), head, j, m, h, np.full(n_b, cap_c),
                                      np.full(n_b, c)]))
        w = wh < cap_c
        n_w = int(w.sum())
        parts.append(np.column_stack([np.full(n_w, WAIT), U(c, wj[w], wh[w]), U(c, wj[w], wh[w] + 1), wj[w], wj[w],
                                      wh[w], np.full(n_w, cap_c), np.full(n_w, c)]))
    n_nodes = 2 + len(copies) * M * H
    arr = np.concatenate(parts).astype(np.int64)
    arr = arr[prune_arcs(arr[:, 1], arr[:, 2], n_nodes)]
    kind, tail, head, j, m, h, cap, copy = (arr[:, i] for i in range(8))
    PT = np.concatenate([[0.0], np.cumsum(dev.t_server[1:])])
    isb = kind == BLOCK
    t_blk = np.where(isb, PT[m] - PT[j], 0.0)
    delay = np.zeros(len(kind))
    energy = np.zeros(len(kind))
    st = kind == START
    delay[st] = base.start_delay[j[st]]
    energy[st] = base.start_energy[j[st]]
    loc = kind == LOCAL
    delay[loc] = base.local_delay
    energy[loc] = base.local_energy
    fin = isb & (m == M)
    delay[fin] = h[fin] * dt
    penalty = np.zeros(len(kind))
    if soft:  # the path's delay is its start's plus h_max T_d/H (24): priced on the arc that ends it
        owner = copy // (H + 1) - 1
        penalty[loc] = deadline_penalty(dev, base.local_delay)
        penalty[fin] = deadline_penalty(dev, base.start_delay[owner[fin]] + h[fin] * dt)
    PS = np.concatenate([[0.0], np.cumsum(dev.S[1:])])
    s_blk = np.where(isb, PS[m] - PS[j], 0.0)
    return LinkNetwork(dev=dev, members=tuple(members), H=H, n_nodes=n_nodes, kind=kind, tail=tail, head=head,
                        j=j, m=m, h=h, cap=cap, copy=copy, t_blk=t_blk, delay=delay, energy=energy,
                        penalty=penalty, s_blk=s_blk)


def columns(instance: Instance) -> list[tuple[int, int]]:
    """The slot columns of the GTPOS model, in order: (server k, slot h) for g = 1, 2, ...

    (one server: (0, 1..H); several: server 0's slots, then server 1's, ...).

    Parameters
    ----------
    instance : Instance
        The instance.

    Returns
    -------
    list[tuple[int, int]]
        (server k, slot h) per column.
    """
    return [(k, h) for k, sv in enumerate(servers(instance)) for h in range(1, sv.H + 1)]


def column_offsets(instance: Instance) -> np.ndarray:
    """(K+1,) the column before each server's first slot: column g = offsets[k] + h.

    Parameters
    ----------
    instance : Instance
        The instance.

    Returns
    -------
    numpy.ndarray
        The offsets, shape (K+1,).
    """
    return np.concatenate([[0], np.cumsum([sv.H for sv in servers(instance)])]).astype(int)


@dataclass(frozen=True)
class ClassNetwork(LinkNetwork):
    """A class's network: its per-server networks joined at the source and the sink (one server: that one).

    ``subs[i]`` is server ``servers[i]``'s :class:`LinkNetwork` (built on that server's view of
    the members) and ``arc_map[i]`` the class index of each of its arcs (-1 for a LOCAL arc left
    out: all-local is one strategy, the same on every link, and the class keeps the first). Here
    ``h`` is the column offsets[k] + h of a BLOCK or WAIT arc (:func:`columns`), ``server`` the
    server of every arc (-1 for LOCAL) and ``slot`` its slot on that server. ``dev`` is the
    representative's device of the whole instance. With one server the arcs are those of its
    :class:`LinkNetwork`, in the same order.

    Attributes
    ----------
    server : numpy.ndarray or None
        Per arc, its server (None: one server).
    slot : numpy.ndarray or None
        Per arc, its slot column (None: one server).
    servers : tuple[int, ...]
        The servers the class reaches.
    subs : tuple[LinkNetwork, ...]
        The class's network on each server.
    arc_map : tuple[numpy.ndarray, ...]
        Per server, the arcs of its network in this one.
    local_arc : int
        The class's LOCAL arc (-1: all-local is not allowed)
    """

    server: np.ndarray | None = None
    slot: np.ndarray | None = None
    servers: tuple[int, ...] = ()
    subs: tuple[LinkNetwork, ...] = ()
    arc_map: tuple[np.ndarray, ...] = ()
    local_arc: int = -1     # the class's LOCAL arc (-1: all-local is not allowed)

    def cost(self, objective: str) -> np.ndarray:
        """Per-unit arc cost of ``objective``, each arc with its own link's data (:meth:`LinkNetwork.cost`).

        Parameters
        ----------
        objective : str
            The GTPOS objective: ``delay``, ``energy`` or ``social``.

        Returns
        -------
        numpy.ndarray
            Cost per arc.
        """
        out = np.zeros(self.n_arcs)
        for sub, amap in zip(self.subs, self.arc_map):
            keep = amap >= 0
            out[amap[keep]] = sub.cost(objective)[keep]
        return out

    def slots_of_path(self, arcs: list[int]) -> tuple[int, np.ndarray]:
        """(server, strategy) of a src-sink path: server -1 and all zeros for the all-local arc.

        Parameters
        ----------
        arcs : list[int]
            The arcs of a path.

        Returns
        -------
        tuple[int, numpy.ndarray]
            (server, slot of each layer).
        """
        s = np.zeros(self.dev.M, dtype=int)
        k = -1
        for a in arcs:
            if self.kind[a] == BLOCK:
                s[self.j[a]:self.m[a]] = self.slot[a]
                k = int(self.server[a])
        return k, s

    def path_of_slots(self, slots, server: int | None = None) -> list[int] | None:
        """The arcs of strategy ``slots`` on ``server`` (ignored when all local; None: the class's only server).

        Or None when it is not a path here.

        Parameters
        ----------
        slots : array_like
            The strategy: the slot of each layer (0 = local).
        server : int or None, default None
            The server (None: the class's only server).

        Returns
        -------
        list[int] or None
            The arcs, or None when the strategy is not a path here.
        """
        s = np.asarray(slots, dtype=int)
        if not s.any():
            return [self.local_arc] if self.local_arc >= 0 else None
        if server is None and len(self.servers) == 1:
            server = self.servers[0]
        if server not in self.servers:
            return None
        i = self.servers.index(server)
        p = self.subs[i].path_of_slots(s)
        if p is None:
            return None
        arcs = [int(self.arc_map[i][a]) for a in p]
        return None if any(a < 0 for a in arcs) else arcs


_INT_FIELDS = ("kind", "tail", "head", "j", "m", "h", "cap", "copy")
_FLOAT_FIELDS = ("t_blk", "delay", "energy", "penalty", "s_blk")


def build_class_network(instance: Instance, members: tuple[int, ...], canonical: bool, objective: str = "delay",
                        prune: bool = True) -> ClassNetwork:
    """The network of the class ``members``: the union of its per-server networks (:class:`ClassNetwork`).

    Parameters
    ----------
    instance : Instance
    members : tuple of int
        The class's device indices (:func:`device_classes`).
    canonical : bool
        Fewest-blocks packings only.
    objective : {"delay", "social", "energy"}
    prune : bool
        Drop dominated partition points.

    Returns
    -------
    ClassNetwork
    """
    offsets = column_offsets(instance)
    reach = instance.reachable(members[0])
    subs, maps, parts = [], [], []
    next_node, local_arc, n_arcs = 2, -1, 0
    for k in reach:
        v = instance.view(k)
        sub = build_link_network(v.instance, tuple(int(v.local[n]) for n in members), canonical, objective, prune)
        keep = np.ones(sub.n_arcs, dtype=bool)
        loc = np.flatnonzero(sub.kind == LOCAL)
        if len(loc):
            if local_arc >= 0:
                keep[loc] = False   # all-local is one strategy, whatever the server
            else:
                local_arc = n_arcs + int(loc[0])
        amap = np.full(sub.n_arcs, -1, dtype=int)
        amap[keep] = n_arcs + np.arange(int(keep.sum()))
        n_arcs += int(keep.sum())
        part = {f: getattr(sub, f)[keep].astype(np.int64) for f in _INT_FIELDS}
        part.update({f: getattr(sub, f)[keep].astype(float) for f in _FLOAT_FIELDS})
        for end in ("tail", "head"):
            part[end] = np.where(part[end] >= 2, part[end] + next_node - 2, part[end])
        timed = np.isin(part["kind"], (BLOCK, WAIT))
        part["slot"] = part["h"].copy()
        part["h"] = np.where(timed, part["h"] + int(offsets[k]), 0)
        part["server"] = np.where(part["kind"] == LOCAL, -1, k).astype(np.int64)
        parts.append(part)
        next_node += sub.n_nodes - 2
        subs.append(sub)
        maps.append(amap)
    cat = {f: np.concatenate([p[f] for p in parts]) if parts else np.zeros(0, dtype=np.int64 if f not in _FLOAT_FIELDS
                                                                             else float)
           for f in (*_INT_FIELDS, *_FLOAT_FIELDS, "server", "slot")}
    return ClassNetwork(dev=instance.devices[members[0]], members=tuple(members), H=int(offsets[-1]),
                        n_nodes=next_node, servers=tuple(reach), subs=tuple(subs), arc_map=tuple(maps),
                        local_arc=local_arc, **cat)


def class_networks(instance: Instance, objective: str = "delay", aggregate: bool = True,
                   canonical: bool | None = None, prune: bool = True,
                   check: Callable[[], None] | None = None) -> list[ClassNetwork]:
    """Every class's network.

    ``canonical`` (default: on in mode per_device, where it is exact; docs/milp.md §3) keeps only the fewest-blocks
    packing of each partition. With several servers Returns a :class:`ClassNetwork` per class of :func:`device_classes`.

    Parameters
    ----------
    instance : Instance
        The instance.
    objective : str, default 'delay'
        The GTPOS objective: ``delay``, ``energy`` or ``social``.
    aggregate : bool, default True
        Whether identical MDs share one class network.
    canonical : bool or None, default None
        Keep only the fewest-blocks packing of each partition (None: on in ``per_device`` mode, where it is exact).
    prune : bool, default True
        Whether arcs on no source-sink path are dropped.
    check : callable, optional
        Called before each class is built (a method's time budget: it raises to stop the build).

    Returns
    -------
    list[ClassNetwork]
        One network per class.
    """
    if canonical is None:
        canonical = servers(instance)[0].capacity_mode == "per_device"
    nets = []
    for members in device_classes(instance, objective, aggregate):
        if check is not None:
            check()
        nets.append(build_class_network(instance, members, canonical, objective, prune))
    return nets


def profile_from_flows(instance: Instance, nets: list[ClassNetwork], flows: list) -> list[np.ndarray]:
    """Disaggregate: each class's flow -> one strategy per member (the profile, in device order).

    With several servers use :func:`assignment_from_flows` (the servers too).

    Parameters
    ----------
    instance : Instance
        The instance.
    nets : list[ClassNetwork]
        The class networks.
    flows : list
        Each class's arc flows.

    Returns
    -------
    list[numpy.ndarray]
        One strategy per MD, in device order.
    """
    return assignment_from_flows(instance, nets, flows)[0]


def assignment_from_flows(instance: Instance, nets: list[ClassNetwork],
                          flows: list) -> tuple[list[np.ndarray], np.ndarray | None]:
    """Disaggregate: (profile, server_of).

    ``server_of`` is each MD's server (-1 = all local, docs/multiserver.md), None with one server (where a Solution
    carries none).

    Parameters
    ----------
    instance : Instance
        The instance.
    nets : list[ClassNetwork]
        The class networks.
    flows : list
        Each class's arc flows.

    Returns
    -------
    tuple[list[numpy.ndarray], numpy.ndarray | None]
        (profile, server_of); ``server_of`` None with one server.
    """
    profile: list = [None] * instance.N
    server_of = np.full(instance.N, -1, dtype=int)
    for net, f in zip(nets, flows):
        for n, (k, s) in zip(net.members, net.decompose(f)):
            server_of[n], profile[n] = k, s
    return profile, (server_of if instance.K > 1 else None)


def flows_from_profile(nets: list[ClassNetwork], profile, server_of=None) -> list[np.ndarray] | None:
    """The class flows of a profile (None when some strategy is not a path of its network).

    ``server_of`` gives each MD's server with several servers.

    Parameters
    ----------
    nets : list[ClassNetwork]
        The class networks.
    profile : list of array_like
        One strategy per MD.
    server_of : array_like or None, default None
        The server of each MD (None with one server).

    Returns
    -------
    list[numpy.ndarray] or None
        Each class's arc flows, or None.
    """
    out = []
    for net in nets:
        f = np.zeros(net.n_arcs, dtype=int)
        for n in net.members:
            p = net.path_of_slots(profile[n], None if server_of is None else int(server_of[n]))
            if p is None:
                return None
            f[p] += 1
        out.append(f)
    return out
