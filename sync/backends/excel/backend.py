"""The storage backend a sync started from the master open in Excel uses: the master goes into
the open workbook (through `sync.backends.excel.book`), everything else to the configured one."""

from __future__ import annotations

import errno
import getpass
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from sync.backends.base import (
    Backend,
    MasterReadError,
    MasterWriteError,
    SourceError,
    Survey,
    WriteResult,
)
from sync.backends.excel.book import OpenBook
from sync.model import Plan, RawWorkbook, School
from sync.oserrors import describe
from sync.paint import Paint
from sync.review import MasterMarks
from sync.spec import TemplateSpec

if TYPE_CHECKING:
    from sync.consolidate import Master


class OpenMasterBackend:
    """A storage backend whose master goes into the master open in Excel, not onto disk.

    Excel on Windows keeps an open workbook's file locked, so a sync started from the open master
    refreshes it through xlwings and saves it; schools are read and painted by `inner` as always.
    """

    def __init__(self, inner: Backend, book: OpenBook) -> None:
        self.inner = inner
        self.book = book
        self.master_is_workbook = True
        self.warnings: list[str] = []  # the last refresh's (protection not put back)

    def survey(self, schools: Sequence[School]) -> Survey:
        return self.inner.survey(schools)

    def read(self, school: School) -> RawWorkbook:
        return self.inner.read(school)

    def read_many(
        self, schools: Sequence[School]
    ) -> Iterator[tuple[School, RawWorkbook | SourceError]]:
        return self.inner.read_many(schools)

    def write_back(self, school: School, paint: Paint, fingerprint: str) -> WriteResult:
        return self.inner.write_back(school, paint, fingerprint)

    def location(self, school: School) -> str:
        return self.inner.location(school)

    def create(self, school: School, spec: TemplateSpec, plan: Plan, built_at: datetime) -> bool:
        return self.inner.create(school, spec, plan, built_at)

    def read_marks(self) -> MasterMarks:
        """The marks in the master open in Excel, as the coordinator sees them now (typed and
        not saved yet included: the refresh then writes them back with the new master)."""
        try:
            marks, problems = self.book.read_marks()
        except Exception as e:  # COM, AppleScript or our own: the run keeps the master as it is
            raise MasterReadError(
                f"Отметки МОУО в открытом своде «{self.book.name}» не прочитаны ({e}): свод не"
                " обновлён, чтобы отметки не потерялись."
            ) from e
        return MasterMarks(
            tuple(marks),
            by=_who(),
            source=f"открытый свод «{self.book.name}»",
            problems=tuple(problems),
        )

    def write_master(self, master: Master) -> str:
        try:
            self.warnings = self.book.write_master(master)
        except Exception as e:  # COM, AppleScript or our own: the run records it, not a crash
            # Worded as before (an OSError's EIO reason); the cause itself goes to the log.
            reason = OSError(errno.EIO, f"открытый свод не обновлён: {e}", self.book.name)
            raise MasterWriteError(describe(reason)) from e
        return self.book.book.fullname


def _who() -> str:
    """The person at the computer (the coordinator who pressed the button), "" if unknown."""
    try:
        return getpass.getuser()
    except (OSError, KeyError, ImportError):
        return ""
