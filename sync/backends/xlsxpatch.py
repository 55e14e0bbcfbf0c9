"""Write-back as a patch of the .xlsx/.xlsm package, not an openpyxl load and save.

Only the parts that carry what the sync writes change: the main sheet (its «Контроль» cells), the
hidden service sheet (the list of our note cells), the styles (our fills, appended, deduplicated),
the comments and VML drawing parts of sheets that get or lose our notes, their relationships and
the content types. Every other part is copied byte for byte, compressed data included: pictures,
shapes, charts, the VBA project, the school's cells in other parts, everything we do not understand.

XML is parsed with entity resolution and network access off; a part with a DTD is refused.
"""

from __future__ import annotations

import copy
import html
import io
import posixpath
import re
import struct
import weakref
import zipfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import cast

from lxml import etree

try:  # ISA-L deflates our few parts 3-4 times faster than zlib; zlib where it is missing
    from isal import isal_zlib as fast_zlib
except ImportError:  # pragma: no cover
    import zlib as fast_zlib  # type: ignore[no-redef]

from sync.cells import a1, column_letter, parse_a1
from sync.cells import column_index as col_index
from sync.notes import is_ours
from sync.paint import NOTE_CELLS_KEY, Cell, Paint, format_note_cells, parse_note_cells
from sync.reader import bare_header, header_key
from sync.spec import normalize_header

MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
DOC_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
CT_NS = "http://schemas.openxmlformats.org/package/2006/content-types"
REL_OFFICE_DOC = DOC_REL_NS + "/officeDocument"
REL_COMMENTS = DOC_REL_NS + "/comments"
REL_VML = DOC_REL_NS + "/vmlDrawing"
CT_COMMENTS = "application/vnd.openxmlformats-officedocument.spreadsheetml.comments+xml"
CT_VML = "application/vnd.openxmlformats-officedocument.vmlDrawing"
VML_NS = {
    "v": "urn:schemas-microsoft-com:vml",
    "o": "urn:schemas-microsoft-com:office:office",
    "x": "urn:schemas-microsoft-com:office:excel",
}
XML_SPACE = "{http://www.w3.org/XML/1998/namespace}space"

# Our few parts are compressed fast: a level-1 deflate of a sheet is ~10% bigger than level 6 and
# several times quicker (ISA-L's level 1 quicker still); every other part keeps the school's
# compressed bytes.
COMPRESS_LEVEL = 1

# A part we parse bigger than this is not a roadmap: refuse rather than spend memory on it.
MAX_PART_BYTES = 64 * 1024 * 1024

# Children of <worksheet> that follow <legacyDrawing> in the schema's order.
_AFTER_LEGACY = {
    "legacyDrawingHF",
    "drawingHF",
    "picture",
    "oleObjects",
    "controls",
    "webPublishItems",
    "tableParts",
    "extLst",
}

_PARSER = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    huge_tree=False,
    remove_blank_text=False,
)


class PatchError(Exception):
    """The package cannot be patched safely; str() is Russian. Nothing is written."""


def _q(tag: str) -> str:
    return f"{{{MAIN_NS}}}{tag}"


# The tags the hot paths look for, qualified once.
C, F, V, IS, T, RPH, ROW = (_q(t) for t in ("c", "f", "v", "is", "t", "rPh", "row"))


def parse_xml(body: bytes) -> etree._Element:
    try:
        root = etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError:
        raise PatchError("часть книги повреждена (XML не читается)") from None
    if root.getroottree().docinfo.doctype:
        raise PatchError("книга содержит недопустимое объявление DTD")
    return root


def to_bytes(root: etree._Element) -> bytes:
    data: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True)
    return data


# Excel's limit on a cell's text; a longer text is cut (with «…») so Excel still opens the file.
MAX_CELL_CHARS = 32767

# Characters XML 1.0 cannot carry; OOXML writes them as _xHHHH_ (and a literal "_xHHHH_" typed
# as text gets its underscore escaped as _x005F_), which every spreadsheet reader decodes.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_ESCAPE_LIKE = re.compile("_(x[0-9A-Fa-f]{4}_)")
_ESCAPED = re.compile("_x([0-9A-Fa-f]{4})_")


def ooxml_text(value: str) -> str:
    r"""Text as an OOXML string element carries it: illegal XML characters escaped.

    >>> ooxml_text("a\x01b_x0041_")
    'a_x0001_b_x005F_x0041_'
    """
    value = _ESCAPE_LIKE.sub(r"_x005F_\1", value)
    return _XML_ILLEGAL.sub(lambda m: f"_x{ord(m.group()):04X}_", value)


def ooxml_unescape(value: str) -> str:
    r"""The inverse of ooxml_text, as spreadsheet readers decode a string element.

    >>> ooxml_unescape(ooxml_text("a\x01b_x0041_")) == "a\x01b_x0041_"
    True
    """
    if "_x" not in value:
        return value
    return _ESCAPED.sub(lambda m: chr(int(m.group(1), 16)), value)


@lru_cache(maxsize=1 << 16)
def split_ref(ref: str) -> tuple[int, int]:
    """'M5' -> (row 5, column 13) (sync.cells.parse_a1, cached for the sheet XML's many refs)."""
    return parse_a1(ref)


# --- the zip: copy unchanged members raw, write changed ones -------------------------------------


class Package:
    """A zip package read once; parts replaced or added in memory; rebuilt keeping the rest raw."""

    def __init__(self, data: bytes):
        self.data = data
        try:
            self.zip = zipfile.ZipFile(io.BytesIO(data))
        except zipfile.BadZipFile:
            raise PatchError("файл не является книгой Excel (zip повреждён)") from None
        self.infos = self.zip.infolist()
        self.by_name = {i.filename: i for i in self.infos}
        self.changed: dict[str, bytes] = {}
        self._rels: dict[str, Rels] = {}

    def rels(self, part: str) -> Rels:
        """A part's relationships, parsed once and shared by every editor of the package."""
        if part not in self._rels:
            self._rels[part] = Rels(self, part)
        return self._rels[part]

    def has(self, name: str) -> bool:
        return name in self.changed or name in self.by_name

    def read(self, name: str) -> bytes:
        if name in self.changed:
            return self.changed[name]
        info = self.by_name.get(name)
        if info is None:
            raise PatchError(f"в книге нет части {name}")
        if info.file_size > MAX_PART_BYTES:
            raise PatchError(f"часть книги {name} слишком велика для записи")
        body = self._inflate(info)
        if body is not None:
            return body
        try:
            with self.zip.open(info) as f:
                body = f.read(MAX_PART_BYTES + 1)
        except (zipfile.BadZipFile, zlib.error, OSError, NotImplementedError, RuntimeError):
            raise PatchError(f"часть книги {name} повреждена") from None
        if len(body) > MAX_PART_BYTES:
            raise PatchError(f"часть книги {name} слишком велика для записи")
        return body

    def _inflate(self, info: zipfile.ZipInfo) -> bytes | None:
        """A plain member (deflated or stored, not encrypted) unpacked straight from the bytes,
        with zipfile's checks (size, CRC); None to let zipfile read it."""
        if info.flag_bits & 0x1 or info.compress_type not in (0, 8) or _needs_zip64(info):
            return None
        off = info.header_offset
        head = self.data[off : off + 30]
        if len(head) < 30 or head[:4] != b"PK\x03\x04":
            return None
        n, m = struct.unpack("<2H", head[26:30])
        raw = self.data[off + 30 + n + m : off + 30 + n + m + info.compress_size]
        if info.compress_type == 0:
            body = raw
        else:
            try:
                body = fast_zlib.decompressobj(-15).decompress(raw, info.file_size + 1)
            except Exception:  # zlib.error or ISA-L's IsalError: the stream is damaged
                raise PatchError(f"часть книги {info.filename} повреждена") from None
        if len(body) != info.file_size or fast_zlib.crc32(body) != info.CRC:
            raise PatchError(f"часть книги {info.filename} повреждена")
        return body

    def xml(self, name: str) -> etree._Element:
        return parse_xml(self.read(name))

    def put(self, name: str, body: bytes | etree._Element) -> None:
        self.changed[name] = body if isinstance(body, bytes) else to_bytes(body)

    def free_name(self, pattern: str) -> str:
        """The first unused part name of a pattern with one {} for a number."""
        n = 1
        while self.has(pattern.format(n)):
            n += 1
        return pattern.format(n)

    def build(self) -> bytes:
        if not self.changed:
            return self.data
        try:
            return self._build_raw()
        except _NoRawCopy:
            return self._build_slow()

    def _build_raw(self) -> bytes:
        out = io.BytesIO()
        central: list[bytes] = []
        for info in self.infos:
            if _needs_zip64(info):
                raise _NoRawCopy
            offset = out.tell()
            if info.filename in self.changed:
                central.append(_write_member(out, info.filename, self.changed[info.filename], info))
            else:
                out.write(self._raw_member(info))
                central.append(_central_record(info, offset))
        for name, body in self.changed.items():
            if name not in self.by_name:
                central.append(_write_member(out, name, body, None, out.tell()))
        cd_offset = out.tell()
        for rec in central:
            out.write(rec)
        cd_size = out.tell() - cd_offset
        if len(central) >= 0xFFFF or cd_offset >= 0xFFFFFFFF:
            raise _NoRawCopy
        comment = self.zip.comment[:0xFFFF]
        count = len(central)
        eocd = struct.pack(
            "<4s4H2LH", b"PK\x05\x06", 0, 0, count, count, cd_size, cd_offset, len(comment)
        )
        out.write(eocd + comment)
        return out.getvalue()

    def _raw_member(self, info: zipfile.ZipInfo) -> bytes:
        off = info.header_offset
        head = self.data[off : off + 30]
        if len(head) < 30 or head[:4] != b"PK\x03\x04":
            raise _NoRawCopy
        n, m = struct.unpack("<2H", head[26:30])
        end = off + 30 + n + m + info.compress_size
        if info.flag_bits & 0x08:  # a data descriptor follows, with or without its signature
            end += 16 if self.data[end : end + 4] == b"PK\x07\x08" else 12
        if end > len(self.data):
            raise _NoRawCopy
        return self.data[off:end]

    def _build_slow(self) -> bytes:
        """Every part decompressed and written again: parts stay identical, bytes on disk not."""
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
            for info in self.infos:
                body = self.changed.get(info.filename)
                z.writestr(info, body if body is not None else self.read(info.filename))
            for name, body in self.changed.items():
                if name not in self.by_name:
                    z.writestr(name, body)
        return out.getvalue()


class _NoRawCopy(Exception):
    pass


def _needs_zip64(info: zipfile.ZipInfo) -> bool:
    big = 0xFFFFFFFF
    return info.file_size >= big or info.compress_size >= big or info.header_offset >= big


def _dos_time(dt: tuple[int, int, int, int, int, int]) -> tuple[int, int]:
    y, mo, d, h, mi, s = dt
    return (h << 11) | (mi << 5) | (s // 2), ((max(y, 1980) - 1980) << 9) | (mo << 5) | d


def _name_bytes(name: str, flags: int) -> tuple[bytes, int]:
    try:
        return name.encode("ascii"), flags & ~0x800
    except UnicodeEncodeError:
        return name.encode("utf-8"), flags | 0x800


def _central_record(info: zipfile.ZipInfo, offset: int) -> bytes:
    flags = info.flag_bits
    name = info.filename.encode("utf-8" if flags & 0x800 else "cp437")
    t, d = _dos_time(info.date_time)
    return (
        struct.pack(
            "<4s6H3L5H2L",
            b"PK\x01\x02",
            (info.create_system << 8) | info.create_version,
            info.extract_version,
            flags,
            info.compress_type,
            t,
            d,
            info.CRC,
            info.compress_size,
            info.file_size,
            len(name),
            len(info.extra),
            len(info.comment),
            0,
            info.internal_attr,
            info.external_attr,
            offset,
        )
        + name
        + info.extra
        + info.comment
    )


def _write_member(
    out: io.BytesIO,
    name: str,
    body: bytes,
    like: zipfile.ZipInfo | None,
    offset: int | None = None,
) -> bytes:
    """Write one deflated member at the stream's position; return its central record."""
    offset = out.tell() if offset is None else offset
    packer = fast_zlib.compressobj(COMPRESS_LEVEL, zlib.DEFLATED, -15)
    packed = packer.compress(body) + packer.flush()
    raw_name, flags = _name_bytes(name, 0)
    t, d = _dos_time(like.date_time if like is not None else (1980, 1, 1, 0, 0, 0))
    sizes = (fast_zlib.crc32(body), len(packed), len(body), len(raw_name))
    out.write(struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, flags, 8, t, d, *sizes, 0))
    out.write(raw_name + packed)
    external = like.external_attr if like is not None else 0
    head = struct.pack("<4s6H3L", b"PK\x01\x02", 20, 20, flags, 8, t, d, *sizes[:3])
    tail = struct.pack("<5H2L", len(raw_name), 0, 0, 0, 0, external, offset)
    return head + tail + raw_name


# --- package structure: relationships, sheets, content types --------------------------------------


def rels_name(part: str) -> str:
    folder, base = posixpath.split(part)
    return posixpath.join(folder, "_rels", base + ".rels")


def resolve(source_part: str, target: str) -> str:
    if target.startswith("/"):
        return target.lstrip("/")
    return posixpath.normpath(posixpath.join(posixpath.dirname(source_part), target))


def relative(source_part: str, target_part: str) -> str:
    return posixpath.relpath(target_part, posixpath.dirname(source_part) or ".")


class Rels:
    """One part's relationships, created empty when absent."""

    def __init__(self, pkg: Package, part: str):
        # The package keeps its Rels: a weak reference back keeps them out of a reference cycle,
        # so each school's package (its whole file in memory) is freed as soon as it is written,
        # not at the next full garbage collection (a run raises the collector's thresholds).
        self.pkg: Package = cast(Package, weakref.proxy(pkg))
        self.part, self.name = part, rels_name(part)
        if pkg.has(self.name):
            self.root = pkg.xml(self.name)
        else:
            self.root = etree.Element(f"{{{PKG_REL_NS}}}Relationships", nsmap={None: PKG_REL_NS})
        self.dirty = False

    def items(self) -> list[etree._Element]:
        return [e for e in self.root if e.tag == f"{{{PKG_REL_NS}}}Relationship"]

    def by_type(self, rel_type: str) -> list[tuple[str, str]]:
        """(id, resolved part) of every internal relationship of a type."""
        return [
            (e.get("Id", ""), resolve(self.part, e.get("Target", "")))
            for e in self.items()
            if e.get("Type") == rel_type and e.get("TargetMode") != "External"
        ]

    def target(self, rid: str) -> str | None:
        for e in self.items():
            if e.get("Id") == rid:
                return resolve(self.part, e.get("Target", ""))
        return None

    def add(self, rel_type: str, target_part: str) -> str:
        ids = {e.get("Id") for e in self.items()}
        n = 1
        while f"rId{n}" in ids:
            n += 1
        rid = f"rId{n}"
        etree.SubElement(
            self.root,
            f"{{{PKG_REL_NS}}}Relationship",
            Id=rid,
            Type=rel_type,
            Target=relative(self.part, target_part),
        )
        self.dirty = True
        return rid

    def save(self) -> None:
        if self.dirty:
            self.pkg.put(self.name, self.root)


@dataclass
class SheetPart:
    title: str
    part: str


def workbook_sheets(pkg: Package) -> tuple[str, list[SheetPart]]:
    """The workbook part and its worksheets in workbook order."""
    root_rels = pkg.rels("")
    docs = root_rels.by_type(REL_OFFICE_DOC)
    if not docs:
        raise PatchError("в книге нет основной части (xl/workbook.xml)")
    wb_part = docs[0][1]
    wb = pkg.xml(wb_part)
    if wb.tag != _q("workbook"):
        raise PatchError("книга в формате Strict Open XML: сохраните её как обычную книгу Excel")
    rels = pkg.rels(wb_part)
    sheets = []
    for s in wb.iter(_q("sheet")):
        target = rels.target(s.get(f"{{{DOC_REL_NS}}}id", ""))
        if target is not None and pkg.has(target):
            sheets.append(SheetPart(s.get("name", ""), target))
    return wb_part, sheets


@dataclass(frozen=True)
class Book:
    """Where a package keeps its workbook, sheets, styles and shared strings."""

    part: str
    sheets: tuple[SheetPart, ...]
    styles: str
    sst: str


_BOOK_PARTS = ("_rels/.rels", "xl/workbook.xml", "xl/_rels/workbook.xml.rels")
_BOOKS: dict[tuple[tuple[str, int, int], ...], Book] = {}  # by the CRCs of the parts it comes from


def book_of(pkg: Package) -> Book:
    """The package's layout; packages whose layout parts are identical (a thousand copies of one
    template) are parsed once: the zip's CRC and size of those parts are the key."""
    key = tuple(
        (n, i.CRC, i.file_size)
        for n in _BOOK_PARTS
        if (i := pkg.by_name.get(n)) is not None and n not in pkg.changed
    )
    book = _BOOKS.get(key) if len(key) == len(_BOOK_PARTS) else None
    if book is not None and all(pkg.has(s.part) for s in book.sheets):
        return book
    wb_part, sheets = workbook_sheets(pkg)
    rels = pkg.rels(wb_part)
    styles = rels.by_type(DOC_REL_NS + "/styles")
    sst = rels.by_type(DOC_REL_NS + "/sharedStrings")
    book = Book(wb_part, tuple(sheets), styles[0][1] if styles else "", sst[0][1] if sst else "")
    if len(key) == len(_BOOK_PARTS) and wb_part == _BOOK_PARTS[1]:
        if len(_BOOKS) > 256:
            _BOOKS.clear()
        _BOOKS[key] = book
    return book


class SharedStrings:
    """The shared strings part, parsed on the first lookup (many workbooks use inline text)."""

    def __init__(self, pkg: Package, part: str):
        self.pkg, self.part = pkg, part
        self._items: list[str] | None = None

    def __getitem__(self, index: int) -> str:
        if self._items is None:
            self._items = shared_strings(self.pkg, self.part)
        return self._items[index]


def shared_strings(pkg: Package, part: str) -> list[str]:
    if not part or not pkg.has(part):
        return []
    root = pkg.xml(part)
    return [_rich_text(si) for si in root.iter(_q("si"))]


def _rich_text(element: etree._Element) -> str:
    """The text of an <si> or <is>: its <t>, or its runs' <t>s, phonetic runs left out."""
    parts = []
    for t in element.iter(T):
        parent = t.getparent()
        if parent is not None and parent.tag == RPH:
            continue
        parts.append(t.text or "")
    return ooxml_unescape("".join(parts))


class ContentTypes:
    NAME = "[Content_Types].xml"

    def __init__(self, pkg: Package):
        self.pkg = pkg
        self._root: etree._Element | None = None
        self.dirty = False

    @property
    def root(self) -> etree._Element:
        if self._root is None:  # parsed only when a part is added
            self._root = self.pkg.xml(self.NAME)
        return self._root

    def ensure_default(self, ext: str, content_type: str) -> None:
        for e in self.root.iter(f"{{{CT_NS}}}Default"):
            if (e.get("Extension") or "").lower() == ext:
                return
        overrides = [e for e in self.root if e.tag == f"{{{CT_NS}}}Override"]
        el = etree.Element(f"{{{CT_NS}}}Default", Extension=ext, ContentType=content_type)
        if overrides:
            overrides[0].addprevious(el)
        else:
            self.root.append(el)
        self.dirty = True

    def add_override(self, part: str, content_type: str) -> None:
        etree.SubElement(
            self.root, f"{{{CT_NS}}}Override", PartName="/" + part, ContentType=content_type
        )
        self.dirty = True

    def save(self) -> None:
        if self.dirty:
            self.pkg.put(self.NAME, self.root)


# --- a worksheet's cells -------------------------------------------------------------------------


class Sheet:
    """A worksheet part parsed for reading and writing single cells."""

    def __init__(self, pkg: Package, part: SheetPart, sst: SharedStrings | list[str]):
        self.pkg, self.title, self.part, self.sst = pkg, part.title, part.part, sst
        self.root = pkg.xml(part.part)
        if self.root.tag != _q("worksheet"):
            raise PatchError(f"лист «{part.title}» не является обычным листом")
        data = self.root.find(_q("sheetData"))
        if data is None:
            data = etree.SubElement(self.root, _q("sheetData"))
        self.data = data
        self.rows: dict[int, etree._Element] = {}
        last = 0
        for row in data.iterchildren(ROW):
            last = int(row.get("r") or last + 1)
            self.rows[last] = row
        self._cells: dict[int, dict[int, etree._Element]] = {}
        self._columns: dict[int, dict[int, etree._Element]] = {}
        self.dirty = False
        merges = self.root.find(_q("mergeCells"))
        found = merges.iterchildren(_q("mergeCell")) if merges is not None else ()
        ranges = (_range(m.get("ref", "")) for m in found)
        self.merged = [m for m in ranges if m is not None]

    def row_cells(self, r: int) -> dict[int, etree._Element]:
        if r not in self._cells:
            cells: dict[int, etree._Element] = {}
            row = self.rows.get(r)
            if row is not None:
                col = 0
                for c in row.iterchildren(C):
                    ref = c.get("r")
                    col = split_ref(ref)[1] if ref else col + 1
                    cells[col] = c
            self._cells[r] = cells
        return self._cells[r]

    def column(self, col: int) -> dict[int, etree._Element]:
        """Row -> cell of one column (a scan of the cells' names, without building rows)."""
        if col not in self._columns:
            letters = column_letter(col)
            n = len(letters)
            tag = C
            found: dict[int, etree._Element] = {}
            for r, row in self.rows.items():
                if len(row) >= col:  # a full row: the cell is usually the col-th child
                    c = row[col - 1]
                    ref = c.get("r") if c.tag == tag else None
                    if ref is not None and ref.startswith(letters) and ref[n : n + 1].isdigit():
                        found[r] = c
                        continue
                for c in row.iterchildren(tag):
                    ref = c.get("r")
                    if ref is None:  # unnamed cells: positions must be counted
                        cell = self.row_cells(r).get(col)
                        if cell is not None:
                            found[r] = cell
                        break
                    if ref.startswith(letters) and ref[n : n + 1].isdigit():
                        found[r] = c
                        break
            self._columns[col] = found
        return self._columns[col]

    def cell(self, r: int, col: int) -> etree._Element | None:
        if col in self._columns:
            return self._columns[col].get(r)
        return self.row_cells(r).get(col)

    def text(self, r: int, col: int) -> str | None:
        """A cell's text as a reader sees it: '' when empty, None for a formula."""
        c = self.cell(r, col)
        return None if c is None else cell_text(c, self.sst)

    @property
    def max_row(self) -> int:
        return max(self.rows, default=0)

    def covering(self, r: int, col: int) -> tuple[int, int, int, int] | None:
        return _covering(self.merged, r, col)

    def ensure_cell(self, r: int, col: int) -> etree._Element:
        c = self.cell(r, col)
        if c is not None:
            return c
        row = self.rows.get(r)
        if row is None:
            row = etree.Element(_q("row"), r=str(r))
            after = [n for n in self.rows if n < r]
            if after:
                self.rows[max(after)].addnext(row)
            else:
                self.data.insert(0, row)
            self.rows[r] = row
        c = etree.Element(_q("c"), r=a1(r, col))
        cells = self.row_cells(r)
        before = [k for k in cells if k > col]
        if before:
            cells[min(before)].addprevious(c)
        else:
            row.append(c)
        if row.get("spans"):  # a hint only; a wrong one makes Excel repair the file
            del row.attrib["spans"]
        cells[col] = c
        if col in self._columns:
            self._columns[col][r] = c
        return c

    def set_text(self, r: int, col: int, value: str | None, style: int | None = None) -> None:
        """Write text as an inline string (the shared strings part stays untouched)."""
        c = self.ensure_cell(r, col)
        for child in list(c):
            if child.tag in (F, V, IS):
                c.remove(child)
        for attr in ("t", "cm", "vm"):
            if attr in c.attrib:
                del c.attrib[attr]
        if value:
            c.set("t", "inlineStr")
            inline = etree.Element(_q("is"))
            t = etree.SubElement(inline, _q("t"))
            t.text = ooxml_text(value)
            if value != value.strip():
                t.set(XML_SPACE, "preserve")
            ext = c.find(_q("extLst"))
            if ext is not None:
                ext.addprevious(inline)
            else:
                c.append(inline)
        if style is not None:
            c.set("s", str(style))
        self.dirty = True

    def style_of(self, r: int, col: int) -> int:
        c = self.cell(r, col)
        if c is not None and c.get("s"):
            return int(c.get("s", "0"))
        row = self.rows.get(r)
        if row is not None and row.get("customFormat") in ("1", "true") and row.get("s"):
            return int(row.get("s", "0"))
        cols = self.root.find(_q("cols"))
        for cdef in cols.iterchildren(_q("col")) if cols is not None else ():
            lo, hi = int(cdef.get("min", "0")), int(cdef.get("max", "0"))
            if lo <= col <= hi and cdef.get("style"):
                return int(cdef.get("style", "0"))
        return 0

    def save(self) -> None:
        if self.dirty:
            self.pkg.put(self.part, self.root)


# --- the main sheet as bytes: only the cells we write change --------------------------------------


class NeedTree(Exception):
    """The byte-level sheet cannot do this (add a drawing reference): patch with the tree."""


_ROOT_PLAIN = re.compile(
    rb'\A(?:\xef\xbb\xbf)?\s*(?:<\?xml[^>]*\?>\s*)?<worksheet\s[^>]*?xmlns="'
    + MAIN_NS.encode()
    + rb'"'
)
_ODD_CELL = re.compile(rb'<c[\s/>](?!r="[A-Z]{1,3}[1-9][0-9]{0,6}")|<[\w.-]+:(?:c|row)[\s/>]')
_ODD_ROW = re.compile(rb'<row[\s/>](?!r="[1-9][0-9]{0,6}")')
# The worksheet's children that follow <legacyDrawing>, as start tags (`<extLst` only at the top:
# add_legacy_drawing refuses a sheet with more than one).
_FOLLOWERS = tuple(sorted(_AFTER_LEGACY))
_ATTR = re.compile(rb'([\w:.-]+)\s*=\s*(?:"([^"]*)"|\'([^\']*)\')')
_CELL_REF = re.compile(rb'<c r="([A-Z]{1,3})([0-9]+)"')
_ROW_REF = re.compile(rb'<row r="([0-9]+)"')
_MERGE = re.compile(rb'<mergeCell\s[^>]*?ref="([^"]*)"')
_COL = re.compile(rb"<col\s([^>]*)>")
_FORMULA = re.compile(rb"<f[\s/>]")
_T_ATTR = re.compile(rb'\st="([^"]*)"')
_VALUE = re.compile(rb"<v>([^<]*)</v>")
_PHONETIC = re.compile(rb"<rPh[\s>].*?</rPh>", re.S)
_TEXT = re.compile(rb"<t(?:\s[^>]*)?>([^<]*)</t>|<t(?:\s[^>]*)?/>")
_EXT = re.compile(rb"<extLst[\s>].*?</extLst>", re.S)


def plain_sheet(xml: bytes) -> bool:
    """True when a sheet's XML is in the shape every spreadsheet program writes, so cells can be
    found and replaced as bytes: the main namespace unprefixed, every row and cell naming itself
    first (`<row r="5"`, `<c r="M5"`), no comment, CDATA, DTD or processing instruction inside.

    Such a sheet was parsed by the reader (calamine) in this run: the bytes are well-formed.
    """
    return (
        _ROOT_PLAIN.match(xml) is not None
        and b"<sheetData" in xml
        and b"<!" not in xml
        and xml.count(b"<?") <= 1
        and _ODD_CELL.search(xml) is None
        and _ODD_ROW.search(xml) is None
    )


def _attrs(tag: bytes) -> list[tuple[bytes, bytes]]:
    """The attributes of a start tag, raw (still escaped), in order."""
    return [
        (m.group(1), m.group(2) if m.group(2) is not None else m.group(3))
        for m in _ATTR.finditer(tag)
    ]


@lru_cache(maxsize=1 << 14)
def _unescape(raw: bytes) -> str:
    """Text content as XML decodes it (cached: a thousand copies of a template repeat it)."""
    text = raw.decode("utf-8")
    return html.unescape(text) if "&" in text else text


def _escape_text(text: str) -> bytes:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").encode("utf-8")


class _Span:
    """Where an element sits in the original bytes: [start, end); its start tag [start, tag_end)."""

    __slots__ = ("end", "start", "tag_end")

    def __init__(self, start: int, tag_end: int, end: int):
        self.start, self.tag_end, self.end = start, tag_end, end

    @property
    def empty(self) -> bool:  # a self-closing element
        return self.tag_end == self.end


_TAG_OK = re.compile(rb"<[\w]+(?:\s+[\w:.-]+\s*=\s*(?:\"[^\"<]*\"|'[^'<]*'))*\s*/?>")


def _element(xml: bytes, start: int, name: bytes) -> _Span:
    """The span of the element whose start tag begins at `start`; NeedTree when its start tag is
    not plain attributes (a `>` inside a value would hide where the element ends)."""
    tag_end = xml.index(b">", start) + 1
    if _TAG_OK.fullmatch(xml, start, tag_end) is None:
        raise NeedTree
    if xml[tag_end - 2 : tag_end - 1] == b"/":
        return _Span(start, tag_end, tag_end)
    return _Span(start, tag_end, xml.index(b"</" + name + b">", tag_end) + len(name) + 3)


class ByteSheet:
    """A worksheet patched as bytes: cells are found by their `r` and only the cells written
    are replaced; everything else (rows, formats, validations, the school's cells) is copied.

    It offers what the patch needs of `Sheet`; anything else raises NeedTree.
    """

    def __init__(self, pkg: Package, part: SheetPart, sst: SharedStrings | list[str], xml: bytes):
        self.pkg, self.title, self.part, self.sst, self.xml = pkg, part.title, part.part, sst, xml
        self.dirty = False
        self._written: dict[tuple[int, int], bytes] = {}  # (row, col) -> the cell's new bytes
        self._rows: dict[int, _Span | None] = {}
        self._row_cells: dict[int, dict[int, _Span]] = {}
        self._columns: dict[int, dict[int, _Span]] = {}
        self._texts: dict[tuple[int, int], str | None] = {}
        self._legacy: tuple[int, bytes] | None = None  # where our drawing reference goes
        self.merged = [
            m for m in (_range(r.decode("ascii", "replace")) for r in _MERGE.findall(xml)) if m
        ]

    @property
    def root(self) -> etree._Element:
        raise NeedTree

    @property
    def rows(self) -> list[int]:
        """The numbers of the rows the sheet has, those written here included."""
        found = {int(n) for n in _ROW_REF.findall(self.xml)}
        return sorted(found | {r for r, _ in self._written})

    @property
    def max_row(self) -> int:
        return max(self.rows, default=0)

    def row(self, r: int) -> _Span | None:
        if r not in self._rows:
            at = self.xml.find(b'<row r="%d"' % r)
            self._rows[r] = None if at < 0 else _element(self.xml, at, b"row")
        return self._rows[r]

    def row_cells(self, r: int) -> dict[int, _Span]:
        if r not in self._row_cells:
            cells: dict[int, _Span] = {}
            span = self.row(r)
            if span is not None and not span.empty:
                for m in _CELL_REF.finditer(self.xml, span.tag_end, span.end):
                    cells[col_index(m.group(1).decode())] = _element(self.xml, m.start(), b"c")
            self._row_cells[r] = cells
        return self._row_cells[r]

    def column(self, col: int) -> dict[int, _Span]:
        if col not in self._columns:
            found: dict[int, _Span] = {}
            pattern = re.compile(rb'<c r="' + column_letter(col).encode() + rb'([0-9]+)"')
            for m in pattern.finditer(self.xml):
                found.setdefault(int(m.group(1)), _element(self.xml, m.start(), b"c"))
            self._columns[col] = found
        return self._columns[col]

    def cell(self, r: int, col: int) -> _Span | None:
        if col in self._columns:
            return self._columns[col].get(r)
        if r in self._row_cells:
            return self._row_cells[r].get(col)
        at = self.xml.find(b'<c r="%s%d"' % (column_letter(col).encode(), r))
        return None if at < 0 else _element(self.xml, at, b"c")

    def text(self, r: int, col: int) -> str | None:
        """A cell's text as a reader sees it: '' when empty, None for a formula."""
        if (r, col) in self._written:
            return _cell_bytes_text(self._written[(r, col)], self.sst)
        if (r, col) not in self._texts:
            span = self.cell(r, col)
            body = self.xml[span.start : span.end] if span is not None else b""
            self._texts[(r, col)] = _cell_bytes_text(body, self.sst) if body else None
        return self._texts[(r, col)]

    def covering(self, r: int, col: int) -> tuple[int, int, int, int] | None:
        return _covering(self.merged, r, col)

    def style_of(self, r: int, col: int) -> int:
        span = self.cell(r, col)
        if span is not None:
            s = dict(_attrs(self.xml[span.start : span.tag_end])).get(b"s")
            if s:
                return int(s)
        row = self.row(r)
        if row is not None:
            attrs = dict(_attrs(self.xml[row.start : row.tag_end]))
            if attrs.get(b"customFormat") in (b"1", b"true") and attrs.get(b"s"):
                return int(attrs[b"s"])
        for m in _COL.finditer(self.xml):
            attrs = dict(_attrs(m.group(1)))
            lo, hi = int(attrs.get(b"min", b"0")), int(attrs.get(b"max", b"0"))
            if lo <= col <= hi and attrs.get(b"style"):
                return int(attrs[b"style"])
        return 0

    def set_text(self, r: int, col: int, value: str | None, style: int | None = None) -> None:
        """Write text as an inline string; the cell's other attributes and extensions stay."""
        span = self.cell(r, col)
        old = self.xml[span.start : span.end] if span is not None else b""
        attrs = _attrs(old[: old.index(b">") + 1]) if span is not None else []
        kept = [(k, v) for k, v in attrs if k not in (b"r", b"t", b"cm", b"vm", b"s")]
        s = str(style).encode() if style is not None else dict(attrs).get(b"s")
        out = [b'<c r="%s%d"' % (column_letter(col).encode(), r)]
        if s is not None:
            out.append(b' s="%s"' % s)
        out += [b' %s="%s"' % (k, v) for k, v in kept]
        body = b""
        if value:
            out.append(b' t="inlineStr"')
            space = b' xml:space="preserve"' if value != value.strip() else b""
            body = b"<is><t%s>%s</t></is>" % (space, _escape_text(ooxml_text(value)))
        ext = _EXT.search(old) if span is not None and not span.empty else None
        if ext is not None:
            body += ext.group(0)
        out.append(b">" + body + b"</c>" if body else b"/>")
        self._written[(r, col)] = b"".join(out)
        self.dirty = True

    def add_legacy_drawing(self, rid: str) -> None:
        """Reference our notes' drawing from the sheet, where the schema puts <legacyDrawing>:
        before the first of the elements that follow it, else last."""
        xml = self.xml
        if b"<legacyDrawing" in xml or xml.count(b"<extLst") > 1:
            raise NeedTree
        data_end = max(xml.find(b"</sheetData>"), xml.find(b"<sheetData"))
        after = [xml.find(b"<" + name.encode(), data_end) for name in _FOLLOWERS]
        found = [at for at in after if at >= 0]
        close = xml.rfind(b"</worksheet>")
        ext = xml.find(b"</extLst>", data_end)
        if ext >= 0 and xml[ext + len(b"</extLst>") :].strip() != b"</worksheet>":
            raise NeedTree  # an <extLst> inside another element: the tree knows where it is
        at = min(found) if found else close
        if at < 0:
            raise NeedTree
        element = b'<legacyDrawing xmlns:r="%s" r:id="%s"/>' % (DOC_REL_NS.encode(), rid.encode())
        self._legacy = (at, element)
        self.dirty = True

    def save(self) -> None:
        if self.dirty:
            self.pkg.put(self.part, self._patched())

    def _patched(self) -> bytes:
        """The original bytes with every written cell replaced or inserted in its row."""
        xml = self.xml
        # (start, order, end, new bytes): at one place, insertions (order < 0) come first
        edits: list[tuple[int, int, int, bytes]] = []
        new_rows: dict[int, list[tuple[int, bytes]]] = {}
        by_row: dict[int, list[tuple[int, bytes]]] = {}
        for (r, col), body in self._written.items():
            span = self.cell(r, col)
            if span is not None:
                edits.append((span.start, 0, span.end, body))
            else:
                by_row.setdefault(r, []).append((col, body))
        for r, cells in by_row.items():
            cells.sort()
            row = self.row(r)
            if row is None:
                new_rows[r] = cells
                continue
            tag = xml[row.start : row.tag_end]
            tag = re.sub(rb'\sspans\s*=\s*"[^"]*"', b"", tag)  # a hint; a wrong one needs repair
            if row.empty:
                tag = tag[:-2].rstrip() + b">"
                edits.append(
                    (row.start, 0, row.end, tag + b"".join(b for _, b in cells) + b"</row>")
                )
                continue
            edits.append((row.start, 0, row.tag_end, tag))
            existing = sorted(self.row_cells(r).items())
            for col, body in cells:
                follower = next((s for c, s in existing if c > col), None)
                at = follower.start if follower is not None else row.end - len(b"</row>")
                edits.append((at, col - (1 << 20), at, body))
        if new_rows:
            rows = [(int(m.group(1)), m.start()) for m in _ROW_REF.finditer(xml)]
            last: list[bytes] = []  # rows after every existing one
            for r, cells in sorted(new_rows.items()):
                element = b'<row r="%d">' % r + b"".join(b for _, b in cells) + b"</row>"
                place = next((at for n, at in rows if n > r), None)
                if place is None:
                    last.append(element)
                else:
                    edits.append((place, r - (1 << 30), place, element))
            if last:
                close = xml.find(b"</sheetData>")
                if close >= 0:
                    edits.append((close, -(1 << 30), close, b"".join(last)))
                else:  # <sheetData/>
                    at = xml.index(b"<sheetData")
                    end = xml.index(b">", at) + 1
                    body = b"<sheetData>" + b"".join(last) + b"</sheetData>"
                    edits.append((at, 0, end, body))
        if self._legacy is not None:
            edits.append((self._legacy[0], -(1 << 40), self._legacy[0], self._legacy[1]))
        edits.sort(key=lambda e: (e[0], e[1]))
        out = []
        pos = 0
        for start, _order, end, body in edits:
            out.append(xml[pos:start])
            out.append(body)
            pos = max(pos, end)
        out.append(xml[pos:])
        return b"".join(out)


def _cell_bytes_text(cell: bytes, sst: SharedStrings | list[str]) -> str | None:
    """A cell's text from its bytes (the rules of cell_text); None for a formula."""
    tag_end = cell.index(b">") + 1
    if cell[tag_end - 2 : tag_end - 1] == b"/":
        return ""
    if _FORMULA.search(cell, tag_end):
        return None
    found = _T_ATTR.search(cell, 0, tag_end)
    t = found.group(1) if found else b"n"
    if t == b"inlineStr":
        inline = _PHONETIC.sub(b"", cell[tag_end:])
        return ooxml_unescape("".join(_unescape(m.group(1) or b"") for m in _TEXT.finditer(inline)))
    v = _VALUE.search(cell, tag_end)
    if v is None:
        return ""
    if t == b"s":
        try:
            return sst[int(v.group(1))]
        except (ValueError, IndexError):
            return ""
    return _unescape(v.group(1))


def cell_text(c: etree._Element, sst: SharedStrings | list[str]) -> str | None:
    if c.find(F) is not None:
        return None
    t = c.get("t", "n")
    if t == "inlineStr":
        inline = c.find(IS)
        return "" if inline is None else _rich_text(inline)
    v = c.find(V)
    if v is None or v.text is None:
        return ""
    if t == "s":
        try:
            return sst[int(v.text)]
        except (ValueError, IndexError):
            return ""
    text: str = v.text
    return text


def _range(ref: str) -> tuple[int, int, int, int] | None:
    try:
        first, _, last = ref.partition(":")
        r1, c1 = split_ref(first)
        r2, c2 = split_ref(last or first)
    except ValueError:
        return None
    return min(r1, r2), min(c1, c2), max(r1, r2), max(c1, c2)


def _range_text(m: tuple[int, int, int, int]) -> str:
    return f"{a1(m[0], m[1])}:{a1(m[2], m[3])}"


# --- styles: our fills, appended once ------------------------------------------------------------


_FORMATS: dict[tuple[str, int, int], dict[tuple[int, str | None], int]] = {}


class Styles:
    """The styles part: our fills and the cell formats that use them, appended once.

    Formats already present are remembered per styles part content (zip CRC and size), so a
    thousand workbooks of one template parse their styles once.
    """

    def __init__(self, pkg: Package, part: str):
        if not part or not pkg.has(part):
            raise PatchError("в книге нет таблицы стилей")
        self.pkg, self.part = pkg, part
        info = pkg.by_name.get(part)
        key = (part, info.CRC, info.file_size) if info is not None else None
        self._key = key if part not in pkg.changed else None
        self._known = _FORMATS.get(self._key, {}) if self._key is not None else {}
        self._loaded = False
        self._with_fill: dict[tuple[int, str | None], int] = {}
        self.dirty = False

    def _load(self) -> None:
        if self._loaded:
            return
        self.root = self.pkg.xml(self.part)
        self.fills = self._section("fills", "fill")
        self.xfs = self._section("cellXfs", "xf")
        self._original_xfs = len(self.xfs.findall(_q("xf")))
        self._fill_ids: dict[str | None, int] = {}
        self._xf_index: dict[bytes, int] | None = None
        self._loaded = True

    def _section(self, name: str, child: str) -> etree._Element:
        el = self.root.find(_q(name))
        if el is None or not len(el.findall(_q(child))):
            raise PatchError("таблица стилей книги неполна")
        return el

    def fill_id(self, rgb: str | None) -> int:
        if rgb in self._fill_ids:
            return self._fill_ids[rgb]
        fills = self.fills.findall(_q("fill"))
        found = None
        for i, f in enumerate(fills):
            pattern = f.find(_q("patternFill"))
            if pattern is None or len(f) != 1:
                continue
            kind = pattern.get("patternType", "none")
            if rgb is None and kind == "none":
                found = i
                break
            fg = pattern.find(_q("fgColor"))
            if (
                rgb
                and kind == "solid"
                and fg is not None
                and (fg.get("rgb") or "").upper()[-6:] == rgb.upper()
                and len(fg.get("rgb") or "") in (6, 8)
                and (fg.get("rgb") or "FF").upper()[:2] in ("FF", rgb.upper()[:2])
            ):
                found = i
                break
        if found is None:
            fill = etree.SubElement(self.fills, _q("fill"))
            pattern = etree.SubElement(fill, _q("patternFill"))
            if rgb:
                pattern.set("patternType", "solid")
                etree.SubElement(pattern, _q("fgColor"), rgb="FF" + rgb.upper())
                etree.SubElement(pattern, _q("bgColor"), rgb="FF" + rgb.upper())
            else:
                pattern.set("patternType", "none")
            found = len(fills)
            self.fills.set("count", str(found + 1))
            self.dirty = True
        self._fill_ids[rgb] = found
        return found

    def with_fill(self, base: int, rgb: str | None) -> int:
        """The index of the cell format `base` with our fill: an existing one, or appended."""
        key = (base, rgb)
        if key not in self._with_fill:
            if key in self._known:
                self._with_fill[key] = self._known[key]
            else:
                self._load()
                index = self._find_or_add(base, rgb)
                self._with_fill[key] = index
                if index < self._original_xfs and self._key is not None:
                    if len(_FORMATS) > 256:
                        _FORMATS.clear()
                    _FORMATS.setdefault(self._key, {})[key] = index
        return self._with_fill[key]

    def _find_or_add(self, base: int, rgb: str | None) -> int:
        xfs = self.xfs.findall(_q("xf"))
        if self._xf_index is None:
            self._xf_index = {}
            for i, xf in enumerate(xfs):
                self._xf_index.setdefault(etree.tostring(xf, method="c14n"), i)
        template = xfs[base] if 0 <= base < len(xfs) else xfs[0]
        xf = copy.deepcopy(template)
        xf.tail = None
        xf.set("fillId", str(self.fill_id(rgb)))
        xf.set("applyFill", "1")
        key = etree.tostring(xf, method="c14n")
        if key in self._xf_index:
            return self._xf_index[key]
        self.xfs.append(xf)
        index = len(xfs)
        self.xfs.set("count", str(index + 1))
        self._xf_index[key] = index
        self.dirty = True
        return index

    def save(self) -> None:
        if self.dirty and self._loaded:
            self.pkg.put(self.part, self.root)


# --- notes: the comments part and its VML drawing ------------------------------------------------


_VML_SHAPETYPE = (
    '<v:shapetype xmlns:v="urn:schemas-microsoft-com:vml" xmlns:o="urn:schemas-microsoft-com:'
    'office:office" id="_x0000_t202" coordsize="21600,21600" o:spt="202"'
    ' path="m,l,21600r21600,l21600,xe"><v:stroke joinstyle="miter"/>'
    '<v:path gradientshapeok="t" o:connecttype="rect"/></v:shapetype>'
)
_VML_EMPTY = (
    '<xml xmlns:v="urn:schemas-microsoft-com:vml" xmlns:o="urn:schemas-microsoft-com:office:office"'
    ' xmlns:x="urn:schemas-microsoft-com:office:excel"><o:shapelayout v:ext="edit">'
    '<o:idmap v:ext="edit" data="{idmap}"/></o:shapelayout>' + _VML_SHAPETYPE + "</xml>"
)


_NOTE_SHAPE = etree.fromstring(
    b'<v:shape xmlns:v="urn:schemas-microsoft-com:vml" xmlns:o="urn:schemas-microsoft-com:office:'
    b'office" xmlns:x="urn:schemas-microsoft-com:office:excel" id="" type="#_x0000_t202"'
    b' style="" fillcolor="#ffffe1" o:insetmode="auto"><v:fill color2="#ffffe1"/>'
    b'<v:shadow on="t" color="black" obscured="t"/><v:path o:connecttype="none"/>'
    b'<v:textbox style="mso-direction-alt:auto"><div style="text-align:left"/></v:textbox>'
    b'<x:ClientData ObjectType="Note"><x:MoveWithCells/><x:SizeWithCells/><x:Anchor/>'
    b"<x:AutoFill>False</x:AutoFill><x:Row/><x:Column/></x:ClientData></v:shape>",
    _PARSER,
)


class Notes:
    """One sheet's notes: the comments part (parsed) and the VML part that draws them."""

    def __init__(
        self,
        pkg: Package,
        part: SheetPart,
        get: Callable[[SheetPart], AnySheet],
        content_types: ContentTypes,
        index: int,
    ):
        self.pkg, self.sheet_part, self._get, self.ct, self.index = (
            pkg,
            part,
            get,
            content_types,
            index,
        )
        self.rels = pkg.rels(part.part)
        found = self.rels.by_type(REL_COMMENTS)
        self.part = found[0][1] if found and pkg.has(found[0][1]) else None
        self.root = pkg.xml(self.part) if self.part else None
        self.vml: etree._Element | None = None
        self._numbers: int | None = None  # the last shape number used
        drawings = [t for _, t in self.rels.by_type(REL_VML) if pkg.has(t)]
        self.vml_part: str | None = drawings[0] if len(drawings) == 1 else None
        if len(drawings) > 1:  # which one the sheet shows: its <legacyDrawing>
            legacy = self.sheet.root.find(_q("legacyDrawing"))
            if legacy is not None:
                self.vml_part = self.rels.target(legacy.get(f"{{{DOC_REL_NS}}}id", ""))
        self.dirty = False

    @property
    def sheet(self) -> AnySheet:
        """The worksheet itself, parsed only when its drawing reference must be added."""
        return self._get(self.sheet_part)

    def existing(self) -> dict[str, tuple[str, str]]:
        """Ref -> (author, text) of every note on the sheet."""
        if self.root is None:
            return {}
        authors = [a.text or "" for a in self.root.iter(_q("author"))]
        out = {}
        for c in self.root.iter(_q("comment")):
            i = int(c.get("authorId", "0") or 0)
            text = c.find(_q("text"))
            out[c.get("ref", "").upper()] = (
                authors[i] if 0 <= i < len(authors) else "",
                _rich_text(text) if text is not None else "",
            )
        return out

    def _load_vml(self) -> etree._Element:
        if self.vml is None:
            if self.vml_part is not None:
                try:
                    self.vml = parse_xml(self.pkg.read(self.vml_part))
                except PatchError:
                    raise PatchError(
                        f"рисунки примечаний на листе «{self.sheet_part.title}» не читаются"
                    ) from None
            else:
                self.vml = etree.fromstring(
                    _VML_EMPTY.format(idmap=self.index + 1).encode(), _PARSER
                )
                self.vml_part = self.pkg.free_name("xl/drawings/vmlDrawing{}.vml")
                rid = self.rels.add(REL_VML, self.vml_part)
                sheet = self.sheet
                if isinstance(sheet, ByteSheet):
                    sheet.add_legacy_drawing(rid)
                else:
                    legacy = etree.Element(_q("legacyDrawing"))
                    legacy.set(f"{{{DOC_REL_NS}}}id", rid)
                    follower = next(
                        (e for e in sheet.root if etree.QName(e).localname in _AFTER_LEGACY), None
                    )
                    if follower is not None:
                        follower.addprevious(legacy)
                    else:
                        sheet.root.append(legacy)
                    sheet.dirty = True
                self.ct.ensure_default("vml", CT_VML)
        return self.vml

    def _comments(self) -> etree._Element:
        if self.root is None:
            self.root = etree.Element(_q("comments"), nsmap={None: MAIN_NS})
            etree.SubElement(self.root, _q("authors"))
            etree.SubElement(self.root, _q("commentList"))
            self.part = self.pkg.free_name("xl/comments{}.xml")
            self.rels.add(REL_COMMENTS, self.part)
            self.ct.add_override(self.part, CT_COMMENTS)
        return self.root

    def remove(self, refs: Iterable[str]) -> None:
        refs = {r.upper() for r in refs}
        if not refs or self.root is None:
            return
        for c in list(self.root.iter(_q("comment"))):
            if c.get("ref", "").upper() in refs:
                parent = c.getparent()
                if parent is not None:
                    parent.remove(c)
        if self.vml_part is not None:
            vml = self._load_vml()
            for shape in list(vml.iter(f"{{{VML_NS['v']}}}shape")):
                ref = _shape_ref(shape)
                if ref is not None and ref in refs:
                    parent = shape.getparent()
                    if parent is not None:
                        parent.remove(shape)
        self.dirty = True

    def add(self, ref: str, text: str, author: str) -> None:
        root = self._comments()
        authors = root.find(_q("authors"))
        if authors is None:
            authors = etree.Element(_q("authors"))
            root.insert(0, authors)
        names = [a.text or "" for a in authors.findall(_q("author"))]
        if author in names:
            author_id = names.index(author)
        else:
            etree.SubElement(authors, _q("author")).text = author
            author_id = len(names)
        clist = root.find(_q("commentList"))
        if clist is None:
            clist = etree.SubElement(root, _q("commentList"))
        comment = etree.SubElement(clist, _q("comment"), ref=ref, authorId=str(author_id))
        t = etree.SubElement(etree.SubElement(comment, _q("text")), _q("t"))
        t.text = ooxml_text(text)
        t.set(XML_SPACE, "preserve")
        self._add_shape(ref, text)
        self.dirty = True

    def _add_shape(self, ref: str, text: str) -> None:
        vml = self._load_vml()
        v = VML_NS["v"]
        if self._numbers is None:
            if not any(st.get("id") == "_x0000_t202" for st in vml.iter(f"{{{v}}}shapetype")):
                vml.append(etree.fromstring(_VML_SHAPETYPE.encode(), _PARSER))
            numbers = [
                int(m.group(1))
                for s in vml.iter(f"{{{v}}}shape")
                if (m := re.search(r"_s(\d+)$", s.get("id", "")))
            ]
            self._numbers = max(numbers, default=1024 * (self.index + 1))
        self._numbers += 1
        row, col = split_ref(ref)
        lines = 1 + text.count("\n") + len(text) // 45
        height_rows = max(3, min(20, lines + 1))
        shape = copy.deepcopy(_NOTE_SHAPE)  # one parse for every note: a copy is far cheaper
        shape.set("id", f"_x0000_s{self._numbers}")
        shape.set(
            "style",
            "position:absolute;margin-left:80pt;margin-top:2pt;width:240pt;"
            f"height:{15 * height_rows}pt;z-index:1;visibility:hidden",
        )
        anchor, row_el, col_el = shape[-1][2], shape[-1][4], shape[-1][5]
        anchor.text = f"{col}, 15, {max(0, row - 2)}, 10, {col + 3}, 15, {row - 1 + height_rows}, 4"
        row_el.text, col_el.text = str(row - 1), str(col - 1)
        vml.append(shape)

    def save(self) -> None:
        if not self.dirty:
            return
        if self.root is not None and self.part is not None:
            self.pkg.put(self.part, self.root)
        if self.vml is not None and self.vml_part is not None:
            self.pkg.put(self.vml_part, self.vml)
        self.rels.save()


def _shape_ref(shape: etree._Element) -> str | None:
    x = VML_NS["x"]
    data = shape.find(f"{{{x}}}ClientData")
    if data is None or data.get("ObjectType") != "Note":
        return None
    row, col = data.findtext(f"{{{x}}}Row"), data.findtext(f"{{{x}}}Column")
    try:
        return a1(int(row or "") + 1, int(col or "") + 1)
    except ValueError:
        return None


# --- the patch -----------------------------------------------------------------------------------

CONTROL_COLUMN_KEY = "control_column"  # the hidden sheet's record of the «Контроль» column
CONTROL_HEADER_KEY = "control_header"
CONTROL_NEIGHBOURS_KEY = "control_neighbours"


@dataclass
class PatchResult:
    data: bytes
    remarks: list[str] = field(default_factory=list)  # Russian: what was not written and why
    controls_written: int = 0
    control_refused: bool = False  # the «Контроль» column could not be confirmed as ours
    reviews_written: int = 0
    review_refused: bool = False  # the «Отметка МОУО» column could not be confirmed as ours
    # Sheet rows whose «Отметка МОУО» shows the paint's text now (written, or already so).
    reviews_shown: list[int] = field(default_factory=list)


@dataclass
class _Column:
    col: int | None
    reason: str = ""


def _by_title(sheets: list[SheetPart], title: str) -> SheetPart | None:
    want = normalize_header(title).replace(" ", "")
    for s in sheets:
        if normalize_header(s.title).replace(" ", "") == want:
            return s
    return None


def _meta_rows(meta: AnySheet) -> dict[str, tuple[int, str]]:
    """Key (column A) -> (row, value in column B) of the hidden service sheet."""
    out: dict[str, tuple[int, str]] = {}
    for r in sorted(meta.rows):
        key = (meta.text(r, 1) or "").strip()
        if key and key not in out:
            out[key] = (r, meta.text(r, 2) or "")
    return out


def _labels(paint: Paint) -> set[str]:
    labels = set(paint.control_labels) | {c.value for _, c in paint.controls}
    return {normalize_header(x) for x in labels if x}


def _covering(
    merged: Iterable[tuple[int, int, int, int]], r: int, col: int
) -> tuple[int, int, int, int] | None:
    """The merged range (r1, c1, r2, c2) that holds cell (r, col), if any."""
    for m in merged:
        r1, c1, r2, c2 = m
        if r1 <= r <= r2 and c1 <= col <= c2:
            return m
    return None


def _header(text: str | None) -> str:
    return normalize_header(text or "").rstrip("*").strip()


def _moved_column(
    sheet: AnySheet, hr: int, recorded: int, same: list[int], meta: dict[str, tuple[int, str]]
) -> int | None:
    """Where our column went when the school inserted or deleted columns: the one column with
    our header whose nearest titled neighbours are the template's (recorded at build time).

    A school's own column with the same title (inserted beside ours) has other neighbours, so
    it is never taken for ours; when no single column matches, None.
    """
    neighbours = meta.get(CONTROL_NEIGHBOURS_KEY, (0, ""))[1]
    if "\n" not in neighbours:
        return None
    left, right = (_header(x) for x in neighbours.split("\n", 1))
    titled = sorted(c for c in sheet.row_cells(hr) if _header(sheet.text(hr, c)))

    def fits(col: int) -> bool:
        before = [c for c in titled if c < col]
        after = [c for c in titled if c > col]
        got_left = _header(sheet.text(hr, before[-1])) if before else ""
        got_right = _header(sheet.text(hr, after[0])) if after else ""
        return (got_left, got_right) == (left, right)

    matches = [c for c in same if c != recorded and fits(c)]
    return matches[0] if len(matches) == 1 else None


def _several(header: str, same: list[int]) -> _Column:
    letters = ", ".join(column_letter(c) for c in sorted(same))
    return _Column(
        None,
        f"в строке заголовков несколько столбцов «{header}» ({letters}) — непонятно,"
        " какой из них заполняет синхронизация. Переименуйте свой столбец",
    )


def confirm_control_column(
    sheet: AnySheet, paint: Paint, meta: dict[str, tuple[int, str]]
) -> _Column:
    """The «Контроль» column if it is ours beyond doubt, else None and the Russian reason.

    Ours: the column the template recorded in the hidden sheet (or, for a workbook built before
    the record, the one column titled as the template titles it), whose header still matches and
    whose cells below the header hold only control labels or nothing.
    """
    header = paint.control_header or "Контроль"
    recorded = meta.get(CONTROL_COLUMN_KEY, (0, ""))[1].strip().upper()
    if meta.get(CONTROL_HEADER_KEY, (0, ""))[1].strip():
        header = meta[CONTROL_HEADER_KEY][1].strip()
    hr = paint.header_row
    want = _header(header)
    same = [c for c in sheet.row_cells(hr) if _header(sheet.text(hr, c)) == want]
    if recorded:
        if not re.fullmatch(r"[A-Z]{1,3}", recorded):
            return _Column(None, f"запись о столбце «{header}» в служебном листе повреждена")
        col = col_index(recorded)
        if _header(sheet.text(hr, col)) != want:
            moved = _moved_column(sheet, hr, col, same, meta)
            if moved is not None:
                col = moved  # the school inserted or deleted a column before ours
            elif len(same) > 1:
                return _several(header, same)
    else:
        if len(same) > 1:
            return _several(header, same)
        found = same[0] if same else paint.control_col
        if found is None:
            return _Column(None, f"столбец «{header}» не найден")
        col = found
    actual = sheet.text(hr, col)
    if _header(actual) != want:
        shown = f"«{actual}»" if actual else "пусто"
        return _Column(
            None,
            f"заголовок столбца {column_letter(col)} изменён (в шаблоне «{header}», сейчас"
            f" {shown}). Верните заголовок «{header}»",
        )
    labels = _labels(paint)
    for r in sorted(sheet.column(col)):
        if r <= hr:
            continue
        text = sheet.text(r, col)
        if text is None:
            return _Column(
                None,
                f"в ячейке {a1(r, col)} столбца «{header}» формула школы."
                " Перенесите свои записи в другой столбец",
            )
        if text.strip() and normalize_header(text) not in labels:
            shown = text if len(text) <= 40 else text[:40] + "…"
            return _Column(
                None,
                f"в ячейке {a1(r, col)} столбца «{header}» записано «{shown}» — это не отметка"
                " синхронизации. Перенесите свои записи в другой столбец",
            )
    return _Column(col)


AnySheet = Sheet | ByteSheet


def patch_workbook(data: bytes, paint: Paint, author: str) -> PatchResult:
    """The workbook's bytes with the paint shown; raises PatchError (Russian) when it cannot.

    The main sheet is patched as bytes when it is in the common shape (only the cells written
    change; no parse and no re-serialization of the school's sheet); otherwise, or when the
    sheet needs a new element beside its cells (its first notes' drawing), as a parsed tree.
    """
    try:
        return _patch(data, paint, author, as_bytes=True)
    except NeedTree:
        return _patch(data, paint, author, as_bytes=False)


def _patch(data: bytes, paint: Paint, author: str, as_bytes: bool) -> PatchResult:
    pkg = Package(data)
    book = book_of(pkg)
    sheets = list(book.sheets)
    if not sheets:
        raise PatchError("в книге нет листов")
    sst = SharedStrings(pkg, book.sst)
    main_part = _by_title(sheets, paint.main_sheet) or sheets[0]
    main: AnySheet
    xml = pkg.read(main_part.part) if as_bytes else b""
    if as_bytes and plain_sheet(xml):
        main = ByteSheet(pkg, main_part, sst, xml)
    else:
        main = Sheet(pkg, main_part, sst)
    loaded: dict[str, AnySheet] = {main_part.part: main}
    meta_part = _by_title(sheets, paint.meta_sheet) if paint.meta_sheet else None

    def sheet_for(part: SheetPart) -> AnySheet:
        if part.part not in loaded:
            body = pkg.read(part.part) if as_bytes else b""
            plain = as_bytes and plain_sheet(body)
            loaded[part.part] = ByteSheet(pkg, part, sst, body) if plain else Sheet(pkg, part, sst)
        return loaded[part.part]

    # The hidden sheet as the run read it; parsed here only when our note list there changes.
    meta_rows: dict[str, tuple[int, str]] = {}
    if meta_part is not None and paint.meta:
        meta_rows = {k: (0, v) for k, v in paint.meta.items()}
    elif meta_part is not None:
        meta_rows = _meta_rows(sheet_for(meta_part))
    result = PatchResult(data)

    column = confirm_control_column(main, paint, meta_rows)
    styles = Styles(pkg, book.styles)
    merged_skipped: list[str] = []
    if column.col is None:
        result.control_refused = True
        result.remarks.append(
            f"«Контроль» не записан, чтобы не испортить данные школы: {column.reason}."
        )
    else:
        col = column.col
        for row, control in paint.controls:
            m = main.covering(row, col)
            if m is not None:
                merged_skipped.append(_range_text(m))
                continue
            style = styles.with_fill(main.style_of(row, col), control.fill)
            main.set_text(row, col, control.value, style)
            result.controls_written += 1
        if merged_skipped:
            ranges = ", ".join(dict.fromkeys(merged_skipped))
            result.remarks.append(
                f"ячейки {ranges} объединены — в них «Контроль» не записан;"
                " разъедините ячейки в столбце «Контроль»."
            )

    if paint.reviews:
        _write_reviews(main, paint, result)
    _write_notes(
        pkg, paint, author, sheets, main, column.col, meta_part, meta_rows, sheet_for, result
    )
    for s in loaded.values():
        s.save()
    styles.save()
    result.data = pkg.build()
    return result


def _review_header_fits(actual: str | None, header: str) -> bool:
    """The column's header is the template's, as the reader matches it: case, spaces, a
    trailing ':' or '*', and a hint in brackets after the name («Отметка МОУО (заполняет
    МОУО)») do not matter."""
    want, got = header_key(header), header_key(actual)
    return bool(got) and (got == want or bare_header(got) == want)


def _write_reviews(main: AnySheet, paint: Paint, result: PatchResult) -> None:
    """The coordinator's marks into the school's «Отметка МОУО»: text only, the cell's own style
    and the column's validation kept; only where the header confirms the column is ours."""
    header = paint.review_header or "Отметка МОУО"
    col = paint.review_col
    actual = main.text(paint.header_row, col) if col else None
    if col is None or not _review_header_fits(actual, header):
        result.review_refused = True
        where = (
            f"заголовок столбца {column_letter(col)} — «{actual}»"
            if col and actual
            else f"столбец «{header}» не найден"
        )
        result.remarks.append(
            f"«{header}» не записана, чтобы не испортить данные школы: {where}."
            f" Верните столбец «{header}» из шаблона."
        )
        return
    merged: list[str] = []
    cut: list[str] = []
    for row, text in paint.reviews:
        if row <= paint.header_row:
            continue
        m = main.covering(row, col)
        if m is not None:
            merged.append(_range_text(m))
            continue
        existing = main.cell(row, col)
        if existing is None and not text:
            result.reviews_shown.append(row)
            continue  # nothing to clear
        if len(text) > MAX_CELL_CHARS:
            text = text[: MAX_CELL_CHARS - 1] + "…"
            cut.append(a1(row, col))
        # A new cell takes the row's or the column's style, as the template laid it out.
        style = None if existing is not None else (main.style_of(row, col) or None)
        main.set_text(row, col, text or None, style)
        result.reviews_written += 1
        result.reviews_shown.append(row)
    if merged:
        ranges = ", ".join(dict.fromkeys(merged))
        result.remarks.append(
            f"ячейки {ranges} объединены — в них «{header}» не записана;"
            f" разъедините ячейки в столбце «{header}»."
        )
    if cut:
        result.remarks.append(
            f"текст отметки в {', '.join(cut[:5])} длиннее {MAX_CELL_CHARS} знаков и обрезан."
        )


def _write_notes(
    pkg: Package,
    paint: Paint,
    author: str,
    sheets: list[SheetPart],
    main: AnySheet,
    control_col: int | None,
    meta_part: SheetPart | None,
    meta_rows: dict[str, tuple[int, str]],
    get: Callable[[SheetPart], AnySheet],
    result: PatchResult,
) -> None:
    """Our notes replace our previous ones; a school's own note is never touched."""
    listed: set[Cell] = parse_note_cells(meta_rows.get(NOTE_CELLS_KEY, (0, ""))[1])
    ct = ContentTypes(pkg)
    notes: dict[str, Notes] = {}
    index = {s.part: i for i, s in enumerate(sheets)}

    def notes_of(part: SheetPart) -> Notes:
        if part.part not in notes:
            notes[part.part] = Notes(pkg, part, get, ct, index.get(part.part, 0))
        return notes[part.part]

    existing = _existing_notes(pkg, sheets, notes_of, author, listed)
    texts, skipped = _place_notes(paint, sheets, main, control_col, get, existing.theirs)
    if skipped:
        result.remarks.append(
            "примечания к объединённым ячейкам не записаны ("
            + ", ".join(skipped[:5])
            + ("…" if len(skipped) > 5 else "")
            + "); ошибки перечислены в своде."
        )
    # The same notes as last time (only controls changed): comments and drawings stay as they are.
    if existing.shown != texts:
        for name in sorted(set(existing.ours) | {p for p, _ in texts}):
            n = notes_of(next(s for s in sheets if s.part == name))
            n.remove(existing.ours.get(name, set()))
            for (p, ref), text in sorted(texts.items()):
                if p == name:
                    n.add(ref, text, author)
            n.save()
    ct.save()
    if meta_part is not None:
        titles = {s.part: s.title for s in sheets}
        cells = [(titles[p], ref) for p, ref in texts]
        _update_meta(lambda: get(meta_part), paint, meta_rows, cells)


@dataclass
class _ExistingNotes:
    """The notes a school's workbook holds now, by whose they are."""

    ours: dict[str, set[str]] = field(default_factory=dict)  # sheet part -> refs
    theirs: dict[str, set[str]] = field(default_factory=dict)
    shown: dict[tuple[str, str], str] = field(default_factory=dict)  # (part, ref) -> our text


def _existing_notes(
    pkg: Package,
    sheets: list[SheetPart],
    notes_of: Callable[[SheetPart], Notes],
    author: str,
    listed: set[Cell],
) -> _ExistingNotes:
    """Which notes exist and whose they are; only sheets that have a comments part are opened."""
    found = _ExistingNotes()
    for part in sheets:
        if not pkg.rels(part.part).by_type(REL_COMMENTS):
            continue
        for ref, (who, text) in notes_of(part).existing().items():
            if who == author or is_ours(text, author=who, cell=(part.title, ref), listed=listed):
                found.ours.setdefault(part.part, set()).add(ref)
                found.shown[(part.part, ref)] = text
            else:
                found.theirs.setdefault(part.part, set()).add(ref)
    return found


def _place_notes(
    paint: Paint,
    sheets: list[SheetPart],
    main: AnySheet,
    control_col: int | None,
    get: Callable[[SheetPart], AnySheet],
    theirs: dict[str, set[str]],
) -> tuple[dict[tuple[str, str], str], list[str]]:
    """Where each of our notes goes: its own cell, or the row's «Контроль» when a school's note
    or a merge holds that cell; the notes that fit nowhere are listed (`Sheet!A1`)."""
    texts: dict[tuple[str, str], str] = {}  # (sheet part, ref) -> text
    skipped: list[str] = []
    for (title, ref), text in paint.notes.items():
        found = _by_title(sheets, title)
        sheet = get(found) if found is not None else main
        try:
            r, c = split_ref(ref)
        except ValueError:
            continue
        target = a1(r, c)
        covered = sheet.covering(r, c)
        if covered is not None and (covered[0], covered[1]) == (r, c):
            covered = None  # the merge's own top-left cell shows its note
        if target in theirs.get(sheet.part, set()) or covered is not None:
            if sheet is not main or control_col is None or c == control_col:
                if covered is not None:
                    skipped.append(f"{sheet.title}!{target}")
                continue  # nowhere else to put it: the master's «Ошибки» still lists it
            alt = a1(r, control_col)
            if alt in theirs.get(main.part, set()) or main.covering(r, control_col) is not None:
                skipped.append(f"{sheet.title}!{target}")
                continue
            text = f"{sheet.title}!{ref}: {text}"
            sheet, target = main, alt
        key = (sheet.part, target)
        texts[key] = f"{texts[key]}\n{text}" if key in texts else text
    return texts, skipped


def _update_meta(
    meta: Callable[[], AnySheet],
    paint: Paint,
    meta_rows: dict[str, tuple[int, str]],
    note_cells: list[Cell],
) -> None:
    """The hidden sheet (opened only if something changes): the list of our note cells and the
    paint's stamps."""
    if note_cells or NOTE_CELLS_KEY in meta_rows:
        value = format_note_cells(note_cells)
        if NOTE_CELLS_KEY not in meta_rows or meta_rows[NOTE_CELLS_KEY][1] != value:
            _set_meta(meta(), NOTE_CELLS_KEY, value)
    for meta_key, stamp in paint.stamps.items():
        if meta_key not in meta_rows or meta_rows[meta_key][1] != stamp:
            _set_meta(meta(), meta_key, stamp)


def _set_meta(meta: AnySheet, key: str, value: str) -> None:
    """Set one key's value (column B) in the hidden service sheet, adding the key when absent."""
    rows = _meta_rows(meta)
    if key in rows:
        row = rows[key][0]
    else:
        row = meta.max_row + 1
        meta.set_text(row, 1, key)
    meta.set_text(row, 2, value or None)
