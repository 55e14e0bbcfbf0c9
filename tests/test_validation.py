from dataclasses import replace
from datetime import date, datetime, timedelta

import pytest

from sync.model import Plan, RawWorkbook, School, Severity
from sync.spec import load_spec
from sync.validation import academic_year
from tests.fixtures import (
    OTHER_SCHOOL,
    PERIOD,
    SCHOOL,
    SECTION_1,
    SECTION_2,
    VALID_PASSPORT,
    VALIDATION_TODAY,
    codes,
    only,
    raw_school_workbook,
    small_plan,
)
from tests.fixtures import (
    check_sample as check,
)

SPEC = load_spec()
PLAN = small_plan()
TODAY = VALIDATION_TODAY
COORDINATOR = School("mouo", "Управление образования", is_coordinator=True)
DONE = {"status": "Выполнено", "done_on": datetime(2021, 9, 28), "evidence": "Приказ № 45"}
COL = {c.key: SPEC.index(c.key) for c in SPEC.columns}
LETTER = {k: chr(ord("A") + i - 1) for k, i in COL.items()}

# Rows of the standard school workbook: 2 = section 1 № 1 (due 01.10.2021), 3 = section 1 № 2
# (in the course of the year: no due), 4 = section 2 № 1 (February: due 28.02.2022),
# 5 = section 2 № 2 (by schedule: no due).


def build(fills=None, **kw) -> RawWorkbook:
    return raw_school_workbook(PLAN, SCHOOL, SPEC, fills, **kw)


def main(raw: RawWorkbook) -> list:
    return raw.sheets[SPEC.main_sheet]


def test_a_well_filled_workbook_has_no_problems():
    fills = {
        2: DONE,
        3: {"status": "В работе", "executor": "Петров И. С."},
        4: {"status": "Не требуется", "comment": "Программа принята в 2020 году"},
        5: {"review": "Принято"},
    }
    rows, problems = check(fills=fills)
    assert problems == []
    assert [r.sheet_row for r in rows] == [2, 3, 4, 5]
    assert [r.item for r in rows] == list(PLAN.for_audience(SCHOOL.audience))
    assert [r.control.key for r in rows] == ["done", "none", "none", "none"]
    assert rows[0].values["done_on"] == date(2021, 9, 28)
    assert rows[1].values["executor"] == "Петров И. С."


def test_an_untouched_workbook_is_valid_and_controls_follow_the_plan_dates():
    rows, problems = check()
    assert problems == []
    assert [r.control.key for r in rows] == ["overdue", "none", "on_time", "none"]
    assert rows[0].control.value == "Просрочено"


@pytest.mark.parametrize(
    ("today", "key"),
    [
        (date(2021, 10, 2), "overdue"),
        (date(2021, 10, 1), "soon"),
        (date(2021, 9, 17), "soon"),
        (date(2021, 9, 16), "on_time"),
    ],
)
def test_control_boundaries_through_the_plan_due_date(today, key):
    rows, _ = check(today=today)
    assert rows[0].item.due == date(2021, 10, 1)
    assert rows[0].control.key == key


def test_soon_days_reaches_the_control():
    rows, _ = check(today=date(2021, 9, 16), soon_days=30)
    assert rows[0].control.key == "soon"


def test_an_error_on_a_row_beats_done():
    rows, problems = check(fills={2: {**DONE, "evidence": ""}})
    assert codes(problems) == ["done_without_evidence"]
    assert rows[0].control.key == "error"
    assert rows[0].control.fill == SPEC.controls["error"].fill
    assert [r.control.key for r in rows[1:]] == ["none", "on_time", "none"]


def test_a_warning_does_not_make_a_row_an_error():
    rows, problems = check(fills={2: {**DONE, "review": "Ок"}})
    assert codes(problems) == ["review_unknown"]
    assert rows[0].control.key == "done"


# --- status --------------------------------------------------------------------------------


def test_unknown_status():
    rows, problems = check(fills={3: {"status": "Готово"}})
    p = only(problems, "unknown_status")
    assert p.severity is Severity.ERROR
    assert (p.sheet, p.cell, p.field, p.row) == (
        SPEC.main_sheet,
        f"{LETTER['status']}3",
        "status",
        3,
    )
    assert "«Готово»" in p.message
    for choice in SPEC.status_choices:
        assert f"«{choice}»" in p.message
    assert rows[1].control.key == "error"
    assert rows[1].values["status"] == "Готово"


@pytest.mark.parametrize("status", ["  в работе ", "В  РАБОТЕ", "в\u00a0работе", "", None, "  "])
def test_status_tolerates_case_and_spaces_and_empty_means_not_started(status):
    rows, problems = check(fills={3: {"status": status}})
    assert problems == []
    assert rows[1].values["status"] == (None if not (status or "").strip() else "В работе")


def test_done_without_date_and_evidence():
    _, problems = check(fills={2: {"status": "выполнено"}})
    assert codes(problems) == ["done_without_date", "done_without_evidence"]
    assert only(problems, "done_without_date").cell == f"{LETTER['done_on']}2"
    assert only(problems, "done_without_evidence").cell == f"{LETTER['evidence']}2"
    assert only(problems, "done_without_evidence").field == "evidence"


def test_in_progress_needs_no_date_or_evidence():
    _, problems = check(fills={2: {"status": "В работе"}})
    assert problems == []


# --- the date of completion ----------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        date(2021, 10, 5),
        datetime(2021, 10, 5, 14, 30),
        "05.10.2021",
        "5.10.2021",
        "05.10.21",
        "2021-10-05",
        " 05.10.2021 ",
        44474,
        44474.0,
    ],
)
def test_dates_as_excel_libreoffice_or_google_give_them(value):
    rows, problems = check(fills={2: {**DONE, "done_on": value}})
    assert problems == []
    assert rows[0].values["done_on"] == date(2021, 10, 5)


@pytest.mark.parametrize("value", ["вчера", "31.02.2021", "05/10/2021", 12, 99999, True])
def test_date_invalid(value):
    rows, problems = check(fills={2: {**DONE, "done_on": value}})
    p = only(problems, "date_invalid")
    assert (p.cell, p.field, p.severity) == (f"{LETTER['done_on']}2", "done_on", Severity.ERROR)
    assert codes(problems) == ["date_invalid"]
    assert rows[0].control.key == "error"


def test_date_in_the_future():
    _, problems = check(fills={2: {**DONE, "done_on": TODAY + timedelta(days=1)}})
    assert only(problems, "date_in_future").severity is Severity.ERROR
    _, problems = check(fills={2: {**DONE, "done_on": TODAY}})
    assert problems == []


def test_date_in_future_even_without_done_status():
    _, problems = check(fills={3: {"status": "В работе", "done_on": "01.12.2021"}})
    assert codes(problems) == ["date_in_future"]


def test_date_suspicious_more_than_a_year_before_the_period():
    _, problems = check(fills={2: {**DONE, "done_on": date(2020, 8, 31)}})
    p = only(problems, "date_suspicious")
    assert p.severity is Severity.WARNING
    _, problems = check(fills={2: {**DONE, "done_on": date(2020, 9, 1)}})
    assert problems == []


# --- reasons and the coordinator's mark ----------------------------------------------------


@pytest.mark.parametrize("status", ["Не выполнено", "Не требуется", "не требуется"])
def test_reason_missing(status):
    rows, problems = check(fills={4: {"status": status}})
    p = only(problems, "reason_missing")
    assert (p.cell, p.field, p.row) == (f"{LETTER['comment']}4", "comment", 4)
    assert "Комментарий" in p.message
    assert rows[2].control.key == "error"
    _, problems = check(fills={4: {"status": status, "comment": "Нет учителя"}})
    assert problems == []


def test_review_unknown():
    _, problems = check(fills={2: {"review": "Ок"}})
    p = only(problems, "review_unknown")
    assert (p.severity, p.cell) == (Severity.WARNING, f"{LETTER['review']}2")
    assert "«Принято»" in p.message
    rows, problems = check(fills={2: {"review": " на  доработке"}})
    assert problems == []
    assert rows[0].values["review"] == "На доработке"


# --- matching with the plan ----------------------------------------------------------------


def test_plan_text_changed_in_activity():
    rows, problems = check(fills={2: {"activity": "Назначение ответственного"}})
    p = only(problems, "plan_text_changed")
    assert (p.severity, p.cell, p.field, p.row) == (
        Severity.WARNING,
        f"{LETTER['activity']}2",
        "activity",
        2,
    )
    assert p.message == (
        "Текст плана в столбце «Мероприятие» изменён; в свод попадёт текст из утверждённого плана."
    )
    assert rows[0].item == PLAN.items[0]


@pytest.mark.parametrize("key", ["responsible", "deadline_text", "planned_result"])
def test_plan_text_changed_in_other_plan_columns(key):
    _, problems = check(fills={3: {key: "Изменено школой"}})
    p = only(problems, "plan_text_changed")
    assert (p.cell, p.field) == (f"{LETTER[key]}3", key)
    assert f"«{SPEC.column(key).header}»" in p.message


def test_plan_text_tolerates_case_spaces_yo_and_quotes():
    fills = {
        2: {"activity": " НАЗНАЧЕНИЕ  ответственного за обеспечение качества образования"},
        3: {"activity": "Анализ «результатов» ВПР", "responsible": "шнор,  шнсу"},
        4: {"no": "1.", "planned_result": "программа"},
    }
    rows, problems = check(fills=fills)
    assert problems == []
    assert [r.item for r in rows] == list(PLAN.for_audience(SCHOOL.audience))


def test_number_changed_is_reported_on_the_number_cell():
    rows, problems = check(fills={3: {"no": "7"}})
    p = only(problems, "plan_text_changed")
    assert (p.cell, p.field) == (f"{LETTER['no']}3", "no")
    assert "№ 2" in p.message
    assert rows[1].item == PLAN.items[1]


def test_numbering_restarts_in_each_section():
    raw = build()
    grid = main(raw)
    grid[2], grid[4] = grid[4], grid[2]  # section 2 № 2 now sits between section 1 rows
    rows, problems = check(raw)
    assert problems == []
    assert [(r.item.section, r.item.no) for r in rows] == [
        (SECTION_1, "1"),
        (SECTION_2, "2"),
        (SECTION_2, "1"),
        (SECTION_1, "2"),
    ]


def test_a_changed_activity_is_matched_by_number_within_its_section():
    rows, problems = check(fills={4: {"activity": "Программа развития школы"}})
    assert codes(problems) == ["plan_text_changed"]
    assert (rows[2].item.section, rows[2].item.no) == (SECTION_2, "1")
    assert [r.item for r in rows] == list(PLAN.for_audience(SCHOOL.audience))


def test_a_number_from_another_section_is_not_a_match():
    fills = {4: {"section": "3. Своё", "activity": "Своё мероприятие"}}
    rows, problems = check(fills=fills)
    assert codes(problems) == ["extra_row", "plan_row_missing"]
    assert rows[2].item is None


def test_plan_row_missing():
    raw = build()
    del main(raw)[2]  # section 1 № 2
    rows, problems = check(raw)
    p = only(problems, "plan_row_missing")
    assert (p.severity, p.cell, p.row) == (Severity.ERROR, "", None)
    assert "№ 2" in p.message
    assert "«Анализ результатов ВПР»" in p.message
    assert len(rows) == 3


def test_extra_row_is_kept_as_the_schools_own_activity():
    raw = build()
    extra = {
        "no": "5",
        "activity": "Родительское собрание",
        "due": "01.11.2021",
        "status": "В работе",
    }
    main(raw).append([extra.get(c.key, "") for c in SPEC.columns])
    main(raw).append([""] * len(SPEC.columns))
    rows, problems = check(raw)
    p = only(problems, "extra_row")
    assert (p.severity, p.cell, p.row) == (Severity.WARNING, f"{LETTER['activity']}6", 6)
    assert p.message == (
        "Строка 6: мероприятия «Родительское собрание» нет в плане; "
        "принято как собственное мероприятие школы."
    )
    assert rows[-1].item is None
    assert rows[-1].sheet_row == 6
    assert rows[-1].control.key == "overdue"  # its own date, 01.11.2021
    assert codes(problems) == ["extra_row"]


def test_extra_row_without_a_date_has_no_control_date():
    raw = build()
    main(raw).append([{"activity": "Своё"}.get(c.key, "") for c in SPEC.columns])
    rows, _ = check(raw)
    assert rows[-1].item is None
    assert rows[-1].control.key == "none"


def test_a_filled_row_without_an_activity_is_an_extra_row_that_says_so():
    raw = build()
    main(raw).append([{"status": "В работе"}.get(c.key, "") for c in SPEC.columns])
    rows, problems = check(raw)
    p = only(problems, "extra_row")
    assert "мероприятие не указано" in p.message
    assert rows[-1].item is None


def test_duplicate_row():
    raw = build()
    main(raw).insert(2, list(main(raw)[1]))  # section 1 № 1 twice, rows 2 and 3
    rows, problems = check(raw)
    p = only(problems, "duplicate_row")
    assert (p.severity, p.row, p.cell) == (Severity.ERROR, 3, f"{LETTER['no']}3")
    assert "строке 2" in p.message
    assert [r.control.key for r in rows[:2]] == ["overdue", "error"]
    assert codes(problems) == ["duplicate_row"]


def test_only_the_schools_audience_is_expected():
    # The coordinator's row (section 1 № 3) is not in a school's file and is not missing.
    assert len(PLAN.for_audience(SCHOOL.audience)) == 4
    raw = raw_school_workbook(PLAN, COORDINATOR, SPEC)
    rows, problems = check(raw, school=COORDINATOR)
    assert problems == []
    assert [r.item.no for r in rows] == ["3"]
    _, problems = check(raw, school=SCHOOL)
    assert "plan_row_missing" in codes(problems)
    assert "wrong_school" in codes(problems)


def test_columns_moved_and_inserted_by_the_school_still_validate():
    raw = build(fills={2: {"status": "Выполнено"}})
    grid = main(raw)
    order = list(range(len(SPEC.columns)))
    order.remove(COL["status"] - 1)
    order.insert(0, COL["status"] - 1)
    for n, line in enumerate(grid):
        grid[n] = ["Примечание школы" if n == 0 else "x", *[line[i] for i in order]]
    rows, problems = check(raw)
    assert codes(problems) == ["done_without_date", "done_without_evidence"]
    # Status is now column B, the inserted column A; done_on moved one to the right.
    assert only(problems, "done_without_date").cell == f"{chr(ord(LETTER['done_on']) + 1)}2"
    assert rows[0].values["status"] == "Выполнено"
    assert rows[0].control.key == "error"


# --- the service sheet ---------------------------------------------------------------------


def test_meta_sheet_missing():
    rows, problems = check(with_meta=False)
    p = only(problems, "meta_missing")
    assert (p.severity, p.sheet) == (Severity.ERROR, SPEC.meta_sheet)
    assert p.message.startswith("Служебный лист удалён или повреждён: ")
    assert len(rows) == 4


@pytest.mark.parametrize("key", ["template_version", "school_id", "plan_hash", "period"])
def test_meta_key_missing(key):
    _, problems = check(meta={key: None})
    p = only(problems, "meta_missing")
    assert f"«{key}»" in p.message
    assert codes(problems) == ["meta_missing"]


def test_meta_period_unreadable():
    _, problems = check(meta={"period": "учебный год"})
    assert codes(problems) == ["meta_missing"]


def test_wrong_school():
    raw = raw_school_workbook(PLAN, OTHER_SCHOOL, SPEC)
    _, problems = check(raw)
    p = only(problems, "wrong_school")
    assert p.severity is Severity.ERROR
    assert p.message == "Это файл школы «МБОУ «СОШ № 12»», а ожидается «МБОУ «СОШ № 7»»."
    assert codes(problems) == ["wrong_school"]
    _, problems = check(raw, school=None)
    assert problems == []


def test_template_version():
    _, problems = check(meta={"template_version": "0.9"})
    p = only(problems, "template_version")
    assert p.severity is Severity.ERROR
    assert "0.9" in p.message and SPEC.version in p.message
    assert codes(problems) == ["template_version"]


def test_plan_outdated():
    new_plan = Plan(PLAN.period, (*PLAN.items, replace(PLAN.items[0], no="9")))
    _, problems = check(plan=new_plan)
    p = only(problems, "plan_outdated")
    assert p.severity is Severity.WARNING
    assert p.message == (
        "План в файле отличается от утверждённого МОУО: "
        "обратитесь к координатору за обновлённым файлом."
    )
    assert "plan_row_missing" in codes(problems)


# --- the passport --------------------------------------------------------------------------


def passport_row(key: str) -> int:
    return [f.key for f in SPEC.passport].index(key) + 2


def test_passport_required():
    _, problems = check(passport={**VALID_PASSPORT, "head": "  ", "notes": ""})
    p = only(problems, "passport_required")
    assert (p.severity, p.sheet, p.cell, p.field) == (
        Severity.ERROR,
        SPEC.passport_sheet,
        f"B{passport_row('head')}",
        "head",
    )
    assert "Руководитель (ФИО)" in p.message


def test_passport_row_deleted():
    raw = build()
    del raw.sheets[SPEC.passport_sheet][passport_row("email") - 1]
    _, problems = check(raw)
    p = only(problems, "passport_required")
    assert (p.field, p.cell) == ("email", "")


@pytest.mark.parametrize("value", ["много", -3, 12.5, "12,5", True])
def test_passport_not_number(value):
    _, problems = check(passport={**VALID_PASSPORT, "pupils": value})
    p = only(problems, "passport_not_number")
    assert (p.severity, p.cell, p.field) == (Severity.ERROR, f"B{passport_row('pupils')}", "pupils")
    assert codes(problems) == ["passport_not_number"]


@pytest.mark.parametrize("value", [0, 412, 412.0, "412", "1 250", "1\u00a0250"])
def test_passport_whole_numbers(value):
    _, problems = check(passport={**VALID_PASSPORT, "pupils": value})
    assert problems == []


def test_passport_choice():
    _, problems = check(passport={**VALID_PASSPORT, "category": "Обычная"})
    p = only(problems, "passport_choice")
    assert (p.severity, p.field) == (Severity.WARNING, "category")
    assert "«ШНОР и ШНСУ»" in p.message
    _, problems = check(passport={**VALID_PASSPORT, "category": " шнор  и шнсу"})
    assert problems == []


def test_passport_sheet_missing_is_one_problem():
    _, problems = check(with_passport=False)
    assert codes(problems) == ["passport_missing"]


# --- without a plan (validate FILE) --------------------------------------------------------


def test_without_a_plan_rows_are_rebuilt_from_the_sheet():
    rows, problems = check(plan=None, school=None, fills={2: DONE})
    assert problems == []
    expected = PLAN.for_audience(SCHOOL.audience)
    assert [r.item for r in rows] == list(expected)
    assert [r.control.key for r in rows] == ["done", "none", "on_time", "none"]


def test_without_a_plan_changed_text_is_one_sheet_level_warning():
    rows, problems = check(plan=None, fills={3: {"activity": "Анализ результатов ВПР и ОГЭ"}})
    p = only(problems, "plan_text_changed")
    assert (p.severity, p.sheet, p.cell, p.row) == (Severity.WARNING, SPEC.main_sheet, "", None)
    assert codes(problems) == ["plan_text_changed"]
    assert rows[1].item.activity == "Анализ результатов ВПР и ОГЭ"


def test_without_a_plan_other_checks_still_run():
    raw = build(fills={2: {"status": "Готово"}}, meta={"template_version": "0.1"})
    main(raw).insert(3, list(main(raw)[2]))
    _, problems = check(raw, plan=None)
    # The copied row also changes the plan text the file was built with.
    assert codes(problems) == [
        "duplicate_row",
        "plan_text_changed",
        "template_version",
        "unknown_status",
    ]


def test_without_a_plan_or_meta_the_period_is_this_academic_year():
    rows, problems = check(plan=None, school=None, with_meta=False)
    assert codes(problems) == ["meta_missing"]
    # "Февраль" in the academic year of 15.11.2021 is February 2022.
    assert rows[2].item.due == date(2022, 2, 28)
    assert academic_year(date(2022, 8, 31)) == PERIOD
    assert academic_year(date(2021, 9, 1)) == PERIOD


def test_without_a_plan_the_period_comes_from_meta():
    raw = build(meta={"period": "2022-09-01..2023-08-31"})
    for line in main(raw)[1:]:
        line[COL["due"] - 1] = ""  # no explicit dates: deadlines are read against meta's period
    rows, _ = check(raw, plan=None)
    assert rows[2].item.due == date(2023, 2, 28)
