from __future__ import annotations

import json
import os
import shutil
import stat
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from auditpack.errors import UsageError
from auditpack.package import (
    EXIT_UNPINNED,
    PackageError,
    VerificationResult,
    ZipLimits,
    fingerprint,
    verify_package,
    write_public_key,
    zip_bag,
)
from auditpack.package.bag import _write_bag

from .conftest import GENERATED_AT, PAYLOAD


def flip(path: Path, offset: int = 0) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def swap_first_hex_digit(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[0] = ord("0") if data[0] != ord("0") else ord("1")
    path.write_bytes(bytes(data))


def codes(result: VerificationResult) -> set[tuple[str, str | None]]:
    return {(p.code, p.file) for p in result.problems}


def as_zip(bag: Path) -> Path:
    return zip_bag(bag, bag.parent / f"{bag.name}.zip", generated_at=GENERATED_AT)


# --- clean packages -------------------------------------------------------------------------


def test_clean_dir_and_zip_verify(bag: Path, pub: Path, key: Ed25519PrivateKey) -> None:
    for target in (bag, as_zip(bag)):
        result = verify_package(target, trusted_key=pub)
        assert result.problems == []
        assert result.outcome == "verified" and result.exit_code == 0 and result.pinned
        assert result.signer_fingerprint == fingerprint(key)
        assert result.files_checked == len(PAYLOAD) + 3
        by_fp = verify_package(target, fingerprint=fingerprint(key).upper())
        assert by_fp.outcome == "verified"
        doc = json.loads(result.as_json())
        assert doc["outcome"] == "verified" and doc["problems"] == []


def test_unpinned_when_no_key(bag: Path, key: Ed25519PrivateKey) -> None:
    result = verify_package(bag)
    assert result.outcome == "unpinned" and result.exit_code == EXIT_UNPINNED == 4
    assert not result.pinned and result.problems == []
    assert result.signer_fingerprint == fingerprint(key)
    assert "UNPINNED" in result.summary()


def test_wrong_fingerprint_is_signer_mismatch(
    bag: Path, other_key: Ed25519PrivateKey, tmp_path: Path
) -> None:
    result = verify_package(bag, fingerprint=fingerprint(other_key))
    assert result.outcome == "failed" and not result.pinned
    assert codes(result) == {("signer-mismatch", "tagmanifest-sha256.txt.sig")}
    other_pub = tmp_path / "other.pem"
    write_public_key(other_key, other_pub)
    result = verify_package(bag, trusted_key=other_pub)
    assert codes(result) == {("signer-mismatch", "tagmanifest-sha256.txt.sig")}


def test_bad_arguments(bag: Path, pub: Path, other_key: Ed25519PrivateKey) -> None:
    with pytest.raises(UsageError):
        verify_package(bag, fingerprint="abc")
    with pytest.raises(UsageError):
        verify_package(bag, trusted_key=pub, fingerprint=fingerprint(other_key))
    with pytest.raises(UsageError):
        verify_package(bag.parent / "nope.zip", trusted_key=pub)
    not_zip = bag.parent / "x.zip"
    not_zip.write_bytes(b"hello")
    with pytest.raises(PackageError):
        verify_package(not_zip, trusted_key=pub)


# --- single tampering -----------------------------------------------------------------------

TAMPER_CASES: dict[str, tuple[Callable[[Path], object], set[tuple[str, str | None]]]] = {
    "payload-bit": (
        lambda b: flip(b / "data/package.json", 5),
        {("hash-mismatch", "data/package.json")},
    ),
    "pdf-bit": (
        lambda b: flip(b / "data/report.pdf", 3),
        {("hash-mismatch", "data/report.pdf")},
    ),
    "manifest-hex-digit": (
        lambda b: swap_first_hex_digit(b / "manifest-sha256.txt"),
        {
            ("tag-hash-mismatch", "manifest-sha256.txt"),
            ("hash-mismatch", sorted(f"data/{p}" for p in PAYLOAD)[0]),
        },
    ),
    "bag-info-bit": (
        lambda b: flip(b / "bag-info.txt", 0),
        {("tag-hash-mismatch", "bag-info.txt")},
    ),
    "bagit-bit": (
        lambda b: flip(b / "bagit.txt", 0),
        {("tag-hash-mismatch", "bagit.txt"), ("bad-bagit-txt", "bagit.txt")},
    ),
    "tagmanifest-bit": (
        lambda b: flip(b / "tagmanifest-sha256.txt", 0),
        {("tag-hash-mismatch", "bag-info.txt"), ("bad-signature", "tagmanifest-sha256.txt.sig")},
    ),
    "signature-bit": (
        lambda b: flip(b / "tagmanifest-sha256.txt.sig", 10),
        {("bad-signature", "tagmanifest-sha256.txt.sig")},
    ),
    "signature-missing": (
        lambda b: (b / "tagmanifest-sha256.txt.sig").unlink(),
        {("missing", "tagmanifest-sha256.txt.sig")},
    ),
    "added-payload": (
        lambda b: (b / "data/extra.txt").write_bytes(b"extra"),
        {("unlisted", "data/extra.txt"), ("payload-oxum", "bag-info.txt")},
    ),
    "added-tag-file": (
        lambda b: (b / "notes.txt").write_bytes(b"x"),
        {("unlisted", "notes.txt")},
    ),
    "removed": (
        lambda b: (b / "data/raw/index.jsonl").unlink(),
        {("missing", "data/raw/index.jsonl"), ("payload-oxum", "bag-info.txt")},
    ),
    "renamed": (
        lambda b: (b / "data/README.txt").rename(b / "data/README.md"),
        {("missing", "data/README.txt"), ("unlisted", "data/README.md")},
    ),
}


@pytest.mark.parametrize("as_zipfile", [False, True], ids=["dir", "zip"])
@pytest.mark.parametrize("case", sorted(TAMPER_CASES))
def test_single_tampering_named(bag: Path, pub: Path, case: str, as_zipfile: bool) -> None:
    tamper, expected = TAMPER_CASES[case]
    tamper(bag)
    target = as_zip(bag) if as_zipfile else bag
    result = verify_package(target, trusted_key=pub)
    assert result.outcome == "failed"
    assert codes(result) == expected, result.as_json()
    assert result.exit_code == 1
    # without a pin, tampering still fails rather than reporting "unpinned"
    assert verify_package(target).outcome == "failed"


def test_resigned_with_other_key_fails(
    tmp_path: Path, pub: Path, other_key: Ed25519PrivateKey, bag: Path
) -> None:
    # an attacker edits a payload file and rebuilds every tag file with their own key
    forged = tmp_path / "forged"
    forged.mkdir()
    payload = {rel: (bag / "data" / rel).read_bytes() for rel in PAYLOAD}
    payload["package.json"] = b'{"a": 2}\n'
    _write_bag(
        forged,
        payload,
        {"Source-Organization": "Acme", "External-Identifier": "abc"},
        other_key,
        GENERATED_AT,
    )
    result = verify_package(forged, trusted_key=pub)
    assert result.outcome == "failed"
    assert codes(result) == {("signer-mismatch", "tagmanifest-sha256.txt.sig")}
    assert result.signer_fingerprint == fingerprint(other_key)
    # internally consistent: without a pin it is merely unpinned, never verified
    assert verify_package(forged).outcome == "unpinned"


def test_all_problems_reported_at_once(bag: Path, pub: Path) -> None:
    flip(bag / "data/package.json")
    (bag / "data/extra.bin").write_bytes(b"1")
    (bag / "data/evidence/EV01-users.json").unlink()
    (bag / "data/README.txt").rename(bag / "data/README.old")
    flip(bag / "tagmanifest-sha256.txt.sig", 63)
    for target in (bag, as_zip(bag)):
        result = verify_package(target, trusted_key=pub)
        assert codes(result) == {
            ("hash-mismatch", "data/package.json"),
            ("unlisted", "data/extra.bin"),
            ("missing", "data/evidence/EV01-users.json"),
            ("missing", "data/README.txt"),
            ("unlisted", "data/README.old"),
            ("bad-signature", "tagmanifest-sha256.txt.sig"),
            ("payload-oxum", "bag-info.txt"),
        }
        mismatch = next(p for p in result.problems if p.code == "hash-mismatch")
        assert mismatch.expected and mismatch.found and mismatch.expected != mismatch.found


def test_stored_member_bit_flip_inside_zip(bag: Path, pub: Path) -> None:
    path = as_zip(bag)
    data = bytearray(path.read_bytes())
    at = data.index(PAYLOAD["report.pdf"])  # STORED: the bytes appear verbatim
    data[at + 2] ^= 1
    path.write_bytes(bytes(data))
    result = verify_package(path, trusted_key=pub)
    assert codes(result) == {("hash-mismatch", "data/report.pdf")}


def test_symlink_in_bag_dir_refused(bag: Path, pub: Path, tmp_path: Path) -> None:
    outside = tmp_path / "secret"
    outside.write_bytes(b"secret")
    (bag / "data/link").symlink_to(outside)
    result = verify_package(bag, trusted_key=pub)
    assert ("unsafe-entry", "data/link") in codes(result)


# --- hostile zips ---------------------------------------------------------------------------


def _entry(name: str, mode: int = 0o100644) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
    info.create_system = 3
    info.external_attr = mode << 16
    return info


def hostile_zip(bag: Path, tmp_path: Path) -> Path:
    """The clean bag plus every kind of hostile entry."""
    path = tmp_path / "hostile.zip"
    shutil.copy(as_zip(bag), path)
    top = bag.name
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr(_entry(f"{top}/../evil"), b"evil")
        zf.writestr(_entry("../evil2"), b"evil")
        zf.writestr(_entry("/tmp/auditpack-evil-abs"), b"evil")
        zf.writestr(_entry(f"{top}/data/link", 0o120777), "/etc/passwd")
        info = _entry(f"{top}/data/bomb.bin")
        info.compress_type = zipfile.ZIP_DEFLATED
        zf.writestr(info, b"\0" * (8 << 20))  # ~1000:1
        with pytest.warns(UserWarning, match="Duplicate"):
            zf.writestr(_entry(f"{top}/data/README.txt"), b"shadow")
    return path


def test_hostile_zip_refused_and_nothing_written(
    bag: Path, pub: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = hostile_zip(bag, tmp_path)
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    before = set(tmp_path.rglob("*"))
    result = verify_package(path, trusted_key=pub, limits=ZipLimits(max_ratio=100))
    assert set(tmp_path.rglob("*")) == before
    assert not Path("/tmp/auditpack-evil-abs").exists()
    unsafe = {p.file for p in result.problems if p.code == "unsafe-entry"}
    top = bag.name
    assert unsafe == {
        f"{top}/../evil",
        "../evil2",
        "/tmp/auditpack-evil-abs",
        f"{top}/data/link",
        f"{top}/data/bomb.bin",
        f"{top}/data/README.txt",
    }
    messages = {p.file: p.message for p in result.problems if p.code == "unsafe-entry"}
    assert "traversal" in messages["../evil2"]
    assert "absolute" in messages["/tmp/auditpack-evil-abs"]
    assert "symbolic link" in messages[f"{top}/data/link"]
    assert "ratio" in messages[f"{top}/data/bomb.bin"]
    assert "duplicate" in messages[f"{top}/data/README.txt"]
    assert all("\n" not in p.message for p in result.problems)
    assert result.outcome == "failed"


def test_oversized_entry_refused(bag: Path, pub: Path, tmp_path: Path) -> None:
    path = as_zip(bag)
    result = verify_package(path, trusted_key=pub, limits=ZipLimits(max_entry_size=100))
    refused = {p.file for p in result.problems if p.code == "unsafe-entry"}
    assert f"{bag.name}/data/package.json" in refused  # 450 bytes
    assert "declared size" in next(p.message for p in result.problems if p.code == "unsafe-entry")
    result = verify_package(path, trusted_key=pub, limits=ZipLimits(max_total_size=300))
    assert any("total expansion" in p.message for p in result.problems)


def test_entry_lying_about_its_size_is_caught(bag: Path, pub: Path, tmp_path: Path) -> None:
    # a DEFLATED member whose central directory understates its size: inflation is capped
    path = tmp_path / "liar.zip"
    with zipfile.ZipFile(path, "w") as zf:
        info = _entry("b/data/x")
        info.compress_type = zipfile.ZIP_DEFLATED
        zf.writestr(info, b"A" * 100_000)
    data = bytearray(path.read_bytes())
    cd = data.rindex(b"PK\x01\x02")
    data[cd + 24 : cd + 28] = (10).to_bytes(4, "little")  # uncompressed size in central dir
    path.write_bytes(bytes(data))
    from auditpack.package._zipsafe import EntryError, SafeZip

    safe = SafeZip.open(path)
    with pytest.raises(EntryError, match="beyond its declared size"):
        safe.sha256("b/data/x")


def test_overlapping_entries_refused(tmp_path: Path) -> None:
    path = tmp_path / "overlap.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(_entry("b/one"), b"payload" * 10)
    data = bytearray(path.read_bytes())
    cd = data.index(b"PK\x01\x02")
    eocd = data.index(b"PK\x05\x06")
    central = bytes(data[cd:eocd])
    second = bytearray(central)
    second[46:51] = b"b/two"  # same local header reused under a different name
    # names differ from the local header, so it is refused either way; overlap is also checked
    data[cd:eocd] = central + bytes(second)
    data[eocd + len(second) + 8 : eocd + len(second) + 12] = (2).to_bytes(2, "little") * 2
    data[eocd + len(second) + 12 : eocd + len(second) + 16] = len(central * 2).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    from auditpack.package._zipsafe import SafeZip

    safe = SafeZip.open(path)
    assert "b/two" not in safe.entries
    assert any(p.file == "b/two" for p in safe.problems)


def test_zip_without_single_top_folder(tmp_path: Path, pub: Path) -> None:
    path = tmp_path / "flat.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(_entry("a/bagit.txt"), b"x")
        zf.writestr(_entry("b/bagit.txt"), b"x")
    result = verify_package(path, trusted_key=pub)
    assert "bad-layout" in {p.code for p in result.problems}


def test_private_key_mode(tmp_path: Path) -> None:
    from auditpack.package import generate_key

    path = tmp_path / "k"
    generate_key(path, b"pw")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
