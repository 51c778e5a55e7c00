"""Load and validate an ``auditpack.dataset/v1`` directory (layout in docs/mock-api.md).

Records are kept as the bytes the dataset stores, so the server sends unknown fields verbatim.
The activity feed is loaded eagerly (its indexes are needed at once); analytics day files and
directory snapshot files are read on first use.
"""

from __future__ import annotations

import gzip
import json
import re
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import msgspec
import orjson

from auditpack.errors import DatasetError
from auditpack.mockapi.activities import ActivityLog
from auditpack.mockapi.protocol import dumps

FORMAT = "auditpack.dataset/v1"
ANALYTICS_KINDS = ("users", "projects", "skills", "connectors", "user_usage", "user_cost")
_DAY_FILE = re.compile(r"(\d{4}-\d{2}-\d{2})\.jsonl\.gz")
_DAY_DIR = re.compile(r"(\d{4}-\d{2}-\d{2})")
_SAFE_NAME = re.compile(r"[A-Za-z0-9_\-:][A-Za-z0-9_.\-:]*")


@dataclass(frozen=True)
class Record:
    """One stored record: the JSON bytes to send and the parsed value to sort and match on."""

    raw: bytes
    value: dict[str, Any]


@dataclass(frozen=True)
class DatasetMeta:
    """The parts of ``dataset.json`` the server uses."""

    name: str
    as_of: datetime
    organization_id: str
    delay_days: int
    lookback_days: int
    summaries_envelope: str
    usage_refresh_lag_hours: float
    analytics_key: str
    compliance_key: str
    compliance_scopes: tuple[str, ...]


class Dataset:
    """A dataset directory, validated; see :func:`load_dataset`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.meta = _read_meta(root / "dataset.json")
        self.summaries = _read_summaries(root / "analytics" / "summaries.jsonl.gz")
        self.analytics_days = {
            kind: _day_files(root / "analytics" / kind) for kind in ANALYTICS_KINDS
        }
        self.snapshot_days = _snapshot_days(root / "compliance" / "directory")
        activities = root / "compliance" / "activities.jsonl.gz"
        if not activities.is_file():
            raise DatasetError(f"{activities}: missing (every dataset has an activity feed)")
        self.activities = ActivityLog(activities)
        self._snapshots: dict[date, DirectorySnapshot] = {}
        self._lock = threading.Lock()

    def read_day(self, kind: str, day: date) -> list[Record]:
        """The records of one analytics day file; a day without a file has none."""
        if day not in self.analytics_days[kind]:
            return []
        path = self.root / "analytics" / kind / f"{day.isoformat()}.jsonl.gz"
        return [Record(line, _parse_object(line, path, n)) for n, line in _jsonl_lines(path)]

    def read_day_users(self, kind: str, day: date) -> list[tuple[Any, bytes]]:
        """The records of one analytics day file as (their `user` field, raw line): sorting
        engagement rows needs no more, and the other fields (a users row is 1.5 kB) are
        checked but not built."""
        if day not in self.analytics_days[kind]:
            return []
        path = self.root / "analytics" / kind / f"{day.isoformat()}.jsonl.gz"
        out = []
        for number, line in _jsonl_lines(path):
            try:
                out.append((_USER_DECODER.decode(line).user, line))
            except msgspec.ValidationError:
                raise DatasetError(f"{path}: line {number}: expected a JSON object") from None
            except msgspec.DecodeError:  # the stdlib takes what msgspec may not
                out.append((_parse_object(line, path, number).get("user"), line))
        return out

    def snapshot_at(self, now: datetime) -> DirectorySnapshot:
        """The latest directory snapshot dated on or before ``now`` (an empty one if none)."""
        visible = [d for d in self.snapshot_days if datetime.combine(d, time(), UTC) <= now]
        day = max(visible, default=None)
        if day is None:
            return DirectorySnapshot(None)
        with self._lock:
            if day not in self._snapshots:
                path = self.root / "compliance" / "directory" / day.isoformat()
                self._snapshots[day] = DirectorySnapshot(path)
            return self._snapshots[day]


def load_dataset(root: Path) -> Dataset:
    """Read and check a dataset directory; raises DatasetError naming the offending file."""
    if not (root / "dataset.json").is_file():
        raise DatasetError(f"{root}: not a dataset directory (no dataset.json)")
    return Dataset(root)


class DirectorySnapshot:
    """The directory as of one day; files are parsed on first use and kept."""

    def __init__(self, root: Path | None) -> None:
        self.root = root
        self._files: dict[str, list[Record] | Record | None] = {}
        self._lock = threading.Lock()

    def organizations(self) -> list[Record]:
        return self._list("organizations.json")

    def groups(self) -> list[Record]:
        return self._list("groups.json")

    def users(self, org_uuid: str) -> list[Record]:
        return self._list(f"users/{org_uuid}.json") if _safe(org_uuid) else []

    def roles(self, org_uuid: str) -> list[Record]:
        return self._list(f"roles/{org_uuid}.json") if _safe(org_uuid) else []

    def permissions(self, role_id: str) -> list[Record]:
        return self._list(f"permissions/{role_id}.json") if _safe(role_id) else []

    def group_members(self, group_id: str) -> list[Record]:
        return self._list(f"group_members/{group_id}.json") if _safe(group_id) else []

    def settings(self, org_uuid: str) -> Record | None:
        if not _safe(org_uuid):
            return None
        found = self._file(f"settings/{org_uuid}.json")
        if isinstance(found, list):
            raise DatasetError(f"{self.root}/settings/{org_uuid}.json: expected a JSON object")
        return found

    def check(self) -> None:
        """Parse every file of the snapshot now, so a bad file fails at startup, not mid-run."""
        if self.root is None:
            return
        for path in sorted(self.root.rglob("*")):
            if path.is_file() and not path.name.startswith("."):
                relative = path.relative_to(self.root).as_posix()
                if relative.startswith("settings/"):
                    self.settings(path.stem)
                else:
                    self._list(relative)

    def _list(self, relative: str) -> list[Record]:
        found = self._file(relative)
        if found is None:
            return []
        if not isinstance(found, list):
            raise DatasetError(f"{self.root}/{relative}: expected a JSON array")
        return found

    def _file(self, relative: str) -> list[Record] | Record | None:
        with self._lock:
            if relative not in self._files:
                self._files[relative] = self._read(relative)
            return self._files[relative]

    def _read(self, relative: str) -> list[Record] | Record | None:
        if self.root is None or not (self.root / relative).is_file():
            return None
        path = self.root / relative
        value = _read_json(path)
        if isinstance(value, dict):
            return Record(dumps(value), value)
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            raise DatasetError(f"{path}: expected a JSON array of objects")
        return [Record(dumps(item), item) for item in value]


# -- dataset.json --------------------------------------------------------------------------


def _read_meta(path: Path) -> DatasetMeta:
    doc = _read_json(path)
    if not isinstance(doc, dict):
        raise DatasetError(f"{path}: expected a JSON object")
    if doc.get("format") != FORMAT:
        raise DatasetError(f"{path}: format must be {FORMAT!r}, got {doc.get('format')!r}")
    analytics = _field(doc, "analytics", dict, path)
    keys = _field(doc, "keys", dict, path)
    envelope = _field(analytics, "summaries_envelope", str, path)
    if envelope not in ("data", "summaries"):
        raise DatasetError(f"{path}: analytics.summaries_envelope must be 'data' or 'summaries'")
    scopes = _field(keys, "compliance_scopes", list, path)
    if not all(isinstance(scope, str) for scope in scopes):
        raise DatasetError(f"{path}: keys.compliance_scopes must be a list of strings")
    as_of = _field(doc, "as_of", str, path)
    try:
        when = datetime.fromisoformat(as_of)
    except ValueError:
        when = None
    if when is None or when.tzinfo is None:
        raise DatasetError(f"{path}: as_of must be an RFC 3339 timestamp, got {as_of!r}")
    return DatasetMeta(
        name=str(doc.get("name", path.parent.name)),
        as_of=when.astimezone(UTC),
        organization_id=_field(doc, "organization_id", str, path),
        delay_days=_field(analytics, "delay_days", int, path),
        lookback_days=_field(analytics, "lookback_days", int, path),
        summaries_envelope=envelope,
        usage_refresh_lag_hours=float(
            _field(analytics, "usage_refresh_lag_hours", (int, float), path)
        ),
        analytics_key=_field(keys, "analytics", str, path),
        compliance_key=_field(keys, "compliance", str, path),
        compliance_scopes=tuple(scopes),
    )


def _field(doc: dict[str, Any], name: str, kind: type | tuple[type, ...], path: Path) -> Any:
    value = doc.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        expected = kind.__name__ if isinstance(kind, type) else "a number"
        raise DatasetError(f"{path}: field {name!r} must be {expected}, got {value!r}")
    return value


# -- analytics -----------------------------------------------------------------------------


def _read_summaries(path: Path) -> dict[date, bytes]:
    """Summary days keyed by their date (``starting_date``, or the date of ``starting_at``)."""
    if not path.is_file():
        raise DatasetError(f"{path}: missing")
    days: dict[date, bytes] = {}
    for number, line in _jsonl_lines(path):
        record = Record(line, _parse_object(line, path, number))
        start = record.value.get("starting_date") or record.value.get("starting_at")
        try:
            day = date.fromisoformat(str(start)[:10])
        except ValueError:
            raise DatasetError(
                f"{path}: line {number}: needs starting_date or starting_at"
            ) from None
        if day in days:
            raise DatasetError(f"{path}: line {number}: a second record for {day}")
        days[day] = record.raw
    return days


def _day_files(folder: Path) -> frozenset[date]:
    if not folder.is_dir():
        return frozenset()
    return frozenset(
        _dated(path, _DAY_FILE, "a file named YYYY-MM-DD.jsonl.gz")
        for path in folder.iterdir()
        if not path.name.startswith(".")
    )


def _snapshot_days(folder: Path) -> tuple[date, ...]:
    if not folder.is_dir():
        return ()
    expected = "a snapshot directory named YYYY-MM-DD"
    days = []
    for path in folder.iterdir():
        if path.name.startswith("."):
            continue
        if not path.is_dir():
            raise DatasetError(f"{path}: expected {expected}")
        days.append(_dated(path, _DAY_DIR, expected))
    return tuple(sorted(days))


def _dated(path: Path, pattern: re.Pattern[str], expected: str) -> date:
    match = pattern.fullmatch(path.name)
    try:
        if match:
            return date.fromisoformat(match.group(1))
    except ValueError:
        pass
    raise DatasetError(f"{path}: expected {expected}")


# -- files ---------------------------------------------------------------------------------


def _jsonl_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """Each non-blank line of a gzipped JSON Lines file with its number.

    A day file is small: inflated whole and split, it reads several times faster than line
    by line through GzipFile.
    """
    try:
        lines = gzip.decompress(path.read_bytes()).split(b"\n")
    except (OSError, EOFError, zlib.error) as exc:
        raise DatasetError(f"{path}: cannot read gzip data: {exc}") from None
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if line:
            yield number, line


class _UserOnly(msgspec.Struct):
    user: Any = None


_USER_DECODER = msgspec.json.Decoder(_UserOnly)


def _parse_object(line: bytes, path: Path, number: int) -> dict[str, Any]:
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        try:  # the stdlib also takes integers beyond 64 bits
            value = json.loads(line)
        except ValueError:
            raise DatasetError(f"{path}: line {number}: not valid JSON") from None
    if not isinstance(value, dict):
        raise DatasetError(f"{path}: line {number}: expected a JSON object")
    return value


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_bytes())
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read: {exc.strerror}") from None
    except ValueError as exc:
        raise DatasetError(f"{path}: not valid JSON ({exc})") from None


def _safe(name: str) -> bool:
    """Path components taken from a URL must not walk out of the snapshot directory."""
    return _SAFE_NAME.fullmatch(name) is not None and ".." not in name
