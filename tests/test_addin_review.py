"""Review marks in the Excel add-in (issue 13): the master open in Excel is where the coordinator
marks, so its marks are read from the open book (typed and not saved yet included); its refresh
keeps the review columns editable on the protected sheet; a school's workbook shows the mark and
the comment. Driven through xlwings' remote engine as tests/test_addin.py does."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import xlwings as xw
from openpyxl import load_workbook

from sync import addin
from sync.backends.base import MasterReadError
from sync.backends.excel.backend import OpenMasterBackend
from sync.backends.excel.book import UNLOCK_MACRO, OpenBook, parse_note_cells
from sync.backends.folder import FolderBackend
from sync.cells import a1, column_letter
from sync.consolidate import HEADER_ROW, ROWS_SHEET
from sync.history import History
from sync.model import RawWorkbook
from sync.pipeline import backend_for, run
from sync.reader import locate
from sync.review import COMMENT_HEADER, KEY_HEADER, MARK_HEADER, Mark, decode_key
from sync.spec import load_spec
from tests.fakes.excel import (
    HOST,
    actions,
    book_json,
    funcs,
    macros,
    nightly_paint,
    notes,
    open_book,
    remote_engine,
    sheet_index,
    written,
)
from tests.fixtures import TODAY, setup, type_into_master

__all__ = ["remote_engine"]

SPEC = load_spec()
MAIN = SPEC.main_sheet


def master_payload(tmp_path: Path) -> tuple[Any, Path, dict[str, Any]]:
    """A first run's master file and its Office.js payload (to type into before sending)."""
    config = setup(tmp_path)
    master = Path(run(config, today=TODAY).master)
    return config, master, book_json(master)


def rows_sheet(payload: dict[str, Any]) -> list[list[Any]]:
    return next(s for s in payload["sheets"] if s["name"] == ROWS_SHEET)["values"]


def header(payload: dict[str, Any]) -> dict[str, int]:
    """Header -> 0-based column of «Мероприятия» (the header is HEADER_ROW)."""
    return {str(h): c for c, h in enumerate(rows_sheet(payload)[HEADER_ROW - 1])}


def line_of(payload: dict[str, Any], school: str, no: str) -> int:
    """0-based index into the payload's values of a school's plan row №."""
    cols = header(payload)
    for r, line in enumerate(rows_sheet(payload)):
        if r >= HEADER_ROW and line[0] == school and str(line[cols["№"]]) == no:
            return r
    raise AssertionError(f"{school} {no} not in the master")


def test_marks_are_read_from_the_open_master_even_unsaved(tmp_path: Path) -> None:
    config, master, payload = master_payload(tmp_path)
    cols = header(payload)
    values = rows_sheet(payload)
    r3 = line_of(payload, "МОУ СОШ № 1 с. Чара", "3")
    r4 = line_of(payload, "МОУ СОШ № 1 с. Чара", "4")
    # Typed in Excel, not saved: only the open book has them.
    values[r3][cols[MARK_HEADER]] = "Принято"
    values[r4][cols[MARK_HEADER]] = "на доработке"
    values[r4][cols[COMMENT_HEADER]] = "=приложите приказ"
    values[r4 + 1][cols[MARK_HEADER]] = "Ок"
    on_disk = master.read_bytes()
    backend = OpenMasterBackend(backend_for(config), OpenBook(xw.Book(json=payload)))
    marks = backend.read_marks()
    assert master.read_bytes() == on_disk
    by_key = {m.key: m for m in marks.marks}
    assert len(marks.marks) == sum(1 for line in values[HEADER_ROW:] if line[cols[KEY_HEADER]])
    decoded = decode_key(values[r3][cols[KEY_HEADER]])
    assert decoded is not None
    key3, digest3 = decoded
    assert key3.school_id == "s1" and key3.no == "3"
    assert (by_key[key3].mark, by_key[key3].shown_digest) == (Mark.ACCEPTED, digest3)
    decoded = decode_key(values[r4][cols[KEY_HEADER]])
    assert decoded is not None
    assert (by_key[decoded[0]].mark, by_key[decoded[0]].comment) == (
        Mark.REWORK,
        "=приложите приказ",
    )
    decoded = decode_key(values[r4 + 1][cols[KEY_HEADER]])
    assert decoded is not None
    assert (by_key[decoded[0]].mark, by_key[decoded[0]].raw_mark) == (None, "Ок")
    assert "открытый свод" in marks.source


def test_a_master_that_cannot_be_read_in_excel_stops_the_refresh(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, _, payload = master_payload(tmp_path)
    book = OpenBook(xw.Book(json=payload))

    def engine_fails(self: OpenBook, choices: Any = ()) -> Any:
        raise RuntimeError("Excel занят")  # as COM answers while a cell is being edited

    monkeypatch.setattr(OpenBook, "read_marks", engine_fails)
    with pytest.raises(MasterReadError, match=r"Отметки МОУО в открытом своде .* не прочитаны"):
        OpenMasterBackend(backend_for(config), book).read_marks()


def test_the_refresh_keeps_the_review_columns_open_on_the_protected_sheet(
    tmp_path: Path,
) -> None:
    config, master, payload = master_payload(tmp_path)
    lock = master.with_name(f"~${master.name}")
    lock.write_text("координатор", encoding="utf-8")
    book = xw.Book(json=payload)
    result = addin.sync_now(book, host=HOST, config=config, today=TODAY)
    assert result.ok, result.message
    rows_at = sheet_index(master, ROWS_SHEET)
    cols = header(payload)
    calls = macros(book)
    # Every master sheet lifted and protected again with the configured password (here none).
    lifted = [c for c in calls if c[0].endswith("RoadmapUnprotect")]
    assert (f"'{HOST}'!RoadmapUnprotect", master.name, ROWS_SHEET, "") in lifted
    # The marks' cells unlocked to the new last row, the dropdown on «Отметка МОУО» only.
    unlocks = [c for c in calls if c[0] == f"'{HOST}'!{UNLOCK_MACRO}"]
    n = sum(1 for r in written(book, rows_at) if r[0] > HEADER_ROW and r[1] == 1)
    first, last = HEADER_ROW + 1, HEADER_ROW + n

    def address(c: int) -> str:
        letter = column_letter(c + 1)
        return f"${letter}${first}:${letter}${last}"

    assert sorted(unlocks) == sorted(
        [
            (
                f"'{HOST}'!{UNLOCK_MACRO}",
                master.name,
                ROWS_SHEET,
                address(cols[MARK_HEADER]),
                "Принято,На доработке",
            ),
            (
                f"'{HOST}'!{UNLOCK_MACRO}",
                master.name,
                ROWS_SHEET,
                address(cols[COMMENT_HEADER]),
                "",
            ),
        ]
    )
    # In order on «Мероприятия»: lifted, contents cleared (formats and locks kept), written,
    # unlocked, protected again; then the book saved.
    on_rows = [
        (a["func"], tuple(a["args"]) if a["func"] == "runMacro" else ())
        for a in actions(book)
        if a.get("sheet_position") == rows_at or a["func"] in ("runMacro", "save")
    ]
    names = [f if f != "runMacro" else args[0].split("!")[1] + ":" + args[2] for f, args in on_rows]
    start = names.index(f"RoadmapUnprotect:{ROWS_SHEET}")
    end = names.index(f"RoadmapProtect:{ROWS_SHEET}")
    inside = names[start:end]
    assert "sheetClearContents" in inside and "sheetClear" not in inside
    assert "setValues" in inside and f"{UNLOCK_MACRO}:{ROWS_SHEET}" in inside
    assert names.index("save") > end
    # The key column hidden.
    widths = [
        a for a in actions(book) if a["func"] == "setColumnWidth" and a["sheet_position"] == rows_at
    ]
    assert [(a["start_column"], a["args"]) for a in widths] == [(cols[KEY_HEADER], [0])]


def test_a_school_workbook_shows_the_mark_and_the_comment(tmp_path: Path) -> None:
    config = setup(tmp_path)
    path = config.schools[0].source
    paint = nightly_paint(config, path, 0)
    sheet = locate(FolderBackend.read_file(Path(path)), SPEC)
    col = sheet.columns["review"]
    rows = {str(r.values.get("no")): r.row for r in sheet.rows}
    r3, r4 = rows["3"], rows["4"]
    paint = dataclasses.replace(
        paint,
        review_col=col,
        review_header=MARK_HEADER,
        reviews=((r3, "Принято"), (r4, "На доработке")),
        notes={**paint.notes, (MAIN, a1(r4, col)): "Комментарий МОУО: =приложите приказ"},
    )
    raw = FolderBackend.read_file(Path(path))
    book = xw.Book(json=book_json(Path(path)))
    shown = OpenBook(book, host=HOST).show_paint(paint, sheet, raw, SPEC)
    assert shown.values == 2
    values = written(book, 0)
    assert values[(r3, col)] == "'Принято" and values[(r4, col)] == "'На доработке"
    assert notes(book)[(0, a1(r4, col))] == ("addNote", "Комментарий МОУО: =приложите приказ")
    # Written while the sheet's protection was lifted.
    assert funcs(book)[0] == "runMacro" and funcs(book)[-1] == "runMacro"


def test_a_review_column_renamed_by_the_school_is_not_written(tmp_path: Path) -> None:
    config = setup(tmp_path)
    path = config.schools[0].source
    paint = nightly_paint(config, path, 0)
    sheet = locate(FolderBackend.read_file(Path(path)), SPEC)
    col = sheet.columns["review"]
    raw = FolderBackend.read_file(Path(path))
    grid = [list(line) for line in raw.sheets[MAIN]]
    grid[sheet.header_row - 1][col - 1] = "Моя отметка"
    renamed = RawWorkbook({**raw.sheets, MAIN: grid}, raw.modified, raw.fingerprint)
    r3 = sheet.rows[0].row
    paint = dataclasses.replace(
        paint, review_col=col, review_header=MARK_HEADER, reviews=((r3, "Принято"),)
    )
    book = xw.Book(json=book_json(Path(path)))
    assert OpenBook(book).show_paint(paint, sheet, renamed, SPEC).values == 0
    assert (r3, col) not in written(book, 0)


def test_sync_from_the_open_master_takes_its_unsaved_marks_to_the_school(tmp_path: Path) -> None:
    config, master, payload = master_payload(tmp_path)
    lock = master.with_name(f"~${master.name}")
    lock.write_text("координатор", encoding="utf-8")
    cols = header(payload)
    values = rows_sheet(payload)
    r4 = line_of(payload, "МОУ СОШ № 1 с. Чара", "4")
    values[r4][cols[MARK_HEADER]] = "На доработке"  # typed, not saved
    values[r4][cols[COMMENT_HEADER]] = "Нет приказа"
    on_disk = master.read_bytes()
    book = xw.Book(json=payload)
    result = addin.sync_now(book, host=HOST, config=config, today=TODAY)
    assert result.ok, result.message
    assert master.read_bytes() == on_disk  # refreshed in Excel, not on disk
    # The school's workbook got the mark (written by the folder backend) and the history too.
    with History.open(config.history_path) as h:
        trail = h.review_trail("s1")
    assert [(m.key.no, m.mark, m.comment, m.source) for m in trail] == [
        ("4", Mark.REWORK, "Нет приказа", "master")
    ]
    school = load_workbook(config.schools[0].source)[MAIN]
    review_col = SPEC.index("review")
    row = next(r for r in range(2, school.max_row + 1) if str(school.cell(r, 1).value) == "4")
    assert school.cell(row, review_col).value == "На доработке"
    # The refreshed master shows the mark again on the school's line.
    rows_at = sheet_index(master, ROWS_SHEET)
    shown = written(book, rows_at)
    line = next(
        r
        for (r, c), v in shown.items()
        if c == 1
        and v == "'МОУ СОШ № 1 с. Чара"
        and shown.get((r, cols["№"] + 1)) in ("'4", 4, 4.0)
    )
    assert shown[(line, cols[MARK_HEADER] + 1)] == "'На доработке"
    assert shown[(line, cols[COMMENT_HEADER] + 1)] == "'Нет приказа"


# --- «Проверить» after marks: as the nightly sync shows them, or left alone ----------------------


def marked_town(tmp_path: Path) -> Any:
    """A municipality whose coordinator sent s1's row 4 back with a comment (one run later)."""
    config = setup(tmp_path)
    run(config, today=TODAY)
    type_into_master(
        config.master_path,
        {
            ("МОУ СОШ № 1 с. Чара", "4"): {
                MARK_HEADER: "На доработке",
                COMMENT_HEADER: "Нет приказа",
            }
        },
    )
    assert run(config, today=TODAY).writes["s1"].status == "written"
    return config


def review_cell(config: Any, no: str) -> tuple[int, int]:
    sheet = locate(FolderBackend.read_file(Path(config.schools[0].source)), SPEC)
    row = next(r.row for r in sheet.rows if str(r.values.get("no")) == no)
    return row, sheet.columns["review"]


def test_check_shows_rework_as_the_nightly_sync_does_and_leaves_the_marks(
    tmp_path: Path,
) -> None:
    config = marked_town(tmp_path)
    row, col = review_cell(config, "4")
    book = open_book(config.schools[0].source)
    addin.check(book, host=HOST, config=config, today=TODAY)
    values = written(book, 0)
    control = SPEC.index("control")
    assert values[(row, control)] == "На доработке"  # not «Выполнено»: sent back, unchanged
    # «Отметка МОУО» and the comment the nightly sync wrote there are left as they are.
    assert (row, col) not in values
    assert (0, a1(row, col)) not in notes(book)


def test_check_without_the_history_leaves_the_marks_and_their_notes(tmp_path: Path) -> None:
    config = marked_town(tmp_path)
    row, col = review_cell(config, "4")
    config.history_path.rename(config.history_path.with_suffix(".away"))  # a school's computer
    book = open_book(config.schools[0].source)
    addin.check(book, host=HOST, config=config, today=TODAY)
    assert (0, a1(row, col)) not in notes(book)  # the coordinator's comment is not deleted
    assert (row, col) not in written(book, 0)
    meta = sheet_index(config.schools[0].source, SPEC.meta_sheet)
    registry = next(v for (r, c), v in written(book, meta).items() if c == 2)
    assert (MAIN, a1(row, col)) in parse_note_cells(str(registry).lstrip("'"))  # still ours


@pytest.mark.parametrize("button", ["check", "refresh_statuses"])
def test_the_check_buttons_never_overwrite_a_mark_just_typed(tmp_path: Path, button: str) -> None:
    from sync.builders.fill import fill_workbook

    config = setup(tmp_path)
    path = config.schools[0].source
    run(config, today=TODAY)
    type_into_master(config.master_path, {("МОУ СОШ № 1 с. Чара", "4"): {MARK_HEADER: "Принято"}})
    run(config, today=TODAY)  # a history with a recorded mark on another row
    with History.open(config.history_path) as h:
        assert [m.key.no for m in h.review_trail("s1")] == ["4"]
    # The coordinator types «Принято» into row 3 of the open school workbook, then a button.
    fill_workbook(Path(path), SPEC, {"3": {"review": "Принято"}})
    sheet = locate(FolderBackend.read_file(Path(path)), SPEC)
    col, r3 = sheet.columns["review"], next(r.row for r in sheet.rows if r.values.get("no") == "3")
    book = open_book(path)
    getattr(addin, button)(book, host=HOST, config=config, today=TODAY)
    main = sheet_index(path, MAIN)
    assert not [rc for rc in written(book, main) if rc[1] == col]
    assert (r3, col) not in written(book, main)
