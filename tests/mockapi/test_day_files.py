"""Reading analytics day files: sort keys decoded alone, odd lines still served or refused."""

from __future__ import annotations

import gzip
import shutil
from datetime import date
from pathlib import Path

import pytest

from auditpack.errors import DatasetError
from auditpack.mockapi.dataset import load_dataset
from tests.mockapi.conftest import Tiny

DAY = date(2026, 10, 1)


def _with_users_file(tiny: Tiny, tmp_path: Path, lines: list[bytes]) -> Path:
    root = tmp_path / "ds"
    shutil.copytree(tiny.root, root)
    (root / "analytics" / "users" / f"{DAY}.jsonl.gz").write_bytes(
        gzip.compress(b"\n".join(lines) + b"\n"))
    return root


def test_users_keys_come_with_their_lines_even_where_only_the_stdlib_reads_them(
        tiny: Tiny, tmp_path: Path) -> None:
    lines = [b'{"user": {"email_address": "b@x.example"}, "chat_metrics": {"n": 1}}',
             b'{"chat_metrics": {"n": 123456789012345678901234567890, "ratio": NaN}, '
             b'"user": {"email_address": "a@x.example"}}',
             b"",
             b'{"no_user": true}']
    dataset = load_dataset(_with_users_file(tiny, tmp_path, lines))
    rows = dataset.read_day_users("users", DAY)
    assert [line for _, line in rows] == [lines[0], lines[1], lines[3]]
    assert [user for user, _ in rows] == [{"email_address": "b@x.example"},
                                          {"email_address": "a@x.example"}, None]


@pytest.mark.parametrize(("line", "problem"), [
    (b"[1, 2]", "line 2: expected a JSON object"),
    (b'{"user": ', "line 2: not valid JSON"),
])
def test_a_bad_users_line_is_refused_with_its_number(tiny: Tiny, tmp_path: Path, line: bytes,
                                                     problem: str) -> None:
    dataset = load_dataset(_with_users_file(tiny, tmp_path, [b'{"user": null}', line]))
    with pytest.raises(DatasetError, match=problem):
        dataset.read_day_users("users", DAY)
