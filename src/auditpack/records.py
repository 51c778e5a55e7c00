"""The few value types every layer shares."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from urllib.parse import urlencode

Params = tuple[tuple[str, str], ...]


class Api(StrEnum):
    """The two upstream APIs auditpack reads."""

    ANALYTICS = "analytics"
    COMPLIANCE = "compliance"


class DailyReport(StrEnum):
    """The per-day Analytics reports auditpack archives, by their store name."""

    USERS = "users"
    PROJECTS = "projects"
    SKILLS = "skills"
    CONNECTORS = "connectors"
    USER_USAGE = "user_usage"
    USER_COST = "user_cost"

    @property
    def is_usage(self) -> bool:
        """Usage and cost reports: datetime windows, ~24 h lag, a 30-day revision window."""
        return self in (DailyReport.USER_USAGE, DailyReport.USER_COST)


def canonical_params(params: dict[str, str | int | list[str]] | Params) -> Params:
    """Sort parameters so the same request always has the same key."""
    items: list[tuple[str, str]] = []
    pairs = params.items() if isinstance(params, dict) else params
    for key, value in pairs:
        if isinstance(value, list):
            items.extend((key, str(v)) for v in value)
        else:
            items.append((key, str(value)))
    return tuple(sorted(items))


def query_string(params: Params) -> str:
    """The URL query for canonical parameters."""
    return urlencode(list(params))


@dataclass(frozen=True)
class RawResponse:
    """One API response exactly as received, with the request that produced it."""

    api: Api
    endpoint: str
    path: str
    params: Params
    status: int
    body: bytes
    fetched_at: datetime
    request_id: str | None = None
    sha256: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not self.sha256:
            object.__setattr__(self, "sha256", hashlib.sha256(self.body).hexdigest())


@dataclass(frozen=True)
class DayRange:
    """An inclusive range of UTC days."""

    first: date
    last: date

    def days(self) -> list[date]:
        """Every day in the range, oldest first."""
        n = (self.last - self.first).days + 1
        return [self.first + timedelta(days=i) for i in range(max(n, 0))]
