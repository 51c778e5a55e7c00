"""Opaque page tokens bound to the query that produced them.

A token is urlsafe base64 of ``{"o": offset, "q": fingerprint}``. The fingerprint covers the
route and every parameter except ``page`` and ``limit``, so a client may change the page size
mid-walk but not the filters or dates.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json

from auditpack.mockapi.protocol import ApiError, Query, invalid

_UNBOUND = ("page", "limit")


def fingerprint(route: str, query: Query) -> str:
    bound = sorted((name, sorted(values)) for name, values in query.items() if name not in _UNBOUND)
    return hashlib.sha256(json.dumps([route, bound]).encode()).hexdigest()[:16]


def encode_page(offset: int, query_fingerprint: str) -> str:
    raw = json.dumps({"o": offset, "q": query_fingerprint}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_page(token: str, query_fingerprint: str) -> int:
    """The offset a token points at; 400 when it is not ours or belongs to another query."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        doc = json.loads(raw)
        offset, bound_to = doc["o"], doc["q"]
    except (binascii.Error, ValueError, TypeError, KeyError):
        raise _bad(token, "is not a valid page cursor") from None
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise _bad(token, "is not a valid page cursor")
    if bound_to != query_fingerprint:
        raise _bad(token, "was issued for a different query; restart from the first page")
    return offset


def _bad(token: str, reason: str) -> ApiError:
    shown = token if len(token) <= 64 else token[:61] + "..."
    return invalid(f"page: cursor {shown!r} {reason}")
