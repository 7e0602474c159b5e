"""Interrupts (Ctrl-C, SIGINT, SIGTERM) reported as interruptions, never as solver failures.

A solver in C (HiGHS) may catch SIGINT itself and return an error status
("Solve error", "Interrupt") instead of letting Python raise KeyboardInterrupt; the
method would then report a solver failure (exit 4). :func:`handling` installs a handler
that records the signal before raising KeyboardInterrupt, and :func:`check` (called
where a solver's status is read) re-raises it as KeyboardInterrupt when one arrived.
The command line maps KeyboardInterrupt to exit code 130 and the message "interrupted".
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

_received: list[int] = []


def requested() -> bool:
    """Whether an interrupt arrived since :func:`handling` was entered.

    Returns
    -------
    bool
        True after SIGINT or SIGTERM.
    """
    return bool(_received)


def check() -> None:
    """Raise KeyboardInterrupt when an interrupt arrived (a solver may have swallowed it).

    Raises
    ------
    KeyboardInterrupt
        When an interrupt was requested.
    """
    if _received:
        raise KeyboardInterrupt(f"interrupted by signal {_received[0]}")


def _handler(signum: int, frame: FrameType | None) -> None:
    _received.append(signum)
    raise KeyboardInterrupt(f"interrupted by signal {signum}")


@contextmanager
def handling() -> Iterator[None]:
    """Record SIGINT and SIGTERM (then raise KeyboardInterrupt) while the block runs.

    Only in the main thread (Python delivers signals there); elsewhere a no-op.

    Yields
    ------
    None
        Control to the block; the handlers are restored afterwards.
    """
    _received.clear()
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for s in previous:
        signal.signal(s, _handler)
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h if h is not None else signal.SIG_DFL)
