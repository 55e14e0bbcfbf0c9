"""Real files saved by LibreOffice: a school that fills its workbook in LibreOffice Calc."""

from __future__ import annotations

import csv
import shutil
from datetime import datetime, timedelta
from pathlib import Path

from openpyxl import load_workbook

from sync.backends.folder import FolderBackend
from sync.builders.fill import fill_workbook
from sync.distribute import distribute
from sync.pipeline import run
from sync.plan import load_plan
from sync.reader import locate
from sync.spec import load_spec
from sync.validation import check_school
from tests.fixtures import BUILT_AT, PASSPORT, TODAY, municipality
from tests.libreoffice import CSV_ALL_SHEETS, XLSX_FILTER, convert

SPEC = load_spec()


def resave_in_libreoffice(path: Path, tmp_path: Path) -> None:
    """Open the workbook in LibreOffice and save it back as .xlsx in its place."""
    out = convert(path, XLSX_FILTER, tmp_path / "lo-out", tmp_path / "lo-profile")
    shutil.move(out, path)


def test_a_workbook_saved_by_libreoffice_reads_with_no_problems(tmp_path: Path) -> None:
    config = municipality(tmp_path)
    distribute(config, built_at=BUILT_AT)
    school = config.schools[0]
    path = Path(school.source)
    fill_workbook(
        path,
        SPEC,
        {
            "3": {
                "status": "Выполнено",
                "done_on": datetime(2021, 9, 20),
                "evidence": "Приказ № 45 от 20.09.2021",
                "executor": "Иванова Н. П.",
            },
            "5": {"status": "В работе", "comment": "=1+1"},
        },
        PASSPORT,
    )
    resave_in_libreoffice(path, tmp_path)

    # What LibreOffice kept of the template: protection, dropdowns, live colours, hidden meta.
    wb = load_workbook(path)
    ws = wb[SPEC.main_sheet]
    assert ws.protection.sheet
    assert len(ws.data_validations.dataValidation) >= 3
    assert len(list(ws.conditional_formatting)) >= 1
    assert wb[SPEC.meta_sheet].sheet_state == "hidden"
    assert ws.cell(2, SPEC.index("status")).protection.locked is False
    assert ws.cell(2, SPEC.index("activity")).protection.locked is True

    plan = load_plan(config.plan_file, config.period)
    sheet = locate(FolderBackend.read_file(path), SPEC)
    rows, problems = check_school(sheet, school, plan, SPEC, TODAY)
    assert problems == []
    by_no = {r.values["no"]: r for r in rows}
    assert by_no["3"].control.key == "done"
    assert by_no["5"].values["comment"] == "=1+1"


def test_sync_writes_back_into_a_libreoffice_file_and_libreoffice_opens_it(
    tmp_path: Path,
) -> None:
    config = municipality(tmp_path)
    distribute(config, built_at=BUILT_AT)
    path = Path(config.schools[1].source)
    fill_workbook(path, SPEC, {"3": {"status": "Выполнено"}}, PASSPORT)  # no date, no document
    resave_in_libreoffice(path, tmp_path)
    result = run(config, today=TODAY)
    assert result.writes["s2"].status == "written"

    # LibreOffice opens the painted file and shows the control values the sync wrote.
    out = convert(path, CSV_ALL_SHEETS, tmp_path / "csv", tmp_path / "lo-profile")
    with (out / f"{path.stem}-{SPEC.main_sheet}.csv").open(encoding="utf-8") as f:
        rows = list(csv.reader(f))
    ctl = SPEC.index("control") - 1
    by_no = {r[0]: r for r in rows[1:] if r and r[0]}
    assert by_no["3"][ctl] == "Ошибка"
    assert by_no["3"][SPEC.index("status") - 1] == "Выполнено"  # the school's value is intact
    # And the sync reads its own output again without new problems.
    again = run(config, today=TODAY)
    report = next(r for r in again.reports if r.school.id == "s2")
    assert {p.code for p in report.problems} == {"done_without_date", "done_without_evidence"}


def test_formulas_a_school_typed_keep_their_values_after_write_back(tmp_path: Path) -> None:
    """openpyxl drops formulas' cached results; the sync puts them back, so nothing reads empty."""
    config = municipality(tmp_path)
    distribute(config, built_at=BUILT_AT)
    school = config.schools[0]
    path = Path(school.source)
    fill_workbook(path, SPEC, {"3": {"status": "В работе"}}, PASSPORT)
    wb = load_workbook(path)
    passport = wb[SPEC.passport_sheet]
    pupils_row = 2 + [f.key for f in SPEC.passport].index("pupils")
    passport.cell(pupils_row, 2).value = "=200+296"
    main = wb[SPEC.main_sheet]
    comment = main.cell(3, SPEC.index("comment"))
    comment.value = '="сделано "&"частично"'
    wb.save(path)
    resave_in_libreoffice(path, tmp_path)  # LibreOffice computes and stores the results

    result = run(config, today=TODAY)
    assert result.writes["s1"].status == "written"
    raw = FolderBackend.read_file(path)
    assert raw.sheets[SPEC.passport_sheet][pupils_row - 1][1] == 496
    assert raw.sheets[SPEC.main_sheet][2][SPEC.index("comment") - 1] == "сделано частично"
    formulas = load_workbook(path)
    assert formulas[SPEC.passport_sheet].cell(pupils_row, 2).value == "=200+296"
    report = next(r for r in result.reports if r.school.id == "s1")
    assert not [p for p in report.problems if p.field == "pupils"]
    # And the next run, which reads the painted file, still sees the values.
    again = run(config, today=TODAY + timedelta(days=1))
    report = next(r for r in again.reports if r.school.id == "s1")
    assert not [p for p in report.problems if p.field == "pupils"]
    out = convert(path, CSV_ALL_SHEETS, tmp_path / "csv2", tmp_path / "lo-profile")
    with (out / f"{path.stem}-{SPEC.passport_sheet}.csv").open(encoding="utf-8") as f:
        assert list(csv.reader(f))[pupils_row - 1][1] == "496"
