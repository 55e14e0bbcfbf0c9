"""Small xlsx helpers shared by the folder backend and the plan file: read grids, write a grid."""

from __future__ import annotations

import io
from collections.abc import Collection
from itertools import islice
from pathlib import Path
from typing import cast

from python_calamine import CalamineSheet, CalamineWorkbook

from sync.model import CellValue

Grid = list[list[CellValue]]

# A roadmap has tens of rows. A value typed by accident a million rows down must not make one
# school's read take gigabytes: beyond this many rows a sheet is cut and the cut is reported.
MAX_ROWS = 5000


def read_sheets(
    data: bytes, max_rows: int = MAX_ROWS, skip: Collection[str] = ()
) -> tuple[dict[str, Grid], dict[str, int]]:
    """Every sheet (hidden ones too) as a grid of values, and the sheets cut at max_rows.

    The second value maps each cut sheet to the number of its last used row. Sheets named in
    `skip` (the template's instructions: text only, a fifth of the reading time) are not read.
    """
    wb = CalamineWorkbook.from_filelike(io.BytesIO(data))
    sheets: dict[str, Grid] = {}
    truncated: dict[str, int] = {}
    try:
        for name in wb.sheet_names:
            if name in skip:
                continue
            sheet = wb.get_sheet_by_name(name)
            last_row = sheet.end[0] + 1 if sheet.end else 0
            if last_row > max_rows:
                truncated[name] = last_row
                sheets[name] = _head(sheet, max_rows)
            else:
                sheets[name] = cast(Grid, sheet.to_python(skip_empty_area=False))
    finally:
        wb.close()
    return sheets, truncated


def _head(sheet: CalamineSheet, max_rows: int) -> Grid:
    """The first rows of a sheet, laid out from A1 as to_python(skip_empty_area=False) does."""
    # iter_rows starts at the first used column
    pad: list[CellValue] = [""] * (sheet.start[1] if sheet.start else 0)
    return [pad + cast(list[CellValue], row) for row in islice(sheet.iter_rows(), max_rows)]


def read_first_sheet(path: Path) -> Grid:
    wb = CalamineWorkbook.from_path(str(path))
    try:
        sheet = wb.get_sheet_by_index(0)
        if sheet.height > MAX_ROWS:
            return _head(sheet, MAX_ROWS)
        return cast(Grid, sheet.to_python(skip_empty_area=False))
    finally:
        wb.close()


def write_grid(path: Path, title: str, rows: list[list[str]]) -> None:
    """A plain one-sheet workbook; every value is stored as text, never as a formula."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = title
    for r, row in enumerate(rows, start=1):
        for c, value in enumerate(row, start=1):
            cell = ws.cell(r, c, value)
            cell.data_type = "s"
    wb.save(path)
