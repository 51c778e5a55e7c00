"""Charts for the PDF: chart data (built by `report.model`) → vector SVG text.

Rendering is deterministic so that the same model gives a byte-identical PDF: a fixed
`svg.hashsalt` makes matplotlib's element ids stable and `metadata={'Date': None}` keeps the
clock out of the file. Text stays text (`svg.fonttype = 'none'`): WeasyPrint sets it in DejaVu
Sans, the font matplotlib measured it with, so labels are searchable in the PDF and the SVG has
a third fewer nodes to draw than with glyph outlines. Figures are built with the
object-oriented API (`matplotlib.figure.Figure`) rather than pyplot: no GUI backend is ever
selected, no global figure registry is touched, and nothing leaks between renders.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from typing import Any, Literal

import matplotlib as mpl
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from matplotlib.typing import RcKeyType

ChartKind = Literal["line", "bar", "stacked", "hbar"]

SVG_SALT = "auditpack-report"  # any fixed string: ids in the SVG derive from it
_WIDTH_IN = 7.0  # fits the 18 cm text block of an A4 page with 1.5 cm margins
_HEIGHT_IN = 2.3
_PALETTE = ("#1f4e79", "#c55a11", "#548235", "#7f6000", "#7030a0", "#2e75b6", "#a6a6a6")
_MAX_X_TICKS = 10
_LABEL_MAX = 40  # characters of a category label before it is shortened
_CHAR_IN = 0.062  # inches per character of a 7 pt DejaVu Sans label (e-mails run wide)
_LEFT_MAX_IN = 2.9  # at most this much of the 7 in width goes to category labels
# Lines that run close together (WAU, MAU and seats) stay apart by dash pattern as well as
# colour, also in grey print and for colour-blind readers.
_LINE_STYLES = ("-", "--", ":", "-.")
_MAX_BARS = 31

_RC: dict[RcKeyType, Any] = {
    "svg.hashsalt": SVG_SALT,
    "svg.fonttype": "none",
    "font.family": "DejaVu Sans",
    "font.size": 7.0,
    "axes.titlesize": 8.0,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.axisbelow": True,
    "grid.color": "#d9d9d9",
    "grid.linewidth": 0.5,
    "legend.frameon": False,
    "legend.fontsize": 6.5,
}


@dataclass(frozen=True)
class Series:
    """One named line or bar set; `None` is a day or category without data."""

    name: str
    values: tuple[float | None, ...]


@dataclass(frozen=True)
class ChartData:
    """Everything a chart shows, precomputed: the renderer only draws it.

    `secondary` names series drawn against a right-hand axis because their scale differs
    (sign-ins beside failures).
    """

    name: str
    title: str
    kind: ChartKind
    x: tuple[str, ...]
    series: tuple[Series, ...]
    y_label: str = ""
    secondary: tuple[str, ...] = ()
    alt: str = ""


def render_svg(chart: ChartData) -> str:
    """The chart as a standalone SVG document (UTF-8 text)."""
    with mpl.rc_context(_RC), warnings.catch_warnings():
        # A missing glyph (an emoji in a connector name) must not fail or spam the build;
        # matplotlib draws a placeholder box instead.
        warnings.simplefilter("ignore", UserWarning)
        height = _chart_height(chart)
        figure = Figure(figsize=(_WIDTH_IN, height))
        axes = figure.add_subplot()
        _DRAW[chart.kind](axes, chart)
        # No title in the picture: the page sets it as a caption, searchable and never
        # crowded by the legend.
        if chart.y_label:
            axes.set_ylabel(chart.y_label)
        _margins(figure, chart, height)
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()


# --- drawing --------------------------------------------------------------------------------


def _chart_height(chart: ChartData) -> float:
    """Horizontal bar charts grow with their categories so labels never overlap."""
    if chart.kind == "hbar":
        return max(1.4, 0.5 + 0.17 * len(chart.x))
    return _HEIGHT_IN


def _margins(figure: Figure, chart: ChartData, height: float) -> None:
    """Fixed margins in inches (tight_layout would draw the figure twice to measure it).

    Room on the left for tick labels (category names on horizontal bars), on the right for a
    secondary axis, on top for the legend row.
    """
    if chart.kind == "hbar":
        longest = max((len(_shorten(label)) for label in chart.x), default=4)
        left = min(_LEFT_MAX_IN, 0.15 + _CHAR_IN * longest)
    else:
        left = 0.5 + (0.12 if chart.y_label else 0.0)
    right = 0.5 if chart.secondary else 0.15
    top = 0.3 if _has_legend(chart) else 0.1
    figure.subplots_adjust(left=left / _WIDTH_IN, right=1 - right / _WIDTH_IN,
                           bottom=0.3 / height, top=1 - top / height)


def _has_legend(chart: ChartData) -> bool:
    return len(chart.series) > 1


def _positions(chart: ChartData) -> list[int]:
    return list(range(len(chart.x)))


def _values(series: Series) -> list[float]:
    """Bars cannot stack a gap; a missing value draws as zero height."""
    return [v if v is not None else 0.0 for v in series.values]


def _line_values(series: Series) -> list[float]:
    """Lines break at a missing value (NaN) instead of dropping to zero."""
    return [v if v is not None else float("nan") for v in series.values]


def _draw_line(axes: Axes, chart: ChartData) -> None:
    x = _positions(chart)
    right = axes.twinx() if chart.secondary else None
    for index, series in enumerate(chart.series):
        target = right if right is not None and series.name in chart.secondary else axes
        target.plot(x, _line_values(series), color=_PALETTE[index % len(_PALETTE)],
                    linestyle=_LINE_STYLES[index % len(_LINE_STYLES)], linewidth=1.1,
                    label=series.name)
    _finish(axes, chart, right)


def _draw_bar(axes: Axes, chart: ChartData) -> None:
    """Side-by-side bars for a few categories; daily series as step areas (see `_many`)."""
    x = _positions(chart)
    primary = [s for s in chart.series if s.name not in chart.secondary]
    width = 0.8 / max(1, len(primary))
    right = axes.twinx() if chart.secondary else None
    for index, series in enumerate(chart.series):
        color = _PALETTE[index % len(_PALETTE)]
        if right is not None and series.name in chart.secondary:
            right.plot(x, _line_values(series), color=color, linewidth=1.0, label=series.name)
        elif _many(chart):
            axes.stairs(_values(series), _edges(chart), fill=True, color=color,
                        alpha=0.85, label=series.name)
        else:
            offset = (index - (len(primary) - 1) / 2) * width
            axes.bar([p + offset for p in x], _values(series), width=width, color=color,
                     label=series.name)
    _finish(axes, chart, right)


def _draw_stacked(axes: Axes, chart: ChartData) -> None:
    x = _positions(chart)
    bottom = [0.0] * len(x)
    for index, series in enumerate(chart.series):
        values = _values(series)
        top = [b + v for b, v in zip(bottom, values, strict=True)]
        color = _PALETTE[index % len(_PALETTE)]
        if _many(chart):
            axes.stairs(top, _edges(chart), baseline=bottom, fill=True, color=color,
                        label=series.name)
        else:
            axes.bar(x, values, bottom=bottom, width=0.8, color=color, label=series.name)
        bottom = top
    _finish(axes, chart, None)


def _many(chart: ChartData) -> bool:
    """Past a month of categories a bar per day is a hairline: draw one filled step path per
    series instead, which reads the same and is one SVG element rather than hundreds."""
    return len(chart.x) > _MAX_BARS


def _edges(chart: ChartData) -> list[float]:
    return [i - 0.5 for i in range(len(chart.x) + 1)]


def _draw_hbar(axes: Axes, chart: ChartData) -> None:
    """Categories top to bottom in the order given (largest first, as the model sorts them)."""
    y = _positions(chart)
    height = 0.8 / max(1, len(chart.series))
    for index, series in enumerate(chart.series):
        offset = (index - (len(chart.series) - 1) / 2) * height
        axes.barh([p + offset for p in y], _values(series), height=height,
                  color=_PALETTE[index % len(_PALETTE)], label=series.name)
    axes.set_yticks(y, [_shorten(label) for label in chart.x])
    axes.invert_yaxis()
    axes.grid(axis="y", visible=False)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    if _has_legend(chart):
        axes.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncols=3, borderaxespad=0.2)


def _finish(axes: Axes, chart: ChartData, right: Axes | None) -> None:
    """Thinned x labels, integer ticks and one legend for both axes."""
    x = _positions(chart)
    step = max(1, -(-len(x) // _MAX_X_TICKS))  # ceiling division
    ticks = x[::step]
    axes.set_xticks(ticks, [_shorten(chart.x[i]) for i in ticks])
    axes.set_xlim(-0.6, len(x) - 0.4)
    axes.set_ylim(bottom=0)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))  # counts: no 0.5 of a key
    axes.grid(axis="x", visible=False)
    handles, labels = axes.get_legend_handles_labels()
    if right is not None:
        right.set_ylim(bottom=0)
        right.yaxis.set_major_locator(MaxNLocator(integer=True))
        right.grid(visible=False)
        right.spines["right"].set_visible(True)
        _axis_colours(axes, right, chart)
        more_handles, more_labels = right.get_legend_handles_labels()
        handles, labels = handles + more_handles, labels + more_labels
    if len(labels) > 1:  # above the plot: never over the data
        axes.legend(handles, labels, loc="lower left", bbox_to_anchor=(0.0, 1.0),
                    ncols=min(5, len(labels)), borderaxespad=0.2)


def _axis_colours(left: Axes, right: Axes, chart: ChartData) -> None:
    """Two scales on one chart: each axis takes the colour of the series it measures, so a
    reader sees which numbers belong to the bars and which to the line."""
    for axes, on_right in ((left, False), (right, True)):
        colours = {_PALETTE[i % len(_PALETTE)] for i, s in enumerate(chart.series)
                   if (s.name in chart.secondary) == on_right}
        if len(colours) == 1:
            (colour,) = colours
            axes.tick_params(axis="y", colors=colour)
            axes.spines["right" if on_right else "left"].set_color(colour)


_DRAW = {"line": _draw_line, "bar": _draw_bar, "stacked": _draw_stacked, "hbar": _draw_hbar}


def _shorten(label: str) -> str:
    return label if len(label) <= _LABEL_MAX else label[: _LABEL_MAX - 1] + "…"


def describe(chart: ChartData) -> str:
    """A one-sentence text alternative for the chart (PDF accessibility, screen readers)."""
    if chart.alt:
        return chart.alt
    names = ", ".join(s.name for s in chart.series)
    span = f"{chart.x[0]} to {chart.x[-1]}" if chart.x else "no data"
    return f"{chart.title}: {names} over {span}."

