"""Text laid out on a page (a PDF's text layer or OCR words): a table cell's lines, joined.

A word processor wraps a cell's text at spaces; a word longer than the column is broken at the
cell's edge with no hyphen ("Муниципальны" + "е органы"). Joining a cell's lines therefore needs
the geometry: a line that is one word and fills the cell up to where the next line's first
letter would not fit continues that word; any other line break was a space.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sync.importer.headers import is_header
from sync.importer.types import Block, TableRow


@dataclass(frozen=True)
class Line:
    """One line of text inside a cell."""

    text: str
    gap: float  # free space between the line's end and the cell's right edge
    first_width: float  # width of the line's first character
    space_after: bool = False  # the text layer wrote a space at the line's end
    confidence: float | None = None  # OCR: mean word confidence 0..100


_CLOSING = tuple(")»]}.,;:!?%”")


def join_lines(lines: list[Line], padding: float, known: frozenset[str] = frozenset()) -> str:
    """A cell's lines as one text.

    padding is the cell's inner margin on the right; known holds the document's words seen
    whole (not at a line's end or start), to tell a broken word from a wrap at a space.
    """
    out = ""
    for i, line in enumerate(lines):
        text = line.text.strip()
        if not text:
            continue
        if not out:
            out = text
            continue
        prev = lines[i - 1]
        prev_text = prev.text.strip()
        if prev.space_after or not prev_text:  # the text layer wrote the space (or left it out)
            out += " " + text
            continue
        if text.startswith(_CLOSING) or prev_text.endswith(("(", "«", "„", "/")):
            out += text
            continue
        if len(prev_text) > 1 and prev_text[-1] in "-‑" and prev_text[-2].isalpha():
            out += text  # "плана-" + "графика": a break after a hyphen inside a word
            continue
        out += text if _broken_word(prev, prev_text, line, text, padding, known) else " " + text
    return out


# Short words a wrapped line may start with; any other short lowercase start is a word's ending.
_SHORT_WORDS = frozenset(
    (
        "а",
        "б",
        "в",
        "ж",
        "и",
        "к",
        "о",
        "с",
        "у",
        "я",
        "во",
        "до",
        "за",
        "из",
        "их",
        "ко",
        "на",
        "не",
        "ни",
        "но",
        "об",
        "от",
        "по",
        "со",
        "то",
        "же",
        "ли",
        "её",
        "ее",
        "он",
        "она",
        "они",
        "мы",
        "вы",
        "для",
        "при",
        "без",
        "под",
        "над",
        "про",
        "или",
        "как",
        "так",
        "что",
        "это",
        "все",
        "всё",
        "его",
        "год",
        "гг",
        "г",
    )
)
# A word broken before its last letter when that letter is also a word: "педагогическим|и",
# "муниципальног|о", "организаци|я".
_BEFORE_LAST = {
    "и": ("им", "ям", "ам", "ост", "ст"),
    "о": ("ог", "ег"),
    "я": ("ци", "ни", "ти"),
    "у": ("ом", "ем", "ог", "ег"),
}


def _broken_word(
    prev: Line, prev_text: str, line: Line, text: str, padding: float, known: frozenset[str]
) -> bool:
    """Whether a line ending with no space written continues its word on the next line.

    Only a word longer than the column is broken, so it fills its line alone. A word processor
    writes the space of a wrap when it fits in the line: room for a space and none written means
    a broken word. Too little room for a space is ambiguous: the tail decides — a short piece
    that is no word, or one no Russian word starts with, is an ending; the document's own words
    decide the rest, and a longer unknown piece is taken for a word of its own.
    """
    if " " in prev_text or not prev_text[-1:].isalpha() or not text[:1].isalpha():
        return False
    room = prev.gap - padding
    if not text[:1].islower() or room >= line.first_width * 1.1 + 0.5:
        return False
    if room >= line.first_width * 0.5 and prev.confidence is None:
        return True  # a text layer: a space would have fitted and was not written
    head = prev_text.lower()
    tail = text.split()[0].lower().rstrip(".,;:)»")
    if tail in _BEFORE_LAST:
        return head.endswith(_BEFORE_LAST[tail])
    if len(tail) <= 3:
        return tail not in _SHORT_WORDS
    if tail[:1] in "ыьъщ" or tail[:2] in ("ль", "нн"):
        return True
    return head + tail in known


def vocabulary(lines: list[Line], prose: list[str] = ()) -> frozenset[str]:  # type: ignore[assignment]
    """Words seen whole: inside a line (not its first or last word), and in the prose."""
    words: set[str] = set()
    for line in lines:
        parts = line.text.split()
        words.update(parts[1:-1])
        if len(parts) > 1 and parts[0][:1].isupper():  # a capital starts a whole word
            words.add(parts[0])
    for text in prose:
        words.update(text.split()[:-1])
    return frozenset(w.lower().strip('.,;:()«»"') for w in words)


def padding_of(lines: list[Line]) -> float:
    """The right inner margin of a table's cells: the smallest gap any line leaves."""
    gaps = sorted(line.gap for line in lines if line.text.strip())
    if not gaps:
        return 0.0
    return max(0.0, gaps[min(1, len(gaps) - 1)])  # the second smallest: one odd line is noise


@dataclass
class PageRow:
    cells: list[list[Line]]  # per grid position: the cell's lines ([] for an empty cell)
    merged: set[int] = field(default_factory=set)
    repeated: set[int] = field(default_factory=set)
    bold: bool = False
    italic: bool = False
    page: int = 0
    last_page: int = 0  # the page its last part is on (a row a page break cut in two)


def _texts(row: PageRow) -> list[str]:
    return [" ".join(line.text for line in cell) for cell in row.cells]


def assemble(items: list[tuple[int, float, str | PageRow]]) -> list[Block]:
    """Rows of all pages as one stream; a row cut by a page break is joined back."""
    kept: list[str | PageRow] = []
    header: list[str] | None = None
    last: PageRow | None = None  # the last body row so far
    for _, _, item in items:
        if isinstance(item, str):
            kept.append(item)
            continue
        texts = _texts(item)
        if header is None or texts == header or is_header(TableRow(tuple(texts))):
            header = header or texts  # the header, or its repeat on a new page
            kept.append(item)
            continue
        if (
            last is not None
            and item.page > last.last_page
            and not item.cells[0]
            and any(item.cells)
            and not item.merged
            and len(item.cells) == len(last.cells)
        ):
            for p, lines in enumerate(item.cells):
                if p not in item.repeated:
                    last.cells[p] = last.cells[p] + lines
            last.last_page = item.page
            continue
        kept.append(item)
        last = item
    every = [line for x in kept if isinstance(x, PageRow) for c in x.cells for line in c]
    padding = padding_of(every)
    known = vocabulary(every, [x for x in kept if isinstance(x, str)])
    blocks: list[Block] = []
    n = 0
    for x in kept:
        if isinstance(x, str):
            blocks.append(x)
            continue
        n += 1
        blocks.append(
            TableRow(
                tuple(
                    join_lines(c, padding, known) if p not in x.merged else ""
                    for p, c in enumerate(x.cells)
                ),
                italic=x.italic,
                bold=x.bold,
                merged=frozenset(x.merged),
                repeated=frozenset(x.repeated),
                where=f"стр. {x.page}, строка таблицы {n}",
                confidence=_confidence(x),
            )
        )
    return blocks


def _confidence(row: PageRow) -> float | None:
    """OCR: the row's weakest cell (mean confidence of its lines); None for a text layer."""
    cells = []
    for cell in row.cells:
        known = [line.confidence for line in cell if line.confidence is not None]
        if known:
            cells.append(sum(known) / len(known))
    return min(cells) if cells else None
