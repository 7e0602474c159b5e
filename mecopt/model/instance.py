"""Instance files (TOML) -> a validated, frozen [Instance][mecopt.Instance] of per-device arrays.

The file format (unit-suffixed field names; every default is the paper preset of
Fig. 4 with the choices of docs/MODEL.md):

.. code-block:: toml

    name = "fig6-w1khz"
    seed = 1                      # draws delta_n when given as a range

    [model]
    bits_per_element = 1          # O_{n,m} = output elements x this
    price_scale = 1e6             # S = delta f_s T_se / price_scale
    capacity_mode = "per_device"  # or "total" (eq. 17 as printed)
    deadline_policy = "hard"      # or "relax": (26) dropped for MDs with no tau-feasible strategy,
                                  # or "soft": (26) replaced by a penalty per second over tau
    deadline_penalty_per_s = 34000  # soft only: cost units of C_n (23) per second over tau_n
    grouped_conv = "auto"         # or "full" / "per_group" (MODEL.md §1, docs/byo-dnn.md)
    delay_local = "device"        # coefficient set of eq. (6), or a .toml path
    delay_server = "server"       # coefficient set of eq. (7)

    [server]
    slots = 5                     # H
    frame_s = 0.75                # T_d
    parallel_limit = 4            # B
    freq_cycles_per_s = 3400      # f_s
    price_base = 1.0              # a_h (a number or one per slot)
    price_growth = 2.0            # b_h
    tx_power_w = 4.0              # P_s

    [topology]                    # neighbours for TPOS-UAI (eq. 29)
    kind = "complete"             # ring | random_geometric | erdos_renyi | edges
    weights = "metropolis"        # or "uniform"

    [device_defaults]             # any device field; devices override
    dnn = "alexnet"

    [[devices]]
    count = 5                     # this entry stands for 5 identical MDs
    alpha = 0.42
    beta = 0.17
    gamma = 0.41

Validation rejects unknown fields and reports every problem at once with its
field path ([InputError][mecopt.InputError]).
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mecopt.model import channel, dnn
from mecopt.model.delay import DelayModel, layer_delays, load_coefficients
from mecopt.errors import InputError, validation_problems

WEIGHT_SUM_TOL = 1e-6
#: relative capacity tolerance of (17), shared by every engine, the checker and fastest_delay
from mecopt.model.tolerances import CAP_TOL, fits_capacity, meets_deadline  # noqa: F401 (CAP_TOL re-exported)


class _Strict(BaseModel):
    # TOML has inf and nan: reject them (bandwidth_hz = inf gave a NaN rate, delta = nan a NaN price)
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class ModelSection(_Strict):
    bits_per_element: float = Field(default=1.0, gt=0)
    price_scale: float = Field(default=1e6, gt=0)
    capacity_mode: Literal["per_device", "total"] = "per_device"
    deadline_policy: Literal["hard", "relax", "soft"] = "hard"
    deadline_penalty_per_s: float = Field(default=34000.0, ge=0)  # soft (26): C_n units per second over tau_n
    grouped_conv: Literal["auto", "full", "per_group"] = "auto"
    delay_local: str = "device"
    delay_server: str = "server"


class ServerSection(_Strict):
    slots: int = Field(default=5, ge=1, le=1000)
    frame_s: float = Field(default=0.75, gt=0)
    parallel_limit: int = Field(default=4, ge=1)
    freq_cycles_per_s: float = Field(default=3400.0, gt=0)
    price_base: float | list[float] = 1.0
    price_growth: float | list[float] = 2.0
    tx_power_w: float = Field(default=4.0, gt=0)

    @field_validator("price_base", "price_growth")
    @classmethod
    def _nonneg(cls, v):
        vals = v if isinstance(v, list) else [v]
        if any((not math.isfinite(x)) or x < 0 for x in vals):
            raise ValueError("must be >= 0")
        return v


class TopologySection(_Strict):
    kind: Literal["complete", "ring", "random_geometric", "erdos_renyi", "edges"] = "complete"
    weights: Literal["metropolis", "uniform"] = "metropolis"
    radius: float = Field(default=0.5, gt=0)
    probability: float = Field(default=0.5, ge=0, le=1)
    edges: list[tuple[int, int]] = Field(default_factory=list)
    seed: int | None = None


class DeviceFields(_Strict):
    """Fields of one MD; ``None`` means "take it from [device_defaults]"."""

    name: str | None = None
    count: int = Field(default=1, ge=1)
    dnn: str | None = None
    alpha: float | None = Field(default=None, ge=0, le=1)
    beta: float | None = Field(default=None, ge=0, le=1)
    gamma: float | None = Field(default=None, ge=0, le=1)
    cost_delay_per_s: float | None = Field(default=None, ge=0)      # c^T
    cost_energy_per_j: float | None = Field(default=None, ge=0)     # c^E
    delta_cycles_per_bit: float | tuple[float, float] | None = None  # delta_n or a range to draw from
    upload_power_w: float | None = Field(default=None, gt=0)        # P_up
    compute_power_w: float | None = Field(default=None, ge=0)       # P_lo
    bandwidth_hz: float | None = Field(default=None, gt=0)          # W_n
    channel_gain: float | None = Field(default=None, gt=0)          # G_n (linear)
    noise_w_per_hz: float | None = Field(default=None, gt=0)        # N0
    deadline_s: float | None = Field(default=None, gt=0)            # tau_n

    @field_validator("delta_cycles_per_bit")
    @classmethod
    def _delta(cls, v):
        if v is None:
            return v
        if isinstance(v, tuple):
            lo, hi = v
            if not (0 < lo <= hi):
                raise ValueError(f"a delta range must satisfy 0 < low <= high, got [{lo}, {hi}]")
        elif v <= 0:
            raise ValueError("must be > 0")
        return v


PAPER_DEVICE = dict(
    dnn="alexnet", alpha=0.42, beta=0.17, gamma=0.41, cost_delay_per_s=3400.0, cost_energy_per_j=3400.0,
    delta_cycles_per_bit=(2000.0, 2500.0), upload_power_w=4.0, compute_power_w=4.05, bandwidth_hz=2000.0,
    channel_gain=1.2e6, noise_w_per_hz=1e-9, deadline_s=5.0,
)


class InstanceFile(_Strict):
    name: str = "instance"
    description: str = ""
    seed: int = 0
    model: ModelSection = Field(default_factory=ModelSection)
    server: ServerSection = Field(default_factory=ServerSection)
    topology: TopologySection = Field(default_factory=TopologySection)
    device_defaults: DeviceFields = Field(default_factory=DeviceFields)
    devices: list[DeviceFields] = Field(min_length=1)


@dataclass(frozen=True)
class Server:
    """The MEC server and its slot model (§3)."""

    H: int
    T_d: float
    B: int
    f_s: float
    a: np.ndarray  # (H,) a_h
    b: np.ndarray  # (H,) b_h
    P_s: float
    capacity_mode: str

    @property
    def slot_len(self) -> float:
        """T_d / H: the capacity of (17) and the delay step of (24)."""
        return self.T_d / self.H

    @property
    def price_quad(self) -> np.ndarray:
        """b_h / h for h = 1..H, the slope of the price (19)."""
        return self.b / np.arange(1, self.H + 1)


@dataclass(frozen=True)
class Device:
    """One MD with every number the solvers use. Arrays are indexed by layer 0..M (0 = input)."""

    index: int
    name: str
    dnn: str
    layer_names: tuple[str, ...]   # layers 1..M
    layer_types: tuple[str, ...]
    t_local: np.ndarray            # (M+1,) T^lo_{n,m}, [0] = 0
    t_server: np.ndarray           # (M+1,) T^se_{n,m}, [0] = 0
    out_bits: np.ndarray           # (M+1,) O_{n,m}
    rate_up: float                 # (9)
    rate_down: float               # (11)
    t_up: np.ndarray               # (M+1,) (8): upload of layer m's output
    t_down: float                  # (10)
    S: np.ndarray                  # (M+1,) (20)-(21): delta f_s T_se / price_scale
    delta: float
    alpha: float
    beta: float
    gamma: float
    c_T: float
    c_E: float
    P_up: float
    P_lo: float
    W: float
    G: float
    N0: float
    tau: float
    deadline_relaxed: bool          # (26) dropped by the relax policy
    fastest_delay: float            # smallest T_n over all strategies, alone on the server
    deadline_soft: bool = False            # (26) replaced by a penalty (deadline_policy = "soft")
    deadline_penalty_per_s: float = 0.0    # soft (26): cost (units of C_n) per second over tau_n

    @property
    def M(self) -> int:
        return len(self.layer_names)

    @property
    def local_cum(self) -> np.ndarray:
        """(M+1,) local time of layers 1..j for partition point j."""
        return np.concatenate([[0.0], np.cumsum(self.t_local[1:])])


@dataclass(frozen=True)
class Instance:
    """A validated instance: the server and every device, resolved to the numbers the solvers use.

    Frozen. Build it with [mecopt.load_instance][] (a TOML file or a bundled name),
    [Instance.load][mecopt.Instance.load] (the same) or [Instance.from_dict][mecopt.Instance.from_dict] (in code).

    Attributes
    ----------
    name, description : str
        From the instance document.
    seed : int
        The instance's seed (generated instances).
    server : Server
        Slots H, frame T_d, parallel limit B, frequency f_s, price coefficients a_h, b_h.
    devices : tuple of Device
        Per device: layer times T^lo, T^se, output bits, rates (9), (11), upload and
        download times (8), (10), price units S (20)-(21), weights and deadline.
    bits_per_element, price_scale : float
        Model constants (``docs/MODEL.md``).
    deadline_policy : str
        ``"hard"`` or ``"relax"`` (26).
    topology : TopologySection
        TPOS-UAI's neighbour graph settings.
    source : dict
        The document it was built from.
    path : str or None
        The file or bundled name it was read from.

    Examples
    --------
    >>> import mecopt
    >>> inst = mecopt.Instance.load("paper:fig6-w1khz")
    >>> inst.name, inst.N, inst.server.H, [d.dnn for d in inst.devices][:2]
    ('fig6-w1khz', 5, 5, ['alexnet', 'alexnet'])
    """

    name: str
    description: str
    seed: int
    server: Server
    devices: tuple[Device, ...]
    bits_per_element: float
    price_scale: float
    deadline_policy: str
    topology: TopologySection
    source: dict = field(repr=False, default_factory=dict)
    path: str | None = None

    @property
    def N(self) -> int:
        """Number of devices."""
        return len(self.devices)

    @property
    def M_max(self) -> int:
        """Largest number of layers of any device."""
        return max(d.M for d in self.devices)

    @classmethod
    def from_dict(cls, data: dict, base: str | Path | None = None) -> "Instance":
        """Build an instance in code from the same document an instance file holds.

        Parameters
        ----------
        data : dict
            The instance document (``server``, ``devices``, ... as in a TOML file);
            omitted fields take the paper's values.
        base : str or Path, optional
            Folder against which relative DNN-spec and delay-set paths are resolved.

        Returns
        -------
        Instance

        Raises
        ------
        InputError
            Listing every problem of the document with its field path.

        Examples
        --------
        >>> from mecopt import Instance
        >>> inst = Instance.from_dict({"name": "two", "devices": [{"dnn": "alexnet", "count": 2}]})
        >>> inst.N, inst.devices[0].M
        (2, 21)
        """
        return instance_from_dict(data, base=Path(base) if base is not None else None)

    @classmethod
    def load(cls, path_or_name: str | Path) -> "Instance":
        """Read and validate an instance file, or a bundled instance by name.

        Same as [mecopt.load_instance][].

        Parameters
        ----------
        path_or_name : str or Path
            A TOML instance file, or ``COLLECTION:NAME`` such as ``"paper:fig6-w1khz"``.

        Returns
        -------
        Instance

        Raises
        ------
        InputError
            When the file is missing, unknown or invalid; every problem with its field path.

        Examples
        --------
        >>> from mecopt import Instance
        >>> Instance.load("paper:fig8-lenet").devices[0].dnn
        'lenet'
        """
        return load_instance(path_or_name)


def read_document(path: str | Path, what: str = "instance") -> tuple[dict, str]:
    """The parsed TOML document at ``path`` and its text (InputError when missing or not TOML).

    An instance may be a bundled name such as ``paper:fig6-w1khz``."""
    from mecopt.resources import instance_path

    path = instance_path(path) if what == "instance" else Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise InputError(f"{what} file not found: {path}") from None
    except IsADirectoryError:
        raise InputError(f"{what} path is a directory, not a file: {path}") from None
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as err:
        raise InputError(f"{what} file {path} is not valid TOML: {err}") from None


def load_instance(path: str | Path) -> Instance:
    """Read, validate and resolve an instance file, or a bundled one named ``paper:fig6-w1khz``."""
    from mecopt.resources import instance_path

    file = instance_path(path)
    data, _ = read_document(file)
    return instance_from_dict(data, base=file.parent, source_path=str(path))


def instance_from_dict(data: dict, base: Path | None = None, source_path: str | None = None) -> Instance:
    """Validate a parsed instance document and resolve it to per-device numbers."""
    where = source_path or "<instance>"
    try:
        spec = InstanceFile.model_validate(data)
    except ValidationError as err:
        problems = validation_problems(err)
        problems += [p for p in _device_content_problems(data, base) if p not in problems]
        raise InputError(f"invalid instance {where}", problems) from None
    problems: list[tuple[str, str]] = []

    H = spec.server.slots
    a = _per_slot(spec.server.price_base, H, "server.price_base", problems)
    b = _per_slot(spec.server.price_growth, H, "server.price_growth", problems)
    server = Server(H=H, T_d=spec.server.frame_s, B=spec.server.parallel_limit, f_s=spec.server.freq_cycles_per_s,
                    a=a, b=b, P_s=spec.server.tx_power_w, capacity_mode=spec.model.capacity_mode)

    coef_lo = coef_se = None
    try:
        coef_lo = load_coefficients(spec.model.delay_local, base)
    except InputError as err:
        problems.append(("model.delay_local", str(err)))
    try:
        coef_se = load_coefficients(spec.model.delay_server, base)
    except InputError as err:
        problems.append(("model.delay_server", str(err)))

    rng = np.random.default_rng(spec.seed)
    defaults = {**PAPER_DEVICE, **{k: v for k, v in spec.device_defaults.model_dump().items()
                                   if v is not None and k not in ("count", "name")}}
    devices: list[Device] = []
    names: list[str] = []
    for i, entry in enumerate(spec.devices):
        given = {k: v for k, v in entry.model_dump().items() if v is not None}
        merged = {**defaults, **given}
        path = f"devices.{i}"
        problems += _weight_problems(merged, path)
        table = None
        try:
            table = dnn.layer_table(merged["dnn"], spec.model.grouped_conv, base)
        except InputError as err:
            problems.append((f"{path}.dnn", str(err)))
        for k in range(entry.count):
            delta = merged["delta_cycles_per_bit"]
            if isinstance(delta, tuple | list):
                delta = float(rng.uniform(delta[0], delta[1]))
            name = entry.name if entry.name and entry.count == 1 else (
                f"{entry.name}-{k + 1}" if entry.name else f"md{len(names) + 1}")
            names.append(name)
            if table is None or coef_lo is None or coef_se is None:
                continue
            devices.append(_resolve_device(len(devices), name, merged, float(delta), table, coef_lo, coef_se,
                                           server, spec.model.bits_per_element, spec.model.price_scale))
    seen: set[str] = set()
    dup = sorted({n for n in names if n in seen or seen.add(n)})   # linear: N can be 50,000
    if dup:
        problems.append(("devices.name", f"device names must be unique; repeated: {dup}"))
    if spec.topology.kind == "edges":
        N = len(names)
        bad = [e for e in spec.topology.edges if not (0 <= e[0] < N and 0 <= e[1] < N) or e[0] == e[1]]
        if bad:
            problems.append(("topology.edges", f"edges must join two different devices 0..{N - 1}; bad: {bad}"))
    if problems:
        raise InputError(f"invalid instance {where}", problems)

    relaxed = []
    for d in devices:
        if not meets_deadline(d.fastest_delay, d.tau):
            if spec.model.deadline_policy == "hard":
                relaxed.append((f"device {d.name} ({d.dnn})",
                                f"no strategy meets its deadline tau = {d.tau:g} s; its fastest possible delay is "
                                f"{d.fastest_delay:.6g} s (set model.deadline_policy = \"relax\" to drop (26) for such devices)"))
    if relaxed:
        raise InputError(f"instance {where} is infeasible under the hard deadline (26)", relaxed)
    if spec.model.deadline_policy == "relax":
        devices = [_replace(d, deadline_relaxed=not meets_deadline(d.fastest_delay, d.tau)) for d in devices]
    if spec.model.deadline_policy == "soft":
        devices = [_replace(d, deadline_soft=True, deadline_penalty_per_s=spec.model.deadline_penalty_per_s)
                   for d in devices]

    return Instance(name=spec.name, description=spec.description, seed=spec.seed, server=server,
                    devices=tuple(devices), bits_per_element=spec.model.bits_per_element,
                    price_scale=spec.model.price_scale, deadline_policy=spec.model.deadline_policy,
                    topology=spec.topology, source=spec.model_dump(mode="json"), path=source_path)


def _weight_problems(merged: dict, path: str) -> list[tuple[str, str]]:
    """alpha + beta + gamma = 1 for one device (eq. 23)."""
    w = merged["alpha"] + merged["beta"] + merged["gamma"]
    if abs(w - 1.0) > WEIGHT_SUM_TOL:
        return [(f"{path}.alpha+beta+gamma",
                 f"the weights must sum to 1, got {merged['alpha']} + {merged['beta']} + {merged['gamma']} = {w:g}")]
    return []


def _device_content_problems(data: dict, base: Path | None) -> list[tuple[str, str]]:
    """Best-effort content checks (weights, DNN names) on a document that failed the schema,
    so that one run reports these problems too."""
    if not isinstance(data, dict) or not isinstance(data.get("devices"), list):
        return []
    raw_defaults = data.get("device_defaults") if isinstance(data.get("device_defaults"), dict) else {}
    defaults = {**PAPER_DEVICE, **raw_defaults}
    out = []
    for i, entry in enumerate(data["devices"]):
        if not isinstance(entry, dict):
            continue
        merged = {**defaults, **entry}
        path = f"devices.{i}"
        if all(isinstance(merged.get(k), int | float) and not isinstance(merged.get(k), bool)
               for k in ("alpha", "beta", "gamma")):
            out += _weight_problems(merged, path)
        if isinstance(merged.get("dnn"), str):
            try:
                dnn.resolve_path(merged["dnn"], base)
            except InputError as err:
                out.append((f"{path}.dnn", str(err)))
    return out


def _replace(device: Device, **changes) -> Device:
    from dataclasses import replace
    return replace(device, **changes)


def _per_slot(value, H: int, path: str, problems: list) -> np.ndarray:
    if isinstance(value, list):
        if len(value) != H:
            problems.append((path, f"needs one value per slot (H = {H}), got {len(value)}"))
            return np.zeros(H)
        return np.asarray(value, dtype=float)
    return np.full(H, float(value))


def _resolve_device(index: int, name: str, f: dict, delta: float, table: dnn.LayerTable,
                    coef_lo: DelayModel, coef_se: DelayModel, server: Server,
                    bits_per_element: float, price_scale: float) -> Device:
    frame = table.frame
    t_lo = layer_delays(coef_lo, table)  # a block's delay is the sum over its operators
    t_se = layer_delays(coef_se, table)
    measured_lo = frame["t_local_s"].to_numpy(dtype=float)
    measured_se = frame["t_server_s"].to_numpy(dtype=float)
    t_lo = np.where(np.isnan(measured_lo), t_lo, measured_lo)
    t_se = np.where(np.isnan(measured_se), t_se, measured_se)
    t_lo[0] = t_se[0] = 0.0
    out_bits = frame["out_elements"].to_numpy(dtype=float) * bits_per_element
    r_up = channel.shannon_rate(f["bandwidth_hz"], f["upload_power_w"], f["channel_gain"], f["noise_w_per_hz"])
    r_do = channel.shannon_rate(f["bandwidth_hz"], server.P_s, f["channel_gain"], f["noise_w_per_hz"])
    t_up = channel.transfer_time(out_bits, r_up)
    t_down = float(out_bits[-1] / r_do)
    S = delta * server.f_s * t_se / price_scale
    for arr in (t_lo, t_se, out_bits, t_up, S):
        arr.setflags(write=False)
    dev = Device(index=index, name=name, dnn=table.name, layer_names=tuple(frame["name"][1:]),
                 layer_types=tuple(frame["type"][1:]), t_local=t_lo, t_server=t_se, out_bits=out_bits,
                 rate_up=r_up, rate_down=r_do, t_up=t_up, t_down=t_down, S=S, delta=delta,
                 alpha=f["alpha"], beta=f["beta"], gamma=f["gamma"], c_T=f["cost_delay_per_s"],
                 c_E=f["cost_energy_per_j"], P_up=f["upload_power_w"], P_lo=f["compute_power_w"],
                 W=f["bandwidth_hz"], G=f["channel_gain"], N0=f["noise_w_per_hz"], tau=f["deadline_s"],
                 deadline_relaxed=False, fastest_delay=math.inf)
    return _replace(dev, fastest_delay=fastest_delay(dev, server))


def min_blocks(t_server: np.ndarray, start: int, cap: float) -> int | None:
    """Fewest contiguous blocks covering layers start+1..M with each block's server time <= cap
    (greedy packing is optimal for contiguous blocks); None when one layer alone exceeds cap."""
    count, used = 0, math.inf
    for t in t_server[start + 1:]:
        if not fits_capacity(t, cap):
            return None
        if not fits_capacity(used + t, cap):
            count, used = count + 1, t
        else:
            used += t
    return count


def fastest_delay(dev: Device, server: Server) -> float:
    """Smallest T_n (24) of any strategy satisfying (15)-(17), (27) with the server to itself."""
    lc = dev.local_cum
    best = float(lc[-1])
    for j in range(dev.M):
        k = min_blocks(dev.t_server, j, server.slot_len)
        if k is not None and k <= server.H:
            best = min(best, float(lc[j] + dev.t_up[j] + k * server.slot_len + dev.t_down))
    return best
