"""Bring your own DNN: ``import-onnx``, ``profile`` and ``fit`` (docs/byo-dnn.md)."""

from __future__ import annotations

import re
from pathlib import Path

import click
import numpy as np
import pandas as pd

from mecopt.model import dnn
from mecopt.model.delay import PAPER_TERMS, TERMS, fit as fit_delay
from mecopt.errors import InputError
from mecopt.results.export import read_table, write_table, write_text
from mecopt.cli.common import echo_table, writable_output


def _input_shape(ctx, param, value):
    if value is None:
        return None
    parts = re.split(r"[,x ]+", value.strip())
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        shape = ()
    if len(shape) != 3 or min(shape) <= 0:
        raise click.BadParameter(f"expected C,H,W with three positive integers, got {value!r}")
    return shape


def _refuse_overwrite(path: Path, force: bool) -> None:
    if path.exists() and not force:
        raise InputError(f"{path} exists; pass --force to overwrite it")


@click.command("import-onnx")
@click.argument("model", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--name", help="DNN name (default: the model file's stem).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), callback=writable_output,
              help="Spec file to write (default: NAME.toml in the current directory).")
@click.option("--input-shape", callback=_input_shape, metavar="C,H,W",
              help="Fix the input's channels, height, width when the model leaves them symbolic.")
@click.option("--branches", type=click.Choice(["collapse", "refuse"]), default="collapse", show_default=True,
              help="Branching regions (residual, inception): collapse each into one block layer, or refuse the model.")
@click.option("--force", is_flag=True, help="Overwrite an existing spec file.")
@click.option("--quiet", "-q", is_flag=True, help="Do not print the layer table.")
def import_onnx_command(model, name, out, input_shape, branches, force, quiet):
    """Import an ONNX MODEL as a DNN spec (a chain of layers with G, K, O, I).

    Runs ONNX shape inference and writes a spec that mecopt.model.dnn re-propagates to
    the same shapes. Unsupported operators are named; see docs/byo-dnn.md for the
    operator mapping.
    """
    from mecopt.byo.onnx_import import import_onnx

    result = import_onnx(model, name=name, input_shape=input_shape, branches=branches)
    path = out or Path(f"{result.spec.name}.toml")
    _refuse_overwrite(path, force)
    write_text(path, result.to_toml())
    if not quiet:
        frame = result.table.frame.drop(columns=["t_local_s", "t_server_s"])
        echo_table(frame)
    for note in result.notes:
        click.echo(f"note: {note}")
    click.echo(f"wrote {path} ({result.table.num_layers} layers)")


@click.command("profile")
@click.argument("dnn_name", metavar="DNN|MODEL.onnx")
@click.option("--engine", type=click.Choice(["ort", "torch"]), default="ort", show_default=True,
              help="ONNX Runtime (every node timed by ORT's profiler, summed per layer; blocks too) or "
                   "PyTorch (chain specs without blocks).")
@click.option("--runs", type=click.IntRange(min=1), default=20, show_default=True,
              help="Timed passes through the whole network.")
@click.option("--warmup", type=click.IntRange(min=0), default=3, show_default=True, help="Untimed passes first.")
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True,
              help="Intra-op threads for the measurement (one thread: stable per-layer times, "
                   "like the paper's single-board MD; more for a server profile).")
@click.option("--grouped-conv", type=click.Choice(["auto", "full", "per_group"]), default="auto", show_default=True,
              help="O of grouped convolutions in the table (MODEL.md §1); match the instances' model.grouped_conv.")
@click.option("--optimization", type=click.Choice(["disable", "basic", "extended", "all"]), default="all",
              show_default=True, help="ONNX Runtime graph optimizations (all: ORT's default, what a deployment runs; "
                                      "every fused or renamed node is still given to its layer).")
@click.option("--rounds", type=click.IntRange(min=1), default=3, show_default=True,
              help="ONNX Runtime: split the runs into this many fresh sessions, each also timed end to end.")
@click.option("--cpu", type=click.IntRange(min=0), default=None,
              help="ONNX Runtime: pin the measurement to this CPU (Linux; default: not pinned).")
@click.option("--input-shape", callback=_input_shape, metavar="C,H,W",
              help="For an ONNX model whose input sizes are symbolic.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random weights and input.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), callback=writable_output,
              help="Profile table to write (default: NAME-profile.csv in the current folder).")
@click.option("--ops-out", type=click.Path(dir_okay=False, path_type=Path), callback=writable_output,
              help="Per-operator table (ONNX Runtime; default: NAME-profile-ops.csv next to --out).")
@click.option("--attach", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write a copy of the spec with the measured medians as t_local_s or t_server_s.")
@click.option("--as", "side", type=click.Choice(["local", "server"]), default="local", show_default=True,
              help="Which measured time --attach writes.")
@click.option("--force", is_flag=True, help="Overwrite existing output files.")
def profile_command(dnn_name, engine, runs, warmup, threads, grouped_conv, optimization, rounds, cpu, input_shape,
                    seed, out, ops_out, attach, side, force):
    """Time every layer of a DNN (bundled name, spec .toml or ONNX model) on this machine's CPU.

    Writes a measured-profile table (layer, name, type, G, K, O, I, median and
    spread in ms) for `mecopt fit`; with ONNX Runtime also one row per operator
    (its delay class, factors and times) for `mecopt fit --per-type`; with
    --attach a spec whose measured times override the prediction model.
    """
    from mecopt.model.dnn import format_spec_toml, spec_to_data
    from mecopt.byo import profiling as prof

    onnx_file = Path(dnn_name).suffix.lower() == ".onnx"
    if engine == "ort":
        prof.require_ort()  # fail before anything is printed or written
    else:
        prof.require_torch()
        if onnx_file:
            raise InputError("an ONNX model is profiled with --engine ort (ONNX Runtime)")
    if onnx_file:
        if not Path(dnn_name).exists():
            raise InputError(f"ONNX model not found: {dnn_name}")
        stem = Path(dnn_name).stem
    else:
        spec_path = dnn.resolve_path(dnn_name, Path.cwd())
        spec = dnn.load_spec(spec_path)
        stem = spec.name
    target = out or Path(f"{stem}-profile.csv")
    if target.suffix != ".csv":
        target = Path(f"{target}.csv")
    ops_target = ops_out or target.with_name(f"{target.stem}-ops.csv")
    for p in [target] + ([ops_target] if engine == "ort" else []) + ([attach] if attach else []):
        _refuse_overwrite(p, force)
    click.echo(f"profiling {stem} with {'ONNX Runtime' if engine == 'ort' else 'PyTorch'}: "
               f"{warmup} warm-up + {runs} timed runs, {threads} thread(s)", err=True)
    ops = None
    if onnx_file:
        result, table, ops, other = prof.profile_onnx(dnn_name, runs=runs, warmup=warmup, threads=threads, seed=seed,
                                                      optimization=optimization, input_shape=input_shape,
                                                      rounds=rounds, cpu=cpu)
        spec = result.spec
    elif engine == "ort":
        table, ops, other = prof.profile_spec_ort(spec, runs=runs, warmup=warmup, threads=threads, seed=seed,
                                                  grouped_conv=grouped_conv, optimization=optimization,
                                                  rounds=rounds, cpu=cpu)
    else:
        table = prof.profile(spec, runs=runs, warmup=warmup, threads=threads, grouped_conv=grouped_conv, seed=seed)
    timing = table.attrs.get("timing")
    if timing is not None:
        _check_attribution(stem, timing)
    path = write_table(table, target, "csv")
    show = table[["layer", "name", "type", "G", "K", "O", "I", "median_ms", "p10_ms", "p90_ms"]]
    echo_table(show, floatfmt=".4g")
    click.echo(f"machine: {prof.machine_description(engine)}; measured with {int(table['threads'].iloc[0])} thread(s)")
    click.echo(f"whole network: median sum {table['median_ms'].sum():.4g} ms")
    if timing is not None:
        click.echo(_timing_line(timing))
    if ops is not None:
        if other > 0:
            click.echo(f"nodes outside every layer (shape computations): median {other:.4g} ms")
        write_table(ops, ops_target, "csv")
        click.echo(f"wrote {ops_target} ({len(ops)} operators)")
    click.echo(f"wrote {path}")
    if attach is not None:
        attached = prof.attach_times(spec, table, side, name=attach.stem)
        header = [f"# {spec.name} with measured t_{side}_s (median of {runs} runs, `mecopt profile`)."]
        write_text(attach, format_spec_toml(spec_to_data(attached), header=header))
        click.echo(f"wrote {attach} (t_{side}_s attached)")


def _timing_line(t: dict) -> str:
    """The whole-network figures of an ONNX Runtime profile, for the CLI."""
    return (f"ONNX Runtime, optimization {t['optimization']} ({t['nodes']} nodes run): profile total median "
            f"{t['total_median_ms']:.4g} ms (p10 {t['total_p10_ms']:.4g}, p90 {t['total_p90_ms']:.4g}) over "
            f"{t['runs']} runs in {t['rounds']} sessions; end to end (same sessions, profiler off) median "
            f"{t['e2e_median_ms']:.4g} ms (p10 {t['e2e_p10_ms']:.4g}, p90 {t['e2e_p90_ms']:.4g}): "
            f"{100 * t['total_vs_e2e']:+.1f}%; attributed to layers {100 * t['share']:.2f}%; "
            f"1-min load average {t['load_min']:.2f}-{t['load_max']:.2f}")


def _check_attribution(stem: str, t: dict) -> None:
    """Refuse (exit 2, nothing written) a profile whose layers carry less than 99% of the measured total."""
    from mecopt.byo.measure import MIN_ATTRIBUTED
    if t["share"] < MIN_ATTRIBUTED:
        raise InputError(f"profile of {stem}: only {100 * t['share']:.2f}% of the measured time "
                         f"({t['attributed_ms']:.4g} of {t['total_ms']:.4g} ms, median per run) could be given to "
                         f"layers, less than {100 * MIN_ATTRIBUTED:.0f}%; {t['outside_ms']:.4g} ms ran in nodes "
                         f"outside every layer (optimization {t['optimization']}). Nothing written.")


def _parse_terms(value: str) -> tuple[str, ...]:
    v = value.strip()
    if v == "all":
        return TERMS
    if v == "paper":
        return PAPER_TERMS
    terms = tuple(t.strip() for t in v.split(",") if t.strip())
    bad = [t for t in terms if t not in TERMS]
    if bad or not terms:
        raise InputError(f"The '--terms' option must be 'all', 'paper' or a comma list of {', '.join(TERMS)}. "
                         f"Got {value!r} instead.")
    return tuple(dict.fromkeys(terms))


_UNIT_SUFFIX = {"_ms": "ms", "_s": "s", "_us": "us"}


@click.command("fit")
@click.argument("profiles", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--terms", default="paper", show_default=True,
              help="Terms of eq. (5): all (16), paper (G2K2OI,G2K2I,G2O as in eqs. 6-7) or a comma list.")
@click.option("--test-fraction", type=click.FloatRange(0.0, 1.0, max_open=True), default=0.2, show_default=True,
              help="Share of rows held out to report R², MAE and the share within ±10%.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the held-out split.")
@click.option("--time-column", default="median_ms", show_default=True,
              help="Column of measured times; its suffix (_ms, _s, _us) gives the unit.")
@click.option("--types", "types_", default=None, metavar="TYPE,...",
              help="Fit only these layer types (e.g. conv), as the paper's Fig. 2 fits conv layers.")
@click.option("--per-type", is_flag=True,
              help="Fit one coefficient set per operator class (conv, dwconv, fc, pool, eltwise, norm, attention) "
                   "into one file; reads per-operator tables (NAME-profile-ops.csv) or layer tables.")
@click.option("--name", help="Name of the coefficient set (default: the --out stem, else 'fitted').")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), callback=writable_output,
              help="Coefficient file to write (default: NAME.toml in the current directory).")
@click.option("--force", is_flag=True, help="Overwrite an existing coefficient file.")
def fit_command(profiles, terms, test_fraction, seed, time_column, types_, per_type, name, out, force):
    """Fit the delay polynomial (5) to measured PROFILES (CSVs of `mecopt profile`) by least squares.

    Prints R² and mean absolute error (footnote 1) on the training and held-out
    rows and the held-out share within ±10%, and saves the coefficient set; an
    instance uses it with model.delay_local = "PATH.toml" (or delay_server).
    """
    chosen = _parse_terms(terms)
    frames = []
    for p in profiles:
        if not p.exists():
            raise InputError(f"profile table not found: {p}")
        df = read_table(p)
        missing = [c for c in ("G", "K", "O", "I", time_column) if c not in df.columns]
        if missing:
            raise InputError(f"{p} lacks column(s) {missing}; expected a table from `mecopt profile` "
                             f"(columns G, K, O, I and {time_column})")
        frames.append(df)
    rows = pd.concat(frames, ignore_index=True)
    if types_:
        wanted = [t.strip() for t in types_.split(",") if t.strip()]
        if "type" not in rows.columns:
            raise InputError("--types needs a 'type' column in the profile tables")
        unknown = sorted(set(wanted) - set(rows["type"]))
        if unknown:
            raise InputError(f"The '--types' option names types absent from the profiles: {unknown}; "
                             f"present: {sorted(set(rows['type']))}")
        rows = rows[rows["type"].isin(wanted)].reset_index(drop=True)
    unit = next((u for suffix, u in _UNIT_SUFFIX.items() if time_column.endswith(suffix)), None)
    if unit is None:
        raise InputError(f"cannot tell the unit of {time_column!r}: name it with _ms, _s or _us")
    X = rows[["G", "K", "O", "I"]].to_numpy(dtype=float)
    y = rows[time_column].to_numpy(dtype=float)
    bad = ~(np.isfinite(X).all(axis=1) & np.isfinite(y))
    if bad.any():
        raise InputError(f"{int(bad.sum())} profile row(s) have missing or non-finite G, K, O, I or {time_column}")
    name = name or (out.stem if out else "fitted")
    path = out or Path(f"{name}.toml")
    _refuse_overwrite(path, force)
    if per_type:
        _fit_per_type(rows, X, y, profiles, chosen, name, unit, test_fraction, seed, path)
        return
    report = fit_delay(X, y, terms=chosen, name=name, unit=unit, test_fraction=test_fraction, seed=seed)
    sources = ", ".join(p.name for p in profiles)
    coef = report.coefficients
    coef = type(coef)(coef.name, coef.eta, coef.unit, f"{coef.description}; from {sources}")
    coef.save(path)

    click.echo(f"fitted eq. (5) with {len(chosen)} term(s) on {report.n_train} rows, {report.n_test} held out "
               f"(seed {seed}) from {sources}")
    lines = [("train", report.r2_train, report.mae_train, None)]
    if report.n_test:
        lines.append(("held-out", report.r2_test, report.mae_test, report.within_10pct_test))
    quality = pd.DataFrame([{"rows": r, "R²": r2, f"MAE [{unit}]": mae,
                             "within ±10%": "" if w is None else f"{100 * w:.0f}%"} for r, r2, mae, w in lines])
    echo_table(quality, floatfmt=".4g")
    echo_table(pd.DataFrame({"term": list(coef.as_terms()), f"eta [{unit}]": list(coef.as_terms().values())}),
               floatfmt=".6g")
    if "type" in rows.columns:  # how well one polynomial serves each layer type (all rows, train and held out)
        pred = coef.predict(X) / {"ms": 1e-3, "s": 1.0, "us": 1e-6}[unit]
        err = pd.DataFrame({"type": rows["type"], "abs": np.abs(pred - y),
                            "rel": np.abs(pred - y) / np.where(y != 0, np.abs(y), np.nan)})
        per_type = err.groupby("type", sort=False).agg(rows=("abs", "size"), MAE=("abs", "mean"),
                                                       median_rel=("rel", "median")).reset_index()
        per_type = per_type.rename(columns={"MAE": f"MAE [{unit}]", "median_rel": "median |rel. error|"})
        echo_table(per_type, floatfmt=".3g")
    negative = int((coef.predict(X) < 0).sum())
    if negative:
        click.echo(f"warning: the fitted set predicts a negative delay for {negative} of the {len(y)} rows; "
                   "fewer terms (e.g. --terms paper) usually avoid that", err=True)
    click.echo(f"wrote {path}; use it with  model.delay_local = \"{path}\"  (or delay_server)")


def _row_classes(rows: pd.DataFrame) -> np.ndarray:
    """The delay class of each profile row: the ``type`` of a per-operator table, or the class of a layer type
    (a conv with one input channel per group is depthwise); block rows have none (None)."""
    if "type" not in rows.columns:
        raise InputError("--per-type needs a 'type' column in the profile tables")
    if "node" in rows.columns:
        return rows["type"].to_numpy(dtype=object)
    out = []
    for t, o in zip(rows["type"], rows["O"]):
        if t == "block" or t not in dnn.LAYER_CLASS:
            out.append(None)
        else:
            out.append("dwconv" if t == "conv" and o == 1 else dnn.LAYER_CLASS[t])
    return np.asarray(out, dtype=object)


def _fit_per_type(rows, X, y, profiles, terms, name, unit, test_fraction, seed, path) -> None:
    from mecopt.model.delay import fit_per_type
    classes = _row_classes(rows)
    keep = np.asarray([c is not None for c in classes])
    if not keep.all():
        click.echo(f"note: {int((~keep).sum())} block row(s) left out (a block mixes classes; profile with "
                   "ONNX Runtime for per-operator rows)", err=True)
    groups = rows["dnn"].to_numpy()[keep] if "dnn" in rows else None  # cross-validate leaving one network out
    report = fit_per_type(classes[keep], X[keep], y[keep], terms=terms, name=name, unit=unit,
                          test_fraction=test_fraction, seed=seed, groups=groups)
    sources = ", ".join(p.name for p in profiles)
    model = report.model
    model = type(model)(model.name, model.sets, model.fallback, model.unit, f"{model.description}; from {sources}")
    model.save(path)
    click.echo(f"fitted eq. (5) per operator class with {len(terms)} term(s) on {report.n_train} rows, "
               f"{report.n_test} held out (seed {seed}) from {sources}")
    q = pd.DataFrame(report.quality)
    show = q[q["split"] == ("held-out" if report.n_test else "train")]
    wide = show.pivot_table(index="class", columns="model", values=["r2", "mae", "within_10pct"], sort=False)
    wide.columns = [f"{v} ({m})" for v, m in wide.columns]
    wide.insert(0, "rows", show.groupby("class", sort=False)["rows"].first())
    for c in [c for c in wide.columns if c.startswith("within_10pct")]:
        wide[c] = (100 * wide[c]).map(lambda v: "" if np.isnan(v) else f"{v:.0f}%")
    click.echo(f"{'held-out' if report.n_test else 'training'} rows: R², MAE [{unit}], share within ±10% "
               "of the per-type sets and of one polynomial fitted on the same rows")
    echo_table(wide.reset_index(), floatfmt=".4g")
    own = sorted(model.sets)
    click.echo(f"classes with a set of their own: {', '.join(own) or '(none)'}; the others use the single polynomial")
    negative = int((model.predict_ops(classes[keep], X[keep]) < 0).sum())
    if negative:
        click.echo(f"warning: the fitted sets predict a negative delay for {negative} of the {int(keep.sum())} rows",
                   err=True)
    click.echo(f"wrote {path}; use it with  model.delay_local = \"{path}\"  (or delay_server)")


commands = [import_onnx_command, profile_command, fit_command]
