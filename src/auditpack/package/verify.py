"""Verify a package (a bag directory or its zip) and report every problem in one run.

Trust rule: the signature is checked ONLY against a key the caller pins, either as a public
key file (``trusted_key``) or as a fingerprint (:func:`keys.fingerprint`). With a fingerprint
alone, the public key named in ``bag-info.txt`` is used only if its fingerprint equals the
pinned one. A key or fingerprint found inside the package is never trusted by itself.

Outcomes and the exit codes the command line should use:

* ``verified`` (0): every hash, the structure, Payload-Oxum and the signature check out, and
  the signature was made by the pinned key.
* ``failed`` (1): at least one problem. This includes a signature that does not verify with
  the pinned key, even when it verifies with the key named inside the package: a signer that
  does not match the pin is indistinguishable from a re-signing attack (code
  ``signer-mismatch``).
* ``unpinned`` (4): everything is intact and self-consistent, but no key or fingerprint was
  given, so nothing says WHO signed it. Never a success.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import stat
import zipfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from auditpack.errors import UsageError
from auditpack.package._zipsafe import EntryError, SafeZip, ZipLimits
from auditpack.package.bag import BAGIT_TXT, SIGNATURE_FILE
from auditpack.package.interface import (
    EXIT_FAILED,
    EXIT_UNPINNED,
    EXIT_VERIFIED,
    Outcome,
    Problem,
)
from auditpack.package.keys import fingerprint as key_fingerprint
from auditpack.package.keys import load_public_key

__all__ = ["VerificationResult", "normalise_fingerprint", "verify_package"]

CHUNK = 1 << 20
_MAX_TAG_FILE = 256 << 20  # a manifest of 1M entries is ~100 MiB; refuse anything larger
_MANIFEST_LINE = re.compile(r"([0-9a-fA-F]{64}) [ *](.+)")
_REQUIRED_TAGS = ("bagit.txt", "bag-info.txt", "manifest-sha256.txt")
_UNSIGNED_TAGS = frozenset({"tagmanifest-sha256.txt", SIGNATURE_FILE})


@dataclass
class VerificationResult:
    """What :func:`verify_package` found. ``problems`` lists every problem, sorted by file."""

    path: Path
    problems: list[Problem] = field(default_factory=list)
    signer_fingerprint: str | None = None
    pinned_fingerprint: str | None = None
    pinned: bool = False
    files_checked: int = 0
    bytes_checked: int = 0

    @property
    def outcome(self) -> Outcome:
        """``failed`` if any problem, else ``verified`` if pinned, else ``unpinned``."""
        if self.problems:
            return "failed"
        return "verified" if self.pinned else "unpinned"

    @property
    def exit_code(self) -> int:
        """0 verified, 1 failed, 4 unpinned."""
        return {"verified": EXIT_VERIFIED, "failed": EXIT_FAILED, "unpinned": EXIT_UNPINNED}[
            self.outcome
        ]

    def summary(self) -> str:
        """One line for humans."""
        signer = self.signer_fingerprint or "unknown"
        if self.outcome == "verified":
            return f"verified: {self.files_checked} files intact, signed by pinned key {signer}"
        if self.outcome == "unpinned":
            return (
                f"intact but UNPINNED: signer {signer} is not checked against a trusted key "
                "(pass a trusted key or fingerprint)"
            )
        return f"FAILED: {len(self.problems)} problem(s)"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict of the result."""
        return {
            "path": str(self.path),
            "outcome": self.outcome,
            "exit_code": self.exit_code,
            "pinned": self.pinned,
            "signer_fingerprint": self.signer_fingerprint,
            "pinned_fingerprint": self.pinned_fingerprint,
            "files_checked": self.files_checked,
            "bytes_checked": self.bytes_checked,
            "problems": [p.as_dict() for p in self.problems],
        }

    def as_json(self) -> str:
        """The result as indented JSON text."""
        return json.dumps(self.as_dict(), indent=2, sort_keys=True)


def normalise_fingerprint(text: str) -> str:
    """Lowercase 64-hex fingerprint from ``text`` (colons/spaces allowed); raises UsageError."""
    cleaned = re.sub(r"[\s:]", "", text).lower()
    if not re.fullmatch(r"[0-9a-f]{64}", cleaned):
        raise UsageError(f"fingerprint {text!r} is not 64 hex digits (SHA-256)")
    return cleaned


class _Source(Protocol):
    """Regular files of a bag, by path relative to the bag root."""

    files: dict[str, int]
    problems: list[Problem]

    def read(self, rel: str) -> bytes: ...

    def sha256(self, rel: str) -> str: ...


class _DirSource:
    """A bag directory. Symlinks and special files are refused, never followed."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.files: dict[str, int] = {}
        self.problems: list[Problem] = []
        for dirpath, dirnames, filenames in os.walk(root):
            rel_dir = Path(dirpath).relative_to(root).as_posix()
            for name in [*dirnames, *filenames]:
                rel = name if rel_dir == "." else f"{rel_dir}/{name}"
                st = os.lstat(os.path.join(dirpath, name))
                if stat.S_ISREG(st.st_mode):
                    self.files[rel] = st.st_size
                elif not stat.S_ISDIR(st.st_mode):
                    kind = "symbolic link" if stat.S_ISLNK(st.st_mode) else "special file"
                    self.problems.append(
                        Problem("unsafe-entry", rel, None, None, f"refused {rel!r}: {kind}")
                    )

    def read(self, rel: str) -> bytes:
        with open(self.root / rel, "rb") as handle:
            return handle.read(_MAX_TAG_FILE + 1)

    def sha256(self, rel: str) -> str:
        digest = hashlib.sha256()
        buf = bytearray(CHUNK)
        view = memoryview(buf)
        with open(self.root / rel, "rb", buffering=0) as handle:
            while n := handle.readinto(buf):
                digest.update(view[:n])
        return digest.hexdigest()


class _ZipSource:
    """A zipped bag: exactly one top-level folder, read in place through :class:`SafeZip`."""

    def __init__(self, path: Path, limits: ZipLimits | None) -> None:
        self.zip = SafeZip.open(path, limits)
        self.problems: list[Problem] = list(self.zip.problems)
        self.files: dict[str, int] = {}
        tops = {name.split("/", 1)[0] for name in self.zip.entries}
        tops |= {p.file.split("/", 1)[0] for p in self.problems if p.file}
        if len(tops) != 1:
            self.problems.append(
                Problem(
                    "bad-layout",
                    None,
                    "one top-level folder",
                    ", ".join(sorted(tops)) or "none",
                    "the zip must hold exactly one top-level folder (the bag)",
                )
            )
        self.prefix = (sorted(tops)[0] + "/") if tops else ""
        for name, entry in self.zip.entries.items():
            if entry.is_dir:
                continue
            if not name.startswith(self.prefix) or name == self.prefix:
                self.problems.append(
                    Problem("bad-layout", name, None, None, f"{name!r} is outside the bag folder")
                )
                continue
            self.files[name[len(self.prefix) :]] = entry.size

    def read(self, rel: str) -> bytes:
        if self.files[rel] > _MAX_TAG_FILE:
            return b"\0" * (_MAX_TAG_FILE + 1)  # caller reports "too large" without reading
        with zipfile.ZipFile(self.zip.path) as zf:
            return zf.read(self.prefix + rel)

    def sha256(self, rel: str) -> str:
        return self.zip.sha256(self.prefix + rel)


def _open_source(path: Path, limits: ZipLimits | None) -> _Source:
    """Directory or zip source; raises UsageError if ``path`` is neither."""
    if path.is_dir():
        return _DirSource(path)
    if path.is_file():
        return _ZipSource(path, limits)
    raise UsageError(f"package {path} does not exist")


def _parse_manifest(text: bytes, fname: str, problems: list[Problem]) -> dict[str, str]:
    """Manifest entries (path → lowercase hex); malformed or duplicate lines become problems."""
    entries: dict[str, str] = {}
    try:
        lines = text.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        problems.append(Problem("bad-manifest", fname, None, None, f"{fname} is not UTF-8"))
        return entries
    for number, line in enumerate(lines, 1):
        match = _MANIFEST_LINE.fullmatch(line)
        if not match:
            problems.append(
                Problem(
                    "bad-manifest", fname, None, line[:80], f"{fname} line {number} is malformed"
                )
            )
            continue
        # RFC 8493 §2.1.3 percent-encoding of CR, LF and %
        rel = match[2].replace("%0A", "\n").replace("%0D", "\r").replace("%25", "%")
        if rel in entries:
            problems.append(
                Problem("bad-manifest", rel, None, None, f"{fname} lists {rel!r} twice")
            )
        entries[rel] = match[1].lower()
    return entries


def _parse_bag_info(text: bytes) -> dict[str, str]:
    """bag-info.txt labels (first occurrence wins); continuation lines are joined."""
    info: dict[str, str] = {}
    last: str | None = None
    for line in text.decode("utf-8", "replace").splitlines():
        if line[:1] in (" ", "\t") and last is not None:
            info[last] += " " + line.strip()
        elif ":" in line:
            key, value = line.split(":", 1)
            last = key.strip()
            info.setdefault(last, value.strip())
    return info


def _cpus() -> int:
    """CPUs this process may run on (affinity and cgroup-pinned containers), not the host's."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _hash_all(
    source: _Source, names: Iterable[str], workers: int | None = None
) -> dict[str, str | Exception]:
    """sha256 of each name, largest first across threads (hashlib releases the GIL).

    ``workers`` defaults to the CPUs this process may run on (at most 8).
    """
    ordered = sorted(set(names), key=lambda n: -source.files[n])

    def one(name: str) -> str | Exception:
        try:
            return source.sha256(name)
        except (OSError, EntryError) as exc:
            return exc

    workers = max(1, min(workers or min(8, _cpus()), len(ordered)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return dict(zip(ordered, pool.map(one, ordered), strict=True))


def _check_hashes(
    manifest: dict[str, str],
    source: _Source,
    hashes: dict[str, str | Exception],
    mismatch_code: str,
    problems: list[Problem],
) -> None:
    """Missing, unreadable and mismatching files listed in ``manifest``."""
    for rel, expected in manifest.items():
        if rel not in source.files:
            problems.append(Problem("missing", rel, expected, None, f"{rel} is listed but missing"))
            continue
        found = hashes[rel]
        if isinstance(found, Exception):
            problems.append(Problem("unreadable", rel, expected, None, f"{rel}: {found}"))
        elif found != expected:
            problems.append(
                Problem(mismatch_code, rel, expected, found, f"{rel}: SHA-256 does not match")
            )


def _embedded_key(info: dict[str, str]) -> Ed25519PublicKey | None:
    """The Ed25519 key named in bag-info (untrusted), or None if absent or unreadable."""
    text = info.get("Signer-Public-Key")
    if not text:
        return None
    try:
        key = serialization.load_der_public_key(base64.b64decode(text, validate=True))
    except (ValueError, binascii.Error):
        return None
    return key if isinstance(key, Ed25519PublicKey) else None


def _verifies(key: Ed25519PublicKey, signature: bytes, data: bytes) -> bool:
    try:
        key.verify(signature, data)
    except InvalidSignature:
        return False
    return True


def verify_package(
    path: Path,
    *,
    trusted_key: Path | None = None,
    fingerprint: str | None = None,
    limits: ZipLimits | None = None,
    workers: int | None = None,
) -> VerificationResult:
    """Verify the bag directory or zip at ``path`` and return every problem found.

    Checks bagit.txt, every payload hash (missing, unlisted, renamed = missing + unlisted),
    the tag manifest, Payload-Oxum and the signature against the pinned key (see module doc).
    A zip is read in place, never extracted; unsafe entries become ``unsafe-entry`` problems.
    Files are hashed by ``workers`` threads (default: one per available CPU, at most 8).

    Raises UsageError if ``path`` does not exist, the fingerprint is malformed, or the key and
    fingerprint disagree; ConfigError if ``trusted_key`` cannot be read; PackageError if a
    file is not a zip at all. Verification failures are returned, not raised.
    """
    path = Path(path)
    pinned_key = load_public_key(trusted_key) if trusted_key is not None else None
    pinned_fp = normalise_fingerprint(fingerprint) if fingerprint is not None else None
    if pinned_key is not None:
        key_fp = key_fingerprint(pinned_key)
        if pinned_fp is not None and pinned_fp != key_fp:
            raise UsageError(
                f"the trusted key's fingerprint {key_fp} is not the given fingerprint {pinned_fp}"
            )
        pinned_fp = key_fp
    source = _open_source(path, limits)
    result = VerificationResult(path=path, pinned_fingerprint=pinned_fp)
    problems = result.problems
    problems.extend(source.problems)

    tags = {
        name: _read_tag(source, name, problems)
        for name in (*_REQUIRED_TAGS, "tagmanifest-sha256.txt")
    }
    if (
        tags["bagit.txt"] is not None
        and tags["bagit.txt"].splitlines()[:1] != BAGIT_TXT.splitlines()[:1]
    ):
        problems.append(
            Problem(
                "bad-bagit-txt",
                "bagit.txt",
                "BagIt-Version: 1.0",
                tags["bagit.txt"].decode("utf-8", "replace").splitlines()[0][:80]
                if tags["bagit.txt"]
                else "",
                "bagit.txt does not declare BagIt-Version 1.0",
            )
        )
    manifest = _parse_manifest(tags["manifest-sha256.txt"] or b"", "manifest-sha256.txt", problems)
    tagmanifest = _parse_manifest(
        tags["tagmanifest-sha256.txt"] or b"", "tagmanifest-sha256.txt", problems
    )
    _check_listing(source, manifest, tagmanifest, tags, problems)

    to_hash = [n for n in (*manifest, *tagmanifest) if n in source.files]
    hashes = _hash_all(source, to_hash, workers)
    _check_hashes(manifest, source, hashes, "hash-mismatch", problems)
    _check_hashes(tagmanifest, source, hashes, "tag-hash-mismatch", problems)
    result.files_checked = len(hashes)
    result.bytes_checked = sum(source.files[n] for n in hashes)

    info = _parse_bag_info(tags["bag-info.txt"] or b"")
    _check_oxum(source, info, problems)
    _check_signature(source, info, tags["tagmanifest-sha256.txt"], pinned_key, pinned_fp, result)
    problems.sort(key=lambda p: (p.file or "", p.code))
    return result


def _read_tag(source: _Source, name: str, problems: list[Problem]) -> bytes | None:
    """A tag file's bytes, or None with a ``missing``/``too-large`` problem."""
    if name not in source.files:
        problems.append(Problem("missing", name, None, None, f"{name} is missing"))
        return None
    data = source.read(name)
    if len(data) > _MAX_TAG_FILE:
        problems.append(Problem("too-large", name, None, None, f"{name} is implausibly large"))
        return None
    return data


def _check_listing(
    source: _Source,
    manifest: dict[str, str],
    tagmanifest: dict[str, str],
    tags: dict[str, bytes | None],
    problems: list[Problem],
) -> None:
    """Unlisted files, manifest entries outside data/, and tag files the signature misses."""
    problems.extend(
        Problem("bad-manifest", rel, None, None, f"manifest entry {rel!r} is not under data/")
        for rel in manifest
        if not rel.startswith("data/")
    )
    problems.extend(
        Problem("bad-manifest", rel, None, None, f"tag manifest may not list {rel!r}")
        for rel in tagmanifest
        if rel.startswith("data/") or rel in _UNSIGNED_TAGS
    )
    if tags["tagmanifest-sha256.txt"] is not None:
        problems.extend(
            Problem(
                "tag-not-covered",
                name,
                None,
                None,
                f"{name} is not covered by tagmanifest-sha256.txt, so not by the signature",
            )
            for name in _REQUIRED_TAGS
            if name not in tagmanifest
        )
    for rel in sorted(source.files):
        listed = (
            rel in manifest
            if rel.startswith("data/")
            else (rel in tagmanifest or rel in _UNSIGNED_TAGS)
        )
        if not listed:
            problems.append(
                Problem(
                    "unlisted", rel, None, None, f"{rel} is present but not listed in any manifest"
                )
            )


def _check_oxum(source: _Source, info: dict[str, str], problems: list[Problem]) -> None:
    """Payload-Oxum (``<bytes>.<files>`` of data/) against what is actually there."""
    sizes = [size for rel, size in source.files.items() if rel.startswith("data/")]
    found = f"{sum(sizes)}.{len(sizes)}"
    expected = info.get("Payload-Oxum")
    if expected != found:
        problems.append(
            Problem(
                "payload-oxum",
                "bag-info.txt",
                expected,
                found,
                f"Payload-Oxum says {expected or 'nothing'}, the payload is {found} (bytes.files)",
            )
        )


def _check_signature(
    source: _Source,
    info: dict[str, str],
    signed: bytes | None,
    pinned_key: Ed25519PublicKey | None,
    pinned_fp: str | None,
    result: VerificationResult,
) -> None:
    """Check the signature against the pinned key only; record the signer for the message."""
    problems = result.problems
    claimed_fp = info.get("Signer-Fingerprint")
    embedded = _embedded_key(info)
    embedded_fp = key_fingerprint(embedded) if embedded is not None else None
    result.signer_fingerprint = embedded_fp or claimed_fp
    if embedded_fp and claimed_fp and embedded_fp != claimed_fp.lower():
        problems.append(
            Problem(
                "signer-inconsistent",
                "bag-info.txt",
                embedded_fp,
                claimed_fp,
                "bag-info.txt Signer-Fingerprint does not match Signer-Public-Key",
            )
        )
    signature = _read_tag(source, SIGNATURE_FILE, problems)
    if signature is None or signed is None:
        return
    if len(signature) != 64:
        problems.append(
            Problem(
                "bad-signature",
                SIGNATURE_FILE,
                "64 bytes",
                f"{len(signature)} bytes",
                "the signature is not a raw Ed25519 signature",
            )
        )
        return
    key = pinned_key
    if key is None and pinned_fp is not None and embedded_fp == pinned_fp:
        key = embedded  # the pin, not the package, vouches for this key
    if key is not None:
        if _verifies(key, signature, signed):
            result.pinned = True
            result.signer_fingerprint = pinned_fp
        else:
            problems.append(_bad_signature(signed, signature, embedded, embedded_fp, pinned_fp))
        return
    if pinned_fp is not None:
        problems.append(
            Problem(
                "signer-mismatch",
                SIGNATURE_FILE,
                pinned_fp,
                embedded_fp or claimed_fp,
                f"the package names signer {embedded_fp or claimed_fp or 'none'}, "
                f"not the pinned {pinned_fp}",
            )
        )
    elif embedded is not None and not _verifies(embedded, signature, signed):
        # unpinned: still report a signature that does not even match its own named key
        problems.append(
            Problem(
                "bad-signature",
                SIGNATURE_FILE,
                embedded_fp,
                None,
                "the signature does not verify with the key named in bag-info.txt",
            )
        )


def _bad_signature(
    signed: bytes,
    signature: bytes,
    embedded: Ed25519PublicKey | None,
    embedded_fp: str | None,
    pinned_fp: str | None,
) -> Problem:
    """``signer-mismatch`` if another (named) key made the signature, else ``bad-signature``."""
    if embedded is not None and embedded_fp != pinned_fp and _verifies(embedded, signature, signed):
        return Problem(
            "signer-mismatch",
            SIGNATURE_FILE,
            pinned_fp,
            embedded_fp,
            f"signed by {embedded_fp}, not by the pinned key {pinned_fp}",
        )
    return Problem(
        "bad-signature",
        SIGNATURE_FILE,
        pinned_fp,
        None,
        "tagmanifest-sha256.txt.sig does not verify with the pinned key",
    )
