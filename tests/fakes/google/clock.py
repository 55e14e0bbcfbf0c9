"""Clocks the fake Google and the backend share: virtual (tests) and scaled (the benchmark)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

# 2022-01-10 02:00 UTC: a nightly run in Chita (UTC+9) on the day the tests call "today".
DEFAULT_START = datetime(2022, 1, 10, 2, 0, tzinfo=UTC).timestamp()


class VirtualClock:
    """Seconds since the epoch that move only when told to: sleep() returns at once.

    The fake's quotas, token expiry and modifiedTime read it; the backend's limiter and retries
    sleep on it, so a test of a 20-minute quota-bound run takes milliseconds.
    """

    def __init__(self, start: float = DEFAULT_START):
        self._now = start
        self._lock = threading.Lock()
        self.slept = 0.0

    def time(self) -> float:
        with self._lock:
            return self._now

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.time(), UTC)

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self._now += max(0.0, seconds)
            self.slept += max(0.0, seconds)

    def advance(self, seconds: float) -> None:
        """Move time on, as hours passing between two runs."""
        with self._lock:
            self._now += seconds


class ScaledClock(VirtualClock):
    """Virtual time in which real work counts `scale` times and waiting costs nothing.

    The benchmark's clock: a run's time on it is what the run would take if Google answered as
    fast as the fake and every limiter or backoff wait were spent for real.
    """

    def __init__(self, start: float = DEFAULT_START, scale: float = 1.0):
        super().__init__(start)
        self.scale = scale
        self._real0 = time.perf_counter()

    def time(self) -> float:
        with self._lock:
            return self._now + (time.perf_counter() - self._real0) * self.scale
