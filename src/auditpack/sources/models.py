"""Wire models of the pages auditpack reads.

They check only what collection relies on (envelopes, identifiers, timestamps) and allow
every other field: the API adds fields and activity types often, and the raw body is archived
verbatim anyway, so nothing unknown is lost.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, TypeVar

import msgspec
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError, model_validator

from auditpack.errors import ResponseError


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class Activity(msgspec.Struct):
    """The three fields of an activity that collection relies on; the rest stays in the
    archived body, unread here."""

    id: str
    type: str
    created_at: Annotated[datetime, msgspec.Meta(tz=True)]


class ActivityPage(msgspec.Struct):
    """`GET /v1/compliance/activities`.

    Decoded with msgspec rather than pydantic: a feed page holds 5,000 activities, and
    building every field as Python objects (orjson, then a check per activity) took four
    times as long as decoding just these fields, skipping the others without building them.
    """

    data: list[Activity]
    has_more: bool = False
    first_id: str | None = None
    last_id: str | None = None

    def span(self) -> tuple[datetime, datetime] | None:
        """The oldest and newest `created_at` of the page's activities; None if empty."""
        if not self.data:
            return None
        moments = [a.created_at for a in self.data]
        return min(moments), max(moments)


class BodyNotJson(ValueError):
    """The body is not valid JSON (a fault worth retrying, unlike a wrong shape)."""


class _Row(msgspec.Struct):
    """Any JSON object, its fields skipped unbuilt."""


class ReportPage(msgspec.Struct):
    """A page of an Analytics day report: collection counts its rows and follows `next_page`;
    the rows themselves are read from the archive by the database."""

    data: list[_Row]
    next_page: str | None = None
    has_more: bool | None = None


_FEED_DECODER = msgspec.json.Decoder(ActivityPage)
_REPORT_DECODER = msgspec.json.Decoder(ReportPage)


def _decode(decoder: msgspec.json.Decoder[Any], body: bytes, where: str) -> Any:
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise ResponseError(f"{where}: the response does not match the documented format "
                            f"({exc})") from None
    except msgspec.DecodeError as exc:
        raise BodyNotJson(str(exc)) from None


def decode_feed_page(body: bytes, where: str) -> ActivityPage:
    """A feed page from its body; BodyNotJson if malformed, ResponseError if misshapen."""
    page: ActivityPage = _decode(_FEED_DECODER, body, where)
    return page


def decode_report_page(body: bytes, where: str) -> ReportPage:
    """An Analytics report page from its body; errors as `decode_feed_page`."""
    page: ReportPage = _decode(_REPORT_DECODER, body, where)
    return page


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
