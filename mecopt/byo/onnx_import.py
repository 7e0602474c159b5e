"""Import an ONNX model as a DNN spec (``models/dnn/*.toml``) for the chain model of §2.1.

The importer runs ONNX shape inference, follows the data flow from the single
graph input to the single graph output and turns it into a chain of the layer
types of :mod:`mecopt.model.dnn`. The spec it writes re-propagates to the shapes ONNX
inferred; :func:`import_onnx` checks this before returning.

Operator mapping (see docs/byo-dnn.md)
--------------------------------------

=====================================================  ===========================================
ONNX operators                                         becomes
=====================================================  ===========================================
Conv                                                   ``conv`` (weights' C_out, kernel, stride,
                                                       pad, group); the bias is part of the layer
MaxPool, AveragePool, LpPool                           ``pool`` (kernel, stride, pad, ceil_mode)
GlobalAveragePool, GlobalMaxPool                       ``pool`` with kernel = side, stride 1
Gemm; MatMul with a constant 2-D weight                ``fc`` (an Add of a constant right after a
                                                       MatMul is its bias, folded)
Relu and the other element-wise functions             ``relu`` (the element-wise type of §1:
(LeakyRelu, PRelu, Sigmoid, Tanh, Clip, Elu, Selu,     G = side, K = 1, O = C, I = 1)
Celu, HardSigmoid, HardSwish, Softplus, Softsign,
Gelu, Mish, ThresholdedRelu, Pow, Sqrt, Exp, Log,
Abs, Neg, Reciprocal, Erf)
LRN                                                    ``lrn``
Softmax, LogSoftmax                                    ``softmax``
BatchNormalization; Add/Sub/Mul/Div by a constant     folded into a Conv / Gemm / MatMul right
                                                       before it (inference-time fusion); elsewhere
                                                       an element-wise ``relu``-type layer
Flatten, Reshape, Squeeze, Unsqueeze                   no layer (data layout only); the next fc
                                                       reads C*H*W either way
Dropout, Identity                                      skipped (MODEL.md §1: dropout removed)
Shape, Size, Constant and anything computed from       ignored (they compute shapes, not data)
constants only
=====================================================  ===========================================

Anything else on the chain is refused with the operator and node named
(:class:`~mecopt.errors.InputError`).

Branches
--------
A partition point of the paper is a place where **one** tensor crosses from the
layers before to the layers after. The importer finds every such place along a
topological order of the data-flow nodes. Between two consecutive crossing
points there is either one node (mapped as above) or a branching region
(residual Add, Inception Concat, ...). With ``branches="collapse"`` (default) a
region becomes one ``block`` layer with an explicit ``out_shape`` and
MAC-equivalent factors: G = output side, O = input channels, I = output
channels, and K chosen so that G²K²OI equals the sum of G²K²OI over the
region's nodes (the dominant term of eqs. 5-7); its delay can be overridden by
measured ``t_local_s`` / ``t_server_s``. With ``branches="refuse"`` the import
stops with the nodes that fork and merge. Blocks are never split: offloading can
only start at a crossing point.

Layers whose ONNX shapes the plain hyper-parameters would not reproduce
(non-square kernels, asymmetric padding, dilation, an activation after a
Flatten, ...) are written with explicit ``out_shape`` and G, K, O, I computed
from the ONNX attributes, so the written spec never disagrees with ONNX.

``onnx`` is an optional dependency (``pip install 'mecopt[onnx]'``), imported
only when a model is read.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from mecopt.model import dnn
from mecopt.errors import InputError

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
SOFTMAX_OPS = frozenset({"Softmax", "LogSoftmax"})
#: operators that only route data; allowed inside collapsed blocks (they add no MACs)
STRUCTURAL_OPS = frozenset({"Add", "Sub", "Mul", "Div", "Sum", "Max", "Min", "Mean", "Concat", "Split",
                            "Slice", "Transpose", "Pad"})
KNOWN_OPS = (SKIP_OPS | LAYOUT_OPS | ACTIVATION_OPS | AFFINE_OPS | POOL_OPS | GLOBAL_POOL_OPS | SOFTMAX_OPS
             | STRUCTURAL_OPS | {"Conv", "Gemm", "MatMul", "LRN"})
#: operators whose outputs describe shapes, not data
META_OPS = frozenset({"Shape", "Size"})

_EPS = 1e-9


def require_onnx():
    try:
        import onnx
        import onnx.shape_inference  # noqa: F401
    except ImportError as err:
        raise InputError("importing ONNX models needs the onnx package: pip install 'mecopt[onnx]'") from err
    return onnx


@dataclass
class ImportResult:
    """What :func:`import_onnx` returns: the spec (as TOML-ready data and validated) and notes."""

    data: dict                      # the spec as a plain dict (name, description, input, layers)
    spec: dnn.DNNSpec
    table: dnn.LayerTable
    notes: list[str] = field(default_factory=list)
    comments: dict[int, str] = field(default_factory=dict)  # layer index (0-based) -> comment in the TOML
    source: str = ""

    def to_toml(self) -> str:
        header = [f"# Imported from {self.source} by `mecopt import-onnx`: {self.table.num_layers} layers."]
        header += [f"# {n}" for n in self.notes]
        return dnn.format_spec_toml(self.data, header=header, comments=self.comments)


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


def _attrs(onnx, node) -> dict:
    out = {}
    for a in node.attribute:
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


def _view(dims: list[int], what: str) -> tuple[int, int, int]:
    """An ONNX tensor shape (batch first when rank >= 2) as the (C, H, W) of the chain model."""
    if len(dims) == 4:
        return int(dims[1]), int(dims[2]), int(dims[3])
    if len(dims) == 3:
        return int(dims[1]), int(dims[2]), 1
    if len(dims) == 2:
        return int(dims[1]), 1, 1
    if len(dims) == 1:
        return int(dims[0]), 1, 1
    if len(dims) == 0:
        return 1, 1, 1
    raise InputError(f"{what} has rank {len(dims)}; the chain model handles tensors of rank <= 4 (N, C, H, W)")


def _pair(values, default: int, n: int = 2) -> list[int]:
    if values is None:
        return [default] * n
    return [int(v) for v in values]


@dataclass
class _Mapped:
    """One ONNX node mapped to a layer: the plain spec (if the hyper-parameters express it) and the true factors."""

    type: str
    plain: dict | None     # layer fields without name; None: only the explicit form is right
    factors: tuple[float, float, float, float]


class _Importer:
    def __init__(self, model, name: str, input_shape: tuple[int, int, int] | None, branches: Branches,
                 source: str):
        self.onnx = require_onnx()
        self.name = name
        self.branches = branches
        self.source = source
        self.notes: list[str] = []
        self.model = self._prepare(model, input_shape)

    # -- setup -------------------------------------------------------------------------------

    def _prepare(self, model, input_shape):
        onnx = self.onnx
        graph = model.graph
        inits = {t.name for t in graph.initializer}
        inputs = [i for i in graph.input if i.name not in inits]
        if len(inputs) != 1:
            raise InputError(f"{self.source}: the chain model needs exactly one graph input, found {len(inputs)}: "
                             f"{[i.name for i in inputs]}")
        if len(graph.output) != 1:
            raise InputError(f"{self.source}: the chain model needs exactly one graph output, found "
                             f"{len(graph.output)}: {[o.name for o in graph.output]}")
        if any(n.domain not in ("", "ai.onnx") for n in graph.node):
            bad = sorted({f"{n.domain}::{n.op_type}" for n in graph.node if n.domain not in ("", "ai.onnx")})
            raise InputError(f"{self.source}: unsupported operators outside the standard ONNX domain: {bad}")
        model = onnx.ModelProto.FromString(model.SerializeToString())  # never touch the caller's model
        inp = [i for i in model.graph.input if i.name not in inits][0]
        dims = inp.type.tensor_type.shape.dim
        if input_shape is not None:
            if len(dims) not in (0, 4):
                raise InputError(f"{self.source}: --input-shape C,H,W needs a 4-D (N, C, H, W) input; "
                                 f"'{inp.name}' has rank {len(dims)}")
            del inp.type.tensor_type.shape.dim[:]
            for v in (1, *input_shape):
                inp.type.tensor_type.shape.dim.add().dim_value = int(v)
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
            raise InputError(f"{self.source}: ONNX shape inference failed: {str(err).strip().splitlines()[0]}") from None

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
        unknown = [(f"{n.op} '{n.name or n.index}'", "no layer type for this operator")
                   for n in data_nodes if n.op not in KNOWN_OPS]
        if unknown:
            raise _unsupported(self.source, unknown)
        self._check_shapes(data_nodes)
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
                              + ", ".join(f"{n.op} '{n.name or n.index}'" for n in dropped[:8])
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

    def _check_shapes(self, nodes: list[_Node]) -> None:
        def fixed(t):
            d = self.shapes.get(t)
            return d is not None and all(x is not None for x in d)

        if not fixed(self.input_name):  # a symbolic H or W
            raise InputError(f"{self.source}: the input '{self.input_name}' has no fixed shape "
                             f"({self.shapes.get(self.input_name)}); give it with --input-shape C,H,W")
        used = {x for n in nodes for x in n.data_inputs} | {self.output_name}
        missing = [f"'{o}' (output of {n.op} '{n.name or n.index}')"
                   for n in nodes for o in n.outputs if o in used and not fixed(o)]
        if missing:
            raise InputError(f"{self.source}: ONNX shape inference left these tensors without a fixed shape; "
                             "export the model with static shapes or give --input-shape",
                             [("", m) for m in missing])

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

    def _map(self, n: _Node, unsupported: list) -> _Mapped | str | None:
        """Map one node: a :class:`_Mapped` layer, ``"skip"``, ``"layout"``, ``"affine"`` or None (unsupported)."""
        op = n.op
        where = f"{op} '{n.name or n.index}'"
        x = n.data_inputs[0]
        y = n.outputs[0]
        in_dims, out_dims = self._shape(x), self._shape(y)
        C, H, W = _view(in_dims, f"input of {where}")
        oc, oh, ow = _view(out_dims, f"output of {where}")
        a = n.attrs
        if op in SKIP_OPS:
            return "skip"
        if op in LAYOUT_OPS:
            return "layout"
        if len(set(n.data_inputs)) > 1:  # a merge on the chain cannot happen between crossing points
            unsupported.append((where, "merges two data tensors"))
            return None
        if op == "Conv":
            if len(in_dims) != 4:
                unsupported.append((where, f"Conv on a rank-{len(in_dims)} tensor (only 2-D convolutions)"))
                return None
            w = self._shape(n.inputs[1])
            cout, kh, kw = w[0], w[2], w[3]
            group = int(a.get("group", 1))
            s = _pair(a.get("strides"), 1)
            d = _pair(a.get("dilations"), 1)
            pads = _pair(a.get("pads"), 0, 4)
            auto = a.get("auto_pad", "NOTSET")
            K = float(kh) if kh == kw else math.sqrt(kh * kw)
            factors = (float(oh), K, float(C), float(cout))
            plain = None
            if kh == kw and s[0] == s[1] and d == [1, 1] and auto in ("NOTSET", "VALID") and len(set(pads)) == 1:
                plain = dict(out_channels=int(cout), kernel=int(kh))
                if s[0] != 1:
                    plain["stride"] = s[0]
                if pads[0] and auto == "NOTSET":
                    plain["pad"] = pads[0]
                if group != 1:
                    plain["groups"] = group
            return _Mapped("conv", plain, factors)
        if op in POOL_OPS:
            if len(in_dims) != 4:
                unsupported.append((where, f"{op} on a rank-{len(in_dims)} tensor (only 2-D pooling)"))
                return None
            k = _pair(a.get("kernel_shape"), 1)
            s = _pair(a.get("strides"), 1)
            d = _pair(a.get("dilations"), 1)
            pads = _pair(a.get("pads"), 0, 4)
            auto = a.get("auto_pad", "NOTSET")
            ceil = bool(a.get("ceil_mode", 0))
            K = float(k[0]) if k[0] == k[1] else math.sqrt(k[0] * k[1])
            factors = (float(oh), K, float(C), 1.0)
            plain = None
            if k[0] == k[1] and s[0] == s[1] and d == [1, 1] and auto in ("NOTSET", "VALID") and len(set(pads)) == 1:
                plain = dict(kernel=k[0])
                if s[0] != 1:
                    plain["stride"] = s[0]
                if pads[0] and auto == "NOTSET":
                    plain["pad"] = pads[0]
                if not ceil:
                    plain["ceil_mode"] = False
            return _Mapped("pool", plain, factors)
        if op in GLOBAL_POOL_OPS:
            if len(in_dims) != 4:
                unsupported.append((where, f"{op} on a rank-{len(in_dims)} tensor"))
                return None
            K = float(H) if H == W else math.sqrt(H * W)
            plain = dict(kernel=H, ceil_mode=False) if H == W else None
            return _Mapped("pool", plain, (1.0, K, float(C), 1.0))
        if op == "Gemm":
            if int(a.get("transA", 0)) or not self._is_const(n.inputs[1]):
                unsupported.append((where, "Gemm with transA or a non-constant B is not a fully connected layer"))
                return None
            b = self._shape(n.inputs[1])
            out_f = b[0] if int(a.get("transB", 0)) else b[1]
            return _Mapped("fc", dict(out_features=int(out_f)), (1.0, 1.0, float(C * H * W), float(out_f)))
        if op == "MatMul":
            other = [t for t in n.inputs if t != x]
            if len(in_dims) != 2 or n.inputs[0] != x or not other or not self._is_const(other[0]) \
                    or len(self._shape(other[0])) != 2:
                unsupported.append((where, "MatMul other than (1, F) x constant (F, F') is not a fully connected layer"))
                return None
            out_f = self._shape(other[0])[1]
            return _Mapped("fc", dict(out_features=int(out_f)), (1.0, 1.0, float(C * H * W), float(out_f)))
        if op in ACTIVATION_OPS:
            return _Mapped("relu", {}, (float(H), 1.0, float(C), 1.0))
        if op == "LRN":
            return _Mapped("lrn", {}, (float(H), 1.0, float(C), 1.0))
        if op in SOFTMAX_OPS:
            return _Mapped("softmax", {}, (float(H), 1.0, float(C), 1.0))
        if op in AFFINE_OPS:
            if op != "BatchNormalization" and out_dims != in_dims:
                unsupported.append((where, "broadcasts to a different shape"))
                return None
            return "affine"
        unsupported.append((where, "no layer type for this operator"))
        return None

    def _macs(self, n: _Node, unsupported: list) -> float:
        """G²K²OI of a node inside a block; element-wise ops count G²·C, data movement 0."""
        if n.op in SKIP_OPS or n.op in LAYOUT_OPS:
            return 0.0
        if n.op in AFFINE_OPS or n.op in ("Sum", "Max", "Min", "Mean"):
            C, H, _ = _view(self._shape(n.outputs[0]), f"output of {n.op} '{n.name or n.index}'")
            return float(H) ** 2 * C
        if n.op in STRUCTURAL_OPS:
            return 0.0
        m = self._map(n, unsupported)
        if not isinstance(m, _Mapped):
            return 0.0
        G, K, O, I = m.factors
        return G * G * K * K * O * I

    def _build(self, segments) -> ImportResult:
        in_c, in_h, in_w = _view(self._shape(self.input_name), f"input '{self.input_name}'")
        layers: list[dict] = []
        comments: dict[int, str] = {}
        unsupported: list[tuple[str, str]] = []
        branching: list[tuple[str, str]] = []
        running = (in_c, in_h, in_w)       # shape as mecopt.model.dnn propagates the spec written so far
        last_kind = None                   # type of the last layer written, for folding
        used_names: set[str] = set()
        skipped: list[str] = []
        folded: list[str] = []
        layouts: list[str] = []
        expected: list[tuple[int, int, int]] = []  # ONNX's shape after each layer written

        def unique(name: str) -> str:
            base, k = name, 2
            while name in used_names:
                name, k = f"{base}_{k}", k + 1
            used_names.add(name)
            return name

        def emit(ltype: str, plain: dict | None, factors, out_view, name: str, comment: str = ""):
            nonlocal running, last_kind
            layer = None
            if plain is not None:
                cand = {"name": name, "type": ltype, **plain}
                got = _propagate_one(running, cand)
                if got is not None and got[0] == out_view and _close(got[1], factors):
                    layer = cand
            if layer is None:
                layer = {"name": name, "type": ltype, **(plain or {}), "out_shape": list(out_view),
                         "G": factors[0], "K": factors[1], "O": factors[2], "I": factors[3]}
            layers.append(layer)
            expected.append(out_view)
            if comment:
                comments[len(layers) - 1] = comment
            running = out_view
            last_kind = ltype

        for seg, t_in, t_out in segments:
            out_view = _view(self._shape(t_out), f"tensor '{t_out}'")
            if len(seg) == 1:
                n = seg[0]
                m = self._map(n, unsupported)
                if m is None:
                    continue
                label = f"{n.op} '{n.name or n.index}'"
                if m == "skip":
                    skipped.append(label)
                    continue
                if m == "layout":
                    layouts.append(label)
                    continue
                if m == "affine":
                    if last_kind in ("conv", "fc") and layers and _view(self._shape(t_out), "") == running:
                        folded.append(f"{label} into '{layers[-1]['name']}'")
                        continue
                    emit("relu", {}, (float(out_view[1]), 1.0, float(out_view[0]), 1.0), out_view,
                         unique(self.layer_name[n.index]), comment=f"{n.op}: element-wise layer")
                    continue
                comment = "" if n.op.lower() == m.type else n.op
                emit(m.type, m.plain, m.factors, out_view, unique(self.layer_name[n.index]), comment)
                continue
            # a branching region between two crossing points
            forks = self._describe_branching(seg, t_in)
            branching.extend(forks)
            if self.branches == "refuse":
                continue
            macs = sum(self._macs(n, unsupported) for n in seg)
            c_in = _view(self._shape(t_in), "")[0]
            G, O, I = float(out_view[1]), float(c_in), float(out_view[0])
            K = math.sqrt(macs / (G * G * O * I)) if macs > 0 else 0.0
            name = unique(_common_name(seg) or "block")
            ops = [n.op for n in seg]
            summary = ", ".join(f"{op} x{ops.count(op)}" if ops.count(op) > 1 else op for op in dict.fromkeys(ops))
            layers.append({"name": name, "type": "block", "out_shape": list(out_view),
                           "G": G, "K": K, "O": O, "I": I})
            expected.append(out_view)
            comments[len(layers) - 1] = f"{len(seg)} nodes: {summary}"
            running = out_view
            last_kind = "block"

        if unsupported:
            raise _unsupported(self.source, unsupported)
        if branching and self.branches == "refuse":
            raise InputError(f"{self.source}: the graph branches, so it is not a chain (import with "
                             "branches collapsed into block layers, or cut the model)", branching)
        if not layers:
            raise InputError(f"{self.source}: no layer left after skipping {', '.join(skipped + layouts)}")
        if skipped:
            self.notes.append("skipped: " + ", ".join(skipped))
        if folded:
            self.notes.append("folded (inference-time fusion): " + ", ".join(folded))
        if layouts:
            self.notes.append("data layout only, no layer: " + ", ".join(layouts))
        blocks = [l["name"] for l in layers if l["type"] == "block"]
        if blocks:
            self.notes.append(f"{len(blocks)} branching region(s) collapsed into block layers "
                              "(MAC-equivalent factors; partition points only between blocks)")

        data = {"name": self.name, "description": f"imported from {Path(self.source).name}",
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
                            source=self.source)

    def _describe_branching(self, seg: list[_Node], t_in: str) -> list[tuple[str, str]]:
        inside = {o for n in seg for o in n.outputs if o} | {t_in}
        users: dict[str, list[_Node]] = {}
        for n in seg:
            for x in dict.fromkeys(n.data_inputs):
                users.setdefault(x, []).append(n)
        out = []
        for t, us in users.items():
            if t in inside and len(us) > 1:
                out.append((f"tensor '{t}'", "forks into " + ", ".join(f"{u.op} '{u.name or u.index}'" for u in us)))
        for n in seg:
            if len(set(n.data_inputs)) > 1:
                out.append((f"{n.op} '{n.name or n.index}'", "merges " + ", ".join(f"'{x}'" for x in n.data_inputs)))
        return out


def _unsupported(source: str, problems: list[tuple[str, str]]) -> InputError:
    ops = sorted({w.split(" ")[0] for w, _ in problems})
    return InputError(f"{source}: unsupported operator(s) {', '.join(ops)}; the importer maps Conv, pooling, "
                      "Gemm/MatMul, activations, LRN, Softmax, BatchNormalization, Flatten/Reshape, "
                      "Dropout/Identity, and inside branching blocks also Add/Concat/Split/Slice/Transpose/Pad "
                      "(docs/byo-dnn.md)", problems)


def _qualify(parts: list[str]) -> str:
    """torch's ONNX names nest modules ('/layer1/layer1.0/relu_1/Relu'); give the dotted module path."""
    q = parts[0]
    for p in parts[1:]:
        q = p if p.startswith(q + ".") else f"{q}.{p}"
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
    """Output shape and factors mecopt.model.dnn gives one layer from ``shape``; None if it does not propagate."""
    c, h, w = shape
    try:
        spec = dnn.DNNSpec(name="one", input=dnn.InputSpec(channels=c, height=h, width=w),
                           layers=[dnn.LayerSpec(**layer)])
        t = dnn.propagate(spec)
    except (InputError, ValueError):
        return None
    row = t.frame.iloc[1]
    return (int(row.C), int(row.H), int(row.W)), (float(row.G), float(row.K), float(row.O), float(row.I))


def import_onnx(model, *, name: str | None = None, input_shape: tuple[int, int, int] | None = None,
                branches: Branches = "collapse") -> ImportResult:
    """Import an ONNX model (a path or an ``onnx.ModelProto``) as a DNN spec.

    ``input_shape`` (C, H, W) fixes an input whose sizes are symbolic; a symbolic
    batch dimension is always taken as 1. ``branches`` chooses between collapsing
    branching regions into ``block`` layers and refusing such graphs.
    """
    onnx = require_onnx()
    if branches not in ("collapse", "refuse"):
        raise InputError(f"The 'branches' parameter of import_onnx must be 'collapse' or 'refuse'. Got {branches!r} instead.")
    if isinstance(model, str | Path):
        path = Path(model)
        try:
            proto = onnx.load(str(path))
        except FileNotFoundError:
            raise InputError(f"ONNX model not found: {path}") from None
        except Exception as err:
            raise InputError(f"cannot read {path} as an ONNX model: {err}") from None
        source = str(path)
        default_name = path.stem
    else:
        proto = model
        source = proto.graph.name or "<onnx model>"
        default_name = proto.graph.name or "imported"
    name = name or re.sub(r"[^A-Za-z0-9_.-]+", "-", default_name).strip("-").lower() or "imported"
    try:
        return _Importer(proto, name, input_shape, branches, source).run()
    except InputError:
        raise
    except (TypeError, ValueError, KeyError, IndexError, AttributeError, ZeroDivisionError, OverflowError) as err:
        # a damaged model (an attribute of the wrong type, a shape that does not add up) is bad input
        raise InputError(f"ONNX model {source} is malformed ({type(err).__name__}: {err})") from None
