"""Run a range of a DNN's layers one layer at a time with ONNX Runtime, timing each (issue 25).

Each layer is its own session (:meth:`mecopt.byo.execution.split.LayeredModel.segment`),
so every layer gets its own measured time and no fusion spans two layers, as in
the calibration (:func:`mecopt.byo.measure.keep_boundaries`). Sessions use the
calibration's options (:func:`mecopt.byo.measure.session_options`: the stated
intra-op thread count, one inter-op thread, sequential, no spinning). Tensors
flow through ``env`` (name -> array); an input that no earlier layer wrote and
that was not received is a free input, generated once, before any timing, by
:func:`mecopt.byo.execution.split.free_value`.
"""

from __future__ import annotations

import time

import numpy as np

from mecopt.byo.execution.split import free_value


class LayerRunner:
    """Sessions for some layers of one DNN and the free inputs they read.

    Parameters
    ----------
    segments : dict of int to bytes
        Layer m -> its serialized one-layer ONNX model.
    threads : int
        Intra-op threads of every session.
    optimization : str, optional
        ORT graph optimization level.
    seed : int, optional
        Seed of the free inputs.
    """

    def __init__(self, segments: dict[int, bytes], threads: int, optimization: str = "all", seed: int = 0):
        from mecopt.byo.measure import require_ort, session_options
        ort = require_ort()
        opts = session_options(ort, optimization, threads)
        self.threads = threads
        self.sessions = {m: ort.InferenceSession(blob, opts, providers=["CPUExecutionProvider"])
                         for m, blob in sorted(segments.items())}
        self.outputs = {m: [o.name for o in s.get_outputs()] for m, s in self.sessions.items()}
        self.free: dict[str, np.ndarray] = {}
        for s in self.sessions.values():
            for i in s.get_inputs():
                shape = tuple(d if isinstance(d, int) and d > 0 else 1 for d in i.shape)
                dtype = "int64" if "int64" in i.type else "float32"
                self.free.setdefault(i.name, free_value(i.name, shape, dtype, seed))

    @property
    def layers(self) -> list[int]:
        """The layers, in order."""
        return list(self.sessions)

    def run_layer(self, m: int, env: dict[str, np.ndarray]) -> float:
        """Run layer ``m`` on ``env`` (its outputs are added to it); the seconds ``InferenceSession.run`` took.

        Parameters
        ----------
        m : int
            The layer.
        env : dict of str to numpy.ndarray
            Tensors by name.

        Returns
        -------
        float
        """
        sess = self.sessions[m]
        feeds = {i.name: env[i.name] if i.name in env else self.free[i.name] for i in sess.get_inputs()}
        t0 = time.perf_counter()
        out = sess.run(self.outputs[m], feeds)
        dt = time.perf_counter() - t0
        env.update(zip(self.outputs[m], out))
        return dt

    def run(self, env: dict[str, np.ndarray]) -> dict[int, float]:
        """Run every layer in order on ``env``; seconds per layer.

        Parameters
        ----------
        env : dict of str to numpy.ndarray
            Tensors by name (the received ones); the outputs are added.

        Returns
        -------
        dict of int to float
        """
        return {m: self.run_layer(m, env) for m in self.sessions}

    def time_alone(self, runs: int, warmup: int) -> tuple[dict[int, float], list[float]]:
        """Per-layer median seconds over ``runs`` runs after ``warmup`` (inputs: the free values), and run totals.

        Parameters
        ----------
        runs : int
            Timed runs (at least 1).
        warmup : int
            Untimed runs before.

        Returns
        -------
        per_layer : dict of int to float
            Median seconds of each layer.
        totals : list of float
            Seconds of each timed run (the sum over its layers).
        """
        for _ in range(warmup):
            self.run({})
        times = [self.run({}) for _ in range(max(1, runs))]
        per_layer = {m: float(np.median([t[m] for t in times])) for m in self.sessions}
        return per_layer, [float(sum(t.values())) for t in times]
