"""What goes on which sheet: names, headers, rows, widths and charts of the audit workbook.

Planning is pure (no openpyxl): it turns evidence results and framework assessments into a
list of `SheetPlan`s in workbook order. Rows are never copied: a plan holds a `RowSlice` of the
table's own row list, so a million-row table costs no extra memory.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import islice
from typing import TYPE_CHECKING, Any

from auditpack.controls.assess import MANAGEMENT, STATUSES, FrameworkAssessment
from auditpack.evidence.interface import (
    SEVERITY_ORDER,
    EvidenceResult,
    Finding,
    Severity,
    Status,
    Table,
)
from auditpack.report._xlsx_cells import Label, plain_text

if TYPE_CHECKING:
    from auditpack.report.xlsx import WorkbookMeta

MAX_SHEET_NAME = 31  # Excel's limit, in UTF-16 code units
_BAD_NAME_CHARS = re.compile(r"[\[\]:*?/\\\x00-\x1f\x7f]")
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_WIDTH_SAMPLE = 200  # rows looked at to size columns (the whole table would cost a pass)
_MIN_WIDTH, _MAX_WIDTH = 8.0, 60.0


@dataclass(frozen=True)
class RowSlice:
    """Rows `start:stop` of a row list, without copying it."""

    rows: Sequence[Sequence[Any]]
    start: int = 0
    stop: int | None = None

    @property
    def end(self) -> int:
        """The exclusive end index."""
        return len(self.rows) if self.stop is None else self.stop

    def __len__(self) -> int:
        return max(0, self.end - self.start)

    def __iter__(self) -> Iterator[Sequence[Any]]:
        rows = self.rows
        for index in range(self.start, self.end):
            yield rows[index]


@dataclass(frozen=True)
class ChartSpec:
    """A native chart over columns of its own sheet (row 1 holds the series names)."""

    kind: str  # "line" | "bar"
    title: str
    x_title: str
    x_col: int  # 1-based
    y_cols: tuple[int, ...]
    rows: int  # data rows (2 .. rows + 1)
    date_axis: bool


@dataclass
class SheetPlan:
    """One worksheet: its unique name, header row, data rows and layout."""

    name: str
    kind: str  # summary | controls | evidence | metrics | findings | table | chart | lineage
    header: tuple[str, ...]
    rows: RowSlice
    widths: tuple[float, ...]
    title: str = ""
    evidence: str = ""  # evidence id, for table and chart sheets
    source: str = ""  # table or chart name
    part: int = 1
    parts: int = 1
    autofilter: bool = True
    charts: list[ChartSpec] = field(default_factory=list)


# -- sheet names ---------------------------------------------------------------------------


def _utf16_len(text: str) -> int:
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def safe_sheet_name(name: str) -> str:
    """A name Excel accepts: no []:*?/\\ or control characters, no apostrophe at either end."""
    cleaned = " ".join(_BAD_NAME_CHARS.sub("_", name).split()).strip("'")
    if not cleaned or cleaned.casefold() == "history":  # "History" is reserved by Excel
        cleaned = f"{cleaned or 'Sheet'}_"
    return cleaned


def _fit(base: str, suffix: str) -> str:
    """`base + suffix` cut to Excel's 31 code units (the suffix always survives)."""
    room = MAX_SHEET_NAME - _utf16_len(suffix)
    while _utf16_len(base) > room:
        base = base[:-1]
    return (base.rstrip(" '") or "Sheet") + suffix


class SheetNamer:
    """Hands out unique sheet names (Excel compares them case-insensitively)."""

    def __init__(self) -> None:
        self._used: set[str] = set()

    def reserve(self, name: str) -> str:
        """Claim an exact name (already safe and short)."""
        self._used.add(name.casefold())
        return name

    def take(self, base: str, part: int = 1) -> str:
        """`base`, or `base (n)` for part n ≥ 2, made safe, short and unique."""
        base = safe_sheet_name(base)
        suffix = f" ({part})" if part > 1 else ""
        candidate = _fit(base, suffix)
        clash = 2
        while candidate.casefold() in self._used:
            candidate = _fit(base, f"{suffix} ~{clash}")
            clash += 1
        self._used.add(candidate.casefold())
        return candidate


# -- widths and splitting -----------------------------------------------------------------


def _display_len(value: Any) -> int:
    """Roughly how many characters a value shows as."""
    if value is None:
        return 0
    if isinstance(value, str):
        return max((len(line) for line in value.splitlines()), default=0)
    if isinstance(value, datetime):
        return 19
    if isinstance(value, date):
        return 10
    if isinstance(value, bool):
        return 5
    if isinstance(value, float):
        return min(len(repr(value)), 12)
    return len(plain_text(value))


def column_widths(header: Sequence[str], rows: RowSlice) -> tuple[float, ...]:
    """Widths from the header and the first rows, within sensible bounds."""
    widths = [len(name) + 3 for name in header]  # room for the autofilter button
    for row in islice(iter(rows), _WIDTH_SAMPLE):
        for index, value in enumerate(row[: len(widths)]):
            widths[index] = max(widths[index], _display_len(value) + 2)
    return tuple(min(max(float(w), _MIN_WIDTH), _MAX_WIDTH) for w in widths)


def split_plans(namer: SheetNamer, base: str, kind: str, header: Sequence[str],
                rows: Sequence[Sequence[Any]], max_rows: int, *, reserved: str | None = None,
                **extra: Any) -> list[SheetPlan]:
    """One plan per `max_rows` rows: `base`, `base (2)`, … all with the same header.

    `reserved` is a name claimed earlier with `SheetNamer.reserve`, used for the first part.
    """
    header = _full_header(header, rows)
    widths = column_widths(header, RowSlice(rows))
    parts = max(1, -(-len(rows) // max_rows))
    plans = []
    for part in range(1, parts + 1):
        name = reserved if reserved and part == 1 else namer.take(base, part)
        chunk = RowSlice(rows, (part - 1) * max_rows, min(part * max_rows, len(rows)))
        plans.append(SheetPlan(name, kind, tuple(header), chunk, widths, part=part,
                               parts=parts, **extra))
    return plans


def _full_header(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """The header, extended when rows are wider (so no value is silently dropped)."""
    width = max(map(len, rows), default=0)
    names = list(header)
    names.extend(f"column_{i + 1}" for i in range(len(names), width))
    return names


# -- structural sheets ---------------------------------------------------------------------

CONTROLS_HEADER = ("framework", "framework_name", "control_id", "key", "title", "group",
                   "status", "coverage", "evidence", "findings", "finding_ids",
                   "manual_inputs", "manual_state", "gaps", "reasons", "summary")
EVIDENCE_HEADER = ("evidence", "key", "title", "status", "coverage", "reason", "findings",
                   "high", "medium", "low", "info", "tables", "table_rows", "responses",
                   "covered_from", "covered_to", "sources", "metrics", "method", "limitations")
METRICS_HEADER = ("evidence", "key", "metric", "value")
FINDINGS_HEADER = ("finding_id", "evidence", "evidence_key", "severity", "title", "subject",
                   "occurred_at", "detail", "rule", "sources", "source_count")
LINEAGE_HEADER = ("evidence", "key", "response_sha256", "covered_from", "covered_to",
                  "sources")
SUMMARY_HEADER = ("field", "value")


def _ids_by_key(results: Sequence[EvidenceResult]) -> dict[str, str]:
    return {r.key: r.id for r in results}


def controls_rows(frameworks: Sequence[FrameworkAssessment],
                  ids: dict[str, str]) -> list[tuple[Any, ...]]:
    """One row per framework × control."""
    rows = []
    for fw in frameworks:
        for c in fw.controls:
            evidence = "; ".join(f"{ids.get(k, '?')} {k} ({role}): {state}"
                                 for k, role, state in c.evidence)
            rows.append((fw.framework, fw.name, c.control_id, c.key, c.title, c.group,
                         c.status, c.coverage, evidence, len(c.findings), " ".join(c.findings),
                         "; ".join(c.manual_inputs), MANAGEMENT if c.manual_inputs else None,
                         "; ".join(c.gaps), "; ".join(c.reasons), c.summary))
    return rows


def _metrics_text(metrics: dict[str, Any]) -> str:
    return "; ".join(f"{k}={'' if v is None else plain_text(v)}" for k, v in metrics.items())


def evidence_rows(results: Sequence[EvidenceResult]) -> list[tuple[Any, ...]]:
    """One row per evidence item, with its finding counts and metrics."""
    rows = []
    for r in results:
        severities = [sum(1 for f in r.findings if f.severity is s) for s in SEVERITY_ORDER]
        covered = r.lineage.covered or (None, None)
        rows.append((r.id, r.key, r.title, r.status.value, r.coverage.value, r.reason,
                     len(r.findings), *severities, ", ".join(t.name for t in r.tables),
                     sum(len(t.rows) for t in r.tables), len(r.lineage.responses),
                     covered[0], covered[1], ", ".join(r.lineage.sources),
                     _metrics_text(r.metrics), r.method, " | ".join(r.limitations)))
    return rows


def metrics_rows(results: Sequence[EvidenceResult]) -> list[tuple[Any, ...]]:
    """Every metric of every item as its own typed row."""
    return [(r.id, r.key, name, value) for r in results for name, value in r.metrics.items()]


def findings_rows(results: Sequence[EvidenceResult]) -> list[tuple[Any, ...]]:
    """Every finding, most severe first, then by time and id (as in findings.jsonl)."""
    ids = _ids_by_key(results)
    findings: list[Finding] = sorted(
        (f for r in results for f in r.findings),
        key=lambda f: (SEVERITY_ORDER[f.severity],
                       f.occurred_at.isoformat() if f.occurred_at else "", f.id))
    return [(f.id, ids.get(f.evidence, f.evidence), f.evidence, f.severity.value, f.title,
             "; ".join(f"{k}={v}" for k, v in sorted(f.subject.items())), f.occurred_at,
             f.detail, f.rule, " ".join(f.sources), len(f.sources)) for f in findings]


def lineage_rows(results: Sequence[EvidenceResult]) -> list[tuple[Any, ...]]:
    """One row per archived response each item read, with the period its data covers."""
    rows: list[tuple[Any, ...]] = []
    for r in results:
        start, end = r.lineage.covered or (None, None)
        sources = ", ".join(r.lineage.sources)
        rows.extend((r.id, r.key, sha, start, end, sources) for sha in r.lineage.responses)
    return rows


def summary_rows(meta: WorkbookMeta, generated_at: datetime, results: Sequence[EvidenceResult],
                 frameworks: Sequence[FrameworkAssessment],
                 plans: Sequence[SheetPlan]) -> list[tuple[Any, ...]]:
    """Package facts, status counts, controls per framework and the list of sheets."""
    findings = [f for r in results for f in r.findings]
    rows: list[tuple[Any, ...]] = [
        ("Organization", meta.organization), ("Period", meta.period),
        ("Package id", meta.package_id), ("Frameworks", ", ".join(meta.frameworks)),
        ("Sources collected", ", ".join(meta.sources)),
        ("Signer fingerprint", meta.signer_fingerprint or "not signed"),
        ("Generator", f"auditpack {meta.generator_version}"),
        ("Generated at (UTC)", generated_at), ("Evidence items", len(results))]
    rows += [(f"Evidence {s.value}", sum(1 for r in results if r.status is s)) for s in Status]
    rows.append(("Findings", len(findings)))
    rows += [(f"Findings {s.value}", sum(1 for f in findings if f.severity is s))
             for s in Severity]
    rows.append(("Controls assessed", sum(len(fw.controls) for fw in frameworks)))
    rows += [(), (Label("Controls by framework"),),
             tuple(Label(h) for h in ("framework", "name", "version", *STATUSES, "total"))]
    for fw in frameworks:
        counts = fw.counts()
        rows.append((fw.short_name or fw.framework, fw.name, fw.version,
                     *(counts[s] for s in STATUSES), len(fw.controls)))
    rows += [(), (Label("Sheets"),),
             tuple(Label(h) for h in ("sheet", "contents", "evidence", "source", "rows",
                                      "part"))]
    rows += [(p.name, p.title, p.evidence or None, p.source or None, len(p.rows),
              f"{p.part} of {p.parts}") for p in plans]
    return rows


# -- evidence tables and charts ------------------------------------------------------------


@dataclass(frozen=True)
class ChartData:
    """A chart of an evidence result, normalised to a header and rows (x first)."""

    name: str
    kind: str
    x_name: str
    series: tuple[str, ...]
    rows: list[tuple[Any, ...]]


def _as_day(value: Any) -> Any:
    """ISO day strings (kept as strings for canonical JSON) back to dates for the sheet."""
    if isinstance(value, str) and _ISO_DAY.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            return value
    return value


def parse_chart(name: str, spec: Any) -> ChartData | None:
    """Read the two chart shapes items produce; anything else has no native chart.

    - `{"type"|"kind", "x": [..], "series": {name: [..]}}` (one list per series), and
    - `{"kind"|"type", "x": "col", "y": ["col", ..], "rows": [{col: value}, ..]}`.
    """
    if not isinstance(spec, dict):
        return None
    kind = "bar" if (spec.get("kind") or spec.get("type")) == "bar" else "line"
    x = spec.get("x")
    if isinstance(x, list) and isinstance(spec.get("series"), dict):
        series = {str(k): v for k, v in spec["series"].items() if isinstance(v, list)}
        xs = [_as_day(v) for v in x]
        x_name = "day" if xs and all(isinstance(v, date) for v in xs) else "category"
        rows = [(xv, *(s[i] if i < len(s) else None for s in series.values()))
                for i, xv in enumerate(xs)]
        return ChartData(name, kind, x_name, tuple(series), rows)
    if isinstance(x, str) and isinstance(spec.get("y"), list) and isinstance(
            spec.get("rows"), list):
        ys = tuple(str(y) for y in spec["y"])
        rows = [(_as_day(r.get(x)), *(r.get(y) for y in ys))
                for r in spec["rows"] if isinstance(r, dict)]
        return ChartData(name, kind, x, ys, rows)
    return None


def _is_day_column(rows: Sequence[Sequence[Any]], col: int) -> bool:
    values = [row[col] for row in islice(rows, 50) if len(row) > col and row[col] is not None]
    return bool(values) and all(isinstance(v, date) for v in values)


def _chart_on_table(data: ChartData, table: Table, plan: SheetPlan, title: str) -> bool:
    """Anchor the chart on the table sheet when the table holds its x and series columns."""
    names = [c.name for c in table.columns]
    if plan.parts != 1 or data.x_name not in names or not set(data.series) <= set(names):
        return False
    if not table.rows:
        return True  # nothing to draw, and no duplicate sheet needed either
    x_col = names.index(data.x_name)
    plan.charts.append(ChartSpec(
        data.kind, title, data.x_name, x_col + 1, tuple(names.index(s) + 1 for s in data.series),
        len(table.rows), _is_day_column(table.rows, x_col)))
    return True


def result_plans(result: EvidenceResult, namer: SheetNamer,
                 max_rows: int) -> list[SheetPlan]:
    """One sheet (or numbered sheets) per table, then charts that no table sheet carries."""
    plans: list[SheetPlan] = []
    first_sheet: dict[str, tuple[Table, SheetPlan]] = {}
    for table in result.tables:
        parts = split_plans(namer, f"{result.id} {table.name}", "table",
                            [c.name for c in table.columns], table.rows, max_rows,
                            title=table.title, evidence=result.id, source=table.name)
        first_sheet.setdefault(table.name, (table, parts[0]))
        plans += parts
    for name, spec in result.charts.items():
        data = parse_chart(name, spec)
        if data is None:
            continue  # e.g. a list of records: its data is in a table already
        title = f"{result.id} {result.title}: {name.replace('_', ' ')}"
        if name in first_sheet and _chart_on_table(data, *first_sheet[name], title):
            continue
        header = (data.x_name, *data.series)
        # Named like a table sheet; " chart" only where a table already has the name.
        base = f"{result.id} {name}" + (" chart" if name in first_sheet else "")
        parts = split_plans(namer, base, "chart", header, data.rows,
                            max_rows, title=f"Chart data: {name}", evidence=result.id,
                            source=name)
        if data.rows:
            parts[0].charts.append(ChartSpec(
                data.kind, title, data.x_name, 1, tuple(range(2, len(header) + 1)),
                len(parts[0].rows), _is_day_column(data.rows, 0)))
        plans += parts
    return plans


def plan_workbook(results: Sequence[EvidenceResult], frameworks: Sequence[FrameworkAssessment],
                  meta: WorkbookMeta, generated_at: datetime, max_rows: int) -> list[SheetPlan]:
    """Every sheet in workbook order: Summary, Controls, Evidence, Metrics, Findings, one per
    evidence table (and chart), Lineage."""
    namer = SheetNamer()
    # The summary is planned last (it lists every other sheet) but keeps the first name.
    summary_name = namer.reserve("Summary")
    ids = _ids_by_key(results)
    plans = split_plans(namer, "Controls", "controls", CONTROLS_HEADER,
                        controls_rows(frameworks, ids), max_rows,
                        title="Control assessments (one row per framework × control)")
    plans += split_plans(namer, "Evidence", "evidence", EVIDENCE_HEADER,
                         evidence_rows(results), max_rows,
                         title="Evidence items with status, findings and metrics")
    plans += split_plans(namer, "Metrics", "metrics", METRICS_HEADER, metrics_rows(results),
                         max_rows, title="Every metric of every evidence item")
    plans += split_plans(namer, "Findings", "findings", FINDINGS_HEADER,
                         findings_rows(results), max_rows,
                         title="Every finding, most severe first")
    for result in results:
        plans += result_plans(result, namer, max_rows)
    plans += split_plans(namer, "Lineage", "lineage", LINEAGE_HEADER, lineage_rows(results),
                         max_rows, title="Archived API responses each item read (sha256)")
    summary = summary_rows(meta, generated_at, results, frameworks, plans)
    width = max(map(len, summary))
    header = SUMMARY_HEADER + ("",) * (width - len(SUMMARY_HEADER))  # blocks are wider
    head = split_plans(namer, "Summary", "summary", header, summary, max_rows,
                       reserved=summary_name, title="Package summary and contents",
                       autofilter=False)
    return head + plans
