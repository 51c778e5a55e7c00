"""EV11 Off-hours access: activity outside working hours, off-hours clusters, first-seen IPs.

Working hours come from the policy (`working_hours` in `time_zone`; DuckDB converts each event
with `timezone()`, so daylight saving is handled per event). Only events of signed-in users
count (`actor_user_id`), so API keys, SCIM and failed sign-ins stay out.

A cluster is at least `CLUSTER_MIN_EVENTS` off-hours events by one user within
`CLUSTER_WINDOW_MINUTES`; off-hours events closer than the window belong to the same cluster.
It is high when the user's own history (±`HISTORY_DAYS` days, the cluster's days left out)
shows off-hours activity on fewer than `HABIT_DAYS` days: a night session by someone who never
works at night. The same cluster by a habitual late worker is low; scattered off-hours events
are info, one finding per user.
"""

from __future__ import annotations

from datetime import time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from auditpack.evidence._common import feed_pages, insufficient, lineage
from auditpack.evidence._detect import (
    DAY_US,
    HOUR_US,
    cap,
    feed_gap,
    iso,
    local_us_sql,
    severity_counts,
    sort_findings,
    status_of,
    utc,
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

CLUSTER_MIN_EVENTS = 8  # "about ten" events in one sitting
CLUSTER_WINDOW_MINUTES = 120
HISTORY_DAYS = 30  # before the period start (and all of the period) makes a user's history
HABIT_DAYS = 3  # off-hours activity on this many other days makes it a habit, not an anomaly
LEARNING_DAYS = 14  # an address first seen before the feed holds this much history is not "new"


class OffHoursAccess(EvidenceItem):
    """EV11: who works outside working hours, and night sessions out of character."""

    id = "EV11"
    key = "off_hours_access"
    title = "Insider threat indicators (off-hours access)"

    def compute(self, ctx: EvidenceContext) -> EvidenceResult:
        """Off-hours events per user, clusters against the user's own history, new addresses."""
        gap = feed_gap(ctx) or _zone_problem(ctx.policy.time_zone)
        if gap is not None:
            return insufficient(self, gap)
        with_flags = _flagged_sql(ctx)
        clusters = _clusters(ctx, with_flags)
        per_user = _per_user(ctx, with_flags)
        first_seen = _first_seen_ips(ctx)
        new_pairs = {(r[0], r[2]) for r in first_seen}
        findings = [_cluster_finding(self.key, ctx, c, new_pairs) for c in clusters]
        in_cluster = {c[0] for c in clusters}
        findings += [_scattered_finding(self.key, ctx, u) for u in per_user
                     if u[0] not in in_cluster]
        findings = sort_findings(findings)
        metrics: dict[str, int | float | str | None] = {
            "off_hours_events": sum(u[2] for u in per_user),
            "users_off_hours": len(per_user),
            "off_hours_clusters": len(clusters),
            "clusters_out_of_character": sum(1 for c in clusters if c[9] < HABIT_DAYS),
            "first_seen_ips": len(first_seen), "time_zone": ctx.policy.time_zone,
            "working_hours": _hours_label(ctx), **severity_counts(findings)}
        pages = feed_pages(ctx, "actor_user_id IS NOT NULL")
        return EvidenceResult(
            self.id, self.key, self.title, status_of(findings), Coverage.FULL, metrics=metrics,
            tables=[_clusters_table(clusters), _per_user_table(per_user),
                    _first_seen_table(first_seen)],
            charts={"activity_by_local_hour": _hour_chart(ctx, with_flags)}, findings=findings,
            lineage=lineage(ctx, pages, ["compliance"]),
            method=(f"Events of signed-in users converted to {ctx.policy.time_zone} and compared "
                    f"with working hours {_hours_label(ctx)}. A cluster is ≥ "
                    f"{CLUSTER_MIN_EVENTS} off-hours events within {CLUSTER_WINDOW_MINUTES} "
                    f"minutes; it is high when the user was active off hours on fewer than "
                    f"{HABIT_DAYS} other days of the period and the {HISTORY_DAYS} days before. "
                    f"First-seen IPs are user/address pairs first seen in the period, after "
                    f"{LEARNING_DAYS} days of held history."),
            limitations=[
                "One time zone and one working-hours window apply to everyone; per-user or "
                "per-team schedules are a manual input.",
                "Activity only appears when the user acts in Claude; an idle open session is "
                "invisible.",
            ])


def _zone_problem(zone: str) -> str | None:
    """Why the policy's time zone cannot be used, or None."""
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        return f"the policy time zone {zone!r} is not a known IANA time zone"
    return None


def _hours_label(ctx: EvidenceContext) -> str:
    """`Mon–Fri 08:00–19:00`-style label of the policy's working hours."""
    names = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
    wh = ctx.policy.working_hours
    days = ",".join(names[d] for d in sorted(wh.days))
    return f"{days} {wh.start:%H:%M}–{wh.end:%H:%M}"


def _off_sql(ctx: EvidenceContext, lus: str) -> str:
    """SQL: whether the local time `lus` (microseconds) is outside working hours.

    Day of week from the local day number (1970-01-01 was a Thursday, Monday = 0); time of day
    from the remainder; a window whose end is not after its start runs over midnight.
    """
    wh = ctx.policy.working_hours
    days = ", ".join(str(int(d)) for d in sorted(wh.days)) or "-1"
    start, end = _micros(wh.start), _micros(wh.end)
    tod = f"({lus} % {DAY_US})"
    inside = (f"({tod} >= {start} AND {tod} < {end})" if start < end
              else f"({tod} >= {start} OR {tod} < {end})")
    return f"NOT ((({lus} // {DAY_US} + 3) % 7) IN ({days}) AND {inside})"


def _micros(moment: time) -> int:
    """Microseconds since midnight of a policy time."""
    return ((moment.hour * 60 + moment.minute) * 60 + moment.second) * 1_000_000


def _local_sql(ctx: EvidenceContext, column: str = "created_at") -> str:
    """SQL: local wall-clock microseconds of `column` in the policy's zone."""
    lower = ctx.period.start_at - timedelta(days=HISTORY_DAYS)
    return local_us_sql(ctx, ctx.policy.time_zone, lower, ctx.period.end_at, column)


def _flagged_sql(ctx: EvidenceContext) -> str:
    """A subquery: user events of history + period, with local time and an `off` flag.

    Columns: id, created_at, u, email, ip, lus (local microseconds), ld (local day number),
    off. Bounds are literals so the subquery can be reused as it is.
    """
    lower = (ctx.period.start_at - timedelta(days=HISTORY_DAYS)).isoformat()
    upper = ctx.period.end_at.isoformat()
    return f"""(SELECT *, lus // {DAY_US} AS ld, {_off_sql(ctx, 'lus')} AS off
               FROM (SELECT id, created_at, actor_user_id AS u, actor_email AS email,
                            actor_ip AS ip, {_local_sql(ctx)} AS lus
                     FROM activities
                     WHERE actor_user_id IS NOT NULL
                       AND created_at >= TIMESTAMPTZ '{lower}'
                       AND created_at < TIMESTAMPTZ '{upper}'))"""


def _clusters(ctx: EvidenceContext, flagged: str) -> list[tuple[Any, ...]]:
    """Off-hours clusters in the period with the user's off-hours history outside them.

    Rows: user_id, email, events, peak, first_at, last_at, first_local, ids, ips, other_days,
    other_events, total_events.
    """
    window = CLUSTER_WINDOW_MINUTES
    sql = f"""
        WITH o AS (SELECT * FROM {flagged} WHERE off AND created_at >= ?),
        w AS (
            SELECT *,
                   count(*) OVER (PARTITION BY u ORDER BY created_at
                                  RANGE BETWEEN INTERVAL {window} MINUTE PRECEDING
                                  AND CURRENT ROW) AS in_window,
                   CASE WHEN created_at - lag(created_at) OVER (PARTITION BY u
                                                              ORDER BY created_at, id)
                             <= INTERVAL {window} MINUTE THEN 0 ELSE 1 END AS starts
            FROM o),
        e AS (SELECT *, sum(starts) OVER (PARTITION BY u ORDER BY created_at, id
                                          ROWS UNBOUNDED PRECEDING) AS cluster FROM w)
        SELECT u, arg_max(email, created_at), count(*), max(in_window), min(created_at),
               max(created_at), make_timestamp(min(lus)), list(id ORDER BY created_at, id),
               list(DISTINCT ip ORDER BY ip) FILTER (WHERE ip IS NOT NULL), min(ld), max(ld)
        FROM e GROUP BY u, cluster HAVING max(in_window) >= ?
        ORDER BY min(created_at), u"""
    found = ctx.con.execute(sql, [ctx.period.start_at, CLUSTER_MIN_EVENTS]).fetchall()
    history = _history(ctx, flagged, sorted({r[0] for r in found}))
    out = []
    for *row, first_ld, last_ld in found:
        days = [(off, total) for ld, off, total in history.get(row[0], [])
                if not first_ld <= ld <= last_ld]
        out.append((*row, sum(1 for off, _ in days if off), sum(off for off, _ in days),
                    sum(total for _, total in days)))
    return out


def _history(ctx: EvidenceContext, flagged: str, users: list[str]
             ) -> dict[str, list[tuple[int, int, int]]]:
    """Per user: (local day, off-hours events, events) over history and period."""
    if not users:
        return {}
    rows = ctx.con.execute(f"""
        SELECT u, ld, count(*) FILTER (WHERE off), count(*) FROM {flagged}
        WHERE u IN (SELECT unnest(?::VARCHAR[])) GROUP BY 1, 2 ORDER BY 1, 2""",
                           [users]).fetchall()
    out: dict[str, list[tuple[int, int, int]]] = {}
    for user, ld, off, total in rows:
        out.setdefault(user, []).append((int(ld), int(off), int(total)))
    return out


def _cluster_finding(evidence: str, ctx: EvidenceContext, row: tuple[Any, ...],
                     new_pairs: set[tuple[str, str]]) -> Finding:
    """HIGH when out of character for the user, LOW when they often work off hours."""
    user, email, events, _peak, first_at, last_at, first_local, ids, ips, days, others, total = row
    new = [ip for ip in ips or [] if (user, ip) in new_pairs]
    first_at, last_at = utc(first_at), utc(last_at)
    habitual = days >= HABIT_DAYS
    minutes = int((last_at - first_at).total_seconds() // 60) + 1
    history = (f"they were active off hours on {days} other day(s) ({others} of {total} events) "
               f"in the period and the {HISTORY_DAYS} days before")
    detail = (f"{email or user} was active {events} times off hours within {minutes} minutes, "
              f"from {first_local:%A %Y-%m-%d %H:%M} local time ({ctx.policy.time_zone}; "
              f"{iso(first_at)}), from {', '.join(ips or []) or 'unknown addresses'}"
              + (f" (first seen for this user in the period: {', '.join(new)})" if new else "")
              + f"; {history}.")
    title = (f"Off-hours session of {events} events by {email or user} on "
             f"{first_local:%a %Y-%m-%d %H:%M} local")
    return make_finding(evidence, "off_hours_cluster", Severity.LOW if habitual else Severity.HIGH,
                        title, {"user_id": user, "email": email or ""}, first_at,
                        detail + (" A habit, not an anomaly." if habitual else
                                  " Out of character for this user."), cap(ids))


def _per_user(ctx: EvidenceContext, flagged: str) -> list[tuple[Any, ...]]:
    """Users with off-hours events in the period.

    Rows: user_id, email, off_events, off_days, total_events, first_off_at, ids. Only the
    off-hours events are grouped; the users' totals come from a second, filtered pass.
    """
    rows = ctx.con.execute(f"""
        SELECT u, arg_max(email, created_at), count(*), count(DISTINCT ld), min(created_at),
               list(id ORDER BY created_at, id)
        FROM {flagged} WHERE off AND created_at >= ?
        GROUP BY u ORDER BY 3 DESC, 1""", [ctx.period.start_at]).fetchall()
    if not rows:
        return []
    totals = dict(ctx.con.execute(
        "SELECT actor_user_id, count(*) FROM activities WHERE created_at >= ? "
        "AND created_at < ? AND actor_user_id IN (SELECT unnest(?::VARCHAR[])) GROUP BY 1",
        [ctx.period.start_at, ctx.period.end_at, [r[0] for r in rows]]).fetchall())
    return [(u, email, off, days, totals.get(u, off), first, ids)
            for u, email, off, days, first, ids in rows]


def _scattered_finding(evidence: str, ctx: EvidenceContext, row: tuple[Any, ...]) -> Finding:
    """INFO: off-hours events that form no cluster."""
    user, email, events, days, total, first_at, ids = row
    return make_finding(
        evidence, "off_hours_scattered", Severity.INFO,
        f"{events} off-hours event(s) by {email or user} on {days} day(s)",
        {"user_id": user, "email": email or ""}, utc(first_at),
        f"{email or user} acted {events} of {total} times outside working hours "
        f"({_hours_label(ctx)}, {ctx.policy.time_zone}) on {days} day(s) of the period, never "
        f"{CLUSTER_MIN_EVENTS} or more within {CLUSTER_WINDOW_MINUTES} minutes.", cap(ids, 20))


def _first_seen_ips(ctx: EvidenceContext) -> list[tuple[Any, ...]]:
    """User/address pairs first seen in the period, once the feed holds enough history."""
    rows = ctx.con.execute(f"""
        WITH pairs AS (
            SELECT actor_user_id AS u, actor_ip AS ip, min(created_at) AS first_at
            FROM activities
            WHERE actor_user_id IS NOT NULL AND actor_ip IS NOT NULL AND created_at < ?
            GROUP BY 1, 2),
        learned AS (SELECT min(created_at) + INTERVAL {LEARNING_DAYS} DAY AS since
                    FROM activities),
        new AS (SELECT p.* FROM pairs p CROSS JOIN learned l
                WHERE p.first_at >= ? AND p.first_at >= l.since)
        SELECT n.u, arg_min(a.actor_email, a.id), n.ip, n.first_at,
               {_off_sql(ctx, _local_sql(ctx, 'n.first_at'))}, min(a.id)
        FROM new n JOIN activities a
          ON a.actor_user_id = n.u AND a.actor_ip = n.ip AND a.created_at = n.first_at
        WHERE a.created_at >= ? AND a.created_at < ?
        GROUP BY n.u, n.ip, n.first_at
        ORDER BY n.first_at, n.u, n.ip""",
                           [ctx.period.end_at, ctx.period.start_at, ctx.period.start_at,
                            ctx.period.end_at]).fetchall()
    return [tuple(r) for r in rows]


def _clusters_table(clusters: list[tuple[Any, ...]]) -> Table:
    """One row per off-hours cluster."""
    return Table("off_hours_clusters", "Off-hours sessions (clusters)",
                 [Column("user_id", "str"), Column("email", "str"), Column("events", "int"),
                  Column("first_at", "datetime"), Column("last_at", "datetime"),
                  Column("local_start", "str"), Column("ips", "str"),
                  Column("other_off_hours_days", "int"), Column("out_of_character", "bool")],
                 [(c[0], c[1], c[2], utc(c[4]), utc(c[5]), f"{c[6]:%Y-%m-%d %H:%M}",
                   ", ".join(c[8] or []), c[9],
                   c[9] < HABIT_DAYS) for c in clusters])


def _per_user_table(per_user: list[tuple[Any, ...]]) -> Table:
    """Off-hours activity per user."""
    return Table("off_hours_by_user", "Off-hours activity per user",
                 [Column("user_id", "str"), Column("email", "str"),
                  Column("off_hours_events", "int"), Column("off_hours_days", "int"),
                  Column("events", "int"), Column("share", "float")],
                 [(u[0], u[1], u[2], u[3], u[4], round(u[2] / u[4], 4) if u[4] else None)
                  for u in per_user])


def _first_seen_table(rows: list[tuple[Any, ...]]) -> Table:
    """New user/address pairs of the period."""
    return Table("first_seen_ips", "IP addresses first seen for a user in the period",
                 [Column("user_id", "str"), Column("email", "str"), Column("ip", "str"),
                  Column("first_at", "datetime"), Column("off_hours", "bool"),
                  Column("activity_id", "str")],
                 [(r[0], r[1], r[2], utc(r[3]), bool(r[4]), r[5]) for r in rows])


def _hour_chart(ctx: EvidenceContext, flagged: str) -> dict[str, Any]:
    """Events per local hour of day, split into working days and other days."""
    days = ", ".join(str(int(d)) for d in sorted(ctx.policy.working_hours.days)) or "-1"
    rows = ctx.con.execute(f"""
        SELECT lus % {DAY_US} // {HOUR_US}, ((ld + 3) % 7) IN ({days}), count(*)
        FROM {flagged} WHERE created_at >= ? GROUP BY 1, 2""",
                           [ctx.period.start_at]).fetchall()
    working = {h: n for h, workday, n in rows if workday}
    other = {h: n for h, workday, n in rows if not workday}
    return {"type": "bar", "x": list(range(24)),
            "series": {"working_days": [working.get(h, 0) for h in range(24)],
                       "other_days": [other.get(h, 0) for h in range(24)]}}


ITEM = OffHoursAccess()
