"""School reports -> the municipal master workbook, as plain tables (pure: no files, no clock).

The master has seven sheets: Обзор (headline numbers and the chart), Свод (activities × schools),
Школы (one line per school), Мероприятия (every row of every school), Просрочено (the overdue
subset), Ошибки and Паспорта, and, when an earlier state is given, Изменения (what each school
changed since the end of the previous day). A
builder (sync.builders.master_xlsx) turns the tables into a workbook; nothing here knows about
openpyxl.
"""

from __future__ import annotations

import re
from array import array
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, tzinfo
from typing import Any, Protocol, overload

from sync.model import (
    SEVERITY_RU,
    Audience,
    CellValue,
    Plan,
    PlanItem,
    RowReport,
    SchoolReport,
    SchoolSheet,
    Severity,
)
from sync.review import (
    COMMENT_HEADER,
    KEY_HEADER,
    MARK_HEADER,
    REVIEW_STATE_RU,
    STATE_HEADER,
    ReviewPlan,
    ReviewState,
    encode_key,
    mark_of,
    row_digest,
    shown_token,
)
from sync.review import row_key as row_key  # re-exported: callers import it from here
from sync.spec import TemplateSpec, normalize_header
from sync.states import ControlKey, SchoolOutcome
from sync.status import fold, is_overdue, normalize_status

OVERVIEW_SHEET = "Обзор"
SUMMARY_SHEET = "Свод"
SCHOOLS_SHEET = "Школы"
ROWS_SHEET = "Мероприятия"
OVERDUE_SHEET = "Просрочено"
PROBLEMS_SHEET = "Ошибки"
PASSPORTS_SHEET = "Паспорта"
CHANGES_SHEET = "Изменения"
REVIEW_SHEET = "На проверке"

COORDINATOR_COLUMN = "МОУО"
NO_DATA = "нет данных"
DATE_FORMAT = "DD.MM.YYYY"
DATETIME_FORMAT = "DD.MM.YYYY HH:MM"
PERCENT_FORMAT = "0%"

# Used only when the spec has no fill for done/overdue.
DONE_FILL = "C6EFCE"
OVERDUE_FILL = "FFC7CE"
WARNING_FILL = "FFEB9C"

# Every master sheet: title (row 1), subtitle (2), colour legend (3), then the table's header.
HEADER_ROW = 4  # 1-based; the Excel add-in finds a school's column or row by this header
LOW_PERCENT = 0.5  # «% выполнения» below this is red unless the config says otherwise
UNREAD_DAYS = 7  # «Обзор» counts the schools without a successful read in this many days

# A legend entry: the fill it explains (None: a plain note) and what the colour means.
LegendEntry = tuple[str | None, str]

# Columns of Мероприятия and Просрочено after "Школа": (column key, header); headers of plan
# columns follow the template spec except the short "№".
# What a coordinator reads first comes first (a printed page across holds it): the activity, its
# deadline, the school's status, Контроль and the review columns; the long texts follow.
_ROW_KEYS = (
    "no",
    "activity",
    "deadline_text",
    "due",
    "status",
    "control",
    "review",
    "review_comment",
    "review_state",
    "done_on",
    "evidence",
    "executor",
    "comment",
    "section",
    "responsible",
    "planned_result",
    "row_key",
)
_REVIEW_HEADERS = {
    "review": MARK_HEADER,
    "review_comment": COMMENT_HEADER,
    "review_state": STATE_HEADER,
    "row_key": KEY_HEADER,
}


@dataclass
class MasterSheet:
    """One sheet of the master: a header row, data rows and how to show them."""

    name: str
    headers: list[str]
    # A list, or a spooled sequence read from disk on each pass (see LineStore).
    rows: Sequence[list[CellValue]]
    fills: Mapping[tuple[int, int], str] = field(
        default_factory=dict
    )  # (row, col) 0-based -> RRGGBB
    widths: list[float] = field(default_factory=list)
    number_formats: dict[int, str] = field(default_factory=dict)  # col index -> Excel format
    frozen_columns: int = 0  # columns kept in view when scrolling right
    chart_column: int | None = None  # a column to chart against the first one, if any
    # In the xlsx master the chart is drawn on «Обзор» (chart_of = the charted sheet's name).
    legend: list[LegendEntry] = field(default_factory=list)  # what this sheet's colours mean
    data_bar_column: int | None = None  # a 0..1 column shown with a data bar
    low_below: float | None = None  # values of data_bar_column below this are red
    chart_of: str | None = None  # the sheet whose chart_column this sheet charts (Обзор)
    # Protected against edits except `editable` columns of data rows (col index -> dropdown
    # choices, () for free text): the coordinator's review marks on «Мероприятия».
    editable: dict[int, tuple[str, ...]] = field(default_factory=dict)
    hidden_columns: tuple[int, ...] = ()  # col indexes kept in the file but not shown or printed
    # Paper shows only the first print_columns columns, one page across at 8 pt or more (the
    # rest are on screen only); None: every column, in as many pages across as it takes.
    print_columns: int | None = None


@dataclass
class Master:
    """The consolidated workbook as data."""

    sheets: list[MasterSheet]
    title: str
    subtitle: str = ""  # period and «по состоянию на», in the municipality's zone

    def sheet(self, name: str) -> MasterSheet:
        """The sheet with this name (KeyError when absent)."""
        for s in self.sheets:
            if s.name == name:
                return s
        raise KeyError(name)


def counts_as_done(school_id: str, row: RowReport, review: ReviewPlan | None) -> bool:
    """Whether a row counts as done: control «Выполнено» (never «На доработке»), and, with
    [review] done_requires_acceptance, accepted by the МОУО."""
    if row.control.key != ControlKey.DONE:
        return False
    return review is None or review.counts_as_done(row_key(school_id, row))


def awaits_review(
    school_id: str, row: RowReport, review: ReviewPlan | None, spec: TemplateSpec
) -> bool:
    """A row with status «Выполнено» the МОУО has not accepted as it is now (its to-do list)."""
    if normalize_status(row.values.get("status"), spec) != spec.statuses["done"]:
        return False
    state = review.state(row_key(school_id, row)) if review is not None else None
    return state in (
        None,
        ReviewState.NOT_REVIEWED,
        ReviewState.CHANGED_AFTER_ACCEPT,
        ReviewState.FIXED_AWAITING,
    )


def school_summary(
    report: SchoolReport, spec: TemplateSpec, review: ReviewPlan | None = None
) -> dict[str, int | float]:
    """Counts for one school: rows, done, overdue, soon, errors, warnings and percent done;
    with this run's `review`, also the rows on review and on rework.

    percent = done / (rows whose status is not the spec's «Не требуется»), 0.0 when there are none.
    «На доработке» is never done; with done_requires_acceptance only accepted rows are.
    """
    skip = normalize_header(spec.statuses["not_needed"])
    sid = report.school.id
    rows = counted = done = overdue = soon = on_review = rework = 0
    for r in report.rows:  # one pass: a run's spooled rows are read from disk on each pass
        rows += 1
        if normalize_header(r.values.get("status")) != skip:
            counted += 1
        key = r.control.key
        if key == ControlKey.DONE and counts_as_done(sid, r, review):
            done += 1
        if is_overdue(r.control):
            overdue += 1
        elif key == ControlKey.SOON:
            soon += 1
        if review is not None:
            if key == ControlKey.REWORK:
                rework += 1
            if awaits_review(sid, r, review, spec):
                on_review += 1
    errors = sum(1 for p in report.problems if p.severity is Severity.ERROR)
    counts: dict[str, int | float] = {
        "rows": rows,
        "done": done,
        "overdue": overdue,
        "soon": soon,
        "errors": errors,
        "warnings": len(report.problems) - errors,
        "percent": done / counted if counted else 0.0,
    }
    if review is not None:
        counts["on_review"] = on_review
        counts["rework"] = rework
    return counts


RowFills = dict[int, str] | None  # a line's fills by column (0-based), None for none


class Lines(Sequence[list[CellValue]]):
    """A sheet's lines made or read afresh on each pass instead of held: `records` gives each
    line with its fills in order (what the xlsx writer reads), `width` the longest line."""

    width = 0

    def records(self) -> Iterator[tuple[list[CellValue], RowFills]]:
        raise NotImplementedError

    def __len__(self) -> int:
        raise NotImplementedError

    def __iter__(self) -> Iterator[list[CellValue]]:
        for values, _ in self.records():
            yield values

    @overload
    def __getitem__(self, i: int) -> list[CellValue]: ...
    @overload
    def __getitem__(self, i: slice) -> list[list[CellValue]]: ...
    def __getitem__(self, i: int | slice) -> list[CellValue] | list[list[CellValue]]:
        return list(self)[i]  # every line up to it: the writers go in order

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]


class LinesFills(Mapping[tuple[int, int], str]):
    """The fills of Lines by (line, column), gathered when first asked for (the xlsx writer
    reads them line by line from `Lines.records` instead)."""

    def __init__(self, lines: Lines) -> None:
        self.lines = lines
        self._all: dict[tuple[int, int], str] | None = None

    def _gathered(self) -> dict[tuple[int, int], str]:
        if self._all is None:
            self._all = {
                (r, c): rgb
                for r, (_, fills) in enumerate(self.lines.records())
                if fills
                for c, rgb in fills.items()
            }
        return self._all

    def __getitem__(self, key: tuple[int, int]) -> str:
        return self._gathered()[key]

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return iter(self._gathered())

    def __len__(self) -> int:
        return len(self._gathered())

    def __bool__(self) -> bool:
        return any(fills for _, fills in self.lines.records())


class LineStore(Protocol):
    """Where a large sheet's lines go as they are made: a list here; the pipeline passes a
    spool on disk (sync.spool.SpooledLines) so a run's memory does not grow with its rows."""

    def add(self, values: list[CellValue], fills: dict[int, str] | None) -> None: ...

    def __len__(self) -> int: ...

    def parts(
        self, order: Sequence[int] | None = None
    ) -> tuple[Sequence[list[CellValue]], Mapping[tuple[int, int], str]]:
        """The sheet's rows and fills, in the order added or in `order` (indexes of lines; a
        store made with random_access=True)."""
        ...

    def close(self) -> None: ...


class ListLines:
    """A LineStore in memory: the rows as a list, the fills as a dict."""

    def __init__(self, *, random_access: bool = False) -> None:
        self.rows: list[list[CellValue]] = []
        self.fills: dict[tuple[int, int], str] = {}

    def __len__(self) -> int:
        return len(self.rows)

    def add(self, values: list[CellValue], fills: dict[int, str] | None) -> None:
        if fills:
            r = len(self.rows)
            for c, rgb in fills.items():
                self.fills[(r, c)] = rgb
        self.rows.append(values)

    def parts(
        self, order: Sequence[int] | None = None
    ) -> tuple[Sequence[list[CellValue]], Mapping[tuple[int, int], str]]:
        if order is None:
            return self.rows, self.fills
        at = {old: new for new, old in enumerate(order)}
        fills = {(at[r], c): rgb for (r, c), rgb in self.fills.items() if r in at}
        return [self.rows[i] for i in order], fills

    def close(self) -> None:
        pass


def consolidate(
    reports: Sequence[SchoolReport],
    plan: Plan,
    spec: TemplateSpec,
    today: date,
    municipality: str = "",
    previous: Baseline | None = None,
    *,
    as_of: datetime | None = None,
    zone: tzinfo | None = None,
    low_percent: float = LOW_PERCENT,
    review: ReviewPlan | None = None,
    summaries: Sequence[dict[str, int | float]] | None = None,
) -> Master:
    """Build every master sheet from this run's school reports and the plan.

    `review` (this run's review decisions, see sync.review) fills the review columns of
    «Мероприятия»; without it they show the marks as read from the schools' workbooks.
    `summaries`, when the caller has them already: school_summary of each report, in order.

    With `previous` (what the master of the previous day was built from) the master also gets
    «Изменения». Times are shown in `zone` (the municipality's), «по состоянию на» is `as_of`.
    """
    builder = MasterBuilder(
        plan,
        spec,
        today,
        municipality,
        previous,
        zone=zone,
        low_percent=low_percent,
        review=review,
    )
    given = summaries is not None and len(summaries) == len(reports)
    for i, report in enumerate(reports):
        builder.add(report, summaries[i] if given and summaries is not None else None)
    return builder.build(as_of)


class MasterBuilder:
    """The master built a school at a time: `add` each report in order (its rows are read once,
    there and then), then `build`. The per-row sheets («Мероприятия», «Просрочено»,
    «Изменения») go to `lines` stores; what is kept of a school otherwise is its report without
    rows, its counts and its column of «Свод» (a few bytes an activity)."""

    def __init__(
        self,
        plan: Plan,
        spec: TemplateSpec,
        today: date,
        municipality: str = "",
        previous: Baseline | None = None,
        *,
        zone: tzinfo | None = None,
        low_percent: float = LOW_PERCENT,
        review: ReviewPlan | None = None,
        lines: Callable[..., LineStore] = ListLines,
    ) -> None:
        self.plan, self.spec, self.today, self.municipality = plan, spec, today, municipality
        self.previous, self.zone, self.low_percent, self.review = (
            previous,
            zone,
            low_percent,
            review,
        )
        self.reports: list[SchoolReport] = []  # without their rows and passports
        self.sums = _Sums()
        self.categories: list[CellValue] = []
        self._passports = lines()
        self._rows = _RowLines(spec, review, lines(), lines())
        self._summary = _SummaryColumns(plan, review)
        self._awaiting = _Awaiting(spec, review, lines(random_access=True))
        self._changes = _ChangeLines(spec, previous, zone, lines()) if previous else None

    def add(self, report: SchoolReport, summary: dict[str, int | float] | None = None) -> None:
        """One school's report (its rows are not kept)."""
        if self.zone is not None:
            report = _in_zone(report, self.zone)
        if summary is None:
            summary = school_summary(report, self.spec, self.review)
        rows = list(report.rows)
        self._rows.add(report, rows)
        self._summary.add(report, rows)
        self._awaiting.add(report, rows)
        if self._changes is not None:
            self._changes.add(report, rows)
        self.categories.append(report.school.category or report.passport.get("category"))
        if not report.school.is_coordinator:  # the coordinator's workbook has no school card
            self._passports.add(_passport_line(report, self.spec), None)
        self.reports.append(replace(report, rows=[], passport={}))
        self.sums.append(summary)

    def build(self, as_of: datetime | None = None) -> Master:
        """Every sheet; «по состоянию на» is `as_of`."""
        where = f": {self.municipality.strip()}," if self.municipality.strip() else ""
        title = f"Свод дорожной карты{where} на {self.today:%d.%m.%Y}"
        moment = _local(as_of, self.zone) if as_of is not None else None
        period = self.plan.period
        subtitle = f"Период: {period.start:%d.%m.%Y} – {period.end:%d.%m.%Y}"
        subtitle += f"; по состоянию на {moment:%d.%m.%Y %H:%M}" if moment else ""
        if moment is not None and self.zone is not None and str(self.zone):
            subtitle += f" ({self.zone})"
        reports, spec, review, sums = self.reports, self.spec, self.review, self.sums
        schools = _schools_sheet(reports, spec, self.low_percent, review, sums, self.categories)
        rows, overdue = self._rows.sheets()
        sheets = [
            _overview_sheet(reports, spec, self.today, moment, schools, review, sums),
            self._summary.sheet(reports, spec),
            schools,
            rows,
            self._awaiting.sheet(),
            overdue,
            _problems_sheet(reports, spec),
            _passports_sheet(self._passports, spec),
        ]
        if self._changes is not None:
            sheets.insert(3, self._changes.sheet())
        return Master(sheets=sheets, title=title, subtitle=subtitle)

    def close(self) -> None:
        """Let go of the line stores (a spool's file is deleted)."""
        self._rows.all.close()
        self._rows.overdue.close()
        self._awaiting.lines.close()
        self._passports.close()
        if self._changes is not None:
            self._changes.lines.close()


def _local(moment: datetime, zone: tzinfo | None) -> datetime:
    """A wall-clock time in the municipality's zone (aware times converted, naive ones kept)."""
    if zone is not None and moment.tzinfo is not None:
        return moment.astimezone(zone)
    return moment


def _in_zone(report: SchoolReport, zone: tzinfo) -> SchoolReport:
    modified = _local(report.modified, zone) if report.modified else report.modified
    synced = _local(report.synced_at, zone) if report.synced_at else report.synced_at
    if modified is report.modified and synced is report.synced_at:
        return report
    return replace(report, modified=modified, synced_at=synced)


def _overview_sheet(
    reports: Sequence[SchoolReport],
    spec: TemplateSpec,
    today: date,
    moment: datetime | None,
    schools: MasterSheet,
    review: ReviewPlan | None = None,
    sums: Sequence[Mapping[str, int | float]] | None = None,
) -> MasterSheet:
    """«Обзор»: the headline numbers a head of department asks for, and the chart."""
    if sums is None:
        sums = [school_summary(r, spec, review) for r in reports]
    real = [r for r in reports if not r.school.is_coordinator]
    since = moment if moment is not None else datetime.combine(today, datetime.min.time())
    since = since - timedelta(days=UNREAD_DAYS)

    def unread(r: SchoolReport) -> bool:
        if r.outcome != SchoolOutcome.FAILED:
            return False
        if r.synced_at is None:
            return True
        at = r.synced_at
        if (at.tzinfo is None) != (since.tzinfo is None):
            at, cut = at.replace(tzinfo=None), since.replace(tzinfo=None)
        else:
            cut = since
        return at < cut

    rows_total = sum(int(s["rows"]) for s in sums)
    done = sum(int(s["done"]) for s in sums)
    overdue = sum(int(s["overdue"]) for s in sums)
    errors = sum(int(s["errors"]) for s in sums)
    with_errors = sum(1 for s in sums if s["errors"])
    rows: list[list[CellValue]] = [
        ["Школ", len(real), "без книги МОУО"],
        ["Мероприятий во всех книгах", rows_total, "строк всех книг, включая книгу МОУО"],
        ["Выполнено", done, f"{done / rows_total:.0%} всех мероприятий" if rows_total else ""],
        ["Просрочено", overdue, "срок прошёл, статус не «Выполнено»"],
        ["Ошибок заполнения", errors, f"в {with_errors} книгах; подробности — лист «Ошибки»"],
        [
            "Школ без чтения за неделю",
            sum(1 for r in reports if unread(r)),
            f"книга не читается {UNREAD_DAYS} дней и дольше или ещё ни разу; причины — «Школы»",
        ],
    ]
    rule = DONE_RULE_ACCEPTED if review and review.done_requires_acceptance else DONE_RULE_STATUS
    if review is not None:
        rows[2][2] = f"{rows[2][2]}; {rule}" if rows[2][2] else rule
        on_review = sum(int(s["on_review"]) for s in sums)
        rows += [
            [
                "На проверке у МОУО",
                on_review,
                f"«Выполнено», ещё не принято; список — лист «{REVIEW_SHEET}»",
            ],
            [
                "На доработке",
                sum(int(s["rework"]) for s in sums),
                "МОУО вернул строку школе; не считается выполненным",
            ],
        ]
    fills = {}
    if overdue:
        fills[(3, 1)] = _fill(spec, ControlKey.OVERDUE, OVERDUE_FILL)
    if errors:
        fills[(4, 1)] = _fill(spec, ControlKey.ERROR, OVERDUE_FILL)
    if rows[5][1]:
        fills[(5, 1)] = WARNING_FILL
    return MasterSheet(
        name=OVERVIEW_SHEET,
        headers=["Показатель", "Значение", "Пояснение"],
        rows=rows,
        fills=fills,
        widths=[30, 11, 60],
        legend=[
            (_fill(spec, ControlKey.OVERDUE, OVERDUE_FILL), "есть просрочка"),
            (_fill(spec, ControlKey.ERROR, OVERDUE_FILL), "есть ошибки"),
            (WARNING_FILL, "не все школы прочитаны"),
            *([(None, f"выполнено: {rule}")] if review is not None else []),
        ],
        chart_of=schools.name if schools.rows else None,
    )


def _column_names(reports: Sequence[SchoolReport]) -> list[str]:
    """A unique column header per report: the school's name, "МОУО" for the coordinator."""
    names: list[str] = []
    taken: set[str] = set()
    for r in reports:
        base = COORDINATOR_COLUMN if r.school.is_coordinator else (r.school.name or r.school.id)
        name = base if base not in taken else f"{base} ({r.school.id})"
        n = 2
        while name in taken:
            name = f"{base} ({n})"
            n += 1
        names.append(name)
        taken.add(name)
    return names


def control_legend(spec: TemplateSpec) -> list[LegendEntry]:
    """The control colours, in the order the template lists them, as their own words."""
    return [(c.fill, c.value) for c in spec.controls.values() if c.fill and c.value]


class _SummaryColumns:
    """«Свод», a school at a time: each school's column as a small index per activity into the
    distinct cells seen (a control's text and fill, whether it counts as done, overdue)."""

    def __init__(self, plan: Plan, review: ReviewPlan | None) -> None:
        self.plan, self.review = plan, review
        self.items = _in_section_order(plan.items)
        self._cells: dict[tuple[str, str | None, bool, bool], int] = {}
        self._columns: list[tuple[bool, array[int]]] = []  # (is the coordinator's, cell + 1)

    def add(self, report: SchoolReport, rows: Sequence[RowReport]) -> None:
        found: dict[tuple[str, str], RowReport] = {}
        for school_row in rows:
            if school_row.item is not None:
                found.setdefault(school_row.item.key, school_row)
        column = array("I", [0]) * len(self.items)  # 0: the school has no such row
        sid, cells = report.school.id, self._cells
        for i, item in enumerate(self.items):
            row = found.get(item.key)
            if row is None:
                continue
            control = row.control
            cell = (
                control.value,
                control.fill,
                counts_as_done(sid, row, self.review),
                is_overdue(control),
            )
            n = cells.get(cell)
            if n is None:
                n = cells[cell] = len(cells)
            column[i] = n + 1
        self._columns.append((report.school.is_coordinator, column))

    def sheet(self, reports: Sequence[SchoolReport], spec: TemplateSpec) -> MasterSheet:
        """The sheet, from the reports given to `add` (in the same order, rows not needed)."""
        # Schools in the order given, the coordinator's workbook last.
        order = [i for i, r in enumerate(reports) if not r.school.is_coordinator]
        order += [i for i, r in enumerate(reports) if r.school.is_coordinator]
        names = _column_names([reports[i] for i in order])
        columns: list[tuple[bool, array[int] | None]] = [self._columns[i] for i in order]
        has_coordinator_items = any(i.audience is Audience.COORDINATOR for i in self.plan.items)
        if has_coordinator_items and not any(reports[i].school.is_coordinator for i in order):
            names.append(COORDINATOR_COLUMN)  # "нет данных" until its workbook is read
            columns.append((True, None))
        headers = ["№ п/п", "Раздел", "Мероприятие", "Срок (дата)", *names]
        headers += ["Выполнено", "Просрочено"]
        rows = _SummaryLines(self.items, columns, list(self._cells), len(headers))
        fills = LinesFills(rows)
        return MasterSheet(
            name=SUMMARY_SHEET,
            headers=headers,
            rows=rows,
            fills=fills,
            widths=[7, 18, 48, 12, *(16.0 for _ in names), 11, 12],
            number_formats={3: DATE_FORMAT},
            frozen_columns=4,
            legend=[*control_legend(spec), (None, f"«{NO_DATA}» — книга не прочитана")],
        )


def _in_section_order(items: Sequence[PlanItem]) -> list[PlanItem]:
    """Items grouped by section, sections in order of first appearance (stable inside)."""
    first: dict[str, int] = {}
    for i in items:
        first.setdefault(i.section, len(first))
    return sorted(items, key=lambda i: first[i.section])


def _sync_text(report: SchoolReport) -> str:
    when = f"{report.synced_at:%d.%m.%Y %H:%M}" if report.synced_at else ""
    reason = report.message.strip()
    if report.outcome == SchoolOutcome.FAILED:
        return f"не прочитан: {reason}" if reason else "не прочитан"
    if report.outcome == SchoolOutcome.LOCKED:
        return f"файл открыт — пропущен: {reason}" if reason else "файл открыт — пропущен"
    if report.outcome == SchoolOutcome.UNCHANGED:
        return f"{when} (без изменений)".strip()
    return when


def _schools_sheet(
    reports: Sequence[SchoolReport],
    spec: TemplateSpec,
    low_percent: float = LOW_PERCENT,
    review: ReviewPlan | None = None,
    sums: Sequence[Mapping[str, int | float]] | None = None,
    categories: Sequence[CellValue] | None = None,
) -> MasterSheet:
    """One line per school. «% выполнения» has a data bar; red only below `low_percent`.
    `categories`: each school's, when its passport is no longer at hand."""
    overdue_fill = _fill(spec, ControlKey.OVERDUE, OVERDUE_FILL)
    if sums is None:
        sums = [school_summary(report, spec, review) for report in reports]
    if categories is None:
        categories = [r.school.category or r.passport.get("category") for r in reports]
    rows = _SchoolLines(reports, sums, categories, overdue_fill, low_percent)
    return MasterSheet(
        name=SCHOOLS_SHEET,
        headers=[
            "Школа",
            "Категория",
            "Мероприятий",
            "Выполнено",
            "Просрочено",
            "Ошибок",
            "% выполнения",
            "Изменено",
            "Синхронизация",
        ],
        rows=rows,
        fills=LinesFills(rows),
        widths=[40, 14, 13, 12, 12, 9, 13, 17, 30],
        number_formats={6: PERCENT_FORMAT, 7: DATETIME_FORMAT},
        frozen_columns=1,
        chart_column=6,
        legend=[
            (overdue_fill, f"«% выполнения» ниже {low_percent:.0%}; «Просрочено» больше нуля"),
            (None, "полоса в «% выполнения» — доля выполненного (без «Не требуется»)"),
        ],
        data_bar_column=6,
        low_below=low_percent,
    )


class _SchoolLines(Lines):
    """«Школы»'s lines, made from each school's report and counts on each pass."""

    width = 9

    def __init__(
        self,
        reports: Sequence[SchoolReport],
        sums: Sequence[Mapping[str, int | float]],
        categories: Sequence[CellValue],
        overdue_fill: str,
        low_percent: float,
    ) -> None:
        self.reports, self.sums, self.categories = reports, sums, categories
        self.overdue_fill, self.low_percent = overdue_fill, low_percent

    def __len__(self) -> int:
        return len(self.reports)

    def records(self) -> Iterator[tuple[list[CellValue], RowFills]]:
        for report, s, category in zip(self.reports, self.sums, self.categories, strict=True):
            line: list[CellValue] = [
                report.school.name or report.school.id,
                category,
                s["rows"],
                s["done"],
                s["overdue"],
                s["errors"],
                s["percent"],
                report.modified,
                _sync_text(report),
            ]
            fills: dict[int, str] = {}
            if s["overdue"]:
                fills[4] = self.overdue_fill
            if s["rows"] and s["percent"] < self.low_percent:
                fills[6] = self.overdue_fill
            yield line, fills or None


def _fill(spec: TemplateSpec, key: ControlKey, default: str) -> str:
    control = spec.controls.get(key)
    return control.fill if control and control.fill else default


def _row_headers(spec: TemplateSpec) -> list[str]:
    return ["Школа"] + ["№" if k == "no" else _header(spec, k) for k in _ROW_KEYS]


def _header(spec: TemplateSpec, key: str) -> str:
    if key in _REVIEW_HEADERS:
        return _REVIEW_HEADERS[key]
    try:
        return spec.column(key).header
    except KeyError:
        return key


def _row_values(report: SchoolReport, row: RowReport, review: ReviewPlan | None) -> list[CellValue]:
    """One line of «Мероприятия» (and «Просрочено»), in the order of _ROW_KEYS: the plan's
    texts from the plan row when matched, the school's values, the review columns."""
    key = row_key(report.school.id, row)
    seen = review.rows.get(key) if review is not None else None
    get, item = row.values.get, row.item
    if seen is not None:
        mark, comment = seen.mark, seen.comment
        marked: CellValue = seen.mark_text or None  # empty: None, no cell text to store
        reviewed = (seen.comment or None, REVIEW_STATE_RU[seen.state] or None)
    else:
        mark, comment = mark_of(get("review"))[0], ""
        marked, reviewed = get("review"), (None, None)
    first: tuple[CellValue, ...]  # №, activity, deadline text, due
    last: tuple[CellValue, ...]  # section, responsible, planned result
    if item is not None:
        first = (item.no, item.activity, item.deadline_text, item.due)
        last = (item.section, item.responsible, item.planned_result)
    else:
        first = (get("no"), get("activity"), get("deadline_text"), get("due"))
        last = (get("section"), get("responsible"), get("planned_result"))
    return [
        report.school.name or report.school.id,
        *first,
        get("status"),
        row.control.value,
        marked,
        *reviewed,
        get("done_on"),
        get("evidence"),
        get("executor"),
        get("comment"),
        *last,
        encode_key(key, row_digest(row.values), shown_token(mark, comment)),
    ]


class _SummaryLines(Lines):
    """«Свод»'s lines, made from the schools' columns on each pass (an activity's line holds a
    cell per school: kept, they would grow with the municipality)."""

    def __init__(
        self,
        items: Sequence[PlanItem],
        columns: Sequence[tuple[bool, array[int] | None]],
        cells: Sequence[tuple[str, str | None, bool, bool]],
        width: int,
    ) -> None:
        self.items, self.columns, self.cells, self.width = items, columns, cells, width

    def __len__(self) -> int:
        return len(self.items)

    def records(self) -> Iterator[tuple[list[CellValue], RowFills]]:
        cells = self.cells
        for r, item in enumerate(self.items):
            # Without a date the deadline text is more use to a reader than an empty cell.
            line: list[CellValue] = [
                item.no,
                item.section,
                item.activity,
                item.due or item.deadline_text,
            ]
            fills: dict[int, str] = {}
            done = overdue = 0
            coordinators = item.audience is Audience.COORDINATOR
            for c, (is_coordinator, column) in enumerate(self.columns):
                n = column[r] if column is not None else 0
                if is_coordinator != coordinators:
                    line.append(None)
                elif not n:
                    line.append(NO_DATA)
                else:
                    value, fill, is_done, is_late = cells[n - 1]
                    line.append(value)
                    if fill:
                        fills[4 + c] = fill
                    done += is_done
                    overdue += is_late
            line += [done, overdue]
            yield line, fills or None


class _RowLines:
    """«Мероприятия» and «Просрочено», a school at a time, into their line stores."""

    def __init__(
        self, spec: TemplateSpec, review: ReviewPlan | None, rows: LineStore, overdue: LineStore
    ) -> None:
        self.spec, self.review, self.all, self.overdue = spec, review, rows, overdue
        self.control_col = 1 + _ROW_KEYS.index("control")
        self.state_col = 1 + _ROW_KEYS.index("review_state")
        self.state_fills = review_fills(spec)

    def add(self, report: SchoolReport, rows: Sequence[RowReport]) -> None:
        review, sid = self.review, report.school.id
        for row in rows:
            fills: dict[int, str] | None = None
            if row.control.fill:
                fills = {self.control_col: row.control.fill}
            if review is not None:
                fill = self.state_fills.get(review.state(row_key(sid, row)))
                if fill:
                    fills = {**(fills or {}), self.state_col: fill}
            values = _row_values(report, row, review)
            self.all.add(values, fills)
            if is_overdue(row.control):
                self.overdue.add(values, fills)

    def sheets(self) -> tuple[MasterSheet, MasterSheet]:
        return (
            _rows_sheet(ROWS_SHEET, self.all, self.spec, only_overdue=False),
            _rows_sheet(OVERDUE_SHEET, self.overdue, self.spec, only_overdue=True),
        )


def _rows_sheet(
    name: str, lines: LineStore, spec: TemplateSpec, *, only_overdue: bool
) -> MasterSheet:
    rows, fills = lines.parts()
    widths: list[float] = [30]
    for key in _ROW_KEYS:
        try:
            widths.append(spec.column(key).width)
        except KeyError:
            widths.append(14)
    try:
        marks = spec.column("review").choices
    except KeyError:
        marks = ()
    return MasterSheet(
        name=name,
        headers=_row_headers(spec),
        rows=rows,
        fills=fills,
        widths=widths,
        number_formats={
            1 + _ROW_KEYS.index("due"): DATE_FORMAT,
            1 + _ROW_KEYS.index("done_on"): DATE_FORMAT,
        },
        frozen_columns=2,
        legend=control_legend(spec) + _review_legend(spec),
        editable=(
            {}
            if only_overdue  # marks are typed on «Мероприятия» only
            else {1 + _ROW_KEYS.index("review"): marks, 1 + _ROW_KEYS.index("review_comment"): ()}
        ),
        hidden_columns=(1 + _ROW_KEYS.index("row_key"),),
        print_columns=1 + _ROW_KEYS.index("done_on") + 1,  # school … Дата выполнения
    )


DONE_RULE_STATUS = "считаются строки «Выполнено», кроме отправленных МОУО на доработку"
DONE_RULE_ACCEPTED = (
    "считаются только строки, принятые МОУО («Принято»): [review] done_requires_acceptance"
)
NOT_REVIEWED_TEXT = "Не проверено"


def review_fills(spec: TemplateSpec) -> dict[ReviewState, str]:
    """The colour of each review state in «Проверка» (none for a row not reviewed)."""
    return {
        ReviewState.ACCEPTED: _fill(spec, ControlKey.DONE, DONE_FILL),
        ReviewState.REWORK: _fill(spec, ControlKey.REWORK, "D9D2E9"),
        ReviewState.CHANGED_AFTER_ACCEPT: WARNING_FILL,
        ReviewState.FIXED_AWAITING: WARNING_FILL,
    }


def _review_legend(spec: TemplateSpec) -> list[LegendEntry]:
    fills = review_fills(spec)
    return [
        (fills[ReviewState.CHANGED_AFTER_ACCEPT], "«Проверка»: изменено после отметки МОУО"),
        (None, f"отметки МОУО ставятся в «{MARK_HEADER}» и «{COMMENT_HEADER}» этого листа"),
    ]


def review_sheet(
    reports: Sequence[SchoolReport], spec: TemplateSpec, review: ReviewPlan | None
) -> MasterSheet:
    """«На проверке»: the coordinator's to-do list — rows marked «Выполнено» and not accepted
    as they are now, oldest first (by «Дата выполнения», then when the workbook changed)."""
    awaiting = _Awaiting(spec, review, ListLines())
    for report in reports:
        awaiting.add(report, list(report.rows))
    return awaiting.sheet()


class _Awaiting:
    """«На проверке», a school at a time: the lines awaiting review go to a line store, each
    with its place in the oldest-first order as two integers (_microseconds)."""

    def __init__(self, spec: TemplateSpec, review: ReviewPlan | None, lines: LineStore) -> None:
        self.spec, self.review, self.lines = spec, review, lines
        self.fills_of = review_fills(spec)
        self.days = array("q")  # «Дата выполнения», undated lines last
        self.changed = array("q")  # when the school's workbook changed

    def add(self, report: SchoolReport, rows: Sequence[RowReport]) -> None:
        review, sid = self.review, report.school.id
        when = report.modified.replace(tzinfo=None) if report.modified else datetime.max
        changed = _microseconds(when)
        for row in rows:
            if not awaits_review(sid, row, review, self.spec):
                continue
            key = row_key(sid, row)
            state = review.state(key) if review else ReviewState.NOT_REVIEWED
            seen = review.rows.get(key) if review else None
            item, get = row.item, row.values.get
            day = get("done_on")
            line: list[CellValue] = [
                report.school.name or report.school.id,
                item.no if item is not None else get("no"),
                item.activity if item is not None else get("activity"),
                item.due if item is not None else get("due"),
                day,
                REVIEW_STATE_RU[state] or NOT_REVIEWED_TEXT,
                get("evidence"),
                get("comment"),
                seen.mark_text if seen is not None else None,
                seen.comment if seen is not None else None,
            ]
            fill = self.fills_of.get(state)
            self.lines.add(line, {5: fill} if fill else None)
            self.days.append(_microseconds(day) if isinstance(day, date) else UNDATED)
            self.changed.append(changed)

    def sheet(self) -> MasterSheet:
        spec, fills_of, days, changed = self.spec, self.fills_of, self.days, self.changed
        rows: Sequence[list[CellValue]]
        fills: Mapping[tuple[int, int], str]
        if len(self.lines):
            order = sorted(range(len(days)), key=lambda i: (days[i], changed[i]))  # stable
            rows, fills = self.lines.parts(order)
        else:
            rows = [["", "", "Всё выполненное проверено", None, None, "", "", "", "", ""]]
            fills = {}
        return MasterSheet(
            name=REVIEW_SHEET,
            headers=[
                "Школа",
                "№",
                _header(spec, "activity"),
                _header(spec, "due"),
                _header(spec, "done_on"),
                STATE_HEADER,
                _header(spec, "evidence"),
                _header(spec, "comment"),
                "Прежняя отметка",
                "Прежний комментарий МОУО",
            ],
            rows=rows,
            fills=fills,
            # One printed page across (A4 landscape, as «Мероприятия»): about 180 characters.
            widths=[22, 5, 38, 11, 11, 15, 24, 20, 12, 20],
            number_formats={3: DATE_FORMAT, 4: DATE_FORMAT},
            frozen_columns=2,
            legend=[
                (
                    None,
                    "строки со статусом «Выполнено», ещё не принятые МОУО; сначала самые давние",
                ),
                (fills_of[ReviewState.CHANGED_AFTER_ACCEPT], "изменено после отметки МОУО"),
                (
                    None,
                    f"отметку ставьте на листе «{ROWS_SHEET}» в «{MARK_HEADER}»"
                    f" («Принято» или «На доработке») и «{COMMENT_HEADER}»",
                ),
            ],
        )


def _problems_sheet(reports: Sequence[SchoolReport], spec: TemplateSpec) -> MasterSheet:
    found = [(report, p) for report in reports for p in report.problems]
    found.sort(key=lambda rp: rp[1].severity is not Severity.ERROR)  # stable: errors first
    error_fill = _fill(spec, ControlKey.ERROR, OVERDUE_FILL)
    rows: list[list[CellValue]] = []
    fills: dict[tuple[int, int], str] = {}
    for r, (report, p) in enumerate(found):
        rows.append(
            [
                report.school.name or report.school.id,
                SEVERITY_RU.get(p.severity, str(p.severity)),
                p.sheet,
                p.cell,
                p.message,
            ]
        )
        fills[(r, 1)] = error_fill if p.severity is Severity.ERROR else WARNING_FILL
    return MasterSheet(
        name=PROBLEMS_SHEET,
        headers=["Школа", "Важность", "Лист", "Ячейка", "Сообщение"],
        rows=rows,
        fills=fills,
        widths=[40, 15, 20, 9, 80],
        frozen_columns=1,
        legend=[
            (error_fill, SEVERITY_RU.get(Severity.ERROR, "ошибка")),
            (WARNING_FILL, SEVERITY_RU.get(Severity.WARNING, "предупреждение")),
        ],
    )


def _passport_line(report: SchoolReport, spec: TemplateSpec) -> list[CellValue]:
    line: list[CellValue] = [report.school.name or report.school.id]
    for f in spec.passport:
        line.append(report.passport.get(f.key, report.passport.get(f.label)))
    return line


def _passports_sheet(lines: LineStore, spec: TemplateSpec) -> MasterSheet:
    rows, _ = lines.parts()
    return MasterSheet(
        name=PASSPORTS_SHEET,
        headers=["Школа", *(f.label for f in spec.passport)],
        rows=rows,
        widths=[40, *(24.0 for _ in spec.passport)],
        frozen_columns=1,
    )


class _Sums(Sequence[Mapping[str, int | float]]):
    """Each school's counts (school_summary), a column of numbers per count rather than a
    dict per school."""

    def __init__(self) -> None:
        self._keys: list[tuple[str, bool]] = []  # each count and whether it is an integer
        self._columns: list[array[float]] = []
        self._count = 0

    def append(self, summary: Mapping[str, int | float]) -> None:
        if not self._keys:
            self._keys = [(k, not isinstance(v, float)) for k, v in summary.items()]
            self._columns = [array("d") for _ in self._keys]
        if [k for k, _ in self._keys] != list(summary):
            raise ValueError("every summary has the same counts")
        for column, value in zip(self._columns, summary.values(), strict=True):
            column.append(value)
        self._count += 1

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, i: int) -> Mapping[str, int | float]: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[Mapping[str, int | float]]: ...
    def __getitem__(
        self, i: int | slice
    ) -> Mapping[str, int | float] | Sequence[Mapping[str, int | float]]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self._count))]
        if not -self._count <= i < self._count:
            raise IndexError(i)
        return {
            k: int(column[i]) if whole else column[i]
            for (k, whole), column in zip(self._keys, self._columns, strict=True)
        }


# --- Изменения: this run against the state the previous master was built from -------------------


@dataclass(frozen=True)
class SchoolBefore:
    """One school as the previous master saw it: statuses and controls per row, its problems."""

    at: datetime  # when that state was read
    statuses: dict[str, str | None]  # row key -> canonical status
    controls: dict[str, str]  # row key -> control key
    labels: dict[str, tuple[str, str]]  # row key -> (№, activity) for rows gone since
    problems: dict[tuple[str, str, str, str], str]  # (code, sheet, cell, field) -> message
    rows_of_cells: dict[int, str] = field(default_factory=dict)  # sheet row -> row key
    problem_rows: dict[tuple[str, str, str, str], int] = field(default_factory=dict)  # -> sheet row

    @classmethod
    def from_read(
        cls,
        at: datetime,
        sheet: SchoolSheet,
        problems: Sequence[Mapping[str, Any]],
        controls: Mapping[int, str],
        spec: TemplateSpec,
    ) -> SchoolBefore:
        """Build it from a stored read: the snapshot, its problems JSON and its controls."""
        keys = _row_keys([(r.values.get("no"), r.values.get("activity")) for r in sheet.rows])
        statuses, ctl, labels, rows_of_cells = {}, {}, {}, {}
        for key, row in zip(keys, sheet.rows, strict=True):
            statuses[key] = normalize_status(row.values.get("status"), spec)
            labels[key] = (_text(row.values.get("no")), _text(row.values.get("activity")))
            rows_of_cells[row.row] = key
            if row.row in controls:
                ctl[key] = controls[row.row]
        found: dict[tuple[str, str, str, str], str] = {}
        problem_rows: dict[tuple[str, str, str, str], int] = {}
        for p in problems:
            sheet_name, cell = str(p.get("sheet", "")), str(p.get("cell", ""))
            ident = (str(p.get("code", "")), sheet_name, cell, str(p.get("field", "")))
            found[ident] = str(p.get("message", ""))
            at_row = p["row"] if "row" in p else _old_row(sheet_name, cell, spec)
            if isinstance(at_row, int):
                problem_rows[ident] = at_row
        return cls(at, statuses, ctl, labels, found, rows_of_cells, problem_rows)


@dataclass(frozen=True)
class Baseline:
    """What the previous master was built from: its run's start and each school's state then."""

    run_at: datetime | None  # None: there was no complete run before this one
    schools: Mapping[str, SchoolBefore] = field(default_factory=dict)


CHANGE_STATUS = "Статус"
CHANGE_CONTROL = "Контроль"
CHANGE_NEW = "Новое замечание"
CHANGE_FIXED = "Исправлено"
CHANGE_FIRST = "Первое чтение"
CHANGE_ADDED = "Строка добавлена"
CHANGE_REMOVED = "Строка удалена"
CHANGE_NONE = "Изменений нет"
EMPTY = "(пусто)"


def _text(value: CellValue) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return "" if value is None else str(value).strip()


def _row_keys(labels: Sequence[tuple[CellValue, CellValue]]) -> list[str]:
    """A stable identity per row: its № and activity, numbered when a pair repeats."""
    seen: Counter[str] = Counter()
    keys = []
    for no, activity in labels:
        base = f"{_text(no)}|{fold(_text(activity))}"
        seen[base] += 1
        keys.append(base if seen[base] == 1 else f"{base}#{seen[base]}")
    return keys


def _old_row(sheet: str, cell: str, spec: TemplateSpec) -> int | None:
    """The main sheet's row of a problem stored before the history kept `Problem.row`."""
    m = re.fullmatch(r"\$?[A-Za-z]+\$?(\d+)", cell.strip()) if sheet == spec.main_sheet else None
    return int(m.group(1)) if m else None


@dataclass(frozen=True)
class Change:
    """One line of «Изменения»: a row's or a problem's change in one school."""

    no: str
    activity: str
    change: str  # CHANGE_STATUS, CHANGE_NEW, …
    was: str = ""
    now: str = ""
    where: str = ""  # Sheet!A1 of a problem
    fill: str | None = None  # RRGGBB of the «Стало» cell


def school_changes(
    report: SchoolReport,
    before: SchoolBefore | None,
    spec: TemplateSpec,
    rows: Sequence[RowReport] | None = None,
) -> list[Change]:
    """What changed in one school, in order (`rows`: the report's rows, when already at hand).

    Status changes row by row, rows that became overdue without a status change, new problems
    and fixed ones. Pure: both sides are data.
    """
    if rows is None:
        rows = list(report.rows)
    if before is None:
        if report.outcome == SchoolOutcome.FAILED and not rows:
            return []  # never read yet: nothing to compare, «Школы» says why
        return [Change("", "", CHANGE_FIRST, now="книга прочитана впервые")]
    return _row_changes(rows, before, spec) + _problem_changes(report, rows, before, spec)


def _row_changes(
    rows: Sequence[RowReport], before: SchoolBefore, spec: TemplateSpec
) -> list[Change]:
    """Rows added, removed, with another status, or newly overdue."""
    done_fill = _fill(spec, ControlKey.DONE, DONE_FILL)
    overdue_fill = _fill(spec, ControlKey.OVERDUE, OVERDUE_FILL)
    control_text = {k: c.value for k, c in spec.controls.items()}
    lines: list[Change] = []
    keys = _row_keys([(r.values.get("no"), r.values.get("activity")) for r in rows])
    for key, row in zip(keys, rows, strict=True):
        no, activity = _text(row.values.get("no")), _text(row.values.get("activity"))
        if key not in before.statuses:
            lines.append(Change(no, activity, CHANGE_ADDED, now="строка появилась в книге"))
            continue
        old, new = before.statuses[key], normalize_status(row.values.get("status"), spec)
        was_control = before.controls.get(key)
        if old != new:
            fill = done_fill if row.control.key == ControlKey.DONE else None
            lines.append(Change(no, activity, CHANGE_STATUS, old or EMPTY, new or EMPTY, fill=fill))
        elif row.control.key == ControlKey.OVERDUE and was_control not in (
            None,
            ControlKey.OVERDUE,
        ):
            assert was_control is not None
            was = control_text.get(was_control, was_control)
            lines.append(
                Change(no, activity, CHANGE_CONTROL, was, row.control.value, fill=overdue_fill)
            )
    for key in before.statuses.keys() - set(keys):
        no, activity = before.labels.get(key, ("", ""))
        lines.append(Change(no, activity, CHANGE_REMOVED, was="строка была в книге"))
    return lines


def _where(sheet: str, cell: str) -> str:
    return f"{sheet}!{cell}" if cell else sheet


def _problem_changes(
    report: SchoolReport, rows: Sequence[RowReport], before: SchoolBefore, spec: TemplateSpec
) -> list[Change]:
    """Problems new since `before`, then those fixed, each on its row's № and activity."""
    done_fill = _fill(spec, ControlKey.DONE, DONE_FILL)
    error_fill = _fill(spec, ControlKey.ERROR, OVERDUE_FILL)
    label_at = {
        row.sheet_row: (_text(row.values.get("no")), _text(row.values.get("activity")))
        for row in rows
    }
    lines: list[Change] = []
    current = {(p.code, p.sheet, p.cell, p.field): p for p in report.problems}
    for ident, p in current.items():
        if ident in before.problems:
            continue
        no, activity = label_at.get(p.row, ("", "")) if p.row is not None else ("", "")
        fill = error_fill if p.severity is Severity.ERROR else WARNING_FILL
        lines.append(Change(no, activity, CHANGE_NEW, "", p.message, _where(p.sheet, p.cell), fill))
    for ident, message in before.problems.items():
        if ident in current:
            continue
        _code, sheet, cell, _field = ident
        sheet_row = before.problem_rows.get(ident)
        gone = before.rows_of_cells.get(sheet_row) if sheet_row is not None else None
        no, activity = before.labels.get(gone, ("", "")) if gone else ("", "")
        lines.append(
            Change(
                no, activity, CHANGE_FIXED, message, "исправлено", _where(sheet, cell), done_fill
            )
        )
    return lines


def changes_sheet(
    reports: Sequence[SchoolReport],
    previous: Baseline,
    spec: TemplateSpec,
    zone: tzinfo | None = None,
) -> MasterSheet:
    """«Изменения»: per school, what changed since the state `previous` holds.

    The pipeline passes the state at the end of the previous day (the newest complete run before
    today's midnight), so a quiet run late in the day still shows what changed earlier that day.
    """
    changes = _ChangeLines(spec, previous, zone, ListLines())
    for report in reports:
        changes.add(report, report.rows)
    return changes.sheet()


UNDATED = 1 << 62  # after every date's _microseconds (date.max is about 2**58)


def _microseconds(moment: date) -> int:
    """A date or a wall-clock time as microseconds since 1 January of year 1 (a date at
    midnight): one integer that orders dates and times together, to the microsecond.

    >>> _microseconds(date(2025, 1, 2)) < _microseconds(datetime(2025, 1, 2, 8))
    True
    >>> _microseconds(datetime(2025, 1, 2, 8, 0, 0, 1)) - _microseconds(datetime(2025, 1, 2, 8))
    1
    >>> _microseconds(datetime.max) < UNDATED
    True
    """
    days = moment.toordinal() * 86_400_000_000
    if isinstance(moment, datetime):
        seconds = moment.hour * 3600 + moment.minute * 60 + moment.second
        return days + seconds * 1_000_000 + moment.microsecond
    return days


class _ChangeLines:
    """«Изменения», a school at a time, into a line store."""

    def __init__(
        self, spec: TemplateSpec, previous: Baseline, zone: tzinfo | None, lines: LineStore
    ) -> None:
        self.spec, self.previous, self.zone, self.lines = spec, previous, zone, lines
        self.count = 0

    def add(self, report: SchoolReport, rows: Sequence[RowReport]) -> None:
        before = self.previous.schools.get(report.school.id)
        since: CellValue = _local(before.at, self.zone).replace(tzinfo=None) if before else None
        name = report.school.name or report.school.id
        for c in school_changes(report, before, self.spec, rows):
            self.lines.add(
                [name, c.no, c.activity, c.change, c.was, c.now, c.where, since],
                {5: c.fill} if c.fill else None,
            )
            self.count += 1

    def sheet(self) -> MasterSheet:
        spec, previous = self.spec, self.previous
        rows: Sequence[list[CellValue]]
        fills: Mapping[tuple[int, int], str]
        if self.count:
            rows, fills = self.lines.parts()
        else:
            run_at = _local(previous.run_at, self.zone) if previous.run_at is not None else None
            since_text = f" с {run_at:%d.%m.%Y %H:%M}" if run_at is not None else ""
            rows = [["", "", "", CHANGE_NONE, "", f"изменений нет{since_text}", "", None]]
            fills = {}
        return MasterSheet(
            name=CHANGES_SHEET,
            headers=[
                "Школа",
                "№ п/п",
                "Мероприятие",
                "Что изменилось",
                "Было",
                "Стало",
                "Где",
                "По сравнению с",
            ],
            rows=rows,
            fills=fills,
            widths=[40, 7, 48, 18, 30, 30, 22, 17],
            number_formats={7: DATETIME_FORMAT},
            frozen_columns=1,
            legend=[
                (_fill(spec, ControlKey.DONE, DONE_FILL), "выполнено или исправлено"),
                (_fill(spec, ControlKey.OVERDUE, OVERDUE_FILL), "стало просрочено"),
                (_fill(spec, ControlKey.ERROR, OVERDUE_FILL), "новая ошибка"),
                (WARNING_FILL, "новое предупреждение"),
                (None, "с конца предыдущего дня"),
            ],
        )
