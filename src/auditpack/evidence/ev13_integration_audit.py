"""EV13 Third-party integration audit: an inventory of connectors and integrations.

For every connector (normalized name) seen in the held feed up to the period end or in the
Analytics connector report of the period: who enabled it and when (the first server creation,
else the first user connection), its vendor (from the display name; the vendor register is a
manual input), how many users connected it (feed) and use it (Analytics `distinct_user_count`),
and whether it changed or went away. Approval is EV12's question: this item lists it, and its
findings stay at medium at most.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from auditpack.evidence._common import analytics_gap, feed_pages, insufficient, lineage
from auditpack.evidence._detect import (
    cap,
    feed_gap,
    iso,
    normalize_connector,
    normalize_connector_sql,
    of_types,
    severity_counts,
    sort_findings,
    sql_list,
    status_of,
    utc,
)
from auditpack.evidence.ev12_shadow_ai import connector_name_sql, server_names_sql
from auditpack.evidence.interface import (
    Column,
    Coverage,
    EvidenceContext,
    EvidenceItem,
    EvidenceResult,
    Finding,
    Severity,
    Table,
    make_finding,
)

CREATED = ("mcp_server_created", "claude_gdrive_integration_created",
           "claude_github_integration_created")
CONNECTED = ("integration_user_connected",)
DISCONNECTED = ("integration_user_disconnected",)
CHANGED = ("mcp_server_updated", "mcp_server_managed_auth_updated",
           "claude_gdrive_integration_updated", "claude_github_integration_updated")
REMOVED = ("mcp_server_deleted", "claude_gdrive_integration_deleted",
           "claude_github_integration_deleted")
INVENTORY_TYPES = CREATED + CONNECTED + DISCONNECTED + CHANGED + REMOVED


@dataclass(frozen=True)
class Integration:
    """One row of the inventory."""

    name: str
    vendor: str
    display_names: list[str]
    servers: int
    enabled_by: str | None
    enabled_at: datetime | None
    users_connected: int
    peak_users: int | None
    analytics_days: int
    first_used: date | None
    changes: list[str]  # activity ids of changes in the period
    removed_at: datetime | None
    removal_ids: list[str]
    enable_ids: list[str]
    pages: list[str]


class IntegrationAudit(EvidenceItem):
    """EV13: which third-party integrations exist, who enabled them, who uses them."""

    id = "EV13"
    key = "integration_audit"
    title = "Third-party integration audit (MCP connectors)"

    def compute(self, ctx: EvidenceContext) -> EvidenceResult:
        """The connector inventory, with low/medium findings on what changed in the period."""
        feed_missing = feed_gap(ctx)
        an_missing = analytics_gap(ctx, "connectors")
        if feed_missing and an_missing:
            return insufficient(self, f"{feed_missing}; {an_missing}")
        coverage = Coverage.PARTIAL if feed_missing or an_missing else Coverage.FULL
        inventory = _inventory(ctx)
        approved = ctx.policy.approved_connectors
        findings = sort_findings(f for row in inventory
                                 for f in _findings(self.key, ctx, row))
        metrics: dict[str, int | float | str | None] = {
            "integrations": len(inventory),
            "added_in_period": sum(1 for r in inventory if _in_period(ctx, r.enabled_at)),
            "changed_in_period": sum(1 for r in inventory if r.changes),
            "removed_in_period": sum(1 for r in inventory if r.removed_at),
            "without_enablement_record": sum(1 for r in inventory if r.enabled_at is None),
            "users_of_integrations_peak": max((r.peak_users or 0 for r in inventory),
                                              default=0),
            **severity_counts(findings)}
        notes = [f"Enablement history is missing: {feed_missing}." if feed_missing else "",
                 f"Usage counts are missing: {an_missing}." if an_missing else ""]
        sources = [s for s, gap in (("compliance", feed_missing), ("analytics", an_missing))
                   if not gap]
        pages = [p for r in inventory for p in r.pages]
        pages += feed_pages(ctx, f"type IN {sql_list(INVENTORY_TYPES)}")
        return EvidenceResult(
            self.id, self.key, self.title, status_of(findings), coverage, metrics=metrics,
            tables=[_table(inventory, approved)], charts={}, findings=findings,
            lineage=lineage(ctx, pages, sources),
            method=("Connectors from the feed (server creation, user connections, changes, "
                    "removals, held up to the period end) and from the Analytics connector "
                    "report of the period, joined on the normalized connector name. 'Enabled' "
                    "is the first server creation, else the first user connection."),
            limitations=[
                "The vendor is derived from the connector's display name; the vendor register "
                "(contract, DPA, risk rating) is a manual input.",
                "Connectors enabled before the feed was first collected show no enabling "
                "actor.",
                "Approval against the approved list is judged by EV12 (shadow_ai).",
                *[n for n in notes if n]])


def _in_period(ctx: EvidenceContext, moment: datetime | None) -> bool:
    """Whether an instant falls in the period."""
    return moment is not None and ctx.period.start_at <= moment < ctx.period.end_at


def _inventory(ctx: EvidenceContext) -> list[Integration]:
    """One Integration per normalized connector name."""
    name = normalize_connector_sql(connector_name_sql())
    rows = ctx.con.execute(f"""
        WITH ev AS (
            SELECT {name} AS name, {connector_name_sql()} AS display, a.type, a.id,
                   a.created_at, coalesce(a.actor_email, a.actor_user_id, a.actor_type) AS actor,
                   a.actor_user_id, (a.raw->>'mcp_server_id') AS server_id
            FROM {of_types(ctx, INVENTORY_TYPES)} a
            LEFT JOIN {server_names_sql(ctx)} s ON s.id = (a.raw->>'mcp_server_id')
            WHERE a.created_at < ?),
        feed AS (
            SELECT name,
                   list(DISTINCT display ORDER BY display) AS displays,
                   count(DISTINCT server_id) AS servers,
                   arg_min(actor, created_at) FILTER (WHERE type IN {sql_list(CREATED)})
                       AS created_by,
                   min(created_at) FILTER (WHERE type IN {sql_list(CREATED)}) AS created_at,
                   arg_min(id, created_at) FILTER (WHERE type IN {sql_list(CREATED)})
                       AS created_id,
                   arg_min(actor, created_at) FILTER (WHERE type IN {sql_list(CONNECTED)})
                       AS connected_by,
                   min(created_at) FILTER (WHERE type IN {sql_list(CONNECTED)}) AS connected_at,
                   arg_min(id, created_at) FILTER (WHERE type IN {sql_list(CONNECTED)})
                       AS connected_id,
                   count(DISTINCT actor_user_id) FILTER (WHERE type IN {sql_list(CONNECTED)})
                       AS users,
                   list(id ORDER BY created_at, id) FILTER (
                       WHERE type IN {sql_list(CHANGED)} AND created_at >= ?) AS changes,
                   max(created_at) FILTER (WHERE type IN {sql_list(REMOVED)}
                                           AND created_at >= ?) AS removed_at,
                   list(id ORDER BY created_at, id) FILTER (
                       WHERE type IN {sql_list(REMOVED)} AND created_at >= ?) AS removals
            FROM ev WHERE name IS NOT NULL AND name <> '' GROUP BY 1),
        an AS (
            SELECT {normalize_connector_sql('connector_name')} AS name,
                   max(distinct_users) FILTER (WHERE day BETWEEN ? AND ?) AS peak,
                   count(DISTINCT day) FILTER (WHERE day BETWEEN ? AND ?
                                               AND distinct_users > 0) AS days,
                   min(day) FILTER (WHERE distinct_users > 0) AS first_day,
                   list(DISTINCT page_sha256 ORDER BY page_sha256)
                       FILTER (WHERE day BETWEEN ? AND ?) AS pages
            FROM an_connectors WHERE connector_name IS NOT NULL AND day <= ? GROUP BY 1)
        SELECT coalesce(feed.name, an.name), feed.displays, coalesce(feed.servers, 0),
               feed.created_by, feed.created_at, feed.created_id, feed.connected_by,
               feed.connected_at, feed.connected_id, coalesce(feed.users, 0), an.peak,
               coalesce(an.days, 0), an.first_day, feed.changes, feed.removed_at,
               feed.removals, an.pages
        FROM feed FULL JOIN an USING (name)
        WHERE feed.name IS NOT NULL OR an.days > 0
        ORDER BY 1""", [ctx.period.end_at, ctx.period.start_at, ctx.period.start_at,
                        ctx.period.start_at, ctx.period.start, ctx.period.end,
                        ctx.period.start, ctx.period.end, ctx.period.start, ctx.period.end,
                        ctx.period.end]).fetchall()
    return [_integration(r) for r in rows]


def _integration(r: tuple[Any, ...]) -> Integration:
    """An Integration from a query row: creation wins over the first connection."""
    (name, displays, servers, created_by, created_at, created_id, connected_by, connected_at,
     connected_id, users, peak, days, first_day, changes, removed_at, removals, pages) = r
    by: str | None = None
    at: datetime | None = None
    ids: list[str] = []
    if created_at is not None:
        by, at, ids = created_by, utc(created_at), [created_id]
    elif connected_at is not None and (first_day is None
                                       or first_day >= utc(connected_at).date()):
        # The first connection enabled it only if Analytics shows no earlier use.
        by, at, ids = connected_by, utc(connected_at), [connected_id]
    names = [d for d in displays or [] if d]
    return Integration(name, vendor_of(name, names), names, int(servers), by, at, int(users),
                       int(peak) if peak is not None else None, int(days), first_day,
                       list(changes or []), utc(removed_at) if removed_at else None,
                       list(removals or []), ids, [p for p in pages or [] if p])


def vendor_of(name: str, displays: list[str]) -> str:
    """The vendor as the display name writes it ("GitHub"), else the name in title case."""
    for display in displays:
        words = [w for w in display.replace("_", " ").replace("-", " ").split()
                 if w.lower() not in ("mcp", "server")]
        if words and normalize_connector(" ".join(words)) == name:
            text = " ".join(words)
            return text if text != text.lower() else text.title()
    return name.replace("_", " ").title()


def _findings(evidence: str, ctx: EvidenceContext, row: Integration) -> list[Finding]:
    """LOW for an integration added, MEDIUM for one changed, INFO for removals and no record."""
    out = []
    subject = {"connector": row.name}
    if _in_period(ctx, row.enabled_at):
        out.append(make_finding(
            evidence, "integration_added", Severity.LOW,
            f"Integration added: {row.vendor} ({row.name})", subject, row.enabled_at,
            f"{row.enabled_by or 'an unknown actor'} enabled {row.vendor} ({row.name}) at "
            f"{iso(row.enabled_at)}; {row.users_connected} user(s) connected it by the period "
            f"end. Confirm the vendor is assessed in the vendor register.", row.enable_ids))
    if row.changes:
        out.append(make_finding(
            evidence, "integration_changed", Severity.MEDIUM,
            f"Integration configuration changed: {row.vendor} ({row.name})", subject, None,
            f"{len(row.changes)} configuration change(s) of {row.vendor} ({row.name}) in the "
            "period (server or authentication settings): confirm each was approved; a changed "
            "server address sends data to a different endpoint.", cap(row.changes)))
    if row.removed_at is not None:
        out.append(make_finding(
            evidence, "integration_removed", Severity.INFO,
            f"Integration removed: {row.vendor} ({row.name})", subject, row.removed_at,
            f"{row.vendor} ({row.name}) was removed at {iso(row.removed_at)}.",
            row.removal_ids))
    if row.enabled_at is None and row.analytics_days:
        out.append(make_finding(
            evidence, "integration_without_enablement", Severity.INFO,
            f"No enablement record: {row.vendor} ({row.name})", subject, None,
            f"{row.vendor} ({row.name}) was used on {row.analytics_days} day(s) of the period "
            f"(up to {row.peak_users} user(s) a day) but the held feed has no record of who "
            "enabled it: it predates the collected feed.",
            [f"sha256:{p}" for p in row.pages[:20]]))
    return out


def _table(inventory: list[Integration], approved: tuple[str, ...] | None) -> Table:
    """The inventory."""
    allowed = None if approved is None else {normalize_connector(n) for n in approved}
    rows = [(r.name, r.vendor, ", ".join(r.display_names), r.servers,
             "not configured" if allowed is None else "yes" if r.name in allowed else "no",
             r.enabled_by, r.enabled_at, r.users_connected, r.peak_users, r.analytics_days,
             r.first_used, len(r.changes), r.removed_at) for r in inventory]
    return Table("integration_inventory", "Connectors and integrations",
                 [Column("connector", "str"), Column("vendor", "str"),
                  Column("display_names", "str"), Column("servers", "int"),
                  Column("approved", "str"), Column("enabled_by", "str"),
                  Column("enabled_at", "datetime"), Column("users_connected", "int"),
                  Column("analytics_peak_users", "int"), Column("analytics_days", "int"),
                  Column("first_used", "date"), Column("changes_in_period", "int"),
                  Column("removed_at", "datetime")], rows)


ITEM = IntegrationAudit()
