"""GTPOS decomposed by server: a Lagrangian bound at the root and a primal from per-server optima.

With several servers GTPOS is K single-server problems tied together only by the association
(15s): each device offloads to at most one server (or stays local). Relaxing that constraint with
a multiplier per device class gives the Lagrangian dual used here (docs/milp.md §3.10).

**The relaxation.** Write l_n = 1 when MD n is all local and z_nk = 1 when it offloads to server k;
(15s) is l_n + sum_k z_nk = 1. Move it into the objective with a multiplier -s_n (s_n is a price of
"being elsewhere"). What remains separates:

* per server k, W_k(s) = min over the devices that reach k of sum_n [cost of n's path on k, or
  s_n if n is not on k], subject to server k's (17), (26), (27): a *single-server GTPOS* on k's
  view (:meth:`~mecopt.core.instance.Instance.view`) in which every class also has a *skip* arc
  src -> sink of cost s_c (the class's LOCAL arc re-priced, or an added arc when all-local is not
  allowed);
* per device, the local choice: min(0, c_L,n - s_n) when all-local is allowed, else 0.

For any s, L(s) = sum_k W_k(s) + sum_n [allowed_n min(0, c_L,n - s_n) + s_n (1 - r_n)] (r_n = the
servers MD n reaches) is a lower bound on the GTPOS optimum (weak duality), and stays one when
each W_k is replaced by its solver's proven bound, so a time-limited subproblem still gives a valid
bound (and when a solver stops with none, by the uncoupled bound: each class on its cheapest path
on k or skipped). Multipliers are taken per device class (identical devices get equal ones: a restriction of
the dual, still a valid bound). The start is s_c = c_L (the all-local cost; for a class that must
offload, its cheapest path on any server): there W_k is simply "which devices would server k take if
it were alone" and L(s) = sum_k W_k - sum_n (r_n - 1) c_L,n.

**Primal.** The per-server solutions conflict only where a class is taken by more servers than it
has devices. Keeping, for each class, its cheapest offers (at most ``count``, and only those
cheaper than all-local when that is allowed) and sending the rest local removes blocks from
servers, which keeps (17) and (27); the result is a feasible GTPOS profile (checked by the
networks: it is a flow of the union model). When no class is over-taken and every W_k is proven,
the primal's value equals L(s): **the decomposition proves the optimum on its own**.

**Dual ascent.** Otherwise the multipliers move by subgradient steps (Polyak's step on the best
primal) for a few rounds, re-solving only the servers whose prices changed; then the full union
model (:mod:`mecopt.milp.gtpos`) runs for the time left, and the better incumbent and the larger
bound of the two are reported.

**Shared server parts.** Classes that run the same layers on a server differ only in their first arcs
(local and upload parts); a subproblem solves them on one network with an entry arc per class
(:func:`merge_suffixes`), and closes the arcs that cannot beat skipping at its prices
(:func:`useless_arcs`); the full model shares them across the whole union model
(:func:`merge_classes`, mapped back by :func:`class_flows`). All exact (docs/milp.md §3.10); they remove
the symmetry between classes that makes CP-SAT and HiGHS explore equal blocks once per class.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, fields

import numpy as np

from mecopt.core.errors import SolverError
from mecopt.core.instance import Instance
from mecopt.milp.backends.base import Backend, Limits
from mecopt.milp.backends.status import Report
from mecopt.milp.classes import ClassNetwork, LinkNetwork, flows_from_profile
from mecopt.milp.network import BLOCK, LOCAL

#: share of the time limit the decomposition's rounds may use before the full model gets the rest. It was 0.25
#: with 0.5 for the first round until 2026-12-08: a first round that proves every server part is the cheapest
#: proof there is (bench mixed-K4-total-n200: proven in 16 s under a 120 s limit, not under 60 s when the round had
#: 15 s), and on bench mixed-K4-total-n50 the rounds that close the Lagrangian bound on the optimum end at 151 s
#: (see MAX_ROUNDS)
DECOMPOSITION_SHARE = 0.5
#: most subgradient rounds (each re-solves the servers whose prices moved); the time limit's share above ends them
#: sooner. bench mixed-K4-total-n50 (CP-SAT) closes only at round 15 (151 s; the Lagrangian bound equals the optimum
#: 25.2413258, no duality gap), after 8 rounds its gap was 0.054 % and the full model never closed it (0.012 % at 900 s)
MAX_ROUNDS = 30


@dataclass(frozen=True)
class PricedNetwork(LinkNetwork):
    """A class's network on one server with its own arc costs (the skip arc priced at s_c).

    Attributes
    ----------
    prices : numpy.ndarray
        Cost per arc in the objective's unit (before the objective's 1/N).
    """

    prices: np.ndarray | None = None

    def cost(self, objective: str) -> np.ndarray:
        """The arc costs of this network, whatever ``objective`` (they were computed for it).

        Parameters
        ----------
        objective : str
            Ignored.

        Returns
        -------
        numpy.ndarray
        """
        assert self.prices is not None
        return self.prices


#: arc kind of a merged network's entry arcs (src -> the entry node of one class; not a layer arc)
ENTRY = 4


@dataclass
class ServerPart:
    """Server k's subproblem: the classes that reach it, each on its :class:`LinkNetwork` with a skip arc.

    Classes whose networks on k differ only in their first arcs (LOCAL / START: local and upload parts)
    share one *merged* network (:func:`merge_suffixes`), which is what the solver sees.

    Attributes
    ----------
    k : int
        The server.
    instance : Instance
        Its view (a single-server instance of the devices that reach it).
    classes : list of int
        The global class of each network.
    nets : list of LinkNetwork
        Each class's network on k, with a skip arc.
    base : list of numpy.ndarray
        Each network's arc costs (the skip arc's entry is replaced by the class's s_c).
    skip : list of int
        The skip arc of each network.
    groups : list of list of int
        Positions in ``classes`` solved on one network (a group of one: the class's own network).
    solved : list of LinkNetwork
        The network of each group (merged when the group has several classes).
    solved_base : list of numpy.ndarray
        Its arc costs.
    solved_skip : list of numpy.ndarray
        Its skip arc of each class of the group.
    owner : list of numpy.ndarray
        Per arc of each group's network, the position in ``classes`` of the class it belongs to (-1: shared).
    prune : bool
        Close the arcs that cannot beat skipping at the prices of the solve (:func:`useless_arcs`).
    """

    k: int
    instance: Instance
    classes: list[int]
    nets: list[LinkNetwork]
    base: list[np.ndarray]
    skip: list[int]
    groups: list[list[int]] = field(default_factory=list)
    solved: list[LinkNetwork] = field(default_factory=list)
    solved_base: list[np.ndarray] = field(default_factory=list)
    solved_skip: list[np.ndarray] = field(default_factory=list)
    owner: list[np.ndarray] = field(default_factory=list)
    prune: bool = True

    def __post_init__(self) -> None:
        if not self.groups:
            self.merge(False)

    def merge(self, on: bool = True) -> None:
        """Set the networks solved: merged suffixes where possible (``on``), else one per class."""
        self.groups, self.solved, self.solved_base, self.solved_skip, self.owner = [], [], [], [], []
        for group in (suffix_groups(self.nets) if on else [[i] for i in range(len(self.nets))]):
            got = merge_suffixes([self.nets[i] for i in group], [self.base[i] for i in group],
                                 [self.skip[i] for i in group]) if len(group) > 1 else None
            if got is None:   # alone, or the suffixes disagree on some arc: each class on its own network
                for i in group:
                    self.groups.append([i])
                    self.solved.append(self.nets[i])
                    self.solved_base.append(self.base[i])
                    self.solved_skip.append(np.array([self.skip[i]]))
                    self.owner.append(np.full(self.nets[i].n_arcs, i))
                continue
            net, base, skips, owner = got
            self.groups.append(list(group))
            self.solved.append(net)
            self.solved_base.append(base)
            self.solved_skip.append(skips)
            self.owner.append(np.where(owner >= 0, np.asarray(group)[np.maximum(owner, 0)], -1))

    def priced(self, s: np.ndarray) -> list[PricedNetwork]:
        """The networks solved, with the skip arc of class c costing ``s[c]``."""
        out = []
        for group, net, base, skips in zip(self.groups, self.solved, self.solved_base, self.solved_skip):
            prices = base.copy()
            skip_price = np.array([s[self.classes[i]] for i in group], dtype=float)
            prices[skips] = skip_price
            data = {f.name: getattr(net, f.name) for f in fields(LinkNetwork)}
            if self.prune:
                ub = np.full(net.n_arcs, net.count, dtype=np.int64) if net.ub is None else net.ub.copy()
                ub[useless_arcs(net, prices, skips, skip_price)] = 0
                data["ub"] = ub
            out.append(PricedNetwork(**data, prices=prices))
        return out


def suffix_groups(nets: list[LinkNetwork]) -> list[list[int]]:
    """Classes (positions in ``nets``) whose networks on one server may share their suffix.

    Same layer count and server times and no soft deadline: then the arcs after START (blocks, waits) of
    each copy (deadline cap) are built from the same data (:func:`merge_suffixes`).

    Parameters
    ----------
    nets : list of LinkNetwork
        Networks on one server.

    Returns
    -------
    list of list of int
    """
    groups: dict[tuple, list[int]] = {}
    for i, net in enumerate(nets):
        d = net.dev
        key: tuple = (i,) if d.deadline_soft else (d.M, d.t_server.tobytes(), net.H)
        groups.setdefault(key, []).append(i)
    return list(groups.values())


def merge_suffixes(nets: list[LinkNetwork], bases: list[np.ndarray], skips: list[int]):
    """One network for classes that differ only in their first arcs (LOCAL / skip and START).

    Node 0 gets an ENTRY arc to a new entry node per class, carrying at most (so, the supply being the sum,
    exactly) that class's count; each class's arcs out of src leave its entry node instead; the arcs after
    START (blocks and waits; node U[copy, j, h] of every network is one node) are their union.
    **Exact:** the unpruned block network behind a START of a given copy (deadline cap) is built from the
    server times, M, H, T_d/H and the cap only (:func:`mecopt.milp.classes.build_link_network`), equal in the
    group; each class's network keeps every arc of it on a src-sink path, so a path of the merged network
    through class c's entry is a path of c's own network, and vice versa. An integral flow splits into one path
    per unit, ``count_c`` of them through c's entry: the merged problem has the same optimum and integral points
    as the classes' networks side by side, without the symmetry between them (blocks of one class exchanged
    with the same blocks of another).

    Parameters
    ----------
    nets : list of LinkNetwork
        The classes' networks on one server (each with its skip arc).
    bases : list of numpy.ndarray
        Their arc costs.
    skips : list of int
        Their skip arcs.

    Returns
    -------
    tuple or None
        (network, arc costs, skip arc of each class, owner per arc: the position in ``nets`` of the class whose
        entry / first arc it is, -1 for a shared arc), or None when two networks disagree on a shared arc.
    """
    G = len(nets)
    M, H = nets[0].dev.M, nets[0].H
    # the nodes after START in one numbering: node U[copy, j, h] of every network is (copy, j, h)
    renumber: list[dict[int, int]] = []
    common: dict[tuple, int] = {}
    for net in nets:
        local: dict[int, int] = {0: 0, 1: 1}
        for a in np.flatnonzero(net.kind != LOCAL):
            for node in (int(net.tail[a]), int(net.head[a])):
                if node not in local:
                    local[node] = common.setdefault((int(net.copy[a]), (node - 2) % (M * H)), 2 + len(common))
        renumber.append(local)
    n0 = 2 + len(common)
    per = {f.name: [] for f in fields(LinkNetwork) if isinstance(getattr(nets[0], f.name), np.ndarray)}
    cost: list[float] = []
    owner: list[int] = []
    skip_arcs = np.zeros(G, dtype=int)

    def add(net: LinkNetwork, a: int, c: float, who: int, tail: int, head: int) -> None:
        for name, col in per.items():
            col.append(getattr(net, name)[a])
        per["tail"][-1], per["head"][-1] = tail, head
        cost.append(c)
        owner.append(who)

    for g in range(G):   # the entry arcs first: a path's first arc names its class
        per_arc = {name: 0 for name in per}
        per_arc.update(kind=ENTRY, tail=0, head=n0 + g, j=M, m=M)
        for name, col in per.items():
            col.append(per_arc[name])
        cost.append(0.0)
        owner.append(g)
    for g, (net, base, ren) in enumerate(zip(nets, bases, renumber)):
        for a in np.flatnonzero(net.tail == 0):
            if a == skips[g]:
                skip_arcs[g] = len(cost)
            add(net, int(a), float(base[a]), g, n0 + g, ren[int(net.head[a])])
    shared: dict[tuple, tuple] = {}
    for net, base, ren in zip(nets, bases, renumber):
        for a in np.flatnonzero(net.tail != 0):
            tail, head = ren[int(net.tail[a])], ren[int(net.head[a])]
            key = (int(net.kind[a]), tail, head, int(net.j[a]), int(net.m[a]), int(net.h[a]))
            data = (float(net.t_blk[a]), float(base[a]), int(net.copy[a]), int(net.cap[a]))
            if key in shared:
                if shared[key] != data:
                    return None
                continue
            shared[key] = data
            add(net, int(a), float(base[a]), -1, tail, head)
    arrays = {name: np.asarray(col, dtype=getattr(nets[0], name).dtype) for name, col in per.items()}
    ub = np.full(len(cost), sum(net.count for net in nets), dtype=np.int64)
    ub[:G] = [net.count for net in nets]
    arrays["ub"] = ub
    others = {f.name: getattr(nets[0], f.name) for f in fields(LinkNetwork)
              if f.name not in arrays and f.name not in ("members", "n_nodes")}
    merged = LinkNetwork(**others, **arrays, members=tuple(n for net in nets for n in net.members), n_nodes=n0 + G)
    return merged, np.asarray(cost), skip_arcs, np.asarray(owner)


@dataclass(frozen=True)
class MergedClasses(PricedNetwork):
    """Several classes of the union model on one network (:func:`merge_classes`): entry arcs first.

    Attributes
    ----------
    server : numpy.ndarray or None
        Per arc, its server (-1: entry and LOCAL arcs).
    slot : numpy.ndarray or None
        Per arc, its slot on that server.
    owner : numpy.ndarray or None
        Per arc, the class (index in the union model) whose entry or first arc it is, -1 for a shared arc.
    """

    server: np.ndarray | None = None
    slot: np.ndarray | None = None
    owner: np.ndarray | None = None


def merge_classes(nets: list[ClassNetwork], objective: str) -> list[LinkNetwork]:
    """The union model's classes with their server parts shared: one network per group of classes.

    Classes that run the same layers on a server (same M, H_k and server times there; no soft deadline) share,
    on that server, the arcs after START (:func:`merge_suffixes`, whose exactness argument holds server by
    server); each class keeps its own entry arc (at most its count), LOCAL and START arcs. Classes are grouped
    when they agree on some server (union-find); a group whose shared arcs disagree anywhere stays apart.

    Parameters
    ----------
    nets : list of ClassNetwork
    objective : str

    Returns
    -------
    list of LinkNetwork
        A :class:`MergedClasses` per group of several classes, the class's own network otherwise (same order of
        first classes).
    """
    parent = list(range(len(nets)))

    def find(c: int) -> int:
        while parent[c] != c:
            parent[c] = parent[parent[c]]
            c = parent[c]
        return c

    seen: dict[tuple, int] = {}
    for c, net in enumerate(nets):
        if net.dev.deadline_soft:
            continue
        for k, sub in zip(net.servers, net.subs):
            key = (k, sub.dev.M, sub.H, sub.dev.t_server.tobytes())
            if key in seen:
                parent[find(c)] = find(seen[key])
            else:
                seen[key] = c
    groups: dict[int, list[int]] = {}
    for c in range(len(nets)):
        groups.setdefault(find(c), []).append(c)
    out: list[LinkNetwork] = []
    for group in sorted(groups.values()):
        merged = merged_group([nets[c] for c in group], group, objective) if len(group) > 1 else None
        out += [merged] if merged is not None else [nets[c] for c in group]
    return out


def merged_group(nets: list[ClassNetwork], classes: list[int], objective: str) -> MergedClasses | None:
    """The network of :func:`merge_classes` for one group (None when two classes disagree on a shared arc)."""
    G = len(nets)
    node_of: dict[tuple, int] = {}
    cols = ("kind", "tail", "head", "j", "m", "h", "cap", "copy", "t_blk", "delay", "energy", "penalty", "s_blk",
            "server", "slot")
    rows: list[tuple] = []
    cost: list[float] = []
    owner: list[int] = []
    shared: dict[tuple, tuple] = {}
    for g, net in enumerate(nets):   # the entry arcs first: a path's first arc names its class
        rows.append((ENTRY, 0, None, net.dev.M, net.dev.M, 0, 0, 0, 0.0, 0.0, 0.0, 0.0, 0.0, -1, 0))
        cost.append(0.0)
        owner.append(classes[g])
    local_rows = []
    for g, net in enumerate(nets):
        c_all = np.asarray(net.cost(objective), dtype=float)
        for i, (k, sub) in enumerate(zip(net.servers, net.subs)):
            M, H = sub.dev.M, sub.H
            amap = net.arc_map[i]

            def node(x: int, a: int, k=k, M=M, H=H, sub=sub) -> int | None:
                if x < 2:
                    return x
                return node_of.setdefault((k, int(sub.copy[a]), (x - 2) % (M * H)), 2 + len(node_of))

            for a in np.flatnonzero(amap >= 0):
                u = int(amap[a])
                vals = tuple(getattr(net, f)[u] for f in cols)
                tail, head = node(int(sub.tail[a]), int(a)), node(int(sub.head[a]), int(a))
                if sub.tail[a] == 0:   # LOCAL / START: the class's own, from its entry node
                    local_rows.append((g, vals, head, float(c_all[u])))
                    continue
                key = (k, int(sub.kind[a]), tail, head, int(sub.j[a]), int(sub.m[a]), int(sub.h[a]))
                data = (float(sub.t_blk[a]), float(c_all[u]), int(sub.copy[a]), int(sub.cap[a]))
                if key in shared:
                    if shared[key] != data:
                        return None
                    continue
                shared[key] = data
                rows.append(vals[:1] + (tail, head) + vals[3:])
                cost.append(float(c_all[u]))
                owner.append(-1)
    n0 = 2 + len(node_of)
    for g in range(G):
        rows[g] = rows[g][:2] + (n0 + g,) + rows[g][3:]
    for g, vals, head, c in local_rows:
        rows.append(vals[:1] + (n0 + g, head) + vals[3:])
        cost.append(c)
        owner.append(classes[g])
    arr = {f: np.array([r[i] for r in rows], dtype=float if f in ("t_blk", "delay", "energy", "penalty", "s_blk")
                       else np.int64) for i, f in enumerate(cols)}
    ub = np.full(len(rows), sum(net.count for net in nets), dtype=np.int64)
    ub[:G] = [net.count for net in nets]
    return MergedClasses(dev=nets[0].dev, members=tuple(n for net in nets for n in net.members), H=nets[0].H,
                         n_nodes=n0 + G, ub=ub, prices=np.asarray(cost), owner=np.asarray(owner), **arr)


def class_flows(nets: list[ClassNetwork], solved: list[LinkNetwork], flows: list) -> list[np.ndarray] | None:
    """The union model's class flows of a solution of the :func:`merge_classes` networks.

    Parameters
    ----------
    nets : list of ClassNetwork
        The union model's classes.
    solved : list of LinkNetwork
        The networks solved (merged or a class's own, in :func:`merge_classes`'s order).
    flows : list of numpy.ndarray
        Their flows.

    Returns
    -------
    list of numpy.ndarray or None
    """
    index = {net.members: c for c, net in enumerate(nets)}
    out: list = [None] * len(nets)
    for net, f in zip(solved, flows):
        if not isinstance(net, MergedClasses):
            out[index[net.members]] = np.asarray(f, dtype=int)
            continue
        assert net.owner is not None and net.server is not None and net.slot is not None
        for c in set(int(o) for o in net.owner if o >= 0):
            out[c] = np.zeros(nets[c].n_arcs, dtype=int)
        for path in unit_paths(net, f):
            c = int(net.owner[path[0]])
            blocks = [a for a in path if net.kind[a] == BLOCK]
            strategy = np.zeros(nets[c].dev.M, dtype=int)
            for a in blocks:
                strategy[net.j[a]:net.m[a]] = net.slot[a]
            arcs = nets[c].path_of_slots(strategy, int(net.server[blocks[0]]) if blocks else None)
            if arcs is None:
                return None
            out[c][arcs] += 1
    return out


def unit_paths(net: LinkNetwork, flow) -> list[list[int]]:
    """An integral flow of value ``count`` split into ``count`` src-sink paths (arc lists).

    Deterministic as :meth:`mecopt.milp.classes.LinkNetwork.decompose`: from each node the lowest-numbered arc
    with flow left.

    Parameters
    ----------
    net : LinkNetwork
    flow : array_like

    Returns
    -------
    list of list of int
    """
    f = np.rint(np.asarray(flow, dtype=float)).astype(int)
    out_arcs: dict[int, list[int]] = {}
    for a in np.argsort(net.tail, kind="stable"):
        out_arcs.setdefault(int(net.tail[a]), []).append(int(a))
    paths = []
    for _ in range(net.count):
        node, arcs = 0, []
        while node != 1:
            a = next(a for a in out_arcs.get(node, []) if f[a] > 0)
            f[a] -= 1
            arcs.append(a)
            node = int(net.head[a])
        paths.append(arcs)
    return paths


def with_skip(net: LinkNetwork) -> tuple[LinkNetwork, int]:
    """``net`` with a src -> sink arc (its LOCAL arc when it has one); (network, that arc).

    Parameters
    ----------
    net : LinkNetwork

    Returns
    -------
    tuple
    """
    loc = np.flatnonzero(net.kind == LOCAL)
    if len(loc):
        return net, int(loc[0])
    vals = {}
    for f in fields(LinkNetwork):
        v = getattr(net, f.name)
        if isinstance(v, np.ndarray) and len(v) == net.n_arcs:
            extra = {"kind": LOCAL, "tail": 0, "head": 1, "j": net.dev.M, "m": net.dev.M}.get(f.name, 0)
            v = np.append(v, np.array([extra], dtype=v.dtype))
        vals[f.name] = v
    return LinkNetwork(**vals), net.n_arcs


def distances(n_nodes: int, tail: np.ndarray, head: np.ndarray, cost: np.ndarray, source: int) -> np.ndarray:
    """Shortest distance from ``source`` to every node (inf: unreachable), Bellman-Ford on an acyclic network.

    Parameters
    ----------
    n_nodes : int
    tail, head : numpy.ndarray
        The arcs.
    cost : numpy.ndarray
        Their costs.
    source : int

    Returns
    -------
    numpy.ndarray
    """
    d = np.full(n_nodes, np.inf)
    d[source] = 0.0
    for _ in range(n_nodes):
        new = d.copy()
        np.minimum.at(new, head, d[tail] + cost)
        if np.array_equal(new, d):
            break
        d = new
    return d


def useless_arcs(net: LinkNetwork, prices: np.ndarray, skips: np.ndarray, skip_price: np.ndarray) -> np.ndarray:
    """The arcs of a server subproblem's network that no optimum needs: every path through them costs at least skipping.

    For each class c of the network (its src, or its entry node when merged), an arc a on no path from c's entry
    cheaper than s_c (the skip arc's price) can be closed: in any solution, a unit of c on such a path can skip
    instead at no higher cost, and removing its blocks keeps server k's (17) and (27). So W_k(s) and every bound on
    the closed problem's optimum are unchanged. (A relative margin of 1e-12 keeps arcs whose float sums tie.)

    Parameters
    ----------
    net : LinkNetwork
        The network solved (one class, or merged with entry arcs first).
    prices : numpy.ndarray
        Its arc costs at the solve's prices.
    skips : numpy.ndarray
        The skip arc of each of its classes.
    skip_price : numpy.ndarray
        Their prices s_c.

    Returns
    -------
    numpy.ndarray
        The indices of the arcs to close (never an entry or skip arc).
    """
    back = distances(net.n_nodes, net.head, net.tail, prices, 1)   # to the sink, on the reversed arcs
    useful = np.zeros(net.n_arcs, dtype=bool)
    useful[skips] = True
    useful[net.kind == ENTRY] = True
    for a, price in zip(skips, skip_price):
        start = int(net.tail[a])   # the class's src (0), or its entry node
        ahead = distances(net.n_nodes, net.tail, net.head, prices, start)
        through = ahead[net.tail] + prices + back[net.head]
        useful |= through < price - 1e-12 * abs(price)
    return np.flatnonzero(~useful)


def shortest_path_cost(net: LinkNetwork, cost: np.ndarray) -> float:
    """The cheapest src-sink path of ``net`` under ``cost`` (inf when there is none).

    Parameters
    ----------
    net : LinkNetwork
    cost : numpy.ndarray

    Returns
    -------
    float
    """
    d = np.full(net.n_nodes, np.inf)
    d[0] = 0.0
    for _ in range(net.n_nodes):
        new = d.copy()
        np.minimum.at(new, net.head, d[net.tail] + cost)
        if np.array_equal(new, d):
            break
        d = new
    return float(d[1])


def server_parts(instance: Instance, nets: list[ClassNetwork], objective: str, merge: bool = True) -> list[ServerPart]:
    """One :class:`ServerPart` per server that some class reaches.

    Parameters
    ----------
    instance : Instance
    nets : list of ClassNetwork
        The union model's class networks (their per-server ``subs`` are reused).
    objective : str
    merge : bool
        Classes that differ only in their local and upload parts share one network (:func:`merge_suffixes`).

    Returns
    -------
    list of ServerPart
    """
    parts = []
    for k in range(instance.K):
        classes, subs, base, skip = [], [], [], []
        for c, net in enumerate(nets):
            if k not in net.servers:
                continue
            sub, a = with_skip(net.subs[net.servers.index(k)])
            cost = np.asarray(sub.cost(objective), dtype=float) if a < net.subs[net.servers.index(k)].n_arcs \
                else np.append(net.subs[net.servers.index(k)].cost(objective), 0.0)
            classes.append(c)
            subs.append(sub)
            base.append(cost)
            skip.append(a)
        if classes:
            part = ServerPart(k, instance.view(k).instance, classes, subs, base, skip)
            part.merge(merge)
            parts.append(part)
    return parts


@dataclass
class PartResult:
    """One solve of a server's subproblem at some prices: its bound, and its units per class.

    Attributes
    ----------
    bound : float
        A proven lower bound on W_k (objective units, with the objective's factor): the solver's, or
        when larger (or the solver gave none) the uncoupled one, each class on its cheapest path or
        skipped.
    proven : bool
        Whether W_k was proven optimal.
    offers : dict
        Class -> list of (cost, strategy) of the units that offload to k.
    taken : dict
        Class -> number of its units on k.
    """

    bound: float
    proven: bool
    offers: dict
    taken: dict


def solve_part(part: ServerPart, s: np.ndarray, objective: str, weight: float, backend: Backend,
               limits: Limits) -> PartResult:
    """Solve server ``part.k``'s subproblem at prices ``s`` (module docstring).

    Parameters
    ----------
    part : ServerPart
    s : numpy.ndarray
        The price of the skip arc of every class.
    objective : str
    weight : float
        The objective's factor.
    backend : Backend
    limits : Limits

    Returns
    -------
    PartResult
    """
    from mecopt.milp.gtpos import Problem

    nets = part.priced(s)
    rep, flows, _ = backend.solve(Problem(part.instance, objective, nets, weight), limits)  # type: ignore[arg-type]
    # each class alone on its cheapest path or skipped, no coupling: a bound even when the solver gave none
    alone = 0.0
    for c, net, base, a in zip(part.classes, part.nets, part.base, part.skip):
        prices = base.copy()
        prices[a] = s[c]
        alone += net.count * shortest_path_cost(net, prices)
    alone *= weight
    bound = alone if rep.bound is None else max(alone, float(rep.bound))
    offers: dict[int, list] = {}
    taken: dict[int, int] = {}
    if flows is not None:
        offers = {c: [] for c in part.classes}
        for net, base, owner, f in zip(nets, part.solved_base, part.owner, flows):
            for path in unit_paths(net, f):
                strategy = net.slots_of_path(path)
                if strategy.any():
                    offers[part.classes[int(owner[path[0]])]].append((float(sum(base[a] for a in path)), strategy))
        taken = {c: len(o) for c, o in offers.items()}
    return PartResult(bound, bool(rep.proven_optimal and flows is not None), offers, taken)


def primal(instance: Instance, nets: list[ClassNetwork], results: dict[int, PartResult], local_cost: np.ndarray,
           allowed: np.ndarray):
    """A feasible profile from per-server solutions: each class keeps its cheapest offers, the rest local.

    Parameters
    ----------
    instance : Instance
    nets : list of ClassNetwork
    results : dict
        Server -> its last :class:`PartResult`.
    local_cost : numpy.ndarray
        c_L per class.
    allowed : numpy.ndarray
        Whether all-local is allowed, per class.

    Returns
    -------
    tuple or None
        (flows of the union model, profile, server_of), or None when some class that must offload has
        too few offers.
    """
    profile: list = [None] * instance.N
    server_of = np.full(instance.N, -1, dtype=int)
    for c, net in enumerate(nets):
        offers = sorted(((cost, k, i, p) for k, r in results.items()
                         for i, (cost, p) in enumerate(r.offers.get(c, []))), key=lambda o: (o[0], o[1], o[2]))
        if allowed[c]:
            offers = [o for o in offers if o[0] < local_cost[c]]
        elif len(offers) < net.count:
            return None
        for i, n in enumerate(net.members):
            if i < len(offers):
                profile[n], server_of[n] = offers[i][3], offers[i][1]
            else:
                profile[n] = np.zeros(instance.devices[n].M, dtype=int)
    flows = flows_from_profile(nets, profile, server_of)
    if flows is None:
        return None
    return flows, profile, server_of


def solve(problem, backend: Backend, limits: Limits):
    """GTPOS by server decomposition, then the full model with the time left (module docstring).

    Parameters
    ----------
    problem : mecopt.milp.gtpos.Problem
        The union model's problem (several servers).
    backend : Backend
        Solves every subproblem and the full model.
    limits : Limits
        Of the whole run (``started`` is the run's start).

    Returns
    -------
    tuple
        ``(report, flows, info)`` as :meth:`mecopt.milp.backends.base.Backend.solve`; ``info["decomposition"]``
        holds the Lagrangian bound, the primal and the rounds.
    """
    t0 = time.perf_counter()
    instance, nets, objective, weight = problem.instance, problem.nets, problem.objective, problem.weight
    tol = limits.mip_rel_gap
    deadline = None if limits.time_limit is None else limits.started + limits.time_limit
    phase_end = None if deadline is None else t0 + DECOMPOSITION_SHARE * (deadline - t0)
    counts = np.array([net.count for net in nets], dtype=float)
    reach = np.array([len(net.servers) for net in nets], dtype=float)
    allowed = np.array([net.local_arc >= 0 for net in nets])
    costs = [np.asarray(net.cost(objective), dtype=float) for net in nets]
    local_cost = np.array([cst[net.local_arc] if net.local_arc >= 0 else np.inf for net, cst in zip(nets, costs)])
    s = np.where(allowed, local_cost, [shortest_path_cost(net, cst) for net, cst in zip(nets, costs)])
    s = np.where(np.isfinite(s), s, 0.0)
    parts = server_parts(instance, nets, objective)
    results: dict[int, PartResult] = {}
    best_bound, best = -np.inf, None   # best: (objective, flows)
    rounds, theta, stale, all_proven = 0, 1.0, set(p.k for p in parts), False
    history = []

    def report(phase: str) -> None:
        if limits.progress is None or best is None:
            return
        inc = best[0]
        limits.progress(dict(phase=phase, incumbent=inc, bound=best_bound,
                             gap=max(0.0, inc - best_bound) / max(abs(inc), 1e-12),
                             time_s=time.perf_counter() - limits.started))

    while rounds < MAX_ROUNDS:
        rounds += 1
        todo = [p for p in parts if p.k in stale]
        for i, part in enumerate(todo):
            left = None if phase_end is None else max(1e-3, (phase_end - time.perf_counter()) / (len(todo) - i))
            results[part.k] = solve_part(part, s, objective, weight, backend,
                                         Limits(time_limit=left, mip_rel_gap=min(tol, 1e-9) if tol else 0.0,
                                                threads=limits.threads))
        local_term = np.where(allowed, np.minimum(0.0, local_cost - s), 0.0) + s * (1 - reach)
        L = sum(r.bound for r in results.values()) + weight * float(counts @ np.where(np.isfinite(local_term),
                                                                                        local_term, 0.0))
        best_bound = max(best_bound, L)
        all_proven = all(r.proven for r in results.values())
        got = primal(instance, nets, results, local_cost, allowed)
        if got is not None:
            value = weight * sum(float(c @ f) for c, f in zip(costs, got[0]))
            if best is None or value < best[0]:
                best = (value, got[0])
        history.append(dict(round=rounds, bound=L, incumbent=None if best is None else best[0]))
        report("decomposition")
        if best is not None and best[0] - best_bound <= tol * abs(best[0]) + 1e-9 * weight:
            break
        taken = np.zeros(len(nets))
        for r in results.values():
            for c, t in r.taken.items():
                taken[c] += t
        ell = np.where(allowed & (local_cost < s), counts,
                       np.where(allowed & (local_cost == s), np.clip(counts - taken, 0, counts), 0.0))
        g = ell + taken - counts
        if not g.any() or best is None or (phase_end is not None and time.perf_counter() >= phase_end):
            break
        step = theta * (best[0] - L) / (weight * float(g @ g))
        if len(history) > 1 and L <= history[-2]["bound"]:
            theta /= 2
        moved = np.flatnonzero(g)
        s = s.copy()
        s[moved] -= step * g[moved]
        stale = {p.k for p in parts if set(p.classes) & set(moved.tolist())}
    info = dict(lagrangian_bound=best_bound if np.isfinite(best_bound) else None, rounds=rounds,
                subproblems_proven=all_proven, primal=None if best is None else best[0],
                decomposition_s=time.perf_counter() - t0)
    if best is not None and best[0] - best_bound <= tol * abs(best[0]) + 1e-9 * weight:
        rep = Report(status="proven by the server decomposition (Lagrangian bound = primal)", proven_optimal=True,
                     objective=best[0], bound=min(best_bound, best[0]), nodes=0)
        return rep, best[1], dict(build_s=0.0, solve_s=time.perf_counter() - t0, decomposition=info,
                                  bound_source="decomposition")
    left = None if deadline is None else max(1e-3, deadline - time.perf_counter())
    # the primal is not handed to the full model as a start: measured, it did not help (docs/milp.md §3.10)
    full_limits = Limits(time_limit=left, mip_rel_gap=tol, threads=limits.threads, progress=limits.progress,
                         start=limits.start, started=limits.started)
    # the full model with the classes' server parts shared (merge_classes), unless a start is given in the
    # classes' own flows
    solved_nets = merge_classes(nets, objective) if limits.start is None else list(nets)
    if len(solved_nets) < len(nets):
        from mecopt.milp.gtpos import Problem

        rep, merged_flows, solved = backend.solve(Problem(instance, objective, solved_nets, weight),  # type: ignore[arg-type]
                                                  full_limits)
        flows = None if merged_flows is None else class_flows(nets, solved_nets, merged_flows)
        if merged_flows is not None and flows is None:
            raise SolverError("GTPOS: a path of the merged networks is not a strategy of its class")
        solved = dict(solved, merged_networks=len(solved_nets))
    else:
        rep, flows, solved = backend.solve(problem, full_limits)
    objective_value, bound = rep.objective, rep.bound
    if best is not None and (flows is None or best[0] < rep.objective):
        objective_value, flows = best[0], best[1]
    source = "full model"
    if np.isfinite(best_bound) and (bound is None or best_bound > bound):
        bound, source = best_bound, "decomposition"
    if objective_value is not None and bound is not None:
        bound = min(bound, objective_value)
    closed = (objective_value is not None and bound is not None
              and objective_value - bound <= tol * abs(objective_value) + 1e-9 * weight)
    rep = Report(status=rep.status + ("; bound from the server decomposition" if source == "decomposition" else ""),
                 proven_optimal=rep.proven_optimal or closed, infeasible=rep.infeasible and best is None,
                 time_limit=rep.time_limit and not closed, other_limit=rep.other_limit and not closed,
                 objective=objective_value, bound=bound, nodes=rep.nodes)
    return rep, flows, dict(solved, decomposition=info, bound_source=source,
                            solve_s=time.perf_counter() - t0)
