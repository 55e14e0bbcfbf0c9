"""Review marks on Google (issue 13): the master protected except «Отметка МОУО» and
«Комментарий МОУО», the coordinator's marks read back from it, and each mark with its comment
shown in the school's spreadsheet. Against the fake over real HTTP; the coordinator marks through
the Sheets API with real google-auth credentials of their own, as an add-on or a script would."""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from google.auth.transport.requests import AuthorizedSession
from google.oauth2.credentials import Credentials

from sync.backends.base import MasterReadError, Survey
from sync.backends.google.backend import APP_MARKS, GoogleBackend, RunState
from sync.builders.google.master import STAGING_PREFIX, master_protection
from sync.cells import a1
from sync.consolidate import (
    OVERDUE_SHEET,
    REVIEW_SHEET,
    ROWS_SHEET,
    MasterSheet,
    consolidate,
    row_key,
)
from sync.history import History
from sync.model import SchoolReport
from sync.notes import NOTE_MARK
from sync.paint import Paint, paint_school
from sync.pipeline import load_context, run
from sync.reader import locate
from sync.review import (
    COMMENT_HEADER,
    KEY_HEADER,
    MARK_HEADER,
    Mark,
    ReviewPlan,
    ReviewState,
    RowKey,
    RowReview,
    decode_key,
)
from sync.spec import load_spec
from sync.validation import check_school
from tests.fakes.google import FakeGoogle, Fault, PersonError
from tests.fakes.google.municipality import (
    COORDINATOR,
    GoogleTown,
    fake_google,
    fill_all,
    header_columns,
    row_of,
    school_email,
    school_types,
    town_with,
)
from tests.fakes.google.municipality import three_schools as setup
from tests.fakes.google.server import ROLE_RANK
from tests.fakes.google.sheets_model import col_letters
from tests.fixtures import TODAY

__all__ = ["fake_google"]

SPEC = load_spec()
MAIN = SPEC.main_sheet
SHEETS_SCOPE = "https://www.googleapis.com/auth/spreadsheets"


def coordinator_session(fake: FakeGoogle) -> AuthorizedSession:
    """The coordinator's own Sheets API access (OAuth, their account): real google-auth."""
    client = fake.add_oauth_client()["installed"]
    refresh = fake.sign_in(client["client_id"], COORDINATOR, [SHEETS_SCOPE])
    credentials = Credentials(  # type: ignore[no-untyped-call]
        None,
        refresh_token=refresh,
        token_uri=f"{fake.url}/token",
        client_id=client["client_id"],
        client_secret=client["client_secret"],
        scopes=[SHEETS_SCOPE],
    )
    return AuthorizedSession(credentials)


def update(
    session: AuthorizedSession,
    fake: FakeGoogle,
    sid: str,
    ref: str,
    value: Any,
    option: str = "USER_ENTERED",
) -> Any:
    """values.update of one cell of «Мероприятия», as a coordinator's script sends it."""
    rng = quote(f"'{ROWS_SHEET}'!{ref}", safe="")
    return session.put(
        f"{fake.url}/v4/spreadsheets/{sid}/values/{rng}",
        params={"valueInputOption": option},
        json={"values": [[value]]},
        timeout=10,
    )


def first_run(tmp_path: Path, fake: FakeGoogle) -> tuple[GoogleTown, str]:
    town = setup(tmp_path, fake)
    result = run(town.config, today=TODAY, backend=town.backend())
    assert result.outcome == "ok", result.message
    return town, town.master_id()


def columns(fake: FakeGoogle, master: str) -> dict[str, int]:
    """Header -> 0-based column of the master's «Мероприятия» (its header is row 1)."""
    return {str(h): c for c, h in enumerate(fake.grid(master, ROWS_SHEET)[0])}


def line_of(fake: FakeGoogle, master: str, school: str, no: str) -> int:
    """The 1-based row of a school's plan row № on «Мероприятия»."""
    grid = fake.grid(master, ROWS_SHEET)
    cols = columns(fake, master)
    for r, line in enumerate(grid[1:], start=2):
        if line[0] == school and str(line[cols["№"]]) == no:
            return r
    raise AssertionError(f"{school} {no} not in the master")


# --- the master: protected except the coordinator's two columns ----------------------------------


def test_the_master_lets_coordinators_edit_only_the_review_columns(
    tmp_path: Path, fake_google: FakeGoogle
) -> None:
    fake = fake_google
    town, master = first_run(tmp_path, fake)
    cols = columns(fake, master)
    mark_c, comment_c, key_c = cols[MARK_HEADER], cols[COMMENT_HEADER], cols[KEY_HEADER]
    assert comment_c == mark_c + 1
    rows_sheet = fake.sheet(master, ROWS_SHEET)
    n = len(fake.grid(master, ROWS_SHEET))
    [protection] = rows_sheet.protected_ranges
    assert set(protection["range"]) == {"sheetId"}  # the whole sheet
    assert protection["editors"]["users"] == [town.backend().account]
    assert [
        (u["startRowIndex"], u["endRowIndex"], u["startColumnIndex"], u["endColumnIndex"])
        for u in protection["unprotectedRanges"]
    ] == [(1, n, mark_c, comment_c + 1)]
    # The key column is hidden; the mark cells offer the template's choices, strictly.
    assert rows_sheet.col_meta[key_c]["hiddenByUser"] is True
    rule = fake.cell(master, ROWS_SHEET, f"{col_letters(mark_c)}2")["dataValidation"]
    assert [v["userEnteredValue"] for v in rule["condition"]["values"]] == [
        "Принято",
        "На доработке",
    ]
    assert rule["strict"] is True
    assert "dataValidation" not in fake.cell(master, ROWS_SHEET, f"{col_letters(comment_c)}2")
    # Every other sheet is protected whole, nothing left open.
    for sheet in fake.spreadsheet(master).ordered():
        if sheet.properties["title"] == ROWS_SHEET:
            continue
        [p] = sheet.protected_ranges
        assert set(p["range"]) == {"sheetId"} and not p.get("unprotectedRanges")

    # The coordinator (a writer of the master, not an editor of the protection).
    session = coordinator_session(fake)
    r = line_of(fake, master, "МОУ СОШ № 1 с. Чара", "3")
    assert update(session, fake, master, f"{col_letters(mark_c)}{r}", "Принято").ok
    assert update(session, fake, master, f"{col_letters(comment_c)}{r}", "Проверено").ok
    refused = update(session, fake, master, f"{col_letters(cols['Статус'])}{r}", "Выполнено")
    assert refused.status_code == 400
    assert "protected cell" in refused.json()["error"]["message"]
    refused = update(session, fake, master, f"{col_letters(key_c)}{r}", "мусор")
    assert refused.status_code == 400
    # Nor the header, nor another sheet; in the browser the same (and the dropdown holds).
    header = update(session, fake, master, f"{col_letters(mark_c)}1", "x")
    assert header.status_code == 400
    with pytest.raises(PersonError, match="protected"):
        fake.type(master, OVERDUE_SHEET, {"A2": "x"}, user=COORDINATOR)
    with pytest.raises(PersonError, match="list"):
        fake.type(master, ROWS_SHEET, {f"{col_letters(mark_c)}{r}": "Ок"}, user=COORDINATOR)
    fake.type(master, ROWS_SHEET, {f"{col_letters(mark_c)}{r}": "На доработке"}, user=COORDINATOR)


def test_protections_are_replaced_with_the_sheets_every_run(
    tmp_path: Path, fake_google: FakeGoogle
) -> None:
    fake = fake_google
    town, master = first_run(tmp_path, fake)
    first = {
        s.properties["title"]: [p["protectedRangeId"] for p in s.protected_ranges]
        for s in fake.spreadsheet(master).ordered()
    }
    for _ in range(2):
        fake.clock.advance(3600)
        assert run(town.config, today=TODAY, backend=town.backend()).outcome == "ok"
    sheets = fake.spreadsheet(master).ordered()
    assert [s.properties["title"] for s in sheets] == list(first)
    for s in sheets:
        assert len(s.protected_ranges) == 1  # nothing piles up
        assert s.protected_ranges[0]["protectedRangeId"] not in first[s.properties["title"]]
    # The coordinator can still mark on the rewritten sheet (the open range moved with it).
    cols = columns(fake, master)
    r = line_of(fake, master, "МОУ СОШ № 1 с. Чара", "3")
    assert update(
        coordinator_session(fake), fake, master, f"{col_letters(cols[MARK_HEADER])}{r}", "Принято"
    ).ok


def test_a_new_master_is_shared_with_the_coordinators_as_writers(
    tmp_path: Path, fake_google: FakeGoogle
) -> None:
    fake = fake_google
    second = "deputy@obrazovanie.example.ru"
    town = setup(tmp_path, fake, google={"coordinators": [COORDINATOR, second]})
    sid = town.backend()._create_master()
    assert fake.role(sid, second) == ROLE_RANK["writer"]  # they type their marks in it


def test_a_master_from_before_the_marks_is_opened_to_its_coordinators_once(
    tmp_path: Path, fake_google: FakeGoogle
) -> None:
    fake = fake_google
    second = "deputy@obrazovanie.example.ru"
    town = setup(tmp_path, fake, google={"coordinators": [COORDINATOR, second]})
    assert run(town.config, today=TODAY, backend=town.backend()).outcome == "ok"
    master = town.master_id()
    # As an older version left it: the coordinators could only read.
    f = fake.files[master]
    f.app_properties.pop(APP_MARKS)
    for p in f.permissions:
        if p.get("emailAddress") == second:
            p["role"] = "reader"
    assert fake.role(master, second) == ROLE_RANK["reader"]
    fake.clock.advance(3600)
    assert run(town.config, today=TODAY, backend=town.backend()).outcome == "ok"
    assert fake.role(master, second) == ROLE_RANK["writer"]
    assert f.app_properties[APP_MARKS] == "1"
    # Once: the next run asks Drive nothing about it.
    fake.clock.advance(3600)
    mark = fake.mark()
    assert run(town.config, today=TODAY, backend=town.backend()).outcome == "ok"
    assert not [r for r in fake.since(mark) if r.op in ("permissions.create", "files.update")]


def test_a_mark_typed_while_the_run_builds_the_master_is_not_deleted(
    tmp_path: Path, fake_google: FakeGoogle
) -> None:
    fake = fake_google
    town, master = first_run(tmp_path, fake)
    cols = columns(fake, master)
    r3 = line_of(fake, master, "МОУ СОШ № 1 с. Чара", "3")
    cell = f"{col_letters(cols[MARK_HEADER])}{r3}"
    fake.clock.advance(600)
    # The run has read the marks and builds the new sheets; the coordinator marks meanwhile.
    typed = fake.inject(
        Fault(
            target=master,
            path=":batchUpdate",
            action=lambda: fake.type(master, ROWS_SHEET, {cell: "Принято"}, user=COORDINATOR),
        )
    )
    second = run(town.config, today=TODAY, backend=town.backend())
    assert typed.hits == 1
    assert second.outcome == "master_failed"
    assert "изменились во время синхронизации" in second.message
    assert not second.review.new_marks
    sheets = [s.properties["title"] for s in fake.spreadsheet(master).ordered()]
    assert not [t for t in sheets if t.startswith(STAGING_PREFIX)]  # the new sheets dropped
    assert fake.grid(master, ROWS_SHEET)[r3 - 1][cols[MARK_HEADER]] == "Принято"
    fake.clock.advance(600)
    third = run(town.config, today=TODAY, backend=town.backend())
    assert third.outcome == "ok", third.message
    assert [(m.key.school_id, m.mark) for m in third.review.new_marks] == [("s1", Mark.ACCEPTED)]
    again = line_of(fake, master, "МОУ СОШ № 1 с. Чара", "3")
    assert fake.grid(master, ROWS_SHEET)[again - 1][cols[MARK_HEADER]] == "Принято"


# --- read_marks ------------------------------------------------------------------------------


def test_read_marks_reads_what_the_coordinator_typed_with_its_key(
    tmp_path: Path, fake_google: FakeGoogle
) -> None:
    fake = fake_google
    town, master = first_run(tmp_path, fake)
    cols = columns(fake, master)
    grid = fake.grid(master, ROWS_SHEET)
    r3 = line_of(fake, master, "МОУ СОШ № 1 с. Чара", "3")
    r4 = line_of(fake, master, "МОУ СОШ № 1 с. Чара", "4")
    m, c = col_letters(cols[MARK_HEADER]), col_letters(cols[COMMENT_HEADER])
    session = coordinator_session(fake)
    fake.clock.advance(600)
    assert update(session, fake, master, f"{m}{r3}", "Принято").ok
    assert update(session, fake, master, f"{m}{r4}", "На доработке").ok
    # A comment that looks like a formula, sent as a script would (RAW keeps it text).
    assert update(session, fake, master, f"{c}{r4}", "=исправьте дату", "RAW").ok
    # A value the dropdown would refuse in the browser still gets in through the API.
    r5 = line_of(fake, master, "МОУ СОШ № 1 с. Чара", "5")
    assert update(session, fake, master, f"{m}{r5}", "ок").ok

    backend = town.backend()
    backend.survey(town.config.all_workbooks())
    mark = fake.mark()
    marks = backend.read_marks()
    ops = [rec.op for rec in fake.since(mark)]
    assert ops == ["values.batchGet"]  # one request, whatever the size (who: the listing)
    by_line = {m.key: m for m in marks.marks}
    assert len(marks.marks) == len(grid) - 1  # every line of every school, with its key
    key3, digest3 = decode_key(grid[r3 - 1][cols[KEY_HEADER]]) or (None, "")
    assert key3 == RowKey("s1", key3.section, "3") if key3 else False
    got = by_line[key3]
    assert (got.mark, got.comment, got.raw_mark, got.shown_digest) == (
        Mark.ACCEPTED,
        "",
        "",
        digest3,
    )
    key4, _ = decode_key(grid[r4 - 1][cols[KEY_HEADER]]) or (None, "")
    assert key4 is not None
    assert (by_line[key4].mark, by_line[key4].comment) == (Mark.REWORK, "=исправьте дату")
    key5, _ = decode_key(grid[r5 - 1][cols[KEY_HEADER]]) or (None, "")
    assert key5 is not None
    assert (by_line[key5].mark, by_line[key5].raw_mark) == (None, "ок")
    # Who and when: Drive's last modifying user and time of the master.
    assert marks.by == COORDINATOR
    assert marks.at is not None and marks.at.utcoffset() is not None
    assert marks.at.timestamp() == pytest.approx(fake.clock.time(), abs=5)
    assert marks.source


def test_read_marks_without_a_master_asks_nothing(tmp_path: Path, fake_google: FakeGoogle) -> None:
    fake = fake_google
    town = setup(tmp_path, fake)
    backend = town.backend()
    mark = fake.mark()
    assert backend.read_marks().marks == ()
    assert fake.since(mark) == []


def test_read_marks_of_a_trashed_or_older_master_is_empty(
    tmp_path: Path, fake_google: FakeGoogle
) -> None:
    fake = fake_google
    town, master = first_run(tmp_path, fake)
    # A master from before the review columns (or one the coordinator renamed the sheet of).
    fake.rename_sheet(master, ROWS_SHEET, "Мероприятия (старые)", user=COORDINATOR)
    renamed = town.backend().read_marks()
    assert renamed.marks == () and "нет листа «Мероприятия»" in renamed.problems[0]
    fake.trash(master, COORDINATOR)
    assert town.backend().read_marks().marks == ()


def test_an_unreadable_master_stops_its_rewrite_and_keeps_the_marks(
    tmp_path: Path, fake_google: FakeGoogle
) -> None:
    fake = fake_google
    town, master = first_run(tmp_path, fake)
    backend = town.backend()
    down = fake.inject(Fault(status=503, target=master, path="values:batchGet", times=100))
    with pytest.raises(MasterReadError) as caught:
        backend.read_marks()
    text = str(caught.value)
    assert "Отметки МОУО" in text and "не перезаписан" in text and master in text
    # No access any more (the master moved to another drive): the same, in Russian.
    down.times = 0
    fake.inject(Fault(status=403, target=master, path="values:batchGet", times=100))
    with pytest.raises(MasterReadError, match="не прочитаны"):
        town.backend().read_marks()


def test_read_marks_waits_out_google_s_quota(tmp_path: Path, fake_google: FakeGoogle) -> None:
    fake = fake_google
    town, master = first_run(tmp_path, fake)
    cols = columns(fake, master)
    r = line_of(fake, master, "МОУ СОШ № 1 с. Чара", "3")
    fake.type(
        master, ROWS_SHEET, {f"{col_letters(cols[MARK_HEADER])}{r}": "Принято"}, user=COORDINATOR
    )
    busy = fake.inject(Fault(status=429, target=master, path="values:batchGet", times=2))
    start = fake.clock.time()
    marks = town.backend().read_marks()
    assert [m.mark for m in marks.marks if m.mark is not None] == [Mark.ACCEPTED]
    assert fake.clock.time() > start  # it waited (on the virtual clock) and tried again
    assert busy.hits == 2 and busy.times == 0


# --- the school's spreadsheet: the mark, and the comment as our note ----------------------------


def school_paint(town: GoogleTown, backend: GoogleBackend, school_id: str) -> tuple[Paint, str]:
    """The nightly paint of a school, read through the backend, and the read's fingerprint."""
    spec, plan = load_context(town.config)
    school = next(s for s in town.config.all_workbooks() if s.id == school_id)
    backend.survey(town.config.all_workbooks())
    raw = backend.read(school)
    sheet = locate(raw, spec)
    rows, problems = check_school(sheet, school, plan, spec, TODAY, town.config.soon_days)
    paint = paint_school(SchoolReport(school, rows, dict(sheet.passport), problems), sheet, spec)
    review_col = sheet.columns["review"]
    return dataclasses.replace(
        paint, review_col=review_col, review_header=MARK_HEADER
    ), raw.fingerprint


def test_write_back_shows_the_mark_and_the_comment_note(
    tmp_path: Path, fake_google: FakeGoogle
) -> None:
    fake = fake_google
    town, _ = first_run(tmp_path, fake)
    s1 = town.spreadsheet_id("s1")
    school = next(s for s in town.config.schools if s.id == "s1")
    rows = row_of(fake, s1)
    r3, r4 = rows["3"], rows["4"]
    own = a1(r4, SPEC.index("comment"))
    # The school's own note on its row stays whatever we write.
    fake.write_note(s1, MAIN, own, "Наша заметка", user=school_email("s1"))
    backend = town.backend()
    paint, fingerprint = school_paint(town, backend, "s1")
    col = paint.review_col
    assert col is not None
    comment = "=СУММ(1;2) — приложите приказ"
    paint = dataclasses.replace(
        paint,
        reviews=((r3, "Принято"), (r4, "На доработке")),
        notes={**paint.notes, (MAIN, a1(r4, col)): f"Комментарий МОУО: {comment}"},
    )
    mark = fake.mark()
    result = backend.write_back(school, paint, fingerprint)
    assert result.status == "written", result.message
    assert [rec.op for rec in fake.since(mark)] == ["batchUpdate"]  # with Контроль, at once
    cell3 = fake.cell(s1, MAIN, a1(r3, col))
    cell4 = fake.cell(s1, MAIN, a1(r4, col))
    assert cell3["userEnteredValue"] == {"stringValue": "Принято"}
    assert cell4["userEnteredValue"] == {"stringValue": "На доработке"}
    assert cell4["note"] == f"{NOTE_MARK}\nКомментарий МОУО: {comment}"
    assert fake.cell(s1, MAIN, own)["note"] == "Наша заметка"
    # The same paint again: the school already sees it, nothing is sent.
    mark = fake.mark()
    assert backend.write_back(school, paint, result.fingerprint).status == "unchanged"
    assert [rec.op for rec in fake.since(mark) if rec.target == s1] == []
    # The mark taken back: the cell cleared, our note gone; the school's note stays.
    cleared = dataclasses.replace(
        paint, reviews=((r3, "Принято"), (r4, "")), notes=dict(paint_school_notes(paint, r4, col))
    )
    assert backend.write_back(school, cleared, result.fingerprint).status == "written"
    assert "userEnteredValue" not in fake.cell(s1, MAIN, a1(r4, col))
    assert not fake.cell(s1, MAIN, a1(r4, col)).get("note")
    assert fake.cell(s1, MAIN, own)["note"] == "Наша заметка"
    assert fake.cell(s1, MAIN, a1(r3, col))["userEnteredValue"] == {"stringValue": "Принято"}


def paint_school_notes(paint: Paint, row: int, col: int) -> dict[tuple[str, str], str]:
    return {k: v for k, v in paint.notes.items() if k != (MAIN, a1(row, col))}


def test_a_review_column_that_is_not_ours_is_not_written(
    tmp_path: Path, fake_google: FakeGoogle
) -> None:
    fake = fake_google
    town, _ = first_run(tmp_path, fake)
    s1 = town.spreadsheet_id("s1")
    school = next(s for s in town.config.schools if s.id == "s1")
    r3 = row_of(fake, s1)["3"]
    backend = town.backend()
    paint, fingerprint = school_paint(town, backend, "s1")
    assert paint.review_col is not None
    # The paint names the school's «Комментарий» column: its header is not «Отметка МОУО».
    wrong = SPEC.index("comment")
    before = fake.cell(s1, MAIN, a1(r3, wrong)).get("userEnteredValue")
    paint = dataclasses.replace(paint, review_col=wrong, reviews=((r3, "Принято"),))
    backend.write_back(school, paint, fingerprint)
    assert fake.cell(s1, MAIN, a1(r3, wrong)).get("userEnteredValue") == before


def test_the_master_shows_marks_again_and_a_formula_looking_comment_stays_text(
    tmp_path: Path, fake_google: FakeGoogle
) -> None:
    fake = fake_google
    town = setup(tmp_path, fake)
    result = run(town.config, today=TODAY, backend=town.backend())
    spec, plan = load_context(town.config)
    report = next(r for r in result.reports if r.school.id == "s1")
    row = next(r for r in report.rows if r.item is not None and r.item.no == "4")
    key = row_key("s1", row)
    review = ReviewPlan(rows={key: RowReview(ReviewState.REWORK, Mark.REWORK, "=1+1 и ещё раз")})
    master = consolidate(result.reports, plan, spec, TODAY, "Тестовый округ", review=review)
    backend = town.backend()
    backend.write_master(master)
    sid = town.master_id()
    cols = columns(fake, sid)
    r = line_of(fake, sid, "МОУ СОШ № 1 с. Чара", "4")
    cell = fake.cell(sid, ROWS_SHEET, f"{col_letters(cols[COMMENT_HEADER])}{r}")
    assert cell["userEnteredValue"] == {"stringValue": "=1+1 и ещё раз"}
    mark = fake.cell(sid, ROWS_SHEET, f"{col_letters(cols[MARK_HEADER])}{r}")
    assert mark["userEnteredValue"] == {"stringValue": "На доработке"}
    # And it reads back as it was shown: the same key, the same mark and comment.
    [again] = [m for m in backend.read_marks().marks if m.key == key]
    assert (again.mark, again.comment) == (Mark.REWORK, "=1+1 и ещё раз")


# --- the whole loop through run(), as on the folder path (tests/test_review_folder.py) ------------

S1 = "МОУ СОШ № 1 с. Чара"


def mark_master(
    fake: FakeGoogle, master: str, marks: dict[tuple[str, str], dict[str, str]]
) -> None:
    """The coordinator types marks and comments into the Google master through the API."""
    session = coordinator_session(fake)
    cols = columns(fake, master)
    for (school, no), typed in marks.items():
        r = line_of(fake, master, school, no)
        for header_text, value in typed.items():
            ref = f"{col_letters(cols[header_text])}{r}"
            assert update(session, fake, master, ref, value).ok


def master_line(fake: FakeGoogle, master: str, school: str, no: str) -> dict[str, Any]:
    grid = fake.grid(master, ROWS_SHEET)
    return dict(zip(grid[0], grid[line_of(fake, master, school, no) - 1], strict=False))


def school_cell(fake: FakeGoogle, sid: str, no: str, key: str) -> tuple[Any, str]:
    """A school spreadsheet's cell by its row's № and column key: the value and its note."""
    letters = header_columns(fake, sid, SPEC)
    cell = fake.cell(sid, MAIN, f"{letters[key]}{row_of(fake, sid)[no]}")
    value = fake.value(sid, MAIN, f"{letters[key]}{row_of(fake, sid)[no]}")
    return value, str(cell.get("note", ""))


def test_a_mark_in_the_google_master_reaches_the_school_the_new_master_and_the_history(
    tmp_path: Path, fake_google: FakeGoogle
) -> None:
    fake = fake_google
    town, master = first_run(tmp_path, fake)
    fake.clock.advance(3600)
    mark_master(
        fake,
        master,
        {
            (S1, "3"): {MARK_HEADER: "принято"},
            (S1, "4"): {MARK_HEADER: "На доработке", COMMENT_HEADER: "=нет приказа"},
        },
    )
    second = run(town.config, today=TODAY, backend=town.backend())
    assert second.outcome == "ok" and not second.review.problems, second.review.problems
    assert second.writes["s1"].status == "written"
    s1 = town.spreadsheet_id("s1")
    value, note = school_cell(fake, s1, "3", "review")
    assert value == "Принято" and COORDINATOR in note
    value, note = school_cell(fake, s1, "4", "review")
    assert value == "На доработке" and "Комментарий МОУО: =нет приказа" in note
    assert school_cell(fake, s1, "4", "control")[0] == "На доработке"
    assert school_cell(fake, s1, "3", "control")[0] == "Выполнено"
    # The new master shows them again, with where each row stands; the comment stays text.
    line = master_line(fake, master, S1, "4")
    assert (line[MARK_HEADER], line[COMMENT_HEADER], line["Проверка"]) == (
        "На доработке",
        "=нет приказа",
        "На доработке",
    )
    assert master_line(fake, master, S1, "3")["Проверка"] == "Принято"
    with History.open(town.config.history_path) as h:
        trail = h.review_trail("s1")
    assert [(m.key.no, m.mark, m.by, m.source) for m in trail] == [
        ("3", Mark.ACCEPTED, COORDINATOR, "google"),
        ("4", Mark.REWORK, COORDINATOR, "google"),
    ]
    # Nothing new next time: nothing recorded, nothing written into s1.
    fake.clock.advance(3600)
    third = run(town.config, today=TODAY, backend=town.backend())
    assert not third.review.new_marks and "s1" not in third.writes
    assert master_line(fake, master, S1, "4")[MARK_HEADER] == "На доработке"


def test_a_school_that_changes_marked_rows_goes_back_on_review(
    tmp_path: Path, fake_google: FakeGoogle
) -> None:
    fake = fake_google
    town, master = first_run(tmp_path, fake)
    mark_master(
        fake,
        master,
        {(S1, "3"): {MARK_HEADER: "Принято"}, (S1, "4"): {MARK_HEADER: "На доработке"}},
    )
    run(town.config, today=TODAY, backend=town.backend())
    s1 = town.spreadsheet_id("s1")
    fake.clock.advance(3600)
    school_types(
        fake,
        s1,
        SPEC,
        {"3": {"evidence": "Приказ № 46"}, "4": {"evidence": "https://school1.example/a.pdf"}},
        user=school_email("s1"),
    )
    third = run(town.config, today=TODAY, backend=town.backend())
    assert not third.review.new_marks
    assert master_line(fake, master, S1, "3")["Проверка"] == "Изменено после проверки"
    assert master_line(fake, master, S1, "4")["Проверка"] == "Исправлено, ждёт проверки"
    value, note = school_cell(fake, s1, "4", "review")
    assert value == "На доработке" and "Исправлено, ждёт проверки" in note
    todo = fake.grid(master, REVIEW_SHEET)
    assert sum(1 for line in todo[1:] if line and line[0] == S1) >= 2


def test_a_mark_typed_in_the_school_spreadsheet_by_the_coordinator(
    tmp_path: Path, fake_google: FakeGoogle
) -> None:
    fake = fake_google
    town, master = first_run(tmp_path, fake)
    s2 = town.spreadsheet_id("s2")
    letters = header_columns(fake, s2, SPEC)
    ref = f"{letters['review']}{row_of(fake, s2)['3']}"
    with pytest.raises(PersonError, match="protected"):  # the school cannot mark itself
        fake.type(s2, MAIN, {ref: "Принято"}, user=school_email("s2"))
    fake.clock.advance(3600)
    fake.type(s2, MAIN, {ref: "На доработке"}, user=COORDINATOR)
    second = run(town.config, today=TODAY, backend=town.backend())
    assert [(m.key.no, m.mark, m.source) for m in second.review.new_marks] == [
        ("3", Mark.REWORK, "workbook")
    ]
    assert master_line(fake, master, "МОУ СОШ № 2 с. Куанда", "3")[MARK_HEADER] == "На доработке"


def test_an_unreadable_google_master_is_not_rewritten_and_its_marks_wait(
    tmp_path: Path, fake_google: FakeGoogle
) -> None:
    fake = fake_google
    town, master = first_run(tmp_path, fake)
    mark_master(fake, master, {(S1, "3"): {MARK_HEADER: "Принято"}})
    before = {
        s.properties["title"]: fake.grid(master, s.properties["title"])
        for s in fake.spreadsheet(master).ordered()
    }
    down = fake.inject(Fault(status=503, target=master, path="values:batchGet", times=1000))
    fake.clock.advance(3600)
    mark = fake.mark()
    failed = run(town.config, today=TODAY, backend=town.backend())
    assert failed.outcome == "master_failed"
    assert "не перезаписан" in failed.message or "не записан" in failed.message
    assert not [r for r in fake.since(mark) if r.target == master and r.method == "POST"]
    after = {
        s.properties["title"]: fake.grid(master, s.properties["title"])
        for s in fake.spreadsheet(master).ordered()
    }
    assert after == before  # the coordinator's mark is still there
    down.times = 0
    fake.clock.advance(3600)
    again = run(town.config, today=TODAY, backend=town.backend())
    assert again.outcome == "ok"
    assert [(m.key.no, m.mark) for m in again.review.new_marks] == [("3", Mark.ACCEPTED)]
    assert school_cell(fake, town.spreadsheet_id("s1"), "3", "review")[0] == "Принято"


def test_master_protection_of_an_empty_sheet_and_of_a_plain_one() -> None:
    """Pure: no data rows leave nothing open and set no dropdown; a sheet without editable
    columns is protected whole; hidden columns are hidden either way."""
    empty = MasterSheet(ROWS_SHEET, ["Школа", MARK_HEADER, KEY_HEADER], [], editable={1: ("А",)})
    empty.hidden_columns = (2,)
    requests = master_protection(empty, 7, 1, ["sa@example"])
    kinds = [next(iter(r)) for r in requests]
    assert kinds == ["updateDimensionProperties", "addProtectedRange"]
    protected = requests[-1]["addProtectedRange"]["protectedRange"]
    assert "unprotectedRanges" not in protected and protected["editors"]["users"] == ["sa@example"]
    plain = MasterSheet(OVERDUE_SHEET, ["Школа"], [["s1"], ["s2"]])
    [only] = master_protection(plain, 8, 3, ["sa@example"])
    assert only["addProtectedRange"]["protectedRange"]["range"] == {"sheetId": 8}
    # Two editable columns apart: two open ranges; the dropdown only where there are choices.
    apart = MasterSheet(ROWS_SHEET, ["a", "b", "c", "d"], [["1"] * 4], editable={1: ("x",), 3: ()})
    requests = master_protection(apart, 9, 2, [])
    protected = requests[-1]["addProtectedRange"]["protectedRange"]
    assert [
        (u["startColumnIndex"], u["endColumnIndex"]) for u in protected["unprotectedRanges"]
    ] == [
        (1, 2),
        (3, 4),
    ]
    assert [next(iter(r)) for r in requests].count("setDataValidation") == 1


def test_reading_the_marks_stays_within_the_run_s_quota_budget(
    tmp_path: Path, fake_google: FakeGoogle
) -> None:
    fake = fake_google
    town = town_with(tmp_path, fake, 12, reads_per_minute=8, writes_per_minute=8)
    fake.quotas.update(read=10, write=10)  # Google's quota; our budget stays below it
    assert run(town.config, today=TODAY, backend=town.backend()).outcome == "ok"
    fill_all(town)
    fake.clock.advance(3600)
    mark = fake.mark()
    result = run(town.config, today=TODAY, backend=town.backend())
    assert result.outcome == "ok"
    seen = fake.since(mark)
    assert not [r for r in seen if r.status == 429]
    reads = [r.op for r in seen if r.bucket == "read"]
    # Every school once, the master's marks twice (one values.batchGet at the start, one just
    # before the switch: a mark typed meanwhile must not be deleted), the master's get once.
    assert Counter(reads) == {"get": 12 + 1, "values.batchGet": 2}


def test_marks_in_an_unconfirmed_google_column_are_not_reported_as_shown() -> None:
    from sync.builders.google.paint import review_rows
    from sync.paint import Shown

    paint = Paint("Дорожная карта", 9, 1, (), {}, review_col=10, reviews=((3, "Принято"),))
    assert review_rows(paint, Shown("Дорожная карта", 9, review_col=10)) == (3,)
    assert review_rows(paint, Shown("Дорожная карта", 9, review_col=None)) == ()
    assert review_rows(paint, Shown("Дорожная карта", 9, review_col=11)) == ()


def test_survey_returns_the_run_it_starts_and_its_state(
    tmp_path: Path, fake_google: FakeGoogle
) -> None:
    """Per-run state is explicit: a survey hands back the run's state, which that run's reads
    fill; the next survey starts a fresh one and leaves the first as it was."""
    fake = fake_google
    town, _ = first_run(tmp_path, fake)
    backend = town.backend()
    schools = town.config.all_workbooks()
    first = backend.survey(schools)
    assert isinstance(first, Survey) and isinstance(first.run, RunState)
    assert set(first) == {s.id for s in schools} and first.get("s1", None) is not None
    assert first["s1"].exists and first.get("nobody") is None  # a Mapping, as a dict reads
    assert first.run.listing is not None and set(first.run.surveyed) == set(first)
    school = next(s for s in schools if s.id == "s1")
    mark = fake.mark()
    backend.read(school)
    assert "s1" in first.run.reads  # the read waits in this run's state for its write back
    assert [r.op for r in fake.since(mark) if r.op.startswith("files.")] == []  # listed once

    second = backend.survey(schools)
    assert isinstance(second.run, RunState) and second.run is not first.run
    assert second.run.reads == {} and "s1" in first.run.reads
    backend.read(school)
    assert "s1" in second.run.reads
