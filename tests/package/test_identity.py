"""An organization's own PDF signing identity: PKCS#12, or a PEM key with its chain."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NamedTuple

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from auditpack.config import load_settings
from auditpack.errors import ConfigError
from auditpack.package import fingerprint, generate_key
from auditpack.package.identity import pem_identity, pkcs12_identity
from auditpack.package.pdfsign import check_pdf_signature
from auditpack.pipeline import signing_material
from tests.package.certs import issue

WHEN = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
PASS = b"org-secret"
SIGNING_ONLY = x509.KeyUsage(
    digital_signature=True, content_commitment=True, key_encipherment=False,
    data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
    encipher_only=False, decipher_only=False,
)  # fmt: skip


def _cert(cn: str, key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
          issuer: x509.Certificate | None, issuer_key: rsa.RSAPrivateKey, *,
          ca: bool = False) -> x509.Certificate:
    # pyHanko wants non-repudiation on a signer's certificate
    usage = () if ca or issuer is None else (SIGNING_ONLY,)
    return issue(cn, key, issuer, issuer_key, start=WHEN - timedelta(days=1), days=366, ca=ca,
                 extensions=usage)


class OrgPki(NamedTuple):
    """The organization's root CA, issuing CA, and an RSA signing key certified by it."""

    root: x509.Certificate
    issuing: x509.Certificate
    issuing_key: rsa.RSAPrivateKey
    key: rsa.RSAPrivateKey
    leaf: x509.Certificate


@pytest.fixture(scope="module")
def pki() -> OrgPki:
    root_key, issuing_key, key = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(3)
    )
    root = _cert("Acme Root CA", root_key, None, root_key)
    issuing = _cert("Acme Issuing CA", issuing_key, root, root_key, ca=True)
    leaf = _cert("Acme Compliance", key, issuing, issuing_key)
    return OrgPki(root, issuing, issuing_key, key, leaf)


def _p12(pki: OrgPki, path: Path) -> Path:
    path.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"acme", pki.key, pki.leaf, [pki.issuing, pki.root],
            serialization.BestAvailableEncryption(PASS),
        )
    )  # fmt: skip
    return path


def test_pkcs12_identity_signs_a_pdf_that_chains_to_the_org_root(
    pki: OrgPki, tmp_path: Path, plain_pdf: Path
) -> None:
    identity = pkcs12_identity(_p12(pki, tmp_path / "org.p12"), PASS)
    assert identity.certificate == pki.leaf
    assert set(identity.chain) == {pki.issuing, pki.root}
    a = identity.sign(plain_pdf, tmp_path / "a.pdf", generated_at=WHEN)
    b = identity.sign(plain_pdf, tmp_path / "b.pdf", generated_at=WHEN)
    assert a.read_bytes() == b.read_bytes()  # RSA PKCS#1 v1.5 keeps builds reproducible
    # trusting only the root: leaf → issuing CA → root needs the chain embedded in the CMS
    assert check_pdf_signature(a, trusted_certificate=pki.root) == []

    with pytest.raises(ConfigError) as wrong:
        pkcs12_identity(tmp_path / "org.p12", b"guess")
    assert "wrong passphrase" in wrong.value.one_line()
    assert "guess" not in wrong.value.one_line()
    with pytest.raises(ConfigError, match="does not exist"):
        pkcs12_identity(tmp_path / "missing.p12", PASS)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    ec_cert = _cert("EC", ec_key, pki.issuing, pki.issuing_key)
    ec_p12 = tmp_path / "ec.p12"
    ec_p12.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"ec", ec_key, ec_cert, None, serialization.NoEncryption()
        )
    )
    with pytest.raises(ConfigError, match="RSA or Ed25519"):
        pkcs12_identity(ec_p12, None)


def test_pem_key_with_chain_file(pki: OrgPki, tmp_path: Path) -> None:
    pem = serialization.Encoding.PEM
    key_pem = tmp_path / "org-key.pem"
    key_pem.write_bytes(
        pki.key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(PASS)
        )
    )
    chain_pem = tmp_path / "chain.pem"
    chain_pem.write_bytes(pki.issuing.public_bytes(pem) + pki.leaf.public_bytes(pem))
    identity = pem_identity(key_pem, chain_pem, PASS)  # the leaf need not come first
    assert identity.certificate == pki.leaf and identity.chain == (pki.issuing,)
    with pytest.raises(ConfigError, match="wrong or missing passphrase"):
        pem_identity(key_pem, chain_pem, None)
    only_ca = tmp_path / "ca.pem"
    only_ca.write_bytes(pki.issuing.public_bytes(pem))
    with pytest.raises(ConfigError, match="no certificate for the PDF signing key"):
        pem_identity(key_pem, only_ca, PASS)


def test_configured_pkcs12_and_tsa_reach_the_build(
    pki: OrgPki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "keys").mkdir()
    package_key = generate_key(tmp_path / "keys" / "signing-key.pem", PASS)
    _p12(pki, tmp_path / "keys" / "org.p12")
    config = tmp_path / "auditpack.toml"
    config.write_text(
        '[signing]\npkcs12 = "keys/org.p12"\ntimestamp_url = "http://127.0.0.1:9/tsr"\n'
    )
    monkeypatch.setenv("AUDITPACK_SIGNING_PASSPHRASE", PASS.decode())
    signing_key, pdf = signing_material(load_settings(config), WHEN)
    # the package stays signed by the Ed25519 key; only report.pdf uses the organization's
    assert fingerprint(signing_key) == fingerprint(package_key)
    assert pdf.certificate == pki.leaf and set(pdf.chain) == {pki.issuing, pki.root}
    assert pdf.timestamp_url == "http://127.0.0.1:9/tsr"

    config.write_text('[signing]\npkcs12 = "a.p12"\npdf_key = "k.pem"\n')
    with pytest.raises(ConfigError, match="not both"):
        load_settings(config)
    config.write_text('[signing]\ntimestamp_url = "tsa.example.com"\n')
    with pytest.raises(ConfigError, match="http"):
        load_settings(config)
