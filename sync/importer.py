"""Import an approved roadmap (.docx order, .xlsx sheet or text pasted from a PDF) into plan rows.

Each reader reduces its document to one stream of blocks: prose paragraphs (str) and table rows
(TableRow: cells as text, with italic and merged-cell marks). One recogniser, `recognise`, then
finds the header by the meaning of its names, maps the columns, reads section rows, glues the rows
a page break tore apart and builds PlanItems with sync.plan.make_item. It never invents a row: what
it cannot place it lists in ImportResult.unplaced, what it had to guess in ImportResult.unsure.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from sync.cells import cell_date
from sync.model import Audience, CellValue, DeadlineKind, Period, PlanItem
from sync.plan import (
    AUDIENCE_VALUES,
    PLAN_COLUMNS,
    PLAN_SHEET,
    clean,
    clean_no,
    make_item,
    plan_rows,
    write_plan,
)
from sync.spec import normalize_header

__all__ = [
    "Block",
    "ImportFileError",
    "ImportResult",
    "TableRow",
    "detect_period",
    "grid_blocks",
    "import_docx",
    "import_file",
    "import_grid",
    "import_plan_command",
    "import_text",
    "import_xlsx",
    "order_date",
    "recognise",
    "summary",
    "text_blocks",
]


@dataclass(frozen=True)
class TableRow:
    """One row of a table as a reader found it."""

    cells: tuple[str, ...]
    table: int = 0  # which table of the document (a docx table, an xlsx sheet)
    italic: bool = False  # every piece of text in the row is italic
    bold: bool = False
    merged: frozenset[int] = frozenset()  # positions covered by the merged cell to their left
    repeated: frozenset[int] = frozenset()  # positions repeating the cell above (vertical merge)
    loose: bool = False  # a text line without tabs: part of the table only inside it
    ragged: bool = False  # the cell count is as written (text), not padded to the table's width
    where: str = ""  # "строка 53", "таблица 2, строка 5": for messages
    confidence: float | None = None  # OCR: how sure the recognition is, 0..100


Block = TableRow | str

KEYS = ("no", "activity", "responsible", "deadline_text", "planned_result")
# Columns a plan file (written by import-plan or by hand) adds to the approved document's ones.
PLAN_KEYS = ("section", "due", "audience")
COLUMN_TITLES = {key: PLAN_COLUMNS[key][0] for key in (*PLAN_KEYS, *KEYS)}
NO_SECTION = "(без раздела)"
# A recognised row whose weakest cell Tesseract read with less confidence (0..100) is «проверьте».
CONFIDENCE_THRESHOLD = 80.0
CHECK_COLUMN = "Проверить"

# A header cell's meaning, tried in this order: "Сроки исполнения" is a deadline, not a responsible.
_HEADER_MEANINGS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("section", re.compile(r"^(?:раздел|направление)$")),
    ("due", re.compile(r"^срок ?\(дата\)$")),
    ("audience", re.compile(r"^(?:для кого|кому)$")),
    ("no", re.compile(r"^(?:№|n\b|no\b|номер)|п/п")),
    ("deadline_text", re.compile(r"срок|дата|период|когда")),
    ("responsible", re.compile(r"ответствен|исполнител|кто\b")),
    ("planned_result", re.compile(r"результат|итог|показател|форма отч|продукт")),
    ("activity", re.compile(r"мероприяти|содержание|наименование|деятельност|действи|задач")),
)
_NUMBER = re.compile(r"\d{1,3}(?:[.)]\s?\d{1,3})*[.)]?")
_DEBRIS = re.compile(r"[\s\-–—_=*.·•|+~]*")
_PAGE_NUMBER = re.compile(
    r"[-–—]?\s*(?:стр(?:аница)?\.?\s*)?\d{1,4}(?:\s*(?:из|/)\s*\d{1,4})?\s*[-–—]?"
    r"|продолжение\s+(?:таблицы|приложения).*"
)
_ROMAN = re.compile(r"[IVXLC]{1,5}\.?")
_LOOSE_SECTION = re.compile(r"(?:\d{1,2}|[IVXLC]{1,5})\.\s*[А-ЯЁA-Z«\"(]")
_MARKUP = re.compile(r"</?(?:i|b|u|em|strong)>|\*\*", re.IGNORECASE)
# Word endings a page break can tear off a section title ("2. Общесистем" + "ные мероприятия").
_TORN_ENDING = re.compile(
    r"(?:ые|ый|ая|ое|ой|ий|ых|ым|ого|ому|ие|ия|ии|ию|ей|ам|ами|ах|ов|ом|ем|ть|ся|ции|ция|ние|ния|"
    r"ные|ный|ная|ное|ных|ного)\b"
)


@dataclass
class ImportResult:
    """What the importer found in one document."""

    source: str
    found_table: bool
    items: list[PlanItem] = field(default_factory=list)
    period: Period | None = None
    period_source: str = ""  # Russian: where the period came from
    columns: dict[str, str] = field(default_factory=dict)  # key -> header as written
    unplaced: list[str] = field(default_factory=list)  # Russian: text it could not place
    unsure: list[str] = field(default_factory=list)  # Russian: rows it had to guess about
    notes: list[str] = field(default_factory=list)  # Russian: what it did on its own
    confidence: list[float | None] = field(default_factory=list)  # OCR, per item, 0..100
    recognised: bool = False  # read from images through OCR

    @property
    def to_check(self) -> list[tuple[PlanItem, float]]:
        """Rows OCR read with a confidence below CONFIDENCE_THRESHOLD."""
        return [
            (item, c)
            for item, c in zip(self.items, self.confidence, strict=False)
            if c is not None and c < CONFIDENCE_THRESHOLD
        ]

    @property
    def sections(self) -> dict[str, int]:
        """Activities per section, in document order."""
        return dict(Counter(item.section for item in self.items))

    @property
    def unread_deadlines(self) -> list[PlanItem]:
        """Rows whose deadline text the deadline parser could not read."""
        return [
            i for i in self.items if i.deadline_text and i.deadline.kind is DeadlineKind.UNKNOWN
        ]


class ImportFileError(Exception):
    """The document cannot be read at all; the message is Russian."""


# --- readers -------------------------------------------------------------------------------


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
    (pipes, one cell per line, columns aligned with spaces: sync.pasted)."""
    result = recognise(text_blocks(text), period, source)
    if result.found_table:
        return result
    from sync.pasted import LAYOUTS, relayout

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
    from sync.backends.docx_reader import read_docx

    return recognise(read_docx(Path(path)), period, Path(path).name)


def import_xlsx(path: Path, period: Period | None = None) -> ImportResult:
    """An Excel workbook: the first visible sheet that holds a roadmap table."""
    from sync.backends.docx_reader import read_xlsx

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
    from sync.backends.pdf_reader import layout_text, page_images_cover, read_pdf

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
    from sync.backends.ocr_reader import OcrUnavailable, read_scan

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


# --- the period ------------------------------------------------------------------------------

_MONTHS = {
    m: n
    for n, m in enumerate(
        (
            "января",
            "февраля",
            "марта",
            "апреля",
            "мая",
            "июня",
            "июля",
            "августа",
            "сентября",
            "октября",
            "ноября",
            "декабря",
        ),
        start=1,
    )
}
_ACADEMIC_YEAR = re.compile(r"(20\d\d)\s*[-–—/]\s*(20\d\d)\s*(?:уч\.|учебн)", re.IGNORECASE)
_YEARS = re.compile(r"\bна\s+(20\d\d)\s*[-–—]\s*(20\d\d)\s*(?:годы|года|гг)", re.IGNORECASE)
_ONE_YEAR = re.compile(r"\bна\s+(20\d\d)\s*(?:год\b|г\.)", re.IGNORECASE)
_UNTIL_YEAR = re.compile(r"\bдо\s+(20\d\d)\b(?!\s*[-–—/]\s*20)", re.IGNORECASE)
_DATE_DIGITS = re.compile(r"(?<![\d.])(\d{1,2})\.(\d{1,2})\.((?:19|20)\d\d)(?!\d)")
_DATE_WORDS = re.compile(
    r"«?(\d{1,2})»?\s+(" + "|".join(_MONTHS) + r")\s+((?:19|20)\d\d)", re.IGNORECASE
)
_YEAR = re.compile(r"(?<!\d)(20\d\d)(?!\d)")


def order_date(prose: str) -> date | None:
    """The first date written in the order's text (its date of signing)."""
    found: list[tuple[int, date]] = []
    for m in _DATE_DIGITS.finditer(prose):
        try:
            found.append((m.start(), date(int(m[3]), int(m[2]), int(m[1]))))
        except ValueError:
            continue
    for m in _DATE_WORDS.finditer(prose):
        try:
            found.append((m.start(), date(int(m[3]), _MONTHS[m[2].lower()], int(m[1]))))
        except ValueError:
            continue
    return min(found)[1] if found else None


def detect_period(prose: str, everything: str = "") -> tuple[Period | None, str]:
    """The roadmap's period as the document states it, and a Russian note saying where from.

    >>> detect_period("План ... на 2021-2022 учебный год")[0]
    Period(start=datetime.date(2021, 9, 1), end=datetime.date(2022, 8, 31))
    """
    m = _ACADEMIC_YEAR.search(prose)
    if m and int(m[2]) == int(m[1]) + 1:
        return (
            Period(date(int(m[1]), 9, 1), date(int(m[2]), 8, 31)),
            f"из документа: «{_around(prose, m)}»",
        )
    m = _YEARS.search(prose)
    if m and int(m[1]) <= int(m[2]):
        return (
            Period(date(int(m[1]), 1, 1), date(int(m[2]), 12, 31)),
            f"из документа: «{_around(prose, m)}»",
        )
    m = _ONE_YEAR.search(prose)
    if m:
        year = int(m[1])
        return Period(date(year, 1, 1), date(year, 12, 31)), f"из документа: «{m[0].strip()}»"
    signed = order_date(prose)
    m = _UNTIL_YEAR.search(prose)
    if m:
        end = date(int(m[1]), 8, 31)  # to the end of that year's academic year
        if signed and signed <= end:
            return (
                Period(signed, end),
                f"из документа: «{_around(prose, m)}», с даты приказа "
                f"{signed:%d.%m.%Y} по 31 августа {end.year} года",
            )
        years = sorted(int(y) for y in _YEAR.findall(prose) if int(y) <= end.year)
        start = date(years[0], 1, 1)
        return (
            Period(start, end),
            f"из документа: «{_around(prose, m)}», с начала {start.year} года "
            f"(дата приказа не найдена) по 31 августа {end.year} года",
        )
    if signed:
        return (
            Period(date(signed.year, 1, 1), date(signed.year, 12, 31)),
            f"в документе период не указан; взят календарный год даты приказа ({signed:%d.%m.%Y})",
        )
    mentioned = Counter(_YEAR.findall(everything or prose))
    if mentioned:
        year = int(mentioned.most_common(1)[0][0])
        return (
            Period(date(year, 1, 1), date(year, 12, 31)),
            f"{_NO_PERIOD}; взят {year} год — он чаще других встречается в тексте",
        )
    return None, "в документе не найдены ни период, ни дата приказа"


_NO_PERIOD = "в документе нет ни периода, ни даты приказа"
_MONTH_YEAR = re.compile(
    r"\b(янв|фев|мар|апр|ма[йя]|июн|июл|авг|сен|окт|ноя|дек)[а-яё]*\.?,?\s*(20\d\d)(?!\d)",
    re.IGNORECASE,
)
_MONTH_STEMS = ("янв", "фев", "мар", "апр", "ма", "июн", "июл", "авг", "сен", "окт", "ноя", "дек")


def _school_year_of_dates(text: str) -> tuple[Period, str] | None:
    """A school year when every month-and-year the table names lies in one (a plan file).

    The year's autumn must be named and nothing before August of it: a plan whose dates run
    from August 2021 to May 2022, or only through the autumn of 2021, is the 2021-2022 school year.
    """
    months: list[tuple[int, int]] = []
    for m in _MONTH_YEAR.finditer(text):
        stem = m[1].lower()
        month = next(n for n, s in enumerate(_MONTH_STEMS, start=1) if stem.startswith(s))
        months.append((int(m[2]), month))
    for m in _DATE_DIGITS.finditer(text):
        if 1 <= int(m[2]) <= 12:
            months.append((int(m[3]), int(m[2])))
    if not months:
        return None
    first, last = min(months), max(months)
    year = first[0]
    autumn = any(y == year and m >= 9 for y, m in months)
    if first < (year, 8) or last > (year + 1, 8) or not autumn:
        return None
    return (
        Period(date(year, 9, 1), date(year + 1, 8, 31)),
        f"{_NO_PERIOD}; все сроки в таблице лежат между "
        f"{first[1]:02d}.{first[0]} и {last[1]:02d}.{last[0]} — взят {year}-{year + 1} учебный год",
    )


def _around(text: str, m: re.Match[str]) -> str:
    """The matched phrase with the preposition before it ("на 2021-2022 учебный год")."""
    start = m.start()
    before = re.search(r"(?:\b(?:на|в|до|течение)\s+)+$", text[max(0, start - 20) : start])
    phrase = (before[0] if before else "") + m[0]
    tail = re.match(r"\w*(?:\s+(?:годы|году|года|год))?", text[m.end() :])
    phrase += tail[0] if tail else ""
    return clean(phrase).rstrip(".,")


# --- the recogniser --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Columns:
    spans: dict[str, tuple[int, int]]  # key -> grid positions [start, end)
    names: dict[str, str]  # key -> header text as written
    width: int
    ignored: tuple[str, ...]  # header texts with no meaning we use

    def position(self, key: str) -> int | None:
        span = self.spans.get(key)
        return span[0] if span else None

    def fields(self, cells: Sequence[str], skip: frozenset[int] = frozenset()) -> dict[str, str]:
        out = {}
        for key, (start, end) in self.spans.items():
            parts = [cells[p] for p in range(start, min(end, len(cells))) if p not in skip]
            out[key] = " ".join(clean(p) for p in parts if clean(p))
        return out


def _meanings(cells: Sequence[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for i, cell in enumerate(cells):
        name = normalize_header(cell)
        if not name or len(name) > 80:
            continue
        for key, pattern in _HEADER_MEANINGS:
            if pattern.search(name):
                found.setdefault(key, i)
                break
    return found


def _is_header(row: TableRow) -> bool:
    if row.loose:
        return False
    found = _meanings(row.cells)
    no = found.get("no")
    if no is not None and _NUMBER.fullmatch(clean(row.cells[no])):
        return False
    return "activity" in found and len(found) >= 3


def _columns(header: TableRow) -> _Columns:
    found = _meanings(header.cells)
    last = max(i for i, c in enumerate(header.cells) if c.strip())
    width = last + 1
    while width in header.merged:
        width += 1
    starts = sorted(found.values())
    spans = {}
    for key, start in found.items():
        end = start + 1
        while end < width and end in header.merged:
            end += 1
        spans[key] = (start, end)
    ignored = tuple(
        clean(c) for i, c in enumerate(header.cells[:width]) if c.strip() and i not in starts
    )
    return _Columns(
        spans=spans,
        names={k: clean(header.cells[i]) for k, i in found.items()},
        width=width,
        ignored=ignored,
    )


def _fit(cells: list[str], width: int) -> tuple[list[str], bool, bool]:
    """Bring an over-long text row to the header's width.

    Returns the cells, whether a doubled column was dropped and whether cells had to be joined.
    A column written twice side by side (Kalar rows 7-20) loses its copy, then empty cells at the
    end and empty gaps before the last text go, and whatever is still left over joins the last cell.
    """
    cells = list(cells)
    doubled = False
    i = 1
    while len(cells) > width and i < len(cells):
        if clean(cells[i]) and clean(cells[i]) == clean(cells[i - 1]):
            del cells[i]
            doubled = True
        else:
            i += 1
    while len(cells) > width and not cells[-1].strip():
        cells.pop()
    i = len(cells) - 2
    while len(cells) > width and i >= 1:
        if not cells[i].strip():
            del cells[i]
        i -= 1
    overflow = len(cells) > width
    if overflow:
        cells = [*cells[: width - 1], " ".join(c for c in cells[width - 1 :] if c.strip())]
    return cells, doubled, overflow


@dataclass
class _Section:
    title: str
    where: str = ""


@dataclass
class _Draft:
    section: _Section
    no: str
    fields: dict[str, str]
    where: str
    short_from: int | None = None  # a text row that stopped before its last columns
    doubts: list[str] = field(default_factory=list)
    confidence: float | None = None  # OCR: the least sure of its rows

    def add(self, fields: dict[str, str], confidence: float | None = None) -> None:
        for key, value in fields.items():
            if key != "no" and value:
                self.fields[key] = f"{self.fields.get(key, '')} {value}".strip()
        if confidence is not None:
            self.confidence = min(confidence, self.confidence or 100.0)


def _split(blocks: Sequence[Block]) -> tuple[list[str], TableRow | None, list[TableRow], list[str]]:
    """Prose before the table, the header row, the table's rows, prose after it."""
    h = next(
        (i for i, b in enumerate(blocks) if isinstance(b, TableRow) and _is_header(b)),
        None,
    )
    if h is None:
        return [_block_text(b) for b in blocks], None, [], []
    header = blocks[h]
    assert isinstance(header, TableRow)
    before = [_block_text(b) for b in blocks[:h]]
    header_cells = [normalize_header(c) for c in header.cells]
    tables = {header.table}
    region: list[TableRow] = []
    after: list[str] = []
    for i in range(h + 1, len(blocks)):
        b = blocks[i]
        if isinstance(b, str):
            after.append(b)
            continue
        if b.table not in tables and not b.loose:
            # A later table continues the roadmap when it repeats the header or has its width.
            same = [normalize_header(c) for c in b.cells] == header_cells
            if same or len(b.cells) == len(header.cells):
                tables.add(b.table)
            else:
                after.extend(_block_text(x) for x in blocks[i:])
                break
        region.append(b)
    while region and region[-1].loose:  # text lines after the last table row are prose
        after.insert(0, _block_text(region.pop()))
    return before, header, region, after


def _block_text(block: Block) -> str:
    if isinstance(block, str):
        return block
    return " ".join(clean(c) for c in block.cells if clean(c))


def _label(section: str, no: str) -> str:
    return f"№ {no} (раздел «{section}»)" if section else f"№ {no}"


def _short(text: str, limit: int = 70) -> str:
    text = clean(text)
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def recognise(
    blocks: Sequence[Block], period: Period | None = None, source: str = ""
) -> ImportResult:
    """Find the roadmap table among the blocks and turn its rows into plan items."""
    before, header, region, after = _split(blocks)
    if header is None:
        return ImportResult(source, found_table=False)
    cols = _columns(header)
    result = ImportResult(source, found_table=True, columns=dict(cols.names))
    prose = "\n".join(before)
    everything = "\n".join([*before, *(_block_text(r) for r in region), *after])
    found_period, found_source = detect_period(prose + "\n" + "\n".join(after), everything)
    if period is not None:
        result.period, result.period_source = period, "задан параметром --period"
        if found_period is not None and found_period != period:
            result.notes.append(
                f"В документе указан другой период: {found_period} ({found_source})."
            )
    else:
        result.period, result.period_source = found_period, found_source
    if cols.ignored:
        result.notes.append(
            "Не использованы столбцы: " + ", ".join(f"«{c}»" for c in cols.ignored) + "."
        )

    drafts = _read_rows(region, header, cols, result)
    if period is None and (found_period is None or found_source.startswith(_NO_PERIOD)):
        # No period in the prose (a plan file): the deadlines may name one school year.
        deadlines = "\n".join(
            f"{d.fields.get('deadline_text', '')}\n{d.fields.get('due', '')}" for d in drafts
        )
        school = _school_year_of_dates(deadlines)
        if school is not None:
            result.period, result.period_source = school
    if result.period is None:
        result.unsure.append("Период не определён: укажите его параметром --period.")
        return result
    result.items = _build(drafts, cols, result)
    return result


def _read_rows(
    region: list[TableRow], header: TableRow, cols: _Columns, result: ImportResult
) -> list[_Draft]:
    """The state machine over the table's rows: sections, items, continuations."""
    header_norm = [normalize_header(c) for c in header.cells if c.strip()]
    header_keys = set(_meanings(header.cells))
    no_at = cols.position("no")
    width = cols.width

    def no_of(row: TableRow) -> str:
        if row.loose or no_at is None or no_at >= len(row.cells) or no_at in row.repeated:
            return ""
        no = clean(row.cells[no_at])
        if row.confidence is not None:  # OCR reads "3." as "3,", "1.2." as "1..2." now and then
            fixed = re.sub(r"(?<=\d)[,:;]", ".", re.sub(r"\s+", "", no))
            fixed = re.sub(r"\.{2,}", ".", fixed)
            if _NUMBER.fullmatch(fixed):
                return fixed
        return no

    # For each row, the № of the next row that has one: a section is followed by its items.
    next_no = [""] * len(region)
    following = ""
    for i in range(len(region) - 1, -1, -1):
        next_no[i] = following
        following = no_of(region[i]) or following

    current = _Section("")
    drafts: list[_Draft] = []
    pending: list[tuple[TableRow, list[str]]] = []  # rows with no №, and their cells
    repeats = 0
    doubled: list[str] = []
    continued: list[str] = []
    counter: dict[int, int] = {}  # section id -> numbering when the table has no № column

    def flush() -> None:
        if not pending:
            return
        mine = [d for d in drafts if d.section is current]
        shorts: list[_Draft] = []
        for d in reversed(mine):
            if d.short_from is None:
                break
            shorts.insert(0, d)
        if shorts and len(pending) == len(shorts):
            for d, (row, cells) in zip(shorts, pending, strict=True):
                d.add(_right_aligned(cells, cols), row.confidence)
                if len(shorts) > 1:
                    d.doubts.append(
                        "срок и результат взяты из блока, отделённого разрывом страницы "
                        f"({row.where}); проверьте"
                    )
                d.short_from = None
        elif len(shorts) == 1:
            for row, cells in pending:
                shorts[0].add(_right_aligned(cells, cols), row.confidence)
            shorts[0].doubts.append("строка собрана из частей после разрыва страницы; проверьте")
        elif shorts:
            texts = "; ".join(_short(_block_text(r), 50) for r, _ in pending)
            where = f"{pending[0][0].where} — {pending[-1][0].where}"
            result.unplaced.append(
                f"Блок из {len(pending)} строк без номера ({where}: "
                f"{texts}) не удалось сопоставить с {len(shorts)} строками "
                f"{clean_no(shorts[0].no)}–{clean_no(shorts[-1].no)} выше: их число не совпадает."
            )
        elif mine:
            for row, cells in pending:
                mine[-1].add(cols.fields(cells, row.repeated), row.confidence)
            where = ", ".join(r.where for r, _ in pending)
            continued.append(f"{clean_no(mine[-1].no)} ({where})")
        else:
            for row, _ in pending:
                result.unplaced.append(
                    f"{row.where}: строка без номера вне мероприятий — "
                    f"«{_short(_block_text(row))}»."
                )
        pending.clear()

    def start_section(title: str, row: TableRow) -> None:
        nonlocal current
        flush()
        current = _Section(clean(title), row.where)

    for i, row in enumerate(region):
        texts = [clean(c) for c in row.cells if clean(c)]
        if not texts:
            continue
        if row.loose:
            text = texts[0]
            if _DEBRIS.fullmatch(text) or _PAGE_NUMBER.fullmatch(text.lower()):
                continue
            first = next((ch for ch in text if ch.isalpha()), "")
            if first.islower():
                if current.title and len(current.title) <= 60 and len(text) <= 80:
                    glue = "" if _TORN_ENDING.match(text) else " "
                    joined = current.title + glue + text
                    result.unsure.append(
                        f"Название раздела «{joined}» собрано из частей, разорванных разрывом "
                        f"страницы ({current.where}, {row.where}); проверьте."
                    )
                    current.title = joined
                else:
                    result.unplaced.append(f"{row.where}: «{_short(text)}» — вне таблицы.")
                continue
            if row.italic or row.bold or _LOOSE_SECTION.match(text):
                start_section(text, row)
            else:
                result.unplaced.append(f"{row.where}: «{_short(text)}» — вне таблицы.")
            continue
        if all(_DEBRIS.fullmatch(t) for t in texts):
            continue
        norm = [normalize_header(c) for c in row.cells if c.strip()]
        meanings = _meanings(row.cells)
        if norm == header_norm or (
            set(meanings) == header_keys
            and len(meanings) == len(texts)  # every text in the row is a column name
            and all(len(t) <= 80 for t in texts)
        ):
            repeats += 1
            continue
        if len(texts) >= 3 and texts == [str(n) for n in range(1, len(texts) + 1)]:
            continue  # the row of column numbers under the header

        cells = list(row.cells)
        short_from = None
        if row.ragged and len(cells) > width:
            cells, was_doubled, overflow = _fit(cells, width)
            if was_doubled:
                doubled.append(clean_no(no_of(row)) or row.where)
            if overflow:
                name = clean(header.cells[min(width, len(header.cells)) - 1])
                result.unsure.append(
                    f"{row.where}: в строке больше ячеек, чем столбцов; лишние присоединены "
                    f"к столбцу «{name}»."
                )
        elif row.ragged and len(cells) < width:
            short_from = len(cells)
        cells += [""] * (width - len(cells))
        no = no_of(row) if no_at is not None else ""

        title = _section_title(row, cells, texts, no, no_at, next_no[i])
        if title is not None:
            start_section(title, row)
            continue
        fields = cols.fields(cells)
        if no_at is None:
            if not fields.get("activity"):
                pending.append((row, cells))
                continue
            flush()
            counter[id(current)] = counter.get(id(current), 0) + 1
            no = str(counter[id(current)])
        elif not no:
            pending.append((row, cells))
            continue
        else:
            flush()
        given = fields.get("section", "")
        if given and given != current.title:  # a plan file's «Раздел» column
            current = _Section(given, row.where)
        if (
            no_at is not None
            and set(k for k, v in fields.items() if v) == {"no", "activity"}
            and (_is_child(next_no[i], no) or _ROMAN.fullmatch(no))
        ):
            start_section(f"{clean_no(no)}. {fields['activity']}", row)
            continue
        draft = _Draft(current, no, fields, row.where, short_from, confidence=row.confidence)
        if not _NUMBER.fullmatch(no) and no_at is not None:
            if len(no) > 12:
                result.unplaced.append(
                    f"{row.where}: в столбце «{cols.names['no']}» не номер — «{_short(no)}»; "
                    f"строка «{_short(_block_text(row))}» не импортирована."
                )
                continue
            draft.doubts.append(f"необычный номер «{no}»")
        drafts.append(draft)
    flush()

    if no_at is None:
        result.notes.append("В таблице нет столбца «№ п/п»: мероприятия пронумерованы по порядку.")
    if repeats:
        result.notes.append(f"Пропущены повторы строки заголовков на новых страницах: {repeats}.")
    if doubled:
        result.notes.append(
            "Столбец, записанный дважды подряд, взят один раз в строках: "
            + ", ".join(doubled)
            + "."
        )
    if continued:
        result.notes.append(
            "Продолжения после разрыва страницы присоединены к строкам: "
            + "; ".join(continued)
            + "."
        )
    return drafts


def _is_child(next_no: str, no: str) -> bool:
    parent = clean_no(no)
    return bool(parent) and clean_no(next_no).startswith(parent + ".")


def _section_title(
    row: TableRow,
    cells: list[str],
    texts: list[str],
    no: str,
    no_at: int | None,
    next_no: str,
) -> str | None:
    """The row's text when the row is a section title that spans the table."""
    if len(set(texts)) != 1:
        return None
    text = texts[0]
    if _NUMBER.fullmatch(text) or len(text) > 250:
        return None
    first = next(i for i, c in enumerate(cells) if clean(c))
    spanning = first + 1 in row.merged or (len(texts) == len(cells) and len(cells) > 1)
    if row.italic or row.bold or spanning:
        return text
    if next((ch for ch in text if ch.isalpha()), "").islower():
        return None  # titles start with a capital; this is the rest of a sentence
    if no_at is not None and first == no_at:
        return text  # a title written in the № column, the rest of the row empty
    # Text alone outside the № column: a title when the numbering restarts right after it.
    if not no and clean_no(next_no) in ("1", "1.1"):
        return text
    return None


def _right_aligned(cells: list[str], cols: _Columns) -> dict[str, str]:
    """The fields of a torn-off block whose leading columns stayed on the previous page."""
    cells = list(cells)
    while cells and not cells[-1].strip():
        cells.pop()
    while cells and not cells[0].strip():
        cells.pop(0)
    cells = cells[-cols.width :]
    return cols.fields([""] * (cols.width - len(cells)) + cells)


def _plan_cells(fields: dict[str, str], doubts: list[str]) -> tuple[date | None, Audience | None]:
    """«Срок (дата)» and «Для кого» of a plan file's row; what cannot be read goes to doubts."""
    due = None
    if fields.get("due"):
        try:
            due = cell_date(fields["due"])
        except ValueError:
            doubts.append(f"«Срок (дата)» — «{fields['due']}» не дата (ожидается ДД.ММ.ГГГГ)")
    audience = None
    if fields.get("audience"):
        audience = AUDIENCE_VALUES.get(fields["audience"].lower())
        if audience is None:
            doubts.append(
                f"«Для кого» — «{fields['audience']}»; допустимо «ОО» или «МОУО», "
                "выбрано по ответственным"
            )
    return due, audience


def _build(drafts: list[_Draft], cols: _Columns, result: ImportResult) -> list[PlanItem]:
    assert result.period is not None
    items: list[PlanItem] = []
    seen: set[tuple[str, str]] = set()
    for d in drafts:
        f = d.fields
        if not any(f.get(k) for k in KEYS if k != "no"):
            result.unplaced.append(
                f"{d.where}: {_label(d.section.title, clean_no(d.no))} — строка без содержания."
            )
            continue
        doubts = list(d.doubts)
        due, audience = _plan_cells(f, doubts)
        item = make_item(
            section=d.section.title,
            no=d.no,
            activity=f.get("activity", ""),
            responsible=f.get("responsible", ""),
            deadline_text=f.get("deadline_text", ""),
            planned_result=f.get("planned_result", ""),
            period=result.period,
            due=due,
            audience=audience,
        )
        for key, what in (
            ("activity", "нет текста мероприятия"),
            ("deadline_text", "не указан срок"),
            ("responsible", "не указаны ответственные"),
            ("planned_result", "не указан планируемый результат"),
        ):
            if key in cols.spans and not f.get(key):
                doubts.append(what)
        if item.key in seen:
            doubts.append("номер повторяется в разделе")
        seen.add(item.key)
        if doubts:
            result.unsure.append(f"{_label(item.section, item.no)}: {'; '.join(doubts)}.")
        items.append(item)
        result.confidence.append(d.confidence)
    return items


# --- the command -----------------------------------------------------------------------------


def summary(result: ImportResult, output: Path | None = None) -> str:
    """The Russian report import-plan prints."""
    lines = [f"Импорт дорожной карты: {result.source}"]
    if not result.found_table:
        lines.append(
            "Таблица дорожной карты не найдена: нет строки заголовков, где есть «Мероприятие» и "
            "хотя бы два из столбцов «№ п/п», «Сроки», «Ответственные», «Результат»."
        )
        return "\n".join(lines)
    period = str(result.period) if result.period else "не определён"
    lines.append(f"Период: {period} — {result.period_source}")
    lines.append(
        "Столбцы: "
        + "; ".join(
            f"{COLUMN_TITLES[k]} ← «{result.columns[k]}»"
            for k in (*PLAN_KEYS, *KEYS)
            if k in result.columns
        )
    )
    lines.append(f"Мероприятий: {len(result.items)}")
    if result.items:
        lines.append("По разделам:")
        for section, count in result.sections.items():
            lines.append(f"  {section or NO_SECTION}: {count}")
        schools = sum(1 for i in result.items if i.audience is Audience.SCHOOLS)
        lines.append(f"Для школ (ОО): {schools}; только для МОУО: {len(result.items) - schools}")
    if result.recognised:
        lines.append(
            "Текст распознан с изображения (Tesseract): перед рассылкой сверьте план с документом."
        )
        check = result.to_check
        if check:
            lines.append(
                f"Проверьте ({len(check)}) — распознано неуверенно (меньше "
                f"{CONFIDENCE_THRESHOLD:.0f}%), в плане отмечено в столбце «{CHECK_COLUMN}»:"
            )
            lines.extend(f"  {_label(i.section, i.no)}: {c:.0f}%" for i, c in check)
        elif result.items:
            lines.append(f"Все строки распознаны уверенно (не меньше {CONFIDENCE_THRESHOLD:.0f}%).")
    unread = result.unread_deadlines
    if unread:
        lines.append(f"Сроки не прочитаны ({len(unread)}), укажите «Срок (дата)» в плане вручную:")
        lines.extend(f"  {_label(i.section, i.no)}: «{i.deadline_text}»" for i in unread)
    elif result.items:
        lines.append("Все сроки прочитаны.")
    for title, entries in (
        ("Строки, в которых импорт не уверен", result.unsure),
        ("Не размещено (в план не попало)", result.unplaced),
        ("Замечания", result.notes),
    ):
        if entries:
            lines.append(f"{title} ({len(entries)}):")
            lines.extend(f"  {e}" for e in entries)
    if output is not None:
        lines.append(f"План записан: {output}")
    return "\n".join(lines)


_PLAN_SUFFIXES = (".tsv", ".csv", ".txt", ".xlsx")


def write_checked_plan(result: ImportResult, output: Path) -> None:
    """The plan with a first column «Проверить»: «проверьте (62%)» on rows OCR was unsure of.

    load_plan ignores the extra column; in .xlsx those rows are also filled yellow.
    """
    rows = plan_rows(result.items)
    rows[0].insert(0, CHECK_COLUMN)  # first, where the coordinator looks first
    unsure = {id(item): c for item, c in result.to_check}
    for row, item in zip(rows[1:], result.items, strict=True):
        c = unsure.get(id(item))
        row.insert(0, f"проверьте ({c:.0f}%)" if c is not None else "")
    output = Path(output)
    if output.suffix.lower() in (".xlsx", ".xlsm"):
        from openpyxl import load_workbook
        from openpyxl.styles import PatternFill

        from sync.backends.xlsxio import write_grid

        write_grid(output, PLAN_SHEET, rows)
        wb = load_workbook(output)
        ws = wb.active
        assert ws is not None
        yellow = PatternFill("solid", fgColor="FFF2CC")
        ws.column_dimensions["A"].width = 18
        for r, row in enumerate(rows[1:], start=2):
            if row[0]:
                for c in range(1, len(row) + 1):
                    ws.cell(r, c).fill = yellow
        wb.save(output)
        return
    buf = io.StringIO()
    csv.writer(buf, "excel" if output.suffix.lower() == ".csv" else "excel-tab").writerows(rows)
    output.write_text(buf.getvalue(), encoding="utf-8")


def import_plan_command(file: Path, output: Path, period: Period | None) -> tuple[int, str]:
    """`roadmap-sync import-plan`: (exit code, Russian report); writes the plan only on success.

    0 — the plan is written; 1 — no roadmap table (or no period) in the document;
    2 — the document cannot be read or the plan cannot be written.
    """
    file, output = Path(file), Path(output)
    if output.suffix.lower() not in _PLAN_SUFFIXES:
        return 2, f"Файл плана должен быть .tsv, .csv или .xlsx, а не «{output.name}»."
    try:
        result = import_file(file, period)
    except ImportFileError as e:
        return 2, str(e)
    if not result.found_table:
        return 1, summary(result)
    if result.period is None:
        return 1, summary(result) + "\nПлан не записан: укажите период параметром --period."
    if not result.items:
        return 1, summary(result) + "\nПлан не записан: в таблице не найдено ни одного мероприятия."
    try:
        if result.recognised:
            write_checked_plan(result, output)
        else:
            write_plan(result.items, output)
    except OSError as e:
        return 2, summary(result) + f"\nНе удалось записать план в {output}: {e.strerror or e}."
    return 0, summary(result, output)
