"""Seeded generator of random instances (``mecopt generate``).

:func:`generate_instance` returns the instance document as a plain dict (the
TOML format of :mod:`mecopt.model.instance`); :func:`write_instance` writes it
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

Everything else is the paper preset (Fig. 4 and docs/MODEL.md §7). The result is
validated with :func:`mecopt.model.instance.instance_from_dict` before it is returned,
so a generated file always loads (a hard deadline no MD can meet is reported as
an :class:`~mecopt.errors.InputError` suggesting ``deadline_policy="relax"``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tomli_w

from mecopt.model import dnn
from mecopt.errors import InputError
from mecopt.results.export import write_text
from mecopt.model.instance import PAPER_DEVICE, instance_from_dict

#: paper-preset weights (Fig. 5) used when ``weights`` is not given
DEFAULT_WEIGHTS = (0.42, 0.17, 0.41)
DEFAULT_BANDWIDTH_KHZ = (1.0, 2.0)
DEFAULT_GAIN = (1.2e6, 1.2e6)
DEFAULT_DELTA = (2000.0, 2500.0)
DEFAULT_DEADLINE_S = (5.0, 5.0)
_WEIGHT_GRID = 10_000  # weights on a 1e-4 grid


def parse_range(text: str | float | tuple, what: str) -> tuple[float, float]:
    """``"LO:HI"``, ``"X"`` (constant), a number or a pair -> ``(lo, hi)`` with 0 < lo <= hi."""
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
    """``"alexnet:0.5,lenet:0.5"`` (a bare name has weight 1) -> normalized ``{dnn: share}``."""
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
    """``"ALPHA,BETA,GAMMA"`` (summing to 1), ``"random"`` or None (paper preset)."""
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
    """Largest-remainder apportionment of ``n`` devices to the mix (ties: first listed)."""
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
    """Catalog names stay names; spec files are written as absolute paths so the file loads anywhere."""
    p = Path(name)
    return str(dnn.resolve_path(name).resolve()) if p.suffix == ".toml" else name


def generate_instance(n_devices: int, dnn_mix: str | dict = "alexnet", seed: int = 0, *,
                      bandwidth_khz: str | tuple = DEFAULT_BANDWIDTH_KHZ, gain: str | tuple = DEFAULT_GAIN,
                      delta: str | tuple = DEFAULT_DELTA, deadline_s: str | tuple = DEFAULT_DEADLINE_S,
                      weights: str | tuple | None = None, slots: int = 5, capacity_mode: str = "per_device",
                      deadline_policy: str = "hard", name: str | None = None, validate: bool = True) -> dict:
    """A random instance document (dict in the instance-file format), drawn from ``seed``."""
    problems = []
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
                               ("bandwidth_khz", bandwidth_khz, lambda v: parse_range(v, "bandwidth_khz")),
                               ("gain", gain, lambda v: parse_range(v, "gain")),
                               ("delta", delta, lambda v: parse_range(v, "delta")),
                               ("deadline_s", deadline_s, lambda v: parse_range(v, "deadline_s"))):
        try:
            parsed[key] = parser(value)
        except InputError as err:
            problems.extend(err.problems or [(key, str(err))])
    if problems:
        raise InputError("invalid generator options", problems)

    n, seed = int(n_devices), int(seed)
    rng = np.random.default_rng(seed)
    kinds = apportion(parsed["dnn_mix"], n)
    kinds = [kinds[i] for i in rng.permutation(n)]
    devices = []
    for i, kind in enumerate(kinds):
        w = parsed["weights"]
        bw = _draw(rng, parsed["bandwidth_khz"]) * 1000.0
        g = _draw(rng, parsed["gain"])
        dl = _draw(rng, parsed["delta"])
        tau = _draw(rng, parsed["deadline_s"])
        a, b, c = _simplex_weights(rng) if w == "random" else w
        devices.append({"name": f"md{i + 1}", "dnn": _dnn_entry(kind), "bandwidth_hz": float(f"{bw:.6g}"),
                        "channel_gain": g, "delta_cycles_per_bit": dl, "deadline_s": tau,
                        "alpha": float(a), "beta": float(b), "gamma": float(c)})

    mix_text = ",".join(f"{k}:{v:.6g}" for k, v in parsed["dnn_mix"].items())
    wtext = parsed["weights"] if parsed["weights"] == "random" else ",".join(f"{x:g}" for x in parsed["weights"])
    data = {
        "name": name or f"gen-n{n}-s{seed}",
        "description": (f"mecopt generate: {n} MDs, dnn mix {mix_text}, seed {seed}, weights {wtext}, "
                        f"bandwidth {_fmt_range(parsed['bandwidth_khz'])} kHz, gain {_fmt_range(parsed['gain'])}, "
                        f"delta {_fmt_range(parsed['delta'])}, deadline {_fmt_range(parsed['deadline_s'])} s"),
        "seed": seed,
        "model": {"bits_per_element": 1.0, "price_scale": 1e6, "capacity_mode": capacity_mode,
                  "deadline_policy": deadline_policy},
        "server": {"slots": int(slots), "frame_s": 0.75, "parallel_limit": 4, "freq_cycles_per_s": 3400.0,
                   "price_base": 1.0, "price_growth": 2.0, "tx_power_w": 4.0},
        "topology": {"kind": "complete", "weights": "metropolis"},
        "device_defaults": {k: PAPER_DEVICE[k] for k in ("cost_delay_per_s", "cost_energy_per_j", "upload_power_w",
                                                         "compute_power_w", "noise_w_per_hz")},
        "devices": devices,
    }
    if validate:
        try:
            instance_from_dict(data, source_path="<generated>")
        except InputError as err:
            problems = [(path, msg.split(" (set model.deadline_policy")[0]) for path, msg in err.problems]
            raise GeneratedInstanceError(
                "the generated instance does not load (a DNN that cannot meet its deadline needs "
                "deadline_policy=\"relax\", or a longer deadline_s)", problems or [("", str(err))]) from None
    return data


class GeneratedInstanceError(InputError):
    """The generated document does not load (e.g. a deadline some DNN cannot meet); ``problems``
    name the devices. The command line rephrases the hint with its own options."""


def _fmt_range(r: tuple[float, float]) -> str:
    return f"{r[0]:g}" if r[0] == r[1] else f"{r[0]:g}:{r[1]:g}"


def dumps(data: dict) -> str:
    """The TOML text of an instance document."""
    return tomli_w.dumps(data)


def write_instance(data: dict, path: str | Path) -> Path:
    """Write an instance document as TOML, atomically (temporary file, then rename)."""
    path = Path(path)
    if path.suffix != ".toml":
        raise InputError(f"The 'out' parameter must name a .toml file. Got {str(path)!r} instead.")
    return write_text(path, dumps(data))
