"""«Изменения»: what each school changed since the master before, from the history's snapshots."""

from __future__ import annotations

import threading
from datetime import date, datetime
from pathlib import Path

from sync.builders.fill import fill_workbook
from sync.consolidate import (
    CHANGE_CONTROL,
    CHANGE_FIRST,
    CHANGE_FIXED,
    CHANGE_NEW,
    CHANGE_NONE,
    CHANGE_REMOVED,
    CHANGE_STATUS,
    CHANGES_SHEET,
    Baseline,
    SchoolBefore,
    changes_sheet,
    consolidate,
    school_changes,
)
from sync.model import (
    Audience,
    Control,
    PlanItem,
    Problem,
    RowReport,
    School,
    SchoolReport,
    SchoolSheet,
    Severity,
    SheetRow,
)
from sync.pipeline import run
from sync.spec import load_spec
from tests.fixtures import TODAY, setup, sheet_rows

SPEC = load_spec()
SCHOOL = School("s1", "МОУ СОШ № 1")
AT = datetime(2022, 1, 9, 2, 0)


def control(key: str) -> Control:
    c = SPEC.controls[key]
    return Control(key, c.value, c.fill)


def item(no: str, activity: str) -> PlanItem:
    return PlanItem("1. Раздел", no, activity, "ОО", "январь", "Справка", Audience.SCHOOLS)


def sheet(*rows: tuple[int, str, str, str | None]) -> SchoolSheet:
    return SchoolSheet(
        meta={},
        columns={},
        header_row=1,
        rows=tuple(
            SheetRow(r, {"no": no, "activity": act, "status": st}) for r, no, act, st in rows
        ),
        passport={},
        passport_cells={},
    )


def report(
    rows: list[tuple[int, str, str, str | None, str]], problems: list[Problem]
) -> SchoolReport:
    return SchoolReport(
        SCHOOL,
        [
            RowReport(item(no, act), r, {"no": no, "activity": act, "status": st}, control(key))
            for r, no, act, st, key in rows
        ],
        problems=problems,
    )


NO_DATE = Problem(
    "done_without_date", Severity.ERROR, SPEC.main_sheet, "I3", "done_on", "Нет даты", 3
)
NO_PHONE = Problem(
    "passport_missing", Severity.WARNING, SPEC.passport_sheet, "B4", "phone", "Нет телефона"
)


def test_status_changes_new_and_fixed_problems_and_newly_overdue() -> None:
    before = SchoolBefore.from_read(
        AT,
        sheet((2, "1", "Приказ", "В работе"), (3, "2", "Анализ ВПР", None), (4, "3", "План", None)),
        [NO_PHONE.to_json()],
        {2: "on_time", 3: "soon", 4: "soon"},
        SPEC,
    )
    now = report(
        [
            (2, "1", "Приказ", "выполнено ", "done"),  # typed loosely: canonical «Выполнено»
            (3, "2", "Анализ ВПР", "Выполнено", "error"),  # done without a date
            (4, "3", "План", None, "overdue"),  # nobody touched it, the date passed
        ],
        [NO_DATE],
    )
    lines = school_changes(now, before, SPEC)
    got = [(c.no, c.change, c.was, c.now) for c in lines]
    assert (
        "1",
        CHANGE_STATUS,
        "В работе",
        "Выполнено",
    ) in got
    assert ("2", CHANGE_STATUS, "(пусто)", "Выполнено") in got
    assert ("3", CHANGE_CONTROL, "Скоро срок", "Просрочено") in got
    assert ("2", CHANGE_NEW, "", "Нет даты") in got  # the problem's row found by its sheet row
    assert ("", CHANGE_FIXED, "Нет телефона", "исправлено") in got
    assert len(got) == 5
    where = {c.change: c.where for c in lines}
    assert where[CHANGE_NEW] == f"{SPEC.main_sheet}!I3"


def test_nothing_changed_is_said_once() -> None:
    before = SchoolBefore.from_read(
        AT, sheet((2, "1", "Приказ", "В работе")), [], {2: "on_time"}, SPEC
    )
    now = report([(2, "1", "Приказ", "В работе", "on_time")], [])
    assert school_changes(now, before, SPEC) == []
    sheet_ = changes_sheet([now], Baseline(AT, {"s1": before}), SPEC)
    assert sheet_.rows == [
        ["", "", "", CHANGE_NONE, "", "изменений нет с 09.01.2022 02:00", "", None]
    ]


def test_first_read_and_removed_rows() -> None:
    now = report([(2, "1", "Приказ", None, "on_time")], [])
    assert [c.change for c in school_changes(now, None, SPEC)] == [CHANGE_FIRST]
    before = SchoolBefore.from_read(
        AT, sheet((2, "1", "Приказ", None), (9, "9", "Своё мероприятие", "В работе")), [], {}, SPEC
    )
    lines = school_changes(now, before, SPEC)
    assert [(c.no, c.change) for c in lines] == [("9", CHANGE_REMOVED)]


def _fixed_line(stored: dict[str, object]) -> tuple[str, str]:
    before = SchoolBefore.from_read(
        AT, sheet((2, "1", "Приказ", None), (3, "2", "Анализ ВПР", None)), [stored], {}, SPEC
    )
    now = report([(2, "1", "Приказ", None, "on_time"), (3, "2", "Анализ ВПР", None, "soon")], [])
    (line,) = school_changes(now, before, SPEC)
    assert line.change == CHANGE_FIXED
    return line.no, line.activity


def test_a_fixed_problem_finds_its_row_by_the_row_the_history_kept() -> None:
    stored = NO_DATE.to_json() | {"row": NO_DATE.row, "cell": "Z99"}  # the row, not the cell
    assert _fixed_line(stored) == ("2", "Анализ ВПР")
    elsewhere = NO_PHONE.to_json() | {"row": None}  # a passport problem belongs to no row
    assert _fixed_line(elsewhere) == ("", "")


def test_a_problem_stored_before_rows_were_kept_still_finds_its_row() -> None:
    assert _fixed_line(NO_DATE.to_json()) == ("2", "Анализ ВПР")  # from the main sheet's I3


def test_without_a_baseline_the_master_has_no_changes_sheet() -> None:
    from tests.fixtures import MASTER_PLAN as PLAN

    now = report([(2, "1", "Приказ", None, "on_time")], [])
    names = [s.name for s in consolidate([now], PLAN, SPEC, date(2022, 1, 10)).sheets]
    assert CHANGES_SHEET not in names and len(names) == 8
    with_changes = consolidate([now], PLAN, SPEC, date(2022, 1, 10), previous=Baseline(None))
    assert [s.name for s in with_changes.sheets][:4] == ["Обзор", "Свод", "Школы", CHANGES_SHEET]


def test_the_master_shows_what_changed_since_the_last_complete_run(tmp_path: Path) -> None:
    config = setup(tmp_path)
    first = run(config, today=TODAY)
    rows = sheet_rows(first.master, CHANGES_SHEET)
    assert rows[0][:6] == ["Школа", "№ п/п", "Мероприятие", "Что изменилось", "Было", "Стало"]
    assert {r[3] for r in rows[1:]} == {CHANGE_FIRST}
    assert len(rows) == 1 + len(config.all_workbooks())

    # s1 finishes row 5; an interrupted run reads it, but never writes a master...
    s1, s2 = (Path(s.source) for s in config.schools[:2])
    fill_workbook(s1, SPEC, {"5": {"status": "Выполнено", "done_on": datetime(2022, 1, 11)}})

    def stop_after_first(_school: School, i: int, _n: int) -> None:
        if i == 2:
            stop.set()

    stop = threading.Event()
    interrupted = run(config, today=TODAY, progress=stop_after_first, stop=stop)
    assert interrupted.outcome == "interrupted" and not interrupted.master
    # ...so the next complete master still reports the change, against the first master.
    fill_workbook(s2, SPEC, {"4": {"status": "В работе"}})
    second = run(config, today=date(2022, 1, 12))
    rows = sheet_rows(second.master, CHANGES_SHEET)
    by_school: dict[str, list[tuple[object, ...]]] = {}
    for r in rows[1:]:
        by_school.setdefault(str(r[0]), []).append((r[1], r[3], r[4], r[5]))
    assert ("5", CHANGE_STATUS, "В работе", "Выполнено") in by_school["МОУ СОШ № 1 с. Чара"]
    kuanda = by_school["МОУ СОШ № 2 с. Куанда"]
    assert ("4", CHANGE_STATUS, "Сделано", "В работе") in kuanda
    assert any(change == CHANGE_FIXED and no == "4" for no, change, _w, _n in kuanda)
    # The comparison date is the first (complete) run's read, not the interrupted one's.
    assert all(isinstance(r[7], datetime) for r in rows[1:] if r[3] != CHANGE_NONE)


def test_a_quiet_run_later_that_day_still_shows_the_days_changes(tmp_path: Path) -> None:
    config = setup(tmp_path)
    run(config, today=TODAY)  # the previous day
    s1 = Path(config.schools[0].source)
    fill_workbook(s1, SPEC, {"5": {"status": "Выполнено", "done_on": datetime(2022, 1, 11)}})
    next_day = date(2022, 1, 11)
    morning = run(config, today=next_day)
    change = ("5", CHANGE_STATUS, "В работе", "Выполнено")

    def changes(path: str) -> list[tuple[object, ...]]:
        rows = sheet_rows(path, CHANGES_SHEET)[1:]
        return [(r[1], r[3], r[4], r[5]) for r in rows if r[0] == "МОУ СОШ № 1 с. Чара"]

    assert change in changes(morning.master)
    # Nothing changed since the morning: the evening's master still shows the day's change,
    # compared with the state at the end of the previous day.
    evening = run(config, today=next_day)
    assert evening.counts["synced"] == 0
    assert change in changes(evening.master)
    # The day after, that change is yesterday's news.
    later = run(config, today=date(2022, 1, 12))
    assert change not in changes(later.master)
