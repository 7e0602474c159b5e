"""Game at scale: TPOS-CAI (DP engine) to a certified equilibrium for N mixed-DNN devices on one
server with B = N/4, with its time split and peak memory, by N.

Usage: python benchmarks/bench_scale.py [--quick] [--sizes 1000,10000,50000] [--repeat 1] [--cache DIR]

Each case runs in a fresh process (so its peak resident memory, ru_maxrss, is its own).
Reported per case: the instance build, the game (ticks, best responses, time per
best response), the certificate (N exact best responses against the true
aggregates, included in the game's wall time), the total wall time and the peak RSS.
The load average is recorded with every figure: the machine is shared, so wall
times are inflated when the load is high; the game's CPU time (``game_cpu_s``,
process time) is much less sensitive to the load and is the better figure then.
``--cache DIR`` pickles each built instance there and reuses it (building 50,000
devices takes minutes and is not part of the game). Targets (issue 13): N = 10,000 certified in <= 30 s,
peak memory <= 4 GB. ``--quick``: N = 1,000 only. Writes benchmarks/results/scale.csv
(``--quick``: scale-quick.csv).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from results_table import RESULTS, save

HERE = Path(__file__).resolve().parent
MIX = ["lenet", "alexnet", "vgg13", "vgg16"]


def mixed_instance(N: int, seed: int = 0):
    """N devices: the four bundled DNNs x three bandwidths in 12 equal groups (``count`` entries,
    so each DNN spec is read once), one server with B = N/4, delta_n drawn per device."""
    from mecopt.core.instance import instance_from_dict

    groups = [(dnn, bw) for dnn in MIX for bw in (1000.0, 2000.0, 3000.0)]
    counts = [N // 12 + (1 if g < N % 12 else 0) for g in range(12)]
    return instance_from_dict({
        "name": f"mixed-{N}", "seed": seed, "model": {"deadline_policy": "relax"},
        "server": {"parallel_limit": max(1, N // 4)},
        "devices": [{"dnn": dnn, "alpha": 0.95, "beta": 0.049, "gamma": 0.001, "bandwidth_hz": bw, "count": c}
                    for (dnn, bw), c in zip(groups, counts) if c],
    })


def uptime() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def one(N: int, seed: int, cache: str | None) -> dict:
    """One case, in this process."""
    import pickle
    import resource

    from mecopt.bestresponse.dp import DEFAULT_BACKEND
    from mecopt.methods.tpos import solve_cai

    load_before = uptime()
    t0 = time.perf_counter()
    path = Path(cache) / f"mixed-{N}-s{seed}.pickle" if cache else None
    if path is not None and path.exists():
        inst = pickle.loads(path.read_bytes())
    else:
        inst = mixed_instance(N, seed)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(pickle.dumps(inst))
    build = time.perf_counter() - t0
    t0, c0 = time.perf_counter(), time.process_time()
    sol = solve_cai(inst, engine="dp", seed=seed)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    cert = sol.info.get("certificate_s")
    return dict(N=N, B=inst.server.B, seed=seed, backend=DEFAULT_BACKEND, build_s=round(build, 2),
                game_s=round(wall, 2), game_cpu_s=round(cpu, 2),
                certificate_s=None if cert is None else round(cert, 2), ticks=sol.iterations,
                best_responses=sol.solver_calls,
                us_per_best_response=round(1e6 * (wall - (cert or 0.0)) / max(1, sol.solver_calls), 1),
                termination=str(sol.termination), certified=bool(sol.certificate["certified"]),
                max_gain_rel=float(sol.certificate["max_gain_rel"]),
                peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                load_before=load_before, load_after=uptime())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="N = 1,000 only")
    ap.add_argument("--sizes", default="1000,10000,50000")
    ap.add_argument("--repeat", type=int, default=1, help="runs per size (seeds 0..repeat-1)")
    ap.add_argument("--cache", default=None, help="folder for pickled instances")
    ap.add_argument("--append", action="store_true", help="keep the other sizes' rows of the results table")
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one:
        print(json.dumps(one(args.one, args.seed, args.cache)))
        return 0
    sizes = [1000] if args.quick else [int(x) for x in args.sizes.split(",")]
    rows = []
    for N in sizes:
        for seed in range(args.repeat):
            cmd = [sys.executable, __file__, "--one", str(N), "--seed", str(seed)]
            if args.cache:
                cmd += ["--cache", args.cache]
            out = subprocess.run(cmd,
                                 capture_output=True, text=True, env=os.environ)
            if out.returncode:
                print(out.stderr, file=sys.stderr)
                return 1
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(rows[-1], file=sys.stderr)
    name = "scale-quick" if args.quick else "scale"
    if args.append and (RESULTS / f"{name}.csv").exists():
        import pandas as pd
        old = pd.read_csv(RESULTS / f"{name}.csv")
        new_n = {r["N"] for r in rows}
        rows = [r for r in old.to_dict("records") if r["N"] not in new_n] + rows
        rows.sort(key=lambda r: r["N"])
    save(rows, name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
