"""Types shared by the package layer: errors, problems and outcomes.

The package layer is content-agnostic: it signs, packs and verifies whatever files it is
given and imports nothing from auditpack except :mod:`auditpack.errors`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from auditpack.errors import AuditpackError, CheckFailed

__all__ = [
    "EXIT_FAILED",
    "EXIT_UNPINNED",
    "EXIT_VERIFIED",
    "Outcome",
    "PackageError",
    "Problem",
    "VerificationError",
]

Outcome = Literal["verified", "failed", "unpinned"]

# Exit codes for ``auditpack verify``: 0 and 1 follow errors.ExitCode; 4 is distinct from
# 2 (usage) and 3 (could not finish) so scripts can tell "intact but signer not pinned"
# from both success and failure.
EXIT_VERIFIED = 0
EXIT_FAILED = 1
EXIT_UNPINNED = 4


class PackageError(AuditpackError):
    """A package, key or PDF could not be built, read or signed (exit 3)."""


class VerificationError(CheckFailed):
    """Verification said no (exit 1); carries the problems found."""

    def __init__(
        self, message: str, *, problems: list[Problem] | None = None, hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.problems = list(problems or [])


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a package.

    ``code`` is a stable machine-readable identifier (e.g. ``hash-mismatch``, ``missing``,
    ``unlisted``, ``bad-signature``, ``unsafe-entry``); ``file`` is the path relative to the
    bag root (or the zip entry name) when the problem concerns one file.
    """

    code: str
    file: str | None
    expected: str | None
    found: str | None
    message: str

    def as_dict(self) -> dict[str, Any]:
        """The problem as a JSON-ready dict."""
        return asdict(self)
