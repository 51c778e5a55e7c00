"""The sample's report.pdf and evidence.xlsx, read back from the package `build` wrote.

Nothing is rendered here: the session's package (conftest `packaged`, `build --period 2026-Q3`
for all five frameworks) is read. What the documents must hold comes from the package's own
JSON (package.json, controls/, evidence/, findings.jsonl) and from the sample's ground truth,
never from names written into this file.
"""

from __future__ import annotations

import json
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openpyxl
import pypdf
import pytest

from auditpack.controls import catalog_dir, load_catalogs
from auditpack.report._xlsx_sheets import (
    CONTROLS_HEADER,
    EVIDENCE_HEADER,
    FINDINGS_HEADER,
    LINEAGE_HEADER,
    METRICS_HEADER,
)
from auditpack.report.model import (
    APPENDIX_TITLES,
    SECTION_APPENDIX,
    SECTION_COVERAGE,
    SECTION_EVIDENCE,
    SECTION_SUMMARY,
    workbook_sheet,
)
from tests.evidence.conftest import CollectedOrg
from tests.evidence.test_ground_truth import IDENTITY_KEYS

MAX_PAGES = 150  # the bound for a 10,000-seat organization; the sample is far below


@dataclass(frozen=True)
class Bookmark:
    title: str
    page: int  # 0-based
    children: tuple[Bookmark, ...]


@dataclass(frozen=True)
class Sample:
    """The unpacked package: its JSON, the PDF's pages and outline, the reopened workbook."""

    data: Path
    package: dict[str, Any]
    controls: dict[str, dict[str, Any]]  # framework key → controls/<key>.json
    evidence: list[dict[str, Any]]  # evidence/*.json in id order
    findings: list[dict[str, Any]]
    pages: tuple[str, ...]  # each page's text, whitespace collapsed
    outline: tuple[Bookmark, ...]
    book: Any

    def section(self, title: str) -> str:
        """The text of a top-level section's pages (each section starts on a new page)."""
        tops = [b.page for b in self.outline] + [len(self.pages)]
        index = [b.title for b in self.outline].index(title)
        return " ".join(self.pages[tops[index]:tops[index + 1]])

    def evidence_text(self, evidence_id: str) -> str:
        """The pages an evidence item's entry spans (items follow one another on a page)."""
        (items,) = [b.children for b in self.outline if b.title == SECTION_EVIDENCE]
        starts = [b.page for b in items] + [self._after(SECTION_EVIDENCE)]
        index = [b.title.split(" ", 1)[0] for b in items].index(evidence_id)
        return " ".join(self.pages[starts[index]:starts[index + 1] + 1])

    def _after(self, title: str) -> int:
        titles = [b.title for b in self.outline]
        following = titles.index(title) + 1
        return self.outline[following].page if following < len(titles) else len(self.pages)


def _outline(reader: pypdf.PdfReader, items: list[Any]) -> tuple[Bookmark, ...]:
    """pypdf lists a bookmark, then (as a list) its children."""
    out: list[Bookmark] = []
    for item in items:
        if isinstance(item, list):
            last = out.pop()
            out.append(Bookmark(last.title, last.page, _outline(reader, item)))
        else:
            out.append(Bookmark(str(item.title), reader.get_destination_page_number(item), ()))
    return tuple(out)


def _squash(text: str) -> str:
    return "".join(text.split())


@pytest.fixture(scope="module")
def built(packaged: dict[str, Path]) -> Sample:
    return read_package(packaged["bag"])


def read_package(bag: Path) -> Sample:
    """Parse an unpacked package once for every test of this module."""
    data = bag / "data"
    reader = pypdf.PdfReader(data / "report.pdf")
    package = json.loads((data / "package.json").read_text())
    return Sample(
        data=data, package=package,
        controls={fw["key"]: json.loads((data / "controls" / f"{fw['key']}.json").read_text())
                  for fw in package["frameworks"]},
        evidence=[json.loads(p.read_text()) for p in sorted((data / "evidence").glob("*.json"))],
        findings=[json.loads(line) for line in
                  (data / "findings.jsonl").read_text().splitlines()],
        pages=tuple(" ".join((page.extract_text() or "").split()) for page in reader.pages),
        outline=_outline(reader, reader.outline),
        book=openpyxl.load_workbook(data / "evidence.xlsx"))


def _section_titles(sample: Sample) -> list[str]:
    frameworks = [f"{sample.controls[fw['key']]['short_name']} controls"
                  for fw in sample.package["frameworks"]]
    return [SECTION_SUMMARY, SECTION_COVERAGE, *frameworks, SECTION_EVIDENCE, SECTION_APPENDIX]


# --- the PDF ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_outline_lists_every_section_in_order(built: Sample) -> None:
    chosen = [fw["key"] for fw in built.package["frameworks"]]
    assert sorted(chosen) == sorted(load_catalogs(catalog_dir()))  # no --framework: all
    assert [b.title for b in built.outline] == _section_titles(built)
    children = {b.title: [c.title for c in b.children] for b in built.outline}
    assert children[SECTION_APPENDIX] == list(APPENDIX_TITLES)
    assert children[SECTION_EVIDENCE] == [f"{e['id']} {e['title']}" for e in built.evidence]
    for fw in built.package["frameworks"]:
        groups = list(dict.fromkeys(c["group"] for c in built.controls[fw["key"]]["controls"]))
        section = f"{built.controls[fw['key']]['short_name']} controls"
        assert len(children[section]) == len(groups), section
        for title, group in zip(children[section], groups, strict=True):
            assert title == group or title.startswith(f"{group} "), (title, group)
    pages = [b.page for b in built.outline]
    assert pages == sorted(set(pages))  # every section starts a page of its own
    for bookmark in built.outline:  # and the bookmark leads to its heading
        assert built.pages[bookmark.page].find(bookmark.title) >= 0, bookmark.title


@pytest.mark.slow
def test_every_control_is_in_its_framework_section_and_the_matrix(built: Sample) -> None:
    matrix = _squash(built.section(SECTION_COVERAGE))
    for key, doc in built.controls.items():
        section = " ".join(built.section(f"{doc['short_name']} controls").split())
        assert doc["controls"], key
        for control in doc["controls"]:
            assert f"{control['id']} {control['title']}" in section, (key, control["id"])
            assert _squash(control["id"]) in matrix, (key, control["id"])


@pytest.mark.slow
def test_planted_findings_appear_under_their_evidence_item(sample: CollectedOrg,
                                                         built: Sample) -> None:
    ids = {e["key"]: e["id"] for e in built.evidence}
    assert sample.truth.anomalies
    for anomaly in sample.truth.anomalies:
        wanted = {k: v for k, v in anomaly.subject.items() if k in IDENTITY_KEYS}
        matching = [f for f in built.findings if f["evidence"] == anomaly.evidence
                    and all(f["subject"].get(k) == v for k, v in wanted.items())]
        assert matching, f"{anomaly.id}: no finding in findings.jsonl"
        text = _squash(built.evidence_text(ids[anomaly.evidence]))
        shown = [f for f in matching if f["id"] in text and _squash(f["title"]) in text]
        assert shown, f"{anomaly.id}: none of {[f['id'] for f in matching]} in the PDF"


@pytest.mark.slow
def test_pages_are_numbered_headed_and_never_empty(built: Sample) -> None:
    total = len(built.pages)
    assert 2 * len(_section_titles(built)) <= total < MAX_PAGES
    header = built.package["package_id"]
    for number, text in enumerate(built.pages, start=1):
        if number == 1:  # the cover: no running header or footer
            assert "Page 1 of" not in text and header in text
            continue
        assert f"Page {number} of {total}" in text, number
        assert header in text, number
        body = text.replace(f"Page {number} of {total}", "")
        assert len(body) > 300, f"page {number} is nearly empty: {text!r}"


# --- the workbook -------------------------------------------------------------------------------


def _header(ws: Any) -> list[Any]:
    return [cell.value for cell in next(ws.iter_rows(min_row=1, max_row=1))]


def _column(ws: Any, name: str) -> list[Any]:
    index = _header(ws).index(name)
    return [row[index] for row in ws.iter_rows(min_row=2, values_only=True)]


@pytest.mark.slow
def test_structural_sheets_hold_the_model(built: Sample) -> None:
    book = built.book
    assert book.sheetnames[:5] == ["Summary", "Controls", "Evidence", "Metrics", "Findings"]
    assert book.sheetnames[-1] == "Lineage"
    summary = {row[0]: row[1] for row in book["Summary"].iter_rows(values_only=True)}
    assert summary["Package id"] == built.package["package_id"]

    controls = book["Controls"]
    assert _header(controls) == list(CONTROLS_HEADER)
    expected = [(key, c["id"]) for key, doc in built.controls.items() for c in doc["controls"]]
    assert list(zip(_column(controls, "framework"), _column(controls, "control_id"),
                    strict=True)) == expected

    evidence = book["Evidence"]
    assert _header(evidence) == list(EVIDENCE_HEADER)
    assert _column(evidence, "evidence") == [e["id"] for e in built.evidence]
    assert _column(evidence, "findings") == [len(e["findings"]) for e in built.evidence]

    metrics = book["Metrics"]
    assert _header(metrics) == list(METRICS_HEADER)
    assert metrics.max_row - 1 == sum(len(e["metrics"]) for e in built.evidence)

    findings = book["Findings"]
    assert _header(findings) == list(FINDINGS_HEADER)
    assert _column(findings, "finding_id") == [f["id"] for f in built.findings]
    assert _column(findings, "title") == [f["title"] for f in built.findings]  # unchanged text

    lineage = book["Lineage"]
    assert _header(lineage) == list(LINEAGE_HEADER)
    assert lineage.max_row - 1 == sum(len(e["lineage"]["responses"]) for e in built.evidence)


@pytest.mark.slow
def test_every_evidence_table_has_its_sheet(built: Sample) -> None:
    """The sheet the PDF names for a table holds that table: its columns and every row."""
    book = built.book
    tables = 0
    for item in built.evidence:
        for table in item["tables"]:
            ws = book[workbook_sheet(item["id"], table["name"])]
            assert _header(ws) == [c["name"] for c in table["columns"]], ws.title
            assert ws.max_row - 1 == len(table["rows"]), ws.title
            assert ws.freeze_panes == "A2" and ws.auto_filter.ref, ws.title
            tables += 1
    assert tables >= len(built.evidence)
    assert sum(1 for ws in book.worksheets if ws.freeze_panes == "A2") == len(book.worksheets)


@pytest.mark.slow
def test_native_charts_cover_the_adoption_and_sign_in_series(built: Sample) -> None:
    charted = {name: item for item in built.evidence for name in item["charts"]}
    for name in ("adoption_series", "failures_per_day"):
        item = charted[name]
        ws = built.book[workbook_sheet(item["id"], name)]
        assert ws._charts, ws.title
        refs = [s.val.numRef.f for chart in ws._charts for s in chart.series]
        last = ws.max_row
        assert refs and all(re.search(rf"\$2:\$[A-Z]+\${last}$", ref) for ref in refs), refs


@pytest.mark.slow
def test_no_formula_cell_holds_api_text(built: Sample) -> None:
    texts = 0
    for ws in built.book.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (ws.title, cell.coordinate, cell.value)
                if isinstance(cell.value, str):
                    texts += 1
                    if cell.value[:1] in ("=", "+", "-", "@", "\t", "\r"):
                        assert cell.quotePrefix, (ws.title, cell.coordinate)
    assert texts > 1000  # e-mails, names, titles: the check had something to check
    with zipfile.ZipFile(built.data / "evidence.xlsx") as zf:
        sheets = [n for n in zf.namelist() if n.startswith("xl/worksheets/sheet")]
        assert len(sheets) == len(built.book.worksheets)
        for name in sheets:
            assert not re.search(rb"<f[ >]", zf.read(name)), name
