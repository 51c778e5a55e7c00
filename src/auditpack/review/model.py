"""What an access-review campaign is made of: the reviewed rows, the campaign, the decisions.

A campaign is pinned to one dated state of the store: every member row is frozen when the
campaign opens, and the SHA-256 of those rows (in their canonical JSON form) is the snapshot
hash that the attestation names. Reviewers see the rows in workbooks; what they may change is
the decision and its justification, nothing else.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

FORMAT = "auditpack.review/v1"
DECISIONS = ("Keep", "Revoke", "Modify")
NEEDS_JUSTIFICATION = frozenset({"Revoke", "Modify"})


class MemberRow(BaseModel):
    """One person's access in one organization (or leftover access outside any) at the snapshot."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    row_id: str
    org_uuid: str | None
    organization: str
    user_id: str
    email: str | None
    name: str | None
    role: str | None
    groups: str  # group names, "; "-separated, sorted
    workspaces: int
    active_keys: int
    joined_at: datetime | None
    last_activity: datetime | None
    dormant: bool
    leaver: bool
    change: str  # what changed since the previous campaign, "" if nothing


class Change(BaseModel):
    """One difference between this campaign's snapshot and the previous campaign's."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["joined", "left", "role changed"]
    org_uuid: str | None
    organization: str
    user_id: str
    email: str | None
    previous_role: str | None = None
    role: str | None = None


class Snapshot(BaseModel):
    """The dated state a campaign reviews."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    as_of: datetime
    directory_snapshot_id: str
    directory_snapshot_as_of: datetime
    members: int
    members_sha256: str


class Campaign(BaseModel):
    """`campaign.json`: everything fixed when the campaign opens."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: str = FORMAT
    campaign_id: str
    period_label: str
    period_start: date
    period_end: date
    opened_at: datetime
    due: date
    snapshot: Snapshot
    previous_campaign: str | None
    fallback_reviewer: str | None
    reviewers_file_sha256: str | None
    # reviewer e-mail -> the row ids they review, in workbook order
    assignments: dict[str, list[str]]
    # reviewer e-mail -> SHA-256 of the locked cells of their workbook (workbook.locked_digest)
    digests: dict[str, str]
    # row id -> why nobody could be assigned
    unassigned: dict[str, str]
    unmatched_rules: list[str] = Field(default_factory=list)
    changes: list[Change] = Field(default_factory=list)


class Decision(BaseModel):
    """One reviewer decision on one row."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    row_id: str
    decision: Literal["Keep", "Revoke", "Modify"]
    justification: str | None


class ImportRecord(BaseModel):
    """`imports/<sha256>.json`: one accepted workbook and the decisions it carried."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    campaign_id: str
    reviewer: str
    file_name: str
    file_sha256: str
    imported_at: datetime
    decisions: list[Decision]


def canonical(value: Any) -> bytes:
    """Sorted-key JSON bytes: the form every digest and signature is computed over."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_UTC_Z
                        | orjson.OPT_NAIVE_UTC)


def rows_digest(rows: list[MemberRow]) -> str:
    """The snapshot hash: SHA-256 over the rows as JSON lines, in campaign order."""
    h = hashlib.sha256()
    for row in rows:
        h.update(canonical(row.model_dump(mode="json")) + b"\n")
    return h.hexdigest()


def row_id(org_uuid: str | None, user_id: str) -> str:
    """A short stable id for one (organization, user) pair, shown in the workbook."""
    digest = hashlib.sha256(f"{org_uuid or '-'}|{user_id}".encode()).hexdigest()
    return f"R{digest[:10].upper()}"


def utc_now() -> datetime:
    """The current time in UTC, to the second."""
    return datetime.now(UTC).replace(microsecond=0)
