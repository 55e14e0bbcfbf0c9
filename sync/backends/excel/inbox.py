"""The «Отправить» button's file handling, no open workbook needed: a macro-enabled workbook
turned into a plain .xlsx, its atomic delivery into the inbox folder, the inbox copy read back."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping
from pathlib import Path

from lxml import etree

from sync.backends.excel.book import SAFE_XML, BookError, sheet_key
from sync.backends.folder import is_open, keep_backup
from sync.fileio import write_atomically
from sync.model import CellValue, RawWorkbook
from sync.paint import Cell

_CT_NS = "http://schemas.openxmlformats.org/package/2006/content-types"
_XLSX_MAIN = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"
_MACRO_RELS = ("/vbaProject", "/ui/extensibility", "/vbaProjectSignature")


def plain_xlsx(data: bytes) -> bytes:
    """A macro-enabled workbook (.xlsm) as a plain .xlsx: no VBA, no ribbon, the .xlsx type.

    A workbook that is already plain comes back unchanged. Everything the school typed stays.
    """
    with zipfile.ZipFile(io.BytesIO(data)) as src:
        names = src.namelist()
        types = etree.fromstring(src.read("[Content_Types].xml"), SAFE_XML)
        main = next(
            (
                o
                for o in types.iter(f"{{{_CT_NS}}}Override")
                if o.get("PartName") == "/xl/workbook.xml"
            ),
            None,
        )
        if main is None or main.get("ContentType") == _XLSX_MAIN:
            return data
        main.set("ContentType", _XLSX_MAIN)
        dropped: set[str] = set()
        rels_out: dict[str, bytes] = {}
        for rels_name in ("_rels/.rels", "xl/_rels/workbook.xml.rels"):
            if rels_name not in names:
                continue
            rels = etree.fromstring(src.read(rels_name), SAFE_XML)
            base = "" if rels_name.startswith("_rels") else "xl/"
            for rel in list(rels):
                if str(rel.get("Type", "")).endswith(_MACRO_RELS):
                    dropped.add(base + str(rel.get("Target", "")).lstrip("/"))
                    rels.remove(rel)
            rels_out[rels_name] = etree.tostring(rels, xml_declaration=True, encoding="UTF-8")
        dropped |= {n for n in names if n.startswith("customUI/") or n.startswith("xl/vbaProject")}
        for override in list(types.iter(f"{{{_CT_NS}}}Override")):
            if str(override.get("PartName", "")).lstrip("/") in dropped:
                types.remove(override)
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
            for name in names:
                if name in dropped:
                    continue
                if name == "[Content_Types].xml":
                    body = etree.tostring(types, xml_declaration=True, encoding="UTF-8")
                else:
                    body = rels_out.get(name) or src.read(name)
                dst.writestr(name, body)
    return out.getvalue()


def deliver(data: bytes, target: Path, *, backups_dir: Path, keep: int, school_id: str) -> bool:
    """Put a workbook into the inbox atomically; False when the same bytes are already there.

    The copy it replaces goes to backups_dir/<school id>/ first, named as the sync names its
    backups, so that nothing the coordinator had in the inbox is lost. Raises BookError.
    """
    folder = target.parent
    if not folder.is_dir():
        raise BookError(
            f"Папка приёма «{folder}» недоступна: проверьте сетевую папку или ключ schools_dir "
            "в настройках."
        )
    if is_open(target):
        raise BookError(
            f"Книга школы в папке приёма ({target.name}) сейчас открыта у координатора или "
            "синхронизации; отправьте её немного позже."
        )
    try:
        previous = target.read_bytes() if target.exists() else None
        if previous == data:
            return False
        if previous is not None:
            try:
                keep_backup(previous, target, backups_dir / school_id, keep)
            except OSError as e:
                raise BookError(
                    "Не удалось сохранить предыдущую версию книги в папке резервных копий"
                    f" ({e.strerror or e}): книга не отправлена, чтобы ничего не потерять."
                    " Обратитесь к координатору."
                ) from e
        write_atomically(target, lambda f: f.write(data))
    except OSError as e:
        raise BookError(f"Не удалось записать книгу в папку приёма: {e.strerror or e}.") from e
    return True


def read_bytes(data: bytes, name: str) -> RawWorkbook:
    """A workbook file's values, as the folder backend reads them (in an isolated worker with
    hard limits); BookError with the Russian reason when it can't."""
    from sync.backends.isolated import ReadFailure, shared_pool

    try:
        return shared_pool().read_bytes(data, name)
    except ReadFailure as e:
        raise BookError(str(e)) from None


def carry_values(data: bytes, cells: Mapping[Cell, CellValue]) -> bytes:
    """A workbook (.xlsx bytes) with these cells set, as text; everything else as it was."""
    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(data))
    sheets = {sheet_key(ws.title): ws for ws in wb.worksheets}
    for (sheet, ref), value in cells.items():
        ws = sheets.get(sheet_key(sheet))
        if ws is None:
            continue
        cell = ws[ref]
        cell.value = value
        if isinstance(value, str):
            cell.data_type = "s"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
