"""The Sheets request builders (pure): the school spreadsheet is the xlsx template's twin, the
paint sends only what differs, the master's values go RAW."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from openpyxl.utils import get_column_letter

from sync.builders.google.common import (
    INSTRUCTIONS_SHEET_ID,
    MAIN_SHEET_ID,
    META_SHEET_ID,
    PASSPORT_SHEET_ID,
    hex_of,
    rgb,
    serial,
)
from sync.builders.google.master import STAGING_PREFIX, ExistingSheet, body_bytes, staged_master
from sync.builders.google.paint import compose_note, paint_requests, shown_after
from sync.builders.google.school import school_layout, school_requests
from sync.builders.school_xlsx import build_school_workbook, meta_values
from sync.consolidate import Master, MasterSheet
from sync.model import Control, School
from sync.notes import NOTE_MARK
from sync.paint import Paint, Shown
from sync.spec import load_spec
from tests.fakes.google.sheets_api import HANDLERS
from tests.fixtures import SCHOOL, small_plan

SPEC = load_spec()
PLAN = small_plan()
BUILT = datetime(2021, 9, 10, 8, 0)
EDITORS = ["sa@x.iam.gserviceaccount.com", "coordinator@example.ru"]


def requests_for(school: School = SCHOOL) -> list[dict[str, Any]]:
    return school_requests(
        SPEC, PLAN, school, built_at=BUILT, editors=EDITORS, timezone="Asia/Chita"
    )


def of_kind(requests: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [r[kind] for r in requests if kind in r]


def covers(gr: dict[str, Any], row0: int, col0: int) -> bool:
    return gr.get("startRowIndex", 0) <= row0 < gr.get("endRowIndex", 1 << 30) and gr.get(
        "startColumnIndex", 0
    ) <= col0 < gr.get("endColumnIndex", 1 << 30)


def test_colours_round_trip() -> None:
    for c in SPEC.controls.values():
        if c.fill:
            assert hex_of(rgb(c.fill)) == c.fill
    assert hex_of(None) is None and hex_of({"red": 1, "green": 1, "blue": 1}) is None


def test_every_request_is_one_google_knows() -> None:
    for request in requests_for():
        (kind,) = request
        assert kind in HANDLERS, kind


def test_sheets_and_service_data_as_in_the_workbook() -> None:
    requests = requests_for()
    added = {a["properties"]["sheetId"]: a["properties"] for a in of_kind(requests, "addSheet")}
    assert {i: p["title"] for i, p in added.items()} == {
        PASSPORT_SHEET_ID: SPEC.passport_sheet,
        INSTRUCTIONS_SHEET_ID: SPEC.instructions_sheet,
        META_SHEET_ID: SPEC.meta_sheet,
    }
    assert added[META_SHEET_ID]["hidden"] is True
    main = of_kind(requests, "updateSheetProperties")[0]["properties"]
    assert main["sheetId"] == MAIN_SHEET_ID and main["title"] == SPEC.main_sheet
    meta_cells = next(
        u for u in of_kind(requests, "updateCells") if u["range"]["sheetId"] == META_SHEET_ID
    )
    pairs = [
        tuple(v["userEnteredValue"]["stringValue"] for v in row["values"])
        for row in meta_cells["rows"]
    ]
    assert pairs == meta_values(SPEC, SCHOOL, PLAN, BUILT)
    metadata = {
        m["developerMetadata"]["metadataKey"]: m["developerMetadata"]["metadataValue"]
        for m in of_kind(requests, "createDeveloperMetadata")
    }
    assert metadata["roadmap_sync.school_id"] == SCHOOL.id
    assert metadata["roadmap_sync.plan_hash"] == PLAN.digest(SCHOOL.audience)


def test_plan_values_are_text_and_dates_are_serials() -> None:
    main = next(
        u for u in of_kind(requests_for(), "updateCells") if u["range"]["sheetId"] == MAIN_SHEET_ID
    )
    header = [v["userEnteredValue"]["stringValue"] for v in main["rows"][0]["values"]]
    assert header == [c.header for c in SPEC.columns]
    items = PLAN.for_audience(SCHOOL.audience)
    for item, row in zip(items, main["rows"][1:], strict=True):
        cells = dict(zip([c.key for c in SPEC.columns], row["values"], strict=False))
        assert cells["activity"]["userEnteredValue"] == {"stringValue": item.activity}
        assert "formulaValue" not in str(row)
        if item.due:
            assert cells["due"]["userEnteredValue"] == {"numberValue": serial(item.due)}


def test_dropdowns_are_the_workbook_s() -> None:
    wb = build_school_workbook(SPEC, PLAN, SCHOOL, built_at=BUILT)
    xlsx: dict[str, list[str]] = {}
    for dv in wb[SPEC.main_sheet].data_validations.dataValidation:
        if dv.type == "list":
            letter = str(dv.sqref).split(":")[0].rstrip("0123456789")
            xlsx[letter] = dv.formula1.strip('"').split(",")
    google: dict[str, list[str]] = {}
    for v in of_kind(requests_for(), "setDataValidation"):
        if (
            v["range"]["sheetId"] == MAIN_SHEET_ID
            and v["rule"]["condition"]["type"] == "ONE_OF_LIST"
        ):
            letter = get_column_letter(v["range"]["startColumnIndex"] + 1)
            google[letter] = [x["userEnteredValue"] for x in v["rule"]["condition"]["values"]]
            assert v["rule"]["strict"] is True
    assert google == xlsx


def test_protected_cells_are_the_workbook_s_locked_cells() -> None:
    """Every cell of the table is protected in Sheets exactly when it is locked in the xlsx."""
    wb = build_school_workbook(SPEC, PLAN, SCHOOL, built_at=BUILT)
    ws = wb[SPEC.main_sheet]
    ranges = [
        p["protectedRange"]
        for p in of_kind(requests_for(), "addProtectedRange")
        if p["protectedRange"]["range"]["sheetId"] == MAIN_SHEET_ID
    ]
    assert all(r["editors"]["users"] == EDITORS for r in ranges)
    last = school_layout(SPEC, PLAN, SCHOOL).last_row
    for row in range(1, last + 1):
        for col in range(1, len(SPEC.columns) + 1):
            locked = ws.cell(row, col).protection.locked
            protected = any(covers(r["range"], row - 1, col - 1) for r in ranges)
            assert protected == locked, (row, col)


def test_conditional_colours_are_the_workbook_s_in_its_order() -> None:
    wb = build_school_workbook(SPEC, PLAN, SCHOOL, built_at=BUILT)
    rules = sorted(
        (rule for cf in wb[SPEC.main_sheet].conditional_formatting for rule in cf.rules),
        key=lambda r: r.priority,
    )
    xlsx = [
        (r.dxf.fill.fgColor.rgb[-6:] if r.dxf.fill.fgColor.rgb else r.dxf.fill.bgColor.rgb[-6:])
        for r in rules
    ]
    google = [
        hex_of(r["rule"]["booleanRule"]["format"]["backgroundColor"])
        for r in of_kind(requests_for(), "addConditionalFormatRule")
    ]
    assert google == [x.upper() for x in xlsx]
    formulas = [
        r["rule"]["booleanRule"]["condition"]["values"][0]["userEnteredValue"]
        for r in of_kind(requests_for(), "addConditionalFormatRule")
        if r["rule"]["booleanRule"]["condition"]["type"] == "CUSTOM_FORMULA"
    ]
    xlsx_formulas = ["=" + r.formula[0] for r in rules if r.type == "expression"]
    assert formulas == xlsx_formulas


def paint(controls: list[tuple[int, str, str | None]], notes: dict[tuple[str, str], str]) -> Paint:
    return Paint(
        SPEC.main_sheet,
        13,
        1,
        tuple((r, Control("x", v, f)) for r, v, f in controls),
        notes,
    )


IDS = {SPEC.main_sheet: 0, SPEC.passport_sheet: 1}


def test_nothing_is_sent_when_the_school_already_sees_the_paint() -> None:
    p = paint([(2, "В срок", None), (3, "Ошибка", "F8CBAD")], {(SPEC.main_sheet, "I3"): "Нет даты"})
    shown = Shown(
        SPEC.main_sheet,
        13,
        {2: ("В срок", None), 3: ("Ошибка", "F8CBAD")},
        {(SPEC.main_sheet, "M3"): compose_note("", "I3: Нет даты")},
    )
    assert paint_requests(p, IDS, shown) == []
    assert paint_requests(p, IDS, shown_after(p, Shown(SPEC.main_sheet, 13), list(IDS))) == []


def test_only_what_differs_is_sent_in_runs_of_rows() -> None:
    p = paint(
        [
            (2, "В срок", None),
            (3, "Просрочено", "FFC7CE"),
            (4, "Просрочено", "FFC7CE"),
            (6, "В срок", None),
        ],
        {},
    )
    shown = Shown(SPEC.main_sheet, 13, {2: ("В срок", None), 6: ("Просрочено", "FFC7CE")})
    requests = paint_requests(p, IDS, shown)
    assert [r["updateCells"]["range"] for r in requests] == [
        {
            "sheetId": 0,
            "startRowIndex": 2,
            "endRowIndex": 4,
            "startColumnIndex": 12,
            "endColumnIndex": 13,
        },
        {
            "sheetId": 0,
            "startRowIndex": 5,
            "endRowIndex": 6,
            "startColumnIndex": 12,
            "endColumnIndex": 13,
        },
    ]
    cleared = requests[1]["updateCells"]["rows"][0]["values"][0]
    assert cleared == {"userEnteredValue": {"stringValue": "В срок"}}  # the fill goes


def test_notes_go_on_control_cells_and_never_over_someone_else_s() -> None:
    own = "Дату уточним"
    shown = Shown(
        SPEC.main_sheet,
        13,
        {},
        {
            # An older version wrote beside the school's words: the school's now, left alone.
            (SPEC.main_sheet, "I3"): f"{own}\n\n{NOTE_MARK}\nОшибка: старое",
            (SPEC.main_sheet, "H4"): f"{NOTE_MARK}\nОшибка: исправлено",
            (SPEC.main_sheet, "J5"): "только своё",
            (SPEC.main_sheet, "M5"): "координатор: позвонить",  # on a Контроль cell: not ours
        },
    )
    p = paint(
        [],
        {
            (SPEC.main_sheet, "I3"): "Ошибка: новое",
            (SPEC.main_sheet, "J5"): "Ошибка: тоже",
            ("Паспорт ОО", "B5"): "Нет телефона",
        },
    )
    requests = paint_requests(p, IDS, shown)
    notes = {
        (
            r["updateCells"]["range"]["sheetId"],
            r["updateCells"]["range"]["startRowIndex"],
            r["updateCells"]["range"]["startColumnIndex"],
        ): r["updateCells"]["rows"][0]["values"][0]["note"]
        for r in requests
    }
    assert notes == {
        (0, 2, 12): f"{NOTE_MARK}\nI3: Ошибка: новое",  # on the row's Контроль cell, M3
        (0, 3, 7): "",  # ours only, and fixed: the note goes
        (0, 0, 12): f"{NOTE_MARK}\nлист «Паспорт ОО», B5: Нет телефона",  # the header, M1
    }
    # M5 holds a coordinator's note: ours for row 5 is not written over it.
    assert (0, 4, 12) not in notes


def test_master_values_go_raw_and_sheets_are_reused() -> None:
    sheet = MasterSheet(
        name="Мероприятия",
        headers=["Школа", "Комментарий", "Срок", "Изменено", "%"],
        rows=[["СОШ № 1", "=1+1", date(2021, 9, 30), datetime(2022, 1, 9, 21, 30), 0.5]],
        fills={(0, 1): "FFC7CE"},
        widths=[30, 30, 12, 17, 9],
        number_formats={2: "DD.MM.YYYY", 3: "DD.MM.YYYY HH:MM", 4: "0%"},
        chart_column=4,
    )
    master = Master([sheet], "Свод")
    plan = staged_master(master, [ExistingSheet(0, "Sheet1", 1000, 26)], drop=[0])
    (requests,) = plan.build
    kinds = [next(iter(r)) for r in requests]
    assert kinds[0] == "addSheet" and "deleteSheet" not in kinds
    assert requests[0]["addSheet"]["properties"]["hidden"] is True
    assert requests[0]["addSheet"]["properties"]["title"] == STAGING_PREFIX + "Мероприятия"
    assert "addChart" in kinds
    assert plan.values == [
        [
            {
                "range": f"'{STAGING_PREFIX}Мероприятия'!A1",
                "values": [
                    ["Школа", "Комментарий", "Срок", "Изменено", "%"],
                    ["СОШ № 1", "=1+1", 44469.0, 44570.89583333, 0.5],
                ],
            }
        ]
    ]
    formats = {
        r["repeatCell"]["range"]["startColumnIndex"]: r["repeatCell"]["cell"]["userEnteredFormat"]
        for r in requests
        if "repeatCell" in r and r["repeatCell"]["range"].get("startRowIndex") == 1
    }
    assert formats[2]["numberFormat"]["type"] == "DATE"
    assert formats[3]["numberFormat"]["type"] == "DATE_TIME"
    assert formats[4]["numberFormat"] == {"type": "PERCENT", "pattern": "0%"}
    new = requests[0]["addSheet"]["properties"]["sheetId"]
    # The switch: shown, the default sheet gone, the real title taken, in one batch.
    assert plan.switch == [
        {
            "updateSheetProperties": {
                "properties": {"sheetId": new, "hidden": False},
                "fields": "hidden",
            }
        },
        {"deleteSheet": {"sheetId": 0}},
        {
            "updateSheetProperties": {
                "properties": {"sheetId": new, "title": "Мероприятия", "index": 0},
                "fields": "title,index",
            }
        },
    ]
    # Next time: the old sheet is replaced at the switch, a staging leftover deleted first.
    again = staged_master(
        master,
        [
            ExistingSheet(new, "Мероприятия", 2, 12, (7,), True),
            ExistingSheet(new + 1, STAGING_PREFIX + "Мероприятия", 2, 12),
        ],
    )
    assert again.build[0][0] == {"deleteSheet": {"sheetId": new + 1}}
    assert {"deleteSheet": {"sheetId": new}} in again.switch
    newer = again.build[0][1]["addSheet"]["properties"]["sheetId"]
    assert newer not in (new, new + 1)
    requests = [*requests, *plan.switch]
    again_all = [r for b in again.build for r in b] + again.switch
    for request in requests + again_all:
        assert next(iter(request)) in HANDLERS


def test_a_large_master_goes_in_bodies_under_the_chunk_size() -> None:
    rows = [[f"Школа № {i}", "x" * 200, i, 0.5] for i in range(5000)]
    sheet = MasterSheet(
        name="Мероприятия",
        headers=["Школа", "Текст", "№", "%"],
        rows=rows,
        fills={(r, 1): "FFC7CE" for r in range(0, 5000, 3)},
        widths=[30, 30, 9, 9],
    )
    limit = 100_000
    plan = staged_master(Master([sheet], "Свод"), [], chunk_bytes=limit)
    bodies = [{"requests": b} for b in plan.build] + [
        {"valueInputOption": "RAW", "data": d} for d in plan.values
    ]
    assert len(plan.values) > 10 and len(plan.build) > 1
    assert max(body_bytes(b) for b in bodies) < limit
    # Every row lands once, in order, at its own row.
    got = []
    for data in plan.values:
        for rng in data:
            first = int(rng["range"].rsplit("!A", 1)[1])
            assert first == len(got) + 1
            got += rng["values"]
    assert got[1:] == [[r[0], r[1], r[2], r[3]] for r in rows]
    painted = sum(
        len(r["updateCells"]["rows"]) for b in plan.build for r in b if "updateCells" in r
    )
    assert painted == 4999  # rows 0..4998: the fills' bounding box
