"""One run at a time: threads and processes started together, a killed holder, no-lock shares."""

from __future__ import annotations

import errno
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from sync.backends.folder import FolderBackend
from sync.config import Config
from sync.history import History
from sync.model import School
from sync.pipeline import RunResult, run
from sync.service import lock as lockmod
from sync.service.lock import LockBusy, LockHolder, RunLock, lock_path_for, pid_alive, read_holder
from tests.fixtures import ROOT, TODAY, setup


class SlowBackend:
    """The folder backend, slowed down in its listing so that runs surely overlap in time."""

    def __init__(self, config: Config, delay: float) -> None:
        self.inner = FolderBackend(config.master_path, config.backups_dir, config.keep_backups)
        self.delay = delay
        self.listing = threading.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def survey(self, schools: Sequence[School]) -> Any:
        self.listing.set()  # the run holds the lock by now
        time.sleep(self.delay)
        return self.inner.survey(schools)


def runs_of(config: Config) -> list[dict[str, Any]]:
    with History.open(config.history_path) as history:
        return list(reversed(history.runs(50)))


def assert_one_at_a_time(runs: list[dict[str, Any]]) -> None:
    for before, after in itertools.pairwise(runs):
        assert datetime.fromisoformat(after["started"]) >= datetime.fromisoformat(
            before["finished"]
        ), (before, after)


def test_a_second_run_refuses_at_once_while_the_first_runs(tmp_path: Path) -> None:
    config = setup(tmp_path)
    slow = SlowBackend(config, 1.0)
    results: dict[str, RunResult] = {}
    first = threading.Thread(
        target=lambda: results.update(a=run(config, today=TODAY, backend=slow))
    )
    first.start()
    assert slow.listing.wait(30)
    busy = run(config, today=TODAY, lock_wait=0)
    first.join()
    assert results["a"].outcome == "ok"
    assert busy.outcome == "busy" and busy.run_id == 0 and not busy.reports
    assert "Синхронизация уже идёт" in busy.message
    assert f"процесс {os.getpid()}" in busy.message  # who holds it, for the person waiting
    assert [r["outcome"] for r in runs_of(config)] == ["ok"]  # the refused one wrote nothing


def test_two_runs_started_together_one_waits_for_the_other(tmp_path: Path) -> None:
    config = setup(tmp_path)
    run(config, today=TODAY)  # the workbooks painted once: the two runs below are alike
    barrier = threading.Barrier(2)
    results: list[RunResult] = []

    def start() -> None:
        backend = SlowBackend(config, 0.5)
        barrier.wait()
        results.append(run(config, today=TODAY, backend=backend, lock_wait=60))

    threads = [threading.Thread(target=start) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.outcome for r in results) == ["ok", "ok"]
    runs = runs_of(config)
    assert len(runs) == 3
    assert_one_at_a_time(runs)


RUN_SCRIPT = """
import sys
from datetime import date
from sync.config import load_config
from sync.pipeline import run
result = run(load_config(sys.argv[1]), today=date(2022, 1, 10), lock_wait=120, command="proc")
print(result.outcome, flush=True)
"""


def test_two_processes_started_together_never_write_at_once(tmp_path: Path) -> None:
    config = setup(tmp_path)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RUN_SCRIPT, str(config.path)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=180) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert [o[0].strip() for o in outs] == ["ok", "ok"]
    runs = runs_of(config)
    assert len(runs) == 2
    assert_one_at_a_time(runs)
    assert read_holder(lock_path_for(config.history_path)) is None  # released, text cleared


HOLD_SCRIPT = """
import sys, time
from datetime import datetime
from pathlib import Path
from sync.history import History
from sync.service.lock import RunLock
lock = RunLock(sys.argv[1], command="held").acquire()
with History.open(Path(sys.argv[2])) as history:
    history.start_run(datetime.now().astimezone(), datetime.now().date())
print("held", flush=True)
time.sleep(120)
"""


def _holder_process(config: Config) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            HOLD_SCRIPT,
            str(lock_path_for(config.history_path)),
            str(config.history_path),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "held"
    return proc


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_a_lock_left_by_a_killed_process_is_taken_over(tmp_path: Path) -> None:
    config = setup(tmp_path)
    proc = _holder_process(config)
    try:
        with pytest.raises(LockBusy) as busy:
            RunLock(lock_path_for(config.history_path)).acquire(0)
        assert busy.value.holder is not None and busy.value.holder.pid == proc.pid
        assert busy.value.holder.command == "held"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    assert not pid_alive(proc.pid)
    # The killed process left its text behind; the OS released its lock.
    left = read_holder(lock_path_for(config.history_path))
    assert left is not None and left.pid == proc.pid and left.alive() is False

    result = run(config, today=TODAY, lock_wait=0)
    assert result.outcome == "ok"
    runs = runs_of(config)
    assert [r["outcome"] for r in runs] == ["aborted", "ok"]
    assert "оборвалась" in runs[0]["message"]


def test_a_taken_over_lock_says_whose_it_was(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite.lock"
    dead = LockHolder(2**22 + 12345, lockmod.socket.gethostname(), datetime.now().astimezone(), "x")
    path.write_text(json.dumps(dead.to_json()), encoding="utf-8")
    lock = RunLock(path).acquire()
    try:
        assert lock.taken_over is not None
        assert (lock.taken_over.pid, lock.taken_over.command) == (dead.pid, "x")
        assert read_holder(path) is not None and read_holder(path).pid == os.getpid()  # type: ignore[union-attr]
    finally:
        lock.release()
    assert read_holder(path) is None


def test_waiting_ends_when_stop_is_set(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite.lock"
    held = RunLock(path).acquire()
    stop = threading.Event()
    threading.Timer(0.2, stop.set).start()
    began = time.monotonic()
    with pytest.raises(LockBusy):
        RunLock(path).acquire(60, stop=stop)
    assert time.monotonic() - began < 10
    held.release()


def test_where_the_file_system_cannot_lock_the_holders_life_decides(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_locks(fd: int) -> bool:
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(lockmod, "_try_os_lock", no_locks)
    path = tmp_path / "share.lock"
    first = RunLock(path, command="first").acquire()
    with pytest.raises(LockBusy) as busy:
        RunLock(path).acquire(0)  # the holder (this very process) is alive
    assert busy.value.holder is not None and busy.value.holder.command == "first"
    first.release()
    second = RunLock(path).acquire(0)
    second.release()
    # A holder that no longer exists is taken over.
    ghost = LockHolder(2**22 + 54321, lockmod.socket.gethostname(), None, "ghost")
    path.write_text(json.dumps(ghost.to_json()), encoding="utf-8")
    third = RunLock(path).acquire(0)
    assert third.taken_over == ghost
    third.release()
    # One on another computer cannot be checked from here: it is respected.
    remote = LockHolder(1, "another-host.example", None, "remote")
    path.write_text(json.dumps(remote.to_json()), encoding="utf-8")
    with pytest.raises(LockBusy) as busy:
        RunLock(path).acquire(0)
    assert "another-host.example" in str(busy.value)


def test_a_run_that_crashes_records_why_and_releases_the_lock(tmp_path: Path) -> None:
    config = setup(tmp_path)

    class Broken(SlowBackend):
        def survey(self, schools: Sequence[School]) -> Any:
            raise RuntimeError("диск отключён")

    with pytest.raises(RuntimeError):
        run(config, today=TODAY, backend=Broken(config, 0))
    runs = runs_of(config)
    assert runs[-1]["outcome"] == "crashed"
    assert "RuntimeError: диск отключён" in runs[-1]["message"]
    assert run(config, today=TODAY, lock_wait=0).outcome == "ok"  # nothing left locked


def test_a_killed_holder_pid_check_is_textual_only_for_this_host() -> None:
    holder = LockHolder(os.getpid(), "elsewhere", None)
    assert holder.alive() is None
    assert LockHolder.from_text("not json") is None
    assert "процесс" in LockHolder(1, "h", None, "serve").describe()


def test_a_keyboard_interrupt_in_a_manual_run_is_recorded(tmp_path: Path) -> None:
    config = setup(tmp_path)

    def press_ctrl_c(school: School, i: int, n: int) -> None:
        if i == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(config, today=TODAY, progress=press_ctrl_c)
    last = runs_of(config)[-1]
    assert last["outcome"] == "interrupted" and "Ctrl+C" in last["message"]
    assert last["synced"] == 1
    assert run(config, today=TODAY, lock_wait=0).outcome == "ok"


def test_lock_file_sits_beside_the_history() -> None:
    assert lock_path_for(Path("/x/history.sqlite")) == Path("/x/history.sqlite.lock")
