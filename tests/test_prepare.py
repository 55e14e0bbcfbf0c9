"""The helper process that checks unchanged schools ahead of the run's loop (sync.prepare).

Its results must be exactly what the loop would compute itself, whatever happens to it."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from sync import pipeline, prepare
from sync.builders.fill import fill_workbook
from sync.config import Config
from sync.history import History
from sync.pipeline import RunResult, run
from sync.spec import load_spec
from tests.fixtures import TODAY, setup

SPEC = load_spec()
LATER = TODAY + timedelta(days=45)  # deadlines pass: the controls of unchanged schools change


@pytest.fixture
def helpers(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[prepare.Helper | None]]:
    """Every helper started, with the threshold lowered to the fixture's few schools.

    The test session keeps servers of its own in threads (the fake Google, SMTP), which makes
    `fork_safe` refuse; they touch nothing the helper uses, so here forking is allowed."""
    monkeypatch.setattr(prepare, "MIN_SCHOOLS", 1)
    monkeypatch.setattr("sync.backends.isolated.fork_safe", lambda: True)
    made: list[prepare.Helper | None] = []
    real = prepare.start

    def recording(config: Config, today: date) -> prepare.Helper | None:
        helper = real(config, today)
        made.append(helper)
        return helper

    monkeypatch.setattr(prepare, "start", recording)
    yield made


def _clock() -> Any:
    return lambda: datetime(2022, 3, 1, 2, 0)


def _nights(config: Config) -> RunResult:
    """A first run, one school changed, then a night weeks later: changed and unchanged."""
    run(config, today=TODAY, now=_clock())
    fill_workbook(Path(config.schools[0].source), SPEC, {"5": {"status": "Выполнено"}})
    return run(config, today=LATER, now=_clock())


def _everything(config: Config, result: RunResult) -> dict[str, Any]:
    """What a run produced: reports, the master's cells, the history's reads."""
    wb = openpyxl.load_workbook(str(result.master))
    master = {ws.title: [[c.value for c in r] for r in ws.iter_rows()] for ws in wb.worksheets}
    # When each file last changed is the file system's (the two municipalities were written
    # at different moments), not the run's.
    for row in master["Школы"]:
        row[:] = [None if isinstance(v, datetime) else v for v in row]
    with sqlite3.connect(config.history_path) as db:
        reads = db.execute(
            "SELECT run_id, school_id, at, outcome, snapshot, problems, controls,"
            " message FROM reads ORDER BY run_id, school_id"
        ).fetchall()
    reports = [
        (r.school.id, r.outcome, r.message, list(r.rows), r.problems, dict(r.passport))
        for r in result.reports
    ]
    return {"counts": result.counts, "reports": reports, "master": master, "reads": reads}


def _without_helper(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    (tmp_path / "alone").mkdir()
    config = setup(tmp_path / "alone")
    with monkeypatch.context() as m:
        m.setattr(prepare, "start", lambda config, today: None)
        result = _nights(config)
    return _everything(config, result)


def test_the_helpers_checks_are_the_loops_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, helpers: list[prepare.Helper | None]
) -> None:
    expected = _without_helper(tmp_path, monkeypatch)
    (tmp_path / "helped").mkdir()
    config = setup(tmp_path / "helped")
    got = _everything(config, _nights(config))
    assert got == expected
    # It did the work: the unchanged schools of the second night came from it.
    assert helpers[-1] is not None and helpers[-1].used == 3
    assert not helpers[-1].process.is_alive()  # and it is gone with the run


def test_a_plan_that_changed_between_the_two_loads_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, helpers: list[prepare.Helper | None]
) -> None:
    expected = _without_helper(tmp_path, monkeypatch)
    parent, real = os.getpid(), pipeline.load_context

    def racing(config: Config) -> Any:
        spec, plan = real(config)
        if os.getpid() != parent:  # the helper's load sees another deadline
            items = list(plan.items)
            items[0] = replace(items[0], due=date(2030, 1, 1))
            plan = replace(plan, items=items)
        return spec, plan

    monkeypatch.setattr(pipeline, "load_context", racing)
    (tmp_path / "helped").mkdir()
    config = setup(tmp_path / "helped")
    got = _everything(config, _nights(config))
    assert got == expected
    assert helpers[-1] is not None and helpers[-1].used == 0


def test_a_helper_that_dies_mid_run_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, helpers: list[prepare.Helper | None]
) -> None:
    expected = _without_helper(tmp_path, monkeypatch)
    real = prepare.Helper.take

    def killing(self: prepare.Helper, i: int) -> prepare.Prepared | None:
        found = real(self, i)
        if found is not None:
            self.process.kill()  # after its first result: the rest the loop does itself
            self.process.join(5)
        return found

    monkeypatch.setattr(prepare.Helper, "take", killing)
    (tmp_path / "helped").mkdir()
    config = setup(tmp_path / "helped")
    got = _everything(config, _nights(config))
    assert got == expected
    assert helpers[-1] is not None and helpers[-1].used >= 1


def test_no_helper_where_forking_is_not_safe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(prepare, "MIN_SCHOOLS", 1)
    config = setup(tmp_path)
    run(config, today=TODAY)
    # Another thread is running (the service): a forked copy could inherit a held lock.
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert threading.active_count() > 1
        assert prepare.start(config, TODAY) is None
    finally:
        stop.set()
        other.join()
    # Where it is safe (the test session's own server threads aside: see `helpers`)…
    monkeypatch.setattr("sync.backends.isolated.fork_safe", lambda: True)
    # …but the process holds the history open: SQLite's locks would not survive the fork.
    with History.open(config.history_path):
        assert prepare.start(config, TODAY) is None
    # …or too few schools to be worth a process.
    monkeypatch.setattr(prepare, "MIN_SCHOOLS", 10)
    assert prepare.start(config, TODAY) is None
    monkeypatch.setattr(prepare, "MIN_SCHOOLS", 1)
    helper = prepare.start(config, TODAY)
    assert helper is not None
    helper.close()
    assert not helper.process.is_alive()


def test_the_helper_ignores_ctrl_c_and_holds_none_of_the_parents_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Ctrl+C reaches the whole process group: the run decides, and stops the helper. A file
    # the parent holds (a log) is /dev/null in the helper, so a database it opens can never
    # take its number under the parent's log handler.
    import signal
    import time

    monkeypatch.setattr(prepare, "MIN_SCHOOLS", 1)
    monkeypatch.setattr("sync.backends.isolated.fork_safe", lambda: True)
    config = setup(tmp_path)
    run(config, today=TODAY)
    with (tmp_path / "service.log").open("a") as log_file:
        fd = log_file.fileno()
        helper = prepare.start(config, TODAY)
        assert helper is not None
        try:
            pid, seen = helper.process.pid, ""
            for _ in range(200):
                seen = os.readlink(f"/proc/{pid}/fd/{fd}")
                if seen == os.devnull:
                    break
                time.sleep(0.02)
            assert seen == os.devnull
            os.kill(pid, signal.SIGINT)
            time.sleep(0.3)
            assert helper.process.is_alive()
        finally:
            helper.close()
    assert not helper.process.is_alive()


def test_a_run_commits_what_it_recorded_before_it_waits_for_a_school(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Reading a school may wait (a slow share): the batch is committed first, so no other
    # writer waits on the run and `status` sees its progress.
    from sync.read_ahead import ReadAhead

    config = setup(tmp_path)
    real = ReadAhead.read
    committed: list[int] = []

    def watching(self: ReadAhead, school: Any) -> Any:
        with sqlite3.connect(config.history_path) as other:
            newest = other.execute("SELECT MAX(id) FROM runs").fetchone()[0]
            committed.append(
                other.execute("SELECT COUNT(*) FROM reads WHERE run_id = ?", (newest,)).fetchone()[
                    0
                ]
            )
        return real(self, school)

    run(config, today=TODAY)
    for school in config.all_workbooks():  # broken: read and failed, nothing written back
        Path(school.source).write_bytes(b"PK\x03\x04 not a workbook")
    monkeypatch.setattr(ReadAhead, "read", watching)
    result = run(config, today=TODAY)
    assert result.counts["failed"] == 4
    assert committed == [0, 1, 2, 3]
