"""SQLite history: every run, and a content-hashed snapshot of every school as read.

Nothing a school typed is lost: a snapshot is kept for every distinct content a school ever had,
so `roadmap-sync history SCHOOL` can show what was there last week even after it was deleted.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from time import monotonic
from typing import Any, cast

from sync.model import CellValue, Problem, SchoolSheet, Severity, SheetRow
from sync.review import Mark, RecordedMark, RowKey
from sync.states import RunOutcome

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started TEXT NOT NULL,
    finished TEXT,
    today TEXT NOT NULL,
    outcome TEXT NOT NULL DEFAULT 'running',
    synced INTEGER NOT NULL DEFAULT 0,
    unchanged INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    locked INTEGER NOT NULL DEFAULT 0,
    message TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS snapshots (
    hash TEXT PRIMARY KEY,
    school_id TEXT NOT NULL,
    data TEXT NOT NULL,
    first_seen TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS reads (
    run_id INTEGER NOT NULL REFERENCES runs(id),
    school_id TEXT NOT NULL,
    at TEXT NOT NULL,
    outcome TEXT NOT NULL,
    fingerprint TEXT NOT NULL DEFAULT '',
    stamp TEXT NOT NULL DEFAULT '',
    modified TEXT,
    snapshot TEXT REFERENCES snapshots(hash),
    problems TEXT NOT NULL DEFAULT '[]',
    controls TEXT NOT NULL DEFAULT '{}',
    message TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (run_id, school_id)
);
CREATE INDEX IF NOT EXISTS reads_school ON reads(school_id, run_id);
CREATE TABLE IF NOT EXISTS paints (
    school_id TEXT PRIMARY KEY,
    digest TEXT NOT NULL,
    stamp TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS reminders (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    recipient TEXT NOT NULL,
    mode TEXT NOT NULL,
    today TEXT NOT NULL,
    sent_at TEXT NOT NULL,
    run_id INTEGER,
    addresses TEXT NOT NULL DEFAULT '[]',
    items INTEGER NOT NULL DEFAULT 0,
    message_id TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS reminders_recipient ON reminders(recipient, mode, today);
CREATE TABLE IF NOT EXISTS review_marks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    school_id TEXT NOT NULL,
    section TEXT NOT NULL,
    no TEXT NOT NULL,
    mark TEXT,
    comment TEXT NOT NULL DEFAULT '',
    by TEXT NOT NULL DEFAULT '',
    at TEXT NOT NULL,
    row_digest TEXT NOT NULL,
    source TEXT NOT NULL,
    run_id INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS review_marks_row ON review_marks(school_id, section, no, id);
CREATE TABLE IF NOT EXISTS review_cells (
    school_id TEXT NOT NULL,
    section TEXT NOT NULL,
    no TEXT NOT NULL,
    text TEXT NOT NULL,
    PRIMARY KEY (school_id, section, no)
);
"""

# Inside History.batch, writes are committed at least this often (other readers of the history,
# `status` and the web page, see a run's progress; another writer waits at most about this long).
BATCH_SECONDS = 1.0

# A school's newest read that produced a snapshot (a failed read keeps the one before): one
# lookup in the (school, run) index.
_NEWEST_READ = (
    "FROM reads WHERE school_id = ? AND snapshot IS NOT NULL ORDER BY run_id DESC LIMIT 1"
)

# Runs that did not finish their work: the next due time still needs a run.
UNFINISHED_OUTCOMES = (RunOutcome.INTERRUPTED, RunOutcome.ABORTED)


# A cell's text is stored up to this many characters: no cell can break SQLite or bloat the
# history. A longer one keeps its start, a marker with its full length and its SHA-256, so a
# change anywhere in it is still a new snapshot.
MAX_TEXT = 32 * 1024


def bound_text(text: str, limit: int = MAX_TEXT) -> str:
    """`text` itself, or its first `limit` characters with a marker of what was cut."""
    if len(text) <= limit:
        return text
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    return (
        f"{text[:limit]}… [текст обрезан для истории: всего {len(text)} символов, SHA-256 {digest}]"
    )


def _bounded(value: Any) -> Any:
    """Every string inside a JSON-able value, bounded."""
    if isinstance(value, str):
        return bound_text(value)
    if isinstance(value, dict):
        return {_bounded(k): _bounded(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_bounded(v) for v in value]
    return value


def _encode(value: CellValue) -> Any:
    if isinstance(value, str):
        return bound_text(value)
    if isinstance(value, datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, date):
        return {"$d": value.isoformat()}
    if isinstance(value, time):
        return {"$t": value.isoformat()}
    if isinstance(value, timedelta):
        return {"$td": value.total_seconds()}
    return value


def _decode(value: Any) -> CellValue:
    if isinstance(value, dict):
        if "$dt" in value:
            return datetime.fromisoformat(value["$dt"])
        if "$d" in value:
            return date.fromisoformat(value["$d"])
        if "$t" in value:
            return time.fromisoformat(value["$t"])
        if "$td" in value:
            return timedelta(seconds=value["$td"])
    return cast(CellValue, value)


def _problem_json(problem: Problem) -> dict[str, Any]:
    """A problem as the history keeps it: its JSON and its sheet row (older reads lack "row")."""
    return problem.to_json() | {"row": problem.row}


def problems_json(problems: list[Problem]) -> str:
    """A read's problems as the history keeps them."""
    return json.dumps(_bounded([_problem_json(p) for p in problems]), ensure_ascii=False)


def controls_json(controls: dict[int, str]) -> str:
    """A read's controls (sheet row -> control key) as the history keeps them."""
    return json.dumps(controls, ensure_ascii=False)


def sheet_to_json(sheet: SchoolSheet) -> str:
    """A canonical JSON of a located sheet: what the school had, cell by cell."""
    data = {
        "meta": _bounded(sheet.meta),
        "columns": sheet.columns,
        "header_row": sheet.header_row,
        "sheet_name": sheet.sheet_name,
        "rows": [[r.row, {k: _encode(v) for k, v in r.values.items()}] for r in sheet.rows],
        "passport": {k: _encode(v) for k, v in sheet.passport.items()},
        "passport_cells": sheet.passport_cells,
        "problems": _bounded([_problem_json(p) for p in sheet.problems]),
    }
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def sheet_from_json(text: str) -> SchoolSheet:
    """The sheet back from its JSON."""
    d = json.loads(text)
    # The warm run's hot path: no call per cell, only dates (stored as objects) need decoding.
    rows = tuple(
        SheetRow(row, {k: _decode(v) if type(v) is dict else v for k, v in values.items()})
        for row, values in d["rows"]
    )
    return SchoolSheet(
        meta=d["meta"],
        columns=d["columns"],
        header_row=d["header_row"],
        rows=rows,
        passport={k: _decode(v) for k, v in d["passport"].items()},
        passport_cells=d["passport_cells"],
        problems=tuple(
            Problem(
                p["code"],
                Severity(p["severity"]),
                p["sheet"],
                p["cell"],
                p["field"],
                p["message"],
                p.get("row"),
            )
            for p in d["problems"]
        ),
        sheet_name=d.get("sheet_name", ""),
    )


@dataclass(frozen=True)
class LastRead:
    """The newest successful read of a school: enough to skip an unchanged one."""

    run_id: int
    at: datetime
    fingerprint: str
    stamp: str
    modified: datetime | None
    sheet: SchoolSheet
    snapshot: str = ""  # the snapshot's hash: an unchanged school's next read reuses it


@dataclass(frozen=True)
class PastRead:
    """A school as an earlier run saw it: its snapshot with the problems and controls then."""

    run_id: int
    at: datetime
    sheet: SchoolSheet
    problems: list[dict[str, Any]]
    controls: dict[int, str]  # sheet row -> control key


@dataclass(frozen=True)
class SchoolState:
    """What the history says of one school now, for `status`."""

    school_id: str
    last_attempt: datetime | None = None  # the newest read, whatever its outcome
    last_outcome: str = ""
    last_message: str = ""
    last_read: datetime | None = None  # the newest read that produced (or kept) a snapshot
    modified: datetime | None = None  # when the school last changed its workbook
    problems: tuple[dict[str, Any], ...] = ()
    controls: dict[int, str] | None = None


@dataclass(frozen=True)
class SnapshotEntry:
    first_seen: datetime
    last_seen: datetime
    hash: str
    sheet: SchoolSheet


class HistoryError(Exception):
    """The history database cannot be opened; str() is Russian."""


class History:
    """The history database. Open it with `History.open(path)`; use as a context manager."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        # Snapshots decoded in this session, by hash: a run decodes each stored one only once
        # (the baseline and the last reads share most of them). Sheets are never mutated.
        self._decoded: dict[str, SchoolSheet] = {}
        self._batch_since: float | None = None  # when the open batch's transaction began

    @contextmanager
    def batch(self) -> Iterator[None]:
        """The writes inside share transactions: committed by `commit()`, by `commit_if_due()`
        once BATCH_SECONDS old, and when the block ends however it ends. A run records its
        schools in a batch (a commit per school cost more than the recording); it commits when
        due at each school, before it waits for a school's file and before it changes any
        file, so no other writer waits long and a run killed outright loses at most about a
        second of reads, which the next run makes again from the files. Each write is still
        all or nothing (a savepoint)."""
        self._batch_since = monotonic()
        try:
            yield
        finally:
            self._batch_since = None
            self.commit()

    def commit_if_due(self) -> None:
        """Commit the open batch if it is BATCH_SECONDS old."""
        if self._batch_since is not None and monotonic() - self._batch_since >= BATCH_SECONDS:
            self.commit()

    def commit(self) -> None:
        """Commit the writes of the open batch (nothing to do outside one)."""
        if self.conn.in_transaction:
            self.conn.commit()
        if self._batch_since is not None:
            self._batch_since = monotonic()

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """One method's writes, all or none: a transaction of their own, or inside a batch a
        savepoint in the batch's transaction."""
        if self._batch_since is None:
            with self.conn:
                yield
            return
        if not self.conn.in_transaction:
            self.conn.execute("BEGIN")
        self.conn.execute("SAVEPOINT one_write")
        try:
            yield
        except BaseException:
            try:
                self.conn.execute("ROLLBACK TO one_write")
                self.conn.execute("RELEASE one_write")
            except sqlite3.Error:
                pass  # SQLite rolled the whole transaction back itself (a full disk)
            raise
        self.conn.execute("RELEASE one_write")
        self.commit_if_due()

    def _sheet(self, digest: str, *, keep: bool = True) -> SchoolSheet:
        """A stored snapshot, decoded once: `keep` caches it for one later use (which drops it)."""
        found = self._decoded.pop(digest, None) if not keep else self._decoded.get(digest)
        if found is None:
            row = self.conn.execute("SELECT data FROM snapshots WHERE hash = ?", (digest,))
            found = sheet_from_json(row.fetchone()[0])
            if keep:
                self._decoded[digest] = found
        return found

    def keep_decoded(self, digest: str, sheet: SchoolSheet) -> None:
        """A snapshot decoded elsewhere (sync.prepare), for this school's turn in the run."""
        if digest:
            self._decoded[digest] = sheet

    def forget_decoded(self) -> None:
        """Drop the snapshots decoded for a later use that did not come (a school changed
        since the baseline): a run calls it after each school."""
        self._decoded.clear()

    @classmethod
    def open(cls, path: Path) -> History:
        """Open (or create) the database; HistoryError with a Russian message if it can't."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(path, timeout=30)
        except (OSError, sqlite3.Error) as e:
            raise HistoryError(f"Не удалось открыть файл истории {path}: {e}") from None
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            # WAL without an fsync per commit: the database stays consistent; a power cut may
            # lose the last reads, which the next run simply reads again.
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.executescript(SCHEMA)
        except sqlite3.DatabaseError as e:
            conn.close()
            raise HistoryError(
                f"Файл истории {path} повреждён или это не база истории ({e}); укажите в"
                " настройках [storage] history другой файл, а этот сохраните для разбора."
            ) from None
        return cls(conn)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # runs
    def start_run(self, started: datetime, today: date) -> int:
        with self._writing():
            cur = self.conn.execute(
                "INSERT INTO runs(started, today) VALUES (?, ?)",
                (started.isoformat(timespec="seconds"), today.isoformat()),
            )
        assert cur.lastrowid is not None
        return cur.lastrowid

    def finish_run(
        self,
        run_id: int,
        finished: datetime,
        outcome: str,
        counts: dict[str, int],
        message: str = "",
    ) -> None:
        with self._writing():
            self.conn.execute(
                "UPDATE runs SET finished=?, outcome=?, synced=?, unchanged=?, failed=?, locked=?,"
                " message=? WHERE id=?",
                (
                    finished.isoformat(timespec="seconds"),
                    outcome,
                    counts.get("synced", 0),
                    counts.get("unchanged", 0),
                    counts.get("failed", 0),
                    counts.get("locked", 0),
                    message,
                    run_id,
                ),
            )

    def runs(self, limit: int = 10) -> list[dict[str, Any]]:
        cur = self.conn.execute(
            "SELECT id, started, finished, today, outcome, synced, unchanged, failed, locked,"
            " message FROM runs ORDER BY id DESC LIMIT ?",
            (limit,),
        )
        names = [c[0] for c in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def abandon_running(self, at: datetime, message: str) -> list[int]:
        """Mark runs still 'running' as aborted: called by the lock holder, so none is alive."""
        with self._writing():
            ids = [r[0] for r in self.conn.execute("SELECT id FROM runs WHERE outcome='running'")]
            self.conn.execute(
                "UPDATE runs SET outcome='aborted', finished=?, message=? WHERE outcome='running'",
                (at.isoformat(timespec="seconds"), message),
            )
        return ids

    def attempted_since(self, moment: datetime, limit: int = 200) -> bool:
        """Whether a run started at or after `moment` and did not stop short of its work.

        An interrupted or aborted run does not count: the next due time runs again. A crashed one
        does: it is retried at the next scheduled time, not in a loop.
        """
        for run in self.runs(limit):
            started = datetime.fromisoformat(run["started"])
            if started.tzinfo is None:
                started = started.astimezone()
            if started < moment:
                break
            if run["outcome"] not in UNFINISHED_OUTCOMES:
                return True
        return False

    # reads and snapshots
    def record_read(
        self,
        run_id: int,
        school_id: str,
        at: datetime,
        outcome: str,
        *,
        sheet: SchoolSheet | None = None,
        fingerprint: str = "",
        stamp: str = "",
        modified: datetime | None = None,
        problems: list[Problem] | None = None,
        controls: dict[int, str] | None = None,
        message: str = "",
        snapshot: str | None = None,
        encoded: tuple[str, str] | None = None,
    ) -> str | None:
        """Store one school's outcome in this run; a new content gets a new snapshot.

        `snapshot`: the hash of a snapshot already stored for exactly this sheet (an unchanged
        school): the read refers to it without encoding and hashing the sheet again.
        `encoded`: `problems_json(problems)` and `controls_json(controls)`, made already (by
        the run's helper, sync.prepare).
        """
        digest = snapshot
        with self._writing():
            if sheet is not None and snapshot is None:
                data = sheet_to_json(sheet)
                digest = hashlib.sha256(data.encode()).hexdigest()
                self.conn.execute(
                    "INSERT OR IGNORE INTO snapshots(hash, school_id, data, first_seen)"
                    " VALUES (?, ?, ?, ?)",
                    (digest, school_id, data, at.isoformat(timespec="seconds")),
                )
            self.conn.execute(
                "INSERT OR REPLACE INTO reads(run_id, school_id, at, outcome, fingerprint, stamp,"
                " modified, snapshot, problems, controls, message)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    school_id,
                    at.isoformat(timespec="seconds"),
                    outcome,
                    fingerprint,
                    stamp,
                    modified.isoformat(timespec="seconds") if modified else None,
                    digest,
                    encoded[0] if encoded else problems_json(problems or []),
                    encoded[1] if encoded else controls_json(controls or {}),
                    bound_text(message),
                ),
            )
        return digest

    def last_read(self, school_id: str) -> LastRead | None:
        """The newest read that produced a snapshot (a failed read keeps the one before)."""
        row = self.conn.execute(
            f"SELECT run_id, at, fingerprint, stamp, modified, snapshot {_NEWEST_READ}",
            (school_id,),
        ).fetchone()
        if row is None:
            return None
        run_id, at, fingerprint, stamp, modified, digest = row
        return LastRead(
            run_id,
            datetime.fromisoformat(at),
            fingerprint,
            stamp,
            datetime.fromisoformat(modified) if modified else None,
            self._sheet(digest, keep=False),
            digest,
        )

    def last_stamps(self, school_ids: Iterable[str]) -> dict[str, str]:
        """Per school, the stamp of its newest read with a snapshot (what `last_read` returns).

        A lookup per school in the (school, run) index: the time does not grow with the number
        of runs kept (a query over all reads took 0.1 s after 150 nightly runs of 1000 schools).
        """
        found = {}
        query = f"SELECT stamp {_NEWEST_READ}"
        for school_id in school_ids:
            row = self.conn.execute(query, (school_id,)).fetchone()
            if row is not None:
                found[school_id] = row[0]
        return found

    def update_stamp(self, run_id: int, school_id: str, stamp: str, fingerprint: str) -> None:
        """After our own write-back the file changed: remember its new stamp and content hash."""
        with self._writing():
            self.conn.execute(
                "UPDATE reads SET stamp=?, fingerprint=? WHERE run_id=? AND school_id=?",
                (stamp, fingerprint, run_id, school_id),
            )

    def snapshots(self, school_id: str) -> Iterator[SnapshotEntry]:
        """Every distinct content a school had, oldest first, with when it was last seen."""
        rows = self.conn.execute(
            "SELECT s.hash, s.first_seen, MAX(r.at), s.data FROM snapshots s"
            " JOIN reads r ON r.snapshot = s.hash WHERE s.school_id = ?"
            " GROUP BY s.hash ORDER BY s.first_seen, MIN(r.run_id)",
            (school_id,),
        ).fetchall()
        for digest, first, last, data in rows:
            yield SnapshotEntry(
                datetime.fromisoformat(first),
                datetime.fromisoformat(last),
                digest,
                sheet_from_json(data),
            )

    def baseline(
        self, before_run_id: int, before_day: date | None = None
    ) -> tuple[datetime | None, dict[str, PastRead]]:
        """What an earlier master the coordinator got was built from, for the «Изменения» sheet.

        Returns the start of the newest complete ('ok') run before `before_run_id` (with
        `before_day`: the newest whose «today» is an earlier day, i.e. the state at the end of
        the previous day) and, per school, its newest snapshot read at or before that run.
        (None, {}) when there is none.
        """
        base = self.baseline_run(before_run_id, before_day)
        if base is None:
            return None, {}
        base_id, started = base
        rows = self.conn.execute(
            "SELECT r.school_id, r.run_id, r.at, r.problems, r.controls, r.snapshot FROM"
            " (SELECT school_id, MAX(run_id) AS run_id FROM reads"
            "  WHERE snapshot IS NOT NULL AND run_id <= ? GROUP BY school_id) AS newest"
            " JOIN reads r ON r.school_id = newest.school_id AND r.run_id = newest.run_id",
            (base_id,),
        ).fetchall()
        return started, {school_id: self._past_read(*rest) for school_id, *rest in rows}

    def baseline_run(
        self, before_run_id: int, before_day: date | None = None
    ) -> tuple[int, datetime] | None:
        """The run `baseline` compares with (its id and start), without the schools' states."""
        day = before_day.isoformat() if before_day is not None else "9999-12-31"
        row = self.conn.execute(
            "SELECT id, started FROM runs WHERE id < ? AND outcome = 'ok' AND today < ?"
            " ORDER BY id DESC LIMIT 1",
            (before_run_id, day),
        ).fetchone()
        return (row[0], datetime.fromisoformat(row[1])) if row is not None else None

    def past_read(self, school_id: str, base_run_id: int) -> PastRead | None:
        """One school's newest snapshot read at or before run `base_run_id` (what `baseline`
        gives for it), asked for a school at a time so a run need not hold every school's."""
        row = self.conn.execute(
            "SELECT run_id, at, problems, controls, snapshot FROM reads WHERE school_id = ?"
            " AND snapshot IS NOT NULL AND run_id <= ? ORDER BY run_id DESC LIMIT 1",
            (school_id, base_run_id),
        ).fetchone()
        return self._past_read(*row) if row is not None else None

    def _past_read(
        self, run_id: int, at: str, problems: str, controls: str, digest: str
    ) -> PastRead:
        """A read's row as PastRead; its snapshot kept decoded for the school's last_read."""
        return PastRead(
            run_id,
            datetime.fromisoformat(at),
            self._sheet(digest),
            json.loads(problems),
            {int(k): v for k, v in json.loads(controls).items()},
        )

    def past_schools(self, base_run_id: int) -> list[str]:
        """The schools with a snapshot read at or before run `base_run_id`."""
        return [
            sid
            for (sid,) in self.conn.execute(
                "SELECT DISTINCT school_id FROM reads WHERE snapshot IS NOT NULL AND run_id <= ?",
                (base_run_id,),
            )
        ]

    def school_states(self) -> dict[str, SchoolState]:
        """Per school: its newest read, newest successful read and last change, in 3 queries."""

        def newest(condition: str) -> str:
            return (
                "JOIN (SELECT school_id, MAX(run_id) AS run_id FROM reads"
                f" {condition} GROUP BY school_id) AS n"
                " ON r.school_id = n.school_id AND r.run_id = n.run_id"
            )

        latest = f"SELECT r.school_id, r.at, r.outcome, r.message FROM reads r {newest('')}"
        good = (
            "SELECT r.school_id, r.at, r.problems, r.controls FROM reads r"
            f" {newest('WHERE snapshot IS NOT NULL')}"
        )
        changed = (
            f"SELECT r.school_id, r.modified FROM reads r {newest('WHERE modified IS NOT NULL')}"
        )
        parts: dict[str, dict[str, Any]] = {}
        for sid, at, outcome, message in self.conn.execute(latest):
            parts.setdefault(sid, {}).update(
                last_attempt=datetime.fromisoformat(at), last_outcome=outcome, last_message=message
            )
        for sid, at, problems, controls in self.conn.execute(good):
            parts.setdefault(sid, {}).update(
                last_read=datetime.fromisoformat(at),
                problems=tuple(json.loads(problems)),
                controls={int(k): v for k, v in json.loads(controls).items()},
            )
        for sid, modified in self.conn.execute(changed):
            parts.setdefault(sid, {})["modified"] = datetime.fromisoformat(modified)
        return {sid: SchoolState(sid, **fields) for sid, fields in parts.items()}

    # reminders
    def last_reminder(self, recipient: str, mode: str) -> date | None:
        """The local date the newest reminder to this recipient was sent in this mode."""
        row = self.conn.execute(
            "SELECT MAX(today) FROM reminders WHERE recipient = ? AND mode = ?", (recipient, mode)
        ).fetchone()
        return date.fromisoformat(row[0]) if row and row[0] else None

    def record_reminder(
        self,
        recipient: str,
        mode: str,
        today: date,
        sent_at: datetime,
        addresses: list[str],
        items: int,
        message_id: str = "",
        run_id: int | None = None,
    ) -> None:
        """Remember a sent digest: it survives restarts, so the interval holds across them."""
        with self._writing():
            self.conn.execute(
                "INSERT INTO reminders(recipient, mode, today, sent_at, run_id, addresses, items,"
                " message_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    recipient,
                    mode,
                    today.isoformat(),
                    sent_at.isoformat(timespec="seconds"),
                    run_id,
                    json.dumps(addresses, ensure_ascii=False),
                    items,
                    message_id,
                ),
            )

    def reminders_sent(self, mode: str) -> dict[str, date]:
        """Per recipient key, the newest local date it got a reminder in this mode."""
        rows = self.conn.execute(
            "SELECT recipient, MAX(today) FROM reminders WHERE mode = ? GROUP BY recipient",
            (mode,),
        )
        return {r: date.fromisoformat(d) for r, d in rows}

    # paints
    def last_paint(self, school_id: str) -> tuple[str, str] | None:
        row = self.conn.execute(
            "SELECT digest, stamp FROM paints WHERE school_id = ?", (school_id,)
        ).fetchone()
        return (row[0], row[1]) if row else None

    def record_paint(self, school_id: str, digest: str, stamp: str, at: datetime) -> None:
        with self._writing():
            self.conn.execute(
                "INSERT OR REPLACE INTO paints(school_id, digest, stamp, at) VALUES (?, ?, ?, ?)",
                (school_id, digest, stamp, at.isoformat(timespec="seconds")),
            )

    # review marks: the trail is appended to, never overwritten
    def record_marks(self, marks: list[RecordedMark]) -> None:
        """Append new marks to the review trail."""
        if not marks:
            return
        with self._writing():
            self.conn.executemany(
                "INSERT INTO review_marks(school_id, section, no, mark, comment, by, at,"
                " row_digest, source, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        m.key.school_id,
                        m.key.section,
                        m.key.no,
                        m.mark.value if m.mark is not None else None,
                        bound_text(m.comment),
                        bound_text(m.by, 200),
                        m.at.isoformat(timespec="seconds"),
                        m.row_digest,
                        m.source,
                        m.run_id,
                    )
                    for m in marks
                ],
            )

    def _marks(self, where: str, args: tuple[Any, ...]) -> list[RecordedMark]:
        rows = self.conn.execute(
            "SELECT school_id, section, no, mark, comment, by, at, row_digest, source, run_id"
            f" FROM review_marks {where}",
            args,
        ).fetchall()
        out = []
        for school_id, section, no, mark, comment, by, at, digest, source, run_id in rows:
            try:
                kind: Mark | None = Mark(mark) if mark is not None else None
            except ValueError:  # a newer version's mark: shown as no mark
                kind = None
            out.append(
                RecordedMark(
                    RowKey(school_id, section, no),
                    kind,
                    comment,
                    by,
                    datetime.fromisoformat(at),
                    digest,
                    source,
                    run_id,
                )
            )
        return out

    def last_marks(self, until_run: int | None = None) -> dict[RowKey, RecordedMark]:
        """Per row, its newest recorded mark (one query for the whole municipality); with
        `until_run`, the newest recorded by that run or before (the справка's «as of»)."""
        cut = "WHERE run_id <= ?" if until_run is not None else ""
        marks = self._marks(
            f"WHERE id IN (SELECT MAX(id) FROM review_marks {cut} GROUP BY school_id, section, no)",
            (until_run,) if until_run is not None else (),
        )
        return {m.key: m for m in marks}

    def review_trail(self, school_id: str) -> list[RecordedMark]:
        """Every mark recorded for a school's rows, oldest first."""
        return self._marks("WHERE school_id = ? ORDER BY id", (school_id,))

    def review_cells(self) -> dict[RowKey, str]:
        """What each school's «Отметка МОУО» cell shows, as far as the sync knows."""
        rows = self.conn.execute("SELECT school_id, section, no, text FROM review_cells")
        return {RowKey(s, sec, no): text for s, sec, no, text in rows}

    def set_review_cells(self, school_id: str, cells: dict[RowKey, str]) -> None:
        """Remember what a school's «Отметка МОУО» cells show now (read or written by us)."""
        with self._writing():
            self.conn.execute("DELETE FROM review_cells WHERE school_id = ?", (school_id,))
            self.conn.executemany(
                "INSERT OR REPLACE INTO review_cells(school_id, section, no, text)"
                " VALUES (?, ?, ?, ?)",
                [(k.school_id, k.section, k.no, bound_text(t, 200)) for k, t in cells.items()],
            )
