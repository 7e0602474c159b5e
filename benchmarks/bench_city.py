"""The game at city scale (issue 22): per size, loading, ticks, best responses, time per best
response, certificate time, CPU and wall time, peak memory, and the speed-up over a base tree.

Usage: python benchmarks/bench_city.py [--cases city10k,city100k,one10k,uai10k] [--base DIR]
       [--base-cases city10k,one10k] [--cache DIR] [--seed 0]

Cases (each in a fresh process, so ``peak_rss_mb`` (ru_maxrss) is its own):

- ``city10k``: N = 10,000 mixed-DNN devices (LeNet/AlexNet/VGG13/VGG16) on K = 100 servers,
  each device reaching its 3 nearest (the instance of ``bench_multiserver.py``, read from TOML);
- ``city100k``: the same generator with N = 100,000, read from a JSON instance file (29 MB; the
  TOML file, 21 MB, loads too but slower: see ``bench_loading.py``);
- ``one10k``: N = 10,000 on one server with B = N/4 (the instance of ``bench_scale.py``, built
  from a dict, not a file);
- ``uai10k``: TPOS-UAI on a random geometric neighbour graph of N = 10,000 devices (radius
  sqrt(10 / (pi N)): average degree ~10) on K = 10 servers, with the CAI polish after 30 ticks
  (``polish_after``) so that it ends certified.

Reported: ``load_s`` / ``load_cpu_s`` (wall / process time of reading or building the instance, apart
from the game), ``game_s`` /
``game_cpu_s`` (wall / process time of the solve: random start, dynamics, certificate),
``certificate_s``, ``ticks``, ``best_responses``, ``us_per_br`` (game CPU per device best
response), ``certified``, ``peak_rss_mb``, and the load average before and after.

``--base DIR`` runs ``--base-cases`` again with ``PYTHONPATH=DIR`` (e.g. a worktree of the
previous main: ``git worktree add --detach /work/wt/base-scale main``), interleaved with this
tree's runs, and adds ``base_game_cpu_s``, ``base_load_s`` and ``speedup_cpu`` (base / this).
Writes benchmarks/results/city.csv.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

from results_table import save

HERE = Path(__file__).resolve().parent
MIX = "lenet,alexnet,vgg13,vgg16"


def uptime() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def city_file(N: int, K: int, cache: Path, topology: dict | None = None, suffix: str = ".toml") -> Path:
    """The generated instance's file (TOML or JSON by ``suffix``; written once, by this tree's generator)."""
    from mecopt.studies.generate import generate_instance, write_instance

    tag = "" if topology is None else "-rgg"
    path = cache / f"city-n{N}-k{K}{tag}{suffix}"
    if not path.exists():
        cache.mkdir(parents=True, exist_ok=True)
        doc = generate_instance(N, MIX, 0, servers=K, deadline_policy="relax", validate=False)
        if topology is not None:
            doc["topology"] = topology
        write_instance(doc, path)
    return path


def prepare(case: str, cache: Path) -> str:
    """What the case's process loads: a TOML path, or ``one:N`` (built from a dict)."""
    if case == "city10k":
        return str(city_file(10_000, 100, cache))
    if case == "city100k":
        return str(city_file(100_000, 100, cache, suffix=".json"))
    if case == "one10k":
        return "one:10000"
    if case == "uai10k":
        N = 10_000
        return str(city_file(N, 10, cache, {"kind": "random_geometric", "radius": math.sqrt(10 / (math.pi * N)),
                                            "seed": 0}))
    raise SystemExit(f"unknown case {case!r}")


def one(case: str, source: str, seed: int) -> dict:
    """One case, in this process."""
    import resource

    import numpy as np

    from mecopt.core.instance import load_instance
    from mecopt.methods.tpos import solve_cai, solve_uai

    load_before = uptime()
    t0, c0 = time.perf_counter(), time.process_time()
    if source.startswith("one:"):
        from bench_scale import mixed_instance

        inst = mixed_instance(int(source[4:]), seed)
    elif source.startswith("gen:"):   # load_s: generating the document and building the instance
        from mecopt.core.instance import instance_from_dict
        from mecopt.studies.generate import generate_instance

        N, K = (int(x) for x in source[4:].split("x"))
        inst = instance_from_dict(generate_instance(N, MIX, 0, servers=K, deadline_policy="relax", validate=False))
    else:
        inst = load_instance(source)
    load, load_cpu = time.perf_counter() - t0, time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    if case == "uai10k":
        sol = solve_uai(inst, engine="dp", seed=seed, polish_after=30)
    else:
        sol = solve_cai(inst, engine="dp", seed=seed)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    so = np.asarray(sol.server_of) if sol.server_of is not None else None
    return dict(case=case, N=inst.N, K=inst.K, seed=seed, load_s=round(load, 2), load_cpu_s=round(load_cpu, 2),
                game_s=round(wall, 2),
                game_cpu_s=round(cpu, 2), certificate_s=round(sol.info.get("certificate_s", float("nan")), 2),
                ticks=sol.iterations, best_responses=sol.solver_calls,
                us_per_br=round(1e6 * cpu / max(1, sol.solver_calls), 1),
                certified=bool(sol.certificate["certified"]), max_gain_rel=float(sol.certificate["max_gain_rel"]),
                offloading=int(np.sum(so >= 0)) if so is not None else None,
                edges=sol.info.get("edges"), polish_ticks=sol.info.get("polish_ticks"),
                peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                load_before=load_before, load_after=uptime())


def run(case: str, source: str, seed: int, tree: str | None) -> dict:
    env = dict(os.environ)
    if tree is not None:
        env["PYTHONPATH"] = tree
    out = subprocess.run([sys.executable, __file__, "--one", case, "--source", source, "--seed", str(seed)],
                         capture_output=True, text=True, env=env, cwd=HERE)
    if out.returncode:
        raise RuntimeError(f"{case} ({tree or 'this tree'}):\n{out.stderr[-3000:]}")
    row = json.loads(out.stdout.strip().splitlines()[-1])
    print(("base " if tree else "") + json.dumps(row), file=sys.stderr)
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", default="city10k,city100k,one10k,uai10k")
    ap.add_argument("--base", help="a base source tree (PYTHONPATH) to compare with, e.g. the previous main")
    ap.add_argument("--base-cases", default="city10k,one10k", help="cases also run on the base tree")
    ap.add_argument("--cache", default=str(HERE / ".cache" / "city"), help="folder for the TOML instances")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--source", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one:
        print(json.dumps(one(args.one, args.source, args.seed)))
        return 0
    cache = Path(args.cache)
    base_cases = {c for c in args.base_cases.split(",") if c} if args.base else set()
    rows = []
    for case in [c for c in args.cases.split(",") if c]:
        source = prepare(case, cache)
        row = run(case, source, args.seed, None)
        if case in base_cases:
            b = run(case, source, args.seed, args.base)
            row.update(base_load_s=b["load_s"], base_game_cpu_s=b["game_cpu_s"], base_certificate_s=b["certificate_s"],
                       base_peak_rss_mb=b["peak_rss_mb"], base_same_result=(b["ticks"], b["best_responses"],
                                                                            b["max_gain_rel"]) ==
                       (row["ticks"], row["best_responses"], row["max_gain_rel"]),
                       speedup_cpu=round(b["game_cpu_s"] / max(row["game_cpu_s"], 1e-9), 1))
        rows.append(row)
    save(rows, "city", hide=("load_after",))
    return 0 if all(r["certified"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
