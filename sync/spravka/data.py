"""The справка's numbers: the history's snapshots through sync.consolidate, read off the master.

The master and the справка must never disagree, so nothing is counted twice: each school's newest
snapshot read on or before the day the справка is made "as of" is validated for that day exactly
as the sync does (sync.validation.check_school), consolidated (sync.consolidate.consolidate), and
every number here is read off the master's sheets «Школы», «Мероприятия» and «Просрочено».
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from sync.config import Config
from sync.consolidate import (
    OVERDUE_SHEET,
    ROWS_SHEET,
    SCHOOLS_SHEET,
    Master,
    MasterSheet,
    consolidate,
    row_key,
)
from sync.history import History, sheet_from_json
from sync.model import CellValue, Plan, SchoolReport
from sync.review import (
    REVIEW_STATE_RU,
    STATE_HEADER,
    ReviewPlan,
    ReviewState,
    review_of,
    row_digest,
)
from sync.spec import TemplateSpec, normalize_header
from sync.states import SchoolOutcome
from sync.status import normalize_status, rework_control
from sync.text import MONTHS_GENITIVE
from sync.validation import check_school

from .record import PastSpravka

NEVER_READ = "книга ещё не прочитана синхронизацией"
NO_SECTION = "Все мероприятия (разделы в плане не указаны)"


def ru_date(day: date) -> str:
    """«15 января 2022 г.»: the date as an official document writes it.

    >>> ru_date(date(2022, 1, 15))
    '15 января 2022 г.'
    """
    return f"{day.day} {MONTHS_GENITIVE[day.month - 1]} {day.year} г."


def short_date(value: CellValue) -> str:
    if isinstance(value, datetime):
        return f"{value:%d.%m.%Y}"
    if isinstance(value, date):
        return f"{value:%d.%m.%Y}"
    return "" if value is None else str(value).strip()


def percent_text(part: int, whole: int) -> str:
    """«42 %» (a non-breaking space, as Russian typography wants); «—» when there is no whole."""
    return f"{round(100 * part / whole)}\u00a0%" if whole else "—"


# --- the snapshots ----------------------------------------------------------------------------


def reports_as_of(
    config: Config, history: History, plan: Plan, spec: TemplateSpec, as_of: date
) -> tuple[list[SchoolReport], int | None]:
    """Each school's newest snapshot from a run made on or before `as_of`, checked for that day.

    Returns the reports (a school never read gets an empty «failed» one, as in the master) and
    the newest run they come from (None: no run yet).
    """
    rows = history.conn.execute(
        "SELECT r.school_id, r.run_id, r.at, r.modified, s.data FROM reads r"
        " JOIN snapshots s ON s.hash = r.snapshot"
        " JOIN (SELECT rd.school_id, MAX(rd.run_id) AS run_id FROM reads rd"
        "  JOIN runs u ON u.id = rd.run_id"
        "  WHERE rd.snapshot IS NOT NULL AND u.today <= ? GROUP BY rd.school_id) AS n"
        " ON r.school_id = n.school_id AND r.run_id = n.run_id",
        (as_of.isoformat(),),
    ).fetchall()
    found = {sid: (run_id, at, modified, data) for sid, run_id, at, modified, data in rows}
    reports: list[SchoolReport] = []
    newest: int | None = None
    for school in config.all_workbooks():
        if school.id not in found:
            reports.append(SchoolReport(school, outcome=SchoolOutcome.FAILED, message=NEVER_READ))
            continue
        run_id, at, modified, data = found[school.id]
        newest = max(newest or 0, run_id)
        sheet = sheet_from_json(data)
        checked, problems = check_school(sheet, school, plan, spec, as_of, config.soon_days)
        reports.append(
            SchoolReport(
                school,
                checked,
                dict(sheet.passport),
                problems,
                SchoolOutcome.UNCHANGED,
                "",
                datetime.fromisoformat(modified) if modified else None,
                datetime.fromisoformat(at),
            )
        )
    return reports, newest


# --- the справка as data ----------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    """One line of a per-section or per-school table."""

    name: str
    activities: int
    done: int
    overdue: int
    not_done: int
    counted: int  # activities whose status is not «Не требуется»
    category: str = ""
    note: str = ""  # why a school has no data

    @property
    def percent(self) -> str:
        return percent_text(self.done, self.counted)

    @property
    def share(self) -> float:
        return self.done / self.counted if self.counted else 0.0


@dataclass(frozen=True)
class ActivityLine:
    """An overdue or not-done activity with the school's own explanation («Комментарий»)."""

    school: str
    no: str
    activity: str
    due: str
    status: str
    comment: str


@dataclass(frozen=True)
class ChangeLine:
    """One school (or the total) now against the previous справка."""

    name: str
    done_before: int | None
    done_now: int
    overdue_before: int | None
    overdue_now: int

    @staticmethod
    def _delta(before: int | None, now: int) -> str:
        if before is None:
            return "новая"
        d = now - before
        return f"+{d}" if d > 0 else ("0" if d == 0 else f"−{-d}")

    @property
    def done_delta(self) -> str:
        return self._delta(self.done_before, self.done_now)

    @property
    def overdue_delta(self) -> str:
        return self._delta(self.overdue_before, self.overdue_now)


@dataclass
class Spravka:
    """Everything the document shows; `master` is what the numbers were read from."""

    municipality: str
    period_start: date
    period_end: date  # the end of the period the справка covers: min(as_of, the plan's end)
    as_of: date
    schools_count: int  # schools, without the МОУО's own workbook
    not_read: list[str]  # schools with no snapshot yet
    total: Line
    on_review: int  # done, not accepted by the МОУО as it is now (as the master's «На проверке»)
    accepted: int  # «Принято», the row unchanged since
    rework: int  # «На доработке», the row unchanged since
    sections: list[Line]
    schools: list[Line]
    overdue: list[ActivityLine]
    not_done: list[ActivityLine]
    master: Master
    previous: PastSpravka | None = None
    changes: list[ChangeLine] = field(default_factory=list)

    def numbers(self) -> dict[str, Any]:
        """What the history keeps of this справка, for the next one to compare with."""
        return {
            "total": {"done": self.total.done, "overdue": self.total.overdue},
            "schools": {
                s.name: {"done": s.done, "overdue": s.overdue, "activities": s.activities}
                for s in self.schools
            },
        }


def _column(sheet: MasterSheet, header: str) -> int:
    return sheet.headers.index(header)


def _int(value: CellValue) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


@dataclass
class _Tallies:
    """What one pass over «Мероприятия» counts."""

    by_section: dict[str, list[int]] = field(default_factory=dict)
    # name -> [activities, done, overdue, not_done, counted]
    by_school_not_done: dict[str, int] = field(default_factory=dict)
    not_done: list[ActivityLine] = field(default_factory=list)
    on_review: int = 0
    accepted: int = 0
    rework: int = 0


def _tally_rows(
    rows_sheet: MasterSheet, spec: TemplateSpec, done_requires_acceptance: bool
) -> _Tallies:
    """Counts by section, the not-done rows and the review counts, off «Мероприятия»."""
    col = {key: _column(rows_sheet, _header(spec, key)) for key in _ROW_FIELDS}
    school_col = 0
    done_status = spec.statuses["done"]
    failed_status = spec.statuses["failed"]
    skip = normalize_header(spec.statuses["not_needed"])
    done_value = spec.controls["done"].value
    state_col = rows_sheet.headers.index(STATE_HEADER) if STATE_HEADER in rows_sheet.headers else -1
    accepted_text = REVIEW_STATE_RU[ReviewState.ACCEPTED]
    rework_text = REVIEW_STATE_RU[ReviewState.REWORK]
    t = _Tallies()
    for r in rows_sheet.rows:
        status = normalize_status(r[col["status"]], spec)
        control = r[col["control"]]
        state = str(r[state_col] or "") if state_col >= 0 else ""
        section = str(r[col["section"]] or "").strip() or NO_SECTION
        counts = t.by_section.setdefault(section, [0, 0, 0, 0, 0])
        counts[0] += 1
        counts[1] += control == done_value and (
            not done_requires_acceptance or state == accepted_text
        )
        counts[4] += normalize_header(r[col["status"]]) != skip
        if status == failed_status:
            counts[3] += 1
            school = str(r[school_col])
            t.by_school_not_done[school] = t.by_school_not_done.get(school, 0) + 1
            t.not_done.append(_activity(r, col, school_col))
        if status == done_status and state == accepted_text:
            t.accepted += 1
        elif status == done_status and state != rework_text:
            t.on_review += 1  # as the master's «На проверке»: not reviewed, changed, fixed
        t.rework += state == rework_text
    return t


def _school_lines(
    master: Master,
    reports: Sequence[SchoolReport],
    spec: TemplateSpec,
    not_done: dict[str, int],
) -> list[Line]:
    """One line per school, its numbers as «Школы» shows them."""
    skip = normalize_header(spec.statuses["not_needed"])
    schools_sheet = master.sheet(SCHOOLS_SHEET)
    sc = {h: i for i, h in enumerate(schools_sheet.headers)}
    by_report = {r.school.name or r.school.id: r for r in reports}
    schools: list[Line] = []
    for r in schools_sheet.rows:
        name = str(r[sc["Школа"]])
        report = by_report.get(name)
        counted = (
            sum(1 for x in report.rows if normalize_header(x.values.get("status")) != skip)
            if report is not None
            else 0
        )
        note = NEVER_READ if report is not None and report.message == NEVER_READ else ""
        schools.append(
            Line(
                name,
                _int(r[sc["Мероприятий"]]),
                _int(r[sc["Выполнено"]]),
                _int(r[sc["Просрочено"]]),
                not_done.get(name, 0),
                counted,
                str(r[sc["Категория"]] or ""),
                note,
            )
        )
    return schools


def build_spravka(
    master: Master,
    reports: Sequence[SchoolReport],
    spec: TemplateSpec,
    municipality: str,
    period_start: date,
    period_end: date,
    as_of: date,
    previous: PastSpravka | None = None,
    done_requires_acceptance: bool = False,
) -> Spravka:
    """Read the справка's numbers off the master (pure).

    The review counts come from the master's «Проверка» (the recorded marks against the rows as
    they are), so a row changed after «Принято» is on review again, not accepted.
    """
    t = _tally_rows(master.sheet(ROWS_SHEET), spec, done_requires_acceptance)
    overdue_sheet = master.sheet(OVERDUE_SHEET)
    ocol = {key: _column(overdue_sheet, _header(spec, key)) for key in _ROW_FIELDS}
    # Overdue by section from «Просрочено»: a row sent back «На доработке» past its date is
    # there too, though its «Контроль» shows the mark.
    for r in overdue_sheet.rows:
        section = str(r[ocol["section"]] or "").strip() or NO_SECTION
        t.by_section.setdefault(section, [0, 0, 0, 0, 0])[2] += 1
    sections = [Line(name, a, d, o, n, c) for name, (a, d, o, n, c) in t.by_section.items()]
    schools = _school_lines(master, reports, spec, t.by_school_not_done)
    total = Line(
        "Итого",
        sum(s.activities for s in schools),
        sum(s.done for s in schools),
        sum(s.overdue for s in schools),
        sum(s.not_done for s in schools),
        sum(s.counted for s in schools),
    )
    overdue = [_activity(r, ocol, 0) for r in overdue_sheet.rows]
    pupils = [r for r in reports if not r.school.is_coordinator]
    spravka = Spravka(
        municipality=municipality,
        period_start=period_start,
        period_end=period_end,
        as_of=as_of,
        schools_count=len(pupils),
        not_read=[r.school.name for r in pupils if r.message == NEVER_READ],
        total=total,
        on_review=t.on_review,
        accepted=t.accepted,
        rework=t.rework,
        sections=sections,
        schools=schools,
        overdue=overdue,
        not_done=t.not_done,
        master=master,
        previous=previous,
    )
    if previous is not None:
        spravka.changes = changes_since(spravka, previous)
    return spravka


def changes_since(spravka: Spravka, previous: PastSpravka) -> list[ChangeLine]:
    """Per school and in total: done and overdue now against the previous справка's numbers."""
    before = previous.numbers.get("schools", {})
    lines = []
    for s in spravka.schools:
        was = before.get(s.name)
        lines.append(
            ChangeLine(
                s.name,
                int(was["done"]) if was else None,
                s.done,
                int(was["overdue"]) if was else None,
                s.overdue,
            )
        )
    total = previous.numbers.get("total", {})
    lines.append(
        ChangeLine(
            "Итого",
            int(total.get("done", 0)),
            spravka.total.done,
            int(total.get("overdue", 0)),
            spravka.total.overdue,
        )
    )
    return lines


_ROW_FIELDS = (
    "no",
    "section",
    "activity",
    "due",
    "deadline_text",
    "status",
    "comment",
    "control",
    "review",
)


def _header(spec: TemplateSpec, key: str) -> str:
    if key == "no":
        return "№"
    return spec.column(key).header


def _activity(row: list[CellValue], col: dict[str, int], school_col: int) -> ActivityLine:
    due = row[col["due"]]
    return ActivityLine(
        school=str(row[school_col] or ""),
        no=short_date(row[col["no"]]),
        activity=str(row[col["activity"]] or "").strip(),
        due=short_date(due) if due else str(row[col["deadline_text"]] or "").strip(),
        status=str(row[col["status"]] or "").strip(),
        comment=str(row[col["comment"]] or "").strip(),
    )


def gather(
    config: Config,
    history: History,
    plan: Plan,
    spec: TemplateSpec,
    as_of: date,
    previous: PastSpravka | None = None,
) -> tuple[Spravka, int | None]:
    """The справка as of a day, from the history, and the newest run its numbers come from."""
    reports, run_id = reports_as_of(config, history, plan, spec, as_of)
    review = review_as_of(history, reports, run_id, spec, config.done_requires_acceptance)
    master = consolidate(reports, plan, spec, as_of, config.municipality, review=review)
    end = min(as_of, config.period.end)
    spravka = build_spravka(
        master,
        reports,
        spec,
        config.municipality,
        config.period.start,
        end,
        as_of,
        previous,
        config.done_requires_acceptance,
    )
    return spravka, run_id


def review_as_of(
    history: History,
    reports: list[SchoolReport],
    run_id: int | None,
    spec: TemplateSpec,
    done_requires_acceptance: bool = False,
) -> ReviewPlan:
    """The review state of every row as of the справка's run: the marks recorded by then
    against the rows as they were; «На доработке» rows get their control, as in the sync."""
    marks = history.last_marks(until_run=run_id) if run_id is not None else {}
    plan = ReviewPlan(done_requires_acceptance=done_requires_acceptance)
    for report in reports:
        rows = []
        for row in report.rows:
            key = row_key(report.school.id, row)
            seen = review_of(marks.get(key), row_digest(row.values))
            plan.rows[key] = seen
            if seen.state is ReviewState.REWORK:
                row = replace(row, control=rework_control(row.control, spec))
            rows.append(row)
        report.rows = rows
    return plan
