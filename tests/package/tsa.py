"""A local RFC 3161 timestamp authority on loopback, for PAdES B-T tests (never the internet).

pyHanko's DummyTimeStamper does the RFC 3161 work; this wraps it in an HTTP server with a
self-made CA and TSA certificate (RSA: the dummy TSA signs with PKCS#1 v1.5 only).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from asn1crypto import keys as asn1_keys  # type: ignore[import-untyped]
from asn1crypto import tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID
from pyhanko.sign.timestamps import DummyTimeStamper

from tests.package.certs import issue

_DER = serialization.Encoding.DER


def _cert(subject: str, key: rsa.RSAPrivateKey, issuer: x509.Certificate | None,
          issuer_key: rsa.RSAPrivateKey, start: datetime) -> x509.Certificate:
    usage = () if issuer is None else (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]),)
    return issue(subject, key, issuer, issuer_key, start=start, days=3650, extensions=usage)


@dataclass
class LocalTsa:
    """A running TSA: ``url`` to post requests to, ``root`` to trust, ``requests`` served."""

    url: str
    root: asn1_x509.Certificate
    requests: list[bytes]


def make_timestamper(start: datetime, fixed: datetime | None) -> tuple[DummyTimeStamper, Any]:
    """A DummyTimeStamper with a fresh CA → TSA chain valid from ``start``."""
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    tsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca = _cert("auditpack test TSA root", ca_key, None, ca_key, start)
    tsa = _cert("auditpack test TSA", tsa_key, ca, ca_key, start)
    to_asn1 = asn1_x509.Certificate.load
    stamper = DummyTimeStamper(
        tsa_cert=to_asn1(tsa.public_bytes(_DER)),
        tsa_key=asn1_keys.PrivateKeyInfo.load(
            tsa_key.private_bytes(
                _DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        ),
        certs_to_embed=[to_asn1(ca.public_bytes(_DER))],
        fixed_dt=fixed,
    )
    return stamper, to_asn1(ca.public_bytes(_DER))


@contextmanager
def local_tsa(fixed: datetime | None = None) -> Iterator[LocalTsa]:
    """Serve a TSA on 127.0.0.1 (any free port) for the duration of the block."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    stamper, root = make_timestamper(start, fixed)
    served: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            served.append(body)
            answer = stamper.request_tsa_response(tsp.TimeStampReq.load(body)).dump()
            self.send_response(200)
            self.send_header("Content-Type", "application/timestamp-reply")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: object) -> None:
            pass  # keep test output clean

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield LocalTsa(f"http://127.0.0.1:{server.server_address[1]}/tsa", root, served)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
