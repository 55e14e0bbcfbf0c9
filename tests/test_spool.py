"""A run's memory does not grow with its rows: the master built a school at a time, its large
sheets and the schools' rows spooled to disk, and the same master either way."""

from __future__ import annotations

import gc
import tempfile
import zipfile
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from sync.backends.xlsxpatch import Package, Rels
from sync.builders.master_xlsx import write_master_xlsx
from sync.consolidate import (
    OVERDUE_SHEET,
    REVIEW_SHEET,
    ROWS_SHEET,
    Baseline,
    ListLines,
    Master,
    MasterBuilder,
    SchoolBefore,
)
from sync.history import History
from sync.model import RowReport, School, SchoolReport, SchoolSheet, SheetRow
from sync.pipeline import load_context, run
from sync.review import Decisions, ReviewPlan, ReviewState, RowKey, RowReview
from sync.spool import CHUNK, SchoolSpool, SpooledLines, SpooledRows, SpoolError
from tests.fixtures import (
    A1,
    A2,
    B1,
    MASTER_PLAN,
    MASTER_TODAY,
    SPEC,
    cells,
    report,
    row,
    setup,
)

AT = datetime(2022, 2, 28, 20, 0)


def _schools(n: int) -> list[SchoolReport]:
    """n schools, each with plan rows and an own one; «Выполнено» on various days (the order of
    «На проверке»), some overdue, every fourth changed since the baseline."""
    out = []
    for i in range(n):
        day = date(2021, 9, 1) + timedelta(days=(i * 37) % 180)
        rows = [
            row(A1, "done", 5, status="Выполнено", done_on=day, evidence=f"Приказ № {i}"),
            row(A2, "overdue" if i % 3 else "soon", 6, status="В работе", comment="=1+1"),
            row(B1, "done", 7, status="Выполнено", done_on=None if i % 5 else day),
            row(None, "none", 8, no="4", activity=f"Своё мероприятие {i % 7}", status="Не начато"),
        ]
        out.append(
            report(
                f"Школа № {i}",
                rows,
                id=f"s{i}",
                modified=datetime(2022, 2, 1) + timedelta(hours=(i * 7) % 500),
                synced_at=datetime(2022, 3, 1, 2, 0),
            )
        )
    return out


def _baseline(reports: list[SchoolReport]) -> Baseline:
    schools = {}
    for r in reports[::4]:
        sheet = SchoolSheet(
            meta={},
            columns={},
            header_row=4,
            rows=tuple(SheetRow(x.sheet_row, {**x.values, "status": "Не начато"}) for x in r.rows),
            passport={},
            passport_cells={},
        )
        schools[r.school.id] = SchoolBefore.from_read(AT, sheet, [], {}, SPEC)
    return Baseline(AT, schools)


def _master(reports: list[SchoolReport], spooled: bool) -> tuple[Master, MasterBuilder]:
    builder = MasterBuilder(
        MASTER_PLAN,
        SPEC,
        MASTER_TODAY,
        "г. Тест",
        _baseline(reports),
        review=ReviewPlan(),
        lines=SpooledLines if spooled else ListLines,
    )
    for r in reports:
        builder.add(r)
    return builder.build(as_of=datetime(2022, 3, 1, 3, 0)), builder


def test_a_spooled_master_is_the_master_built_in_memory(tmp_path: Path) -> None:
    reports = _schools(300)  # 1200 lines of «Мероприятия»: several chunks
    in_memory, _ = _master(reports, spooled=False)
    spooled, builder = _master(reports, spooled=True)
    assert isinstance(spooled.sheet(ROWS_SHEET).rows, SpooledRows)
    assert len(spooled.sheet(ROWS_SHEET).rows) == 1200 > 3 * CHUNK
    for a, b in zip(in_memory.sheets, spooled.sheets, strict=True):
        assert a.name == b.name
        assert [list(r) for r in a.rows] == list(b.rows), a.name
        assert dict(a.fills) == dict(b.fills), a.name
        assert len(a.rows) == len(b.rows), a.name
    # The oldest «Выполнено» first; the two orders come from different code (a list sorted by
    # tuples, a spool read by packed keys): both must agree with the rule itself.
    review = [r for r in spooled.sheet(REVIEW_SHEET).rows]
    days = [r[4] for r in review]
    dated = [d for d in days if isinstance(d, date)]
    assert dated == sorted(dated) and days[len(dated) :] == [None] * (len(days) - len(dated))
    assert len(spooled.sheet(OVERDUE_SHEET).rows) == 200

    a_path, b_path = tmp_path / "list.xlsx", tmp_path / "spool.xlsx"
    write_master_xlsx(in_memory, a_path)
    write_master_xlsx(spooled, b_path)
    assert cells(a_path.read_bytes()) == cells(b_path.read_bytes())
    with zipfile.ZipFile(b_path) as z:
        shared = z.read("xl/sharedStrings.xml").decode()
    key = spooled.sheet(ROWS_SHEET).rows[0][-1]
    assert isinstance(key, str) and key.startswith('["s0"')
    # The hidden key (a text no other cell repeats) is in its cell, not in the shared strings.
    assert '["s0"' not in shared
    assert cells(b_path.read_bytes())[ROWS_SHEET][4][-1] == key

    builder.close()  # the spool's file is gone with it


def test_school_spool_gives_back_each_schools_rows_and_passport() -> None:
    reports = _schools(3)
    spool = SchoolSpool(MASTER_PLAN.items)
    stored = [
        spool.put(r.rows, {"pupils": 100 + i, "email": f"s{i}@mail.ru"})
        for i, r in enumerate(reports)
    ]
    for i, (r, (rows, passport)) in enumerate(zip(reports, stored, strict=True)):
        back = list(rows)
        assert back == list(r.rows) and len(rows) == len(r.rows) == 4
        assert back[0].item is A1  # the plan's own item, not a copy
        assert back[3].item is None and back[3].values["activity"] == r.rows[3].values["activity"]
        assert rows[1] == r.rows[1] and rows[-1:] == list(r.rows)[-1:]
        assert back is not list(rows)  # loaded afresh on each use
        assert dict(passport) == {"pupils": 100 + i, "email": f"s{i}@mail.ru"}
        assert passport.get("pupils") == 100 + i and passport.get("phone") is None
    spool.close()


def test_a_quiet_school_is_one_id_not_a_decision_per_row() -> None:
    decisions = Decisions()
    keys = [RowKey("s1", "1. Раздел", str(n)) for n in range(50)]
    decisions.quiet_school("s1", keys)
    assert len(decisions) == 0
    assert decisions.get(keys[7]).state is ReviewState.NOT_REVIEWED
    assert decisions.get(RowKey("s2", "1. Раздел", "1")) is None
    plan = ReviewPlan(rows=decisions)
    accepted = RowReview(ReviewState.ACCEPTED)
    plan.merge(ReviewPlan({keys[0]: accepted}))
    assert plan.rows.get(keys[0]) is accepted and plan.state(keys[0]) is ReviewState.ACCEPTED
    # A school read afresh whose rows are merely not reviewed stores nothing per row either.
    fresh = [RowKey("s3", "1. Раздел", str(n)) for n in range(50)]
    plan.merge(ReviewPlan(dict.fromkeys(fresh, RowReview(ReviewState.NOT_REVIEWED))))
    assert len(plan.rows) == 1
    assert plan.rows.get(fresh[9]) == RowReview(ReviewState.NOT_REVIEWED)
    assert plan.rows.get(RowKey("s4", "1. Раздел", "1")) is None  # a school not decided


def test_after_a_run_no_row_is_held_in_memory(tmp_path: Path) -> None:
    config = setup(tmp_path)
    run(config, today=date(2021, 11, 15))
    result = run(config, today=date(2021, 11, 15))  # warm: every school from its snapshot
    gc.collect()
    held = [o for o in gc.get_objects() if isinstance(o, RowReport)]
    assert held == []
    # …yet every school's rows are there for the summaries and e-mails that ask for them.
    counted = sum(len(r.rows) for r in result.reports)
    assert counted > 0 and sum(len(list(r.rows)) for r in result.reports) == counted
    # The second run in this process stored each row's plan item as the plan's (not a copy a
    # row): read back, the schools' rows share a handful of item objects.
    items = {id(x.item) for r in result.reports for x in r.rows if x.item is not None}
    assert 0 < len(items) <= len(load_context(config)[1].items) < counted
    assert all(isinstance(x, RowReport) for r in result.reports for x in r.rows)


def test_a_run_without_room_for_its_temporary_file_says_so_in_russian(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = setup(tmp_path)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "нет такого каталога"))
    with pytest.raises(SpoolError, match=r"временный файл синхронизации .* TMPDIR"):
        run(config, today=date(2021, 11, 15))
    with History.open(config.history_path) as history:
        (last,) = history.runs(1)
    assert last["outcome"] == "crashed" and "TMPDIR" in last["message"]


def test_a_run_holds_one_schools_rows_and_baseline_at_a_time(tmp_path: Path) -> None:
    config = setup(tmp_path)
    schools = config.all_workbooks()
    assert len(schools) >= 3
    run(config, today=date(2021, 11, 15))  # the previous day: the next run has a baseline
    live: list[dict[str, int]] = []

    def count(_school: School, i: int, n: int) -> None:
        if i > 1:  # the schools before this one are done
            gc.collect()
            kinds = (RowReport, SchoolBefore, SchoolSheet)
            found = dict.fromkeys((k.__name__ for k in kinds), 0)
            for o in gc.get_objects():
                if isinstance(o, kinds):
                    found[type(o).__name__] += 1
            live.append(found)

    result = run(config, today=date(2021, 11, 16), progress=count)
    assert result.outcome == "ok" and len(live) == len(schools) - 1
    biggest = max(len(r.rows) for r in result.reports)
    for found in live:  # whatever the number of schools done, at most one school's worth
        assert found["SchoolBefore"] <= 1, live
        assert found["SchoolSheet"] <= 1, live
        assert found["RowReport"] <= biggest, live


def test_a_workbook_written_back_is_freed_at_once(tmp_path: Path) -> None:
    # Each school's file is in memory while its controls are written: no reference cycle may
    # keep it there until a full collection (a run raises the collector's thresholds).
    config = setup(tmp_path)
    gc.collect()
    gc.disable()
    try:
        result = run(config, today=date(2021, 11, 15))  # every school read and written back
        alive = [o for o in gc.get_objects() if isinstance(o, (Package, Rels))]
    finally:
        gc.enable()
    assert sum(1 for w in result.writes.values() if w.status == "written") >= 2
    assert alive == []


def test_the_spool_reads_without_pread_as_on_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sync.spool._PREAD", None)
    reports = _schools(40)
    lines = SpooledLines()
    spool = SchoolSpool(MASTER_PLAN.items)
    stored = []
    for i, r in enumerate(reports):  # puts and reads interleaved: each read moves the position
        lines.add([r.school.name, i], {1: "FFC7CE"} if i % 2 else None)
        stored.append(spool.put(r.rows, {"pupils": i}))
        assert list(stored[i // 2][0]) == list(reports[i // 2].rows)
    assert [v for v, _ in lines.records()] == [[r.school.name, i] for i, r in enumerate(reports)]
    assert [dict(p) for _, p in stored] == [{"pupils": i} for i in range(40)]
    lines.close()
    spool.close()


def test_na_proverke_orders_by_time_of_day_and_by_microseconds() -> None:
    day = date(2022, 2, 1)
    at = datetime(2022, 2, 2, 10, 0, 0)
    a = report(
        "А",
        [
            row(A1, "done", 5, status="Выполнено", done_on=datetime(2022, 2, 1, 18, 0)),
            row(A2, "done", 6, status="Выполнено", done_on=day),
        ],
        id="a",
        modified=at.replace(microsecond=900_000),
    )
    b = report(
        "Б",
        [
            row(A1, "done", 5, status="Выполнено", done_on=datetime(2022, 2, 1, 8, 0)),
            row(A2, "done", 6, status="Выполнено", done_on=day),
            row(B1, "done", 7, status="Выполнено"),
        ],
        id="b",
        modified=at.replace(microsecond=100_000),
    )
    for spooled in (False, True):
        master, builder = _master([a, b], spooled)
        got = [(r[0], r[1], r[4]) for r in master.sheet(REVIEW_SHEET).rows]
        # A date alone is that day's midnight; within a moment, the workbook changed first.
        assert got == [
            ("Б", "2", day),
            ("А", "2", day),
            ("Б", "1", datetime(2022, 2, 1, 8, 0)),
            ("А", "1", datetime(2022, 2, 1, 18, 0)),
            ("Б", "2", None),  # B1: № 2 of the second section, no date
        ], spooled
        builder.close()


def test_lines_reordered_through_buckets_come_back_in_the_order_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # «На проверке» is read back oldest first through buckets of the new order: small buckets
    # here, so that lines cross many of them and a bucket's lines arrive in several chunks.
    import random

    import sync.spool as spool

    monkeypatch.setattr(spool, "BUCKET", 7)
    monkeypatch.setattr(spool, "BUCKET_FLUSH", 3)
    lines = SpooledLines(random_access=True)
    made = [
        ([f"строка {i}", i, date(2022, 1, 1) + timedelta(days=i)], {1: "FFC7CE"} if i % 4 else None)
        for i in range(600)
    ]
    for values, fills in made:
        lines.add(values, fills)
    shuffled = list(range(600))
    random.Random(7).shuffle(shuffled)
    for order in (shuffled, shuffled[:250], list(range(600))):
        rows, fills = lines.parts(order)
        expected = [made[i] for i in order]
        assert len(rows) == len(order)
        for _ in range(2):  # the writer reads a sheet twice: widths, then cells
            assert list(rows) == [values for values, _ in expected]
        assert dict(fills) == {
            (r, c): rgb for r, (_, f) in enumerate(expected) if f for c, rgb in f.items()
        }
    lines.close()
