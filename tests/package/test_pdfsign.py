from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pypdf import PdfWriter

from auditpack.errors import UsageError
from auditpack.package import self_signed_certificate
from auditpack.package.pdfsign import check_pdf_signature, sign_pdf

WHEN = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def plain_pdf(tmp_path: Path) -> Path:
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    buf = io.BytesIO()
    writer.write(buf)
    path = tmp_path / "report.pdf"
    path.write_bytes(buf.getvalue())
    return path


def _key_and_cert() -> tuple[Ed25519PrivateKey, x509.Certificate]:
    key = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    return key, self_signed_certificate(key, "Acme auditpack", not_before=WHEN, days=365)


def test_sign_verify_and_deterministic(plain_pdf: Path, tmp_path: Path) -> None:
    key, cert = _key_and_cert()
    a = sign_pdf(plain_pdf, tmp_path / "a.pdf", key=key, certificate=cert, generated_at=WHEN)
    b = sign_pdf(plain_pdf, tmp_path / "b.pdf", key=key, certificate=cert, generated_at=WHEN)
    assert a.read_bytes() == b.read_bytes()
    assert b"/ETSI.CAdES.detached" in a.read_bytes()
    assert check_pdf_signature(a) == []
    assert check_pdf_signature(a, trusted_certificate=cert) == []


def test_appended_bytes_and_tampering_caught(plain_pdf: Path, tmp_path: Path) -> None:
    key, cert = _key_and_cert()
    signed = sign_pdf(plain_pdf, tmp_path / "s.pdf", key=key, certificate=cert, generated_at=WHEN)
    appended = tmp_path / "appended.pdf"
    appended.write_bytes(signed.read_bytes() + b"\n% appended after signing\n")
    assert {p.code for p in check_pdf_signature(appended)} == {"pdf-not-covered"}
    data = bytearray(signed.read_bytes())
    at = data.index(b"/MediaBox")
    data[at + 1] ^= 0x20  # /mediaBox: inside the signed byte range
    tampered = tmp_path / "tampered.pdf"
    tampered.write_bytes(bytes(data))
    assert "pdf-bad-signature" in {p.code for p in check_pdf_signature(tampered)}
    assert {p.code for p in check_pdf_signature(plain_pdf)} == {"pdf-unsigned"}


def test_untrusted_certificate_and_refused_keys(plain_pdf: Path, tmp_path: Path) -> None:
    key, cert = _key_and_cert()
    signed = sign_pdf(plain_pdf, tmp_path / "s.pdf", key=key, certificate=cert, generated_at=WHEN)
    other = Ed25519PrivateKey.from_private_bytes(bytes(32))
    other_cert = self_signed_certificate(other, "Mallory", not_before=WHEN)
    assert "pdf-untrusted" in {
        p.code for p in check_pdf_signature(signed, trusted_certificate=other_cert)
    }
    with pytest.raises(UsageError):
        sign_pdf(plain_pdf, tmp_path / "x.pdf", key=other, certificate=cert, generated_at=WHEN)
    with pytest.raises(UsageError):
        sign_pdf(
            plain_pdf,
            tmp_path / "x.pdf",
            key=generate_private_key(SECP256R1()),  # type: ignore[arg-type]
            certificate=cert,
            generated_at=WHEN,
        )
    assert not (tmp_path / "x.pdf").exists()
