"""Build the documents a department publishes from the shared seed roadmaps, in the test run.

A seed (../shared/seeds/*.txt) is imported as text; its rows are written into a Word order
(prose, then the table with the seed's own header, sections as bold rows merged across the table
and the header repeated on every page); LibreOffice prints that .docx to a PDF with a text layer
and the PDF's pages rasterised at a scanner's resolution give a scanned PDF or an image.
"""

from __future__ import annotations

from pathlib import Path

from docx import Document
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Pt

from sync.importer import ImportResult, TableRow, text_blocks

HEADER_KEYS = {
    "no": "№ п/п",
}


def seed_parts(path: Path) -> tuple[list[str], list[str]]:
    """The seed's prose before its table and its header row as written."""
    blocks = text_blocks(path.read_text(encoding="utf-8"))
    rows = [b for b in blocks if isinstance(b, TableRow)]
    h = next(i for i, b in enumerate(rows) if len(b.cells) > 1 and b.cells[0] == "№ п/п")
    prose = [" ".join(c for c in b.cells if c.strip()) for b in rows[:h]]
    prose = [p for p in prose if p.strip() and set(p.strip()) - set("-* ")]
    header = [c.strip() for c in rows[h].cells if c.strip()]
    return prose, header


def _repeat_header(row: object) -> None:
    tr_pr = row._tr.get_or_add_trPr()  # type: ignore[attr-defined]
    flag = OxmlElement("w:tblHeader")
    flag.set(qn("w:val"), "true")
    tr_pr.append(flag)


def _borders(table: object) -> None:
    """Single lines around every cell, as printed orders have."""
    tbl_pr = table._tbl.tblPr  # type: ignore[attr-defined]
    borders = OxmlElement("w:tblBorders")
    for edge in ("top", "left", "bottom", "right", "insideH", "insideV"):
        line = OxmlElement(f"w:{edge}")
        line.set(qn("w:val"), "single")
        line.set(qn("w:sz"), "6")
        line.set(qn("w:color"), "000000")
        borders.append(line)
    tbl_pr.append(borders)


def field_of(header: str) -> str:
    """Which plan field a seed header column holds."""
    h = header.lower()
    if h.startswith("№"):
        return "no"
    if "срок" in h:
        return "deadline_text"
    if "ответствен" in h:
        return "responsible"
    if "результат" in h:
        return "planned_result"
    return "activity"


def write_order_docx(seed: Path, imported: ImportResult, out: Path, font_pt: float = 11) -> Path:
    """The seed as a Word order: prose, then its roadmap table (sections merged across)."""
    prose, header = seed_parts(seed)
    doc = Document()
    style = doc.styles["Normal"]
    style.font.name = "Liberation Serif"  # type: ignore[attr-defined]
    style.font.size = Pt(font_pt)  # type: ignore[attr-defined]
    for line in prose:
        doc.add_paragraph(line)
    table = doc.add_table(rows=1, cols=len(header))
    _borders(table)
    for cell, name in zip(table.rows[0].cells, header, strict=True):
        cell.text = name
    _repeat_header(table.rows[0])
    fields = [field_of(h) for h in header]
    section = ""
    for item in imported.items:
        if item.section != section:
            section = item.section
            row = table.add_row()
            merged = row.cells[0].merge(row.cells[-1])
            merged.text = ""
            merged.paragraphs[0].add_run(section).bold = True
        row = table.add_row()
        for cell, key in zip(row.cells, fields, strict=True):
            cell.text = item.no + "." if key == "no" else getattr(item, key)
    doc.add_paragraph("Начальник управления образования")
    doc.save(str(out))
    return out
