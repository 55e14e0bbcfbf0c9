"""Import boundaries: the domain modules touch no storage library and never read the clock.

The domain (model, deadlines, status, validation, consolidate, paint, the reader's column finding,
the importer's recogniser) is pure: storage lives in sync.backends and sync.builders, the time of
day comes in as a parameter (`today`, `now`). The check reads each module's source (every import,
also inside functions), so a lazy `import openpyxl` in a helper fails it as well.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SYNC = Path(__file__).resolve().parents[1] / "sync"

# Pure today. sync/plan.py is not here: load_plan/write_plan read and write plan files through
# sync.backends.xlsxio (its item-building part is pure, but the module is the plan's file edge).
DOMAIN = (
    "model",
    "deadlines",
    "spec",
    "status",
    "validation",
    "consolidate",
    "paint",
    "reader",
    "cells",
    "text",
    "importer.pasted",
    "importer.types",
    "importer.headers",
    "importer.period",
    "importer.recogniser",
    "states",
    "problems",
    "notes",
)
STORAGE = (
    "openpyxl",
    "python_calamine",
    "calamine",
    "gspread",
    "xlwings",
    "xlsxwriter",
    "lxml",
    "google",
    "googleapiclient",
    "sqlite3",
    "docx",
    "pdfplumber",
    "httpx",
)
# The storage side of sync itself: a domain module reaching into it depends on storage too.
STORAGE_SIDE = ("sync.backends", "sync.builders", "sync.web", "sync.history", "sync.pipeline")
CLOCK_CALLS = ("now", "utcnow", "today", "time", "monotonic", "perf_counter", "time_ns")
CLOCK_OWNERS = ("datetime", "date", "time")


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def _within(name: str, roots: tuple[str, ...]) -> bool:
    return any(name == r or name.startswith(r + ".") for r in roots)


def violations(source: str) -> list[str]:
    """What in the module's source breaks the domain's boundaries, one line each."""
    found = []
    for node in ast.walk(ast.parse(source)):
        where = f"строка {getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _within(alias.name, STORAGE + STORAGE_SIDE):
                    found.append(f"{where}: import {alias.name}")
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if _within(node.module, STORAGE + STORAGE_SIDE):
                found.append(f"{where}: from {node.module} import …")
            if node.module == "time" and any(a.name in CLOCK_CALLS for a in node.names):
                found.append(f"{where}: from time import {', '.join(a.name for a in node.names)}")
        elif isinstance(node, ast.Attribute) and node.attr in CLOCK_CALLS:
            owner = _dotted(node.value).rsplit(".", 1)[-1]
            if owner in CLOCK_OWNERS:
                found.append(f"{where}: {_dotted(node)} — часы читаются в домене")
    return found


@pytest.mark.parametrize("module", DOMAIN)
def test_domain_module_has_no_storage_and_no_clock(module: str) -> None:
    path = SYNC.joinpath(*module.split(".")).with_suffix(".py")
    assert path.is_file(), path
    assert violations(path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize(
    ("source", "what"),
    [
        ("import openpyxl\n", "import openpyxl"),
        ("def f():\n    from openpyxl.styles import Font\n", "from openpyxl.styles"),
        ("import gspread as g\n", "import gspread"),
        ("from sync.backends.xlsxio import write_grid\n", "from sync.backends.xlsxio"),
        ("import sqlite3\n", "import sqlite3"),
        ("from datetime import date\nx = date.today()\n", "date.today"),
        ("import datetime\nx = datetime.datetime.now()\n", "datetime.datetime.now"),
        ("import time\nx = time.time()\n", "time.time"),
        ("from time import monotonic\n", "from time import monotonic"),
    ],
)
def test_the_check_catches(source: str, what: str) -> None:
    found = violations(source)
    assert len(found) == 1 and what in found[0], found


def test_the_check_passes_pure_code() -> None:
    source = (
        "from datetime import date, datetime\n"
        "from sync.model import Period\n"
        "def f(today: date, now: datetime) -> date:\n"
        "    return max(today, now.date())\n"
    )
    assert violations(source) == []


def imported_test_modules(tree: ast.Module) -> list[str]:
    """The test modules (tests.test_*) a module imports: shared helpers live in tests/fixtures.py
    and tests/fakes/, so no test module depends on another's."""
    found = []
    for node in ast.walk(tree):
        names = (
            [node.module or ""]
            if isinstance(node, ast.ImportFrom)
            else [a.name for a in node.names]
            if isinstance(node, ast.Import)
            else []
        )
        found += [n for n in names if n.startswith("tests.test_")]
    return found


def test_no_test_module_imports_another() -> None:
    tests_dir = Path(__file__).resolve().parent
    offenders = {
        p.name: imported_test_modules(ast.parse(p.read_text(encoding="utf-8")))
        for p in sorted(tests_dir.rglob("*.py"))
    }
    assert {k: v for k, v in offenders.items() if v} == {}
    assert imported_test_modules(ast.parse("from tests.test_x import y")) == ["tests.test_x"]
