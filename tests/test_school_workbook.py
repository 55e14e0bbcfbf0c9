"""The template spec, the built workbook and the reader agree."""

from __future__ import annotations

import hashlib
from pathlib import Path

from openpyxl import load_workbook

from sync.backends.folder import FolderBackend
from sync.builders.fill import fill_workbook
from sync.distribute import distribute
from sync.model import Audience, Severity
from sync.plan import load_plan
from sync.reader import locate
from sync.spec import load_spec
from sync.validation import check_school
from tests.fixtures import BUILT_AT, PASSPORT, TODAY, municipality


def test_built_workbook_follows_the_spec(tmp_path: Path) -> None:
    config = municipality(tmp_path)
    created, kept = distribute(config, built_at=BUILT_AT)
    assert len(created) == 4 and kept == []
    spec = load_spec()
    plan = load_plan(config.plan_file, config.period)
    school = config.schools[0]
    wb = load_workbook(school.source)
    assert wb.sheetnames == [
        spec.main_sheet,
        spec.passport_sheet,
        spec.instructions_sheet,
        spec.meta_sheet,
    ]
    ws = wb[spec.main_sheet]
    assert [c.value for c in ws[1]] == [c.header for c in spec.columns]
    items = plan.for_audience(Audience.SCHOOLS)
    assert 0 < len(items) < len(plan.items)
    assert [str(ws.cell(r, spec.index("no")).value) for r in range(2, 2 + len(items))] == [
        i.no for i in items
    ]
    # Plan columns and Контроль are locked; the school's columns are not; the sheet is protected.
    assert ws.protection.sheet
    row = 2
    for col in spec.columns:
        locked = ws.cell(row, spec.index(col.key)).protection.locked
        assert locked is (col.filled_by != "school"), col.key
    # Dropdowns on Статус and Отметка МОУО, a date check on Дата выполнения.
    validations = {str(dv.sqref).split(":")[0]: dv for dv in ws.data_validations.dataValidation}
    letter = {c.key: ws.cell(1, spec.index(c.key)).column_letter for c in spec.columns}
    status = validations[f"{letter['status']}2"]
    assert status.type == "list" and "Не требуется" in status.formula1
    assert validations[f"{letter['review']}2"].formula1 == '"Принято,На доработке"'
    assert validations[f"{letter['done_on']}2"].type == "date"
    # Live colours on Контроль, including the formula rule for overdue.
    rules = [r for cf in ws.conditional_formatting for r in cf.rules]
    formulas = " ".join(f for r in rules for f in (r.formula or []))
    assert "TODAY()" in formulas and '"Просрочено"' in formulas
    assert ws.freeze_panes == "D2"
    # Printed readable: A4 landscape at 8 pt (the roadmap is too wide for one page at that
    # size), №, section and activity repeated on every page across, title and page numbers.
    assert ws.page_setup.orientation == "landscape" and ws.page_setup.scale == 73
    assert ws.print_title_rows == "$1:$1" and ws.print_title_cols == "$A:$C"
    assert ws.oddHeader.left.text.startswith("Дорожная карта:")
    assert ws.oddFooter.right.text == "Страница &P из &N"
    assert ws["A1"].font.name == "Arial" and ws["A1"].font.b
    # The hidden sheet says whose workbook it is and which plan it answers.
    meta_ws = wb[spec.meta_sheet]
    assert meta_ws.sheet_state == "hidden"
    meta = {r[0].value: r[1].value for r in meta_ws.iter_rows()}
    assert meta["school_id"] == "s1"
    assert meta["template_version"] == spec.version
    assert meta["plan_hash"] == plan.digest(Audience.SCHOOLS)
    # The coordinator's workbook holds the МОУО's own rows.
    coordinator = config.coordinator
    assert coordinator is not None
    mouo = load_workbook(coordinator.source)[spec.main_sheet]
    mouo_items = plan.for_audience(Audience.COORDINATOR)
    assert mouo.cell(2, spec.index("activity")).value == mouo_items[0].activity


def test_reader_and_validation_accept_a_fresh_and_a_filled_workbook(tmp_path: Path) -> None:
    config = municipality(tmp_path)
    distribute(config, built_at=BUILT_AT)
    spec = load_spec()
    plan = load_plan(config.plan_file, config.period)
    school = config.schools[0]
    sheet = locate(FolderBackend.read_file(Path(school.source)), spec)
    assert set(sheet.columns) == {c.key for c in spec.columns}
    rows, problems = check_school(sheet, school, plan, spec, TODAY)
    assert len(rows) == len(plan.for_audience(Audience.SCHOOLS))
    # A fresh workbook only lacks its passport.
    assert {p.code for p in problems if p.severity is Severity.ERROR} == {"passport_required"}
    fill_workbook(Path(school.source), spec, {}, PASSPORT)
    sheet = locate(FolderBackend.read_file(Path(school.source)), spec)
    _rows, problems = check_school(sheet, school, plan, spec, TODAY)
    assert problems == []


def test_distribute_never_overwrites(tmp_path: Path) -> None:
    config = municipality(tmp_path)
    distribute(config, built_at=BUILT_AT)
    spec = load_spec()
    path = Path(config.schools[0].source)
    fill_workbook(path, spec, {"3": {"status": "В работе"}}, PASSPORT)
    before = hashlib.sha256(path.read_bytes()).digest()
    created, kept = distribute(config, built_at=BUILT_AT)
    assert created == [] and len(kept) == 4
    assert hashlib.sha256(path.read_bytes()).digest() == before


def test_built_workbooks_are_readable_by_everyone_the_umask_allows(tmp_path: Path) -> None:
    import os
    import stat

    config = municipality(tmp_path)
    old = os.umask(0o022)
    try:
        distribute(config, built_at=BUILT_AT)
    finally:
        os.umask(old)
    mode = stat.S_IMODE(os.stat(config.schools[0].source).st_mode)
    assert mode == 0o644
