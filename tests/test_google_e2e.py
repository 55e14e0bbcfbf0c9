"""End to end on Google Sheets (the fake, over real HTTP, with real gspread and google-auth):
distribute -> schools type in their spreadsheets -> run -> the master and the paint, with the
exact number of requests each school costs."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date, datetime
from pathlib import Path
from typing import Any, cast

import pytest

from sync.backends.folder import FolderBackend
from sync.builders.fill import fill_workbook
from sync.builders.google.common import hex_of
from sync.consolidate import (
    OVERDUE_SHEET,
    PASSPORTS_SHEET,
    PROBLEMS_SHEET,
    ROWS_SHEET,
    SCHOOLS_SHEET,
    SUMMARY_SHEET,
)
from sync.distribute import distribute
from sync.model import Audience, CellValue
from sync.notes import NOTE_MARK
from sync.pipeline import run
from sync.plan import load_plan
from sync.reader import locate
from sync.spec import load_spec
from sync.validation import check_school
from tests.fakes.google import FakeGoogle, Fault, PersonError
from tests.fakes.google.municipality import (
    COORDINATOR,
    S1_ROWS,
    SERVICE_ACCOUNT,
    fake_google,
    google_town,
    header_columns,
    row_of,
    school_email,
    school_types,
)
from tests.fakes.google.municipality import (
    three_schools as setup,
)
from tests.fixtures import BUILT_AT, PASSPORT, TODAY, municipality

__all__ = ["fake_google"]

SPEC = load_spec()


def school_cells(fake: FakeGoogle, spreadsheet_id: str) -> dict[str, list[Any]]:
    """Every column a school types in, and its passport values."""
    letters = header_columns(fake, spreadsheet_id, SPEC)
    grid = fake.grid(spreadsheet_id, SPEC.main_sheet)
    out = {}
    for key in SPEC.keys("school"):
        c = ord(letters[key]) - 65
        out[key] = [line[c] if c < len(line) else "" for line in grid]
    out["passport"] = [line[1:] for line in fake.grid(spreadsheet_id, SPEC.passport_sheet)]
    return out


def sheets_ops(fake: FakeGoogle, mark: int, target: str) -> Counter[str]:
    return Counter(r.op for r in fake.since(mark) if r.target == target)


def table(fake: FakeGoogle, master: str, sheet: str) -> dict[str, dict[str, Any]]:
    grid = fake.grid(master, sheet)
    header = grid[0]
    return {str(line[0]): dict(zip(header, line, strict=False)) for line in grid[1:]}


def test_end_to_end(tmp_path: Path, fake_google: FakeGoogle) -> None:
    fake = fake_google
    town = setup(tmp_path, fake)
    ids = {s.id: town.spreadsheet_id(s.id) for s in town.config.all_workbooks()}
    before = {sid: school_cells(fake, sid) for sid in ids.values()}
    mark = fake.mark()
    result = run(town.config, today=TODAY, backend=town.backend())
    assert result.outcome == "ok", result.message
    assert result.counts == {"synced": 4, "unchanged": 0, "failed": 0, "locked": 0}
    assert {k: w.status for k, w in result.writes.items()} == dict.fromkeys(ids, "written")

    # Exactly one read and one write per school; one listing; the master three (and, the first
    # time, its creation and sharing on Drive).
    for school_id, sid in ids.items():
        assert sheets_ops(fake, mark, sid) == {"get": 1, "batchUpdate": 1}, school_id
    master = town.master_id()
    assert result.master == f"https://docs.google.com/spreadsheets/d/{master}/edit"
    assert sheets_ops(fake, mark, master) == {
        "get": 1,
        "batchUpdate": 2,  # the new sheets built beside the old, then the switch
        "values.batchUpdate": 1,
        "permissions.create": 2,
    }
    others = Counter(r.op for r in fake.since(mark) if r.target not in (*ids.values(), master))
    assert others == {"files.list": 1, "files.create": 1}
    assert all(r.status == 200 for r in fake.since(mark))

    # The master: the same sheets as the workbook, the numbers right, the chart there.
    plan = load_plan(town.config.plan_file, town.config.period)
    titles = [s.title for s in fake.spreadsheet(master).ordered()]
    standard = [SUMMARY_SHEET, SCHOOLS_SHEET, ROWS_SHEET, OVERDUE_SHEET, PROBLEMS_SHEET]
    assert [t for t in titles if t in (*standard, PASSPORTS_SHEET)] == [*standard, PASSPORTS_SHEET]
    schools = table(fake, master, "Школы")
    s1 = schools["МОУ СОШ № 1 с. Чара"]
    assert s1["Мероприятий"] == len(plan.for_audience(Audience.SCHOOLS))
    assert s1["Выполнено"] == 2 and s1["Ошибок"] == 0
    expected = sum(1 for i in plan.for_audience(Audience.SCHOOLS) if i.due and i.due < TODAY)
    assert schools["МОУ СОШИ № 4 с. Кюсть-Кемда"]["Просрочено"] == expected > 0
    assert schools["МОУ СОШ № 2 с. Куанда"]["Ошибок"] >= 4
    assert fake.sheet(master, "Школы").charts, "the «% выполнения» chart"
    errors = " ".join(str(v) for line in fake.grid(master, "Ошибки") for v in line)
    assert "Сделано" in errors
    # What a school typed reaches the master as text (RAW), never as a formula.
    texts = {
        cell["userEnteredValue"]["stringValue"]
        for cell in fake.sheet(master, "Мероприятия").cells.values()
        if str(cell.get("userEnteredValue", {}).get("stringValue", "")).startswith("=")
    }
    assert texts == {"=1+1", '=HYPERLINK("http://x.example","отчёт")'}
    assert not any(
        "formulaValue" in c.get("userEnteredValue", {})
        for s in fake.spreadsheet(master).sheets
        for c in s.cells.values()
    )

    # Written back: Контроль values and colours, notes on the rows' Контроль cells naming the
    # cell they are about (the school's own cells keep no note of ours).
    letters = header_columns(fake, ids["s2"], SPEC)
    rows = row_of(fake, ids["s2"])
    ctl = fake.cell(ids["s2"], SPEC.main_sheet, f"{letters['control']}{rows['3']}")
    assert ctl["userEnteredValue"] == {"stringValue": "Ошибка"}
    assert hex_of(ctl["userEnteredFormat"]["backgroundColor"]) == "F8CBAD"
    note = ctl["note"]
    assert note.startswith(NOTE_MARK) and "дат" in note.lower()
    assert f"{letters['done_on']}{rows['3']}: " in note
    assert "note" not in fake.cell(ids["s2"], SPEC.main_sheet, f"{letters['done_on']}{rows['3']}")
    ctl4 = fake.cell(ids["s2"], SPEC.main_sheet, f"{letters['control']}{rows['4']}")
    assert f"{letters['status']}{rows['4']}: " in ctl4["note"]
    done = fake.cell(ids["s1"], SPEC.main_sheet, f"{letters['control']}{rows['3']}")
    assert done["userEnteredValue"] == {"stringValue": "Выполнено"}
    assert hex_of(done["userEnteredFormat"]["backgroundColor"]) == "C6EFCE"
    # The grey plan fill, borders and the protections of the template are untouched.
    assert fake.sheet(ids["s1"], SPEC.main_sheet).protected_ranges

    # Nothing the schools typed changed.
    for sid in ids.values():
        assert school_cells(fake, sid) == before[sid]


def test_unchanged_schools_cost_nothing_beyond_the_listing(
    tmp_path: Path, fake_google: FakeGoogle
) -> None:
    fake = fake_google
    town = setup(tmp_path, fake)
    run(town.config, today=TODAY, backend=town.backend())
    fake.clock.advance(24 * 3600)
    mark = fake.mark()
    result = run(town.config, today=TODAY, backend=town.backend())
    assert result.counts["unchanged"] == 4
    assert result.writes == {}
    master = town.master_id()
    assert Counter(r.op for r in fake.since(mark) if r.target != master) == {"files.list": 1}
    # The master: its review marks read (one values.batchGet; once more just before the
    # switch, so that a mark typed meanwhile is not deleted), then rewritten.
    assert sheets_ops(fake, mark, master) == {
        "values.batchGet": 2,
        "get": 1,
        "batchUpdate": 2,
        "values.batchUpdate": 1,
    }

    # Weeks later the МОУО's February row comes due: its paint changes, and is written without
    # reading the spreadsheet again (what it shows is known from the last write).
    mark = fake.mark()
    later = run(town.config, today=date(2022, 2, 20), backend=town.backend())
    assert later.counts["unchanged"] == 4
    assert {k: w.status for k, w in later.writes.items()} == {"mouo": "written"}
    assert sheets_ops(fake, mark, town.spreadsheet_id("mouo")) == {"batchUpdate": 1}


def test_an_edit_is_read_once_and_written_only_when_its_paint_changes(
    tmp_path: Path, fake_google: FakeGoogle
) -> None:
    fake = fake_google
    town = setup(tmp_path, fake)
    run(town.config, today=TODAY, backend=town.backend())
    s1, s3 = town.spreadsheet_id("s1"), town.spreadsheet_id("s3")
    # s1 fills an executor: nothing it sees changes. s3 finishes row 3: its control turns green.
    school_types(fake, s1, SPEC, {"5": {"executor": "Петров А. С."}}, user=school_email("s1"))
    school_types(
        fake,
        s3,
        SPEC,
        {"3": {"status": "Выполнено", "done_on": "01.10.2021", "evidence": "Приказ № 7"}},
        user=school_email("s3"),
    )
    mark = fake.mark()
    result = run(town.config, today=TODAY, backend=town.backend())
    outcomes = {r.school.id: r.outcome for r in result.reports}
    assert outcomes == {"s1": "synced", "s2": "unchanged", "s3": "synced", "mouo": "unchanged"}
    assert sheets_ops(fake, mark, s1) == {"get": 1}
    assert result.writes["s1"].status == "unchanged"
    assert sheets_ops(fake, mark, s3) == {"get": 1, "batchUpdate": 1}
    letters = header_columns(fake, s3, SPEC)
    assert fake.value(s3, SPEC.main_sheet, f"{letters['control']}{row_of(fake, s3)['3']}") == (
        "Выполнено"
    )
    # The next night neither is read again: our own write does not count as a change.
    mark = fake.mark()
    again = run(town.config, today=TODAY, backend=town.backend())
    assert again.counts["unchanged"] == 4
    assert sheets_ops(fake, mark, s1) == {} and sheets_ops(fake, mark, s3) == {}


def test_google_gives_the_core_what_the_folder_gives(
    tmp_path: Path, fake_google: FakeGoogle
) -> None:
    """The same fills in a workbook and in a spreadsheet: the reader and validation agree."""
    fake = fake_google
    (tmp_path / "g").mkdir()
    (tmp_path / "f").mkdir()
    town = google_town(tmp_path / "g", fake)
    distribute(town.config, backend=town.backend(), built_at=BUILT_AT)
    folder = municipality(tmp_path / "f")
    distribute(folder, built_at=BUILT_AT)
    rows: dict[str, dict[str, CellValue]] = {
        "3": {"status": "Выполнено", "done_on": datetime(2021, 9, 20), "evidence": "Приказ № 45"},
        "4": {"status": "Не требуется", "comment": "=1+1"},
        "5": {"status": "В работе", "executor": "Иванова Н. П."},
    }
    fill_workbook(Path(folder.schools[0].source), SPEC, rows, cast(dict[str, CellValue], PASSPORT))
    typed = {
        no: {
            k: (f"{v:%d.%m.%Y}" if isinstance(v, datetime) else f"'{v}" if str(v)[:1] == "=" else v)
            for k, v in values.items()
        }
        for no, values in rows.items()
    }
    sid = town.spreadsheet_id("s1")
    school_types(fake, sid, SPEC, typed, PASSPORT, user=school_email("s1"))
    raw_google = town.backend().read(town.config.schools[0])
    raw_folder = FolderBackend.read_file(Path(folder.schools[0].source))
    plan = load_plan(folder.plan_file, folder.period)
    sheet_g, sheet_f = locate(raw_google, SPEC), locate(raw_folder, SPEC)
    assert sheet_g.columns == sheet_f.columns and sheet_g.header_row == sheet_f.header_row
    assert [r.values for r in sheet_g.rows] == [r.values for r in sheet_f.rows]
    assert sheet_g.passport == sheet_f.passport
    assert {k: v for k, v in sheet_g.meta.items() if k != "built_at"} == {
        k: v for k, v in sheet_f.meta.items() if k != "built_at"
    }
    school = town.config.schools[0]
    got_g = check_school(sheet_g, school, plan, SPEC, TODAY)
    got_f = check_school(sheet_f, folder.schools[0], plan, SPEC, TODAY)
    assert [r.control for r in got_g[0]] == [r.control for r in got_f[0]]
    assert got_g[1] == got_f[1]


def test_distribute_never_makes_a_second_spreadsheet(
    tmp_path: Path, fake_google: FakeGoogle
) -> None:
    fake = fake_google
    town = google_town(tmp_path, fake)
    distribute(town.config, backend=town.backend(), built_at=BUILT_AT)
    first = {s.id: town.spreadsheet_id(s.id) for s in town.config.all_workbooks()}
    created, kept = distribute(town.config, backend=town.backend(), built_at=BUILT_AT)
    assert not created and len(kept) == 4
    # The registry is lost: every spreadsheet is recognised in the folder, none is made again.
    town.registry_path.unlink()
    created, kept = distribute(town.config, backend=town.backend(), built_at=BUILT_AT)
    assert not created and len(kept) == 4
    assert {s.id: town.spreadsheet_id(s.id) for s in town.config.all_workbooks()} == first
    # A school replaced its spreadsheet by a copy ("Make a copy", renamed) and the registry is
    # lost again: the copy is recognised by what it says about itself.
    copy_id = fake.copy_as(school_email("s2"), first["s2"], "Наша дорожная карта (копия)")
    fake.share(copy_id, SERVICE_ACCOUNT, "writer")
    fake.trash(first["s2"], COORDINATOR)
    town.registry_path.unlink()
    created, kept = distribute(town.config, backend=town.backend(), built_at=BUILT_AT)
    assert not created
    assert town.spreadsheet_id("s2") == copy_id
    spreadsheets = [
        f
        for f in fake.in_folder(town.folder_id)
        if f.app_properties.get("roadmap_role") != "master"
    ]
    assert len(spreadsheets) == 4
    result = run(town.config, today=TODAY, backend=town.backend())
    s2 = next(r for r in result.reports if r.school.id == "s2")
    assert s2.outcome == "synced" and not [p for p in s2.problems if p.code == "wrong_school"]


def test_a_lost_answer_to_a_create_does_not_make_a_duplicate(
    tmp_path: Path, fake_google: FakeGoogle
) -> None:
    fake = fake_google
    town = google_town(tmp_path, fake)
    # Drive creates the file, but its answer is lost (a 500 after the fact).
    fake.inject(Fault(status=500, method="POST", path="/drive/v3/files", apply=True, times=1))
    created, _ = distribute(town.config, backend=town.backend(), built_at=BUILT_AT)
    assert len(created) == 4
    assert len(fake.in_folder(town.folder_id)) == 4
    registry = json.loads(town.registry_path.read_text(encoding="utf-8"))
    assert {e["status"] for e in registry["schools"].values()} == {"ready"}


def test_a_stopped_distribute_resumes_where_it_stopped(
    tmp_path: Path, fake_google: FakeGoogle
) -> None:
    fake = fake_google
    town = google_town(tmp_path, fake, google={"max_tries": 2})
    # The second school's template cannot be written: distribute stops with a Russian message.
    fake.inject(Fault(status=503, path=":batchUpdate", times=2))
    fake.inject(Fault(status=503, path=":batchUpdate", times=0))
    from sync.config import ConfigError

    with pytest.raises(ConfigError, match="не создана"):
        distribute(town.config, backend=town.backend(), built_at=BUILT_AT)
    created, kept = distribute(town.config, backend=town.backend(), built_at=BUILT_AT)
    assert len(created) == 4 and not kept  # the first one was only created, now formatted
    assert len(fake.in_folder(town.folder_id)) == 4


def test_the_school_spreadsheet_is_the_template(tmp_path: Path, fake_google: FakeGoogle) -> None:
    fake = fake_google
    town = google_town(tmp_path, fake)
    distribute(town.config, backend=town.backend(), built_at=BUILT_AT)
    sid = town.spreadsheet_id("s1")
    ss = fake.spreadsheet(sid)
    assert [s.title for s in ss.ordered()] == [
        SPEC.main_sheet,
        SPEC.passport_sheet,
        SPEC.instructions_sheet,
        SPEC.meta_sheet,
    ]
    assert ss.properties["locale"] == "ru_RU" and ss.properties["timeZone"] == "Asia/Chita"
    assert fake.sheet(sid, SPEC.meta_sheet).properties.get("hidden") is True
    meta = {m["metadataKey"]: m["metadataValue"] for m in ss.developer_metadata}
    assert meta["roadmap_sync.school_id"] == "s1"
    assert meta["roadmap_sync.template_version"] == SPEC.version
    assert dict(fake.grid(sid, SPEC.meta_sheet))["school_id"] == "s1"
    # Shared with the school and the coordinators; the folder owner sees it through the folder.
    f = fake.files[sid]
    assert {p["emailAddress"]: p["role"] for p in f.permissions} == {
        SERVICE_ACCOUNT: "owner",
        school_email("s1"): "writer",
        COORDINATOR: "writer",
        "mouo@obrazovanie.example.ru": "writer",
    }
    letters = header_columns(fake, sid, SPEC)
    r = row_of(fake, sid)["3"]
    school = school_email("s1")
    # The school fills its columns, from the dropdown; plan columns, Контроль and Отметка МОУО
    # are for the service account and the coordinators only.
    fake.type(sid, SPEC.main_sheet, {f"{letters['status']}{r}": "В работе"}, user=school)
    with pytest.raises(PersonError):
        fake.type(sid, SPEC.main_sheet, {f"{letters['status']}{r}": "Сделано"}, user=school)
    for key in ("activity", "due", "control", "review"):
        with pytest.raises(PersonError):
            fake.type(sid, SPEC.main_sheet, {f"{letters[key]}{r}": "x"}, user=school)
    fake.type(sid, SPEC.main_sheet, {f"{letters['review']}{r}": "Принято"}, user=COORDINATOR)
    with pytest.raises(PersonError):
        fake.type(sid, SPEC.passport_sheet, {"A2": "x"}, user=school)
    fake.type(sid, SPEC.passport_sheet, {"B5": "8 (30261) 4-12-34"}, user=school)
    with pytest.raises(PersonError):
        fake.type(sid, SPEC.meta_sheet, {"B2": "s2"}, user=school)
    # Own activities below the plan: the plan columns are the school's there.
    last_plan = max(row_of(fake, sid)[k] for k in row_of(fake, sid) if k.isdigit())
    fake.type(sid, SPEC.main_sheet, {f"{letters['activity']}{last_plan + 1}": "Своё"}, user=school)
    rules = fake.sheet(sid, SPEC.main_sheet).conditional_formats
    assert [hex_of(r["booleanRule"]["format"]["backgroundColor"]) for r in rules] == [
        "F8CBAD",
        "C6EFCE",
        "FFC7CE",
        "FFEB9C",
        "FFC7CE",
        "FFEB9C",
        "C6EFCE",
    ]


def test_school_notes_stay_and_ours_go_when_fixed(tmp_path: Path, fake_google: FakeGoogle) -> None:
    fake = fake_google
    town = setup(tmp_path, fake)
    s2 = town.spreadsheet_id("s2")
    letters = header_columns(fake, s2, SPEC)
    row = row_of(fake, s2)["3"]
    ref, ctl = f"{letters['done_on']}{row}", f"{letters['control']}{row}"
    fake.write_note(s2, SPEC.main_sheet, ref, "Дату уточним у директора", user=school_email("s2"))
    run(town.config, today=TODAY, backend=town.backend())
    assert fake.cell(s2, SPEC.main_sheet, ref)["note"] == "Дату уточним у директора"
    assert fake.cell(s2, SPEC.main_sheet, ctl)["note"].startswith(f"{NOTE_MARK}\n{ref}: ")
    school_types(fake, s2, SPEC, {"3": {"done_on": "01.10.2021"}}, user=school_email("s2"))
    result = run(town.config, today=TODAY, backend=town.backend())
    assert result.writes["s2"].status == "written"
    assert fake.cell(s2, SPEC.main_sheet, ref)["note"] == "Дату уточним у директора"
    assert not fake.cell(s2, SPEC.main_sheet, ctl).get("note")


def test_a_note_typed_during_our_write_is_not_lost(tmp_path: Path, fake_google: FakeGoogle) -> None:
    """The school writes a note on the very cell our note is about while our write is in
    flight: it stays, the school cannot put one on the protected Контроль cell, and the
    changed note makes the run read the spreadsheet again next time."""
    fake = fake_google
    town = setup(tmp_path, fake)
    s2 = town.spreadsheet_id("s2")
    letters = header_columns(fake, s2, SPEC)
    row = row_of(fake, s2)["3"]
    ref, ctl = f"{letters['done_on']}{row}", f"{letters['control']}{row}"
    with pytest.raises(PersonError, match="protected"):
        fake.write_note(s2, SPEC.main_sheet, ctl, "моё", user=school_email("s2"))

    def school_notes() -> None:
        fake.write_note(s2, SPEC.main_sheet, ref, "Исправим в пятницу", user=school_email("s2"))

    fake.inject(Fault(target=s2, path=":batchUpdate", action=school_notes))
    result = run(town.config, today=TODAY, backend=town.backend())
    assert result.writes["s2"].status == "changed"
    assert fake.cell(s2, SPEC.main_sheet, ref)["note"] == "Исправим в пятницу"
    assert ref in fake.cell(s2, SPEC.main_sheet, ctl)["note"]
    # Next night the spreadsheet is read again (the note changed it) and the note still stands.
    fake.clock.advance(3600)
    mark = fake.mark()
    again = run(town.config, today=TODAY, backend=town.backend())
    assert sheets_ops(fake, mark, s2)["get"] == 1
    assert next(r for r in again.reports if r.school.id == "s2").outcome in ("synced", "unchanged")
    assert fake.cell(s2, SPEC.main_sheet, ref)["note"] == "Исправим в пятницу"


def test_typing_during_our_write_is_read_next_time(tmp_path: Path, fake_google: FakeGoogle) -> None:
    fake = fake_google
    town = setup(tmp_path, fake)
    s3 = town.spreadsheet_id("s3")
    typed = {"3": {"status": "В работе", "executor": "Сидорова Е. В."}}
    fake.inject(
        Fault(
            path=":batchUpdate",
            target=s3,
            action=lambda: school_types(fake, s3, SPEC, typed, user=school_email("s3")),
        )
    )
    result = run(town.config, today=TODAY, backend=town.backend())
    assert result.writes["s3"].status == "changed"
    report = next(r for r in result.reports if r.school.id == "s3")
    assert "изменили" in report.message
    mark = fake.mark()
    again = run(town.config, today=TODAY, backend=town.backend())
    s3_report = next(r for r in again.reports if r.school.id == "s3")
    assert s3_report.outcome == "synced"
    row3 = next(r for r in s3_report.rows if r.item is not None and r.item.no == "3")
    assert row3.values["executor"] == "Сидорова Е. В."
    assert sheets_ops(fake, mark, s3)["get"] == 1


def test_rows_a_school_inserted_are_painted_where_they_are(
    tmp_path: Path, fake_google: FakeGoogle
) -> None:
    fake = fake_google
    town = setup(tmp_path, fake)
    run(town.config, today=TODAY, backend=town.backend())
    s1 = town.spreadsheet_id("s1")
    rows = row_of(fake, s1)
    fake.insert_rows(s1, SPEC.main_sheet, rows["5"], 1, user=COORDINATOR)
    run(town.config, today=TODAY, backend=town.backend())
    letters = header_columns(fake, s1, SPEC)
    moved = row_of(fake, s1)
    assert moved["5"] == rows["5"] + 1
    assert fake.value(s1, SPEC.main_sheet, f"{letters['control']}{moved['3']}") == "Выполнено"
    assert fake.value(s1, SPEC.main_sheet, f"{letters['control']}{moved['5']}") in (
        "Просрочено",
        "В срок",
        "Скоро срок",
    )


def test_the_command_line_works_on_google(tmp_path: Path, fake_google: FakeGoogle) -> None:
    """`roadmap-sync distribute` and `run` with storage "gsheets": the backend from the config."""
    from click.testing import CliRunner

    from sync.cli import main

    fake = fake_google
    town = google_town(tmp_path, fake)
    runner = CliRunner()
    done = runner.invoke(main, ["distribute", "--config", str(town.config.path)])
    assert done.exit_code == 0, done.output
    assert "Создано книг: 4" in done.output
    school_types(fake, town.spreadsheet_id("s1"), SPEC, S1_ROWS, PASSPORT, user=school_email("s1"))
    done = runner.invoke(
        main, ["run", "--config", str(town.config.path), "--today", "2022-01-10", "--json"]
    )
    assert done.exit_code == 0, done.output
    summary = json.loads(done.output)
    assert town.master_id() in json.dumps(summary, ensure_ascii=False)
