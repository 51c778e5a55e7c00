"""Importing returned workbooks: every check, every problem named, all or nothing per file.

A workbook is accepted only if it belongs to an open campaign, comes from a reviewer of that
campaign (the one importing, when `--reviewer` says who that is), holds exactly that
reviewer's rows with every locked cell as exported, and every decision is allowed and
justified where it must be. Otherwise nothing from the file is recorded and each problem is
listed with its row and column. The same file imported twice is recorded once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from auditpack.errors import CheckFailed
from auditpack.review.campaigns import CampaignStore
from auditpack.review.model import DECISIONS, NEEDS_JUSTIFICATION, Decision, ImportRecord, MemberRow
from auditpack.review.workbook import (
    HEADERS,
    LOCKED,
    MAX_FILE_BYTES,
    META_SHEET,
    WORKBOOK_FORMAT,
    UnreadableWorkbook,
    cell_value,
    locked_digest,
    normalized,
    read_workbook,
)

_MAX_SHOWN = 200  # problems listed per file; the count says how many there were


@dataclass(frozen=True)
class FileProblem:
    """One thing wrong with a returned workbook: where (row, column) and what."""

    row: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        where = ", ".join(p for p in (f"row {self.row}" if self.row else None,
                                      f"column {self.column!r}" if self.column else None) if p)
        return f"{where}: {self.message}" if where else self.message


class WorkbookRefused(CheckFailed):
    """A returned workbook failed its checks; nothing from it was recorded."""

    def __init__(self, file: Path, problems: list[FileProblem]) -> None:
        super().__init__(f"{file.name}: refused, {len(problems)} problem"
                         f"{'s' if len(problems) != 1 else ''}; nothing recorded from it")
        self.file = file
        self.problems = problems

    def __reduce__(self) -> tuple[type[WorkbookRefused], tuple[Path, list[FileProblem]]]:
        # import workers send refusals back to the parent process
        return (WorkbookRefused, (self.file, self.problems))

    def lines(self) -> list[str]:
        shown = [f"  {p}" for p in self.problems[:_MAX_SHOWN]]
        if len(self.problems) > _MAX_SHOWN:
            shown.append(f"  … and {len(self.problems) - _MAX_SHOWN} more")
        return [self.one_line(), *shown]


@dataclass(frozen=True)
class Imported:
    """An accepted workbook: its record, and whether it had been imported before."""

    record: ImportRecord
    already: bool


def import_workbook(cs: CampaignStore, path: Path, *, at: datetime,
                    campaign_id: str | None = None, reviewer: str | None = None) -> Imported:
    """Validate `path` and record its decisions; raises WorkbookRefused listing every problem."""
    data = _read_bytes(path)
    sha = hashlib.sha256(data).hexdigest()
    try:
        book = read_workbook(data)
    except UnreadableWorkbook as exc:
        raise WorkbookRefused(path, [FileProblem(None, None, str(exc))]) from None
    problems: list[FileProblem] = []
    named = book.meta.get("campaign_id", "")
    if book.meta.get("format") != WORKBOOK_FORMAT or not named:
        raise WorkbookRefused(path, [FileProblem(None, None, "not an auditpack review workbook "
                                                 f"(no {META_SHEET} sheet of this format)")])
    if campaign_id and named != campaign_id:
        raise WorkbookRefused(path, [FileProblem(None, None, f"belongs to campaign {named!r}, "
                                                 f"not {campaign_id!r}")])
    if named not in cs.ids():
        raise WorkbookRefused(path, [FileProblem(None, None, f"belongs to campaign {named!r}, "
                                                 "which this store does not hold")])
    campaign = cs.load(named)
    if cs.is_closed(named):
        raise WorkbookRefused(path, [FileProblem(None, None, f"campaign {named} is closed; "
                                                 "nothing more can be recorded in it")])
    owner = book.meta.get("reviewer", "").lower()
    if owner not in campaign.assignments:
        raise WorkbookRefused(path, [FileProblem(None, None, f"reviewer {owner!r} has no rows "
                                                 f"in campaign {named}")])
    if reviewer and reviewer.lower() != owner:
        raise WorkbookRefused(path, [FileProblem(None, None, f"this is {owner}'s workbook; "
                                                 f"{reviewer.lower()} cannot import it")])
    if cs.has_import(named, sha):
        previous = next(r for r in cs.imports(named) if r.file_sha256 == sha)
        return Imported(previous, already=True)
    if book.header != HEADERS:
        problems.append(FileProblem(1, None, "the header row was changed (expected: "
                                    + ", ".join(HEADERS) + ")"))
        raise WorkbookRefused(path, problems)
    rows = cs.row_index(named)
    mine = campaign.assignments[owner]
    decisions, read_cells = _check_rows(book.rows, rows, set(mine), problems)
    problems.extend(FileProblem(None, "Row ID", f"row {rid} ({_who(rows[rid])}) was removed "
                                "from the workbook") for rid in mine if rid not in read_cells)
    if not problems and locked_digest(read_cells[rid] for rid in mine) != campaign.digests.get(
            owner):
            problems.append(FileProblem(None, None, "the reviewed rows do not match the digest "
                                        "recorded when the campaign opened"))
    if problems:
        raise WorkbookRefused(path, problems)
    record = ImportRecord(campaign_id=named, reviewer=owner, file_name=path.name,
                          file_sha256=sha, imported_at=at, decisions=decisions)
    cs.add_import(record)
    return Imported(record, already=False)


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, read once (hashed and parsed from memory); oversized files unread."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise WorkbookRefused(path, [FileProblem(None, None, "larger than "
                                                     f"{MAX_FILE_BYTES // 2**20} MiB")])
        return path.read_bytes()
    except OSError as exc:
        raise WorkbookRefused(path, [FileProblem(None, None, f"cannot read the file: "
                                                 f"{exc.strerror}")]) from None


def _check_rows(read: list[tuple[int, tuple[object, ...]]], expected: Mapping[str, MemberRow],
                mine: set[str], problems: list[FileProblem],
                ) -> tuple[list[Decision], dict[str, tuple[object, ...]]]:
    """Every read row against the frozen one: the decisions of the rows that pass, and the
    locked cells read per row id."""
    decisions: list[Decision] = []
    seen: dict[str, tuple[object, ...]] = {}
    width = len(HEADERS)
    for number, values in read:
        cells = tuple(values[:width]) + (None,) * (width - len(values))
        if any(v not in (None, "") for v in values[width:]):
            problems.append(FileProblem(number, None, "holds values beyond the last column"))
        rid = normalized(cells[0])
        row = expected.get(rid)
        if row is None or rid not in mine:
            problems.append(FileProblem(number, "Row ID", (
                f"row {rid!r} is not in this campaign" if row is None else
                f"row {rid} ({_who(row)}) is assigned to another reviewer")
                if rid else "a row was added (no Row ID)"))
            continue
        if rid in seen:
            problems.append(FileProblem(number, "Row ID", f"row {rid} appears twice"))
            continue
        seen[rid] = cells[:len(LOCKED)]
        for (header, field), found in zip(LOCKED, cells, strict=False):
            want = normalized(cell_value(row, field))
            if normalized(found) != want:
                problems.append(FileProblem(number, header, f"locked cell changed: expected "
                                            f"{want!r}, found {normalized(found)!r}"))
        decision = _decision(number, rid, cells[-2], cells[-1], problems)
        if decision is not None:
            decisions.append(decision)
    return decisions, seen


def _decision(number: int, rid: str, raw_choice: object, raw_reason: object,
              problems: list[FileProblem]) -> Decision | None:
    choice = normalized(raw_choice).strip()
    reason = normalized(raw_reason).strip() or None
    if not choice:
        if reason:
            problems.append(FileProblem(number, "Decision", "a justification without a decision"))
        return None  # undecided: allowed in a partial return, counted by `review status`
    canonical = next((d for d in DECISIONS if d.lower() == choice.lower()), None)
    if canonical is None:
        problems.append(FileProblem(number, "Decision", f"{choice!r} is not one of "
                                    f"{', '.join(DECISIONS)}"))
        return None
    if canonical in NEEDS_JUSTIFICATION and reason is None:
        problems.append(FileProblem(number, "Justification",
                                    f"{canonical} needs a justification"))
        return None
    return Decision(row_id=rid, decision=canonical, justification=reason)


def _who(row: MemberRow) -> str:
    return row.email or row.user_id
