"""Test data: a small plan and school workbooks laid out as the template spec orders them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime

from sync.model import CellValue, Period, Plan, RawWorkbook, School
from sync.plan import make_item
from sync.spec import TemplateSpec

PERIOD = Period(date(2021, 9, 1), date(2022, 8, 31))
SECTION_1 = "1. Нормативно-правовое обеспечение"
SECTION_2 = "2. Методическое обеспечение"
SCHOOL = School(id="sch-07", name="МБОУ «СОШ № 7»", category="ШНОР")
OTHER_SCHOOL = School(id="sch-12", name="МБОУ «СОШ № 12»", category="ШНСУ")

VALID_PASSPORT: dict[str, CellValue] = {
    "full_name": "Муниципальное бюджетное общеобразовательное учреждение «СОШ № 7»",
    "category": "ШНОР",
    "head": "Иванова Мария Петровна",
    "phone": "+7 3412 55-12-07",
    "email": "school7@example.ru",
    "quality_officer": "Петров И. С., заместитель директора",
    "quality_order": "Приказ № 45 от 12.10.2021",
    "pupils": 412,
    "teachers": 31,
    "locality": "село Малая Пурга",
    "notes": "",
}


def small_plan(period: Period = PERIOD) -> Plan:
    """Five plan rows: four for schools (two sections numbered from 1), one for the МОУО."""
    rows = [
        (
            SECTION_1,
            "1",
            "Назначение ответственного за обеспечение качества образования",
            "Руководители ОО",
            "До 1 октября 2021 г",
            "Приказ",
        ),
        (SECTION_1, "2", "Анализ результатов ВПР", "ШНОР, ШНСУ", "в течение года", "Справка"),
        (
            SECTION_1,
            "3",
            "Утверждение муниципальной программы",
            "МОУО",
            "Сентябрь 2021 г",
            "Приказ МОУО",
        ),
        (
            SECTION_2,
            "1",
            "Разработка программы повышения качества образования",
            "Руководители ОО",
            "Февраль",
            "Программа",
        ),
        (SECTION_2, "2", "Участие в семинарах ММС", "Педагоги ОО", "По графику", "Сертификаты"),
    ]
    items = tuple(
        make_item(
            section=s,
            no=no,
            activity=a,
            responsible=r,
            deadline_text=d,
            planned_result=p,
            period=period,
        )
        for s, no, a, r, d, p in rows
    )
    return Plan(period, items)


def meta_values(plan: Plan, school: School, spec: TemplateSpec) -> dict[str, str]:
    """What the builder writes to the service sheet."""
    return {
        "template_version": spec.version,
        "school_id": school.id,
        "school_name": school.name,
        "plan_hash": plan.digest(school.audience),
        "period": str(plan.period),
        "audience": school.audience.value,
        "built_at": "2021-09-10T08:00:00+04:00",
    }


def raw_school_workbook(
    plan: Plan,
    school: School,
    spec: TemplateSpec,
    fills: Mapping[int | tuple[str, str], Mapping[str, CellValue]] | None = None,
    *,
    passport: Mapping[str, CellValue] | None = None,
    meta: Mapping[str, str | None] | None = None,
    with_meta: bool = True,
    with_passport: bool = True,
) -> RawWorkbook:
    """A school's workbook as calamine returns it: header in row 1, plan rows from row 2.

    fills: school columns by sheet row (2 is the first plan row) or by plan row key (section, no).
    passport: values by passport key (a complete valid passport by default); meta: service sheet
    values replacing the builder's (None removes a key).
    """
    fills = fills or {}
    keys = [c.key for c in spec.columns]
    grid: list[list[CellValue]] = [[c.header for c in spec.columns]]
    for n, item in enumerate(plan.for_audience(school.audience), start=2):
        fill = {**fills.get(item.key, {}), **fills.get(n, {})}
        plan_values: dict[str, CellValue] = {
            "no": item.no,
            "section": item.section,
            "activity": item.activity,
            "responsible": item.responsible,
            "deadline_text": item.deadline_text,
            "due": datetime(item.due.year, item.due.month, item.due.day) if item.due else "",
            "planned_result": item.planned_result,
        }
        grid.append([fill.get(k, plan_values.get(k, "")) for k in keys])

    sheets: dict[str, list[list[CellValue]]] = {spec.main_sheet: grid}
    if with_passport:
        values = dict(VALID_PASSPORT if passport is None else passport)
        # As the builder writes it: required labels marked " *", a note two rows below.
        sheets[spec.passport_sheet] = [
            ["Поле", "Значение"],
            *[
                [f.label + (" *" if f.required else ""), values.get(f.key, "")]
                for f in spec.passport
            ],
            ["", ""],
            ["* — обязательные поля", ""],
        ]
    sheets[spec.instructions_sheet] = [[spec.instructions_title], *[[x] for x in spec.instructions]]
    if with_meta:
        values_meta: dict[str, str | None] = {**meta_values(plan, school, spec), **(meta or {})}
        sheets[spec.meta_sheet] = [[k, v] for k, v in values_meta.items() if v is not None]
    return RawWorkbook(sheets)
