"""TPOS-best: the global minimum of the exact potential Phi, an equilibrium found with a proof.

With every gamma_n > 0 the game is an exact potential game (docs/MODEL.md §6)::

    Phi = sum_h [a_h L_h + (q_h/2)(L_h^2 + sum_n (S_n^h)^2)] + sum_n (alpha_n c^T T_n + beta_n c^E E_n) / gamma_n,

with L_h = sum_n S_n^h and q_h = b_h/h. A unilateral move that keeps (17), (26),
(27) changes Phi by the mover's cost change / gamma_n, so a profile minimizing
Phi over all joint profiles satisfying (15)-(17), (26), (27) is a Nash
equilibrium (no device can gain), and its Phi is the least of every equilibrium
of that set: the *best* equilibrium in the potential's order.

Model (docs/milp.md). The GTPOS MILP (:func:`mecopt.milp.device_model.build_model`: each MD's
path network of :mod:`mecopt.milp.network` with y[n,m,h], (15)-(17), (26), (27)),
without the canonical block restriction (the price depends on the blocks), with
the objective replaced by Phi:

* T_n, E_n are linear in y (24)-(25); L_h = sum_n sum_m S_{n,m} y[n,m,h] is linear;
* (S_n^h)^2 is exact and linear on the path: a path holds at most one block per
  slot, so (S_n^h)^2 = sum over n's block arcs a in slot h of s_a^2 f[a];
* the convex L_h^2 is a variable lam_h >= L_h^2 kept from below by tangent cuts
  lam_h >= 2 l L_h - l^2 (outer approximation). The cuts start on a grid of
  ``grid`` points of [0, max L_h]; after each MILP solve a cut is added at the
  incumbent's L_h wherever L_h^2 - lam_h exceeds ``cut_tol`` (relative to
  max(1, L_h^2)), and the MILP is solved again.

Every MILP bound is a valid lower bound of min Phi (the cuts under-estimate
L_h^2); the true Phi of the best incumbent is an upper bound. The method stops
when the relative gap between them is <= ``gap`` (``OPTIMAL``), or at the
iteration or time limit (the gap is then reported). The profile is then
certified with the equilibrium certificate (:mod:`mecopt.game.certificate`);
should a rounding gap leave a device an improving move, a certified CAI polish
(exact best responses until no device moves; each move lowers Phi) finishes,
and ``info["polish_moves"]`` says how many moves it took.

**Several servers** (docs/multiserver.md). The potential is
Phi = sum_k sum_h [a_kh L_kh + (q_kh/2)(L_kh^2 + sum_n (S_n^kh)^2)] + sum_n own_n / gamma_n: its slot
terms are separate per (server, slot), so the same outer approximation applies column by column
(one lam and its cuts per (server, slot)). The model (:func:`build_model`, formulation ``"class"``) is the
GTPOS class model of :mod:`mecopt.milp.gtpos` (one union network per class of identical MDs,
:func:`potential_classes`, carrying one unit per MD: all local, or a path on one reachable server,
(15s)), without canonical blocks or dominance pruning (both
ignore the price); own_n / gamma_n is the ``social`` arc cost / gamma_n (it includes the
soft-deadline penalty), L_kh and (S_n^kh)^2 are sums over block arcs of s_a f_a and s_a^2 f_a.
Polish and certificate use the game (:mod:`mecopt.game.state`, any number of servers). HiGHS gets no
start solution here: with ``Highs.setSolution`` it returned the start's values together with an
objective value that was not theirs (below them, and below the enumerated minimum of Phi), the
wrong result of docs/milp.md §3.5, caught by tests/milp/test_gtpos_multiserver.py; the CAI runs of
``starts`` then only report ``start_phi``.

The price of stability is reported against GTPOS: avg delay of this equilibrium
/ GTPOS's least average delay, and its social cost sum_n (alpha c^T T + beta c^E E)
/ GTPOS's least social cost (both GTPOS runs must be proven optimal for a ratio).
Since this equilibrium is one equilibrium, the ratios are upper bounds of the
price of stability in those two measures.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyomo.environ as pyo

from mecopt.core import cost as costmod
from mecopt.core.errors import InputError
from mecopt.core.instance import Instance
from mecopt.core.slots import placements, server_slots
from mecopt.milp import device_model, gtpos
from mecopt.milp.backends.highs import GTPOS_OPTIONS
from mecopt.milp.classes import columns, servers
from mecopt.milp.network import BLOCK, build_network

#: initial tangent points per slot, and the cut error (relative to max(1, L_h^2)) that ends the loop
DEFAULT_GRID = 16
DEFAULT_CUT_TOL = 1e-10
#: the MILP objective is Phi scaled to about this size (with Phi in the 1e5-1e8 of the paper
#: instances HiGHS warned of bad scaling and stalled at the root; scaled, fig5-n10 solves)
OBJECTIVE_UNITS = 100.0
#: HiGHS options of the potential MILP: GTPOS's, with presolve probing back on
POTENTIAL_OPTIONS = dict(GTPOS_OPTIONS, presolve_rule_off=0, mip_abs_gap=0.0)
#: the class model (several servers) at MIP feasibility tolerance 1e-9: at GTPOS's 1e-10 HiGHS never took its
#: root LP's value as a bound (bench alexnet-K2-total-n20: the bound stayed at the presolved model's trivial
#: -148 for 60 s, nothing was pruned, the run reported bound 0 and gap 100 %; at 1e-9 it is the LP's 90.08
#: after 10 s). The rows of (17) then admit cap (1 + 1.5e-9), a relaxation of the checker's cap (1 + 1e-9): the
#: bound stays valid, and the incumbent is re-evaluated, polished and certified exactly (docs/milp.md)
CLASS_MODEL_OPTIONS = dict(POTENTIAL_OPTIONS, mip_feasibility_tolerance=1e-9)
#: CPU seconds per network arc to build the Pyomo model and hand it to HiGHS (``set_instance``): measured
#: 210-360 us on bench mixed-K2-total-n20 and mixed-K4-*-n50 (load 7); a budget uses it to project the build
BUILD_S_PER_ARC = 2e-4


def _require_potential(instance: Instance) -> None:
    bad = [d.name for d in instance.devices if not d.gamma > 0]
    if bad:
        raise InputError("tpos-best needs every gamma_n > 0 (the game has no potential otherwise); "
                         f"gamma = 0 for {', '.join(bad[:10])}")


def build_model(instance: Instance, grid: int = DEFAULT_GRID,
                check: Callable[[int, int, int], None] | None = None) -> tuple[pyo.ConcreteModel, np.ndarray]:
    """The potential MILP (module docstring) and the largest possible load of each slot column.

    The feasible set is one of two exact formulations of (15)-(17), (26), (27) (and (15s)), chosen
    by :func:`formulation`; the potential's terms are then built alike, column by column: L_g (a
    sum over block arcs or layers), lam_g >= L_g^2 by ``grid`` tangent cuts on [0, max L_g],
    the own squares (S_n^g)^2 on the block arcs, and own_n / gamma_n.

    Parameters
    ----------
    instance : Instance
        Every gamma_n > 0.
    grid : int
        Initial tangent points per column (>= 2).
    check : callable, optional
        ``check(arcs, done, total)``, called as the networks are built, before the Pyomo model: ``arcs`` in
        the ``done`` of ``total`` networks (classes or MDs) built so far. It raises to stop the build (a
        method's time budget; :data:`BUILD_S_PER_ARC` projects the rest).

    Returns
    -------
    model : pyomo.environ.ConcreteModel
        Objective ``phi`` = Phi x ``phi_scale`` (19)-(25); ``columns`` (server, slot) per column g = 1..G;
        ``L[g]`` the load (20)-(21), ``lam[g]`` its square's outer approximation, ``cuts`` the tangents;
        ``formulation`` (:func:`formulation`).
    lmax : numpy.ndarray
        (G,) the largest load of each column.

    Raises
    ------
    InputError
        When some gamma_n = 0 (the game has no potential).
    """
    _require_potential(instance)
    kind = formulation(instance)
    m, load, own_sq, lmax, own = (_device_terms if kind == "device" else _class_terms)(instance, check)
    m.formulation = kind
    m.obj.deactivate()
    G = len(m.columns)
    S = range(1, G + 1)
    col_server = [servers(instance)[k] for k, _ in m.columns]
    a = [float(sv.a[h - 1]) for sv, (_, h) in zip(col_server, m.columns)]
    q = [float(sv.price_quad[h - 1]) for sv, (_, h) in zip(col_server, m.columns)]
    m.L = pyo.Expression(S, rule=lambda _, g: pyo.quicksum(c * v for c, v in load[g]))
    m.lam = pyo.Var(S, within=pyo.NonNegativeReals, bounds=lambda _, g: (0.0, float(lmax[g - 1]) ** 2))
    m.cuts = pyo.ConstraintList()
    for g in S:
        for ll in np.linspace(0.0, lmax[g - 1], max(2, grid)):
            m.cuts.add(m.lam[g] >= 2 * float(ll) * m.L[g] - float(ll) ** 2)
    slot = pyo.quicksum(a[g - 1] * m.L[g] + q[g - 1] / 2 * (m.lam[g] + pyo.quicksum(
        c * v for c, v in own_sq[g])) for g in S)
    local = costmod.evaluate(instance, costmod.all_local(instance), np.full(instance.N, -1)).potential
    scale = OBJECTIVE_UNITS / max(1.0, abs(local))
    m.phi_scale = scale   # the objective is Phi x phi_scale (about OBJECTIVE_UNITS): HiGHS is badly scaled otherwise
    m.phi = pyo.Objective(expr=scale * (own + slot), sense=pyo.minimize)
    return m, lmax


def highs_options(model: pyo.ConcreteModel) -> dict:
    """HiGHS options for the potential MILP ``model``: :data:`CLASS_MODEL_OPTIONS` for the class formulation.

    Parameters
    ----------
    model : pyomo.environ.ConcreteModel
        From :func:`build_model`.

    Returns
    -------
    dict
        :data:`POTENTIAL_OPTIONS` (one server, the device formulation, unchanged) or :data:`CLASS_MODEL_OPTIONS`.
    """
    return dict(CLASS_MODEL_OPTIONS if model.formulation == "class" else POTENTIAL_OPTIONS)


def formulation(instance: Instance) -> str:
    """The feasible set's formulation: ``"device"`` with one server, ``"class"`` with several.

    ``"device"``: the per-device path networks of :func:`mecopt.milp.device_model.build_model`
    (y, u, the paper's deadline rows), the model tpos-best has always solved on one server, kept so
    that its results stay what they were; it takes a HiGHS start (:func:`start_values`).
    ``"class"``: the GTPOS class model of :func:`mecopt.milp.gtpos.build_model` (one network per class
    of :func:`potential_classes` over every server it reaches, (15s)), without canonical blocks or
    dominance pruning (both ignore the price); it takes no HiGHS start (module docstring).

    Parameters
    ----------
    instance : Instance

    Returns
    -------
    str
    """
    return "device" if instance.K == 1 else "class"


def _device_terms(instance: Instance, check: Callable[[int, int, int], None] | None = None):
    """One server: the device model and the potential's terms on its y and block arcs."""
    server = servers(instance)[0]
    H = server.H
    nets, arcs = [], 0
    for n, dev in enumerate(instance.devices):
        if check is not None:
            check(arcs, n, instance.N)
        nets.append(build_network(dev, server, canonical=False))   # the arcs device_model.build_model uses
        arcs += nets[-1].n_arcs
    if check is not None:
        check(arcs, instance.N, instance.N)
    m = device_model.build_model(instance, "social", canonical=False)
    m.columns = columns(instance)
    S = server_slots(H)
    load, own_sq, lmax = {h: [] for h in S}, {h: [] for h in S}, np.zeros(H)
    for n, dev in enumerate(instance.devices):
        net = nets[n]
        b = m.md[n]
        for h in S:
            arcs = np.flatnonzero((net.kind == BLOCK) & (net.h == h))
            own_sq[h] += [(float(net.s_blk[a]) ** 2, b.f[int(a)]) for a in arcs if net.s_blk[a] != 0]
            lmax[h - 1] += float(net.s_blk[arcs].max()) if len(arcs) else 0.0
            load[h] += [(float(dev.S[k]), b.y[k, h]) for k in range(1, dev.M + 1) if dev.S[k] != 0]
    own = pyo.quicksum(m.term[n] / float(d.gamma) for n, d in enumerate(instance.devices))
    return m, load, own_sq, lmax, own


def potential_classes(instance: Instance) -> list[tuple[int, ...]]:
    """MDs that are identical for the potential: equal GTPOS ``social`` class keys, gamma and price loads S.

    (S compared on every link the MD reaches, as the view's device has it.)

    Phi's terms are sums over MDs of quantities linear on each MD's path (own_n / gamma_n, S on the
    block arcs, its square on the block arcs), so such MDs can share one integer flow, as in GTPOS.

    Parameters
    ----------
    instance : Instance

    Returns
    -------
    list of tuple of int
    """
    from mecopt.milp.classes import class_key

    views = [instance.view(k) for k in range(instance.K)]
    groups: dict[tuple, list[int]] = {}
    for n, d in enumerate(instance.devices):
        loads = tuple(np.asarray(views[k].instance.devices[int(views[k].local[n])].S, dtype=float).tobytes()
                      for k in instance.reachable(n))   # S (20)-(21) on every link the MD reaches
        key = (class_key(instance, n, "social", views), float(d.gamma), loads)
        groups.setdefault(key, []).append(n)
    return [tuple(g) for g in groups.values()]


def _class_terms(instance: Instance, check: Callable[[int, int, int], None] | None = None):
    """Several servers: the class model (identical MDs aggregated) and the potential's terms on its block arcs.

    Each class of :func:`potential_classes` is one integer flow of ``count`` units (exact: module docstring
    of :mod:`mecopt.milp.classes`); a column's largest load counts every unit of a class.
    """
    from mecopt.milp.classes import build_class_network

    groups = potential_classes(instance)
    nets, arcs = [], 0
    for i, members in enumerate(groups):
        if check is not None:
            check(arcs, i, len(groups))
        nets.append(build_class_network(instance, members, False, "social", prune=False))
        arcs += nets[-1].n_arcs
    if check is not None:
        check(arcs, len(groups), len(groups))
    m = gtpos.build_model(instance, "social", nets=nets)
    G = len(m.columns)
    S = range(1, G + 1)
    load, own_sq, lmax = {g: [] for g in S}, {g: [] for g in S}, np.zeros(G)
    own = []
    for i, net in enumerate(m.nets):
        f = m.cls[i].f
        c = net.cost("social") / float(instance.devices[net.members[0]].gamma)
        own += [(float(c[arc]), f[arc]) for arc in np.flatnonzero(c)]
        for g in S:
            arcs = net.blocks_in(g)
            load[g] += [(float(net.s_blk[arc]), f[int(arc)]) for arc in arcs if net.s_blk[arc] != 0]
            own_sq[g] += [(float(net.s_blk[arc]) ** 2, f[int(arc)]) for arc in arcs if net.s_blk[arc] != 0]
            lmax[g - 1] += net.count * float(net.s_blk[arcs].max()) if len(arcs) else 0.0
    return m, load, own_sq, lmax, pyo.quicksum(c * v for c, v in own)


def solution_vars(model: pyo.ConcreteModel) -> list:
    """The variables a profile is read from (:func:`assignment_of`), and the lam of every column.

    Parameters
    ----------
    model : pyomo.environ.ConcreteModel
        A model of :func:`build_model`.

    Returns
    -------
    list of pyomo variables
    """
    if model.formulation == "device":
        out = [v for n in model.N for v in model.md[n].y.values()]
    else:
        out = [v for i in model.K for v in model.cls[i].f.values()]
    return out + [model.lam[g] for g in model.lam]


def assignment_of(model: pyo.ConcreteModel, instance: Instance, values=None):
    """(profile, server_of) of the model's values (``server_of`` None with one server).

    Parameters
    ----------
    model : pyomo.environ.ConcreteModel
        A model of :func:`build_model`.
    instance : Instance
    values : mapping, optional
        Variable -> value (of at least :func:`solution_vars`); default: the loaded values.

    Returns
    -------
    tuple
        (list of numpy.ndarray, numpy.ndarray or None)
    """
    if model.formulation == "device":
        return device_model.profile_of(model, instance, values), None
    return gtpos.assignment_of(model, instance, values)


def start_values(model: pyo.ConcreteModel, instance: Instance, profile) -> dict | None:
    """A start solution for ``profile``: {id(variable): value} of its arcs, y, u and lam, or None.

    None when the profile is no path of the networks, and always for the ``"class"``
    :func:`formulation`: with a start HiGHS returned an objective that was not the start's (the
    wrong result of docs/milp.md §3.5), so that model is solved without one.

    Parameters
    ----------
    model : pyomo.environ.ConcreteModel
        A model of :func:`build_model`.
    instance : Instance
    profile : list of numpy.ndarray
        One slot vector per MD.

    Returns
    -------
    dict or None
    """
    if model.formulation != "device":
        return None
    server = servers(instance)[0]
    H = server.H
    values = {}
    for n, (dev, slots) in enumerate(zip(instance.devices, profile)):
        b, net = model.md[n], build_network(dev, server, canonical=False)
        path = net.path(slots)
        if path is None:
            return None
        on = set(path)
        values.update({id(b.f[a]): float(a in on) for a in b.f})
        values.update({id(b.y[k, h]): float(slots[k - 1] == h) for k in range(1, dev.M + 1) for h in placements(H)})
        values.update({id(b.u[h]): float(h in slots) for h in server_slots(H)})
    L = costmod.evaluate(instance, profile).slot_load
    values.update({id(model.lam[h]): float(L[h - 1]) ** 2 for h in server_slots(H)})
    return values
