"""The raw archive: content addressing, dedupe, crash tolerance, tamper detection."""

from __future__ import annotations

import gzip
import hashlib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from auditpack.errors import StoreError
from auditpack.records import Api, RawResponse, canonical_params
from auditpack.store import Archive, CollectionLog


def _raw(body: bytes, page: str | None = None) -> RawResponse:
    params = canonical_params({"limit": 5000, **({"after_id": page} if page else {})})
    return RawResponse(api=Api.COMPLIANCE, endpoint="/v1/compliance/activities",
                       path="/v1/compliance/activities", params=params, status=200, body=body,
                       fetched_at=datetime(2026, 10, 5, tzinfo=UTC), request_id="req_1")


def test_body_is_kept_verbatim_under_its_hash(tmp_path: Path) -> None:
    archive = Archive(tmp_path)
    body = b'{"data": [], "has_more": false, "weird_new_field": [1, 2]}'
    assert archive.put(_raw(body), run_id="r1")
    sha = hashlib.sha256(body).hexdigest()
    assert archive.read_body(sha) == body
    assert gzip.decompress(archive.object_path(sha).read_bytes()) == body
    (record,) = archive.records()
    assert record["sha256"] == sha and record["request_id"] == "req_1"


def test_same_request_and_bytes_are_stored_once(tmp_path: Path) -> None:
    archive = Archive(tmp_path)
    assert archive.put(_raw(b"{}"), run_id="r1")
    assert not archive.put(_raw(b"{}"), run_id="r2")
    assert not Archive(tmp_path).put(_raw(b"{}"), run_id="r3")  # also after reopening
    assert archive.put(_raw(b"{}", page="activity_x"), run_id="r1")  # another request
    assert len(list(Archive(tmp_path).records())) == 2


def test_identical_notes_are_not_repeated(tmp_path: Path) -> None:
    archive = Archive(tmp_path)
    assert archive.note("day", "r1", report="users", day="2026-07-01", as_of="x", responses=[])
    assert not archive.note("day", "r2", report="users", day="2026-07-01", as_of="x",
                            responses=[])
    assert archive.note("day", "r2", report="users", day="2026-07-02", as_of="x", responses=[])


def test_a_torn_last_line_is_dropped_on_open(tmp_path: Path) -> None:
    archive = Archive(tmp_path)
    archive.put(_raw(b"{}"), run_id="r1")
    with archive.index_path.open("ab") as fh:
        fh.write(b'{"seq": 2, "kind": "resp')  # a crash mid-write
    reopened = Archive(tmp_path)
    assert [r["seq"] for r in reopened.records()] == [1]
    assert reopened.put(_raw(b"[]"), run_id="r2")
    assert [r["seq"] for r in Archive(tmp_path).records()] == [1, 2]


def test_an_altered_object_is_detected(tmp_path: Path) -> None:
    archive = Archive(tmp_path)
    archive.put(_raw(b'{"data": []}'), run_id="r1")
    sha = hashlib.sha256(b'{"data": []}').hexdigest()
    archive.object_path(sha).write_bytes(gzip.compress(b'{"data": [1]}'))
    with pytest.raises(StoreError, match="does not match its hash"):
        archive.read_body(sha)


def test_collection_log_chain_detects_edits(tmp_path: Path) -> None:
    log = CollectionLog(tmp_path / "log.jsonl")
    log.append({"event": "run_started", "run_id": "a"})
    log.append({"event": "run_finished", "run_id": "a", "status": "completed"})
    log.append({"event": "run_started", "run_id": "b"})
    assert log.verify() == []
    lines = log.path.read_bytes().splitlines()
    lines[1] = lines[1].replace(b"completed", b"failed")
    log.path.write_bytes(b"\n".join(lines) + b"\n")
    assert log.verify() == ["log.jsonl line 3: prev_sha256 does not match the line before it"]
