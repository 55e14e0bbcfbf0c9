"""The add-in's pure parts: which notes are ours, what the messages say, the inbox file handling."""

from __future__ import annotations

import io
import zipfile
from datetime import date, datetime
from pathlib import Path

import pytest
from openpyxl import load_workbook

from sync import addin
from sync.backends.excel.book import (
    BookError,
    Selection,
    _raw_grid,
    excel_text,
    format_note_cells,
    parse_note_cells,
)
from sync.backends.excel.inbox import carry_values, deliver, plain_xlsx
from sync.consolidate import HEADER_ROW
from sync.model import Control, Problem, RowReport, Severity
from sync.notes import NotePlan, plan_notes
from sync.pipeline import RunResult
from sync.spec import load_spec
from tests.fixtures import setup

SPEC = load_spec()
M = "Дорожная карта"


def fallback(cell: tuple[str, str]) -> tuple[str, str] | None:
    """As the add-in does: a main-sheet cell's row Контроль cell (column M), else the header."""
    sheet, ref = cell
    row = int(ref.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    if sheet == M and row > 1:
        return (M, f"M{row}")
    return (M, "M1") if cell != (M, "M1") else None


def test_notes_go_to_free_cells_and_replace_only_ours() -> None:
    wanted = {(M, "I2"): "Ошибка: дата", (M, "H3"): "Ошибка: статус", ("Паспорт ОО", "B5"): "x"}
    occupied = {(M, "I2"), (M, "H3"), (M, "J9")}
    ours = {(M, "I2"), (M, "J9")}
    plan = plan_notes(wanted, occupied, ours, fallback)
    assert plan == NotePlan(
        write={(M, "I2"): "Ошибка: дата", (M, "M3"): "Ошибка: статус", ("Паспорт ОО", "B5"): "x"},
        delete=frozenset({(M, "J9")}),
    )


def test_a_note_with_no_free_place_is_dropped_and_merged_ones_join() -> None:
    wanted = {(M, "H3"): "первое", (M, "M3"): "второе", ("Паспорт ОО", "B5"): "третье"}
    occupied = {(M, "H3"), ("Паспорт ОО", "B5"), (M, "M1")}
    plan = plan_notes(wanted, occupied, set(), fallback)
    assert plan.write == {(M, "M3"): "второе\nпервое"}
    assert plan.dropped == (("Паспорт ОО", "B5"),)
    assert plan.delete == frozenset()


def test_note_cells_round_trip_in_reading_order() -> None:
    cells = {(M, "AA10"), (M, "B2"), (M, "C10"), ("Паспорт ОО", "B5"), ("Лист!с!", "A1")}
    text = format_note_cells(cells)
    assert text.splitlines()[0] == f"{M}!B2"
    assert text.splitlines()[1:3] == [f"{M}!C10", f"{M}!AA10"]
    assert parse_note_cells(text) == cells
    assert parse_note_cells(None) == set()
    assert parse_note_cells("без восклицательного знака\n!A1\nЛист!a1") == set()


def test_excel_text_and_the_remote_engines_raw_values() -> None:
    assert excel_text('=HYPERLINK("x")') == '\'=HYPERLINK("x")'
    raw = [("", "2021-09-20T00:00:00.000Z", "2021-09-01T09:00:00"), (1.0, True, None)]
    assert _raw_grid(raw) == [
        [None, datetime(2021, 9, 20), "2021-09-01T09:00:00"],
        [1.0, True, None],
    ]
    assert _raw_grid("одно") == [["одно"]]
    assert _raw_grid(("a", "b")) == [["a", "b"]]


def problem(n: int, severity: Severity = Severity.ERROR, cell: str = "") -> Problem:
    return Problem("code", severity, M, cell or f"A{n}", "", f"сообщение {n}", n)


def row(key: str) -> RowReport:
    return RowReport(None, 2, {}, Control(key, key, None))


def test_messages_list_the_first_problems_with_their_cells() -> None:
    problems = [problem(n) for n in range(2, 9)] + [problem(9, Severity.WARNING)]
    text = addin.check_message(problems, [row("done"), row("error")], date(2022, 1, 10))
    assert text.startswith("Найдено ошибок: 7, предупреждений: 1.\n\n• Дорожная карта!A2 — ")
    assert "• Дорожная карта!A6 — сообщение 6" in text
    assert "A7" not in text
    assert "…и ещё 2 (все — в примечаниях к ячейкам)." in text
    whole = Problem("meta_missing", Severity.ERROR, "_служебный", "", "", "Служебный лист удалён")
    assert addin.problem_lines([whole]) == ["• лист «_служебный» — Служебный лист удалён"]
    clean = addin.check_message([problem(2, Severity.WARNING)], [row("soon")], date(2022, 1, 10))
    assert clean == (
        "Ошибок нет. Предупреждений: 1 — прочитайте их в примечаниях к ячейкам.\n"
        "Контроль на 10.01.2022: выполнено 0, в срок 0, скоро срок 1, просрочено 0."
    )
    status = addin.status_message([row("overdue"), row("error")], date(2022, 1, 10))
    assert "просрочено 1, с ошибками 1." in status
    assert "Строк с ошибками заполнения: 1." in status


def test_sync_messages() -> None:
    started = datetime(2022, 1, 10, 12, 0)
    busy = RunResult(0, date(2022, 1, 10), started, outcome="busy", message="идёт другая")
    assert addin.sync_message(busy, SPEC, True) == "Синхронизация не запущена: идёт другая"
    failed = RunResult(
        3, date(2022, 1, 10), started, outcome="master_failed", message="Свод не записан: x"
    )
    text = addin.sync_message(failed, SPEC, False)
    assert text.startswith("Синхронизация завершена, но свод не записан (сегодня считается")
    assert text.endswith("Свод не записан: x")


def selection(sheet: str, row: int, column: int, header: list, values: list) -> Selection:
    return Selection(sheet, row, column, header, values)


def test_the_school_of_a_selected_cell() -> None:
    header = ["№ п/п", "Раздел", "Мероприятие", "Срок (дата)", "Школа 1", "МОУО", "Выполнено"]
    assert addin.school_name_at(selection("Свод", 7, 5, header, [])) == "Школа 1"
    assert addin.school_name_at(selection("Свод", 7, 6, header, [])) == "МОУО"
    assert addin.school_name_at(selection("Свод", 7, 3, header, [])) is None
    assert addin.school_name_at(selection("Свод", 7, 7, header, [])) is None
    assert addin.school_name_at(selection("Свод", 7, 30, header, [])) is None
    schools = ["Школа", "Категория"]
    first = HEADER_ROW + 1  # the title block is above the header row
    assert addin.school_name_at(selection("Школы", first, 2, schools, ["Школа 2", "ШНОР"])) == (
        "Школа 2"
    )
    assert addin.school_name_at(selection("Школы", HEADER_ROW, 2, schools, schools)) is None
    assert addin.school_name_at(selection("Школы", 1, 1, schools, ["Свод …"])) is None
    assert addin.school_name_at(selection("Прочее", 3, 1, ["A"], ["x"])) is None


def test_schools_by_the_names_a_master_shows(tmp_path: Path) -> None:
    config = setup(tmp_path)
    assert addin.school_named(config, "МОУ СОШ № 2 с. Куанда").id == "s2"
    assert addin.school_named(config, "МОУО").is_coordinator
    with pytest.raises(addin.AddinError, match="такой школы нет"):
        addin.school_named(config, "Школа № 100")
    twins = [
        s if s.id != "s2" else type(s)(s.id, config.schools[0].name, source=s.source)
        for s in config.schools
    ]
    import dataclasses

    doubled = dataclasses.replace(config, schools=tuple(twins))
    assert addin.school_named(doubled, "МОУ СОШ № 1 с. Чара (s2)").id == "s2"
    with pytest.raises(addin.AddinError, match="несколько"):
        addin.school_named(doubled, "МОУ СОШ № 1 с. Чара")


def test_what_to_open_for_a_school(tmp_path: Path) -> None:
    import dataclasses

    config = setup(tmp_path)
    s1 = config.schools[0]
    assert addin.school_target(config, s1) == s1.source
    google = dataclasses.replace(config, storage="gsheets")
    sheet_id = "1AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
    assert (
        addin.school_target(google, dataclasses.replace(s1, source=sheet_id))
        == f"https://docs.google.com/spreadsheets/d/{sheet_id}/edit"
    )
    url = "https://docs.google.com/spreadsheets/d/x/edit"
    assert addin.school_target(google, dataclasses.replace(s1, source=url)) == url
    with pytest.raises(addin.AddinError, match="не указана таблица Google"):
        addin.school_target(google, s1)


def test_review_marks_of_the_inbox_copy(tmp_path: Path) -> None:
    from sync.backends.folder import FolderBackend
    from sync.builders.fill import fill_workbook
    from sync.reader import locate

    config = setup(tmp_path)
    inbox = Path(config.schools[0].source)
    fill_workbook(inbox, SPEC, {"3": {"review": "Принято"}, "4": {"review": "На доработке"}})
    local = tmp_path / "local.xlsx"
    local.write_bytes(inbox.read_bytes())
    fill_workbook(local, SPEC, {"4": {"review": None}})
    inbox_sheet = locate(FolderBackend.read_file(inbox), SPEC)
    local_sheet = locate(FolderBackend.read_file(local), SPEC)
    marks = addin.review_marks(inbox_sheet, local_sheet, SPEC)
    row4 = next(r.row for r in local_sheet.rows if r.values.get("no") == "4")
    assert marks == {(M, f"N{row4}"): "На доработке"}
    assert addin.review_marks(None, local_sheet, SPEC) == {}
    carried = carry_values(local.read_bytes(), marks)
    ws = load_workbook(io.BytesIO(carried))[M]
    assert ws[f"N{row4}"].value == "На доработке"
    assert ws.protection.sheet  # protection survives


def test_a_mark_removed_in_the_inbox_copy_is_not_brought_back(tmp_path: Path) -> None:
    from sync.backends.folder import FolderBackend
    from sync.builders.fill import fill_workbook
    from sync.reader import locate

    config = setup(tmp_path)
    inbox = Path(config.schools[0].source)
    local = tmp_path / "local.xlsx"
    fill_workbook(inbox, SPEC, {"3": {"review": "Принято"}})
    local.write_bytes(inbox.read_bytes())  # the school's copy still shows «Принято»
    fill_workbook(inbox, SPEC, {"3": {"review": None}})  # the coordinator removed it
    inbox_sheet = locate(FolderBackend.read_file(inbox), SPEC)
    local_sheet = locate(FolderBackend.read_file(local), SPEC)
    row3 = next(r.row for r in local_sheet.rows if r.values.get("no") == "3")
    marks = addin.review_marks(inbox_sheet, local_sheet, SPEC)
    assert marks == {(M, f"N{row3}"): ""}
    carried = carry_values(local.read_bytes(), marks)
    assert load_workbook(io.BytesIO(carried))[M][f"N{row3}"].value in (None, "")


def test_a_plain_workbook_stays_as_it_is(tmp_path: Path) -> None:
    config = setup(tmp_path)
    data = Path(config.schools[0].source).read_bytes()
    assert plain_xlsx(data) is data


def test_deliver_is_atomic_keeps_backups_and_says_when_nothing_changed(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    target = inbox / "s1.xlsx"
    backups = tmp_path / "backups"
    assert deliver(b"v1", target, backups_dir=backups, keep=2, school_id="s1")
    assert not deliver(b"v1", target, backups_dir=backups, keep=2, school_id="s1")
    for version in (b"v2", b"v3", b"v4"):
        assert deliver(version, target, backups_dir=backups, keep=2, school_id="s1")
    assert target.read_bytes() == b"v4"
    kept = sorted(p.read_bytes() for p in (backups / "s1").iterdir())
    assert kept == [b"v2", b"v3"]
    assert sorted(p.name for p in inbox.iterdir()) == ["s1.xlsx"]
    with pytest.raises(BookError, match=r"Папка приёма .* недоступна"):
        deliver(b"x", tmp_path / "нет" / "s1.xlsx", backups_dir=backups, keep=2, school_id="s1")
    (inbox / ".~lock.s1.xlsx#").write_text("x")
    with pytest.raises(BookError, match="сейчас открыта"):
        deliver(b"v5", target, backups_dir=backups, keep=2, school_id="s1")


def test_a_macro_enabled_package_loses_only_its_macros(tmp_path: Path) -> None:
    from sync.cli_addin import macros_build

    build = macros_build()
    config = setup(tmp_path)
    plain = Path(config.schools[0].source).read_bytes()
    xlsm = build.macro_enabled(plain, build.vba_project(build.read_modules(), []), b"<x/>", "xlsm")
    back = plain_xlsx(xlsm)
    with zipfile.ZipFile(io.BytesIO(back)) as z, zipfile.ZipFile(io.BytesIO(plain)) as p:
        assert sorted(z.namelist()) == sorted(p.namelist())
        for name in p.namelist():
            if name.endswith(".rels") or name == "[Content_Types].xml":
                continue
            assert z.read(name) == p.read(name), name
        assert b"vbaProject" not in z.read("xl/_rels/workbook.xml.rels")
        assert b"extensibility" not in z.read("_rels/.rels")


def test_send_refuses_when_the_previous_version_cannot_be_backed_up(tmp_path: Path) -> None:
    target = tmp_path / "inbox" / "s1.xlsx"
    target.parent.mkdir()
    target.write_bytes(b"the coordinator's copy")
    backups = tmp_path / "backups-is-a-file"
    backups.write_text("not a folder")
    with pytest.raises(BookError, match="не отправлена"):
        deliver(b"new", target, backups_dir=backups, keep=2, school_id="s1")
    assert target.read_bytes() == b"the coordinator's copy"
