"""What happens to an uploaded workbook: check it, accept or refuse it, store it, sync.

The upload is read by FolderBackend.read_file (the sync's own reader) through
sync.workbook_check, from a file in a private staging folder whose name the server chose.
An accepted workbook is moved into the schools folder by one worker thread, under the run lock
(so no sync is writing that file meanwhile), never while the file is open, in the order the
uploads arrived, with its previous version kept in the intake's own backups (sync.web.versions);
the same worker then runs sync.pipeline.run, which reads it, paints it and writes the master.
A download carries the version it was made from; an upload based on an older version than the
one on disk is compared cell by cell, and the school is told of changes it would overwrite.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import secrets
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sync.backends.base import SourceError
from sync.backends.folder import FolderBackend, is_open
from sync.backends.isolated import OLE2_MAGIC
from sync.config import Config
from sync.consolidate import school_summary
from sync.fileio import write_atomically
from sync.model import Plan, School, SchoolReport
from sync.paint import paint_school
from sync.pipeline import load_context, run
from sync.reader import UnreadableWorkbook
from sync.service.config import lock_wait_of
from sync.service.lock import LockBusy, RunLock, lock_path_for
from sync.spec import TemplateSpec
from sync.states import RunOutcome, SchoolOutcome
from sync.web.settings import WebSettings
from sync.web.store import WebStore
from sync.web.versions import WebBackups, lost_changes, read_cells, sha256_of
from sync.workbook_check import check_workbook_file

log = logging.getLogger("roadmap_sync.web")

ZIP_MAGIC = b"PK\x03\x04"
# A real roadmap workbook unpacks to a few MB; these bound what a hostile zip may claim.
MAX_MEMBERS = 2000
MAX_UNPACKED = 200 * 1024 * 1024
MAX_RATIO = 200
DTD_SCAN = 64 * 1024


@dataclass
class Verdict:
    """The answer to one upload, shown to the school at once."""

    accepted: bool
    message: str  # Russian
    problems: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    base: str = ""  # the version its download was made from (hidden service sheet), if any


def refuse(message: str) -> Verdict:
    return Verdict(False, message)


def zip_refusal(data_head: bytes, path: Path) -> str | None:
    """Why this file is not a workbook we may open, judged by its content (not its name)."""
    if data_head.startswith(OLE2_MAGIC):
        return (
            "Файл защищён паролем или сохранён в старом формате .xls. Снимите пароль на открытие"
            " и сохраните файл как «Книга Excel (.xlsx)»."
        )
    if not data_head.startswith(ZIP_MAGIC):
        return (
            "Это не книга Excel (.xlsx): содержимое файла другого типа. Сохраните книгу как"
            " «Книга Excel (.xlsx)» и загрузите её."
        )
    try:
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return "Файл повреждён: это не целая книга Excel (.xlsx). Сохраните её заново."
    packed = max(1, path.stat().st_size)
    unpacked = sum(i.file_size for i in infos)
    if len(infos) > MAX_MEMBERS or unpacked > MAX_UNPACKED or unpacked / packed > MAX_RATIO:
        return (
            "Файл отклонён: внутри него слишком много данных для книги дорожной карты"
            " (похоже на «zip-бомбу»). Загрузите книгу, скачанную по этой ссылке."
        )
    names = {i.filename for i in infos}
    if _declares_dtd(path, infos):
        return (
            "Файл отклонён: в нём есть объявления XML (DOCTYPE, ENTITY), которых не бывает в"
            " книгах Excel, LibreOffice или Р7-Офис. Загрузите книгу, скачанную по этой ссылке."
        )
    if "xl/workbook.xml" not in names:
        return (
            "Это архив, но не книга Excel (.xlsx): например, документ Word или .ods."
            " Сохраните книгу как «Книга Excel (.xlsx)»."
        )
    return None


def _declares_dtd(path: Path, infos: list[zipfile.ZipInfo]) -> bool:
    """Whether any XML part has a DOCTYPE: office suites never write one, attacks do.

    The prolog comes before the root element, so the head of each part is enough.
    """
    with zipfile.ZipFile(path) as z:
        for info in infos:
            if not info.filename.lower().endswith((".xml", ".rels", ".vml")):
                continue
            try:
                with z.open(info) as part:
                    head = part.read(DTD_SCAN)
            except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError):
                return False  # damaged: the reader says so in its own words
            if b"<!doctype" in head.lower() or b"<!entity" in head.lower():
                return True
    return False


def summary_of(
    school: School, rows: list[Any], problems: list[Any], spec: TemplateSpec
) -> dict[str, Any]:
    s = school_summary(SchoolReport(school, rows, {}, problems), spec)
    return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in s.items()}


def check_upload(
    path: Path, school: School, spec: TemplateSpec, plan: Plan, today: date, soon_days: int
) -> Verdict:
    """Read and check the staged upload as the sync would; refuse another school's workbook."""
    with path.open("rb") as f:
        head = f.read(8)
    why = zip_refusal(head, path)
    if why:
        return refuse(why)
    try:
        checked = check_workbook_file(
            path, spec, today, plan=plan, school=school, soon_days=soon_days
        )
    except (SourceError, UnreadableWorkbook) as e:
        text = str(e).replace(path.name, "загруженный файл")
        return refuse(f"Книга не читается: {text}")
    except Exception:  # a file no check foresaw must not take the page down
        log.exception("Приём книг: книга школы %s не проверена", school.id)
        text = "при проверке произошла внутренняя ошибка; сообщите координатору"
        return refuse(f"Книга не читается: {text}")
    named = checked.school
    if named is None:
        return refuse(
            "В книге нет служебного листа с названием школы: это не книга дорожной карты или"
            " она собрана заново. Скачайте свою книгу по этой ссылке и заполните её."
        )
    if named.id != school.id:
        who = f"«{named.name}»" if named.name else f"с кодом {named.id}"
        return refuse(
            f"Это книга другой школы ({who}), а не «{school.name}». Загрузите книгу своей"
            " школы: её можно скачать по этой ссылке."
        )
    problems = [p.to_json() for p in checked.problems]
    summary = summary_of(school, checked.rows, checked.problems, spec)
    errors = len(checked.errors)
    if errors:
        message = (
            f"Книга принята, но в ней ошибок: {errors}. Исправьте их (ячейки указаны ниже)"
            " и загрузите книгу снова."
        )
    else:
        message = "Книга принята, ошибок нет."
    base = checked.sheet.meta.get(BASE_KEY, "")
    return Verdict(True, message, problems, summary, base if len(base) == 64 else "")


BASE_KEY = "web_base"  # a download's hidden service sheet: the version it was made from


def repainted_copy(
    config: Config, school: School, today: date, data: bytes | None = None, stamp: str = ""
) -> bytes:
    """The school's current workbook with today's «Контроль» and notes, as a download.

    The copy is painted by the folder backend's own write_back in a temporary folder; the
    school's file itself is left alone (the sync paints it). `data` is the file's content
    (read now if not given); `stamp`, the version it is, goes into the hidden service sheet so
    that an upload made from this download says which version it was based on.
    """
    spec, plan = load_context(config)
    source = Path(school.source)
    content = source.read_bytes() if data is None else data
    with tempfile.TemporaryDirectory(prefix="roadmap-web-") as tmp:
        copy = Path(tmp) / "copy.xlsx"
        copy.write_bytes(content)
        try:
            checked = check_workbook_file(
                copy, spec, today, plan=plan, school=school, soon_days=config.soon_days
            )
        except (SourceError, UnreadableWorkbook):
            return content  # unreadable: the file as it is
        report = SchoolReport(school, checked.rows, dict(checked.sheet.passport), checked.problems)
        paint = paint_school(report, checked.sheet, spec)
        if stamp:
            paint = replace(paint, stamps={BASE_KEY: stamp})
        backend = FolderBackend(Path(tmp) / "master.xlsx", Path(tmp) / "backups", 1)
        stand_in = School(school.id, school.name, source=str(copy))
        backend.write_back(stand_in, paint, checked.raw.fingerprint)
        return copy.read_bytes()


def when(moment: datetime, zone: Any = None) -> str:
    """A moment as the pages show it: in the municipality's zone."""
    if moment.tzinfo is None:
        moment = moment.astimezone()
    return f"{moment.astimezone(zone):%d.%m.%Y %H:%M}"


@dataclass
class Job:
    upload_id: int
    school: School
    staged: Path | None  # None: stored already, only the sync is due (after a restart)
    ticket: int = 0  # arrival order: a school's uploads are stored strictly in this order
    base: str = ""  # the version (sha256) the school's download was of, when it says so
    not_before: float = 0.0  # monotonic time; the file was open, try again then
    done: threading.Event = field(default_factory=threading.Event)
    callbacks: list[Callable[[], None]] = field(default_factory=list)


class SyncWorker:
    """One thread that stores accepted uploads and syncs; uploads that arrive during a run
    are stored and synced together by the next one.

    Every upload takes a ticket when it arrives (before its check); a school's uploads are
    stored strictly in ticket order, whichever check finishes first. An upload whose school
    file is open somewhere waits (staged) and is tried again every `open_retry` seconds; the
    school's later uploads wait behind it.
    """

    def __init__(
        self, config: Config, settings: WebSettings, store: WebStore, today: date | None = None
    ):
        self.config, self.settings, self.store, self.today = config, settings, store, today
        self.backups = WebBackups(settings.backups_dir, settings.backup_days)
        self.cond = threading.Condition()
        self.queue: list[Job] = []
        self.jobs: dict[int, Job] = {}
        self.tickets = 0
        self.arrived: dict[str, set[int]] = {}  # school -> tickets taken, not yet submitted
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="web-sync", daemon=True)
        self.runs = 0

    def start(self) -> None:
        schools = {s.id: s for s in self.config.schools}
        for upload in self.store.pending():  # accepted before a restart, not yet stored
            staged = self.settings.staging_dir / upload.staged
            if upload.school_id in schools and upload.staged and staged.exists():
                ticket = self.arrive(upload.school_id)
                self.submit(upload.id, schools[upload.school_id], staged, ticket, upload.base)
            else:
                self.store.set_state(upload.id, "store_failed", "файл потерян при перезапуске")
        for upload in self.store.syncing():  # stored, but the sync was cut short
            if self.settings.sync == "now" and upload.school_id in schools:
                self.store.set_state(
                    upload.id, "stored", "синхронизацию прервал перезапуск; свод обновляется"
                )
                ticket = self.arrive(upload.school_id)
                self.submit(upload.id, schools[upload.school_id], None, ticket)
            else:
                self.store.set_state(
                    upload.id, "stored", "синхронизацию прервал перезапуск; свод обновит ночная"
                )
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        with self.cond:
            self.cond.notify_all()
        if self.thread.is_alive():
            self.thread.join(timeout=60)

    def arrive(self, school_id: str) -> int:
        """A ticket for an upload that has just arrived: its place in the school's order."""
        with self.cond:
            self.tickets += 1
            self.arrived.setdefault(school_id, set()).add(self.tickets)
            return self.tickets

    def abandon(self, school_id: str, ticket: int) -> None:
        """The upload with this ticket was refused (or failed): later ones need not wait."""
        with self.cond:
            self.arrived.get(school_id, set()).discard(ticket)
            self.cond.notify_all()

    def submit(
        self,
        upload_id: int,
        school: School,
        staged: Path | None,
        ticket: int | None = None,
        base: str = "",
    ) -> Job:
        if ticket is None:
            ticket = self.arrive(school.id)
        job = Job(upload_id, school, staged, ticket, base)
        with self.cond:
            self.arrived.get(school.id, set()).discard(ticket)
            self.jobs[upload_id] = job
            self.queue.append(job)
            self.cond.notify_all()
        return job

    def _ready(self) -> list[Job]:
        """Take the jobs that may go now (call with the condition held)."""
        now = time.monotonic()
        blocked: set[str] = set()
        ready: list[Job] = []
        rest: list[Job] = []
        for job in sorted(self.queue, key=lambda j: j.ticket):
            sid = job.school.id
            earlier = any(t < job.ticket for t in self.arrived.get(sid, ()))
            if sid in blocked or earlier or job.not_before > now:
                blocked.add(sid)
                rest.append(job)
            else:
                ready.append(job)
        self.queue = rest
        return ready

    def _loop(self) -> None:
        while not self.stopping.is_set():
            with self.cond:
                batch = self._ready()
                while not batch and not self.stopping.is_set():
                    self.cond.wait(min(1.0, self.settings.open_retry))
                    batch = self._ready()
            if not batch:
                continue
            try:
                self._handle(batch)
            except Exception:  # the worker must outlive any one batch
                log.exception("Приём книг: сбой при сохранении или синхронизации")
                for job in batch:
                    if not job.done.is_set() and job.not_before <= time.monotonic():
                        now = self.store.upload(job.upload_id)
                        stored = now is not None and now.state in ("syncing", "stored")
                        self.store.set_state(
                            job.upload_id,
                            "sync_failed" if stored else "store_failed",
                            "внутренняя ошибка, подробности в журнале службы",
                        )
                        self._finish(job)

    def _requeue(self, jobs: list[Job]) -> None:
        with self.cond:
            self.queue = jobs + self.queue
            self.cond.notify_all()

    def _handle(self, batch: list[Job]) -> None:
        lock = RunLock(lock_path_for(self.config.history_path), command="web")
        try:
            lock.acquire(max(lock_wait_of(self.config), 60), stop=self.stopping)
        except LockBusy:
            self._requeue(batch)  # a long run elsewhere: try again shortly, nothing is lost
            self.stopping.wait(2.0)
            return
        stored: list[Job] = []
        waiting: list[Job] = []
        try:
            for job in batch:
                if any(w.school.id == job.school.id for w in waiting):
                    waiting.append(job)  # strictly after the school's earlier upload
                    continue
                outcome = self._store(job)
                if outcome == "stored":
                    stored.append(job)
                elif outcome == "waiting":
                    waiting.append(job)
        finally:
            lock.release()
        if waiting:
            self._requeue(waiting)
        if self.settings.sync != "now" or not stored:
            for job in stored:
                self._finish(job)
            return
        result = run(
            self.config,
            today=self.today,
            command="web",
            lock_wait=max(lock_wait_of(self.config), 60),
        )
        self.runs += 1
        reports = {r.school.id: r for r in result.reports}
        now = datetime.now().astimezone()
        for job in stored:
            report = reports.get(job.school.id)
            if result.outcome == RunOutcome.BUSY or report is None:
                self.store.set_state(job.upload_id, "stored", result.message)
            elif report.outcome == SchoolOutcome.FAILED:
                self.store.set_state(job.upload_id, "sync_failed", report.message)
            else:
                self.store.set_state(job.upload_id, "synced", report.message)
            with contextlib.suppress(OSError):  # the sync's paint of an upload is the web's too
                painted = sha256_of(Path(job.school.source).read_bytes())
                self.store.note_version(job.school.id, painted, "web", now, job.upload_id)
            self._finish(job)

    def _store(self, job: Job) -> str:
        """Back up the school's previous workbook, then replace it atomically.

        Returns "stored", "waiting" (the file is open: tried again later) or "failed".
        """
        if job.staged is None:
            return "stored"
        target = Path(job.school.source)
        if is_open(target):
            job.not_before = time.monotonic() + self.settings.open_retry
            self.store.set_state(
                job.upload_id,
                "waiting",
                "книга школы сейчас открыта (в школе или у координатора); ваша загрузка"
                " сохранится сама, как только файл закроют",
                job.staged.name,
            )
            log.info("Приём книг: книга школы %s открыта, загрузка ждёт", job.school.id)
            self._notify(job)  # the school's answer need not wait for the file to be closed
            return "waiting"
        now = datetime.now().astimezone()
        replaced = warning = ""
        try:
            data = job.staged.read_bytes()
            if target.exists():
                old = target.read_bytes()
                old_sha = sha256_of(old)
                known = self.store.version(job.school.id, old_sha)
                origin = known[0] if known else "school"
                self.backups.keep(job.school.id, old, origin, now)
                if known is None:
                    self.store.note_version(job.school.id, old_sha, "school", now)
                replaced = self._describe(known, target)
                if job.base and job.base != old_sha:
                    warning = self._conflict(job, target, replaced)
            write_atomically(target, lambda f: f.write(data))
        except OSError as e:
            self.store.set_state(
                job.upload_id,
                "store_failed",
                f"книга не сохранена ({e.strerror or e}); прежняя версия не тронута",
                job.staged.name,
            )
            self._finish(job)
            return "failed"
        self.store.note_version(job.school.id, sha256_of(data), "web", now, job.upload_id)
        job.staged.unlink(missing_ok=True)
        self.store.set_replaced(job.upload_id, replaced, warning)
        self.store.set_state(job.upload_id, "syncing" if self.settings.sync == "now" else "stored")
        log.info(
            "Приём книг: книга школы %s сохранена (загрузка № %d)%s",
            job.school.id,
            job.upload_id,
            "; КОНФЛИКТ ВЕРСИЙ: " + warning if warning else "",
        )
        return "stored"

    def _describe(self, known: tuple[str, datetime, int | None] | None, target: Path) -> str:
        """Which version an upload replaced, in the school's words."""
        if known is not None and known[2] is not None:
            row = self.store.upload(known[2])
            at = when(row.at if row else known[1], self.config.zone)
            return f"загрузку № {known[2]} от {at}"
        modified = datetime.fromtimestamp(target.stat().st_mtime).astimezone()
        return f"версию из папки школ (сохранена {when(modified, self.config.zone)})"

    def _conflict(self, job: Job, target: Path, replaced: str) -> str:
        """Russian warning when the file changed since the download the upload came from and
        the upload lacks those changes; "" when it contains them."""
        assert job.staged is not None
        keep = "Ваша книга сохранена; прежняя версия сохранена в резервных копиях приёма книг."
        base_path = self.backups.find(job.school.id, job.base)
        if base_path is None:
            return (
                f"Внимание: после того как вы скачали книгу, её изменили ({replaced}), а ту"
                f" версию уже не сравнить с вашей. {keep} Проверьте, не пропали ли чужие правки."
            )
        spec, _plan = load_context(self.config)
        try:
            base = read_cells(base_path, spec)
            current = read_cells(target, spec)
            upload = read_cells(job.staged, spec)
        except (SourceError, UnreadableWorkbook):
            return f"Внимание: после того как вы скачали книгу, её изменили ({replaced}). {keep}"
        lost = lost_changes(base, current, upload)
        if not lost:
            return ""
        shown = ", ".join(lost[:8]) + (f" и ещё {len(lost) - 8}" if len(lost) > 8 else "")
        return (
            f"Внимание: после того как вы скачали книгу, её изменили ({replaced}), а в вашей"
            f" книге этих изменений нет: {shown}. {keep} Скачайте книгу заново, перенесите в неё"
            " свои правки и загрузите снова — или попросите координатора вернуть эти ячейки."
        )

    def _finish(self, job: Job) -> None:
        with self.cond:
            self.jobs.pop(job.upload_id, None)
        job.done.set()
        self._notify(job)

    @staticmethod
    def _notify(job: Job) -> None:
        for callback in job.callbacks:
            with contextlib.suppress(Exception):
                callback()


def stage(staging_dir: Path, data: io.BufferedIOBase | Any) -> tuple[Path, int, str]:
    """Copy an uploaded stream into the staging folder under a name the server chose."""
    staging_dir.mkdir(parents=True, exist_ok=True)
    path = staging_dir / f"{secrets.token_hex(16)}.xlsx"
    digest = hashlib.sha256()
    size = 0
    with path.open("xb") as out:
        while chunk := data.read(1 << 16):
            out.write(chunk)
            digest.update(chunk)
            size += len(chunk)
    return path, size, digest.hexdigest()
