"""A real SMTP server on loopback for the reminder tests (aiosmtpd), with TLS and login if asked."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session


@dataclass
class Received:
    """One message as the server got it: the envelope and the parsed message."""

    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    login: str | None

    @property
    def message(self) -> EmailMessage:
        msg = message_from_bytes(self.raw, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        return msg

    @property
    def body(self) -> str:
        part = self.message.get_body(("plain",))
        assert part is not None
        return str(part.get_content())  # type: ignore[attr-defined]


@dataclass
class Mailbox:
    host: str
    port: int
    received: list[Received] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)

    def to(self, address: str) -> list[Received]:
        return [r for r in self.received if address in r.rcpt_tos]


class _Handler:
    def __init__(self, box: Mailbox) -> None:
        self.box = box

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        login = session.auth_data if isinstance(session.auth_data, str) else None
        content = envelope.original_content or b""
        self.box.received.append(
            Received(envelope.mail_from or "", list(envelope.rcpt_tos), content, login)
        )
        return "250 OK"


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (the test trusts it as its ca_file)."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@contextmanager
def smtp_server(
    *,
    starttls: tuple[Path, Path] | None = None,
    implicit_tls: tuple[Path, Path] | None = None,
    users: dict[str, str] | None = None,
) -> Iterator[Mailbox]:
    """Serve SMTP on 127.0.0.1 at a free port in a background thread while the block runs."""
    box = Mailbox("127.0.0.1", 0)
    loop = asyncio.new_event_loop()

    def context(pair: tuple[Path, Path]) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(str(pair[0]), str(pair[1]))
        return ctx

    def authenticator(
        server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if isinstance(data, LoginPassword) and users is not None:
            login, password = data.login.decode(), data.password.decode()
            box.logins.append((login, password))
            ok = users.get(login) == password
            return AuthResult(success=ok, handled=False, auth_data=login if ok else None)
        return AuthResult(success=False, handled=False)

    def factory() -> SMTP:
        kwargs: dict[str, Any] = {"hostname": "test.local"}
        if starttls:
            kwargs |= {"tls_context": context(starttls), "require_starttls": True}
        if users is not None:
            kwargs |= {"authenticator": authenticator, "auth_required": True}
            kwargs["auth_require_tls"] = bool(starttls or implicit_tls)
        return SMTP(_Handler(box), **kwargs)

    server = loop.run_until_complete(
        loop.create_server(
            factory, "127.0.0.1", 0, ssl=context(implicit_tls) if implicit_tls else None
        )
    )
    box.port = server.sockets[0].getsockname()[1]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield box
    finally:
        loop.call_soon_threadsafe(server.close)
        asyncio.run_coroutine_threadsafe(server.wait_closed(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
