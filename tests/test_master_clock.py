"""The master's times are the municipality's, whatever clock the computer keeps."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from openpyxl import load_workbook

from sync.consolidate import HEADER_ROW
from sync.distribute import distribute
from sync.pipeline import run
from tests.fixtures import municipality


def test_master_shows_the_municipality_clock(tmp_path: Path) -> None:
    config = municipality(tmp_path)
    distribute(config, built_at=datetime(2021, 9, 1))
    utc = datetime(2022, 1, 10, 20, 12, tzinfo=UTC)  # the computer's clock, in UTC
    local = utc.astimezone(config.zone)
    assert local.hour != utc.hour  # the test means something only in a zone off UTC
    result = run(config, today=date(2022, 1, 11), now=lambda: utc)
    wb = load_workbook(result.master)
    stamp = f"{local:%d.%m.%Y %H:%M}"
    for ws in wb.worksheets:  # every sheet's title block: «по состоянию на» local time
        assert f"по состоянию на {stamp} ({config.timezone})" in str(ws["A2"].value), ws.title
    schools = wb["Школы"]
    header = [c.value for c in schools[HEADER_ROW]]
    synced = header.index("Синхронизация") + 1
    texts = {schools.cell(r, synced).value for r in range(HEADER_ROW + 1, schools.max_row + 1)}
    assert texts == {stamp}
