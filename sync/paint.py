"""What the sync writes back into a school's sheet: control values, colours and notes (pure)."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass

from sync.model import Control, Problem, SchoolReport, SchoolSheet, Severity
from sync.spec import TemplateSpec


def a1(row: int, col: int) -> str:
    """1-based row and column to an A1 reference.

    >>> a1(1, 1), a1(12, 28)
    ('A1', 'AB12')
    """
    letters = ""
    while col:
        col, rem = divmod(col - 1, 26)
        letters = chr(65 + rem) + letters
    return f"{letters}{row}"


@dataclass(frozen=True)
class Paint:
    """Everything the sync shows in one school's workbook. Values the school typed are not here."""

    main_sheet: str
    control_col: int | None  # 1-based; None when the school removed the column
    header_row: int
    controls: tuple[tuple[int, Control], ...]  # (sheet row, control)
    notes: dict[tuple[str, str], str]  # (sheet, A1) -> Russian note text

    def digest(self) -> str:
        blob = json.dumps(
            [
                self.main_sheet,
                self.control_col,
                [(r, c.value, c.fill) for r, c in self.controls],
                sorted([list(k), v] for k, v in self.notes.items()),
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
        key = (spec.main_sheet, anchor)
        text = _note_text(loose)
        notes[key] = f"{notes[key]}\n{text}" if key in notes else text
    return Paint(spec.main_sheet, control_col, sheet.header_row, controls, notes)
