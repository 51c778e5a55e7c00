"""Native Excel charts (openpyxl LineChart / BarChart) over a sheet's own columns."""

from __future__ import annotations

from typing import Any

from openpyxl.chart import BarChart, LineChart, Reference

from auditpack.report._xlsx_sheets import ChartSpec

CHART_WIDTH_CM = 24.0
CHART_HEIGHT_CM = 12.0


def build_chart(ws: Any, spec: ChartSpec) -> Any:
    """A line or clustered-column chart: categories from `x_col`, one series per `y_cols`."""
    chart: Any = BarChart() if spec.kind == "bar" else LineChart()
    if spec.kind == "bar":
        chart.type = "col"
        chart.grouping = "clustered"
    chart.title = spec.title
    chart.width, chart.height = CHART_WIDTH_CM, CHART_HEIGHT_CM
    last = spec.rows + 1
    for col in spec.y_cols:
        # Row 1 is the header, so each series is named after its column.
        chart.add_data(Reference(ws, min_col=col, min_row=1, max_row=last), titles_from_data=True)
    chart.set_categories(Reference(ws, min_col=spec.x_col, min_row=2, max_row=last))
    chart.x_axis.title = spec.x_title
    if spec.date_axis:
        chart.x_axis.number_format = "yyyy-mm-dd"
    # openpyxl ≥ 3.1 marks axes deleted by default: Excel would draw the chart without them.
    chart.x_axis.delete = False
    chart.y_axis.delete = False
    chart.legend.position = "b"
    return chart
