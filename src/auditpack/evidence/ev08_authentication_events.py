"""EV08 Authentication events: sign-ins by method, failures per day, failure bursts, SSO state.

Failure bursts are the one high-severity signal: at least `policy.failed_login_burst` failed
sign-ins for one account, or from one address, within `policy.failed_login_window_minutes`.
Consecutive failures closer than the window form one episode, so a burst is reported once with
all of its failures. An address burst whose failures all name one account is the same fact as
that account's burst and is not reported twice; an address burst over several accounts (password
spraying) or over unnamed accounts is reported under the address.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from auditpack.evidence._common import feed_pages, insufficient, lineage
from auditpack.evidence._detect import (
    cap,
    closing_snapshot,
    daily_chart,
    feed_gap,
    iso,
    of_types,
    period_days,
    severity_counts,
    sort_findings,
    sql_list,
    status_of,
    user_by_email_sql,
    utc,
    utc_day,
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

SUCCESS_TYPES = ("sso_login_succeeded", "social_login_succeeded", "magic_link_login_succeeded")
FAILURE_TYPES = ("sso_login_failed", "magic_link_login_failed")
SESSION_TYPES = ("user_logged_out", "session_revoked")
AUTH_TYPES = SUCCESS_TYPES + FAILURE_TYPES + SESSION_TYPES + (
    "sso_login_initiated", "magic_link_login_initiated", "sso_second_factor_magic_link")
# Effective settings that say whether SSO is on and enforced (C7); false is a medium finding.
SSO_SETTINGS = ("sso_enabled", "sso_claude_ai_enforced", "sso_console_enforced")


class AuthenticationEvents(EvidenceItem):
    """EV08: what Claude sees of sign-ins, and bursts of failed ones."""

    id = "EV08"
    key = "authentication_events"
    title = "Authentication events"

    def compute(self, ctx: EvidenceContext) -> EvidenceResult:
        """Sign-in volumes, failure bursts and the SSO enforcement state for the period."""
        gap = feed_gap(ctx)
        if gap is not None:
            return insufficient(self, gap)
        window = max(1, int(ctx.policy.failed_login_window_minutes))
        threshold = max(2, int(ctx.policy.failed_login_burst))
        bursts = _bursts(ctx, window, threshold)
        findings = [_burst_finding(self.key, b, window) for b in bursts]
        sso_rows, snapshot_note = _sso_state(ctx)
        findings += _sso_findings(self.key, sso_rows)
        findings = sort_findings(findings)
        metrics = _metrics(ctx)
        metrics.update({"failure_bursts": len(bursts), "burst_threshold": threshold,
                        "burst_window_minutes": window, **severity_counts(findings)})
        metrics.update(_sso_metrics(sso_rows))
        tables = [_methods_table(ctx), _bursts_table(bursts), _sources_table(ctx),
                  Table("sso_enforcement", "SSO enforcement state (effective settings)",
                        [Column("organization_uuid", "str"), Column("organization", "str"),
                         Column("setting", "str"), Column("value", "str"),
                         Column("snapshot_as_of", "datetime")], sso_rows)]
        pages = feed_pages(ctx, f"type IN {sql_list(AUTH_TYPES)}")
        return EvidenceResult(
            self.id, self.key, self.title, status_of(findings), Coverage.FULL, metrics=metrics,
            tables=tables, charts={"failures_per_day": _daily(ctx)}, findings=findings,
            lineage=lineage(ctx, pages, ["compliance"]),
            method=(f"Sign-in events of the activity feed in the period, by type, auth_method and "
                    f"mfa_method. A failure burst is ≥ {threshold} failed sign-ins for one account "
                    f"(the e-mail the failure names) or from one IP address within {window} "
                    f"minutes; failures less than {window} minutes apart form one episode. The SSO "
                    "state is read from the effective settings of the snapshot nearest the "
                    "period end."),
            limitations=[
                "Only what Claude sees: sign-ins at the identity provider (MFA prompts, lockouts, "
                "IdP-side failures) need the IdP's own logs.",
                "A failed sign-in names the e-mail that was typed; it maps to a directory user "
                "only when that address exists in a collected directory snapshot.",
                snapshot_note,
            ])


def _bursts(ctx: EvidenceContext, window: int, threshold: int) -> list[tuple[Any, ...]]:
    """Failure episodes per account and per address that reach the burst threshold.

    Rows: kind, key, failures, peak, first_at, last_at, ids, emails, ips, user_id, success_after.
    """
    failures = sql_list(FAILURE_TYPES)
    successes = sql_list(SUCCESS_TYPES)
    sql = f"""
        WITH f AS (
            SELECT id, created_at, lower(actor_email) AS email, actor_ip AS ip
            FROM activities
            WHERE type IN {failures} AND created_at >= ? AND created_at < ?),
        keyed AS (
            SELECT 'account' AS kind, email AS key, * FROM f WHERE email IS NOT NULL
            UNION ALL
            SELECT 'ip' AS kind, ip AS key, * FROM f WHERE ip IS NOT NULL),
        w AS (
            SELECT *,
                   count(*) OVER (PARTITION BY kind, key ORDER BY created_at
                                  RANGE BETWEEN INTERVAL {window} MINUTE PRECEDING
                                  AND CURRENT ROW) AS in_window,
                   CASE WHEN created_at - lag(created_at) OVER (PARTITION BY kind, key
                                                              ORDER BY created_at, id)
                             <= INTERVAL {window} MINUTE THEN 0 ELSE 1 END AS starts
            FROM keyed),
        e AS (
            SELECT *, sum(starts) OVER (PARTITION BY kind, key ORDER BY created_at, id
                                        ROWS UNBOUNDED PRECEDING) AS episode
            FROM w),
        b AS (
            SELECT kind, key, episode, count(*) AS failures, max(in_window) AS peak,
                   min(created_at) AS first_at, max(created_at) AS last_at,
                   list(id ORDER BY created_at, id) AS ids,
                   list(DISTINCT email ORDER BY email) FILTER (WHERE email IS NOT NULL) AS emails,
                   count(*) FILTER (WHERE email IS NULL) AS unnamed,
                   list(DISTINCT ip ORDER BY ip) FILTER (WHERE ip IS NOT NULL) AS ips
            FROM e GROUP BY kind, key, episode HAVING max(in_window) >= ?),
        -- one named account behind an address burst: already reported as that account's burst
        r AS (SELECT * FROM b
              WHERE kind = 'account' OR len(coalesce(emails, [])) <> 1 OR unnamed > 0),
        s AS (
            SELECT created_at, actor_ip AS ip, lower(actor_email) AS email FROM activities
            WHERE type IN {successes} AND created_at >= ? AND created_at < ?),
        by_ip AS (SELECT kind, key, episode, first_at, last_at, unnest(ips) AS ip FROM r),
        -- a success from the burst's address, or into the burst's account, within the hour
        hits AS (
            SELECT x.kind, x.key, x.episode, s.created_at FROM by_ip x JOIN s
              ON s.ip = x.ip AND s.created_at >= x.first_at
             AND s.created_at < x.last_at + INTERVAL 1 HOUR
            UNION ALL
            SELECT r.kind, r.key, r.episode, s.created_at FROM r JOIN s
              ON r.kind = 'account' AND s.email = r.key AND s.created_at >= r.first_at
             AND s.created_at < r.last_at + INTERVAL 1 HOUR),
        first_hit AS (SELECT kind, key, episode, min(created_at) AS at FROM hits
                      GROUP BY ALL)
        SELECT r.kind, r.key, r.failures, r.peak, r.first_at, r.last_at, r.ids, r.emails,
               r.ips, u.user_id, h.at
        FROM r LEFT JOIN first_hit h USING (kind, key, episode)
        LEFT JOIN {user_by_email_sql()} u ON r.kind = 'account' AND u.email = r.key
        ORDER BY r.first_at, r.kind, r.key"""
    end = ctx.period.end_at
    return ctx.con.execute(sql, [ctx.period.start_at, end, threshold, ctx.period.start_at,
                                 end + timedelta(hours=1)]).fetchall()


def _burst_finding(evidence: str, row: tuple[Any, ...], window: int) -> Finding:
    """HIGH: a burst of failed sign-ins for one account or from one address."""
    kind, key, failures, peak, first_at, last_at, ids, emails, ips, user_id, success = row
    first_at, last_at = utc(first_at), utc(last_at)
    minutes = int((last_at - first_at).total_seconds() // 60) + 1
    sources_text = ", ".join(ips or []) or "unknown addresses"
    if kind == "account":
        subject = {"user_id": user_id or "", "email": key}
        who = f"{key}" + ("" if user_id else " (not a directory user)")
        title = f"{failures} failed sign-ins for {key} within {minutes} minutes"
    else:
        subject = {"ip": key}
        who = f"{len(emails or [])} account(s) from {key}"
        title = f"{failures} failed sign-ins from {key} within {minutes} minutes"
    after = (f" A sign-in succeeded from the same source at {iso(utc(success))}: check whether "
             "it was the owner." if success else " No sign-in succeeded from the same source "
             "within the following hour.")
    detail = (f"{failures} failed sign-ins for {who} between {iso(first_at)} and {iso(last_at)} "
              f"(up to {peak} within {window} minutes), from {sources_text}." + after)
    if kind == "account" and len(ips or []) == 1:
        subject["ip"] = ips[0]
    return make_finding(evidence, "failed_login_burst", Severity.HIGH, title, subject, first_at,
                        detail, cap(ids))


def _sso_state(ctx: EvidenceContext) -> tuple[list[tuple[Any, ...]], str]:
    """SSO rows of the closing snapshot, and a sentence on which snapshot that is."""
    chosen = closing_snapshot(ctx)
    if chosen is None:
        return [], "No directory snapshot holds the effective settings: SSO state unknown."
    snapshot_id, as_of = chosen
    rows = ctx.con.execute(f"""
        SELECT s.org_uuid, o.name, s.name, s.value::VARCHAR, ?::TIMESTAMPTZ
        FROM dir_settings s
        LEFT JOIN (SELECT DISTINCT org_uuid, name FROM dir_organizations
                   WHERE snapshot_id = ?) o USING (org_uuid)
        WHERE s.snapshot_id = ? AND s.name IN {sql_list(SSO_SETTINGS)}
        ORDER BY s.org_uuid, s.name""", [as_of, snapshot_id, snapshot_id]).fetchall()
    note = (f"SSO state as of the directory snapshot observed {iso(as_of)}; settings an "
            "organization cannot change are omitted by the API and shown as absent.")
    return [(r[0], r[1], r[2], r[3], utc(r[4])) for r in rows], note


def _sso_findings(evidence: str, rows: list[tuple[Any, ...]]) -> list[Finding]:
    """MEDIUM: SSO off or not enforced at the snapshot (EV09 reports who changed it, and when)."""
    out = []
    for org_uuid, org_name, setting, value, as_of in rows:
        if value != "false":
            continue
        what = "SSO is off" if setting == "sso_enabled" else f"{setting} is false"
        out.append(make_finding(
            evidence, "sso_not_enforced", Severity.MEDIUM,
            f"{what} in {org_name or org_uuid}",
            {"setting": setting, "organization_uuid": org_uuid}, as_of,
            f"The effective settings observed {iso(as_of)} report {setting} = false for "
            f"{org_name or org_uuid}: members can sign in without the identity provider.", []))
    return out


def _sso_metrics(rows: list[tuple[Any, ...]]) -> dict[str, int | float | str | None]:
    """`sso_enabled` / `sso_enforced`: "true" only if every organization reporting it says so."""
    out: dict[str, int | float | str | None] = {}
    for metric, names in (("sso_enabled", {"sso_enabled"}),
                          ("sso_enforced", {"sso_claude_ai_enforced", "sso_console_enforced"})):
        values = {r[3] for r in rows if r[2] in names}
        out[metric] = None if not values else "true" if values == {"true"} else "false"
    return out


def _metrics(ctx: EvidenceContext) -> dict[str, int | float | str | None]:
    """Counts over the period's authentication events."""
    row = ctx.con.execute(f"""
        SELECT count(*) FILTER (WHERE type IN {sql_list(SUCCESS_TYPES)}),
               count(*) FILTER (WHERE type IN {sql_list(FAILURE_TYPES)}),
               count(*) FILTER (WHERE type = 'user_logged_out'),
               count(*) FILTER (WHERE type = 'session_revoked'),
               count(DISTINCT actor_user_id) FILTER (WHERE type IN {sql_list(SUCCESS_TYPES)}),
               count(DISTINCT lower(actor_email)) FILTER (WHERE type IN
                                                          {sql_list(FAILURE_TYPES)}),
               count(DISTINCT actor_ip)
        FROM activities WHERE type IN {sql_list(AUTH_TYPES)} AND created_at >= ?
          AND created_at < ?""", [ctx.period.start_at, ctx.period.end_at]).fetchone()
    ok, failed, logouts, revoked, users, failing, ips = row or (0,) * 7
    attempts = ok + failed
    return {"sign_ins": ok, "sign_in_failures": failed, "sign_outs": logouts,
            "sessions_revoked": revoked, "accounts_signed_in": users,
            "accounts_with_failures": failing, "source_ips": ips,
            "failure_rate": round(failed / attempts, 4) if attempts else None}


def _methods_table(ctx: EvidenceContext) -> Table:
    """Successful sign-ins by type, auth_method and mfa_method.

    Both fields come from one JSON parse per event: on millions of sign-ins, reading `raw` is
    the whole cost of this table.
    """
    rows = ctx.con.execute(f"""
        SELECT type, coalesce(m[1], '(none)'), coalesce(m[2], '(none)'), count(*),
               count(DISTINCT actor_user_id)
        FROM (SELECT type, actor_user_id,
                     json_extract_string(raw, ['$.auth_method', '$.mfa_method']) AS m
              FROM {of_types(ctx, SUCCESS_TYPES)} WHERE created_at >= ? AND created_at < ?)
        GROUP BY ALL ORDER BY 4 DESC, 1, 2, 3""",
                           [ctx.period.start_at, ctx.period.end_at]).fetchall()
    return Table("sign_ins_by_method", "Successful sign-ins by method",
                 [Column("type", "str"), Column("auth_method", "str"), Column("mfa_method", "str"),
                  Column("sign_ins", "int"), Column("users", "int")], [tuple(r) for r in rows])


def _bursts_table(bursts: list[tuple[Any, ...]]) -> Table:
    """One row per reported burst."""
    rows = [(kind, key, user_id, ", ".join(emails or []), ", ".join(ips or []), failures, peak,
             utc(first_at), utc(last_at), utc(success) if success else None)
            for kind, key, failures, peak, first_at, last_at, _ids, emails, ips, user_id, success
            in bursts]
    return Table("failure_bursts", "Bursts of failed sign-ins",
                 [Column("by", "str"), Column("key", "str"), Column("user_id", "str"),
                  Column("emails", "str"), Column("ips", "str"), Column("failures", "int"),
                  Column("peak_in_window", "int"), Column("first_at", "datetime"),
                  Column("last_at", "datetime"), Column("success_after", "datetime")], rows)


def _sources_table(ctx: EvidenceContext) -> Table:
    """Sign-in outcomes per source address, with the user agents seen."""
    rows = ctx.con.execute(f"""
        SELECT actor_ip,
               count(*) FILTER (WHERE type IN {sql_list(SUCCESS_TYPES)}),
               count(*) FILTER (WHERE type IN {sql_list(FAILURE_TYPES)}),
               count(DISTINCT lower(actor_email)), count(DISTINCT actor_user_agent),
               min(created_at), max(created_at)
        FROM activities
        WHERE type IN {sql_list(SUCCESS_TYPES + FAILURE_TYPES)} AND created_at >= ?
          AND created_at < ? AND actor_ip IS NOT NULL
        GROUP BY 1 ORDER BY 3 DESC, 2 DESC, 1""",
                           [ctx.period.start_at, ctx.period.end_at]).fetchall()
    return Table("sign_ins_by_ip", "Sign-in outcomes per source IP address",
                 [Column("ip", "str"), Column("sign_ins", "int"), Column("failures", "int"),
                  Column("accounts", "int"), Column("user_agents", "int"),
                  Column("first_at", "datetime"), Column("last_at", "datetime")],
                 [(r[0], r[1], r[2], r[3], r[4], utc(r[5]), utc(r[6])) for r in rows])


def _daily(ctx: EvidenceContext) -> dict[str, Any]:
    """Successful and failed sign-ins per UTC day."""
    rows = ctx.con.execute(f"""
        SELECT {utc_day('created_at')} AS day,
               count(*) FILTER (WHERE type IN {sql_list(SUCCESS_TYPES)}),
               count(*) FILTER (WHERE type IN {sql_list(FAILURE_TYPES)})
        FROM activities WHERE type IN {sql_list(SUCCESS_TYPES + FAILURE_TYPES)}
          AND created_at >= ? AND created_at < ? GROUP BY 1""",
                           [ctx.period.start_at, ctx.period.end_at]).fetchall()
    days = period_days(ctx.period.start, ctx.period.end)
    return daily_chart(days, {"sign_ins": {r[0]: r[1] for r in rows},
                              "failures": {r[0]: r[2] for r in rows}})


ITEM = AuthenticationEvents()
