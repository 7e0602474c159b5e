"""Record (or compare against a record) the game's equilibria on every bundled paper instance.

Usage:
    python benchmarks/paper_equilibria.py --record FILE.json [--engines dp,milp]
    python benchmarks/paper_equilibria.py --compare FILE.json [--engines dp,milp]

For each of the 15 paper instances it runs TPOS-CAI (seeds 0 and 3) and TPOS-UAI
(seed 0) with each engine and keeps the final profile, the number of ticks and
best responses, the termination, the certificate and the per-tick trace. With
``--compare`` it exits 1 when any profile, tick count, best-response count or
termination differs, or when a trace value differs by more than 1e-9 relative
(the per-tick trace is summed incrementally, so it may differ in the last bits).
Used to show that a change of the DP or of the game loop moves no equilibrium.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from mecopt.core.instance import load_instance
from mecopt.methods.tpos import solve_cai, solve_uai

ROOT = Path(__file__).resolve().parents[1]
RUNS = (("cai", 0), ("cai", 3), ("uai", 0))
TRACE_COLS = ("avg_cost", "potential")


def record(engines: list[str]) -> dict:
    out = {}
    for path in sorted((ROOT / "instances/paper").glob("*.toml")):
        inst = load_instance(path)
        for engine in engines:
            for method, seed in RUNS:
                solve = solve_cai if method == "cai" else solve_uai
                t0 = time.perf_counter()
                sol = solve(inst, engine=engine, seed=seed)
                key = f"{path.stem}|{method}|{engine}|seed={seed}"
                out[key] = dict(profile=[[int(x) for x in s] for s in sol.profile], iterations=sol.iterations,
                                solver_calls=sol.solver_calls, termination=str(sol.termination),
                                certified=bool(sol.certificate["certified"]),
                                max_gain_rel=float(sol.certificate["max_gain_rel"]),
                                trace={c: [float(v) for v in sol.trace[c]] for c in TRACE_COLS},
                                wall_s=time.perf_counter() - t0)
                print(key, out[key]["termination"], out[key]["solver_calls"], f"{out[key]['wall_s']:.2f}s",
                      file=sys.stderr)
    return out


def differences(old: dict, new: dict) -> list[str]:
    bad = []
    for key in sorted(set(old) | set(new)):
        if key not in old or key not in new:
            bad.append(f"{key}: only in {'new' if key in new else 'old'}")
            continue
        a, b = old[key], new[key]
        for f in ("profile", "iterations", "solver_calls", "termination", "certified"):
            if a[f] != b[f]:
                bad.append(f"{key}: {f} differs ({a[f] if f != 'profile' else '...'} vs "
                           f"{b[f] if f != 'profile' else '...'})")
        for c in TRACE_COLS:
            x, y = np.array(a["trace"][c]), np.array(b["trace"][c])
            if x.shape != y.shape or not np.allclose(x, y, rtol=1e-9, atol=0, equal_nan=True):
                bad.append(f"{key}: trace {c} differs")
    return bad


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--record", type=Path)
    g.add_argument("--compare", type=Path)
    ap.add_argument("--engines", default="dp,milp")
    args = ap.parse_args(argv)
    engines = args.engines.split(",")
    new = record(engines)
    if args.record:
        args.record.write_text(json.dumps(new, indent=1))
        print(f"recorded {len(new)} runs in {args.record}")
        return 0
    old = json.loads(args.compare.read_text())
    old = {k: v for k, v in old.items() if k.split("|")[2] in engines}
    bad = differences(old, new)
    for line in bad:
        print("DIFF", line)
    print(f"{len(new)} runs compared with {args.compare}: {len(bad)} difference(s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
