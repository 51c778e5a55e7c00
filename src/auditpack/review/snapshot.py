"""The state a campaign reviews: who holds what access at one instant, from the store.

The rows come from the same replay the evidence items use (`evidence._identity`): the directory
snapshot nearest the instant, moved forwards or backwards through the membership, role, group,
workspace and key activities in between. One row per person and organization; people who
belong to no linked organization any more but still hold group memberships or active keys get a
row of their own (leftover access, flagged as leavers), so that nothing with access escapes the
review.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb

from auditpack.errors import UsageError
from auditpack.evidence._identity import (
    ANALYTICS_ACTIVE,
    GROUPS_AT,
    IDENTITY_EVENTS,
    KEYS_AT,
    ROSTER,
    WORKSPACES_AT,
    Snapshot,
    keys_params,
    roster_params,
    with_ctes,
)
from auditpack.review.model import MemberRow, row_id

NO_ORGANIZATION = "(no organization)"

_CTES = f"""
org_names AS (SELECT org_uuid, any_value(name) AS name FROM dir_organizations GROUP BY org_uuid),
user_names AS (
    SELECT u.user_id, arg_max(u.full_name, o.as_of) AS name, arg_max(u.email, o.as_of) AS email
    FROM dir_users u JOIN dir_observations o USING (snapshot_id) GROUP BY u.user_id
),
member_emails AS (SELECT user_id, any_value(email) AS email FROM dir_group_members GROUP BY 1),
user_groups AS (
    SELECT g.user_id, string_agg(DISTINCT coalesce(n.name, g.group_id), '; '
                                 ORDER BY coalesce(n.name, g.group_id)) AS groups
    FROM groups_at g LEFT JOIN group_names n USING (group_id) GROUP BY g.user_id
),
user_workspaces AS (
    SELECT user_id, org_uuid, count(DISTINCT workspace_id) AS n FROM workspaces_at GROUP BY ALL
),
user_keys AS (SELECT created_by AS user_id, count(*) AS n FROM keys_at WHERE active GROUP BY 1),
last_feed AS (
    SELECT actor_user_id AS user_id, max(created_at) AS ts FROM activities
    WHERE created_at <= $at AND actor_user_id IS NOT NULL GROUP BY 1
),
last_analytics AS (
    SELECT user_id, max(day) AS day FROM an_users
    WHERE day <= CAST($at AS DATE) AND {ANALYTICS_ACTIVE} GROUP BY 1
),
removed AS (
    SELECT DISTINCT user_id FROM identity_events
    WHERE kind = 'leave' AND ts > $leaver_since AND ts <= $at AND user_id IS NOT NULL
),
holders AS (
    SELECT org_uuid, user_id, email, role, joined_at FROM roster
    UNION ALL
    -- leftover access: groups or active keys held by someone in no linked organization
    SELECT NULL, x.user_id, NULL, NULL, NULL
    FROM (SELECT user_id FROM user_groups UNION SELECT user_id FROM user_keys) x
    WHERE x.user_id NOT IN (SELECT user_id FROM roster)
)"""

_ROWS = """
SELECT h.org_uuid, coalesce(o.name, h.org_uuid), h.user_id, coalesce(h.email, n.email, m.email), n.name,
       h.role, coalesce(g.groups, ''), coalesce(w.n, 0), coalesce(k.n, 0), h.joined_at,
       -- an Analytics day counts from its start: the day is known, the hour is not
       greatest(f.ts, CAST(a.day AS TIMESTAMPTZ)) AS last_activity,
       r.user_id IS NOT NULL OR h.org_uuid IS NULL AS leaver
FROM holders h
LEFT JOIN org_names o USING (org_uuid)
LEFT JOIN user_names n USING (user_id)
LEFT JOIN user_groups g USING (user_id)
LEFT JOIN member_emails m USING (user_id)
LEFT JOIN user_workspaces w ON w.user_id = h.user_id AND w.org_uuid IS NOT DISTINCT FROM h.org_uuid
LEFT JOIN user_keys k USING (user_id)
LEFT JOIN last_feed f USING (user_id)
LEFT JOIN last_analytics a USING (user_id)
LEFT JOIN removed r USING (user_id)
ORDER BY coalesce(o.name, h.org_uuid) NULLS LAST, 4, h.user_id
"""


@dataclass(frozen=True)
class ReviewState:
    """The reviewed rows and the directory snapshot they were replayed from."""

    rows: list[MemberRow]
    directory_snapshot_id: str
    directory_snapshot_as_of: datetime


def latest_instant(con: duckdb.DuckDBPyConnection) -> datetime | None:
    """The freshest instant the store describes: the end of the newest feed window held, or
    the newest directory observation when no feed was collected."""
    row = con.execute("SELECT greatest((SELECT max(upper) FROM feed_windows), "
                      "(SELECT max(as_of) FROM dir_observations))").fetchone()
    return row[0].astimezone(UTC) if row and row[0] is not None else None


def review_state(con: duckdb.DuckDBPyConnection, at: datetime, *, dormant_days: int,
                 leaver_since: datetime | None,
                 previous: dict[tuple[str | None, str], MemberRow] | None) -> ReviewState:
    """Every access holder at `at`, one row per person and organization."""
    snap_row = con.execute(
        "SELECT snapshot_id, as_of FROM dir_observations "
        "ORDER BY (as_of > ?), abs(epoch(as_of) - epoch(?::TIMESTAMPTZ)), snapshot_id LIMIT 1",
        [at, at]).fetchone()
    if snap_row is None:
        raise UsageError("the store holds no directory snapshot to review",
                         hint="collect from the Compliance API first (`auditpack collect`)")
    snap = Snapshot(snap_row[0], snap_row[1].astimezone(UTC))
    since = leaver_since or at - timedelta(days=90)
    params: dict[str, Any] = {**roster_params(snap, at), **keys_params(snap, at),
                              "g_snap": snap.id, "g_snap_at": snap.as_of, "g_at": at,
                              "w_at": at, "at": at, "leaver_since": since}
    params["ie_lo"] = min(params["ie_lo"], since)
    sql = with_ctes(IDENTITY_EVENTS, ROSTER, GROUPS_AT, WORKSPACES_AT, KEYS_AT, _CTES) + _ROWS
    used = {k: v for k, v in params.items() if f"${k}" in sql}
    cutoff = at - timedelta(days=dormant_days)
    rows: list[MemberRow] = []
    for (org_uuid, org_name, user_id, email, name, role, groups, workspaces, keys, joined,
         last, leaver) in con.execute(sql, used).fetchall():
        joined_utc = joined.astimezone(UTC) if joined else None
        last_utc = last.astimezone(UTC) if last else None
        new_member = joined_utc is not None and joined_utc > cutoff
        key = (org_uuid, user_id)
        rows.append(MemberRow(
            row_id=row_id(org_uuid, user_id), org_uuid=org_uuid,
            organization=org_name or NO_ORGANIZATION, user_id=user_id, email=email, name=name,
            role=role if org_uuid else None, groups=groups, workspaces=int(workspaces),
            active_keys=int(keys), joined_at=joined_utc, last_activity=last_utc,
            dormant=not new_member and (last_utc is None or last_utc < cutoff),
            leaver=bool(leaver),
            change=_change(previous.get(key) if previous is not None else None, role,
                           first=previous is None)))
    return ReviewState(rows, snap.id, snap.as_of)


def _change(before: MemberRow | None, role: str | None, *, first: bool) -> str:
    if first:
        return ""
    if before is None:
        return "new since last review"
    if (before.role or "") != (role or ""):
        return f"role {before.role or 'none'} → {role or 'none'}"
    return ""
