"""The master workbook on disk, read back with openpyxl and with calamine."""

from __future__ import annotations

import csv
from datetime import date, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from python_calamine import CalamineWorkbook

from sync.builders.master_xlsx import write_master_xlsx
from sync.consolidate import Master, MasterSheet, consolidate
from sync.model import Problem, RowReport, SchoolReport, Severity
from tests.libreoffice import CSV_ALL_SHEETS, convert
from tests.test_consolidate import (
    A1,
    A2,
    B1,
    PLAN,
    SPEC,
    TODAY,
    coordinator,
    ctl,
    failed_school,
    report,
    school_one,
    school_two,
)

HOSTILE = [
    "=1+1",
    '=HYPERLINK("http://x","y")',
    "+7 999",
    "@SUM(A1)",
    "-1",
    "0012",
    "#N/A",
    "3.5",
]


def hostile_school() -> SchoolReport:
    # Every text a school might type that a spreadsheet could take for a formula or a number.
    rows = [
        RowReport(A1, 5, {"status": "Выполнено", "evidence": text, "comment": text}, ctl("done"))
        for text in HOSTILE
    ]
    rows.append(RowReport(A2, 13, {"status": "В работе", "comment": "a\x01b"}, ctl("overdue")))
    return report(
        '=HYPERLINK("http://x","y")',
        rows,
        problems=[Problem("e", Severity.ERROR, "Дорожная карта", "I5", "", "=1+1")],
        passport={"phone": "+7 999", "pupils": "0012"},
        modified=datetime(2022, 2, 28, 17, 5),
        synced_at=datetime(2022, 3, 1, 2, 0),
    )


@pytest.fixture
def master() -> Master:
    reports = [school_one(), school_two(), failed_school(), hostile_school(), coordinator()]
    return consolidate(reports, PLAN, SPEC, TODAY, municipality="г. Ижевск")


@pytest.fixture
def written(master: Master, tmp_path: Path) -> Path:
    path = tmp_path / "out" / "свод.xlsx"
    write_master_xlsx(master, path)
    return path


def calamine_sheets(path: Path) -> dict[str, list[list[Any]]]:
    wb = CalamineWorkbook.from_path(str(path))
    try:
        return {n: wb.get_sheet_by_name(n).to_python() for n in wb.sheet_names}
    finally:
        wb.close()


def test_sheets_and_headers(master: Master, written: Path) -> None:
    wb = openpyxl.load_workbook(written)
    assert wb.sheetnames == [s.name for s in master.sheets]
    assert wb.properties.title == "Свод дорожной карты: г. Ижевск, на 01.03.2022"
    for sheet in master.sheets:
        ws = wb[sheet.name]
        assert [c.value for c in ws[1]] == sheet.headers
        assert ws.max_row == len(sheet.rows) + 1
        assert ws["A1"].font.b
        assert ws["A1"].fill.fgColor.rgb.endswith("D9D9D9")
    grids = calamine_sheets(written)
    assert list(grids) == [s.name for s in master.sheets]
    for sheet in master.sheets:
        assert grids[sheet.name][0] == sheet.headers


def test_school_text_stays_text(written: Path) -> None:
    wb = openpyxl.load_workbook(written)
    ws = wb["Мероприятия"]
    evidence = [r[9] for r in ws.iter_rows(min_row=2) if r[0].value == HOSTILE[1]][: len(HOSTILE)]
    assert sorted(c.value for c in evidence) == sorted(HOSTILE)
    for c in evidence:
        assert c.data_type == "s", c.value
    # The school's name is hostile too: in a header of Свод and in the first column elsewhere.
    assert '=HYPERLINK("http://x","y")' in [c.value for c in wb["Свод"][1]]
    assert wb["Свод"]["H1"].data_type == "s"
    names = [c for c in wb["Школы"]["A"] if c.value == '=HYPERLINK("http://x","y")']
    assert names and names[0].data_type == "s"
    assert wb["Ошибки"]["E4"].value == "=1+1" and wb["Ошибки"]["E4"].data_type == "s"
    assert "+7 999" in [c.value for c in wb["Паспорта"][5]]
    # A control character cannot be stored in xlsx: it is dropped, the rest kept.
    assert "ab" in [c.value for c in ws["L"]]

    grids = calamine_sheets(written)
    texts = [r[9] for r in grids["Мероприятия"][1:]]
    for text in HOSTILE:
        assert text in texts
    assert all(isinstance(v, str) for v in texts)
    assert "0012" in grids["Паспорта"][4]
    assert grids["Ошибки"][3][4] == "=1+1"


def test_no_formulas_anywhere(written: Path) -> None:
    wb = openpyxl.load_workbook(written)
    for ws in wb.worksheets:
        for line in ws.iter_rows():
            for c in line:
                assert c.data_type != "f", (ws.title, c.coordinate, c.value)


def test_fills_on_control_cells(master: Master, written: Path) -> None:
    wb = openpyxl.load_workbook(written)
    ws = wb["Мероприятия"]
    control_col = master.sheet("Мероприятия").headers.index("Контроль") + 1
    first = ws.cell(2, control_col)
    assert first.value == "Выполнено"
    assert first.fill.fill_type == "solid"
    assert first.fill.fgColor.rgb.endswith("C6EFCE")
    svod = wb["Свод"]
    assert svod["E2"].value == "Выполнено" and svod["E2"].fill.fgColor.rgb.endswith("C6EFCE")
    assert svod["F2"].value == "Просрочено" and svod["F2"].fill.fgColor.rgb.endswith("FFC7CE")
    assert svod["H3"].value == "Просрочено"  # the fourth school, its second row
    assert svod["F3"].value == "нет данных" and svod["F3"].fill.fill_type is None
    schools = wb["Школы"]
    assert schools["G3"].fill.fgColor.rgb.endswith("FFC7CE")  # the school with an overdue row


def test_layout(master: Master, written: Path) -> None:
    wb = openpyxl.load_workbook(written)
    assert wb["Свод"].freeze_panes == "E2"
    assert wb["Школы"].freeze_panes == "B2"
    for sheet in master.sheets:
        ws = wb[sheet.name]
        assert ws.freeze_panes is not None and ws.freeze_panes.endswith("2")
        last = openpyxl.utils.get_column_letter(len(sheet.headers))
        assert ws.auto_filter.ref == f"A1:{last}{len(sheet.rows) + 1}"
        assert ws.column_dimensions["A"].width == pytest.approx(sheet.widths[0])
    svod = wb["Свод"]
    assert svod["C2"].alignment.wrap_text  # Мероприятие is long text
    assert not svod["A2"].alignment.wrap_text


def test_chart_on_schools_sheet(written: Path) -> None:
    wb = openpyxl.load_workbook(written)
    ws = wb["Школы"]
    assert len(ws._charts) == 1
    chart = ws._charts[0]
    anchor = chart.anchor._from
    assert anchor.col >= 9  # to the right of the nine columns of the table
    assert all(not wb[n]._charts for n in wb.sheetnames if n != "Школы")


def test_dates_and_percent(written: Path) -> None:
    wb = openpyxl.load_workbook(written)
    svod = wb["Свод"]
    assert svod["D2"].value == datetime(2021, 10, 1)
    assert svod["D2"].number_format == "DD.MM.YYYY"
    assert svod["D4"].value == "ежегодно (август)"
    schools = wb["Школы"]
    assert schools["G2"].number_format == "0%"
    assert schools["G2"].value == pytest.approx(1 / 3)
    assert schools["H2"].value == datetime(2022, 2, 28, 17, 5)
    assert schools["H2"].number_format == "DD.MM.YYYY HH:MM"
    rows = wb["Мероприятия"]
    assert rows["G2"].number_format == "DD.MM.YYYY"
    assert rows["I2"].value == datetime(2021, 9, 20)
    assert rows["I2"].number_format == "DD.MM.YYYY"

    grids = calamine_sheets(written)
    assert grids["Свод"][1][3] in (date(2021, 10, 1), datetime(2021, 10, 1))
    assert grids["Школы"][1][7] == datetime(2022, 2, 28, 17, 5)


def test_write_is_atomic_and_replaces(master: Master, tmp_path: Path) -> None:
    path = tmp_path / "свод.xlsx"
    path.write_bytes(b"old")
    write_master_xlsx(master, path)
    assert openpyxl.load_workbook(path).sheetnames[0] == "Свод"
    assert [p.name for p in tmp_path.iterdir()] == ["свод.xlsx"]  # no temporary file left


def test_failed_write_leaves_old_file(
    master: Master, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "свод.xlsx"
    path.write_bytes(b"old")

    def refuse(src: object, dst: object) -> None:
        raise PermissionError("открыт в Excel")

    monkeypatch.setattr("sync.fileio.os.replace", refuse)
    with pytest.raises(PermissionError):
        write_master_xlsx(master, path)
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["свод.xlsx"]


def test_empty_master(tmp_path: Path) -> None:
    m = consolidate([], PLAN, SPEC, TODAY)
    path = tmp_path / "пусто.xlsx"
    write_master_xlsx(m, path)
    wb = openpyxl.load_workbook(path)
    assert wb["Школы"].max_row == 1
    assert not wb["Школы"]._charts


def test_timezone_aware_datetime_is_written(tmp_path: Path) -> None:
    from datetime import timedelta, timezone

    aware = datetime(2022, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=4)))
    sheet = MasterSheet("Школы", ["Изменено"], [[aware]], widths=[17])
    path = tmp_path / "tz.xlsx"
    write_master_xlsx(Master([sheet], "t"), path)
    assert openpyxl.load_workbook(path)["Школы"]["A2"].value == datetime(2022, 3, 1, 9, 30)


def test_unexpected_values_are_written_as_text(tmp_path: Path) -> None:
    from decimal import Decimal

    class Odd:
        def __str__(self) -> str:
            return "=странно"

    sheet = MasterSheet("Свод", ["a", "b"], [[Decimal("1.5"), Odd()]], widths=[9, 9])  # type: ignore[list-item]
    path = tmp_path / "odd.xlsx"
    write_master_xlsx(Master([sheet], "t"), path)
    ws = openpyxl.load_workbook(path)["Свод"]
    assert ws["A2"].value == 1.5
    assert (ws["B2"].value, ws["B2"].data_type) == ("=странно", "s")


def test_plan_rows_unused_by_master_are_fine() -> None:
    # B1 is in the plan: the hostile school has no row for it and gets "нет данных".
    m = consolidate([hostile_school()], PLAN, SPEC, TODAY)
    svod = m.sheet("Свод")
    b1 = next(r for r in svod.rows if r[2] == B1.activity)
    assert b1[4] == "нет данных"


def test_libreoffice_shows_school_text_as_typed(written: Path, tmp_path: Path) -> None:
    # LibreOffice exports each sheet to CSV "as shown": a formula would show its result.
    out = convert(written, CSV_ALL_SHEETS, tmp_path / "csv", tmp_path / "lo-profile")
    with (out / f"{written.stem}-Мероприятия.csv").open(encoding="utf-8") as f:
        rows = list(csv.reader(f))
    shown = {r[9] for r in rows[1:]}
    assert set(HOSTILE) <= shown
    assert rows[1][6] == "01.10.2021"  # DD.MM.YYYY
    with (out / f"{written.stem}-Школы.csv").open(encoding="utf-8") as f:
        schools = list(csv.reader(f))
    assert schools[1][6] == "33%"
    assert schools[1][7] == "28.02.2022 17:05"
