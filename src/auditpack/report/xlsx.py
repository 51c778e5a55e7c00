"""The audit workbook (.xlsx): every evidence table, control and finding, as real spreadsheet data.

Sheets, in order (names ≤ 31 characters, unique; more rows than `max_rows_per_sheet` continue
on numbered sheets `Name (2)`, `Name (3)`, … each with the header row):
- `Summary`: package facts, counts by status and severity, controls per framework and a
  contents list of every other sheet;
- `Controls`: one row per framework × control; `Evidence`: one row per evidence item with its
  metrics; `Metrics`: every metric as a typed row; `Findings`: every finding, most severe first;
- one sheet per table of every evidence result (`EV03 dormant_members`), generically, so new
  tables appear without code changes; charts an item provides become native Excel charts on
  the table sheet of the same name (EV14 `adoption_series`) or on a chart-data sheet
  (`EV08 failures_per_day`);
- `Lineage`: each archived response an item read (sha256) with the period it covers.

Every data sheet has a styled, frozen header row and an autofilter. Cells are typed (dates,
naive-UTC datetimes, numbers, booleans) and text from the API is always inert text
(`_xlsx_cells`). The same inputs and `generated_at` give a byte-identical file (`_xlsx_zip`).

Data rows are encoded by `_xlsx_cells` and streamed into the zip, because openpyxl's own
writer manages only ~5,000 rows a second; openpyxl (write-only mode) lays out everything else.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from io import BytesIO
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.xml.functions import tostring

from auditpack.controls.assess import FrameworkAssessment
from auditpack.evidence.interface import EvidenceResult
from auditpack.report._xlsx_cells import CellStyles, RowWriter, naive_utc
from auditpack.report._xlsx_charts import build_chart
from auditpack.report._xlsx_sheets import SheetPlan, plan_workbook
from auditpack.report._xlsx_zip import write_zip

__all__ = ["MAX_ROWS_PER_SHEET", "SheetStats", "WorkbookMeta", "WorkbookStats",
           "write_workbook"]

MAX_ROWS_PER_SHEET = 1_048_575  # Excel's 1,048,576 rows less the header row
DATE_FORMAT = "yyyy-mm-dd"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
_HEADER_FONT = Font(bold=True, color="FFFFFF")
_HEADER_FILL = PatternFill(fill_type="solid", fgColor="1F4E78")
_HEADER_BORDER = Border(bottom=Side(style="thin", color="000000"))
_HEADER_ALIGN = Alignment(vertical="top")
_LABEL_FONT = Font(bold=True)
# Characters XML 1.0 cannot hold: workbook properties go through lxml, which rejects them.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


@dataclass(frozen=True)
class WorkbookMeta:
    """Facts about the package shown on the Summary sheet and in the file properties."""

    organization: str
    period: str  # e.g. "2026-07-01..2026-09-30"
    package_id: str
    frameworks: tuple[str, ...]
    sources: tuple[str, ...]  # sources collected: "analytics", "compliance"
    generator_version: str
    signer_fingerprint: str | None = None


@dataclass(frozen=True)
class SheetStats:
    """One sheet written: its name, what it holds and how many data rows."""

    name: str
    kind: str  # summary | controls | evidence | metrics | findings | table | chart | lineage
    evidence: str  # evidence id for table and chart sheets, else ""
    source: str  # table or chart name, else ""
    rows: int
    part: int
    parts: int
    charts: int


@dataclass(frozen=True)
class WorkbookStats:
    """What `write_workbook` wrote."""

    path: Path
    sheets: tuple[SheetStats, ...]
    rows: int  # data rows over all sheets (header rows not counted)
    charts: int
    size_bytes: int


def write_workbook(path: Path, *, results: list[EvidenceResult],
                   frameworks: list[FrameworkAssessment], meta: WorkbookMeta,
                   generated_at: datetime,
                   max_rows_per_sheet: int = MAX_ROWS_PER_SHEET) -> WorkbookStats:
    """Write the audit workbook to `path` (replaced atomically) and describe what was written.

    `generated_at` is the only clock: it becomes the created/modified properties and every
    zip entry's time, so equal inputs give byte-identical files.
    """
    if not 1 <= max_rows_per_sheet <= MAX_ROWS_PER_SHEET:
        raise ValueError(f"max_rows_per_sheet must be 1..{MAX_ROWS_PER_SHEET}")
    stamp = naive_utc(generated_at)
    path.parent.mkdir(parents=True, exist_ok=True)
    plans = plan_workbook(results, frameworks, meta, stamp, max_rows_per_sheet)
    wb = Workbook(write_only=True)
    _set_properties(wb, meta, stamp)
    sheets = [wb.create_sheet(plan.name) for plan in plans]
    styles = _register_styles(sheets[0])
    for ws, plan in zip(sheets, plans, strict=True):
        _lay_out(ws, plan)
    skeleton = BytesIO()
    wb.save(skeleton)  # assigns every sheet its part name (ws.path)
    wb.properties.modified = stamp  # save() stamped the wall clock
    writer = RowWriter(styles)
    streams = {ws.path.lstrip("/"): (partial(writer.encode, plan.rows, first_row=2,
                                             columns=len(plan.header)),
                                     len(plan.rows) * len(plan.header))
               for ws, plan in zip(sheets, plans, strict=True)}
    size = write_zip(skeleton.getvalue(), path, rows=streams,
                     core_xml=tostring(wb.properties.to_tree()), generated_at=stamp)
    stats = tuple(SheetStats(p.name, p.kind, p.evidence, p.source, len(p.rows), p.part,
                             p.parts, len(p.charts)) for p in plans)
    return WorkbookStats(path, stats, sum(s.rows for s in stats),
                         sum(s.charts for s in stats), size)


def _xml_safe(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def _set_properties(wb: Any, meta: WorkbookMeta, stamp: datetime) -> None:
    """Title, subject, creator, keywords and fixed created/modified times."""
    props = wb.properties
    props.title = _xml_safe(f"Audit evidence workbook: {meta.organization}, {meta.period}")
    props.subject = _xml_safe(f"Claude Enterprise audit evidence for {meta.period}")
    props.creator = "auditpack"
    props.lastModifiedBy = "auditpack"
    props.keywords = _xml_safe("; ".join(("audit evidence", "Claude Enterprise",
                                          *meta.frameworks)))
    props.description = _xml_safe(f"Package {meta.package_id}; generated by auditpack "
                                  f"{meta.generator_version}")
    props.identifier = _xml_safe(meta.package_id)
    props.category = "Audit evidence"
    props.created = stamp
    props.modified = stamp


def _register_styles(ws: Any) -> CellStyles:
    """Register the data-cell styles with the workbook and return their ids.

    Reading `style_id` adds the style to the workbook's cellXfs list, which openpyxl writes
    to styles.xml even though these template cells are never written themselves.
    """
    date_cell = WriteOnlyCell(ws)
    date_cell.number_format = DATE_FORMAT
    moment_cell = WriteOnlyCell(ws)
    moment_cell.number_format = DATETIME_FORMAT
    quoted = WriteOnlyCell(ws)
    quoted.quotePrefix = True
    label = WriteOnlyCell(ws)
    label.font = _LABEL_FONT
    return CellStyles(date=date_cell.style_id, datetime=moment_cell.style_id,
                      quoted_text=quoted.style_id, label=label.style_id)


def _header_cells(ws: Any, names: Sequence[str]) -> list[Any]:
    """Styled header cells; always text cells, whatever the names look like."""
    cells = []
    for name in names:
        cell = WriteOnlyCell(ws, value=name or None)
        if name:
            cell.data_type = "s"  # never a formula or error value, even for "=…" or "#N/A"
        cell.font, cell.fill = _HEADER_FONT, _HEADER_FILL
        cell.border, cell.alignment = _HEADER_BORDER, _HEADER_ALIGN
        cells.append(cell)
    return cells


def _lay_out(ws: Any, plan: SheetPlan) -> None:
    """Column widths, frozen header, autofilter, header row and charts of one sheet."""
    for index, width in enumerate(plan.widths, start=1):
        ws.column_dimensions[get_column_letter(index)].width = width
    ws.freeze_panes = "A2"
    last_col = get_column_letter(max(1, len(plan.header)))
    if plan.autofilter:
        ws.auto_filter.ref = f"A1:{last_col}{len(plan.rows) + 1}"
    ws.append(_header_cells(ws, plan.header))
    anchor_col = get_column_letter(len(plan.header) + 2)
    for offset, spec in enumerate(plan.charts):
        ws.add_chart(build_chart(ws, spec), f"{anchor_col}{2 + offset * 26}")
