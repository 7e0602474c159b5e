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

Backends (``solver=``): ``highs`` (this Pyomo model, HiGHS through Pyomo's persistent
interface), ``cpsat`` (the same arcs built directly in OR-Tools CP-SAT, :mod:`.cpsat`), or
any other MILP solver Pyomo can reach by name (``gurobi``, ``cplex``, ``scip``, ``cbc``, ...)
where it is installed. The flow of every class is decomposed into one path per MD, so every
backend returns y[n,m,h]; the profile is checked by :mod:`mecopt.core.checker`. One status
mapping for all (:mod:`.status`): ``OPTIMAL`` only when proven within ``mip_rel_gap``.

**Several servers** (docs/multiserver.md, "GTPOS and tpos-best with several servers"): each
class's network is the union of its per-server networks (:class:`~mecopt.milp.classes.UnionNetwork`),
so a path is all-local or lies on one reachable server (association (15s)); the slot index
becomes a column (server k, slot h), the tensor is Y[k-class, m, (server, slot)], and (17) and
(27) are stated per column with that server's T_d,k/H_k and B_k. The Solution carries ``server_of``.
"""

from __future__ import annotations

import time

import numpy as np
import pyomo.environ as pyo

from mecopt.core import interrupt
from mecopt.core.errors import InputError, SolverError
from mecopt.core.instance import Instance
from mecopt.core.tolerances import CAP_TOL
from mecopt.core.options import check_choice
from mecopt.milp.backends import status as statusmod
from mecopt.milp.classes import (OBJECTIVES, ClassNetwork, UnionNetwork, assignment_from_flows, class_networks,
                                 columns)
from mecopt.milp.backends.highs import GTPOS_OPTIONS, highs_object, persistent_solver
from mecopt.milp.network import BLOCK, START, adjacency

#: the default backend, chosen by measurement (docs/milp.md §4)
DEFAULT_SOLVER = "cpsat"
#: Pyomo solver names tried when listing what is installed (any other name is tried as given)
KNOWN_PYOMO_SOLVERS = ("gurobi", "cplex", "xpress", "scip", "cbc", "glpk")


# ============================================================================ the Pyomo model

def build_model(instance: Instance, objective: str = "delay", canonical: bool | None = None,
                aggregate: bool = True, prune: bool = True) -> pyo.ConcreteModel:
    """The GTPOS MILP as a Pyomo model (one block ``cls[k]`` per device class).

    ``model.nets`` holds the class networks (arc data) and ``model.weight`` the objective's factor.
    The slots ``model.S`` are the columns of :func:`mecopt.milp.classes.columns`: 1..H with one
    server; with several, (server k, slot h) for every server, in order (``model.columns``).
    ``prune`` drops dominated partition points (exact for GTPOS; tpos-best turns it off).
    """
    check_choice("objective", objective, OBJECTIVES)
    nets = class_networks(instance, objective, aggregate, canonical, prune)
    server = instance.servers[0]
    cols = columns(instance)
    col_server = [instance.servers[k] if instance.multi else server for k, _ in cols]
    H = len(cols)
    m = pyo.ConcreteModel(name=f"gtpos_{instance.name}")
    m.nets = nets
    m.columns = cols
    m.weight = 1.0 if objective == "social" else 1.0 / instance.N
    m.K = range(len(nets))
    m.S = range(1, H + 1)
    m.cls = pyo.Block(m.K)
    for k, net in enumerate(nets):
        add_class(m.cls[k], net, H)

    if server.capacity_mode == "total":   # one capacity mode for every server
        def cap_rule(_, h):
            """(17), total: all MDs' server time in slot h <= T_d/H (row scaled by 1/cap; its rhs
            1 + CAP_TOL/2 sits inside the checker's tolerance, docs/milp.md §3); per (server, slot)."""
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


def add_class(b: pyo.Block, net: ClassNetwork, H: int) -> None:
    """Flow f (integer, 0..count), the class tensor Y[m,h] with (15), (16) and the link to the flow,
    ``users[h]`` (MDs of the class in slot h, for (27)) and ``server_time[h]`` (17)."""
    dev, count = net.dev, net.count
    M = dev.M
    A = range(net.n_arcs)
    L = range(1, M + 1)
    dom = pyo.Binary if count == 1 else pyo.NonNegativeIntegers
    b.f = pyo.Var(A, within=dom, bounds=(0, count))
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
    if isinstance(net, UnionNetwork):  # several servers: each block's time on its own link (equal to the y form)
        b.server_time = pyo.Expression(range(1, H + 1), rule=lambda _, h: pyo.quicksum(
            float(net.t_blk[a]) * f[a] for a in blocks[h] if net.t_blk[a] != 0))
        return
    b.server_time = pyo.Expression(range(1, H + 1), rule=lambda _, h: pyo.quicksum(
        float(dev.t_server[mm]) * y[mm, h] for mm in L if dev.t_server[mm] != 0))


def flows_of(model: pyo.ConcreteModel, values=None) -> list[np.ndarray]:
    """Each class's arc flows (rounded to integers)."""
    out = []
    for k, net in enumerate(model.nets):
        f = model.cls[k].f
        out.append(np.array([round(pyo.value(f[a]) if values is None else values[f[a]]) for a in range(net.n_arcs)],
                            dtype=int))
    return out


def profile_of(model: pyo.ConcreteModel, instance: Instance, values=None) -> list[np.ndarray]:
    """Each MD's strategy: the class flows decomposed into paths (y[n,m,h] disaggregated)."""
    return assignment_of(model, instance, values)[0]


def assignment_of(model: pyo.ConcreteModel, instance: Instance, values=None):
    """(profile, server_of) of the model's values (``server_of`` None with one server)."""
    return assignment_from_flows(instance, model.nets, flows_of(model, values))


# ============================================================================ backends

def available_solvers() -> list[str]:
    """Backends usable here: ``highs`` and ``cpsat`` (dependencies) and the installed Pyomo solvers."""
    found = ["highs", "cpsat"]
    for name in KNOWN_PYOMO_SOLVERS:
        if _pyomo_available(name):
            found.append(name)
    return found


def _pyomo_available(name: str) -> bool:
    try:
        opt = pyo.SolverFactory(name)
        return bool(opt is not None and opt.available(exception_flag=False))
    except Exception:  # noqa: BLE001  (Pyomo raises various errors for unknown or broken solvers)
        return False


def check_solver(solver: str) -> None:
    """InputError (exit 2) when ``solver`` is not usable here, listing what was found."""
    if not isinstance(solver, str) or not solver:
        raise InputError(f"The 'solver' option must be a solver name. Got {solver!r} instead.")
    if solver in ("highs", "cpsat"):
        return
    if not _pyomo_available(solver):
        raise InputError(f"The 'solver' option must name an installed solver: {', '.join(available_solvers())}. "
                         f"Got {solver!r} instead (Pyomo cannot find or run it here).")


class _HighsProgress:
    """Calls ``progress`` from HiGHS's MIP callbacks (improving solutions, and at most every 0.5 s)."""

    def __init__(self, progress, t0: float):
        self.progress, self.t0, self.last = progress, t0, -1.0
        self.reported = False

    def __call__(self, e):
        out = e.data_out
        now = time.perf_counter()
        improving = "Improving" in str(e.callback_type) or "ImprovingSolution" in str(e.callback_type)
        if not improving and now - self.last < 0.5:
            return
        self.last = now
        inc, bnd = float(out.mip_primal_bound), float(out.mip_dual_bound)
        if not np.isfinite(inc):
            return
        self.reported = True
        self.progress(dict(incumbent=inc, bound=bnd if np.isfinite(bnd) else None,
                           gap=statusmod.gap(inc, bnd if np.isfinite(bnd) else None), time_s=now - self.t0))


def _solve_highs(model, *, mip_rel_gap, time_limit, threads, progress, t0):
    options = dict(GTPOS_OPTIONS, mip_rel_gap=float(mip_rel_gap))
    opt = persistent_solver(options, time_limit=time_limit, threads=threads)
    opt.set_instance(model)
    h = highs_object(opt)
    if progress is not None:
        cb = _HighsProgress(progress, t0)
        h.cbMipImprovingSolution.subscribe(cb)
        h.cbMipInterrupt.subscribe(cb)
    res = opt.solve(model)
    interrupt.check()  # HiGHS may have caught a Ctrl-C and returned an interrupt status: an interruption
    st = h.getModelStatus()
    name = getattr(st, "name", str(st))
    has = res.solution_status.name in ("optimal", "feasible")
    bound = res.objective_bound
    if progress is not None and not cb.reported and has:  # solved before any reported incumbent (presolve)
        inc = float(res.incumbent_objective)
        bnd = bound if bound is not None and np.isfinite(bound) else None
        progress(dict(incumbent=inc, bound=bnd, gap=statusmod.gap(inc, bnd), time_s=time.perf_counter() - t0))
    rep = statusmod.Report(
        status=h.modelStatusToString(st), proven_optimal=name == "kOptimal",
        infeasible=name in ("kInfeasible", "kUnboundedOrInfeasible"),  # every variable is bounded
        time_limit=name == "kTimeLimit", other_limit=name in ("kIterationLimit", "kSolutionLimit", "kInterrupt"),
        objective=res.incumbent_objective if has else None,
        bound=bound if bound is not None and np.isfinite(bound) else None,
        nodes=getattr(res.extra_info, "mip_node_count", None))
    flows = None
    if has:
        vals = res.solution_loader.get_vars(vars_to_load=[v for k in model.K for v in model.cls[k].f.values()])
        flows = flows_of(model, vals)
    return rep, flows


def _solve_pyomo(model, solver, *, mip_rel_gap, time_limit, threads):
    """Any other MILP solver Pyomo reaches by name (the classic SolverFactory interface)."""
    from pyomo.opt import TerminationCondition as TC

    opt = pyo.SolverFactory(solver)
    options = {}
    if time_limit is not None:
        options.update({"cbc": {"sec": time_limit}, "glpk": {"tmlim": int(max(1, time_limit))},
                        "gurobi": {"TimeLimit": time_limit}, "cplex": {"timelimit": time_limit},
                        "scip": {"limits/time": time_limit}}.get(solver, {}))
    options.update({"cbc": {"ratio": mip_rel_gap}, "glpk": {"mipgap": mip_rel_gap},
                    "gurobi": {"MIPGap": mip_rel_gap}, "cplex": {"mipgap": mip_rel_gap},
                    "scip": {"limits/gap": mip_rel_gap}}.get(solver, {}))
    if threads and solver in ("cbc", "gurobi", "cplex"):
        options[{"cbc": "threads", "gurobi": "Threads", "cplex": "threads"}[solver]] = threads
    res = opt.solve(model, options=options, load_solutions=False)
    tc = res.solver.termination_condition
    has = len(res.solution) > 0
    obj = bound = None
    flows = None
    if has:
        model.solutions.load_from(res)
        obj = pyo.value(model.obj)
        flows = flows_of(model)
    lb = getattr(res.problem, "lower_bound", None)
    try:
        bound = float(lb) if lb is not None and np.isfinite(float(lb)) else None
    except (TypeError, ValueError):
        bound = None
    rep = statusmod.Report(status=f"{solver}: {tc}", proven_optimal=tc == TC.optimal,
                           infeasible=tc in (TC.infeasible, TC.infeasibleOrUnbounded),
                           time_limit=tc == TC.maxTimeLimit,
                           other_limit=tc in (TC.maxIterations, TC.maxEvaluations), objective=obj,
                           bound=obj if (tc == TC.optimal and bound is None) else bound)
    return rep, flows


# ============================================================================ entry point

def lp_bound(instance: Instance, objective: str = "delay", canonical: bool | None = None,
             aggregate: bool = True) -> float:
    """Optimal value of the LP relaxation of the GTPOS model (for the LP gap of the formulation)."""
    model = build_model(instance, objective, canonical, aggregate)
    opt = persistent_solver(dict(GTPOS_OPTIONS, solve_relaxation=True))
    res = opt.solve(model)
    if res.solution_status.name != "optimal":
        raise SolverError(f"GTPOS LP relaxation: {highs_object(opt).modelStatusToString(highs_object(opt).getModelStatus())}")
    return float(res.incumbent_objective)
