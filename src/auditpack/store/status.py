"""What the store holds: days and windows per source, gaps with reasons, unknown types."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from auditpack.store.store import Store


@dataclass
class ReportDays:
    """Analytics days held for one report."""

    report: str
    days: int
    first: date | None
    last: date | None
    missing: int  # days between first and last not held


@dataclass
class StoreStatus:
    """A summary of the store for `auditpack status` and evidence of completeness."""

    root: str
    analytics: list[ReportDays] = field(default_factory=list)
    gaps: list[dict[str, Any]] = field(default_factory=list)  # open gaps (not filled later)
    feed_windows: int = 0
    feed_first: datetime | None = None
    feed_last: datetime | None = None
    feed_holes: list[tuple[datetime, datetime]] = field(default_factory=list)
    activities: int = 0
    activities_first: datetime | None = None
    activities_last: datetime | None = None
    unknown_types: list[tuple[str, int]] = field(default_factory=list)
    snapshots: int = 0
    latest_snapshot_as_of: datetime | None = None
    members: list[tuple[str, int]] = field(default_factory=list)
    last_run: dict[str, Any] | None = None
    freshness_hours: float | None = None
    archive_responses: int = 0


def store_status(store: Store, now: datetime) -> StoreStatus:
    """Read the store (replaying the archive first) into a StoreStatus."""
    from auditpack.activity_catalog import known_types

    archive = store.archive()
    with store.locked():
        db = store.database()
        try:
            db.catch_up(archive)
            con = db.con
            status = StoreStatus(root=str(store.root))
            for report, days, first, last in con.execute(
                    "SELECT report, count(*), min(day), max(day) FROM analytics_days "
                    "GROUP BY report ORDER BY report").fetchall():
                missing = (last - first).days + 1 - days
                status.analytics.append(ReportDays(report, days, first, last, missing))
            status.gaps = [
                {"source": r[0], "report": r[1], "day": r[2], "reason": r[3], "detail": r[4]}
                for r in con.execute("""
                    SELECT DISTINCT g.source, g.report, g.day, g.reason, g.detail FROM gaps g
                    WHERE NOT EXISTS (SELECT 1 FROM analytics_days d
                                      WHERE d.report = g.report AND d.day = g.day)
                    ORDER BY g.report, g.day""").fetchall()]
            row = con.execute("SELECT count(*), min(lower), max(upper), count(*) - count(lower) "
                              "FROM feed_windows").fetchone()
            if row:
                status.feed_windows, status.feed_first, status.feed_last, unbounded = row
                if unbounded:
                    status.feed_first = None  # read from the feed's very beginning
            status.feed_holes = _holes(con.execute(
                "SELECT lower, upper FROM feed_windows ORDER BY lower NULLS FIRST").fetchall())
            row = con.execute("SELECT count(*), min(created_at), max(created_at) "
                              "FROM activities").fetchone()
            if row:
                status.activities, status.activities_first, status.activities_last = row
            known = known_types()
            status.unknown_types = [
                (t, n) for t, n in con.execute(
                    "SELECT type, count(*) FROM activities GROUP BY type ORDER BY type").fetchall()
                if t not in known]
            row = con.execute("SELECT count(*) FROM dir_snapshots").fetchone()
            status.snapshots = row[0] if row else 0
            latest = con.execute("SELECT snapshot_id, max(as_of) FROM dir_observations "
                                 "GROUP BY snapshot_id ORDER BY 2 DESC LIMIT 1").fetchone()
            if latest:
                status.latest_snapshot_as_of = latest[1]
                status.members = [(r[0], r[1]) for r in con.execute(
                    "SELECT o.name || ' (' || u.org_uuid || ')', count(*) FROM dir_users u "
                    "LEFT JOIN dir_organizations o ON o.snapshot_id = u.snapshot_id "
                    "AND o.org_uuid = u.org_uuid WHERE u.snapshot_id = ? "
                    "GROUP BY 1 ORDER BY 1", [latest[0]]).fetchall()]
            row = con.execute("SELECT count(*) FROM responses").fetchone()
            status.archive_responses = row[0] if row else 0
        finally:
            db.close()
    runs = [e for e in store.log.entries() if e.get("event") == "run_finished"]
    status.last_run = runs[-1] if runs else None
    if status.feed_last is not None:
        status.freshness_hours = round((now - status.feed_last).total_seconds() / 3600, 1)
    return status


def _holes(windows: list[tuple[Any, Any]]) -> list[tuple[datetime, datetime]]:
    """Stretches between the earliest and latest window that no window covers."""
    holes: list[tuple[datetime, datetime]] = []
    reach: datetime | None = None
    for lower, upper in windows:
        if reach is not None and lower is not None and lower > reach:
            holes.append((reach, lower))
        reach = upper if reach is None else max(reach, upper)
    return holes
