"""The master workbook on disk, read back with openpyxl and with calamine."""

from __future__ import annotations

import csv
import zipfile
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from python_calamine import CalamineWorkbook

from sync.builders.master_xlsx import write_master_xlsx
from sync.consolidate import HEADER_ROW, Master, MasterSheet, consolidate
from sync.model import Problem, RowReport, SchoolReport, Severity
from tests.fixtures import (
    A1,
    A2,
    B1,
    SPEC,
    coordinator,
    ctl,
    failed_school,
    report,
    school_one,
    school_two,
)
from tests.fixtures import (
    MASTER_PLAN as PLAN,
)
from tests.fixtures import (
    MASTER_TODAY as TODAY,
)
from tests.libreoffice import CSV_ALL_SHEETS, convert

H = HEADER_ROW  # the header row; data from H + 1


def at(col: str, row: int) -> str:
    """A cell by its row in a one-row-header table (2 = the first data row, below the header)."""
    return f"{col}{H + row - 1}"


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
        # The title block: whose master, the period and as of when, then the colour legend.
        assert ws["A1"].value == master.title and ws["A1"].font.b
        assert ws["A2"].value == master.subtitle
        if sheet.legend:
            assert str(ws["A3"].value).startswith("Цвета:") or ws.column_dimensions["A"].width > 15
            legend = [c for c in ws[3] if c.value and c.value != "Цвета:"]
            # Each meaning in a cell of its colour; what does not fit shares a last cell, each
            # colour a «■» of it.
            shown = " ".join(str(c.value) for c in legend)
            for rgb, text in sheet.legend:
                assert text in shown
                cell = next(c for c in legend if text in str(c.value))
                if rgb and "■" not in str(cell.value):
                    assert cell.fill.fgColor.rgb.endswith(rgb), (sheet.name, text)
        assert [c.value for c in ws[H]][: len(sheet.headers)] == sheet.headers
        assert ws.max_row == len(sheet.rows) + H
        assert ws[f"A{H}"].font.b
        assert ws[f"A{H}"].fill.fgColor.rgb.endswith("D9D9D9")
        # One font family everywhere, header cells included.
        for row in ws.iter_rows(min_row=1, max_row=min(ws.max_row, H + 5)):
            for c in row:
                if c.value is not None:
                    assert c.font.name == "Arial", (sheet.name, c.coordinate)
    grids = calamine_sheets(written)
    assert list(grids) == [s.name for s in master.sheets]
    for sheet in master.sheets:
        assert grids[sheet.name][H - 1][: len(sheet.headers)] == sheet.headers


def test_school_text_stays_text(written: Path) -> None:
    wb = openpyxl.load_workbook(written)
    ws = wb["Мероприятия"]
    evidence = [r[11] for r in ws.iter_rows(min_row=H + 1) if r[0].value == HOSTILE[1]]
    evidence = evidence[: len(HOSTILE)]
    assert sorted(c.value for c in evidence) == sorted(HOSTILE)
    for c in evidence:
        assert c.data_type == "s", c.value
    # The school's name is hostile too: in a header of Свод and in the first column elsewhere.
    assert '=HYPERLINK("http://x","y")' in [c.value for c in wb["Свод"][H]]
    assert wb["Свод"][f"H{H}"].data_type == "s"
    names = [c for c in wb["Школы"]["A"] if c.value == '=HYPERLINK("http://x","y")']
    assert names and names[0].data_type == "s"
    assert wb["Ошибки"][at("E", 4)].value == "=1+1"
    assert wb["Ошибки"][at("E", 4)].data_type == "s"
    assert "+7 999" in [c.value for c in wb["Паспорта"][H + 4]]
    # A control character cannot be stored in xlsx: it is dropped, the rest kept.
    assert "ab" in [c.value for c in ws["N"]]

    grids = calamine_sheets(written)
    texts = [r[11] for r in grids["Мероприятия"][H:]]
    for text in HOSTILE:
        assert text in texts
    assert all(isinstance(v, str) for v in texts)
    assert "0012" in grids["Паспорта"][H + 3]
    assert grids["Ошибки"][H + 2][4] == "=1+1"


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
    first = ws.cell(H + 1, control_col)
    assert first.value == "Выполнено"
    assert first.fill.fill_type == "solid"
    assert first.fill.fgColor.rgb.endswith("C6EFCE")
    svod = wb["Свод"]
    e2, f2 = svod[at("E", 2)], svod[at("F", 2)]
    assert e2.value == "Выполнено" and e2.fill.fgColor.rgb.endswith("C6EFCE")
    assert f2.value == "Просрочено" and f2.fill.fgColor.rgb.endswith("FFC7CE")
    assert svod[at("H", 3)].value == "Просрочено"  # the fourth school, its second row
    assert svod[at("F", 3)].value == "нет данных" and svod[at("F", 3)].fill.fill_type is None
    schools = wb["Школы"]
    assert schools[at("G", 2)].fill.fgColor.rgb.endswith("FFC7CE")  # 33 %: below 50 %
    assert schools[at("E", 3)].fill.fgColor.rgb.endswith("FFC7CE")  # an overdue row
    assert schools[at("G", 3)].fill.fill_type is None  # 50 %: not below the threshold
    assert schools.conditional_formatting  # the data bar of «% выполнения»


def test_layout(master: Master, written: Path) -> None:
    wb = openpyxl.load_workbook(written)
    assert wb["Свод"].freeze_panes == f"E{H + 1}"
    assert wb["Школы"].freeze_panes == f"B{H + 1}"
    for sheet in master.sheets:
        ws = wb[sheet.name]
        assert ws.freeze_panes is not None and ws.freeze_panes.endswith(str(H + 1))
        last = openpyxl.utils.get_column_letter(len(sheet.headers))
        assert ws.auto_filter.ref == f"A{H}:{last}{len(sheet.rows) + H}"
        # Printed: A4 landscape, header row on every page, title and page numbers.
        assert ws.page_setup.orientation == "landscape" and ws.page_setup.paperSize in (9, "9")
        assert ws.print_title_rows in (f"{H}:{H}", f"${H}:${H}")
        assert master.title[:40] in ws.oddHeader.left.text
        assert "&P" in ws.oddFooter.right.text and "&N" in ws.oddFooter.right.text
        # Widths fit content: never wider than the sheet asks for a wrapped column, never so
        # narrow that a header word is cut.
        for c, header in enumerate(sheet.headers):
            width = ws.column_dimensions[openpyxl.utils.get_column_letter(c + 1)].width
            assert width >= max(len(w) for w in header.split()) + 1, (sheet.name, header)
    svod = wb["Свод"]
    assert svod[at("C", 2)].alignment.wrap_text  # Мероприятие is long text
    assert not svod[at("A", 2)].alignment.wrap_text
    # Rows are as tall as their wrapped text: a long activity gets more than one line.
    width = svod.column_dimensions["C"].width
    for r in range(H + 1, svod.max_row + 1):
        text = str(svod[f"C{r}"].value or "")
        if len(text) > width:
            assert svod.row_dimensions[r].height > 2 * 12.75, text
        elif len(text) < width / 2:
            assert (svod.row_dimensions[r].height or 15) < 2 * 12.75, text
    assert svod.row_dimensions[H].height >= 2 * 12.75  # school names wrap in the header


def test_print_scale_keeps_text_readable(tmp_path: Path) -> None:
    # Narrow: as printed. A little too wide: shrunk to one page width (text stays >= 8 pt).
    # Far too wide: 80 % (8 pt), more pages across, the first columns repeated on each.
    def sheet(n: int) -> MasterSheet:
        return MasterSheet("Свод", [f"к{i}" for i in range(n)], [["x" * 10] * n], widths=[12] * n)

    path = tmp_path / "scale.xlsx"
    for n, fit, scale in ((5, False, None), (13, True, None), (40, False, 80)):
        s = sheet(n)
        s.frozen_columns = 2
        write_master_xlsx(Master([s], "t"), path)
        ws = openpyxl.load_workbook(path)["Свод"]
        assert bool(ws.sheet_properties.pageSetUpPr.fitToPage) == fit, n
        if fit:
            assert ws.page_setup.fitToWidth in (None, 1) and ws.page_setup.fitToHeight == 0
        assert ws.page_setup.scale == scale, n
        # At least 60 width units repeated: five columns of 12.
        assert (ws.print_title_cols in ("A:E", "$A:$E")) == (scale is not None), n


def test_chart_on_overview_labels_every_school(written: Path) -> None:
    wb = openpyxl.load_workbook(written)
    assert wb.sheetnames[0] == "Обзор"
    ws = wb["Обзор"]
    assert len(ws._charts) == 1
    chart = ws._charts[0]
    assert chart.anchor._from.row >= H + len(list(ws.iter_rows(min_row=H + 1)))  # below the table
    series = chart.series[0]
    ref = series.cat.numRef or series.cat.strRef
    assert ref.f.startswith("Школы!$A$")  # the schools' names...
    assert series.val.numRef.f.startswith("Школы!$G$")  # ...and their «% выполнения»
    # Every school labelled: the category axis skips no label.
    assert 1 in (
        getattr(chart.x_axis, "tickLblSkip", None),
        getattr(chart.y_axis, "tickLblSkip", None),
    )
    assert all(not wb[n]._charts for n in wb.sheetnames if n != "Обзор")
    headline = {r[0].value: r[1].value for r in ws.iter_rows(min_row=H + 1) if r[0].value}
    assert headline["Школ"] == 4  # the coordinator's workbook is not a school
    assert headline["Просрочено"] >= 1 and headline["Школ без чтения за неделю"] == 1


def test_dates_and_percent(written: Path) -> None:
    wb = openpyxl.load_workbook(written)
    svod = wb["Свод"]
    assert svod[at("D", 2)].value == datetime(2021, 10, 1)
    assert svod[at("D", 2)].number_format == "DD.MM.YYYY"
    assert svod[at("D", 4)].value == "ежегодно (август)"
    schools = wb["Школы"]
    assert schools[at("G", 2)].number_format == "0%"
    assert schools[at("G", 2)].value == pytest.approx(1 / 3)
    assert schools[at("H", 2)].value == datetime(2022, 2, 28, 17, 5)
    assert schools[at("H", 2)].number_format == "DD.MM.YYYY HH:MM"
    rows = wb["Мероприятия"]
    assert rows[at("E", 2)].number_format == "DD.MM.YYYY"
    assert rows[at("K", 2)].value == datetime(2021, 9, 20)
    assert rows[at("K", 2)].number_format == "DD.MM.YYYY"

    grids = calamine_sheets(written)
    assert grids["Свод"][H][3] in (date(2021, 10, 1), datetime(2021, 10, 1))
    assert grids["Школы"][H][7] == datetime(2022, 2, 28, 17, 5)


def test_write_is_atomic_and_replaces(master: Master, tmp_path: Path) -> None:
    path = tmp_path / "свод.xlsx"
    path.write_bytes(b"old")
    write_master_xlsx(master, path)
    assert openpyxl.load_workbook(path).sheetnames[:2] == ["Обзор", "Свод"]
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
    assert wb["Школы"].max_row == H
    assert not wb["Обзор"]._charts


def test_timezone_aware_datetime_is_written(tmp_path: Path) -> None:
    from datetime import timedelta, timezone

    aware = datetime(2022, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=4)))
    sheet = MasterSheet("Школы", ["Изменено"], [[aware]], widths=[17])
    path = tmp_path / "tz.xlsx"
    write_master_xlsx(Master([sheet], "t"), path)
    assert openpyxl.load_workbook(path)["Школы"][at("A", 2)].value == datetime(2022, 3, 1, 9, 30)


def test_unexpected_values_are_written_as_text(tmp_path: Path) -> None:
    from decimal import Decimal

    class Odd:
        def __str__(self) -> str:
            return "=странно"

    sheet = MasterSheet("Свод", ["a", "b"], [[Decimal("1.5"), Odd()]], widths=[9, 9])  # type: ignore[list-item]
    path = tmp_path / "odd.xlsx"
    write_master_xlsx(Master([sheet], "t"), path)
    ws = openpyxl.load_workbook(path)["Свод"]
    assert ws[at("A", 2)].value == 1.5
    assert (ws[at("B", 2)].value, ws[at("B", 2)].data_type) == ("=странно", "s")


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
    shown = {r[11] for r in rows[H:]}
    assert set(HOSTILE) <= shown
    assert rows[H][4] == "01.10.2021"  # DD.MM.YYYY
    with (out / f"{written.stem}-Школы.csv").open(encoding="utf-8") as f:
        schools = list(csv.reader(f))
    assert schools[H][6] == "33%"
    assert schools[H][7] == "28.02.2022 17:05"


def _both_ways(
    master: Master, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, Path]:
    """The master written with its rows as XML (fast) and through XlsxWriter's API; asserts
    that both hold the same cells, formats, protection, row heights and dimensions."""
    fast, streamed = tmp_path / "fast.xlsx", tmp_path / "api.xlsx"
    write_master_xlsx(master, fast)
    with monkeypatch.context() as m:
        m.setattr("sync.builders.master_xlsx.FAST_ROWS", False)
        write_master_xlsx(master, streamed)
    a, b = openpyxl.load_workbook(fast), openpyxl.load_workbook(streamed)
    assert a.sheetnames == b.sheetnames
    for name in a.sheetnames:
        cells_a, cells_b = (
            [
                (
                    c.coordinate,
                    c.value,
                    c.data_type,
                    c.fill.fgColor.rgb,
                    c.number_format,
                    c.protection.locked,
                    c.alignment.wrap_text,
                    c.font.name,
                    c.border.left.style,
                )
                for r in wb[name].iter_rows()
                for c in r
            ]
            for wb in (a, b)
        )
        assert cells_a == cells_b, name
        assert len(cells_a) >= len(master.sheet(name).rows), name
        for r in range(1, a[name].max_row + 1):
            assert a[name].row_dimensions[r].height == b[name].row_dimensions[r].height, (name, r)
        assert a[name].dimensions == b[name].dimensions, name
    return fast, streamed


def test_rows_written_as_xml_and_through_xlsxwriter_hold_the_same_cells(
    master: Master, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The large sheets' rows are written as XML by the builder: the same cells, formats,
    # protection and row heights as XlsxWriter's own API writes.
    fast, streamed = _both_ways(master, tmp_path, monkeypatch)
    # The chart on «Обзор» carries the same cached values (what a viewer that does not
    # recalculate shows), though «Школы» it reads from is written as XML.
    charts = []
    for path in (fast, streamed):
        with zipfile.ZipFile(path) as z:
            charts.append(z.read("xl/charts/chart1.xml"))
    assert charts[0] == charts[1]
    assert b"<c:numCache>" in charts[0] and b"<c:strCache>" in charts[0]


def test_cells_made_once_and_reused_are_still_each_cell_as_it_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The XML writer makes a dated, numbered, filled or editable cell once per column, value
    # and fill and reuses it: values that compare equal but are written differently must not
    # share one (True and 1; the same instant in two zones shows two wall times).
    chita, utc = timezone(timedelta(hours=9)), UTC
    odd: list[Any] = [
        True,
        1,
        1.0,
        Decimal("1"),
        float("nan"),
        float("inf"),
        -0.0,
        datetime(2022, 1, 10, 9, 0, tzinfo=chita),
        datetime(2022, 1, 10, 0, 0, tzinfo=utc),  # the same instant as the one above
        datetime(2022, 1, 10, 9, 0),
        date(2022, 1, 10),
        time(9, 30),
        timedelta(hours=36),
        "Выполнено",
        "длинный текст " * 12,
        "две\nстроки",
        None,
    ]
    rows = [[f"школа {i}", v, v, v, f"ключ {i}"] for i, v in enumerate(odd * 2)]
    fills = {}
    for r in range(len(rows)):
        if r % 3:
            fills[(r, 1)] = "FFC7CE" if r % 2 else "C6EFCE"
    sheet = MasterSheet(
        name="Мероприятия",
        headers=["Школа", "Значение", "Отметка", "Текст", "Ключ"],
        rows=rows,
        fills=fills,
        widths=[20, 14, 14, 40, 10],
        number_formats={3: "0.00"},
        editable={2: ("Принято", "На доработке")},
        hidden_columns=(4,),
    )
    fast, _ = _both_ways(Master(sheets=[sheet], title="Свод"), tmp_path, monkeypatch)
    ws = openpyxl.load_workbook(fast)["Мероприятия"]
    first = H + 1
    assert ws.cell(first, 2).data_type == "b" and ws.cell(first + 1, 2).data_type == "n"
    # Two wall times for one instant: 09:00 in Chita and 00:00 in UTC.
    assert ws.cell(first + 7, 2).value == datetime(2022, 1, 10, 9, 0)
    assert ws.cell(first + 8, 2).value == datetime(2022, 1, 10, 0, 0)


def test_only_the_coordinators_columns_can_be_typed_into(master: Master, written: Path) -> None:
    wb = openpyxl.load_workbook(written)
    rows = master.sheet("Мероприятия")
    mark, comment = (rows.headers.index(h) for h in ("Отметка МОУО", "Комментарий МОУО"))
    assert rows.editable == {mark: ("Принято", "На доработке"), comment: ()}
    for sheet in master.sheets:
        ws = wb[sheet.name]
        # Every sheet protected, and reading it stays free: sort, filter, resize, format.
        assert ws.protection.sheet, sheet.name
        p = ws.protection
        assert not (p.sort or p.autoFilter or p.formatColumns or p.formatRows or p.formatCells)
        for r in range(1, ws.max_row + 1):
            for c in range(1, len(sheet.headers) + 1):
                cell = ws.cell(r, c)
                unlocked = r > H and (c - 1) in sheet.editable
                assert cell.protection.locked is not unlocked, (sheet.name, cell.coordinate)
    ws = wb["Мероприятия"]
    # The editable columns are marked: a light fill on header and cells, named in the legend.
    for c in (mark, comment):
        letter = openpyxl.utils.get_column_letter(c + 1)
        assert ws[f"{letter}{H}"].fill.fgColor.rgb.endswith("DDEBF7")
        assert ws[f"{letter}{H + 1}"].fill.fgColor.rgb.endswith("DDEBF7")
    assert "заполняет координатор" in " ".join(str(c.value) for c in ws[3] if c.value)
    # A dropdown of the marks on the mark column's data cells; the comment is free text.
    (dv,) = ws.data_validations.dataValidation
    mark_letter = openpyxl.utils.get_column_letter(mark + 1)
    assert dv.type == "list" and dv.formula1 == '"Принято,На доработке"'
    assert str(dv.sqref) == f"{mark_letter}{H + 1}:{mark_letter}{H + len(rows.rows)}"
    assert dv.allow_blank and dv.showErrorMessage and "«Принято»" in (dv.error or "")
    # The row key is kept in the file, hidden (not shown, not printed).
    (key,) = rows.hidden_columns
    assert rows.headers[key] == "Ключ строки"
    key_letter = openpyxl.utils.get_column_letter(key + 1)
    assert ws.column_dimensions[key_letter].hidden
    assert ws[f"{key_letter}{H + 1}"].value  # the key is there
    assert not wb["Просрочено"].data_validations.dataValidation  # marks typed on one sheet


def test_protection_takes_the_template_password(master: Master, tmp_path: Path) -> None:
    path = tmp_path / "p.xlsx"
    write_master_xlsx(master, path, password="секрет")
    wb = openpyxl.load_workbook(path)
    hashed = {wb[s.name].protection.password for s in master.sheets}
    assert len(hashed) == 1 and hashed != {None}  # the same password on every sheet
    write_master_xlsx(master, path)
    assert openpyxl.load_workbook(path)["Мероприятия"].protection.password is None
    # A workbook with nothing for the coordinator to type (the справка's tables) stays open.
    plain = MasterSheet("Таблица", ["a"], [["x"]])
    write_master_xlsx(Master([plain], "t"), path, password="секрет")
    assert not openpyxl.load_workbook(path)["Таблица"].protection.sheet


def test_libreoffice_keeps_the_protection_and_the_open_cells(
    master: Master, written: Path, tmp_path: Path
) -> None:
    # LibreOffice opens the master and saves it again: the sheet is still protected, the review
    # cells still open, the dropdown and the hidden key column still there.
    out = convert(written, "xlsx", tmp_path / "lo-out", tmp_path / "lo-profile")
    wb = openpyxl.load_workbook(out)
    rows = master.sheet("Мероприятия")
    ws = wb["Мероприятия"]
    assert ws.protection.sheet
    mark = rows.headers.index("Отметка МОУО")
    for c in range(len(rows.headers)):
        cell = ws.cell(H + 1, c + 1)
        assert cell.protection.locked is (c not in rows.editable), cell.coordinate
    assert any(dv.type == "list" for dv in ws.data_validations.dataValidation)
    letter = openpyxl.utils.get_column_letter(mark + 1)
    assert any(letter in str(dv.sqref) for dv in ws.data_validations.dataValidation)
    (key,) = rows.hidden_columns
    assert ws.column_dimensions[openpyxl.utils.get_column_letter(key + 1)].hidden
    assert all(wb[s.name].protection.sheet for s in master.sheets)


def test_print_columns_fit_one_page_across(tmp_path: Path) -> None:
    # The first print_columns columns print one page across at 8 pt or more: wide wrapped
    # columns are narrowed to fit, the rest stay on screen only, and the sheet says so.
    headers = [f"Столбец{i}" for i in range(12)]
    widths = [55.0, 7.0, 60.0, 40.0, 14.0, 13.0, 13.0, 11.0, 30.0, 30.0, 30.0, 30.0]
    sheet = MasterSheet(
        "Мероприятия",
        headers,
        [["длинный текст " * 8 if w >= 20 else "да" for w in widths] for _ in range(3)],
        widths=widths,
        frozen_columns=2,
        print_columns=8,
        legend=[("FFC7CE", "Просрочено")],
    )
    path = tmp_path / "p.xlsx"
    write_master_xlsx(Master([replace(sheet, print_columns=None)], "t"), path)
    ws = openpyxl.load_workbook(path)["Мероприятия"]
    letters = [openpyxl.utils.get_column_letter(c) for c in range(1, 9)]
    natural = [ws.column_dimensions[x].width for x in letters]
    assert ws.print_title_cols  # without print_columns: pages across, first columns repeated
    write_master_xlsx(Master([sheet], "t"), path)
    ws = openpyxl.load_workbook(path)["Мероприятия"]
    assert ws.print_area in ("'Мероприятия'!$A$1:$H$7", "Мероприятия!$A$1:$H$7")
    assert ws.sheet_properties.pageSetUpPr.fitToPage and ws.page_setup.fitToHeight == 0
    printed = [ws.column_dimensions[x].width for x in letters]
    # A4 landscape less margins at 80 %: 8 pt text. Pixels = stored width * 7 (the stored
    # width includes the cell padding).
    assert sum(w * 7 for w in printed) * 0.75 * 0.8 <= (297 / 25.4 - 0.8) * 72
    assert printed[2] < natural[2] and printed[0] < natural[0]  # the wide ones gave way
    assert printed[4:8] == natural[4:8]  # the narrow ones kept their width
    assert "На печати — столбцы до «Столбец7»" in " ".join(str(c.value) for c in ws[3] if c.value)
    assert not ws.print_title_cols  # no column bands


@pytest.fixture
def aside_small(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows made aside (in a forked copy) for any sheet of 3 lines or more; the first line's
    texts seeded. The session's own server threads do not touch what the copy uses."""
    import sync.builders.master_xlsx as writer

    monkeypatch.setattr(writer, "ASIDE_LINES", 3)
    monkeypatch.setattr(writer, "SEED_LINES", 1)
    monkeypatch.setattr("sync.backends.isolated.fork_safe", lambda: True)


def _written_whole(master: Master, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`_both_ways`, and the shared strings' count of uses is the cells that use them."""
    fast, _ = _both_ways(master, tmp_path, monkeypatch)
    count, cells = _sst_uses(fast)
    assert count == cells
    return fast


def _sst_uses(path: Path) -> tuple[int, int]:
    """The shared strings' declared count of uses, and the cells that use them."""
    import re

    with zipfile.ZipFile(path) as z:
        sst = z.read("xl/sharedStrings.xml").decode()
        cells = sum(
            z.read(name).decode().count('t="s"')
            for name in z.namelist()
            if name.startswith("xl/worksheets/sheet")
        )
    found = re.search(r'<sst [^>]*count="(\d+)"', sst)
    assert found is not None
    return int(found.group(1)), cells


def test_rows_made_aside_hold_the_same_cells(
    master: Master, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, aside_small: None
) -> None:
    # The longest sheet's rows made in a forked copy with the shared strings frozen: texts
    # not seeded are written in their cells; every cell, format and height as through the API.
    # The uses counted in the copy came back to the table (_written_whole).
    fast = _written_whole(master, tmp_path, monkeypatch)
    with zipfile.ZipFile(fast) as z:
        names = {n: z.read(n).decode() for n in z.namelist() if "worksheets/sheet" in n}
    # One sheet carries texts written in their cells besides its hidden keys: made aside.
    assert any(x.count('t="inlineStr"') > x.count("<row ") for x in names.values())


def test_a_copy_that_fails_leaves_the_rows_to_the_writer(
    master: Master, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, aside_small: None
) -> None:
    import os

    import sync.builders.master_xlsx as writer

    monkeypatch.setattr(writer, "_make_rows_and_exit", lambda *args: os._exit(3))
    _written_whole(master, tmp_path, monkeypatch)


def test_a_format_not_made_before_the_fork_sends_the_rows_back(
    master: Master, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, aside_small: None
) -> None:
    # A cell whose format the parent did not make would point at a style the file lacks:
    # the copy gives up and the parent makes the rows.
    import sync.builders.master_xlsx as writer

    monkeypatch.setattr(writer._Table, "prime", lambda self, styles: self.xml_parts())
    _written_whole(master, tmp_path, monkeypatch)


def test_a_copy_that_hangs_is_stopped_and_the_rows_made_here(
    master: Master, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, aside_small: None
) -> None:
    import time as clock

    import sync.builders.master_xlsx as writer

    monkeypatch.setattr(writer, "ASIDE_SECONDS", 0.5)
    monkeypatch.setattr(writer, "_make_rows_and_exit", lambda *args: clock.sleep(3600))
    started = clock.monotonic()
    _written_whole(master, tmp_path, monkeypatch)
    assert clock.monotonic() - started < 60


def test_a_write_that_fails_stops_its_copy(
    master: Master, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, aside_small: None
) -> None:
    # The write stops half way (an error, Ctrl+C): the copy is stopped and reaped, not waited
    # for, and nothing is redone; the old file stays (write_atomically).
    import os

    import sync.builders.master_xlsx as writer

    pids: list[int] = []
    real_aside = writer._FastSheet.set_rows_xml_aside

    def aside(self: Any, *args: Any) -> bool:
        made = real_aside(self, *args)
        if made and self._aside is not None:
            pids.append(self._aside[0])
        return made

    def broken(*args: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(writer._FastSheet, "set_rows_xml_aside", aside)
    monkeypatch.setattr(writer, "_make_rows_and_exit", lambda *args: __import__("time").sleep(3600))
    monkeypatch.setattr(writer, "_data_bar", broken)  # after the longest sheet went aside
    target = tmp_path / "master.xlsx"
    target.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt):
        write_master_xlsx(master, target)
    assert pids
    with pytest.raises(ChildProcessError):
        os.waitpid(pids[0], os.WNOHANG)  # reaped already
    assert target.read_bytes() == b"old"


def test_texts_written_in_their_cells_are_cut_as_shared_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, aside_small: None
) -> None:
    # Made aside, a text not among the seeded ones is written in its cell: cleaned and cut to
    # Excel's limit with «…», as the same text in the shared strings would be.
    long = "я" * 40_000
    rows = [["школа 1", "Выполнено", "ключ 1"]] + [
        [f"школа {i}", f"{long}{i}\x01", f"ключ {i}"] for i in range(2, 6)
    ]
    sheet = MasterSheet(
        name="Мероприятия",
        headers=["Школа", "Текст", "Ключ"],
        rows=rows,
        fills={(2, 1): "FFC7CE"},
        widths=[20, 40, 10],
        hidden_columns=(2,),
    )
    fast, _ = _both_ways(Master(sheets=[sheet], title="Свод"), tmp_path, monkeypatch)
    ws = openpyxl.load_workbook(fast)["Мероприятия"]
    text = ws.cell(H + 2, 2).value
    assert len(text) == 32767 and text.endswith("…") and "\x01" not in text
