"""Import an ONNX model as a DNN spec (``models/dnn/*.toml``) for the chain model of §2.1.

The importer reads the model without its weights (only their shapes; see
:func:`load_light`), runs ONNX shape inference, follows the data flow from the
single graph input to the single graph output and turns it into a chain of the
layer types of :mod:`mecopt.core.dnn`. The spec it writes re-propagates to the
shapes ONNX inferred; :func:`import_onnx` checks this before returning.

Every data node becomes an *operator* with a delay class and its own factors
G, K, O, I (docs/byo-dnn.md has the full table):

=========================================  ==========  =============================================
ONNX operators                             class       factors (G²K²OI = multiply-adds where there are any)
=========================================  ==========  =============================================
Conv                                       conv /      G = output side, K = kernel, O = input channels
                                           dwconv      per group, I = output channels (``groups`` kept)
Gemm; MatMul by a constant weight          fc          G = √rows (1 for a vector), K = 1, O = in, I = out features
MatMul of two activations (attention)      attention   G = √(batch·M), K = 1, O = inner size, I = N
MaxPool, AveragePool, LpPool, Global*Pool, pool        G = output side, K = √(input/output elements per
ReduceMean/Max/Min/Sum/L2                              channel), O = channels, I = 1
Relu and other activations, Gelu, Erf,     eltwise     G²·O = output elements (G = side, O = channels;
Add/Sub/Mul/Div/Pow/Sum/Max/Min/Mean                   tokens (T, F): G = √T, O = F), K = I = 1
Transpose, Concat, Split, Slice, Gather,   eltwise     as element-wise, over the elements written (a copy)
Pad, Expand, Tile
LRN, LayerNormalization, Group/Instance-   norm        as element-wise
Normalization, BatchNormalization,
Softmax, LogSoftmax (any axis)
Flatten, Reshape, Squeeze, Unsqueeze,      —           no operator (a view, or an identical copy)
Dropout, Identity, and identity copies
=========================================  ==========  =============================================

A BatchNormalization, or an Add/Sub/Mul/Div by a constant, right after a Conv or
fc is folded into it (inference-time fusion).

Branches
--------
A partition point of the paper is a place where **one** tensor crosses from the
layers before to the layers after. The importer finds every such place along a
topological order of the data-flow nodes. Between two consecutive crossing
points there is either one node (a layer of its own) or a branching region
(residual Add, Inception Concat, attention, ...). With ``branches="collapse"``
(default) a region becomes one ``block`` layer with an explicit ``out_shape``
and the list of its operators (``ops``), each with its own class and factors,
so its predicted delay is the sum of what its operators would get as separate
layers. An element-wise activation applied to a block's output joins the block
(PyTorch computes it in place: both points would carry the same tensor), and
nodes that only make an identical copy (Identity, Dropout, a 1×1 pool with
stride 1, a one-input Concat, a Slice of everything) make no layer, so no two
partition points carry the same tensor. With ``branches="refuse"`` the import
stops with the nodes that fork and merge.

Every problem of a model (unknown operators, tensors without a shape, operators
used in a way that has no layer type) is reported in one :class:`InputError`.
Imported specs declare ``grouped_conv = "per_group"``: their grouped and
depthwise convolutions count C_in/groups (MACs-consistent, MODEL.md §1).

``onnx`` is an optional dependency (``pip install 'mecopt[onnx]'``), imported
only when a model is read.
"""

from __future__ import annotations

import math
import mmap
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from mecopt.core import dnn
from mecopt.core.errors import InputError

Branches = Literal["collapse", "refuse"]

SKIP_OPS = frozenset({"Dropout", "Identity"})
LAYOUT_OPS = frozenset({"Flatten", "Reshape", "Squeeze", "Unsqueeze"})
ACTIVATION_OPS = frozenset({
    "Relu", "LeakyRelu", "PRelu", "Sigmoid", "Tanh", "Clip", "Elu", "Selu", "Celu", "HardSigmoid",
    "HardSwish", "Softplus", "Softsign", "Gelu", "Mish", "ThresholdedRelu",
    "Pow", "Sqrt", "Exp", "Log", "Abs", "Neg", "Reciprocal", "Erf",
})
AFFINE_OPS = frozenset({"BatchNormalization", "Add", "Sub", "Mul", "Div"})
POOL_OPS = frozenset({"MaxPool", "AveragePool", "LpPool"})
GLOBAL_POOL_OPS = frozenset({"GlobalAveragePool", "GlobalMaxPool"})
REDUCE_OPS = frozenset({"ReduceMean", "ReduceMax", "ReduceMin", "ReduceSum", "ReduceL2"})
SOFTMAX_OPS = frozenset({"Softmax", "LogSoftmax"})
NORM_OPS = frozenset({"LRN", "LayerNormalization", "GroupNormalization", "InstanceNormalization"})
#: element-wise operators of two or more tensors (a merge inside a block)
MERGE_OPS = frozenset({"Add", "Sub", "Mul", "Div", "Sum", "Max", "Min", "Mean", "Pow"})
#: operators that copy (a part of) their input
COPY_OPS = frozenset({"Transpose", "Concat", "Split", "Slice", "Gather", "Pad", "Expand", "Tile"})
KNOWN_OPS = (SKIP_OPS | LAYOUT_OPS | ACTIVATION_OPS | AFFINE_OPS | POOL_OPS | GLOBAL_POOL_OPS | REDUCE_OPS
             | SOFTMAX_OPS | NORM_OPS | MERGE_OPS | COPY_OPS | {"Conv", "Gemm", "MatMul"})
#: operators whose outputs describe shapes, not data
META_OPS = frozenset({"Shape", "Size"})

_EPS = 1e-9
#: initializers larger than this (bytes of their message) are read as shapes only
_LIGHT_LIMIT = 1 << 14


def require_onnx():
    """The ``onnx`` module (with shape inference); InputError naming the extra to install when it is missing.

    Returns
    -------
    module
        The imported ``onnx`` (with ``onnx.shape_inference`` loaded).

    Raises
    ------
    InputError
        If the ``onnx`` package is not installed.
    """
    try:
        import onnx
        import onnx.shape_inference  # noqa: F401
    except ImportError as err:
        raise InputError("importing ONNX models needs the onnx package: pip install 'mecopt[onnx]'") from err
    return onnx


@dataclass
class ImportResult:
    """What :func:`import_onnx` returns: the spec (as TOML-ready data and validated) and notes.

    ``node_layer`` maps every data node (by :func:`node_key`) to the layer (1..M)
    its time belongs to, ``node_ops`` the nodes that are operators to their
    class and factors; :mod:`mecopt.byo.profiling` uses both.

    Attributes
    ----------
    data : dict
        The spec as a plain dict (name, description, source, input, layers).
    spec : mecopt.core.dnn.DNNSpec
        The validated spec.
    table : mecopt.core.dnn.LayerTable
        The spec's layer table (sizes propagated).
    notes : list of str
        Remarks of the import (written as comments at the head of the TOML).
    comments : dict of int to str
        Layer index (0-based) -> its comment in the TOML.
    source : str
        The model file, or the graph name of an in-memory model.
    node_layer : dict of str to int
        Data node key (:func:`node_key`) -> the layer (1..M) its time belongs to.
    node_ops : dict of str to dict
        Node key of each operator -> its class and factors.
    """

    data: dict                      # the spec as a plain dict (name, description, input, layers)
    spec: dnn.DNNSpec
    table: dnn.LayerTable
    notes: list[str] = field(default_factory=list)
    comments: dict[int, str] = field(default_factory=dict)  # layer index (0-based) -> comment in the TOML
    source: str = ""
    node_layer: dict[str, int] = field(default_factory=dict)
    node_ops: dict[str, dict] = field(default_factory=dict)

    def to_toml(self) -> str:
        """The imported DNN spec as TOML text, headed by its source and the import's notes.

        Returns
        -------
        str
            TOML text of the spec.
        """
        header = [f"# Imported from {Path(self.source).name} by `mecopt import-onnx`: {self.table.num_layers} layers."]
        header += [f"# {n}" for n in self.notes]
        return dnn.format_spec_toml(self.data, header=header, comments=self.comments)


# ----------------------------------------------------------------------------------- reading


def _varint(buf, pos: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def _encode_varint(v: int) -> bytes:
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _fields(buf, start: int, end: int):
    """(field number, wire type, payload start, payload end, field start) of a protobuf message."""
    pos = start
    while pos < end:
        first = pos
        key, pos = _varint(buf, pos)
        num, wt = key >> 3, key & 7
        if wt == 0:
            _, pos2 = _varint(buf, pos)
        elif wt == 1:
            pos2 = pos + 8
        elif wt == 5:
            pos2 = pos + 4
        elif wt == 2:
            n, pos = _varint(buf, pos)
            pos2 = pos + n
        else:
            raise ValueError(f"unsupported protobuf wire type {wt}")
        yield num, wt, pos, pos2, first
        pos = pos2


_TENSOR_DATA_FIELDS = {4, 5, 6, 7, 9, 10, 11}  # float/int32/string/int64/raw/double/uint64 data of TensorProto


def _light_bytes(buf) -> bytes:
    """A serialized ModelProto with the data of its large initializers left out (shapes and types kept).

    Walks the protobuf wire format (ModelProto.graph = 7, GraphProto.initializer = 5),
    so the weights are never parsed nor copied: importing VGG16 (528 MB of
    weights) stays far below their size in memory.
    """
    out = bytearray()
    for num, wt, a, b, first in _fields(buf, 0, len(buf)):
        if num != 7 or wt != 2:
            out += buf[first:b]
            continue
        graph = bytearray()
        for gnum, gwt, ga, gb, gfirst in _fields(buf, a, b):
            if gnum == 5 and gwt == 2 and gb - ga > _LIGHT_LIMIT:
                tensor = bytearray()
                for tnum, _, _, tb, tfirst in _fields(buf, ga, gb):
                    if tnum not in _TENSOR_DATA_FIELDS:
                        tensor += buf[tfirst:tb]
                graph += _encode_varint(5 << 3 | 2) + _encode_varint(len(tensor)) + tensor
            else:
                graph += buf[gfirst:gb]
        out += _encode_varint(7 << 3 | 2) + _encode_varint(len(graph)) + graph
    return bytes(out)


def load_light(path: str | Path):
    """The ONNX model at ``path`` without the data of its large weights (their shapes are all the importer needs).

    Parameters
    ----------
    path : str or pathlib.Path
        The ``.onnx`` file.

    Returns
    -------
    onnx.ModelProto
        The model, large initializers reduced to name, type and dims.

    Raises
    ------
    ValueError
        If the file is empty.
    InputError
        If the ``onnx`` package is not installed.
    """
    onnx = require_onnx()
    with open(path, "rb") as f:
        if Path(path).stat().st_size == 0:
            raise ValueError("empty file")
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            light = _light_bytes(mm)
    return onnx.ModelProto.FromString(light)


def _copy_fields(src, dst, skip: str) -> None:
    for fd, value in src.ListFields():
        if fd.name == skip:
            continue
        target = getattr(dst, fd.name)
        if hasattr(value, "extend") or isinstance(value, list):   # a repeated field
            target.extend(value)
        elif hasattr(value, "CopyFrom"):                          # a message field
            target.CopyFrom(value)
        else:
            setattr(dst, fd.name, value)


def _light_copy(model):
    """A copy of an in-memory ModelProto without the data of its large initializers."""
    onnx = require_onnx()
    light = onnx.ModelProto()
    _copy_fields(model, light, "graph")
    _copy_fields(model.graph, light.graph, "initializer")
    for t in model.graph.initializer:
        if t.ByteSize() > _LIGHT_LIMIT:
            light.graph.initializer.add(name=t.name, data_type=t.data_type, dims=list(t.dims))
        else:
            light.graph.initializer.add().CopyFrom(t)
    return light


# ----------------------------------------------------------------------------------- graph analysis


@dataclass
class _Node:
    index: int
    op: str
    name: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict
    data_inputs: list[str] = field(default_factory=list)


def node_key(name: str, index: int) -> str:
    """The key of a node in :attr:`ImportResult.node_layer`: its name, or ``#INDEX`` when it has none.

    Parameters
    ----------
    name : str
        The node's name (may be empty).
    index : int
        The node's position in the graph.

    Returns
    -------
    str
        ``name``, or ``"#index"`` when ``name`` is empty.
    """
    return name or f"#{index}"


def _key(n: _Node) -> str:
    return node_key(n.name, n.index)


def _label(n: _Node) -> str:
    return f"{n.op} '{n.name or n.index}'"


def _attrs(onnx, node) -> dict:
    out = {}
    for a in node.attribute:
        if a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS, onnx.AttributeProto.TENSOR):
            continue  # subgraphs and tensors are not read; keeping them would copy them
        try:
            v = onnx.helper.get_attribute_value(a)
        except ValueError:   # an attribute of undefined type (a damaged file)
            continue
        if v is None:
            continue
        if isinstance(v, bytes):
            v = v.decode(errors="replace")
        out[a.name] = v
    return out


def _outer_inputs(node) -> list[str]:
    """Names a node's subgraphs (If, Loop, Scan) read from the enclosing graph."""
    out: list[str] = []

    def subgraphs(n):
        for a in n.attribute:
            yield from ([a.g] if a.HasField("g") else [])
            yield from a.graphs

    def visit(graph, visible: set[str]):
        local = visible | {i.name for i in graph.input} | {t.name for t in graph.initializer}
        for n in graph.node:
            out.extend(x for x in n.input if x and x not in local)
            for sub in subgraphs(n):
                visit(sub, local)
            local.update(o for o in n.output if o)

    for sub in subgraphs(node):
        visit(sub, set())
    return list(dict.fromkeys(out))


def _dims(type_proto) -> list[int | None] | None:
    if not type_proto.HasField("tensor_type") or not type_proto.tensor_type.HasField("shape"):
        return None
    dims = []
    for d in type_proto.tensor_type.shape.dim:
        dims.append(d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None)
    return dims


def _unshaped(model) -> list[str]:
    """Node outputs without a complete inferred shape."""
    g = model.graph
    known = {vi.name for vi in list(g.value_info) + list(g.output)
             if (d := _dims(vi.type)) is not None and all(x is not None for x in d)}
    return [o for n in g.node for o in n.output if o and o not in known]


def _view(dims: list[int]) -> tuple[int, int, int]:
    """An ONNX tensor shape (batch first when rank >= 2) as the (C, H, W) of the chain model.

    Rank >= 4: C = the product of the dimensions between batch and the last two
    (a channel shuffle's (N, g, C/g, H, W) is (C, H, W)); rank 3: (dim 1, dim 2, 1).
    """
    if len(dims) >= 4:
        return int(math.prod(dims[1:-2])), int(dims[-2]), int(dims[-1])
    if len(dims) == 3:
        return int(dims[1]), int(dims[2]), 1
    if len(dims) == 2:
        return int(dims[1]), 1, 1
    if len(dims) == 1:
        return int(dims[0]), 1, 1
    return 1, 1, 1


def _elementwise(dims: list[int]) -> tuple[float, float, float, float]:
    """Factors of an element-wise operator writing a tensor of ``dims``: G²·O = its elements, K = I = 1.

    Feature maps: G = side (height), O = channels (MODEL.md §1); tokens (1, T, F):
    G = √T, O = F; vectors: G = 1, O = features.
    """
    if len(dims) >= 4:
        C, H, _ = _view(dims)
        return float(H), 1.0, float(C), 1.0
    if len(dims) == 3:
        return math.sqrt(dims[0] * dims[1]), 1.0, float(dims[2]), 1.0
    return 1.0, 1.0, float(math.prod(dims)), 1.0


def _shape_op(op: str, ins: list, attrs: dict):
    """Numpy evaluation of the integer shape-arithmetic operators exporters write; None if not one of them."""
    import numpy as np
    if op == "Gather":
        return np.take(ins[0], ins[1], axis=attrs.get("axis", 0))
    if op in ("Add", "Sub", "Mul"):
        return {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply}[op](ins[0], ins[1])
    if op == "Div":
        if np.issubdtype(np.asarray(ins[0]).dtype, np.integer):
            return (np.trunc(np.asarray(ins[0]) / np.asarray(ins[1]))).astype(np.asarray(ins[0]).dtype)
        return np.divide(ins[0], ins[1])
    if op == "Unsqueeze":
        axes = attrs.get("axes") if len(ins) < 2 else ins[1]
        out = np.asarray(ins[0])
        for ax in sorted(int(a) % (out.ndim + len(axes)) for a in axes):
            out = np.expand_dims(out, ax)
        return out
    if op == "Squeeze":
        axes = attrs.get("axes") if len(ins) < 2 else ins[1]
        return np.squeeze(ins[0], axis=None if axes is None else tuple(int(a) for a in axes))
    if op == "Concat":
        return np.concatenate([np.atleast_1d(x) for x in ins], axis=attrs.get("axis", 0))
    if op == "Cast":
        from onnx import helper
        return np.asarray(ins[0]).astype(helper.tensor_dtype_to_np_dtype(attrs["to"]))
    if op in ("Identity", "Floor", "Ceil", "Neg", "Abs"):
        return {"Identity": lambda x: x, "Floor": np.floor, "Ceil": np.ceil, "Neg": np.negative,
                "Abs": np.abs}[op](np.asarray(ins[0]))
    if op == "Slice":
        x, starts, ends = np.asarray(ins[0]), ins[1], ins[2]
        axes = ins[3] if len(ins) > 3 and ins[3] is not None else range(len(starts))
        steps = ins[4] if len(ins) > 4 and ins[4] is not None else [1] * len(starts)
        index = [slice(None)] * x.ndim
        for st, en, ax, sp in zip(starts, ends, axes, steps):
            index[int(ax)] = slice(int(st), int(en), int(sp))
        return x[tuple(index)]
    if op == "Reshape":
        return np.reshape(ins[0], [int(v) for v in ins[1]])
    if op == "ConstantOfShape":
        from onnx import numpy_helper
        fill = numpy_helper.to_array(attrs["value"]) if "value" in attrs else np.zeros(1, dtype=np.float32)
        return np.full([int(v) for v in ins[0]], fill.reshape(-1)[0], dtype=fill.dtype)
    if op in ("Equal", "Less", "Greater", "Mod", "Max", "Min", "And", "Or"):
        f = {"Equal": np.equal, "Less": np.less, "Greater": np.greater, "Mod": np.mod, "Max": np.maximum,
             "Min": np.minimum, "And": np.logical_and, "Or": np.logical_or}[op]
        out = ins[0]
        for other in ins[1:]:
            out = f(out, other)
        return out
    if op == "Not":
        return np.logical_not(ins[0])
    if op == "Where":
        return np.where(ins[0], ins[1], ins[2])
    if op == "Expand":
        return np.asarray(ins[0]) * np.ones([int(v) for v in ins[1]], dtype=np.asarray(ins[0]).dtype)
    if op == "Range":
        return np.arange(ins[0], ins[1], ins[2])
    return None


def _fold_shape_arithmetic(onnx, model):
    """A copy of ``model`` in which shape computations on known shapes are replaced by constants.

    Shape of a tensor whose shape inference fixed, and the integer arithmetic
    after it (Gather, Add, Sub, Mul, Div, Unsqueeze, Concat, Slice, ...), are
    evaluated; the inputs they feed are rewired to new initializers (the nodes
    stay, unused, so node positions do not change). None when nothing folds.
    """
    import numpy as np
    from onnx import numpy_helper
    g = model.graph
    shapes = {vi.name: _dims(vi.type) for vi in list(g.input) + list(g.value_info) + list(g.output)}
    known = {t.name: numpy_helper.to_array(t) for t in g.initializer
             if t.data_type in (onnx.TensorProto.INT64, onnx.TensorProto.INT32) and (t.raw_data or t.int64_data
                                                                                    or t.int32_data or not t.dims)}
    computed: set[str] = set()
    for n in g.node:
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute if a.type != onnx.AttributeProto.GRAPH}
        value = None
        if n.op_type == "Constant" and "value" in attrs:
            value = numpy_helper.to_array(attrs["value"])
            known[n.output[0]] = value
            continue
        if n.op_type == "Shape":
            d = shapes.get(n.input[0])
            if d is not None and all(x is not None for x in d):
                value = np.asarray(d, dtype=np.int64)[attrs.get("start", 0):attrs.get("end", len(d))]
        elif n.input and all((not x) or x in known for x in n.input):
            try:
                value = _shape_op(n.op_type, [known.get(x) if x else None for x in n.input], attrs)
            except Exception:  # noqa: BLE001 - anything it cannot evaluate is left to shape inference
                value = None
        if value is not None and len(n.output) == 1:
            known[n.output[0]] = np.asarray(value)
            computed.add(n.output[0])
    rewired = 0
    new = onnx.ModelProto()
    new.CopyFrom(model)
    for n in new.graph.node:
        for k, x in enumerate(n.input):
            if x in computed and n.op_type not in ("Shape",) and not all(
                    (not y) or y in known for y in n.input):
                name = f"{x}__folded"
                if name not in {t.name for t in new.graph.initializer}:
                    new.graph.initializer.append(numpy_helper.from_array(known[x], name))
                n.input[k] = name
                rewired += 1
    return new if rewired else None


def _pair(values, default: int, n: int = 2) -> list[int]:
    if values is None:
        return [default] * n
    return [int(v) for v in values]


def _op(cls: str, n: _Node, G: float, K: float, O: float, I: float, groups: int = 1) -> dict:
    d = {"type": cls, "op": n.op, "G": float(G), "K": float(K), "O": float(O), "I": float(I)}
    if groups != 1:
        d["groups"] = int(groups)
    return d


@dataclass
class _Mapped:
    """One ONNX node: the layer type it makes on the chain.

    The plain spec (if the hyper-parameters express it) and its operator (class and factors).
    """

    type: str               # a layer type, or "skip" / "layout" / "affine"
    plain: dict | None      # layer fields without name; None: only the explicit form is right
    op: dict | None         # the operator (see _op); None for skip / layout

    @property
    def factors(self):
        return tuple(self.op[k] for k in ("G", "K", "O", "I"))


class _Importer:
    def __init__(self, model, name: str, input_shape: tuple[int, int, int] | None, branches: Branches,
                 source: str, spec_source: str):
        self.onnx = require_onnx()
        self.name = name
        self.branches = branches
        self.source = source
        self.spec_source = spec_source
        self.notes: list[str] = []
        self.model = self._prepare(model, input_shape)

    # -- setup -------------------------------------------------------------------------------

    def _prepare(self, model, input_shape):
        graph = model.graph
        inits = {t.name for t in graph.initializer}
        inputs = [i for i in graph.input if i.name not in inits]
        problems = []
        if len(inputs) != 1:
            problems.append(("graph inputs", f"the chain model needs exactly one graph input, found {len(inputs)}: "
                                             f"{[i.name for i in inputs]}"))
        if len(graph.output) != 1:
            problems.append(("graph outputs", f"the chain model needs exactly one graph output, found "
                                              f"{len(graph.output)}: {[o.name for o in graph.output]}"))
        if any(n.domain not in ("", "ai.onnx") for n in graph.node):
            bad = sorted({f"{n.domain}::{n.op_type}" for n in graph.node if n.domain not in ("", "ai.onnx")})
            problems.append(("operators", f"unsupported operators outside the standard ONNX domain: {bad}"))
        if problems:
            if len(inputs) != 1 and len(problems) == 1:
                raise InputError(f"{self.source}: {problems[0][1]}")
            raise InputError(f"{self.source}: the model cannot be imported as a chain", problems)
        inp = inputs[0]
        dims = inp.type.tensor_type.shape.dim
        self.symbolic_input = any(not (d.HasField("dim_value") and d.dim_value > 0) for d in list(dims)[1:])
        if input_shape is not None:
            if len(dims) not in (0, 4):
                raise InputError(f"{self.source}: --input-shape C,H,W needs a 4-D (N, C, H, W) input; "
                                 f"'{inp.name}' has rank {len(dims)}")
            del inp.type.tensor_type.shape.dim[:]
            for v in (1, *input_shape):
                inp.type.tensor_type.shape.dim.add().dim_value = int(v)
            self.symbolic_input = False
        elif len(dims) >= 2:
            d0 = dims[0]
            if not (d0.HasField("dim_value") and d0.dim_value > 0):
                d0.Clear()
                d0.dim_value = 1  # symbolic batch: one sample, as in the paper
            elif d0.dim_value != 1:
                self.notes.append(f"batch size {d0.dim_value} in the model; shapes are per sample (batch 1)")
                d0.dim_value = 1
        # intermediate value_info from the exporter may carry the old batch size: let inference redo it
        del model.graph.value_info[:]
        for o in model.graph.output:
            if o.type.HasField("tensor_type"):
                o.type.tensor_type.ClearField("shape")
        inferred = self._infer(model)
        for _ in range(8):  # shape arithmetic ONNX does not propagate (e.g. a Div in x.chunk's Slice ends)
            if not _unshaped(inferred):
                break
            folded = _fold_shape_arithmetic(self.onnx, inferred)
            if folded is None:
                break
            again = self._infer(folded)
            if len(_unshaped(again)) >= len(_unshaped(inferred)):
                break
            model, inferred = folded, again
        opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
        if opset < 17 and _unshaped(inferred):
            # shape arithmetic (Shape -> Gather -> Concat -> Reshape) propagates only from opset 17 on
            try:
                from onnx import version_converter
                converted = self._infer(version_converter.convert_version(model, 17))
            except Exception:  # the converter does not know every model; keep the first result
                converted = None
            if converted is not None and len(_unshaped(converted)) < len(_unshaped(inferred)):
                self.notes.append(f"converted from opset {opset} to 17 for shape inference")
                inferred = converted
        return inferred

    def _infer(self, model):
        try:
            return self.onnx.shape_inference.infer_shapes(model, strict_mode=True, data_prop=True)
        except Exception as err:  # onnx raises its own InferenceError / ValidationError types
            raise InputError(f"{self.source}: ONNX shape inference failed: "
                             f"{str(err).strip().splitlines()[0]}") from None

    # -- main --------------------------------------------------------------------------------

    def run(self) -> ImportResult:
        g = self.model.graph
        self.shapes: dict[str, list[int | None]] = {}
        for vi in list(g.input) + list(g.value_info) + list(g.output):
            d = _dims(vi.type)
            if d is not None:
                self.shapes[vi.name] = d
        for t in g.initializer:
            self.shapes[t.name] = list(t.dims)
        inits = {t.name for t in g.initializer}
        self.input_name = [i.name for i in g.input if i.name not in inits][0]
        self.output_name = g.output[0].name

        nodes = [_Node(i, n.op_type, n.name or "", list(n.input) + _outer_inputs(n), list(n.output),
                       _attrs(self.onnx, n))
                 for i, n in enumerate(g.node)]
        data = {self.input_name}
        data_nodes: list[_Node] = []
        for n in nodes:  # ONNX requires nodes in topological order (onnx.checker enforces it)
            if n.op in META_OPS or n.op == "Constant":
                continue
            n.data_inputs = [x for x in n.inputs if x and x in data]
            if n.data_inputs:
                data_nodes.append(n)
                data.update(o for o in n.outputs if o)
        if self.output_name not in data:
            raise InputError(f"{self.source}: the graph output '{self.output_name}' does not depend on the input")
        self.data_tensors = data
        data_nodes = self._live(data_nodes)
        self._name_nodes(data_nodes)
        # every problem of the model is collected, and reported together at the end of _build
        self.problems: list[tuple[str, str]] = [(_label(n), "no layer type for this operator")
                                                for n in data_nodes if n.op not in KNOWN_OPS]
        self.shape_problems = self._check_shapes(data_nodes)
        self.bad_nodes = {n.index for n in data_nodes if n.op not in KNOWN_OPS} | self._unshaped_nodes
        segments = self._segments(data_nodes)
        return self._build(segments)

    def _live(self, data_nodes: list[_Node]) -> list[_Node]:
        """Keep the nodes the output depends on, in a topological order (ONNX's own when valid)."""
        producer = {o: n for n in data_nodes for o in n.outputs if o}
        needed, stack = set(), [self.output_name]
        while stack:
            t = stack.pop()
            n = producer.get(t)
            if n is None or n.index in needed:
                continue
            needed.add(n.index)
            stack.extend(n.data_inputs)
        dropped = [n for n in data_nodes if n.index not in needed]
        if dropped:
            self.notes.append(f"{len(dropped)} node(s) do not feed the output and were dropped: "
                              + ", ".join(_label(n) for n in dropped[:8])
                              + (" ..." if len(dropped) > 8 else ""))
        kept = [n for n in data_nodes if n.index in needed]
        # Kahn's algorithm, ties broken by file order: equals the file order when that is topological
        import heapq
        deps = {n.index: {producer[x].index for x in n.data_inputs if x in producer} for n in kept}
        users: dict[int, list[int]] = {n.index: [] for n in kept}
        for i, ds in deps.items():
            for d in ds:
                users[d].append(i)
        by_index = {n.index: n for n in kept}
        heap = [i for i, ds in deps.items() if not ds]
        heapq.heapify(heap)
        remaining = {i: len(ds) for i, ds in deps.items()}
        order = []
        while heap:
            i = heapq.heappop(heap)
            order.append(by_index[i])
            for u in users[i]:
                remaining[u] -= 1
                if remaining[u] == 0:
                    heapq.heappush(heap, u)
        if len(order) != len(kept):
            raise InputError(f"{self.source}: the graph has a cycle")
        return order

    def _name_nodes(self, nodes: list[_Node]) -> None:
        self.layer_name = {n.index: _node_layer_name(n) for n in nodes}

    def _fixed(self, t: str) -> bool:
        d = self.shapes.get(t)
        return d is not None and all(x is not None for x in d)

    def _check_shapes(self, nodes: list[_Node]) -> list[tuple[str, str]]:
        """Tensors without a fixed shape; the --input-shape hint only when the input itself is symbolic."""
        self._unshaped_nodes: set[int] = set()
        if not self._fixed(self.input_name):  # a symbolic H or W
            raise InputError(f"{self.source}: the input '{self.input_name}' has no fixed shape "
                             f"({self.shapes.get(self.input_name)}); give it with --input-shape C,H,W")
        out = []
        for n in nodes:
            missing = [o for o in n.outputs if o and o in self.data_tensors and not self._fixed(o)]
            if missing and n.op not in LAYOUT_OPS | SKIP_OPS or any(
                    not self._fixed(x) for x in n.data_inputs if x in self.shapes or x in self.data_tensors):
                self._unshaped_nodes.add(n.index)
            for o in missing:
                out.append((_label(n), f"ONNX shape inference left its output '{o}' without a fixed shape"))
        if out:
            hint = ("give the input's shape with --input-shape C,H,W" if self.symbolic_input
                    else "the input's shape is fixed, so an operator above (often an unsupported one) "
                         "stopped shape inference")
            self.notes.append(f"tensors without a shape: {hint}")
            out = out[:12] + ([("", f"... and {len(out) - 12} more")] if len(out) > 12 else [])
            out.append(("hint", hint))
        return out

    def _segments(self, nodes: list[_Node]) -> list[tuple[list[_Node], str, str]]:
        """Split the ordered nodes at every boundary where exactly one data tensor is live.

        Returns (nodes, tensor entering, tensor leaving) per segment.
        """
        last_use: dict[str, int] = {}
        for k, n in enumerate(nodes):
            for x in n.data_inputs:
                last_use[x] = k
        last_use[self.output_name] = len(nodes)  # the output stays live to the end
        live = {self.input_name} if self.input_name in last_use else set()
        cuts = [(0, self.input_name)]
        for k, n in enumerate(nodes):
            for x in set(n.data_inputs):
                if last_use.get(x) == k:
                    live.discard(x)
            for o in n.outputs:
                if o and o in last_use:
                    live.add(o)
            if len(live) == 1:
                cuts.append((k + 1, next(iter(live))))
        if cuts[-1][0] != len(nodes):  # pragma: no cover - the output is live at the end
            raise InputError(f"{self.source}: internal error: the output is not a crossing point")
        segments = []
        for (a, ta), (b, tb) in zip(cuts, cuts[1:]):
            segments.append((nodes[a:b], ta, tb))
        return segments

    # -- mapping -----------------------------------------------------------------------------

    def _shape(self, tensor: str) -> list[int]:
        return [int(x) for x in self.shapes[tensor]]

    def _is_const(self, tensor: str) -> bool:
        return tensor not in self.data_tensors

    def _is_identity_copy(self, n: _Node) -> bool:
        """A node whose output is an identical copy of its only data input (no partition point of its own)."""
        if len(n.data_inputs) != 1 or len([o for o in n.outputs if o]) != 1:
            return False
        if self._shape(n.data_inputs[0]) != self._shape(n.outputs[0]):
            return False
        a = n.attrs
        if n.op in POOL_OPS:
            return (_pair(a.get("kernel_shape"), 1) == [1, 1] and _pair(a.get("strides"), 1) == [1, 1]
                    and not any(_pair(a.get("pads"), 0, 4)))
        return n.op in ("Concat", "Slice", "Expand", "Tile", "Pad", "Sum", "Max", "Min", "Mean") and \
            all(self._is_const(x) for x in n.inputs[1:] if x)

    def _map(self, n: _Node) -> _Mapped | None:
        """Map one node to its layer type and operator; None (with a problem recorded) when it has none."""
        op = n.op
        where = _label(n)
        a = n.attrs
        if op in SKIP_OPS:
            return _Mapped("skip", None, None)
        if op in LAYOUT_OPS:
            return _Mapped("layout", None, None)
        x = n.data_inputs[0]
        y = n.outputs[0]
        in_dims, out_dims = self._shape(x), self._shape(y)
        if self._is_identity_copy(n):
            return _Mapped("skip", None, None)
        C, H, W = _view(in_dims)
        oc, oh, ow = _view(out_dims)
        out_elements = sum(math.prod(self._shape(o)) for o in n.outputs if o and self._fixed(o))
        if op == "Conv":
            if len(in_dims) != 4:
                self.problems.append((where, f"Conv on a rank-{len(in_dims)} tensor (only 2-D convolutions)"))
                return None
            w = self._shape(n.inputs[1])
            cout, kh, kw = w[0], w[2], w[3]
            group = int(a.get("group", 1))
            s = _pair(a.get("strides"), 1)
            d = _pair(a.get("dilations"), 1)
            pads = _pair(a.get("pads"), 0, 4)
            auto = a.get("auto_pad", "NOTSET")
            K = float(kh) if kh == kw else math.sqrt(kh * kw)
            cls = "dwconv" if group > 1 and group == C else "conv"
            operator = _op(cls, n, oh, K, C // group, cout, group)
            plain = None
            if kh == kw and s[0] == s[1] and d == [1, 1] and auto in ("NOTSET", "VALID") and len(set(pads)) == 1:
                plain = dict(out_channels=int(cout), kernel=int(kh))
                if s[0] != 1:
                    plain["stride"] = s[0]
                if pads[0] and auto == "NOTSET":
                    plain["pad"] = pads[0]
                if group != 1:
                    plain["groups"] = group
            return _Mapped("conv", plain, operator)
        if op in POOL_OPS:
            if len(in_dims) != 4:
                self.problems.append((where, f"{op} on a rank-{len(in_dims)} tensor (only 2-D pooling)"))
                return None
            k = _pair(a.get("kernel_shape"), 1)
            s = _pair(a.get("strides"), 1)
            d = _pair(a.get("dilations"), 1)
            pads = _pair(a.get("pads"), 0, 4)
            auto = a.get("auto_pad", "NOTSET")
            ceil = bool(a.get("ceil_mode", 0))
            K = float(k[0]) if k[0] == k[1] else math.sqrt(k[0] * k[1])
            plain = None
            if k[0] == k[1] and s[0] == s[1] and d == [1, 1] and auto in ("NOTSET", "VALID") and len(set(pads)) == 1:
                plain = dict(kernel=k[0])
                if s[0] != 1:
                    plain["stride"] = s[0]
                if pads[0] and auto == "NOTSET":
                    plain["pad"] = pads[0]
                if not ceil:
                    plain["ceil_mode"] = False
            return _Mapped("pool", plain, _op("pool", n, oh, K, C, 1))
        if op in GLOBAL_POOL_OPS or op in REDUCE_OPS:
            # G²·O = output elements, K² = input elements reduced into each output element
            G, _, O, _ = _elementwise(out_dims) if len(out_dims) != 2 else (1.0, 1.0, float(oc), 1.0)
            K = math.sqrt(math.prod(in_dims) / max(1, math.prod(out_dims)))
            plain = None
            if len(in_dims) == 4 and H == W and out_dims[:2] == in_dims[:2] and oh == ow == 1:
                plain = dict(kernel=H, ceil_mode=False)  # a global pool over a square map
            return _Mapped("pool", plain, _op("pool", n, G, K, O, 1))
        if op == "Gemm":
            if int(a.get("transA", 0)) or not self._is_const(n.inputs[1]):
                self.problems.append((where, "Gemm with transA or a non-constant B is not a fully connected layer"))
                return None
            b = self._shape(n.inputs[1])
            out_f = b[0] if int(a.get("transB", 0)) else b[1]
            rows = in_dims[0] if len(in_dims) == 2 else 1
            return _Mapped("fc", dict(out_features=int(out_f)),
                           _op("fc", n, math.sqrt(rows), 1, C * H * W if len(in_dims) != 2 else in_dims[1], out_f))
        if op == "MatMul":
            other = [t for t in n.inputs if t != x]
            if len(n.data_inputs) == 2 or (other and not self._is_const(other[0])):
                A, B = self._shape(n.inputs[0]), self._shape(n.inputs[1])
                if len(A) < 2 or len(B) < 2:
                    self.problems.append((where, "MatMul of vectors"))
                    return None
                batch_m = math.prod(out_dims[:-1])
                return _Mapped("block", None, _op("attention", n, math.sqrt(batch_m), 1, A[-1], B[-1]))
            if n.inputs[0] != x or not other or len(self._shape(other[0])) != 2:
                self.problems.append((where, "MatMul other than activation x constant (F, F') is not a "
                                             "fully connected layer"))
                return None
            out_f = self._shape(other[0])[1]
            rows = math.prod(in_dims[:-1])
            return _Mapped("fc", dict(out_features=int(out_f)), _op("fc", n, math.sqrt(rows), 1, in_dims[-1], out_f))
        if op in SOFTMAX_OPS:
            return _Mapped("softmax", {}, _op("norm", n, *_elementwise(out_dims)))
        if op == "LRN":
            return _Mapped("lrn", {}, _op("norm", n, *_elementwise(out_dims)))
        if op in NORM_OPS:
            return _Mapped("norm", {}, _op("norm", n, *_elementwise(out_dims)))
        if op in COPY_OPS:
            if op == "Split":
                out_elements = sum(math.prod(self._shape(o)) for o in n.outputs
                                   if o in self.data_tensors and self._fixed(o))
            dims = list(out_dims[:-1]) + [max(1, out_elements // max(1, math.prod(out_dims[:-1])))] \
                if op == "Split" else out_dims
            return _Mapped("copy", {}, _op("eltwise", n, *_elementwise(dims)))
        if op in ACTIVATION_OPS:
            return _Mapped("relu", {}, _op("eltwise", n, *_elementwise(out_dims)))
        if op in AFFINE_OPS or op in MERGE_OPS:
            cls = "norm" if op == "BatchNormalization" else "eltwise"
            if op != "BatchNormalization" and len(n.data_inputs) == 1 and out_dims != in_dims:
                self.problems.append((where, "broadcasts to a different shape"))
                return None
            return _Mapped("affine", None, _op(cls, n, *_elementwise(out_dims)))
        self.problems.append((where, "no layer type for this operator"))
        return None

    def _build(self, segments) -> ImportResult:
        in_c, in_h, in_w = _view(self._shape(self.input_name))
        layers: list[dict] = []
        comments: dict[int, str] = {}
        branching: list[tuple[str, str]] = []
        running = (in_c, in_h, in_w)       # shape as mecopt.core.dnn propagates the spec written so far
        last_kind = None                   # type of the last layer written, for folding
        used_names: set[str] = set()
        skipped: list[str] = []
        folded: list[str] = []
        layouts: list[str] = []
        inplace: list[str] = []
        expected: list[tuple[int, int, int]] = []  # ONNX's shape after each layer written
        node_layer: dict[str, int] = {}
        node_ops: dict[str, dict] = {}
        pending: list[str] = []            # nodes without a layer yet (layout, skipped) before the first layer

        def unique(name: str) -> str:
            base, k = name, 2
            while name in used_names:
                name, k = f"{base}_{k}", k + 1
            used_names.add(name)
            return name

        def attach(n: _Node) -> None:
            """A node's time belongs to the last layer written (the first one for nodes before it)."""
            if layers:
                node_layer[_key(n)] = len(layers)
            else:
                pending.append(_key(n))

        def emit(ltype: str, plain: dict | None, factors, out_view, name: str, comment: str = "",
                 ops: list[dict] | None = None):
            nonlocal running, last_kind
            layer = None
            if plain is not None:
                cand = {"name": name, "type": ltype, **plain}
                got = _propagate_one(running, cand)
                if got is not None and got[0] == out_view and _close(got[1], factors):
                    layer = cand
            if layer is None:
                layer = {"name": name, "type": ltype, **(plain or {}), "out_shape": list(out_view)}
                if ops is None:
                    layer.update(G=factors[0], K=factors[1], O=factors[2], I=factors[3])
                else:
                    layer["ops"] = ops
            layers.append(layer)
            expected.append(out_view)
            if comment:
                comments[len(layers) - 1] = comment
            running = out_view
            last_kind = ltype

        for seg, t_in, t_out in segments:
            out_view = _view(self._shape(t_out)) if self._fixed(t_out) else running
            if len(seg) == 1:
                n = seg[0]
                if n.index in self.bad_nodes:
                    continue
                m = self._map(n)
                if m is None:
                    continue
                label = _label(n)
                if m.type in ("skip", "layout"):
                    (skipped if m.type == "skip" else layouts).append(label)
                    attach(n)
                    continue
                node_ops[_key(n)] = m.op
                if m.type == "affine":
                    if last_kind in ("conv", "fc") and layers and out_view == running:
                        folded.append(f"{label} into '{layers[-1]['name']}'")
                        attach(n)
                        continue
                    ltype = "norm" if n.op == "BatchNormalization" else "relu"
                    emit(ltype, {}, m.factors, out_view, unique(self.layer_name[n.index]),
                         comment=f"{n.op}: {'normalization' if ltype == 'norm' else 'element-wise'} layer")
                elif m.type == "relu" and last_kind == "block" and out_view == running:
                    # an activation of a block's output: computed in place, the same tensor (no new partition point)
                    layers[-1]["ops"].append(m.op)
                    comments[len(layers) - 1] += f", {n.op} (in place)"
                    inplace.append(f"{label} into '{layers[-1]['name']}'")
                    attach(n)
                    continue
                elif m.type == "block":  # an operator between two activations that is alone between crossing points
                    emit("block", None, m.factors, out_view, unique(self.layer_name[n.index]), n.op, ops=[m.op])
                else:
                    comment = "" if n.op.lower() == m.type else n.op
                    emit(m.type, m.plain, m.factors, out_view, unique(self.layer_name[n.index]), comment)
                node_layer[_key(n)] = len(layers)
                continue
            # a branching region between two crossing points
            branching.extend(self._describe_branching(seg, t_in))
            if self.branches == "refuse":
                continue
            ops = []
            for n in seg:
                if n.index in self.bad_nodes:
                    continue
                m = self._map(n)
                if m is not None and m.op is not None:
                    ops.append(m.op)
                    node_ops[_key(n)] = m.op
            name = unique(_common_name(seg) or "block")
            kinds = [n.op for n in seg]
            summary = ", ".join(f"{op} x{kinds.count(op)}" if kinds.count(op) > 1 else op
                                for op in dict.fromkeys(kinds))
            emit("block", None, None, out_view, name, f"{len(seg)} nodes: {summary}", ops=ops)
            for n in seg:
                node_layer[_key(n)] = len(layers)

        problems = self.problems + self.shape_problems
        if problems or (branching and self.branches == "refuse"):
            if not problems:
                raise InputError(f"{self.source}: the graph branches, so it is not a chain (import with "
                                 "branches collapsed into block layers, or cut the model)", branching)
            raise _unsupported(self.source, problems + (branching if self.branches == "refuse" else []))
        if not layers:
            raise InputError(f"{self.source}: no layer left after skipping {', '.join(skipped + layouts)}")
        for key in pending:
            node_layer[key] = 1
        if skipped:
            self.notes.append("skipped (no operator or an identical copy): " + _short(skipped))
        if folded:
            self.notes.append("folded (inference-time fusion): " + _short(folded))
        if inplace:
            self.notes.append("activations of a block's output joined the block (in place): " + _short(inplace))
        if layouts:
            self.notes.append("data layout only, no layer: " + _short(layouts))
        blocks = [l["name"] for l in layers if l["type"] == "block"]
        if blocks:
            self.notes.append(f"{len(blocks)} branching region(s) collapsed into block layers "
                              "(delay = sum over their operators; partition points only between blocks)")

        data = {"name": self.name, "description": f"imported from {Path(self.source).name}",
                "source": self.spec_source, "grouped_conv": "per_group",
                "input": {"channels": in_c, "height": in_h, "width": in_w}, "layers": layers}
        spec = dnn.parse_spec(data, self.source)
        table = dnn.propagate(spec)
        # the written spec must reproduce ONNX's shapes, layer by layer
        got = [tuple(int(v) for v in row) for row in table.frame[["C", "H", "W"]].to_numpy()[1:]]
        bad = [(f"layers.{i} ({layers[i]['name']})", f"propagates to {g}, ONNX says {w}")
               for i, (g, w) in enumerate(zip(got, expected)) if g != w]
        if bad:  # pragma: no cover - emit() only writes layers that propagate correctly
            raise InputError(f"{self.source}: internal error: the imported spec does not reproduce ONNX's shapes", bad)
        return ImportResult(data=data, spec=spec, table=table, notes=self.notes, comments=comments,
                            source=self.source, node_layer=node_layer, node_ops=node_ops)

    def _describe_branching(self, seg: list[_Node], t_in: str) -> list[tuple[str, str]]:
        inside = {o for n in seg for o in n.outputs if o} | {t_in}
        users: dict[str, list[_Node]] = {}
        for n in seg:
            for x in dict.fromkeys(n.data_inputs):
                users.setdefault(x, []).append(n)
        out = []
        for t, us in users.items():
            if t in inside and len(us) > 1:
                out.append((f"tensor '{t}'", "forks into " + ", ".join(_label(u) for u in us)))
        for n in seg:
            if len(set(n.data_inputs)) > 1:
                out.append((_label(n), "merges " + ", ".join(f"'{x}'" for x in n.data_inputs)))
        return out


def _short(items: list[str], limit: int = 12) -> str:
    return ", ".join(items[:limit]) + (f" ... ({len(items)} in all)" if len(items) > limit else "")


def _unsupported(source: str, problems: list[tuple[str, str]]) -> InputError:
    ops = sorted({w.split(" ")[0] for w, _ in problems if " '" in w})
    return InputError(f"{source}: cannot import the model ({len(problems)} problem(s)); unsupported operator(s) "
                      f"{', '.join(ops) or '(none)'}; the importer maps the operators listed in docs/byo-dnn.md",
                      problems)


def _qualify(parts: list[str]) -> str:
    """Torch's ONNX names nest modules, each relative to its parent ('/features/features.1/conv/conv.0/Conv').

    Give the dotted module path ('features.1.conv.0').
    """
    q, last = parts[0], parts[0]
    for p in parts[1:]:
        q = q[: len(q) - len(last)] + p if p.startswith(last + ".") else f"{q}.{p}"
        last = p
    return re.sub(r"\s+", "_", q)


def _node_layer_name(n: _Node) -> str:
    parts = [p for p in n.name.split("/") if p]
    if len(parts) >= 2:
        name = _qualify(parts[:-1])  # the module that made the node
    elif parts and parts[0] != n.op:
        name = re.sub(r"\s+", "_", parts[0])
    else:
        return n.op.lower()
    # an unnamed nn.Sequential numbers its modules: '3' -> 'conv3'
    return f"{n.op.lower()}{name}" if re.fullmatch(r"[\d.]+", name) else name


def _common_name(seg: list[_Node]) -> str:
    """The module path shared by all nodes of a block, '' if none."""
    parts = [[p for p in n.name.split("/") if p][:-1] for n in seg]
    if not all(parts):
        return ""
    common = []
    for group in zip(*parts):
        if len(set(group)) != 1:
            break
        common.append(group[0])
    return _qualify(common) if common else ""


def _close(a, b) -> bool:
    return all(abs(float(x) - float(y)) <= _EPS * max(1.0, abs(float(y))) for x, y in zip(a, b))


def _propagate_one(shape: tuple[int, int, int], layer: dict):
    """Output shape and factors mecopt.core.dnn gives one layer from ``shape``; None if it does not propagate."""
    c, h, w = shape
    try:
        spec = dnn.DNNSpec(name="one", grouped_conv="per_group", input=dnn.InputSpec(channels=c, height=h, width=w),
                           layers=[dnn.LayerSpec(**layer)])
        t = dnn.propagate(spec)
    except (InputError, ValueError):
        return None
    row = t.frame.iloc[1]
    return (int(row.C), int(row.H), int(row.W)), (float(row.G), float(row.K), float(row.O), float(row.I))


def import_onnx(model, *, name: str | None = None, input_shape: tuple[int, int, int] | None = None,
                branches: Branches = "collapse", source: str | None = None) -> ImportResult:
    """Import an ONNX model (a path or an ``onnx.ModelProto``) as a DNN spec.

    ``input_shape`` (C, H, W) fixes an input whose sizes are symbolic; a symbolic
    batch dimension is always taken as 1. ``branches`` chooses between collapsing
    branching regions into ``block`` layers and refusing such graphs. ``source``
    is recorded in the spec (default: the model file and its input shape).
    The weights are never loaded (:func:`load_light`).

    Parameters
    ----------
    model : str, pathlib.Path or onnx.ModelProto
        The model file or the model.
    name : str or None, optional
        Name of the spec; default the file's stem (or the graph name), lowercased, other characters as ``-``.
    input_shape : tuple of int or None, optional
        (C, H, W) for an input whose sizes are symbolic.
    branches : {"collapse", "refuse"}, optional
        Collapse branching regions into ``block`` layers, or refuse branching graphs.
    source : str or None, optional
        Source recorded in the spec; default the model file and its input shape.

    Returns
    -------
    ImportResult
        The spec, its layer table, the import's notes and the node-to-layer maps.

    Raises
    ------
    InputError
        On an invalid ``branches``, a missing, unreadable or malformed model, or a graph the importer refuses.
    """
    require_onnx()
    spec_source = source
    if branches not in ("collapse", "refuse"):
        raise InputError(f"The 'branches' parameter of import_onnx must be 'collapse' or 'refuse'. "
                         f"Got {branches!r} instead.")
    if isinstance(model, str | Path):
        path = Path(model)
        try:
            proto = load_light(path)
        except FileNotFoundError:
            raise InputError(f"ONNX model not found: {path}") from None
        except Exception as err:
            raise InputError(f"cannot read {path} as an ONNX model: {err}") from None
        source = str(path)
        default_name = path.stem
    else:
        proto = _light_copy(model)
        source = proto.graph.name or "<onnx model>"
        default_name = proto.graph.name or "imported"
    name = name or re.sub(r"[^A-Za-z0-9_.-]+", "-", default_name).strip("-").lower() or "imported"
    try:
        result = _Importer(proto, name, input_shape, branches, source, spec_source or "").run()
    except InputError:
        raise
    except (TypeError, ValueError, KeyError, IndexError, AttributeError, ZeroDivisionError, OverflowError) as err:
        # a damaged model (an attribute of the wrong type, a shape that does not add up) is bad input
        raise InputError(f"ONNX model {source} is malformed ({type(err).__name__}: {err})") from None
    if not result.data["source"]:
        c, h, w = (result.data["input"][k] for k in ("channels", "height", "width"))
        result.data["source"] = f"ONNX model {Path(result.source).name}, input 1x{c}x{h}x{w}"
        result.spec = result.spec.model_copy(update={"source": result.data["source"]})
    return result
