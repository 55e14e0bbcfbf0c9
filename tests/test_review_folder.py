"""Review marks on the folder path, through the real `run()` and real .xlsx files (issue 13).

The coordinator types into the saved master with openpyxl (as Excel saves it), schools edit
their workbooks as a person would (sync.builders.fill), and every check reads the files back.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from openpyxl import load_workbook

from sync.backends.folder import FolderBackend
from sync.builders.fill import fill_workbook
from sync.cli_common import RunExit, run_exit_code
from sync.config import Config
from sync.consolidate import HEADER_ROW, REVIEW_SHEET, ROWS_SHEET, SCHOOLS_SHEET
from sync.history import History
from sync.pipeline import run
from sync.review import KEY_HEADER, Mark, MasterMarks
from tests.fixtures import SPEC, TODAY, setup, type_into_master, with_tables

S1 = "МОУ СОШ № 1 с. Чара"
S2 = "МОУ СОШ № 2 с. Куанда"


def master_rows(path: Path | str, sheet: str = ROWS_SHEET) -> list[dict[str, object]]:
    ws = load_workbook(path)[sheet]
    header = [c.value for c in ws[HEADER_ROW]]
    return [
        dict(zip(header, (c.value for c in row), strict=False))
        for row in ws.iter_rows(min_row=HEADER_ROW + 1)
        if row[0].value
    ]


def master_line(path: Path | str, school: str, no: str) -> dict[str, object]:
    return next(r for r in master_rows(path) if r["Школа"] == school and str(r["№"]) == no)


def school_cell(config: Config, sid: str, no: str, header: str) -> tuple[object, str]:
    """A school's cell by its row's № and its column's header: the value and its note."""
    source = next(s.source for s in config.all_workbooks() if s.id == sid)
    ws = load_workbook(source)[SPEC.main_sheet]
    col = next(c.column for c in ws[1] if c.value == header)
    for r in range(2, ws.max_row + 1):
        if str(ws.cell(r, 1).value).strip() == no:
            cell = ws.cell(r, col)
            return cell.value, cell.comment.text if cell.comment else ""
    raise KeyError(no)


def schools_line(path: Path | str, school: str) -> dict[str, object]:
    return next(r for r in master_rows(path, SCHOOLS_SHEET) if r["Школа"] == school)


def test_a_mark_in_the_master_reaches_the_school_the_new_master_and_the_history(
    tmp_path: Path,
) -> None:
    config = setup(tmp_path)
    run(config, today=TODAY)
    type_into_master(
        config.master_path,
        {
            (S1, "3"): {"Отметка МОУО": "принято"},
            (S1, "4"): {"Отметка МОУО": "На доработке", "Комментарий МОУО": "Нет приказа"},
        },
    )
    second = run(config, today=TODAY)
    assert second.outcome == "ok" and not second.review.problems
    assert second.writes["s1"].status == "written"

    # The school's «Отметка МОУО» shows the marks; the comment is our note with who and when.
    value, note = school_cell(config, "s1", "3", "Отметка МОУО")
    assert value == "Принято" and "Петрова А. А." in note
    value, note = school_cell(config, "s1", "4", "Отметка МОУО")
    assert value == "На доработке" and "Комментарий МОУО: Нет приказа" in note
    # «На доработке» has its own control value, not «Выполнено».
    assert school_cell(config, "s1", "4", "Контроль")[0] == "На доработке"
    assert school_cell(config, "s1", "3", "Контроль")[0] == "Выполнено"

    # The new master shows them again, with the state.
    line = master_line(config.master_path, S1, "4")
    assert line["Отметка МОУО"] == "На доработке" and line["Комментарий МОУО"] == "Нет приказа"
    assert line["Проверка"] == "На доработке" and line["Контроль"] == "На доработке"
    assert master_line(config.master_path, S1, "3")["Проверка"] == "Принято"
    # Rework is not done: s1 had rows 3 and 4 done, now one.
    assert schools_line(config.master_path, S1)["Выполнено"] == 1

    with History.open(config.history_path) as h:
        trail = h.review_trail("s1")
    assert [(m.key.no, m.mark, m.by, m.source) for m in trail] == [
        ("3", Mark.ACCEPTED, "Петрова А. А.", "master"),
        ("4", Mark.REWORK, "Петрова А. А.", "master"),
    ]
    assert trail[1].comment == "Нет приказа" and trail[1].run_id == second.run_id

    # Nothing new: the next run records nothing and writes nothing into s1.
    third = run(config, today=TODAY)
    assert not third.review.new_marks and "s1" not in third.writes
    assert master_line(config.master_path, S1, "4")["Отметка МОУО"] == "На доработке"


def test_a_school_that_changes_rows_after_the_marks_goes_back_on_review(tmp_path: Path) -> None:
    config = setup(tmp_path)
    run(config, today=TODAY)
    type_into_master(
        config.master_path,
        {
            (S1, "3"): {"Отметка МОУО": "Принято"},
            (S1, "4"): {"Отметка МОУО": "На доработке", "Комментарий МОУО": "Нет ссылки"},
        },
    )
    run(config, today=TODAY)
    assert not any(r["Школа"] == S1 for r in master_rows(config.master_path, REVIEW_SHEET))

    # The school edits both rows: the accepted one and the one sent back.
    fill_workbook(
        Path(config.schools[0].source),
        SPEC,
        {
            "3": {"evidence": "Приказ № 46 от 21.09.2021"},
            "4": {"evidence": "https://school1.example/order.pdf"},
        },
    )
    third = run(config, today=TODAY)
    assert not third.review.new_marks  # the marks stand; the rows changed under them
    assert master_line(config.master_path, S1, "3")["Проверка"] == "Изменено после проверки"
    assert master_line(config.master_path, S1, "4")["Проверка"] == "Исправлено, ждёт проверки"
    # The marks stay in the school's cells; the notes say where the rows stand now.
    value, note = school_cell(config, "s1", "3", "Отметка МОУО")
    assert value == "Принято" and "Изменено после проверки" in note
    value, note = school_cell(config, "s1", "4", "Отметка МОУО")
    assert value == "На доработке" and "Исправлено, ждёт проверки" in note
    # A fixed row is no longer «На доработке» in «Контроль».
    assert school_cell(config, "s1", "4", "Контроль")[0] == "Выполнено"
    # Both are back on the coordinator's list.
    todo = [
        (r["№"], r["Проверка"])
        for r in master_rows(config.master_path, REVIEW_SHEET)
        if r["Школа"] == S1
    ]
    assert sorted(todo) == [("3", "Изменено после проверки"), ("4", "Исправлено, ждёт проверки")]


def test_a_mark_typed_in_the_school_workbook_and_an_emptied_one(tmp_path: Path) -> None:
    config = setup(tmp_path)
    run(config, today=TODAY)
    s2 = Path(config.schools[1].source)
    fill_workbook(s2, SPEC, {"3": {"review": "На доработке"}})
    second = run(config, today=TODAY)
    assert [(m.key.no, m.mark, m.by, m.source) for m in second.review.new_marks] == [
        ("3", Mark.REWORK, "в книге школы", "workbook")
    ]
    assert master_line(config.master_path, S2, "3")["Отметка МОУО"] == "На доработке"
    fill_workbook(s2, SPEC, {"3": {"review": None}})
    third = run(config, today=TODAY)
    assert [(m.key.no, m.mark) for m in third.review.new_marks] == [("3", None)]
    assert master_line(config.master_path, S2, "3")["Отметка МОУО"] in ("", None)
    with History.open(config.history_path) as h:
        assert [m.mark for m in h.review_trail("s2")] == [
            Mark.REWORK,
            None,
        ]  # kept, not overwritten


def test_a_mark_the_school_never_received_survives_the_schools_next_save(
    tmp_path: Path,
) -> None:
    config = setup(tmp_path)
    run(config, today=TODAY)
    s1 = Path(config.schools[0].source)
    lock = s1.with_name("~$" + s1.name)
    lock.write_text("director")  # the school has its workbook open: the write-back is refused
    type_into_master(
        config.master_path, {(S1, "3"): {"Отметка МОУО": "На доработке", "Комментарий МОУО": "x"}}
    )
    second = run(config, today=TODAY)
    assert [m.mark for m in second.review.new_marks] == [Mark.REWORK]
    lock.unlink()
    fill_workbook(s1, SPEC, {"4": {"comment": "сохранили"}})  # the school saves, cell still empty
    third = run(config, today=TODAY)
    assert third.review.new_marks == []
    assert master_line(config.master_path, S1, "3")["Отметка МОУО"] == "На доработке"
    assert school_cell(config, "s1", "3", "Отметка МОУО")[0] == "На доработке"


def test_marks_already_in_workbooks_survive_the_upgrade_for_unchanged_schools(
    tmp_path: Path,
) -> None:
    config = setup(tmp_path)
    fill_workbook(Path(config.schools[0].source), SPEC, {"3": {"review": "Принято"}})
    run(config, today=TODAY)
    # The history as an older version left it: snapshots, but no marks and no review cells.
    con = sqlite3.connect(config.history_path)
    with con:
        con.execute("DELETE FROM review_marks")
        con.execute("DELETE FROM review_cells")
        con.execute("DELETE FROM paints")
    con.close()
    second = run(config, today=TODAY)  # the school is unchanged: its snapshot stands
    assert [(m.key.no, m.mark) for m in second.review.new_marks] == [("3", Mark.ACCEPTED)]
    assert school_cell(config, "s1", "3", "Отметка МОУО")[0] == "Принято"
    assert master_line(config.master_path, S1, "3")["Отметка МОУО"] == "Принято"


def test_a_mark_refused_by_merged_cells_is_not_recorded_as_shown(tmp_path: Path) -> None:
    config = setup(tmp_path)
    run(config, today=TODAY)
    s1 = Path(config.schools[0].source)
    wb = load_workbook(s1)
    ws = wb[SPEC.main_sheet]
    col = next(c.column for c in ws[1] if c.value == "Отметка МОУО")
    at = next(r for r in range(2, ws.max_row + 1) if str(ws.cell(r, 1).value).strip() == "3")
    ws.merge_cells(start_row=at, start_column=col, end_row=at + 1, end_column=col)
    wb.save(s1)
    type_into_master(config.master_path, {(S1, "3"): {"Отметка МОУО": "Принято"}})
    second = run(config, today=TODAY)
    assert [m.mark for m in second.review.new_marks] == [Mark.ACCEPTED]
    assert school_cell(config, "s1", "3", "Отметка МОУО")[0] is None
    with History.open(config.history_path) as h:
        shown = {k.no: t for k, t in h.review_cells().items() if k.school_id == "s1"}
    assert shown.get("3") in (None, "")  # never written: not recorded as shown


def test_the_master_wins_when_both_changed_and_the_school_cell_is_reported(
    tmp_path: Path,
) -> None:
    config = setup(tmp_path)
    run(config, today=TODAY)
    fill_workbook(Path(config.schools[0].source), SPEC, {"3": {"review": "На доработке"}})
    type_into_master(config.master_path, {(S1, "3"): {"Отметка МОУО": "Принято"}})
    second = run(config, today=TODAY)
    assert [(m.mark, m.source) for m in second.review.new_marks] == [(Mark.ACCEPTED, "master")]
    assert any("принята отметка из свода" in p for p in second.review.problems)
    assert school_cell(config, "s1", "3", "Отметка МОУО")[0] == "Принято"


def test_a_mark_typed_while_the_master_is_open_is_not_lost(tmp_path: Path) -> None:
    config = setup(tmp_path)
    run(config, today=TODAY)
    # The coordinator has the master open in Excel, types a mark and saves; the sync runs.
    lock = config.master_path.with_name("~$" + config.master_path.name)
    lock.write_text("coordinator")
    type_into_master(config.master_path, {(S1, "3"): {"Отметка МОУО": "Принято"}})
    saved = config.master_path.read_bytes()
    second = run(config, today=TODAY)
    assert second.outcome == "ok" and [m.mark for m in second.review.new_marks] == [Mark.ACCEPTED]
    beside = Path(second.master)
    assert beside != config.master_path and beside.parent == config.master_path.parent
    assert config.master_path.read_bytes() == saved  # the open master is left alone
    assert master_line(beside, S1, "3")["Отметка МОУО"] == "Принято"
    assert school_cell(config, "s1", "3", "Отметка МОУО")[0] == "Принято"
    # A mark arriving from the school meanwhile is not undone by the old, still open master.
    fill_workbook(Path(config.schools[1].source), SPEC, {"3": {"review": "Принято"}})
    third = run(config, today=TODAY)
    assert [(m.key.school_id, m.mark) for m in third.review.new_marks] == [("s2", Mark.ACCEPTED)]
    lock.unlink()
    fourth = run(config, today=TODAY)
    assert not fourth.review.new_marks and Path(fourth.master) == config.master_path
    assert master_line(config.master_path, S2, "3")["Отметка МОУО"] == "Принято"
    assert master_line(config.master_path, S1, "3")["Отметка МОУО"] == "Принято"


def test_an_unreadable_master_stays_untouched_and_the_new_one_goes_beside(tmp_path: Path) -> None:
    config = setup(tmp_path)
    run(config, today=TODAY)
    type_into_master(config.master_path, {(S1, "3"): {"Отметка МОУО": "Принято"}})
    good = config.master_path.read_bytes()
    config.master_path.write_bytes(good[: len(good) // 2])  # a copy cut short
    cut = config.master_path.read_bytes()
    broken = run(config, today=TODAY)
    assert broken.outcome == "ok" and run_exit_code(broken) == RunExit.OK
    assert config.master_path.read_bytes() == cut  # not rewritten
    beside = Path(broken.master)
    assert beside != config.master_path and beside.parent == config.master_path.parent
    assert master_line(beside, S1, "3")["Отметка МОУО"] in (None, "")
    assert broken.counts["synced"] + broken.counts["unchanged"] == 4  # the schools are recorded
    said = " ".join(broken.review.problems)
    assert "«Свод.xlsx» не читается" in said and "сохраните заново" in said
    assert "рядом" in said and "Error" not in said and "школу" not in said
    # The next run keeps it so (no new copy piles up beside the one already written).
    again = run(config, today=TODAY)
    assert config.master_path.read_bytes() == cut and Path(again.master) != config.master_path
    dated = sorted(config.master_path.parent.glob("Свод (*).xlsx"))
    assert dated == [Path(again.master)]
    config.master_path.write_bytes(good)  # re-saved: the mark is still there and is read
    fixed = run(config, today=TODAY)
    assert fixed.outcome == "ok" and [m.mark for m in fixed.review.new_marks] == [Mark.ACCEPTED]
    assert Path(fixed.master) == config.master_path
    assert school_cell(config, "s1", "3", "Отметка МОУО")[0] == "Принято"


def test_a_master_saved_during_the_run_is_not_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = setup(tmp_path)
    run(config, today=TODAY)
    read = FolderBackend.read_marks

    def read_then_coordinator_saves(self: FolderBackend) -> MasterMarks:
        marks = read(self)
        # Right after the sync read it, the coordinator opens, marks, saves and closes it.
        type_into_master(config.master_path, {(S1, "3"): {"Отметка МОУО": "Принято"}})
        return marks

    monkeypatch.setattr(FolderBackend, "read_marks", read_then_coordinator_saves)
    saved_meanwhile = run(config, today=TODAY)
    saved = config.master_path.read_bytes()
    assert saved_meanwhile.outcome == "master_failed"
    assert "сохранён во время синхронизации" in saved_meanwhile.message
    assert master_line(config.master_path, S1, "3")["Отметка МОУО"] == "Принято"
    monkeypatch.setattr(FolderBackend, "read_marks", read)
    after = run(config, today=TODAY)
    assert after.outcome == "ok" and [m.mark for m in after.review.new_marks] == [Mark.ACCEPTED]
    assert Path(after.master) == config.master_path and config.master_path.read_bytes() != saved
    assert master_line(config.master_path, S1, "3")["Отметка МОУО"] == "Принято"
    assert school_cell(config, "s1", "3", "Отметка МОУО")[0] == "Принято"


def test_marks_typed_into_the_dated_copy_are_read_and_copies_do_not_pile_up(
    tmp_path: Path,
) -> None:
    config = setup(tmp_path)
    run(config, today=TODAY)
    lock = config.master_path.with_name("~$" + config.master_path.name)
    lock.write_text("coordinator")
    copy = Path(run(config, today=TODAY).master)
    assert copy != config.master_path
    # The coordinator works in the newest copy: marks there, saves it and closes everything.
    type_into_master(copy, {(S1, "3"): {"Отметка МОУО": "На доработке"}})
    lock.unlink()
    third = run(config, today=TODAY)
    assert [(m.key.school_id, m.mark) for m in third.review.new_marks] == [("s1", Mark.REWORK)]
    assert Path(third.master) == config.master_path
    assert master_line(config.master_path, S1, "3")["Отметка МОУО"] == "На доработке"
    assert school_cell(config, "s1", "3", "Отметка МОУО")[0] == "На доработке"
    assert not copy.exists() and (config.backups_dir / "_свод" / copy.name).exists()
    # While the master stays open, each run leaves one copy beside it, not one more each run.
    lock.write_text("coordinator")
    runs = [run(config, today=TODAY) for _ in range(3)]
    dated = sorted(config.master_path.parent.glob("Свод (*).xlsx"))
    assert dated == [Path(runs[-1].master)]
    assert master_line(dated[0], S1, "3")["Отметка МОУО"] == "На доработке"
    assert not any(r.review.new_marks for r in runs)


def test_done_requires_acceptance_counts_only_accepted_rows(tmp_path: Path) -> None:
    config = setup(tmp_path)
    run(config, today=TODAY)
    type_into_master(config.master_path, {(S1, "3"): {"Отметка МОУО": "Принято"}})
    run(config, today=TODAY)
    assert schools_line(config.master_path, S1)["Выполнено"] == 2  # rows 3 and 4
    strict = with_tables(config, "[review]\ndone_requires_acceptance = true\n")
    assert strict.done_requires_acceptance
    result = run(strict, today=TODAY)
    assert schools_line(strict.master_path, S1)["Выполнено"] == 1  # only the accepted one
    # Row 4 still shows «Выполнено» to the school; it is only not counted.
    assert school_cell(strict, "s1", "4", "Контроль")[0] == "Выполнено"
    overview = {r["Показатель"]: r for r in master_rows(strict.master_path, "Обзор")}
    assert "принятые МОУО" in str(overview["Выполнено"]["Пояснение"])
    assert result.outcome == "ok"


def test_a_hostile_master_gives_data_and_russian_problems(tmp_path: Path) -> None:
    config = setup(tmp_path)
    run(config, today=TODAY)
    long = "Очень длинно. " * 2200  # 30 800 characters
    wb = load_workbook(config.master_path)
    ws = wb[ROWS_SHEET]
    header = [c.value for c in ws[HEADER_ROW]]
    mark, comment, key = (header.index(h) for h in ("Отметка МОУО", "Комментарий МОУО", KEY_HEADER))
    lines = {(str(r[0].value), str(r[1].value)): r for r in ws.iter_rows(min_row=HEADER_ROW + 1)}
    lines[(S1, "3")][mark].value = "На доработке"
    formula = '=HYPERLINK("http://evil.example","жми")'
    lines[(S1, "3")][comment].value = formula
    lines[(S1, "3")][comment].data_type = "s"  # typed as text: Excel keeps it as it was typed
    lines[(S1, "4")][mark].value = "Принято"
    lines[(S1, "4")][comment].value = long
    lines[(S2, "3")][mark].value = "Принято"
    lines[(S2, "3")][key].value = "испорчено"
    lines[(S1, "5")][mark].value = "Ок"
    wb.save(config.master_path)

    result = run(config, today=TODAY)
    assert result.outcome == "ok"
    problems = "\n".join(result.review.problems)
    assert "«Ключ строки» изменён или стёрт" in problems and "Куанда" in problems
    assert "«Ок» — это не отметка" in problems
    got = {m.key.no: m for m in result.review.new_marks if m.key.school_id == "s1"}
    assert got["4"].comment == long.strip()  # a long comment is kept whole (it fits a cell)
    # The formula typed as a comment is data: kept as text in the history, the new master (a
    # text cell, not a formula) and the school's note.
    assert got["3"].comment == formula
    ws = load_workbook(config.master_path)[ROWS_SHEET]
    cell = next(r[comment] for r in ws.iter_rows(min_row=HEADER_ROW + 1) if str(r[1].value) == "3")
    assert cell.value == formula and cell.data_type == "s"
    assert formula in school_cell(config, "s1", "3", "Отметка МОУО")[1]
    value, note = school_cell(config, "s1", "4", "Отметка МОУО")
    assert value == "Принято" and len(note) < 1300 and "полностью — в своде" in note
    # The unknown mark changed nothing; the broken key's mark was not applied.
    assert "5" not in got
    assert master_line(config.master_path, S2, "3")["Отметка МОУО"] in ("", None)
    from sync.report import run_summary, run_text

    assert "Отметки МОУО — замечания (" in run_text(result, config, SPEC)  # what `run` prints
    summary = run_summary(result, SPEC)["review"]
    assert summary["problems"] == result.review.problems and summary["new_marks"] == 2
    json.dumps(summary, ensure_ascii=False)  # plain data


def test_history_shows_the_review_trail_as_text_and_json(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from sync.cli import main

    config = setup(tmp_path)
    run(config, today=TODAY)
    type_into_master(
        config.master_path,
        {(S1, "4"): {"Отметка МОУО": "На доработке", "Комментарий МОУО": "Нет приказа"}},
    )
    run(config, today=TODAY)
    fill_workbook(Path(config.schools[0].source), SPEC, {"4": {"evidence": "Приказ № 47"}})
    run(config, today=TODAY)
    type_into_master(config.master_path, {(S1, "4"): {"Отметка МОУО": "Принято"}}, by="Сидоров")
    run(config, today=TODAY)
    cli = CliRunner()
    args = ["history", "s1", "--config", str(config.path)]

    text = cli.invoke(main, [*args, "--row", "4"])
    assert text.exit_code == 0, text.output
    lines = text.output.strip().splitlines()
    assert lines[0] == f"{S1}, строка 4: отметки МОУО (2)."
    assert "«На доработке»; Петрова А. А. (свод" in lines[1]
    assert "комментарий: «Нет приказа»" in lines[1] and "строка изменена после отметки" in lines[1]
    assert "«Принято»; Сидоров (свод" in lines[2] and "изменена" not in lines[2]

    as_json = cli.invoke(main, [*args, "--marks", "--json"])
    data = json.loads(as_json.output)
    assert [(d["row"]["no"], d["mark"], d["by"], d["changed_after"]) for d in data] == [
        ("4", "rework", "Петрова А. А.", True),
        ("4", "accepted", "Сидоров", False),
    ]
    assert data[0]["comment"] == "Нет приказа" and data[0]["source"] == "master"
    # The plain history ends with the trail too.
    assert "отметки МОУО (2)" in cli.invoke(main, args).output


def test_reminders_list_rework_rows_with_the_comment_and_count_rows_on_review(
    tmp_path: Path,
) -> None:
    from dataclasses import replace

    from sync.service.config import SmtpSettings
    from sync.service.mail import coordinator_digest, school_digest

    config = setup(tmp_path)
    run(config, today=TODAY)
    type_into_master(
        config.master_path,
        {(S1, "4"): {"Отметка МОУО": "На доработке", "Комментарий МОУО": "Приложите приказ"}},
    )
    result = run(config, today=TODAY)
    settings = SmtpSettings(
        "127.0.0.1", 25, "none", "sync@example.ru", coordinators=("mouo@example.ru",)
    )
    s1 = next(r for r in result.reports if r.school.id == "s1")
    s1 = replace(s1, school=replace(s1.school, emails=("s1@example.ru",)))
    digest = school_digest(s1, TODAY, settings, "Тестовый округ", SPEC, result.review)
    assert digest is not None and "на доработке 1" in digest.subject
    body = digest.body
    assert "МОУО вернул на доработку (1):" in body
    assert "№ 4 «Сбор дополнительных сведений" in body
    assert "Петрова А. А." in body and "«Приложите приказ»" in body
    summary = coordinator_digest(result, TODAY, settings, "Тестовый округ", SPEC)
    assert summary is not None
    # s2's row 3 is «Выполнено» and not reviewed; s1's row 3 too (row 4 is on rework).
    assert "На проверке у МОУО: 2 (лист «На проверке» в своде); на доработке у школ: 1." in (
        summary.body
    )


def test_the_spravka_counts_from_the_recorded_review_state(tmp_path: Path) -> None:
    from sync.pipeline import load_context
    from sync.spravka.data import gather

    config = setup(tmp_path)
    run(config, today=TODAY)
    type_into_master(
        config.master_path,
        {(S1, "3"): {"Отметка МОУО": "Принято"}, (S1, "4"): {"Отметка МОУО": "На доработке"}},
    )
    run(config, today=TODAY)
    spec, plan = load_context(config)
    with History.open(config.history_path) as h:
        spravka, _ = gather(config, h, plan, spec, TODAY)
    assert (spravka.accepted, spravka.rework, spravka.on_review) == (1, 1, 1)  # s2's row 3 waits
    overview = {r["Показатель"]: r["Значение"] for r in master_rows(config.master_path, "Обзор")}
    assert overview["На проверке у МОУО"] == spravka.on_review  # the master agrees
    assert overview["На доработке"] == spravka.rework
    s1_line = next(s for s in spravka.schools if s.name == S1)
    assert s1_line.done == 1  # the row on rework is not done

    # The school changes the accepted row: its cell still says «Принято», the справка does not.
    fill_workbook(Path(config.schools[0].source), SPEC, {"3": {"evidence": "Приказ № 99"}})
    run(config, today=TODAY)
    with History.open(config.history_path) as h:
        spravka, _ = gather(config, h, plan, spec, TODAY)
    assert (spravka.accepted, spravka.rework, spravka.on_review) == (0, 1, 2)

    strict = with_tables(config, "[review]\ndone_requires_acceptance = true\n")
    with History.open(config.history_path) as h:
        spravka, _ = gather(strict, h, plan, spec, TODAY)
    assert spravka.total.done == 0  # nothing accepted as it is now


def test_a_late_row_sent_back_stays_overdue(tmp_path: Path) -> None:
    from sync.consolidate import OVERDUE_SHEET

    config = setup(tmp_path)
    run(config, today=TODAY)
    late = [r for r in master_rows(config.master_path, OVERDUE_SHEET) if r["Школа"] == S1]
    assert late, "the sample needs an overdue row"
    no = str(late[0]["№"])
    overdue_before = {k: v for k, v in schools_line(config.master_path, S1).items() if v}
    type_into_master(config.master_path, {(S1, no): {"Отметка МОУО": "На доработке"}})
    second = run(config, today=TODAY)
    assert [m.mark for m in second.review.new_marks] == [Mark.REWORK]
    assert master_line(config.master_path, S1, no)["Контроль"] == "На доработке"
    still = [
        r
        for r in master_rows(config.master_path, OVERDUE_SHEET)
        if r["Школа"] == S1 and str(r["№"]) == no
    ]
    assert still and still[0]["Контроль"] == "На доработке"
    after = schools_line(config.master_path, S1)
    overdue_keys = [k for k in after if "росроч" in str(k)]
    assert overdue_keys and all(after[k] == overdue_before.get(k) for k in overdue_keys)


def test_a_master_unchanged_since_it_was_written_is_not_parsed_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The warm run's largest read: a master byte for byte as the last run wrote it shows no
    line the coordinator changed, so it is not parsed; any save makes it read again."""
    import sync.backends.xlsxmarks as xlsxmarks

    parsed: list[str] = []
    parse = xlsxmarks.read_master_marks

    def counting(data: bytes, name: str, modified: object = None) -> MasterMarks:
        parsed.append(name)
        return parse(data, name, modified)  # type: ignore[arg-type]

    monkeypatch.setattr(xlsxmarks, "read_master_marks", counting)
    config = setup(tmp_path)
    run(config, today=TODAY)
    quiet = run(config, today=TODAY)
    assert quiet.outcome == "ok" and parsed == [] and not quiet.review.new_marks
    type_into_master(config.master_path, {(S1, "3"): {"Отметка МОУО": "Принято"}})
    marked = run(config, today=TODAY)
    assert parsed == ["Свод.xlsx"]
    assert [m.mark for m in marked.review.new_marks] == [Mark.ACCEPTED]
    assert school_cell(config, "s1", "3", "Отметка МОУО")[0] == "Принято"
    # The master just written shows the mark: unchanged, it is not parsed, and nothing is undone.
    again = run(config, today=TODAY)
    assert parsed == ["Свод.xlsx"] and not again.review.new_marks
    assert master_line(config.master_path, S1, "3")["Отметка МОУО"] == "Принято"
    # The coordinator removes the mark and saves: read again, the removal is recorded.
    type_into_master(config.master_path, {(S1, "3"): {"Отметка МОУО": None}})
    removed = run(config, today=TODAY)
    assert parsed == ["Свод.xlsx", "Свод.xlsx"]
    assert [m.mark for m in removed.review.new_marks] == [None]


def test_a_damaged_record_of_written_masters_only_means_the_master_is_read(
    tmp_path: Path,
) -> None:
    config = setup(tmp_path)
    run(config, today=TODAY)
    record = config.backups_dir / "_свод" / ".written-masters.json"
    assert record.exists()
    for junk in (b"\x00garbage", b'{"a": 1}', b'["short", 5]', b"[" * 100_000):
        record.write_bytes(junk)
        type_into_master(config.master_path, {(S1, "4"): {"Комментарий МОУО": junk[:4].hex()}})
        after = run(config, today=TODAY)
        assert after.outcome == "ok" and after.review.new_marks
        assert json.loads(record.read_text())  # written anew
    # A link naming the saved master's digest is not followed; a pipe never blocks the run.
    import hashlib
    import os

    type_into_master(config.master_path, {(S1, "3"): {"Отметка МОУО": "Принято"}})
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text(json.dumps([hashlib.sha256(config.master_path.read_bytes()).hexdigest()]))
    record.unlink()
    record.symlink_to(elsewhere)
    linked = run(config, today=TODAY)
    assert [m.mark for m in linked.review.new_marks] == [Mark.ACCEPTED]
    assert not record.is_symlink()  # replaced by the run's own record
    type_into_master(config.master_path, {(S1, "3"): {"Отметка МОУО": "На доработке"}})
    record.unlink()
    os.mkfifo(record)
    piped = run(config, today=TODAY)
    assert [m.mark for m in piped.review.new_marks] == [Mark.REWORK]
