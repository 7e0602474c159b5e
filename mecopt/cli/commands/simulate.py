"""``mecopt simulate``: the game over many frames with fading channels, device activity and mobility."""

from __future__ import annotations

from contextlib import nullcontext

import click

from mecopt.cli.common import (
    WORKERS,
    DeclaredOption,
    DeclaredType,
    echo_table,
    format_option,
    instance_argument,
    read_instance,
    writable_output,
)
from mecopt.studies import simulate as sim


def _declared(name: str) -> DeclaredType:
    """The flag of the simulation's parameter ``name``, typed and range-checked by its declaration."""
    return DeclaredType(sim.SPEC_OPTIONS[name], "the simulation")


@click.command("simulate")
@instance_argument
@click.option("--frames", type=_declared("frames"), required=True, help="Number of frames T.")
@click.option("--fading", type=click.Choice(["rayleigh", "rician", "none"]), default="rayleigh", show_default=True,
              help="Per-frame small-scale fading of every channel gain.")
@click.option("--rician-k", type=_declared("rician_k"), default=3.0, show_default=True,
              help="Rician K factor (linear), with --fading rician.")
@click.option("--activity", type=_declared("activity"), default=1.0, show_default=True,
              help="Probability that a device is active in a frame (Bernoulli, per frame).")
@click.option("--speed", "speed_mps", type=_declared("speed_mps"), default=0.0, show_default=True,
              help="Mobility: random-walk speed in m/s (0 = static). One server: log-distance path loss "
                   "relative to the instance's gain; several servers: the instance's [channel] path loss from "
                   "positions.")
@click.option("--ref-distance", "ref_distance_m", type=_declared("ref_distance_m"), default=100.0,
              show_default=True, help="Distance (m) at which the instance's channel gain holds (mobility, one server).")
@click.option("--path-loss-exp", type=_declared("path_loss_exp"), default=3.0, show_default=True,
              help="Path-loss exponent (mobility, one server).")
@click.option("--handover/--no-handover", default=True, show_default=True,
              help="Several servers with mobility: each frame a device reaches its R nearest servers (R = how "
                   "many it reaches in the instance); --no-handover keeps the instance's servers.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="First seed.")
@click.option("--seeds", "n_seeds", type=click.IntRange(1, sim.MAX_SEEDS), default=1, show_default=True,
              help="Run seeds SEED..SEED+K-1 (independent tasks).")
@click.option("--warm/--cold", default=True, show_default=True,
              help="Start each frame's game from the previous frame's strategies (warm) or afresh (cold).")
@click.option("--method", type=click.Choice(["tpos-cai", "tpos-uai"]), default="tpos-cai", show_default=True)
@click.option("--engine", type=DeclaredOption("tpos-cai", "engine"), default="dp", show_default=True, metavar="dp|milp",
              help="Best-response engine of the game.")
@click.option("--time-limit", type=DeclaredOption("tpos-cai", "time_limit"), default=None, metavar="SECONDS",
              help="Time limit in seconds of each frame's game.")
@click.option("--workers", type=WORKERS, default=None,
              help="Run the tasks in this many local worker processes (default: in this process).")
@click.option("--dask", "dask_address", metavar="ADDRESS", default=None,
              help="Run the tasks on an existing Dask cluster (scheduler address).")
@click.option("--no-plot", is_flag=True, help="Do not draw OUT/frames.png.")
@format_option
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=str), callback=writable_output,
              help="Output directory.")
def simulate_command(instance, frames, fading, rician_k, activity, speed_mps, ref_distance_m, path_loss_exp, handover,
                     seed, n_seeds, warm, method, engine, time_limit, workers, dask_address, no_plot, fmt, out):
    """Play the game of INSTANCE over FRAMES frames: per-frame channel gains from a seeded
    fading model (and mobility), Bernoulli device activity, and each frame's game warm-started
    from the previous frame's strategies (--cold: from scratch).

    Writes OUT/frames.<format> (per frame: active devices, arrivals, departures, termination,
    certificate, ticks, moves and best responses to equilibrium, average delay, energy, cost,
    time), OUT/simulation.json (options and totals), OUT/frames.png (with matplotlib) and
    OUT/MANIFEST.json. With a warm start each seed is one task; with a cold start every chunk
    of 10 frames is one (--workers or --dask run them in parallel).

    With several servers the fading is per (device, server) link, the warm start carries
    each device's server, and the table counts the devices offloading to each server
    (offload_<server>), all local, switching server, handed over and whose previous
    server left their reach (they start all local).
    """  # noqa: D205 (click prints this docstring as the --help text, unchanged)
    from mecopt.studies.sweep import dask_executor, local_executor

    inst = read_instance(instance)
    spec = sim.SimulationSpec(frames=frames, fading=fading, rician_k=rician_k, activity=activity,
                              speed_mps=speed_mps, ref_distance_m=ref_distance_m, path_loss_exp=path_loss_exp,
                              warm=warm, method=method, engine=engine, time_limit=time_limit, handover=handover)
    seeds = list(range(seed, seed + n_seeds))
    if dask_address is not None:
        ctx = dask_executor(dask_address)
    elif workers is not None and workers > 1:
        ctx = local_executor(workers)
    else:
        ctx = nullcontext(None)
    with ctx as executor:
        table = sim.simulate(inst, spec, seeds, executor=executor)
    files = sim.write(table, out, inst, spec, fmt=fmt, with_plot=not no_plot)
    s = sim.summary(table)
    shown = table.groupby("seed")[["active", "ticks", "moves", "best_responses", "avg_delay_s", "avg_energy_j",
                                   "avg_cost", "time_s"]].mean().reset_index()
    echo_table(shown)
    if "mean_offload" in s:
        click.echo("mean devices per frame: " + ", ".join(f"{k} {v:.1f}" for k, v in s["mean_offload"].items())
                   + f", all local {s['mean_local']:.1f}; {s['switched']} server switches, {s['handovers']} "
                   f"handovers")
    click.echo(f"{s['frames']} frame(s), {s['certified_frames']}/{s['played_frames']} certified equilibria, "
               f"{s['best_responses']} best responses ({'warm' if warm else 'cold'} start) -> {files[0]}")


commands = [simulate_command]
