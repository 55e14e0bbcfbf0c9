"""Read one workbook file and check it: the path `validate` and the web intake share.

read (FolderBackend.read_file, the same reader as the sync) -> locate -> check_school.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sync.backends.folder import FolderBackend
from sync.consolidate import SCHOOLS_SHEET, SUMMARY_SHEET
from sync.model import Plan, Problem, RawWorkbook, RowReport, School, SchoolSheet, Severity
from sync.reader import UnreadableWorkbook, locate
from sync.spec import TemplateSpec
from sync.validation import check_school


@dataclass(frozen=True)
class CheckedWorkbook:
    """One workbook as read and checked: whose it says it is, its rows and its problems."""

    raw: RawWorkbook
    sheet: SchoolSheet
    school: School | None  # from the hidden service sheet; None when it names no school
    rows: list[RowReport]
    problems: list[Problem]

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity is Severity.ERROR]


def read_school_workbook(
    path: Path, spec: TemplateSpec, skip_sheets: Collection[str] | None = None
) -> tuple[RawWorkbook, SchoolSheet]:
    """Read and locate a school's workbook; SourceError or UnreadableWorkbook (Russian) if not."""
    skip = (spec.instructions_sheet,) if skip_sheets is None else tuple(skip_sheets)
    raw = FolderBackend.read_file(path, skip)
    if {SUMMARY_SHEET, SCHOOLS_SHEET} <= set(raw.sheets) and spec.meta_sheet not in raw.sheets:
        raise UnreadableWorkbook(
            "это муниципальный свод, а не книга школы: проверяйте книги из папки школ."
        )
    return raw, locate(raw, spec)


def school_of(sheet: SchoolSheet) -> School | None:
    """The school the hidden service sheet names, if any."""
    if not sheet.meta.get("school_id"):
        return None
    return School(
        sheet.meta["school_id"],
        sheet.meta.get("school_name", ""),
        is_coordinator=sheet.meta.get("audience") == "coordinator",
    )


def check_workbook_file(
    path: Path,
    spec: TemplateSpec,
    today: date,
    *,
    plan: Plan | None = None,
    school: School | None = None,
    known: Mapping[str, School] | None = None,
    soon_days: int | None = None,
) -> CheckedWorkbook:
    """Read, locate and validate one workbook file. Raises SourceError or UnreadableWorkbook.

    `school` is who it must belong to (None: whoever its service sheet names, as the
    municipality's `known` schools describe it when it is one of them).
    """
    raw, sheet = read_school_workbook(path, spec)
    named = school_of(sheet)
    if school is None and named is not None and known:
        school = known.get(named.id)
    rows, problems = check_school(sheet, school or named, plan, spec, today, soon_days)
    return CheckedWorkbook(raw, sheet, named, rows, problems)
