"""HTTP to Google for the Sheets backend: configurable endpoints, a quota limiter, bounded retries.

`GoogleHTTPClient` is a `gspread.http_client.HTTPClient` (so gspread's own calls go through it)
that
- sends Google's URLs to the configured endpoints (an emulator, a proxy); only https or loopback;
- keeps Sheets reads, Sheets writes and Drive calls each under a per-minute budget (a sliding
  window with an injectable clock and sleep), so a nightly run does not meet a 429;
- retries 429, 500, 502, 503, 504 and timeouts with capped exponential backoff and jitter,
  honouring Retry-After, a bounded number of times (gspread's BackOffHTTPClient retries a 429
  forever), and only requests that are safe to repeat when the failure may have been applied.
Tokens and keys never reach a log or an error message here.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import os
import random
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import gspread
import requests
from google.auth import exceptions as auth_exceptions
from google.auth.credentials import Credentials
from gspread.exceptions import APIError
from gspread.http_client import FileType, HTTPClient, ParamsType
from requests import Response, Session

from sync.service.lock import _os_unlock as os_unlock
from sync.service.lock import _try_os_lock as try_os_lock

log = logging.getLogger("roadmap_sync.google")

GOOGLE_SHEETS = "https://sheets.googleapis.com"
GOOGLE_APIS = "https://www.googleapis.com"  # Drive v3 and gspread's upload URLs
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
# Answers after which the request certainly was not applied: safe to repeat any request.
NOT_APPLIED_STATUS = frozenset({429, 503})
WINDOW = 60.0  # seconds: Google's quotas are per minute

Clock = Callable[[], float]
Sleep = Callable[[float], None]

READ, WRITE, DRIVE = "read", "write", "drive"
# Sheets POST methods that only read (they count against the read quota).
_READ_VERBS = (":batchGet", ":batchGetByDataFilter", ":getByDataFilter", "developerMetadata:search")


def endpoint_problem(url: str) -> str | None:
    """Why an endpoint URL is refused (Russian), or None: only https, or http to loopback.

    >>> endpoint_problem("https://sheets.googleapis.com") is None
    True
    >>> endpoint_problem("http://127.0.0.1:8080") is None, endpoint_problem("http://proxy:80")[:9]
    (True, 'разрешены')
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return f"«{url}» — не адрес (URL)."
    if parts.username or parts.password:
        return "в адресе не должно быть имени пользователя или пароля."
    if parts.query or parts.fragment:
        return "в адресе не должно быть параметров (?…) или якоря (#…)."
    if not host:
        return f"«{url}» — не адрес (URL): ожидается, например, https://sheets.googleapis.com."
    if parts.scheme == "https":
        return None
    if parts.scheme == "http" and is_loopback(host):
        return None
    return (
        "разрешены только адреса https:// или http:// на этот же компьютер (127.0.0.1, ::1,"
        f" localhost), а указано «{url}»: ключ и данные школ не должны идти по сети открыто."
    )


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or localhost."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]").split("%")[0]).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Endpoints:
    """Where Google's services are: the real ones, or an emulator or proxy (checked beforehand)."""

    sheets: str = GOOGLE_SHEETS
    drive: str = GOOGLE_APIS
    token_uri: str = GOOGLE_TOKEN_URI

    def rewrite(self, url: str) -> str:
        """A Google URL (gspread's constants use them) -> the same path on the configured one."""
        for google, ours in ((GOOGLE_SHEETS, self.sheets), (GOOGLE_APIS, self.drive)):
            if url.startswith(google + "/"):
                return ours.rstrip("/") + url[len(google) :]
        return url

    def bucket(self, method: str, url: str) -> str:
        """Which quota a request counts against: Sheets reads, Sheets writes or Drive."""
        path = urlsplit(url).path
        if "/drive/" in path:
            return DRIVE
        if method.upper() == "GET" or path.endswith(_READ_VERBS):
            return READ
        return WRITE


@dataclass(frozen=True)
class Budgets:
    """Requests a minute the limiter lets through, per quota (Google allows 60 a user)."""

    reads: int = 55
    writes: int = 55
    drive: int = 600

    def of(self, bucket: str) -> int:
        return {READ: self.reads, WRITE: self.writes, DRIVE: self.drive}[bucket]


class RateLimiter:
    """A sliding one-minute window per quota: acquire() waits until one more request fits.

    The clock and sleep are injected, so tests and the benchmark run on a virtual clock.
    """

    def __init__(self, budgets: Budgets, clock: Clock = time.monotonic, sleep: Sleep = time.sleep):
        self.budgets = budgets
        self.clock = clock
        self.sleep = sleep
        self._sent: dict[str, deque[float]] = {READ: deque(), WRITE: deque(), DRIVE: deque()}
        self._lock = threading.Lock()
        self.waited = 0.0  # seconds spent waiting, for the benchmark and the run's log

    def acquire(self, bucket: str) -> float:
        """Wait (if needed) for room in the bucket's window, then take it; returns the wait."""
        waited = 0.0
        budget = max(1, self.budgets.of(bucket))
        while True:
            with self._lock:
                now = self.clock()
                sent = self._sent[bucket]
                while sent and sent[0] <= now - WINDOW:
                    sent.popleft()
                if len(sent) < budget:
                    sent.append(now)
                    self.waited += waited
                    return waited
                pause = sent[0] + WINDOW - now
            pause = max(pause, 0.001)
            self.sleep(pause)
            waited += pause

    def backlog(self, bucket: str) -> int:
        """Requests in the bucket's current window."""
        with self._lock:
            now = self.clock()
            return sum(1 for t in self._sent[bucket] if t > now - WINDOW)


class SharedRateLimiter(RateLimiter):
    """The same sliding windows, kept in a small JSON file under an OS lock, per account.

    Google counts a quota per user per minute whatever process sends the request: `serve`,
    `run`, `distribute` and the add-in's sync of one account share this file and so one
    budget. The clock must be the wall clock (time.time) or a shared virtual one: the file's
    times are compared across processes. Nothing secret is in the file, only times.
    """

    def __init__(
        self,
        path: Path,
        account: str,
        budgets: Budgets,
        clock: Clock = time.time,
        sleep: Sleep = time.sleep,
        *,
        window: float = WINDOW,
    ):
        super().__init__(budgets, clock, sleep)
        self.path = Path(path)
        self.account = account
        self.window = window

    def acquire(self, bucket: str) -> float:
        waited = 0.0
        budget = max(1, self.budgets.of(bucket))
        while True:
            with self._lock, self._file() as state:
                now = self.clock()
                mine = state.setdefault(self.account, {})
                sent = [t for t in mine.get(bucket, []) if t > now - self.window]
                if len(sent) < budget:
                    mine[bucket] = [*sent, now]
                    self.waited += waited
                    return waited
                mine[bucket] = sent
                pause = min(sent) + self.window - now
            pause = max(pause, 0.001)
            self.sleep(pause)
            waited += pause

    def backlog(self, bucket: str) -> int:
        with self._lock, self._file() as state:
            now = self.clock()
            return sum(
                1 for t in state.get(self.account, {}).get(bucket, []) if t > now - self.window
            )

    @contextlib.contextmanager
    def _file(self) -> Iterator[dict[str, dict[str, list[float]]]]:
        """The state under the OS lock (held for microseconds): read, let the caller change
        it, write it back. A damaged or missing file starts empty (quota state only)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            while not try_os_lock(fd):
                time.sleep(0.002)  # real time: another process holds it for a moment
            try:
                os.lseek(fd, 0, os.SEEK_SET)  # (Windows' lock moved the position)
                raw = b""
                while chunk := os.read(fd, 65536):
                    raw += chunk
                try:
                    data = json.loads(raw) if raw else {}
                    state = data.get("accounts", {}) if isinstance(data, dict) else {}
                except ValueError:
                    state = {}
                yield state
                out = json.dumps({"version": 1, "accounts": state}).encode()
                os.lseek(fd, 0, os.SEEK_SET)
                os.ftruncate(fd, 0)
                os.write(fd, out)
            finally:
                os_unlock(fd)
        finally:
            os.close(fd)


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries with capped exponential backoff and jitter.

    A 429 backs off from a longer base: Google's quota is a per-minute window, so retrying a
    few seconds later mostly meets the same full window (4 tries span about a minute).
    """

    max_tries: int = 5
    base: float = 1.0
    quota_base: float = 8.0
    max_backoff: float = 32.0
    max_retry_after: float = 300.0  # a longer Retry-After is not waited for: the run goes on

    def delay(self, attempt: int, rng: random.Random, *, throttled: bool = False) -> float:
        """Seconds before try `attempt + 1`: half the capped exponential, plus up to as much."""
        base = self.quota_base if throttled else self.base
        ceiling = min(max(self.max_backoff, base), base * 2.0 ** (attempt - 1))
        return ceiling / 2 + rng.uniform(0, ceiling / 2)


def retry_after(response: Response, now: float | None = None) -> float | None:
    """Seconds a Retry-After header asks to wait (seconds or an HTTP date), None without one."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


@dataclass
class RequestStats:
    """What went over the wire: requests per quota, answers per status, retries and waits."""

    sent: Counter[str] = field(default_factory=Counter)  # bucket -> requests sent (with retries)
    statuses: Counter[int] = field(default_factory=Counter)
    retries: int = 0
    throttled: int = 0  # 429 answers met
    retry_wait: float = 0.0

    def total(self) -> int:
        return sum(self.sent.values())


class GoogleClient(gspread.Client):
    """gspread's client over a GoogleHTTPClient built beforehand (gspread would build its own)."""

    def __init__(self, http: GoogleHTTPClient) -> None:
        self.http_client = http
        self.http = http  # typed: our client, for the quota, retries and statistics


class GoogleConnectionError(Exception):
    """Google did not answer after every try (timeouts, refused connections); retrying later may."""


class GoogleHTTPClient(HTTPClient):
    """gspread's HTTP client with our endpoints, quota limiter and bounded retries.

    Built complete, with its settings: `GoogleClient(http)` hands it to gspread.
    """

    def __init__(
        self,
        auth: Credentials,
        session: Session | None = None,
        *,
        endpoints: Endpoints | None = None,
        limiter: RateLimiter | None = None,
        policy: RetryPolicy | None = None,
        sleep: Sleep = time.sleep,
        timeout: float | tuple[float, float] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        """Where to go, how fast, how often to retry and how long to wait for an answer."""
        super().__init__(auth, session)
        self.endpoints = endpoints or Endpoints()
        self.limiter = limiter or RateLimiter(Budgets())
        self.policy = policy or RetryPolicy()
        self.stats = RequestStats()
        self.sleep = sleep
        self.timeout = timeout
        self.rng = rng or random.Random()

    def request(
        self,
        method: str,
        endpoint: str,
        params: ParamsType | None = None,
        data: bytes | None = None,
        json: Mapping[str, Any] | None = None,
        files: FileType = None,
        headers: MutableMapping[str, str] | None = None,
        *,
        idempotent: bool | None = None,
        timeout: float | None = None,
    ) -> Response:
        """One API call with limiter and retries; raises gspread's APIError on an error answer.

        `idempotent`: whether repeating the request after an answer that may have been applied
        (a 500, a timeout) is safe; by default GET, PUT and DELETE are, POST and PATCH are not.
        A 429 or 503 means the request was not applied: those are always retried.
        `timeout` (seconds) overrides the client's own for this request (a large master).
        """
        url = self.endpoints.rewrite(endpoint)
        bucket = self.endpoints.bucket(method, url)
        repeatable = (
            method.upper() in ("GET", "PUT", "DELETE") if idempotent is None else idempotent
        )
        attempt = 0
        while True:
            attempt += 1
            self.limiter.acquire(bucket)
            self.stats.sent[bucket] += 1
            try:
                response = self.session.request(
                    method=method,
                    url=url,
                    json=json,
                    params=params,
                    data=data,
                    files=files,
                    headers=headers,
                    timeout=self.timeout if timeout is None else timeout,
                )
            except (
                requests.Timeout,
                requests.ConnectionError,
                auth_exceptions.TransportError,
            ) as e:
                kind = "нет ответа (тайм-аут)" if isinstance(e, requests.Timeout) else "нет связи"
                if not repeatable or attempt >= self.policy.max_tries:
                    raise GoogleConnectionError(
                        f"Google не ответил: {kind}, попыток: {attempt}."
                    ) from None
                self._pause(self.policy.delay(attempt, self.rng), f"{kind}: {method} {_path(url)}")
                continue
            except auth_exceptions.RefreshError as e:
                if getattr(e, "retryable", False) and attempt < self.policy.max_tries:
                    self._pause(self.policy.delay(attempt, self.rng), "сервер токенов не ответил")
                    continue
                raise
            self.stats.statuses[response.status_code] += 1
            if response.ok:
                return response
            status = response.status_code
            if status == 429:
                self.stats.throttled += 1
            may_retry = status in RETRYABLE_STATUS and (repeatable or status in NOT_APPLIED_STATUS)
            if may_retry and attempt < self.policy.max_tries:
                asked = retry_after(response)
                if asked is not None and asked > self.policy.max_retry_after:
                    raise APIError(response)
                wait = (
                    asked
                    if asked is not None
                    else self.policy.delay(attempt, self.rng, throttled=status == 429)
                )
                self._pause(wait, f"ответ {status}: {method} {_path(url)}")
                continue
            raise APIError(response)

    def _pause(self, seconds: float, why: str) -> None:
        self.stats.retries += 1
        self.stats.retry_wait += seconds
        log.info("Google: %s — повтор через %.1f с", why, seconds)
        self.sleep(seconds)


def _path(url: str) -> str:
    """A URL's path for a log line: no query (ids stay, nothing secret is in our paths)."""
    return urlsplit(url).path


def error_status(error: APIError) -> str:
    """Google's status word of an error answer ("NOT_FOUND", "PERMISSION_DENIED", ...)."""
    body = error.error if isinstance(error.error, dict) else {}
    return str(body.get("status", ""))


def error_reasons(error: APIError) -> set[str]:
    """Drive's reason words of an error answer ("storageQuotaExceeded", ...)."""
    body = error.error if isinstance(error.error, dict) else {}
    return {str(e.get("reason", "")) for e in body.get("errors", []) if isinstance(e, dict)}


STORAGE_QUOTA_RU = (
    "Google не разрешает сервисному аккаунту создавать файлы в обычном «Моём диске»: с 2025 года"
    " у сервисных аккаунтов нет своего места на Диске (storageQuotaExceeded). Выберите один из"
    " двух способов (docs/google.md): вход под учётной записью координатора — в [google]"
    ' auth = "user" и команда roadmap-sync google-login; или общий диск Google Workspace, в'
    " котором сервисный аккаунт — участник, и folder_id — папка на этом общем диске."
)


def explain(error: BaseException, auth: str = "service_account") -> tuple[str, bool]:
    """A Russian explanation of a failed call and whether trying again later can help.

    `auth` is how the backend signs in: a refused sign-in is explained differently for a
    service-account key ("service_account") and a person's google-login ("user").
    """
    if isinstance(error, GoogleConnectionError):
        return str(error), True
    if auth == "user" and (
        isinstance(error, auth_exceptions.GoogleAuthError)
        or (isinstance(error, APIError) and error.code == 401)
    ):
        return (
            "Google не принял вход координатора (доступ отозван, пароль сменён или вход"
            " устарел): выполните roadmap-sync google-login ещё раз.",
            False,
        )
    if isinstance(error, auth_exceptions.RefreshError):
        return (
            "Google не выдал доступ по ключу сервисного аккаунта (ключ отозван, удалён или"
            " повреждён): создайте новый ключ и укажите его в настройках.",
            False,
        )
    if isinstance(error, auth_exceptions.GoogleAuthError):
        return "ошибка авторизации Google: проверьте ключ сервисного аккаунта.", False
    if isinstance(error, APIError):
        code = error.code
        body = error.error if isinstance(error.error, dict) else {}
        detail = str(body.get("message", ""))[:300]
        if code == 404:
            return "таблица не найдена (удалена или нет доступа у сервисного аккаунта).", False
        if code == 403 and "storageQuotaExceeded" in error_reasons(error):
            return STORAGE_QUOTA_RU, False
        if code == 403 and auth == "user":
            return (
                "нет доступа у вошедшего координатора: таблица создана не этой программой или"
                " не им (доступ drive.file — только к своим файлам)."
                + (f" Google: {detail}" if detail else ""),
                False,
            )
        if code == 403:
            return (
                "нет доступа: откройте таблицу (или папку) сервисному аккаунту как редактору."
                + (f" Google: {detail}" if detail else ""),
                False,
            )
        if code == 401:
            return "Google не принял авторизацию: проверьте ключ сервисного аккаунта.", False
        if code == 429:
            return "превышена квота запросов Google — повторим при следующей синхронизации.", True
        if code >= 500:
            return f"сбой на стороне Google ({code}) — повторим при следующей синхронизации.", True
        return f"Google отклонил запрос ({code}): {detail}", False
    return f"ошибка обмена с Google ({type(error).__name__}).", True
