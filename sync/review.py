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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from typing import Any, cast

from sync.model import CellValue, RowReport
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

    def nth(self, n: int) -> RowKey:
        """The key of the n-th row of a school with this same base key: the first keeps it
        (keys stored in the history and in masters stay valid), the others get «#n».

        >>> RowKey("s", "", "own:урок").nth(1) == RowKey("s", "", "own:урок")
        True
        >>> RowKey("s", "1. Раздел", "1.2").nth(3).no
        '1.2#3'
        """
        return self if n <= 1 else RowKey(self.school_id, self.section, f"{self.no}#{n}")


def split_nth(no: str) -> tuple[str, int]:
    """A key's № without its «#n», and n (1 for the first row with that base key).

    >>> split_nth("1.2#3"), split_nth("own:урок"), split_nth("own:№ 5#x")
    (('1.2', 3), ('own:урок', 1), ('own:№ 5#x', 1))
    """
    base, sep, n = no.rpartition("#")
    return (base, int(n)) if sep and n.isdigit() and int(n) > 1 else (no, 1)


def base_key(school_id: str, row: RowReport) -> RowKey:
    """A row's key before numbering: a plan row by (section, №), the school's own by its text."""
    if row.item is not None:
        return RowKey(school_id, row.item.section, row.item.no)
    return RowKey.own(school_id, row.values.get("activity"))


def row_key(school_id: str, row: RowReport) -> RowKey:
    """A school's row across runs, unique within the school (see number_rows)."""
    # Asked for each row by every sheet and count: kept on the (frozen) row once made; a row
    # changed by dataclasses.replace is a new object without it.
    known = row.__dict__.get("_key")
    if known is not None and known.school_id == school_id:
        return cast(RowKey, known)
    key = base_key(school_id, row).nth(row.occurrence)
    row.__dict__["_key"] = key
    return key


def row_keys(school_id: str, rows: Sequence[RowReport]) -> list[RowKey]:
    """The keys of a school's rows, in order (every caller goes through row_key)."""
    return [row_key(school_id, r) for r in rows]


def number_rows(rows: Sequence[RowReport]) -> list[RowReport]:
    """A school's ordered rows with `occurrence` set: the 2nd, 3rd… row with the same base key
    (two own activities with one text, own rows with no text, a duplicated plan row, repeated
    or empty № without a plan) is numbered, so a mark lands on that row and only on it.

    Called once where the rows are built (validation), so every later list, filtered or not,
    keeps the numbers of the whole school.
    """
    count: dict[RowKey, int] = {}
    out: list[RowReport] = []
    for r in rows:
        base = base_key("", r)
        n = count[base] = count.get(base, 0) + 1
        out.append(r if r.occurrence == n else replace(r, occurrence=n))
    return out


def row_digest(values: dict[str, CellValue]) -> str:
    """A short hash of a row's school-filled values (what a mark is about).

    >>> row_digest({"status": "Выполнено"}) == row_digest({"status": "Выполнено", "control": "x"})
    True
    >>> row_digest({"status": "Выполнено"}) == row_digest({"status": "В работе"})
    False
    """
    return _digest(tuple(values.get(k) for k in REVIEWED_FIELDS))


@lru_cache(maxsize=1 << 16, typed=True)
def _digest(values: tuple[CellValue, ...]) -> str:
    # A run computes it for every row twice (the decision, the master's key cell); most rows of
    # a municipality are alike (nothing filled yet), so the cache answers most of them.
    blob = json.dumps([fold(v) for v in values], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def shown_token(mark: Mark | None, comment: str) -> str:
    """A short hash of the mark and comment a master line shows (kept in its key cell).

    A line whose cells still hash to it was not touched by the coordinator: an old master (one
    left open while a newer one went beside it) cannot undo marks recorded since.

    >>> shown_token(Mark.ACCEPTED, " да ") == shown_token(Mark.ACCEPTED, "да")
    True
    >>> shown_token(None, "") == shown_token(Mark.REWORK, "")
    False
    """
    return _token(mark.value if mark else "", comment.strip())


@lru_cache(maxsize=1 << 12)
def _token(mark: str, comment: str) -> str:
    blob = json.dumps([mark, comment], ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def encode_key(key: RowKey, digest: str, shown: str = "") -> str:
    """The master's hidden key cell: the row and the digest of the values the master shows
    (and, when given, the `shown_token` of the mark and comment it shows).

    >>> k = RowKey("s1", "1. Раздел", "1.2")
    >>> decode_key(encode_key(k, "abc")) == (k, "abc")
    True
    >>> decode_key(encode_key(k, "abc", "t0")) == (k, "abc"), decode_shown(encode_key(k, "d", "t0"))
    (True, 't0')
    >>> decode_key("мусор") is None, decode_shown(encode_key(k, "abc"))
    (True, None)
    """
    parts = (key.school_id, key.section, key.no, digest) + ((shown,) if shown else ())
    # json.dumps(list(parts), ensure_ascii=False) exactly (every part a text), without the
    # encoder's machinery: a run makes one for every row of the municipality.
    return "[" + ", ".join(map(_json_text, parts)) + "]"


_json_text = json.encoder.encode_basestring  # a JSON string literal, non-ASCII kept as it is


def _key_parts(text: CellValue) -> list[str] | None:
    if not isinstance(text, str) or not text.startswith("[") or len(text) > 4096:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if not (isinstance(value, list) and len(value) in (4, 5)):
        return None
    if not all(isinstance(v, str) for v in value):
        return None
    return value


def decode_key(text: CellValue) -> tuple[RowKey, str] | None:
    """The inverse of encode_key; None for anything else (a coordinator's edit, an empty cell)."""
    value = _key_parts(text)
    if value is None:
        return None
    school_id, section, no, digest = value[:4]
    return RowKey(school_id, section, no), digest


def decode_shown(text: CellValue) -> str | None:
    """The `shown_token` a key cell carries; None when it carries none (an older master)."""
    value = _key_parts(text)
    return value[4] if value is not None and len(value) == 5 else None


@dataclass(frozen=True)
class MasterMark:
    """One line of the master's review columns as the coordinator left it."""

    key: RowKey
    shown_digest: str  # the row's digest as the master showed it when it was written
    mark: Mark | None  # None: the mark cell is empty
    comment: str = ""
    raw_mark: str = ""  # the cell's text when it is not one of the choices (reported, not used)
    shown: str | None = None  # the key cell's shown_token; None: compare with the recorded mark
    line: int = 0  # the master's row number (1-based), for messages; 0 when unknown


@dataclass(frozen=True)
class MasterMarks:
    """Every review line read from the master before it is rewritten."""

    marks: tuple[MasterMark, ...] = ()
    by: str = ""  # who saved the master last, when the storage knows (xlsx core props, Drive)
    at: datetime | None = None  # when it was saved
    source: str = ""  # Russian: where they were read («свод», «Google-таблица свода»)
    problems: tuple[str, ...] = ()  # Russian: lines that could not be read as marks


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


NOT_REVIEWED_ROW = RowReview(ReviewState.NOT_REVIEWED)


class Decisions(dict[RowKey, RowReview]):
    """Each row's decision this run. A row merely not reviewed (no mark, no comment: most rows
    on most nights) is not stored: its school's id is in `quiet`, and `get` gives every row of
    such a school without a stored decision NOT_REVIEWED_ROW. Memory does not grow with the
    municipality's rows."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.quiet: set[str] = set()

    def get(self, key: RowKey, default: Any = None) -> Any:
        found = dict.get(self, key)
        if found is None and key.school_id in self.quiet:
            return NOT_REVIEWED_ROW
        return default if found is None else found

    def quiet_school(self, school_id: str, keys: Iterable[RowKey]) -> None:
        """Every row of this school is not reviewed (its earlier decisions, if any, dropped)."""
        for key in keys:
            self.pop(key, None)
        self.quiet.add(school_id)


@dataclass
class ReviewPlan:
    """This run's review decisions for all schools (built by the core before painting)."""

    rows: Decisions = field(default_factory=Decisions)
    new_marks: list[RecordedMark] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # Russian, for the run's log and report
    # [review] done_requires_acceptance: only accepted rows count as done
    done_requires_acceptance: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.rows, Decisions):
            self.rows = Decisions(self.rows)

    def state(self, key: RowKey) -> ReviewState:
        seen = self.rows.get(key)
        return seen.state if seen is not None else ReviewState.NOT_REVIEWED

    def counts_as_done(self, key: RowKey) -> bool:
        """Whether a row whose control is «Выполнено» counts as done in every total.

        >>> seen = RowReview(ReviewState.ACCEPTED, Mark.ACCEPTED)
        >>> plan = ReviewPlan({RowKey("s", "", "1"): seen})
        >>> plan.counts_as_done(RowKey("s", "", "2"))
        True
        >>> plan.done_requires_acceptance = True
        >>> plan.counts_as_done(RowKey("s", "", "1")), plan.counts_as_done(RowKey("s", "", "2"))
        (True, False)
        """
        state = self.state(key)
        if state is ReviewState.REWORK:
            return False
        return state is ReviewState.ACCEPTED or not self.done_requires_acceptance

    def merge(self, other: ReviewPlan) -> None:
        """Add one school's decisions to the run's: a row merely not reviewed (most rows) is
        not stored one by one, its school is marked `quiet` (Decisions.get gives it)."""
        rows = self.rows
        for key, seen in other.rows.items():
            if seen == NOT_REVIEWED_ROW:
                rows.pop(key, None)
                rows.quiet.add(key.school_id)
            else:
                rows[key] = seen
        self.new_marks += other.new_marks
        self.problems += other.problems


# --- deciding: which marks are new, and where each row stands ---------------------------------

SOURCE_MASTER, SOURCE_WORKBOOK, SOURCE_GOOGLE = "master", "workbook", "google"
SOURCE_RU = {
    SOURCE_MASTER: "свод",
    SOURCE_WORKBOOK: "книга школы",
    SOURCE_GOOGLE: "Google-таблица свода",
}
IN_WORKBOOK = "в книге школы"  # who, for a mark typed into the school's own «Отметка МОУО»
# A comment longer than this (a paste gone wrong) is cut: an Excel cell holds 32 767 characters.
MAX_COMMENT = 32_000
_MARK_BY_TEXT = {fold(text): mark for mark, text in MARK_RU.items()}


def mark_of(value: CellValue) -> tuple[Mark | None, bool]:
    """The mark a cell's text means, tolerating case and spaces, and whether it is one at all.

    >>> mark_of(" принято "), mark_of(None), mark_of("Ок")
    ((<Mark.ACCEPTED: 'accepted'>, True), (None, True), (None, False))
    """
    folded = fold(value) if value is not None else ""
    if not folded:
        return None, True
    mark = _MARK_BY_TEXT.get(folded)
    return mark, mark is not None


def cell_text(value: CellValue) -> str:
    """A comment cell's value as plain text (a number or date typed there, too)."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


@dataclass(frozen=True)
class RowNow:
    """One school row as this run sees it, for the review decision."""

    key: RowKey
    digest: str  # row_digest of its values now
    cell: CellValue = None  # the school's «Отметка МОУО» as read this run
    cell_read: bool = False  # False: not read afresh (unchanged or unreadable): nothing new there
    label: str = ""  # Russian: the school and the row, for messages


def _text_of(mark: Mark | None) -> str:
    return MARK_RU[mark] if mark is not None else ""


def _same(a: RecordedMark | None, mark: Mark | None, comment: str) -> bool:
    was = (a.mark, a.comment.strip()) if a is not None else (None, "")
    return was == (mark, comment.strip())


def line_changed(line: MasterMark, last: RecordedMark | None) -> bool:
    """Whether the coordinator changed a master line's mark or comment since it was written.

    With the key cell's shown_token the line is compared with what that master showed; without
    it (an older master, a storage that keeps none) with the last recorded mark.
    """
    if line.raw_mark:
        return False
    if line.shown is not None:
        return shown_token(line.mark, line.comment) != line.shown
    return not _same(last, line.mark, line.comment)


def decide_row(
    row: RowNow,
    last: RecordedMark | None,
    line: MasterMark | None,
    known_cell: str | None,
    marks: MasterMarks,
    *,
    now: datetime,
    run_id: int = 0,
    master_source: str = SOURCE_MASTER,
) -> tuple[RowReview, RecordedMark | None, list[str]]:
    """One row: its new mark, if any, and its review state (pure).

    A master line the coordinator changed is a new mark about the row as the master showed it;
    else a school cell that differs from what it last showed (what we wrote or read) is a new
    mark about the row now; an emptied cell removes the mark. When both changed the master wins
    and the school's cell is reported.

    >>> k, t = RowKey("s", "", "1"), datetime(2026, 12, 1, 9, 0)
    >>> now = RowNow(k, "d2", "Принято", cell_read=True)
    >>> seen, new, _ = decide_row(now, None, None, None, MasterMarks(), now=t)
    >>> seen.state.value, new.source, new.by
    ('accepted', 'workbook', 'в книге школы')
    >>> line = MasterMark(k, "d1", Mark.ACCEPTED, "", shown=shown_token(None, ""))
    >>> by = MasterMarks(by="Иванова")
    >>> seen, new, _ = decide_row(RowNow(k, "d2"), None, line, None, by, now=t)
    >>> seen.state.value, new.row_digest, new.by
    ('changed_after_accept', 'd1', 'Иванова')
    """
    problems: list[str] = []
    where = f"{row.label}: " if row.label else ""
    new: RecordedMark | None = None
    if line is not None and line.raw_mark:
        allowed = " или ".join(f"«{t}»" for t in MARK_RU.values())
        at = f" (строка {line.line})" if line.line else ""
        problems.append(
            f"{where}в своде{at} в «{MARK_HEADER}» написано «{line.raw_mark[:100]}» — это не"
            f" отметка (ожидается {allowed}); отметка строки не изменена."
        )
    if line is not None and line_changed(line, last) and not _same(last, line.mark, line.comment):
        comment = line.comment.strip()
        new = RecordedMark(
            row.key,
            line.mark,
            comment,
            marks.by,
            marks.at or now,
            line.shown_digest,
            master_source,
            run_id,
        )
    cell_mark: Mark | None = None
    cell_changed = False
    if row.cell_read:
        cell_mark, known = mark_of(row.cell)
        if known_cell is None:
            # What this cell shows was never recorded (our write may never have reached it): only
            # a mark typed there counts as new; an empty cell is no removal.
            before = _text_of(last.mark if last else None)
            cell_changed = (
                known and cell_mark is not None and fold(cell_text(row.cell)) != fold(before)
            )
        else:
            cell_changed = known and fold(cell_text(row.cell)) != fold(known_cell)
    if cell_changed and new is not None:
        if cell_mark != new.mark:
            problems.append(
                f"{where}в книге школы в «{MARK_HEADER}» стоит «{_text_of(cell_mark) or 'пусто'}»,"
                f" а в своде — «{_text_of(new.mark) or 'пусто'}»: принята отметка из свода."
            )
    elif cell_changed and (last is None or last.mark != cell_mark):
        # A mark typed into the school's cell has no comment: the master's comment was about
        # the mark it replaces.
        new = RecordedMark(
            row.key, cell_mark, "", IN_WORKBOOK, now, row.digest, SOURCE_WORKBOOK, run_id
        )
    current = new or last
    return review_of(current, row.digest), new, problems


def review_of(mark: RecordedMark | None, digest_now: str) -> RowReview:
    """Where a row stands: its last mark against its values now.

    >>> k, t = RowKey("s", "", "1"), datetime(2026, 1, 1)
    >>> m = RecordedMark(k, Mark.REWORK, "нет приказа", "И.", t, "d1", "master")
    >>> review_of(m, "d1").state.value, review_of(m, "d2").state.value
    ('rework', 'fixed_awaiting')
    >>> review_of(None, "d1").state.value
    'not_reviewed'
    """
    if mark is None:
        return RowReview(ReviewState.NOT_REVIEWED)
    if mark.mark is None:
        return RowReview(ReviewState.NOT_REVIEWED, None, mark.comment, mark.by, mark.at)
    same = mark.row_digest == digest_now
    if mark.mark is Mark.ACCEPTED:
        state = ReviewState.ACCEPTED if same else ReviewState.CHANGED_AFTER_ACCEPT
    else:
        state = ReviewState.REWORK if same else ReviewState.FIXED_AWAITING
    return RowReview(state, mark.mark, mark.comment, mark.by, mark.at)


def index_lines(marks: MasterMarks) -> tuple[dict[RowKey, MasterMark], list[str]]:
    """The master's lines by row; a row repeated with other contents is reported, first kept."""
    found: dict[RowKey, MasterMark] = {}
    problems: list[str] = []
    for line in marks.marks:
        first = found.get(line.key)
        if first is None:
            found[line.key] = line
        elif (first.mark, first.comment, first.raw_mark) != (
            line.mark,
            line.comment,
            line.raw_mark,
        ):
            problems.append(
                f"В своде строка {line.line} повторяет строку {first.line} (та же строка школы"
                f" «{line.key.school_id}», № {line.key.no or '—'}) с другой отметкой;"
                f" взята строка {first.line}."
            )
    return found, problems


def review_school(
    rows: list[RowNow],
    recorded: dict[RowKey, RecordedMark],
    lines: dict[RowKey, MasterMark],
    known_cells: dict[RowKey, str],
    marks: MasterMarks,
    *,
    now: datetime,
    run_id: int = 0,
    master_source: str = SOURCE_MASTER,
    done_requires_acceptance: bool = False,
) -> ReviewPlan:
    """Every row of one school: the new marks to record and what each row shows (pure)."""
    plan = ReviewPlan(done_requires_acceptance=done_requires_acceptance)
    for row in rows:
        seen, new, problems = decide_row(
            row,
            recorded.get(row.key),
            lines.get(row.key),
            known_cells.get(row.key),
            marks,
            now=now,
            run_id=run_id,
            master_source=master_source,
        )
        plan.rows[row.key] = seen
        if new is not None:
            plan.new_marks.append(new)
        plan.problems += problems
    return plan


def orphan_marks(
    lines: dict[RowKey, MasterMark],
    seen: set[RowKey],
    recorded: dict[RowKey, RecordedMark],
    marks: MasterMarks,
    *,
    now: datetime,
    run_id: int = 0,
    master_source: str = SOURCE_MASTER,
) -> tuple[list[RecordedMark], list[str]]:
    """Marks typed on master lines whose school row is gone: kept in the trail, and reported."""
    kept: list[RecordedMark] = []
    problems: list[str] = []
    for key, line in lines.items():
        last = recorded.get(key)
        if key in seen or not line_changed(line, last) or _same(last, line.mark, line.comment):
            continue
        kept.append(
            RecordedMark(
                key,
                line.mark,
                line.comment.strip(),
                marks.by,
                marks.at or now,
                line.shown_digest,
                master_source,
                run_id,
            )
        )
        problems.append(
            f"В своде (строка {line.line}) отметка «{_text_of(line.mark) or 'пусто'}» для строки"
            f" школы «{key.school_id}», № {key.no or '—'}, которой больше нет в книге школы;"
            " отметка сохранена в истории."
        )
    return kept, problems


# --- reading a master's «Мероприятия» grid (every storage that keeps the master as a grid) -----

_HEADER_SCAN = 30  # the header row is looked for in the first rows


def _header_row(grid: list[list[CellValue]]) -> tuple[int, dict[str, int]] | None:
    for r, row in enumerate(grid[:_HEADER_SCAN]):
        names = {cell_text(v): c for c, v in enumerate(row) if cell_text(v)}
        if KEY_HEADER in names and MARK_HEADER in names:
            return r, names
    return None


def marks_from_grid(
    grid: list[list[CellValue]], sheet: str = "Мероприятия"
) -> tuple[list[MasterMark], list[str]]:
    """The review lines of a master sheet given as a grid: columns found by their headers.

    Lines without a readable key that carry a mark or a comment are reported with their text
    (so a typed mark is never silently dropped); the others (blank lines, notes) are skipped.
    """
    found = _header_row(grid)
    if found is None:
        return [], [
            f"В своде на листе «{sheet}» нет столбцов «{MARK_HEADER}» и «{KEY_HEADER}»:"
            " отметки не прочитаны."
        ]
    top, names = found
    mark_col, key_col = names[MARK_HEADER], names[KEY_HEADER]
    comment_col = names.get(COMMENT_HEADER)
    school_col, no_col = names.get("Школа"), names.get("№")
    out: list[MasterMark] = []
    problems: list[str] = []

    def at(row: list[CellValue], col: int | None) -> CellValue:
        return row[col] if col is not None and col < len(row) else None

    for r in range(top + 1, len(grid)):
        row = grid[r]
        line = r + 1
        raw = cell_text(at(row, mark_col))
        comment = cell_text(at(row, comment_col))
        parts = _key_parts(at(row, key_col))  # parsed once: the key and the shown token
        if parts is None:
            if raw or comment:
                school, no = cell_text(at(row, school_col)), cell_text(at(row, no_col))
                problems.append(
                    f"В своде, лист «{sheet}», строка {line} ({school or 'школа не указана'},"
                    f" № {no or '—'}): служебный столбец «{KEY_HEADER}» изменён или стёрт —"
                    f" отметка «{raw[:100]}» и комментарий «{comment[:200]}» не прочитаны;"
                    " поставьте их заново в новом своде."
                )
            continue
        if len(comment) > MAX_COMMENT:
            problems.append(
                f"В своде, лист «{sheet}», строка {line}: комментарий длиной {len(comment)}"
                f" знаков сокращён до {MAX_COMMENT}."
            )
            comment = comment[:MAX_COMMENT]
        mark, known = mark_of(raw)
        out.append(
            MasterMark(
                RowKey(*parts[:3]),
                parts[3],
                mark,
                comment,
                "" if known else raw,
                parts[4] if len(parts) == 5 else None,
                line,
            )
        )
    return out, problems
