"""Google Sheets batchUpdate requests from the template spec, a paint and a master (pure).

Everything here takes data and returns request dicts for `spreadsheets.batchUpdate` (and value
ranges for `values.batchUpdate`); nothing talks to Google. The school spreadsheet is the same
workbook `sync.builders.school_xlsx` builds: the same sheets, columns, dropdowns, colours,
protection and service sheet, expressed in the Sheets API's terms.

Formulas in validation and conditional formatting use the API's own syntax (English function
names, commas between arguments) whatever the spreadsheet's locale; people see them localised.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sync.builders.school_xlsx import (
    EXTRA_ROWS,
    HEADER_FILL,
    PLAN_FILL,
    meta_values,
    row_height,
)
from sync.cells import EXCEL_EPOCH, a1, column_letter, parse_a1
from sync.consolidate import Master, MasterSheet
from sync.model import CellValue, Plan, PlanItem, School
from sync.paint import Paint
from sync.plan import plan_values
from sync.spec import TemplateSpec, normalize_header

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
# Our part of a cell note starts with this line, so that the next sync can tell it from the
# school's own note in the same cell (Sheets keeps no author for a note).
NOTE_MARK = "— Проверка roadmap-sync —"
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


# --- the school spreadsheet ----------------------------------------------------------------


@dataclass(frozen=True)
class SchoolLayout:
    """Where things are in a freshly built school spreadsheet."""

    items: int  # plan rows
    last_row: int  # the table's last row (1-based): plan rows and empty rows for own activities
    columns: int


def school_layout(spec: TemplateSpec, plan: Plan, school: School) -> SchoolLayout:
    """The size of a school's main sheet for this plan."""
    items = len(plan.for_audience(school.audience))
    return SchoolLayout(items, 1 + items + EXTRA_ROWS, len(spec.columns))


def school_metadata(
    spec: TemplateSpec, school: School, plan: Plan, built_at: datetime
) -> dict[str, str]:
    """Developer metadata of a school spreadsheet: the service sheet's values, prefixed keys."""
    return {METADATA_PREFIX + k: v for k, v in meta_values(spec, school, plan, built_at)}


def school_requests(
    spec: TemplateSpec,
    plan: Plan,
    school: School,
    *,
    built_at: datetime,
    editors: Sequence[str],
    timezone: str,
    soon_days: int | None = None,
    main_sheet_id: int = MAIN_SHEET_ID,
) -> list[Request]:
    """Turn a new, empty spreadsheet (one default sheet) into a school's roadmap spreadsheet.

    `editors` may change what schools may not: plan columns, Контроль, Отметка МОУО, the
    passport labels and the service sheet (the service account itself and the coordinators).
    """
    soon = spec.soon_days if soon_days is None else soon_days
    items = plan.for_audience(school.audience)
    layout = school_layout(spec, plan, school)
    requests: list[Request] = [
        {
            "updateSpreadsheetProperties": {
                "properties": {"locale": "ru_RU", "timeZone": timezone},
                "fields": "locale,timeZone",
            }
        },
        {
            "updateSheetProperties": {
                "properties": {
                    "sheetId": main_sheet_id,
                    "title": spec.main_sheet,
                    "index": 0,
                    "gridProperties": {
                        "rowCount": layout.last_row,
                        "columnCount": layout.columns,
                        "frozenRowCount": 1,
                        "frozenColumnCount": spec.index("activity"),
                    },
                },
                "fields": "title,index,gridProperties(rowCount,columnCount,"
                "frozenRowCount,frozenColumnCount)",
            }
        },
    ]
    for sheet_id, title, index, rows, cols, hidden in (
        (PASSPORT_SHEET_ID, spec.passport_sheet, 1, len(spec.passport) + 4, 2, False),
        (INSTRUCTIONS_SHEET_ID, spec.instructions_sheet, 2, _instruction_rows(spec), 1, False),
        (META_SHEET_ID, spec.meta_sheet, 3, 10, 2, True),
    ):
        props: dict[str, Any] = {
            "sheetId": sheet_id,
            "title": title,
            "index": index,
            "gridProperties": {"rowCount": rows, "columnCount": cols},
        }
        if hidden:
            props["hidden"] = True
        requests.append({"addSheet": {"properties": props}})
    requests += _main_sheet(spec, items, layout, main_sheet_id, soon, editors)
    requests += _passport_sheet(spec, school, editors)
    requests += _instructions_sheet(spec, school, plan)
    requests += _meta_sheet(spec, school, plan, built_at, editors)
    for key, value in school_metadata(spec, school, plan, built_at).items():
        requests.append(
            {
                "createDeveloperMetadata": {
                    "developerMetadata": {
                        "metadataKey": key,
                        "metadataValue": value,
                        "location": {"spreadsheet": True},
                        "visibility": "PROJECT",
                    }
                }
            }
        )
    return requests


def _main_sheet(
    spec: TemplateSpec,
    items: Sequence[PlanItem],
    layout: SchoolLayout,
    sid: int,
    soon_days: int,
    editors: Sequence[str],
) -> list[Request]:
    cols = spec.columns
    n, last = len(items), layout.last_row
    out: list[Request] = []
    # Formats first (whole column spans), values after: a value-only update keeps the formats.
    header_fmt = {
        "backgroundColor": rgb(HEADER_FILL),
        "textFormat": {"bold": True},
        "wrapStrategy": "WRAP",
        "horizontalAlignment": "CENTER",
        "verticalAlignment": "MIDDLE",
        "borders": BORDERS,
    }
    out.append(repeat_format(grid_range(sid, 0, 1, 0, len(cols)), header_fmt, "userEnteredFormat"))
    for c, col in enumerate(cols):
        fmt: dict[str, Any] = {
            "borders": BORDERS,
            "verticalAlignment": "TOP",
            "wrapStrategy": "WRAP" if col.type == "text" else "OVERFLOW_CELL",
        }
        if col.type == "date":
            fmt["numberFormat"] = {"type": "DATE", "pattern": DATE_PATTERN}
        out.append(repeat_format(grid_range(sid, 1, last, c, c + 1), fmt, "userEnteredFormat"))
    plan_cols = [spec.index(c.key) - 1 for c in cols if c.filled_by == "plan"]
    if n:
        for first, end in _runs(plan_cols):
            out.append(
                repeat_format(
                    grid_range(sid, 1, 1 + n, first, end + 1),
                    {"backgroundColor": rgb(PLAN_FILL)},
                    "userEnteredFormat.backgroundColor",
                )
            )
    rows = [{"values": [text_cell(c.header) for c in cols]}]
    for item in items:
        values = plan_values(item)
        rows.append({"values": [_plan_cell(values.get(c.key)) for c in cols]})
    out.append(
        {
            "updateCells": {
                "range": grid_range(sid, 0, 1 + n, 0, len(cols)),
                "rows": rows,
                "fields": "userEnteredValue",
            }
        }
    )
    # Widths and heights: rows sized for their wrapped plan text, as the workbook's are.
    for c, col in enumerate(cols):
        out.append(_dimension(sid, "COLUMNS", c, c + 1, width_px(col.width)))
    out.append(_dimension(sid, "ROWS", 0, 1, height_px(32)))
    heights = [
        height_px(row_height((str(plan_values(i).get(c.key) or ""), c.width) for c in cols))
        for i in items
    ]
    start = 0
    for k in range(1, len(heights) + 1):
        if k == len(heights) or heights[k] != heights[start]:
            out.append(_dimension(sid, "ROWS", 1 + start, 1 + k, heights[start]))
            start = k
    out.append({"setBasicFilter": {"filter": {"range": grid_range(sid, 0, last, 0, len(cols))}}})
    out += _main_validation(spec, sid, last)
    out += conditional_rules(spec, sid, last, soon_days)
    out += _main_protection(spec, sid, n, last, editors)
    return out


def _plan_cell(value: CellValue) -> dict[str, Any]:
    if isinstance(value, date):
        return {"userEnteredValue": {"numberValue": serial(value)}}
    return text_cell(str(value)) if value not in (None, "") else {}


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


def list_rule(choices: Sequence[str], message: str) -> dict[str, Any]:
    """A dropdown that refuses anything not on the list."""
    return {
        "condition": {
            "type": "ONE_OF_LIST",
            "values": [{"userEnteredValue": c} for c in choices],
        },
        "inputMessage": message,
        "strict": True,
        "showCustomUi": True,
    }


def _main_validation(spec: TemplateSpec, sid: int, last: int) -> list[Request]:
    out: list[Request] = []
    for col in spec.columns:
        if col.type == "choice" and col.choices:
            c = spec.index(col.key) - 1
            message = "Выберите из списка: " + ", ".join(col.choices) + "."
            out.append(
                {
                    "setDataValidation": {
                        "range": grid_range(sid, 1, last, c, c + 1),
                        "rule": list_rule(col.choices, message),
                    }
                }
            )
    if "done_on" in {c.key for c in spec.columns}:
        c = spec.index("done_on") - 1
        ref = f"{column_letter(c + 1)}2"
        out.append(
            {
                "setDataValidation": {
                    "range": grid_range(sid, 1, last, c, c + 1),
                    "rule": {
                        "condition": {
                            "type": "CUSTOM_FORMULA",
                            "values": [
                                {
                                    "userEnteredValue": f"=AND(ISNUMBER({ref}),"
                                    f"{ref}>=DATE(2000,1,1),{ref}<=TODAY())"
                                }
                            ],
                        },
                        "inputMessage": "Введите дату выполнения в виде ДД.ММ.ГГГГ, не позже"
                        " сегодняшнего дня.",
                        "strict": True,
                    },
                }
            }
        )
    return out


def _boolean_rule(
    sid: int, row0: int, row1: int, col: int, condition: dict[str, Any], fill: str
) -> dict[str, Any]:
    return {
        "ranges": [grid_range(sid, row0, row1, col, col + 1)],
        "booleanRule": {"condition": condition, "format": {"backgroundColor": rgb(fill)}},
    }


def conditional_rules(spec: TemplateSpec, sid: int, last: int, soon_days: int) -> list[Request]:
    """Colours that stay alive between syncs, in the order the workbook's rules apply.

    Sheets applies the first matching rule of a cell, as Excel does with stopIfTrue: the values
    the sync wrote first, then live dates, so a row turns red on the day it becomes overdue.
    """
    ctl = spec.index("control") - 1
    rules: list[dict[str, Any]] = []
    for key in ("error", "done", "overdue", "soon"):
        c = spec.controls[key]
        if c.fill:
            condition = {"type": "TEXT_EQ", "values": [{"userEnteredValue": c.value}]}
            rules.append(_boolean_rule(sid, 1, last, ctl, condition, c.fill))
    due = f"${column_letter(spec.index('due'))}2"
    status = f"${column_letter(spec.index('status'))}2"
    done, not_needed = spec.statuses["done"], spec.statuses["not_needed"]
    open_row = f'TRIM({status})<>"{done}",TRIM({status})<>"{not_needed}",ISNUMBER({due})'
    overdue, soon = spec.controls["overdue"].fill, spec.controls["soon"].fill
    assert overdue and soon
    for formula, fill in (
        (f"=AND({open_row},{due}<TODAY())", overdue),
        (f"=AND({open_row},{due}-TODAY()<={soon_days})", soon),
    ):
        condition = {"type": "CUSTOM_FORMULA", "values": [{"userEnteredValue": formula}]}
        rules.append(_boolean_rule(sid, 1, last, ctl, condition, fill))
    done_fill = spec.controls["done"].fill
    assert done_fill
    st = spec.index("status") - 1
    condition = {"type": "TEXT_EQ", "values": [{"userEnteredValue": done}]}
    rules.append(_boolean_rule(sid, 1, last, st, condition, done_fill))
    return [
        {"addConditionalFormatRule": {"rule": rule, "index": i}} for i, rule in enumerate(rules)
    ]


def _protect(
    range_: dict[str, int],
    description: str,
    editors: Sequence[str],
    unprotected: Sequence[dict[str, int]] = (),
) -> Request:
    protected: dict[str, Any] = {
        "range": range_,
        "description": description,
        "warningOnly": False,
        "editors": {"users": list(dict.fromkeys(editors))},
    }
    if unprotected:
        protected["unprotectedRanges"] = list(unprotected)
    return {"addProtectedRange": {"protectedRange": protected}}


def _main_protection(
    spec: TemplateSpec, sid: int, n: int, last: int, editors: Sequence[str]
) -> list[Request]:
    """Header, plan columns of plan rows, Контроль and Отметка МОУО: only editors change them."""
    out = [_protect(grid_range(sid, 0, 1), "Заголовки таблицы — изменяет только МОУО", editors)]
    plan_cols = [spec.index(c.key) - 1 for c in spec.columns if c.filled_by == "plan"]
    if n:
        for first, end in _runs(plan_cols):
            out.append(
                _protect(
                    grid_range(sid, 1, 1 + n, first, end + 1),
                    "План МОУО — изменяет только координатор",
                    editors,
                )
            )
    for key, what in (
        ("control", "Контроль — заполняет синхронизация"),
        ("review", "Отметка МОУО — заполняет координатор"),
    ):
        if key in {c.key for c in spec.columns}:
            c = spec.index(key) - 1
            out.append(_protect(grid_range(sid, 1, last, c, c + 1), what, editors))
    return out


def _passport_sheet(spec: TemplateSpec, school: School, editors: Sequence[str]) -> list[Request]:
    sid = PASSPORT_SHEET_ID
    n = len(spec.passport)
    prefill = {"full_name": school.name, "category": school.category}
    header = {"backgroundColor": rgb(HEADER_FILL), "textFormat": {"bold": True}, "borders": BORDERS}
    label = {
        "backgroundColor": rgb(PLAN_FILL),
        "wrapStrategy": "WRAP",
        "verticalAlignment": "TOP",
        "borders": BORDERS,
    }
    value = {"wrapStrategy": "WRAP", "verticalAlignment": "TOP", "borders": BORDERS}
    rows: list[dict[str, Any]] = [{"values": [text_cell("Поле"), text_cell("Значение")]}]
    for f in spec.passport:
        pre = prefill.get(f.key) or ""
        rows.append(
            {
                "values": [
                    text_cell(f.label + (" *" if f.required else "")),
                    text_cell(pre) if pre else {},
                ]
            }
        )
    rows.append({})
    rows.append({"values": [text_cell("* — обязательные поля")]})
    out: list[Request] = [
        repeat_format(grid_range(sid, 0, 1, 0, 2), header, "userEnteredFormat"),
        repeat_format(grid_range(sid, 1, 1 + n, 0, 1), label, "userEnteredFormat"),
        repeat_format(grid_range(sid, 1, 1 + n, 1, 2), value, "userEnteredFormat"),
        repeat_format(
            grid_range(sid, n + 2, n + 3, 0, 1),
            {"textFormat": {"italic": True}},
            "userEnteredFormat.textFormat.italic",
        ),
        {
            "updateCells": {
                "range": grid_range(sid, 0, n + 3, 0, 2),
                "rows": rows,
                "fields": "userEnteredValue",
            }
        },
        _dimension(sid, "COLUMNS", 0, 2, width_px(60)),
        {
            "updateSheetProperties": {
                "properties": {"sheetId": sid, "gridProperties": {"frozenRowCount": 1}},
                "fields": "gridProperties.frozenRowCount",
            }
        },
    ]
    for r, f in enumerate(spec.passport, start=1):
        rule: dict[str, Any] | None = None
        if f.choices:
            rule = list_rule(f.choices, "Выберите из списка: " + ", ".join(f.choices) + ".")
        elif f.type == "integer":
            ref = f"B{r + 1}"
            rule = {
                "condition": {
                    "type": "CUSTOM_FORMULA",
                    "values": [
                        {
                            "userEnteredValue": f"=AND(ISNUMBER({ref}),{ref}=INT({ref}),"
                            f"{ref}>=0,{ref}<=100000)"
                        }
                    ],
                },
                "inputMessage": "Введите целое число.",
                "strict": True,
            }
        if rule is not None:
            out.append(
                {"setDataValidation": {"range": grid_range(sid, r, r + 1, 1, 2), "rule": rule}}
            )
    # The whole sheet is protected except the values a school fills in.
    out.append(
        _protect(
            {"sheetId": sid},
            "Паспорт ОО: подписи полей изменяет только МОУО",
            editors,
            unprotected=[grid_range(sid, 1, 1 + n, 1, 2)],
        )
    )
    return out


def _instruction_rows(spec: TemplateSpec) -> int:
    return 3 + len(spec.instructions) + 2 + len(spec.controls)


def _instructions_sheet(spec: TemplateSpec, school: School, plan: Plan) -> list[Request]:
    sid = INSTRUCTIONS_SHEET_ID
    period = plan.period
    rows: list[dict[str, Any]] = [
        {"values": [text_cell(spec.instructions_title, textFormat={"bold": True, "fontSize": 14})]},
        {
            "values": [
                text_cell(
                    f"Школа: {school.name}. Период дорожной карты: {period.start:%d.%m.%Y} — "
                    f"{period.end:%d.%m.%Y}. Версия шаблона: {spec.version}."
                )
            ]
        },
        {},
    ]
    rows += [
        {"values": [text_cell(line, wrapStrategy="WRAP", verticalAlignment="TOP")]}
        for line in spec.instructions
    ]
    rows.append({})
    rows.append({"values": [text_cell("Цвета столбца «Контроль»:", textFormat={"bold": True})]})
    for c in spec.controls.values():
        fmt = {"backgroundColor": rgb(c.fill)} if c.fill else {}
        rows.append({"values": [text_cell(c.value, **fmt)]})
    return [
        {
            "updateCells": {
                "range": grid_range(sid, 0, len(rows), 0, 1),
                "rows": rows,
                "fields": "userEnteredValue,userEnteredFormat",
            }
        },
        _dimension(sid, "COLUMNS", 0, 1, width_px(120)),
        _protect({"sheetId": sid}, "Инструкция", []),
    ]


def _meta_sheet(
    spec: TemplateSpec, school: School, plan: Plan, built_at: datetime, editors: Sequence[str]
) -> list[Request]:
    sid = META_SHEET_ID
    pairs = meta_values(spec, school, plan, built_at)
    return [
        {
            "updateCells": {
                "range": grid_range(sid, 0, len(pairs), 0, 2),
                "rows": [{"values": [text_cell(k), text_cell(v)]} for k, v in pairs],
                "fields": "userEnteredValue",
            }
        },
        _protect(
            {"sheetId": sid},
            "Служебный лист: по нему синхронизация узнаёт школу",
            editors,
        ),
    ]


# --- what the sync writes back --------------------------------------------------------------


@dataclass
class Shown:
    """What a school spreadsheet shows now, as far as the sync writes it.

    controls: sheet row -> (value, fill) in the main sheet's Контроль column;
    notes: (sheet title, A1) -> the cell's whole note (the school's part and ours).
    """

    main_title: str
    control_col: int | None
    controls: dict[int, tuple[str, str | None]] = field(default_factory=dict)
    notes: dict[tuple[str, str], str] = field(default_factory=dict)


def sheet_title_for(name: str, titles: Sequence[str], default: str) -> str:
    """The actual title of a sheet named `name`, folded as the reader folds names."""
    want = normalize_header(name).replace(" ", "")
    for title in titles:
        if normalize_header(title).replace(" ", "") == want:
            return title
    return default


def main_title_for(paint_sheet: str, titles: Sequence[str]) -> str:
    """The sheet the paint goes to: the template's main sheet by name, else the first sheet."""
    return sheet_title_for(paint_sheet, titles, titles[0] if titles else paint_sheet)


def is_ours(note: str) -> bool:
    """A note the sync wrote: it starts with the mark. Any other note is someone's own, even
    one that quotes our mark further down (an older version wrote beside the school's words):
    those are never written over."""
    return note.startswith(NOTE_MARK)


def compose_note(school_part: str, ours: str | None) -> str:
    """Our note as it is written: the mark, then the text ("" when there is nothing to say).

    `school_part` is kept for callers of the older shape; a school's words are never composed
    into a note of ours any more.
    """
    if not ours:
        return school_part
    tagged = f"{NOTE_MARK}\n{ours}"
    return f"{school_part}{NOTE_SEPARATOR}{tagged}" if school_part else tagged


def note_targets(paint: Paint, titles: Sequence[str], main: str) -> dict[tuple[str, str], str]:
    """Where each of the paint's notes goes, and its text naming the cell it is about.

    Every note goes on a Контроль cell: a row's problems on that row's cell, the rest on the
    column's header. The template protects the column from the school, so no note the school
    types can be there to be written over, even while our write is in flight.
    """
    col = paint.control_col
    if not col:
        return {}  # no Контроль column: nowhere to write that is not the school's
    header = (main, a1(paint.header_row, col))
    out: dict[tuple[str, str], list[str]] = {}
    for (sheet, ref), text in sorted(paint.notes.items()):
        title = sheet_title_for(sheet, titles, main)
        row, _ = parse_a1(ref)
        if title == main and ref == a1(row, col):
            target, where = (main, ref), ""
        elif title == main and row > paint.header_row:
            target, where = (main, a1(row, col)), f"{ref}: "
        else:
            target = header
            where = f"{ref}: " if title == main else f"лист «{title}», {ref}: "
        lines = [f"{where}{line}" for line in text.splitlines() if line.strip()]
        out.setdefault(target, []).extend(lines)
    return {k: "\n".join(dict.fromkeys(v)) for k, v in out.items()}


def wanted_notes(paint: Paint, titles: Sequence[str], shown: Shown) -> dict[tuple[str, str], str]:
    """Every note cell the paint touches, with the note it should end up with ("" = none).

    Only cells whose note is empty or ours: a note someone else wrote (a coordinator on a
    Контроль cell, a school anywhere) is never written over.
    """
    ours = note_targets(paint, titles, shown.main_title)
    out: dict[tuple[str, str], str] = {}
    for key in set(ours) | {k for k, v in shown.notes.items() if is_ours(v)}:
        current = shown.notes.get(key, "")
        if current and not is_ours(current):
            continue
        out[key] = compose_note("", ours.get(key))
    return out


def paint_requests(paint: Paint, sheet_ids: Mapping[str, int], shown: Shown) -> list[Request]:
    """The batchUpdate requests that make the spreadsheet show the paint: only what differs.

    An empty list means the school already sees exactly this paint: nothing is sent.
    """
    titles = list(sheet_ids)
    main_id = sheet_ids[shown.main_title]
    out: list[Request] = []
    if paint.control_col:
        changed = {
            row: control
            for row, control in paint.controls
            if shown.controls.get(row) != (control.value, control.fill)
        }
        for first, end in _runs(changed):
            rows = []
            for row in range(first, end + 1):
                control = changed[row]
                fmt = {"backgroundColor": rgb(control.fill)} if control.fill else {}
                rows.append({"values": [text_cell(control.value, **fmt)]})
            out.append(
                {
                    "updateCells": {
                        "range": cell_range(main_id, first, paint.control_col, end - first + 1),
                        "rows": rows,
                        "fields": "userEnteredValue,userEnteredFormat.backgroundColor",
                    }
                }
            )
    for (title, ref), note in sorted(wanted_notes(paint, titles, shown).items()):
        if shown.notes.get((title, ref), "") == note:
            continue
        row, col = parse_a1(ref)
        out.append(
            {
                "updateCells": {
                    "range": cell_range(sheet_ids[title], row, col),
                    "rows": [{"values": [{"note": note}]}],
                    "fields": "note",
                }
            }
        )
    return out


def shown_after(paint: Paint, shown: Shown, titles: Sequence[str]) -> Shown:
    """What the spreadsheet shows once the paint's requests are applied."""
    controls = dict(shown.controls)
    if paint.control_col:
        controls.update({row: (c.value, c.fill) for row, c in paint.controls})
    notes = dict(shown.notes)
    for key, text in wanted_notes(paint, titles, shown).items():
        if text:
            notes[key] = text
        else:
            notes.pop(key, None)
    return Shown(shown.main_title, paint.control_col, controls, notes)


# --- the master spreadsheet -----------------------------------------------------------------

MASTER_SHEET_BASE_ID = 100  # master sheets get ids 100, 101, ... when added


@dataclass(frozen=True)
class ExistingSheet:
    """A sheet of the master spreadsheet as found before writing: what to reuse or clean."""

    sheet_id: int
    title: str
    rows: int
    columns: int
    charts: tuple[int, ...] = ()
    has_filter: bool = False


def _master_format(sheet: MasterSheet, c: int) -> dict[str, Any] | None:
    pattern = sheet.number_formats.get(c)
    if not pattern:
        return None
    kind = "PERCENT" if pattern.endswith("%") else "DATE_TIME" if "HH" in pattern else "DATE"
    sheets_pattern = {
        "DATE": DATE_PATTERN,
        "DATE_TIME": DATETIME_PATTERN,
        "PERCENT": pattern,
    }[kind]
    return {"type": kind, "pattern": sheets_pattern}


STAGING_PREFIX = "(обновляется) "  # the new master's sheets, hidden until the switch
MASTER_CHUNK_BYTES = 4 * 1024 * 1024  # Google refuses bodies over 10 MB: stay well under


@dataclass
class MasterPlan:
    """The master written beside the old one, then switched in at once.

    build: batchUpdates that add the new sheets (hidden, under STAGING_PREFIX titles), lay them
    out and colour them; values: values.batchUpdate bodies (RAW) that fill them; switch: the one
    batchUpdate that shows them under their real titles and deletes the old ones. Every body
    stays under the chunk size, so the count grows with the master's bytes, not its schools.
    Until the switch the old master stays complete; a run that failed midway leaves hidden
    staging sheets, which the next run deletes first.
    """

    build: list[list[Request]]
    values: list[list[dict[str, Any]]]
    switch: list[Request]
    staging: dict[int, str]  # new sheet id -> its final title


def body_bytes(body: Any) -> int:
    """The size of a JSON body as requests sends it (ASCII-escaped)."""
    return len(json.dumps(body, separators=(", ", ": ")))


def _pack(items: Sequence[Any], limit: int, overhead: int = 64) -> list[list[Any]]:
    """Items in order, grouped so that each group's JSON stays under `limit` bytes."""
    groups: list[list[Any]] = []
    size = limit + 1
    for item in items:
        n = body_bytes(item) + 2
        if size + n > limit - overhead and (not groups or groups[-1]):
            groups.append([])
            size = 0
        groups[-1].append(item)
        size += n
    return [g for g in groups if g]


def staged_master(
    master: Master,
    existing: Sequence[ExistingSheet],
    *,
    drop: Sequence[int] = (),
    chunk_bytes: int = MASTER_CHUNK_BYTES,
) -> MasterPlan:
    """Requests that build every master sheet beside the old ones and switch to them at once.

    The values go separately, with valueInputOption RAW: a school's "=IMPORTRANGE(...)" stays
    text. `drop` lists other sheets to delete at the switch (a new spreadsheet's default one).
    Sheets of other titles (a coordinator's own) are left alone.
    """
    used = {s.sheet_id for s in existing}
    leftovers = [s.sheet_id for s in existing if s.title.startswith(STAGING_PREFIX)]
    by_title = {s.title: s for s in existing if not s.title.startswith(STAGING_PREFIX)}
    build: list[Request] = [{"deleteSheet": {"sheetId": sid}} for sid in leftovers]
    cells: list[Request] = []
    rows: list[dict[str, Any]] = []
    staging: dict[int, str] = {}
    switch_show: list[Request] = []
    switch_drop: list[Request] = []
    switch_name: list[Request] = []
    next_id = MASTER_SHEET_BASE_ID
    for index, sheet in enumerate(master.sheets):
        title = sheet.name[:100]
        temp = (STAGING_PREFIX + title)[:100]
        ncols = max([1, len(sheet.headers), *(len(r) for r in sheet.rows)])
        nrows = len(sheet.rows) + 1
        chart_cols = 8 if sheet.chart_column is not None else 0
        grid_rows, grid_cols = max(nrows, 2), ncols + (2 + chart_cols if chart_cols else 0)
        while next_id in used:
            next_id += 1
        sid = next_id
        used.add(sid)
        staging[sid] = title
        build.append(
            {
                "addSheet": {
                    "properties": {
                        "sheetId": sid,
                        "title": temp,
                        "hidden": True,
                        "gridProperties": {
                            "rowCount": grid_rows,
                            "columnCount": grid_cols,
                            "frozenRowCount": 1,
                            "frozenColumnCount": sheet.frozen_columns,
                        },
                    }
                }
            }
        )
        build += _master_sheet_format(sheet, sid, nrows, ncols)
        build.append({"setBasicFilter": {"filter": {"range": grid_range(sid, 0, nrows, 0, ncols)}}})
        if sheet.chart_column is not None and sheet.rows:
            build.append(master_chart(sheet, sid, nrows, anchor_col=ncols + 1))
        cells += _master_fills(sheet, sid, nrows, chunk_bytes // 2)
        rows += _value_ranges(sheet, temp, chunk_bytes // 2)
        switch_show.append(
            {
                "updateSheetProperties": {
                    "properties": {"sheetId": sid, "hidden": False},
                    "fields": "hidden",
                }
            }
        )
        old = by_title.get(title)
        if old is not None:
            switch_drop.append({"deleteSheet": {"sheetId": old.sheet_id}})
        switch_name.append(
            {
                "updateSheetProperties": {
                    "properties": {"sheetId": sid, "title": title, "index": index},
                    "fields": "title,index",
                }
            }
        )
    switch_drop += [{"deleteSheet": {"sheetId": sid}} for sid in drop if sid not in leftovers]
    # Shown first (a spreadsheet may not be left with every sheet hidden), then the old ones
    # go, then the new take their titles and places: one atomic batchUpdate.
    switch = switch_show + switch_drop + switch_name
    return MasterPlan(_pack(build + cells, chunk_bytes), _pack(rows, chunk_bytes), switch, staging)


def _value_ranges(sheet: MasterSheet, title: str, limit: int) -> list[dict[str, Any]]:
    """The sheet's header and rows as RAW value ranges, each under `limit` bytes."""
    values = [[raw_value(h) for h in sheet.headers]]
    values += [[raw_value(v) for v in row] for row in sheet.rows]
    out: list[dict[str, Any]] = []
    first, size = 1, 0
    chunk: list[list[Any]] = []
    for r, line in enumerate(values, start=1):
        n = body_bytes(line) + 2
        if chunk and size + n > limit:
            out.append({"range": f"{quote_sheet(title)}!A{first}", "values": chunk})
            first, size, chunk = r, 0, []
        chunk.append(line)
        size += n
    if chunk:
        out.append({"range": f"{quote_sheet(title)}!A{first}", "values": chunk})
    return out


def _master_fills(sheet: MasterSheet, sid: int, nrows: int, limit: int) -> list[Request]:
    """The sheet's cell colours: updateCells over the fills' bounding box, in row bands each
    under `limit` bytes (a cell without a fill gets none)."""
    if not sheet.fills or nrows <= 1:
        return []
    r0, r1 = min(r for r, _ in sheet.fills), max(r for r, _ in sheet.fills)
    c0, c1 = min(c for _, c in sheet.fills), max(c for _, c in sheet.fills)
    out: list[Request] = []
    band: list[dict[str, Any]] = []
    start, size = r0, 0

    def flush(end: int) -> None:
        out.append(
            {
                "updateCells": {
                    "range": grid_range(sid, 1 + start, 1 + end, c0, c1 + 1),
                    "rows": band,
                    "fields": "userEnteredFormat.backgroundColor",
                }
            }
        )

    for r in range(r0, r1 + 1):
        line = {
            "values": [
                {"userEnteredFormat": {"backgroundColor": rgb(colour)}}
                if (colour := sheet.fills.get((r, c)))
                else {}
                for c in range(c0, c1 + 1)
            ]
        }
        n = body_bytes(line) + 2
        if band and size + n > limit:
            flush(r)
            band, start, size = [], r, 0
        band.append(line)
        size += n
    flush(r1 + 1)
    return out


def _master_sheet_format(sheet: MasterSheet, sid: int, nrows: int, ncols: int) -> list[Request]:
    out: list[Request] = [
        repeat_format(
            grid_range(sid, 0, 1, 0, ncols),
            {
                "backgroundColor": rgb(MASTER_HEADER_FILL),
                "textFormat": {"bold": True},
                "wrapStrategy": "WRAP",
                "verticalAlignment": "MIDDLE",
            },
            "userEnteredFormat",
        )
    ]
    for c in range(ncols):
        width = sheet.widths[c] if c < len(sheet.widths) else 12
        out.append(_dimension(sid, "COLUMNS", c, c + 1, width_px(width)))
        fmt: dict[str, Any] = {
            "verticalAlignment": "TOP",
            "wrapStrategy": "WRAP" if width >= WRAP_FROM_WIDTH else "OVERFLOW_CELL",
        }
        number = _master_format(sheet, c)
        if number:
            fmt["numberFormat"] = number
        if nrows > 1:
            out.append(repeat_format(grid_range(sid, 1, nrows, c, c + 1), fmt, _format_fields(fmt)))
    return out


def master_chart(sheet: MasterSheet, sid: int, nrows: int, anchor_col: int) -> Request:
    """A horizontal bar chart of one column by the first, to the right of the table."""
    assert sheet.chart_column is not None
    col = sheet.chart_column

    def source(c: int) -> dict[str, Any]:
        return {"sourceRange": {"sources": [grid_range(sid, 0, nrows, c, c + 1)]}}

    height = min(max(300, 20 * nrows + 80), 4000)
    return {
        "addChart": {
            "chart": {
                "spec": {
                    "title": sheet.headers[col],
                    "basicChart": {
                        "chartType": "BAR",
                        "legendPosition": "NO_LEGEND",
                        "axis": [{"position": "BOTTOM_AXIS", "title": sheet.headers[col]}],
                        "domains": [{"domain": source(0)}],
                        "series": [{"series": source(col), "targetAxis": "BOTTOM_AXIS"}],
                        "headerCount": 1,
                    },
                },
                "position": {
                    "overlayPosition": {
                        "anchorCell": {"sheetId": sid, "rowIndex": 1, "columnIndex": anchor_col},
                        "widthPixels": 600,
                        "heightPixels": height,
                    }
                },
            }
        }
    }


def existing_sheets(spreadsheet: Mapping[str, Any]) -> list[ExistingSheet]:
    """The master's sheets from a spreadsheets.get answer (Google leaves out zero values)."""
    out = []
    for s in spreadsheet.get("sheets", []):
        p = s.get("properties", {})
        grid = p.get("gridProperties", {})
        out.append(
            ExistingSheet(
                sheet_id=int(p.get("sheetId", 0)),
                title=str(p.get("title", "")),
                rows=int(grid.get("rowCount", 0)),
                columns=int(grid.get("columnCount", 0)),
                charts=tuple(int(c.get("chartId", 0)) for c in s.get("charts", [])),
                has_filter="basicFilter" in s,
            )
        )
    return out


def a1_of(row: int, col: int) -> str:
    """1-based row and column -> A1 (re-exported for the backend)."""
    return a1(row, col)
