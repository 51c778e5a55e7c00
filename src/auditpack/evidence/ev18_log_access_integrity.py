"""EV18 `log_access_integrity`: who can read the audit trail, who did, and is our copy intact?

- Holders: the Compliance Access Keys listed by the settings endpoint (name, scopes, creator,
  active), with the period's reads by each.
- Reads: every Compliance API request emits `compliance_api_accessed` with the key id; reads
  whose request id matches a response in auditpack's own archive are auditpack's.
- Access events: key creation and deletion, audit-log and data exports, and the Compliance /
  Analytics API switches in the feed.
- Integrity: the archived objects behind the period's data are re-hashed (a sample within a
  byte budget for very large periods, counted in the metrics), and the collection log's hash
  chain is verified. Altered or missing objects and a broken chain are HIGH findings; all
  other findings here are at most medium.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from auditpack.evidence._common import coverage_of, insufficient, lineage, snapshot_pages
from auditpack.evidence._operations import (
    LogCheck,
    ObjectCheck,
    check_log,
    check_objects,
    feed_reason,
    of_types,
    period_bounds,
    period_days,
    present_types,
    status_of,
    store_dir,
    table,
    type_pages,
    types_where,
    utc,
)
from auditpack.evidence.interface import (
    Coverage,
    EvidenceContext,
    EvidenceItem,
    EvidenceResult,
    Finding,
    Severity,
    Table,
    make_finding,
)

READ_EVENT = "compliance_api_accessed"
_TOGGLES = ("org_compliance_api_settings_updated", "org_analytics_api_capability_updated")
_KEY_PREFIXES = ("api_key_", "scoped_api_key_", "admin_api_key_")
_DELETED_SUFFIX = "_api_key_deleted"
_ANALYTICS_TABLES = ("an_summaries", "an_users", "an_projects", "an_skills", "an_connectors",
                     "an_user_usage", "an_user_cost")
_DIRECTORY_TABLES = ("dir_organizations", "dir_users", "dir_roles", "dir_role_permissions",
                     "dir_groups", "dir_group_members", "dir_settings", "dir_api_keys")
_MAX_SOURCES = 20  # activity ids or sha256 references per finding; metrics count them all

# One JSON extraction per read (the document is parsed once): the calling key (api_actor carries
# api_key_id, Admin keys admin_api_key_id), then the request's outcome and id.
_READ_PATHS = ("$.actor.api_key_id", "$.actor.admin_api_key_id", "$.actor.service_account_id",
               "$.status_code", "$.request_method", "$.request_id")


@dataclass(frozen=True)
class _Reader:
    """What the findings need about one key's reads."""

    first_ids: list[str]
    deleted_at: datetime | None
    after_deletion: int
    first_after: datetime | None
    after_ids: list[str]


class LogAccessIntegrity(EvidenceItem):
    """EV18: audit-trail access and the integrity of auditpack's copy of it."""

    id = "EV18"
    key = "log_access_integrity"
    title = "Audit-trail access & integrity"

    def compute(self, ctx: EvidenceContext) -> EvidenceResult:
        """Key holders, reads, access events, archive and log integrity."""
        reason = feed_reason(ctx)
        if reason is not None:
            return insufficient(self, reason)
        present = present_types(ctx)
        keys = _keys(ctx)
        reads, readers = _reads(ctx, {k[0]: k[1] for k in keys})
        events = _access_events(ctx, present)
        root = store_dir(ctx)
        objects = check_objects(root, _referenced(ctx)) if root is not None else None
        log = check_log(root)
        findings = self._integrity(objects, log) + self._reads_findings(reads, readers)
        read_rows = reads.rows
        metrics: dict[str, int | float | str | None] = {
            "compliance_keys": len(keys),
            "compliance_keys_active": sum(1 for k in keys if k[3]),
            "keys_reading_feed": sum(1 for k in keys if k[3] and "read:compliance_activities"
                                     in (k[2] or "")),
            "audit_trail_reads": sum(int(r[3]) for r in read_rows),
            "audit_trail_readers": len(read_rows),
            "auditpack_reads": sum(int(r[10]) for r in read_rows),
            "unlisted_reader_keys": sum(1 for r in read_rows if not r[2]),
            "reads_after_key_deletion": sum(x.after_deletion for x in readers.values()),
            "audit_access_events": len(events.rows),
            "archive_objects_referenced": objects.referenced if objects else None,
            "archive_objects_checked": objects.checked if objects else None,
            "archive_bytes_checked": objects.bytes_checked if objects else None,
            "archive_objects_altered": len(objects.altered) if objects else None,
            "archive_objects_missing": len(objects.missing) if objects else None,
            "collection_log": log.state,
            "collection_log_entries": len(log.entries),
        }
        limitations = list(_LIMITATIONS)
        if objects is None:
            limitations.append("The store directory could not be found from the database "
                               "connection: archive objects and the collection log were not "
                               "re-verified.")
        elif objects.checked < objects.referenced:
            limitations.append(f"{objects.checked} of {objects.referenced} archived objects "
                               "behind the period were re-hashed (a deterministic sample within "
                               "the byte budget); `auditpack verify` on the package checks all "
                               "of the pages it ships.")
        pages = type_pages(ctx, of_types((READ_EVENT, *_event_types()), present)) \
            + snapshot_pages(ctx, "dir_api_keys")
        return EvidenceResult(
            self.id, self.key, self.title, status_of(findings),
            coverage_of(bool(ctx.holdings.analytics_days), True, analytics_level=Coverage.NONE,
                        compliance_level=Coverage.PARTIAL, combined_level=Coverage.PARTIAL),
            metrics=metrics,
            tables=[table("audit_trail_keys", "Compliance Access Keys (holders of audit-trail "
                          "access) existing by the period end, as last listed", _KEY_COLUMNS,
                          _with_reads(keys, read_rows)),
                    reads, events, _integrity_table(objects, log)],
            findings=findings, lineage=lineage(ctx, pages, ["compliance"]), method=_METHOD,
            limitations=limitations)

    def _integrity(self, objects: ObjectCheck | None, log: LogCheck) -> list[Finding]:
        """HIGH findings for altered or missing archive objects and a broken log chain."""
        out: list[Finding] = []
        if objects and objects.altered:
            out.append(make_finding(
                self.key, "archive_object_altered", Severity.HIGH,
                f"{len(objects.altered)} archived response(s) no longer match their hash",
                {"archive": "objects"}, None,
                "Each archived body is named by the SHA-256 of its bytes; these no longer hash "
                "to their name (or to the size the index records): the raw evidence was altered "
                "after collection.", [f"sha256:{s}" for s in objects.altered[:_MAX_SOURCES]]))
        if objects and objects.missing:
            out.append(make_finding(
                self.key, "archive_object_missing", Severity.HIGH,
                f"{len(objects.missing)} archived response(s) are missing",
                {"archive": "objects"}, None,
                "The database rests on archived responses that are no longer in the archive: "
                "the figures derived from them cannot be re-performed.",
                [f"sha256:{s}" for s in objects.missing[:_MAX_SOURCES]]))
        if log.state == "broken":
            out.append(make_finding(
                self.key, "collection_log_chain_broken", Severity.HIGH,
                "auditpack's collection log has a broken hash chain",
                {"log": "collection-log.jsonl"}, None,
                "auditpack's own record of its collection runs (its export log) was edited: "
                + "; ".join(log.problems[:10]), []))
        return out

    def _reads_findings(self, reads: Table, readers: dict[str, _Reader]) -> list[Finding]:
        """Low: reads by an unlisted key. Medium: reads by a key after its recorded deletion."""
        out = []
        for reader, _name, listed, count, _ips, _agents, first, *_rest in reads.rows:
            extra = readers[reader]
            if not listed:
                out.append(make_finding(
                    self.key, "unlisted_reader", Severity.LOW,
                    f"Audit trail read {count} time(s) by {reader}, which is not a listed "
                    "Compliance Access Key",
                    {"api_key_id": reader}, first,
                    "The key is not among the organisation's Compliance Access Keys in any "
                    "directory snapshot: it may be an Admin API key (which can read the "
                    "activity feed) or a key deleted before the first snapshot. Confirm who "
                    "holds it (PCI DSS 10.3.1).", extra.first_ids))
            if extra.after_deletion and extra.deleted_at is not None:
                out.append(make_finding(
                    self.key, "read_after_key_deletion", Severity.MEDIUM,
                    f"Key {reader} read the audit trail {extra.after_deletion} time(s) after "
                    "its deletion",
                    {"api_key_id": reader}, extra.first_after,
                    f"The feed records the key's deletion at {extra.deleted_at:%Y-%m-%d %H:%M} "
                    "UTC, yet Compliance API requests with it continued: confirm the deletion "
                    "took effect and who holds the key.", extra.after_ids))
        return out


# -- holders and reads -----------------------------------------------------------------------


_KEY_COLUMNS = [("key_id", "str"), ("name", "str"), ("scopes", "str"), ("active", "bool"),
                ("created_at", "datetime"), ("created_by", "str"), ("creator_email", "str"),
                ("expires_at", "datetime"), ("listed_at", "datetime"),
                ("reads_in_period", "int"), ("last_read", "datetime")]


def _keys(ctx: EvidenceContext) -> list[tuple[Any, ...]]:
    """Compliance Access Keys that existed by the period end, as last listed.

    Every directory snapshot up to the assessment time is used, each key in its latest
    listing: a key created during the period appears in later snapshots only, and a key
    deleted since appears in earlier ones. Every linked org lists the same keys; they are
    counted once.
    """
    rows = ctx.con.execute("""
        WITH snaps AS (SELECT snapshot_id, max(as_of) AS as_of FROM dir_observations
                       WHERE as_of <= ? OR snapshot_id = ? GROUP BY snapshot_id),
        k AS (SELECT d.*, s.as_of AS listed_at,
                     array_to_string(list_sort(TRY_CAST(d.scopes AS VARCHAR[])), ' ') AS scope_text
              FROM dir_api_keys d JOIN snaps s USING (snapshot_id)),
        latest AS (
            SELECT key_id, arg_max(name, listed_at) AS name, arg_max(scope_text, listed_at)
                       AS scopes,
                   arg_max(is_active, listed_at) AS active, min(created_at) AS created_at,
                   arg_max(created_by_id, listed_at) AS created_by,
                   arg_max(expires_at, listed_at) AS expires_at, max(listed_at) AS listed_at,
                   arg_max(snapshot_id, listed_at) AS snapshot_id
            FROM k GROUP BY key_id),
        u AS (SELECT snapshot_id, user_id, max(email) AS email FROM dir_users
              GROUP BY snapshot_id, user_id)
        SELECT l.key_id, l.name, l.scopes, l.active, l.created_at, l.created_by, u.email,
               l.expires_at, l.listed_at
        FROM latest l LEFT JOIN u ON u.user_id = l.created_by AND u.snapshot_id = l.snapshot_id
        WHERE l.created_at IS NULL OR l.created_at < ?
        ORDER BY l.created_at, l.key_id""",
        [ctx.as_of, ctx.holdings.snapshot_id, ctx.period.end_at]).fetchall()
    return [(r[0], r[1], r[2], r[3], utc(r[4]) if r[4] else None, r[5], r[6],
             utc(r[7]) if r[7] else None, utc(r[8])) for r in rows]


def _reads(ctx: EvidenceContext,
           listed: dict[str, str | None]) -> tuple[Table, dict[str, _Reader]]:
    """Compliance API requests of the period per key, in one pass over their raw events.

    auditpack's own requests are those whose request id is in the archive's responses; reads
    after a `*_api_key_deleted` event for the same key are counted for a medium finding.
    """
    paths = ", ".join(f"'{p}'" for p in _READ_PATHS)
    rows = ctx.con.execute(f"""
        WITH deleted AS (
            SELECT coalesce(raw->>'api_key_id', raw->>'admin_api_key_id') AS key_id,
                   min(created_at) AS deleted_at
            FROM {of_types(_deleted_types())} WHERE created_at < ? GROUP BY 1),
        e AS MATERIALIZED (SELECT id, created_at, actor_type, actor_ip, actor_user_agent,
                     json_extract_string(raw, [{paths}]) AS v
              FROM activities WHERE type = ? AND created_at >= ? AND created_at < ?),
        r AS (SELECT id, created_at, actor_ip, actor_user_agent,
                     coalesce(v[1], v[2], v[3], actor_type) AS reader,
                     TRY_CAST(v[4] AS INTEGER) AS status, v[5] AS method, v[6] AS request_id
              FROM e),
        own AS (SELECT DISTINCT request_id FROM responses WHERE request_id IS NOT NULL)
        SELECT r.reader, count(*), count(DISTINCT r.actor_ip),
               string_agg(DISTINCT r.actor_user_agent, '; ' ORDER BY r.actor_user_agent),
               min(r.created_at), max(r.created_at),
               count(*) FILTER (WHERE r.status >= 400),
               count(*) FILTER (WHERE r.method IS NOT NULL AND upper(r.method) <> 'GET'),
               count(own.request_id),
               list(r.id ORDER BY r.created_at, r.id)[1:{_MAX_SOURCES}],
               any_value(d.deleted_at),
               count(*) FILTER (WHERE r.created_at > d.deleted_at),
               min(r.created_at) FILTER (WHERE r.created_at > d.deleted_at),
               list(r.id ORDER BY r.created_at, r.id)
                   FILTER (WHERE r.created_at > d.deleted_at)[1:{_MAX_SOURCES}]
        FROM r LEFT JOIN own USING (request_id) LEFT JOIN deleted d ON d.key_id = r.reader
        GROUP BY r.reader ORDER BY count(*) DESC, r.reader""",
        [ctx.period.end_at, READ_EVENT, *period_bounds(ctx)]).fetchall()
    data = [(r[0], listed.get(r[0]), r[0] in listed, int(r[1]), int(r[2]), r[3],
             utc(r[4]), utc(r[5]), int(r[6]), int(r[7]), int(r[8])) for r in rows]
    readers = {r[0]: _Reader(list(r[9] or []), utc(r[10]) if r[10] else None, int(r[11] or 0),
                             utc(r[12]) if r[12] else None, list(r[13] or [])) for r in rows}
    return table("audit_trail_reads", "Compliance API requests in the period, per key",
                 [("key_id", "str"), ("key_name", "str"), ("listed", "bool"),
                  ("requests", "int"), ("source_ips", "int"), ("user_agents", "str"),
                  ("first", "datetime"), ("last", "datetime"), ("failed", "int"),
                  ("non_get", "int"), ("by_auditpack", "int")], data), readers


def _with_reads(keys: list[tuple[Any, ...]], reads: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Key rows extended with their reads in the period and the last read."""
    per_key = {r[0]: (r[3], r[7]) for r in reads}
    return [(*k, *per_key.get(k[0], (0, None))) for k in keys]


def _deleted_types() -> tuple[str, ...]:
    """Key deletion types of the catalog (each is one cheap pushed-down scan)."""
    return tuple(t for t in types_where(suffix=_DELETED_SUFFIX))


def _event_types() -> tuple[str, ...]:
    """Key lifecycle, audit and data exports, and API switches (not the per-request reads)."""
    exports = [t for t in types_where(category="Data export, audit & compliance access")
               if t != READ_EVENT]
    keys = [t for t in types_where(category="Credentials, keys & service identities")
            if t.startswith(_KEY_PREFIXES)]
    return tuple(sorted({*exports, *keys, *_TOGGLES}))


def _access_events(ctx: EvidenceContext, present: list[str]) -> Table:
    """Every audit-trail access event of the period, in order."""
    rows = ctx.con.execute(f"""
        SELECT created_at, type, actor_type,
               coalesce(actor_user_id, raw->'actor'->>'api_key_id',
                        raw->'actor'->>'admin_api_key_id') AS actor_id,
               actor_email, actor_ip,
               coalesce(raw->>'api_key_id', raw->>'admin_api_key_id') AS key_id,
               json_merge_patch(raw, '{{"id":null,"created_at":null,"type":null,"actor":null,
                   "organization_id":null,"organization_uuid":null}}')::VARCHAR AS details, id
        FROM {of_types(_event_types(), present)}
        WHERE created_at >= ? AND created_at < ?
        ORDER BY created_at, id""", period_bounds(ctx)).fetchall()
    return table("audit_access_events", "Key lifecycle, audit/data exports and API switches",
                 [("created_at", "datetime"), ("type", "str"), ("actor_type", "str"),
                  ("actor_id", "str"), ("actor_email", "str"), ("ip_address", "str"),
                  ("key_id", "str"), ("details", "str"), ("activity_id", "str")],
                 [(utc(r[0]), *r[1:]) for r in rows])


# -- integrity -------------------------------------------------------------------------------


def _referenced(ctx: EvidenceContext) -> list[tuple[str, int | None]]:
    """Archived objects behind the period's rows (feed, Analytics, the snapshot), with sizes."""
    parts = ["SELECT page_sha256 FROM activities WHERE created_at >= ? AND created_at < ?"]
    params: list[Any] = [*period_bounds(ctx)]
    for name in _ANALYTICS_TABLES:
        parts.append(f"SELECT page_sha256 FROM {name} WHERE day BETWEEN ? AND ?")
        params.extend(period_days(ctx))
    for name in _DIRECTORY_TABLES:
        parts.append(f"SELECT page_sha256 FROM {name} WHERE snapshot_id = ?")
        params.append(ctx.holdings.snapshot_id)
    rows = ctx.con.execute(f"""
        WITH p AS (SELECT DISTINCT page_sha256 FROM ({" UNION ALL ".join(parts)})
                   WHERE page_sha256 IS NOT NULL),
        s AS (SELECT sha256, max(size) AS size FROM responses GROUP BY sha256)
        SELECT p.page_sha256, s.size FROM p LEFT JOIN s ON s.sha256 = p.page_sha256
        ORDER BY 1""", params).fetchall()
    return [(r[0], int(r[1]) if r[1] is not None else None) for r in rows]


def _integrity_table(objects: ObjectCheck | None, log: LogCheck) -> Table:
    """What was re-verified and how many checks failed."""
    rows: list[tuple[Any, ...]] = []
    if objects is not None:
        rows.append(("archive objects", objects.referenced, objects.checked,
                     len(objects.altered) + len(objects.missing),
                     "altered: " + str(len(objects.altered)) + ", missing: "
                     + str(len(objects.missing))))
    rows.append(("collection log", len(log.entries), len(log.entries) if log.exists else 0,
                 len(log.problems), log.state + ("; " + "; ".join(log.problems[:5])
                                                  if log.problems else "")))
    return table("integrity", "Integrity of auditpack's archive and collection log",
                 [("object", "str"), ("referenced", "int"), ("checked", "int"),
                  ("failures", "int"), ("detail", "str")], rows)


_METHOD = (
    "Holders: Compliance Access Keys from the effective-settings endpoint of the directory "
    "snapshot nearest the period end (deduplicated across linked organisations), with creator. "
    "Reads: compliance_api_accessed events of the period grouped by the calling key; a read whose "
    "request_id equals the request id of a response in auditpack's archive is auditpack's own. "
    "Access events: key lifecycle, audit-log and data exports and API switches from the feed. "
    "Integrity: each archived object behind the period's feed, Analytics and snapshot rows is "
    "decompressed and its SHA-256 compared with its name and its size with the index; the "
    "collection log's prev_sha256 chain is re-verified.")

_LIMITATIONS = [
    "The Compliance API logs every request with its key, but Analytics API keys are neither "
    "listed nor logged: holders of read:analytics keys cannot be evidenced from the APIs.",
    "Admin API keys can read the activity feed but are not in the Compliance Access Key list; "
    "their reads appear under their key id without a name.",
    "The package's Ed25519 signature and manifests protect the exported evidence; inside the "
    "store, integrity rests on content-addressed objects and the hash-chained collection log.",
]


ITEM = LogAccessIntegrity()
