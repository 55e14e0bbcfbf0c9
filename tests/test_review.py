"""Review marks: the pure decision (sync.review) and the run over the in-memory backend."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

from sync.backends.folder import FolderBackend
from sync.backends.memory import MemoryBackend
from sync.config import Config
from sync.consolidate import ROWS_SHEET
from sync.history import History
from sync.pipeline import run
from sync.review import (
    COMMENT_HEADER,
    KEY_HEADER,
    MARK_HEADER,
    MAX_COMMENT,
    Mark,
    MasterMark,
    MasterMarks,
    RecordedMark,
    ReviewState,
    RowKey,
    RowNow,
    decide_row,
    encode_key,
    index_lines,
    marks_from_grid,
    orphan_marks,
    shown_token,
)
from sync.states import ControlKey
from tests.fixtures import TODAY, setup

K = RowKey("s1", "1. Раздел", "1.2")
T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
EMPTY = shown_token(None, "")


def recorded(mark: Mark | None, digest: str = "d1", comment: str = "") -> RecordedMark:
    return RecordedMark(K, mark, comment, "Петрова", T0, digest, "master", 1)


def decide(
    row: RowNow,
    last: RecordedMark | None = None,
    line: MasterMark | None = None,
    known: str | None = None,
) -> tuple[ReviewState, RecordedMark | None, list[str]]:
    seen, new, problems = decide_row(
        row, last, line, known, MasterMarks(by="Иванова", at=NOW), now=NOW, run_id=7
    )
    return seen.state, new, problems


# --- the decision -------------------------------------------------------------------------


def test_a_master_mark_is_about_the_row_the_master_showed() -> None:
    line = MasterMark(K, "d1", Mark.ACCEPTED, "ок", shown=EMPTY)
    state, new, _ = decide(RowNow(K, "d1"), line=line)
    assert state is ReviewState.ACCEPTED
    assert new == RecordedMark(K, Mark.ACCEPTED, "ок", "Иванова", NOW, "d1", "master", 7)
    # The school changed the row between the master's write and the mark: needs review again.
    state, new, _ = decide(RowNow(K, "d2"), line=line)
    assert state is ReviewState.CHANGED_AFTER_ACCEPT and new is not None


def test_rework_then_fixed() -> None:
    assert decide(RowNow(K, "d1"), recorded(Mark.REWORK))[0] is ReviewState.REWORK
    assert decide(RowNow(K, "d2"), recorded(Mark.REWORK))[0] is ReviewState.FIXED_AWAITING
    assert decide(RowNow(K, "d1"), recorded(None))[0] is ReviewState.NOT_REVIEWED


def test_an_untouched_master_line_changes_nothing_even_if_it_is_old() -> None:
    # The master showed no mark; since then the school's cell gave «Принято». The old master,
    # still open, must not take the mark away.
    line = MasterMark(K, "d1", None, "", shown=EMPTY)
    state, new, _ = decide(RowNow(K, "d1"), recorded(Mark.ACCEPTED), line)
    assert state is ReviewState.ACCEPTED and new is None
    # Without a shown token (a storage that keeps none) it is compared with the recorded mark.
    line = MasterMark(K, "d1", Mark.ACCEPTED, "")
    assert decide(RowNow(K, "d1"), recorded(Mark.ACCEPTED), line)[1] is None
    line = MasterMark(K, "d1", None, "")
    assert decide(RowNow(K, "d1"), recorded(Mark.ACCEPTED), line)[1] is not None


def test_a_comment_alone_is_a_new_entry_and_an_emptied_master_cell_removes_the_mark() -> None:
    shown = shown_token(Mark.REWORK, "нет приказа")
    line = MasterMark(K, "d1", Mark.REWORK, "приложите приказ", shown=shown)
    _, new, _ = decide(RowNow(K, "d1"), recorded(Mark.REWORK, comment="нет приказа"), line)
    assert new is not None and new.comment == "приложите приказ"
    line = MasterMark(K, "d1", None, "", shown=shown)
    state, new, _ = decide(RowNow(K, "d1"), recorded(Mark.REWORK, comment="нет приказа"), line)
    assert state is ReviewState.NOT_REVIEWED and new is not None and new.mark is None


def test_the_school_cell_counts_only_when_it_changed() -> None:
    row = RowNow(K, "d3", "Принято", cell_read=True, label="«СОШ 1», № 1.2")
    # Nothing recorded, the cell holds a mark: a new mark about the row now.
    state, new, _ = decide(row)
    assert state is ReviewState.ACCEPTED and new is not None
    assert (new.source, new.by, new.row_digest) == ("workbook", "в книге школы", "d3")
    # The cell shows what we wrote there: nothing new.
    assert decide(row, recorded(Mark.ACCEPTED, "d1"), known="Принято")[1] is None
    # Our write did not happen (the workbook was open): the old text is not a new mark.
    old = RowNow(K, "d1", None, cell_read=True)
    assert decide(old, recorded(Mark.ACCEPTED), known="")[1] is None
    # An unchanged workbook (not read afresh) says nothing, whatever its snapshot shows.
    assert decide(RowNow(K, "d1", None), recorded(Mark.ACCEPTED), known="Принято")[1] is None
    # The school emptied the cell: the mark is removed.
    state, new, _ = decide(old, recorded(Mark.ACCEPTED), known="Принято")
    assert state is ReviewState.NOT_REVIEWED and new is not None and new.mark is None
    # Something that is not a mark: left to the validation's note, no change.
    assert decide(RowNow(K, "d1", "Ок", cell_read=True), recorded(Mark.ACCEPTED))[1] is None


def test_an_empty_cell_never_recorded_is_no_removal() -> None:
    # Our write of «На доработке» never reached the workbook (it was open): the empty cell read
    # later says nothing about the mark.
    empty = RowNow(K, "d1", None, cell_read=True)
    state, new, _ = decide(empty, recorded(Mark.REWORK, comment="нет приказа"), known=None)
    assert new is None and state is ReviewState.REWORK
    # A mark typed there still counts.
    typed = RowNow(K, "d1", "Принято", cell_read=True)
    state, new, _ = decide(typed, recorded(Mark.REWORK), known=None)
    assert new is not None and new.mark is Mark.ACCEPTED


def test_both_changed_the_master_wins_and_the_school_cell_is_reported() -> None:
    line = MasterMark(K, "d1", Mark.REWORK, "", shown=EMPTY)
    row = RowNow(K, "d1", "Принято", cell_read=True, label="«СОШ 1», № 1.2")
    state, new, problems = decide(row, None, line, known="")
    assert state is ReviewState.REWORK and new is not None and new.source == "master"
    assert problems == [
        "«СОШ 1», № 1.2: в книге школы в «Отметка МОУО» стоит «Принято», а в своде —"
        " «На доработке»: принята отметка из свода."
    ]


def test_an_unknown_master_text_is_reported_not_applied() -> None:
    line = MasterMark(K, "d1", None, "", raw_mark="Ок", shown=EMPTY, line=12)
    state, new, problems = decide(
        RowNow(K, "d1", label="«СОШ 1», № 1.2"), recorded(Mark.REWORK), line
    )
    assert state is ReviewState.REWORK and new is None
    assert "(строка 12)" in problems[0] and "«Ок» — это не отметка" in problems[0]


def test_repeated_and_orphan_master_lines() -> None:
    a = MasterMark(K, "d1", Mark.ACCEPTED, "", shown=EMPTY, line=5)
    b = MasterMark(K, "d1", Mark.REWORK, "", shown=EMPTY, line=9)
    found, problems = index_lines(MasterMarks((a, b)))
    assert found[K] is a and "строка 9 повторяет строку 5" in problems[0]
    kept, problems = orphan_marks(found, set(), {}, MasterMarks(by="Иванова"), now=NOW)
    assert [m.mark for m in kept] == [Mark.ACCEPTED] and "больше нет в книге школы" in problems[0]
    assert orphan_marks(found, {K}, {}, MasterMarks(), now=NOW) == ([], [])


def test_the_grid_reader_finds_columns_by_header_and_reports_broken_keys() -> None:
    key = encode_key(K, "d1", EMPTY)
    grid: list[list[object]] = [
        ["Свод дорожной карты"],
        [],
        ["Школа", "№", COMMENT_HEADER, "x", MARK_HEADER, KEY_HEADER],
        ["СОШ 1", "1.2", "  да ", None, " ПРИНЯТО", key],
        ["СОШ 1", "1.3", "", None, "На доработке", '["подделка"]'],
        ["СОШ 1", "1.4", "x" * (MAX_COMMENT + 5), None, "", key],
        [None, None, None, None, None, None],
    ]
    marks, problems = marks_from_grid(grid)  # type: ignore[arg-type]
    assert [(m.key, m.mark, m.comment, m.shown, m.line) for m in marks[:1]] == [
        (K, Mark.ACCEPTED, "да", EMPTY, 4)
    ]
    assert len(marks[1].comment) == MAX_COMMENT
    assert "строка 5 (СОШ 1, № 1.3)" in problems[0] and "«На доработке»" in problems[0]
    assert "сокращён" in problems[1]
    assert marks_from_grid([["a", "b"]])[1]  # no review columns: said, not raised


# --- the run over the in-memory backend -----------------------------------------------------


def seeded(tmp_path: Path) -> tuple[Config, MemoryBackend]:
    config = setup(tmp_path)
    memory = MemoryBackend()
    for school in config.all_workbooks():
        memory.put(school.id, FolderBackend.read_file(Path(school.source)))
    return config, memory


def test_memory_a_master_mark_is_painted_shown_and_recorded(tmp_path: Path) -> None:
    config, memory = seeded(tmp_path)
    run(config, today=TODAY, backend=memory)
    memory.type_into_master("МОУ СОШ № 1 с. Чара", "4", MARK_HEADER, "На доработке")
    memory.type_into_master("МОУ СОШ № 1 с. Чара", "4", COMMENT_HEADER, "Нет приказа")
    memory.master_saved_by = "Петрова А. А."
    result = run(config, today=TODAY, backend=memory)
    paint = memory.paints["s1"][-1]
    row4 = next(r for r in result.reports if r.school.id == "s1").rows[1]
    assert row4.control.key == ControlKey.REWORK
    assert (row4.sheet_row, "На доработке") in paint.reviews and paint.review_col
    assert any("Нет приказа" in text for text in paint.notes.values())
    sheet = memory.masters[-1].sheet(ROWS_SHEET)
    line = next(r for r in sheet.rows if r[0] == "МОУ СОШ № 1 с. Чара" and r[1] == "4")
    assert line[sheet.headers.index(MARK_HEADER)] == "На доработке"
    with History.open(config.history_path) as h:
        assert [(m.mark, m.by) for m in h.review_trail("s1")] == [(Mark.REWORK, "Петрова А. А.")]


def test_memory_an_unreadable_master_is_not_rewritten(tmp_path: Path) -> None:
    config, memory = seeded(tmp_path)
    run(config, today=TODAY, backend=memory)
    memory.type_into_master("МОУ СОШ № 1 с. Чара", "3", MARK_HEADER, "Принято")
    memory.master_read_error = "файл свода повреждён"
    failed = run(config, today=TODAY, backend=memory)
    assert failed.outcome == "master_failed" and "файл свода повреждён" in failed.message
    assert len(memory.masters) == 1 and not failed.review.new_marks
    memory.master_read_error = ""
    again = run(config, today=TODAY, backend=memory)
    assert [m.mark for m in again.review.new_marks] == [Mark.ACCEPTED]


def test_paint_without_the_review_column_puts_the_mark_in_the_control_note(
    tmp_path: Path,
) -> None:
    from dataclasses import replace

    from sync.cells import a1
    from sync.consolidate import row_key
    from sync.model import SchoolReport
    from sync.paint import paint_school
    from sync.pipeline import load_context
    from sync.reader import locate
    from sync.review import RowReview
    from sync.validation import check_school

    config = setup(tmp_path)
    spec, plan = load_context(config)
    school = config.schools[0]
    sheet = locate(FolderBackend.read_file(Path(school.source)), spec)
    rows, problems = check_school(sheet, school, plan, spec, TODAY)
    report = SchoolReport(school, rows, {}, problems)
    seen = RowReview(ReviewState.REWORK, Mark.REWORK, "Нет приказа", "Петрова", NOW)
    reviews = {row_key(school.id, rows[0]): seen}

    with_column = paint_school(report, sheet, spec, reviews)
    review_cell = (with_column.main_sheet, a1(rows[0].sheet_row, sheet.columns["review"]))
    assert with_column.reviews[0] == (rows[0].sheet_row, "На доработке")
    assert "Нет приказа" in with_column.notes[review_cell]
    assert with_column.digest() != paint_school(report, sheet, spec).digest()

    columns = {k: v for k, v in sheet.columns.items() if k != "review"}
    without = paint_school(report, replace(sheet, columns=columns), spec, reviews)
    control_cell = (without.main_sheet, a1(rows[0].sheet_row, sheet.columns["control"]))
    assert not without.reviews and without.review_col is None
    assert "Нет приказа" in without.notes[control_cell]


def test_the_paint_never_clears_a_cell_no_mark_was_recorded_for() -> None:
    from sync.paint import _review_cell
    from sync.review import RowReview
    from tests.fixtures import row

    typed = row(None, "done", review="Принято")
    assert _review_cell(typed, K, {}) is None
    assert _review_cell(typed, K, {K: RowReview(ReviewState.NOT_REVIEWED)}) is None
    removed = RowReview(ReviewState.NOT_REVIEWED, None, "", "Иванова", NOW)
    found = _review_cell(typed, K, {K: removed})
    assert found is not None and found[0] == ""


def test_rework_keeps_lateness_and_reminders_select_rework_by_review_state() -> None:
    from datetime import date

    from sync.consolidate import row_key
    from sync.review import ReviewPlan, RowReview
    from sync.service.mail import due_items, rework_items
    from sync.status import is_overdue, rework_control
    from tests.fixtures import SPEC, ctl, item, report, row

    late = rework_control(ctl("overdue"), SPEC)
    assert late.key == ControlKey.REWORK and is_overdue(late)
    assert not is_overdue(rework_control(ctl("on_time"), SPEC))
    today = date(2026, 12, 1)
    sent_back = row(item("1. Раздел", "1", "Приказ", date(2026, 11, 1)), "overdue", 5)
    sent_back = dataclasses.replace(sent_back, control=late)
    wrong = row(item("1. Раздел", "2", "План", date(2026, 12, 20)), "error", 6)
    school = report("СОШ 1", [sent_back, wrong], id="s1")
    marked = RowReview(ReviewState.REWORK, Mark.REWORK, "нет приказа", "Иванова", NOW)
    plan = ReviewPlan({row_key("s1", r): marked for r in (sent_back, wrong)})
    assert [i.no for i in rework_items(school, plan)] == ["1", "2"]
    assert [(i.no, i.overdue) for i in due_items(school, today, 7, SPEC)] == [("1", True)]
