"""The previous master writer (openpyxl, write-only mode), kept verbatim for bench_master.py.

It ignores the title block, legend and print layout the XlsxWriter builder adds; it writes the
same cells, fills and number formats, which is what the benchmark compares.
"""

from __future__ import annotations

import re
from copy import copy
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.chart import BarChart, Reference
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.styles.cell_style import StyleArray
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from sync.consolidate import DATE_FORMAT, DATETIME_FORMAT, Master, MasterSheet
from sync.fileio import write_atomically
from sync.model import CellValue

HEADER_FILL = "D9D9D9"
WRAP_FROM_WIDTH = 20  # columns at least this wide hold long text: wrap it
MAX_CELL_CHARS = 32767  # Excel's limit for one cell
# Characters XML 1.0 cannot hold (control characters, lone surrogates, U+FFFE/U+FFFF).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

_HEADER_FONT = Font(bold=True)
_HEADER_FILL = PatternFill("solid", fgColor=HEADER_FILL)
_HEADER_ALIGN = Alignment(wrap_text=True, vertical="center")
_WRAP = Alignment(wrap_text=True, vertical="top")
_TOP = Alignment(vertical="top")


def write_master_xlsx(master: Master, path: Path) -> None:
    """Write the master workbook to path atomically (a temporary file, then os.replace)."""
    path = Path(path)
    # Write-only mode streams rows: a thousand schools' rows fit in little memory.
    wb = Workbook(write_only=True)
    wb.properties.title = master.title
    wb.properties.creator = "roadmap-sync"
    for sheet in master.sheets:
        ws = wb.create_sheet(sheet.name[:31])
        assert isinstance(ws, WriteOnlyWorksheet)
        _write_sheet(ws, sheet)
    write_atomically(path, wb.save)


def _write_sheet(ws: WriteOnlyWorksheet, sheet: MasterSheet) -> None:
    ncols = max([1, len(sheet.headers), *(len(r) for r in sheet.rows)])
    wrapped = set()
    for c, width in enumerate(sheet.widths):
        ws.column_dimensions[get_column_letter(c + 1)].width = width
        if width >= WRAP_FROM_WIDTH:
            wrapped.add(c)
    ws.freeze_panes = f"{get_column_letter(sheet.frozen_columns + 1)}2"
    ws.auto_filter.ref = f"A1:{get_column_letter(ncols)}{len(sheet.rows) + 1}"
    # Printable as the orders' reports are: landscape, header on every page, and one page wide
    # while the columns still fit (a Свод of hundreds of schools is read on screen).
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = "9"  # A4
    ws.print_title_rows = "1:1"
    if ncols <= 30:
        ws.sheet_properties.pageSetUpPr.fitToPage = True
        ws.page_setup.fitToWidth = 1
        ws.page_setup.fitToHeight = 0

    header = []
    for text in sheet.headers:
        cell = _cell(ws, text)
        cell.font = _HEADER_FONT
        cell.fill = _HEADER_FILL
        cell.alignment = _HEADER_ALIGN
        header.append(cell)
    ws.append(header)

    styles = _StyleCache(ws)
    for r, values in enumerate(sheet.rows):
        line: list[WriteOnlyCell | None] = []
        for c, value in enumerate(values):
            rgb = sheet.fills.get((r, c))
            if value is None and not rgb:
                line.append(None)
                continue
            cell = _cell(ws, value)
            fmt = None
            if cell.data_type != "s":
                fmt = sheet.number_formats.get(c) or _default_format(value)
            cell._style = styles.get(c in wrapped, fmt, rgb)
            line.append(cell)
        ws.append(line)

    if sheet.chart_column is not None and sheet.rows:
        _add_chart(ws, sheet, anchor_col=ncols + 2)


class _StyleCache:
    """Styles made once and shared: setting font, fill and format cell by cell is slow."""

    def __init__(self, ws: WriteOnlyWorksheet) -> None:
        self.ws = ws
        self.made: dict[tuple[bool, str | None, str | None], StyleArray] = {}

    def get(self, wrap: bool, number_format: str | None, rgb: str | None) -> StyleArray:
        key = (wrap, number_format, rgb)
        if key not in self.made:
            proto = WriteOnlyCell(self.ws)
            proto.alignment = _WRAP if wrap else _TOP
            if number_format:
                proto.number_format = number_format
            if rgb:
                proto.fill = PatternFill("solid", fgColor=rgb)
            self.made[key] = proto._style
        return copy(self.made[key])


def _cell(ws: WriteOnlyWorksheet, value: CellValue) -> WriteOnlyCell:
    """A cell whose strings are always text: never a formula, an error code or a number."""
    if value is not None and not isinstance(value, (int, float, Decimal, date, time, timedelta)):
        value = str(value)  # anything unexpected is shown as its text rather than failing the run
    if isinstance(value, str):
        text = _NOT_XML.sub("", value)
        if len(text) > MAX_CELL_CHARS:
            text = text[: MAX_CELL_CHARS - 1] + "…"
        cell = WriteOnlyCell(ws, text)
        cell.data_type = "s"
        return cell
    if isinstance(value, datetime) and value.tzinfo is not None:
        value = value.replace(tzinfo=None)  # Excel has no time zones: keep the local wall time
    return WriteOnlyCell(ws, value)


def _default_format(value: CellValue) -> str | None:
    if isinstance(value, datetime):
        return DATETIME_FORMAT
    if isinstance(value, date):
        return DATE_FORMAT
    return None


def _add_chart(ws: WriteOnlyWorksheet, sheet: MasterSheet, anchor_col: int) -> None:
    """A horizontal bar chart of one column by the first column, to the right of the table."""
    assert sheet.chart_column is not None
    n = len(sheet.rows)
    chart = BarChart()
    chart.type = "bar"
    chart.title = sheet.headers[sheet.chart_column]
    chart.legend = None
    data = Reference(ws, min_col=sheet.chart_column + 1, min_row=1, max_row=n + 1)
    chart.add_data(data, titles_from_data=True)
    chart.set_categories(Reference(ws, min_col=1, min_row=2, max_row=n + 1))
    fmt = sheet.number_formats.get(sheet.chart_column)
    if fmt:
        chart.y_axis.number_format = fmt
    if fmt and fmt.endswith("%"):
        chart.y_axis.scaling.min = 0
        chart.y_axis.scaling.max = 1
    chart.x_axis.scaling.orientation = "maxMin"  # schools top to bottom, as in the table
    chart.x_axis.delete = False
    chart.y_axis.delete = False
    chart.width = 20
    chart.height = min(max(7.5, 0.5 * n + 2), 400.0)  # cm: room for every school's label
    ws.add_chart(chart, f"{get_column_letter(anchor_col)}2")
