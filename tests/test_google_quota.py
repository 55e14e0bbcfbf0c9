"""One quota, one limiter: every process of one account shares the per-minute budget through a
small locked state file; a timed-out write is read back, never sent again blindly."""

from __future__ import annotations

import multiprocessing
import time
from collections import Counter
from pathlib import Path

from sync.backends.google.http import Budgets, RateLimiter, SharedRateLimiter
from sync.distribute import distribute
from sync.pipeline import run
from tests.fakes.google import FakeGoogle, Fault
from tests.fakes.google.municipality import (
    SPEC,
    fake_google,
    fill_all,
    google_town,
    header_columns,
    many,
    statuses,
)
from tests.fixtures import BUILT_AT, TODAY

__all__ = ["fake_google"]


def _acquire_many(path: str, n: int, out: multiprocessing.Queue[list[float]]) -> None:
    limiter = SharedRateLimiter(Path(path), "acct@example.ru", Budgets(5, 5, 5), window=1.0)
    times = []
    for _ in range(n):
        limiter.acquire("read")
        times.append(time.time())
    out.put(times)


def test_two_processes_share_one_budget(tmp_path: Path) -> None:
    """Real processes, real clock, a one-second window of 5: together never more than 5."""
    ctx = multiprocessing.get_context("fork")
    out: multiprocessing.Queue[list[float]] = ctx.Queue()
    path = str(tmp_path / "quota.json")
    procs = [ctx.Process(target=_acquire_many, args=(path, 8, out)) for _ in range(2)]
    for p in procs:
        p.start()
    times = sorted(out.get(timeout=60) + out.get(timeout=60))
    for p in procs:
        p.join(30)
    assert len(times) == 16
    # A window starting at any request holds at most the budget (a little slack for the time
    # between taking a slot and reading the clock).
    for t in times:
        assert sum(1 for u in times if t <= u < t + 0.95) <= 5
    assert times[-1] - times[0] >= 2.0  # 16 requests at 5 a second: three full waits


def test_distribute_then_run_meet_no_429(tmp_path: Path, fake_google: FakeGoogle) -> None:
    """distribute and run as separate processes would be: separate backends, nothing shared
    in memory. The shared file keeps them inside Google's minute together; a limiter of the
    run's own (the old behaviour) meets 429s in the same situation."""
    fake = fake_google
    fake.quotas.update(read=10, write=10)
    budgets = {"reads_per_minute": 9, "writes_per_minute": 9}
    town = google_town(tmp_path, fake, many(12), google=budgets, with_coordinator=False)
    mark = fake.mark()
    distribute(town.config, backend=town.backend(), built_at=BUILT_AT)
    fill_all(town)
    result = run(town.config, today=TODAY, backend=town.backend())
    assert set(statuses(result).values()) == {"synced"}
    assert Counter(r.status for r in fake.since(mark))[429] == 0

    # The same again with a limiter that knows nothing of the distribute just before.
    (tmp_path / "b").mkdir()
    other = google_town(tmp_path / "b", fake, many(12), google=budgets, with_coordinator=False)
    fake.clock.advance(3600)
    distribute(other.config, backend=other.backend(), built_at=BUILT_AT)
    fill_all(other)
    alone = other.backend()
    alone.http.limiter = RateLimiter(alone.settings.budgets, fake.clock.time, fake.clock.sleep)
    mark = fake.mark()
    run(other.config, today=TODAY, backend=alone)
    assert Counter(r.status for r in fake.since(mark))[429] > 0


def test_a_timed_out_write_is_read_back_before_anything_is_sent_again(
    tmp_path: Path, fake_google: FakeGoogle
) -> None:
    fake = fake_google
    town = google_town(tmp_path, fake, many(2), google={"timeout": 0.4}, with_coordinator=False)
    distribute(town.config, backend=town.backend(), built_at=BUILT_AT)
    fill_all(town)
    s01 = town.spreadsheet_id("s01")
    # Google takes a second to answer the paint: the client gives up, Google applies it late.
    fake.inject(Fault(delay=1.2, target=s01, path=":batchUpdate"))
    mark = fake.mark()
    result = run(town.config, today=TODAY, backend=town.backend())
    fake.wait_idle()
    # Read back first: not applied yet, the school's content as it was, so what is missing
    # is sent once more, worked out from the read-back.
    assert result.writes["s01"].status == "written"
    ops = Counter(r.op for r in fake.since(mark) if r.target == s01)
    assert ops == {"get": 2, "batchUpdate": 2}  # the read and the read-back; the lost one, one more
    # The late write landed too (the same cells, protected from the school): the paint is
    # there, and the next run is at peace with it.
    letters = header_columns(fake, s01, SPEC)
    assert fake.value(s01, SPEC.main_sheet, f"{letters['control']}3") != ""
    fake.clock.advance(3600)
    again = run(town.config, today=TODAY, backend=town.backend())
    assert again.writes.get("s01") is None or again.writes["s01"].status in (
        "written",
        "unchanged",
    )


def test_failures_show_in_the_run_result(tmp_path: Path, fake_google: FakeGoogle) -> None:
    """What the command line turns into an exit code: a school not read is "failed", a write
    not made is a failed write, a master not written is "master_failed"."""
    fake = fake_google
    town = google_town(tmp_path, fake, many(3), google={"max_tries": 2}, with_coordinator=False)
    distribute(town.config, backend=town.backend(), built_at=BUILT_AT)
    fill_all(town)
    s01, s02 = town.spreadsheet_id("s01"), town.spreadsheet_id("s02")
    fake.inject(Fault(status=503, target=s01, method="GET", times=2))
    fake.inject(Fault(status=503, target=s02, path=":batchUpdate", times=2))
    result = run(town.config, today=TODAY, backend=town.backend())
    assert statuses(result)["s01"] == "failed" and result.counts["failed"] == 1
    assert result.writes["s02"].status == "failed"
    assert result.outcome == "ok"  # the master itself was written
    master = town.master_id()
    fill_all(town, "Выполнено")
    fake.clock.advance(3600)
    fake.inject(Fault(status=503, target=master, path=":batchUpdate", times=2))
    assert run(town.config, today=TODAY, backend=town.backend()).outcome == "master_failed"


def test_a_timed_out_write_is_not_repeated_over_a_school_s_change(
    tmp_path: Path, fake_google: FakeGoogle
) -> None:
    fake = fake_google
    town = google_town(tmp_path, fake, many(2), google={"timeout": 0.4}, with_coordinator=False)
    distribute(town.config, backend=town.backend(), built_at=BUILT_AT)
    fill_all(town)
    s01 = town.spreadsheet_id("s01")
    letters = header_columns(fake, s01, SPEC)

    def school_types_meanwhile() -> None:
        fake.type(
            s01,
            SPEC.main_sheet,
            {f"{letters['comment']}3": "уточним"},
            user="s01@school.example.ru",
        )

    fake.inject(Fault(delay=1.2, target=s01, path=":batchUpdate", action=school_types_meanwhile))
    mark = fake.mark()
    result = run(town.config, today=TODAY, backend=town.backend())
    fake.wait_idle()
    assert result.writes["s01"].status == "changed"
    assert Counter(r.op for r in fake.since(mark) if r.target == s01)["batchUpdate"] == 1
    assert fake.value(s01, SPEC.main_sheet, f"{letters['comment']}3") == "уточним"
