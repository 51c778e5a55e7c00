"""EV04 Offboarding verification: every member removed in the period, and what they kept.

A leaver is a member removed during the period (`org_user_deleted`, `org_user_left`,
`scim_user_deleted`, or a `claude_user_role_updated` that takes the role away). For each one
the item checks, up to `as_of`:

- activity by the same user id after the removal (until they were added back, if ever), in an
  organization they were removed from or outside any organization while they belonged to none:
  a high finding, since the removal did not stop them;
- access left behind: still listed, in a later directory snapshot, in an organization they
  were removed from; still a member (by the feed) of a workspace there; and, once they belong
  to no linked organization at all, still in a group or the creator of active keys: a medium
  finding.

Clean leavers raise nothing. Whether removal came within `termination_revocation_max_hours` of
the termination needs the HR leaver list, a manual input this item does not have.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from auditpack.evidence._common import coverage_of, feed_gap, feed_pages, insufficient, lineage
from auditpack.evidence._identity import (
    GROUPS_AT,
    IDENTITY_EVENTS,
    KEYS_AT,
    LEAVERS,
    WORKSPACES_AT,
    Snapshot,
    fetch,
    keys_params,
    latest_snapshot,
    status_for,
    utc,
    with_ctes,
)
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

# How many activity ids a finding cites; the table and the count say how many there were.
MAX_SOURCES = 50

_LEAVER_CTES = """
latest_members AS (SELECT org_uuid, user_id, page_sha256 FROM dir_users WHERE snapshot_id = $g_snap),
standing AS (
    -- where each leaver is listed in the freshest snapshot: in an organization they were
    -- removed from (a leftover seat, if the snapshot is later) or in another one (still a member)
    SELECT l.user_id,
           list(DISTINCT m.org_uuid) FILTER (WHERE l.all_orgs OR list_contains(l.orgs, m.org_uuid))
               AS listed_removed,
           list(DISTINCT m.org_uuid) FILTER (WHERE NOT l.all_orgs
                                             AND NOT list_contains(l.orgs, m.org_uuid))
               AS other_orgs,
           list(DISTINCT m.page_sha256) AS pages
    FROM leavers l JOIN latest_members m USING (user_id) GROUP BY l.user_id
),
after AS (
    SELECT l.user_id, count(*) AS n, min(a.created_at) AS first_at, max(a.created_at) AS last_at,
           list(a.id ORDER BY a.created_at, a.id)[1:$max_sources] AS ids,
           string_agg(DISTINCT a.type, ', ' ORDER BY a.type) AS types
    FROM leavers l
    JOIN activities a ON a.actor_user_id = l.user_id AND a.created_at > l.removed_at
    LEFT JOIN standing s USING (user_id)
    WHERE a.created_at <= $as_of AND (l.rejoined_at IS NULL OR a.created_at < l.rejoined_at)
      -- activity where they legitimately remain a member is not post-removal activity
      AND NOT coalesce(list_contains(s.other_orgs, a.organization_uuid), false)
      AND NOT (a.organization_uuid IS NULL AND coalesce(len(s.other_orgs), 0) > 0)
    GROUP BY l.user_id
),
gone AS (
    -- leavers who belong to no linked organization any more: groups (parent-wide) and keys
    -- they kept are leftovers; someone removed from one organization keeps them legitimately
    SELECT l.user_id FROM leavers l LEFT JOIN standing s USING (user_id)
    WHERE l.rejoined_at IS NULL AND coalesce(len(s.other_orgs), 0) = 0
),
kept_groups AS (
    SELECT user_id, string_agg(coalesce(n.name, g.group_id), '; ' ORDER BY g.group_id) AS groups,
           list(g.page_sha256) FILTER (WHERE g.page_sha256 IS NOT NULL) AS pages,
           list(g.activity_id) FILTER (WHERE g.activity_id IS NOT NULL) AS ids
    FROM gone JOIN groups_at g USING (user_id) LEFT JOIN group_names n USING (group_id)
    GROUP BY user_id
),
kept_workspaces AS (
    -- a workspace of an organization they were removed from is a leftover in any case
    SELECT l.user_id, string_agg(w.workspace_id, '; ' ORDER BY w.workspace_id) AS workspaces,
           list(w.activity_id) AS ids
    FROM leavers l JOIN workspaces_at w USING (user_id)
    WHERE l.rejoined_at IS NULL
      AND (l.all_orgs OR list_contains(l.orgs, w.org_uuid)
           OR l.user_id IN (SELECT user_id FROM gone))
    GROUP BY l.user_id
),
kept_keys AS (
    SELECT user_id, string_agg(k.key_id, '; ' ORDER BY k.key_id) AS keys,
           list(k.page_sha256) FILTER (WHERE k.page_sha256 IS NOT NULL) AS pages,
           flatten(list(k.activity_ids)) AS ids
    FROM gone JOIN keys_at k ON k.created_by = gone.user_id
    WHERE k.active GROUP BY user_id
)"""

_LEAVER_FACTS = """
SELECT l.user_id, coalesce(l.email, u.email), l.removed_at, l.removal_type, l.removed_by,
       l.removal_ids, l.rejoined_at,
       coalesce(a.n, 0), a.first_at, a.last_at, a.types, coalesce(a.ids, []),
       CASE WHEN $g_snap_at > l.removed_at AND l.rejoined_at IS NULL
            THEN s.listed_removed END AS listed_after,
       s.other_orgs, g.groups, w.workspaces, k.keys,
       coalesce(s.pages, []) || coalesce(g.pages, []) || coalesce(k.pages, []) AS pages,
       coalesce(g.ids, []) || coalesce(w.ids, []) || coalesce(k.ids, []) AS kept_ids
FROM leavers l
LEFT JOIN (SELECT user_id, any_value(email) AS email FROM dir_users GROUP BY user_id) u
    USING (user_id)
LEFT JOIN standing s USING (user_id) LEFT JOIN after a USING (user_id)
LEFT JOIN kept_groups g USING (user_id) LEFT JOIN kept_workspaces w USING (user_id)
LEFT JOIN kept_keys k USING (user_id)
ORDER BY l.removed_at, l.user_id
"""

_COLUMNS = [Column("user_id", "str"), Column("email", "str"), Column("removed_at", "datetime"),
            Column("removal", "str"), Column("removed_by", "str"),
            Column("rejoined_at", "datetime"), Column("activities_after_removal", "int"),
            Column("first_activity_after", "datetime"), Column("last_activity_after", "datetime"),
            Column("activity_types_after", "str"), Column("still_listed_in", "str"),
            Column("still_in_groups", "str"), Column("still_in_workspaces", "str"),
            Column("active_keys_created", "str"), Column("outcome", "str")]


class OffboardingVerification(EvidenceItem):
    """EV04: leavers of the period, their activity after removal and access left behind."""

    id = "EV04"
    key = "offboarding_verification"
    title = "Offboarding verification"

    def compute(self, ctx: EvidenceContext) -> EvidenceResult:
        """Check every removal of the period against what followed it."""
        reason = feed_gap(ctx)
        if reason is not None:
            return insufficient(self, reason)
        latest = latest_snapshot(ctx)
        facts = self._facts(ctx, latest)
        findings: list[Finding] = []
        rows = []
        for fact in facts:
            findings += self._findings(fact)
            rows.append(_row(fact))
        limitations = [
            f"Removal within termination_revocation_max_hours "
            f"({ctx.policy.termination_revocation_max_hours} h) of the termination needs the HR "
            "leaver list with termination times, a manual input that was not provided.",
            "Workspace memberships are known from the feed only (the Compliance API lists no "
            "workspace members); additions before the feed began are not seen.",
        ]
        if latest is None:
            limitations.append("No directory snapshot is held: leftover seats, groups and keys "
                               "were not checked.")
        ids = [i for f in facts for i in f["removal_ids"]]
        pages = feed_pages(ctx, "list_contains(?::VARCHAR[], id)", [ids]) if ids else []
        pages += [p for f in facts for p in f["pages"]]
        return EvidenceResult(
            self.id, self.key, self.title, status_for(findings),
            coverage_of(ctx.holdings.has_analytics("users"), True,
                        analytics_level=Coverage.PARTIAL,
                        compliance_level=Coverage.FULL if latest else Coverage.PARTIAL,
                        combined_level=Coverage.FULL if latest else Coverage.PARTIAL),
            metrics={
                "leavers": len(facts),
                "leavers_active_after_removal": sum(1 for f in facts if f["after"]),
                "activities_after_removal": sum(f["after"] for f in facts),
                "leavers_with_access_left": sum(1 for f in facts if _kept(f)),
                "clean_leavers": sum(1 for f in facts if not f["after"] and not _kept(f)),
            },
            tables=[Table("leavers", "Members removed in the period", _COLUMNS, rows)],
            findings=findings,
            lineage=lineage(ctx, pages, ["compliance"]),
            method=("Removals in the period from org_user_deleted, org_user_left, "
                    "scim_user_deleted and role updates that remove the role; activity after "
                    "the removal by the same user id up to the collection time; memberships, "
                    "group memberships and Compliance keys from the freshest directory snapshot "
                    "replayed through later group and key activities; workspace memberships "
                    "from platform_workspace_member_added/removed."),
            limitations=limitations)

    @staticmethod
    def _facts(ctx: EvidenceContext, latest: Snapshot | None) -> list[dict[str, Any]]:
        """One record per leaver, everything computed in one query."""
        snap_id, snap_at = (latest.id, latest.as_of) if latest else ("", ctx.as_of)
        rows = fetch(
            ctx, with_ctes(IDENTITY_EVENTS, LEAVERS, GROUPS_AT, WORKSPACES_AT, KEYS_AT,
                      _LEAVER_CTES) + _LEAVER_FACTS,
            ie_lo=ctx.period.start_at, ie_hi=ctx.as_of, lv_lo=ctx.period.start_at,
            lv_hi=ctx.period.end_at, as_of=ctx.as_of, max_sources=MAX_SOURCES,
            g_snap=snap_id, g_snap_at=snap_at, g_at=ctx.as_of, w_at=ctx.as_of,
            **keys_params(Snapshot(snap_id, snap_at), ctx.as_of))
        names = ("user_id", "email", "removed_at", "removal_type", "removed_by", "removal_ids",
                 "rejoined_at", "after", "first_after", "last_after", "types_after", "after_ids",
                 "listed_after", "other_orgs", "groups", "workspaces", "keys", "pages",
                 "kept_ids")
        facts = [dict(zip(names, row, strict=True)) for row in rows]
        for fact in facts:
            for key in ("removed_at", "rejoined_at", "first_after", "last_after"):
                fact[key] = utc(fact[key])
        return facts

    def _findings(self, fact: dict[str, Any]) -> list[Finding]:
        """High for activity after removal, medium for access left behind."""
        subject = {"user_id": fact["user_id"], "email": fact["email"]}
        removed: datetime = fact["removed_at"]
        found = []
        if fact["after"]:
            found.append(make_finding(
                self.key, "activity_after_removal", Severity.HIGH,
                f"Activity after removal: {fact['email'] or fact['user_id']}", subject,
                fact["first_after"],
                f"{fact['email'] or fact['user_id']} was removed ({fact['removal_type']}) on "
                f"{removed:%Y-%m-%d %H:%M} UTC by {fact['removed_by']}, but {fact['after']} "
                f"activit{'y' if fact['after'] == 1 else 'ies'} by the same user id followed "
                f"between {fact['first_after']:%Y-%m-%d %H:%M} and "
                f"{fact['last_after']:%Y-%m-%d %H:%M} UTC ({fact['types_after']}).",
                [*fact["removal_ids"], *fact["after_ids"]]))
        kept = _kept(fact)
        if kept:
            found.append(make_finding(
                self.key, "access_left_after_removal", Severity.MEDIUM,
                f"Access left after removal: {fact['email'] or fact['user_id']}", subject,
                removed,
                f"{fact['email'] or fact['user_id']} was removed on {removed:%Y-%m-%d %H:%M} UTC "
                f"but still has: {'; '.join(kept)}.",
                [*fact["removal_ids"], *fact["kept_ids"],
                 *(f"sha256:{p}" for p in fact["pages"])]))
        return found


def _kept(fact: dict[str, Any]) -> list[str]:
    """What a leaver still holds, in words (empty for a clean leaver)."""
    kept = []
    if fact["listed_after"]:
        kept.append(f"a membership listed in organization(s) {', '.join(fact['listed_after'])}")
    if fact["groups"]:
        kept.append(f"group membership in {fact['groups']}")
    if fact["workspaces"]:
        kept.append(f"workspace membership in {fact['workspaces']}")
    if fact["keys"]:
        kept.append(f"active keys they created: {fact['keys']}")
    return kept


def _row(fact: dict[str, Any]) -> tuple[Any, ...]:
    """The table row of one leaver."""
    outcome = ("active after removal" if fact["after"] else
               "access left" if _kept(fact) else "clean")
    return (fact["user_id"], fact["email"], fact["removed_at"], fact["removal_type"],
            fact["removed_by"], fact["rejoined_at"], fact["after"], fact["first_after"],
            fact["last_after"], fact["types_after"],
            ", ".join(fact["listed_after"]) if fact["listed_after"] else None,
            fact["groups"], fact["workspaces"], fact["keys"], outcome)


ITEM = OffboardingVerification()
