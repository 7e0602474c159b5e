"""Time and peak memory of loading and solving as the sizes grow: the measurements behind
the validation limits of :mod:`mecopt.core.limits` (layers per DNN, devices, slots).

Usage: python benchmarks/bench_limits.py [--quick] [--timeout S]

Each case runs in a fresh subprocess (so its peak RSS is its own): load the instance,
then one method (``tpos-cai`` with the DP engine, or ``gtpos`` with a time limit).
The chain DNN of M layers is M conv/relu layers on an 8 x 16 x 16 input. A case that
exceeds ``--timeout`` seconds is recorded as ``timeout``.

Writes benchmarks/results/limits.csv and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from results_table import save

CASE = r"""
import json, sys, time, resource
from mecopt.core.instance import instance_from_dict
from mecopt import solve
doc, base, method, opts = json.loads(sys.argv[1])
t0 = time.perf_counter()
try:
    inst = instance_from_dict(doc, base=__import__("pathlib").Path(base))
    load = time.perf_counter() - t0
    t1 = time.perf_counter()
    sol = solve(inst, method, **opts)
    out = dict(load_s=load, solve_s=time.perf_counter() - t1, termination=str(sol.termination),
               violations=len(sol.violations))
except Exception as err:  # recorded, not raised: the table shows where a size fails
    out = dict(load_s=time.perf_counter() - t0, error=f"{type(err).__name__}: {str(err)[:120]}")
out["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
"""


def chain_spec(M: int) -> str:
    layers = []
    for i in range(M):
        if i % 2 == 0:
            layers.append(f'{{ name = "c{i}", type = "conv", out_channels = 8, kernel = 3, pad = 1 }}')
        else:
            layers.append(f'{{ name = "r{i}", type = "relu" }}')
    return (f'name = "chain{M}"\ninput = {{ channels = 8, height = 16, width = 16 }}\nlayers = [\n'
            + ",\n".join(layers) + "\n]\n")


def run_case(doc: dict, base: str, method: str, opts: dict, timeout: float) -> dict:
    t0 = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, "-c", CASE, json.dumps([doc, base, method, opts])],
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return dict(result="timeout", wall_s=time.perf_counter() - t0)
    try:
        out = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        return dict(result=f"crash rc={proc.returncode}: {proc.stderr.strip().splitlines()[-1:]}",
                    wall_s=time.perf_counter() - t0)
    out["result"] = "error" if "error" in out else "ok"
    out["wall_s"] = time.perf_counter() - t0
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--timeout", type=float, default=120.0)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="mecopt-limits-"))
    relax = {"deadline_policy": "relax"}
    rows = []
    layer_sizes = [100, 500, 1000] if args.quick else [100, 250, 500, 1000, 2000, 5000]
    for M in layer_sizes:
        (tmp / f"chain{M}.toml").write_text(chain_spec(M))
        doc = {"name": f"chain{M}", "model": relax, "devices": [{"dnn": f"chain{M}.toml", "count": 2}]}
        for method, opts in (("tpos-cai", {"engine": "dp", "seed": 0}), ("gtpos", {"time_limit": 30.0})):
            r = run_case(doc, str(tmp), method, opts, args.timeout)
            rows.append(dict(axis="layers", size=M, method=method, **r))
            print(rows[-1], flush=True)
    device_sizes = [100, 1000] if args.quick else [100, 1000, 5000, 10000]
    for N in device_sizes:
        doc = {"name": f"n{N}", "model": relax, "devices": [{"dnn": "lenet", "count": N}]}
        for method, opts in (("tpos-cai", {"engine": "dp", "seed": 0}), ("gtpos", {"time_limit": 30.0})):
            if method == "gtpos" and N > 1000:
                continue
            r = run_case(doc, str(tmp), method, opts, args.timeout)
            rows.append(dict(axis="devices", size=N, method=method, **r))
            print(rows[-1], flush=True)
    for H in ([100, 1000] if args.quick else [100, 500, 1000]):
        doc = {"name": f"h{H}", "model": relax, "server": {"slots": H, "frame_s": 0.75 * H / 5},
               "devices": [{"dnn": "alexnet", "count": 5}]}
        for method, opts in (("tpos-cai", {"engine": "dp", "seed": 0}), ("gtpos", {"time_limit": 30.0})):
            r = run_case(doc, str(tmp), method, opts, args.timeout)
            rows.append(dict(axis="slots", size=H, method=method, **r))
            print(rows[-1], flush=True)
    cols = ["axis", "size", "method", "result", "load_s", "solve_s", "wall_s", "peak_rss_mib", "termination", "error"]
    save([{c: r.get(c) for c in cols} for r in rows], "limits")


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
