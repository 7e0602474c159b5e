"""Wall time of the full reproduction of the paper's §5 (``mecopt reproduce --fig all``).

Usage: python benchmarks/bench_reproduce.py [--quick] [--engine dp|milp] [--workers W] [--out DIR]

Runs :func:`mecopt.studies.reproduce.reproduce` into a fresh directory (a temporary one
unless --out is given), then appends one row per figure plus a total row to
benchmarks/results/reproduce.csv (date, git revision, engine, quick, workers,
CPUs, figure, wall time, and the claims' verdict counts), and prints them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

from mecopt.studies import reproduce as rep

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "reproduce.csv"


def _revision() -> str:
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout
        return rev + ("+dirty" if dirty.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="the quick settings (a smoke run)")
    ap.add_argument("--engine", choices=["dp", "milp"], default="dp")
    ap.add_argument("--workers", type=int, default=None, help="worker processes (default: one per CPU)")
    ap.add_argument("--out", type=Path, default=None, help="keep the reproduction here (must not hold one)")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="mecopt-repro-") as tmp:
        out = args.out or Path(tmp) / "reproduce"
        res = rep.reproduce(out, "all", engine=args.engine, quick=args.quick, workers=args.workers)
        counts = {v: sum(c.verdict == v for c in res.claims) for v in (rep.REPRODUCED, rep.PARTLY, rep.NOT,
                                                                       rep.MISSING)}
        stamp = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        base = dict(date=stamp, revision=_revision(), engine=args.engine, quick=args.quick,
                    workers=args.workers or os.cpu_count(), cpus=os.cpu_count())
        rows = [dict(base, figure=f, wall_s=round(res.wall_times[f], 3)) for f in rep.FIGURES if f in res.wall_times]
        rows.append(dict(base, figure="total", wall_s=round(res.wall_times["total"], 3),
                         reproduced=counts[rep.REPRODUCED], partly=counts[rep.PARTLY],
                         not_reproduced=counts[rep.NOT], not_evaluated=counts[rep.MISSING]))
    df = pd.DataFrame(rows)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    if RESULTS.exists():
        df = pd.concat([pd.read_csv(RESULTS), df], ignore_index=True)
    counts_cols = ["reproduced", "partly", "not_reproduced", "not_evaluated"]
    df[counts_cols] = df[counts_cols].astype("Int64")          # whole numbers, blank on figure rows
    tmp_path = RESULTS.with_suffix(".csv.tmp")
    df.to_csv(tmp_path, index=False)
    os.replace(tmp_path, RESULTS)
    print(pd.DataFrame(rows).to_markdown(index=False))
    print(f"appended to {RESULTS}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
