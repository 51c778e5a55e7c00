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
from dataclasses import dataclass, field
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
_OTHER_BODIES = 128  # bodies read per transaction of other records, at most


@dataclass
class _Pending:
    """Index records read but not applied yet, and where the first of them starts."""

    records: list[dict[str, Any]] = field(default_factory=list)
    bodies: int = 0
    first: int = 0

    def add(self, offset: int, record: dict[str, Any], bodies: int) -> None:
        if not self.records:
            self.first = offset
        self.records.append(record)
        self.bodies += bodies

    def take(self) -> list[dict[str, Any]]:
        taken, self.records, self.bodies = self.records, [], 0
        return taken


class Database:
    """The evidence database: queryable, rebuildable, never the source of truth."""

    def __init__(self, path: Path, *, memory_limit: str = "384MB", read_only: bool = False) -> None:
        self.path = path
        self._done: set[int] | None = None  # seqs applied, read from ingest_state once
        self._resume_offset = 0  # where in the index the next catch_up starts reading
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

        Feed pages are applied in batches of `_FEED_BATCH`, other records in transactions of
        up to `_OTHER_BODIES` bodies (they never touch the activities table, so the two may
        interleave). With `final=False` (during a collection) short trailing batches wait for
        more records: DuckDB statements and above all commits (each writes the rows to the
        WAL, and every 16 MB of WAL rewrites the tables' open row groups) cost far more per
        record in small batches. Every applied record's seq is stored with its
        rows in one transaction, so a crash never loses or repeats one.

        The index is read from where the previous call left off (the first record it left
        waiting), not from the start: a collection calls this twice a second.
        """
        if self._done is None:
            self._done = {int(r[0]) for r in
                          self.con.execute("SELECT seq FROM ingest_state").fetchall()}
        applied = 0
        feed, other = _Pending(), _Pending()
        end = self._resume_offset
        for offset, line_end, record in archive.records_from(self._resume_offset):
            end = line_end
            if record["seq"] in self._done:
                continue
            if record["kind"] == "response" and record["endpoint"] == _ACTIVITIES_ENDPOINT:
                feed.add(offset, record, 1)
                if len(feed.records) >= _FEED_BATCH:
                    applied += self._apply_feed(archive, feed.take())
                continue
            other.add(offset, record, len(record.get("responses") or ()) + 1)
            if len(other.records) >= _OTHER_BATCH or other.bodies >= _OTHER_BODIES:
                applied += self._apply_others(archive, other.take())
        if final:
            applied += self._apply_others(archive, other.take())
            if feed.records:
                applied += self._apply_feed(archive, feed.take())
        self._resume_offset = min((p.first for p in (feed, other) if p.records), default=end)
        return applied

    def _commit(self, records: list[dict[str, Any]]) -> None:
        """Record the records as applied and commit the open transaction."""
        seqs = [r["seq"] for r in records]
        self.con.execute("INSERT INTO ingest_state SELECT unnest($seqs::BIGINT[])",
                         {"seqs": seqs})
        self.con.execute("COMMIT")
        assert self._done is not None
        self._done.update(seqs)

    def _apply_others(self, archive: Archive, records: list[dict[str, Any]]) -> int:
        """Apply non-feed records in one transaction with their seqs, a few statements per
        kind rather than per record (each DuckDB statement costs about a millisecond).

        Each kind writes its own tables, so kinds may be applied one after the other; within
        a kind index order is kept, and of two `day` records for the same report day only
        the later counts (it replaces the day's rows).
        """
        if not records:
            return 0
        responses = [r for r in records if r["kind"] == "response"]
        days = {(r["report"], r["day"]): r for r in records if r["kind"] == "day"}
        self.con.execute("BEGIN TRANSACTION")
        try:
            self._insert_responses(responses)
            for record in responses:
                if record["endpoint"] == _SUMMARIES_ENDPOINT:
                    self._apply_summaries(archive, record)
            self._apply_days(archive, list(days.values()))
            for record in records:
                self._apply_directory_or_note(archive, record)
            self._commit(records)
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        return len(records)

    def _apply_directory_or_note(self, archive: Archive, record: dict[str, Any]) -> None:
        kind = record["kind"]
        if kind == "snapshot":
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

    def _insert_responses(self, records: list[dict[str, Any]]) -> None:
        """One row per response record, all in one statement."""
        if not records:
            return
        columns = {name: [r[name] for r in records] for name in (
            "seq", "api", "endpoint", "path", "status", "sha256", "size", "fetched_at",
            "request_id", "run_id")}
        for name in ("ids", "params"):
            columns[name] = [orjson.dumps(r[name]).decode() for r in records]
        self.con.execute(
            "INSERT INTO responses SELECT unnest($seq::BIGINT[]), unnest($api::VARCHAR[]), "
            "unnest($endpoint::VARCHAR[]), unnest($path::VARCHAR[]), "
            "unnest($ids::VARCHAR[])::JSON, unnest($params::VARCHAR[])::JSON, "
            "unnest($status::INTEGER[]), unnest($sha256::VARCHAR[]), unnest($size::BIGINT[]), "
            "unnest($fetched_at::VARCHAR[])::TIMESTAMPTZ, unnest($request_id::VARCHAR[]), "
            "unnest($run_id::VARCHAR[])", columns)

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
            self._insert_responses(records)
            self.con.execute(f"""
                INSERT INTO activities
                SELECT v[1], TRY_CAST(v[2] AS TIMESTAMPTZ), v[3], v[4], v[5], v[6], v[7],
                       coalesce(v[8], v[9]), v[10], v[11], r, page_sha256
                FROM (SELECT json_extract_string(r, {_ACTIVITY_PATHS!r}) AS v, r, page_sha256
                      FROM {self._rows_of(files)})
            """)
            self._drop_repeats(min((str(s[0]) for s in spans), default=None),
                               max((str(s[1]) for s in spans), default=None))
            self._commit(records)
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

    def _apply_days(self, archive: Archive, records: list[dict[str, Any]]) -> None:
        """Replace the rows of each report day by those of its responses: per report, one
        DELETE and one INSERT for all the days (summaries rows are applied per response, as
        one response spans many days)."""
        for report in dict.fromkeys(r["report"] for r in records):
            group = [r for r in records if r["report"] == report]
            days = [r["day"] for r in group]
            if report != "summaries":
                table, select = ANALYTICS_TABLES[report]
                self.con.execute(f"DELETE FROM {table} WHERE list_contains($days::DATE[], day)",
                                 {"days": days})
                pairs = [(r["day"], sha) for r in group for sha in r["responses"]]
                if pairs:
                    shas = list(dict.fromkeys(sha for _, sha in pairs))
                    # a body shared by two days (say, an empty page) yields rows for each
                    self.con.execute(
                        f"INSERT INTO {table} SELECT m.day, {select} FROM "
                        f"{self._rows(archive, shas)} AS src JOIN (SELECT "
                        "unnest($days::DATE[]) AS day, unnest($shas::VARCHAR[]) AS m_sha) m "
                        "ON m.m_sha = src.page_sha256",
                        {"days": [d for d, _ in pairs], "shas": [s for _, s in pairs]})
            self.con.execute("DELETE FROM analytics_days WHERE report = $report AND "
                             "list_contains($days::DATE[], day)", {"report": report, "days": days})
            self.con.execute(
                "INSERT INTO analytics_days SELECT $report, unnest($days::DATE[]), "
                "unnest($as_of::VARCHAR[])::TIMESTAMPTZ, unnest($pages::INTEGER[])",
                {"report": report, "days": days, "as_of": [r["as_of"] for r in group],
                 "pages": [len(r["responses"]) for r in group]})

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
