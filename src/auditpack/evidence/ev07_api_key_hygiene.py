"""EV07 API key lifecycle & hygiene: every key, its age against the rotation limit, its owner.

The inventory is the parent's Compliance keys listed with the directory snapshot chosen for the
period (`dir_api_keys`), replayed through the key activities up to the reference instant (the
period end, or `as_of` if earlier), plus the Admin API and Console keys the feed shows being
created. For each key: creator, creation and revocation, age, the calls it made in the period
(Compliance API calls are logged in the feed under the key's id) and whether its creator left.

- an active key older than `policy.key_rotation_days`: high (medium for an Admin API or
  Console key, whose revocation the feed might not log);
- an active key created by someone who has since been removed: medium;
- inactive keys, however old, raise nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from auditpack.evidence._common import coverage_of, feed_gap, feed_pages, insufficient, lineage
from auditpack.evidence._identity import (
    IDENTITY_EVENTS,
    KEY_TYPES,
    KEYS_AT,
    LEAVERS,
    any_of,
    chosen_snapshot,
    fetch,
    keys_params,
    reference_time,
    snapshot_gap,
    snapshot_note,
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
    Table,
    make_finding,
)

# How many call activity ids a finding cites as proof of use.
MAX_SOURCES = 50
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_CALLS = f"""
calls AS (
    -- every Compliance API request is logged under the key that made it
    SELECT coalesce(raw->'actor'->>'api_key_id', raw->'actor'->>'admin_api_key_id') AS key_id,
           count(*) AS n, max(created_at) AS last_at,
           min_by(id, (created_at, id), {MAX_SOURCES}) AS ids
    FROM activities
    -- the period only: the key id is read from `raw`, which costs a scan of the rows kept
    WHERE {any_of('actor_type', ('api_actor', 'admin_api_key_actor'))}
      AND created_at >= $p_lo AND created_at < $k_at
    GROUP BY 1
)"""

# One row per key in the inventory (the table's columns, then what the findings cite), then
# one per calling key the inventory does not know (`api_key_id` NULL), so the feed is read once.
_SELECT = """
SELECT k.key_id, k.kind, k.name, k.scopes, k.created_at, k.created_by,
       coalesce(u.email, l.email), k.active, k.deleted_at, k.expires_at,
       CAST(floor((epoch($k_at) - epoch(k.created_at)) / 86400) AS BIGINT),
       coalesce(k.active AND k.created_at < $k_at - to_days(CAST($limit AS INTEGER)), false),
       l.removed_at, coalesce(c.n, 0), c.last_at, coalesce(k.listed, false),
       k.page_sha256, coalesce(k.activity_ids, []) || coalesce(c.ids, [])
FROM keys_at k
FULL JOIN calls c ON c.key_id = k.key_id
LEFT JOIN (SELECT * FROM leavers WHERE rejoined_at IS NULL OR rejoined_at > $k_at) l
    ON l.user_id = k.created_by
LEFT JOIN (SELECT user_id, any_value(email) AS email FROM dir_users GROUP BY user_id) u
    ON u.user_id = k.created_by
ORDER BY k.created_at NULLS LAST, k.key_id, c.key_id
"""

_COLUMNS = [Column("api_key_id", "str"), Column("kind", "str"), Column("name", "str"),
            Column("scopes", "str"), Column("created_at", "datetime"),
            Column("created_by", "str"), Column("created_by_email", "str"),
            Column("active", "bool"), Column("revoked_at", "datetime"),
            Column("expires_at", "datetime"), Column("age_days", "int"),
            Column("over_rotation_limit", "bool"), Column("creator_removed_at", "datetime"),
            Column("calls_in_period", "int"), Column("last_call_in_period", "datetime"),
            Column("listed_in_directory", "bool")]
_NAMES = [c.name for c in _COLUMNS]


class ApiKeyHygiene(EvidenceItem):
    """EV07: key inventory, age against the rotation limit, keys of leavers."""

    id = "EV07"
    key = "api_key_hygiene"
    title = "API key lifecycle & hygiene"

    def compute(self, ctx: EvidenceContext) -> EvidenceResult:
        """Rebuild the keys live at the reference instant and rate each one."""
        reason = snapshot_gap(ctx) or feed_gap(ctx)
        snap = chosen_snapshot(ctx)
        if reason is not None or snap is None:
            return insufficient(self, reason or "no Compliance API directory snapshot")
        ref = reference_time(ctx)
        limit = ctx.policy.key_rotation_days
        found = fetch(ctx, with_ctes(IDENTITY_EVENTS, LEAVERS, KEYS_AT, _CALLS) + _SELECT,
                      **keys_params(snap, ref), p_lo=ctx.period.start_at, limit=limit,
                      ie_lo=_EPOCH, ie_hi=ref, lv_lo=_EPOCH, lv_hi=ref)
        listed = [r for r in found if r[0] is not None]
        rows = utc_rows(listed, _COLUMNS)
        keys = [dict(zip(_NAMES, row, strict=True)) for row in rows]
        findings = [f for key, raw in zip(keys, listed, strict=True)
                    for f in self._findings(key, raw[16], raw[17], limit)]
        pages = feed_pages(ctx, any_of("type", KEY_TYPES)) + [r[16] for r in listed if r[16]]
        active = [k for k in keys if k["active"]]
        return EvidenceResult(
            self.id, self.key, self.title, status_for(findings),
            # no API gives a key's last use: the item is partial whatever is collected
            coverage_of(False, True, analytics_level=Coverage.NONE,
                        compliance_level=Coverage.PARTIAL, combined_level=Coverage.PARTIAL),
            metrics={"keys": len(keys), "active_keys": len(active),
                     "key_rotation_days": limit,
                     "active_keys_over_rotation_limit": sum(
                         1 for k in active if k["over_rotation_limit"]),
                     "active_keys_of_leavers": sum(1 for k in active if k["creator_removed_at"]),
                     "active_keys_without_calls_in_period": sum(
                         1 for k in active if not k["calls_in_period"]),
                     "calling_keys_not_in_inventory": len(found) - len(listed)},
            tables=[Table("api_keys", f"Keys at {ref:%Y-%m-%d %H:%M} UTC", _COLUMNS, rows)],
            findings=findings,
            lineage=lineage(ctx, pages, ["compliance"]),
            method=("Compliance keys from the directory snapshot chosen for the period "
                    "(settings api_keys[]), with key activities (api_key_created, "
                    "scoped_api_key_*, admin_api_key_*, platform_api_key_*) replayed to the "
                    "period end; Admin API and Console keys from their creation activities. Age "
                    f"is measured at the period end against key_rotation_days ({limit}); calls "
                    "are the feed activities made with the key during the period."),
            limitations=[*snapshot_note(ctx),
                         "No API gives a key's last use: calls logged in the feed are shown, "
                         "but a key without calls there is not judged unused.",
                         "Admin API and Console keys are known only if their creation is in "
                         "the feed held; their revocation may not be logged.",
                         "The rotation interval comes from the organization's risk analysis "
                         "(a manual input recorded as policy.key_rotation_days)."])

    def _findings(self, key: dict[str, Any], page: str | None, activity_ids: list[str],
                  limit: int) -> list[Finding]:
        """High for an active key past the rotation limit; medium for a leaver's key."""
        key_id, name, created = key["api_key_id"], key["name"], key["created_at"]
        label = f"{key['kind']} key {name or key_id}"
        sources = [*activity_ids, *([f"sha256:{page}"] if page else [])]
        found = []
        if key["over_rotation_limit"]:
            # Compliance keys' revocations are logged and listed; other kinds' may not be
            confirmed = key["kind"] == "compliance"
            calls = key["calls_in_period"]
            found.append(make_finding(
                self.key, "key_over_rotation_limit",
                Severity.HIGH if confirmed else Severity.MEDIUM,
                f"Active key older than {limit} days: {name or key_id}", {"api_key_id": key_id},
                created,
                f"The {label} was created on {created:%Y-%m-%d} and is {key['age_days']} days "
                f"old at the period end, past the rotation limit of {limit} days, and still "
                "active" + (f"; it made {calls} calls in the period." if calls else ".")
                + ("" if confirmed else " Its revocation may not be logged."), sources))
        removed = key["creator_removed_at"]
        if key["active"] and removed is not None:
            who = key["created_by_email"] or key["created_by"]
            found.append(make_finding(
                self.key, "key_of_leaver", Severity.MEDIUM,
                f"Active key created by a leaver: {name or key_id}",
                {"api_key_id": key_id, "user_id": key["created_by"],
                 "email": key["created_by_email"]}, removed,
                f"The {label} was created by {who}, who was removed on "
                f"{removed:%Y-%m-%d %H:%M} UTC; the key is still active.", sources))
        return found


ITEM = ApiKeyHygiene()
