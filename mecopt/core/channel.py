"""Links (eqs. 8-11): Shannon rates and transfer times.

All quantities in SI units: bandwidth in Hz, powers in W, noise power spectral
density N0 in W/Hz (the paper's -30 dBm/kHz is 1e-9 W/Hz), gain G linear,
data sizes in bits, rates in bit/s, times in seconds.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray


def shannon_rate(bandwidth_hz: float, power_w: float, gain: float, noise_w_per_hz: float) -> float:
    """Eqs. (9) and (11): R = W log2(1 + P G / (W N0)) in bit/s.

    Parameters
    ----------
    bandwidth_hz : float
        Bandwidth W in Hz.
    power_w : float
        Transmit power P in watts.
    gain : float
        Channel gain G (linear).
    noise_w_per_hz : float
        Noise power spectral density N0 in W/Hz.

    Returns
    -------
    float
        The rate R in bit/s.
    """
    return float(bandwidth_hz * np.log2(1.0 + power_w * gain / (bandwidth_hz * noise_w_per_hz)))


def transfer_time(bits: ArrayLike, rate_bps: float) -> NDArray[np.float64]:
    """Eqs. (8) and (10): T = O / R in seconds.

    Parameters
    ----------
    bits : array_like
        Data sizes O in bits (a number or an array).
    rate_bps : float
        The rate R in bit/s.

    Returns
    -------
    numpy.ndarray
        Transfer times in seconds, shaped as ``bits``.
    """
    return np.asarray(bits, dtype=float) / rate_bps
