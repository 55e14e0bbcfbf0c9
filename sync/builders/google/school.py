"""A school's Google spreadsheet as batchUpdate requests (pure): the same sheets, columns,
dropdowns, colours, protection and service sheet as `sync.builders.school_xlsx` builds."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sync.builders.google.common import (
    BORDERS,
    DATE_PATTERN,
    INSTRUCTIONS_SHEET_ID,
    MAIN_SHEET_ID,
    META_SHEET_ID,
    METADATA_PREFIX,
    PASSPORT_SHEET_ID,
    Request,
    _dimension,
    _runs,
    grid_range,
    height_px,
    repeat_format,
    rgb,
    serial,
    text_cell,
    width_px,
)
from sync.builders.school_xlsx import (
    EXTRA_ROWS,
    HEADER_FILL,
    PLAN_FILL,
    meta_values,
    row_height,
)
from sync.cells import column_letter
from sync.model import CellValue, Plan, PlanItem, School
from sync.plan import plan_values
from sync.spec import TemplateSpec

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
