"""One rule for which notes are the sync's own, whatever the storage (sync.notes)."""

from __future__ import annotations

import doctest

import pytest

from sync import notes
from sync.builders.google import paint as google_builders
from sync.notes import NOTE_AUTHOR, NOTE_MARK, is_ours, plan_notes

MAIN = "Дорожная карта"


def test_the_module_examples_hold() -> None:
    failed, tried = doctest.testmod(notes)
    assert tried >= 4 and failed == 0


@pytest.mark.parametrize(
    ("text", "author", "listed", "ours"),
    [
        (f"{NOTE_MARK}\nI3: Нет даты", "", False, True),  # Google: the mark
        ("I3: Нет даты", NOTE_AUTHOR, False, True),  # a folder workbook: the author
        ("I3: Нет даты", "Excel User", True, True),  # the add-in: the service sheet's list
        ("Уточнить у директора", "Школа", False, False),  # the school's own
        ("Уточнить у директора", "", False, False),
        (f"Моё\n\n{NOTE_MARK}\nстарое", "", False, False),  # our mark quoted below theirs
    ],
)
def test_a_note_is_ours_by_any_sign_the_storage_sees(
    text: str, author: str, listed: bool, ours: bool
) -> None:
    cell = (MAIN, "M3")
    assert is_ours(text, author=author, cell=cell, listed={cell} if listed else ()) is ours


def test_a_listed_cell_elsewhere_does_not_make_a_note_ours() -> None:
    assert not is_ours("Моё", cell=(MAIN, "M4"), listed={(MAIN, "M3")})
    assert not is_ours("Моё", listed={(MAIN, "M3")})  # no cell known: the list cannot say


def test_google_asks_the_same_rule() -> None:
    for text in (f"{NOTE_MARK}\nx", "x", f"x\n\n{NOTE_MARK}\ny", ""):
        assert google_builders.is_ours(text) is is_ours(text)


def test_the_folder_patch_and_the_add_in_call_the_rule() -> None:
    from sync.backends import xlsxpatch
    from sync.backends.excel import book as xlwings_book

    assert xlsxpatch.is_ours is is_ours
    assert xlwings_book.ours_among is notes.ours_among
    assert xlwings_book.plan_notes is plan_notes


def test_ours_among_applies_the_rule_cell_by_cell() -> None:
    a, b, c, d = ((MAIN, ref) for ref in ("A1", "B2", "C3", "D4"))
    found = notes.ours_among(
        [a, b, c, d],
        listed={a},
        texts={b: f"{NOTE_MARK}\nx", c: "моё"},
        authors={c: "Школа", d: NOTE_AUTHOR},
    )
    assert found == {a, b, d}


def test_a_note_not_ours_is_never_written_over_or_deleted() -> None:
    own, stale, wanted_cell = (MAIN, "I3"), (MAIN, "M5"), (MAIN, "M3")
    plan = plan_notes(
        {own: "Нет даты", wanted_cell: "Ошибка"},
        occupied={own, stale},
        ours={stale},
        fallback=lambda cell: wanted_cell,
    )
    assert own not in plan.write and own not in plan.delete
    assert plan.write == {wanted_cell: "Ошибка\nНет даты"}
    assert plan.delete == {stale}
