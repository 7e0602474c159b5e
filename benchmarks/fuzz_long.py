"""The long profile of the fuzzing suite (issues 12, 23): >= 10,000 generated and mutated cases
through the command line, with counts of exit codes, tracebacks, hangs and accepted-invalid inputs.

Usage: python benchmarks/fuzz_long.py [--jobs 2] [--examples N] [--profile all|files|argv] [--commands A,B]

Runs ``tests/cli/test_fuzz.py`` with ``MECOPT_FUZZ=long`` (random seeds, not derandomized), the
tests split over ``--jobs`` pytest processes, and writes benchmarks/results/fuzz_long.json:
the commit, the wall time, the pytest outcome and the merged counts. The ``argv`` profile
(issue 23) fuzzes command lines: every command and option of ``mecopt``; its counts per
command are under ``argv_by_command`` (cases and exit codes; ``reached`` = a stubbed
command's work was reached, see tests/fuzz_cases.py).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
FILE_TESTS = ["test_fuzz_instance_documents", "test_fuzz_dnn_specs", "test_fuzz_assignment_tables",
              "test_fuzz_onnx_import"]
ARGV_TESTS = ["test_fuzz_command_lines", "test_every_option_refuses_invalid_values"]
PROFILES = {"all": FILE_TESTS + ARGV_TESTS, "files": FILE_TESTS, "argv": ARGV_TESTS}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--examples", type=int, default=None, help="examples per test (default: the long profile's)")
    ap.add_argument("--profile", choices=sorted(PROFILES), default="all", help="file inputs, command lines, or both")
    ap.add_argument("--commands", default=None, metavar="A,B",
                    help="command lines of these commands only (e.g. 'execute,table,study,plot cdf'; 'plot': all its "
                         "subcommands)")
    args = ap.parse_args()
    tests = PROFILES[args.profile]
    # MECOPT_COMMIT: when run from an exported snapshot of a commit (no .git there)
    commit = os.environ.get("MECOPT_COMMIT") or subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    dirty = bool(subprocess.run(["git", "status", "--porcelain", "mecopt", "tests"], cwd=ROOT,
                                capture_output=True, text=True).stdout.strip()) if "MECOPT_COMMIT" not in os.environ \
        else False
    groups = [g for g in (tests[i::args.jobs] for i in range(args.jobs)) if g]
    tmp = Path(tempfile.mkdtemp(prefix="mecopt-fuzz-long-"))
    procs = []
    t0 = time.perf_counter()
    for i, group in enumerate(groups):
        env = dict(os.environ, MECOPT_FUZZ="long", MECOPT_FUZZ_STATS=str(tmp / f"stats{i}.json"))
        if args.examples:
            env["MECOPT_FUZZ_EXAMPLES"] = str(args.examples)
        if args.commands:
            env["MECOPT_FUZZ_COMMANDS"] = args.commands
        log = open(tmp / f"pytest{i}.log", "w")
        procs.append((subprocess.Popen([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                        "tests/cli/test_fuzz.py", "-k", " or ".join(group)],
                                       cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT), log, group))
    outcomes = []
    for i, (p, log, group) in enumerate(procs):
        rc = p.wait()
        log.close()
        tail = (tmp / f"pytest{i}.log").read_text().strip().splitlines()[-1:]
        outcomes.append(dict(tests=group, returncode=rc, summary=tail[0] if tail else ""))
    stats: Counter = Counter()
    for f in tmp.glob("stats*.json"):
        stats.update(json.loads(f.read_text()))
    by_command: dict = {}
    for key, n in sorted(stats.items()):   # argv.<command>.cases, argv.<command>.exit.<code>
        if key.startswith("argv.") and key.count(".") >= 2 and not key.startswith("argv.exit"):
            command, _, what = key[len("argv."):].partition(".")
            by_command.setdefault(command, {})[what] = n
    result = dict(commit=commit, uncommitted_changes=dirty, profile=args.profile, commands=args.commands,
                  wall_s=round(time.perf_counter() - t0, 1), cpu_s=round(_children_cpu(), 1),
                  load_average=[round(x, 2) for x in os.getloadavg()],
                  passed=all(o["returncode"] == 0 for o in outcomes), pytest=outcomes,
                  counts={k: v for k, v in sorted(stats.items()) if k not in _per_command(by_command)},
                  argv_by_command=by_command, logs=str(tmp))
    RESULTS.mkdir(parents=True, exist_ok=True)
    # a run restricted to some commands does not replace the record of the whole profile
    name = "fuzz_long_commands.json" if args.commands else "fuzz_long.json"
    (RESULTS / name).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    sys.exit(0 if result["passed"] else 1)


def _per_command(by_command: dict) -> set:
    return {f"argv.{c}.{w}" for c, whats in by_command.items() for w in whats}


def _children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    main()
