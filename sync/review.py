"""Review marks: the coordinator's «Принято» / «На доработке» on a school's row (pure).

A mark belongs to the row as it was when marked: every mark carries the digest of the row's
school-filled values the coordinator saw. When the school changes the row afterwards the row
needs review again («Изменено после проверки» after «Принято», «Исправлено, ждёт проверки»
after «На доработке»).

Marks come from three places (the master's «Отметка МОУО»/«Комментарий МОУО» columns, the
school's own «Отметка МОУО» column, the Google master); each storage reads them into the neutral
types below and the core decides, records and shows them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from sync.model import CellValue
from sync.text import fold


class Mark(StrEnum):
    """A coordinator's decision on a row (the Russian text is the review column's choice)."""

    ACCEPTED = "accepted"  # «Принято»
    REWORK = "rework"  # «На доработке»


class ReviewState(StrEnum):
    """Where a row stands in review, from its last mark and its values now."""

    NOT_REVIEWED = "not_reviewed"
    ACCEPTED = "accepted"
    REWORK = "rework"
    CHANGED_AFTER_ACCEPT = "changed_after_accept"  # «Изменено после проверки»
    FIXED_AWAITING = "fixed_awaiting"  # «Исправлено, ждёт проверки»


MARK_RU = {Mark.ACCEPTED: "Принято", Mark.REWORK: "На доработке"}

REVIEW_STATE_RU = {
    ReviewState.NOT_REVIEWED: "",
    ReviewState.ACCEPTED: "Принято",
    ReviewState.REWORK: "На доработке",
    ReviewState.CHANGED_AFTER_ACCEPT: "Изменено после проверки",
    ReviewState.FIXED_AWAITING: "Исправлено, ждёт проверки",
}

# The master's review columns on «Мероприятия» (the first two editable by the coordinator).
MARK_HEADER = "Отметка МОУО"
COMMENT_HEADER = "Комментарий МОУО"
STATE_HEADER = "Проверка"
KEY_HEADER = "Ключ строки"  # hidden: which school's row a master line is, and as it was shown

# The school-filled fields whose change after a mark sends a row back to review.
REVIEWED_FIELDS = ("status", "done_on", "evidence", "executor", "comment")


@dataclass(frozen=True)
class RowKey:
    """A school's row across runs: a plan row by (section, №); the school's own by its text."""

    school_id: str
    section: str
    no: str

    @classmethod
    def own(cls, school_id: str, activity: CellValue) -> RowKey:
        """The key of a school's own activity (not in the plan), by its folded text."""
        return cls(school_id, "", "own:" + fold(activity))


def row_digest(values: dict[str, CellValue]) -> str:
    """A short hash of a row's school-filled values (what a mark is about).

    >>> row_digest({"status": "Выполнено"}) == row_digest({"status": "Выполнено", "control": "x"})
    True
    >>> row_digest({"status": "Выполнено"}) == row_digest({"status": "В работе"})
    False
    """
    blob = json.dumps(
        [fold(values.get(k)) for k in REVIEWED_FIELDS], ensure_ascii=False, separators=(",", ":")
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def encode_key(key: RowKey, digest: str) -> str:
    """The master's hidden key cell: the row and the digest of the values the master shows.

    >>> k = RowKey("s1", "1. Раздел", "1.2")
    >>> decode_key(encode_key(k, "abc")) == (k, "abc")
    True
    >>> decode_key("мусор") is None
    True
    """
    return json.dumps([key.school_id, key.section, key.no, digest], ensure_ascii=False)


def decode_key(text: CellValue) -> tuple[RowKey, str] | None:
    """The inverse of encode_key; None for anything else (a coordinator's edit, an empty cell)."""
    try:
        value = json.loads(str(text))
    except (TypeError, ValueError):
        return None
    if not (isinstance(value, list) and len(value) == 4 and all(isinstance(v, str) for v in value)):
        return None
    school_id, section, no, digest = value
    return RowKey(school_id, section, no), digest


@dataclass(frozen=True)
class MasterMark:
    """One line of the master's review columns as the coordinator left it."""

    key: RowKey
    shown_digest: str  # the row's digest as the master showed it when it was written
    mark: Mark | None  # None: the mark cell is empty
    comment: str = ""
    raw_mark: str = ""  # the cell's text when it is not one of the choices (reported, not used)


@dataclass(frozen=True)
class MasterMarks:
    """Every review line read from the master before it is rewritten."""

    marks: tuple[MasterMark, ...] = ()
    by: str = ""  # who saved the master last, when the storage knows (xlsx core props, Drive)
    at: datetime | None = None  # when it was saved
    source: str = ""  # Russian: where they were read («свод», «Google-таблица свода»)


@dataclass(frozen=True)
class RecordedMark:
    """A mark as the history keeps it: the review trail of a row."""

    key: RowKey
    mark: Mark | None  # None: a mark was removed
    comment: str
    by: str
    at: datetime
    row_digest: str  # the row's values the mark is about
    source: str  # "master" | "workbook" | "google"
    run_id: int = 0


@dataclass(frozen=True)
class RowReview:
    """What the core shows for one row this run (master columns, the school's cell, the note)."""

    state: ReviewState
    mark: Mark | None = None
    comment: str = ""
    marked_by: str = ""
    marked_at: datetime | None = None

    @property
    def mark_text(self) -> str:
        return MARK_RU[self.mark] if self.mark is not None else ""


@dataclass
class ReviewPlan:
    """This run's review decisions for all schools (built by the core before painting)."""

    rows: dict[RowKey, RowReview] = field(default_factory=dict)
    new_marks: list[RecordedMark] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # Russian, for the run's log and report
