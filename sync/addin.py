"""The Excel add-in's buttons: the ribbon tab «Дорожная карта» calls these through xlwings.

Each button calls the same core functions as the CLI and the scheduler (`locate`, `check_school`,
`paint_school`, `pipeline.run`); this module only moves data between the open workbook
(sync.backends.excel.book) and the core, and says what happened in a short Russian message.

For a school's workbook: `check` («Проверить»), `refresh_statuses` («Обновить статусы»), `send`
(«Отправить»). For the coordinator's master: `sync_now` («Синхронизировать»), `open_school`
(«Открыть школу»). The VBA in macros/RoadmapSync.bas calls each one as
`sync.addin.<name>(host='<the workbook holding the macros>')`.

The configuration is the TOML file the CLI reads, found at $ROADMAP_SYNC_CONFIG or
~/.roadmap-sync/config.toml. «Проверить» and «Обновить статусы» also work without one.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import webbrowser
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING

from sync.backends.base import Backend, SourceError
from sync.backends.excel.backend import OpenMasterBackend
from sync.backends.excel.book import (
    BookError,
    OpenBook,
    PaintResult,
    Selection,
    caller_book,
)
from sync.backends.excel.inbox import carry_values, deliver, plain_xlsx, read_bytes
from sync.backends.folder import FolderBackend
from sync.cells import column_letter
from sync.config import Config, ConfigError, load_config
from sync.consolidate import (
    COORDINATOR_COLUMN,
    HEADER_ROW,
    SUMMARY_SHEET,
    row_key,
    school_summary,
)
from sync.history import History, HistoryError
from sync.model import (
    CellValue,
    Plan,
    Problem,
    RawWorkbook,
    RowReport,
    School,
    SchoolReport,
    SchoolSheet,
    Severity,
)
from sync.paint import Cell, paint_school
from sync.pipeline import RunResult, backend_class, backend_for, load_context, run
from sync.plan import PlanFileError, clean, clean_no
from sync.reader import UnreadableWorkbook, locate
from sync.review import ReviewState, RowKey, RowReview, review_of, row_digest
from sync.spec import TemplateSpec, load_spec
from sync.states import ControlKey, RunOutcome, SchoolOutcome, counts_sentence
from sync.status import fold, rework_control
from sync.validation import check_school

if TYPE_CHECKING:
    import xlwings as xw

log = logging.getLogger("roadmap_sync.addin")

CONFIG_ENV = "ROADMAP_SYNC_CONFIG"
SHOWN_PROBLEMS = 5  # problems listed in a message; the rest are in the notes
SCHOOL_COLUMN = "Школа"  # the first column of the master's per-school sheets
# The «Свод» columns that are not schools (sync.consolidate lays them out).
SUMMARY_FIXED_COLUMNS = frozenset(
    {"№ п/п", "Раздел", "Мероприятие", "Срок (дата)", "Выполнено", "Просрочено"}
)
# Each button: the function the ribbon calls -> the label the ribbon shows.
BUTTONS = {
    "check": "Проверить",
    "refresh_statuses": "Обновить статусы",
    "send": "Отправить",
    "sync_now": "Синхронизировать",
    "open_school": "Открыть школу",
}

Opener = Callable[[str], None]


class AddinError(Exception):
    """A button cannot do its job; str() is the Russian message the alert shows."""


@dataclass(frozen=True)
class ButtonResult:
    """What a button did: whether all went well and the message shown to the person."""

    ok: bool
    message: str


# --- the buttons ---------------------------------------------------------------------------------


def check(
    book: xw.Book | None = None,
    *,
    host: str = "",
    config: Config | None = None,
    today: date | None = None,
) -> ButtonResult:
    """«Проверить»: validate the open school workbook as the nightly sync does and show it.

    Colours the Контроль column, puts every problem into a note on its cell and shows how many
    errors there are and where the first ones are.
    """
    return _press("check", book, lambda b: _check(b, host, config, today, notes=True))


def refresh_statuses(
    book: xw.Book | None = None,
    *,
    host: str = "",
    config: Config | None = None,
    today: date | None = None,
) -> ButtonResult:
    """«Обновить статусы»: recompute the Контроль column for today; notes stay as they are."""
    return _press("refresh_statuses", book, lambda b: _check(b, host, config, today, notes=False))


def send(
    book: xw.Book | None = None,
    *,
    host: str = "",
    config: Config | None = None,
    today: date | None = None,
) -> ButtonResult:
    """«Отправить»: validate the saved workbook and copy it atomically into the inbox.

    A workbook with errors is not sent: the message gives the reasons and the notes show where.
    """
    return _press("send", book, lambda b: _send(b, host, config, today))


def sync_now(
    book: xw.Book | None = None,
    *,
    host: str = "",
    config: Config | None = None,
    today: date | None = None,
) -> ButtonResult:
    """«Синхронизировать»: one sync of every school now (sync.pipeline.run).

    Started from the open master, the master is refreshed in place through xlwings and saved:
    Excel on Windows locks an open workbook's file, so the sync could not replace it.
    """
    return _press("sync_now", book, lambda b: _sync_now(b, host, config, today))


def open_school(
    book: xw.Book | None = None,
    *,
    host: str = "",
    config: Config | None = None,
    opener: Opener | None = None,
) -> ButtonResult:
    """«Открыть школу»: open the workbook (or Google spreadsheet) of the selected row's school."""
    return _press("open_school", book, lambda b: _open_school(b, config, opener or open_target))


def _press(
    name: str, book: xw.Book | None, body: Callable[[xw.Book], ButtonResult]
) -> ButtonResult:
    """Run a button and show its message; every failure becomes a message, never a traceback."""
    target = book if book is not None else caller_book()
    try:
        result = body(target)
    except (AddinError, BookError, ConfigError, PlanFileError) as e:
        result = ButtonResult(False, str(e))
    except Exception as e:
        log.exception("button %s failed", name)
        result = ButtonResult(
            False,
            f"Не удалось выполнить «{BUTTONS[name]}»: {type(e).__name__}: {e}\n\n"
            "Сообщите координатору текст этого сообщения.",
        )
    if not (result.ok and name == "open_school"):  # the opened workbook says enough
        OpenBook(target).alert(result.message, problem=not result.ok)
    return result


# --- configuration and context ------------------------------------------------------------------


def config_path() -> Path:
    """Where the add-in looks for its configuration."""
    explicit = os.environ.get(CONFIG_ENV, "").strip()
    return Path(explicit) if explicit else Path.home() / ".roadmap-sync" / "config.toml"


def find_config() -> Config | None:
    """The configuration, or None when there is none (a path named in the variable must exist)."""
    path = config_path()
    if path.is_file() or os.environ.get(CONFIG_ENV, "").strip():
        return load_config(path)
    return None


def require_config() -> Config:
    """The configuration, for the buttons that cannot work without one."""
    config = find_config()
    if config is None:
        raise AddinError(
            f"Не найден файл настроек {config_path()}. Положите туда файл настроек, полученный "
            f"от координатора, или укажите его путь в переменной среды {CONFIG_ENV}."
        )
    return config


@dataclass(frozen=True)
class _Checked:
    """A school workbook read, located and validated."""

    raw: RawWorkbook
    sheet: SchoolSheet
    school: School | None  # from the configuration; None when it does not know the school
    rows: list[RowReport]
    problems: list[Problem]
    today: date
    # The review marks as the last sync left them (from the history); None when not known here
    reviews: dict[RowKey, RowReview] | None = None
    zone: tzinfo | None = None


def _spec_plan(config: Config | None) -> tuple[TemplateSpec, Plan | None]:
    if config is None:  # a workbook checked without a configuration: the standard template
        return load_spec(None), None
    return load_context(config)


def _locate(raw: RawWorkbook, spec: TemplateSpec) -> SchoolSheet:
    try:
        return locate(raw, spec)
    except UnreadableWorkbook as e:
        raise AddinError(f"Это не книга дорожной карты. {e}") from None


def _school(sheet: SchoolSheet, config: Config | None) -> School | None:
    school_id = sheet.meta.get("school_id", "").strip()
    if config is None or not school_id:
        return None
    return next((s for s in config.all_workbooks() if s.id == school_id), None)


def _school_book(book: OpenBook) -> OpenBook:
    """The open workbook, unless it is the coordinator's master (its sheets look like a roadmap)."""
    if book.is_master():
        raise AddinError(
            "Это свод, а не книга школы. Для свода есть кнопки «Синхронизировать» и «Открыть "
            "школу»; «Проверить» и «Отправить» нажимают в книге школы."
        )
    return book


def _validate(
    raw: RawWorkbook, config: Config | None, today: date | None
) -> tuple[_Checked, TemplateSpec]:
    spec, plan = _spec_plan(config)
    sheet = _locate(raw, spec)
    school = _school(sheet, config)
    today = today or (config.today() if config else date.today())
    soon_days = config.soon_days if config else None
    rows, problems = check_school(sheet, school, plan, spec, today, soon_days)
    reviews = _reviews(config, school, rows)
    if reviews is not None:
        # As the nightly sync shows them: a row sent back and not changed is «На доработке».
        rows = [
            replace(r, control=rework_control(r.control, spec))
            if _state(reviews, school, r) is ReviewState.REWORK
            else r
            for r in rows
        ]
    zone = config.zone if config else None
    return _Checked(raw, sheet, school, rows, problems, today, reviews, zone), spec


def _reviews(
    config: Config | None, school: School | None, rows: Sequence[RowReport]
) -> dict[RowKey, RowReview] | None:
    """Where each row stands in review, from the marks the history recorded and the row now
    (sync.review.review_of): what the nightly sync would show. None without the history (a
    school's computer): then the «Отметка МОУО» cells and their notes are left as they are."""
    if config is None or school is None or not config.history_path.is_file():
        return None
    try:
        with History.open(config.history_path) as history:
            recorded = history.last_marks()
    except HistoryError as e:
        log.warning("Отметки МОУО не прочитаны из истории: %s", e)
        return None
    out: dict[RowKey, RowReview] = {}
    for r in rows:
        key = row_key(school.id, r)
        if key in recorded:
            out[key] = review_of(recorded[key], row_digest(r.values))
    return out


def _state(reviews: dict[RowKey, RowReview], school: School | None, row: RowReport) -> ReviewState:
    seen = reviews.get(row_key(school.id, row)) if school is not None else None
    return seen.state if seen is not None else ReviewState.NOT_REVIEWED


def _paint(
    book: OpenBook,
    checked: _Checked,
    spec: TemplateSpec,
    *,
    notes: bool,
    values: dict[Cell, CellValue] | None = None,
) -> PaintResult:
    meta = checked.sheet.meta
    school = checked.school or School(
        meta.get("school_id", ""),
        meta.get("school_name", ""),
        is_coordinator=meta.get("audience") == "coordinator",
    )
    report = SchoolReport(school, checked.rows, dict(checked.sheet.passport), checked.problems)
    # The buttons never write «Отметка МОУО» nor our notes there: a mark the coordinator just
    # typed is not in the history yet, and the history may not be on this computer at all. The
    # column and its notes stay as they are; the nightly sync writes them («Отправить» sets the
    # inbox's marks through `values`).
    paint = paint_school(report, checked.sheet, spec, None, checked.zone)
    keep = checked.sheet.columns.get("review")
    return book.show_paint(
        paint, checked.sheet, checked.raw, spec, notes=notes, values=values, keep_column=keep
    )


def _try_paint(
    book: OpenBook,
    checked: _Checked,
    spec: TemplateSpec,
    *,
    notes: bool,
    values: dict[Cell, CellValue] | None = None,
) -> PaintResult:
    """The paint shown in the open book; when it cannot be, the reason joins the message."""
    try:
        return _paint(book, checked, spec, notes=notes, values=values)
    except BookError as e:
        return PaintResult(warnings=[str(e)])


# --- «Проверить» and «Обновить статусы» --------------------------------------------------------


def _check(
    target: xw.Book, host: str, config: Config | None, today: date | None, *, notes: bool
) -> ButtonResult:
    config = config if config is not None else find_config()
    password = config.protection_password if config else ""
    book = _school_book(OpenBook(target, host=host, password=password))
    checked, spec = _validate(book.read(), config, today)
    shown = _try_paint(book, checked, spec, notes=notes)
    errors = _errors(checked.problems)
    if notes:
        text = check_message(checked.problems, checked.rows, checked.today)
    else:
        text = status_message(checked.rows, checked.today)
    extra = _unknown_school(checked, config) + _paint_notes(shown)
    return ButtonResult(not errors, "\n\n".join([text, *extra]))


def _errors(problems: Sequence[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity is Severity.ERROR]


def _where(p: Problem) -> str:
    return f"{p.sheet}!{p.cell}" if p.cell else f"лист «{p.sheet}»"


def problem_lines(problems: Sequence[Problem], limit: int = SHOWN_PROBLEMS) -> list[str]:
    """The first problems as «• Лист!A1 — сообщение» lines, then how many more there are."""
    lines = [f"• {_where(p)} — {p.message}" for p in problems[:limit]]
    if len(problems) > limit:
        lines.append(f"…и ещё {len(problems) - limit} (все — в примечаниях к ячейкам).")
    return lines


def status_line(rows: Sequence[RowReport], today: date) -> str:
    """How the Контроль column stands today, in one line."""
    keys = Counter(r.control.key for r in rows)
    parts = [
        f"выполнено {keys[ControlKey.DONE]}",
        f"в срок {keys[ControlKey.ON_TIME]}",
        f"скоро срок {keys[ControlKey.SOON]}",
        f"просрочено {keys[ControlKey.OVERDUE]}",
    ]
    if keys[ControlKey.ERROR]:
        parts.append(f"с ошибками {keys[ControlKey.ERROR]}")
    return f"Контроль на {today:%d.%m.%Y}: " + ", ".join(parts) + "."


def check_message(problems: Sequence[Problem], rows: Sequence[RowReport], today: date) -> str:
    """The «Проверить» summary: how many errors and the first few with their cells."""
    errors = _errors(problems)
    warnings = len(problems) - len(errors)
    if not errors:
        head = "Ошибок нет."
        if warnings:
            head += f" Предупреждений: {warnings} — прочитайте их в примечаниях к ячейкам."
        return f"{head}\n{status_line(rows, today)}"
    head = f"Найдено ошибок: {len(errors)}" + (
        f", предупреждений: {warnings}." if warnings else "."
    )
    return "\n".join(
        [
            head,
            "",
            *problem_lines(errors),
            "",
            "Строки с ошибками отмечены в столбце «Контроль» словом «Ошибка»; наведите курсор "
            "на ячейку с красным уголком, чтобы прочитать замечание.",
        ]
    )


def status_message(rows: Sequence[RowReport], today: date) -> str:
    """The «Обновить статусы» summary."""
    text = f"Статусы обновлены. {status_line(rows, today)}"
    errors = sum(1 for r in rows if r.control.key == ControlKey.ERROR)
    if errors:
        text += (
            f"\nСтрок с ошибками заполнения: {errors}. Нажмите «Проверить», чтобы увидеть, "
            "что исправить."
        )
    return text


def _unknown_school(checked: _Checked, config: Config | None) -> list[str]:
    school_id = checked.sheet.meta.get("school_id", "").strip()
    if config is None or checked.school is not None or not school_id:
        return []
    return [
        f"Школы «{school_id}» нет в настройках ({config.path.name}): проверьте, что это файл "
        "вашей школы. Отправить его координатору не получится."
    ]


def _paint_notes(shown: PaintResult) -> list[str]:
    lines = list(shown.warnings)
    if shown.dropped:
        lines.append(
            f"Замечаний без примечания: {shown.dropped} — в этих ячейках уже есть ваши "
            "собственные примечания, они не тронуты."
        )
    return lines


# --- «Отправить» ----------------------------------------------------------------------------------


def _send(target: xw.Book, host: str, config: Config | None, today: date | None) -> ButtonResult:
    config = config if config is not None else require_config()
    if not backend_class(config).takes_sent_copies:
        raise AddinError(
            "Отправлять книгу не нужно: книги школ хранятся в Google Таблицах, и синхронизация "
            "читает вашу таблицу сама."
        )
    book = _school_book(OpenBook(target, host=host, password=config.protection_password))
    path = book.path
    if path is None:
        raise AddinError(
            "Сначала сохраните книгу на этом компьютере (Файл — Сохранить как; не в OneDrive "
            "и не в SharePoint), затем нажмите «Отправить»."
        )
    checked, spec = _validate(book.read(), config, today)
    school = checked.school
    if school is None or school.is_coordinator:
        raise AddinError(_not_sendable(checked, config))
    inbox = Path(school.source)
    marks = review_marks(_inbox_sheet(inbox, spec), checked.sheet, spec)
    shown = _try_paint(book, checked, spec, notes=True, values=marks)
    errors = _errors(checked.problems)
    if errors:
        return ButtonResult(False, send_refusal(errors) + _extra(_paint_notes(shown)))
    book.save()
    # What goes to the inbox is the file itself, checked once more as the sync will read it.
    data = _read_file(path)
    on_disk, _ = _validate(read_bytes(data, path.name), config, checked.today)
    outgoing = plain_xlsx(data)
    errors = _errors(on_disk.problems)
    if errors:
        return ButtonResult(False, send_refusal(errors) + _extra(_paint_notes(shown)))
    if _same_file(path, inbox):  # the school works in the inbox itself: saved is sent
        lines = [send_message(inbox, False, on_disk, 0, shown_marks=False)]
        return ButtonResult(True, "\n\n".join(lines + _paint_notes(shown)))
    carried = review_marks(_inbox_sheet(inbox, spec), on_disk.sheet, spec)
    if carried:
        outgoing = carry_values(outgoing, carried)
    sent = deliver(
        outgoing,
        inbox,
        backups_dir=config.backups_dir,
        keep=config.keep_backups,
        school_id=school.id,
    )
    kept = max(len(marks), len(carried))
    lines = [send_message(inbox, sent, on_disk, kept, shown_marks=shown.values > 0)]
    return ButtonResult(True, "\n\n".join(lines + _paint_notes(shown)))


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _extra(lines: list[str]) -> str:
    return "".join(f"\n\n{line}" for line in lines)


def _not_sendable(checked: _Checked, config: Config) -> str:
    school_id = checked.sheet.meta.get("school_id", "").strip()
    if not school_id:
        return (
            "Книга не отправлена: в ней не указано, чья она (служебный лист удалён или "
            "повреждён). Попросите у координатора новый файл и перенесите в него свои данные."
        )
    if checked.school is not None:  # the coordinator's own workbook
        return "Это книга МОУО: её не отправляют, синхронизация читает её на месте."
    return (
        f"Книга не отправлена: школы «{school_id}» нет в настройках ({config.path.name}). "
        "Возможно, это файл другой школы или устаревшие настройки — обратитесь к координатору."
    )


def send_refusal(errors: Sequence[Problem]) -> str:
    """Why a workbook was not sent, with the first errors and their cells."""
    return "\n".join(
        [
            f"Книга не отправлена: в ней ошибки ({len(errors)}). Исправьте их и нажмите "
            "«Отправить» ещё раз.",
            "",
            *problem_lines(errors),
        ]
    )


def send_message(
    target: Path, sent: bool, checked: _Checked, marks: int, *, shown_marks: bool
) -> str:
    """What «Отправить» did; `marks` are the coordinator's marks kept from the inbox copy."""
    if not sent:
        head = f"Эта версия книги уже лежит в папке приёма ({target}); отправлять заново не нужно."
    else:
        head = f"Книга отправлена координатору: {target}."
    lines = [head, status_line(checked.rows, checked.today)]
    warnings = len(checked.problems) - len(_errors(checked.problems))
    if warnings:
        lines.append(f"Предупреждений: {warnings} — они в примечаниях к ячейкам.")
    if marks:
        where = " и перенесены в вашу книгу" if shown_marks else ""
        lines.append(
            f"Отметки МОУО, которые координатор поставил в папке приёма ({marks}), сохранены "
            f"в отправленной книге{where}."
        )
    return "\n".join(lines)


def _read_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise AddinError(f"Не удалось прочитать файл книги {path}: {e.strerror or e}.") from None


def _inbox_sheet(path: Path, spec: TemplateSpec) -> SchoolSheet | None:
    """The school's workbook now in the inbox, if there is one that reads."""
    try:
        return locate(FolderBackend.read_file(path), spec)
    except (SourceError, UnreadableWorkbook):
        return None


def _row_key(values: dict[str, CellValue]) -> tuple[str, str, str]:
    return (
        fold(clean(values.get("section"))),
        fold(clean_no(values.get("no"))),
        fold(clean(values.get("activity"))),
    )


def review_marks(
    inbox: SchoolSheet | None, outgoing: SchoolSheet, spec: TemplateSpec
) -> dict[Cell, CellValue]:
    """The inbox copy's «Отметка МОУО» values where the outgoing copy differs.

    The coordinator marks rows in the inbox copy (and the sync writes them there); a school
    sending its own copy must neither wipe them out nor bring back a mark the coordinator
    removed: the inbox's cell always wins, an empty one too. Rows are matched by section, №
    and activity; rows the inbox lacks are left alone. Returns cell -> value in `outgoing`
    ("" clears the cell).
    """
    column = outgoing.columns.get("review")
    if inbox is None or column is None or "review" not in inbox.columns:
        return {}
    marks = {_row_key(r.values): clean(r.values.get("review")) for r in inbox.rows}
    sheet = outgoing.sheet_name or spec.main_sheet
    carried: dict[Cell, CellValue] = {}
    for row in outgoing.rows:
        key = _row_key(row.values)
        if key in marks and marks[key] != clean(row.values.get("review")):
            carried[(sheet, f"{column_letter(column)}{row.row}")] = marks[key]
    return carried


# --- «Синхронизировать» ---------------------------------------------------------------------------


def _sync_now(
    target: xw.Book, host: str, config: Config | None, today: date | None
) -> ButtonResult:
    config = config if config is not None else require_config()
    # host and password: the master's protected sheets are lifted around their refresh.
    book = OpenBook(target, host=host, password=config.protection_password)
    spec = load_spec(config.template)
    backend: Backend = backend_for(config)
    in_place = backend.master_is_workbook and book.is_master()
    opened: OpenMasterBackend | None = None
    if in_place:
        # Its review marks are read from the open book: typed and not saved yet included.
        backend = opened = OpenMasterBackend(backend, book)
    # A button must not keep Excel waiting behind the nightly run: "busy" says so at once.
    result = run(config, today=today, backend=backend, lock_wait=0, command="excel")
    message = sync_message(result, spec, in_place)
    if opened is not None and opened.warnings:
        message = "\n\n".join([message, *opened.warnings])
    return ButtonResult(result.outcome == RunOutcome.OK, message)


OUTCOME_TEXT = {
    RunOutcome.OK: "Синхронизация завершена",
    RunOutcome.INTERRUPTED: "Синхронизация прервана",
    RunOutcome.MASTER_FAILED: "Синхронизация завершена, но свод не записан",
}


def sync_message(result: RunResult, spec: TemplateSpec, in_place: bool) -> str:
    """A coordinator's summary of one run, short enough for a message box."""
    if result.outcome == RunOutcome.BUSY:
        return f"Синхронизация не запущена: {result.message}"
    head = OUTCOME_TEXT.get(result.outcome, f"Синхронизация: {result.outcome}")
    lines = [
        f"{head} (сегодня считается {result.today:%d.%m.%Y}).",
        f"Книг: {len(result.reports)} — {counts_sentence(result.counts)}.",
    ]
    summaries = [school_summary(r, spec) for r in result.reports]
    with_errors = sum(1 for s in summaries if s["errors"])
    overdue = sum(int(s["overdue"]) for s in summaries)
    lines.append(f"Школ с ошибками заполнения: {with_errors}. Просроченных мероприятий: {overdue}.")
    failed = [r for r in result.reports if r.outcome == SchoolOutcome.FAILED]
    if failed:
        names = ", ".join(r.school.name or r.school.id for r in failed[:SHOWN_PROBLEMS])
        more = f" и ещё {len(failed) - SHOWN_PROBLEMS}" if len(failed) > SHOWN_PROBLEMS else ""
        lines.append(f"Не прочитаны: {names}{more} — причины на листе «Школы».")
    if result.outcome == RunOutcome.OK:
        lines.append(
            "Свод обновлён в этой книге и сохранён."
            if in_place
            else f"Свод записан: {result.master}."
        )
    if result.message:
        lines.append(result.message)
    return "\n".join(lines)


# --- «Открыть школу» ------------------------------------------------------------------------------


def school_name_at(selection: Selection) -> str | None:
    """The school the selected cell belongs to in a master, by its sheet's layout (pure).

    On «Свод» a school is a column (its header); on the other sheets a row (column «Школа»).
    """
    if selection.sheet == SUMMARY_SHEET:
        header = selection.header
        name = clean(header[selection.column - 1]) if selection.column <= len(header) else ""
        return name if name and name not in SUMMARY_FIXED_COLUMNS else None
    if SCHOOL_COLUMN not in selection.header or selection.row <= HEADER_ROW:
        return None
    col = selection.header.index(SCHOOL_COLUMN)
    value = selection.values[col] if col < len(selection.values) else None
    return clean(value) or None


def school_named(config: Config, name: str) -> School:
    """The configured school a master shows under this name («Название (id)» when names repeat)."""
    if name == COORDINATOR_COLUMN and config.coordinator is not None:
        return config.coordinator
    schools = config.all_workbooks()
    by_name = [s for s in schools if (s.name or s.id) == name]
    if len(by_name) == 1:
        return by_name[0]
    match = re.fullmatch(r"(.*) \(([\w.-]+)\)", name)
    if match:
        found = [s for s in schools if s.id == match.group(2)]
        if found:
            return found[0]
    if by_name:
        ids = ", ".join(s.id for s in by_name)
        raise AddinError(f"Школ с названием «{name}» несколько ({ids}): откройте нужную из папки.")
    raise AddinError(f"В выделенной строке школа «{name}», а в настройках такой школы нет.")


def school_target(config: Config, school: School) -> str:
    """What to open for a school: its workbook's path, or its Google spreadsheet's address."""
    try:
        return backend_class(config).where_to_open(school)
    except SourceError as e:
        raise AddinError(str(e)) from None


def open_target(target: str) -> None:
    """Open a workbook with the program the computer opens it with (Excel), or an address."""
    if target.startswith(("http://", "https://")):
        webbrowser.open(target)
    elif sys.platform.startswith("win"):
        os.startfile(target)  # type: ignore[attr-defined]
    elif sys.platform == "darwin":
        subprocess.run(["open", target], check=True)
    else:
        subprocess.run(["xdg-open", target], check=True)


def _open_school(target: xw.Book, config: Config | None, opener: Opener) -> ButtonResult:
    config = config if config is not None else require_config()
    selection = OpenBook(target).selection()
    name = school_name_at(selection) if selection is not None else None
    if name is None:
        raise AddinError(
            "Выделите ячейку в строке школы на листе «Школы», «Мероприятия», «Просрочено», "
            "«Ошибки» или «Паспорта» либо в столбце школы на листе «Свод» и нажмите "
            "«Открыть школу» ещё раз."
        )
    school = school_named(config, name)
    where = school_target(config, school)
    opener(where)
    return ButtonResult(True, f"Открывается книга школы «{school.name}»: {where}")
