"""An organization's own PDF signing identity: PKCS#12, or a PEM key with a certificate file.

The package itself is always signed with the Ed25519 key (raw signature, checkable with
``openssl pkeyutl``); these identities only sign report.pdf, typically with an RSA key issued
by the organization's CA so that PDF readers show a signer they recognise.
"""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import pkcs12

from auditpack.errors import ConfigError
from auditpack.package.keys import _read
from auditpack.package.pdfsign import PdfSigning

__all__ = ["certificate_identity", "load_certificates", "pem_identity", "pkcs12_identity"]

PdfKey = Ed25519PrivateKey | RSAPrivateKey


def _pdf_key(key: object, path: Path) -> PdfKey:
    """``key`` if PDF signing supports it; ConfigError otherwise."""
    if not isinstance(key, Ed25519PrivateKey | RSAPrivateKey):
        raise ConfigError(
            f"the key in {path} is {type(key).__name__.removeprefix('_')}: PDF signing needs an "
            "RSA or Ed25519 key (ECDSA signatures are not reproducible)"
        )
    return key


def _spki(cert_or_key: x509.Certificate | PdfKey) -> bytes:
    public = cert_or_key.public_key()
    return public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _split_chain(
    key: PdfKey, certs: list[x509.Certificate], path: Path
) -> tuple[x509.Certificate, tuple[x509.Certificate, ...]]:
    """The certificate of ``key`` and the others (its chain); ConfigError if none matches."""
    mine = _spki(key)
    leaf = next((c for c in certs if _spki(c) == mine), None)
    if leaf is None:
        raise ConfigError(f"{path} holds no certificate for the PDF signing key")
    return leaf, tuple(c for c in certs if c is not leaf)


def load_certificates(path: Path) -> list[x509.Certificate]:
    """Every certificate in a PEM file (a leaf and its chain); ConfigError if there is none."""
    data = _read(path, "certificate")
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise ConfigError(f"{path} is not a PEM certificate (chain)") from None
    return certs


def pkcs12_identity(
    path: Path, passphrase: bytes | None, *, timestamp_url: str | None = None
) -> PdfSigning:
    """The key, certificate and chain of a PKCS#12 file (.p12/.pfx).

    Raises ConfigError (one line, never the passphrase) if the file is missing, the
    passphrase is wrong, it holds no key or certificate, or the key type is unsupported.
    """
    data = _read(path, "PKCS#12 file")
    try:
        bundle = pkcs12.load_pkcs12(data, passphrase or None)
    except ValueError:
        raise ConfigError(
            f"cannot open PKCS#12 file {path}: wrong passphrase or not PKCS#12",
            hint="its passphrase is read from AUDITPACK_SIGNING_PASSPHRASE",
        ) from None
    if bundle.key is None or bundle.cert is None:
        raise ConfigError(f"PKCS#12 file {path} must hold a private key and its certificate")
    key = _pdf_key(bundle.key, path)
    certs = [bundle.cert.certificate, *(c.certificate for c in bundle.additional_certs)]
    leaf, chain = _split_chain(key, certs, path)
    return PdfSigning(key, leaf, chain, timestamp_url)


def pem_identity(
    key_path: Path,
    cert_path: Path,
    passphrase: bytes | None,
    *,
    timestamp_url: str | None = None,
) -> PdfSigning:
    """A PEM private key (encrypted or not) and a PEM file with its certificate and chain.

    Raises ConfigError if a file is missing or unreadable, the passphrase is wrong or missing,
    the key type is unsupported, or no certificate in ``cert_path`` belongs to the key.
    """
    data = _read(key_path, "PDF signing key")
    try:
        loaded = serialization.load_pem_private_key(data, password=None)
    except TypeError:  # encrypted: only now is the passphrase needed
        try:
            loaded = serialization.load_pem_private_key(data, password=passphrase or None)
        except (TypeError, ValueError):
            raise ConfigError(
                f"cannot decrypt PDF signing key {key_path}: wrong or missing passphrase",
                hint="set AUDITPACK_SIGNING_PASSPHRASE",
            ) from None
    except ValueError:
        raise ConfigError(f"{key_path} is not a PEM private key") from None
    key = _pdf_key(loaded, key_path)
    leaf, chain = _split_chain(key, load_certificates(cert_path), cert_path)
    return PdfSigning(key, leaf, chain, timestamp_url)


def certificate_identity(
    key: PdfKey, cert_path: Path, *, timestamp_url: str | None = None
) -> PdfSigning:
    """``key`` (usually the package key) with its certificate and chain from a PEM file.

    Raises ConfigError if the file is missing or unreadable or no certificate in it belongs
    to ``key``.
    """
    leaf, chain = _split_chain(key, load_certificates(cert_path), cert_path)
    return PdfSigning(key, leaf, chain, timestamp_url)
