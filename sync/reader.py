"""Find the parts of a school's workbook by their names, wherever the school moved them.

A school may rename headers slightly, insert or move columns, add a title above the table or keep a
two-row header ("Заполняет ОО" merged over its columns). The reader finds the main sheet, its header
row and columns, the data rows, the hidden service sheet and the passport, and returns them as a
SchoolSheet. It only raises when there is no roadmap table at all.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from functools import lru_cache

from sync.cells import a1, is_blank
from sync.model import CellValue, Problem, RawWorkbook, SchoolSheet, SheetRow
from sync.problems import PASSPORT_SHEET_MISSING, SHEET_TOO_LONG
from sync.spec import TemplateSpec, normalize_header

HEADER_SEARCH_ROWS = 15
REQUIRED_COLUMNS = ("activity", "status")

Grid = Sequence[Sequence[CellValue]]


class UnreadableWorkbook(Exception):
    """The workbook holds no roadmap table the reader recognises; the message is Russian."""


def locate(raw: RawWorkbook, spec: TemplateSpec) -> SchoolSheet:
    """Locate the main sheet's header, columns and rows, the service sheet and the passport."""
    found = _find_main(raw, spec)
    if found is None:
        raise UnreadableWorkbook(
            f"Не найден лист «{spec.main_sheet}» или строка заголовков со столбцами "
            f"«{spec.column('activity').header}» и «{spec.column('status').header}»."
        )
    name, grid, header_row, columns = found
    problems: list[Problem] = []
    passport_grid = _sheet(raw, spec.passport_sheet)
    if passport_grid is None:
        passport: dict[str, CellValue] = {}
        passport_cells: dict[str, str] = {}
        problems.append(PASSPORT_SHEET_MISSING.at(spec.passport_sheet, sheet=spec.passport_sheet))
    else:
        passport, passport_cells = _read_passport(passport_grid, spec)
    if name in raw.truncated:
        problems.append(
            SHEET_TOO_LONG.at(name, sheet=name, rows=raw.truncated[name], read=len(grid))
        )
    meta_grid = _sheet(raw, spec.meta_sheet)
    return SchoolSheet(
        meta=_read_meta(meta_grid) if meta_grid is not None else {},
        columns=columns,
        header_row=header_row,
        rows=tuple(_read_rows(grid, header_row, columns, spec)),
        passport=passport,
        passport_cells=passport_cells,
        problems=tuple(problems),
        sheet_name=name if name != spec.main_sheet else "",
    )


@lru_cache(maxsize=1 << 16, typed=True)
def header_key(text: CellValue) -> str:
    """A header folded for matching: case, 'ё', spaces, line breaks, a trailing ':' or '*'."""
    s = normalize_header(text)
    while s and s[-1] in "*:.":
        s = s[:-1].rstrip()
    return s


def bare_header(text: CellValue) -> str:
    """A header folded without a hint in brackets after the name: «Статус (выберите из списка)»
    matches as «статус».

    >>> bare_header("Отметка МОУО (заполняет МОУО)")
    'отметка моуо'
    """
    return header_key(re.sub(r"\s*\(.*$", "", str(text or "")))


def _sheet_key(name: str) -> str:
    return normalize_header(name).replace(" ", "")


def _sheet(raw: RawWorkbook, name: str) -> Grid | None:
    want = _sheet_key(name)
    for actual, grid in raw.sheets.items():
        if _sheet_key(actual) == want:
            return grid
    return None


def _find_main(
    raw: RawWorkbook, spec: TemplateSpec
) -> tuple[str, Grid, int, dict[str, int]] | None:
    want = _sheet_key(spec.main_sheet)
    # The sheet named as in the template first, then every other sheet in workbook order.
    names = sorted(raw.sheets, key=lambda n: _sheet_key(n) != want)
    for name in names:
        grid = raw.sheets[name]
        header = find_header(grid, spec)
        if header is not None:
            return name, grid, *header
    return None


class _Names(dict[str, str]):
    """Folded header text -> column key, hashed by identity so matches can be cached per spec."""

    def __hash__(self) -> int:  # type: ignore[override]
        return id(self)

    def __eq__(self, other: object) -> bool:
        return self is other


_NAMES: dict[int, tuple[TemplateSpec, _Names]] = {}


def _column_names(spec: TemplateSpec) -> _Names:
    """Folded header text -> column key; the template's own header wins over another's alias."""
    cached = _NAMES.get(id(spec))
    if cached is not None and cached[0] is spec:
        return cached[1]
    names = _Names()
    for column in spec.columns:
        names.setdefault(header_key(column.header), column.key)
    for column in spec.columns:
        for name in column.names():
            names.setdefault(header_key(name), column.key)
    _NAMES[id(spec)] = (spec, names)
    return names


@lru_cache(maxsize=1 << 16, typed=True)
def _match_header(value: CellValue, names: _Names) -> str | None:
    text = header_key(value)
    if not text:
        return None
    if text in names:
        return names[text]
    return names.get(bare_header(text))


def _columns_of(lines: Sequence[Sequence[CellValue]], names: _Names) -> dict[str, int]:
    """Column keys found in a header of one or more rows; per column the lowest row's text wins."""
    width = max((len(line) for line in lines), default=0)
    columns: dict[str, int] = {}
    for col in range(width):
        for line in reversed(lines):
            key = _match_header(line[col], names) if col < len(line) else None
            if key is not None:
                if key not in columns:
                    columns[key] = col + 1
                break
    return columns


def _looks_like_header(line: Sequence[CellValue], names: _Names) -> bool:
    """Text only, at least half of it known column names: not a data row that names a header."""
    filled = [v for v in line if not is_blank(v)]
    known = sum(1 for v in filled if _match_header(v, names) is not None)
    return bool(filled) and all(isinstance(v, str) for v in filled) and 2 * known >= len(filled)


def find_header(grid: Grid, spec: TemplateSpec) -> tuple[int, dict[str, int]] | None:
    """The 1-based header row (the lower one of a two-row header) and its columns, or None."""
    names = _column_names(spec)
    best: tuple[int, int, dict[str, int]] | None = None  # score, row, columns
    top = grid[:HEADER_SEARCH_ROWS]
    for i in range(len(top)):
        candidates = [(i + 1, _columns_of([top[i]], names))]
        if i + 1 < len(top) and _looks_like_header(top[i + 1], names):
            candidates.append((i + 2, _columns_of([top[i], top[i + 1]], names)))
        for row, columns in candidates:
            if not all(k in columns for k in REQUIRED_COLUMNS):
                continue
            # A pair has to beat a single row; earlier rows win ties.
            if best is None or len(columns) > best[0]:
                best = (len(columns), row, columns)
        if best is not None and best[0] == len(spec.columns):
            break  # every column found: no later row can do better
    return (best[1], best[2]) if best else None


def _clean(value: CellValue) -> CellValue:
    if isinstance(value, str):
        return value.strip() or None  # str.strip() drops non-breaking spaces too
    return value


def _read_rows(
    grid: Grid, header_row: int, columns: dict[str, int], spec: TemplateSpec
) -> list[SheetRow]:
    # The control column is written by the sync itself: it alone does not make a row.
    content_keys = [k for k in columns if k not in spec.keys("sync")]
    rows = []
    for index in range(header_row, len(grid)):
        line = grid[index]
        values = {k: _clean(line[c - 1]) if c - 1 < len(line) else None for k, c in columns.items()}
        if any(not is_blank(values[k]) for k in content_keys):
            rows.append(SheetRow(index + 1, values))
    return rows


def _text(value: CellValue) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, date):
        return value.isoformat()
    return "" if value is None else str(value).strip()


def _read_meta(grid: Grid) -> dict[str, str]:
    meta: dict[str, str] = {}
    for line in grid:
        key = _text(line[0]) if line else ""
        if key:
            meta.setdefault(key, _text(line[1]) if len(line) > 1 else "")
    return meta


def _read_passport(grid: Grid, spec: TemplateSpec) -> tuple[dict[str, CellValue], dict[str, str]]:
    exact = {header_key(f.label): f.key for f in spec.passport}
    # "Категория (ШНОР / ШНСУ / ШНОР и ШНСУ)" is also found as "Категория" or "Категория ОО".
    prefixes = sorted(
        ((header_key(f.label.split(" (", 1)[0]), f.key) for f in spec.passport),
        key=lambda p: -len(p[0]),
    )
    passport: dict[str, CellValue] = {}
    cells: dict[str, str] = {}
    for index, line in enumerate(grid[1:], start=2):  # row 1: "Поле", "Значение"
        label = header_key(line[0]) if line else ""
        if not label:
            continue
        key = exact.get(label)
        if key is None or key in cells:
            key = next((k for p, k in prefixes if label.startswith(p) and k not in cells), None)
        if key is None or key in cells:
            continue
        passport[key] = _clean(line[1]) if len(line) > 1 else None
        cells[key] = a1(index, 2)
    return passport, cells
