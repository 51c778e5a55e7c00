"""What every evidence item takes and returns.

An evidence item reads the store for one period through an `EvidenceContext` (a read-only
DuckDB connection, the period, the policy and what was collected) and returns an
`EvidenceResult`. Items never talk HTTP and never read configuration files: the pipeline
builds the context.

Status rules (design.md §3): `insufficient_data` is never shown or counted as a pass; an item
whose data source was not collected, or whose period reaches outside what the store holds,
says so with the reason instead of passing by default.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import UTC as _UTC
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any

import duckdb


class Status(StrEnum):
    """An evidence item's verdict over the period."""

    EFFECTIVE = "effective"
    EXCEPTIONS = "exceptions"
    INSUFFICIENT_DATA = "insufficient_data"
    NOT_APPLICABLE = "not_applicable"


class Coverage(StrEnum):
    """How much of what the item needs was actually collected."""

    FULL = "full"
    PARTIAL = "partial"
    NONE = "none"


class Severity(StrEnum):
    """How urgently a finding needs attention."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"


SEVERITY_ORDER = {Severity.HIGH: 0, Severity.MEDIUM: 1, Severity.LOW: 2, Severity.INFO: 3}


@dataclass(frozen=True)
class Period:
    """An inclusive range of UTC days under assessment."""

    start: date
    end: date

    @property
    def start_at(self) -> datetime:
        """The first instant of the period (UTC)."""
        return datetime.combine(self.start, time.min).replace(tzinfo=_UTC)

    @property
    def end_at(self) -> datetime:
        """The instant just after the period (UTC), exclusive."""
        return datetime.combine(self.end + timedelta(days=1), time.min).replace(tzinfo=_UTC)

    @property
    def days(self) -> int:
        """Number of days in the period."""
        return (self.end - self.start).days + 1

    def label(self) -> str:
        """`2026-07-01..2026-09-30`."""
        return f"{self.start.isoformat()}..{self.end.isoformat()}"



@dataclass(frozen=True)
class Finding:
    """One thing an auditor should look at, traceable to the responses that prove it."""

    id: str
    evidence: str
    severity: Severity
    title: str
    subject: dict[str, str]
    occurred_at: datetime | None
    detail: str
    sources: tuple[str, ...]  # activity ids and/or "sha256:<archived page>"
    rule: str

    def as_json(self) -> dict[str, Any]:
        """The findings.jsonl shape (design.md §3)."""
        return {
            "id": self.id, "evidence": self.evidence, "severity": self.severity.value,
            "title": self.title, "subject": self.subject,
            "occurred_at": self.occurred_at.isoformat().replace("+00:00", "Z")
            if self.occurred_at else None,
            "detail": self.detail, "sources": list(self.sources), "rule": self.rule,
        }


def finding_id(evidence: str, rule: str, subject: dict[str, str],
               occurred_at: datetime | None) -> str:
    """A deterministic id: the same fact found twice gets the same id."""
    key = "|".join([evidence, rule, *(f"{k}={subject[k]}" for k in sorted(subject)),
                    occurred_at.isoformat() if occurred_at else ""])
    return "F-" + hashlib.sha256(key.encode()).hexdigest()[:16]


def make_finding(evidence: str, rule: str, severity: Severity, title: str,
                 subject: dict[str, str], occurred_at: datetime | None, detail: str,
                 sources: list[str] | tuple[str, ...]) -> Finding:
    """A Finding with its deterministic id and sorted, de-duplicated sources."""
    subject = {k: str(v) for k, v in subject.items() if v is not None and v != ""}
    return Finding(finding_id(evidence, rule, subject, occurred_at), evidence, severity, title,
                   subject, occurred_at, detail, tuple(sorted(set(sources))), rule)


@dataclass(frozen=True)
class Column:
    """A typed table column: `str`, `int`, `float`, `date`, `datetime` or `bool`."""

    name: str
    type: str


@dataclass
class Table:
    """A named table of an evidence result (full lists go to the workbook)."""

    name: str
    title: str
    columns: list[Column]
    rows: list[tuple[Any, ...]]


@dataclass
class Lineage:
    """Which archived responses an item read and the period its data actually covers."""

    responses: list[str] = field(default_factory=list)  # sha256 of archived pages
    covered: tuple[date, date] | None = None
    sources: list[str] = field(default_factory=list)  # "analytics", "compliance"


@dataclass
class EvidenceResult:
    """One evidence item's result for one period."""

    id: str
    key: str
    title: str
    status: Status
    coverage: Coverage
    metrics: dict[str, int | float | str | None] = field(default_factory=dict)
    tables: list[Table] = field(default_factory=list)
    charts: dict[str, Any] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    lineage: Lineage = field(default_factory=Lineage)
    method: str = ""
    limitations: list[str] = field(default_factory=list)
    reason: str | None = None  # why insufficient_data / not_applicable


@dataclass(frozen=True)
class WorkingHours:
    """When people are expected to work, in the policy's time zone."""

    start: time = time(7, 0)
    end: time = time(20, 0)
    days: tuple[int, ...] = (0, 1, 2, 3, 4)  # Monday = 0


@dataclass(frozen=True)
class Policy:
    """The customer's policy values (validated against the frameworks before use)."""

    dormant_days: int = 90
    key_rotation_days: int = 90
    termination_revocation_max_hours: int = 24
    time_zone: str = "UTC"
    working_hours: WorkingHours = WorkingHours()
    approved_connectors: tuple[str, ...] | None = None  # None: no list configured
    approved_skills: tuple[str, ...] | None = None
    restricted_workspaces: tuple[str, ...] = ()
    restricted_projects: tuple[str, ...] = ()
    restricted_groups: tuple[str, ...] = ()
    download_burst_sensitivity: float = 3.0  # multiples of a user's own baseline
    failed_login_burst: int = 10  # failures from one source within the burst window
    failed_login_window_minutes: int = 15
    settings_baseline: dict[str, Any] = field(default_factory=dict)
    cost_centres: dict[str, str] = field(default_factory=dict)  # group id or e-mail domain
    log_retention_min_days: int = 365
    access_review_max_interval_days: int = 92  # quarterly; PCI 7.2.4 allows at most 183
    revocation_deadline_days: int = 14  # from a reviewer's Revoke/Modify to its execution


@dataclass
class Holdings:
    """What the store holds, so items can say `insufficient_data` precisely."""

    analytics_days: dict[str, tuple[date, date] | None] = field(default_factory=dict)
    feed_covered: tuple[datetime, datetime] | None = None
    # The oldest activity held: when a window was read from the feed's very beginning, the
    # feed itself starts here (recording starts when the Compliance API is enabled).
    feed_first_event: datetime | None = None
    snapshot_id: str | None = None  # the directory snapshot closest to the period end
    snapshot_as_of: datetime | None = None

    def has_analytics(self, report: str = "users") -> bool:
        """Whether any day of this Analytics report is held."""
        return self.analytics_days.get(report) is not None

    @property
    def has_compliance(self) -> bool:
        """Whether feed windows and a directory snapshot are held."""
        return self.feed_covered is not None and self.snapshot_id is not None


@dataclass
class EvidenceContext:
    """Everything an item may read: a read-only connection and values, nothing global."""

    con: duckdb.DuckDBPyConnection
    period: Period
    policy: Policy
    holdings: Holdings
    as_of: datetime  # when the assessment is made (the collection clock)


class EvidenceItem(ABC):
    """One evidence item (EV01–EV20). Subclasses are stateless."""

    id: str
    key: str
    title: str

    @abstractmethod
    def compute(self, ctx: EvidenceContext) -> EvidenceResult:
        """Run the analysis; never raise for missing data (return insufficient_data)."""
