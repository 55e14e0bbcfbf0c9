"""Which cell notes are the sync's own: one rule for every storage (pure).

A note is ours when any sign that the storage can see says so:

- its cell is listed under NOTE_CELLS_KEY in the workbook's hidden service sheet (the nightly
  sync on a folder and the Excel add-in both keep that list: xlwings' remote engine can read
  neither a note's author nor its text);
- its author is NOTE_AUTHOR (an .xlsx comment carries its author);
- its text starts with the NOTE_MARK line (Google Sheets keeps no author for a note).

Every other note is someone's own — a school's or a coordinator's — and is never written over
or deleted; a note of ours meant for such a cell goes elsewhere or is dropped (`plan_notes`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass

from sync.paint import NOTE_CELLS_KEY, Cell, format_note_cells, parse_note_cells

__all__ = [
    "NOTE_AUTHOR",
    "NOTE_CELLS_KEY",
    "NOTE_MARK",
    "NotePlan",
    "format_note_cells",
    "is_ours",
    "ours_among",
    "parse_note_cells",
    "plan_notes",
]

NOTE_AUTHOR = "roadmap-sync"  # the author of the notes written into .xlsx files
# The first line of a note the sync writes where notes keep no author (Google Sheets).
NOTE_MARK = "— Проверка roadmap-sync —"


def is_ours(
    text: str = "",
    *,
    author: str = "",
    cell: Cell | None = None,
    listed: Collection[Cell] = (),
) -> bool:
    """Whether a note is the sync's own, from whatever the storage can see of it.

    >>> is_ours(f"{NOTE_MARK}\\nНет даты"), is_ours("Уточнить у директора")
    (True, False)
    >>> is_ours("мой текст", author=NOTE_AUTHOR), is_ours("мой текст", author="Школа")
    (True, False)
    >>> is_ours(cell=("Дорожная карта", "M3"), listed={("Дорожная карта", "M3")})
    True

    A note that quotes our mark further down is someone's own (an older version wrote our
    words beside the school's):

    >>> is_ours(f"Моё\\n\\n{NOTE_MARK}\\nНет даты")
    False
    """
    return (
        (cell is not None and cell in listed)
        or (bool(author) and author == NOTE_AUTHOR)
        or text.startswith(NOTE_MARK)
    )


def ours_among(
    cells: Iterable[Cell],
    *,
    listed: Collection[Cell] = (),
    texts: Mapping[Cell, str] | None = None,
    authors: Mapping[Cell, str] | None = None,
) -> set[Cell]:
    """The cells among `cells` whose note is ours, by `is_ours` with what the storage knows.

    >>> sorted(ours_among([("Л", "A1"), ("Л", "B2")], listed={("Л", "B2")}))
    [('Л', 'B2')]
    """
    texts, authors = texts or {}, authors or {}
    return {
        c
        for c in cells
        if is_ours(texts.get(c, ""), author=authors.get(c, ""), cell=c, listed=listed)
    }


@dataclass(frozen=True)
class NotePlan:
    """What to do with notes: write these texts, delete our stale ones; the rest is not ours."""

    write: dict[Cell, str]
    delete: frozenset[Cell]
    dropped: tuple[Cell, ...] = ()  # problem cells whose note had nowhere to go


def plan_notes(
    wanted: Mapping[Cell, str],
    occupied: set[Cell],
    ours: set[Cell],
    fallback: Callable[[Cell], Cell | None],
) -> NotePlan:
    """Place the paint's notes without touching a note that is not ours.

    `occupied` are the cells that hold a note now, `ours` those `is_ours` says the sync wrote.
    A note for a cell that holds someone's own note goes to `fallback(cell)` instead (the row's
    Контроль cell), below whatever is there; with no free fallback it is dropped (the alert still
    tells).
    """
    foreign = occupied - ours
    write: dict[Cell, str] = {}
    dropped: list[Cell] = []
    # A cell's own note first, then what was moved to it from cells the school's notes hold.
    for cell, text in sorted(wanted.items(), key=lambda item: item[0] in foreign):
        target = cell if cell not in foreign else fallback(cell)
        if target is None or target in foreign:
            dropped.append(cell)
            continue
        write[target] = f"{write[target]}\n{text}" if target in write else text
    delete = frozenset((ours & occupied) - set(write))
    return NotePlan(write, delete, tuple(dropped))
