"""Content-agnostic signing, packaging and verification.

This layer signs, packs and verifies whatever files it is given; it imports nothing from
auditpack except :mod:`auditpack.errors`. See ``verify`` for the trust rules and outcomes.
"""

from auditpack.package._zipsafe import ZipLimits
from auditpack.package.bag import build_bag, zip_bag
from auditpack.package.interface import (
    EXIT_FAILED,
    EXIT_UNPINNED,
    EXIT_VERIFIED,
    Outcome,
    PackageError,
    Problem,
    VerificationError,
)
from auditpack.package.keys import (
    fingerprint,
    generate_key,
    load_certificate,
    load_private_key,
    load_public_key,
    public_key_pem,
    self_signed_certificate,
    write_certificate,
    write_private_key,
    write_public_key,
)
from auditpack.package.verify import VerificationResult, normalise_fingerprint, verify_package

__all__ = [
    "EXIT_FAILED",
    "EXIT_UNPINNED",
    "EXIT_VERIFIED",
    "Outcome",
    "PackageError",
    "Problem",
    "VerificationError",
    "VerificationResult",
    "ZipLimits",
    "build_bag",
    "fingerprint",
    "generate_key",
    "load_certificate",
    "load_private_key",
    "load_public_key",
    "normalise_fingerprint",
    "public_key_pem",
    "self_signed_certificate",
    "verify_package",
    "write_certificate",
    "write_private_key",
    "write_public_key",
    "zip_bag",
]
