"""Figures of solutions and results tables (matplotlib, the optional extra ``plot``).

Every function takes a :class:`~mecopt.solution.Solution` or a table, draws on
``ax`` when given (so figures can be composed), and returns the
:class:`matplotlib.figure.Figure`. Figures are built without pyplot (no global
state, nothing shown); :func:`save` writes one atomically. matplotlib is imported
inside the functions, so ``import mecopt`` never needs it.

- :func:`schedule` — devices x slots with each device's offloaded layer blocks
  (the paper's Figs. 3, 6a, 7a, 10b);
- :func:`partition` — each device's layers, local or in which slot (Fig. 10a);
- :func:`convergence` — average cost per tick, one line per group (Fig. 5);
- :func:`compare` — a figure per case against a parameter: lines for a numeric
  x (Figs. 6b, 7b), grouped bars for a categorical x (Figs. 8, 9).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mecopt.model.cost import blocks
from mecopt.errors import InputError
from mecopt.results.export import atomic_write, find_table, read_table

LOCAL_COLOR = "#d9d9d9"
QUEUE_COLOR = "#bdbdbd"


def _require():
    try:
        import matplotlib  # noqa: F401
        from matplotlib.figure import Figure
    except ImportError:
        raise InputError("plots need matplotlib: pip install 'mecopt[plot]'") from None
    return Figure


def _axes(ax, figsize):
    Figure = _require()
    if ax is not None:
        return ax.figure, ax
    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.add_subplot()


def _colors(n: int):
    from matplotlib import colormaps
    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def save(fig, path: str | Path, dpi: int = 150) -> Path:
    """Write ``fig`` to ``path`` (format from the suffix, e.g. .png, .pdf, .svg) atomically."""
    path = Path(path)
    fmt = path.suffix.lstrip(".") or "png"
    if not path.suffix:
        path = path.with_suffix(".png")
    return atomic_write(path, lambda tmp: fig.savefig(tmp, format=fmt, dpi=dpi))


# --------------------------------------------------------------------------- schedules

@dataclass
class ScheduleData:
    """What the schedule and partition plots need, from a Solution or a written solution dir."""

    assignment: pd.DataFrame          # device, layer, slot (+ layer_name); slot 0 = local, H+1 = queued
    H: int
    frame_s: float | None = None      # T_d, when known
    t_server: dict | None = None      # device -> array (M+1,) of server times, when known
    title: str = ""


def schedule_data(source) -> ScheduleData:
    """A :class:`ScheduleData` from a Solution, an assignment table, or a solution directory
    (``assignment.<csv|parquet|json>``; a folder written by ``Solution.write`` is read back whole,
    others use their optional ``summary.json`` and ``instance.toml``)."""
    if isinstance(source, ScheduleData):
        return source
    if hasattr(source, "assignment_frame") and hasattr(source, "instance"):
        inst = source.instance
        return ScheduleData(source.assignment_frame(), inst.server.H, inst.server.T_d,
                            {d.name: np.asarray(d.t_server) for d in inst.devices},
                            f"{source.method} on {inst.name}")
    if isinstance(source, pd.DataFrame):
        _check_assignment(source, "the assignment table")
        return ScheduleData(source, int(max(1, source["slot"].max())))
    return _from_dir(Path(source))


def _check_assignment(df: pd.DataFrame, where: str) -> None:
    missing = {"device", "layer", "slot"} - set(df.columns)
    if missing:
        raise InputError(f"{where} lacks columns {sorted(missing)}; it needs device, layer, slot")


def _from_dir(d: Path) -> ScheduleData:
    if not d.is_dir():
        raise InputError(f"not a solution directory: {d}")
    from mecopt.results import manifest

    man = manifest.require_complete(d, "solution folder")
    if man is not None and man.get("kind") == "solution":
        from mecopt.solution import read_solution
        try:
            return schedule_data(read_solution(d))      # the instance it solved, with its server times
        except InputError:
            pass  # e.g. a DNN given by a path that no longer resolves: draw from the table alone
    path = find_table(d / "assignment")
    if path is None:
        raise InputError(f"{d} holds no readable assignment table (assignment.csv, .parquet or .json); "
                         f"write the solution with --format csv, parquet or json")
    df = read_table(path)
    _check_assignment(df, str(path))
    title = d.name
    summary = d / "summary.json"
    if summary.is_file():
        s = json.loads(summary.read_text())
        title = f"{s.get('method', '')} on {s.get('instance', '')}".strip()
    H, frame, times = int(max(1, df["slot"].max())), None, None
    inst_file = d / "instance.toml"
    if inst_file.is_file():
        try:
            from mecopt.model.instance import load_instance
            inst = load_instance(inst_file)
            H, frame = inst.server.H, inst.server.T_d
            times = {dev.name: np.asarray(dev.t_server) for dev in inst.devices}
        except InputError:
            pass  # e.g. a DNN given by a relative path: draw without server times
    return ScheduleData(df, H, frame, times, title)


def _per_device(df: pd.DataFrame) -> list[tuple[str, np.ndarray]]:
    order = list(dict.fromkeys(df["device"].astype(str)))
    out = []
    for name in order:
        rows = df[df["device"].astype(str) == name].sort_values("layer")
        out.append((name, rows["slot"].to_numpy(dtype=int)))
    return out


def _layers(a: int, b: int) -> str:
    return f"L{a}" if a == b else f"L{a}-{b}"


def schedule(source, *, ax=None, title: str | None = None):
    """Devices (rows) x slots (columns) with each device's offloaded layer blocks.

    Inside a slot a device's block starts at the slot's beginning and, when the
    server times are known, is as wide as its server time (the device's subtasks
    run one after another, Rule 2); otherwise it fills the slot. A device queued
    after the frame (Case 3) is drawn in an extra column. The y labels give each
    device's local layers.
    """
    data = schedule_data(source)
    devices = _per_device(data.assignment)
    fig, ax = _axes(ax, (8, 0.6 * len(devices) + 1.8))
    H = data.H
    unit = (data.frame_s / H) if data.frame_s else 1.0
    queued_any = any(len(s) and np.all(s == H + 1) for _, s in devices)
    colors = _colors(len(devices))
    labels = []
    for row, (name, slots) in enumerate(devices):
        y = len(devices) - 1 - row
        m_star = int(np.count_nonzero(slots == 0))
        labels.append(f"{name}\n(local {_layers(1, m_star)})" if m_star else f"{name}\n(no local layers)")
        times = data.t_server.get(name) if data.t_server else None
        for a, b, h in blocks(slots):
            if h == 0:
                continue
            x0 = (h - 1) * unit
            width = float(np.sum(times[a:b + 1])) if times is not None and h <= H else 0.92 * unit
            width = min(max(width, 0.02 * unit), 0.98 * unit if h <= H else unit)
            color = QUEUE_COLOR if h > H else colors[row]
            ax.broken_barh([(x0, width)], (y - 0.35, 0.7), facecolors=color, edgecolor="black", linewidth=0.6)
            ax.text(x0 + 0.04 * unit, y, _layers(a, b), va="center", ha="left", fontsize=7)
    if not any(np.any(s > 0) for _, s in devices):
        ax.text(0.5, 0.5, "no layer offloaded: every device runs its whole DNN locally", transform=ax.transAxes,
                ha="center", va="center", fontsize=10, color="dimgrey")
    ncols = H + (1 if queued_any else 0)
    for h in range(ncols + 1):
        ax.axvline(h * unit, color="grey", lw=0.6, ls=":" if h not in (0, H) else "-")
    ax.set_xlim(0, ncols * unit)
    ax.set_xticks([(h - 0.5) * unit for h in range(1, ncols + 1)],
                  [f"slot {h}" if h <= H else "after frame" for h in range(1, ncols + 1)])
    ax.set_yticks(range(len(devices)), labels[::-1], fontsize=8)
    ax.set_ylim(-0.6, len(devices) - 0.4)
    ax.set_xlabel(f"server time (slot length {unit:.3g} s)" if data.frame_s else "slot")
    ax.set_title(title if title is not None else f"Schedule: {data.title}".rstrip(": "))
    return fig


def partition(source, *, ax=None, title: str | None = None):
    """Each device's layers 1..M: local (grey) or the slot they run in; a bar marks m*."""
    data = schedule_data(source)
    devices = _per_device(data.assignment)
    fig, ax = _axes(ax, (8, 0.5 * len(devices) + 1.8))
    H = data.H
    slot_colors = _colors(max(H, 1))
    used = set()
    for row, (name, slots) in enumerate(devices):
        y = len(devices) - 1 - row
        for m, h in enumerate(slots, start=1):
            color = LOCAL_COLOR if h == 0 else (QUEUE_COLOR if h > H else slot_colors[(h - 1) % len(slot_colors)])
            used.add(int(h))
            ax.barh(y, 1, left=m - 0.5, color=color, edgecolor="white", linewidth=0.5, height=0.7)
        m_star = int(np.count_nonzero(slots == 0))
        ax.plot([m_star + 0.5] * 2, [y - 0.42, y + 0.42], color="black", lw=1.5)
        ax.text(len(slots) + 0.8, y, f"m* = {m_star}/{len(slots)}", va="center", fontsize=8)
    from matplotlib.patches import Patch
    handles = [Patch(color=LOCAL_COLOR, label="local")]
    handles += [Patch(color=slot_colors[(h - 1) % len(slot_colors)], label=f"slot {h}")
                for h in range(1, H + 1) if h in used]
    if any(h > H for h in used):
        handles.append(Patch(color=QUEUE_COLOR, label="after frame"))
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=min(len(handles), 7),
              fontsize=8, frameon=False)
    ax.set_yticks(range(len(devices)), [n for n, _ in devices][::-1])
    ax.set_xlim(0.5, max(len(s) for _, s in devices) + 5)
    ax.set_xlabel("layer")
    ax.set_title(title if title is not None else f"Partition points: {data.title}".rstrip(": "))
    return fig


# --------------------------------------------------------------------------- tables

def _label(key) -> str:
    if isinstance(key, tuple):
        return ", ".join(str(k) for k in key)
    return str(key)


def convergence(trace, *, x: str = "tick", y: str = "avg_cost", by: Sequence[str] | str | None = ("N", "method"),
                ax=None, title: str | None = None, ylabel: str | None = None):
    """``y`` against ``x`` per group (Fig. 5: average cost per tick, several N, CAI vs UAI).

    ``trace``: a table with columns x, y and the ``by`` columns, or a mapping
    label -> trace table (e.g. ``{"CAI, N=5": solution.trace}``). Groups that
    share every ``by`` value but the last share a colour; the last varies the
    line style.
    """
    if isinstance(trace, Mapping):
        frames = []
        for label, df in trace.items():
            frames.append(df.assign(_group=str(label)))
        trace, by = pd.concat(frames, ignore_index=True), ["_group"]
    by = [by] if isinstance(by, str) else list(by or [])
    missing = {x, y, *by} - set(trace.columns)
    if missing:
        raise InputError(f"the table lacks columns {sorted(missing)} (has {list(trace.columns)})")
    fig, ax = _axes(ax, (7, 4.2))
    groups = list(trace.groupby(by, sort=True)) if by else [("", trace)]
    heads = list(dict.fromkeys(k[:-1] if isinstance(k, tuple) and len(k) > 1 else k for k, _ in groups))
    colors = _colors(len(heads))
    styles = ["-", "--", ":", "-."]
    tails = list(dict.fromkeys(k[-1] for k, _ in groups if isinstance(k, tuple) and len(k) > 1))
    for key, g in groups:
        head = key[:-1] if isinstance(key, tuple) and len(key) > 1 else key
        tail = key[-1] if isinstance(key, tuple) and len(key) > 1 else None
        ls = styles[tails.index(tail) % len(styles)] if tail is not None else "-"
        g = g.sort_values(x)
        ax.plot(g[x], g[y], ls=ls, color=colors[heads.index(head)], marker="." if len(g) < 40 else None,
                label=_label(key if not isinstance(key, tuple) or len(by) > 1 else key[0]))
    ax.set_xlabel(x)
    ax.set_ylabel(ylabel or y)
    if by:
        ax.legend(fontsize=8, title=", ".join(b for b in by if b != "_group") or None)
    ax.grid(alpha=0.3)
    ax.set_title(title if title is not None else f"{y} per {x}")
    return fig


def compare(table: pd.DataFrame, *, x: str, y: str, by: str | None = "method", ax=None,
            title: str | None = None, xlabel: str | None = None, ylabel: str | None = None,
            order: Sequence | None = None, labels: Mapping | None = None, log: bool = False):
    """``y`` against ``x``, one series per ``by`` value, averaged over the other rows (e.g. seeds).

    A numeric ``x`` gives lines with markers (Figs. 6b, 7b); otherwise grouped bars
    with x in ``order`` (default: as first seen) (Figs. 8, 9). ``labels`` renames
    series (e.g. method -> "Case 1 (TPOS-UAI)").
    """
    missing = {x, y} - set(table.columns) | ({by} - set(table.columns) if by else set())
    if missing:
        raise InputError(f"the table lacks columns {sorted(missing)} (has {list(table.columns)})")
    df = table.copy()
    df[y] = pd.to_numeric(df[y], errors="coerce")
    keys = [by, x] if by else [x]
    mean = df.groupby(keys, sort=False)[y].mean().reset_index()
    series = list(dict.fromkeys(mean[by])) if by else [None]
    fig, ax = _axes(ax, (7, 4.2))
    colors = _colors(len(series))
    numeric = pd.api.types.is_numeric_dtype(df[x]) and not pd.api.types.is_bool_dtype(df[x])
    markers = ["o", "s", "^", "D", "v", "P", "X"]
    xs = list(order) if order is not None else list(dict.fromkeys(df[x]))
    width = 0.8 / max(1, len(series))
    for i, s in enumerate(series):
        g = mean[mean[by] == s] if by else mean
        name = (labels or {}).get(s, s) if by else y
        if numeric:
            g = g.sort_values(x)
            ax.plot(g[x], g[y], marker=markers[i % len(markers)], color=colors[i], label=name)
        else:
            vals = [g.loc[g[x] == v, y].mean() if (g[x] == v).any() else np.nan for v in xs]
            ax.bar(np.arange(len(xs)) + (i - (len(series) - 1) / 2) * width, vals, width, color=colors[i],
                   label=name)
    if not numeric:
        ax.set_xticks(np.arange(len(xs)), [str(v) for v in xs])
    if log:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel or x)
    ax.set_ylabel(ylabel or y)
    if by:
        ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="y" if not numeric else "both")
    ax.set_title(title if title is not None else f"{y} by {x}")
    return fig
