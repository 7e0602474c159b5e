"""Write the GTPOS benchmark library instances/bench/*.toml (seeded; run once, files are committed).

Usage: python benchmarks/make_bench_instances.py [--table [TIME_LIMIT]] [--names a,b,...]

Families (paper preset otherwise: H = 5, T_d = 0.75 s, B = 4, tau = 5 s):
* ``alexnet-total-nN``: the Fig. 5 family (AlexNet x N, W = 2 kHz) with (17) as printed (mode total);
* ``mixed-MODE-nN``: mixed DNNs (VGG16, VGG13, AlexNet, LeNet) with bandwidths drawn from
  {1, 1.5, 2, 2.5, 3} kHz, seeded: device classes = distinct (DNN, bandwidth) pairs (>= 10 for N >= 50),
  deadline_policy relax (VGG cannot meet tau = 5 s).
* ``alexnet-K2-total-n20``, ``mixed-K2-total-n20``, ``mixed-K4-MODE-n50``, ``mixed-K4-total-n200``,
  ``mixed-K10-MODE-n500``: several servers (2-10, 20-500 MDs), as built by
  ``bench_gtpos_multiserver.py`` (paper preset per server; each MD near one home server, far from the others;
  AlexNet MDs reach both servers, mixed MDs their home server and with probability 0.7 one more).
``--table`` also solves every instance with both backends (time limit per run, default 120 s),
cross-checks them and writes instances/bench/optima.csv (see docs/milp.md §6); with ``--names`` only those
rows are re-solved and replaced (the others are kept).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import tomli_w

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "instances" / "bench"
BANDWIDTHS = (1000.0, 1500.0, 2000.0, 2500.0, 3000.0)
DNNS = ("vgg16", "vgg13", "alexnet", "lenet")

MODEL = {"bits_per_element": 1, "price_scale": 1e6, "deadline_policy": "hard"}
SERVER = {"slots": 5, "frame_s": 0.75, "parallel_limit": 4, "freq_cycles_per_s": 3400.0, "price_base": 1.0,
          "price_growth": 2.0, "tx_power_w": 4.0}
DEFAULTS = {"cost_delay_per_s": 3400.0, "cost_energy_per_j": 3400.0, "delta_cycles_per_bit": [2000.0, 2500.0],
            "upload_power_w": 4.0, "compute_power_w": 4.05, "bandwidth_hz": 2000.0, "channel_gain": 1.2e6,
            "noise_w_per_hz": 1e-9, "deadline_s": 5.0}


def alexnet(N: int, mode: str) -> dict:
    return {"name": f"alexnet-{mode}-n{N}",
            "description": f"Fig. 5 family: {N} AlexNet MDs, W = 2 kHz, alpha/beta/gamma = .42/.17/.41, "
                           f"capacity_mode {mode}",
            "seed": 1, "devices": [{"dnn": "alexnet", "count": N, "alpha": 0.42, "beta": 0.17, "gamma": 0.41}],
            "model": dict(MODEL, capacity_mode=mode), "server": SERVER, "device_defaults": DEFAULTS}


def mixed(N: int, mode: str, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    dnn = rng.choice(len(DNNS), N)
    bw = rng.choice(len(BANDWIDTHS), N)
    groups: dict = {}
    for d, w in zip(dnn, bw):
        groups[(int(d), int(w))] = groups.get((int(d), int(w)), 0) + 1
    devices = [{"name": f"{DNNS[d]}-{int(BANDWIDTHS[w])}hz", "dnn": DNNS[d], "count": c, "alpha": 0.95,
                "beta": 0.049, "gamma": 0.001, "bandwidth_hz": BANDWIDTHS[w]} for (d, w), c in sorted(groups.items())]
    return {"name": f"mixed-{mode}-n{N}",
            "description": f"{N} MDs, mixed DNNs and bandwidths from {{1, 1.5, 2, 2.5, 3}} kHz (seed {seed}), "
                           f"{len(groups)} (DNN, bandwidth) classes, capacity_mode {mode}",
            "seed": seed, "devices": devices, "model": dict(MODEL, capacity_mode=mode, deadline_policy="relax"),
            "server": SERVER, "device_defaults": DEFAULTS}


def several(case: str, mode: str) -> dict:
    """A several-server instance of bench_gtpos_multiserver.py (``case`` = its name there)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_gtpos_multiserver import CASES, doc

    K, N, is_mixed, seed = CASES[case]
    name = f"{case.split('-')[0]}-K{K}-{mode}-n{N}"
    out = doc(name, K, N, is_mixed, seed, mode)
    out["description"] = (f"{N} MDs ({'mixed DNNs and bandwidths' if is_mixed else 'AlexNet, W = 2 kHz'}), {K} servers "
                          f"(paper preset each), each MD near a home server; capacity_mode {mode} "
                          f"(benchmarks/bench_gtpos_multiserver.py case {case})")
    return out


LIBRARY = ([alexnet(N, "total") for N in (5, 10, 20, 50)]
           + [alexnet(200, "per_device")]
           + [mixed(N, "total", 100 + N) for N in (10, 50, 200)]
           + [mixed(N, "per_device", 100 + N) for N in (50, 1000)]
           + [several("alexnet-K2-n20", "total"), several("mixed-K2-n20", "total"),
              several("mixed-K4-n50", "total"), several("mixed-K4-n50", "per_device"),
              several("mixed-K4-n200", "total"), several("mixed-K10-n500", "total"),
              several("mixed-K10-n500", "per_device")])


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    for doc in LIBRARY:
        (OUT / f"{doc['name']}.toml").write_text(tomli_w.dumps(doc))
        print(doc["name"])
    if "--table" in sys.argv:
        rest = sys.argv[sys.argv.index("--table") + 1:]
        which = sys.argv[sys.argv.index("--names") + 1].split(",") if "--names" in sys.argv else None
        write_table(float(rest[0]) if rest and not rest[0].startswith("--") else 120.0, which)
    return 0




def write_table(time_limit: float = 120.0, which: list[str] | None = None) -> None:
    """Solve the library (or the instances ``which``) with both backends, cross-checked; write optima.csv."""
    import pandas as pd

    from mecopt.studies.bench import TABLE, make_table

    table = make_table(("cpsat", "highs"), time_limit=time_limit, which=which)
    if which is not None:   # replace those rows, keep the others
        old = pd.read_csv(OUT / TABLE)
        table = pd.concat([old[~old["name"].isin(which)], table]).sort_values("name")
    table.to_csv(OUT / TABLE, index=False, float_format="%.12g")
    print(table.to_string())


if __name__ == "__main__":
    sys.exit(main())
