"""Google Sheets batchUpdate requests: the shared constants and conversions (pure).

The builders are `school` (a school's spreadsheet), `paint` (what the sync writes
back) and `master` (the master).

Everything here takes data and returns request dicts for `spreadsheets.batchUpdate` (and value
ranges for `values.batchUpdate`); nothing talks to Google. The school spreadsheet is the same
workbook `sync.builders.school_xlsx` builds: the same sheets, columns, dropdowns, colours,
protection and service sheet, expressed in the Sheets API's terms.

Formulas in validation and conditional formatting use the API's own syntax (English function
names, commas between arguments) whatever the spreadsheet's locale; people see them localised.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime, time, timedelta
from typing import Any

from sync.cells import EXCEL_EPOCH
from sync.model import CellValue

Request = dict[str, Any]

# Sheet ids of a school spreadsheet. The main sheet keeps the id of the sheet every new spreadsheet
# starts with (0), so its link needs no "#gid"; the others get small fixed ids.
MAIN_SHEET_ID = 0
PASSPORT_SHEET_ID = 1
INSTRUCTIONS_SHEET_ID = 2
META_SHEET_ID = 3

MASTER_HEADER_FILL = "D9D9D9"  # as the master workbook's header
BORDER_COLOUR = "BFBFBF"
DATE_PATTERN = "dd.mm.yyyy"
DATETIME_PATTERN = "dd.mm.yyyy hh:mm"
# Developer metadata keys: who a spreadsheet belongs to, readable without opening its sheets.
METADATA_PREFIX = "roadmap_sync."
NOTE_SEPARATOR = "\n\n"
MAX_CELL_CHARS = 50000  # Sheets' limit for one cell
WRAP_FROM_WIDTH = 20  # master columns at least this wide hold long text: wrap it


# --- small conversions ---------------------------------------------------------------------


def rgb(hex_colour: str) -> dict[str, float]:
    """RRGGBB -> a Sheets Color; zero components are left out, as Google answers them.

    >>> rgb("FF8000")
    {'red': 1.0, 'green': 0.50196}
    """
    parts = {
        "red": int(hex_colour[0:2], 16),
        "green": int(hex_colour[2:4], 16),
        "blue": int(hex_colour[4:6], 16),
    }
    return {k: round(v / 255, 5) for k, v in parts.items() if v}


def hex_of(colour: Mapping[str, Any] | None) -> str | None:
    """A Sheets Color -> RRGGBB; None for no colour and for white (the sheet's own background).

    >>> hex_of({"red": 1, "green": 0.5019608}), hex_of({"red": 1, "green": 1, "blue": 1})
    ('FF8000', None)
    """
    if not colour:
        return None
    parts = [round(float(colour.get(k, 0.0)) * 255) for k in ("red", "green", "blue")]
    text = "".join(f"{min(255, max(0, p)):02X}" for p in parts)
    return None if text == "FFFFFF" else text


def width_px(width: float) -> int:
    """Excel's column width (characters) -> pixels, as Excel itself converts it.

    >>> width_px(12)
    89
    """
    return round(width * 7 + 5)


def height_px(points: float) -> int:
    """Row height in points -> pixels (96 dpi).

    >>> height_px(15)
    20
    """
    return round(points * 96 / 72)


def serial(value: date | datetime) -> float:
    """A date (or a local date-time) as a spreadsheet serial number: days since 1899-12-30.

    >>> serial(date(2021, 10, 5)), serial(datetime(2021, 10, 5, 12, 0))
    (44474.0, 44474.5)
    """
    if isinstance(value, datetime):
        naive = value.replace(tzinfo=None)
        delta = naive - datetime.combine(EXCEL_EPOCH, time())
        return round(delta / timedelta(days=1), 8)
    return float((value - EXCEL_EPOCH).days)


def grid_range(
    sheet_id: int, row0: int, row1: int, col0: int | None = None, col1: int | None = None
) -> dict[str, int]:
    """A GridRange: 0-based, end exclusive; columns left out mean every column."""
    out = {"sheetId": sheet_id, "startRowIndex": row0, "endRowIndex": row1}
    if col0 is not None and col1 is not None:
        out |= {"startColumnIndex": col0, "endColumnIndex": col1}
    return out


def cell_range(sheet_id: int, row: int, col: int, rows: int = 1, cols: int = 1) -> dict[str, int]:
    """A GridRange from a 1-based top-left cell and a size."""
    return grid_range(sheet_id, row - 1, row - 1 + rows, col - 1, col - 1 + cols)


def text_cell(value: str, **fmt: Any) -> dict[str, Any]:
    """A cell holding text as text: a leading "=" never makes it a formula."""
    cell: dict[str, Any] = {"userEnteredValue": {"stringValue": value[:MAX_CELL_CHARS]}}
    if fmt:
        cell["userEnteredFormat"] = fmt
    return cell


def value_cell(value: CellValue) -> dict[str, Any]:
    """Any cell value as a literal (RAW) value: text stays text, dates become serial numbers."""
    if value is None or value == "":
        return {}
    if isinstance(value, bool):
        return {"userEnteredValue": {"boolValue": value}}
    if isinstance(value, int | float):
        return {"userEnteredValue": {"numberValue": value}}
    if isinstance(value, datetime | date):
        return {"userEnteredValue": {"numberValue": serial(value)}}
    return text_cell(str(value))


def raw_value(value: CellValue) -> str | int | float | bool:
    """A value for values.batchUpdate with valueInputOption RAW (no parsing of any kind)."""
    if value is None:
        return ""
    if isinstance(value, bool | int | float):
        return value
    if isinstance(value, datetime | date):
        return serial(value)
    if isinstance(value, time):
        return round((value.hour * 3600 + value.minute * 60 + value.second) / 86400, 8)
    if isinstance(value, timedelta):
        return round(value / timedelta(days=1), 8)
    return str(value)[:MAX_CELL_CHARS]


def quote_sheet(title: str) -> str:
    """A sheet title for an A1 range: always quoted, inner quotes doubled.

    >>> quote_sheet("Свод"), quote_sheet("It's")
    ("'Свод'", "'It''s'")
    """
    return "'" + title.replace("'", "''") + "'"


_BORDER = {"style": "SOLID", "colorStyle": {"rgbColor": rgb(BORDER_COLOUR)}}
BORDERS = {side: _BORDER for side in ("top", "bottom", "left", "right")}


def repeat_format(range_: dict[str, int], fmt: dict[str, Any], fields: str) -> Request:
    """One repeatCell request that sets the given format fields over a range."""
    return {"repeatCell": {"range": range_, "cell": {"userEnteredFormat": fmt}, "fields": fields}}


def _dimension(sid: int, dimension: str, start: int, end: int, pixels: int) -> Request:
    return {
        "updateDimensionProperties": {
            "range": {
                "sheetId": sid,
                "dimension": dimension,
                "startIndex": start,
                "endIndex": end,
            },
            "properties": {"pixelSize": pixels},
            "fields": "pixelSize",
        }
    }


def _format_fields(fmt: Mapping[str, Any]) -> str:
    return ",".join(f"userEnteredFormat.{k}" for k in fmt)


def _runs(indexes: Iterable[int]) -> list[tuple[int, int]]:
    """Consecutive runs of sorted integers as (first, last) pairs.

    >>> _runs([1, 2, 3, 7, 9, 10])
    [(1, 3), (7, 7), (9, 10)]
    """
    out: list[tuple[int, int]] = []
    for i in sorted(indexes):
        if out and i == out[-1][1] + 1:
            out[-1] = (out[-1][0], i)
        else:
            out.append((i, i))
    return out
