"""Test certificates: one builder for the organization PKIs and the local TSA's chain."""

from __future__ import annotations

from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID


def issue(cn: str, key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
          issuer: x509.Certificate | None, issuer_key: rsa.RSAPrivateKey, *, start: datetime,
          days: int, ca: bool = False,
          extensions: tuple[x509.ExtensionType, ...] = ()) -> x509.Certificate:
    """A certificate for `key` named `cn`, self-signed when `issuer` is None (then a CA);
    each of `extensions` is added as critical."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    ca = ca or issuer is None
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    for extension in extensions:
        builder = builder.add_extension(extension, critical=True)
    return builder.sign(issuer_key, hashes.SHA256())
