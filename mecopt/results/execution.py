"""Figures of an executed plan (``mecopt execute``, issue 25): predicted vs measured, and the slots' timeline.

:func:`figure` draws two panels from the report tables of
:mod:`mecopt.byo.execution.report`: each device's measured T_n against the
predicted (24) with the y = x line and a ±20 % band, and the frame of every
server on its own clock: slot boundaries (T_d/H), each device's layers as bars
where they ran, overrunning layers outlined in red.
"""

from __future__ import annotations

import pandas as pd

from mecopt.results.plots import require_matplotlib


def device_colors(n: int) -> list:
    """Qualitative colours, one per device (tab10, tab20 beyond ten).

    Parameters
    ----------
    n : int
        Number of devices.

    Returns
    -------
    list
        RGBA tuples.
    """
    from matplotlib import colormaps
    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def figure(devices: pd.DataFrame, frame: pd.DataFrame, slots: pd.DataFrame, title: str = ""):
    """Predicted vs measured T_n (left) and the timeline of the slots (right).

    Parameters
    ----------
    devices : pandas.DataFrame
        :func:`mecopt.byo.execution.report.devices_table`.
    frame : pandas.DataFrame
        The frame records (server, device, slot, layer, start, end; s from the frame start).
    slots : pandas.DataFrame
        :func:`mecopt.byo.execution.report.slots_table`.
    title : str, optional
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    Figure = require_matplotlib()
    fig = Figure(figsize=(12, 4.8), layout="constrained")
    ax, tl = fig.subplots(1, 2, width_ratios=[1, 1.6])
    colors = dict(zip(devices["device"], device_colors(len(devices))))
    pred, meas = devices["pred_T_s"], devices["meas_T_s"]
    hi = float(max(pred.max(), meas.max())) * 1.1 if len(devices) else 1.0
    ax.fill_between([0, hi], [0, 0.8 * hi], [0, 1.2 * hi], color="#eeeeee", label="±20 %")
    ax.plot([0, hi], [0, hi], color="black", lw=0.8, label="measured = predicted")
    for _, r in devices.iterrows():
        ax.scatter(r["pred_T_s"], r["meas_T_s"], color=colors[r["device"]], zorder=3,
                   marker="o" if r["server"] else "s")
        ax.annotate(r["device"], (r["pred_T_s"], r["meas_T_s"]), fontsize=7, xytext=(3, 3),
                    textcoords="offset points")
    ax.set(xlim=(0, hi), ylim=(0, hi), xlabel="predicted T_n (24) [s]", ylabel="measured T_n [s]",
           title="delay per device (square: all local)")
    ax.legend(loc="upper left", fontsize=8)
    servers = list(dict.fromkeys(slots["server"])) if len(slots) else []
    row = 0
    ticks, labels = [], []
    for name in servers:
        mine = slots[slots["server"] == name]
        slot_len = float(mine["slot_len_s"].iloc[0])
        recs = frame[frame["server"] == name] if len(frame) else frame
        devs = list(dict.fromkeys(recs["device"])) if len(recs) else []
        for h in range(len(mine) + 1):
            tl.axvline(h * slot_len, color="#999999", lw=0.6, ls="--" if 0 < h < len(mine) else "-")
        for d in devs:
            for _, x in recs[recs["device"] == d].iterrows():
                over = x["end"] > x["slot"] * slot_len
                tl.barh(row, x["end"] - x["start"], left=x["start"], color=colors.get(d, "grey"),
                        edgecolor="red" if over else "white", lw=1.2)
            ticks.append(row)
            labels.append(f"{name}:{d}" if len(servers) > 1 else d)
            row += 1
        row += 0.5
    tl.set_yticks(ticks, labels, fontsize=8)
    tl.invert_yaxis()
    tl.set(xlabel="time from the frame start [s] (dashed: slot boundaries T_d/H)",
           title="server frame: layers as run (red edge: past its slot)")
    if title:
        fig.suptitle(title)
    return fig
