"""Run one benchmark script on two source trees, interleaved, and compare their CPU time.

Usage: python benchmarks/side_by_side.py --base DIR [--new DIR] [--rounds 3] SCRIPT [ARGS...]

Each round runs ``SCRIPT ARGS`` once per tree (alternating, so both see the same load), in a
fresh process with ``PYTHONPATH`` pointing at that tree and the tree's own ``benchmarks/`` as
the working folder (the script writes its results table there). Reported per tree: the median
user + system CPU time of the process and its children, the median wall time, and the load
average before each run; then new / base. CPU time is the figure to judge on a shared machine.
The script's own table (in each tree's ``benchmarks/results/``) has the detailed figures.

Example (issue 19: no regression beyond 10 %)::

    git worktree add --detach /tmp/base <previous-main-commit>
    python benchmarks/side_by_side.py --base /tmp/base bench_scale.py --quick
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run_once(tree: Path, script: str, args: list[str]) -> dict:
    """One run of ``script`` from ``tree``: CPU (children's user + system) and wall seconds, load."""
    env = dict(os.environ, PYTHONPATH=str(tree))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, script, *args], cwd=tree / "benchmarks", env=env,
                          capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{script} failed on {tree} (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return dict(cpu=cpu, wall=wall, load=load)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", required=True, type=Path, help="the reference tree (e.g. the previous main)")
    ap.add_argument("--new", type=Path, default=HERE.parent, help="the tree under test (default: this one)")
    ap.add_argument("--rounds", type=int, default=3, help="runs per tree, interleaved (median reported)")
    ap.add_argument("script", help="a script of benchmarks/, e.g. bench_scale.py")
    ap.add_argument("args", nargs=argparse.REMAINDER, help="its arguments")
    a = ap.parse_args(argv)
    trees = {"base": a.base.resolve(), "new": a.new.resolve()}
    runs: dict[str, list[dict]] = {k: [] for k in trees}
    for r in range(a.rounds):
        for name, tree in (trees.items() if r % 2 == 0 else reversed(list(trees.items()))):
            runs[name].append(run_once(tree, a.script, a.args))
            last = runs[name][-1]
            print(f"round {r + 1} {name}: cpu {last['cpu']:.2f} s, wall {last['wall']:.2f} s, load {last['load']:.2f}",
                  flush=True)
    med = {k: {f: statistics.median(x[f] for x in v) for f in ("cpu", "wall", "load")} for k, v in runs.items()}
    print(f"\n{a.script} {' '.join(a.args)} ({a.rounds} rounds, median)")
    print("| tree | CPU s | wall s | load |\n|---|---|---|---|")
    for k in trees:
        print(f"| {k} ({trees[k]}) | {med[k]['cpu']:.2f} | {med[k]['wall']:.2f} | {med[k]['load']:.2f} |")
    ratio = med["new"]["cpu"] / med["base"]["cpu"] if med["base"]["cpu"] else float("nan")
    print(f"new / base CPU: {ratio:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
