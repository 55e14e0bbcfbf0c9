"""Russian deadline text -> Deadline, read against the roadmap's period (pure: no clock, no I/O).

A roadmap's "Сроки исполнения" cell is free text. `parse` tries a short list of readers in order and
the first that recognises the text wins:

1. recurring   "ежегодно (август)", "2 раза в год", "1 раз в квартал", "ежемесячно"
2. on demand   "по мере необходимости", "по запросу" (the whole period)
3. external    "Согласно дорожной карте ...", "По графику", "План работы ММС" (text that starts so)
4. continuous  "в течение года", "весь период", "постоянно", "в течение 2022 года"
5. dated       months, days, quarters, half-years, school terms and years, alone or in ranges:
               "июль-август, 2021г.", "До 1 октября 2021 г", "IV кв. 2021 г.", "Февраль"
6. external    a schedule or plan named anywhere ("(по графику)")

Anything else, and any date that cannot exist ("32.13.2021", "31 февраля"), is UNKNOWN.
`spec/deadline-phrases.tsv` in the shared folder is the contract; tests/test_deadlines.py reads it.

Choices the contract leaves open, made here:
- A month, quarter or day without a year is its first occurrence that starts inside the period
  ("Февраль" in 2021-09-01..2022-08-31 is February 2022). A year written after several items
  applies to all of them, stepping back a year where needed ("ноябрь - февраль 2022" starts in
  November 2021). A yearless item after a dated one is its next occurrence ("сентябрь 2021 -
  январь" ends in January 2022).
- Several dates make one window from the earliest start to the latest end ("Сентябрь 2021 г.,
  январь 2022 г."); after "до"/"не позднее" they make one "by" the last of them ("до 15 января,
  10 июня 2022 года" is by 2022-06-10: the row is done when the last report is in).
- "до <month/quarter/year>" is by the end of it ("до 2024 года" is by 2024-12-31): the lenient
  reading, so a row is never shown overdue before its author could have meant it.
- A single exact day is "by" that day; "с 1 сентября 2021" is continuous from that day to the
  period's end.
- Half-years: with a calendar year ("II полугодие 2021 г.") they are Jan-Jun and Jul-Dec; with an
  academic year, or without a year in an academic-year period, Sep-Dec and Jan-May. "2021-2022" is
  an academic year unless written "гг."/"годы"; "2021-2024 гг." is the calendar years.
- "N раз в <unit>" is the nearest standard interval at least that frequent (3 a year: quarter).
- Text longer than a table cell (over 1000 characters) is not read.
"""

from __future__ import annotations

import calendar
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date

from sync.model import UNKNOWN_DEADLINE, Deadline, DeadlineKind, Period

__all__ = ["deadline_json", "parse"]

MAX_TEXT_LENGTH = 1000
# Years written in the text outside this range are taken for typing errors, not deadlines.
MIN_YEAR, MAX_YEAR = 1900, 2199

Span = tuple[date, date]


class _Unreadable(ValueError):
    """The text names a date that cannot exist; the whole deadline is UNKNOWN."""


# --- Words -------------------------------------------------------------------------------------

# A word names month i+1 when it starts with _MONTH_PREFIXES[i]; "мар" is tried before "ма".
_MONTH_PREFIXES = (
    "янв", "фев", "мар", "апр", "ма", "июн",
    "июл", "авг", "сен", "окт", "ноя", "дек",
)  # fmt: skip
# Full stems in every grammatical case (январь, января, январе ...), May spelled out, abbreviations.
_MONTH = (
    r"(?<![a-zа-я])(?:"
    r"(?:январ|феврал|март|апрел|июн|июл|август|сентябр|октябр|ноябр|декабр)[а-я]*"
    r"|ма(?:й|я|е|ю|ем)(?![а-я])"
    r"|(?:янв|фев|мар|апр|авг|сент|сен|окт|нояб|ноя|дек)(?![а-я])\.?"
    r")"
)
_ROMAN = {"i": 1, "ii": 2, "iii": 3, "iv": 4}
_ORDINAL_STEMS = (("перв", 1), ("втор", 2), ("трет", 3), ("четверт", 4))
_ORDINAL = r"iv|iii|ii|i|[1-4]|перв[а-я]*|втор[а-я]*|трет[а-я]*|четверт(?:ый|ого|ом|ой|ая|ое|ую)"
_ORDINAL_SUFFIX = r"(?:-?(?:ый|ой|ий|й|го|ого|м|ом|е|ое|я|ая))?"
_YEAR_WORD = r"(?:\s*(?:гг\.?|г\.\s?г\.?|годы|годов|годах|год[а-я]*|г\.|г(?![а-я])))?"

_COUNT_WORDS = {
    "один": 1, "одна": 1, "одного": 1, "однажды": 1,
    "два": 2, "две": 2, "двух": 2, "дважды": 2,
    "три": 3, "трех": 3, "трижды": 3,
    "четыре": 4, "четырех": 4,
    "шесть": 6, "двенадцать": 12,
}  # fmt: skip
# How many of each unit a year holds; the first stem that starts the unit word wins.
_UNITS_PER_YEAR = (
    ("полугод", 2), ("полгода", 2), ("семестр", 2), ("квартал", 4), ("четверт", 4),
    ("месяц", 12), ("недел", 52), ("", 1),  # "" is год, учебный год
)  # fmt: skip
_EVERY_LIMITS = (("year", 1), ("half_year", 2), ("quarter", 4), ("month", 12))

# --- Patterns ----------------------------------------------------------------------------------

_DASHES = re.compile(r"[\u2010-\u2015\u2212\u2e3a\u2e3b\ufe58\ufe63\uff0d]")
_EDGE_JUNK = re.compile(r"^[^0-9a-zа-я]+|[^0-9a-zа-я]+$")
_LABEL = re.compile(r"^срок[а-я]*(?:\s+(?:исполнения|реализации|выполнения))?\s*[:-]\s*")

_EVERY_WORDS = tuple(
    (re.compile(pattern), every)
    for pattern, every in (
        (r"ежегодн[а-я]*|кажд(?:ый|ого)\s+(?:учебн[а-я]*\s+)?год", "year"),
        (r"ежеполугодн[а-я]*|каждое\s+полугодие|по\s+полугодиям", "half_year"),
        (r"ежекварталь?н[а-я]*|поквартально|каждый\s+квартал|по\s+кварталам", "quarter"),
        (r"ежемесячн[а-я]*|помесячно|каждый\s+месяц", "month"),
        (r"еженедельн[а-я]*|каждую\s+неделю", "week"),
    )
)
_UNIT = (
    r"(?:учебн[а-я]*\s+|календарн[а-я]*\s+)?год|полугод[а-я]*|полгода|семестр|квартал|четверть"
    r"|месяц|неделю"
)
_COUNT = "|".join(sorted((w for w in _COUNT_WORDS if not w.endswith("жды")), key=len, reverse=True))
_TIMES_PER = re.compile(
    rf"(?<![а-я0-9])(?:(?P<count>\d+|{_COUNT})\s*)?раза?\s+в\s+(?P<unit>{_UNIT})(?![а-я])"
    rf"|(?<![а-я])(?P<adverb>однажды|дважды|трижды)\s+в\s+(?P<adverb_unit>{_UNIT})(?![а-я])"
)

_ON_DEMAND = re.compile(
    r"по\s+мере\s+(?:необходимости|потребности|поступлени|обращени)"
    r"|(?:по|при)\s+необходимости|по\s+(?:запрос|требовани|заявк|обращени|потребност)"
)
_EXTERNAL_LEADING = re.compile(
    r"^(?:согласно|соответственно|в\s+соответствии|по\s+(?:графику|плану|срокам|расписанию"
    r"|календарю|регламенту|циклограмме|отдельному)|в\s+(?:установленные\s+)?сроки"
    r"|в\s+порядке|план[а-я]*\s+работы|график[а-я]*)"
)
_EXTERNAL_ANYWHERE = re.compile(
    r"согласно|в\s+соответствии|график|по\s+срокам|(?<![а-я])план(?:а|у|ом|е|ы|ам|ами)?(?![а-я])"
)
_CONTINUOUS_WORDS = re.compile(
    r"(?<![а-я])(?:постоянно|ежедневно|систематически|регулярно|круглогодично"
    r"|в\s+постоянном\s+режиме|на\s+постоянной\s+основе)(?![а-я])"
)
_THROUGHOUT = re.compile(r"^(?:в\s+течени[еи]|на\s+протяжении|весь|в\s+период)(?![а-я])\s*")
_ALL_OF = re.compile(r"(?:(?:всего|весь|всей|всю)\s*)?")
_PERIOD_WORDS = re.compile(
    r"^(?:всего\s+|весь\s+)?(?:(?:текущ|учебн|календарн|отчетн)[а-я]*\s+)*"
    r"(?:год[а-я]*|период[а-я]*|срок[а-я]*|реализаци[а-я]*)(?![а-я])"
)
_BY_MARKER = re.compile(
    r"(?:^|[^0-9a-zа-я])(?:до|не\s+позднее|не\s+позже|к|ко)(?:\s+(?:конца|окончания))?\s*$"
)
_SINCE_MARKER = re.compile(r"(?:^|[^0-9a-zа-я])(?:с|со|начиная\s+со?|не\s+ранее)\s*$")

# One alternative per date expression; where several match at one place the earlier wins.
_TOKEN_PATTERNS = (
    ("iso", r"(?<!\d)(?P<iso_y>\d{4})-(?P<iso_m>\d{1,2})-(?P<iso_d>\d{1,2})(?!\d)"),
    ("numeric", r"(?<![\d.])(?P<nd_d>\d{1,3})[./](?P<nd_m>\d{1,3})[./](?P<nd_y>\d+)(?!\d)"),
    ("month_year", r"(?<![\d.])(?P<my_m>\d{1,2})[./](?P<my_y>\d{4})(?!\d)"),
    (
        "year_pair",
        r"(?<!\d)(?P<yp_1>\d{4})(?:\s*[-/]\s*(?P<yp_2>\d{4})|[-/](?P<yp_3>\d{2}))(?!\d)"
        r"(?:\s*(?P<yp_tail>уч[а-я]*\.?(?:\s*г[а-я]*\.?)?|гг\.?|г\.\s?г\.?|годы|годов|годах"
        r"|год[а-я]*|г\.|г(?![а-я])))?",
    ),
    (
        "school_year_edge",
        r"(?P<se_word>конц|конец|окончани|начал)[а-я]*\s+"
        r"(?:(?P<se_1>\d{4})\s*[-/]\s*(?P<se_2>\d{4}|\d{2})\s+)?уч[а-я]*\.?(?:\s*г[а-я]*\.?)?",
    ),
    (
        "year_end",
        r"(?:конц|конец|окончани)[а-я]*\s+(?:календарного\s+)?(?:(?P<ye_y>\d{4})\s*)?"
        r"(?:год[а-я]*|г\.|г(?![а-я]))",
    ),
    (
        "day_range",
        rf"(?<![\d.])(?P<dr_1>\d{{1,2}})\s*(?:-|по|до)\s*(?P<dr_2>\d{{1,2}})(?!\d)\s*"
        rf"(?:-?(?:го|е|ое)\s*)?(?P<dr_m>{_MONTH})",
    ),
    ("day", rf"(?<![\d.])(?P<dm_d>\d{{1,3}})(?!\d)\s*(?:-?(?:го|е|ое)\s*)?(?P<dm_m>{_MONTH})"),
    (
        "quarter",
        rf"(?<![a-zа-я0-9])(?P<q_n>{_ORDINAL}){_ORDINAL_SUFFIX}\s*"
        rf"кв(?:артал[а-я]*|\.|(?![а-я]))",
    ),
    ("half", rf"(?<![a-zа-я0-9])(?P<h_n>{_ORDINAL}){_ORDINAL_SUFFIX}\s*полугод[а-я]*"),
    (
        "term",
        rf"(?<![a-zа-я0-9])(?P<t_n>{_ORDINAL}){_ORDINAL_SUFFIX}\s*четверт(?:ь|и|ью)(?![а-я])",
    ),
    ("month", rf"(?P<m_m>{_MONTH})"),
    ("year", rf"(?<!\d)(?P<y_y>\d{{4,}})(?!\d){_YEAR_WORD}"),
)
_TOKEN = re.compile("|".join(f"(?P<{name}>{pattern})" for name, pattern in _TOKEN_PATTERNS))


# --- Date items --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Item:
    """One date expression found in the text, before its year is settled."""

    kind: str  # day, month, quarter, half, term (need a year); years, academic (complete)
    pos: int
    number: int = 0  # day of month, or which quarter, half-year or term
    month: int = 0
    year: int | None = None  # calendar year; for "years" the first one
    academic: int | None = None  # first calendar year of the academic year
    last: int | None = None  # "years" and "academic": the last calendar year
    shared: bool = False  # the year was written after a later item: "сентябрь - ноябрь 2021"

    @property
    def needs_year(self) -> bool:
        return (
            self.kind not in ("years", "academic") and self.year is None and self.academic is None
        )


def _number(digits: str) -> int:
    """An integer from a run of digits; long runs are unreadable rather than slow."""
    if len(digits) > 6:
        raise _Unreadable(digits)
    return int(digits)


def _year(digits: str) -> int:
    year = _number(digits)
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise _Unreadable(digits)
    return year


def _date(year: int, month: int, day: int) -> date:
    try:
        return date(year, month, day)
    except ValueError as exc:
        raise _Unreadable(f"{day}.{month}.{year}") from exc


def _month_number(word: str) -> int:
    """
    >>> _month_number("февраля"), _month_number("мае"), _month_number("март")
    (2, 5, 3)
    """
    return next(i for i, prefix in enumerate(_MONTH_PREFIXES, 1) if word.startswith(prefix))


def _ordinal(word: str) -> int:
    if word in _ROMAN:
        return _ROMAN[word]
    if word.isdigit():
        return int(word)
    return next(n for stem, n in _ORDINAL_STEMS if word.startswith(stem))


def _token_items(m: re.Match[str]) -> list[_Item]:
    """The item(s) one token match stands for; raises _Unreadable for impossible values."""
    kind, pos, g = m.lastgroup, m.start(), m.group
    if kind in ("iso", "numeric"):
        y, mo, d = (
            (g("iso_y"), g("iso_m"), g("iso_d")) if kind == "iso" else g("nd_y", "nd_m", "nd_d")
        )
        if len(y) == 2:
            y = "20" + y
        day = _date(_year(y), _number(mo), _number(d))
        return [_Item("day", pos, day.day, day.month, year=day.year)]
    if kind == "month_year":
        month = _number(g("my_m"))
        _date(_year(g("my_y")), month, 1)
        return [_Item("month", pos, month=month, year=_year(g("my_y")))]
    if kind == "year_pair":
        return [_year_pair(pos, g("yp_1"), g("yp_2") or g("yp_3"), g("yp_tail") or "")]
    if kind == "school_year_edge":
        month = 9 if g("se_word") == "начал" else 5  # "в конце учебного года" is May
        if g("se_1"):
            pair = _year_pair(pos, g("se_1"), g("se_2"), "уч")
            return [_Item("month", pos, month=month, academic=pair.academic)]
        return [_Item("month", pos, month=month)]
    if kind == "year_end":
        return [_Item("month", pos, month=12, year=_year(g("ye_y")) if g("ye_y") else None)]
    if kind == "day_range":
        month = _month_number(g("dr_m"))
        return [
            _Item("day", pos, _number(g("dr_1")), month),
            _Item("day", m.start("dr_2"), _number(g("dr_2")), month),
        ]
    if kind == "day":
        return [_Item("day", pos, _number(g("dm_d")), _month_number(g("dm_m")))]
    if kind in ("quarter", "half", "term"):
        number = _ordinal(g({"quarter": "q_n", "half": "h_n", "term": "t_n"}[kind]))
        if number > (2 if kind == "half" else 4):
            raise _Unreadable(m.group())
        return [_Item(kind, pos, number)]
    if kind == "month":
        return [_Item("month", pos, month=_month_number(g("m_m")))]
    year = _year(g("y_y"))
    return [_Item("years", pos, year=year, last=year)]


def _year_pair(pos: int, first: str, second: str, tail: str) -> _Item:
    """ "2021-2022 учебный год", "2021/22", "2021-2024 гг."; "2021-09" is a month."""
    start = _year(first)
    end = _number(second) if len(second) == 2 else _year(second)
    if len(second) == 2 and end % 100 != (start + 1) % 100:
        if not 1 <= end % 100 <= 12:
            raise _Unreadable(f"{first}-{second}")
        return _Item("month", pos, month=end % 100, year=start)  # "2021-09"
    if len(second) == 2:
        end = start + 1
    if end < start:
        raise _Unreadable(f"{first}-{second}")
    plural = tail.startswith(("гг", "г.г", "г. г", "годы", "годов", "годах"))
    if tail.startswith("уч") or (end == start + 1 and not plural):
        return _Item("academic", pos, academic=start, last=end)
    return _Item("years", pos, year=start, last=end)


def _scan(text: str) -> list[_Item]:
    """Every date expression in the text, in order."""
    return [item for m in _TOKEN.finditer(text) for item in _token_items(m)]


def _attach_years(tokens: Sequence[_Item]) -> list[_Item]:
    """Give a written year to the yearless items just before it ("июль-август, 2021г.").

    The item right before the year owns it; earlier ones share it (and may step back a year).
    A year with nothing yearless before it is an item of its own ("2022 год").
    """
    items: list[_Item] = []
    pending: list[int] = []  # indexes in items still waiting for a year
    for token in tokens:
        is_year = token.kind == "years" and token.year == token.last
        is_school_year = token.kind == "academic" and token.last == (token.academic or 0) + 1
        if pending and (is_year or is_school_year):
            for i in pending:
                shared = i != pending[-1]
                if is_year:
                    items[i] = replace(items[i], year=token.year, shared=shared)
                else:
                    items[i] = replace(items[i], academic=token.academic, shared=shared)
            pending = []
            continue
        pending = [*pending, len(items)] if token.needs_year else []
        items.append(token)
    return items


# --- Spans -------------------------------------------------------------------------------------


def _months(year: int, first: int, count: int) -> Span:
    last = first + count - 1
    return date(year, first, 1), date(year, last, calendar.monthrange(year, last)[1])


def _occurrence(item: _Item, anchor: int, academic: bool) -> Span | None:
    """The item in the calendar year `anchor`, or the academic year starting then; None if none."""
    try:
        if item.kind in ("day", "month", "quarter"):
            first = item.month if item.kind != "quarter" else 3 * item.number - 2
            year = anchor + (first < 9) if academic else anchor  # Sep-Dec open the academic year
            if item.kind == "day":
                day = date(year, item.month, item.number)
                return day, day
            return _months(year, first, 1 if item.kind == "month" else 3)
        if item.kind == "half":
            if academic:
                return _months(anchor, 9, 4) if item.number == 1 else _months(anchor + 1, 1, 5)
            return _months(anchor, 1 if item.number == 1 else 7, 6)
        if item.kind == "term":  # school terms: Sep-Oct, Nov-Dec, Jan-Mar, Apr-May
            first, count = ((9, 2), (11, 2), (1, 3), (4, 2))[item.number - 1]
            in_second = item.number >= 3
            return _months(anchor + in_second if academic else anchor, first, count)
    except ValueError:
        return None
    raise AssertionError(item.kind)


def _fixed_span(item: _Item) -> Span:
    """The span of an item whose year is known."""
    if item.kind == "years":
        assert item.year is not None and item.last is not None
        return _date(item.year, 1, 1), _date(item.last, 12, 31)
    if item.kind == "academic":
        assert item.academic is not None and item.last is not None
        return _date(item.academic, 9, 1), _date(item.last, 8, 31)
    if item.academic is not None:
        span = _occurrence(item, item.academic, academic=True)
    else:
        assert item.year is not None
        span = _occurrence(item, item.year, academic=False)
    if span is None:
        raise _Unreadable(item.kind)
    return span


def _is_academic(period: Period) -> bool:
    """Whether the period reads as academic years (from September, or ending in August)."""
    return period.start.month in (8, 9) or period.end.month == 8


def _nearest(item: _Item, period: Period, after: date | None) -> Span:
    """A yearless item: its next occurrence after `after`, else its first inside the period."""
    academic = item.kind == "term" or (item.kind == "half" and _is_academic(period))
    ref = after or period.start
    found = (_occurrence(item, year, academic) for year in range(ref.year - 1, ref.year + 5))
    spans = sorted(span for span in found if span is not None)
    if not spans:
        raise _Unreadable(item.kind)  # "31 февраля" exists in no year
    if after is not None:
        return next((s for s in spans if s[0] >= after), spans[-1])
    fits_rules: tuple[Callable[[Span], bool], ...] = (
        lambda s: period.start <= s[0] <= period.end,  # starts inside the period
        lambda s: s[0] <= period.end and s[1] >= period.start,  # overlaps it
        lambda s: s[0] >= period.start,  # comes after it
    )
    for fits in fits_rules:
        for span in spans:
            if fits(span):
                return span
    return spans[-1]


def _resolve(items: Sequence[_Item], period: Period) -> list[Span]:
    """Spans for the items: written years first, then shared ones from the back, then the rest."""
    spans: list[Span | None] = [
        None if item.needs_year or item.shared else _fixed_span(item) for item in items
    ]
    for i in range(len(items) - 1, -1, -1):
        item = items[i]
        if not item.shared:
            continue
        span = _fixed_span(item)
        following = spans[i + 1] if i + 1 < len(spans) else None
        if following is not None and span[0] > following[0]:  # "ноябрь - февраль 2022"
            if item.academic is not None:
                span = _fixed_span(replace(item, academic=item.academic - 1))
            else:
                span = _fixed_span(replace(item, year=(item.year or 0) - 1))
        spans[i] = span
    resolved: list[Span] = []
    for item, known in zip(items, spans, strict=True):
        after = resolved[-1][0] if resolved else None
        resolved.append(known or _nearest(item, period, after))
    return resolved


@dataclass(frozen=True)
class _Dates:
    """The dates a text names, merged."""

    first_pos: int
    count: int
    start: date
    end: date


def _read_dates(text: str, period: Period) -> _Dates | None:
    """The dates in the text, or None when it names none."""
    tokens = _scan(text)
    if not tokens:
        return None
    items = _attach_years(tokens)
    spans = _resolve(items, period)
    return _Dates(tokens[0].pos, len(items), min(s[0] for s in spans), max(s[1] for s in spans))


# --- Readers, tried in order -------------------------------------------------------------------


def _recurring(text: str, period: Period) -> Deadline | None:
    """ "ежегодно (август)", "2 раза в год", "1 раз в квартал": the earliest frequency named."""
    found = [(m.start(), every) for pattern, every in _EVERY_WORDS if (m := pattern.search(text))]
    for m in _TIMES_PER.finditer(text):
        count_word = m.group("count") or m.group("adverb") or "1"
        unit = m.group("unit") or m.group("adverb_unit")
        if count_word.isdigit():
            count = int(count_word) if len(count_word) <= 6 else 0
        else:
            count = _COUNT_WORDS.get(count_word, 0)
        if count > 0:
            per_unit = next(n for stem, n in _UNITS_PER_YEAR if unit.startswith(stem))
            times = count * per_unit
            every = next((e for e, limit in _EVERY_LIMITS if times <= limit), "week")
            found.append((m.start(), every))
    if not found:
        return None
    every = min(found)[1]
    return Deadline(
        DeadlineKind.RECURRING, every=every, month=_single_month(text) if every == "year" else None
    )


def _single_month(text: str) -> int | None:
    """The month of "ежегодно (август)" or "ежегодно до 1 сентября"; None if none or several."""
    try:
        months = {item.month for item in _scan(text) if item.kind in ("day", "month")}
    except _Unreadable:
        return None
    return months.pop() if len(months) == 1 else None


def _on_demand(text: str, period: Period) -> Deadline | None:
    if _ON_DEMAND.search(text):
        return Deadline(DeadlineKind.ON_DEMAND, period.start, period.end)
    return None


def _external_leading(text: str, period: Period) -> Deadline | None:
    """Text that starts by pointing elsewhere; its dates are those of an order, not a deadline."""
    return Deadline(DeadlineKind.EXTERNAL) if _EXTERNAL_LEADING.match(text) else None


def _continuous(text: str, period: Period) -> Deadline | None:
    """ "в течение года" is the period; "в течение 2022 года" is that year as written."""
    if _CONTINUOUS_WORDS.search(text):
        return Deadline(DeadlineKind.CONTINUOUS, period.start, period.end)
    throughout = _THROUGHOUT.match(text)
    if not throughout:
        return None
    rest = text[throughout.end() :]
    dates = _read_dates(rest, period)
    if dates is not None:
        if not _ALL_OF.fullmatch(rest[: dates.first_pos]):
            return None  # "в течение года, до 1 октября 2021": the dates decide
        return Deadline(DeadlineKind.CONTINUOUS, dates.start, dates.end)
    if _PERIOD_WORDS.match(rest):
        return Deadline(DeadlineKind.CONTINUOUS, period.start, period.end)
    return None


def _dated(text: str, period: Period) -> Deadline | None:
    """Months, days, quarters, half-years and years, alone, in ranges or in lists."""
    dates = _read_dates(text, period)
    if dates is None:
        return None
    before = text[: dates.first_pos]
    if _BY_MARKER.search(before):
        return Deadline(DeadlineKind.BY, end=dates.end)
    if _SINCE_MARKER.search(before) and dates.count == 1:
        return Deadline(DeadlineKind.CONTINUOUS, dates.start, max(dates.end, period.end))
    if dates.count == 1 and dates.start == dates.end:
        return Deadline(DeadlineKind.BY, end=dates.end)
    return Deadline(DeadlineKind.WINDOW, dates.start, dates.end)


def _external_anywhere(text: str, period: Period) -> Deadline | None:
    return Deadline(DeadlineKind.EXTERNAL) if _EXTERNAL_ANYWHERE.search(text) else None


_READERS: tuple[Callable[[str, Period], Deadline | None], ...] = (
    _recurring,
    _on_demand,
    _external_leading,
    _continuous,
    _dated,
    _external_anywhere,
)


def _normalize(text: str) -> str:
    """Lower case, е for ё, one kind of dash, single spaces, no punctuation at the edges."""
    text = _DASHES.sub("-", text.lower().replace("ё", "е").replace("і", "i"))
    text = _EDGE_JUNK.sub("", re.sub(r"\s+", " ", text))
    return _LABEL.sub("", text)


def parse(text: str, period: Period) -> Deadline:
    """Read a roadmap's deadline text against its period; never raises, UNKNOWN when unreadable.

    >>> p = Period.parse("2021-09-01..2022-08-31")
    >>> parse("Февраль", p).to_json()
    {'kind': 'window', 'start': '2022-02-01', 'end': '2022-02-28', 'every': None, 'month': None}
    >>> parse("До 1 октября 2021 г", p).to_json()
    {'kind': 'by', 'start': None, 'end': '2021-10-01', 'every': None, 'month': None}
    >>> parse("ежегодно (август)", p).to_json()
    {'kind': 'recurring', 'start': None, 'end': None, 'every': 'year', 'month': 8}
    >>> window = parse("ноябрь - февраль", p)
    >>> window.kind.value, window.start.isoformat(), window.end.isoformat()
    ('window', '2021-11-01', '2022-02-28')
    >>> parse("31 февраля", p).kind
    <DeadlineKind.UNKNOWN: 'unknown'>
    """
    if not isinstance(text, str) or len(text) > MAX_TEXT_LENGTH:
        return UNKNOWN_DEADLINE
    normalized = _normalize(text)
    if not normalized:
        return UNKNOWN_DEADLINE
    try:
        for reader in _READERS:
            deadline = reader(normalized, period)
            if deadline is not None:
                return deadline
    except _Unreadable:
        pass
    return UNKNOWN_DEADLINE


def deadline_json(text: str, period: Period) -> str:
    """The parsed deadline as a JSON object, Cyrillic kept readable.

    >>> deadline_json("По графику", Period.parse("2021-09-01..2022-08-31"))
    '{"kind": "external", "start": null, "end": null, "every": null, "month": null}'
    """
    return json.dumps(parse(text, period).to_json(), ensure_ascii=False)
