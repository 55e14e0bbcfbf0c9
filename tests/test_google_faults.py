"""Quotas and faults on the fake Google: every school ends synced, or failed with its last
snapshot intact; retries are bounded; nothing secret reaches a log."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from sync.pipeline import run
from sync.spec import load_spec
from tests.fakes.google import FakeGoogle, Fault
from tests.fakes.google.municipality import (
    SERVICE_ACCOUNT,
    fake_google,
    fill_all,
    statuses,
    town_with,
)
from tests.fixtures import TODAY

__all__ = ["fake_google"]

SPEC = load_spec()


def row3(report: Any) -> dict[str, Any]:
    return next(r.values for r in report.rows if r.item is not None and r.item.no == "3")


def test_the_limiter_keeps_a_run_under_google_s_quota(
    tmp_path: Path, fake_google: FakeGoogle
) -> None:
    fake = fake_google
    town = town_with(tmp_path, fake, 16, reads_per_minute=8, writes_per_minute=8)
    fake.quotas.update(read=10, write=10)  # Google's quota; our budget stays below it
    fill_all(town)
    fake.clock.advance(3600)
    start, mark = fake.clock.time(), fake.mark()
    result = run(town.config, today=TODAY, backend=town.backend())
    elapsed = fake.clock.time() - start
    assert set(statuses(result).values()) == {"synced"}
    statuses_seen = Counter(r.status for r in fake.since(mark))
    assert statuses_seen[429] == 0, statuses_seen
    reads = sum(1 for r in fake.since(mark) if r.bucket == "read")
    writes = sum(1 for r in fake.since(mark) if r.bucket == "write")
    assert (reads, writes) == (16 + 1, 16 + 3)  # master: get; build, values, switch
    # The run takes what the budget allows and no longer than the quota bound (requests over
    # the allowed rate); each minute's 8 go at once, the next 8 a minute later.
    bound = max(reads, writes) / 8 * 60
    assert (max(reads, writes) - 1) // 8 * 60 <= elapsed <= bound


def test_429s_are_retried_and_a_school_out_of_tries_keeps_its_snapshot(
    tmp_path: Path, fake_google: FakeGoogle
) -> None:
    fake = fake_google
    town = town_with(tmp_path, fake, 8, max_tries=3, max_backoff=4.0)
    fill_all(town, "В работе")
    first = run(town.config, today=TODAY, backend=town.backend())
    assert set(statuses(first).values()) == {"synced"}
    fill_all(town, "Выполнено")
    fake.clock.advance(3600)
    fake.quotas.update(read=3)  # far below our budget of 55: Google answers 429
    mark = fake.mark()
    result = run(town.config, today=TODAY, backend=town.backend())
    throttled = [r for r in fake.since(mark) if r.status == 429]
    assert throttled
    # Bounded: never more than max_tries attempts of one read.
    per_school = Counter(r.target for r in fake.since(mark) if r.op == "get")
    assert max(per_school.values()) <= 3
    by_id = {r.school.id: r for r in result.reports}
    for school_id, report in by_id.items():
        assert report.outcome in ("synced", "failed"), school_id
        if report.outcome == "failed":
            assert "квота" in report.message
            assert row3(report)["status"] == "В работе"  # the last good snapshot stands
        else:
            assert row3(report)["status"] == "Выполнено"
    assert {r.outcome for r in result.reports} == {"synced", "failed"}


def test_retry_after_is_honoured(tmp_path: Path, fake_google: FakeGoogle) -> None:
    fake = fake_google
    town = town_with(tmp_path, fake, 2)
    fill_all(town)
    s01 = town.spreadsheet_id("s01")
    fake.inject(Fault(status=429, target=s01, method="GET", retry_after="20", times=1))
    before = fake.clock.slept
    result = run(town.config, today=TODAY, backend=town.backend())
    assert statuses(result)["s01"] == "synced"
    assert fake.clock.slept - before >= 20


def test_server_errors_are_retried_then_the_school_fails_and_the_run_goes_on(
    tmp_path: Path, fake_google: FakeGoogle
) -> None:
    fake = fake_google
    town = town_with(tmp_path, fake, 3)
    fill_all(town, "В работе")
    run(town.config, today=TODAY, backend=town.backend())
    fill_all(town, "Выполнено")
    s01, s02, s03 = (town.spreadsheet_id(f"s0{i}") for i in (1, 2, 3))
    fake.inject(Fault(status=503, target=s01, times=1))  # once: retried, fine
    fake.inject(Fault(status=500, target=s02, method="GET", times=100))  # never answers
    fake.inject(Fault(status=502, target=s03, path=":batchUpdate", times=1))  # our write, once
    result = run(town.config, today=TODAY, backend=town.backend())
    assert statuses(result) == {"s01": "synced", "s02": "failed", "s03": "synced"}
    s02_report = next(r for r in result.reports if r.school.id == "s02")
    assert "сбой на стороне Google (500)" in s02_report.message
    assert row3(s02_report)["status"] == "В работе"
    assert result.writes["s03"].status == "written"
    assert result.outcome == "ok"  # the master is written with s02's last snapshot
    assert fake.counts(s02)["fault"] == 5  # max_tries (5) attempts, then given up


def test_a_slow_answer_times_out_and_is_retried(tmp_path: Path, fake_google: FakeGoogle) -> None:
    fake = fake_google
    town = town_with(tmp_path, fake, 2, timeout=0.4)
    fill_all(town)
    s01 = town.spreadsheet_id("s01")
    fake.inject(Fault(delay=1.0, target=s01, method="GET", times=1))
    mark = fake.mark()
    result = run(town.config, today=TODAY, backend=town.backend())
    assert statuses(result) == {"s01": "synced", "s02": "synced"}
    fake.wait_idle()
    # The slow one (its answer never read) and the retry.
    assert Counter(r.op for r in fake.since(mark) if r.target == s01)["get"] == 2


def test_a_token_expiring_mid_run_is_refreshed(tmp_path: Path, fake_google: FakeGoogle) -> None:
    fake = fake_google
    town = town_with(tmp_path, fake, 3)
    fill_all(town)
    grants = len(fake.grants)
    s02 = town.spreadsheet_id("s02")
    fake.inject(Fault(expire_tokens=True, target=s02, times=1))
    mark = fake.mark()
    result = run(town.config, today=TODAY, backend=town.backend())
    assert set(statuses(result).values()) == {"synced"}
    assert len(fake.grants) == grants + 2  # the run's first token, then the refreshed one
    assert Counter(r.status for r in fake.since(mark) if r.target == s02)[401] == 1


def test_when_google_is_down_the_rest_fail_fast(tmp_path: Path, fake_google: FakeGoogle) -> None:
    fake = fake_google
    town = town_with(tmp_path, fake, 12, max_tries=2, max_backoff=2.0)
    fill_all(town, "В работе")
    run(town.config, today=TODAY, backend=town.backend())
    fill_all(town, "Выполнено")
    fake.inject(Fault(status=503, times=10**6))
    mark = fake.mark()
    result = run(town.config, today=TODAY, backend=town.backend())
    assert set(statuses(result).values()) == {"failed"}
    assert all(row3(r)["status"] == "В работе" for r in result.reports)
    assert any("Google недоступен" in r.message for r in result.reports)
    assert result.outcome == "master_failed" and result.message.startswith("Свод не записан")
    # listing (2 tries) + 5 schools (2 tries) + master get (2 tries): the rest were not tried.
    assert len(fake.since(mark)) <= 2 + 5 * 2 + 2 + 2


def test_a_revoked_key_fails_every_school_at_once_with_a_clear_message(
    tmp_path: Path, fake_google: FakeGoogle
) -> None:
    fake = fake_google
    town = town_with(tmp_path, fake, 4)
    run(town.config, today=TODAY, backend=town.backend())
    del fake.accounts[SERVICE_ACCOUNT]  # the key was deleted in Google Cloud
    fake.expire_tokens()
    mark = fake.mark()
    result = run(town.config, today=TODAY, backend=town.backend())
    assert set(statuses(result).values()) == {"failed"}
    assert all("ключ" in r.message for r in result.reports)
    assert result.outcome == "master_failed"
    assert len(fake.since(mark)) <= 2  # the listing's 401 (and the master's), nothing more


def test_no_token_or_key_reaches_a_log(
    tmp_path: Path, fake_google: FakeGoogle, caplog: pytest.LogCaptureFixture
) -> None:
    fake = fake_google
    town = town_with(tmp_path, fake, 3, max_tries=2)
    fill_all(town)
    fake.inject(Fault(expire_tokens=True, times=1, method="GET"))
    fake.inject(Fault(status=503, times=1, path=":batchUpdate"))
    caplog.set_level(logging.DEBUG)
    result = run(town.config, today=TODAY, backend=town.backend())
    del fake.accounts[SERVICE_ACCOUNT]
    fake.expire_tokens()
    failed = run(town.config, today=TODAY, backend=town.backend())
    key = town.key_path.read_text(encoding="utf-8")
    private = key.split("-----BEGIN PRIVATE KEY-----")[1].split("-----END")[0]
    secrets = [*fake.tokens, *[line for line in private.split("\\n") if len(line) > 20]]
    assert secrets and len(fake.tokens) >= 2
    texts = (
        [caplog.text]
        + [r.message for res in (result, failed) for r in res.reports]
        + [result.message, failed.message]
    )
    for text in texts:
        assert "PRIVATE KEY" not in text
        for secret in secrets:
            assert secret not in text
    assert "Google" in caplog.text  # the log does speak of what happened


def test_a_master_that_cannot_be_written_is_reported(
    tmp_path: Path, fake_google: FakeGoogle
) -> None:
    fake = fake_google
    town = town_with(tmp_path, fake, 2)
    run(town.config, today=TODAY, backend=town.backend())
    fake.inject(Fault(status=403, target=town.master_id(), times=100))
    result = run(town.config, today=TODAY, backend=town.backend())
    assert result.outcome == "master_failed"
    assert "нет доступа" in result.message
    assert town.master_id() in result.message  # where: the master's link


def test_a_lost_answer_to_the_master_write_is_checked_and_retried(
    tmp_path: Path, fake_google: FakeGoogle
) -> None:
    fake = fake_google
    town = town_with(tmp_path, fake, 2)
    run(town.config, today=TODAY, backend=town.backend())
    master = town.master_id()
    # Google applies the batch but the answer is lost: the master is looked at again, rebuilt.
    fake.inject(Fault(status=500, target=master, path=":batchUpdate", apply=True))
    mark = fake.mark()
    result = run(town.config, today=TODAY, backend=town.backend())
    assert result.outcome == "ok"
    ops = Counter(r.op for r in fake.since(mark) if r.target == master)
    # The marks read at the start and again before the switch: two values.batchGet.
    assert ops == {"values.batchGet": 2, "get": 2, "batchUpdate": 2, "values.batchUpdate": 1}
    assert len(fake.sheet(master, "Школы").charts) == 1
    assert [s.title for s in fake.spreadsheet(master).ordered()].count("Школы") == 1
