"""The service's side: before each reporting date the справка is written and mailed, once.

Called by the nightly run (sync.service.scheduler) with the run lock held. Within
`[report] days_before` days before a reporting date (`[report] dates`, 15 January and 10 June by
default) the first complete nightly run writes the справка as of that day into `[report] folder`
and mails it to the coordinators (`[smtp] coordinators`, or the coordinator's e-mails) through
the reminders' outbox. A mail that could not go is tried again the next night, with the same file.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sync.config import Config
from sync.history import History
from sync.service.config import SmtpSettings
from sync.service.mail import (
    Digest,
    FolderOutbox,
    Outbox,
    OutboxError,
    SmtpOutbox,
    _address,
    compose,
)

from .data import ru_date
from .make import make_spravka
from .record import mark_mailed, spravka_for_due
from .settings import load_report_settings

if TYPE_CHECKING:
    from sync.pipeline import RunResult

log = logging.getLogger("roadmap_sync.report")

DOCX_TYPE = ("application", "vnd.openxmlformats-officedocument.wordprocessingml.document")
XLSX_TYPE = ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")
RECIPIENT = "spravka"


def write_if_due(
    config: Config,
    smtp: SmtpSettings | None,
    result: RunResult,
    history: History,
    now: datetime,
    outbox: Outbox | None = None,
) -> Path | None:
    """Write (and mail) the справка when a reporting date is near; the path written, or None."""
    settings = load_report_settings(config)
    today = result.today
    due = settings.due_now(today)
    if due is None:
        return None
    made_before = spravka_for_due(history, due)
    if made_before is None:
        path = (settings.folder or config.master_path.parent) / f"Справка на {today:%Y-%m-%d}.docx"
        made = make_spravka(
            config,
            today,
            now,
            output=path,
            xlsx=path.with_suffix(".xlsx"),
            history=history,
            settings=settings,
            due=due,
        )
        assert made.record_id is not None
        log.info("Справка к отчётной дате %s записана: %s", f"{due:%d.%m.%Y}", made.path)
        record_id, written = made.record_id, made.path
    elif made_before.mailed or smtp is None:
        return None
    else:
        record_id, written = made_before.id, Path(made_before.path)
        if not written.is_file():
            return None
    if smtp is None or not smtp.coordinators:
        return written
    try:
        mailed = mail_spravka(config, smtp, written, due, today, now, outbox)
    except (OutboxError, OSError) as e:
        log.error("Справка не отправлена координаторам (попытка будет повторена ночью): %s", e)
        return written
    mark_mailed(history, record_id, mailed)
    return written


def mail_spravka(
    config: Config,
    smtp: SmtpSettings,
    path: Path,
    due: date,
    today: date,
    now: datetime,
    outbox: Outbox | None = None,
) -> str:
    """Send the справка (and its .xlsx twin, when there is one) to the coordinators."""
    body = "\n".join(
        [
            "Здравствуйте!",
            "",
            f"Аналитическая справка по итогам реализации дорожной карты ({config.municipality})"
            f" на {ru_date(today)} подготовлена к отчётной дате {ru_date(due)}.",
            "",
            "Справка во вложении (.docx): проверьте её, допишите выводы и предложения,"
            " подпишите. Таблицы справки — во втором вложении (.xlsx).",
            f"Файл сохранён и в папке справок: {path}",
            "",
            "—",
            "Письмо отправлено автоматически (roadmap-sync).",
        ]
    )
    digest = Digest(
        RECIPIENT,
        tuple(_address(a) for a in smtp.coordinators),
        f"Справка по дорожной карте на {today:%d.%m.%Y} — {config.municipality}",
        body + "\n",
        1,
    )
    msg = compose(digest, smtp, now)
    msg.add_attachment(
        path.read_bytes(), maintype=DOCX_TYPE[0], subtype=DOCX_TYPE[1], filename=path.name
    )
    twin = path.with_suffix(".xlsx")
    if twin.is_file():
        msg.add_attachment(
            twin.read_bytes(), maintype=XLSX_TYPE[0], subtype=XLSX_TYPE[1], filename=twin.name
        )
    box: Outbox = outbox or (
        FolderOutbox(smtp.dry_run_dir, today) if smtp.dry_run_dir else SmtpOutbox(smtp)
    )
    try:
        box.send(msg, RECIPIENT)
    finally:
        box.close()
    to = ", ".join(a.addr_spec for a in digest.to)
    log.info("Справка отправлена координаторам: %s", to)
    return f"{now.isoformat(timespec='seconds')} {box.mode}: {to}"
