"""Checks `verify` makes beyond hashes and signatures: the package agrees with itself.

The package ID and the period must be the same in bag-info.txt, data/package.json and the
report PDF's metadata, and report.pdf's PAdES signature must be intact and cover the whole
file. The package layer is content-agnostic, so these checks live here.
"""

from __future__ import annotations

import io
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import orjson

from auditpack.package import Problem

_MAX_MEMBER = 512 * 1024 * 1024  # read at most this much of one member into memory


_REPORT_FILES = ("bag-info.txt", "data/package.json", "data/report.pdf")
ATTESTATIONS = "data/attestations/"


def _members(package: Path, wanted: Callable[[str], bool] = _REPORT_FILES.__contains__,
             ) -> dict[str, bytes | Path]:
    """The members `wanted` names (paths relative to the bag root), from a bag folder or zip."""
    found: dict[str, bytes | Path] = {}
    if package.is_dir():
        for path in sorted(package.rglob("*")):
            name = path.relative_to(package).as_posix()
            if wanted(name) and path.is_file() and not path.is_symlink():
                found[name] = path
        return found
    try:
        with zipfile.ZipFile(package) as zf:
            for info in zf.infolist():
                top, _, rest = info.filename.partition("/")
                if wanted(rest) and info.file_size <= _MAX_MEMBER and top:
                    with zf.open(info) as fh:
                        found[rest] = fh.read(_MAX_MEMBER)
    except (OSError, zipfile.BadZipFile):
        return {}  # the package layer already reported an unreadable archive
    return found


def _read(value: bytes | Path) -> bytes:
    return value.read_bytes() if isinstance(value, Path) else value


def _bag_info(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            out[key.strip()] = value.strip()
    return out


def content_problems(package: Path) -> list[Problem]:
    """Every disagreement between the package's own descriptions of itself."""
    members = _members(package)
    problems: list[Problem] = []
    if "bag-info.txt" not in members or "data/package.json" not in members:
        return problems  # missing files are already reported by the package layer
    info = _bag_info(_read(members["bag-info.txt"]).decode("utf-8", "replace"))
    try:
        doc = orjson.loads(_read(members["data/package.json"]))
        pid = str(doc["package_id"])
        period = f"{doc['period']['start']}..{doc['period']['end']}"
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return [Problem("bad-package-json", "data/package.json", "package_id and period",
                        "unreadable", "data/package.json does not state the package ID and "
                        "period")]
    for key, expected in (("External-Identifier", pid), ("Audit-Period", period)):
        if info.get(key) != expected:
            problems.append(Problem("id-mismatch", "bag-info.txt", expected,
                                    info.get(key, "(missing)"),
                                    f"bag-info.txt {key} disagrees with data/package.json"))
    if "data/report.pdf" in members:
        problems.extend(_pdf_problems(_read(members["data/report.pdf"]), pid, period))
    return problems


def attestation_problems(package: Path, *, trusted_key: Path | None,
                         fingerprint: str | None) -> list[Problem]:
    """Each access-review attestation in the package must be signed by the pinned key.

    With only a fingerprint pinned, the attestation's own copy of the public key is used if
    (and only if) its fingerprint is the pinned one; with nothing pinned, the copy proves
    integrity only, and the package result already says the signer was not pinned.
    """
    from auditpack.package import fingerprint as key_fingerprint
    from auditpack.package import load_public_key
    from auditpack.package.verify import normalise_fingerprint
    from auditpack.review.attest import verify_attestation

    members = _members(package, lambda name: name.startswith(ATTESTATIONS)
                       and not name.endswith("/"))
    folders = sorted({name[len(ATTESTATIONS):].split("/", 1)[0] for name in members} - {""})
    pinned = load_public_key(trusted_key) if trusted_key is not None else None
    problems: list[Problem] = []
    for campaign in folders:
        prefix = f"{ATTESTATIONS}{campaign}/"
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / campaign
            folder.mkdir()
            for name, value in members.items():
                rel = name[len(prefix):]
                if name.startswith(prefix) and rel and "/" not in rel:
                    (folder / rel).write_bytes(_read(value))
            key = pinned
            if key is None and (folder / "signer.pub.pem").is_file():
                key = load_public_key(folder / "signer.pub.pem")
                if fingerprint is not None and key_fingerprint(key) != normalise_fingerprint(
                        fingerprint):
                    problems.append(Problem(
                        "attestation-signer", f"{prefix}signer.pub.pem", fingerprint,
                        key_fingerprint(key), "the attestation was not signed by the pinned key"))
                    continue
            if key is None:
                problems.append(Problem("attestation-signature", f"{prefix}attestation.json.sig",
                                        "a signer key", "none", "no key to check the "
                                        "attestation with"))
                continue
            problems.extend(Problem("attestation-signature", f"{prefix}attestation.json",
                                    "valid signature and hashes", "invalid", message)
                            for message in verify_attestation(folder, key))
            pdf = folder / "attestation.pdf"
            if pdf.is_file():
                from auditpack.package.pdfsign import check_pdf_signature

                problems.extend(replace(p, file=f"{prefix}attestation.pdf")
                                for p in check_pdf_signature(pdf))
    return problems


def _pdf_problems(pdf: bytes, pid: str, period: str) -> list[Problem]:
    from auditpack.package.pdfsign import check_pdf_signature

    problems: list[Problem] = []
    with tempfile.NamedTemporaryFile(suffix=".pdf") as tmp:
        tmp.write(pdf)
        tmp.flush()
        problems.extend(replace(p, file="data/report.pdf")
                        for p in check_pdf_signature(Path(tmp.name)))
    try:
        from pyhanko.pdf_utils.reader import PdfFileReader

        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
        info = reader.trailer_view.get("/Info")
        fields = " ".join(str(info.get(k, "")) for k in ("/Title", "/Subject", "/Keywords")) \
            if info is not None else ""
    except Exception:  # a broken PDF is already reported by the signature check
        return problems
    if pid not in fields:
        problems.append(Problem("id-mismatch", "data/report.pdf", pid, "(not in metadata)",
                                "report.pdf metadata does not name the package ID"))
    if period.split("..")[0] not in fields and period not in fields:
        problems.append(Problem("period-mismatch", "data/report.pdf", period,
                                "(not in metadata)", "report.pdf metadata does not name the "
                                "period"))
    return problems
