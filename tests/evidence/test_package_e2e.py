"""`build` → signed package → `verify`, on the collected sample, through the command line.

The package is built (twice) by the session fixture `packaged` in conftest.py, which the
report tests of the sample read too.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from auditpack.cli import main


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
