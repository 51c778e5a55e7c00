"""PAdES baseline signatures on PDFs (pyHanko): B-B, reproducible; B-T with a TSA.

Algorithm: Ed25519 (pyHanko supports EdDSA in CMS per RFC 8419, with SHA-512 as the message
digest), so the same key signs the package and the report. Ed25519 and RSA PKCS#1 v1.5 are
deterministic; ECDSA keys are refused because pyHanko signs with random nonces (RFC 6979 is
not used), which would break byte-identical output. Caveat: Adobe Acrobat does not validate
Ed25519 signatures (pyHanko, OpenSSL-based tools and EU DSS do); configure an RSA key and
certificate (PKCS#12 or PEM) when Acrobat is the auditor's tool.

Determinism: pyHanko takes the signing time (CMS signingTime and the /M entry) from the wall
clock, sets /ModDate to "now" and draws a random second trailer /ID. :func:`sign_pdf` pins
all three: the time to ``generated_at`` and the ID to a hash of the input and that time.
With a timestamp authority (PAdES B-T) the signature embeds the TSA's token, whose time,
serial number and nonce are the TSA's: B-T output is only as reproducible as the TSA.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from asn1crypto import keys as asn1_keys  # type: ignore[import-untyped]
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.metadata.model import DocumentMetadata
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.timestamps import TimestampRequestError
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore

from auditpack.errors import UsageError
from auditpack.package.interface import PackageError, Problem

__all__ = ["FIELD_NAME", "PdfSigning", "check_pdf_signature", "sign_pdf"]

FIELD_NAME = "AuditpackSignature"
TSA_TIMEOUT_SECONDS = 10


@dataclass
class _PinnedMeta(DocumentMetadata):
    """Document metadata whose "now" is a fixed time (pyHanko assigns 'now' on write)."""

    pinned_time: datetime | None = None

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "last_modified" and value == "now" and self.pinned_time is not None:
            value = self.pinned_time
        super().__setattr__(name, value)


class _PinnedSigner(signers.PdfSigner):
    """A PdfSigner whose signing session uses a fixed system time instead of the clock."""

    def __init__(self, *args: Any, system_time: datetime, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pinned_time = system_time

    def init_signing_session(self, pdf_out: Any, existing_fields_only: bool = False) -> Any:
        session = super().init_signing_session(pdf_out, existing_fields_only)
        session.system_time = self._pinned_time
        return session


@dataclass(frozen=True)
class PdfSigning:
    """How report.pdf is signed: key, certificate, the certificate's chain, optional TSA.

    The key may be the package's Ed25519 key (with a self-signed or issued certificate) or an
    organization's own Ed25519/RSA key from PKCS#12 or PEM; ``chain`` holds the intermediate
    (and root) certificates embedded so a validator can build the path.
    """

    key: Ed25519PrivateKey | RSAPrivateKey
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...] = ()
    timestamp_url: str | None = None

    def sign(self, pdf_in: Path, pdf_out: Path, *, generated_at: datetime) -> Path:
        """:func:`sign_pdf` with this identity; raises as it does."""
        return sign_pdf(
            pdf_in,
            pdf_out,
            key=self.key,
            certificate=self.certificate,
            chain=self.chain,
            generated_at=generated_at,
            timestamp_url=self.timestamp_url,
        )


def _signer(
    key: Ed25519PrivateKey | RSAPrivateKey,
    certificate: x509.Certificate,
    chain: tuple[x509.Certificate, ...],
) -> Any:
    """A pyHanko SimpleSigner; raises UsageError for ECDSA or a key/certificate mismatch."""
    if not isinstance(key, Ed25519PrivateKey | RSAPrivateKey):
        raise UsageError(
            "PDF signing needs an Ed25519 or RSA key (ECDSA signatures are not reproducible)"
        )
    pub = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    if key.public_key().public_bytes(der, pub) != certificate.public_key().public_bytes(der, pub):
        raise UsageError("the certificate does not belong to the PDF signing key")
    key_info = asn1_keys.PrivateKeyInfo.load(
        key.private_bytes(der, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    cert, *others = (asn1_x509.Certificate.load(c.public_bytes(der)) for c in (certificate, *chain))
    return signers.SimpleSigner(
        signing_cert=cert,
        signing_key=key_info,
        cert_registry=SimpleCertificateStore.from_certs([cert, *others]),  # type: ignore[no-untyped-call]
    )


def _timestamper(url: str | None) -> Any:
    """pyHanko's RFC 3161 HTTP client for ``url``; raises UsageError for a non-HTTP URL."""
    if url is None:
        return None
    if not url.startswith(("http://", "https://")):
        raise UsageError(f"signing.timestamp_url must be an http(s) URL, not {url!r}")
    from pyhanko.sign.timestamps import HTTPTimeStamper

    return HTTPTimeStamper(url, timeout=TSA_TIMEOUT_SECONDS)


def _one_line(exc: BaseException) -> str:
    """``exc`` and its direct cause as one line (pyHanko wraps the network error that matters)."""
    parts = [" ".join(str(e).split()) or type(e).__name__ for e in (exc, exc.__cause__) if e]
    return ": ".join(dict.fromkeys(parts))


def sign_pdf(
    pdf_in: Path,
    pdf_out: Path,
    *,
    key: Ed25519PrivateKey | RSAPrivateKey,
    certificate: x509.Certificate,
    generated_at: datetime,
    chain: tuple[x509.Certificate, ...] = (),
    timestamp_url: str | None = None,
) -> Path:
    """Write ``pdf_in`` with a PAdES signature to ``pdf_out``; returns ``pdf_out``.

    B-B, or B-T when ``timestamp_url`` names an RFC 3161 timestamp authority. Without a TSA,
    the same input, key, certificate and ``generated_at`` give byte-identical output.

    Raises UsageError for an unsupported key, a key/certificate mismatch or a malformed
    ``timestamp_url``; PackageError if the PDF cannot be read or signed, or the TSA cannot be
    reached or refuses (nothing is written then).
    """
    signer = _signer(key, certificate, tuple(chain))
    timestamper = _timestamper(timestamp_url)
    when = generated_at.astimezone(UTC) if generated_at.tzinfo else generated_at.replace(tzinfo=UTC)
    try:
        data = Path(pdf_in).read_bytes()
    except OSError as exc:
        raise PackageError(f"cannot read {pdf_in}: {exc.strerror}") from None
    meta = signers.PdfSignatureMetadata(
        field_name=FIELD_NAME,
        subfilter=fields.SigSeedSubFilter.PADES,
        md_algorithm="sha512" if isinstance(key, Ed25519PrivateKey) else "sha256",
    )
    try:
        writer = IncrementalPdfFileWriter(io.BytesIO(data), strict=False)
        _pin_writer(writer, data, when)
        pdf_signer = _PinnedSigner(meta, signer=signer, timestamper=timestamper, system_time=when)
        out = io.BytesIO()
        pdf_signer.sign_pdf(writer, output=out)
    except TimestampRequestError as exc:
        raise PackageError(
            f"cannot get a timestamp from {timestamp_url}: {_one_line(exc)}",
            hint="check signing.timestamp_url, or remove it to sign without a timestamp",
        ) from None
    except Exception as exc:  # pyHanko raises many types (PdfReadError, SigningError, ...)
        raise PackageError(f"cannot sign {pdf_in}: {_one_line(exc)}") from None
    Path(pdf_out).write_bytes(out.getvalue())
    return Path(pdf_out)


def _pin_writer(writer: Any, data: bytes, when: datetime) -> None:
    """Replace pyHanko's random second /ID and wall-clock /ModDate with fixed values."""
    seed = hashlib.sha256(data + when.isoformat().encode()).digest()
    id1 = writer._document_id[0]
    if "/ID" not in writer.prev.trailer:
        # the input had no /ID, so pyHanko invented a random first part too
        id1 = generic.ByteStringObject(seed[16:])
    writer._document_id = generic.ArrayObject([id1, generic.ByteStringObject(seed[:16])])
    old = writer._meta
    pinned = _PinnedMeta(pinned_time=when)
    for name, value in vars(old).items():
        if name != "pinned_time":
            object.__setattr__(pinned, name, value)
    writer._meta = pinned


def check_pdf_signature(
    path: Path, *, trusted_certificate: x509.Certificate | None = None
) -> list[Problem]:
    """Problems with the PDF's signatures; an empty list means all is well.

    Each signature must be intact (digest and signature value) and the last one must cover
    the whole file, so bytes appended after signing are caught (``pdf-not-covered``). With
    ``trusted_certificate`` the signer must also chain to it (``pdf-untrusted``); without it
    trust is not judged. Never raises for a bad PDF: unreadable files are a problem too.
    """
    name = Path(path).name
    try:
        with open(path, "rb") as handle:
            reader = PdfFileReader(handle, strict=False)
            sigs = reader.embedded_signatures
            if not sigs:
                return [Problem("pdf-unsigned", name, None, None, f"{name} has no signature")]
            return _check_signatures(name, sigs, trusted_certificate)
    except Exception as exc:  # pyHanko raises many types for malformed input
        return [
            Problem("pdf-unreadable", name, None, None, f"{name}: {' '.join(str(exc).split())}")
        ]


def _check_signatures(
    name: str, sigs: list[Any], trusted: x509.Certificate | None
) -> list[Problem]:
    problems: list[Problem] = []
    roots = []
    if trusted is not None:
        roots.append(asn1_x509.Certificate.load(trusted.public_bytes(serialization.Encoding.DER)))
    # explicit roots (possibly none): never the OS trust store, never the network
    context = ValidationContext(trust_roots=roots, allow_fetching=False)
    coverage = None
    for index, sig in enumerate(sigs):
        status = validate_pdf_signature(sig, signer_validation_context=context)
        coverage = status.coverage
        label = sig.field_name or f"#{index}"
        if not (status.intact and status.valid):
            problems.append(
                Problem(
                    "pdf-bad-signature",
                    name,
                    "intact",
                    "broken",
                    f"{name}: signature {label} does not verify",
                )
            )
        if trusted is not None and not status.trusted:
            problems.append(
                Problem(
                    "pdf-untrusted",
                    name,
                    None,
                    None,
                    f"{name}: signature {label} is not by the trusted certificate",
                )
            )
        # B-T: the embedded timestamp token must be sound (whether the TSA is trusted is the
        # auditor's call: no TSA roots are pinned here)
        stamp = status.timestamp_validity
        if stamp is not None and not (stamp.intact and stamp.valid):
            problems.append(
                Problem(
                    "pdf-bad-timestamp",
                    name,
                    "intact",
                    "broken",
                    f"{name}: the timestamp token of signature {label} does not verify",
                )
            )
    if coverage != SignatureCoverageLevel.ENTIRE_FILE:
        problems.append(
            Problem(
                "pdf-not-covered",
                name,
                "ENTIRE_FILE",
                coverage.name if coverage else "none",
                f"{name}: bytes were added after the last signature",
            )
        )
    return problems
