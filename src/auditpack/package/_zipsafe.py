"""Read untrusted zip archives without extracting them.

:class:`SafeZip` inspects the central directory and every local header before any data is
read, and refuses (as a :class:`Problem` naming the entry) absolute paths, ``..`` or other
non-normalised components, backslashes, symlinks and other non-regular entries, duplicate
names, encrypted or unusually compressed entries, entries whose declared size exceeds a bound,
a total declared expansion over a bound, a suspicious compression ratio, and entries whose
data overlap (the "non-recursive zip bomb"). Accepted entries are hashed straight from the
archive: STORED members by reading their byte range, DEFLATED members by streaming through
zlib with output capped at the declared size. Nothing is ever written to disk.
"""

from __future__ import annotations

import hashlib
import io
import stat
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from auditpack.package.interface import PackageError, Problem

__all__ = ["EntryError", "SafeEntry", "SafeZip", "ZipLimits"]

_GiB = 1 << 30
CHUNK = 1 << 20
_LOCAL_HEADER = struct.Struct("<4sHHHHHIIIHH")
_LOCAL_SIG = b"PK\x03\x04"


@dataclass(frozen=True)
class ZipLimits:
    """Bounds for an untrusted archive. Defaults allow packages of tens of GiB."""

    max_entries: int = 200_000
    max_entry_size: int = 32 * _GiB
    max_total_size: int = 128 * _GiB
    max_ratio: float = 1000.0
    ratio_min_size: int = 1 << 20  # tiny files may compress extremely well; ignore them


@dataclass(frozen=True)
class SafeEntry:
    """An accepted archive member."""

    name: str
    is_dir: bool
    size: int
    compress_size: int
    compress_type: int
    data_offset: int


class EntryError(Exception):
    """An accepted entry turned out unreadable while streaming (message names the entry)."""


def _unsafe(name: str, why: str) -> Problem:
    return Problem("unsafe-entry", name, None, None, f"refused zip entry {name!r}: {why}")


def _name_problem(name: str) -> str | None:
    """Why ``name`` is unsafe as a path, or None."""
    if not name:
        return "empty name"
    if "\\" in name:
        return "backslash in name"
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return "absolute path"
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return "control character in name"
    parts = name.rstrip("/").split("/")
    if ".." in parts:
        return "path traversal ('..')"
    if any(p in ("", ".") for p in parts):
        return "non-normalised path"
    return None


def _type_problem(info: zipfile.ZipInfo) -> str | None:
    """Why the entry's type, encryption or compression is refused, or None."""
    mode = info.external_attr >> 16
    kind = stat.S_IFMT(mode)
    if info.create_system == 3 and kind == stat.S_IFLNK:
        return "symbolic link"
    if info.create_system == 3 and kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        return "not a regular file or directory"
    if info.flag_bits & 0x1:
        return "encrypted"
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        return f"unsupported compression method {info.compress_type}"
    if info.compress_type == zipfile.ZIP_STORED and info.compress_size != info.file_size:
        return "stored entry with differing sizes"
    return None


def _size_problem(info: zipfile.ZipInfo, limits: ZipLimits) -> str | None:
    """Why the entry's declared size or compression ratio is refused, or None."""
    if info.file_size > limits.max_entry_size:
        return f"declared size {info.file_size} exceeds the limit {limits.max_entry_size}"
    if info.file_size >= limits.ratio_min_size:
        ratio = info.file_size / max(info.compress_size, 1)
        if ratio > limits.max_ratio:
            return f"compression ratio {ratio:.0f}:1 exceeds {limits.max_ratio:.0f}:1 (zip bomb?)"
    return None


@dataclass
class SafeZip:
    """The accepted entries of a zip and the problems found while inspecting it.

    Construct with :meth:`open`. ``entries`` excludes every refused entry.
    """

    path: Path
    entries: dict[str, SafeEntry] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    @classmethod
    def open(cls, path: Path, limits: ZipLimits | None = None) -> SafeZip:
        """Inspect ``path``. Raises PackageError if it is not a readable zip at all."""
        limits = limits or ZipLimits()
        result = cls(Path(path))
        try:
            with zipfile.ZipFile(path) as zf, open(path, "rb") as raw:
                infos = zf.infolist()
                archive_size = raw.seek(0, 2)
                result._inspect(infos, raw, archive_size, limits)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as exc:
            raise PackageError(f"{path} is not a readable zip archive: {exc}") from None
        return result

    def _inspect(
        self, infos: list[zipfile.ZipInfo], raw: BinaryIO, archive_size: int, limits: ZipLimits
    ) -> None:
        if len(infos) > limits.max_entries:
            raise PackageError(f"{self.path}: {len(infos)} entries exceed {limits.max_entries}")
        counts: dict[str, int] = {}
        for info in infos:
            counts[info.filename] = counts.get(info.filename, 0) + 1
        total = 0
        spans: list[tuple[int, int, str]] = []
        for info in infos:
            name = info.filename
            why = (
                ("duplicate name" if counts[name] > 1 else None)
                or _name_problem(name)
                or _type_problem(info)
                or _size_problem(info, limits)
            )
            if why is None:
                total += info.file_size
                if total > limits.max_total_size:
                    why = f"total expansion exceeds the limit {limits.max_total_size}"
            if why is None:
                offset, why = _data_offset(raw, info, archive_size)
            if why is not None:
                self.problems.append(_unsafe(name, why))
                continue
            spans.append((info.header_offset, offset + info.compress_size, name))
            self.entries[name] = SafeEntry(
                name, info.is_dir(), info.file_size, info.compress_size, info.compress_type, offset
            )
        self._refuse_overlaps(spans)

    def _refuse_overlaps(self, spans: list[tuple[int, int, str]]) -> None:
        """Refuse entries whose header+data overlap another's (data reused by many entries)."""
        spans.sort()
        end_prev, name_prev = -1, ""
        for start, end, name in spans:
            if start < end_prev:
                for bad in (name_prev, name):
                    if self.entries.pop(bad, None) is not None:
                        self.problems.append(_unsafe(bad, "overlaps another entry's data"))
            if end > end_prev:
                end_prev, name_prev = end, name

    def sha256(self, name: str) -> str:
        """Stream and hash an accepted entry; returns the hex digest.

        Raises EntryError (one line naming the entry) if the data are truncated, corrupt, or
        expand beyond the declared size. Opens its own file handle, so calls may run in
        parallel threads.
        """
        entry = self.entries[name]
        digest = hashlib.sha256()
        with open(self.path, "rb") as raw:
            raw.seek(entry.data_offset)
            if entry.compress_type == zipfile.ZIP_STORED:
                _hash_range(raw, entry, digest)
            else:
                _hash_deflated(raw, entry, digest)
        return digest.hexdigest()


def _data_offset(raw: BinaryIO, info: zipfile.ZipInfo, archive_size: int) -> tuple[int, str | None]:
    """Offset of the entry's data, from its local header; or a reason to refuse it."""
    raw.seek(info.header_offset)
    header = raw.read(_LOCAL_HEADER.size)
    if len(header) != _LOCAL_HEADER.size:
        return 0, "local header beyond end of archive"
    fields = _LOCAL_HEADER.unpack(header)
    if fields[0] != _LOCAL_SIG:
        return 0, "bad local header signature"
    name_len, extra_len = fields[9], fields[10]
    local_name = raw.read(name_len)
    central = info.orig_filename.encode("utf-8" if info.flag_bits & 0x800 else "cp437")
    if local_name != central:
        return 0, "local header name differs from the central directory"
    offset = info.header_offset + _LOCAL_HEADER.size + name_len + extra_len
    if offset + info.compress_size > archive_size:
        return 0, "data extend beyond end of archive"
    return offset, None


def _hash_range(raw: io.BufferedIOBase, entry: SafeEntry, digest: hashlib._Hash) -> None:
    """Hash ``entry.size`` bytes read directly from the archive (STORED member)."""
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    left = entry.size
    while left > 0:
        n = raw.readinto(view[: min(CHUNK, left)])
        if not n:
            raise EntryError(f"zip entry {entry.name!r} is truncated")
        digest.update(view[:n])
        left -= n


def _hash_deflated(raw: BinaryIO, entry: SafeEntry, digest: hashlib._Hash) -> None:
    """Inflate and hash a DEFLATED member, never producing more than its declared size."""
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    left_in, produced = entry.compress_size, 0
    try:
        while left_in > 0 and not inflater.eof:
            chunk = raw.read(min(CHUNK, left_in))
            if not chunk:
                raise EntryError(f"zip entry {entry.name!r} is truncated")
            left_in -= len(chunk)
            data = chunk
            while data:
                # cap output per call so a bomb cannot allocate more than one chunk at a time
                out = inflater.decompress(data, CHUNK)
                produced += len(out)
                if produced > entry.size:
                    raise EntryError(
                        f"zip entry {entry.name!r} expands beyond its declared size {entry.size}"
                    )
                digest.update(out)
                data = inflater.unconsumed_tail
    except zlib.error as exc:
        raise EntryError(f"zip entry {entry.name!r} is corrupt: {exc}") from None
    if produced != entry.size or not inflater.eof:
        raise EntryError(
            f"zip entry {entry.name!r} inflates to {produced} bytes, declared {entry.size}"
        )
