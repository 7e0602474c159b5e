"""Many frames: warm vs cold starts of each frame's game (mecopt simulate), best responses and time.

Usage: python benchmarks/bench_simulate.py [--quick] [--frames 100] [--devices 50] [--seeds 1] [--multi]

N mixed-DNN devices (the bench_game mix, B = 4) on one server, Rayleigh fading, activity
0.9, walking mobility (1.5 m/s); the same scenario is played with a warm start (each
frame from the previous frame's strategies) and a cold start (each frame from the
game's random initial draw). Reported: best responses, moves and ticks to the
certified equilibria (totals and per frame), certified frames, time, and the load
average. The warm start must need fewer best responses. ``--quick``: 20 frames of 20
devices. Writes benchmarks/results/simulate.csv (``--quick``: simulate-quick.csv).

``--multi``: the bundled ``examples:multiserver-n50-k4`` (50 mixed-DNN devices on 4 servers,
made by ``mecopt generate --servers 4``) with per-link Rayleigh fading, activity 0.9 and
walking mobility over the devices' positions (path loss recomputed, handover on); the warm
start carries each device's server too. Best responses count devices (each solves one DP
per server it reaches). Writes simulate-multiserver.csv (``--quick``: 20 frames,
simulate-multiserver-quick.csv).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from results_table import save

from mecopt.core.instance import instance_from_dict, load_instance
from mecopt.studies import simulate as sim

MULTI = "examples:multiserver-n50-k4"

MIX = ["lenet", "alexnet", "vgg13", "vgg16"]


def instance(N: int):
    return instance_from_dict({
        "name": f"mixed-{N}", "seed": 0, "model": {"deadline_policy": "relax"},
        "devices": [{"dnn": MIX[k % 4], "alpha": 0.95, "beta": 0.049, "gamma": 0.001,
                     "bandwidth_hz": 1000.0 + 1000.0 * (k % 3)} for k in range(N)],
    })


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--devices", type=int, default=50)
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--multi", action="store_true", help=f"several servers: {MULTI}")
    args = ap.parse_args(argv)
    if args.multi:
        inst = load_instance(MULTI)
        frames, N = (20 if args.quick else args.frames), inst.N
    else:
        frames, N = (20, 20) if args.quick else (args.frames, args.devices)
        inst = instance(N)
    rows = []
    for warm in (True, False):
        spec = sim.SimulationSpec(frames=frames, fading="rayleigh", activity=0.9, speed_mps=1.5, warm=warm)
        load = Path("/proc/loadavg").read_text().split()[:3]
        t0 = time.perf_counter()
        table = sim.simulate(inst, spec, seeds=list(range(args.seeds)))
        wall = time.perf_counter() - t0
        s = sim.summary(table)
        row = dict(start="warm" if warm else "cold", frames=frames, devices=N, seeds=args.seeds,
                   best_responses=s["best_responses"], per_frame=round(s["best_responses"] / len(table), 1),
                   moves=s["moves"], ticks=s["ticks"],
                   certified=f"{s['certified_frames']}/{s['played_frames']}",
                   mean_avg_cost=round(s["mean_avg_cost"], 2), wall_s=round(wall, 1),
                   load=" ".join(load))
        if args.multi:
            row = dict(row, servers=inst.K, mean_local=round(s["mean_local"], 1),
                       mean_offload=" ".join(f"{k}:{v:.1f}" for k, v in s["mean_offload"].items()),
                       switched=s["switched"], handovers=s["handovers"], unreachable=s["unreachable"])
        rows.append(row)
        print(rows[-1], file=sys.stderr)
    name = "simulate-multiserver" if args.multi else "simulate"
    save(rows, f"{name}-quick" if args.quick else name)
    warm, cold = rows
    return 0 if warm["best_responses"] < cold["best_responses"] else 1


if __name__ == "__main__":
    sys.exit(main())
