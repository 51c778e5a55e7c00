"""EV02's reading of auditpack's own review records: attested campaigns and remediation.

The build registers `review_campaigns` and `review_decisions` (TEMP tables, see
`auditpack.review.records`); without them no review was recorded. A Revoke counts as carried out
when the feed shows the person removed (from the reviewed organization, or from every one)
after the reviewed snapshot; a Modify when it shows a role change or a removal. Activity by a
revoked person after the removal (or, while not removed, after the decision) is reported with
it. A removal between the snapshot and the import of the decision counts: the decision was made
on that snapshot, and acting on it before the workbook came back is no fault.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb

from auditpack.evidence._identity import GROUP_TYPES, IDENTITY_EVENTS, any_of, fetch, with_ctes
from auditpack.evidence.interface import (
    Column,
    EvidenceContext,
    Finding,
    Period,
    Severity,
    make_finding,
)

MAX_IDS = 20

_REMEDIATION = f"""
revocations AS (
    SELECT d.*, c.snapshot_at FROM review_decisions d JOIN review_campaigns c USING (campaign_id)
    WHERE c.verified AND d.decided_at <= $as_of
),
removals AS (
    SELECT v.campaign_id, v.row_id, e.ts, e.id
    FROM revocations v JOIN identity_events e ON e.user_id = v.user_id
        AND (v.org_uuid IS NULL OR e.org_uuid IS NULL OR e.org_uuid = v.org_uuid)
        AND e.ts > v.snapshot_at AND e.ts <= $as_of
        AND (e.kind = 'leave' OR (v.decision = 'Modify' AND e.kind = 'role'))
    UNION ALL
    -- access outside any organization (groups only) is removed from the group
    SELECT v.campaign_id, v.row_id, a.created_at, a.id
    FROM revocations v JOIN activities a ON v.org_uuid IS NULL
        AND {any_of('a.type', GROUP_TYPES[1:])}
        AND list_contains(json_extract_string(a.raw, '$.member_ids[*]'), v.user_id)
        AND a.created_at > v.snapshot_at AND a.created_at <= $as_of
),
carried_out AS (
    SELECT campaign_id, row_id, min(ts) AS done_at, arg_min(id, (ts, id)) AS done_by
    FROM removals GROUP BY ALL
),
used_after AS (
    SELECT v.campaign_id, v.row_id, count(*) AS n, min(a.created_at) AS first_at,
           list(a.id ORDER BY a.created_at, a.id)[1:{MAX_IDS}] AS ids
    FROM revocations v LEFT JOIN carried_out c USING (campaign_id, row_id)
    JOIN activities a ON a.actor_user_id = v.user_id
        AND a.created_at > coalesce(c.done_at, v.decided_at) AND a.created_at <= $as_of
        -- organization-less activity (sign-ins) counts unless the person kept other access
        AND (a.organization_uuid = v.org_uuid OR v.org_uuid IS NULL
             OR (a.organization_uuid IS NULL AND NOT v.keeps_other_access))
    WHERE v.decision = 'Revoke'
    GROUP BY ALL
)
SELECT v.decided_at, v.decision, v.campaign_id, v.row_id, v.organization, v.user_id, v.email,
       v.role, v.justification, v.reviewer, c.done_at, c.done_by, coalesce(u.n, 0),
       u.first_at, u.ids
FROM revocations v LEFT JOIN carried_out c USING (campaign_id, row_id)
LEFT JOIN used_after u USING (campaign_id, row_id)
ORDER BY v.decided_at, v.email, v.row_id
"""

REMEDIATION_COLUMNS = [
    Column("decided_at", "datetime"), Column("decision", "str"), Column("campaign_id", "str"),
    Column("row_id", "str"), Column("organization", "str"), Column("user_id", "str"),
    Column("email", "str"), Column("role", "str"), Column("justification", "str"),
    Column("reviewer", "str"), Column("carried_out_at", "datetime"),
    Column("carried_out_by_activity", "str"), Column("activity_after", "int"),
    Column("state", "str"), Column("due", "date")]


@dataclass(frozen=True)
class Campaigns:
    """The attested campaigns a build holds, split by what they can prove."""

    covering: list[str]  # verified campaigns whose period overlaps the build period
    unverified: list[str]
    incomplete: list[tuple[str, int]]  # covering campaigns closed with undecided rows
    latest_closed: datetime | None


def has_review_tables(con: duckdb.DuckDBPyConnection) -> bool:
    row = con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name IN "
                      "('review_campaigns', 'review_decisions')").fetchone()
    return bool(row and row[0] == 2)


def campaigns(con: duckdb.DuckDBPyConnection, period: Period, as_of: datetime) -> Campaigns:
    """The campaigns attested by `as_of` and what each proves for `period`."""
    if not has_review_tables(con):
        return Campaigns([], [], [], None)
    rows = con.execute(
        "SELECT campaign_id, verified, complete, undecided, closed_at, "
        "period_start <= ? AND period_end >= ? FROM review_campaigns WHERE closed_at <= ? "
        "ORDER BY closed_at, campaign_id", [period.end, period.start, as_of]).fetchall()
    covering = [r[0] for r in rows if r[1] and r[5]]
    return Campaigns(
        covering=covering, unverified=[r[0] for r in rows if not r[1]],
        incomplete=[(r[0], int(r[3])) for r in rows if r[1] and r[5] and not r[2]],
        latest_closed=max((r[4].astimezone(UTC) for r in rows if r[1]), default=None))


def remediation(ctx: EvidenceContext) -> tuple[list[tuple[Any, ...]], list[Finding]]:
    """Every attested Revoke and Modify: carried out, overdue, or still within its deadline."""
    if not has_review_tables(ctx.con):
        return [], []
    lo = ctx.con.execute("SELECT min(snapshot_at) FROM review_campaigns").fetchone()
    if lo is None or lo[0] is None:
        return [], []
    rows = fetch(ctx, with_ctes(IDENTITY_EVENTS, _REMEDIATION), ie_lo=lo[0],
                 ie_hi=ctx.as_of + timedelta(microseconds=1), as_of=ctx.as_of)
    deadline = timedelta(days=ctx.policy.revocation_deadline_days)
    table, findings = [], []
    for (decided, decision, cid, rid, org, user_id, email, role, why, reviewer, done_at,
         done_by, after, first_after, ids) in rows:
        decided, done_at = decided.astimezone(UTC), done_at and done_at.astimezone(UTC)
        due = decided + deadline
        who = email or user_id
        sources = [done_by, *(ids or [])] if done_by else list(ids or [])
        if done_at is not None and after:
            state = "carried out, used afterwards"
            findings.append(make_finding(
                "EV02", "revoked_access_used", Severity.HIGH,
                f"{who}: access revoked in review {cid}, yet {after} activities after removal",
                {"user_id": user_id, "campaign_id": cid, "row_id": rid},
                first_after.astimezone(UTC),
                f"{reviewer} decided {decision} on {decided:%Y-%m-%d}; the feed shows the "
                f"removal at {done_at:%Y-%m-%d %H:%M} UTC but {after} activities by {who} after "
                "it.", sources))
        elif done_at is not None:
            state = "carried out"
        elif ctx.as_of > due:
            state = "overdue"
            findings.append(make_finding(
                "EV02", "revocation_not_carried_out",
                Severity.HIGH if decision == "Revoke" else Severity.MEDIUM,
                f"{who}: {decision.lower()} decided in review {cid} not carried out",
                {"user_id": user_id, "campaign_id": cid, "row_id": rid}, due,
                f"{reviewer} decided {decision} for {who} ({org}, role {role or 'none'}) on "
                f"{decided:%Y-%m-%d} ({why}); by {ctx.as_of:%Y-%m-%d %H:%M} UTC, "
                f"{ctx.policy.revocation_deadline_days} days allowed, the Compliance feed shows "
                f"no {'removal' if decision == 'Revoke' else 'role change'}"
                + (f", and {after} activities by them since the decision." if after else "."),
                sources))
        else:
            state = "open, within deadline"
        table.append((decided, decision, cid, rid, org, user_id, email, role, why, reviewer,
                      done_at, done_by, int(after), state, due.date()))
    return table, findings
