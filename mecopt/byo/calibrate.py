"""Calibrate the delay model to this machine: profile networks, fit, report (``mecopt calibrate``, issue 20).

:func:`profile_networks` profiles every network (default: the bundled catalog,
each built from its spec by :func:`mecopt.byo.profiling.spec_to_onnx`) with
ONNX Runtime as :func:`mecopt.byo.measure.measure` does (optimized graph, every
node given to a layer, each profiled run taking turns with a run of an
unprofiled twin timed end to end). The fit target of a
layer is its profiled mean time scaled so that its network's layers add up to the
network's end-to-end median (:func:`fit_targets`: the layers' *shares* come from
the profiler, the *scale* from the independent end-to-end timing, which has no
profiler overhead and includes ORT's per-node dispatch). :func:`calibrate` fits one non-negative set per
operator class (:func:`mecopt.byo.fitting.fit_layers`) on all networks and
reports, per network, the measured end-to-end latency, the in-sample prediction
and the prediction of a set fitted without that network (leave one network out).

Roles: ``local`` is eq. (6), the device, one intra-op thread; ``server`` is
eq. (7), every logical CPU of this machine as intra-op threads.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from mecopt.core import dnn
from mecopt.core.errors import InputError
from mecopt.core.files import atomic_write

#: the bundled catalog of modern networks (docs/byo-dnn.md, section 4)
CATALOG = ("resnet18", "resnet50", "mobilenet_v2", "mobilenet_v3_small", "efficientnet_b0", "squeezenet1_1",
           "googlenet", "densenet121", "shufflenet_v2_x1_0", "regnet_y_400mf", "convnext_tiny", "vit_b_16")

#: the share of a network's end-to-end time its profile total must be within to be called in agreement
E2E_TOLERANCE = 0.05


def role_threads(role: str) -> int:
    """Intra-op threads a role implies: ``local`` (eq. 6, a single-board device) 1, ``server`` (eq. 7) all CPUs.

    Parameters
    ----------
    role : str
        ``"local"`` (the device of eq. 6) or ``"server"`` (the edge server of eq. 7).

    Returns
    -------
    int
        1 for ``local``; for ``server`` the logical CPUs this process may run on (``os.sched_getaffinity``,
        else ``os.cpu_count()``).

    Raises
    ------
    InputError
        If ``role`` is neither ``"local"`` nor ``"server"``.
    """
    if role == "local":
        return 1
    if role == "server":
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    raise InputError(f"The 'role' option must be 'local' or 'server'. Got {role!r} instead.")


def machine() -> dict:
    """Where the calibration ran: CPU, logical CPUs, ONNX Runtime version, load average now.

    Returns
    -------
    dict
        Keys ``machine`` (CPU description), ``cpus`` (logical CPUs), ``onnxruntime`` (version), ``platform`` and
        ``load`` (1, 5 and 15 minute load averages rounded to 2 decimals, or None where unavailable).
    """
    import onnxruntime

    from mecopt.byo.profiling import machine_description
    return {"machine": machine_description("ort"), "cpus": os.cpu_count(), "onnxruntime": onnxruntime.__version__,
            "platform": platform.platform(),
            "load": tuple(round(x, 2) for x in os.getloadavg()) if hasattr(os, "getloadavg") else None}


@dataclass
class Profiles:
    """Layer rows (with ``target_ms``), operator rows, and one row of whole-network figures per network.

    Attributes
    ----------
    layers : pandas.DataFrame
        One row per layer of every network (from :func:`mecopt.byo.profiling.layer_tables`; :func:`calibrate`
        adds ``target_ms``).
    ops : pandas.DataFrame
        One row per operator: ``dnn``, ``layer``, ``type``, ``op`` and its factors ``G``, ``K``, ``O``, ``I``.
    networks : pandas.DataFrame
        One row per network: runs, rounds, profile totals and end-to-end medians/percentiles [ms], their ratio,
        the attributed share, load range and optimized node count.
    machine : dict
        Where and how the profiles were taken (:func:`machine` plus load before/after, threads, optimization,
        rounds).
    """

    layers: pd.DataFrame
    ops: pd.DataFrame
    networks: pd.DataFrame
    machine: dict = field(default_factory=dict)


def profile_networks(names=CATALOG, *, runs: int = 30, warmup: int = 3, rounds: int = 6, threads: int = 1,
                     seed: int = 0, optimization: str = "all", min_ms: float = 1000.0, cpu: int | None = None,
                     progress: Callable[[str, dict], None] | None = None, pin: bool = True) -> Profiles:
    """Profile every network of ``names`` (bundled names or spec paths) with ONNX Runtime on this machine.

    The networks are measured **in turn**, ``rounds`` times over the whole list (each
    round a fresh session per network, ``warmup`` untimed runs, then profiled runs and as
    many end-to-end runs), so that a change of the machine's load hits every network
    alike; each network gets at least ``runs`` timed runs and about ``min_ms`` of
    end-to-end time in all. Medians over all its runs.

    Parameters
    ----------
    names : iterable of str, optional
        Bundled network names or spec paths (resolved against the working directory); default :data:`CATALOG`.
    runs : int, optional
        Minimum timed runs per network over all rounds.
    warmup : int, optional
        Untimed runs per network at the start of each round.
    rounds : int, optional
        Passes over the whole list of networks.
    threads : int, optional
        ONNX Runtime intra-op threads (see :func:`role_threads`).
    seed : int, optional
        Seed of the random weights and inputs of the exported graphs.
    optimization : str, optional
        ONNX Runtime graph optimization level (``"all"``, ...).
    min_ms : float, optional
        End-to-end time [ms] each network should get in all; light networks get more runs after the first
        round (at most 2000 per round). 0 turns this off.
    cpu : int or None, optional
        CPU to pin the measurement to; None: :func:`mecopt.byo.measure.pin_cpu` (one CPU for one thread) when
        ``pin``, else not pinned.
    progress : callable or None, optional
        Called as ``progress(name, row)`` after each network with its row of the networks table.
    pin : bool, optional
        Pin to a CPU chosen by :func:`mecopt.byo.measure.pin_cpu` when ``cpu`` is None.

    Returns
    -------
    Profiles
        The layer, operator and network tables and the machine description.

    Raises
    ------
    InputError
        If a network's profile attributes less than ``MIN_ATTRIBUTED`` of the measured time to its layers.
    """
    from mecopt.byo.measure import MIN_ATTRIBUTED, attribution, measure, merge, pin_cpu
    from mecopt.byo.profiling import layer_tables, spec_to_onnx
    if cpu is None and pin:
        cpu = pin_cpu(threads)
    specs = [dnn.load_spec(dnn.resolve_path(name, Path.cwd())) for name in names]
    before = machine()
    graphs = {s.name: spec_to_onnx(s, "auto", seed) for s in specs}
    timings: dict[str, list] = {s.name: [] for s in specs}
    per_round = {s.name: max(1, -(-runs // rounds)) for s in specs}
    for k in range(rounds):
        for s in specs:
            model, node_layer, _ = graphs[s.name]
            done = timings[s.name]
            t = measure(model, node_layer, runs=per_round[s.name], warmup=warmup, rounds=1, threads=threads,
                        seed=seed, optimization=optimization, cpu=cpu,
                        origin=done[0].node_origin if done else None)
            done.append(t)
            if k == 0 and rounds > 1 and min_ms > 0:  # light networks: more runs in the later rounds
                e2e = max(float(np.median(t.e2e)), 1e-6)
                per_round[s.name] = int(min(2000, max(per_round[s.name], np.ceil(min_ms / e2e / rounds))))
    layers, ops, nets = [], [], []
    for s in specs:
        model, node_layer, node_ops = graphs[s.name]
        timing = merge(timings[s.name])
        times = {**timing.node_times, "(not mapped)": timing.unmapped}
        lt, _, _ = layer_tables(s.name, dnn.propagate(s), node_layer, node_ops, times, timing.runs, threads)
        t = {**timing.summary(), **attribution(timing, node_layer), "nodes": timing.optimized_nodes}
        if t["share"] < MIN_ATTRIBUTED:
            raise InputError(f"profile of {s.name}: only {100 * t['share']:.2f}% of the measured time could be "
                             f"given to layers ({t['attributed_ms']:.4g} of {t['total_ms']:.4g} ms)")
        layers.append(lt)
        # the operators with their factors (all of them, also those ORT fused into a neighbour)
        opf = dnn.propagate(s).op_frame()
        ops.append(pd.DataFrame({"dnn": s.name, "layer": opf["layer"].astype(int), "type": opf["type"],
                                 "op": opf["op"].astype(str), "G": opf["G"], "K": opf["K"], "O": opf["O"],
                                 "I": opf["I"]}))
        row = {"dnn": s.name, "layers": len(lt), **{k: t[k] for k in (
            "runs", "rounds", "total_median_ms", "total_p10_ms", "total_p90_ms", "e2e_median_ms", "e2e_p10_ms",
            "e2e_p90_ms", "total_vs_e2e", "median_vs_e2e", "total_trimmed_ms", "e2e_trimmed_ms", "total_spread",
            "e2e_spread", "paired_vs_e2e", "profiler_overhead",
            "kernel_share", "clock", "e2e_wall_median_ms", "on_cpu", "share", "load_min", "load_max", "nodes")}}
        nets.append(row)
        if progress is not None:
            progress(s.name, row)
    after = machine()
    info = {**before, "load_before": before["load"], "load_after": after["load"], "threads": threads,
            "optimization": optimization, "rounds": rounds, "cpu": cpu}
    info.pop("load")
    return Profiles(pd.concat(layers, ignore_index=True), pd.concat(ops, ignore_index=True), pd.DataFrame(nets), info)


def fit_targets(layers: pd.DataFrame, networks: pd.DataFrame, column: str = "mean_ms") -> np.ndarray:
    """Each layer's mean time scaled so that its network's layers add up to the network's end-to-end median.

    The *shares* of the layers come from the profile, the *scale* from the end-to-end
    timing (which has no profiler overhead and includes ORT's dispatch between
    nodes). The share of a layer is its **mean** over the runs (``column``), not its
    median: another job's preemption lands in a kernel with a probability in
    proportion to the kernel's length, so the mean charges every kernel in
    proportion and keeps the shares; the median spares the short kernels (a single
    short kernel is mostly not preempted, a long one always is), which shrank the
    shares of light layers under load (16 ms of layer medians for a 60 ms end-to-end
    median of MobileNetV2 at load 12 on 2 CPUs, first pass of issue 20). With the
    CPU clock (:mod:`mecopt.byo.measure`) the preempted time is also taken out of
    every run in proportion.

    Parameters
    ----------
    layers : pandas.DataFrame
        Layer rows with columns ``dnn`` and ``column``.
    networks : pandas.DataFrame
        Network rows with columns ``dnn`` and ``e2e_median_ms``.
    column : str, optional
        The layer statistic giving the shares (``"mean_ms"``; ``"median_ms"`` as before).

    Returns
    -------
    numpy.ndarray
        The fit target [ms] of each layer, in the order of ``layers``; a network whose layer times sum to 0
        keeps them unscaled.
    """
    e2e = layers["dnn"].map(dict(zip(networks["dnn"], networks["e2e_median_ms"]))).to_numpy(dtype=float)
    sums = layers.groupby("dnn")[column].transform("sum").to_numpy(dtype=float)
    return layers[column].to_numpy(dtype=float) * np.where(sums > 0, e2e / np.where(sums > 0, sums, 1), 1.0)


@dataclass
class Calibration:
    """What :func:`calibrate` returns: the fitted set, the per-network and per-layer tables and a summary.

    Attributes
    ----------
    model : object
        The fitted set (``PerTypeCoefficients``), one non-negative coefficient set per operator class.
    networks : pandas.DataFrame
        Per network: measured end-to-end median, in-sample prediction ``fitted_ms`` and ``fitted_error`` and,
        with leave-one-out, ``held_out_ms``, ``held_out_error`` and ``held_out_r2_layers``.
    layers : pandas.DataFrame
        Per layer: ``target_ms``, ``fitted_ms`` and (with leave-one-out) ``held_out_ms`` [ms].
    summary : dict
        Counts, role, mean absolute errors and R² over layers, in-sample and held out.
    """

    model: object                 # the fitted set (PerTypeCoefficients)
    networks: pd.DataFrame        # per network: measured, fitted (in-sample), held-out prediction and errors
    layers: pd.DataFrame          # per layer: measured target, in-sample and held-out predictions
    summary: dict


def calibrate(profiles: Profiles, *, role: str = "local", name: str = "calibrated", weight: str = "network",
              loo: bool = True, share_column: str = "mean_ms") -> Calibration:
    """Fit the per-class non-negative set on all profiled networks and leave each network out in turn.

    Parameters
    ----------
    profiles : Profiles
        The profiles from :func:`profile_networks`.
    role : str, optional
        ``"local"`` (eq. 6) or ``"server"`` (eq. 7); named in the description of the fitted set.
    name : str, optional
        Name of the fitted set.
    weight : str, optional
        Row weighting passed to :func:`mecopt.byo.fitting.fit_layers` (e.g. ``"network"``).
    loo : bool, optional
        Also fit once without each network (leave one network out; needs at least 2 networks).
    share_column : str, optional
        The layer statistic whose shares :func:`fit_targets` scales (``"mean_ms"``).

    Returns
    -------
    Calibration
        The fitted set and the per-network and per-layer tables with a summary.
    """
    from mecopt.byo.fitting import fit_layers, leave_one_network_out, predict_layers
    from mecopt.core.delay import r_squared
    L, O, N = profiles.layers.copy(), profiles.ops, profiles.networks
    L["target_ms"] = fit_targets(L, N, share_column)
    m = profiles.machine
    desc = (f"mecopt calibrate --role {role}: eq. ({6 if role == 'local' else 7}) refitted on this machine, "
            f"{len(N)} networks profiled with ONNX Runtime {m.get('onnxruntime', '')}, optimization "
            f"{m.get('optimization')}, {m.get('threads')} intra-op thread(s); {m.get('machine', '')}; "
            f"load average before {m.get('load_before')}, after {m.get('load_after')}")
    fit = fit_layers(L, O, time_column="target_ms", per_type=True, weight=weight, name=name, description=desc)
    e2e = dict(zip(N["dnn"], N["e2e_median_ms"]))
    fitted = pd.Series(fit.predicted).groupby(L["dnn"].to_numpy()).sum()
    nets = N[["dnn", "layers", "e2e_median_ms", "total_median_ms", "total_vs_e2e", "load_min", "load_max"]].copy()
    for c in ("e2e_spread", "total_spread", "paired_vs_e2e", "median_vs_e2e", "profiler_overhead", "kernel_share",
              "clock",
              "e2e_wall_median_ms", "on_cpu"):
        nets[c] = N[c] if c in N else np.nan  # (profiles taken before these were recorded lack them)
    nets["fitted_ms"] = nets["dnn"].map(fitted)
    nets["fitted_error"] = nets["fitted_ms"] / nets["e2e_median_ms"] - 1.0
    layers = L[["dnn", "layer", "name", "type", "target_ms"]].copy()
    layers["fitted_ms"] = fit.predicted
    summary = {"networks": len(N), "layers": len(L), "role": role,
               "fitted_mae": float(nets["fitted_error"].abs().mean()),
               "fitted_r2_layers": r_squared(L["target_ms"], fit.predicted)}
    if loo and len(N) >= 2:
        per_net, per_layer = leave_one_network_out(L, O, totals=e2e, time_column="target_ms", weight=weight)
        nets["held_out_ms"] = nets["dnn"].map(dict(zip(per_net["dnn"], per_net["predicted"])))
        nets["held_out_error"] = nets["held_out_ms"] / nets["e2e_median_ms"] - 1.0
        nets["held_out_r2_layers"] = nets["dnn"].map(dict(zip(per_net["dnn"], per_net["r2_layers"])))
        key = pd.MultiIndex.from_frame(per_layer[["dnn", "layer"]].astype({"dnn": str, "layer": int}))
        ho = pd.Series(per_layer["predicted"].to_numpy(), index=key)
        layers["held_out_ms"] = ho.reindex(pd.MultiIndex.from_frame(
            layers[["dnn", "layer"]].astype({"dnn": str, "layer": int}))).to_numpy()
        err = nets["held_out_error"].abs()
        summary.update(held_out_mae=float(err.mean()), held_out_max=float(err.max()),
                       held_out_worst=str(nets.loc[err.idxmax(), "dnn"]),
                       held_out_r2_layers=r_squared(layers["target_ms"], layers["held_out_ms"]),
                       held_out_r2_layers_min=float(nets["held_out_r2_layers"].min()))
    _ = predict_layers  # (re-exported for callers predicting other networks)
    return Calibration(fit.model, nets, layers, summary)


def plot(cal: Calibration, path: Path, title: str = "") -> None:
    """Log-log plot of predicted vs measured end-to-end latency per network (in-sample and held out).

    Parameters
    ----------
    cal : Calibration
        The result of :func:`calibrate`.
    path : pathlib.Path
        Image file to write (its folder is created).
    title : str, optional
        Plot title; a default title when empty.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    n = cal.networks
    fig, ax = plt.subplots(figsize=(6.4, 5.6))
    ax.loglog(n["e2e_median_ms"], n["fitted_ms"], "o", mfc="none", label="fitted on all networks")
    if "held_out_ms" in n:
        ax.loglog(n["e2e_median_ms"], n["held_out_ms"], "x", label="fitted without the network")
    for _, r in n.iterrows():
        ax.annotate(r["dnn"], (r["e2e_median_ms"], r.get("held_out_ms", r["fitted_ms"])), fontsize=7,
                    xytext=(3, 3), textcoords="offset points")
    lo = float(min(n["e2e_median_ms"].min(), n["fitted_ms"].min())) / 1.5
    hi = float(max(n["e2e_median_ms"].max(), n["fitted_ms"].max())) * 1.5
    ax.plot([lo, hi], [lo, hi], "k-", lw=0.8, label="predicted = measured")
    ax.fill_between([lo, hi], [lo * 0.9, hi * 0.9], [lo * 1.1, hi * 1.1], color="0.85", label="±10%")
    ax.set_xlabel("measured end-to-end latency [ms] (ONNX Runtime, median)")
    ax.set_ylabel("predicted latency [ms] (sum of layer predictions)")
    ax.set_title(title or "calibrated delay model vs measurement")
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", dpi=120))
    plt.close(fig)
