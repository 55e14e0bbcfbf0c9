"""Plain domain data shared by every part of roadmap-sync.

Nothing here touches files, the network or the clock: these are the values the pure
functions (deadlines, validation, status, consolidation) take and return.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any, cast

from sync.states import ControlKey, SchoolOutcome

# A value as a spreadsheet cell holds it, after reading.
CellValue = str | int | float | bool | date | datetime | time | timedelta | None


@dataclass(frozen=True)
class Period:
    """The roadmap's period, both ends included."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"period ends before it starts: {self.start}..{self.end}")

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.start <= day <= self.end

    @classmethod
    def parse(cls, text: str) -> Period:
        """Read 'YYYY-MM-DD..YYYY-MM-DD'."""
        start, sep, end = text.strip().partition("..")
        if not sep:
            raise ValueError(f"period must look like 2021-09-01..2022-08-31, got {text!r}")
        return cls(date.fromisoformat(start.strip()), date.fromisoformat(end.strip()))

    def __str__(self) -> str:
        return f"{self.start.isoformat()}..{self.end.isoformat()}"


class DeadlineKind(StrEnum):
    BY = "by"
    WINDOW = "window"
    RECURRING = "recurring"
    CONTINUOUS = "continuous"
    ON_DEMAND = "on_demand"
    EXTERNAL = "external"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Deadline:
    """A deadline read from free Russian text (see sync.deadlines.parse)."""

    kind: DeadlineKind
    start: date | None = None
    end: date | None = None
    every: str | None = None  # "year", "half_year", "quarter", "month", "week"
    month: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
            "every": self.every,
            "month": self.month,
        }

    @property
    def dated(self) -> bool:
        """Whether the deadline has an end date the control can compare with today."""
        return self.kind in (DeadlineKind.BY, DeadlineKind.WINDOW) and self.end is not None


UNKNOWN_DEADLINE = Deadline(DeadlineKind.UNKNOWN)


class Audience(StrEnum):
    """Whose workbook a plan row goes to."""

    SCHOOLS = "schools"
    COORDINATOR = "coordinator"


@dataclass(frozen=True)
class PlanItem:
    """One row of the municipal plan."""

    section: str
    no: str
    activity: str
    responsible: str
    deadline_text: str
    planned_result: str
    audience: Audience
    deadline: Deadline = UNKNOWN_DEADLINE
    due: date | None = None  # the date the control compares with; explicit or from the deadline

    @property
    def key(self) -> tuple[str, str]:
        """A row's identity: numbering restarts in each section."""
        return (self.section, self.no)

    def __hash__(self) -> int:
        # Hashed for every school row matched (validation keys its matches by item): the hash
        # of all fields is computed once. Not pickled (hashes of texts differ between processes).
        found = self.__dict__.get("_hash")
        if found is None:
            found = hash(tuple(getattr(self, f.name) for f in fields(self)))
            object.__setattr__(self, "_hash", found)
        return cast(int, found)

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_hash"}

    @property
    def label(self) -> str:
        return f"{self.no} {self.activity}".strip()


@dataclass(frozen=True)
class Plan:
    period: Period
    items: tuple[PlanItem, ...]

    def for_audience(self, audience: Audience) -> tuple[PlanItem, ...]:
        return tuple(i for i in self.items if i.audience is audience)

    def digest(self, audience: Audience) -> str:
        """A short hash of the plan text one audience's workbooks carry (computed once: every
        school's check compares with it)."""
        cache: dict[Audience, str] = self.__dict__.setdefault("_digests", {})
        if audience not in cache:
            cache[audience] = self._digest(audience)
        return cache[audience]

    def _digest(self, audience: Audience) -> str:
        rows = [
            [i.section, i.no, i.activity, i.responsible, i.deadline_text, i.planned_result]
            for i in self.for_audience(audience)
        ]
        blob = json.dumps(rows, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class School:
    """A school (or the coordinator's own workbook, with is_coordinator set)."""

    id: str
    name: str
    category: str = ""
    emails: tuple[str, ...] = ()
    source: str = ""  # where the backend finds it: a file path or a spreadsheet id
    is_coordinator: bool = False

    @property
    def audience(self) -> Audience:
        return Audience.COORDINATOR if self.is_coordinator else Audience.SCHOOLS


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


SEVERITY_RU = {Severity.ERROR: "ошибка", Severity.WARNING: "предупреждение"}


@dataclass(frozen=True)
class Problem:
    """A validation finding: data, never an exception."""

    code: str
    severity: Severity
    sheet: str
    cell: str  # A1 reference, "" when it concerns the whole sheet or workbook
    field: str  # column or passport key, "" when none
    message: str  # Russian, for the school
    row: int | None = None  # sheet row number, when it concerns a row

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity.value,
            "sheet": self.sheet,
            "cell": self.cell,
            "field": self.field,
            "message": self.message,
        }


@dataclass(frozen=True)
class Control:
    """The computed value of the Контроль column and its fill colour."""

    key: ControlKey
    value: str  # Russian text shown in the cell
    fill: str | None  # RRGGBB, None for no fill
    # Past its due date and not done, though the control shows another rule («На доработке»).
    late: bool = False


@dataclass(frozen=True)
class SheetRow:
    """One data row of the main sheet as read, by column key."""

    row: int  # 1-based sheet row number
    values: dict[str, CellValue]


@dataclass(frozen=True)
class RawWorkbook:
    """What a backend reads: every sheet as a grid of values, untouched."""

    sheets: dict[str, list[list[CellValue]]]
    modified: datetime | None = None
    fingerprint: str = ""  # content hash of what was read, to tell an unchanged school
    truncated: dict[str, int] = field(default_factory=dict)  # sheet -> rows it really has


@dataclass(frozen=True)
class SchoolSheet:
    """A school's workbook located by header names (see sync.reader)."""

    meta: dict[str, str]
    columns: dict[str, int]  # column key -> 1-based column index on the main sheet
    header_row: int  # 1-based
    rows: tuple[SheetRow, ...]
    passport: dict[str, CellValue]
    passport_cells: dict[str, str]  # passport key -> A1 of its value cell
    problems: tuple[Problem, ...] = ()  # problems found while locating things
    sheet_name: str = ""  # the main sheet's actual name, when it differs from the template's


@dataclass(frozen=True)
class RowReport:
    """A school's row matched against the plan, with its computed control."""

    item: PlanItem | None  # None for the school's own activity
    sheet_row: int
    values: dict[str, CellValue]
    control: Control
    # The n-th row of its school with the same base key (same plan section and №, or the same
    # own-activity text): 2, 3… make its review key unique (sync.review.number_rows).
    occurrence: int = 1


@dataclass
class SchoolReport:
    """Everything the sync knows of one school after this run."""

    school: School
    # A list, or after a run's master has them a spooled sequence (sync.spool) read on each use.
    rows: Sequence[RowReport] = field(default_factory=list)
    passport: Mapping[str, CellValue] = field(default_factory=dict)  # spooled too, after a run
    problems: list[Problem] = field(default_factory=list)
    outcome: SchoolOutcome = SchoolOutcome.SYNCED
    message: str = ""  # Russian, why it failed or was skipped
    modified: datetime | None = None
    synced_at: datetime | None = None

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity is Severity.ERROR]
