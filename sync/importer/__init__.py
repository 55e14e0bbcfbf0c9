"""Import an approved roadmap (.docx order, .xlsx sheet or text pasted from a PDF) into plan rows.

Each reader reduces its document to one stream of blocks: prose paragraphs (str) and table rows
(TableRow: cells as text, with italic and merged-cell marks). One recogniser, `recognise`, then
finds the header by the meaning of its names, maps the columns, reads section rows, glues the rows
a page break tore apart and builds PlanItems with sync.plan.make_item. It never invents a row: what
it cannot place it lists in ImportResult.unplaced, what it had to guess in ImportResult.unsure.

Modules: `types` (blocks and the result: all a reader needs), `headers` (a header row by meaning),
`period` (the roadmap's period), `recogniser`, `readers` (files to blocks), `command` (import-plan).
"""

from __future__ import annotations

from sync.importer.command import import_plan_command, summary, write_checked_plan
from sync.importer.period import detect_period, order_date
from sync.importer.readers import (
    IMAGE_SUFFIXES,
    grid_blocks,
    import_docx,
    import_file,
    import_grid,
    import_pdf,
    import_scan,
    import_text,
    import_xlsx,
    text_blocks,
)
from sync.importer.recogniser import recognise
from sync.importer.types import (
    CHECK_COLUMN,
    COLUMN_TITLES,
    CONFIDENCE_THRESHOLD,
    KEYS,
    NO_SECTION,
    PLAN_KEYS,
    Block,
    ImportFileError,
    ImportResult,
    TableRow,
)

__all__ = [
    "CHECK_COLUMN",
    "COLUMN_TITLES",
    "CONFIDENCE_THRESHOLD",
    "IMAGE_SUFFIXES",
    "KEYS",
    "NO_SECTION",
    "PLAN_KEYS",
    "Block",
    "ImportFileError",
    "ImportResult",
    "TableRow",
    "detect_period",
    "grid_blocks",
    "import_docx",
    "import_file",
    "import_grid",
    "import_pdf",
    "import_plan_command",
    "import_scan",
    "import_text",
    "import_xlsx",
    "order_date",
    "recognise",
    "summary",
    "text_blocks",
    "write_checked_plan",
]
