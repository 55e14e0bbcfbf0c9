"""The add-in's build: VBA and ribbon from text, checked by tools that did not write them.

oletools' olevba must read exactly the VBA source back out of the built files; LibreOffice must
open the add-in and a school's macro-enabled workbook and list their modules (converted to ODS,
whose Basic/ folder holds them); every ribbon button must reach a VBA sub and through it a Python
function of sync.addin. The ribbon itself is drawn only by Excel: docs/addin.md says so.
"""

from __future__ import annotations

import os
import re
import subprocess
import zipfile
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import xlwings
from click.testing import CliRunner
from lxml import etree
from oletools.olevba import VBA_Parser, decompress_stream

from sync import addin
from sync.backends.excel import book as xlwings_book
from sync.backends.folder import FolderBackend
from sync.cli_addin import MACROS_DIR, build_addin_command, macros_build
from sync.pipeline import load_context
from sync.reader import locate
from sync.validation import check_school
from tests.fixtures import BUILT_AT, TODAY, municipality
from tests.libreoffice import soffice

CUSTOMUI = "{http://schemas.microsoft.com/office/2006/01/customui}"
LO_PREFIX = "Rem Attribute VBA_ModuleType=VBAModule\nOption VBASupport 1\n"


@pytest.fixture(scope="module")
def build() -> ModuleType:
    return macros_build()


@pytest.fixture(scope="module")
def built(build: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The add-in and the macro-enabled workbook of school s1, built once for these tests."""
    root = tmp_path_factory.mktemp("build")
    config = municipality(root)
    out = root / "dist"
    addin_file = build.build_addin(out)
    created, _ = build.build_school_workbooks(config, out, ["s1"], BUILT_AT)
    return {"config": config, "out": out, "xlam": addin_file, "xlsm": created[0], "root": root}


def source() -> str:
    return (MACROS_DIR / "RoadmapSync.bas").read_text(encoding="utf-8")


def macros_of(path: Path) -> dict[str, str]:
    """Module file name -> code, as olevba extracts it."""
    parser = VBA_Parser(str(path))
    try:
        assert parser.detect_vba_macros()
        return {name: code for _, _, name, code in parser.extract_macros()}
    finally:
        parser.close()


# --- vbaProject.bin from text -------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 3, 100, 1500, 4095, 4096, 4097, 8192, 20_000])
def test_compression_round_trips_through_olevbas_decompressor(build: ModuleType, size: int) -> None:
    text = (source() * 10).encode("cp1251")[:size]
    for data in (text, b"\x00" * size):
        assert bytes(decompress_stream(bytearray(build.compress(data)))) == data
    # Noise does not compress: a whole chunk is stored as it is; a short last one cannot be.
    noise = os.urandom(size)
    if size % 4096 + -(-(size % 4096) // 8) > 4096:  # literals and their flag bytes
        with pytest.raises(build.BuildError, match="не сжимается"):
            build.compress(noise)
    else:
        assert bytes(decompress_stream(bytearray(build.compress(noise)))) == noise


def test_olevba_reads_back_exactly_the_source(built: dict[str, Any]) -> None:
    for path, sheets in ((built["xlam"], 1), (built["xlsm"], 4)):
        modules = macros_of(path)
        assert modules["RoadmapSync.bas"].replace("\r\n", "\n") == source(), path.name
        assert set(modules) == {
            "RoadmapSync.bas",
            "ThisWorkbook.cls",
            *(f"Sheet{i}.cls" for i in range(1, sheets + 1)),
        }
        assert 'MsgBox "Откройте книгу дорожной карты' in modules["RoadmapSync.bas"]


def test_a_character_outside_windows_1251_fails_the_build(build: ModuleType) -> None:
    module = build.VbaModule("Bad", 'Attribute VB_Name = "Bad"\n\' смайлик 😀\n')
    with pytest.raises(build.BuildError, match="не записывается в кодировке Windows-1251"):
        module.stored  # noqa: B018


def converted(path: Path, out: Path, profile: Path, infilter: str | None = None) -> Path:
    """Open a file in headless LibreOffice and save it as ODS."""
    command = [
        soffice(),
        f"-env:UserInstallation={profile.as_uri()}",
        "--headless",
        "--norestore",
        *([f"--infilter={infilter}"] if infilter else []),
        "--convert-to",
        "ods",
        "--outdir",
        str(out),
        str(path),
    ]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=240)
    target = out / f"{path.stem}.ods"
    assert proc.returncode == 0 and target.exists(), proc.stdout + proc.stderr
    return target


def basic_modules(ods: Path) -> dict[str, str]:
    """The document's VBA modules as LibreOffice keeps them: name -> code."""
    with zipfile.ZipFile(ods) as z:
        library = etree.fromstring(z.read("Basic/VBAProject/script-lb.xml"))
        ns = "{http://openoffice.org/2000/library}"
        names = [e.get(f"{ns}name") for e in library.iter(f"{ns}element")]
        return {
            str(name): etree.fromstring(z.read(f"Basic/VBAProject/{name}.xml")).text or ""
            for name in names
        }


def test_libreoffice_opens_the_addin_and_the_school_workbook_and_lists_the_modules(
    built: dict[str, Any], tmp_path: Path
) -> None:
    without_attributes = "".join(
        line for line in source().splitlines(keepends=True) if not line.startswith("Attribute ")
    )
    for path, infilter, sheets in (
        # LibreOffice does not know the add-in's file type by itself: name its filter.
        (built["xlam"], "Calc MS Excel 2007 XML", 1),
        (built["xlsm"], None, 4),
    ):
        modules = basic_modules(converted(path, tmp_path / "ods", tmp_path / "lo", infilter))
        assert set(modules) == {
            "RoadmapSync",
            "ThisWorkbook",
            *(f"Sheet{i}" for i in range(1, sheets + 1)),
        }, path.name
        code = modules["RoadmapSync"]
        assert code.startswith(LO_PREFIX)
        assert code[len(LO_PREFIX) :].rstrip("\n") == without_attributes.rstrip("\n")


def test_the_school_workbook_is_still_the_schools_workbook(built: dict[str, Any]) -> None:
    """With macros or without, the sync reads and validates it the same way."""
    config = built["config"]
    spec, plan = load_context(config)
    school = config.schools[0]
    plain = built["root"] / "s1.xlsx"
    FolderBackend(
        config.master_path, config.backups_dir, password=config.protection_password
    ).create(
        school.__class__(school.id, school.name, school.category, source=str(plain)),
        spec,
        plan,
        BUILT_AT,
    )

    def problems(path: Path) -> list[tuple[str, str]]:
        sheet = locate(FolderBackend.read_file(path), spec)
        _, found = check_school(sheet, school, plan, spec, TODAY)
        return [(p.code, p.cell) for p in found]

    assert problems(built["xlsm"]) == problems(plain)
    with zipfile.ZipFile(built["xlsm"]) as z:
        types = z.read("[Content_Types].xml").decode()
        assert "application/vnd.ms-excel.sheet.macroEnabled.main+xml" in types
        assert 'Extension="bin" ContentType="application/vnd.ms-office.vbaProject"' in types
        assert b"relationships/vbaProject" in z.read("xl/_rels/workbook.xml.rels")
        assert b"ui/extensibility" in z.read("_rels/.rels")
        ribbon = z.read("customUI/customUI.xml")
    groups = [g.get("id") for g in etree.fromstring(ribbon).iter(f"{CUSTOMUI}group")]
    assert groups == ["schoolGroup"]
    with zipfile.ZipFile(built["xlam"]) as z:
        assert b"addin.macroEnabled.main+xml" in z.read("[Content_Types].xml")
        assert b"<dc:title>" in z.read("docProps/core.xml")
        assert z.read("customUI/customUI.xml") == macros_build().ribbon_xml()


def test_the_files_for_a_manual_import(built: dict[str, Any], build: ModuleType) -> None:
    manual = built["out"] / build.MANUAL_DIR
    data = (manual / "RoadmapSync.bas").read_bytes()
    assert b"\r\n" in data and b"\n" not in data.replace(b"\r\n", b"")
    assert data.decode("cp1251").replace("\r\n", "\n") == source()
    assert (manual / "customUI.xml").read_bytes() == build.ribbon_xml()


# --- the ribbon, the VBA and Python agree --------------------------------------------------------


def vba_procedures(text: str) -> dict[str, tuple[str, list[str], str]]:
    """Sub or Function name -> (kind, parameters, body)."""
    joined = re.sub(r" _\n\s*", " ", text)
    found = {}
    for m in re.finditer(
        r"^(?:Public |Private )?(Sub|Function) (\w+)\(([^)]*)\)[^\n]*\n(.*?)^End \1",
        joined,
        re.M | re.S,
    ):
        kind, name, params, body = m.groups()
        found[name] = (kind, [p.strip() for p in params.split(",") if p.strip()], body)
    return found


def python_targets(name: str, procedures: dict[str, tuple[str, list[str], str]]) -> set[str]:
    """The sync.addin functions a VBA procedure ends up calling, through other procedures."""
    seen: set[str] = set()
    targets: set[str] = set()
    todo = [name]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        body = procedures[current][2]
        targets |= set(re.findall(r'^\s*RunAddin "(\w+)"', body, re.M))
        todo += [c for c in re.findall(r"^\s*(\w+)\b", body, re.M) if c in procedures]
    return targets


def test_every_button_calls_a_vba_sub_that_calls_a_python_function(build: ModuleType) -> None:
    procedures = vba_procedures(source())
    ribbon = etree.fromstring(build.ribbon_xml())
    buttons = list(ribbon.iter(f"{CUSTOMUI}button"))
    assert len(buttons) == len(addin.BUTTONS)
    reached = set()
    for button in buttons:
        action = button.get("onAction")
        assert action in procedures, action
        kind, params, _ = procedures[action]
        assert kind == "Sub" and params == ["ByVal control As Object"], action
        [function] = python_targets(action, procedures)
        assert callable(getattr(addin, function)), function
        assert button.get("label") == addin.BUTTONS[function]
        reached.add(function)
    assert reached == set(addin.BUTTONS)
    # The same buttons as argument-less macros, for Alt+F8 and the Quick Access Toolbar.
    plain = {n for n, (k, p, _) in procedures.items() if n.startswith("Roadmap_") and not p}
    assert {f for n in plain for f in python_targets(n, procedures)} == set(addin.BUTTONS)


def test_the_ribbon_is_office_2007_customui_with_a_shared_tab(build: ModuleType) -> None:
    ribbon = etree.fromstring(build.ribbon_xml())
    assert ribbon.tag == f"{CUSTOMUI}customUI"
    [tab] = ribbon.iter(f"{CUSTOMUI}tab")
    assert tab.get("label") == "Дорожная карта"
    assert tab.get("idQ") == "rs:roadmapTab" and ribbon.nsmap["rs"] == "urn:roadmap-sync"
    ids = [e.get("id") for e in ribbon.iter() if e.get("id")]
    assert len(ids) == len(set(ids))
    school = etree.fromstring(build.ribbon_xml(build.SCHOOL_GROUPS))
    assert school.nsmap["rs"] == "urn:roadmap-sync"  # the prefix stays declared
    assert {b.get("onAction") for b in school.iter(f"{CUSTOMUI}button")} == {
        "OnCheck",
        "OnRefreshStatuses",
        "OnSend",
    }


def test_python_calls_the_protection_macros_the_vba_defines() -> None:
    procedures = vba_procedures(source())
    for name in (xlwings_book.UNPROTECT_MACRO, xlwings_book.PROTECT_MACRO):
        kind, params, _ = procedures[name]
        assert kind == "Function"
        assert [p.split()[1] for p in params] == ["bookName", "sheetName", "password"]
    assert 'Private Const PYTHON_MODULE As String = "sync.addin"' in source()
    assert "(host=" in source()


def test_the_python_command_the_vba_builds_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """RunAddin's command, rebuilt as the VBA builds it, for an awkward add-in file name."""
    body = vba_procedures(source())["PythonText"][2]
    assert 'Replace(Replace(text, "\\", "\\\\"), "\'", "\\\'")' in body
    name = "Дорожная карта (O'Brien)\\копия.xlam"
    quoted = "'" + name.replace("\\", "\\\\").replace("'", "\\'") + "'"
    called: dict[str, Any] = {}
    monkeypatch.setattr(addin, "check", lambda **kwargs: called.update(kwargs))
    exec(f"import sync.addin; sync.addin.check(host={quoted})", {})
    assert called == {"host": name}


def test_the_vba_calls_runpython_of_the_installed_xlwings_addin() -> None:
    """`xlwings addin install` copies this file: its module Main must have RunPython."""
    match = re.search(r'XLWINGS_RUNPYTHON As String = "\'(.+?)\'!(\w+)\.(\w+)"', source())
    assert match
    book, module, function = match.groups()
    shipped = Path(xlwings.__file__).parent / "addin" / book
    modules = macros_of(shipped)
    assert f"Public Function {function}(PythonCommand As String)" in modules[f"{module}.bas"]


# --- the command ----------------------------------------------------------------------------------


def test_the_command_builds_and_never_overwrites_a_school_workbook(tmp_path: Path) -> None:
    config = municipality(tmp_path)
    out = tmp_path / "dist"
    runner = CliRunner()
    first = runner.invoke(build_addin_command, ["--out", str(out), "--config", str(config.path)])
    assert first.exit_code == 0, first.output
    assert (out / "roadmap-sync.xlam").is_file()
    assert sorted(p.name for p in out.glob("*.xlsm")) == ["s1.xlsm", "s2.xlsm", "s3.xlsm"]
    assert "Книг школ создано: 3, оставлено без изменений: 0." in first.output
    stamp = (out / "s2.xlsm").stat().st_mtime_ns
    again = runner.invoke(
        build_addin_command, ["--out", str(out), "--config", str(config.path), "--school", "s2"]
    )
    assert again.exit_code == 0, again.output
    assert f"уже есть            {out / 's2.xlsm'} (не изменена)" in again.output
    assert (out / "s2.xlsm").stat().st_mtime_ns == stamp


def test_the_command_explains_its_mistakes_in_russian(tmp_path: Path) -> None:
    config = municipality(tmp_path)
    runner = CliRunner()
    unknown = runner.invoke(
        build_addin_command,
        ["--out", str(tmp_path / "d"), "--config", str(config.path), "--school", "s9"],
    )
    assert unknown.exit_code == 2
    assert "Нет в настройках школ: s9. Есть: s1, s2, s3." in unknown.output
    lonely = runner.invoke(build_addin_command, ["--school", "s1"])
    assert lonely.exit_code == 2
    assert "--school указывают вместе с --config." in lonely.output
    out = tmp_path / "out"
    missing = runner.invoke(
        build_addin_command, ["--out", str(out), "--config", str(tmp_path / "нет.toml")]
    )
    assert missing.exit_code == 2
    assert "Файл настроек не найден" in missing.output
    assert not out.exists()  # nothing built from a configuration that cannot be read


def test_the_command_has_russian_help() -> None:
    result = CliRunner().invoke(build_addin_command, ["--help"])
    assert result.exit_code == 0
    assert "Собрать надстройку Excel «Дорожная карта» (.xlam)" in result.output
    for option in ("--out ПАПКА", "--config ФАЙЛ", "--school ШКОЛА", "Показать эту справку"):
        assert option in result.output
