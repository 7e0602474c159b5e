"""A DNN's ONNX model cut at layer boundaries: head, tail and per-layer segments (issue 25, point 1).

A :class:`LayeredModel` is an ONNX model with the layer (1..M) of every node
(``node_layer``, as :func:`mecopt.byo.profiling.spec_to_onnx` and
:func:`mecopt.byo.onnx_import.import_onnx` give it). :func:`segment` extracts
the nodes of layers ``first..last`` as a model of their own with ONNX's own
tooling (``onnx.utils.Extractor``): its inputs are the tensors those nodes read
and do not write (the output of earlier layers, the network input, free inputs),
its outputs the tensors they write that later layers read or that the network
outputs. :func:`split` cuts at a partition point m* (eq. 18) into head (layers
1..m*, on the device) and tail (m*+1..M, on the server); :func:`check_split`
runs head then tail and the whole model on the same random input and compares
every output.

``boundary(m)`` names the tensors that carry layer m's output (what the device
uploads for m* = m): the tensors crossing from layers <= m to layers > m, plus
the layer's own output (:meth:`LayeredModel.layer_output`: the last tensor it
writes, or, in a graph built from a spec, the stand-in input ``<layer>.out``
that ``spec_to_onnx`` gives a ``block`` — a block's operators read inputs of
their own, so its work is real but its data are not the network's).
Every other graph input is *free*: generated (seeded by its name) where the
layer reading it runs, never sent.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from mecopt.core import dnn
from mecopt.core.errors import InputError


@dataclass
class LayeredModel:
    """An ONNX model whose nodes belong to layers 1..M.

    Attributes
    ----------
    name : str
        The DNN's name.
    model : onnx.ModelProto
        The whole model.
    node_layer : dict of str to int
        Node name -> layer 1..M.
    M : int
        Number of layers.
    carriers : dict of int to str
        Layer m -> a graph input standing for its output (``spec_to_onnx``'s ``<layer>.out`` after a block).
    """

    name: str
    model: object
    node_layer: dict[str, int]
    M: int
    carriers: dict[int, str] = field(default_factory=dict)

    @cached_property
    def _extractor(self):
        import onnx.shape_inference
        import onnx.utils
        # the extractor needs the type of every tensor it makes an input or output
        return onnx.utils.Extractor(onnx.shape_inference.infer_shapes(self.model))

    @cached_property
    def graph_inputs(self) -> dict[str, tuple[tuple[int, ...], str]]:
        """Non-initializer graph inputs: name -> (shape with symbolic sizes as 1, numpy dtype name)."""
        from onnx import helper
        inits = {t.name for t in self.model.graph.initializer}
        out = {}
        for vi in self.model.graph.input:
            if vi.name in inits:
                continue
            tt = vi.type.tensor_type
            shape = tuple(d.dim_value if d.dim_value > 0 else 1 for d in tt.shape.dim)
            out[vi.name] = (shape, np.dtype(helper.tensor_dtype_to_np_dtype(tt.elem_type)).name)
        return out

    @cached_property
    def _io(self):
        """Per layer: tensors read (not initializers) and written, in node order."""
        inits = {t.name for t in self.model.graph.initializer}
        reads: dict[int, list[str]] = {m: [] for m in range(1, self.M + 1)}
        writes: dict[int, list[str]] = {m: [] for m in range(1, self.M + 1)}
        for n in self.model.graph.node:
            m = self.node_layer[n.name]
            reads[m].extend(t for t in n.input if t and t not in inits)
            writes[m].extend(t for t in n.output if t)
        return reads, writes

    def layer_inputs(self, first: int, last: int) -> list[str]:
        """Tensors the nodes of layers first..last read and do not write themselves.

        Parameters
        ----------
        first, last : int
            The layer range (1-based, inclusive).

        Returns
        -------
        list of str
        """
        reads, writes = self._io
        inside = {t for m in range(first, last + 1) for t in writes[m]}
        return list(dict.fromkeys(t for m in range(first, last + 1) for t in reads[m] if t not in inside))

    def layer_outputs(self, first: int, last: int) -> list[str]:
        """Tensors layers first..last write that a later layer reads or the network outputs.

        Parameters
        ----------
        first, last : int
            The layer range (1-based, inclusive).

        Returns
        -------
        list of str
        """
        reads, writes = self._io
        later = {t for m in range(last + 1, self.M + 1) for t in reads[m]}
        outs = {o.name for o in self.model.graph.output}
        kept = [t for m in range(first, last + 1) for t in writes[m] if t in later or t in outs]
        own = self.layer_output(last)   # the last layer's own output, even where nothing reads it (before a block)
        return list(dict.fromkeys(kept + ([own] if own in writes[last] else [])))

    def layer_output(self, m: int) -> str:
        """The tensor that is layer m's output: its stand-in input if it has one, else the last tensor it writes.

        Parameters
        ----------
        m : int
            The layer 1..M.

        Returns
        -------
        str
        """
        if m in self.carriers:
            return self.carriers[m]
        return self._io[1][m][-1]

    def boundary(self, m: int) -> list[str]:
        """The tensors that carry layer m's output to layer m+1 (m = 0: the network input; m = M: its output).

        Parameters
        ----------
        m : int
            The partition point 0..M.

        Returns
        -------
        list of str
        """
        if m == 0:
            first = self.layer_inputs(1, self.M)
            real = [t for t in first if t in self.graph_inputs and t not in self.carriers.values()]
            return real[:1]
        if m == self.M:
            return [self.final_output]
        crossing = [t for t in self.layer_outputs(1, m) if t in set(self.layer_inputs(m + 1, self.M))]
        return list(dict.fromkeys(crossing + [self.layer_output(m)]))

    @property
    def final_output(self) -> str:
        """The network's result: its last graph output."""
        return self.model.graph.output[-1].name

    def free_inputs(self) -> set[str]:
        """Graph inputs that carry no layer's output: generated where they are read.

        Returns
        -------
        set of str
        """
        carried = set(self.boundary(0)) | set(self.carriers.values())
        return {t for t in self.graph_inputs if t not in carried}

    def segment(self, first: int, last: int):
        """Layers first..last as a model of their own (``onnx.utils.Extractor``).

        Parameters
        ----------
        first, last : int
            The layer range (1-based, inclusive, first <= last).

        Returns
        -------
        onnx.ModelProto
        """
        if not 1 <= first <= last <= self.M:
            raise InputError(f"{self.name}: layers {first}..{last} are not a range of 1..{self.M}")
        outputs = self.layer_outputs(first, last)
        if last == self.M and self.final_output not in outputs and self.final_output not in self.graph_inputs:
            outputs.append(self.final_output)
        return self._extractor.extract_model(self.layer_inputs(first, last), outputs)


def from_spec(spec: dnn.DNNSpec, grouped_conv: dnn.GroupedConv = "auto", seed: int = 0) -> LayeredModel:
    """The ONNX model :func:`mecopt.byo.profiling.spec_to_onnx` builds for a spec, with its layers.

    Parameters
    ----------
    spec : mecopt.core.dnn.DNNSpec
        The DNN spec (a catalog network or a spec file).
    grouped_conv : mecopt.core.dnn.GroupedConv, optional
        How grouped convolutions are sized (the instance's ``model.grouped_conv``).
    seed : int, optional
        Seed of the random weights.

    Returns
    -------
    LayeredModel
    """
    from mecopt.byo.profiling import spec_to_onnx
    model, node_layer, _ = spec_to_onnx(spec, grouped_conv, seed)
    inputs = {vi.name for vi in model.graph.input}
    carriers = {m: f"{layer.name}.out" for m, layer in enumerate(spec.layers, start=1)
                if f"{layer.name}.out" in inputs}
    return LayeredModel(spec.name, model, node_layer, len(spec.layers), carriers)


def from_onnx(path, name: str | None = None) -> LayeredModel:
    """A user's ONNX model, its nodes given to layers as ``mecopt import-onnx`` gives them.

    The layers are those of :func:`mecopt.byo.onnx_import.import_onnx` (branching
    regions collapsed into ``block`` layers), so a spec imported from the same
    file has the same M and the same partition points. Unnamed nodes are named
    ``#INDEX`` as the importer keys them.

    Parameters
    ----------
    path : str or pathlib.Path
        The ``.onnx`` file.
    name : str or None, optional
        The DNN's name (default: the importer's).

    Returns
    -------
    LayeredModel

    Raises
    ------
    InputError
        When the file cannot be read or imported, or a node is given to no layer.
    """
    from mecopt.byo.onnx_import import import_onnx, node_key, require_onnx
    require_onnx()
    import onnx
    result = import_onnx(path, name=name)
    try:
        model = onnx.load(str(path))
    except Exception as err:
        raise InputError(f"cannot read {path} as an ONNX model: {err}") from None
    for i, n in enumerate(model.graph.node):
        if not n.name:
            n.name = node_key(n.name, i)
    lost = [n.name for n in model.graph.node if n.name not in result.node_layer]
    if lost:
        raise InputError(f"{path}: node(s) given to no layer by the importer: {', '.join(lost[:10])}")
    return LayeredModel(result.spec.name, model, {n.name: result.node_layer[n.name] for n in model.graph.node},
                        len(result.spec.layers))


def free_value(name: str, shape: tuple[int, ...], dtype: str, seed: int = 0) -> np.ndarray:
    """The deterministic random value of a graph input (seeded by its name and ``seed``).

    Parameters
    ----------
    name : str
        The tensor's name.
    shape : tuple of int
        Its shape.
    dtype : str
        Its numpy dtype name.
    seed : int, optional
        Extra seed.

    Returns
    -------
    numpy.ndarray
    """
    rng = np.random.default_rng([zlib.crc32(name.encode()), seed])
    if np.dtype(dtype).kind in "iub":
        return rng.integers(0, 2, size=shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def split(lm: LayeredModel, m: int):
    """Head (layers 1..m) and tail (m+1..M) of the model; None for an empty side.

    Parameters
    ----------
    lm : LayeredModel
        The model.
    m : int
        The partition point m* (eq. 18), 0..M.

    Returns
    -------
    head, tail : onnx.ModelProto or None
    """
    if not 0 <= m <= lm.M:
        raise InputError(f"{lm.name}: partition point {m} is not in 0..{lm.M}")
    head = lm.segment(1, m) if m >= 1 else None
    tail = lm.segment(m + 1, lm.M) if m < lm.M else None
    return head, tail


def _run(model, feeds: dict) -> dict:
    import onnxruntime as ort
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    wanted = {i.name for i in sess.get_inputs()}
    return dict(zip(names, sess.run(names, {k: v for k, v in feeds.items() if k in wanted})))


def check_split(lm: LayeredModel, m: int, seed: int = 0) -> float:
    """Run head then tail and the whole model on one random input; the largest difference of any output.

    Parameters
    ----------
    lm : LayeredModel
        The model.
    m : int
        The partition point 0..M.
    seed : int, optional
        Seed of the input.

    Returns
    -------
    float
        max |split - whole| over every network output, relative to max(1, max |whole|).

    Raises
    ------
    InputError
        When head then tail differs from the whole model by more than 1e-4 (relative).
    """
    feeds = {name: free_value(name, shape, dtype, seed) for name, (shape, dtype) in lm.graph_inputs.items()}
    whole = _run(lm.model, feeds)
    head, tail = split(lm, m)
    got = dict(feeds)
    for part in (head, tail):
        if part is not None:
            got.update(_run(part, got))
    worst = 0.0
    for name, want in whole.items():
        if name not in got:
            raise InputError(f"{lm.name}: the split at layer {m} loses the output {name!r}")
        scale = max(1.0, float(np.max(np.abs(want))) if want.size else 1.0)
        worst = max(worst, float(np.max(np.abs(got[name].astype(np.float64) - want))) / scale if want.size else 0.0)
    if worst > 1e-4:
        raise InputError(f"{lm.name}: head then tail at layer {m} differs from the whole model by {worst:.3g}")
    return worst
