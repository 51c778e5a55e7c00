"""EV05 Privilege escalation / role change log: every role grant and revoke of the period.

Organization roles (`claude_user_role_updated`, `primary_owner_transferred`), custom RBAC roles
(`rbac_role_assigned`/`unassigned`) and resource roles (`role_assignment_granted`/`revoked`) are
listed with who changed them and when. Severity follows the privilege gained:

- into owner, primary owner, admin or membership admin from a non-privileged role (or straight
  into the organization with one): high, an escalation that needs an approval on file;
- a step up between privileged roles, or a primary-owner transfer whose new owner's earlier role
  is not known: medium;
- custom RBAC and resource role grants: low; every other change (ordinary roles, revocations):
  info.

The item also lists the owners and admins at the reference instant.
"""

from __future__ import annotations

from typing import Any

from auditpack.evidence._common import coverage_of, feed_gap, feed_pages, insufficient, lineage
from auditpack.evidence._identity import (
    IDENTITY_EVENTS,
    PRIVILEGED_ROLES,
    ROLE_RANK,
    ROSTER,
    any_of,
    chosen_snapshot,
    fetch,
    reference_time,
    roster_params,
    snapshot_gap,
    snapshot_note,
    status_for,
    utc,
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
    Table,
    make_finding,
)

ROLE_TYPES = ("claude_user_role_updated", "primary_owner_transferred", "rbac_role_assigned",
              "rbac_role_unassigned", "role_assignment_granted", "role_assignment_revoked")

# Every role change in the period, one row per person affected. The role a new primary owner
# held before is the latest one known: an earlier role update, else a directory snapshot
# observed before the transfer.
_CHANGES = f"""
org_roles AS (
    SELECT id, ts, type, org_uuid, actor_user_id, actor_email, actor_type, user_id, email,
           'user' AS principal_type, 'organization' AS scope, old_role, new_role
    FROM identity_events WHERE type IN ('claude_user_role_updated', 'primary_owner_transferred')
),
rbac AS (
    SELECT id, created_at AS ts, type, organization_uuid AS org_uuid, actor_user_id, actor_email,
           actor_type,
           coalesce(raw->>'principal_id', raw->>'target_id') AS user_id, NULL AS email,
           lower(coalesce(raw->>'principal_type', raw->>'target_type', 'user')) AS principal_type,
           CASE WHEN type LIKE 'rbac_%' THEN 'rbac role'
                ELSE concat_ws(' ', raw->>'resource_type', raw->>'resource_id') END AS scope,
           CASE WHEN type IN ('rbac_role_unassigned', 'role_assignment_revoked')
                THEN coalesce(raw->>'role_id', raw->>'role') END AS old_role,
           CASE WHEN type IN ('rbac_role_assigned', 'role_assignment_granted')
                THEN coalesce(raw->>'role_id', raw->>'role') END AS new_role
    FROM activities
    WHERE {any_of('type', ROLE_TYPES[2:])}
      AND created_at >= $ie_lo AND created_at < $ie_hi
),
changes AS (SELECT * FROM org_roles UNION ALL SELECT * FROM rbac),
prior AS (
    -- the organization role held just before each change, for transfers that do not say
    SELECT c.id, c.user_id, coalesce(
        (SELECT arg_max(e.new_role, (e.ts, e.id)) FROM identity_events e
         WHERE e.user_id = c.user_id AND e.ts < c.ts AND e.new_role IS NOT NULL),
        (SELECT arg_max(u.organization_role, o.as_of) FROM dir_users u
         JOIN dir_observations o USING (snapshot_id)
         WHERE u.user_id = c.user_id AND o.as_of <= c.ts
           AND (c.org_uuid IS NULL OR u.org_uuid = c.org_uuid))) AS role
    FROM changes c WHERE c.type = 'primary_owner_transferred' AND c.old_role IS NULL
)"""

# The table's columns up to activity_id, then whether the previous role was looked up and
# the kind of principal (user, group, ...).
_SELECT = """
SELECT c.ts, c.type, c.scope, c.org_uuid, c.user_id, coalesce(c.email, u.email),
       coalesce(c.old_role, p.role), c.new_role, r.name,
       coalesce(c.actor_email, c.actor_user_id, c.actor_type), c.actor_type, c.id,
       c.old_role IS NULL AND p.role IS NOT NULL, c.principal_type
FROM changes c
LEFT JOIN prior p ON p.id = c.id AND p.user_id = c.user_id
LEFT JOIN (SELECT user_id, any_value(email) AS email FROM dir_users GROUP BY user_id) u
    ON u.user_id = c.user_id
LEFT JOIN (SELECT role_id, any_value(name) AS name FROM dir_roles GROUP BY role_id) r
    ON r.role_id = coalesce(c.new_role, c.old_role)
ORDER BY c.ts, c.id, c.user_id
"""

_PRIVILEGED = f"""
SELECT coalesce(o.name, r.org_uuid), r.org_uuid, r.user_id, r.email,
       coalesce(r.role, r.known_role || ' (unconfirmed)'), r.replayed
FROM roster r LEFT JOIN (SELECT org_uuid, any_value(name) AS name FROM dir_organizations
                         GROUP BY org_uuid) o USING (org_uuid)
-- a role the activities leave unknown counts by the last role known (a former primary owner)
WHERE coalesce(r.role, r.known_role) IN {PRIVILEGED_ROLES!r}
ORDER BY 1, r.role, r.email, r.user_id
"""

_CHANGE_COLUMNS = [Column("occurred_at", "datetime"), Column("activity_type", "str"),
                   Column("scope", "str"), Column("org_uuid", "str"), Column("user_id", "str"),
                   Column("email", "str"), Column("previous_role", "str"),
                   Column("new_role", "str"), Column("role_name", "str"),
                   Column("changed_by", "str"), Column("actor_type", "str"),
                   Column("activity_id", "str"), Column("assessment", "str"),
                   Column("severity", "str")]
_PRIVILEGED_COLUMNS = [Column("organization", "str"), Column("org_uuid", "str"),
                       Column("user_id", "str"), Column("email", "str"), Column("role", "str"),
                       Column("changed_since_snapshot", "bool")]


class RoleChangeLog(EvidenceItem):
    """EV05: role grants and revokes with actor and time; escalations are high."""

    id = "EV05"
    key = "role_change_log"
    title = "Privilege escalation / role change log"

    def compute(self, ctx: EvidenceContext) -> EvidenceResult:
        """List the period's role changes and rate each one."""
        reason = feed_gap(ctx)
        if reason is not None:
            return insufficient(self, reason)
        ref = reference_time(ctx)
        window = {"ie_lo": ctx.period.start_at, "ie_hi": ref}
        found = fetch(ctx, with_ctes(IDENTITY_EVENTS, _CHANGES) + _SELECT, **window)
        names = [c.name for c in _CHANGE_COLUMNS[:12]] + ["looked_up", "principal_type"]
        rows, findings = [], []
        for raw in found:
            change = dict(zip(names, raw, strict=True))
            change["occurred_at"] = utc(change["occurred_at"])
            severity, assessment = _assess(change)
            rows.append((*raw[:12], assessment, severity.value))
            findings.append(self._finding(change, severity, assessment))
        rows = utc_rows(rows, _CHANGE_COLUMNS)
        privileged = self._privileged(ctx, ref)
        limitations = [*snapshot_note(ctx),
                       "Approval ticket references are a manual input and were not provided: "
                       "escalations are reported whether or not they were approved.",
                       "Custom RBAC roles are rated low: their permission vocabulary is not "
                       "documented, so auditpack cannot tell which ones are privileged.",
                       "Roles granted through group membership (groups carrying RBAC roles) "
                       "appear as group changes, not here."]
        if privileged is None:
            limitations.append(f"The current owner/admin list is missing: {snapshot_gap(ctx)}.")
        pages = feed_pages(ctx, any_of("type", ROLE_TYPES))
        return EvidenceResult(
            self.id, self.key, self.title, status_for(findings),
            coverage_of(False, True, analytics_level=Coverage.NONE,
                        compliance_level=Coverage.FULL, combined_level=Coverage.FULL),
            metrics={
                "role_changes": len(rows),
                "escalations": sum(1 for f in findings if f.severity is Severity.HIGH),
                "privileged_members": len({r[2] for r in privileged}) if privileged else None,
            },
            tables=[Table("role_changes", "Role grants and revokes in the period",
                          _CHANGE_COLUMNS, rows),
                    Table("privileged_members", f"Owners and admins at {ref:%Y-%m-%d %H:%M} UTC",
                          _PRIVILEGED_COLUMNS, privileged or [])],
            findings=findings,
            lineage=lineage(ctx, pages, ["compliance"]),
            method=("Role changes from the activity feed (organization role updates, primary-"
                    "owner transfers, RBAC role assignments and resource role grants). A change "
                    f"into {', '.join(PRIVILEGED_ROLES)} from a role outside that set is an "
                    "escalation. Owners and admins at the period end come from the directory "
                    "snapshot replayed through later role and membership activities."),
            limitations=limitations)

    @staticmethod
    def _privileged(ctx: EvidenceContext, ref: Any) -> list[tuple[Any, ...]] | None:
        """Owners and admins at `ref`; None without a usable snapshot."""
        snap = chosen_snapshot(ctx)
        if snapshot_gap(ctx) is not None or snap is None:
            return None
        return fetch(ctx, with_ctes(IDENTITY_EVENTS, ROSTER) + _PRIVILEGED,
                     **roster_params(snap, ref))

    def _finding(self, change: dict[str, Any], severity: Severity, assessment: str) -> Finding:
        """One finding per role change, rated by `_assess`."""
        who = change["email"] or change["user_id"]
        after, name = change["new_role"], change["role_name"]
        role = f"{after}" + (f" ({name})" if name and after else "")
        title = {Severity.HIGH: f"Privilege escalation: {who} became {after}",
                 Severity.MEDIUM: f"Privileged role change: {who} became {after}"}.get(
                     severity, f"Role change: {who}")
        detail = (f"{change['changed_by']} changed the {change['scope']} role of {who} from "
                  f"{change['previous_role'] or 'none'} to {role or 'none'} "
                  f"({change['activity_type']}); {assessment}.")
        rule = {Severity.HIGH: "privilege_escalation",
                Severity.MEDIUM: "privileged_role_change"}.get(severity, "role_change")
        return make_finding(self.key, rule, severity, title,
                            _subject(change["principal_type"], change["user_id"],
                                     change["email"]),
                            change["occurred_at"], detail, [change["activity_id"]])


def _subject(kind: str, principal: str | None, email: str | None) -> dict[str, str]:
    """The finding subject: a user, or the group or other principal an RBAC role went to."""
    if kind == "user":
        return {"user_id": principal or "", "email": email or ""}
    return {f"{kind}_id" if kind == "group" else "principal_id": principal or ""}


def _assess(change: dict[str, Any]) -> tuple[Severity, str]:
    """The severity of one change and why."""
    before, after = change["previous_role"], change["new_role"]
    if change["scope"] != "organization":
        return ((Severity.LOW, "custom or resource role granted") if after is not None
                else (Severity.INFO, "custom or resource role revoked"))
    if after in PRIVILEGED_ROLES:
        if before is None or before not in PRIVILEGED_ROLES:
            if change["activity_type"] == "primary_owner_transferred" and before is None:
                return Severity.MEDIUM, "primary ownership transferred; earlier role not known"
            source = " (earlier role from the directory)" if change["looked_up"] else ""
            return Severity.HIGH, f"escalation from a non-privileged role{source}"
        if ROLE_RANK[after] > ROLE_RANK[before]:
            return Severity.MEDIUM, "raised between privileged roles"
        return Severity.INFO, "privileged role lowered or unchanged"
    if before in PRIVILEGED_ROLES:
        return Severity.INFO, "privileged role revoked"
    return Severity.INFO, "change between non-privileged roles"


ITEM = RoleChangeLog()
