"""Read the schools that need reading ahead of the run's loop, in parallel where the backend can.

The run still handles one school at a time (validate, record, paint); while it does, the
backend's `read_many` is already reading the next ones (the folder backend in its worker
processes). Results come in the run's order and only a few wait at a time.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from sync.backends.base import Backend, SourceError, SourceState, Survey, WriteResult
from sync.model import Plan, RawWorkbook, School
from sync.paint import Paint
from sync.review import MasterMarks
from sync.spec import TemplateSpec

if TYPE_CHECKING:
    from sync.consolidate import Master


def schools_to_read(
    schools: Sequence[School], states: Mapping[str, SourceState], stamps: Mapping[str, str]
) -> list[School]:
    """The schools whose source exists and changed since their last snapshot's stamp."""
    out = []
    for school in schools:
        state = states.get(school.id)
        if state is None or not state.exists:
            continue
        last = stamps.get(school.id)
        if last and last == state.stamp:
            continue
        out.append(school)
    return out


class ReadAhead:
    """The backend, with `read(school)` served from one `read_many` over `schools`."""

    def __init__(self, backend: Backend, schools: Sequence[School]):
        self.backend = backend
        self.master_is_workbook = backend.master_is_workbook
        self._pending = {s.id for s in schools}
        self._results: Iterator[tuple[School, RawWorkbook | SourceError]] | None = (
            backend.read_many(schools) if schools else None
        )
        self._ready: dict[str, RawWorkbook | SourceError] = {}

    def read(self, school: School) -> RawWorkbook:
        """The school's workbook; raises SourceError as `Backend.read` does."""
        if school.id in self._pending and self._results is not None:
            while school.id not in self._ready:
                try:
                    got, result = next(self._results)
                except StopIteration:
                    break
                self._ready[got.id] = result
        self._pending.discard(school.id)
        if school.id not in self._ready:  # not asked ahead: read it now
            return self.backend.read(school)
        result = self._ready.pop(school.id)
        if isinstance(result, SourceError):
            raise result
        return result

    def close(self) -> None:
        """Stop reading ahead (an interrupted run): the workers drop what they were doing."""
        if self._results is not None and hasattr(self._results, "close"):
            self._results.close()
        self._results = None
        self._ready.clear()

    # The rest of the backend, unchanged.
    def survey(self, schools: Sequence[School]) -> Survey:
        return self.backend.survey(schools)

    def read_many(
        self, schools: Sequence[School]
    ) -> Iterator[tuple[School, RawWorkbook | SourceError]]:
        return self.backend.read_many(schools)

    def write_back(self, school: School, paint: Paint, fingerprint: str) -> WriteResult:
        return self.backend.write_back(school, paint, fingerprint)

    def read_marks(self) -> MasterMarks:
        return self.backend.read_marks()

    def write_master(self, master: Master) -> str:
        return self.backend.write_master(master)

    def location(self, school: School) -> str:
        return self.backend.location(school)

    def create(self, school: School, spec: TemplateSpec, plan: Plan, built_at: datetime) -> bool:
        return self.backend.create(school, spec, plan, built_at)
