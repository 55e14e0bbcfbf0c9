"""The add-in's buttons driven through xlwings itself: its remote engine, `xw.Book(json=...)`.

A real school workbook (built by distribute, typed into by sync.builders.fill) is sent to the
button as the JSON book payload an Office.js client sends; the button runs; the test reads the
actions xlwings returns for the client to apply: values written, colours set, notes, macros
called, the alert. The remote engine belongs to xlwings PRO, which accepts the license key
"noncommercial" (the project's users are schools and municipal bodies); it is set here, in the
test environment only.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
from datetime import date
from pathlib import Path

import pytest
import xlwings as xw
from openpyxl import load_workbook
from openpyxl.comments import Comment

from sync import addin
from sync.backends.excel.book import NOTE_CELLS_KEY, parse_note_cells
from sync.backends.folder import FolderBackend
from sync.builders.fill import fill_workbook
from sync.config import Config
from sync.consolidate import HEADER_ROW
from sync.pipeline import run
from sync.service.lock import RunLock, lock_path_for
from tests.fakes.excel import (
    HOST,
    MAIN,
    SPEC,
    alerts,
    colours,
    funcs,
    macros,
    nightly_paint,
    notes,
    open_book,
    remote_engine,
    sheet_index,
    written,
)
from tests.fixtures import TODAY, setup

__all__ = ["remote_engine"]


def test_check_shows_what_the_nightly_sync_would_and_lists_the_errors(tmp_path: Path) -> None:
    config = setup(tmp_path)
    path = config.schools[1].source  # s2: done without a date, an unknown status, no reason
    book = open_book(path)
    result = addin.check(book, host=HOST, config=config, today=TODAY)
    assert not result.ok
    paint = nightly_paint(config, path, 1)

    # The Контроль column: the same values and colours the nightly sync writes.
    main = sheet_index(path, MAIN)
    values, fills = written(book, main), colours(book, main)
    for row, control in paint.controls:
        assert values[(row, paint.control_col)] == control.value
        expected = f"#{control.fill}".lower() if control.fill else None
        assert (fills[(row, paint.control_col)] or "").lower() == (expected or "")
    # Only that column is written on the main sheet: nothing the school typed.
    assert {c for _, c in values} == {paint.control_col}

    # A note on every problem cell, with the nightly sync's text.
    got = notes(book)
    wb = load_workbook(path)
    for (sheet, ref), text in paint.notes.items():
        assert got[(wb.sheetnames.index(sheet), ref)] == ("addNote", text)
    assert len(got) == len(paint.notes)

    # The service sheet lists the cells that now hold our notes.
    meta = sheet_index(path, SPEC.meta_sheet)
    registry = [v for (r, c), v in written(book, meta).items() if c == 2]
    assert parse_note_cells(registry[0].lstrip("'")) == set(paint.notes)
    assert [v for (r, c), v in written(book, meta).items() if c == 1] == [NOTE_CELLS_KEY]

    # Locked cells: protection lifted first and restored last, through the add-in's macros.
    assert funcs(book)[:2] == ["runMacro", "runMacro"]
    assert macros(book) == [
        (f"'{HOST}'!RoadmapUnprotect", "s2.xlsx", MAIN, ""),
        (f"'{HOST}'!RoadmapUnprotect", "s2.xlsx", SPEC.meta_sheet, ""),
        (f"'{HOST}'!RoadmapProtect", "s2.xlsx", SPEC.meta_sheet, ""),
        (f"'{HOST}'!RoadmapProtect", "s2.xlsx", MAIN, ""),
    ]
    assert funcs(book)[-2:] == ["runMacro", "alert"]

    # The summary: how many errors, the first ones with their cells.
    [(text, title, buttons, mode, _callback)] = alerts(book)
    assert (title, buttons, mode) == ("Дорожная карта", "ok", "critical")
    assert text == result.message
    assert text.startswith("Найдено ошибок: 4.")
    assert "• Дорожная карта!I2 — Мероприятие отмечено как выполненное" in text
    assert "• Дорожная карта!H3 — Статус «Сделано» не из списка" in text
    assert "• Паспорт ОО!B5 — Паспорт ОО: заполните «Телефон»." in text


def test_check_of_a_clean_workbook_says_so_with_todays_controls(tmp_path: Path) -> None:
    config = setup(tmp_path)
    book = open_book(config.schools[0].source)
    result = addin.check(book, host=HOST, config=config, today=TODAY)
    assert result.ok
    [alert] = alerts(book)
    assert alert[3] == "info"
    assert result.message.startswith("Ошибок нет.")
    assert "Контроль на 10.01.2022: выполнено 2," in result.message


def test_check_keeps_the_schools_own_notes_and_removes_only_its_stale_ones(
    tmp_path: Path,
) -> None:
    config = setup(tmp_path)
    path = Path(config.schools[1].source)
    paint = nightly_paint(config, str(path), 1)
    col = paint.control_col
    wb = load_workbook(path)
    ws = wb[MAIN]
    # The school's own note on a problem cell (the unknown status in H3) ...
    ws["H3"].comment = Comment("Уточнить у завуча", "Иванова")
    # ... a note the sync wrote last time on a cell that is now fine, and one still wanted.
    ws["J4"].comment = Comment("Ошибка: старое замечание", "roadmap-sync")
    ws["I2"].comment = Comment("Ошибка: прошлое замечание", "roadmap-sync")
    meta = wb[SPEC.meta_sheet]
    meta.append([NOTE_CELLS_KEY, f"{MAIN}!J4\n{MAIN}!I2"])
    wb.save(path)

    book = open_book(path)
    addin.check(book, host=HOST, config=config, today=TODAY)
    got = notes(book)
    main = 0
    assert (main, "H3") not in got  # the school's note stays untouched
    # Its problem goes to the row's Контроль cell instead.
    assert got[(main, f"{chr(64 + col)}3")][0] == "addNote"
    assert "Сделано" in str(got[(main, f"{chr(64 + col)}3")][1])
    assert got[(main, "J4")] == ("deleteNote", None)  # ours, no longer a problem
    assert got[(main, "I2")] == ("setNoteText", paint.notes[(MAIN, "I2")])
    meta_rows = written(book, sheet_index(path, SPEC.meta_sheet))
    registry = parse_note_cells(next(v for (r, c), v in meta_rows.items() if c == 2).lstrip("'"))
    assert (MAIN, "H3") not in registry
    assert (MAIN, f"{chr(64 + col)}3") in registry
    assert (MAIN, "J4") not in registry


def test_refresh_statuses_writes_the_control_column_only(tmp_path: Path) -> None:
    config = setup(tmp_path)
    path = config.schools[2].source  # s3: nothing filled in
    book = open_book(path)
    later = date(2022, 6, 1)
    result = addin.refresh_statuses(book, host=HOST, config=config, today=later)
    assert not notes(book)
    assert [m[0] for m in macros(book)] == [
        f"'{HOST}'!RoadmapUnprotect",
        f"'{HOST}'!RoadmapProtect",
    ]
    values = written(book, 0)
    assert set(values.values()) <= {"Просрочено", "Скоро срок", "В срок", "—"}
    assert "Просрочено" in values.values()
    assert result.message.startswith("Статусы обновлены. Контроль на 01.06.2022:")


def test_a_wrong_protection_password_stops_before_writing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = setup(tmp_path)
    book = open_book(config.schools[1].source)

    # The desktop engine returns the macro's answer; RoadmapUnprotect says the password is wrong.
    def refuse(self: xw.main.Macro, *args: object) -> bool:
        return False

    monkeypatch.setattr(xw.main.Macro, "__call__", refuse)
    result = addin.check(book, host=HOST, config=config, today=TODAY)
    assert not result.ok
    assert result.message.startswith("Найдено ошибок: 4.")  # the problems are still told
    assert "Не удалось снять защиту с листа «Дорожная карта»" in result.message
    assert "setValues" not in funcs(book)
    assert "addNote" not in funcs(book)


def test_without_a_host_no_macros_are_called(tmp_path: Path) -> None:
    config = setup(tmp_path)
    book = open_book(config.schools[1].source)
    addin.check(book, config=config, today=TODAY)
    assert "runMacro" not in funcs(book)
    assert "setValues" in funcs(book)


def test_check_works_without_a_configuration(tmp_path: Path) -> None:
    config = setup(tmp_path)
    book = open_book(config.schools[1].source)
    result = addin.check(book, host=HOST, today=TODAY)  # no config anywhere
    assert result.message.startswith("Найдено ошибок: 4.")
    assert "нет в настройках" not in result.message


def test_the_configuration_is_found_through_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = setup(tmp_path)
    other = tmp_path / "other.xlsx"
    shutil.copyfile(config.schools[0].source, other)
    wb = load_workbook(other)
    wb[SPEC.meta_sheet]["B2"] = "s99"  # school_id of a school the configuration lacks
    wb.save(other)
    monkeypatch.setenv(addin.CONFIG_ENV, str(config.path))
    result = addin.check(open_book(other), host=HOST, today=TODAY)
    assert "Школы «s99» нет в настройках (config.toml)" in result.message


def test_a_configuration_named_but_missing_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = setup(tmp_path)
    monkeypatch.setenv(addin.CONFIG_ENV, str(tmp_path / "нет.toml"))
    result = addin.check(open_book(config.schools[0].source), host=HOST)
    assert not result.ok
    assert "Файл настроек не найден" in result.message


def test_check_on_a_workbook_that_is_not_a_roadmap(tmp_path: Path) -> None:
    config = setup(tmp_path)
    run(config, today=TODAY)
    book = open_book(config.master_path)
    result = addin.check(book, host=HOST, config=config, today=TODAY)
    assert not result.ok
    assert result.message.startswith("Это свод, а не книга школы.")
    assert funcs(book) == ["alert"]
    # Any other workbook without a roadmap table.
    other = tmp_path / "other.xlsx"
    wb = load_workbook(config.master_path)
    for name in wb.sheetnames[1:]:
        del wb[name]
    wb.active["A1"] = "Список дел"
    wb.save(other)
    stray = addin.check(open_book(other), host=HOST, config=config, today=TODAY)
    assert stray.message.startswith("Это не книга дорожной карты.")


# --- «Отправить» ---------------------------------------------------------------------------------


def local_copy(config: Config, index: int, tmp_path: Path) -> Path:
    """The school's own copy on its computer, outside the inbox."""
    local = tmp_path / "на компьютере школы" / Path(config.schools[index].source).name
    local.parent.mkdir(exist_ok=True)
    shutil.copyfile(config.schools[index].source, local)
    return local


def sent_book(local: Path) -> xw.Book:
    # The desktop engine knows the saved file's full path; this client sends it as the name.
    return open_book(local, name=str(local))


def test_send_refuses_a_workbook_with_errors_and_shows_them(tmp_path: Path) -> None:
    config = setup(tmp_path)
    local = local_copy(config, 1, tmp_path)
    inbox = Path(config.schools[1].source)
    before = inbox.read_bytes()
    book = sent_book(local)
    result = addin.send(book, host=HOST, config=config, today=TODAY)
    assert not result.ok
    assert result.message.startswith("Книга не отправлена: в ней ошибки (4).")
    assert "• Дорожная карта!H3 — Статус «Сделано» не из списка" in result.message
    assert inbox.read_bytes() == before
    assert "save" not in funcs(book)
    assert "addNote" in funcs(book)  # the school sees where


def test_send_copies_the_saved_workbook_into_the_inbox(tmp_path: Path) -> None:
    config = setup(tmp_path)
    local = local_copy(config, 0, tmp_path)
    fill_workbook(local, SPEC, {"5": {"comment": "Готовим справку"}})
    inbox = Path(config.schools[0].source)
    previous = inbox.read_bytes()
    book = sent_book(local)
    result = addin.send(book, host=HOST, config=config, today=TODAY)
    assert result.ok, result.message
    assert result.message.startswith(f"Книга отправлена координатору: {inbox}.")
    assert inbox.read_bytes() == local.read_bytes()
    assert "save" in funcs(book)
    assert funcs(book).index("save") < funcs(book).index("alert")
    # The copy it replaced is kept, as the sync keeps its backups.
    [backup] = (config.backups_dir / "s1").glob("s1.*.xlsx")
    assert backup.read_bytes() == previous
    # No temporary file left in the inbox.
    assert not list(inbox.parent.glob(".~tmp-*"))
    # The nightly sync reads what was sent.
    after = run(config, today=TODAY)
    report = next(r for r in after.reports if r.school.id == "s1")
    comments = {r.values.get("comment") for r in report.rows}
    assert "Готовим справку" in comments

    again = sent_book(local)
    second = addin.send(again, host=HOST, config=config, today=TODAY)
    assert second.ok
    assert "уже лежит в папке приёма" in second.message or "отправлена" in second.message


def test_sending_the_same_version_twice_writes_nothing(tmp_path: Path) -> None:
    config = setup(tmp_path)
    local = local_copy(config, 0, tmp_path)
    inbox = Path(config.schools[0].source)
    addin.send(sent_book(local), host=HOST, config=config, today=TODAY)
    stamp = os.stat(inbox).st_mtime_ns
    result = addin.send(sent_book(local), host=HOST, config=config, today=TODAY)
    assert result.ok
    assert "Эта версия книги уже лежит в папке приёма" in result.message
    assert os.stat(inbox).st_mtime_ns == stamp


def test_send_keeps_the_coordinators_marks_made_in_the_inbox(tmp_path: Path) -> None:
    config = setup(tmp_path)
    local = local_copy(config, 0, tmp_path)
    inbox = Path(config.schools[0].source)
    fill_workbook(inbox, SPEC, {"3": {"review": "Принято"}})  # the coordinator, in the inbox
    book = sent_book(local)
    result = addin.send(book, host=HOST, config=config, today=TODAY)
    assert result.ok, result.message
    assert (
        "Отметки МОУО, которые координатор поставил в папке приёма (1), сохранены в "
        "отправленной книге и перенесены в вашу книгу." in result.message
    )
    review = SPEC.index("review")
    assert "'Принято" in [v for (r, c), v in written(book, 0).items() if c == review]
    ws = load_workbook(inbox)[MAIN]
    rows = {str(ws.cell(r, 1).value): r for r in range(2, ws.max_row + 1)}
    assert ws.cell(rows["3"], review).value == "Принято"
    assert ws.cell(rows["3"], SPEC.index("status")).value == "Выполнено"


def test_send_of_a_macro_enabled_workbook_delivers_a_plain_xlsx(tmp_path: Path) -> None:
    from sync.cli_addin import macros_build

    build = macros_build()
    config = setup(tmp_path)
    local = tmp_path / "s1.xlsm"
    vba = build.vba_project(build.read_modules(), ["Sheet1", "Sheet2", "Sheet3", "Sheet4"])
    package = Path(config.schools[0].source).read_bytes()
    local.write_bytes(build.macro_enabled(package, vba, build.ribbon_xml(), "xlsm"))
    result = addin.send(sent_book(local), host=HOST, config=config, today=TODAY)
    assert result.ok, result.message
    inbox = Path(config.schools[0].source)
    import zipfile

    with zipfile.ZipFile(inbox) as z:
        assert not [n for n in z.namelist() if "vbaProject" in n or n.startswith("customUI")]
        assert b"macroEnabled" not in z.read("[Content_Types].xml")
    assert FolderBackend.read_file(inbox).sheets == FolderBackend.read_file(local).sheets
    load_workbook(inbox)  # opens as an ordinary workbook


def test_a_workbook_kept_in_the_inbox_itself_is_sent_by_saving(tmp_path: Path) -> None:
    config = setup(tmp_path)
    inbox = Path(config.schools[0].source)
    inbox.with_name(f"~${inbox.name}").write_text("школа", encoding="utf-8")  # open in Excel
    before = inbox.read_bytes()
    book = sent_book(inbox)
    result = addin.send(book, host=HOST, config=config, today=TODAY)
    assert result.ok, result.message
    assert result.message.startswith("Эта версия книги уже лежит в папке приёма")
    assert "save" in funcs(book)
    assert inbox.read_bytes() == before  # nothing copied over the open file
    assert not (config.backups_dir / "s1").exists()


def test_send_waits_while_the_inbox_copy_is_open(tmp_path: Path) -> None:
    config = setup(tmp_path)
    local = local_copy(config, 0, tmp_path)
    inbox = Path(config.schools[0].source)
    lock = inbox.with_name(f"~${inbox.name}")
    lock.write_text("координатор", encoding="utf-8")
    digest = hashlib.sha256(inbox.read_bytes()).hexdigest()
    result = addin.send(sent_book(local), host=HOST, config=config, today=TODAY)
    assert not result.ok
    assert "сейчас открыта у координатора" in result.message
    assert hashlib.sha256(inbox.read_bytes()).hexdigest() == digest


def test_send_needs_a_saved_workbook_and_a_known_school(tmp_path: Path) -> None:
    config = setup(tmp_path)
    unsaved = addin.send(open_book(config.schools[0].source), host=HOST, config=config)
    assert "Сначала сохраните книгу" in unsaved.message  # the client sent no path

    stranger = tmp_path / "чужая.xlsx"
    shutil.copyfile(config.schools[0].source, stranger)
    wb = load_workbook(stranger)
    wb[SPEC.meta_sheet]["B2"] = "s99"
    wb.save(stranger)
    result = addin.send(sent_book(stranger), host=HOST, config=config, today=TODAY)
    assert not result.ok
    assert "школы «s99» нет в настройках" in result.message

    google = dataclasses.replace(config, storage="gsheets")
    result = addin.send(sent_book(local_copy(config, 0, tmp_path)), host=HOST, config=google)
    assert "Отправлять книгу не нужно" in result.message


def test_send_needs_a_configuration(tmp_path: Path) -> None:
    config = setup(tmp_path)
    result = addin.send(sent_book(local_copy(config, 0, tmp_path)), host=HOST)
    assert not result.ok
    assert "Не найден файл настроек" in result.message


# --- «Синхронизировать» ---------------------------------------------------------------------------


def test_sync_from_the_open_master_refreshes_it_in_place(tmp_path: Path) -> None:
    config = setup(tmp_path)
    first = run(config, today=TODAY)
    master = Path(first.master)
    on_disk = master.read_bytes()
    # The coordinator has the master open; a school changes its workbook meanwhile.
    lock = master.with_name(f"~${master.name}")
    lock.write_text("координатор", encoding="utf-8")
    fill_workbook(Path(config.schools[2].source), SPEC, {"3": {"status": "В работе"}})
    book = open_book(master)
    result = addin.sync_now(book, host=HOST, config=config, today=TODAY)
    assert result.ok, result.message
    assert "Свод обновлён в этой книге и сохранён." in result.message
    assert "Книг: 4 — прочитано 1, без изменений 3" in result.message
    # Nothing written beside the open master: no dated copy, the file untouched.
    assert sorted(p.name for p in master.parent.iterdir()) == sorted([master.name, lock.name])
    assert master.read_bytes() == on_disk
    # Every master sheet rewritten through xlwings, then the book saved.
    names = load_workbook(master).sheetnames
    schools_sheet = names.index("Школы")
    rows = written(book, schools_sheet)
    assert rows[(1, 1)].startswith("'Свод дорожной карты")  # the title block, as in the file
    assert rows[(HEADER_ROW, 1)] == "'Школа"
    first = HEADER_ROW + 1
    assert {rows[(r, 1)] for r in range(first, first + 4)} >= {"'МОУ СОШ № 1 с. Чара", "'МОУО"}
    assert funcs(book).count("sheetClear") >= len(names) - 1
    assert funcs(book)[-2:] == ["save", "alert"]
    # School values stay text in the master: a formula typed by a school is not run.
    rows_sheet = written(book, names.index("Мероприятия"))
    assert "'=1+1" in rows_sheet.values()


def test_sync_from_another_workbook_writes_the_master_file(tmp_path: Path) -> None:
    config = setup(tmp_path)
    book = open_book(config.schools[0].source)
    result = addin.sync_now(book, host=HOST, config=config, today=TODAY)
    assert result.ok
    assert f"Свод записан: {config.master_path}." in result.message
    assert config.master_path.exists()
    assert "setValues" not in funcs(book)


def test_sync_while_another_sync_runs_says_so_at_once(tmp_path: Path) -> None:
    config = setup(tmp_path)
    holder = RunLock(lock_path_for(config.history_path), command="service")
    holder.acquire(0)
    try:
        result = addin.sync_now(open_book(config.schools[0].source), config=config, today=TODAY)
    finally:
        holder.release()
    assert not result.ok
    assert result.message.startswith("Синхронизация не запущена:")


# --- «Открыть школу» -----------------------------------------------------------------------------


def test_open_school_opens_the_workbook_of_the_selected_row(tmp_path: Path) -> None:
    config = setup(tmp_path)
    run(config, today=TODAY)
    ws = load_workbook(config.master_path)["Школы"]
    row = next(
        r
        for r in range(HEADER_ROW + 1, ws.max_row + 1)
        if ws.cell(r, 1).value == "МОУ СОШ № 2 с. Куанда"
    )
    opened: list[str] = []
    book = open_book(config.master_path, sheet="Школы", selection=f"C{row}")
    result = addin.open_school(book, host=HOST, config=config, opener=opened.append)
    assert result.ok
    assert opened == [config.schools[1].source]
    assert "alert" not in funcs(book)  # the opened workbook says enough


def test_open_school_from_a_column_of_the_summary(tmp_path: Path) -> None:
    config = setup(tmp_path)
    run(config, today=TODAY)
    header = [c.value for c in load_workbook(config.master_path)["Свод"][HEADER_ROW]]
    col = header.index("МОУ СОШИ № 4 с. Кюсть-Кемда") + 1
    opened: list[str] = []
    book = open_book(config.master_path, sheet="Свод", selection=f"{chr(64 + col)}{HEADER_ROW + 2}")
    addin.open_school(book, config=config, opener=opened.append)
    assert opened == [config.schools[2].source]


def test_open_school_explains_what_to_select(tmp_path: Path) -> None:
    config = setup(tmp_path)
    run(config, today=TODAY)
    opened: list[str] = []
    book = open_book(
        config.master_path, sheet="Свод", selection=f"C{HEADER_ROW + 1}"
    )  # an activity
    result = addin.open_school(book, config=config, opener=opened.append)
    assert not result.ok
    assert opened == []
    assert result.message.startswith("Выделите ячейку в строке школы")
    assert alerts(book)[0][3] == "critical"


def test_open_school_whose_workbook_is_gone(tmp_path: Path) -> None:
    config = setup(tmp_path)
    run(config, today=TODAY)
    Path(config.schools[0].source).unlink()
    book = open_book(config.master_path, sheet="Школы", selection=f"A{HEADER_ROW + 1}")
    result = addin.open_school(book, config=config, opener=lambda target: None)
    assert not result.ok
    assert "не найдена" in result.message


# --- every button has the same shape --------------------------------------------------------------


def test_every_button_is_a_function_taking_the_book_and_the_host() -> None:
    import inspect

    for name in addin.BUTTONS:
        function = getattr(addin, name)
        parameters = inspect.signature(function).parameters
        assert next(iter(parameters)) == "book", name
        assert parameters["book"].default is None, name
        assert parameters["host"].kind is inspect.Parameter.KEYWORD_ONLY, name
        assert function.__doc__, name


def test_an_unexpected_failure_is_a_message_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = setup(tmp_path)

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("диск отвалился")

    monkeypatch.setattr(addin, "check_school", broken)
    book = open_book(config.schools[0].source)
    result = addin.check(book, host=HOST, config=config, today=TODAY)
    assert not result.ok
    assert result.message.startswith("Не удалось выполнить «Проверить»: RuntimeError: диск")
    assert alerts(book)[0][0] == result.message
