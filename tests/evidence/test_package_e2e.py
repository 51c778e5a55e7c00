"""`build` → signed package → `verify`, on the collected sample, through the command line."""

from __future__ import annotations

import json
import subprocess
import zipfile
from pathlib import Path

import pytest

from auditpack.cli import main
from tests.evidence.conftest import CollectedOrg

GENERATED = "2026-10-05T07:00:00Z"


@pytest.fixture(scope="module")
def packaged(sample: CollectedOrg, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    work = tmp_path_factory.mktemp("pkg")
    policy = {**sample.meta["policy"], "time_zone": sample.meta["time_zone"]}
    hours = policy.pop("working_hours")
    lines = ['[organization]\nname = "Example Corp"', f'[store]\npath = "{sample.store}"',
             '[signing]\nkey = "keys/key.pem"\ncertificate = "keys/cert.pem"', "[policy]"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in policy.items()]
    lines.append("[policy.working_hours]\n" + "\n".join(f"{k} = {json.dumps(v)}"
                                                         for k, v in hours.items()))
    cfg = work / "auditpack.toml"
    cfg.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert main(["keys", "generate", "--config", str(cfg), "--insecure-no-passphrase"]) == 0
    assert main(["keys", "export-public", "--config", str(cfg), "--out",
                 str(work / "signer.pub.pem")]) == 0
    zips = []
    for name in ("out1", "out2"):
        assert main(["build", "--config", str(cfg), "--period", "2026-Q3", "--out",
                     str(work / name), "--generated-at", GENERATED, "--as-of",
                     sample.meta["collection_schedule"][-1]]) == 0
        (zip_path,) = (work / name).glob("*.zip")
        zips.append(zip_path)
    bag = work / "unpacked"
    with zipfile.ZipFile(zips[0]) as zf:
        zf.extractall(bag)  # our own package, just built
    (bag_dir,) = bag.iterdir()
    other = work / "other.pem"
    assert main(["keys", "generate", "--config", str(cfg), "--insecure-no-passphrase"]) != 0
    from auditpack.package import generate_key, write_public_key

    write_public_key(generate_key(work / "other-key.pem", None, insecure_no_passphrase=True),
                     other)
    return {"zip": zips[0], "zip2": zips[1], "bag": bag_dir, "pub": work / "signer.pub.pem",
            "other": other}


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
