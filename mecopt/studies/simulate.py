"""Many frames: the game played frame after frame under fading channels, device activity and mobility.

A *scenario* fixes, for every frame t = 0..T-1 and device n, its channel gain and
whether it is active; it is drawn up front from the seed (so it does not depend on
how frames are distributed over workers):

- **fading** (per frame, independent): the power gain is G_n x PL_n(t) x |h|^2 with
  ``rayleigh``: |h|^2 ~ Exp(1); ``rician``: h = sqrt(K/(K+1)) + sqrt(1/(K+1)) CN(0, 1)
  (K = ``rician_k``, linear; E|h|^2 = 1); ``none``: |h|^2 = 1.
- **mobility** (optional): every device starts at ``ref_distance_m`` from the server at a
  uniform angle and takes a step of ``speed_mps x frame_s`` in a uniform direction each
  frame; PL_n(t) = (ref_distance_m / max(d_n(t), 1 m))^``path_loss_exp`` (log-distance
  path loss relative to the instance's G_n, which holds at ``ref_distance_m``). Without
  mobility PL = 1.
- **activity**: each device is active in a frame with probability ``activity``
  (independently per frame); only active devices play that frame's game.

Each frame's instance keeps the devices' every other number and recomputes the links
(eqs. 8-11) and the fastest delay for the frame's gain. A device that has no
tau-feasible strategy in a frame (a deep fade) has (26) relaxed for that frame,
whatever the instance's deadline policy, and is counted in ``relaxed``.

**Warm start** (default): a frame's game starts from the previous frame's final
strategies of the devices that stay active; devices that arrive start fully local.
**Cold start**: every frame's game starts from the game's own initial draw (seeded
per frame). With a warm start the frames of one seed depend on each other and run
as one task; with a cold start every chunk of frames is an independent task. Tasks
run on any :class:`concurrent.futures.Executor` (a local process pool, or a Dask
client's executor, as for sweeps).

Per-frame table columns: ``seed, frame, active, arrived, left, relaxed, termination,
certified, max_gain_rel, ticks, moves, best_responses, avg_delay_s, avg_energy_j,
avg_cost, time_s``.

Design note for several servers (issue 13, point 1): the scenario's per-frame data
is a (T, N) gain array; with servers it becomes (T, N, K) and :func:`frame_instance`
the only place that maps it to devices.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, as_completed
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from mecopt.errors import InputError
from mecopt.model import channel
from mecopt.model.instance import Device, Instance, fastest_delay
from mecopt.model.tolerances import meets_deadline
from mecopt.options import check_choice

FADINGS = ("rayleigh", "rician", "none")
METHODS = ("tpos-cai", "tpos-uai")
COLUMNS = ("seed", "frame", "active", "arrived", "left", "relaxed", "termination", "certified", "max_gain_rel",
           "ticks", "moves", "best_responses", "avg_delay_s", "avg_energy_j", "avg_cost", "time_s")


@dataclass(frozen=True)
class SimulationSpec:
    """What to simulate (every field has a default but ``frames``)."""

    frames: int
    fading: str = "rayleigh"
    rician_k: float = 3.0
    activity: float = 1.0
    speed_mps: float = 0.0
    ref_distance_m: float = 100.0
    path_loss_exp: float = 3.0
    warm: bool = True
    method: str = "tpos-cai"
    engine: str = "dp"
    wake_prob: float = 0.5
    max_iter: int = 10_000
    time_limit: float | None = None     # per frame's game

    def __post_init__(self):
        check_choice("fading", self.fading, FADINGS)
        check_choice("method", self.method, METHODS)
        problems = []
        if self.frames < 1:
            problems.append(("frames", f"must be >= 1, got {self.frames}"))
        if not 0 < self.activity <= 1:
            problems.append(("activity", f"must be in (0, 1], got {self.activity}"))
        if not self.rician_k >= 0:
            problems.append(("rician_k", f"must be >= 0, got {self.rician_k}"))
        if not self.speed_mps >= 0:
            problems.append(("speed_mps", f"must be >= 0, got {self.speed_mps}"))
        if not self.ref_distance_m > 0:
            problems.append(("ref_distance_m", f"must be > 0, got {self.ref_distance_m}"))
        if not self.path_loss_exp >= 0:
            problems.append(("path_loss_exp", f"must be >= 0, got {self.path_loss_exp}"))
        if problems:
            raise InputError("invalid simulation options", problems)


@dataclass(frozen=True)
class Scenario:
    gain: np.ndarray     # (T, N) linear channel power gain per frame and device
    active: np.ndarray   # (T, N) bool


def scenario(instance: Instance, spec: SimulationSpec, seed: int) -> Scenario:
    """The frames' gains and activity, drawn from ``seed`` alone (independent streams per effect)."""
    T, N = spec.frames, instance.N
    fade_rng, act_rng, mob_rng = (np.random.default_rng([seed, k]) for k in (1, 2, 3))
    if spec.fading == "rayleigh":
        power = fade_rng.exponential(1.0, size=(T, N))
    elif spec.fading == "rician":
        K = spec.rician_k
        z = (fade_rng.standard_normal((T, N)) + 1j * fade_rng.standard_normal((T, N))) / math.sqrt(2)
        power = np.abs(math.sqrt(K / (K + 1)) + math.sqrt(1 / (K + 1)) * z) ** 2
    else:
        power = np.ones((T, N))
    path = np.ones((T, N))
    if spec.speed_mps > 0:
        step = spec.speed_mps * instance.server.T_d
        angle = mob_rng.uniform(0, 2 * np.pi, N)
        pos = spec.ref_distance_m * np.stack([np.cos(angle), np.sin(angle)], axis=1)
        for t in range(T):
            if t:
                heading = mob_rng.uniform(0, 2 * np.pi, N)
                pos = pos + step * np.stack([np.cos(heading), np.sin(heading)], axis=1)
            d = np.maximum(np.hypot(pos[:, 0], pos[:, 1]), 1.0)
            path[t] = (spec.ref_distance_m / d) ** spec.path_loss_exp
    G = np.array([d.G for d in instance.devices])
    active = act_rng.random((T, N)) < spec.activity
    return Scenario(gain=G[None, :] * path * power, active=active)


def with_gain(dev: Device, gain: float, instance: Instance) -> Device:
    """``dev`` with channel gain ``gain``: rates (9), (11), transfer times (8), (10) and the fastest
    delay recomputed as :func:`mecopt.model.instance.instance_from_dict` does; (26) relaxed when no
    strategy meets tau (or when the instance's policy already relaxed it)."""
    server = instance.server
    r_up = channel.shannon_rate(dev.W, dev.P_up, gain, dev.N0)
    r_do = channel.shannon_rate(dev.W, server.P_s, gain, dev.N0)
    t_up = channel.transfer_time(dev.out_bits, r_up)
    t_up.setflags(write=False)
    d = replace(dev, G=float(gain), rate_up=r_up, rate_down=r_do, t_up=t_up, t_down=float(dev.out_bits[-1] / r_do))
    fast = fastest_delay(d, server)
    return replace(d, fastest_delay=fast, deadline_relaxed=not meets_deadline(fast, d.tau))


def frame_instance(instance: Instance, sc: Scenario, t: int) -> tuple[Instance, np.ndarray]:
    """Frame t's instance (its active devices, re-indexed) and their indices in ``instance``."""
    idx = np.flatnonzero(sc.active[t])
    devs = tuple(replace(with_gain(instance.devices[n], sc.gain[t, n], instance), index=i)
                 for i, n in enumerate(idx))
    return replace(instance, name=f"{instance.name}-frame{t}", devices=devs), idx


@dataclass(frozen=True)
class Task:
    """Frames ``frames`` (consecutive) of one seed; plain data for process and Dask workers."""

    instance: Instance
    spec: SimulationSpec
    seed: int
    frames: tuple[int, ...]


def run_task(task: Task) -> list[dict]:
    """Play the task's frames in order (warm: each from the previous frame's profile)."""
    from mecopt.game.dynamics import play

    inst, spec = task.instance, task.spec
    sc = scenario(inst, spec, task.seed)
    prev: dict[int, np.ndarray] = {}
    prev_active = sc.active[task.frames[0] - 1] if task.frames[0] > 0 else np.zeros(inst.N, bool)
    rows = []
    for t in task.frames:
        t0 = time.perf_counter()
        fi, idx = frame_instance(inst, sc, t)
        row = dict(seed=task.seed, frame=t, active=len(idx), arrived=int(np.sum(sc.active[t] & ~prev_active)),
                   left=int(np.sum(~sc.active[t] & prev_active)),
                   relaxed=int(sum(d.deadline_relaxed for d in fi.devices)))
        prev_active = sc.active[t]
        if not len(idx):
            rows.append(dict(row, termination="no_devices", certified=True, max_gain_rel=0.0, ticks=0, moves=0,
                             best_responses=0, avg_delay_s=np.nan, avg_energy_j=np.nan, avg_cost=np.nan,
                             time_s=time.perf_counter() - t0))
            prev = {}
            continue
        start = None
        if spec.warm:
            start = [prev.get(int(n), np.zeros(d.M, dtype=int)) for n, d in zip(idx, fi.devices)]
        sol = play(fi, uai=spec.method == "tpos-uai", init_profile=start, engine=spec.engine,
                   seed=int(np.random.SeedSequence([task.seed, t]).generate_state(1)[0]),
                   wake_prob=spec.wake_prob, max_iter=spec.max_iter, time_limit=spec.time_limit)
        ev = sol.evaluation
        prev = {int(n): s for n, s in zip(idx, sol.profile)}
        rows.append(dict(row, termination=str(sol.termination), certified=bool(sol.certificate["certified"]),
                         max_gain_rel=float(sol.certificate["max_gain_rel"]), ticks=sol.iterations,
                         moves=int(sol.trace["moves"].sum()), best_responses=sol.solver_calls,
                         avg_delay_s=ev.avg_delay, avg_energy_j=ev.avg_energy, avg_cost=ev.avg_cost,
                         time_s=time.perf_counter() - t0))
    return rows


def plan(instance: Instance, spec: SimulationSpec, seeds: Sequence[int], chunk: int = 10) -> list[Task]:
    """The independent tasks: one per seed (warm start), or per ``chunk`` frames of a seed (cold start)."""
    tasks = []
    for s in seeds:
        if spec.warm:
            tasks.append(Task(instance, spec, int(s), tuple(range(spec.frames))))
        else:
            for a in range(0, spec.frames, chunk):
                tasks.append(Task(instance, spec, int(s), tuple(range(a, min(a + chunk, spec.frames)))))
    return tasks


def simulate(instance: Instance, spec: SimulationSpec, seeds: Sequence[int] = (0,), *,
             executor: Executor | None = None, chunk: int = 10,
             progress: Callable[[int, int], None] | None = None) -> pd.DataFrame:
    """The per-frame table of every seed, sorted by (seed, frame). Tasks run in this process
    unless an ``executor`` is given (``progress(done, total)`` counts tasks)."""
    if not seeds:
        raise InputError("a simulation needs at least one seed")
    if chunk < 1:
        raise InputError(f"The 'chunk' option must be >= 1. Got {chunk} instead.")
    tasks = plan(instance, spec, seeds, chunk)
    rows: list[dict] = []
    if executor is None:
        for i, task in enumerate(tasks):
            rows += run_task(task)
            if progress:
                progress(i + 1, len(tasks))
    else:
        futures = [executor.submit(run_task, task) for task in tasks]
        try:
            for i, fut in enumerate(as_completed(futures)):
                rows += fut.result()
                if progress:
                    progress(i + 1, len(tasks))
        except BaseException:
            for f in futures:
                f.cancel()
            raise
    df = pd.DataFrame(rows, columns=list(COLUMNS))
    return df.sort_values(["seed", "frame"], kind="stable").reset_index(drop=True)


def summary(table: pd.DataFrame) -> dict:
    """Totals and means over the frames (what ``simulation.json`` and the CLI report)."""
    played = table[table["termination"] != "no_devices"]
    return dict(frames=int(len(table)), seeds=sorted(int(s) for s in table["seed"].unique()),
                best_responses=int(table["best_responses"].sum()), moves=int(table["moves"].sum()),
                ticks=int(table["ticks"].sum()), certified_frames=int(played["certified"].sum()),
                played_frames=int(len(played)), mean_active=float(table["active"].mean()),
                mean_avg_cost=float(played["avg_cost"].mean()), mean_avg_delay_s=float(played["avg_delay_s"].mean()),
                mean_avg_energy_j=float(played["avg_energy_j"].mean()), time_s=float(table["time_s"].sum()))


def plot(table: pd.DataFrame, title: str = ""):
    """Per frame: average cost, and best responses / moves to equilibrium (mean over seeds)."""
    from mecopt.results.plots import _require

    Figure = _require()
    g = table.groupby("frame")[["avg_cost", "avg_delay_s", "best_responses", "moves", "active"]].mean()
    fig = Figure(figsize=(8, 5.5), layout="constrained")
    ax1, ax2 = fig.subplots(2, 1, sharex=True)
    ax1.plot(g.index, g["avg_cost"], marker=".", label="average cost")
    ax1.set_ylabel("average cost C")
    ax1b = ax1.twinx()
    ax1b.plot(g.index, g["avg_delay_s"], color="tab:orange", marker=".", label="average delay")
    ax1b.set_ylabel("average delay (s)")
    ax1.grid(alpha=0.3)
    ax2.plot(g.index, g["best_responses"], marker=".", label="best responses")
    ax2.plot(g.index, g["moves"], marker=".", label="moves")
    ax2.plot(g.index, g["active"], ls="--", label="active devices")
    ax2.set_xlabel("frame")
    ax2.set_ylabel("per frame")
    ax2.legend(fontsize=8)
    ax2.grid(alpha=0.3)
    ax1.set_title(title or "simulation")
    return fig


def write(table: pd.DataFrame, out_dir: str | Path, instance: Instance, spec: SimulationSpec, *,
          fmt: str = "csv", with_plot: bool = True) -> list[Path]:
    """``OUT/frames.<fmt>``, ``OUT/simulation.json`` (spec and summary) and ``OUT/frames.png``
    (when matplotlib is installed), inside a MANIFEST.json that says when the folder is complete."""
    from mecopt.results import manifest
    from mecopt.results.export import write_json, write_table

    out = manifest.begin(out_dir, "simulation")
    files = [write_table(table, out / "frames", fmt),
             write_json(out / "simulation.json", dict(instance=instance.name, spec=asdict(spec),
                                                      summary=summary(table)))]
    if with_plot:
        try:
            from mecopt.results.plots import save
            files.append(save(plot(table, f"{instance.name}: {spec.frames} frames, "
                                          f"{'warm' if spec.warm else 'cold'} start"), out / "frames.png"))
        except InputError:   # no matplotlib: the table is the result
            pass
    manifest.finish(out, "simulation", files)
    return files
