"""Plans executed for real against the model (issue 25): the scaled scenario, B = 1, 2, 4, equilibrium and GTPOS.

Usage: python benchmarks/bench_execute.py [--recalibrate] [--runs 3] [--release slot-end|done] [--B 1,2,4]

The scenario is ``examples/execute/scaled.toml`` (six catalog networks, delay
sets calibrated on this machine, devices emulated 4x slower, H = 6 slots of
50 ms; ``examples/execute_scaled.py``). For each B and each method
(``tpos-cai``: the equilibrium; ``gtpos``: the centralized optimum) the plan is
solved for that B, executed by ``mecopt.byo.execution`` (a server process on
loopback, one intra-op thread per tail session, heads one at a time), and the
report written to ``benchmarks/results/execute/METHOD-BB/``. The table
``benchmarks/results/execute.csv`` has per run the mean and largest relative
error of T_n over the devices, the overruns, the measured parallel slowdown
(slot time in the frame / alone) by number of devices in the slot, the load
average before and after, and the CPU time of this process and of the server
processes. ``--recalibrate`` first calibrates the delay sets on this machine
(do it on the quiet machine the figures are measured on: a calibration taken
at another load predicts another machine).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))
import execute_scaled  # noqa: E402


def cpu_s(who) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--recalibrate", action="store_true")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--release", default="slot-end", choices=["slot-end", "done"])
    p.add_argument("--B", default="1,2,4")
    p.add_argument("--methods", default="tpos-cai,gtpos")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    a = p.parse_args()
    if a.recalibrate:
        execute_scaled.recalibrate()
    rows = []
    for B in [int(b) for b in a.B.split(",")]:
        for method in a.methods.split(","):
            load0 = os.getloadavg()
            cpu0, child0, wall0 = cpu_s(resource.RUSAGE_SELF), cpu_s(resource.RUSAGE_CHILDREN), time.perf_counter()
            s = execute_scaled.run(method, B, a.out / "execute" / f"{method}-B{B}", runs=a.runs, release=a.release)
            row = {"B": B, "method": method, "devices": s["devices"], "offloading": s["offloading"],
                   "mae_T": s["mae_T"], "max_abs_error_T": s["max_abs_error_T"],
                   "pred_avg_T_s": s["pred_avg_T_s"], "meas_avg_T_s": s["meas_avg_T_s"],
                   "slots_used": s["slots_used"], "overruns": s["overruns"], "slowdown_mean": s["slowdown_mean"],
                   **{f"slowdown_{k}_devices": v for k, v in s["slowdown_by_devices"].items()},
                   **{f"slowdown_{k}_concurrent": v for k, v in s["slowdown_by_concurrency"].items()},
                   **{f"abs_error_{k}_s": v for k, v in s["mean_abs_error_s"].items()},
                   "wall_s": time.perf_counter() - wall0, "cpu_s": cpu_s(resource.RUSAGE_SELF) - cpu0,
                   "server_cpu_s": cpu_s(resource.RUSAGE_CHILDREN) - child0,
                   "load_before": round(load0[0], 2), "load_after": round(os.getloadavg()[0], 2),
                   "release": a.release, "runs": a.runs}
            rows.append(row)
            print(f"B = {B}, {method}: {row['offloading']}/{row['devices']} offload, mean |error| of T_n "
                  f"{100 * row['mae_T']:.1f} % (max {100 * row['max_abs_error_T']:.1f} %), overruns "
                  f"{row['overruns']}/{row['slots_used']}, slowdown by devices in slot {s['slowdown_by_devices']}, "
                  f"by devices computing at once {s['slowdown_by_concurrency']}, "
                  f"load {row['load_before']}-{row['load_after']}", flush=True)
    table = pd.DataFrame(rows)
    path = a.out / "execute.csv"
    table.to_csv(path, index=False)
    print(table.round(3).to_string(index=False))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
