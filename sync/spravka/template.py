"""The default справка template (default.docx), built from code with python-docx.

The template is a plain Word document with docxtpl placeholders ({{ … }}, {%tr for … %} rows,
{%p if … %} paragraphs): a department copies it, changes the letterhead, the wording and the
signature block in Word or LibreOffice and points `[report] template` at its copy. The build is
reproducible (fixed dates in the package and the zip), so a test can check that the committed file
is exactly what this code makes: `python -m sync.spravka.template` rewrites it.

Russian official style (ГОСТ Р 7.0.97-2016): Times New Roman 14 for the text, 12 in tables,
margins 30/10/20/20 mm, tables and figures numbered «Таблица 1», «Рисунок 1».
"""

from __future__ import annotations

import io
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

from docx import Document
from docx.document import Document as DocxDocument
from docx.enum.section import WD_ORIENT
from docx.enum.style import WD_STYLE_TYPE
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Mm, Pt
from docx.table import Table, _Cell, _Row
from docx.text.font import Font

DEFAULT_TEMPLATE = Path(__file__).with_name("default.docx")
FONT = "Times New Roman"
TEXT_PT, TABLE_PT = 14, 12
FIXED_TIME = datetime(2026, 1, 1, 0, 0, 0)
TABLE_STYLE, CAPTION_STYLE, HEADING_STYLE = "Текст таблицы", "Подпись", "Заголовок справки"


def _fonts(font: Font, size: int, *, bold: bool = False) -> None:
    font.name = FONT
    font.size = Pt(size)
    font.bold = bold
    # Cyrillic and complex scripts read their own font slots: set all of them.
    rpr = font._element.get_or_add_rPr()
    fonts = rpr.find(qn("w:rFonts"))
    if fonts is None:
        fonts = OxmlElement("w:rFonts")
        rpr.insert(0, fonts)
    for slot in ("w:ascii", "w:hAnsi", "w:eastAsia", "w:cs"):
        fonts.set(qn(slot), FONT)


def _styles(doc: DocxDocument) -> None:
    normal = doc.styles["Normal"]
    _fonts(normal.font, TEXT_PT)
    pf = normal.paragraph_format
    pf.first_line_indent = Cm(1.25)
    pf.space_before = Pt(0)
    pf.space_after = Pt(0)
    pf.line_spacing = 1.15
    pf.alignment = WD_ALIGN_PARAGRAPH.JUSTIFY
    for name, size, bold, align, before, after in (
        (TABLE_STYLE, TABLE_PT, False, WD_ALIGN_PARAGRAPH.LEFT, 0, 0),
        (CAPTION_STYLE, TEXT_PT, False, WD_ALIGN_PARAGRAPH.LEFT, 6, 3),
        (HEADING_STYLE, TEXT_PT, True, WD_ALIGN_PARAGRAPH.LEFT, 10, 4),
    ):
        style = doc.styles.add_style(name, WD_STYLE_TYPE.PARAGRAPH)
        style.base_style = normal
        _fonts(style.font, size, bold=bold)
        spf = style.paragraph_format
        spf.first_line_indent = Cm(0) if name != HEADING_STYLE else Cm(1.25)
        spf.alignment = align
        spf.space_before = Pt(before)
        spf.space_after = Pt(after)
        spf.line_spacing = 1.0
        if name != TABLE_STYLE:
            spf.keep_with_next = True


def _para(doc: DocxDocument, text: str = "", style: str | None = None, **fmt: Any) -> None:
    """A paragraph; `keep=True` keeps it on the page of the next one (an intro with its
    caption and table, a chart with its caption, the conclusions with the signature)."""
    p = doc.add_paragraph(style=style)
    if fmt.get("keep"):
        p.paragraph_format.keep_with_next = True
    if text:
        run = p.add_run(text)
        if fmt.get("bold"):
            run.bold = True
    if "align" in fmt:
        p.paragraph_format.alignment = fmt["align"]
    if fmt.get("no_indent"):
        p.paragraph_format.first_line_indent = Cm(0)


def _header_row(row: _Row) -> None:
    trpr = row._tr.get_or_add_trPr()
    flag = OxmlElement("w:tblHeader")
    flag.set(qn("w:val"), "true")
    trpr.append(flag)


def _cell(cell: _Cell, text: str, *, bold: bool = False, center: bool = False) -> None:
    p = cell.paragraphs[0]
    p.style = TABLE_STYLE
    if center:
        p.paragraph_format.alignment = WD_ALIGN_PARAGRAPH.CENTER
    if text:
        run = p.add_run(text)
        run.bold = bold


def _table(
    doc: DocxDocument,
    headers: list[str],
    widths_cm: list[float],
    loop: str | None,
    cells: list[str],
    total: list[str] | None = None,
    left: tuple[int, ...] = (0,),
) -> Table:
    """A grid table: a repeated header row, then a docxtpl row loop over `cells` (or one row).

    Columns in `left` hold text (left-aligned); the others numbers and dates (centred).
    """
    rows = 1 + (3 if loop else 1) + (1 if total else 0)
    table: Table = doc.add_table(rows=rows, cols=len(headers))
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    table.autofit = False
    for i, h in enumerate(headers):
        _cell(table.rows[0].cells[i], h, bold=True, center=True)
    _header_row(table.rows[0])
    r = 1
    if loop:
        _cell(table.rows[r].cells[0], f"{{%tr for {loop} %}}")
        r += 1
    for i, text in enumerate(cells):
        _cell(table.rows[r].cells[i], text, center=i not in left)
    r += 1
    if loop:
        _cell(table.rows[r].cells[0], "{%tr endfor %}")
        r += 1
    if total:
        for i, text in enumerate(total):
            _cell(table.rows[r].cells[i], text, bold=True, center=i > 0)
    # LibreOffice reads the grid's widths, Word the cells': set both.
    for width, column in zip(widths_cm, table.columns, strict=True):
        column.width = Cm(width)
    for row in table.rows:
        for width, cell in zip(widths_cm, row.cells, strict=True):
            cell.width = Cm(width)
    return table


def build_default_template() -> bytes:
    """The default template's bytes: the same code always gives the same file."""
    doc = Document()
    section = doc.sections[0]
    section.orientation = WD_ORIENT.PORTRAIT
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.left_margin, section.right_margin = Mm(30), Mm(10)
    section.top_margin, section.bottom_margin = Mm(20), Mm(20)
    _styles(doc)
    center = WD_ALIGN_PARAGRAPH.CENTER

    # Letterhead and title: the department replaces these lines with its own.
    _para(doc, "{{ department }}", bold=True, align=center, no_indent=True)
    _para(doc, "{{ municipality }}", align=center, no_indent=True)
    _para(doc)
    _para(doc, "АНАЛИТИЧЕСКАЯ СПРАВКА", bold=True, align=center, no_indent=True)
    _para(
        doc,
        "по итогам реализации дорожной карты поддержки школ с низкими образовательными"
        " результатами и школ, функционирующих в неблагоприятных социальных условиях,"
        " за период с {{ period_start }} по {{ period_end }}",
        align=center,
        no_indent=True,
    )
    _para(doc)
    _para(doc, "{{ date }}", align=WD_ALIGN_PARAGRAPH.RIGHT, no_indent=True)
    _para(doc)

    _para(doc, "1. Общие сведения", HEADING_STYLE)
    _para(
        doc,
        "Справка подготовлена по данным муниципального свода дорожной карты на {{ date }}:"
        " книги школ, которые синхронизация проверила и свела, по последнему прочтению каждой"
        " книги не позднее этой даты. Основные показатели приведены в таблице 1.",
        keep=True,
    )
    _para(doc, "{%p if not_read %}")
    _para(
        doc,
        "Нет данных (книга не прочитана синхронизацией): {{ not_read }}.",
        keep=True,
    )
    _para(doc, "{%p endif %}")
    _para(doc, "Таблица 1 — Основные показатели реализации дорожной карты", CAPTION_STYLE)
    _table(
        doc,
        ["Показатель", "Значение"],
        [12.5, 4.5],
        "h in headline",
        ["{{ h.name }}", "{{ h.value }}"],
    )
    _para(doc, "{{ review_note }}")
    _para(doc)

    _para(doc, "2. Исполнение мероприятий по разделам", HEADING_STYLE)
    _para(
        doc,
        "Исполнение мероприятий по разделам дорожной карты приведено в таблице 2 и на"
        " рисунке 1. Доля выполненных считается от мероприятий, кроме отмеченных"
        " «Не требуется».",
        keep=True,
    )
    # Soft hyphens: narrow number columns break their headers where Russian allows it.
    headers = [
        "Всего",
        "Выпол\u00adнено",
        "Просро\u00adчено",
        "Не выпол\u00adнено",
        "% выпол\u00adнения",
    ]
    numbers = [
        "{{ s.activities }}",
        "{{ s.done }}",
        "{{ s.overdue }}",
        "{{ s.not_done }}",
        "{{ s.percent }}",
    ]
    totals = [
        "{{ total.activities }}",
        "{{ total.done }}",
        "{{ total.overdue }}",
        "{{ total.not_done }}",
        "{{ total.percent }}",
    ]
    _para(doc, "Таблица 2 — Исполнение мероприятий по разделам", CAPTION_STYLE)
    _table(
        doc,
        ["Раздел", *headers],
        [7.0, 1.7, 2.1, 2.1, 2.1, 2.0],
        "s in sections",
        ["{{ s.name }}", *numbers],
        ["Итого", *totals],
    )
    _para(doc)
    _para(doc, "{{ chart_sections }}", align=center, no_indent=True, keep=True)
    _para(doc, "Рисунок 1 — Выполнение мероприятий по разделам", CAPTION_STYLE, align=center)
    _para(doc)

    _para(doc, "3. Исполнение мероприятий по школам", HEADING_STYLE)
    _para(
        doc, "Исполнение мероприятий каждой школой приведено в таблице 3 и на рисунке 2.", keep=True
    )
    _para(doc, "Таблица 3 — Исполнение мероприятий по школам", CAPTION_STYLE)
    _table(
        doc,
        ["Школа", "Категория", *headers],
        [4.6, 2.5, 1.7, 2.1, 2.1, 2.1, 1.9],
        "s in schools",
        ["{{ s.name }}{{ s.note_text }}", "{{ s.category }}", *numbers],
        ["Итого", "", *totals],
        left=(0, 1),
    )
    _para(doc)
    _para(doc, "{{ chart_schools }}", align=center, no_indent=True, keep=True)
    _para(doc, "Рисунок 2 — Выполнение мероприятий по школам", CAPTION_STYLE, align=center)
    _para(doc)

    _para(doc, "4. Просроченные мероприятия", HEADING_STYLE)
    _para(
        doc,
        "Мероприятия, срок которых прошёл, а выполнение не отмечено, с пояснениями школ"
        " (столбец «Комментарий» книги школы), приведены в таблице 4.",
        keep=True,
    )
    _para(doc, "Таблица 4 — Просроченные мероприятия", CAPTION_STYLE)
    activity_headers = ["№", "Школа", "№ п/п", "Мероприятие", "Срок"]
    activity_cells = [
        "{{ a.n }}",
        "{{ a.school }}",
        "{{ a.no }}",
        "{{ a.activity }}",
        "{{ a.due }}",
    ]
    _table(
        doc,
        [*activity_headers, "Пояснение школы"],
        [1.0, 3.2, 1.3, 5.2, 2.8, 3.5],
        "a in overdue",
        [*activity_cells, "{{ a.comment }}"],
        left=(1, 3, 5),
    )
    _para(doc)

    _para(doc, "5. Невыполненные мероприятия и причины", HEADING_STYLE)
    _para(
        doc,
        "Мероприятия, которые школы отметили как «Не выполнено», с причинами, указанными"
        " школами, приведены в таблице 5.",
        keep=True,
    )
    _para(doc, "Таблица 5 — Невыполненные мероприятия", CAPTION_STYLE)
    _table(
        doc,
        [*activity_headers, "Причина (комментарий школы)"],
        [1.0, 3.2, 1.3, 5.2, 2.8, 3.5],
        "a in not_done",
        [*activity_cells, "{{ a.comment }}"],
        left=(1, 3, 5),
    )
    _para(doc)

    _para(doc, "6. Изменения со времени предыдущей справки", HEADING_STYLE)
    _para(doc, "{%p if previous %}")
    _para(
        doc,
        "По сравнению со справкой на {{ previous }} выполнено мероприятий: {{ change_done }};"
        " просроченных: {{ change_overdue }}. Изменения по школам приведены в таблице 6.",
        keep=True,
    )
    _para(doc, "Таблица 6 — Изменения по школам со времени предыдущей справки", CAPTION_STYLE)
    _table(
        doc,
        [
            "Школа",
            "Выполнено: было → стало",
            "Изме\u00adнение",
            "Просрочено: было → стало",
            "Изме\u00adнение",
        ],
        [6.0, 3.3, 2.2, 3.3, 2.2],
        "c in changes",
        [
            "{{ c.name }}",
            "{{ c.done_before }} → {{ c.done_now }}",
            "{{ c.done_delta }}",
            "{{ c.overdue_before }} → {{ c.overdue_now }}",
            "{{ c.overdue_delta }}",
        ],
        [
            "Итого",
            "{{ change_total.done_before }} → {{ change_total.done_now }}",
            "{{ change_total.done_delta }}",
            "{{ change_total.overdue_before }} → {{ change_total.overdue_now }}",
            "{{ change_total.overdue_delta }}",
        ],
    )
    _para(doc, "{%p else %}")
    _para(doc, "Это первая справка: предыдущих справок в истории синхронизации нет.")
    _para(doc, "{%p endif %}")
    _para(doc)

    # The conclusions, the blank lines and the signature stay on one page: the signature
    # never stands alone on the last one.
    _para(doc, "7. Выводы и предложения", HEADING_STYLE)
    _para(doc, "{{ conclusions }}", keep=True)
    _para(doc, keep=True)
    _para(doc, keep=True)

    sign = doc.add_table(rows=1, cols=3)
    sign.autofit = False
    for width, cell, text in zip(
        (7.5, 4.0, 5.5),
        sign.rows[0].cells,
        ("{{ signer_position }}", "____________", "{{ signer }}"),
        strict=True,
    ):
        cell.width = Cm(width)
        p = cell.paragraphs[0]
        p.paragraph_format.keep_with_next = True
        p.paragraph_format.first_line_indent = Cm(0)
        p.paragraph_format.alignment = WD_ALIGN_PARAGRAPH.LEFT
        p.add_run(text)

    props = doc.core_properties
    props.title = "Аналитическая справка по итогам реализации дорожной карты"
    props.author = props.last_modified_by = "roadmap-sync"
    props.created = props.modified = FIXED_TIME
    props.revision = 1
    raw = io.BytesIO()
    doc.save(raw)
    return _stable_zip(raw.getvalue())


def _stable_zip(data: bytes) -> bytes:
    """The same zip with fixed entry times: a rebuild gives the same bytes."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o644 << 16
            dst.writestr(fixed, src.read(info.filename))
    return out.getvalue()


def main() -> None:
    DEFAULT_TEMPLATE.write_bytes(build_default_template())
    print(f"{DEFAULT_TEMPLATE} ({DEFAULT_TEMPLATE.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
