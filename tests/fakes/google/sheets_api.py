"""Sheets API v4 on the fake's spreadsheets: get, batchUpdate and the values methods.

Every batchUpdate request type the backend (and the naive gspread benchmark) sends is applied
with Google's semantics and answered with Google's reply shapes; any other request type is
refused with 400 INVALID_ARGUMENT, as Google refuses a field it does not know. A batchUpdate is
atomic: it is applied to a copy, which replaces the spreadsheet only when every request worked.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import date
from typing import Any

from tests.fakes.google import fieldmask
from tests.fakes.google.sheets_model import (
    ApiError,
    Box,
    Cell,
    Sheet,
    Spreadsheet,
    box_of_grid_range,
    col_letters,
    effective,
    format_number,
    grid_range_json,
    is_empty,
    parse_a1_box,
    raw_entered,
    split_range,
    user_entered,
)

CELL_FIELDS = {
    "userEnteredValue",
    "userEnteredFormat",
    "note",
    "dataValidation",
    "textFormatRuns",
    "hyperlink",
    "*",
}
CONDITION_TYPES = {
    "NUMBER_GREATER",
    "NUMBER_GREATER_THAN_EQ",
    "NUMBER_LESS",
    "NUMBER_LESS_THAN_EQ",
    "NUMBER_EQ",
    "NUMBER_NOT_EQ",
    "NUMBER_BETWEEN",
    "NUMBER_NOT_BETWEEN",
    "TEXT_CONTAINS",
    "TEXT_NOT_CONTAINS",
    "TEXT_STARTS_WITH",
    "TEXT_ENDS_WITH",
    "TEXT_EQ",
    "TEXT_IS_EMAIL",
    "TEXT_IS_URL",
    "DATE_EQ",
    "DATE_BEFORE",
    "DATE_AFTER",
    "DATE_ON_OR_BEFORE",
    "DATE_ON_OR_AFTER",
    "DATE_BETWEEN",
    "DATE_NOT_BETWEEN",
    "DATE_IS_VALID",
    "ONE_OF_RANGE",
    "ONE_OF_LIST",
    "BLANK",
    "NOT_BLANK",
    "CUSTOM_FORMULA",
    "BOOLEAN",
}


# --- reading --------------------------------------------------------------------------------


def cell_json(cell: Cell, today: date, locale: str, want: fieldmask.Tree | None) -> dict[str, Any]:
    """One CellData as Google answers it (only what the mask asks for is computed)."""
    out: dict[str, Any] = {}
    # Stored cells are never changed in place (see fieldmask.apply_update): no copies needed.
    for key in ("userEnteredValue", "userEnteredFormat", "note", "dataValidation"):
        if key in cell and fieldmask.mentions(want, key):
            out[key] = cell[key]
    if any(
        fieldmask.mentions(want, k) for k in ("effectiveValue", "effectiveFormat", "formattedValue")
    ):
        value, fmt = effective(cell, today)
        if value is not None and fieldmask.mentions(want, "effectiveValue"):
            out["effectiveValue"] = value
        if fmt and fieldmask.mentions(want, "effectiveFormat"):
            out["effectiveFormat"] = fmt
        if value is not None and fieldmask.mentions(want, "formattedValue"):
            out["formattedValue"] = render(
                value, fmt.get("numberFormat"), locale, "FORMATTED_VALUE"
            )
    return out


def render(value: dict[str, Any], number_format: Any, locale: str, option: str) -> Any:
    """An effective value as the values API renders it."""
    if "stringValue" in value:
        return value["stringValue"]
    if "boolValue" in value:
        return (
            bool(value["boolValue"])
            if option != "FORMATTED_VALUE"
            else ("TRUE" if value["boolValue"] else "FALSE")
        )
    if "numberValue" in value:
        if option == "FORMATTED_VALUE":
            return format_number(float(value["numberValue"]), number_format, locale)
        return value["numberValue"]
    if "errorValue" in value:
        return {
            "REF": "#REF!",
            "NAME": "#NAME?",
            "DIVIDE_BY_ZERO": "#DIV/0!",
            "VALUE": "#VALUE!",
            "N_A": "#N/A",
        }.get(value["errorValue"].get("type", ""), "#ERROR!")
    return ""


def _content_extent(sheet: Sheet, box: Box, pred: Callable[[Cell], bool]) -> tuple[int, int]:
    """Last row and column (exclusive) inside box holding a cell that pred accepts."""
    b = box.clip(sheet.rows, sheet.cols)
    assert b.row1 is not None and b.col1 is not None
    rows = cols = 0
    for (r, c), cell in sheet.cells.items():
        if b.row0 <= r < b.row1 and b.col0 <= c < b.col1 and pred(cell):
            rows, cols = max(rows, r + 1), max(cols, c + 1)
    return rows, cols


def grid_data(
    sheet: Sheet, box: Box, today: date, locale: str, want: fieldmask.Tree | None
) -> dict[str, Any]:
    """GridData for a box: rowData up to the last cell with anything, trailing empties left out."""
    b = box.clip(sheet.rows, sheet.cols)
    assert b.row1 is not None and b.col1 is not None
    cell_want = _sub(want, "rowData", "values")
    last_row, last_col = _content_extent(sheet, b, lambda c: not is_empty(c))
    rows: list[dict[str, Any]] = []
    for r in range(b.row0, min(last_row, b.row1)):
        values = []
        for c in range(b.col0, min(last_col, b.col1)):
            cell = sheet.cells.get((r, c))
            values.append(cell_json(cell, today, locale, cell_want) if cell else {})
        rows.append({"values": values})
    data: dict[str, Any] = {}
    if b.row0:
        data["startRow"] = b.row0
    if b.col0:
        data["startColumn"] = b.col0
    if rows:
        data["rowData"] = rows
    if fieldmask.mentions(want, "rowMetadata") and want is not None:
        data["rowMetadata"] = [
            {"pixelSize": 21, **sheet.row_meta.get(r, {})} for r in range(b.row0, b.row1)
        ]
    if fieldmask.mentions(want, "columnMetadata") and want is not None:
        data["columnMetadata"] = [
            {"pixelSize": 100, **sheet.col_meta.get(c, {})} for c in range(b.col0, b.col1)
        ]
    return data


def _sub(tree: fieldmask.Tree | None, *path: str) -> fieldmask.Tree | None:
    node = tree
    for name in path:
        if node is None or "*" in node:
            return None
        node = node.get(name)
    return node


def trim_grid(value: Any) -> Any:
    """Drop trailing empty cells and rows and empty rowData, as Google's answers do."""
    if isinstance(value, dict):
        for data in value.get("data", []) if isinstance(value.get("data"), list) else []:
            rows = data.get("rowData")
            if not isinstance(rows, list):
                continue
            for row in rows:
                vals = row.get("values")
                if isinstance(vals, list):
                    while vals and not vals[-1]:
                        vals.pop()
                    if not vals:
                        row.pop("values")
            while rows and not rows[-1]:
                rows.pop()
            if not rows:
                data.pop("rowData")
        for v in value.values():
            if isinstance(v, list):
                for item in v:
                    trim_grid(item)
            elif isinstance(v, dict):
                trim_grid(v)
    return value


def sheet_json(
    ss: Spreadsheet,
    sheet: Sheet,
    *,
    boxes: list[Box] | None,
    grid: bool,
    today: date,
    want: fieldmask.Tree | None,
    user: str,
    owners: set[str],
) -> dict[str, Any]:
    props = copy.deepcopy(sheet.properties)
    if not props.get("hidden"):
        props.pop("hidden", None)
    out: dict[str, Any] = {"properties": props}
    if grid:
        data_want = _sub(want, "data")
        out["data"] = [
            grid_data(sheet, b, today, ss.locale, data_want)
            for b in (boxes or [Box(0, None, 0, None)])
        ]
    if sheet.conditional_formats:
        out["conditionalFormats"] = copy.deepcopy(sheet.conditional_formats)
    if sheet.protected_ranges:
        out["protectedRanges"] = [
            {
                **copy.deepcopy(p),
                "requestingUserCanEdit": user in owners
                or user in p.get("editors", {}).get("users", []),
            }
            for p in sheet.protected_ranges
        ]
    if sheet.basic_filter:
        out["basicFilter"] = copy.deepcopy(sheet.basic_filter)
    if sheet.charts:
        out["charts"] = copy.deepcopy(sheet.charts)
    return out


def spreadsheet_json(
    ss: Spreadsheet,
    *,
    include_grid: bool,
    ranges: list[str] | None,
    mask: fieldmask.Tree | None,
    today: date,
    user: str,
    owners: set[str],
) -> dict[str, Any]:
    """spreadsheets.get: properties, sheets (with grid data when asked) and metadata."""
    grid = include_grid or (
        mask is not None and fieldmask.mentions(mask, "sheets", "data") and "sheets" in mask
    )
    selected: dict[int, list[Box]] | None = None
    if ranges:
        selected = {}
        for text in ranges:
            title, ref = split_range(text)
            sheet = ss.sheet_by_title(title)
            selected.setdefault(sheet.sheet_id, []).append(parse_a1_box(ref))
    sheets = []
    sheets_want = _sub(mask, "sheets") if mask is not None else None
    for sheet in ss.ordered():
        if selected is not None and sheet.sheet_id not in selected:
            continue
        boxes = selected.get(sheet.sheet_id) if selected is not None else None
        sheets.append(
            sheet_json(
                ss,
                sheet,
                boxes=boxes,
                grid=grid,
                today=today,
                want=sheets_want,
                user=user,
                owners=owners,
            )
        )
    out: dict[str, Any] = {
        "spreadsheetId": ss.spreadsheet_id,
        "properties": copy.deepcopy(ss.properties),
        "sheets": sheets,
        "spreadsheetUrl": f"https://docs.google.com/spreadsheets/d/{ss.spreadsheet_id}/edit",
    }
    # PROJECT metadata is visible to the project that wrote it: every caller here is ours.
    if ss.developer_metadata:
        out["developerMetadata"] = copy.deepcopy(ss.developer_metadata)
    if mask is not None:
        out = fieldmask.select(out, mask)
    return trim_grid(out)


# --- batchUpdate ----------------------------------------------------------------------------


class Context:
    """One batchUpdate being applied: the spreadsheet copy, who asks, what today is."""

    def __init__(self, ss: Spreadsheet, user: str, today: date, rng_id: Callable[[], int]):
        self.ss, self.user, self.today, self.new_id = ss, user, today, rng_id


def batch_update(
    ss: Spreadsheet, body: dict[str, Any], user: str, today: date, new_id: Callable[[], int]
) -> tuple[Spreadsheet, list[dict[str, Any]]]:
    """Apply every request to a copy; returns the new spreadsheet and the replies."""
    requests = body.get("requests")
    if not isinstance(requests, list) or not requests:
        raise ApiError(400, "Invalid requests: must specify at least one request.")
    work = ss.clone(ss.spreadsheet_id)
    ctx = Context(work, user, today, new_id)
    replies: list[dict[str, Any]] = []
    for i, request in enumerate(requests):
        if not isinstance(request, dict) or len(request) != 1:
            raise ApiError(400, f"Invalid requests[{i}]: exactly one kind of request must be set.")
        ((kind, payload),) = request.items()
        handler = HANDLERS.get(kind)
        if handler is None:
            raise ApiError(
                400,
                f"Invalid JSON payload received. Unknown name \"{kind}\" at 'requests[{i}]':"
                " Cannot find field.",
            )
        what = f"requests[{i}].{kind}"
        replies.append(handler(ctx, payload, what) or {})
    return work, replies


def _range_sheet(ctx: Context, gr: dict[str, Any], what: str) -> tuple[Sheet, Box]:
    sheet = ctx.ss.sheet_by_id(int(gr.get("sheetId", 0)), what)
    return sheet, sheet.check(box_of_grid_range(gr), what)


def _mask(text: Any, what: str, allowed: set[str] | None = None) -> fieldmask.Tree:
    if not text:
        raise ApiError(400, f"Invalid {what}: At least one field must be specified in 'fields'.")
    try:
        tree = fieldmask.parse(str(text))
    except fieldmask.MaskError:
        raise ApiError(400, f"Invalid {what}: Invalid field mask: {text}") from None
    if allowed is not None:
        for name in tree:
            if name not in allowed:
                raise ApiError(400, f"Invalid {what}: Invalid field: {name}")
    return tree


def _set_cell(sheet: Sheet, r: int, c: int, source: Cell, tree: fieldmask.Tree) -> None:
    _check_value(source.get("userEnteredValue"))
    _apply(sheet, r, c, fieldmask.compile_update(source, tree))


def _apply(sheet: Sheet, r: int, c: int, update: fieldmask.Update) -> None:
    old = sheet.cells.get((r, c))
    if old is None and all(value is None for _, value in update):
        return  # clearing an empty cell
    cell = dict(old or {})
    fieldmask.apply_compiled(cell, update)
    if is_empty(cell):
        sheet.cells.pop((r, c), None)
    else:
        sheet.cells[(r, c)] = cell


def _check_value(value: Any) -> None:
    if value is None:
        return
    kinds = {"stringValue", "numberValue", "boolValue", "formulaValue", "errorValue"}
    if not isinstance(value, dict) or len(value) != 1 or next(iter(value)) not in kinds:
        raise ApiError(400, f"Invalid value at 'userEnteredValue': {value!r}")


def _update_cells(ctx: Context, p: dict[str, Any], what: str) -> None:
    tree = _mask(p.get("fields"), what, CELL_FIELDS)
    rows = p.get("rows", [])
    if "range" in p:
        sheet, box = _range_sheet(ctx, p["range"], what)
        assert box.row1 is not None and box.col1 is not None
        covered: dict[tuple[int, int], Cell] = {}
        for i, row in enumerate(rows):
            for j, cell in enumerate(row.get("values", [])):
                r, c = box.row0 + i, box.col0 + j
                if r >= box.row1 or c >= box.col1:
                    raise ApiError(400, f"Invalid {what}: data exceeds the range.")
                covered[(r, c)] = cell
        # Cells of the range the rows do not cover are cleared (for the masked fields).
        area = (box.row1 - box.row0) * (box.col1 - box.col0)
        if area <= len(sheet.cells):
            present = [
                (r, c)
                for r in range(box.row0, box.row1)
                for c in range(box.col0, box.col1)
                if (r, c) in sheet.cells
            ]
        else:
            present = [k for k in sheet.cells if box.contains(*k)]
        for key in present:
            covered.setdefault(key, {})
        clear = fieldmask.compile_update({}, tree)
        for (r, c), cell in covered.items():
            if cell:
                _set_cell(sheet, r, c, cell, tree)
            else:
                _apply(sheet, r, c, clear)
    elif "start" in p:
        start = p["start"]
        sheet = ctx.ss.sheet_by_id(int(start.get("sheetId", 0)), what)
        r0, c0 = int(start.get("rowIndex", 0)), int(start.get("columnIndex", 0))
        for i, row in enumerate(rows):
            for j, cell in enumerate(row.get("values", [])):
                sheet.check(Box(r0 + i, r0 + i + 1, c0 + j, c0 + j + 1), what)
                _set_cell(sheet, r0 + i, c0 + j, cell, tree)
    else:
        raise ApiError(400, f"Invalid {what}: one of range or start must be set.")


def _repeat_cell(ctx: Context, p: dict[str, Any], what: str) -> None:
    tree = _mask(p.get("fields"), what, CELL_FIELDS)
    sheet, box = _range_sheet(ctx, p.get("range", {}), what)
    assert box.row1 is not None and box.col1 is not None
    cell = p.get("cell", {})
    _check_value(cell.get("userEnteredValue"))
    update = fieldmask.compile_update(cell, tree)  # once: the same for every cell
    for r in range(box.row0, box.row1):
        for c in range(box.col0, box.col1):
            _apply(sheet, r, c, update)


def _set_data_validation(ctx: Context, p: dict[str, Any], what: str) -> None:
    sheet, box = _range_sheet(ctx, p.get("range", {}), what)
    assert box.row1 is not None and box.col1 is not None
    rule = p.get("rule")
    if rule is not None:
        _check_condition(rule.get("condition"), what)
    for r in range(box.row0, box.row1):
        for c in range(box.col0, box.col1):
            cell = dict(sheet.cells.get((r, c), {}))
            if rule is None:
                cell.pop("dataValidation", None)
            else:
                cell["dataValidation"] = copy.deepcopy(rule)
            if is_empty(cell):
                sheet.cells.pop((r, c), None)
            else:
                sheet.cells[(r, c)] = cell


def _check_condition(condition: Any, what: str) -> None:
    if not isinstance(condition, dict) or condition.get("type") not in CONDITION_TYPES:
        raise ApiError(400, f"Invalid {what}: invalid condition {condition!r}")
    if condition["type"] == "CUSTOM_FORMULA":
        values = condition.get("values", [])
        if len(values) != 1 or not str(values[0].get("userEnteredValue", "")).startswith("="):
            raise ApiError(400, f"Invalid {what}: CUSTOM_FORMULA needs one formula value.")


def _normalised_range(ctx: Context, gr: dict[str, Any], what: str) -> dict[str, Any]:
    sheet = ctx.ss.sheet_by_id(int(gr.get("sheetId", 0)), what)
    sheet.check(box_of_grid_range(gr), what)
    return grid_range_json(sheet.sheet_id, gr)


def _add_conditional(ctx: Context, p: dict[str, Any], what: str) -> None:
    rule = copy.deepcopy(p.get("rule") or {})
    ranges = rule.get("ranges") or []
    if not ranges or ("booleanRule" in rule) == ("gradientRule" in rule):
        raise ApiError(
            400, f"Invalid {what}: a rule needs ranges and one of booleanRule or gradientRule."
        )
    if "booleanRule" in rule:
        _check_condition(rule["booleanRule"].get("condition"), what)
    sheet_ids = {int(r.get("sheetId", 0)) for r in ranges}
    if len(sheet_ids) != 1:
        raise ApiError(400, f"Invalid {what}: all ranges of a rule must be on one sheet.")
    rule["ranges"] = [_normalised_range(ctx, r, what) for r in ranges]
    sheet = ctx.ss.sheet_by_id(sheet_ids.pop(), what)
    index = int(p.get("index", 0))
    if index > len(sheet.conditional_formats):
        raise ApiError(400, f"Invalid {what}: index {index} is out of range.")
    sheet.conditional_formats.insert(index, rule)


def _delete_conditional(ctx: Context, p: dict[str, Any], what: str) -> dict[str, Any]:
    sheet = ctx.ss.sheet_by_id(int(p.get("sheetId", 0)), what)
    index = int(p.get("index", 0))
    if not 0 <= index < len(sheet.conditional_formats):
        raise ApiError(
            400,
            f"Invalid {what}: No conditional format on sheet: {sheet.sheet_id} at index: {index}",
        )
    return {"deleteConditionalFormatRule": {"rule": sheet.conditional_formats.pop(index)}}


def _add_protected(ctx: Context, p: dict[str, Any], what: str) -> dict[str, Any]:
    pr = copy.deepcopy(p.get("protectedRange") or {})
    gr = pr.get("range")
    if not isinstance(gr, dict):
        raise ApiError(400, f"Invalid {what}: a protected range needs a range.")
    sheet = ctx.ss.sheet_by_id(int(gr.get("sheetId", 0)), what)
    whole = set(gr) <= {"sheetId"}
    if pr.get("unprotectedRanges") and not whole:
        raise ApiError(
            400,
            f"Invalid {what}: unprotectedRanges are only allowed when protecting a whole sheet.",
        )
    pr["range"] = (
        _normalised_range(ctx, gr, what) if not whole else grid_range_json(sheet.sheet_id, {})
    )
    if pr.get("unprotectedRanges"):
        pr["unprotectedRanges"] = [_normalised_range(ctx, r, what) for r in pr["unprotectedRanges"]]
    pr["protectedRangeId"] = ctx.new_id()
    if not pr.get("warningOnly"):
        pr.pop("warningOnly", None)
    if not pr.get("description"):
        pr.pop("description", None)
    users = list(dict.fromkeys((pr.get("editors") or {}).get("users", [])))
    pr["editors"] = {"users": users} if users else {}
    pr.pop("requestingUserCanEdit", None)
    sheet.protected_ranges.append(pr)
    return {"addProtectedRange": {"protectedRange": {**pr, "requestingUserCanEdit": True}}}


def _delete_protected(ctx: Context, p: dict[str, Any], what: str) -> None:
    target = p.get("protectedRangeId")
    for sheet in ctx.ss.sheets:
        for pr in sheet.protected_ranges:
            if pr["protectedRangeId"] == target:
                sheet.protected_ranges.remove(pr)
                return
    raise ApiError(400, f"Invalid {what}: No protected range with id: {target}")


def _update_dimensions(ctx: Context, p: dict[str, Any], what: str) -> None:
    tree = _mask(p.get("fields"), what, {"pixelSize", "hiddenByUser", "developerMetadata", "*"})
    rng = p.get("range") or {}
    sheet = ctx.ss.sheet_by_id(int(rng.get("sheetId", 0)), what)
    dimension = rng.get("dimension")
    if dimension not in ("ROWS", "COLUMNS"):
        raise ApiError(400, f"Invalid {what}: dimension must be ROWS or COLUMNS.")
    limit = sheet.rows if dimension == "ROWS" else sheet.cols
    start, end = int(rng.get("startIndex", 0)), int(rng.get("endIndex", limit))
    if not 0 <= start < end <= limit:
        raise ApiError(400, f"Invalid {what}: range [{start}, {end}) exceeds the grid ({limit}).")
    meta = sheet.row_meta if dimension == "ROWS" else sheet.col_meta
    for i in range(start, end):
        entry = dict(meta.get(i, {}))
        fieldmask.apply_update(entry, p.get("properties", {}), tree)
        meta[i] = entry


def _set_basic_filter(ctx: Context, p: dict[str, Any], what: str) -> None:
    flt = copy.deepcopy(p.get("filter") or {})
    gr = flt.get("range")
    if not isinstance(gr, dict):
        raise ApiError(400, f"Invalid {what}: a filter needs a range.")
    sheet = ctx.ss.sheet_by_id(int(gr.get("sheetId", 0)), what)
    flt["range"] = _normalised_range(ctx, gr, what)
    sheet.basic_filter = flt


def _clear_basic_filter(ctx: Context, p: dict[str, Any], what: str) -> None:
    ctx.ss.sheet_by_id(int(p.get("sheetId", 0)), what).basic_filter = None


def _create_metadata(ctx: Context, p: dict[str, Any], what: str) -> dict[str, Any]:
    meta = copy.deepcopy(p.get("developerMetadata") or {})
    if not meta.get("metadataKey"):
        raise ApiError(400, f"Invalid {what}: metadataKey is required.")
    if meta.get("visibility") not in ("DOCUMENT", "PROJECT"):
        raise ApiError(400, f"Invalid {what}: visibility must be DOCUMENT or PROJECT.")
    location = meta.get("location") or {}
    if location.get("spreadsheet") is True:
        meta["location"] = {"locationType": "SPREADSHEET", "spreadsheet": True}
    elif "sheetId" in location:
        ctx.ss.sheet_by_id(int(location["sheetId"]), what)
        meta["location"] = {"locationType": "SHEET", "sheetId": int(location["sheetId"])}
    else:
        raise ApiError(400, f"Invalid {what}: unsupported metadata location {location!r}.")
    meta["metadataId"] = int(meta.get("metadataId") or ctx.new_id())
    if any(m["metadataId"] == meta["metadataId"] for m in ctx.ss.developer_metadata):
        raise ApiError(400, f"Invalid {what}: metadata id {meta['metadataId']} already exists.")
    ctx.ss.developer_metadata.append(meta)
    return {"createDeveloperMetadata": {"developerMetadata": meta}}


def _delete_metadata(ctx: Context, p: dict[str, Any], what: str) -> dict[str, Any]:
    lookup = (p.get("dataFilter") or {}).get("developerMetadataLookup")
    if not isinstance(lookup, dict) or not lookup:
        raise ApiError(400, f"Invalid {what}: dataFilter.developerMetadataLookup is required.")
    keep: list[dict[str, Any]] = []
    gone: list[dict[str, Any]] = []
    for m in ctx.ss.developer_metadata:
        match = all(
            m.get(k) == v
            for k, v in lookup.items()
            if k in ("metadataKey", "metadataValue", "metadataId")
        )
        (gone if match else keep).append(m)
    ctx.ss.developer_metadata = keep
    return {"deleteDeveloperMetadata": {"deletedDeveloperMetadata": gone}}


def _add_chart(ctx: Context, p: dict[str, Any], what: str) -> dict[str, Any]:
    chart = copy.deepcopy(p.get("chart") or {})
    anchor = ((chart.get("position") or {}).get("overlayPosition") or {}).get("anchorCell")
    if not isinstance(anchor, dict) or "spec" not in chart:
        raise ApiError(400, f"Invalid {what}: a chart needs a spec and an overlay position.")
    sheet = ctx.ss.sheet_by_id(int(anchor.get("sheetId", 0)), what)
    r, c = int(anchor.get("rowIndex", 0)), int(anchor.get("columnIndex", 0))
    sheet.check(Box(r, r + 1, c, c + 1), what)
    chart["chartId"] = ctx.new_id()
    sheet.charts.append(chart)
    return {"addChart": {"chart": chart}}


def _delete_object(ctx: Context, p: dict[str, Any], what: str) -> None:
    target = p.get("objectId")
    for sheet in ctx.ss.sheets:
        for chart in sheet.charts:
            if chart["chartId"] == target:
                sheet.charts.remove(chart)
                return
    raise ApiError(400, f"Invalid {what}: No embedded object with id: {target}")


def _unique_title(ctx: Context, title: str, what: str, own: int | None = None) -> None:
    for s in ctx.ss.sheets:
        if s.title.lower() == title.lower() and s.sheet_id != own:
            raise ApiError(
                400,
                f'Invalid {what}: A sheet with the name "{title}" already exists.'
                " Please enter another name.",
            )


def _add_sheet(ctx: Context, p: dict[str, Any], what: str) -> dict[str, Any]:
    props = copy.deepcopy(p.get("properties") or {})
    sid = int(props.get("sheetId", ctx.new_id() % 2_000_000_000))
    if any(s.sheet_id == sid for s in ctx.ss.sheets):
        raise ApiError(400, f"Invalid {what}: Sheet with id {sid} already exists")
    title = props.get("title") or f"Sheet{len(ctx.ss.sheets) + 1}"
    _unique_title(ctx, title, what)
    grid = {"rowCount": 1000, "columnCount": 26, **props.get("gridProperties", {})}
    index = int(props.get("index", len(ctx.ss.sheets)))
    properties = {
        "sheetId": sid,
        "title": title,
        "index": index,
        "sheetType": "GRID",
        "gridProperties": grid,
    }
    if props.get("hidden"):
        properties["hidden"] = True
    for s in ctx.ss.sheets:
        if int(s.properties.get("index", 0)) >= index:
            s.properties["index"] = int(s.properties.get("index", 0)) + 1
    ctx.ss.sheets.append(Sheet(properties))
    ctx.ss.reindex()
    return {"addSheet": {"properties": copy.deepcopy(properties)}}


def _delete_sheet(ctx: Context, p: dict[str, Any], what: str) -> None:
    sheet = ctx.ss.sheet_by_id(int(p.get("sheetId", 0)), what)
    if len(ctx.ss.sheets) == 1:
        raise ApiError(400, f"Invalid {what}: You can't remove all the sheets in a document.")
    ctx.ss.sheets.remove(sheet)
    if all(s.properties.get("hidden") for s in ctx.ss.sheets):
        raise ApiError(400, f"Invalid {what}: You can't hide all the sheets in a document.")
    ctx.ss.reindex()


def _update_sheet(ctx: Context, p: dict[str, Any], what: str) -> None:
    props = p.get("properties") or {}
    sheet = ctx.ss.sheet_by_id(int(props.get("sheetId", 0)), what)
    tree = _mask(p.get("fields"), what)
    old_index = int(sheet.properties.get("index", 0))
    if "title" in tree:
        _unique_title(ctx, str(props.get("title", "")), what, sheet.sheet_id)
    fieldmask.apply_update(sheet.properties, props, tree)
    sheet.properties["sheetId"] = (
        sheet.sheet_id if "sheetId" in sheet.properties else int(props.get("sheetId", 0))
    )
    sheet.properties.setdefault("index", old_index)
    grid = sheet.properties.setdefault("gridProperties", {})
    grid.setdefault("rowCount", 1000)
    grid.setdefault("columnCount", 26)
    if grid["rowCount"] < 1 or grid["columnCount"] < 1:
        raise ApiError(400, f"Invalid {what}: a sheet needs at least one row and one column.")
    if grid.get("frozenColumnCount", 0) >= grid["columnCount"] + 1:
        raise ApiError(400, f"Invalid {what}: too many frozen columns.")
    # Cells beyond a smaller grid are gone.
    for key in [k for k in sheet.cells if k[0] >= grid["rowCount"] or k[1] >= grid["columnCount"]]:
        del sheet.cells[key]
    if all(s.properties.get("hidden") for s in ctx.ss.sheets):
        raise ApiError(400, f"Invalid {what}: You can't hide all the sheets in a document.")
    if "index" in tree:
        new_index = int(props.get("index", old_index))
        others = [s for s in ctx.ss.ordered() if s is not sheet]
        others.insert(min(new_index, len(others)), sheet)
        for i, s in enumerate(others):
            s.properties["index"] = i


def _update_spreadsheet(ctx: Context, p: dict[str, Any], what: str) -> None:
    tree = _mask(p.get("fields"), what)
    fieldmask.apply_update(ctx.ss.properties, p.get("properties") or {}, tree)


HANDLERS: dict[str, Callable[[Context, dict[str, Any], str], dict[str, Any] | None]] = {
    "updateCells": _update_cells,
    "repeatCell": _repeat_cell,
    "setDataValidation": _set_data_validation,
    "addConditionalFormatRule": _add_conditional,
    "deleteConditionalFormatRule": _delete_conditional,
    "addProtectedRange": _add_protected,
    "deleteProtectedRange": _delete_protected,
    "updateDimensionProperties": _update_dimensions,
    "setBasicFilter": _set_basic_filter,
    "clearBasicFilter": _clear_basic_filter,
    "createDeveloperMetadata": _create_metadata,
    "deleteDeveloperMetadata": _delete_metadata,
    "addChart": _add_chart,
    "deleteEmbeddedObject": _delete_object,
    "addSheet": _add_sheet,
    "deleteSheet": _delete_sheet,
    "updateSheetProperties": _update_sheet,
    "updateSpreadsheetProperties": _update_spreadsheet,
}


# --- values ---------------------------------------------------------------------------------


def _resolve(ss: Spreadsheet, text: str) -> tuple[Sheet, Box]:
    title, ref = split_range(text)
    try:
        sheet = ss.sheet_by_title(title)
    except ApiError:
        raise ApiError(400, f"Unable to parse range: {text}") from None
    return sheet, parse_a1_box(ref)


def a1_text(sheet: Sheet, box: Box) -> str:
    assert box.row1 is not None and box.col1 is not None
    title = sheet.title.replace("'", "''")
    start = f"{col_letters(box.col0)}{box.row0 + 1}"
    end = f"{col_letters(box.col1 - 1)}{box.row1}"
    return f"'{title}'!{start}" + (f":{end}" if end != start else "")


def value_range(ss: Spreadsheet, text: str, params: dict[str, Any], today: date) -> dict[str, Any]:
    """values.get of one range, rendered as asked."""
    sheet, box = _resolve(ss, text)
    b = box.clip(sheet.rows, sheet.cols)
    option = params.get("valueRenderOption") or "FORMATTED_VALUE"
    dt_option = params.get("dateTimeRenderOption") or "SERIAL_NUMBER"
    assert b.row1 is not None and b.col1 is not None
    values: list[list[Any]] = []
    for r in range(b.row0, b.row1):
        line: list[Any] = []
        for c in range(b.col0, b.col1):
            cell = sheet.cells.get((r, c))
            if not cell or "userEnteredValue" not in cell:
                line.append("")
                continue
            if option == "FORMULA" and "formulaValue" in cell["userEnteredValue"]:
                line.append(cell["userEnteredValue"]["formulaValue"])
                continue
            value, fmt = effective(cell, today)
            kind = (fmt.get("numberFormat") or {}).get("type", "")
            if (
                option == "UNFORMATTED_VALUE"
                and dt_option == "FORMATTED_STRING"
                and kind
                in (
                    "DATE",
                    "DATE_TIME",
                    "TIME",
                )
            ):
                line.append(
                    render(value or {}, fmt.get("numberFormat"), ss.locale, "FORMATTED_VALUE")
                )
            else:
                line.append(render(value or {}, fmt.get("numberFormat"), ss.locale, option))
        while line and line[-1] == "":
            line.pop()
        values.append(line)
    while values and not values[-1]:
        values.pop()
    out: dict[str, Any] = {"range": a1_text(sheet, b), "majorDimension": "ROWS"}
    if params.get("majorDimension") == "COLUMNS" and values:
        width = max(len(v) for v in values)
        values = [[row[c] if c < len(row) else "" for row in values] for c in range(width)]
        out["majorDimension"] = "COLUMNS"
    if values:
        out["values"] = values
    return out


PROTECTED_EDIT = (
    "You are trying to edit a protected cell or object. Please contact the spreadsheet owner to"
    " remove protection if you need to edit."
)


def check_protection(sheet: Sheet, r: int, c: int, user: str, owners: set[str]) -> None:
    """Google refuses an API write into a protected cell by a user who is not its editor."""
    if user in owners:
        return
    for pr in sheet.protected_ranges:
        if not box_of_grid_range(pr["range"]).contains(r, c):
            continue
        if any(box_of_grid_range(u).contains(r, c) for u in pr.get("unprotectedRanges", [])):
            continue
        if pr.get("warningOnly"):
            continue
        if user not in pr.get("editors", {}).get("users", []):
            raise ApiError(400, PROTECTED_EDIT)


def write_values(
    ss: Spreadsheet,
    data: dict[str, Any],
    option: str,
    what: str = "data",
    *,
    user: str | None = None,
    owners: set[str] | None = None,
) -> dict[str, Any]:
    """Write one ValueRange (RAW or USER_ENTERED); returns the update's counts. With `user`,
    protected cells refuse it as Google does (the owners and the range's editors excepted)."""
    if option not in ("RAW", "USER_ENTERED"):
        raise ApiError(400, "'valueInputOption' is required but not specified")
    values = data.get("values")
    if not isinstance(values, list) or any(not isinstance(v, list) for v in values):
        raise ApiError(
            400,
            f"Invalid value at '{what}.values' (type.googleapis.com/google.protobuf.ListValue),"
            f" {values!r}",
        )
    if data.get("majorDimension") == "COLUMNS" and values:
        width = max(len(v) for v in values)
        values = [[col[r] if r < len(col) else None for col in values] for r in range(width)]
    sheet, box = _resolve(ss, str(data.get("range", "")))
    rows = len(values)
    cols = max((len(v) for v in values), default=0)
    if rows and cols:
        sheet.check(Box(box.row0, box.row0 + rows, box.col0, box.col0 + cols), what)
    if user is not None:
        for i, line in enumerate(values):
            for j, value in enumerate(line):
                if value is not None:
                    check_protection(sheet, box.row0 + i, box.col0 + j, user, owners or set())
    cells = 0
    for i, line in enumerate(values):
        for j, value in enumerate(line):
            if value is None:
                continue  # null leaves the cell as it is
            key = (box.row0 + i, box.col0 + j)
            cell = dict(sheet.cells.get(key, {}))
            if option == "RAW":
                entered, fmt = raw_entered(value), None
            else:
                entered, fmt = user_entered(value, ss.locale)
            if entered is None:
                cell.pop("userEnteredValue", None)
            else:
                cell["userEnteredValue"] = entered
            if fmt and "numberFormat" not in cell.get("userEnteredFormat", {}):
                cell["userEnteredFormat"] = {
                    **cell.get("userEnteredFormat", {}),
                    "numberFormat": fmt,
                }
            if is_empty(cell):
                sheet.cells.pop(key, None)
            else:
                sheet.cells[key] = cell
            cells += 1
    updated = Box(box.row0, box.row0 + max(rows, 1), box.col0, box.col0 + max(cols, 1))
    return {
        "spreadsheetId": ss.spreadsheet_id,
        "updatedRange": a1_text(sheet, updated),
        "updatedRows": rows,
        "updatedColumns": cols,
        "updatedCells": cells,
    }


def clear_values(ss: Spreadsheet, text: str) -> dict[str, Any]:
    sheet, box = _resolve(ss, text)
    b = box.clip(sheet.rows, sheet.cols)
    for key in [k for k in sheet.cells if b.contains(*k)]:
        cell = {k: v for k, v in sheet.cells[key].items() if k != "userEnteredValue"}
        if is_empty(cell):
            del sheet.cells[key]
        else:
            sheet.cells[key] = cell
    return {"spreadsheetId": ss.spreadsheet_id, "clearedRange": a1_text(sheet, b)}
