"""A token bucket that paces a sender to a modelled link rate (issue 25).

The bucket starts empty and fills at ``rate_bps``; a chunk of ``n`` bytes may
go once ``8 n`` bits of tokens are there, so chunk k leaves at
``t0 + (bits of chunks 1..k) / rate``: a transfer of ``b`` bits ends ``b / rate``
seconds after it began (what eqs. (8) and (10) predict for ``O_{n,m}`` bits),
without drift, however coarse the sleeps are.
"""

from __future__ import annotations

import time


class TokenBucket:
    """Pace byte chunks to ``rate_bps`` bits per second (an empty bucket at the first chunk).

    Parameters
    ----------
    rate_bps : float
        The link rate [bit/s]; ``inf`` sends at once.
    clock : callable, optional
        Monotonic clock in seconds.
    sleep : callable, optional
        Sleep function.
    """

    def __init__(self, rate_bps: float, clock=time.perf_counter, sleep=time.sleep):
        if not rate_bps > 0:
            raise ValueError(f"a link rate must be positive, got {rate_bps!r}")
        self.rate_bps = float(rate_bps)
        self.clock, self.sleep = clock, sleep
        self.start: float | None = None
        self.bits = 0.0

    def __call__(self, nbytes: int) -> None:
        """Block until ``nbytes`` more bytes may leave.

        Parameters
        ----------
        nbytes : int
            Size of the next chunk.
        """
        if self.start is None:
            self.start = self.clock()
        self.bits += 8.0 * nbytes
        if self.rate_bps == float("inf"):
            return
        due = self.start + self.bits / self.rate_bps
        while (wait := due - self.clock()) > 0:
            self.sleep(wait)
