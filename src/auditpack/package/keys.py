"""Ed25519 signing keys, their fingerprints and self-signed certificates.

The signing key is kept as PKCS#8 PEM encrypted with the best encryption ``cryptography``
offers for a passphrase; writing it unencrypted requires an explicit opt-in.

**Fingerprint**: the lowercase hex SHA-256 of the *raw 32-byte* Ed25519 public key (RFC 8032
encoding, not the DER SubjectPublicKeyInfo). An auditor can recompute it from the PEM with::

    openssl pkey -pubin -in signer.pub.pem -outform DER | tail -c 32 | sha256sum
"""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.x509.oid import NameOID

from auditpack.errors import ConfigError, UsageError

__all__ = [
    "fingerprint",
    "generate_key",
    "load_certificate",
    "load_private_key",
    "load_public_key",
    "public_key_pem",
    "self_signed_certificate",
    "write_certificate",
    "write_private_key",
    "write_public_key",
]

_PRIVATE_MODE = 0o600
_PUBLIC_MODE = 0o644


def _write_file(path: Path, data: bytes, mode: int, *, overwrite: bool) -> None:
    """Write ``data`` to ``path`` created with ``mode`` from the start.

    The file is opened with the final mode so private material is never world-readable, not
    even for the instant between create and chmod. Raises UsageError if the file exists and
    ``overwrite`` is false, ConfigError if it cannot be written.
    """
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
    try:
        fd = os.open(path, flags, mode)
    except FileExistsError:
        raise UsageError(f"{path} already exists; refusing to overwrite it") from None
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror}") from None
    try:
        os.fchmod(fd, mode)  # O_CREAT's mode is filtered by umask; an existing file keeps its own
        os.write(fd, data)
    finally:
        os.close(fd)


def _encryption(
    passphrase: bytes | None, insecure_no_passphrase: bool
) -> serialization.KeySerializationEncryption:
    """The PEM encryption for ``passphrase``; raises UsageError on an unwanted plaintext key."""
    if passphrase:
        return serialization.BestAvailableEncryption(passphrase)
    if not insecure_no_passphrase:
        raise UsageError(
            "refusing to write an unencrypted signing key",
            hint="set AUDITPACK_SIGNING_PASSPHRASE, or opt in to an insecure key explicitly",
        )
    return serialization.NoEncryption()


def write_private_key(
    key: Ed25519PrivateKey,
    path: Path,
    passphrase: bytes | None,
    *,
    insecure_no_passphrase: bool = False,
    overwrite: bool = False,
) -> None:
    """Write ``key`` to ``path`` as (encrypted) PKCS#8 PEM with mode 0600.

    Raises UsageError if no passphrase is given without ``insecure_no_passphrase``, or if the
    file exists and ``overwrite`` is false; ConfigError if the file cannot be written.
    """
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        _encryption(passphrase, insecure_no_passphrase),
    )
    _write_file(Path(path), pem, _PRIVATE_MODE, overwrite=overwrite)


def generate_key(
    path: Path,
    passphrase: bytes | None,
    *,
    insecure_no_passphrase: bool = False,
    overwrite: bool = False,
) -> Ed25519PrivateKey:
    """Generate a new Ed25519 key, write it to ``path`` (mode 0600) and return it.

    Raises UsageError if ``passphrase`` is empty/None and ``insecure_no_passphrase`` is false
    (nothing is written), or if ``path`` exists and ``overwrite`` is false.
    """
    encryption = _encryption(passphrase, insecure_no_passphrase)  # check before generating
    del encryption
    key = Ed25519PrivateKey.generate()
    write_private_key(
        key,
        path,
        passphrase,
        insecure_no_passphrase=insecure_no_passphrase,
        overwrite=overwrite,
    )
    return key


def _read(path: Path, what: str) -> bytes:
    """Read ``path``; raises ConfigError naming ``what`` if it cannot be read."""
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{what} {path} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror}") from None


def load_private_key(path: Path, passphrase: bytes | None) -> Ed25519PrivateKey:
    """Load the Ed25519 signing key at ``path``.

    Raises ConfigError with a one-line message (never containing the passphrase) if the file
    is missing, the passphrase is wrong or missing, or the key is not Ed25519.
    """
    data = _read(path, "signing key")
    try:
        key = serialization.load_pem_private_key(data, password=passphrase or None)
    except TypeError:
        # cryptography raises TypeError for "encrypted but no password" and the converse
        if passphrase:
            raise ConfigError(
                f"signing key {path} is not encrypted but a passphrase was given",
                hint="unset AUDITPACK_SIGNING_PASSPHRASE or re-encrypt the key",
            ) from None
        raise ConfigError(
            f"signing key {path} is encrypted and no passphrase was given",
            hint="set AUDITPACK_SIGNING_PASSPHRASE",
        ) from None
    except ValueError:
        raise ConfigError(
            f"cannot decrypt signing key {path}: wrong passphrase or not a PEM private key"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"signing key {path} is not an Ed25519 key")
    return key


def _as_public(key: Ed25519PrivateKey | Ed25519PublicKey) -> Ed25519PublicKey:
    return key.public_key() if isinstance(key, Ed25519PrivateKey) else key


def public_key_pem(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    """The SubjectPublicKeyInfo PEM of ``key`` (usable with ``openssl pkeyutl -pubin``)."""
    return _as_public(key).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def write_public_key(
    key: Ed25519PrivateKey | Ed25519PublicKey, path: Path, *, overwrite: bool = True
) -> None:
    """Write the public key PEM to ``path`` (mode 0644). Raises as :func:`_write_file`."""
    _write_file(Path(path), public_key_pem(key), _PUBLIC_MODE, overwrite=overwrite)


def fingerprint(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """Lowercase hex SHA-256 of the raw 32-byte Ed25519 public key (64 hex characters)."""
    raw = _as_public(key).public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def load_public_key(path: Path) -> Ed25519PublicKey:
    """Load an Ed25519 public key from a PEM file (a certificate PEM is accepted too).

    Raises ConfigError if the file is missing or holds no Ed25519 public key.
    """
    data = _read(path, "public key")
    try:
        if b"BEGIN CERTIFICATE" in data:
            key: object = x509.load_pem_x509_certificate(data).public_key()
        else:
            key = serialization.load_pem_public_key(data)
    except ValueError:
        raise ConfigError(f"{path} is not a PEM public key or certificate") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigError(f"public key {path} is not an Ed25519 key")
    return key


def self_signed_certificate(
    key: Ed25519PrivateKey,
    common_name: str,
    *,
    not_before: datetime | None = None,
    days: int = 3650,
) -> x509.Certificate:
    """A self-signed Ed25519 certificate for ``key`` (digital signature + non-repudiation).

    Deterministic when ``not_before`` is given: the serial number is derived from the public
    key, the name and the validity start, and Ed25519 signatures are deterministic (RFC 8032),
    so the same inputs produce the same DER bytes. Raises UsageError if ``days`` < 1.
    """
    if days < 1:
        raise UsageError(f"certificate validity must be at least 1 day, not {days}")
    start = (not_before or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    seed = f"{fingerprint(key)}|{common_name}|{start.isoformat()}".encode()
    # 159 bits: positive and within RFC 5280's 20-octet limit
    serial = int.from_bytes(hashlib.sha256(seed).digest()[:20], "big") >> 1 or 1
    public = key.public_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(serial)
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
    )
    return builder.sign(key, algorithm=None)


def write_certificate(cert: x509.Certificate, path: Path, *, overwrite: bool = True) -> None:
    """Write ``cert`` as PEM (mode 0644). Raises as :func:`write_public_key`."""
    _write_file(
        Path(path), cert.public_bytes(serialization.Encoding.PEM), _PUBLIC_MODE, overwrite=overwrite
    )


def load_certificate(path: Path) -> x509.Certificate:
    """Load a PEM certificate; raises ConfigError if missing or not a certificate."""
    data = _read(path, "certificate")
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError:
        raise ConfigError(f"{path} is not a PEM certificate") from None
