"""Many frames: the game played frame after frame under fading channels, device activity and mobility.

A *scenario* fixes, for every frame t = 0..T-1 and device n, its channel gain and
whether it is active; it is drawn up front from the seed (so it does not depend on
how frames are distributed over workers):

- **fading** (per frame, independent): the power gain is G_n x PL_n(t) x |h|^2 with
  ``rayleigh``: |h|^2 ~ Exp(1); ``rician``: h = sqrt(K/(K+1)) + sqrt(1/(K+1)) CN(0, 1)
  (K = ``rician_k``, linear; E|h|^2 = 1); ``none``: |h|^2 = 1.
- **mobility** (optional): every device starts at ``ref_distance_m`` from the server at a
  uniform angle and takes a step of ``speed_mps x frame_s`` in a uniform direction each
  frame; PL_n(t) = (ref_distance_m / max(d_n(t), 1 m))^``path_loss_exp`` (log-distance
  path loss relative to the instance's G_n, which holds at ``ref_distance_m``). Without
  mobility PL = 1.
- **activity**: each device is active in a frame with probability ``activity``
  (independently per frame); only active devices play that frame's game.

Each frame's instance keeps the devices' every other number and recomputes the links
(eqs. 8-11) and the fastest delay for the frame's gain. A device that has no
tau-feasible strategy in a frame (a deep fade) has (26) relaxed for that frame,
whatever the instance's deadline policy, and is counted in ``relaxed``.

**Warm start** (default): a frame's game starts from the previous frame's final
strategies of the devices that stay active; devices that arrive start fully local.
**Cold start**: every frame's game starts from the game's own initial draw (seeded
per frame). With a warm start the frames of one seed depend on each other and run
as one task; with a cold start every chunk of frames is an independent task. Tasks
run on any :class:`concurrent.futures.Executor` (a local process pool, or a Dask
client's executor, as for sweeps).

Per-frame table columns: ``seed, frame, active, arrived, left, relaxed, termination,
certified, max_gain_rel, ticks, moves, best_responses, avg_delay_s, avg_energy_j,
avg_cost, time_s``.

**Several servers** (docs/simulate.md, docs/multiserver.md; one server is the case K = 1 of
the same frame instances and the same warm start): the scenario is a :class:`LinkScenario`
(one server keeps the :class:`Scenario` above, whose streams and reference-distance mobility
predate it). Fading multiplies every (device, server) link's gain G_{n,k}
independently per frame (drawn per frame from ``default_rng([seed, 1, t])``, so a frame
costs O(N K) memory); with mobility the devices' positions take the random walk from
their positions in the instance, G_{n,k} is the instance's path loss (``[channel]``)
at the new distance, and with ``handover`` each device reaches its R_n nearest servers
(R_n = how many it reaches in the instance). A frame's game is warm-started from the
previous frame's strategies and servers (``play(init_server_of=...)``); a device whose
previous server is no longer among its reachable ones starts all local (column
``unreachable``), one whose strategy no longer fits keeps it and must move when it
wakes, as with one server. Extra columns: ``local``, ``switched``, ``handovers``,
``unreachable`` and ``offload_<server>`` for every server.

Both scenarios answer ``active`` (T, N), ``gain(t)`` ((N, K) link gains of frame t) and
``reach(t)`` (each device's reachable servers in frame t): :func:`frame_instance` and
:func:`run_task` are written once against them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, as_completed
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from mecopt.core import channel, slots
from mecopt.core.errors import InputError
from mecopt.core.instance import ChannelSection, Device, Instance, ServerView, deadline_unreachable, fastest_delay
from mecopt.core.options import Option, OptionSet

FADINGS = ("rayleigh", "rician", "none")
METHODS = ("tpos-cai", "tpos-uai")
COLUMNS = ("seed", "frame", "active", "arrived", "left", "relaxed", "termination", "certified", "max_gain_rel",
           "ticks", "moves", "best_responses", "avg_delay_s", "avg_energy_j", "avg_cost", "time_s")
#: most frames of one simulation (the scenario holds (T, N) arrays)
MAX_FRAMES = 100_000
#: most seeds of one simulation (one task each with a warm start)
MAX_SEEDS = 10_000
#: fastest mobility in m/s (beyond any vehicle; keeps the random walk and the path loss finite)
MAX_SPEED_MPS = 1_000.0
#: several servers: columns after COLUMNS, then ``offload_<server>`` per server (:func:`columns`)
MULTI_COLUMNS = ("local", "switched", "handovers", "unreachable")


def columns(instance: Instance) -> list[str]:
    """The per-frame table's columns.

    COLUMNS, and with several servers MULTI_COLUMNS and ``offload_<name>`` (devices offloading to that server) in
    ``[[servers]]`` order.

    Parameters
    ----------
    instance : Instance
        The instance.

    Returns
    -------
    list[str]
        The column names.
    """
    if instance.K == 1:   # presentation: the per-server columns are shown with several servers
        return list(COLUMNS)
    return list(COLUMNS) + list(MULTI_COLUMNS) + [f"offload_{sv.name}" for sv in instance.servers]


@dataclass(frozen=True)
class SimulationSpec:
    """What to simulate (every field has a default but ``frames``).

    Attributes
    ----------
    frames : int
        Number of frames.
    fading : str
        Small-scale fading: ``rayleigh``, ``rician`` or ``none``.
    rician_k : float
        Rician K factor.
    activity : float
        Probability that a device is active in a frame.
    speed_mps : float
        Device speed in m/s (0: static).
    ref_distance_m : float
        Starting distance of every device from the server with mobility (where G_n holds).
    path_loss_exp : float
        Exponent of the log-distance path loss relative to G_n with mobility.
    warm : bool
        Whether each frame's game starts from the previous frame's equilibrium.
    method : str
        The game: ``tpos-cai`` or ``tpos-uai``.
    engine : str
        Best-response engine.
    wake_prob : float
        Probability that a device wakes up in a tick.
    max_iter : int
        Most ticks per frame.
    time_limit : float or None
        Per frame's game.
    handover : bool
        Several servers, mobility: reach the R_n nearest servers each frame.

    Raises
    ------
    InputError
        A field outside its type or range (:data:`SPEC_OPTIONS`; every number finite), each named, or a game option
        its method's declaration refuses (``engine``, ``wake_prob``, ``max_iter``, ``time_limit``).
    """

    frames: int
    fading: str = "rayleigh"
    rician_k: float = 3.0
    activity: float = 1.0
    speed_mps: float = 0.0
    ref_distance_m: float = 100.0
    path_loss_exp: float = 3.0
    warm: bool = True
    method: str = "tpos-cai"
    engine: str = "dp"
    wake_prob: float = 0.5
    max_iter: int = 10_000
    time_limit: float | None = None     # per frame's game
    handover: bool = True               # several servers, mobility: reach the R_n nearest servers each frame

    def __post_init__(self):
        problems = []
        for opt in SPEC_OPTIONS.options:
            value = getattr(self, opt.name)
            try:
                opt.convert(value, "the simulation")
            except InputError:
                problems.append((opt.name, f"must be {opt.describe()}, got {value!r}"))
        if problems:
            raise InputError("invalid simulation options", problems)
        from mecopt.methods.registry import validate_options

        validate_options(self.method, dict(engine=self.engine, wake_prob=self.wake_prob, max_iter=self.max_iter,
                                           time_limit=self.time_limit))


#: the simulation's own parameters (the game's, ``engine``, ``wake_prob``, ``max_iter`` and ``time_limit``, are checked
#: by the method's declaration): type and range of each, so that every frame's gains stay finite and positive; ``mecopt
#: simulate`` reads its flags through them (docs/simulate.md)
SPEC_OPTIONS = OptionSet((
    Option("frames", int, "number of frames T", ge=1, le=MAX_FRAMES),
    Option("fading", str, "small-scale fading of every channel gain", choices=FADINGS),
    Option("rician_k", float, "Rician K factor (linear; 1e6 is 60 dB, beyond which the fading is 'none')",
           ge=0, le=1e6),
    Option("activity", float, "probability that a device is active in a frame", gt=0, le=1),
    Option("speed_mps", float, "random-walk speed in m/s (0: static)", ge=0, le=MAX_SPEED_MPS),
    Option("ref_distance_m", float, "distance (m) at which the instance's channel gain holds (distances are floored "
           "at 1 m)", ge=1, le=1e6),
    Option("path_loss_exp", float, "exponent of the log-distance path loss", ge=0, le=10),
    Option("warm", bool, "warm start: each frame's game from the previous frame's strategies"),
    Option("method", str, "the game", choices=METHODS),
    Option("handover", bool, "several servers, mobility: reach the R_n nearest servers each frame"),
))


@dataclass(frozen=True)
class Scenario:
    """One server: every frame's gain drawn up front (see the module's docstring).

    Attributes
    ----------
    gains : numpy.ndarray
        (T, N) linear channel power gain per frame and device.
    active : numpy.ndarray
        (T, N) bool.
    """

    gains: np.ndarray    # (T, N) linear channel power gain per frame and device
    active: np.ndarray   # (T, N) bool

    def gain(self, t: int) -> np.ndarray:
        """(N, 1) link gains of frame t (the one server's column), as :meth:`LinkScenario.gain`.

        Parameters
        ----------
        t : int
            The frame.

        Returns
        -------
        numpy.ndarray
            The gains, shape (N, 1).
        """
        return self.gains[t][:, None]

    def reach(self, t: int) -> tuple[tuple[int, ...], ...]:
        """Each device reaches the one server (index 0) in every frame.

        Parameters
        ----------
        t : int
            The frame.

        Returns
        -------
        tuple[tuple[int, ...], ...]
            The reachable servers of each device.
        """
        return ((0,),) * self.active.shape[1]


def scenario(instance: Instance, spec: SimulationSpec, seed: int) -> Scenario | LinkScenario:
    """The frames' gains and activity, drawn from ``seed`` alone (independent streams per effect).

    With several servers a :class:`LinkScenario` (gains per link, drawn per frame); one server
    keeps its own streams (:class:`Scenario`), so that its frames are those it always drew.

    Parameters
    ----------
    instance : Instance
        The instance.
    spec : SimulationSpec
        The simulation spec.
    seed : int
        The seed.

    Returns
    -------
    Scenario or LinkScenario
        The scenario.
    """
    if instance.K > 1:
        return link_scenario(instance, spec, seed)
    T, N = spec.frames, instance.N
    fade_rng, act_rng, mob_rng = (np.random.default_rng([seed, k]) for k in (1, 2, 3))
    if spec.fading == "rayleigh":
        power = fade_rng.exponential(1.0, size=(T, N))
    elif spec.fading == "rician":
        K = spec.rician_k
        z = (fade_rng.standard_normal((T, N)) + 1j * fade_rng.standard_normal((T, N))) / math.sqrt(2)
        power = np.abs(math.sqrt(K / (K + 1)) + math.sqrt(1 / (K + 1)) * z) ** 2
    else:
        power = np.ones((T, N))
    path = np.ones((T, N))
    if spec.speed_mps > 0:
        step = spec.speed_mps * instance.servers[0].T_d
        angle = mob_rng.uniform(0, 2 * np.pi, N)
        pos = spec.ref_distance_m * np.stack([np.cos(angle), np.sin(angle)], axis=1)
        for t in range(T):
            if t:
                heading = mob_rng.uniform(0, 2 * np.pi, N)
                pos = pos + step * np.stack([np.cos(heading), np.sin(heading)], axis=1)
            d = np.maximum(np.hypot(pos[:, 0], pos[:, 1]), 1.0)
            path[t] = (spec.ref_distance_m / d) ** spec.path_loss_exp
    G = np.array([d.G for d in instance.devices])
    active = act_rng.random((T, N)) < spec.activity
    return Scenario(gains=G[None, :] * path * power, active=active)


def with_gain(dev: Device, gain: float, instance: Instance) -> Device:
    """``dev`` with channel gain ``gain``.

    Rates (9), (11), transfer times (8), (10) and the fastest delay recomputed as
    :func:`mecopt.core.instance.instance_from_dict` does; (26) relaxed when no strategy meets tau
    (:func:`mecopt.core.instance.deadline_unreachable`).

    Parameters
    ----------
    dev : Device
        The device, resolved on ``instance``'s server.
    gain : float
        The link's power gain G (linear).
    instance : Instance
        A one-server instance (a server's view, ``Instance.view(k).instance``).

    Returns
    -------
    Device

    Raises
    ------
    InputError
        When the gain or a rate is not finite (no NaN reaches a frame's game).
    """
    server = instance.server
    r_up = channel.shannon_rate(dev.W, dev.P_up, gain, dev.N0)
    r_do = channel.shannon_rate(dev.W, server.P_s, gain, dev.N0)
    if not (math.isfinite(gain) and gain >= 0 and math.isfinite(r_up) and math.isfinite(r_do)):
        raise InputError(f"device {dev.name}: a frame's channel gain {gain:g} gives the rates {r_up:g}, {r_do:g} "
                         f"b/s (9), (11); lower the mobility's path-loss exponent or reference distance")
    t_up = channel.transfer_time(dev.out_bits, r_up)
    t_up.setflags(write=False)
    d = replace(dev, G=float(gain), rate_up=r_up, rate_down=r_do, t_up=t_up, t_down=float(dev.out_bits[-1] / r_do))
    fast = fastest_delay(d, server)
    return replace(d, fastest_delay=fast, deadline_relaxed=deadline_unreachable(fast, d.tau))


def fading(spec: SimulationSpec, rng: np.random.Generator, shape) -> np.ndarray:
    """|h|^2 of ``spec.fading`` for an array of links (E|h|^2 = 1).

    Parameters
    ----------
    spec : SimulationSpec
        The simulation spec.
    rng : numpy.random.Generator
        The random generator.
    shape : tuple of int
        The shape of the draw.

    Returns
    -------
    numpy.ndarray
        |h|^2 per link.
    """
    if spec.fading == "rayleigh":
        return rng.exponential(1.0, size=shape)
    if spec.fading == "rician":
        K = spec.rician_k
        z = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) / math.sqrt(2)
        return np.abs(math.sqrt(K / (K + 1)) + math.sqrt(1 / (K + 1)) * z) ** 2
    return np.ones(shape)


@dataclass(frozen=True)
class LinkScenario:
    """Several servers: activity up front, link gains and reach computed per frame.

    ``base`` holds the instance's G_{n,k} (NaN for links it does not resolve) when the devices
    do not move; with mobility ``positions`` (T, N, 2) are the devices' positions per frame and
    G_{n,k} the ``channel``'s path loss to ``server_positions``. Frame t's fading is drawn from
    ``default_rng([seed, 1, t])`` over every (device, server) pair, whatever the reach.

    Attributes
    ----------
    spec : SimulationSpec
        The simulation spec.
    seed : int
        The seed.
    active : numpy.ndarray
        (T, N) bool.
    base : numpy.ndarray or None
        (N, K) static gains.
    positions : numpy.ndarray or None
        (T, N, 2) with mobility.
    server_positions : numpy.ndarray or None
        (K, 2)
    channel : ChannelSection or None
        The path-loss model (None: gains given).
    reach0 : tuple[tuple[int, ...], ...]
        The instance's reach.
    K : int
        Number of servers.
    """

    spec: SimulationSpec
    seed: int
    active: np.ndarray                     # (T, N) bool
    base: np.ndarray | None                # (N, K) static gains
    positions: np.ndarray | None           # (T, N, 2) with mobility
    server_positions: np.ndarray | None    # (K, 2)
    channel: ChannelSection | None
    reach0: tuple[tuple[int, ...], ...]    # the instance's reach

    K: int = 1

    def gain(self, t: int) -> np.ndarray:
        """(N, K) link gains of frame t: G_{n,k}(t) |h_{n,k}(t)|^2.

        Parameters
        ----------
        t : int
            The frame.

        Returns
        -------
        numpy.ndarray
            The gains, shape (N, K).
        """
        G = self.base if self.positions is None else self.channel.gain(np.sqrt(self._d2(t)))
        return G * fading(self.spec, np.random.default_rng([self.seed, 1, t]), (self.active.shape[1], self.K))

    def _d2(self, t: int) -> np.ndarray:
        """(N, K) squared distances of frame t (as ``mecopt generate`` ranks servers)."""
        p, q = self.positions[t], self.server_positions
        return (p[:, None, 0] - q[None, :, 0]) ** 2 + (p[:, None, 1] - q[None, :, 1]) ** 2

    def reach(self, t: int) -> tuple[tuple[int, ...], ...]:
        """Each device's reachable servers in frame t (sorted indices).

        The instance's, or with mobility and ``handover`` its R_n nearest at its frame-t position (ties: lower index).

        Parameters
        ----------
        t : int
            The frame.

        Returns
        -------
        tuple[tuple[int, ...], ...]
            The reachable servers of each device.
        """
        if self.positions is None or not self.spec.handover:
            return self.reach0
        order = np.argsort(self._d2(t), axis=1, kind="stable")
        return tuple(tuple(sorted(int(k) for k in order[n, :len(r)])) for n, r in enumerate(self.reach0))


def placement(instance: Instance) -> tuple[np.ndarray, np.ndarray] | None:
    """(N, 2) device and (K, 2) server positions, or None when the gains do not come from positions.

    The positions are returned when every server is placed and every device's G_{n,k} comes from the path loss
    of its position (no ``channel_gain``), else None.

    Parameters
    ----------
    instance : Instance
        The instance.

    Returns
    -------
    tuple[numpy.ndarray, numpy.ndarray] or None
        (device positions, server positions), or None.
    """
    src = instance.source or {}
    servers = src.get("servers") or []
    if not servers or any(sv.get("position") is None for sv in servers):
        return None
    defaults = src.get("device_defaults") or {}
    if defaults.get("channel_gain") is not None:
        return None
    pos = []
    for entry in src.get("devices", []):
        p = entry.get("position") if entry.get("position") is not None else defaults.get("position")
        if p is None or entry.get("channel_gain") is not None:
            return None
        pos += [p] * int(entry.get("count", 1))
    if len(pos) != instance.N:
        return None
    return np.array(pos, dtype=float), np.array([sv["position"] for sv in servers], dtype=float)


def link_scenario(instance: Instance, spec: SimulationSpec, seed: int) -> LinkScenario:
    """:func:`scenario` with several servers (see :class:`LinkScenario`).

    Mobility needs positions: every server and device placed, gains by path loss (InputError
    otherwise). A device starts at its instance position and takes a step of speed x T_d (the
    first server's frame) in a uniform direction each frame (``default_rng([seed, 3])``).

    Parameters
    ----------
    instance : Instance
        The instance.
    spec : SimulationSpec
        The simulation spec.
    seed : int
        The seed.

    Returns
    -------
    LinkScenario
        The scenario.

    Raises
    ------
    InputError
        When the mobility model needs positions the instance lacks.
    """
    T, N, K = spec.frames, instance.N, instance.K
    act_rng, mob_rng = (np.random.default_rng([seed, k]) for k in (2, 3))
    reach0 = tuple(instance.reachable(n) for n in range(N))
    base = positions = server_pos = chan = None
    if spec.speed_mps > 0:
        placed = placement(instance)
        if placed is None:
            raise InputError("mobility (speed > 0) on several servers needs positions: every [[servers]] and every "
                             "device placed (position), with gains from the path loss (no channel_gain)")
        start, server_pos = placed
        step = spec.speed_mps * instance.servers[0].T_d
        positions = np.empty((T, N, 2))
        positions[0] = start
        for t in range(1, T):
            heading = mob_rng.uniform(0, 2 * np.pi, N)
            positions[t] = positions[t - 1] + step * np.stack([np.cos(heading), np.sin(heading)], axis=1)
        chan = ChannelSection(**instance.source.get("channel", {}))   # [channel] defaults when not given
    else:
        base = np.full((N, K), np.nan)
        for v in instance.views:
            base[v.members, v.k] = [d.G for d in v.instance.devices]
    active = act_rng.random((T, N)) < spec.activity
    return LinkScenario(spec=spec, seed=seed, active=active, base=base, positions=positions,
                        server_positions=server_pos, channel=chan, reach0=reach0, K=K)


def _link(instance: Instance, view: ServerView, n: int, gain: float) -> Device:
    """Device n on its link to server k = ``view.k`` with gain ``gain`` (:func:`with_gain` on server k).

    A link the instance does not resolve (a handover) starts from the device's first link with the price units (20)-(21)
    of server k, as the loader computes them.
    """
    i = int(view.local[n])
    if i >= 0:
        base = view.instance.devices[i]
    else:
        home = instance.devices[n]
        S = home.delta * view.server.f_s * home.t_server / instance.price_scale
        S.setflags(write=False)
        base = replace(home, S=S)
    return with_gain(base, gain, view.instance)


def frame_instance(instance: Instance, sc: Scenario | LinkScenario, t: int) -> tuple[Instance, np.ndarray]:
    """Frame t's instance (its active devices, re-indexed) and their indices in ``instance``.

    Every active device is resolved on each server it reaches in frame t at the frame's gains
    (:func:`with_gain`, eqs. (8)-(11)); (26) is relaxed for a device that meets tau on none of
    them (:func:`mecopt.core.instance.deadline_unreachable`, the loader's rule), whatever the
    instance's deadline policy. The devices' own numbers are those on their first reachable
    server, with the fastest delay over all of them, as the loader builds them.

    Parameters
    ----------
    instance : Instance
        The simulated instance (any number of servers).
    sc : Scenario or LinkScenario
        From :func:`scenario`.
    t : int
        The frame.

    Returns
    -------
    tuple of (Instance, numpy.ndarray)
        The frame's instance and the indices of its devices in ``instance``.
    """
    idx = np.flatnonzero(sc.active[t])
    G, reach = sc.gain(t), sc.reach(t)
    server_views = [instance.view(k) for k in range(instance.K)]
    links: list[dict[int, Device]] = []
    fastest: list[float] = []
    for n in idx:
        dl = {k: _link(instance, server_views[k], int(n), G[n, k]) for k in reach[n]}
        fast = min(d.fastest_delay for d in dl.values())
        relaxed = deadline_unreachable(fast, instance.devices[n].tau)
        links.append({k: d if d.deadline_relaxed == relaxed else replace(d, deadline_relaxed=relaxed)
                      for k, d in dl.items()})
        fastest.append(fast)
    home = tuple(replace(dl[min(dl)], index=i, fastest_delay=fast) for i, (dl, fast) in enumerate(zip(links, fastest)))
    views = []
    for v in instance.views:
        members = np.array([i for i, dl in enumerate(links) if v.k in dl], dtype=int)
        local = np.full(len(idx), -1, dtype=int)
        local[members] = np.arange(len(members))
        sub = tuple(replace(links[i][v.k], index=j) for j, i in enumerate(members))
        views.append(ServerView(v.k, replace(v.instance, name=f"{v.instance.name}-frame{t}", devices=sub),
                                members, local))
    fi = replace(instance, name=f"{instance.name}-frame{t}", devices=home,
                 reach=tuple(reach[n] for n in idx), views=tuple(views))
    return fi, idx


@dataclass(frozen=True)
class Task:
    """Frames ``frames`` (consecutive) of one seed; plain data for process and Dask workers.

    Attributes
    ----------
    instance : Instance
        The instance.
    spec : SimulationSpec
        The simulation spec.
    seed : int
        The seed.
    frames : tuple[int, ...]
        The frames the task plays.
    """

    instance: Instance
    spec: SimulationSpec
    seed: int
    frames: tuple[int, ...]


def _frame_seed(seed: int, t: int) -> int:
    return int(np.random.SeedSequence([seed, t]).generate_state(1)[0])


def _servers_after(sol) -> np.ndarray:
    """Each device's server after a frame's game (-1: all local).

    The solution's ``server_of``, or, when it holds none (one server), 0 for every device that offloads a layer.
    """
    if sol.server_of is not None:
        return np.asarray(sol.server_of, dtype=int)
    return np.array([0 if slots.offloads(s) else -1 for s in sol.profile], dtype=int)


def run_task(task: Task) -> list[dict]:
    """Play the task's frames in order (warm: each from the previous frame's profile and servers).

    A device whose previous server is no longer among its reachable ones starts all local
    (``unreachable``). Each row also holds ``_servers``, every device's server after the frame
    (-1 local, -2 inactive), from which :func:`simulate` counts ``switched`` across tasks; it is
    dropped there.

    Parameters
    ----------
    task : Task
        Consecutive frames of one seed.

    Returns
    -------
    list of dict
        One row per frame (the columns of :func:`columns`, and ``_servers``).
    """
    from mecopt.game.dynamics import play

    inst, spec = task.instance, task.spec
    sc = scenario(inst, spec, task.seed)
    names = [inst.view(k).server.name for k in range(inst.K)]
    prev: dict[int, tuple[int, np.ndarray]] = {}
    first = task.frames[0]
    prev_active = sc.active[first - 1] if first > 0 else np.zeros(inst.N, bool)
    prev_reach = sc.reach(first - 1) if first > 0 else None
    rows = []
    for t in task.frames:
        t0 = time.perf_counter()
        fi, idx = frame_instance(inst, sc, t)
        reach = sc.reach(t)
        handovers = 0 if prev_reach is None else int(sum(
            1 for n in idx if sc.active[t - 1, n] and reach[n] != prev_reach[n]))
        row = dict(seed=task.seed, frame=t, active=len(idx), arrived=int(np.sum(sc.active[t] & ~prev_active)),
                   left=int(np.sum(~sc.active[t] & prev_active)),
                   relaxed=int(sum(d.deadline_relaxed for d in fi.devices)), handovers=handovers)
        prev_active, prev_reach = sc.active[t], reach
        servers_after = np.full(inst.N, -2, dtype=int)
        if not len(idx):
            rows.append(dict(row, termination="no_devices", certified=True, max_gain_rel=0.0, ticks=0, moves=0,
                             best_responses=0, avg_delay_s=np.nan, avg_energy_j=np.nan, avg_cost=np.nan,
                             local=0, unreachable=0, **{f"offload_{nm}": 0 for nm in names},
                             time_s=time.perf_counter() - t0, _servers=servers_after))
            prev = {}
            continue
        start = start_servers = None
        unreachable = 0
        if spec.warm:
            start, start_servers = [], np.full(len(idx), -1, dtype=int)
            for i, (n, d) in enumerate(zip(idx, fi.devices)):
                k, strategy = prev.get(int(n), (-1, None))
                if k >= 0 and k not in fi.reachable(i):      # its server left its reach: start all local
                    k, unreachable = -1, unreachable + 1
                start.append(strategy if k >= 0 else np.zeros(d.M, dtype=int))
                start_servers[i] = k
        sol = play(fi, uai=spec.method == "tpos-uai", init_profile=start, init_server_of=start_servers,
                   engine=spec.engine, seed=_frame_seed(task.seed, t), wake_prob=spec.wake_prob,
                   max_iter=spec.max_iter, time_limit=spec.time_limit)
        ev = sol.evaluation
        so = _servers_after(sol)
        prev = {int(n): (int(k), p) for n, k, p in zip(idx, so, sol.profile)}
        servers_after[idx] = so
        rows.append(dict(row, termination=str(sol.termination), certified=bool(sol.certificate["certified"]),
                         max_gain_rel=float(sol.certificate["max_gain_rel"]), ticks=sol.iterations,
                         moves=int(sol.trace["moves"].sum()), best_responses=sol.solver_calls,
                         avg_delay_s=ev.avg_delay, avg_energy_j=ev.avg_energy, avg_cost=ev.avg_cost,
                         local=int(np.sum(so < 0)), unreachable=unreachable,
                         **{f"offload_{nm}": int(np.sum(so == k)) for k, nm in enumerate(names)},
                         time_s=time.perf_counter() - t0, _servers=servers_after))
    return rows


def _switched(rows: list[dict]) -> None:
    """``switched``: devices active in frames t-1 and t whose server (or all local) changed."""
    last: dict[int, tuple[int, np.ndarray]] = {}
    for r in sorted(rows, key=lambda r: (r["seed"], r["frame"])):
        before = last.get(r["seed"])
        now = r.pop("_servers")
        if before is None or before[0] != r["frame"] - 1:
            r["switched"] = 0
        else:
            both = (now > -2) & (before[1] > -2)
            r["switched"] = int(np.sum(both & (now != before[1])))
        last[r["seed"]] = (r["frame"], now)


def plan(instance: Instance, spec: SimulationSpec, seeds: Sequence[int], chunk: int = 10) -> list[Task]:
    """The independent tasks: one per seed (warm start), or per ``chunk`` frames of a seed (cold start).

    Parameters
    ----------
    instance : Instance
        The instance.
    spec : SimulationSpec
        The simulation spec.
    seeds : Sequence[int]
        The seeds.
    chunk : int, default 10
        Frames per task of a cold-started seed.

    Returns
    -------
    list[Task]
        The tasks.
    """
    tasks = []
    for s in seeds:
        if spec.warm:
            tasks.append(Task(instance, spec, int(s), tuple(range(spec.frames))))
        else:
            for a in range(0, spec.frames, chunk):
                tasks.append(Task(instance, spec, int(s), tuple(range(a, min(a + chunk, spec.frames)))))
    return tasks


def simulate(instance: Instance, spec: SimulationSpec, seeds: Sequence[int] = (0,), *,
             executor: Executor | None = None, chunk: int = 10,
             progress: Callable[[int, int], None] | None = None) -> pd.DataFrame:
    """The per-frame table of every seed, sorted by (seed, frame).

    Tasks run in this process unless an ``executor`` is given (``progress(done, total)`` counts tasks).

    Parameters
    ----------
    instance : Instance
        The instance simulated.
    spec : SimulationSpec
        Frames, arrivals, warm or cold start and the method's options.
    seeds : sequence of int, optional
        The seeds, one independent simulation each (at least one).
    executor : concurrent.futures.Executor or None, optional
        Runs the tasks (see :func:`plan`); None runs them in this process.
    chunk : int, optional
        Frames per task of a cold-started seed (at least 1).
    progress : callable or None, optional
        Called as ``progress(done, total)`` in tasks.

    Returns
    -------
    pandas.DataFrame
        One row per (seed, frame), columns :func:`columns` of the instance.

    Raises
    ------
    InputError
        If ``seeds`` is empty or longer than :data:`MAX_SEEDS`, or ``chunk`` < 1.
    """
    if not seeds:
        raise InputError("a simulation needs at least one seed")
    if len(seeds) > MAX_SEEDS:
        raise InputError(f"The 'seeds' option must hold at most {MAX_SEEDS} seeds. Got {len(seeds)} instead.")
    if chunk < 1:
        raise InputError(f"The 'chunk' option must be >= 1. Got {chunk} instead.")
    tasks = plan(instance, spec, seeds, chunk)
    rows: list[dict] = []
    if executor is None:
        for i, task in enumerate(tasks):
            rows += run_task(task)
            if progress:
                progress(i + 1, len(tasks))
    else:
        futures = [executor.submit(run_task, task) for task in tasks]
        try:
            for i, fut in enumerate(as_completed(futures)):
                rows += fut.result()
                if progress:
                    progress(i + 1, len(tasks))
        except BaseException:
            for f in futures:
                f.cancel()
            raise
    _switched(rows)
    df = pd.DataFrame(rows, columns=columns(instance))
    return df.sort_values(["seed", "frame"], kind="stable").reset_index(drop=True)


def summary(table: pd.DataFrame) -> dict:
    """Totals and means over the frames (what ``simulation.json`` and the CLI report).

    Parameters
    ----------
    table : pandas.DataFrame
        The per-frame table.

    Returns
    -------
    dict
        The totals and means.
    """
    played = table[table["termination"] != "no_devices"]
    out = dict(frames=int(len(table)), seeds=sorted(int(s) for s in table["seed"].unique()),
               best_responses=int(table["best_responses"].sum()), moves=int(table["moves"].sum()),
               ticks=int(table["ticks"].sum()), certified_frames=int(played["certified"].sum()),
               played_frames=int(len(played)), mean_active=float(table["active"].mean()),
               mean_avg_cost=float(played["avg_cost"].mean()), mean_avg_delay_s=float(played["avg_delay_s"].mean()),
               mean_avg_energy_j=float(played["avg_energy_j"].mean()), time_s=float(table["time_s"].sum()))
    if "local" in table:   # several servers
        out.update(mean_local=float(table["local"].mean()), switched=int(table["switched"].sum()),
                   handovers=int(table["handovers"].sum()), unreachable=int(table["unreachable"].sum()),
                   mean_offload={c[len("offload_"):]: float(table[c].mean()) for c in _offload_columns(table)})
    return out


def _offload_columns(table: pd.DataFrame) -> list[str]:
    return [c for c in table.columns if c.startswith("offload_")]


def plot(table: pd.DataFrame, title: str = ""):
    """Per frame: average cost, and best responses / moves to equilibrium (mean over seeds).

    Parameters
    ----------
    table : pandas.DataFrame
        The per-frame table of :func:`simulate`.
    title : str, optional
        Figure title; ``"simulation"`` when empty.

    Returns
    -------
    matplotlib.figure.Figure
        Two panels, or three with several servers (devices per server and all local per frame).

    Raises
    ------
    InputError
        If matplotlib is not installed.
    """
    from mecopt.results.plots import require_matplotlib

    Figure = require_matplotlib()
    g = table.groupby("frame")[["avg_cost", "avg_delay_s", "best_responses", "moves", "active"]].mean()
    multi = "local" in table
    fig = Figure(figsize=(8, 8 if multi else 5.5), layout="constrained")
    if multi:
        ax1, ax2, ax3 = fig.subplots(3, 1, sharex=True)
        _plot_servers(ax3, table)
    else:
        ax1, ax2 = fig.subplots(2, 1, sharex=True)
    ax1.plot(g.index, g["avg_cost"], marker=".", label="average cost")
    ax1.set_ylabel("average cost C")
    ax1b = ax1.twinx()
    ax1b.plot(g.index, g["avg_delay_s"], color="tab:orange", marker=".", label="average delay")
    ax1b.set_ylabel("average delay (s)")
    ax1.grid(alpha=0.3)
    ax2.plot(g.index, g["best_responses"], marker=".", label="best responses")
    ax2.plot(g.index, g["moves"], marker=".", label="moves")
    ax2.plot(g.index, g["active"], ls="--", label="active devices")
    if not multi:
        ax2.set_xlabel("frame")
    ax2.set_ylabel("per frame")
    ax2.legend(fontsize=8)
    ax2.grid(alpha=0.3)
    ax1.set_title(title or "simulation")
    return fig


#: the plot stacks each server's offloading devices up to this many servers (more: their total)
PLOT_SERVERS = 12


def _plot_servers(ax, table: pd.DataFrame) -> None:
    """Several servers: devices offloading to each server and all local per frame (mean over seeds)."""
    cols = _offload_columns(table)
    g = table.groupby("frame")[cols + ["local", "switched"]].mean()
    if len(cols) <= PLOT_SERVERS:
        layers, labels = [g[c] for c in cols], [f"on {c[len('offload_'):]}" for c in cols]
    else:
        layers, labels = [g[cols].sum(axis=1)], [f"offloading ({len(cols)} servers)"]
    colors = [f"C{i % 10}" for i in range(len(layers))] + ["0.85"]
    ax.stackplot(g.index, *layers, g["local"], labels=labels + ["all local"], colors=colors, alpha=0.9)
    ax.plot(g.index, g["switched"], color="black", ls="--", lw=1.2, label="switched server")
    ax.set_xlabel("frame")
    ax.set_ylabel("active devices")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(alpha=0.3)


def write(table: pd.DataFrame, out_dir: str | Path, instance: Instance, spec: SimulationSpec, *,
          fmt: str = "csv", with_plot: bool = True) -> list[Path]:
    """``OUT/frames.<fmt>``, ``OUT/simulation.json`` (spec and summary) and ``OUT/frames.png``.

    (when matplotlib is installed), inside a MANIFEST.json that says when the folder is complete.

    Parameters
    ----------
    table : pandas.DataFrame
        The per-frame table of :func:`simulate`.
    out_dir : str or pathlib.Path
        The result folder.
    instance : Instance
        The instance simulated (its name goes into ``simulation.json``).
    spec : SimulationSpec
        The simulation spec (written into ``simulation.json``).
    fmt : str, optional
        Table format (``"csv"``, ``"parquet"`` or ``"json"``).
    with_plot : bool, optional
        Also draw ``frames.png`` (skipped silently without matplotlib).

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    from mecopt.core import manifest
    from mecopt.core.tables import write_json, write_table

    out = manifest.begin(out_dir, "simulation")
    files = [write_table(table, out / "frames", fmt),
             write_json(out / "simulation.json", dict(instance=instance.name, spec=asdict(spec),
                                                      summary=summary(table)))]
    if with_plot:
        try:
            from mecopt.results.plots import save
            files.append(save(plot(table, f"{instance.name}: {spec.frames} frames, "
                                          f"{'warm' if spec.warm else 'cold'} start"), out / "frames.png"))
        except InputError:   # no matplotlib: the table is the result
            pass
    manifest.finish(out, "simulation", files)
    return files
