"""EV10 File operations: uploads, exports, downloads and deletions per user, and egress bursts.

The exfiltration signal compares each user with their own baseline, never with other people:
a steady heavy exporter is normal for themselves. For every day a user was active, two numbers
are kept: files that left (exports + downloads) that day, and the most that left within any 60
minutes. The baseline of a day is the median of the same numbers over the user's other active
days within ±30 days (so it is defined from the first day of a period, using the days after it).
A day is anomalous when either number is at least `policy.download_burst_sensitivity` times the
baseline and at least `MIN_EGRESS_EVENTS` files; it is reported as one high finding per user
and day.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from auditpack.evidence._common import analytics_gap, feed_pages, insufficient, lineage
from auditpack.evidence._detect import (
    cap,
    daily_chart,
    day_number,
    feed_gap,
    iso,
    period_days,
    severity_counts,
    sort_findings,
    sql_list,
    status_of,
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

CATEGORIES: dict[str, tuple[str, ...]] = {
    "uploads": ("claude_file_uploaded", "claude_project_file_uploaded",
                "claude_project_document_uploaded", "platform_file_uploaded"),
    "exports": ("claude_file_exported",),
    "downloads": ("platform_file_content_downloaded",),
    "deletions": ("claude_file_deleted", "claude_project_file_deleted",
                  "claude_project_document_deleted", "platform_file_deleted"),
}
EGRESS = CATEGORIES["exports"] + CATEGORIES["downloads"]
FILE_TYPES = tuple(t for types in CATEGORIES.values() for t in types)
# Fewer files than this in a day (or an hour) is never a burst, whatever the baseline: a user
# who exports nothing on most days may still export a handful on one.
MIN_EGRESS_EVENTS = 10
BASELINE_DAYS = 30  # each side of the day
BURST_MINUTES = 60
# Feed and Analytics upload counts may differ by rounding at day edges; more is worth a note.
UPLOAD_TOLERANCE = 0.05


class FileOperations(EvidenceItem):
    """EV10: file traffic per user, and days far above a user's own baseline."""

    id = "EV10"
    key = "file_operations"
    title = "File operation log & exfiltration signal"

    def compute(self, ctx: EvidenceContext) -> EvidenceResult:
        """Per-user file operations, egress anomalies and the Analytics upload cross-check."""
        gap = feed_gap(ctx)
        if gap is not None:
            partial = analytics_gap(ctx, "users") is None
            return insufficient(self, gap, Coverage.PARTIAL if partial else Coverage.NONE)
        k = max(1.0, float(ctx.policy.download_burst_sensitivity))
        anomalies = _anomalies(ctx, k)
        findings = sort_findings(_finding(self.key, row, k) for row in anomalies)
        per_day = _per_user_day(ctx)
        metrics = _metrics(per_day)
        notes = _upload_check(ctx, metrics)
        metrics.update({"egress_anomalies": len(anomalies), "sensitivity": k,
                        "min_egress_events": MIN_EGRESS_EVENTS, **severity_counts(findings)})
        pages = feed_pages(ctx, f"type IN {sql_list(FILE_TYPES)}") + _analytics_pages(ctx)
        return EvidenceResult(
            self.id, self.key, self.title, status_of(findings), Coverage.FULL, metrics=metrics,
            tables=[_per_user_table(per_day), _anomaly_table(anomalies),
                    Table("file_operations_by_user_day", "File operations per user per day",
                          _DAY_COLUMNS, per_day)],
            charts={"file_operations_per_day": _chart(ctx, per_day)}, findings=findings,
            lineage=lineage(ctx, pages, ["compliance", "analytics"]
                            if metrics.get("uploads_analytics") is not None else ["compliance"]),
            method=(f"File activities of the feed per user and UTC day: uploads, exports, "
                    f"downloads, deletions. A day is anomalous when the files that left (exports "
                    f"+ downloads) that day, or within any {BURST_MINUTES} minutes, are at least "
                    f"{k:g}× the median of the user's other active days within ±{BASELINE_DAYS} "
                    f"days and at least {MIN_EGRESS_EVENTS}."),
            limitations=[
                "The baseline is the user's own: a user active on few days has a thin baseline, "
                f"and a user without other active days is judged by the floor of "
                f"{MIN_EGRESS_EVENTS} files alone.",
                "Exports to connected drives and downloads count alike; file content and size "
                "are not in the feed.",
                *notes])


def _anomalies(ctx: EvidenceContext, k: float) -> list[tuple[Any, ...]]:
    """User-days far above the user's own baseline.

    Rows: user_id, email, day, egress, peak, med_day, med_peak, other_days, first_at, ids.
    Days are UTC day numbers inside the query (integer arithmetic, cheap on millions of rows).
    Only users with a day that could qualify at all (≥ MIN_EGRESS_EVENTS files) get their
    active days counted and their medians computed; ids are fetched for flagged days only.
    """
    start = ctx.period.start_at - timedelta(days=BASELINE_DAYS)
    end = ctx.period.end_at + timedelta(days=BASELINE_DAYS)
    first, last = (_day_no(ctx.period.start), _day_no(ctx.period.end))
    sql = f"""
        WITH eg AS (
            SELECT actor_user_id AS u, {day_number('created_at')} AS d,
                   count(*) OVER (PARTITION BY actor_user_id ORDER BY created_at
                                  RANGE BETWEEN INTERVAL {BURST_MINUTES} MINUTE PRECEDING
                                  AND CURRENT ROW) AS in_window
            FROM activities
            WHERE type IN {sql_list(EGRESS)} AND actor_user_id IS NOT NULL
              AND created_at >= ? AND created_at < ?),
        peaks AS (SELECT u, d, count(*) AS n, max(in_window) AS peak FROM eg GROUP BY 1, 2),
        candidates AS (
            SELECT DISTINCT u FROM peaks
            WHERE d BETWEEN ? AND ? AND (peak >= ? OR n >= ?)),
        active AS (
            SELECT DISTINCT actor_user_id AS u, {day_number('created_at')} AS d
            FROM activities
            WHERE actor_user_id IN (SELECT u FROM candidates)
              AND created_at >= ? AND created_at < ?),
        days AS (
            SELECT a.u, a.d, coalesce(p.n, 0) AS egress, coalesce(p.peak, 0) AS peak
            FROM active a LEFT JOIN peaks p ON p.u = a.u AND p.d = a.d),
        base AS (
            SELECT *, median(egress) OVER w AS med_day, median(peak) OVER w AS med_peak,
                   count(*) OVER w AS other_days
            FROM days
            WINDOW w AS (PARTITION BY u ORDER BY d
                         RANGE BETWEEN {BASELINE_DAYS} PRECEDING AND {BASELINE_DAYS} FOLLOWING
                         EXCLUDE CURRENT ROW))
        SELECT u, d, egress, peak, med_day, med_peak, other_days
        FROM base
        WHERE d BETWEEN ? AND ?
          AND ((peak >= ? AND peak >= ? * coalesce(med_peak, 0))
               OR (egress >= ? AND egress >= ? * coalesce(med_day, 0)))
        ORDER BY d, u"""
    flagged = ctx.con.execute(sql, [start, end, first, last, MIN_EGRESS_EVENTS,
                                    MIN_EGRESS_EVENTS, start, end, first, last,
                                    MIN_EGRESS_EVENTS, k, MIN_EGRESS_EVENTS, k]).fetchall()
    events = _events_of(ctx, [(r[0], int(r[1])) for r in flagged])
    out = []
    for user, d, egress, peak, med_day, med_peak, others in flagged:
        email, first_at, ids = events.get((user, int(d)), (None, None, []))
        out.append((user, email, _EPOCH + timedelta(days=int(d)), egress, peak, med_day,
                    med_peak, others, first_at, ids))
    return out


def _events_of(ctx: EvidenceContext, days: list[tuple[str, int]]
               ) -> dict[tuple[str, int], tuple[Any, ...]]:
    """For flagged (user, day number) pairs: e-mail, first egress time, egress ids."""
    if not days:
        return {}
    rows = ctx.con.execute(f"""
        WITH f AS (SELECT unnest(?::VARCHAR[]) AS u, unnest(?::BIGINT[]) AS d)
        SELECT f.u, f.d, arg_max(a.actor_email, a.created_at), min(a.created_at),
               list(a.id ORDER BY a.created_at, a.id)
        FROM activities a JOIN f
          ON a.actor_user_id = f.u AND {day_number('a.created_at')} = f.d
        WHERE a.type IN {sql_list(EGRESS)} AND a.created_at >= ? AND a.created_at < ?
        GROUP BY 1, 2""", [[u for u, _ in days], [d for _, d in days], ctx.period.start_at,
                           ctx.period.end_at]).fetchall()
    return {(r[0], int(r[1])): (r[2], r[3], r[4]) for r in rows}


_EPOCH = date(1970, 1, 1)


def _day_no(day: date) -> int:
    """Days since 1970-01-01."""
    return (day - _EPOCH).days


def _finding(evidence: str, row: tuple[Any, ...], k: float) -> Finding:
    """HIGH: one user's egress on one day far above their own baseline."""
    user, email, day, egress, peak, med_day, med_peak, others, first_at, ids = row
    baseline = (f"their median on {others} other active day(s) within ±{BASELINE_DAYS} days is "
                f"{_num(med_day)} per day and {_num(med_peak)} within {BURST_MINUTES} minutes"
                if others else "they have no other active day to compare with")
    detail = (f"{email or user} exported or downloaded {egress} files on {day} (UTC), up to "
              f"{peak} within {BURST_MINUTES} minutes, the first at {iso(utc(first_at))}; "
              f"{baseline} (sensitivity {k:g}×).")
    return make_finding(evidence, "egress_burst", Severity.HIGH,
                        f"{email or user} exported/downloaded {egress} files on {day}",
                        {"user_id": user, "email": email or ""}, utc(first_at), detail, cap(ids))


def _num(value: Any) -> str:
    """A median for a sentence."""
    return "0" if value is None else f"{float(value):g}"


_DAY_COLUMNS = [Column("user_id", "str"), Column("email", "str"), Column("day", "date"),
                Column("uploads", "int"), Column("exports", "int"), Column("downloads", "int"),
                Column("deletions", "int")]


def _per_user_day(ctx: EvidenceContext) -> list[tuple[Any, ...]]:
    """(user_id, email, day, uploads, exports, downloads, deletions) for the period."""
    counts = ", ".join(f"count(*) FILTER (WHERE type IN {sql_list(types)})"
                       for types in CATEGORIES.values())
    rows = ctx.con.execute(f"""
        SELECT actor_user_id, arg_max(actor_email, created_at), {utc_day('created_at')} AS d,
               {counts}
        FROM activities
        WHERE type IN {sql_list(FILE_TYPES)} AND actor_user_id IS NOT NULL
          AND created_at >= ? AND created_at < ?
        GROUP BY 1, 3 ORDER BY 3, 1""", [ctx.period.start_at, ctx.period.end_at]).fetchall()
    return [tuple(r) for r in rows]


def _per_user_table(per_day: list[tuple[Any, ...]]) -> Table:
    """Totals per user over the period, heaviest egress first."""
    totals: dict[str, list[Any]] = {}
    for user, email, _day, up, ex, down, dele in per_day:
        row = totals.setdefault(user, [user, email, 0, 0, 0, 0, 0, 0])
        row[1] = email or row[1]
        row[2:6] = [row[2] + up, row[3] + ex, row[4] + down, row[5] + dele]
        row[6] += 1
        row[7] = max(row[7], ex + down)
    rows = sorted((tuple(r) for r in totals.values()), key=lambda r: (-(r[3] + r[4]), r[0]))
    return Table("file_operations_by_user", "File operations per user over the period",
                 [Column("user_id", "str"), Column("email", "str"), Column("uploads", "int"),
                  Column("exports", "int"), Column("downloads", "int"),
                  Column("deletions", "int"), Column("days_with_file_activity", "int"),
                  Column("max_egress_per_day", "int")], rows)


def _anomaly_table(anomalies: list[tuple[Any, ...]]) -> Table:
    """One row per anomalous user-day, with the baseline it was judged against."""
    rows = [(u, e, d, eg, pk, float(md) if md is not None else None,
             float(mp) if mp is not None else None, od, utc(fa))
            for u, e, d, eg, pk, md, mp, od, fa, _ids in anomalies]
    return Table("egress_anomalies", "Days far above the user's own export/download baseline",
                 [Column("user_id", "str"), Column("email", "str"), Column("day", "date"),
                  Column("files_out", "int"), Column("max_in_60_minutes", "int"),
                  Column("baseline_per_day", "float"), Column("baseline_per_hour", "float"),
                  Column("baseline_days", "int"), Column("first_at", "datetime")], rows)


def _metrics(per_day: list[tuple[Any, ...]]) -> dict[str, int | float | str | None]:
    """Period totals."""
    sums = [sum(r[i] for r in per_day) for i in range(3, 7)]
    return {"uploads": sums[0], "exports": sums[1], "downloads": sums[2], "deletions": sums[3],
            "users_with_file_activity": len({r[0] for r in per_day})}


def _chart(ctx: EvidenceContext, per_day: list[tuple[Any, ...]]) -> dict[str, Any]:
    """Organization totals per day and category."""
    series: dict[str, dict[date, int]] = {name: {} for name in CATEGORIES}
    for row in per_day:
        for offset, name in enumerate(CATEGORIES):
            series[name][row[2]] = series[name].get(row[2], 0) + row[3 + offset]
    return daily_chart(period_days(ctx.period.start, ctx.period.end), series, kind="bar")


def _analytics_pages(ctx: EvidenceContext) -> list[str]:
    """The archived Analytics users pages of the period (the upload cross-check)."""
    rows = ctx.con.execute("SELECT DISTINCT page_sha256 FROM an_users WHERE day BETWEEN ? AND ? "
                           "AND page_sha256 IS NOT NULL ORDER BY 1",
                           [ctx.period.start, ctx.period.end]).fetchall()
    return [r[0] for r in rows]


def _upload_check(ctx: EvidenceContext, metrics: dict[str, int | float | str | None]) -> list[str]:
    """Compare chat uploads in the feed with Analytics `distinct_files_uploaded_count`.

    Only days the Analytics users report holds are compared; the outcome is a coverage note.
    """
    row = ctx.con.execute(f"""
        WITH a AS (SELECT day, sum(files_uploaded) AS n FROM an_users
                   WHERE day BETWEEN ? AND ? GROUP BY 1),
             f AS (SELECT {utc_day('created_at')} AS day, count(*) AS n FROM activities
                   WHERE type = 'claude_file_uploaded' AND created_at >= ? AND created_at < ?
                   GROUP BY 1)
        SELECT count(*), sum(a.n), sum(coalesce(f.n, 0)) FROM a LEFT JOIN f USING (day)""",
                          [ctx.period.start, ctx.period.end, ctx.period.start_at,
                           ctx.period.end_at]).fetchone()
    days, analytics, feed = row or (0, None, None)
    if not days:
        metrics["uploads_analytics"] = None
        return ["Analytics per-user upload counts were not collected for the period: uploads "
                "rest on the feed alone."]
    metrics.update({"uploads_analytics": int(analytics or 0), "uploads_feed_compared": int(feed),
                    "upload_days_compared": days})
    if not analytics and not feed:
        return []
    gap = abs(int(analytics or 0) - int(feed)) / max(int(analytics or 0), int(feed))
    if gap > UPLOAD_TOLERANCE:
        return [f"Chat uploads differ between the feed ({feed}) and Analytics ({analytics}) on "
                f"the {days} day(s) both hold ({gap:.0%}): one of the two is incomplete."]
    return [f"Chat uploads agree between the feed ({feed}) and Analytics ({analytics}) on the "
            f"{days} day(s) both hold."]


ITEM = FileOperations()
