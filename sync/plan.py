"""The municipal plan: which activities, for whom, by when.

A plan file is CSV, TSV or XLSX with the Russian headers below (any order, any case). The column
"Для кого" is optional: "ОО" or "МОУО" overrides the choice made from the responsible text.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from datetime import date
from pathlib import Path

from sync.cells import cell_date
from sync.deadlines import parse as parse_deadline
from sync.model import (
    Audience,
    CellValue,
    DeadlineKind,
    Period,
    Plan,
    PlanItem,
    Problem,
)
from sync.problems import PLAN_DEADLINE_UNKNOWN, PLAN_DUPLICATE_ROW
from sync.spec import normalize_header
from sync.text import fold

PLAN_SHEET = "План"

# Plan file columns: key -> (header, aliases)
PLAN_COLUMNS: dict[str, tuple[str, tuple[str, ...]]] = {
    "section": ("Раздел", ()),
    "no": ("№ п/п", ("№", "номер")),
    "activity": ("Мероприятие", ("наименование мероприятия", "мероприятия")),
    "responsible": ("Ответственные исполнители", ("ответственный", "ответственные")),
    "deadline_text": ("Сроки исполнения", ("сроки", "сроки реализации")),
    "due": ("Срок (дата)", ("срок",)),
    "planned_result": ("Планируемый результат", ("ожидаемый результат", "планируемые результаты")),
    "audience": ("Для кого", ("кому",)),
}
REQUIRED_PLAN_COLUMNS = ("no", "activity", "responsible", "deadline_text")

AUDIENCE_VALUES = {
    "оо": Audience.SCHOOLS,
    "школы": Audience.SCHOOLS,
    "школам": Audience.SCHOOLS,
    "моуо": Audience.COORDINATOR,
    "координатор": Audience.COORDINATOR,
}
AUDIENCE_TEXT = {Audience.SCHOOLS: "ОО", Audience.COORDINATOR: "МОУО"}

# Words in the responsible text that put a row into the schools' workbooks.
_SCHOOL_WORDS = re.compile(
    r"\bоо\b|шнор|шнсу|\bнро\b|фнсу|образовательн\w* организац|общеобразовательн|"
    r"руководител\w* (?:оо|школ|общеобраз|образоват)|\bшкол|директор|педагог|учител|"
    r"заместител\w* директора|\bмо\b",
    re.IGNORECASE,
)


def audience_for(responsible: str) -> Audience:
    """Schools when the responsible text names schools, else the coordinator alone.

    >>> audience_for("МОУО, ШНОР, ШНСУ")
    <Audience.SCHOOLS: 'schools'>
    >>> audience_for("МОУО, экспертный совет")
    <Audience.COORDINATOR: 'coordinator'>
    """
    text = fold(responsible)
    text = re.sub(r"\bмоуо\b", " ", text)
    return Audience.SCHOOLS if _SCHOOL_WORDS.search(text) else Audience.COORDINATOR


def make_item(
    *,
    section: str,
    no: str,
    activity: str,
    responsible: str,
    deadline_text: str,
    planned_result: str,
    period: Period,
    due: date | None = None,
    audience: Audience | None = None,
) -> PlanItem:
    """Build a plan row: parse its deadline, choose its audience, derive its due date."""
    deadline = parse_deadline(deadline_text, period)
    if due is None and deadline.dated:
        due = deadline.end
    return PlanItem(
        section=clean(section),
        no=clean_no(no),
        activity=clean(activity),
        responsible=clean(responsible),
        deadline_text=clean(deadline_text),
        planned_result=clean(planned_result),
        audience=audience or audience_for(responsible),
        deadline=deadline,
        due=due,
    )


def clean(value: object) -> str:
    """Cell text with runs of spaces folded (line breaks kept as single spaces)."""
    if value is None:
        return ""
    return re.sub(r"\s+", " ", str(value)).strip()


def clean_no(value: object) -> str:
    """'1.' -> '1', '1.1.' -> '1.1', 3.0 -> '3'."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return clean(value).rstrip(".")


def plan_problems(plan: Plan) -> list[Problem]:
    """Warnings about the plan itself: deadlines that could not be read, duplicated rows."""
    problems: list[Problem] = []
    seen: set[tuple[str, str]] = set()
    for n, item in enumerate(plan.items, start=2):
        if item.deadline.kind is DeadlineKind.UNKNOWN and item.due is None:
            problems.append(
                PLAN_DEADLINE_UNKNOWN.at(
                    PLAN_SHEET, f"E{n}", "deadline_text", n, no=item.no, deadline=item.deadline_text
                )
            )
        if item.key in seen:
            problems.append(
                PLAN_DUPLICATE_ROW.at(
                    PLAN_SHEET, f"B{n}", "no", n, no=item.no, section=item.section
                )
            )
        seen.add(item.key)
    return problems


class PlanFileError(Exception):
    """The plan file cannot be used at all; the message is Russian."""


def items_from_grid(grid: Sequence[Sequence[CellValue]], period: Period) -> list[PlanItem]:
    """Plan rows from a grid whose first non-empty row is the header."""
    rows = [list(r) for r in grid if any(clean(v) for v in r)]
    if not rows:
        raise PlanFileError("Файл плана пуст.")
    header = [normalize_header(h) for h in rows[0]]
    where: dict[str, int] = {}
    for key, (name, aliases) in PLAN_COLUMNS.items():
        for candidate in (name, *aliases):
            n = normalize_header(candidate)
            if n in header:
                where[key] = header.index(n)
                break
    missing = [PLAN_COLUMNS[k][0] for k in REQUIRED_PLAN_COLUMNS if k not in where]
    if missing:
        raise PlanFileError(
            "В файле плана нет столбцов: " + ", ".join(f"«{m}»" for m in missing) + "."
        )

    def get(row: list[CellValue], key: str) -> CellValue:
        i = where.get(key)
        return row[i] if i is not None and i < len(row) else None

    items = []
    for line, row in enumerate(rows[1:], start=2):
        aud_text = clean(get(row, "audience")).lower()
        audience = AUDIENCE_VALUES.get(aud_text) if aud_text else None
        if aud_text and audience is None:
            raise PlanFileError(
                f"Строка {line}: в столбце «Для кого» значение «{aud_text}»;"
                " допустимо «ОО» или «МОУО»."
            )
        try:
            due = cell_date(get(row, "due"))
        except ValueError as e:
            raise PlanFileError(
                f"Строка {line}: «Срок (дата)» — «{e}» не дата (ожидается ДД.ММ.ГГГГ)."
            ) from None
        items.append(
            make_item(
                section=str(get(row, "section") or ""),
                no=str(clean_no(get(row, "no"))),
                activity=str(get(row, "activity") or ""),
                responsible=str(get(row, "responsible") or ""),
                deadline_text=str(get(row, "deadline_text") or ""),
                planned_result=str(get(row, "planned_result") or ""),
                period=period,
                due=due,
                audience=audience,
            )
        )
    return items


def load_plan(path: Path, period: Period) -> Plan:
    """Read a plan file (.csv, .tsv, .txt or .xlsx)."""
    path = Path(path)
    if not path.exists():
        raise PlanFileError(f"Файл плана не найден: {path}")
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        from sync.backends.xlsxio import read_first_sheet

        try:
            grid = read_first_sheet(path)
        except Exception as e:  # calamine raises its own types for every kind of damage
            raise PlanFileError(
                f"Файл плана {path.name} повреждён или не является книгой Excel"
                f" ({type(e).__name__})."
            ) from None
    elif suffix in (".csv", ".tsv", ".txt"):
        grid = read_delimited(decode_text(path.read_bytes()), tab=suffix != ".csv")
    else:
        raise PlanFileError(
            f"Неизвестный формат файла плана: {path.name} (нужен .csv, .tsv или .xlsx)"
        )
    return Plan(period, tuple(items_from_grid(grid, period)))


def decode_text(data: bytes) -> str:
    """UTF-8 (with or without BOM), else Windows-1251: what Excel's "CSV" gives in Russia."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1251", errors="replace")


def read_delimited(text: str, *, tab: bool) -> list[list[CellValue]]:
    dialect = "excel-tab" if tab else "excel"
    if not tab:
        try:
            dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;")  # type: ignore[assignment]
        except csv.Error:
            dialect = "excel"
    return [list(r) for r in csv.reader(io.StringIO(text), dialect)]


def plan_values(item: PlanItem) -> dict[str, CellValue]:
    """A plan row's cells by column key (the template's plan-filled keys; «due» a date or None).

    The one PlanItem -> columns mapping: the school workbook builders (.xlsx and Google) and the
    plan file all lay a row out from it.
    """
    return {
        "no": item.no,
        "section": item.section,
        "activity": item.activity,
        "responsible": item.responsible,
        "deadline_text": item.deadline_text,
        "due": item.due,
        "planned_result": item.planned_result,
    }


def plan_rows(items: Iterable[PlanItem]) -> list[list[str]]:
    """The plan as rows of text, with the header, for writing a plan file."""
    keys = list(PLAN_COLUMNS)
    out = [[PLAN_COLUMNS[k][0] for k in keys]]
    for i in items:
        texts = {
            **plan_values(i),
            "due": i.due.strftime("%d.%m.%Y") if i.due else "",
            "audience": AUDIENCE_TEXT[i.audience],
        }
        out.append([str(texts[k]) for k in keys])
    return out


def write_plan(items: Iterable[PlanItem], path: Path) -> None:
    """Write a plan file; the format follows the suffix (.tsv, .csv or .xlsx)."""
    rows = plan_rows(items)
    path = Path(path)
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        from sync.backends.xlsxio import write_grid

        write_grid(path, PLAN_SHEET, rows)
        return
    buf = io.StringIO()
    csv.writer(buf, "excel" if path.suffix.lower() == ".csv" else "excel-tab").writerows(rows)
    path.write_text(buf.getvalue(), encoding="utf-8")
