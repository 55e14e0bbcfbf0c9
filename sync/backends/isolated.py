"""Read untrusted school workbooks in worker processes with hard limits.

A school's .xlsx is hostile input: one cell at XFD1048576 makes the parser allocate hundreds of
gigabytes, a few megabytes of compressed whitespace unpack to gigabytes. Every workbook is
therefore (1) checked before the parser allocates anything — the zip's central directory
(uncompressed sizes, compression ratio) and a streamed scan of every sheet's real cell
references — and (2) parsed in a worker process under an address-space and CPU-time limit
(POSIX rlimits; on Windows a watchdog in the parent polls the worker's memory and time). A file
that breaks a limit or kills its worker becomes that school's SourceError with a Russian
message; a dead worker is replaced and the other schools go on. The workers also read in
parallel, one per core.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import hashlib
import html
import io
import multiprocessing as mp
import os
import posixpath
import re
import select
import stat
import struct
import sys
import threading
import time
import zipfile
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from datetime import time as dtime
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

try:  # ISA-L inflates a sheet about twice as fast as zlib; zlib where it is missing
    from isal import isal_zlib as fast_zlib
except ImportError:  # pragma: no cover
    import zlib as fast_zlib  # type: ignore[no-redef]

from sync.cells import column_index
from sync.cells import column_letter as column_letters
from sync.model import RawWorkbook

# Compound-file header: an encrypted .xlsx (a password to open) or a legacy .xls.
OLE2_MAGIC = bytes.fromhex("d0cf11e0a1b11ae1")
MB = 1 << 20

SAVE_AS_XLSX = (
    "Откройте его в Excel, LibreOffice или Р7-Офис и сохраните как «Книга Excel (.xlsx)»"
    " (Файл → Сохранить как → тип файла «Книга Excel 2007-365 (.xlsx)»)."
)


@dataclass(frozen=True)
class ReadLimits:
    """What one school's workbook may cost. The defaults are far above any real roadmap."""

    max_part: int = 64 * MB  # one part of the zip, unpacked
    max_total: int = 256 * MB  # all parts, unpacked
    max_ratio: int = 200  # unpacked / packed, for parts over ratio_floor
    ratio_floor: int = 1 * MB
    max_entries: int = 10_000
    max_area: int = 20_000_000  # rows x columns of one sheet's grid, counted from A1
    max_cells: int = 2_000_000  # cells with content in one sheet
    # What a sheet may hand back (its first MAX_ROWS rows x its width): bounds the parent's memory
    max_grid: int = 1_000_000
    memory: int = 3 << 30  # address space of a worker (RLIMIT_AS; the Windows watchdog)
    cpu_seconds: int = 60  # CPU time for one file (RLIMIT_CPU)
    wall_seconds: float = 120.0  # the parent's watchdog, every OS


class TooBig(Exception):
    """The workbook breaks a limit; str() is the Russian reason (without the file name)."""


class ForeignFormat(Exception):
    """Not an .xlsx at all; str() says what it is and how to save it (without the file name)."""


# --- what the bytes are ---------------------------------------------------------------------


def _ole2_kind(data: bytes) -> str:
    def has(name: str) -> bool:
        return name.encode("utf-16-le") in data

    if has("EncryptedPackage"):
        return (
            "защищён паролем на открытие (так Excel шифрует книгу .xlsx). Снимите пароль"
            " (Файл → Сведения → Защитить книгу → Зашифровать с паролем → пустой пароль)"
            " и сохраните книгу снова."
        )
    if has("Workbook") or has("Book"):
        return (
            "сохранён в старом формате .xls (Книга Excel 97-2003), хотя называется .xlsx. "
            + SAVE_AS_XLSX
        )
    if has("WordDocument"):
        return "— это документ Word старого формата (.doc), а не книга Excel. " + SAVE_AS_XLSX
    return (
        "защищён паролем или сохранён в старом формате .xls. Снимите пароль на открытие и"
        " сохраните файл как «Книга Excel (.xlsx)»."
    )


def _text_kind(head: bytes) -> str:
    low = head[:4096].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if low.startswith(b"%pdf"):
        return "документ PDF"
    if low.startswith(b"{\\rtf"):
        return "документ RTF"
    if b"urn:schemas-microsoft-com:office:spreadsheet" in low:
        return "таблица XML 2003 (Excel 2003 XML)"
    if low.startswith(b"<!doctype html") or b"<html" in low[:512]:
        return "веб-страница (HTML), сохранённая с расширением .xlsx"
    return "текстовый файл (например, CSV)"


def _zip_kind(names: Collection[str], mimetype: bytes) -> str | None:
    if mimetype.startswith(b"application/vnd.oasis.opendocument.spreadsheet"):
        return (
            "— это таблица OpenDocument (.ods), сохранённая с расширением .xlsx. Откройте её в"
            " LibreOffice и сохраните как «Книга Excel 2007-365 (.xlsx)» (Файл → Сохранить"
            " как → тип файла «Книга Excel 2007-365»)."
        )
    if mimetype.startswith(b"application/vnd.oasis.opendocument"):
        return "— это документ OpenDocument (LibreOffice), а не таблица. " + SAVE_AS_XLSX
    if "xl/workbook.bin" in names:
        return "— это двоичная книга Excel (.xlsb), а не .xlsx. " + SAVE_AS_XLSX
    if "word/document.xml" in names:
        return "— это документ Word (.docx), а не книга Excel. " + SAVE_AS_XLSX
    if "ppt/presentation.xml" in names:
        return "— это презентация PowerPoint, а не книга Excel. " + SAVE_AS_XLSX
    if "xl/workbook.xml" not in names:
        return "не является книгой Excel (.xlsx): в архиве нет книги. " + SAVE_AS_XLSX
    return None


def open_package(data: bytes) -> zipfile.ZipFile:
    """The bytes as a zip; ForeignFormat when they are not one (an .xls, CSV, PDF...)."""
    if not data:
        raise ForeignFormat("пуст (0 байт).")
    if data[:8] == OLE2_MAGIC:
        raise ForeignFormat(_ole2_kind(data))
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, EOFError, ValueError):
        if data[:2] == b"PK":
            raise ForeignFormat(
                "не является книгой Excel (.xlsx): файл повреждён или скачан не полностью."
                " Попросите школу прислать книгу ещё раз."
            ) from None
        kind = _text_kind(data)
        raise ForeignFormat(
            f"не является книгой Excel (.xlsx): это {kind}. Возможно, он сохранён в формате"
            " .xls, .ods или CSV, или повреждён. " + SAVE_AS_XLSX
        ) from None


# --- a plain zip, read without zipfile --------------------------------------------------------


class NotPlain(Exception):
    """The archive is not of the plain kind PlainZip reads (zip64, several disks, encryption,
    an unusual method or layout): the checks then go through zipfile."""


_EOCD = struct.Struct("<4s4H2LH")
_CENTRAL = struct.Struct("<4s6H3L5H2L")
_LOCAL = struct.Struct("<4s5H3L2H")


class PlainInfo:
    """One member as the central directory describes it (the fields zipfile.ZipInfo names)."""

    __slots__ = (
        "CRC",
        "compress_size",
        "compress_type",
        "file_size",
        "filename",
        "header_offset",
        "raw_name",
    )

    def __init__(
        self, name: str, raw: bytes, method: int, crc: int, packed: int, size: int, offset: int
    ) -> None:
        self.filename, self.raw_name, self.compress_type, self.CRC = name, raw, method, crc
        self.compress_size, self.file_size, self.header_offset = packed, size, offset


class PlainZip:
    """The members of an ordinary .xlsx, parsed with struct and inflated (ISA-L) directly.

    Several times cheaper than zipfile for a workbook of a dozen small parts, and it exposes a
    member's packed bytes (two equal packed parts are equal parts). It reads only what it is sure
    of: the last 22 bytes are the end record (no archive comment, as Excel, LibreOffice and
    openpyxl write), one disk, no zip64, no encryption, stored or deflated members whose local
    headers are where the central directory says (checked when a member is read). Anything else
    is NotPlain.
    """

    def __init__(self, data: bytes):
        self.data = data
        if len(data) < 22 or data[:4] != b"PK\x03\x04":
            raise NotPlain
        sig, disk, cd_disk, _here, count, cd_size, cd_offset, comment = _EOCD.unpack_from(
            data, len(data) - 22
        )
        if sig != b"PK\x05\x06" or disk or cd_disk or comment or count == 0xFFFF:
            raise NotPlain
        end = cd_offset + cd_size
        if end != len(data) - 22:
            raise NotPlain
        self.cd_offset = cd_offset
        infos = []
        pos = cd_offset
        unpack = _CENTRAL.unpack_from
        for _ in range(count):
            if pos + 46 > end:
                raise NotPlain
            fields = unpack(data, pos)
            flags, method, n, m, k, offset = (fields[i] for i in (3, 4, 10, 11, 12, 16))
            if fields[0] != b"PK\x01\x02" or flags & 0x41 or method not in (0, 8):
                raise NotPlain  # encrypted (bit 0), strong encryption (bit 6), another method
            if 0xFFFFFFFF in (fields[8], fields[9], offset):
                raise NotPlain  # zip64
            raw_name = data[pos + 46 : pos + 46 + n]
            try:
                name = raw_name.decode("ascii")
            except UnicodeDecodeError:
                # The parser takes a name that is valid UTF-8 as UTF-8 even without the flag;
                # the checks must see the member under the name the parser opens it by.
                try:
                    name = raw_name.decode("utf-8")
                except UnicodeDecodeError:
                    name = raw_name.decode("cp437")
            pos += 46 + n + m + k
            crc, packed, size = fields[7], fields[8], fields[9]
            infos.append(PlainInfo(name, raw_name, method, crc, packed, size, offset))
        if pos != end:
            raise NotPlain
        self._infos = infos
        self._by_name = {i.filename: i for i in infos}

    def __enter__(self) -> PlainZip:
        return self

    def __exit__(self, *_exc: object) -> None:
        pass

    def close(self) -> None:
        pass

    def infolist(self) -> list[PlainInfo]:
        return list(self._infos)

    def namelist(self) -> list[str]:
        return [i.filename for i in self._infos]

    def getinfo(self, name: str) -> PlainInfo:
        return self._by_name[name]

    def packed(self, info: PlainInfo) -> bytes:
        """The member's bytes as stored in the archive (compressed)."""
        data, offset = self.data, info.header_offset
        if offset + 30 > self.cd_offset:
            raise zipfile.BadZipFile(f"{info.filename}: no local header")
        sig, *_fields, n, m = _LOCAL.unpack_from(data, offset)
        start = offset + 30 + n + m
        if sig != b"PK\x03\x04" or start + info.compress_size > self.cd_offset:
            raise zipfile.BadZipFile(f"{info.filename}: damaged local header")
        if data[offset + 30 : offset + 30 + n] != info.raw_name:
            raise zipfile.BadZipFile(f"{info.filename}: the local header names another member")
        return data[start : start + info.compress_size]

    def read(self, member: str | PlainInfo) -> bytes:
        """The member unpacked, never more than its declared size (zipfile's checks alike)."""
        info = member if isinstance(member, PlainInfo) else self._by_name[member]
        raw = self.packed(info)
        if info.compress_type == 0:
            body = raw
        else:
            inflater = fast_zlib.decompressobj(-15)
            try:
                body = inflater.decompress(raw, info.file_size + 1)
            except Exception:  # zlib.error or ISA-L's IsalError: the stream is damaged
                raise zipfile.BadZipFile(f"{info.filename}: damaged") from None
        if len(body) != info.file_size or fast_zlib.crc32(body) != info.CRC:
            raise zipfile.BadZipFile(f"{info.filename}: size or CRC mismatch")
        return body

    def open(self, member: str | PlainInfo) -> io.BytesIO:
        return io.BytesIO(self.read(member))

    def unpacked(self, bodies: dict[int, bytes], unpack: Collection[str] = ()) -> bytes:
        """The same archive with the members in `bodies` (by header offset; already read,
        unpacked and checked) and those named in `unpack` stored uncompressed; every other
        member as it is.

        The parser then inflates nothing it was already given: the checks inflated each sheet
        once with ISA-L, and the parser's own inflate costs a fifth of its read. The copy keeps
        each member's name, order and CRC (the parser verifies them as it would the original's);
        the limits keep it far below the 4 GB a plain zip can address. Raises NotPlain when
        entries share their bytes and BadZipFile when a member's local header is damaged: the
        parser is then given the original archive, to judge as it always did.
        """
        parts: list[bytes] = []
        central: list[bytes] = []
        offset = copied = 0
        for info in self._infos:
            body = bodies.get(info.header_offset)
            if body is None and info.filename in unpack and info.compress_type == 8:
                with contextlib.suppress(zipfile.BadZipFile):
                    body = self.read(info)  # a damaged part is left to the parser to judge
            if body is not None and len(body) != info.file_size:
                body = None  # another entry for the same bytes, declaring another size
            if body is None:
                body, method = self.packed(info), info.compress_type
                copied += len(body)
                if copied > len(self.data):
                    raise NotPlain  # entries share their bytes: copies would multiply them
            else:
                method = 0
            name = info.raw_name
            size = len(body)
            # flags (UTF-8 name), method, time, date, CRC and sizes: the same in both headers
            common = (0 if name.isascii() else 0x800, method, 0, 0, info.CRC, size, info.file_size)
            parts += (_LOCAL.pack(b"PK\x03\x04", 20, *common, len(name), 0), name, body)
            central += (
                _CENTRAL.pack(b"PK\x01\x02", 20, 20, *common, len(name), 0, 0, 0, 0, 0, offset),
                name,
            )
            offset += 30 + len(name) + size
        directory = b"".join(central)
        count = len(self._infos)
        end = _EOCD.pack(b"PK\x05\x06", 0, 0, count, count, len(directory), offset, 0)
        return b"".join(parts) + directory + end


Archive = zipfile.ZipFile | PlainZip


def _open_member(z: Archive, info: zipfile.ZipInfo | PlainInfo) -> Any:
    """A member by its entry (not its name: a hostile zip may hold two members of one name)."""
    if isinstance(z, PlainZip):
        assert isinstance(info, PlainInfo)
        return z.open(info)
    assert isinstance(info, zipfile.ZipInfo)
    return z.open(info)


def _read_member(z: Archive, info: zipfile.ZipInfo | PlainInfo) -> bytes:
    with _open_member(z, info) as f:
        body: bytes = f.read()
    return body


# --- limits before the parser allocates -----------------------------------------------------


def _size(n: float) -> str:
    if n >= 1 << 30:
        return f"{n / (1 << 30):.1f} ГБ".replace(".", ",")
    return f"{n / MB:.0f} МБ"


def check_package(z: Archive, limits: ReadLimits) -> None:
    """The central directory alone: how much the parts unpack to, and how hard they are packed."""
    infos = z.infolist()
    if len(infos) > limits.max_entries:
        raise TooBig(f"в архиве книги {len(infos)} частей (допустимо до {limits.max_entries}).")
    total = 0
    for info in infos:
        total += info.file_size
        if info.file_size > limits.max_part:
            raise TooBig(
                f"часть «{info.filename}» в распакованном виде занимает {_size(info.file_size)}"
                f" (допустимо до {_size(limits.max_part)})."
            )
        if info.file_size > limits.ratio_floor and info.file_size > limits.max_ratio * max(
            1, info.compress_size
        ):
            raise TooBig(
                f"часть «{info.filename}» сжата в {info.file_size // max(1, info.compress_size)}"
                " раз: так сжимаются только огромные пустые заполнители, а не таблица."
            )
    if total > limits.max_total:
        raise TooBig(
            f"в распакованном виде книга занимает {_size(total)}"
            f" (допустимо до {_size(limits.max_total)})."
        )


_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?(row|c|dimension)(?=[\s/>])([^>]*)>")
_R_ATTR = re.compile(rb'(?:^|\s)r\s*=\s*["\']([^"\']*)["\']')
_REF_ATTR = re.compile(rb'(?:^|\s)ref\s*=\s*["\']([^"\']*)["\']')
_CELL_REF = re.compile(rb"\$?([A-Za-z]{1,3})\$?(\d+)")


def _column_number(letters: bytes) -> int:
    return column_index(letters.decode("ascii"))


@dataclass
class SheetScan:
    """What a sheet's XML really holds: the farthest cell with content and how many there are."""

    max_row: int = 0
    max_col: int = 0
    cells: int = 0
    far: str = ""  # the reference of the cell that set max_row or max_col last
    dimension: str = ""  # what the sheet claims in <dimension ref>, which may lie
    negative: bool = True  # may hold a negative number (the parser shows some as a time)


def scan_sheet(stream: io.BufferedIOBase | Any, limits: ReadLimits, chunk: int = MB) -> SheetScan:
    """Stream a sheet's XML and find its real extent, stopping as soon as a limit is broken.

    Cells without an `r` attribute take the position after the previous one, as parsers do.
    A self-closing `<c/>` has no content: it moves the position but widens nothing.
    """
    scan = SheetScan()
    row = 0
    col = 0
    tail = b""
    while True:
        block = stream.read(chunk)
        buf = tail + block
        if block:
            cut = buf.rfind(b"<")
            if cut <= 0:
                tail = buf
                if len(tail) > 4 * chunk:  # a single tag this long is no spreadsheet
                    raise TooBig("в книге есть элемент XML длиной в мегабайты.")
                continue
            buf, tail = buf[:cut], buf[cut:]
        for m in _TAG.finditer(buf):
            kind, attrs = m.group(1), m.group(2)
            r = _R_ATTR.search(attrs)
            if kind == b"row":
                row = int(r.group(1)) if r and r.group(1).isdigit() else row + 1
                col = 0
                continue
            if kind == b"dimension":
                ref = _REF_ATTR.search(attrs)
                scan.dimension = ref.group(1).decode("ascii", "replace") if ref else ""
                continue
            ref_m = _CELL_REF.fullmatch(r.group(1)) if r else None
            if ref_m:
                col = _column_number(ref_m.group(1))
                row = int(ref_m.group(2))
            else:
                col += 1
            if attrs.rstrip().endswith(b"/"):
                continue  # an empty cell (a style only)
            scan.cells += 1
            if row > scan.max_row or col > scan.max_col:
                scan.max_row = max(scan.max_row, row)
                scan.max_col = max(scan.max_col, col)
                scan.far = f"{column_letters(col)}{row}"
                if scan.max_row * scan.max_col > limits.max_area:
                    return scan
            if scan.cells > limits.max_cells:
                return scan
        if not block:
            return scan


_SHEET_TAG = re.compile(rb"<(?:\w+:)?sheet\s([^>]*)>")
_REL_TAG = re.compile(rb"<(?:\w+:)?Relationship\s([^>]*)>")


def _attr(attrs: bytes, name: bytes) -> str:
    """One attribute's value (any namespace prefix), unescaped; "" when absent."""
    m = re.search(rb"(?:^|\s)(?:\w+:)?" + name + rb'\s*=\s*(?:"([^"]*)"|\'([^\']*)\')', attrs)
    if m is None:
        return ""
    raw = (m.group(1) if m.group(1) is not None else m.group(2)).decode("utf-8", "replace")
    return html.unescape(raw) if "&" in raw else raw


def _sheet_names(z: Archive) -> dict[str, str]:
    """Sheet part -> the sheet's name as the school sees it (empty when the book is odd)."""
    return _book(z)[0]


def _hidden_sheets(z: Archive) -> set[str]:
    """The names of the sheets a school does not see (state hidden or veryHidden)."""
    return _book(z)[1]


# A thousand schools' copies of one template have the same workbook part and relationships:
# parsed once a worker, keyed by those parts' packed bytes (equal bytes, equal parts).
_BOOKS: dict[tuple[bytes, bytes], tuple[dict[str, str], set[str]]] = {}


def _book(z: Archive) -> tuple[dict[str, str], set[str]]:
    key = None
    if isinstance(z, PlainZip):
        try:
            rels_info, book_info = z.getinfo(_BOOK_RELS), z.getinfo(_BOOK)
        except KeyError:
            return {}, set()
        key = (
            bytes([rels_info.compress_type]) + z.packed(rels_info),
            bytes([book_info.compress_type]) + z.packed(book_info),
        )
        if key in _BOOKS:
            names, hidden = _BOOKS[key]
            return dict(names), set(hidden)
    try:
        rels = z.read(_BOOK_RELS)
        book = z.read(_BOOK)
    except KeyError:
        return {}, set()
    targets = {
        _attr(m.group(1), b"Id"): _attr(m.group(1), b"Target") for m in _REL_TAG.finditer(rels)
    }
    names = {}
    hidden = set()
    for m in _SHEET_TAG.finditer(book):
        if _attr(m.group(1), b"state") in ("hidden", "veryHidden"):
            hidden.add(_attr(m.group(1), b"name"))
        target = targets.get(_attr(m.group(1), b"id"), "")
        if not target:
            continue
        part = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
        # The parser opens the member by the joined name as it is (`xl/../data.xml`), another
        # reader by the normalized one (`data.xml`): both are the sheet's, both are scanned.
        names[part] = names[posixpath.normpath(part)] = _attr(m.group(1), b"name")
    if key is not None:
        if len(_BOOKS) > 64:
            _BOOKS.clear()
        _BOOKS[key] = (dict(names), set(hidden))
    return names, hidden


_BOOK = "xl/workbook.xml"
_BOOK_RELS = "xl/_rels/workbook.xml.rels"


# The shape every spreadsheet program writes: each cell opens `<c r="...`. When every cell's
# reference has one column letter and a row of at most four digits, the sheet is at most 26
# columns by 9 999 rows whatever else it holds, and the references need not be read one by one.
# (The first `r` is the one the parser takes; a cell opened any other way, a prefixed cell, a
# far or odd reference, sends the sheet to the closer scans.)
_NOT_NEAR_CELL = re.compile(rb'<c[\s/>](?!r="[A-Z][1-9][0-9]{0,3}")')
_PREFIXED_CELL = re.compile(rb":c[\s/>]")
NEAR_ROWS, NEAR_COLUMNS = 9999, 26
SHORTEST_CELL = len(b'<c r="A1"/>')


# A value that may be negative (`<v>-1`, `<x:v> -1`): the parser shows some as a time.
_NEGATIVE_VALUE = re.compile(rb"v>\s*-")


def _negative(xml: bytes) -> bool:
    return _NEGATIVE_VALUE.search(xml) is not None


def near_extent(xml: bytes) -> SheetScan | None:
    """A bound of a sheet's extent from three byte searches, or None when a cell is written
    otherwise than `<c r="A1"...` with one letter and up to four digits: look closer then."""
    if _NOT_NEAR_CELL.search(xml) or _PREFIXED_CELL.search(xml):
        return None
    scan = SheetScan(NEAR_ROWS, NEAR_COLUMNS, len(xml) // SHORTEST_CELL, negative=_negative(xml))
    scan.far = f"{column_letters(NEAR_COLUMNS)}{NEAR_ROWS}"
    return scan


_QUICK_REF = re.compile(rb'<c r="([A-Z]{1,3})([0-9]{1,7})"')


def quick_extent(xml: bytes) -> SheetScan | None:
    """An upper bound of a sheet's extent in a few passes of C code, or None when the XML is
    not in the common shape (a namespace prefix, a cell without `r` first): scan it then."""
    if b"<sheetData" not in xml or b"<c\n" in xml or b"<c\t" in xml or b"<c\r" in xml:
        return None
    refs = _QUICK_REF.findall(xml)
    if len(refs) != xml.count(b"<c ") + xml.count(b"<c>") + xml.count(b"<c/"):
        return None  # a cell without `r` first: its place depends on the cells before it
    scan = SheetScan(cells=len(refs), negative=_negative(xml))
    if refs:
        cols, rows = zip(*refs, strict=True)
        scan.max_col = max(map(_column_number, set(cols)))
        scan.max_row = max(map(int, set(rows)))
        scan.far = f"{column_letters(scan.max_col)}{scan.max_row}"
    return scan


def _over(scan: SheetScan, limits: ReadLimits) -> bool:
    return (
        scan.max_row * scan.max_col > limits.max_area
        or scan.cells > limits.max_cells
        or _grid(scan) > limits.max_grid
    )


def _grid(scan: SheetScan) -> int:
    from sync.backends.xlsxio import MAX_ROWS

    return min(scan.max_row, MAX_ROWS) * scan.max_col


_WORKSHEET = re.compile(r"xl/worksheets/[^/]+\.xml")


def check_sheets(
    z: Archive,
    limits: ReadLimits,
    skip_parts: Collection[str] = (),
    bodies: dict[int, bytes] | None = None,
) -> dict[str, SheetScan]:
    """Scan every worksheet's XML; TooBig names the sheet and the far cell that breaks a limit.

    The quick bound counts empty styled cells too; only when it breaks a limit is the sheet
    scanned exactly (cells with content), so a legitimate file is never refused by the bound.
    `bodies`, when given, receives each sheet's XML that was read whole (parts of up to 8 MB),
    by the member's header offset (a hostile zip may hold two members of one name).
    """
    scans = {}
    names = _sheet_names(z)
    for info in z.infolist():
        part = info.filename
        # Every part the workbook names as a sheet, and whatever lies where sheets live.
        if part not in names and not _WORKSHEET.fullmatch(part):
            continue
        if part in skip_parts:
            continue  # never parsed, so it cannot make the parser allocate
        if info.file_size <= 8 * MB:
            xml = _read_member(z, info)
            if bodies is not None:
                bodies[info.header_offset] = xml
            quick = near_extent(xml)
            if quick is None or _over(quick, limits):
                quick = quick_extent(xml)
            if quick is not None and not _over(quick, limits):
                scans[part] = quick
                continue
        with _open_member(z, info) as stream:
            scan = scan_sheet(stream, limits)
        scans[part] = scan
        if not _over(scan, limits):
            continue
        sheet = names.get(part) or part
        hidden = (
            f" Лист «{sheet}» скрыт: покажите его (правой кнопкой по ярлыку любого листа →"
            " «Показать») или попросите МОУО прислать книгу заново."
            if sheet in _hidden_sheets(z)
            else ""
        )
        if scan.max_row * scan.max_col > limits.max_area:
            raise TooBig(
                f"на листе «{sheet}» заполнена ячейка {scan.far} — таблица до неё заняла бы"
                f" {scan.max_row * scan.max_col:,} ячеек (допустимо до {limits.max_area:,})."
                " Удалите значения далеко за пределами таблицы (Ctrl+End покажет последнюю"
                " заполненную ячейку).".replace(",", " ")
                + hidden
            )
        if _grid(scan) > limits.max_grid:
            raise TooBig(
                f"на листе «{sheet}» заполнена ячейка {scan.far} — лист шириной"
                f" {scan.max_col} столбцов слишком широк для чтения. Удалите значения далеко"
                " справа от таблицы (Ctrl+End покажет последнюю заполненную ячейку)." + hidden
            )
        raise TooBig(
            f"на листе «{sheet}» больше {limits.max_cells:,} заполненных ячеек.".replace(",", " ")
            + hidden
        )
    return scans


# --- one read, in whatever process runs it --------------------------------------------------


class ReadFailure(Exception):
    """What a read reports instead of a workbook: a Russian message and whether to retry."""

    def __init__(self, message: str, transient: bool = False):
        super().__init__(message)
        self.transient = transient


def read_workbook_here(
    path: Path, skip_sheets: Collection[str] = (), limits: ReadLimits | None = None
) -> RawWorkbook:
    """Check and parse one workbook file in this process. Raises ReadFailure (Russian)."""
    limits = limits or ReadLimits()
    name = path.name
    try:
        st = path.stat()
        if not stat.S_ISREG(st.st_mode):
            kind = "папка" if stat.S_ISDIR(st.st_mode) else "не обычный файл"
            raise ReadFailure(f"{name} — {kind}, а не книга Excel (.xlsx).")
        if st.st_size > limits.max_total:
            raise ReadFailure(f"Файл {name} слишком большой: {_size(st.st_size)}.")
        data = path.read_bytes()
        modified = datetime.fromtimestamp(st.st_mtime).astimezone()
    except FileNotFoundError:
        raise ReadFailure(f"Файл школы не найден: {name}") from None
    except PermissionError:
        raise ReadFailure(
            f"Файл {name} занят другой программой или нет прав на чтение.", transient=True
        ) from None
    except OSError as e:
        from sync.oserrors import describe

        raise ReadFailure(f"Не удалось прочитать {name}: {describe(e)}", transient=True) from None
    return read_data_here(data, name, skip_sheets, limits, modified)


def read_data_here(
    data: bytes,
    name: str,
    skip_sheets: Collection[str] = (),
    limits: ReadLimits | None = None,
    modified: datetime | None = None,
) -> RawWorkbook:
    """Check and parse a workbook's bytes in this process. Raises ReadFailure (Russian)."""
    from sync.backends.xlsxio import read_sheets

    limits = limits or ReadLimits()
    try:
        with _archive(data) as z:
            kind = _zip_kind(z.namelist(), _mimetype(z))
            if kind is not None:
                raise ForeignFormat(kind)
            check_package(z, limits)
            names = _sheet_names(z)
            skip_parts = [p for p, n in names.items() if n in skip_sheets] if skip_sheets else []
            bodies: dict[int, bytes] = {}
            scans = check_sheets(z, limits, skip_parts, bodies)
            parse = data
            if isinstance(z, PlainZip):
                with contextlib.suppress(NotPlain, zipfile.BadZipFile, struct.error):
                    parse = z.unpacked(bodies, PARSER_PARTS)
            del bodies
    except MemoryError:
        raise ReadFailure(
            f"Файл {name} слишком большой: для проверки не хватило памяти"
            f" (допустимо до {_size(limits.memory)})."
        ) from None
    except ForeignFormat as e:
        raise ReadFailure(f"Файл {name} {e}") from None
    except TooBig as e:
        raise ReadFailure(f"Файл {name} слишком большой: {e}") from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, NotImplementedError):
        raise ReadFailure(f"Файл {name} повреждён: архив книги не распаковывается.") from None
    try:
        sheets, truncated = read_sheets(parse, skip=skip_sheets)
        del parse
    except MemoryError:
        raise ReadFailure(
            f"Файл {name} слишком большой: для чтения не хватило памяти"
            f" (допустимо до {_size(limits.memory)})."
        ) from None
    except Exception as e:  # calamine raises its own types for every kind of damage
        raise ReadFailure(f"Файл {name} повреждён и не читается ({type(e).__name__}).") from None
    # A sheet the checks did not scan (an odd part name) may hold negative numbers too.
    scanned = {n for part, n in names.items() if part in scans}
    if any(scan.negative for scan in scans.values()) or any(n not in scanned for n in sheets):
        _restore_negative_dates(data, sheets, truncated)
    return RawWorkbook(sheets, modified, hashlib.sha256(data).hexdigest(), truncated)


# The parts besides the sheets the parser reads on opening a workbook, handed to it unpacked.
PARSER_PARTS = frozenset({_BOOK, _BOOK_RELS, "xl/styles.xml", "xl/sharedStrings.xml"})


def _archive(data: bytes) -> Archive:
    """The workbook's zip: read directly when it is plain (nearly always), else by zipfile."""
    try:
        return PlainZip(data)
    except (NotPlain, struct.error, UnicodeDecodeError):
        return open_package(data)


def _restore_negative_dates(
    data: bytes, sheets: dict[str, list[list[Any]]], truncated: dict[str, int]
) -> None:
    """Put back what the school typed where the parser shows a negative number as a time.

    A negative number in a date-formatted cell (-1) is no date; calamine turns it into
    00:00:00, and the school would be told about a value it never typed. The cell's number is
    read back from the sheet's XML (only for cells that came back as a time: rare and few).
    """
    times = {
        name: [
            (r, c) for r, line in enumerate(grid) for c, v in enumerate(line) if type(v) is dtime
        ]
        for name, grid in sheets.items()
        if name not in truncated and any(dtime in map(type, line) for line in grid)
    }
    times = {name: cells for name, cells in times.items() if cells}
    if not times:
        return
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        members = set(z.namelist())
        parts: dict[str, str] = {}
        for spelling, sheet in _sheet_names(z).items():
            if spelling in members:  # of a part's spellings, the one the archive holds
                parts.setdefault(sheet, spelling)
        for name, cells in times.items():
            if name not in parts:
                continue
            try:
                xml = z.read(parts[name])
            except (zipfile.BadZipFile, KeyError, ValueError, NotImplementedError, EOFError):
                continue  # the parser read it; a second reader need not: the time stays
            for r, c in cells:
                ref = f"{column_letters(c + 1)}{r + 1}".encode()
                m = re.search(
                    rb'<(?:\w+:)?c\s[^>]*\br="' + ref + rb'"[^>]*>(?:(?!</(?:\w+:)?c>).)*?'
                    rb"<(?:\w+:)?v>([^<]*)</",
                    xml,
                    re.S,
                )
                try:
                    number = float(m.group(1)) if m else 0.0
                except ValueError:
                    continue
                if number < 0:
                    sheets[name][r][c] = int(number) if number.is_integer() else number


def _mimetype(z: Archive) -> bytes:
    try:
        info = z.getinfo("mimetype")
    except KeyError:
        return b""
    return _read_member(z, info)[:100] if info.file_size < 200 else b""


# --- the worker process ---------------------------------------------------------------------


def _limit_self(limits: ReadLimits, inherited: int = 0) -> None:
    """Cap this worker's address space; POSIX only (Windows is watched by the parent).

    `inherited`: the address space a forked worker starts with (the run's), added to the cap
    so that a file gets the same room in a worker forked from a large run as in a fresh one."""
    try:
        import resource
    except ImportError:
        return
    for name in ("RLIMIT_AS", "RLIMIT_DATA"):  # macOS ignores RLIMIT_AS; DATA covers malloc
        kind = getattr(resource, name, None)
        if kind is None:
            continue
        try:
            _soft, hard = resource.getrlimit(kind)
            want = limits.memory + inherited
            cap = want if hard == resource.RLIM_INFINITY else min(hard, want)
            resource.setrlimit(kind, (cap, hard))
        except (ValueError, OSError):
            pass
        if sys.platform.startswith("linux"):
            break  # RLIMIT_AS is enforced on Linux; DATA would only count the heap twice


def _cpu_budget(seconds: int) -> None:
    """RLIMIT_CPU counts the process's whole life: allow `seconds` more from now."""
    try:
        import resource
    except ImportError:
        return
    used = resource.getrusage(resource.RUSAGE_SELF)
    now = int(used.ru_utime + used.ru_stime) + 1
    try:
        _soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
        soft = now + seconds
        if hard != resource.RLIM_INFINITY:
            soft = min(soft, hard)
        resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))
    except (ValueError, OSError):
        pass


def _worker_main(conn: Connection, limits: ReadLimits, progress: Any, forked: bool = False) -> None:
    """Read batches of requests until the parent closes the pipe.

    A request is (path or bytes, name, sheets to skip); a batch of them is answered by one
    message, the list of their replies: ("ok", raw) or ("err", message, transient, fatal).
    Before each file the worker counts it in `progress` (shared memory): if the worker dies,
    the parent knows which file it was reading, whatever the batch, and blames that one only.
    """
    inherited = 0
    if forked:
        leave_parent(conn)
        inherited = _address_space()
    _limit_self(limits, inherited)
    # Ctrl+C reaches the whole process group: the parent decides when to stop (after the
    # current school) and closes the pipe. SIGTERM is left alone: multiprocessing stops
    # workers with it at exit, and a service stop is reported as such (see _died_message).
    import signal

    with contextlib.suppress(OSError, ValueError, AttributeError):
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    # An abort prints the parser's backtrace; the parent reports the death in Russian instead.
    import faulthandler

    faulthandler.disable()  # a forked worker inherits the parent's (pytest enables it)
    with contextlib.suppress(OSError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
    while True:
        try:
            batch = conn.recv()
        except (EOFError, OSError, KeyboardInterrupt):
            return
        begun = progress.value
        replies: list[tuple[Any, ...]] = []
        fatal = False
        for source, name, skip in batch:
            progress.value += 1
            _cpu_budget(limits.cpu_seconds)
            reply, fatal = _read_request(source, name, skip, limits)
            replies.append(reply)
            if fatal:  # after a MemoryError the heap may be in pieces: a fresh worker is cheaper
                break
        try:
            try:
                conn.send(replies)
            except MemoryError:
                # One reply at a time, each counted as the file in progress: the one that
                # cannot be sent is blamed, the ones before it are delivered.
                fatal = True
                for k, reply in enumerate(replies):
                    progress.value = begun + k + 1
                    conn.send([reply])
        except MemoryError:
            fatal = True
        except (OSError, ValueError):
            return
        if fatal:
            conn.close()
            os._exit(0)


def leave_parent(conn: Connection, keep: Collection[int] = ()) -> None:
    """In a worker forked from the run: drop what it inherited and must never act on.

    The parent's signal handlers (a SIGTERM would otherwise run the run's own handler here),
    and the files it has open: the run's lock (flock is shared by a forked copy of its
    descriptor: a worker must not hold it after the run), its history database, the school
    files. Linux only (fork is used there only).
    """
    import fcntl
    import logging
    import signal

    for name in ("SIGTERM", "SIGHUP", "SIGUSR1", "SIGUSR2"):
        number = getattr(signal, name, None)
        if number is not None:
            with contextlib.suppress(OSError, ValueError):
                signal.signal(number, signal.SIG_DFL)
    # Ctrl+C reaches the whole process group: the parent decides what to do, and stops this
    # process. Its handler (the service's, which logs) must not run here.
    with contextlib.suppress(OSError, ValueError):
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The parent's log handlers hold descriptors that go below: nothing is logged from here.
    logging.disable(logging.CRITICAL)
    # Every descriptor but the standard ones, the worker's own pipe and the write end of a
    # pipe: multiprocessing's sentinel is one (its closing tells the parent this worker died),
    # and the worker has no other. Sockets (a listening port, a mail connection) and the
    # read ends of the older workers' pipes go. Each is made /dev/null rather than closed:
    # its number is never reused (by a database this process opens) under an object of the
    # parent's that still holds it (a log file, a history connection).
    try:
        fds = [int(name) for name in os.listdir("/proc/self/fd")]
        null = os.open(os.devnull, os.O_RDWR)
    except OSError:
        return
    try:
        for fd in fds:
            if fd <= 2 or fd == conn.fileno() or fd == null or fd in keep:
                continue
            with contextlib.suppress(OSError):
                pipe = stat.S_ISFIFO(os.fstat(fd).st_mode)
                if pipe and fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE != os.O_RDONLY:
                    continue  # a write end: the sentinel
                os.dup2(null, fd)
    finally:
        os.close(null)


def _address_space() -> int:
    """This process's address space in bytes (VmSize), 0 when unknown."""
    try:
        with open("/proc/self/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmSize:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def fork_safe() -> bool:
    """Whether a worker may be started by fork() here and now: on Linux, from the main thread
    with no other thread running (a forked copy of a threaded process may inherit a lock held
    by another thread, and hang). fork() starts a worker in milliseconds; the fork server,
    used otherwise, first starts an interpreter that imports the reader (about 0.1 s)."""
    return (
        sys.platform.startswith("linux")
        and threading.current_thread() is threading.main_thread()
        and threading.active_count() == 1
    )


def _read_request(
    source: str | bytes, name: str, skip: tuple[str, ...], limits: ReadLimits
) -> tuple[tuple[Any, ...], bool]:
    """One file's reply, and whether the worker must exit after sending it."""
    try:
        if isinstance(source, bytes):
            raw = read_data_here(source, name, skip, limits)
        else:
            raw = read_workbook_here(Path(source), skip, limits)
        return ("ok", raw), False
    except ReadFailure as e:
        fatal = "не хватило памяти" in str(e)
        return ("err", str(e), e.transient, fatal), fatal
    except MemoryError:
        return ("err", f"Файл {name} слишком большой: не хватило памяти.", False, True), True


def _context() -> Any:
    if sys.platform.startswith("linux"):
        # Not fork: the parent may hold threads (the service); the fork server starts clean.
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["sync.backends.isolated", "sync.backends.xlsxio"])
        return ctx
    return mp.get_context("spawn")


def _died_message(name: str, exitcode: int | None, limits: ReadLimits) -> str:
    import signal

    if exitcode is not None and exitcode < 0:
        try:
            sig = signal.Signals(-exitcode).name
        except ValueError:
            sig = str(-exitcode)
        if sig in ("SIGTERM", "SIGHUP", "SIGINT"):
            return (
                f"Чтение файла {name} прервано: программа была остановлена ({sig}); файл"
                " будет прочитан в следующий раз."
            )
        if sig == "SIGXCPU":
            return (
                f"Файл {name} слишком большой или сложный: чтение заняло больше"
                f" {limits.cpu_seconds} с процессорного времени и остановлено."
            )
        return (
            f"Файл {name} повреждён или слишком большой: его чтение аварийно остановлено"
            f" ({sig}). Пересохраните книгу в Excel или LibreOffice; остальные школы прочитаны."
        )
    return (
        f"Файл {name} повреждён или слишком большой: программа чтения завершилась"
        f" (код {exitcode}). Пересохраните книгу в Excel или LibreOffice."
    )


_START_GUARD = threading.Lock()


@contextlib.contextmanager
def _without_main_module() -> Iterator[None]:
    """Start a worker without re-importing the caller's main script in it.

    multiprocessing's spawn and forkserver import the parent's `__main__` in the child; a script
    without an `if __name__ == "__main__"` guard would run again there. The worker needs none
    of it, so the main module is hidden while the worker starts.
    """
    main = sys.modules.get("__main__")
    if main is None:
        yield
        return
    saved: dict[str, Any] = {
        k: main.__dict__[k] for k in ("__file__", "__spec__") if k in main.__dict__
    }
    with _START_GUARD:
        main.__dict__.pop("__file__", None)
        main.__dict__["__spec__"] = None
        try:
            yield
        finally:
            main.__dict__.pop("__spec__", None)
            main.__dict__.update(saved)


class _Worker:
    """One worker process and its pipe, with the files sent to it and not yet answered."""

    def __init__(self, ctx: Any, limits: ReadLimits, forked: bool = False):
        self.conn, child = ctx.Pipe(duplex=True)
        # How many files the worker has begun, written by it before each one (shared memory)
        self.progress = ctx.RawValue("q", 0)
        self.process = ctx.Process(
            target=_worker_main,
            args=(child, limits, self.progress, forked),
            daemon=True,
            name="roadmap-sync-reader",
        )
        with _without_main_module():
            self.process.start()
        child.close()
        self.queue: collections.deque[tuple[int, str]] = collections.deque()  # (task, file name)
        self.done = 0  # files answered, over the worker's life
        self.batch_ends: collections.deque[int] = collections.deque()  # `done` at each batch's end
        self.seen = 0  # the progress the watchdog saw last
        self.since = 0.0  # when it saw it change: when the file in progress began, at the latest

    @property
    def busy(self) -> bool:
        return bool(self.queue)

    def current(self) -> int:
        """Where in the queue the file in progress is (the head when none has begun)."""
        begun = int(self.progress.value) - self.done
        return min(max(begun - 1, 0), len(self.queue) - 1)

    @property
    def name(self) -> str:
        return self.queue[self.current()][1] if self.queue else ""

    def send(self, batch: list[tuple[int, str | bytes, str, tuple[str, ...]]]) -> None:
        """Several files in one message; the worker answers them in one message too."""
        self.conn.send([(source, name, skip) for _task, source, name, skip in batch])
        if not self.queue:
            self.seen, self.since = self.progress.value, time.monotonic()
        self.queue.extend((task, name) for task, _source, name, _skip in batch)
        self.batch_ends.append(self.done + len(self.queue))

    def answered(self) -> int:
        """The head file was answered: its task."""
        task, _name = self.queue.popleft()
        self.done += 1
        while self.batch_ends and self.batch_ends[0] <= self.done:
            self.batch_ends.popleft()
        return task

    def stalled(self, seconds: float) -> bool:
        """True when the file in progress has taken more than `seconds` (the wall watchdog)."""
        now, progress = time.monotonic(), self.progress.value
        if progress != self.seen:
            self.seen, self.since = progress, now
            return False
        return now - self.since > seconds

    def stop(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)
        self.conn.close()


def _rss(pid: int) -> int | None:
    """The resident memory of a process, for the Windows watchdog (POSIX uses rlimits)."""
    if sys.platform == "win32":
        import ctypes
        from ctypes import wintypes

        class Counters(ctypes.Structure):
            _fields_ = [
                ("cb", wintypes.DWORD),
                ("PageFaultCount", wintypes.DWORD),
                ("PeakWorkingSetSize", ctypes.c_size_t),
                ("WorkingSetSize", ctypes.c_size_t),
                ("QuotaPeakPagedPoolUsage", ctypes.c_size_t),
                ("QuotaPagedPoolUsage", ctypes.c_size_t),
                ("QuotaPeakNonPagedPoolUsage", ctypes.c_size_t),
                ("QuotaNonPagedPoolUsage", ctypes.c_size_t),
                ("PagefileUsage", ctypes.c_size_t),
                ("PeakPagefileUsage", ctypes.c_size_t),
            ]

        handle = ctypes.windll.kernel32.OpenProcess(0x1000 | 0x0010, False, pid)
        if not handle:
            return None
        try:
            counters = Counters()
            counters.cb = ctypes.sizeof(Counters)
            if not ctypes.windll.psapi.GetProcessMemoryInfo(
                handle, ctypes.byref(counters), counters.cb
            ):
                return None
            return int(counters.PagefileUsage)
        finally:
            ctypes.windll.kernel32.CloseHandle(handle)
    return None


# Files a message carries to a worker and back (one wake-up of the parent per batch, not per
# file), and batches in flight per worker: the next batch waits in its pipe while it reads one.
BATCH = 3
BATCHES_AHEAD = 2
PIPELINE = BATCH * BATCHES_AHEAD  # files in flight per worker


class _Poller:
    """multiprocessing.connection.wait with one poll object kept while the set is the same.

    wait() builds and registers a new selector on every call; the parent calls it once or twice
    a school, and on two cores the parent's CPU is taken from the workers. POSIX only.
    """

    def __init__(self) -> None:
        self._fds: tuple[int, ...] = ()
        self._poll = select.poll()

    def wait(self, waitables: list[Any], timeout: float) -> list[Any]:
        by_fd = {(w if isinstance(w, int) else w.fileno()): w for w in waitables}
        fds = tuple(by_fd)
        if fds != self._fds:
            self._poll = select.poll()
            for fd in fds:
                self._poll.register(fd, select.POLLIN)
            self._fds = fds
        try:
            events = self._poll.poll(timeout * 1000)
        except InterruptedError:  # pragma: no cover - retried by PEP 475; kept for clarity
            events = []
        return [by_fd[fd] for fd, _event in events if fd in by_fd]


class ReaderPool:
    """Worker processes, one per core by default, started on demand and replaced when they die.

    concurrent.futures' process pool is unusable here: one worker killed by a signal breaks the
    whole pool. Each worker has its own pipe; the parent waits on pipes and process sentinels at
    once, so a dead worker is seen at once and only its file fails.
    """

    def __init__(self, workers: int | None = None, limits: ReadLimits | None = None):
        self.size = max(1, workers or os.cpu_count() or 1)
        self.limits = limits or ReadLimits()
        self._ctx = _context()
        self._fork = mp.get_context("fork") if sys.platform.startswith("linux") else None
        self._workers: list[_Worker] = []
        self._lock = threading.Lock()
        # prestart(): workers started in the background, adopted by the next read
        self._start_guard = threading.Lock()
        self._starter: threading.Thread | None = None
        self._started: list[_Worker] = []
        self._poller: _Poller | None = None

    def prestart(self) -> None:
        """Start the workers now, in the background, and return at once.

        The first worker waits for the fork server to start (about 0.1 s of an interpreter
        importing the reader); a run calls this before its other first steps (the survey of
        the schools' files) so that start overlaps them instead of delaying the first read.
        A no-op when the workers are up, a read is under way, or a start is already running,
        and where the workers are forked (fork_safe): then the first read starts them at once.
        """
        with self._start_guard:
            if self._starter is not None or self._lock.locked():
                return
            missing = self.size - len(self._workers)
            if missing <= 0:
                return
            if self._fork_now() is not None:
                # The first read forks them in milliseconds; forked now, a run that reads
                # nothing (a quiet night) would pay for copying the pages it writes afterwards.
                return
            self._starter = threading.Thread(
                target=self._start_in_background,
                args=(missing,),
                name="roadmap-sync-reader-start",
                daemon=True,
            )
            self._starter.start()

    def _start_in_background(self, count: int) -> None:
        started = []
        try:
            for _ in range(count):
                started.append(self._spawn())
        except Exception:  # the first read starts its workers itself and reports a failure
            pass
        self._started = started

    def _adopt_started(self) -> None:
        """Wait for a prestart() under way and take its workers (never more than `size`)."""
        with self._start_guard:
            starter, self._starter = self._starter, None
        if starter is None:
            return
        starter.join()
        started, self._started = self._started, []
        for w in started:
            if len(self._workers) < self.size and w.process.is_alive():
                self._workers.append(w)
            else:
                with contextlib.suppress(OSError):
                    w.stop()

    def close(self) -> None:
        self._adopt_started()
        for w in self._workers:
            with contextlib.suppress(OSError):
                w.stop()
        self._workers = []

    def read(self, path: Path, skip: Collection[str] = ()) -> RawWorkbook:
        """One workbook; ReadFailure (Russian) when it cannot or must not be read."""
        for _key, result in self.read_many([(0, Path(path), skip)], window=1):
            if isinstance(result, ReadFailure):
                raise result
            return result
        raise AssertionError("no result")  # pragma: no cover

    def read_bytes(self, data: bytes, name: str, skip: Collection[str] = ()) -> RawWorkbook:
        """A workbook's bytes (the add-in's send); ReadFailure (Russian) when it can't."""
        for _key, result in self.read_many([(name, data, skip)], window=1):
            if isinstance(result, ReadFailure):
                raise result
            return result
        raise AssertionError("no result")  # pragma: no cover

    def read_many(
        self, items: Iterable[tuple[Any, Path | bytes, Collection[str]]], window: int | None = None
    ) -> Iterator[tuple[Any, RawWorkbook | ReadFailure]]:
        """(key, workbook or ReadFailure) for every item, in the order given, read in parallel.

        At most `window` results wait unconsumed (twice the workers by default), so the parent's
        memory stays bounded however many schools there are.
        """
        if not self._lock.acquire(blocking=False):
            # In use (another thread, or a read inside a read_many): a private pool for this call.
            private = ReaderPool(1, self.limits)
            try:
                yield from private._run(list(items), window or 2)
            finally:
                private.close()
            return
        try:
            yield from self._run(list(items), window or PIPELINE * self.size)
        finally:
            self._lock.release()

    def _wait(self, waitables: list[Any], timeout: float) -> list[Any]:
        if not hasattr(select, "poll"):  # Windows: handles, not descriptors
            return wait(waitables, timeout=timeout)
        if self._poller is None:
            self._poller = _Poller()
        return self._poller.wait(waitables, timeout)

    def _fork_now(self) -> Any:
        """The fork context when a worker may be forked here and now (fork_safe), else None."""
        return self._fork if self._fork is not None and fork_safe() else None

    def _spawn(self) -> _Worker:
        fork = self._fork_now()
        if fork is not None:
            return _Worker(fork, self.limits, forked=True)
        return _Worker(self._ctx, self.limits)

    def _run(
        self, items: list[tuple[Any, Path | bytes, Collection[str]]], window: int
    ) -> Iterator[tuple[Any, RawWorkbook | ReadFailure]]:
        if not items:
            return
        self._adopt_started()
        wanted = min(self.size, len(items))
        self._workers = [w for w in self._workers if w.process.is_alive() and not w.busy]
        while len(self._workers) < wanted:
            self._workers.append(self._spawn())
        done: dict[int, RawWorkbook | ReadFailure] = {}
        pending = collections.deque(range(len(items)))
        next_out = 0
        try:
            while next_out < len(items):
                self._dispatch(items, pending, next_out, window)
                while next_out in done:
                    yield items[next_out][0], done.pop(next_out)
                    next_out += 1
                if next_out >= len(items):
                    break
                busy = [w for w in self._workers if w.busy]
                if not busy:
                    continue
                waitables: list[Any] = [w.conn for w in busy] + [w.process.sentinel for w in busy]
                ready = self._wait(waitables, 0.25)
                for i, w in enumerate(self._workers):
                    if w.busy and self._collect(w, ready, done, pending):
                        w.stop()
                        self._workers[i] = self._spawn()
        finally:
            # A consumer that stops early: workers still busy hold stale work; let them go.
            for w in self._workers:
                if w.busy:
                    w.stop()
            self._workers = [w for w in self._workers if not w.busy]

    def _dispatch(
        self,
        items: list[tuple[Any, Path | bytes, Collection[str]]],
        pending: collections.deque[int],
        next_out: int,
        window: int,
    ) -> None:
        """Keep each worker BATCHES_AHEAD batches ahead, never more than `window` past the
        consumer. A worker with the next batch already in its pipe never waits for the parent
        to wake up: on a busy machine that wake-up, not the parsing, is what a round trip costs.
        """
        for depth in range(BATCHES_AHEAD):
            for i, w in enumerate(self._workers):
                if not pending or pending[0] - next_out >= window:
                    return
                if len(w.batch_ends) > depth:
                    continue
                if not w.busy and not w.process.is_alive():
                    w.stop()
                    w = self._workers[i] = self._spawn()
                # Short lists are shared out evenly; long ones go BATCH files a message.
                size = max(1, min(BATCH, len(pending) // len(self._workers)))
                batch: list[tuple[int, str | bytes, str, tuple[str, ...]]] = []
                while pending and len(batch) < size and pending[0] - next_out < window:
                    task = pending.popleft()
                    key, source, skip = items[task]
                    name = source.name if isinstance(source, Path) else str(key)
                    data = source if isinstance(source, bytes) else str(source)
                    batch.append((task, data, name, tuple(skip)))
                try:
                    w.send(batch)
                except (OSError, ValueError):
                    pending.extendleft(reversed([task for task, *_rest in batch]))
                    if not w.busy:
                        w.stop()
                        self._workers[i] = self._spawn()

    def _collect(
        self,
        w: _Worker,
        ready: list[Any],
        done: dict[int, RawWorkbook | ReadFailure],
        pending: collections.deque[int],
    ) -> bool:
        """Take w's answers into `done`; True when w is dead or must exit (replace it then).

        A dead worker's file in progress gets the failure; the files it had not begun, or had
        read without sending the answer, go back to `pending` to be read again.
        """
        limits = self.limits
        if w.conn in ready:
            while True:
                try:
                    replies = w.conn.recv()
                except (EOFError, OSError):
                    w.process.join(5)
                    return self._retire(w, _death(w, limits), done, pending)
                for reply in replies:
                    task = w.answered()
                    if reply[0] == "ok":
                        done[task] = reply[1]
                        continue
                    done[task] = ReadFailure(reply[1], reply[2])
                    if reply[3]:  # the worker exits after this reply: never send it more
                        pending.extendleft(reversed([t for t, _ in w.queue]))
                        w.queue.clear()
                        return True
                if not w.busy or not w.conn.poll():
                    return False
        if w.process.sentinel in ready and not w.conn.poll():
            w.process.join(5)
            return self._retire(w, _death(w, limits), done, pending)
        if w.stalled(limits.wall_seconds):
            return self._retire(
                w,
                ReadFailure(
                    f"Файл {w.name} слишком большой или сложный: чтение заняло больше"
                    f" {limits.wall_seconds:.0f} с и остановлено."
                ),
                done,
                pending,
            )
        rss = _rss(w.process.pid) if sys.platform == "win32" else None
        if rss is not None and rss > limits.memory:
            return self._retire(
                w,
                ReadFailure(
                    f"Файл {w.name} слишком большой: для чтения нужно больше"
                    f" {_size(limits.memory)} памяти."
                ),
                done,
                pending,
            )
        return False

    @staticmethod
    def _retire(
        w: _Worker,
        failure: ReadFailure,
        done: dict[int, RawWorkbook | ReadFailure],
        pending: collections.deque[int],
    ) -> bool:
        """The worker is lost: its file in progress fails, its other files are read again."""
        queue = list(w.queue)
        blamed = w.current()
        done[queue[blamed][0]] = failure
        pending.extendleft(reversed([t for k, (t, _) in enumerate(queue) if k != blamed]))
        w.queue.clear()
        return True


def _death(w: _Worker, limits: ReadLimits) -> ReadFailure:
    """Why the worker died, blamed on its file unless someone stopped the program."""
    code = w.process.exitcode
    stopped = code is not None and -code in (15, 1, 2)  # SIGTERM, SIGHUP, SIGINT
    return ReadFailure(_died_message(w.name, code, limits), transient=stopped)


_POOL: ReaderPool | None = None
_POOL_GUARD = threading.Lock()


def shared_pool() -> ReaderPool:
    """The process's reader pool: every caller (run, validate, serve, the add-in) shares it."""
    global _POOL
    with _POOL_GUARD:
        if _POOL is None:
            _POOL = ReaderPool()
            atexit.register(_POOL.close)
        return _POOL
