from __future__ import annotations

import io
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import x509 as asn1_x509  # type: ignore[import-untyped]
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext
from pypdf import PdfWriter

from auditpack.errors import UsageError
from auditpack.package import PackageError, self_signed_certificate
from auditpack.package.pdfsign import check_pdf_signature, sign_pdf

from .tsa import local_tsa

WHEN = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


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


# --- PAdES B-T against a local RFC 3161 responder --------------------------------------------


def _validate(path: Path, cert: x509.Certificate, tsa_root: object) -> Any:
    """pyHanko's own validator, trusting our signer and the local TSA's root."""
    der = serialization.Encoding.DER
    with open(path, "rb") as handle:
        (sig,) = PdfFileReader(handle).embedded_signatures
        return validate_pdf_signature(
            sig,
            signer_validation_context=ValidationContext(
                trust_roots=[asn1_x509.Certificate.load(cert.public_bytes(der))],
                allow_fetching=False,
            ),
            ts_validation_context=ValidationContext(trust_roots=[tsa_root], allow_fetching=False),
        )


def test_pades_bt_timestamp_token_validates(plain_pdf: Path, tmp_path: Path) -> None:
    key, cert = _key_and_cert()
    stamped_at = WHEN + timedelta(minutes=5)
    with local_tsa(fixed=stamped_at) as tsa:
        signed = sign_pdf(
            plain_pdf,
            tmp_path / "bt.pdf",
            key=key,
            certificate=cert,
            generated_at=WHEN,
            timestamp_url=tsa.url,
        )
    assert tsa.requests  # the token came from the responder, over HTTP
    status = _validate(signed, cert, tsa.root)
    token = status.timestamp_validity
    assert token is not None and token.intact and token.valid and token.trusted
    assert token.timestamp == stamped_at
    assert status.bottom_line  # signer intact, valid, trusted; timestamp sound and trusted
    assert check_pdf_signature(signed, trusted_certificate=cert) == []
    # B-B stays without a token: the difference is the timestamp, not something else
    plain = sign_pdf(plain_pdf, tmp_path / "bb.pdf", key=key, certificate=cert, generated_at=WHEN)
    assert _validate(plain, cert, tsa.root).timestamp_validity is None

    # the token sits in the unsigned attributes: altering its genTime breaks only the token
    data = signed.read_bytes()
    gen_time = b"20261120120500Z".hex().upper().encode()
    assert data.count(gen_time) == 1
    at = data.index(gen_time) + len(gen_time) - 4  # the seconds' last digit '0' → '1'
    forged = tmp_path / "forged.pdf"
    forged.write_bytes(data[:at] + b"31" + data[at + 2 :])
    assert {p.code for p in check_pdf_signature(forged, trusted_certificate=cert)} == {
        "pdf-bad-timestamp"
    }


def test_unreachable_or_malformed_tsa_is_one_line_error(plain_pdf: Path, tmp_path: Path) -> None:
    key, cert = _key_and_cert()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once the socket closes
    url = f"http://127.0.0.1:{port}/tsa"
    with pytest.raises(PackageError) as caught:
        sign_pdf(
            plain_pdf,
            tmp_path / "x.pdf",
            key=key,
            certificate=cert,
            generated_at=WHEN,
            timestamp_url=url,
        )
    line = caught.value.one_line()
    assert f"cannot get a timestamp from {url}" in line and "\n" not in line
    assert not (tmp_path / "x.pdf").exists()
    with pytest.raises(UsageError, match="http"):
        sign_pdf(
            plain_pdf,
            tmp_path / "x.pdf",
            key=key,
            certificate=cert,
            generated_at=WHEN,
            timestamp_url="ftp://tsa.example/",
        )


def test_bt_signed_report_passes_auditpack_verify(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # a package whose report.pdf is B-T signed: `auditpack verify` (hashes, signature, PDF
    # signature and timestamp token, ID/period agreement) accepts it
    from auditpack.cli import main
    from auditpack.package import build_bag, write_public_key, zip_bag

    pid, start, end = "0123456789ab", "2026-07-01", "2026-09-30"
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    writer.add_metadata({"/Title": f"Evidence package {pid}", "/Subject": f"{start}..{end}"})
    buf = io.BytesIO()
    writer.write(buf)
    unsigned = tmp_path / "unsigned.pdf"
    unsigned.write_bytes(buf.getvalue())
    key, cert = _key_and_cert()
    with local_tsa(fixed=WHEN + timedelta(minutes=1)) as tsa:
        signed = sign_pdf(
            unsigned, tmp_path / "report.pdf", key=key, certificate=cert, generated_at=WHEN,
            timestamp_url=tsa.url,
        )  # fmt: skip
    package_json = f'{{"package_id": "{pid}", "period": {{"start": "{start}", "end": "{end}"}}}}'
    bag = build_bag(
        {"report.pdf": signed, "package.json": package_json.encode()},
        tmp_path / "out",
        name=f"auditpack-acme-2026-q3-{pid}",
        info={"External-Identifier": pid, "Audit-Period": f"{start}..{end}"},
        signing_key=key,
        generated_at=WHEN,
    )
    pub = tmp_path / "signer.pub.pem"
    write_public_key(key, pub)
    for target in (bag, zip_bag(bag, tmp_path / "bt.zip", generated_at=WHEN)):
        capsys.readouterr()
        assert main(["verify", str(target), "--trusted-key", str(pub)]) == 0, capsys.readouterr()
