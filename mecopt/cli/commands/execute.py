"""``mecopt execute``: run a solution with real DNN inference and report predicted against measured (issue 25).

The work is done by :mod:`mecopt.byo.execution` (split, server process, shaped
links, report tables); this command reads the inputs, writes the tables, the
summary and the figure (:mod:`mecopt.results.execution`). docs/execute.md.
"""

from __future__ import annotations

import click

from mecopt.cli.common import (
    FiniteFloat,
    echo_table,
    format_option,
    instance_argument,
    read_instance,
    writable_output,
)
from mecopt.core import manifest
from mecopt.core.solution import read_solution
from mecopt.core.tables import write_json, write_table

_EPILOG = """\b
Exit status:
  0  the plan was executed and the report written
  1  a server process failed (crashed, refused a message): the message says which
  2  bad input (instance, solution folder, option, a queued device, onnx/onnxruntime missing)
  130 interrupted (every server process started is stopped)
"""


def write_report(ex, out_dir: str, fmt: str = "csv", plot: bool = True) -> tuple[dict, object, list]:
    """Write devices, slots, layers and frame tables, summary.json and execution.png to ``out_dir``.

    Parameters
    ----------
    ex : mecopt.byo.execution.runner.Execution
        The executed plan.
    out_dir : str
        The folder (written atomically, with a manifest).
    fmt : str, optional
        Table format.
    plot : bool, optional
        Draw the figure.

    Returns
    -------
    summary : dict
    devices : pandas.DataFrame
    written : list of pathlib.Path
    """
    import pandas as pd

    from mecopt.byo.execution import report
    devices, slots, layers = report.devices_table(ex), report.slots_table(ex), report.layers_table(ex)
    inst = ex.solution.instance
    frame = pd.DataFrame([{"server": inst.servers[k].name, "device": inst.devices[x["device"]].name, **{
        c: x[c] for c in ("slot", "first", "last", "start", "end", "wait")}} for k, recs in ex.records.items()
        for x in recs], columns=["server", "device", "slot", "first", "last", "start", "end", "wait"])
    summary = report.summary(ex, devices, slots)
    out = manifest.begin(out_dir, "execute")
    written = [write_table(devices, out / "devices", fmt), write_table(slots, out / "slots", fmt),
               write_table(layers, out / "layers", fmt), write_table(frame, out / "frame", fmt),
               write_json(out / "summary.json", summary)]
    if plot:
        from mecopt.results.execution import figure
        from mecopt.results.plots import save
        title = f"{inst.name}: {ex.solution.method}, mean |error| of T_n {100 * summary['mae_T']:.1f} %"
        written.append(save(figure(devices, frame, slots, title), out / "execution.png"))
    written.append(manifest.finish(out, "execute", written, format=fmt))
    return summary, devices, written


def _model_files(items) -> dict[str, str]:
    from mecopt.core.errors import InputError
    out = {}
    for item in items:
        dnn, sep, path = item.partition("=")
        if not sep or not dnn or not path:
            raise InputError(f"The '--model' option must be DNN=FILE.onnx. Got {item!r} instead.")
        out[dnn] = path
    return out


@click.command("execute", epilog=_EPILOG)
@instance_argument
@click.argument("solution", type=click.Path(path_type=str))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=str),
              callback=writable_output, help="Folder for the report (tables, summary.json, execution.png).")
@click.option("--device-threads", type=click.IntRange(min=1), default=1, show_default=True,
              help="ONNX Runtime intra-op threads of a device's head (eq. 6: one core).")
@click.option("--server-threads", type=click.IntRange(min=1), default=1, show_default=True,
              help="ONNX Runtime intra-op threads of every tail session on the server.")
@click.option("--runs", type=click.IntRange(min=1), default=3, show_default=True,
              help="Timed runs of every head and every tail alone (medians).")
@click.option("--warmup", type=click.IntRange(min=0), default=1, show_default=True, help="Untimed runs before.")
@click.option("--release", type=click.Choice(["slot-end", "done"]), default="slot-end", show_default=True,
              help="When a device's server part ends: at the end of its last slot (eq. 24) or when its last layer "
                   "does.")
@click.option("--server", "servers", multiple=True, metavar="HOST:PORT",
              help="A server process started elsewhere (python -m mecopt.byo.execution.server --host ADDR), once "
                   "per server of the instance, in order; default: started here on loopback.")
@click.option("--cpu", type=click.IntRange(min=0), default=None, help="Pin the heads to this CPU.")
@click.option("--device-slowdown", type=FiniteFloat(min=0, min_open=True, max=1e6), default=1.0, show_default=True,
              help="Emulate devices this many times slower than this machine: measured head times are multiplied "
                   "by it (use a device delay set scaled alike).")
@click.option("--granularity", type=click.Choice(["block", "layer"]), default="block", show_default=True,
              help="block: the head and each slot's block of layers run as one ONNX Runtime session (layer "
                   "boundaries kept, as calibrated); layer: one session per layer everywhere.")
@click.option("--model", "models", multiple=True, metavar="DNN=FILE.onnx",
              help="Run this ONNX file for the devices whose DNN is DNN (their dnn field or the spec's name) instead "
                   "of a graph built from the spec; its layers (as mecopt import-onnx gives them) must match.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed of weights and inputs.")
@click.option("--no-plot", is_flag=True, help="Write no figure.")
@format_option
def execute_cmd(instance, solution, out_dir, device_threads, server_threads, runs, warmup, release, servers, cpu,
                device_slowdown, granularity, models, seed, no_plot, fmt):
    """Execute SOLUTION (a folder of mecopt solve --out) of INSTANCE with real inference and measure it.

    Each device's DNN is built as ONNX from its spec, split at its partition point (head then tail checked against
    the whole model), heads run here one at a time, cut tensors go to a server process over TCP paced to the
    modelled uplink rate, the server runs the tails in their slots (T_d/H, at most B devices at once) and the results
    come back at the downlink rate. The report compares predicted and measured T_n and its parts per device, the load
    and overruns per slot and the time of every layer. See docs/execute.md.
    """
    from mecopt.byo.execution.runner import execute

    inst = read_instance(instance)
    sol = read_solution(solution, inst)
    ex = execute(sol, device_threads=device_threads, server_threads=server_threads, runs=runs, warmup=warmup,
                 addresses=list(servers) or None, release=release, cpu=cpu, seed=seed, device_slowdown=device_slowdown,
                 granularity=granularity, onnx_models=_model_files(models),
                 progress=lambda line: click.echo(line, err=True))
    summary, devices, written = write_report(ex, out_dir, fmt, plot=not no_plot)
    click.echo(f"Executed {sol.method} on {inst.name}: {summary['devices']} devices, {summary['offloading']} "
               f"offloading, release {release}, load {summary['setting_load']}")
    echo_table(devices[["device", "m_star", "pred_T_s", "meas_T_s", "error"]])
    click.echo(f"mean |error| of T_n {100 * summary['mae_T']:.1f} % (max {100 * summary['max_abs_error_T']:.1f} %), "
               f"overruns {summary['overruns']} of {summary['slots_used']} slots used, mean slowdown "
               f"{summary['slowdown_mean']:.3g}")
    for p in written:
        click.echo(f"wrote {p}")


commands = [execute_cmd]
