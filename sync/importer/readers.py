"""Readers: a document (text, grid, .docx, .xlsx, PDF, scan, CSV) to blocks, then recognised.

The readers of binary formats live in sync.backends and are imported when a file needs them
(they pull in python-docx, pdfplumber or Tesseract); they depend on sync.importer.types only.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from sync.importer.recogniser import recognise
from sync.importer.types import Block, ImportFileError, ImportResult, TableRow
from sync.model import CellValue, Period

_MARKUP = re.compile(r"</?(?:i|b|u|em|strong)>|\*\*", re.IGNORECASE)


def text_blocks(text: str) -> list[Block]:
    """Lines of extracted text: a line with tabs is a table row, any other line may be one."""
    blocks: list[Block] = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        marked = [_unmark(cell) for cell in line.split("\t")]
        texts = [m for m in marked if m[0].strip()]
        blocks.append(
            TableRow(
                tuple(m[0] for m in marked),
                italic=bool(texts) and all(m[1] for m in texts),
                bold=bool(texts) and all(m[2] for m in texts),
                loose="\t" not in line,
                ragged=True,
                where=f"строка {n}",
            )
        )
    return blocks


def _unmark(cell: str) -> tuple[str, bool, bool]:
    """Cell text without <i>/<b>/** markup, and whether it was all italic / all bold."""
    s = cell.strip()
    italic = bool(re.fullmatch(r"<(i|em)>.*</\1>", s, re.IGNORECASE | re.DOTALL))
    bold = bool(re.fullmatch(r"(?:<(b|strong)>.*</\1>|\*\*.*\*\*)", s, re.IGNORECASE | re.DOTALL))
    return _MARKUP.sub("", cell), italic, bold


def grid_blocks(grid: Sequence[Sequence[CellValue]], table: int = 0) -> list[Block]:
    """A plain grid of values (no merge information) as table rows."""
    rows: list[Block] = []
    for r, row in enumerate(grid, start=1):
        cells = tuple(_value_text(v) for v in row)
        if any(c.strip() for c in cells):
            rows.append(TableRow(cells, table=table, where=f"строка {r}"))
    return rows


def _value_text(value: CellValue) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, date):
        return value.strftime("%d.%m.%Y")
    return str(value)


def import_text(text: str, period: Period | None = None, source: str = "текст") -> ImportResult:
    """Text taken out of a document: tables as tab-separated lines, or pasted without tabs
    (pipes, one cell per line, columns aligned with spaces: sync.importer.pasted)."""
    result = recognise(text_blocks(text), period, source)
    if result.found_table:
        return result
    from sync.importer.pasted import LAYOUTS, relayout

    found = relayout(text)
    if found is None:
        return result
    converted, key = found
    other = recognise(text_blocks(converted), period, source)
    if not other.found_table:
        return result
    other.notes.append(f"Таблица без знаков табуляции: {LAYOUTS[key]}.")
    return other


def import_grid(
    grid: Sequence[Sequence[CellValue]], period: Period | None = None, source: str = "таблица"
) -> ImportResult:
    """A grid of cell values (one sheet, title rows above the table allowed)."""
    return recognise(grid_blocks(grid), period, source)


def import_docx(path: Path, period: Period | None = None) -> ImportResult:
    """A Word document: the order's paragraphs and the roadmap table(s) below them."""
    from sync.importer.docx_reader import read_docx

    return recognise(read_docx(Path(path)), period, Path(path).name)


def import_xlsx(path: Path, period: Period | None = None) -> ImportResult:
    """An Excel workbook: the first visible sheet that holds a roadmap table."""
    from sync.importer.docx_reader import read_xlsx

    path = Path(path)
    sheets = read_xlsx(path)
    for name, blocks in sheets:
        result = recognise(blocks, period, f"{path.name}, лист «{name}»")
        if result.found_table:
            return result
    return ImportResult(path.name, found_table=False)


_TEXT_SUFFIXES = (".txt", ".tsv", ".tab", ".text", ".md")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
_KINDS = {
    ".docx": "документ Word (.docx)",
    ".docm": "документ Word (.docx)",
    ".pdf": "PDF",
    **{s: f"изображение ({s})" for s in IMAGE_SUFFIXES},
}


def import_pdf(path: Path, period: Period | None = None) -> ImportResult:
    """A PDF: its text layer (tables from ruling lines), or OCR when it is a scan."""
    from sync.importer.pdf_reader import layout_text, page_images_cover, read_pdf

    path = Path(path)
    blocks = read_pdf(path)
    if blocks is None:
        return import_scan(path, period)
    result = recognise(blocks, period, path.name)
    if result.found_table:
        return result
    if page_images_cover(path):
        # A "searchable" scan: a hidden OCR text layer without the table's lines under page
        # pictures. Our own OCR reads the cells and says how sure it is.
        try:
            scanned = import_scan(path, period)
        except ImportFileError:
            scanned = None  # no Tesseract here: the hidden text may still do
        if scanned is not None and scanned.found_table:
            scanned.notes.append(
                "Текстовый слой PDF без таблицы (скан с распознанным текстом): таблица прочитана "
                "с изображения страниц."
            )
            return scanned
    spaced = import_text(layout_text(path), period, path.name)  # a table drawn without lines
    return spaced if spaced.found_table else result


def import_scan(path: Path, period: Period | None = None) -> ImportResult:
    """A scanned PDF or an image: table cells from the ruling lines, text through Tesseract."""
    from sync.importer.ocr_reader import OcrUnavailable, read_scan

    path = Path(path)
    try:
        blocks = read_scan(path)
    except OcrUnavailable as e:
        raise ImportFileError(f"{path.name} — скан (без текстового слоя). {e}") from None
    result = recognise(blocks, period, f"{path.name} (распознан)")
    result.recognised = True
    return result


_RESAVE = {
    ".doc": "документ Word старого формата (.doc): сохраните его как .docx",
    ".rtf": "документ RTF: сохраните его как .docx",
    ".odt": "документ OpenDocument (.odt): сохраните его как .docx",
    ".xls": "книга Excel старого формата (.xls): сохраните её как .xlsx",
    ".ods": "книга OpenDocument (.ods): сохраните её как .xlsx",
}


def import_file(path: Path, period: Period | None = None) -> ImportResult:
    """Choose the reader by the file's suffix; ImportFileError when it cannot be read at all."""
    path = Path(path)
    if not path.is_file():
        raise ImportFileError(f"Файл не найден: {path}")
    suffix = path.suffix.lower()
    if suffix in _RESAVE:
        raise ImportFileError(f"Файл {path.name} — {_RESAVE[suffix]}.")
    try:
        if suffix in (".docx", ".docm"):
            return import_docx(path, period)
        if suffix in (".xlsx", ".xlsm"):
            return import_xlsx(path, period)
        if suffix == ".pdf":
            return import_pdf(path, period)
        if suffix in IMAGE_SUFFIXES:
            return import_scan(path, period)
        raw = path.read_bytes()
    except ImportFileError:
        raise
    except Exception as e:  # a damaged file surfaces as any of zip, XML, PDF or image errors
        kind = _KINDS.get(suffix, "книгу Excel (.xlsx)")
        raise ImportFileError(
            f"Не удалось прочитать {kind} {path.name}: файл повреждён или имеет другой формат "
            f"({type(e).__name__})."
        ) from None
    text = _decode(raw)
    if suffix == ".csv":
        return recognise(_csv_blocks(text), period, path.name)
    if suffix not in _TEXT_SUFFIXES and "\x00" in text:
        raise ImportFileError(
            f"Неизвестный формат файла {path.name}: нужен .docx, .xlsx или текст (.txt)."
        )
    return import_text(text, period, path.name)


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("cp1251", errors="replace")


def _csv_blocks(text: str) -> list[Block]:
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(
            text[:4096], delimiters=",;\t"
        )
    except csv.Error:
        dialect = csv.excel
    return grid_blocks(list(csv.reader(io.StringIO(text), dialect)))
