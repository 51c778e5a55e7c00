"""EV17 `log_completeness`: is the collected record of the period complete, fresh and kept?

Five checks, each over what the store itself records about its collection:

1. Analytics days: every day of the period for every report, held or not, with the reason the
   collector recorded (`gaps`) for the days it could not fetch. Days still inside the API's
   publication delay are *pending*, not gaps.
2. Feed windows: the completely read activity-feed windows must tile the period; a stretch no
   window covers is a hole.
3. Freshness and retention: the age of the newest data, and the history held against PCI DSS
   10.5.1 (365 days, 90 immediately available), the AI Act (183 days) and the policy minimum.
   A young store is expected to be short of these; that is a metric and a note, not an exception.
4. The collection log's hash chain (a broken chain is the one HIGH finding here), runs that
   failed or were interrupted, and runs that archived data but are missing from the log.
5. API access toggles in the feed that stop or restart what can be collected.

Status is `exceptions` only for real gaps inside the period (or a broken log).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from auditpack.evidence._common import coverage_of, feed_pages, insufficient, lineage
from auditpack.evidence._operations import (
    FeedSpan,
    LogCheck,
    Run,
    check_log,
    feed_span,
    iso,
    late_start_note,
    of_types,
    period_bounds,
    runs_of,
    status_of,
    store_dir,
    table,
    utc,
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

# A day of an engagement report is published about three days after its aggregation at 10:00
# UTC the next day; a missing day this recent is pending, not a gap.
ANALYTICS_PENDING_DAYS = 4
# Feed windows end a minute before the collection clock; a tail shorter than this before the
# assessment time is collection lag, not a hole.
FEED_SLACK = timedelta(hours=1)
# The Analytics API holds nothing before this day (claude-apis.md §3.2): not a collection gap.
ANALYTICS_FLOOR = date(2026, 1, 1)
PCI_RETENTION_DAYS = 365
PCI_IMMEDIATE_DAYS = 90
AI_ACT_RETENTION_DAYS = 183

# Analytics day states and how serious each is. Pending and source-side absences are not gaps.
_GAP_SEVERITY = {"not_collected": Severity.MEDIUM, "lost_outside_lookback": Severity.MEDIUM,
                 "refused": Severity.LOW, "other": Severity.MEDIUM}
_NOT_GAPS = ("pending", "unavailable_at_source")
_TOGGLE_TYPES = ("org_compliance_api_settings_updated", "org_analytics_api_capability_updated")


@dataclass(frozen=True)
class _Stretch:
    """Consecutive missing days of one report in one state."""

    report: str
    first: date
    last: date
    state: str
    reason: str | None
    detail: str | None

    @property
    def days(self) -> int:
        """How many days the stretch spans."""
        return (self.last - self.first).days + 1


class LogCompleteness(EvidenceItem):
    """EV17: continuity, freshness and retention of the collected audit record."""

    id = "EV17"
    key = "log_completeness"
    title = "Audit log retention & completeness"

    def compute(self, ctx: EvidenceContext) -> EvidenceResult:
        """Every completeness check over the period, each with its table."""
        span = feed_span(ctx)
        reason = _outside(ctx, span)
        if reason is not None:
            return insufficient(self, reason)
        findings: list[Finding] = []
        gap_findings: list[Finding] = []
        tables: list[Table] = []
        metrics: dict[str, int | float | str | None] = {}
        limitations: list[str] = []
        has_analytics = bool(ctx.holdings.analytics_days)
        if has_analytics:
            stretches = _analytics_missing(ctx)
            tables += [_report_table(ctx, stretches), _stretch_table(stretches),
                       _recorded_gaps(ctx)]
            gap_findings += self._analytics_findings(stretches)
            metrics.update(_analytics_metrics(ctx, stretches))
        else:
            limitations.append("The Analytics API was not collected: engagement-day continuity "
                               "is not assessed.")
        if span is not None:
            holes = _holes(ctx, span)
            tables += [_windows_table(ctx), table(
                "feed_holes", "Stretches of the period no completely read feed window covers",
                [("start", "datetime"), ("end", "datetime"), ("hours", "float")],
                [(s, e, round((e - s).total_seconds() / 3600, 2)) for s, e in holes])]
            gap_findings += self._hole_findings(holes)
            metrics.update(_feed_metrics(ctx, span, holes))
            toggles, toggle_findings = self._toggles(ctx)
            tables.append(toggles)
            gap_findings += toggle_findings
            if note := late_start_note(ctx):
                limitations.append(note)
        else:
            limitations.append("The Compliance API activity feed was not collected: feed "
                               "continuity is not assessed.")
        retention, retention_findings = self._retention(ctx, span)
        tables.append(retention)
        findings += retention_findings
        log = check_log(store_dir(ctx))
        runs = runs_of(log.entries)
        tables.append(_runs_table(runs))
        findings += self._log_findings(ctx, log, runs)
        metrics.update({"collection_log": log.state, "collection_runs": len(runs),
                        "collection_log_problems": len(log.problems)})
        findings = gap_findings + findings
        broken = any(f.severity is Severity.HIGH for f in findings)
        # Any day or stretch not held is a real gap (even a low one, such as a refused report).
        status = status_of(gap_findings, Severity.LOW) if not broken else Status.EXCEPTIONS
        limitations += _LIMITATIONS
        if ctx.period.end_at > ctx.as_of:
            limitations.append(f"The period runs past the assessment time {iso(ctx.as_of)}: "
                               "completeness is assessed up to it only.")
        if log.state == "not checked":
            limitations.append("The store directory could not be found from the database "
                               "connection: the collection log was not verified.")
        return EvidenceResult(
            self.id, self.key, self.title, status,
            coverage_of(has_analytics, span is not None, analytics_level=Coverage.PARTIAL,
                        compliance_level=Coverage.FULL, combined_level=Coverage.FULL),
            metrics=metrics, tables=tables, findings=findings,
            lineage=lineage(ctx, feed_pages(ctx) if span else [],
                            [s for s, held in (("analytics", has_analytics),
                                               ("compliance", span is not None)) if held]),
            method=_METHOD, limitations=limitations)

    # -- findings -------------------------------------------------------------------------

    def _analytics_findings(self, stretches: list[_Stretch]) -> list[Finding]:
        """One finding per report and state: how many days, first to last."""
        grouped: dict[tuple[str, str], list[_Stretch]] = {}
        for s in stretches:
            if s.state not in _NOT_GAPS:
                grouped.setdefault((s.report, s.state), []).append(s)
        out = []
        for (report, state), parts in sorted(grouped.items()):
            days = sum(p.days for p in parts)
            first, last = parts[0].first, parts[-1].last
            reasons = sorted({p.reason or "none recorded" for p in parts})
            out.append(make_finding(
                "log_completeness", f"analytics_{state}", _GAP_SEVERITY[state],
                f"Analytics {report}: {days} day(s) of the period not held ({state})",
                {"source": "analytics", "report": report}, _midnight(first),
                f"{days} day(s) between {first} and {last} in {len(parts)} stretch(es) are not "
                f"in the store; recorded reason(s): {', '.join(reasons)}.", []))
        return out

    def _hole_findings(self, holes: list[tuple[datetime, datetime]]) -> list[Finding]:
        """One medium finding per stretch of the period no feed window covers."""
        return [make_finding(
            "log_completeness", "feed_hole", Severity.MEDIUM,
            f"Activity feed not collected for {iso(s)} to {iso(e)}",
            {"source": "compliance", "window": f"{iso(s)}..{iso(e)}"}, s,
            f"No completely read feed window covers {(e - s).total_seconds() / 3600:.1f} hours "
            "of the period: events of that stretch may be missing from the evidence. Collect "
            "again with --since/--until around it.", []) for s, e in holes]

    def _toggles(self, ctx: EvidenceContext) -> tuple[Table, list[Finding]]:
        """Compliance/Analytics API switches in the feed; switching one off is medium."""
        rows = ctx.con.execute(f"""
            SELECT created_at, type, actor_user_id, actor_email,
                   raw->>'compliance_api_enabled', raw->>'compliance_api_logging_enabled',
                   raw->>'previous_value', raw->>'current_value', id
            FROM {of_types(_TOGGLE_TYPES)}
            WHERE created_at >= ? AND created_at < ?
            ORDER BY created_at, id""", period_bounds(ctx)).fetchall()
        data = [(utc(r[0]), *r[1:]) for r in rows]
        findings: list[Finding] = []
        for when, kind, user, email, enabled, logging, _prev, current, activity in data:
            off = [name for name, value in (("compliance_api_enabled", enabled),
                                            ("compliance_api_logging_enabled", logging),
                                            ("analytics_api_capability", current))
                   if value is not None and str(value).lower() in ("false", "0", "disabled")]
            if kind == "org_compliance_api_settings_updated" and "analytics_api_capability" in off:
                off.remove("analytics_api_capability")
            findings.extend(make_finding(
                "log_completeness", "api_disabled", Severity.MEDIUM,
                f"{name.replace('_', ' ')} switched off",
                {"setting": name, "user_id": user, "email": email}, when,
                f"{email or user or 'An actor'} switched {name} off at {iso(when)}: "
                "collection (or, for logging, recording) stops until it is switched on "
                "again.", [activity]) for name in off)
        return table("api_toggles", "Compliance and Analytics API access toggles in the feed",
                     [("created_at", "datetime"), ("type", "str"), ("user_id", "str"),
                      ("email", "str"), ("compliance_api_enabled", "str"),
                      ("compliance_api_logging_enabled", "str"), ("previous_value", "str"),
                      ("current_value", "str"), ("activity_id", "str")], data), findings

    def _retention(self, ctx: EvidenceContext,
                   span: FeedSpan | None) -> tuple[Table, list[Finding]]:
        """History held against each framework's minimum; short history is an info note."""
        start = span.start if span else None
        held = (ctx.as_of - start).days if start else 0
        policy_min = ctx.policy.log_retention_min_days
        requirements = [
            ("PCI DSS 10.5.1 (12 months)", PCI_RETENTION_DAYS),
            ("PCI DSS 10.5.1 (immediately available)", PCI_IMMEDIATE_DAYS),
            ("EU AI Act Art. 19(1)/26(6)", AI_ACT_RETENTION_DAYS),
            ("Policy log_retention_min_days (NIS2 IR 3.2.5 and others)", policy_min),
        ]
        rows = [(name, minimum, held, held >= minimum,
                 (start + timedelta(days=minimum)).date() if start else None)
                for name, minimum in requirements]
        findings = []
        if start is not None and held < policy_min:
            reached = (start + timedelta(days=policy_min)).date()
            findings.append(make_finding(
                "log_completeness", "retention_history_short", Severity.INFO,
                f"The store holds {held} days of activity history, short of the "
                f"{policy_min}-day minimum",
                {"source": "compliance", "requirement": "log_retention_min_days"}, None,
                f"Feed history starts {iso(start)}; kept without interruption it reaches "
                f"{policy_min} days on {reached}. The Compliance API keeps the feed six years "
                "from enablement, so the history can still be collected until then.", []))
        return table("retention", "History held against retention minimums",
                     [("requirement", "str"), ("minimum_days", "int"), ("held_days", "int"),
                      ("met", "bool"), ("reached_on", "date")], rows), findings

    def _log_findings(self, ctx: EvidenceContext, log: LogCheck,
                      runs: list[Run]) -> list[Finding]:
        """Broken chain (high), missing log, unlogged runs (medium), failed runs (low/medium)."""
        out: list[Finding] = []
        if log.state == "broken":
            out.append(make_finding(
                "log_completeness", "collection_log_chain_broken", Severity.HIGH,
                "The collection log's hash chain is broken",
                {"log": "collection-log.jsonl"}, None,
                "The hash-chained log of collection runs was edited or lines were removed: "
                + "; ".join(log.problems[:10]), []))
        elif log.state == "missing":
            out.append(make_finding(
                "log_completeness", "collection_log_missing", Severity.MEDIUM,
                "The collection log is missing", {"log": "collection-log.jsonl"}, None,
                "The store has no collection-log.jsonl: when and how the data was collected "
                "cannot be shown.", []))
        if log.exists:
            logged = {r.run_id for r in runs}
            unlogged = [r[0] for r in ctx.con.execute("""
                SELECT DISTINCT run_id FROM (SELECT run_id FROM responses
                                             UNION ALL SELECT run_id FROM feed_windows)
                WHERE run_id IS NOT NULL ORDER BY 1""").fetchall() if r[0] not in logged]
            out.extend(make_finding(
                "log_completeness", "run_not_logged", Severity.MEDIUM,
                f"Collection run {run_id} archived data but is not in the collection log",
                {"run_id": run_id}, None,
                "The archive holds responses of a run the log does not record: the log's end "
                "may have been cut off, or data was archived outside `auditpack collect`.", [])
                for run_id in unlogged)
        out.extend(self._run_findings(ctx, runs))
        return out

    def _run_findings(self, ctx: EvidenceContext, runs: list[Run]) -> list[Finding]:
        """Runs of the assessment window that did not complete."""
        out = []
        for i, run in enumerate(runs):
            if run.status == "completed" or not _in_window(ctx, run):
                continue
            recovered = any(r.status == "completed" for r in runs[i + 1:])
            severity = Severity.MEDIUM if run.status == "failed" and not recovered \
                else Severity.LOW
            out.append(make_finding(
                "log_completeness", f"run_{run.status}", severity,
                f"Collection run {run.run_id} {run.status}",
                {"run_id": run.run_id}, _parse(run.started_at or run.as_of),
                f"Run {run.run_id} (clock {run.as_of}) ended {run.status}"
                + (f": {run.error}" if run.error else "") + ". "
                + ("A later run completed." if recovered else "No later run completed."),
                []))
        return out


# -- analytics days ----------------------------------------------------------------------------


def _last_day(ctx: EvidenceContext) -> date:
    """The last day of the period that can have been collected by the assessment time."""
    return min(ctx.period.end, ctx.as_of.date() - timedelta(days=1))


def _analytics_missing(ctx: EvidenceContext) -> list[_Stretch]:
    """Missing report-days of the period, classified and merged into stretches."""
    last = _last_day(ctx)
    if last < ctx.period.start:
        return []
    rows = ctx.con.execute("""
        WITH days AS (SELECT unnest(generate_series(?::DATE, ?::DATE, INTERVAL 1 DAY))::DATE
                             AS day),
        reports AS (SELECT report FROM analytics_days UNION
                    SELECT report FROM gaps WHERE source = 'analytics' AND report IS NOT NULL),
        held AS (SELECT DISTINCT report, day FROM analytics_days),
        g AS (SELECT report, day, arg_max(reason, as_of) AS reason,
                     arg_max(detail, as_of) AS detail
              FROM gaps WHERE source = 'analytics' GROUP BY report, day)
        SELECT r.report, d.day, g.reason, g.detail
        FROM reports r CROSS JOIN days d
        LEFT JOIN held h ON h.report = r.report AND h.day = d.day
        LEFT JOIN g ON g.report = r.report AND g.day = d.day
        WHERE h.day IS NULL ORDER BY r.report, d.day""", [ctx.period.start, last]).fetchall()
    pending_from = ctx.as_of.date() - timedelta(days=ANALYTICS_PENDING_DAYS)
    out: list[_Stretch] = []
    for report, day, reason, detail in rows:
        state = _state(day, reason, pending_from)
        prev = out[-1] if out else None
        if (prev and prev.report == report and prev.state == state and prev.reason == reason
                and prev.last + timedelta(days=1) == day):
            out[-1] = _Stretch(report, prev.first, day, state, reason, prev.detail)
        else:
            out.append(_Stretch(report, day, day, state, reason, detail))
    return out


def _state(day: date, reason: str | None, pending_from: date) -> str:
    """Why a day is missing, as a state: pending and source-side absences are not gaps."""
    if reason in (None, "not_yet_available") and day > pending_from:
        return "pending"
    if reason == "before_api_floor" or day < ANALYTICS_FLOOR:
        return "unavailable_at_source"
    if reason == "outside_lookback":
        return "lost_outside_lookback"
    if reason == "refused":
        return "refused"
    if reason in (None, "not_yet_available"):
        return "not_collected"
    return "other"


def _report_table(ctx: EvidenceContext, stretches: list[_Stretch]) -> Table:
    """Per report: days expected, held, missing (gaps) and pending."""
    held = dict(ctx.con.execute("""
        SELECT report, count(DISTINCT day) FROM analytics_days WHERE day BETWEEN ? AND ?
        GROUP BY report""", [ctx.period.start, ctx.period.end]).fetchall())
    reports = sorted(set(held) | {s.report for s in stretches})
    expected = max(0, (_last_day(ctx) - ctx.period.start).days + 1)
    rows = []
    for report in reports:
        mine = [s for s in stretches if s.report == report]
        gaps = sum(s.days for s in mine if s.state not in _NOT_GAPS)
        pending = sum(s.days for s in mine if s.state == "pending")
        span = ctx.holdings.analytics_days.get(report)
        rows.append((report, expected, int(held.get(report, 0)), gaps, pending,
                     span[0] if span else None, span[1] if span else None))
    return table("analytics_days", "Analytics days held per report in the period",
                 [("report", "str"), ("days_expected", "int"), ("days_held", "int"),
                  ("days_missing", "int"), ("days_pending", "int"), ("first_held", "date"),
                  ("last_held", "date")], rows)


def _stretch_table(stretches: list[_Stretch]) -> Table:
    """Missing Analytics days as stretches with their state and recorded reason."""
    return table("analytics_missing", "Analytics days of the period not held, by stretch",
                 [("report", "str"), ("first_day", "date"), ("last_day", "date"),
                  ("days", "int"), ("state", "str"), ("reason", "str"), ("detail", "str")],
                 [(s.report, s.first, s.last, s.days, s.state, s.reason, s.detail)
                  for s in stretches])


def _recorded_gaps(ctx: EvidenceContext) -> Table:
    """Every gap the collector recorded for the period, and whether a later fetch filled it."""
    rows = ctx.con.execute("""
        SELECT g.source, g.report, g.day, g.reason, g.detail, g.as_of,
               EXISTS (SELECT 1 FROM analytics_days d WHERE d.report = g.report
                       AND d.day = g.day) AS filled
        FROM gaps g
        WHERE (g.day BETWEEN ? AND ?)
           OR (g.day IS NULL AND g.as_of >= ? AND g.as_of <= ?)
        ORDER BY g.source, g.report, g.day, g.as_of, g.reason""",
        [ctx.period.start, ctx.period.end, ctx.period.start_at, ctx.as_of]).fetchall()
    return table("recorded_gaps", "Gaps recorded by the collector for the period",
                 [("source", "str"), ("report", "str"), ("day", "date"), ("reason", "str"),
                  ("detail", "str"), ("recorded_at", "datetime"), ("filled_later", "bool")],
                 [(r[0], r[1], r[2], r[3], r[4], utc(r[5]) if r[5] else None, r[6])
                  for r in rows])


def _analytics_metrics(ctx: EvidenceContext,
                       stretches: list[_Stretch]) -> dict[str, int | float | str | None]:
    """Missing, pending and open-gap counts, freshness and history of Analytics."""
    latest = max((span[1] for span in ctx.holdings.analytics_days.values() if span),
                 default=None)
    first = min((span[0] for span in ctx.holdings.analytics_days.values() if span),
                default=None)
    open_row = ctx.con.execute("""
        SELECT count(*) FROM gaps g WHERE g.source = 'analytics' AND g.day BETWEEN ? AND ?
        AND NOT EXISTS (SELECT 1 FROM analytics_days d WHERE d.report = g.report
                        AND d.day = g.day)""", [ctx.period.start, ctx.period.end]).fetchone()
    return {
        "analytics_missing_days": sum(s.days for s in stretches if s.state not in _NOT_GAPS),
        "analytics_pending_days": sum(s.days for s in stretches if s.state == "pending"),
        "analytics_open_gap_records": int(open_row[0]) if open_row else 0,
        "analytics_latest_day": latest.isoformat() if latest else None,
        "analytics_freshness_days": (ctx.as_of.date() - latest).days if latest else None,
        "analytics_history_days": (ctx.as_of.date() - first).days + 1 if first else None,
    }


# -- the feed ----------------------------------------------------------------------------------


def _outside(ctx: EvidenceContext, span: FeedSpan | None) -> str | None:
    """Why nothing held bears on the period, or None when something does."""
    if span is None and not ctx.holdings.analytics_days:
        return "neither the Analytics API nor the Compliance API activity feed was collected"
    analytics_in = any(first <= ctx.period.end and last >= ctx.period.start
                       for first, last in (s for s in ctx.holdings.analytics_days.values() if s))
    feed_in = span is not None and span.start is not None \
        and span.start < ctx.period.end_at and span.upper > ctx.period.start_at
    if analytics_in or feed_in:
        return None
    held = []
    if span is not None:
        held.append(f"the activity feed from {iso(span.start) or 'its first event'} to "
                    f"{iso(span.upper)}")
    for report, s in sorted(ctx.holdings.analytics_days.items()):
        if s:
            held.append(f"Analytics {report} {s[0]}..{s[1]}")
    return (f"the store holds nothing for {ctx.period.label()} (it holds "
            f"{'; '.join(held) or 'no data'}); the Compliance API records from its enablement "
            "only and Analytics keeps 90 days")


def _holes(ctx: EvidenceContext, span: FeedSpan) -> list[tuple[datetime, datetime]]:
    """Stretches of [period start, min(period end, as_of)] no feed window covers."""
    begin = ctx.period.start_at
    end = min(ctx.period.end_at, ctx.as_of)
    if end <= begin:
        return []
    windows = [(utc(lo) if lo is not None else None, utc(up)) for lo, up in ctx.con.execute(
        "SELECT lower, upper FROM feed_windows ORDER BY lower NULLS FIRST, upper").fetchall()]
    holes: list[tuple[datetime, datetime]] = []
    reach: datetime | None = None  # how far the windows read so far cover, from `begin`
    for lower, upper in windows:
        if lower is None:
            reach = upper if reach is None else max(reach, upper)
            continue
        start = begin if reach is None else reach
        if lower > start and lower > begin and start < end:
            holes.append((max(start, begin), min(lower, end)))
        reach = upper if reach is None else max(reach, upper)
    tail_from = begin if reach is None else max(reach, begin)
    if tail_from < end and not (end == ctx.as_of and end - tail_from <= FEED_SLACK):
        holes.append((tail_from, end))
    return [(s, e) for s, e in holes if e > s]


def _windows_table(ctx: EvidenceContext) -> Table:
    """Every completely read feed window, flagged when it overlaps the period."""
    rows = ctx.con.execute("""
        SELECT lower, upper, pages, records, run_id, start_cursor, end_cursor, last_request_id
        FROM feed_windows ORDER BY lower NULLS FIRST, upper""").fetchall()
    begin, end = period_bounds(ctx)
    return table("feed_windows", "Completely read activity-feed windows",
                 [("lower", "datetime"), ("upper", "datetime"), ("overlaps_period", "bool"),
                  ("pages", "int"), ("records", "int"), ("run_id", "str"),
                  ("start_cursor", "str"), ("end_cursor", "str"), ("last_request_id", "str")],
                 [(utc(r[0]) if r[0] else None, utc(r[1]),
                   (r[0] is None or utc(r[0]) < end) and utc(r[1]) > begin, *r[2:])
                  for r in rows])


def _feed_metrics(ctx: EvidenceContext, span: FeedSpan,
                  holes: list[tuple[datetime, datetime]]) -> dict[str, int | float | str | None]:
    """Event count, holes, freshness and history of the activity feed."""
    row = ctx.con.execute("SELECT count(*) FROM activities WHERE created_at >= ? "
                          "AND created_at < ?", period_bounds(ctx)).fetchone()
    start = span.start
    return {
        "feed_events": int(row[0]) if row else 0,
        "feed_holes": len(holes),
        "feed_hole_hours": round(sum((e - s).total_seconds() for s, e in holes) / 3600, 2),
        "feed_history_start": iso(start),
        "feed_latest_upper": iso(span.upper),
        "feed_freshness_hours": round((ctx.as_of - span.upper).total_seconds() / 3600, 2),
        "feed_history_days": (ctx.as_of - start).days if start else None,
        "retention_pci_min_days": PCI_RETENTION_DAYS,
        "retention_ai_act_min_days": AI_ACT_RETENTION_DAYS,
        "retention_policy_min_days": ctx.policy.log_retention_min_days,
    }


# -- runs ----------------------------------------------------------------------------------


def _runs_table(runs: list[Run]) -> Table:
    """Collection runs as the hash-chained log records them."""
    return table("collection_runs", "Collection runs recorded in the hash-chained log",
                 [("run_id", "str"), ("as_of", "str"), ("started_at", "str"),
                  ("finished_at", "str"), ("status", "str"), ("sources", "str"),
                  ("pages", "int"), ("records", "int"), ("gaps", "int"), ("error", "str")],
                 [(r.run_id, r.as_of, r.started_at, r.finished_at, r.status, r.sources, r.pages,
                   r.records, r.gaps, r.error) for r in runs])


def _parse(text: str | None) -> datetime | None:
    """An ISO 8601 timestamp from the log as an aware UTC datetime, or None."""
    if not text:
        return None
    try:
        return utc(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        return None


def _in_window(ctx: EvidenceContext, run: Run) -> bool:
    """Whether a run's collection clock falls between the period start and the assessment."""
    when = _parse(run.as_of) or _parse(run.started_at)
    return when is not None and ctx.period.start_at <= when <= ctx.as_of + FEED_SLACK


def _midnight(day: date) -> datetime:
    """The first instant of a UTC day."""
    return utc(datetime(day.year, day.month, day.day))


_METHOD = (
    "Analytics: for every report the store holds and every day from the period start to the day "
    "before the assessment time (or the period end), the day is held, pending (within "
    f"{ANALYTICS_PENDING_DAYS} days of the assessment: not yet published), or missing with the "
    "collector's latest recorded reason. Feed: the completely read windows (feed_windows) are "
    "merged and every stretch of the period they leave uncovered is a hole. Freshness is the "
    "assessment time minus the newest window's upper bound. Retention compares the history held "
    "(from the first window's lower bound, or the first event when the feed was read from its "
    "beginning) with PCI DSS 10.5.1, the AI Act and the policy minimum. The collection log is "
    "re-verified link by link (prev_sha256 = SHA-256 of the previous line), and run ids found in "
    "the archive are matched against it.")

_LIMITATIONS = [
    "A young store is expected to hold less than 12 months: retention shortfalls are reported as "
    "metrics and notes, not exceptions. The Compliance API keeps the feed six years from "
    "enablement; Analytics days older than 90 days exist only if auditpack archived them.",
    "The feed returns no totals or checksums: completeness rests on contiguous windows read to "
    "their last page, which the collector records; late-indexed events are caught by overlapping "
    "windows.",
    "Truncating the last lines of the collection log cannot be detected by its hash chain alone; "
    "runs present in the archive but absent from the log are reported instead.",
]


ITEM = LogCompleteness()
