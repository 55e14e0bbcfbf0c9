"""What the Google backend remembers between runs: the school registry and a state cache.

- The registry (`<config>.google.json` beside the configuration) maps each school id to its
  spreadsheet id, and records the master's. It is the one thing that must not be lost: it is
  written atomically (a temporary file, then a rename) under a lock, after every change.
  Losing it anyway costs nothing but requests: `distribute` recognises every spreadsheet in the
  folder by its developer metadata or its hidden service sheet and records it again.
- The state cache (SQLite beside the history) keeps, per school, what its spreadsheet showed at
  the last read or write: sheet ids, the Контроль values and colours, the notes. With it a school
  that did not change since is painted without being read. Deleting it is harmless: the next
  write of each school reads it once first.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sync.fileio import write_atomically
from sync.paint import Shown

try:  # POSIX: serialise writers of the registry (distribute and a nightly run at once)
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

REGISTRY_VERSION = 1
# Registry statuses of a school spreadsheet: created but empty, formatted, shared (ready).
NEW, FORMATTED, READY = "new", "formatted", "ready"


@dataclass
class RegistryEntry:
    """One school's spreadsheet in the registry, and how far its creation got."""

    spreadsheet_id: str
    status: str = READY
    name: str = ""
    created: str = ""


class Registry:
    """School id -> spreadsheet id (and the master's), in a JSON file written atomically."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.schools: dict[str, RegistryEntry] = {}
        self.master = ""
        self.folder = ""  # the folder the program made in «Мой диск» (no folder_id set)
        self._load()

    def _load(self) -> None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError) as e:
            raise RegistryError(
                f"Реестр таблиц Google {self.path} не читается ({type(e).__name__}): исправьте"
                " или удалите его — distribute восстановит его по таблицам в папке."
            ) from None
        self.master = str(data.get("master", ""))
        self.folder = str(data.get("folder", ""))
        self.schools = {
            str(k): RegistryEntry(
                str(v.get("spreadsheet_id", "")),
                str(v.get("status", READY)),
                str(v.get("name", "")),
                str(v.get("created", "")),
            )
            for k, v in data.get("schools", {}).items()
            if v.get("spreadsheet_id")
        }

    def spreadsheet_id(self, school_id: str) -> str:
        """The school's registered spreadsheet id, "" when it has none."""
        entry = self.schools.get(school_id)
        return entry.spreadsheet_id if entry else ""

    def record(
        self, school_id: str, spreadsheet_id: str, *, status: str = READY, name: str = ""
    ) -> None:
        """Remember (or update) a school's spreadsheet, on disk at once."""
        with self._locked() as current:
            old = current.schools.get(school_id)
            created = old.created if old and old.spreadsheet_id == spreadsheet_id else ""
            entry = RegistryEntry(
                spreadsheet_id,
                status,
                name or (old.name if old else ""),
                created or datetime.now().astimezone().isoformat(timespec="seconds"),
            )
            current.schools[school_id] = entry
            self.schools, self.master, self.folder = current.schools, current.master, current.folder

    def record_master(self, spreadsheet_id: str) -> None:
        """Remember the master spreadsheet, on disk at once."""
        with self._locked() as current:
            current.master = spreadsheet_id
            self.schools, self.master, self.folder = current.schools, current.master, current.folder

    def record_folder(self, folder_id: str) -> None:
        """Remember the folder the program made, on disk at once."""
        with self._locked() as current:
            current.folder = folder_id
            self.schools, self.master, self.folder = current.schools, current.master, current.folder

    def owner_of(self, spreadsheet_id: str) -> str | None:
        """The school id a spreadsheet is registered for."""
        for school_id, entry in self.schools.items():
            if entry.spreadsheet_id == spreadsheet_id:
                return school_id
        return None

    @contextlib.contextmanager
    def _locked(self) -> Iterator[Registry]:
        """Re-read under a lock, let the caller change it, write it back atomically."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.path.with_name(self.path.name + ".lock")
        with open(lock_path, "a+") as lock:
            if fcntl is not None:
                fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                current = Registry(self.path)
                yield current
                current._save()
            finally:
                if fcntl is not None:
                    fcntl.flock(lock, fcntl.LOCK_UN)

    def _save(self) -> None:
        data = {
            "version": REGISTRY_VERSION,
            "comment": "Таблицы Google школ: id школы -> id таблицы. Ведёт roadmap-sync.",
            "master": self.master,
            **({"folder": self.folder} if self.folder else {}),
            "schools": {
                k: {
                    "spreadsheet_id": v.spreadsheet_id,
                    "status": v.status,
                    "name": v.name,
                    "created": v.created,
                }
                for k, v in sorted(self.schools.items())
            },
        }
        text = json.dumps(data, ensure_ascii=False, indent=2) + "\n"
        write_atomically(self.path, lambda f: f.write(text.encode("utf-8")))


class RegistryError(Exception):
    """The registry file exists but cannot be read; the message is Russian."""


@dataclass
class SchoolState:
    """What a school spreadsheet showed at our last read or write of it."""

    spreadsheet_id: str
    fingerprint: str  # content hash of its values then
    sheet_ids: dict[str, int]  # title -> sheet id, in sheet order
    main_title: str
    control_col: int | None
    header_row: int
    masked: str  # content hash without the Контроль cells: what the school typed
    shown: Shown
    modified: str = ""  # ISO time of the last change someone other than us made
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(
            {
                "spreadsheet_id": self.spreadsheet_id,
                "fingerprint": self.fingerprint,
                "sheet_ids": list(self.sheet_ids.items()),
                "main_title": self.main_title,
                "control_col": self.control_col,
                "header_row": self.header_row,
                "masked": self.masked,
                "controls": [[r, v, f] for r, (v, f) in sorted(self.shown.controls.items())],
                "notes": [[t, ref, text] for (t, ref), text in sorted(self.shown.notes.items())],
                "review_col": self.shown.review_col,
                "reviews": [[r, v] for r, v in sorted(self.shown.reviews.items())],
                "modified": self.modified,
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, text: str) -> SchoolState:
        d = json.loads(text)
        return cls(
            spreadsheet_id=d["spreadsheet_id"],
            fingerprint=d["fingerprint"],
            sheet_ids={str(t): int(i) for t, i in d["sheet_ids"]},
            main_title=d["main_title"],
            control_col=d["control_col"],
            header_row=int(d["header_row"]),
            masked=d["masked"],
            shown=Shown(
                d["main_title"],
                d["control_col"],
                {int(r): (str(v), f) for r, v, f in d["controls"]},
                {(str(t), str(ref)): str(text) for t, ref, text in d["notes"]},
                d.get("review_col"),
                {int(r): str(v) for r, v in d.get("reviews", [])},
            ),
            modified=d.get("modified", ""),
        )


class StateCache:
    """Per-school SchoolState in SQLite; every failure to use it only costs a read."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._conn: sqlite3.Connection | None = None

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
            conn.execute(
                "CREATE TABLE IF NOT EXISTS school_state ("
                " school_id TEXT PRIMARY KEY, spreadsheet_id TEXT NOT NULL,"
                " data TEXT NOT NULL, updated TEXT NOT NULL)"
            )
            conn.commit()
            self._conn = conn
        return self._conn

    def get(self, school_id: str, spreadsheet_id: str) -> SchoolState | None:
        """The school's state for this spreadsheet; None when unknown or unreadable."""
        try:
            row = (
                self._db()
                .execute(
                    "SELECT data FROM school_state WHERE school_id = ? AND spreadsheet_id = ?",
                    (school_id, spreadsheet_id),
                )
                .fetchone()
            )
            return SchoolState.from_json(row[0]) if row else None
        except (sqlite3.Error, ValueError, KeyError, TypeError):
            return None

    def put(self, school_id: str, state: SchoolState) -> None:
        """Store the school's state (a failure only costs a read next time)."""
        try:
            with self._db() as conn:
                conn.execute(
                    "INSERT OR REPLACE INTO school_state(school_id, spreadsheet_id, data, updated)"
                    " VALUES (?, ?, ?, ?)",
                    (
                        school_id,
                        state.spreadsheet_id,
                        state.to_json(),
                        datetime.now().astimezone().isoformat(timespec="seconds"),
                    ),
                )
        except sqlite3.Error:
            pass  # a cache: the next write of this school reads it first

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
