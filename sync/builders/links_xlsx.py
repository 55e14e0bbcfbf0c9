"""The table of issued links as an .xlsx file, for the coordinator to hand out."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Font

from sync.fileio import write_atomically


def write_links_xlsx(path: Path, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    wb = Workbook()
    ws = wb.active
    ws.title = "Ссылки"
    ws.append(list(header))
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in rows:
        ws.append(list(row))
        for cell in ws[ws.max_row]:
            cell.data_type = "s"  # a name starting with = stays text
    for letter, width in zip("ABCDE", (14, 40, 90, 30, 20), strict=False):
        ws.column_dimensions[letter].width = width
    write_atomically(path, wb.save)
