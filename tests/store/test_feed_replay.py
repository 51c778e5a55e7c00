"""Replaying feed pages into the database: one row per activity id, from its earliest page."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from auditpack.records import Api, RawResponse, canonical_params
from auditpack.store import Archive
from auditpack.store.db import Database


def _activity(n: int, note: str, when: str | None = None) -> dict[str, object]:
    return {"id": f"activity_{n:04d}", "type": "claude_chat_viewed", "note": note,
            "created_at": when or f"2026-07-01T10:{n % 60:02d}:00Z",
            "actor": {"type": "user_actor", "user_id": "user_1", "email_address": "a@x.example"}}


def _put(archive: Archive, page: str, items: list[dict[str, object]]) -> None:
    body = orjson.dumps({"data": items, "has_more": False})
    raw = RawResponse(api=Api.COMPLIANCE, endpoint="/v1/compliance/activities",
                      path="/v1/compliance/activities",
                      params=canonical_params({"limit": 5000, "after_id": page}), status=200,
                      body=body, fetched_at=datetime(2026, 7, 2, tzinfo=UTC), request_id=page)
    times = sorted(str(i["created_at"]) for i in items if str(i["created_at"])[:1].isdigit())
    archive.put(raw, run_id="r1", span=(times[0], times[-1]) if times else None)


def _rows(db: Database) -> list[tuple[object, ...]]:
    return db.con.execute("SELECT id, raw->>'note' FROM activities ORDER BY id").fetchall()


@pytest.mark.parametrize("final_each_page", [False, True])
def test_repeated_ids_keep_the_earliest_page(tmp_path: Path, final_each_page: bool) -> None:
    archive = Archive(tmp_path / "archive")
    db = Database(tmp_path / "db.duckdb")
    pages = [
        [_activity(n, "first") for n in range(0, 10)],
        [_activity(n, "second") for n in range(8, 14)],  # overlaps the first page on 8, 9
        [],  # an empty page has no span and adds nothing
        [_activity(n, "third") for n in (3, 13, 20)] + [_activity(3, "third-again")],
    ]
    for number, items in enumerate(pages):
        _put(archive, f"p{number}", items)
        if final_each_page:
            db.catch_up(archive)  # each page in its own batch
    db.catch_up(archive)
    rows = _rows(db)
    assert [r[0] for r in rows] == [f"activity_{n:04d}" for n in [*range(14), 20]]
    notes = dict(rows)
    assert notes["activity_0003"] == notes["activity_0009"] == "first"
    assert notes["activity_0013"] == "second" and notes["activity_0020"] == "third"
    db.close()


def test_undated_repeats_are_dropped_too(tmp_path: Path) -> None:
    archive = Archive(tmp_path / "archive")
    db = Database(tmp_path / "db.duckdb")
    _put(archive, "p0", [_activity(1, "first", "not a time")])
    db.catch_up(archive)
    _put(archive, "p1", [_activity(1, "second", "not a time"), _activity(2, "second")])
    db.catch_up(archive)
    assert _rows(db) == [("activity_0001", "first"), ("activity_0002", "second")]
    db.close()
