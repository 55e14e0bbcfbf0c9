"""The main sheet patched as bytes gives what the parsed-tree patch gives, and leaves every byte
it does not write alone. Odd shapes are made here from real workbooks built by the product."""

from __future__ import annotations

import dataclasses
import io
import re
import zipfile
from pathlib import Path

import pytest
from lxml import etree
from openpyxl import load_workbook

from sync.backends.xlsxio import read_sheets
from sync.backends.xlsxpatch import _patch, patch_workbook, plain_sheet
from sync.cells import column_letter
from sync.model import Control, ControlKey
from sync.paint import Paint
from tests.fixtures import CONTROL, SPEC, backend_of, paint_of
from tests.fixtures import writeback_setup as setup
from tests.libreoffice import XLSX_FILTER, convert

SHEET = "xl/worksheets/sheet1.xml"
REVIEW = SPEC.index("review")
M2 = f'<c r="{column_letter(CONTROL)}2"'.encode()
OVERDUE = Control(ControlKey.OVERDUE, "Просрочено", "FFC7CE")


def members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {n: z.read(n) for n in z.namelist()}


def with_sheet(data: bytes, xml: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as zin, zipfile.ZipFile(out, "w") as zout:
        for info in zin.infolist():
            body = xml if info.filename == SHEET else zin.read(info)
            zout.writestr(info, body, zipfile.ZIP_DEFLATED)
    return out.getvalue()


def shown(data: bytes) -> dict[str, object]:
    """Everything a reader sees on the main sheet: values, styles, notes, merges, validations."""
    ws = load_workbook(io.BytesIO(data))[SPEC.main_sheet]
    cells = {
        c.coordinate: (c.value, c.data_type, c.style_id, repr(c.fill), repr(c.font))
        for row in ws.iter_rows()
        for c in row
        if c.value is not None or c.has_style
    }
    notes = {
        c.coordinate: (c.comment.author, c.comment.text)
        for row in ws.iter_rows()
        for c in row
        if c.comment is not None
    }
    return {
        "cells": cells,
        "notes": notes,
        "merged": sorted(str(m) for m in ws.merged_cells.ranges),
        "validations": sorted(
            (str(v.sqref), v.formula1) for v in ws.data_validations.dataValidation
        ),
        "grid": read_sheets(data)[0],
    }


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, Paint]:
    """A school workbook after its first write-back (its notes' drawing exists) and a paint."""
    config = setup(tmp_path_factory.mktemp("bytes"))
    school = config.schools[0]
    backend = backend_of(config)
    paint, fingerprint = paint_of(config, school, backend)
    assert backend.write_back(school, paint, fingerprint).status == "written"
    paint, _ = paint_of(config, school, backend)
    reviews = ((2, "Принято"), (3, "=1+2"), (4, ""))
    paint = dataclasses.replace(
        paint,
        controls=tuple((r, OVERDUE) for r, _ in paint.controls),
        review_col=REVIEW,
        review_header=SPEC.column("review").header,
        reviews=reviews,
    )
    return Path(school.source).read_bytes(), paint


def both(data: bytes, paint: Paint) -> tuple[bytes, bytes]:
    fast = patch_workbook(data, paint, "roadmap-sync")
    tree = _patch(data, paint, "roadmap-sync", as_bytes=False)
    assert fast.remarks == tree.remarks
    assert (fast.controls_written, fast.reviews_written) == (
        tree.controls_written,
        tree.reviews_written,
    )
    return fast.data, tree.data


def test_the_byte_patch_shows_what_the_tree_patch_shows_and_touches_only_written_cells(
    written: tuple[bytes, Paint],
) -> None:
    data, paint = written
    assert plain_sheet(members(data)[SHEET])
    fast, tree = both(data, paint)
    assert shown(fast) == shown(tree)
    before, after = members(data)[SHEET], members(fast)[SHEET]
    assert after != before
    etree.fromstring(after)  # well-formed
    # Outside the rows written, the school's sheet is byte for byte what it was.
    head, tail = before.index(b"<sheetData"), before.index(b"</sheetData>")
    assert after[:head] == before[:head]
    assert after[after.index(b"</sheetData>") :] == before[tail:]
    ours = rb"(?:" + column_letter(CONTROL).encode() + b"|" + column_letter(REVIEW).encode() + b")"
    untouched = re.compile(rb'<c r="(?!' + ours + rb'\d)[A-Z]+\d+"[^>]*?(?:/>|>.*?</c>)', re.S)
    assert untouched.findall(after) == untouched.findall(before)


def _spoil(xml: bytes) -> bytes:
    """Row 5 emptied to a self-closing row, row 7 removed, the column's cells of row 6 gone."""
    xml = re.sub(rb'<row r="5"([^>]*)>.*?</row>', rb'<row r="5"\1/>', xml, flags=re.S)
    xml = re.sub(rb'<row r="7"[^>]*>.*?</row>', b"", xml, flags=re.S)
    letters = column_letter(CONTROL).encode()
    return re.sub(rb'<c r="' + letters + rb'6"[^>]*?(?:/>|>.*?</c>)', b"", xml, flags=re.S)


def test_cells_and_rows_that_do_not_exist_are_made_in_order(
    written: tuple[bytes, Paint], tmp_path: Path
) -> None:
    data, paint = written
    spoiled = with_sheet(data, _spoil(members(data)[SHEET]))
    assert plain_sheet(members(spoiled)[SHEET])
    extra = ((5, OVERDUE), (6, OVERDUE), (7, OVERDUE), (40, OVERDUE), (41, OVERDUE))
    paint = dataclasses.replace(paint, controls=paint.controls + extra, reviews=((7, "Принято"),))
    fast, tree = both(spoiled, paint)
    assert shown(fast) == shown(tree)
    ws = load_workbook(io.BytesIO(fast))[SPEC.main_sheet]
    for row in (5, 6, 7, 40, 41):
        assert ws.cell(row, CONTROL).value == "Просрочено"
    assert ws.cell(7, REVIEW).value == "Принято"
    xml = members(fast)[SHEET]
    rows = [int(r) for r in re.findall(rb'<row r="(\d+)"', xml)]
    assert rows == sorted(rows) and len(rows) == len(set(rows))
    for row in re.findall(rb"<row [^>]*>.*?</row>", xml, re.S):
        cols = [c for c in re.findall(rb'<c r="([A-Z]+)\d+"', row)]
        assert cols == sorted(cols, key=lambda c: (len(c), c))
    path = tmp_path / "school.xlsx"
    path.write_bytes(fast)
    opened = convert(path, XLSX_FILTER, tmp_path / "lo", tmp_path / "profile")
    assert load_workbook(opened)[SPEC.main_sheet].cell(41, CONTROL).value == "Просрочено"


@pytest.mark.parametrize(
    "spoil",
    [
        lambda x: x.replace(b"<sheetData>", "<!-- школа --><sheetData>".encode(), 1),  # a comment
        lambda x: x.replace(b'<c r="A2"', b'<c ph="0" r="A2"', 1),  # r not first
        lambda x: x.replace(M2, M2 + b' x:note="a>b"', 1).replace(
            b"<worksheet ", b'<worksheet xmlns:x="urn:x" ', 1
        ),  # a ">" inside a value of a cell we write
    ],
)
def test_an_unusual_sheet_is_patched_as_a_tree_with_the_same_result(
    written: tuple[bytes, Paint], spoil: object
) -> None:
    data, paint = written
    xml = spoil(members(data)[SHEET])  # type: ignore[operator]
    odd = with_sheet(data, xml)
    fast, tree = both(odd, paint)
    assert fast == tree
    assert shown(fast)["grid"] == shown(tree)["grid"]


def test_the_first_notes_reference_their_drawing_from_the_byte_patched_sheet(
    tmp_path: Path,
) -> None:
    config = setup(tmp_path)
    school = config.schools[0]
    paint, _ = paint_of(config, school, backend_of(config))
    data = Path(school.source).read_bytes()
    assert b"<legacyDrawing" not in members(data)[SHEET] and paint.notes
    fast, tree = both(data, paint)
    assert shown(fast) == shown(tree)
    xml = members(fast)[SHEET]
    assert xml.count(b"<legacyDrawing") == 1
    etree.fromstring(xml)
    # in the schema's place: after the page setup, before nothing it must follow
    assert xml.index(b"<legacyDrawing") > xml.index(b"</sheetData>")
    assert xml.index(b"<legacyDrawing") > xml.rfind(b"<headerFooter")


def test_a_workbook_saved_by_libreoffice_is_patched_as_bytes_like_the_tree_does(
    tmp_path: Path,
) -> None:
    """LibreOffice writes shared strings, its own row attributes and styles: the byte patch
    reads and writes that shape too (a school's save is the usual input)."""
    config = setup(tmp_path)
    school = config.schools[0]
    path = Path(school.source)
    saved = convert(path, XLSX_FILTER, tmp_path / "lo", tmp_path / "profile")
    path.write_bytes(saved.read_bytes())
    paint, _ = paint_of(config, school, backend_of(config))
    data = path.read_bytes()
    xml = members(data)[SHEET]
    assert plain_sheet(xml) and b't="s"' in xml  # shared strings, as LibreOffice saves
    paint = dataclasses.replace(
        paint,
        review_col=REVIEW,
        review_header=SPEC.column("review").header,
        reviews=((2, "На доработке"),),
    )
    fast, tree = both(data, paint)
    assert shown(fast) == shown(tree)
    assert load_workbook(io.BytesIO(fast))[SPEC.main_sheet].cell(2, REVIEW).value == "На доработке"
