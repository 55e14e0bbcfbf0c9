"""What the sync writes back into a school's sheet: control values, colours and notes (pure)."""

from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from sync.cells import a1, parse_a1
from sync.model import Control, Problem, SchoolReport, SchoolSheet, Severity
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


def paint_school(report: SchoolReport, sheet: SchoolSheet, spec: TemplateSpec) -> Paint:
    """The control column and a note on every cell with a problem.

    Problems without a cell (a missing plan row, a wrong school) go into one note on the
    Контроль header, so the school sees them where it looks.
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
