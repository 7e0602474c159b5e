"""Calibrated delay model vs real latency, every catalog network left out in turn (issue 20, point 4).

Usage: python benchmarks/bench_calibration.py [--runs 30] [--rounds 3] [--warmup 3] [--min-ms 1000]
                                              [--role local|server] [--reuse] [--only a,b,...]

1. Profiles every catalog network on this machine exactly as ``mecopt calibrate``
   does (``mecopt.byo.calibrate.profile_networks``: the spec built by
   ``spec_to_onnx``, ONNX Runtime at its default optimization level, one intra-op
   thread for ``--role local``, runs in ``--rounds`` fresh sessions, each also
   timed end to end with the profiler off, at least ``--min-ms`` of end-to-end
   time per network). Tables go to ``benchmarks/results/calibration/``
   (``--reuse`` reads them instead of measuring).
2. For every network: its real end-to-end latency (median over the runs, ORT,
   same session settings) against the prediction of a set calibrated (profiled and
   fitted) **without** that network: the per-class non-negative fit of
   ``mecopt.byo.fitting``, a layer = the sum of its operators.
3. The same for the two earlier predictors on the same measurements: eq. (6)
   times one factor fitted on the other networks' latencies (least squares on the
   log ratio, i.e. the geometric mean), and the earlier ``mecopt fit`` (plain least
   squares of eq. (5), paper terms, on the layer tables' display-summary factors).

Prints the table that goes into the README and writes ``calibration_networks.csv``,
``calibration_summary.csv`` and ``calibration.png`` to ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from results_table import RESULTS

from mecopt.byo.calibrate import CATALOG, Profiles, calibrate, plot, profile_networks, role_threads
from mecopt.core import dnn
from mecopt.core.delay import fit as lstsq_fit
from mecopt.core.delay import layer_delays, load_coefficients, r_squared

FOLDER = RESULTS / "calibration"


def measure(args) -> Profiles:
    global FOLDER
    if args.profiles:
        FOLDER = Path(args.profiles)
    names = args.only.split(",") if args.only else list(CATALOG)
    paths = [FOLDER / f"{args.role}-{k}.csv" for k in ("layers", "ops", "networks")]
    if args.reuse and all(p.exists() for p in paths):
        info = json.loads((FOLDER / f"{args.role}-machine.json").read_text())
        return Profiles(*(pd.read_csv(p) for p in paths), info)
    profiles = profile_networks(names, runs=args.runs, warmup=args.warmup, rounds=args.rounds,
                                threads=role_threads(args.role), min_ms=args.min_ms,
                                progress=lambda n, r: print(f"  {n}: e2e {r['e2e_median_ms']:.4g} ms, profile "
                                                            f"{100 * r['total_vs_e2e']:+.1f}%, attributed "
                                                            f"{100 * r['share']:.2f}%, {r['runs']} runs, load "
                                                            f"{r['load_min']:.2f}-{r['load_max']:.2f}", flush=True))
    FOLDER.mkdir(parents=True, exist_ok=True)
    for frame, p in zip((profiles.layers, profiles.ops, profiles.networks), paths):
        frame.to_csv(p, index=False)
    (FOLDER / f"{args.role}-machine.json").write_text(json.dumps(profiles.machine, indent=1))
    return profiles


def earlier_predictors(p: Profiles) -> pd.DataFrame:
    """Held-out predictions of eq. (6) x one factor and of the earlier plain least-squares `mecopt fit`."""
    e2e = dict(zip(p.networks["dnn"], p.networks["e2e_median_ms"]))
    eq6 = {n: float(layer_delays(load_coefficients("device"), dnn.layer_table(n))[1:].sum()) * 1e3 for n in e2e}
    rows = []
    for net in e2e:
        others = [n for n in e2e if n != net]
        factor = float(np.exp(np.mean([np.log(e2e[n] / eq6[n]) for n in others])))
        train = p.layers[p.layers["dnn"] != net]
        rep = lstsq_fit(train[["G", "K", "O", "I"]].to_numpy(float), train["median_ms"].to_numpy(float),
                        terms=("G2K2OI", "G2K2I", "G2O"), unit="ms")
        test = p.layers[p.layers["dnn"] == net]
        old = float(rep.coefficients.predict(test[["G", "K", "O", "I"]].to_numpy(float)).sum()) * 1e3
        rows.append({"dnn": net, "eq6_factor_ms": eq6[net] * factor, "old_fit_ms": old})
    return pd.DataFrame(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--min-ms", type=float, default=1000.0)
    ap.add_argument("--role", choices=["local", "server"], default="local")
    ap.add_argument("--weight", choices=["network", "none"], default="network")
    ap.add_argument("--only", default="")
    ap.add_argument("--reuse", action="store_true")
    ap.add_argument("--profiles", default="", help="folder of the profile tables (default results/calibration)")
    args = ap.parse_args()
    print(f"load average before: {os.getloadavg()}", flush=True)
    p = measure(args)
    cal = calibrate(p, role=args.role, name=f"calibrated-{args.role}", weight=args.weight)
    n = cal.networks.merge(earlier_predictors(p), on="dnn")
    e = n["e2e_median_ms"]
    table = pd.DataFrame({
        "network": n["dnn"], "measured e2e [ms]": e.round(3),
        "profile total vs e2e": (100 * n["total_vs_e2e"]).map(lambda v: f"{v:+.1f}%"),
        "calibrated, held out [ms]": n["held_out_ms"].round(3),
        "error": (100 * n["held_out_error"]).map(lambda v: f"{v:+.1f}%"),
        "layer R² (held out)": n["held_out_r2_layers"].round(3),
        "eq. (6) x factor": (100 * (n["eq6_factor_ms"] / e - 1)).map(lambda v: f"{v:+.0f}%"),
        "old profile+fit": (100 * (n["old_fit_ms"] / e - 1)).map(lambda v: f"{v:+.0f}%"),
    })
    print(table.to_markdown(index=False))
    s = cal.summary
    summary = {
        "predictor": ["calibrated (per class, NNLS, layer = sum of operators)", "eq. (6) x one factor",
                      "old mecopt profile + fit (paper terms, least squares)"],
        "R2_networks": [r_squared(e, n["held_out_ms"]), r_squared(e, n["eq6_factor_ms"]),
                        r_squared(e, n["old_fit_ms"])],
        "MAE_pct": [100 * (n[c] / e - 1).abs().mean() for c in ("held_out_ms", "eq6_factor_ms", "old_fit_ms")],
        "max_pct": [100 * (n[c] / e - 1).abs().max() for c in ("held_out_ms", "eq6_factor_ms", "old_fit_ms")],
    }
    summary = pd.DataFrame(summary)
    print()
    print(summary.to_markdown(index=False, floatfmt=".3f"))
    print(f"\nheld-out layers: R² {s['held_out_r2_layers']:.4f} pooled over all {s['layers']} layers; "
          f"lowest per network {s['held_out_r2_layers_min']:.3f}; worst network {s['held_out_worst']} "
          f"({100 * s['held_out_max']:.1f}%)")
    m = p.machine
    print(f"machine: {m['machine']}; load before {m['load_before']}, after {m['load_after']}; "
          f"load average now {os.getloadavg()}")
    if args.profiles:  # another run's profiles: its tables next to them
        n.to_csv(FOLDER / "calibration_networks.csv", index=False)
        summary.to_csv(FOLDER / "calibration_summary.csv", index=False)
        return
    n.to_csv(RESULTS / "calibration_networks.csv", index=False)
    summary.to_csv(RESULTS / "calibration_summary.csv", index=False)
    plot(cal, RESULTS / "calibration.png", title=f"calibrated ({args.role}), each network held out")


if __name__ == "__main__":
    sys.exit(main())
