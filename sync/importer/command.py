"""`roadmap-sync import-plan`: the Russian report and the plan file written from an ImportResult."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from sync.importer.readers import import_file
from sync.importer.types import (
    CHECK_COLUMN,
    COLUMN_TITLES,
    CONFIDENCE_THRESHOLD,
    KEYS,
    NO_SECTION,
    PLAN_KEYS,
    ImportFileError,
    ImportResult,
    label,
)
from sync.model import Audience, Period
from sync.plan import PLAN_SHEET, plan_rows, write_plan


def summary(result: ImportResult, output: Path | None = None) -> str:
    """The Russian report import-plan prints."""
    lines = [f"Импорт дорожной карты: {result.source}"]
    if not result.found_table:
        lines.append(
            "Таблица дорожной карты не найдена: нет строки заголовков, где есть «Мероприятие» и "
            "хотя бы два из столбцов «№ п/п», «Сроки», «Ответственные», «Результат»."
        )
        return "\n".join(lines)
    period = str(result.period) if result.period else "не определён"
    lines.append(f"Период: {period} — {result.period_source}")
    lines.append(
        "Столбцы: "
        + "; ".join(
            f"{COLUMN_TITLES[k]} ← «{result.columns[k]}»"
            for k in (*PLAN_KEYS, *KEYS)
            if k in result.columns
        )
    )
    lines.extend(_item_lines(result))
    if result.recognised:
        lines.extend(_ocr_lines(result))
    lines.extend(_deadline_lines(result))
    for title, entries in (
        ("Строки, в которых импорт не уверен", result.unsure),
        ("Не размещено (в план не попало)", result.unplaced),
        ("Замечания", result.notes),
    ):
        if entries:
            lines.append(f"{title} ({len(entries)}):")
            lines.extend(f"  {e}" for e in entries)
    if output is not None:
        lines.append(f"План записан: {output}")
    return "\n".join(lines)


def _item_lines(result: ImportResult) -> list[str]:
    lines = [f"Мероприятий: {len(result.items)}"]
    if result.items:
        lines.append("По разделам:")
        for section, count in result.sections.items():
            lines.append(f"  {section or NO_SECTION}: {count}")
        schools = sum(1 for i in result.items if i.audience is Audience.SCHOOLS)
        lines.append(f"Для школ (ОО): {schools}; только для МОУО: {len(result.items) - schools}")
    return lines


def _ocr_lines(result: ImportResult) -> list[str]:
    lines = [
        "Текст распознан с изображения (Tesseract): перед рассылкой сверьте план с документом."
    ]
    check = result.to_check
    if check:
        lines.append(
            f"Проверьте ({len(check)}) — распознано неуверенно (меньше "
            f"{CONFIDENCE_THRESHOLD:.0f}%), в плане отмечено в столбце «{CHECK_COLUMN}»:"
        )
        lines.extend(f"  {label(i.section, i.no)}: {c:.0f}%" for i, c in check)
    elif result.items:
        lines.append(f"Все строки распознаны уверенно (не меньше {CONFIDENCE_THRESHOLD:.0f}%).")
    return lines


def _deadline_lines(result: ImportResult) -> list[str]:
    unread = result.unread_deadlines
    if unread:
        return [
            f"Сроки не прочитаны ({len(unread)}), укажите «Срок (дата)» в плане вручную:",
            *(f"  {label(i.section, i.no)}: «{i.deadline_text}»" for i in unread),
        ]
    return ["Все сроки прочитаны."] if result.items else []


_PLAN_SUFFIXES = (".tsv", ".csv", ".txt", ".xlsx")


def write_checked_plan(result: ImportResult, output: Path) -> None:
    """The plan with a first column «Проверить»: «проверьте (62%)» on rows OCR was unsure of.

    load_plan ignores the extra column; in .xlsx those rows are also filled yellow.
    """
    rows = plan_rows(result.items)
    rows[0].insert(0, CHECK_COLUMN)  # first, where the coordinator looks first
    unsure = {id(item): c for item, c in result.to_check}
    for row, item in zip(rows[1:], result.items, strict=True):
        c = unsure.get(id(item))
        row.insert(0, f"проверьте ({c:.0f}%)" if c is not None else "")
    output = Path(output)
    if output.suffix.lower() in (".xlsx", ".xlsm"):
        from openpyxl import load_workbook
        from openpyxl.styles import PatternFill

        from sync.backends.xlsxio import write_grid

        write_grid(output, PLAN_SHEET, rows)
        wb = load_workbook(output)
        ws = wb.active
        assert ws is not None
        yellow = PatternFill("solid", fgColor="FFF2CC")
        ws.column_dimensions["A"].width = 18
        for r, row in enumerate(rows[1:], start=2):
            if row[0]:
                for c in range(1, len(row) + 1):
                    ws.cell(r, c).fill = yellow
        wb.save(output)
        return
    buf = io.StringIO()
    csv.writer(buf, "excel" if output.suffix.lower() == ".csv" else "excel-tab").writerows(rows)
    output.write_text(buf.getvalue(), encoding="utf-8")


def import_plan_command(file: Path, output: Path, period: Period | None) -> tuple[int, str]:
    """`roadmap-sync import-plan`: (exit code, Russian report); writes the plan only on success.

    0 — the plan is written; 1 — no roadmap table (or no period) in the document;
    2 — the document cannot be read or the plan cannot be written.
    """
    file, output = Path(file), Path(output)
    if output.suffix.lower() not in _PLAN_SUFFIXES:
        return 2, f"Файл плана должен быть .tsv, .csv или .xlsx, а не «{output.name}»."
    try:
        result = import_file(file, period)
    except ImportFileError as e:
        return 2, str(e)
    if not result.found_table:
        return 1, summary(result)
    if result.period is None:
        return 1, summary(result) + "\nПлан не записан: укажите период параметром --period."
    if not result.items:
        return 1, summary(result) + "\nПлан не записан: в таблице не найдено ни одного мероприятия."
    try:
        if result.recognised:
            write_checked_plan(result, output)
        else:
            write_plan(result.items, output)
    except OSError as e:
        return 2, summary(result) + f"\nНе удалось записать план в {output}: {e.strerror or e}."
    return 0, summary(result, output)
