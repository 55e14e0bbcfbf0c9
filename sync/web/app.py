"""The intake's Starlette application: the school's page, the coordinator's page, downloads.

Routes (a token is the whole secret of a link; a wrong one is an ordinary 404):
  GET  /s/{token}            the school's page (?u=N shows the result of upload N)
  GET  /s/{token}/workbook   the school's workbook with today's «Контроль»
  POST /s/{token}/upload     a filled workbook (multipart, field «workbook», CSRF token)
  GET  /c/{token}            the coordinator's page
  GET  /c/{token}/master     the master workbook;  GET /c/{token}/report  the newest справка
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from sync.config import Config
from sync.history import History
from sync.model import School, Severity
from sync.pipeline import load_context
from sync.spravka.make import DRAFT_MARK
from sync.states import ControlKey
from sync.web.intake import SyncWorker, Verdict, check_upload, repainted_copy, stage
from sync.web.security import (
    BodyTooLarge,
    RateLimiter,
    SecurityMiddleware,
    capped_receive,
    csrf_ok,
    csrf_token,
)
from sync.web.settings import WebSettings
from sync.web.store import Link, Upload, WebStore
from sync.web.versions import sha256_of

log = logging.getLogger("roadmap_sync.web")
HERE = Path(__file__).resolve().parent
MULTIPART_OVERHEAD = 64 * 1024  # the form's boundaries and small fields around the file

OUTCOME_RU = {"accepted": "принята", "refused": "отклонена"}
STATE_RU = {
    "pending": "сохраняется…",
    "waiting": "ждёт: книга открыта, сохранится, как только её закроют",
    "syncing": "сохранена, свод обновляется…",
    "stored": "сохранена, в свод попадёт при следующей синхронизации",
    "synced": "сохранена, свод обновлён",
    "store_failed": "не сохранена",
    "sync_failed": "сохранена, но синхронизация её не прочитала",
    "": "",
}
READ_RU = {
    "synced": "прочитана",
    "unchanged": "без изменений",
    "failed": "не прочитана",
    "locked": "была открыта",
}
SUMMARY_RU = [
    ("rows", "мероприятий"),
    ("done", "выполнено"),
    ("overdue", "просрочено"),
    ("soon", "скоро срок"),
    ("errors", "ошибок"),
    ("warnings", "предупреждений"),
]


class Intake:
    """Everything the pages need: the configuration, the store, the worker, the templates."""

    def __init__(self, config: Config, settings: WebSettings, today: date | None = None):
        self.config, self.settings, self.fixed_today = config, settings, today
        self.store = WebStore(settings.store_path, config.history_path)
        self.worker = SyncWorker(config, settings, self.store, today)
        self.limiter = RateLimiter()
        self.csrf_key = self.store.secret("csrf")
        self.schools = {s.id: s for s in config.schools}
        self.env = Environment(
            loader=FileSystemLoader(HERE / "templates"),
            autoescape=select_autoescape(["html"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters["local"] = self.local
        self._context: tuple[float, Any] | None = None
        self.miss_delay = 1.0  # seconds a miss over the limit waits before its answer

    def today(self) -> date:
        """Today in the municipality's zone (or the fixed day the demo looks at)."""
        return self.fixed_today or self.config.today()

    def local(self, moment: datetime | None) -> str:
        if moment is None:
            return "—"
        if moment.tzinfo is None:
            moment = moment.astimezone()
        return f"{moment.astimezone(self.config.zone):%d.%m.%Y %H:%M}"

    def context(self) -> Any:
        """The template spec and the plan, reloaded when the plan file changes."""
        mtime = self.config.plan_file.stat().st_mtime
        if self._context is None or self._context[0] != mtime:
            self._context = (mtime, load_context(self.config))
        return self._context[1]

    def render(self, name: str, status: int = 200, **values: Any) -> HTMLResponse:
        values.setdefault("municipality", self.config.municipality)
        html = self.env.get_template(name).render(**values)
        return HTMLResponse(html, status_code=status)

    async def not_found(self, request: Request) -> Response:
        """A wrong link is an ordinary 404; many of them from one client are slowed down (and
        answered 429). A right link is never refused for them: a school behind the same NAT
        address as a mistyping neighbour, or a guesser, still opens its page at once."""
        client = request.client.host if request.client else "?"
        if not self.limiter.allow(client, "miss", self.settings.misses_per_minute):
            await asyncio.sleep(self.miss_delay)
            return self.render(
                "message.html",
                429,
                title="Слишком много запросов",
                text="Слишком много неверных ссылок с вашего адреса. Подождите минуту.",
            )
        return self.render(
            "message.html",
            404,
            title="Страница не найдена",
            text="Такой страницы нет. Проверьте ссылку из письма.",
        )

    def school_of(self, request: Request) -> tuple[Link, School] | None:
        link = self.store.resolve(request.path_params["token"], "school")
        if link is None or link.subject not in self.schools:
            return None
        return link, self.schools[link.subject]

    def coordinator_link(self, request: Request) -> Link | None:
        return self.store.resolve(request.path_params["token"], "coordinator")

    # the school
    async def school_page(self, request: Request) -> Response:
        found = self.school_of(request)
        if found is None:
            return await self.not_found(request)
        link, school = found
        shown: Upload | None = None
        if request.query_params.get("u", "").isdigit():
            candidate = self.store.upload(int(request.query_params["u"]))
            if candidate is not None and candidate.school_id == school.id:
                shown = candidate
        return await self.school_response(request, link, school, shown=shown)

    async def school_response(
        self,
        request: Request,
        link: Link,
        school: School,
        *,
        shown: Upload | None = None,
        verdict: Verdict | None = None,
        status: int = 200,
    ) -> Response:
        state = await run_in_threadpool(self.school_state, school.id)
        uploads = self.store.uploads_of(school.id)
        if shown is not None:  # one snapshot: the result and the list never disagree
            shown = next((u for u in uploads if u.id == shown.id), shown)
        return self.render(
            "school.html",
            status,
            school=school,
            token=request.path_params["token"],
            csrf=csrf_token(self.csrf_key, link.id),
            shown=shown,
            verdict=verdict,
            uploads=uploads,
            state=state,
            has_workbook=Path(school.source).exists(),
            max_mb=self.settings.max_upload_mb,
            outcome_ru=OUTCOME_RU,
            state_ru=STATE_RU,
            read_ru=READ_RU,
            summary_ru=SUMMARY_RU,
            sync_mode=self.settings.sync,
            refresh=shown is not None and shown.state in ("pending", "syncing"),
        )

    def school_state(self, school_id: str) -> Any:
        if not self.config.history_path.exists():
            return None
        with History.open(self.config.history_path) as history:
            return history.school_states().get(school_id)

    async def download(self, request: Request) -> Response:
        found = self.school_of(request)
        if found is None:
            return await self.not_found(request)
        _link, school = found
        if not Path(school.source).exists():
            return self.render(
                "message.html",
                404,
                title="Книги пока нет",
                text="Книга вашей школы ещё не создана. Обратитесь к координатору.",
            )
        today = self.today()
        data = await run_in_threadpool(self.served_copy, school, today)
        name = f"Дорожная карта — {school.name} ({today:%d.%m.%Y}).xlsx".replace("/", "-")
        response = Response(
            data,
            media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
        response.headers["content-disposition"] = _attachment(name)
        return response

    def served_copy(self, school: School, today: date) -> bytes:
        """The download, stamped with the version it was made from; that version is kept in
        the intake's backups, so a later upload can be compared with it."""
        content = Path(school.source).read_bytes()
        sha = sha256_of(content)
        known = self.store.version(school.id, sha)
        now = datetime.now().astimezone()
        try:
            self.worker.backups.keep(school.id, content, known[0] if known else "school", now)
        except OSError:
            log.exception("Приём книг: копия книги школы %s не сохранена", school.id)
            sha = ""  # no copy to compare with: the download names no version
        if known is None and sha:
            self.store.note_version(school.id, sha, "school", now)
        return repainted_copy(self.config, school, today, content, sha)

    async def upload(self, request: Request) -> Response:
        found = self.school_of(request)
        if found is None:
            return await self.not_found(request)
        link, school = found
        client = request.client.host if request.client else "?"
        if not self.limiter.allow(client, "upload", self.settings.uploads_per_minute):
            return self.render(
                "message.html",
                429,
                title="Слишком много загрузок",
                text="С вашего адреса слишком много загрузок подряд."
                " Подождите минуту и загрузите книгу снова.",
            )
        if not _same_origin(request):
            return self.render(
                "message.html",
                403,
                title="Запрос отклонён",
                text="Форма отправлена с чужого сайта. Откройте ссылку из письма"
                " и загрузите книгу с этой страницы.",
            )
        ticket = self.worker.arrive(school.id)  # its place in the school's order, taken now
        try:
            return await self.receive_upload(request, link, school, ticket)
        finally:
            self.worker.abandon(school.id, ticket)  # a no-op once submitted

    async def receive_upload(
        self, request: Request, link: Link, school: School, ticket: int
    ) -> Response:
        limit = self.settings.max_upload_bytes
        too_big = Verdict(
            False,
            f"Файл слишком большой: можно не больше {self.settings.max_upload_mb:g} МБ."
            " Удалите из книги лишние картинки или листы и загрузите снова.",
        )
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit + MULTIPART_OVERHEAD:
            return await self.refused(request, link, school, too_big, 413, record=False)
        capped = Request(request.scope, capped_receive(request.receive, limit + MULTIPART_OVERHEAD))
        try:
            form = await capped.form(max_files=1, max_fields=4, max_part_size=64 * 1024)
        except BodyTooLarge:
            return await self.refused(request, link, school, too_big, 413, record=False)
        except MultiPartException:
            return await self.refused(
                request,
                link,
                school,
                Verdict(
                    False,
                    "Форма отправлена не полностью. Выберите файл и нажмите «Загрузить» ещё раз.",
                ),
                400,
                record=False,
            )
        try:
            presented = form.get("csrf")
            if not isinstance(presented, str) or not csrf_ok(self.csrf_key, link.id, presented):
                return self.render(
                    "message.html",
                    403,
                    title="Страница устарела",
                    text="Страница устарела или форма отправлена не с неё."
                    " Обновите страницу и загрузите книгу снова.",
                )
            upload = form.get("workbook")
            if not isinstance(upload, UploadFile) or not upload.filename:
                return await self.refused(
                    request,
                    link,
                    school,
                    Verdict(False, "Файл не выбран: выберите книгу и нажмите «Загрузить»."),
                    400,
                    record=False,
                )
            staged, size, digest = await run_in_threadpool(
                stage, self.settings.staging_dir, upload.file
            )
        finally:
            await form.close()
        if size > limit:
            staged.unlink(missing_ok=True)
            return await self.refused(request, link, school, too_big, 413, record=False)
        if size == 0:
            staged.unlink(missing_ok=True)
            return await self.refused(
                request, link, school, Verdict(False, "Файл пуст (0 байт)."), 422, size=size
            )
        spec, plan = self.context()
        today = self.today()
        try:
            verdict = await run_in_threadpool(
                check_upload, staged, school, spec, plan, today, self.config.soon_days
            )
        except BaseException:
            staged.unlink(missing_ok=True)
            raise
        if not verdict.accepted:
            staged.unlink(missing_ok=True)
            return await self.refused(request, link, school, verdict, 422, size=size, digest=digest)
        upload_id = self.store.add_upload(
            school.id,
            datetime.now().astimezone(),
            size=size,
            sha256=digest,
            outcome="accepted",
            message=verdict.message,
            problems=verdict.problems,
            summary=verdict.summary,
            state="pending",
            staged=staged.name,
            base=verdict.base,
        )
        job = self.worker.submit(upload_id, school, staged, ticket, verdict.base)
        if self.settings.sync_wait > 0:
            loop = asyncio.get_running_loop()
            finished: asyncio.Future[None] = loop.create_future()

            def settle() -> None:
                if not finished.done():
                    finished.set_result(None)

            def wake() -> None:
                loop.call_soon_threadsafe(settle)

            job.callbacks.append(wake)
            if job.done.is_set():
                wake()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(finished, self.settings.sync_wait)
        token = request.path_params["token"]
        return RedirectResponse(f"/s/{token}?u={upload_id}#result", status_code=303)

    async def refused(
        self,
        request: Request,
        link: Link,
        school: School,
        verdict: Verdict,
        status: int,
        *,
        record: bool = True,
        size: int = 0,
        digest: str = "",
    ) -> Response:
        shown = None
        if record:
            upload_id = self.store.add_upload(
                school.id,
                datetime.now().astimezone(),
                size=size,
                sha256=digest,
                outcome="refused",
                message=verdict.message,
            )
            shown = self.store.upload(upload_id)
        log.info("Приём книг: книга школы %s отклонена: %s", school.id, verdict.message)
        return await self.school_response(
            request, link, school, shown=shown, verdict=None if shown else verdict, status=status
        )

    # the coordinator
    async def coordinator_page(self, request: Request) -> Response:
        if self.coordinator_link(request) is None:
            return await self.not_found(request)
        rows = await run_in_threadpool(self.coordinator_rows)
        report = self.newest_report()
        return self.render(
            "coordinator.html",
            token=request.path_params["token"],
            rows=rows,
            chart=chart_svg(rows),
            master=self.config.master_path.exists(),
            master_at=_mtime(self.config.master_path),
            report=report.name if report else None,
            report_at=_mtime(report) if report else None,
            outcome_ru=OUTCOME_RU,
            state_ru=STATE_RU,
            read_ru=READ_RU,
            today=self.today(),
        )

    def coordinator_rows(self) -> list[dict[str, Any]]:
        states: dict[str, Any] = {}
        if self.config.history_path.exists():
            with History.open(self.config.history_path) as history:
                states = history.school_states()
        uploads = self.store.last_uploads()
        rows = []
        for school in self.config.schools:
            st = states.get(school.id)
            controls = list((st.controls or {}).values()) if st else []
            problems = st.problems if st else ()
            counted = [c for c in controls if c != "not_needed"]
            done = sum(1 for c in controls if c == ControlKey.DONE)
            rows.append(
                {
                    "school": school,
                    "rows": len(controls),
                    "done": done,
                    "percent": done / len(counted) if counted else 0.0,
                    "overdue": sum(1 for c in controls if c == ControlKey.OVERDUE),
                    "errors": sum(1 for p in problems if p.get("severity") == Severity.ERROR),
                    "last_read": st.last_read if st else None,
                    "last_outcome": st.last_outcome if st else "",
                    "last_message": st.last_message if st else "",
                    "upload": uploads.get(school.id),
                }
            )
        return rows

    def newest_report(self) -> Path | None:
        folder = self.settings.reports_dir
        if folder is None or not folder.is_dir():
            return None
        found = [
            p
            for p in folder.iterdir()
            if p.is_file()
            and p.suffix.lower() in (".docx", ".pdf", ".odt")
            and not p.name.startswith((".", "~$"))
        ]
        final = [p for p in found if DRAFT_MARK not in p.name]
        return max(final or found, key=lambda p: p.stat().st_mtime) if found else None

    async def master(self, request: Request) -> Response:
        if self.coordinator_link(request) is None:
            return await self.not_found(request)
        path = self.config.master_path
        if not path.exists():
            return self.render(
                "message.html",
                404,
                title="Свода пока нет",
                text="Свод появится после первой синхронизации.",
            )
        return FileResponse(path, filename=path.name)

    async def report(self, request: Request) -> Response:
        if self.coordinator_link(request) is None:
            return await self.not_found(request)
        path = self.newest_report()
        if path is None:
            return self.render(
                "message.html", 404, title="Справки пока нет", text="В папке отчётов нет справки."
            )
        return FileResponse(path, filename=path.name)

    async def index(self, request: Request) -> Response:
        return self.render(
            "message.html",
            title="Приём дорожных карт",
            text="Откройте ссылку вашей школы из письма координатора.",
        )


def _attachment(name: str) -> str:
    from urllib.parse import quote

    ascii_name = name.encode("ascii", "replace").decode().replace("?", "_").replace('"', "")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"


def _mtime(path: Path | None) -> datetime | None:
    if path is None or not path.exists():
        return None
    return datetime.fromtimestamp(path.stat().st_mtime).astimezone()


def _same_origin(request: Request) -> bool:
    """A form posted from another site is refused (besides the CSRF token): browsers say so in
    Sec-Fetch-Site, and in Origin unless our no-referrer policy made it «null»."""
    if request.headers.get("sec-fetch-site", "same-origin") == "cross-site":
        return False
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return True
    host = request.headers.get("x-forwarded-host") or request.headers.get("host", "")
    return urlsplit(origin).netloc.lower() == host.lower()


def chart_svg(rows: list[dict[str, Any]]) -> str:
    """An inline SVG bar chart: each school's share of rows done (no script, no library)."""
    from html import escape

    bar_h, gap, label_w, width = 18, 6, 260, 640
    height = max(1, len(rows)) * (bar_h + gap) + 10
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}"'
        f' class="chart" role="img" aria-label="Доля выполненных мероприятий по школам">'
    ]
    scale = width - label_w - 60
    for i, row in enumerate(rows):
        y = 5 + i * (bar_h + gap)
        pct = max(0.0, min(1.0, float(row["percent"])))
        name = row["school"].name
        short = name if len(name) <= 34 else name[:33] + "…"
        parts.append(
            f'<text x="{label_w - 6}" y="{y + bar_h - 4}" text-anchor="end">{escape(short)}</text>'
            f'<rect x="{label_w}" y="{y}" width="{scale}" height="{bar_h}" class="track"/>'
            f'<rect x="{label_w}" y="{y}" width="{scale * pct:.1f}" height="{bar_h}"'
            f' class="{"bar bad" if row["overdue"] else "bar"}"/>'
            f'<text x="{label_w + scale + 6}" y="{y + bar_h - 4}">{pct:.0%}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def create_app(config: Config, settings: WebSettings, today: date | None = None) -> Starlette:
    """The ASGI application; the sync worker starts and stops with it. `today` fixes the
    date (the demo's); by default it is today in the municipality's zone."""
    intake = Intake(config, settings, today)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        intake.worker.start()
        try:
            yield
        finally:
            await run_in_threadpool(intake.worker.stop)
            intake.store.close()

    async def not_found(request: Request, _exc: Exception) -> Response:
        return await intake.not_found(request)

    async def server_error(request: Request, _exc: Exception) -> Response:
        return intake.render(
            "message.html",
            500,
            title="Ошибка на сервере",
            text="Что-то пошло не так. Попробуйте ещё раз через минуту; если не выйдет —"
            " сообщите координатору.",
        )

    async def health(_request: Request) -> Response:
        return PlainTextResponse("ok")

    app = Starlette(
        routes=[
            Route("/", intake.index),
            Route("/healthz", health),
            Route("/s/{token}", intake.school_page),
            Route("/s/{token}/workbook", intake.download),
            Route("/s/{token}/upload", intake.upload, methods=["POST"]),
            Route("/c/{token}", intake.coordinator_page),
            Route("/c/{token}/master", intake.master),
            Route("/c/{token}/report", intake.report),
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        ],
        exception_handlers={404: not_found, 405: not_found, 500: server_error},
        lifespan=lifespan,
    )
    app.state.intake = intake
    app.add_middleware(
        SecurityMiddleware, limiter=intake.limiter, requests_per_minute=settings.requests_per_minute
    )
    return app


__all__ = ["HTTPException", "Intake", "chart_svg", "create_app"]
