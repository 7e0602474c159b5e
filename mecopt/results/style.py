"""The look of every figure: size presets, font sizes, colour-blind-safe colours, markers and line styles.

A :class:`FigureStyle` names a printed width (``column``: 3.5 in, one column of a two-column
paper; ``double``: 7.16 in, both columns; ``slides``: 10 in) and an output format (png, pdf,
svg). Inside ``with style.use(FigureStyle(...)):`` every plot of :mod:`mecopt.results.plots`
is that wide, and its text is at least :data:`MIN_FONT_PT` points at that width (the figure
is saved at its printed size, so a font's size in the file is its size on paper). Vector
files keep their text as text (TrueType fonts embedded, fonttype 42; SVG text as ``<text>``).

Colours are the Okabe-Ito palette (Okabe and Ito, 2008: distinguishable with every common
colour-vision deficiency); series also differ by marker and line style, so a figure reads in
grey print too.
"""

from __future__ import annotations

import contextlib
import contextvars
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass

from mecopt.core.errors import InputError

#: the Okabe-Ito palette, in the order series take it (yellow last: faint as a line on white)
OKABE_ITO = ("#0072B2", "#D55E00", "#009E73", "#E69F00", "#56B4E9", "#CC79A7", "#000000", "#F0E442")
#: one marker per series, after the colours
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
#: one line style per series (or per group of a convergence plot)
LINESTYLES = ("-", "--", ":", "-.")
#: printed widths of the size presets (inches)
WIDTHS = {"column": 3.5, "double": 7.16, "slides": 10.0}
SIZES = tuple(WIDTHS)
#: image formats a figure can be written in
FIG_FORMATS = ("png", "pdf", "svg")
#: no text of a figure is smaller than this at its printed width (points)
MIN_FONT_PT = 7.0
#: base font size (points) per preset: labels, ticks; small text (bar labels, notes) 1 pt less, titles 1 pt more
BASE_FONT_PT = {"column": 8.0, "double": 9.0, "slides": 14.0}


@dataclass(frozen=True)
class FigureStyle:
    """A size preset and an image format.

    Attributes
    ----------
    size : {"column", "double", "slides"}
        The printed width: 3.5 in (a column of a two-column paper), 7.16 in (both columns) or 10 in (slides).
    fig_format : {"png", "pdf", "svg"}
        The format of files written without a suffix (and of the CLI's default file names).
    dpi : int
        Resolution of PNG files.

    Examples
    --------
    >>> from mecopt.results.style import FigureStyle
    >>> s = FigureStyle("column", "pdf")
    >>> s.width, s.font, s.small_font >= 7
    (3.5, 8.0, True)
    """

    size: str = "double"
    fig_format: str = "png"
    dpi: int = 300

    def __post_init__(self):
        if self.size not in WIDTHS:
            raise InputError(f"The 'size' option must be one of {', '.join(SIZES)}. Got {self.size!r} instead.")
        if self.fig_format not in FIG_FORMATS:
            raise InputError(f"The 'fig-format' option must be one of {', '.join(FIG_FORMATS)}. "
                             f"Got {self.fig_format!r} instead.")

    @property
    def width(self) -> float:
        """The printed width (inches)."""
        return WIDTHS[self.size]

    @property
    def font(self) -> float:
        """Base font size (points): axis labels, ticks and legends."""
        return BASE_FONT_PT[self.size]

    @property
    def small_font(self) -> float:
        """Font size of small text (labels inside bars, notes), never below :data:`MIN_FONT_PT`."""
        return max(MIN_FONT_PT, self.font - 1)

    @property
    def title_font(self) -> float:
        """Font size of titles."""
        return self.font + 1

    @property
    def narrow(self) -> bool:
        """Whether panels are stacked and legends go under the axes (the column preset)."""
        return self.width < 5

    def figsize(self, height: float) -> tuple[float, float]:
        """(width, height) in inches: the preset's width and ``height`` (given for the double-column width).

        Heights scale with the width for slides; a column figure keeps the height it is given (its
        text does not shrink with it), so panels stay readable.
        """
        return self.width, height * (self.width / WIDTHS["double"] if self.size == "slides" else 1.0)

    def rc(self) -> dict:
        """The matplotlib rcParams of this style."""
        from cycler import cycler
        return {
            "font.size": self.font, "axes.titlesize": self.title_font, "axes.labelsize": self.font,
            "xtick.labelsize": self.font, "ytick.labelsize": self.font, "legend.fontsize": self.small_font,
            "legend.title_fontsize": self.small_font, "figure.titlesize": self.title_font,
            "axes.prop_cycle": cycler(color=list(OKABE_ITO)),
            "pdf.fonttype": 42, "ps.fonttype": 42, "svg.fonttype": "none",
            "savefig.dpi": self.dpi, "lines.linewidth": 1.2 if self.narrow else 1.5,
            "lines.markersize": 4 if self.narrow else 5,
        }

    def wrap(self, text: str, fontsize: float | None = None, fraction: float = 1.0) -> str:
        """``text`` wrapped to lines that fit ``fraction`` of the figure width at ``fontsize`` points."""
        size = fontsize or self.title_font
        chars = max(20, int(0.9 * fraction * self.width * 72 / (0.6 * size)))
        return "\n".join(textwrap.wrap(text, chars)) if len(text) > chars else text


#: the default style (used when no other is active)
DEFAULT = FigureStyle()
_ACTIVE: contextvars.ContextVar[FigureStyle] = contextvars.ContextVar("figure_style", default=DEFAULT)


def current() -> FigureStyle:
    """The active :class:`FigureStyle` (:data:`DEFAULT` outside :func:`use`)."""
    return _ACTIVE.get()


@contextlib.contextmanager
def use(style: FigureStyle | None = None) -> Iterator[FigureStyle]:
    """Draw (and save) with ``style``: its rcParams and its sizes for every figure built inside.

    Parameters
    ----------
    style : FigureStyle or None, optional
        The style; None for :data:`DEFAULT`.

    Yields
    ------
    FigureStyle
        The style in use.
    """
    import matplotlib

    style = style or DEFAULT
    token = _ACTIVE.set(style)
    try:
        with matplotlib.rc_context(style.rc()):
            yield style
    finally:
        _ACTIVE.reset(token)


def color(i: int) -> str:
    """The ``i``-th series colour (Okabe-Ito, cycled)."""
    return OKABE_ITO[i % len(OKABE_ITO)]


def marker(i: int) -> str:
    """The ``i``-th series marker."""
    return MARKERS[i % len(MARKERS)]


def linestyle(i: int) -> str:
    """The ``i``-th series line style."""
    return LINESTYLES[i % len(LINESTYLES)]
