"""EV19 `content_retention`: the retention setting, and the record of what was deleted.

- The organisation's `data_retention_periods` effective setting per linked organisation, from
  the directory snapshot, and every change to it in the feed.
- Deletion events of chats, files, projects, project documents, artifacts and design projects
  per day and type, per user, and content hard-deleted through the Compliance API.
- Deletion markers: `*_bulk_deletion_audit_truncated` (a bulk deletion whose individual events
  were not all recorded: medium) and `org_bulk_delete_initiated` (medium).

Findings are at most medium: indefinite retention is a low note for the retention policy.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any

import orjson

from auditpack.evidence._common import coverage_of, insufficient, lineage
from auditpack.evidence._operations import (
    feed_reason,
    late_start_note,
    of_types,
    period_bounds,
    present_types,
    status_of,
    subject,
    table,
    type_pages,
    types_where,
    utc,
)
from auditpack.evidence.interface import (
    Coverage,
    EvidenceContext,
    EvidenceItem,
    EvidenceResult,
    Finding,
    Severity,
    Table,
    make_finding,
)

SETTING = "data_retention_periods"
_CONTENT_CATEGORIES = ("Chats", "Files", "Projects", "Artifacts", "Claude Design")
_TRUNCATED = "_bulk_deletion_audit_truncated"
_BULK = ("org_bulk_delete_initiated",)
_DAYS_PER_MONTH = 30  # for comparing a month-based period in days only; the table keeps both


@cache
def deletion_types() -> tuple[str, ...]:
    """Content deletion and deletion-failure types of the catalog, plus synced-file removal."""
    out = {"org_sync_synchronized_files_deleted"}
    for category in _CONTENT_CATEGORIES:
        out.update(t for t in types_where(category=category)
                   if t.endswith(("_deleted", "_deletion_failed")))
    return tuple(sorted(out))





class ContentRetention(EvidenceItem):
    """EV19: retention configuration and the deletion record of the period."""

    id = "EV19"
    key = "content_retention"
    title = "Content retention & deletion record"

    def compute(self, ctx: EvidenceContext) -> EvidenceResult:
        """Retention settings and changes, deletions by day/type/user, markers, API deletes."""
        reason = feed_reason(ctx)
        if reason is not None:
            return insufficient(self, reason)
        present = present_types(ctx)
        deletions = of_types(deletion_types(), present)
        # Markers are matched by suffix too, so a new `*_bulk_deletion_audit_truncated` counts.
        marking = of_types([t for t in present if t.endswith(_TRUNCATED) or t in _BULK])
        settings, setting_findings = self._settings(ctx)
        changes, change_findings = self._changes(ctx)
        markers, marker_findings = self._markers(ctx, marking)
        by_day = _by_day(ctx, deletions)
        by_user = _by_user(ctx, deletions)
        api = _api_deletions(ctx)
        findings = marker_findings + change_findings + setting_findings
        metrics: dict[str, int | float | str | None] = {
            "deletion_events": sum(int(r[2]) for r in by_day.rows if r[1].endswith("_deleted")),
            "deletion_failures": sum(int(r[2]) for r in by_day.rows
                                     if r[1].endswith("_deletion_failed")),
            "deletion_types": len({r[1] for r in by_day.rows}),
            "deleting_users": len({r[0] for r in by_user.rows if r[0]}),
            "truncation_markers": sum(1 for r in markers.rows if r[1].endswith(_TRUNCATED)),
            "unaudited_deletions": sum(int(r[7] or 0) for r in markers.rows),
            "bulk_delete_events": sum(1 for r in markers.rows if r[1] in _BULK),
            "api_hard_deletions": len(api.rows),
            "retention_settings": _summary(settings.rows),
            "retention_changes": len(changes.rows),
        }
        limitations = list(_LIMITATIONS)
        if note := late_start_note(ctx):
            limitations.append(note)
        if not settings.rows:
            limitations.append("The directory snapshot holds no effective-settings rows: the "
                               "retention setting could not be read (see EV17 recorded gaps).")
        pages = type_pages(ctx, deletions) + type_pages(ctx, marking)
        return EvidenceResult(
            self.id, self.key, self.title, status_of(findings),
            coverage_of(bool(ctx.holdings.analytics_days), True, analytics_level=Coverage.NONE,
                        compliance_level=Coverage.FULL, combined_level=Coverage.FULL),
            metrics=metrics, tables=[settings, changes, by_day, by_user, markers, api],
            charts={"deletions_by_day": _chart(by_day)}, findings=findings,
            lineage=lineage(ctx, pages, ["compliance"]), method=_METHOD,
            limitations=limitations)

    # -- the setting ------------------------------------------------------------------------

    def _settings(self, ctx: EvidenceContext) -> tuple[Table, list[Finding]]:
        """One row per organisation and data type; a low note where content is kept forever."""
        orgs = ctx.con.execute("""
            SELECT o.org_uuid, max(o.name), max(s.value::VARCHAR), count(s.name) > 0,
                   EXISTS (SELECT 1 FROM dir_settings a WHERE a.snapshot_id = o.snapshot_id
                           AND a.org_uuid = o.org_uuid)
            FROM dir_organizations o
            LEFT JOIN dir_settings s ON s.snapshot_id = o.snapshot_id
                 AND s.org_uuid = o.org_uuid AND s.name = ?
            WHERE o.snapshot_id = ? GROUP BY o.snapshot_id, o.org_uuid ORDER BY o.org_uuid""",
            [SETTING, ctx.holdings.snapshot_id]).fetchall()
        rows: list[tuple[Any, ...]] = []
        findings: list[Finding] = []
        for org_uuid, name, value, present, has_settings in orgs:
            if not has_settings:
                continue  # settings endpoint unavailable for this org: a collection gap
            if not present:
                rows.append((org_uuid, name, None, "not configured", None, None, None))
                findings.append(self._indefinite(ctx, org_uuid, name, "not configured"))
                continue
            periods = _periods(value)
            rows.extend((org_uuid, name, *p) for p in periods)
            forever = [p[0] for p in periods if p[1] == "indefinite"]
            if forever:
                findings.append(self._indefinite(ctx, org_uuid, name, ", ".join(forever)))
        return table("retention_settings", "Effective content retention per organisation",
                     [("org_uuid", "str"), ("organization", "str"), ("data_type", "str"),
                      ("kind", "str"), ("duration", "int"), ("timescale", "str"),
                      ("approx_days", "int")], rows), findings

    def _indefinite(self, ctx: EvidenceContext, org_uuid: str, name: str | None,
                    what: str) -> Finding:
        """The low note for content kept without a finite retention period."""
        return make_finding(
            self.key, "retention_indefinite", Severity.LOW,
            f"Content retention of {name or org_uuid} is indefinite ({what})",
            {"setting": SETTING, "org_uuid": org_uuid}, None,
            "No finite retention period is configured: chats, files and projects are kept until "
            "someone deletes them. Confirm this matches the retention policy (SOC 2 C1.2, "
            f"ISO 27001 A.8.10). Setting read from the directory snapshot of "
            f"{_snapshot_day(ctx)}.", [])

    def _changes(self, ctx: EvidenceContext) -> tuple[Table, list[Finding]]:
        """Changes of the retention setting in the period (low: the policy owner confirms)."""
        rows = ctx.con.execute(f"""
            SELECT created_at, organization_uuid, actor_user_id, actor_email, id,
                   u->'previous_value', u->'current_value'
            FROM (SELECT *, unnest(TRY_CAST(raw->'updates' AS JSON[])) AS u FROM activities
                  WHERE created_at >= ? AND created_at < ?
                  AND type = 'claude_organization_settings_updated')
            WHERE (u->>'type') = '{SETTING}' ORDER BY created_at, id""",
            period_bounds(ctx)).fetchall()
        data = [(utc(r[0]), r[1], r[2], r[3], _text(r[5]), _text(r[6]), r[4]) for r in rows]
        findings = [make_finding(
            self.key, "retention_changed", Severity.LOW,
            f"Content retention changed by {email or user or 'an actor'}",
            {"setting": SETTING, "user_id": user, "email": email}, when,
            f"data_retention_periods changed from {prev} to {cur}; a shorter period removes "
            "content earlier, a longer one keeps it longer than before.", [activity])
            for when, _org, user, email, prev, cur, activity in data]
        return table("retention_changes", "Changes to the retention setting in the period",
                     [("created_at", "datetime"), ("org_uuid", "str"), ("user_id", "str"),
                      ("email", "str"), ("previous_value", "str"), ("current_value", "str"),
                      ("activity_id", "str")], data), findings

    # -- deletion markers ------------------------------------------------------------------

    def _markers(self, ctx: EvidenceContext, marking: str) -> tuple[Table, list[Finding]]:
        """Truncated bulk-deletion audits and org bulk deletions: each is a medium finding."""
        rows = ctx.con.execute(f"""
            SELECT created_at, type, actor_user_id, actor_email, raw->>'claude_project_id',
                   TRY_CAST(raw->>'requested_count' AS BIGINT),
                   TRY_CAST(raw->>'audited_count' AS BIGINT), id
            FROM {marking} WHERE created_at >= ? AND created_at < ?
            ORDER BY created_at, id""", period_bounds(ctx)).fetchall()
        data = [(utc(r[0]), r[1], r[2], r[3], r[4], r[5], r[6],
                 max(0, (r[5] or 0) - (r[6] or 0)) if r[5] is not None else None, r[7])
                for r in rows]
        findings = [self._marker_finding(*d) for d in data]
        return table("deletion_markers", "Bulk deletions and truncated deletion audits",
                     [("created_at", "datetime"), ("type", "str"), ("user_id", "str"),
                      ("email", "str"), ("project_id", "str"), ("requested", "int"),
                      ("audited", "int"), ("unaudited", "int"), ("activity_id", "str")],
                     data), findings

    def _marker_finding(self, when: datetime, kind: str, user: str | None, email: str | None,
                        project: str | None, requested: int | None, audited: int | None,
                        unaudited: int | None, activity: str) -> Finding:
        """The medium finding for one truncated audit or org bulk deletion."""
        if kind.endswith(_TRUNCATED):
            return make_finding(
                self.key, "bulk_deletion_audit_truncated", Severity.MEDIUM,
                f"Bulk deletion of {requested if requested is not None else 'many'} items "
                f"recorded only {audited if audited is not None else 'partly'} individually",
                subject(user_id=user, email=email, project_id=project), when,
                f"{kind}: {unaudited if unaudited is not None else 'some'} deletions by "
                f"{email or user or 'an actor'} have no individual audit event; the deleted "
                "items cannot be listed from the feed.", [activity])
        return make_finding(
            self.key, "org_bulk_delete", Severity.MEDIUM,
            f"Organisation-wide bulk deletion initiated by {email or user or 'an actor'}",
            subject(user_id=user, email=email), when,
            "A bulk deletion of organisation content was started; confirm it was approved and "
            "matches the retention policy.", [activity])


# -- deletions ---------------------------------------------------------------------------------


def _by_day(ctx: EvidenceContext, deletions: str) -> Table:
    """Deletion events per UTC day and type."""
    rows = ctx.con.execute(f"""
        SELECT timezone('UTC', created_at)::DATE AS day, type, count(*),
               count(DISTINCT actor_user_id)
        FROM {deletions} WHERE created_at >= ? AND created_at < ?
        GROUP BY ALL ORDER BY day, type""",
        period_bounds(ctx)).fetchall()
    return table("deletions_by_day", "Content deletion events per day and type",
                 [("day", "date"), ("type", "str"), ("events", "int"), ("users", "int")], rows)


def _by_user(ctx: EvidenceContext, deletions: str) -> Table:
    """Deletion events per user and type."""
    rows = ctx.con.execute(f"""
        SELECT actor_user_id, max(actor_email), type, count(*), min(created_at), max(created_at)
        FROM {deletions} WHERE created_at >= ? AND created_at < ?
        GROUP BY actor_user_id, type ORDER BY count(*) DESC, actor_user_id NULLS LAST, type""",
        period_bounds(ctx)).fetchall()
    return table("deletions_by_user", "Content deletion events per user and type",
                 [("user_id", "str"), ("email", "str"), ("type", "str"), ("events", "int"),
                  ("first", "datetime"), ("last", "datetime")],
                 [(*r[:4], utc(r[4]), utc(r[5])) for r in rows])


def _api_deletions(ctx: EvidenceContext) -> Table:
    """Content hard-deleted through the Compliance API (DELETE requests in the feed)."""
    # One JSON extraction per request (the document is parsed once, in a materialised step).
    rows = ctx.con.execute("""
        WITH e AS MATERIALIZED (
            SELECT created_at, id, actor_type, json_extract_string(raw, ['$.request_method',
                   '$.actor.api_key_id', '$.url', '$.status_code']) AS v
            FROM activities WHERE type = 'compliance_api_accessed'
            AND created_at >= ? AND created_at < ?)
        SELECT created_at, coalesce(v[2], actor_type), v[3], TRY_CAST(v[4] AS INTEGER), id
        FROM e WHERE upper(v[1]) = 'DELETE' ORDER BY created_at, id""",
        period_bounds(ctx)).fetchall()
    return table("api_hard_deletions", "Content hard-deleted through the Compliance API",
                 [("created_at", "datetime"), ("key_id", "str"), ("url", "str"),
                  ("status_code", "int"), ("activity_id", "str")],
                 [(utc(r[0]), *r[1:]) for r in rows])


def _chart(by_day: Table) -> dict[str, Any]:
    """Daily deletions (failures left out) for a bar chart."""
    totals: dict[str, int] = {}
    for day, kind, events, _users in by_day.rows:
        if kind.endswith("_deleted"):
            totals[day.isoformat()] = totals.get(day.isoformat(), 0) + int(events)
    return {"kind": "bar", "x": "day", "y": ["deletions"],
            "rows": [{"day": d, "deletions": n} for d, n in sorted(totals.items())]}


# -- parsing the setting -----------------------------------------------------------------------


def _periods(value: str | None) -> list[tuple[Any, ...]]:
    """(data_type, kind, duration, timescale, approx_days) per key of the setting's map."""
    try:
        parsed = orjson.loads(value) if value else None
    except orjson.JSONDecodeError:
        parsed = None
    if not isinstance(parsed, dict) or not parsed:
        return [("all", "not configured", None, None, None)]
    out = []
    for data_type in sorted(parsed):
        entry = parsed[data_type] if isinstance(parsed[data_type], dict) else {}
        kind = str(entry.get("type", "unknown"))
        duration = entry.get("duration")
        scale = entry.get("timescale")
        days = None
        if kind == "fixed" and isinstance(duration, int | float):
            days = int(duration) * (_DAYS_PER_MONTH if scale == "month" else 1)
        out.append((data_type, kind, int(duration) if isinstance(duration, int | float)
                    else None, scale, days))
    return out


def _summary(rows: list[tuple[Any, ...]]) -> str | None:
    """`all: fixed 365 day` per distinct setting, for the metrics."""
    parts = sorted({f"{r[2] or 'all'}: {r[3]}" + (f" {r[4]} {r[5]}" if r[4] is not None else "")
                    for r in rows})
    return "; ".join(parts) or None


def _text(value: Any) -> str | None:
    """A JSON value as text, or None."""
    return None if value is None else str(value)


def _snapshot_day(ctx: EvidenceContext) -> str:
    """The date of the directory snapshot the setting was read from."""
    as_of = ctx.holdings.snapshot_as_of
    return f"{as_of:%Y-%m-%d}" if as_of else "unknown date"


_METHOD = (
    "The effective data_retention_periods setting of each linked organisation is read from the "
    "directory snapshot nearest the period end, and its changes from "
    "claude_organization_settings_updated events. Deletion events (catalog categories chats, "
    "files, projects, artifacts and design, types ending in _deleted or _deletion_failed) are "
    "counted per UTC day and type and per user; *_bulk_deletion_audit_truncated and "
    "org_bulk_delete_initiated events are listed with requested and audited counts; "
    "compliance_api_accessed events with method DELETE are content hard-deleted through the "
    "Compliance API.")

_LIMITATIONS = [
    "Content removed by the retention policy itself leaves no deletion event: the setting shows "
    "the rule, not each removal.",
    "A truncated bulk-deletion audit records counts only: the individual items deleted cannot be "
    "listed from the feed.",
    "The setting is read at the directory snapshot; changes between snapshots come from the feed.",
    "Month-based periods are shown in days at 30 days a month (approx_days) for comparison only.",
]


ITEM = ContentRetention()
