"""Helpers for the service tests: a controllable clock, a stand-in sync, config tables."""

from __future__ import annotations

import re
import threading
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sync.config import Config, load_config
from sync.pipeline import RunResult


def with_tables(config: Config, tables: str = "", timezone: str | None = None) -> Config:
    """The same municipality with extra TOML tables appended (and another zone, if given)."""
    text = config.path.read_text(encoding="utf-8")
    if timezone is not None:
        text = re.sub(r'(?m)^timezone = ".*"$', f'timezone = "{timezone}"', text)
    config.path.write_text(text + "\n" + tables.strip() + "\n", encoding="utf-8")
    return load_config(config.path)


class FakeClock:
    """An aware clock that only moves when the service sleeps; stops the service at `until`."""

    def __init__(self, start: datetime, until: datetime, stop: threading.Event) -> None:
        assert start.tzinfo is not None
        self.now, self.until, self.stop = start, until, stop
        self.sleeps = 0

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        self.now += timedelta(seconds=max(seconds, 0.001))
        if self.now >= self.until:
            self.stop.set()


class FakeSync:
    """Stands in for sync.pipeline.run: records when it was called and with what."""

    def __init__(self, fail_first: int = 0) -> None:
        self.calls: list[dict[str, Any]] = []
        self.fail_first = fail_first

    def __call__(self, config: Config, **kwargs: Any) -> RunResult:
        at = kwargs["now"]()
        self.calls.append(kwargs | {"at": at})
        if len(self.calls) <= self.fail_first:
            raise RuntimeError("сбой для проверки")
        today: date = kwargs["today"]
        return RunResult(len(self.calls), today, at, finished=at)

    @property
    def times(self) -> list[datetime]:
        return [c["at"] for c in self.calls]


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)
