"""Wire models of the pages auditpack reads.

They check only what collection relies on (envelopes, identifiers, timestamps) and allow
every other field: the API adds fields and activity types often, and the raw body is archived
verbatim anyway, so nothing unknown is lost.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError, model_validator

from auditpack.errors import ResponseError


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class ActivityPage(_Open):
    """`GET /v1/compliance/activities`.

    Activities stay the parsed dicts: a feed page holds thousands, and a model per activity
    cost more than everything else collection does with the page. `activity_span` checks the
    three fields collection relies on.
    """

    data: list[Any]
    has_more: bool = False
    first_id: str | None = None
    last_id: str | None = None


def activity_span(items: list[Any], where: str) -> tuple[datetime, datetime] | None:
    """The oldest and newest `created_at` of a page's activities, after checking that each
    is an object with a string `id`, `type` and an RFC 3339 `created_at`; None if empty."""
    oldest = newest = None
    for n, item in enumerate(items):
        try:
            if not (isinstance(item["id"], str) and isinstance(item["type"], str)):
                raise TypeError
            moment = datetime.fromisoformat(item["created_at"])
        except (KeyError, TypeError, ValueError):
            raise ResponseError(f"{where}: the response does not match the documented format "
                                f"(data.{n}: an activity needs a string id, type and an RFC "
                                "3339 created_at)") from None
        if moment.tzinfo is None:
            raise ResponseError(f"{where}: the response does not match the documented format "
                                f"(data.{n}.created_at has no time zone)")
        if oldest is None or moment < oldest:
            oldest = moment
        if newest is None or moment > newest:
            newest = moment
    return (oldest, newest) if oldest is not None and newest is not None else None


class CursorPage(_Open):
    """Page-token envelopes: analytics lists and compliance directory lists."""

    data: list[dict[str, Any]]
    next_page: str | None = None
    has_more: bool | None = None


class SummariesPage(_Open):
    """`summaries`: the older reference wraps days in `summaries`, the newer in `data`."""

    data: list[dict[str, Any]]
    next_page: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _either_envelope(cls, value: Any) -> Any:
        if isinstance(value, dict) and "data" not in value and "summaries" in value:
            return {**value, "data": value["summaries"]}
        return value


class IdRecord(_Open):
    """A directory record: only its identifier is required."""

    id: str


class GroupMember(_Open):
    """`groups/{id}/members` rows are keyed by `user_id`."""

    user_id: str


class Organization(_Open):
    """`GET /v1/compliance/organizations` rows."""

    uuid: str
    name: str | None = None


M = TypeVar("M", bound=BaseModel)

_ADAPTERS: dict[type[BaseModel], TypeAdapter[Any]] = {}


def parse_page(model: type[M], parsed: Any, where: str) -> M:
    """Validate a parsed JSON body, or raise ResponseError naming the endpoint."""
    adapter = _ADAPTERS.get(model)
    if adapter is None:
        adapter = _ADAPTERS[model] = TypeAdapter(model)
    try:
        result: M = adapter.validate_python(parsed)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(part) for part in first["loc"])
        raise ResponseError(
            f"{where}: the response does not match the documented format ({loc}: {first['msg']})"
        ) from None
    return result


def parse_records(model: type[M], rows: list[dict[str, Any]], where: str) -> list[M]:
    """Validate every row of a page."""
    return [parse_page(model, row, where) for row in rows]
