"""Shared identity logic of EV01–EV07: who was a member when, who left, which keys were live.

Every item here answers questions about people and credentials at an instant: the members of
each linked organization, their roles, their groups, the Compliance keys. The directory only
gives that state at the instants it was snapshotted, so the queries below start from a snapshot
and replay the activity feed between the snapshot and the instant wanted (forwards or
backwards). Everything is SQL inside DuckDB; Python only picks parameters and shapes results.

Queries use named parameters (`$name`); `fetch()` passes each statement only the names it uses,
because DuckDB refuses a parameter the statement does not mention.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from auditpack.evidence.interface import Column, EvidenceContext, Finding, Severity, Status

# Organization roles that administer the organization (claude-apis.md §4.5 C3).
PRIVILEGED_ROLES = ("primary_owner", "owner", "admin", "membership_admin")
# How far each privileged role reaches; a move up this ladder is an escalation.
ROLE_RANK = {"membership_admin": 1, "admin": 2, "owner": 3, "primary_owner": 4}

# Activity types that add, remove or re-role an organization member.
IDENTITY_TYPES = ("org_user_invite_accepted", "scim_user_created", "org_user_deleted",
                  "org_user_left", "scim_user_deleted", "claude_user_role_updated",
                  "primary_owner_transferred")
# Activity types of the key lifecycle (Compliance/scoped keys, Admin API keys, Console keys).
KEY_TYPES = ("api_key_created", "scoped_api_key_deleted", "scoped_api_key_updated",
             "admin_api_key_created", "admin_api_key_deleted", "admin_api_key_updated",
             "platform_api_key_created", "platform_api_key_updated")
GROUP_TYPES = ("group_member_added", "group_member_removed")
WORKSPACE_TYPES = ("platform_workspace_member_added", "platform_workspace_member_removed")

# An Analytics user row counts as activity only if it shows some use: the API may list seat
# holders with all-zero metrics, and a listed seat is not a sign of life. The extracted columns
# come first so that DuckDB parses `raw` only for rows they leave undecided.
ANALYTICS_ACTIVE = """(coalesce(messages, 0) > 0 OR coalesce(conversations, 0) > 0
    OR coalesce(files_uploaded, 0) > 0 OR coalesce(code_sessions, 0) > 0
    OR coalesce(connectors_used, 0) > 0
    OR coalesce(TRY_CAST(raw->>'web_search_count' AS BIGINT), 0) > 0
    OR coalesce(TRY_CAST(raw->'cowork_metrics'->>'message_count' AS BIGINT), 0) > 0)"""

# A role field that says "no role": the member was added (previous) or removed (current).
_NO_ROLE = "nullif(nullif(nullif(lower(raw->>'{0}'), ''), 'none'), 'removed')"

_PARAM = re.compile(r"\$([A-Za-z_]\w*)")


def any_of(column: str, values: tuple[str, ...] | list[str]) -> str:
    """SQL that `column` is one of `values`.

    Written as `list_contains` rather than `IN (...)`: DuckDB pushes it into the table scan,
    so a scan of the activities reads the wide `raw` column only for the rows it keeps (an
    `IN` list filtered after reading them all, about ten times slower).
    """
    items = ", ".join("'" + v.replace("'", "''") + "'" for v in values)
    return f"list_contains([{items}], {column})"


def fetch(ctx: EvidenceContext, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    """Run `sql` with the named parameters it mentions and return every row."""
    used = set(_PARAM.findall(sql))
    return ctx.con.execute(sql, {k: v for k, v in params.items() if k in used}).fetchall()


def with_ctes(*ctes: str) -> str:
    """`WITH a AS (...), b AS (...)` from CTE definitions, in dependency order."""
    return "WITH " + ",\n".join(c.strip() for c in ctes) + "\n"


def utc(value: datetime | None) -> datetime | None:
    """A timestamp from DuckDB in UTC (the session time zone is the machine's)."""
    return value.astimezone(UTC) if value is not None else None


def utc_rows(rows: list[tuple[Any, ...]], columns: list[Column]) -> list[tuple[Any, ...]]:
    """Table rows with every `datetime` column in UTC (the first len(columns) values)."""
    stamps = [i for i, c in enumerate(columns) if c.type == "datetime"]
    width = len(columns)
    out = []
    for row in rows:
        values = list(row[:width])
        for i in stamps:
            values[i] = utc(values[i])
        out.append(tuple(values))
    return out


def day_start(day: date) -> datetime:
    """The first instant of a UTC day."""
    return datetime.combine(day, time.min).replace(tzinfo=UTC)


def reference_time(ctx: EvidenceContext) -> datetime:
    """The instant the state is judged at: the period end, or `as_of` if that comes first.

    A past period is judged on the state it closed with, not on what happened after it; a
    period still running is judged on the state when the data was collected.
    """
    return min(ctx.as_of, ctx.period.end_at)


def status_for(findings: list[Finding], worst_allowed: Severity = Severity.LOW) -> Status:
    """`exceptions` if any finding is more severe than `worst_allowed`, else `effective`."""
    order = [Severity.HIGH, Severity.MEDIUM, Severity.LOW, Severity.INFO]
    limit = order.index(worst_allowed)
    return (Status.EXCEPTIONS if any(order.index(f.severity) < limit for f in findings)
            else Status.EFFECTIVE)


# --- what the store holds ---------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    """One observation of the directory: its content id and the instant it shows."""

    id: str
    as_of: datetime


def chosen_snapshot(ctx: EvidenceContext) -> Snapshot | None:
    """The snapshot the pipeline chose for the period (closest to its end)."""
    held = ctx.holdings
    if held.snapshot_id is None or held.snapshot_as_of is None:
        return None
    return Snapshot(held.snapshot_id, held.snapshot_as_of.astimezone(UTC))


def latest_snapshot(ctx: EvidenceContext) -> Snapshot | None:
    """The newest snapshot observed at or before `as_of` (the freshest known state)."""
    if ctx.holdings.snapshot_id is None:
        return None
    row = ctx.con.execute(
        "SELECT snapshot_id, as_of FROM dir_observations WHERE as_of <= ? "
        "ORDER BY as_of DESC, snapshot_id LIMIT 1", [ctx.as_of]).fetchone()
    return Snapshot(row[0], row[1].astimezone(UTC)) if row else chosen_snapshot(ctx)


def feed_start(ctx: EvidenceContext) -> datetime | None:
    """From when the held feed is complete.

    A window collected without a lower bound walked the feed back to its first record, and the
    Compliance API records only from its enablement: then the feed is complete from the start
    of the day of the earliest activity held, and says nothing about earlier days.
    """
    held = ctx.holdings
    if held.feed_covered is None:
        return None
    lower = held.feed_covered[0]
    if lower.year > 1:
        return lower
    first = held.feed_first_event
    return day_start(first.astimezone(UTC).date()) if first is not None else None


def snapshot_gap(ctx: EvidenceContext) -> str | None:
    """Why no directory snapshot can stand for the period's members, or None if one can.

    A snapshot taken after the period is usable only if the feed reaches back into the period,
    so that the changes in between are known; otherwise it describes another time.
    """
    snap = chosen_snapshot(ctx)
    if snap is None:
        return "no Compliance API directory snapshot was collected"
    if snap.as_of > ctx.period.end_at:
        start = feed_start(ctx)
        if start is None or start >= ctx.period.end_at:
            return (f"the only directory snapshot held is dated {snap.as_of:%Y-%m-%d}, after the "
                    f"period {ctx.period.label()}, and the activity feed does not reach back "
                    "into the period")
    return None


def snapshot_note(ctx: EvidenceContext, replayed: bool = True) -> list[str]:
    """A limitation line when the snapshot used was taken after the period ended."""
    snap = chosen_snapshot(ctx)
    if snap is None or snap.as_of <= ctx.period.end_at:
        return []
    dated = f"The directory snapshot used is dated {snap.as_of:%Y-%m-%d %H:%M} UTC, after the period end"
    if replayed:
        return [f"{dated}; it was replayed back to the period end through the membership, role "
                "and key activities in between."]
    return [f"{dated}; membership and roles are as of that date."]


# --- identity events and the roster at an instant ------------------------------------------

# One row per membership or role change of one user in one organization, between $ie_lo and
# $ie_hi: kind 'join', 'leave' or 'role', with the role before and after when the event says.
IDENTITY_EVENTS = f"""
identity_moves AS (
    SELECT id, created_at AS ts, type, organization_uuid AS org_uuid,
           actor_user_id, actor_email, actor_type,
           CASE WHEN type IN ('org_user_invite_accepted', 'org_user_left') THEN actor_user_id
                WHEN type = 'org_user_deleted' THEN raw->>'deleted_user_id'
                ELSE raw->>'user_id' END AS user_id,
           CASE WHEN type IN ('org_user_invite_accepted', 'org_user_left') THEN actor_email
                WHEN type = 'org_user_deleted' THEN raw->>'deleted_user_email'
                ELSE raw->>'user_email' END AS email,
           CASE WHEN type IN ('org_user_invite_accepted', 'scim_user_created') THEN 'join'
                WHEN type IN ('org_user_deleted', 'org_user_left', 'scim_user_deleted')
                    THEN 'leave'
                -- claude_user_role_updated also records additions and removals (§8 notes)
                WHEN {_NO_ROLE.format('previous_role')} IS NULL THEN 'join'
                WHEN {_NO_ROLE.format('current_role')} IS NULL THEN 'leave'
                ELSE 'role' END AS kind,
           {_NO_ROLE.format('previous_role')} AS old_role,
           {_NO_ROLE.format('current_role')} AS new_role
    FROM activities
    WHERE {any_of('type', IDENTITY_TYPES[:-1])} AND created_at >= $ie_lo AND created_at < $ie_hi
    UNION ALL
    -- a primary-owner transfer re-roles two people: the new owner and the previous one
    SELECT id, created_at, type, organization_uuid, actor_user_id, actor_email, actor_type,
           unnest([raw->>'new_owner_id', raw->>'previous_owner_id']), NULL, 'role',
           unnest([NULL, 'primary_owner']), unnest(['primary_owner', NULL])
    FROM activities
    WHERE type = 'primary_owner_transferred' AND created_at >= $ie_lo AND created_at < $ie_hi
),
invited_roles AS (
    -- an accepted invitation takes the role of the latest invitation sent to that address
    SELECT m.id, arg_max(i.raw->>'invited_role', i.created_at) AS role
    FROM identity_moves m
    JOIN activities i ON lower(i.raw->>'invited_email') = lower(m.actor_email)
                     AND i.created_at <= m.ts
    WHERE m.type = 'org_user_invite_accepted'
      AND {any_of('i.type', ('org_user_invite_sent', 'org_user_invite_re_sent'))}
    GROUP BY m.id
),
identity_events AS (
    SELECT m.* REPLACE (coalesce(m.new_role, r.role) AS new_role)
    FROM identity_moves m LEFT JOIN invited_roles r USING (id)
)"""

# The members of every linked organization at $r_at, from snapshot $r_snap (showing $r_snap_at)
# and the identity events in between. Forwards, the last move after the snapshot decides;
# backwards, the first move after the instant does (a leave means they were still there).
# Needs IDENTITY_EVENTS over a window that contains both instants.
ROSTER = """
snap_members AS (
    SELECT org_uuid, user_id, email, organization_role AS role, created_at AS joined_at,
           page_sha256
    FROM dir_users WHERE snapshot_id = $r_snap
),
snap_orgs AS (SELECT DISTINCT org_uuid FROM dir_organizations WHERE snapshot_id = $r_snap),
moves AS (
    -- a removal that names no organization removes the member from every one
    SELECT coalesce(e.org_uuid, o.org_uuid) AS org_uuid, e.* EXCLUDE (org_uuid)
    FROM identity_events e LEFT JOIN snap_orgs o ON e.org_uuid IS NULL AND e.kind = 'leave'
    WHERE e.ts > least($r_at, $r_snap_at) AND e.ts <= greatest($r_at, $r_snap_at)
      AND e.user_id IS NOT NULL AND (e.org_uuid IS NOT NULL OR e.kind = 'leave')
),
decisive AS (
    SELECT org_uuid, user_id,
           arg_max(kind, (ts, id)) FILTER (WHERE kind <> 'role') AS last_move,
           arg_min(kind, (ts, id)) FILTER (WHERE kind <> 'role') AS first_move,
           -- the role after the last change (forwards) or before the first (backwards); NULL
           -- when that event does not say, e.g. for the previous owner of a transfer
           count(*) FILTER (WHERE kind <> 'leave') > 0 AS role_after,
           arg_max_null(new_role, (ts, id)) FILTER (WHERE kind <> 'leave') AS last_role,
           arg_max(new_role, (ts, id)) FILTER (WHERE new_role IS NOT NULL) AS last_known_role,
           count(*) FILTER (WHERE kind <> 'join') > 0 AS role_before,
           arg_min_null(old_role, (ts, id)) FILTER (WHERE kind <> 'join') AS first_role,
           arg_max(email, (ts, id)) FILTER (WHERE email IS NOT NULL) AS email,
           min(ts) FILTER (WHERE kind = 'join') AS joined_at
    FROM moves GROUP BY org_uuid, user_id
),
known_users AS (
    -- e-mail and account creation of people another snapshot lists (they do not change)
    SELECT u.user_id, arg_max(u.email, o.as_of) AS email, min(u.created_at) AS created_at
    FROM dir_users u JOIN dir_observations o USING (snapshot_id)
    WHERE u.user_id IN (SELECT user_id FROM decisive) GROUP BY u.user_id
),
roster AS (
    SELECT coalesce(s.org_uuid, d.org_uuid) AS org_uuid, coalesce(s.user_id, d.user_id) AS user_id,
           coalesce(s.email, d.email, k.email) AS email,
           CASE WHEN $r_forward AND d.role_after THEN d.last_role
                WHEN NOT $r_forward AND d.role_before THEN d.first_role
                ELSE s.role END AS role,
           -- the last role known for sure, to show next to a role the events leave unknown
           CASE WHEN $r_forward THEN coalesce(d.last_known_role, s.role) ELSE s.role END
               AS known_role,
           coalesce(s.joined_at, k.created_at, d.joined_at) AS joined_at, s.page_sha256,
           d.user_id IS NOT NULL AS replayed
    FROM snap_members s FULL JOIN decisive d ON s.org_uuid = d.org_uuid AND s.user_id = d.user_id
    LEFT JOIN known_users k ON k.user_id = d.user_id
    WHERE CASE WHEN d.last_move IS NULL THEN s.user_id IS NOT NULL
               WHEN $r_forward THEN d.last_move = 'join'
               ELSE d.first_move = 'leave' END
)"""


def roster_params(snap: Snapshot, at: datetime) -> dict[str, Any]:
    """Parameters of IDENTITY_EVENTS + ROSTER for the members at `at` from `snap`."""
    lo, hi = min(at, snap.as_of), max(at, snap.as_of)
    return {"ie_lo": lo, "ie_hi": hi + timedelta(microseconds=1), "r_snap": snap.id,
            "r_snap_at": snap.as_of, "r_at": at, "r_forward": at >= snap.as_of}


# --- leavers ------------------------------------------------------------------------------

# Members removed between $lv_lo and $lv_hi (needs IDENTITY_EVENTS over at least that window
# and up to the instant rejoins are looked for): the first removal per user, the organizations
# it named, and the first time they were added back afterwards, if ever.
LEAVERS = """
leaves AS (
    SELECT user_id, min(ts) AS removed_at,
           arg_min(id, (ts, id)) AS removal_id, arg_min(type, (ts, id)) AS removal_type,
           arg_min(coalesce(actor_email, actor_user_id, actor_type), (ts, id)) AS removed_by,
           arg_min(email, (ts, id)) FILTER (WHERE email IS NOT NULL) AS email,
           list(DISTINCT org_uuid) FILTER (WHERE org_uuid IS NOT NULL) AS orgs,
           bool_or(org_uuid IS NULL) AS all_orgs, list(id ORDER BY ts, id) AS removal_ids
    FROM identity_events
    WHERE kind = 'leave' AND ts >= $lv_lo AND ts < $lv_hi AND user_id IS NOT NULL
    GROUP BY user_id
),
leavers AS (
    SELECT l.*, (SELECT min(e.ts) FROM identity_events e
                 WHERE e.user_id = l.user_id AND e.kind = 'join' AND e.ts > l.removed_at)
                AS rejoined_at
    FROM leaves l
)"""


# --- groups and workspaces now ------------------------------------------------------------

# Group memberships at $g_at: snapshot $g_snap (showing $g_snap_at) replayed through the group
# additions and removals in between, forwards (the last move decides) or backwards (the first
# move after the instant does: a removal means they were still in). `page_sha256` is set when
# the directory itself lists the membership, `activity_id` when an activity added it.
GROUPS_AT = f"""
group_moves AS (
    SELECT id, created_at AS ts, type, raw->>'group_id' AS group_id,
           unnest(json_extract_string(raw, '$.member_ids[*]')) AS user_id
    FROM activities
    WHERE {any_of('type', GROUP_TYPES)} AND created_at > least($g_at, $g_snap_at)
      AND created_at <= greatest($g_at, $g_snap_at)
),
group_last AS (
    SELECT group_id, user_id, max(ts) AS last_ts, arg_max(id, (ts, id)) AS last_id,
           CASE WHEN $g_at >= $g_snap_at
                THEN arg_max(type, (ts, id)) = 'group_member_added'
                ELSE arg_min(type, (ts, id)) = 'group_member_removed' END AS member
    FROM group_moves GROUP BY group_id, user_id
),
groups_at AS (
    SELECT m.group_id, m.user_id, m.page_sha256, NULL AS activity_id, m.created_at AS since
    FROM dir_group_members m LEFT JOIN group_last l USING (group_id, user_id)
    WHERE m.snapshot_id = $g_snap AND coalesce(l.member, true)
    UNION ALL
    SELECT l.group_id, l.user_id, NULL, l.last_id,
           CASE WHEN $g_at >= $g_snap_at THEN l.last_ts END
    FROM group_last l
    WHERE l.member AND NOT EXISTS (
        SELECT 1 FROM dir_group_members m WHERE m.snapshot_id = $g_snap
          AND m.group_id = l.group_id AND m.user_id = l.user_id)
),
group_names AS (
    SELECT group_id, any_value(name) AS name FROM dir_groups GROUP BY group_id
)"""

# Workspace memberships by the feed alone (the Compliance API lists no workspace members):
# the last addition or removal held before $w_at.
WORKSPACES_AT = f"""
workspaces_at AS (
    SELECT raw->>'workspace_id' AS workspace_id, raw->>'user_id' AS user_id,
           arg_max(id, (created_at, id)) AS activity_id,
           arg_max(organization_uuid, (created_at, id)) AS org_uuid
    FROM activities
    WHERE {any_of('type', WORKSPACE_TYPES)} AND created_at <= $w_at
    GROUP BY ALL
    HAVING arg_max(type, (created_at, id)) = 'platform_workspace_member_added'
)"""


# --- keys at an instant -------------------------------------------------------------------

# Every key known at $k_at: those the snapshot $k_snap lists (the parent's Compliance keys)
# and those the feed shows being created, with whether each was active at $k_at. Lifecycle
# events between the snapshot and the instant are replayed (forwards or backwards).
KEYS_AT = f"""
key_events AS (
    SELECT id, created_at AS ts, type, actor_user_id, actor_email,
           coalesce(raw->>'api_key_id', raw->>'admin_api_key_id') AS key_id,
           CASE WHEN type LIKE 'admin_api_key_%' THEN 'admin'
                WHEN type LIKE 'platform_api_key_%' THEN 'console'
                ELSE 'compliance' END AS kind,
           CASE WHEN type LIKE '%_created' THEN 'created'
                WHEN type LIKE '%_deleted' THEN 'deleted'
                -- an update that switches the key off counts as its revocation
                WHEN coalesce(len(list_filter(
                        from_json(raw->'updates', '[{{"type": "VARCHAR", "current_value": "VARCHAR"}}]'),
                        u -> u.type IN ('is_active', 'status', 'active')
                             AND lower(u.current_value) IN ('false', 'inactive', 'archived',
                                                            'disabled', 'revoked'))), 0) > 0
                    THEN 'deleted'
                ELSE 'updated' END AS action
    FROM activities
    WHERE {any_of('type', KEY_TYPES)} AND created_at <= greatest($k_at, $k_snap_at)
),
key_history AS (
    SELECT key_id, any_value(kind) AS kind,
           min(ts) FILTER (WHERE action = 'created') AS created_at,
           arg_min(actor_user_id, ts) FILTER (WHERE action = 'created') AS created_by,
           min(ts) FILTER (WHERE action = 'deleted') AS deleted_at,
           bool_or(action = 'deleted' AND ts > least($k_at, $k_snap_at)
                   AND ts <= greatest($k_at, $k_snap_at)) AS deleted_between,
           bool_or(action = 'deleted' AND ts <= $k_at) AS deleted_before,
           list(id ORDER BY ts, id) AS activity_ids
    FROM key_events WHERE key_id IS NOT NULL GROUP BY key_id
),
listed_keys AS (
    SELECT key_id, any_value(name) AS name, any_value(scopes::VARCHAR) AS scopes,
           bool_or(is_active) AS is_active, min(created_at) AS created_at,
           any_value(created_by_id) AS created_by, min(expires_at) AS expires_at,
           min(page_sha256) AS page_sha256
    FROM dir_api_keys WHERE snapshot_id = $k_snap GROUP BY key_id
),
other_listings AS (
    -- name and scopes of a key the chosen snapshot does not list but another one does
    SELECT k.key_id, arg_max(k.name, o.as_of) AS name, arg_max(k.scopes::VARCHAR, o.as_of) AS scopes
    FROM dir_api_keys k JOIN dir_observations o USING (snapshot_id)
    WHERE k.key_id IN (SELECT key_id FROM key_history) GROUP BY k.key_id
),
keys_at AS (
    SELECT coalesce(d.key_id, h.key_id) AS key_id,
           CASE WHEN d.key_id IS NOT NULL THEN 'compliance' ELSE h.kind END AS kind,
           coalesce(d.name, x.name) AS name, coalesce(d.scopes, x.scopes) AS scopes,
           coalesce(d.created_at, h.created_at) AS created_at,
           coalesce(d.created_by, h.created_by) AS created_by, d.expires_at, h.deleted_at,
           CASE WHEN d.key_id IS NULL THEN NOT coalesce(h.deleted_before, false)
                WHEN $k_at >= $k_snap_at THEN d.is_active AND NOT coalesce(h.deleted_between, false)
                ELSE d.is_active OR coalesce(h.deleted_between, false) END
               AND (d.expires_at IS NULL OR d.expires_at > $k_at) AS active,
           d.key_id IS NOT NULL AS listed, d.page_sha256,
           coalesce(h.activity_ids, []) AS activity_ids
    FROM listed_keys d FULL JOIN key_history h ON d.key_id = h.key_id
    LEFT JOIN other_listings x ON x.key_id = h.key_id
    WHERE coalesce(d.created_at, h.created_at, $k_at) <= $k_at
)"""


def keys_params(snap: Snapshot, at: datetime) -> dict[str, Any]:
    """Parameters of KEYS_AT for the keys at `at` from `snap`."""
    return {"k_snap": snap.id, "k_snap_at": snap.as_of, "k_at": at}
