"""Reviewer workbooks: written for one reviewer, read back as untrusted input.

Writing uses openpyxl's write-only mode (a campaign may need thousands of workbooks). Every
column but Decision and Justification is locked by sheet protection; the Decision column offers
Keep / Revoke / Modify as a dropdown. Protection without a password only prevents accidents:
what makes a workbook trustworthy is the import, which compares every locked cell with the
campaign's frozen rows and their recorded digest.

Reading treats the file as hostile: the zip is checked (size, entry count, names, compression
ratio) and every XML part is parsed with defusedxml, DTDs forbidden, before openpyxl opens it.
"""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError
from defusedxml.ElementTree import fromstring as defused_fromstring
from openpyxl import Workbook, load_workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font, PatternFill, Protection
from openpyxl.utils import get_column_letter
from openpyxl.workbook.protection import WorkbookProtection
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.xml import DEFUSEDXML

from auditpack.review.model import DECISIONS, Campaign, MemberRow

SHEET = "Review"
META_SHEET = "_auditpack"
INFO_SHEET = "Instructions"
WORKBOOK_FORMAT = "auditpack.review-workbook/v1"

# (header, MemberRow field) of the locked columns, in order
LOCKED: tuple[tuple[str, str], ...] = (
    ("Row ID", "row_id"), ("Organization", "organization"), ("E-mail", "email"),
    ("Name", "name"), ("User ID", "user_id"), ("Role", "role"), ("Groups", "groups"),
    ("Workspaces", "workspaces"), ("Active keys", "active_keys"), ("Joined", "joined_at"),
    ("Last activity", "last_activity"), ("Dormant", "dormant"), ("Leaver", "leaver"),
    ("Change since last review", "change"),
)
DECISION_HEADER, JUSTIFICATION_HEADER = "Decision", "Justification"
HEADERS = (*(h for h, _ in LOCKED), DECISION_HEADER, JUSTIFICATION_HEADER)
_WIDTHS = (14, 22, 30, 22, 30, 16, 28, 11, 11, 18, 18, 9, 9, 26, 12, 44)
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_ENTRIES = 200
MAX_UNPACKED_BYTES = 256 * 1024 * 1024
MAX_RATIO = 200  # uncompressed / compressed, per entry: beyond this it is a zip bomb


def cell_value(row: MemberRow, field: str) -> Any:
    """The value a locked cell holds: text, int, naive-UTC datetime (whole seconds), or None."""
    value = getattr(row, field)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None, microsecond=0)
    return value


def normalized(value: Any) -> str:
    """A cell's value as text, the same whether it was written or read back."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.replace(tzinfo=None, microsecond=0).isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def locked_cells(row: MemberRow) -> list[Any]:
    """The locked cells of one row, as written."""
    return [cell_value(row, field) for _, field in LOCKED]


def locked_digest(rows: Iterable[Sequence[Any]]) -> str:
    """SHA-256 over locked cells (written or read back), row by row in campaign order."""
    h = hashlib.sha256()
    for cells in rows:
        h.update("\x1f".join(normalized(v) for v in cells).encode())
        h.update(b"\x1e")
    return h.hexdigest()


def workbook_name(campaign: Campaign, reviewer: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in reviewer)
    return f"review-{campaign.campaign_id}-{safe}.xlsx"


def write_workbook(path: Path, campaign: Campaign, reviewer: str, rows: list[MemberRow]) -> None:
    """One reviewer's workbook: only their rows, everything but the decision locked."""
    wb = Workbook(write_only=True)
    wb.security = WorkbookProtection(lockStructure=True)
    ws = wb.create_sheet(SHEET)
    last = len(rows) + 1
    ws.freeze_panes = "B2"
    ws.auto_filter.ref = f"A1:{get_column_letter(len(HEADERS))}{last}"
    for i, width in enumerate(_WIDTHS, start=1):
        ws.column_dimensions[get_column_letter(i)].width = width
    decision_col = get_column_letter(len(LOCKED) + 1)
    choice = DataValidation(type="list", formula1='"' + ",".join(DECISIONS) + '"',
                            allow_blank=True, showErrorMessage=True, errorTitle="Decision",
                            error="Choose Keep, Revoke or Modify.", showInputMessage=True,
                            promptTitle="Decision",
                            prompt="Keep, Revoke or Modify; Revoke and Modify need a "
                                   "justification.")
    choice.add(f"{decision_col}2:{decision_col}{max(last, 2)}")
    ws.data_validations.append(choice)
    # locked everywhere, but filtering and sorting stay possible for the reviewer
    ws.protection.sheet = True
    ws.protection.autoFilter = False
    ws.protection.sort = False
    ws.protection.formatColumns = False
    header_font, header_fill = Font(bold=True, color="FFFFFF"), PatternFill("solid",
                                                                          fgColor="1F3A5F")
    header = []
    for text in HEADERS:
        cell = WriteOnlyCell(ws, text)
        cell.font, cell.fill = header_font, header_fill
        header.append(cell)
    ws.append(header)
    unlocked = Protection(locked=False)
    editable_fill = PatternFill("solid", fgColor="FFF7D6")
    wrap = Alignment(wrap_text=True, vertical="top")
    for row in rows:
        cells = [_cell(ws, value) for value in locked_cells(row)]
        for _ in (DECISION_HEADER, JUSTIFICATION_HEADER):
            cell = WriteOnlyCell(ws, None)
            cell.protection, cell.fill, cell.alignment = unlocked, editable_fill, wrap
            cells.append(cell)
        ws.append(cells)
    _instructions(wb, campaign, reviewer, len(rows))
    meta = wb.create_sheet(META_SHEET)
    meta.sheet_state = "veryHidden"
    for key, value in (("format", WORKBOOK_FORMAT), ("campaign_id", campaign.campaign_id),
                       ("reviewer", reviewer), ("rows", len(rows))):
        meta.append([key, value])
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)


def _cell(ws: Any, value: Any) -> WriteOnlyCell:
    cell = WriteOnlyCell(ws, value)
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        cell.data_type = "s"  # openpyxl would write text starting with '=' as a formula
        cell.quotePrefix = True  # and Excel keeps it text when the cell is edited
    elif isinstance(value, datetime):
        cell.number_format = "yyyy-mm-dd hh:mm"
    return cell


def _instructions(wb: Workbook, campaign: Campaign, reviewer: str, count: int) -> None:
    ws = wb.create_sheet(INFO_SHEET)
    ws.protection.sheet = True
    ws.column_dimensions["A"].width = 28
    ws.column_dimensions["B"].width = 90
    lines = [
        ("Access review", campaign.campaign_id),
        ("Reviewer", reviewer),
        ("Period", f"{campaign.period_label} ({campaign.period_start} – {campaign.period_end})"),
        ("Access as of", campaign.snapshot.as_of.strftime("%Y-%m-%d %H:%M UTC")),
        ("Due", campaign.due.isoformat()),
        ("Rows to review", count),
        ("", ""),
        ("How to review", "For each row choose a Decision: Keep (access is still needed), "
                          "Revoke (remove the person's access) or Modify (change their role)."),
        ("", "Revoke and Modify need a Justification (for Modify, say which role)."),
        ("", "Only the Decision and Justification columns can be edited. Do not add, remove "
             "or reorder rows; filtering and sorting are fine."),
        ("", "Return the saved file to your compliance team; it is checked cell by cell "
             "against the access that was reviewed."),
    ]
    for key, value in lines:
        ws.append([_cell(ws, key), _cell(ws, value)])


# --- reading an untrusted workbook ----------------------------------------------------------


@dataclass(frozen=True)
class ReadWorkbook:
    """What a returned workbook says: its identity and its review rows (row number, values)."""

    meta: dict[str, str]
    header: tuple[str, ...]
    rows: list[tuple[int, tuple[Any, ...]]]


class UnreadableWorkbook(Exception):
    """The file is not a workbook auditpack can safely read; the message says why."""


def read_workbook(data: bytes) -> ReadWorkbook:
    """Read a returned workbook's bytes after checking they are a safe, well-formed XLSX."""
    if len(data) > MAX_FILE_BYTES:
        raise UnreadableWorkbook(f"larger than {MAX_FILE_BYTES // 2**20} MiB")
    _check_archive(data)
    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            return _read_sheets(wb)
        finally:
            wb.close()
    except UnreadableWorkbook:
        raise
    except Exception as exc:  # openpyxl raises (and wraps) many types for broken parts
        cause: BaseException | None = exc
        while cause is not None and not isinstance(cause, DefusedXmlException):
            cause = cause.__cause__ or cause.__context__
        if cause is not None:
            raise UnreadableWorkbook(f"hostile XML: {type(cause).__name__} (DTDs and entity "
                                     "declarations are refused)") from None
        raise UnreadableWorkbook(f"not a readable workbook ({type(exc).__name__})") from None


def _read_sheets(wb: Any) -> ReadWorkbook:
    if SHEET not in wb.sheetnames or META_SHEET not in wb.sheetnames:
        raise UnreadableWorkbook("not an auditpack review workbook (sheets missing)")
    meta = {str(r[0]): "" if r[1] is None else str(r[1])
            for r in wb[META_SHEET].iter_rows(max_col=2, values_only=True)
            if r and r[0] is not None}
    rows_iter = wb[SHEET].iter_rows(values_only=True)
    header = tuple("" if v is None else str(v) for v in next(rows_iter, ()))
    rows = []
    for number, values in enumerate(rows_iter, start=2):
        if any(v not in (None, "") for v in values):
            rows.append((number, tuple(values)))
    return ReadWorkbook(meta, header, rows)


def _check_archive(data: bytes) -> None:
    """Refuse zip bombs, odd entry names and XML with DTDs or entities."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise UnreadableWorkbook("not an XLSX file (not a zip archive)") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_ENTRIES:
            raise UnreadableWorkbook(f"more than {MAX_ENTRIES} parts in the archive")
        if sum(i.file_size for i in infos) > MAX_UNPACKED_BYTES:
            raise UnreadableWorkbook("unpacks to more than "
                                     f"{MAX_UNPACKED_BYTES // 2**20} MiB (zip bomb?)")
        for info in infos:
            name = info.filename
            if name.startswith(("/", "\\")) or ".." in name.split("/") or ":" in name:
                raise UnreadableWorkbook(f"unsafe part name {name!r} in the archive")
            if info.file_size > MAX_RATIO * max(info.compress_size, 1) and info.file_size > 2**20:
                raise UnreadableWorkbook(f"part {name} is compressed {MAX_RATIO}× or more "
                                         "(zip bomb?)")
            # worksheets, the large parts, are parsed by openpyxl with defusedxml's iterparse
            # (entities forbidden); every other part is checked here
            if name.endswith((".xml", ".rels")) and not (DEFUSEDXML and _STREAMED.match(name)):
                _check_xml(name, zf.read(info))


_STREAMED = re.compile(r"xl/worksheets/sheet\d+\.xml")


def _check_xml(name: str, xml: bytes) -> None:
    try:
        defused_fromstring(xml, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise UnreadableWorkbook(f"hostile XML in {name}: {type(exc).__name__} "
                                 "(DTDs and entity declarations are refused)") from None
    except ParseError:
        raise UnreadableWorkbook(f"malformed XML in {name}") from None
