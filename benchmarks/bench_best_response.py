"""Best-response time per call: MILP (Pyomo param update + persistent HiGHS) vs DP.

Usage: python benchmarks/bench_best_response.py [--calls 200] [--seed 0] [--quick] [--no-milp]

One device of each DNN (paper preset, H = 5, alpha/beta/gamma = .42/.17/.41,
W = 2 kHz, deadline_policy relax), both capacity modes, against random others'
aggregates (price load L_h ~ U[0, 3 x own total], server time ~ U[0, T_d/H],
count ~ U{0..B}, so some slots are full). The time of a call includes setting
the mutable Params and reading the strategy back; the one-off model build is
reported separately. Both engines must return the same strategy on every call
(counted in ``mismatches``).

The DP is measured with both kernels (``dp``: compiled by numba when installed;
``dp-numpy``: the numpy reference), and ``dp-move`` is the compiled DP without
re-scoring the cost (what the game loop calls). Every DP variant must return the
same strategy as the MILP (``mismatches``) and the two kernels the same objective
to the last bit (``kernel_diff``).

Targets (medians, H = 5): MILP <= 20 ms for AlexNet (M = 21), <= 50 ms for VGG16
(M = 37); DP <= 0.1 ms for VGG16 (issue 13). The load average is recorded with each
row (the machine is shared). Writes benchmarks/results/best_response.csv
(``--quick``: 50 calls, AlexNet and VGG16, per_device, best_response-quick.csv).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from results_table import save

from mecopt.bestresponse.dp import DPDevice
from mecopt.core.instance import instance_from_dict
from mecopt.core.problem import Aggregates
from mecopt.milp.best_response import MILPDevice

ROOT = Path(__file__).resolve().parents[1]


def device(dnn: str, mode: str):
    inst = instance_from_dict({"name": f"bench-{dnn}", "seed": 0,
                               "model": {"capacity_mode": mode, "deadline_policy": "relax"},
                               "devices": [{"dnn": dnn, "alpha": 0.42, "beta": 0.17, "gamma": 0.41}]})
    return inst.devices[0], inst.server


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dnns", default="lenet,alexnet,vgg13,vgg16")
    ap.add_argument("--modes", default="per_device,total")
    ap.add_argument("--quick", action="store_true", help="50 calls, alexnet and vgg16, per_device")
    ap.add_argument("--no-milp", action="store_true", help="DP variants only")
    args = ap.parse_args(argv)
    if args.quick:
        args.calls, args.dnns, args.modes = 50, "alexnet,vgg16", "per_device"
    rows = []
    for mode in args.modes.split(","):
        for dnn in args.dnns.split(","):
            dev, server = device(dnn, mode)
            H = server.H
            t0 = time.perf_counter()
            milp = None if args.no_milp else MILPDevice(dev, server)
            build = time.perf_counter() - t0
            variants = {"dp": DPDevice(dev, server).best_response, "dp-move": DPDevice(dev, server).best_move,
                        "dp-numpy": DPDevice(dev, server, backend="numpy").best_response}
            if milp is not None:
                variants = {"milp": milp.best_response, **variants}
            rng = np.random.default_rng(args.seed)
            aggs = [Aggregates(rng.uniform(0, 3 * dev.S[1:].sum() + 1e-9, H), rng.uniform(0, server.slot_len, H),
                               rng.integers(0, server.B + 1, H).astype(float)) for _ in range(args.calls)]
            for f in variants.values():
                f(aggs[0])  # warm-up (first solve of the persistent model, loading the compiled kernel)
            times = {k: [] for k in variants}
            mismatches, kernel_diff = 0, 0
            load = Path("/proc/loadavg").read_text().split()[0]
            for a in aggs:
                res = {}
                for k, f in variants.items():
                    t = time.perf_counter()
                    res[k] = f(a)
                    times[k].append(time.perf_counter() - t)
                ref = res.get("milp", res["dp"])
                mismatches += int(any(not np.array_equal(ref.slots, r.slots) for r in res.values()))
                kernel_diff += int(res["dp"].objective != res["dp-numpy"].objective)
            for engine, ts in times.items():
                ts = 1e3 * np.array(ts)
                rows.append(dict(dnn=dnn, M=dev.M, H=H, mode=mode, engine=engine, calls=len(ts),
                                 median_ms=round(float(np.median(ts)), 4),
                                 p90_ms=round(float(np.percentile(ts, 90)), 4),
                                 max_ms=round(float(ts.max()), 3),
                                 build_ms=round(1e3 * build, 1) if engine == "milp" else None,
                                 lp_integral=(f"{milp.lp_hits}/{milp.lp_hits + milp.mip_solves}"
                                              if engine == "milp" else None),
                                 mismatches=mismatches, kernel_diff=kernel_diff, load=load))
                print(rows[-1], file=sys.stderr)
    save(rows, "best_response-quick" if args.quick else "best_response")
    return 0


if __name__ == "__main__":
    sys.exit(main())
