"""Type into a school workbook the way a person in Excel would (openpyxl): for the demo and tests.

Cells are found by header, as a person finds them, and only the given cells change; sheet
protection, validation and formatting stay as they were.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from openpyxl import load_workbook
from openpyxl.cell.cell import Cell

from sync.model import CellValue
from sync.spec import TemplateSpec, normalize_header


def fill_workbook(
    path: Path,
    spec: TemplateSpec,
    rows: Mapping[str, Mapping[str, CellValue]],
    passport: Mapping[str, CellValue] | None = None,
    own_rows: list[Mapping[str, CellValue]] | None = None,
) -> None:
    """Set school cells: rows by № (column key -> value), passport by field key, new rows below."""
    wb = load_workbook(path)
    ws = wb[spec.main_sheet]
    header = {normalize_header(c.value): c.column for c in ws[1] if c.value}
    col = {
        c.key: header[normalize_header(c.header)]
        for c in spec.columns
        if normalize_header(c.header) in header
    }
    last_plan_row = 1
    for r in range(2, ws.max_row + 1):
        no = ws.cell(r, col["no"]).value
        if no is None or str(no).strip() == "":
            continue
        last_plan_row = r
        values = rows.get(str(no).strip())
        if values:
            for key, value in values.items():
                _type(ws.cell(r, col[key]), value)
    for offset, values in enumerate(own_rows or [], start=1):
        for key, value in values.items():
            _type(ws.cell(last_plan_row + offset, col[key]), value)
    if passport:
        ps = wb[spec.passport_sheet]
        labels = {f.key: f.label for f in spec.passport}
        for r in range(2, ps.max_row + 1):
            label = str(ps.cell(r, 1).value or "").rstrip(" *")
            for key, value in passport.items():
                if labels.get(key) == label:
                    _type(ps.cell(r, 2), value)
    wb.save(path)


def _type(cell: Cell, value: CellValue) -> None:
    """Text stays text, as when a person types '=1+1 with a leading apostrophe."""
    cell.value = value
    if isinstance(value, str):
        cell.data_type = "s"
