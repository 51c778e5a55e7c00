"""One HTTP client per API: pacing, retries, timeouts and error mapping.

Every request goes through `ApiClient.get`, which
- waits for the pacer so the organization's request budget is never exceeded,
- retries 429 (honouring `retry-after`), 5xx (unless `x-should-retry: false`), dropped
  connections, timeouts and unreadable bodies with exponential backoff and full jitter,
- turns 401/403/404 into an `AuthError` that names the key (never its value) and the scope,
- returns the body verbatim as a `RawResponse` together with its parsed JSON.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
from pydantic import SecretStr

from auditpack.errors import (
    AuthError,
    BadRequest,
    CursorExpired,
    NotFound,
    ResponseError,
    SourceError,
    UnavailableError,
)
from auditpack.records import Api, Params, RawResponse
from auditpack.sources.models import BodyNotJson

ANTHROPIC_VERSION = "2023-06-01"
USER_AGENT = "auditpack/0.1 (+metadata-only evidence collector)"
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504, 529})
_MAX_BACKOFF_SECONDS = 60.0


class Pacer:
    """Spaces requests evenly so a per-minute budget is never exceeded.

    The budget is shared by every thread using one API, as the organization's limit is.
    A margin below the documented rate absorbs clock and network jitter.
    """

    def __init__(self, per_minute: int, *, margin: float = 0.97,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.interval = 0.0 if per_minute <= 0 else 60.0 / (per_minute * margin)
        self._next = 0.0
        self._lock = threading.Lock()
        self._clock = clock
        self._sleep = sleep

    def wait(self) -> None:
        """Block until the next request may be sent."""
        if self.interval == 0.0:
            return
        with self._lock:
            now = self._clock()
            slot = max(now, self._next)
            self._next = slot + self.interval
        if slot > now:
            self._sleep(slot - now)

    def hold(self, seconds: float) -> None:
        """Push the next slot back, after the server said to wait."""
        with self._lock:
            self._next = max(self._next, self._clock() + seconds)


_SCOPES = {
    Api.ANALYTICS: "read:analytics",
}


def _needed_scope(api: Api, path: str) -> str:
    if api is Api.ANALYTICS:
        return _SCOPES[api]
    if path.endswith("/activities"):
        return "read:compliance_activities"
    if path.endswith("/users") or path.endswith("/members"):
        return "read:compliance_user_data"
    return "read:compliance_org_data"


class ApiClient:
    """A paced, retrying client for one API with one key."""

    def __init__(self, api: Api, base_url: str, key: SecretStr, *, key_name: str,
                 per_minute: int, timeout: float = 30.0, max_retries: int = 6,
                 sleep: Callable[[float], None] = time.sleep,
                 rng: random.Random | None = None) -> None:
        self.api = api
        self.key_name = key_name
        self.max_retries = max_retries
        self.requests_sent = 0
        self.retries = 0
        self._key = key
        self._sleep = sleep
        self._rng = rng or random.Random()
        self.pacer = Pacer(per_minute, sleep=sleep)
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            timeout=httpx.Timeout(timeout),
            headers={"user-agent": USER_AGENT, "anthropic-version": ANTHROPIC_VERSION,
                     "accept": "application/json"},
            follow_redirects=False,
        )

    def close(self) -> None:
        """Release the connection pool."""
        self._http.close()

    def get(self, endpoint: str, path: str, params: Params,
            parse: Callable[[bytes], Any] = orjson.loads) -> tuple[RawResponse, Any]:
        """Fetch one page; return it verbatim with its body parsed by `parse` (JSON by
        default), which raises orjson.JSONDecodeError or BodyNotJson for a malformed body.

        Raises AuthError, BadRequest/CursorExpired, ResponseError or UnavailableError.
        """
        last_problem = "no attempt made"
        failure: type[SourceError] = UnavailableError
        for attempt in range(self.max_retries + 1):
            if attempt:
                self.retries += 1
            self.pacer.wait()
            try:
                response, body = self._send(path, params)
            except httpx.TimeoutException:
                last_problem, failure = "the request timed out", UnavailableError
                self._backoff(attempt, None)
                continue
            except (httpx.TransportError, httpx.DecodingError) as exc:
                last_problem = f"the connection failed ({type(exc).__name__})"
                failure = UnavailableError
                self._backoff(attempt, None)
                continue
            status = response.status_code
            if status == 200:
                try:
                    parsed = parse(body)
                except (orjson.JSONDecodeError, BodyNotJson):
                    last_problem = "the response body is not valid JSON"
                    failure = ResponseError
                    self._backoff(attempt, None)
                    continue
                return self._raw(endpoint, path, params, response, body), parsed
            if status in _RETRY_STATUSES and response.headers.get("x-should-retry") != "false":
                last_problem, failure = f"HTTP {status}", UnavailableError
                self._backoff(attempt, _retry_after(response))
                continue
            self._raise_for(status, path, body)
        raise failure(
            f"{self.api.value} API {path}: giving up after {self.max_retries + 1} attempts: "
            f"{last_problem}",
            hint="check the base URL and the network, then run collect again; it resumes",
        )

    def _send(self, path: str, params: Params) -> tuple[httpx.Response, bytes]:
        """The response (headers, status) and its body.

        The body is read off the stream rather than with `read()`: httpx responses sit in
        reference cycles, and a body stored on one lived until the cycle collector's next
        full pass, so that feed pages of megabytes piled up by the hundred.
        """
        self.requests_sent += 1
        headers = {"x-api-key": self._key.get_secret_value()}
        with self._http.stream("GET", path, params=list(params), headers=headers) as response:
            body = b"".join(response.iter_bytes())
        return response, body

    def _raw(self, endpoint: str, path: str, params: Params, response: httpx.Response,
             body: bytes) -> RawResponse:
        return RawResponse(
            api=self.api, endpoint=endpoint, path=path, params=params,
            status=response.status_code, body=body,
            fetched_at=datetime.now(UTC), request_id=response.headers.get("request-id"),
        )

    def _backoff(self, attempt: int, retry_after: float | None) -> None:
        if attempt >= self.max_retries:
            return
        if retry_after is not None:
            delay = retry_after
            self.pacer.hold(delay)
        else:
            # Full jitter: spreads retries of parallel workers instead of synchronising them.
            delay = self._rng.uniform(0, min(_MAX_BACKOFF_SECONDS, 0.25 * 2**attempt))
        self._sleep(delay)

    def _raise_for(self, status: int, path: str, body: bytes) -> None:
        message = _error_message(body)
        scope = _needed_scope(self.api, path)
        if status in (401, 403) or (status == 404 and self.api is Api.ANALYTICS):
            what = {401: "was refused as missing, invalid or revoked",
                    403: "lacks a required scope",
                    404: "was refused (the Analytics API answers 404 for a missing, invalid "
                         "or under-scoped key)"}[status]
            raise AuthError(
                f"{self.api.value} API {path}: HTTP {status}: the key in {self.key_name} {what}",
                hint=f"it needs scope {scope}; also check the base URL"
                + (f"; server said: {message}" if message and status == 403 else ""),
            )
        if status == 410:
            raise CursorExpired(f"{self.api.value} API {path}: cursor expired", status=410)
        if status == 400:
            if any(word in message.lower() for word in ("cursor", "page", "after_id", "before_id")):
                raise CursorExpired(f"{self.api.value} API {path}: {message}")
            raise BadRequest(f"{self.api.value} API {path}: HTTP 400: {message}")
        if status == 404:
            raise NotFound(
                f"{self.api.value} API {path}: HTTP 404: {message or 'not found'}",
                hint="check the base URL, and that the key's organization holds this resource",
            )
        raise ResponseError(f"{self.api.value} API {path}: unexpected HTTP {status}: {message}")


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _error_message(body: bytes) -> str:
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body[:200].decode("utf-8", "replace").strip()
    if isinstance(parsed, dict):
        error = parsed.get("error")
        if isinstance(error, dict):
            return str(error.get("message", ""))[:300]
    return ""
