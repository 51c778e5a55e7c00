"""`build` → signed package → `verify`, on the collected sample, through the command line.

The package is built (twice) by the session fixture `packaged` in conftest.py, which the
report tests of the sample read too.
"""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import bagit
import pytest

from auditpack.cli import main
from tests.evidence.conftest import GENERATED


def test_same_store_key_and_time_give_identical_bytes(packaged: dict[str, Path]) -> None:
    assert packaged["zip"].name == packaged["zip2"].name
    assert packaged["zip"].read_bytes() == packaged["zip2"].read_bytes()


def test_verify_outcomes(packaged: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", str(packaged["zip"]), "--trusted-key", str(packaged["pub"])]) == 0
    assert main(["verify", str(packaged["zip"])]) == 4  # intact, signer not pinned
    assert main(["verify", str(packaged["zip"]), "--trusted-key", str(packaged["other"])]) == 1
    capsys.readouterr()
    assert main(["verify", str(packaged["zip"]), "--trusted-key", str(packaged["pub"]),
                 "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["outcome"] == "verified" and doc["problems"] == []


def test_ordinary_tools_accept_the_package(packaged: dict[str, Path]) -> None:
    bag = packaged["bag"]
    subprocess.run(["sha256sum", "--quiet", "-c", "manifest-sha256.txt"], cwd=bag, check=True)
    subprocess.run(["sha256sum", "--quiet", "-c", "tagmanifest-sha256.txt"], cwd=bag, check=True)
    subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", str(packaged["pub"]),
                    "-rawin", "-in", "tagmanifest-sha256.txt", "-sigfile",
                    "tagmanifest-sha256.txt.sig"], cwd=bag, check=True, capture_output=True)
    readme = (bag / "data" / "README.txt").read_text()
    assert "sha256sum -c manifest-sha256.txt" in readme and "openssl pkeyutl" in readme
    bagit.Bag(str(bag)).validate()  # bagit-python: structure, Payload-Oxum, every hash


def test_report_signature_validates_with_pyhanko(packaged: dict[str, Path]) -> None:
    from asn1crypto import x509 as asn1_x509  # type: ignore[import-untyped]
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko.sign.validation.status import SignatureCoverageLevel
    from pyhanko_certvalidator import ValidationContext

    root = asn1_x509.Certificate.load(ssl.PEM_cert_to_DER_cert(packaged["cert"].read_text()))
    with open(packaged["bag"] / "data" / "report.pdf", "rb") as handle:
        (sig,) = PdfFileReader(handle).embedded_signatures
        status = validate_pdf_signature(sig, ValidationContext(trust_roots=[root],
                                                               allow_fetching=False))
    assert status.intact and status.valid and status.trusted
    assert status.coverage == SignatureCoverageLevel.ENTIRE_FILE
    assert status.signing_cert.sha256 == root.sha256
    assert sig.sig_object["/SubFilter"] == "/ETSI.CAdES.detached"  # PAdES


def _flip(path: Path, at: int) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0x01
    path.write_bytes(bytes(data))


def _flip_in(path: Path, marker: bytes) -> None:
    _flip(path, path.read_bytes().index(marker) + len(marker) - 1)


def _resign(bag: Path, key_file: Path) -> None:
    """An attacker edits a finding and rebuilds every tag file, signed with their own key."""
    from auditpack.package import load_private_key
    from auditpack.package.bag import RESERVED_INFO_KEYS, _write_bag

    payload = {p.relative_to(bag / "data").as_posix(): p.read_bytes()
               for p in (bag / "data").rglob("*") if p.is_file()}
    payload["findings.jsonl"] = payload["findings.jsonl"].replace(b'"high"', b'"low"', 1)
    info = dict(line.split(": ", 1) for line in (bag / "bag-info.txt").read_text().splitlines())
    info = {k: v for k, v in info.items() if k not in RESERVED_INFO_KEYS}
    shutil.rmtree(bag)
    bag.mkdir()
    _write_bag(bag, payload, info, load_private_key(key_file, None),
               datetime.fromisoformat(GENERATED.replace("Z", "+00:00")))


SIG = "tagmanifest-sha256.txt.sig"
TAMPERING: dict[str, tuple[Callable[[Path, dict[str, Path]], object], set[tuple[str, str]]]] = {
    "payload bit": (lambda b, _: _flip_in(b / "data/findings.jsonl", b'"severity"'),
                    {("hash-mismatch", "data/findings.jsonl")}),
    "PDF bytes appended": (
        lambda b, _: (b / "data/report.pdf").write_bytes((b / "data/report.pdf").read_bytes()
                                                        + b"\n% appended\n"),
        {("hash-mismatch", "data/report.pdf"), ("payload-oxum", "bag-info.txt"),
         ("pdf-not-covered", "data/report.pdf")}),
    "tag file bit": (lambda b, _: _flip_in(b / "bag-info.txt", b"Bag-Software-Agent: auditpack"),
                     {("tag-hash-mismatch", "bag-info.txt")}),
    "signature bit": (lambda b, _: _flip(b / SIG, 10), {("bad-signature", SIG)}),
    "file added": (lambda b, _: (b / "data/controls/extra.json").write_text("{}"),
                   {("unlisted", "data/controls/extra.json"), ("payload-oxum", "bag-info.txt")}),
    "file removed": (lambda b, _: (b / "data/raw/index.jsonl").unlink(),
                     {("missing", "data/raw/index.jsonl"), ("payload-oxum", "bag-info.txt")}),
    "file renamed": (lambda b, _: (b / "data/findings.jsonl").rename(b / "data/findings.old"),
                     {("missing", "data/findings.jsonl"), ("unlisted", "data/findings.old")}),
    "re-signed with another key": (lambda b, pk: _resign(b, pk["other_key"]),
                                   {("signer-mismatch", SIG)}),
}


@pytest.mark.parametrize("case", list(TAMPERING))
def test_each_tampering_of_a_built_package_is_named(
        packaged: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str],
        case: str) -> None:
    tamper, expected = TAMPERING[case]
    bag = tmp_path / packaged["bag"].name
    shutil.copytree(packaged["bag"], bag)
    tamper(bag, packaged)
    capsys.readouterr()
    assert main(["verify", str(bag), "--trusted-key", str(packaged["pub"]), "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert {(p["code"], p["file"]) for p in doc["problems"]} == expected
    assert all(p["message"] for p in doc["problems"])


def test_a_finding_traces_to_the_archived_response(packaged: dict[str, Path]) -> None:
    data = packaged["bag"] / "data"
    index = {json.loads(line)["sha256"]: json.loads(line)
             for line in (data / "raw" / "index.jsonl").read_text().splitlines()}
    findings = [json.loads(line) for line in (data / "findings.jsonl").read_text().splitlines()]
    traced = [s.removeprefix("sha256:") for f in findings for s in f["sources"]
              if s.startswith("sha256:")]
    assert traced
    for sha in traced:
        assert sha in index and (data / "raw" / f"{sha}.json.gz").exists()
    package = json.loads((data / "package.json").read_text())
    info = (packaged["bag"] / "bag-info.txt").read_text()
    assert f"External-Identifier: {package['package_id']}" in info


def test_tampering_is_named(packaged: dict[str, Path], tmp_path: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    bag = tmp_path / "bag"
    shutil.copytree(packaged["bag"], bag)
    findings = bag / "data" / "findings.jsonl"
    findings.write_bytes(findings.read_bytes().replace(b'"high"', b'"low"', 1))
    (bag / "data" / "extra.txt").write_text("planted")
    capsys.readouterr()
    assert main(["verify", str(bag), "--trusted-key", str(packaged["pub"])]) == 1
    out = capsys.readouterr().out
    assert "data/findings.jsonl" in out and "data/extra.txt" in out
