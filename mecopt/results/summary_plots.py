"""Figures that summarise many devices (hundreds), where one row per device is unreadable.

- :func:`delay_cdf` — the distribution of the per-device delay T_n (24) (or energy, cost), one
  step curve per method;
- :func:`equilibrium_vs_optimum` — per device, its figure at the equilibrium against its
  figure in the optimum (GTPOS), with the diagonal.

The partition-point histogram and the per-server slot load, which summarise one solution's
assignment, are :func:`mecopt.results.plots.partition_histogram` and
:func:`mecopt.results.plots.slot_load`.

A method's result that claims an optimum but is not proven optimal (a GTPOS or tpos-best run
stopped by its time limit) is drawn with a distinct marker or line style and a legend entry
naming its termination and gap. Every function returns the
:class:`matplotlib.figure.Figure` drawn on, and draws on ``ax`` when given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from mecopt.core.errors import InputError
from mecopt.core.solution import ResultFolder
from mecopt.results import style
from mecopt.results.plots import OPTIMISERS, column_label, new_axes, put_legend, styled, wrap_title

#: per-device columns :func:`delay_cdf` and :func:`equilibrium_vs_optimum` can draw
DEVICE_METRICS = ("delay_s", "energy_j", "cost", "price")


def _devices(source) -> tuple[pd.DataFrame, str, str | None, float | None]:
    """(devices table, method, termination, gap) of a Solution, a result folder or a devices table."""
    if isinstance(source, ResultFolder):
        if source.solution is None:
            raise InputError(f"{source.path} does not read back as a whole solution: per-device figures need one")
        source = source.solution
    if hasattr(source, "devices_frame"):
        gap = getattr(source, "gap", None)
        return source.devices_frame(), str(source.method), str(source.termination), gap
    if isinstance(source, pd.DataFrame):
        if "device" not in source.columns:
            raise InputError("a devices table needs a 'device' column")
        return source, "", None, None
    raise InputError(f"cannot read per-device figures from {type(source).__name__}: give a Solution, a result "
                     "folder or a devices table")


def is_unproven(method: str, termination: str | None) -> bool:
    """Whether a result claims an optimum it has not proven (an optimiser's, not ``optimal``).

    Parameters
    ----------
    method : str
        The method's name.
    termination : str or None
        Its termination (None: unknown, then not marked).

    Returns
    -------
    bool
    """
    return termination is not None and method in OPTIMISERS and termination not in ("optimal", "error")


def unproven_note(termination: str | None, gap: float | None) -> str:
    """``"not proven optimal (time_limit, gap 3.2 %)"``: the legend text of an unproven result."""
    g = f", gap {100 * gap:.3g} %" if gap is not None and np.isfinite(gap) else ""
    return f"not proven optimal ({termination}{g})"


def _labelled(sources) -> list[tuple[str, object]]:
    if isinstance(sources, Mapping):
        return [(str(k), v) for k, v in sources.items()]
    if isinstance(sources, Sequence) and not isinstance(sources, str | pd.DataFrame):
        return [("", s) for s in sources]
    return [("", sources)]


@styled
def delay_cdf(sources, *, metric: str = "delay_s", ax=None, title: str | None = None):
    """The empirical CDF of a per-device figure (default the delay T_n, eq. 24), one curve per method.

    Parameters
    ----------
    sources : Solution, ResultFolder, pandas.DataFrame, or a sequence or mapping of them
        The results to compare; a mapping gives each its legend label (default: the method's name).
    metric : {"delay_s", "energy_j", "cost", "price"}, optional
        The per-device column of :meth:`mecopt.core.solution.Solution.devices_frame`.
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
        If a source cannot be read or lacks ``metric``, or matplotlib is not installed.
    """
    fig, ax = new_axes(ax, 3.2)
    n_max = 0
    for i, (label, src) in enumerate(_labelled(sources)):
        df, method, term, gap = _devices(src)
        if metric not in df.columns:
            raise InputError(f"the devices table lacks column {metric!r} (has {list(df.columns)})")
        v = np.sort(pd.to_numeric(df[metric], errors="coerce").dropna().to_numpy(dtype=float))
        n_max = max(n_max, len(v))
        name = label or method or f"result {i + 1}"
        open_ = is_unproven(method, term)
        if open_:
            name += f" — {unproven_note(term, gap)}"
        ax.step(np.r_[v[:1], v], np.arange(len(v) + 1) / max(1, len(v)), where="post", color=style.color(i),
                ls=":" if open_ else style.linestyle(i), label=name)
        # a marker every few devices so that curves differ in grey print too
        every = max(1, len(v) // 8)
        ax.plot(v[::every], (np.arange(1, len(v) + 1) / len(v))[::every], ls="none", color=style.color(i),
                marker="x" if open_ else style.marker(i), fillstyle="none" if open_ else "full")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(column_label(metric))
    ax.set_ylabel("fraction of devices")
    ax.grid(alpha=0.3)
    put_legend(ax, title="method", ncol=1)
    ax.set_title(wrap_title(ax, title if title is not None else
                            f"Per-device {column_label(metric).split(' (')[0]}: CDF over {n_max} devices"))
    return fig


@styled
def equilibrium_vs_optimum(equilibrium, optimum, *, metric: str = "delay_s", ax=None, title: str | None = None):
    """Per device: its figure at the equilibrium (y) against its figure in the optimum (x), with y = x.

    Points above the diagonal are devices the equilibrium serves worse than the optimum. When the
    optimum is not proven optimal (e.g. GTPOS stopped by its time limit), its points are drawn as
    crosses and the legend says so with the termination and gap.

    Parameters
    ----------
    equilibrium, optimum : Solution, ResultFolder or pandas.DataFrame
        The two results of the same instance (devices matched by name).
    metric : {"delay_s", "energy_j", "cost", "price"}, optional
        The per-device column of :meth:`mecopt.core.solution.Solution.devices_frame`.
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
        If a source cannot be read, lacks ``metric``, or the two share no device.
    """
    eq, eq_method, _, _ = _devices(equilibrium)
    opt, opt_method, term, gap = _devices(optimum)
    for df in (eq, opt):
        if metric not in df.columns:
            raise InputError(f"the devices table lacks column {metric!r} (has {list(df.columns)})")
    both = eq[["device", metric]].merge(opt[["device", metric]], on="device", suffixes=("_eq", "_opt"))
    if both.empty:
        raise InputError("the two results share no device name: give two results of the same instance")
    fig, ax = new_axes(ax, 3.4)
    x, y = both[f"{metric}_opt"].to_numpy(dtype=float), both[f"{metric}_eq"].to_numpy(dtype=float)
    open_ = is_unproven(opt_method, term)
    label = f"device ({len(both)})" + (f"; optimum {unproven_note(term, gap)}" if open_ else "")
    ax.scatter(x, y, s=14, marker="x" if open_ else "o", color=style.color(1 if open_ else 0), label=label,
               alpha=0.8, linewidths=1.0)
    lo, hi = float(min(x.min(), y.min())), float(max(x.max(), y.max()))
    pad = 0.03 * (hi - lo or 1.0)
    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="black", lw=0.8, ls="--", label="y = x")
    name = column_label(metric)
    ax.set_xlabel(f"{name}, {opt_method or 'optimum'}")
    ax.set_ylabel(f"{name}, {eq_method or 'equilibrium'}")
    ax.grid(alpha=0.3)
    put_legend(ax, ncol=1)
    worse = int((y > x * (1 + 1e-9)).sum())
    ax.set_title(wrap_title(ax, title if title is not None else
                            f"Equilibrium vs optimum per device: {worse} of {len(both)} worse off"))
    return fig
