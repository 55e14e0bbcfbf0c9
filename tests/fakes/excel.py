"""A stand-in for Excel: xlwings' own remote engine, driven with JSON book payloads.

A real workbook is sent to an add-in button as the JSON book an Office.js client sends; the
helpers here build that payload and read the actions xlwings returns (values written, colours,
notes, macros called, the alert). The remote engine belongs to xlwings PRO, which accepts the
license key "noncommercial" (the project's users are schools and municipal bodies); it is set by
the `remote_engine` fixture, in the test process only. A test module using these helpers imports
`remote_engine` (an autouse fixture) so it applies there.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import pytest
import xlwings as xw
from openpyxl import load_workbook

from sync import addin
from sync.backends.folder import FolderBackend
from sync.config import Config
from sync.model import SchoolReport
from sync.paint import paint_school
from sync.pipeline import load_context
from sync.reader import locate
from sync.spec import load_spec
from sync.validation import check_school
from tests.fixtures import TODAY

SPEC = load_spec()
HOST = "roadmap-sync.xlam"
MAIN = SPEC.main_sheet


@pytest.fixture(autouse=True)
def remote_engine(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """xlwings' remote engine, licensed for noncommercial use in this test process only."""
    monkeypatch.setenv("XLWINGS_LICENSE_KEY", "noncommercial")
    if "remote" not in [e.name for e in xw.engines]:
        # xlwings registers it at import time when a key is present; here the key came later.
        from xlwings.pro import _xlremote

        xw.engines.add(xw.Engine(impl=_xlremote.engine))
    # No configuration but the one a test passes or points at.
    monkeypatch.delenv(addin.CONFIG_ENV, raising=False)
    monkeypatch.setenv("HOME", "/nonexistent-home")
    yield
    for book in list(xw.engines["remote"].apps.active.books):
        book.close()


# --- the client's side: a payload from a real workbook, and reading the returned actions ---------


def _json_value(value: object) -> Any:
    """A cell as Office.js sends it: "" for empty, dates as UTC ISO timestamps."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(timespec="milliseconds") + "Z"
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day).isoformat() + ".000Z"
    if isinstance(value, time):
        return str(value)
    return value


def book_json(
    path: Path, *, name: str | None = None, sheet: str | None = None, selection: str = "A1"
) -> dict[str, Any]:
    """The book payload of an Office.js client for this workbook file."""
    wb = load_workbook(path)
    sheets = []
    for ws in wb.worksheets:
        rows = ws.iter_rows(min_row=1, min_col=1, max_row=ws.max_row, max_col=ws.max_column)
        values = [[_json_value(c.value) for c in row] for row in rows]
        notes = [
            {"address": c.coordinate}
            for row in ws.iter_rows()
            for c in row
            if c.comment is not None
        ]
        sheets.append(
            {
                "name": ws.title,
                "values": values or [[]],
                "visibility": "Visible" if ws.sheet_state == "visible" else "Hidden",
                "notes": notes,
                "pictures": [],
                "tables": [],
                "shapes": [],
                "charts": [],
                "pivot_tables": [],
                "show_gridlines": True,
                "print_area": None,
            }
        )
    active = wb.sheetnames.index(sheet) if sheet else 0
    return {
        "client": "Office.js",
        "version": xw.__version__,
        "book": {"name": name or path.name, "active_sheet_index": active, "selection": selection},
        "names": [],
        "sheets": sheets,
    }


def open_book(path: Path | str, **kwargs: Any) -> xw.Book:
    return xw.Book(json=book_json(Path(path), **kwargs))


def actions(book: xw.Book) -> list[dict[str, Any]]:
    return list(book.json()["actions"])


def funcs(book: xw.Book) -> list[str]:
    return [a["func"] for a in actions(book)]


def sheet_index(path: Path | str, name: str) -> int:
    return load_workbook(path).sheetnames.index(name)


def written(book: xw.Book, sheet: int) -> dict[tuple[int, int], Any]:
    """(row, column) 1-based -> value, from every setValues action on a sheet."""
    out = {}
    for a in actions(book):
        if a["func"] == "setValues" and a["sheet_position"] == sheet:
            for r, line in enumerate(a["values"]):
                for c, value in enumerate(line):
                    out[(a["start_row"] + r + 1, a["start_column"] + c + 1)] = value
    return out


def colours(book: xw.Book, sheet: int) -> dict[tuple[int, int], str | None]:
    out = {}
    for a in actions(book):
        if a["func"] == "setRangeColors" and a["sheet_position"] == sheet:
            for r, line in enumerate(a["args"][0]):
                for c, value in enumerate(line):
                    out[(a["start_row"] + r + 1, a["start_column"] + c + 1)] = value
        if a["func"] == "setRangeColor" and a["sheet_position"] == sheet:
            for r in range(a["row_count"]):
                for c in range(a["column_count"]):
                    out[(a["start_row"] + r + 1, a["start_column"] + c + 1)] = a["args"][0]
    return out


def notes(book: xw.Book) -> dict[tuple[int, str], tuple[str, str | None]]:
    """(sheet, A1) -> (action, text) for addNote, setNoteText and deleteNote."""
    out = {}
    for a in actions(book):
        if a["func"] in ("addNote", "setNoteText"):
            out[(a["sheet_position"], a["args"][0].replace("$", ""))] = (a["func"], a["args"][1])
        elif a["func"] == "deleteNote":
            out[(a["sheet_position"], a["args"][0].replace("$", ""))] = ("deleteNote", None)
    return out


def macros(book: xw.Book) -> list[tuple[str, ...]]:
    return [tuple(a["args"]) for a in actions(book) if a["func"] == "runMacro"]


def alerts(book: xw.Book) -> list[list[str]]:
    return [a["args"] for a in actions(book) if a["func"] == "alert"]


def nightly_paint(config: Config, path: str, school_index: int) -> Any:
    """What the nightly sync would paint into this workbook today."""
    spec, plan = load_context(config)
    sheet = locate(FolderBackend.read_file(Path(path)), spec)
    school = config.all_workbooks()[school_index]
    rows, problems = check_school(sheet, school, plan, spec, TODAY, config.soon_days)
    return paint_school(SchoolReport(school, rows, dict(sheet.passport), problems), sheet, spec)


# --- «Проверить» ---------------------------------------------------------------------------------
