"""The Analytics API (``/v1/organizations/analytics/*``) over a dataset, at a fixed clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from functools import partial
from typing import Any

from auditpack.mockapi.cache import Lru
from auditpack.mockapi.cursors import decode_page, encode_page, fingerprint
from auditpack.mockapi.dataset import Dataset
from auditpack.mockapi.protocol import (
    Query,
    Response,
    dumps,
    invalid,
    json_array,
    json_bool,
    json_object,
    method_not_allowed,
    not_found,
    one,
    parse_day,
    parse_instant,
    parse_limit,
    rfc3339,
)

FIRST_DAY = date(2026, 1, 1)  # no analytics data exists before this day
MAX_LIMIT = 1000
MAX_SPAN = timedelta(days=31)
REPORT_LOOKBACK = timedelta(days=365)

# route -> (dataset kind, default page size)
ENGAGEMENT = {
    "users": ("users", 20),
    "apps/chat/projects": ("projects", 100),
    "skills": ("skills", 100),
    "connectors": ("connectors", 100),
}
# route -> (dataset kind, sort key of an aggregated row, largest first)
REPORTS: dict[str, tuple[str, Callable[[dict[str, Any]], Any]]] = {
    "user_usage_report": ("user_usage", lambda row: _number(row.get("total_tokens"))),
    "user_cost_report": ("user_cost", lambda row: _decimal(row.get("amount"))),
}
_DECIMAL_FIELDS = frozenset({"amount", "list_amount"})  # cents as decimal strings
_DIMENSIONS = (
    "product",
    "model",
    "context_window",
    "inference_geo",
    "speed",
    "cost_type",
    "token_type",
)


def auth_failure_status(route: str) -> int:
    """Usage and cost endpoints answer a bad key with 401; everything else hides behind 404."""
    return 401 if route in REPORTS else 404


class AnalyticsApi:
    def __init__(self, dataset: Dataset, now: datetime) -> None:
        self._dataset = dataset
        self._meta = dataset.meta
        self._now = now
        self._today = now.date()
        self._latest = self._today - timedelta(days=self._meta.delay_days)
        self._refreshed_at = now - timedelta(hours=self._meta.usage_refresh_lag_hours)
        # Clients walk one day or one window at a time; a few entries cover a walk in progress
        # without holding a 100,000-seat organization's quarter in memory.
        self._pages: Lru[tuple[str, date], list[bytes]] = Lru(4)
        self._reports: Lru[str, list[bytes]] = Lru(4)

    def handle(self, method: str, route: str, query: Query) -> Response:
        if route == "summaries":
            serve = self._summaries
        elif route in ENGAGEMENT:
            serve = partial(self._engagement, route)
        elif route in REPORTS:
            serve = partial(self._report, route)
        else:
            raise not_found(f"no analytics endpoint at {route!r}")
        if method != "GET":
            raise method_not_allowed(method)
        return serve(query)

    # -- engagement: one day, page cursor ---------------------------------------------------

    def _engagement(self, route: str, query: Query) -> Response:
        kind, default_limit = ENGAGEMENT[route]
        day = parse_day("date", one(query, "date"))
        self._check_day(f"date {day}", day)
        limit = parse_limit(query, default_limit, MAX_LIMIT)
        bound_to = fingerprint(route, query)
        offset = _offset(query, bound_to)
        rows = self._pages.get_or_compute((kind, day), lambda: self._day_rows(kind, day))
        stop = offset + limit
        next_page = encode_page(stop, bound_to) if stop < len(rows) else None
        body = json_object(
            [("data", json_array(rows[offset:stop])), ("next_page", dumps(next_page))]
        )
        return Response(200, body)

    def _day_rows(self, kind: str, day: date) -> list[bytes]:
        records = self._dataset.read_day_users(kind, day)
        if kind == "users":  # the API sorts users by email address
            records.sort(key=lambda r: (_email(r[0]), r[1]))
        return [raw for _, raw in records]

    def _check_day(self, what: str, day: date) -> None:
        """The support article's date rules: floor, look-back, and the availability delay."""
        lookback = self._meta.lookback_days
        if day < FIRST_DAY:
            reason = f"is before {FIRST_DAY}, when analytics data begins"
        elif day < self._today - timedelta(days=lookback):
            earliest = max(FIRST_DAY, self._today - timedelta(days=lookback))
            reason = f"is older than the {lookback}-day look-back (earliest day {earliest})"
        elif day > self._latest:
            reason = f"is not available yet ({self._meta.delay_days}-day delay)"
        else:
            return
        raise invalid(f"{what} {reason}; the latest available day is {self._latest}")

    # -- summaries: a whole series ----------------------------------------------------------

    def _summaries(self, query: Query) -> Response:
        start = parse_day("starting_date", one(query, "starting_date"))
        self._check_day(f"starting_date {start}", start)
        raw_end = one(query, "ending_date")
        if raw_end is None:
            end = min(start + MAX_SPAN, self._latest + timedelta(days=1))
        else:
            end = parse_day("ending_date", raw_end)
        if end <= start:
            raise invalid(f"ending_date {end} must be after starting_date {start}")
        if end - start > MAX_SPAN:
            raise invalid(f"ending_date {end} is more than 31 days after starting_date {start}")
        last = end - timedelta(days=1)
        self._check_day(f"ending_date {end} (exclusive) asks for {last}, which", last)
        days = (start + timedelta(days=n) for n in range((end - start).days))
        series = json_array(
            [self._dataset.summaries[d] for d in days if d in self._dataset.summaries]
        )
        if self._meta.summaries_envelope == "summaries":
            return Response(200, json_object([("summaries", series)]))
        return Response(200, json_object([("data", series), ("next_page", b"null")]))

    # -- usage and cost: rows summed over a window ------------------------------------------

    def _report(self, route: str, query: Query) -> Response:
        start, end = self._report_window(query)
        limit = parse_limit(query, 20, MAX_LIMIT)
        bound_to = fingerprint(route, query)
        offset = _offset(query, bound_to)
        rows = self._reports.get_or_compute(
            f"{route}|{start}|{end}", lambda: self._aggregate(route, start, end)
        )
        stop = offset + limit
        more = stop < len(rows)
        body = json_object(
            [
                ("organization_id", dumps(self._meta.organization_id)),
                ("data", json_array(rows[offset:stop])),
                ("has_more", json_bool(more)),
                ("next_page", dumps(encode_page(stop, bound_to) if more else None)),
                ("data_refreshed_at", dumps(rfc3339(self._refreshed_at))),
            ]
        )
        return Response(200, body)

    def _report_window(self, query: Query) -> tuple[datetime, datetime]:
        raw_start = one(query, "starting_at")
        if raw_start is None:
            raise invalid("starting_at: required")
        start = parse_instant("starting_at", raw_start).replace(minute=0, second=0, microsecond=0)
        if start < datetime.combine(FIRST_DAY, time(), UTC):
            raise invalid(f"starting_at {rfc3339(start)} is before {FIRST_DAY}T00:00:00Z")
        if start < self._now - REPORT_LOOKBACK:
            raise invalid(f"starting_at {rfc3339(start)} is more than 365 days ago")
        raw_end = one(query, "ending_at")
        if raw_end is None:
            end = min(self._now, start + MAX_SPAN)
        else:
            end = parse_instant("ending_at", raw_end)
        if end <= start:
            raise invalid(f"ending_at {rfc3339(end)} must be after starting_at {rfc3339(start)}")
        if end - start > MAX_SPAN:
            raise invalid("ending_at - starting_at must be at most 31 days")
        return start, end

    def _aggregate(self, route: str, start: datetime, end: datetime) -> list[bytes]:
        """Sum each user's rows over the whole UTC days inside the window and refreshed."""
        kind, rank = REPORTS[route]
        merged: dict[tuple[Any, ...], dict[str, Any]] = {}
        for day in _whole_days(start, min(end, self._refreshed_at)):
            for record in self._dataset.read_day(kind, day):
                key = _row_key(record.value)
                previous = merged.get(key)
                # the records are fresh copies: the first of a key is kept as it is
                merged[key] = record.value if previous is None else _merge(previous, record.value)
        rows = sorted(merged.values(), key=_user_id)
        rows.sort(key=rank, reverse=True)
        for row in rows:
            for name, value in (("starting_at", start), ("ending_at", end)):
                if name in row:  # per-row period fields, when the dataset has them
                    row[name] = rfc3339(value)
        return [dumps(row) for row in rows]


def _offset(query: Query, bound_to: str) -> int:
    token = one(query, "page")
    return 0 if token is None else decode_page(token, bound_to)


def _whole_days(start: datetime, end: datetime) -> list[date]:
    first = start.date() if start.timetz() == time(tzinfo=UTC) else start.date() + timedelta(1)
    days = []
    day = first
    while datetime.combine(day + timedelta(days=1), time(), UTC) <= end:
        days.append(day)
        day += timedelta(days=1)
    return days


def _merge(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Numbers and decimal amounts add up; anything else takes the newer day's value."""
    out = dict(old)
    for name, value in new.items():
        before = out.get(name)
        if isinstance(value, dict) and isinstance(before, dict):
            out[name] = _merge(before, value)
        elif _is_number(value) and _is_number(before):
            out[name] = before + value
        elif name in _DECIMAL_FIELDS and isinstance(value, str) and isinstance(before, str):
            out[name] = _add_decimals(before, value)
        else:
            out[name] = value
    return out


def _add_decimals(left: str, right: str) -> str:
    try:
        return format(Decimal(left) + Decimal(right), "f")
    except InvalidOperation:
        return right


def _row_key(row: dict[str, Any]) -> tuple[Any, ...]:
    return (_user_id(row), *(str(row.get(name)) for name in _DIMENSIONS))


def _user_id(row: dict[str, Any]) -> str:
    actor = row.get("actor")
    return str(actor.get("user_id")) if isinstance(actor, dict) else ""


def _email(user: Any) -> str:
    return str(user.get("email_address") or "") if isinstance(user, dict) else ""


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _number(value: Any) -> float:
    return float(value) if _is_number(value) else 0.0


def _decimal(value: Any) -> Decimal:
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return Decimal(0)
