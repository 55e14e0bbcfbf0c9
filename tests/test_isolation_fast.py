"""The cheap pre-parse checks: a plain zip read without zipfile, the near-extent bound, and the
closer scans every odd file still gets. Hostile files are made here, in the test run."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from pathlib import Path

import pytest

from sync.backends.isolated import (
    PARSER_PARTS,
    NotPlain,
    PlainZip,
    ReadFailure,
    ReadLimits,
    TooBig,
    check_sheets,
    near_extent,
    read_data_here,
)
from sync.backends.xlsxio import read_sheets
from sync.builders.fill import fill_workbook
from sync.distribute import distribute
from sync.spec import load_spec
from tests import hostile
from tests.fixtures import BUILT_AT, PASSPORT, municipality
from tests.libreoffice import XLSX_FILTER, convert

SPEC = load_spec()
FAR_ROW = b'<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>x</t></is></c></row>'


@pytest.fixture(scope="module")
def workbook(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A filled school workbook, as the product builds it."""
    tmp = tmp_path_factory.mktemp("fast")
    config = municipality(tmp)
    distribute(config, built_at=BUILT_AT)
    path = Path(config.schools[0].source)
    fill_workbook(path, SPEC, {"3": {"status": "Выполнено"}}, PASSPORT)
    return path


def parts(data: bytes) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return [(i.filename, z.read(i)) for i in z.infolist()]


def zip_of(
    entries: list[tuple[str, bytes]], tmp: Path, declared: dict[str, int] | None = None
) -> bytes:
    """A zip written by hand (hostile.py's writer): duplicates kept, sizes as `declared` says."""
    raw = []
    for name, body in entries:
        comp = zlib.compressobj(6, zlib.DEFLATED, -15)
        packed = comp.compress(body) + comp.flush()
        size = (declared or {}).get(name, len(body))
        raw.append((name, packed, zlib.crc32(body) & 0xFFFFFFFF, size, 8))
    path = tmp / "hand.xlsx"
    hostile._write_zip(path, raw)
    return path.read_bytes()


def with_far_cell(xml: bytes) -> bytes:
    return xml.replace(b"</sheetData>", FAR_ROW + b"</sheetData>")


def test_the_plain_reader_sees_what_zipfile_sees_in_ours_and_in_libreoffices_files(
    workbook: Path, tmp_path: Path
) -> None:
    saved = convert(workbook, XLSX_FILTER, tmp_path / "lo", tmp_path / "profile")
    for data in (workbook.read_bytes(), saved.read_bytes()):
        plain = PlainZip(data)
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            assert plain.namelist() == z.namelist()
            for info in z.infolist():
                got = plain.getinfo(info.filename)
                assert (got.file_size, got.compress_size, got.CRC) == (
                    info.file_size,
                    info.compress_size,
                    info.CRC,
                )
                assert plain.read(got) == z.read(info)
        raw = read_data_here(data, "школа.xlsx", (SPEC.instructions_sheet,))
        assert SPEC.main_sheet in raw.sheets


def test_an_archive_comment_or_another_layout_goes_through_zipfile_with_the_same_checks(
    workbook: Path, tmp_path: Path
) -> None:
    data = workbook.read_bytes()
    commented = data[:-2] + len(b"note").to_bytes(2, "little") + b"note"
    with pytest.raises(NotPlain):
        PlainZip(commented)
    assert SPEC.main_sheet in read_data_here(commented, "x.xlsx").sheets
    far = [(n, with_far_cell(b) if n.endswith("sheet1.xml") else b) for n, b in parts(data)]
    hostile_data = zip_of(far, tmp_path)
    hostile_commented = hostile_data[:-2] + (4).to_bytes(2, "little") + b"note"
    for bad in (hostile_data, hostile_commented):
        with pytest.raises(ReadFailure, match="XFD1048576"):
            read_data_here(bad, "x.xlsx")


@pytest.mark.parametrize(
    ("xml", "near"),
    [
        (b'<sheetData><row r="1"><c r="A1" s="1"><v>1</v></c><c r="Z9999"/></row>', True),
        (b'<sheetData><row r="1"><c r="AA1"><v>1</v></c></row>', False),  # a second letter
        (b'<sheetData><row r="1"><c r="A10000"><v>1</v></c></row>', False),  # five digits
        (b'<sheetData><row r="1"><c r="XFD1048576"><v>1</v></c></row>', False),
        (b'<sheetData><row r="1"><c s="1" r="XFD1"><v>1</v></c></row>', False),  # r not first
        (b'<sheetData><row r="9"><c><v>1</v></c></row>', False),  # no reference at all
        (b'<sheetData><row r="9"><c\nr="A1"><v>1</v></c></row>', True),  # any one space
        (b'<sheetData><row r="9"><c\n  r="XFD1"><v>1</v></c></row>', False),
        (b'<sheetData><row r="1"><c r="A0"/></row>', False),  # row 0
        (b'<sheetData><row r="1"><c r="&#65;1"/></row>', False),  # an entity
        (b'<sheetData><row r="1"><x:c r="XFD1"/><c r="A1"/></row>', False),  # a prefixed cell
        (b'<sheetData><row r="1"><c r="a1"/></row>', False),
    ],
)
def test_the_near_bound_holds_only_for_cells_written_the_common_way(xml: bytes, near: bool) -> None:
    scan = near_extent(xml)
    assert (scan is not None) is near
    if scan is not None:
        assert (scan.max_row, scan.max_col) == (9999, 26)


def test_a_member_that_unpacks_past_its_declared_size_is_damaged(
    workbook: Path, tmp_path: Path
) -> None:
    entries = parts(workbook.read_bytes())
    sheet = "xl/worksheets/sheet1.xml"
    lying = zip_of(entries, tmp_path, declared={sheet: 100})
    with pytest.raises(ReadFailure, match="повреждён"):
        read_data_here(lying, "x.xlsx")


def test_two_members_of_one_name_are_both_scanned(workbook: Path, tmp_path: Path) -> None:
    entries = parts(workbook.read_bytes())
    sheet = "xl/worksheets/sheet1.xml"
    body = dict(entries)[sheet]
    doubled = zip_of([*entries, (sheet, with_far_cell(body))], tmp_path)
    z = PlainZip(doubled)
    assert [i.filename for i in z.infolist()].count(sheet) == 2
    with pytest.raises(TooBig, match="XFD1048576"):
        check_sheets(z, ReadLimits())


def test_a_sheet_kept_outside_the_worksheets_folder_is_scanned(
    workbook: Path, tmp_path: Path
) -> None:
    moved = "xl/elsewhere/data.xml"
    entries = []
    for name, body in parts(workbook.read_bytes()):
        if name == "xl/worksheets/sheet1.xml":
            name, body = moved, with_far_cell(body)
        elif name == "xl/_rels/workbook.xml.rels":
            body = body.replace(b"worksheets/sheet1.xml", b"elsewhere/data.xml")
        elif name == "[Content_Types].xml":
            body = body.replace(b"/xl/worksheets/sheet1.xml", b"/" + moved.encode())
        entries.append((name, body))
    data = zip_of(entries, tmp_path)
    with pytest.raises(ReadFailure, match=f"«{SPEC.main_sheet}».*XFD1048576"):
        read_data_here(data, "x.xlsx")


def _unpacked(data: bytes) -> bytes:
    z = PlainZip(data)
    bodies: dict[int, bytes] = {}
    check_sheets(z, ReadLimits(), (), bodies)
    assert bodies, "the checks read the sheets whole"
    return z.unpacked(bodies, PARSER_PARTS)


def test_the_parser_is_given_the_same_members_unpacked(workbook: Path) -> None:
    data = workbook.read_bytes()
    copy = _unpacked(data)
    assert len(copy) > 2 * len(data)  # the sheets really are handed over unpacked
    with zipfile.ZipFile(io.BytesIO(data)) as o, zipfile.ZipFile(io.BytesIO(copy)) as c:
        assert c.testzip() is None  # every member's CRC holds
        old, new = o.infolist(), c.infolist()
        assert [(i.filename, i.CRC, i.file_size) for i in new] == [
            (i.filename, i.CRC, i.file_size) for i in old
        ]
        for before, after in zip(old, new, strict=True):
            assert c.read(after) == o.read(before)
            sheet = before.filename.startswith("xl/worksheets/")
            parser_part = before.filename in PARSER_PARTS or sheet
            assert after.compress_type == (
                zipfile.ZIP_STORED if parser_part else before.compress_type
            )
    assert read_sheets(copy) == read_sheets(data)


def test_two_members_of_one_name_each_keep_their_own_body(workbook: Path, tmp_path: Path) -> None:
    entries = parts(workbook.read_bytes())
    sheet = "xl/worksheets/sheet1.xml"
    body = dict(entries)[sheet]
    other = body.replace(b"</sheetData>", b'<row r="60"><c r="B60"><v>7</v></c></row></sheetData>')
    assert other != body
    doubled = zip_of([*entries, (sheet, other)], tmp_path)
    copy = _unpacked(doubled)
    with zipfile.ZipFile(io.BytesIO(copy)) as c:
        bodies = [c.read(i) for i in c.infolist() if i.filename == sheet]
    assert bodies == [body, other]
    assert read_sheets(copy) == read_sheets(doubled)


def test_a_damaged_part_the_checks_do_not_need_is_left_packed_for_the_parser(
    workbook: Path, tmp_path: Path
) -> None:
    data = bytearray(workbook.read_bytes())
    z = PlainZip(bytes(data))
    styles = z.getinfo("xl/styles.xml")
    start = bytes(data).index(z.packed(styles))
    data[start + 5] ^= 0xFF  # the deflate stream no longer unpacks to its CRC
    copy = _unpacked(bytes(data))
    with zipfile.ZipFile(io.BytesIO(copy)) as c:
        assert c.getinfo("xl/styles.xml").compress_type == zipfile.ZIP_DEFLATED


def test_a_negative_value_in_the_common_shape_is_noticed() -> None:
    plain = b'<sheetData><row r="1"><c r="A1" s="1"><v>4</v></c></row></sheetData>'
    for xml, negative in (
        (plain, False),
        (plain.replace(b"<v>4", b"<v>-4"), True),
        (plain.replace(b"<v>4", b"<v> -4"), True),
        (plain.replace(b"<v>4</v>", b"<x:v>-4</x:v>"), True),
    ):
        scan = near_extent(xml)
        assert scan is not None and scan.negative is negative, xml


def _with_aliases(data: bytes, name: str, count: int) -> bytes:
    """`count` more central-directory entries for the member `name`, all pointing at its bytes."""
    z = PlainZip(data)
    pos, records = z.cd_offset, []
    end = len(data) - 22
    while pos < end:
        n, m, k = struct.unpack_from("<3H", data, pos + 28)
        records.append(data[pos : pos + 46 + n + m + k])
        pos += 46 + n + m + k
    alias = next(r for r in records if r[46:].startswith(name.encode()))
    records += [alias] * count
    directory = b"".join(records)
    total = len(records)
    tail = struct.pack(
        "<4s4H2LH", b"PK\x05\x06", 0, 0, total, total, len(directory), z.cd_offset, 0
    )
    return data[: z.cd_offset] + directory + tail


def test_entries_sharing_one_member_do_not_multiply_it(workbook: Path, tmp_path: Path) -> None:
    junk = "docProps/junk.bin"
    entries = [*parts(workbook.read_bytes()), (junk, bytes(range(256)) * 4096)]
    data = _with_aliases(zip_of(entries, tmp_path, declared={junk: 0}), junk, 200)
    z = PlainZip(data)
    assert [i.filename for i in z.infolist()].count(junk) == 201
    with pytest.raises(NotPlain):  # 200 more copies of its bytes: the parser gets the original
        z.unpacked({}, PARSER_PARTS)
    assert (
        read_data_here(data, "x.xlsx").sheets
        == read_data_here(workbook.read_bytes(), "x.xlsx").sheets
    )


def test_a_damaged_member_no_one_reads_does_not_refuse_the_workbook(
    workbook: Path, tmp_path: Path
) -> None:
    thumb = "docProps/thumbnail.jpeg"
    data = bytearray(
        zip_of([*parts(workbook.read_bytes()), (thumb, b"\xff\xd8" + bytes(500))], tmp_path)
    )
    offset = PlainZip(bytes(data)).getinfo(thumb).header_offset
    data[offset + 30] ^= 0x20  # the local header names another member
    with pytest.raises(zipfile.BadZipFile):
        PlainZip(bytes(data)).packed(PlainZip(bytes(data)).getinfo(thumb))
    got = read_data_here(bytes(data), "x.xlsx").sheets
    assert got == read_data_here(workbook.read_bytes(), "x.xlsx").sheets


@pytest.mark.parametrize(
    ("target", "member"),
    [
        ("../data.xml", "xl/../data.xml"),  # the parser opens the joined name as it is
        ("worksheets/./s.xml", "xl/worksheets/./s.xml"),
        ("worksheets/лист.xml", "xl/worksheets/лист.xml"),  # UTF-8, written without the flag
    ],
)
def test_a_sheet_under_an_odd_part_name_is_scanned(
    workbook: Path, tmp_path: Path, target: str, member: str
) -> None:
    entries = []
    for name, body in parts(workbook.read_bytes()):
        if name == "xl/worksheets/sheet1.xml":
            name, body = member, with_far_cell(body)
        elif name == "xl/_rels/workbook.xml.rels":
            body = body.replace(b"worksheets/sheet1.xml", target.encode())
        entries.append((name, body))
    data = zip_of(entries, tmp_path)
    assert member in PlainZip(data).namelist()
    with pytest.raises(ReadFailure, match="XFD1048576"):
        read_data_here(data, "x.xlsx")
