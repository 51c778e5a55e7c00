"""Decoding feed and report pages: the checked fields, unknown ones kept out of the way."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from auditpack.errors import ResponseError
from auditpack.sources.models import BodyNotJson, decode_feed_page, decode_report_page


def _body(*activities: dict[str, object], **envelope: object) -> bytes:
    return orjson.dumps({"data": list(activities), **envelope})


def _activity(n: int, **extra: object) -> dict[str, object]:
    return {"id": f"activity_{n}", "type": "some_type_added_next_year",
            "created_at": f"2026-07-0{n}T08:00:00+02:00", **extra}


def test_a_page_with_unknown_fields_and_types_decodes() -> None:
    page = decode_feed_page(_body(_activity(2, brand_new={"x": [1]}), _activity(1),
                                  has_more=True, first_id="activity_2", last_id="activity_1",
                                  next_cursor_kind="new"), "feed")
    assert [a.id for a in page.data] == ["activity_2", "activity_1"]
    assert page.has_more and page.last_id == "activity_1"
    assert page.span() == (datetime(2026, 7, 1, 6, tzinfo=UTC), datetime(2026, 7, 2, 6, tzinfo=UTC))
    assert decode_feed_page(_body(), "feed").span() is None


@pytest.mark.parametrize(("activity", "where"), [
    ({"type": "t", "created_at": "2026-07-01T00:00:00Z"}, "id"),
    ({"id": 7, "type": "t", "created_at": "2026-07-01T00:00:00Z"}, "id"),
    ({"id": "a", "type": "t", "created_at": "2026-07-01T00:00:00"}, "created_at"),
    ({"id": "a", "type": "t", "created_at": "yesterday"}, "created_at"),
    ({"id": "a", "created_at": "2026-07-01T00:00:00Z"}, "type"),
])
def test_a_misshapen_activity_is_refused_with_its_place(activity: dict[str, object],
                                                        where: str) -> None:
    with pytest.raises(ResponseError) as caught:
        decode_feed_page(_body(_activity(1), activity), "/v1/compliance/activities")
    message = caught.value.message
    assert message.startswith("/v1/compliance/activities: the response does not match")
    assert "data[1]" in message and where in message


def test_malformed_json_is_told_apart_from_a_wrong_shape() -> None:
    with pytest.raises(BodyNotJson):
        decode_feed_page(b'{"data": [{"id": "a"', "feed")
    with pytest.raises(ResponseError):
        decode_feed_page(b'{"data": {}}', "feed")


def test_report_pages_are_counted_and_their_rows_checked() -> None:
    body = orjson.dumps({"data": [{"user": {"id": "u1"}, "new_metric": 3}, {}],
                         "next_page": "p2", "has_more": True, "data_refreshed_at": "x"})
    page = decode_report_page(body, "users")
    assert len(page.data) == 2 and page.next_page == "p2" and page.has_more is True
    with pytest.raises(ResponseError, match=r"users: .*data\[1\]"):
        decode_report_page(b'{"data": [{}, [1]], "next_page": null}', "users")
    with pytest.raises(ResponseError, match="next_page"):
        decode_report_page(b'{"data": [], "next_page": 7}', "users")
    with pytest.raises(BodyNotJson):
        decode_report_page(b'{"data": [', "users")
