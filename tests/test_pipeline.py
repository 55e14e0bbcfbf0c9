"""End to end on a folder of workbooks: distribute -> schools type -> run -> master and paint."""

from __future__ import annotations

import hashlib
import os
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from openpyxl import load_workbook

from sync.builders.fill import fill_workbook
from sync.history import History
from sync.model import Audience
from sync.pipeline import run
from sync.plan import load_plan
from sync.spec import load_spec
from tests.fixtures import TODAY, setup, sheet_rows

SPEC = load_spec()


def school_cells(path: str) -> dict[tuple[int, int], object]:
    """Every cell a school may type in, with its value."""
    wb = load_workbook(path)
    ws = wb[SPEC.main_sheet]
    keys = SPEC.keys("school")
    cols = [SPEC.index(k) for k in keys]
    out = {(r, c): ws.cell(r, c).value for r in range(1, ws.max_row + 1) for c in cols}
    ps = wb[SPEC.passport_sheet]
    out.update({(-r, 2): ps.cell(r, 2).value for r in range(1, ps.max_row + 1)})
    return out


def test_end_to_end(tmp_path: Path) -> None:
    config = setup(tmp_path)
    before = {s.id: school_cells(s.source) for s in config.schools}
    result = run(config, today=TODAY)
    assert result.outcome == "ok"
    assert result.counts == {"synced": 4, "unchanged": 0, "failed": 0, "locked": 0}
    plan = load_plan(config.plan_file, config.period)
    n_items = len(plan.for_audience(Audience.SCHOOLS))

    # The master's numbers.
    master = result.master
    assert Path(master) == config.master_path
    schools = {r[0]: r for r in sheet_rows(master, "Школы")[1:]}
    header = sheet_rows(master, "Школы")[0]
    col = {h: i for i, h in enumerate(header)}
    s1 = schools["МОУ СОШ № 1 с. Чара"]
    assert s1[col["Мероприятий"]] == n_items
    assert s1[col["Выполнено"]] == 2
    assert s1[col["Ошибок"]] == 0
    overdue_s3 = schools["МОУ СОШИ № 4 с. Кюсть-Кемда"][col["Просрочено"]]
    # Every plan row of s3 with a due date before 10.01.2022 is overdue.
    expected = sum(1 for i in plan.for_audience(Audience.SCHOOLS) if i.due and i.due < TODAY)
    assert overdue_s3 == expected > 0
    s2 = schools["МОУ СОШ № 2 с. Куанда"]
    assert s2[col["Ошибок"]] >= 4  # no date, unknown status, no reason, empty phone

    errors = sheet_rows(master, "Ошибки")
    codes_text = " ".join(str(c) for r in errors for c in r)
    assert "Сделано" in codes_text
    # Whatever a school typed reaches the master as text, never as a formula.
    wb = load_workbook(master)
    texts = [
        c
        for row in wb["Мероприятия"].iter_rows()
        for c in row
        if isinstance(c.value, str) and c.value.startswith("=")
    ]
    assert {c.value for c in texts} == {"=1+1", '=HYPERLINK("http://x.example","отчёт")'}
    assert all(c.data_type == "s" for c in texts)

    # Written back: control values and colours; notes on the problem cells.
    ws = load_workbook(config.schools[1].source)[SPEC.main_sheet]
    ctl = SPEC.index("control")
    row_of = {str(ws.cell(r, 1).value): r for r in range(2, ws.max_row + 1)}
    assert ws.cell(row_of["3"], ctl).value == "Ошибка"
    assert ws.cell(row_of["3"], ctl).fill.fgColor.rgb.endswith("F8CBAD")
    note = ws.cell(row_of["3"], SPEC.index("done_on")).comment
    assert note is not None and "дат" in note.text.lower()
    assert ws.cell(row_of["4"], SPEC.index("status")).comment is not None
    ws1 = load_workbook(config.schools[0].source)[SPEC.main_sheet]
    assert ws1.cell(row_of["3"], ctl).value == "Выполнено"
    assert ws1.cell(row_of["5"], ctl).value in ("В срок", "Просрочено", "Скоро срок")
    assert ws1.protection.sheet  # protection survives the write-back

    # Nothing the schools typed changed; the previous versions are in backups/.
    for s in config.schools:
        assert school_cells(s.source) == before[s.id], s.id
        assert list((config.backups_dir / s.id).glob("*.xlsx"))


def test_second_run_reads_and_writes_nothing_for_unchanged_schools(tmp_path: Path) -> None:
    config = setup(tmp_path)
    run(config, today=TODAY)
    stamps = {s.id: os.stat(s.source).st_mtime_ns for s in config.schools}
    result = run(config, today=TODAY)
    assert result.counts["unchanged"] == 4
    assert result.writes == {}
    assert {s.id: os.stat(s.source).st_mtime_ns for s in config.schools} == stamps
    # Weeks later the МОУО's February row comes due: only that workbook's paint is written again.
    later = run(config, today=date(2022, 2, 20))
    assert later.counts["unchanged"] == 4
    assert {k: w.status for k, w in later.writes.items()} == {"mouo": "written"}


def test_a_broken_school_does_not_stop_the_others_and_keeps_its_last_snapshot(
    tmp_path: Path,
) -> None:
    config = setup(tmp_path)
    run(config, today=TODAY)
    broken = Path(config.schools[0].source)
    good = broken.read_bytes()
    broken.write_bytes(b"PK\x03\x04 this is not a workbook")
    result = run(config, today=TODAY)
    by_id = {r.school.id: r for r in result.reports}
    assert by_id["s1"].outcome == "failed"
    assert "не является книгой Excel" in by_id["s1"].message or "повреждён" in by_id["s1"].message
    assert by_id["s2"].outcome in ("synced", "unchanged")
    # Its last good snapshot still counts in the master.
    schools = {r[0]: r for r in sheet_rows(result.master, "Школы")[1:]}
    header = sheet_rows(result.master, "Школы")[0]
    assert schools["МОУ СОШ № 1 с. Чара"][header.index("Выполнено")] == 2
    assert broken.read_bytes() != good  # the broken file was not touched or "repaired"


def test_an_open_workbook_is_not_written_and_is_retried(tmp_path: Path) -> None:
    config = setup(tmp_path)
    path = Path(config.schools[2].source)
    lock = path.with_name(f".~lock.{path.name}#")
    lock.write_text("someone,else", encoding="utf-8")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    result = run(config, today=TODAY)
    report = next(r for r in result.reports if r.school.id == "s3")
    assert report.outcome == "locked"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    lock.unlink()
    result = run(config, today=TODAY)
    assert result.writes["s3"].status == "written"


def test_history_keeps_what_a_school_deleted(tmp_path: Path) -> None:
    config = setup(tmp_path)
    run(config, today=TODAY)
    path = Path(config.schools[0].source)
    fill_workbook(path, SPEC, {"3": {"evidence": None, "executor": None}})
    run(config, today=TODAY + timedelta(days=7))
    with History.open(config.history_path) as history:
        entries = list(history.snapshots("s1"))
        runs = history.runs()
    assert len(entries) == 2
    first = {r.values.get("no"): r.values for r in entries[0].sheet.rows}
    assert first["3"]["evidence"] == "Приказ № 45 от 20.09.2021"
    last = {r.values.get("no"): r.values for r in entries[1].sheet.rows}
    assert not last["3"].get("evidence")
    assert [r["outcome"] for r in runs] == ["ok", "ok"]


def test_a_master_that_cannot_be_written_is_reported_not_a_crash(tmp_path: Path) -> None:
    config = setup(tmp_path)
    config.master_path.mkdir(parents=True)  # a folder where the master file should go
    result = run(config, today=TODAY)
    assert result.outcome == "master_failed"
    assert result.message.startswith("Свод не записан")
    assert result.counts["synced"] == 4  # the schools were still read, painted and recorded
    with History.open(config.history_path) as history:
        assert history.runs()[0]["outcome"] == "master_failed"
    assert run(config, today=TODAY).outcome == "master_failed"


def test_a_schools_own_note_is_never_touched(tmp_path: Path) -> None:
    from openpyxl.comments import Comment

    from sync.paint import NOTE_CELLS_KEY, parse_note_cells

    config = setup(tmp_path)
    path = config.schools[1].source  # s2: row 3 is Выполнено without a date
    wb = load_workbook(path)
    ws = wb[SPEC.main_sheet]
    row = next(r for r in range(2, ws.max_row + 1) if str(ws.cell(r, 1).value) == "3")
    done_on = ws.cell(row, SPEC.index("done_on"))
    done_on.comment = Comment("Дату уточняем у директора", "Иванова")
    wb.save(path)
    for day in (TODAY, TODAY + timedelta(days=1)):
        run(config, today=day)
        ws = load_workbook(path)[SPEC.main_sheet]
        note = ws.cell(row, SPEC.index("done_on")).comment
        assert note is not None and note.text == "Дату уточняем у директора"
        assert note.author == "Иванова"
        # Our message about the missing date went to the row's Контроль cell.
        ours = ws.cell(row, SPEC.index("control")).comment
        assert ours is not None and "дат" in ours.text.lower()
    meta = load_workbook(path)[SPEC.meta_sheet]
    listed = {r[0].value: r[1].value for r in meta.iter_rows()}[NOTE_CELLS_KEY]
    cells = parse_note_cells(listed)
    assert (SPEC.main_sheet, ws.cell(row, SPEC.index("control")).coordinate) in cells
    assert (SPEC.main_sheet, done_on.coordinate) not in cells


def test_notes_listed_by_the_excel_add_in_are_replaced_by_the_nightly_sync(tmp_path: Path) -> None:
    from openpyxl.comments import Comment

    from sync.paint import NOTE_CELLS_KEY

    config = setup(tmp_path)
    path = config.schools[0].source  # s1 has no problems at all
    wb = load_workbook(path)
    ws = wb[SPEC.main_sheet]
    ws["H5"].comment = Comment("Ошибка: старое замечание надстройки", "Excel user")
    meta = wb[SPEC.meta_sheet]
    meta.append([NOTE_CELLS_KEY, f"{SPEC.main_sheet}!H5"])
    wb.save(path)
    run(config, today=TODAY)
    wb = load_workbook(path)
    assert wb[SPEC.main_sheet]["H5"].comment is None  # stale, listed as ours: removed
    listed = {r[0].value: r[1].value for r in wb[SPEC.meta_sheet].iter_rows()}
    assert listed[NOTE_CELLS_KEY] is None  # nothing of ours is left in the book


def test_no_backup_no_write(tmp_path: Path) -> None:
    config = setup(tmp_path)
    config.backups_dir.write_text("a file where the backups folder should be")
    before = {s.id: Path(s.source).read_bytes() for s in config.schools}
    result = run(config, today=TODAY)
    assert {w.status for w in result.writes.values()} == {"failed"}
    assert all("резервную копию" in w.message for w in result.writes.values())
    assert {s.id: Path(s.source).read_bytes() for s in config.schools} == before


def test_a_school_is_recorded_before_its_file_is_written(tmp_path: Path) -> None:
    # A run records its schools in batches (a commit per school cost more than the rest of an
    # unchanged school's recording), but never writes a school's file before the history holds
    # what was read from it: another connection sees the read at the moment of the write.
    import sqlite3

    from sync.pipeline import backend_for

    config = setup(tmp_path)
    real = backend_for(config)
    seen: dict[str, int] = {}

    class Watching:
        def __getattr__(self, name: str) -> object:
            return getattr(real, name)

        def write_back(self, school: Any, paint: Any, fingerprint: str) -> Any:
            with sqlite3.connect(config.history_path) as other:
                seen[school.id] = other.execute(
                    "SELECT COUNT(*) FROM reads WHERE school_id = ? AND snapshot IS NOT NULL",
                    (school.id,),
                ).fetchone()[0]
            return real.write_back(school, paint, fingerprint)

    result = run(config, today=TODAY, backend=Watching())  # type: ignore[arg-type]
    assert result.outcome == "ok" and set(result.writes) == set(seen)
    assert seen and all(n == 1 for n in seen.values()), seen


def test_a_run_in_one_batch_still_keeps_each_schools_record_whole(tmp_path: Path) -> None:
    from datetime import datetime

    import pytest

    from sync.model import SchoolSheet

    with History.open(tmp_path / "h.sqlite") as history:
        run_id = history.start_run(datetime(2022, 1, 10, 2), TODAY)
        with history.batch():
            history.record_read(run_id, "s1", datetime(2022, 1, 10, 2), "unchanged", stamp="a")
            with pytest.raises(TypeError):  # fails after its snapshot row was inserted
                history.record_read(
                    run_id,
                    "s2",
                    datetime(2022, 1, 10, 2),
                    "synced",
                    sheet=SchoolSheet({}, {}, 1, (), {}, {}),
                    controls={1: object()},  # type: ignore[dict-item]
                )
            history.record_read(run_id, "s3", datetime(2022, 1, 10, 2), "unchanged", stamp="c")
        with History.open(tmp_path / "h.sqlite") as other:
            reads = other.conn.execute("SELECT school_id FROM reads ORDER BY school_id")
            assert [r[0] for r in reads] == ["s1", "s3"]
            assert other.conn.execute("SELECT COUNT(*) FROM snapshots").fetchone()[0] == 0
