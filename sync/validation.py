"""Check a school's workbook against the plan and the template: problems as data, never raised.

Every problem names its sheet, cell (A1), field and a Russian message for the school. After the
checks each row gets its Контроль value (sync.status.control); a row with an error shows «Ошибка».
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Sequence
from datetime import date
from functools import lru_cache

from sync.cells import a1, cell_date, is_blank, typed_text, undotted_date
from sync.model import (
    Audience,
    CellValue,
    Period,
    Plan,
    PlanItem,
    Problem,
    RowReport,
    School,
    SchoolSheet,
    Severity,
    SheetRow,
)
from sync.plan import clean, clean_no, make_item
from sync.problems import (
    DATE_IN_FUTURE,
    DATE_INVALID,
    DATE_SUSPICIOUS,
    DONE_WITHOUT_DATE,
    DONE_WITHOUT_EVIDENCE,
    DUPLICATE_ROW,
    EXTRA_ROW,
    EXTRA_ROW_WITHOUT_ACTIVITY,
    META_GONE,
    META_VALUES_MISSING,
    PASSPORT_CHOICE,
    PASSPORT_EMAIL,
    PASSPORT_LINE_MISSING,
    PASSPORT_NOT_NUMBER,
    PASSPORT_REQUIRED,
    PASSPORT_SHEET_MISSING,
    PLAN_CELL_CHANGED,
    PLAN_FILE_CHANGED,
    PLAN_NUMBER_CHANGED,
    PLAN_OUTDATED,
    PLAN_ROW_MISSING,
    REASON_MISSING,
    REVIEW_UNKNOWN,
    TEMPLATE_VERSION,
    UNKNOWN_STATUS,
    WRONG_SCHOOL,
    ProblemType,
)
from sync.review import number_rows
from sync.spec import PassportField, TemplateSpec
from sync.status import canonical_choice, control, fold, normalize_status

ERROR, WARNING = Severity.ERROR, Severity.WARNING

# Keys the builder writes to the service sheet without which the file cannot be trusted.
REQUIRED_META = ("template_version", "school_id", "plan_hash", "period")
# Plan columns a school should not edit, compared with the approved plan.
PLAN_TEXT_KEYS = ("activity", "responsible", "deadline_text", "planned_result")
_QUOTES = re.compile("[«»\"“”„']")


def check_school(
    sheet: SchoolSheet,
    school: School | None,
    plan: Plan | None,
    spec: TemplateSpec,
    today: date,
    soon_days: int | None = None,
) -> tuple[list[RowReport], list[Problem]]:
    """Validate one school's sheet and compute each row's control, in sheet order.

    Without a plan the expected rows are rebuilt from the sheet itself; without a school the
    school id in the service sheet is not checked.
    """
    audience = school.audience if school else _meta_audience(sheet.meta)
    problems = list(sheet.problems)
    if audience is Audience.COORDINATOR:  # the МОУО's workbook has no school passport
        problems = [p for p in problems if p.code != PASSPORT_SHEET_MISSING.code]
    problems += _check_meta(sheet.meta, school, plan, spec, audience)
    if plan is None:
        period = _meta_period(sheet.meta, today)
        matched, match_problems = _rebuild_plan(sheet, spec, period, audience)
    else:
        period = plan.period
        matched, match_problems = _match_plan(sheet, _plan_index(plan, audience), spec)
    problems += match_problems
    for row, _ in matched:
        problems += _check_row(row, sheet, spec, today, period)
    if audience is not Audience.COORDINATOR:
        problems += _check_passport(sheet, spec)

    error_rows = {p.row for p in problems if p.severity is ERROR and p.row is not None}
    reports = []
    for row, item in matched:
        due = item.due if item else _date_or_none(row.values.get("due"))
        status = row.values.get("status")
        reports.append(
            RowReport(
                item=item,
                sheet_row=row.row,
                values=_normalized(row.values, spec),
                control=control(
                    None if status is None else str(status),
                    due,
                    today,
                    row.row in error_rows,
                    spec,
                    soon_days,
                ),
            )
        )
    return number_rows(reports), problems


def academic_year(today: date) -> Period:
    """1 September .. 31 August of the school year that holds today."""
    start = today.year if today.month >= 9 else today.year - 1
    return Period(date(start, 9, 1), date(start + 1, 8, 31))


# --- the service sheet ---------------------------------------------------------------------


def _meta_audience(meta: dict[str, str]) -> Audience:
    try:
        return Audience(meta.get("audience", "").strip())
    except ValueError:
        return Audience.SCHOOLS


def _meta_period(meta: dict[str, str], today: date) -> Period:
    try:
        return Period.parse(meta["period"])
    except (KeyError, ValueError):
        return academic_year(today)


def _check_meta(
    meta: dict[str, str],
    school: School | None,
    plan: Plan | None,
    spec: TemplateSpec,
    audience: Audience,
) -> list[Problem]:
    def problem(kind: ProblemType, **blanks: object) -> Problem:
        return kind.at(spec.meta_sheet, **blanks)

    if not meta:
        return [problem(META_GONE, sheet=spec.meta_sheet)]
    out = []
    missing = [k for k in REQUIRED_META if not meta.get(k, "").strip()]
    if "period" not in missing:
        try:
            Period.parse(meta["period"])
        except ValueError:
            missing.append("period")
    if missing:
        keys = ", ".join(f"«{k}»" for k in missing)
        out.append(problem(META_VALUES_MISSING, keys=keys, sheet=spec.meta_sheet))
    school_id = meta.get("school_id", "").strip()
    if school and school_id and school_id != school.id:
        name = meta.get("school_name", "").strip() or school_id
        out.append(problem(WRONG_SCHOOL, name=name, expected=school.name))
    version = meta.get("template_version", "").strip()
    if version and version != spec.version:
        out.append(problem(TEMPLATE_VERSION, version=version, current=spec.version))
    plan_hash = meta.get("plan_hash", "").strip()
    if plan and plan_hash and plan_hash != plan.digest(audience):
        out.append(problem(PLAN_OUTDATED))
    return out


# --- matching rows with the plan -----------------------------------------------------------


@lru_cache(maxsize=1 << 16, typed=True)
def _fold_text(value: CellValue) -> str:
    return fold(_QUOTES.sub("", "" if value is None else str(value)))


@lru_cache(maxsize=1 << 16, typed=True)
def _fold_no(value: CellValue) -> str:
    return fold(clean_no(value)).rstrip(".")


class _Row:
    """A sheet row with the texts it is matched by."""

    def __init__(self, row: SheetRow) -> None:
        self.sheet_row = row
        self.no = _fold_no(row.values.get("no"))
        self.activity = _fold_text(row.values.get("activity"))
        self.section = _fold_text(row.values.get("section"))


def _pick(row: _Row, candidates: list[PlanItem], used: dict[PlanItem, int]) -> PlanItem | None:
    """The best candidate: same section first, then one not matched yet."""
    if not candidates:
        return None
    if row.section:
        same = [i for i in candidates if _fold_text(i.section) == row.section]
        if same:
            candidates = same
    return next((i for i in candidates if i not in used), candidates[0])


class _PlanIndex:
    """The expected plan rows by folded № and by folded activity: one lookup per sheet row."""

    def __init__(self, expected: Sequence[PlanItem]) -> None:
        self.items = tuple(expected)
        self.by_no: dict[str, list[PlanItem]] = {}
        self.by_activity: dict[str, list[PlanItem]] = {}
        for item in expected:
            self.by_no.setdefault(_fold_no(item.no), []).append(item)
            self.by_activity.setdefault(_fold_text(item.activity), []).append(item)


def _plan_index(plan: Plan, audience: Audience) -> _PlanIndex:
    """The plan rows one audience's workbooks carry, indexed once per plan (every school of a
    run is matched against the same rows); kept on the plan, so it goes with it."""
    cache: dict[Audience, _PlanIndex] = plan.__dict__.setdefault("_indexes", {})
    found = cache.get(audience)
    if found is None:
        found = cache[audience] = _PlanIndex(plan.for_audience(audience))
    return found


def _find(
    row: _Row, expected: _PlanIndex, used: dict[PlanItem, int]
) -> tuple[PlanItem | None, str]:
    """The plan row a sheet row stands for and how it was found: both, no, activity or none."""
    same_no = list(expected.by_no.get(row.no, ())) if row.no else []
    same_activity = expected.by_activity.get(row.activity, []) if row.activity else []
    both = [i for i in same_no if i in same_activity]
    if both:
        return _pick(row, both, used), "both"
    if row.section and same_no:
        # Numbering restarts in each section: a number from another section is not this row.
        same_no = [i for i in same_no if _fold_text(i.section) in ("", row.section)]
    if same_no:
        return _pick(row, same_no, used), "no"
    if same_activity:
        return _pick(row, same_activity, used), "activity"
    return None, "none"


def _main_name(sheet: SchoolSheet, spec: TemplateSpec) -> str:
    """Where row problems point: the main sheet as the school named it."""
    return sheet.sheet_name or spec.main_sheet


def _cell(row: int, columns: dict[str, int], key: str) -> str:
    return a1(row, columns[key]) if key in columns else ""


def _duplicate(
    sheet_name: str, columns: dict[str, int], n: int, item: PlanItem, first: int
) -> Problem:
    """Row `n` repeats the plan row already in row `first`."""
    return DUPLICATE_ROW.at(
        sheet_name,
        _cell(n, columns, "no"),
        "no",
        n,
        no=item.no,
        activity=item.activity,
        first=first,
    )


def _match_plan(
    sheet: SchoolSheet, index: _PlanIndex, spec: TemplateSpec
) -> tuple[list[tuple[SheetRow, PlanItem | None]], list[Problem]]:
    sheet_name, columns = _main_name(sheet, spec), sheet.columns
    matched: list[tuple[SheetRow, PlanItem | None]] = []
    problems: list[Problem] = []
    used: dict[PlanItem, int] = {}  # plan row -> the sheet row that holds it
    for sheet_row in sheet.rows:
        n, values = sheet_row.row, sheet_row.values
        row = _Row(sheet_row)
        item, how = _find(row, index, used)
        matched.append((sheet_row, item))
        if item is None:
            text = clean(values.get("activity"))
            extra = EXTRA_ROW if text else EXTRA_ROW_WITHOUT_ACTIVITY
            problems.append(
                extra.at(
                    sheet_name, _cell(n, columns, "activity"), "activity", n, row=n, activity=text
                )
            )
            continue
        if item in used:
            problems.append(_duplicate(sheet_name, columns, n, item, used[item]))
            continue
        used[item] = n
        if how == "activity" and "no" in columns:
            header = spec.column("no").header
            problems.append(
                PLAN_NUMBER_CHANGED.at(
                    sheet_name, _cell(n, columns, "no"), "no", n, header=header, no=item.no
                )
            )
        for key in PLAN_TEXT_KEYS:
            if key in columns and _fold_text(values.get(key)) != _fold_text(getattr(item, key)):
                header = spec.column(key).header
                problems.append(
                    PLAN_CELL_CHANGED.at(sheet_name, _cell(n, columns, key), key, n, header=header)
                )
    for item in index.items:
        if item not in used:
            problems.append(PLAN_ROW_MISSING.at(sheet_name, no=item.no, activity=item.activity))
    return matched, problems


def _rebuild_plan(
    sheet: SchoolSheet, spec: TemplateSpec, period: Period, audience: Audience
) -> tuple[list[tuple[SheetRow, PlanItem | None]], list[Problem]]:
    """Plan rows read back from the sheet's own plan columns, when no plan is configured."""
    matched: list[tuple[SheetRow, PlanItem | None]] = []
    problems: list[Problem] = []
    seen: dict[tuple[str, str, str], int] = {}
    for sheet_row in sheet.rows:
        values = sheet_row.values
        item = make_item(
            section=clean(values.get("section")),
            no=clean_no(values.get("no")),
            activity=clean(values.get("activity")),
            responsible=clean(values.get("responsible")),
            deadline_text=clean(values.get("deadline_text")),
            planned_result=clean(values.get("planned_result")),
            period=period,
            due=_date_or_none(values.get("due")),
            audience=audience,
        )
        matched.append((sheet_row, item))
        key = (_fold_text(item.section), _fold_no(item.no), _fold_text(item.activity))
        if key in seen:
            problems.append(
                _duplicate(_main_name(sheet, spec), sheet.columns, sheet_row.row, item, seen[key])
            )
        else:
            seen[key] = sheet_row.row
    plan_hash = sheet.meta.get("plan_hash", "").strip()
    items = tuple(i for _, i in matched if i is not None)
    # The school may add its own rows below the plan: the plan is the prefix the stamp fits.
    issued = (
        next(
            (
                k
                for k in range(len(items), -1, -1)
                if Plan(period, items[:k]).digest(audience) == plan_hash
            ),
            None,
        )
        if plan_hash
        else None
    )
    if issued is not None and issued < len(matched):
        for n, (sheet_row, own) in enumerate(matched[issued:], start=issued):
            matched[n] = (sheet_row, None)
            assert own is not None
            n = sheet_row.row
            problems.append(
                EXTRA_ROW.at(
                    _main_name(sheet, spec),
                    _cell(n, sheet.columns, "activity"),
                    "activity",
                    n,
                    row=n,
                    activity=own.activity,
                )
            )
    if plan_hash and issued is None:
        problems.append(PLAN_FILE_CHANGED.at(_main_name(sheet, spec)))
    return matched, problems


# --- one row's own values ------------------------------------------------------------------


def _date_or_none(value: CellValue) -> date | None:
    try:
        return cell_date(value)
    except ValueError:
        return None


def _year_before(day: date) -> date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year - 1, day=28)


# Latin letters that look like Russian ones: a status typed with one is not the same word.
_LOOKALIKES = dict(zip("AaBCcEeHKkMOoPpTXxYy", "АаВСсЕеНКкМОоРрТХхУу", strict=True))
_INVISIBLE_RU = {
    "\u200b": "пробел нулевой ширины",
    "\u200c": "разделитель нулевой ширины",
    "\u200d": "соединитель нулевой ширины",
    "\u2060": "соединитель слов",
    "\ufeff": "невидимый знак BOM",
    "\u00ad": "мягкий перенос",
}


def odd_characters(text: str) -> str:
    """Latin lookalikes among Cyrillic letters and invisible characters, named for the school.

    >>> odd_characters("Bыполнено")
    'в нём латинская «B» вместо русской «В» (1-й знак)'
    >>> odd_characters("В работе\u200b")
    'в нём невидимый знак U+200B «пробел нулевой ширины» (9-й знак)'
    """
    cyrillic = any("а" <= ch.lower() <= "я" or ch.lower() == "ё" for ch in text)
    found = []
    for i, ch in enumerate(text, start=1):
        if cyrillic and ch in _LOOKALIKES:
            found.append(f"латинская «{ch}» вместо русской «{_LOOKALIKES[ch]}» ({i}-й знак)")
        elif unicodedata.category(ch) in ("Cf", "Cc", "Zl", "Zp") or ch in _INVISIBLE_RU:
            name = _INVISIBLE_RU.get(ch) or unicodedata.name(ch, "").lower() or "без имени"
            found.append(f"невидимый знак U+{ord(ch):04X} «{name}» ({i}-й знак)")
        if len(found) == 3:
            break
    return "в нём " + ", ".join(found) if found else ""


def _check_row(
    sheet_row: SheetRow, sheet: SchoolSheet, spec: TemplateSpec, today: date, period: Period
) -> Iterator[Problem]:
    n, values, columns = sheet_row.row, sheet_row.values, sheet.columns
    sheet_name = _main_name(sheet, spec)

    def problem(kind: ProblemType, key: str, **blanks: object) -> Problem:
        return kind.at(sheet_name, _cell(n, columns, key), key, n, **blanks)

    statuses = spec.statuses
    raw_status = values.get("status")
    status = normalize_status(raw_status, spec)
    if status is not None and status not in spec.status_choices:
        allowed = ", ".join(f"«{c}»" for c in spec.status_choices)
        odd = odd_characters(status)
        yield problem(
            UNKNOWN_STATUS, "status", status=status, odd=f": {odd}" if odd else "", allowed=allowed
        )

    done_on = values.get("done_on")
    if status == statuses["done"]:
        if is_blank(done_on):
            yield problem(DONE_WITHOUT_DATE, "done_on")
        if is_blank(values.get("evidence")):
            yield problem(DONE_WITHOUT_EVIDENCE, "evidence")
    try:
        day = cell_date(done_on)
    except ValueError:
        meant = undotted_date(done_on)
        hint = f" (возможно, {meant:%d.%m.%Y}?)" if meant else ""
        yield problem(DATE_INVALID, "done_on", typed=typed_text(done_on), hint=hint)
        day = None
    if day is not None and day > today:
        yield problem(DATE_IN_FUTURE, "done_on", day=day)
    elif day is not None and day < _year_before(period.start):
        yield problem(DATE_SUSPICIOUS, "done_on", day=day, start=period.start)

    if status in (statuses["failed"], statuses["not_needed"]) and is_blank(values.get("comment")):
        yield problem(REASON_MISSING, "comment", status=status)

    review = values.get("review")
    choices = spec.column("review").choices
    if not is_blank(review) and canonical_choice(review, choices) is None:
        allowed = ", ".join(f"«{c}»" for c in choices)
        yield problem(REVIEW_UNKNOWN, "review", review=clean(review), allowed=allowed)


def _normalized(values: dict[str, CellValue], spec: TemplateSpec) -> dict[str, CellValue]:
    """The row as read, with a known status and review in their canonical text, dates as dates.

    Rows are never changed in place, so a row read as it should be (nearly every row) is
    returned itself: no copy to make."""
    changed: dict[str, CellValue] = {}
    if "status" in values:
        changed["status"] = normalize_status(values["status"], spec)
    if "review" in values:
        review = values["review"]
        changed["review"] = canonical_choice(review, spec.column("review").choices) or review
    for key in ("done_on", "due"):
        day = _date_or_none(values.get(key))
        if day is not None:
            changed[key] = day
    if all(type(v) is type(values[k]) and v == values[k] for k, v in changed.items()):
        return values
    return {**values, **changed}


# --- the passport --------------------------------------------------------------------------


def _whole_number(value: CellValue) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value >= 0
    if isinstance(value, float):
        return value.is_integer() and value >= 0
    # "1 250" with an ordinary or non-breaking space is a number a person wrote.
    return re.fullmatch(r"\d+", re.sub(r"\s+", "", str(value))) is not None


# One address: something@domain.zone (Cyrillic domains such as почта.рф included); a field may
# hold several, separated by commas, semicolons or spaces.
EMAIL = re.compile(r"[^@\s,;<>()]+@[^@\s,;<>()]+\.[^@\s,;<>().\d]{2,}")


def bad_emails(value: CellValue) -> list[str]:
    """The parts of a field that are not e-mail addresses ('sosh1-at-mail.ru' is not)."""
    parts = [p for p in re.split(r"[,;\s]+", clean(value)) if p]
    return [p for p in parts if not EMAIL.fullmatch(p)] if parts else [clean(value)]


def _check_passport(sheet: SchoolSheet, spec: TemplateSpec) -> Iterator[Problem]:
    if any(p.code == PASSPORT_SHEET_MISSING.code for p in sheet.problems):
        return  # the reader already said the whole sheet is gone
    for f in spec.passport:
        cell = sheet.passport_cells.get(f.key, "")
        for kind, blanks in _passport_field(f, sheet):
            yield kind.at(spec.passport_sheet, cell, f.key, None, label=f.label, **blanks)


def _passport_field(
    f: PassportField, sheet: SchoolSheet
) -> Iterator[tuple[ProblemType, dict[str, str]]]:
    value = sheet.passport.get(f.key)
    if f.key not in sheet.passport_cells:
        if f.required:
            yield PASSPORT_LINE_MISSING, {}
        return
    if is_blank(value):
        if f.required:
            yield PASSPORT_REQUIRED, {}
        return
    if f.type == "integer" and not _whole_number(value):
        yield PASSPORT_NOT_NUMBER, {"value": clean(value)}
    if f.type == "email" and (wrong := bad_emails(value)):
        yield PASSPORT_EMAIL, {"wrong": wrong[0]}
    if f.choices and canonical_choice(value, f.choices) is None:
        allowed = ", ".join(f"«{c}»" for c in f.choices)
        yield PASSPORT_CHOICE, {"value": clean(value), "allowed": allowed}
