"""The service's settings: the [schedule] and [smtp] tables of the configuration.

Both are optional. Without [schedule] the nightly run is at 02:00 local time; without
`[smtp] enabled = true` no reminder is ever prepared, let alone sent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, time
from pathlib import Path

from sync.config import Config, SectionReader

DEFAULT_NIGHTLY = time(2, 0)
DEFAULT_LOCK_WAIT = 60  # seconds a manual run waits for a running one
DEFAULT_LOG_FILE = "logs/roadmap-sync.log"  # beside the history database
SECURITY_KINDS = ("starttls", "ssl", "none")
DEFAULT_PORTS = {"starttls": 587, "ssl": 465, "none": 25}

_TIME = re.compile(r"^\s*([01]?\d|2[0-3]):([0-5]\d)\s*$")
_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+$")

MonthDay = tuple[int, int]


def parse_clock(text: str) -> time | None:
    """'2:00' or '02:00' -> time(2, 0); None when it is not a 24-hour HH:MM."""
    m = _TIME.match(text)
    return time(int(m.group(1)), int(m.group(2))) if m else None


def parse_day(text: str) -> date | MonthDay | None:
    """'2022-01-15' -> that date; '01-15' -> (1, 15), every year; None when neither."""
    text = text.strip()
    try:
        return date.fromisoformat(text)
    except ValueError:
        pass
    m = re.fullmatch(r"(\d{1,2})-(\d{1,2})", text)
    if not m:
        return None
    month, day = int(m.group(1)), int(m.group(2))
    try:
        date(2000, month, day)  # a leap year: 02-29 is a valid yearly day
    except ValueError:
        return None
    return (month, day)


@dataclass(frozen=True)
class ExtraRuns:
    """Extra runs between two days: every `every_hours` hours from `first` to `last` local time."""

    start: date | MonthDay
    end: date | MonthDay
    every_hours: int
    first: time = time(0, 0)
    last: time = time(23, 59)

    def active_on(self, day: date) -> bool:
        """Whether the window covers this local date (a yearly window may wrap the new year)."""
        if isinstance(self.start, date) and isinstance(self.end, date):
            return self.start <= day <= self.end
        md = (day.month, day.day)
        assert isinstance(self.start, tuple) and isinstance(self.end, tuple)
        if self.start <= self.end:
            return self.start <= md <= self.end
        return md >= self.start or md <= self.end

    def times(self) -> list[time]:
        """The local times of day the extra runs fire, in order."""
        out = []
        minutes = self.first.hour * 60 + self.first.minute
        end = self.last.hour * 60 + self.last.minute
        while minutes <= end:
            out.append(time(minutes // 60, minutes % 60))
            minutes += self.every_hours * 60
        return out

    def describe(self) -> str:
        """Russian: 'с 05.01 по 15.01 каждые 2 ч с 08:00 до 20:00'."""

        def day(d: date | MonthDay) -> str:
            return f"{d:%d.%m.%Y}" if isinstance(d, date) else f"{d[1]:02d}.{d[0]:02d}"

        return (
            f"с {day(self.start)} по {day(self.end)} каждые {self.every_hours} ч"
            f" с {self.first:%H:%M} до {self.last:%H:%M}"
        )


@dataclass(frozen=True)
class ScheduleSettings:
    """When the service runs, how long a manual run waits, and where the log goes."""

    nightly: time = DEFAULT_NIGHTLY
    extra: tuple[ExtraRuns, ...] = ()
    catch_up: bool = True
    lock_wait: int = DEFAULT_LOCK_WAIT
    log_file: Path | None = None
    log_max_mb: int = 5
    log_files: int = 5


def _extra(r: SectionReader) -> ExtraRuns:
    days: dict[str, date | MonthDay] = {}
    for key in ("from", "to"):
        text = r.text_value(key)
        parsed = parse_day(text)
        if parsed is None:
            raise r.fail(key, f"«{text}» — ожидается день вида 01-15 (каждый год) или 2022-01-15.")
        days[key] = parsed
    if isinstance(days["from"], date) != isinstance(days["to"], date):
        raise r.fail("to", "оба дня указываются одинаково: либо 01-15, либо 2022-01-15.")
    if (
        isinstance(days["from"], date)
        and isinstance(days["to"], date)
        and days["to"] < days["from"]
    ):
        raise r.fail("to", "день окончания раньше дня начала.")
    every = r.get("every_hours", int, 2)
    if not 1 <= every <= 24:
        raise r.fail("every_hours", "ожидается целое число часов от 1 до 24.")
    first, last = time(0, 0), time(23, 59)
    if "hours" in r.data:
        text = r.text_value("hours")
        a, sep, b = text.partition("-")
        first_t, last_t = parse_clock(a), parse_clock(b)
        if not sep or first_t is None or last_t is None or last_t < first_t:
            raise r.fail("hours", f"«{text}» — ожидаются часы вида 08:00-20:00.")
        first, last = first_t, last_t
    return ExtraRuns(days["from"], days["to"], every, first, last)


def load_schedule(config: Config) -> ScheduleSettings:
    """Read [schedule]; every key is optional. Errors name the key and the line."""
    s = config.section("schedule")
    nightly = DEFAULT_NIGHTLY
    if "nightly" in s.data:
        text = s.text_value("nightly")
        parsed = parse_clock(text)
        if parsed is None:
            raise s.fail("nightly", f"«{text}» — ожидается время вида 02:00 (24 часа).")
        nightly = parsed
    raw_extra = s.get("extra", list, [])
    extra = []
    for i, item in enumerate(raw_extra):
        if not isinstance(item, dict):
            raise s.fail("extra", "ожидаются таблицы [[schedule.extra]].")
        extra.append(_extra(SectionReader(config.text, config.path, item, "schedule.extra", i)))
    lock_wait = s.get("lock_wait", int, DEFAULT_LOCK_WAIT)
    if lock_wait < 0:
        raise s.fail("lock_wait", "число секунд не может быть отрицательным.")
    log_max_mb = s.get("log_max_mb", int, 5)
    log_files = s.get("log_files", int, 5)
    if log_max_mb < 1:
        raise s.fail("log_max_mb", "размер файла журнала — не меньше 1 МБ.")
    if log_files < 1:
        raise s.fail("log_files", "храните хотя бы один старый файл журнала.")
    log_file = (
        s.path_value("log_file")
        if "log_file" in s.data
        else config.history_path.parent / DEFAULT_LOG_FILE
    )
    return ScheduleSettings(
        nightly=nightly,
        extra=tuple(extra),
        catch_up=s.get("catch_up", bool, True),
        lock_wait=lock_wait,
        log_file=log_file,
        log_max_mb=log_max_mb,
        log_files=log_files,
    )


def lock_wait_of(config: Config) -> int:
    """Only [schedule].lock_wait: a manual run should not fail on an unrelated schedule key."""
    s = config.section("schedule")
    value: int = s.get("lock_wait", int, DEFAULT_LOCK_WAIT)
    if value < 0:
        raise s.fail("lock_wait", "число секунд не может быть отрицательным.")
    return value


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how reminders go. `dry_run_dir` set: written as .eml files, never sent."""

    host: str
    port: int
    security: str  # starttls, ssl, none
    sender: str
    user: str = ""
    password_env: str = ""  # the NAME of the environment variable holding the password
    reply_to: str = ""
    reminder_days: int = 7
    interval_days: int = 7
    summary_interval_days: int = 1
    coordinators: tuple[str, ...] = ()
    dry_run_dir: Path | None = None
    timeout: int = 30
    ca_file: Path | None = None

    @property
    def mode(self) -> str:
        """'dry-run' or 'smtp': reminders are counted per mode, so a trial never blocks mail."""
        return "dry-run" if self.dry_run_dir is not None else "smtp"


def _addresses(s: SectionReader, key: str) -> tuple[str, ...]:
    values = s.get(key, list, [])
    for address in values:
        if not isinstance(address, str) or not _EMAIL.match(address.strip()):
            raise s.fail(key, f"«{address}» не похоже на адрес электронной почты.")
    return tuple(a.strip() for a in values)


def load_smtp(config: Config) -> SmtpSettings | None:
    """Read [smtp]; None unless it says `enabled = true` (no mail unless the config asks)."""
    s = config.section("smtp")
    if not s.get("enabled", bool, False):
        return None
    if "password" in s.data:
        raise s.fail(
            "password",
            "пароль не хранится в файле настроек: задайте его в переменной окружения"
            " и укажите её имя в password_env.",
        )
    security = s.text_value("security", "starttls").strip().lower()
    if security not in SECURITY_KINDS:
        raise s.fail("security", f"«{security}» — ожидается «starttls», «ssl» или «none».")
    dry_run_dir = s.path_value("dry_run_dir") if "dry_run_dir" in s.data else None
    host = s.text_value("host", "", required=False).strip()
    if dry_run_dir is None and not host:
        raise s.fail("host", "не указан почтовый сервер (или dry_run_dir для пробного режима).")
    port = s.get("port", int, DEFAULT_PORTS[security])
    if not 0 < port < 65536:
        raise s.fail("port", f"{port} — номер порта от 1 до 65535.")
    sender = s.text_value("from").strip()
    if not _EMAIL.match(sender.split("<")[-1].rstrip(">").strip()):
        raise s.fail("from", f"«{sender}» не похоже на адрес электронной почты.")
    user = s.text_value("user", "", required=False).strip()
    password_env = s.text_value("password_env", "", required=False).strip()
    if user and not password_env:
        raise s.fail("password_env", "для входа (user) нужно имя переменной с паролем.")
    if password_env and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", password_env):
        raise s.fail("password_env", f"«{password_env}» — это имя переменной окружения.")
    if user and security == "none":
        raise s.fail("security", "пароль нельзя передавать без шифрования: starttls или ssl.")
    numbers = {}
    for key, default, low in (
        ("reminder_days", 7, 0),
        ("interval_days", 7, 1),
        ("summary_interval_days", 1, 1),
        ("timeout", 30, 1),
    ):
        numbers[key] = s.get(key, int, default)
        if numbers[key] < low:
            raise s.fail(key, f"ожидается целое число не меньше {low}.")
    coordinators = _addresses(s, "coordinators")
    if not coordinators and config.coordinator is not None:
        coordinators = config.coordinator.emails
    ca_file = s.path_value("ca_file") if "ca_file" in s.data else None
    if ca_file is not None and not ca_file.is_file():
        raise s.fail("ca_file", f"файл сертификата не найден: {ca_file}")
    return SmtpSettings(
        host=host,
        port=port,
        security=security,
        sender=sender,
        user=user,
        password_env=password_env,
        reply_to=s.text_value("reply_to", "", required=False).strip(),
        reminder_days=numbers["reminder_days"],
        interval_days=numbers["interval_days"],
        summary_interval_days=numbers["summary_interval_days"],
        coordinators=coordinators,
        dry_run_dir=dry_run_dir,
        timeout=numbers["timeout"],
        ca_file=ca_file,
    )
