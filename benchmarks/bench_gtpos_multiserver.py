"""GTPOS with several edge servers (docs/multiserver.md): time to a proven optimum, both backends.

Usage: python benchmarks/bench_gtpos_multiserver.py [--mode total|per_device] [--cases a,b,...]
       [--time-limit S] [--repeats R] [--solvers cpsat,highs] [--base DIR] [--name STEM]

With ``--base DIR`` (a checkout of the previous main, e.g. ``git worktree add --detach
/work/wt/base-milp main``) every (case, solver) runs on both trees side by side, each solve in a
fresh process with ``PYTHONPATH`` at its tree (interleaved, so both see the same load); the table
then has one row per tree (``tree`` = new / base). Without it, this tree only, in-process.

Instances are built in code (seeded), the paper preset per server (H = 5, T_d = 0.75 s, B = 4,
f_s = 3400), capacity mode ``--mode`` (default total, (17) as printed), deadline policy relax,
objective average delay:

* ``alexnet-K2-n20``: 2 servers, 20 AlexNet MDs, each near one server (G = 1.2e6) and far from the
  other (G = 3e5), reaching both;
* ``mixed-K2-n20``, ``mixed-K4-n50``, ``mixed-K4-n200``, ``mixed-K10-n500``: VGG16, VGG13, AlexNet, LeNet with
  bandwidths from {1, 2, 3} kHz; each MD reaches its home server (G = 1.2e6) and, with
  probability 0.7, one more (G = 3e5) — the rest reach only their home server.

Each row: mecopt ``solve_gtpos`` with ``cpsat`` (default) and ``highs``: termination, objective,
gap, wall time and process CPU time (the machine is shared: CPU time is the fairer figure), the
number of device classes and arcs, the load average, and the checker's verdict. Writes
benchmarks/results/gtpos_multiserver_MODE.csv (``..._side_by_side.csv`` with ``--base``; ``--name STEM``:
benchmarks/results/STEM.csv, so a run on a few cases keeps the full tables) and prints the table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from results_table import save

from mecopt.core.instance import instance_from_dict
from mecopt.methods.gtpos import solve_gtpos

DNNS = ("vgg16", "vgg13", "alexnet", "lenet")
BANDWIDTHS = (1000.0, 2000.0, 3000.0)
SERVER = {"slots": 5, "frame_s": 0.75, "parallel_limit": 4, "freq_cycles_per_s": 3400.0, "tx_power_w": 4.0}
DEFAULTS = {"cost_delay_per_s": 3400.0, "cost_energy_per_j": 3400.0, "delta_cycles_per_bit": [2000.0, 2500.0],
            "upload_power_w": 4.0, "compute_power_w": 4.05, "bandwidth_hz": 2000.0, "noise_w_per_hz": 1e-9,
            "deadline_s": 5.0, "alpha": 0.95, "beta": 0.049, "gamma": 0.001}
NEAR, FAR = 1.2e6, 3e5


def doc(name: str, K: int, N: int, mixed: bool, seed: int, mode: str = "total") -> dict:
    rng = np.random.default_rng(seed)
    servers = [dict(SERVER, name=f"s{k + 1}") for k in range(K)]
    groups: dict[tuple, int] = {}
    for _ in range(N):
        home = int(rng.integers(K))
        if mixed:
            dnn, bw = DNNS[int(rng.integers(len(DNNS)))], BANDWIDTHS[int(rng.integers(len(BANDWIDTHS)))]
            other = int((home + 1 + rng.integers(K - 1)) % K) if rng.random() < 0.7 else None
            reach = tuple(sorted({home} | ({other} if other is not None else set())))
        else:
            dnn, bw, reach = "alexnet", 2000.0, tuple(range(K))
        groups[(dnn, bw, home, reach)] = groups.get((dnn, bw, home, reach), 0) + 1
    devices = []
    for (dnn, bw, home, reach), count in sorted(groups.items()):
        gains = [NEAR if k == home else FAR for k in range(K)]
        devices.append({"name": f"{dnn}-{int(bw)}hz-home{home + 1}-reach{'.'.join(str(k + 1) for k in reach)}",
                        "dnn": dnn, "count": count, "bandwidth_hz": bw, "channel_gain": gains,
                        "servers": [f"s{k + 1}" for k in reach]})
    return {"name": name, "seed": seed, "servers": servers, "device_defaults": DEFAULTS, "devices": devices,
            "model": {"bits_per_element": 1, "price_scale": 1e6, "capacity_mode": mode,
                      "deadline_policy": "relax"}}


CASES = {
    "alexnet-K2-n20": (2, 20, False, 1),
    "mixed-K2-n20": (2, 20, True, 2),
    "mixed-K4-n50": (4, 50, True, 3),
    "mixed-K4-n200": (4, 200, True, 4),
    "mixed-K10-n500": (10, 500, True, 5),
}


def run_one(name: str, mode: str, solver: str, time_limit: float) -> dict:
    """One solve in this process: the figures of a row."""
    K, N, mixed, seed = CASES[name]
    inst = instance_from_dict(doc(name, K, N, mixed, seed, mode))
    c0, t0 = time.process_time(), time.perf_counter()
    sol = solve_gtpos(inst, solver=solver, time_limit=time_limit)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    dec = sol.info.get("decomposition") or {}
    return dict(classes=sol.info["classes"], arcs=sol.info["arcs"], termination=str(sol.termination),
                objective=sol.objective, bound=sol.bound, gap=sol.gap, wall_s=round(wall, 3), cpu_s=round(cpu, 3),
                feasible=bool(sol.feasible), bound_source=sol.info.get("bound_source", "full model"),
                lagrangian_bound=dec.get("lagrangian_bound"), decomposition_rounds=dec.get("rounds"),
                offloading=int(np.sum(sol.server_of >= 0)),
                per_server=";".join(str(int(np.sum(sol.server_of == k))) for k in range(K)))


def run_in(tree: Path, name: str, mode: str, solver: str, time_limit: float) -> dict:
    """One solve in a fresh process on ``tree`` (this script's worker mode)."""
    env = dict(os.environ, PYTHONPATH=str(tree))
    out = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker", name, "--mode", mode,
                          "--solvers", solver, "--time-limit", str(time_limit)], env=env, capture_output=True,
                         text=True, cwd=Path(__file__).resolve().parent)
    if out.returncode != 0:
        raise SystemExit(f"{name} {solver} on {tree} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=["total", "per_device"], default="total")
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--time-limit", type=float, default=300.0)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--solvers", default="cpsat,highs")
    ap.add_argument("--base", type=Path, help="the previous main's tree, run side by side")
    ap.add_argument("--name", help="results file stem (default: gtpos_multiserver_MODE[_side_by_side])")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(run_one(args.worker, args.mode, args.solvers, args.time_limit)))
        return 0
    rows = []
    if args.base is not None:
        trees = {"new": Path(__file__).resolve().parents[1], "base": args.base.resolve()}
        for name in args.cases.split(","):
            K, N, _, _ = CASES[name]
            for solver in args.solvers.split(","):
                for tree, path in trees.items():
                    load = round(os.getloadavg()[0], 2)
                    r = run_in(path, name, args.mode, solver, args.time_limit)
                    rows.append(dict(instance=name, mode=args.mode, servers=K, devices=N, solver=solver, tree=tree,
                                     **r, load_avg=load, time_limit=args.time_limit))
                    print(rows[-1], file=sys.stderr, flush=True)
        save(rows, args.name or f"gtpos_multiserver_{args.mode}_side_by_side")
        return 0
    for name in args.cases.split(","):
        K, N, mixed, seed = CASES[name]
        inst = instance_from_dict(doc(name, K, N, mixed, seed, args.mode))
        for solver in args.solvers.split(","):
            walls, cpus, sol = [], [], None
            for _ in range(args.repeats):
                c0, t0 = time.process_time(), time.perf_counter()
                sol = solve_gtpos(inst, solver=solver, time_limit=args.time_limit)
                walls.append(time.perf_counter() - t0)
                cpus.append(time.process_time() - c0)
            rows.append(dict(instance=name, mode=args.mode, servers=K, devices=N, classes=sol.info["classes"],
                             arcs=sol.info["arcs"],
                             solver=solver, termination=str(sol.termination), objective=sol.objective,
                             gap=sol.gap, wall_s=round(statistics.median(walls), 3),
                             cpu_s=round(statistics.median(cpus), 3), feasible=sol.feasible,
                             offloading=int(np.sum(sol.server_of >= 0)),
                             per_server=";".join(str(int(np.sum(sol.server_of == k))) for k in range(K)),
                             load_avg=round(os.getloadavg()[0], 2), time_limit=args.time_limit))
            print(rows[-1], file=sys.stderr, flush=True)
    save(rows, args.name or f"gtpos_multiserver_{args.mode}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
