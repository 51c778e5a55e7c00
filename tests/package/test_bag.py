from __future__ import annotations

import hashlib
import subprocess
import zipfile
from pathlib import Path

import bagit
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from auditpack.errors import UsageError
from auditpack.package import build_bag, fingerprint, verify_package, zip_bag

from .conftest import GENERATED_AT, PAYLOAD, make_bag


def test_layout_and_tag_files(bag: Path, key: Ed25519PrivateKey) -> None:
    assert (bag / "bagit.txt").read_bytes() == (
        b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
    )
    for rel, data in PAYLOAD.items():
        assert (bag / "data" / rel).read_bytes() == data
    manifest = (bag / "manifest-sha256.txt").read_text().splitlines()
    paths = [line.split("  ", 1)[1] for line in manifest]
    assert paths == sorted(f"data/{p}" for p in PAYLOAD)
    info = (bag / "bag-info.txt").read_text().splitlines()
    assert [line.split(":")[0] for line in info] == sorted(line.split(":")[0] for line in info)
    total = sum(len(v) for v in PAYLOAD.values())
    assert f"Payload-Oxum: {total}.{len(PAYLOAD)}" in info
    assert "Bagging-Date: 2026-11-20" in info
    assert f"Signer-Fingerprint: {fingerprint(key)}" in info
    tagm = (bag / "tagmanifest-sha256.txt").read_text().splitlines()
    assert [line.split("  ")[1] for line in tagm] == [
        "bag-info.txt",
        "bagit.txt",
        "manifest-sha256.txt",
    ]
    assert len((bag / "tagmanifest-sha256.txt.sig").read_bytes()) == 64


def test_sha256sum_accepts_manifest(bag: Path) -> None:
    run = subprocess.run(
        ["sha256sum", "--strict", "-c", "manifest-sha256.txt"], cwd=bag, capture_output=True
    )
    assert run.returncode == 0, run.stdout + run.stderr
    (bag / "data" / "README.txt").write_bytes(b"changed\n")
    run = subprocess.run(["sha256sum", "-c", "manifest-sha256.txt"], cwd=bag, capture_output=True)
    assert run.returncode != 0


def test_openssl_verifies_raw_signature(bag: Path, pub: Path, tmp_path: Path) -> None:
    cmd = [
        "openssl",
        "pkeyutl",
        "-verify",
        "-pubin",
        "-inkey",
        str(pub),
        "-rawin",
        "-in",
        "tagmanifest-sha256.txt",
        "-sigfile",
        "tagmanifest-sha256.txt.sig",
    ]
    run = subprocess.run(cmd, cwd=bag, capture_output=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert b"Signature Verified Successfully" in run.stdout
    tampered = bytearray((bag / "tagmanifest-sha256.txt").read_bytes())
    tampered[0] ^= 1
    (bag / "tagmanifest-sha256.txt").write_bytes(bytes(tampered))
    assert subprocess.run(cmd, cwd=bag, capture_output=True).returncode != 0


def test_bagit_python_validates(bag: Path) -> None:
    bagit.Bag(str(bag)).validate()  # raises BagValidationError otherwise
    (bag / "data" / "raw" / "index.jsonl").write_bytes(b"x")
    with pytest.raises(bagit.BagValidationError):
        bagit.Bag(str(bag)).validate()


def test_build_twice_identical_zip(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    zips = []
    for run in ("a", "b"):
        bag = make_bag(tmp_path / run, key)
        zips.append(zip_bag(bag, tmp_path / f"{run}.zip", generated_at=GENERATED_AT).read_bytes())
    assert zips[0] == zips[1]
    assert hashlib.sha256(zips[0]).hexdigest()  # non-empty


def test_zip_is_deterministic_and_well_formed(bag: Path, tmp_path: Path, pub: Path) -> None:
    path = zip_bag(bag, tmp_path / "p.zip")  # default time = Bagging-Date midnight
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
        names = [i.filename for i in infos]
        assert names == sorted(names)
        assert {n.split("/")[0] for n in names} == {bag.name}
        for info in infos:
            assert info.date_time == (2026, 11, 20, 0, 0, 0)
            mode = info.external_attr >> 16
            assert mode == (0o040755 if info.is_dir() else 0o100644)
            expected = (
                zipfile.ZIP_STORED
                if info.is_dir() or info.filename.endswith(".pdf")
                else zipfile.ZIP_DEFLATED
            )
            assert info.compress_type == expected, info.filename
        assert zf.testzip() is None
    assert verify_package(path, trusted_key=pub).outcome == "verified"


def test_zip_timestamp_clamped_to_1980(bag: Path, tmp_path: Path) -> None:
    from datetime import UTC, datetime

    path = zip_bag(bag, tmp_path / "old.zip", generated_at=datetime(1970, 1, 1, tzinfo=UTC))
    with zipfile.ZipFile(path) as zf:
        assert zf.infolist()[0].date_time == (1980, 1, 1, 0, 0, 0)


@pytest.mark.parametrize(
    "bad", ["../evil", "/abs", "a/../b", "a//b", "back\\slash", "pct%25", "new\nline", ""]
)
def test_unsafe_payload_paths_refused(tmp_path: Path, key: Ed25519PrivateKey, bad: str) -> None:
    with pytest.raises(UsageError):
        build_bag(
            {bad: b"x"}, tmp_path, name="b", info={}, signing_key=key, generated_at=GENERATED_AT
        )
    assert not (tmp_path / "b").exists()


def test_reserved_and_multiline_info_refused(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    for info in ({"Payload-Oxum": "1.1"}, {"Note": "two\nlines"}, {"Bad:Key": "v"}):
        with pytest.raises(UsageError):
            build_bag(
                {"a": b"x"},
                tmp_path,
                name="b",
                info=info,
                signing_key=key,
                generated_at=GENERATED_AT,
            )
    assert list(tmp_path.iterdir()) == []  # no staging directory left behind


def test_existing_bag_refused(bag: Path, key: Ed25519PrivateKey) -> None:
    with pytest.raises(UsageError, match="already exists"):
        make_bag(bag.parent, key, name=bag.name)


def test_payload_from_files(tmp_path: Path, key: Ed25519PrivateKey, pub: Path) -> None:
    src = tmp_path / "big.bin"
    src.write_bytes(b"\x01" * (3 << 20) + b"tail")
    bag = build_bag(
        {"raw/big.bin": src, "x.txt": b"x"},
        tmp_path / "o",
        name="b",
        info={},
        signing_key=key,
        generated_at=GENERATED_AT,
    )
    assert (bag / "data/raw/big.bin").read_bytes() == src.read_bytes()
    assert verify_package(bag, trusted_key=pub).outcome == "verified"
