"""Helpers for the access-review tests: a campaign over a copy of a collected store, and
reviewers who fill in their workbooks the way a person would (openpyxl, normal mode)."""

from __future__ import annotations

import io
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from openpyxl import load_workbook

from auditpack.cli import main
from tests.evidence.conftest import CollectedOrg, sample_config

Decide = Callable[[dict[str, Any]], tuple[str | None, str | None]]


def copy_store(org: CollectedOrg, work: Path) -> tuple[Path, Path]:
    """A private copy of the org's store and a config for it (key under work/keys)."""
    store = work / "store"
    shutil.copytree(org.store, store)
    return store, sample_config(org, work, store)


def fill(path: Path, decide: Decide, out: Path | None = None) -> Path:
    """Open a reviewer workbook, let `decide` choose per row, save (to `out` or in place)."""
    wb = load_workbook(path)
    ws = wb["Review"]
    header = [c.value for c in ws[1]]
    d_col, j_col = header.index("Decision") + 1, header.index("Justification") + 1
    for r in range(2, ws.max_row + 1):
        row = {h: ws.cell(r, i + 1).value for i, h in enumerate(header)}
        decision, reason = decide(row)
        ws.cell(r, d_col).value = decision
        ws.cell(r, j_col).value = reason
    target = out or path
    wb.save(target)
    return target


def keep_all(_: dict[str, Any]) -> tuple[str | None, str | None]:
    return "Keep", None


def edit(path: Path, out: Path, change: Callable[[Any], None]) -> Path:
    """Save a copy of a workbook after `change(workbook)`."""
    wb = load_workbook(path)
    change(wb)
    wb.save(out)
    return out


def replace_part(path: Path, out: Path, part: str, data: bytes) -> Path:
    """A copy of an XLSX with one zip part replaced (or added)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(buffer, "w",
                                                         zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            if info.filename != part:
                dst.writestr(info, src.read(info))
        dst.writestr(part, data)
    out.write_bytes(buffer.getvalue())
    return out


def review(cfg: Path, *args: str) -> int:
    return main(["review", *args, "--config", str(cfg)])
