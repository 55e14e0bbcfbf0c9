"""When each справка was made, in the history database: the next one says what changed since.

The table lives beside the sync's own (sync.history) in the same SQLite file; it is created here
so that the history module stays the sync's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sync.history import History

SCHEMA = """
CREATE TABLE IF NOT EXISTS spravki (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    made_at TEXT NOT NULL,
    as_of TEXT NOT NULL,
    due TEXT,
    path TEXT NOT NULL DEFAULT '',
    run_id INTEGER,
    numbers TEXT NOT NULL DEFAULT '{}',
    mailed TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS spravki_as_of ON spravki(as_of);
"""
# 1: a final справка (for a reporting date, or `report --final`): later ones compare with it.
# 0: a draft, kept for the record only. Older databases had no drafts: their rows are final.
FINAL_COLUMN = "final INTEGER NOT NULL DEFAULT 1"


@dataclass(frozen=True)
class PastSpravka:
    """A справка made before: when, as of which day, and its numbers (see Spravka.numbers)."""

    id: int
    made_at: datetime
    as_of: date
    due: date | None
    path: str
    numbers: dict[str, Any]
    mailed: str
    final: bool = True


def _ensure(history: History) -> None:
    with history.conn:
        history.conn.executescript(SCHEMA)
        have = {r[1] for r in history.conn.execute("PRAGMA table_info(spravki)")}
        if "final" not in have:
            history.conn.execute(f"ALTER TABLE spravki ADD COLUMN {FINAL_COLUMN}")


def record_spravka(
    history: History,
    made_at: datetime,
    as_of: date,
    path: str,
    numbers: dict[str, Any],
    run_id: int | None = None,
    due: date | None = None,
    final: bool = True,
) -> int:
    """Remember a written справка; returns its id. Only final ones are compared with later."""
    _ensure(history)
    with history.conn:
        cur = history.conn.execute(
            "INSERT INTO spravki(made_at, as_of, due, path, run_id, numbers, final)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                made_at.isoformat(timespec="seconds"),
                as_of.isoformat(),
                due.isoformat() if due else None,
                path,
                run_id,
                json.dumps(numbers, ensure_ascii=False),
                int(final),
            ),
        )
    assert cur.lastrowid is not None
    return cur.lastrowid


def mark_mailed(history: History, spravka_id: int, text: str) -> None:
    _ensure(history)
    with history.conn:
        history.conn.execute("UPDATE spravki SET mailed=? WHERE id=?", (text, spravka_id))


def _past(row: tuple[Any, ...]) -> PastSpravka:
    sid, made_at, as_of, due, path, numbers, mailed, final = row
    return PastSpravka(
        sid,
        datetime.fromisoformat(made_at),
        date.fromisoformat(as_of),
        date.fromisoformat(due) if due else None,
        path,
        json.loads(numbers),
        mailed,
        bool(final),
    )


_COLUMNS = "id, made_at, as_of, due, path, numbers, mailed, final"


def previous_spravka(history: History, as_of: date) -> PastSpravka | None:
    """The newest final справка made as of a day before `as_of` (the one this one compares
    with); drafts are never a baseline."""
    _ensure(history)
    row = history.conn.execute(
        f"SELECT {_COLUMNS} FROM spravki WHERE as_of < ? AND final = 1"
        " ORDER BY as_of DESC, id DESC LIMIT 1",
        (as_of.isoformat(),),
    ).fetchone()
    return _past(row) if row else None


def spravka_for_due(history: History, due: date) -> PastSpravka | None:
    """The справка the service made for this reporting date, if any."""
    _ensure(history)
    row = history.conn.execute(
        f"SELECT {_COLUMNS} FROM spravki WHERE due = ? ORDER BY id DESC LIMIT 1",
        (due.isoformat(),),
    ).fetchone()
    return _past(row) if row else None


def all_spravki(history: History) -> list[PastSpravka]:
    _ensure(history)
    rows = history.conn.execute(f"SELECT {_COLUMNS} FROM spravki ORDER BY id").fetchall()
    return [_past(r) for r in rows]
