"""Small xlsx helpers shared by the folder backend and the plan file: read grids, write a grid."""

from __future__ import annotations

import io
from pathlib import Path
from typing import cast

from python_calamine import CalamineWorkbook

from sync.model import CellValue

Grid = list[list[CellValue]]


def read_sheets(data: bytes) -> dict[str, Grid]:
    """Every sheet (hidden ones too) as a grid of values, read with calamine."""
    wb = CalamineWorkbook.from_filelike(io.BytesIO(data))
    try:
        return {
            name: cast(Grid, wb.get_sheet_by_name(name).to_python(skip_empty_area=False))
            for name in wb.sheet_names
        }
    finally:
        wb.close()


def read_first_sheet(path: Path) -> Grid:
    wb = CalamineWorkbook.from_path(str(path))
    try:
        return cast(Grid, wb.get_sheet_by_index(0).to_python(skip_empty_area=False))
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
