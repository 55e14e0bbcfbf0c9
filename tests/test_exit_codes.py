"""Exit codes a scheduler can act on (`run`, `demo`, `serve --once`) and `-q`'s one line."""

from __future__ import annotations

import gc
import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from sync.backends.base import WriteResult
from sync.cli import main
from sync.cli_common import RunExit, failure_line, run_exit_code
from sync.config import Config
from sync.model import School, SchoolReport
from sync.pipeline import RunResult
from sync.service.lock import RunLock, lock_path_for
from sync.states import WriteStatus
from tests.fixtures import BUILT_AT, TODAY, municipality, with_tables

CYRILLIC = re.compile("[а-яА-Я]")


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def ready(tmp_path: Path) -> Config:
    from sync.distribute import distribute

    config = with_tables(municipality(tmp_path), "[schedule]\nlock_wait = 0")
    distribute(config, built_at=BUILT_AT)
    return config


def run_q(config: Config) -> tuple[int, str, str]:
    return invoke("run", "-q", "--config", str(config.path), "--today", TODAY.isoformat())


def test_a_clean_run_exits_0_and_says_nothing(tmp_path: Path) -> None:
    code, out, err = run_q(ready(tmp_path))
    assert (code, out, err) == (0, "", "")


def test_an_unreadable_school_exits_3_with_one_russian_line(tmp_path: Path) -> None:
    config = ready(tmp_path)
    Path(config.schools[1].source).write_bytes(b"not a workbook")
    code, out, err = run_q(config)
    assert code == RunExit.SCHOOLS == 3
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert config.schools[1].name in lines[0] and "не прочитано книг: 1" in lines[0]


def test_a_missing_school_file_exits_3(tmp_path: Path) -> None:
    config = ready(tmp_path)
    Path(config.schools[0].source).unlink()
    code, _out, err = run_q(config)
    assert code == 3 and "не найден" in err


# openpyxl's write-only sheet generators complain when the file cannot be opened; collected here.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_master_that_cannot_be_written_exits_4(tmp_path: Path) -> None:
    config = ready(tmp_path)
    if (tmp_path / "master").is_dir():
        (tmp_path / "master").rmdir()
    (tmp_path / "master").write_text("a file where the master's folder should be")
    code, _out, err = run_q(config)
    assert code == RunExit.INCOMPLETE == 4
    assert len(err.strip().splitlines()) == 1 and "Свод не записан" in err
    gc.collect()


def test_busy_exits_5_with_a_line_even_when_quiet(tmp_path: Path) -> None:
    config = ready(tmp_path)
    with RunLock(lock_path_for(config.history_path), command="test"):
        code, out, err = run_q(config)
        once = CliRunner().invoke(
            main, ["serve", "--once", "--config", str(config.path)], catch_exceptions=False
        )
    assert code == RunExit.BUSY == 5
    assert out == "" and "уже идёт" in err and len(err.strip().splitlines()) == 1
    assert once.exit_code == 5


def test_serve_once_nothing_due_is_0_and_verbose_says_why(tmp_path: Path) -> None:
    config = ready(tmp_path)
    log = str(tmp_path / "s.log")
    first = invoke("serve", "--once", "-v", "--config", str(config.path), "--log-file", log)
    assert first[0] == 0 and "Синхронизация выполнена" in first[2]
    quiet = invoke("serve", "--once", "--config", str(config.path), "--log-file", log)
    assert quiet == (0, "", "")  # cron every 15 minutes: not a word
    code, out, err = invoke(
        "serve", "--once", "-v", "--config", str(config.path), "--log-file", log
    )
    assert code == 0 and out == ""
    assert "не запущена" in err and "следующая" in err and "уже выполнялась" in err


def _result(**kw: object) -> RunResult:
    at = datetime(2022, 1, 10, 2, 0, tzinfo=UTC)
    return RunResult(7, date(2022, 1, 10), at, finished=at, **kw)  # type: ignore[arg-type]


def test_codes_come_from_the_result_whatever_the_backend() -> None:
    school = School("g1", "Школа в Google")
    synced = SchoolReport(school, outcome="synced")
    assert run_exit_code(_result(reports=[synced])) is RunExit.OK
    assert failure_line(_result(reports=[synced])) == ""
    # A Google spreadsheet whose batchUpdate failed: read, but its controls not written.
    failed_write = {"g1": WriteResult(WriteStatus.FAILED, message="Google не ответил (503)")}
    result = _result(reports=[synced], writes=failed_write)
    assert run_exit_code(result) is RunExit.SCHOOLS
    assert "контроль не записан в книг: 1" in failure_line(result)
    locked = SchoolReport(school, outcome="locked", message="книга открыта")
    assert run_exit_code(_result(reports=[locked])) is RunExit.SCHOOLS
    for outcome in ("master_failed", "crashed", "interrupted"):
        result = _result(outcome=outcome, message="Свод не записан: нет доступа")
        assert run_exit_code(result) is RunExit.INCOMPLETE
        assert CYRILLIC.search(failure_line(result))
    assert run_exit_code(_result(outcome="busy", message="уже идёт")) is RunExit.BUSY


def test_exit_codes_are_documented_in_help_and_readme() -> None:
    from sync.cli_common import EXIT_CODES_HELP

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    for name in ("run", "serve"):
        code, out, _ = invoke(name, "--help")
        assert code == 0 and "Коды выхода" in out
    for code_ in RunExit:
        assert f"{int(code_)} —" in EXIT_CODES_HELP
        assert f"| {int(code_)} |" in readme, code_
