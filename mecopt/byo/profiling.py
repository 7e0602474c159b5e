"""Measure per-layer delays of a DNN spec on this machine (PyTorch, CPU) and attach them to the spec.

:func:`profile` builds the chain of a spec (``models/dnn/*.toml``) as PyTorch
modules with random weights, runs the whole chain ``warmup`` times, then
``runs`` times, timing every layer inside each run (so each layer sees the
caches its predecessors left, as in a real inference), and returns one row per
layer: the factors (G, K, O, I) of MODEL.md §1 and the median and spread of the
measured times in milliseconds. That table is what :func:`mecopt.model.delay.fit`
(and ``mecopt fit``) needs to fit eq. (5) for this machine.

:func:`attach_times` writes the measured medians into a copy of the spec as
``t_local_s`` or ``t_server_s``, which then override the prediction model for
that DNN (``mecopt.model.instance``).

Layer types are built as follows: ``conv`` -> ``Conv2d`` (with its groups),
``pool`` -> ``MaxPool2d`` (the spec does not say max or average; Caffe's
AlexNet/VGG pool by max), ``fc`` -> flatten + ``Linear``, ``relu`` -> ``ReLU``,
``lrn`` -> ``LocalResponseNorm(5, 1e-4, 0.75, 1)`` (Caffe's AlexNet values),
``softmax`` -> ``Softmax`` over the channels. A ``block`` (an imported branching
region) has no architecture in the spec and cannot be built: such a spec is
refused with the layers named. Every built layer's output shape is checked
against the spec's layer table.

``torch`` is an optional dependency (``pip install 'mecopt[profile]'``).
"""

from __future__ import annotations

import platform
import time
from pathlib import Path
from typing import Callable, Literal

import numpy as np
import pandas as pd

from mecopt.model import dnn
from mecopt.errors import InputError

Side = Literal["local", "server"]

#: columns of a measured-profile table, in order
PROFILE_COLUMNS = ("dnn", "layer", "name", "type", "C", "H", "W", "out_elements", "G", "K", "O", "I",
                   "runs", "median_ms", "p10_ms", "p90_ms", "iqr_ms", "mean_ms", "min_ms", "threads")


#: the CPU-only PyTorch install suggested when torch is missing (README, "Bring your own DNN")
TORCH_CPU_INSTALL = "pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu"


def require_torch():
    try:
        import torch
    except ImportError as err:
        raise InputError(f"profiling needs PyTorch, which is not installed. Install its CPU build (as the README's "
                         f"'Bring your own DNN' says): {TORCH_CPU_INSTALL} -- a plain 'pip install torch' or "
                         f"'mecopt[profile]' can pull a multi-GB CUDA build") from err
    return torch


def build_chain(spec: dnn.DNNSpec, grouped_conv: dnn.GroupedConv = "full", seed: int = 0):
    """The spec as a list of ``(layer_spec, torch module, input shape)``, weights drawn from ``seed``.

    Raises :class:`InputError` naming every layer that cannot be built or whose
    built output shape differs from the layer table.
    """
    torch = require_torch()
    nn = torch.nn
    table = dnn.propagate(spec, grouped_conv)
    frame = table.frame
    torch.manual_seed(seed)
    chain, problems = [], []
    for i, layer in enumerate(spec.layers, start=1):
        C, H, W = (int(frame.at[i - 1, k]) for k in ("C", "H", "W"))
        out = tuple(int(frame.at[i, k]) for k in ("C", "H", "W"))
        where = f"layers.{i - 1} ({layer.name})"
        t = layer.type
        if t == "conv":
            if layer.out_channels is None or layer.kernel is None:
                problems.append((where, "a conv needs out_channels and kernel to be built"))
                continue
            module = nn.Conv2d(C, layer.out_channels, layer.kernel, layer.stride, layer.pad, groups=layer.groups)
        elif t == "pool":
            if layer.kernel is None:
                problems.append((where, "a pool needs kernel to be built"))
                continue
            if 2 * layer.pad > layer.kernel:
                problems.append((where, f"PyTorch pooling needs pad <= kernel/2, got pad {layer.pad}, kernel {layer.kernel}"))
                continue
            module = nn.MaxPool2d(layer.kernel, layer.stride, layer.pad, ceil_mode=layer.ceil_mode)
        elif t == "fc":
            features = layer.out_features or (layer.out_shape[0] if layer.out_shape else None)
            if features is None:
                problems.append((where, "an fc needs out_features to be built"))
                continue
            module = nn.Sequential(nn.Flatten(), nn.Linear(C * H * W, features))
        elif t == "relu":
            module = nn.ReLU()
        elif t == "lrn":
            module = nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1.0)
        elif t == "softmax":
            module = nn.Softmax(dim=1)
        else:
            problems.append((where, f"a {t} layer has no architecture in the spec and cannot be built; "
                                    "give its measured t_local_s / t_server_s in the spec instead"))
            continue
        module.eval()
        with torch.inference_mode():
            try:
                y = module(torch.zeros(1, C, H, W))
            except RuntimeError as err:
                problems.append((where, f"PyTorch cannot run it on a {C}x{H}x{W} input: {str(err).splitlines()[0]}"))
                continue
        got = tuple(y.shape[1:]) + (1,) * (4 - y.dim())
        if got != out:
            problems.append((where, f"the PyTorch layer gives {got}, the layer table says {out}"))
            continue
        chain.append((layer, module, (C, H, W)))
    if problems:
        raise InputError(f"cannot build DNN '{spec.name}' for profiling", problems)
    return chain


def profile(spec: dnn.DNNSpec, *, runs: int = 20, warmup: int = 3, threads: int | None = None,
            grouped_conv: dnn.GroupedConv = "full", seed: int = 0,
            progress: Callable[[int, int], None] | None = None) -> pd.DataFrame:
    """Time every layer of ``spec`` on this machine's CPU; one row per layer (:data:`PROFILE_COLUMNS`).

    The whole chain runs ``warmup`` times untimed, then ``runs`` times with each
    layer timed (``time.perf_counter_ns``) on batch 1. ``threads`` sets
    ``torch.set_num_threads`` for the measurement (restored afterwards).
    ``progress(done, total)`` is called after each run.
    """
    if runs < 1:
        raise InputError(f"The 'runs' parameter of profile must be >= 1. Got {runs} instead.")
    if warmup < 0:
        raise InputError(f"The 'warmup' parameter of profile must be >= 0. Got {warmup} instead.")
    if threads is not None and threads < 1:
        raise InputError(f"The 'threads' parameter of profile must be >= 1. Got {threads} instead.")
    torch = require_torch()
    chain = build_chain(spec, grouped_conv, seed)
    table = dnn.propagate(spec, grouped_conv).frame
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    used_threads = torch.get_num_threads()
    times = np.zeros((runs, len(chain)))
    gen = torch.Generator().manual_seed(seed)
    C, H, W = chain[0][2]
    x0 = torch.randn(1, C, H, W, generator=gen)
    try:
        with torch.inference_mode():
            for r in range(-warmup, runs):
                x = x0
                for j, (_, module, shape) in enumerate(chain):
                    x = x.reshape(1, *shape)  # a view; an fc hands (1, F) to the next layer
                    t0 = time.perf_counter_ns()
                    x = module(x)
                    t1 = time.perf_counter_ns()
                    if r >= 0:
                        times[r, j] = (t1 - t0) * 1e-6
                if progress is not None and r >= 0:
                    progress(r + 1, runs)
    finally:
        torch.set_num_threads(previous)
    rows = table.iloc[1:].reset_index(drop=True)
    q10, q25, q50, q75, q90 = np.percentile(times, [10, 25, 50, 75, 90], axis=0)
    out = pd.DataFrame({
        "dnn": spec.name,
        "layer": rows["layer"].astype(int), "name": rows["name"], "type": rows["type"],
        "C": rows["C"].astype(int), "H": rows["H"].astype(int), "W": rows["W"].astype(int),
        "out_elements": rows["out_elements"].astype(int),
        "G": rows["G"], "K": rows["K"], "O": rows["O"], "I": rows["I"],
        "runs": runs, "median_ms": q50, "p10_ms": q10, "p90_ms": q90, "iqr_ms": q75 - q25,
        "mean_ms": times.mean(axis=0), "min_ms": times.min(axis=0), "threads": used_threads,
    })
    return out[list(PROFILE_COLUMNS)]


def machine_description() -> str:
    """One line about where a profile was measured (for the CLI and the docs)."""
    torch = require_torch()
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import os
    return f"{cpu} ({os.cpu_count()} logical CPUs), torch {torch.__version__}"


def attach_times(spec: dnn.DNNSpec, profile_table: pd.DataFrame, side: Side, *, column: str = "median_ms",
                 name: str | None = None) -> dnn.DNNSpec:
    """A copy of ``spec`` with the measured ``column`` (ms) as ``t_local_s`` or ``t_server_s`` of every layer.

    Rows are matched by layer index and must carry the same layer names; times
    already attached for the other side are kept.
    """
    if side not in ("local", "server"):
        raise InputError(f"The 'side' parameter of attach_times must be 'local' or 'server'. Got {side!r} instead.")
    missing = [c for c in ("layer", "name", column) if c not in profile_table.columns]
    if missing:
        raise InputError(f"the profile table lacks column(s) {missing}")
    by_layer = {int(r.layer): r for r in profile_table.itertuples(index=False)}
    problems, layers = [], []
    for i, layer in enumerate(spec.layers, start=1):
        row = by_layer.get(i)
        if row is None:
            problems.append((f"layers.{i - 1} ({layer.name})", "no measured row for this layer"))
            continue
        if row.name != layer.name:
            problems.append((f"layers.{i - 1} ({layer.name})", f"the profile's layer {i} is named {row.name!r}"))
            continue
        t = round(float(getattr(row, column)) * 1e-3, 9)  # the clock ticks in ns
        if not np.isfinite(t) or t < 0:
            problems.append((f"layers.{i - 1} ({layer.name})", f"measured time {t!r} s is not a finite time >= 0"))
            continue
        layers.append(layer.model_copy(update={f"t_{side}_s": t}))
    if problems:
        raise InputError(f"cannot attach the profile to DNN '{spec.name}'", problems)
    description = (spec.description + "; " if spec.description else "") + f"measured t_{side}_s attached"
    return spec.model_copy(update={"layers": layers, "name": name or spec.name, "description": description})
