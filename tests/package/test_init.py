"""`auditpack init`: a working directory for a real organization."""

from __future__ import annotations

import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from auditpack.cli import main
from auditpack.config import Settings, load_settings
from auditpack.package import fingerprint, load_private_key, load_public_key
from auditpack.pipeline import signing_material

ORG = 'Acme "Europe" \\ GmbH'


def _fingerprint_line(out: str) -> str:
    (line,) = [line for line in out.splitlines() if line.startswith("fingerprint")]
    return line.split()[1]


def test_init_sets_up_a_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AUDITPACK_SIGNING_PASSPHRASE", "correct horse")
    work = tmp_path / "acme"
    assert main(["init", str(work), "--organization", ORG]) == 0
    out = capsys.readouterr().out
    printed = _fingerprint_line(out)
    assert "correct horse" not in out
    assert "auditpack collect --config" in out and "keys export-public" in out

    settings = load_settings(work / "auditpack.toml")
    # every value written is the default: the file documents, it does not change behaviour
    expected = Settings.model_validate(
        {"organization": {"name": ORG}, "policy": {"time_zone": "UTC"}}
    )
    assert settings.model_dump() == expected.model_dump()
    assert "# timestamp_url" in (work / "auditpack.toml").read_text()
    assert settings.store_path.is_dir() and settings.store_path == work / "store"

    key_path = work / "keys" / "signing-key.pem"
    assert b"BEGIN ENCRYPTED PRIVATE KEY" in key_path.read_bytes()
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert stat.S_IMODE((work / "keys").stat().st_mode) == 0o700
    key = load_private_key(key_path, b"correct horse")
    assert printed == fingerprint(key)
    assert fingerprint(load_public_key(work / "keys" / "signing-cert.pem")) == printed
    assert main(["keys", "show", "--config", str(work / "auditpack.toml")]) == 0
    assert capsys.readouterr().out.strip() == printed

    # a build signs report.pdf with the certificate init wrote
    package_key, pdf = signing_material(settings, datetime(2026, 11, 26, tzinfo=UTC))
    assert fingerprint(package_key) == printed
    assert pdf.certificate.subject.rfc4514_string().startswith("CN=Acme")


def test_init_refuses_to_overwrite_and_never_replaces_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AUDITPACK_SIGNING_PASSPHRASE", "pw")
    assert main(["init", str(tmp_path), "--organization", "Acme"]) == 0
    config = tmp_path / "auditpack.toml"
    key = (tmp_path / "keys" / "signing-key.pem").read_bytes()
    config.write_text(config.read_text() + "# my edits\n")
    capsys.readouterr()
    assert main(["init", str(tmp_path), "--organization", "Other"]) == 2
    err = capsys.readouterr().err
    assert "already exists" in err and "--force" in err and err.count("\n") == 1
    assert config.read_text().endswith("# my edits\n")

    assert main(["init", str(tmp_path), "--organization", "Other", "--force"]) == 0
    assert "kept" in capsys.readouterr().out
    assert load_settings(config).organization.name == "Other"
    assert (tmp_path / "keys" / "signing-key.pem").read_bytes() == key


def test_init_without_passphrase_or_name_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    work = tmp_path / "new"
    # pytest's stdin is not a terminal: no prompt, a one-line refusal instead
    assert main(["init", str(work), "--organization", "Acme"]) == 2
    assert main(["init", str(work)]) == 2
    assert main(["init", str(work), "--organization", "  "]) == 2
    assert main(["init", str(work), "--organization", "bad\x07name"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 4 and all(line.startswith("auditpack: error: ") for line in err)
    assert "AUDITPACK_SIGNING_PASSPHRASE" in err[0] and "--organization" in err[1]
    assert not work.exists()

    assert main(["init", str(work), "--organization", "Acme", "--insecure-no-passphrase"]) == 0
    key_path = work / "keys" / "signing-key.pem"
    assert b"ENCRYPTED" not in key_path.read_bytes()
    assert fingerprint(load_private_key(key_path, None)) == _fingerprint_line(
        capsys.readouterr().out
    )
