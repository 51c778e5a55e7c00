"""One exception tree for auditpack.

Every error carries a one-line message, an optional hint a user can act on, and the exit code
the command line maps it to::

    AuditpackError                    exit 3 unless a subclass says otherwise
    ├── UsageError                    2  bad arguments or configuration values
    ├── ConfigError                   3  configuration file or secrets unreadable or invalid
    ├── SourceError                   3  an upstream API could not be read
    │   ├── AuthError                 3  401/403/404 on a key: names the key and the scope
    │   ├── BadRequest                3  400: refused as invalid (CursorExpired: 410 or bad cursor)
    │   ├── NotFound                  3  404 from the Compliance API
    │   ├── ResponseError             3  malformed, truncated or unexpected response body
    │   └── UnavailableError          3  network failure or retries exhausted
    ├── StoreError                    3  the local evidence store is missing or corrupt
    ├── DatasetError                  2  a mock-API dataset directory is invalid
    └── CheckFailed                   1  a check said no (verification failed, gate not met)

Messages never contain secrets: API keys are only ever referred to by name.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes, as documented in the README."""

    OK = 0
    CHECK_FAILED = 1
    USAGE = 2
    COULD_NOT_FINISH = 3


class AuditpackError(Exception):
    """Base of every error auditpack raises on purpose."""

    exit_code: ExitCode = ExitCode.COULD_NOT_FINISH

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        """The message and hint as one line, for the command line."""
        text = " ".join(self.message.split())
        if self.hint:
            text += f" ({' '.join(self.hint.split())})"
        return text


class UsageError(AuditpackError):
    """Arguments or configuration values that cannot be used."""

    exit_code = ExitCode.USAGE


class ConfigError(AuditpackError):
    """The configuration file or a secret could not be read."""


class SourceError(AuditpackError):
    """An upstream API could not be read."""


class AuthError(SourceError):
    """A key was refused: missing, wrong, or lacking a scope."""


class ResponseError(SourceError):
    """A response body was malformed, truncated or not what the API documents."""


class UnavailableError(SourceError):
    """The API could not be reached, or kept failing after every retry."""


class BadRequest(SourceError):
    """The API answered 400: the request was refused as invalid (not retried)."""

    def __init__(self, message: str, *, status: int = 400, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status


class CursorExpired(BadRequest):
    """A pagination cursor is no longer valid (410, or a 400 about the cursor)."""


class NotFound(SourceError):
    """The Compliance API answered 404 for a resource (unknown org, settings not enabled)."""


class StoreError(AuditpackError):
    """The local evidence store is missing, locked or corrupt."""


class DatasetError(AuditpackError):
    """A mock-API dataset directory is missing files or malformed."""

    exit_code = ExitCode.USAGE


class CheckFailed(AuditpackError):
    """A check said no: verification failed or a gate was not met."""

    exit_code = ExitCode.CHECK_FAILED
