"""Loading at scale (issue 22): reading, validating and assembling city-size instances, beside a base tree.

Usage: python benchmarks/bench_loading.py [--cases city1k,city10k,one10k,city100k,city100k-json]
       [--base DIR] [--base-cases city1k,city10k,one10k] [--repeat 1] [--cache DIR] [--no-fingerprint]

Cases (each in a fresh process, so ``peak_rss_mb`` (ru_maxrss) is its own):

- ``city1k`` / ``city10k`` / ``city100k``: N = 1,000 / 10,000 / 100,000 mixed-DNN devices on K = 100 servers,
  each reaching its 3 nearest (``bench_city.city_file``: the generator's TOML file; 100,000 devices are 21 MB);
- ``city100k-json``: the same 100,000-device document written as JSON (``mecopt generate --out x.json``);
- ``one10k``: N = 10,000 on one server, B = N/4, built from a dict of 12 ``count`` entries
  (``bench_scale.mixed_instance``, the ``one10k`` case of ``bench_city.py``).

Reported per case: ``load_cpu_s`` / ``load_s`` (process CPU / wall time of ``load_instance(path)``, or of
``instance_from_dict`` for ``one10k``: the figure the targets are about), then, measured after it in the same
process (DNN tables already cached) with the garbage collector paused in both trees (as this tree's
``load_instance`` does), the split ``parse_s`` (reading the file), ``validate_s`` (the schema validation,
``InstanceFile.model_validate``) and ``assemble_s`` (``instance_from_dict`` minus the validation), all CPU;
``peak_rss_mb``; ``fingerprint`` (SHA-256 over every field of every device of the instance and of its server
views: equal fingerprints mean the solvers see the same numbers); the load average before and after.

``--base DIR`` runs ``--base-cases`` again with ``PYTHONPATH=DIR`` (e.g. ``/work/wt/prev``), interleaved with
this tree's runs (this, base, this, base, ... for ``--repeat``), and adds ``base_load_cpu_s``, ``base_load_s``,
``base_peak_rss_mb``, ``speedup_cpu`` (base / this, medians) and ``same_as_base`` (equal fingerprints). A base
that cannot read a case's file (the 21 MB TOML is over the old 16 MB limit; JSON is new) reads it with
``tomllib`` and builds it with ``instance_from_dict`` (``base_how = "tomllib+from_dict"``).
Writes benchmarks/results/loading.csv.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from results_table import save

HERE = Path(__file__).resolve().parent
SIZES = {"city1k": 1_000, "city10k": 10_000, "city100k": 100_000, "city100k-json": 100_000}


def uptime() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def prepare(case: str, cache: Path) -> str:
    """What the case's process loads: an instance file, or ``one:N`` (built from a dict)."""
    from bench_city import city_file

    if case == "one10k":
        return "one:10000"
    if case not in SIZES:
        raise SystemExit(f"unknown case {case!r}; cases: {', '.join([*SIZES, 'one10k'])}")
    return str(city_file(SIZES[case], 100, cache, suffix=".json" if case.endswith("-json") else ".toml"))


def fingerprint(inst) -> str:
    """SHA-256 over every field of every device (instance and server views) and the views' members."""
    import hashlib
    from dataclasses import fields

    import numpy as np

    h = hashlib.sha256()
    names = [f.name for f in fields(inst.devices[0])]
    groups = [inst.devices] + ([v.instance.devices for v in inst.views] if inst.K > 1 else [])
    for devs in groups:
        for d in devs:
            for name in names:
                v = getattr(d, name)
                h.update(np.ascontiguousarray(v).tobytes() if isinstance(v, np.ndarray) else repr(v).encode())
    for v in inst.views:
        h.update(np.asarray(v.members).tobytes())
    h.update(repr(inst.reach).encode())
    return h.hexdigest()


def one(case: str, source: str, with_fingerprint: bool) -> dict:
    """One case, in this process."""
    import gc
    import resource

    from mecopt.core.instance import InstanceFile, instance_from_dict, load_instance
    from mecopt.core.resources import instance_path

    load_before = uptime()
    how = "load_instance"
    t0, c0 = time.perf_counter(), time.process_time()
    if source.startswith("one:"):
        from bench_scale import mixed_instance

        how = "from_dict"
        inst = mixed_instance(int(source[4:]), 0)
    else:
        try:
            inst = load_instance(source)
        except Exception as err:   # a base tree that cannot read the file: tomllib + instance_from_dict
            if "limit is" not in str(err) and not source.endswith(".json"):
                raise
            how = "tomllib+from_dict"
            t0, c0 = time.perf_counter(), time.process_time()
            inst = instance_from_dict(_parse(source), base=Path(source).parent)
    load_wall, load_cpu = time.perf_counter() - t0, time.process_time() - c0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    row = dict(case=case, N=inst.N, K=inst.K, links=sum(len(r) for r in inst.reach), how=how,
               load_cpu_s=round(load_cpu, 2), load_s=round(load_wall, 2), peak_rss_mb=round(rss, 1))
    if not source.startswith("one:"):   # the split, after the load (DNN tables cached by then)
        gc.disable()   # as this tree's load_instance does (the base's split is then a little flattered)
        c0 = time.process_time()
        data = _parse(str(instance_path(source)))
        row["parse_s"] = round(time.process_time() - c0, 2)
        c0 = time.process_time()
        InstanceFile.model_validate(data)
        row["validate_s"] = round(time.process_time() - c0, 2)
        c0 = time.process_time()
        instance_from_dict(data, base=Path(source).parent)
        row["assemble_s"] = round(time.process_time() - c0 - row["validate_s"], 2)
        gc.enable()
        del data
    if with_fingerprint:
        row["fingerprint"] = fingerprint(inst)[:16]
    row.update(load_before=load_before, load_after=uptime())
    return row


def _parse(path: str) -> dict:
    """The document, parsed without the instance reader's size limit (a base tree has 16 MB)."""
    text = Path(path).read_text(encoding="utf-8")
    if path.endswith(".json"):
        return json.loads(text)
    import tomllib

    return tomllib.loads(text)


def run(case: str, source: str, tree: str | None, with_fingerprint: bool) -> dict:
    env = dict(os.environ)
    if tree is not None:
        env["PYTHONPATH"] = tree
    cmd = [sys.executable, __file__, "--one", case, "--source", source]
    if not with_fingerprint:
        cmd.append("--no-fingerprint")
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=HERE)
    if out.returncode:
        raise RuntimeError(f"{case} ({tree or 'this tree'}):\n{out.stderr[-3000:]}")
    row = json.loads(out.stdout.strip().splitlines()[-1])
    print(("base " if tree else "") + json.dumps(row), file=sys.stderr)
    return row


def median_row(rows: list[dict]) -> dict:
    """The first run's row with the median load times of all runs."""
    out = dict(rows[0])
    for key in ("load_cpu_s", "load_s", "parse_s", "validate_s", "assemble_s"):
        if key in out:
            out[key] = round(statistics.median(r[key] for r in rows), 2)
    out["runs"] = len(rows)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", default="city1k,city10k,one10k,city100k,city100k-json")
    ap.add_argument("--base", help="a base source tree (PYTHONPATH) to compare with, e.g. the previous main")
    ap.add_argument("--base-cases", default="city1k,city10k,one10k", help="cases also run on the base tree")
    ap.add_argument("--repeat", type=int, default=1, help="runs per case and tree (interleaved); medians reported")
    ap.add_argument("--cache", default=str(HERE / ".cache" / "city"), help="folder for the instance files")
    ap.add_argument("--no-fingerprint", action="store_true", help="skip the fingerprints (seconds at N = 100,000)")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--source", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one:
        print(json.dumps(one(args.one, args.source, not args.no_fingerprint)))
        return 0
    cache = Path(args.cache)
    base_cases = {c for c in args.base_cases.split(",") if c} if args.base else set()
    rows = []
    for case in [c for c in args.cases.split(",") if c]:
        source = prepare(case, cache)
        mine, base = [], []
        for _ in range(max(1, args.repeat)):
            mine.append(run(case, source, None, not args.no_fingerprint))
            if case in base_cases:
                base.append(run(case, source, args.base, not args.no_fingerprint))
        row = median_row(mine)
        if base:
            b = median_row(base)
            row.update(base_how=b["how"], base_load_cpu_s=b["load_cpu_s"], base_load_s=b["load_s"],
                       base_peak_rss_mb=b["peak_rss_mb"],
                       speedup_cpu=round(b["load_cpu_s"] / max(row["load_cpu_s"], 1e-9), 1))
            if not args.no_fingerprint:
                row["same_as_base"] = b["fingerprint"] == row["fingerprint"]
        rows.append(row)
    save(rows, "loading")
    return 0 if all(r.get("same_as_base", True) for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
