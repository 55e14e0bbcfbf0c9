"""Read an approved roadmap document (.docx, or an .xlsx sheet) into blocks for sync.importer.

Only the file formats live here: paragraphs become prose strings, table rows become
sync.importer.TableRow with merged cells marked (a horizontally merged cell's later grid positions
are blank and listed in `merged`; a vertically merged cell repeats its text and is listed in
`repeated`). Recognising the roadmap in those rows is the importer's job.
"""

from __future__ import annotations

from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from sync.importer.types import Block, TableRow


def read_docx(path: Path) -> list[Block]:
    """Paragraphs and table rows of a Word document, in the order they appear."""
    from docx import Document
    from docx.table import Table

    document = Document(str(path))
    blocks: list[Block] = []
    tables = 0
    for part in document.iter_inner_content():
        if isinstance(part, Table):
            blocks.extend(_docx_table_rows(part, tables))
            tables += 1
        elif part.text.strip():
            blocks.append(part.text.strip())
    return blocks


def _docx_table_rows(table: Any, index: int) -> list[TableRow]:
    rows: list[TableRow] = []
    above: list[Any] = []  # the <w:tc> elements of the previous row, by grid position
    for r, row in enumerate(table.rows, start=1):
        positions: list[Any] = [None] * row.grid_cols_before
        positions.extend(row.cells)
        positions.extend([None] * row.grid_cols_after)
        cells: list[str] = []
        merged: set[int] = set()
        repeated: set[int] = set()
        tcs: list[Any] = []
        texts: list[Any] = []  # the distinct cells holding text, for the italic/bold check
        for p, cell in enumerate(positions):
            tc = cell._tc if cell is not None else None
            tcs.append(tc)
            if tc is None:
                cells.append("")
                continue
            if p > 0 and tcs[p - 1] is tc:  # python-docx repeats a horizontally merged cell
                cells.append("")
                merged.add(p)
                continue
            if p < len(above) and above[p] is tc:  # vMerge="continue": the cell above, again
                repeated.add(p)
            cells.append(cell.text)
            if cell.text.strip():
                texts.append(cell)
        above = tcs
        italic, bold = _emphasis(texts)
        rows.append(
            TableRow(
                tuple(cells),
                table=index,
                italic=italic,
                bold=bold,
                merged=frozenset(merged),
                repeated=frozenset(repeated),
                where=f"таблица {index + 1}, строка {r}",
            )
        )
    return rows


def _emphasis(cells: list[Any]) -> tuple[bool, bool]:
    """Whether every piece of text in these cells is italic, and whether it is all bold."""
    italic = bold = True
    seen = False
    for cell in cells:
        for paragraph in cell.paragraphs:
            for run in paragraph.runs:
                if not run.text.strip():
                    continue
                seen = True
                italic = italic and _run_flag(run, paragraph, "italic")
                bold = bold and _run_flag(run, paragraph, "bold")
    return (italic and seen, bold and seen)


def _run_flag(run: Any, paragraph: Any, name: str) -> bool:
    value = getattr(run.font, name)
    if value is None and run.style is not None:
        value = getattr(run.style.font, name)
    style = paragraph.style
    while value is None and style is not None:
        value = getattr(style.font, name)
        style = style.base_style
    return bool(value)


def read_xlsx(path: Path) -> list[tuple[str, list[Block]]]:
    """Every visible sheet as table rows, merged ranges resolved: (sheet name, rows)."""
    from python_calamine import CalamineWorkbook, SheetVisibleEnum

    workbook = CalamineWorkbook.from_path(str(path))
    try:
        hidden = {m.name for m in workbook.sheets_metadata if m.visible != SheetVisibleEnum.Visible}
        sheets = []
        for index, name in enumerate(workbook.sheet_names):
            if name in hidden:
                continue
            sheet = workbook.get_sheet_by_name(name)
            grid = [[_cell_text(v) for v in row] for row in sheet.to_python(skip_empty_area=False)]
            sheets.append((name, _xlsx_rows(name, index, grid, sheet.merged_cell_ranges or [])))
        return sheets
    finally:
        workbook.close()


def _xlsx_rows(name: str, index: int, grid: list[list[str]], merges: list[Any]) -> list[Block]:
    merged: dict[int, set[int]] = {}
    repeated: dict[int, set[int]] = {}
    for (r0, c0), (r1, c1) in merges:
        if r0 >= len(grid):
            continue
        value = grid[r0][c0] if c0 < len(grid[r0]) else ""
        for r in range(r0, min(r1, len(grid) - 1) + 1):
            for c in range(c0, min(c1, len(grid[r]) - 1) + 1):
                if c > c0:
                    merged.setdefault(r, set()).add(c)
                    grid[r][c] = ""
                elif r > r0:
                    repeated.setdefault(r, set()).add(c)
                    grid[r][c] = value
    rows: list[Block] = []
    for r, cells in enumerate(grid):
        if not any(c.strip() for c in cells):
            continue
        rows.append(
            TableRow(
                tuple(cells),
                table=index,
                merged=frozenset(merged.get(r, ())),
                repeated=frozenset(repeated.get(r, ())),
                where=f"лист «{name}», строка {r + 1}",
            )
        )
    return rows


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.strftime("%d.%m.%Y")
    if isinstance(value, date):
        return value.strftime("%d.%m.%Y")
    if isinstance(value, time):
        return value.strftime("%H:%M")
    return str(value)
