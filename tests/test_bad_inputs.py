"""What schools really send: each bad file gets a clear Russian message and stops nobody."""

from __future__ import annotations

import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from openpyxl import load_workbook

from sync.backends.base import SourceError
from sync.backends.folder import FolderBackend
from sync.builders.fill import fill_workbook
from sync.distribute import distribute
from sync.pipeline import run
from sync.reader import UnreadableWorkbook, locate
from sync.spec import load_spec
from tests.fixtures import BUILT_AT, PASSPORT, TODAY, municipality

SPEC = load_spec()


def empty(path: Path) -> None:
    path.write_bytes(b"")


def legacy_xls(path: Path) -> None:
    # The compound-file header that .xls files and password-protected .xlsx files start with.
    path.write_bytes(bytes.fromhex("d0cf11e0a1b11ae1") + b"\0" * 1024)


def text_file(path: Path) -> None:
    path.write_text("№;Мероприятие;Статус\n1;Что-то;Выполнено\n", encoding="cp1251")


def word_document_renamed(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", "<w:document/>")


def truncated_download(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:2000])


def main_sheet_deleted(path: Path) -> None:
    wb = load_workbook(path)
    del wb[SPEC.main_sheet]
    wb.save(path)


def header_wiped(path: Path) -> None:
    wb = load_workbook(path)
    ws = wb[SPEC.main_sheet]
    for cell in ws[1]:
        cell.value = None
    wb.save(path)


BROKEN: dict[str, tuple[Callable[[Path], None], str]] = {
    "empty": (empty, "пуст"),
    "legacy_xls": (legacy_xls, "старом формате .xls"),
    "text_file": (text_file, "не является книгой Excel"),
    "word_document_renamed": (word_document_renamed, "документ Word"),
    "truncated_download": (truncated_download, "не является книгой Excel"),
    "main_sheet_deleted": (main_sheet_deleted, "Не найден лист"),
    "header_wiped": (header_wiped, "строка заголовков"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_file_is_explained_in_russian_and_the_run_goes_on(
    tmp_path: Path, case: str
) -> None:
    config = municipality(tmp_path)
    distribute(config, built_at=BUILT_AT)
    for school in config.schools:
        fill_workbook(Path(school.source), SPEC, {"3": {"status": "В работе"}}, PASSPORT)
    spoil, words = BROKEN[case]
    victim = Path(config.schools[1].source)
    spoil(victim)
    spoiled = victim.read_bytes()
    with pytest.raises((SourceError, UnreadableWorkbook)) as e:
        locate(FolderBackend.read_file(victim), SPEC)
    assert words in str(e.value)
    result = run(config, today=TODAY)
    outcomes = {r.school.id: r.outcome for r in result.reports}
    assert outcomes == {"s1": "synced", "s2": "failed", "s3": "synced", "mouo": "synced"}
    failed = next(r for r in result.reports if r.school.id == "s2")
    assert words in failed.message
    assert victim.read_bytes() == spoiled  # never "repaired" or overwritten
    assert Path(result.master).exists()


def test_a_value_a_million_rows_down_is_reported_not_a_memory_blowup(tmp_path: Path) -> None:
    config = municipality(tmp_path)
    distribute(config, built_at=BUILT_AT)
    path = Path(config.schools[0].source)
    fill_workbook(path, SPEC, {"3": {"status": "В работе"}}, PASSPORT)
    wb = load_workbook(path)
    wb[SPEC.main_sheet].cell(1_000_000, 3).value = "случайно"
    wb.save(path)
    raw = FolderBackend.read_file(path)
    assert raw.truncated == {SPEC.main_sheet: 1_000_000}
    assert len(raw.sheets[SPEC.main_sheet]) == 5000
    sheet = locate(raw, SPEC)
    assert any(p.code == "sheet_too_long" and "1000000" in p.message for p in sheet.problems)
    assert any(r.values.get("status") == "В работе" for r in sheet.rows)


def test_columns_moved_and_a_renamed_sheet_still_read(tmp_path: Path) -> None:
    """A school that reorders columns in LibreOffice and renames the sheet loses nothing."""
    config = municipality(tmp_path)
    distribute(config, built_at=BUILT_AT)
    path = Path(config.schools[0].source)
    fill_workbook(path, SPEC, {"3": {"status": "В работе", "comment": "начали"}}, PASSPORT)
    wb = load_workbook(path)
    ws = wb[SPEC.main_sheet]
    ws.protection.sheet = False
    ws.insert_cols(2)  # a column of its own before Раздел
    ws.cell(1, 2).value = "Мои пометки"
    ws.title = "Лист1"
    wb.save(path)
    result = run(config, today=TODAY)
    report = next(r for r in result.reports if r.school.id == "s1")
    assert report.outcome == "synced"
    row3 = next(r for r in report.rows if r.item is not None and r.item.no == "3")
    assert row3.values["comment"] == "начали"
    # The control went into the moved Контроль column, not over the school's text.
    ws = load_workbook(path)["Лист1"]
    header = [c.value for c in ws[1]]
    ctl = header.index("Контроль") + 1
    comment = header.index("Комментарий") + 1
    assert ws.cell(row3.sheet_row, ctl).value == "В срок" or ws.cell(row3.sheet_row, ctl).value
    assert ws.cell(row3.sheet_row, comment).value == "начали"
    assert ws.cell(row3.sheet_row, 2).value is None


def test_an_unreadable_config_plan_is_a_message(tmp_path: Path) -> None:
    from sync.plan import PlanFileError, load_plan

    config = municipality(tmp_path)
    (tmp_path / "plan.tsv").write_text("это не план\n", encoding="utf-8")
    with pytest.raises(PlanFileError, match="нет столбцов"):
        load_plan(config.plan_file, config.period)
    shutil.copyfile(tmp_path / "plan.tsv", tmp_path / "plan.xlsx")
    with pytest.raises(PlanFileError):
        load_plan(tmp_path / "plan.xlsx", config.period)


def test_a_plan_saved_by_excel_as_windows_1251_csv_reads(tmp_path: Path) -> None:
    from sync.model import Period
    from sync.plan import load_plan

    text = "№ п/п;Мероприятие;Ответственные исполнители;Сроки исполнения\n1;Совещание;ОО;Февраль\n"
    path = tmp_path / "plan.csv"
    path.write_bytes(text.encode("cp1251"))
    plan = load_plan(path, Period.parse("2021-09-01..2022-08-31"))
    assert [(i.no, i.activity, i.deadline_text) for i in plan.items] == [
        ("1", "Совещание", "Февраль")
    ]


def _inject_entity(path: Path, doctype: str, entity_ref: str) -> None:
    """Give the main sheet's XML a DTD and an entity in a cell, as a hostile file would."""
    with zipfile.ZipFile(path) as z:
        parts = [(i, z.read(i.filename)) for i in z.infolist()]
    out = []
    for info, body in parts:
        if info.filename == "xl/worksheets/sheet1.xml":
            text = body.decode("utf-8")
            assert "MARKER" in text
            text = text.replace("MARKER", entity_ref, 1)
            if text.startswith("<?xml"):
                head, _, rest = text.partition("?>")
                text = head + "?>" + doctype + rest
            else:
                text = doctype + text
            body = text.encode("utf-8")
        out.append((info, body))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for info, body in out:
            z.writestr(info, body)


@pytest.mark.parametrize(
    ("doctype", "ref"),
    [
        ('<!DOCTYPE sst [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>', "&xxe;"),
        (
            '<!DOCTYPE sst [<!ENTITY a "ааааааааааааааааааааа"><!ENTITY b "&a;&a;&a;&a;&a;&a;'
            '&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;'
            '&c;&c;&c;&c;&c;&c;&c;"><!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;">]>',
            "&e;",
        ),
    ],
    ids=["external-entity", "entity-expansion"],
)
def test_xml_entities_in_a_school_file_are_never_expanded(
    tmp_path: Path, doctype: str, ref: str
) -> None:
    config = municipality(tmp_path)
    distribute(config, built_at=BUILT_AT)
    path = Path(config.schools[0].source)
    fill_workbook(path, SPEC, {"3": {"status": "В работе", "comment": "MARKER"}}, PASSPORT)
    _inject_entity(path, doctype, ref)
    hostile = path.read_bytes()
    result = run(config, today=TODAY)
    # calamine refuses a DTD outright: the school is told its file is damaged, nothing expands.
    report = next(r for r in result.reports if r.school.id == "s1")
    assert report.outcome == "failed" and "повреждён" in report.message
    assert path.read_bytes() == hostile
    assert Path(result.master).exists()
    for sheet in load_workbook(result.master).worksheets:
        for row in sheet.iter_rows(values_only=True):
            for value in row:
                assert "root:" not in str(value)
                assert "аааааааааааааааааааааааааааааааааааааааааааааааааааааааа" not in str(value)
    with zipfile.ZipFile(path) as z:
        text = z.read("xl/worksheets/sheet1.xml").decode("utf-8", "replace")
    assert "root:" not in text
