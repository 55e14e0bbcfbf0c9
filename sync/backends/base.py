"""The storage backend protocol: the narrow surface the core needs from any storage.

Everything the pipeline, the command line, the web intake and the add-in rely on is here:
a backend is complete when constructed (storage-specific options go to its constructor), a run
calls `survey` first, `read_marks` (the master's review marks), then `read`/`write_back` per
school and `write_master` once, and every
failure it reports is one of the neutral errors below, its text in Russian.

Per-run state is explicit: `survey` starts a run and returns it as a `Survey`, each school's
`SourceState` (a read-only mapping by school id) together with the backend's own state for
that run (`Survey.run`: for Google, the folder's listing and the reads awaiting their write
back; None for a backend that keeps none). The backend's calls after a survey, until the next
one, belong to that run and use that state. A call without a survey (`cli validate`, the
add-in, the web intake) runs against a fresh state of its own, as a one-school run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from sync.model import Plan, RawWorkbook, School
from sync.paint import Paint
from sync.review import MasterMarks
from sync.spec import TemplateSpec
from sync.states import WriteStatus

if TYPE_CHECKING:
    from sync.consolidate import Master


class SourceError(Exception):
    """A school's source cannot be read this run; str() is Russian. The run goes on."""

    transient = False  # True when trying again later can help (a file locked by another program)


class TransientSourceError(SourceError):
    transient = True


class MasterReadError(Exception):
    """The saved master exists but its review marks cannot be read; str() is Russian. The run
    does not rewrite the master then (the coordinator's marks in it would be lost)."""


class MasterWriteError(Exception):
    """The master could not be written this run; str() is Russian. The schools' results stand,
    and the next run writes the master again."""


def read_each(
    read: Callable[[School], RawWorkbook], schools: Sequence[School]
) -> Iterator[tuple[School, RawWorkbook | SourceError]]:
    """`read_many` one school at a time: each school with its workbook or its SourceError."""
    for school in schools:
        try:
            yield school, read(school)
        except SourceError as e:
            yield school, e


@dataclass(frozen=True)
class SourceState:
    """What one cheap listing says of a school's source, before reading it."""

    exists: bool
    stamp: str = ""  # changes whenever the source may have changed (mtime and size, or version)
    modified: datetime | None = None
    is_open: bool = False  # someone has it open for editing right now


class Survey(Mapping[str, SourceState]):
    """What `Backend.survey` returns: a run started. Each surveyed school's `SourceState` by
    school id (so `survey.get(school.id)` reads as a dict), and `run`, the backend's state for
    this run, which its later calls use until the next survey (opaque to the core)."""

    def __init__(self, states: Mapping[str, SourceState], run: object = None) -> None:
        self._states = dict(states)
        self.run = run

    def __getitem__(self, school_id: str) -> SourceState:
        return self._states[school_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._states)

    def __len__(self) -> int:
        return len(self._states)

    def __repr__(self) -> str:
        return f"Survey({self._states!r}, run={self.run!r})"


@dataclass(frozen=True)
class WriteResult:
    status: WriteStatus
    stamp: str = ""  # the source's stamp after writing
    fingerprint: str = ""  # content hash after writing, for the next write's check
    message: str = ""  # Russian, when not written (or, when partial, what was left out)
    partial: bool = False  # written, but some controls or notes could not be (merged cells…)
    # Sheet rows whose «Отметка МОУО» now shows the paint's text; None: every one in the paint
    # (a backend that writes them all or fails the whole write).
    reviews_shown: tuple[int, ...] | None = None


class Backend(Protocol):
    """One storage: a folder of workbooks or Google Sheets.

    Each backend class also offers `where_to_open(school)` (a static method): what a person opens
    for a school, from the configuration alone (no connection), raising SourceError when nothing.
    """

    # The master is a workbook file Excel opens (and, on Windows, locks): the add-in refreshes
    # an open master in place instead.
    master_is_workbook: bool

    def location(self, school: School) -> str:
        """Where a person finds the school's source (a path or a link); "" when it has none."""
        ...

    def survey(self, schools: Sequence[School]) -> Survey:
        """Start a run: one listing of every school's source, with the backend's fresh state for
        the run (`Survey.run`), which the calls after it use until the next survey."""
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

    def read_marks(self) -> MasterMarks:
        """The coordinator's review marks in the master as last saved (before it is rewritten);
        empty when there is no master yet. Raises MasterReadError."""
        ...

    def write_master(self, master: Master) -> str:
        """Write the consolidated master; returns where it went. Raises MasterWriteError."""
        ...

    def create(self, school: School, spec: TemplateSpec, plan: Plan, built_at: datetime) -> bool:
        """Create a school's workbook; False when one already exists (it is never overwritten)."""
        ...
