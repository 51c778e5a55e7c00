"""The raw archive: every API response verbatim, named by the SHA-256 of its bytes.

Layout under the store directory::

    archive/objects/ab/abcdef….json.gz   a response body, gzip (mtime 0), named by sha256(body)
    archive/index.jsonl                  one JSON line per record, in the order they were made

Index records (`kind`):
- `response`: one distinct response: api, endpoint, path, ids, params, status, sha256, size,
  fetched_at, request_id, run_id. A response whose request and bytes are already indexed
  adds nothing, so a repeated fetch never duplicates.
- `day`: an Analytics report day fetched completely: report, day, as_of, the responses.
- `snapshot`: a complete directory snapshot: snapshot_id, taken_at, the responses.
- `window`: a completely read activity-feed window: lower, upper, cursors, pages, records.
- `gap`: a day or window that could not be collected, with the reason.

Objects are written to a temporary name and renamed; an index line is appended in one write
and fsynced. A line torn by a crash is dropped when the archive is next opened, and its object
(if any) is simply rewritten by the rerun.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import orjson
from isal import igzip, isal_zlib

from auditpack.errors import StoreError
from auditpack.records import RawResponse

INDEX_NAME = "index.jsonl"
_GZIP_WBITS = 31  # a gzip member, header and trailer checked
# isal's stub types its error as an instance; it is the exception class igzip_lib.IsalError
_UNREADABLE: tuple[type[BaseException], ...] = (
    OSError, EOFError, gzip.BadGzipFile, cast(type[BaseException], isal_zlib.error))
# Fields that record when or by which run something happened: not part of its identity.
_VOLATILE = frozenset({"seq", "run_id", "taken_at", "last_request_id"})


def _response_key(record: dict[str, Any]) -> tuple[str, str, str, str]:
    params = orjson.dumps(record["params"]).decode()
    return (record["endpoint"], record["path"], params, record["sha256"])


def _summary_key(record: dict[str, Any]) -> str:
    body = {k: v for k, v in record.items() if k not in _VOLATILE}
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


class Archive:
    """Append-only, content-addressed store of raw responses and collection records."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.objects = root / "objects"
        self.index_path = root / INDEX_NAME
        self._lock = threading.Lock()
        self._responses: set[tuple[str, str, str, str]] = set()
        self._summaries: set[str] = set()
        self._seq = 0
        self.objects.mkdir(parents=True, exist_ok=True)
        for stale in self.objects.glob("*/*.tmp*"):
            stale.unlink(missing_ok=True)  # a write a crash interrupted before its rename
        self._load()

    # -- reading -------------------------------------------------------------------------

    def records(self, after_seq: int = 0) -> Iterator[dict[str, Any]]:
        """Index records with `seq` greater than `after_seq`, in order."""
        for _, _, record in self.records_from(0):
            if record["seq"] > after_seq:
                yield record

    def records_from(self, offset: int) -> Iterator[tuple[int, int, dict[str, Any]]]:
        """Complete index records from byte `offset` (a line start) on, each with the offsets
        where its line starts and ends."""
        if not self.index_path.exists():
            return
        with self.index_path.open("rb") as fh:
            fh.seek(offset)
            for line in fh:
                if not line.endswith(b"\n"):
                    return
                yield offset, offset + len(line), orjson.loads(line)
                offset += len(line)

    def object_path(self, sha256: str) -> Path:
        """Where the body with this hash is kept."""
        return self.objects / sha256[:2] / f"{sha256}.json.gz"

    def read_body(self, sha256: str) -> bytes:
        """The verbatim body, checked against its name."""
        try:
            body = isal_zlib.decompress(self.object_path(sha256).read_bytes(), wbits=_GZIP_WBITS)
        except _UNREADABLE as exc:
            raise StoreError(f"archive object {sha256} is missing or unreadable: {exc}") from None
        if hashlib.sha256(body).hexdigest() != sha256:
            raise StoreError(f"archive object {sha256} does not match its hash: the archive was altered")
        return body

    @property
    def last_seq(self) -> int:
        """The sequence number of the newest index record."""
        return self._seq

    # -- writing -------------------------------------------------------------------------

    def put(self, raw: RawResponse, *, run_id: str, ids: dict[str, str] | None = None,
            span: tuple[str, str] | None = None) -> bool:
        """Archive one response; return False when that request and body were already held.

        `span` (oldest, newest `created_at` of a feed page) lets the database deduplicate a
        page against only the activities of its own time span.
        """
        record: dict[str, Any] = {
            "kind": "response", "api": raw.api.value, "endpoint": raw.endpoint, "path": raw.path,
            "ids": ids or {}, "params": [list(p) for p in raw.params], "status": raw.status,
            "sha256": raw.sha256, "size": len(raw.body),
            "fetched_at": raw.fetched_at.isoformat().replace("+00:00", "Z"),
            "request_id": raw.request_id, "run_id": run_id,
        }
        if span is not None:
            record["span"] = list(span)
        key = _response_key(record)
        with self._lock:
            if key in self._responses:
                return False
            self._write_object(raw.sha256, raw.body)
            self._append(record)
            self._responses.add(key)
        return True

    def note(self, kind: str, run_id: str, /, **fields: Any) -> bool:
        """Append a `day`, `snapshot`, `window` or `gap` record unless an identical one exists."""
        record: dict[str, Any] = {"kind": kind, **fields, "run_id": run_id}
        key = _summary_key(record)
        with self._lock:
            if key in self._summaries:
                return False
            self._append(record)
            self._summaries.add(key)
        return True

    def _write_object(self, sha256: str, body: bytes) -> None:
        path = self.object_path(sha256)
        if path.exists():
            return
        path.parent.mkdir(exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        # igzip (ISA-L) writes standard gzip about five times faster than zlib at level 1,
        # with the same ratio: at millions of events compression was a seventh of the CPU.
        tmp.write_bytes(igzip.compress(body, compresslevel=1, mtime=0))
        os.replace(tmp, path)

    def _append(self, record: dict[str, Any]) -> None:
        self._seq += 1
        line = orjson.dumps({"seq": self._seq, **record}) + b"\n"
        with self.index_path.open("ab") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())

    def _load(self) -> None:
        if not self.index_path.exists():
            return
        good = 0
        with self.index_path.open("rb") as fh:
            for line in fh:
                if not line.endswith(b"\n"):
                    break
                try:
                    record = orjson.loads(line)
                except orjson.JSONDecodeError:
                    raise StoreError(
                        f"{self.index_path}: line {self._seq + 1} is not valid JSON: the archive "
                        "index was altered") from None
                good += len(line)
                self._seq = record["seq"]
                if record["kind"] == "response":
                    self._responses.add(_response_key(record))
                else:
                    self._summaries.add(_summary_key(record))
        if good != self.index_path.stat().st_size:
            # A crash tore the last line: drop it; the rerun fetches that page again.
            with self.index_path.open("r+b") as fh:
                fh.truncate(good)
