"""Make one справка: gather the numbers, fill the template, write the files, record it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from sync.config import Config
from sync.history import History
from sync.pipeline import load_context

from .data import Spravka, gather
from .record import previous_spravka, record_spravka
from .render import SpravkaError, context, render_docx, render_xlsx
from .settings import ReportSettings, load_report_settings


@dataclass
class Made:
    """What `make_spravka` wrote."""

    path: Path
    xlsx: Path | None
    spravka: Spravka
    record_id: int | None


DRAFT_MARK = "(черновик)"


def default_output(
    settings: ReportSettings, config: Config, as_of: date, *, draft: bool = False
) -> Path:
    folder = settings.folder or config.master_path.parent
    mark = f" {DRAFT_MARK}" if draft else ""
    return folder / f"Справка на {as_of:%Y-%m-%d}{mark}.docx"


def department_of(settings: ReportSettings, config: Config) -> str:
    if settings.department:
        return settings.department
    if config.coordinator is not None and config.coordinator.name.strip():
        return config.coordinator.name.strip()
    return "Орган местного самоуправления, осуществляющий управление в сфере образования"


def make_spravka(
    config: Config,
    as_of: date,
    now: datetime,
    *,
    output: Path | None = None,
    xlsx: Path | None = None,
    history: History | None = None,
    settings: ReportSettings | None = None,
    due: date | None = None,
    record: bool = True,
    final: bool = True,
) -> Made:
    """Write the справка as of a day (and its workbook twin when `xlsx` is given).

    `history` open already (the service's, under its run lock) or opened here. The справка is
    recorded in the history; the next one shows what changed since the newest *final* one
    (`final=False`: a draft, recorded but never compared with).
    """
    settings = settings or load_report_settings(config)
    if history is None:
        if not config.history_path.exists():
            raise SpravkaError(
                "Истории синхронизации ещё нет: сначала выполните синхронизацию"
                " (roadmap-sync run), справка строится по её данным."
            )
        with History.open(config.history_path) as opened:
            return make_spravka(
                config,
                as_of,
                now,
                output=output,
                xlsx=xlsx,
                history=opened,
                settings=settings,
                due=due,
                record=record,
                final=final,
            )
    spec, plan = load_context(config)
    previous = previous_spravka(history, as_of)
    spravka, run_id = gather(config, history, plan, spec, as_of, previous)
    if run_id is None:
        raise SpravkaError(
            f"На {as_of:%d.%m.%Y} ни одна книга ещё не прочитана синхронизацией: справку не из"
            " чего составить. Выполните roadmap-sync run или укажите более позднюю дату (--as-of)."
        )
    path = output or default_output(settings, config, as_of)
    if path.suffix.lower() != ".docx":
        path = path.with_name(path.name + ".docx")
    values = context(spravka, settings, department_of(settings, config))
    try:
        render_docx(spravka, settings.template, values, path)
        if xlsx is not None:
            render_xlsx(spravka, xlsx)
    except PermissionError as e:
        raise SpravkaError(
            f"Файл {e.filename} не записан: нет доступа или он открыт в Word/LibreOffice."
            " Закройте его или укажите другое имя (-o)."
        ) from None
    record_id = (
        record_spravka(history, now, as_of, str(path), spravka.numbers(), run_id, due, final)
        if record
        else None
    )
    return Made(path, xlsx, spravka, record_id)
