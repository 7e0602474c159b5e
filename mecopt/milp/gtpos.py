"""GTPOS (Case 2): the centralized optimum over the whole tensor y[n,m,h], as one MILP.

Formulation (docs/milp.md). Every MD n gets the path network of
:mod:`mecopt.milp.network` (the same one the best response uses) with its
binary y[n,m,h] (14), (15), (16) stated on y and linked to the path, and (26)
(unless the MD is relaxed by ``deadline_policy = "relax"``), written both as the
paper's row on y and as exact clique rows on the path. Coupling:

* (17) capacity, mode ``per_device``: sum_m y[n,m,h] T^se_{n,m} <= T_d/H for each
  n, h (blocks over T_d/H are not in the network at all); mode ``total``:
  sum_n sum_m y[n,m,h] T^se_{n,m} <= T_d/H for each h.
* (27) sum_n u[n,h] <= B, with u[n,h] = 1(sum_m y[n,m,h]) (also equal to the number
  of n's blocks in slot h, at most one, which keeps the LP tight).
* no price. Objective ``delay`` (the paper): (1/N) sum_n T_n with T_n from (24),
  linear in y; ``social``: sum_n (alpha_n c^T_n T_n + beta_n c^E_n E_n);
  ``energy``: (1/N) sum_n E_n (25).

The formulation is exact: every strategy profile satisfying (15)-(17), (26),
(27) is one integral point (a path per MD) and vice versa, and T_n, E_n are
linear along the path (tests check it against joint enumeration). In
``per_device`` mode each MD's network keeps only the fewest-blocks packing of
its offloaded layers (:func:`~mecopt.milp.network.canonical_cuts`): the
objective depends only on (m*, h_max) and the coupling only on the slots used,
and any strategy can be re-cut into those blocks placed in a subset of its slots
that keeps h_max, so this loses no optimum and removes the many equivalent
block splittings. Identical MDs are left to HiGHS's symmetry detection
(explicit ordering constraints made it much slower).

Termination: ``OPTIMAL`` only when HiGHS proves optimality within ``mip_rel_gap``;
``TIME_LIMIT`` with the incumbent otherwise. An infeasible model (for example
more MDs that must offload to meet tau than B x H slot places) raises
:class:`~mecopt.errors.InfeasibleError` naming those MDs; a stop with no
feasible solution raises :class:`~mecopt.errors.SolverError`.
"""

from __future__ import annotations

import time

import numpy as np
import pyomo.environ as pyo

from mecopt.model import limits
from mecopt.errors import InfeasibleError, InputError, SolverError
from mecopt.model.instance import Instance
from mecopt.model.tolerances import capacity_limit, meets_deadline
from mecopt.solution import Solution, Termination
from mecopt.milp.highs import GTPOS_OPTIONS, outcome, persistent_solver
from mecopt.milp.network import add_device, build_network

OBJECTIVES = ("delay", "social", "energy")


def build_model(instance: Instance, objective: str = "delay", canonical: bool | None = None) -> pyo.ConcreteModel:
    """The GTPOS MILP (one block ``md[n]`` per device; see the module docstring).

    ``canonical`` (default: on in ``per_device`` mode, where it is exact) restricts each MD to the
    fewest-blocks packing of :func:`~mecopt.milp.network.canonical_cuts`.
    """
    if objective not in OBJECTIVES:
        raise InputError(f"The 'objective' option must be one of {', '.join(OBJECTIVES)}. Got {objective!r} instead.")
    server, N, H = instance.server, instance.N, instance.server.H
    if canonical is None:
        canonical = server.capacity_mode == "per_device"
    m = pyo.ConcreteModel(name=f"gtpos_{instance.name}")
    m.canonical = canonical
    m.N = range(N)
    m.S = range(1, H + 1)
    m.md = pyo.Block(m.N)
    for n, dev in enumerate(instance.devices):
        b = m.md[n]
        add_device(b, dev, server, build_network(dev, server, canonical=canonical))
        b.deadline_on = 0 if dev.deadline_relaxed else 1

    if server.capacity_mode == "per_device":
        def cap_rule(_, n, h):
            """(17), per_device: each MD's own server time in slot h <= T_d/H (the network's tolerance)."""
            return m.md[n].server_time[h] <= capacity_limit(server.slot_len)

        m.capacity = pyo.Constraint(m.N, m.S, rule=cap_rule)
    else:
        def cap_rule(_, h):
            """(17), total: all MDs' server time in slot h <= T_d/H (the checker allows CAP_TOL more)."""
            return pyo.quicksum(m.md[n].server_time[h] for n in m.N) <= server.slot_len

        m.capacity = pyo.Constraint(m.S, rule=cap_rule)

    def parallel_rule(_, h):
        """(27): at most B MDs use slot h."""
        return pyo.quicksum(m.md[n].u[h] for n in m.N) <= server.B

    m.parallel = pyo.Constraint(m.S, rule=parallel_rule)

    def term(n):
        dev, b = instance.devices[n], m.md[n]
        if objective == "delay":
            return b.delay
        if objective == "energy":
            return b.energy
        return dev.alpha * dev.c_T * b.delay + dev.beta * dev.c_E * b.energy

    m.term = pyo.Expression(m.N, rule=lambda _, n: term(n))
    weight = 1.0 if objective == "social" else 1.0 / N
    m.obj = pyo.Objective(expr=weight * pyo.quicksum(m.term[n] for n in m.N), sense=pyo.minimize)

    return m


def profile_of(model: pyo.ConcreteModel, instance: Instance, values=None) -> list[np.ndarray]:
    """Each MD's strategy read from y (rounded)."""
    H = instance.server.H
    out = []
    for n, dev in enumerate(instance.devices):
        y = model.md[n].y
        Y = np.array([[pyo.value(y[mm, h]) if values is None else values[y[mm, h]] for h in range(H + 1)]
                      for mm in range(1, dev.M + 1)])
        out.append(np.argmax(Y, axis=1).astype(int))
    return out


def _infeasible_message(instance: Instance) -> str:
    must = [d for d in instance.devices if not d.deadline_relaxed and not meets_deadline(d.local_cum[-1], d.tau)]
    s = instance.server
    msg = ("GTPOS: no joint strategy satisfies (15)-(17), (26) and (27) together (HiGHS proved the MILP "
           "infeasible).")
    if must:
        names = ", ".join(d.name for d in must[:10]) + (" ..." if len(must) > 10 else "")
        msg += (f" {len(must)} device(s) can meet their deadline only by offloading ({names}), while (27) "
                f"allows at most B = {s.B} devices per slot over H = {s.H} slots and (17) limits each slot to "
                f"T_d/H = {s.slot_len:g} s; relax (26) with model.deadline_policy = \"relax\" only helps "
                f"devices with no tau-feasible strategy at all, so enlarge the server or loosen tau.")
    return msg


def solve_gtpos(instance: Instance, *, objective: str = "delay", time_limit: float | None = None,
                mip_rel_gap: float = 1e-6, threads: int | None = None, canonical: bool | None = None) -> Solution:
    """Solve GTPOS with HiGHS; see the module docstring for the model and the termination rules.

    ``threads`` resizes HiGHS's process-wide thread pool (see :func:`.highs.persistent_solver`);
    ``canonical`` overrides the fewest-blocks restriction (default: on in mode per_device).
    """
    t0 = time.perf_counter()
    if time_limit is None:  # never unbounded (issue 12): the default is reported as the time limit
        time_limit = limits.DEFAULT_GTPOS_TIME_LIMIT_S
    arcs = limits.gtpos_arcs(instance)
    if arcs > limits.MAX_GTPOS_ARCS:
        raise InputError(f"GTPOS: the instance needs {arcs} block arcs (N = {instance.N} devices, up to "
                         f"{instance.M_max} layers, H = {instance.server.H} slots); the limit is "
                         f"{limits.MAX_GTPOS_ARCS} (server.slots, devices.count, devices.dnn); use tpos-cai/uai")
    model = build_model(instance, objective, canonical)
    options = dict(GTPOS_OPTIONS, mip_rel_gap=float(mip_rel_gap))
    opt = persistent_solver(options, time_limit=time_limit, threads=threads)
    t1 = time.perf_counter()
    res = opt.solve(model)
    out = outcome(opt, res)
    wall = time.perf_counter() - t0
    if out.termination == Termination.INFEASIBLE:
        raise InfeasibleError(_infeasible_message(instance))
    if not out.has_solution:
        raise SolverError(f"GTPOS: HiGHS stopped without a feasible solution ({out.status})")
    if out.termination not in (Termination.OPTIMAL, Termination.TIME_LIMIT, Termination.ITERATION_LIMIT,
                               Termination.FEASIBLE):
        raise SolverError(f"GTPOS: HiGHS failed ({out.status})")
    vals = res.solution_loader.get_vars(
        vars_to_load=[v for n in range(instance.N) for v in model.md[n].y.values()])
    profile = profile_of(model, instance, vals)
    flags = {d.name: ["deadline_relaxed"] for d in instance.devices if d.deadline_relaxed}
    return Solution(
        method="gtpos", instance=instance, profile=profile, termination=out.termination, status=out.status,
        objective=out.objective, bound=out.bound, gap=out.gap, wall_time=wall, solver_calls=1, engine="highs",
        flags=flags,
        info=dict(objective_name=objective, nodes=out.nodes, build_s=t1 - t0, solve_s=wall - (t1 - t0),
                  mip_rel_gap=mip_rel_gap, time_limit=time_limit,
                  canonical=bool(model.canonical)),
    )


def lp_bound(instance: Instance, objective: str = "delay", canonical: bool | None = None) -> float:
    """Optimal value of the LP relaxation of the GTPOS model (for the LP gap of the formulation)."""
    model = build_model(instance, objective, canonical)
    opt = persistent_solver(dict(GTPOS_OPTIONS, solve_relaxation=True))
    out = outcome(opt, opt.solve(model))
    if out.termination != Termination.OPTIMAL:
        raise SolverError(f"GTPOS LP relaxation: {out.status}")
    return float(out.objective)
