"""tpos-best (the proven minimum of the potential Phi) on the benchmark library: time to a proof (issue 21).

Usage: python benchmarks/bench_tpos_best.py [--cases bench:a,examples:b,...] [--time-limit S] [--pos]
       [--base DIR] [--name STEM]

Default cases: every ``bench:`` instance with N <= 50 and ``examples:soft-deadline`` (the issue's targets:
proven within 60 s each; soft-deadline in <= 10 s). Each solve runs in a fresh process with ``PYTHONPATH``
at its tree; with ``--base DIR`` (a checkout of the previous main) every case also runs there, interleaved,
so both see the same load. ``pos`` (the two GTPOS solves of the price of stability) is off unless
``--pos``: the figures are those of minimizing Phi.

Each row: termination, Phi of the returned (certified) profile, the bound and gap, the Phi of the best CAI
start, MILP rounds, wall and process CPU time, the load average, and the target's verdict (``proven``
within the target time). Writes benchmarks/results/tpos_best.csv (``tpos_best_side_by_side.csv`` with
``--base``; ``--name STEM`` writes benchmarks/results/STEM.csv instead, so a run on a few cases keeps
the full tables) and prints the table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from results_table import save

#: the target time of a case (s): the issue's 60 s, 10 s for soft-deadline
TARGET_S = {"examples:soft-deadline": 10.0}
DEFAULT_TARGET_S = 60.0


def default_cases() -> list[str]:
    """Every bench instance with N <= 50, and examples:soft-deadline."""
    from mecopt.core.instance import load_instance
    from mecopt.studies.bench import names

    return [f"bench:{n}" for n in names() if load_instance(f"bench:{n}").N <= 50] + ["examples:soft-deadline"]


def run_one(name: str, time_limit: float, pos: bool) -> dict:
    """One tpos-best solve in this process: the figures of a row."""
    from mecopt.core.instance import load_instance
    from mecopt.methods.tpos_best import solve_best

    inst = load_instance(name)
    c0, t0 = time.process_time(), time.perf_counter()
    sol = solve_best(inst, time_limit=time_limit, pos=pos)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return dict(N=inst.N, K=inst.K, termination=str(sol.termination), phi=sol.objective, bound=sol.bound,
                gap=sol.gap, start_phi=sol.info.get("start_phi"), rounds=sol.info.get("rounds"),
                certified=bool(sol.certificate["certified"]), wall_s=round(wall, 3), cpu_s=round(cpu, 3))


def run_in(tree: Path, name: str, time_limit: float, pos: bool) -> dict:
    """One solve in a fresh process on ``tree`` (this script's worker mode)."""
    env = dict(os.environ, PYTHONPATH=str(tree))
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", name, "--time-limit", str(time_limit)]
    out = subprocess.run(cmd + (["--pos"] if pos else []), env=env, capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parent, timeout=time_limit * 3 + 120)
    if out.returncode != 0:
        return dict(termination="error", error=out.stderr.strip().splitlines()[-1][-300:] if out.stderr else "")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", default="", help="comma-separated instance names (default: module docstring)")
    ap.add_argument("--time-limit", type=float, default=60.0, help="tpos-best's time_limit (its whole budget)")
    ap.add_argument("--pos", action="store_true", help="also the price-of-stability GTPOS solves")
    ap.add_argument("--base", type=Path, help="the previous main's tree, run side by side")
    ap.add_argument("--name", help="results file stem (default: tpos_best, or tpos_best_side_by_side with --base)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(run_one(args.worker, args.time_limit, args.pos)))
        return 0
    cases = args.cases.split(",") if args.cases else default_cases()
    trees = {"new": Path(__file__).resolve().parents[1]}
    if args.base is not None:
        trees["base"] = args.base.resolve()
    rows = []
    for name in cases:
        target = TARGET_S.get(name, DEFAULT_TARGET_S)
        for tree, path in trees.items():
            load = round(os.getloadavg()[0], 2)
            r = run_in(path, name, args.time_limit, args.pos)
            met = r.get("termination") == "optimal" and r.get("wall_s", float("inf")) <= target
            rows.append(dict(instance=name, tree=tree, **r, load_avg=load, time_limit=args.time_limit,
                             target_s=target, met=met))
            print(rows[-1], file=sys.stderr, flush=True)
    save(rows, args.name or ("tpos_best_side_by_side" if args.base is not None else "tpos_best"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
