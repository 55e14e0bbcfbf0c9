"""Secure by default: headers on every answer, rate limits per client, CSRF tokens and an
access log in which no link token ever appears."""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

access_log = logging.getLogger("roadmap_sync.web.access")

CSP = (
    "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:;"
    " form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    # The links carry the secret: never send them to another site as a Referer.
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), interest-cohort=()"),
    (b"cache-control", b"no-store"),
]

MAX_IN_FLIGHT = 200  # requests served at once; more get a Russian 503

# /s/<token>/..., /c/<token>/...: the token is replaced before anything is logged.
_TOKEN_PATH = re.compile(r"^/(s|c)/[^/?#]+")


def redact(path: str) -> str:
    return _TOKEN_PATH.sub(r"/\1/…", path)


class RateLimiter:
    """Token buckets per (client, kind): `per_minute` requests, refilled continuously."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self.buckets: dict[tuple[str, str], tuple[float, float]] = {}
        self.lock = threading.Lock()

    def allow(self, client: str, kind: str, per_minute: int) -> bool:
        now = self.clock()
        key = (client, kind)
        with self.lock:
            tokens, last = self.buckets.get(key, (float(per_minute), now))
            tokens = min(float(per_minute), tokens + (now - last) * per_minute / 60.0)
            if tokens < 1.0:
                self.buckets[key] = (tokens, now)
                return False
            self.buckets[key] = (tokens - 1.0, now)
            if len(self.buckets) > 50_000:  # forget idle clients
                self.buckets = {
                    k: v for k, v in self.buckets.items() if now - v[1] < 120 or k == key
                }
            return True

    def exhausted(self, client: str, kind: str, per_minute: int) -> bool:
        """Whether `kind` has no token left for the client, without spending one."""
        now = self.clock()
        with self.lock:
            tokens, last = self.buckets.get((client, kind), (float(per_minute), now))
        return min(float(per_minute), tokens + (now - last) * per_minute / 60.0) < 1.0


def csrf_token(key: bytes, link_id: int, day: int | None = None) -> str:
    """A form token bound to one link and one day (UTC); yesterday's is accepted too."""
    day = int(time.time() // 86400) if day is None else day
    mac = hmac.new(key, f"csrf:{link_id}:{day}".encode(), hashlib.sha256).hexdigest()
    return f"{day}.{mac}"


def csrf_ok(key: bytes, link_id: int, presented: str) -> bool:
    today = int(time.time() // 86400)
    day_text, _, _mac = presented.partition(".")
    if not day_text.isdigit() or int(day_text) not in (today, today - 1):
        return False
    return hmac.compare_digest(csrf_token(key, link_id, int(day_text)), presented)


class SecurityMiddleware:
    """Headers on every answer, the general rate limit, the redacted access log, and the
    overload limit: past `max_in_flight` requests at once the answer is a Russian 503 (uvicorn's
    own limit, set far higher as a last backstop, would answer in English)."""

    def __init__(
        self,
        app: ASGIApp,
        limiter: RateLimiter,
        requests_per_minute: int,
        max_in_flight: int = MAX_IN_FLIGHT,
    ):
        self.app, self.limiter, self.per_minute = app, limiter, requests_per_minute
        self.max_in_flight = max_in_flight
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = (scope.get("client") or ("?", 0))[0]
        began = time.perf_counter()
        status = {"code": 0, "bytes": 0}

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                headers = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if k.lower() not in {h for h, _ in SECURITY_HEADERS}
                ]
                keep_cache = [
                    (k, v) for k, v in message.get("headers", []) if k.lower() == b"cache-control"
                ]
                defaults = [
                    h for h in SECURITY_HEADERS if not (h[0] == b"cache-control" and keep_cache)
                ]
                message["headers"] = headers + keep_cache + defaults
            elif message["type"] == "http.response.body":
                status["bytes"] += len(message.get("body", b""))
            await send(message)

        self.in_flight += 1  # one event loop: no lock needed
        try:
            if self.in_flight > self.max_in_flight:
                await _plain_page(send_with_headers, 503, OVERLOADED, retry_after=b"30")
            elif not self.limiter.allow(client, "request", self.per_minute):
                await _plain_page(send_with_headers, 429, TOO_MANY, retry_after=b"60")
            else:
                await self.app(scope, receive, send_with_headers)
        finally:
            self.in_flight -= 1
            access_log.info(
                '%s "%s %s" %s %d %.0fms',
                client,
                scope.get("method", ""),
                redact(scope.get("path", "")),
                status["code"],
                status["bytes"],
                (time.perf_counter() - began) * 1000,
            )


TOO_MANY = (
    "<!doctype html><meta charset=utf-8><title>Слишком много запросов</title>"
    "<p>Слишком много запросов с вашего адреса. Подождите минуту и попробуйте снова.</p>"
).encode()
OVERLOADED = (
    "<!doctype html><meta charset=utf-8><title>Сервер занят</title>"
    "<p>Сейчас книги загружают очень многие школы, и сервер занят. Подождите полминуты"
    " и попробуйте снова — ваша книга не потеряется, если вы загрузите её ещё раз.</p>"
).encode()


async def _plain_page(send: Send, status: int, body: bytes, retry_after: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/html; charset=utf-8"),
                (b"retry-after", retry_after),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyTooLarge(Exception):
    """The request body passed the configured cap while it was being received."""


def capped_receive(receive: Receive, limit: int) -> Receive:
    """A receive that counts body bytes as they arrive and stops past `limit`."""
    seen = 0

    async def wrapped() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyTooLarge
        return message

    return wrapped
