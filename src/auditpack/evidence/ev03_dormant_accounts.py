"""EV03 Dormant account identification: members who hold access but have not used it.

A member is dormant when, at the reference instant (the period end, or `as_of` if earlier), they
have belonged to the organization for at least `policy.dormant_days` and show no sign of life in
the last `dormant_days`: no activity-feed event as actor and no Analytics day with any use.
Each dormant member is a medium finding with the day and source they were last seen.

Proving a negative needs the whole window: if the history held (feed and Analytics together)
starts inside the window, the item says so, lowers the finding to low ("no activity in the days
held") and reports partial coverage; if the feed does not reach the window at all, it reports
`insufficient_data`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from auditpack.evidence._common import coverage_of, insufficient, lineage, snapshot_pages
from auditpack.evidence._identity import (
    ANALYTICS_ACTIVE,
    IDENTITY_EVENTS,
    ROSTER,
    chosen_snapshot,
    day_start,
    feed_start,
    fetch,
    reference_time,
    roster_params,
    snapshot_gap,
    snapshot_note,
    status_for,
    utc,
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

# Every member at the reference instant, once per person, with their last sign of life.
_PEOPLE = f"""
people AS (
    SELECT user_id, min(email) AS email, min(joined_at) AS joined_at,
           string_agg(DISTINCT role, ', ' ORDER BY role) AS roles,
           list(DISTINCT page_sha256) FILTER (WHERE page_sha256 IS NOT NULL) AS pages
    FROM roster GROUP BY user_id
),
feed AS (
    SELECT actor_user_id AS user_id, max(created_at) AS last_at FROM activities
    WHERE created_at < $ref AND actor_user_id IN (SELECT user_id FROM people)
    GROUP BY actor_user_id
),
analytics AS (
    SELECT user_id, max(day) AS last_day FROM an_users
    WHERE day < $ref_day AND {ANALYTICS_ACTIVE} AND user_id IN (SELECT user_id FROM people)
    GROUP BY user_id
),
assessed AS (
    SELECT p.*, f.last_at, a.last_day,
           (f.last_at IS NULL OR f.last_at < $window_start)
               AND (a.last_day IS NULL OR a.last_day < $window_day) AS dormant
    FROM people p LEFT JOIN feed f USING (user_id) LEFT JOIN analytics a USING (user_id)
    WHERE p.joined_at <= $joined_by
)"""

# The dormant members, each row carrying the counts of members and of members assessed.
_DORMANT = """
SELECT user_id, email, roles, joined_at, last_at, last_day, pages,
       (SELECT count(*) FROM people), (SELECT count(*) FROM people WHERE joined_at IS NULL),
       count(*) OVER ()
FROM assessed QUALIFY dormant ORDER BY user_id
"""
_COUNTS = """
SELECT (SELECT count(*) FROM people), (SELECT count(*) FROM people WHERE joined_at IS NULL),
       (SELECT count(*) FROM assessed)
"""

_COLUMNS = [Column("user_id", "str"), Column("email", "str"), Column("roles", "str"),
            Column("joined_at", "datetime"), Column("last_seen", "date"),
            Column("last_seen_source", "str"), Column("days_since_seen", "int")]


class DormantAccounts(EvidenceItem):
    """EV03: members with no activity for `policy.dormant_days`."""

    id = "EV03"
    key = "dormant_accounts"
    title = "Dormant account identification"

    def compute(self, ctx: EvidenceContext) -> EvidenceResult:
        """Find the members whose last sign of life is older than the dormancy window."""
        ref = reference_time(ctx)
        days = ctx.policy.dormant_days
        window_start = ref - timedelta(days=days)
        reason = snapshot_gap(ctx) or self._window_gap(ctx, window_start, ref)
        snap = chosen_snapshot(ctx)
        if reason is not None or snap is None:
            return insufficient(self, reason or "no Compliance API directory snapshot")
        held_from, held_to = self._history(ctx)
        full = held_from <= window_start and held_to >= ref
        params: dict[str, Any] = {
            **roster_params(snap, ref), "ref": ref, "ref_day": ref.date(),
            "window_start": window_start, "window_day": window_start.date(),
            "joined_by": window_start}
        ctes = with_ctes(IDENTITY_EVENTS, ROSTER, _PEOPLE)
        dormant = fetch(ctx, ctes + _DORMANT, **params)
        # without dormant members, the counts need a query of their own
        members, undated, assessed = (dormant[0][7:] if dormant
                                      else fetch(ctx, ctes + _COUNTS, **params)[0])
        rows = [_row(r, ref) for r in dormant]
        findings = [self._finding(r, d, full, held_from, days) for r, d in zip(rows, dormant,
                                                                               strict=True)]
        limitations = [*snapshot_note(ctx),
                       "Approved exceptions (an exception register) are a manual input and were "
                       "not provided: every dormant member is reported."]
        if not full:
            limitations.append(
                f"The history held (activity feed and Analytics together) runs from "
                f"{held_from:%Y-%m-%d} to {held_to:%Y-%m-%d}, not the whole {days}-day window "
                f"{window_start:%Y-%m-%d}..{ref:%Y-%m-%d}: members without activity are "
                "reported as 'no activity in the days held' (low), not as proven dormant.")
        if undated:
            limitations.append(f"{undated} member(s) have no account creation date and were "
                               "not assessed.")
        has_analytics = ctx.holdings.has_analytics("users")
        return EvidenceResult(
            self.id, self.key, self.title, status_for(findings, Severity.INFO),
            coverage_of(has_analytics, True, analytics_level=Coverage.PARTIAL,
                        compliance_level=Coverage.FULL if full else Coverage.PARTIAL,
                        combined_level=Coverage.FULL if full else Coverage.PARTIAL),
            metrics={"dormant_days": days, "window_start": window_start.isoformat(),
                     "window_end": ref.isoformat(), "history_held_from": held_from.isoformat(),
                     "members": members, "members_assessed": assessed,
                     "dormant_members": len(rows)},
            tables=[Table("dormant_members", f"Members without activity for {days} days",
                          _COLUMNS, rows)],
            findings=findings,
            lineage=lineage(ctx, snapshot_pages(ctx, "dir_users"),
                            ["compliance", "analytics"] if has_analytics else ["compliance"]),
            method=(f"Members at {ref:%Y-%m-%d %H:%M} UTC (the directory snapshot replayed "
                    "through membership activities) who joined at least "
                    f"{days} days earlier and have neither an activity-feed event as actor nor "
                    "an Analytics day with any use since "
                    f"{window_start:%Y-%m-%d %H:%M} UTC."),
            limitations=limitations)

    @staticmethod
    def _window_gap(ctx: EvidenceContext, window_start: datetime, ref: datetime) -> str | None:
        """Why the feed says nothing about the dormancy window, or None if it reaches it."""
        held = ctx.holdings.feed_covered
        start = feed_start(ctx)
        if held is None:
            return "the Compliance API activity feed was not collected"
        if start is None or start >= ref or held[1] <= window_start:
            return (f"the activity feed held does not cover the {ctx.policy.dormant_days} days "
                    f"before {ref:%Y-%m-%d}")
        return None

    @staticmethod
    def _history(ctx: EvidenceContext) -> tuple[datetime, datetime]:
        """The span over which the feed or the Analytics user report tells who was active."""
        start = feed_start(ctx)
        held = ctx.holdings.feed_covered
        assert start is not None and held is not None  # checked by _window_gap
        end = held[1]
        span = ctx.holdings.analytics_days.get("users")
        if span is not None:
            start = min(start, day_start(span[0]))
            end = max(end, day_start(span[1]) + timedelta(days=1))
        return start, end

    def _finding(self, row: tuple[Any, ...], raw: tuple[Any, ...], full: bool,
                 held_from: datetime, days: int) -> Finding:
        """A medium finding per dormant member (low when the window is not fully held)."""
        user_id, email, roles, _, last_seen, source, _ = row
        seen = f"last seen {last_seen} ({source})" if last_seen else "never seen in the data held"
        occurred = utc(raw[4]) if raw[4] else (day_start(raw[5]) if raw[5] else None)
        pages = [f"sha256:{page}" for page in raw[6] or []]  # the directory listing the seat
        if full:
            return make_finding(
                self.key, "dormant_member", Severity.MEDIUM,
                f"Dormant member: {email}", {"user_id": user_id, "email": email}, occurred,
                f"{email} ({roles}) holds access but has no activity in the last {days} days; "
                f"{seen}.", pages)
        return make_finding(
            self.key, "inactive_in_history_held", Severity.LOW,
            f"No activity in the history held: {email}", {"user_id": user_id, "email": email},
            occurred, f"{email} ({roles}) shows no activity in the history held "
            f"({held_from:%Y-%m-%d} onwards); {seen}. The {days}-day test needs the whole "
            "window.",
            pages)


def _row(raw: tuple[Any, ...], ref: datetime) -> tuple[Any, ...]:
    """A table row: last seen day and source, and the days since."""
    user_id, email, roles, joined, last_at, last_day = raw[:6]
    feed_day: date | None = last_at.astimezone(UTC).date() if last_at else None
    seen = max((d for d in (feed_day, last_day) if d is not None), default=None)
    source = (None if seen is None else "activity feed and analytics"
              if feed_day == last_day else "activity feed" if seen == feed_day else "analytics")
    since = (ref.astimezone(UTC).date() - seen).days if seen else None
    return (user_id, email, roles, utc(joined), seen, source, since)


ITEM = DormantAccounts()
