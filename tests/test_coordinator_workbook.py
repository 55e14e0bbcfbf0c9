"""The МОУО's own workbook: no school passport, and no errors while it is fresh."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from openpyxl import load_workbook

from sync.demo import make_demo
from sync.distribute import distribute
from sync.model import Severity
from sync.pipeline import run
from sync.spec import load_spec
from tests.fixtures import municipality

SPEC = load_spec()
TODAY = date(2022, 1, 10)


def test_fresh_coordinator_workbook_has_no_passport_and_no_errors(tmp_path: Path) -> None:
    config = municipality(tmp_path)
    distribute(config, built_at=datetime(2021, 9, 1))
    assert config.coordinator is not None
    coordinator = load_workbook(config.coordinator.source)
    assert SPEC.passport_sheet not in coordinator.sheetnames
    school = load_workbook(config.schools[0].source)
    assert SPEC.passport_sheet in school.sheetnames  # schools keep theirs

    result = run(config, today=TODAY)
    mouo = next(r for r in result.reports if r.school.is_coordinator)
    assert mouo.outcome == "synced"
    assert [p.message for p in mouo.problems if p.severity is Severity.ERROR] == []
    assert not any(p.sheet == SPEC.passport_sheet for p in mouo.problems)
    # A fresh school's workbook still asks for its passport.
    first = next(r for r in result.reports if r.school.id == config.schools[0].id)
    assert any(p.sheet == SPEC.passport_sheet for p in first.problems)


def test_demo_coordinator_is_error_free_without_dashes(tmp_path: Path) -> None:
    config = make_demo(tmp_path / "demo", 3)
    assert config.coordinator is not None
    wb = load_workbook(config.coordinator.source)
    assert SPEC.passport_sheet not in wb.sheetnames
    main = wb[SPEC.main_sheet]
    school_cols = [SPEC.index(c.key) for c in SPEC.columns if c.filled_by == "school"]
    values = [main.cell(r, c).value for r in range(2, main.max_row + 1) for c in school_cols]
    assert "—" not in values  # nothing filled in just to silence the checks
    result = run(config, today=date(2022, 1, 10))
    mouo = next(r for r in result.reports if r.school.is_coordinator)
    assert mouo.problems == []
