"""Shared code of EV14–EV20 (adoption, cost, timeline, logs, retention, agent activity).

Private to those items: the helpers here read the store through the context's read-only
connection and never change it (no SET, no temporary tables), so running them does not alter
what the other items see.

Timestamps: the store's columns are TIMESTAMPTZ; every day boundary here is computed with
`timezone('UTC', …)` so results do not depend on the session's TimeZone setting.
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import duckdb
import orjson

from auditpack.activity_catalog import known_types
from auditpack.evidence._common import compliance_gap
from auditpack.evidence.interface import (
    Column,
    EvidenceContext,
    Finding,
    Severity,
    Status,
    Table,
)

GENESIS = "0" * 64
LOG_NAME = "collection-log.jsonl"
DB_NAME = "auditpack.duckdb"

# Prefixes of agentic activity types. The feed's type set is open-ended, so new agent types
# are recognised by name as well as by the catalog's category.
AGENT_PREFIXES = ("claude_code_", "cowork_", "ccr_", "platform_agent_", "org_cowork_",
                  "org_claude_code_")
AGENT_CATEGORY = "Claude Code, Cowork & agents"


# -- small conversions ------------------------------------------------------------------------


def utc(value: datetime) -> datetime:
    """An aware datetime in UTC (DuckDB returns TIMESTAMPTZ in the session's zone)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def iso(value: datetime | None) -> str | None:
    """`2026-07-01T06:02:19Z`-style text, or None."""
    return utc(value).isoformat().replace("+00:00", "Z") if value is not None else None


def pct(part: float | int | Decimal | None, whole: float | int | Decimal | None) -> float | None:
    """A percentage rounded to one decimal, None when the whole is zero or unknown."""
    if part is None or not whole:
        return None
    return round(float(part) * 100.0 / float(whole), 1)


def cents(value: Decimal | None) -> str:
    """A Decimal amount of cents as canonical text (metrics hold str, never float money)."""
    return format(value if value is not None else Decimal(0), "f")


def period_days(ctx: EvidenceContext) -> tuple[date, date]:
    """The period's first and last day."""
    return ctx.period.start, ctx.period.end


def period_bounds(ctx: EvidenceContext) -> list[datetime]:
    """[start, end) of the period as aware datetimes, for `created_at >= ? AND < ?`."""
    return [ctx.period.start_at, ctx.period.end_at]


def subject(**values: str | None) -> dict[str, str]:
    """A finding subject without empty values (make_finding drops them too; this types it)."""
    return {k: v for k, v in values.items() if v}


def table(name: str, title: str, columns: Sequence[tuple[str, str]],
          rows: Iterable[Sequence[Any]]) -> Table:
    """A Table from (name, type) pairs and row sequences."""
    return Table(name, title, [Column(n, t) for n, t in columns], [tuple(r) for r in rows])


def status_of(findings: Sequence[Finding], at: Severity = Severity.MEDIUM) -> Status:
    """`exceptions` when any finding is at least as severe as `at`, else `effective`."""
    order = {Severity.HIGH: 0, Severity.MEDIUM: 1, Severity.LOW: 2, Severity.INFO: 3}
    worst = min((order[f.severity] for f in findings), default=9)
    return Status.EXCEPTIONS if worst <= order[at] else Status.EFFECTIVE


# -- the activity catalog -----------------------------------------------------------------


@cache
def types_where(*, relevance: str | None = None, category: str | None = None,
                suffix: str | None = None) -> tuple[str, ...]:
    """Documented activity types filtered by relevance, category and/or name suffix."""
    out = []
    for name, kind in known_types().items():
        if relevance is not None and kind.relevance != relevance:
            continue
        if category is not None and kind.category != category:
            continue
        if suffix is not None and not name.endswith(suffix):
            continue
        out.append(name)
    return tuple(sorted(out))


def category_of(name: str) -> str:
    """The catalog category of a type, or `unknown`."""
    kind = known_types().get(name)
    return kind.category if kind else "unknown"


def relevance_of(name: str) -> str:
    """The catalog relevance of a type, or `unknown`."""
    kind = known_types().get(name)
    return kind.relevance if kind else "unknown"


def quote(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def sql_in(column: str, values: Iterable[str]) -> str:
    """`column IN ('a', 'b')` with the values quoted, or FALSE for none (for small sets of
    rows already filtered; to select activities by type use `of_types`)."""
    quoted = sorted({quote(v) for v in values})
    return f"{column} IN ({', '.join(quoted)})" if quoted else "FALSE"


def of_types(types: Iterable[str], present: Iterable[str] | None = None) -> str:
    """A FROM-clause relation: the activities of these types, one `type = '…'` scan each.

    Why not `type IN (…)`: DuckDB pushes a single equality into the table scan and reads the
    other columns (above all the large `raw`) only where it matches, while an IN list is only
    an optional zone-map filter and reads every column of every row. On 5M events that is
    ~0.05 s per rare type against several seconds. `present` (the period's types) drops the
    types that do not occur, so the union stays short.
    """
    wanted = set(types)
    if present is not None:
        wanted &= set(present)
    if not wanted:
        return "(SELECT * FROM activities WHERE FALSE)"
    return "(" + " UNION ALL ".join(f"SELECT * FROM activities WHERE type = {quote(t)}"
                                    for t in sorted(wanted)) + ")"


def type_pages(ctx: EvidenceContext, relation: str, limit: int = 5000) -> list[str]:
    """The archived feed pages holding the period's rows of an `of_types` relation."""
    rows = ctx.con.execute(f"SELECT DISTINCT page_sha256 FROM {relation} WHERE created_at >= ? "
                           f"AND created_at < ? ORDER BY 1 LIMIT {int(limit)}",
                           period_bounds(ctx)).fetchall()
    return [r[0] for r in rows]


def present_types(ctx: EvidenceContext, lead_days: int = 0) -> list[str]:
    """The activity types that occur in the period (and `lead_days` before it): one cheap scan
    of the `type` column that keeps `of_types` unions short."""
    start, end = period_bounds(ctx)
    rows = ctx.con.execute("SELECT DISTINCT type FROM activities WHERE created_at >= ? "
                           "AND created_at < ? AND type IS NOT NULL ORDER BY 1",
                           [start - timedelta(days=lead_days), end]).fetchall()
    return [r[0] for r in rows]


def is_agent_type(name: str) -> bool:
    """Agentic activity: the catalog's agent category, or an agent name prefix (new types)."""
    return category_of(name) == AGENT_CATEGORY or name.startswith(AGENT_PREFIXES)


# -- what the feed covers -------------------------------------------------------------------


@dataclass(frozen=True)
class FeedSpan:
    """What the activity feed held covers: window bounds and the first event held."""

    lower: datetime | None  # None: read from the feed's very beginning
    upper: datetime
    first_event: datetime | None

    @property
    def start(self) -> datetime | None:
        """Where held history starts: the first window's lower bound, or (read from the
        beginning) the first event, since the Compliance API records from enablement only."""
        return self.lower if self.lower is not None else self.first_event


def feed_span(ctx: EvidenceContext) -> FeedSpan | None:
    """The feed's held span, from the context's holdings and the first stored event."""
    held = ctx.holdings.feed_covered
    if held is None:
        return None
    lower, upper = held
    first = ctx.holdings.feed_first_event
    if first is None:  # a context built without it: ask the store (one min() over a column)
        row = ctx.con.execute("SELECT min(created_at) FROM activities").fetchone()
        first = row[0] if row and row[0] is not None else None
    first = utc(first) if first is not None else None
    unbounded = lower.year <= 1  # context.holdings marks "from the beginning" as datetime.min
    return FeedSpan(None if unbounded else utc(lower), utc(upper), first)


def late_start_note(ctx: EvidenceContext) -> str | None:
    """A limitation when the feed's first event falls well inside the period."""
    span = feed_span(ctx)
    if span is None or span.lower is not None or span.first_event is None:
        return None
    if span.first_event - ctx.period.start_at > timedelta(days=1):
        return (f"The activity feed's first recorded event is {span.first_event:%Y-%m-%d %H:%M} "
                "UTC, after the period start: the Compliance API may have been enabled during "
                "the period, and nothing before enablement is recorded.")
    return None


# -- the store directory and its collection log ---------------------------------------------


def store_dir(ctx: EvidenceContext) -> Path | None:
    """The evidence store directory, found from the database file the connection reads.

    Read defensively: an in-memory or relocated database yields None and the checks that
    need the directory say they were not performed.
    """
    try:
        rows = ctx.con.execute("PRAGMA database_list").fetchall()
        current = ctx.con.execute("SELECT current_database()").fetchone()
    except duckdb.Error:  # an unusual connection: treat the directory as unknown
        return None
    name = current[0] if current else None
    for row in rows:
        file = row[2] if len(row) > 2 else None
        if not file or (name is not None and row[1] != name):
            continue
        root = Path(str(file)).parent
        if (root / "archive").is_dir() or (root / LOG_NAME).exists():
            return root
    return None


@dataclass
class LogCheck:
    """The collection log as read and verified."""

    path: Path | None
    exists: bool = False
    entries: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def state(self) -> str:
        """`intact`, `broken`, `missing` or `not checked`."""
        if self.path is None:
            return "not checked"
        if not self.exists:
            return "missing"
        return "broken" if self.problems else "intact"


def check_log(root: Path | None) -> LogCheck:
    """Read the hash-chained collection log and verify every link.

    Same rule as `CollectionLog.verify`, but tolerant: a line that is not JSON (an edit by
    hand) is a broken link to report, not an exception to raise.
    """
    if root is None:
        return LogCheck(None)
    path = root / LOG_NAME
    check = LogCheck(path, exists=path.exists())
    if not check.exists:
        return check
    prev = GENESIS
    for number, line in enumerate(path.read_bytes().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = orjson.loads(line)
        except orjson.JSONDecodeError:
            check.problems.append(f"line {number} is not valid JSON")
            prev = hashlib.sha256(line).hexdigest()
            continue
        if not isinstance(entry, dict):
            check.problems.append(f"line {number} is not a JSON object")
        else:
            check.entries.append(entry)
            if entry.get("prev_sha256") != prev:
                check.problems.append(f"line {number}: prev_sha256 does not match the line "
                                      "before it")
        prev = hashlib.sha256(line).hexdigest()
    return check


@dataclass(frozen=True)
class Run:
    """One collection run as the log records it."""

    run_id: str
    as_of: str | None
    started_at: str | None
    finished_at: str | None
    status: str  # completed | failed | interrupted | unfinished
    sources: str
    pages: int
    records: int
    gaps: int
    error: str | None


def runs_of(entries: list[dict[str, Any]]) -> list[Run]:
    """Runs from log entries; a run started but never finished is `unfinished` (a crash)."""
    started: dict[str, dict[str, Any]] = {}
    finished: dict[str, dict[str, Any]] = {}
    order: list[str] = []
    for entry in entries:
        run_id = str(entry.get("run_id", ""))
        if run_id not in started and run_id not in finished:
            order.append(run_id)
        if entry.get("event") == "run_started":
            started[run_id] = entry
        elif entry.get("event") == "run_finished":
            finished[run_id] = entry
    runs = []
    for run_id in order:
        begin, end = started.get(run_id, {}), finished.get(run_id, {})
        raw_sources = end.get("sources")
        sources: dict[str, Any] = raw_sources if isinstance(raw_sources, dict) else {}
        tallies = [t for t in sources.values() if isinstance(t, dict)]
        runs.append(Run(
            run_id=run_id, as_of=begin.get("as_of") or end.get("as_of"),
            started_at=begin.get("started_at"), finished_at=end.get("finished_at"),
            status=str(end.get("status", "unfinished")) if end else "unfinished",
            sources=",".join(sorted(sources)) if sources else ",".join(
                str(s) for s in begin.get("sources", [])),
            pages=sum(int(t.get("pages") or 0) for t in tallies),
            records=sum(int(t.get("records") or 0) for t in tallies),
            gaps=sum(int(t.get("gaps") or 0) for t in tallies),
            error=end.get("error")))
    return runs


# -- archive integrity ----------------------------------------------------------------------

# Bytes of archived bodies re-hashed per assessment. A quarter of a 100,000-seat org holds
# thousands of feed pages of several MB each; beyond this budget a deterministic sample
# (ordered by the objects' own hashes, i.e. uniformly spread) is checked and counted.
HASH_BUDGET_BYTES = 768 * 1024 * 1024
_HASH_WORKERS = 4  # gzip and sha256 release the GIL


@dataclass
class ObjectCheck:
    """The outcome of re-hashing archived objects."""

    referenced: int = 0
    checked: int = 0
    bytes_checked: int = 0
    missing: list[str] = field(default_factory=list)
    altered: list[str] = field(default_factory=list)


def object_path(root: Path, sha256: str) -> Path:
    """Where the archive keeps the body with this hash."""
    return root / "archive" / "objects" / sha256[:2] / f"{sha256}.json.gz"


def _verify_object(root: Path, sha256: str, size: int | None) -> str:
    """`ok`, `missing` or `altered` for one archived body."""
    path = object_path(root, sha256)
    try:
        body = gzip.decompress(path.read_bytes())
    except FileNotFoundError:
        return "missing"
    except (OSError, EOFError, zlib.error):
        return "altered"  # not a gzip body any more
    if hashlib.sha256(body).hexdigest() != sha256:
        return "altered"
    if size is not None and size != len(body):
        return "altered"  # the index says another size: the index or the object changed
    return "ok"


def check_objects(root: Path, pages: list[tuple[str, int | None]],
                  budget: int = HASH_BUDGET_BYTES) -> ObjectCheck:
    """Re-hash archived objects (sha256, recorded size) within a byte budget."""
    result = ObjectCheck(referenced=len(pages))
    chosen: list[tuple[str, int | None]] = []
    spent = 0
    for sha, size in sorted(pages):
        if chosen and spent + (size or 0) > budget:
            continue  # keep looking: smaller objects further on may still fit
        chosen.append((sha, size))
        spent += size or 0
    with ThreadPoolExecutor(max_workers=_HASH_WORKERS) as pool:
        outcomes = list(pool.map(lambda p: _verify_object(root, p[0], p[1]), chosen))
    for (sha, size), outcome in zip(chosen, outcomes, strict=True):
        result.checked += 1
        result.bytes_checked += size or 0
        if outcome == "missing":
            result.missing.append(sha)
        elif outcome == "altered":
            result.altered.append(sha)
    return result


# -- analytics helpers ----------------------------------------------------------------------


def held_days(ctx: EvidenceContext, report: str) -> int:
    """How many days of one Analytics report are held inside the period."""
    row = ctx.con.execute("SELECT count(DISTINCT day) FROM analytics_days WHERE report = ? "
                          "AND day BETWEEN ? AND ?", [report, *period_days(ctx)]).fetchone()
    return int(row[0]) if row else 0


def analytics_pages(ctx: EvidenceContext, tables: Sequence[str], limit: int = 5000) -> list[str]:
    """The archived Analytics pages behind the period's rows of the given an_* tables."""
    union = " UNION ".join(f"SELECT page_sha256 FROM {t} WHERE day BETWEEN ? AND ?"
                           for t in tables)
    params: list[Any] = []
    for _ in tables:
        params.extend(period_days(ctx))
    rows = ctx.con.execute(f"SELECT DISTINCT page_sha256 FROM ({union}) WHERE page_sha256 IS "
                           f"NOT NULL ORDER BY 1 LIMIT {int(limit)}", params).fetchall()
    return [r[0] for r in rows]


# The feed and directory check of every EV14–EV20 item (one rule, in _common).
feed_reason = compliance_gap
