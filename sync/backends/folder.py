"""The embedded default storage: a folder of .xlsx workbooks, one per school."""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Collection, Iterator, Sequence
from datetime import date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING

from lxml import etree
from openpyxl import Workbook, load_workbook
from openpyxl.comments import Comment
from openpyxl.styles import PatternFill
from openpyxl.utils.datetime import to_excel
from openpyxl.worksheet.worksheet import Worksheet

from sync.backends.base import SourceError, SourceState, TransientSourceError, WriteResult
from sync.backends.isolated import ReadFailure, shared_pool
from sync.builders.school_xlsx import NOTE_AUTHOR, build_school_workbook
from sync.model import Plan, RawWorkbook, School
from sync.paint import NOTE_CELLS_KEY, Cell, Paint, format_note_cells, parse_note_cells
from sync.spec import TemplateSpec, normalize_header

if TYPE_CHECKING:
    from sync.consolidate import Master

NO_FILL = PatternFill(fill_type=None)


def lock_files(path: Path) -> list[Path]:
    """The files Excel and LibreOffice leave beside a workbook while it is open."""
    name = path.name
    return [
        path.with_name("~$" + name),
        path.with_name("~$" + name[2:]),  # Excel trims long names
        path.with_name(f".~lock.{name}#"),
    ]


def is_open(path: Path) -> bool:
    return any(p.exists() for p in lock_files(path))


def stamp_of(path: Path) -> str:
    st = path.stat()
    return f"{st.st_mtime_ns}:{st.st_size}"


def _note_registry(meta: Worksheet | None) -> tuple[set[Cell], int | None]:
    """The cells the service sheet lists as holding our notes, and the row that lists them."""
    if meta is None:
        return set(), None
    for row in meta.iter_rows(min_col=1, max_col=2):
        if str(row[0].value or "").strip() == NOTE_CELLS_KEY:
            return parse_note_cells(row[1].value), row[0].row
    return set(), None


_SHEET_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


def restore_cached_values(saved: Path, original: bytes, wb: Workbook) -> None:
    """Put formulas' last computed values back into a workbook openpyxl has saved.

    openpyxl keeps a school's formulas but drops their cached results, so every reader that
    does not recalculate (calamine, the next sync) would see an empty cell. The results are taken
    from the original file and written next to each formula in the saved one.
    """
    formulas = {
        i: {c.coordinate for c in ws._cells.values() if c.data_type == "f"}
        for i, ws in enumerate(wb.worksheets)
    }
    formulas = {i: refs for i, refs in formulas.items() if refs}
    if not formulas:
        return
    cached = load_workbook(io.BytesIO(original), data_only=True)
    with zipfile.ZipFile(saved) as z:
        parts = [(info, z.read(info.filename)) for info in z.infolist()]
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    patched = []
    for info, body in parts:
        index = _sheet_index(info.filename)
        if index is not None and index in formulas:
            root = etree.fromstring(body, parser)
            values = cached.worksheets[index]
            for c in root.iter(f"{{{_SHEET_NS}}}c"):
                if c.get("r") in formulas[index] and c.find(f"{{{_SHEET_NS}}}f") is not None:
                    _set_cached(c, values[c.get("r")].value)
            body = etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True)
        patched.append((info, body))
    with zipfile.ZipFile(saved, "w", zipfile.ZIP_DEFLATED) as z:
        for info, body in patched:
            z.writestr(info, body)


def _sheet_index(name: str) -> int | None:
    """openpyxl saves the n-th worksheet as xl/worksheets/sheet{n}.xml."""
    m = re.fullmatch(r"xl/worksheets/sheet(\d+)\.xml", name)
    return int(m.group(1)) - 1 if m else None


def _set_cached(c: etree._Element, value: object) -> None:
    v = c.find(f"{{{_SHEET_NS}}}v")
    if v is None:
        v = etree.SubElement(c, f"{{{_SHEET_NS}}}v")
    if value is None:
        c.remove(v)
        return
    if isinstance(value, bool):
        c.set("t", "b")
        v.text = "1" if value else "0"
    elif isinstance(value, datetime | date | time):
        v.text = str(to_excel(value))
    elif isinstance(value, int | float):
        v.text = repr(value) if isinstance(value, float) else str(value)
    elif isinstance(value, str) and value.startswith("#") and value.isupper():
        c.set("t", "e")  # #N/A, #DIV/0! and the like
        v.text = value
    else:
        c.set("t", "str")
        v.text = str(value)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def keep_backup(data: bytes, target: Path, folder: Path, keep: int) -> None:
    """Copy a workbook's previous version into its backups folder, keeping the newest `keep`.

    Raises OSError: a caller that cannot back up must not replace the file.
    """
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    (folder / f"{target.stem}.{stamp}{target.suffix}").write_bytes(data)
    kept = sorted(folder.glob(f"{target.stem}.*{target.suffix}"))
    for old in kept[: max(0, len(kept) - max(1, keep))]:
        old.unlink(missing_ok=True)


def _source_result(result: RawWorkbook | ReadFailure) -> RawWorkbook | SourceError:
    if isinstance(result, ReadFailure):
        kind = TransientSourceError if result.transient else SourceError
        return kind(str(result))
    return result


def _fill(rgb: str | None) -> PatternFill:
    if not rgb:
        return NO_FILL
    return PatternFill(fill_type="solid", start_color=rgb, end_color=rgb)


class FolderBackend:
    """School workbooks in a folder, the master as an .xlsx file, backups beside."""

    def __init__(
        self,
        master_path: Path,
        backups_dir: Path,
        keep_backups: int = 10,
        skip_sheets: Collection[str] = (),
    ):
        self.master_path = Path(master_path)
        self.backups_dir = Path(backups_dir)
        self.keep_backups = keep_backups
        self.skip_sheets = tuple(skip_sheets)  # sheets the core never needs (the instructions)

    def survey(self, schools: Sequence[School]) -> dict[str, SourceState]:
        states = {}
        for school in schools:
            path = Path(school.source)
            try:
                st = path.stat()
            except OSError:
                states[school.id] = SourceState(exists=False)
                continue
            states[school.id] = SourceState(
                exists=True,
                stamp=f"{st.st_mtime_ns}:{st.st_size}",
                modified=datetime.fromtimestamp(st.st_mtime).astimezone(),
                is_open=is_open(path),
            )
        return states

    def read(self, school: School) -> RawWorkbook:
        return self.read_file(Path(school.source), self.skip_sheets)

    def read_many(
        self, schools: Sequence[School]
    ) -> Iterator[tuple[School, RawWorkbook | SourceError]]:
        """Every school's workbook, read in parallel by the isolated workers, in order."""
        items = [(school, Path(school.source), self.skip_sheets) for school in schools]
        for school, result in shared_pool().read_many(items):
            yield school, _source_result(result)

    @staticmethod
    def read_file(path: Path, skip_sheets: Collection[str] = ()) -> RawWorkbook:
        """Every sheet of a workbook by value; SourceError (Russian message) if it can't.

        The file is untrusted: it is checked and parsed in a worker process with hard limits
        (sync.backends.isolated), so no workbook can take the caller down.
        """
        try:
            return shared_pool().read(Path(path), skip_sheets)
        except ReadFailure as e:
            kind = TransientSourceError if e.transient else SourceError
            raise kind(str(e)) from None

    def write_back(self, school: School, paint: Paint, fingerprint: str) -> WriteResult:
        path = Path(school.source)
        if is_open(path):
            return WriteResult(
                "locked",
                message="файл открыт для редактирования — контроль не"
                " записан, повторим при следующей синхронизации",
            )
        try:
            data = path.read_bytes()
        except OSError as e:
            return WriteResult("failed", message=f"не удалось открыть для записи: {e.strerror}")
        if hashlib.sha256(data).hexdigest() != fingerprint:
            return WriteResult(
                "changed",
                message="файл изменился во время синхронизации —"
                " контроль будет записан в следующий раз",
            )
        try:
            wb = load_workbook(io.BytesIO(data))
        except Exception as e:
            return WriteResult("failed", message=f"openpyxl не открыл файл ({type(e).__name__})")
        self._apply(wb, paint)
        try:
            keep_backup(data, path, self.backups_dir / school.id, self.keep_backups)
        except OSError as e:
            return WriteResult(
                "failed",
                message=f"не удалось сохранить резервную копию ({e.strerror or e}) —"
                " контроль не записан, чтобы ничего не потерять",
            )
        # Write beside, check once more that nobody saved meanwhile, then replace atomically.
        fd, tmp = tempfile.mkstemp(prefix=".~tmp-", suffix=".xlsx", dir=path.parent)
        os.close(fd)
        try:
            wb.save(tmp)
            restore_cached_values(Path(tmp), data, wb)
            if hashlib.sha256(path.read_bytes()).hexdigest() != fingerprint or is_open(path):
                return WriteResult(
                    "changed",
                    message="файл изменился во время записи — контроль"
                    " будет записан в следующий раз",
                )
            shutil.copymode(path, tmp)
            written = hashlib.sha256(Path(tmp).read_bytes()).hexdigest()
            os.replace(tmp, path)
        finally:
            Path(tmp).unlink(missing_ok=True)
        return WriteResult("written", stamp=stamp_of(path), fingerprint=written)

    @staticmethod
    def _apply(wb: Workbook, paint: Paint) -> None:
        """Controls and notes into the workbook. A note the school wrote itself is never touched:
        ours for that cell goes to the row's Контроль cell instead."""
        sheets = {normalize_header(ws.title): ws for ws in wb.worksheets}
        main = sheets.get(normalize_header(paint.main_sheet)) or wb.worksheets[0]
        if paint.control_col:
            for row, control in paint.controls:
                cell = main.cell(row, paint.control_col)
                cell.value = control.value
                cell.data_type = "s"
                cell.fill = _fill(control.fill)
        meta = sheets.get(normalize_header(paint.meta_sheet)) if paint.meta_sheet else None
        listed, registry_row = _note_registry(meta)
        # Ours from the last run go (written by this backend, or listed by the Excel add-in).
        for ws in wb.worksheets:
            for cell in list(ws._cells.values()):
                note = cell.comment
                if note is not None and (
                    note.author == NOTE_AUTHOR or (ws.title, cell.coordinate) in listed
                ):
                    cell.comment = None
        texts: dict[Cell, str] = {}
        for (sheet, ref), text in paint.notes.items():
            ws = sheets.get(normalize_header(sheet), main)
            target = ws[ref]
            if target.comment is not None:  # the school's own note
                if ws is not main or not paint.control_col or target.column == paint.control_col:
                    continue  # nowhere else to put it: the master's «Ошибки» still lists it
                target = main.cell(target.row, paint.control_col)
                text = f"{ws.title}!{ref}: {text}"
            key = (ws.title, target.coordinate)
            texts[key] = f"{texts[key]}\n{text}" if key in texts else text
        for (title, ref), text in texts.items():
            cell = wb[title][ref]
            cell.comment = Comment(text, NOTE_AUTHOR)
            cell.comment.width = 320
            cell.comment.height = 40 + 18 * (text.count("\n") + len(text) // 45)
        if meta is not None and (texts or registry_row is not None):
            row = registry_row or meta.max_row + 1
            meta.cell(row, 1).value = NOTE_CELLS_KEY
            value = format_note_cells(texts) or None
            meta.cell(row, 2).value = value
            if value:
                meta.cell(row, 2).data_type = "s"

    def write_master(self, master: Master) -> str:
        from sync.builders.master_xlsx import write_master_xlsx

        target = self.master_path
        if is_open(target):
            # The coordinator has it open: leave theirs alone, write a dated copy beside it.
            stamp = datetime.now().strftime("%Y-%m-%d %H-%M")
            target = target.with_name(f"{target.stem} ({stamp}){target.suffix}")
        write_master_xlsx(master, target)
        return str(target)

    def create(
        self, school: School, spec: TemplateSpec, plan: Plan, built_at: datetime, password: str
    ) -> bool:
        path = Path(school.source)
        if path.exists():
            return False
        wb = build_school_workbook(spec, plan, school, built_at=built_at, password=password)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".~tmp-", suffix=".xlsx", dir=path.parent)
        os.close(fd)
        try:
            wb.save(tmp)
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; schools share this folder
            os.link(tmp, path)  # fails if a workbook appeared meanwhile: never overwrite one
        except FileExistsError:
            return False
        finally:
            Path(tmp).unlink(missing_ok=True)
        return True
