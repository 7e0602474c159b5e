"""Seeded generator of random instances (``mecopt generate``).

:func:`generate_instance` returns the instance document as a plain dict (the
TOML format of :mod:`mecopt.core.instance`); :func:`write_instance` writes it
atomically with ``tomli_w``. The same arguments give the same dict, hence a
byte-identical file.

What is drawn, all from one ``numpy.random.Generator(seed)`` in a fixed order:

* the DNN of every MD: the mix is apportioned to the N devices by largest
  remainders (``alexnet:0.5,lenet:0.5`` with N = 5 gives 3 + 2; ties go to the
  DNN listed first), then the order is shuffled;
* per MD, uniformly in the given ranges: bandwidth W_n, channel gain G_n,
  delta_n (cycles per bit) and deadline tau_n (a range ``LO:HI`` with LO = HI is
  a constant); values are rounded to 6 significant digits so the file stays
  readable;
* the weights alpha/beta/gamma when ``weights="random"``: uniform on the
  simplex (Dirichlet(1, 1, 1)), on a grid of 1e-4 with every weight >= 1e-4
  (gamma_n > 0 keeps the potential of docs/MODEL.md §6 defined).

With ``servers`` = K (several edge servers, docs/multiserver.md "Generating multi-server
instances"), the instance has K ``[[servers]]`` with positions in a square of side
``area_m`` (``server_layout``: ``grid``, the centres of a ceil(sqrt K)-column grid, or
``random``, uniform), devices with positions (``device_layout``: ``uniform`` in the square,
or ``clustered``: Gaussian clusters of spread ``cluster_std_m`` around ``hotspots`` uniform
hotspots, clipped to the square), each device reaching its ``reach`` nearest servers
(nearest first; ties to the lower index), a ``[channel]`` path-loss model (``pathloss``) and
the physical noise density ``noise_w_per_hz`` (-174 dBm/Hz): G_{n,k} is the path loss
between the positions and ``gain`` is not drawn. The geometry comes from a second stream,
``numpy.random.default_rng([seed, 1])``, so the per-device draws keep their order.
Without ``servers`` the document is exactly the single-server one.

``units`` (:data:`UNITS`) sets the scale: ``si`` (the default) writes MHz bandwidths, a
3.4 GHz server (the i5 of the bundled server delay set, eq. 7) with a price scale that keeps
the paper's prices, 32-bit tensor elements and physical noise and gain; ``paper`` writes the
paper's Fig. 4 scale (kHz, 3,400 cycles/s, 1 bit per element), byte for byte what the
generator wrote before units existed. :func:`write_instance` names DNN spec files relative
to the file it writes.

Everything else is the paper preset (Fig. 4 and docs/MODEL.md §7). The result is
validated with :func:`mecopt.core.instance.instance_from_dict` before it is returned,
so a generated file always loads (a hard deadline no MD can meet is reported as
an :class:`~mecopt.core.errors.InputError` suggesting ``deadline_policy="relax"``).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tomli_w

from mecopt.core import dnn
from mecopt.core.errors import InputError
from mecopt.core.instance import PAPER_DEVICE, instance_from_dict
from mecopt.core.tables import write_text

#: paper-preset weights (Fig. 5) used when ``weights`` is not given
DEFAULT_WEIGHTS = (0.42, 0.17, 0.41)
DEFAULT_DELTA = (2000.0, 2500.0)
DEFAULT_DEADLINE_S = (5.0, 5.0)
#: several servers: side of the square (m), servers reached per device, path loss, noise (W/Hz)
DEFAULT_SITE_SPACING_M = 500.0     # default side L = this x sqrt(K): one server per (500 m)^2
DEFAULT_REACH = 3
DEFAULT_PATHLOSS = "3gpp-umi"
PHYSICAL_NOISE_W_PER_HZ = 3.98e-21   # -174 dBm/Hz (mecopt.core.pathloss.THERMAL_NOISE_W_PER_HZ, 3 digits)
SERVER_LAYOUTS = ("grid", "random")
DEVICE_LAYOUTS = ("uniform", "clustered")


@dataclass(frozen=True)
class Units:
    """The unit system a generated instance is written in (``units``).

    Attributes
    ----------
    bandwidth_hz : float
        Hz per unit of the bandwidth range (1e3: kHz, 1e6: MHz).
    bandwidth : tuple of float
        Default range of W_n, in that unit.
    freq_cycles_per_s : float
        f_s of every server.
    price_scale : float
        Divisor of the price units S (20): kept at f_s / 3400 x 1e6 so prices equal the paper's.
    bits_per_element : float
        Bits of one tensor element.
    noise_w_per_hz : float
        N0 of every device with one server (several servers: ``noise_w_per_hz``, physical by default).
    gain : tuple of float
        Default range of the channel gain G_n with one server (linear).
    """

    bandwidth_hz: float
    bandwidth: tuple[float, float]
    freq_cycles_per_s: float
    price_scale: float
    bits_per_element: float
    noise_w_per_hz: float
    gain: tuple[float, float]

    @property
    def bandwidth_name(self) -> str:
        """The unit of the bandwidth range, ``kHz`` or ``MHz``."""
        return "kHz" if self.bandwidth_hz == 1e3 else "MHz"


#: the unit systems of ``generate`` (docs/results.md "Generated instances: units"):
#: ``paper``, Gao et al.'s Fig. 4 (W in kHz, f_s = 3,400 cycles/s, 1 bit per element, N0 = 1e-9 W/Hz, G = 1.2e6);
#: ``si``, physical units that match the bundled delay sets (eq. 7's server is a 3.4 GHz i5): W in MHz,
#: f_s = 3.4 GHz (price_scale 1e12 keeps the paper's prices), 32-bit elements, N0 = -174 dBm/Hz and
#: G_n = 1e-9 (90 dB path loss, about 100 m in 3GPP UMi); a constant default gain draws nothing, so a
#: multi-server file keeps the per-device draws of the single-server file of the same seed
UNITS = {
    "paper": Units(1e3, (1.0, 2.0), 3400.0, 1e6, 1.0, 1e-9, (1.2e6, 1.2e6)),
    "si": Units(1e6, (1.0, 2.0), 3.4e9, 1e12, 32.0, 3.98e-21, (1e-9, 1e-9)),
}
#: the default unit system: a new scenario is physical; ``units="paper"`` reproduces the paper's scale
DEFAULT_UNITS = "si"
_WEIGHT_GRID = 10_000  # weights on a 1e-4 grid


def parse_range(text: str | float | tuple, what: str) -> tuple[float, float]:
    """``"LO:HI"``, ``"X"`` (constant), a number or a pair -> ``(lo, hi)`` with 0 < lo <= hi.

    Parameters
    ----------
    text : str or float or tuple
        The range.
    what : str
        What it is (for messages).

    Returns
    -------
    tuple[float, float]
        (low, high).

    Raises
    ------
    InputError
        When the text is not a range.
    """
    if isinstance(text, (tuple, list)):
        parts = list(text)
    elif isinstance(text, (int, float)):
        parts = [text]
    else:
        parts = str(text).split(":")
    try:
        vals = [float(p) for p in parts]
    except ValueError:
        raise InputError(f"The '{what}' parameter must be LO:HI or a single number. Got {text!r} instead.") from None
    if len(vals) == 1:
        vals = vals * 2
    if len(vals) != 2 or not all(np.isfinite(vals)) or not 0 < vals[0] <= vals[1]:
        raise InputError(f"The '{what}' parameter must be LO:HI with 0 < LO <= HI (finite). Got {text!r} instead.")
    return vals[0], vals[1]


def parse_mix(text: str | dict) -> dict[str, float]:
    """``"alexnet:0.5,lenet:0.5"`` (a bare name has weight 1) -> normalized ``{dnn: share}``.

    Parameters
    ----------
    text : str or dict
        The mix.

    Returns
    -------
    dict[str, float]
        DNN name -> share (summing to 1).

    Raises
    ------
    InputError
        When the mix is not valid.
    """
    if isinstance(text, dict):
        items = list(text.items())
    else:
        items = []
        for part in str(text).split(","):
            part = part.strip()
            if not part:
                continue
            if ":" in part:
                name, _, share = part.rpartition(":")
            else:
                name, share = part, "1"
            items.append((name.strip(), share.strip()))
    problems = []
    mix: dict[str, float] = {}
    for name, share in items:
        try:
            w = float(share)
        except (TypeError, ValueError):
            problems.append(("dnn_mix", f"share of {name!r} must be a number, got {share!r}"))
            continue
        if not np.isfinite(w) or w < 0:
            problems.append(("dnn_mix", f"share of {name!r} must be >= 0, got {share!r}"))
            continue
        if not name:
            problems.append(("dnn_mix", f"empty DNN name in {text!r}"))
            continue
        try:
            dnn.resolve_path(name)
        except InputError as err:
            problems.append(("dnn_mix", str(err)))
            continue
        mix[name] = mix.get(name, 0.0) + w
    if not problems and (not mix or sum(mix.values()) <= 0):
        problems.append(("dnn_mix", f"needs at least one DNN with a positive share, got {text!r}"))
    if problems:
        raise InputError("The 'dnn_mix' parameter is invalid (expected NAME:SHARE,NAME:SHARE,...)", problems)
    total = sum(mix.values())
    return {k: v / total for k, v in mix.items() if v > 0}


def parse_weights(text: str | tuple | None) -> tuple[float, float, float] | str:
    """``"ALPHA,BETA,GAMMA"`` (summing to 1), ``"random"`` or None (paper preset).

    Parameters
    ----------
    text : str or tuple or None
        The weights, or None.

    Returns
    -------
    tuple[float, float, float] or str
        (alpha, beta, gamma), or the text naming a policy.

    Raises
    ------
    InputError
        When the weights are not valid.
    """
    if text is None:
        return DEFAULT_WEIGHTS
    if isinstance(text, str) and text.strip().lower() == "random":
        return "random"
    parts = text.split(",") if isinstance(text, str) else list(text)
    try:
        w = tuple(float(p) for p in parts)
    except ValueError:
        w = ()
    if len(w) != 3 or any((not np.isfinite(x)) or x < 0 for x in w) or abs(sum(w) - 1.0) > 1e-6:
        raise InputError("The 'weights' parameter must be 'random' or ALPHA,BETA,GAMMA, three numbers >= 0 "
                         f"summing to 1. Got {text!r} instead.")
    return w  # type: ignore[return-value]


def apportion(mix: dict[str, float], n: int) -> list[str]:
    """Largest-remainder apportionment of ``n`` devices to the mix (ties: first listed).

    Parameters
    ----------
    mix : dict[str, float]
        DNN name -> share.
    n : int
        Number of devices.

    Returns
    -------
    list[str]
        One DNN name per device.
    """
    names = list(mix)
    quota = np.array([mix[k] * n for k in names])
    counts = np.floor(quota).astype(int)
    rest = n - int(counts.sum())
    order = sorted(range(len(names)), key=lambda i: (-(quota[i] - counts[i]), i))
    for i in order[:rest]:
        counts[i] += 1
    return [name for name, c in zip(names, counts) for _ in range(c)]


def _simplex_weights(rng: np.random.Generator) -> tuple[float, float, float]:
    w = rng.dirichlet(np.ones(3))
    units = np.floor(w * (_WEIGHT_GRID - 3)).astype(int) + 1
    units[int(np.argmax(w))] += _WEIGHT_GRID - int(units.sum())
    a, b = units[0] / _WEIGHT_GRID, units[1] / _WEIGHT_GRID
    return float(a), float(b), float(round(1.0 - a - b, 4))


def _draw(rng: np.random.Generator, lo_hi: tuple[float, float]) -> float:
    lo, hi = lo_hi
    x = lo if lo == hi else float(rng.uniform(lo, hi))
    return float(f"{x:.6g}")


def _dnn_entry(name: str) -> str:
    """Catalog names stay names; spec files are absolute paths (:func:`write_instance` makes them relative)."""
    p = Path(name)
    return str(dnn.resolve_path(name).resolve()) if p.suffix == ".toml" else name


def relative_paths(data: dict, folder: str | Path) -> dict:
    """``data`` with every DNN spec path (``devices.*.dnn``, ``device_defaults.dnn``) relative to ``folder``.

    A generated instance that uses an imported model (an ONNX file made into a spec by
    ``mecopt import``, or any ``.toml`` spec) then names it relative to the instance file,
    so the instance and its models can move together. A path on another drive stays absolute.

    Parameters
    ----------
    data : dict
        An instance document (not changed).
    folder : str or Path
        The folder of the instance file.

    Returns
    -------
    dict
        A copy with the paths made relative.
    """
    import copy
    import os

    out = copy.deepcopy(data)
    base = Path(folder).resolve()
    entries = list(out.get("devices") or []) + [out.get("device_defaults") or {}]
    for entry in entries:
        name = entry.get("dnn") if isinstance(entry, dict) else None
        if isinstance(name, str) and Path(name).suffix == ".toml" and Path(name).is_absolute():
            try:
                entry["dnn"] = Path(os.path.relpath(name, base)).as_posix()
            except ValueError:          # another drive (Windows): no relative path exists
                pass
    return out


def generate_instance(n_devices: int, dnn_mix: str | dict = "alexnet", seed: int = 0, *,
                      units: str = DEFAULT_UNITS, bandwidth_khz: str | tuple | None = None,
                      bandwidth_mhz: str | tuple | None = None, gain: str | tuple | None = None,
                      delta: str | tuple = DEFAULT_DELTA, deadline_s: str | tuple = DEFAULT_DEADLINE_S,
                      weights: str | tuple | None = None, slots: int = 5, capacity_mode: str = "per_device",
                      deadline_policy: str = "hard", name: str | None = None, validate: bool = True,
                      servers: int | None = None, area_m: float | None = None, server_layout: str | None = None,
                      device_layout: str | None = None, hotspots: int | None = None,
                      cluster_std_m: float | None = None, reach: int | None = None,
                      pathloss: str | None = None, noise_w_per_hz: float | None = None) -> dict:
    """A random instance document (dict in the instance-file format), drawn from ``seed``.

    Parameters
    ----------
    n_devices : int
        Number of MDs N.
    dnn_mix : str or dict
        ``NAME:SHARE,...``; apportioned by largest remainders, then shuffled.
    seed : int
        Seed of every draw (written as the instance's seed).
    units : {"si", "paper"}, default "si"
        The unit system (:data:`UNITS`): ``si`` writes MHz bandwidths, f_s = 3.4 GHz (the
        server of the bundled delay set, eq. 7), 32-bit tensor elements and physical noise and
        gains; ``paper`` the scale of the paper's Fig. 4 (kHz, 3,400 cycles/s, 1 bit per element).
    bandwidth_khz, bandwidth_mhz : str or tuple, optional
        Range ``LO:HI`` of W_n in kHz or in MHz (at most one of them; default 1:2 in the unit of
        ``units``).
    gain, delta, deadline_s : str or tuple
        Ranges ``LO:HI`` of G_n (linear; one server only; default 1.2e6 with paper units,
        1e-9 with SI units), delta_n and tau_n (s).
    weights : str or tuple, optional
        ``ALPHA,BETA,GAMMA``, ``"random"`` or None (the paper's .42, .17, .41).
    slots, capacity_mode, deadline_policy, name
        H (of every server), (17)'s mode, (26)'s policy, the instance name.
    validate : bool
        Load the document before returning it (:class:`GeneratedInstanceError` if it does not).
    servers : int, optional
        K >= 1 edge servers placed in the plane (``[[servers]]``); None: the paper's one
        ``[server]`` and no geometry (the file is exactly what it was before servers existed).
    area_m : float, optional
        Side L of the square [0, L]^2 holding servers and devices, metres (default
        500 sqrt(K): one server per 500 m x 500 m, 1,000 m for K = 4).
    server_layout : {"grid", "random"}, optional
        Default grid. Servers at the cell centres of a grid of ceil(sqrt K) columns (row-major, the first K
        cells), or uniform in the square.
    device_layout : {"uniform", "clustered"}, optional
        Default uniform. Devices uniform in the square, or around ``hotspots`` uniform hotspots (each device
        picks one uniformly) with a Gaussian offset of standard deviation ``cluster_std_m``
        per axis, clipped to the square.
    hotspots, cluster_std_m : optional
        Clustered layout: number of hotspots (default K) and spread (default L / 20).
    reach : int, optional
        R: each device lists its R nearest servers in ``servers`` (default 3, capped at K).
    pathloss : {"3gpp-umi", "log-distance"}, optional
        Default 3gpp-umi. ``[channel] model``: G_{n,k} = 10^(-PL(d_{n,k}) / 10) (:mod:`mecopt.core.pathloss`).
    noise_w_per_hz : float, optional
        N0 of every device (default 3.98e-21 W/Hz = -174 dBm/Hz; path-loss gains are physical).
        The geometry options (``area_m`` to ``noise_w_per_hz``) are only accepted with ``servers``
        (an InputError names them otherwise).

    Returns
    -------
    dict
        The instance document; the same arguments give the same dict.
    """
    problems = []
    if units not in UNITS:
        raise InputError(f"The 'units' parameter must be one of {', '.join(UNITS)}. Got {units!r} instead.")
    unit = UNITS[units]
    if bandwidth_khz is not None and bandwidth_mhz is not None:
        problems.append(("bandwidth_khz, bandwidth_mhz", "give the bandwidth range in one unit only"))
    bandwidth_hz, bandwidth_name, bandwidth = unit.bandwidth_hz, unit.bandwidth_name, unit.bandwidth
    if bandwidth_khz is not None:
        bandwidth_hz, bandwidth_name, bandwidth = 1e3, "kHz", bandwidth_khz
    elif bandwidth_mhz is not None:
        bandwidth_hz, bandwidth_name, bandwidth = 1e6, "MHz", bandwidth_mhz
    bandwidth_key = f"bandwidth_{bandwidth_name.lower()}"
    if not isinstance(n_devices, (int, np.integer)) or isinstance(n_devices, bool) or n_devices < 1:
        problems.append(("devices", f"must be an integer >= 1, got {n_devices!r}"))
    if not isinstance(slots, (int, np.integer)) or isinstance(slots, bool) or slots < 1:
        problems.append(("slots", f"must be an integer >= 1, got {slots!r}"))
    if capacity_mode not in ("per_device", "total"):
        problems.append(("capacity_mode", f"must be 'per_device' or 'total', got {capacity_mode!r}"))
    if deadline_policy not in ("hard", "relax", "soft"):
        problems.append(("deadline_policy", f"must be 'hard', 'relax' or 'soft', got {deadline_policy!r}"))
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        problems.append(("seed", f"must be an integer >= 0, got {seed!r}"))
    parsed = {}
    for key, value, parser in (("dnn_mix", dnn_mix, parse_mix), ("weights", weights, parse_weights),
                               ("bandwidth", bandwidth, lambda v: parse_range(v, bandwidth_key)),
                               ("gain", gain or unit.gain, lambda v: parse_range(v, "gain")),
                               ("delta", delta, lambda v: parse_range(v, "delta")),
                               ("deadline_s", deadline_s, lambda v: parse_range(v, "deadline_s"))):
        try:
            parsed[key] = parser(value)
        except InputError as err:
            problems.extend(err.problems or [(key, str(err))])
    placed = servers is not None   # [[servers]] placed in an area, gains by path loss (else [server], drawn gains)
    geometry = dict(area_m=area_m, server_layout=server_layout, device_layout=device_layout, hotspots=hotspots,
                    cluster_std_m=cluster_std_m, reach=reach, pathloss=pathloss, noise_w_per_hz=noise_w_per_hz)
    if not placed:
        problems += [(k, "is only used with several servers (give servers = K)") for k, v in geometry.items()
                     if v is not None]
    else:
        if gain is not None:
            problems.append(("gain", "is not used with several servers: G_{n,k} comes from the path loss"))
        server_layout = server_layout or "grid"
        device_layout = device_layout or "uniform"
        reach = DEFAULT_REACH if reach is None else reach
        pathloss = pathloss or DEFAULT_PATHLOSS
        noise_w_per_hz = PHYSICAL_NOISE_W_PER_HZ if noise_w_per_hz is None else noise_w_per_hz
        if device_layout != "clustered":
            problems += [(k, "is only used with device_layout = 'clustered'") for k, v in
                         (("hotspots", hotspots), ("cluster_std_m", cluster_std_m)) if v is not None]
        problems += _geometry_problems(servers, area_m, server_layout, device_layout, hotspots, cluster_std_m,
                                       reach, pathloss, noise_w_per_hz)
    if problems:
        raise InputError("invalid generator options", problems)

    n, seed = int(n_devices), int(seed)
    rng = np.random.default_rng(seed)
    kinds = apportion(parsed["dnn_mix"], n)
    kinds = [kinds[i] for i in rng.permutation(n)]
    devices = []
    for i, kind in enumerate(kinds):
        w = parsed["weights"]
        bw = _draw(rng, parsed["bandwidth"]) * bandwidth_hz
        g = None if placed else _draw(rng, parsed["gain"])   # several servers: the path loss gives G_{n,k}
        dl = _draw(rng, parsed["delta"])
        tau = _draw(rng, parsed["deadline_s"])
        a, b, c = _simplex_weights(rng) if w == "random" else w
        entry = {"name": f"md{i + 1}", "dnn": _dnn_entry(kind), "bandwidth_hz": float(f"{bw:.6g}"),
                 "channel_gain": g, "delta_cycles_per_bit": dl, "deadline_s": tau,
                 "alpha": float(a), "beta": float(b), "gamma": float(c)}
        if placed:
            del entry["channel_gain"]
        devices.append(entry)

    mix_text = ",".join(f"{k}:{v:.6g}" for k, v in parsed["dnn_mix"].items())
    wtext = parsed["weights"] if parsed["weights"] == "random" else ",".join(f"{x:g}" for x in parsed["weights"])
    data = {
        "name": name or f"gen-n{n}-s{seed}",
        "description": (f"mecopt generate: {n} MDs, dnn mix {mix_text}, seed {seed}, weights {wtext}, "
                        f"bandwidth {_fmt_range(parsed['bandwidth'])} {bandwidth_name}, "
                        + ("" if placed else f"gain {_fmt_range(parsed['gain'])}, ") +
                        f"delta {_fmt_range(parsed['delta'])}, deadline {_fmt_range(parsed['deadline_s'])} s"
                        + ("" if units == "paper" else f"; {units} units (f_s {unit.freq_cycles_per_s:g} cycles/s, "
                                                       f"{unit.bits_per_element:g} bits per element)")),
        "seed": seed,
        "model": {"bits_per_element": unit.bits_per_element, "price_scale": unit.price_scale,
                  "capacity_mode": capacity_mode, "deadline_policy": deadline_policy},
        "server": {"slots": int(slots), "frame_s": 0.75, "parallel_limit": 4,
                   "freq_cycles_per_s": unit.freq_cycles_per_s, "price_base": 1.0, "price_growth": 2.0,
                   "tx_power_w": 4.0},
        "topology": {"kind": "complete", "weights": "metropolis"},
        "device_defaults": {**{k: PAPER_DEVICE[k] for k in ("cost_delay_per_s", "cost_energy_per_j",
                                                             "upload_power_w", "compute_power_w")},
                            "noise_w_per_hz": unit.noise_w_per_hz},
        "devices": devices,
    }
    if placed:
        area_m = default_area(int(servers)) if area_m is None else float(area_m)
        geo = place(n, int(servers), np.random.default_rng([seed, 1]), area_m=area_m,
                    server_layout=server_layout, device_layout=device_layout, hotspots=hotspots,
                    cluster_std_m=cluster_std_m, reach=int(reach))
        K = int(servers)
        server = data.pop("server")
        data["servers"] = [{"name": f"s{k + 1}", "position": list(geo.servers[k]), **server} for k in range(K)]
        data["channel"] = {"model": pathloss}
        data["device_defaults"]["noise_w_per_hz"] = float(noise_w_per_hz)
        for entry, pos, near in zip(devices, geo.devices, geo.reach):
            entry["position"] = list(pos)
            entry["servers"] = [f"s{k + 1}" for k in near]
        # keep the key order of a hand-written file: [[servers]] and [channel] where [server] was
        order = ["name", "description", "seed", "model", "servers", "channel", "topology", "device_defaults",
                 "devices"]
        data = {k: data[k] for k in order}
        data["name"] = name or f"gen-n{n}-k{K}-s{seed}"
        data["description"] += (f"; {K} servers ({server_layout}) in {float(area_m):g} m x {float(area_m):g} m, "
                                 f"devices {device_layout}"
                                 + (f" ({geo.hotspots} hotspots, spread {geo.spread:g} m)"
                                    if device_layout == "clustered" else "")
                                 + f", reach {geo.R} nearest, path loss {pathloss}, N0 {float(noise_w_per_hz):g} W/Hz")
    if validate:
        try:
            instance_from_dict(data, source_path="<generated>")
        except InputError as err:
            problems = [(path, msg.split(" (set model.deadline_policy")[0]) for path, msg in err.problems]
            raise GeneratedInstanceError(
                "the generated instance does not load (a DNN that cannot meet its deadline needs "
                "deadline_policy=\"relax\", or a longer deadline_s)", problems or [("", str(err))]) from None
    return data


@dataclass(frozen=True)
class Geometry:
    """Positions (metres, rounded to 0.1 m) and each device's R nearest servers (nearest first).

    Attributes
    ----------
    servers : list[tuple[float, float]]
        Server positions in metres.
    devices : list[tuple[float, float]]
        Device positions in metres.
    reach : list[tuple[int, ...]]
        Per device, the servers it reaches.
    R : int
        Servers each device reaches.
    hotspots : int
        Number of hotspots of a clustered layout.
    spread : float
        Standard deviation of a hotspot's devices in metres.
    """

    servers: list[tuple[float, float]]
    devices: list[tuple[float, float]]
    reach: list[tuple[int, ...]]
    R: int
    hotspots: int
    spread: float


def default_area(K: int) -> float:
    """The default side L of the square: 500 m x sqrt(K), rounded to the metre.

    Parameters
    ----------
    K : int
        Number of servers.

    Returns
    -------
    float
        The side in metres.
    """
    return float(round(DEFAULT_SITE_SPACING_M * math.sqrt(K)))


def place(n: int, K: int, rng: np.random.Generator, *, area_m: float = 1000.0, server_layout: str = "grid",
          device_layout: str = "uniform", hotspots: int | None = None, cluster_std_m: float | None = None,
          reach: int = DEFAULT_REACH) -> Geometry:
    """Servers and devices in the square [0, area_m]^2 and each device's ``reach`` nearest servers.

    Draws, in this order, from ``rng``: the server positions (``random`` layout only), the
    hotspots (``clustered`` only), then the devices (uniform: x, y per device; clustered: every
    device's hotspot, then every offset). Distances are taken between the rounded positions
    written to the file, so the nearest servers are those a reader of the file finds.

    Parameters
    ----------
    n : int
        Number of devices.
    K : int
        Number of servers.
    rng : numpy.random.Generator
        The random stream drawn from.
    area_m : float, optional
        Side of the square [m].
    server_layout : str, optional
        ``"grid"`` (cell centres of a near-square grid, no draws) or ``"random"`` (uniform).
    device_layout : str, optional
        ``"uniform"`` or ``"clustered"`` (normal offsets around hotspots, clipped to the square).
    hotspots : int or None, optional
        Hotspots of the clustered layout; default ``K``.
    cluster_std_m : float or None, optional
        Standard deviation [m] of a device's offset from its hotspot; default ``area_m / 20``.
    reach : int, optional
        Servers each device reaches (at most ``K``).

    Returns
    -------
    Geometry
        Server and device positions (rounded to 0.1 m) and each device's nearest servers, nearest first.
    """
    L = float(area_m)
    if server_layout == "grid":
        cols = math.ceil(math.sqrt(K))
        rows = math.ceil(K / cols)
        cells = [((c + 0.5) * L / cols, (r + 0.5) * L / rows) for r in range(rows) for c in range(cols)]
        srv = np.array(cells[:K])
    else:
        srv = rng.uniform(0.0, L, size=(K, 2))
    n_hot = int(hotspots) if hotspots is not None else K
    spread = float(cluster_std_m) if cluster_std_m is not None else L / 20.0
    if device_layout == "clustered":
        hot = rng.uniform(0.0, L, size=(n_hot, 2))
        pick = rng.integers(0, n_hot, size=n)
        dev = np.clip(hot[pick] + rng.normal(0.0, spread, size=(n, 2)), 0.0, L)
    else:
        dev = rng.uniform(0.0, L, size=(n, 2))
    srv, dev = np.round(srv, 1), np.round(dev, 1)
    R = min(int(reach), K)
    near = np.empty((n, R), dtype=int)
    for a in range(0, n, 4096):                                      # (block, K) distances at a time
        b = min(a + 4096, n)
        d2 = (dev[a:b, None, 0] - srv[None, :, 0]) ** 2 + (dev[a:b, None, 1] - srv[None, :, 1]) ** 2
        near[a:b] = np.argsort(d2, axis=1, kind="stable")[:, :R]
    return Geometry(servers=[(float(x), float(y)) for x, y in srv], devices=[(float(x), float(y)) for x, y in dev],
                    reach=[tuple(int(k) for k in row) for row in near], R=R, hotspots=n_hot, spread=spread)


def _geometry_problems(servers, area_m, server_layout, device_layout, hotspots, cluster_std_m, reach, pathloss,
                       noise) -> list[tuple[str, str]]:
    from mecopt.core import limits
    from mecopt.core.pathloss import MODELS

    def is_int(v) -> bool:
        return isinstance(v, (int, np.integer)) and not isinstance(v, bool)

    def positive(v) -> bool:
        return isinstance(v, (int, float, np.number)) and not isinstance(v, bool) and math.isfinite(v) and v > 0

    out = []
    if not is_int(servers) or not 1 <= servers <= limits.MAX_SERVERS:
        out.append(("servers", f"must be an integer in 1..{limits.MAX_SERVERS}, got {servers!r}"))
    if area_m is not None and (not positive(area_m) or area_m > 1e6):
        out.append(("area_m", f"must be a number > 0 and <= 1e6 metres, got {area_m!r}"))
    if server_layout not in SERVER_LAYOUTS:
        out.append(("server_layout", f"must be one of {SERVER_LAYOUTS}, got {server_layout!r}"))
    if device_layout not in DEVICE_LAYOUTS:
        out.append(("device_layout", f"must be one of {DEVICE_LAYOUTS}, got {device_layout!r}"))
    if hotspots is not None and (not is_int(hotspots) or hotspots < 1 or hotspots > limits.MAX_DEVICES):
        out.append(("hotspots", f"must be an integer >= 1, got {hotspots!r}"))
    if cluster_std_m is not None and (not positive(cluster_std_m) or cluster_std_m > 1e6):
        out.append(("cluster_std_m", f"must be a number > 0 and <= 1e6 metres, got {cluster_std_m!r}"))
    if not is_int(reach) or reach < 1:
        out.append(("reach", f"must be an integer >= 1, got {reach!r}"))
    if pathloss not in MODELS:
        out.append(("pathloss", f"must be one of {MODELS}, got {pathloss!r}"))
    if not positive(noise) or noise > 1.0:
        out.append(("noise_w_per_hz", f"must be a number > 0 and <= 1 W/Hz, got {noise!r}"))
    return out


class GeneratedInstanceError(InputError):
    """The generated document does not load (e.g. a deadline some DNN cannot meet); ``problems`` name the devices.

    The command line rephrases the hint with its own options.

    Attributes
    ----------
    problems : list of (str, str)
        Every problem found, each as ``(field_path, message)`` (see :class:`mecopt.core.errors.InputError`).
    """


def _fmt_range(r: tuple[float, float]) -> str:
    return f"{r[0]:g}" if r[0] == r[1] else f"{r[0]:g}:{r[1]:g}"


#: a multi-line array of scalars (numbers, plain strings) as tomli_w writes it
_SCALAR_ARRAY = re.compile(r"= \[\n((?:[ ]+(?:[-+0-9.eE]+|\"[\w.-]*\"),\n)+)\]")


def dumps(data: dict) -> str:
    """The TOML text of an instance document.

    With several servers (``[[servers]]``) the short arrays (positions, server lists) are
    written on one line, ``position = [120.0, 30.0]``; a single-server document is
    tomli_w's text unchanged.

    Parameters
    ----------
    data : dict
        The instance document.

    Returns
    -------
    str
        The TOML text.
    """
    text = tomli_w.dumps(data)
    if "servers" not in data:
        return text
    return _SCALAR_ARRAY.sub(lambda m: "= [" + ", ".join(x.strip().rstrip(",") for x in
                                                          m.group(1).splitlines()) + "]", text)


def write_instance(data: dict, path: str | Path) -> Path:
    """Write an instance document as TOML (or JSON, for a ``.json`` path), atomically (temporary file, then rename).

    DNN spec paths are written relative to the file's folder (:func:`relative_paths`). JSON holds the same
    document and reads ~20x faster: the form for instances of 100,000 devices (docs/multiserver.md, *Scale*).

    Parameters
    ----------
    data : dict
        The instance document.
    path : str or Path
        The file to write (``.toml`` or ``.json``).

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    InputError
        When the document is not a valid instance.
    """
    path = Path(path)
    if path.suffix == ".json":
        return write_text(path, json.dumps(relative_paths(data, path.parent), indent=1) + "\n")
    if path.suffix != ".toml":
        raise InputError(f"The 'out' parameter must name a .toml file (or .json). Got {str(path)!r} instead.")
    return write_text(path, dumps(relative_paths(data, path.parent)))
