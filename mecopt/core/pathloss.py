"""Path loss between a device and a server placed in the plane: the channel gain G_{n,k} of (9), (11).

Used when an instance places its servers (``[[servers]] position``) and devices
(``position``) and a device gives no ``channel_gain`` of its own (docs/multiserver.md).
Two models, chosen by ``[channel] model``; the result is a linear power gain

    G = 10 ** ((antenna_gain_db - PL(d)) / 10),   d = max(distance, min_distance_m).

``log-distance``: PL(d) = ref_loss_db + 10 exponent log10(d / ref_distance_m).
The defaults (38.46 dB at 1 m, the free-space loss at 2 GHz; exponent 3) are a
common urban macro-cell setting.

``3gpp-umi``: 3GPP TR 38.901 Table 7.4.1-1, UMi street canyon, with the 3D distance
from the base-station and device heights (10 m and 1.5 m by default):

- LOS, d_2D <= d'_BP:  32.4 + 21 log10(d_3D) + 20 log10(f_c)
- LOS, beyond:         32.4 + 40 log10(d_3D) + 20 log10(f_c) - 9.5 log10(d'_BP^2 + (h_BS - h_UT)^2)
- NLOS: max(PL_LOS, 35.3 log10(d_3D) + 22.4 + 21.3 log10(f_c) - 0.3 (h_UT - 1.5))

with d'_BP = 4 (h_BS - 1)(h_UT - 1) f_c / c and f_c in GHz. Shadow fading is not drawn
(a deterministic gain; ``mecopt simulate`` adds fading per frame).

Physical path-loss gains go with the physical noise density (-174 dBm/Hz = 3.98e-21 W/Hz),
not the paper's 1e-9 W/Hz: ``mecopt generate --servers`` writes both.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

SPEED_OF_LIGHT = 299_792_458.0
MODELS = ("log-distance", "3gpp-umi")
#: thermal noise density at 290 K, -174 dBm/Hz, in W/Hz
THERMAL_NOISE_W_PER_HZ = 10 ** ((-174 - 30) / 10)


def path_loss_db(distance_m: ArrayLike, *, model: str = "log-distance", ref_loss_db: float = 38.46,
                 ref_distance_m: float = 1.0, exponent: float = 3.0, carrier_ghz: float = 3.5, los: bool = False,
                 bs_height_m: float = 10.0, ut_height_m: float = 1.5, min_distance_m: float = 1.0) -> Any:
    """Path loss in dB at ``distance_m`` (a number or an array) by ``model`` (see the module docstring).

    Parameters
    ----------
    distance_m : array_like
        Distance in metres (a number or an array).
    model : str, default 'log-distance'
        The path-loss model (see the module docstring).
    ref_loss_db : float, default 38.46
        Loss at the reference distance (log-distance model).
    ref_distance_m : float, default 1.0
        Reference distance in metres (log-distance model).
    exponent : float, default 3.0
        Path-loss exponent (log-distance model).
    carrier_ghz : float, default 3.5
        Carrier frequency in GHz (3GPP models).
    los : bool, default False
        Line of sight (3GPP models).
    bs_height_m : float, default 10.0
        Base-station height in metres (3GPP models).
    ut_height_m : float, default 1.5
        Device height in metres (3GPP models).
    min_distance_m : float, default 1.0
        Distances below this are raised to it.

    Returns
    -------
    float or numpy.ndarray
        Path loss in dB, shaped as ``distance_m``.

    Raises
    ------
    ValueError
        For an unknown ``model``.
    """
    d = np.maximum(np.asarray(distance_m, dtype=float), min_distance_m)
    if model == "log-distance":
        return ref_loss_db + 10.0 * exponent * np.log10(d / ref_distance_m)
    if model != "3gpp-umi":
        raise ValueError(f"unknown path-loss model {model!r}; expected one of {MODELS}")
    fc = carrier_ghz
    d3 = np.sqrt(d ** 2 + (bs_height_m - ut_height_m) ** 2)
    bp = 4.0 * max(bs_height_m - 1.0, 0.0) * max(ut_height_m - 1.0, 0.0) * fc * 1e9 / SPEED_OF_LIGHT
    near = 32.4 + 21.0 * np.log10(d3) + 20.0 * math.log10(fc)
    far = (32.4 + 40.0 * np.log10(d3) + 20.0 * math.log10(fc)
           - 9.5 * math.log10(bp ** 2 + (bs_height_m - ut_height_m) ** 2)) if bp > 0 else near
    pl_los = np.where(d <= bp, near, far) if bp > 0 else near
    if los:
        return pl_los
    nlos = 35.3 * np.log10(d3) + 22.4 + 21.3 * math.log10(fc) - 0.3 * (ut_height_m - 1.5)
    return np.maximum(pl_los, nlos)


def gain(distance_m: ArrayLike, *, antenna_gain_db: float = 0.0, **model: Any) -> Any:
    """Linear power gain 10^((antenna_gain_db - PL) / 10) at ``distance_m``.

    Parameters
    ----------
    distance_m : array_like
        Distance in metres (a number or an array).
    antenna_gain_db : float, default 0.0
        Antenna gains in dB.
    **model
        The options of :func:`path_loss_db`.

    Returns
    -------
    float or numpy.ndarray
        The linear power gain G, shaped as ``distance_m``.
    """
    g = 10.0 ** ((antenna_gain_db - path_loss_db(distance_m, **model)) / 10.0)
    return float(g) if np.ndim(g) == 0 else g


def distance(a: Sequence[float], b: Sequence[float]) -> float:
    """Euclidean distance between two points (x, y) in metres.

    Parameters
    ----------
    a : Sequence[float]
        Point (x, y) in metres.
    b : Sequence[float]
        Point (x, y) in metres.

    Returns
    -------
    float
        The distance in metres.
    """
    return float(math.hypot(a[0] - b[0], a[1] - b[1]))
