"""Write the consolidated master (sync.consolidate.Master) as an xlsx workbook with XlsxWriter.

Every sheet is laid out to be read on screen and printed: a title block (municipality, period,
«по состоянию на»), a colour legend, the header row repeated on every printed page, a page header
and footer with the sheet's name and page numbers, A4 landscape at a scale that keeps text at 8 pt
or more, frozen header and first columns, an autofilter, column widths fitted to their content and
row heights fitted to the wrapped text (neither Excel nor LibreOffice fits rows on opening).
A sheet with `print_columns` prints only those, one page across; the others as many pages across
as it takes, the first columns repeated. The coordinator's `editable` columns are the only cells
open on protected sheets (a dropdown for the marks); `hidden_columns` are hidden.

XlsxWriter rather than openpyxl: it has the presentation features (data bars, charts,
headers/footers, print titles, protection, validation) in its documented API, is actively
maintained and pure Python. The large sheets' data rows bypass its per-cell API: this module
writes their XML itself (_Table.rows_xml), about twice as fast (bench/bench_master.py).

Every string a school typed is stored as text, never as a formula: a cell holding "=1+1" or
"=HYPERLINK(...)" shows exactly that text in Excel, LibreOffice, R7-Office and MyOffice.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import math
import os
import re
import select
import shutil
import signal
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from functools import lru_cache
from itertools import repeat
from pathlib import Path
from time import monotonic as time_now
from typing import IO, Any, BinaryIO, NoReturn
from xml.sax.saxutils import escape

import xlsxwriter
import xlsxwriter.workbook
from xlsxwriter.format import Format
from xlsxwriter.utility import xl_col_to_name
from xlsxwriter.worksheet import Worksheet

from sync.consolidate import (
    DATE_FORMAT,
    DATETIME_FORMAT,
    HEADER_ROW,
    Lines,
    Master,
    MasterSheet,
    RowFills,
)
from sync.fileio import write_all, write_atomically
from sync.model import CellValue

FONT = "Arial"  # one family throughout; LibreOffice draws it with the metric-equal Liberation Sans
FONT_SIZE = 10
TITLE_SIZE = 14
MIN_PRINT_PT = 8.0  # a printed page is shrunk to fit its width only while text stays this large
LINE_PT = 12.75  # one line of FONT_SIZE text, as Excel and LibreOffice space it
HEADER_FILL = "D9D9D9"
BORDER_COLOR = "#BFBFBF"
DATA_BAR = "#63BE7B"
# The coordinator's columns (review mark and comment): a light fill on their header and cells,
# explained in the sheet's legend; the rest of every sheet is protected against edits.
EDITABLE_FILL = "DDEBF7"
EDITABLE_NOTE = "заполняет координатор"
WRAP_FROM_WIDTH = 20  # columns at least this wide hold long text: wrap it
MAX_WIDTH = 60.0  # a column never grows wider than this; longer text wraps
MAX_ROW_PT = 409.0  # Excel's tallest row
MAX_CELL_CHARS = 32767  # Excel's limit for one cell
# A4 landscape, 0.4" side margins: the printable width in points.
PRINTABLE_PT = (297 / 25.4 - 0.8) * 72
REPEAT_AT_LEAST = 60.0  # width units of the columns repeated on every page across
CHART_ROW_PX = 18  # vertical room per school on the chart: every school gets its label
# Characters XML 1.0 cannot hold (control characters, lone surrogates, U+FFFE/U+FFFF).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

# The large sheets' data rows are written as XML by this module (_Table.rows_xml) rather than
# cell by cell through XlsxWriter's API: the same cells in a fraction of the time, streamed to a
# temporary file so memory stays flat however many schools (bench/bench_master.py).
FAST_ROWS = True
ZIP_LEVEL = 3  # deflate level of the workbook's parts (see _ZipFile)

_OPTIONS: dict[str, Any] = {
    "strings_to_formulas": False,
    "strings_to_numbers": False,
    "strings_to_urls": False,
    "default_format_properties": {"font_name": FONT, "font_size": FONT_SIZE},
}


def write_master_xlsx(master: Master, path: Path, password: str = "") -> str:
    """Write the master workbook to path atomically (a temporary file, then os.replace).

    A master with columns for the coordinator to type in (`MasterSheet.editable`) is protected
    on every sheet, with `password` (the template's protection password; "" for none): only the
    data cells of the editable columns can be typed into; sorting, filtering and resizing stay
    allowed. A workbook without them (the справка's tables) is left open. Returns the sha256 of
    the file written.
    """
    return write_atomically(Path(path), lambda f: _write(master, f, password))


class _ZipFile(zipfile.ZipFile):
    """Deflate level 3 rather than 6: a quarter of the compression time for a file about a
    tenth larger (the master is rewritten on every run). XlsxWriter has no option for it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("compresslevel", ZIP_LEVEL)
        super().__init__(*args, **kwargs)


def _write(master: Master, out: BinaryIO, password: str = "") -> None:
    xlsxwriter.workbook.ZipFile = _ZipFile  # the name XlsxWriter's packaging step uses
    wb = xlsxwriter.Workbook(out, _OPTIONS)
    wb.set_properties({"title": master.title, "author": "roadmap-sync"})
    formats = _Formats(wb)
    sheets = {s.name: s for s in master.sheets}
    protect = any(s.editable for s in master.sheets)
    pairs = [
        (sheet, wb.add_worksheet(_sheet_name(sheet.name), _FastSheet if FAST_ROWS else None))
        for sheet in master.sheets
    ]
    # The longest sheet first: its rows are made in a forked copy (the second core) while
    # this process writes the others, when it is long enough to be worth it.
    longest = max(pairs, key=lambda p: len(p[0].rows)) if pairs else None
    if longest is not None and len(longest[0].rows) >= ASIDE_LINES:
        pairs.remove(longest)
        pairs.insert(0, longest)
    fast = [ws for _, ws in pairs if isinstance(ws, _FastSheet)]
    try:
        for sheet, ws in pairs:
            aside = (sheet, ws) == longest and len(sheet.rows) >= ASIDE_LINES
            _write_sheet(wb, ws, sheet, master, formats, sheets, aside)
            if protect:
                ws.protect(password, _PROTECTION)
        for ws in fast:
            ws.finish_aside()
    except BaseException:
        for ws in fast:  # the write is abandoned: the copy is stopped, nothing redone
            ws.drop_aside()
        raise
    wb.close()


# What a protected sheet still lets the coordinator do: read it any way they like.
_PROTECTION: dict[str, Any] = {
    "sort": True,
    "autofilter": True,
    "format_cells": True,
    "format_columns": True,
    "format_rows": True,
    "select_locked_cells": True,
    "select_unlocked_cells": True,
}


def _sheet_name(name: str) -> str:
    return re.sub(r"[\[\]:*?/\\]", "_", name)[:31]


class _Formats:
    """Formats made once and shared: a workbook holds each distinct cell style once."""

    def __init__(self, wb: xlsxwriter.Workbook) -> None:
        self.wb = wb
        self.made: dict[tuple[Any, ...], Format] = {}
        border = {"border": 1, "border_color": BORDER_COLOR}
        title = {"bold": True, "font_size": TITLE_SIZE, "valign": "top"}
        self.title = wb.add_format(title)
        self.title_wrap = wb.add_format({**title, "text_wrap": True})
        self.subtitle = wb.add_format({"italic": True, "valign": "top"})
        self.subtitle_wrap = wb.add_format({"italic": True, "valign": "top", "text_wrap": True})
        self.header = wb.add_format(
            {
                "bold": True,
                "bg_color": "#" + HEADER_FILL,
                "text_wrap": True,
                "valign": "vcenter",
                **border,
            }
        )
        self.header_editable = wb.add_format(
            {
                "bold": True,
                "bg_color": "#" + EDITABLE_FILL,
                "text_wrap": True,
                "valign": "vcenter",
                **border,
            }
        )
        self.note = wb.add_format({"italic": True, "valign": "vcenter"})

    def cell(
        self, wrap: bool, number_format: str | None, rgb: str | None, unlocked: bool = False
    ) -> Format:
        key = (wrap, number_format, rgb, unlocked)
        found = self.made.get(key)
        if found is None:
            props: dict[str, Any] = {
                "valign": "top",
                "border": 1,
                "border_color": BORDER_COLOR,
            }
            if unlocked:
                props["locked"] = False
            if wrap:
                props["text_wrap"] = True
            if number_format:
                props["num_format"] = number_format
            if rgb:
                props["bg_color"] = "#" + rgb
                props["pattern"] = 1
            found = self.made[key] = self.wb.add_format(props)
        return found

    def swatch(self, rgb: str) -> Format:
        """A coloured square standing for a fill, in text: the colour a shade darker."""
        key = ("swatch", rgb)
        found = self.made.get(key)
        if found is None:
            darker = "".join(f"{int(int(rgb[i : i + 2], 16) * 0.8):02X}" for i in (0, 2, 4))
            found = self.made[key] = self.wb.add_format({"font_color": "#" + darker, "bold": True})
        return found

    def legend(self, rgb: str | None) -> Format:
        key = ("legend", rgb)
        found = self.made.get(key)
        if found is None:
            props: dict[str, Any] = {"valign": "vcenter", "text_wrap": True}
            if rgb:
                props.update(bg_color="#" + rgb, pattern=1, border=1, border_color=BORDER_COLOR)
                props["align"] = "center"
            else:
                props["italic"] = True
            found = self.made[key] = self.wb.add_format(props)
        return found


_LONGEST_DATE = int(len("00.00.0000 00:00") * 1.2)  # the widest date _layout counts


def _text_of(value: CellValue) -> str:
    """What a cell shows, as far as its width and height are concerned."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return "00.00.0000 00:00"
    if isinstance(value, date):
        return "00.00.0000"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def wrapped_lines(text: str, width: float) -> int:
    """Lines a text takes in a wrapped cell of this width (Excel units), words kept whole.

    A conservative estimate (a width unit holds about one average Cyrillic letter of Arial 10):
    the rows it sizes may have a little room to spare but never cut a line off.

    >>> wrapped_lines("Методическая поддержка", 14)
    2
    """
    per_line = max(1, int(width - 1.5))
    lines = 0
    for part in text.split("\n"):
        used = 0
        lines += 1
        for word in part.split(" "):
            n = len(word)
            while n > per_line:  # a word longer than a line is broken
                if used:
                    lines += 1
                n -= per_line
                used = per_line
            if used == 0:
                used = n
            elif used + 1 + n <= per_line:
                used += 1 + n
            else:
                lines += 1
                used = n
    return max(1, lines)


def _row_pt(texts: tuple[tuple[str, float, bool], ...], line: float = LINE_PT) -> float:
    lines = 1
    for text, width, wrap in texts:
        if text:
            n = _text_lines(text, width, wrap)
            if n > lines:
                lines = n
    return _lines_pt(lines, line)


@lru_cache(maxsize=256)
def _row_ht(lines: int) -> str:
    """A data row's height as XlsxWriter's set_row writes it: in whole pixels (0.75 pt)."""
    return f"{int(_lines_pt(lines) * 4.0 / 3.0 + 0.5) * 0.75:g}"


def _lines_pt(lines: int, line: float = LINE_PT) -> float:
    """A row's height for this many lines of text."""
    return min(MAX_ROW_PT, lines * line + 3)


@lru_cache(maxsize=65536)  # the same activities and names repeat for every school
def _text_lines(text: str, width: float, wrap: bool) -> int:
    return wrapped_lines(text, width) if wrap else text.count("\n") + 1


Styles = dict[tuple[int, str | None, type, bool], CellValue]  # see _layout


def _layout(
    sheet: MasterSheet, ncols: int, styles: Styles | None = None
) -> tuple[list[float], list[bool]]:
    """Column widths fitted to content (within the sheet's widths) and which columns wrap.

    `styles`, when given, gets a value of each kind of cell that is not plain text — (column,
    fill, type, finite) — for the formats to be made before rows are made aside."""
    longest = [0] * ncols
    lines: Iterator[tuple[list[CellValue], RowFills]]
    lines = _records(sheet) if styles is not None else zip(sheet.rows, repeat(None))
    for values, fills in lines:
        if fills and styles is not None:
            for c, rgb in fills.items():
                v = values[c] if c < len(values) else None
                styles.setdefault((c, rgb, type(v), _finite(v)), v)
        for c, value in enumerate(values):
            if value is None:
                continue
            if type(value) is str:
                n = len(value)
                if n <= longest[c]:
                    continue  # most cells: no longer than one seen before
                if "\n" in value:
                    n = max(len(p) for p in value.split("\n"))
            else:  # digits are wider than the average letter a width unit is sized for
                if styles is not None:
                    styles.setdefault((c, None, type(value), _finite(value)), value)
                if longest[c] >= _LONGEST_DATE and isinstance(value, date):
                    continue  # a date or time of day: never wider than that (the common case)
                text = _text_of(value)
                n = int(len(text) * 1.2)
                if "\n" in text:
                    n = max(len(p) for p in text.split("\n"))
            if n > longest[c]:
                longest[c] = n
    widths: list[float] = []
    wraps: list[bool] = []
    for c in range(ncols):
        given = sheet.widths[c] if c < len(sheet.widths) else 12.0
        header = sheet.headers[c] if c < len(sheet.headers) else ""
        header_min = _header_min(header)
        cap = given if given >= WRAP_FROM_WIDTH else max(given, MAX_WIDTH / 2)
        needed = longest[c] * 1.05 + 2
        width = min(MAX_WIDTH, max(header_min, min(needed, cap), 5.0))
        widths.append(round(width, 1))
        wraps.append(given >= WRAP_FROM_WIDTH or needed > width)
    return widths, wraps


def _finite(value: CellValue) -> bool:
    """False for a number that is not finite (written as text), True otherwise."""
    return not isinstance(value, (float, Decimal)) or math.isfinite(value)


def _fit_across(widths: list[float], wraps: list[bool], headers: list[str], n: int) -> None:
    """Narrow the wrapped columns among the first n, in proportion, until those n columns
    print one page across at MIN_PRINT_PT (never below a column's longest header word)."""
    factor = MIN_PRINT_PT / FONT_SIZE
    floors = [_header_min(headers[c] if c < len(headers) else "") for c in range(n)]
    for _ in range(30):
        total = sum(_px(w) for w in widths[:n]) * 0.75 * factor
        excess = total - PRINTABLE_PT * 0.98
        if excess <= 0:
            return
        room = [c for c in range(n) if wraps[c] and widths[c] > max(floors[c], 8.0)]
        if not room:
            return  # it cannot fit: the page is shrunk to fit below
        units = excess / (7 * 0.75 * factor)
        share = sum(widths[c] for c in room)
        for c in room:
            widths[c] = round(max(floors[c], 8.0, widths[c] - units * widths[c] / share - 0.1), 1)


def _header_min(header: str) -> float:
    """The narrowest a column can be with its longest header word whole (bold is wider)."""
    word = max((len(w) for w in header.split()), default=0)
    return word * 1.1 + 2.5


def _px(width: float) -> int:
    return int(width * 7 + 5)  # Excel's column width in pixels for a 7-pixel digit


def _write_sheet(
    wb: xlsxwriter.Workbook,
    ws: Worksheet,
    sheet: MasterSheet,
    master: Master,
    formats: _Formats,
    sheets: dict[str, MasterSheet],
    aside: bool = False,
) -> None:
    """One sheet; `aside`: its rows may be made in a forked copy while the next sheets are
    written (see _FastSheet.set_rows_xml_aside)."""
    ncols = _ncols(sheet)
    head = HEADER_ROW - 1  # 0-based
    last = head + len(sheet.rows)
    styles: Styles | None = {} if aside else None
    widths, wraps, hidden, printed = _columns(ws, sheet, ncols, last, styles)
    editable = {c: choices for c, choices in sheet.editable.items() if c < ncols}
    on_first_page = _print_setup(ws, sheet, master, widths[:printed], head)
    ws.freeze_panes(HEADER_ROW, sheet.frozen_columns)
    ws.autofilter(head, 0, last, ncols - 1)

    block = on_first_page if on_first_page < len(widths) else len(widths)
    _title_block(ws, master, widths, block, formats)
    legend = list(sheet.legend)
    if editable:
        legend.append((EDITABLE_FILL, EDITABLE_NOTE))
    if printed < ncols - len(hidden):
        legend.append((None, f"На печати — столбцы до «{sheet.headers[printed - 1]}»"))
    _legend(ws, legend, widths[:block], formats)  # a legend cut by a page is unreadable

    header_pt = _row_pt(
        tuple((h, widths[c], True) for c, h in enumerate(sheet.headers) if c not in hidden),
        line=LINE_PT + 0.5,
    )
    ws.set_row(head, header_pt)
    for c, text in enumerate(sheet.headers):
        fmt = formats.header_editable if c in editable else formats.header
        ws.write_string(head, c, _clean(text), fmt)

    table = _Table(sheet, formats, widths, wraps, hidden, editable)
    if isinstance(ws, _FastSheet) and sheet.rows:
        if not (
            styles is not None
            and ws.set_rows_xml_aside(head + 1, table, ncols - 1, sheet.rows, styles)
        ):
            ws.set_rows_xml(head + 1, table.rows_xml(ws, head + 1), ncols - 1, sheet.rows)
    else:
        table.write(ws, head + 1)
    if sheet.rows:
        for c, choices in editable.items():
            _dropdown(ws, head + 1, last, c, choices, sheet.headers[c])

    if sheet.data_bar_column is not None and sheet.rows:
        _data_bar(ws, head + 1, last, sheet.data_bar_column)
    if sheet.chart_of is not None:
        _add_chart(wb, ws, sheet, sheets, len(sheet.rows) + HEADER_ROW + 1, widths)


def _ncols(sheet: MasterSheet) -> int:
    """The sheet's number of columns: its headers or its longest line, whichever is more."""
    if isinstance(sheet.rows, Lines):
        return max(1, len(sheet.headers), sheet.rows.width)
    return max([1, len(sheet.headers), *(len(r) for r in sheet.rows)])


def _records(sheet: MasterSheet) -> Iterator[tuple[list[CellValue], RowFills]]:
    """Each line with its fills by column, in order (a spooled sheet's read in one pass)."""
    if isinstance(sheet.rows, Lines):  # made or read on each pass: fills come with them
        yield from sheet.rows.records()
        return
    by_row: dict[int, dict[int, str]] = {}
    for (r, c), rgb in sheet.fills.items():
        by_row.setdefault(r, {})[c] = rgb
    for r, values in enumerate(sheet.rows):
        yield values, by_row.get(r)


def _columns(
    ws: Worksheet, sheet: MasterSheet, ncols: int, last: int, styles: Styles | None = None
) -> tuple[list[float], list[bool], set[int], int]:
    """Column widths (0 for hidden ones), which wrap, which are hidden, how many print."""
    widths, wraps = _layout(sheet, ncols, styles)
    hidden = {c for c in sheet.hidden_columns if c < ncols}
    for c, width in enumerate(widths):
        if c in hidden:  # kept in the file (the row key), neither shown nor printed
            ws.set_column(c, c, width, None, {"hidden": True})
            widths[c] = 0.0
        else:
            ws.set_column(c, c, width)
    printed = ncols
    if sheet.print_columns is not None and 0 < sheet.print_columns < ncols:
        printed = sheet.print_columns
        _fit_across(widths, wraps, sheet.headers, printed)
        ws.print_area(0, 0, last, printed - 1)
    for c in range(printed):
        if c not in hidden:
            ws.set_column(c, c, widths[c])
    return widths, wraps, hidden, printed


def _title_block(
    ws: Worksheet, master: Master, widths: list[float], block: int, formats: _Formats
) -> None:
    """Whose master, which period, as of when. A sheet printed over several pages across
    repeats its first `block` columns on each: the block stays inside them (wrapped), so no
    page shows a fragment of it."""
    room = sum(widths[:block]) if block < len(widths) else 10_000.0
    merged = 1 < block < len(widths)
    for row, text, fmt, size in (
        (0, master.title, formats.title_wrap if merged else formats.title, TITLE_SIZE),
        (1, master.subtitle, formats.subtitle_wrap if merged else formats.subtitle, FONT_SIZE),
    ):
        if not text:
            continue
        lines = wrapped_lines(text, room * FONT_SIZE / size) if merged else 1
        ws.set_row(row, min(MAX_ROW_PT, lines * size * 1.45 + 4))
        if merged:
            ws.merge_range(row, 0, row, block - 1, _clean(text), fmt)
        else:
            ws.write_string(row, 0, _clean(text), fmt)


def _data_bar(ws: Worksheet, first: int, last: int, c: int) -> None:
    ws.conditional_format(
        first,
        c,
        last,
        c,
        {
            "type": "data_bar",
            "bar_color": DATA_BAR,
            "data_bar_2010": False,  # the classic bar every spreadsheet program reads
            "min_type": "num",
            "min_value": 0,
            "max_type": "num",
            "max_value": 1,
        },
    )


class _Table:
    """A sheet's data rows: each cell's kind, value and format, and each row's height.

    Written either through XlsxWriter's API (`write`) or straight to the sheet's XML
    (`rows_xml`, several times faster for the large sheets): the same cells either way.
    """

    def __init__(
        self,
        sheet: MasterSheet,
        formats: _Formats,
        widths: list[float],
        wraps: list[bool],
        hidden: set[int],
        editable: dict[int, tuple[str, ...]],
    ) -> None:
        self.sheet, self.formats, self.widths, self.wraps = sheet, formats, widths, wraps
        self.hidden, self.editable = hidden, editable
        self.uses = 0  # uses of the shared string table by rows made with it frozen
        self._xml_parts: (
            tuple[list[str], list[str], list[str], list[str | None], list[str | None]] | None
        ) = None
        ncols = len(widths)
        # Per shown column: longer strings may need a second line; its width; does it wrap.
        self.shown = [
            (c, widths[c] - 2.5, widths[c], wraps[c]) for c in range(ncols) if c not in hidden
        ]
        self.plain = [formats.cell(wraps[c], None, None) for c in range(ncols)]  # text, no fill
        for c in editable:  # the coordinator types here: unlocked, with the editable fill
            self.plain[c] = formats.cell(wraps[c], None, EDITABLE_FILL, unlocked=True)

    def height(self, values: list[CellValue]) -> float | None:
        """The row's height in points when its text needs more than one line."""
        lines = 0
        for c, limit, width, wrap in self.shown:
            v = values[c] if c < len(values) else None
            if type(v) is str and (len(v) > limit or "\n" in v):
                n = _text_lines(v, width, wrap)
                if n > lines:
                    lines = n
        return _lines_pt(lines) if lines else None

    def cell(self, fills: RowFills, c: int, value: CellValue) -> tuple[str, Any, Format] | None:
        """What to write in a cell that is not plain unfilled text: ("s", text), ("n", number),
        ("d", date or time), ("b", bool) or ("", None) for a formatted blank; None: nothing.
        `fills`: the line's fills by column."""
        rgb = fills.get(c) if fills else None
        unlocked = c in self.editable
        if unlocked and rgb is None:
            rgb = EDITABLE_FILL
        cell = self.formats.cell
        if value is None:
            return ("", None, cell(self.wraps[c], None, rgb, unlocked)) if rgb else None
        if isinstance(value, str):
            return "s", _clean(value), cell(self.wraps[c], None, rgb, unlocked)
        if isinstance(value, bool):
            return "b", value, cell(False, None, rgb, unlocked)
        number_format = self.sheet.number_formats.get(c)
        if isinstance(value, (int, float, Decimal)):
            if math.isfinite(value):
                return "n", float(value), cell(False, number_format, rgb, unlocked)
            return "s", str(value), cell(False, None, rgb, unlocked)
        if isinstance(value, (date, time, timedelta)):
            if isinstance(value, datetime) and value.tzinfo is not None:
                value = value.replace(tzinfo=None)  # Excel has no time zones: keep the wall time
            fmt = number_format or _default_format(value)
            return "d", value, cell(False, fmt, rgb, unlocked)
        # Anything unexpected is shown as its text rather than failing the run.
        return "s", _clean(str(value)), cell(self.wraps[c], None, rgb, unlocked)

    def write(self, ws: Worksheet, first_row: int) -> None:
        """Through XlsxWriter's API (the sheets a chart reads, and the reference for tests)."""
        plain, editable = self.plain, self.editable
        for r, (values, fills) in enumerate(_records(self.sheet)):
            row = first_row + r
            height = self.height(values)
            if height is not None:
                ws.set_row(row, height)
            for c, value in enumerate(values):
                if type(value) is str and c not in editable and not (fills and c in fills):
                    ws.write_string(row, c, _clean(value), plain[c])
                    continue
                found = self.cell(fills, c, value)
                if found is None:
                    continue
                kind, v, fmt = found
                if kind == "s":
                    ws.write_string(row, c, v, fmt)
                elif kind == "n":
                    ws.write_number(row, c, v, fmt)
                elif kind == "d":
                    ws.write_datetime(row, c, v, fmt)
                elif kind == "b":
                    ws.write_boolean(row, c, v, fmt)
                else:
                    ws.write_blank(row, c, None, fmt)

    def rows_xml(self, ws: _FastSheet, first_row: int, *, frozen: bool = False) -> Iterator[str]:
        """The rows' <row> elements, strings in the workbook's shared string table.

        One pass over each line makes its cells and its height. A cell that is not plain text
        (a date, a number, a fill, a formatted blank) is made once per column, value and fill
        and then reused: the plan's deadlines and the controls repeat for every school.
        `frozen`: the shared string table is not added to (the rows are made in a forked copy
        of the process, see _FastSheet.set_rows_xml_aside): a text not in it is written in its
        cell; the uses of the table are counted in `self.uses` instead of the table's count.
        """
        ncols = len(self.widths)
        widths, wraps = self.widths, self.wraps
        letters, text_xf, in_cell, inline, blank = self.xml_parts()
        simple = [c not in self.editable for c in range(ncols)]  # no blank to format either
        # A text longer than this may need a second line (None: a hidden column, not shown).
        limits = [None if c in self.hidden else widths[c] - 2.5 for c in range(ncols)]
        table = ws.str_table
        add = table._get_shared_string_index  # counts the use it is asked for
        strings = table.string_table  # text -> index, XlsxWriter's own
        # A text as given -> its index, -1 for one written in its cell (frozen); cleaned once.
        known: dict[str, int] = {}
        made: list[dict[tuple[type, CellValue, str | None], tuple[str | None, bool]]] = [
            {} for _ in range(ncols)
        ]
        counted = [0]  # uses of the table not yet added to a count

        def index(text: str) -> int:
            """The text's index in the table (-1: frozen, and not in it); the use counted."""
            i = known.get(text)
            if i is None:
                cleaned = _clean(text)
                if frozen:
                    i = known[text] = strings.get(cleaned, -1)
                    if i >= 0:
                        counted[0] += 1
                else:
                    i = known[text] = add(cleaned)  # counted by the table
            elif i >= 0:
                counted[0] += 1
            return i

        def other(fills: RowFills, c: int, value: CellValue) -> tuple[str | None, bool]:
            """A cell that is not plain text: what follows its reference, and whether it is a
            use of the shared string table."""
            found = self.cell(fills, c, value)
            if found is None:
                return None, False
            kind, v, fmt = found
            if frozen and fmt.xf_index is None:
                # A format made in a forked copy would not be in the parent's styles.
                raise _Unprimed(f"столбец {c}: формат не подготовлен")
            xf = fmt._get_xf_index()
            if kind == "s":
                i = index(v)
                if i < 0:
                    own = f'" s="{xf}" t="inlineStr"><is><t xml:space="preserve">'
                    return f"{own}{_xml_text(v)}</t></is></c>", False
                return f'" s="{xf}" t="s"><v>{i}</v></c>', True
            if kind == "n":
                return f'" s="{xf}"><v>{v:.16G}</v></c>', False
            if kind == "d":
                return f'" s="{xf}"><v>{ws._convert_date_time(v):.16G}</v></c>', False
            if kind == "b":
                return f'" s="{xf}" t="b"><v>{int(v)}</v></c>', False
            return f'" s="{xf}"/>', False

        for r, (values, row_fills) in enumerate(_records(self.sheet)):
            n = str(first_row + r + 1)  # once a row, not once a cell
            parts = [""]  # the <row> tag once the height is known
            lines = 0
            for c, value in enumerate(values):
                if type(value) is str:
                    limit = limits[c]
                    if limit is not None and (len(value) > limit or "\n" in value):
                        k = _text_lines(value, widths[c], wraps[c])
                        if k > lines:
                            lines = k
                    if simple[c] and not (row_fills and c in row_fills):
                        own = inline[c]
                        if own is None:
                            i = known.get(value)
                            if i is None:
                                i = index(value)
                            elif i >= 0:
                                counted[0] += 1
                            if i >= 0:
                                parts.append(f"{letters[c]}{n}{text_xf[c]}{i}</v></c>")
                                continue
                            own = in_cell[c]
                        parts.append(f"{letters[c]}{n}{own}{_xml_text(value)}</t></is></c>")
                        continue
                elif value is None and not (row_fills and c in row_fills):
                    if blank[c] is not None:
                        parts.append(f"{letters[c]}{n}{blank[c]}")
                    continue
                rgb = row_fills.get(c) if row_fills else None
                kind = type(value)
                if (kind in _SAME_CELL and not (kind is float and value == 0.0)) or (
                    isinstance(value, datetime) and value.tzinfo is None
                ):  # (0.0 and -0.0 are equal keys, written apart)
                    key = (kind, value, rgb)
                    got = made[c].get(key)
                    if got is None:
                        got = other(row_fills, c, value)
                        if len(made[c]) < _MADE_PER_COLUMN:
                            made[c][key] = got
                    elif got[1]:
                        counted[0] += 1
                else:
                    got = other(row_fills, c, value)
                if got[0] is not None:
                    parts.append(f"{letters[c]}{n}{got[0]}")
            if frozen:
                self.uses += counted[0]
            else:
                table.count += counted[0]
            counted[0] = 0
            parts[0] = (
                f'<row r="{n}" ht="{_row_ht(lines)}" customHeight="1">'
                if lines
                else f'<row r="{n}">'
            )
            parts.append("</row>")
            yield "".join(parts)

    def xml_parts(
        self,
    ) -> tuple[list[str], list[str], list[str], list[str | None], list[str | None]]:
        """Per column: the cell reference's start; what follows a plain text cell's number
        (then the string's index) and an in-cell text's (then the text); the in-cell start
        for the hidden column (its line's key, repeated by no other cell: not in the shared
        strings, which grow with every text) and an empty editable cell's rest. Made once:
        their formats get their numbers here, before any rows are made aside."""
        if self._xml_parts is None:
            ncols = len(self.widths)
            letters = [f'<c r="{xl_col_to_name(c)}' for c in range(ncols)]
            text_xf = [f'" s="{f._get_xf_index()}" t="s"><v>' for f in self.plain]
            in_cell = [
                f'" s="{f._get_xf_index()}" t="inlineStr"><is><t xml:space="preserve">'
                for f in self.plain
            ]
            inline = [in_cell[c] if c in self.hidden else None for c in range(ncols)]
            blank: list[str | None] = [None] * ncols
            for c in self.editable:
                fmt = self.formats.cell(self.wraps[c], None, EDITABLE_FILL, unlocked=True)
                blank[c] = f'" s="{fmt._get_xf_index()}"/>'
            self._xml_parts = (letters, text_xf, in_cell, inline, blank)
        return self._xml_parts

    def prime(self, styles: Styles) -> None:
        """Make and number every format the rows will use (a value of each kind of cell,
        from _layout), so that rows made in a forked copy need no new one."""
        self.xml_parts()
        for (c, rgb, _kind, _finite), value in styles.items():
            found = self.cell({c: rgb} if rgb else None, c, value)
            if found is not None:
                found[2]._get_xf_index()

    def seed(self, ws: _FastSheet, lines: int) -> None:
        """Put the texts of the first `lines` lines in the shared string table (uses not
        counted): the texts every school repeats (the plan's) are there before the rows are
        made with the table frozen."""
        table = ws.str_table
        before, hidden = table.count, self.hidden
        for r, values in enumerate(self.sheet.rows):
            if r >= lines:
                break
            for c, value in enumerate(values):
                if type(value) is str and c not in hidden:
                    table._get_shared_string_index(_clean(value))
        table.count = before


# Cells of these types with the same value and fill are written alike: made once per column
# (an aware datetime is not among them: equal instants may show different wall times).
_SAME_CELL = frozenset({str, int, float, bool, date, type(None)})
_MADE_PER_COLUMN = 4096  # distinct values remembered a column: the memory stays small


class _FastSheet(Worksheet):  # type: ignore[misc]  # XlsxWriter's classes are untyped
    """An XlsxWriter worksheet whose data rows come as ready XML (see _Table.rows_xml).

    XlsxWriter writes everything else (title rows, formats, print setup, validation, filter);
    the rows go to a temporary file as they are made, so memory stays flat.
    """

    def __init__(self) -> None:
        super().__init__()
        self._rows_file: IO[str] | None = None
        self._rows_from = 0
        self._rows: Sequence[list[CellValue]] = ()
        # Rows being made in a forked copy: its pid, the pipe it answers on, what to redo.
        self._aside: tuple[int, int, _Table, int, int] | None = None

    def set_rows_xml_aside(
        self,
        first_row: int,
        table: _Table,
        last_col: int,
        values: Sequence[list[CellValue]],
        styles: Styles,
    ) -> bool:
        """Make the rows in a forked copy of this process, into this sheet's rows file, while
        the caller writes the next sheets; `finish_aside` waits for them. The copy adds
        nothing to the shared string table (the parent goes on adding to it): the texts of
        the first lines are put there first (the plan's, repeated by every school), any other
        text is written in its cell. False where a copy cannot be forked safely (not Linux,
        another thread running: it could hold a lock the copy needs): nothing was done."""
        from sync.backends.isolated import fork_safe  # the readers' own test, one for all

        if not fork_safe():
            return False
        table.prime(styles)
        table.seed(self, SEED_LINES)
        rows_file = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115
        read, write = os.pipe()
        try:
            pid = os.fork()
        except OSError:
            os.close(read)
            os.close(write)
            rows_file.close()
            return False
        if pid == 0:  # the copy: never returns
            _make_rows_and_exit(table, self, first_row, rows_file.fileno(), read, write)
        os.close(write)
        self._rows_file, self._rows_from, self._rows = rows_file, first_row, values
        self._aside = (pid, read, table, first_row, last_col)
        self._check_dimensions(first_row + len(values) - 1, last_col)
        return True

    def finish_aside(self) -> None:
        """Wait for the rows made aside; if the copy failed (or took more than ASIDE_SECONDS:
        it is stopped), make them here after all."""
        if self._aside is None:
            return
        pid, read, table, first_row, last_col = self._aside
        said = _answer(read, ASIDE_SECONDS)
        status = _reap(pid, stop=said is None)
        self._aside = None
        if status == 0 and said is not None and said.isdigit():
            self.str_table.count += int(said)
            return
        if self._rows_file is not None:
            self._rows_file.close()
        self._write_rows_xml(first_row, table.rows_xml(self, first_row), last_col)

    def drop_aside(self) -> None:
        """Stop the copy making rows aside, if any, and wait for it (the write is abandoned)."""
        if self._aside is None:
            return
        pid, read = self._aside[:2]
        self._aside = None
        with contextlib.suppress(OSError):
            os.close(read)
        _reap(pid, stop=True)

    def set_rows_xml(
        self, first_row: int, rows: Iterator[str], last_col: int, values: Sequence[list[CellValue]]
    ) -> None:
        self._rows = values  # what a chart on another sheet reads (_get_range_data)
        self._write_rows_xml(first_row, rows, last_col)

    def _get_range_data(self, row_start: int, col_start: int, row_end: int, col_end: int) -> Any:
        """A chart's cached values from our rows, as XlsxWriter gives them from its own cells:
        numbers as text with Excel's precision, strings as they are, None for a missing cell."""
        if row_start < self._rows_from or not self._rows:
            return super()._get_range_data(row_start, col_start, row_end, col_end)
        data: list[str | None] = []
        for i, values in enumerate(self._rows):
            if self._rows_from + i < row_start:
                continue
            if self._rows_from + i > row_end:
                break
            for c in range(col_start, col_end + 1):
                v = values[c] if c < len(values) else None
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    data.append(f"{float(v):.16g}")
                elif isinstance(v, str):
                    data.append(_clean(v))
                else:
                    data.append(None)
        return data

    def _write_rows_xml(self, first_row: int, rows: Iterator[str], last_col: int) -> None:
        self._rows_from = first_row
        # Closed once copied into the sheet's XML (_write_sheet_data), or when collected.
        self._rows_file = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115
        count = 0
        chunk: list[str] = []
        for row in rows:
            chunk.append(row)
            count += 1
            if len(chunk) >= 1000:
                self._rows_file.write("".join(chunk))
                chunk.clear()
        self._rows_file.write("".join(chunk))
        self._check_dimensions(first_row + count - 1, last_col)  # the <dimension> covers them

    def _write_sheet_data(self) -> None:
        if self._rows_file is None:
            super()._write_sheet_data()
            return
        self._xml_start_tag("sheetData")
        # XlsxWriter writes its own rows (title, legend, header), then ours follow.
        last = getattr(self, "dim_rowmax")  # noqa: B009  # untyped in XlsxWriter
        setattr(self, "dim_rowmax", self._rows_from - 1)  # noqa: B010
        if self.dim_rowmin is not None and self.dim_rowmin < self._rows_from:
            self._write_rows()
        setattr(self, "dim_rowmax", last)  # noqa: B010
        self._rows_file.seek(0)
        shutil.copyfileobj(self._rows_file, self.fh)
        self._rows_file.close()
        self._rows_file = None
        self._xml_end_tag("sheetData")


class _Unprimed(Exception):
    """A cell needs a format that was not made before the fork (the parent redoes the rows)."""


ASIDE_LINES = 4000  # a sheet this long has its rows made beside the others (see _write)
ASIDE_SECONDS = 300.0  # a copy that has not made them by then is stopped (they are made here)
SEED_LINES = 600  # lines whose texts go to the shared strings before rows are made aside


def _make_rows_and_exit(
    table: _Table, ws: _FastSheet, first_row: int, out: int, read: int, write: int
) -> NoReturn:
    """In the forked copy: the rows into `out`, the uses of the shared strings to `write`."""
    code = 1
    try:
        gc.disable()  # nothing of the parent's is finalized here
        # The run's handlers are the parent's: Ctrl+C is the parent's to act on (it stops
        # this copy), SIGTERM and SIGHUP end the copy (the parent then makes the rows), and
        # nothing is logged from here (the log files are the parent's).
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGHUP, signal.SIG_DFL)
        logging.disable(logging.CRITICAL)
        os.close(read)
        chunk: list[str] = []
        for row in table.rows_xml(ws, first_row, frozen=True):
            chunk.append(row)
            if len(chunk) >= 1000:
                write_all(out, "".join(chunk).encode("utf-8"))
                chunk.clear()
        write_all(out, "".join(chunk).encode("utf-8"))
        write_all(write, str(table.uses).encode())
        code = 0
    except BaseException:  # the parent makes the rows itself
        pass
    finally:
        os._exit(code)


def _answer(read: int, seconds: float) -> bytes | None:
    """What the copy wrote to its pipe by the time it closed it; None if it did not within
    `seconds` (the pipe is closed either way)."""
    deadline = time_now() + seconds
    got = bytearray()
    poller = select.poll()  # not select.select: a long-lived service may hold fds past 1024
    poller.register(read, select.POLLIN | select.POLLHUP)
    try:
        while True:
            left = deadline - time_now()
            if left <= 0 or not poller.poll(left * 1000):
                return None
            part = os.read(read, 4096)
            if not part:
                return bytes(got)
            got += part
    except OSError:
        return None
    finally:
        with contextlib.suppress(OSError):
            os.close(read)


def _reap(pid: int, *, stop: bool) -> int | None:
    """Wait for a forked copy (killed first when `stop`): its wait status, None if unknown."""
    if stop:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    try:
        return os.waitpid(pid, 0)[1]
    except ChildProcessError:
        return None


def _dropdown(
    ws: Worksheet, first: int, last: int, col: int, choices: tuple[str, ...], title: str
) -> None:
    """A list of the choices on an editable column's data cells (() = free text: none)."""
    if not choices:
        return
    listed = ", ".join(f"«{c}»" for c in choices)
    ws.data_validation(
        first,
        col,
        last,
        col,
        {
            "validate": "list",
            "source": list(choices),
            "ignore_blank": True,
            "error_type": "stop",
            "error_title": title[:32],
            "error_message": f"Выберите из списка: {listed} (или оставьте пустым).",
        },
    )


@lru_cache(maxsize=16384)  # school names, activities and statuses repeat thousands of times
def _clean(text: str) -> str:
    return _cut(text)


def _cut(text: str) -> str:
    """A cell's text without the characters XML cannot hold, within Excel's length."""
    text = _NOT_XML.sub("", text)
    if len(text) > MAX_CELL_CHARS:
        text = text[: MAX_CELL_CHARS - 1] + "…"
    return text


def _xml_text(text: str) -> str:
    """A text as the content of an XML element, cleaned and cut as every cell's text is (not
    cached: the texts written in their cells are mostly each line's own)."""
    return escape(_cut(text))


def _default_format(value: object) -> str:
    if isinstance(value, datetime):
        return DATETIME_FORMAT
    if isinstance(value, date):
        return DATE_FORMAT
    if isinstance(value, time):
        return "HH:MM"
    return "[h]:mm"


def _legend(
    ws: Worksheet, legend: list[tuple[str | None, str]], widths: list[float], formats: _Formats
) -> None:
    """Row 3: each colour in a cell of that colour saying what it means.

    Entries share the given columns (merged where one needs several). When they do not all fit,
    the legend is one text across the columns instead, a square of each colour before its
    meaning («■ Просрочено»), wrapped.
    """
    if not legend:
        return
    row = HEADER_ROW - 2
    # «Цвета:» heads the row unless the first column is a wide one it would waste.
    label = [(None, "Цвета:")] if widths and widths[0] <= 15 else []
    entries: list[tuple[str | None, str]] = [*label, *legend]
    spans: list[tuple[int, int, str | None, str]] = []
    rest: list[tuple[str | None, str]] = []
    col = 0
    for i, (rgb, text) in enumerate(entries):
        needed = len(text) * 1.05 + 2.5
        first, room = col, 0.0
        while room < needed and col < len(widths):
            room += widths[col]
            col += 1
        if room < needed:  # does not fit: this one and the rest share the leftover cell
            col = first
            if col == len(widths) and spans:
                col = spans[-1][0]
                rest.append(entries[i - 1])
                spans.pop()
            rest += entries[i:]
            break
        spans.append((first, col - 1, rgb, text))
    if rest:  # not every colour gets a cell of its own: the whole legend as one line of text
        spans, col = [], 0
        rest = [(None, "Цвета:"), *legend]
    lines = 1
    for first, last, rgb, text in spans:
        lines = max(lines, wrapped_lines(text, sum(widths[first : last + 1])))
        fmt = formats.legend(rgb)
        if last > first:
            ws.merge_range(row, first, row, last, _clean(text), fmt)
        else:
            ws.write_string(row, first, _clean(text), fmt)
    if rest:
        last = max(col, len(widths) - 1)
        parts: list[Any] = []
        plain = formats.legend(None)
        for rgb, text in rest:
            if rgb:
                parts += [formats.swatch(rgb), "■ ", plain, f"{text}   "]
            else:
                parts += [plain, f"{text}   "]
        flat = "".join(p for p in parts if isinstance(p, str)).strip()
        if last > col:
            ws.merge_range(row, col, row, last, "", plain)
        if len(parts) > 2:
            ws.write_rich_string(row, col, *parts, plain)
        else:  # plain notes only
            ws.write_string(row, col, flat, plain)
        lines = max(lines, wrapped_lines(flat, sum(widths[col : last + 1]) or 12.0))
    ws.set_row(row, min(MAX_ROW_PT, lines * LINE_PT + 4))


def _header_text(text: str) -> str:
    return text.replace("&", "&&")


def _print_setup(
    ws: Worksheet, sheet: MasterSheet, master: Master, widths: list[float], head: int
) -> int:
    """A4 landscape, header row on every page, title and page numbers, a readable scale.

    Returns how many columns the first printed page holds.
    """
    ws.set_paper(9)
    ws.set_landscape()
    ws.set_margins(left=0.4, right=0.4, top=0.75, bottom=0.6)
    ws.repeat_rows(head)
    title = _header_text(master.title)[:150]
    ws.set_header(f'&L&"{FONT},Bold"&9{title}&R&"{FONT},Regular"&9&A', {"margin": 0.3})
    footer = _header_text(master.subtitle)[:150]
    ws.set_footer(
        f'&L&"{FONT},Regular"&8{footer}&R&"{FONT},Regular"&9Страница &P из &N', {"margin": 0.3}
    )
    total_pt = sum(_px(w) for w in widths) * 0.75
    scale = PRINTABLE_PT / total_pt
    if scale >= 1:
        return len(widths)
    if scale * FONT_SIZE >= MIN_PRINT_PT:
        ws.fit_to_pages(1, 0)
        return len(widths)
    # Too wide to fit one page at a readable size: 8 pt, as many pages across as it takes,
    # with the first columns (school, activity) repeated on each.
    factor = MIN_PRINT_PT / FONT_SIZE
    ws.set_print_scale(int(100 * factor))
    # Each page across repeats the first columns (at least the frozen ones, and enough to say
    # which school or activity a row is); the title block stays inside them.
    repeat = sheet.frozen_columns
    while repeat and sum(widths[:repeat]) < REPEAT_AT_LEAST and repeat < len(widths):
        repeat += 1
    if repeat and sum(_px(w) for w in widths[:repeat]) * 0.75 * factor < PRINTABLE_PT * 0.6:
        ws.repeat_columns(0, repeat - 1)
        return repeat
    used, fits = 0.0, 0
    for width in widths:
        used += _px(width) * 0.75 * factor
        if used > PRINTABLE_PT:
            break
        fits += 1
    return max(1, fits)


def _add_chart(
    wb: xlsxwriter.Workbook,
    ws: Worksheet,
    sheet: MasterSheet,
    sheets: dict[str, MasterSheet],
    below_row: int,
    widths: list[float],
) -> None:
    """Below the table, a horizontal bar chart of another sheet's chart column by its first
    column (on «Обзор»: «% выполнения» of «Школы»), every school labelled."""
    source = sheets.get(sheet.chart_of or "")
    if source is None or not source.rows or source.chart_column is None:
        return
    col = source.chart_column
    n = len(source.rows)
    name = _sheet_name(source.name).replace("'", "''")
    first, last = HEADER_ROW, HEADER_ROW + n - 1
    chart = wb.add_chart({"type": "bar"})
    chart.add_series(
        {
            "name": source.headers[col],
            "categories": [name, first, 0, last, 0],
            "values": [name, first, col, last, col],
            "fill": {"color": DATA_BAR},
            "data_labels": {"value": True, "num_format": "0%"},
            "gap": 60,
        }
    )
    fmt = source.number_formats.get(col)
    axis: dict[str, Any] = {"num_font": {"name": FONT, "size": 8}}
    if fmt:
        axis["num_format"] = fmt
    if fmt and fmt.endswith("%"):
        axis.update(min=0, max=1, major_unit=0.1)
    chart.set_x_axis(axis)
    # Schools top to bottom as in the table, each one labelled (interval 1).
    chart.set_y_axis({"reverse": True, "interval_unit": 1, "num_font": {"name": FONT, "size": 8}})
    chart.set_title({"name": source.headers[col], "name_font": {"name": FONT, "size": 11}})
    chart.set_legend({"none": True})
    chart.set_chartarea({"border": {"none": True}})
    width_px = max(480, min(900, sum(_px(w) for w in widths)))
    chart.set_size({"width": width_px, "height": min(40 + CHART_ROW_PX * n + 60, 30000)})
    ws.insert_chart(below_row, 0, chart)
