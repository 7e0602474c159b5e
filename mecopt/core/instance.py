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

Several edge servers: a list of ``[[servers]]`` (each a ``[server]`` table with a ``name`` and
an optional ``position``) instead of ``[server]``; a device may then give ``channel_gain`` as a
list (one per server), a ``position`` (gains by the ``[channel]`` path loss) and the ``servers``
it reaches (docs/multiserver.md).

Validation rejects unknown fields and reports every problem at once with its
field path ([InputError][mecopt.InputError]).
"""

from __future__ import annotations

import gc
import math
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal, cast

import numpy as np
from numpy.typing import ArrayLike
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mecopt.core import channel, dnn, limits
from mecopt.core.delay import DelayModel, layer_delays, load_coefficients
from mecopt.core.document import MAX_INSTANCE_BYTES, read_json, read_toml
from mecopt.core.errors import InputError, validation_problems
from mecopt.core.tables import jsonable

# relative capacity tolerance of (17), shared by every engine, the checker and fastest_delay
from mecopt.core.tolerances import fits_capacity, meets_deadline

WEIGHT_SUM_TOL = 1e-6


class _Strict(BaseModel):
    # TOML has inf and nan: reject them (bandwidth_hz = inf gave a NaN rate, delta = nan a NaN price).
    # strict: no bool -> number (slots = true) and no string -> number (price_scale = "1e6"); an int
    # is still accepted where a float is expected (TOML writes 2000 for 2000.0).
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)


def _as_tuple(v: Any) -> Any:
    """TOML has arrays, not tuples: a list where a fixed-length tuple is expected."""
    return tuple(v) if isinstance(v, list) else v


Name = Annotated[str, Field(min_length=1, max_length=256)]


class ModelSection(_Strict):
    """The ``[model]`` section of an instance file: units, capacity mode, deadline policy and delay sets.

    Attributes
    ----------
    bits_per_element : float
        Bits per tensor element of O_{n,m}.
    price_scale : float
        Divisor of the price load S (eq. 20).
    capacity_mode : Literal['per_device', 'total']
        What (17) caps: each device's server time per slot, or the slot's total.
    deadline_policy : Literal['hard', 'relax', 'soft']
        (26) as a constraint (``hard``), dropped where unreachable (``relax``) or a penalty (``soft``).
    deadline_penalty_per_s : float
        Soft (26): C_n units per second over tau_n.
    grouped_conv : Literal['auto', 'full', 'per_group']
        The grouped-convolution rule (:func:`mecopt.core.dnn.uses_channels_per_group`).
    delay_local : Name
        Delay coefficient set of the devices (eq. 6).
    delay_server : Name
        Delay coefficient set of the server (eq. 7).
    """

    bits_per_element: float = Field(default=1.0, gt=0, le=1024)
    price_scale: float = Field(default=1e6, gt=0, le=1e15)
    capacity_mode: Literal["per_device", "total"] = "per_device"
    deadline_policy: Literal["hard", "relax", "soft"] = "hard"
    deadline_penalty_per_s: float = Field(default=34000.0, ge=0, le=1e12)  # soft (26): C_n units per second over tau_n
    grouped_conv: Literal["auto", "full", "per_group"] = "auto"
    delay_local: Name = "device"
    delay_server: Name = "server"


Point = tuple[float, float]


class ServerSection(_Strict):
    """The ``[server]`` section (or one ``[[servers]]`` entry) of an instance file.

    Attributes
    ----------
    name : Name or None
        [[servers]]: s1, s2, ... when omitted.
    position : Point or None
        metres, for the path-loss channel (docs/multiserver.md)
    slots : int
        Number of slots H.
    frame_s : float
        Frame length T_d in seconds.
    parallel_limit : int
        Most MDs per slot, B (27).
    freq_cycles_per_s : float
        Server frequency f_s in cycles/s.
    price_base : float or list[float]
        a_h of the price (19): one value, or one per slot.
    price_growth : float or list[float]
        b_h of the price (19): one value, or one per slot.
    tx_power_w : float
        Server transmit power P_s in watts (11).
    """

    name: Name | None = None                  # [[servers]]: s1, s2, ... when omitted
    position: Point | None = None             # metres, for the path-loss channel (docs/multiserver.md)
    slots: int = Field(default=5, ge=1, le=limits.MAX_SLOTS)
    frame_s: float = Field(default=0.75, ge=limits.MIN_FRAME_S, le=limits.MAX_TIME_S)
    parallel_limit: int = Field(default=4, ge=1, le=10**9)
    freq_cycles_per_s: float = Field(default=3400.0, gt=0, le=1e15)
    price_base: float | list[float] = 1.0
    price_growth: float | list[float] = 2.0
    tx_power_w: float = Field(default=4.0, gt=0, le=1e6)

    @field_validator("position", mode="before")
    @classmethod
    def _point(cls, v: Any) -> Any:
        return _as_tuple(v)

    @field_validator("price_base", "price_growth")
    @classmethod
    def _nonneg(cls, v: Any) -> Any:
        vals = v if isinstance(v, list) else [v]
        if any((not math.isfinite(x)) or x < 0 or x > limits.MAX_PRICE for x in vals):
            raise ValueError(f"must be >= 0 and <= {limits.MAX_PRICE:g}")
        return v


class ChannelSection(_Strict):
    """Path loss from positions (:mod:`mecopt.core.pathloss`), for devices without a ``channel_gain``.

    Attributes
    ----------
    model : Literal['log-distance', '3gpp-umi']
        Path-loss model.
    ref_loss_db : float
        Loss at the reference distance (log-distance).
    ref_distance_m : float
        Reference distance in metres (log-distance).
    exponent : float
        Path-loss exponent (log-distance).
    carrier_ghz : float
        Carrier frequency in GHz (3GPP).
    los : bool
        Line of sight (3GPP).
    bs_height_m : float
        Base-station height in metres (3GPP).
    ut_height_m : float
        Device height in metres (3GPP).
    antenna_gain_db : float
        Antenna gains in dB.
    min_distance_m : float
        Distances below this are raised to it.
    """

    model: Literal["log-distance", "3gpp-umi"] = "log-distance"
    ref_loss_db: float = Field(default=38.46, ge=-100, le=300)
    ref_distance_m: float = Field(default=1.0, gt=0, le=1e6)
    exponent: float = Field(default=3.0, ge=0, le=10)
    carrier_ghz: float = Field(default=3.5, gt=0, le=1000)
    los: bool = False
    bs_height_m: float = Field(default=10.0, ge=0, le=1e4)
    ut_height_m: float = Field(default=1.5, ge=0, le=1e4)
    antenna_gain_db: float = Field(default=0.0, ge=-100, le=200)
    min_distance_m: float = Field(default=1.0, gt=0, le=1e6)

    def gain(self, dist_m: ArrayLike) -> Any:
        """G = 10^((antenna_gain_db - PL(d)) / 10) at ``dist_m`` (a number or an array).

        Parameters
        ----------
        dist_m : array_like
            Distance in metres (a number or an array).

        Returns
        -------
        float or numpy.ndarray
            The linear gain G, shaped as ``dist_m``.
        """
        from mecopt.core import pathloss
        return pathloss.gain(dist_m, **self.model_dump())


class TopologySection(_Strict):
    """The ``[topology]`` section: the neighbour graph of TPOS-UAI and its weights (29).

    Attributes
    ----------
    kind : Literal['complete', 'ring', 'random_geometric', 'erdos_renyi', 'edges']
        The neighbour graph of TPOS-UAI.
    weights : Literal['metropolis', 'uniform']
        The weight matrix W of (29).
    radius : float
        Connection radius (random_geometric).
    probability : float
        Edge probability (erdos_renyi).
    edges : list[tuple[int, int]]
        The edges (kind ``edges``), pairs of 0-based device indices.
    seed : int or None
        Seed of a random graph (None: the instance's).
    """

    kind: Literal["complete", "ring", "random_geometric", "erdos_renyi", "edges"] = "complete"
    weights: Literal["metropolis", "uniform"] = "metropolis"
    radius: float = Field(default=0.5, gt=0, le=1e6)
    probability: float = Field(default=0.5, ge=0, le=1)
    edges: list[tuple[int, int]] = Field(default_factory=list, max_length=10**6)
    seed: int | None = Field(default=None, ge=0)

    @field_validator("edges", mode="before")
    @classmethod
    def _edge_tuples(cls, v: Any) -> Any:
        return [_as_tuple(e) for e in v] if isinstance(v, list) else v


class DeviceFields(_Strict):
    """Fields of one MD; ``None`` means "take it from [device_defaults]".

    Attributes
    ----------
    name : Name or None
        Device name (with ``count`` > 1: the prefix of numbered names).
    count : int
        Number of identical devices the entry makes.
    dnn : Name or None
        The DNN: a catalog name or a spec path.
    alpha : float or None
        Weight alpha of the delay in C_n (23).
    beta : float or None
        Weight beta of the energy in C_n (23).
    gamma : float or None
        Weight gamma of the price in C_n (23).
    cost_delay_per_s : float or None
        c^T.
    cost_energy_per_j : float or None
        c^E.
    delta_cycles_per_bit : float or tuple[float, float] or None
        delta_n or a range to draw from.
    upload_power_w : float or None
        P_up.
    compute_power_w : float or None
        P_lo.
    bandwidth_hz : float or None
        W_n.
    channel_gain : float or list[float] or None
        G_n (linear); a list gives one per server.
    position : Point or None
        Metres: G_{n,k} by path loss when channel_gain is not given.
    servers : list[Name] or None
        Reachable.
    noise_w_per_hz : float or None
        N0.
    deadline_s : float or None
        tau_n.
    """

    name: Name | None = None
    count: int = Field(default=1, ge=1, le=limits.MAX_DEVICES)
    dnn: Name | None = None
    alpha: float | None = Field(default=None, ge=0, le=1)
    beta: float | None = Field(default=None, ge=0, le=1)
    gamma: float | None = Field(default=None, ge=0, le=1)
    cost_delay_per_s: float | None = Field(default=None, ge=0, le=1e12)      # c^T
    cost_energy_per_j: float | None = Field(default=None, ge=0, le=1e12)     # c^E
    delta_cycles_per_bit: float | tuple[float, float] | None = None  # delta_n or a range to draw from
    upload_power_w: float | None = Field(default=None, gt=0, le=1e6)        # P_up
    compute_power_w: float | None = Field(default=None, ge=0, le=1e6)       # P_lo
    bandwidth_hz: float | None = Field(default=None, gt=0, le=1e12)         # W_n
    channel_gain: float | list[float] | None = None  # G_n (linear); a list gives one per server
    position: Point | None = None                   # metres: G_{n,k} by path loss when channel_gain is not given
    servers: list[Name] | None = Field(default=None, min_length=1, max_length=limits.MAX_SERVERS)  # reachable
    noise_w_per_hz: float | None = Field(default=None, gt=0, le=1.0)        # N0
    deadline_s: float | None = Field(default=None, gt=0, le=limits.MAX_TIME_S)  # tau_n

    @field_validator("delta_cycles_per_bit", mode="before")
    @classmethod
    def _delta_tuple(cls, v: Any) -> Any:
        return _as_tuple(v)

    @field_validator("position", mode="before")
    @classmethod
    def _point(cls, v: Any) -> Any:
        return _as_tuple(v)

    @field_validator("channel_gain")
    @classmethod
    def _gain(cls, v: Any) -> Any:
        if isinstance(v, list) and not 1 <= len(v) <= limits.MAX_SERVERS:
            raise ValueError(f"a list of channel gains needs 1..{limits.MAX_SERVERS} entries, one per server")
        if any(not 0 < g <= 1e15 for g in (v if isinstance(v, list) else [v] if v is not None else [])):
            raise ValueError("a channel gain must be greater than 0 and at most 1e15")
        return v

    @field_validator("delta_cycles_per_bit")
    @classmethod
    def _delta(cls, v: Any) -> Any:
        if v is None:
            return v
        if isinstance(v, tuple):
            lo, hi = v
            if not (0 < lo <= hi <= 1e12):
                raise ValueError(f"a delta range must satisfy 0 < low <= high <= 1e12, got [{lo}, {hi}]")
        elif not 0 < v <= 1e12:
            raise ValueError("must be > 0 and <= 1e12")
        return v


PAPER_DEVICE = dict(
    dnn="alexnet", alpha=0.42, beta=0.17, gamma=0.41, cost_delay_per_s=3400.0, cost_energy_per_j=3400.0,
    delta_cycles_per_bit=(2000.0, 2500.0), upload_power_w=4.0, compute_power_w=4.05, bandwidth_hz=2000.0,
    channel_gain=1.2e6, noise_w_per_hz=1e-9, deadline_s=5.0,
)


class InstanceFile(_Strict):
    """A whole instance file, validated field by field (every error with its field path).

    Attributes
    ----------
    name : Name
        Instance name.
    description : str
        Free text.
    seed : int
        Seed of drawn values (delta ranges, random topologies).
    model : ModelSection
        The ``[model]`` section.
    server : ServerSection
        The ``[server]`` section (one server).
    servers : list[ServerSection] or None
        The ``[[servers]]`` list (several servers).
    channel : ChannelSection
        The ``[channel]`` section.
    topology : TopologySection
        The ``[topology]`` section.
    device_defaults : DeviceFields
        Values every device entry starts from.
    devices : list[DeviceFields]
        The device entries.
    """

    name: Name = "instance"
    description: str = Field(default="", max_length=10_000)
    seed: int = Field(default=0, ge=0)
    model: ModelSection = Field(default_factory=ModelSection)
    server: ServerSection = Field(default_factory=ServerSection)
    servers: list[ServerSection] | None = Field(default=None, min_length=1, max_length=limits.MAX_SERVERS)
    channel: ChannelSection = Field(default_factory=ChannelSection)
    topology: TopologySection = Field(default_factory=TopologySection)
    device_defaults: DeviceFields = Field(default_factory=DeviceFields)
    devices: list[DeviceFields] = Field(min_length=1, max_length=limits.MAX_DEVICES)


@dataclass(frozen=True)
class Server:
    """The MEC server and its slot model (§3).

    Attributes
    ----------
    H : int
        Number of slots.
    T_d : float
        Frame length in seconds.
    B : int
        Most MDs per slot (27).
    f_s : float
        Server frequency in cycles/s.
    a : numpy.ndarray
        (H,) a_h.
    b : numpy.ndarray
        (H,) b_h.
    P_s : float
        Transmit power in watts.
    capacity_mode : str
        ``per_device`` or ``total`` (17).
    name : str
        Server name.
    position : tuple[float, float] or None
        (x, y) in metres, or None.
    """

    H: int
    T_d: float
    B: int
    f_s: float
    a: np.ndarray  # (H,) a_h
    b: np.ndarray  # (H,) b_h
    P_s: float
    capacity_mode: str
    name: str = "s1"
    position: tuple[float, float] | None = None

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
    """One MD with every number the solvers use. Arrays are indexed by layer 0..M (0 = input).

    Attributes
    ----------
    index : int
        0-based index in the instance (or in a server view).
    name : str
        Device name.
    dnn : str
        DNN name.
    layer_names : tuple[str, ...]
        Layers 1..M.
    layer_types : tuple[str, ...]
        Delay class of each layer.
    t_local : numpy.ndarray
        (M+1,) T^lo_{n,m}, [0] = 0.
    t_server : numpy.ndarray
        (M+1,) T^se_{n,m}, [0] = 0.
    out_bits : numpy.ndarray
        (M+1,) O_{n,m}.
    rate_up : float
        (9)
    rate_down : float
        (11)
    t_up : numpy.ndarray
        (M+1,) (8): upload of layer m's output.
    t_down : float
        (10)
    S : numpy.ndarray
        (M+1,) (20)-(21): delta f_s T_se / price_scale.
    delta : float
        delta_n, cycles per bit of the price load (20).
    alpha : float
        Weight of the delay in C_n (23).
    beta : float
        Weight of the energy in C_n (23).
    gamma : float
        Weight of the price in C_n (23).
    c_T : float
        Cost per second of delay, c^T.
    c_E : float
        Cost per joule, c^E.
    P_up : float
        Upload power in watts.
    P_lo : float
        Local computing power in watts.
    W : float
        Bandwidth in Hz.
    G : float
        Channel gain to the server.
    N0 : float
        Noise density in W/Hz.
    tau : float
        Deadline tau_n in seconds (26).
    deadline_relaxed : bool
        (26) dropped by the relax policy.
    fastest_delay : float
        Smallest T_n over all strategies, alone on the server.
    deadline_soft : bool
        (26) replaced by a penalty (deadline_policy = "soft")
    deadline_penalty_per_s : float
        Soft (26): cost (units of C_n) per second over tau_n.
    """

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
        """Number of layers M of the device's DNN."""
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
    servers : tuple of Server
        Every edge server (slots H, frame T_d, parallel limit B, frequency f_s, price
        coefficients a_h, b_h), in ``[[servers]]`` order; one (K = 1) for a ``[server]``
        instance. ``server`` is the one server when K = 1.
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
    reach, views : tuple
        Per device the indices of the servers it reaches
        (``reachable(n)``), and per server its
        ``ServerView``. ``devices`` are resolved on each
        device's first reachable server and ``view(k)`` holds every device on its link
        to server k (docs/multiserver.md). With K = 1 every device reaches server 0 and
        the one view is the instance itself (its members and local indices the identity);
        both are then derived from ``devices`` when the instance is built.

    Examples
    --------
    >>> import mecopt
    >>> inst = mecopt.Instance.load("paper:fig6-w1khz")
    >>> inst.name, inst.N, inst.K, inst.servers[0].H, [d.dnn for d in inst.devices][:2]
    ('fig6-w1khz', 5, 1, 5, ['alexnet', 'alexnet'])
    """

    name: str
    description: str
    seed: int
    servers: tuple[Server, ...]
    devices: tuple[Device, ...]
    bits_per_element: float
    price_scale: float
    deadline_policy: str
    topology: TopologySection
    source: dict[str, Any] = field(repr=False, default_factory=dict)
    path: str | None = None
    reach: tuple[tuple[int, ...], ...] = field(repr=False, default=())
    views: tuple[ServerView, ...] = field(repr=False, default=(), compare=False)

    def __post_init__(self) -> None:
        if not self.servers:
            raise ValueError("an instance needs at least one server")
        if len(self.servers) == 1:
            # K = 1: every device reaches the one server and the one view is the instance itself;
            # derived here (not copied) so that dataclasses.replace(instance, devices=...) stays right
            ident = np.arange(len(self.devices))
            object.__setattr__(self, "reach", ((0,),) * len(self.devices))
            object.__setattr__(self, "views", (ServerView(0, self, ident, ident),))
        elif len(self.reach) != len(self.devices) or len(self.views) != len(self.servers):
            raise ValueError("an instance with several servers needs reach (one entry per device) and "
                             "views (one per server)")

    @property
    def N(self) -> int:
        """Number of devices."""
        return len(self.devices)

    @property
    def K(self) -> int:
        """Number of edge servers (1 for a ``[server]`` instance)."""
        return len(self.servers)

    @property
    def server(self) -> Server:
        """The one edge server of a single-server instance (K = 1).

        Returns
        -------
        Server

        Raises
        ------
        ValueError
            When the instance has several servers: use ``servers[k]`` or ``view(k).server``.

        Examples
        --------
        >>> import mecopt
        >>> mecopt.load_instance("paper:fig6-w1khz").server.H
        5
        """
        if len(self.servers) != 1:
            raise ValueError(f"instance {self.name} has {len(self.servers)} servers: Instance.server is defined for "
                             "one server only; use instance.servers[k] or instance.view(k).server")
        return self.servers[0]

    def reachable(self, n: int) -> tuple[int, ...]:
        """Indices of the servers device ``n`` can offload to (all of them unless it lists ``servers``).

        Parameters
        ----------
        n : int
            The device's index.

        Returns
        -------
        tuple of int
            Indices into ``servers``, increasing; ``(0,)`` with one server.
        """
        return self.reach[n]

    def view(self, k: int) -> ServerView:
        """Server ``k`` seen as a single-server instance of the devices that reach it.

        Parameters
        ----------
        k : int
            The server's index in ``servers``.

        Returns
        -------
        ServerView
            With K = 1, the view of the instance itself.

        Raises
        ------
        IndexError
            When ``k`` is not 0..K-1.
        """
        if not 0 <= k < len(self.views):
            raise IndexError(f"server index {k} out of range (the instance has {self.K} "
                             f"server{'s' if self.K > 1 else ''})")
        return self.views[k]

    def server_index(self, name: str) -> int:
        """Index of the server called ``name`` (InputError when unknown).

        Parameters
        ----------
        name : str
            A server's name.

        Returns
        -------
        int
            The server's 0-based index.

        Raises
        ------
        InputError
            When no server has that name.
        """
        names = [s.name for s in self.servers]
        if name not in names:
            raise InputError(f"unknown server {name!r}; the instance's servers are {names}")
        return names.index(name)

    @property
    def M_max(self) -> int:
        """Largest number of layers of any device."""
        return max((d.M for d in self.devices), default=0)   # 0: a server view no device reaches

    @classmethod
    def from_dict(cls, data: dict[str, Any], base: str | Path | None = None) -> Instance:
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
    def load(cls, path_or_name: str | Path) -> Instance:
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


@dataclass(frozen=True)
class ServerView:
    """Server k of an instance as a single-server [Instance][mecopt.Instance] (K = 1: the instance itself).

    ``instance.devices[i]`` is device ``members[i]`` of the whole instance resolved against
    server k (its rates (9), (11), transfer times (8), (10) and price units (20)-(21) on that
    link); ``local[n]`` is device n's index in the view, or -1 when n cannot reach k.

    Attributes
    ----------
    k : int
        The server's index.
    instance : Instance
        The single-server instance of the server's reachable devices.
    members : numpy.ndarray
        (N_k,) global indices, increasing.
    local : numpy.ndarray
        (N,) global -> local index, -1 when unreachable.
    """

    k: int
    instance: Instance
    members: np.ndarray   # (N_k,) global indices, increasing
    local: np.ndarray     # (N,) global -> local index, -1 when unreachable

    @property
    def server(self) -> Server:
        """The view's single server."""
        return self.instance.server


def read_document(path: str | Path, what: str = "instance") -> tuple[dict[str, Any], str]:
    """The parsed TOML document at ``path`` and its text (InputError when missing or not TOML).

    An instance may be a bundled name such as ``paper:fig6-w1khz``, or a ``.json`` file holding the same
    document (read ~20x faster than TOML: the form for 100,000 devices, docs/multiserver.md *Scale*).
    Instance files may be up to :data:`~mecopt.core.document.MAX_INSTANCE_BYTES` long.

    Parameters
    ----------
    path : str or Path
        A file or a bundled name.
    what : str, default 'instance'
        What the file holds (for messages).

    Returns
    -------
    tuple[dict[str, Any], str]
        (document, text).
    """
    from mecopt.core.resources import instance_path

    if what != "instance":
        return read_toml(Path(path), what)
    path = instance_path(path)
    if path.suffix.lower() == ".json":
        return read_json(path, what, MAX_INSTANCE_BYTES)
    return read_toml(path, what, MAX_INSTANCE_BYTES)


def load_instance(path: str | Path) -> Instance:
    """Read, validate and resolve an instance file, or a bundled one named ``paper:fig6-w1khz``.

    Parameters
    ----------
    path : str or Path
        An instance file or a bundled name.

    Returns
    -------
    Instance
        The resolved instance.
    """
    from mecopt.core.resources import instance_path

    file = instance_path(path)
    with _collector_paused():
        data, _ = read_document(file)
        return instance_from_dict(data, base=file.parent, source_path=str(path), plain=True)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused while an instance is read and built (restored after).

    Loading allocates ~100 objects per device (the parsed document, devices, their dicts) and no garbage
    cycles, yet the collector would rescan the growing heap again and again: a third of the assembly's
    time at N = 10,000.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def instance_from_dict(data: dict[str, Any], base: Path | None = None, source_path: str | None = None, *,
                       plain: bool = False) -> Instance:
    """Validate a parsed instance document and resolve it to per-device numbers.

    Parameters
    ----------
    data : dict[str, Any]
        The parsed instance document.
    base : Path or None, default None
        Folder that relative DNN and delay paths are read from.
    source_path : str or None, default None
        The file it came from (kept on the instance, named in messages).
    plain : bool, default False
        The document holds plain Python values only, as the TOML and JSON readers return (numpy scalars of a
        document built in code are converted otherwise: 0.2 s for 10,000 devices).

    Returns
    -------
    Instance
        The resolved instance.

    Raises
    ------
    InputError
        Listing every problem with its field path.
    """
    with _collector_paused():
        return _build_instance(data, base, source_path, plain)


def _build_instance(data: dict[str, Any], base: Path | None, source_path: str | None, plain: bool) -> Instance:
    """:func:`instance_from_dict`'s work."""
    where = source_path or "<instance>"
    if not plain:
        data = jsonable(data, other="keep")   # numpy scalars (a document built in code) as Python numbers
    try:
        spec = InstanceFile.model_validate(data)
    except ValidationError as err:
        problems: list[tuple[str, str]] = validation_problems(err)
        problems += [p for p in _device_content_problems(data, base) if p not in problems]
        raise InputError(f"invalid instance {where}", problems) from None
    problems = []

    multi_form = spec.servers is not None
    if multi_form and "server" in data:
        problems.append(("server, servers", "give one [server] or a list of [[servers]], not both"))
    server_specs = cast("list[ServerSection]", spec.servers) if multi_form else [spec.server]
    servers: list[Server] = []
    for k, ss in enumerate(server_specs):
        where_k = f"servers.{k}" if multi_form else "server"
        a = _per_slot(ss.price_base, ss.slots, f"{where_k}.price_base", problems)
        b = _per_slot(ss.price_growth, ss.slots, f"{where_k}.price_growth", problems)
        servers.append(Server(H=ss.slots, T_d=ss.frame_s, B=ss.parallel_limit, f_s=ss.freq_cycles_per_s, a=a, b=b,
                              P_s=ss.tx_power_w, capacity_mode=spec.model.capacity_mode, name=ss.name or f"s{k + 1}",
                              position=ss.position))
    server_names = [sv.name for sv in servers]
    if len(set(server_names)) < len(server_names):
        problems.append(("servers.name", f"server names must be unique, got {server_names}"))
    K = len(servers)
    default_gain = spec.device_defaults.channel_gain
    if isinstance(default_gain, list) and len(default_gain) != K:   # checked even when every device overrides it
        problems.append(("device_defaults.channel_gain", f"needs one gain per server ({K}), got {len(default_gain)}"))

    coef_lo = coef_se = None
    try:
        coef_lo = load_coefficients(spec.model.delay_local, base)
    except InputError as err:
        problems.append(("model.delay_local", str(err)))
    try:
        coef_se = load_coefficients(spec.model.delay_server, base)
    except InputError as err:
        problems.append(("model.delay_server", str(err)))

    total = sum(entry.count for entry in spec.devices)
    if total > limits.MAX_DEVICES:
        raise InputError(f"invalid instance {where}", [(
            "devices.count", f"the instance has {total} devices (sum of count); the limit is {limits.MAX_DEVICES}")])

    rng = np.random.default_rng(spec.seed)
    defaults = {**PAPER_DEVICE, **{k: v for k, v in spec.device_defaults.model_dump().items()
                                   if v is not None and k not in ("count", "name")}}
    gain_by_default = spec.device_defaults.channel_gain is not None
    server_numbers = _server_numbers(servers)
    numbers: dict[int, tuple[dnn.LayerTable, _DnnNumbers]] = {}   # id(layer table) -> (table, its _DnnNumbers)
    tables: dict[str, dnn.LayerTable] = {}
    names: list[str] = []
    entries: list[_Entry] = []
    placed: list[tuple[_Entry, np.ndarray]] = []   # entries whose gains come from path loss, with their distances
    n_links = 0
    for i, entry in enumerate(spec.devices):
        given = {k: v for k, v in vars(entry).items() if v is not None}   # as model_dump(), for flat fields
        merged = {**defaults, **given}
        path = f"devices.{i}"
        e = _Entry(path=path, merged=merged, count=entry.count)
        e.report(_weight_problems(merged, path))
        e.reach, e.gains, link_problems, distances = _links(merged, "channel_gain" in given or gain_by_default,
                                                            servers, server_numbers, path)
        e.report(link_problems, dedupe=True)
        if distances is not None:
            placed.append((e, distances))
        try:
            if merged["dnn"] not in tables:   # resolved once per DNN name (it reads files)
                tables[merged["dnn"]] = dnn.layer_table(merged["dnn"], spec.model.grouped_conv, base)
            table = tables[merged["dnn"]]
            if coef_lo is not None and coef_se is not None:
                if id(table) not in numbers:   # once per DNN table: entries of one DNN share it
                    numbers[id(table)] = (table, _dnn_numbers(table, coef_lo, coef_se, spec.model.bits_per_element))
                e.numbers = numbers[id(table)][1]
                e.dnn = table.name
        except InputError as err:
            e.report([(f"{path}.dnn", str(err))])
        n_links += entry.count * len(e.reach)
        if n_links > limits.MAX_LINKS:
            raise InputError(f"invalid instance {where}", [(
                "devices.servers", f"more than {limits.MAX_LINKS} reachable (device, server) pairs; list fewer "
                "servers per device")])
        delta = merged["delta_cycles_per_bit"]   # a range: one draw per device, in file order
        e.deltas = rng.uniform(delta[0], delta[1], size=entry.count).tolist() if isinstance(delta, tuple | list) \
            else [float(delta)] * entry.count
        if entry.name and entry.count == 1:
            names.append(entry.name)
        elif entry.name:
            names += [f"{entry.name}-{c + 1}" for c in range(entry.count)]
        else:
            names += [f"md{len(names) + c + 1}" for c in range(entry.count)]
        e.names = names[len(names) - entry.count:]
        e.resolvable = e.numbers is not None and not link_problems
        entries.append(e)
    _path_loss_gains(placed, spec.channel)
    links = _LinkTable([e for e in entries if e.resolvable], servers, spec.model.price_scale)
    links.check(servers, spec.model.price_scale)   # reports the problems of derived numbers, if any
    for e in entries:
        for p, dedupe in e.problems:
            if not dedupe or p not in problems:
                problems.append(p)
    resolved = [e for e in entries if e.resolvable]
    reached: dict[int, tuple[_Entry, set[int]]] = {}   # per DNN table: an entry running it, the servers reached
    for e in resolved:
        reached.setdefault(id(e.numbers), (e, set()))[1].update(e.reach)
    big = sorted({(e.dnn, M, servers[k].H) for e, ks in reached.values()
                  for M in (len(cast(_DnnNumbers, e.numbers).names),)
                  for k in ks if servers[k].H * (M + 1) ** 2 > limits.MAX_DP_CELLS})
    if big:
        dnn_name, M, Hk = big[0]
        problems.append(("server.slots, devices.dnn", f"H x (M+1)^2 = {Hk} x ({M}+1)^2 for DNN {dnn_name} "
                         f"exceeds {limits.MAX_DP_CELLS:g}, the size the best-response engines handle "
                         f"(fewer slots or layers)"))
    dup = sorted(n for n, count in Counter(names).items() if count > 1)   # linear: N can be 50,000
    if dup:
        problems.append(("devices.name", f"device names must be unique; repeated: {dup}"))
    if spec.topology.kind == "edges":
        N = len(names)
        bad_edges = [e for e in spec.topology.edges if not (0 <= e[0] < N and 0 <= e[1] < N) or e[0] == e[1]]
        if bad_edges:
            problems.append(("topology.edges", f"edges must join two different devices 0..{N - 1}; bad: {bad_edges}"))
    if problems:
        raise InputError(f"invalid instance {where}", problems)

    # the fastest delay over every reachable server decides (26)'s feasibility (docs/multiserver.md)
    assert links.entries == resolved   # no problem: every entry resolved, its links are the instance's
    link_fastest = links.fastest_delays(servers)
    fastest = np.minimum.reduceat(link_fastest, links.first) if links.N else np.zeros(0)
    tau = [float(e.merged["deadline_s"]) for e in resolved for _ in range(e.count)]
    unreachable = np.array([deadline_unreachable(f, t) for f, t in zip(fastest.tolist(), tau)], dtype=bool)
    if spec.model.deadline_policy == "hard" and unreachable.any():
        raise InputError(f"instance {where} is infeasible under the hard deadline (26)", [
            (f"device {links.names[n]} ({resolved[links.device_entry[n]].dnn})",
             f"no strategy meets its deadline tau = {tau[n]:g} s; its fastest possible delay is "
             f"{fastest[n]:.6g} s (set model.deadline_policy = \"relax\" to drop (26) for such devices)")
            for n in np.flatnonzero(unreachable).tolist()])
    relaxed = unreachable if spec.model.deadline_policy == "relax" else np.zeros(links.N, dtype=bool)
    soft: dict[str, Any] = dict(deadline_soft=spec.model.deadline_policy == "soft", deadline_penalty_per_s=(
        spec.model.deadline_penalty_per_s if spec.model.deadline_policy == "soft" else 0.0))
    # each device on its first reachable server, with the fastest delay over all of them
    devices = links.devices(links.first, fastest, relaxed, soft)
    source = spec.model_dump(mode="json")
    source.pop("servers" if not multi_form else "server")
    if "channel" not in spec.model_fields_set:
        source.pop("channel")   # the document as written: a [server] instance keeps its old form
    common: dict[str, Any] = dict(description=spec.description, seed=spec.seed,
                                  bits_per_element=spec.model.bits_per_element, price_scale=spec.model.price_scale,
                                  deadline_policy=spec.model.deadline_policy, topology=spec.topology)
    views: list[ServerView] = []
    reach_all: tuple[tuple[int, ...], ...] = ()
    if K > 1:   # with K = 1 reach and the one view (the instance itself) are derived by Instance
        reach_all = links.reach()
        for k, sv in enumerate(servers):
            on_k = links.on_server(k)   # links to server k, by increasing device index
            members = links.device[on_k]
            local = np.full(links.N, -1, dtype=int)
            local[members] = np.arange(len(members))
            sub = links.devices(on_k, link_fastest[on_k], relaxed[members], soft)
            views.append(ServerView(k, Instance(name=f"{spec.name}@{sv.name}", servers=(sv,), devices=sub, **common),
                                    members, local))
    return Instance(name=spec.name, servers=tuple(servers), devices=devices, **common, source=source,
                    path=source_path, reach=reach_all, views=tuple(views))


def _links(merged: dict[str, Any], gain_given: bool, servers: list[Server], names: dict[str, int],
           path: str) -> tuple[tuple[int, ...], list[float | None], list[tuple[str, str]], np.ndarray | None]:
    """The servers a device reaches (``servers``, default all) and its gain G_{n,k} to each.

    ``channel_gain`` (one number for every server, or a list with one per server) when given, else the path loss between
    ``position`` and the server's position, else the paper's G_n. Path-loss gains are left NaN and the distances
    to the reached servers returned (the fourth value), for :func:`_path_loss_gains` to compute in one batch.
    """
    K = len(servers)
    problems: list[tuple[str, str]] = []
    wanted = merged.get("servers")
    if wanted is None:
        reach = tuple(range(K))
    else:
        unknown = [w for w in wanted if w not in names]
        if unknown:
            problems.append((f"{path}.servers", f"unknown servers {unknown}; the instance's servers are "
                             f"{[sv.name for sv in servers]}"))
        reach = tuple(sorted({names[w] for w in wanted if w in names}))
    g = merged.get("channel_gain")
    pos = merged.get("position")
    if isinstance(g, list):
        if len(g) != K:
            problems.append((f"{path}.channel_gain", f"needs one gain per server ({K}), got {len(g)}"))
            return reach, [], problems, None
        return reach, list(g), problems, None
    if gain_given or pos is None:
        return reach, [g] * K, problems, None
    unplaced = [servers[k].name for k in reach if servers[k].position is None]
    if unplaced:
        problems.append((f"{path}.position", f"the device has a position but servers {unplaced} have none; give "
                         "every server a position or the device a channel_gain"))
        return reach, [], problems, None
    from mecopt.core.pathloss import distance
    gains: list[float | None] = [math.nan] * K                  # unreachable servers: never resolved
    return reach, gains, problems, np.array([distance(pos, cast(Point, servers[k].position)) for k in reach])


def _server_numbers(servers: list[Server]) -> dict[str, int]:
    """Server name -> index (the first of a repeated name, as ``list.index``; repeats are reported apart)."""
    out: dict[str, int] = {}
    for k, sv in enumerate(servers):
        out.setdefault(sv.name, k)
    return out


def _path_loss_gains(placed: list[tuple[_Entry, np.ndarray]], channel: ChannelSection) -> None:
    """Fill in the path-loss gains G_{n,k} of the entries placed by ``position``, in one vectorised call.

    (the gain is element-wise, so the batch gives each link the number a call per device gave).
    """
    if not placed:
        return
    gains = np.atleast_1d(channel.gain(np.concatenate([d for _, d in placed]))).tolist()
    at = 0
    for e, _ in placed:
        for k in e.reach:
            e.gains[k] = gains[at]
            at += 1


def _weight_problems(merged: dict[str, Any], path: str) -> list[tuple[str, str]]:
    """Alpha + beta + gamma = 1 for one device (eq. 23)."""
    w = merged["alpha"] + merged["beta"] + merged["gamma"]
    if abs(w - 1.0) > WEIGHT_SUM_TOL:
        return [(f"{path}.alpha+beta+gamma",
                 f"the weights must sum to 1, got {merged['alpha']} + {merged['beta']} + {merged['gamma']} = {w:g}")]
    return []


def _device_content_problems(data: dict[str, Any], base: Path | None) -> list[tuple[str, str]]:
    """Best-effort content checks (weights, DNN names) on a document that failed the schema.

    So that one run reports these problems too.
    """
    if not isinstance(data, dict) or not isinstance(data.get("devices"), list):
        return []
    raw_defaults = cast("dict[str, Any]",
                        data.get("device_defaults") if isinstance(data.get("device_defaults"), dict) else {})
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


def _replace(device: Device, **changes: Any) -> Device:
    from dataclasses import replace
    return replace(device, **changes)


def _per_slot(value: float | list[float], H: int, path: str, problems: list[tuple[str, str]]) -> np.ndarray:
    if isinstance(value, list):
        if len(value) != H:
            problems.append((path, f"needs one value per slot (H = {H}), got {len(value)}"))
            return np.zeros(H)
        return np.asarray(value, dtype=float)
    return np.full(H, float(value))


@dataclass(frozen=True)
class _DnnNumbers:
    """What one DNN table gives every device that runs it.

    T^lo and T^se per layer (eqs. 5-7, measured times overriding; [0] = 0) and O_{n,m} in bits. Shared, read-only.
    """

    t_local: np.ndarray
    t_server: np.ndarray
    out_bits: np.ndarray
    names: tuple[str, ...]
    types: tuple[str, ...]


def _dnn_numbers(table: dnn.LayerTable, coef_lo: DelayModel, coef_se: DelayModel,
                 bits_per_element: float) -> _DnnNumbers:
    frame = table.frame
    with np.errstate(all="ignore"):
        t_lo = layer_delays(coef_lo, table)  # a block's delay is the sum over its operators
        t_se = layer_delays(coef_se, table)
        measured_lo = frame["t_local_s"].to_numpy(dtype=float)
        measured_se = frame["t_server_s"].to_numpy(dtype=float)
        t_lo = np.where(np.isnan(measured_lo), t_lo, measured_lo)
        t_se = np.where(np.isnan(measured_se), t_se, measured_se)
        t_lo[0] = t_se[0] = 0.0
        out_bits = frame["out_elements"].to_numpy(dtype=float) * bits_per_element
    for arr in (t_lo, t_se, out_bits):
        arr.setflags(write=False)   # shared by every device of the DNN
    return _DnnNumbers(t_lo, t_se, out_bits, tuple(frame["name"][1:]), tuple(frame["type"][1:]))


def resolve_link(index: int, name: str, f: dict[str, Any], delta: float, dnn_name: str, dn: _DnnNumbers,
                    server: Server, price_scale: float, path: str) -> tuple[Device | None, list[tuple[str, str]]]:
    """One MD's numbers on its link to ``server`` (eqs. 5-11, 20-21), or the problems of its derived quantities.

    The per-link reference: the loader resolves every link at once (:class:`_LinkTable`, the same numbers) and calls
    this for the links that may have a problem, to report them.
    """
    t_lo, t_se, out_bits = dn.t_local, dn.t_server, dn.out_bits
    with np.errstate(all="ignore"):
        try:
            r_up = channel.shannon_rate(f["bandwidth_hz"], f["upload_power_w"], f["channel_gain"], f["noise_w_per_hz"])
            r_do = channel.shannon_rate(f["bandwidth_hz"], server.P_s, f["channel_gain"], f["noise_w_per_hz"])
        except (ZeroDivisionError, OverflowError):
            r_up = r_do = 0.0
        t_up = channel.transfer_time(out_bits, r_up) if r_up > 0 else np.full_like(out_bits, np.inf)
        t_down = float(out_bits[-1] / r_do) if r_do > 0 else math.inf
        S = delta * server.f_s * t_se / price_scale
    problems = _derived_problems(path, dnn_name, f, t_lo, t_se, r_up, r_do, t_up, t_down, S, server)
    if problems:
        return None, problems
    for arr in (t_lo, t_se, out_bits, t_up, S):
        arr.setflags(write=False)
    dev = Device(index=index, name=name, dnn=dnn_name, layer_names=dn.names,
                 layer_types=dn.types, t_local=t_lo, t_server=t_se, out_bits=out_bits,
                 rate_up=r_up, rate_down=r_do, t_up=t_up, t_down=t_down, S=S, delta=delta,
                 alpha=f["alpha"], beta=f["beta"], gamma=f["gamma"], c_T=f["cost_delay_per_s"],
                 c_E=f["cost_energy_per_j"], P_up=f["upload_power_w"], P_lo=f["compute_power_w"],
                 W=f["bandwidth_hz"], G=f["channel_gain"], N0=f["noise_w_per_hz"], tau=f["deadline_s"],
                 deadline_relaxed=False, fastest_delay=math.inf)
    return _replace(dev, fastest_delay=fastest_delay(dev, server)), []


@dataclass(eq=False)
class _Entry:
    """One ``[[devices]]`` entry merged with the defaults, and what resolving it found.

    Its ``count`` devices share every field but ``delta`` (drawn per device from a range) and the name.
    """

    path: str
    merged: dict[str, Any]
    count: int
    reach: tuple[int, ...] = ()
    gains: list[float | None] = field(default_factory=list)   # G_{n,k} per server (NaN where unreached)
    numbers: _DnnNumbers | None = None                         # None: its DNN or delay sets did not resolve
    dnn: str = ""
    deltas: list[float] = field(default_factory=list)          # delta_n of each of its devices
    names: list[str] = field(default_factory=list)
    resolvable: bool = False                                   # its links can be resolved (no problem so far)
    problems: list[tuple[tuple[str, str], bool]] = field(default_factory=list)   # (problem, report once)

    def report(self, problems: list[tuple[str, str]], dedupe: bool = False) -> None:
        """Add problems; ``dedupe``: skipped when the instance's report already has them."""
        if problems:
            self.problems += [(p, dedupe) for p in problems]


class _LinkTable:
    """Every (device, server) link of an instance's resolvable entries, resolved in numpy columns.

    Links are device-major (device 0's reached servers in increasing order, then device 1's, ...). Per link:
    the rates (9), (11), the download time (10), and, as rows of one matrix per DNN table, the upload times (8)
    and price units (20)-(21) — the numbers :func:`resolve_link` gives one link, element for element (the same
    operations in the same order; ``tests/core/test_loading.py`` compares them). The devices of one DNN share its
    layer tables (T^lo, T^se, O).
    """

    def __init__(self, entries: list[_Entry], servers: list[Server], price_scale: float) -> None:
        self.entries = entries
        self.templates: dict[int, dict[str, Any]] = {}   # entry index -> its device_template
        self.counts = np.array([e.count for e in entries], dtype=np.int64)
        self.N = int(self.counts.sum())
        self.device_entry = np.repeat(np.arange(len(entries)), self.counts)           # (N,)
        self.delta = np.array([d for e in entries for d in e.deltas], dtype=float)
        self.names = [name for e in entries for name in e.names]
        per_device = np.repeat([len(e.reach) for e in entries], self.counts).astype(np.int64)
        self.first = np.concatenate([[0], np.cumsum(per_device)[:-1]]).astype(np.int64) if self.N else \
            np.zeros(0, dtype=np.int64)                                               # (N,) each device's first link
        self.device = np.repeat(np.arange(self.N), per_device)                        # (L,)
        server: list[int] = []
        gain: list[float] = []
        for e in entries:
            server += list(e.reach) * e.count
            gain += [cast(float, e.gains[k]) for k in e.reach] * e.count
        self.server = np.array(server, dtype=np.int64)
        self.G = gain
        entry = self.device_entry[self.device]
        tables: dict[int, int] = {}
        self.numbers: list[_DnnNumbers] = []
        for e in entries:
            if id(e.numbers) not in tables:
                tables[id(e.numbers)] = len(self.numbers)
                self.numbers.append(cast(_DnnNumbers, e.numbers))
        self.table = np.array([tables[id(e.numbers)] for e in entries], dtype=np.int64)[entry]   # (L,)

        def column(name: str) -> np.ndarray:
            return np.array([float(e.merged[name]) for e in entries])[entry]

        W, P_up, N0, G = column("bandwidth_hz"), column("upload_power_w"), column("noise_w_per_hz"), np.array(gain)
        P_s = np.array([sv.P_s for sv in servers])[self.server]
        f_s = np.array([sv.f_s for sv in servers])[self.server]
        with np.errstate(all="ignore"):
            self.rate_up = W * np.log2(1.0 + P_up * G / (W * N0))        # (9), as channel.shannon_rate
            self.rate_down = W * np.log2(1.0 + P_s * G / (W * N0))       # (11)
            last = np.array([dn.out_bits[-1] for dn in self.numbers])[self.table] if len(self.table) else np.zeros(0)
            self.t_down = last / self.rate_down                              # (10)
            self.row = np.zeros(len(self.server), dtype=np.int64)            # the link's row in its table's matrices
            self.t_up: list[np.ndarray] = []                                 # per table: (links, M+1) (8)
            self.S: list[np.ndarray] = []                                    # per table: (links, M+1) (20)-(21)
            load = self.delta[self.device] * f_s
            for t, dn in enumerate(self.numbers):
                on = np.flatnonzero(self.table == t)
                self.row[on] = np.arange(len(on))
                t_up = dn.out_bits[None, :] / self.rate_up[on, None]
                S = load[on, None] * dn.t_server[None, :] / price_scale
                for arr in (t_up, S):
                    arr.setflags(write=False)
                self.t_up.append(t_up)
                self.S.append(S)

    def devices(self, links: np.ndarray, fastest: np.ndarray, relaxed: np.ndarray,
                soft: dict[str, Any]) -> tuple[Device, ...]:
        """The links ``links`` as devices numbered 0, 1, ... with these fastest delays and relax flags.

        Each device's ``t_up`` and ``S`` are rows of its DNN table's matrices; the fields its entry's devices
        share (layer tables, weights, powers) are the same objects in every one of them.
        """
        dev = self.device[links]
        t_up = [self.t_up[t][r] for t, r in zip(self.table[links].tolist(), self.row[links].tolist())]
        S = [self.S[t][r] for t, r in zip(self.table[links].tolist(), self.row[links].tolist())]
        out = []
        for i, (e, n, link, r_up, r_do, t_down, delta, rel, f) in enumerate(zip(
                self.device_entry[dev].tolist(), dev.tolist(), links.tolist(), self.rate_up[links].tolist(),
                self.rate_down[links].tolist(), self.t_down[links].tolist(), self.delta[dev].tolist(),
                relaxed.tolist(), fastest.tolist())):
            template = self.templates.get(e)
            if template is None:
                template = self.templates[e] = self.device_template(self.entries[e], soft)
            values = template.copy()   # the per-link fields filled in
            values["index"] = i
            values["name"] = self.names[n]
            values["G"] = self.G[link]
            values["rate_up"] = r_up
            values["rate_down"] = r_do
            values["t_up"] = t_up[i]
            values["t_down"] = t_down
            values["S"] = S[i]
            values["delta"] = delta
            values["deadline_relaxed"] = rel
            values["fastest_delay"] = f
            out.append(Device(**values))
        return tuple(out)

    @staticmethod
    def device_template(e: _Entry, soft: dict[str, Any]) -> dict[str, Any]:
        """Every :class:`Device` field: those the devices of entry ``e`` share, the others None (filled per link)."""
        dn, m = cast(_DnnNumbers, e.numbers), e.merged
        return {"index": None, "name": None, "dnn": e.dnn, "layer_names": dn.names, "layer_types": dn.types,
                "t_local": dn.t_local, "t_server": dn.t_server, "out_bits": dn.out_bits, "rate_up": None,
                "rate_down": None, "t_up": None, "t_down": None, "S": None, "delta": None, "alpha": m["alpha"],
                "beta": m["beta"], "gamma": m["gamma"], "c_T": m["cost_delay_per_s"], "c_E": m["cost_energy_per_j"],
                "P_up": m["upload_power_w"], "P_lo": m["compute_power_w"], "W": m["bandwidth_hz"], "G": None,
                "N0": m["noise_w_per_hz"], "tau": m["deadline_s"], "deadline_relaxed": None, "fastest_delay": None,
                "deadline_soft": soft["deadline_soft"], "deadline_penalty_per_s": soft["deadline_penalty_per_s"]}

    def flagged(self, servers: list[Server]) -> np.ndarray:
        """Links that may have a problem :func:`_derived_problems` reports (a superset: bounds with a margin)."""
        lim, margin = limits.MAX_TIME_S, 1.0 - 1e-9

        def bad(x: np.ndarray) -> np.ndarray:
            return np.asarray(~(np.isfinite(x) & (x >= 0) & (x <= lim)))

        with np.errstate(all="ignore"):
            flag = ~(np.isfinite(self.rate_up) & (self.rate_up > 0)) | ~(np.isfinite(self.rate_down) &
                                                                          (self.rate_down > 0))
            worst_up = np.zeros(len(self.server))
            worst_S = np.zeros(len(self.server))
            for t, dn in enumerate(self.numbers):
                on = self.table == t
                worst_up[on] = self.t_up[t].max(axis=1)[self.row[on]] if dn.out_bits.size else 0.0
                worst_S[on] = self.S[t].sum(axis=1)[self.row[on]]
                layer_bad = any(bool(np.any(~(x >= 0))) or bad(np.array(np.sum(x))).item()
                                for x in (dn.t_local, dn.t_server))
                flag[on] |= layer_bad
            flag |= bad(worst_up) | bad(self.t_down) | ~(worst_S <= limits.MAX_PRICE * margin)
            sum_lo = np.array([np.sum(dn.t_local) for dn in self.numbers])[self.table]
            sum_se = np.array([np.sum(dn.t_server) for dn in self.numbers])[self.table]
            T_d = np.array([sv.T_d for sv in servers])[self.server]
            price = np.array([float(np.max(sv.a) + np.max(sv.b) * limits.MAX_DEVICES) for sv in servers])[self.server]
            entry = self.device_entry[self.device]

            def column(name: str) -> np.ndarray:
                return np.array([float(e.merged[name]) for e in self.entries])[entry]

            T = sum_lo + worst_up + T_d + sum_se + self.t_down
            E = column("compute_power_w") * sum_lo + column("upload_power_w") * worst_up
            C = column("alpha") * column("cost_delay_per_s") * T + column("beta") * column("cost_energy_per_j") * E \
                + column("gamma") * price * worst_S * worst_S
            flag |= ~(C <= limits.MAX_COST * margin)
        return np.asarray(flag)

    def check(self, servers: list[Server], price_scale: float) -> None:
        """Report the problems of the flagged links, per entry, through the per-link reference :func:`resolve_link`.

        As the per-device loader did: an entry's devices in order, every link of a device, and at most one
        device reported per entry; an entry with a problem is no longer resolvable.
        """
        flag = self.flagged(servers)
        if not flag.any():
            return
        K = len(servers)
        for n in np.unique(self.device[flag]).tolist():
            e = self.entries[int(self.device_entry[n])]
            if not e.resolvable:
                continue   # one report per device entry
            bad: list[tuple[str, str]] = []
            for link in range(int(self.first[n]), int(self.first[n]) + len(e.reach)):
                k = int(self.server[link])
                on = f"{e.path} (server {servers[k].name})" if K > 1 else e.path
                _, errs = resolve_link(n, self.names[n], {**e.merged, "channel_gain": self.G[link]},
                                       float(self.delta[n]), e.dnn, cast(_DnnNumbers, e.numbers), servers[k],
                                       price_scale, on)
                bad += errs
            if bad:
                e.report(bad, dedupe=True)
                e.resolvable = False

    def fastest_delays(self, servers: list[Server]) -> np.ndarray:
        """:func:`fastest_delay` of every link: the smallest T_n (24) alone on its server, element for element.

        Per (DNN table, server): the block counts of the partition points come from :func:`_block_counts`, and a
        link's candidates ``local_cum[j] + t_up[j] + blocks_j slot_len + t_down`` are added in the same order.
        """
        out = np.zeros(len(self.server))
        groups = self.table * len(servers) + self.server
        for g in np.unique(groups).tolist():
            t, k = divmod(g, len(servers))
            dn, sv = self.numbers[t], servers[k]
            on = np.flatnonzero(groups == g)
            lc = np.concatenate([[0.0], np.cumsum(dn.t_local[1:])])
            counts = _block_counts(np.ascontiguousarray(dn.t_server, dtype=float).tobytes(), sv.slot_len)
            J = np.array([j for j in range(len(dn.names)) if counts[j] is not None and counts[j] <= sv.H], dtype=int)
            best = np.full(len(on), float(lc[-1]))
            if len(J):
                blocks = np.array([counts[j] for j in J], dtype=np.int64)
                cand = lc[J][None, :] + self.t_up[t][self.row[on]][:, J] + (blocks * sv.slot_len)[None, :] \
                    + self.t_down[on, None]
                best = np.minimum(best, cand.min(axis=1))
            out[on] = best
        return out

    def on_server(self, k: int) -> np.ndarray:
        """The links to server ``k``, by increasing device index."""
        return np.flatnonzero(self.server == k)

    def reach(self) -> tuple[tuple[int, ...], ...]:
        """Per device, the servers it reaches (increasing)."""
        return tuple(e.reach for e in self.entries for _ in range(e.count))


LINK_FIELDS = "bandwidth_hz, upload_power_w, channel_gain, noise_w_per_hz"


def _derived_problems(path: str, dnn_name: str, f: dict[str, Any], t_lo: np.ndarray, t_se: np.ndarray, r_up: float,
                      r_do: float, t_up: np.ndarray, t_down: float, S: np.ndarray,
                      server: Server) -> list[tuple[str, str]]:
    """Every derived number a solver sees must be finite and in range (:mod:`mecopt.core.limits`).

    Each problem names the fields it comes from.
    """
    out: list[tuple[str, str]] = []
    lim = limits.MAX_TIME_S

    def bad(x: float) -> bool:
        return not (math.isfinite(x) and 0 <= x <= lim)

    link = f"the link ({LINK_FIELDS} = {f['bandwidth_hz']:g}, {f['upload_power_w']:g}, {f['channel_gain']:g}, " \
           f"{f['noise_w_per_hz']:g})"
    if not (math.isfinite(r_up) and r_up > 0):
        out.append((f"{path}.{{{LINK_FIELDS}}}", f"the upload rate (9) is {r_up:g} bit/s from {link}; it must be a "
                    "positive finite number"))
    elif not (math.isfinite(r_do) and r_do > 0):
        out.append((f"{path}.{{{LINK_FIELDS}}}, server.tx_power_w", f"the download rate (11) is {r_do:g} bit/s "
                    f"from {link} and server.tx_power_w = {server.P_s:g}"))
    else:
        worst = float(np.max(t_up)) if len(t_up) else 0.0
        if bad(worst) or bad(t_down):
            out.append((f"{path}.{{{LINK_FIELDS}}}, model.bits_per_element",
                        f"an upload (8) or download (10) takes {max(worst, t_down):g} s (DNN {dnn_name}, rate "
                        f"{r_up:g} bit/s); transfer times must be finite and <= {lim:g} s"))
    for times, fld, eq in ((t_lo, "model.delay_local", "T^lo (6)"), (t_se, "model.delay_server", "T^se (7)")):
        neg = np.flatnonzero(~(times >= 0))
        total = float(np.sum(times)) if not len(neg) else math.nan
        if len(neg):
            m = int(neg[0])
            out.append((f"{path}.dnn ({dnn_name}) layer {m}, {fld}",
                        f"layer time {eq} is {times[m]:g} s; layer times must be finite and >= 0"))
        elif bad(total):
            out.append((f"{path}.dnn ({dnn_name}), {fld}",
                        f"the layer times {eq} add up to {total:g} s; the limit is {lim:g} s"))
    if not out:
        worst_S = float(np.sum(S))
        if not (math.isfinite(worst_S) and worst_S <= limits.MAX_PRICE):
            out.append((f"{path}.delta_cycles_per_bit, server.freq_cycles_per_s, model.price_scale",
                        f"the price load S (20)-(21) of the whole DNN is {worst_S:g}; "
                        f"the limit is {limits.MAX_PRICE:g}"))
        else:
            # largest cost (23): every delay/energy term at its largest, the price with the whole
            # load of every slot (a bound, so the solvers' objective stays finite)
            T = float(np.sum(t_lo) + np.max(t_up) + server.T_d + np.sum(t_se) + t_down)
            E = f["compute_power_w"] * float(np.sum(t_lo)) + f["upload_power_w"] * float(np.max(t_up))
            P = float(np.max(server.a) + np.max(server.b) * limits.MAX_DEVICES) * worst_S * worst_S
            C = f["alpha"] * f["cost_delay_per_s"] * T + f["beta"] * f["cost_energy_per_j"] * E + f["gamma"] * P
            if not (math.isfinite(C) and C <= limits.MAX_COST):
                out.append((f"{path}.cost_delay_per_s, cost_energy_per_j, server.price_base, server.price_growth",
                            f"the cost (23) can reach {C:g}; the limit is {limits.MAX_COST:g}"))
    return out


def min_blocks(t_server: np.ndarray, start: int, cap: float) -> int | None:
    """Fewest contiguous blocks covering layers start+1..M with each block's server time <= cap.

    (greedy packing is optimal for contiguous blocks); None when one layer alone exceeds cap.

    Parameters
    ----------
    t_server : numpy.ndarray
        T^se per layer, index 0 the input.
    start : int
        Partition point: layers start+1..M are covered.
    cap : float
        The largest server time of a block.

    Returns
    -------
    int or None
        The fewest blocks, or None.
    """
    count, used = 0, math.inf
    for t in t_server[start + 1:]:
        if not fits_capacity(t, cap):
            return None
        if not fits_capacity(used + t, cap):
            count, used = count + 1, t
        else:
            used += t
    return count


@lru_cache(maxsize=256)
def _block_counts(t_server: bytes, cap: float) -> tuple[int | None, ...]:
    """:func:`min_blocks` for every partition point j = 0..M-1 of one layer-time vector.

    (cached: the devices of one DNN share it, and it is O(M^2)).
    """
    t = np.frombuffer(t_server, dtype=float)
    return tuple(min_blocks(t, j, cap) for j in range(len(t) - 1))


def fastest_delay(dev: Device, server: Server) -> float:
    """Smallest T_n (24) of any strategy satisfying (15)-(17), (27) with the server to itself.

    Parameters
    ----------
    dev : Device
        The MD.
    server : Server
        Its server.

    Returns
    -------
    float
        The smallest delay in seconds.
    """
    lc = dev.local_cum
    best = float(lc[-1])
    counts = _block_counts(np.ascontiguousarray(dev.t_server, dtype=float).tobytes(), server.slot_len)
    for j in range(dev.M):
        k = counts[j]
        if k is not None and k <= server.H:
            best = min(best, float(lc[j] + dev.t_up[j] + k * server.slot_len + dev.t_down))
    return best


def deadline_unreachable(fastest: float, tau: float) -> bool:
    """The deadline-relax rule: no strategy of the MD meets its deadline (26).

    ``fastest`` is the smallest delay T_n (24) the MD reaches alone on any of its reachable
    servers (:func:`fastest_delay`, the least over the servers with several,
    docs/multiserver.md). The loader relaxes (26) for such an MD under
    ``deadline_policy = "relax"`` (and rejects the instance under ``"hard"``); ``mecopt
    simulate`` relaxes it for a frame whatever the policy.

    Parameters
    ----------
    fastest : float
        Least T_n (s) over every strategy satisfying (15)-(17), (27) on every reachable server.
    tau : float
        The MD's deadline tau_n (s) of (26).

    Returns
    -------
    bool
        True when ``fastest`` exceeds ``tau`` beyond the solvers' relative tolerance.

    Examples
    --------
    >>> deadline_unreachable(0.2, 0.1), deadline_unreachable(0.1, 0.1)
    (True, False)
    """
    return not meets_deadline(fastest, tau)
