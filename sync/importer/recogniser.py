"""The recogniser: find the roadmap table among a document's blocks and build plan rows from it.

It finds the header by the meaning of its names (sync.importer.headers), maps the columns, reads
section rows, glues the rows a page break tore apart and builds PlanItems with sync.plan.make_item.
It never invents a row: what it cannot place it lists in ImportResult.unplaced, what it had to guess
in ImportResult.unsure.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from sync.cells import cell_date
from sync.importer.headers import NUMBER, is_header, meanings
from sync.importer.period import NO_PERIOD, detect_period, school_year_of_dates
from sync.importer.types import KEYS, Block, ImportResult, TableRow, label
from sync.model import Audience, Period, PlanItem
from sync.plan import AUDIENCE_VALUES, clean, clean_no, make_item
from sync.spec import normalize_header

__all__ = ["recognise"]

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


def _columns(header: TableRow) -> _Columns:
    found = meanings(header.cells)
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
        (i for i, b in enumerate(blocks) if isinstance(b, TableRow) and is_header(b)),
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
    if period is None and (found_period is None or found_source.startswith(NO_PERIOD)):
        # No period in the prose (a plan file): the deadlines may name one school year.
        deadlines = "\n".join(
            f"{d.fields.get('deadline_text', '')}\n{d.fields.get('due', '')}" for d in drafts
        )
        school = school_year_of_dates(deadlines)
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
    rows = _Rows(region, header, cols, result)
    for row, next_no in zip(region, rows.next_no, strict=True):
        rows.read(row, next_no)
    rows.flush()
    rows.report()
    return rows.drafts


class _Rows:
    """The recogniser's state while it reads a table: the current section, the items so far and
    the rows with no № waiting to be joined to them."""

    def __init__(
        self, region: list[TableRow], header: TableRow, cols: _Columns, result: ImportResult
    ) -> None:
        self.header = header
        self.cols = cols
        self.result = result
        self.header_norm = [normalize_header(c) for c in header.cells if c.strip()]
        self.header_keys = set(meanings(header.cells))
        self.no_at = cols.position("no")
        self.width = cols.width
        # For each row, the № of the next row that has one: a section is followed by its items.
        self.next_no = [""] * len(region)
        following = ""
        for i in range(len(region) - 1, -1, -1):
            self.next_no[i] = following
            following = self.no_of(region[i]) or following
        self.current = _Section("")
        self.drafts: list[_Draft] = []
        self.pending: list[tuple[TableRow, list[str]]] = []  # rows with no №, and their cells
        self.repeats = 0
        self.doubled: list[str] = []
        self.continued: list[str] = []
        self.counter: dict[int, int] = {}  # section id -> numbering when the table has no №

    def no_of(self, row: TableRow) -> str:
        no_at = self.no_at
        if row.loose or no_at is None or no_at >= len(row.cells) or no_at in row.repeated:
            return ""
        no = clean(row.cells[no_at])
        if row.confidence is not None:  # OCR reads "3." as "3,", "1.2." as "1..2." now and then
            fixed = re.sub(r"(?<=\d)[,:;]", ".", re.sub(r"\s+", "", no))
            fixed = re.sub(r"\.{2,}", ".", fixed)
            if NUMBER.fullmatch(fixed):
                return fixed
        return no

    def flush(self) -> None:
        """Join the waiting rows with no № to the items above them."""
        if not self.pending:
            return
        mine = [d for d in self.drafts if d.section is self.current]
        shorts: list[_Draft] = []
        for d in reversed(mine):
            if d.short_from is None:
                break
            shorts.insert(0, d)
        if shorts:
            self._fill_shorts(shorts)
        elif mine:
            for row, cells in self.pending:
                mine[-1].add(self.cols.fields(cells, row.repeated), row.confidence)
            where = ", ".join(r.where for r, _ in self.pending)
            self.continued.append(f"{clean_no(mine[-1].no)} ({where})")
        else:
            for row, _ in self.pending:
                self.result.unplaced.append(
                    f"{row.where}: строка без номера вне мероприятий — "
                    f"«{_short(_block_text(row))}»."
                )
        self.pending.clear()

    def _fill_shorts(self, shorts: list[_Draft]) -> None:
        """The waiting rows are the torn-off ends of text rows that stopped short."""
        pending, cols = self.pending, self.cols
        if len(pending) == len(shorts):
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
        else:
            texts = "; ".join(_short(_block_text(r), 50) for r, _ in pending)
            where = f"{pending[0][0].where} — {pending[-1][0].where}"
            self.result.unplaced.append(
                f"Блок из {len(pending)} строк без номера ({where}: "
                f"{texts}) не удалось сопоставить с {len(shorts)} строками "
                f"{clean_no(shorts[0].no)}–{clean_no(shorts[-1].no)} выше: их число не совпадает."
            )

    def start_section(self, title: str, row: TableRow) -> None:
        self.flush()
        self.current = _Section(clean(title), row.where)

    def read(self, row: TableRow, next_no: str) -> None:
        """One row of the table region."""
        texts = [clean(c) for c in row.cells if clean(c)]
        if not texts:
            return
        if row.loose:
            self._loose(row, texts[0])
            return
        if all(_DEBRIS.fullmatch(t) for t in texts) or self._repeats_header(row, texts):
            return
        if len(texts) >= 3 and texts == [str(n) for n in range(1, len(texts) + 1)]:
            return  # the row of column numbers under the header
        cells, short_from = self._cells(row)
        no = self.no_of(row) if self.no_at is not None else ""
        title = _section_title(row, cells, texts, no, self.no_at, next_no)
        if title is not None:
            self.start_section(title, row)
            return
        self._item(row, cells, no, short_from, next_no)

    def _loose(self, row: TableRow, text: str) -> None:
        """A text line without tabs: a section title, the torn end of one, or text outside."""
        if _DEBRIS.fullmatch(text) or _PAGE_NUMBER.fullmatch(text.lower()):
            return
        current = self.current
        first = next((ch for ch in text if ch.isalpha()), "")
        if first.islower():
            if current.title and len(current.title) <= 60 and len(text) <= 80:
                glue = "" if _TORN_ENDING.match(text) else " "
                joined = current.title + glue + text
                self.result.unsure.append(
                    f"Название раздела «{joined}» собрано из частей, разорванных разрывом "
                    f"страницы ({current.where}, {row.where}); проверьте."
                )
                current.title = joined
            else:
                self.result.unplaced.append(f"{row.where}: «{_short(text)}» — вне таблицы.")
            return
        if row.italic or row.bold or _LOOSE_SECTION.match(text):
            self.start_section(text, row)
        else:
            self.result.unplaced.append(f"{row.where}: «{_short(text)}» — вне таблицы.")

    def _repeats_header(self, row: TableRow, texts: list[str]) -> bool:
        """The header repeated on a new page (counted for the notes)."""
        norm = [normalize_header(c) for c in row.cells if c.strip()]
        found = meanings(row.cells)
        if norm == self.header_norm or (
            set(found) == self.header_keys
            and len(found) == len(texts)  # every text in the row is a column name
            and all(len(t) <= 80 for t in texts)
        ):
            self.repeats += 1
            return True
        return False

    def _cells(self, row: TableRow) -> tuple[list[str], int | None]:
        """The row's cells at the header's width, and where a text row stopped short."""
        cells = list(row.cells)
        width = self.width
        short_from = None
        if row.ragged and len(cells) > width:
            cells, was_doubled, overflow = _fit(cells, width)
            if was_doubled:
                self.doubled.append(clean_no(self.no_of(row)) or row.where)
            if overflow:
                name = clean(self.header.cells[min(width, len(self.header.cells)) - 1])
                self.result.unsure.append(
                    f"{row.where}: в строке больше ячеек, чем столбцов; лишние присоединены "
                    f"к столбцу «{name}»."
                )
        elif row.ragged and len(cells) < width:
            short_from = len(cells)
        cells += [""] * (width - len(cells))
        return cells, short_from

    def _item(
        self, row: TableRow, cells: list[str], no: str, short_from: int | None, next_no: str
    ) -> None:
        """A row that is not a section title: an item, a numbered section or a continuation."""
        cols, no_at = self.cols, self.no_at
        fields = cols.fields(cells)
        if no_at is None:
            if not fields.get("activity"):
                self.pending.append((row, cells))
                return
            self.flush()
            self.counter[id(self.current)] = self.counter.get(id(self.current), 0) + 1
            no = str(self.counter[id(self.current)])
        elif not no:
            self.pending.append((row, cells))
            return
        else:
            self.flush()
        given = fields.get("section", "")
        if given and given != self.current.title:  # a plan file's «Раздел» column
            self.current = _Section(given, row.where)
        if (
            no_at is not None
            and set(k for k, v in fields.items() if v) == {"no", "activity"}
            and (_is_child(next_no, no) or _ROMAN.fullmatch(no))
        ):
            self.start_section(f"{clean_no(no)}. {fields['activity']}", row)
            return
        draft = _Draft(self.current, no, fields, row.where, short_from, confidence=row.confidence)
        if not NUMBER.fullmatch(no) and no_at is not None:
            if len(no) > 12:
                self.result.unplaced.append(
                    f"{row.where}: в столбце «{cols.names['no']}» не номер — «{_short(no)}»; "
                    f"строка «{_short(_block_text(row))}» не импортирована."
                )
                return
            draft.doubts.append(f"необычный номер «{no}»")
        self.drafts.append(draft)

    def report(self) -> None:
        """What the reading did on its own, for ImportResult.notes."""
        notes = self.result.notes
        if self.no_at is None:
            notes.append("В таблице нет столбца «№ п/п»: мероприятия пронумерованы по порядку.")
        if self.repeats:
            notes.append(f"Пропущены повторы строки заголовков на новых страницах: {self.repeats}.")
        if self.doubled:
            notes.append(
                "Столбец, записанный дважды подряд, взят один раз в строках: "
                + ", ".join(self.doubled)
                + "."
            )
        if self.continued:
            notes.append(
                "Продолжения после разрыва страницы присоединены к строкам: "
                + "; ".join(self.continued)
                + "."
            )


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
    if NUMBER.fullmatch(text) or len(text) > 250:
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
                f"{d.where}: {label(d.section.title, clean_no(d.no))} — строка без содержания."
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
            result.unsure.append(f"{label(item.section, item.no)}: {'; '.join(doubts)}.")
        items.append(item)
        result.confidence.append(d.confidence)
    return items
