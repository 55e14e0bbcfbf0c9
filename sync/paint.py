"""What the sync writes back into a school's sheet: control values, colours and notes (pure)."""

from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import tzinfo

from sync.cells import a1, parse_a1
from sync.consolidate import row_key
from sync.model import Control, Problem, RowReport, SchoolReport, SchoolSheet, Severity
from sync.review import REVIEW_STATE_RU, ReviewState, RowKey, RowReview, cell_text, mark_of
from sync.spec import TemplateSpec

# The service sheet's key listing the cells that hold the sync's notes, one `Sheet!A1` a line.
# Notes carry no owner that every engine can read (xlwings' remote engine cannot), so this list
# is how the school's own notes are told from ours: only notes on these cells are ever replaced
# or deleted. The nightly sync and the Excel add-in both keep it.
NOTE_CELLS_KEY = "paint_notes"

Cell = tuple[str, str]  # (sheet name, A1)


def parse_note_cells(text: object) -> set[Cell]:
    """The cells listed under NOTE_CELLS_KEY.

    >>> sorted(parse_note_cells("Дорожная карта!M1\\nПаспорт ОО!B5\\nмусор"))
    [('Дорожная карта', 'M1'), ('Паспорт ОО', 'B5')]
    """
    cells = set()
    for line in str(text or "").splitlines():
        sheet, _, ref = line.strip().rpartition("!")
        if sheet and re.fullmatch(r"[A-Z]{1,3}[1-9][0-9]*", ref):
            cells.add((sheet, ref))
    return cells


def ref_order(ref: str) -> tuple[int, int]:
    """Sort key of an A1 reference in reading order: row, then column."""
    return parse_a1(ref)


def format_note_cells(cells: Iterable[Cell]) -> str:
    """The inverse of parse_note_cells, in sheet and reading order."""
    ordered = sorted(cells, key=lambda c: (c[0], *ref_order(c[1])))
    return "\n".join(f"{sheet}!{ref}" for sheet, ref in ordered)


@dataclass(frozen=True)
class Paint:
    """Everything the sync shows in one school's workbook. Values the school typed are not here."""

    main_sheet: str
    control_col: int | None  # 1-based; None when the school removed the column
    header_row: int
    controls: tuple[tuple[int, Control], ...]  # (sheet row, control)
    notes: dict[tuple[str, str], str]  # (sheet, A1) -> Russian note text
    meta_sheet: str = ""  # the hidden service sheet, where NOTE_CELLS_KEY lists our note cells
    control_header: str = ""  # the template's «Контроль» header, to confirm the column is ours
    control_labels: tuple[str, ...] = ()  # every value the sync ever writes there
    meta: dict[str, str] = field(default_factory=dict)  # the hidden sheet as read (key -> value)
    stamps: dict[str, str] = field(default_factory=dict)  # hidden-sheet keys to set (key -> value)
    # The coordinator's marks shown in the school's «Отметка МОУО» (sheet row -> text, "" clears);
    # their comments are our notes on those cells (in `notes`). Written only where the column is
    # confirmed ours by `review_header`, like Контроль.
    review_col: int | None = None  # 1-based
    review_header: str = ""
    reviews: tuple[tuple[int, str], ...] = ()

    def digest(self) -> str:
        blob = json.dumps(
            [
                self.main_sheet,
                self.control_col,
                [(r, c.value, c.fill) for r, c in self.controls],
                sorted([list(k), v] for k, v in self.notes.items()),
                self.review_col,
                list(self.reviews),
            ],
            ensure_ascii=False,
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:20]


def _note_text(problems: list[Problem]) -> str:
    lines = []
    for p in sorted(problems, key=lambda p: p.severity is not Severity.ERROR):
        prefix = "Ошибка" if p.severity is Severity.ERROR else "Предупреждение"
        lines.append(f"{prefix}: {p.message}")
    return "\n".join(dict.fromkeys(lines))


NOTE_COMMENT = 1000  # a coordinator's comment longer than this is cut in the school's note


def review_note(seen: RowReview, zone: tzinfo | None = None) -> str:
    """Our note on a school's «Отметка МОУО» cell: the mark, who and when, the comment, and
    where the row stands when it changed since.

    >>> from datetime import datetime
    >>> from sync.review import Mark
    >>> seen = RowReview(ReviewState.FIXED_AWAITING, Mark.REWORK, "нет приказа", "Иванова",
    ...                  datetime(2026, 12, 1, 10, 5))
    >>> print(review_note(seen))
    Отметка МОУО: «На доработке» — Иванова, 01.12.2026 10:05
    Комментарий МОУО: нет приказа
    Проверка: Исправлено, ждёт проверки
    """
    lines = []
    if seen.mark is not None:
        at = seen.marked_at
        if at is not None and zone is not None and at.tzinfo is not None:
            at = at.astimezone(zone)
        who = ", ".join(p for p in (seen.marked_by, f"{at:%d.%m.%Y %H:%M}" if at else "") if p)
        lines.append(f"Отметка МОУО: «{seen.mark_text}»" + (f" — {who}" if who else ""))
    comment = seen.comment.strip()
    if comment:
        if len(comment) > NOTE_COMMENT:
            comment = comment[:NOTE_COMMENT] + "… (полностью — в своде)"
        lines.append(f"Комментарий МОУО: {comment}")
    if seen.state in (ReviewState.CHANGED_AFTER_ACCEPT, ReviewState.FIXED_AWAITING):
        lines.append(f"Проверка: {REVIEW_STATE_RU[seen.state]}")
    return "\n".join(lines)


def _review_cell(
    row: RowReport, key: RowKey, reviews: dict[RowKey, RowReview]
) -> tuple[str, RowReview | None] | None:
    """The text the row's «Отметка МОУО» should show; None to leave the cell as it is (the
    school typed something that is not a mark: the validation's note says so)."""
    seen = reviews.get(key)
    now = row.values.get("review")
    _mark, is_mark = mark_of(now)
    if not is_mark:
        return None
    want = seen.mark_text if seen is not None else ""
    if not want and not cell_text(now):
        return None
    if not want and (seen is None or seen.marked_at is None):
        # No mark and no removal was ever recorded for this row: what the cell holds is not
        # ours to clear.
        return None
    return want, seen


def paint_school(
    report: SchoolReport,
    sheet: SchoolSheet,
    spec: TemplateSpec,
    reviews: dict[RowKey, RowReview] | None = None,
    zone: tzinfo | None = None,
) -> Paint:
    """The control column and a note on every cell with a problem.

    Problems without a cell (a missing plan row, a wrong school) go into one note on the
    Контроль header, so the school sees them where it looks. With `reviews` (this run's review
    decisions) the «Отметка МОУО» cells get the marks and our notes carry the comments.
    """
    main = sheet.sheet_name or spec.main_sheet
    control_col = sheet.columns.get("control")
    controls = tuple((r.sheet_row, r.control) for r in report.rows)
    by_cell: dict[tuple[str, str], list[Problem]] = defaultdict(list)
    loose: list[Problem] = []
    for p in report.problems:
        if p.cell:
            by_cell[(p.sheet, p.cell)].append(p)
        else:
            loose.append(p)
    notes = {k: _note_text(v) for k, v in by_cell.items()}
    if loose:
        anchor = a1(sheet.header_row, control_col) if control_col else "A1"
        key = (main, anchor)
        text = _note_text(loose)
        notes[key] = f"{notes[key]}\n{text}" if key in notes else text
    review_col = sheet.columns.get("review")
    shown: list[tuple[int, str]] = []
    if reviews is not None and review_col is None and control_col is not None:
        # The school removed its «Отметка МОУО»: the marks go into the notes on «Контроль».
        for row in report.rows:
            seen = reviews.get(row_key(report.school.id, row))
            note = review_note(seen, zone) if seen is not None else ""
            if note:
                key = (main, a1(row.sheet_row, control_col))
                notes[key] = f"{notes[key]}\n{note}" if key in notes else note
    if reviews is not None and review_col is not None:
        for row in report.rows:
            found = _review_cell(row, row_key(report.school.id, row), reviews)
            if found is None:
                continue
            text, seen = found
            shown.append((row.sheet_row, text))
            note = review_note(seen, zone) if seen is not None else ""
            if note:
                key = (main, a1(row.sheet_row, review_col))
                notes[key] = f"{notes[key]}\n{note}" if key in notes else note
    return Paint(
        main,
        control_col,
        sheet.header_row,
        controls,
        notes,
        spec.meta_sheet,
        control_header=spec.column("control").header,
        control_labels=tuple(c.value for c in spec.controls.values()),
        meta=dict(sheet.meta),
        review_col=review_col if shown else None,
        review_header=spec.column("review").header,
        reviews=tuple(shown),
    )


@dataclass
class Shown:
    """What a school spreadsheet shows now, as far as the sync writes it.

    controls: sheet row -> (value, fill) in the main sheet's Контроль column;
    notes: (sheet title, A1) -> the cell's whole note (the school's part and ours).
    """

    main_title: str
    control_col: int | None
    controls: dict[int, tuple[str, str | None]] = field(default_factory=dict)
    notes: dict[tuple[str, str], str] = field(default_factory=dict)
    # «Отметка МОУО» when the paint's review column is confirmed ours: sheet row -> its text.
    review_col: int | None = None
    reviews: dict[int, str] = field(default_factory=dict)
