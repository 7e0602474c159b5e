"""Progress displays of the command line (tqdm, on stderr).

The library never prints: its methods call a ``progress`` callback, and this module renders what they report.

On by default when both stdout and stderr are terminals; off with ``-q/--quiet`` and when
either is redirected (a pipe, a file, a test), so logs and captured output stay clean.

- the game (TPOS-CAI/UAI) reports each tick (:class:`mecopt.game.dynamics.Tick`): shown as
  ticks, moves, the MDs verified so far and the potential Phi;
- a MILP such as GTPOS reports ``dict(incumbent=, bound=, gap=, time_s=)``, with ``phase=`` when the method has
  several (tpos-best: starts, MILP rounds, polish, GTPOS; GTPOS: its server decomposition);
- a method without a ``progress`` option gets a spinner with the elapsed time.
"""

from __future__ import annotations

import math
import sys
import threading
from collections.abc import Callable
from contextlib import contextmanager

from mecopt.methods.registry import accepted_options


def interactive() -> bool:
    """Both stdout and stderr are terminals."""
    return bool(getattr(sys.stdout, "isatty", lambda: False)() and getattr(sys.stderr, "isatty", lambda: False)())


def enabled(quiet: bool) -> bool:
    """Whether progress is displayed: not ``quiet`` and on an interactive terminal."""
    return not quiet and interactive()


def _num(x) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{x:.6g}" if isinstance(x, (int, float)) else str(x)


def describe(event, n_devices: int | None = None) -> str:
    """One line of what a method reported: a game tick or a MILP's incumbent/bound/gap."""
    if isinstance(event, dict):
        gap = event.get("gap")
        gap_s = "-" if gap is None or (isinstance(gap, float) and math.isnan(gap)) else f"{100 * gap:.3g}%"
        phase = f"{event['phase']}: " if event.get("phase") else ""
        return (f"{phase}incumbent {_num(event.get('incumbent'))}, bound {_num(event.get('bound'))}, gap {gap_s}, "
                f"{_num(event.get('time_s'))} s")
    if hasattr(event, "tick") and hasattr(event, "potential"):
        clean = f"{event.clean}/{n_devices}" if n_devices else str(event.clean)
        return (f"tick {event.tick}, moves {event.moves}, verified {clean}, potential {_num(event.potential)}, "
                f"avg cost {_num(event.avg_cost)}")
    return str(event)


class _Display:
    """One status line: the method's name, the elapsed time and the last thing it reported.

    Refreshed twice a second by a background thread (so a silent solver still shows its time).
    """

    def __init__(self, label: str, n_devices: int | None):
        from tqdm import tqdm

        self.n_devices = n_devices
        self.lock = threading.Lock()
        self.bar = tqdm(total=None, desc=label, file=sys.stderr, leave=False, dynamic_ncols=True,
                        bar_format="{desc}: {elapsed}{postfix}")
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._tick, daemon=True)
        self.thread.start()

    def _tick(self):
        while not self.stop.wait(0.5):
            with self.lock:
                self.bar.refresh()

    def __call__(self, event) -> None:
        text = describe(event, self.n_devices)
        if isinstance(event, dict) and event.get("phase") and str(event["phase"]) not in text:
            text = f"{event['phase']}: {text}"      # a method's phase (e.g. tpos-best's), then what it reported
        with self.lock:
            self.bar.set_postfix_str(text, refresh=True)

    def close(self):
        self.stop.set()
        self.thread.join()
        with self.lock:
            self.bar.close()


@contextmanager
def method_progress(method: str, quiet: bool, n_devices: int | None = None, label: str | None = None):
    """While ``method`` runs: yields the callback to pass as its ``progress`` option.

    (None when the method has no such option, or when the display is off). A method without one still gets its elapsed
    time shown. ``label`` (default: ``method``) heads the line, e.g. ``compare``'s "[2/7] tpos-uai, limit 30 s".
    """
    if not enabled(quiet):
        yield None
        return
    display = _Display(label or method, n_devices)
    try:
        yield display if "progress" in accepted_options(method) else None
    finally:
        display.close()


def sweep_bar(quiet: bool) -> Callable:
    """A callback ``(stage, done, total)`` drawing one tqdm bar per stage on stderr (sweeps, reproduce)."""
    from tqdm import tqdm

    state = {"stage": None, "bar": None}
    on = enabled(quiet)

    def update(stage: str, done: int, total: int) -> None:
        if not on:
            return
        if stage != state["stage"]:
            if state["bar"] is not None:
                state["bar"].close()
            state["stage"] = stage
            state["bar"] = tqdm(total=total, initial=done, desc=stage, unit="run", file=sys.stderr, leave=True,
                                dynamic_ncols=True)
            return
        bar = state["bar"]
        bar.total = total
        bar.n = done
        bar.refresh()

    def close() -> None:
        if state["bar"] is not None:
            state["bar"].close()

    update.close = close
    return update
