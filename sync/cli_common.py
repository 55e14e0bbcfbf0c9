"""Pieces every command module shares: the --config option, Russian errors instead of tracebacks,
and the exit codes of a sync that a scheduler (cron, systemd, Windows) can act on.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import sys
from collections.abc import Callable
from datetime import date, datetime
from enum import IntEnum
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from sync import cli_ru

cli_ru.install()  # every command module imports this one: click speaks Russian in all of them

from sync.config import ConfigError  # noqa: E402
from sync.history import HistoryError  # noqa: E402
from sync.oserrors import describe  # noqa: E402
from sync.plan import PlanFileError  # noqa: E402
from sync.states import NOT_WRITTEN, UNFINISHED_RUNS, RunOutcome, SchoolOutcome  # noqa: E402

if TYPE_CHECKING:
    from sync.pipeline import RunResult

F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK, EXIT_INVALID, EXIT_UNREADABLE = 0, 1, 2


class RunExit(IntEnum):
    """Exit codes of `run`, `demo` and `serve --once`, documented in README and in `--help`."""

    OK = 0  # every school read and its controls written, the master written; or nothing was due
    SETTINGS = 2  # the settings, the plan or the history cannot be read: nothing was done
    SCHOOLS = 3  # done, but a school could not be read or its controls could not be written
    INCOMPLETE = 4  # the master not written, or the run stopped (error, signal) before the end
    BUSY = 5  # another sync is going: this one did not start


EXIT_CODES_HELP = (
    "Коды выхода: 0 — всё выполнено (или по расписанию ещё не время); 2 — не читаются настройки,"
    " план или история; 3 — какую-то школу не удалось прочитать или записать в неё контроль;"
    " 4 — свод не записан или синхронизация прервана; 5 — уже идёт другая синхронизация."
)


def run_exit_code(result: RunResult) -> RunExit:
    """The exit code of one run, from its result alone (so any backend gets the same codes)."""
    if result.outcome == RunOutcome.BUSY:
        return RunExit.BUSY
    if result.outcome in UNFINISHED_RUNS:
        return RunExit.INCOMPLETE
    if any(
        r.outcome in (SchoolOutcome.FAILED, SchoolOutcome.LOCKED) for r in result.reports
    ) or any(w.status in NOT_WRITTEN or w.partial for w in result.writes.values()):
        return RunExit.SCHOOLS
    return RunExit.OK


def failure_line(result: RunResult, shown: int = 3) -> str:
    """One Russian line saying what went wrong ("" when nothing did), for `run -q` and cron."""
    code = run_exit_code(result)
    if code is RunExit.OK:
        return ""
    if code is RunExit.BUSY:
        return f"Синхронизация не запущена: {result.message}"
    head = f"Синхронизация № {result.run_id}"
    if code is RunExit.INCOMPLETE:
        return f"{head} не завершена: {result.message or 'свод не записан.'}"
    unread = [r for r in result.reports if r.outcome == SchoolOutcome.FAILED]
    unwritten = [
        r
        for r in result.reports
        if r.outcome == SchoolOutcome.LOCKED
        or (
            r.school.id in result.writes
            and (
                result.writes[r.school.id].status in NOT_WRITTEN
                or result.writes[r.school.id].partial
            )
        )
    ]
    parts = []
    if unread:
        parts.append(f"не прочитано книг: {len(unread)}")
    if unwritten:
        parts.append(f"контроль не записан в книг: {len(unwritten)}")
    troubled = unread + [r for r in unwritten if r not in unread]
    names = "; ".join(
        f"{r.school.name} — {r.message}" if r.message else r.school.name for r in troubled[:shown]
    )
    more = f"; и ещё {len(troubled) - shown}" if len(troubled) > shown else ""
    return f"{head} завершена с ошибками: {', '.join(parts)} ({names}{more})."


config_option = click.option(
    "--config",
    "config_path",
    required=True,
    type=click.Path(path_type=Path),
    metavar="ФАЙЛ",
    help="Файл настроек (TOML).",
)


def _say(message: str) -> None:
    with contextlib.suppress(OSError):  # stderr itself is gone: the exit code still tells
        click.echo(message, err=True)


def _flush_stdout() -> None:
    """Flush what the command printed now, so a full disk is a message and not Python's
    «Exception ignored» at exit."""
    try:
        sys.stdout.flush()
    except OSError as e:
        with contextlib.suppress(OSError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())  # the lost output cannot be flushed again
            os.close(devnull)
        _say(f"Не удалось вывести итог: {describe(e)}.")
        if sys.exc_info()[0] is None:
            sys.exit(EXIT_UNREADABLE)
    except ValueError:
        pass  # stdout closed


def friendly_errors(func: F) -> F:
    """Turn the errors a user can cause into a Russian message and exit code 2, not a traceback."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (ConfigError, PlanFileError, HistoryError) as e:
            click.echo(str(e), err=True)
            sys.exit(EXIT_UNREADABLE)
        except (OSError, sqlite3.Error) as e:
            # A full disk or a folder without rights: the reason in Russian, no traceback.
            _say(f"Команда не выполнена: {describe(e)}.")
            sys.exit(EXIT_UNREADABLE)
        finally:
            _flush_stdout()

    return wrapper  # type: ignore[return-value]


def date_option(_ctx: click.Context, _param: click.Parameter, value: str | None) -> date | None:
    """Click callback for a date option: 2022-01-15 or 15.01.2022, else a Russian error."""
    if value is None:
        return None
    for fmt in ("%Y-%m-%d", "%d.%m.%Y"):
        try:
            return datetime.strptime(value, fmt).date()
        except ValueError:
            pass
    raise click.BadParameter(f"«{value}» — ожидается дата вида 2022-01-15 или 15.01.2022.")
