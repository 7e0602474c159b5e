"""``mecopt study FILE``: a study file (instances or a generator, grids, methods, seeds, figures) run as a sweep."""

from __future__ import annotations

from contextlib import nullcontext

import click

from mecopt.cli.common import writable_output


@click.command("study")
@click.argument("study_file", metavar="FILE", type=click.Path(dir_okay=False, path_type=str))
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=str), callback=writable_output,
              help="Output directory.")
@click.option("--resume", is_flag=True, help="Continue the study in --out, skipping runs already there.")
@click.option("--dask", "dask_address", metavar="ADDRESS|local", default=None,
              help="Run on a Dask cluster: 'local' starts one on this machine (--workers processes on "
                   "127.0.0.1, closed at the end), an address joins an existing scheduler.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Worker processes (local processes or --dask local; default: one per CPU, at most 4 for Dask).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def study_command(study_file, out, resume, dask_address, workers, quiet):
    """Run a study FILE: generated (or named) instances x grid x methods x seeds, one table, the figures.

    \b
      mecopt study examples/device-count-study.toml --out study/ [--dask local]

    The file names a [generate] table (mecopt generate's parameters) or
    instances = [...], a [grid] of generator parameters (devices = [50, 100])
    and instance field paths, methods, seeds, [options], [output] and
    [[figures]] (docs/results.md "Study files"). Everything is checked before
    any run (exit 2). OUT/results.<format> is the one tidy table; figures go
    to OUT/figures/. Interrupted? --resume. Runs that fail are listed in
    OUT/failures.<format> and the command exits 5.
    """  # noqa: D301 (click reads "\b" as its no-rewrap marker)
    from mecopt.cli.progress import sweep_bar
    from mecopt.studies import study as st
    from mecopt.studies import sweep as sw

    study = st.load_study(study_file)
    bar = sweep_bar(quiet)
    cluster = nullcontext(None) if dask_address is None else sw.dask_executor(dask_address, workers=workers)
    try:
        with cluster as executor:
            res = st.run_study(study, out, resume=resume, workers=workers, executor=executor,
                               progress=lambda d, t: bar("study", d, t))
    finally:
        bar.close()
    s = res.sweep
    click.echo(f"{len(s.table)} run(s): {s.ran} solved now, {s.skipped} already done"
               + (f", {s.failed} failed" if s.failed else "") + f" -> {s.table_path}")
    for path in res.figures:
        click.echo(f"wrote {path}")
    if s.failed:
        raise sw.RunsFailedError(s)      # exit 5, the failed runs listed on stderr


commands = [study_command]
