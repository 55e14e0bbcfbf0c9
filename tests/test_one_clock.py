"""One clock: every date and time a user sees is the municipality's, whatever the computer's zone.

The tests set the computer's zone to UTC (TZ, tzset) and the municipality's far from it, so a
time taken from the wrong clock shows up as hours (or a day) off.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from sync.builders.fill import fill_workbook
from sync.cli import main
from sync.config import Config
from sync.distribute import distribute
from sync.service.lock import RunLock, lock_path_for
from sync.spec import load_spec
from tests.fixtures import BUILT_AT, PASSPORT, municipality, with_tables

SPEC = load_spec()
CHITA = ZoneInfo("Asia/Chita")
STAMP = re.compile(r"(\d\d\.\d\d\.\d{4} \d\d:\d\d)")


@pytest.fixture(autouse=True)
def computer_in_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def ready(tmp_path: Path, timezone: str = "Asia/Chita") -> Config:
    config = with_tables(municipality(tmp_path), "[schedule]\nlock_wait = 0", timezone=timezone)
    distribute(config, built_at=BUILT_AT)
    return config


def near(text: str, zone: ZoneInfo) -> bool:
    shown = datetime.strptime(text, "%d.%m.%Y %H:%M").replace(tzinfo=zone)
    return abs(shown - datetime.now(UTC)) < timedelta(minutes=3)


def test_run_status_and_history_show_the_same_local_time(tmp_path: Path) -> None:
    config = ready(tmp_path)
    code, out, _ = invoke("run", "--config", str(config.path))
    assert code == 0, out
    first = out.splitlines()[0]
    assert "(Asia/Chita;" in first
    shown = STAMP.search(first)
    assert shown and near(shown.group(1), CHITA), first  # not the computer's UTC

    code, out, _ = invoke("status", "--config", str(config.path))
    run_line = next(line for line in out.splitlines() if re.match(r"\s+1\s", line))
    assert shown.group(1) in run_line  # the run's end, as `run` printed it

    code, out, _ = invoke("history", "s1", "--config", str(config.path))
    assert code == 0 and "Asia/Chita" in out
    snapshot = STAMP.search(out.split("Снимок 1:")[1])
    assert snapshot and near(snapshot.group(1), CHITA)
    code, out, _ = invoke("history", "s1", "--config", str(config.path), "--json")
    assert json.loads(out)[0]["first_seen"].endswith("+09:00")


def test_a_busy_message_shows_the_holders_start_in_the_municipalitys_zone(tmp_path: Path) -> None:
    config = ready(tmp_path)
    # Another process, started by something that knows nothing of the zone: it writes UTC.
    with RunLock(lock_path_for(config.history_path), command="run"):
        code, _out, err = invoke("run", "-q", "--config", str(config.path))
    assert code == 5 and "уже идёт" in err
    shown = STAMP.search(err)
    assert shown and near(shown.group(1), CHITA), err


def test_history_text_keeps_integers_and_shows_the_passport(tmp_path: Path) -> None:
    config = ready(tmp_path)
    path = Path(config.schools[0].source)
    fill_workbook(path, SPEC, {"3": {"status": "В работе"}}, PASSPORT)
    assert invoke("run", "--config", str(config.path), "--today", "2022-01-10")[0] == 0
    fill_workbook(path, SPEC, {}, {**PASSPORT, "teachers": 24})
    assert invoke("run", "--config", str(config.path), "--today", "2022-01-11")[0] == 0
    code, out, _ = invoke("history", "s1", "--config", str(config.path))
    assert code == 0
    assert "«Количество педагогов» = «28»" in out or "= «28»" in out
    assert "было «28», стало «24»" in out, out
    assert "24.0" not in out and "28.0" not in out
    assert f"{SPEC.passport_sheet}: «" in out
    code, out, _ = invoke("history", "s1", "--config", str(config.path), "--json")
    snapshots = json.loads(out)
    assert snapshots[-1]["passport"]["teachers"] == 24  # a number, not "24.0"
    assert snapshots[0]["passport"]["pupils"] == 320


def _zone_on_another_day() -> tuple[str, date]:
    """A zone whose today differs from the computer's (UTC) right now, and that today."""
    for name in ("Etc/GMT-14", "Etc/GMT+12"):  # UTC+14 and UTC-12
        local = datetime.now(ZoneInfo(name)).date()
        if local != datetime.now(UTC).date():
            return name, local
    raise AssertionError("unreachable: one of them is always on another day")


def test_validate_uses_the_municipalitys_today(tmp_path: Path) -> None:
    name, local_today = _zone_on_another_day()
    config = ready(tmp_path, timezone=name)
    path = Path(config.schools[0].source)
    done_on = datetime.combine(max(local_today, datetime.now(UTC).date()), datetime.min.time())
    fill_workbook(
        path,
        SPEC,
        {"3": {"status": "Выполнено", "done_on": done_on, "evidence": "Приказ № 1"}},
        PASSPORT,
    )

    def future(*extra: str) -> tuple[bool, str]:
        code, out, err = invoke("validate", str(path), "--json", *extra)
        assert code in (0, 1), err
        return any(p["code"] == "date_in_future" for p in json.loads(out)), err

    # The settings beside the school folder are found: the municipality's today.
    in_future, note = future()
    assert in_future == (done_on.date() > local_today)
    assert f"{local_today:%d.%m.%Y}" in note and name in note
    # Named explicitly: the same.
    assert future("--config", str(config.path))[0] == in_future
    # `run` agrees with validate.
    code, out, _ = invoke("run", "--config", str(config.path), "--json")
    s1 = next(s for s in json.loads(out)["schools"] if s["id"] == "s1")
    assert any(p["code"] == "date_in_future" for p in s1["problems"]) == in_future

    # Without any settings: the computer's date, and it says so.
    lonely = tmp_path / "elsewhere" / "deep" / "school.xlsx"
    lonely.parent.mkdir(parents=True)
    lonely.write_bytes(path.read_bytes())
    code, out, _err = invoke("validate", str(lonely))
    assert code in (0, 1)
    assert f"Сегодня считается {datetime.now(UTC).date():%d.%m.%Y}" in out
    assert "по часам этого компьютера" in out
