"""sync.deadlines: the shared phrase contract, the variants around it, and never raising."""

from __future__ import annotations

import csv
import json
import os
import random
from datetime import date
from pathlib import Path
from typing import Any, cast

import pytest

from sync.deadlines import MAX_TEXT_LENGTH, deadline_json, parse
from sync.model import Deadline, DeadlineKind, Period

CONTRACT_NAME = "deadline-phrases.tsv"
CONTRACT_COLUMNS = [
    "phrase",
    "period_start",
    "period_end",
    "kind",
    "start",
    "end",
    "every",
    "month",
]


def contract_candidates() -> list[Path]:
    """Where the contract may be: $ROADMAP_SHARED (as conftest.py reads it), then ../shared."""
    default = Path(__file__).resolve().parents[2] / "shared" / "spec" / CONTRACT_NAME
    shared = os.environ.get("ROADMAP_SHARED")
    return [Path(shared) / "spec" / CONTRACT_NAME, default] if shared else [default]


def contract_path() -> Path | None:
    return next((path for path in contract_candidates() if path.is_file()), None)


def contract_rows() -> list[dict[str, str]]:
    path = contract_path()
    if path is None:
        return []
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))


def contract_params() -> list[Any]:
    rows = contract_rows()
    if not rows:  # a missing or empty contract must fail below, never skip
        return [pytest.param(None, id=f"{CONTRACT_NAME} missing or empty")]
    return [pytest.param(row, id=row["phrase"]) for row in rows]


def missing_contract() -> str:
    return (
        f"{CONTRACT_NAME} not found or empty; looked at {contract_candidates()}; set ROADMAP_SHARED"
    )


def optional_date(text: str) -> date | None:
    return date.fromisoformat(text) if text else None


def expected_from(row: dict[str, str]) -> Deadline:
    return Deadline(
        DeadlineKind(row["kind"]),
        optional_date(row["start"]),
        optional_date(row["end"]),
        row["every"] or None,
        int(row["month"]) if row["month"] else None,
    )


def period_from(row: dict[str, str]) -> Period:
    return Period(date.fromisoformat(row["period_start"]), date.fromisoformat(row["period_end"]))


# --- The contract ------------------------------------------------------------------------------


def test_contract_file_is_present_and_well_formed() -> None:
    path = contract_path()
    assert path is not None, missing_contract()
    with path.open(encoding="utf-8-sig", newline="") as f:
        header = next(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    assert header == CONTRACT_COLUMNS
    rows = contract_rows()
    assert len(rows) >= 20, f"{path} has only {len(rows)} phrases"
    for row in rows:
        assert None not in row, f"extra cells in {row}"


@pytest.mark.parametrize("row", contract_params())
def test_contract_phrase(row: dict[str, str] | None) -> None:
    if row is None:
        pytest.fail(missing_contract())
    assert parse(row["phrase"], period_from(row)) == expected_from(row)


@pytest.mark.parametrize("row", contract_params())
def test_contract_phrase_tolerates_case_spacing_and_dashes(row: dict[str, str] | None) -> None:
    if row is None:
        pytest.fail(missing_contract())
    phrase, period, expected = row["phrase"], period_from(row), expected_from(row)
    variants = [
        phrase.upper(),
        phrase.lower(),
        f"  {phrase}\n",
        phrase.replace(" ", "\n  "),
        phrase + ".",
        phrase.replace("-", " — ").replace("е", "ё"),
    ]
    for variant in variants:
        assert parse(variant, period) == expected, variant


# --- Variants beyond the contract --------------------------------------------------------------

SCHOOL_YEAR = Period(date(2021, 9, 1), date(2022, 8, 31))
CALENDAR_2021 = Period(date(2021, 1, 1), date(2021, 12, 31))
ROADMAP_2024 = Period(date(2021, 6, 28), date(2024, 8, 31))
LEAP = Period(date(2023, 9, 1), date(2024, 8, 31))

EXTERNAL = Deadline(DeadlineKind.EXTERNAL)
UNKNOWN = Deadline(DeadlineKind.UNKNOWN)


def by(end: str) -> Deadline:
    return Deadline(DeadlineKind.BY, end=date.fromisoformat(end))


def window(start: str, end: str) -> Deadline:
    return Deadline(DeadlineKind.WINDOW, date.fromisoformat(start), date.fromisoformat(end))


def continuous(start: str, end: str) -> Deadline:
    return Deadline(DeadlineKind.CONTINUOUS, date.fromisoformat(start), date.fromisoformat(end))


def recurring(every: str, month: int | None = None) -> Deadline:
    return Deadline(DeadlineKind.RECURRING, every=every, month=month)


def on_demand(period: Period) -> Deadline:
    return Deadline(DeadlineKind.ON_DEMAND, period.start, period.end)


def whole(period: Period) -> Deadline:
    return Deadline(DeadlineKind.CONTINUOUS, period.start, period.end)


VARIANTS: list[tuple[str, Period, Deadline]] = [
    # month ranges across the new year, with the year written once, twice or not at all
    ("ноябрь - февраль", SCHOOL_YEAR, window("2021-11-01", "2022-02-28")),
    ("ноябрь - февраль 2022", SCHOOL_YEAR, window("2021-11-01", "2022-02-28")),
    ("декабрь 2021 - январь 2022", SCHOOL_YEAR, window("2021-12-01", "2022-01-31")),
    ("Сентябрь 2021 - январь", SCHOOL_YEAR, window("2021-09-01", "2022-01-31")),
    ("декабрь 2021 - 15 января 2022", SCHOOL_YEAR, window("2021-12-01", "2022-01-15")),
    ("сентябрь-октябрь 2021-2022 уч. г.", CALENDAR_2021, window("2021-09-01", "2021-10-31")),
    ("Сентябрь—октябрь 2021 гг.", SCHOOL_YEAR, window("2021-09-01", "2021-10-31")),
    ("сентябрь–декабрь 2021г", SCHOOL_YEAR, window("2021-09-01", "2021-12-31")),
    ("СЕНТЯБРЬ   2021\nг.", SCHOOL_YEAR, window("2021-09-01", "2021-09-30")),
    ("сентябрь, 2021 г.;", SCHOOL_YEAR, window("2021-09-01", "2021-09-30")),
    # months in other grammatical cases and abbreviations
    ("в мае", SCHOOL_YEAR, window("2022-05-01", "2022-05-31")),
    ("в январе 2022 года", SCHOOL_YEAR, window("2022-01-01", "2022-01-31")),
    ("мая 2022 г.", SCHOOL_YEAR, window("2022-05-01", "2022-05-31")),
    ("дек. 2021", SCHOOL_YEAR, window("2021-12-01", "2021-12-31")),
    ("июнь", ROADMAP_2024, window("2022-06-01", "2022-06-30")),  # June 2021 starts before
    ("09.2021", SCHOOL_YEAR, window("2021-09-01", "2021-09-30")),
    ("2021-09", SCHOOL_YEAR, window("2021-09-01", "2021-09-30")),
    # "by": до, не позднее, в срок до, к
    ("не позднее 15.01.2022", SCHOOL_YEAR, by("2022-01-15")),
    ("до 15 января", SCHOOL_YEAR, by("2022-01-15")),
    ("в срок до 10 июня 2022 года", SCHOOL_YEAR, by("2022-06-10")),
    ("Отчёт до 15 января 2022", SCHOOL_YEAR, by("2022-01-15")),
    ("к 1 сентября", SCHOOL_YEAR, by("2021-09-01")),
    ("Сроки: до 1 октября 2021", SCHOOL_YEAR, by("2021-10-01")),
    ("до сентября 2021", SCHOOL_YEAR, by("2021-09-30")),  # by the end of the month named
    ("до 2024 года", ROADMAP_2024, by("2024-12-31")),
    ("до конца 2021 года", SCHOOL_YEAR, by("2021-12-31")),
    ("до конца учебного года", SCHOOL_YEAR, by("2022-05-31")),
    ("в течение года, до 1 октября 2021", SCHOOL_YEAR, by("2021-10-01")),
    # several parts: "by" the last date, or a window spanning them
    ("до 15 января, 10 июня 2022 года", SCHOOL_YEAR, by("2022-06-10")),
    ("Сентябрь 2021 г., январь 2022 г.", SCHOOL_YEAR, window("2021-09-01", "2022-01-31")),
    ("март 2021, по графику", SCHOOL_YEAR, window("2021-03-01", "2021-03-31")),
    # single days and day ranges
    ("12.10.2021", SCHOOL_YEAR, by("2021-10-12")),
    ("12.10.21", SCHOOL_YEAR, by("2021-10-12")),
    ("2021-10-01", SCHOOL_YEAR, by("2021-10-01")),
    ("15 января 2022 г.", SCHOOL_YEAR, by("2022-01-15")),
    ("29 февраля", LEAP, by("2024-02-29")),
    ("01.09.2021 - 30.09.2021", SCHOOL_YEAR, window("2021-09-01", "2021-09-30")),
    ("01.09.2021–30.09.2021", SCHOOL_YEAR, window("2021-09-01", "2021-09-30")),
    ("с 1 по 15 сентября 2021 г.", SCHOOL_YEAR, window("2021-09-01", "2021-09-15")),
    ("1-15 сентября", SCHOOL_YEAR, window("2021-09-01", "2021-09-15")),
    ("с 1 сентября 2021 года", SCHOOL_YEAR, continuous("2021-09-01", "2022-08-31")),
    # quarters, half-years, school terms, years
    ("I квартал 2022", SCHOOL_YEAR, window("2022-01-01", "2022-03-31")),
    ("2 квартал", SCHOOL_YEAR, window("2022-04-01", "2022-06-30")),
    ("IV кв. 2021 г.", SCHOOL_YEAR, window("2021-10-01", "2021-12-31")),
    ("в первом квартале 2022 года", SCHOOL_YEAR, window("2022-01-01", "2022-03-31")),
    ("четвертый квартал", SCHOOL_YEAR, window("2021-10-01", "2021-12-31")),
    ("1 полугодие 2021-2022 учебного года", ROADMAP_2024, window("2021-09-01", "2021-12-31")),
    ("2 полугодие 2021-2022 учебного года", ROADMAP_2024, window("2022-01-01", "2022-05-31")),
    ("первое полугодие", SCHOOL_YEAR, window("2021-09-01", "2021-12-31")),
    ("первое полугодие", CALENDAR_2021, window("2021-01-01", "2021-06-30")),
    ("1-ое полугодие", SCHOOL_YEAR, window("2021-09-01", "2021-12-31")),
    ("II полугодие 2021 г.", ROADMAP_2024, window("2021-07-01", "2021-12-31")),
    ("III четверть", SCHOOL_YEAR, window("2022-01-01", "2022-03-31")),
    ("2021-2022 учебный год", ROADMAP_2024, window("2021-09-01", "2022-08-31")),
    ("2021/22", ROADMAP_2024, window("2021-09-01", "2022-08-31")),
    ("2021-2024 гг.", ROADMAP_2024, window("2021-01-01", "2024-12-31")),
    ("2022 год", SCHOOL_YEAR, window("2022-01-01", "2022-12-31")),
    ("В конце учебного года", ROADMAP_2024, window("2022-05-01", "2022-05-31")),
    ("в начале учебного года", SCHOOL_YEAR, window("2021-09-01", "2021-09-30")),
    ("Май 2021-2022 уч. г.", ROADMAP_2024, window("2022-05-01", "2022-05-31")),
    # recurring
    ("ежеквартально", SCHOOL_YEAR, recurring("quarter")),
    ("раз в полугодие", SCHOOL_YEAR, recurring("half_year")),
    ("еженедельно", SCHOOL_YEAR, recurring("week")),
    ("Ежегодно", SCHOOL_YEAR, recurring("year")),
    ("ежегодно, до 1 сентября", SCHOOL_YEAR, recurring("year", 9)),
    ("ежегодно в конце учебного года", SCHOOL_YEAR, recurring("year", 5)),
    ("ежегодно (апрель-май)", SCHOOL_YEAR, recurring("year")),  # two months: none chosen
    ("не реже 1 раза в месяц", SCHOOL_YEAR, recurring("month")),
    ("не реже одного раза в квартал", SCHOOL_YEAR, recurring("quarter")),
    ("4 раза в год", SCHOOL_YEAR, recurring("quarter")),
    ("3 раза в год", SCHOOL_YEAR, recurring("quarter")),  # the nearest interval as frequent
    ("дважды в год", SCHOOL_YEAR, recurring("half_year")),
    ("2 раза в месяц", SCHOOL_YEAR, recurring("week")),
    ("По мере необходимости, не реже 1 раза в квартал", SCHOOL_YEAR, recurring("quarter")),
    # continuous
    ("постоянно", SCHOOL_YEAR, whole(SCHOOL_YEAR)),
    ("в течение учебного года", SCHOOL_YEAR, whole(SCHOOL_YEAR)),
    ("В течение всего периода", ROADMAP_2024, whole(ROADMAP_2024)),
    ("на протяжении учебного года", SCHOOL_YEAR, whole(SCHOOL_YEAR)),
    ("весь период реализации проекта", SCHOOL_YEAR, whole(SCHOOL_YEAR)),
    ("в течение 2022 года", SCHOOL_YEAR, continuous("2022-01-01", "2022-12-31")),
    ("в течение всего 2022 года", SCHOOL_YEAR, continuous("2022-01-01", "2022-12-31")),
    ("в течение 2020-2021 учебного года", ROADMAP_2024, continuous("2020-09-01", "2021-08-31")),
    # on demand and external
    ("по мере необходимости", SCHOOL_YEAR, on_demand(SCHOOL_YEAR)),
    ("По запросу", SCHOOL_YEAR, on_demand(SCHOOL_YEAR)),
    ("в течение года (по запросу МОУО)", CALENDAR_2021, on_demand(CALENDAR_2021)),
    ("в соответствии с планом работы МОУО", SCHOOL_YEAR, EXTERNAL),
    ("по плану", SCHOOL_YEAR, EXTERNAL),
    ("(по графику)", SCHOOL_YEAR, EXTERNAL),
    ("График ВПР", SCHOOL_YEAR, EXTERNAL),
    ("Согласно приказу от 27 мая 2020 г № 585", SCHOOL_YEAR, EXTERNAL),  # an order's date
    ("Сроки определяются в соответствии с графиком", SCHOOL_YEAR, EXTERNAL),
]


@pytest.mark.parametrize(
    ("text", "period", "expected"), VARIANTS, ids=[f"{t} @ {p}" for t, p, _ in VARIANTS]
)
def test_variant(text: str, period: Period, expected: Deadline) -> None:
    assert parse(text, period) == expected


# --- Unreadable text, and never raising --------------------------------------------------------

UNREADABLE = [
    "",
    "   ",
    "\n\t",
    "None",
    "null",
    "NaN",
    "-",
    "—",
    "н/д",
    "?",
    "asdf",
    "в течение месяца",
    "раз в 2 года",
    "32.13.2021",
    "31.04.2021",
    "00.00.0000",
    "12.10.1",
    "31 февраля",
    "30 февраля 2022 г.",
    "45 января",
    "15 января 99999",
    "Январь 1500",
    "Сентябрь 2300 г.",
    "3 полугодие",
    "2021-13",
    "2024-2021 гг.",
    "99999999999999999999999999999",
    "1" * 5000,
    "Сентябрь 2021 " + "x" * MAX_TEXT_LENGTH,
]


@pytest.mark.parametrize("text", UNREADABLE, ids=[repr(t[:40]) for t in UNREADABLE])
def test_unreadable_is_unknown(text: str) -> None:
    assert parse(text, SCHOOL_YEAR) == UNKNOWN


@pytest.mark.parametrize("value", [None, 12, 3.5, b"2021", date(2021, 9, 1), ["Февраль"]])
def test_not_text_is_unknown(value: object) -> None:
    assert parse(cast(Any, value), SCHOOL_YEAR) == UNKNOWN


ODD_STRINGS = [
    *UNREADABLE,
    "\x00",
    "😀 сентябрь",
    "\u200b\ufeff",
    "ё" * 999,
    "до " * 300,
    "1-" * 499,
    "2021-" * 199,
    "1." * 499,
    "январь " * 140,
    "IV" * 400,
    "((((((((((",
    "до до до 1 1 1 октября октября 2021 2021",
    "с по до - – — , ; : .",
    "29.02.2021",
    "29.02.2024",
    "1-31 февраля",
    "с 31 по 1 января",
    "декабрь 2022 - январь 2022",
    "9999",
    "1900",
    "2199-2200",
    "I II III IV квартал полугодие четверть",
    "0 раз в год",
    "999999999 раз в год",
    "ежегодно 31 февраля",
    "в течение 32.13.2021",
    "конец конец учебного учебного года",
    "1 января 1 января 1 января",
]
FRAGMENTS = [
    "до", "не позднее", "с", "по", "-", "–", ",", "(", ")", "г.", "гг.", "года", "учебного года",
    "2021", "2022", "9999", "0000", "2200", "99999999", "31", "32", "29", "0", "1", "12", "13",
    "январь", "февраля", "мае", "дек.", "I", "IV", "V", "квартал", "кв.", "полугодие",
    "четверть", "ежегодно", "раз в", "раза в год", "в течение", "весь период", "в конце",
    "начала", ".", "/", "01.", "2021-", "-2022", "по мере необходимости", "согласно", "план",
    "\n", "ё", "\u00a0", "😀", "-й", "первый", "год", "постоянно",
]  # fmt: skip
PERIODS = [
    SCHOOL_YEAR,
    CALENDAR_2021,
    ROADMAP_2024,
    LEAP,
    Period(date.min, date.max),
    Period(date(1, 1, 1), date(1, 1, 1)),
    Period(date.max, date.max),
]


def odd_texts() -> list[str]:
    """Hand-picked odd strings plus seeded random mixtures of deadline fragments."""
    rng = random.Random(20210901)
    mixed = [" ".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(1, 8))) for _ in range(3000)]
    return ODD_STRINGS + mixed


def test_never_raises_and_keeps_its_invariants() -> None:
    kinds_with_dates = (DeadlineKind.BY, DeadlineKind.WINDOW)
    for text in odd_texts():
        for period in PERIODS:
            deadline = parse(text, period)
            assert isinstance(deadline, Deadline), text
            if deadline.kind in kinds_with_dates:
                assert deadline.end is not None, (text, period, deadline)
            if deadline.kind is DeadlineKind.BY:
                assert deadline.start is None, (text, period, deadline)
            if deadline.start is not None and deadline.end is not None:
                assert deadline.start <= deadline.end, (text, period, deadline)
            if deadline.kind is DeadlineKind.RECURRING:
                assert deadline.every in ("year", "half_year", "quarter", "month", "week")
                assert deadline.start is None and deadline.end is None
            else:
                assert deadline.every is None and deadline.month is None
            if deadline.kind in (DeadlineKind.EXTERNAL, DeadlineKind.UNKNOWN):
                assert deadline.start is None and deadline.end is None
            json.dumps(deadline.to_json())


def test_deadline_json_round_trips() -> None:
    text = deadline_json("ежегодно (август)", SCHOOL_YEAR)
    assert json.loads(text) == parse("ежегодно (август)", SCHOOL_YEAR).to_json()
    assert json.loads(text) == {
        "kind": "recurring",
        "start": None,
        "end": None,
        "every": "year",
        "month": 8,
    }
