"""Shared pieces of the detection items EV08–EV13: coverage checks, snapshots, names, results.

Everything here is small and data-driven; the items keep their rules in their own modules. All
heavy lifting stays inside DuckDB: helpers return SQL fragments or run one query each.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from auditpack.evidence._common import compliance_gap
from auditpack.evidence.interface import (
    SEVERITY_ORDER,
    EvidenceContext,
    Finding,
    Severity,
    Status,
)

# A feed whose first window is open-ended ("from the beginning") still starts at Compliance API
# enablement. If the earliest held activity is more than this many days after the period start,
# the period reaches before the feed and cannot be assessed (a quiet week is plausible, a quiet
# fortnight of an organization whose SIEM polls the feed hourly is not).
FEED_START_SLACK_DAYS = 7

# At most this many activity ids per finding: the rest are reachable through the item's tables and
# the lineage pages; a finding about 40,000 events must stay readable.
MAX_FINDING_SOURCES = 200


DAY_US = 86_400_000_000
HOUR_US = 3_600_000_000
# Time-zone offsets are sampled this often; every real transition falls on a quarter hour.
_OFFSET_STEP_MINUTES = 15


def day_number(column: str) -> str:
    """SQL for the UTC day of a TIMESTAMPTZ as days since 1970-01-01 (integer arithmetic on the
    stored microseconds: an order of magnitude cheaper than a time-zone cast on 5M rows)."""
    return f"(epoch_us({column}) // {DAY_US})"


def utc_day(column: str) -> str:
    """SQL for the UTC calendar day of a TIMESTAMPTZ column, whatever the session time zone."""
    return f"(DATE '1970-01-01' + CAST({day_number(column)} AS INTEGER))"


def sql_list(values: Iterable[str]) -> str:
    """A SQL list literal of constant strings (activity types written in this package)."""
    return "(" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + ")"


def of_types(ctx: EvidenceContext, types: Iterable[str]) -> str:
    """`activities` narrowed to `types`, as a subquery that reads `raw` only for those rows.

    DuckDB turns `type IN (...)` into an optional zone-map filter, so a query that needs `raw`
    still decompresses it for every row of the table; an equality filter is pushed into the
    scan. The union of one equality selection per type actually present is the cheap form.
    """
    wanted = sorted(set(types))
    present = [r[0] for r in ctx.con.execute(
        f"SELECT DISTINCT type FROM activities WHERE type IN {sql_list(wanted)} ORDER BY 1"
    ).fetchall()]
    if not present:
        return "(SELECT * FROM activities WHERE FALSE)"
    return "(" + " UNION ALL ".join(f"SELECT * FROM activities WHERE type = {sql_list([t])[1:-1]}"
                                    for t in present) + ")"


def local_us_sql(ctx: EvidenceContext, zone: str, lower: datetime, upper: datetime,
                 column: str = "created_at") -> str:
    """SQL for the local wall-clock time of `column` in `zone`, as microseconds since the epoch.

    DuckDB's `timezone()` gives the offsets, sampled every quarter hour over [lower, upper]; the
    few segments between daylight-saving switches become one CASE over the stored microseconds,
    so 5M events convert by integer arithmetic instead of 5M zone lookups. Outside the range
    the nearest segment's offset applies.
    """
    rows = ctx.con.execute(
        "SELECT epoch_us(h), epoch_us(timezone(?, h)) - epoch_us(h) FROM generate_series("
        f"?::TIMESTAMPTZ, ?::TIMESTAMPTZ, INTERVAL {_OFFSET_STEP_MINUTES} MINUTE) t(h) "
        "ORDER BY 1", [zone, lower, upper]).fetchall()
    segments: list[tuple[int, int]] = []  # (from_us, offset_us)
    for at, offset in rows:
        if not segments or segments[-1][1] != offset:
            segments.append((int(at), int(offset)))
    if not segments:
        return f"epoch_us({column})"
    us = f"epoch_us({column})"
    if len(segments) == 1:
        return f"({us} + {segments[0][1]})"
    whens = " ".join(f"WHEN {us} < {start} THEN {us} + {previous}"
                     for (start, _), (_, previous) in zip(segments[1:], segments, strict=False))
    return f"(CASE {whens} ELSE {us} + {segments[-1][1]} END)"


# -- directory snapshots ----------------------------------------------------------------------

def snapshots(ctx: EvidenceContext) -> list[tuple[str, datetime]]:
    """Every directory snapshot with the latest time it was observed, oldest first."""
    rows = ctx.con.execute(
        "SELECT snapshot_id, max(as_of) FROM dir_observations GROUP BY 1 ORDER BY 2, 1").fetchall()
    return [(r[0], r[1].astimezone(UTC)) for r in rows]


def closing_snapshot(ctx: EvidenceContext) -> tuple[str, datetime] | None:
    """The snapshot nearest the period end (either side), observed no later than the clock.

    The context's own choice is the latest snapshot at or before the period end, which on a
    mid-quarter plus after-quarter schedule is six weeks stale; one taken five days after the end
    is the better picture of the state the period closed with.
    """
    held = [(sid, at) for sid, at in snapshots(ctx) if at <= max(ctx.as_of, ctx.period.end_at)]
    if not held:
        return None
    end = ctx.period.end_at
    return min(held, key=lambda s: (abs((s[1] - end).total_seconds()), s[1] > end, s[0]))


def baseline_snapshot(ctx: EvidenceContext) -> tuple[str, datetime] | None:
    """The earliest snapshot observed in or before the period (the implicit approved baseline)."""
    held = [(sid, at) for sid, at in snapshots(ctx) if at < ctx.period.end_at]
    return held[0] if held else None


def user_by_email_sql() -> str:
    """SQL (a subquery) mapping lower-cased e-mail to the user id of any directory snapshot.

    When one address belongs to different ids across snapshots (a re-created account), the id of
    the most recently observed snapshot wins.
    """
    return """(SELECT lower(u.email) AS email, arg_max(u.user_id, o.as_of) AS user_id
              FROM dir_users u
              LEFT JOIN (SELECT snapshot_id, max(as_of) AS as_of FROM dir_observations
                         GROUP BY 1) o USING (snapshot_id)
              WHERE u.email IS NOT NULL AND u.user_id IS NOT NULL GROUP BY 1)"""


# -- connector and skill names ----------------------------------------------------------------

_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_MCP_WORDS = re.compile(r"\bmcp server\b|\bmcp\b")


def normalize_connector(name: str) -> str:
    """The normalized connector name, as the Analytics API reports it.

    Feed events carry display names ("Atlassian MCP server", "mcp-notion", "zapier_MCP"); the
    connectors report uses lower-case words joined by underscores with the MCP wording removed.
    """
    text = _NON_ALNUM.sub(" ", name.lower())
    stripped = " ".join(_MCP_WORDS.sub(" ", text).split())
    return "_".join((stripped or text.strip()).split())


def normalize_connector_sql(column: str) -> str:
    """The same normalization as `normalize_connector`, as a DuckDB expression over `column`."""
    spaced = f"trim(regexp_replace(lower({column}), '[^a-z0-9]+', ' ', 'g'))"
    stripped = (f"trim(regexp_replace(regexp_replace(' ' || {spaced} || ' ', "
                r"' mcp server ', ' ', 'g'), ' (mcp )+', ' ', 'g'))")
    chosen = f"CASE WHEN {stripped} = '' THEN {spaced} ELSE {stripped} END"
    return f"regexp_replace({chosen}, ' +', '_', 'g')"


def normalize_skill(name: str) -> str:
    """Skill names compare case- and space-insensitively."""
    return " ".join(name.strip().lower().split())


def normalize_skill_sql(column: str) -> str:
    """`normalize_skill` as a DuckDB expression."""
    return f"regexp_replace(trim(lower({column})), '\\s+', ' ', 'g')"


# -- results ----------------------------------------------------------------------------------

def status_of(findings: Sequence[Finding]) -> Status:
    """`exceptions` when anything needs action (high or medium), else `effective`."""
    serious = {Severity.HIGH, Severity.MEDIUM}
    return Status.EXCEPTIONS if any(f.severity in serious for f in findings) else Status.EFFECTIVE


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Most severe first, then by time and id, so output order never depends on query order."""
    epoch = datetime.min.replace(tzinfo=UTC)
    return sorted(findings, key=lambda f: (SEVERITY_ORDER[f.severity],
                                           f.occurred_at or epoch, f.id))


def cap(ids: Sequence[str] | None, limit: int = MAX_FINDING_SOURCES) -> list[str]:
    """The first `limit` ids (callers pass them in time order)."""
    return list(ids or [])[:limit]


def severity_counts(findings: Sequence[Finding]) -> dict[str, int | float | str | None]:
    """`findings_high`, `findings_medium`, … as metrics."""
    return {f"findings_{s.value}": sum(1 for f in findings if f.severity is s) for s in Severity}


def daily_chart(days: Sequence[date], series: dict[str, dict[date, int]],
                kind: str = "line") -> dict[str, Any]:
    """A chart over every day of `days` (missing days are 0): {type, x, series}."""
    return {"type": kind, "x": [d.isoformat() for d in days],
            "series": {name: [values.get(d, 0) for d in days] for name, values in series.items()}}


def period_days(start: date, end: date) -> list[date]:
    """Every day from `start` to `end` inclusive."""
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def iso(moment: datetime | None) -> str:
    """`2026-08-12 12:08 UTC` for details."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if moment else "unknown time"


def utc(moment: datetime) -> datetime:
    """A TIMESTAMPTZ from DuckDB as an aware UTC datetime (DuckDB returns the session zone)."""
    return moment.astimezone(UTC)


# The feed and directory check of every EV08–EV13 item (one rule, in _common).
feed_gap = compliance_gap
