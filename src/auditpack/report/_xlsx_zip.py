"""Write the final .xlsx: openpyxl's skeleton + streamed data rows, byte-for-byte reproducible.

openpyxl saves a small skeleton (every sheet with its header row, styles, charts, properties)
into memory. This module copies it entry by entry, in openpyxl's order, into the real file:
- each data sheet's `<row>`s are streamed in just before `</sheetData>` (no temp files, no
  second pass over the data);
- every zip entry gets the same fixed time (the generation time, as zip stores it: local
  fields, 2-second resolution, never before 1980), permissions and creator system, because
  zipfile otherwise stamps the wall clock and the host's conventions;
- `docProps/core.xml` is replaced by the caller's, since openpyxl's save stamps "now" as the
  modified time.
The file is written next to the target and renamed into place, so a failure never leaves a
half-written workbook behind.
"""

from __future__ import annotations

import os
import stat
import zipfile
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from io import BytesIO
from pathlib import Path

CORE_PROPERTIES = "docProps/core.xml"
_SHEET_DATA_END = b"</sheetData>"
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
# Streamed entries this large might pass 4 GiB; zip64 must be decided before writing them.
_ZIP64_CELLS = 5_000_000

RowStream = Callable[[], Iterator[bytes]]


def zip_time(moment: datetime) -> tuple[int, int, int, int, int, int]:
    """A zip entry time from a naive-UTC datetime (zip cannot go before 1980)."""
    stamp = (moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second)
    return max(stamp, _ZIP_EPOCH)


def _entry(name: str, when: tuple[int, int, int, int, int, int]) -> zipfile.ZipInfo:
    """A zip entry whose metadata depends on nothing but its name and `when`."""
    info = zipfile.ZipInfo(name, when)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.create_system = 3  # Unix, whatever the host
    info.external_attr = (stat.S_IFREG | 0o644) << 16  # a regular file, rw-r--r--
    return info


def _splice(out: zipfile.ZipFile, info: zipfile.ZipInfo, sheet: bytes, rows: RowStream,
            large: bool) -> None:
    """Write `sheet` with the streamed rows inserted before its `</sheetData>`."""
    head, found, tail = sheet.partition(_SHEET_DATA_END)
    if not found or _SHEET_DATA_END in tail:
        raise ValueError(f"{info.filename}: expected one </sheetData> in openpyxl's output")
    with out.open(info, "w", force_zip64=large) as dst:
        dst.write(head)
        for chunk in rows():
            dst.write(chunk)
        dst.write(found + tail)


def write_zip(skeleton: bytes, path: Path, *, rows: Mapping[str, tuple[RowStream, int]],
              core_xml: bytes, generated_at: datetime) -> int:
    """Write the workbook to `path`; `rows` maps a sheet's part name to (rows, cell count).

    Returns the size of the file written.
    """
    when = zip_time(generated_at)
    partial = path.with_name(f".{path.name}.partial")
    try:
        with zipfile.ZipFile(BytesIO(skeleton)) as src, open(partial, "wb") as fh, \
                zipfile.ZipFile(fh, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as out:
            for original in src.infolist():
                name = original.filename
                info = _entry(name, when)
                if name == CORE_PROPERTIES:
                    out.writestr(info, core_xml)
                elif name in rows:
                    stream, cells = rows[name]
                    _splice(out, info, src.read(name), stream, cells > _ZIP64_CELLS)
                else:
                    out.writestr(info, src.read(name))
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return path.stat().st_size
