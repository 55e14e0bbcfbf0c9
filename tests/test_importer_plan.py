"""import-plan of a plan file: «Раздел», «Срок (дата)», «Для кого» kept; the school-year period."""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path

import pytest

from sync.importer import import_file, import_plan_command
from sync.model import Audience, Period
from sync.plan import load_plan, write_plan

CONFIG = Path(__file__).resolve().parent.parent / "config"
SCHOOL_YEAR = Period(date(2021, 9, 1), date(2022, 8, 31))


def test_kalar_plan_file_takes_the_school_year(tmp_path: Path):
    result = import_file(CONFIG / "kalar-plan.tsv")
    assert result.period == SCHOOL_YEAR
    assert "2021-2022 учебный год" in result.period_source
    # "Февраль" without a year is February 2022 inside the school year, not February 2021.
    february = next(i for i in result.items if i.deadline_text == "Февраль")
    assert february.due == date(2022, 2, 28)
    assert result.items == list(load_plan(CONFIG / "kalar-plan.tsv", SCHOOL_YEAR).items)


@pytest.mark.parametrize("suffix", [".tsv", ".csv", ".xlsx"])
def test_plan_file_keeps_sections_dates_and_audience(tmp_path: Path, suffix: str):
    items = list(load_plan(CONFIG / "kalar-plan.tsv", SCHOOL_YEAR).items)
    edited = []
    for n, item in enumerate(items):
        section = "1. Организационные мероприятия" if n < 10 else "2. Методическая работа"
        changes: dict[str, object] = {"section": section}
        if n == 3:
            changes["due"] = date(2021, 10, 15)  # a date set by hand over "Сентябрь 2021 г."
        if n == 2:  # «Для кого» overrides what the responsible text suggests
            assert item.audience is Audience.SCHOOLS
            changes["audience"] = Audience.COORDINATOR
        if n == 12:
            changes["due"] = date(2022, 5, 20)  # "В течение года" with a date given by hand
        edited.append(dataclasses.replace(item, **changes))
    plan = tmp_path / f"plan{suffix}"
    write_plan(edited, plan)

    out = tmp_path / f"again{suffix}"
    code, text = import_plan_command(plan, out, None)
    assert code == 0, text
    assert "Период: 2021-09-01..2022-08-31" in text
    assert "1. Организационные мероприятия: 10" in text
    assert "2. Методическая работа: 10" in text
    assert "Не использованы столбцы" not in text
    again = list(load_plan(out, SCHOOL_YEAR).items)
    assert again == edited
    assert again[3].due == date(2021, 10, 15)
    assert again[2].audience is Audience.COORDINATOR
    assert again[12].due == date(2022, 5, 20)


def test_plan_file_with_a_bad_date_and_audience_is_imported_with_doubts(tmp_path: Path):
    plan = tmp_path / "plan.tsv"
    plan.write_text(
        "Раздел\t№ п/п\tМероприятие\tОтветственные исполнители\tСроки исполнения\tСрок (дата)\t"
        "Планируемый результат\tДля кого\n"
        "Общие\t1\tСовещание\tМОУО\tСентябрь 2021 г.\t31.09.2021\tПротокол\tМОУО\n"
        "Общие\t2\tОтчёт\tОО\tМай 2022 г.\t\tОтчёт\tвсем\n",
        encoding="utf-8",
    )
    result = import_file(plan)
    assert result.period == SCHOOL_YEAR
    assert [i.section for i in result.items] == ["Общие", "Общие"]
    assert result.items[0].due == date(2021, 9, 30)  # from the deadline text instead
    assert result.items[1].audience is Audience.SCHOOLS
    assert any("31.09.2021" in u and "не дата" in u for u in result.unsure)
    assert any("«всем»" in u for u in result.unsure)


def test_calendar_year_plan_stays_calendar(tmp_path: Path):
    plan = tmp_path / "plan.tsv"
    plan.write_text(
        "№ п/п\tМероприятие\tОтветственные исполнители\tСроки исполнения\n"
        "1\tСовещание\tМОУО\tЯнварь 2021 г.\n"
        "2\tОтчёт\tОО\tДекабрь 2021 г.\n",
        encoding="utf-8",
    )
    assert import_file(plan).period == Period(date(2021, 1, 1), date(2021, 12, 31))
