"""Measure per-layer delays of a DNN on this machine and attach them to its spec.

Two engines measure the same table (one row per layer: the factors of MODEL.md
§1 and the median and spread of the measured times in milliseconds):

- **ONNX Runtime** (default, ``pip install 'mecopt[profile-ort]'``):
  :func:`profile_onnx` times every node of an ONNX model with ORT's own
  profiler and sums the nodes of each layer (a block's nodes, and the nodes
  folded into a layer or making no layer of their own, such as a Flatten);
  :func:`profile_spec_ort` does the same for a spec, from an ONNX graph built
  by :func:`spec_to_onnx` (real layers for the plain chain types, one synthetic
  operator per entry of a block's ``ops``), so blocks are measured too. Both
  also return one row per operator (node) with its delay class, which
  ``mecopt fit --per-type`` fits.
- **PyTorch** (``engine="torch"``, ``pip install 'mecopt[profile]'``) for chain
  specs without blocks, as before:

:func:`profile` builds the chain of a spec (``models/dnn/*.toml``) as PyTorch
modules with random weights, runs the whole chain ``warmup`` times, then
``runs`` times, timing every layer inside each run (so each layer sees the
caches its predecessors left, as in a real inference), and returns one row per
layer: the factors (G, K, O, I) of MODEL.md §1 and the median and spread of the
measured times in milliseconds. That table is what :func:`mecopt.core.delay.fit`
(and ``mecopt fit``) needs to fit eq. (5) for this machine.

:func:`attach_times` writes the measured medians into a copy of the spec as
``t_local_s`` or ``t_server_s``, which then override the prediction model for
that DNN (``mecopt.core.instance``).

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
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from mecopt.core import dnn
from mecopt.core.errors import InputError

Side = Literal["local", "server"]

#: columns of a measured-profile table, in order
PROFILE_COLUMNS = ("dnn", "layer", "name", "type", "C", "H", "W", "out_elements", "G", "K", "O", "I",
                   "runs", "median_ms", "p10_ms", "p90_ms", "iqr_ms", "mean_ms", "min_ms", "threads")
#: columns of a measured per-operator table (ONNX Runtime); ``type`` is the delay class
OP_COLUMNS = ("dnn", "layer", "node", "op", "type", "G", "K", "O", "I",
              "runs", "median_ms", "p10_ms", "p90_ms", "iqr_ms", "mean_ms", "min_ms", "threads")
_STATS = ("median_ms", "p10_ms", "p90_ms", "iqr_ms", "mean_ms", "min_ms")


#: the CPU-only PyTorch install suggested when torch is missing (README, "Bring your own DNN")
TORCH_CPU_INSTALL = "pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu"


def require_torch():
    """The ``torch`` module; InputError saying how to install its CPU build when it is missing.

    Returns
    -------
    module
        The imported ``torch``.

    Raises
    ------
    InputError
        If PyTorch is not installed.
    """
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

    Parameters
    ----------
    spec : mecopt.core.dnn.DNNSpec
        The DNN spec.
    grouped_conv : mecopt.core.dnn.GroupedConv, optional
        How grouped convolutions are sized (as in :func:`mecopt.core.dnn.propagate`).
    seed : int, optional
        Seed of the random weights.

    Returns
    -------
    list of tuple
        ``(layer_spec, module, (C, H, W))`` per layer, in order.

    Raises
    ------
    InputError
        Naming every layer that cannot be built or whose output shape differs from the layer table.
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
                problems.append((where,
                                 f"PyTorch pooling needs pad <= kernel/2, got pad {layer.pad}, kernel {layer.kernel}"))
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

    Parameters
    ----------
    spec : mecopt.core.dnn.DNNSpec
        The DNN spec.
    runs : int, optional
        Timed runs (at least 1).
    warmup : int, optional
        Untimed runs before them (at least 0).
    threads : int or None, optional
        ``torch.set_num_threads`` during the measurement; None keeps PyTorch's setting.
    grouped_conv : mecopt.core.dnn.GroupedConv, optional
        How grouped convolutions are sized (as in :func:`mecopt.core.dnn.propagate`).
    seed : int, optional
        Seed of the weights and the input.
    progress : callable or None, optional
        Called as ``progress(done, total)`` after each timed run.

    Returns
    -------
    pandas.DataFrame
        One row per layer, columns :data:`PROFILE_COLUMNS` (sizes, factors G, K, O, I, and per-layer times in ms:
        median, 10th/90th percentile, IQR, mean, min).

    Raises
    ------
    InputError
        On invalid ``runs``, ``warmup`` or ``threads``, missing PyTorch, or a layer that cannot be built.
    """
    _check_runs(runs, warmup, threads)
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


def machine_description(engine: str = "torch") -> str:
    """One line about where a profile was measured (for the CLI and the docs).

    Parameters
    ----------
    engine : str, optional
        ``"ort"`` for ONNX Runtime, else PyTorch; its version is named.

    Returns
    -------
    str
        CPU model, logical CPUs, load averages (where available) and the engine's version.

    Raises
    ------
    InputError
        If the engine is not installed.
    """
    if engine == "ort":
        engine_text = f"onnxruntime {require_ort().__version__}"
    else:
        engine_text = f"torch {require_torch().__version__}"
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import os
    load = ""
    if hasattr(os, "getloadavg"):
        load = ", load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    return f"{cpu} ({os.cpu_count()} logical CPUs{load}), {engine_text}"


def attach_times(spec: dnn.DNNSpec, profile_table: pd.DataFrame, side: Side, *, column: str = "median_ms",
                 name: str | None = None) -> dnn.DNNSpec:
    """A copy of ``spec`` with the measured ``column`` (ms) as ``t_local_s`` or ``t_server_s`` of every layer.

    Rows are matched by layer index and must carry the same layer names; times
    already attached for the other side are kept.

    Parameters
    ----------
    spec : mecopt.core.dnn.DNNSpec
        The DNN spec.
    profile_table : pandas.DataFrame
        Measured rows with ``layer`` (1..M), ``name`` and ``column``.
    side : {"local", "server"}
        Which time to set: ``t_local_s`` (eq. 6) or ``t_server_s`` (eq. 7).
    column : str, optional
        Column of the measured time, in ms.
    name : str or None, optional
        Name of the copy; default the spec's name.

    Returns
    -------
    mecopt.core.dnn.DNNSpec
        The copy, times in seconds (rounded to ns), its description noting the attached times.

    Raises
    ------
    InputError
        On an invalid ``side``, missing columns, or a layer without a matching row or with a negative or
        non-finite time.
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


# ----------------------------------------------------------------------------- ONNX Runtime


def require_ort():
    """The ``onnxruntime`` module; InputError naming the extra to install when it is missing.

    Returns
    -------
    module
        The imported ``onnxruntime``.

    Raises
    ------
    InputError
        If ``onnxruntime`` is not installed.
    """
    try:
        import onnxruntime
    except ImportError as err:
        raise InputError("profiling with ONNX Runtime needs onnxruntime: pip install 'mecopt[profile-ort]'") from err
    return onnxruntime


def _stats(times: np.ndarray) -> dict:
    """Median and spread over axis 0 (runs) of a runs x n array, in ms."""
    q10, q25, q50, q75, q90 = np.percentile(times, [10, 25, 50, 75, 90], axis=0)
    return {"median_ms": q50, "p10_ms": q10, "p90_ms": q90, "iqr_ms": q75 - q25,
            "mean_ms": times.mean(axis=0), "min_ms": times.min(axis=0)}


def _check_runs(runs: int, warmup: int, threads: int | None) -> None:
    if runs < 1:
        raise InputError(f"The 'runs' parameter of profile must be >= 1. Got {runs} instead.")
    if warmup < 0:
        raise InputError(f"The 'warmup' parameter of profile must be >= 0. Got {warmup} instead.")
    if threads is not None and threads < 1:
        raise InputError(f"The 'threads' parameter of profile must be >= 1. Got {threads} instead.")


def time_nodes(model, *, runs: int = 20, warmup: int = 3, threads: int = 1, seed: int = 0,
               optimization: str = "disable") -> dict[str, np.ndarray]:
    """Run an ONNX model (path or ModelProto) ``warmup + runs`` times with ORT's profiler on the CPU.

    Returns, per node name, its kernel times of the ``runs`` timed runs in ms.
    Graph optimizations are off by default, so every node of the model runs as
    itself and its time can be given to its layer; ``optimization`` = basic,
    extended or all lets ORT fuse nodes (a fused node keeps the time of all it fused).
    Every graph input gets seeded random data (symbolic dimensions: 1).

    Parameters
    ----------
    model : str, pathlib.Path or onnx.ModelProto
        The ONNX model.
    runs : int, optional
        Timed runs.
    warmup : int, optional
        Untimed runs before them.
    threads : int, optional
        Intra-op threads.
    seed : int, optional
        Seed of the random inputs.
    optimization : str, optional
        ORT graph optimization level (``"disable"``, ``"basic"``, ``"extended"``, ``"all"``).

    Returns
    -------
    dict of str to numpy.ndarray
        Node name -> kernel time [ms] of each timed run (nodes with fewer than ``runs`` events left out).

    Raises
    ------
    InputError
        On an unknown ``optimization``, missing onnxruntime, or a model ORT cannot load.
    """
    import json
    import tempfile

    from mecopt.byo.measure import optimization_level

    ort = require_ort()
    level = optimization_level(ort, optimization)
    with tempfile.TemporaryDirectory(prefix="mecopt-ort-") as tmp:
        opts = ort.SessionOptions()
        opts.enable_profiling = True
        opts.profile_file_prefix = str(Path(tmp) / "profile")
        opts.graph_optimization_level = level
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.log_severity_level = 3
        source = str(model) if isinstance(model, str | Path) else model.SerializeToString()
        try:
            sess = ort.InferenceSession(source, opts, providers=["CPUExecutionProvider"])
        except Exception as err:
            raise InputError(f"ONNX Runtime cannot load the model: {str(err).strip().splitlines()[0]}") from None
        rng = np.random.default_rng(seed)
        feeds = {}
        for i in sess.get_inputs():
            shape = [d if isinstance(d, int) and d > 0 else 1 for d in i.shape]
            dtype = np.int64 if "int64" in i.type else np.float32
            feeds[i.name] = rng.standard_normal(shape).astype(dtype)
        for _ in range(warmup + runs):
            sess.run(None, feeds)
        path = sess.end_profiling()
        events = json.loads(Path(path).read_text())
    per_node: dict[str, list[float]] = {}
    for e in events:
        if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time"):
            per_node.setdefault(e["name"][: -len("_kernel_time")], []).append(e["dur"] * 1e-3)
    return {k: np.asarray(v[-runs:]) for k, v in per_node.items() if len(v) >= runs}


def layer_tables(name: str, table: dnn.LayerTable, node_layer: dict[str, int], node_ops: dict[str, dict],
            times: dict[str, np.ndarray], runs: int, threads: int) -> tuple[pd.DataFrame, pd.DataFrame, float]:
    """The per-layer table (sum of each layer's nodes, per run), the per-operator table and the unattributed ms.

    Parameters
    ----------
    name : str
        The network's name (column ``dnn``).
    table : mecopt.core.dnn.LayerTable
        Its layer table (sizes and factors).
    node_layer : dict of str to int
        Node -> layer (1..M); nodes not in it are unattributed.
    node_ops : dict of str to dict
        Operator node -> its ``type``, ``op`` and factors G, K, O, I.
    times : dict of str to numpy.ndarray
        Node -> time [ms] of each run.
    runs : int
        Number of runs (length of each array of ``times``).
    threads : int
        Threads recorded in the tables.

    Returns
    -------
    layers : pandas.DataFrame
        One row per layer, columns :data:`PROFILE_COLUMNS`.
    ops : pandas.DataFrame
        One row per operator, columns :data:`OP_COLUMNS` (NaN times for operators ORT fused into another node).
    unattributed_ms : float
        Median per-run time of the nodes given to no layer.
    """
    M = table.num_layers
    per_layer = np.zeros((runs, M))
    other = np.zeros(runs)
    for node, t in times.items():
        layer = node_layer.get(node)
        if layer is None:
            other += t
        else:
            per_layer[:, layer - 1] += t
    rows = table.frame.iloc[1:].reset_index(drop=True)
    layers = pd.DataFrame({
        "dnn": name, "layer": rows["layer"].astype(int), "name": rows["name"], "type": rows["type"],
        "C": rows["C"].astype(int), "H": rows["H"].astype(int), "W": rows["W"].astype(int),
        "out_elements": rows["out_elements"].astype(int),
        "G": rows["G"], "K": rows["K"], "O": rows["O"], "I": rows["I"], "runs": runs,
        **_stats(per_layer), "threads": threads})[list(PROFILE_COLUMNS)]
    op_rows = []
    # a node folded into an operator or making no layer of its own (a BatchNormalization or bias after a Conv,
    # a Flatten; under ORT's optimizations also the node a fusion is named after) counts for its layer's
    # operator when the layer has only one
    layer_op: dict[int, list[str]] = {}
    for node in node_ops:
        if node in node_layer:
            layer_op.setdefault(node_layer[node], []).append(node)
    times = dict(times)
    for node, t in list(times.items()):
        lay = node_layer.get(node)
        if node not in node_ops and lay is not None and len(layer_op.get(lay, [])) == 1:
            target = layer_op[lay][0]
            times[target] = times[target] + t if target in times else t
    for node, op in node_ops.items():
        if node not in node_layer:
            continue
        if node in times:
            st = {k: float(v[0]) for k, v in _stats(times[node][:, None]).items()}
        else:  # ORT fused this operator into another node of its layer: its time is in that node's row
            st = {k: float("nan") for k in _STATS}
        op_rows.append({"dnn": name, "layer": node_layer[node], "node": node, "op": op.get("op", ""),
                        "type": op["type"], "G": op["G"], "K": op["K"],
                        "O": op["O"], "I": op["I"], "runs": runs, **st, "threads": threads})
    ops = pd.DataFrame(op_rows, columns=list(OP_COLUMNS))
    return layers, ops, float(np.median(other))


def profile_onnx(path: str | Path, *, name: str | None = None, runs: int = 20, warmup: int = 3, threads: int = 1,
                 seed: int = 0, optimization: str = "all", input_shape=None, rounds: int = 3, cpu: int | None = None):
    """Profile an ONNX model file with ONNX Runtime: (import result, layer table, operator table, unattributed ms).

    The model is imported first (:func:`mecopt.byo.onnx_import.import_onnx`), which
    tells each node's layer and operator class; ORT then runs the model as it
    runs it by default (``optimization="all"``), timed by
    :func:`mecopt.byo.measure.measure` (every optimized node given to a layer;
    the whole-network figures, the share attributed, the end-to-end timing and
    the load are in ``layer_table.attrs["timing"]``).

    Parameters
    ----------
    path : str or pathlib.Path
        The ``.onnx`` file.
    name : str or None, optional
        Name of the imported spec (see :func:`mecopt.byo.onnx_import.import_onnx`).
    runs : int, optional
        Timed runs in all.
    warmup : int, optional
        Untimed runs per round.
    threads : int, optional
        Intra-op threads.
    seed : int, optional
        Seed of the random inputs.
    optimization : str, optional
        ORT graph optimization level.
    input_shape : tuple of int or None, optional
        (C, H, W) for a model whose input sizes are symbolic.
    rounds : int, optional
        Fresh sessions the runs are split into.
    cpu : int or None, optional
        CPU to pin the measurement to.

    Returns
    -------
    result : mecopt.byo.onnx_import.ImportResult
        The import.
    layers : pandas.DataFrame
        The layer table (``attrs["timing"]``: whole-network figures).
    ops : pandas.DataFrame
        The operator table.
    unattributed_ms : float
        Median per-run time given to no layer.

    Raises
    ------
    InputError
        On invalid counts, missing onnx/onnxruntime, or a model that cannot be imported or run.
    """
    from mecopt.byo.onnx_import import import_onnx, node_key, require_onnx
    _check_runs(runs, warmup, threads)
    require_ort()
    result = import_onnx(path, name=name, input_shape=input_shape)
    onnx = require_onnx()
    proto = onnx.load(str(path))
    for i, n in enumerate(proto.graph.node):  # ORT reports nodes by name: give unnamed ones the importer's key
        if not n.name:
            n.name = node_key("", i)
    if input_shape is not None:
        dims = proto.graph.input[0].type.tensor_type.shape.dim
        for d, v in zip(dims[1:], input_shape):
            d.Clear()
            d.dim_value = int(v)
    model = proto
    layers, ops, other = _measured_tables(result.spec.name, result.table, model, result.node_layer, result.node_ops,
                                          runs=runs, warmup=warmup, threads=threads, seed=seed,
                                          optimization=optimization, rounds=rounds, cpu=cpu)
    return result, layers, ops, other


def profile_spec_ort(spec: dnn.DNNSpec, *, runs: int = 20, warmup: int = 3, threads: int = 1, seed: int = 0,
                     grouped_conv: dnn.GroupedConv = "auto", optimization: str = "all", rounds: int = 3,
                     cpu: int | None = None, min_ms: float = 0.0):
    """Profile a spec with ONNX Runtime through :func:`spec_to_onnx`: (layer table, operator table, unattributed ms).

    As :func:`profile_onnx`: ``layer_table.attrs["timing"]`` holds the whole-network figures.

    Parameters
    ----------
    spec : mecopt.core.dnn.DNNSpec
        The DNN spec.
    runs : int, optional
        Timed runs in all.
    warmup : int, optional
        Untimed runs per round.
    threads : int, optional
        Intra-op threads.
    seed : int, optional
        Seed of the weights and inputs.
    grouped_conv : mecopt.core.dnn.GroupedConv, optional
        How grouped convolutions are sized.
    optimization : str, optional
        ORT graph optimization level.
    rounds : int, optional
        Fresh sessions the runs are split into.
    cpu : int or None, optional
        CPU to pin the measurement to.
    min_ms : float, optional
        End-to-end time [ms] to reach in all (see :func:`mecopt.byo.measure.measure`).

    Returns
    -------
    layers : pandas.DataFrame
        The layer table (``attrs["timing"]``: whole-network figures).
    ops : pandas.DataFrame
        The operator table.
    unattributed_ms : float
        Median per-run time given to no layer.

    Raises
    ------
    InputError
        On invalid counts, missing onnx/onnxruntime, or a graph ORT cannot run.
    """
    _check_runs(runs, warmup, threads)
    require_ort()
    table = dnn.propagate(spec, grouped_conv)
    model, node_layer, node_ops = spec_to_onnx(spec, grouped_conv, seed)
    return _measured_tables(spec.name, table, model, node_layer, node_ops, runs=runs, warmup=warmup, threads=threads,
                            seed=seed, optimization=optimization, rounds=rounds, cpu=cpu, min_ms=min_ms)


def _measured_tables(name, table, model, node_layer, node_ops, *, runs, warmup, threads, seed, optimization, rounds,
                     cpu, min_ms=0.0):
    """Measure with :func:`mecopt.byo.measure.measure` and build the layer and operator tables."""
    from mecopt.byo.measure import attribution, measure
    timing = measure(model, node_layer, runs=runs, warmup=warmup, rounds=rounds, threads=threads, seed=seed,
                     optimization=optimization, cpu=cpu, min_ms=min_ms)
    times = {**timing.node_times, "(not mapped)": timing.unmapped}
    layers, ops, other = layer_tables(name, table, node_layer, node_ops, times, timing.runs, threads)
    layers.attrs["timing"] = {**timing.summary(), **attribution(timing, node_layer), "nodes": timing.optimized_nodes}
    return layers, ops, other


_UNARY = {"Relu", "LeakyRelu", "Sigmoid", "Tanh", "Elu", "Selu", "Celu", "HardSigmoid", "HardSwish", "Softplus",
          "Softsign", "Mish", "Sqrt", "Exp", "Log", "Abs", "Neg", "Reciprocal", "Erf", "Clip"}
_BINARY = {"Add", "Sub", "Mul", "Div", "Sum", "Max", "Min", "Mean", "Pow", "PRelu"}


def spec_to_onnx(spec: dnn.DNNSpec, grouped_conv: dnn.GroupedConv = "auto", seed: int = 0):
    """An ONNX graph (opset 17, random weights from ``seed``) for profiling a spec: (model, node_layer, node_ops).

    Plain chain layers are built from their hyper-parameters and chained: ``conv`` ->
    Conv, ``pool`` -> MaxPool (Caffe's AlexNet/VGG pool by max), ``fc`` -> Flatten +
    Gemm, ``relu`` -> Relu, ``lrn`` -> LRN(5, 1e-4, 0.75, 1), ``softmax`` -> Softmax
    over the channels. Every other layer (a block, or a layer with explicit
    factors) gets one synthetic node per operator, built from its class and
    factors (G, K, O, I) so that it does the same work: a convolution with
    O·groups input and I output channels, kernel round(K), output side round(G);
    an fc or attention MatMul of round(G²) rows; a MaxPool of kernel round(K);
    element-wise and normalization operators (the ONNX operator named in the op
    when it has one input, else Relu / LayerNormalization; a BatchNormalization
    as itself, the per-channel affine ORT runs where it cannot fold it into a
    convolution) on G²·O elements.
    Such nodes read graph inputs of their own, and the next layer reads a graph
    input of the layer's output shape.

    Parameters
    ----------
    spec : mecopt.core.dnn.DNNSpec
        The DNN spec.
    grouped_conv : mecopt.core.dnn.GroupedConv, optional
        How grouped convolutions are sized.
    seed : int, optional
        Seed of the random weights.

    Returns
    -------
    model : onnx.ModelProto
        The graph (IR version 8).
    node_layer : dict of str to int
        Node name -> layer (1..M).
    node_ops : dict of str to dict
        Operator node -> its class and factors.
    """
    from mecopt.byo.onnx_import import require_onnx
    require_onnx()
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(seed)
    table = dnn.propagate(spec, grouped_conv)
    frame, ops = table.frame, table.op_frame()
    nodes, inits, inputs, outputs = [], [], [], []
    node_layer: dict[str, int] = {}
    node_ops: dict[str, dict] = {}

    def weight(name, *shape):
        inits.append(numpy_helper.from_array((rng.standard_normal(shape) * 0.05).astype(np.float32), name))
        return name

    def graph_input(name, shape):
        inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, [int(v) for v in shape]))
        return name

    def add(layer, op_type, ins, out, op_row=None, **attrs):
        name = f"{frame.at[layer, 'name']}/{len(nodes)}:{op_type}"
        nodes.append(helper.make_node(op_type, ins, [out], name=name, **attrs))
        node_layer[name] = layer
        if op_row is not None:
            node_ops[name] = op_row
        return out

    def synth(layer, r, tag):
        """One synthetic node doing the work of operator row r."""
        cls, op = r["type"], str(r["op"])
        G, K, O, I = (float(r[k]) for k in ("G", "K", "O", "I"))
        op_row = {"type": cls, "op": op, "G": G, "K": K, "O": O, "I": I}
        g = max(1, round(G))
        n = max(1, round(G * G))
        o, i_, k = max(1, round(O)), max(1, round(I)), max(1, round(K))
        out = f"{tag}.y"
        if cls in ("conv", "dwconv"):
            groups = i_ if cls == "dwconv" and o == 1 else 1
            x = graph_input(f"{tag}.x", (1, o * groups, g, g))
            w = weight(f"{tag}.w", i_, o, k, k)
            add(layer, "Conv", [x, w], out, op_row, kernel_shape=[k, k], group=groups,
                pads=[k // 2, k // 2, (k - 1) // 2, (k - 1) // 2])
        elif cls in ("fc", "attention"):
            x = graph_input(f"{tag}.x", (1, n, o))
            b = weight(f"{tag}.w", o, i_) if cls == "fc" else graph_input(f"{tag}.b", (1, o, i_))
            add(layer, "MatMul", [x, b], out, op_row)
        elif cls == "pool":
            x = graph_input(f"{tag}.x", (1, o, g * k, g * k))
            add(layer, "AveragePool" if "Average" in op or "Mean" in op else "MaxPool", [x], out, op_row,
                kernel_shape=[k, k], strides=[k, k])
        elif cls == "norm":
            if op in ("LRN", "lrn"):
                x = graph_input(f"{tag}.x", (1, o, n, 1))
                add(layer, "LRN", [x], out, op_row, size=5, alpha=1e-4, beta=0.75, bias=1.0)
            elif op == "BatchNormalization":  # at inference a per-channel affine (no reduction)
                x = graph_input(f"{tag}.x", (1, o, n))
                stats = [weight(f"{tag}.{v}", o) for v in ("s", "b", "m")]
                var = f"{tag}.v"
                inits.append(numpy_helper.from_array(np.ones(o, np.float32), var))
                add(layer, "BatchNormalization", [x, *stats, var], out, op_row)
            elif op in ("Softmax", "LogSoftmax", "softmax"):
                x = graph_input(f"{tag}.x", (1, n, o))
                add(layer, "Softmax", [x], out, op_row, axis=-1)
            else:
                x = graph_input(f"{tag}.x", (1, n, o))
                add(layer, "LayerNormalization", [x, weight(f"{tag}.s", o), weight(f"{tag}.b", o)], out, op_row,
                    axis=-1)
        else:  # element-wise and copies
            x = graph_input(f"{tag}.x", (1, o, n))
            if op in _BINARY:
                add(layer, "Mul" if op in ("PRelu", "Pow") else op if op != "Sum" else "Add",
                    [x, graph_input(f"{tag}.x2", (1, o, n))], out, op_row)
            elif op in _UNARY:
                add(layer, op, [x], out, op_row)
            else:  # Transpose, Concat, Slice, ... and relu-type layers: a copy / Relu of the same size
                add(layer, "Transpose" if op in ("Transpose", "Concat", "Split", "Slice", "Gather", "Pad",
                                                 "Expand", "Tile", "copy") else "Relu", [x], out, op_row,
                    **({"perm": [0, 2, 1]} if op in ("Transpose", "Concat", "Split", "Slice", "Gather", "Pad",
                                                      "Expand", "Tile", "copy") else {}))
        outputs.append(helper.make_tensor_value_info(out, TensorProto.FLOAT, None))

    C, H, W = spec.input.channels, spec.input.height, spec.input.width
    x = graph_input("x", (1, C, H, W))
    flat = False
    for i, layer in enumerate(spec.layers, start=1):
        prev, row = frame.iloc[i - 1], frame.iloc[i]
        c_in = int(prev.C)
        t = layer.type
        plain = layer.out_shape is None and layer.ops is None and all(
            v is None for v in (layer.G, layer.K, layer.O, layer.I))
        layer_ops = ops[ops["layer"] == i]
        op_row = None
        if len(layer_ops) == 1:
            r = layer_ops.iloc[0]
            op_row = {"type": r["type"], "op": str(r["op"]), "G": float(r["G"]), "K": float(r["K"]),
                      "O": float(r["O"]), "I": float(r["I"])}
        y = f"{layer.name}.y"
        if plain and t == "conv" and layer.out_channels and layer.kernel:
            k, p, s = layer.kernel, layer.pad, layer.stride
            w = weight(f"{layer.name}.w", layer.out_channels, c_in // layer.groups, k, k)
            x = add(i, "Conv", [x, w, weight(f"{layer.name}.b", layer.out_channels)], y, op_row,
                    kernel_shape=[k, k], strides=[s, s], pads=[p] * 4, group=layer.groups)
        elif plain and t == "pool" and layer.kernel:
            x = add(i, "MaxPool", [x], y, op_row, kernel_shape=[layer.kernel] * 2, strides=[layer.stride] * 2,
                    pads=[layer.pad] * 4, ceil_mode=int(layer.ceil_mode))
        elif plain and t == "fc" and layer.out_features:
            if not flat:
                x = add(i, "Flatten", [x], f"{layer.name}.flat")
            w = weight(f"{layer.name}.w", layer.out_features, int(prev.C * prev.H * prev.W))
            x = add(i, "Gemm", [x, w, weight(f"{layer.name}.b", layer.out_features)], y, op_row, transB=1)
        elif plain and t in ("relu", "lrn", "softmax"):
            op_type = {"relu": "Relu", "lrn": "LRN", "softmax": "Softmax"}[t]
            attrs = {"lrn": dict(size=5, alpha=1e-4, beta=0.75, bias=1.0), "softmax": dict(axis=1)}.get(t, {})
            x = add(i, op_type, [x], y, op_row, **attrs)
        else:  # a block or a layer with explicit factors: one synthetic node per operator
            for j, (_, r) in enumerate(layer_ops.iterrows()):
                synth(i, r, f"{layer.name}.{j}")
            x = graph_input(f"{layer.name}.out", (1, int(row.C), int(row.H), int(row.W)))
            flat = False
            continue
        flat = t == "fc"
    outputs.append(helper.make_tensor_value_info(x, TensorProto.FLOAT, None))
    graph = helper.make_graph(nodes, spec.name, inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model, node_layer, node_ops
