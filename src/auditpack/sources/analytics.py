"""Claude Enterprise Analytics API (`/v1/organizations/analytics/*`), metadata only."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

from auditpack.errors import CursorExpired
from auditpack.records import DailyReport, Params, RawResponse, canonical_params
from auditpack.sources._http import ApiClient
from auditpack.sources.models import ReportPage, SummariesPage, decode_report_page, parse_page

BASE = "/v1/organizations/analytics"
MAX_PAGE = 1000  # every list endpoint's documented maximum
SUMMARY_SPAN_DAYS = 31  # support article: ending_date - starting_date <= 31 days
_MAX_RESTARTS = 3


_PATHS = {
    DailyReport.USERS: "/users",
    DailyReport.PROJECTS: "/apps/chat/projects",
    DailyReport.SKILLS: "/skills",
    DailyReport.CONNECTORS: "/connectors",
    DailyReport.USER_USAGE: "/user_usage_report",
    DailyReport.USER_COST: "/user_cost_report",
}
SUMMARIES_PATH = BASE + "/summaries"


def report_path(report: DailyReport) -> str:
    """The API path of a daily report."""
    return BASE + _PATHS[report]


def day_params(report: DailyReport, day: date) -> Params:
    """The query for one UTC day of a report, at the maximum page size."""
    if report.is_usage:
        end = day + timedelta(days=1)
        return canonical_params({"starting_at": f"{day.isoformat()}T00:00:00Z",
                                 "ending_at": f"{end.isoformat()}T00:00:00Z",
                                 "limit": MAX_PAGE})
    return canonical_params({"date": day.isoformat(), "limit": MAX_PAGE})


class AnalyticsSource:
    """Reads Analytics reports page by page; never asks for anything but aggregates."""

    def __init__(self, client: ApiClient) -> None:
        self.client = client

    def day(self, report: DailyReport, day: date) -> Iterator[tuple[RawResponse, ReportPage]]:
        """Every page of one report for one day.

        A cursor the API rejects or expires (410) restarts the day from page one, as the
        reference prescribes; callers store pages by content hash, so repeats are harmless.
        """
        base = day_params(report, day)
        for restart in range(_MAX_RESTARTS + 1):
            try:
                yield from self._walk(report_path(report), base)
                return
            except CursorExpired:
                if restart == _MAX_RESTARTS:
                    raise

    def summaries(self, first: date, last: date) -> Iterator[tuple[RawResponse, SummariesPage]]:
        """Daily summaries for [first, last], in requests of at most 31 days."""
        start = first
        while start <= last:
            end = min(last + timedelta(days=1), start + timedelta(days=SUMMARY_SPAN_DAYS))
            params = canonical_params({"starting_date": start.isoformat(),
                                       "ending_date": end.isoformat()})
            raw, parsed = self.client.get(SUMMARIES_PATH, SUMMARIES_PATH, params)
            yield raw, parse_page(SummariesPage, parsed, SUMMARIES_PATH)
            start = end

    def _walk(self, path: str, base: Params) -> Iterator[tuple[RawResponse, ReportPage]]:
        params = base
        while True:
            raw, page = self.client.get(path, path, params,
                                        parse=lambda body: decode_report_page(body, path))
            yield raw, page
            if not page.next_page or page.has_more is False:
                return
            params = canonical_params((*base, ("page", page.next_page)))
