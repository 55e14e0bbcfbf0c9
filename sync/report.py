"""Russian text and JSON views of a run and of a school's history, for the CLI and the add-in."""

from __future__ import annotations

from datetime import date, datetime, tzinfo
from typing import TYPE_CHECKING, Any

from sync.consolidate import school_summary
from sync.history import SnapshotEntry
from sync.model import CellValue, School, SchoolSheet, Severity
from sync.spec import TemplateSpec
from sync.states import RunOutcome, SchoolOutcome, counts_sentence
from sync.states import label as state_label

if TYPE_CHECKING:
    from sync.config import Config
    from sync.pipeline import RunResult


def _fmt(value: CellValue) -> str:
    if isinstance(value, datetime):
        return value.strftime("%d.%m.%Y %H:%M")
    if isinstance(value, date):
        return value.strftime("%d.%m.%Y")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # workbooks store 24 teachers as 24.0
    return "" if value is None else str(value)


def _json_value(value: CellValue) -> Any:
    """A cell for JSON: numbers stay numbers (24, not "24.0"), dates ISO."""
    if isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, int | float):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    return "" if value is None else str(value)


def local_time(moment: datetime, zone: tzinfo | None) -> datetime:
    """A recorded moment in the municipality's zone (naive ones were the machine's local time)."""
    if zone is None:
        return moment
    return (moment if moment.tzinfo else moment.astimezone()).astimezone(zone)


def run_summary(result: RunResult, spec: TemplateSpec) -> dict[str, Any]:
    """The run as JSON-ready data."""
    return {
        "run_id": result.run_id,
        "today": result.today.isoformat(),
        "started": result.started.isoformat(timespec="seconds"),
        "finished": result.finished.isoformat(timespec="seconds") if result.finished else None,
        "outcome": result.outcome,
        "message": result.message,
        "counts": result.counts,
        "master": result.master,
        "plan_problems": [p.to_json() for p in result.plan_problems],
        "review": {
            "new_marks": len(result.review.new_marks),
            "problems": result.review.problems,
        },
        "schools": [
            {
                "id": r.school.id,
                "name": r.school.name,
                "outcome": r.outcome,
                "message": r.message,
                **school_summary(r, spec),
                "problems": [p.to_json() for p in r.problems],
            }
            for r in result.reports
        ],
    }


def run_text(result: RunResult, config: Config, spec: TemplateSpec) -> str:
    """A short Russian summary a coordinator can read at a glance."""
    if result.outcome == RunOutcome.BUSY:
        return f"Синхронизация не запущена. {result.message}"
    interrupted = (RunOutcome.INTERRUPTED, RunOutcome.CRASHED)
    verb = "прервана" if result.outcome in interrupted else "завершена"
    lines = [
        f"Синхронизация {verb}: "
        f"{local_time(result.finished or result.started, config.zone):%d.%m.%Y %H:%M}"
        f" ({config.timezone}; сегодня считается {result.today:%d.%m.%Y}).",
        f"Книг: {len(result.reports)} — {counts_sentence(result.counts)}.",
        "",
        f"{'Школа':<40} {'Выполнено':>9} {'Просрочено':>10} {'Ошибок':>6} {'%':>4}  Состояние",
    ]
    for r in result.reports:
        s = school_summary(r, spec)
        name = r.school.name if len(r.school.name) <= 40 else r.school.name[:39] + "…"
        lines.append(
            f"{name:<40} {s['done']:>9} {s['overdue']:>10} {s['errors']:>6} "
            f"{round(100 * s['percent']):>3}%  {state_label(SchoolOutcome, r.outcome)}"
        )
    failed = [r for r in result.reports if r.message]
    if failed:
        lines += ["", "Требуют внимания:"]
        lines += [f"  {r.school.name}: {r.message}" for r in failed]
    plan_errors = [p for p in result.plan_problems if p.severity is Severity.ERROR]
    if result.plan_problems:
        lines += ["", f"Замечания к плану ({len(plan_errors)} ошибок):"]
        lines += [f"  {p.message}" for p in result.plan_problems]
    review = result.review
    if review.new_marks:
        lines += ["", f"Отметок МОУО записано: {len(review.new_marks)}."]
    if review.problems:
        lines += ["", f"Отметки МОУО — замечания ({len(review.problems)}):"]
        lines += [f"  {p}" for p in review.problems[:20]]
        if len(review.problems) > 20:
            lines.append(f"  … и ещё {len(review.problems) - 20} (в журнале).")
    if result.master:
        lines += ["", f"Свод: {result.master}"]
    if result.message:
        lines += ["", result.message]
    return "\n".join(lines)


def _school_values(sheet: SchoolSheet, spec: TemplateSpec) -> dict[str, dict[str, str]]:
    """Per row (by № and activity), what the school typed."""
    school_keys = spec.keys("school")
    out: dict[str, dict[str, str]] = {}
    for row in sheet.rows:
        label = f"№ {_fmt(row.values.get('no'))} {_fmt(row.values.get('activity'))[:60]}".strip()
        out[label] = {k: _fmt(row.values.get(k)) for k in school_keys}
    return out


def _passport_values(sheet: SchoolSheet) -> dict[str, str]:
    return {k: _fmt(v) for k, v in sheet.passport.items()}


def history_json(
    entries: list[SnapshotEntry], spec: TemplateSpec, zone: tzinfo | None = None
) -> list[dict[str, Any]]:
    """Every snapshot as JSON; times in `zone` (the municipality's), numbers as numbers."""
    return [
        {
            "first_seen": local_time(e.first_seen, zone).isoformat(timespec="seconds"),
            "last_seen": local_time(e.last_seen, zone).isoformat(timespec="seconds"),
            "hash": e.hash,
            "rows": _school_values(e.sheet, spec),
            "passport": {k: _json_value(v) for k, v in e.sheet.passport.items()},
        }
        for e in entries
    ]


def history_text(
    school: School, entries: list[SnapshotEntry], spec: TemplateSpec, zone: tzinfo | None = None
) -> str:
    """Each distinct content the school had, the first in full and then what changed.

    The school's columns of every row and its passport («Паспорт ОО») are compared; times are
    shown in `zone` (the municipality's).
    """
    if not entries:
        return f"{school.name}: снимков нет (книга ещё ни разу не была прочитана)."
    headers = {c.key: c.header for c in spec.columns}
    labels = {f.key: f.label for f in spec.passport}
    lines = [f"{school.name}: снимков {len(entries)}."]
    if zone is not None:
        lines[0] += f" Время — {getattr(zone, 'key', zone)}."
    previous: dict[str, dict[str, str]] = {}
    previous_passport: dict[str, str] = {}
    for n, e in enumerate(entries, start=1):
        lines += [
            "",
            f"Снимок {n}: впервые {local_time(e.first_seen, zone):%d.%m.%Y %H:%M}, "
            f"последний раз {local_time(e.last_seen, zone):%d.%m.%Y %H:%M}",
        ]
        current = _school_values(e.sheet, spec)
        changes = 0
        for label, values in current.items():
            before = previous.get(label, {})
            for key, value in values.items():
                old = before.get(key, "")
                if value != old and (value or old):
                    changes += 1
                    if n == 1 or not old:
                        lines.append(f"  {label}: «{headers[key]}» = «{value}»")
                    else:
                        lines.append(f"  {label}: «{headers[key]}»: было «{old}», стало «{value}»")
        for label in previous.keys() - current.keys():
            changes += 1
            lines.append(f"  {label}: строка удалена")
        passport = _passport_values(e.sheet)
        for key in [*labels, *sorted(passport.keys() - labels.keys())]:
            value, old = passport.get(key, ""), previous_passport.get(key, "")
            if value == old or not (value or old):
                continue
            changes += 1
            name = labels.get(key, key)
            if n == 1 or not old:
                lines.append(f"  {spec.passport_sheet}: «{name}» = «{value}»")
            else:
                lines.append(f"  {spec.passport_sheet}: «{name}»: было «{old}», стало «{value}»")
        if not changes:
            lines.append("  (школьные столбцы и паспорт не изменились)")
        previous, previous_passport = current, passport
    return "\n".join(lines)
