"""The nightly service: `schedule` drives jobs whose times are local to the municipality.

`schedule` compares its jobs with the machine's clock in the machine's zone, which may be UTC on a
server or anything on a coordinator's PC. Here each job's next time is computed in the
municipality's zone (zoneinfo) from the configured wall-clock time, kept as an aware instant, and
compared with an injectable clock: 02:00 in Чита and 02:00 in Калининград are different instants,
wherever the machine is. The loop sleeps on the stop event, so SIGTERM or Ctrl+C wakes it at once.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from types import FrameType
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import schedule

from sync.config import Config, ConfigError, load_config
from sync.history import History
from sync.pipeline import RunResult, run
from sync.plan import PlanFileError
from sync.service.config import (
    ExtraRuns,
    ScheduleSettings,
    SmtpSettings,
    load_schedule,
    load_smtp,
)
from sync.service.lock import LockBusy, RunLock, service_lock_path_for
from sync.states import RunOutcome

KEPT_RESULTS = 10  # run results a service keeps (see Service.results)
log = logging.getLogger("roadmap_sync.service")

Clock = Callable[[], datetime]  # an aware "now"
Sleep = Callable[[float], None]

NIGHTLY, EXTRA, CATCH_UP = "nightly", "extra", "catch_up"
KIND_RU = {NIGHTLY: "ночная", EXTRA: "дополнительная", CATCH_UP: "пропущенная"}
SEARCH_DAYS = 400  # a yearly window fires at least once in this many days
SERVICE_LOCK_WAIT = 3 * 3600  # a scheduled run waits this long for a manual one to finish
MAX_IDLE = 60.0  # re-check the clock at least this often (sleep, suspend, clock changes)


def utc_now() -> datetime:
    return datetime.now(UTC)


class AlreadyServing(Exception):
    """Another `serve` works with the same history; str() is a Russian message."""


# --- when: pure functions of the settings, the zone and an instant ------------------------------


def wall_instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The instant (UTC) the clocks in `zone` show `at` on `day`.

    Russia keeps no daylight saving time since 2014, but a zone that does is handled: a time in
    the spring gap fires at the instant just after it, a repeated autumn time fires once, the first.
    """
    return datetime.combine(day, at).replace(tzinfo=zone, fold=0).astimezone(UTC)


class Rule(Protocol):
    """Which local times of a day a job fires at."""

    @property
    def kind(self) -> str: ...

    def times_on(self, day: date) -> list[time]: ...

    def describe(self) -> str: ...


@dataclass(frozen=True)
class NightlyRule:
    at: time
    kind: str = NIGHTLY

    def times_on(self, day: date) -> list[time]:
        return [self.at]

    def describe(self) -> str:
        return f"каждый день в {self.at:%H:%M}"


@dataclass(frozen=True)
class ExtraRule:
    window: ExtraRuns
    kind: str = EXTRA

    def times_on(self, day: date) -> list[time]:
        return self.window.times() if self.window.active_on(day) else []

    def describe(self) -> str:
        return self.window.describe()


def rules_of(settings: ScheduleSettings) -> list[Rule]:
    """The nightly rule first (it wins a tie), then each window of extra runs."""
    return [NightlyRule(settings.nightly), *(ExtraRule(w) for w in settings.extra)]


@dataclass(frozen=True)
class Fire:
    """One scheduled moment: the instant (UTC) and which kind of run it starts."""

    at: datetime
    kind: str

    def local(self, zone: ZoneInfo) -> datetime:
        return self.at.astimezone(zone)


def next_fire(rule: Rule, zone: ZoneInfo, after: datetime) -> Fire | None:
    """The first moment strictly after `after` that the rule fires at; None if it never will."""
    first = after.astimezone(zone).date() - timedelta(days=1)
    for n in range(SEARCH_DAYS):
        day = first + timedelta(days=n)
        for at in rule.times_on(day):
            moment = wall_instant(day, at, zone)
            if moment > after:
                return Fire(moment, rule.kind)
    return None


def last_fire(rule: Rule, zone: ZoneInfo, at_or_before: datetime) -> Fire | None:
    """The newest moment at or before `at_or_before` that the rule fired at (within a year)."""
    last = at_or_before.astimezone(zone).date() + timedelta(days=1)
    for n in range(SEARCH_DAYS):
        day = last - timedelta(days=n)
        for at in reversed(rule.times_on(day)):
            moment = wall_instant(day, at, zone)
            if moment <= at_or_before:
                return Fire(moment, rule.kind)
    return None


def next_of(settings: ScheduleSettings, zone: ZoneInfo, after: datetime) -> Fire | None:
    """The next moment any rule fires at (the nightly one on a tie)."""
    fires = [f for r in rules_of(settings) if (f := next_fire(r, zone, after)) is not None]
    return min(fires, key=lambda f: f.at) if fires else None


def last_due(settings: ScheduleSettings, zone: ZoneInfo, now: datetime) -> Fire | None:
    """The newest moment any rule fired at, up to now (the nightly one on a tie)."""
    fires = [f for r in rules_of(settings) if (f := last_fire(r, zone, now)) is not None]
    return max(fires, key=lambda f: (f.at, f.kind == NIGHTLY)) if fires else None


# --- the jobs: schedule.Job with a zone-aware next time and an injected clock --------------------


class ZonedJob(schedule.Job):
    """A `schedule` job whose next run is an aware instant computed in the municipality's zone."""

    def __init__(
        self, scheduler: schedule.Scheduler, rule: Rule, zone: ZoneInfo, clock: Clock
    ) -> None:
        super().__init__(1, scheduler)
        self.unit = "days"
        self.rule, self.zone, self.clock = rule, zone, clock
        self.due: datetime | None = None  # the moment the current call was due at

    def _schedule_next_run(self) -> None:
        fire = next_fire(self.rule, self.zone, self.clock())
        if fire is None:
            # Past its last window: schedule's own run() then returns CancelJob.
            self.next_run = datetime.max.replace(tzinfo=UTC)
            self.cancel_after = datetime.min.replace(tzinfo=UTC)
        else:
            self.next_run = fire.at

    @property
    def should_run(self) -> bool:
        assert self.next_run is not None
        return self.clock() >= self.next_run

    def _is_overdue(self, when: datetime) -> bool:
        # schedule passes its own naive now() here; only our aware instants are compared.
        return (
            self.cancel_after is not None and when.tzinfo is not None and when > self.cancel_after
        )

    def run(self) -> Any:
        self.due = self.next_run
        return super().run()  # type: ignore[no-untyped-call]  # schedule's Job.run is unannotated

    def __repr__(self) -> str:
        when = self.next_run.astimezone(self.zone) if self.next_run else None
        return f"ZonedJob({self.rule.kind}: {self.rule.describe()}, next {when})"

    __str__ = __repr__


# --- the service ---------------------------------------------------------------------------------


SyncFunction = Callable[..., RunResult]  # sync.pipeline.run, or a stand-in in tests


class Service:
    """`roadmap-sync serve`: runs the sync at the scheduled local times until `stop` is set.

    Everything that touches time is injected (clock, sleep), as is the sync itself, so the tests
    drive days of schedule in milliseconds. A run that crashes is recorded by the pipeline; the
    service logs it and waits for the next time.
    """

    def __init__(
        self,
        config: Config,
        *,
        clock: Clock = utc_now,
        sleep: Sleep | None = None,
        stop: threading.Event | None = None,
        sync: SyncFunction = run,
        sync_options: dict[str, Any] | None = None,
        max_idle: float = MAX_IDLE,
        lock_wait: float = SERVICE_LOCK_WAIT,
    ) -> None:
        self.config = config
        self.settings: ScheduleSettings = load_schedule(config)
        self.smtp: SmtpSettings | None = load_smtp(config)
        self.clock = clock
        self.stop = stop or threading.Event()
        self.sleep: Sleep = sleep or self._wait
        self.sync = sync
        self.sync_options = sync_options or {}
        self.max_idle = max_idle
        self.lock_wait = lock_wait
        self.scheduler = schedule.Scheduler()
        # The latest runs' results (a service runs for months: older ones, with their spooled
        # rows, are let go) and how many runs finished.
        self.results: deque[RunResult] = deque(maxlen=KEPT_RESULTS)
        self.finished_runs = 0
        self.last_started: datetime | None = None
        self.last_finished: datetime | None = None
        self._config_stamp = _stamp(config.path)
        self._build_jobs()

    def _wait(self, seconds: float) -> None:
        self.stop.wait(seconds)  # a signal sets stop and wakes this at once

    @property
    def zone(self) -> ZoneInfo:
        return self.config.zone

    def local_now(self) -> datetime:
        """Now, in the municipality's zone: runs are recorded with local wall times."""
        return self.clock().astimezone(self.zone)

    def _build_jobs(self) -> None:
        self.scheduler.clear()
        for rule in rules_of(self.settings):
            if next_fire(rule, self.zone, self.clock()) is None:
                log.warning(
                    "Дополнительные запуски %s уже прошли: не планируются.", rule.describe()
                )
                continue
            job = ZonedJob(self.scheduler, rule, self.zone, self.clock)
            job.do(self._fire, job)

    def next_fire(self) -> Fire | None:
        """The next scheduled moment of any job."""
        return next_of(self.settings, self.zone, self.clock())

    def describe(self) -> str:
        """Russian, for the first log line: where, which zone, when."""
        parts = [f"ночная синхронизация в {self.settings.nightly:%H:%M}"]
        parts += [f"дополнительно {w.describe()}" for w in self.settings.extra]
        mail = (
            "напоминания выключены"
            if self.smtp is None
            else f"напоминания: пробный режим, письма в {self.smtp.dry_run_dir}"
            if self.smtp.dry_run_dir
            else f"напоминания через {self.smtp.host}:{self.smtp.port}"
        )
        return (
            f"{self.config.municipality}, часовой пояс {self.config.timezone}; "
            + "; ".join(parts)
            + f"; {mail}."
        )

    # one run
    def run_now(self, kind: str, lock_wait: float | None = None) -> RunResult | None:
        """Run the sync once now; never raises for a crash (the pipeline has recorded it)."""
        self._reload_if_changed()
        started = self.clock()
        self.last_started = started
        log.debug("Запуск: %s синхронизация.", KIND_RU.get(kind, kind))
        try:
            result = self.sync(
                self.config,
                today=self.config.today(started),
                stop=self.stop,
                now=self.local_now,
                lock_wait=self.lock_wait if lock_wait is None else lock_wait,
                after=self._after_run if kind in (NIGHTLY, CATCH_UP) else None,
                command=f"serve, {KIND_RU.get(kind, kind)}",
                **self.sync_options,
            )
        except (ConfigError, PlanFileError) as e:
            log.error("Синхронизация не выполнена: %s", e)
            return None
        except Exception:
            log.exception("Синхронизация остановлена ошибкой; следующая попытка — по расписанию.")
            return None
        finally:
            self.last_finished = self.clock()
        self.results.append(result)
        self.finished_runs += 1
        return result

    def _after_run(self, result: RunResult, history: History) -> None:
        """After the nightly run, with the lock still held: the справка when due, the reminders."""
        if result.outcome in (RunOutcome.OK, RunOutcome.MASTER_FAILED):
            from sync.spravka.service import write_if_due

            try:
                write_if_due(self.config, self.smtp, result, history, self.local_now())
            except Exception:
                log.exception("Справка не записана из-за ошибки; синхронизация не затронута.")
        if self.smtp is None or result.outcome not in (RunOutcome.OK, RunOutcome.MASTER_FAILED):
            return
        from sync.service.mail import send_reminders

        try:
            send_reminders(self.config, self.smtp, result, history, self.local_now())
        except Exception:
            log.exception("Напоминания не отправлены из-за ошибки; синхронизация не затронута.")

    def _fire(self, job: ZonedJob) -> None:
        due = job.due or self.clock()
        if job.rule.kind == EXTRA and self._covered(due):
            log.info("Дополнительный запуск на %s пропущен: синхронизация уже шла.", self._fmt(due))
            return
        if job.rule.kind == NIGHTLY and self.last_started is not None and self.last_started >= due:
            return  # started already for this very moment
        self.run_now(job.rule.kind)

    def _covered(self, due: datetime) -> bool:
        """Whether a run started at or after `due`, or was still going at `due`."""
        return (self.last_started is not None and self.last_started >= due) or (
            self.last_finished is not None and self.last_finished >= due
        )

    def _fmt(self, moment: datetime) -> str:
        return f"{moment.astimezone(self.zone):%d.%m.%Y %H:%M}"

    # catching up
    def missed(self) -> Fire | None:
        """The newest due moment with no run started since it (interrupted runs do not count)."""
        due = last_due(self.settings, self.zone, self.clock())
        if due is None:
            return None
        if not self.config.history_path.exists():
            return due
        with History.open(self.config.history_path) as history:
            return None if history.attempted_since(due.at) else due

    def run_if_due(self) -> tuple[Fire | None, RunResult | None]:
        """`serve --once` (cron, Windows): run if a due moment has no run yet, else nothing.

        Returns the due moment (None: nothing due) and the run's result (None: it crashed).
        A run already going elsewhere is not waited for: it is doing this very work.
        """
        due = self.missed()
        if due is None:
            # cron calls this every few minutes: a line each time would drown the log
            log.debug(
                "Синхронизация по расписанию уже выполнена; следующая — %s.", self._next_text()
            )
            return None, None
        log.info("Время синхронизации %s наступило: запуск.", self._fmt(due.at))
        return due, self.run_now(CATCH_UP if due.kind == NIGHTLY else EXTRA, lock_wait=0)

    def not_due_reason(self) -> str:
        """Russian, for `serve --once -v`: why no run was started now, and when the next is."""
        due = last_due(self.settings, self.zone, self.clock())
        nxt = self._next_text()
        if due is None:
            return (
                "Синхронизация не запущена: по расписанию её время ещё не наступало;"
                f" первая — {nxt}."
            )
        return (
            f"Синхронизация не запущена: по расписанию последняя была назначена на"
            f" {self._fmt(due.at)}, и после этого синхронизация уже выполнялась; следующая — {nxt}."
        )

    def _next_text(self) -> str:
        fire = self.next_fire()
        return f"{self._fmt(fire.at)} ({self.config.timezone})" if fire else "не запланирована"

    # the loop
    def serve_forever(self) -> None:
        """Run the jobs at their times until `stop` is set (SIGTERM, Ctrl+C or a test).

        Raises AlreadyServing when another `serve` runs for the same history database.
        """
        guard = RunLock(
            service_lock_path_for(self.config.history_path), command="serve", zone=self.zone
        )
        try:
            guard.acquire(0)
        except LockBusy as e:
            who = e.holder.describe(self.zone) if e.holder else "другой процесс"
            message = (
                f"Служба для этих настроек уже запущена ({who}). Вторая не нужна: синхронизации"
                " всё равно идут по одной. Остановите первую или пользуйтесь ею."
            )
            log.error(message)
            raise AlreadyServing(message) from None
        try:
            self._serve()
        finally:
            guard.release()

    def _serve(self) -> None:
        log.info("Служба запущена: %s", self.describe())
        if self.settings.catch_up and not self.stop.is_set():
            first = not self.config.history_path.exists()
            due = self.missed()
            if due is not None:
                log.info(
                    "Синхронизаций ещё не было: первая — сейчас."
                    if first
                    else f"Синхронизация {self._fmt(due.at)} не выполнялась (служба была"
                    " остановлена или синхронизация прервана): запуск сейчас."
                )
                self.run_now(CATCH_UP if due.kind == NIGHTLY else EXTRA)
        log.info("Следующая синхронизация: %s.", self._next_text())
        while not self.stop.is_set():
            self._reload_if_changed()
            ran = self.finished_runs
            self.scheduler.run_pending()
            if self.stop.is_set():
                break
            if self.finished_runs != ran:
                log.info("Следующая синхронизация: %s.", self._next_text())
            self.sleep(self._idle())
        log.info("Служба остановлена.")

    def _idle(self) -> float:
        upcoming = [j.next_run for j in self.scheduler.jobs if j.next_run is not None]
        if not upcoming:
            return self.max_idle
        seconds = (min(upcoming) - self.clock()).total_seconds()
        return max(0.0, min(seconds, self.max_idle))

    # configuration changes
    def _reload_if_changed(self) -> None:
        """Read the configuration again when its file changed: new schools need no restart."""
        stamp = _stamp(self.config.path)
        if stamp == self._config_stamp:
            return
        self._config_stamp = stamp
        try:
            config = load_config(self.config.path)
            settings, smtp = load_schedule(config), load_smtp(config)
        except (ConfigError, OSError) as e:
            log.error("Настройки изменены, но не прочитаны — работаю с прежними. %s", e)
            return
        rebuild = settings != self.settings or config.timezone != self.config.timezone
        self.config, self.settings, self.smtp = config, settings, smtp
        log.info("Настройки перечитаны: %s", self.describe())
        if rebuild:
            self._build_jobs()
            log.info("Расписание изменено; следующая синхронизация: %s.", self._next_text())


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


@contextlib.contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGTERM, Ctrl+C (and Ctrl+Break on Windows) set `stop`: the run ends between schools.

    A second Ctrl+C stops at once. Outside the main thread (a test) nothing is installed.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    names = ["SIGTERM", "SIGINT", "SIGBREAK", "SIGHUP"]
    numbers = [getattr(signal, n) for n in names if hasattr(signal, n)]
    previous: dict[int, Any] = {}

    def handler(signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        log.warning(
            "Получен сигнал %s: остановка после текущей школы"
            " (синхронизация будет отмечена как прерванная).",
            name,
        )
        stop.set()

    for number in numbers:
        previous[number] = signal.signal(number, handler)
    try:
        yield
    finally:
        for number, old in previous.items():
            signal.signal(number, old)
