"""A Sheets `spreadsheets.get` answer -> the grids the core reads, as the folder backend gives them.

The reader and validation see the same values whatever the storage: every sheet as a rectangular
grid from A1 to the last cell holding a value, "" for an empty cell, numbers as floats, and cells
shown as dates (Sheets keeps them as serial numbers) as `date`/`datetime`/`time`, as calamine
returns them from an xlsx. Pure: no network.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sync.builders.google.common import hex_of
from sync.builders.google.paint import is_ours, main_title_for
from sync.cells import EXCEL_EPOCH, a1
from sync.model import CellValue
from sync.paint import Paint, Shown
from sync.review import MARK_HEADER
from sync.spec import normalize_header

# What one read asks for: every sheet's values, date formats, fills and notes, and who the
# spreadsheet belongs to. One spreadsheets.get with this mask is the whole read of a school.
READ_FIELDS = (
    "spreadsheetId,"
    "developerMetadata(metadataKey,metadataValue),"
    "sheets(properties(sheetId,title,index,hidden),"
    "data(startRow,startColumn,rowData(values("
    "effectiveValue,effectiveFormat/numberFormat/type,userEnteredFormat/backgroundColor,note"
    "))))"
)
# The same for the spreadsheet that a batchUpdate returns after applying a write.
UPDATED_FIELDS = f"spreadsheetId,updatedSpreadsheet({READ_FIELDS.removeprefix('spreadsheetId,')})"

_ERRORS = {
    "ERROR": "#ERROR!",
    "NULL_VALUE": "#NULL!",
    "DIVIDE_BY_ZERO": "#DIV/0!",
    "VALUE": "#VALUE!",
    "REF": "#REF!",
    "NAME": "#NAME?",
    "NUM": "#NUM!",
    "N_A": "#N/A",
    "LOADING": "#LOADING",
}
_EPOCH = datetime.combine(EXCEL_EPOCH, time())


def from_serial(number: float, kind: str) -> CellValue:
    """A serial number shown as a date, date-time or time -> the Python value calamine gives.

    >>> from_serial(44474, "DATE"), from_serial(44474.5, "DATE_TIME"), from_serial(0.75, "TIME")
    (datetime.date(2021, 10, 5), datetime.datetime(2021, 10, 5, 12, 0), datetime.time(18, 0))
    """
    moment = _EPOCH + timedelta(seconds=round(number * 86400))
    if kind == "DATE" and moment.time() == time():
        return moment.date()
    if kind == "TIME":
        return moment.time()
    return moment


def cell_value(cell: Mapping[str, Any]) -> CellValue:
    """One CellData's effective value as the core sees cell values ("" when empty)."""
    value = cell.get("effectiveValue")
    if not value:
        return ""
    if "stringValue" in value:
        return str(value["stringValue"])
    if "boolValue" in value:
        return bool(value["boolValue"])
    if "numberValue" in value:
        number = float(value["numberValue"])
        kind = cell.get("effectiveFormat", {}).get("numberFormat", {}).get("type", "")
        if kind in ("DATE", "DATE_TIME", "TIME"):
            try:
                return from_serial(number, kind)
            except (OverflowError, ValueError):
                return number
        return number
    if "errorValue" in value:
        return _ERRORS.get(str(value["errorValue"].get("type", "")), "#ERROR!")
    if "formulaValue" in value:  # never effective, but keep it readable if it comes
        return str(value["formulaValue"])
    return ""


@dataclass
class SheetData:
    """One sheet as read: its id and title, the value grid, notes and fills by cell."""

    sheet_id: int
    title: str
    hidden: bool
    grid: list[list[CellValue]]
    notes: dict[str, str] = field(default_factory=dict)  # A1 -> note
    fills: dict[tuple[int, int], str] = field(default_factory=dict)  # (row, col) 1-based -> hex


@dataclass
class ReadSpreadsheet:
    """A school spreadsheet as one read (or a write's answer) showed it."""

    spreadsheet_id: str
    sheets: list[SheetData]
    metadata: dict[str, str]

    @property
    def values(self) -> dict[str, list[list[CellValue]]]:
        """Sheet title -> grid: what RawWorkbook.sheets holds."""
        return {s.title: s.grid for s in self.sheets}

    @property
    def sheet_ids(self) -> dict[str, int]:
        return {s.title: s.sheet_id for s in self.sheets}

    def fingerprint(self) -> str:
        """A content hash of every value (not notes or colours): tells an unchanged school."""
        return content_hash(self.values)

    def masked_hash(self, main_title: str, control_col: int | None, header_row: int) -> str:
        """The content hash without the Контроль and «Отметка МОУО» cells below the header, with
        every note that is not ours: what the school typed.

        Comparing it before and after our write tells whether anyone else changed the
        spreadsheet in between (our write changes only those cells, our notes and colours).
        """
        sheets: dict[str, list[list[CellValue]]] = {}
        for s in self.sheets:
            grid = s.grid
            ours = {control_col} if control_col else set()
            review = review_column(s.grid, header_row) if s.title == main_title else None
            if review:
                ours.add(review)
            if ours:
                grid = [
                    [v for c, v in enumerate(line, start=1) if c not in ours]
                    if r > header_row
                    else list(line)
                    for r, line in enumerate(s.grid, start=1)
                ]
                # Trailing empty rows and cells vary with what the control column held.
                grid = _trim(grid)
            sheets[s.title] = grid
        # Notes are the school's too: any note not ours counts, wherever it is.
        notes: list[list[CellValue]] = [
            [s.title, ref, text]
            for s in self.sheets
            for ref, text in sorted(s.notes.items())
            if not is_ours(text)
        ]
        sheets["\x00notes"] = notes
        return content_hash(sheets)

    def shown(self, paint: Paint) -> Shown:
        """What the sync's own cells show now, for the main sheet the paint goes to."""
        titles = [s.title for s in self.sheets]
        main_title = main_title_for(paint.main_sheet, titles)
        controls: dict[int, tuple[str, str | None]] = {}
        col = paint.control_col
        notes = {(s.title, ref): text for s in self.sheets for ref, text in s.notes.items()}
        if col:
            main = next(s for s in self.sheets if s.title == main_title)
            rows = {r for r, _ in paint.controls} | {
                r for r in range(paint.header_row + 1, len(main.grid) + 1)
            }
            for r in rows:
                line = main.grid[r - 1] if r - 1 < len(main.grid) else []
                value = line[col - 1] if col - 1 < len(line) else ""
                fill = main.fills.get((r, col))
                if value != "" or fill:
                    controls[r] = (str(value), fill)
        review_col, reviews = None, {}
        main_data = next((s for s in self.sheets if s.title == main_title), None)
        if paint.review_col and main_data is not None:
            header = paint.review_header or MARK_HEADER
            if review_column(main_data.grid, paint.header_row, header) == paint.review_col:
                review_col = paint.review_col
                for r, line in enumerate(main_data.grid, start=1):
                    value = line[review_col - 1] if review_col - 1 < len(line) else ""
                    if r > paint.header_row and value != "":
                        reviews[r] = str(value)
        return Shown(main_title, col, controls, notes, review_col, reviews)


def review_column(
    grid: Sequence[Sequence[CellValue]], header_row: int, header: str = MARK_HEADER
) -> int | None:
    """The 1-based column headed «Отметка МОУО» in the header row (the template's; protected
    from the school like Контроль), None when there is none."""
    if not 0 < header_row <= len(grid):
        return None
    want = normalize_header(header)
    for c, value in enumerate(grid[header_row - 1], start=1):
        if normalize_header(str(value)) == want:
            return c
    return None


def _trim(grid: list[list[CellValue]]) -> list[list[CellValue]]:
    lines = [list(line) for line in grid]
    for line in lines:
        while line and line[-1] == "":
            line.pop()
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _encode(value: CellValue) -> Any:
    if isinstance(value, datetime | date | time):
        return {"$": value.isoformat()}
    if isinstance(value, timedelta):
        return {"$td": value.total_seconds()}
    return value


def content_hash(sheets: Mapping[str, Sequence[Sequence[CellValue]]]) -> str:
    """sha256 of the grids in a canonical JSON: the same values give the same hash."""
    blob = json.dumps(
        [
            [title, [[_encode(v) for v in line] for line in _trim([list(g) for g in grid])]]
            for title, grid in sheets.items()
        ],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def parse_spreadsheet(answer: Mapping[str, Any]) -> ReadSpreadsheet:
    """Parse a spreadsheets.get answer (or a batchUpdate's updatedSpreadsheet) of READ_FIELDS.

    Google leaves out zero and empty values (a sheetId of 0, a startRow of 0, empty cells) and
    trailing empty rows and cells: every one of those is accepted here.
    """
    sheets: list[SheetData] = []
    ordered = sorted(
        answer.get("sheets", []), key=lambda s: int(s.get("properties", {}).get("index", 0))
    )
    for sheet in ordered:
        props = sheet.get("properties", {})
        cells: dict[tuple[int, int], CellValue] = {}
        notes: dict[str, str] = {}
        fills: dict[tuple[int, int], str] = {}
        for data in sheet.get("data", []):
            row0, col0 = int(data.get("startRow", 0)), int(data.get("startColumn", 0))
            for r, row in enumerate(data.get("rowData", []), start=row0 + 1):
                for c, cell in enumerate(row.get("values", []), start=col0 + 1):
                    value = cell_value(cell)
                    if value != "":
                        cells[(r, c)] = value
                    if cell.get("note"):
                        notes[a1(r, c)] = str(cell["note"])
                    colour = hex_of(cell.get("userEnteredFormat", {}).get("backgroundColor"))
                    if colour:
                        fills[(r, c)] = colour
        height = max((r for r, _ in cells), default=0)
        width = max((c for _, c in cells), default=0)
        grid: list[list[CellValue]] = [[""] * width for _ in range(height)]
        for (r, c), value in cells.items():
            grid[r - 1][c - 1] = value
        sheets.append(
            SheetData(
                sheet_id=int(props.get("sheetId", 0)),
                title=str(props.get("title", "")),
                hidden=bool(props.get("hidden", False)),
                grid=grid,
                notes=notes,
                fills=fills,
            )
        )
    metadata = {
        str(m.get("metadataKey", "")): str(m.get("metadataValue", ""))
        for m in answer.get("developerMetadata", [])
    }
    return ReadSpreadsheet(str(answer.get("spreadsheetId", "")), sheets, metadata)
