"""The problem catalogue: one entry per wording, a code keeps one severity, blanks are named."""

import doctest
import string
from datetime import date
from pathlib import Path

import sync.problems
from sync.model import Severity
from sync.problems import CATALOGUE, DATE_SUSPICIOUS, DUPLICATE_ROW, ProblemType

SOURCES = Path(sync.problems.__file__).parent


def test_the_module_examples_hold() -> None:
    assert doctest.testmod(sync.problems).failed == 0


def test_a_code_has_one_severity_and_every_wording_is_distinct() -> None:
    severities: dict[str, Severity] = {}
    for kind in CATALOGUE:
        assert severities.setdefault(kind.code, kind.severity) is kind.severity, kind.code
    assert len({k.template for k in CATALOGUE}) == len(CATALOGUE)
    assert len({k.code for k in CATALOGUE}) == 24  # every code the checks report


def test_blanks_are_named_and_filled_verbatim() -> None:
    for kind in CATALOGUE:
        for _text, name, _spec, _conv in string.Formatter().parse(kind.template):
            assert name is None or name.isidentifier(), (kind.code, name)
    hostile = ProblemType("x", Severity.ERROR, "«{value}»").message(value="{0} {x} }{")
    assert hostile == "«{0} {x} }{»"  # a school's text is never read as a template


def test_where_goes_by_position_so_a_blank_may_be_called_row() -> None:
    p = DUPLICATE_ROW.at("Лист", "B9", "no", 9, no="1.2", activity="Приказ", first=4)
    assert (p.code, p.sheet, p.cell, p.field, p.row) == ("duplicate_row", "Лист", "B9", "no", 9)
    assert p.message == "Мероприятие № 1.2 «Приказ» уже есть в строке 4: удалите повторную строку."
    assert DATE_SUSPICIOUS.message(day=date(2019, 1, 2), start=date(2021, 9, 1)).startswith(
        "«Дата выполнения» 02.01.2019 раньше начала дорожной карты (01.09.2021)"
    )


def test_checks_build_problems_only_from_the_catalogue() -> None:
    for module in ("validation.py", "reader.py", "plan.py"):
        text = (SOURCES / module).read_text(encoding="utf-8")
        assert "Problem(" not in text, module
