"""Bring your own DNN: ``import-onnx``, ``profile`` and ``fit`` (docs/byo-dnn.md)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import click
import numpy as np
import pandas as pd

from mecopt.cli.common import FiniteFloat, echo_table, writable_output
from mecopt.core import dnn
from mecopt.core.delay import PAPER_TERMS, TERMS
from mecopt.core.errors import InputError
from mecopt.core.tables import read_table, write_table, write_text

#: most timed runs, warm-up runs or rounds of a measurement
MAX_REPEATS = 1_000_000
#: most intra-op threads of a measurement
MAX_THREADS = 1024
#: a seed numpy takes
SEED = click.IntRange(0, 2**32 - 1)
#: a CPU of this machine (``--cpu``, pinning a measurement)
CPU = click.IntRange(0, max((os.cpu_count() or 1) - 1, 0))


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

    Runs ONNX shape inference and writes a spec that mecopt.core.dnn re-propagates to
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
@click.option("--runs", type=click.IntRange(1, MAX_REPEATS), default=20, show_default=True,
              help="Timed passes through the whole network.")
@click.option("--warmup", type=click.IntRange(0, MAX_REPEATS), default=3, show_default=True,
              help="Untimed passes first.")
@click.option("--threads", type=click.IntRange(1, MAX_THREADS), default=1, show_default=True,
              help="Intra-op threads for the measurement (one thread: stable per-layer times, "
                   "like the paper's single-board MD; more for a server profile).")
@click.option("--grouped-conv", type=click.Choice(["auto", "full", "per_group"]), default="auto", show_default=True,
              help="O of grouped convolutions in the table (MODEL.md §1); match the instances' model.grouped_conv.")
@click.option("--optimization", type=click.Choice(["disable", "basic", "extended", "all"]), default="all",
              show_default=True, help="ONNX Runtime graph optimizations (all: ORT's default, what a deployment runs; "
                                      "every fused or renamed node is still given to its layer).")
@click.option("--rounds", type=click.IntRange(1, MAX_REPEATS), default=3, show_default=True,
              help="ONNX Runtime: split the runs into this many fresh sessions, each also timed end to end.")
@click.option("--cpu", type=CPU, default=None,
              help="ONNX Runtime: pin the measurement to this CPU (Linux; default with one thread: the highest "
                   "CPU this process may use).")
@click.option("--no-pin", is_flag=True, help="ONNX Runtime: do not pin the measurement to a CPU.")
@click.option("--input-shape", callback=_input_shape, metavar="C,H,W",
              help="For an ONNX model whose input sizes are symbolic.")
@click.option("--seed", type=SEED, default=0, show_default=True,
              help="Seed of the random weights and input.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), callback=writable_output,
              help="Profile table to write (default: NAME-profile.csv in the current folder).")
@click.option("--ops-out", type=click.Path(dir_okay=False, path_type=Path), callback=writable_output,
              help="Per-operator table (ONNX Runtime; default: NAME-profile-ops.csv next to --out).")
@click.option("--attach", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write a copy of the spec with the measured medians as t_local_s or t_server_s.")
@click.option("--as", "side", type=click.Choice(["local", "server"]), default="local", show_default=True,
              help="Which measured time --attach writes.")
@click.option("--force", is_flag=True, help="Overwrite existing output files.")
def profile_command(dnn_name, engine, runs, warmup, threads, grouped_conv, optimization, rounds, cpu, no_pin,
                    input_shape, seed, out, ops_out, attach, side, force):
    """Time every layer of a DNN (bundled name, spec .toml or ONNX model) on this machine's CPU.

    Writes a measured-profile table (layer, name, type, G, K, O, I, median and
    spread in ms) for `mecopt fit`; with ONNX Runtime also one row per operator
    (its delay class, factors and times) for `mecopt fit --per-type`; with
    --attach a spec whose measured times override the prediction model.
    """
    from mecopt.byo import profiling as prof
    from mecopt.core.dnn import format_spec_toml, spec_to_data

    onnx_file = Path(dnn_name).suffix.lower() == ".onnx"
    if engine == "ort":
        prof.require_ort()  # fail before anything is printed or written
        from mecopt.byo.measure import pin_cpu
        cpu = cpu if cpu is not None or no_pin else pin_cpu(threads)
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
    click.echo(f"whole network: sum of the layer medians {table['median_ms'].sum():.4g} ms, of the layer means "
               f"{table['mean_ms'].sum():.4g} ms"
               + (" (under load the medians of short layers come out low: a short kernel is mostly spared by other "
                  "jobs, a long one never; the means keep every layer's share, so fit with --time-column mean_ms)"
                  if timing is not None and table['median_ms'].sum() < 0.9 * timing['total_median_ms'] else ""))
    if timing is not None:
        click.echo(_timing_line(timing))
        if abs(timing["total_vs_e2e"]) > 0.05:
            click.echo(f"note: the profile total and the end-to-end timing differ by "
                       f"{100 * timing['total_vs_e2e']:+.1f}% "
                       f"(more than 5%; spread of the runs {100 * timing['e2e_spread']:.0f}% IQR/median): too few "
                       "runs for this load, or the profiler's own overhead (above) on a network of many light "
                       "nodes; more --runs / --rounds, or a quieter machine", err=True)
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
            f"{t['runs']} runs in {t['rounds']} sessions; end to end (unprofiled twin sessions, runs taken in "
            f"turns) median {t['e2e_median_ms']:.4g} ms (p10 {t['e2e_p10_ms']:.4g}, p90 {t['e2e_p90_ms']:.4g}); "
            f"trimmed means {t['total_trimmed_ms']:.4g} / {t['e2e_trimmed_ms']:.4g} ms: "
            f"{100 * t['total_vs_e2e']:+.1f}%; "
            + (f"clock: the thread's CPU time (wall-clock median {t['e2e_wall_median_ms']:.4g} ms, on a CPU "
               f"{100 * t['on_cpu']:.0f}% of it); " if t.get("clock") == "cpu" else "clock: wall; ")
            + f"profiler overhead on a run's time "
            f"{100 * t['profiler_overhead']:+.1f}%, kernels {100 * t['kernel_share']:.1f}% of a profiled run; "
            f"attributed to layers {100 * t['share']:.2f}%; 1-min load average {t['load_min']:.2f}-"
            f"{t['load_max']:.2f}" + (f", pinned to CPU {t['cpu']}" if t.get("cpu") is not None else ""))


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
              help="Terms of eq. (5) of the one polynomial: all (16), paper (G2K2OI,G2K2I,G2O as in eqs. 6-7) or a "
                   "comma list; with --per-type each class's own terms unless given (see docs/byo-dnn.md).")
@click.option("--test-fraction", type=FiniteFloat(0.0, 1.0, max_open=True), default=0.2, show_default=True,
              help="Share of layers held out to report R², MAE and the share within ±10%.")
@click.option("--seed", type=SEED, default=0, show_default=True,
              help="Seed of the held-out split.")
@click.option("--time-column", default="median_ms", show_default=True,
              help="Column of measured times; its suffix (_ms, _s, _us) gives the unit.")
@click.option("--types", "types_", default=None, metavar="TYPE,...",
              help="Fit only these layer types (e.g. conv), as the paper's Fig. 2 fits conv layers.")
@click.option("--per-type", is_flag=True,
              help="Fit one coefficient set per operator class (conv, dwconv, fc, pool, eltwise, norm, attention) "
                   "into one file.")
@click.option("--weight", type=click.Choice(["network", "none"]), default="network", show_default=True,
              help="Row weights: every network alike (1 / its total), or none (the largest layers dominate).")
@click.option("--name", help="Name of the coefficient set (default: the --out stem, else 'fitted').")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), callback=writable_output,
              help="Coefficient file to write (default: NAME.toml in the current directory).")
@click.option("--force", is_flag=True, help="Overwrite an existing coefficient file.")
def fit_command(profiles, terms, test_fraction, seed, time_column, types_, per_type, weight, name, out, force):
    """Fit the delay polynomial (5) to measured PROFILES (CSVs of `mecopt profile`), non-negative.

    A layer is fitted as it is predicted: the sum of its operators' terms (a
    block's operators come from the per-operator table next to the layer table).
    The coefficients are >= 0 (non-negative least squares), so no layer time can be
    negative; a set that still gives a negative or non-finite time on its own data
    is not written (exit 2). Prints R² and mean absolute error (footnote 1) on the
    training and held-out layers, the share within ±10%, and, with two or more
    networks, each network's total predicted by a set fitted without it.
    """
    from mecopt.byo import fitting
    from mecopt.core.delay import fit_quality, split_rows
    chosen = _parse_terms(terms) if (not per_type or terms != "paper") else None
    tables = []
    for p in profiles:
        if not p.exists():
            raise InputError(f"profile table not found: {p}")
        df = read_table(p)
        missing = [c for c in ("G", "K", "O", "I", time_column) if c not in df.columns]
        if missing:
            raise InputError(f"{p} lacks column(s) {missing}; expected a table from `mecopt profile` "
                             f"(columns G, K, O, I and {time_column})")
        tables.append((p, df))
    unit = next((u for suffix, u in _UNIT_SUFFIX.items() if time_column.endswith(suffix)), None)
    if unit is None:
        raise InputError(f"cannot tell the unit of {time_column!r}: name it with _ms, _s or _us")
    wanted = [t.strip() for t in types_.split(",") if t.strip()] if types_ else None
    layers, ops, notes = fitting.layers_and_ops(tables, time_column, wanted)
    for note in notes:
        click.echo(f"note: {note}", err=True)
    name = name or (out.stem if out else "fitted")
    path = out or Path(f"{name}.toml")
    _refuse_overwrite(path, force)
    sources = ", ".join(p.name for p in profiles)
    train, test = split_rows(len(layers), test_fraction, seed)
    n_cols = len(chosen) if chosen else 1
    if len(train) < n_cols:
        raise InputError(f"fit: {len(train)} training rows cannot determine {n_cols} coefficients")
    kw = dict(time_column=time_column, per_type=per_type, terms=chosen, weight=weight, name=name, unit=unit)
    held = fitting.fit_layers(layers.iloc[train], ops, **kw)
    full = fitting.fit_layers(layers, ops, **kw) if len(test) else held
    model = full.model
    desc = f"{model.description}; from {sources}"
    model = (type(model)(model.name, model.eta, model.unit, desc) if not per_type
             else type(model)(model.name, model.sets, model.fallback, model.unit, desc))
    fitting.check_model(model, ops, unit)
    y = layers[time_column].to_numpy(dtype=float)
    pred_train = fitting.predict_layers(held.model, ops, layers.iloc[train], unit)
    n_terms = len(chosen) if chosen else len(full.columns)
    click.echo(f"fitted eq. (5){' per operator class' if per_type else ''} with {n_terms} term(s) on {len(train)} "
               f"rows, {len(test)} held out (seed {seed}) from {sources} (non-negative least squares, a layer = the "
               f"sum of its operators{', per-type sets' if per_type else ''})")
    q = [("train", fit_quality(y[train], pred_train))]
    if len(test):
        q.append(("held-out", fit_quality(y[test], fitting.predict_layers(held.model, ops, layers.iloc[test], unit))))
    quality = pd.DataFrame([{"rows": r, "R²": v["r2"], f"MAE [{unit}]": v["mae"],
                             "within ±10%": "" if r == "train" else f"{100 * v['within_10pct']:.0f}%"} for r, v in q])
    echo_table(quality, floatfmt=".4g")
    sets = {"": model} if not per_type else {c: s for c, s in model.sets.items()}
    coef_rows = [{"class": c or "(all)", "term": t, f"eta [{unit}]": v} for c, s in sets.items()
                 for t, v in s.as_terms().items()]
    echo_table(pd.DataFrame(coef_rows, columns=["class", "term", f"eta [{unit}]"]), floatfmt=".6g")
    if "type" in layers.columns:  # how well the set serves each layer type (held-out rows, else all)
        rows_shown = test if len(test) else np.arange(len(layers))
        click.echo(f"{'held-out' if len(test) else 'all'} rows by type (set fitted without the held-out rows):")
        pred = fitting.predict_layers(held.model, ops, layers.iloc[rows_shown], unit)
        yy = y[rows_shown]
        err = pd.DataFrame({"type": layers["type"].iloc[rows_shown].to_numpy(), "abs": np.abs(pred - yy),
                            "rel": np.abs(pred - yy) / np.where(yy != 0, np.abs(yy), np.nan)})
        per_t = err.groupby("type", sort=False).agg(rows=("abs", "size"), MAE=("abs", "mean"),
                                                    median_rel=("rel", "median")).reset_index()
        per_t = per_t.rename(columns={"MAE": f"MAE [{unit}]", "median_rel": "median |rel. error|"})
        echo_table(per_t, floatfmt=".3g")
    if layers["dnn"].nunique() >= 2:
        per_net, _ = fitting.leave_one_network_out(layers, ops, **kw)
        click.echo("each network's total predicted by a set fitted without it (held-out error per network):")
        echo_table(per_net.assign(error=(100 * per_net["error"]).map(lambda v: f"{v:+.1f}%"))
                   .rename(columns={"measured": f"measured [{unit}]", "predicted": f"predicted [{unit}]",
                                    "r2_layers": "R² over its layers"}), floatfmt=".4g")
        click.echo(f"mean |error| of a held-out network's total: {100 * per_net['error'].abs().mean():.1f}%")
    model.save(path)
    click.echo(f"wrote {path}; use it with  model.delay_local = \"{path}\"  (or delay_server)")

@click.command("calibrate")
@click.argument("networks", nargs=-1, metavar="[DNN ...]")
@click.option("--role", type=click.Choice(["local", "server"]), default="local", show_default=True,
              help="local: eq. (6), the device, one intra-op thread; server: eq. (7), every CPU of this machine.")
@click.option("--runs", type=click.IntRange(1, MAX_REPEATS), default=30, show_default=True,
              help="Timed runs per network (at least; see --min-ms).")
@click.option("--rounds", type=click.IntRange(1, MAX_REPEATS), default=6, show_default=True,
              help="Fresh ONNX Runtime sessions per network, each profiled and then timed end to end.")
@click.option("--warmup", type=click.IntRange(0, MAX_REPEATS), default=3, show_default=True,
              help="Untimed runs per round.")
@click.option("--min-ms", type=FiniteFloat(min=0), default=1000.0, show_default=True,
              help="More runs for light networks until their timed runs add up to this much end-to-end time.")
@click.option("--cpu", type=CPU, default=None,
              help="Pin the measurement to this CPU (Linux; default with one thread: the highest CPU this process "
                   "may use).")
@click.option("--no-pin", is_flag=True, help="Do not pin the measurement to a CPU.")
@click.option("--no-loo", is_flag=True, help="Skip the leave-one-network-out check (which fits once more per network).")
@click.option("--name", help="Name of the set (default: the --out stem).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), callback=writable_output,
              help="Coefficient file to write (default: calibrated-ROLE.toml).")
@click.option("--report", type=click.Path(file_okay=False, path_type=Path),
              help="Folder of the report (tables and the log-log plot; default: OUT-STEM-report next to --out).")
@click.option("--force", is_flag=True, help="Overwrite existing files.")
def calibrate_command(networks, role, runs, rounds, warmup, min_ms, cpu, no_pin, no_loo, name, out, report, force):
    """Profile networks on this machine (default: the bundled catalog) and write a delay coefficient set.

    Each network (bundled name or spec .toml) is built from its spec, run by ONNX
    Runtime as a deployment runs it, every node's time given to its layer, and timed
    end to end; one non-negative set per operator class is fitted (a layer = the sum
    of its operators). The report gives predicted vs measured latency per network,
    fitted on all and with the network left out, and the machine and load. Use the
    set with model.delay_local = "PATH.toml" (--role local) or model.delay_server.
    """
    from mecopt.byo import calibrate as cal
    from mecopt.byo.measure import require_ort
    require_ort()
    names = list(networks) or list(cal.CATALOG)
    path = out or Path(f"calibrated-{role}.toml")
    report = report or path.with_name(f"{path.stem}-report")
    _refuse_overwrite(path, force)
    threads = cal.role_threads(role)
    click.echo(f"calibrating the {role} delay model (eq. ({6 if role == 'local' else 7})) on {len(names)} network(s), "
               f"ONNX Runtime, {threads} intra-op thread(s), {rounds} rounds, >= {runs} runs and >= {min_ms:g} ms "
               "per network", err=True)
    profiles = cal.profile_networks(
        names, runs=runs, warmup=warmup, rounds=rounds, threads=threads, min_ms=min_ms, cpu=cpu, pin=not no_pin,
        progress=lambda n, r: click.echo(
            f"  {n}: end to end {r['e2e_median_ms']:.4g} ms (profile total {100 * r['total_vs_e2e']:+.1f}%), "
            f"{100 * r['share']:.2f}% attributed, {r['runs']} runs, load {r['load_min']:.2f}-{r['load_max']:.2f}",
            err=True))
    result = cal.calibrate(profiles, role=role, name=name or path.stem, loo=not no_loo and len(names) >= 2)
    from mecopt.byo.fitting import check_model
    check_model(result.model, profiles.ops)
    result.model.save(path)
    report.mkdir(parents=True, exist_ok=True)
    write_table(result.networks, report / "networks.csv", "csv")
    write_table(result.layers, report / "layers.csv", "csv")
    write_table(profiles.networks, report / "profiles.csv", "csv")
    cal.plot(result, report / "predicted-vs-measured.png", title=f"{path.stem}: predicted vs measured ({role})")
    n = result.networks
    show = pd.DataFrame({"network": n["dnn"], "measured [ms]": n["e2e_median_ms"],
                         "profile vs e2e": (100 * n["total_vs_e2e"]).map(lambda v: f"{v:+.1f}%"),
                         "fitted [ms]": n["fitted_ms"],
                         "fitted error": (100 * n["fitted_error"]).map(lambda v: f"{v:+.1f}%")})
    if "held_out_ms" in n:
        show["held out [ms]"] = n["held_out_ms"]
        show["held-out error"] = (100 * n["held_out_error"]).map(lambda v: f"{v:+.1f}%")
        show["layer R² (held out)"] = n["held_out_r2_layers"]
    echo_table(show, floatfmt=".4g")
    s = result.summary
    click.echo(f"fitted on all: mean |error| {100 * s['fitted_mae']:.1f}%, layer R² {s['fitted_r2_layers']:.4f}")
    if "held_out_mae" in s:
        click.echo(f"each network left out: mean |error| {100 * s['held_out_mae']:.1f}%, worst "
                   f"{100 * s['held_out_max']:.1f}% ({s['held_out_worst']}), layer R² {s['held_out_r2_layers']:.4f} "
                   f"(lowest per network {s['held_out_r2_layers_min']:.3f})")
    m = profiles.machine
    click.echo(f"machine: {m['machine']}; load average before {m['load_before']}, after {m['load_after']}")
    click.echo(f"wrote {report}/ (networks.csv, layers.csv, profiles.csv, predicted-vs-measured.png)")
    click.echo(f"wrote {path}; use it with  model.delay_{'local' if role == 'local' else 'server'} = \"{path}\"")


commands = [import_onnx_command, profile_command, fit_command, calibrate_command]
