"""Building an EvidenceContext from the store's database: what is held, for which period."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import duckdb

from auditpack.evidence.interface import (
    EvidenceContext,
    Holdings,
    Period,
    Policy,
    WorkingHours,
)

_DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def holdings(con: duckdb.DuckDBPyConnection, period: Period) -> Holdings:
    """What the store holds that bears on `period`.

    The directory snapshot chosen is the one observed nearest the period end, on either side
    (the state the period closed with); on a tie, the earlier one.
    """
    held = Holdings()
    for report, first, last in con.execute(
            "SELECT report, min(day), max(day) FROM analytics_days GROUP BY report").fetchall():
        held.analytics_days[report] = (first, last)
    row = con.execute("SELECT count(*), count(lower), min(lower), max(upper) "
                      "FROM feed_windows").fetchone()
    if row and row[0]:
        lower = row[2] if row[1] == row[0] else datetime.min.replace(tzinfo=UTC)
        held.feed_covered = (lower.astimezone(UTC), row[3].astimezone(UTC))
        first = con.execute("SELECT min(created_at) FROM activities").fetchone()
        held.feed_first_event = first[0].astimezone(UTC) if first and first[0] else None
    snap = con.execute("""
        SELECT snapshot_id, as_of FROM dir_observations
        ORDER BY abs(epoch(as_of) - epoch(?::TIMESTAMPTZ)), as_of
        LIMIT 1""", [period.end_at]).fetchone()
    if snap:
        held.snapshot_id, held.snapshot_as_of = snap[0], snap[1].astimezone(UTC)
    return held


def policy_from_config(values: dict[str, Any]) -> Policy:
    """A Policy from the `[policy]` table of auditpack.toml (validated by the caller)."""
    from datetime import time

    hours = values.get("working_hours") or {}
    days = tuple(_DAY_NAMES.index(str(d).lower()[:3]) for d in hours.get("days", [])) or (
        0, 1, 2, 3, 4)
    working = WorkingHours(start=time.fromisoformat(hours.get("start", "07:00")),
                           end=time.fromisoformat(hours.get("end", "20:00")), days=days)

    def names(key: str) -> tuple[str, ...] | None:
        value = values.get(key)
        return None if value is None else tuple(str(v) for v in value)

    return Policy(
        dormant_days=int(values.get("dormant_days", 90)),
        key_rotation_days=int(values.get("key_rotation_days", 90)),
        termination_revocation_max_hours=int(values.get("termination_revocation_max_hours", 24)),
        time_zone=str(values.get("time_zone", "UTC")),
        working_hours=working,
        approved_connectors=names("approved_connectors"),
        approved_skills=names("approved_skills"),
        restricted_workspaces=names("restricted_workspaces") or (),
        restricted_projects=names("restricted_projects") or (),
        restricted_groups=names("restricted_groups") or (),
        download_burst_sensitivity=float(values.get("download_burst_sensitivity", 3.0)),
        failed_login_burst=int(values.get("failed_login_burst", 10)),
        failed_login_window_minutes=int(values.get("failed_login_window_minutes", 15)),
        settings_baseline=dict(values.get("settings_baseline", {})),
        cost_centres={str(k): str(v) for k, v in (values.get("cost_centres") or {}).items()},
        log_retention_min_days=int(values.get("log_retention_min_days", 365)),
        access_review_max_interval_days=int(values.get("access_review_max_interval_days", 92)),
        revocation_deadline_days=int(values.get("revocation_deadline_days", 14)),
    )


def build_context(con: duckdb.DuckDBPyConnection, period: Period, policy: Policy,
                  as_of: datetime | None = None) -> EvidenceContext:
    """An EvidenceContext over an open (read-only) connection to the store's database."""
    held = holdings(con, period)
    if as_of is None:
        latest = held.feed_covered[1] if held.feed_covered else None
        as_of = latest or datetime.combine(period.end, datetime.max.time(), UTC)
    return EvidenceContext(con=con, period=period, policy=policy, holdings=held, as_of=as_of)


def parse_period(text: str) -> Period:
    """`2026-Q3`, `2026-07` or `2026-07-01..2026-09-30` as a Period."""
    from auditpack.errors import UsageError

    text = text.strip()
    try:
        if ".." in text:
            first, last = text.split("..", 1)
            period = Period(date.fromisoformat(first), date.fromisoformat(last))
        elif "-Q" in text.upper():
            year_text, quarter = text.upper().split("-Q")
            year, q = int(year_text), int(quarter)
            if q not in (1, 2, 3, 4):
                raise ValueError
            start = date(year, 3 * q - 2, 1)
            end = date(year + (q == 4), 1 if q == 4 else 3 * q + 1, 1)
            period = Period(start, date.fromordinal(end.toordinal() - 1))
        else:
            year, month = (int(p) for p in text.split("-"))
            start = date(year, month, 1)
            nxt = date(year + (month == 12), 1 if month == 12 else month + 1, 1)
            period = Period(start, date.fromordinal(nxt.toordinal() - 1))
    except ValueError:
        raise UsageError(f"--period must look like 2026-Q3, 2026-09 or 2026-09-01..2026-11-20, "
                         f"not {text!r}") from None
    if period.end < period.start:
        raise UsageError(f"--period {text}: the end is before the start")
    return period
