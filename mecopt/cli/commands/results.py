"""``mecopt sweep``, ``mecopt reproduce`` and ``mecopt plot ...``.

Results at scale, the paper's figures, and pictures of solutions and tables.
"""

from __future__ import annotations

import warnings
from contextlib import nullcontext
from pathlib import Path

import click

from mecopt.cli.common import WORKERS, echo_table, format_option, parse_method_options, writable_output
from mecopt.core.errors import InputError


def _bar(quiet: bool):
    """A progress callback ``(stage, done, total)``; off with -q and when not on a terminal."""
    from mecopt.cli.progress import sweep_bar
    return sweep_bar(quiet)


def _executor(dask_address: str | None, workers: int | None = None):
    if dask_address is None:
        return nullcontext(None)
    from mecopt.studies.sweep import dask_executor
    return dask_executor(dask_address, workers=workers)


def _parse_options(items) -> dict:
    """``[METHOD:]KEY=VALUE`` -> {method or "*": {key: value read as a TOML scalar}}.

    The sweep then checks every value against the methods' declarations before any run.
    """
    from mecopt.core.options import scalar_from_text
    return {m: {k: scalar_from_text(v) for k, v in kv.items()} for m, kv in parse_method_options(items).items()}


@click.command("sweep")
@click.argument("instances", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=str))
@click.option("--set", "ranges", multiple=True, metavar="PATH=START:STOP:COUNT",
              help="Sweep a field over COUNT evenly spaced values (repeatable).")
@click.option("--values", "lists", multiple=True, metavar="PATH=V1,V2,...",
              help="Sweep a field over listed values (repeatable).")
@click.option("--methods", default="tpos-uai", show_default=True, help="Comma-separated methods.")
@click.option("--seeds", type=click.IntRange(1, 10_000), default=1, show_default=True,
              help="Solve with seeds 0..K-1 (methods that take a seed).")
@click.option("--option", "options", multiple=True, metavar="[METHOD:]KEY=VALUE",
              help="A method option, e.g. engine=dp (every method that declares it) or gtpos:time_limit=60; "
                   "checked against the methods' declarations before any run.")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=str), callback=writable_output,
              help="Output directory.")
@click.option("--workers", type=WORKERS, default=None,
              help="Worker processes (default: one per CPU).")
@click.option("--resume", is_flag=True, help="Continue the sweep in --out, skipping runs already there.")
@click.option("--dask", "dask_address", metavar="ADDRESS|local", default=None,
              help="Run on an existing Dask cluster (scheduler address) instead of local processes, or on a "
                   "local Dask cluster started for the sweep ('local': --workers processes on 127.0.0.1).")
@click.option("--save-solutions", is_flag=True, help="Also write every run's solution to OUT/solutions/.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@format_option
def sweep_command(instances, ranges, lists, methods, seeds, options, out, workers, resume, dask_address,
                  save_solutions, quiet, fmt):
    """Solve INSTANCES over a Cartesian grid of field values, by several methods and seeds.

    Fields are addressed by their path in the instance file: server.slots,
    devices.*.bandwidth_hz (every device entry), devices.0.count (entry 0).
    A device_defaults.FIELD path that device entries override with their own
    FIELD is refused (every entry) or warned about (some). Example:

    \b
      mecopt sweep paper:fig6-w1khz --values devices.*.bandwidth_hz=500,1000,2000 --out sw

    Each finished run is appended
    to OUT/results.jsonl at once, so an interrupted sweep continues with --resume;
    the final table OUT/results.<format> is sorted by (point, method, seed) and
    is the same whether or not the sweep was interrupted. Wall times go to
    OUT/timings.<format>. Every point's instance and every option are checked
    before any run (exit 2). Runs that fail are listed in OUT/failures.<format>
    and on stderr, and the sweep exits 5 once every other run has finished.
    """  # noqa: D301 (click reads "\b" as its no-rewrap marker: the backspace character)
    from mecopt.studies import sweep as sw

    axes = tuple(sw.parse_range(s) for s in ranges) + tuple(sw.parse_values(s) for s in lists)
    spec = sw.SweepSpec(instances=tuple(instances), axes=axes,
                        methods=tuple(m.strip() for m in methods.split(",") if m.strip()),
                        seeds=tuple(range(seeds)), options=_parse_options(options), save_solutions=save_solutions)
    for shadow in sw.check_axes(spec):     # refuses (exit 2) an axis that changes nothing
        click.echo(click.style("WARNING: ", fg="yellow", bold=True) + shadow.message(), err=True)
    bar = _bar(quiet)
    try:
        with _executor(dask_address, workers) as executor, warnings.catch_warnings():
            warnings.simplefilter("ignore", sw.SweepWarning)     # already shown above
            res = sw.run_sweep(spec, out, fmt=fmt, resume=resume, workers=workers, executor=executor,
                               progress=lambda d, t: bar("sweep", d, t))
    finally:
        bar.close()
    click.echo(f"{len(res.table)} run(s): {res.ran} solved now, {res.skipped} already done"
               + (f", {res.failed} failed" if res.failed else "") + f" -> {res.table_path}")
    if res.failed:
        raise sw.RunsFailedError(res)      # exit 5, the failed runs listed on stderr


def _figure_options(f):
    """--fig-format and --size: the image format and the printed width of every figure; passed as ``figure_style``."""
    from functools import wraps

    from mecopt.results.style import FIG_FORMATS, SIZES, WIDTHS, FigureStyle

    @wraps(f)
    def run(*args, fig_format, size, **kwargs):
        return f(*args, figure_style=FigureStyle(size=size, fig_format=fig_format), **kwargs)

    widths = ", ".join(f"{k} {v} in" for k, v in WIDTHS.items())
    run = click.option("--size", type=click.Choice(SIZES), default="double", show_default=True,
                       help=f"Printed width of the figures ({widths}); text stays >= 7 pt at that width.")(run)
    return click.option("--fig-format", type=click.Choice(FIG_FORMATS), default="png", show_default=True,
                        help="Image format of the figures (pdf and svg keep their text as text).")(run)


@click.command("reproduce")
@click.option("--fig", "figs", default="all", show_default=True, help="5, 6, 7, 8, 9, 10, a comma list, or all.")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=str), callback=writable_output,
              help="Output directory.")
@click.option("--engine", type=click.Choice(["dp", "milp"]), default="dp", show_default=True,
              help="Best-response engine of the game.")
@click.option("--quick", is_flag=True, help="Fewer bandwidths, seeds and draws (a smoke run).")
@click.option("--solver", default=None, metavar="highs|cpsat|NAME", help="GTPOS backend (Case 2).")
@click.option("--workers", type=WORKERS, default=None, help="Worker processes (default: one per CPU).")
@click.option("--resume", is_flag=True, help="Continue the figures' sweeps in --out.")
@click.option("--dask", "dask_address", metavar="ADDRESS", default=None, help="Run on an existing Dask cluster.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@click.option("--readings", metavar="FILE", default=None,
              help="Run once per reading of the paper in FILE ([[reading]] tables; 'paper' = the bundled set) "
                   "and write OUT/readings.<format> and OUT/READINGS.md (reading x claim -> verdict).")
@format_option
@_figure_options
def reproduce_command(figs, out, engine, quick, solver, workers, resume, dask_address, quiet, readings, fmt,
                      figure_style):
    """Run the paper's scenarios (instances/paper/) and write the tables, one image per
    figure (--fig-format, --size) and OUT/REPORT.md: each claim of the paper's §5 with this
    model's numbers and a verdict computed from the tables (reproduced / partly / not reproduced).
    """  # noqa: D205 (click prints this docstring as the --help text, unchanged)
    from mecopt.studies import reproduce as rep

    if readings is not None:
        rep.load_readings(readings)  # bad input fails before anything runs
    bar = _bar(quiet)
    try:
        with _executor(dask_address) as executor:
            if readings is not None:
                wide = rep.reproduce_readings(out, readings, figs, engine=engine, quick=quick, fmt=fmt,
                                              workers=workers, executor=executor, resume=resume, progress=bar,
                                              gtpos_solver=solver, figure_style=figure_style)
            else:
                res = rep.reproduce(out, figs, engine=engine, quick=quick, fmt=fmt, workers=workers,
                                    executor=executor, resume=resume, progress=bar, gtpos_solver=solver,
                                    figure_style=figure_style)
    finally:
        bar.close()
    if readings is not None:
        echo_table(wide[["reading", "changes", "reproduced", "partly", "not_reproduced", "not_evaluated"]])
        click.echo(f"wrote {Path(out) / 'READINGS.md'}")
        return
    frame = rep.claims_frame(res.claims)[["id", "verdict", "claim"]]
    echo_table(frame)
    click.echo(f"wrote {res.report_path} ({res.wall_times['total']:.1f} s)")
    missing = [f for f in rep.parse_figures(figs) if f not in res.pngs]
    if missing:
        from mecopt.results import plots
        try:
            plots.require_matplotlib()
            why = "the tables they need are missing (a run failed; see REPORT.md)"
        except InputError as err:
            why = str(err)
        kind = figure_style.fig_format.upper()
        click.echo(click.style("WARNING: ", fg="yellow", bold=True) + f"no {kind} drawn for figure(s) "
                   + ", ".join(missing) + f": {why}", err=True)


# --------------------------------------------------------------------------- plot

@click.group("plot")
def plot_group():
    """Draw a solution or a results table to an image (.png, .pdf, .svg)."""


def _out_option(default_name: str):
    return click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=str), callback=writable_output,
                        default=None, help=f"Image file (.png, .pdf, .svg: its suffix decides the format); default: "
                                           f"{default_name} in --fig-format.")


def _save_plot(figure_style, draw, output: str | None, default: Path) -> None:
    """Draw (``draw()`` returns the figure) and save it in ``figure_style``; say where."""
    from mecopt.results import plots, style
    with style.use(figure_style):
        path = plots.save(draw(), output or default.with_suffix("." + figure_style.fig_format))
    click.echo(f"wrote {path}")


_all_devices_option = click.option(
    "--all-devices", is_flag=True,
    help="One row per device however many there are (default: above 40 devices a summary is drawn instead).")


@plot_group.command("schedule", short_help="Devices x slots with the offloaded layer blocks (Figs. 6a, 10b).")
@click.argument("solution_dir", type=click.Path(file_okay=False, exists=True, path_type=str))
@_out_option("SOLUTION_DIR/schedule")
@_all_devices_option
@_figure_options
def plot_schedule(solution_dir, output, all_devices, figure_style):
    """Devices x slots with each device's offloaded layer blocks (Figs. 6a, 10b), from a
    written solution directory (mecopt solve --out, or a sweep's solutions/). Above 40
    devices the slot load per server is drawn instead (see plot slot-load), unless --all-devices.
    """  # noqa: D205 (click prints this docstring as the --help text, unchanged)
    from mecopt.results import plots
    _require_complete(solution_dir)
    source = _schedule_source(solution_dir)
    cap = None if all_devices else plots.SUMMARY_ABOVE
    _save_plot(figure_style, lambda: plots.schedule(source, max_devices=cap), output,
               Path(solution_dir) / "schedule")


@plot_group.command("partition", short_help="Each device's layers and partition point (Fig. 10a).")
@click.argument("solution_dir", type=click.Path(file_okay=False, exists=True, path_type=str))
@_out_option("SOLUTION_DIR/partition")
@_all_devices_option
@_figure_options
def plot_partition(solution_dir, output, all_devices, figure_style):
    """Each device's layers, local or in which slot, with its partition point (Fig. 10a).
    Above 40 devices the partition-point histogram is drawn instead, unless --all-devices.
    """  # noqa: D205 (click prints this docstring as the --help text, unchanged)
    from mecopt.results import plots
    _require_complete(solution_dir)
    source = _schedule_source(solution_dir)
    cap = None if all_devices else plots.SUMMARY_ABOVE
    _save_plot(figure_style, lambda: plots.partition(source, max_devices=cap), output,
               Path(solution_dir) / "partition")


@plot_group.command("partition-hist", short_help="How many devices choose each partition point (many devices).")
@click.argument("solution_dir", type=click.Path(file_okay=False, exists=True, path_type=str))
@_out_option("SOLUTION_DIR/partition_hist")
@_figure_options
def plot_partition_hist(solution_dir, output, figure_style):
    """The number of devices at each partition point m* of a written solution directory."""
    from mecopt.results import plots
    _require_complete(solution_dir)
    source = _schedule_source(solution_dir)
    _save_plot(figure_style, lambda: plots.partition_histogram(source), output, Path(solution_dir) / "partition_hist")


@plot_group.command("slot-load", short_help="Devices per server and slot, a heatmap (many devices).")
@click.argument("solution_dir", type=click.Path(file_okay=False, exists=True, path_type=str))
@_out_option("SOLUTION_DIR/slot_load")
@_figure_options
def plot_slot_load(solution_dir, output, figure_style):
    """Per server and slot, how many devices of a written solution directory run a subtask there."""
    from mecopt.results import plots
    _require_complete(solution_dir)
    source = _schedule_source(solution_dir)
    _save_plot(figure_style, lambda: plots.slot_load(source), output, Path(solution_dir) / "slot_load")


_metric_option = click.option("--metric", type=click.Choice(["delay_s", "energy_j", "cost", "price"]),
                              default="delay_s", show_default=True, help="The per-device figure drawn.")


def _solution_folder(path: str):
    """A complete solution folder read back whole (per-device figures need the solution)."""
    folder = _schedule_source(path)
    if folder.solution is None:
        raise InputError(f"{path} is not a whole solution folder (mecopt solve --out, or a sweep's solutions/)")
    return folder.solution


@plot_group.command("cdf", short_help="Per-device delay (or energy, cost) CDF, one curve per solution.")
@click.argument("solution_dirs", nargs=-1, required=True, type=click.Path(file_okay=False, exists=True, path_type=str))
@_metric_option
@_out_option("<metric>_cdf beside the first solution")
@_figure_options
def plot_cdf(solution_dirs, metric, output, figure_style):
    """The distribution over devices of each solution's per-device figure (e.g. the
    methods of one compare --out). A GTPOS or tpos-best result not proven optimal is drawn
    dotted, its legend naming its termination and gap.
    """  # noqa: D205 (click prints this docstring as the --help text, unchanged)
    from mecopt.results import summary_plots
    for d in solution_dirs:
        _require_complete(d)
    sols = {f"{s.method} ({Path(d).name})" if len(solution_dirs) > 1 else s.method: s
            for d, s in ((d, _solution_folder(d)) for d in solution_dirs)}
    _save_plot(figure_style, lambda: summary_plots.delay_cdf(sols, metric=metric), output,
               Path(solution_dirs[0]).parent / f"{metric}_cdf")


@plot_group.command("eq-vs-opt", short_help="Per device: equilibrium against optimum (e.g. GTPOS), with y = x.")
@click.argument("equilibrium_dir", type=click.Path(file_okay=False, exists=True, path_type=str))
@click.argument("optimum_dir", type=click.Path(file_okay=False, exists=True, path_type=str))
@_metric_option
@_out_option("eq_vs_opt_<metric> beside EQUILIBRIUM_DIR")
@_figure_options
def plot_eq_vs_opt(equilibrium_dir, optimum_dir, metric, output, figure_style):
    """Each device's figure at the equilibrium (EQUILIBRIUM_DIR, e.g. tpos-cai) against
    the optimum (OPTIMUM_DIR, e.g. gtpos) of the same instance.
    """  # noqa: D205 (click prints this docstring as the --help text, unchanged)
    from mecopt.results import summary_plots
    for d in (equilibrium_dir, optimum_dir):
        _require_complete(d)
    eq, opt = _solution_folder(equilibrium_dir), _solution_folder(optimum_dir)
    _save_plot(figure_style, lambda: summary_plots.equilibrium_vs_optimum(eq, opt, metric=metric), output,
               Path(equilibrium_dir).parent / f"eq_vs_opt_{metric}")


def _schedule_source(folder: str):
    """The folder read by the core reader (plots read no files)."""
    from mecopt.core.solution import read_result_folder
    return read_result_folder(folder)


def _require_complete(path: str | Path) -> None:
    """Refuse a folder, or a table in a folder, that a killed run left incomplete (MANIFEST.json)."""
    from mecopt.core import manifest
    p = Path(path)
    if p.is_dir():
        manifest.require_complete(p, "folder")
    else:
        manifest.require_complete_file(p, "table")


def _table(path: str):
    from mecopt.core.tables import find_table, read_table
    p = Path(path)
    _require_complete(p)
    if p.is_dir():
        found = find_table(p / "results") or find_table(p / "trace")
        if found is None:
            raise InputError(f"{p} holds no readable results or trace table (.csv, .parquet or .json)")
        p = found
    return read_table(p), p


@plot_group.command("convergence", short_help="Average cost per tick of solutions or a trace table (Fig. 5).")
@click.argument("sources", nargs=-1, required=True, type=click.Path(exists=True, path_type=str))
@click.option("--x", "x", default="tick", show_default=True)
@click.option("--y", "y", default="avg_cost", show_default=True)
@click.option("--by", default=None, help="Comma-separated grouping columns of a single trace table (e.g. N,method).")
@_out_option("convergence beside the first source")
@_figure_options
def plot_convergence(sources, x, y, by, output, figure_style):
    """Average cost per tick (Fig. 5) of solution directories (their trace tables), or of a
    trace table grouped --by its columns.
    """  # noqa: D205 (click prints this docstring as the --help text, unchanged)
    import json

    from mecopt.results import plots
    if by:
        if len(sources) != 1:
            raise InputError("--by groups one trace table; give a single table")
        table, first = _table(sources[0])

        def draw():
            return plots.convergence(table, x=x, y=y, by=[b.strip() for b in by.split(",")])
    else:
        traces, first = {}, None
        for s in sources:
            table, p = _table(s)
            first = first or p
            label = Path(s).name
            summary = Path(s) / "summary.json"
            if summary.is_file():
                d = json.loads(summary.read_text())
                label = f"{d.get('method')} on {d.get('instance')} ({Path(s).name})"
            traces[label] = table

        def draw():
            return plots.convergence(traces, x=x, y=y)
    default = (first.parent if first.parent.name != "" else Path(".")) / "convergence"
    _save_plot(figure_style, draw, output, default)


@plot_group.command("sweep", short_help="A results column against a swept field, per method (Figs. 6b-9).")
@click.argument("results", type=click.Path(exists=True, path_type=str))
@click.option("--x", "x", required=True, help="Column for the x axis, e.g. a swept path.")
@click.option("--y", "y", default="avg_delay_s", show_default=True, help="Column for the y axis.")
@click.option("--by", default="method", show_default=True, help="One series per value of this column.")
@click.option("--log", "log", is_flag=True, help="Logarithmic y axis.")
@_out_option("<y>_vs_<x> beside the table")
@_figure_options
def plot_sweep(results, x, y, by, log, output, figure_style):
    """A results table (a sweep's OUT or its results file): Y against X, one series per --by
    value, averaged over seeds (95 % confidence band over seeds); lines for a numeric X (Figs.
    6b, 7b), bars otherwise (Figs. 8, 9). GTPOS/tpos-best points not proven optimal are ringed.
    """  # noqa: D205 (click prints this docstring as the --help text, unchanged)
    from mecopt.results import plots
    table, p = _table(results)
    safe = x.replace("/", "_")
    _save_plot(figure_style, lambda: plots.compare(table, x=x, y=y, by=by or None, log=log), output,
               p.parent / f"{y}_vs_{safe}")


# --------------------------------------------------------------------------- table

@click.command("table")
@click.argument("table_file", type=click.Path(exists=True, path_type=str))
@click.option("--format", "fmt", type=click.Choice(["latex", "xlsx", "markdown", "csv", "json", "parquet"]),
              default="latex", show_default=True, help="Format of the table written.")
@click.option("--columns", default=None, metavar="A,B,...", help="The columns, in this order (default: all).")
@click.option("--digits", type=click.IntRange(min=1, max=15), default=4, show_default=True,
              help="Significant digits of the numbers (latex, markdown).")
@click.option("--caption", default=None, help="A caption (latex: a table environment around the tabular).")
@click.option("--label", default=None, help="A \\label (latex, with --caption).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=str), callback=writable_output,
              default=None, help="The file written; default: TABLE_FILE with the format's suffix.")
def table_command(table_file, fmt, columns, digits, caption, label, output):
    """Export a results table (a .csv, .parquet or .json written by mecopt, or a folder holding
    results.<format>) for a paper: a booktabs LaTeX table that compiles (escaped names, rounded
    numbers, -- for missing values, yes/no for booleans) or a spreadsheet (.xlsx).
    """  # noqa: D205 (click prints this docstring as the --help text, unchanged)
    from mecopt.core import tables
    df, p = _table(table_file)
    cols = [c.strip() for c in columns.split(",") if c.strip()] if columns else None
    target = Path(output) if output else p.with_suffix(tables.SUFFIX[fmt])
    if target.resolve() == p.resolve():
        raise InputError(f"--output {target} is the table read: give another file with -o")
    path = tables.export_table(df, target, fmt, columns=cols, digits=digits, caption=caption, label=label)
    click.echo(f"wrote {path}")


commands = [sweep_command, reproduce_command, plot_group, table_command]
