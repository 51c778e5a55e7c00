"""DuckDB tables derived from the archive, and nothing else.

`Database.catch_up(archive)` replays every index record the database has not seen yet, in
index order, each batch in one transaction together with the replay position. Replaying the
whole index into an empty file (`auditpack store rebuild`) therefore yields the same tables.

Rows keep the record they came from (`page_sha256`, the archived body's hash) so every figure
can be traced back to the exact API response that proves it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

import duckdb
import orjson

from auditpack.errors import StoreError
from auditpack.store.archive import Archive
from auditpack.store.schema import ANALYTICS_TABLES, DIRECTORY_TABLES, SCHEMA_SQL, VOLATILE

# DuckDB's Python client tries `import pandas` several times for every statement that binds
# parameters; without pandas installed each try walks sys.path (about 0.8 ms a statement, a
# few seconds per million events). Record the absence once: later imports fail at once, with
# the same ModuleNotFoundError.
if "pandas" not in sys.modules and importlib.util.find_spec("pandas") is None:
    sys.modules["pandas"] = None  # type: ignore[assignment]

_ACTIVITIES_ENDPOINT = "/v1/compliance/activities"
_SUMMARIES_ENDPOINT = "/v1/organizations/analytics/summaries"
# One JSON parse per activity extracts every column (each `->>` would parse it again).
_ACTIVITY_PATHS = ["$.id", "$.created_at", "$.type", "$.organization_id", "$.organization_uuid",
                   "$.actor.type", "$.actor.user_id", "$.actor.email_address",
                   "$.actor.unauthenticated_email_address", "$.actor.ip_address",
                   "$.actor.user_agent"]
_FEED_BATCH = 20  # activity pages per insert: big enough to amortise, small enough for memory
_OTHER_BATCH = 200  # other records per transaction, at most
_OTHER_BODIES = 16  # bodies read per transaction of other records, at most


class Database:
    """The evidence database: queryable, rebuildable, never the source of truth."""

    def __init__(self, path: Path, *, memory_limit: str = "384MB", read_only: bool = False) -> None:
        self.path = path
        try:
            self.con = duckdb.connect(str(path), read_only=read_only)
        except duckdb.Error as exc:
            raise StoreError(f"cannot open the evidence database {path}: {exc}") from None
        self.con.execute(f"SET memory_limit='{memory_limit}'")
        self.con.execute("SET preserve_insertion_order=false")
        self.con.execute("SET TimeZone='UTC'")
        if not read_only:
            self.con.execute(SCHEMA_SQL)

    def close(self) -> None:
        """Close the connection."""
        self.con.close()

    @property
    def replayed_seq(self) -> int:
        """The newest archive index record applied to the tables."""
        row = self.con.execute("SELECT max(seq) FROM ingest_state").fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    # -- replay ------------------------------------------------------------------------------

    def catch_up(self, archive: Archive, *, final: bool = True) -> int:
        """Apply every index record not applied yet; return how many.

        Feed pages are applied in batches of `_FEED_BATCH` (the other kinds never touch the
        activities table, so they may be applied between them). With `final=False` (during a
        collection) a short trailing batch waits for more pages: one DuckDB statement per few
        pages would cost far more than the rows. Every applied record's seq is stored with its
        rows in one transaction, so a crash never loses or repeats one.
        """
        done = {int(r[0]) for r in self.con.execute("SELECT seq FROM ingest_state").fetchall()}
        applied = 0
        feed: list[dict[str, Any]] = []
        other: list[dict[str, Any]] = []
        for record in archive.records():
            if record["seq"] in done:
                continue
            if record["kind"] == "response" and record["endpoint"] == _ACTIVITIES_ENDPOINT:
                feed.append(record)
                if len(feed) >= _FEED_BATCH:
                    applied += self._apply_feed(archive, feed)
                    feed = []
                continue
            other.append(record)
            # a transaction's rows stay in memory until it commits: bound the bodies it reads
            if len(other) >= _OTHER_BATCH or sum(len(r.get("responses") or ()) + 1
                                                 for r in other) >= _OTHER_BODIES:
                applied += self._apply_others(archive, other)
                other = []
        applied += self._apply_others(archive, other)
        if feed and final:
            applied += self._apply_feed(archive, feed)
        return applied

    def _apply_others(self, archive: Archive, records: list[dict[str, Any]]) -> int:
        """Apply non-feed records in index order, in one transaction with their seqs (a
        commit each cost more than most of the records)."""
        if not records:
            return 0
        self.con.execute("BEGIN TRANSACTION")
        try:
            for record in records:
                self._apply(archive, record)
            self.con.executemany("INSERT INTO ingest_state VALUES (?)",
                                 [[r["seq"]] for r in records])
            self.con.execute("COMMIT")
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        return len(records)

    def _apply(self, archive: Archive, record: dict[str, Any]) -> None:
        kind = record["kind"]
        if kind == "response":
            self._insert_response(record)
            if record["endpoint"] == _SUMMARIES_ENDPOINT:
                self._apply_summaries(archive, record)
        elif kind == "day":
            self._apply_day(archive, record)
        elif kind == "snapshot":
            self._apply_snapshot(archive, record)
        elif kind == "window":
            self.con.execute(
                "INSERT INTO feed_windows VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [record["lower"], record["upper"], record["start_cursor"], record["end_cursor"],
                 record["pages"], record["records"], record.get("last_request_id"),
                 record["run_id"]])
        elif kind == "gap":
            self.con.execute(
                "INSERT INTO gaps VALUES (?, ?, ?, ?, ?, ?)",
                [record["source"], record["report"], record["day"], record["reason"],
                 record.get("detail"), record.get("as_of")])
        # Unknown kinds written by a newer auditpack are kept in the archive and skipped here.

    def _insert_response(self, record: dict[str, Any]) -> None:
        self.con.execute(
            "INSERT INTO responses VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [record["seq"], record["api"], record["endpoint"], record["path"],
             orjson.dumps(record["ids"]).decode(), orjson.dumps(record["params"]).decode(),
             record["status"], record["sha256"], record["size"], record["fetched_at"],
             record["request_id"], record["run_id"]])

    # -- the activity feed ----------------------------------------------------------------

    def _apply_feed(self, archive: Archive, records: list[dict[str, Any]]) -> int:
        """Insert a batch of feed pages' activities, then drop the repeats it brought.

        Repeats are rare (overlapping windows, re-read pages), so rows go in unfiltered and
        only ids seen twice are looked for afterwards, among the activities of the batch's
        own time span (pruned by the created_at zone maps). Filtering on the way in (anti-join
        plus a window over the wide rows) cost as much as the insert itself. Of an id's rows
        the one from the earliest archived page stays, as if pages were applied one by one.
        """
        spans = [r["span"] for r in records if r.get("span")]  # None: an empty page
        files = self._object_files(archive, [r["sha256"] for r in records])
        # one transaction for the batch's responses, rows and replay positions
        self.con.execute("BEGIN TRANSACTION")
        try:
            for record in records:
                self._insert_response(record)
            self.con.execute(f"""
                INSERT INTO activities
                SELECT v[1], TRY_CAST(v[2] AS TIMESTAMPTZ), v[3], v[4], v[5], v[6], v[7],
                       coalesce(v[8], v[9]), v[10], v[11], r, page_sha256
                FROM (SELECT json_extract_string(r, {_ACTIVITY_PATHS!r}) AS v, r, page_sha256
                      FROM {self._rows_of(files)})
            """)
            self._drop_repeats(min((str(s[0]) for s in spans), default=None),
                               max((str(s[1]) for s in spans), default=None))
            self.con.executemany("INSERT INTO ingest_state VALUES (?)",
                                 [[r["seq"]] for r in records])
            self.con.execute("COMMIT")
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        return len(records)

    def _drop_repeats(self, low: str | None, high: str | None) -> None:
        """Keep one row per activity id among those created in [low, high] (an unknown bound
        is open) or undated."""
        repeated = self.con.execute("""
            CREATE OR REPLACE TEMP TABLE repeated_ids AS
            SELECT id FROM (
                SELECT id FROM activities
                WHERE created_at BETWEEN coalesce(TRY_CAST($low AS TIMESTAMPTZ), '-infinity')
                                     AND coalesce(TRY_CAST($high AS TIMESTAMPTZ), 'infinity')
                UNION ALL
                SELECT id FROM activities WHERE created_at IS NULL)
            GROUP BY id HAVING count(*) > 1
        """, {"low": low, "high": high}).fetchone()
        if repeated and repeated[0]:
            self.con.execute("""
                DELETE FROM activities WHERE rowid IN (
                    SELECT rowid FROM (
                        SELECT a.rowid, row_number() OVER (
                            PARTITION BY a.id ORDER BY p.seq, a.raw::VARCHAR) AS n
                        FROM activities a
                        JOIN (SELECT sha256, min(seq) AS seq FROM responses GROUP BY sha256) p
                          ON p.sha256 = a.page_sha256
                        WHERE a.id IN (SELECT id FROM repeated_ids))
                    WHERE n > 1)
            """)
        self.con.execute("DROP TABLE repeated_ids")

    @staticmethod
    def _object_files(archive: Archive, shas: list[str]) -> list[str]:
        files = [str(archive.object_path(sha)) for sha in shas]
        for sha, file in zip(shas, files, strict=True):
            if not Path(file).exists():
                raise StoreError(f"archive object {sha} is missing: run `auditpack store verify` "
                                 "and collect again")
        return files

    @staticmethod
    def _rows_of(files: list[str], column: str = "data") -> str:
        """A FROM clause yielding (r JSON, page_sha256, filename) for every element of each
        archived body's `column` array.

        Each body is read whole as one JSON value and its array taken apart with
        `json_extract(..., '$.data[*]')`: about twice as fast as `read_json` typing the array
        as JSON[], and all of it in DuckDB, off Python's lock, so it overlaps the fetching.
        """
        quoted = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
        return (f"(SELECT unnest(json_extract(json, '$.{column}[*]')) AS r, filename, "
                f"regexp_extract(filename, '([0-9a-f]{{64}})[.]json[.]gz$', 1) AS page_sha256 "
                f"FROM read_json_objects([{quoted}], format='unstructured', compression='gzip', "
                f"filename=true, maximum_object_size=33554432))")

    # -- analytics ------------------------------------------------------------------------

    def _rows(self, archive: Archive, shas: list[str], column: str = "data") -> str:
        """A FROM clause yielding (r JSON, page_sha256, filename) for the given bodies."""
        return self._rows_of(self._object_files(archive, shas), column)

    def _apply_day(self, archive: Archive, record: dict[str, Any]) -> None:
        table, select = ANALYTICS_TABLES[record["report"]]
        # Summaries rows are applied per response (one response spans many days).
        if record["report"] != "summaries":
            self.con.execute(f"DELETE FROM {table} WHERE day = ?", [record["day"]])
        if record["responses"] and record["report"] != "summaries":
            source = self._rows(archive, record["responses"])
            self.con.execute(f"INSERT INTO {table} SELECT ?::DATE AS day, {select} FROM {source}",
                             [record["day"]])
        self.con.execute("DELETE FROM analytics_days WHERE report = ? AND day = ?",
                         [record["report"], record["day"]])
        self.con.execute("INSERT INTO analytics_days VALUES (?, ?, ?, ?)",
                         [record["report"], record["day"], record["as_of"], len(record["responses"])])

    def _apply_summaries(self, archive: Archive, record: dict[str, Any]) -> None:
        body = orjson.loads(archive.read_body(record["sha256"]))
        column = "data" if "data" in body else "summaries"
        table, select = ANALYTICS_TABLES["summaries"]
        source = self._rows(archive, [record["sha256"]], column)
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE s_batch AS SELECT {select} FROM {source}")
        self.con.execute(f"DELETE FROM {table} WHERE day IN (SELECT day FROM s_batch)")
        self.con.execute(f"INSERT INTO {table} SELECT * FROM s_batch WHERE day IS NOT NULL")
        self.con.execute("DROP TABLE s_batch")

    # -- directory ------------------------------------------------------------------------

    def _apply_snapshot(self, archive: Archive, record: dict[str, Any]) -> None:
        snapshot_id = record["snapshot_id"]
        exists = self.con.execute("SELECT 1 FROM dir_snapshots WHERE snapshot_id = ?",
                                  [snapshot_id]).fetchone()
        self.con.execute("INSERT INTO dir_observations VALUES (?, ?, ?)",
                         [snapshot_id, record["taken_at"], record["as_of"]])
        if exists:
            return
        self.con.execute("INSERT INTO dir_snapshots VALUES (?, ?)", [snapshot_id, record["as_of"]])
        for part in record["responses"]:
            table_key = part["endpoint"]
            if table_key not in DIRECTORY_TABLES:
                continue
            for table, select, column in DIRECTORY_TABLES[table_key]:
                params = [snapshot_id, *[part["ids"].get(k, "") for k in ("org_uuid", "role_id",
                                                                           "group_id")]]
                source = self._rows(archive, [part["sha256"]], column)
                self.con.execute(
                    f"INSERT INTO {table} SELECT {select} FROM (SELECT ?::VARCHAR AS snapshot_id, "
                    f"?::VARCHAR AS p_org_uuid, ?::VARCHAR AS p_role_id, ?::VARCHAR AS p_group_id, "
                    f"src.* EXCLUDE (filename) FROM {source} AS src)", params)

    # -- comparison -----------------------------------------------------------------------

    def fingerprint(self) -> dict[str, str]:
        """A digest of every table's content, leaving out when and by which run it was fetched.

        Two stores built from the same responses have equal fingerprints, whatever order and
        however many runs it took to collect them. Rows are hashed inside DuckDB and only their
        sorted hashes stream out, so a table of millions of rows fits the memory limit.
        """
        out: dict[str, str] = {}
        tables = [r[0] for r in self.con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
            "AND table_name <> 'ingest_state' ORDER BY table_name").fetchall()]
        for table in tables:
            cols = [r[0] for r in self.con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = ? "
                "ORDER BY ordinal_position", [table]).fetchall() if r[0] not in VOLATILE]
            row = ", ".join(f'"{c}"::VARCHAR' for c in cols)
            digest = hashlib.sha256()
            cursor = self.con.execute(f"SELECT sha256(to_json([{row}])) AS h FROM {table} "
                                      "ORDER BY h")
            while hashes := cursor.fetchmany(65_536):
                for (h,) in hashes:
                    digest.update(bytes.fromhex(h))
            out[table] = digest.hexdigest()
        return out
