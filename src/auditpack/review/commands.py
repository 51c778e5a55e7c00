"""`auditpack review start|export|import|status|close`: the campaign life cycle, wired.

Each function takes the store path and plain values and returns what the command prints, so
tests drive the workflow exactly as the command line does.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import duckdb

from auditpack.errors import CheckFailed, UsageError
from auditpack.review.assign import Rules, assign, read_rules, valid_email
from auditpack.review.campaigns import CampaignStore
from auditpack.review.decisions import Imported, WorkbookRefused, import_workbook
from auditpack.review.model import Campaign, Change, MemberRow, Snapshot, canonical, rows_digest
from auditpack.review.snapshot import latest_instant, review_state
from auditpack.review.workbook import locked_cells, locked_digest, workbook_name, write_workbook

_T = TypeVar("_T")


@dataclass(frozen=True)
class Started:
    campaign: Campaign
    rows: int
    folder: Path


def start(store_path: Path, con: duckdb.DuckDBPyConnection, *, period_label: str,
          period_start: date, period_end: date, reviewers_csv: Path | None,
          fallback: str | None, dormant_days: int, due_days: int, now: datetime,
          as_of: datetime | None = None, due: date | None = None) -> Started:
    """Open a campaign over the access held at `as_of` (default: the freshest data held)."""
    cs = CampaignStore(store_path)
    if fallback is not None and not valid_email(fallback):
        raise UsageError(f"--fallback-reviewer {fallback!r} is not an e-mail address")
    open_ids = cs.open_ids()
    if open_ids:
        raise UsageError(f"review campaign {open_ids[0]} is still open",
                         hint="close it with `auditpack review close` before starting another")
    at = (as_of or latest_instant(con))
    if at is None:
        raise UsageError("the store holds no Compliance data to review",
                         hint="collect first (`auditpack collect`)")
    at = at.astimezone(UTC)
    rules = read_rules(reviewers_csv) if reviewers_csv else Rules()
    previous = _previous(cs, at)
    before = {(r.org_uuid, r.user_id): r for r in cs.rows(previous.campaign_id)} \
        if previous else None
    state = review_state(con, at, dormant_days=dormant_days,
                         leaver_since=previous.snapshot.as_of if previous else None,
                         previous=before)
    if not state.rows:
        raise UsageError(f"nobody holds access at {at:%Y-%m-%d %H:%M} UTC in the data held")
    group_ids = {str(n).lower(): str(i).lower() for n, i in con.execute(
        "SELECT DISTINCT name, group_id FROM dir_groups WHERE name IS NOT NULL").fetchall()}
    plan = assign(state.rows, rules, fallback, group_ids)
    by_id = {r.row_id: r for r in state.rows}
    digests = {reviewer: locked_digest(locked_cells(by_id[i]) for i in ids)
               for reviewer, ids in plan.by_reviewer.items()}
    members_sha = rows_digest(state.rows)
    snapshot = Snapshot(as_of=at, directory_snapshot_id=state.directory_snapshot_id,
                        directory_snapshot_as_of=state.directory_snapshot_as_of,
                        members=len({r.user_id for r in state.rows}), members_sha256=members_sha)
    identity = canonical({"period": period_label, "as_of": at.isoformat(),
                          "members": members_sha, "assignments": plan.by_reviewer,
                          "opened_at": now.isoformat()})
    campaign_id = f"{_slug(period_label)}-{hashlib.sha256(identity).hexdigest()[:8]}"
    campaign = Campaign(
        campaign_id=campaign_id, period_label=period_label, period_start=period_start,
        period_end=period_end, opened_at=now, due=due or (now + timedelta(days=due_days)).date(),
        snapshot=snapshot, previous_campaign=previous.campaign_id if previous else None,
        fallback_reviewer=fallback.lower() if fallback else None,
        reviewers_file_sha256=(hashlib.sha256(reviewers_csv.read_bytes()).hexdigest()
                               if reviewers_csv else None),
        assignments=plan.by_reviewer, digests=digests, unassigned=plan.unassigned,
        unmatched_rules=plan.unmatched_rules,
        changes=_changes(before, state.rows) if before is not None else [])
    folder = cs.create(campaign, state.rows)
    return Started(campaign, len(state.rows), folder)


def _previous(cs: CampaignStore, at: datetime) -> Campaign | None:
    """The latest campaign reviewing an earlier state (closed or not)."""
    earlier = [c for c in (cs.load(i) for i in cs.ids()) if c.snapshot.as_of < at]
    return max(earlier, key=lambda c: (c.snapshot.as_of, c.opened_at), default=None)


def _changes(before: dict[tuple[str | None, str], MemberRow],
             rows: list[MemberRow]) -> list[Change]:
    """Who joined, left, or changed role between the previous campaign's snapshot and this one."""
    now = {(r.org_uuid, r.user_id): r for r in rows}
    out: list[Change] = []
    for key, row in now.items():
        old = before.get(key)
        if old is None:
            out.append(Change(kind="joined", org_uuid=row.org_uuid, organization=row.organization,
                              user_id=row.user_id, email=row.email, role=row.role))
        elif (old.role or "") != (row.role or ""):
            out.append(Change(kind="role changed", org_uuid=row.org_uuid,
                              organization=row.organization, user_id=row.user_id,
                              email=row.email, previous_role=old.role, role=row.role))
    for key, old in before.items():
        if key not in now:
            out.append(Change(kind="left", org_uuid=old.org_uuid, organization=old.organization,
                              user_id=old.user_id, email=old.email, previous_role=old.role))
    return sorted(out, key=lambda c: (c.kind, c.organization, c.email or "", c.user_id))


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c == "-" else "-" for c in text).strip("-") or "review"


# --- export ------------------------------------------------------------------------------------


def export(store_path: Path, out: Path, *, campaign_id: str | None = None) -> list[Path]:
    """One workbook per reviewer of the campaign, written to `out`."""
    cs = CampaignStore(store_path)
    campaign = cs.resolve(campaign_id, open_only=True)
    out.mkdir(parents=True, exist_ok=True)
    reviewers = list(campaign.assignments)
    chunks = _in_parallel(_export_chunk, [(store_path, campaign.campaign_id, out, part)
                                          for part in _split(reviewers)])
    return [path for chunk in chunks for path in chunk]


def _export_chunk(store_path: Path, campaign_id: str, out: Path,
                  reviewers: list[str]) -> list[Path]:
    cs = CampaignStore(store_path)
    campaign = cs.load(campaign_id)
    rows = cs.row_index(campaign_id)
    written = []
    for reviewer in reviewers:
        path = out / workbook_name(campaign, reviewer)
        write_workbook(path, campaign, reviewer, [rows[i] for i in campaign.assignments[reviewer]])
        written.append(path)
    return written


# Workbooks are small and many: a campaign with thousands of reviewers is written and read by
# worker processes (openpyxl is pure Python, so threads would not help).
_PARALLEL_FROM = 64


def _split(items: list[Any]) -> list[list[Any]]:
    workers = min(os.cpu_count() or 1, 8) if len(items) >= _PARALLEL_FROM else 1
    size = -(-len(items) // workers) if items else 1
    return [items[i:i + size] for i in range(0, len(items), size)] or [[]]


def _in_parallel(fn: Callable[..., _T], jobs: list[tuple[Any, ...]]) -> list[_T]:
    if len(jobs) == 1:
        return [fn(*jobs[0])]
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=len(jobs)) as pool:
        return list(pool.map(fn, *zip(*jobs, strict=True)))


# --- import ------------------------------------------------------------------------------------


@dataclass
class ImportOutcome:
    accepted: list[Imported] = field(default_factory=list)
    refused: list[WorkbookRefused] = field(default_factory=list)


def import_files(store_path: Path, files: list[Path], *, now: datetime,
                 campaign_id: str | None = None, reviewer: str | None = None) -> ImportOutcome:
    """Import each file on its own: a refused file records nothing and blocks no other."""
    cs = CampaignStore(store_path)
    if not cs.ids():
        raise UsageError("no review campaign", hint="start one with `auditpack review start`")
    # the same file named twice is one import
    unique = list(dict.fromkeys(files))
    outcome = ImportOutcome()
    for part in _in_parallel(_import_chunk, [(store_path, chunk, now, campaign_id, reviewer)
                                             for chunk in _split(unique)]):
        outcome.accepted += part.accepted
        outcome.refused += part.refused
    return outcome


def _import_chunk(store_path: Path, files: list[Path], now: datetime, campaign_id: str | None,
                  reviewer: str | None) -> ImportOutcome:
    cs = CampaignStore(store_path)
    outcome = ImportOutcome()
    for path in files:
        try:
            outcome.accepted.append(import_workbook(cs, path, at=now, campaign_id=campaign_id,
                                                    reviewer=reviewer))
        except WorkbookRefused as refused:
            outcome.refused.append(refused)
    return outcome


# --- status ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewerProgress:
    reviewer: str
    rows: int
    decided: int
    counts: dict[str, int]
    files: int
    overdue: bool

    @property
    def undecided(self) -> int:
        return self.rows - self.decided


@dataclass(frozen=True)
class CampaignProgress:
    campaign: Campaign
    closed: bool
    reviewers: list[ReviewerProgress]
    unassigned: int
    undecided_rows: list[MemberRow]

    @property
    def rows(self) -> int:
        return sum(r.rows for r in self.reviewers) + self.unassigned

    @property
    def decided(self) -> int:
        return sum(r.decided for r in self.reviewers)


def progress(store_path: Path, *, campaign_id: str | None = None,
             today: date | None = None) -> CampaignProgress:
    """Completion per reviewer, undecided rows, overdue reviewers."""
    cs = CampaignStore(store_path)
    campaign = cs.resolve(campaign_id)
    rows = cs.row_index(campaign.campaign_id)
    standing = cs.decisions(campaign.campaign_id)
    files = Counter(r.reviewer for r in cs.imports(campaign.campaign_id))
    closed = cs.is_closed(campaign.campaign_id)
    today = today or datetime.now(UTC).date()
    reviewers = []
    for reviewer, ids in campaign.assignments.items():
        counts: Counter[str] = Counter(standing[i][0].decision for i in ids if i in standing)
        decided = sum(counts.values())
        reviewers.append(ReviewerProgress(
            reviewer, len(ids), decided, dict(counts), files[reviewer],
            overdue=not closed and decided < len(ids) and today > campaign.due))
    undecided = [rows[i] for i in rows if i not in standing]
    return CampaignProgress(campaign, closed, reviewers, len(campaign.unassigned), undecided)


def require_complete(state: CampaignProgress, allow_incomplete: bool) -> None:
    """Refuse to close while rows are undecided, unless the caller accepts (and records) it."""
    if not state.undecided_rows or allow_incomplete:
        return
    per = [f"{r.reviewer}: {r.undecided}" for r in state.reviewers if r.undecided]
    if state.unassigned:
        per.append(f"unassigned: {state.unassigned}")
    raise CheckFailed(f"{len(state.undecided_rows)} rows are still undecided ({'; '.join(per)})",
                      hint="import the missing workbooks, or close with --allow-incomplete "
                           "(recorded in the attestation)")
