"""EV02 Periodic access review: who had access at the start and end of the period, and why.

An access review needs reviewers' keep/revoke decisions and a signed attestation, which no API
holds: auditpack captures them in its own review campaigns (a later piece of work adds the
`review_campaigns` table). Until a campaign covering the period is recorded, this item prepares
what a reviewer needs (the members at the period start and end, and every join, removal and role
change in between) and reports `insufficient_data`: without a review it never passes.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from auditpack.evidence._common import feed_gap, feed_pages, insufficient, lineage, snapshot_pages
from auditpack.evidence._identity import (
    IDENTITY_EVENTS,
    IDENTITY_TYPES,
    ROSTER,
    any_of,
    chosen_snapshot,
    fetch,
    reference_time,
    roster_params,
    snapshot_gap,
    snapshot_note,
    utc_rows,
    with_ctes,
)
from auditpack.evidence._review import REMEDIATION_COLUMNS, campaigns, remediation
from auditpack.evidence.interface import (
    Column,
    Coverage,
    EvidenceContext,
    EvidenceItem,
    EvidenceResult,
    Severity,
    Status,
    Table,
    make_finding,
)

NO_ATTESTATION = "no access review attestation recorded for the period"

_ROSTER_ROWS = """
SELECT coalesce(o.name, r.org_uuid), r.org_uuid, r.user_id, r.email, r.role, r.joined_at
FROM roster r LEFT JOIN (SELECT org_uuid, any_value(name) AS name FROM dir_organizations
                         GROUP BY org_uuid) o USING (org_uuid)
ORDER BY 1, r.email, r.user_id
"""

_CHANGES = """
SELECT e.ts, CASE e.kind WHEN 'join' THEN 'joined' WHEN 'leave' THEN 'left'
                         ELSE 'role changed' END,
       e.org_uuid, e.user_id, coalesce(e.email, u.email), e.old_role, e.new_role,
       coalesce(e.actor_email, e.actor_user_id, e.actor_type), e.type, e.id
FROM identity_events e
LEFT JOIN (SELECT user_id, any_value(email) AS email FROM dir_users GROUP BY user_id) u
    USING (user_id)
ORDER BY e.ts, e.id
"""

_ROSTER_COLUMNS = [Column("organization", "str"), Column("org_uuid", "str"),
                   Column("user_id", "str"), Column("email", "str"), Column("role", "str"),
                   Column("joined_at", "datetime")]
_CHANGE_COLUMNS = [Column("occurred_at", "datetime"), Column("change", "str"),
                   Column("org_uuid", "str"), Column("user_id", "str"), Column("email", "str"),
                   Column("previous_role", "str"), Column("new_role", "str"),
                   Column("changed_by", "str"), Column("activity_type", "str"),
                   Column("activity_id", "str")]


class AccessReview(EvidenceItem):
    """EV02: the material for a quarterly access review, and whether one was attested."""

    id = "EV02"
    key = "access_review"
    title = "Periodic access review (quarterly attestation)"

    def compute(self, ctx: EvidenceContext) -> EvidenceResult:
        """Members at both ends of the period, the changes between, and the attestation."""
        reason = snapshot_gap(ctx) or feed_gap(ctx)
        snap = chosen_snapshot(ctx)
        if reason is not None or snap is None:
            return insufficient(self, reason or "no Compliance API directory snapshot")
        end = reference_time(ctx)
        start_rows = self._roster(ctx, ctx.period.start_at)
        end_rows = self._roster(ctx, end)
        changes = utc_rows(fetch(ctx, with_ctes(IDENTITY_EVENTS) + _CHANGES,
                                 ie_lo=ctx.period.start_at, ie_hi=end), _CHANGE_COLUMNS)
        metrics: dict[str, int | float | str | None] = {
            "members_at_start": len({r[2] for r in start_rows}),
            "members_at_end": len({r[2] for r in end_rows}),
            "joined": sum(1 for c in changes if c[1] == "joined"),
            "left": sum(1 for c in changes if c[1] == "left"),
            "role_changes": sum(1 for c in changes if c[1] == "role changed"),
            "review_campaigns": 0,
        }
        tables = [
            Table("access_at_period_start", f"Members at {ctx.period.start}", _ROSTER_COLUMNS,
                  start_rows),
            Table("access_at_period_end", f"Members at {end:%Y-%m-%d %H:%M} UTC",
                  _ROSTER_COLUMNS, end_rows),
            Table("access_changes", "Joins, removals and role changes in the period",
                  _CHANGE_COLUMNS, changes),
        ]
        pages = snapshot_pages(ctx, "dir_users") + feed_pages(ctx, any_of("type", IDENTITY_TYPES))
        extra: dict[str, Any] = {
            "metrics": metrics, "tables": tables, "lineage": lineage(ctx, pages, ["compliance"]),
            "method": ("The members at the period start and end are the directory snapshot "
                       "chosen for the period, replayed forwards or backwards through the "
                       "membership and role activities in between (invitations accepted, SCIM "
                       "provisioning, removals, departures, role updates, primary-owner "
                       "transfers). Reviewer decisions and the attestation come from "
                       "auditpack's review campaigns."),
            "limitations": [*snapshot_note(ctx),
                            "Reviewer keep/revoke decisions and the signed attestation are "
                            "manual inputs captured by auditpack's review workflow.",
                            "Custom RBAC role assignments are not part of the member "
                            "snapshots (see role_change_log)."],
        }
        return self._attested(ctx, metrics, tables, extra)

    def _attested(self, ctx: EvidenceContext, metrics: dict[str, int | float | str | None],
                  tables: list[Table], extra: dict[str, Any]) -> EvidenceResult:
        """The review campaigns attested for the period and the proof of their revocations."""
        held = campaigns(ctx.con, ctx.period, ctx.as_of)
        rows, findings = remediation(ctx)
        tables.append(Table("review_remediation",
                            "Revocations and modifications decided in access reviews",
                            REMEDIATION_COLUMNS, rows))
        metrics.update({
            "review_campaigns": len(held.covering),
            "revocations_decided": sum(1 for r in rows if r[1] == "Revoke"),
            "modifications_decided": sum(1 for r in rows if r[1] == "Modify"),
            "revocations_carried_out": sum(1 for r in rows if r[13].startswith("carried out")),
            "revocations_overdue": sum(1 for r in rows if r[13] == "overdue"),
        })
        findings += [make_finding(
            self.id, "attestation_unverified", Severity.MEDIUM,
            f"review {cid}: attestation not signed by the package key", {"campaign_id": cid},
            None, f"The attestation of campaign {cid} does not verify with this build's signing "
            "key; it is not counted as a review.", []) for cid in held.unverified]
        findings += [make_finding(
            self.id, "review_closed_incomplete", Severity.MEDIUM,
            f"review {cid} closed with {n} undecided rows", {"campaign_id": cid}, None,
            f"Campaign {cid} was closed with --allow-incomplete while {n} access rows had no "
            "decision.", []) for cid, n in held.incomplete]
        limit = ctx.policy.access_review_max_interval_days
        end = reference_time(ctx)
        if held.latest_closed is not None and end - held.latest_closed > timedelta(days=limit):
            findings.append(make_finding(
                self.id, "review_interval_exceeded", Severity.MEDIUM,
                f"last access review attested {held.latest_closed:%Y-%m-%d}, over {limit} days "
                "ago", {"closed_at": held.latest_closed.isoformat()}, held.latest_closed,
                f"The policy asks for an access review at least every {limit} days; the latest "
                f"attested one closed {(end - held.latest_closed).days} days before "
                f"{end:%Y-%m-%d}.", []))
        if findings:
            return EvidenceResult(self.id, self.key, self.title, Status.EXCEPTIONS,
                                  Coverage.FULL, findings=findings, **extra)
        if not held.covering:
            return insufficient(self, NO_ATTESTATION, coverage=Coverage.FULL, **extra)
        return EvidenceResult(self.id, self.key, self.title, Status.EFFECTIVE, Coverage.FULL,
                              **extra)

    @staticmethod
    def _roster(ctx: EvidenceContext, at: datetime) -> list[tuple[Any, ...]]:
        """The members of every linked organization at `at`."""
        snap = chosen_snapshot(ctx)
        assert snap is not None
        rows = fetch(ctx, with_ctes(IDENTITY_EVENTS, ROSTER) + _ROSTER_ROWS,
                     **roster_params(snap, at))
        return utc_rows(rows, _ROSTER_COLUMNS)


ITEM = AccessReview()
