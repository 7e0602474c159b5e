"""Per-type delay models vs one polynomial (issue 10, point 4), measured on this machine with ONNX Runtime.

Usage: python benchmarks/bench_per_type.py [--runs 10] [--warmup 2] [--threads 1] [--terms paper]
                                           [--onnx-dir /tmp/catalog-onnx] [--reuse]

1. Profiles every catalog network per node with ONNX Runtime (``mecopt profile``'s
   :func:`mecopt.byo.profiling.profile_onnx`; ``--onnx-dir/NAME.onnx`` from
   ``benchmarks/make_catalog.py`` when present, else the bundled spec through
   ``spec_to_onnx``), one thread, medians of ``--runs`` runs; the tables go to
   ``benchmarks/results/profiles/`` (``--reuse`` reads them instead of measuring).
2. Fits eq. (5) per operator class and as one polynomial on the same seeded
   80/20 split of all operator rows, and reports R², MAE and the share within
   ±10% per class and overall on the held-out rows (``per_type_split.csv``).
3. For MobileNetV2, ResNet-18 and ViT-B/16, fits both models on the *other*
   networks' operators only and predicts every layer of the network left out
   (a layer = the sum of its operators): R², MAE and share within ±10% over its
   layers, and the predicted vs measured whole-network time (``per_type_networks.csv``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from results_table import RESULTS, save

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_catalog import CATALOG  # noqa: E402

from mecopt.byo import profiling  # noqa: E402
from mecopt.cli.commands.byo import _parse_terms  # noqa: E402
from mecopt.model import dnn  # noqa: E402
from mecopt.model.delay import _quality, fit_per_type  # noqa: E402

HELD_OUT = ("mobilenet_v2", "resnet18", "vit_b_16")


def measure(name: str, args) -> tuple[pd.DataFrame, pd.DataFrame]:
    folder = RESULTS / "profiles"
    lpath, opath = folder / f"{name}-profile.csv", folder / f"{name}-profile-ops.csv"
    if args.reuse and lpath.exists() and opath.exists():
        return pd.read_csv(lpath), pd.read_csv(opath)
    onnx_file = args.onnx_dir / f"{name}.onnx"
    t0 = time.time()
    if onnx_file.exists():
        _, layers, ops, _ = profiling.profile_onnx(onnx_file, name=name, runs=args.runs, warmup=args.warmup,
                                                   threads=args.threads)
    else:
        layers, ops, _ = profiling.profile_spec_ort(dnn.load_spec(dnn.resolve_path(name)), runs=args.runs,
                                                    warmup=args.warmup, threads=args.threads)
    folder.mkdir(parents=True, exist_ok=True)
    layers.to_csv(lpath, index=False)
    ops.to_csv(opath, index=False)
    print(f"{name}: {len(ops)} operators, median sum {layers['median_ms'].sum():.1f} ms, "
          f"measured in {time.time() - t0:.0f} s, load {os.getloadavg()[0]:.1f}", flush=True)
    return layers, ops


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--terms", default="paper")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--onnx-dir", type=Path, default=Path("/tmp/catalog-onnx"))
    ap.add_argument("--reuse", action="store_true", help="read the profiles of an earlier run")
    args = ap.parse_args(argv)
    terms = _parse_terms(args.terms)
    print(f"machine: {profiling.machine_description('ort')}", flush=True)
    measured = {name: measure(name, args) for name in CATALOG}
    ops = pd.concat([o for _, o in measured.values()], ignore_index=True)
    X, y, cls = ops[["G", "K", "O", "I"]].to_numpy(float), ops["median_ms"].to_numpy(float), ops["type"].to_numpy()

    report = fit_per_type(cls, X, y, terms=terms, test_fraction=0.2, seed=args.seed)
    q = pd.DataFrame(report.quality)
    q = q[q["split"] == "held-out"].drop(columns="split")
    save([{**r, "terms": args.terms} for r in q.to_dict("records")], "per_type_split")

    rows = []
    for name in HELD_OUT:
        layers, own = measured[name]
        rest = ops[ops["dnn"] != name]
        fitted = fit_per_type(rest["type"], rest[["G", "K", "O", "I"]].to_numpy(float),
                              rest["median_ms"].to_numpy(float), terms=terms)
        table = dnn.layer_table(name)
        op_frame = table.op_frame()
        for label, model in (("per-type", fitted.model), ("single", fitted.single)):
            pred_ops = model.predict_ops(op_frame["type"], op_frame[["G", "K", "O", "I"]].to_numpy(float)) * 1e3
            pred = np.bincount(op_frame["layer"], weights=pred_ops, minlength=table.num_layers + 1)[1:]
            meas = layers.sort_values("layer")["median_ms"].to_numpy(float)
            qual = _quality(meas, pred)
            rows.append({"network": name, "model": label, "layers": qual["rows"], "r2": qual["r2"],
                         "mae_ms": qual["mae"], "within_10pct": qual["within_10pct"],
                         "predicted_ms": float(pred.sum()), "measured_ms": float(meas.sum()),
                         "total_error_pct": 100 * (pred.sum() - meas.sum()) / meas.sum(), "terms": args.terms})
    save(rows, "per_type_networks")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
