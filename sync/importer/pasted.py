"""Tables pasted as text without tabs, rewritten as tab-separated lines for sync.importer.

What a coordinator gets by copying a roadmap out of a PDF viewer or a legal-reference site:

- pipe tables: ``| 1. | Совещание | МОУО |`` (Markdown, ASCII boxes ``+---+``, box drawing ``│``);
- one cell per line, as PDF text extraction gives: the header's names one per line tell how many
  columns there are, and each row starts at its number;
- columns aligned with runs of spaces (``pdftotext -layout``, a monospaced print): the header
  line's words tell where each column starts.

Each function returns the table as tab-separated text (prose lines kept as they are) or None when
the text is not laid out that way; the importer then reads it like any tab-separated text.
"""

from __future__ import annotations

import re

from sync.importer.headers import NUMBER, is_header, meanings
from sync.importer.types import TableRow

LAYOUTS = {
    "pipes": "столбцы разделены знаком «|»",
    "lines": "по одной ячейке в строке",
    "spaces": "столбцы выровнены пробелами",
}

_PIPE = re.compile(r"[|│┃]")
_RULE = re.compile(r"[\s|│┃+\-=:─━┼┬┴├┤┌┐└┘╋═╪╬╔╗╚╝╠╣╦╩]*")
_GAP = re.compile(r" {2,}|\t")


def relayout(text: str) -> tuple[str, str] | None:
    """(tab-separated text, layout key) for the first layout that yields a header row."""
    for key, convert in (("pipes", pipes), ("spaces", spaces), ("lines", one_per_line)):
        converted = convert(text)
        if converted is not None:
            return converted, key
    return None


def _header_like(cells: list[str]) -> bool:
    return is_header(TableRow(tuple(cells)))


# --- | pipes | -------------------------------------------------------------------------------


def pipes(text: str) -> str | None:
    lines = text.splitlines()
    if sum(1 for line in lines if len(_PIPE.findall(line)) >= 2) < 2:
        return None
    out = []
    found = False
    for line in lines:
        if len(_PIPE.findall(line)) < 2:
            out.append(line)
            continue
        if _RULE.fullmatch(line):
            continue  # |---|---| or +----+----+
        cells = _PIPE.split(line.strip())
        if cells and not cells[0].strip():
            cells = cells[1:]
        if cells and not cells[-1].strip():
            cells = cells[:-1]
        cells = [c.strip() for c in cells]
        found = found or _header_like(cells)
        out.append("\t".join(cells))
    return "\n".join(out) if found else None


# --- columns aligned with spaces --------------------------------------------------------------


def _pieces(line: str) -> list[tuple[int, str]]:
    """The line's runs of text separated by two or more spaces, with where each starts."""
    out = []
    for m in re.finditer(r"\S+(?: \S+)*", line):
        out.append((m.start(), m.group()))
    return out


def spaces(text: str) -> str | None:
    lines = text.expandtabs(8).splitlines()
    for h, line in enumerate(lines):
        pieces = _pieces(line)
        if len(pieces) < 3 or not _header_like([p for _, p in pieces]):
            continue
        starts = [s for s, _ in pieces]
        out = [*lines[:h], "\t".join(p for _, p in pieces)]
        for row in lines[h + 1 :]:
            found = _pieces(row)
            if not found:
                continue
            if (
                len(found) == 1
                and found[0][0] < starts[1] - 1
                and not NUMBER.fullmatch(found[0][1].strip())
            ):
                # one text alone from the left edge: a section title (in the № column)
                out.append(found[0][1] + "\t" * (len(starts) - 1))
                continue
            cells = [""] * len(starts)
            for start, piece in found:
                # the column whose start is nearest at or before the piece (a little slack)
                column = max((c for c, s in enumerate(starts) if s <= start + 2), default=0)
                cells[column] = f"{cells[column]} {piece}".strip()
            out.append("\t".join(cells))
        return "\n".join(out)
    return None


# --- one cell per line -----------------------------------------------------------------------

_SECTION_LINE = re.compile(r"(?:\d{1,2}|[IVXLC]{1,5})\.\s+[А-ЯЁA-Z«\"]")


def one_per_line(text: str) -> str | None:
    lines = [line.strip() for line in text.splitlines()]
    header_at = width = None
    for i in range(len(lines)):
        for k in range(6, 2, -1):  # the longest run of header names starting here
            names = lines[i : i + k]
            if len(names) == k and all(names) and _header_like(names) and len(meanings(names)) == k:
                header_at, width = i, k
                break
        if header_at is not None:
            break
    if header_at is None or width is None:
        return None
    names = lines[header_at : header_at + width]
    numbered = meanings(names).get("no") == 0
    out = [*lines[:header_at], "\t".join(names)]
    body = [line for line in lines[header_at + width :] if line]
    if not numbered:
        for n in range(0, len(body), width):
            out.append("\t".join(body[n : n + width]))
        return "\n".join(out)

    records: list[list[str]] = []
    before: list[str] = []
    for line in body:
        if NUMBER.fullmatch(line):
            records.append([line])
        elif records:
            records[-1].append(line)
        else:
            before.append(line)
    pad = "\t" * (width - 1)  # a title alone in the № column: a section row
    out.extend(f"{line}{pad}" for line in before)  # a section title before the first row
    for r, record in enumerate(records):
        next_no = records[r + 1][0] if r + 1 < len(records) else ""
        cells, tail = _fit_record(record, width, next_no)
        out.append("\t".join(cells))
        out.extend(f"{line}{pad}" for line in tail)
    return "\n".join(out)


def _fit_record(record: list[str], width: int, next_no: str) -> tuple[list[str], list[str]]:
    """A row's lines as its cells, and the lines after it that are not part of it (a title)."""
    no, rest = record[0], record[1:]
    tail: list[str] = []
    # A title between this row and the next: "2. Общесистемные мероприятия", or a line in
    # capitals when the numbering restarts after it.
    while rest and len(rest) > width - 1:
        last = rest[-1]
        restart = next_no.rstrip(".") in ("1", "1.1")
        if _SECTION_LINE.match(last) or (restart and last[:1].isupper()):
            tail.insert(0, last)
            rest = rest[:-1]
        else:
            break
    # Cells wrapped over several lines: a line starting in lower case continues the one above.
    while len(rest) > width - 1:
        joined = next(
            (i for i in range(len(rest) - 1, 0, -1) if rest[i][:1].islower()),
            None,
        )
        if joined is None:
            break
        rest[joined - 1 : joined + 1] = [f"{rest[joined - 1]} {rest[joined]}"]
    return [no, *rest], tail
