"""Fixtures for the package layer: a signing key and a small signed bag."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pypdf import PdfWriter

from auditpack.package import build_bag, write_public_key

GENERATED_AT = datetime(2026, 11, 20, 12, 30, 15, tzinfo=UTC)
PAYLOAD: dict[str, bytes] = {
    "README.txt": b"how to verify\n",
    "package.json": b'{"a": 1}\n' * 50,
    "report.pdf": b"%PDF-1.7 not really\n",
    "evidence/EV01-users.json": b"[1, 2, 3]\n",
    "raw/index.jsonl": b'{"url": "x"}\n',
    "raw/with space.json": b"{}\n",
}


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(bytes(range(32)))


@pytest.fixture
def other_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))


@pytest.fixture
def pub(tmp_path: Path, key: Ed25519PrivateKey) -> Path:
    path = tmp_path / "signer.pub.pem"
    write_public_key(key, path)
    return path


def make_bag(out: Path, key: Ed25519PrivateKey, name: str = "auditpack-acme-2026Q3-abc") -> Path:
    return build_bag(
        PAYLOAD,
        out,
        name=name,
        info={"Source-Organization": "Acme", "External-Identifier": "abc"},
        signing_key=key,
        generated_at=GENERATED_AT,
    )


@pytest.fixture
def bag(tmp_path: Path, key: Ed25519PrivateKey) -> Path:
    return make_bag(tmp_path / "out", key)


@pytest.fixture
def plain_pdf(tmp_path: Path) -> Path:
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    buf = io.BytesIO()
    writer.write(buf)
    path = tmp_path / "report.pdf"
    path.write_bytes(buf.getvalue())
    return path
