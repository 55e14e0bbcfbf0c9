"""One sync run: collect -> validate -> consolidate -> paint -> record.

The CLI, the scheduler and the Excel add-in all call `run`; no shell re-implements a step.
"""

from __future__ import annotations

import gc
import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime, tzinfo
from typing import TYPE_CHECKING

from sync import prepare
from sync.backends.base import (
    Backend,
    MasterReadError,
    MasterWriteError,
    SourceError,
    SourceState,
    WriteResult,
)
from sync.config import Config, ConfigError
from sync.consolidate import Baseline, MasterBuilder, SchoolBefore, row_key, school_summary
from sync.history import History, LastRead
from sync.model import Plan, Problem, RowReport, School, SchoolReport, SchoolSheet
from sync.paint import paint_school
from sync.plan import PlanFileError, load_plan, plan_problems
from sync.read_ahead import ReadAhead, schools_to_read
from sync.reader import UnreadableWorkbook, locate
from sync.review import (
    SOURCE_GOOGLE,
    SOURCE_MASTER,
    MasterMark,
    MasterMarks,
    RecordedMark,
    ReviewPlan,
    ReviewState,
    RowKey,
    RowNow,
    cell_text,
    index_lines,
    mark_of,
    orphan_marks,
    review_school,
    row_digest,
    row_keys,
    shown_token,
)
from sync.service.config import lock_wait_of
from sync.service.lock import LockBusy, RunLock, lock_path_for
from sync.spec import TemplateSpec, load_spec
from sync.spool import SchoolSpool, SpooledLines
from sync.states import RunOutcome, SchoolOutcome, WriteStatus, counts_sentence, label
from sync.status import rework_control
from sync.validation import check_school

if TYPE_CHECKING:
    from sync.backends.folder import FolderBackend
    from sync.backends.google.backend import GoogleBackend

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
    outcome: RunOutcome = RunOutcome.OK
    message: str = ""  # Russian, when the outcome is not ok
    review: ReviewPlan = field(default_factory=ReviewPlan)  # the coordinator's marks this run

    @property
    def counts(self) -> dict[str, int]:
        c = Counter(r.outcome for r in self.reports)
        return {k.value: c.get(k, 0) for k in SchoolOutcome}


def backend_class(config: Config) -> type[FolderBackend] | type[GoogleBackend]:
    """The class of the storage the configuration names (its static helpers need no connection)."""
    if config.storage == "gsheets":
        from sync.backends.google.backend import GoogleBackend

        return GoogleBackend
    from sync.backends.folder import FolderBackend

    return FolderBackend


def backend_for(config: Config) -> Backend:
    """The storage the configuration names."""
    if config.storage == "gsheets":
        from sync.backends.google.backend import GoogleBackend

        return GoogleBackend.from_config(config)
    from sync.backends.folder import FolderBackend

    return FolderBackend(
        config.master_path,
        config.backups_dir,
        config.keep_backups,
        skip_sheets=(load_spec(config.template).instructions_sheet,),
        zone=config.zone,
        password=config.protection_password,
    )


def load_context(config: Config) -> tuple[TemplateSpec, Plan]:
    spec = load_spec(config.template)
    return spec, load_plan(config.plan_file, config.period)


After = Callable[[RunResult, History], None]

ABORTED_MESSAGE = (
    "Синхронизация оборвалась: процесс был остановлен аварийно или компьютер выключен."
    " Следующая синхронизация прочитала все школы заново."
)


def run(
    config: Config,
    *,
    today: date | None = None,
    backend: Backend | None = None,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
    now: Callable[[], datetime] | None = None,
    lock_wait: float | None = None,
    after: After | None = None,
    command: str = "run",
) -> RunResult:
    """Sync every school once and write the master. A school that fails never stops the others.

    Only one run at a time per history database: this one waits up to `lock_wait` seconds
    ([schedule] lock_wait by default) for a running one, else returns outcome "busy" and writes
    nothing. `stop` set stops it between schools ("interrupted"); an exception is recorded as
    "crashed" with its reason and raised again. `after(result, history)` runs while the lock is
    still held (the service sends reminders there).
    """
    if now is None:  # one clock: every time a run records or shows is the municipality's
        zone = config.zone
        now = lambda: datetime.now(zone)  # noqa: E731
    today = today or config.today(now())
    wait = lock_wait_of(config) if lock_wait is None else lock_wait
    lock = RunLock(lock_path_for(config.history_path), command=command, zone=config.zone)
    try:
        lock.acquire(wait, stop=stop)
    except LockBusy as e:
        at = now()
        log.warning("Синхронизация не запущена: %s", e)
        return RunResult(0, today, at, finished=at, outcome=RunOutcome.BUSY, message=str(e))
    # The helper is forked before the history is opened (it must inherit no connection).
    with (
        lock,
        prepare.started(config, today) as helper,
        History.open(config.history_path) as history,
    ):
        started = now()
        abandoned = history.abandon_running(started, ABORTED_MESSAGE)
        if abandoned:
            log.warning(
                "Синхронизации %s оборвались без записи итога (процесс был остановлен);"
                " отмечены в истории как оборвавшиеся.",
                ", ".join(f"№ {i}" for i in abandoned),
            )
        result = RunResult(history.start_run(started, today), today, started)
        log.info(
            "Синхронизация № %d начата (%s), сегодня считается %s.",
            result.run_id,
            command,
            f"{today:%d.%m.%Y}",
        )
        try:
            with _few_gc_pauses():
                _run_schools(config, result, history, backend, progress, stop, now, helper)
        except Exception as e:
            result.outcome = RunOutcome.CRASHED
            reason = (
                str(e) if isinstance(e, ConfigError | PlanFileError) else f"{type(e).__name__}: {e}"
            )
            result.message = f"Синхронизация остановлена ошибкой: {reason}"
            if isinstance(e, ConfigError | PlanFileError):  # the user's to fix: no traceback
                log.error("Синхронизация № %d остановлена ошибкой: %s", result.run_id, reason)
            else:
                log.exception("Синхронизация № %d остановлена ошибкой: %s", result.run_id, reason)
            _finish(history, result, now)
            raise
        except BaseException as e:
            result.outcome = RunOutcome.INTERRUPTED
            result.message = (
                "Синхронизация прервана (Ctrl+C)."
                if isinstance(e, KeyboardInterrupt)
                else "Синхронизация прервана: программа завершена."
            )
            _finish(history, result, now)
            raise
        _finish(history, result, now)
        if after is not None:
            after(result, history)
    return result


@contextmanager
def _few_gc_pauses() -> Iterator[None]:
    """A run builds many long-lived objects (reports, master tables) and few cycles: what is
    loaded before it is frozen out of the collector and full collections become rare."""
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(50_000, 50, 1_000)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def _finish(history: History, result: RunResult, now: Callable[[], datetime]) -> None:
    result.finished = now()
    history.finish_run(
        result.run_id, result.finished, result.outcome, result.counts, result.message
    )
    line = (
        f"Синхронизация № {result.run_id}: {label(RunOutcome, result.outcome)}"
        f" — {counts_sentence(result.counts, short=True)};"
        f" {(result.finished - result.started).total_seconds():.0f} с."
    )
    if result.message:
        line += f" {result.message}"
    if result.outcome in (RunOutcome.OK, RunOutcome.INTERRUPTED):
        log.info(line)
    else:
        log.error(line)


def _run_schools(
    config: Config,
    result: RunResult,
    history: History,
    backend: Backend | None,
    progress: Progress | None,
    stop: threading.Event | None,
    now: Callable[[], datetime],
    helper: prepare.Helper | None = None,
) -> None:
    """The run proper: every school in turn, then the master."""
    spec, plan = load_context(config)
    if helper is not None:
        helper.bind(plan, spec)
    backend = backend or backend_for(config)
    schools = config.all_workbooks()
    today = result.today
    result.plan_problems = plan_problems(plan)
    # What «Изменения» compares with: each school's state at the end of the previous day, read
    # from the history when that school's turn comes (not every school's held through the run).
    base = history.baseline_run(result.run_id, before_day=today)
    previous = (
        Baseline(base[1], PastSchools(history, base[0], spec))
        if base is not None
        else Baseline(None)
    )
    states = backend.survey(schools)
    to_read = schools_to_read(schools, states, history.last_stamps(s.id for s in schools))
    if helper is not None:  # it checks the unchanged schools ahead of the loop
        changed = {s.id for s in to_read}
        helper.go(
            [
                i
                for i, s in enumerate(schools)
                if s.id not in changed and states.get(s.id, SourceState(False)).exists
            ]
        )
    review = _read_review(config, backend, history, result, now)
    # The master is built a school at a time, its large sheets spooled to disk, and each
    # school's rows spooled once the master has them: memory stays flat as schools are added.
    builder = MasterBuilder(
        plan,
        spec,
        today,
        config.municipality,
        previous,
        zone=config.zone,
        low_percent=config.low_percent,
        review=result.review,
        lines=SpooledLines,
    )
    school_spool = SchoolSpool(plan.items)
    if helper is not None:  # the records it writes are the run's reports' after the run
        school_spool.adopt(helper.records)
    # Read the changed schools ahead, in parallel (isolated workers for a folder).
    backend = ahead = ReadAhead(backend, to_read)
    try:
        with history.batch():  # committed before any file is changed (see _paint)
            for i, school in enumerate(schools, start=1):
                if stop is not None and stop.is_set():
                    result.outcome = RunOutcome.INTERRUPTED
                    result.message = (
                        f"Синхронизация остановлена по запросу после {i - 1}"
                        f" из {len(schools)} книг; следующая синхронизация прочитает все."
                    )
                    break
                history.commit_if_due()
                if progress:
                    progress(school, i, len(schools))
                prepared = helper.take(i - 1) if helper is not None else None
                if prepared is not None:
                    history.keep_decoded(prepared.last.snapshot, prepared.last.sheet)
                previous.schools.get(school.id)  # read before the school's snapshot: decoded once
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
                    review,
                    prepared,
                )
                history.forget_decoded()
                builder.add(report, _log_school(result.run_id, report, spec, result.review))
                stored = (
                    prepared.stored
                    if prepared is not None and report.rows is prepared.rows
                    else None
                )
                report.rows, report.passport = school_spool.put(
                    report.rows, report.passport, stored
                )
                result.reports.append(report)
                if write:
                    result.writes[school.id] = write
        ahead.close()
        _finish_review(review, result, history, now)
        if result.outcome != RunOutcome.OK:
            return
        if review.master_error:
            # The saved master holds marks we could not read: rewriting it would lose them.
            result.outcome = RunOutcome.MASTER_FAILED
            result.message = f"Свод не записан: {review.master_error}"
            log.error(
                "Свод не перезаписан, чтобы не потерять отметки МОУО: %s", review.master_error
            )
            return
        try:
            result.master = backend.write_master(builder.build(as_of=now()))
        except MasterWriteError as e:
            # The schools' results are recorded; the next run writes the master again.
            result.outcome = RunOutcome.MASTER_FAILED
            result.message = f"Свод не записан: {e}."
    finally:
        builder.close()
        if helper is not None:
            helper.close()


class PastSchools(Mapping[str, SchoolBefore]):
    """Each school's state at the baseline run, read from the history when asked for; only the
    last one asked for is kept (the run asks for each school in turn)."""

    def __init__(self, history: History, base_run_id: int, spec: TemplateSpec) -> None:
        self.history, self.base_run_id, self.spec = history, base_run_id, spec
        self._last: tuple[str, SchoolBefore | None] | None = None

    def __getitem__(self, school_id: str) -> SchoolBefore:
        if self._last is None or self._last[0] != school_id:
            past = self.history.past_read(school_id, self.base_run_id)
            before = (
                SchoolBefore.from_read(past.at, past.sheet, past.problems, past.controls, self.spec)
                if past is not None
                else None
            )
            self._last = (school_id, before)
        found = self._last[1]
        if found is None:
            raise KeyError(school_id)
        return found

    def __iter__(self) -> Iterator[str]:
        return iter(self.history.past_schools(self.base_run_id))

    def __len__(self) -> int:
        return len(self.history.past_schools(self.base_run_id))


def _log_school(
    run_id: int, report: SchoolReport, spec: TemplateSpec, review: ReviewPlan | None = None
) -> dict[str, int | float]:
    """One line per school per run, for the administrator; returns the school's counts."""
    s = school_summary(report, spec, review)
    details = (
        f"мероприятий {s['rows']}, выполнено {s['done']}, просрочено {s['overdue']},"
        f" ошибок {s['errors']}"
    )
    why = f"; {report.message}" if report.message else ""
    level = (
        logging.WARNING
        if report.outcome in (SchoolOutcome.FAILED, SchoolOutcome.LOCKED)
        else logging.INFO
    )
    log.log(
        level,
        "№ %d: %s «%s» — %s (%s)%s",
        run_id,
        report.school.id,
        report.school.name,
        label(SchoolOutcome, report.outcome),
        details,
        why,
    )
    return s


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
    review: RunReview | None = None,
    prepared: prepare.Prepared | None = None,
) -> tuple[SchoolReport, WriteResult | None]:
    last = prepared.last if prepared is not None else history.last_read(school.id)
    at = now()
    sheet: SchoolSheet | None = None
    outcome, message = SchoolOutcome.SYNCED, ""
    fingerprint, stamp, modified = "", state.stamp, state.modified
    snapshot = None  # an unchanged school's stored snapshot: recorded again by its hash only
    if not state.exists:
        outcome, message = SchoolOutcome.FAILED, "файл школы не найден"
    elif last is not None and last.stamp and last.stamp == state.stamp:
        # Unchanged since its last successful read: its last snapshot stands, no read at all.
        sheet, fingerprint, outcome = last.sheet, last.fingerprint, SchoolOutcome.UNCHANGED
        snapshot = last.snapshot or None
    else:
        try:
            history.commit()  # reading may wait (a slow share): no batch held open meanwhile
            raw = backend.read(school)
            fingerprint, modified = raw.fingerprint, raw.modified or modified
            if last is not None and fingerprint == last.fingerprint:
                sheet, outcome = last.sheet, SchoolOutcome.UNCHANGED
                snapshot = last.snapshot or None
            else:
                sheet = locate(raw, spec)
        except (SourceError, UnreadableWorkbook) as e:
            outcome, message = SchoolOutcome.FAILED, str(e)

    if sheet is None:
        history.record_read(
            run_id, school.id, at, SchoolOutcome.FAILED, stamp=stamp, message=message
        )
        failed = _failed_report(school, last, plan, spec, today, soon_days, message)
        if review is not None:
            failed.rows = review.decide(school, failed.rows, fresh=False, spec=spec, at=at)
        return failed, None

    if prepared is not None and sheet is prepared.last.sheet:
        checked, problems = prepared.rows, prepared.problems  # the same check, done ahead
    else:
        checked, problems = check_school(sheet, school, plan, spec, today, soon_days)
    rows: Sequence[RowReport] = checked
    if review is not None:
        # A sheet without «Отметка МОУО» has no cells to read marks from.
        fresh = outcome == SchoolOutcome.SYNCED and "review" in sheet.columns
        rows = review.decide(school, rows, fresh, spec, at)
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
        snapshot=snapshot,
        # The helper's encoding of exactly these problems and controls (rows not changed since).
        encoded=(
            prepared.encoded
            if prepared is not None and rows is prepared.rows and problems is prepared.problems
            else None
        ),
    )
    write = _paint(
        school, report, sheet, spec, backend, history, run_id, fingerprint, stamp, at, review
    )
    if write is not None and write.status == WriteStatus.LOCKED:
        report.outcome, report.message = SchoolOutcome.LOCKED, write.message
    elif write is not None and write.message:  # not written, or written with a reservation
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
    review: RunReview | None = None,
) -> WriteResult | None:
    """Write the controls and notes back, unless the school's sheet already shows them."""
    reviews = review.plan.rows if review is not None else None
    paint = paint_school(report, sheet, spec, reviews, review.zone if review else None)
    last = history.last_paint(school.id)
    if last is not None and last == (paint.digest(), stamp):
        return None
    history.commit()  # what the run knows is saved before the school's file changes
    write = backend.write_back(school, paint, fingerprint)
    if write.status == WriteStatus.WRITTEN:
        history.update_stamp(run_id, school.id, write.stamp, write.fingerprint)
        history.record_paint(school.id, paint.digest(), write.stamp, at)
        if review is not None and paint.review_col is not None:
            by_row = {r.sheet_row: row_key(school.id, r) for r in report.rows}
            shown = write.reviews_shown
            review.wrote(
                school.id,
                {by_row[n]: text for n, text in paint.reviews if shown is None or n in shown},
            )
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
        return SchoolReport(school, outcome=SchoolOutcome.FAILED, message=message)
    rows, problems = check_school(last.sheet, school, plan, spec, today, soon_days)
    return SchoolReport(
        school,
        rows,
        dict(last.sheet.passport),
        problems,
        SchoolOutcome.FAILED,
        message,
        last.modified,
        last.at,
    )


# --- review marks ----------------------------------------------------------------------------


_UNTOUCHED = shown_token(None, "")


def _touched(line: MasterMark | None) -> bool:
    """Whether a master line may carry something new (a line that shows and holds no mark and
    no comment cannot)."""
    if line is None:
        return False
    return bool(line.mark or line.comment or line.raw_mark or line.shown != _UNTOUCHED)


@dataclass
class RunReview:
    """The run's review state: the master's lines, the recorded marks, what was decided."""

    plan: ReviewPlan
    lines: dict[RowKey, MasterMark]
    recorded: dict[RowKey, RecordedMark]
    known: dict[RowKey, str]  # what each school's «Отметка МОУО» showed, as far as we know
    marks: MasterMarks
    history: History
    run_id: int
    source: str
    zone: tzinfo | None
    now: Callable[[], datetime]
    master_error: str = ""  # Russian: the saved master could not be read
    seen: set[RowKey] = field(default_factory=set)
    _by_school: dict[str, dict[RowKey, str]] = field(default_factory=dict)

    def decide(
        self,
        school: School,
        rows: Sequence[RowReport],
        fresh: bool,
        spec: TemplateSpec,
        at: datetime,
    ) -> Sequence[RowReport]:
        """Decide one school's rows, record its new marks, and give «На доработке» rows their
        control. `fresh`: the workbook was read this run (its «Отметка МОУО» cells count)."""
        now_rows = []
        keys = row_keys(school.id, rows)
        # Only a master line's key matters (orphan_marks: a marked line whose row is gone).
        self.seen.update(k for k in keys if k in self.lines)
        # A mark in a snapshot's cell with nothing recorded for its row (the first run after the
        # upgrade, a plan edit that changed the keys, a reset history) counts even when the
        # workbook was not read afresh: else the master would not show it and the paint wipe it.
        unrecorded = {
            k
            for r, k in zip(rows, keys, strict=True)
            if not fresh
            and k not in self.recorded
            and k not in self.known
            and mark_of(r.values.get("review"))[0] is not None
        }
        if (
            not fresh
            and not unrecorded
            and not any(k in self.recorded or _touched(self.lines.get(k)) for k in keys)
        ):
            # The common case of a quiet night: nothing marked, nothing typed, nothing read.
            self.plan.rows.quiet_school(school.id, keys)
            return rows
        for r, key in zip(rows, keys, strict=True):
            no = r.item.no if r.item is not None else r.values.get("no")
            now_rows.append(
                RowNow(
                    key,
                    row_digest(r.values),
                    r.values.get("review"),
                    fresh or key in unrecorded,
                    f"«{school.name or school.id}», № {cell_text(no) or '—'}",
                )
            )
        part = review_school(
            now_rows,
            self.recorded,
            self.lines,
            self.known,
            self.marks,
            now=at,
            run_id=self.run_id,
            master_source=self.source,
            done_requires_acceptance=self.plan.done_requires_acceptance,
        )
        self.history.record_marks(part.new_marks)
        for m in part.new_marks:
            self.recorded[m.key] = m
        self.plan.merge(part)
        if fresh or unrecorded:
            # Only what can matter: a cell with text, or one on a row with a recorded mark (an
            # empty cell there says our write did not happen, or the school emptied it).
            self._remember(
                school.id,
                {
                    n.key: cell_text(n.cell)
                    for n in now_rows
                    if n.cell_read and (n.key in self.recorded or cell_text(n.cell))
                },
            )
        out = []
        for r, key in zip(rows, keys, strict=True):
            if part.state(key) is ReviewState.REWORK:
                r = replace(r, control=rework_control(r.control, spec))
            out.append(r)
        return out

    def wrote(self, school_id: str, cells: dict[RowKey, str]) -> None:
        """Our write-back put these texts into the school's «Отметка МОУО» cells."""
        self._remember(school_id, cells)

    def _remember(self, school_id: str, cells: dict[RowKey, str]) -> None:
        if not self._by_school and self.known:
            for k, t in self.known.items():
                self._by_school.setdefault(k.school_id, {})[k] = t
        mine = self._by_school.setdefault(school_id, {})
        merged = mine | cells
        if merged != mine:
            self.known.update(cells)
            self._by_school[school_id] = merged
            self.history.set_review_cells(school_id, merged)


def _read_review(
    config: Config,
    backend: Backend,
    history: History,
    result: RunResult,
    now: Callable[[], datetime],
) -> RunReview:
    """The master's marks as last saved, read before anything is rewritten."""
    error = ""
    try:
        marks = backend.read_marks()
    except MasterReadError as e:
        marks, error = MasterMarks(), str(e)
        log.error("Отметки МОУО в своде не прочитаны: %s", e)
    lines, problems = index_lines(marks)
    # Only a line that shows or holds something can carry a mark (_touched): the others are let
    # go, so a master the coordinator saved does not keep a line per row for the whole run.
    lines = {key: line for key, line in lines.items() if _touched(line)}
    marks = replace(marks, marks=())
    plan = ReviewPlan(
        problems=[*marks.problems, *problems],
        done_requires_acceptance=config.done_requires_acceptance,
    )
    result.review = plan
    known = history.review_cells()
    return RunReview(
        plan,
        lines,
        history.last_marks(),
        known,
        marks,
        history,
        result.run_id,
        SOURCE_GOOGLE if config.storage == "gsheets" else SOURCE_MASTER,
        config.zone,
        now,
        error,
    )


def _finish_review(
    review: RunReview, result: RunResult, history: History, now: Callable[[], datetime]
) -> None:
    """Marks on master lines whose row is gone go to the trail; every problem to the log.

    Only after every school was seen: a run stopped halfway has not seen the other rows."""
    if result.outcome == RunOutcome.OK:
        kept, problems = orphan_marks(
            review.lines,
            review.seen,
            review.recorded,
            review.marks,
            now=now(),
            run_id=result.run_id,
            master_source=review.source,
        )
        history.record_marks(kept)
        review.plan.new_marks += kept
        review.plan.problems += problems
    for line in review.plan.problems:
        log.warning("Отметки МОУО: %s", line)
    if review.plan.new_marks:
        log.info("Отметок МОУО записано в историю: %d.", len(review.plan.new_marks))
