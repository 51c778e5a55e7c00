"""EV06 Unauthorized access to restricted workspaces: additions to what the policy restricts.

The policy names restricted groups, Console workspaces and projects. Every addition to one of
them in the period is a high finding: group additions (`group_member_added`, one finding per
member added), workspace additions (`platform_workspace_member_added`), and project grants
(`role_assignment_granted` on a project, `design_project_member_added`, or a
`claude_project_sharing_updated` that opens the project up). No API records who is authorized,
so every addition needs checking against the authorized member list, a manual input. Without a
restricted list the item is `not_applicable`.
"""

from __future__ import annotations

from typing import Any

from auditpack.evidence._common import (
    coverage_of,
    feed_gap,
    feed_pages,
    insufficient,
    lineage,
    snapshot_pages,
)
from auditpack.evidence._identity import (
    GROUP_TYPES,
    GROUPS_AT,
    WORKSPACE_TYPES,
    WORKSPACES_AT,
    any_of,
    chosen_snapshot,
    fetch,
    reference_time,
    status_for,
    utc_rows,
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
    Status,
    Table,
    make_finding,
)

PROJECT_TYPES = ("design_project_member_added", "design_project_member_removed",
                 "claude_project_sharing_updated", "role_assignment_granted",
                 "role_assignment_revoked")
WATCHED_TYPES = ("group_member_added", "group_member_removed", "platform_workspace_member_added",
                 "platform_workspace_member_removed", "role_assignment_granted",
                 "role_assignment_revoked", "design_project_member_added",
                 "design_project_member_removed", "claude_project_sharing_updated")

# Membership changes of restricted targets in the period; `kind` is the subject key's stem.
_CHANGES = f"""
changes AS (
    SELECT id, created_at AS ts, type, 'group' AS kind, raw->>'group_id' AS target_id,
           unnest(json_extract_string(raw, '$.member_ids[*]')) AS user_id,
           coalesce(actor_email, actor_user_id, actor_type) AS changed_by
    FROM activities
    WHERE {any_of('type', GROUP_TYPES)}
      AND list_contains($groups::VARCHAR[], raw->>'group_id')
      AND created_at >= $lo AND created_at < $hi
    UNION ALL
    SELECT id, created_at, type, 'workspace', raw->>'workspace_id', raw->>'user_id',
           coalesce(actor_email, actor_user_id, actor_type)
    FROM activities
    WHERE {any_of('type', WORKSPACE_TYPES)}
      AND list_contains($workspaces::VARCHAR[], raw->>'workspace_id')
      AND created_at >= $lo AND created_at < $hi
    UNION ALL
    SELECT id, created_at, type, 'project',
           coalesce(raw->>'design_project_id', raw->>'resource_id', raw->>'claude_project_id'),
           coalesce(raw->>'principal_id', raw->>'target_id'),
           coalesce(actor_email, actor_user_id, actor_type)
    FROM activities
    WHERE {any_of('type', PROJECT_TYPES)}
      AND (type NOT LIKE 'role_assignment_%' OR lower(raw->>'resource_type') LIKE '%project%')
      AND list_contains($projects::VARCHAR[], coalesce(raw->>'design_project_id',
                                                       raw->>'resource_id',
                                                       raw->>'claude_project_id'))
      AND created_at >= $lo AND created_at < $hi
)"""

_SELECT = """
SELECT c.ts, c.type, c.kind, c.target_id, coalesce(g.name, c.target_id), c.user_id, e.email,
       CASE WHEN c.type IN ('group_member_added', 'platform_workspace_member_added',
                            'role_assignment_granted', 'design_project_member_added',
                            'claude_project_sharing_updated') THEN 'added'
            ELSE 'removed' END,
       c.changed_by, c.id
FROM changes c
LEFT JOIN (SELECT group_id, any_value(name) AS name FROM dir_groups GROUP BY group_id) g
    ON c.kind = 'group' AND g.group_id = c.target_id
LEFT JOIN (SELECT u.user_id, arg_max(u.email, o.as_of) AS email FROM dir_users u
           JOIN dir_observations o USING (snapshot_id) GROUP BY u.user_id) e
    ON e.user_id = c.user_id
ORDER BY c.ts, c.id, c.user_id
"""

# Who is in each restricted group (the snapshot replayed through group activities) and each
# restricted workspace (the feed) at the reference instant.
_MEMBERS = """
SELECT 'group', g.group_id, coalesce(n.name, g.group_id), g.user_id, u.email, g.since
FROM groups_at g LEFT JOIN group_names n USING (group_id)
LEFT JOIN (SELECT user_id, any_value(email) AS email FROM dir_users GROUP BY user_id) u
    ON u.user_id = g.user_id
WHERE list_contains($groups::VARCHAR[], g.group_id)
UNION ALL
SELECT 'workspace', w.workspace_id, w.workspace_id, w.user_id, u.email, a.created_at
FROM workspaces_at w JOIN activities a ON a.id = w.activity_id
LEFT JOIN (SELECT user_id, any_value(email) AS email FROM dir_users GROUP BY user_id) u
    ON u.user_id = w.user_id
WHERE list_contains($workspaces::VARCHAR[], w.workspace_id)
ORDER BY 1, 3, 5, 4
"""

_CHANGE_COLUMNS = [Column("occurred_at", "datetime"), Column("activity_type", "str"),
                   Column("target_kind", "str"), Column("target_id", "str"),
                   Column("target_name", "str"), Column("user_id", "str"),
                   Column("email", "str"), Column("change", "str"), Column("changed_by", "str"),
                   Column("activity_id", "str")]
_MEMBER_COLUMNS = [Column("target_kind", "str"), Column("target_id", "str"),
                   Column("target_name", "str"), Column("user_id", "str"),
                   Column("email", "str"), Column("member_since", "datetime")]


class RestrictedWorkspaceAccess(EvidenceItem):
    """EV06: additions to restricted groups, workspaces and projects."""

    id = "EV06"
    key = "restricted_workspace_access"
    title = "Unauthorized access to restricted workspaces"

    def compute(self, ctx: EvidenceContext) -> EvidenceResult:
        """List membership changes of restricted targets; every addition is high."""
        policy = ctx.policy
        lists = {"groups": list(policy.restricted_groups),
                 "workspaces": list(policy.restricted_workspaces),
                 "projects": list(policy.restricted_projects)}
        if not any(lists.values()):
            return EvidenceResult(
                self.id, self.key, self.title, Status.NOT_APPLICABLE, Coverage.NONE,
                reason="no restricted groups, workspaces or projects are configured (manual "
                       "input: the restricted list and its authorized members)")
        reason = feed_gap(ctx)
        if reason is not None:
            return insufficient(self, reason)
        ref = reference_time(ctx)
        changes = utc_rows(fetch(ctx, with_ctes(_CHANGES) + _SELECT, lo=ctx.period.start_at,
                                 hi=ref, **lists), _CHANGE_COLUMNS)
        findings = [self._finding(c) for c in changes if c[7] == "added"]
        snap = chosen_snapshot(ctx)
        members = utc_rows(fetch(ctx, with_ctes(GROUPS_AT, WORKSPACES_AT) + _MEMBERS,
                                 g_snap=snap.id if snap else "",
                                 g_snap_at=snap.as_of if snap else ref, g_at=ref, w_at=ref,
                                 **lists), _MEMBER_COLUMNS)
        limitations = ["The authorized member list of each restricted target is a manual input "
                       "and was not provided: every addition is reported for checking.",
                       "Workspace members are known from the feed only; additions before the "
                       "feed began are not seen."]
        limitations += [f"No restricted {name} are configured; {name} were not assessed."
                        for name, values in lists.items() if not values]
        if snap is None:
            limitations.append("No directory snapshot is held: current restricted group "
                               "members are not listed.")
        pages = feed_pages(ctx, any_of("type", WATCHED_TYPES))
        if snap is not None:
            pages += snapshot_pages(ctx, "dir_group_members")
        return EvidenceResult(
            self.id, self.key, self.title, status_for(findings),
            coverage_of(False, True, analytics_level=Coverage.PARTIAL,
                        compliance_level=Coverage.FULL, combined_level=Coverage.FULL),
            metrics={"restricted_targets": sum(len(v) for v in lists.values()),
                     "additions": len(findings),
                     "removals": sum(1 for c in changes if c[7] == "removed"),
                     "current_members": len(members)},
            tables=[Table("restricted_changes", "Membership changes of restricted targets",
                          _CHANGE_COLUMNS, changes),
                    Table("restricted_members",
                          f"Members of restricted targets at {ref:%Y-%m-%d %H:%M} UTC",
                          _MEMBER_COLUMNS, members)],
            findings=findings,
            lineage=lineage(ctx, pages, ["compliance"]),
            method=("Additions to and removals from the policy's restricted groups "
                    "(group_member_added/removed), workspaces (platform_workspace_member_added/"
                    "removed) and projects (project role grants, Claude Design project members, "
                    "project sharing) during the period, from the activity feed."),
            limitations=limitations)

    def _finding(self, change: tuple[Any, ...]) -> Finding:
        """A high finding for one member added to one restricted target."""
        ts, type_, kind, target, name, user_id, email, _, by, activity_id = change
        who = email or user_id or "the organization"
        return make_finding(
            self.key, f"restricted_{kind}_addition", Severity.HIGH,
            f"Added to restricted {kind} {name}: {who}",
            {f"{kind}_id": target, "user_id": user_id, "email": email}, ts,
            f"{by} added {who} to the restricted {kind} {name} ({type_}); check it against the "
            "authorized member list.", [activity_id])


ITEM = RestrictedWorkspaceAccess()
