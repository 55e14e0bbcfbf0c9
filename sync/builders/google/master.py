"""The master as a Google spreadsheet (pure): staged sheets in bodies under the chunk size,
then one switch; value ranges for `values.batchUpdate`."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sync.builders.google.common import (
    DATE_PATTERN,
    DATETIME_PATTERN,
    MASTER_HEADER_FILL,
    WRAP_FROM_WIDTH,
    Request,
    _dimension,
    _format_fields,
    _runs,
    grid_range,
    quote_sheet,
    raw_value,
    repeat_format,
    rgb,
    width_px,
)
from sync.cells import a1
from sync.consolidate import Master, MasterSheet

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
    editors: Sequence[str] = (),
) -> MasterPlan:
    """Requests that build every master sheet beside the old ones and switch to them at once.

    The values go separately, with valueInputOption RAW: a school's "=IMPORTRANGE(...)" stays
    text. `drop` lists other sheets to delete at the switch (a new spreadsheet's default one).
    Sheets of other titles (a coordinator's own) are left alone. Every new sheet is protected
    whole for `editors` (the program), except the data cells of its `editable` columns: the
    coordinators' review marks (see `master_protection`).
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
        build += master_protection(sheet, sid, nrows, editors)
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


def master_protection(
    sheet: MasterSheet, sid: int, nrows: int, editors: Sequence[str]
) -> list[Request]:
    """The sheet protected whole except its `editable` columns' data cells (a dropdown where
    the column has choices), and its `hidden_columns` hidden.

    The protection and the rules belong to the new sheet: the switch deletes the old sheet with
    its own, so nothing piles up from run to run.
    """
    out: list[Request] = []
    rows = (1, nrows) if nrows > 1 else None  # the data rows, 0-based, end exclusive
    for c in sheet.hidden_columns:
        out.append(
            {
                "updateDimensionProperties": {
                    "range": {
                        "sheetId": sid,
                        "dimension": "COLUMNS",
                        "startIndex": c,
                        "endIndex": c + 1,
                    },
                    "properties": {"hiddenByUser": True},
                    "fields": "hiddenByUser",
                }
            }
        )
    open_ranges: list[dict[str, int]] = []
    if rows is not None:
        for first, last in _runs(sheet.editable):
            open_ranges.append(grid_range(sid, *rows, first, last + 1))
        for c, choices in sorted(sheet.editable.items()):
            if not choices:
                continue
            out.append(
                {
                    "setDataValidation": {
                        "range": grid_range(sid, *rows, c, c + 1),
                        "rule": {
                            "condition": {
                                "type": "ONE_OF_LIST",
                                "values": [{"userEnteredValue": v} for v in choices],
                            },
                            "inputMessage": "Выберите значение из списка",
                            "strict": True,
                            "showCustomUi": True,
                        },
                    }
                }
            )
    named = ", ".join(f"«{sheet.headers[c]}»" for c in sorted(sheet.editable))
    protected: dict[str, Any] = {
        "range": {"sheetId": sid},
        "description": (
            f"Свод заполняет синхронизация; координатор изменяет только {named}"
            if open_ranges
            else "Свод заполняет синхронизация"
        ),
        "warningOnly": False,
        "editors": {"users": list(dict.fromkeys(editors))},
    }
    if open_ranges:
        protected["unprotectedRanges"] = open_ranges
    out.append({"addProtectedRange": {"protectedRange": protected}})
    return out


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
