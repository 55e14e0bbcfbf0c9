"""Hostile school workbooks, generated in the test run (nothing large is committed).

Each function turns a good school workbook into what a careless or hostile school might send.
Zip bombs are written by hand: a deflate block of a repeated byte is compressed once and
repeated, so a 2 GB part costs a few megabytes and well under a second to write.
"""

from __future__ import annotations

import re
import struct
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

from openpyxl import load_workbook

CHUNK = 1 << 20


def _deflate_repeated(
    prefix: bytes, byte: bytes, count: int, suffix: bytes
) -> tuple[bytes, int, int]:
    """Raw deflate of prefix + byte * count + suffix: (compressed, crc32, uncompressed size)."""
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    out = [comp.compress(prefix), comp.flush(zlib.Z_FULL_FLUSH)]
    crc = zlib.crc32(prefix)
    block = byte * CHUNK
    # After a full flush the compressor's history is reset: the same input gives the same bytes.
    one = comp.compress(block) + comp.flush(zlib.Z_FULL_FLUSH)
    block_crc_input = block
    whole, rest = divmod(count, CHUNK)
    out.append(one * whole)
    for _ in range(whole):
        crc = zlib.crc32(block_crc_input, crc)
    tail = byte * rest + suffix
    out.append(comp.compress(tail) + comp.flush())
    crc = zlib.crc32(tail, crc)
    return b"".join(out), crc & 0xFFFFFFFF, len(prefix) + count + len(suffix)


def _write_zip(path: Path, entries: list[tuple[str, bytes, int, int, int]]) -> None:
    """A zip from (name, data, crc, uncompressed size, method) entries, written by hand."""
    local = bytearray()
    central = bytearray()
    for name, data, crc, size, method in entries:
        raw_name = name.encode()
        offset = len(local)
        local += struct.pack(
            "<IHHHHHIIIHH",
            0x04034B50,
            20,
            0,
            method,
            0,
            0x21,
            crc,
            len(data),
            size,
            len(raw_name),
            0,
        )
        local += raw_name + data
        central += struct.pack(
            "<IHHHHHHIIIHHHHHII",
            0x02014B50,
            20,
            20,
            0,
            method,
            0,
            0x21,
            crc,
            len(data),
            size,
            len(raw_name),
            0,
            0,
            0,
            0,
            0,
            offset,
        )
        central += raw_name
    end = struct.pack(
        "<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries), len(central), len(local), 0
    )
    path.write_bytes(bytes(local) + bytes(central) + end)


def _parts(path: Path) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(path) as z:
        return [(i.filename, z.read(i.filename)) for i in z.infolist()]


def _replace_part(path: Path, part: str, make: Callable[[bytes], tuple[bytes, int, int]]) -> None:
    """Rewrite the package with `part` made by `make(old body)` (already deflated)."""
    entries = []
    for name, body in _parts(path):
        if name == part:
            data, crc, size = make(body)
        else:
            comp = zlib.compressobj(6, zlib.DEFLATED, -15)
            data = comp.compress(body) + comp.flush()
            crc, size = zlib.crc32(body) & 0xFFFFFFFF, len(body)
        entries.append((name, data, crc, size, 8))
    _write_zip(path, entries)


def sheet_part(path: Path, title: str) -> str:
    """The zip part of the sheet with this title (openpyxl names them sheetN.xml in order)."""
    wb = load_workbook(path, read_only=True)
    index = wb.sheetnames.index(title)
    wb.close()
    return f"xl/worksheets/sheet{index + 1}.xml"


def far_cell(path: Path, sheet: str, ref: str, value: str = "x") -> None:
    """One typed value at `ref` (XFD1048576, XFD4000) on the given sheet."""
    wb = load_workbook(path)
    wb[sheet][ref].value = value
    wb.save(path)


def whitespace_bomb(path: Path, sheet: str, size: int = 2 << 30) -> None:
    """`size` bytes of whitespace inside the sheet's XML: about 2 MB packed for 2 GB."""

    def make(body: bytes) -> tuple[bytes, int, int]:
        cut = body.index(b"<sheetData")
        return _deflate_repeated(body[:cut], b" ", size, body[cut:])

    _replace_part(path, sheet_part(path, sheet), make)


def huge_text_cell(path: Path, sheet: str, ref: str, size: int) -> None:
    """One inline-string cell of `size` letters at `ref` (a 1.1 GB cell packs to ~1 MB)."""
    far_cell(path, sheet, ref, "HUGE-MARKER")

    def make(body: bytes) -> tuple[bytes, int, int]:
        m = re.search(rb'<c r="' + ref.encode() + rb'"[^>]*>.*?</c>', body, re.S)
        assert m is not None, ref
        head = body[: m.start()] + f'<c r="{ref}" t="inlineStr"><is><t>'.encode()
        tail = b"</t></is></c>" + body[m.end() :]
        return _deflate_repeated(head, b"a", size, tail)

    _replace_part(path, sheet_part(path, sheet), make)


def merged_over_row(path: Path, sheet: str, ranges: tuple[str, ...]) -> None:
    """Cells merged over a row (a wider comment) or down a column, as a school does it."""
    wb = load_workbook(path)
    ws = wb[sheet]
    ws.protection.sheet = False
    for r in ranges:
        ws.merge_cells(r)
    wb.save(path)


def ods_renamed(path: Path) -> None:
    """An OpenDocument spreadsheet saved under the .xlsx name."""
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.spreadsheet")
        z.writestr("content.xml", "<office:document-content/>")
        z.writestr("META-INF/manifest.xml", "<manifest:manifest/>")


def xls_renamed(path: Path) -> None:
    """A legacy .xls (a compound file with a Workbook stream) under the .xlsx name."""
    header = bytes.fromhex("d0cf11e0a1b11ae1") + b"\0" * 504
    directory = "Root Entry".encode("utf-16-le") + b"\0" * 54 + "Workbook".encode("utf-16-le")
    path.write_bytes(header + directory + b"\0" * 2048)
