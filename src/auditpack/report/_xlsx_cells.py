"""Fast, typed, inert worksheet rows: Python values → SpreadsheetML `<row>` XML.

openpyxl writes about 5,000 rows of 8 cells a second (one lxml element per cell); a large
org's workbook holds hundreds of thousands of rows, so data rows are encoded here as plain
strings (over ten times faster) and spliced into the sheets openpyxl lays out (`_xlsx_zip`).

Every rule that makes the workbook safe and typed lives in this module:
- text is always an inline string (`t="inlineStr"`), never a formula or an error value, so a
  spreadsheet program cannot evaluate API text; text that *looks* like a formula (`=`, `+`, `-`,
  `@`, tab, carriage return) also gets a `quotePrefix` style, so editing the cell in Excel
  keeps it text;
- characters XML cannot hold are written with Excel's own `_xHHHH_` escape, and a literal
  `_xHHHH_` in the data is itself escaped, so what Excel shows is what the API said;
- dates and datetimes are serial numbers with a date/datetime number format (datetimes as
  naive UTC); ints, floats and Decimals are numbers; non-finite numbers and integers beyond
  Excel's 15 significant digits are written as text rather than silently changed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

import orjson
from openpyxl.utils import get_column_letter

# Excel's limit for one cell's text, in UTF-16 code units.
MAX_CELL_TEXT = 32_767
TRUNCATION_MARK = "… [truncated]"
# Text starting with these is evaluated by spreadsheet programs when typed or imported (OWASP
# "CSV injection"); inline strings are never evaluated, quotePrefix keeps them text on edit.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
# Integers beyond this lose digits in Excel (15 significant digits): written as text instead.
MAX_EXACT_INT = 10**15
# 1899-12-30 is serial 0 in Excel's 1900 date system (for days after 1900-02-28).
_EPOCH_ORDINAL = date(1899, 12, 30).toordinal()
_FIRST_SAFE_ORDINAL = date(1900, 3, 1).toordinal()
_FIRST_SAFE_SERIAL = _FIRST_SAFE_ORDINAL - _EPOCH_ORDINAL
_UNIX_EPOCH_SERIAL = date(1970, 1, 1).toordinal() - _EPOCH_ORDINAL  # 25569
_ROWS_PER_CHUNK = 2_000

# One pass finds everything that needs escaping; most cells match nothing (fast path).
_SPECIAL = re.compile(
    "[&<>\r\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]|_x[0-9A-Fa-f]{4}_")
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"}


class Label(str):
    """A text cell written in the heading style (sub-headings inside the Summary sheet)."""

    __slots__ = ()


@dataclass(frozen=True)
class CellStyles:
    """Style ids (indexes of `cellXfs`) registered in the workbook by openpyxl."""

    date: int
    datetime: int
    quoted_text: int
    label: int


def _escape_match(match: re.Match[str]) -> str:
    """The XML-safe form of one special character (or of a literal `_xHHHH_`)."""
    text = match.group()
    if len(text) > 1:  # a literal "_x0041_" would be decoded by Excel: escape its underscore
        return "_x005F" + text
    if text in _ENTITIES:
        return _ENTITIES[text]
    if "\ud800" <= text <= "\udfff":  # a lone surrogate cannot be encoded at all
        return "\ufffd"
    return f"_x{ord(text):04X}_"


def _utf16_len(text: str) -> int:
    """Length as Excel counts it (characters outside the BMP count twice)."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def clip_text(text: str) -> str:
    """Text that fits one cell, visibly marked when it had to be cut."""
    if len(text) <= MAX_CELL_TEXT // 2 or _utf16_len(text) <= MAX_CELL_TEXT:
        return text
    budget = MAX_CELL_TEXT - len(TRUNCATION_MARK)
    out: list[str] = []
    for ch in text:
        budget -= 2 if ord(ch) > 0xFFFF else 1
        if budget < 0:
            break
        out.append(ch)
    return "".join(out) + TRUNCATION_MARK


def xml_text(text: str) -> str:
    """Escape text for a `<t>` element (see the module docstring)."""
    text = clip_text(text)
    if _SPECIAL.search(text) is None:
        return text
    return _SPECIAL.sub(_escape_match, text)


def excel_serial(moment: datetime | date) -> float | int | None:
    """Excel's serial number for a date or a naive datetime; None before 1900-03-01."""
    ordinal = moment.toordinal()
    if ordinal < _FIRST_SAFE_ORDINAL:  # Excel's 1900 leap-year bug makes earlier days ambiguous
        return None
    days = ordinal - _EPOCH_ORDINAL
    if not isinstance(moment, datetime):
        return days
    seconds = moment.hour * 3600 + moment.minute * 60 + moment.second
    return days + (seconds + moment.microsecond / 1e6) / 86400


def naive_utc(moment: datetime) -> datetime:
    """An aware datetime as naive UTC (Excel has no time zones); naive ones are taken as UTC."""
    if moment.utcoffset() is None:
        return moment.replace(tzinfo=None)
    return moment.astimezone(UTC).replace(tzinfo=None)


def plain_text(value: Any) -> str:
    """Any value as display text (lists and dicts as canonical JSON)."""
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, (list, tuple, dict, set, frozenset)):
        data = sorted(value, key=str) if isinstance(value, (set, frozenset)) else value
        return orjson.dumps(data, default=str, option=orjson.OPT_SORT_KEYS).decode()
    if isinstance(value, datetime):
        return naive_utc(value).isoformat(sep=" ")
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


Encoder = Callable[[str, Any], str]


class RowWriter:
    """Encodes rows of Python values as `<row>` XML with the workbook's style ids."""

    def __init__(self, styles: CellStyles) -> None:
        self.styles = styles
        self._quoted = f' s="{styles.quoted_text}"'
        self._by_type: dict[type, Encoder] = {
            str: self.text, Label: self.label, int: self.integer, float: self.number,
            bool: self.boolean, Decimal: self.decimal, date: self.day, datetime: self.moment,
        }

    # -- one cell per value type -------------------------------------------------------------

    def text(self, ref: str, value: str) -> str:
        """An inline string; formula-looking text also gets the quotePrefix style."""
        # Fast path (nearly every cell): printable, nothing to escape, short enough. C-level
        # checks cost a fifth of the escaping regex's search.
        if (value.isprintable() and "&" not in value and "<" not in value and ">" not in value
                and "_x" not in value and len(value) <= MAX_CELL_TEXT // 2):
            body = value
        else:
            body = xml_text(value)
        style = self._quoted if value.startswith(FORMULA_PREFIXES) else ""
        space = ' xml:space="preserve"' if value.strip() != value else ""
        return f'<c r="{ref}"{style} t="inlineStr"><is><t{space}>{body}</t></is></c>'

    def label(self, ref: str, value: str) -> str:
        """A heading-styled inline string."""
        return (f'<c r="{ref}" s="{self.styles.label}" t="inlineStr"><is><t>'
                f"{xml_text(str(value))}</t></is></c>")

    def integer(self, ref: str, value: int) -> str:
        """A number, or text when Excel would round it."""
        if -MAX_EXACT_INT < value < MAX_EXACT_INT:
            return f'<c r="{ref}"><v>{value}</v></c>'
        return self.text(ref, str(value))

    def number(self, ref: str, value: float) -> str:
        """A number; NaN and infinities (which Excel cannot store) as text."""
        if math.isfinite(value):
            return f'<c r="{ref}"><v>{value!r}</v></c>'
        return self.text(ref, str(value))

    def decimal(self, ref: str, value: Decimal) -> str:
        """A Decimal as a number (its exact digits), non-finite ones as text."""
        if value.is_finite():
            return f'<c r="{ref}"><v>{value}</v></c>'
        return self.text(ref, str(value))

    def boolean(self, ref: str, value: bool) -> str:
        """TRUE / FALSE."""
        return f'<c r="{ref}" t="b"><v>{int(value)}</v></c>'

    def day(self, ref: str, value: date) -> str:
        """A date cell (serial number with the date format)."""
        serial = excel_serial(value)
        if serial is None:
            return self.text(ref, value.isoformat())
        return f'<c r="{ref}" s="{self.styles.date}"><v>{serial}</v></c>'

    def moment(self, ref: str, value: datetime) -> str:
        """A datetime cell in naive UTC with the datetime format."""
        if value.utcoffset() is not None:
            # Aware: the POSIX timestamp is UTC already (5× cheaper than converting).
            serial = value.timestamp() / 86400 + _UNIX_EPOCH_SERIAL
            if serial >= _FIRST_SAFE_SERIAL:
                return f'<c r="{ref}" s="{self.styles.datetime}"><v>{serial!r}</v></c>'
        else:
            naive = excel_serial(value.replace(tzinfo=None))
            if naive is not None:
                return f'<c r="{ref}" s="{self.styles.datetime}"><v>{naive!r}</v></c>'
        return self.text(ref, naive_utc(value).isoformat(sep=" "))

    def other(self, ref: str, value: Any) -> str:
        """Subclasses (StrEnum, IntEnum, …) by their base type, anything else as text."""
        if isinstance(value, Enum):
            value = value.value
            if value is None:
                return ""
        for kind in (bool, int, float, Decimal, datetime, date, str):
            if isinstance(value, kind):
                return self._by_type[kind](ref, kind(value) if kind is str else value)
        return self.text(ref, plain_text(value))

    # -- rows --------------------------------------------------------------------------------

    def encode(self, rows: Iterable[Sequence[Any]], *, first_row: int,
               columns: int) -> Iterator[bytes]:
        """UTF-8 `<row>` elements for `rows`, numbered from `first_row`, in chunks."""
        letters = [get_column_letter(i) for i in range(1, columns + 1)]
        by_type = self._by_type
        other = self.other
        out: list[str] = []
        number = first_row
        for row in rows:
            digits = str(number)
            out.append(f'<row r="{digits}">')
            # A comprehension rather than a loop of appends: this is the hottest line.
            out += [by_type.get(type(value), other)(letter + digits, value)
                    for letter, value in zip(letters, row, strict=False) if value is not None]
            out.append("</row>")
            number += 1
            if number % _ROWS_PER_CHUNK == 0:
                yield "".join(out).encode()
                out.clear()
        if out:
            yield "".join(out).encode()
