"""Issuing, revoking and sending the private links: the `links` command's core."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sync.config import Config
from sync.fileio import write_atomically
from sync.service.config import SmtpSettings
from sync.service.mail import Digest, OutboxError, _address, compose
from sync.web.settings import WebSettings
from sync.web.store import WebStore

COORDINATOR = "coordinator"
HEADER = ("Код", "Школа", "Ссылка", "Адреса", "Выдана")


@dataclass(frozen=True)
class IssuedLink:
    role: str  # school, coordinator
    subject: str
    name: str
    url: str
    emails: tuple[str, ...]
    issued: datetime


def url_for(settings: WebSettings, role: str, token: str) -> str:
    return f"{settings.public_url}/{'s' if role == 'school' else 'c'}/{token}"


def issue_links(
    config: Config,
    settings: WebSettings,
    store: WebStore,
    now: datetime,
    *,
    reissue: set[str] | None = None,
    everyone: bool = False,
    skip: set[str] | None = None,
) -> list[IssuedLink]:
    """Issue a link to every school (and the coordinator) that has none; `reissue` ids (or
    `everyone`) get a new one, which revokes the old. The tokens are returned only here."""
    active = store.active()
    reissue = reissue or set()
    out = []
    subjects = [("school", s.id, s.name, s.emails) for s in config.schools]
    coordinator = config.coordinator
    subjects.append(
        (
            "coordinator",
            COORDINATOR,
            coordinator.name if coordinator else "Координатор",
            coordinator.emails if coordinator else (),
        )
    )
    for role, subject, name, emails in subjects:
        if subject in (skip or set()):
            continue
        if (role, subject) in active and not everyone and subject not in reissue:
            continue
        token = store.issue(role, subject, now)
        out.append(IssuedLink(role, subject, name, url_for(settings, role, token), emails, now))
    return out


def export_links(path: Path, links: list[IssuedLink], zone: object) -> None:
    """The issued links as .csv (UTF-8 with BOM, «;» for Russian Excel) or .xlsx."""
    rows = [
        (
            link.subject,
            link.name,
            link.url,
            ", ".join(link.emails),
            f"{link.issued.astimezone(zone):%d.%m.%Y %H:%M}",  # type: ignore[arg-type]
        )
        for link in links
    ]
    if path.suffix.lower() == ".xlsx":
        from sync.builders.links_xlsx import write_links_xlsx

        write_links_xlsx(path, HEADER, rows)
        path.chmod(0o600)  # the file holds the secrets themselves
        return
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";")
    writer.writerow(HEADER)
    writer.writerows(rows)
    write_atomically(path, lambda f: f.write(buffer.getvalue().encode("utf-8-sig")))
    path.chmod(0o600)  # the file holds the secrets themselves


def link_digest(link: IssuedLink, municipality: str, settings: SmtpSettings) -> Digest:
    who = "школы" if link.role == "school" else "координатора"
    body = "\n".join(
        [
            "Здравствуйте!",
            "",
            f"Для {who} «{link.name}» открыт приём дорожной карты через браузер ({municipality}).",
            "",
            "Ваша личная ссылка:",
            link.url,
            "",
            (
                "По ссылке можно скачать книгу вашей школы, загрузить заполненную книгу и сразу"
                " увидеть, где в ней ошибки. Подходит любая программа: Excel, LibreOffice,"
                " Р7-Офис, МойОфис — нужен только браузер."
                if link.role == "school"
                else "По ссылке — состояние всех школ, диаграмма и свод."
            ),
            "",
            "Не пересылайте ссылку посторонним: по ней открывается страница вашей школы без пароля."
            " Если ссылка попала к чужим, попросите координатора выдать новую — старая"
            " перестанет работать.",
        ]
    )
    to = tuple(_address(a, link.name) for a in link.emails)
    return Digest(
        f"link:{link.subject}", to, f"Ссылка для загрузки дорожной карты — {link.name}", body, 0
    )


def email_links(
    links: list[IssuedLink], config: Config, settings: SmtpSettings, now: datetime
) -> tuple[list[str], list[tuple[str, str]]]:
    """Send each link to its school's addresses through the configured SMTP (or dry-run)."""
    from sync.service.mail import FolderOutbox, Outbox, SmtpOutbox

    box: Outbox = (
        FolderOutbox(settings.dry_run_dir, config.today(now))
        if settings.dry_run_dir
        else SmtpOutbox(settings)
    )
    sent: list[str] = []
    failed: list[tuple[str, str]] = []
    try:
        for link in links:
            if not link.emails:
                failed.append((link.subject, "нет адресов в настройках"))
                continue
            msg = compose(link_digest(link, config.municipality, settings), settings, now)
            try:
                box.send(msg, f"link-{link.subject}")
            except OutboxError as e:
                failed.extend((x.subject, str(e)) for x in links if x.subject not in sent)
                break
            except OSError as e:
                failed.append((link.subject, str(e)))
                continue
            sent.append(link.subject)
    finally:
        box.close()
    return sent, failed
