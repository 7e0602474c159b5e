"""Calibrated delay model vs real latency, every catalog network left out in turn (issue 20, point 4).

Usage: python benchmarks/bench_calibration.py [--quick] [--runs 30] [--rounds 6] [--warmup 3] [--min-ms 1000]
                                              [--role local|server] [--reuse] [--only a,b,...]

``--quick`` takes fewer runs (``--runs 10 --rounds 2 --warmup 2 --min-ms 300``)
for repeated checks on a busy machine; the full run (the defaults) is the one
whose figures go into the README. Both print the wall and CPU time they took.

1. Profiles every catalog network on this machine exactly as ``mecopt calibrate``
   does (``mecopt.byo.calibrate.profile_networks``: the spec built by
   ``spec_to_onnx``, ONNX Runtime at its default optimization level, one intra-op
   thread pinned to one CPU for ``--role local``, runs in ``--rounds`` fresh
   sessions, each profiled run taking turns with a run of an unprofiled twin
   session timed end to end, at least ``--min-ms`` of end-to-end time per
   network). Tables go to ``benchmarks/results/calibration/``
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
import time
from pathlib import Path

import numpy as np
import pandas as pd
from results_table import RESULTS

from mecopt.byo.calibrate import CATALOG, E2E_TOLERANCE, Profiles, calibrate, plot, profile_networks, role_threads
from mecopt.core import dnn
from mecopt.core.delay import fit as lstsq_fit
from mecopt.core.delay import layer_delays, load_coefficients, r_squared

FOLDER = RESULTS / "calibration"


def measure(args) -> Profiles:
    global FOLDER
    if args.profiles:
        FOLDER = Path(args.profiles)
    elif args.quick:
        FOLDER = RESULTS / "calibration" / "quick"
    names = args.only.split(",") if args.only else list(CATALOG)
    paths = [FOLDER / f"{args.role}-{k}.csv" for k in ("layers", "ops", "networks")]
    if args.reuse and all(p.exists() for p in paths):
        info = json.loads((FOLDER / f"{args.role}-machine.json").read_text())
        return Profiles(*(pd.read_csv(p) for p in paths), info)
    profiles = profile_networks(names, runs=args.runs, warmup=args.warmup, rounds=args.rounds,
                                threads=role_threads(args.role), min_ms=args.min_ms,
                                progress=lambda n, r: print(f"  {n}: e2e {r['e2e_median_ms']:.4g} ms, profile "
                                                            f"{100 * r['total_vs_e2e']:+.1f}% (profiler overhead "
                                                            f"{100 * r['profiler_overhead']:+.1f}%), attributed "
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
    ap.add_argument("--quick", action="store_true", help="fewer runs: --runs 10 --rounds 2 --warmup 2 --min-ms 300")
    ap.add_argument("--runs", type=int, default=None, help="timed runs per network, at least (default 30)")
    ap.add_argument("--rounds", type=int, default=None, help="passes over the networks (default 6)")
    ap.add_argument("--warmup", type=int, default=None, help="untimed runs per round (default 3)")
    ap.add_argument("--min-ms", type=float, default=None, help="end-to-end time per network, at least (default 1000)")
    ap.add_argument("--role", choices=["local", "server"], default="local")
    ap.add_argument("--weight", choices=["network", "none"], default="network")
    ap.add_argument("--only", default="")
    ap.add_argument("--reuse", action="store_true")
    ap.add_argument("--profiles", default="", help="folder of the profile tables (default results/calibration)")
    args = ap.parse_args()
    preset = dict(runs=10, rounds=2, warmup=2, min_ms=300.0) if args.quick else \
        dict(runs=30, rounds=6, warmup=3, min_ms=1000.0)
    for k, v in preset.items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    print(f"load average before: {os.getloadavg()}; " + ("reusing the profiles" if args.reuse else
          f"{'--quick: ' if args.quick else ''}runs >= {args.runs}, {args.rounds} rounds, {args.warmup} warm-up, "
          f">= {args.min_ms:g} ms per network"), flush=True)
    p = measure(args)
    cal = calibrate(p, role=args.role, name=f"calibrated-{args.role}", weight=args.weight)
    n = cal.networks.merge(earlier_predictors(p), on="dnn")
    e = n["e2e_median_ms"]
    pct = lambda v: f"{v:+.1f}%"  # noqa: E731
    table = pd.DataFrame({
        "network": n["dnn"], "measured e2e [ms]": e.round(3),
        "calibrated, held out [ms]": n["held_out_ms"].round(3),
        "error": (100 * n["held_out_error"]).map(pct),
        "layer R² (held out)": n["held_out_r2_layers"].round(3),
        "profile total vs e2e": (100 * n["total_vs_e2e"]).map(pct),
        "(by medians)": (100 * n["median_vs_e2e"]).map(pct),
        "spread e2e": (100 * n["e2e_spread"]).map(lambda v: f"{v:.0f}%"),
        "profiler overhead": (100 * n["profiler_overhead"]).map(pct),
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
    agree = n["total_vs_e2e"].abs() <= E2E_TOLERANCE
    targets = [("mean |error| <= 10%", s["held_out_mae"] <= 0.10, f"{100 * s['held_out_mae']:.1f}%"),
               ("no network worse than 25%", s["held_out_max"] <= 0.25,
                f"worst {100 * s['held_out_max']:.1f}% ({s['held_out_worst']})"),
               ("held-out per-layer R² >= 0.95 (pooled)", s["held_out_r2_layers"] >= 0.95,
                f"{s['held_out_r2_layers']:.4f}"),
               ("profile total within 5% of end to end", bool(agree.all()),
                f"{int(agree.sum())}/{len(n)} networks, worst {100 * n['total_vs_e2e'].abs().max():.1f}%")]
    print()
    for what, ok, got in targets:
        print(f"{'met    ' if ok else 'MISSED '} {what}: {got}")
    print(f"held-out layers: R² {s['held_out_r2_layers']:.4f} pooled over all {s['layers']} layers; per network "
          f"{s['held_out_r2_layers_min']:.3f} to {n['held_out_r2_layers'].max():.3f}; in sample mean |error| "
          f"{100 * s['fitted_mae']:.1f}%")
    print(f"profiler overhead on a run's wall time: median {100 * n['profiler_overhead'].median():+.1f}% "
          f"({100 * n['profiler_overhead'].min():+.1f}% to {100 * n['profiler_overhead'].max():+.1f}%); kernels "
          f"{100 * n['kernel_share'].min():.1f}-{100 * n['kernel_share'].max():.1f}% of a profiled run")
    m = p.machine
    print(f"machine: {m['machine']}; pinned to CPU {m.get('cpu')}; load before {m['load_before']}, after "
          f"{m['load_after']}; 1-min load during the networks' rounds {n['load_min'].min():.2f}-"
          f"{n['load_max'].max():.2f}; load average now {tuple(round(x, 2) for x in os.getloadavg())}")
    print(f"took {time.perf_counter() - wall0:.0f} s wall, {time.process_time() - cpu0:.0f} s CPU")
    if args.profiles or args.quick:  # another run's profiles, or a quick check: tables next to the profiles
        n.to_csv(FOLDER / "calibration_networks.csv", index=False)
        summary.to_csv(FOLDER / "calibration_summary.csv", index=False)
        return
    n.to_csv(RESULTS / "calibration_networks.csv", index=False)
    summary.to_csv(RESULTS / "calibration_summary.csv", index=False)
    plot(cal, RESULTS / "calibration.png", title=f"calibrated ({args.role}), each network held out")


if __name__ == "__main__":
    sys.exit(main())
