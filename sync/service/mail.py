"""E-mail reminders after the nightly run: a digest to each school, a summary to the coordinators.

No mail is prepared unless the configuration says `[smtp] enabled = true`; with `dry_run_dir` the
messages are written there as .eml files and nothing leaves the machine. A school gets at most one
digest per `interval_days` (the coordinators one summary per `summary_interval_days`), counted
in the history database, so restarting the service never sends twice. The password comes from
the environment variable named by `password_env` and is never written anywhere.

Composing is pure (reports in, text out); only `send_reminders` touches the network or files.
"""

from __future__ import annotations

import base64
import logging
import os
import re
import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from sync.consolidate import row_key, school_summary
from sync.fileio import write_atomically
from sync.history import History
from sync.model import CellValue, Problem, SchoolReport, Severity
from sync.review import ReviewPlan, ReviewState
from sync.service.config import SmtpSettings
from sync.spec import TemplateSpec, load_spec
from sync.states import ControlKey, RunOutcome, SchoolOutcome, counts_sentence, label
from sync.status import normalize_status

if TYPE_CHECKING:
    from sync.config import Config
    from sync.pipeline import RunResult

log = logging.getLogger("roadmap_sync.mail")

COORDINATORS = "coordinators"  # the reminders table's key for the coordinators' summary
MAX_PROBLEMS = 30  # problems listed in one digest; the rest are in the cell notes
MAX_ACTIVITY = 150  # characters of an activity's text in a list line
MAX_COMMENT = 500  # characters of the coordinator's comment in a rework line


def plural(n: int, one: str, few: str, many: str) -> str:
    """'1 день', '3 дня', '11 дней': the Russian noun form for n.

    >>> plural(21, "день", "дня", "дней"), plural(12, "день", "дня", "дней")
    ('21 день', '12 дней')
    """
    n10, n100 = n % 10, n % 100
    word = (
        one if n10 == 1 and n100 != 11 else few if 2 <= n10 <= 4 and not 12 <= n100 <= 14 else many
    )
    return f"{n} {word}"


def days(n: int) -> str:
    return plural(n, "день", "дня", "дней")


@dataclass(frozen=True)
class DueItem:
    """A row the school should act on: overdue, or due within the reminder window."""

    no: str
    activity: str
    deadline_text: str
    due: date
    overdue: bool
    has_error: bool = False

    def line(self, today: date) -> str:
        activity = self.activity
        if len(activity) > MAX_ACTIVITY:
            activity = activity[: MAX_ACTIVITY - 1] + "…"
        words = f" ({self.deadline_text})" if self.deadline_text else ""
        if self.overdue:
            when = f"просрочено на {days((today - self.due).days)}"
        elif self.due == today:
            when = "срок сегодня"
        else:
            when = f"осталось {days((self.due - today).days)}"
        error = "; в строке ошибка заполнения" if self.has_error else ""
        return f"  • № {self.no} «{activity}» — срок {self.due:%d.%m.%Y}{words}, {when}{error}"


def due_items(
    report: SchoolReport, today: date, within_days: int, spec: TemplateSpec
) -> list[DueItem]:
    """Rows overdue or due within `within_days`, not done and not «Не требуется»; overdue first."""
    items = []
    for row in report.rows:
        key = row.control.key
        if key in (ControlKey.DONE, ControlKey.NONE):
            continue
        if key == ControlKey.REWORK and not row.control.late:
            continue  # rework rows are listed apart, with the coordinator's comment; a late one
            # is also overdue
        due = row.item.due if row.item is not None else None
        if due is None:
            value = row.values.get("due")
            due = value if isinstance(value, date) and not isinstance(value, datetime) else None
        if due is None:
            continue
        if key == ControlKey.ERROR and _status_done(row.values.get("status"), spec):
            continue
        if due < today or (due - today).days <= within_days:
            items.append(
                DueItem(
                    no=str(row.item.no if row.item else row.values.get("no") or ""),
                    activity=str(
                        row.item.activity if row.item else row.values.get("activity") or ""
                    ),
                    deadline_text=row.item.deadline_text if row.item else "",
                    due=due,
                    overdue=due < today,
                    has_error=key == ControlKey.ERROR,
                )
            )
    items.sort(key=lambda i: (not i.overdue, i.due))
    return items


@dataclass(frozen=True)
class ReworkItem:
    """A row the МОУО sent back («На доработке»), with its comment."""

    no: str
    activity: str
    comment: str
    by: str
    at: datetime | None

    def line(self) -> str:
        activity = self.activity
        if len(activity) > MAX_ACTIVITY:
            activity = activity[: MAX_ACTIVITY - 1] + "…"
        when = f" {self.at:%d.%m.%Y}" if self.at is not None else ""
        who = f" ({self.by}{when})" if self.by else (f" ({when.strip()})" if when else "")
        comment = " ".join(self.comment.split())
        if len(comment) > MAX_COMMENT:
            comment = comment[: MAX_COMMENT - 1] + "…"
        said = f": «{comment}»" if comment else ""
        return f"  • № {self.no} «{activity}» — на доработке{who}{said}"


def rework_items(report: SchoolReport, review: ReviewPlan | None) -> list[ReworkItem]:
    """The school's rows «На доработке» as they stand now (not yet changed since the mark)."""
    if review is None:
        return []
    items = []
    for row in report.rows:
        # By the review state, not the control: a row sent back whose control is «Ошибка» is
        # on rework all the same.
        seen = review.rows.get(row_key(report.school.id, row))
        if seen is None or seen.state is not ReviewState.REWORK:
            continue
        items.append(
            ReworkItem(
                no=str(row.item.no if row.item else row.values.get("no") or ""),
                activity=str(row.item.activity if row.item else row.values.get("activity") or ""),
                comment=seen.comment if seen is not None else "",
                by=seen.marked_by if seen is not None else "",
                at=seen.marked_at if seen is not None else None,
            )
        )
    return items


def _status_done(status: CellValue, spec: TemplateSpec) -> bool:
    return normalize_status(status, spec) in (spec.statuses["done"], spec.statuses["not_needed"])


@dataclass(frozen=True)
class Digest:
    """One message before it becomes an e-mail."""

    recipient: str  # the reminders table's key: a school id or "coordinators"
    to: tuple[Address, ...]
    subject: str
    body: str
    items: int


def _address(text: str, name: str = "") -> Address:
    """An address whose Cyrillic domain (.рф) goes as punycode, the name as encoded UTF-8."""
    local, _, domain = text.strip().rpartition("@")
    try:
        domain.encode("ascii")
    except UnicodeEncodeError:
        domain = domain.encode("idna").decode("ascii")
    return Address(display_name=name, username=local, domain=domain)


@dataclass(frozen=True)
class SchoolNews:
    """What one school's digest tells it, before it becomes text."""

    report: SchoolReport
    overdue: list[DueItem]
    soon: list[DueItem]
    problems: list[Problem]  # errors first
    errors: int
    rework: list[ReworkItem] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.report.outcome == SchoolOutcome.FAILED

    @property
    def items(self) -> int:
        return len(self.overdue) + len(self.soon) + len(self.problems) + len(self.rework)

    def subject(self) -> str:
        counted = [
            (self.rework, f"на доработке {len(self.rework)}"),
            (self.overdue, f"просрочено {len(self.overdue)}"),
            (self.soon, f"скоро срок {len(self.soon)}"),
            (self.errors, f"ошибок {self.errors}"),
        ]
        parts = ["книга не прочитана"] if self.failed else []
        parts += [text for count, text in counted if count]
        return f"Дорожная карта: {', '.join(parts)} — {self.report.school.name}"

    def body(self, today: date, reminder_days: int) -> list[str]:
        report = self.report
        lines = []
        if self.failed:
            lines += ["", f"Вашу книгу не удалось прочитать: {report.message.rstrip('.')}."]
            if report.synced_at is not None:
                lines.append(f"Ниже — по последнему удачному чтению {report.synced_at:%d.%m.%Y}.")
        if self.rework:
            lines += ["", f"МОУО вернул на доработку ({len(self.rework)}):"]
            lines += [i.line() for i in self.rework]
            lines.append(
                "  Исправьте строку в книге — она снова попадёт на проверку"
                " («Исправлено, ждёт проверки»)."
            )
        if self.overdue:
            lines += ["", f"Просрочено ({len(self.overdue)}):"]
            lines += [i.line(today) for i in self.overdue]
        if self.soon:
            lines += ["", f"Срок в ближайшие {days(reminder_days)} ({len(self.soon)}):"]
            lines += [i.line(today) for i in self.soon]
        if self.problems:
            lines += ["", f"Что исправить в книге ({len(self.problems)}):"]
            lines += [_problem_line(p) for p in self.problems[:MAX_PROBLEMS]]
            if len(self.problems) > MAX_PROBLEMS:
                more = len(self.problems) - MAX_PROBLEMS
                lines.append(f"  … и ещё {more}: см. примечания в книге.")
        return lines


def _problem_line(p: Problem) -> str:
    where = f"лист «{p.sheet}», ячейка {p.cell}" if p.cell else f"лист «{p.sheet}»"
    kind = "ошибка" if p.severity is Severity.ERROR else "предупреждение"
    return f"  • {where} ({kind}): {p.message}"


def school_news(
    report: SchoolReport,
    today: date,
    reminder_days: int,
    spec: TemplateSpec,
    review: ReviewPlan | None = None,
) -> SchoolNews | None:
    """What a school should hear of: None when it has nothing due, no error, nothing sent back
    for rework and was read."""
    items = due_items(report, today, reminder_days, spec)
    rework = rework_items(report, review)
    errors = sum(1 for p in report.problems if p.severity is Severity.ERROR)
    if not items and not errors and not rework and report.outcome != SchoolOutcome.FAILED:
        return None
    return SchoolNews(
        report,
        [i for i in items if i.overdue],
        [i for i in items if not i.overdue],
        sorted(report.problems, key=lambda p: p.severity is not Severity.ERROR),
        errors,
        rework,
    )


def school_digest(
    report: SchoolReport,
    today: date,
    settings: SmtpSettings,
    municipality: str,
    spec: TemplateSpec,
    review: ReviewPlan | None = None,
) -> Digest | None:
    """The digest for one school, or None when it has nothing due, no error, or no address."""
    school = report.school
    if school.is_coordinator or not school.emails:
        return None
    news = school_news(report, today, settings.reminder_days, spec, review)
    if news is None:
        return None
    lines = [
        "Здравствуйте!",
        "",
        f"Это автоматическое напоминание по дорожной карте ({municipality}) для «{school.name}»"
        f" на {today:%d.%m.%Y}.",
        *news.body(today, settings.reminder_days),
        "",
        "Отметьте сделанное в своей книге: «Статус», «Дата выполнения», «Подтверждающий документ»."
        " Примечания к ячейкам объясняют каждую ошибку. Свод обновится при следующей"
        " синхронизации (каждую ночь).",
        *_footer(settings),
    ]
    return Digest(
        school.id,
        tuple(_address(a, school.name) for a in school.emails),
        news.subject(),
        "\n".join(lines) + "\n",
        news.items,
    )


@dataclass(frozen=True)
class MunicipalNews:
    """What the coordinators' summary tells them, before it becomes text."""

    schools: int  # schools, not counting the coordinators' own workbooks
    attention: list[str]  # a line per school with something overdue, soon or wrong
    overdue: int
    soon: int
    errors: int
    own: list[tuple[str, list[DueItem]]]  # the coordinators' own workbooks: name, items
    failed: list[SchoolReport]
    no_address: list[str]
    on_review: int = 0  # rows «Выполнено» the МОУО has not accepted as they are now
    rework: int = 0  # rows sent back «На доработке», not changed since

    def body(self, today: date, reminder_days: int, reminded: Sequence[str]) -> list[str]:
        lines = [
            "",
            f"Всего по {plural(self.schools, 'школе', 'школам', 'школам')}: просрочено"
            f" {self.overdue}, срок в ближайшие {days(reminder_days)} — {self.soon},"
            f" ошибок заполнения {self.errors}.",
        ]
        if self.on_review or self.rework:
            lines += [
                "",
                f"На проверке у МОУО: {self.on_review} (лист «На проверке» в своде);"
                f" на доработке у школ: {self.rework}.",
            ]
        if self.attention:
            lines += ["", "Требуют внимания:", *self.attention]
        for name, items in self.own:
            lines += ["", f"Мероприятия МОУО («{name}»), просроченные и к сроку:"]
            lines += [i.line(today) for i in items]
        if self.failed:
            lines += ["", "Не прочитаны (в своде — последний удачный снимок):"]
            lines += [f"  • {r.school.name}: {r.message}" for r in self.failed]
        if reminded:
            lines += ["", f"Напоминания отправлены: {len(reminded)} ({', '.join(reminded)})."]
        if self.no_address:
            missing = ", ".join(self.no_address)
            lines += ["", f"Нет адреса для напоминаний (emails в настройках): {missing}"]
        return lines


def municipal_news(
    result: RunResult, today: date, reminder_days: int, spec: TemplateSpec
) -> MunicipalNews:
    """The municipality's totals and the schools that need attention."""
    schools = [r for r in result.reports if not r.school.is_coordinator]
    attention = []
    total_overdue = total_soon = total_errors = on_review = rework = 0
    for r in schools:
        s = school_summary(r, spec, result.review)
        on_review += int(s.get("on_review", 0))
        rework += int(s.get("rework", 0))
        soon = sum(1 for i in due_items(r, today, reminder_days, spec) if not i.overdue)
        total_overdue += int(s["overdue"])
        total_soon += soon
        total_errors += int(s["errors"])
        if s["overdue"] or soon or s["errors"]:
            attention.append(
                f"  • {r.school.name}: просрочено {s['overdue']}, скоро срок {soon},"
                f" ошибок {s['errors']}, выполнено {round(100 * s['percent'])}%"
            )
    own = [
        (r.school.name, items)
        for r in result.reports
        if r.school.is_coordinator and (items := due_items(r, today, reminder_days, spec))
    ]
    return MunicipalNews(
        len(schools),
        attention,
        total_overdue,
        total_soon,
        total_errors,
        own,
        [r for r in result.reports if r.outcome == SchoolOutcome.FAILED],
        [r.school.name for r in schools if not r.school.emails],
        on_review,
        rework,
    )


def coordinator_digest(
    result: RunResult,
    today: date,
    settings: SmtpSettings,
    municipality: str,
    spec: TemplateSpec,
    reminded: Sequence[str] = (),
) -> Digest | None:
    """The coordinators' summary of the municipality; None without coordinators' addresses."""
    if not settings.coordinators:
        return None
    news = municipal_news(result, today, settings.reminder_days, spec)
    lines = [
        f"Сводка по дорожной карте ({municipality}) на {today:%d.%m.%Y}.",
        "",
        f"Синхронизация № {result.run_id}: {label(RunOutcome, result.outcome)};"
        f" {counts_sentence(result.counts)}.",
    ]
    if result.master:
        lines.append(f"Свод: {result.master}")
    if result.message:
        lines.append(result.message)
    lines += news.body(today, settings.reminder_days, reminded)
    lines += _footer(settings)
    return Digest(
        COORDINATORS,
        tuple(_address(a) for a in settings.coordinators),
        f"Дорожная карта: сводка на {today:%d.%m.%Y} — {municipality}",
        "\n".join(lines) + "\n",
        len(news.attention) + len(news.failed),
    )


def _footer(settings: SmtpSettings) -> list[str]:
    contact = (
        f" Вопросы — координатору: {settings.reply_to}."
        if settings.reply_to
        else " Не отвечайте на него: вопросы — муниципальному координатору."
    )
    return ["", "—", f"Письмо отправлено автоматически (roadmap-sync).{contact}"]


def compose(digest: Digest, settings: SmtpSettings, now: datetime) -> EmailMessage:
    """The e-mail: UTF-8 text, encoded headers, a Date and a Message-ID."""
    msg = EmailMessage()
    msg["Subject"] = digest.subject
    msg["From"] = settings.sender
    msg["To"] = digest.to
    if settings.reply_to:
        msg["Reply-To"] = settings.reply_to
    msg["Date"] = format_datetime(now)
    domain = settings.sender.rsplit("@", 1)[-1].strip(" >") or "roadmap-sync.local"
    msg["Message-ID"] = make_msgid("roadmap-sync", domain=domain)
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: autoresponders stay quiet
    msg.set_content(digest.body, charset="utf-8")
    return msg


class Outbox(Protocol):
    """Where composed messages go: an SMTP server, or a folder of .eml files."""

    mode: str

    def send(self, msg: EmailMessage, recipient: str) -> None: ...

    def close(self) -> None: ...


class OutboxError(Exception):
    """The outbox cannot take any message (server unreachable, login refused); str() is Russian."""


@dataclass
class FolderOutbox:
    """Dry run: each message as an .eml file, nothing sent."""

    folder: Path
    today: date
    mode: str = "dry-run"

    def send(self, msg: EmailMessage, recipient: str) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        safe = re.sub(r"[^\w.-]", "_", recipient)
        path = self.folder / f"{self.today:%Y-%m-%d}_{safe}.eml"
        n = 2
        while path.exists():
            path = self.folder / f"{self.today:%Y-%m-%d}_{safe}_{n}.eml"
            n += 1
        data = msg.as_bytes(policy=SMTP)
        write_atomically(path, lambda f: f.write(data))

    def close(self) -> None:
        pass


@dataclass
class SmtpOutbox:
    """A connection to the configured server, opened at the first message."""

    settings: SmtpSettings
    mode: str = "smtp"
    client: smtplib.SMTP | None = field(default=None, repr=False)

    def _open(self) -> smtplib.SMTP:
        s = self.settings
        password = ""
        if s.user:
            password = os.environ.get(s.password_env, "")
            if not password:
                raise OutboxError(
                    f"переменная окружения {s.password_env} с паролем почты не задана."
                )
        context = ssl.create_default_context(cafile=str(s.ca_file) if s.ca_file else None)
        client: smtplib.SMTP | None = None
        try:
            if s.security == "ssl":
                client = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=context)
            else:
                client = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
                if s.security == "starttls":
                    client.starttls(context=context)
            if s.user:
                _login(client, s.user, password)
        except (OSError, smtplib.SMTPException) as e:
            if client is not None:
                client.close()
            if isinstance(e, smtplib.SMTPAuthenticationError):
                raise OutboxError(
                    f"сервер {s.host} не принял имя пользователя «{s.user}» или пароль."
                ) from None
            raise OutboxError(f"нет связи с почтовым сервером {s.host}:{s.port} ({e}).") from None
        return client

    def send(self, msg: EmailMessage, recipient: str) -> None:
        if self.client is None:
            self.client = self._open()
        self.client.send_message(msg)

    def close(self) -> None:
        if self.client is not None:
            try:
                self.client.quit()
            except (OSError, smtplib.SMTPException):
                self.client.close()
            self.client = None


def _login(client: smtplib.SMTP, user: str, password: str) -> None:
    """Log in once: AUTH PLAIN in UTF-8 (RFC 4616) when offered, else smtplib's own mechanisms.

    smtplib's login encodes name and password as ASCII and fails on «Пароль»; it also retries
    other mechanisms after a refusal, which some servers answer by hanging up.
    """
    client.ehlo_or_helo_if_needed()
    if "PLAIN" in client.esmtp_features.get("auth", "").upper().split():
        token = base64.b64encode(f"\0{user}\0{password}".encode()).decode("ascii")
        code, answer = client.docmd("AUTH", f"PLAIN {token}")
        if code not in (235, 503):  # 503: already authenticated
            raise smtplib.SMTPAuthenticationError(code, answer)
        return
    try:
        (user + password).encode("ascii")
    except UnicodeEncodeError:
        raise OutboxError(
            "сервер не принимает имя или пароль с русскими буквами (нет AUTH PLAIN)."
        ) from None
    client.login(user, password)


@dataclass
class ReminderReport:
    """What `send_reminders` did, for the log and the tests."""

    sent: list[str] = field(default_factory=list)  # recipient keys
    skipped: list[str] = field(default_factory=list)  # within their interval
    failed: list[tuple[str, str]] = field(default_factory=list)  # (recipient key, Russian reason)


def send_reminders(
    config: Config,
    settings: SmtpSettings,
    result: RunResult,
    history: History,
    now: datetime,
    outbox: Outbox | None = None,
) -> ReminderReport:
    """Send (or write, in dry run) the schools' digests and the coordinators' summary."""
    today = result.today
    box: Outbox = outbox or (
        FolderOutbox(settings.dry_run_dir, today) if settings.dry_run_dir else SmtpOutbox(settings)
    )
    report = ReminderReport()
    spec = load_spec(config.template)
    digests = [
        d
        for r in result.reports
        if (d := school_digest(r, today, settings, config.municipality, spec, result.review))
    ]
    try:
        for digest in digests:
            _deliver(digest, settings.interval_days, box, settings, history, result, now, report)
        names = {r.school.id: r.school.name for r in result.reports}
        summary = coordinator_digest(
            result, today, settings, config.municipality, spec, [names[k] for k in report.sent]
        )
        if summary is not None:
            _deliver(
                summary, settings.summary_interval_days, box, settings, history, result, now, report
            )
    finally:
        box.close()
    if report.sent or report.failed:
        log.info(
            "Напоминания (%s): отправлено %d, пропущено (уже были в этот период) %d,"
            " не отправлено %d.",
            "пробный режим" if box.mode == "dry-run" else "почта",
            len(report.sent),
            len(report.skipped),
            len(report.failed),
        )
    return report


def _deliver(
    digest: Digest,
    interval: int,
    box: Outbox,
    settings: SmtpSettings,
    history: History,
    result: RunResult,
    now: datetime,
    report: ReminderReport,
) -> bool:
    """Send one digest unless one went within its interval; record it once sent."""
    last = history.last_reminder(digest.recipient, box.mode)
    if last is not None and (result.today - last).days < interval:
        report.skipped.append(digest.recipient)
        return False
    if report.failed and report.failed[-1][1].startswith(OUTBOX_DOWN):
        report.failed.append((digest.recipient, report.failed[-1][1]))
        return False
    msg = compose(digest, settings, now)
    to = [a.addr_spec for a in digest.to]
    try:
        box.send(msg, digest.recipient)
    except OutboxError as e:
        reason = f"{OUTBOX_DOWN}{e}"
        log.error("Напоминания не отправлены: %s", e)
        report.failed.append((digest.recipient, reason))
        return False
    except (OSError, smtplib.SMTPException) as e:
        log.error("Письмо для %s (%s) не отправлено: %s", digest.recipient, ", ".join(to), e)
        report.failed.append((digest.recipient, str(e)))
        return False
    history.record_reminder(
        digest.recipient,
        box.mode,
        result.today,
        now,
        to,
        digest.items,
        str(msg["Message-ID"]),
        result.run_id or None,
    )
    report.sent.append(digest.recipient)
    log.info(
        "Напоминание отправлено: %s → %s (%s)", digest.recipient, ", ".join(to), digest.subject
    )
    return True


OUTBOX_DOWN = "почта недоступна: "
