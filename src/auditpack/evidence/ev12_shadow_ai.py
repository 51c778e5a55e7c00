"""EV12 Shadow AI: connectors and skills in use that are not on the approved lists.

Use comes from both sources: the Analytics connector and skill reports (A5/A4: names, distinct
users per day) and the feed's enable and change events (who, when). Feed connector names are
display names ("Atlassian MCP server", "mcp-notion") and are normalized the way the Analytics
API reports them before they are compared with each other and with the approved list (which is
normalized the same way). Each unapproved connector or skill is one high finding.

Each half needs its list: with no `approved_connectors` (None) the connector half is
`not_applicable`, likewise for skills; with neither list the item is `not_applicable`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from auditpack.evidence._common import analytics_gap, feed_pages, insufficient, lineage
from auditpack.evidence._detect import (
    cap,
    feed_gap,
    iso,
    normalize_connector,
    normalize_connector_sql,
    normalize_skill,
    normalize_skill_sql,
    of_types,
    severity_counts,
    sort_findings,
    sql_list,
    status_of,
    utc,
)
from auditpack.evidence.interface import (
    Column,
    Coverage,
    EvidenceContext,
    EvidenceItem,
    EvidenceResult,
    Finding,
    Severity,
    Status,
    Table,
    make_finding,
)

# Feed events that show a connector being added, connected or changed (i.e. in use).
CONNECTOR_USE_TYPES = ("integration_user_connected", "mcp_server_created", "mcp_server_updated",
                       "claude_gdrive_integration_created", "claude_gdrive_integration_updated",
                       "claude_github_integration_created", "claude_github_integration_updated")
SKILL_USE_TYPES = ("claude_skill_created", "claude_skill_enabled", "claude_skill_replaced")
MAX_PAGE_SOURCES = 20  # archived Analytics pages cited per finding (one per day at most)


def connector_name_sql() -> str:
    """The raw connector name of a feed event (`a` = activities), before normalization.

    Google Drive and GitHub integrations have their own event types and no server name;
    events that carry only a server id borrow the name another event gave that server.
    """
    return """CASE WHEN a.type LIKE 'claude_gdrive_integration_%' THEN 'google drive'
                   WHEN a.type LIKE 'claude_github_integration_%' THEN 'github'
                   ELSE coalesce(a.raw->>'mcp_server_name', s.name,
                                 a.raw->>'integration_type') END"""


# Feed events that name an MCP server (id and display name).
SERVER_NAMING_TYPES = ("integration_user_connected", "integration_user_disconnected",
                       "mcp_server_created", "mcp_server_updated", "mcp_server_deleted",
                       "mcp_server_managed_auth_updated", "mcp_tool_policy_updated")


def server_names_sql(ctx: EvidenceContext) -> str:
    """A subquery: mcp_server_id → the latest name any held event gave it."""
    return f"""(SELECT (raw->>'mcp_server_id') AS id,
                       arg_max(raw->>'mcp_server_name', created_at) AS name
                FROM {of_types(ctx, SERVER_NAMING_TYPES)}
                WHERE (raw->>'mcp_server_id') IS NOT NULL
                  AND (raw->>'mcp_server_name') IS NOT NULL
                GROUP BY 1)"""


@dataclass(frozen=True)
class Half:
    """One half of the item: connectors or skills."""

    kind: str  # "connector" | "skill"
    report: str  # Analytics report
    table: str  # an_* table
    column: str  # its name column
    feed_types: tuple[str, ...]


CONNECTORS = Half("connector", "connectors", "an_connectors", "connector_name",
                  CONNECTOR_USE_TYPES)
SKILLS = Half("skill", "skills", "an_skills", "skill_name", SKILL_USE_TYPES)


class ShadowAi(EvidenceItem):
    """EV12: connectors and skills in use that nobody approved."""

    id = "EV12"
    key = "shadow_ai"
    title = "Shadow AI detection"

    def compute(self, ctx: EvidenceContext) -> EvidenceResult:
        """Compare what is in use with the approved lists, each half on its own."""
        lists = {CONNECTORS.kind: ctx.policy.approved_connectors,
                 SKILLS.kind: ctx.policy.approved_skills}
        if all(v is None for v in lists.values()):
            return EvidenceResult(
                self.id, self.key, self.title, Status.NOT_APPLICABLE, Coverage.NONE,
                reason="no approved connector or skill list is configured (policy "
                       "approved_connectors / approved_skills)")
        feed_missing = feed_gap(ctx)
        metrics: dict[str, int | float | str | None] = {}
        tables: list[Table] = []
        findings: list[Finding] = []
        gaps: list[str] = []
        notes: list[str] = []
        levels: list[Coverage] = []
        pages: list[str] = []
        for half in (CONNECTORS, SKILLS):
            approved = lists[half.kind]
            if approved is None:
                metrics[f"{half.kind}_check"] = "not_applicable"
                notes.append(f"No approved {half.kind} list is configured: {half.kind}s are "
                             "listed but not judged.")
            an_missing = analytics_gap(ctx, half.report)
            rows = _in_use(ctx, half)
            tables.append(_table(half, rows, approved))
            metrics[f"{half.kind}s_in_use"] = len(rows)
            pages += [p for r in rows for p in r.pages]
            pages += feed_pages(ctx, f"type IN {sql_list(half.feed_types)}")
            if approved is None:
                continue
            level = _coverage(an_missing, feed_missing)
            levels.append(level)
            if level is Coverage.NONE:
                gaps.append(f"{half.kind}s: {an_missing}; {feed_missing}")
                continue  # nothing held to judge by: no verdict, not even a partial one
            if an_missing:
                notes.append(f"{half.kind}s rest on the feed's enable events alone: {an_missing}.")
            elif feed_missing:
                notes.append(f"{half.kind} users are unknown (Analytics counts only): "
                             f"{feed_missing}.")
            allowed = {_normal(half, name) for name in approved}
            bad = [r for r in rows if r.name not in allowed]
            metrics[f"{half.kind}_check"] = "applied"
            metrics[f"unapproved_{half.kind}s"] = len(bad)
            findings += [_finding(self.key, half, r) for r in bad]
        findings = sort_findings(findings)
        metrics.update(severity_counts(findings))
        coverage = min(levels, key=[Coverage.FULL, Coverage.PARTIAL, Coverage.NONE].index)
        sources = [s for s, missing in (("analytics", False), ("compliance", feed_missing))
                   if not missing]
        extra: dict[str, Any] = {
            "metrics": metrics, "tables": tables, "findings": findings,
            "lineage": lineage(ctx, pages, sources),
            "method": ("Connectors and skills in use in the period, from the Analytics "
                       "connector/skill reports and the feed's enable events (connector "
                       "display names normalized as Analytics reports them), compared with "
                       "the approved lists; every one not on its list is high."),
            "limitations": ["A connector or skill used only through a path neither API "
                            "reports (a local MCP server in Claude Desktop) is invisible.",
                            *notes]}
        if gaps:
            return insufficient(self, "; ".join(gaps), coverage, **extra)
        return EvidenceResult(self.id, self.key, self.title, status_of(findings), coverage,
                              **extra)


@dataclass(frozen=True)
class InUse:
    """One connector or skill seen in use in the period."""

    name: str
    first_seen: datetime
    last_seen: datetime
    user_ids: list[str]
    emails: list[str]
    peak_users: int | None
    analytics_days: int
    ids: list[str]
    pages: list[str]


def _normal(half: Half, name: str) -> str:
    """A name as compared for this half."""
    return normalize_connector(name) if half is CONNECTORS else normalize_skill(name)


def _coverage(an_missing: str | None, feed_missing: str | None) -> Coverage:
    """Analytics alone is full for this item; the feed alone partial (enable events only)."""
    if an_missing is None:
        return Coverage.FULL
    return Coverage.PARTIAL if feed_missing is None else Coverage.NONE


def _in_use(ctx: EvidenceContext, half: Half) -> list[InUse]:
    """Every connector/skill of the period with its users, first and last sighting."""
    if half is CONNECTORS:
        name = normalize_connector_sql(connector_name_sql())
        joins = f"LEFT JOIN {server_names_sql(ctx)} s ON s.id = (a.raw->>'mcp_server_id')"
        an_name = normalize_connector_sql(half.column)
    else:
        name = normalize_skill_sql("a.raw->>'skill_name'")
        joins = ""
        an_name = normalize_skill_sql(half.column)
    rows = ctx.con.execute(f"""
        WITH f AS (
            SELECT {name} AS name, a.id, a.created_at, a.actor_user_id, a.actor_email
            FROM {of_types(ctx, half.feed_types)} a {joins}
            WHERE a.created_at >= ? AND a.created_at < ?),
        fa AS (
            SELECT name, min(created_at) AS first_at, max(created_at) AS last_at,
                   list(DISTINCT actor_user_id ORDER BY actor_user_id)
                       FILTER (WHERE actor_user_id IS NOT NULL) AS users,
                   list(DISTINCT actor_email ORDER BY actor_email)
                       FILTER (WHERE actor_email IS NOT NULL) AS emails,
                   list(id ORDER BY created_at, id) AS ids
            FROM f WHERE name IS NOT NULL AND name <> '' GROUP BY 1),
        an AS (
            SELECT {an_name} AS name, min(day) AS first_day, max(day) AS last_day,
                   max(distinct_users) AS peak, count(DISTINCT day) AS days,
                   list(DISTINCT page_sha256 ORDER BY page_sha256) AS pages
            FROM {half.table}
            WHERE day BETWEEN ? AND ? AND coalesce(distinct_users, 1) > 0
              AND {half.column} IS NOT NULL
            GROUP BY 1)
        SELECT coalesce(fa.name, an.name), fa.first_at, fa.last_at, an.first_day, an.last_day,
               fa.users, fa.emails, an.peak, coalesce(an.days, 0), fa.ids, an.pages
        FROM fa FULL JOIN an USING (name)
        ORDER BY 1""", [ctx.period.start_at, ctx.period.end_at, ctx.period.start,
                        ctx.period.end]).fetchall()
    return [_row(r) for r in rows]


def _row(r: tuple[Any, ...]) -> InUse:
    """An InUse from a query row, merging feed times and Analytics days."""
    name, f_first, f_last, a_first, a_last, users, emails, peak, days, ids, pages = r
    first = utc(f_first) if f_first else None
    last = utc(f_last) if f_last else None
    # An Analytics day only says "that day": prefer the feed's instant unless the day is earlier
    # (or later, for the last sighting) than anything the feed shows.
    if a_first is not None and (first is None or a_first < first.date()):
        first = _day_start(a_first)
    if a_last is not None and (last is None or a_last > last.date()):
        last = _day_start(a_last)
    assert first is not None and last is not None  # a FULL JOIN row has one side at least
    return InUse(name, first, last, list(users or []), list(emails or []),
                 int(peak) if peak is not None else None, int(days), list(ids or []),
                 [p for p in pages or [] if p])


def _day_start(day: date) -> datetime:
    """Midnight UTC of an Analytics day."""
    return datetime.combine(day, time.min, tzinfo=UTC)


def _finding(evidence: str, half: Half, row: InUse) -> Finding:
    """HIGH: a connector or skill in use that is not on the approved list."""
    who = ", ".join(row.emails) if row.emails else "users not named by the feed"
    analytics = (f"; Analytics reports up to {row.peak_users} user(s) a day on "
                 f"{row.analytics_days} day(s)" if row.analytics_days else "")
    detail = (f"{half.kind.capitalize()} '{row.name}' is not on the approved list but was in use "
              f"from {iso(row.first_seen)} to {iso(row.last_seen)}: enabled or connected by "
              f"{who}{analytics}.")
    sources = cap(row.ids) + [f"sha256:{p}" for p in row.pages[:MAX_PAGE_SOURCES]]
    return make_finding(evidence, f"unapproved_{half.kind}", Severity.HIGH,
                        f"Unapproved {half.kind} in use: {row.name}", {half.kind: row.name},
                        row.first_seen, detail, sources)


def _table(half: Half, rows: list[InUse], approved: tuple[str, ...] | None) -> Table:
    """Everything of this half in use, with its approval state."""
    allowed = None if approved is None else {_normal(half, n) for n in approved}
    return Table(f"{half.kind}s_in_use", f"{half.kind.capitalize()}s in use in the period",
                 [Column(half.kind, "str"), Column("approved", "str"),
                  Column("first_seen", "datetime"), Column("last_seen", "datetime"),
                  Column("feed_users", "int"), Column("users", "str"),
                  Column("analytics_peak_users", "int"), Column("analytics_days", "int")],
                 [(r.name, "not configured" if allowed is None
                   else "yes" if r.name in allowed else "no",
                   r.first_seen, r.last_seen, len(r.user_ids), ", ".join(r.emails),
                   r.peak_users, r.analytics_days) for r in rows])


ITEM = ShadowAi()
