"""The audit workbook: layout, typed cells, inert text, splitting, charts and determinism.

Results and assessments are built by hand (no store), the workbook is written to a temporary
directory and read back with openpyxl (and, where openpyxl hides a detail, as raw zip/XML).
"""

from __future__ import annotations

import re
import zipfile
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from auditpack.controls.assess import ControlAssessment, FrameworkAssessment
from auditpack.evidence.interface import (
    Column,
    Coverage,
    EvidenceResult,
    Lineage,
    Severity,
    Status,
    Table,
    make_finding,
)
from auditpack.report._xlsx_cells import MAX_CELL_TEXT, TRUNCATION_MARK, clip_text, xml_text
from auditpack.report._xlsx_sheets import (
    CONTROLS_HEADER,
    EVIDENCE_HEADER,
    FINDINGS_HEADER,
    LINEAGE_HEADER,
    METRICS_HEADER,
    SheetNamer,
    safe_sheet_name,
)
from auditpack.report.xlsx import WorkbookMeta, WorkbookStats, write_workbook

GENERATED = datetime(2026, 10, 2, 8, 30, 4, tzinfo=UTC)
META = WorkbookMeta(organization="Example Org", period="2026-07-01..2026-09-30",
                    package_id="pkg-0001", frameworks=("soc2", "iso27001"),
                    sources=("analytics", "compliance"), generator_version="0.1.0",
                    signer_fingerprint="SHA256:ab12")
INJECTIONS = ['=HYPERLINK("http://x")', "+1+1", "-2", "@SUM(A1)", "\tx", "\rx", "=1+1",
              "#N/A", "=", "-"]
NAMES = ["<script>alert(1)</script>", "محمد العلي", "שרה כהן", "Zoë 👩‍💻🚀", "  padded  ",
         "line one\nline two", "Tom & Jerry <tj@example.com>"]
T0 = datetime(2026, 7, 1, 9, 15, 30, tzinfo=UTC)

INVENTORY_COLUMNS = [Column("user_id", "str"), Column("email", "str"),
                     Column("full_name", "str"), Column("privileged", "bool"),
                     Column("account_created_at", "datetime"),
                     Column("last_seen", "date"), Column("days_since_seen", "int"),
                     Column("share", "float")]


def _inventory_rows() -> list[tuple[Any, ...]]:
    """Normal members, then one per injection payload and one per awkward name."""
    rows: list[tuple[Any, ...]] = [
        (f"user_{i}", f"user{i}@example.com", f"User {i}", i % 3 == 0,
         T0 + timedelta(hours=i), date(2026, 7, 1) + timedelta(days=i), i * 10, i / 4)
        for i in range(5)]
    rows += [(f"inj_{i}", payload, payload, False, None, None, None, None)
             for i, payload in enumerate(INJECTIONS)]
    rows += [(f"name_{i}", f"n{i}@example.com", name, True, T0, date(2026, 8, 1), 1, 0.5)
             for i, name in enumerate(NAMES)]
    return rows


def _results() -> list[EvidenceResult]:
    """Five results shaped like the real items (tables, charts, findings, lineage)."""
    inventory = EvidenceResult(
        "EV01", "seat_access_inventory", "Seat and access inventory", Status.EFFECTIVE,
        Coverage.FULL, metrics={"members": 22, "owners": 1, "note": "=cmd|' /C calc'!A0"},
        tables=[Table("access_inventory", "Members by organization", INVENTORY_COLUMNS,
                      _inventory_rows())],
        charts={"members_by_role": [{"organization": "o", "role": "user", "members": 3}]},
        findings=[make_finding("seat_access_inventory", "external", Severity.MEDIUM,
                               "External member =HYPERLINK(\"http://x\")",
                               {"email": "@SUM(A1)"}, T0, "-2 detail", ["act_1"])],
        lineage=Lineage(["a" * 64, "b" * 64], (date(2026, 7, 1), date(2026, 9, 30)),
                        ["analytics", "compliance"]))
    dormant = EvidenceResult(
        "EV03", "dormant_accounts", "Dormant accounts", Status.EXCEPTIONS, Coverage.PARTIAL,
        metrics={"dormant": 25, "rate": 0.125, "cost": None},
        tables=[Table("dormant_members", "Members without activity for 90 days",
                      [Column("user_id", "str"), Column("email", "str"),
                       Column("joined_at", "datetime"), Column("last_seen", "date"),
                       Column("days_since_seen", "int")],
                      [(f"d{i}", f"d{i}@example.com", T0 - timedelta(days=200 + i),
                        date(2026, 3, 1) + timedelta(days=i), 120 + i) for i in range(25)])],
        findings=[make_finding("dormant_accounts", "dormant", Severity.HIGH,
                               f"Dormant d{i}", {"user_id": f"d{i}"}, None, "no use", [])
                  for i in range(3)],
        lineage=Lineage(["c" * 64], (date(2026, 7, 1), date(2026, 9, 30)), ["compliance"]))
    auth = EvidenceResult(
        "EV08", "authentication_events", "Authentication events", Status.EXCEPTIONS,
        Coverage.FULL, metrics={"sign_ins": 40, "failure_rate": 0.05},
        tables=[Table("failure_bursts", "Bursts of failed sign-ins",
                      [Column("key", "str"), Column("failures", "int"),
                       Column("first_at", "datetime")],
                      [("198.51.100.7", 12, T0)])],
        charts={"failures_per_day": {
            "type": "line", "x": ["2026-07-01", "2026-07-02", "2026-07-03"],
            "series": {"sign_ins": [10, 12, 18], "failures": [0, 2, 0]}}},
        findings=[make_finding("authentication_events", "burst", Severity.HIGH,
                               "Failed sign-in burst", {"ip": "198.51.100.7"}, T0, "12", [])],
        lineage=Lineage(["d" * 64], (date(2026, 7, 1), date(2026, 9, 30)), ["compliance"]))
    series_rows = [(date(2026, 7, 1) + timedelta(days=i), 5 + i, 9 + i, 12 + i, 20)
                   for i in range(14)]
    adoption = EvidenceResult(
        "EV14", "ai_adoption", "AI adoption", Status.EFFECTIVE, Coverage.FULL,
        metrics={"dau_avg": 11.5, "adoption_rate_pct": 65.0},
        tables=[Table("adoption_series", "Daily, weekly and monthly active users and seats",
                      [Column("day", "date"), Column("dau", "int"), Column("wau", "int"),
                       Column("mau", "int"), Column("seats", "int")], series_rows)],
        charts={"adoption_series": {
            "kind": "line", "x": "day", "y": ["dau", "wau", "mau", "seats"],
            "rows": [{"day": d.isoformat(), "dau": a, "wau": w, "mau": m, "seats": s}
                     for d, a, w, m, s in series_rows]}},
        lineage=Lineage([], (date(2026, 7, 1), date(2026, 7, 14)), ["analytics"]))
    cost = EvidenceResult(
        "EV15", "cost_attribution", "Cost attribution", Status.INSUFFICIENT_DATA,
        Coverage.NONE, reason="the Analytics API was not collected",
        tables=[Table("cost_by_user", "Usage and spend per user",
                      [Column("user_id", "str"), Column("cost", "float")],
                      [("u1", Decimal("12.34")), ("u2", float("nan")), ("u3", 2**60)])])
    return [inventory, dormant, auth, adoption, cost]


def _control(framework: str, number: int, results: list[EvidenceResult]) -> ControlAssessment:
    return ControlAssessment(
        framework=framework, control_id=f"{framework.upper()}-{number}", key=f"c{number}",
        title=f"Control {number}", summary="Access is reviewed", group="Access",
        status="exceptions" if number == 1 else "manual", coverage="partial",
        evidence=(("dormant_accounts", "primary", "exceptions"),),
        findings=tuple(f.id for f in results[1].findings),
        manual_inputs=("review sign-off",) if number == 2 else (), gaps=(), reasons=())


def _frameworks(results: list[EvidenceResult]) -> list[FrameworkAssessment]:
    return [FrameworkAssessment(fw, fw.upper(), fw.upper(), "2022", 1,
                                [_control(fw, n, results) for n in (1, 2, 3)])
            for fw in ("soc2", "iso27001")]


def _write(path: Path, *, generated_at: datetime = GENERATED, max_rows: int | None = None,
           results: list[EvidenceResult] | None = None) -> WorkbookStats:
    results = _results() if results is None else results
    extra = {} if max_rows is None else {"max_rows_per_sheet": max_rows}
    return write_workbook(path, results=results, frameworks=_frameworks(results), meta=META,
                          generated_at=generated_at, **extra)


@pytest.fixture(scope="module")
def book(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, WorkbookStats, Any]:
    path = tmp_path_factory.mktemp("xlsx") / "workbook.xlsx"
    stats = _write(path)
    return path, stats, openpyxl.load_workbook(path)


def _header(ws: Any) -> list[Any]:
    return [c.value for c in next(ws.iter_rows(min_row=1, max_row=1))]


def _data(ws: Any) -> list[tuple[Any, ...]]:
    return [tuple(c.value for c in row) for row in ws.iter_rows(min_row=2)]


# -- layout --------------------------------------------------------------------------------


def test_sheets_in_order_with_expected_headers(book: tuple[Path, WorkbookStats, Any]) -> None:
    _, stats, wb = book
    assert wb.sheetnames == [
        "Summary", "Controls", "Evidence", "Metrics", "Findings", "EV01 access_inventory",
        "EV03 dormant_members", "EV08 failure_bursts", "EV08 failures_per_day",
        "EV14 adoption_series", "EV15 cost_by_user", "Lineage"]
    assert [s.name for s in stats.sheets] == wb.sheetnames
    assert _header(wb["Controls"]) == list(CONTROLS_HEADER)
    assert _header(wb["Evidence"]) == list(EVIDENCE_HEADER)
    assert _header(wb["Metrics"]) == list(METRICS_HEADER)
    assert _header(wb["Findings"]) == list(FINDINGS_HEADER)
    assert _header(wb["Lineage"]) == list(LINEAGE_HEADER)
    for result in _results():
        for table in result.tables:
            assert _header(wb[f"{result.id} {table.name}"]) == [c.name for c in table.columns]
    assert _header(wb["EV08 failures_per_day"]) == ["day", "sign_ins", "failures"]
    assert _header(wb["Summary"])[:2] == ["field", "value"]


def test_row_counts_equal_the_inputs(book: tuple[Path, WorkbookStats, Any]) -> None:
    _, stats, wb = book
    results = _results()
    assert len(_data(wb["Controls"])) == sum(len(f.controls) for f in _frameworks(results))
    assert len(_data(wb["Evidence"])) == len(results)
    assert len(_data(wb["Metrics"])) == sum(len(r.metrics) for r in results)
    assert len(_data(wb["Findings"])) == sum(len(r.findings) for r in results)
    assert len(_data(wb["Lineage"])) == sum(len(r.lineage.responses) for r in results)
    for result in results:
        for table in result.tables:
            assert len(_data(wb[f"{result.id} {table.name}"])) == len(table.rows)
    by_name = {s.name: s.rows for s in stats.sheets}
    assert all(by_name[ws.title] == ws.max_row - 1 for ws in wb.worksheets)
    assert stats.rows == sum(by_name.values())


def test_structural_sheets_content(book: tuple[Path, WorkbookStats, Any]) -> None:
    _, _, wb = book
    controls = _data(wb["Controls"])
    assert controls[0][:3] == ("soc2", "SOC2", "SOC2-1")
    assert controls[0][8] == "EV03 dormant_accounts (primary): exceptions"
    assert controls[0][9] == 3
    assert controls[1][11:13] == ("review sign-off", "to be provided by management")
    evidence = {row[0]: row for row in _data(wb["Evidence"])}
    assert evidence["EV03"][3:5] == ("exceptions", "partial")
    assert evidence["EV03"][6:11] == (3, 3, 0, 0, 0)
    assert evidence["EV15"][5] == "the Analytics API was not collected"
    assert evidence["EV01"][14] == datetime(2026, 7, 1)
    findings = _data(wb["Findings"])
    assert [row[3] for row in findings] == ["high"] * 4 + ["medium"]
    assert findings[-1][5] == "email=@SUM(A1)"
    metrics = {(row[0], row[2]): row[3] for row in _data(wb["Metrics"])}
    assert metrics[("EV03", "rate")] == 0.125 and metrics[("EV03", "cost")] is None
    assert metrics[("EV14", "adoption_rate_pct")] == 65
    summary = {row[0]: row[1] for row in _data(wb["Summary"]) if row[0]}
    assert summary["Organization"] == "Example Org"
    assert summary["Signer fingerprint"] == "SHA256:ab12"
    assert summary["Generated at (UTC)"] == datetime(2026, 10, 2, 8, 30, 4)
    assert summary["Findings high"] == 4
    assert summary["EV14 adoption_series"] == "Daily, weekly and monthly active users and seats"


# -- typed cells ---------------------------------------------------------------------------


def test_cells_are_typed(book: tuple[Path, WorkbookStats, Any]) -> None:
    _, _, wb = book
    ws = wb["EV01 access_inventory"]
    row = list(next(ws.iter_rows(min_row=3, max_row=3)))  # user_1
    assert row[3].value is False and row[3].data_type == "b"
    assert row[4].is_date and row[4].value == datetime(2026, 7, 1, 10, 15, 30)
    assert row[4].number_format == "yyyy-mm-dd hh:mm:ss"
    assert row[5].is_date and row[5].value == datetime(2026, 7, 2)
    assert row[5].number_format == "yyyy-mm-dd"
    assert row[6].data_type == "n" and row[6].value == 10
    assert row[7].data_type == "n" and row[7].value == 0.25
    cost = _data(wb["EV15 cost_by_user"])
    assert cost[0][1] == pytest.approx(12.34)  # Decimal → number
    assert cost[1][1] == "nan"  # Excel has no NaN: visible text, not a broken cell
    assert cost[2][1] == str(2**60)  # beyond 15 digits: text, not silently rounded


def test_aware_datetimes_are_written_as_naive_utc(tmp_path: Path) -> None:
    plus_two = timezone(timedelta(hours=2))
    result = EvidenceResult(
        "EV05", "role_change_log", "Role changes", Status.EFFECTIVE, Coverage.FULL,
        tables=[Table("role_changes", "t", [Column("occurred_at", "datetime"),
                                            Column("day", "date")],
                      [(datetime(2026, 7, 1, 14, 0, tzinfo=plus_two), date(1899, 1, 1)),
                       (datetime(2026, 7, 1, 12, 0), date(2026, 7, 1))])])
    path = tmp_path / "w.xlsx"
    write_workbook(path, results=[result], frameworks=[], meta=META, generated_at=GENERATED)
    rows = _data(openpyxl.load_workbook(path)["EV05 role_changes"])
    assert rows[0] == (datetime(2026, 7, 1, 12, 0), "1899-01-01")  # pre-1900: ISO text
    assert rows[1] == (datetime(2026, 7, 1, 12, 0), datetime(2026, 7, 1))


# -- layout features -----------------------------------------------------------------------


def test_frozen_header_autofilter_and_widths(book: tuple[Path, WorkbookStats, Any]) -> None:
    _, _, wb = book
    for ws in wb.worksheets:
        assert ws.freeze_panes == "A2", ws.title
        if ws.title == "Summary":
            assert ws.auto_filter.ref is None
            continue
        last = openpyxl.utils.get_column_letter(ws.max_column)
        assert ws.auto_filter.ref == f"A1:{last}{ws.max_row}", ws.title
        header = next(ws.iter_rows(min_row=1, max_row=1))
        assert all(c.font.b for c in header)
        assert all(8 <= ws.column_dimensions[c.column_letter].width <= 60 for c in header)


def test_native_charts_on_adoption_and_sign_in_sheets(book: tuple[Path, WorkbookStats, Any],
                                                      ) -> None:
    _, stats, wb = book
    charts = {ws.title: ws._charts for ws in wb.worksheets if ws._charts}
    assert set(charts) == {"EV14 adoption_series", "EV08 failures_per_day"}
    assert stats.charts == 2
    adoption = charts["EV14 adoption_series"][0]
    assert type(adoption).__name__ == "LineChart" and len(adoption.series) == 4
    refs = [s.val.numRef.f for s in adoption.series]
    assert refs[0] == "'EV14 adoption_series'!$B$2:$B$15"
    sign_ins = charts["EV08 failures_per_day"][0]
    assert len(sign_ins.series) == 2
    days = _data(wb["EV08 failures_per_day"])
    assert days[0] == (datetime(2026, 7, 1), 10, 0)  # ISO strings back to dates


def test_workbook_properties(book: tuple[Path, WorkbookStats, Any]) -> None:
    _, _, wb = book
    props = wb.properties
    assert props.creator == "auditpack"
    assert props.title == "Audit evidence workbook: Example Org, 2026-07-01..2026-09-30"
    assert "2026-07-01..2026-09-30" in props.subject
    assert props.keywords == "audit evidence; Claude Enterprise; soc2; iso27001"
    assert props.created == props.modified == datetime(2026, 10, 2, 8, 30, 4)
    assert props.identifier == "pkg-0001"


# -- safety --------------------------------------------------------------------------------


def test_formula_injection_is_inert_and_visibly_unchanged(
        book: tuple[Path, WorkbookStats, Any]) -> None:
    path, _, wb = book
    rows = {row[0].value: row for row in wb["EV01 access_inventory"].iter_rows(min_row=2)}
    for i, payload in enumerate(INJECTIONS):
        for cell in rows[f"inj_{i}"][1:3]:  # e-mail and name
            assert cell.value == payload
            assert cell.data_type == "s"
            if payload.startswith(("=", "+", "-", "@", "\t", "\r")):
                assert cell.quotePrefix, payload  # stays text when edited in Excel
    finding = _data(wb["Findings"])[-1]
    assert finding[4] == 'External member =HYPERLINK("http://x")' and finding[7] == "-2 detail"
    assert {row[3] for row in _data(wb["Metrics"])} >= {"=cmd|' /C calc'!A0"}
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (ws.title, cell.coordinate, cell.value)
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            if name.startswith("xl/worksheets/"):
                assert not re.search(rb"<f[ >]", archive.read(name)), name


def test_awkward_names_survive(book: tuple[Path, WorkbookStats, Any]) -> None:
    _, _, wb = book
    rows = {row[0]: row for row in _data(wb["EV01 access_inventory"])}
    assert [rows[f"name_{i}"][2] for i in range(len(NAMES))] == NAMES


def test_text_escaping_rules() -> None:
    assert xml_text("a\x07b") == "a_x0007_b"  # XML cannot hold it; Excel decodes the escape
    assert xml_text("_x0041_") == "_x005F_x0041_"  # a literal escape stays literal in Excel
    assert xml_text("\rx") == "&#13;x"  # a raw CR would be read back as LF
    assert xml_text("<b>&") == "&lt;b&gt;&amp;"
    long = "x" * (MAX_CELL_TEXT + 10)
    assert len(clip_text(long)) == MAX_CELL_TEXT and clip_text(long).endswith(TRUNCATION_MARK)
    assert clip_text("ok") == "ok"


def test_control_characters_do_not_break_the_file(tmp_path: Path) -> None:
    result = EvidenceResult(
        "EV09", "configuration_drift", "Drift", Status.EFFECTIVE, Coverage.FULL,
        tables=[Table("setting_changes", "t", [Column("value", "str")],
                      [("bell\x07",), ("nul\x00",), ("x" * 40_000,)])])
    path = tmp_path / "w.xlsx"
    meta = WorkbookMeta("Org\x01", "p", "id", (), (), "0")
    write_workbook(path, results=[result], frameworks=[], meta=meta, generated_at=GENERATED)
    wb = openpyxl.load_workbook(path)
    rows = _data(wb["EV09 setting_changes"])
    assert rows[0] == ("bell_x0007_",)  # openpyxl shows Excel's escape as-is
    assert len(rows[2][0]) == MAX_CELL_TEXT


# -- size ----------------------------------------------------------------------------------


def test_rows_past_the_limit_continue_on_numbered_sheets(tmp_path: Path) -> None:
    path = tmp_path / "split.xlsx"
    stats = _write(path, max_rows=10)
    wb = openpyxl.load_workbook(path)
    names = wb.sheetnames
    assert ["EV03 dormant_members", "EV03 dormant_members (2)",
            "EV03 dormant_members (3)"] == [n for n in names if n.startswith("EV03")]
    assert ["EV01 access_inventory", "EV01 access_inventory (2)",
            "EV01 access_inventory (3)"] == [n for n in names if n.startswith("EV01")]
    parts = [wb[n] for n in names if n.startswith("EV03")]
    assert [ws.max_row - 1 for ws in parts] == [10, 10, 5]
    expected = _results()[1].tables[0]
    got = [row for ws in parts for row in _data(ws)]
    assert [r[0] for r in got] == [r[0] for r in expected.rows]
    for ws in parts:
        assert _header(ws) == [c.name for c in expected.columns]
        assert ws.freeze_panes == "A2" and ws.auto_filter.ref == f"A1:E{ws.max_row}"
    assert "Summary (2)" in names  # the summary itself is more than 10 rows
    assert all(len(n) <= 31 for n in names) and len({n.casefold() for n in names}) == len(names)
    summary = {s.name: s for s in stats.sheets}
    assert (summary["EV03 dormant_members (3)"].part,
            summary["EV03 dormant_members (3)"].parts) == (3, 3)


def test_max_rows_per_sheet_is_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="max_rows_per_sheet"):
        _write(tmp_path / "x.xlsx", max_rows=0)


def test_sheet_names_are_safe_short_and_unique() -> None:
    namer = SheetNamer()
    namer.reserve("Summary")
    long = "EV10 file_operations_by_user_day"
    assert namer.take(long) == long[:31]
    assert namer.take(long, 2) == "EV10 file_operations_by_use (2)"
    assert namer.take(long) == "EV10 file_operations_by_user ~2"
    assert namer.take("summary") == "summary ~2"
    assert safe_sheet_name("'a/b:c[d]*?\\'") == "a_b_c_d____"
    assert safe_sheet_name("History") == "History_"
    assert len(namer.take("EV01 " + "😀" * 40).encode("utf-16-le")) <= 62


# -- determinism ---------------------------------------------------------------------------


def test_same_inputs_give_identical_bytes(tmp_path: Path) -> None:
    first, second, later = tmp_path / "a.xlsx", tmp_path / "b.xlsx", tmp_path / "c.xlsx"
    _write(first)
    _write(second)
    _write(later, generated_at=GENERATED + timedelta(days=1))
    assert first.read_bytes() == second.read_bytes()
    assert first.read_bytes() != later.read_bytes()
    with zipfile.ZipFile(first) as archive:
        assert {i.date_time for i in archive.infolist()} == {(2026, 10, 2, 8, 30, 4)}
        core = archive.read("docProps/core.xml").decode()
    assert core.count("2026-10-02T08:30:04Z") == 2  # created and modified
    assert not list(tmp_path.glob(".*partial"))


def test_empty_inputs_still_give_every_structural_sheet(tmp_path: Path) -> None:
    path = tmp_path / "empty.xlsx"
    stats = write_workbook(path, results=[], frameworks=[], meta=META, generated_at=GENERATED)
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["Summary", "Controls", "Evidence", "Metrics", "Findings",
                             "Lineage"]
    assert [ws.max_row for ws in wb.worksheets[1:]] == [1] * 5
    assert stats.size_bytes == path.stat().st_size
