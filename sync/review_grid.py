"""The master's «Мероприятия» as a grid of values -> the coordinator's review marks (pure).

Every storage that reads the master as values uses it (the Google master, the master open in
Excel): the header row and the review columns are found by their headers, each line's hidden key
says which school's row it is and how the master showed it (sync.review.decode_key).
"""

from __future__ import annotations

from collections.abc import Sequence

from sync.model import CellValue
from sync.review import (
    COMMENT_HEADER,
    KEY_HEADER,
    MARK_HEADER,
    MARK_RU,
    Mark,
    MasterMark,
    decode_key,
)
from sync.spec import normalize_header
from sync.text import fold

HEADER_SEARCH_ROWS = 20  # the header is row 1 (Google) or 4 (a workbook): look this far down


def mark_of(text: CellValue, choices: Sequence[str] = ()) -> tuple[Mark | None, str]:
    """A mark cell's text -> (the mark, "") or (None, the text) when it is not a choice.

    Case, «ё» and spaces aside; `choices` are the template's (in MARK_RU order) when it names
    them otherwise. An empty cell is (None, "").

    >>> mark_of(" принято "), mark_of("На  доработке"), mark_of(""), mark_of("Ок")
    ((<Mark.ACCEPTED: 'accepted'>, ''), (<Mark.REWORK: 'rework'>, ''), (None, ''), (None, 'Ок'))
    """
    raw = "" if text is None else str(text).strip()
    if not raw:
        return None, ""
    folded = " ".join(fold(raw).split())
    for i, mark in enumerate(MARK_RU):
        names = {MARK_RU[mark]}
        if i < len(choices):
            names.add(choices[i])
        if folded in {" ".join(fold(n).split()) for n in names}:
            return mark, ""
    return None, raw


def header_of(grid: Sequence[Sequence[CellValue]]) -> tuple[int, dict[str, int]] | None:
    """The header row (0-based) and the review columns (0-based) by header, or None when the
    sheet has no «Отметка МОУО» and «Ключ строки» columns (a master written before them)."""
    wanted = {h: normalize_header(h) for h in (MARK_HEADER, COMMENT_HEADER, KEY_HEADER)}
    for r, line in enumerate(grid[:HEADER_SEARCH_ROWS]):
        found: dict[str, int] = {}
        for c, value in enumerate(line):
            text = normalize_header(str(value or ""))
            for header, norm in wanted.items():
                if text == norm and header not in found:
                    found[header] = c
        if MARK_HEADER in found and KEY_HEADER in found:
            return r, found
    return None


def marks_from_grid(
    grid: Sequence[Sequence[CellValue]], choices: Sequence[str] = ()
) -> tuple[MasterMark, ...]:
    """Every line of the sheet with a readable key, with its mark and comment as typed.

    A line without a key (a coordinator's own line, a total) is not a mark; a mark cell whose
    text is not one of the choices gives mark None and the text in `raw_mark` (reported by the
    core, never applied).
    """
    head = header_of(grid)
    if head is None:
        return ()
    row, cols = head

    def cell(line: Sequence[CellValue], header: str) -> CellValue:
        c = cols.get(header)
        return line[c] if c is not None and c < len(line) else None

    out: list[MasterMark] = []
    for line in grid[row + 1 :]:
        decoded = decode_key(cell(line, KEY_HEADER))
        if decoded is None:
            continue
        key, digest = decoded
        mark, raw = mark_of(cell(line, MARK_HEADER), choices)
        comment = cell(line, COMMENT_HEADER)
        text = "" if comment is None else str(comment).strip()
        out.append(MasterMark(key, digest, mark, text, raw))
    return tuple(out)
