"""Links (eqs. 8-11): Shannon rates and transfer times.

All quantities in SI units: bandwidth in Hz, powers in W, noise power spectral
density N0 in W/Hz (the paper's -30 dBm/kHz is 1e-9 W/Hz), gain G linear,
data sizes in bits, rates in bit/s, times in seconds.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray


def shannon_rate(bandwidth_hz: float, power_w: float, gain: float, noise_w_per_hz: float) -> float:
    """Eqs. (9) and (11): R = W log2(1 + P G / (W N0)) in bit/s."""
    return float(bandwidth_hz * np.log2(1.0 + power_w * gain / (bandwidth_hz * noise_w_per_hz)))


def transfer_time(bits: ArrayLike, rate_bps: float) -> NDArray[np.float64]:
    """Eqs. (8) and (10): T = O / R in seconds."""
    return np.asarray(bits, dtype=float) / rate_bps
