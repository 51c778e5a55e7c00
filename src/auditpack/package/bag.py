"""Build a signed BagIt 1.0 bag (RFC 8493) and zip it deterministically.

Layout written by :func:`build_bag`::

    <name>/
      bagit.txt                  "BagIt-Version: 1.0" + "Tag-File-Character-Encoding: UTF-8"
      bag-info.txt               caller's info + Signer-*, Bagging-Date, Payload-Oxum; keys sorted
      manifest-sha256.txt        "<sha256>  data/<path>" sorted by path (works with sha256sum -c)
      tagmanifest-sha256.txt     the same over bagit.txt, bag-info.txt, manifest-sha256.txt
      tagmanifest-sha256.txt.sig RAW 64-byte Ed25519 signature of tagmanifest-sha256.txt
      data/...

The signature covers the tag manifest, which covers the manifest, which covers every payload
file: one signature check plus hash checks verify everything. Ed25519 signatures are
deterministic (RFC 8032), so the same payload, info, key and ``generated_at`` give the same
bytes; :func:`zip_bag` then fixes entry order, timestamps, permissions and compression.
An auditor checks the signature with::

    openssl pkeyutl -verify -pubin -inkey signer.pub.pem -rawin \\
        -in tagmanifest-sha256.txt -sigfile tagmanifest-sha256.txt.sig
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import tempfile
import zipfile
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from auditpack.errors import UsageError
from auditpack.package.interface import PackageError
from auditpack.package.keys import fingerprint

__all__ = [
    "BAGIT_TXT",
    "RESERVED_INFO_KEYS",
    "SIGNATURE_FILE",
    "STORED_SUFFIXES",
    "build_bag",
    "zip_bag",
]

BAGIT_TXT = b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
MANIFEST = "manifest-sha256.txt"
TAGMANIFEST = "tagmanifest-sha256.txt"
SIGNATURE_FILE = "tagmanifest-sha256.txt.sig"
BAG_INFO = "bag-info.txt"
# bag-info keys auditpack computes itself; callers may not set them
RESERVED_INFO_KEYS = frozenset(
    {"Bagging-Date", "Payload-Oxum", "Signer-Fingerprint", "Signer-Public-Key"}
)
# already-compressed formats gain nothing from DEFLATE; STORED members also verify faster
STORED_SUFFIXES = frozenset({".pdf", ".xlsx", ".zip", ".gz", ".png", ".jpg", ".jpeg"})
CHUNK = 1 << 20
_ZIP_EPOCH = datetime(1980, 1, 1, tzinfo=UTC)
_ZIP_END = datetime(2107, 12, 31, 23, 59, 58, tzinfo=UTC)


def _check_relpath(rel: str) -> str:
    """Validate a payload path; returns it. Raises UsageError if unsafe or not portable.

    Newlines and ``%`` would need RFC 8493 percent-encoding that ``sha256sum -c`` does not
    understand, and backslashes are escaped by sha256sum; refusing them keeps the manifest
    byte-compatible with both.
    """
    parts = rel.split("/")
    if (
        not rel
        or rel.startswith("/")
        or any(p in ("", ".", "..") for p in parts)
        or any(ch in rel for ch in "\\%\0")
        or any(ord(ch) < 32 or ord(ch) == 127 for ch in rel)
    ):
        raise UsageError(f"payload path {rel!r} is not a safe relative POSIX path")
    return rel


def _check_info(info: Mapping[str, str]) -> None:
    """Raises UsageError for reserved, malformed or multi-line bag-info entries."""
    for key, value in info.items():
        if key in RESERVED_INFO_KEYS:
            raise UsageError(f"bag-info key {key!r} is set by auditpack and cannot be given")
        if not key or ":" in key or key != key.strip() or any(c in key for c in "\r\n"):
            raise UsageError(f"bag-info key {key!r} is not a valid label")
        if any(c in value for c in "\r\n"):
            raise UsageError(f"bag-info value for {key!r} must be a single line")


def _copy_and_hash(src: Path | bytes, dest: Path) -> tuple[str, int]:
    """Write ``src`` to ``dest`` while hashing it (one pass); returns (sha256 hex, size).

    Raises PackageError if a source file cannot be read.
    """
    digest = hashlib.sha256()
    size = 0
    with open(dest, "wb") as out:
        if isinstance(src, bytes):
            digest.update(src)
            out.write(src)
            return digest.hexdigest(), len(src)
        try:
            handle = open(src, "rb")
        except OSError as exc:
            raise PackageError(f"cannot read payload file {src}: {exc.strerror}") from None
        with handle:
            buf = bytearray(CHUNK)
            view = memoryview(buf)
            while n := handle.readinto(buf):
                digest.update(view[:n])
                out.write(view[:n])
                size += n
    return digest.hexdigest(), size


def _manifest(entries: Mapping[str, str]) -> bytes:
    """Manifest bytes: ``<hex>  <path>`` lines sorted by path (code point = UTF-8 byte order)."""
    return "".join(f"{entries[p]}  {p}\n" for p in sorted(entries)).encode("utf-8")


def _bag_info(info: Mapping[str, str]) -> bytes:
    return "".join(f"{k}: {info[k]}\n" for k in sorted(info)).encode("utf-8")


def build_bag(
    payload: Mapping[str, Path | bytes],
    out_dir: Path,
    *,
    name: str,
    info: Mapping[str, str],
    signing_key: Ed25519PrivateKey,
    generated_at: datetime,
) -> Path:
    """Create ``out_dir/<name>/`` as a signed BagIt 1.0 bag and return its path.

    ``payload`` maps relative POSIX paths (placed under ``data/``) to a file to copy or to
    bytes. ``bag-info.txt`` holds ``info`` plus ``Bagging-Date`` (from ``generated_at``),
    ``Payload-Oxum``, ``Signer-Fingerprint`` (see :func:`keys.fingerprint`) and
    ``Signer-Public-Key`` (base64 SubjectPublicKeyInfo DER, for convenience only: verifiers
    must pin the key), all sorted by key.

    Raises UsageError for an unsafe name/path, reserved or multi-line info, or an existing
    bag directory; PackageError if a payload file cannot be read. On error nothing is left
    behind: the bag is assembled in a temporary directory and renamed into place.
    """
    if not name or "/" in name or name in (".", "..") or name != name.strip():
        raise UsageError(f"bag name {name!r} is not a single path component")
    _check_info(info)
    rels = [_check_relpath(r) for r in payload]
    folded = {r.casefold() for r in rels}
    if len(folded) != len(rels):
        # two names differing only in case would collide on macOS/Windows when unzipped
        raise UsageError("payload has paths that differ only in letter case")
    out_dir = Path(out_dir)
    final = out_dir / name
    if final.exists():
        raise UsageError(f"{final} already exists")
    out_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=out_dir))
    try:
        _write_bag(staging, payload, info, signing_key, generated_at)
        os.chmod(staging, 0o755)
        staging.rename(final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return final


def _write_bag(
    bag: Path,
    payload: Mapping[str, Path | bytes],
    info: Mapping[str, str],
    key: Ed25519PrivateKey,
    generated_at: datetime,
) -> None:
    """Write every bag file into the (empty) directory ``bag``."""
    hashes: dict[str, str] = {}
    total = 0
    for rel in sorted(payload):
        dest = bag / "data" / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        digest, size = _copy_and_hash(payload[rel], dest)
        hashes[f"data/{rel}"] = digest
        total += size
    (bag / "data").mkdir(exist_ok=True)
    spki = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    full_info = dict(info)
    full_info["Bagging-Date"] = generated_at.astimezone(UTC).date().isoformat()
    full_info["Payload-Oxum"] = f"{total}.{len(hashes)}"
    full_info["Signer-Fingerprint"] = fingerprint(key)
    full_info["Signer-Public-Key"] = base64.b64encode(spki).decode("ascii")
    tag_files = {
        "bagit.txt": BAGIT_TXT,
        BAG_INFO: _bag_info(full_info),
        MANIFEST: _manifest(hashes),
    }
    for fname, data in tag_files.items():
        (bag / fname).write_bytes(data)
    tagmanifest = _manifest({k: hashlib.sha256(v).hexdigest() for k, v in tag_files.items()})
    (bag / TAGMANIFEST).write_bytes(tagmanifest)
    (bag / SIGNATURE_FILE).write_bytes(key.sign(tagmanifest))


def _zip_time(when: datetime) -> tuple[int, int, int, int, int, int]:
    """A zip DOS timestamp (UTC, clamped to 1980..2107, even seconds) for ``when``."""
    utc = when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)
    utc = min(max(utc, _ZIP_EPOCH), _ZIP_END)
    return (utc.year, utc.month, utc.day, utc.hour, utc.minute, utc.second - utc.second % 2)


def _bag_members(bag_dir: Path) -> list[tuple[str, Path | None]]:
    """Sorted (archive name, source file or None for a directory) under the bag folder.

    Raises PackageError on symlinks or special files: a bag must hold regular files only.
    """
    prefix = bag_dir.name
    members: list[tuple[str, Path | None]] = [(prefix + "/", None)]
    for root, dirs, files in os.walk(bag_dir):
        rel_root = Path(root).relative_to(bag_dir).as_posix()
        base = prefix if rel_root == "." else f"{prefix}/{rel_root}"
        for d in dirs:
            if os.path.islink(os.path.join(root, d)):
                raise PackageError(f"refusing to zip symlink {base}/{d}")
            members.append((f"{base}/{d}/", None))
        for f in files:
            path = Path(root, f)
            if path.is_symlink() or not path.is_file():
                raise PackageError(f"refusing to zip {base}/{f}: not a regular file")
            members.append((f"{base}/{f}", path))
    members.sort(key=lambda m: m[0])
    return members


def zip_bag(bag_dir: Path, zip_path: Path, *, generated_at: datetime | None = None) -> Path:
    """Zip ``bag_dir`` deterministically into ``zip_path`` and return ``zip_path``.

    The bag folder is the single top-level directory; entries are sorted by name; every entry
    gets the timestamp ``generated_at`` (default: midnight UTC of ``Bagging-Date``), mode
    0644 (files) or 0755 (directories), Unix as creator system; members with a suffix in
    :data:`STORED_SUFFIXES` are STORED, the rest DEFLATED at level 6. Byte-identical output
    also requires the same zlib build (DEFLATE output can differ between zlib versions).

    Raises PackageError if the bag holds a symlink or special file or cannot be read,
    UsageError if ``bag_dir`` is not a directory. Writes to a temporary file and renames, so
    a failed run leaves no partial zip.
    """
    bag_dir = Path(bag_dir)
    if not bag_dir.is_dir():
        raise UsageError(f"{bag_dir} is not a bag directory")
    when = generated_at or _bagging_date(bag_dir)
    stamp = _zip_time(when)
    zip_path = Path(zip_path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{zip_path.name}.", dir=zip_path.parent or ".")
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp_name, "w", allowZip64=True) as zf:
            for arcname, src in _bag_members(bag_dir):
                _add_member(zf, arcname, src, stamp)
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, zip_path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return zip_path


def _bagging_date(bag_dir: Path) -> datetime:
    """Midnight UTC of the bag's Bagging-Date; raises PackageError if absent or malformed."""
    try:
        for line in (bag_dir / BAG_INFO).read_text("utf-8").splitlines():
            if line.startswith("Bagging-Date:"):
                day = datetime.strptime(line.split(":", 1)[1].strip(), "%Y-%m-%d")
                return day.replace(tzinfo=UTC)
    except (OSError, ValueError):
        pass
    raise PackageError(f"{bag_dir}: no readable Bagging-Date; pass generated_at")


def _add_member(
    zf: zipfile.ZipFile, arcname: str, src: Path | None, stamp: tuple[int, int, int, int, int, int]
) -> None:
    """Add one file or directory entry with fixed metadata."""
    zinfo = zipfile.ZipInfo(arcname, date_time=stamp)
    zinfo.create_system = 3  # Unix, so external_attr carries the POSIX mode
    if src is None:
        zinfo.external_attr = (0o040755 << 16) | 0x10  # S_IFDIR | 0755, MS-DOS directory bit
        zinfo.compress_type = zipfile.ZIP_STORED
        zf.writestr(zinfo, b"")
        return
    zinfo.external_attr = 0o100644 << 16
    stored = src.suffix.lower() in STORED_SUFFIXES
    zinfo.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
    if not stored:
        zinfo._compresslevel = 6  # type: ignore[attr-defined]  # fixed, whatever the default
    try:
        size = src.stat().st_size
        zinfo.file_size = size  # lets zipfile decide on zip64 up front, deterministically
        with open(src, "rb") as handle, zf.open(zinfo, "w") as out:
            shutil.copyfileobj(handle, out, CHUNK)
    except OSError as exc:
        raise PackageError(f"cannot read {src}: {exc.strerror}") from None
