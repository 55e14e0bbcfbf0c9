"""The coordinator's review marks in a saved master .xlsx: «Мероприятия» by name, its columns by
their headers, who saved it and when from the package's core properties.

The master is the coordinator's file, edited by hand: it is read as data (calamine gives cell
values, never formulas), its package is checked for sizes before parsing, and its core
properties are parsed with defusedxml (no DTD, no entities).
"""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime
from typing import cast

from defusedxml import ElementTree
from python_calamine import CalamineWorkbook

from sync.backends.base import MasterReadError
from sync.backends.isolated import ForeignFormat, ReadLimits, TooBig, check_package, open_package
from sync.model import CellValue
from sync.review import MasterMarks, marks_from_grid

ROWS_SHEET = "Мероприятия"  # sync.consolidate.ROWS_SHEET (the backends do not import the core)
SOURCE_RU = "свод"
# The master is ours and may be large (every row of every school): wider than a school's.
MASTER_LIMITS = ReadLimits(max_part=512 << 20, max_total=1 << 30, max_entries=100_000)

_CP = "{http://schemas.openxmlformats.org/package/2006/metadata/core-properties}"
_DCTERMS = "{http://purl.org/dc/terms/}"


def saved_by(z: zipfile.ZipFile) -> tuple[str, datetime | None]:
    """lastModifiedBy and modified of docProps/core.xml; ("", None) when absent or unreadable."""
    try:
        root = ElementTree.fromstring(z.read("docProps/core.xml"))
    except Exception:  # absent, damaged, or a DTD defusedxml refuses: the marks still count
        return "", None
    by = (root.findtext(f"{_CP}lastModifiedBy") or "").strip()[:200]
    text = (root.findtext(f"{_DCTERMS}modified") or "").strip()
    try:
        at: datetime | None = datetime.fromisoformat(text) if text else None
    except ValueError:
        at = None
    if at is not None and at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return by, at


def read_master_marks(data: bytes, name: str, modified: datetime | None = None) -> MasterMarks:
    """The review lines of a saved master's «Мероприятия». Raises MasterReadError (Russian).

    `modified` (the file's time) stands in when the core properties carry no save time.
    """
    why = f"свод «{name}» не читается"
    try:
        with open_package(data) as z:
            check_package(z, MASTER_LIMITS)
            by, at = saved_by(z)
    except ForeignFormat as e:  # its advice is for a school's workbook: not the master's
        text = str(e).replace(" Попросите школу прислать книгу ещё раз.", "").rstrip(".")
        raise MasterReadError(f"{why}: файл {text}") from None
    except TooBig as e:
        raise MasterReadError(f"{why}: файл слишком большой: {e}") from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, OSError):
        raise MasterReadError(f"{why}: архив книги повреждён") from None
    try:
        wb = CalamineWorkbook.from_filelike(io.BytesIO(data))
        try:
            if ROWS_SHEET not in wb.sheet_names:
                raise MasterReadError(
                    f"в своде «{name}» нет листа «{ROWS_SHEET}», где ставятся отметки МОУО."
                    " Верните лист (или переименуйте файл свода, если отметок в нём нет)"
                )
            sheet = wb.get_sheet_by_name(ROWS_SHEET)
            grid = cast(list[list[CellValue]], sheet.to_python(skip_empty_area=False))
        finally:
            wb.close()
    except MasterReadError:
        raise
    except Exception:  # calamine raises its own types for every kind of damage
        raise MasterReadError(f"{why}: книга повреждена") from None
    marks, problems = marks_from_grid(grid, ROWS_SHEET)
    return MasterMarks(tuple(marks), by, at or modified, SOURCE_RU, tuple(problems))
