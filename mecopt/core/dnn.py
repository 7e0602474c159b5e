"""DNNs as layer chains (§2.1): architecture spec -> shape propagation -> layer table.

A spec is a small TOML file (see ``models/dnn/``): the input shape and a list of
layers, each with a type and its hyper-parameters. Shapes are propagated from the
input, so a new chain DNN is a few lines of data. Layer 0 of the table is the
network input; layers 1..M are the subtasks of the paper.

The factors of the delay model (eqs. 5-7) follow docs/MODEL.md §1:

========  =============  ===========  ==================  =================
type      G              K            O                   I
========  =============  ===========  ==================  =================
conv      output side    kernel       input channels [*]  output channels
fc        1              1            input features      output features
pool      output side    pool kernel  channels            1
relu/lrn  side (1: vec)  1            channels            1
softmax   side (1: vec)  1            channels            1
========  =============  ===========  ==================  =================

norm      side (1: vec)  1            channels            1
copy      side (1: vec)  1            channels            1
========  =============  ===========  ==================  =================

[*] The grouped-convolution rule (:func:`uses_channels_per_group`): with the
default ``grouped_conv="auto"`` a convolution uses C_in/groups when the spec says
``grouped_conv = "per_group"`` (every imported and catalog spec) or when it is
depthwise (groups = C_in > 1); otherwise the full C_in (the paper's AlexNet, whose
two-group convolutions keep their full input channels, MODEL.md §1).
``"full"`` and ``"per_group"`` force one rule for every grouped convolution.

A layer may also give ``G, K, O, I`` and ``out_shape`` explicitly, and measured
``t_local_s`` / ``t_server_s`` that override the prediction. A ``block`` (an
imported branching region) lists its operators in ``ops``, each with its own
delay class and G, K, O, I; the predicted delay of a layer is the sum over its
operators (:meth:`LayerTable.op_frame`, :func:`mecopt.core.delay.layer_delays`).
Every other layer is one operator whose class follows from its type (:data:`OP_CLASSES`).
"""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mecopt.core import limits
from mecopt.core.document import read_toml
from mecopt.core.errors import InputError, validation_problems
from mecopt.core.resources import dnn_dir

LayerType = Literal["conv", "pool", "fc", "relu", "lrn", "softmax", "norm", "copy", "block"]
GroupedConv = Literal["auto", "full", "per_group"]
#: delay classes of operators (one coefficient set each in a per-type delay model)
OpClass = Literal["conv", "dwconv", "fc", "pool", "eltwise", "norm", "attention"]
OP_CLASSES: tuple[str, ...] = ("conv", "dwconv", "fc", "pool", "eltwise", "norm", "attention")
#: the delay class of a (non-block) layer type; a conv is ``dwconv`` when depthwise
LAYER_CLASS = {"conv": "conv", "fc": "fc", "pool": "pool", "relu": "eltwise", "copy": "eltwise",
               "lrn": "norm", "softmax": "norm", "norm": "norm", "block": "conv"}


class _Strict(BaseModel):
    # strict: no bool -> int (kernel = true), no str -> number (kernel = "5"), no inf/nan
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


#: one side, channel or feature count of a layer
Size = Annotated[int, Field(gt=0, le=10**7)]
#: a factor G, K, O, I of eq. (5) given explicitly
Factor = Annotated[float, Field(ge=0, le=1e9)]
#: a measured layer time, seconds
Seconds = Annotated[float, Field(ge=0, le=limits.MAX_TIME_S)]


class InputSpec(_Strict):
    """The input tensor of a DNN spec: channels x height x width.

    Attributes
    ----------
    channels : Size
        Input channels C.
    height : Size
        Input height H.
    width : Size
        Input width W.
    """

    channels: Size
    height: Size
    width: Size


class OpSpec(_Strict):
    """One operator of a ``block``: its delay class, the ONNX operator and its factors.

    For a (depthwise) convolution ``O`` is the input channels *per group* and
    ``groups`` the group count, so that the grouped-convolution rule can scale it.

    Attributes
    ----------
    type : OpClass
        The operator's delay class.
    op : str
        The ONNX operator.
    G : Factor
        Factor G (output side).
    K : Factor
        Factor K (kernel side).
    O : Factor
        Factor O (input channels, per group for a grouped convolution).
    I : Factor
        Factor I (output channels).
    groups : Size
        Groups of a convolution.
    """

    type: OpClass
    op: str = Field(default="", max_length=256)
    G: Factor
    K: Factor
    O: Factor
    I: Factor
    groups: Size = 1


class LayerSpec(_Strict):
    """One layer of a DNN spec: its type and the hyper-parameters that give its factors G, K, O, I (eqs. 5-7).

    Attributes
    ----------
    name : str
        Layer name.
    type : LayerType
        Layer type.
    out_channels : Size or None
        Output channels (conv).
    out_features : Size or None
        Output features (fc).
    kernel : Size or None
        Kernel side (conv, pool).
    stride : Size
        Stride (conv, pool).
    pad : int
        Padding (conv, pool).
    groups : Size
        Groups (conv).
    ceil_mode : bool
        Caffe pooling rounds up.
    out_shape : tuple[Size, Size, Size] or None
        Explicit output shape (C, H, W), required for a block.
    G : Factor or None
        Factor G, overriding the derived one.
    K : Factor or None
        Factor K, overriding the derived one.
    O : Factor or None
        Factor O, overriding the derived one.
    I : Factor or None
        Factor I, overriding the derived one.
    ops : list[OpSpec] or None
        a block's operators; its delay is the sum over them.
    t_local_s : Seconds or None
        Measured local time in seconds, overriding eq. (6).
    t_server_s : Seconds or None
        Measured server time in seconds, overriding eq. (7).
    """

    name: str = Field(min_length=1, max_length=256)
    type: LayerType
    out_channels: Size | None = None
    out_features: Size | None = None
    kernel: Size | None = None
    stride: Size = 1
    pad: int = Field(default=0, ge=0, le=10**7)
    groups: Size = 1
    ceil_mode: bool = True  # Caffe pooling rounds up
    # explicit overrides (imported blocks, exotic layers)
    out_shape: tuple[Size, Size, Size] | None = None
    G: Factor | None = None
    K: Factor | None = None
    O: Factor | None = None
    I: Factor | None = None
    ops: list[OpSpec] | None = None  # a block's operators; its delay is the sum over them
    # measured times override the delay model
    t_local_s: Seconds | None = None
    t_server_s: Seconds | None = None

    @field_validator("out_shape", mode="before")
    @classmethod
    def _shape_tuple(cls, v: Any) -> Any:
        return tuple(v) if isinstance(v, list) else v


class DNNSpec(_Strict):
    """A DNN spec file: name, description, source, grouped-convolution rule, input and layers.

    Attributes
    ----------
    name : str
        DNN name.
    description : str
        Free text.
    source : str
        Where the spec came from (model file, exporter, input shape)
    grouped_conv : Literal['full', 'per_group']
        The spec's own rule (see uses_channels_per_group)
    input : InputSpec
        The input tensor.
    layers : list[LayerSpec]
        The layers of the chain, in order.
    """

    name: str = Field(min_length=1, max_length=256)
    description: str = Field(default="", max_length=10_000)
    source: str = Field(default="", max_length=10_000)  # where the spec came from (model file, exporter, input shape)
    grouped_conv: Literal["full", "per_group"] = "full"  # the spec's own rule (see uses_channels_per_group)
    input: InputSpec
    layers: list[LayerSpec] = Field(min_length=1, max_length=limits.MAX_LAYERS)


@dataclass(frozen=True)
class LayerTable:
    """Per-layer data of one DNN; index 0 is the input, 1..M the layers.

    Attributes
    ----------
    name : str
        DNN name.
    frame : pandas.DataFrame
        Columns: layer, name, type, C, H, W, out_elements, G, K, O, I, t_local_s, t_server_s.
    ops : pandas.DataFrame or None
        Columns: layer, type (delay class), op, G, K, O, I.
    """

    name: str
    frame: pd.DataFrame  # columns: layer, name, type, C, H, W, out_elements, G, K, O, I, t_local_s, t_server_s
    ops: pd.DataFrame | None = None  # columns: layer, type (delay class), op, G, K, O, I

    @property
    def num_layers(self) -> int:
        """Number of layers M (the input row excluded)."""
        return len(self.frame) - 1

    def factors(self) -> np.ndarray:
        """(M+1) x 4 array of (G, K, O, I); row 0 (input) is all zero.

        Returns
        -------
        numpy.ndarray
            (G, K, O, I) per layer, shape (M+1, 4).
        """
        factors: np.ndarray = self.frame[["G", "K", "O", "I"]].to_numpy(dtype=float)
        return factors

    def op_frame(self) -> pd.DataFrame:
        """One row per operator (layer, type = delay class, op, G, K, O, I); a block has several.

        Returns
        -------
        pandas.DataFrame
            The operators, one row each.
        """
        if self.ops is not None:
            return self.ops
        rows = self.frame.iloc[1:]
        return pd.DataFrame({"layer": rows["layer"], "type": [LAYER_CLASS[t] for t in rows["type"]],
                             "op": rows["type"], "G": rows["G"], "K": rows["K"], "O": rows["O"], "I": rows["I"]})


def parse_spec(data: dict[str, Any], source: str = "<spec>") -> DNNSpec:
    """Validate a parsed DNN spec document; InputError listing every problem with its field path.

    Parameters
    ----------
    data : dict[str, Any]
        The parsed spec document.
    source : str, default '<spec>'
        Where the document came from (for messages).

    Returns
    -------
    DNNSpec
        The validated spec.

    Raises
    ------
    InputError
        When the document is not a valid spec.
    """
    try:
        return DNNSpec.model_validate(data)
    except ValidationError as err:
        raise InputError(f"invalid DNN spec {source}", validation_problems(err)) from None


def load_spec(path: str | Path) -> DNNSpec:
    """Read and validate the DNN spec TOML file at ``path``.

    Parameters
    ----------
    path : str or Path
        The spec file.

    Returns
    -------
    DNNSpec
        The validated spec.
    """
    data, _ = read_toml(path, "DNN spec")
    return parse_spec(data, str(path))


def catalog() -> list[str]:
    """Names of the DNNs bundled in ``models/dnn``.

    Returns
    -------
    list[str]
        The bundled DNN names, sorted.
    """
    return sorted(p.stem for p in dnn_dir().glob("*.toml"))


def _out_side(size: int, kernel: int, stride: int, pad: int, ceil_mode: bool) -> int:
    span = size + 2 * pad - kernel
    if span < 0:
        raise ValueError(f"kernel {kernel} larger than padded input {size + 2 * pad}")
    steps = math.ceil(span / stride) if ceil_mode else span // stride
    return steps + 1


def uses_channels_per_group(grouped_conv: GroupedConv, spec_rule: str, groups: int, channels_per_group: float) -> bool:
    """The grouped-convolution rule (MODEL.md §1, docs/byo-dnn.md).

    Does O count C_in/groups?
    ``"full"`` / ``"per_group"`` force the answer; ``"auto"`` (default) follows the
    spec's own ``grouped_conv`` and always counts a depthwise convolution
    (one input channel per group) per group.

    Parameters
    ----------
    grouped_conv : GroupedConv
        The instance's rule: ``auto``, ``full`` or ``per_group``.
    spec_rule : str
        The spec's own ``grouped_conv``.
    groups : int
        The convolution's groups.
    channels_per_group : float
        Input channels per group.

    Returns
    -------
    bool
        True when O counts the input channels per group.
    """
    if groups <= 1 or grouped_conv == "full":
        return False
    if grouped_conv == "per_group":
        return True
    return spec_rule == "per_group" or channels_per_group == 1


def propagate(spec: DNNSpec, grouped_conv: GroupedConv = "auto") -> LayerTable:
    """Shape propagation over the chain, giving the layer table and its operators (§2.1, MODEL.md §1).

    Parameters
    ----------
    spec : DNNSpec
        The validated spec.
    grouped_conv : GroupedConv, default 'auto'
        The grouped-convolution rule (:func:`uses_channels_per_group`).

    Returns
    -------
    LayerTable
        The layer table.

    Raises
    ------
    InputError
        When a layer cannot be propagated (listing every such layer).
    """
    C, H, W = spec.input.channels, spec.input.height, spec.input.width
    rows = [dict(layer=0, name="input", type="input", C=C, H=H, W=W, G=0.0, K=0.0, O=0.0, I=0.0,
                 t_local_s=np.nan, t_server_s=np.nan)]
    ops: list[dict[str, Any]] = []
    problems = []
    for idx, layer in enumerate(spec.layers, start=1):
        where = f"layers.{idx - 1}"
        c_in = C
        try:
            C, H, W, G, K, O, I = _layer_step(layer, C, H, W, grouped_conv, spec.grouped_conv)
        except ValueError as err:
            problems.append((f"{where} ({layer.name})", str(err)))
            continue
        G = layer.G if layer.G is not None else G
        K = layer.K if layer.K is not None else K
        O = layer.O if layer.O is not None else O
        I = layer.I if layer.I is not None else I
        if C * H * W > limits.MAX_ELEMENTS:
            problems.append((f"{where} ({layer.name})", f"output {C} x {H} x {W} has more than "
                             f"{limits.MAX_ELEMENTS:g} elements"))
            break
        if layer.ops:
            for op in layer.ops:
                o = op.O
                if op.type in ("conv", "dwconv") and not uses_channels_per_group(grouped_conv, spec.grouped_conv,
                                                                              op.groups, op.O):
                    o = op.O * op.groups
                ops.append(dict(layer=idx, type=op.type, op=op.op, G=op.G, K=op.K, O=float(o), I=op.I))
            if layer.G is None:  # a MAC-equivalent summary for display: G = side, O = C_in, I = C_out
                macs = sum(r["G"] ** 2 * r["K"] ** 2 * r["O"] * r["I"] for r in ops if r["layer"] == idx)
                G, O, I = float(H), float(c_in), float(C)
                K = math.sqrt(macs / (G * G * O * I)) if macs > 0 and G * O * I > 0 else 0.0
        else:
            cls = LAYER_CLASS[layer.type]
            if layer.type == "conv" and layer.groups > 1 and layer.groups == c_in:
                cls = "dwconv"
            ops.append(dict(layer=idx, type=cls, op=layer.type, G=float(G), K=float(K), O=float(O), I=float(I)))
        rows.append(dict(layer=idx, name=layer.name, type=layer.type, C=C, H=H, W=W,
                         G=float(G), K=float(K), O=float(O), I=float(I),
                         t_local_s=np.nan if layer.t_local_s is None else layer.t_local_s,
                         t_server_s=np.nan if layer.t_server_s is None else layer.t_server_s))
    if problems:
        raise InputError(f"DNN spec '{spec.name}' has layers whose shapes do not propagate", problems)
    frame = pd.DataFrame(rows)
    frame["out_elements"] = frame["C"] * frame["H"] * frame["W"]
    frame = frame[["layer", "name", "type", "C", "H", "W", "out_elements", "G", "K", "O", "I",
                   "t_local_s", "t_server_s"]]
    op_frame = pd.DataFrame(ops, columns=["layer", "type", "op", "G", "K", "O", "I"])
    return LayerTable(spec.name, frame, op_frame)


def _layer_step(layer: LayerSpec, C: int, H: int, W: int, grouped_conv: GroupedConv,
                spec_rule: str = "full") -> tuple[int, int, int, float, float, float, float]:
    """One layer of shape propagation: returns the output shape and (G, K, O, I)."""
    side = H  # square feature maps in every bundled DNN; G uses the height
    if layer.out_shape is not None:
        oc, oh, ow = layer.out_shape
        return oc, oh, ow, oh, 1, C, oc
    t = layer.type
    if t == "conv":
        if layer.out_channels is None or layer.kernel is None:
            raise ValueError("conv needs out_channels and kernel")
        if C % layer.groups or layer.out_channels % layer.groups:
            raise ValueError(f"groups={layer.groups} does not divide the channels ({C} in, {layer.out_channels} out)")
        oh = _out_side(H, layer.kernel, layer.stride, layer.pad, ceil_mode=False)
        ow = _out_side(W, layer.kernel, layer.stride, layer.pad, ceil_mode=False)
        per_group = uses_channels_per_group(grouped_conv, spec_rule, layer.groups, C // layer.groups)
        o = C // layer.groups if per_group else C
        return layer.out_channels, oh, ow, oh, layer.kernel, o, layer.out_channels
    if t == "pool":
        if layer.kernel is None:
            raise ValueError("pool needs kernel")
        oh = _out_side(H, layer.kernel, layer.stride, layer.pad, layer.ceil_mode)
        ow = _out_side(W, layer.kernel, layer.stride, layer.pad, layer.ceil_mode)
        return C, oh, ow, oh, layer.kernel, C, 1
    if t == "fc":
        if layer.out_features is None:
            raise ValueError("fc needs out_features")
        return layer.out_features, 1, 1, 1, 1, C * H * W, layer.out_features
    if t in ("relu", "lrn", "softmax", "norm", "copy"):
        return C, H, W, side, 1, C, 1
    if t == "block":
        raise ValueError("block layers need an explicit out_shape")
    raise ValueError(f"unknown layer type {t!r}")


@lru_cache(maxsize=64)
def _cached_table(path: str, mtime: float, grouped_conv: GroupedConv) -> LayerTable:
    return propagate(load_spec(path), grouped_conv)


def resolve_path(name_or_path: str, base: Path | None = None) -> Path:
    """A DNN given by catalog name (``alexnet``) or by spec file path.

    Parameters
    ----------
    name_or_path : str
        A catalog name or a ``.toml`` path.
    base : Path or None, default None
        Folder that relative paths are read from.

    Returns
    -------
    Path
        The spec file.

    Raises
    ------
    InputError
        When the file or name is unknown.
    """
    candidate = Path(name_or_path)
    if candidate.suffix == ".toml":
        if not candidate.is_absolute() and base is not None and (base / candidate).exists():
            candidate = base / candidate
        if not candidate.exists():
            raise InputError(f"DNN spec file not found: {name_or_path}")
        return candidate
    path = dnn_dir() / f"{name_or_path.lower()}.toml"
    if not path.exists():
        raise InputError(f"unknown DNN {name_or_path!r}; bundled: {', '.join(catalog())} (or give a .toml spec path)")
    return path


def layer_table(name_or_path: str, grouped_conv: GroupedConv = "auto", base: Path | None = None) -> LayerTable:
    """The layer table of a bundled DNN or of a spec file.

    Parameters
    ----------
    name_or_path : str
        A catalog name or a ``.toml`` path.
    grouped_conv : GroupedConv, default 'auto'
        The grouped-convolution rule.
    base : Path or None, default None
        Folder that relative paths are read from.

    Returns
    -------
    LayerTable
        The layer table (cached per file and modification time).
    """
    path = resolve_path(name_or_path, base)
    return _cached_table(str(path.resolve()), path.stat().st_mtime, grouped_conv)


# --- writing specs back to TOML (used by the ONNX importer and the profiler)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ValueError(f"cannot write {v!r} into a DNN spec")
        if v.is_integer() and abs(v) < 1e15:
            return str(int(v))
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)  # a JSON string is a valid TOML basic string
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} into a DNN spec")


def _inline(d: dict[str, Any]) -> str:
    return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in d.items()) + " }"


def _inline_layer(layer: dict[str, Any]) -> str:
    """A layer as one inline table; a block's ``ops`` array spans one line per operator."""
    if not layer.get("ops"):
        return _inline(layer)
    rest = {k: v for k, v in layer.items() if k != "ops"}
    ops = "".join(f"\n      {_inline(op)}," for op in layer["ops"])
    return _inline(rest)[:-2] + f", ops = [{ops}\n    ] }}"


def format_spec_toml(data: dict[str, Any], header: list[str] | None = None,
                     comments: dict[int, str] | None = None) -> str:
    """A DNN spec dict as TOML in the style of ``models/dnn/*.toml`` (one inline table per layer).

    Parameters
    ----------
    data : dict[str, Any]
        The spec as plain data (:func:`spec_to_data`).
    header : list[str] or None, default None
        Comment lines written first.
    comments : dict[int, str] or None, default None
        A comment per 0-based layer index.

    Returns
    -------
    str
        The TOML text.
    """
    lines = list(header or [])
    lines.append(f"name = {_toml_value(data['name'])}")
    for key in ("description", "source"):
        if data.get(key):
            lines.append(f"{key} = {_toml_value(data[key])}")
    if data.get("grouped_conv", "full") != "full":
        lines.append(f"grouped_conv = {_toml_value(data['grouped_conv'])}")
    lines.append(f"input = {_inline(data['input'])}")
    lines += ["", "layers = ["]
    for i, layer in enumerate(data["layers"]):
        line = f"  {_inline_layer(layer)},"
        if comments and i in comments:
            line += f"  # {comments[i]}"
        lines.append(line)
    lines.append("]")
    text = "\n".join(lines) + "\n"
    tomllib.loads(text)  # what we write must read back
    return text


def spec_to_data(spec: DNNSpec) -> dict[str, Any]:
    """A validated spec back to plain data, leaving out defaults (as the hand-written specs do).

    Parameters
    ----------
    spec : DNNSpec
        The validated spec.

    Returns
    -------
    dict[str, Any]
        The spec as plain data.
    """
    layers = []
    for layer in spec.layers:
        rest = layer.model_dump(exclude_defaults=True, exclude={"name", "type", "ops"})
        if layer.ops:
            rest["ops"] = [op.model_dump(exclude_defaults=True) for op in layer.ops]
        layers.append({"name": layer.name, "type": layer.type, **rest})
    return {"name": spec.name, "description": spec.description, "source": spec.source,
            "grouped_conv": spec.grouped_conv, "input": spec.input.model_dump(), "layers": layers}
