"""Read a PDF that has a text layer into blocks for sync.importer, tables from ruling lines.

pdfplumber finds each page's tables from the lines drawn around the cells; a cell's text is the
characters whose centres lie inside it, joined line by line (sync.importer.layout). A table that
runs over several pages is one table: the header row repeated on a new page stays a row (the
importer drops it) and a row the page break cut in two is joined back (the part on the new page
has an empty first cell). Text outside the tables is prose, in page order, for the period.
A PDF with no text layer is a scan: read_pdf returns None and the caller goes to OCR.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from sync.importer.layout import Line, PageRow, assemble
from sync.importer.types import Block

# A page with fewer characters than this in its text layer is treated as a scanned image.
MIN_CHARS_PER_PAGE = 20


def page_images_cover(path: Path) -> bool:
    """Whether every page is mostly one picture: a scan, perhaps with an OCR text layer under it."""
    import pdfplumber

    with pdfplumber.open(str(path)) as pdf:
        if not pdf.pages:
            return False
        for page in pdf.pages:
            area = page.width * page.height
            covered = max(
                ((i["x1"] - i["x0"]) * (i["bottom"] - i["top"]) for i in page.images), default=0
            )
            if covered < area * 0.5:
                return False
        return True


def read_pdf(path: Path) -> list[Block] | None:
    """Prose and table rows of a PDF with a text layer; None when it is a scan."""
    import pdfplumber

    with pdfplumber.open(str(path)) as pdf:
        if (
            not pdf.pages
            or sum(len(p.chars) for p in pdf.pages) < MIN_CHARS_PER_PAGE * len(pdf.pages) / 2
        ):
            return None
        items: list[tuple[int, float, str | PageRow]] = []
        for number, page in enumerate(pdf.pages, start=1):
            items.extend(_page_items(page, number))
    return assemble(items)


def _page_items(page: Any, number: int) -> list[tuple[int, float, str | PageRow]]:
    tables = page.find_tables()
    out: list[tuple[int, float, str | PageRow]] = []
    boxes = [t.bbox for t in tables]
    outside = page
    for box in boxes:
        outside = outside.outside_bbox(box)
    for line in outside.extract_text_lines(strip=True):
        if line["text"].strip():
            out.append((number, float(line["top"]), line["text"].strip()))
    for table in tables:
        for row in _table_rows(page, table, number):
            out.append((number, row[0], row[1]))
    out.sort(key=lambda x: (x[0], x[1]))
    return out


def _table_rows(page: Any, table: Any, number: int) -> list[tuple[float, PageRow]]:
    rows: list[tuple[float, PageRow]] = []
    above: dict[int, tuple[tuple[float, float, float, float], list[Line]]] = {}
    for row in table.rows:
        top = min(b[1] for b in row.cells if b is not None)
        r = PageRow([], page=number, last_page=number)
        fonts: list[str] = []
        for p, bbox in enumerate(row.cells):
            if bbox is None:
                prev = above.get(p)
                if prev is not None and prev[0][3] > top + 1:  # a cell merged down from above
                    r.repeated.add(p)
                    r.cells.append(prev[1])
                else:
                    r.merged.add(p)
                    r.cells.append([])
                continue
            lines, names = _cell_lines(page, bbox)
            fonts.extend(names)
            r.cells.append(lines)
            above[p] = (bbox, lines)
        if fonts:
            r.bold = all("bold" in f.lower() for f in fonts)
            r.italic = all("italic" in f.lower() or "oblique" in f.lower() for f in fonts)
        rows.append((top, r))
    return rows


def _cell_lines(page: Any, bbox: tuple[float, float, float, float]) -> tuple[list[Line], list[str]]:
    """The cell's lines from the characters whose centres lie inside it.

    A producer that writes the space at the end of a wrapped line (LibreOffice does) tells where
    a line break was a space; for one that does not, the join falls back to geometry.
    """
    x0, top, x1, bottom = bbox
    chars = [
        c
        for c in page.chars
        if x0 <= (c["x0"] + c["x1"]) / 2 <= x1 and top <= (c["top"] + c["bottom"]) / 2 <= bottom
    ]
    spaced = _spaced(page)
    rows: list[list[dict[str, Any]]] = []
    for c in sorted(chars, key=lambda c: (round(c["top"]), c["x0"])):
        if rows and abs(c["top"] - rows[-1][0]["top"]) <= max(1.0, c["size"] * 0.4):
            rows[-1].append(c)
        else:
            rows.append([c])
    lines: list[Line] = []
    fonts: list[str] = []
    for row in rows:
        row.sort(key=lambda c: c["x0"])
        ink = [c for c in row if c["text"].strip()]
        if not ink:
            continue
        text = _words(row)
        fonts.extend(c["fontname"] for c in ink)
        lines.append(
            Line(
                text.strip(),
                x1 - float(ink[-1]["x1"]),
                float(ink[0]["x1"] - ink[0]["x0"]),
                space_after=id(ink[-1]) in spaced,
            )
        )
    return lines, fonts


def _spaced(page: Any) -> set[int]:
    """Ids of the characters the text layer follows with a space (cached on the page)."""
    cached: set[int] | None = getattr(page, "_roadmap_spaced", None)
    if cached is None:
        chars = page.chars
        cached = {
            id(c)
            for c, after in itertools.pairwise(chars)
            if c["text"].strip() and not after["text"].strip()
        }
        page._roadmap_spaced = cached
    return cached


def _words(chars: list[dict[str, Any]]) -> str:
    """Characters of one line as text: spaces as written, or where a gap is wider than a space."""
    out = ""
    prev: dict[str, Any] | None = None
    for c in chars:
        if (
            prev is not None
            and c["text"].strip()
            and prev["text"].strip()
            and c["x0"] - prev["x1"] > c["size"] * 0.2
        ):
            out += " "
        out += c["text"]
        prev = c
    return out


def layout_text(path: Path) -> str:
    """The text layer laid out with spaces, page after page (for a table drawn without lines)."""
    import pdfplumber

    with pdfplumber.open(str(path)) as pdf:
        return "\n".join(page.extract_text(layout=True) or "" for page in pdf.pages)
