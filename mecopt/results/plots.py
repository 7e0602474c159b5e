"""Figures of solutions and results tables (matplotlib, a base dependency).

Every function takes a :class:`~mecopt.core.solution.Solution` or a table, draws on
``ax`` when given (so figures can be composed), and returns the
:class:`matplotlib.figure.Figure`. Figures are built without pyplot (no global
state, nothing shown); :func:`save` writes one atomically. matplotlib is imported
inside the functions, so ``import mecopt`` never needs it.

- :func:`schedule` — devices x slots with each device's offloaded layer blocks
  (the paper's Figs. 3, 6a, 7a, 10b); with several servers one panel per server;
- :func:`partition` — each device's layers, local or in which slot (Fig. 10a);
- :func:`convergence` — average cost per tick, one line per group (Fig. 5);
- :func:`compare` — a figure per case against a parameter: lines for a numeric
  x (Figs. 6b, 7b), grouped bars for a categorical x (Figs. 8, 9).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mecopt.core.cost import blocks
from mecopt.core.errors import InputError
from mecopt.core.solution import ResultFolder
from mecopt.core.tables import atomic_write

LOCAL_COLOR = "#d9d9d9"
QUEUE_COLOR = "#bdbdbd"
#: at most this many devices get a legend entry in :func:`schedule`
LEGEND_MAX = 20


def require_matplotlib():
    """Matplotlib's ``Figure`` class, for the plots of every layer that draws.

    Returns
    -------
    type
        ``matplotlib.figure.Figure`` (figures are built without pyplot).

    Raises
    ------
    InputError
        When matplotlib is not installed (plots are optional; tables are the results).
    """
    try:
        import matplotlib  # noqa: F401
        from matplotlib.figure import Figure
    except ImportError:
        raise InputError("plots need matplotlib, which this installation lacks: pip install matplotlib") from None
    return Figure


def _axes(ax, figsize):
    Figure = require_matplotlib()
    if ax is not None:
        return ax.figure, ax
    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.add_subplot()


def _colors(n: int):
    """Qualitative colours (one per device, method or group)."""
    from matplotlib import colormaps
    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def _slot_colors(H: int):
    """Sequential colours for slots 1..H (early = light, late = dark).

    Ordered, and unlike the qualitative device colours of :func:`schedule`, so the two panels of Fig. 10 do not clash.
    """
    from matplotlib import colormaps
    cmap = colormaps["YlGnBu"]
    return [cmap(0.25 + 0.7 * (h / max(1, H - 1))) for h in range(H)]


#: human labels (with units) of results columns and of instance fields (the last part of a path)
LABELS = {
    "avg_delay_s": "average delay T (s)", "avg_energy_j": "average energy E (J)",
    "avg_cost": "average cost C (cost units)", "avg_price": "average price (cost units)",
    "social_cost": "social cost (cost units)", "potential": "potential Φ (cost units)",
    "objective": "objective", "bound": "bound", "gap": "relative gap", "iterations": "iterations (ticks)",
    "tick": "tick (clock steps)", "deadline_misses": "devices missing their deadline", "violations": "violations",
    "solver_calls": "solver calls", "wall_time_s": "wall time (s)", "wall_s": "wall time (s)",
    "delay_s": "delay T_n (s)", "energy_j": "energy E_n (J)", "cost": "cost C_n (cost units)",
    "W_khz": "bandwidth W (kHz)", "N": "number of devices N", "dnn": "DNN", "method": "method",
    "bandwidth_hz": "bandwidth W (Hz)", "deadline_s": "deadline τ (s)", "channel_gain": "channel gain G (linear)",
    "noise_w_per_hz": "noise N0 (W/Hz)", "upload_power_w": "upload power P_up (W)",
    "compute_power_w": "compute power P_lo (W)", "delta_cycles_per_bit": "δ (cycles/bit)",
    "cost_delay_per_s": "c^T (cost units/s)", "cost_energy_per_j": "c^E (cost units/J)",
    "alpha": "weight α", "beta": "weight β", "gamma": "weight γ", "count": "devices per entry",
    "slots": "slots H", "frame_s": "frame T_d (s)", "parallel_limit": "parallel limit B",
    "freq_cycles_per_s": "server frequency f_s (cycles/s)", "price_base": "price base a_h",
    "price_growth": "price growth b_h", "tx_power_w": "server power P_s (W)",
    "bits_per_element": "bits per element", "price_scale": "price scale", "capacity_mode": "capacity mode",
}


def _no_unit(label: str) -> str:
    """A label without its parenthesised unit (for titles)."""
    import re
    return re.sub(r" \([^)]*\)", "", label)


def column_label(column: str) -> str:
    """A human label with its unit for a results column or a swept path.

    e.g. ``devices.*.bandwidth_hz`` -> "bandwidth W (Hz), every device"; unknown names are kept.

    Parameters
    ----------
    column : str
        A results column or swept path.

    Returns
    -------
    str
        The label.
    """
    name = str(column)
    if name.startswith("instance."):
        name = name[len("instance."):]
    parts = name.split(".")
    last, extra = parts[-1], ""
    for suffix, words in (("_mean", "mean over draws"), ("_std", "std over draws")):
        if last.endswith(suffix) and last[:-len(suffix)] in LABELS:
            last, extra = last[:-len(suffix)], f", {words}"
    if last not in LABELS:
        return name
    label = LABELS[last] + extra
    scope = parts[:-1]
    if len(scope) == 2 and scope[0] == "devices":
        label += ", every device" if scope[1] == "*" else f", device entry {scope[1]}"
    elif scope == ["device_defaults"]:
        label += ", device default"
    return label


def save(fig, path: str | Path, dpi: int = 150) -> Path:
    """Write ``fig`` to ``path`` (format from the suffix, e.g. .png, .pdf, .svg) atomically.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure.
    path : str or pathlib.Path
        The file; without a suffix ``.png`` is added.
    dpi : int, optional
        Resolution of raster formats.

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    InputError
        A suffix that is no image format matplotlib writes, or a file that cannot be written (named).
    """
    path = Path(path)
    fmt = path.suffix.lstrip(".") or "png"
    if not path.suffix:
        path = path.with_suffix(".png")
    supported = fig.canvas.get_supported_filetypes()
    if fmt.lower() not in supported:
        raise InputError(f"cannot write {path}: no image format {fmt!r}; the suffix must be one of "
                         f"{', '.join('.' + k for k in sorted(supported))}")
    return atomic_write(path, lambda tmp: fig.savefig(tmp, format=fmt, dpi=dpi))


# --------------------------------------------------------------------------- schedules

@dataclass
class ScheduleData:
    """What the schedule and partition plots need, from a Solution or a written solution dir.

    Attributes
    ----------
    assignment : pandas.DataFrame
        device, layer, slot (+ layer_name); slot 0 = local, H+1 = queued.
    H : int
        Number of slots.
    frame_s : float or None
        T_d, when known.
    t_server : dict or None
        Device -> array (M+1,) of server times, when known.
    title : str
        Plot title.
    servers : list[tuple[str, int, float | None]] or None
        Several servers: (name, H_k, T_d,k or None) per server; None with one server.
    """

    assignment: pd.DataFrame          # device, layer, slot (+ layer_name); slot 0 = local, H+1 = queued
    H: int
    frame_s: float | None = None      # T_d, when known
    t_server: dict | None = None      # device -> array (M+1,) of server times, when known
    title: str = ""
    #: several servers: (name, H_k, T_d,k or None) per server; the assignment then has a ``server`` column
    servers: list[tuple[str, int, float | None]] | None = None


def schedule_data(source, *, instance=None, title: str | None = None) -> ScheduleData:
    """A :class:`ScheduleData` from a Solution or an assignment table.

    Parameters
    ----------
    source : Solution, pandas.DataFrame, ResultFolder or ScheduleData
        A solution (its instance gives H, T_d and the server times), an assignment table
        (``device``, ``layer``, ``slot``; ``server`` with several servers), or a result folder
        already read by :func:`mecopt.core.solution.read_result_folder` (plots read no files).
    instance : Instance, optional
        With a table: the instance it assigns, for H, T_d, the server times and the servers.
    title : str, optional
        With a table: the plot's title.

    Returns
    -------
    ScheduleData

    Raises
    ------
    InputError
        When a table lacks ``device``, ``layer`` or ``slot``, or ``source`` is none of the above.
    """
    if isinstance(source, ScheduleData):
        return source
    if isinstance(source, ResultFolder):   # already read by the core reader: its solution, else its table
        if source.solution is not None:
            return schedule_data(source.solution)
        return schedule_data(source.assignment, instance=source.instance, title=source.title)
    if hasattr(source, "assignment_frame") and hasattr(source, "instance"):
        return _with_instance(source.assignment_frame(), source.instance, f"{source.method} on {source.instance.name}")
    if isinstance(source, pd.DataFrame):
        _check_assignment(source, "the assignment table")
        if instance is not None:
            return _with_instance(source, instance, title or "")
        return ScheduleData(source, int(max(1, source["slot"].max())), title=title or "",
                            servers=_table_servers(source))
    raise InputError(f"cannot plot a schedule from {type(source).__name__}: give a Solution or an assignment table "
                     "(read a result folder with mecopt.core.solution.read_result_folder)")


def _with_instance(table: pd.DataFrame, inst, title: str) -> ScheduleData:
    """An assignment table drawn with its instance's slots, frames and server times."""
    servers = [(sv.name, sv.H, sv.T_d) for sv in inst.servers] if inst.K > 1 else None
    first = inst.servers[0]   # one server: the server; several: each panel uses its own (servers)
    return ScheduleData(table, first.H, first.T_d, {d.name: np.asarray(d.t_server) for d in inst.devices},
                        title, servers)


def _server_cells(df: pd.DataFrame) -> pd.Series:
    """The ``server`` column as text, "" for a local layer (an empty or missing cell)."""
    return df["server"].map(lambda v: "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v))


def _table_servers(df: pd.DataFrame) -> list[tuple[str, int, None]] | None:
    """Several servers named in an assignment's ``server`` column, without their instance.

    Each server's H is taken as the largest slot it holds (its frame length is unknown).
    """
    if "server" not in df.columns:
        return None
    cells = _server_cells(df)
    names = [n for n in dict.fromkeys(cells) if n]
    if not names:
        return None
    slots = pd.to_numeric(df["slot"], errors="coerce")
    return [(n, int(max(1, slots[cells == n].max())), None) for n in names]


def _check_assignment(df: pd.DataFrame, where: str) -> None:
    missing = {"device", "layer", "slot"} - set(df.columns)
    if missing:
        raise InputError(f"{where} lacks columns {sorted(missing)}; it needs device, layer, slot")


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

    With several servers (a multi-server Solution, or a table with a ``server`` column):
    one panel per server, in the instance's order, each with that server's slots and the
    devices offloading to it; the devices that run all layers locally are named under the
    last panel. ``ax`` may then be a sequence of one Axes per server.

    Parameters
    ----------
    source : Solution, pandas.DataFrame, ResultFolder or ScheduleData
        What to draw (see :func:`schedule_data`).
    ax : matplotlib.axes.Axes, sequence of Axes or None, optional
        Where to draw (one Axes per server with several servers); None for a new figure.
    title : str or None, optional
        The plot's title; None for a default one naming the source.

    Returns
    -------
    matplotlib.figure.Figure
        The figure drawn on.

    Raises
    ------
    InputError
        If matplotlib is not installed, ``source`` cannot be read (:func:`schedule_data`), or ``ax`` does not fit
        the number of servers.
    """
    data = schedule_data(source)
    if data.servers:
        return _schedule_servers(data, ax, title)
    devices = _per_device(data.assignment)
    fig, ax = _axes(ax, (8, 0.6 * len(devices) + 1.8))
    _draw_schedule(ax, devices, data.H, data.frame_s, data.t_server)
    ax.set_title(title if title is not None else f"Server schedule (colour = device): {data.title}".rstrip(": "))
    return fig


def _device_servers(df: pd.DataFrame) -> dict[str, str]:
    """Each device's server in a multi-server assignment: the first server its offloaded rows name ("" = all local)."""
    cells = _server_cells(df)
    out: dict[str, str] = {}
    for dev, cell in zip(df["device"].astype(str), cells):
        if not out.get(dev):
            out[dev] = cell
    return out


def _schedule_servers(data: ScheduleData, ax, title: str | None):
    """:func:`schedule` with several servers: one panel per server."""
    df = data.assignment
    where = _device_servers(df)
    K = len(data.servers)
    groups = []
    for name, _, _ in data.servers:
        keep = [dev for dev, k in where.items() if k == name]
        groups.append(_per_device(df[df["device"].astype(str).isin(keep)]) if keep else [])
    local = [dev for dev, k in where.items() if not k]
    if ax is None:
        Figure = require_matplotlib()
        heights = [max(1, len(g)) * 0.6 + 1.4 for g in groups]
        fig = Figure(figsize=(11, sum(heights) + 0.6), layout="constrained")
        axes = fig.subplots(K, 1, squeeze=False, gridspec_kw=dict(height_ratios=heights))[:, 0]
    else:
        axes = list(ax) if isinstance(ax, Sequence) or isinstance(ax, np.ndarray) else [ax]
        if len(axes) != K:
            raise InputError(f"a schedule of {K} servers draws one panel per server: pass ax=None or a sequence "
                             f"of {K} Axes (got {len(axes)})")
        fig = axes[0].figure
    palette = _colors(sum(len(g) for g in groups))    # one colour per device across the panels
    first = np.cumsum([0] + [len(g) for g in groups])
    for k, (a, (name, H, frame), devices) in enumerate(zip(axes, data.servers, groups)):
        _draw_schedule(a, devices, H, frame, data.t_server, empty=f"no device offloads to server {name}",
                       colors=palette[first[k]:first[k + 1]])
        a.set_title(f"server {name} (H = {H}" + (f", T_d = {frame:.3g} s" if frame else "") + f"): "
                    f"{len(devices)} device(s)", fontsize=10)
    if local:
        more = len(local) - LEGEND_MAX
        shown = ", ".join(local[:LEGEND_MAX]) + (f", ... {more} more" if more > 0 else "")
        import textwrap

        # under the last panel's axis label, so that the layout makes room for it
        note = "\n".join(textwrap.wrap(f"all local (no server): {shown}", 110))
        axes[-1].set_xlabel(f"{axes[-1].get_xlabel()}\n\n{note}")
    fig.suptitle(title if title is not None else f"Server schedules (colour = device): {data.title}".rstrip(": "))
    return fig


def _draw_schedule(ax, devices: list[tuple[str, np.ndarray]], H: int, frame_s: float | None, t_server: dict | None,
                   empty: str = "no layer offloaded: every device runs its whole DNN locally",
                   colors: list | None = None) -> None:
    """One server's schedule on ``ax`` (everything :func:`schedule` draws but the title).

    ``colors``: one per device (default a palette for these devices).
    """
    unit = (frame_s / H) if frame_s else 1.0
    queued_any = any(len(s) and np.all(s == H + 1) for _, s in devices)
    colors = _colors(len(devices)) if colors is None else colors
    labels = []
    for row, (name, slots) in enumerate(devices):
        y = len(devices) - 1 - row
        m_star = int(np.count_nonzero(slots == 0))
        labels.append(f"{name}\n(local {_layers(1, m_star)})" if m_star else f"{name}\n(no local layers)")
        times = t_server.get(name) if t_server else None
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
        ax.text(0.5, 0.5, empty, transform=ax.transAxes,
                ha="center", va="center", fontsize=10, color="dimgrey")
    ncols = H + (1 if queued_any else 0)
    for h in range(ncols + 1):
        ax.axvline(h * unit, color="grey", lw=0.6, ls=":" if h not in (0, H) else "-")
    ax.set_xlim(0, ncols * unit)
    slot_names = [f"slot {h}" if h <= H else "after frame" for h in range(1, ncols + 1)]
    if frame_s:
        # seconds at the slot boundaries below, the slots' names on top
        ax.set_xticks([h * unit for h in range(ncols + 1)], [f"{h * unit:.3g}" for h in range(ncols + 1)])
        top = ax.secondary_xaxis("top")
        top.set_xticks([(h - 0.5) * unit for h in range(1, ncols + 1)], slot_names)
        top.tick_params(length=0)
    else:
        ax.set_xticks([(h - 0.5) * unit for h in range(1, ncols + 1)], slot_names)
    ax.set_yticks(range(len(devices)), labels[::-1], fontsize=8)
    ax.set_ylim(-0.6, len(devices) - 0.4)
    ax.set_xlabel(f"server time in the frame (s); slot length T_d/H = {unit:.3g} s" if frame_s
                  else "slot (server times unknown: each block fills its slot)")
    ax.set_ylabel("device (its local layers)")
    from matplotlib.patches import Patch
    offloading = [row for row, (_, s_) in enumerate(devices) if np.any((s_ > 0) & (s_ <= H))]
    handles = [Patch(facecolor=colors[row], edgecolor="black", linewidth=0.6, label=devices[row][0])
               for row in offloading[:LEGEND_MAX]]
    if len(offloading) > LEGEND_MAX:
        handles.append(Patch(facecolor="white", label=f"... {len(offloading) - LEGEND_MAX} more"))
    if queued_any:
        handles.append(Patch(facecolor=QUEUE_COLOR, edgecolor="black", linewidth=0.6, label="queued after frame"))
    if handles:
        ax.legend(handles=handles, title="block colour = device", loc="upper left", bbox_to_anchor=(1.01, 1.0),
                  fontsize=7, title_fontsize=8, frameon=False)


def partition(source, *, ax=None, title: str | None = None):
    """Each device's layers 1..M: local (grey) or the slot they run in; a bar marks m*.

    With several servers a device's label names its server, and a slot's colour is its number
    on that server (slot h of two servers share a colour).

    Parameters
    ----------
    source : Solution, pandas.DataFrame, ResultFolder or ScheduleData
        What to draw (see :func:`schedule_data`).
    ax : matplotlib.axes.Axes or None, optional
        Where to draw; None for a new figure.
    title : str or None, optional
        The plot's title; None for a default one naming the source.

    Returns
    -------
    matplotlib.figure.Figure
        The figure drawn on.

    Raises
    ------
    InputError
        If matplotlib is not installed or ``source`` cannot be read (:func:`schedule_data`).
    """
    data = schedule_data(source)
    devices = _per_device(data.assignment)
    fig, ax = _axes(ax, (8, 0.5 * len(devices) + 1.8))
    H = data.H
    where, H_of = {}, {}
    if data.servers:
        where = _device_servers(data.assignment)
        H_of = {name: Hk for name, Hk, _ in data.servers}
        H = max(H_of.values())
    slot_colors = _slot_colors(max(H, 1))
    used, queued = set(), False
    for row, (name, slots) in enumerate(devices):
        y = len(devices) - 1 - row
        H_dev = H_of.get(where.get(name, ""), H)
        for m, h in enumerate(slots, start=1):
            color = LOCAL_COLOR if h == 0 else (QUEUE_COLOR if h > H_dev else slot_colors[(h - 1) % len(slot_colors)])
            used.add(int(h))
            queued = queued or h > H_dev
            ax.barh(y, 1, left=m - 0.5, color=color, edgecolor="white", linewidth=0.5, height=0.7)
        m_star = int(np.count_nonzero(slots == 0))
        ax.plot([m_star + 0.5] * 2, [y - 0.42, y + 0.42], color="black", lw=1.5)
        ax.text(len(slots) + 0.8, y, f"m* = {m_star}/{len(slots)}", va="center", fontsize=8)
    from matplotlib.patches import Patch
    handles = [Patch(color=LOCAL_COLOR, label="local")]
    handles += [Patch(color=slot_colors[(h - 1) % len(slot_colors)], label=f"slot {h}")
                for h in range(1, H + 1) if h in used]
    if queued:
        handles.append(Patch(color=QUEUE_COLOR, label="after frame"))
    ax.legend(handles=handles, title="layer colour = where it runs", loc="upper center",
              bbox_to_anchor=(0.5, -0.15), ncol=min(len(handles), 7), fontsize=8, title_fontsize=8, frameon=False)
    names = [n for n, _ in devices]
    if data.servers:
        names = [f"{n} ({where.get(n) or 'all local'})" for n in names]
    ax.set_yticks(range(len(devices)), names[::-1])
    ax.set_xlim(0.5, max(len(s) for _, s in devices) + 5)
    ax.set_xlabel("layer m (1 = first layer); black bar: partition point m*")
    ax.set_ylabel("device")
    ax.set_title(title if title is not None else f"Partition points (colour = slot): {data.title}".rstrip(": "))
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

    Parameters
    ----------
    trace : pandas.DataFrame or Mapping of str to pandas.DataFrame
        A trace table, or label -> trace table (each then one group).
    x : str, optional
        Column on the x axis.
    y : str, optional
        Column on the y axis (e.g. ``avg_cost``, the average cost C).
    by : sequence of str, str or None, optional
        Columns whose values make the groups (ignored for a mapping).
    ax : matplotlib.axes.Axes or None, optional
        Where to draw; None for a new figure.
    title : str or None, optional
        The plot's title; None for a default one.
    ylabel : str or None, optional
        The y axis label; default ``y``.

    Returns
    -------
    matplotlib.figure.Figure
        The figure drawn on.

    Raises
    ------
    InputError
        If the table lacks a column, or matplotlib is not installed.
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
    ax.set_xlabel(column_label(x))
    ax.set_ylabel(ylabel or column_label(y))
    if by:
        ax.legend(fontsize=8, title=", ".join(b for b in by if b != "_group") or None)
    ax.grid(alpha=0.3)
    ax.set_title(title if title is not None else f"Convergence: {_no_unit(column_label(y))} per "
                 f"{_no_unit(column_label(x))}")
    return fig


def compare(table: pd.DataFrame, *, x: str, y: str, by: str | None = "method", ax=None,
            title: str | None = None, xlabel: str | None = None, ylabel: str | None = None,
            order: Sequence | None = None, labels: Mapping | None = None, log: bool = False):
    """``y`` against ``x``, one series per ``by`` value, averaged over the other rows (e.g. seeds).

    A numeric ``x`` gives lines with markers (Figs. 6b, 7b); otherwise grouped bars
    with x in ``order`` (default: as first seen) (Figs. 8, 9). ``labels`` renames
    series (e.g. method -> "Case 1 (TPOS-UAI)").

    Parameters
    ----------
    table : pandas.DataFrame
        A results table (e.g. a sweep's).
    x : str
        Column on the x axis.
    y : str
        Column averaged on the y axis (non-numbers count as missing).
    by : str or None, optional
        Column whose values make the series; None for one series.
    ax : matplotlib.axes.Axes or None, optional
        Where to draw; None for a new figure.
    title : str or None, optional
        The plot's title; None for a default one.
    xlabel : str or None, optional
        The x axis label; default ``x``.
    ylabel : str or None, optional
        The y axis label; default ``y``.
    order : sequence or None, optional
        Order of the x values of a bar chart.
    labels : Mapping or None, optional
        Series value -> legend label.
    log : bool, optional
        Logarithmic y axis.

    Returns
    -------
    matplotlib.figure.Figure
        The figure drawn on.

    Raises
    ------
    InputError
        If the table lacks a column, or matplotlib is not installed.
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
    ax.set_xlabel(xlabel or column_label(x))
    ax.set_ylabel((ylabel or column_label(y)) + (" (log scale)" if log else ""))
    if by:
        ax.legend(fontsize=8, title=column_label(by))
    ax.grid(alpha=0.3, axis="y" if not numeric else "both")
    mean_note = ", mean over seeds" if len(df) > len(mean) else ""
    per = f", per {column_label(by)}" if by else ""
    ax.set_title(title if title is not None else f"{_no_unit(column_label(y))} vs {_no_unit(column_label(x))}"
                 f"{per}{mean_note}")
    return fig
