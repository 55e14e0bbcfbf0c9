"""The shared toolkit: text folding (sync.text), A1 references (sync.cells), atomic writes
(sync.fileio) — one rule each, used by every module that needs it."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from sync import status
from sync.backends import xlsxpatch
from sync.builders.google import paint as gsheets_paint
from sync.cells import a1, column_index, column_letter, parse_a1
from sync.fileio import write_atomically
from sync.paint import format_note_cells, ref_order
from sync.spec import normalize_header
from sync.text import fold


@pytest.mark.parametrize(
    ("typed", "folded"),
    [
        ("Выполнено", "выполнено"),
        ("  ВЫПОЛНЕНО ", "выполнено"),
        ("Ещё\u00a0не\tначато", "еще не начато"),
        ("ЁЛКА", "елка"),
        ("Сроки\nисполнения", "сроки исполнения"),
    ],
)
def test_one_folding_rule_for_statuses_and_headers(typed: str, folded: str) -> None:
    assert fold(typed) == folded
    assert status.fold is fold  # the status module compares choices with the same rule
    assert normalize_header(typed + " :") == folded  # headers: the same, minus the end colon


def test_column_letters_and_indexes_are_inverse() -> None:
    for n in (1, 2, 26, 27, 52, 53, 702, 703, 16384):
        assert column_index(column_letter(n)) == n
        assert column_index(column_letter(n).lower()) == n


@pytest.mark.parametrize(
    ("ref", "row_col"),
    [("A1", (1, 1)), ("M5", (5, 13)), ("$AB$12", (12, 28)), (" xfd1048576 ", (1048576, 16384))],
)
def test_a1_is_parsed_one_way_everywhere(ref: str, row_col: tuple[int, int]) -> None:
    assert parse_a1(ref) == row_col
    assert xlsxpatch.split_ref(ref) == row_col
    assert gsheets_paint.parse_a1 is parse_a1
    assert a1(*row_col) == ref.strip().replace("$", "").upper()


@pytest.mark.parametrize("ref", ["", "A", "12", "A1B", "ABCD1", "Лист!A1", "A-1"])
def test_a_malformed_reference_is_refused(ref: str) -> None:
    with pytest.raises(ValueError):
        parse_a1(ref)


def test_note_cells_are_ordered_by_row_then_column() -> None:
    refs = ["AA1", "B2", "Z1", "A10", "A2"]
    assert sorted(refs, key=ref_order) == ["Z1", "AA1", "A2", "B2", "A10"]
    cells = {("Лист", r) for r in refs}
    assert format_note_cells(cells).splitlines() == [
        "Лист!Z1",
        "Лист!AA1",
        "Лист!A2",
        "Лист!B2",
        "Лист!A10",
    ]


def test_atomic_write_replaces_whole_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "file.json"
    write_atomically(target, lambda f: f.write(b"first"))
    write_atomically(target, lambda f: f.write(b"second"))
    assert target.read_bytes() == b"second"
    assert sorted(p.name for p in target.parent.iterdir()) == ["file.json"]


def test_atomic_write_that_fails_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "file.json"
    target.write_bytes(b"old")

    def broken(f: object) -> None:
        raise RuntimeError("диск отвалился")

    with pytest.raises(RuntimeError):
        write_atomically(target, broken)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["file.json"]


@pytest.mark.skipif(os.name == "nt", reason="POSIX permissions")
def test_atomic_write_of_a_secret_is_the_owners_only(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        write_atomically(tmp_path / "token.json", lambda f: f.write(b"{}"), mode=0o600)
        write_atomically(tmp_path / "shared.xlsx", lambda f: f.write(b"x"))
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "token.json").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "shared.xlsx").stat().st_mode) == 0o666


def test_one_plan_item_to_columns_mapping() -> None:
    from datetime import date

    from sync.model import Period
    from sync.plan import PLAN_COLUMNS, make_item, plan_rows, plan_values

    item = make_item(
        section="1. Общие",
        no="1.2",
        activity="Совещание",
        responsible="Директор ОО",
        deadline_text="до 30.09.2021",
        planned_result="Протокол",
        period=Period(date(2021, 9, 1), date(2022, 8, 31)),
        due=date(2021, 9, 30),
    )
    values = plan_values(item)
    assert set(values) < set(PLAN_COLUMNS)
    assert values["due"] == date(2021, 9, 30) and values["no"] == "1.2"
    header, row = plan_rows([item])
    by_title = dict(zip(header, row, strict=True))
    assert by_title["Срок (дата)"] == "30.09.2021"
    assert by_title["Для кого"] == "ОО"
    for key, value in values.items():
        if key != "due":
            assert by_title[PLAN_COLUMNS[key][0]] == value
