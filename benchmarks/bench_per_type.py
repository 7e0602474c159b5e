"""Per-type delay models vs one polynomial (issue 10, point 4), measured on this machine with ONNX Runtime.

Usage: python benchmarks/bench_per_type.py [--runs 10] [--warmup 2] [--threads 1] [--terms paper]
                                           [--onnx-dir /tmp/catalog-onnx] [--reuse]

1. Profiles every catalog network per node with ONNX Runtime (as ``mecopt profile``
   does: ``--onnx-dir/NAME.onnx`` from ``benchmarks/make_catalog.py`` when present,
   else the bundled spec through ``spec_to_onnx``), one thread. On a shared
   machine the load changes from second to second, so the ``--runs`` runs of
   each network are taken in ``--rounds`` rounds over all networks in turn
   (after ``--warmup`` runs each round) and the medians are over all of them.
   The tables go to ``benchmarks/results/profiles/`` (``--reuse`` reads them
   instead of measuring).
2. Fits eq. (5) per operator class and as one polynomial on the same seeded
   80/20 split of all operator rows, and reports R², MAE and the share within
   ±10% per class and overall on the held-out rows (``per_type_split.csv``), and
   on the held-out rows of MobileNetV2, ResNet-18 and ViT-B/16 (``per_type_split_networks.csv``);
   then the same on a seeded 20% of the *layers* (a layer predicted as the sum of its
   operators, both models fitted on the other layers' operators; ``per_type_layers.csv``), and overall
   for ``--layer-seeds`` such splits (``per_type_layers_seeds.csv``). The per-type fits keep a class's own
   set only when it beats one polynomial leaving one *training* network out at a time (``groups``).
3. For MobileNetV2, ResNet-18 and ViT-B/16, fits both models on the *other*
   networks' operators only and predicts every layer of the network left out
   (a layer = the sum of its operators): R², MAE and share within ±10% over its
   layers, and the predicted vs measured whole-network time (``per_type_networks.csv``).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from results_table import RESULTS, save

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_catalog import CATALOG  # noqa: E402

from mecopt.byo import profiling  # noqa: E402
from mecopt.cli.commands.byo import _parse_terms  # noqa: E402
from mecopt.core import dnn  # noqa: E402
from mecopt.core.delay import _quality, fit_per_type  # noqa: E402

HELD_OUT = ("mobilenet_v2", "resnet18", "vit_b_16")


def measure_all(args) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    folder = RESULTS / "profiles"
    paths = {n: (folder / f"{n}-profile.csv", folder / f"{n}-profile-ops.csv") for n in CATALOG}
    if args.reuse and all(a.exists() and b.exists() for a, b in paths.values()):
        return {n: (pd.read_csv(a), pd.read_csv(b)) for n, (a, b) in paths.items()}
    from mecopt.byo.onnx_import import import_onnx
    graphs = {}
    for name in CATALOG:  # what each node is: its layer and operator
        onnx_file = args.onnx_dir / f"{name}.onnx"
        if onnx_file.exists():
            r = import_onnx(onnx_file, name=name)
            graphs[name] = (onnx_file, r.table, r.node_layer, r.node_ops)
        else:
            spec = dnn.load_spec(dnn.resolve_path(name))
            model, node_layer, node_ops = profiling.spec_to_onnx(spec)
            graphs[name] = (model, dnn.propagate(spec), node_layer, node_ops)
    times: dict[str, dict[str, list]] = {n: {} for n in CATALOG}
    per_round = max(1, args.runs // args.rounds)
    for k in range(args.rounds):
        for name, (model, *_rest) in graphs.items():
            for node, t in profiling.time_nodes(model, runs=per_round, warmup=args.warmup,
                                                threads=args.threads).items():
                times[name].setdefault(node, []).append(t)
        print(f"round {k + 1}/{args.rounds} done, load {os.getloadavg()[0]:.1f}", flush=True)
    out = {}
    folder.mkdir(parents=True, exist_ok=True)
    for name, (_, table, node_layer, node_ops) in graphs.items():
        merged = {node: np.concatenate(ts) for node, ts in times[name].items() if len(ts) == args.rounds}
        layers, ops, _ = profiling._tables(name, table, node_layer, node_ops, merged, per_round * args.rounds,
                                           args.threads)
        layers.to_csv(paths[name][0], index=False)
        ops.to_csv(paths[name][1], index=False)
        print(f"{name}: {len(ops)} operators, median sum {layers['median_ms'].sum():.1f} ms", flush=True)
        out[name] = (layers, ops)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--terms", default="paper")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--layer-seeds", type=int, default=10, help="how many seeded held-out-layer splits to report")
    ap.add_argument("--onnx-dir", type=Path, default=Path("/tmp/catalog-onnx"))
    ap.add_argument("--reuse", action="store_true", help="read the profiles of an earlier run")
    args = ap.parse_args(argv)
    terms = _parse_terms(args.terms)
    print(f"machine: {profiling.machine_description('ort')}", flush=True)
    measured = measure_all(args)
    ops = pd.concat([o for _, o in measured.values()], ignore_index=True)
    X, y, cls = ops[["G", "K", "O", "I"]].to_numpy(float), ops["median_ms"].to_numpy(float), ops["type"].to_numpy()

    nets = ops["dnn"].to_numpy()  # cross-validation groups inside fit_per_type: one network left out per fold
    report = fit_per_type(cls, X, y, terms=terms, test_fraction=0.2, seed=args.seed, groups=nets)
    q = pd.DataFrame(report.quality)
    q = q[q["split"] == "held-out"].drop(columns="split")
    save([{**r, "terms": args.terms} for r in q.to_dict("records")], "per_type_split")
    # the same split's held-out operators of the three networks
    from mecopt.core.delay import _split
    _, test = _split(len(y), 0.2, args.seed)
    rows = []
    for name in HELD_OUT:
        sel = test[ops["dnn"].to_numpy()[test] == name]
        for label, model in (("per-type", report.model), ("single", report.single)):
            pred = model.predict_ops(cls[sel], X[sel]) * 1e3
            rows.append({"network": name, "model": label, **_quality(y[sel], pred), "terms": args.terms})
    save(rows, "per_type_split_networks")

    # held-out *layers*: a seeded 20% of all layers of all networks; both models fitted on the operators of the
    # other layers; a held-out layer is predicted as the sum over its operators. Reported for --seed by layer
    # type, and overall for --layer-seeds further splits (seed, seed+1, ...)
    all_layers = pd.concat([lay for lay, _ in measured.values()], ignore_index=True)
    key = list(zip(ops["dnn"], ops["layer"]))
    rows, sweep = [], []
    for seed in range(args.seed, args.seed + max(1, args.layer_seeds)):
        _, test_l = _split(len(all_layers), 0.2, seed)
        test_keys = set(zip(all_layers["dnn"].to_numpy()[test_l], all_layers["layer"].to_numpy()[test_l]))
        is_test = np.array([k in test_keys for k in key])
        fitted = fit_per_type(cls[~is_test], X[~is_test], y[~is_test], terms=terms, groups=nets[~is_test])
        held = all_layers.iloc[test_l]
        for label, model in (("per-type", fitted.model), ("single", fitted.single)):
            pred_ops = pd.Series(model.predict_ops(cls, X) * 1e3, index=pd.MultiIndex.from_tuples(key))
            per_layer = pred_ops.groupby(level=[0, 1]).sum()
            pred = np.array([per_layer.get((d, l), 0.0) for d, l in zip(held["dnn"], held["layer"])])
            meas = held["median_ms"].to_numpy(float)
            sweep.append({"seed": seed, "model": label, **_quality(meas, pred), "terms": args.terms})
            if seed != args.seed:
                continue
            for kind in ["all"] + sorted(set(held["type"])):
                sel = np.ones(len(held), bool) if kind == "all" else (held["type"] == kind).to_numpy()
                rows.append({"layer_type": kind, "model": label, **_quality(meas[sel], pred[sel]),
                             "terms": args.terms})
    save(rows, "per_type_layers")
    save(sweep, "per_type_layers_seeds")

    rows = []
    for name in HELD_OUT:
        layers, own = measured[name]
        rest = ops[ops["dnn"] != name]
        fitted = fit_per_type(rest["type"], rest[["G", "K", "O", "I"]].to_numpy(float),
                              rest["median_ms"].to_numpy(float), terms=terms, groups=rest["dnn"].to_numpy())
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
