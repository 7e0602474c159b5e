"""GTPOS at scale (issue 11): mecopt's backends side by side with two reference models, same run.

Usage: python benchmarks/bench_gtpos.py [--quick] [--repeats R] [--ref-limit S] [--cases a,b,...]

Rows (instances of the benchmark library instances/bench/, objective average delay, asked for
proven optimality, gap 1e-6):

* total mode ((17) as printed), AlexNet x N, the Fig. 5 family: N = 5, 10, 20, 50 — target:
  each proven optimal in <= 1 s;
* total mode, mixed DNNs with bandwidths from {1, ..., 3} kHz (>= 10 device classes): N = 50
  proven optimal in <= 30 s; N = 200 within 0.5 % in <= 120 s;
* per_device mode, N = 1,000 mixed DNNs: proven optimal in <= 60 s.

Columns: mecopt with its default backend (``cpsat``) and with ``highs`` (median wall time over
``--repeats`` runs, build and warm start included, with the process CPU time: on a shared machine
the CPU time is the fairer figure), and the two references measured in the same
run: the **textbook MILP** (Pyomo + HiGHS; binary q[n,m,h] = 1 if layer m of MD n runs in slot h
or later, monotone in m and h, y = q_h - q_{h+1}, partition indicator q[n,j+1,1] - q[n,j,1]) and
the **plain CP-SAT path-flow model** (one network per MD, no classes, no dominance, no warm
start, CP-SAT defaults, same integer scaling). ``--quick`` runs the N <= 20 rows with a 30 s
reference limit. The load average (``uptime``) is recorded with the figures: the machine is
shared, so timings under load are pessimistic.

Writes benchmarks/results/gtpos.csv and prints a table.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np
import pyomo.environ as pyo
from results_table import save

from mecopt.core import checker as check
from mecopt.core.instance import load_instance
from mecopt.methods.gtpos import solve_gtpos
from mecopt.milp.backends import cpsat
from mecopt.milp.backends import status as statusmod
from mecopt.milp.backends.highs import GTPOS_OPTIONS, highs_object, persistent_solver
from mecopt.milp.classes import class_networks, profile_from_flows

#: (library name, target text, time limit of mecopt's runs, target: (max gap, max seconds))
CASES = [
    ("alexnet-total-n5", "optimal <= 1 s", 60.0, (1e-6, 1.0)),
    ("alexnet-total-n10", "optimal <= 1 s", 60.0, (1e-6, 1.0)),
    ("alexnet-total-n20", "optimal <= 1 s", 60.0, (1e-6, 1.0)),
    ("alexnet-total-n50", "optimal <= 1 s", 60.0, (1e-6, 1.0)),
    ("mixed-total-n10", "-", 120.0, None),
    ("mixed-total-n50", "optimal <= 30 s", 120.0, (1e-6, 30.0)),
    ("mixed-total-n200", "gap <= 0.5 % <= 120 s", 120.0, (5e-3, 120.0)),
    ("mixed-per_device-n1000", "optimal <= 60 s", 120.0, (1e-6, 60.0)),
]
QUICK = {"alexnet-total-n5", "alexnet-total-n10", "alexnet-total-n20", "mixed-total-n10"}


def textbook(instance, time_limit: float):
    """The textbook MILP on q[n,m,h] (module docstring), solved by HiGHS; returns (Report, profile, wall, cpu)."""
    t0, c0 = time.perf_counter(), time.process_time()
    s, H, N = instance.server, instance.server.H, instance.N
    m = pyo.ConcreteModel()
    m.q = pyo.Block(range(N))
    T = []
    for n, d in enumerate(instance.devices):
        b, M = m.q[n], d.M
        b.q = pyo.Var(range(1, M + 1), range(1, H + 1), within=pyo.Binary)
        b.u = pyo.Var(range(1, H + 1), within=pyo.Binary)
        q = b.q
        b.mono_h = pyo.Constraint(range(1, M + 1), range(2, H + 1), rule=lambda _, mm, h: q[mm, h] <= q[mm, h - 1])  # noqa: B023 (Pyomo calls each rule while the constraint is built, inside this iteration)
        b.mono_m = pyo.Constraint(range(1, M), range(1, H + 1), rule=lambda _, mm, h: q[mm, h] <= q[mm + 1, h])  # noqa: B023 (Pyomo calls each rule while the constraint is built, inside this iteration)
        y = {(mm, h): q[mm, h] - (q[mm, h + 1] if h < H else 0) for mm in range(1, M + 1) for h in range(1, H + 1)}
        b.use = pyo.Constraint(range(1, M + 1), range(1, H + 1), rule=lambda _, mm, h: y[mm, h] <= b.u[h])  # noqa: B023 (Pyomo calls each rule while the constraint is built, inside this iteration)
        part = [q[1, 1]] + [q[j + 1, 1] - q[j, 1] for j in range(1, M)]   # partition indicator of j < M
        delay = (sum(float(d.t_local[mm]) * (1 - q[mm, 1]) for mm in range(1, M + 1))
                 + sum(float(d.t_up[j]) * part[j] for j in range(M)) + d.t_down * q[M, 1]
                 + s.slot_len * sum(q[M, h] for h in range(1, H + 1)))
        T.append(delay)
        if not d.deadline_relaxed:
            b.deadline = pyo.Constraint(expr=delay <= d.tau * (1 + 1e-12))
        b.time = pyo.Expression(range(1, H + 1), rule=lambda _, h: sum(
            float(d.t_server[mm]) * y[mm, h] for mm in range(1, M + 1)))  # noqa: B023 (Pyomo calls each rule while the constraint is built, inside this iteration)
        if s.capacity_mode == "per_device":
            b.cap = pyo.Constraint(range(1, H + 1), rule=lambda _, h: b.time[h] <= s.slot_len)  # noqa: B023 (Pyomo calls each rule while the constraint is built, inside this iteration)
    if s.capacity_mode == "total":
        m.cap = pyo.Constraint(range(1, H + 1), rule=lambda _, h: sum(m.q[n].time[h] for n in range(N)) <= s.slot_len)
    m.par = pyo.Constraint(range(1, H + 1), rule=lambda _, h: sum(m.q[n].u[h] for n in range(N)) <= s.B)
    m.obj = pyo.Objective(expr=sum(T) / N)
    opt = persistent_solver(dict(GTPOS_OPTIONS, mip_rel_gap=1e-6), time_limit=time_limit)
    res = opt.solve(m)
    h = highs_object(opt)
    name = h.getModelStatus().name
    has = res.solution_status.name in ("optimal", "feasible")
    rep = statusmod.Report(status=h.modelStatusToString(h.getModelStatus()), proven_optimal=name == "kOptimal",
                           time_limit=name == "kTimeLimit", objective=res.incumbent_objective if has else None,
                           bound=res.objective_bound)
    profile = None
    if has:
        res.solution_loader.load_vars()
        profile = []
        for n, d in enumerate(instance.devices):
            qv = np.array([[round(pyo.value(m.q[n].q[mm, hh])) for hh in range(1, H + 1)] for mm in range(1, d.M + 1)])
            profile.append(qv.sum(axis=1).astype(int))
    return rep, profile, time.perf_counter() - t0, time.process_time() - c0


def plain_cpsat(instance, time_limit: float):
    """One network per MD, no classes, no dominance, no warm start, CP-SAT defaults."""
    t0, c0 = time.perf_counter(), time.process_time()
    nets = class_networks(instance, "delay", aggregate=False, prune=False)
    rep, flows, _ = cpsat.solve(instance, nets, "delay", 1.0 / instance.N, time_limit=time_limit, threads=1,
                                params={"linearization_level": 1})
    profile = profile_from_flows(instance, nets, flows) if flows is not None else None
    return rep, profile, time.perf_counter() - t0, time.process_time() - c0


def _cell(term, gap, wall, ok=None) -> str:
    g = "-" if gap is None else f"{100 * gap:.3g} %"
    return f"{term}, gap {g}, {wall:.2f} s" + ("" if ok is None else (" [target met]" if ok else " [target missed]"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="N <= 20 only, 30 s reference limit")
    ap.add_argument("--repeats", type=int, default=None, help="runs per mecopt backend (median; default 3, quick 1)")
    ap.add_argument("--ref-limit", type=float, default=None, help="time limit of the reference models (default 300 s)")
    ap.add_argument("--cases", default=None, help="comma-separated library names")
    ap.add_argument("--no-refs", action="store_true", help="skip the reference models")
    args = ap.parse_args(argv)
    repeats = args.repeats or (1 if args.quick else 3)
    ref_limit = args.ref_limit or (30.0 if args.quick else 300.0)
    chosen = set(args.cases.split(",")) if args.cases else None
    load0 = os.getloadavg()
    rows = []
    for name, target, limit, goal in CASES:
        if (args.quick and name not in QUICK) or (chosen and name not in chosen):
            continue
        inst = load_instance(f"bench:{name}")
        row = dict(case=name, mode=inst.server.capacity_mode, N=inst.N, target=target)
        for solver in ("cpsat", "highs"):
            runs = [solve_gtpos(inst, solver=solver, time_limit=limit) for _ in range(repeats)]
            wall = statistics.median(r.wall_time for r in runs)
            cpu = statistics.median(r.info["cpu_s"] for r in runs)
            sol = runs[-1]
            assert all(r.feasible for r in runs), (name, solver)
            ok = None if goal is None else (sol.gap is not None and sol.gap <= goal[0] and wall <= goal[1])
            row[f"mecopt_{solver}"] = _cell(sol.termination, sol.gap, wall, ok) + f" (cpu {cpu:.2f} s)"
            row[f"{solver}_objective"] = sol.objective
            row[f"{solver}_wall_s"] = round(wall, 3)
            row[f"{solver}_cpu_s"] = round(cpu, 3)
            row["classes"] = sol.info["classes"]
            print(name, solver, sol.termination, sol.objective, sol.gap, wall, file=sys.stderr, flush=True)
        if not args.no_refs:
            for ref, fn in (("textbook_highs", textbook), ("plain_cpsat", plain_cpsat)):
                rep, profile, wall, cpu = fn(inst, ref_limit)
                term = statusmod.termination(rep, 1e-6)
                if term == "error" and rep.time_limit:
                    term = "no solution within the limit"
                feasible = profile is not None and not check.check_profile(inst, profile)
                row[ref] = _cell(term, statusmod.gap(rep.objective, rep.bound), wall) + (
                    "" if feasible or profile is None else " INFEASIBLE PROFILE")
                row[ref] += f" (cpu {cpu:.2f} s)"
                row[f"{ref}_objective"] = rep.objective
                row[f"{ref}_wall_s"] = round(wall, 3)
                row[f"{ref}_cpu_s"] = round(cpu, 3)
                print(name, ref, term, rep.objective, wall, file=sys.stderr, flush=True)
        rows.append(row)
    load1 = os.getloadavg()
    for r in rows:
        r["load_avg_1min_start_end"] = f"{load0[0]:.1f} / {load1[0]:.1f}"
    print(f"load average (1, 5, 15 min): start {load0}, end {load1}", file=sys.stderr)
    save(rows, "gtpos_quick" if args.quick else "gtpos",
         hide=tuple(k for k in rows[0] if k.endswith(("_objective", "_wall_s", "_cpu_s")))
         if rows else ())
    return 0


if __name__ == "__main__":
    sys.exit(main())
