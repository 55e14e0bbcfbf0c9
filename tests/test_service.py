"""`serve` and `status` as an administrator meets them: signals, logs, --once, the status view."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from sync.cli_service import serve_command, status_command
from sync.config import Config
from sync.history import History
from sync.model import School
from sync.service.lock import LockHolder, lock_path_for
from sync.service.log import service_logging
from sync.service.scheduler import Service, stop_on_signals
from tests.fixtures import ROOT, TODAY, FakeClock, setup, sheet_rows, utc, with_tables

CYRILLIC = re.compile("[а-яА-Я]")


@click.group()
def cli() -> None:
    """Test group: the two commands as sync.cli registers them."""


cli.add_command(serve_command)
cli.add_command(status_command)


def invoke(*args: str) -> click.testing.Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def runs_of(config: Config) -> list[dict[str, object]]:
    with History.open(config.history_path) as history:
        return list(reversed(history.runs(50)))


@pytest.mark.parametrize("command", [serve_command, status_command])
def test_commands_have_russian_help(command: click.Command) -> None:
    result = invoke(str(command.name), "--help")
    assert result.exit_code == 0
    assert CYRILLIC.search(command.help or "")
    for param in command.params:
        text = getattr(param, "help", None)
        if param.name != "help" and text is not None:
            assert CYRILLIC.search(text), param.name


# --- signals ----------------------------------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_between_schools_and_the_next_run_completes(
    tmp_path: Path, signum: int
) -> None:
    config = setup(tmp_path)
    seen: list[str] = []

    def signal_after_second(school: School, i: int, _n: int) -> None:
        seen.append(school.id)
        if i == 2:
            os.kill(os.getpid(), signum)  # what systemd or Ctrl+C does

    stop = threading.Event()
    clock = FakeClock(utc(2022, 1, 10, 5), utc(2022, 1, 12), stop)
    service = Service(
        config,
        clock=clock,
        sleep=clock.sleep,
        stop=stop,
        sync_options={"progress": signal_after_second},
    )
    previous = signal.getsignal(signum)
    with stop_on_signals(service.stop):
        service.serve_forever()
    assert signal.getsignal(signum) is previous  # handlers restored
    assert seen == ["s1", "s2"]  # stopped before the third school
    (interrupted,) = service.results
    assert interrupted.outcome == "interrupted" and not interrupted.master
    assert "следующая синхронизация прочитает все" in interrupted.message
    assert clock.now < clock.until  # it stopped at once, not at the end of the simulated time

    # The next start sees the interrupted run and completes the work at once.
    stop = threading.Event()
    clock = FakeClock(utc(2022, 1, 10, 6), utc(2022, 1, 10, 7), stop)
    again = Service(config, clock=clock, sleep=clock.sleep, stop=stop)
    again.serve_forever()
    (complete,) = again.results
    assert complete.outcome == "ok"
    assert complete.counts["synced"] + complete.counts["unchanged"] == 4
    schools = {r[0] for r in sheet_rows(complete.master, "Школы")[1:]}
    assert len(schools) == 4
    assert [r["outcome"] for r in runs_of(config)] == ["interrupted", "ok"]


def test_a_crash_is_recorded_and_the_service_tries_again_next_night(tmp_path: Path) -> None:
    config = with_tables(setup(tmp_path), "[schedule]\ncatch_up = false")
    from sync.backends.folder import FolderBackend

    class FailsOnce(FolderBackend):
        calls = 0

        def survey(self, schools):  # type: ignore[no-untyped-def]
            FailsOnce.calls += 1
            if FailsOnce.calls == 1:
                raise RuntimeError("сетевая папка недоступна")
            return super().survey(schools)

    stop = threading.Event()
    clock = FakeClock(utc(2022, 1, 10, 5), utc(2022, 1, 12, 5), stop)
    backend = FailsOnce(config.master_path, config.backups_dir)
    service = Service(
        config, clock=clock, sleep=clock.sleep, stop=stop, sync_options={"backend": backend}
    )
    service.serve_forever()
    runs = runs_of(config)
    assert [r["outcome"] for r in runs] == ["crashed", "ok"]
    assert "сетевая папка недоступна" in str(runs[0]["message"])


# --- serve as a process -----------------------------------------------------------------------

SERVE = "from sync.cli_service import serve_command; serve_command()"


def wait_for(path: Path, text: str, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in (content := path.read_text(encoding="utf-8")):
            return content
        time.sleep(0.1)
    raise AssertionError(f"{text!r} not in {path}")


@pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM is POSIX")
def test_serve_process_logs_each_school_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    config = setup(tmp_path)
    log_file = tmp_path / "logs" / "service.log"
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVE, "--config", str(config.path), "--log-file", str(log_file)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ | {"TZ": "UTC"},
    )
    try:
        wait_for(log_file, "Следующая синхронизация")
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    log = log_file.read_text(encoding="utf-8")
    assert "Служба запущена: Тестовый округ, часовой пояс Asia/Chita" in log
    assert "Получен сигнал SIGTERM" in log
    assert log.rstrip().endswith("Служба остановлена.")
    school_lines = [line for line in log.splitlines() if re.search(r"№ 1: s\d|№ 1: mouo", line)]
    assert len(school_lines) == 4  # one line per school in the run
    assert any("s1 «МОУ СОШ № 1 с. Чара» — прочитана" in line for line in school_lines)
    # Local time of the municipality with its offset, though the machine runs in UTC.
    assert all(re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0900 ", line) for line in school_lines)
    assert "Служба запущена" in err  # the console (journald) gets the same lines
    assert [r["outcome"] for r in runs_of(config)] == ["ok"]


def test_serve_once_runs_only_when_due(tmp_path: Path) -> None:
    config = setup(tmp_path)
    log_file = tmp_path / "once.log"
    first = invoke("serve", "--once", "--config", str(config.path), "--log-file", str(log_file))
    assert first.exit_code == 0, first.output
    second = invoke("serve", "--once", "--config", str(config.path), "--log-file", str(log_file))
    assert second.exit_code == 0
    assert [r["outcome"] for r in runs_of(config)] == ["ok"]
    log = log_file.read_text(encoding="utf-8")
    assert log.count("наступило: запуск") == 1
    assert "уже выполнена" not in log  # "nothing to do" stays out of the log at INFO


def test_log_level_warning_keeps_only_trouble(tmp_path: Path) -> None:
    config = setup(tmp_path)
    Path(config.schools[0].source).write_bytes(b"not a workbook")
    log_file = tmp_path / "quiet.log"
    result = invoke(
        "serve", "--once", "--config", str(config.path), "--log-file", str(log_file),
        "--log-level", "warning",
    )  # fmt: skip
    assert result.exit_code == 3  # a school could not be read: the scheduler hears of it
    lines = log_file.read_text(encoding="utf-8").splitlines()
    assert lines and all(" WARNING " in line or " ERROR " in line for line in lines)
    assert any("s1" in line and "не прочитана" in line for line in lines)


def test_logs_rotate(tmp_path: Path) -> None:
    log_file = tmp_path / "r.log"
    with service_logging(UTC, "INFO", log_file, max_mb=1, files=2, console=False) as logger:
        for n in range(20000):
            logger.info("строка журнала № %d %s", n, "ж" * 60)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["r.log", "r.log.1", "r.log.2"]
    assert all(p.stat().st_size <= 1024 * 1024 for p in tmp_path.iterdir())
    assert not logging.getLogger("roadmap_sync").handlers  # nothing left open


def test_a_bad_config_is_a_russian_message_and_exit_2(tmp_path: Path) -> None:
    config = with_tables(setup(tmp_path), '[schedule]\nnightly = "в два часа"')
    result = invoke("serve", "--config", str(config.path))
    assert result.exit_code == 2
    assert "schedule.nightly" in result.stderr and "02:00" in result.stderr
    missing = invoke("status", "--config", str(tmp_path / "нет.toml"))
    assert missing.exit_code == 2 and "не найден" in missing.stderr


# --- status -----------------------------------------------------------------------------------


def test_status_shows_runs_and_each_school(tmp_path: Path) -> None:
    config = setup(tmp_path)
    empty = invoke("status", "--config", str(config.path))
    assert empty.exit_code == 0 and "ещё не было" in empty.output
    assert not config.history_path.exists()  # status never creates the history

    from sync.pipeline import run

    run(config, today=TODAY)
    Path(config.schools[2].source).write_bytes(b"broken")
    run(config, today=TODAY + timedelta(days=1))

    data = json.loads(invoke("status", "--config", str(config.path), "--json").output)
    assert data["timezone"] == "Asia/Chita" and data["running"] is None
    assert data["next_run"]["kind"] == "nightly" and data["next_run"]["at"].endswith("+09:00")
    assert data["reminders"] == "off"
    assert [r["outcome"] for r in data["runs"]] == ["ok", "ok"]  # newest first
    newest = data["runs"][0]
    assert (newest["synced"], newest["unchanged"], newest["failed"]) == (0, 3, 1)
    assert newest["seconds"] is not None and newest["started"].endswith("+09:00")
    schools = {s["id"]: s for s in data["schools"]}
    assert set(schools) == {"s1", "s2", "s3", "mouo"}
    s2, s3 = schools["s2"], schools["s3"]
    assert s2["errors"] >= 4 and s2["last_outcome"] == "unchanged"
    assert s2["last_change"] is not None and s2["last_read"] is not None
    assert s3["last_outcome"] == "failed" and s3["last_message"]
    assert s3["last_read"] is not None and s3["last_read"] <= s3["last_attempt"]
    assert s3["overdue"] > 0  # from its last good read

    text = invoke("status", "--config", str(config.path)).output
    assert "Сейчас синхронизация не идёт." in text
    assert "Следующая по расписанию:" in text and "(ночная)" in text
    assert "МОУ СОШИ № 4 с. Кюсть-Кемда" in text and "не прочитана" in text
    assert "завершена" in text


def test_status_while_a_run_holds_the_lock_and_after_it_was_killed(tmp_path: Path) -> None:
    config = setup(tmp_path)
    lock = lock_path_for(config.history_path)
    lock.parent.mkdir(parents=True, exist_ok=True)
    me = LockHolder(os.getpid(), socket.gethostname(), datetime.now(UTC), "serve")
    lock.write_text(json.dumps(me.to_json()), encoding="utf-8")
    text = invoke("status", "--config", str(config.path)).output
    assert f"Сейчас идёт синхронизация (процесс {os.getpid()}" in text
    dead = LockHolder(2**22 + 777, me.host, me.started, "serve")
    lock.write_text(json.dumps(dead.to_json()), encoding="utf-8")
    text = invoke("status", "--config", str(config.path)).output
    assert "Блокировка осталась от завершённого процесса" in text


def test_the_example_configuration_documents_a_safe_service() -> None:
    from sync.config import load_config
    from sync.service.config import load_schedule, load_smtp

    example = load_config(ROOT / "config" / "example.toml")
    settings = load_schedule(example)
    assert settings.nightly.strftime("%H:%M") == "02:00" and len(settings.extra) == 2
    assert load_smtp(example) is None  # no mail unless someone turns it on
    text = (ROOT / "config" / "example.toml").read_text(encoding="utf-8")
    assert not re.search(r"(?m)^password\s*=", text)  # only the variable's name


def test_a_second_serve_for_the_same_history_refuses(tmp_path: Path) -> None:
    from sync.service.lock import read_holder, service_lock_path_for
    from sync.service.scheduler import AlreadyServing

    config = with_tables(setup(tmp_path), "[schedule]\ncatch_up = false")
    first = Service(config)  # the real clock; it sleeps on its stop event
    thread = threading.Thread(target=first.serve_forever)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while read_holder(service_lock_path_for(config.history_path)) is None:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        with pytest.raises(AlreadyServing) as e:
            Service(config).serve_forever()
        assert f"процесс {os.getpid()}" in str(e.value) and "уже запущена" in str(e.value)
    finally:
        first.stop.set()
        thread.join(30)
    assert not thread.is_alive()
    assert read_holder(service_lock_path_for(config.history_path)) is None  # free again
