"""Game time to a certified equilibrium (TPOS-CAI), by engine and number of devices.

Usage: python benchmarks/bench_game.py [--quick]
Writes benchmarks/results/game.csv and prints a table. Targets (issue 3): N = 5
paper instance <= 0.5 s (DP) and <= 5 s (MILP); N = 1,000 mixed devices <= 30 s (DP).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from results_table import save

from mecopt.core.instance import instance_from_dict, load_instance
from mecopt.methods.tpos import solve_cai

ROOT = Path(__file__).resolve().parents[1]
MIX = ["lenet", "alexnet", "vgg13", "vgg16"]


def mixed_instance(N: int, seed: int = 0):
    return instance_from_dict({
        "name": f"mixed-{N}", "seed": seed, "model": {"deadline_policy": "relax"},
        "devices": [{"dnn": MIX[k % 4], "alpha": 0.95, "beta": 0.049, "gamma": 0.001,
                     "bandwidth_hz": 1000.0 + 1000.0 * (k % 3)} for k in range(N)],
    })


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small cases only")
    args = ap.parse_args(argv)
    cases = [("fig5-n5 (paper)", "dp", lambda: load_instance(ROOT / "instances/paper/fig5-n5.toml")),
             ("fig5-n5 (paper)", "milp", lambda: load_instance(ROOT / "instances/paper/fig5-n5.toml")),
             ("mixed N=50", "dp", lambda: mixed_instance(50)),
             ("mixed N=50", "milp", lambda: mixed_instance(50))]
    if not args.quick:
        cases += [("mixed N=500", "dp", lambda: mixed_instance(500)),
                  ("mixed N=1000", "dp", lambda: mixed_instance(1000))]
    rows = []
    for label, engine, make in cases:
        inst = make()
        t0 = time.perf_counter()
        sol = solve_cai(inst, engine=engine, seed=0)
        wall = time.perf_counter() - t0
        rows.append(dict(case=label, N=inst.N, engine=engine, wall_s=round(wall, 3), ticks=sol.iterations,
                         solver_calls=sol.solver_calls, termination=str(sol.termination),
                         max_gain_rel=sol.certificate["max_gain_rel"], avg_cost=sol.evaluation.avg_cost))
        print(rows[-1], file=sys.stderr)
    save(rows, "game")
    return 0


if __name__ == "__main__":
    sys.exit(main())
