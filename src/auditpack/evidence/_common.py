"""Helpers shared by evidence items: coverage decisions, insufficient results, lineage."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from auditpack.evidence.interface import (
    Coverage,
    EvidenceContext,
    EvidenceItem,
    EvidenceResult,
    Lineage,
    Status,
)

FEED_START_GRACE_DAYS = 7


def insufficient(item: EvidenceItem, reason: str, coverage: Coverage = Coverage.NONE,
                 **extra: Any) -> EvidenceResult:
    """A result that says plainly why the item could not be assessed."""
    return EvidenceResult(item.id, item.key, item.title, Status.INSUFFICIENT_DATA, coverage,
                          reason=reason, **extra)


def compliance_gap(ctx: EvidenceContext) -> str | None:
    """Why Compliance data (feed and directory) cannot support the period, or None if it can."""
    if ctx.holdings.feed_covered is not None and ctx.holdings.snapshot_id is None:
        return "no Compliance API directory snapshot was collected"
    return feed_gap(ctx)


def feed_gap(ctx: EvidenceContext) -> str | None:
    """Why the activity feed cannot support the whole period, or None if it can.

    A feed read from its very beginning holds nothing before the Compliance API was enabled,
    so the oldest activity held stands in for the feed's start: a period before it is
    `insufficient_data`, never an empty (and so passing) record.
    """
    held = ctx.holdings
    if held.feed_covered is None:
        return "the Compliance API activity feed was not collected"
    lower, upper = held.feed_covered
    if held.feed_first_event is not None:
        # A feed read from its beginning holds nothing before the first recorded event; a week
        # of grace absorbs a quiet start (weekends, holidays).
        lower = max(lower, held.feed_first_event - timedelta(days=FEED_START_GRACE_DAYS))
    if lower > ctx.period.start_at:
        return (f"the activity feed is held from {lower:%Y-%m-%d %H:%M} UTC only, after the "
                f"period start {ctx.period.start}")
    if upper < ctx.period.end_at and upper < ctx.as_of:
        return (f"the activity feed is held until {upper:%Y-%m-%d %H:%M} UTC only, before the "
                f"period end {ctx.period.end}")
    return None


def analytics_gap(ctx: EvidenceContext, report: str = "users") -> str | None:
    """Why an Analytics report cannot support the period, or None if it covers it."""
    span = ctx.holdings.analytics_days.get(report)
    if span is None:
        return f"the Analytics API {report} report was not collected"
    first, last = span
    if first > ctx.period.start or last < ctx.period.end:
        return (f"the Analytics {report} report is held for {first}..{last}, not the whole "
                f"period {ctx.period.label()}")
    return None


def feed_pages(ctx: EvidenceContext, where: str = "TRUE", params: list[Any] | None = None,
               limit: int = 5000) -> list[str]:
    """The archived feed pages (sha256) holding the period's activities matching `where`."""
    rows = ctx.con.execute(
        f"SELECT DISTINCT page_sha256 FROM activities WHERE created_at >= ? AND created_at < ? "
        f"AND ({where}) ORDER BY 1 LIMIT {limit}",
        [ctx.period.start_at, ctx.period.end_at, *(params or [])]).fetchall()
    return [r[0] for r in rows]


def snapshot_pages(ctx: EvidenceContext, table: str) -> list[str]:
    """The archived directory pages of the chosen snapshot for one dir_* table."""
    rows = ctx.con.execute(f"SELECT DISTINCT page_sha256 FROM {table} WHERE snapshot_id = ? "
                           "ORDER BY 1", [ctx.holdings.snapshot_id]).fetchall()
    return [r[0] for r in rows]


def lineage(ctx: EvidenceContext, pages: list[str], sources: list[str]) -> Lineage:
    """Lineage for the period, clipped to what the store actually covers."""
    start, end = ctx.period.start, ctx.period.end
    if ctx.holdings.feed_covered and "compliance" in sources:
        lower, upper = ctx.holdings.feed_covered
        start = max(start, lower.date())
        end = min(end, upper.date())
    return Lineage(responses=sorted(set(pages)), covered=(start, end), sources=sorted(sources))


def coverage_of(has_analytics: bool, has_compliance: bool, *, analytics_level: Coverage,
                compliance_level: Coverage, combined_level: Coverage) -> Coverage:
    """The item's coverage given which sources are held (levels from frameworks.md §1)."""
    if has_analytics and has_compliance:
        return combined_level
    if has_compliance:
        return compliance_level
    if has_analytics:
        return analytics_level
    return Coverage.NONE
