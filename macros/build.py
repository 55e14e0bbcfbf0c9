"""Build the Excel add-in (.xlam) and macro-enabled school workbooks (.xlsm) from text sources.

The sources are text, so that a change is a readable diff: the VBA modules `macros/*.bas` and the
ribbon `macros/customUI.xml`. Excel keeps VBA in a binary `vbaProject.bin` (an OLE compound file
of compressed module sources); it is built here from the text with ms-ovba, source only, without
compiled p-code, so Excel compiles the modules on first open. The module text is stored in code
page 1251, the ANSI code page of Russian Windows, which Excel uses to read it.

Run it as `roadmap-sync build-addin` (sync/cli_addin.py) or `python macros/build.py --out DIR`.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import secrets
import sys
import tempfile
import threading
import uuid
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape

from lxml import etree

if TYPE_CHECKING:
    from sync.config import Config
    from sync.model import Plan, School
    from sync.spec import TemplateSpec

MACROS_DIR = Path(__file__).resolve().parent
VBA_SOURCES = ("RoadmapSync.bas",)
RIBBON_SOURCE = "customUI.xml"
ADDIN_FILE = "roadmap-sync.xlam"
MANUAL_DIR = "для импорта вручную"  # the .bas in code page 1251 and the ribbon, for Excel's Import
CODEPAGE = 1251
ADDIN_TITLE = "Дорожная карта"
ADDIN_DESCRIPTION = (
    "Кнопки «Проверить», «Обновить статусы», «Отправить», «Синхронизировать» и «Открыть школу» "
    "для дорожных карт ШНОР и ШНСУ (roadmap-sync)."
)
# The ribbon group a school's own workbook carries; the coordinator's group stays in the add-in.
SCHOOL_GROUPS = ("schoolGroup",)

CUSTOMUI_NS = "http://schemas.microsoft.com/office/2006/01/customui"
REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
CT_NS = "http://schemas.openxmlformats.org/package/2006/content-types"
REL_VBA = "http://schemas.microsoft.com/office/2006/relationships/vbaProject"
REL_RIBBON = "http://schemas.microsoft.com/office/2006/relationships/ui/extensibility"
CT_VBA = "application/vnd.ms-office.vbaProject"
CT_MAIN = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
    "xlsm": "application/vnd.ms-excel.sheet.macroEnabled.main+xml",
    "xlam": "application/vnd.ms-excel.addin.macroEnabled.main+xml",
}

# The project's id; ms-ovba needs one, Excel keeps whichever the file has.
PROJECT_ID = "{5B0C5E3A-2D7B-4C47-9A1E-6F3C1D2B8A40}"
WORKBOOK_GUID = uuid.UUID("00020819-0000-0000-C000-000000000046")  # ThisWorkbook
SHEET_GUID = uuid.UUID("00020820-0000-0000-C000-000000000046")  # a worksheet
ZIP_TIME = (1980, 1, 1, 0, 0, 0)

# ms-ovba writes its intermediate files into the current directory: one build at a time.
_BUILD_LOCK = threading.Lock()


class BuildError(Exception):
    """A source cannot be built; the message is Russian and names the file."""


@dataclass(frozen=True)
class VbaModule:
    """A standard VBA module as text: its name (Attribute VB_Name) and its source."""

    name: str
    text: str

    @property
    def stored(self) -> bytes:
        """The module source as Excel stores it: CRLF line ends, code page 1251."""
        text = self.text.replace("\r\n", "\n").replace("\n", "\r\n")
        try:
            return text.encode(f"cp{CODEPAGE}")
        except UnicodeEncodeError as e:
            raise BuildError(
                f"Модуль {self.name}: символ «{e.object[e.start : e.end]}» не записывается в "
                f"кодировке Windows-{CODEPAGE}, в которой Excel хранит текст VBA."
            ) from None


def read_modules(directory: Path = MACROS_DIR) -> list[VbaModule]:
    """The VBA modules of the add-in, read from their .bas sources."""
    modules = []
    for file in VBA_SOURCES:
        text = (directory / file).read_text(encoding="utf-8")
        match = re.match(r'Attribute VB_Name = "([A-Za-z][A-Za-z0-9_]*)"', text)
        if not match:
            raise BuildError(f'{file}: первая строка должна быть Attribute VB_Name = "Имя".')
        modules.append(VbaModule(match.group(1), text))
    return modules


def document_module(name: str, guid: uuid.UUID) -> str:
    """The text of a document module (ThisWorkbook or a sheet) with no code of its own."""
    lines = [
        f'Attribute VB_Name = "{name}"',
        f'Attribute VB_Base = "0{{{str(guid).upper()}}}"',
        "Attribute VB_GlobalNameSpace = False",
        "Attribute VB_Creatable = False",
        "Attribute VB_PredeclaredId = True",
        "Attribute VB_Exposed = True",
        "Attribute VB_TemplateDerived = False",
        "Attribute VB_Customizable = True",
    ]
    return "\r\n".join(lines) + "\r\n"


def vba_project(modules: Sequence[VbaModule], sheets: Sequence[str]) -> bytes:
    """vbaProject.bin holding the modules, ThisWorkbook and one document module per sheet.

    `sheets` are the sheets' code names, in workbook order (they must match the workbook XML).
    """
    from ms_ovba.Models.Entities.doc_module import DocModule
    from ms_ovba.Models.Entities.std_module import StdModule
    from ms_ovba.vbaProject import VbaProject

    project = VbaProject()
    project.codepage_name = f"cp{CODEPAGE}"
    project.project_id = PROJECT_ID
    sources: dict[str, bytes] = {}
    documents = [("ThisWorkbook", WORKBOOK_GUID), *((s, SHEET_GUID) for s in sheets)]
    for name, guid in documents:
        doc = DocModule(name)
        doc.add_guid(guid)
        doc.add_file(f"{name}.cls")
        sources[f"{name}.cls.new"] = document_module(name, guid).encode("ascii")
        project.add_module(doc)
    for module in modules:
        std = StdModule(module.name)
        std.add_file(f"{module.name}.bas")
        sources[f"{module.name}.bas.new"] = module.stored
        project.add_module(std)
    with _BUILD_LOCK, tempfile.TemporaryDirectory() as tmp, contextlib.chdir(tmp):
        for file, data in sources.items():
            Path(file).write_bytes(data)
        _write_ole(project)
        return Path("vbaProject.bin").read_bytes()


def _write_ole(project: object) -> None:
    """The OLE compound file of ms-ovba's ProjectOleFile, with two fixes of its defaults.

    ms-ovba 0.0.1 writes code page 1252 whatever the project says, and its compressor corrupts
    sources longer than about 1.5 KB (olevba and LibreOffice both read garbage back); so the
    dir stream gets the project's code page and every stream is compressed by `compress` here.
    """
    from ms_cfb.Models.Directories.root_directory import RootDirectory
    from ms_cfb.Models.Directories.storage_directory import StorageDirectory
    from ms_cfb.Models.Directories.stream_directory import StreamDirectory
    from ms_cfb.ole_file import OleFile
    from ms_ovba.Models.Fields.idSizeField import IdSizeField
    from ms_ovba.Views.dirStream import DirStream
    from ms_ovba.Views.project import Project
    from ms_ovba.Views.project_view import ProjectView

    class CodepageDirStream(DirStream):
        def _load_information(self) -> list[object]:
            records = list(super()._load_information())
            for i, record in enumerate(records):
                if isinstance(record, IdSizeField) and record._id == 3:  # PROJECTCODEPAGE
                    records[i] = IdSizeField(3, 2, CODEPAGE)
            return records

    root = RootDirectory()
    root.set_modified(project.default_date)  # type: ignore[attr-defined]
    storage = StorageDirectory("VBA")
    storage.set_created(project.default_date)  # type: ignore[attr-defined]
    storage.set_modified(project.default_date)  # type: ignore[attr-defined]
    for module in project.get_modules():  # type: ignore[attr-defined]
        source = Path(module._file_path + ".new").read_bytes()
        Path(module.bin_path).write_bytes(module.cache + compress(source))
        storage.add_directory(StreamDirectory(module.name, module.bin_path))
    Path("dir.bin").write_bytes(compress(CodepageDirStream(project).to_bytes()))
    storage.add_directory(StreamDirectory("dir", "dir.bin"))
    Path("vba_project.bin").write_bytes(ProjectView(project).to_bytes())
    storage.add_directory(StreamDirectory("_VBA_PROJECT", "vba_project.bin"))
    root.add_directory(storage)
    Path("project.bin").write_bytes(Project(project).to_bytes())
    root.add_directory(StreamDirectory("PROJECT", "project.bin"))
    ole = OleFile()
    ole.root_directory = root
    ole.create_file("vbaProject.bin")


# --- MS-OVBA compression (2.4.1) ------------------------------------------------------------------

CHUNK = 4096
MAX_CANDIDATES = 256  # earlier matches tried per position: enough for source text, still fast


def compress(data: bytes) -> bytes:
    """A CompressedContainer: the signature byte, then one compressed chunk per 4096 bytes.

    >>> compress(b"abcabcabc")  # "abc", then a copy of 6 bytes from 3 back
    b'\\x01\\x05\\xb0\\x08abc\\x03 '
    """
    out = bytearray(b"\x01")
    for start in range(0, len(data), CHUNK):
        out += _compress_chunk(data[start : start + CHUNK])
    return bytes(out)


def _copy_token_bits(position: int) -> int:
    """Bits of a copy token's offset at this position of the decompressed chunk (at least 4)."""
    return max(4, (position - 1).bit_length())


def _compress_chunk(chunk: bytes) -> bytes:
    n = len(chunk)
    body = bytearray()
    seen: dict[bytes, list[int]] = {}  # every 3-byte string -> where it starts, earliest first
    pos = 0

    def remember(start: int, stop: int) -> None:
        for p in range(start, min(stop, n - 2)):
            seen.setdefault(chunk[p : p + 3], []).append(p)

    while pos < n:
        flag_at = len(body)
        body.append(0)
        for bit in range(8):
            if pos >= n:
                break
            bits = _copy_token_bits(pos)
            longest = min((0xFFFF >> bits) + 3, n - pos)
            best, best_at = 0, -1
            for candidate in reversed(seen.get(chunk[pos : pos + 3], [])[-MAX_CANDIDATES:]):
                length = 3
                while length < longest and chunk[candidate + length] == chunk[pos + length]:
                    length += 1
                if length > best:
                    best, best_at = length, candidate
                    if length == longest:
                        break
            if best >= 3:
                token = ((pos - best_at - 1) << (16 - bits)) | (best - 3)
                body += token.to_bytes(2, "little")
                body[flag_at] |= 1 << bit
                remember(pos, pos + best)
                pos += best
            else:
                body.append(chunk[pos])
                remember(pos, pos + 1)
                pos += 1
    if len(body) <= CHUNK:
        header = 0xB000 | (len(body) + 2 - 3)  # compressed, signature 0b011, size - 3
        return header.to_bytes(2, "little") + bytes(body)
    if n == CHUNK:
        return (0x3000 | 0x0FFF).to_bytes(2, "little") + chunk  # stored as is
    raise BuildError("Исходный текст модуля не сжимается в формат VBA: слишком мало повторов.")


# --- the ribbon ---------------------------------------------------------------------------------


def ribbon_xml(groups: Iterable[str] | None = None, directory: Path = MACROS_DIR) -> bytes:
    """customUI.xml, keeping only the named groups when `groups` is given."""
    source = directory / RIBBON_SOURCE
    try:
        tree = etree.parse(str(source), etree.XMLParser(remove_comments=False))
    except etree.XMLSyntaxError as e:
        raise BuildError(f"{RIBBON_SOURCE}: ошибка XML — {e}") from None
    if groups is not None:
        keep = set(groups)
        for group in tree.iter(f"{{{CUSTOMUI_NS}}}group"):
            if group.get("id") not in keep:
                parent = group.getparent()
                assert parent is not None
                parent.remove(group)
    return bytes(etree.tostring(tree, xml_declaration=True, encoding="UTF-8", standalone=True))


def ribbon_actions(xml: bytes) -> dict[str, str]:
    """Button id -> its onAction macro, for every button of a ribbon."""
    root = etree.fromstring(xml)
    return {b.get("id", ""): b.get("onAction", "") for b in root.iter(f"{{{CUSTOMUI_NS}}}button")}


# --- packages -------------------------------------------------------------------------------------


def _xml(element: etree._Element) -> bytes:
    return bytes(etree.tostring(element, xml_declaration=True, encoding="UTF-8", standalone=True))


def _add_relationship(rels: bytes, rel_type: str, target: str) -> bytes:
    root = etree.fromstring(rels)
    taken = {r.get("Id") for r in root}
    n = 1
    while f"rIdRs{n}" in taken:
        n += 1
    etree.SubElement(
        root, f"{{{REL_NS}}}Relationship", Id=f"rIdRs{n}", Type=rel_type, Target=target
    )
    return _xml(root)


def _content_types(types: bytes, kind: str) -> bytes:
    root = etree.fromstring(types)
    for override in root.iter(f"{{{CT_NS}}}Override"):
        if override.get("PartName") == "/xl/workbook.xml":
            override.set("ContentType", CT_MAIN[kind])
    if not any(d.get("Extension") == "bin" for d in root.iter(f"{{{CT_NS}}}Default")):
        default = etree.Element(f"{{{CT_NS}}}Default", Extension="bin", ContentType=CT_VBA)
        root.insert(0, default)
    return _xml(root)


def macro_enabled(package: bytes, vba: bytes, ribbon: bytes | None, kind: str) -> bytes:
    """A workbook package (.xlsx bytes) made macro-enabled: vbaProject.bin, ribbon, content type.

    kind: "xlsm" for a workbook, "xlam" for an add-in.
    """
    if kind not in ("xlsm", "xlam"):
        raise ValueError(kind)
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(package)) as src,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst,
    ):
        names = src.namelist()
        for name in names:
            data = src.read(name)
            if name == "[Content_Types].xml":
                data = _content_types(data, kind)
            elif name == "xl/_rels/workbook.xml.rels":
                data = _add_relationship(data, REL_VBA, "vbaProject.bin")
            elif name == "_rels/.rels" and ribbon is not None:
                data = _add_relationship(data, REL_RIBBON, "customUI/customUI.xml")
            dst.writestr(zipfile.ZipInfo(name, ZIP_TIME), data, zipfile.ZIP_DEFLATED)
        dst.writestr(zipfile.ZipInfo("xl/vbaProject.bin", ZIP_TIME), vba, zipfile.ZIP_DEFLATED)
        if ribbon is not None:
            info = zipfile.ZipInfo("customUI/customUI.xml", ZIP_TIME)
            dst.writestr(info, ribbon, zipfile.ZIP_DEFLATED)
    return out.getvalue()


def addin_package() -> bytes:
    """The add-in's own workbook: one sheet saying what it is, title and description for Excel."""
    ns = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    parts = {
        "[Content_Types].xml": (
            f'<Types xmlns="{CT_NS}">'
            '<Default Extension="rels" '
            'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/xl/workbook.xml" ContentType="{CT_MAIN["xlsx"]}"/>'
            '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
            '<Override PartName="/xl/styles.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
            '<Override PartName="/docProps/core.xml" '
            'ContentType="application/vnd.openxmlformats-package.core-properties+xml"/>'
            "</Types>"
        ),
        "_rels/.rels": (
            f'<Relationships xmlns="{REL_NS}">'
            f'<Relationship Id="rId1" Type="{rel}/officeDocument" Target="xl/workbook.xml"/>'
            '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/'
            'relationships/metadata/core-properties" Target="docProps/core.xml"/>'
            "</Relationships>"
        ),
        "docProps/core.xml": (
            '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/'
            'metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/">'
            f"<dc:title>{escape(ADDIN_TITLE)}</dc:title>"
            f"<dc:description>{escape(ADDIN_DESCRIPTION)}</dc:description>"
            "<dc:creator>roadmap-sync</dc:creator>"
            "</cp:coreProperties>"
        ),
        "xl/workbook.xml": (
            f'<workbook xmlns="{ns}" xmlns:r="{rel}"><workbookPr codeName="ThisWorkbook"/>'
            '<sheets><sheet name="Надстройка" sheetId="1" r:id="rId1"/></sheets></workbook>'
        ),
        "xl/_rels/workbook.xml.rels": (
            f'<Relationships xmlns="{REL_NS}">'
            f'<Relationship Id="rId1" Type="{rel}/worksheet" Target="worksheets/sheet1.xml"/>'
            f'<Relationship Id="rId2" Type="{rel}/styles" Target="styles.xml"/>'
            "</Relationships>"
        ),
        "xl/worksheets/sheet1.xml": (
            f'<worksheet xmlns="{ns}"><sheetPr codeName="Sheet1"/><sheetData>'
            '<row r="1"><c r="A1" t="inlineStr">'
            f"<is><t>{escape(ADDIN_TITLE)}: {escape(ADDIN_DESCRIPTION)}</t></is>"
            "</c></row></sheetData></worksheet>"
        ),
        "xl/styles.xml": (
            f'<styleSheet xmlns="{ns}">'
            '<fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>'
            '<fills count="2"><fill><patternFill patternType="none"/></fill>'
            '<fill><patternFill patternType="gray125"/></fill></fills>'
            '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border>'
            "</borders>"
            '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/>'
            "</cellStyleXfs>"
            '<cellXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
            "</cellXfs>"
            '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/>'
            "</cellStyles></styleSheet>"
        ),
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in parts.items():
            data = b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n' + text.encode()
            z.writestr(zipfile.ZipInfo(name, ZIP_TIME), data, zipfile.ZIP_DEFLATED)
    return out.getvalue()


# --- what the build writes ------------------------------------------------------------------------


def _write_atomically(path: Path, data: bytes) -> None:
    """Write beside, then replace: never a half-written add-in. Permissions follow the umask."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".~tmp-{secrets.token_hex(4)}{path.suffix}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def build_addin(out_dir: Path) -> Path:
    """roadmap-sync.xlam with every button, and beside it the sources for a manual import."""
    modules = read_modules()
    addin = out_dir / ADDIN_FILE
    _write_atomically(
        addin,
        macro_enabled(addin_package(), vba_project(modules, ["Sheet1"]), ribbon_xml(), "xlam"),
    )
    export_sources(out_dir / MANUAL_DIR, modules)
    return addin


def export_sources(out_dir: Path, modules: Sequence[VbaModule] | None = None) -> list[Path]:
    """The .bas files as Excel's «Import File» expects them (CRLF, Windows-1251), the ribbon."""
    written = []
    for module in modules if modules is not None else read_modules():
        path = out_dir / f"{module.name}.bas"
        _write_atomically(path, module.stored)
        written.append(path)
    ribbon = out_dir / RIBBON_SOURCE
    _write_atomically(ribbon, ribbon_xml())
    written.append(ribbon)
    return written


def school_xlsm(
    config: Config, school: School, built_at: datetime, context: _SchoolContext | None = None
) -> bytes:
    """A school's workbook with the school buttons built in: the ribbon group and the VBA."""
    from sync.builders.school_xlsx import build_school_workbook

    context = context or _SchoolContext.of(config)
    wb = build_school_workbook(
        context.spec, context.plan, school, built_at=built_at, password=config.protection_password
    )
    # Code names tie each sheet to its document module in vbaProject.bin.
    wb.code_name = "ThisWorkbook"
    for i, ws in enumerate(wb.worksheets, start=1):
        ws.sheet_properties.codeName = f"Sheet{i}"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "book.xlsx"
        wb.save(path)
        package = path.read_bytes()
    return macro_enabled(package, context.vba(len(wb.worksheets)), context.ribbon, "xlsm")


@dataclass
class _SchoolContext:
    """What every school's workbook of one build shares: the template, the plan, the VBA."""

    spec: TemplateSpec
    plan: Plan
    ribbon: bytes
    modules: list[VbaModule]
    projects: dict[int, bytes]

    @classmethod
    def of(cls, config: Config) -> _SchoolContext:
        from sync.pipeline import load_context

        spec, plan = load_context(config)
        return cls(spec, plan, ribbon_xml(SCHOOL_GROUPS), read_modules(), {})

    def vba(self, sheets: int) -> bytes:
        if sheets not in self.projects:
            names = [f"Sheet{i}" for i in range(1, sheets + 1)]
            self.projects[sheets] = vba_project(self.modules, names)
        return self.projects[sheets]


def build_school_workbooks(
    config: Config,
    out_dir: Path,
    school_ids: Sequence[str] = (),
    built_at: datetime | None = None,
) -> tuple[list[Path], list[Path]]:
    """<id>.xlsm for the chosen schools (all when none named). Existing files are kept.

    Returns (created, kept).
    """
    known = {s.id: s for s in config.schools}
    unknown = [sid for sid in school_ids if sid not in known]
    if unknown:
        raise BuildError(f"Нет в настройках школ: {', '.join(unknown)}. Есть: {', '.join(known)}.")
    built_at = built_at or datetime.now(config.zone)
    context = _SchoolContext.of(config)
    created: list[Path] = []
    kept: list[Path] = []
    for school in (known[sid] for sid in school_ids) if school_ids else config.schools:
        path = out_dir / f"{school.id}.xlsm"
        if path.exists():
            kept.append(path)
            continue
        _write_atomically(path, school_xlsm(config, school, built_at, context))
        created.append(path)
    return created, kept


def main(argv: Sequence[str] | None = None) -> int:
    """python macros/build.py --out DIR [--config FILE] [--school ID ...]"""
    parser = argparse.ArgumentParser(description="Сборка надстройки «Дорожная карта».")
    parser.add_argument("--out", type=Path, default=Path("dist/addin"), help="папка для файлов")
    parser.add_argument("--config", type=Path, help="настройки: собрать и книги школ (.xlsm)")
    parser.add_argument("--school", action="append", default=[], help="только эта школа")
    args = parser.parse_args(argv)
    print(f"надстройка  {build_addin(args.out)}")
    if args.config:
        from sync.config import load_config

        created, kept = build_school_workbooks(load_config(args.config), args.out, args.school)
        for path in created:
            print(f"создана     {path}")
        for path in kept:
            print(f"уже есть    {path} (не изменена)")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.path.insert(0, str(MACROS_DIR.parent))
    sys.exit(main())
