"""The intake's own copies of the schools' workbooks, and what changed between two versions.

Every version the intake replaces, and every version a school downloads (the base its upload
will be compared with), is kept in <state_dir>/backups/<school>/ as
`<YYYYmmdd-HHMMSS>-<origin>-<sha256[:16]>.xlsx`. Identical content is kept once. Copies older
than `backup_days` are removed, except the newest one that did not come from the web: the
school's own version from before it used the intake is never lost to a run of uploads. The
sync's `keep_backups` slots (config backups folder) are not used by the intake at all.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from openpyxl.utils import get_column_letter

from sync.fileio import write_atomically
from sync.model import CellValue, SchoolSheet
from sync.spec import TemplateSpec
from sync.workbook_check import read_school_workbook

# Column keys the sync itself writes (its «Контроль»): a repaint is not a change by anyone.
PAINTED_KEYS = frozenset({"control"})
STAMP = "%Y%m%d-%H%M%S"


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Copy:
    path: Path
    at: datetime
    origin: str
    sha: str  # the first 16 hex digits


def _parse(path: Path) -> Copy | None:
    parts = path.stem.split("-")
    if len(parts) != 4 or path.suffix != ".xlsx":
        return None
    try:
        at = datetime.strptime(f"{parts[0]}-{parts[1]}", STAMP)
    except ValueError:
        return None
    return Copy(path, at, parts[2], parts[3])


class WebBackups:
    def __init__(self, root: Path, days: int):
        self.root, self.days = root, days

    def folder(self, school_id: str) -> Path:
        return self.root / school_id

    def copies(self, school_id: str) -> list[Copy]:
        folder = self.folder(school_id)
        if not folder.is_dir():
            return []
        found = [c for c in (_parse(p) for p in folder.glob("*.xlsx")) if c is not None]
        return sorted(found, key=lambda c: (c.at, c.path.name))

    def find(self, school_id: str, sha: str) -> Path | None:
        for c in self.copies(school_id):
            if c.sha == sha[:16]:
                return c.path
        return None

    def keep(self, school_id: str, data: bytes, origin: str, now: datetime) -> Path:
        """Keep a copy of `data` (once per content); returns its path. Raises OSError."""
        sha = sha256_of(data)
        existing = self.find(school_id, sha)
        if existing is not None:
            return existing
        folder = self.folder(school_id)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{now.astimezone():{STAMP}}-{origin}-{sha[:16]}.xlsx"
        write_atomically(path, lambda f: f.write(data))
        self.expire(school_id, now)
        return path

    def expire(self, school_id: str, now: datetime) -> list[Path]:
        """Remove copies older than `days`, never the newest version not from the web."""
        copies = self.copies(school_id)
        not_web = [c for c in copies if c.origin != "web"]
        protected = not_web[-1].path if not_web else None
        cutoff = now.replace(tzinfo=None) - timedelta(days=self.days)  # names: local time
        removed = []
        for c in copies:
            if c.at < cutoff and c.path != protected:
                c.path.unlink(missing_ok=True)
                removed.append(c.path)
        return removed


def _text(value: CellValue) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def cells_of(sheet: SchoolSheet, spec: TemplateSpec) -> dict[str, str]:
    """What the school typed, by cell («Лист!L5»): the rows' values and the passport."""
    name = sheet.sheet_name or spec.main_sheet
    cells: dict[str, str] = {}
    for row in sheet.rows:
        for key, value in row.values.items():
            col = sheet.columns.get(key)
            if col is None or key in PAINTED_KEYS:
                continue
            cells[f"{name}!{get_column_letter(col)}{row.row}"] = _text(value)
    for key, ref in sheet.passport_cells.items():
        cells[f"{spec.passport_sheet}!{ref}"] = _text(sheet.passport.get(key))
    return cells


def read_cells(path: Path, spec: TemplateSpec) -> dict[str, str]:
    """Read a workbook through the sync's reader and return its typed cells."""
    _raw, sheet = read_school_workbook(path, spec)
    return cells_of(sheet, spec)


def lost_changes(
    base: dict[str, str], current: dict[str, str], upload: dict[str, str]
) -> list[str]:
    """Cells changed from `base` to `current` (someone's later edit) that `upload` lacks."""
    changed: Iterable[str] = (
        ref
        for ref in sorted(set(base) | set(current), key=_natural)
        if base.get(ref, "") != current.get(ref, "")
    )
    return [ref for ref in changed if upload.get(ref, "") != current.get(ref, "")]


def _natural(ref: str) -> tuple[str, int, str]:
    sheet, _, a1 = ref.rpartition("!")
    letters = a1.rstrip("0123456789")
    digits = a1[len(letters) :]
    return sheet, int(digits) if digits else 0, letters
