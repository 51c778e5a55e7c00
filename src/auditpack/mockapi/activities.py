"""The Activity Feed of a dataset: raw JSON lines in one buffer plus compact per-row indexes.

Millions of activities must be served at tens of thousands per second, so nothing here holds a
dict per activity. The decompressed file stays one ``bytearray``; per row we keep its line offset,
its ``created_at`` (negated, so the newest-first file order is ascending and bisectable) and small
integer codes for the filterable fields. A page is the raw lines joined with commas.
"""

from __future__ import annotations

import queue
import threading
import zlib
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import accumulate, compress, islice, pairwise, repeat
from operator import add, not_
from pathlib import Path
from typing import Any

import orjson

from auditpack.errors import DatasetError
from auditpack.mockapi.cache import Lru

_CHUNK = 1 << 22  # decompressed bytes per step: big enough to amortize, small enough to recycle


@dataclass(frozen=True)
class ActivityFilter:
    """The filters of one feed query; each empty tuple means "no filter on this field"."""

    types: tuple[str, ...] = ()
    exclude_types: tuple[str, ...] = ()
    actor_ids: tuple[str, ...] = ()
    organization_ids: tuple[str, ...] = ()

    def is_empty(self) -> bool:
        return not (self.types or self.exclude_types or self.actor_ids or self.organization_ids)


@dataclass(frozen=True)
class TimeBounds:
    """``created_at`` bounds as POSIX timestamps; ``None`` means unbounded."""

    gt: float | None = None
    gte: float | None = None
    lt: float | None = None
    lte: float | None = None


@dataclass(frozen=True)
class FeedPage:
    body_items: bytes
    has_more: bool
    first_id: str | None
    last_id: str | None


class ActivityLog:
    """Every activity, newest first (``created_at`` desc, ``id`` desc), as in the dataset file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._buf = bytearray()
        self._starts = array("q", [0])  # line p is _buf[_starts[p] : _starts[p + 1] - 1]
        self._neg_ts = array("d")  # -created_at, ascending in file order
        self._type_code = array("I")
        self._actor_code = array("I")
        self._org_code = array("I")
        self._types: dict[str, int] = {}
        self._actors: dict[str | None, int] = {None: 0}
        self._orgs: dict[tuple[str | None, str | None], int] = {(None, None): 0}
        self._ids_descending = True  # lets id lookups bisect the lines, no index needed
        self._id_index: array[int] | None = None
        self._id_shift = 0
        self._matches: Lru[ActivityFilter, Sequence[int]] = Lru(8)
        self._load()
        self._view = memoryview(self._buf)
        if not self._ids_descending:
            self._build_id_index()

    def __len__(self) -> int:
        return len(self._neg_ts)

    # -- loading ---------------------------------------------------------------------------

    def _load(self) -> None:
        indexer = _Indexer(self)
        try:
            for chunk in _background(_gzip_line_chunks(self.path)):
                lines = chunk.split(b"\n")
                lines.pop()  # chunks end with a newline
                if b"" in lines or b"\r" in chunk:
                    lines = [line.strip() for line in lines if line.strip()]
                    chunk = b"\n".join(lines) + b"\n" if lines else b""
                indexer.feed(lines)
                self._buf += chunk
        except (zlib.error, EOFError, OSError) as exc:
            raise DatasetError(f"{self.path}: cannot read gzip data: {exc}") from None
        self._ids_descending = indexer.ids_descending

    def _build_id_index(self) -> None:
        """Sorted (hash << shift | position) keys: O(log n) lookups in 8 bytes per activity.

        Only needed when ids do not descend in file order; otherwise lookups bisect the lines.
        """
        n = len(self)
        self._id_shift = max(1, n.bit_length())
        hash_mask = (1 << (63 - self._id_shift)) - 1
        keys = sorted(((hash(self.id_at(p)) & hash_mask) << self._id_shift) | p for p in range(n))
        for left, right in pairwise(keys):
            if left >> self._id_shift == right >> self._id_shift:
                pos_mask = (1 << self._id_shift) - 1
                if self.id_at(left & pos_mask) == self.id_at(right & pos_mask):
                    raise DatasetError(
                        f"{self.path}: duplicate activity id {self.id_at(left & pos_mask)}"
                    )
        self._id_index = array("q", keys)

    # -- rows ------------------------------------------------------------------------------

    def line(self, pos: int) -> memoryview:
        return self._view[self._starts[pos] : self._starts[pos + 1] - 1]

    def id_at(self, pos: int) -> str:
        activity_id: str = orjson.loads(self.line(pos))["id"]
        return activity_id

    def position_of(self, activity_id: str) -> int | None:
        """The file position of an activity id, or None when no activity has it."""
        if self._id_index is None:
            # Ids descend in file order: bisect over the reversed positions, parsing ids.
            n = len(self)
            i = bisect_left(range(n), activity_id, key=lambda k: self.id_at(n - 1 - k))
            return n - 1 - i if i < n and self.id_at(n - 1 - i) == activity_id else None
        shift = self._id_shift
        wanted = hash(activity_id) & ((1 << (63 - shift)) - 1)
        pos_mask = (1 << shift) - 1
        index = self._id_index
        i = bisect_left(index, wanted << shift)
        while i < len(index) and index[i] >> shift == wanted:
            if self.id_at(index[i] & pos_mask) == activity_id:
                return index[i] & pos_mask
            i += 1
        return None

    # -- queries ---------------------------------------------------------------------------

    def matching(self, flt: ActivityFilter) -> Sequence[int]:
        """File positions (ascending) of the activities that pass the filter; cached."""
        if flt.is_empty():
            return range(len(self))
        return self._matches.get_or_compute(flt, lambda: self._scan(flt))

    def _scan(self, flt: ActivityFilter) -> Sequence[int]:
        masks: list[Iterator[Any]] = []
        if flt.types:
            wanted = {self._types[t] for t in flt.types if t in self._types}
            masks.append(map(wanted.__contains__, self._type_code))
        if flt.exclude_types:
            unwanted = {self._types[t] for t in flt.exclude_types if t in self._types}
            masks.append(map(not_, map(unwanted.__contains__, self._type_code)))
        if flt.actor_ids:
            actors = {self._actors[a] for a in flt.actor_ids if a in self._actors} - {0}
            masks.append(map(actors.__contains__, self._actor_code))
        if flt.organization_ids:
            names = set(flt.organization_ids)
            orgs = {c for o, c in self._orgs.items() if c and any(v in names for v in o)}
            masks.append(map(orgs.__contains__, self._org_code))
        mask = masks[0] if len(masks) == 1 else map(_all, *masks)
        return array("q", compress(range(len(self)), mask))

    def window(self, rows: Sequence[int], bounds: TimeBounds) -> tuple[int, int]:
        """The index range of ``rows`` whose ``created_at`` lies inside the bounds."""
        key = self._neg_ts.__getitem__
        lo, hi = 0, len(rows)
        if bounds.gt is not None:
            hi = min(hi, bisect_left(rows, -bounds.gt, key=key))
        if bounds.gte is not None:
            hi = min(hi, bisect_right(rows, -bounds.gte, key=key))
        if bounds.lt is not None:
            lo = max(lo, bisect_right(rows, -bounds.lt, key=key))
        if bounds.lte is not None:
            lo = max(lo, bisect_left(rows, -bounds.lte, key=key))
        return lo, max(lo, hi)

    def created_at(self, pos: int) -> float:
        return -self._neg_ts[pos]

    def page(
        self,
        rows: Sequence[int],
        window: tuple[int, int],
        *,
        limit: int,
        ascending: bool,
        after: int | None = None,
        before: int | None = None,
    ) -> FeedPage:
        """One page of ``rows[window]`` in result order, relative to a cursor row.

        ``after``/``before`` are file positions. Result order is the file order (newest first)
        or its reverse; a page therefore walks either up or down the file positions, and the
        cursor row need not itself be in ``rows``.
        """
        lo, hi = window
        upward = ascending == (before is not None)
        cursor = after if after is not None else before
        if upward:
            start = lo if cursor is None else bisect_right(rows, cursor, lo, hi)
            stop = min(hi, start + limit)
            has_more = stop < hi
        else:
            stop = hi if cursor is None else bisect_left(rows, cursor, lo, hi)
            start = max(lo, stop - limit)
            has_more = start > lo
        if start >= stop:
            return FeedPage(b"", has_more, None, None)
        first, last = rows[start], rows[stop - 1]
        if isinstance(rows, range):
            items = self._contiguous(first, last + 1, ascending)
        else:
            picked = rows[start:stop]
            order = reversed(picked) if ascending else iter(picked)
            items = b",".join([self.line(p) for p in order])
        if ascending:
            first, last = last, first
        return FeedPage(items, has_more, self.id_at(first), self.id_at(last))

    def _contiguous(self, lo: int, hi: int, ascending: bool) -> bytes:
        """Lines lo..hi-1 are adjacent in the buffer: one slice, newlines become commas."""
        chunk = bytes(self._view[self._starts[lo] : self._starts[hi] - 1])
        if ascending:
            return b",".join(reversed(chunk.split(b"\n")))
        return chunk.replace(b"\n", b",")


class _Indexer:
    """Builds an ActivityLog's per-row arrays; the hot loop of loading, kept free of lookups."""

    def __init__(self, log: ActivityLog) -> None:
        self.log = log
        self.line_no = 0
        self.prev_neg = float("-inf")
        self.prev_id = ""
        self.ids_descending = True

    def feed(self, lines: list[bytes]) -> None:
        log = self.log
        loads, parse_time = orjson.loads, datetime.fromisoformat
        add_ts = log._neg_ts.append
        add_type, add_actor, add_org = (
            log._type_code.append,
            log._actor_code.append,
            log._org_code.append,
        )
        types, actors, orgs = log._types, log._actors, log._orgs
        prev_neg, prev_id, ids_descending = self.prev_neg, self.prev_id, self.ids_descending
        count = 0
        try:
            for count, line in enumerate(lines, 1):  # noqa: B007 - count names a bad line
                record = loads(line)
                activity_id = record["id"]
                neg = -parse_time(record["created_at"]).timestamp()
                if neg <= prev_neg and (neg < prev_neg or activity_id >= prev_id):
                    raise _OutOfOrder(activity_id)
                if activity_id >= prev_id:
                    ids_descending = ids_descending and prev_id == ""
                prev_neg, prev_id = neg, activity_id
                add_ts(neg)
                kind = record["type"]
                code = types.get(kind)
                add_type(code if code is not None else _code(types, kind))
                actor = record.get("actor")
                user = actor.get("user_id") if type(actor) is dict else None
                code = actors.get(user)
                add_actor(code if code is not None else _code(actors, _text(user)))
                org = (record.get("organization_id"), record.get("organization_uuid"))
                code = orgs.get(org)
                add_org(code if code is not None else _code(orgs, (_text(org[0]), _text(org[1]))))
                if type(activity_id) is not str or type(kind) is not str:
                    raise TypeError("id and type must be strings")
        except _OutOfOrder as exc:
            raise DatasetError(
                f"{log.path}: line {self.line_no + count}: activities must be newest first "
                f"(created_at desc, id desc); {exc.args[0]} is out of order"
            ) from None
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
            raise DatasetError(
                f"{log.path}: line {self.line_no + count}: not a valid activity ({exc!r})"
            ) from None
        steps = map(add, map(len, lines), repeat(1))  # line length plus its newline
        log._starts.extend(islice(accumulate(steps, initial=log._starts[-1]), 1, None))
        self.line_no += count
        self.prev_neg, self.prev_id, self.ids_descending = prev_neg, prev_id, ids_descending


class _OutOfOrder(Exception):
    pass


def _code(codes: dict[Any, int], value: Any) -> int:
    code = codes.get(value)
    if code is None:
        code = codes[value] = len(codes)
    return code


def _text(value: Any) -> str | None:
    return value if type(value) is str else None


def _all(*flags: Any) -> bool:
    return all(flags)


def _gzip_line_chunks(path: Path) -> Iterator[bytes]:
    """Decompressed content in pieces that each end with a newline (multi-member gzip allowed)."""
    carry = b""
    with path.open("rb") as raw:
        inflater = zlib.decompressobj(wbits=31)
        pending = b""
        fed = False  # whether the current gzip member has received any input
        while True:
            if not pending:
                pending = raw.read(1 << 20)
                if not pending:
                    break
            fed = True
            out = inflater.decompress(pending, _CHUNK)
            cut = out.rfind(b"\n") + 1
            if cut:
                yield carry + out[:cut] if carry else out[:cut]
                carry = out[cut:]
            else:
                carry += out
            if inflater.eof:
                pending, inflater, fed = inflater.unused_data, zlib.decompressobj(wbits=31), False
            else:
                pending = inflater.unconsumed_tail
        if fed:
            raise EOFError("compressed file ended before the end-of-stream marker")
    if carry.strip():
        yield carry + b"\n"


def _background(chunks: Iterator[bytes], depth: int = 4) -> Iterator[bytes]:
    """Run a producer on a thread: zlib releases the GIL, so inflating overlaps with parsing."""
    handoff: queue.Queue[bytes | BaseException | None] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for chunk in chunks:
                while not stop.is_set():
                    try:
                        handoff.put(chunk, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            handoff.put(None)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            handoff.put(exc)

    threading.Thread(target=produce, name="activities-inflate", daemon=True).start()
    try:
        while (item := handoff.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
