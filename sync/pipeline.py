"""One sync run: collect -> validate -> consolidate -> paint -> record.

The CLI, the scheduler and the Excel add-in all call `run`; no shell re-implements a step.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime

from sync.backends.base import Backend, SourceError, SourceState, WriteResult
from sync.config import Config
from sync.consolidate import consolidate
from sync.history import History, LastRead
from sync.model import Plan, Problem, School, SchoolReport, SchoolSheet
from sync.paint import paint_school
from sync.plan import load_plan, plan_problems
from sync.reader import UnreadableWorkbook, locate
from sync.spec import TemplateSpec, load_spec
from sync.validation import check_school

log = logging.getLogger("roadmap_sync")

Progress = Callable[[School, int, int], None]


@dataclass
class RunResult:
    """What one run did, for the CLI summary, the status view and the tests."""

    run_id: int
    today: date
    started: datetime
    finished: datetime | None = None
    reports: list[SchoolReport] = field(default_factory=list)
    writes: dict[str, WriteResult] = field(default_factory=dict)
    master: str = ""
    plan_problems: list[Problem] = field(default_factory=list)
    outcome: str = "ok"  # ok, interrupted, master_failed
    message: str = ""  # Russian, when the outcome is not ok

    @property
    def counts(self) -> dict[str, int]:
        c = Counter(r.outcome for r in self.reports)
        return {k: c.get(k, 0) for k in ("synced", "unchanged", "failed", "locked")}


def backend_for(config: Config) -> Backend:
    """The storage the configuration names."""
    if config.storage == "gsheets":
        from sync.backends.gsheets import GoogleBackend

        return GoogleBackend.from_config(config)
    from sync.backends.folder import FolderBackend

    return FolderBackend(config.master_path, config.backups_dir, config.keep_backups)


def load_context(config: Config) -> tuple[TemplateSpec, Plan]:
    spec = load_spec(config.template)
    return spec, load_plan(config.plan_file, config.period)


def run(
    config: Config,
    *,
    today: date | None = None,
    backend: Backend | None = None,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
    now: Callable[[], datetime] = lambda: datetime.now().astimezone(),
) -> RunResult:
    """Sync every school once and write the master. A school that fails never stops the others."""
    spec, plan = load_context(config)
    backend = backend or backend_for(config)
    today = today or config.today()
    schools = config.all_workbooks()
    with History.open(config.history_path) as history:
        started = now()
        result = RunResult(history.start_run(started, today), today, started)
        result.plan_problems = plan_problems(plan)
        states = backend.survey(schools)
        for i, school in enumerate(schools, start=1):
            if stop is not None and stop.is_set():
                result.outcome = "interrupted"
                break
            if progress:
                progress(school, i, len(schools))
            report, write = _sync_school(
                school,
                states.get(school.id, SourceState(False)),
                backend,
                history,
                plan,
                spec,
                today,
                config.soon_days,
                result.run_id,
                now,
            )
            result.reports.append(report)
            if write:
                result.writes[school.id] = write
            log.info("%s: %s %s", school.id, report.outcome, report.message)
        if result.outcome == "ok":
            master = consolidate(result.reports, plan, spec, today, config.municipality)
            try:
                result.master = backend.write_master(master)
            except OSError as e:
                # The schools' results are recorded; the next run writes the master again.
                result.outcome = "master_failed"
                result.message = f"Свод не записан: {e.strerror or e} ({e.filename or ''})"
                log.error("master not written: %s", e)
        result.finished = now()
        history.finish_run(
            result.run_id, result.finished, result.outcome, result.counts, result.message
        )
    return result


def _sync_school(
    school: School,
    state: SourceState,
    backend: Backend,
    history: History,
    plan: Plan,
    spec: TemplateSpec,
    today: date,
    soon_days: int,
    run_id: int,
    now: Callable[[], datetime],
) -> tuple[SchoolReport, WriteResult | None]:
    last = history.last_read(school.id)
    at = now()
    sheet: SchoolSheet | None = None
    outcome, message = "synced", ""
    fingerprint, stamp, modified = "", state.stamp, state.modified
    if not state.exists:
        outcome, message = "failed", "файл школы не найден"
    elif last is not None and last.stamp and last.stamp == state.stamp:
        # Unchanged since its last successful read: its last snapshot stands, no read at all.
        sheet, fingerprint, outcome = last.sheet, last.fingerprint, "unchanged"
    else:
        try:
            raw = backend.read(school)
            fingerprint, modified = raw.fingerprint, raw.modified or modified
            if last is not None and fingerprint == last.fingerprint:
                sheet, outcome = last.sheet, "unchanged"
            else:
                sheet = locate(raw, spec)
        except (SourceError, UnreadableWorkbook) as e:
            outcome, message = "failed", str(e)

    if sheet is None:
        history.record_read(run_id, school.id, at, "failed", stamp=stamp, message=message)
        return _failed_report(school, last, plan, spec, today, soon_days, message), None

    rows, problems = check_school(sheet, school, plan, spec, today, soon_days)
    report = SchoolReport(
        school, rows, dict(sheet.passport), problems, outcome, message, modified, at
    )
    history.record_read(
        run_id,
        school.id,
        at,
        outcome,
        sheet=sheet,
        fingerprint=fingerprint,
        stamp=stamp,
        modified=modified,
        problems=problems,
        controls={r.sheet_row: r.control.key for r in rows},
    )
    write = _paint(school, report, sheet, spec, backend, history, run_id, fingerprint, stamp, at)
    if write is not None and write.status == "locked":
        report.outcome, report.message = "locked", write.message
    elif write is not None and write.status in ("changed", "failed"):
        report.message = write.message
    return report, write


def _paint(
    school: School,
    report: SchoolReport,
    sheet: SchoolSheet,
    spec: TemplateSpec,
    backend: Backend,
    history: History,
    run_id: int,
    fingerprint: str,
    stamp: str,
    at: datetime,
) -> WriteResult | None:
    """Write the controls and notes back, unless the school's sheet already shows them."""
    paint = paint_school(report, sheet, spec)
    last = history.last_paint(school.id)
    if last is not None and last == (paint.digest(), stamp):
        return None
    write = backend.write_back(school, paint, fingerprint)
    if write.status == "written":
        history.update_stamp(run_id, school.id, write.stamp, write.fingerprint)
        history.record_paint(school.id, paint.digest(), write.stamp, at)
    return write


def _failed_report(
    school: School,
    last: LastRead | None,
    plan: Plan,
    spec: TemplateSpec,
    today: date,
    soon_days: int,
    message: str,
) -> SchoolReport:
    """A school that could not be read keeps its last good snapshot in the master."""
    if last is None:
        return SchoolReport(school, outcome="failed", message=message)
    rows, problems = check_school(last.sheet, school, plan, spec, today, soon_days)
    return SchoolReport(
        school, rows, dict(last.sheet.passport), problems, "failed", message, last.modified, last.at
    )
