"""Best-response time per call: MILP (Pyomo param update + persistent HiGHS) vs DP.

Usage: python benchmarks/bench_best_response.py [--calls 200] [--seed 0]

One device of each DNN (paper preset, H = 5, alpha/beta/gamma = .42/.17/.41,
W = 2 kHz, deadline_policy relax), both capacity modes, against random others'
aggregates (price load L_h ~ U[0, 3 x own total], server time ~ U[0, T_d/H],
count ~ U{0..B}, so some slots are full). The time of a call includes setting
the mutable Params and reading the strategy back; the one-off model build is
reported separately. Both engines must return the same strategy on every call
(counted in ``mismatches``).

Targets (medians, H = 5): MILP <= 20 ms for AlexNet (M = 21), <= 50 ms for VGG16
(M = 37); DP <= 0.5 ms for VGG16. Writes benchmarks/results/best_response.csv.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from results_table import save
from mecopt.bestresponse.dp import DPDevice
from mecopt.model.instance import instance_from_dict
from mecopt.milp.best_response import MILPDevice
from mecopt.bestresponse.problem import Aggregates

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
    args = ap.parse_args(argv)
    rows = []
    for mode in args.modes.split(","):
        for dnn in args.dnns.split(","):
            dev, server = device(dnn, mode)
            H = server.H
            t0 = time.perf_counter()
            milp = MILPDevice(dev, server)
            build = time.perf_counter() - t0
            dp = DPDevice(dev, server)
            rng = np.random.default_rng(args.seed)
            aggs = [Aggregates(rng.uniform(0, 3 * dev.S[1:].sum() + 1e-9, H), rng.uniform(0, server.slot_len, H),
                               rng.integers(0, server.B + 1, H).astype(float)) for _ in range(args.calls)]
            milp.best_response(aggs[0])  # warm-up (first solve of the persistent model)
            dp.best_response(aggs[0])
            t_milp, t_dp, mismatches = [], [], 0
            for a in aggs:
                t = time.perf_counter()
                x = milp.best_response(a)
                t_milp.append(time.perf_counter() - t)
                t = time.perf_counter()
                y = dp.best_response(a)
                t_dp.append(time.perf_counter() - t)
                mismatches += int(not np.array_equal(x.slots, y.slots))
            for engine, ts in (("milp", t_milp), ("dp", t_dp)):
                ts = 1e3 * np.array(ts)
                rows.append(dict(dnn=dnn, M=dev.M, H=H, mode=mode, engine=engine, calls=len(ts),
                                 median_ms=round(float(np.median(ts)), 3), p90_ms=round(float(np.percentile(ts, 90)), 3),
                                 max_ms=round(float(ts.max()), 3),
                                 build_ms=round(1e3 * build, 1) if engine == "milp" else None,
                                 lp_integral=(f"{milp.lp_hits}/{milp.lp_hits + milp.mip_solves}"
                                              if engine == "milp" else None),
                                 mismatches=mismatches))
            print(rows[-2], rows[-1], sep="\n", file=sys.stderr)
    save(rows, "best_response")
    return 0


if __name__ == "__main__":
    sys.exit(main())
