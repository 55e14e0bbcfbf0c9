"""Small pure helpers for cell values and addresses, shared by the reader and validation."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

from sync.model import CellValue

# Excel counts days from 1899-12-30 (it keeps Lotus's phantom 29 February 1900).
EXCEL_EPOCH = date(1899, 12, 30)
# Serial numbers this wide cover 1982..2119: a bare number outside it is not a date.
SERIAL_RANGE = (30000, 80000)
DATE_FORMATS = ("%d.%m.%Y", "%d.%m.%y", "%Y-%m-%d")


def column_letter(col: int) -> str:
    """1-based column index -> letters.

    >>> column_letter(1), column_letter(26), column_letter(27), column_letter(703)
    ('A', 'Z', 'AA', 'AAA')
    """
    if col < 1:
        raise ValueError(f"column must be 1 or more, got {col}")
    letters = ""
    while col:
        col, rest = divmod(col - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def column_index(letters: str) -> int:
    """Column letters -> 1-based index (either case); the inverse of column_letter.

    >>> column_index("A"), column_index("ab"), column_index("AAA")
    (1, 28, 703)
    """
    n = 0
    for ch in letters.upper():
        n = n * 26 + ord(ch) - 64
    return n


_A1 = re.compile(r"\$?([A-Za-z]{1,3})\$?([0-9]+)")


def parse_a1(ref: str) -> tuple[int, int]:
    """An A1 reference ("M5", "$AB$12", " ab12 ") -> 1-based (row, column); ValueError otherwise.

    >>> parse_a1("AB12"), parse_a1("$M$5")
    ((12, 28), (5, 13))
    """
    m = _A1.fullmatch(ref.strip())
    if not m:
        raise ValueError(ref)
    return int(m.group(2)), column_index(m.group(1))


def a1(row: int, col: int) -> str:
    """1-based row and column -> an A1 reference.

    >>> a1(1, 1), a1(12, 28)
    ('A1', 'AB12')
    """
    if row < 1:
        raise ValueError(f"row must be 1 or more, got {row}")
    return f"{column_letter(col)}{row}"


def is_blank(value: CellValue) -> bool:
    """None, an empty string or only spaces (non-breaking ones too)."""
    return value is None or (isinstance(value, str) and not value.strip())


def cell_date(value: CellValue) -> date | None:
    """A date from a cell as Excel, LibreOffice or Google may give it; None for a blank cell.

    Raises ValueError when the cell holds something that is not a date.

    >>> cell_date("05.10.2021"), cell_date(44474), cell_date(" 2021-10-05 ")
    (datetime.date(2021, 10, 5), datetime.date(2021, 10, 5), datetime.date(2021, 10, 5))
    """
    if is_blank(value):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, bool):
        raise ValueError(str(value))
    if isinstance(value, int | float):
        low, high = SERIAL_RANGE
        if low <= value <= high:
            return EXCEL_EPOCH + timedelta(days=int(value))
        raise ValueError(str(value))
    # A date-time as text ("2021-10-05 00:00:00", "05.10.2021 12:30"): the day is what counts.
    text = str(value).split(maxsplit=1)[0].split("T", 1)[0]
    for fmt in DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise ValueError(str(value))


def typed_text(value: CellValue) -> str:
    """A cell's value as the school typed it: 15092021, not 15092021.0; -1, not a time.

    >>> typed_text(15092021.0), typed_text(-1), typed_text(2.5), typed_text(" 5 мая ")
    ('15092021', '-1', '2.5', '5 мая')
    """
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    if isinstance(value, float):
        return repr(value)
    return " ".join(str(value).split()) if value is not None else ""


def undotted_date(value: CellValue) -> date | None:
    """15092021 typed for 15.09.2021 (the dots left out): the date it most likely means.

    >>> undotted_date(15092021.0), undotted_date(5)
    (datetime.date(2021, 9, 15), None)
    """
    text = typed_text(value)
    if not re.fullmatch(r"\d{8}", text):
        return None
    try:
        return datetime.strptime(text, "%d%m%Y").date()
    except ValueError:
        return None
