"""The mock API's HTTP server: authentication, rate limits, faults, the request log.

:class:`MockApi` serves both APIs on 127.0.0.1 from a daemon thread (for tests and the demo);
:func:`serve_forever` is the blocking variant behind ``auditpack mock-api``.
"""

from __future__ import annotations

import hmac
import json
import secrets
import signal
import socket
import socketserver
import threading
import time
import traceback
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType, TracebackType
from typing import IO, Any
from urllib.parse import parse_qs, unquote, urlsplit

from auditpack.errors import DatasetError, UsageError
from auditpack.mockapi.analytics import AnalyticsApi, auth_failure_status
from auditpack.mockapi.compliance import CURSOR_PARAMS, ComplianceApi
from auditpack.mockapi.dataset import Dataset, load_dataset
from auditpack.mockapi.faults import Fault, FaultKind, FaultSpec
from auditpack.mockapi.protocol import JSON_TYPE, ApiError, Query, Response, not_found, rfc3339
from auditpack.mockapi.ratelimit import Admission, SlidingWindowLimiter

ANALYTICS_PREFIX = "/v1/organizations/analytics/"
COMPLIANCE_PREFIX = "/v1/compliance/"
MALFORMED_BODY = b'{"data": [{"id": "activity_<html>502 Bad Gateway</html>'
_BODY_FAULTS = (FaultKind.MALFORMED, FaultKind.TRUNCATE)
_TRANSPORT_FAULTS = (FaultKind.DROP, *_BODY_FAULTS)
_SERVER_ERRORS = {
    500: ("api_error", "Internal server error"),
    502: ("api_error", "Bad gateway"),
    503: ("api_error", "Service temporarily unavailable"),
    529: ("overloaded_error", "Overloaded"),
}


@dataclass(frozen=True)
class RequestRecord:
    """One request as the server saw it. ``status`` is None when the connection was dropped."""

    seq: int
    method: str
    path: str
    query: dict[str, list[str]]
    status: int | None
    api: str | None  # "analytics", "compliance", or None for any other path
    fault: str | None  # the FaultKind value applied, if any


@dataclass(frozen=True)
class Outcome:
    """What to write back for one request."""

    response: Response
    transport_fault: FaultKind | None  # DROP, MALFORMED or TRUNCATE: applied while writing


class MockApi:
    """Both APIs over one dataset at a fixed clock. Use as a context manager or start()/stop()."""

    def __init__(
        self,
        dataset: Path | Dataset,
        *,
        port: int = 0,
        now: datetime | None = None,
        rate_limit_analytics: int = 60,
        rate_limit_compliance: int = 600,
        rate_window_seconds: float = 60.0,
        faults: FaultSpec | None = None,
        request_log: Path | None = None,
        analytics_key: str | None = None,
        compliance_key: str | None = None,
    ) -> None:
        for name, limit in (
            ("rate_limit_analytics", rate_limit_analytics),
            ("rate_limit_compliance", rate_limit_compliance),
        ):
            if limit < 0:
                raise UsageError(f"{name} must be 0 (no limit) or more, got {limit}")
        if not rate_window_seconds > 0:
            raise UsageError(f"rate_window_seconds must be positive, got {rate_window_seconds}")
        if now is not None and now.tzinfo is None:
            raise UsageError("now must carry a time zone (e.g. 2026-10-05T06:00:00Z)")
        self.dataset = dataset if isinstance(dataset, Dataset) else load_dataset(dataset)
        meta = self.dataset.meta
        self.now = (now or meta.as_of).astimezone(UTC)
        self._port = port
        self._analytics = AnalyticsApi(self.dataset, self.now)
        self._compliance = ComplianceApi(self.dataset, self.now, meta.compliance_scopes)
        self._keys = {
            "analytics": analytics_key or meta.analytics_key,
            "compliance": compliance_key or meta.compliance_key,
        }
        self._limits = {
            "analytics": SlidingWindowLimiter(rate_limit_analytics, rate_window_seconds),
            "compliance": SlidingWindowLimiter(rate_limit_compliance, rate_window_seconds),
        }
        self._faults = faults or FaultSpec()
        self._request_log_path = request_log
        self._request_log: IO[str] | None = None
        self._records: list[RequestRecord] = []
        self._seq = 0
        self._lock = threading.Lock()
        self._id_prefix = secrets.token_hex(4)
        self._server: _HttpServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Bind 127.0.0.1 and serve on a daemon thread."""
        if self._server is not None:
            return
        try:
            self._server = _HttpServer(("127.0.0.1", self._port), self)
        except OSError as exc:
            raise UsageError(f"cannot listen on 127.0.0.1:{self._port}: {exc.strerror}") from None
        if self._request_log_path is not None:
            self._request_log = self._request_log_path.open("a", encoding="utf-8")
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="mock-api",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting, cut open keep-alive connections, and close the request log."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join()
        with self._lock:
            if self._request_log is not None:
                self._request_log.close()
                self._request_log = None

    def __enter__(self) -> MockApi:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the mock API is not running; call start() first")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def requests(self) -> list[RequestRecord]:
        """Every request served so far, in arrival order (a copy)."""
        with self._lock:
            return list(self._records)

    # -- one request -------------------------------------------------------------------------

    def dispatch(self, method: str, target: str, headers: Mapping[str, str]) -> Outcome:
        """Answer one request, independent of the socket; the handler writes the outcome.

        ``headers`` must have lower-case names.
        """
        with self._lock:
            self._seq += 1
            seq = self._seq
        parts = urlsplit(target)
        query: Query = parse_qs(parts.query, keep_blank_values=True)
        api = _api_of(parts.path)
        cursor_params = ("page",) if api == "analytics" else CURSOR_PARAMS
        fault = self._faults.decide(seq, api, any(name in query for name in cursor_params))
        headers_out = [("request-id", f"req_{self._id_prefix}{seq:010d}")]
        response, applied = self._serve(method, parts.path, api, query, headers, fault, headers_out)
        if applied and applied.kind in _BODY_FAULTS and response.status != 200:
            applied = None  # these corrupt a successful body only
        dropped = applied is not None and applied.kind is FaultKind.DROP
        kind = applied.kind if applied else None
        self._record(
            RequestRecord(
                seq,
                method,
                parts.path,
                query,
                None if dropped else response.status,
                api,
                kind.value if kind else None,
            )
        )
        response = Response(response.status, response.body, (*headers_out, *response.headers))
        return Outcome(response, kind if kind in _TRANSPORT_FAULTS else None)

    def _serve(
        self,
        method: str,
        path: str,
        api: str | None,
        query: Query,
        headers: Mapping[str, str],
        fault: Fault | None,
        headers_out: list[tuple[str, str]],
    ) -> tuple[Response, Fault | None]:
        """The response and the fault actually applied (none when refused before faults)."""
        try:
            route = self._admit(path, api, headers, headers_out)
        except ApiError as error:
            return error.response(), None
        if fault is not None:
            replaced = self._early_fault(fault, api or "")
            if replaced is not None:
                return replaced, fault
        try:
            if api == "analytics":
                return self._analytics.handle(method, route, query), fault
            segments = [unquote(s) for s in route.split("/")]
            version = headers.get("anthropic-version")
            return self._compliance.handle(method, segments, query, version), fault
        except ApiError as error:
            return error.response(), fault
        except DatasetError as error:  # a lazily read dataset file is bad: say which
            return ApiError(500, "api_error", error.one_line()).response(), fault
        except Exception as error:  # a bug in the mock: answer, and show it on stderr
            traceback.print_exc()
            return ApiError(500, "api_error", f"mock API bug: {error!r}").response(), fault

    def _admit(
        self,
        path: str,
        api: str | None,
        headers: Mapping[str, str],
        headers_out: list[tuple[str, str]],
    ) -> str:
        """Check the key and the budget; returns the route below the API's prefix."""
        if api is None:
            raise not_found(f"nothing is served at {path}")
        prefix = ANALYTICS_PREFIX if api == "analytics" else COMPLIANCE_PREFIX
        route = path.removeprefix(prefix)
        key = headers.get("x-api-key", "").encode()
        if not hmac.compare_digest(key, self._keys[api].encode()):
            raise _bad_key(api, unquote(route))
        admission = self._limits[api].admit()
        window = self._limits[api].window
        if api == "compliance":
            headers_out.extend(_budget_headers(admission))
        if not admission.allowed:
            raise ApiError(
                429,
                "rate_limit_error",
                f"rate limit of {admission.limit} requests per {window:g} seconds exceeded",
                (("retry-after", str(admission.retry_after)),),
            )
        return unquote(route) if api == "analytics" else route

    def _early_fault(self, fault: Fault, api: str) -> Response | None:
        """Faults that replace the response; SLOW delays it and lets it through."""
        if fault.kind is FaultKind.SERVER_ERROR:
            status = fault.status or 500
            error_type, message = _SERVER_ERRORS[status]
            return ApiError(status, error_type, message).response()
        if fault.kind is FaultKind.EXPIRE:
            status = 410 if api == "analytics" else 400
            message = "the page cursor has expired; restart from the first page"
            return ApiError(status, "invalid_request_error", message).response()
        if fault.kind is FaultKind.DROP:
            return Response(0, b"")
        if fault.kind is FaultKind.SLOW:
            time.sleep(self._faults.slow_seconds)
        return None

    def _record(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)
            if self._request_log is not None:
                entry = asdict(record)
                self._request_log.write(json.dumps(entry, separators=(",", ":")) + "\n")
                self._request_log.flush()


def serve_forever(
    dataset: Path | Dataset,
    *,
    port: int = 0,
    now: datetime | None = None,
    rate_limit_analytics: int = 60,
    rate_limit_compliance: int = 600,
    rate_window_seconds: float = 60.0,
    faults: FaultSpec | None = None,
    request_log: Path | None = None,
    analytics_key: str | None = None,
    compliance_key: str | None = None,
) -> None:
    """Serve until SIGINT or SIGTERM; prints the listening line once bound."""
    api = MockApi(
        dataset,
        port=port,
        now=now,
        rate_limit_analytics=rate_limit_analytics,
        rate_limit_compliance=rate_limit_compliance,
        rate_window_seconds=rate_window_seconds,
        faults=faults,
        request_log=request_log,
        analytics_key=analytics_key,
        compliance_key=compliance_key,
    )
    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    previous = {}
    if threading.current_thread() is threading.main_thread():  # signals reach the main thread only
        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        api.start()
        print(f"mock API listening on {api.url}", flush=True)
        while not stopping.wait(0.5):
            pass
    finally:
        api.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


# -- HTTP plumbing ----------------------------------------------------------------------------


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # stop() cuts keep-alive connections instead of waiting on them

    def __init__(self, address: tuple[str, int], api: MockApi) -> None:
        self.api = api
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host name, which can stall without DNS.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def track(self, connection: socket.socket, open_: bool) -> None:
        with self._connections_lock:
            if open_:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as two writes; do not delay the 2nd
    timeout = 300  # an idle keep-alive connection's thread ends eventually
    server: _HttpServer

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def do_GET(self) -> None:
        self._answer()

    def do_HEAD(self) -> None:
        self._answer(with_body=False)

    def do_POST(self) -> None:
        self._answer()

    def do_PUT(self) -> None:
        self._answer()

    def do_PATCH(self) -> None:
        self._answer()

    def do_DELETE(self) -> None:
        self._answer()

    def do_OPTIONS(self) -> None:
        self._answer()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the request log is the record."""

    def _answer(self, with_body: bool = True) -> None:
        self._discard_request_body()
        headers = {name.lower(): value for name, value in reversed(self.headers.items())}
        outcome = self.server.api.dispatch(self.command, self.path, headers)
        fault = outcome.transport_fault
        if fault is FaultKind.DROP:
            self.close_connection = True
            return
        response = outcome.response
        body = MALFORMED_BODY if fault is FaultKind.MALFORMED else response.body
        self.send_response(response.status)
        self.send_header("content-type", JSON_TYPE)
        self.send_header("content-length", str(len(body)))
        for name, value in response.headers:
            self.send_header(name, value)
        self.end_headers()
        if not with_body:
            return
        if fault is FaultKind.TRUNCATE:
            self.wfile.write(body[: len(body) // 2])
            self.close_connection = True
            return
        self.wfile.write(body)

    def _discard_request_body(self) -> None:
        if self.headers.get("transfer-encoding"):
            self.close_connection = True  # not worth decoding chunked bodies; reset instead
            return
        length = int(self.headers.get("content-length") or 0)
        if length > 0:
            self.rfile.read(length)


def _api_of(path: str) -> str | None:
    if path.startswith(ANALYTICS_PREFIX):
        return "analytics"
    if path.startswith(COMPLIANCE_PREFIX):
        return "compliance"
    return None


def _budget_headers(admission: Admission) -> list[tuple[str, str]]:
    """The documented compliance budget headers; none when the budget is lifted."""
    if admission.limit == 0:
        return []
    reset = datetime.now(UTC) + timedelta(seconds=admission.reset_in)
    return [
        ("anthropic-ratelimit-requests-limit", str(admission.limit)),
        ("anthropic-ratelimit-requests-remaining", str(admission.remaining)),
        ("anthropic-ratelimit-requests-reset", rfc3339(reset.replace(microsecond=0))),
    ]


def _bad_key(api: str, route: str) -> ApiError:
    """Compliance says 401; analytics says 401 on usage/cost and 404 on engagement endpoints."""
    if api == "compliance":
        message = "The API key provided is invalid or has been revoked."
        return ApiError(401, "authentication_error", message)
    if auth_failure_status(route) == 401:
        return ApiError(401, "authentication_error", "invalid or missing analytics API key")
    return not_found("not found (or the analytics API key is invalid or missing)")
