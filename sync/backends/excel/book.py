"""The workbook open in Excel, through xlwings: its values in; the paint and the master out.

The Excel add-in (sync.addin) runs inside Excel through xlwings' RunPython, and this is the one
module that talks to xlwings. It uses only the part of xlwings' API that both the desktop engine
(Excel on Windows and macOS) and xlwings' remote engine (`xw.Book(json=...)`) implement: cell
values, fill colours, notes, `App.alert`, `App.macro`, `App.selection` and `Book.save`. So the
tests drive this very code through the remote engine and check the actions it returns.

Beside it: `backend` (a sync into the open master) and `inbox` (the «Отправить» files).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import xlwings as xw
from lxml import etree

from sync.backends.xlsxio import MAX_ROWS
from sync.cells import a1, parse_a1
from sync.consolidate import HEADER_ROW, ROWS_SHEET, SCHOOLS_SHEET, SUMMARY_SHEET
from sync.model import CellValue, RawWorkbook, SchoolSheet
from sync.notes import ours_among, plan_notes
from sync.paint import (
    NOTE_CELLS_KEY,
    Cell,
    Paint,
    format_note_cells,
    parse_note_cells,
    ref_order,
)
from sync.review import MARK_HEADER, MasterMark, marks_from_grid
from sync.spec import TemplateSpec, normalize_header

if TYPE_CHECKING:
    from sync.consolidate import Master, MasterSheet

TITLE = "Дорожная карта"
COLOR_BLOCK = 10_000  # cells per Range.set_colors call (xlwings' limit)
VALUE_BLOCK = 2_000  # rows per write of a master sheet
HEADER_FILL = "#D9D9D9"  # as sync.builders.master_xlsx
# The helper macros of macros/RoadmapSync.bas that lift and restore sheet protection.
UNPROTECT_MACRO = "RoadmapUnprotect"
PROTECT_MACRO = "RoadmapProtect"
UNLOCK_MACRO = "RoadmapUnlock"  # the master's review columns: unlocked, with their dropdown

# A school's workbook is untrusted input: no entities, no DTD fetching, no huge trees.
SAFE_XML = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


class BookError(Exception):
    """The open workbook cannot be read or written as asked; str() is Russian, for the alert."""


def caller_book() -> xw.Book:
    """The workbook whose button called Python (xlwings' RunPython sets it)."""
    return xw.Book.caller()


def sheet_key(name: str) -> str:
    """A sheet name folded for matching, as the reader folds it: case, 'ё' and spaces."""
    return normalize_header(name).replace(" ", "")


def find_sheet(book: xw.Book, name: str) -> xw.Sheet | None:
    """The sheet named so (case, 'ё' and spaces aside), or None."""
    want = sheet_key(name)
    for sheet in book.sheets:
        if sheet_key(sheet.name) == want:
            return sheet
    return None


def sheet_values(sheet: xw.Sheet, max_rows: int = MAX_ROWS) -> tuple[list[list[CellValue]], int]:
    """A sheet's values as a grid anchored at A1, as the reader expects, and its used rows.

    Like the folder backend, only the first `max_rows` rows are read: a value typed by accident
    a million rows down must not keep Excel busy for minutes.
    """
    last = sheet.used_range.last_cell
    cells = sheet.range((1, 1), (min(last.row, max_rows), last.column))
    try:
        values = cells.options(ndim=2).value
    except ValueError:
        # xlwings' remote engine takes text such as "2021-09-01T09:00:00" (the service sheet's
        # built_at) for a timestamp and fails on it; the raw values are what the client sent.
        values = _raw_grid(cells.raw_value)
    return [list(row) for row in values], last.row


# What Office.js sends for a date-formatted cell: an ISO timestamp in UTC.
_CLIENT_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z")


def _raw_grid(raw: Any) -> list[list[CellValue]]:
    """Raw values as a grid of cell values: empty cells None, timestamps naive datetimes."""
    if not isinstance(raw, list | tuple):
        raw = [[raw]]
    elif raw and not isinstance(raw[0], list | tuple):
        raw = [raw]

    def clean(value: Any) -> CellValue:
        if value is None or value == "":
            return None
        if isinstance(value, datetime):
            return value.replace(tzinfo=None)
        if isinstance(value, str) and _CLIENT_TIMESTAMP.fullmatch(value):
            return datetime.fromisoformat(value[:-1])
        cell: CellValue = value  # Excel hands back only str, float, bool and datetime
        return cell

    return [[clean(v) for v in row] for row in raw]


def read_book(book: xw.Book) -> RawWorkbook:
    """Every sheet of the open workbook (hidden ones too) as values, like a backend's read."""
    sheets: dict[str, list[list[CellValue]]] = {}
    truncated: dict[str, int] = {}
    for sheet in book.sheets:
        sheets[sheet.name], used = sheet_values(sheet)
        if used > MAX_ROWS:
            truncated[sheet.name] = used
    blob = json.dumps(sheets, ensure_ascii=False, default=str)
    return RawWorkbook(sheets, None, hashlib.sha256(blob.encode()).hexdigest(), truncated)


def excel_text(value: str) -> str:
    """A string Excel stores as typed: never a formula, a number or a date.

    >>> excel_text("=1+1"), excel_text("Май 2022")
    ("'=1+1", "'Май 2022")
    """
    return "'" + value


def _cell_value(value: CellValue) -> Any:
    if isinstance(value, str):
        return excel_text(value) if value else None
    if isinstance(value, time | timedelta):
        return str(value)
    return value


def _hex(rgb: str | None) -> str | None:
    return f"#{rgb.lstrip('#').upper()}" if rgb else None


def _runs(rows: Sequence[int]) -> Iterator[tuple[int, int]]:
    """Consecutive stretches of sorted row numbers, as (first index, last index) into `rows`."""
    start = 0
    for i in range(1, len(rows) + 1):
        if i == len(rows) or rows[i] != rows[i - 1] + 1:
            yield start, i - 1
            start = i


# --- the open workbook -----------------------------------------------------------------------


@dataclass
class PaintResult:
    """What showing one paint wrote into the open workbook."""

    controls: int = 0
    values: int = 0  # other cells set (the coordinator's marks)
    notes: int = 0
    deleted: int = 0
    dropped: int = 0
    warnings: list[str] = field(default_factory=list)  # Russian, for the alert


@dataclass(frozen=True)
class Selection:
    """The selected cell: its sheet, row and column, with the sheet's first row and its own row."""

    sheet: str
    row: int
    column: int
    header: list[CellValue]
    values: list[CellValue]


class OpenBook:
    """A workbook open in Excel, as the add-in's buttons see it.

    `host` is the workbook holding the macros of RoadmapSync.bas (the add-in or the school's
    .xlsm): with it, sheet protection is lifted around writing locked cells through its
    RoadmapUnprotect and RoadmapProtect. `password` is the configured protection password.
    """

    def __init__(self, book: xw.Book, *, host: str = "", password: str = "") -> None:
        self.book = book
        self.host = host
        self.password = password

    @property
    def name(self) -> str:
        return self.book.name

    @property
    def path(self) -> Path | None:
        """The file the workbook was last saved to, when it is a file on this computer."""
        full = Path(self.book.fullname)
        return full if full.is_absolute() and full.is_file() else None

    def read(self) -> RawWorkbook:
        """Every sheet's values."""
        return read_book(self.book)

    def alert(self, text: str, *, problem: bool = False) -> None:
        """A message box over Excel (info, or a warning sign when something is wrong)."""
        self.book.app.alert(text, title=TITLE, buttons="ok", mode="critical" if problem else "info")

    def save(self) -> None:
        """Save the workbook where it is, as Ctrl+S does."""
        self.book.save()

    # -- sheet protection -------------------------------------------------------------------

    def _macro(self, name: str, sheet: str) -> Any:
        return self._macro_with(name, sheet, self.password)

    @contextmanager
    def unprotected(self, sheets: Iterable[str], warnings: list[str]) -> Iterator[None]:
        """Sheet protection lifted while writing locked cells, then restored as it was.

        Without a host (no macros to call) nothing is lifted. A restore that fails is reported in
        `warnings`, never silently left.
        """
        if not self.host:
            yield
            return
        lifted: list[str] = []
        try:
            for sheet in dict.fromkeys(sheets):
                # The desktop engine returns the macro's answer; the remote one queues the call.
                if self._macro(UNPROTECT_MACRO, sheet) is False:
                    raise BookError(
                        f"Не удалось снять защиту с листа «{sheet}»: пароль защиты в настройках "
                        "(ключ protection_password в разделе [template]) не подходит к книге. "
                        "Столбец «Контроль» и примечания не записаны."
                    )
                lifted.append(sheet)
            yield
        finally:
            for sheet in reversed(lifted):
                if self._macro(PROTECT_MACRO, sheet) is False:
                    warnings.append(
                        f"Защита листа «{sheet}» не восстановлена: включите её вручную "
                        "(Рецензирование — Защитить лист)."
                    )

    # -- the paint --------------------------------------------------------------------------

    def show_paint(
        self,
        paint: Paint,
        sheet: SchoolSheet,
        raw: RawWorkbook,
        spec: TemplateSpec,
        *,
        notes: bool = True,
        values: Mapping[Cell, CellValue] | None = None,
        keep_column: int | None = None,
    ) -> PaintResult:
        """Write the Контроль values and colours and, with `notes`, the notes of the problems.

        `sheet` and `raw` are what the paint was computed from (the same workbook). `values` are
        more locked cells to set meanwhile (the coordinator's marks), as text. `keep_column`:
        a main-sheet column whose notes of ours stay as they are (the «Отметка МОУО» comments
        when the review marks are not known here).
        """
        result = PaintResult()
        main = find_sheet(self.book, sheet.sheet_name or spec.main_sheet)
        if main is None:
            raise BookError(f"В книге нет листа «{sheet.sheet_name or spec.main_sheet}».")
        meta = find_sheet(self.book, spec.meta_sheet) if notes else None
        cells = [(find_sheet(self.book, s), ref, v) for (s, ref), v in (values or {}).items()]
        locked = [main.name] + ([meta.name] if meta is not None else [])
        locked += [found.name for found, _, _ in cells if found is not None]
        with self.unprotected(locked, result.warnings):
            result.controls = self._write_controls(main, paint)
            result.values += self._write_reviews(main, paint, raw)
            for found, ref, value in cells:
                if found is not None:
                    found.range(ref).value = _cell_value(value)
                    result.values += 1
            if notes:
                self._write_notes(main, meta, paint, raw, spec, result, keep_column)
        return result

    @staticmethod
    def _write_controls(main: xw.Sheet, paint: Paint) -> int:
        if paint.control_col is None or not paint.controls:
            return 0
        col = paint.control_col
        controls = sorted(paint.controls, key=lambda rc: rc[0])
        rows = [r for r, _ in controls]
        for first, last in _runs(rows):
            for start in range(first, last + 1, COLOR_BLOCK):
                block = controls[start : min(last + 1, start + COLOR_BLOCK)]
                cells = main.range((block[0][0], col), (block[-1][0], col))
                cells.value = [[c.value] for _, c in block]
                cells.set_colors([[_hex(c.fill)] for _, c in block])
        return len(controls)

    @staticmethod
    def _write_reviews(main: xw.Sheet, paint: Paint, raw: RawWorkbook) -> int:
        """The coordinator's marks into «Отметка МОУО», as text ("" clears a cell); only when
        the column still has the template's header (the school's own column is never touched)."""
        col = paint.review_col
        if not col or not paint.reviews:
            return 0
        grid = raw.sheets.get(main.name) or []
        line = grid[paint.header_row - 1] if 0 < paint.header_row <= len(grid) else []
        header = line[col - 1] if col - 1 < len(line) else None
        if normalize_header(header) != normalize_header(paint.review_header or MARK_HEADER):
            return 0
        marks = sorted(paint.reviews)
        rows = [r for r, _ in marks]
        for first, last in _runs(rows):
            block = marks[first : last + 1]
            cells = main.range((block[0][0], col), (block[-1][0], col))
            cells.value = [[_cell_value(text)] for _, text in block]
        return len(marks)

    def _write_notes(
        self,
        main: xw.Sheet,
        meta: xw.Sheet | None,
        paint: Paint,
        raw: RawWorkbook,
        spec: TemplateSpec,
        result: PaintResult,
        keep_column: int | None = None,
    ) -> None:
        col = paint.control_col
        anchor: Cell = (main.name, a1(paint.header_row, col) if col else "A1")

        def fallback(cell: Cell) -> Cell | None:
            sheet, ref = cell
            row = ref_order(ref)[0]
            if sheet == main.name and col and row > paint.header_row:
                return (main.name, a1(row, col))
            return anchor if cell != anchor else None

        sheets = {s.name: s for s in self.book.sheets}
        wanted: dict[Cell, str] = {}
        for (sheet_name, ref), text in paint.notes.items():
            found = find_sheet(self.book, sheet_name)
            cell = (found.name, ref) if found is not None else anchor
            wanted[cell] = f"{wanted[cell]}\n{text}" if cell in wanted else text
        registry_row, listed = note_registry(raw, spec)
        listed = {c for c in listed if c[0] in sheets}
        kept = {
            c for c in listed if keep_column and c[0] == main.name and ref_col(c[1]) == keep_column
        }
        listed -= kept
        looked = set(wanted) | listed | {f for f in map(fallback, wanted) if f is not None}
        occupied = {c for c in looked if sheets[c[0]].range(c[1]).note is not None}
        # sync.notes' rule with what xlwings shows of a note: its cell only (the remote engine
        # reads neither its author nor its text), so the service sheet's list decides.
        ours = ours_among(occupied, listed=listed)
        plan = plan_notes(wanted, occupied, ours, fallback)
        for sheet_name, ref in sorted(plan.delete):
            note = sheets[sheet_name].range(ref).note
            if note is not None:
                note.delete()
        for (sheet_name, ref), text in plan.write.items():
            target = sheets[sheet_name].range(ref)
            note = target.note
            if note is None:
                target.add_note(text)
            else:
                note.text = text
        result.notes, result.deleted, result.dropped = (
            len(plan.write),
            len(plan.delete),
            len(plan.dropped),
        )
        registered = set(plan.write) | kept  # kept notes stay ours for the next sync
        if meta is not None and (registered or registry_row is not None):
            row = registry_row or _next_free_row(raw, spec)
            meta.range((row, 1), (row, 2)).value = [
                [NOTE_CELLS_KEY, excel_text(format_note_cells(registered)) if registered else None]
            ]

    # -- the coordinator's master -------------------------------------------------------------

    def is_master(self) -> bool:
        """Whether this is a consolidated master (it has the «Свод» and «Школы» sheets)."""
        return all(find_sheet(self.book, n) is not None for n in (SUMMARY_SHEET, SCHOOLS_SHEET))

    def write_master(self, master: Master) -> list[str]:
        """Replace every master sheet's contents with this run's tables, then save the book.

        A protected sheet is lifted around the write and protected again as it was (with the
        host's macros). A sheet with columns the coordinator edits (`MasterSheet.editable`, the
        review marks) keeps its formats: only its contents and colours are cleared, and its
        editable data cells are unlocked again to the new last row (with their dropdown).
        Returns the warnings (Russian) of protections that could not be put back.
        """
        warnings: list[str] = []
        for table in master.sheets:
            sheet = find_sheet(self.book, table.name)
            if sheet is None:
                sheet = self.book.sheets.add(table.name[:31], after=self.book.sheets[-1])
                _write_table(sheet, table, master)
                self._master_columns(sheet, table, warnings)
                continue
            with self.unprotected([sheet.name], warnings):
                if table.editable:
                    used = sheet.used_range.last_cell
                    sheet.clear_contents()
                    if used.row > HEADER_ROW:
                        sheet.range((HEADER_ROW + 1, 1), (used.row, used.column)).color = None
                else:
                    sheet.clear()
                _write_table(sheet, table, master)
                self._master_columns(sheet, table, warnings)
        self.save()
        return warnings

    def _master_columns(self, sheet: xw.Sheet, table: MasterSheet, warnings: list[str]) -> None:
        """Hidden columns hidden; the editable columns' data cells unlocked, with a dropdown
        where the column has choices (through the host's macro: xlwings sets no cell lock)."""
        for c in table.hidden_columns:
            sheet.range((HEADER_ROW, c + 1)).column_width = 0
        n = len(table.rows)
        if not (self.host and n and table.editable):
            return
        for c, choices in sorted(table.editable.items()):
            cells = sheet.range((HEADER_ROW + 1, c + 1), (HEADER_ROW + n, c + 1))
            if (
                self._macro_with(UNLOCK_MACRO, sheet.name, cells.address, ",".join(choices))
                is False
            ):
                warnings.append(
                    f"Столбец «{table.headers[c]}» листа «{sheet.name}» не открыт для отметок:"
                    " снимите защиту листа и защитите его снова (Рецензирование — Защитить лист),"
                    " оставив этот столбец без галочки «Защищаемая ячейка»."
                )

    def _macro_with(self, name: str, sheet: str, *args: str) -> Any:
        qualified = "'{}'!{}".format(self.host.replace("'", "''"), name)
        try:
            return self.book.app.macro(qualified)(self.book.name, sheet, *args)
        except Exception as e:  # the engine's own error type (COM, AppleScript)
            raise BookError(
                f"Не удалось вызвать макрос {name} из «{self.host}» ({e}). "
                "Установите надстройку заново (инструкция: docs/addin.md)."
            ) from e

    def read_marks(self) -> tuple[list[MasterMark], list[str]]:
        """The coordinator's marks in the open master's «Мероприятия» as they are on screen
        (typed and not yet saved included), and the lines that could not be read (Russian)."""
        sheet = find_sheet(self.book, ROWS_SHEET)
        if sheet is None:
            # A renamed sheet stays in the book as it is (the refresh adds a new one).
            return [], [
                f"В открытом своде нет листа «{ROWS_SHEET}»: отметки МОУО не прочитаны, лист"
                " создаётся заново."
            ]
        grid, _ = sheet_values(sheet)
        return marks_from_grid(grid, sheet.name)

    def selection(self) -> Selection | None:
        """The selected cell (the first one of a range), with its sheet's first row and its row."""
        selected = self.book.app.selection
        if selected is None:
            return None
        sheet = selected.sheet
        last = sheet.used_range.last_cell
        width = max(last.column, selected.column)

        def row_values(row: int) -> list[CellValue]:
            return list(sheet.range((row, 1), (row, width)).options(ndim=2).value[0])

        return Selection(
            sheet.name,
            selected.row,
            selected.column,
            row_values(HEADER_ROW),
            row_values(selected.row),
        )


def ref_col(ref: str) -> int:
    """The 1-based column of an A1 reference."""
    return parse_a1(ref)[1]


def note_registry(raw: RawWorkbook, spec: TemplateSpec) -> tuple[int | None, set[Cell]]:
    """The service sheet's row of NOTE_CELLS_KEY (1-based, None when absent) and its cells."""
    grid = _meta_grid(raw, spec)
    for index, line in enumerate(grid, start=1):
        if line and str(line[0] or "").strip() == NOTE_CELLS_KEY:
            return index, parse_note_cells(line[1] if len(line) > 1 else None)
    return None, set()


def _meta_grid(raw: RawWorkbook, spec: TemplateSpec) -> list[list[CellValue]]:
    want = sheet_key(spec.meta_sheet)
    for name, grid in raw.sheets.items():
        if sheet_key(name) == want:
            return [list(line) for line in grid]
    return []


def _next_free_row(raw: RawWorkbook, spec: TemplateSpec) -> int:
    grid = _meta_grid(raw, spec)
    filled = [i for i, line in enumerate(grid, start=1) if any(v not in (None, "") for v in line)]
    return (filled[-1] if filled else 0) + 1


def _write_table(sheet: xw.Sheet, table: MasterSheet, master: Master) -> None:
    width = max([1, len(table.headers), *(len(r) for r in table.rows)])
    # The title block above the header, as the file writer lays it out (HEADER_ROW).
    lines: list[list[Any]] = [[_cell_value(master.title)], [_cell_value(master.subtitle)]]
    lines += [[None]] * (HEADER_ROW - 1 - len(lines))
    lines.append([_cell_value(h) for h in table.headers])
    for row in table.rows:
        lines.append([_cell_value(v) for v in row] + [None] * (width - len(row)))
    for line in lines[:HEADER_ROW]:
        line += [None] * (width - len(line))
    for start in range(0, len(lines), VALUE_BLOCK):
        block = lines[start : start + VALUE_BLOCK]
        sheet.range((start + 1, 1), (start + len(block), width)).value = block
    header = sheet.range((HEADER_ROW, 1), (HEADER_ROW, width))
    header.font.bold = True
    header.color = HEADER_FILL
    n = len(table.rows)
    if not n:
        return
    for col, fmt in sorted(table.number_formats.items()):
        sheet.range((HEADER_ROW + 1, col + 1), (HEADER_ROW + n, col + 1)).number_format = fmt
    by_column: dict[int, dict[int, str]] = {}
    for (r, c), rgb in table.fills.items():
        by_column.setdefault(c, {})[r] = rgb
    for c, fills in sorted(by_column.items()):
        rows = sorted(fills)
        start = 0
        for i in range(1, len(rows) + 1):
            ends = (
                i == len(rows) or rows[i] != rows[i - 1] + 1 or fills[rows[i]] != fills[rows[start]]
            )
            if ends:
                first, last = rows[start], rows[i - 1]
                cells = sheet.range((HEADER_ROW + 1 + first, c + 1), (HEADER_ROW + 1 + last, c + 1))
                cells.color = _hex(fills[first])
                start = i
