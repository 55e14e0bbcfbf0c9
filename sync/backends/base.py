"""The storage backend protocol: the narrow surface the core needs from any storage."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from sync.model import Plan, RawWorkbook, School
from sync.paint import Paint
from sync.spec import TemplateSpec
from sync.states import WriteStatus

if TYPE_CHECKING:
    from sync.consolidate import Master


class SourceError(Exception):
    """A school's source cannot be read this run; str() is Russian. The run goes on."""

    transient = False  # True when trying again later can help (a file locked by another program)


class TransientSourceError(SourceError):
    transient = True


@dataclass(frozen=True)
class SourceState:
    """What one cheap listing says of a school's source, before reading it."""

    exists: bool
    stamp: str = ""  # changes whenever the source may have changed (mtime and size, or version)
    modified: datetime | None = None
    is_open: bool = False  # someone has it open for editing right now


@dataclass(frozen=True)
class WriteResult:
    status: WriteStatus
    stamp: str = ""  # the source's stamp after writing
    fingerprint: str = ""  # content hash after writing, for the next write's check
    message: str = ""  # Russian, when not written (or, when partial, what was left out)
    partial: bool = False  # written, but some controls or notes could not be (merged cells…)


class Backend(Protocol):
    """One storage: a folder of workbooks today, Google Sheets next."""

    def survey(self, schools: Sequence[School]) -> dict[str, SourceState]:
        """One listing of every school's source."""
        ...

    def read(self, school: School) -> RawWorkbook:
        """Every sheet of the school's source, as values. Raises SourceError."""
        ...

    def read_many(
        self, schools: Sequence[School]
    ) -> Iterator[tuple[School, RawWorkbook | SourceError]]:
        """`read` for each school, in order, each result or its SourceError (parallel if it can)."""
        ...

    def write_back(self, school: School, paint: Paint, fingerprint: str) -> WriteResult:
        """Show the paint in the school's source, unless it changed since it was read."""
        ...

    def write_master(self, master: Master) -> str:
        """Write the consolidated master; returns where it went."""
        ...

    def create(
        self, school: School, spec: TemplateSpec, plan: Plan, built_at: datetime, password: str
    ) -> bool:
        """Create a school's workbook; False when one already exists (it is never overwritten)."""
        ...
