"""The schedule: local times in the municipality's zone, whatever the machine's, on a fake clock."""

from __future__ import annotations

import threading
import time as systime
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from sync.config import ConfigError
from sync.history import History
from sync.service.config import ExtraRuns, ScheduleSettings, load_schedule
from sync.service.scheduler import (
    EXTRA,
    NIGHTLY,
    ExtraRule,
    NightlyRule,
    Service,
    last_due,
    next_fire,
    wall_instant,
)
from tests.fixtures import FakeClock, FakeSync, municipality, utc, with_tables

CHITA, KALININGRAD = ZoneInfo("Asia/Chita"), ZoneInfo("Europe/Kaliningrad")


@pytest.fixture(params=["UTC", "America/New_York", "Asia/Kamchatka"])
def machine_zone(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Run the test with the machine's own clock in another zone: it must not matter."""
    monkeypatch.setenv("TZ", request.param)
    systime.tzset()
    yield request.param
    monkeypatch.undo()
    systime.tzset()


def serve(service: Service, clock: FakeClock) -> None:
    service.serve_forever()
    assert clock.now >= clock.until  # the loop ran to the end of the simulated time


def make_service(config, start: datetime, days: float, sync: FakeSync | None = None):  # type: ignore[no-untyped-def]
    stop = threading.Event()
    clock = FakeClock(start, start + timedelta(days=days), stop)
    service = Service(
        config, clock=clock, sleep=clock.sleep, stop=stop, sync=sync or FakeSync(), max_idle=3600
    )
    return service, clock


# --- pure time arithmetic ---------------------------------------------------------------------


def test_two_oclock_is_a_different_instant_in_chita_and_kaliningrad() -> None:
    after = utc(2022, 1, 14, 12)
    chita = next_fire(NightlyRule(time(2, 0)), CHITA, after)
    kaliningrad = next_fire(NightlyRule(time(2, 0)), KALININGRAD, after)
    assert chita is not None and kaliningrad is not None
    assert chita.at == utc(2022, 1, 14, 17)  # 02:00 +09:00 on the 15th
    assert kaliningrad.at == utc(2022, 1, 15, 0)  # 02:00 +02:00 on the 15th
    assert chita.local(CHITA).strftime("%d %H:%M") == "15 02:00"
    assert kaliningrad.local(KALININGRAD).strftime("%d %H:%M") == "15 02:00"
    # Strictly after: asking at the very instant gives the next night.
    again = next_fire(NightlyRule(time(2, 0)), CHITA, chita.at)
    assert again is not None and again.at == chita.at + timedelta(days=1)


def test_a_daylight_saving_zone_fires_once_on_both_change_days() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    rule = NightlyRule(time(2, 30))
    # 27.03.2022: 02:00 -> 03:00, so 02:30 does not exist: it fires at 03:30 (just after the gap).
    spring = next_fire(rule, berlin, utc(2022, 3, 26, 12))
    assert spring is not None and spring.local(berlin).strftime("%d %H:%M") == "27 03:30"
    # 30.10.2022: 02:30 happens twice; it fires once, at the first.
    autumn = next_fire(rule, berlin, utc(2022, 10, 29, 12))
    assert autumn is not None and autumn.at == utc(2022, 10, 30, 0, 30)
    after = next_fire(rule, berlin, autumn.at)
    assert after is not None and after.local(berlin).day == 31


def test_extra_runs_window_every_two_hours_and_across_new_year() -> None:
    window = ExtraRuns((1, 5), (1, 15), 2, time(8, 0), time(20, 0))
    assert [t.hour for t in window.times()] == [8, 10, 12, 14, 16, 18, 20]
    assert window.active_on(date(2022, 1, 5)) and window.active_on(date(2023, 1, 15))
    assert not window.active_on(date(2022, 1, 16))
    wrap = ExtraRuns((12, 25), (1, 10), 6)
    assert wrap.active_on(date(2021, 12, 31)) and wrap.active_on(date(2022, 1, 10))
    assert not wrap.active_on(date(2022, 6, 1))
    first = next_fire(ExtraRule(window), CHITA, utc(2022, 6, 1))
    assert first is not None and first.local(CHITA) == datetime(2023, 1, 5, 8, tzinfo=CHITA)
    past = ExtraRuns(date(2021, 1, 5), date(2021, 1, 15), 2)
    assert next_fire(ExtraRule(past), CHITA, utc(2022, 1, 1)) is None


def test_last_due_prefers_the_nightly_run_on_a_tie() -> None:
    settings = ScheduleSettings(time(2, 0), (ExtraRuns((1, 1), (12, 31), 2),))
    due = last_due(settings, CHITA, wall_instant(date(2022, 1, 15), time(2, 30), CHITA))
    assert due is not None and due.kind == NIGHTLY
    assert due.local(CHITA) == datetime(2022, 1, 15, 2, 0, tzinfo=CHITA)


# --- the service on a controllable clock ----------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "utc_hour"), [("Asia/Chita", 17), ("Europe/Kaliningrad", 0), ("Asia/Kamchatka", 14)]
)
def test_nightly_job_fires_once_a_night_at_local_two(
    tmp_path: Path, machine_zone: str, zone: str, utc_hour: int
) -> None:
    config = with_tables(
        municipality(tmp_path), '[schedule]\nnightly = "02:00"\ncatch_up = false', zone
    )
    start = utc(2022, 1, 10, 5)
    service, clock = make_service(config, start, days=3)
    sync: FakeSync = service.sync  # type: ignore[assignment]
    serve(service, clock)
    local = ZoneInfo(zone)
    assert [t.astimezone(local).strftime("%d.%m %H:%M") for t in sync.times] == [
        "11.01 02:00",
        "12.01 02:00",
        "13.01 02:00",
    ]
    assert {t.astimezone(ZoneInfo("UTC")).hour for t in sync.times} == {utc_hour}
    # "today" of each run is the municipality's date, not the machine's.
    assert [c["today"] for c in sync.calls] == [date(2022, 1, d) for d in (11, 12, 13)]
    assert all(c["after"] is not None for c in sync.calls)  # nightly runs send the reminders
    assert all(c["stop"] is service.stop for c in sync.calls)


def test_two_municipalities_fire_nine_hours_apart(tmp_path: Path, machine_zone: str) -> None:
    fired = {}
    for zone in ("Asia/Chita", "Europe/Kaliningrad"):
        folder = tmp_path / zone.replace("/", "_")
        folder.mkdir()
        config = with_tables(municipality(folder), "[schedule]\ncatch_up = false", zone)
        service, clock = make_service(config, utc(2022, 1, 10, 5), days=1)
        serve(service, clock)
        fired[zone] = service.sync.times  # type: ignore[attr-defined]
    assert len(fired["Asia/Chita"]) == len(fired["Europe/Kaliningrad"]) == 1
    gap = fired["Europe/Kaliningrad"][0] - fired["Asia/Chita"][0]
    assert gap == timedelta(hours=7)  # +09:00 vs +02:00


def test_extra_runs_only_inside_their_window_and_never_twice_with_the_nightly(
    tmp_path: Path,
) -> None:
    config = with_tables(
        municipality(tmp_path),
        """
[schedule]
nightly = "02:00"
catch_up = false

[[schedule.extra]]
from = "01-12"
to = "01-13"
every_hours = 2
hours = "00:00-06:00"
""",
    )
    service, clock = make_service(config, utc(2022, 1, 10, 5), days=5)
    sync: FakeSync = service.sync  # type: ignore[assignment]
    serve(service, clock)
    local = [t.astimezone(CHITA).strftime("%d %H:%M") for t in sync.times]
    assert local == [
        "11 02:00",
        "12 00:00",
        "12 02:00",  # nightly and extra due together: one run, the nightly
        "12 04:00",
        "12 06:00",
        "13 00:00",
        "13 02:00",
        "13 04:00",
        "13 06:00",
        "14 02:00",
        "15 02:00",
    ]
    kinds = [c["after"] is not None for c in sync.calls]
    assert kinds == [True, False, True, False, False, False, True, False, False, True, True]


def test_a_run_that_crashes_does_not_stop_the_service(tmp_path: Path) -> None:
    config = with_tables(municipality(tmp_path), "[schedule]\ncatch_up = false")
    service, clock = make_service(config, utc(2022, 1, 10, 5), days=3, sync=FakeSync(fail_first=1))
    serve(service, clock)
    assert len(service.sync.calls) == 3  # type: ignore[attr-defined]
    assert len(service.results) == 2  # the first crashed; the next two nights ran


def test_catch_up_after_a_missed_night(tmp_path: Path) -> None:
    config = municipality(tmp_path)
    # Nothing in the history at all: the service runs as soon as it starts, then at 02:00.
    service, clock = make_service(config, utc(2022, 1, 10, 5), days=1)
    serve(service, clock)
    assert [t.astimezone(CHITA).strftime("%d %H:%M") for t in service.sync.times] == [  # type: ignore[attr-defined]
        "10 14:00",
        "11 02:00",
    ]


def _history_with(config, started: datetime, outcome: str) -> None:  # type: ignore[no-untyped-def]
    with History.open(config.history_path) as history:
        run_id = history.start_run(started, started.date())
        history.finish_run(run_id, started + timedelta(minutes=5), outcome, {})


@pytest.mark.parametrize(
    ("outcome", "catches_up"),
    [("ok", False), ("crashed", False), ("master_failed", False), ("interrupted", True)],
)
def test_catch_up_counts_what_the_last_run_did(
    tmp_path: Path, outcome: str, catches_up: bool
) -> None:
    config = municipality(tmp_path)
    _history_with(config, datetime(2022, 1, 10, 2, 0, 5, tzinfo=CHITA), outcome)
    service, clock = make_service(config, utc(2022, 1, 10, 5), days=0.25)
    serve(service, clock)
    assert len(service.sync.calls) == (1 if catches_up else 0)  # type: ignore[attr-defined]


def test_run_if_due_is_what_cron_and_windows_call(tmp_path: Path) -> None:
    config = municipality(tmp_path)
    sync = FakeSync()
    stop = threading.Event()
    clock = FakeClock(utc(2022, 1, 10, 5), utc(2030, 1, 1), stop)
    service = Service(config, clock=clock, sleep=clock.sleep, stop=stop, sync=sync)
    due, result = service.run_if_due()
    assert due is not None and due.kind == NIGHTLY and result is not None
    assert sync.calls[0]["lock_wait"] == 0  # cron never queues behind a running sync
    _history_with(config, clock.now.astimezone(CHITA), "ok")
    assert service.run_if_due() == (None, None)


def test_extra_window_in_the_past_is_not_scheduled(tmp_path: Path) -> None:
    config = with_tables(
        municipality(tmp_path),
        '[schedule]\ncatch_up = false\n[[schedule.extra]]\nfrom = "2021-01-05"\nto = "2021-01-06"',
    )
    service, clock = make_service(config, utc(2022, 1, 10, 5), days=1)
    assert [j.rule.kind for j in service.scheduler.jobs] == [NIGHTLY]  # type: ignore[attr-defined]
    serve(service, clock)
    assert EXTRA not in {c["command"] for c in service.sync.calls}  # type: ignore[attr-defined]


def test_a_changed_configuration_is_read_again_without_a_restart(tmp_path: Path) -> None:
    config = with_tables(municipality(tmp_path), '[schedule]\nnightly = "02:00"\ncatch_up = false')
    service, clock = make_service(config, utc(2022, 1, 10, 5), days=2)
    sync: FakeSync = service.sync  # type: ignore[assignment]

    def edit_after_first(config_, **kwargs):  # type: ignore[no-untyped-def]
        result = FakeSync.__call__(sync, config_, **kwargs)
        if len(sync.calls) == 1:
            text = config.path.read_text(encoding="utf-8").replace('"02:00"', '"03:30"')
            config.path.write_text(text + "\n", encoding="utf-8")
        return result

    service.sync = edit_after_first
    serve(service, clock)
    # The new time applies from the edit on: 03:30 that same night is still ahead.
    assert [t.astimezone(CHITA).strftime("%d %H:%M") for t in sync.times] == [
        "11 02:00",
        "11 03:30",
        "12 03:30",
    ]


# --- settings -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "key", "words"),
    [
        ('[schedule]\nnightly = "25:00"', "schedule.nightly", "02:00"),
        ("[schedule]\nlock_wait = -1", "schedule.lock_wait", "отрицательным"),
        ('[[schedule.extra]]\nfrom = "01-32"\nto = "02-01"', "schedule.extra[1].from", "01-15"),
        (
            '[[schedule.extra]]\nfrom = "01-05"\nto = "2022-02-01"',
            "schedule.extra[1].to",
            "одинаково",
        ),
        ('[[schedule.extra]]\nfrom = "01-05"\nto = "01-15"\nhours = "20-08"', "", "08:00-20:00"),
        ('[[schedule.extra]]\nfrom = "01-05"\nto = "01-15"\nevery_hours = 0', "", "от 1 до 24"),
    ],
)
def test_schedule_mistakes_name_the_key_and_line(
    tmp_path: Path, table: str, key: str, words: str
) -> None:
    config = with_tables(municipality(tmp_path), table)
    with pytest.raises(ConfigError) as e:
        load_schedule(config)
    text = str(e.value)
    assert "строка" in text and words in text
    if key:
        assert f"«{key}»" in text


def test_schedule_defaults(tmp_path: Path) -> None:
    config = municipality(tmp_path)
    settings = load_schedule(config)
    assert settings.nightly == time(2, 0) and settings.extra == () and settings.catch_up
    assert settings.lock_wait == 60
    assert settings.log_file == tmp_path / "logs" / "roadmap-sync.log"
