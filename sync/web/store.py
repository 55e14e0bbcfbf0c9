"""The intake's records: link tokens (hashed) in its own SQLite file beside the history, and
every upload in the history database itself (table web_uploads, beside the runs and reads).

A token is 256 random bits; only its sha256 is stored, so a stolen database opens no page.
A presented token is hashed and compared with the stored hash in constant time. The tokens'
file is readable by the service's user only; the history is shared with the sync as always.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS links (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    role TEXT NOT NULL,              -- school, coordinator
    subject TEXT NOT NULL,           -- the school id, or the coordinator's id
    token_hash TEXT NOT NULL UNIQUE,
    created TEXT NOT NULL,
    revoked TEXT
);
CREATE INDEX IF NOT EXISTS links_subject ON links(role, subject);
CREATE TABLE IF NOT EXISTS secrets (name TEXT PRIMARY KEY, value TEXT NOT NULL);
-- Versions of a school's workbook the intake has seen: which came from the web.
CREATE TABLE IF NOT EXISTS versions (
    school_id TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    origin TEXT NOT NULL,            -- web (an upload, or the sync's paint of one), school
    at TEXT NOT NULL,
    upload_id INTEGER,
    PRIMARY KEY (school_id, sha256)
);
"""
# In the history database: its own table, so sync/history.py needs no change.
UPLOADS_SCHEMA = """
CREATE TABLE IF NOT EXISTS web_uploads (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    school_id TEXT NOT NULL,
    at TEXT NOT NULL,
    size INTEGER NOT NULL DEFAULT 0,
    sha256 TEXT NOT NULL DEFAULT '',
    outcome TEXT NOT NULL,           -- accepted, refused
    message TEXT NOT NULL DEFAULT '',
    problems TEXT NOT NULL DEFAULT '[]',
    summary TEXT NOT NULL DEFAULT '{}',
    state TEXT NOT NULL DEFAULT '',  -- pending, syncing, stored, synced, store_failed, sync_failed
    state_message TEXT NOT NULL DEFAULT '',
    staged TEXT NOT NULL DEFAULT ''  -- the file name in the staging folder while pending
);
CREATE INDEX IF NOT EXISTS web_uploads_school ON web_uploads(school_id, id);
"""
# Columns added after the first release: (name, declaration).
UPLOADS_COLUMNS = (
    ("base", "TEXT NOT NULL DEFAULT ''"),  # the version (sha256) the school's download was of
    ("replaced", "TEXT NOT NULL DEFAULT ''"),  # Russian: which version the upload replaced
    ("warning", "TEXT NOT NULL DEFAULT ''"),  # Russian: a conflict the school must know of
)

TOKEN_BYTES = 32  # 256 bits


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


@dataclass(frozen=True)
class Link:
    id: int
    role: str
    subject: str
    created: datetime
    revoked: datetime | None


@dataclass(frozen=True)
class Upload:
    id: int
    school_id: str
    at: datetime
    size: int
    sha256: str
    outcome: str
    message: str
    problems: list[dict[str, Any]]
    summary: dict[str, Any]
    state: str
    state_message: str
    staged: str
    base: str = ""
    replaced: str = ""
    warning: str = ""


def _dt(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


class WebStore:
    """Thread-safe access to the intake's records (one connection per file, one lock).

    `path` holds the links; `history_path` (the sync's history) the uploads.
    """

    def __init__(self, path: Path, history_path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        history_path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.lock = threading.Lock()
        self.conn = sqlite3.connect(path, timeout=30, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.executescript(SCHEMA)
        path.chmod(0o600)  # token hashes and the CSRF key: for the service's user only
        self.history = sqlite3.connect(history_path, timeout=30, check_same_thread=False)
        self.history.execute("PRAGMA journal_mode=WAL")
        self.history.executescript(UPLOADS_SCHEMA)
        have = {r[1] for r in self.history.execute("PRAGMA table_info(web_uploads)")}
        with self.history:
            for name, declaration in UPLOADS_COLUMNS:
                if name not in have:
                    self.history.execute(f"ALTER TABLE web_uploads ADD COLUMN {name} {declaration}")

    def close(self) -> None:
        with self.lock:
            self.conn.close()
            self.history.close()

    def __enter__(self) -> WebStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def secret(self, name: str) -> bytes:
        """A random key kept in the database (the CSRF key), made on first use."""
        with self.lock, self.conn:
            row = self.conn.execute("SELECT value FROM secrets WHERE name=?", (name,)).fetchone()
            if row:
                return bytes.fromhex(row[0])
            value = secrets.token_bytes(32)
            self.conn.execute("INSERT INTO secrets(name, value) VALUES (?, ?)", (name, value.hex()))
            return value

    # links
    def issue(self, role: str, subject: str, now: datetime) -> str:
        """A new token for `subject`; any link it had is revoked. Returns the token (once)."""
        token = secrets.token_urlsafe(TOKEN_BYTES)
        at = now.isoformat(timespec="seconds")
        with self.lock, self.conn:
            self.conn.execute(
                "UPDATE links SET revoked=? WHERE role=? AND subject=? AND revoked IS NULL",
                (at, role, subject),
            )
            self.conn.execute(
                "INSERT INTO links(role, subject, token_hash, created) VALUES (?, ?, ?, ?)",
                (role, subject, token_hash(token), at),
            )
        return token

    def revoke(self, role: str, subject: str, now: datetime) -> int:
        with self.lock, self.conn:
            cur = self.conn.execute(
                "UPDATE links SET revoked=? WHERE role=? AND subject=? AND revoked IS NULL",
                (now.isoformat(timespec="seconds"), role, subject),
            )
        return cur.rowcount

    def active(self) -> dict[tuple[str, str], Link]:
        """Every live link by (role, subject)."""
        with self.lock:
            rows = self.conn.execute(
                "SELECT id, role, subject, created, revoked FROM links WHERE revoked IS NULL"
            ).fetchall()
        return {
            (r[1], r[2]): Link(r[0], r[1], r[2], datetime.fromisoformat(r[3]), None) for r in rows
        }

    def resolve(self, token: str, role: str) -> Link | None:
        """The live link this token opens, or None. The hash is compared in constant time."""
        if not token or len(token) > 200:
            return None
        presented = token_hash(token)
        with self.lock:
            row = self.conn.execute(
                "SELECT id, role, subject, created, revoked, token_hash FROM links"
                " WHERE token_hash=? AND role=? AND revoked IS NULL",
                (presented, role),
            ).fetchone()
        if row is None or not hmac.compare_digest(row[5], presented):
            return None
        return Link(row[0], row[1], row[2], datetime.fromisoformat(row[3]), None)

    # uploads
    def add_upload(
        self,
        school_id: str,
        at: datetime,
        *,
        size: int,
        sha256: str,
        outcome: str,
        message: str,
        problems: list[dict[str, Any]] | None = None,
        summary: dict[str, Any] | None = None,
        state: str = "",
        staged: str = "",
        base: str = "",
    ) -> int:
        with self.lock, self.history:
            cur = self.history.execute(
                "INSERT INTO web_uploads(school_id, at, size, sha256, outcome, message, problems,"
                " summary, state, staged, base) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    school_id,
                    at.isoformat(timespec="seconds"),
                    size,
                    sha256,
                    outcome,
                    message,
                    json.dumps(problems or [], ensure_ascii=False),
                    json.dumps(summary or {}, ensure_ascii=False),
                    state,
                    staged,
                    base,
                ),
            )
        assert cur.lastrowid is not None
        return cur.lastrowid

    def set_state(self, upload_id: int, state: str, message: str = "", staged: str = "") -> None:
        with self.lock, self.history:
            self.history.execute(
                "UPDATE web_uploads SET state=?, state_message=?, staged=? WHERE id=?",
                (state, message, staged, upload_id),
            )

    def set_replaced(self, upload_id: int, replaced: str, warning: str) -> None:
        """What the stored upload replaced, and the warning when that version had changes the
        upload does not contain."""
        with self.lock, self.history:
            self.history.execute(
                "UPDATE web_uploads SET replaced=?, warning=? WHERE id=?",
                (replaced, warning, upload_id),
            )

    def _uploads(self, where: str, args: tuple[Any, ...]) -> list[Upload]:
        with self.lock:
            rows = self.history.execute(
                "SELECT id, school_id, at, size, sha256, outcome, message, problems, summary,"
                " state, state_message, staged, base, replaced, warning"
                f" FROM web_uploads {where}",
                args,
            ).fetchall()
        return [
            Upload(
                r[0],
                r[1],
                datetime.fromisoformat(r[2]),
                r[3],
                r[4],
                r[5],
                r[6],
                json.loads(r[7]),
                json.loads(r[8]),
                r[9],
                r[10],
                r[11],
                r[12],
                r[13],
                r[14],
            )
            for r in rows
        ]

    def upload(self, upload_id: int) -> Upload | None:
        found = self._uploads("WHERE id=?", (upload_id,))
        return found[0] if found else None

    def uploads_of(self, school_id: str, limit: int = 20) -> list[Upload]:
        return self._uploads("WHERE school_id=? ORDER BY id DESC LIMIT ?", (school_id, limit))

    def pending(self) -> list[Upload]:
        """Accepted uploads not yet stored: waiting for the worker, or for an open file."""
        return self._uploads("WHERE state IN ('pending', 'waiting') ORDER BY id", ())

    def syncing(self) -> list[Upload]:
        """Stored uploads whose sync was under way (a restart interrupted it)."""
        return self._uploads("WHERE state='syncing' ORDER BY id", ())

    # versions of the schools' workbooks
    def note_version(
        self, school_id: str, sha256: str, origin: str, at: datetime, upload_id: int | None = None
    ) -> None:
        with self.lock, self.conn:
            self.conn.execute(
                "INSERT INTO versions(school_id, sha256, origin, at, upload_id)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT(school_id, sha256) DO NOTHING",
                (school_id, sha256, origin, at.isoformat(timespec="seconds"), upload_id),
            )

    def version(self, school_id: str, sha256: str) -> tuple[str, datetime, int | None] | None:
        """(origin, when first seen, the upload) of one version of a school's workbook."""
        with self.lock:
            row = self.conn.execute(
                "SELECT origin, at, upload_id FROM versions WHERE school_id=? AND sha256=?",
                (school_id, sha256),
            ).fetchone()
        return (row[0], datetime.fromisoformat(row[1]), row[2]) if row else None

    def last_uploads(self) -> dict[str, Upload]:
        """Each school's newest upload."""
        found = self._uploads(
            "WHERE id IN (SELECT MAX(id) FROM web_uploads GROUP BY school_id)", ()
        )
        return {u.school_id: u for u in found}
