from __future__ import annotations

import hashlib
import stat
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from auditpack.errors import ConfigError, UsageError
from auditpack.package import keys


def test_generate_refuses_plaintext_without_opt_in(tmp_path: Path) -> None:
    path = tmp_path / "k.pem"
    with pytest.raises(UsageError):
        keys.generate_key(path, None)
    with pytest.raises(UsageError):
        keys.generate_key(path, b"")
    assert not path.exists()
    key = keys.generate_key(path, None, insecure_no_passphrase=True)
    assert b"ENCRYPTED" not in path.read_bytes()
    assert keys.fingerprint(keys.load_private_key(path, None)) == keys.fingerprint(key)


def test_encrypted_key_roundtrip_mode_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "k.pem"
    key = keys.generate_key(path, b"s3cret-pass")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert b"BEGIN ENCRYPTED PRIVATE KEY" in path.read_bytes()
    loaded = keys.load_private_key(path, b"s3cret-pass")
    assert keys.fingerprint(loaded) == keys.fingerprint(key)
    with pytest.raises(ConfigError) as wrong:
        keys.load_private_key(path, b"wrong-pass")
    assert "wrong passphrase" in wrong.value.one_line()
    assert "wrong-pass" not in wrong.value.one_line()
    assert "\n" not in wrong.value.one_line()
    with pytest.raises(ConfigError, match="no passphrase"):
        keys.load_private_key(path, None)
    with pytest.raises(ConfigError, match="does not exist"):
        keys.load_private_key(tmp_path / "nope.pem", b"x")
    with pytest.raises(UsageError, match="already exists"):
        keys.generate_key(path, b"another")


def test_fingerprint_is_sha256_of_raw_public_key(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.from_private_bytes(bytes(32))
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert keys.fingerprint(key) == hashlib.sha256(raw).hexdigest()
    assert keys.fingerprint(key.public_key()) == keys.fingerprint(key)
    pub = tmp_path / "p.pem"
    keys.write_public_key(key, pub)
    assert keys.fingerprint(keys.load_public_key(pub)) == keys.fingerprint(key)
    # the documented openssl recipe gives the same value
    der = subprocess.run(
        ["openssl", "pkey", "-pubin", "-in", str(pub), "-outform", "DER"],
        check=True,
        capture_output=True,
    ).stdout
    assert hashlib.sha256(der[-32:]).hexdigest() == keys.fingerprint(key)


def test_self_signed_certificate_deterministic(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.from_private_bytes(bytes(32))
    start = datetime(2026, 1, 1, tzinfo=UTC)
    a = keys.self_signed_certificate(key, "Acme auditpack", not_before=start, days=365)
    b = keys.self_signed_certificate(key, "Acme auditpack", not_before=start, days=365)
    der = serialization.Encoding.DER
    assert a.public_bytes(der) == b.public_bytes(der)
    assert a.not_valid_before_utc == start
    path = tmp_path / "c.pem"
    keys.write_certificate(a, path)
    assert keys.load_certificate(path).public_bytes(der) == a.public_bytes(der)
    # a certificate is accepted where a public key is expected
    assert keys.fingerprint(keys.load_public_key(path)) == keys.fingerprint(key)
    with pytest.raises(ConfigError):
        keys.load_certificate(tmp_path / "missing.pem")
