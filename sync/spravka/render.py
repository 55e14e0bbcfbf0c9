"""The справка as files: the department's .docx template filled by docxtpl, and an .xlsx twin."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

from sync.consolidate import Master, MasterSheet
from sync.fileio import write_atomically

from .chart import progress_chart
from .data import ActivityLine, ChangeLine, Line, Spravka, ru_date
from .template import DEFAULT_TEMPLATE

BLANK = "____________________"
CONCLUSIONS = "[Выводы и предложения координатор дописывает перед подписанием справки.]"
NO_ROWS = {"overdue": "Просроченных мероприятий нет.", "not_done": "Невыполненных мероприятий нет."}


class SpravkaError(Exception):
    """The справка cannot be made (template broken, no data); str() is Russian."""


def _line(line: Line) -> dict[str, Any]:
    return {
        "name": line.name,
        "category": line.category,
        "activities": line.activities,
        "done": line.done,
        "overdue": line.overdue,
        "not_done": line.not_done,
        "percent": line.percent,
        "note_text": f" ({line.note})" if line.note else "",
    }


def _activities(lines: list[ActivityLine], empty: str) -> list[dict[str, Any]]:
    if not lines:
        return [{"n": "", "school": empty, "no": "", "activity": "", "due": "", "comment": ""}]
    return [
        {
            "n": n,
            "school": a.school,
            "no": a.no,
            "activity": a.activity,
            "due": a.due,
            "comment": a.comment or "пояснения нет",
        }
        for n, a in enumerate(lines, start=1)
    ]


def headline(s: Spravka) -> list[tuple[str, str]]:
    """Таблица 1: the headline numbers, as (what, value) lines."""
    t = s.total
    return [
        ("Школ, реализующих дорожную карту", str(s.schools_count)),
        ("Мероприятий в книгах школ и МОУО, всего", str(t.activities)),
        ("Выполнено", f"{t.done} ({t.percent})"),
        ("Просрочено (срок прошёл, выполнение не отмечено)", str(t.overdue)),
        ("Не выполнено (с указанием причин — таблица 5)", str(t.not_done)),
        ("На проверке МОУО (выполнено, отметки МОУО нет)", str(s.on_review)),
        ("Принято МОУО", str(s.accepted)),
        ("На доработке", str(s.rework)),
    ]


REVIEW_NOTE = (
    "Отметки МОУО («Принято», «На доработке») взяты из столбца «Отметка МОУО» книг школ, где их"
    " ставит координатор; «На проверке» — выполненные мероприятия без такой отметки."
)


def _signed(delta: str, before: int | None, now: int) -> str:
    was = "—" if before is None else str(before)
    return f"было {was}, стало {now} ({delta})"


def _change(c: ChangeLine) -> dict[str, Any]:
    return {
        "name": c.name,
        "done_before": "—" if c.done_before is None else c.done_before,
        "done_now": c.done_now,
        "done_delta": c.done_delta,
        "overdue_before": "—" if c.overdue_before is None else c.overdue_before,
        "overdue_now": c.overdue_now,
        "overdue_delta": c.overdue_delta,
    }


def context(spravka: Spravka, settings: Any, department: str) -> dict[str, Any]:
    """What the template's placeholders are filled with (images are added by `render_docx`)."""
    s = spravka
    total_change = s.changes[-1] if s.changes else None
    return {
        "department": department,
        "municipality": s.municipality,
        "period_start": ru_date(s.period_start),
        "period_end": ru_date(s.period_end),
        "date": ru_date(s.as_of),
        "not_read": ", ".join(s.not_read),
        "headline": [{"name": n, "value": v} for n, v in headline(s)],
        "review_note": REVIEW_NOTE,
        "sections": [_line(x) for x in s.sections],
        "schools": [_line(x) for x in s.schools],
        "total": _line(s.total),
        "overdue": _activities(s.overdue, NO_ROWS["overdue"]),
        "not_done": _activities(s.not_done, NO_ROWS["not_done"]),
        "previous": ru_date(s.previous.as_of) if s.previous else "",
        "change_done": (
            _signed(total_change.done_delta, total_change.done_before, total_change.done_now)
            if total_change
            else ""
        ),
        "change_overdue": (
            _signed(
                total_change.overdue_delta, total_change.overdue_before, total_change.overdue_now
            )
            if total_change
            else ""
        ),
        "changes": [_change(c) for c in s.changes[:-1]],
        "change_total": _change(s.changes[-1]) if s.changes else {},
        "conclusions": CONCLUSIONS,
        "signer_position": getattr(settings, "signer_position", "") or BLANK,
        "signer": getattr(settings, "signer", "") or BLANK,
    }


def render_docx(
    spravka: Spravka, template: Path | None, values: dict[str, Any], output: Path
) -> None:
    """Fill the template (the default one when None) and write the .docx atomically."""
    import jinja2
    from docx.opc.exceptions import PackageNotFoundError
    from docx.shared import Mm
    from docxtpl import DocxTemplate, InlineImage

    source = template or DEFAULT_TEMPLATE
    try:
        tpl = DocxTemplate(str(source))
        tpl.init_docx()
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, OSError) as e:
        raise SpravkaError(
            f"Шаблон справки {source} не открывается как документ Word (.docx): {e}"
        ) from None
    values = dict(values)
    values["chart_sections"] = InlineImage(
        tpl,
        io.BytesIO(progress_chart(spravka.sections, "Доля мероприятий по разделам")),
        width=Mm(160),
    )
    values["chart_schools"] = InlineImage(
        tpl,
        io.BytesIO(progress_chart(spravka.schools, "Доля мероприятий по школам")),
        width=Mm(160),
    )
    try:
        tpl.render(values, autoescape=True)
    except jinja2.TemplateError as e:
        lineno = getattr(e, "lineno", None)
        line = f", строка {lineno}" if lineno else ""
        raise SpravkaError(
            f"Ошибка в шаблоне справки {source.name}{line}: {e}. Проверьте поля в фигурных"
            " скобках ({{ … }}, {% … %})."
        ) from None
    keep_tables_together(tpl.docx)
    write_atomically(output, tpl.save)


# A table whose estimated height is at most this is never split across pages (a third of an
# A4 page's text height); longer ones break between rows and repeat their header row.
SMALL_TABLE_CM = 9.0
LINE_CM = 0.5  # one line of 12 pt table text with the cell padding
CHARS_PER_CM = 5.0  # Times New Roman 12 pt, on average


def table_height_cm(table: Any) -> float:
    """A rough height of a filled table: each row as tall as its longest cell's wrapped text."""
    from docx.shared import Cm

    total = 0.0
    for row in table.rows:
        lines = 1
        for cell in row.cells:
            width = (cell.width or Cm(3)) / Cm(1)
            per_line = max(1, int(width * CHARS_PER_CM))
            for paragraph in cell.paragraphs:
                lines_here = max(1, -(-len(paragraph.text) // per_line))
                lines = max(lines, lines_here * max(1, len(cell.paragraphs)))
        total += lines * LINE_CM
    return total


def keep_tables_together(doc: Any) -> None:
    """No row is split across pages; a small table is kept whole on one page (every row keeps
    with the next, as Word and LibreOffice both understand). Long tables break between rows
    and repeat their header row."""
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    for table in doc.tables:
        rows = table.rows
        small = table_height_cm(table) <= SMALL_TABLE_CM
        for n, row in enumerate(rows):
            trpr = row._tr.get_or_add_trPr()
            if trpr.find(qn("w:cantSplit")) is None:
                trpr.append(OxmlElement("w:cantSplit"))
            if small and n < len(rows) - 1:
                for cell in row.cells:
                    for paragraph in cell.paragraphs:
                        paragraph.paragraph_format.keep_with_next = True


def spravka_workbook(spravka: Spravka) -> Master:
    """The same tables as the .docx, as master-style sheets (written by the master's builder)."""
    s = spravka
    counts = ["Мероприятий", "Выполнено", "Просрочено", "Не выполнено", "% выполнения"]

    def numbers(line: Line) -> list[Any]:
        share = round(line.share, 4) if line.counted else None
        return [line.activities, line.done, line.overdue, line.not_done, share]

    def activities(lines: list[ActivityLine]) -> list[list[Any]]:
        return [[a.school, a.no, a.activity, a.due, a.comment] for a in lines]

    sheets = [
        MasterSheet(
            "Показатели",
            ["Показатель", "Значение"],
            [[n, v] for n, v in headline(s)],
            widths=[55, 18],
        ),
        MasterSheet(
            "Разделы",
            ["Раздел", *counts],
            [[x.name, *numbers(x)] for x in [*s.sections, s.total]],
            widths=[50, 13, 12, 12, 13, 13],
            number_formats={5: "0%"},
        ),
        MasterSheet(
            "Школы",
            ["Школа", "Категория", *counts],
            [[x.name, x.category, *numbers(x)] for x in [*s.schools, s.total]],
            widths=[40, 14, 13, 12, 12, 13, 13],
            number_formats={6: "0%"},
        ),
        MasterSheet(
            "Просрочено",
            ["Школа", "№ п/п", "Мероприятие", "Срок", "Пояснение школы"],
            activities(s.overdue),
            widths=[36, 8, 60, 14, 40],
        ),
        MasterSheet(
            "Не выполнено",
            ["Школа", "№ п/п", "Мероприятие", "Срок", "Причина (комментарий школы)"],
            activities(s.not_done),
            widths=[36, 8, 60, 14, 40],
        ),
    ]
    if s.previous is not None:
        sheets.append(
            MasterSheet(
                "Изменения",
                [
                    "Школа",
                    "Выполнено: было",
                    "стало",
                    "изменение",
                    "Просрочено: было",
                    "стало",
                    "изменение",
                ],
                [
                    [
                        c.name,
                        c.done_before,
                        c.done_now,
                        c.done_delta,
                        c.overdue_before,
                        c.overdue_now,
                        c.overdue_delta,
                    ]
                    for c in s.changes
                ],
                widths=[40, 16, 10, 12, 17, 10, 12],
            )
        )
    title = f"Справка по дорожной карте: {s.municipality}, на {s.as_of:%d.%m.%Y}"
    return Master(sheets=sheets, title=title)


def render_xlsx(spravka: Spravka, output: Path) -> None:
    from sync.builders.master_xlsx import write_master_xlsx

    write_master_xlsx(spravka_workbook(spravka), output)
