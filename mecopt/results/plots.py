"""Figures of solutions and results tables (matplotlib, a base dependency).

Their size, fonts and colours follow the active :class:`~mecopt.results.style.FigureStyle`
(:mod:`mecopt.results.style`); per-device distributions over methods are in
:mod:`mecopt.results.summary_plots`.

Every function takes a :class:`~mecopt.core.solution.Solution` or a table, draws on
``ax`` when given (so figures can be composed), and returns the
:class:`matplotlib.figure.Figure`. Figures are built without pyplot (no global
state, nothing shown); :func:`save` writes one atomically. matplotlib is imported
inside the functions, so ``import mecopt`` never needs it.

- :func:`schedule` — devices x slots with each device's offloaded layer blocks
  (the paper's Figs. 3, 6a, 7a, 10b); with several servers one panel per server;
- :func:`partition` — each device's layers, local or in which slot (Fig. 10a);
- :func:`partition_histogram`, :func:`slot_load` — many devices: partition points counted,
  devices per server and slot (what :func:`partition` and :func:`schedule` draw above
  :data:`SUMMARY_ABOVE` devices);
- :func:`convergence` — average cost per tick, one line per group (Fig. 5);
- :func:`compare` — a figure per case against a parameter: lines for a numeric
  x (Figs. 6b, 7b), grouped bars for a categorical x (Figs. 8, 9).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mecopt.core.cost import blocks
from mecopt.core.errors import InputError
from mecopt.core.solution import ResultFolder
from mecopt.core.tables import atomic_write
from mecopt.results import style

LOCAL_COLOR = "#d9d9d9"
QUEUE_COLOR = "#bdbdbd"
#: at most this many devices get a legend entry in :func:`schedule`
LEGEND_MAX = 20
#: above this many devices :func:`schedule` and :func:`partition` draw a summary instead (``max_devices``)
SUMMARY_ABOVE = 40


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


def styled(draw):
    """Run a plotting function inside the active :class:`~mecopt.results.style.FigureStyle`.

    Its fonts, colours and sizes then apply to every artist the function makes (matplotlib reads
    them when an artist is made); the function's docstring and signature are kept.
    """
    @functools.wraps(draw)
    def run(*args, **kwargs):
        require_matplotlib()
        with style.use(style.current()):
            return draw(*args, **kwargs)
    return run


def new_axes(ax, height: float):
    """``(figure, ax)``: ``ax`` and its figure, or a new figure of the active style's width and ``height`` inches."""
    Figure = require_matplotlib()
    if ax is not None:
        return ax.figure, ax
    fig = Figure(figsize=style.current().figsize(height), layout="constrained")
    return fig, fig.add_subplot()


def _colors(n: int):
    """Qualitative colours (one per device, method or group): Okabe-Ito up to 8, else tab20."""
    if n <= len(style.OKABE_ITO):
        return list(style.OKABE_ITO[:max(n, 0)])
    from matplotlib import colormaps
    cmap = colormaps["tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def integer_ticks(axis) -> None:
    """Only whole numbers as ticks on ``axis`` (``ax.xaxis`` or ``ax.yaxis``): counts, layers, ticks."""
    from matplotlib.ticker import MaxNLocator
    axis.set_major_locator(MaxNLocator(integer=True))


def plain_log_ticks(axis) -> None:
    """Log-axis tick labels as plain numbers (0.1, 1, 10), not mathtext powers of ten.

    A power's exponent is drawn at 70 % of the tick font, below 7 pt at a column's width.
    """
    from matplotlib.ticker import FuncFormatter, NullFormatter
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def put_legend(ax, below: bool = False, **kwargs):
    """A legend outside the axes: right of them, or under their x label (``below``, or a narrow column figure).

    Call it after the x label is set: the legend goes under as many lines as the label has.
    """
    st = style.current()
    if st.narrow or below or ax.get_position().width < 0.5:
        from matplotlib.transforms import ScaledTranslation
        lines = ax.get_xlabel().count("\n") + 1 if ax.get_xlabel() else 0
        ticks = 0 if not ax.xaxis.get_visible() else 1.3 * st.font + 4
        drop = (ticks + lines * 1.25 * st.font + 4) / 72       # inches below the axes
        import textwrap
        handles = kwargs.pop("handles", None)
        if handles:
            labels = [h.get_label() for h in handles]
        else:
            handles, labels = ax.get_legend_handles_labels()
        chars = int((st.width * 72 - 40) / (0.55 * st.small_font))     # a label no wider than the figure
        labels = ["\n".join(textwrap.wrap(str(t), chars)) or str(t) for t in labels]
        kwargs.update(handles=handles, labels=labels)
        column_in = (max((len(line) for t in labels for line in t.split("\n")), default=1) * 0.55 * st.small_font
                     + 30) / 72
        fit = max(1, int(st.width / column_in))
        kwargs.update(loc="upper center", bbox_to_anchor=(0.5, 0), ncol=min(kwargs.pop("ncol", 2), fit),
                      bbox_transform=ax.transAxes + ScaledTranslation(0, -drop, ax.figure.dpi_scale_trans))
    else:
        kwargs.setdefault("loc", "upper left")
        kwargs.setdefault("bbox_to_anchor", (1.01, 1.0))
    kwargs.setdefault("frameon", False)
    return ax.legend(**kwargs)


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


def save(fig, path: str | Path, dpi: int | None = None) -> Path:
    """Write ``fig`` to ``path`` (format from the suffix: .png, .pdf or .svg) atomically.

    Every figure of mecopt is written by this function. Vector files keep their text as text
    (TrueType fonts embedded in PDF, fonttype 42; ``<text>`` elements in SVG).

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure.
    path : str or pathlib.Path
        The file; without a suffix, that of the active style's format (default ``.png``).
    dpi : int or None, optional
        Resolution of raster formats; default the active style's (300).

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    InputError
        A suffix that is no image format matplotlib writes, or a file that cannot be written (named).
    """
    import matplotlib

    current = style.current()
    path = Path(path)
    if not path.suffix:
        path = path.with_suffix("." + current.fig_format)
    fmt = path.suffix.lstrip(".").lower()
    supported = fig.canvas.get_supported_filetypes()
    if fmt not in supported:
        raise InputError(f"cannot write {path}: no image format {fmt!r}; the suffix must be one of "
                         f"{', '.join('.' + k for k in sorted(supported))}")
    with matplotlib.rc_context({"pdf.fonttype": 42, "ps.fonttype": 42, "svg.fonttype": "none"}):
        return atomic_write(path, lambda tmp: fig.savefig(tmp, format=fmt, dpi=dpi or current.dpi))


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


@styled
def schedule(source, *, ax=None, title: str | None = None, max_devices: int | None = SUMMARY_ABOVE):
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
    max_devices : int or None, optional
        Above this many devices one row per device is unreadable: the per-server slot load
        (:func:`slot_load`) is drawn instead, and its title says so.
        None draws every device.

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
    n_devices = data.assignment["device"].nunique()
    if max_devices is not None and n_devices > max_devices:
        return slot_load(data, ax=None if isinstance(ax, Sequence | np.ndarray) else ax, title=(
            title if title is not None else f"{n_devices} devices (more than {max_devices}): slot load instead of "
            f"the schedule: {data.title}".rstrip(": ")))
    if data.servers:
        return _schedule_servers(data, ax, title)
    devices = _per_device(data.assignment)
    fig, ax = new_axes(ax, 0.6 * len(devices) + 1.8)
    _draw_schedule(ax, devices, data.H, data.frame_s, data.t_server)
    ax.set_title(wrap_title(ax, title if title is not None else
                            f"Server schedule (colour = device): {data.title}".rstrip(": ")))
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
        fig = Figure(figsize=style.current().figsize(sum(heights) + 0.6), layout="constrained")
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
                    f"{len(devices)} device(s)", fontsize=style.current().font)
    if local:
        more = len(local) - LEGEND_MAX
        shown = ", ".join(local[:LEGEND_MAX]) + (f", ... {more} more" if more > 0 else "")
        import textwrap

        # under the last panel's axis label, so that the layout makes room for it
        chars = int(style.current().width * 72 / (0.55 * style.current().font))
        note = "\n".join(textwrap.wrap(f"all local (no server): {shown}", chars))
        axes[-1].set_xlabel(f"{axes[-1].get_xlabel()}\n\n{note}")
    fig.suptitle(style.current().wrap(title if title is not None else
                                      f"Server schedules (colour = device): {data.title}".rstrip(": ")))
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
            ax.text(x0 + 0.04 * unit, y, _layers(a, b), va="center", ha="left", fontsize=style.current().small_font)
    if not any(np.any(s > 0) for _, s in devices):
        ax.text(0.5, 0.5, empty, transform=ax.transAxes,
                ha="center", va="center", fontsize=style.current().font, color="dimgrey", wrap=True)
    ncols = H + (1 if queued_any else 0)
    for h in range(ncols + 1):
        ax.axvline(h * unit, color="grey", lw=0.6, ls=":" if h not in (0, H) else "-")
    ax.set_xlim(0, ncols * unit)
    roomy = ax.get_position().width * ax.figure.get_figwidth() / ncols > 0.55     # inches per slot
    slot_names = [(f"slot {h}" if roomy else f"{h}") if h <= H else ("after frame" if roomy else "after")
                  for h in range(1, ncols + 1)]
    if frame_s:
        # seconds at the slot boundaries below, the slots' names on top
        ax.set_xticks([h * unit for h in range(ncols + 1)],
                      [f"{h * unit:.3g}" if roomy or h % 2 == 0 else "" for h in range(ncols + 1)])
        top = ax.secondary_xaxis("top")
        top.set_xticks([(h - 0.5) * unit for h in range(1, ncols + 1)], slot_names)
        top.tick_params(length=0)
        if not roomy:
            top.set_xlabel("slot")
    else:
        ax.set_xticks([(h - 0.5) * unit for h in range(1, ncols + 1)], slot_names)
    ax.set_yticks(range(len(devices)), labels[::-1], fontsize=style.current().small_font)
    ax.set_ylim(-0.6, len(devices) - 0.4)
    ax.set_xlabel(wrap_title(ax, f"server time in the frame (s); slot length T_d/H = {unit:.3g} s" if frame_s
                             else "slot (server times unknown: each block fills its slot)", style.current().font))
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
        put_legend(ax, handles=handles, title="block colour = device", ncol=3)


@styled
def partition(source, *, ax=None, title: str | None = None, max_devices: int | None = SUMMARY_ABOVE):
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
    max_devices : int or None, optional
        Above this many devices the partition-point histogram
        (:func:`partition_histogram`) is drawn instead, and its title
        says so. None draws every device.

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
    if max_devices is not None and len(devices) > max_devices:
        return partition_histogram(data, ax=ax, title=(
            title if title is not None else f"{len(devices)} devices (more than {max_devices}): partition points "
            f"instead of each device's layers: {data.title}".rstrip(": ")))
    fig, ax = new_axes(ax, 0.5 * len(devices) + 1.8)
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
        ax.text(len(slots) + 0.8, y, f"m* = {m_star}/{len(slots)}", va="center", fontsize=style.current().small_font)
    from matplotlib.patches import Patch
    handles = [Patch(color=LOCAL_COLOR, label="local")]
    handles += [Patch(color=slot_colors[(h - 1) % len(slot_colors)], label=f"slot {h}")
                for h in range(1, H + 1) if h in used]
    if queued:
        handles.append(Patch(color=QUEUE_COLOR, label="after frame"))
    names = [n for n, _ in devices]
    if data.servers:
        names = [f"{n} ({where.get(n) or 'all local'})" for n in names]
    ax.set_yticks(range(len(devices)), names[::-1])
    ax.set_xlim(0.5, max(len(s) for _, s in devices) + 5)
    integer_ticks(ax.xaxis)
    ax.set_xlabel(wrap_title(ax, "layer m (1 = first layer); black bar: partition point m*", style.current().font))
    put_legend(ax, below=True, handles=handles, title="layer colour = where it runs",
               ncol=min(len(handles), 4 if style.current().narrow else 7))
    ax.set_ylabel("device")
    ax.set_title(wrap_title(ax, title if title is not None else
                            f"Partition points (colour = slot): {data.title}".rstrip(": ")))
    return fig


# --------------------------------------------------------------------------- many devices

def _partition_points(data: ScheduleData) -> pd.DataFrame:
    """device, m_star (layers run locally), layers (M_n) of an assignment."""
    df = data.assignment
    g = df.groupby(df["device"].astype(str), sort=False)["slot"]
    return pd.DataFrame({"m_star": g.apply(lambda s: int((s.to_numpy() == 0).sum())), "layers": g.size()})


@styled
def partition_histogram(source, *, ax=None, title: str | None = None):
    """How many devices choose each partition point m* (the number of layers run locally).

    Bars are split into devices that offload something and devices that run their whole DNN
    locally (m* = M_n).

    Parameters
    ----------
    source : Solution, pandas.DataFrame, ResultFolder or ScheduleData
        What to draw (see :func:`schedule_data`).
    ax : matplotlib.axes.Axes or None, optional
        Where to draw; None for a new figure.
    title : str or None, optional
        The plot's title; None for a default one.

    Returns
    -------
    matplotlib.figure.Figure
        The figure drawn on.

    Raises
    ------
    InputError
        If ``source`` cannot be read, or matplotlib is not installed.
    """
    data = schedule_data(source)
    pp = _partition_points(data)
    fig, ax = new_axes(ax, 3.0)
    local = pp["m_star"] == pp["layers"]
    top = int(pp["m_star"].max()) if len(pp) else 0
    bins = np.arange(top + 1)
    offl = np.bincount(pp.loc[~local, "m_star"], minlength=top + 1)
    alll = np.bincount(pp.loc[local, "m_star"], minlength=top + 1)
    ax.bar(bins, offl, width=0.8, color=style.color(0), edgecolor="black", linewidth=0.4,
           label=f"offloads layers m*+1..M ({int((~local).sum())})")
    ax.bar(bins, alll, width=0.8, bottom=offl, color=style.color(3), hatch="//", edgecolor="black", linewidth=0.4,
           label=f"all local, m* = M ({int(local.sum())})")
    integer_ticks(ax.xaxis)
    integer_ticks(ax.yaxis)
    ax.set_xlabel("partition point m* (layers run locally)")
    ax.set_ylabel("devices")
    ax.grid(alpha=0.3, axis="y")
    put_legend(ax, ncol=1)
    ax.set_title(wrap_title(ax, title if title is not None else
                            f"Partition points of {len(pp)} devices: {data.title}".rstrip(": ")))
    return fig


def slot_loads(data: ScheduleData) -> pd.DataFrame:
    """Devices per server and slot: rows = servers, columns = slots 1..H (and ``after frame`` when queued).

    Parameters
    ----------
    data : ScheduleData
        An assignment with its servers.

    Returns
    -------
    pandas.DataFrame
        The number of devices with at least one layer in each (server, slot); a slot a server does not
        have is NaN.
    """
    df = data.assignment
    off = df[pd.to_numeric(df["slot"], errors="coerce") > 0]
    if data.servers:
        names = [n for n, _, _ in data.servers]
        H_of = {n: H for n, H, _ in data.servers}
        where = off["server"].astype(str)
    else:
        names = ["server"]
        H_of = {"server": data.H}
        where = pd.Series("server", index=off.index)
    H = max(H_of.values())
    queued = bool((off["slot"].to_numpy() > np.array([H_of.get(w, H) for w in where])).any()) if len(off) else False
    cols = [str(h) for h in range(1, H + 1)] + (["after frame"] if queued else [])
    table = pd.DataFrame(np.nan, index=names, columns=cols)
    for name in names:
        mine = off[where == name]
        Hk = H_of[name]
        for h in range(1, Hk + 1):
            table.loc[name, str(h)] = mine.loc[mine["slot"] == h, "device"].nunique()
        if queued:
            table.loc[name, "after frame"] = mine.loc[mine["slot"] > Hk, "device"].nunique()
    return table


@styled
def slot_load(source, *, ax=None, title: str | None = None):
    """Per server and slot, how many devices run a subtask there (a heatmap with the counts written in).

    Parameters
    ----------
    source : Solution, pandas.DataFrame, ResultFolder or ScheduleData
        What to draw (see :func:`schedule_data`).
    ax : matplotlib.axes.Axes or None, optional
        Where to draw; None for a new figure.
    title : str or None, optional
        The plot's title; None for a default one.

    Returns
    -------
    matplotlib.figure.Figure
        The figure drawn on.

    Raises
    ------
    InputError
        If ``source`` cannot be read, or matplotlib is not installed.
    """
    data = schedule_data(source)
    table = slot_loads(data)
    fig, ax = new_axes(ax, 1.2 + 0.45 * len(table))
    values = table.to_numpy(dtype=float)
    img = ax.imshow(np.ma.masked_invalid(values), aspect="auto", cmap="cividis", vmin=0,
                    vmax=max(1.0, float(np.nanmax(values)) if np.isfinite(values).any() else 1.0))
    vmax = img.get_clim()[1]
    for (r, c), v in np.ndenumerate(values):
        if np.isfinite(v):
            ax.text(c, r, f"{int(v)}", ha="center", va="center", fontsize=style.current().small_font,
                    color="white" if v < 0.6 * vmax else "black")
    ax.set_xticks(range(len(table.columns)), list(table.columns))
    ax.set_yticks(range(len(table)), list(table.index))
    ax.set_xlabel("slot h")
    ax.set_ylabel("server")
    bar = ax.figure.colorbar(img, ax=ax, pad=0.02)
    bar.set_label("devices in the slot")
    integer_ticks(bar.ax.yaxis)
    n = data.assignment["device"].nunique()
    local = n - data.assignment.loc[pd.to_numeric(data.assignment["slot"], errors="coerce") > 0, "device"].nunique()
    ax.set_title(wrap_title(ax, title if title is not None else
                            f"Slot load of {n} devices ({local} all local): {data.title}".rstrip(": ")))
    return fig



# --------------------------------------------------------------------------- tables

def _label(key) -> str:
    if isinstance(key, tuple):
        return ", ".join(str(k) for k in key)
    return str(key)


@styled
def convergence(trace, *, x: str = "tick", y: str = "avg_cost", by: Sequence[str] | str | None = ("N", "method"),
                ax=None, title: str | None = None, ylabel: str | None = None):
    """``y`` against ``x`` per group (Fig. 5: average cost per tick, several N, CAI vs UAI).

    ``trace``: a table with columns x, y and the ``by`` columns, or a mapping
    label -> trace table (e.g. ``{"CAI, N=5": solution.trace}``). Groups that
    share every ``by`` value but the last share a colour and a marker; the last varies the
    line style. A count on the x axis (ticks, iterations) gets whole-number ticks.

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
    fig, ax = new_axes(ax, 3.6)
    groups = list(trace.groupby(by, sort=True)) if by else [("", trace)]
    heads = list(dict.fromkeys(k[:-1] if isinstance(k, tuple) and len(k) > 1 else k for k, _ in groups))
    tails = list(dict.fromkeys(k[-1] for k, _ in groups if isinstance(k, tuple) and len(k) > 1))
    for key, g in groups:
        head = key[:-1] if isinstance(key, tuple) and len(key) > 1 else key
        tail = key[-1] if isinstance(key, tuple) and len(key) > 1 else None
        i = heads.index(head)
        ls = style.linestyle(tails.index(tail)) if tail is not None else "-"
        g = g.sort_values(x)
        ax.plot(g[x], g[y], ls=ls, color=style.color(i), marker=style.marker(i), markevery=max(1, len(g) // 12),
                label=_label(key if not isinstance(key, tuple) or len(by) > 1 else key[0]))
    ax.set_xlabel(column_label(x))
    ax.set_ylabel(ylabel or column_label(y))
    if x in COUNTS:
        integer_ticks(ax.xaxis)
    if y in COUNTS:
        integer_ticks(ax.yaxis)
    if by:
        put_legend(ax, title=", ".join(b for b in by if b != "_group") or None)
    ax.grid(alpha=0.3)
    ax.set_title(wrap_title(ax, title if title is not None else f"Convergence: {_no_unit(column_label(y))} per "
                            f"{_no_unit(column_label(x))}"))
    return fig


#: columns that count things: their axes get whole-number ticks
COUNTS = frozenset({"tick", "iterations", "N", "deadline_misses", "violations", "solver_calls", "count", "slots",
                    "calls", "ticks", "offloading_devices", "partition_point", "layer", "devices"})
#: methods that claim an optimum: a row of theirs whose termination is not ``optimal`` is drawn as unproven
OPTIMISERS = ("gtpos", "tpos-best")


def wrap_title(ax, text: str, fontsize: float | None = None) -> str:
    """``text`` wrapped to the width of ``ax`` at ``fontsize`` (default the title font size)."""
    fraction = min(1.0, ax.get_position().width / 0.775)
    return style.current().wrap(text, fontsize, fraction=fraction)


def _mean_and_band(values: pd.Series) -> tuple[float, float, int]:
    """Mean, half-width of its 95 % confidence interval (Student t; 0 for one value) and the count."""
    v = pd.to_numeric(values, errors="coerce").dropna().to_numpy(dtype=float)
    if len(v) == 0:
        return np.nan, 0.0, 0
    if len(v) == 1:
        return float(v[0]), 0.0, 1
    from scipy import stats
    half = float(stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)))
    return float(v.mean()), half, len(v)


def unproven_rows(table: pd.DataFrame, by: str | None = "method") -> pd.Series:
    """Which rows are an optimiser's result that is not proven optimal.

    An optimiser is a method of :data:`OPTIMISERS` or a series (``by`` value) with some row whose
    ``termination`` is ``optimal``; its rows with another termination (e.g. ``time_limit``) are the
    best found, not an optimum.

    Parameters
    ----------
    table : pandas.DataFrame
        A results table; without a ``termination`` column nothing is marked.
    by : str or None, optional
        The series column (``method``).

    Returns
    -------
    pandas.Series
        One bool per row.
    """
    if "termination" not in table.columns:
        return pd.Series(False, index=table.index)
    term = table["termination"].astype(str)
    if by is None or by not in table.columns:
        return (term != "optimal") & term.eq("optimal").any()
    optimal_series = set(table.loc[term == "optimal", by])
    names = table[by]
    claims = names.isin(optimal_series) | names.astype(str).isin(OPTIMISERS) | (
        table["method"].astype(str).isin(OPTIMISERS) if "method" in table.columns else False)
    return claims & (term != "optimal") & (term != "error")


def _unproven_label(rows: pd.DataFrame) -> str:
    """The legend entry of unproven points: their terminations and largest gap."""
    terms = ", ".join(sorted(set(rows["termination"].astype(str))))
    gap = pd.to_numeric(rows["gap"], errors="coerce").max() if "gap" in rows.columns else np.nan
    return f"not proven optimal ({terms}" + (f", gap up to {100 * gap:.3g} %" if np.isfinite(gap) else "") + ")"


@styled
def compare(table: pd.DataFrame, *, x: str, y: str, by: str | None = "method", ax=None,
            title: str | None = None, xlabel: str | None = None, ylabel: str | None = None,
            order: Sequence | None = None, labels: Mapping | None = None, log: bool = False):
    """``y`` against ``x``, one series per ``by`` value, averaged over the other rows (e.g. seeds).

    A numeric ``x`` gives lines with markers (Figs. 6b, 7b); otherwise grouped bars
    with x in ``order`` (default: as first seen) (Figs. 8, 9). ``labels`` renames
    series (e.g. method -> "Case 1 (TPOS-UAI)"). Where a point averages several rows (seeds),
    a band (lines) or an error bar (bars) shows the 95 % confidence interval of the mean
    (Student t). A point of an optimiser (GTPOS, tpos-best) that is not proven optimal
    (:func:`unproven_rows`) is ringed in black, with a legend entry naming its termination and gap.

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
    df["_unproven"] = unproven_rows(df, by).to_numpy()
    keys = [by, x] if by else [x]
    rows = []
    for key, g in df.groupby(keys, sort=False):
        mean, half, n = _mean_and_band(g[y])
        key = key if isinstance(key, tuple) else (key,)
        rows.append(dict(zip(keys, key), **{y: mean, "_half": half, "_n": n, "_unproven": bool(g["_unproven"].any())}))
    mean = pd.DataFrame(rows, columns=[*keys, y, "_half", "_n", "_unproven"])
    series = list(dict.fromkeys(mean[by])) if by else [None]
    fig, ax = new_axes(ax, 3.6)
    numeric = pd.api.types.is_numeric_dtype(df[x]) and not pd.api.types.is_bool_dtype(df[x])
    xs = list(order) if order is not None else list(dict.fromkeys(df[x]))
    width = 0.8 / max(1, len(series))
    banded = bool((mean["_n"] > 1).any())
    for i, s in enumerate(series):
        g = mean[mean[by] == s] if by else mean
        name = (labels or {}).get(s, s) if by else y
        if numeric:
            g = g.sort_values(x)
            ax.plot(g[x], g[y], marker=style.marker(i), ls=style.linestyle(i), color=style.color(i), label=name)
            if (g["_n"] > 1).any():
                ax.fill_between(g[x], g[y] - g["_half"], g[y] + g["_half"], color=style.color(i), alpha=0.2, lw=0)
        else:
            pick = [g[g[x] == v] for v in xs]
            vals = [p[y].mean() if len(p) else np.nan for p in pick]
            err = [p["_half"].mean() if len(p) else 0.0 for p in pick]
            ax.bar(np.arange(len(xs)) + (i - (len(series) - 1) / 2) * width, vals, width, color=style.color(i),
                   label=name, hatch=HATCHES[i % len(HATCHES)], edgecolor="black", linewidth=0.5,
                   yerr=err if any(e > 0 for e in err) else None, capsize=2)
    open_rows = df[df["_unproven"]]
    if not open_rows.empty:
        pts = mean[mean["_unproven"]]
        if numeric:
            px = pts[x].to_numpy(dtype=float)
        else:
            slot = {v: j for j, v in enumerate(xs)}
            px = np.array([slot.get(v, np.nan) + (series.index(s) - (len(series) - 1) / 2) * width
                           for v, s in zip(pts[x], pts[by] if by else [None] * len(pts))])
        ax.scatter(px, pts[y], s=80, facecolors="none", edgecolors="black", linewidths=1.2, zorder=5,
                   label=_unproven_label(open_rows))
    if not numeric:
        ax.set_xticks(np.arange(len(xs)), [str(v) for v in xs])
    elif x in COUNTS:
        integer_ticks(ax.xaxis)
    if y in COUNTS and not log:
        integer_ticks(ax.yaxis)
    if log:
        ax.set_yscale("log")
        plain_log_ticks(ax.yaxis)
    ax.set_xlabel(xlabel or column_label(x))
    ax.set_ylabel((ylabel or column_label(y)) + (" (log scale)" if log else ""))
    if by or not open_rows.empty:
        put_legend(ax, title=column_label(by) if by else None)
    ax.grid(alpha=0.3, axis="y" if not numeric else "both")
    mean_note = (", mean over seeds" + (" (band: 95 % CI)" if numeric else " (bars: 95 % CI)")) if banded else ""
    per = f", per {column_label(by)}" if by else ""
    ax.set_title(wrap_title(ax, title if title is not None else f"{_no_unit(column_label(y))} vs "
                            f"{_no_unit(column_label(x))}{per}{mean_note}"))
    return fig


#: bar hatches, one per series (bars then differ in grey print too)
HATCHES = ("", "//", "..", "xx", "\\\\", "++", "oo", "--")
