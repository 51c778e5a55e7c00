"""Wire-level pieces shared by both mock APIs: responses, errors, query parameters, timestamps."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import orjson

Query = dict[str, list[str]]
"""Query parameters as parsed from the URL: every name maps to all of its values, in order."""

JSON_TYPE = "application/json"


@dataclass(frozen=True)
class Response:
    """A complete HTTP response before faults are applied."""

    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


class ApiError(Exception):
    """An error response in the documented ``{"type": "error", "error": {...}}`` shape."""

    def __init__(
        self,
        status: int,
        error_type: str,
        message: str,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message
        self.headers = headers

    def response(self) -> Response:
        return Response(self.status, error_body(self.error_type, self.message), self.headers)


def invalid(message: str) -> ApiError:
    """The 400 both APIs use for a parameter they cannot accept."""
    return ApiError(400, "invalid_request_error", message)


def not_found(message: str) -> ApiError:
    return ApiError(404, "not_found_error", message)


def method_not_allowed(method: str) -> ApiError:
    return ApiError(405, "invalid_request_error", f"{method} is not served here; use GET")


def error_body(error_type: str, message: str) -> bytes:
    return dumps({"type": "error", "error": {"type": error_type, "message": message}})


def dumps(value: Any) -> bytes:
    """Compact JSON, key order as loaded: orjson, or the stdlib encoder for what orjson
    refuses (integers beyond 64 bits)."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def json_array(items: list[bytes]) -> bytes:
    """Pre-serialized JSON values joined into an array, without decoding them."""
    return b"[" + b",".join(items) + b"]"


def json_object(members: list[tuple[str, bytes]]) -> bytes:
    """An object from already-serialized member values, in the order given."""
    return b"{" + b",".join(dumps(name) + b":" + value for name, value in members) + b"}"


def json_bool(value: bool) -> bytes:
    return b"true" if value else b"false"


def one(query: Query, name: str) -> str | None:
    """The value of a single-valued parameter; when repeated, the last one wins."""
    values = query.get(name)
    return values[-1] if values else None


def many(query: Query, *names: str) -> list[str]:
    """Every value of one or more list parameters (``name[]=a&name[]=b``), merged."""
    return [value for name in names for value in query.get(name, [])]


def parse_limit(query: Query, default: int, maximum: int) -> int:
    raw = one(query, "limit")
    if raw is None:
        return default
    try:
        limit = int(raw)
    except ValueError:
        raise invalid(f"limit: expected an integer, got {raw!r}") from None
    if not 1 <= limit <= maximum:
        raise invalid(f"limit: must be between 1 and {maximum}, got {limit}")
    return limit


_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})")


def parse_day(name: str, raw: str | None) -> date:
    if raw is None:
        raise invalid(f"{name}: required")
    try:
        if _DAY.fullmatch(raw):
            return date.fromisoformat(raw)
    except ValueError:
        pass
    raise invalid(f"{name}: expected a date YYYY-MM-DD, got {raw!r}")


def parse_instant(name: str, raw: str) -> datetime:
    """An RFC 3339 timestamp with a time zone; a bare date or a naive time is refused."""
    text = raw.upper()
    try:
        if _INSTANT.fullmatch(text):
            return datetime.fromisoformat(text).astimezone(UTC)
    except ValueError:
        pass
    raise invalid(f"{name}: expected an RFC 3339 timestamp with a time zone, got {raw!r}")


def rfc3339(value: datetime) -> str:
    """UTC with a ``Z`` suffix, microseconds only when present."""
    text = value.astimezone(UTC).isoformat()
    return text.removesuffix("+00:00") + "Z"
