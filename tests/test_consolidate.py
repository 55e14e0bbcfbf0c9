"""Consolidation is pure: reports and the plan in, tables out."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from sync.consolidate import (
    NO_DATA,
    consolidate,
    school_summary,
)
from sync.model import (
    Plan,
    RowReport,
)
from tests.fixtures import (
    A1,
    A2,
    SPEC,
    as_dicts,
    coordinator,
    ctl,
    failed_school,
    item,
    master,
    report,
    row,
    school_one,
    school_two,
)
from tests.fixtures import (
    MASTER_PLAN as PLAN,
)
from tests.fixtures import (
    MASTER_TODAY as TODAY,
)


def test_sheets_in_order_and_title() -> None:
    m = master(school_one(), municipality="г. Ижевск")
    assert [s.name for s in m.sheets] == [
        "Обзор",
        "Свод",
        "Школы",
        "Мероприятия",
        "На проверке",
        "Просрочено",
        "Ошибки",
        "Паспорта",
    ]
    assert m.title == "Свод дорожной карты: г. Ижевск, на 01.03.2022"
    assert master(school_one()).title == "Свод дорожной карты на 01.03.2022"
    for s in m.sheets:
        assert len(s.widths) == len(s.headers), s.name
        assert all(len(r) == len(s.headers) for r in s.rows), s.name


def test_summary_is_activities_by_schools_with_coordinator_last() -> None:
    m = master(coordinator(), school_one(), school_two(), failed_school())
    svod = m.sheet("Свод")
    assert svod.headers == [
        "№ п/п",
        "Раздел",
        "Мероприятие",
        "Срок (дата)",
        "МБОУ СОШ № 1",
        "МКОУ ООШ с. Берёзовка",
        "МБОУ СОШ № 3",
        "МОУО",
        "Выполнено",
        "Просрочено",
    ]
    rows = as_dicts(svod)
    assert [r["Мероприятие"] for r in rows] == [i.activity for i in PLAN.items]
    first = rows[0]
    assert first["Срок (дата)"] == date(2021, 10, 1)
    assert first["МБОУ СОШ № 1"] == "Выполнено"
    assert first["МКОУ ООШ с. Берёзовка"] == "Просрочено"
    assert first["МБОУ СОШ № 3"] == NO_DATA
    assert first["МОУО"] is None
    assert (first["Выполнено"], first["Просрочено"]) == (1, 1)
    # A school that has no row for the item: no data, not a guess.
    assert rows[1]["МКОУ ООШ с. Берёзовка"] == NO_DATA
    # The coordinator's own item: a value only in the МОУО column; the deadline text stands in.
    mouo = rows[2]
    assert mouo["Срок (дата)"] == "ежегодно (август)"
    assert mouo["МОУО"] == "—"
    assert [mouo[h] for h in svod.headers[4:7]] == [None, None, None]
    assert svod.number_formats[3] == "DD.MM.YYYY"
    assert svod.frozen_columns == 4


def test_summary_fills_follow_controls() -> None:
    svod = master(school_one(), school_two()).sheet("Свод")
    assert svod.fills[(0, 4)] == SPEC.controls["done"].fill == "C6EFCE"
    assert svod.fills[(0, 5)] == SPEC.controls["overdue"].fill == "FFC7CE"
    assert svod.fills[(1, 4)] == SPEC.controls["soon"].fill
    assert (3, 4) not in svod.fills  # "В срок" has no fill
    assert (1, 5) not in svod.fills  # "нет данных" has no fill


def test_school_extra_activities_stay_out_of_summary() -> None:
    svod = master(school_one()).sheet("Свод")
    assert len(svod.rows) == len(PLAN.items)
    assert all("Своё мероприятие" not in str(r[2]) for r in svod.rows)
    rows = master(school_one()).sheet("Мероприятия")
    assert any(r[2] == "Своё мероприятие школы" for r in rows.rows)


def test_summary_coordinator_column_without_its_workbook() -> None:
    svod = master(school_one()).sheet("Свод")
    assert svod.headers[-3] == "МОУО"
    assert as_dicts(svod)[2]["МОУО"] == NO_DATA


def test_summary_duplicate_school_names_get_distinct_columns() -> None:
    a = report("СОШ № 1", [], id="s1")
    b = report("СОШ № 1", [], id="s2")
    headers = master(a, b).sheet("Свод").headers
    assert headers[4:6] == ["СОШ № 1", "СОШ № 1 (s2)"]


def test_summary_sections_keep_plan_order() -> None:
    x = item("Б", "1", "x", None)
    y = item("А", "1", "y", None)
    z = item("Б", "2", "z", None)
    plan = Plan(PLAN.period, (x, y, z))
    svod = consolidate([], plan, SPEC, TODAY).sheet("Свод")
    assert [r[2] for r in svod.rows] == ["x", "z", "y"]


def test_school_summary_counts() -> None:
    s = school_summary(school_one(), SPEC)
    # 4 rows, one «Не требуется»: 1 done of 3.
    assert s == {
        "rows": 4,
        "done": 1,
        "overdue": 0,
        "soon": 1,
        "errors": 1,
        "warnings": 1,
        "percent": pytest.approx(1 / 3),
    }
    assert school_summary(failed_school(), SPEC)["percent"] == 0.0
    assert school_summary(school_two(), SPEC)["overdue"] == 1


def test_schools_sheet() -> None:
    full = report(
        "СОШ № 7",
        [row(A1, "done", status="Выполнено"), row(A2, "done", status="выполнено ")],
        synced_at=datetime(2022, 3, 1, 2, 0),
    )
    locked = report("СОШ № 9", [], outcome="locked")
    m = master(school_one(), school_two(), failed_school(), full, locked)
    sheet = m.sheet("Школы")
    assert sheet.headers == [
        "Школа",
        "Категория",
        "Мероприятий",
        "Выполнено",
        "Просрочено",
        "Ошибок",
        "% выполнения",
        "Изменено",
        "Синхронизация",
    ]
    one, two, failed, done, skipped = as_dicts(sheet)
    assert one["Мероприятий"] == 4 and one["Выполнено"] == 1 and one["Ошибок"] == 1
    assert one["% выполнения"] == pytest.approx(1 / 3)
    assert one["Изменено"] == datetime(2022, 2, 28, 17, 5)
    assert one["Синхронизация"] == "01.03.2022 02:00"
    assert two["Синхронизация"] == "01.03.2022 02:01 (без изменений)"
    assert two["% выполнения"] == 0.5
    assert failed["Мероприятий"] == 0 and failed["% выполнения"] == 0
    assert failed["Синхронизация"] == "не прочитан: файл повреждён"
    assert skipped["Синхронизация"] == "файл открыт — пропущен"
    assert done["% выполнения"] == 1
    assert sheet.number_formats == {6: "0%", 7: "DD.MM.YYYY HH:MM"}
    # «% выполнения» red only below the threshold (50 % by default: 33 % yes, 50 % no), with a
    # data bar for every share; «Просрочено» red when above zero. The legend says both.
    assert sheet.fills == {(0, 6): "FFC7CE", (1, 4): "FFC7CE"}
    assert sheet.chart_column == 6 and sheet.data_bar_column == 6
    assert any("ниже 50%" in text for _fill, text in sheet.legend)
    lower = master(school_one(), school_two(), low_percent=0.3).sheet("Школы")
    assert lower.fills == {(1, 4): "FFC7CE"}
    assert any("ниже 30%" in text for _fill, text in lower.legend)


def test_rows_sheet_takes_plan_text_from_the_plan() -> None:
    one = school_one()
    edited = RowReport(
        A1, 5, {"activity": "Школа переписала текст", "status": "Выполнено"}, ctl("done")
    )
    one.rows[0] = edited
    sheet = master(one, failed_school()).sheet("Мероприятия")
    assert sheet.headers == [
        "Школа",
        "№",
        "Мероприятие",
        "Сроки исполнения",
        "Срок (дата)",
        "Статус",
        "Контроль",
        "Отметка МОУО",
        "Комментарий МОУО",
        "Проверка",
        "Дата выполнения",
        "Подтверждающий документ",
        "Ответственный в ОО",
        "Комментарий",
        "Раздел",
        "Ответственные исполнители",
        "Планируемый результат",
        "Ключ строки",
    ]
    rows = as_dicts(sheet)
    assert len(rows) == 4  # the failed school has no rows here
    assert rows[0]["Мероприятие"] == A1.activity
    assert rows[0]["Срок (дата)"] == A1.due
    assert rows[0]["Контроль"] == "Выполнено"
    own = rows[3]
    assert (own["№"], own["Мероприятие"], own["Статус"]) == (
        "4",
        "Своё мероприятие школы",
        "Не требуется",
    )
    assert sheet.fills[(0, 6)] == "C6EFCE"
    assert sheet.number_formats == {4: "DD.MM.YYYY", 10: "DD.MM.YYYY"}


def test_every_rows_sheet_column_holds_its_own_field() -> None:
    """Each column of «Мероприятия» by its header: plan texts from the plan row when the row is
    matched (the school's copy otherwise), the school's values, the review columns, the key."""
    filled = {
        "no": "9.9",
        "section": "школьный раздел",
        "activity": "школьный текст",
        "responsible": "школьный ответственный",
        "deadline_text": "школьный срок",
        "due": date(2021, 12, 1),
        "planned_result": "школьный результат",
        "status": "В работе",
        "done_on": date(2021, 11, 2),
        "evidence": "Приказ № 7",
        "executor": "Петрова",
        "comment": "комментарий школы",
        "review": "Принято",
    }
    sheet = master(report("Школа", [row(A1, "soon", **filled), row(None, "soon", **filled)]))
    planned, own = as_dicts(sheet.sheet("Мероприятия"))
    by_header = {
        "№": "no",
        "Мероприятие": "activity",
        "Сроки исполнения": "deadline_text",
        "Срок (дата)": "due",
        "Раздел": "section",
        "Ответственные исполнители": "responsible",
        "Планируемый результат": "planned_result",
    }
    for header, key in by_header.items():
        assert planned[header] == getattr(A1, key), header
        assert own[header] == filled[key], header
    school_fields = {
        "Статус": "status",
        "Дата выполнения": "done_on",
        "Подтверждающий документ": "evidence",
        "Ответственный в ОО": "executor",
        "Комментарий": "comment",
        "Отметка МОУО": "review",  # no review decided: the school's cell as read
    }
    for line in (planned, own):
        assert line["Школа"] == "Школа" and line["Контроль"] == ctl("soon").value
        for header, key in school_fields.items():
            assert line[header] == filled[key], header
        assert line["Комментарий МОУО"] is None and line["Проверка"] is None
        assert str(line["Ключ строки"]).startswith('["Школа"')


def test_overdue_sheet_is_the_overdue_subset() -> None:
    m = master(school_one(), school_two(), failed_school())
    overdue = m.sheet("Просрочено")
    assert overdue.headers == m.sheet("Мероприятия").headers
    assert [(r[0], r[2], r[6]) for r in overdue.rows] == [
        ("МКОУ ООШ с. Берёзовка", A1.activity, "Просрочено")
    ]
    assert overdue.fills == {(0, 6): "FFC7CE"}


def test_problems_sheet_puts_errors_first() -> None:
    sheet = master(school_one(), school_two()).sheet("Ошибки")
    assert sheet.headers == ["Школа", "Важность", "Лист", "Ячейка", "Сообщение"]
    assert sheet.rows == [
        ["МБОУ СОШ № 1", "ошибка", "Паспорт ОО", "B5", "Нет почты"],
        ["МКОУ ООШ с. Берёзовка", "ошибка", "Дорожная карта", "I5", "Нет даты"],
        ["МБОУ СОШ № 1", "предупреждение", "Дорожная карта", "B8", "Своё мероприятие"],
    ]


def test_passports_sheet() -> None:
    sheet = master(school_one(), failed_school(), coordinator()).sheet("Паспорта")
    assert sheet.headers == ["Школа", *(f.label for f in SPEC.passport)]
    rows = as_dicts(sheet)
    assert [r["Школа"] for r in rows] == ["МБОУ СОШ № 1", "МБОУ СОШ № 3"]  # no coordinator
    assert rows[0]["Полное наименование ОО"] == "Муниципальное бюджетное ОУ № 1"
    assert rows[0]["Количество обучающихся"] == 512
    assert rows[0]["Телефон"] == "+7 999"
    assert rows[0]["Руководитель (ФИО)"] is None
    assert all(v is None for v in list(rows[1].values())[1:])


def test_no_reports_still_gives_every_sheet() -> None:
    m = master()
    assert len(m.sheets) == 8
    assert m.sheet("Школы").rows == []
    assert len(m.sheet("Свод").rows) == len(PLAN.items)
    with pytest.raises(KeyError):
        m.sheet("Нет такого")


def test_category_falls_back_to_the_passport() -> None:
    r = report("СОШ № 2", [], category="", passport={"category": "ШНСУ"})
    assert master(r).sheet("Школы").rows[0][1] == "ШНСУ"


def test_same_name_and_id_still_distinct() -> None:
    same = [report("СОШ", [], id="x") for _ in range(3)]
    assert master(*same).sheet("Свод").headers[4:7] == ["СОШ", "СОШ (x)", "СОШ (2)"]


def test_times_are_shown_in_the_municipality_zone() -> None:
    from datetime import UTC
    from zoneinfo import ZoneInfo

    one = school_one()
    one.modified = datetime(2022, 2, 28, 20, 5, tzinfo=UTC)
    one.synced_at = datetime(2022, 2, 28, 20, 12, tzinfo=UTC)
    chita = ZoneInfo("Asia/Chita")  # UTC+9: 20:12 UTC is 05:12 the next morning
    m = master(one, as_of=datetime(2022, 2, 28, 20, 30, tzinfo=UTC), zone=chita)
    assert m.subtitle.endswith("по состоянию на 01.03.2022 05:30 (Asia/Chita)")
    row = as_dicts(m.sheet("Школы"))[0]
    assert row["Синхронизация"] == "01.03.2022 05:12"
    assert row["Изменено"].replace(tzinfo=None) == datetime(2022, 3, 1, 5, 5)
