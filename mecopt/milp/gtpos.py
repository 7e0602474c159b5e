"""GTPOS (Case 2): the centralized optimum over the whole tensor y[n,m,h], as one MILP.

Formulation (docs/milp.md §3). MDs with identical data are grouped into classes
(:mod:`mecopt.milp.classes`); each class k of count_k MDs gets one path network (the
per-device network of :mod:`mecopt.milp.network`, with the deadline (26) built into its
structure) carrying an integer flow of count_k units, and the paper's tensor summed over
the class, Y[k,m,h] = sum_{n in k} y[n,m,h] (14), with (15) sum_h Y[k,m,h] = count_k and (16)
stated on it and linked to the flow. For a class of one MD, Y is y. Coupling:

* (17) per_device: blocks over T_d/H are not arcs (a device has at most one block per slot);
  total: sum_k sum_m T^se_{k,m} Y[k,m,h] <= T_d/H for each h;
* (27) sum_k (blocks of class k in slot h) <= B (a device has at most one block per slot, so
  this is the number of MDs using slot h);
* no price. Objective ``delay`` (the paper) (1/N) sum_n T_n with T_n from (24), linear on
  the arcs; ``social``: sum_n (alpha_n c^T_n T_n + beta_n c^E_n E_n); ``energy``: (1/N) sum_n E_n.

Backends (:mod:`mecopt.milp.backends`, one protocol): ``highs`` (this Pyomo model, HiGHS
through Pyomo's persistent interface), ``cpsat`` (the same arcs built directly in OR-Tools
CP-SAT), or any other MILP solver Pyomo can reach by name (``gurobi``, ``cplex``, ``scip``,
``cbc``, ...) where it is installed. Each solves a :class:`Problem` (the class networks, and
this model on demand). The flow of every class is decomposed into one path per MD, so every
backend returns y[n,m,h]; the profile is checked by :mod:`mecopt.core.checker`. One status
rule for all (:mod:`mecopt.milp.backends.status`): ``OPTIMAL`` only when proven within ``mip_rel_gap``.

**Servers** (docs/multiserver.md, "GTPOS and tpos-best with several servers"): each class's
network is the union of its per-server networks (:class:`~mecopt.milp.classes.ClassNetwork`), so
a path is all-local or lies on one reachable server (association (15s)); the slot index is a
column (server k, slot h), the tensor is Y[k-class, m, (server, slot)], and (17) and (27) are
stated per column with that server's T_d,k/H_k and B_k. One server is the case K = 1 (columns
(0, 1..H)). The Solution carries ``server_of`` when there are several.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyomo.environ as pyo

from mecopt.core.errors import SolverError
from mecopt.core.instance import Instance
from mecopt.core.options import check_choice
from mecopt.core.tolerances import CAP_TOL
from mecopt.milp.backends.highs import GTPOS_OPTIONS, highs_object, persistent_solver
from mecopt.milp.classes import OBJECTIVES, ClassNetwork, assignment_from_flows, class_networks, columns, servers
from mecopt.milp.network import BLOCK, START, adjacency

# ============================================================================ the Pyomo model

def build_model(instance: Instance, objective: str = "delay", canonical: bool | None = None,
                aggregate: bool = True, prune: bool = True,
                nets: list[ClassNetwork] | None = None, weight: float | None = None) -> pyo.ConcreteModel:
    """The GTPOS MILP as a Pyomo model (one block ``cls[k]`` per device class), for any number of servers.

    Parameters
    ----------
    instance : Instance
    objective : {"delay", "social", "energy"}
        The objective: (1/N) sum_n T_n (24), sum_n C_n, or (1/N) sum_n E_n (25).
    canonical : bool, optional
        Fewest-blocks networks (default: on in mode per_device, where it is exact).
    aggregate : bool
        One class per group of identical MDs (exact), else one per MD.
    prune : bool
        Drop dominated partition points (exact for GTPOS; tpos-best turns it off).
    nets : list of ClassNetwork, optional
        The class networks, when already built (:func:`mecopt.milp.classes.class_networks` with the
        arguments above).
    weight : float, optional
        The objective's factor (default: 1 for ``social``, else 1/N of ``instance``; a server subproblem of
        :mod:`mecopt.milp.decomposition` keeps the whole instance's 1/N).

    Returns
    -------
    pyomo.environ.ConcreteModel
        ``model.nets`` holds the class networks (arc data), ``model.weight`` the objective's factor,
        ``model.S`` the slot columns 1..G of :func:`mecopt.milp.classes.columns` (``model.columns``:
        (server k, slot h) for every server, in order; one server: (0, 1..H)). Constraints: (15),
        (16) and the flow of each class (:func:`add_class`), (17) in mode total and (27) per column.

    Raises
    ------
    InputError
        For an unknown objective.
    """
    check_choice("objective", objective, OBJECTIVES)
    if nets is None:
        nets = class_networks(instance, objective, aggregate, canonical, prune)
    cols = columns(instance)
    svs = servers(instance)
    col_server = [svs[k] for k, _ in cols]
    H = len(cols)
    m = pyo.ConcreteModel(name=f"gtpos_{instance.name}")
    m.nets = nets
    m.columns = cols
    m.weight = weight if weight is not None else 1.0 if objective == "social" else 1.0 / instance.N
    m.K = range(len(nets))
    m.S = range(1, H + 1)
    m.cls = pyo.Block(m.K)
    for k, net in enumerate(nets):
        add_class(m.cls[k], net, H, layer_times=instance.K == 1)

    if col_server[0].capacity_mode == "total":   # one capacity mode for every server
        def cap_rule(_, h):
            """(17), total: all MDs' server time in slot h <= T_d/H.

            (row scaled by 1/cap; its rhs 1 + CAP_TOL/2 sits inside the checker's tolerance, docs/milp.md §3); per
            (server, slot).
            """
            cap = col_server[h - 1].slot_len
            return pyo.quicksum(m.cls[k].server_time[h] for k in m.K) / cap <= 1 + CAP_TOL / 2

        m.capacity = pyo.Constraint(m.S, rule=cap_rule)

    def parallel_rule(_, h):
        """(27): at most B MDs use slot h (per (server, slot): B_k)."""
        terms = [m.cls[k].users[h] for k in m.K]
        return pyo.quicksum(terms) <= col_server[h - 1].B

    m.parallel = pyo.Constraint(m.S, rule=parallel_rule)
    m.obj = pyo.Objective(expr=m.weight * pyo.quicksum(
        pyo.quicksum(float(c) * m.cls[k].f[a] for a, c in enumerate(net.cost(objective)) if c != 0)
        for k, net in enumerate(nets)), sense=pyo.minimize)
    return m


def add_class(b: pyo.Block, net: ClassNetwork, H: int, layer_times: bool = False) -> None:
    """One class on block ``b``: its flow, class tensor, users and server time per column.

    The flow f (integer, 0..count), the class tensor Y[m,h] with (15), (16) and the link to the flow, ``users[h]``
    (MDs of the class in column h, for (27)) and ``server_time[h]`` (17).

    Parameters
    ----------
    b : pyomo.environ.Block
    net : ClassNetwork
    H : int
        Slot columns of the model.
    layer_times : bool
        Write (17)'s server time as the paper does, sum_m T^se_m Y[m,h] with the representative's
        layer times (valid with one server; the one-server model, and its export, keep this form);
        otherwise each block's time on its own link, sum_a t_a f[a] (equal on one server; needed
        with several, where a layer's time depends on the link).
    """
    dev, count = net.dev, net.count
    M = dev.M
    A = range(net.n_arcs)
    L = range(1, M + 1)
    dom = pyo.Binary if count == 1 else pyo.NonNegativeIntegers
    ub = None if net.ub is None else [int(u) for u in net.ub]
    b.f = pyo.Var(A, within=dom, bounds=(0, count) if ub is None else (lambda _, a: (0, ub[a])))
    b.y = pyo.Var(L, range(H + 1), within=dom, bounds=(0, count))
    f, y = b.f, b.y
    out_arcs, in_arcs, nodes = adjacency(net.tail, net.head)

    def flow_rule(_, node):
        out = pyo.quicksum(f[a] for a in out_arcs.get(node, []))
        if node == 0:
            return out == count
        return out - pyo.quicksum(f[a] for a in in_arcs.get(node, [])) == 0

    b.flow = pyo.Constraint(nodes, rule=flow_rule)

    # Y <-> flow, layer by layer (as in network.add_device): layer m is in slot h for the paths
    # that had layer m-1 there and did not end a block at m-1, plus those starting a block at m
    begins: dict[tuple[int, int], list[int]] = {}
    ends: dict[tuple[int, int], list[int]] = {}
    for a in np.flatnonzero(net.kind == START):
        begins.setdefault((int(net.j[a]), 0), []).append(int(a))
    for a in np.flatnonzero(net.kind == BLOCK):
        begins.setdefault((int(net.j[a]), int(net.h[a])), []).append(int(a))
        ends.setdefault((int(net.m[a]), int(net.h[a])), []).append(int(a))

    def link_rule(_, mm, h):
        prev = (count if h == 0 else 0) if mm == 1 else y[mm - 1, h]
        if h == 0:
            change = -pyo.quicksum(f[a] for a in begins.get((mm - 1, 0), []))
        else:
            change = (pyo.quicksum(f[a] for a in begins.get((mm - 1, h), []))
                      - pyo.quicksum(f[a] for a in ends.get((mm - 1, h), [])))
        return y[mm, h] == prev + change

    b.link_y = pyo.Constraint(L, range(H + 1), rule=link_rule)
    b.onehot = pyo.Constraint(L, rule=lambda _, mm: pyo.quicksum(y[mm, h] for h in range(H + 1)) == count)  # (15)
    b.order = pyo.Constraint(range(1, M), range(H), rule=lambda _, mm, h: (  # (16), summed over the class
        pyo.quicksum(y[mm + 1, k] for k in range(h + 1)) <= pyo.quicksum(y[mm, k] for k in range(h + 1))))
    blocks = {h: [int(a) for a in net.blocks_in(h)] for h in range(1, H + 1)}
    b.users = pyo.Expression(range(1, H + 1), rule=lambda _, h: pyo.quicksum(f[a] for a in blocks[h]))
    if not layer_times:  # each block's time on its own link (equal to the y form on one server)
        b.server_time = pyo.Expression(range(1, H + 1), rule=lambda _, h: pyo.quicksum(
            float(net.t_blk[a]) * f[a] for a in blocks[h] if net.t_blk[a] != 0))
        return
    b.server_time = pyo.Expression(range(1, H + 1), rule=lambda _, h: pyo.quicksum(
        float(dev.t_server[mm]) * y[mm, h] for mm in L if dev.t_server[mm] != 0))


def flows_of(model: pyo.ConcreteModel, values=None) -> list[np.ndarray]:
    """Each class's arc flows (rounded to integers).

    Parameters
    ----------
    model : pyo.ConcreteModel
        The solved model.
    values : dict or None, optional, default None
        Variable -> value (default: the values loaded into the model).

    Returns
    -------
    list[numpy.ndarray]
        Each class's arc flows.
    """
    out = []
    for k, net in enumerate(model.nets):
        f = model.cls[k].f
        out.append(np.array([round(pyo.value(f[a]) if values is None else values[f[a]]) for a in range(net.n_arcs)],
                            dtype=int))
    return out


def profile_of(model: pyo.ConcreteModel, instance: Instance, values=None) -> list[np.ndarray]:
    """Each MD's strategy: the class flows decomposed into paths (y[n,m,h] disaggregated).

    Parameters
    ----------
    model : pyo.ConcreteModel
        The solved model.
    instance : Instance
        The instance.
    values : dict or None, optional, default None
        Variable -> value (default: the values loaded into the model).

    Returns
    -------
    list[numpy.ndarray]
        One strategy per MD.
    """
    return assignment_of(model, instance, values)[0]


def assignment_of(model: pyo.ConcreteModel, instance: Instance, values=None):
    """(profile, server_of) of the model's values (``server_of`` None with one server).

    Parameters
    ----------
    model : pyo.ConcreteModel
        The solved model.
    instance : Instance
        The instance.
    values : dict or None, optional, default None
        Variable -> value (default: the values loaded into the model).

    Returns
    -------
    tuple
        (profile, server_of).
    """
    return assignment_from_flows(instance, model.nets, flows_of(model, values))


@dataclass
class Problem:
    """One GTPOS problem as the backends see it: the class networks, and their Pyomo model on demand.

    Parameters
    ----------
    instance : Instance
    objective : {"delay", "social", "energy"}
    nets : list of ClassNetwork
        :func:`mecopt.milp.classes.class_networks` of the instance.
    weight : float
        The objective's factor (1 for ``social``, 1/N otherwise).
    """

    instance: Instance
    objective: str
    nets: list[ClassNetwork]
    weight: float
    _model: pyo.ConcreteModel | None = field(default=None, repr=False)

    @property
    def model(self) -> pyo.ConcreteModel:
        """The Pyomo model of :func:`build_model` on :attr:`nets` (built at first use)."""
        if self._model is None:
            self._model = build_model(self.instance, self.objective, nets=self.nets, weight=self.weight)
        return self._model

    def flow_vars(self) -> list:
        """The model's flow variables, class by class.

        Returns
        -------
        list
            The variables.
        """
        m = self.model
        return [v for k in m.K for v in m.cls[k].f.values()]

    def flows_of(self, values=None) -> list[np.ndarray]:
        """Each class's arc flows in the model (``values``: a map variable -> value; default: loaded).

        Parameters
        ----------
        values : dict or None, optional, default None
            Variable -> value (default: the values loaded into the model).

        Returns
        -------
        list[numpy.ndarray]
            Each class's arc flows.
        """
        return flows_of(self.model, values)


def problem(instance: Instance, objective: str = "delay", canonical: bool | None = None,
            aggregate: bool = True) -> Problem:
    """The GTPOS :class:`Problem` of ``instance`` (arguments as :func:`build_model`).

    Parameters
    ----------
    instance : Instance
    objective : {"delay", "social", "energy"}
    canonical : bool, optional
    aggregate : bool

    Returns
    -------
    Problem

    Raises
    ------
    InputError
        For an unknown objective.
    """
    check_choice("objective", objective, OBJECTIVES)
    nets = class_networks(instance, objective, aggregate, canonical)
    return Problem(instance, objective, nets, 1.0 if objective == "social" else 1.0 / instance.N)


# ============================================================================ entry point

def lp_bound(instance: Instance, objective: str = "delay", canonical: bool | None = None,
             aggregate: bool = True) -> float:
    """Optimal value of the LP relaxation of the GTPOS model (for the LP gap of the formulation).

    Parameters
    ----------
    instance : Instance
        The instance.
    objective : str, default 'delay'
        The GTPOS objective: ``delay``, ``energy`` or ``social``.
    canonical : bool or None, default None
        Keep only the fewest-blocks packing of each partition (None: on in ``per_device`` mode, where it is exact).
    aggregate : bool, default True
        Whether identical MDs share one class.

    Returns
    -------
    float
        The LP optimum.

    Raises
    ------
    SolverError
        When the LP is not solved to optimality.
    """
    model = build_model(instance, objective, canonical, aggregate)
    opt = persistent_solver(dict(GTPOS_OPTIONS, solve_relaxation=True))
    res = opt.solve(model)
    if res.solution_status.name != "optimal":
        raise SolverError("GTPOS LP relaxation: "
                          f"{highs_object(opt).modelStatusToString(highs_object(opt).getModelStatus())}")
    return float(res.incumbent_objective)
