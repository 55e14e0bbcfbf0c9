"""The history stays bounded: no cell can break SQLite or bloat a snapshot."""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from pathlib import Path

from sync.history import MAX_TEXT, History, bound_text
from sync.model import Problem, SchoolSheet, Severity, SheetRow

AT = datetime(2022, 1, 10, 3, 0).astimezone()


def _sheet(comment: str, meta_value: str = "v") -> SchoolSheet:
    return SchoolSheet(
        meta={"school_id": "s1", "note": meta_value},
        columns={"activity": 3, "status": 6, "comment": 8},
        header_row=1,
        rows=(SheetRow(2, {"activity": "Совещание", "status": "В работе", "comment": comment}),),
        passport={"head": "Иванова"},
        passport_cells={"head": "B3"},
        problems=(Problem("x", Severity.ERROR, "Лист", "H2", "comment", comment[:100]),),
    )


def test_a_300_mb_cell_adds_kilobytes_not_megabytes(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite"
    huge = "a" * (300 << 20)  # ASCII: 300 MB in memory, not 600
    with History.open(path) as history:
        run_id = history.start_run(AT, date(2022, 1, 10))
        history.record_read(run_id, "s1", AT, "synced", sheet=_sheet("начали"))
        history.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    before = path.stat().st_size
    with History.open(path) as history:
        run_id = history.start_run(AT, date(2022, 1, 10))
        problem = Problem("x", Severity.ERROR, "Лист", "H2", "comment", huge)
        history.record_read(
            run_id, "s1", AT, "synced", sheet=_sheet(huge, huge), problems=[problem], message=huge
        )
        history.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        last = history.last_read("s1")
    assert path.stat().st_size - before < 1 << 20
    assert last is not None
    kept = last.sheet.rows[0].values["comment"]
    assert isinstance(kept, str) and kept.startswith("a" * MAX_TEXT)
    assert str(300 << 20) in kept
    assert hashlib.sha256(huge.encode()).hexdigest() in kept  # the full value's hash
    assert last.sheet.meta["note"] == kept


def test_a_change_far_inside_a_long_cell_is_still_a_new_snapshot(tmp_path: Path) -> None:
    a = "а" * (MAX_TEXT * 3)
    b = a[:-1] + "б"
    assert bound_text(a) != bound_text(b)
    assert bound_text("коротко") == "коротко"
    with History.open(tmp_path / "h.sqlite") as history:
        run_id = history.start_run(AT, date(2022, 1, 10))
        first = history.record_read(run_id, "s1", AT, "synced", sheet=_sheet(a))
        run_id = history.start_run(AT, date(2022, 1, 11))
        second = history.record_read(run_id, "s1", AT, "synced", sheet=_sheet(b))
        assert first != second
        assert len(list(history.snapshots("s1"))) == 2


def test_a_reads_problems_keep_their_sheet_row(tmp_path: Path) -> None:
    with History.open(tmp_path / "h.sqlite") as history:
        run_id = history.start_run(AT, date(2022, 1, 10))
        on_row = Problem("done_without_date", Severity.ERROR, "Лист", "I7", "done_on", "нет", 7)
        whole = Problem("x", Severity.WARNING, "Паспорт", "B4", "phone", "нет")
        history.record_read(
            run_id, "s1", AT, "synced", sheet=_sheet("начали"), problems=[on_row, whole]
        )
        history.finish_run(run_id, AT, "ok", {"synced": 1})
        _at, past = history.baseline(run_id + 1)
    assert [p["row"] for p in past["s1"].problems] == [7, None]
