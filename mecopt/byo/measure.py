"""Time an ONNX model as ONNX Runtime runs it, and give every node's time to a layer (issue 20).

:func:`measure` times the graph ORT actually executes (graph optimizations at
ORT's default level, ``all``, unless told otherwise) with ORT's own profiler,
and attributes every node of the *optimized* graph to a node of the original
model, hence to a layer, even where ORT fused or renamed nodes:

1. Every tensor that crosses from one layer to another (a partition point) is
   kept as a graph output (:func:`keep_boundaries`), so no ORT fusion spans two
   layers (ORT never fuses away a node whose output is a graph output) and the
   layer boundaries survive optimization.
2. ORT writes the optimized graph (``SessionOptions.optimized_model_filepath``,
   weights stored apart), and :func:`map_to_original` maps each of its nodes to
   an original node: by name; else by the original tensor it writes (a fused
   ``Conv`` writes the fused ``Relu``'s output); else by the original tensor its
   name is derived from (ORT names an NCHWc convolution ``<output>_nchwc``);
   else by data flow (a layout ``ReorderInput`` belongs to the node that reads
   its output, a ``ReorderOutput`` to the node that wrote its input).

Timing on a shared machine: one intra-op and one inter-op thread, the
sequential executor, no spinning, the process pinned to one CPU (``cpu``, where
``os.sched_setaffinity`` exists; :func:`pin_cpu` picks one for a single thread);
the runs are taken in ``rounds``, each with a fresh profiled session and an
unprofiled twin made from the same bytes and options. After ``warmup`` runs of
each, the two take turns run by run (profiled-twin, twin-profiled, ...), so a
change of load hits both alike: the profiled runs give the per-node times (and
their own wall time, ``profiled``), the twin's runs the independent end-to-end
time (``time.perf_counter_ns`` around ``InferenceSession.run``, profiler off).
Medians are the statistic on both sides; the load average before and after
every round and the spread are returned with the times, and
:meth:`Timing.summary` separates what parts them: the profiler's own overhead
(profiled run / end to end) and the share of a profiled run spent in kernels.

The clock (``clock="cpu"``, the default for one thread): with one intra-op
thread ORT computes on the thread that calls ``run``, so that thread's CPU time
(``time.thread_time_ns``) around ``run`` is the run's time less the time other
jobs held the CPU. It is the end-to-end time. A profiled run's node times (ORT's
profiler measures kernels by the wall clock) are each multiplied by the run's
CPU time / wall time: a preemption lands in a kernel with a probability in
proportion to the kernel's length, so this removes the preempted time from each
node in expectation, and the per-run node sum stays comparable with the
twin's CPU time. On a quiet machine both clocks agree; on a loaded one the
wall-clock figures are also kept (``e2e_wall``, ``profiled_wall``).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mecopt.core.errors import InputError

#: ONNX Runtime's graph optimization levels by the names ``mecopt profile --optimization`` takes
LEVEL_NAMES = ("disable", "basic", "extended", "all")
#: ORT's own default level (``SessionOptions().graph_optimization_level``)
DEFAULT_OPTIMIZATION = "all"
#: the share of the measured total that must be attributed to layers
MIN_ATTRIBUTED = 0.99
#: the share of runs cut at each end for the trimmed means the profile total and the end-to-end time are compared by
TRIM = 0.1


@dataclass
class Timing:
    """What :func:`measure` returns. Times in ms; ``node_times`` per *original* node, one value per timed run.

    Attributes
    ----------
    node_times : dict of str to numpy.ndarray
        Per original node, ms per timed run (the optimized nodes mapped to it, summed).
    unmapped : numpy.ndarray
        ms per run of the optimized nodes mapped to no original node.
    total : numpy.ndarray
        ms per run: every node's kernel time (profiler on).
    e2e : numpy.ndarray
        ms per run: ``InferenceSession.run`` of the unprofiled twin session, end to end, on ``clock``.
    runs : int
        Timed runs in all.
    rounds : int
        Fresh sessions the runs were split into.
    threads : int
        Intra-op threads.
    optimization : str
        ORT graph optimization level.
    load : list of tuple of float
        Load averages (1, 5, 15 min) before the first round and after each.
    cpu : int or None
        CPU the measurement was pinned to.
    optimized_nodes : int
        Nodes of the optimized graph.
    original_nodes : int
        Nodes of the original graph.
    node_origin : dict of str to str or None
        Optimized node -> the original node it does the work of.
    profiled : numpy.ndarray
        ms per run: ``InferenceSession.run`` end to end of the profiled runs (profiler on); empty if not taken.
    clock : str
        ``"cpu"``: ``e2e`` and ``profiled`` are the calling thread's CPU time (one intra-op thread: ORT computes
        on the calling thread), and every node's time in a profiled run is its kernel's wall time times the run's
        CPU time / wall time (the share of the run the thread was on a CPU), so time spent preempted by other
        jobs is left out; ``"wall"``: wall-clock times throughout.
    e2e_wall, profiled_wall : numpy.ndarray
        ms per run, the wall-clock times of the twin's and the profiled runs.
    """

    node_times: dict[str, np.ndarray]     # original node -> ms per run (the optimized nodes mapped to it, summed)
    unmapped: np.ndarray                  # ms per run of optimized nodes mapped to no original node
    total: np.ndarray                     # ms per run: every node's kernel time
    e2e: np.ndarray                       # ms per run: InferenceSession.run, end to end, profiler off
    runs: int
    rounds: int
    threads: int
    optimization: str
    load: list[tuple[float, float, float]] = field(default_factory=list)  # before the first round, after each
    cpu: int | None = None
    optimized_nodes: int = 0
    original_nodes: int = 0
    node_origin: dict[str, str | None] = field(default_factory=dict)  # optimized node -> original node
    profiled: np.ndarray = field(default_factory=lambda: np.zeros(0))  # ms per profiled run, profiler on
    clock: str = "wall"                    # "cpu": the calling thread's CPU time; "wall": perf_counter
    e2e_wall: np.ndarray = field(default_factory=lambda: np.zeros(0))       # ms per twin run, wall clock
    profiled_wall: np.ndarray = field(default_factory=lambda: np.zeros(0))  # ms per profiled run, wall clock

    def summary(self) -> dict:
        """Whole-network figures: medians, spread, and the profile's total against the end-to-end timing.

        Returns
        -------
        dict
            Runs, rounds, threads, optimization; median, 10th and 90th percentile [ms] of the profile total and of
            the end-to-end time; their :data:`TRIM` trimmed means ``total_trimmed_ms`` and ``e2e_trimmed_ms`` and
            ``total_vs_e2e`` (trimmed total / trimmed e2e - 1: on the CPU clock a run's node times are unbiased
            but skewed, so the median of their sum is not; the trimmed mean is robust and nearly unbiased),
            ``median_vs_e2e`` (the same by medians); their spreads ``total_spread`` and
            ``e2e_spread`` (interquartile range / median); ``paired_vs_e2e``, the median over the runs of the
            profile total / the end-to-end time of the twin run taken next to it, - 1, and its ``paired_spread``;
            ``profiler_overhead`` (median time of a profiled
            run / e2e - 1) and ``kernel_share`` (median over the profiled runs of the kernels' sum / the run's
            time), NaN where the profiled runs were not timed; the ``clock``, the twin's median wall time
            ``e2e_wall_median_ms`` and ``on_cpu`` (median share of a twin run's wall time its thread ran, at most 1: the
            thread's CPU clock ticks more coarsely than the wall clock; cpu clock); load range, CPU and node counts.
        """
        from scipy.stats import trim_mean
        total, e2e = float(np.median(self.total)), float(np.median(self.e2e))
        total_trim, e2e_trim = float(trim_mean(self.total, TRIM)), float(trim_mean(self.e2e, TRIM))
        loads = [x[0] for x in self.load] or [float("nan")]

        def spread(x: np.ndarray) -> float:
            q25, q50, q75 = np.percentile(x, [25, 50, 75])
            return float((q75 - q25) / q50) if q50 > 0 else float("nan")

        timed = len(self.profiled) == len(self.total) and len(self.total) > 0
        overhead = float(np.median(self.profiled)) / e2e - 1.0 if timed and e2e > 0 else float("nan")
        share = float(np.median(self.total / np.where(self.profiled > 0, self.profiled, np.nan))) if timed \
            else float("nan")
        paired = self.total / np.where(self.e2e > 0, self.e2e, np.nan) if len(self.e2e) == len(self.total) \
            else np.full(1, np.nan)
        return {"runs": self.runs, "rounds": self.rounds, "threads": self.threads, "optimization": self.optimization,
                "total_median_ms": total, "total_p10_ms": float(np.percentile(self.total, 10)),
                "total_p90_ms": float(np.percentile(self.total, 90)),
                "e2e_median_ms": e2e, "e2e_p10_ms": float(np.percentile(self.e2e, 10)),
                "e2e_p90_ms": float(np.percentile(self.e2e, 90)),
                "total_trimmed_ms": total_trim, "e2e_trimmed_ms": e2e_trim,
                "total_vs_e2e": total_trim / e2e_trim - 1.0 if e2e_trim > 0 else float("nan"),
                "median_vs_e2e": total / e2e - 1.0 if e2e > 0 else float("nan"),
                "total_spread": spread(self.total), "e2e_spread": spread(self.e2e),
                "paired_vs_e2e": float(np.nanmedian(paired)) - 1.0, "paired_spread": spread(paired),
                "clock": self.clock,
                "e2e_wall_median_ms": float(np.median(self.e2e_wall)) if len(self.e2e_wall) else float("nan"),
                "on_cpu": float(np.median(np.minimum(self.e2e / self.e2e_wall, 1.0))) if self.clock == "cpu" and
                len(self.e2e_wall) == len(self.e2e) and len(self.e2e) and (self.e2e_wall > 0).all()
                else float("nan"),
                "profiler_overhead": overhead, "kernel_share": share,
                "load_min": float(min(loads)), "load_max": float(max(loads)), "cpu": self.cpu,
                "optimized_nodes": self.optimized_nodes, "original_nodes": self.original_nodes}


def pin_cpu(threads: int) -> int | None:
    """The CPU a measurement with ``threads`` intra-op threads is pinned to by default.

    One thread: the highest-numbered CPU this process may run on (Linux, ``os.sched_getaffinity``), so the
    scheduler cannot move the measurement between CPUs mid-run; more threads, or no affinity API: None (not
    pinned).

    Parameters
    ----------
    threads : int
        Intra-op threads of the measurement.

    Returns
    -------
    int or None
        The CPU, or None.
    """
    if threads != 1 or not hasattr(os, "sched_getaffinity"):
        return None
    return max(os.sched_getaffinity(0))


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


def optimization_level(ort, optimization: str):
    """ONNX Runtime's graph optimization level for ``optimization`` (InputError naming the choices).

    Parameters
    ----------
    ort : module
        The imported ``onnxruntime``.
    optimization : {"disable", "basic", "extended", "all"}
        The level's name, as the ``--optimization`` option takes it.

    Returns
    -------
    onnxruntime.GraphOptimizationLevel
    """
    levels = {"disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
              "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
              "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
              "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}
    if optimization not in levels:
        raise InputError(f"The 'optimization' option must be one of {', '.join(levels)}. Got {optimization!r} instead.")
    return levels[optimization]


def keep_boundaries(model, node_layer: dict[str, int]):
    """A copy of ``model`` whose every tensor written in one layer and read in another is also a graph output.

    Parameters
    ----------
    model : onnx.ModelProto
        The model (not modified).
    node_layer : dict of str to int
        Original node name -> layer.

    Returns
    -------
    onnx.ModelProto
        The copy, with the layer-crossing tensors added as graph outputs (so ORT cannot fuse across layers).
    """
    import onnx
    from onnx import helper
    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph
    producer_layer = {}
    for n in g.node:
        for t in n.output:
            producer_layer[t] = node_layer.get(n.name)
    have = {o.name for o in g.output}
    wanted = []
    for n in g.node:
        mine = node_layer.get(n.name)
        for t in n.input:
            src = producer_layer.get(t)
            if t and t not in have and src is not None and mine is not None and src != mine:
                wanted.append(t)
                have.add(t)
    elem = {vi.name: vi.type.tensor_type.elem_type for vi in list(g.value_info) + list(g.input) + list(g.output)}
    for t in wanted:  # element type as inferred where known, else float (all activations of the catalog)
        g.output.append(helper.make_tensor_value_info(t, elem.get(t) or onnx.TensorProto.FLOAT, None))
    return m


def map_to_original(optimized_nodes, original_nodes) -> dict[str, str | None]:
    """Each node of the optimized graph (``onnx.NodeProto`` list) -> the original node it does the work of, or None.

    Rules in order: the same name; the original tensor it writes (the last one in the
    original order, so a fused Conv+Relu goes to the Relu's node — within one layer,
    since :func:`keep_boundaries` stops fusion across layers); an original tensor or
    node its name is derived from (``<name>_nchwc``, ``<name>_token_...``); else data
    flow, repeated until nothing changes: the original node of a node reading its
    output (a layout reorder before a convolution), else of the node writing its input.

    Parameters
    ----------
    optimized_nodes : sequence of onnx.NodeProto
        The nodes of the optimized graph.
    original_nodes : sequence of onnx.NodeProto
        The nodes of the original graph, in order.

    Returns
    -------
    dict of str to str or None
        Optimized node name -> original node name, or None where no rule applies.
    """
    orig_names = {n.name for n in original_nodes}
    by_orig = {n.name: n for n in original_nodes}
    order = {n.name: i for i, n in enumerate(original_nodes)}
    writer = {}
    for n in original_nodes:
        for t in n.output:
            writer[t] = n.name
    origin: dict[str, str | None] = {}
    for n in optimized_nodes:
        o = None
        if n.name in orig_names:
            o = n.name
        else:
            hits = [writer[t] for t in n.output if t in writer]
            if hits:
                o = max(hits, key=order.get)
            else:
                stem = n.name
                for suffix in ("_nchwc",):
                    if stem.endswith(suffix):
                        stem = stem[: -len(suffix)]
                if stem in writer:
                    o = writer[stem]
                elif stem in orig_names:
                    o = stem
            if o is not None:
                o = _fused_head(o, n.op_type, by_orig, writer)
        origin[n.name] = o
    readers: dict[str, list[str]] = {}
    writer_opt = {}
    for n in optimized_nodes:
        for t in n.input:
            readers.setdefault(t, []).append(n.name)
        for t in n.output:
            writer_opt[t] = n.name
    by_name = {n.name: n for n in optimized_nodes}
    def sweep(direction: str) -> bool:
        changed = False
        for name, o in origin.items():
            if o is not None:
                continue
            n = by_name[name]
            if direction == "down":
                got = [origin[r] for t in n.output for r in readers.get(t, []) if origin.get(r) is not None]
                pick = min
            else:
                got = [origin[writer_opt[t]] for t in n.input
                       if t in writer_opt and origin.get(writer_opt[t]) is not None]
                pick = max
            if got:
                origin[name] = pick(got, key=order.get)
                changed = True
                if direction == "up":  # one at a time: what reads it may now resolve downstream first
                    return True
        return changed

    while sweep("down") or sweep("up"):
        pass
    return origin


def _fused_head(name: str, op_type: str, by_orig: dict, writer: dict) -> str:
    """The node a fusion is built on.

    From the original node ``name`` (which wrote the fused node's output, e.g. a BatchNormalization or Relu folded into
    a Conv), up its first input while the op types differ, to an original node whose op type the fused node's contains
    (Conv in FusedConv, Gemm in FusedGemm); else ``name``.
    """
    node, seen = by_orig.get(name), 0
    while node is not None and seen < 8:
        if node.op_type and node.op_type in op_type:
            return node.name
        up = writer.get(node.input[0]) if node.input else None
        node, seen = by_orig.get(up) if up else None, seen + 1
    return name


def _match_unnamed(origin: dict[str, str | None], opt_nodes, per_node: dict) -> None:
    """Give the profiled nodes ORT names ``OPTYPE_INDEX``.

    (nodes it made unnamed, e.g. by inlining a function such as HardSwish) the origin of the unnamed nodes of that type
    in the optimized graph: the common one when all agree, else one by one in index order against the graph's order (ORT
    numbers new nodes as it makes them).
    """
    unknown: dict[str, list[tuple[int, str]]] = {}
    for name in per_node:
        if name in origin:
            continue
        op, _, idx = name.rpartition("_")
        if op and idx.isdigit():
            unknown.setdefault(op, []).append((int(idx), name))
    for op, names in unknown.items():
        cands = [origin.get(n.name) for n in opt_nodes if n.name.startswith("#") and n.op_type == op]
        if not cands:
            continue
        if len(set(cands)) == 1:
            for _, name in names:
                origin[name] = cands[0]
        elif len(cands) == len(names):
            for (_, name), o in zip(sorted(names), cands):
                origin[name] = o


def _feeds(sess, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    feeds = {}
    for i in sess.get_inputs():
        shape = [d if isinstance(d, int) and d > 0 else 1 for d in i.shape]
        dtype = np.int64 if "int64" in i.type else np.float32
        feeds[i.name] = rng.standard_normal(shape).astype(dtype)
    return feeds


def session_options(ort, optimization: str, threads: int, tmp: Path | None = None, profile: bool = False,
                    save_optimized: bool = False):
    """The session options of every measurement: pinned thread counts, sequential, no spinning.

    Parameters
    ----------
    ort : module
        The imported ``onnxruntime``.
    optimization : str
        Graph optimization level (``"disable"``, ``"basic"``, ``"extended"``, ``"all"``).
    threads : int
        Intra-op threads (inter-op is 1).
    tmp : pathlib.Path or None, optional
        Folder for the profile and the optimized model; needed when ``profile`` or ``save_optimized``.
    profile : bool, optional
        Turn ORT's profiler on (files ``tmp/profile*``).
    save_optimized : bool, optional
        Write the optimized model to ``tmp/optimized.onnx`` (large initializers to ``optimized.data``).

    Returns
    -------
    onnxruntime.SessionOptions

    Raises
    ------
    InputError
        If ``optimization`` is not a known level.
    """
    opts = ort.SessionOptions()
    opts.graph_optimization_level = optimization_level(ort, optimization)
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.log_severity_level = 3
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
    if profile:
        opts.enable_profiling = True
        opts.profile_file_prefix = str(tmp / "profile")
    if save_optimized:
        opts.optimized_model_filepath = str(tmp / "optimized.onnx")
        opts.add_session_config_entry("session.optimized_model_external_initializers_file_name", "optimized.data")
        opts.add_session_config_entry("session.optimized_model_external_initializers_min_size_in_bytes", "1024")
    return opts


def measure(model, node_layer: dict[str, int], *, runs: int = 30, warmup: int = 3, rounds: int = 3,
            threads: int = 1, seed: int = 0, optimization: str = DEFAULT_OPTIMIZATION, boundaries: bool = True,
            cpu: int | None = None, min_ms: float = 0.0, max_runs: int = 2000,
            origin: dict[str, str | None] | None = None, clock: str | None = None) -> Timing:
    """Profile ``model`` (ModelProto, nodes named; ``node_layer``: original node -> layer) as ORT runs it.

    ``runs`` timed runs in total, split into ``rounds`` fresh sessions (each after
    ``warmup`` untimed runs), each profiled run taking turns with a run of the
    session's unprofiled twin, timed end to end (module docstring).
    With ``min_ms``, the rounds after the first take more runs (up to ``max_runs`` in
    all) until the timed runs add up to about ``min_ms`` of end-to-end time, so that
    a light network is measured over as long a stretch of the machine's load as a heavy one.
    ``origin`` (the ``node_origin`` of an earlier measurement of the same model and
    options) skips writing and mapping the optimized graph again.

    Parameters
    ----------
    model : onnx.ModelProto
        The model, every node named.
    node_layer : dict of str to int
        Original node name -> layer.
    runs : int, optional
        Timed runs in all (at least 1).
    warmup : int, optional
        Untimed runs per round.
    rounds : int, optional
        Fresh sessions the runs are split into.
    threads : int, optional
        Intra-op threads.
    seed : int, optional
        Seed of the random inputs.
    optimization : str, optional
        ORT graph optimization level.
    boundaries : bool, optional
        Keep layer boundaries (:func:`keep_boundaries`) so ORT fuses nodes only within a layer.
    cpu : int or None, optional
        Pin the process to this CPU while measuring (Linux).
    min_ms : float, optional
        End-to-end time [ms] to reach in all; 0 for exactly ``runs`` runs.
    max_runs : int, optional
        Cap on the timed runs when ``min_ms`` is given.
    origin : dict or None, optional
        The ``node_origin`` of an earlier measurement of the same model and options.
    clock : {"cpu", "wall"} or None, optional
        What a run's time is (module docstring); None: ``"cpu"`` for one thread, else ``"wall"``.

    Returns
    -------
    Timing
        Per-node, total and end-to-end times per run [ms] and how they were taken.

    Raises
    ------
    InputError
        On invalid counts, an unavailable CPU or no CPU pinning, missing onnxruntime, or a model ORT cannot load.
    """
    import onnx
    ort = require_ort()
    if runs < 1 or warmup < 0 or threads < 1 or rounds < 1:
        raise InputError(f"measure needs runs >= 1, warmup >= 0, rounds >= 1 and threads >= 1; got runs {runs}, "
                         f"warmup {warmup}, rounds {rounds}, threads {threads}")
    if clock is None:
        clock = "cpu" if threads == 1 else "wall"
    if clock not in ("cpu", "wall"):
        raise InputError(f"The 'clock' parameter must be 'cpu' or 'wall'. Got {clock!r} instead.")
    rounds = min(rounds, runs)
    per_round = [len(a) for a in np.array_split(np.arange(runs), rounds)]
    if boundaries and optimization != "disable":
        model = keep_boundaries(model, node_layer)
    source = model.SerializeToString()
    original = list(model.graph.node)
    previous_affinity = None
    if cpu is not None:
        if not hasattr(os, "sched_setaffinity"):
            raise InputError("pinning to a CPU needs os.sched_setaffinity (Linux)")
        previous_affinity = os.sched_getaffinity(0)
        if cpu not in previous_affinity:
            raise InputError(f"CPU {cpu} is not available to this process; available: {sorted(previous_affinity)}")
        os.sched_setaffinity(0, {cpu})
    load = [os.getloadavg()] if hasattr(os, "getloadavg") else []
    node_runs: dict[str, list[np.ndarray]] = {}
    totals, e2e, profiled, e2e_wall, profiled_wall = [], [], [], [], []
    known = origin is not None
    origin = dict(origin) if known else {}
    optimized_count = 0
    opt_nodes = []
    try:
        for k in range(rounds):
            if k == 1 and min_ms > 0 and rounds > 1:
                want = int(np.ceil(min_ms / max(float(np.median(e2e)), 1e-6)))
                extra = min(max(want, runs), max_runs) - per_round[0]
                if extra > sum(per_round[1:]):
                    per_round = per_round[:1] + [len(a) for a in np.array_split(np.arange(extra), rounds - 1)]
            n_runs = per_round[k]
            with tempfile.TemporaryDirectory(prefix="mecopt-ort-") as tmpdir:
                tmp = Path(tmpdir)
                opts = session_options(ort, optimization, threads, tmp, profile=True,
                                       save_optimized=(k == 0 and not known))
                try:
                    sess = ort.InferenceSession(source, opts, providers=["CPUExecutionProvider"])
                    twin = ort.InferenceSession(source, session_options(ort, optimization, threads),
                                                providers=["CPUExecutionProvider"])
                except Exception as err:  # noqa: BLE001 - ORT raises its own types
                    raise InputError(f"ONNX Runtime cannot load the model: {str(err).strip().splitlines()[0]}") \
                        from None
                if k == 0 and not known:
                    opt = onnx.load(str(tmp / "optimized.onnx"), load_external_data=False)
                    opt_nodes = list(opt.graph.node)
                    for i, n in enumerate(opt_nodes):  # ORT leaves the nodes it creates by inlining unnamed
                        if not n.name:
                            n.name = f"#{i}"
                    origin = map_to_original(opt_nodes, original)
                    optimized_count = len(opt_nodes)
                    del opt
                feeds = _feeds(sess, seed)
                for _ in range(warmup):
                    sess.run(None, feeds)
                    twin.run(None, feeds)
                on_cpu = []  # per profiled run: the share of its wall time the thread ran
                for i in range(n_runs):  # in turns, the order alternating: profiled and twin see the same load
                    for which in ((sess, twin) if i % 2 == 0 else (twin, sess)):
                        c0, t0 = time.thread_time_ns(), time.perf_counter_ns()
                        which.run(None, feeds)
                        wall, used = (time.perf_counter_ns() - t0) * 1e-6, (time.thread_time_ns() - c0) * 1e-6
                        (profiled_wall if which is sess else e2e_wall).append(wall)
                        (profiled if which is sess else e2e).append(used if clock == "cpu" else wall)
                        if which is sess:
                            on_cpu.append(min(1.0, used / wall) if clock == "cpu" and wall > 0 else 1.0)
                events = json.loads(Path(sess.end_profiling()).read_text())
                del sess, twin
            per_node: dict[str, list[float]] = {}
            for e in events:
                if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time"):
                    per_node.setdefault(e["name"][: -len("_kernel_time")], []).append(e["dur"] * 1e-3)
            if k == 0 and not known:
                _match_unnamed(origin, opt_nodes, per_node)
            round_total = np.zeros(n_runs)
            for node, v in per_node.items():
                if len(v) < n_runs:
                    continue
                t = np.asarray(v[-n_runs:]) * np.asarray(on_cpu)  # (cpu clock: less the time preempted)
                round_total += t
                key = origin.get(node, node)
                node_runs.setdefault(key if key is not None else "", []).append((k, t))
            totals.append(round_total)
            if hasattr(os, "getloadavg"):
                load.append(os.getloadavg())
    finally:
        if previous_affinity is not None:
            os.sched_setaffinity(0, previous_affinity)
    node_times: dict[str, np.ndarray] = {}
    for node, parts in node_runs.items():
        merged = [np.zeros(n) for n in per_round]
        for k, t in parts:
            merged[k] += t
        node_times[node] = np.concatenate(merged)
    unmapped = node_times.pop("", np.zeros(sum(per_round)))
    return Timing(node_times=node_times, unmapped=unmapped, total=np.concatenate(totals), e2e=np.asarray(e2e),
                  runs=sum(per_round), rounds=len(per_round), threads=threads, optimization=optimization, load=load,
                  cpu=cpu,
                  optimized_nodes=optimized_count or len({n for n in origin if not n.startswith("#")}) or len(original),
                  original_nodes=len(original), node_origin=origin, profiled=np.asarray(profiled), clock=clock,
                  e2e_wall=np.asarray(e2e_wall), profiled_wall=np.asarray(profiled_wall))


def attribution(timing: Timing, node_layer: dict[str, int]) -> dict:
    """How much of the measured total went to layers: medians in ms and the share (per-run sums, then medians).

    Parameters
    ----------
    timing : Timing
        A measurement.
    node_layer : dict of str to int
        Original node name -> layer; nodes not in it are not attributed.

    Returns
    -------
    dict
        ``attributed_ms``, ``total_ms``, ``outside_ms`` (medians) and ``share`` (attributed / total, 1 if the
        total is 0).
    """
    attributed = np.zeros(timing.runs)
    for node, t in timing.node_times.items():
        if node in node_layer:
            attributed += t
    total = float(np.median(timing.total))
    got = float(np.median(attributed))
    return {"attributed_ms": got, "total_ms": total, "outside_ms": total - got,
            "share": got / total if total > 0 else 1.0}


def merge(timings: list[Timing]) -> Timing:
    """One :class:`Timing` of several measurements of the same model (e.g. rounds taken in turn with other models).

    Parameters
    ----------
    timings : list of Timing
        Measurements of the same model and options (at least one); settings and node origins come from the first.

    Returns
    -------
    Timing
        The runs of all, concatenated.
    """
    first = timings[0]
    nodes = dict.fromkeys(n for t in timings for n in t.node_times)
    node_times = {n: np.concatenate([t.node_times.get(n, np.zeros(t.runs)) for t in timings]) for n in nodes}
    load = [first.load[0]] if first.load else []
    for t in timings:
        load += t.load[1:]
    return Timing(node_times=node_times, unmapped=np.concatenate([t.unmapped for t in timings]),
                  total=np.concatenate([t.total for t in timings]), e2e=np.concatenate([t.e2e for t in timings]),
                  runs=sum(t.runs for t in timings), rounds=sum(t.rounds for t in timings), threads=first.threads,
                  optimization=first.optimization, load=load, cpu=first.cpu, optimized_nodes=first.optimized_nodes,
                  original_nodes=first.original_nodes, node_origin=first.node_origin,
                  profiled=np.concatenate([t.profiled for t in timings]), clock=first.clock,
                  e2e_wall=np.concatenate([t.e2e_wall for t in timings]),
                  profiled_wall=np.concatenate([t.profiled_wall for t in timings]))
