"""The master on Google is never empty and never too big: built beside the old one in bodies
under the chunk size, switched in by one batchUpdate; a failure before the switch leaves the
previous master complete. Against the fake over real HTTP (it refuses bodies over 10 MB)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import requests

from sync.builders.google.master import STAGING_PREFIX
from sync.consolidate import OVERVIEW_SHEET
from sync.pipeline import run
from tests.fakes.google import FakeGoogle, Fault
from tests.fakes.google.municipality import fake_google, fill_all, town_with
from tests.fakes.google.server import MAX_BODY
from tests.fixtures import TODAY

__all__ = ["fake_google"]


def visible(fake: FakeGoogle, master: str) -> dict[str, list[list[object]]]:
    """What the coordinator sees: every visible sheet's values, by title."""
    return {
        s.properties["title"]: fake.grid(master, s.properties["title"])
        for s in fake.spreadsheet(master).ordered()
        if not s.properties.get("hidden")
    }


def test_the_fake_refuses_a_body_over_10_mb_like_google(fake_google: FakeGoogle) -> None:
    body = b'{"requests": [' + b" " * (MAX_BODY + 1 - 15) + b"]}"
    answer = requests.post(
        f"{fake_google.url}/v4/spreadsheets/x:batchUpdate",
        data=body,
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["message"] == (
        "Request payload size exceeds the limit: 10485760 bytes."
    )
    assert answer.json()["error"]["status"] == "INVALID_ARGUMENT"


def test_a_failure_before_the_switch_leaves_the_previous_master_complete(
    tmp_path: Path, fake_google: FakeGoogle
) -> None:
    fake = fake_google
    town = town_with(tmp_path, fake, 4, max_tries=2)
    fill_all(town)
    first = run(town.config, today=TODAY, backend=town.backend())
    assert first.outcome == "ok"
    master = town.master_id()
    before = visible(fake, master)
    sheets = len(before)  # every sheet of the master, «Обзор» included
    assert OVERVIEW_SHEET in before and sheets == 9  # «На проверке» included
    assert all(len(g) >= 1 for g in before.values())
    # The next night every school changed; the values request then fails every try (503s).
    fill_all(town, "Выполнено")
    fake.clock.advance(3600)
    fake.inject(Fault(status=503, target=master, path="values:batchUpdate", times=2))
    failed = run(town.config, today=TODAY, backend=town.backend())
    assert failed.outcome == "master_failed"
    assert "Свод не записан" in failed.message
    # Every sheet the coordinator sees is last night's, complete; the half-built new one is
    # hidden and carries the staging mark.
    assert visible(fake, master) == before
    hidden = [s.properties["title"] for s in fake.spreadsheet(master).ordered()]
    assert sum(t.startswith(STAGING_PREFIX) for t in hidden) == sheets
    # The next run cleans up and switches: one sheet of each title, no leftovers, new values.
    again = run(town.config, today=TODAY, backend=town.backend())
    assert again.outcome == "ok"
    titles = [s.properties["title"] for s in fake.spreadsheet(master).ordered()]
    assert Counter(titles) == Counter(list(before))
    assert not any(t.startswith(STAGING_PREFIX) for t in titles)
    assert visible(fake, master) != before
    assert list(visible(fake, master)) == list(before)  # same order
    assert len(fake.sheet(master, "Школы").charts) == 1


def test_a_big_master_goes_in_many_small_bodies(tmp_path: Path, fake_google: FakeGoogle) -> None:
    fake = fake_google
    town = town_with(tmp_path, fake, 6)
    fill_all(town)
    backend = town.backend()
    backend.master_chunk = 20_000  # stands for 10 MB against a thousand schools' master
    small = town.backend()
    mark = fake.mark()
    result = run(town.config, today=TODAY, backend=backend)
    assert result.outcome == "ok", result.message
    master = town.master_id()
    sizes = [r.size for r in fake.since(mark) if r.target == master and r.method == "POST"]
    assert len(sizes) > 6 and max(sizes) < 20_000
    assert backend.master_bodies and max(backend.master_bodies) < 20_000
    chunked = visible(fake, master)
    # The same master as one written in a few large bodies.
    fake.clock.advance(3600)
    assert run(town.config, today=TODAY, backend=small).outcome == "ok"
    assert visible(fake, master) == chunked
