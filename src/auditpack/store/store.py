"""The evidence store directory: archive, database, collection log, checkpoint and lock."""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import orjson

from auditpack.errors import StoreError
from auditpack.store.archive import Archive
from auditpack.store.db import Database
from auditpack.store.schema import VOLATILE

GENESIS = "0" * 64


class CollectionLog:
    """An append-only JSONL log of collection runs; each line carries the previous line's hash.

    Editing or deleting any earlier line breaks every later `prev_sha256`, which `verify`
    reports, so the log cannot be rewritten unnoticed.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def entries(self) -> list[dict[str, Any]]:
        """Every entry, oldest first."""
        if not self.path.exists():
            return []
        return [orjson.loads(line) for line in self.path.read_bytes().splitlines() if line]

    def append(self, entry: dict[str, Any]) -> dict[str, Any]:
        """Append an entry chained to the last one; return it as written."""
        prev = GENESIS
        if self.path.exists():
            lines = self.path.read_bytes().splitlines()
            if lines:
                prev = hashlib.sha256(lines[-1]).hexdigest()
        written = {**entry, "prev_sha256": prev}
        with self.path.open("ab") as fh:
            fh.write(orjson.dumps(written) + b"\n")
            fh.flush()
            os.fsync(fh.fileno())
        return written

    def verify(self) -> list[str]:
        """Problems with the chain, if any (empty when intact)."""
        problems: list[str] = []
        prev = GENESIS
        if not self.path.exists():
            return problems
        for number, line in enumerate(self.path.read_bytes().splitlines(), start=1):
            entry = orjson.loads(line)
            if entry.get("prev_sha256") != prev:
                problems.append(f"{self.path.name} line {number}: prev_sha256 does not match "
                                "the line before it")
            prev = hashlib.sha256(line).hexdigest()
        return problems


class Store:
    """Paths and handles of one evidence store directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.archive_dir = root / "archive"
        self.db_path = root / "auditpack.duckdb"
        self.log = CollectionLog(root / "collection-log.jsonl")
        self.checkpoint_path = root / "state" / "checkpoint.json"
        self._lock_file: IO[bytes] | None = None

    @classmethod
    def open_existing(cls, root: Path) -> Store:
        """A store that must already hold an archive."""
        store = cls(root)
        if not (store.archive_dir / "index.jsonl").exists():
            raise StoreError(f"no evidence store at {root}",
                             hint="run `auditpack collect` first, or check store.path")
        return store

    def archive(self) -> Archive:
        """The raw archive (created on first use)."""
        return Archive(self.archive_dir)

    def database(self, *, read_only: bool = False) -> Database:
        """The derived database."""
        if read_only and not self.db_path.exists():
            raise StoreError(f"no evidence database at {self.db_path}",
                             hint="run `auditpack store rebuild`")
        return Database(self.db_path, read_only=read_only)

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the store's exclusive lock: one writer at a time."""
        self.root.mkdir(parents=True, exist_ok=True)
        fh = (self.root / ".lock").open("wb")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            raise StoreError(f"the store {self.root} is in use by another auditpack process",
                             hint="wait for it to finish") from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
            fh.close()

    # -- checkpoint of the activity-feed window in progress ---------------------------------

    def load_checkpoint(self) -> dict[str, Any] | None:
        """The feed window being read when the last run stopped, if it did not finish."""
        if not self.checkpoint_path.exists():
            return None
        try:
            data: dict[str, Any] = orjson.loads(self.checkpoint_path.read_bytes())
        except orjson.JSONDecodeError:
            return None  # torn by a crash before rename cannot happen; be safe anyway
        return data

    def save_checkpoint(self, state: dict[str, Any] | None) -> None:
        """Write the checkpoint atomically (or remove it)."""
        if state is None:
            self.checkpoint_path.unlink(missing_ok=True)
            return
        self.checkpoint_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.checkpoint_path.with_suffix(".tmp")
        with tmp.open("wb") as fh:
            fh.write(orjson.dumps(state))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.checkpoint_path)

    def fingerprint(self) -> dict[str, Any]:
        """What the store holds, independent of when and in how many runs it was collected."""
        archive = self.archive()
        objects = sorted(p.name for p in archive.objects.glob("*/*.json.gz"))
        records = []
        for record in archive.records():
            kept = {k: v for k, v in record.items() if k not in VOLATILE}
            records.append(orjson.dumps(kept, option=orjson.OPT_SORT_KEYS).decode())
        db = self.database()
        try:
            tables = db.fingerprint()
        finally:
            db.close()
        return {"objects": objects, "index": sorted(records), "tables": tables}
