"""EV16 `incident_timeline`: the ordered, hash-chained timeline of high-relevance events.

The timeline holds every event of the period whose type the reference rates High (identity,
credentials, privilege, security settings, egress, sharing, Anthropic access), minus a few
routine high-volume types that other items analyse in aggregate (see `ROUTINE`). Their counts
are still listed, so nothing disappears silently.

Each row carries actor, IP address, user agent, activity id and the event's own fields (its
content references). `row_sha256` hashes the row's columns; `chain_sha256` chains the rows in
order, and the last link is the metric `timeline_sha256`: changing, dropping or reordering one
row changes it. The recipe is in `method` so an auditor can recompute it from the table alone.

No verdicts: the items that own each event type raise findings; this item records.
"""

from __future__ import annotations

import hashlib
from typing import Any

from auditpack.evidence._common import coverage_of, insufficient, lineage
from auditpack.evidence._operations import (
    GENESIS,
    category_of,
    feed_reason,
    late_start_note,
    of_types,
    period_bounds,
    present_types,
    table,
    type_pages,
    types_where,
)
from auditpack.evidence.interface import (
    Coverage,
    EvidenceContext,
    EvidenceItem,
    EvidenceResult,
    Status,
    Table,
)

# High-relevance types left out of the timeline because of their routine volume, with the
# item that analyses them. Each is one event per routine action, so at 100,000 seats they would
# bury the identity, privilege and configuration events an investigator starts from.
ROUTINE: dict[str, str] = {
    "compliance_api_accessed": "one event per Compliance API request (SIEM polling, eDiscovery "
                               "and auditpack itself); reads per key are in EV18",
    "claude_file_exported": "everyday content export by users; per-user volumes against each "
                            "user's baseline are in EV10",
    "claude_file_deleted": "everyday content housekeeping; deletions per day and type are in "
                           "EV19",
    "claude_chat_deleted": "everyday content housekeeping; deletions per day and type are in EV19",
    "claude_project_document_deleted": "everyday content housekeeping; see EV19",
    "claude_project_file_deleted": "everyday content housekeeping; see EV19",
}

_SEP = "\x1f"  # unit separator: cannot occur in ids, and makes field boundaries unambiguous

# Columns hashed per row, in this order, joined by U+001F (NULL as the empty string).
_HASHED = ("activity_id", "created_at", "type", "actor_type", "actor_id", "actor_email",
           "ip_address", "user_agent", "organization_id", "details")

_TIMELINE = """
SELECT id AS activity_id,
       strftime(timezone('UTC', created_at), '%Y-%m-%dT%H:%M:%S.%fZ') AS created_at,
       type, actor_type,
       coalesce(raw->'actor'->>'user_id', raw->'actor'->>'api_key_id',
                raw->'actor'->>'admin_api_key_id', raw->'actor'->>'service_account_id',
                raw->'actor'->>'external_client_id', raw->'actor'->>'subject',
                raw->'actor'->>'directory_id', raw->'actor'->>'service') AS actor_id,
       actor_email, actor_ip AS ip_address, actor_user_agent AS user_agent, organization_id,
       json_merge_patch(raw, '{"id":null,"created_at":null,"type":null,"actor":null,
           "organization_id":null,"organization_uuid":null}')::VARCHAR AS details
FROM {types}
WHERE created_at >= ? AND created_at < ?
"""

# The row hash is computed inside DuckDB (one pass, no Python per field); only the chaining,
# which is sequential by nature, runs in Python, over the already-filtered timeline.
_HASHED_SQL = f"""
SELECT *, sha256(concat_ws('{_SEP}', {", ".join(f"coalesce({c}, '')" for c in _HASHED)}))
       AS row_sha256
FROM ({_TIMELINE}) ORDER BY created_at, activity_id
"""

_COLUMNS = [("seq", "int"), ("created_at", "str"), ("type", "str"), ("category", "str"),
            ("actor_type", "str"), ("actor_id", "str"), ("actor_email", "str"),
            ("ip_address", "str"), ("user_agent", "str"), ("activity_id", "str"),
            ("organization_id", "str"), ("details", "str"), ("row_sha256", "str"),
            ("chain_sha256", "str")]


class IncidentTimeline(EvidenceItem):
    """EV16: a reconstructable, tamper-evident record of the period's significant events."""

    id = "EV16"
    key = "incident_timeline"
    title = "Incident timeline reconstruction"

    def compute(self, ctx: EvidenceContext) -> EvidenceResult:
        """The timeline table, its chained hash, and counts of what was left out."""
        reason = feed_reason(ctx)
        if reason is not None:
            has_analytics = bool(ctx.holdings.analytics_days)
            return insufficient(self, reason,
                                Coverage.PARTIAL if has_analytics else Coverage.NONE)
        present = present_types(ctx)
        wanted = of_types(timeline_types(), present)
        rows, head = _chained(ctx, wanted)
        excluded = _excluded(ctx, present)
        metrics: dict[str, int | float | str | None] = {
            "timeline_events": len(rows),
            "timeline_sha256": head,
            "timeline_types": len({r[2] for r in rows}),
            "actors": len({r[5] for r in rows if r[5]}),
            "first_event": rows[0][1] if rows else None,
            "last_event": rows[-1][1] if rows else None,
            "excluded_routine_events": sum(r[1] for r in excluded.rows),
        }
        by_type = _by_type(rows)
        limitations = [
            "The timeline covers the whole period; narrowing to one user, object or incident "
            "case is a filter on the table (actor_id, details, created_at).",
            "Prompt and response text is not in the activity feed; content references "
            "(chat, file, project ids) are in `details`.",
            "Types outside the reference's High relevance (ordinary chat and file activity, "
            "views) are not in the timeline; they remain in the store and the raw pages.",
        ]
        if note := late_start_note(ctx):
            limitations.append(note)
        pages = type_pages(ctx, wanted)
        return EvidenceResult(
            self.id, self.key, self.title, Status.EFFECTIVE,
            coverage_of(bool(ctx.holdings.analytics_days), True,
                        analytics_level=Coverage.PARTIAL, compliance_level=Coverage.FULL,
                        combined_level=Coverage.FULL),
            metrics=metrics,
            tables=[table("timeline", "Ordered, hash-chained timeline of high-relevance events",
                          _COLUMNS, rows), by_type, excluded],
            findings=[], lineage=lineage(ctx, pages, ["compliance"]), method=_METHOD,
            limitations=limitations)


def timeline_types() -> tuple[str, ...]:
    """High-relevance documented types, without the routine ones."""
    return tuple(t for t in types_where(relevance="High") if t not in ROUTINE)


def _chained(ctx: EvidenceContext, wanted: str) -> tuple[list[tuple[Any, ...]], str]:
    """Timeline rows of the `wanted` relation in order, their chain hashes, and the last link."""
    # str.replace, not format: the SQL holds JSON braces.
    cursor = ctx.con.execute(_HASHED_SQL.replace("{types}", wanted), period_bounds(ctx))
    out: list[tuple[Any, ...]] = []
    head = GENESIS
    seq = 0
    while batch := cursor.fetchmany(10_000):
        for (activity_id, created_at, type_, actor_type, actor_id, email, ip, agent, org,
             details, row_sha) in batch:
            seq += 1
            head = hashlib.sha256((head + row_sha).encode()).hexdigest()
            out.append((seq, created_at, type_, category_of(type_), actor_type, actor_id, email,
                        ip, agent, activity_id, org, details, row_sha, head))
    return out, head


def _by_type(rows: list[tuple[Any, ...]]) -> Table:
    """Timeline events per type (a table of contents for the timeline)."""
    counts: dict[str, list[Any]] = {}
    for r in rows:
        acc = counts.setdefault(r[2], [r[3], 0, r[1], r[1]])
        acc[1] += 1
        acc[3] = r[1]
    data = sorted(((t, c, n, first, last) for t, (c, n, first, last) in counts.items()),
                  key=lambda x: (-x[2], x[0]))
    return table("timeline_by_type", "Timeline events per type",
                 [("type", "str"), ("category", "str"), ("events", "int"),
                  ("first", "str"), ("last", "str")], data)


def _excluded(ctx: EvidenceContext, present: list[str]) -> Table:
    """How many events of each routine type the period holds, and where they are analysed."""
    names = sorted(ROUTINE)
    rows = ctx.con.execute(f"""
        SELECT type, count(*) FROM {of_types(names, present)}
        WHERE created_at >= ? AND created_at < ? GROUP BY type""", period_bounds(ctx)).fetchall()
    counts = {r[0]: int(r[1]) for r in rows}
    return table("excluded_routine", "High-relevance routine types kept out of the timeline",
                 [("type", "str"), ("events", "int"), ("why", "str")],
                 [(t, counts.get(t, 0), ROUTINE[t]) for t in names])


_METHOD = (
    "Every activity of the period whose type the reference rates High, except the routine types "
    "listed in excluded_routine, ordered by created_at then activity id. details is the event "
    "without its envelope (id, created_at, type, actor, organization ids) as JSON text. "
    "row_sha256 = SHA-256 of the UTF-8 text of activity_id, created_at (ISO 8601 UTC with "
    "microseconds and 'Z'), type, actor_type, actor_id, actor_email, ip_address, user_agent, "
    "organization_id and details joined by U+001F (a missing value as empty text); chain_sha256 "
    "of row n = SHA-256 of the ASCII text chain_sha256(n-1) + row_sha256(n), starting from 64 "
    "zeros; timeline_sha256 is the last link.")


ITEM = IncidentTimeline()
