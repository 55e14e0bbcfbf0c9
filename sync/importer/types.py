"""The importer's types: what readers produce (blocks) and what the recogniser returns.

Readers (sync.importer.docx_reader, pdf_reader, ocr_reader, layout, pasted) depend on this
module only, never on the recogniser, so the importer can call them without an import cycle.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from sync.model import DeadlineKind, Period, PlanItem
from sync.plan import PLAN_COLUMNS


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


def label(section: str, no: str) -> str:
    """How a row is named in the importer's messages.

    >>> label("Общие мероприятия", "1.2")
    '№ 1.2 (раздел «Общие мероприятия»)'
    """
    return f"№ {no} (раздел «{section}»)" if section else f"№ {no}"
