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
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import matplotlib as mpl
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from matplotlib.typing import RcKeyType

ChartKind = Literal["line", "bar", "stacked", "hbar"]

SVG_SALT = "auditpack-report"  # any fixed string: ids in the SVG derive from it
_WIDTH_IN = 6.7  # fits the 17 cm text block of an A4 page with 2 cm margins
_HEIGHT_IN = 2.3
_PALETTE = ("#1f4e79", "#c55a11", "#548235", "#7f6000", "#7030a0", "#2e75b6", "#a6a6a6")
_MAX_X_TICKS = 10
_LABEL_MAX = 32  # characters of a category label before it is shortened

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

    `reference` is a horizontal (or, for `hbar`, vertical) line such as a rotation limit;
    `secondary` names series drawn against a right-hand axis because their scale differs
    (sign-ins beside failures).
    """

    name: str
    title: str
    kind: ChartKind
    x: tuple[str, ...]
    series: tuple[Series, ...]
    y_label: str = ""
    reference: tuple[float, str] | None = None
    secondary: tuple[str, ...] = ()
    alt: str = ""


def render_svg(chart: ChartData) -> str:
    """The chart as a standalone SVG document (UTF-8 text)."""
    with mpl.rc_context(_RC), warnings.catch_warnings():
        # A missing glyph (an emoji in a connector name) must not fail or spam the build;
        # matplotlib draws a placeholder box instead.
        warnings.simplefilter("ignore", UserWarning)
        figure = Figure(figsize=(_WIDTH_IN, _chart_height(chart)))
        axes = figure.add_subplot()
        _DRAW[chart.kind](axes, chart)
        # No title in the picture: the page sets it as a caption, searchable and never
        # crowded by the legend.
        if chart.y_label:
            axes.set_ylabel(chart.y_label)
        figure.tight_layout(pad=0.4)
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()


# --- drawing --------------------------------------------------------------------------------


def _chart_height(chart: ChartData) -> float:
    """Horizontal bar charts grow with their categories so labels never overlap."""
    if chart.kind == "hbar":
        return max(1.4, 0.5 + 0.17 * len(chart.x))
    return _HEIGHT_IN


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
                    linewidth=1.1, label=series.name)
    _finish(axes, chart, right)


def _draw_bar(axes: Axes, chart: ChartData) -> None:
    """Side by side when a few categories, overlaid series otherwise (daily bars are thin)."""
    x = _positions(chart)
    primary = [s for s in chart.series if s.name not in chart.secondary]
    width = 0.8 / max(1, len(primary)) if len(x) <= 31 else 0.8
    right = axes.twinx() if chart.secondary else None
    for index, series in enumerate(chart.series):
        color = _PALETTE[index % len(_PALETTE)]
        if right is not None and series.name in chart.secondary:
            right.plot(x, _line_values(series), color=color, linewidth=1.0, label=series.name)
            continue
        offset = (index - (len(primary) - 1) / 2) * width if len(x) <= 31 else 0.0
        axes.bar([p + offset for p in x], _values(series), width=width, color=color,
                 label=series.name, alpha=1.0 if len(x) <= 31 else 0.85)
    _finish(axes, chart, right)


def _draw_stacked(axes: Axes, chart: ChartData) -> None:
    x = _positions(chart)
    bottom = [0.0] * len(x)
    for index, series in enumerate(chart.series):
        values = _values(series)
        axes.bar(x, values, bottom=bottom, width=0.8, color=_PALETTE[index % len(_PALETTE)],
                 label=series.name)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    _finish(axes, chart, None)


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
    if chart.reference is not None:
        value, label = chart.reference
        axes.axvline(value, color="#c00000", linewidth=0.9, linestyle="--", label=label)
    if len(chart.series) > 1 or chart.reference is not None:
        axes.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncols=3, borderaxespad=0.2)


def _finish(axes: Axes, chart: ChartData, right: Axes | None) -> None:
    """Thinned x labels, the reference line and one legend for both axes."""
    x = _positions(chart)
    step = max(1, -(-len(x) // _MAX_X_TICKS))  # ceiling division
    ticks = x[::step]
    axes.set_xticks(ticks, [_shorten(chart.x[i]) for i in ticks])
    axes.set_xlim(-0.6, len(x) - 0.4)
    axes.set_ylim(bottom=0)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))  # counts: no 0.5 of a key
    axes.grid(axis="x", visible=False)
    if chart.reference is not None:
        value, label = chart.reference
        axes.axhline(value, color="#c00000", linewidth=0.9, linestyle="--", label=label)
    handles, labels = axes.get_legend_handles_labels()
    if right is not None:
        right.set_ylim(bottom=0)
        right.yaxis.set_major_locator(MaxNLocator(integer=True))
        right.grid(visible=False)
        right.spines["right"].set_visible(True)
        more_handles, more_labels = right.get_legend_handles_labels()
        handles, labels = handles + more_handles, labels + more_labels
    if len(labels) > 1:  # above the plot: never over the data
        axes.legend(handles, labels, loc="lower left", bbox_to_anchor=(0.0, 1.0),
                    ncols=min(5, len(labels)), borderaxespad=0.2)


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


def series_total(values: Sequence[float | None]) -> float:
    """Sum of the values held (None skipped); used by the model to rank categories."""
    return float(sum(v for v in values if v is not None))
