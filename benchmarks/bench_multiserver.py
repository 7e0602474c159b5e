"""Game at scale on several servers: TPOS-CAI (DP engine) to a certified equilibrium for N mixed-DNN
devices on K edge servers, with the instance load time apart from the solve time, and peak memory.

Usage: python benchmarks/bench_multiserver.py [--quick] [--main 10000x100] [--repeat 3]
       [--sizes 1000,10000,50000] [--servers 10,100,1000] [--cache DIR]

Instances come from ``mecopt generate`` (:func:`mecopt.studies.generate.generate_instance`):
LeNet/AlexNet/VGG13/VGG16 in equal shares, K servers on a grid in a square of side
500 sqrt(K) m, devices uniform, each reaching its 3 nearest servers, 3GPP UMi path loss,
N0 = -174 dBm/Hz, bandwidth 1-2 kHz, the paper's weights and server, deadline policy
``relax`` (VGG cannot meet 5 s). Each is written once as TOML to the cache folder
(``--cache``, default benchmarks/.cache/multiserver) and every case runs in a fresh
process, which reports:

- ``load_s``: :func:`mecopt.load_instance` of the TOML file (parse, validation, one resolved
  device per reachable (device, server) pair), and the resident memory after it;
- ``game_s`` / ``game_cpu_s``: :func:`mecopt.methods.tpos.solve_cai` (engine ``dp``, the
  random start, the dynamics to a certified equilibrium, the certificate included), wall
  and process time; ``certificate_s`` is the certificate's share;
- ticks, best responses (of devices; each solves one DP per server the device reaches), the
  equilibrium's offloading devices, servers used and all-local devices;
- ``peak_rss_mb``: the process's peak resident memory (load and game).

Cases: ``--main`` (default N = 10,000 on K = 100) ``--repeat`` times (game seeds 0, 1, ...;
medians in the printed summary), then the growth with N at K = 100 (``--sizes``) and with K
at N = 10,000 (``--servers``), seed 0. Targets (issue 13): the main case certified in
<= 60 s, peak memory <= 4 GB. The load average is recorded with every row (2 shared cores).
``--quick``: N = 1,000 on K = 10, once. Writes benchmarks/results/multiserver.csv
(``--quick``: multiserver-quick.csv).
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
MIX = "lenet,alexnet,vgg13,vgg16"


def uptime() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def instance_file(N: int, K: int, cache: Path, seed: int = 0) -> Path:
    """The generated instance's TOML file (written once)."""
    from mecopt.studies.generate import generate_instance, write_instance

    path = cache / f"ms-n{N}-k{K}-s{seed}.toml"
    if not path.exists():
        cache.mkdir(parents=True, exist_ok=True)
        doc = generate_instance(N, MIX, seed, servers=K, deadline_policy="relax", validate=False, units="paper")
        write_instance(doc, path)
    return path


def one(path: str, seed: int) -> dict:
    """One case, in this process."""
    import resource

    import numpy as np

    from mecopt.bestresponse.dp import DEFAULT_BACKEND
    from mecopt.core.instance import load_instance
    from mecopt.methods.tpos import solve_cai

    load_before = uptime()
    t0 = time.perf_counter()
    inst = load_instance(path)
    load = time.perf_counter() - t0
    rss_load = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0, c0 = time.perf_counter(), time.process_time()
    sol = solve_cai(inst, engine="dp", seed=seed)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    so = np.asarray(sol.server_of)
    return dict(N=inst.N, K=inst.K, links=int(sum(len(v.members) for v in inst.views)), seed=seed,
                backend=DEFAULT_BACKEND, load_s=round(load, 2), rss_after_load_mb=round(rss_load, 1),
                game_s=round(wall, 2), game_cpu_s=round(cpu, 2),
                certificate_s=round(sol.info["certificate_s"], 2), ticks=sol.iterations,
                best_responses=sol.solver_calls, termination=str(sol.termination),
                certified=bool(sol.certificate["certified"]), max_gain_rel=float(sol.certificate["max_gain_rel"]),
                offloading=int(np.sum(so >= 0)), servers_used=int(len(set(so[so >= 0].tolist()))),
                all_local=int(np.sum(so < 0)), avg_cost=round(float(sol.objective), 2),
                peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                load_before=load_before, load_after=uptime())


def run_case(N: int, K: int, seed: int, cache: Path, case: str) -> dict:
    path = instance_file(N, K, cache)
    out = subprocess.run([sys.executable, __file__, "--one", str(path), "--seed", str(seed)],
                         capture_output=True, text=True, env=os.environ)
    if out.returncode:
        raise RuntimeError(out.stderr)
    row = dict(case=case, **json.loads(out.stdout.strip().splitlines()[-1]))
    print(row, file=sys.stderr)
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="N = 1,000 on K = 10 only")
    ap.add_argument("--main", default="10000x100", help="NxK of the main case")
    ap.add_argument("--repeat", type=int, default=3, help="runs of the main case (game seeds 0..repeat-1)")
    ap.add_argument("--sizes", default="1000,10000,50000", help="N at K = 100 ('' to skip)")
    ap.add_argument("--servers", default="10,100,1000", help="K at N = 10,000 ('' to skip)")
    ap.add_argument("--cache", default=str(HERE / ".cache" / "multiserver"), help="folder for the TOML instances")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one:
        print(json.dumps(one(args.one, args.seed)))
        return 0
    cache = Path(args.cache)
    rows = []
    if args.quick:
        rows.append(run_case(1000, 10, 0, cache, "quick"))
    else:
        N, K = (int(x) for x in args.main.split("x"))
        for seed in range(args.repeat):
            rows.append(run_case(N, K, seed, cache, "main"))
        for n in [int(x) for x in args.sizes.split(",") if x]:
            if (n, 100) != (N, K):
                rows.append(run_case(n, 100, 0, cache, "by N"))
        for k in [int(x) for x in args.servers.split(",") if x]:
            if (10000, k) != (N, K):
                rows.append(run_case(10000, k, 0, cache, "by K"))
    save(rows, "multiserver-quick" if args.quick else "multiserver", hide=("backend", "load_after"))
    main_rows = [r for r in rows if r["case"] in ("main", "quick")]
    med = {k: statistics.median(r[k] for r in main_rows) for k in ("load_s", "game_s", "game_cpu_s", "peak_rss_mb")}
    print(f"\nmain case N = {main_rows[0]['N']}, K = {main_rows[0]['K']}, {len(main_rows)} run(s): median load "
          f"{med['load_s']} s, game {med['game_s']} s wall ({med['game_cpu_s']} s CPU), peak RSS "
          f"{med['peak_rss_mb']} MB; certified {sum(r['certified'] for r in main_rows)}/{len(main_rows)}")
    return 0 if all(r["certified"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
