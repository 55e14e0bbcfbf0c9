"""The HTTP layer to Google: endpoints, the quota limiter, bounded retries with backoff."""

from __future__ import annotations

import random
import socket
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest
import requests
from gspread.exceptions import APIError
from gspread.urls import DRIVE_FILES_API_V3_URL, SPREADSHEET_BATCH_UPDATE_URL, SPREADSHEET_URL

from sync.backends.google.http import (
    DRIVE,
    READ,
    WRITE,
    Budgets,
    Endpoints,
    GoogleConnectionError,
    RateLimiter,
    RetryPolicy,
    endpoint_problem,
    retry_after,
)
from tests.fakes.google import FakeGoogle, Fault, VirtualClock
from tests.fakes.google.municipality import client, fake_google, new_spreadsheet

__all__ = ["fake_google"]


def test_google_urls_go_to_the_configured_endpoints() -> None:
    ends = Endpoints("https://proxy.example/sheets/", "http://127.0.0.1:9", "http://127.0.0.1:9/t")
    assert (
        ends.rewrite(SPREADSHEET_URL % "abc") == "https://proxy.example/sheets/v4/spreadsheets/abc"
    )
    assert ends.rewrite(DRIVE_FILES_API_V3_URL) == "http://127.0.0.1:9/drive/v3/files"
    assert ends.rewrite("https://example.org/x") == "https://example.org/x"
    assert ends.bucket("GET", ends.rewrite(SPREADSHEET_URL % "a")) == READ
    assert ends.bucket("POST", ends.rewrite(SPREADSHEET_BATCH_UPDATE_URL % "a")) == WRITE
    assert ends.bucket("POST", "https://x/v4/spreadsheets/a/values:batchGet") == READ
    assert ends.bucket("POST", ends.rewrite(DRIVE_FILES_API_V3_URL)) == DRIVE


def test_endpoint_rules() -> None:
    assert endpoint_problem("https://sheets.googleapis.com") is None
    assert endpoint_problem("http://127.0.0.5:80") is None
    for bad in ("http://example.org", "http://192.168.1.10", "file:///etc/passwd", "https://"):
        assert endpoint_problem(bad), bad


def test_the_limiter_is_a_sliding_minute_per_quota() -> None:
    clock = VirtualClock(0)
    limiter = RateLimiter(Budgets(reads=3, writes=2, drive=100), clock.time, clock.sleep)
    assert [limiter.acquire(READ) for _ in range(3)] == [0, 0, 0]
    assert limiter.acquire(WRITE) == 0  # a separate quota
    clock.advance(10)
    assert limiter.acquire(READ) == pytest.approx(50)  # the first read leaves the window at 60
    assert clock.time() == pytest.approx(60)
    assert limiter.backlog(READ) == 1  # the three at 0 left together
    clock.advance(61)
    assert limiter.backlog(READ) == 0


def test_backoff_is_capped_exponential_with_jitter() -> None:
    policy = RetryPolicy(max_tries=8, base=1.0, max_backoff=8.0)
    rng = random.Random(1)
    for attempt, ceiling in ((1, 1), (2, 2), (3, 4), (4, 8), (7, 8)):
        delays = [policy.delay(attempt, rng) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1  # jitter: clients do not retry in lockstep


def test_retry_after_in_seconds_or_as_a_date() -> None:
    def answer(value: str | None) -> requests.Response:
        r = requests.Response()
        if value is not None:
            r.headers["Retry-After"] = value
        return r

    assert retry_after(answer("30")) == 30
    now = datetime(2022, 1, 10, 12, 0, tzinfo=UTC)
    later = format_datetime(datetime(2022, 1, 10, 12, 0, 45, tzinfo=UTC), usegmt=True)
    assert retry_after(answer(later), now.timestamp()) == pytest.approx(45)
    assert retry_after(answer("soon")) is None
    assert retry_after(answer(None)) is None


def test_server_errors_are_retried_a_bounded_number_of_times(fake_google: FakeGoogle) -> None:
    http = client(fake_google, max_tries=4)
    sid = new_spreadsheet(http)
    fake_google.inject(Fault(status=500, target=sid, times=3))
    assert http.spreadsheets_get(sid, {"fields": "spreadsheetId"})["spreadsheetId"] == sid
    assert http.stats.retries == 3
    fake_google.inject(Fault(status=429, target=sid, times=100))
    with pytest.raises(APIError) as e:
        http.spreadsheets_get(sid, {"fields": "spreadsheetId"})
    assert e.value.code == 429
    # gspread's BackOffHTTPClient would go on for ever; this one stops after max_tries.
    assert fake_google.counts(sid)["fault"] == 3 + 4


def test_a_request_that_may_have_been_applied_is_not_repeated_unless_safe(
    fake_google: FakeGoogle,
) -> None:
    http = client(fake_google)
    sid = new_spreadsheet(http)
    body = {"requests": [{"addSheet": {"properties": {"title": "Новый"}}}]}
    fake_google.inject(Fault(status=500, target=sid, path=":batchUpdate", apply=True))
    with pytest.raises(APIError):
        http.request("post", SPREADSHEET_BATCH_UPDATE_URL % sid, json=body)
    assert [s.title for s in fake_google.spreadsheet(sid).sheets] == ["Sheet1", "Новый"]
    # A 503 is never applied: retried even for a POST.
    fake_google.inject(Fault(status=503, target=sid, path=":batchUpdate"))
    body = {"requests": [{"addSheet": {"properties": {"title": "Ещё"}}}]}
    http.request("post", SPREADSHEET_BATCH_UPDATE_URL % sid, json=body)
    assert len(fake_google.spreadsheet(sid).sheets) == 3
    # An idempotent POST is retried after a 500 too.
    fake_google.inject(Fault(status=500, target=sid, path=":batchUpdate"))
    title = {
        "updateSheetProperties": {"properties": {"sheetId": 0, "title": "А"}, "fields": "title"}
    }
    http.request(
        "post", SPREADSHEET_BATCH_UPDATE_URL % sid, json={"requests": [title]}, idempotent=True
    )


def test_a_retry_after_beyond_the_limit_is_not_waited_for(fake_google: FakeGoogle) -> None:
    http = client(fake_google, max_retry_after=60)
    sid = new_spreadsheet(http)
    fake_google.inject(Fault(status=503, target=sid, retry_after="3600"))
    slept = fake_google.clock.slept
    with pytest.raises(APIError):
        http.spreadsheets_get(sid, {"fields": "spreadsheetId"})
    assert fake_google.clock.slept == slept


def test_no_answer_at_all_ends_in_a_connection_error(fake_google: FakeGoogle) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once closed
    http = client(fake_google, max_tries=3)
    new_spreadsheet(http)  # a token first
    http.endpoints = Endpoints(f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port}")
    slept = fake_google.clock.slept
    with pytest.raises(GoogleConnectionError, match="попыток: 3"):
        http.spreadsheets_get("x", {"fields": "spreadsheetId"})
    assert fake_google.clock.slept > slept  # two backoff pauses on the virtual clock
