"""Golden output hashes: every bundled instance x every built-in method, before and after a refactor.

``python tests/golden/golden.py --write`` records, for each case, the SHA-256 of the
assignment, devices, violations and trace tables (CSV, byte for byte) and of the summary
without its timings, in ``tests/golden/hashes.json``. ``tests/golden/test_golden.py`` (and
``python tests/golden/golden.py --check``) re-solves every case and compares.

Cases: each bundled instance (``paper:``, ``examples:``, ``bench:``, ``catalog:``) with every
built-in method; the game runs with the DP engine (the HiGHS engine on the small paper
instances too), GTPOS and tpos-best with their default backend under a time limit that
the proven cases never reach. Cases that take long are marked ``slow``: the default test run
keeps the fast ones, ``MECOPT_GOLDEN=all`` (or ``--check``) runs them all.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
HASHES = HERE / "hashes.json"
TABLES = ("assignment", "devices", "violations", "trace")
#: summary keys that hold timings (or solver words that may carry them), left out of the hash
TIMING_KEYS = {"wall_time_s"}

GAME = ("tpos-cai", "tpos-uai")
BASELINES = ("all-local", "all-offload", "isolated")
OPTIMA = ("gtpos", "tpos-best")
#: GTPOS / tpos-best cases that stop at this limit are recorded as unstable and not compared
OPTIMA_TIME_LIMIT = 60
#: terminations that depend on the clock (a time limit reached, or a run that failed within it)
UNSTABLE = ("time_limit", "error")
SMALL_MILP_ENGINE = ("paper:fig5-n5", "paper:fig6-w1khz", "paper:fig8-lenet")


def _strip_timings(obj):
    if isinstance(obj, dict):
        return {k: _strip_timings(v) for k, v in obj.items()
                if k not in TIMING_KEYS and not (isinstance(v, (int, float)) and _is_timing(k))}
    if isinstance(obj, list):
        return [_strip_timings(v) for v in obj]
    return obj


def _is_timing(key: str) -> bool:
    k = key.lower()
    return "time" in k or k.endswith("_seconds") or k in ("seconds", "build_s", "solve_s", "load_s", "cpu_s",
                                                           "certificate_s", "decomposition_s")


def cases() -> list[tuple[str, str, dict]]:
    """(instance name, method, options) for every golden case."""
    import mecopt

    out = []
    for name in mecopt.bundled_instances():
        for m in GAME:
            out.append((name, m, {"engine": "dp"}))
            if name in SMALL_MILP_ENGINE:
                out.append((name, m, {"engine": "milp"}))
        for m in BASELINES:
            out.append((name, m, {}))
        for m in OPTIMA:
            out.append((name, m, {"time_limit": OPTIMA_TIME_LIMIT}))
    return out


def case_id(name: str, method: str, options: dict) -> str:
    opts = ",".join(f"{k}={v}" for k, v in sorted(options.items()) if k != "time_limit")
    return f"{name}|{method}" + (f"|{opts}" if opts else "")


def digest(name: str, method: str, options: dict) -> dict:
    """Hashes of one case's written tables and of its summary without timings."""
    import mecopt

    inst = mecopt.load_instance(name)
    sol = mecopt.solve(inst, method, **options)
    with tempfile.TemporaryDirectory() as tmp:
        sol.write(tmp, format="csv")
        out = {}
        for t in TABLES:
            f = Path(tmp) / f"{t}.csv"
            out[t] = hashlib.sha256(f.read_bytes()).hexdigest() if f.exists() else None
        summary = json.loads((Path(tmp) / "summary.json").read_text())
    summary = _strip_timings(summary)
    out["summary"] = hashlib.sha256(json.dumps(summary, sort_keys=True).encode()).hexdigest()
    out["termination"] = summary.get("termination")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--write", action="store_true", help="record hashes.json (with each case's seconds)")
    g.add_argument("--check", action="store_true", help="compare every case with hashes.json")
    ap.add_argument("--only", default="", help="substring of the case ids to run")
    ap.add_argument("--methods", default="", help="comma-separated methods to run (default: all)")
    args = ap.parse_args(argv)
    methods = [m for m in args.methods.split(",") if m]
    todo = [c for c in cases() if args.only in case_id(*c) and (not methods or c[1] in methods)]
    known = json.loads(HASHES.read_text()) if HASHES.exists() else {}
    bad = 0
    for c in todo:
        cid = case_id(*c)
        if not args.write and known.get(cid, {}).get("termination") in UNSTABLE:
            print(f"skip {cid}: {known[cid]['termination']} when recorded (depends on the clock)", flush=True)
            continue
        t0 = time.perf_counter()
        try:
            got = digest(*c)
        except Exception as err:  # noqa: BLE001 - recorded: a run that fails (e.g. out of time) is not compared
            got = {"termination": "error", "error": f"{type(err).__name__}: {err}"[:300]}
        secs = time.perf_counter() - t0
        if args.write:
            known[cid] = dict(got, seconds=round(secs, 2))
            HASHES.write_text(json.dumps(known, indent=1, sort_keys=True) + "\n")   # after every case
            print(f"{secs:7.2f} s  {cid}  {got['termination']}", flush=True)
        else:
            want = {k: v for k, v in known.get(cid, {}).items() if k != "seconds"}
            ok = want == got
            bad += not ok
            print(f"{'ok  ' if ok else 'DIFF'} {secs:7.2f} s  {cid}", flush=True)
            if not ok:
                print(f"     want {want}\n     got  {got}", flush=True)
    if args.write:
        HASHES.write_text(json.dumps(known, indent=1, sort_keys=True) + "\n")
    print(f"{len(todo)} cases, {bad} differences")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
