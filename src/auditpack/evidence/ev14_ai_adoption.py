"""EV14 `ai_adoption`: DAU/WAU/MAU, adoption rate, seat utilisation and feature breadth.

The daily series comes from the Analytics summaries report. When summaries are not held for
the whole period the item counts distinct active users itself, from the Analytics users report
or, failing that, from user events in the activity feed, and says which source it used. Only
info findings: adoption is a literacy proxy, not a control verdict (frameworks.md §1, CC1.4).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from typing import Any

from auditpack.evidence._common import analytics_gap, coverage_of, insufficient, lineage
from auditpack.evidence._operations import (
    analytics_pages,
    feed_reason,
    of_types,
    pct,
    period_bounds,
    period_days,
    present_types,
    sql_in,
    table,
    types_where,
)
from auditpack.evidence.interface import (
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

# JSON paths read from each users-report row in ONE extraction (DuckDB parses the document once
# per call, so one multi-path call per row instead of one per field keeps 9M user-days cheap).
_PATHS = (
    "$.cowork_metrics.distinct_session_count",            # 1
    "$.cowork_metrics.message_count",                     # 2
    "$.claude_code_metrics.core_metrics.commit_count",    # 3
    "$.cowork_metrics.connectors_used_count",             # 4
    "$.chat_metrics.distinct_skills_used_count",          # 5
    "$.cowork_metrics.skills_used_count",                 # 6
    "$.chat_metrics.distinct_projects_used_count",        # 7
    "$.chat_metrics.distinct_projects_created_count",     # 8
    "$.office_metrics.excel.distinct_session_count",      # 9
    "$.office_metrics.powerpoint.distinct_session_count", # 10
)


def _v(i: int) -> str:
    """The i-th extracted JSON value (1-based) as a count, 0 when absent."""
    return f"coalesce(TRY_CAST(v[{i}] AS BIGINT), 0)"


# One row per user-day of the users report with `v`, the extracted values (parameters: days).
_USER_DAYS = f"""
SELECT day, user_id, messages, code_sessions, connectors_used, files_uploaded,
       json_extract_string(raw, [{", ".join(f"'{p}'" for p in _PATHS)}]) AS v
FROM an_users WHERE day BETWEEN ? AND ? AND user_id IS NOT NULL"""

# A user counts as active on a day of the users report when they did something the API's own
# active-user definition counts: a chat message, a Claude Code session or a Cowork session.
_ACTIVE = (f"(coalesce(messages, 0) > 0 OR coalesce(code_sessions, 0) > 0 OR {_v(1)} > 0 "
           f"OR {_v(2)} > 0)")

# Feed fallback: usage events, not sign-ins or views (views mean "an app loaded content").
_USAGE_CATEGORIES = ("Chats", "Files", "Projects", "Artifacts", "Claude Code, Cowork & agents",
                     "Claude Design")

# Feature → condition on one users-report row. Breadth counts users who used each at least once.
_FEATURES: tuple[tuple[str, str], ...] = (
    ("chat", "coalesce(messages, 0) > 0"),
    ("claude_code", f"coalesce(code_sessions, 0) > 0 OR {_v(3)} > 0"),
    ("cowork", f"{_v(1)} > 0 OR {_v(2)} > 0"),
    ("connectors", f"coalesce(connectors_used, 0) > 0 OR {_v(4)} > 0"),
    ("skills", f"{_v(5)} > 0 OR {_v(6)} > 0"),
    ("files", "coalesce(files_uploaded, 0) > 0"),
    ("projects", f"{_v(7)} > 0 OR {_v(8)} > 0"),
    ("office", f"{_v(9)} + {_v(10)} > 0"),
)


@dataclass(frozen=True)
class _Day:
    """One day of the adoption series."""

    day: date
    dau: int | None
    wau: int | None
    mau: int | None
    seats: int | None
    pending: int | None


class AiAdoption(EvidenceItem):
    """EV14: adoption and feature breadth over the period."""

    id = "EV14"
    key = "ai_adoption"
    title = "AI adoption governance & literacy proxy"

    def compute(self, ctx: EvidenceContext) -> EvidenceResult:
        """Series, adoption metrics, feature breadth and per-group adoption."""
        summaries_ok = analytics_gap(ctx, "summaries") is None
        users_ok = analytics_gap(ctx, "users") is None
        feed_ok = feed_reason(ctx) is None
        source = "summaries" if summaries_ok else "users" if users_ok else "feed" if feed_ok \
            else None
        if source is None:
            reasons = [analytics_gap(ctx, "summaries"), analytics_gap(ctx, "users"),
                       feed_reason(ctx)]
            return insufficient(self, "; ".join(r for r in reasons if r))
        series = _series(ctx, source)
        tables: list[Table] = [_series_table(series)]
        metrics = _series_metrics(series, source)
        findings: list[Finding] = []
        limitations = _limitations(source, users_ok)
        active: list[str] | None = None
        if users_ok:
            active, breadth, per_user = _users_breadth(ctx)
            tables.append(breadth)
            metrics["features_per_user_avg"] = per_user
            metrics.update(_catalogue_counts(ctx))
        elif feed_ok:
            active = _feed_active(ctx)
            tables.append(_feed_breadth(ctx))
        else:
            limitations.append("Neither the Analytics users report nor the activity feed covers "
                               "the period: seat utilisation, feature breadth and per-group "
                               "adoption are not computed.")
        if active is not None:
            metrics["active_users_period"] = len(active)
            metrics["active_users_source"] = "users" if users_ok else "feed"
            seats = metrics.get("seats_latest")
            metrics["seat_utilization_pct"] = (min(100.0, pct(len(active), seats) or 0.0)
                                               if isinstance(seats, int) and seats else None)
            if ctx.holdings.snapshot_id is not None:
                tables.append(_by_group(ctx, active))
                findings.extend(self._unused_seats(ctx, active))
        findings.extend(self._low_adoption(ctx, metrics))
        pages = analytics_pages(ctx, ["an_summaries", "an_users"]) if source != "feed" else []
        sources = ["analytics"] if users_ok or summaries_ok else []
        if not users_ok and feed_ok:
            sources.append("compliance")
        return EvidenceResult(
            self.id, self.key, self.title, Status.EFFECTIVE,
            coverage_of(summaries_ok or users_ok, feed_ok, analytics_level=Coverage.FULL,
                        compliance_level=Coverage.PARTIAL, combined_level=Coverage.FULL),
            metrics=metrics, tables=tables,
            charts={"adoption_series": _chart(series)},
            findings=findings, lineage=lineage(ctx, pages, sources),
            method=_METHOD.format(source=_SOURCE_TEXT[source]),
            limitations=limitations)

    def _unused_seats(self, ctx: EvidenceContext, active: list[str]) -> list[Finding]:
        """Info: members holding a seat at the snapshot with no recorded use in the period."""
        row = ctx.con.execute("""
            WITH active AS (SELECT unnest(?::VARCHAR[]) AS user_id)
            SELECT count(DISTINCT u.user_id), count(DISTINCT u.user_id) FILTER (
                WHERE u.user_id NOT IN (SELECT user_id FROM active))
            FROM dir_users u WHERE u.snapshot_id = ?""",
            [active, ctx.holdings.snapshot_id]).fetchone()
        members, unused = (int(row[0]), int(row[1])) if row else (0, 0)
        if not unused:
            return []
        return [make_finding(
            self.key, "unused_seats", Severity.INFO,
            f"{unused} of {members} members had no recorded use of Claude in the period",
            {"metric": "seat_utilization"}, None,
            f"{unused} members of the directory snapshot taken nearest the period end used no "
            f"Claude feature between {ctx.period.start} and {ctx.period.end}. Seat "
            "utilisation is an adoption signal; dormancy is assessed by EV03.",
            [])]

    def _low_adoption(self, ctx: EvidenceContext,
                      metrics: dict[str, int | float | str | None]) -> list[Finding]:
        """Info: monthly adoption below half of the assigned seats at the period end."""
        rate = metrics.get("adoption_rate_pct")
        if not isinstance(rate, float) or rate >= 50.0:
            return []
        return [make_finding(
            self.key, "low_adoption", Severity.INFO,
            f"Monthly adoption is {rate}% of assigned seats at the period end",
            {"metric": "adoption_rate"}, None,
            "Fewer than half of the assigned seats were active in the 30 days ending on the "
            f"last held day of {ctx.period.label()}: enablement and training may not have "
            "reached staff (a proxy only; training records are kept outside Claude).", [])]


# -- the daily series ----------------------------------------------------------------------


def _series(ctx: EvidenceContext, source: str) -> list[_Day]:
    """The DAU/WAU/MAU/seats series for the period from the chosen source."""
    first, last = period_days(ctx)
    if source == "summaries":
        rows = ctx.con.execute("""
            SELECT day, daily_active_users, weekly_active_users, monthly_active_users,
                   assigned_seats, pending_invites
            FROM an_summaries WHERE day BETWEEN ? AND ? ORDER BY day""", [first, last]).fetchall()
        return [_Day(*r) for r in rows]
    if source == "users":
        active = f"SELECT DISTINCT day, user_id FROM ({_USER_DAYS}) WHERE {_ACTIVE}"
        params: list[Any] = [first - timedelta(days=29), last]
    else:
        usage = of_types(_usage_types(), present_types(ctx, lead_days=29))
        active = f"""SELECT DISTINCT timezone('UTC', created_at)::DATE AS day,
                            actor_user_id AS user_id
            FROM {usage} WHERE created_at >= ?::TIMESTAMPTZ - INTERVAL 29 DAYS
              AND created_at < ? AND actor_type = 'user_actor' AND actor_user_id IS NOT NULL"""
        params = period_bounds(ctx)
    seats = _directory_seats(ctx)
    # Rolling windows as the API defines them (7 and 30 days ending on and including the day),
    # with one NULL-user row per calendar day so days nobody was active still appear.
    rows = ctx.con.execute(f"""
        WITH a AS ({active}),
        cal AS (SELECT unnest(generate_series(?::DATE - 29, ?::DATE, INTERVAL 1 DAY))::DATE
                       AS day, NULL::VARCHAR AS user_id),
        x AS (SELECT * FROM a UNION ALL SELECT * FROM cal),
        w AS (SELECT day, user_id,
                count(DISTINCT user_id) OVER (ORDER BY day RANGE BETWEEN INTERVAL 6 DAYS
                                              PRECEDING AND CURRENT ROW) AS wau,
                count(DISTINCT user_id) OVER (ORDER BY day RANGE BETWEEN INTERVAL 29 DAYS
                                              PRECEDING AND CURRENT ROW) AS mau
              FROM x)
        SELECT day, count(DISTINCT user_id), max(wau), max(mau) FROM w
        WHERE day BETWEEN ? AND ? GROUP BY day ORDER BY day""",
        [*params, first, last, first, last]).fetchall()
    return [_Day(r[0], int(r[1]), int(r[2]), int(r[3]), seats, None) for r in rows]


@cache
def _usage_types() -> tuple[str, ...]:
    """Feed types that show a person using Claude (not signing in, not app-load views)."""
    out: list[str] = []
    low = set(types_where(relevance="Low"))
    for category in _USAGE_CATEGORIES:
        out.extend(t for t in types_where(category=category) if t not in low)
    return tuple(sorted(out))


def _directory_seats(ctx: EvidenceContext) -> int | None:
    """Members in the directory snapshot: the seat count when summaries are missing."""
    if ctx.holdings.snapshot_id is None:
        return None
    row = ctx.con.execute("SELECT count(DISTINCT user_id) FROM dir_users WHERE snapshot_id = ?",
                          [ctx.holdings.snapshot_id]).fetchone()
    return int(row[0]) if row else None


def _series_table(series: list[_Day]) -> Table:
    """The series as a table, with daily and monthly adoption in percent of seats."""
    return table("adoption_series", "Daily, weekly and monthly active users and seats",
                 [("day", "date"), ("dau", "int"), ("wau", "int"), ("mau", "int"),
                  ("seats", "int"), ("pending_invites", "int"),
                  ("daily_adoption_pct", "float"), ("monthly_adoption_pct", "float")],
                 [(d.day, d.dau, d.wau, d.mau, d.seats, d.pending, pct(d.dau, d.seats),
                   pct(d.mau, d.seats)) for d in series])


def _chart(series: list[_Day]) -> dict[str, Any]:
    """Line-chart data: one row per day (ISO date strings keep the JSON canonical)."""
    return {"kind": "line", "x": "day", "y": ["dau", "wau", "mau", "seats"],
            "rows": [{"day": d.day.isoformat(), "dau": d.dau, "wau": d.wau, "mau": d.mau,
                      "seats": d.seats} for d in series]}


def _series_metrics(series: list[_Day], source: str) -> dict[str, int | float | str | None]:
    """Averages, peaks and the last held day's figures of the series."""
    dau = [d.dau for d in series if d.dau is not None]
    daily = [p for d in series if (p := pct(d.dau, d.seats)) is not None]
    last = series[-1] if series else None
    return {
        "series_source": source,
        "series_days": len(series),
        "dau_avg": round(sum(dau) / len(dau), 1) if dau else None,
        "dau_peak": max(dau) if dau else None,
        "wau_latest": last.wau if last else None,
        "mau_latest": last.mau if last else None,
        "seats_latest": last.seats if last else None,
        "pending_invites_latest": last.pending if last else None,
        "adoption_rate_pct": pct(last.mau, last.seats) if last else None,
        "daily_adoption_avg_pct": round(sum(daily) / len(daily), 1) if daily else None,
    }


# -- who was active, breadth, groups ---------------------------------------------------------


def _users_breadth(ctx: EvidenceContext) -> tuple[list[str], Table, float | None]:
    """Active users, users and user-days per feature, and mean features per active user.

    One pass over the users report: per-user flags are aggregated in DuckDB and only one row
    per user comes back (the active ids are needed for the group and seat joins).
    """
    flags = ", ".join(f"bool_or({cond}) AS f{i}, count(*) FILTER (WHERE {cond}) AS d{i}"
                      for i, (_, cond) in enumerate(_FEATURES))
    rows = ctx.con.execute(f"""
        SELECT user_id, {flags} FROM ({_USER_DAYS}) WHERE {_ACTIVE}
        GROUP BY user_id ORDER BY user_id""", list(period_days(ctx))).fetchall()
    active = [r[0] for r in rows]
    out = []
    for i, (name, _) in enumerate(_FEATURES):
        users = sum(1 for r in rows if r[1 + 2 * i])
        days = sum(int(r[2 + 2 * i] or 0) for r in rows)
        out.append((name, users, pct(users, len(active)), days))
    per_user = (round(sum(sum(1 for i in range(len(_FEATURES)) if r[1 + 2 * i]) for r in rows)
                      / len(rows), 2) if rows else None)
    return (active, table("feature_breadth", "Users per feature over the period (Analytics "
                          "users report)", [("feature", "str"), ("users", "int"),
                                            ("pct_of_active", "float"), ("user_days", "int")],
                          out), per_user)


def _feed_active(ctx: EvidenceContext) -> list[str]:
    """Users with usage events in the feed during the period (the users report is missing)."""
    usage = of_types(_usage_types(), present_types(ctx))
    rows = ctx.con.execute(f"""
        SELECT DISTINCT actor_user_id FROM {usage} WHERE created_at >= ? AND created_at < ?
        AND actor_type = 'user_actor' AND actor_user_id IS NOT NULL ORDER BY 1""",
        period_bounds(ctx)).fetchall()
    return [r[0] for r in rows]


def _feed_breadth(ctx: EvidenceContext) -> Table:
    """Breadth counted from feed events by category, when the users report is missing."""
    usage = set(_usage_types())
    cases = " ".join(
        f"WHEN {sql_in('type', [t for t in types_where(category=c) if t in usage])} THEN '{c}'"
        for c in _USAGE_CATEGORIES)
    rows = ctx.con.execute(f"""
        SELECT CASE {cases} END AS area, count(DISTINCT actor_user_id), count(*)
        FROM {of_types(usage, present_types(ctx))}
        WHERE created_at >= ? AND created_at < ? AND actor_type = 'user_actor'
        GROUP BY 1 ORDER BY 1""", period_bounds(ctx)).fetchall()
    return table("feature_breadth", "Users per feature area over the period (activity feed)",
                 [("feature", "str"), ("users", "int"), ("events", "int")], rows)


def _catalogue_counts(ctx: EvidenceContext) -> dict[str, int | float | str | None]:
    """Distinct connectors and skills in use during the period (Analytics A4/A5)."""
    first, last = period_days(ctx)
    row = ctx.con.execute("""
        SELECT (SELECT count(DISTINCT connector_name) FROM an_connectors
                WHERE day BETWEEN ? AND ? AND coalesce(distinct_users, 0) > 0),
               (SELECT count(DISTINCT skill_name) FROM an_skills
                WHERE day BETWEEN ? AND ? AND coalesce(distinct_users, 0) > 0)""",
        [first, last, first, last]).fetchone()
    return {"connectors_in_use": int(row[0]) if row else 0,
            "skills_in_use": int(row[1]) if row else 0}


def _by_group(ctx: EvidenceContext, active: list[str]) -> Table:
    """Members and active members per group of the directory snapshot."""
    rows = ctx.con.execute("""
        WITH active AS (SELECT unnest(?::VARCHAR[]) AS user_id),
        m AS (SELECT DISTINCT group_id, user_id FROM dir_group_members WHERE snapshot_id = ?),
        g AS (SELECT group_id, max(name) AS name FROM dir_groups WHERE snapshot_id = ?
              GROUP BY group_id)
        SELECT m.group_id, g.name, count(*) AS members, count(a.user_id) AS active
        FROM m LEFT JOIN active a USING (user_id) LEFT JOIN g USING (group_id)
        GROUP BY m.group_id, g.name ORDER BY m.group_id""",
        [active, ctx.holdings.snapshot_id, ctx.holdings.snapshot_id]).fetchall()
    return table("adoption_by_group", "Adoption per group (membership at the directory snapshot)",
                 [("group_id", "str"), ("group", "str"), ("members", "int"),
                  ("active_members", "int"), ("adoption_pct", "float")],
                 [(r[0], r[1], r[2], r[3], pct(r[3], r[2])) for r in rows])


_SOURCE_TEXT = {
    "summaries": "the Analytics summaries report (A2), as the API computes DAU/WAU/MAU",
    "users": "distinct active users counted from the Analytics users report (A1), because "
             "summaries are not held for the whole period",
    "feed": "distinct users with usage events counted from the activity feed, because neither "
            "Analytics summaries nor the users report are held for the whole period",
}

_METHOD = (
    "Daily active, weekly (7-day rolling) and monthly (30-day rolling) active users and assigned "
    "seats for each day of the period come from {source}. Adoption rate = MAU / assigned seats "
    "on the last held day; seat utilisation = distinct users active at least once in the period / "
    "assigned seats. Feature breadth counts the users who used each feature (chat, Claude Code, "
    "Cowork, connectors, skills, files, projects, Office) at least once; per-group adoption joins "
    "group membership from the directory snapshot nearest the period end.")


def _limitations(source: str, users_ok: bool) -> list[str]:
    """What the figures cannot show, given the source used."""
    notes = ["Adoption is a proxy for AI literacy only: training completions and competence "
             "assessments are kept outside Claude (LMS) and must be supplied by management.",
             "Analytics figures may be revised by a few percent in the days after a day is "
             "first published; the store keeps the latest fetch of each day."]
    if source != "summaries":
        notes.append(f"Summaries were not held for the whole period: the series was counted "
                     f"from the {'users report' if source == 'users' else 'activity feed'}. "
                     "Seats then come from the directory snapshot and pending invites are "
                     "unknown; rolling windows that reach before the held data undercount.")
    if not users_ok:
        notes.append("Feature breadth needs the Analytics users report; without it, feature "
                     "areas are counted from feed events (Claude Code and Cowork use on local "
                     "machines does not appear there).")
    notes.append("Per-group adoption uses group membership at the directory snapshot, not the "
                 "membership each day of the period.")
    return notes


ITEM = AiAdoption()
