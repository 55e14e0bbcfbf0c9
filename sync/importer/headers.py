"""A table's header row, recognised by the meaning of its column names.

>>> meanings(["№ п/п", "Мероприятие", "Сроки исполнения", "Ответственные"])
{'no': 0, 'activity': 1, 'deadline_text': 2, 'responsible': 3}
>>> bool(NUMBER.fullmatch("1.2."))
True
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from sync.importer.types import TableRow
from sync.plan import clean
from sync.spec import normalize_header

__all__ = ["HEADER_MEANINGS", "NUMBER", "is_header", "meanings"]

# A header cell's meaning, tried in this order: "Сроки исполнения" is a deadline, not a responsible.
HEADER_MEANINGS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("section", re.compile(r"^(?:раздел|направление)$")),
    ("due", re.compile(r"^срок ?\(дата\)$")),
    ("audience", re.compile(r"^(?:для кого|кому)$")),
    ("no", re.compile(r"^(?:№|n\b|no\b|номер)|п/п")),
    ("deadline_text", re.compile(r"срок|дата|период|когда")),
    ("responsible", re.compile(r"ответствен|исполнител|кто\b")),
    ("planned_result", re.compile(r"результат|итог|показател|форма отч|продукт")),
    ("activity", re.compile(r"мероприяти|содержание|наименование|деятельност|действи|задач")),
)
NUMBER = re.compile(r"\d{1,3}(?:[.)]\s?\d{1,3})*[.)]?")


def meanings(cells: Sequence[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for i, cell in enumerate(cells):
        name = normalize_header(cell)
        if not name or len(name) > 80:
            continue
        for key, pattern in HEADER_MEANINGS:
            if pattern.search(name):
                found.setdefault(key, i)
                break
    return found


def is_header(row: TableRow) -> bool:
    if row.loose:
        return False
    found = meanings(row.cells)
    no = found.get("no")
    if no is not None and NUMBER.fullmatch(clean(row.cells[no])):
        return False
    return "activity" in found and len(found) >= 3
