"""Run parts of a DNN with ONNX Runtime, one session per segment (a layer or a block of layers), timing each.

A *segment* is a range of layers ``(first, last)`` extracted as a model of its
own (:meth:`mecopt.byo.execution.split.LayeredModel.segment`). Whole blocks run
as one session, with every tensor crossing a layer boundary kept as an output
(:func:`mecopt.byo.measure.keep_boundaries`), so ORT fuses nodes only within a
layer: the conditions ``mecopt calibrate`` measured the delay sets in. Single
layers give every layer its own measured time. Sessions use the calibration's
options (:func:`mecopt.byo.measure.session_options`: the stated intra-op thread
count, one inter-op thread, sequential, no spinning). Tensors flow through
``env`` (name -> array); an input no earlier segment wrote and that was not
received is a free input, generated once, before any timing, by
:func:`mecopt.byo.execution.split.free_value`.
"""

from __future__ import annotations

import time

import numpy as np

from mecopt.byo.execution.split import free_value

Segment = tuple[int, int]


def segment_name(seg: Segment) -> str:
    """``"first-last"``: a segment's name in messages and tables.

    Parameters
    ----------
    seg : tuple of int
        (first, last) layer.

    Returns
    -------
    str
    """
    return f"{seg[0]}-{seg[1]}"


def parse_segment(name: str) -> Segment | None:
    """The (first, last) of a ``"first-last"`` name, None when it is not one.

    Parameters
    ----------
    name : str
        The name.

    Returns
    -------
    tuple of int or None
    """
    a, _, b = name.partition("-")
    if not (a.isdigit() and b.isdigit()) or not 1 <= int(a) <= int(b):
        return None
    return int(a), int(b)


def segment_model(lm, seg: Segment) -> bytes:
    """The serialized model of a segment of ``lm`` (layer boundaries kept as outputs inside a block).

    Parameters
    ----------
    lm : mecopt.byo.execution.split.LayeredModel
        The model.
    seg : tuple of int
        (first, last) layer.

    Returns
    -------
    bytes
    """
    from mecopt.byo.measure import keep_boundaries
    model = lm.segment(*seg)
    if seg[1] > seg[0]:
        model = keep_boundaries(model, {n.name: lm.node_layer[n.name] for n in model.graph.node})
    return model.SerializeToString()


class SegmentRunner:
    """Sessions for some segments of one DNN and the free inputs they read.

    Parameters
    ----------
    segments : dict of (int, int) to bytes
        (first, last) -> the serialized segment model.
    threads : int
        Intra-op threads of every session.
    optimization : str, optional
        ORT graph optimization level.
    seed : int, optional
        Seed of the free inputs.
    """

    def __init__(self, segments: dict[Segment, bytes], threads: int, optimization: str = "all", seed: int = 0):
        from mecopt.byo.measure import require_ort, session_options
        ort = require_ort()
        opts = session_options(ort, optimization, threads)
        self.threads = threads
        self.sessions = {seg: ort.InferenceSession(blob, opts, providers=["CPUExecutionProvider"])
                         for seg, blob in sorted(segments.items())}
        self.outputs = {seg: [o.name for o in s.get_outputs()] for seg, s in self.sessions.items()}
        self.free: dict[str, np.ndarray] = {}
        for s in self.sessions.values():
            for i in s.get_inputs():
                shape = tuple(d if isinstance(d, int) and d > 0 else 1 for d in i.shape)
                dtype = "int64" if "int64" in i.type else "float32"
                self.free.setdefault(i.name, free_value(i.name, shape, dtype, seed))

    @property
    def segments(self) -> list[Segment]:
        """The segments, in order."""
        return list(self.sessions)

    def run_segment(self, seg: Segment, env: dict[str, np.ndarray]) -> float:
        """Run one segment on ``env`` (its outputs are added to it); the seconds ``InferenceSession.run`` took.

        Parameters
        ----------
        seg : tuple of int
            (first, last) layer.
        env : dict of str to numpy.ndarray
            Tensors by name.

        Returns
        -------
        float
        """
        sess = self.sessions[seg]
        feeds = {i.name: env[i.name] if i.name in env else self.free[i.name] for i in sess.get_inputs()}
        t0 = time.perf_counter()
        out = sess.run(self.outputs[seg], feeds)
        dt = time.perf_counter() - t0
        env.update(zip(self.outputs[seg], out))
        return dt

    def run(self, segs: list[Segment], env: dict[str, np.ndarray]) -> dict[Segment, float]:
        """Run ``segs`` in order on ``env``; seconds per segment.

        Parameters
        ----------
        segs : list of (int, int)
            The segments.
        env : dict of str to numpy.ndarray
            Tensors by name (the received ones); the outputs are added.

        Returns
        -------
        dict of (int, int) to float
        """
        return {seg: self.run_segment(seg, env) for seg in segs}

    def time_alone(self, runs: int, warmup: int) -> dict[Segment, float]:
        """Median seconds of every segment over ``runs`` runs after ``warmup`` (inputs: the free values).

        Parameters
        ----------
        runs : int
            Timed runs (at least 1).
        warmup : int
            Untimed runs before.

        Returns
        -------
        dict of (int, int) to float
        """
        for _ in range(warmup):
            self.run(self.segments, {})
        times = [self.run(self.segments, {}) for _ in range(max(1, runs))]
        return {seg: float(np.median([t[seg] for t in times])) for seg in self.sessions}
