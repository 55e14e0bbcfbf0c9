"""The roadmap's period as its document states it (the order's text, or a plan's deadlines)."""

from __future__ import annotations

import re
from collections import Counter
from datetime import date

from sync.model import Period
from sync.plan import clean
from sync.text import MONTHS_GENITIVE

__all__ = ["NO_PERIOD", "detect_period", "order_date", "school_year_of_dates"]

_MONTHS = {m: n for n, m in enumerate(MONTHS_GENITIVE, start=1)}
_ACADEMIC_YEAR = re.compile(r"(20\d\d)\s*[-–—/]\s*(20\d\d)\s*(?:уч\.|учебн)", re.IGNORECASE)
_YEARS = re.compile(r"\bна\s+(20\d\d)\s*[-–—]\s*(20\d\d)\s*(?:годы|года|гг)", re.IGNORECASE)
_ONE_YEAR = re.compile(r"\bна\s+(20\d\d)\s*(?:год\b|г\.)", re.IGNORECASE)
_UNTIL_YEAR = re.compile(r"\bдо\s+(20\d\d)\b(?!\s*[-–—/]\s*20)", re.IGNORECASE)
_DATE_DIGITS = re.compile(r"(?<![\d.])(\d{1,2})\.(\d{1,2})\.((?:19|20)\d\d)(?!\d)")
_DATE_WORDS = re.compile(
    r"«?(\d{1,2})»?\s+(" + "|".join(_MONTHS) + r")\s+((?:19|20)\d\d)", re.IGNORECASE
)
_YEAR = re.compile(r"(?<!\d)(20\d\d)(?!\d)")


def order_date(prose: str) -> date | None:
    """The first date written in the order's text (its date of signing)."""
    found: list[tuple[int, date]] = []
    for m in _DATE_DIGITS.finditer(prose):
        try:
            found.append((m.start(), date(int(m[3]), int(m[2]), int(m[1]))))
        except ValueError:
            continue
    for m in _DATE_WORDS.finditer(prose):
        try:
            found.append((m.start(), date(int(m[3]), _MONTHS[m[2].lower()], int(m[1]))))
        except ValueError:
            continue
    return min(found)[1] if found else None


def detect_period(prose: str, everything: str = "") -> tuple[Period | None, str]:
    """The roadmap's period as the document states it, and a Russian note saying where from.

    >>> detect_period("План ... на 2021-2022 учебный год")[0]
    Period(start=datetime.date(2021, 9, 1), end=datetime.date(2022, 8, 31))
    """
    m = _ACADEMIC_YEAR.search(prose)
    if m and int(m[2]) == int(m[1]) + 1:
        return (
            Period(date(int(m[1]), 9, 1), date(int(m[2]), 8, 31)),
            f"из документа: «{_around(prose, m)}»",
        )
    m = _YEARS.search(prose)
    if m and int(m[1]) <= int(m[2]):
        return (
            Period(date(int(m[1]), 1, 1), date(int(m[2]), 12, 31)),
            f"из документа: «{_around(prose, m)}»",
        )
    m = _ONE_YEAR.search(prose)
    if m:
        year = int(m[1])
        return Period(date(year, 1, 1), date(year, 12, 31)), f"из документа: «{m[0].strip()}»"
    signed = order_date(prose)
    m = _UNTIL_YEAR.search(prose)
    if m:
        end = date(int(m[1]), 8, 31)  # to the end of that year's academic year
        if signed and signed <= end:
            return (
                Period(signed, end),
                f"из документа: «{_around(prose, m)}», с даты приказа "
                f"{signed:%d.%m.%Y} по 31 августа {end.year} года",
            )
        years = sorted(int(y) for y in _YEAR.findall(prose) if int(y) <= end.year)
        start = date(years[0], 1, 1)
        return (
            Period(start, end),
            f"из документа: «{_around(prose, m)}», с начала {start.year} года "
            f"(дата приказа не найдена) по 31 августа {end.year} года",
        )
    if signed:
        return (
            Period(date(signed.year, 1, 1), date(signed.year, 12, 31)),
            f"в документе период не указан; взят календарный год даты приказа ({signed:%d.%m.%Y})",
        )
    mentioned = Counter(_YEAR.findall(everything or prose))
    if mentioned:
        year = int(mentioned.most_common(1)[0][0])
        return (
            Period(date(year, 1, 1), date(year, 12, 31)),
            f"{NO_PERIOD}; взят {year} год — он чаще других встречается в тексте",
        )
    return None, "в документе не найдены ни период, ни дата приказа"


NO_PERIOD = "в документе нет ни периода, ни даты приказа"
_MONTH_YEAR = re.compile(
    r"\b(янв|фев|мар|апр|ма[йя]|июн|июл|авг|сен|окт|ноя|дек)[а-яё]*\.?,?\s*(20\d\d)(?!\d)",
    re.IGNORECASE,
)
_MONTH_STEMS = ("янв", "фев", "мар", "апр", "ма", "июн", "июл", "авг", "сен", "окт", "ноя", "дек")


def school_year_of_dates(text: str) -> tuple[Period, str] | None:
    """A school year when every month-and-year the table names lies in one (a plan file).

    The year's autumn must be named and nothing before August of it: a plan whose dates run
    from August 2021 to May 2022, or only through the autumn of 2021, is the 2021-2022 school year.
    """
    months: list[tuple[int, int]] = []
    for m in _MONTH_YEAR.finditer(text):
        stem = m[1].lower()
        month = next(n for n, s in enumerate(_MONTH_STEMS, start=1) if stem.startswith(s))
        months.append((int(m[2]), month))
    for m in _DATE_DIGITS.finditer(text):
        if 1 <= int(m[2]) <= 12:
            months.append((int(m[3]), int(m[2])))
    if not months:
        return None
    first, last = min(months), max(months)
    year = first[0]
    autumn = any(y == year and m >= 9 for y, m in months)
    if first < (year, 8) or last > (year + 1, 8) or not autumn:
        return None
    return (
        Period(date(year, 9, 1), date(year + 1, 8, 31)),
        f"{NO_PERIOD}; все сроки в таблице лежат между "
        f"{first[1]:02d}.{first[0]} и {last[1]:02d}.{last[0]} — взят {year}-{year + 1} учебный год",
    )


def _around(text: str, m: re.Match[str]) -> str:
    """The matched phrase with the preposition before it ("на 2021-2022 учебный год")."""
    start = m.start()
    before = re.search(r"(?:\b(?:на|в|до|течение)\s+)+$", text[max(0, start - 20) : start])
    phrase = (before[0] if before else "") + m[0]
    tail = re.match(r"\w*(?:\s+(?:годы|году|года|год))?", text[m.end() :])
    phrase += tail[0] if tail else ""
    return clean(phrase).rstrip(".,")
