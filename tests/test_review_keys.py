"""Row keys are unique within a school (review finding 8).

Two own activities with one text, own rows with no text, a duplicated plan row and repeated №
without a plan used to share one key: a mark on the second line was dropped, or a mark on the
first applied to every row with that key. The 2nd, 3rd… row with a base key is numbered «#n»;
the first keeps today's key, so keys stored in the history and in masters stay valid.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from openpyxl import load_workbook

from sync.builders.fill import fill_workbook
from sync.consolidate import HEADER_ROW, ROWS_SHEET, row_key
from sync.history import History
from sync.model import Audience, Control, PlanItem, RowReport
from sync.pipeline import run
from sync.review import (
    Mark,
    RowKey,
    base_key,
    decode_key,
    encode_key,
    number_rows,
    row_keys,
)
from sync.states import ControlKey
from tests.fixtures import SPEC, TODAY, setup

S1 = "МОУ СОШ № 1 с. Чара"
OWN = "Классный час «Безопасный интернет»"


def _row(item: PlanItem | None, activity: str | None, sheet_row: int) -> RowReport:
    return RowReport(
        item=item,
        sheet_row=sheet_row,
        values={"activity": activity},
        control=Control(ControlKey.NONE, "", None),
    )


def test_the_second_row_with_a_base_key_is_numbered_and_the_first_keeps_its_key() -> None:
    a = PlanItem("1. Раздел", "1", "x", "", "", "", Audience.SCHOOLS)
    b = PlanItem("1. Раздел", "2", "y", "", "", "", Audience.SCHOOLS)
    rows = number_rows(
        [
            _row(a, "x", 2),
            _row(None, OWN, 3),
            _row(a, "x", 4),  # a duplicated plan row
            _row(None, " классный  час «безопасный интернет» ", 5),  # same text, folded
            _row(None, None, 6),
            _row(b, "y", 7),
            _row(None, None, 8),
            _row(None, OWN, 9),
        ]
    )
    keys = row_keys("s1", rows)
    own = RowKey.own("s1", OWN)
    assert keys == [
        RowKey("s1", "1. Раздел", "1"),
        own,
        RowKey("s1", "1. Раздел", "1#2"),
        RowKey("s1", "", own.no + "#2"),
        RowKey.own("s1", None),
        RowKey("s1", "1. Раздел", "2"),
        RowKey("s1", "", RowKey.own("s1", None).no + "#2"),
        RowKey("s1", "", own.no + "#3"),
    ]
    assert len(set(keys)) == len(keys)
    # A single row and a filtered list keep the numbers of the whole school.
    assert [row_key("s1", r) for r in rows[2:5]] == keys[2:5]
    assert all(base_key("s1", r) == k for r, k in zip(rows[:2], keys[:2], strict=True))
    # Numbering twice changes nothing.
    assert row_keys("s1", number_rows(rows)) == keys


def _own_lines(path: Path) -> list[dict[str, object]]:
    ws = load_workbook(path)[ROWS_SHEET]
    header = [c.value for c in ws[HEADER_ROW]]
    lines = [
        dict(zip(header, (c.value for c in row), strict=False))
        for row in ws.iter_rows(min_row=HEADER_ROW + 1)
    ]
    return [r for r in lines if r["Школа"] == S1 and r["Мероприятие"] == OWN]


def _mark_own_line(path: Path, nth: int, values: dict[str, object]) -> None:
    """The coordinator types into the nth line of S1's own activity and saves (as Excel does)."""
    wb = load_workbook(path)
    ws = wb[ROWS_SHEET]
    header = [c.value for c in ws[HEADER_ROW]]
    found = [
        row
        for row in ws.iter_rows(min_row=HEADER_ROW + 1)
        if row[0].value == S1 and row[header.index("Мероприятие")].value == OWN
    ]
    for name, value in values.items():
        found[nth][header.index(name)].value = value
    wb.properties.lastModifiedBy = "Петрова А. А."
    wb.save(path)


def _school_marks(path: Path) -> list[object]:
    """«Отметка МОУО» of the school's rows with the own activity's text, top to bottom."""
    ws = load_workbook(path)[SPEC.main_sheet]
    head = {c.value: c.column for c in ws[1]}
    return [
        ws.cell(r, head["Отметка МОУО"]).value
        for r in range(2, ws.max_row + 1)
        if ws.cell(r, head["Мероприятие"]).value == OWN
    ]


def test_a_mark_on_the_second_of_two_own_activities_with_one_text_lands_there_only(
    tmp_path: Path,
) -> None:
    config = setup(tmp_path)
    s1 = Path(config.schools[0].source)
    done = {
        "activity": OWN,
        "status": "Выполнено",
        "done_on": datetime(2021, 9, 20),
        "evidence": "Протокол",
        "executor": "Иванова Н. П.",
    }
    fill_workbook(s1, SPEC, {}, own_rows=[done, done | {"evidence": "Протокол № 2"}])
    run(config, today=TODAY)
    lines = _own_lines(config.master_path)
    assert len(lines) == 2
    keys = [decode_key(line["Ключ строки"]) for line in lines]
    assert keys[0] is not None and keys[1] is not None and keys[0][0] != keys[1][0]
    assert keys[0][0] == RowKey.own("s1", OWN)  # the first keeps today's key

    _mark_own_line(
        config.master_path, 1, {"Отметка МОУО": "На доработке", "Комментарий МОУО": "Нет ссылки"}
    )
    second = run(config, today=TODAY)
    assert [(m.key, m.mark) for m in second.review.new_marks] == [(keys[1][0], Mark.REWORK)], (
        second.review.problems
    )
    lines = _own_lines(config.master_path)
    assert [line["Отметка МОУО"] for line in lines] == [None, "На доработке"]
    assert [line["Комментарий МОУО"] for line in lines] == [None, "Нет ссылки"]
    assert _school_marks(s1) == [None, "На доработке"]

    # Then the first is accepted: each row keeps its own mark.
    _mark_own_line(config.master_path, 0, {"Отметка МОУО": "Принято"})
    third = run(config, today=TODAY)
    assert [(m.key, m.mark) for m in third.review.new_marks] == [(keys[0][0], Mark.ACCEPTED)]
    assert [line["Отметка МОУО"] for line in _own_lines(config.master_path)] == [
        "Принято",
        "На доработке",
    ]
    assert _school_marks(s1) == ["Принято", "На доработке"]
    with History.open(config.history_path) as h:
        trail = [(m.key.no, m.mark) for m in h.review_trail("s1")]
    assert trail == [(keys[1][0].no, Mark.REWORK), (keys[0][0].no, Mark.ACCEPTED)]


@pytest.mark.parametrize(
    "parts",
    [
        ("s1", "1. Раздел «Методика»", "1.2"),
        ('школа "7"', "a\\b", "own:урок\n\tвторой\x01"),
        ("s", "", "own:\ud800 половина пары"),
    ],
)
def test_a_key_cell_is_the_json_it_always_was(parts: tuple[str, str, str]) -> None:
    # The key cell is written for every row of every night: made without the JSON encoder,
    # it must stay exactly json.dumps(…, ensure_ascii=False) (masters saved earlier hold it).
    key = RowKey(*parts)
    for shown in ("", "t0"):
        expected = json.dumps([*parts, "d", *([shown] if shown else [])], ensure_ascii=False)
        assert encode_key(key, "d", shown) == expected
        assert decode_key(expected) == (key, "d")
