"""EV01 Seat & access inventory: every member of every linked organization, dated.

The inventory is the directory snapshot chosen for the period (the one nearest its end), dated:
member, organization, role, groups, account creation, and when each member was last seen and
by which source (the activity feed as actor, or an Analytics per-user row with some use). The
Analytics summaries add the organization's assigned seats and pending invites. An inventory is
a record, not a test: it raises no high finding.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from auditpack.evidence._common import (
    analytics_gap,
    coverage_of,
    feed_gap,
    feed_pages,
    insufficient,
    lineage,
    snapshot_pages,
)
from auditpack.evidence._identity import (
    ANALYTICS_ACTIVE,
    IDENTITY_TYPES,
    PRIVILEGED_ROLES,
    any_of,
    fetch,
    reference_time,
    snapshot_gap,
    snapshot_note,
    utc_rows,
)
from auditpack.evidence.interface import (
    Column,
    Coverage,
    EvidenceContext,
    EvidenceItem,
    EvidenceResult,
    Status,
    Table,
)

_INVENTORY = f"""
WITH members AS (
    SELECT org_uuid, user_id, email, full_name, organization_role, created_at
    FROM dir_users WHERE snapshot_id = $snap
),
orgs AS (SELECT org_uuid, any_value(name) AS name FROM dir_organizations
         WHERE snapshot_id = $snap GROUP BY org_uuid),
memberships AS (
    SELECT m.user_id, string_agg(coalesce(g.name, m.group_id), '; ' ORDER BY g.name, m.group_id)
               AS groups
    FROM dir_group_members m LEFT JOIN dir_groups g
        ON g.snapshot_id = m.snapshot_id AND g.group_id = m.group_id
    WHERE m.snapshot_id = $snap GROUP BY m.user_id
),
feed AS (
    SELECT actor_user_id AS user_id, max(created_at) AS last_at FROM activities
    WHERE created_at < $ref AND actor_user_id IN (SELECT user_id FROM members)
    GROUP BY actor_user_id
),
analytics AS (
    SELECT user_id, max(day) AS last_day FROM an_users
    WHERE day < $ref_day AND {ANALYTICS_ACTIVE} AND user_id IN (SELECT user_id FROM members)
    GROUP BY user_id
),
seen AS (
    SELECT m.*, (f.last_at AT TIME ZONE 'UTC')::DATE AS feed_day, f.last_at, a.last_day
    FROM members m LEFT JOIN feed f USING (user_id) LEFT JOIN analytics a USING (user_id)
)
SELECT coalesce(o.name, s.org_uuid), s.org_uuid, s.user_id, s.email, s.full_name,
       s.organization_role, s.organization_role IN {PRIVILEGED_ROLES!r}, gm.groups,
       s.created_at, s.last_at, s.last_day, greatest(s.feed_day, s.last_day),
       CASE WHEN s.feed_day IS NULL AND s.last_day IS NULL THEN 'not seen'
            WHEN s.last_day IS NULL OR s.feed_day > s.last_day THEN 'activity feed'
            WHEN s.feed_day IS NULL OR s.last_day > s.feed_day THEN 'analytics'
            ELSE 'activity feed and analytics' END
FROM seen s LEFT JOIN orgs o USING (org_uuid) LEFT JOIN memberships gm USING (user_id)
ORDER BY 1, s.email, s.user_id
"""

# The Analytics summary of the last day of the period held before the reference instant.
_SEATS = """
SELECT day, assigned_seats, pending_invites FROM an_summaries
WHERE day >= $start AND day < $ref_day AND assigned_seats IS NOT NULL
ORDER BY day DESC LIMIT 1
"""

_COLUMNS = [Column("organization", "str"), Column("org_uuid", "str"), Column("user_id", "str"),
            Column("email", "str"), Column("full_name", "str"), Column("role", "str"),
            Column("privileged", "bool"), Column("groups", "str"),
            Column("account_created_at", "datetime"), Column("last_feed_activity", "datetime"),
            Column("last_analytics_day", "date"), Column("last_seen", "date"),
            Column("last_seen_source", "str")]


class SeatAccessInventory(EvidenceItem):
    """EV01: the dated member inventory with roles, groups, seats and last activity."""

    id = "EV01"
    key = "seat_access_inventory"
    title = "Seat & access inventory"

    def compute(self, ctx: EvidenceContext) -> EvidenceResult:
        """Read the chosen snapshot and each member's last sign of life."""
        ref = reference_time(ctx)
        seats = self._seats(ctx, ref.date())
        has_analytics = analytics_gap(ctx, "summaries") is None
        reason = snapshot_gap(ctx)
        if reason is not None:
            # Analytics alone counts seats but cannot name the members.
            return insufficient(self, reason, coverage=Coverage.PARTIAL if has_analytics
                                else Coverage.NONE, metrics=seats)
        snap = ctx.holdings.snapshot_id
        rows = utc_rows(fetch(ctx, _INVENTORY, snap=snap, ref=ref, ref_day=ref.date()),
                        _COLUMNS)
        gap = feed_gap(ctx)
        limitations = [*snapshot_note(ctx, replayed=False),
                       "Seat counts come from the Analytics summaries for the whole "
                       "Enterprise organization; the API gives no per-member seat tier.",
                       "An HR roster to match members against is a manual input and was not "
                       "provided."]
        if gap is not None:
            limitations.append(f"Last activity from the feed is incomplete: {gap}.")
        if not has_analytics:
            limitations.append("The Analytics summaries do not cover the period: seat counts "
                               "may be missing, and last activity rests on the feed alone.")
        metrics: dict[str, int | float | str | None] = {
            "snapshot_as_of": ctx.holdings.snapshot_as_of.isoformat()
            if ctx.holdings.snapshot_as_of else None,
            "organizations": len({r[1] for r in rows}),
            "memberships": len(rows),
            "members": len({r[2] for r in rows}),
            "privileged_members": len({r[2] for r in rows if r[6]}),
            "members_not_seen": len({r[2] for r in rows if r[12] == "not seen"}),
            **seats,
        }
        pages = snapshot_pages(ctx, "dir_users") + snapshot_pages(ctx, "dir_group_members")
        pages += feed_pages(ctx, any_of("type", IDENTITY_TYPES))
        return EvidenceResult(
            self.id, self.key, self.title, Status.EFFECTIVE,
            coverage_of(has_analytics, True, analytics_level=Coverage.PARTIAL,
                        compliance_level=Coverage.FULL if gap is None else Coverage.PARTIAL,
                        combined_level=Coverage.FULL if gap is None else Coverage.PARTIAL),
            metrics=metrics,
            tables=[Table("access_inventory", "Members by organization", _COLUMNS, rows)],
            charts={"members_by_role": _by_role(rows)},
            lineage=lineage(ctx, pages, ["compliance", "analytics"] if has_analytics
                            else ["compliance"]),
            method=("Members, roles and account creation from the Compliance API directory "
                    "snapshot chosen for the period; groups from the snapshot's group members; "
                    "last activity is the later of the member's last activity-feed event as "
                    "actor and last Analytics day with any use, before the period end; seats "
                    "and pending invites from the last Analytics summary before the period end."),
            limitations=limitations)

    @staticmethod
    def _seats(ctx: EvidenceContext, ref_day: date) -> dict[str, int | float | str | None]:
        """Assigned seats and pending invites of the last summary day held."""
        row = fetch(ctx, _SEATS, start=ctx.period.start, ref_day=ref_day)
        if not row:
            return {"assigned_seats": None, "pending_invites": None, "seats_day": None}
        day, assigned, pending = row[0]
        return {"assigned_seats": assigned, "pending_invites": pending,
                "seats_day": day.isoformat()}


def _by_role(rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """Member counts per organization and role, for a stacked bar chart."""
    counts: dict[tuple[str, str], int] = {}
    for row in rows:
        key = (str(row[0]), str(row[5]))
        counts[key] = counts.get(key, 0) + 1
    return [{"organization": org, "role": role, "members": n}
            for (org, role), n in sorted(counts.items())]


ITEM = SeatAccessInventory()
