"""An in-memory storage backend, as httpx has MockTransport: the whole protocol, no files.

Tests of the pipeline (and anyone trying the core) hand it the schools' workbooks as values and
look at what a run painted and consolidated. It behaves as a storage does where the pipeline
can tell: a missing source, a source open for editing, one changed since it was read, a master
that cannot be written.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING

from sync.backends.base import (
    MasterReadError,
    MasterWriteError,
    SourceError,
    SourceState,
    Survey,
    WriteResult,
    read_each,
)
from sync.model import CellValue, Plan, RawWorkbook, School
from sync.paint import Paint
from sync.review import MasterMarks, marks_from_grid
from sync.spec import TemplateSpec
from sync.states import WriteStatus

if TYPE_CHECKING:
    from sync.consolidate import Master

MISSING_MESSAGE = "файл школы не найден"
LOCKED_MESSAGE = "книга открыта для редактирования — контроль не записан"
CHANGED_MESSAGE = "книга изменилась во время синхронизации — контроль будет записан в следующий раз"


def fingerprint_of(raw: RawWorkbook) -> str:
    """A content hash of a workbook's values (what the folder's fingerprint is to its bytes)."""
    text = json.dumps(raw.sheets, ensure_ascii=False, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class MemoryBackend:
    """Every school's workbook as values in a dict; the paints and masters written, kept."""

    books: dict[str, RawWorkbook] = field(default_factory=dict)  # school id -> its workbook
    open_for_editing: set[str] = field(default_factory=set)  # school ids: write_back refuses
    master_error: str = ""  # when set, write_master refuses with this Russian reason
    master_read_error: str = ""  # when set, read_marks refuses (the saved master is unreadable)
    master_saved_by: str = ""  # who saved the master last (what a file's properties tell)
    master_saved_at: datetime | None = None
    paints: dict[str, list[Paint]] = field(default_factory=dict)  # school id -> paints written
    masters: list[Master] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    reads: list[str] = field(default_factory=list)  # school ids, in the order they were read
    _versions: dict[str, int] = field(default_factory=dict)

    master_is_workbook = False

    def put(self, school_id: str, raw: RawWorkbook) -> None:
        """The school saves its workbook: a new version, with its fingerprint."""
        fingerprint = raw.fingerprint or fingerprint_of(raw)
        self.books[school_id] = RawWorkbook(raw.sheets, raw.modified, fingerprint, raw.truncated)
        self._versions[school_id] = self._versions.get(school_id, 0) + 1

    def location(self, school: School) -> str:
        return f"memory:{school.id}"

    @staticmethod
    def where_to_open(school: School) -> str:
        return f"memory:{school.id}"

    def survey(self, schools: Sequence[School]) -> Survey:
        return Survey(
            {
                s.id: SourceState(
                    s.id in self.books,
                    stamp=f"v{self._versions.get(s.id, 0)}" if s.id in self.books else "",
                    modified=self.books[s.id].modified if s.id in self.books else None,
                    is_open=s.id in self.open_for_editing,
                )
                for s in schools
            }
        )

    def read(self, school: School) -> RawWorkbook:
        self.reads.append(school.id)
        raw = self.books.get(school.id)
        if raw is None:
            raise SourceError(MISSING_MESSAGE)
        return raw

    def read_many(
        self, schools: Sequence[School]
    ) -> Iterator[tuple[School, RawWorkbook | SourceError]]:
        return read_each(self.read, schools)

    def write_back(self, school: School, paint: Paint, fingerprint: str) -> WriteResult:
        raw = self.books.get(school.id)
        if raw is None:
            return WriteResult(
                WriteStatus.FAILED, message=f"{MISSING_MESSAGE} — контроль не записан"
            )
        if school.id in self.open_for_editing:
            return WriteResult(WriteStatus.LOCKED, message=LOCKED_MESSAGE)
        if raw.fingerprint != fingerprint:
            return WriteResult(WriteStatus.CHANGED, message=CHANGED_MESSAGE)
        # The values stay the school's; the paint is kept beside them, as a new version.
        self.paints.setdefault(school.id, []).append(paint)
        self._versions[school.id] = self._versions.get(school.id, 0) + 1
        return WriteResult(
            WriteStatus.WRITTEN, stamp=f"v{self._versions[school.id]}", fingerprint=fingerprint
        )

    def type_into_master(self, school: str, no: str, header: str, value: CellValue) -> None:
        """The coordinator types into the last master's «Мероприятия»: the line of the school
        (its name as the master shows it) and №, the column by its header."""
        from sync.consolidate import ROWS_SHEET

        sheet = self.masters[-1].sheet(ROWS_SHEET)
        col, no_col = sheet.headers.index(header), sheet.headers.index("№")
        for line in sheet.rows:
            if line[0] == school and str(line[no_col]) == no:
                line[col] = value
                return
        raise KeyError((school, no))

    def read_marks(self) -> MasterMarks:
        """The marks in the last master written (its «Мероприятия» as values, as a file has)."""
        from sync.consolidate import ROWS_SHEET

        if self.master_read_error:
            raise MasterReadError(self.master_read_error)
        if not self.masters:
            return MasterMarks()
        sheet = self.masters[-1].sheet(ROWS_SHEET)
        grid: list[list[CellValue]] = [list(sheet.headers), *(list(r) for r in sheet.rows)]
        marks, problems = marks_from_grid(grid, ROWS_SHEET)
        return MasterMarks(
            tuple(marks), self.master_saved_by, self.master_saved_at, "свод", tuple(problems)
        )

    def write_master(self, master: Master) -> str:
        if self.master_error:
            raise MasterWriteError(self.master_error)
        # Kept as lists: a run's spooled sheets are read from a file the run deletes after.
        sheets = [
            replace(s, rows=[list(r) for r in s.rows], fills=dict(s.fills)) for s in master.sheets
        ]
        self.masters.append(replace(master, sheets=sheets))
        return "memory:master"

    def create(self, school: School, spec: TemplateSpec, plan: Plan, built_at: datetime) -> bool:
        """Record the school as created; its workbook comes with `put` (no builder here)."""
        if school.id in self.books or school.id in self.created:
            return False
        self.created.append(school.id)
        return True
