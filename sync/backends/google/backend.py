"""Google Sheets storage: each school a spreadsheet in one Drive folder, the master a spreadsheet.

The same Backend protocol as the folder of workbooks, within Google's quotas:
- survey: one Drive files.list of the folder (paged, 1000 a page) gives every spreadsheet's
  modifiedTime and last modifying user. A spreadsheet last changed by the service account itself
  (our own write-back) counts as unchanged, so a painted school is not read again next night.
- read: exactly one spreadsheets.get (every sheet's values, date formats, fills and notes).
- write_back: at most one spreadsheets.batchUpdate with only the Контроль cells and notes that
  differ, none when the school already sees the paint; its answer carries the spreadsheet after
  the write, which tells whether someone typed in it meanwhile.
- write_master: at most three requests (one get, one batchUpdate, one values.batchUpdate RAW).
- create: Drive files.create in the folder, one batchUpdate that builds the whole template, and a
  permission per address; the spreadsheet id goes to the registry at once, so a school never
  gets a second spreadsheet.
Failures are per school: after bounded retries a school is failed for this run and keeps its
last snapshot; after several schools in a row fail the same way Google is taken as down and the
rest fail fast, with a probe now and then.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from google.auth import exceptions as auth_exceptions
from google.auth.credentials import Credentials
from google.oauth2 import service_account
from gspread.exceptions import APIError
from gspread.urls import (
    DRIVE_FILES_API_V3_URL,
    SPREADSHEET_BATCH_UPDATE_URL,
    SPREADSHEET_URL,
    SPREADSHEET_VALUES_BATCH_UPDATE_URL,
    SPREADSHEET_VALUES_BATCH_URL,
)

from sync.backends.base import (
    MasterReadError,
    MasterWriteError,
    SourceError,
    SourceState,
    Survey,
    TransientSourceError,
    WriteResult,
    read_each,
)
from sync.backends.google.config import (
    SCOPES,
    GoogleSettings,
    ServiceAccountKey,
    load_key,
    load_settings,
)
from sync.backends.google.grid import (
    READ_FIELDS,
    UPDATED_FIELDS,
    ReadSpreadsheet,
    parse_spreadsheet,
    review_column,
)
from sync.backends.google.http import (
    Clock,
    GoogleClient,
    GoogleConnectionError,
    GoogleHTTPClient,
    SharedRateLimiter,
    Sleep,
    explain,
)
from sync.backends.google.login import (
    GoogleLoginError,
    is_revoked,
    login_again,
    read_token,
    user_credentials,
)
from sync.backends.google.store import (
    FORMATTED,
    NEW,
    READY,
    Registry,
    RegistryError,
    SchoolState,
    StateCache,
)
from sync.builders.google.common import METADATA_PREFIX, quote_sheet
from sync.builders.google.master import (
    MASTER_CHUNK_BYTES,
    STAGING_PREFIX,
    ExistingSheet,
    body_bytes,
    existing_sheets,
    staged_master,
)
from sync.builders.google.paint import (
    main_title_for,
    paint_requests,
    review_rows,
    shown_after,
)
from sync.builders.google.school import school_requests
from sync.config import Config, ConfigError
from sync.consolidate import ROWS_SHEET
from sync.model import Plan, RawWorkbook, School
from sync.oserrors import describe
from sync.paint import Paint, Shown
from sync.review import COMMENT_HEADER, KEY_HEADER, MARK_HEADER, MasterMarks, marks_from_grid
from sync.spec import TemplateSpec, load_spec, normalize_header
from sync.states import WriteStatus

if TYPE_CHECKING:
    from sync.consolidate import Master

log = logging.getLogger("roadmap_sync.google")

SPREADSHEET_MIME = "application/vnd.google-apps.spreadsheet"
FOLDER_MIME = "application/vnd.google-apps.folder"
SELF_STAMP = "self"  # the survey's stamp of a spreadsheet last changed by the service account
APP_SCHOOL = "roadmap_school_id"  # Drive appProperties set on files we create
APP_ROLE = "roadmap_role"
APP_MARKS = "roadmap_marks"  # "1" on a master whose coordinators are writers (they mark in it)
LIST_FIELDS = (
    "nextPageToken,incompleteSearch,files(id,name,createdTime,modifiedTime,version,trashed,"
    "appProperties,lastModifyingUser(me,emailAddress,displayName))"
)
FILE_FIELDS = (
    "id,name,createdTime,modifiedTime,version,trashed,appProperties,"
    "lastModifyingUser(me,emailAddress,displayName)"
)
MASTER_GET_FIELDS = (
    "sheets(properties(sheetId,title,index,gridProperties(rowCount,columnCount)),"
    "charts(chartId),basicFilter(range))"
)
_GOOGLE_ERRORS = (APIError, GoogleConnectionError, auth_exceptions.GoogleAuthError)
# Answers after which a request may or may not have been applied (a 429 or 503 was not).
AMBIGUOUS_STATUS = (500, 502, 504)
MARKS_SOURCE = "Google-таблица свода"
MARKS_CHANGED = (
    "отметки МОУО в своде изменились во время синхронизации — свод не перезаписан, чтобы их"
    " не потерять, он будет записан в следующий раз"
)
# What Sheets shows for a formula that fails: a comment typed as "=…" in the browser.
FORMULA_ERRORS = frozenset(
    {"#ERROR!", "#NAME?", "#REF!", "#VALUE!", "#N/A", "#DIV/0!", "#NUM!", "#NULL!"}
)
MARKS_UNREAD = (
    "Отметки МОУО в Google-таблице свода не прочитаны, свод не перезаписан (отметки не потеряются)"
)
MASTER_INVITATION = (
    "Свод дорожной карты: обновляется каждую ночь. Отметки «Принято» и «На доработке» ставьте"
    " в листе «Мероприятия», в столбцах «Отметка МОУО» и «Комментарий МОУО»."
)
MASTER_TIMEOUT = 300.0  # seconds: a thousand schools' master is a large request


def spreadsheet_url(spreadsheet_id: str) -> str:
    """Where a person opens the spreadsheet."""
    return f"https://docs.google.com/spreadsheets/d/{spreadsheet_id}/edit"


SPREADSHEET_ID = re.compile(r"[A-Za-z0-9_-]{20,}")


def school_link(school: School) -> str:
    """The spreadsheet the school's configured source names (a link or an id); "" when none."""
    source = school.source
    if source.startswith(("http://", "https://")):
        return source
    return spreadsheet_url(source) if SPREADSHEET_ID.fullmatch(source) else ""


class GoogleMasterError(MasterWriteError):
    """The master spreadsheet could not be written: the reason, then where, in Russian."""

    def __init__(self, message: str, where: str):
        super().__init__(f"{message} ({where})")
        self.where = where


class GoogleDistributeError(ConfigError):
    """A school's spreadsheet could not be created; distribute can simply be run again.

    A ConfigError so that the command line shows its Russian message without a traceback.
    """


@dataclass(frozen=True)
class DriveFile:
    """What the folder listing says of one file."""

    id: str
    name: str
    created: str
    modified: str
    version: str
    trashed: bool
    by_me: bool
    app: dict[str, str]
    by: str = ""  # the last modifying user's address (or name), as Drive tells it

    @classmethod
    def parse(cls, f: dict[str, Any]) -> DriveFile:
        """From a files.list or files.get answer (absent fields are Google's zero values)."""
        user = f.get("lastModifyingUser") or {}
        return cls(
            id=str(f.get("id", "")),
            name=str(f.get("name", "")),
            created=str(f.get("createdTime", "")),
            modified=str(f.get("modifiedTime", "")),
            version=str(f.get("version", "")),
            trashed=bool(f.get("trashed", False)),
            by_me=bool(user.get("me", False)),
            app={str(k): str(v) for k, v in (f.get("appProperties") or {}).items()},
            by=str(user.get("emailAddress") or user.get("displayName") or ""),
        )

    @property
    def stamp(self) -> str:
        """Changes whenever someone other than the service account changes the spreadsheet."""
        return SELF_STAMP if self.by_me else f"{self.modified}#{self.version}"

    def modified_at(self, zone: ZoneInfo) -> datetime | None:
        return parse_time(self.modified, zone)


def parse_time(text: str, zone: ZoneInfo) -> datetime | None:
    """Drive's RFC 3339 time ("2021-09-01T09:00:00.000Z") in the municipality's zone."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(zone)


class Breaker:
    """After `threshold` schools in a row fail because Google is unreachable (or at once when
    the key is refused), the rest fail fast; one probe every `probe_every` seconds."""

    def __init__(self, clock: Clock, threshold: int = 5, probe_every: float = 60.0):
        self.clock, self.threshold, self.probe_every = clock, threshold, probe_every
        self.failures = 0
        self.message = ""
        self.terminal = False
        self.opened_at: float | None = None

    def blocked(self) -> str | None:
        """The reason to skip a request now, or None to try it."""
        if self.opened_at is None:
            return None
        if not self.terminal and self.clock() - self.opened_at >= self.probe_every:
            self.opened_at = self.clock()  # let this one through as a probe
            return None
        return self.message

    def failed(self, message: str, *, transient: bool, terminal: bool = False) -> None:
        """Count a failed call: terminal (the key refused) opens at once, transient ones add up."""
        if terminal:
            self.terminal, self.message, self.opened_at = True, message, self.clock()
            return
        if not transient:
            return  # one school's own problem (not found, no access) says nothing of Google
        self.failures += 1
        if self.failures >= self.threshold:
            self.message = (
                f"Google недоступен, школа пропущена до следующей синхронизации ({message})"
            )
            self.opened_at = self.clock()

    def succeeded(self) -> None:
        """Google answered: close again (a refused key stays refused for this run)."""
        if not self.terminal:
            self.failures, self.opened_at, self.message = 0, None, ""


def _written(after: ReadSpreadsheet, paint: Paint, shown: Shown) -> WriteResult:
    """A write-back that went through: the spreadsheet as it is now, and the «Отметка МОУО» rows
    the paint's requests really set (none when the spreadsheet did not confirm the column)."""
    return WriteResult(
        WriteStatus.WRITTEN,
        stamp=SELF_STAMP,
        fingerprint=after.fingerprint(),
        reviews_shown=review_rows(paint, shown),
    )


@dataclass
class RunState:
    """What one run knows of the folder and its reads. A run's `survey` starts a new one; a
    `read` or `write_back` without it (a single command) lists the folder when it must."""

    listing: dict[str, DriveFile] | None = None  # the folder's files by id, listed once
    surveyed: dict[str, DriveFile] = field(default_factory=dict)  # school id -> its file
    reads: dict[str, ReadSpreadsheet] = field(default_factory=dict)  # until written back
    # school id -> the read its state was last recorded from this run, with the read's
    # fingerprint, main title, header row and control column
    shapes: dict[str, tuple[ReadSpreadsheet, str, str, int, int | None]] = field(
        default_factory=dict
    )


class GoogleBackend:
    """School spreadsheets in a Drive folder, the master a spreadsheet (see the module doc)."""

    master_is_workbook = False
    takes_sent_copies = False  # the sync reads the school's spreadsheet itself

    @staticmethod
    def where_to_open(school: School) -> str:
        """The school's spreadsheet link from the configuration. Raises SourceError."""
        link = school_link(school)
        if not link:
            raise SourceError(f"Для школы «{school.name}» не указана таблица Google в настройках.")
        return link

    def __init__(
        self,
        client: GoogleClient,
        settings: GoogleSettings,
        *,
        account: str,
        spec: TemplateSpec,
        timezone: str,
        soon_days: int | None = None,
        clock: Clock = time.monotonic,
        config_path: Path | None = None,
    ):
        self.client = client
        self.config_path = config_path or Path("config.toml")
        self.http = client.http
        self.settings = settings
        self.account = account
        self.spec = spec
        self.timezone = timezone
        self.zone = ZoneInfo(timezone)
        self.soon_days = soon_days
        try:
            self.registry = Registry(settings.registry_path)
        except RegistryError as e:
            raise ConfigError(str(e)) from None
        self.state = StateCache(settings.state_path)
        self.breaker = Breaker(clock)
        # The current run's state: each `survey` starts a new one (and returns it in its
        # Survey); calls without a survey (a single command) share this fresh one.
        self.run = RunState()
        self._claims: dict[str, str] | None = None  # spreadsheet id -> school id it belongs to
        self.master_chunk = MASTER_CHUNK_BYTES
        self.master_bodies: list[int] = []  # the last master's request sizes (bytes)

    # -- construction --------------------------------------------------------------------

    @classmethod
    def from_config(
        cls,
        config: Config,
        *,
        clock: Clock | None = None,
        sleep: Sleep | None = None,
        rng: random.Random | None = None,
    ) -> GoogleBackend:
        """The backend the configuration describes. Nothing goes to the network here.

        clock and sleep (seconds) pace the quota limiter and retries; tests and the benchmark
        pass a virtual clock. Every process of one account shares one limiter through a small
        state file beside the history, so a distribute, a run, the service and the add-in
        respect Google's per-minute quota together.
        """
        settings = load_settings(config)
        credentials: Credentials
        if settings.auth == "user":
            token = read_token(settings, config.path)
            credentials = user_credentials(token, settings.endpoints.token_uri)
            account = token.account
        else:
            key = load_key(config, settings.endpoints.token_uri)
            credentials, account = _credentials(key), key.email
        # The wall clock: the quota file's times are compared across processes.
        clock, sleep = clock or time.time, sleep or time.sleep
        limiter = SharedRateLimiter(settings.limiter_path, account, settings.budgets, clock, sleep)
        http = GoogleHTTPClient(
            credentials,
            endpoints=settings.endpoints,
            limiter=limiter,
            policy=settings.retry,
            sleep=sleep,
            timeout=settings.timeout,
            rng=rng,
        )
        return cls(
            GoogleClient(http),
            settings,
            account=account,
            config_path=config.path,
            spec=load_spec(config.template),
            timezone=config.timezone,
            soon_days=config.soon_days,
            clock=clock,
        )

    @property
    def editors(self) -> list[str]:
        """Who may change what schools may not: the service account and the coordinators."""
        return list(dict.fromkeys([self.account, *self.settings.coordinators]))

    def spreadsheet_id(self, school: School) -> str:
        """The school's spreadsheet: set in the configuration, else recorded in the registry."""
        return self.settings.school_ids.get(school.id) or self.registry.spreadsheet_id(school.id)

    def location(self, school: School) -> str:
        """The school's spreadsheet link, or "" when it has none yet."""
        sid = self.spreadsheet_id(school)
        return spreadsheet_url(sid) if sid else ""

    # -- Drive ---------------------------------------------------------------------------

    def _drive_params(self, **params: Any) -> dict[str, Any]:
        return {"supportsAllDrives": "true", **params}

    @property
    def folder_id(self) -> str:
        """The configured folder, else the one the program made in «Мой диск» ("" before)."""
        return self.settings.folder_id or self.registry.folder

    def _ensure_folder(self) -> str:
        """The folder, made in the signed-in person's «Мой диск» the first time it is needed."""
        if self.folder_id:
            return self.folder_id
        found = self.http.request(
            "get",
            DRIVE_FILES_API_V3_URL,
            params=self._drive_params(
                q=f"appProperties has {{ key='{APP_ROLE}' and value='folder' }}"
                " and trashed = false",
                fields="files(id,createdTime)",
            ),
        ).json()
        made = sorted(found.get("files", []), key=lambda f: f.get("createdTime", ""))
        if made:
            folder = str(made[0]["id"])
        else:
            answer = self.http.request(
                "post",
                DRIVE_FILES_API_V3_URL,
                params=self._drive_params(),
                json={
                    "name": self.settings.folder_name,
                    "mimeType": FOLDER_MIME,
                    "appProperties": {APP_ROLE: "folder"},
                },
            ).json()
            folder = str(answer["id"])
        self.registry.record_folder(folder)
        log.info("Папка «%s» создана в Google Диске: %s", self.settings.folder_name, folder)
        return folder

    def list_folder(self) -> dict[str, DriveFile]:
        """Every spreadsheet in the folder: one files.list, 1000 a page."""
        if not self.folder_id:
            return {}  # nothing made yet
        q = f"'{self.folder_id}' in parents and trashed = false and mimeType = '{SPREADSHEET_MIME}'"
        params = self._drive_params(
            q=q,
            fields=LIST_FIELDS,
            pageSize=1000,
            includeItemsFromAllDrives="true",
            corpora="allDrives",
        )
        files: dict[str, DriveFile] = {}
        while True:
            page = self.http.request("get", DRIVE_FILES_API_V3_URL, params=params).json()
            for f in page.get("files", []):
                parsed = DriveFile.parse(f)
                files[parsed.id] = parsed
            token = page.get("nextPageToken")
            if not token:
                break
            params["pageToken"] = token
        return files

    def _file(self, file_id: str) -> DriveFile | None:
        """One file's metadata (for a spreadsheet outside the folder); None when it is gone."""
        try:
            answer = self.http.request(
                "get",
                f"{DRIVE_FILES_API_V3_URL}/{file_id}",
                params=self._drive_params(fields=FILE_FIELDS),
            ).json()
        except APIError as e:
            if e.code == 404:
                return None
            raise
        return DriveFile.parse(answer)

    def _listing_now(self) -> dict[str, DriveFile]:
        if self.run.listing is None:
            self.run.listing = self.list_folder()
        return self.run.listing

    # -- survey --------------------------------------------------------------------------

    def survey(self, schools: Sequence[School]) -> Survey:
        """One listing of the folder: which schools' spreadsheets exist, changed or not. The
        run it starts keeps its state (listing, reads awaiting write back) in `Survey.run`."""
        self.run = run = RunState()
        states: dict[str, SourceState] = {}
        try:
            listing = self._listing_now()
        except _GOOGLE_ERRORS as e:
            self._stop_if_signed_out(e)
            message = self._failed(e)
            log.error("Список таблиц в папке Google Диска не получен: %s", message)
            # Without the listing every known spreadsheet is read (or fails fast if Google is
            # down): its snapshot stays either way.
            for school in schools:
                states[school.id] = SourceState(exists=bool(self.spreadsheet_id(school)))
            return Survey(states, run)
        self._adopt_from_listing(schools, listing)
        if not listing and self.folder_id and any(self.spreadsheet_id(s) for s in schools):
            self._check_folder()
        for school in schools:
            sid = self.spreadsheet_id(school)
            if not sid:
                states[school.id] = SourceState(exists=False)
                continue
            found = listing.get(sid)
            if found is None:
                try:
                    found = self._file(sid)  # moved out of the folder: still the school's
                except _GOOGLE_ERRORS as e:
                    states[school.id] = SourceState(exists=True)  # read it, it may work
                    log.warning(
                        "%s: таблица %s не найдена в папке: %s", school.id, sid, self._explain(e)[0]
                    )
                    continue
            if found is None or found.trashed:
                states[school.id] = SourceState(exists=False)
                continue
            self.run.surveyed[school.id] = found
            states[school.id] = SourceState(
                exists=True,
                stamp=found.stamp,
                modified=self._school_modified(school, found),
            )
        return Survey(states, run)

    def _school_modified(self, school: School, found: DriveFile) -> datetime | None:
        """When someone other than the service account last changed it (our writes aside)."""
        if not found.by_me:
            return found.modified_at(self.zone)
        state = self.state.get(school.id, found.id)
        return parse_time(state.modified, self.zone) if state and state.modified else None

    def _check_folder(self) -> None:
        """An empty listing while spreadsheets are registered: is the folder shared with us?"""
        try:
            self.http.request(
                "get",
                f"{DRIVE_FILES_API_V3_URL}/{self.folder_id}",
                params=self._drive_params(fields="id"),
            )
        except APIError as e:
            if e.code in (403, 404):
                log.error(
                    "Папка Google Диска %s недоступна сервисному аккаунту %s: откройте её ему"
                    " (Настройки доступа → редактор).",
                    self.folder_id,
                    self.account,
                )
        except _GOOGLE_ERRORS:
            pass

    def _adopt_from_listing(self, schools: Sequence[School], listing: dict[str, DriveFile]) -> None:
        """Schools missing from the registry whose spreadsheet carries their id: record them."""
        registered = {self.spreadsheet_id(s) for s in schools} - {""}
        for school in schools:
            if self.spreadsheet_id(school):
                continue
            mine = [
                f
                for f in listing.values()
                if f.app.get(APP_SCHOOL) == school.id and f.id not in registered
            ]
            if mine:
                chosen = self._choose(school, mine)
                self.registry.record(school.id, chosen.id, status=READY, name=chosen.name)
                registered.add(chosen.id)

    def _choose(self, school: School, files: Sequence[DriveFile]) -> DriveFile:
        ordered = sorted(files, key=lambda f: (f.created, f.id))
        if len(ordered) > 1:
            log.warning(
                "%s: несколько таблиц в папке называют себя таблицей этой школы (%s); взята"
                " самая ранняя, %s. Удалите лишние копии.",
                school.id,
                ", ".join(f.id for f in ordered),
                ordered[0].id,
            )
        return ordered[0]

    # -- read ----------------------------------------------------------------------------

    def _get(self, spreadsheet_id: str) -> ReadSpreadsheet:
        answer = self.http.request(
            "get",
            SPREADSHEET_URL % spreadsheet_id,
            params={"includeGridData": "true", "fields": READ_FIELDS},
        ).json()
        parsed = parse_spreadsheet(answer)
        parsed.spreadsheet_id = parsed.spreadsheet_id or spreadsheet_id
        return parsed

    def read_many(
        self, schools: Sequence[School]
    ) -> Iterator[tuple[School, RawWorkbook | SourceError]]:
        """One at a time: the API's quota, not the CPU, is what limits reading."""
        return read_each(self.read, schools)

    def read(self, school: School) -> RawWorkbook:
        """The whole spreadsheet in one request, as grids; SourceError (Russian) if it can't."""
        sid = self.spreadsheet_id(school)
        if not sid:
            raise SourceError("у школы нет таблицы Google: выполните distribute.")
        blocked = self.breaker.blocked()
        if blocked:
            raise TransientSourceError(blocked)
        try:
            parsed = self._get(sid)
        except _GOOGLE_ERRORS as e:
            raise self._source_error(e) from None
        self.breaker.succeeded()
        self.run.reads[school.id] = parsed
        found = self.run.surveyed.get(school.id)
        self._remember(school, parsed, found)
        modified = self._school_modified(school, found) if found else None
        return RawWorkbook(parsed.values, modified, parsed.fingerprint())

    def _stop_if_signed_out(self, error: BaseException) -> None:
        """A person's sign-in refused (revoked, expired): stop before anything is read or
        written, with the message to sign in again."""
        if self.settings.auth == "user" and _is_auth(error):
            why = "Google не принял вход координатора (доступ отозван или вход устарел)."
            if is_revoked(error):
                why = "Google отозвал вход координатора (доступ отозван или вход устарел)."
            raise GoogleLoginError(login_again(self.config_path, why)) from None

    def _explain(self, error: BaseException) -> tuple[str, bool]:
        return explain(error, self.settings.auth)

    def _failed(self, error: BaseException) -> str:
        """Tell the breaker of a failed call; the Russian reason."""
        message, transient = self._explain(error)
        self.breaker.failed(message, transient=transient, terminal=_is_auth(error))
        return message

    def _source_error(self, error: BaseException) -> SourceError:
        text = f"Таблица Google не прочитана: {self._failed(error)}"
        return TransientSourceError(text) if self._explain(error)[1] else SourceError(text)

    def _remember(
        self,
        school: School,
        parsed: ReadSpreadsheet,
        found: DriveFile | None,
        paint: Paint | None = None,
    ) -> None:
        """Keep what the spreadsheet shows, so that painting it next time needs no read.

        Its header is the core's to find (`sync.reader.locate`), never the backend's: with a
        paint, its header row and Контроль column are the paint's; without one (a read, before
        the core has looked) they are those this spreadsheet's state had, or none. `_basis`
        trusts a state only for a paint with the same header row and columns, so a guess costs
        at most one read, never a wrong write; `write_back` records the paint's own.
        """
        titles = list(parsed.sheet_ids)
        old = self.state.get(school.id, parsed.spreadsheet_id)
        sheet, header_row, control_col = self.spec.main_sheet, 1, None
        if paint is not None:
            sheet, header_row, control_col = paint.main_sheet, paint.header_row, paint.control_col
        elif old is not None:
            header_row, control_col = old.header_row, old.control_col
        main_title = main_title_for(sheet, titles)
        main = next((s for s in parsed.sheets if s.title == main_title), None)
        review_col = review_column(main.grid, header_row) if main else None
        shape = Paint(main_title, control_col, header_row, (), {}, review_col=review_col)
        modified = old.modified if old else ""
        if found is not None and not found.by_me:
            modified = found.modified
        fingerprint = parsed.fingerprint()
        self.state.put(
            school.id,
            SchoolState(
                spreadsheet_id=parsed.spreadsheet_id,
                fingerprint=fingerprint,
                sheet_ids=parsed.sheet_ids,
                main_title=main_title,
                control_col=control_col,
                header_row=header_row,
                masked=parsed.masked_hash(main_title, control_col, header_row),
                shown=parsed.shown(shape),
                modified=modified,
            ),
        )
        self.run.shapes[school.id] = (parsed, fingerprint, main_title, header_row, control_col)

    def _remember_read(self, school: School, paint: Paint, fingerprint: str) -> None:
        """This run's read of the school, recorded with the paint's header row and columns
        (the core's, found once by `locate`) if `read` had to record it without them."""
        read = self.run.reads.get(school.id)
        shape = self.run.shapes.get(school.id)
        if read is None or shape is None or shape[0] is not read or shape[1] != fingerprint:
            return  # not read this run, or not the content the paint was made from
        main_title = main_title_for(paint.main_sheet, list(read.sheet_ids))
        if shape[2:] != (main_title, paint.header_row, paint.control_col):
            self._remember(school, read, self.run.surveyed.get(school.id), paint)

    # -- write back ----------------------------------------------------------------------

    def write_back(self, school: School, paint: Paint, fingerprint: str) -> WriteResult:
        """Show the paint: one batchUpdate of what differs, none when nothing would change."""
        sid = self.spreadsheet_id(school)
        if not sid:
            return WriteResult(WriteStatus.FAILED, message="у школы нет таблицы Google")
        self._remember_read(school, paint, fingerprint)
        blocked = self.breaker.blocked()
        if blocked:
            return WriteResult(WriteStatus.FAILED, message=blocked)
        try:
            basis = self._basis(school, sid, paint, fingerprint)
            if basis is None:
                return WriteResult(
                    WriteStatus.CHANGED,
                    message="таблицу изменили во время синхронизации — контроль будет"
                    " записан в следующий раз",
                )
            sheet_ids, shown, masked = basis
            requests = paint_requests(paint, sheet_ids, shown)
            if not requests:
                found = self.run.surveyed.get(school.id)
                return WriteResult(
                    WriteStatus.UNCHANGED,
                    stamp=found.stamp if found else "",
                    fingerprint=fingerprint,
                )
            try:
                answer = self.http.request(
                    "post",
                    SPREADSHEET_BATCH_UPDATE_URL % sid,
                    params={"fields": UPDATED_FIELDS},
                    json={
                        "requests": requests,
                        "includeSpreadsheetInResponse": True,
                        "responseIncludeGridData": True,
                    },
                    # Not repeated blindly after a timeout or a 500: Google may still apply
                    # the first one later, over whatever changed in between.
                    idempotent=False,
                ).json()
            except (APIError, GoogleConnectionError) as e:
                if isinstance(e, APIError) and e.code not in AMBIGUOUS_STATUS:
                    raise
                return self._read_back(school, sid, paint, shown, masked, e)
        except _GOOGLE_ERRORS as e:
            return WriteResult(
                WriteStatus.FAILED, message=f"контроль не записан: {self._failed(e)}"
            )
        self.breaker.succeeded()
        self.run.reads.pop(school.id, None)
        after = parse_spreadsheet(answer.get("updatedSpreadsheet", {}))
        after.spreadsheet_id = sid
        main_title = shown.main_title
        self._store_after(school, after, paint, shown, main_title)
        if after.masked_hash(main_title, paint.control_col, paint.header_row) != masked:
            return WriteResult(
                WriteStatus.CHANGED,
                message="таблицу изменили во время записи контроля — она будет прочитана"
                " заново при следующей синхронизации",
            )
        return _written(after, paint, shown)

    def _read_back(
        self,
        school: School,
        sid: str,
        paint: Paint,
        before: Shown,
        masked: str,
        error: BaseException,
    ) -> WriteResult:
        """After a write whose answer was lost: look (one read) before anything is sent again.

        Applied → written. Not applied and the school's content as it was → what is still
        missing is sent once more, worked out from what the spreadsheet shows now (never the
        lost body again). Changed meanwhile → left for the next run, which reads it again.
        """
        log.warning("%s: ответ Google на запись контроля не получен — проверяю.", school.id)
        try:
            after = self._get(sid)
        except _GOOGLE_ERRORS as e:
            return WriteResult(
                WriteStatus.FAILED, message=f"контроль не записан: {self._failed(e)}"
            )
        self.run.reads.pop(school.id, None)
        self._remember(school, after, self.run.surveyed.get(school.id), paint)
        shown = after.shown(paint)
        wanted = shown_after(paint, before, list(after.sheet_ids))
        if (shown.controls, shown.notes, shown.reviews) == (
            wanted.controls,
            wanted.notes,
            wanted.reviews,
        ):
            self.breaker.succeeded()
            return _written(after, paint, before)
        if after.masked_hash(shown.main_title, paint.control_col, paint.header_row) != masked:
            return WriteResult(
                WriteStatus.CHANGED,
                message="таблицу изменили во время записи контроля — она будет прочитана"
                " заново при следующей синхронизации",
            )
        requests = paint_requests(paint, after.sheet_ids, shown)
        try:
            self.http.request(
                "post",
                SPREADSHEET_BATCH_UPDATE_URL % sid,
                json={"requests": requests},
                idempotent=False,
            )
        except _GOOGLE_ERRORS as e:
            return WriteResult(
                WriteStatus.FAILED,
                message=f"контроль не записан: {self._failed(e)} Будет записан при следующей"
                " синхронизации.",
            )
        self.breaker.succeeded()
        self._store_after(school, after, paint, shown, shown.main_title, applied=True)
        return _written(after, paint, shown)

    def _basis(
        self, school: School, sid: str, paint: Paint, fingerprint: str
    ) -> tuple[dict[str, int], Shown, str] | None:
        """What the paint is compared with: this run's read, the cached state, or a fresh read.

        None when the spreadsheet no longer holds the content the paint was made from.
        """
        read = self.run.reads.get(school.id)
        if read is None or read.fingerprint() != fingerprint:
            state = self.state.get(school.id, sid)
            if (
                state is not None
                and state.fingerprint == fingerprint
                and state.control_col == paint.control_col
                and state.header_row == paint.header_row
                and (not paint.review_col or state.shown.review_col == paint.review_col)
                and state.main_title == main_title_for(paint.main_sheet, list(state.sheet_ids))
            ):
                return dict(state.sheet_ids), state.shown, state.masked
            read = self._get(sid)  # the cache is gone or stale: one read to know what it shows
            self._remember(school, read, self.run.surveyed.get(school.id), paint)
            if read.fingerprint() != fingerprint:
                return None
        shown = read.shown(paint)
        return (
            read.sheet_ids,
            shown,
            read.masked_hash(shown.main_title, paint.control_col, paint.header_row),
        )

    def _store_after(
        self,
        school: School,
        after: ReadSpreadsheet,
        paint: Paint,
        before: Shown,
        main_title: str,
        *,
        applied: bool = False,
    ) -> None:
        """Remember what the spreadsheet shows after our write (`applied`: `after` is from
        before a write that has since been applied)."""
        old = self.state.get(school.id, after.spreadsheet_id)
        shown = (
            after.shown(paint)
            if after.sheets and not applied
            else shown_after(paint, before, list(after.sheet_ids) or [main_title])
        )
        self.state.put(
            school.id,
            SchoolState(
                spreadsheet_id=after.spreadsheet_id,
                fingerprint=after.fingerprint(),
                sheet_ids=after.sheet_ids,
                main_title=main_title,
                control_col=paint.control_col,
                header_row=paint.header_row,
                masked=after.masked_hash(main_title, paint.control_col, paint.header_row),
                shown=shown,
                modified=old.modified if old else "",
            ),
        )

    # -- master --------------------------------------------------------------------------

    def read_marks(self) -> MasterMarks:
        """The coordinators' marks in the master spreadsheet's «Мероприятия», as it is now.

        One values.batchGet of the sheet (formatted values: what the coordinator sees), read by
        sync.review.marks_from_grid; who changed it last and when from the folder's listing.
        No master yet: no marks. Raises MasterReadError when Google does not answer: the run
        then leaves the master as it is, marks and all.
        """
        self._marks_read = None
        sid = self.settings.master_spreadsheet_id or self.registry.master
        if not sid:
            return MasterMarks()
        where = spreadsheet_url(sid)
        if self.breaker.terminal:
            raise MasterReadError(f"{MARKS_UNREAD}: {self.breaker.message} ({where})")
        try:
            # Who changed it last and when: the survey's listing has it (the master lives in
            # the folder), else one Drive files.get.
            found = self._listing_now().get(sid) or self._file(sid)
            if found is None or found.trashed:
                return MasterMarks()  # gone: write_master makes a new one (nothing to keep)
            answer = self._marks_values(sid)
        except _GOOGLE_ERRORS as e:
            self._stop_if_signed_out(e)
            raise MasterReadError(f"{MARKS_UNREAD}: {self._explain(e)[0]} ({where})") from None
        if answer is None:
            # Renamed or deleted by hand: a renamed sheet stays in the spreadsheet as it is
            # (the rewrite leaves sheets of other titles alone), so no mark is lost.
            return MasterMarks(
                source=MARKS_SOURCE,
                problems=(
                    f"В Google-таблице свода нет листа «{ROWS_SHEET}»: отметки МОУО не"
                    " прочитаны, лист создаётся заново.",
                ),
            )
        grid = (answer.get("valueRanges") or [{}])[0].get("values", [])
        if _typed_as_formula(grid):
            try:
                grid = self._typed_formulas(sid, grid)
            except _GOOGLE_ERRORS as e:
                raise MasterReadError(f"{MARKS_UNREAD}: {self._explain(e)[0]} ({where})") from None
        marks, problems = marks_from_grid(grid, ROWS_SHEET)
        self._marks_read = (sid, _marks_signature(grid))  # checked again before the switch
        return MasterMarks(
            tuple(marks),
            by=found.by,
            at=found.modified_at(self.zone),
            source=MARKS_SOURCE,
            problems=tuple(problems),
        )

    def _typed_formulas(self, sid: str, grid: list[list[Any]]) -> list[list[Any]]:
        """The sheet with what was typed in place of a formula's error: a coordinator's comment
        typed in the browser as "=нет приказа" is a formula there, "#ERROR!" as a value, but
        its words are what the school should read. One more read, only when it happens."""
        answer = self.http.request(
            "get",
            SPREADSHEET_VALUES_BATCH_URL % sid,
            params={"ranges": quote_sheet(ROWS_SHEET[:100]), "valueRenderOption": "FORMULA"},
        ).json()
        typed = (answer.get("valueRanges") or [{}])[0].get("values", [])
        out = [list(line) for line in grid]
        for r, line in enumerate(out):
            for c, value in enumerate(line):
                text = typed[r][c] if r < len(typed) and c < len(typed[r]) else None
                if value in FORMULA_ERRORS and isinstance(text, str) and text.startswith("="):
                    line[c] = text
        return out

    def _marks_values(self, sid: str) -> dict[str, Any] | None:
        """«Мероприятия» of the master as values; None when the master has no such sheet
        (Google refuses a range on a missing sheet with a 400 "Unable to parse range")."""
        try:
            answer: dict[str, Any] = self.http.request(
                "get",
                SPREADSHEET_VALUES_BATCH_URL % sid,
                params={
                    "ranges": quote_sheet(ROWS_SHEET[:100]),
                    "valueRenderOption": "FORMATTED_VALUE",
                },
            ).json()
        except APIError as e:
            if e.code == 400 and "Unable to parse range" in str(e):
                return None
            raise
        return answer

    # The master's marks as read_marks read them (spreadsheet id, their signature): checked
    # again just before the switch, which replaces «Мероприятия».
    _marks_read: tuple[str, tuple[tuple[str, ...], ...]] | None = None

    def write_master(self, master: Master) -> str:
        """The master spreadsheet: one get, the new sheets built beside the old in bodies under
        the chunk size (batchUpdates, values RAW), then one batchUpdate that switches to them."""
        sid, fresh = "", False
        if self.breaker.terminal:
            # Signed out or the key refused mid-run: the previous master stays as it was.
            raise GoogleMasterError(self.breaker.message, "Google")
        try:
            sid, fresh = self._master_id()
            try:
                self._write_master(sid, master, fresh)
            except APIError as e:
                if e.code != 404 or self.settings.master_spreadsheet_id:
                    raise
                log.warning("Свод %s не найден (удалён?): создаю новый.", sid)
                sid, fresh = self._create_master(), True
                self._write_master(sid, master, fresh)
        except _GOOGLE_ERRORS as e:
            message, _ = self._explain(e)
            raise GoogleMasterError(message, spreadsheet_url(sid) if sid else "Google") from None
        except OSError as e:  # the registry beside the history: as the folder's master would say
            raise MasterWriteError(describe(e)) from e
        self._open_to_coordinators(sid)
        return spreadsheet_url(sid)

    def _open_to_coordinators(self, sid: str) -> None:
        """A master made before review marks was shared with the coordinators to read: make
        them writers once (they mark in it), remembered in the file's appProperties."""
        found = (self.run.listing or {}).get(sid)
        if found is None or found.app.get(APP_MARKS) == "1" or not self.settings.coordinators:
            return
        shared = [
            self._share(sid, email, "writer", MASTER_INVITATION)
            for email in self.settings.coordinators
        ]
        if not all(shared):
            return  # tried again next run
        try:
            self.http.request(
                "patch",
                f"{DRIVE_FILES_API_V3_URL}/{sid}",
                params=self._drive_params(fields="id"),
                json={"appProperties": {APP_MARKS: "1"}},
                idempotent=True,
            )
        except _GOOGLE_ERRORS as e:
            log.warning(
                "Свод: отметка о доступе координаторов не сохранена: %s", self._explain(e)[0]
            )

    def _master_id(self) -> tuple[str, bool]:
        sid = self.settings.master_spreadsheet_id or self.registry.master
        if sid:
            return sid, False
        return self._create_master(), True

    def _create_master(self) -> str:
        created = self._create_file(self.settings.master_name, {APP_ROLE: "master", APP_MARKS: "1"})
        self.registry.record_master(created)
        # Writers: they type their review marks into the master (the rest of it is protected).
        for email in self.settings.coordinators:
            self._share(created, email, "writer", MASTER_INVITATION)
        return created

    def _write_master(self, sid: str, master: Master, fresh: bool) -> None:
        """Build the new master beside the old (hidden sheets, bodies under the chunk size),
        then switch in one batchUpdate: until then the old master stays complete."""
        wanted = {s.name[:100] for s in master.sheets}
        timeout = max(self.settings.timeout, MASTER_TIMEOUT)
        answer = self.http.request(
            "get", SPREADSHEET_URL % sid, params={"fields": MASTER_GET_FIELDS}
        ).json()
        existing = existing_sheets(answer)
        drop = [
            s.sheet_id
            for s in existing
            if fresh and s.title not in wanted and not s.title.startswith(STAGING_PREFIX)
        ]
        plan = staged_master(
            master, existing, drop=drop, chunk_bytes=self.master_chunk, editors=[self.account]
        )
        self.master_bodies = []
        for i, batch in enumerate(plan.build):
            if i > 0:  # these only set cells: repeating one changes nothing
                self._master_post(
                    SPREADSHEET_BATCH_UPDATE_URL % sid,
                    {"requests": batch},
                    timeout,
                    idempotent=True,
                )
                continue
            try:  # the first adds the sheets: not to be repeated blindly
                self._master_post(SPREADSHEET_BATCH_UPDATE_URL % sid, {"requests": batch}, timeout)
            except (APIError, GoogleConnectionError) as e:
                if not (isinstance(e, GoogleConnectionError) or e.code in AMBIGUOUS_STATUS):
                    raise
                log.warning("Свод: ответ Google на запись не получен — проверяю.")
                if not set(plan.staging) <= {s.sheet_id for s in self._master_sheets(sid)}:
                    self._master_post(
                        SPREADSHEET_BATCH_UPDATE_URL % sid, {"requests": batch}, timeout
                    )
        for data in plan.values:
            self._master_post(
                SPREADSHEET_VALUES_BATCH_UPDATE_URL % sid,
                {"valueInputOption": "RAW", "data": data},
                timeout,
                idempotent=True,
            )
        self._marks_unchanged_or_drop(sid, plan.staging, timeout)
        try:
            self._master_post(
                SPREADSHEET_BATCH_UPDATE_URL % sid, {"requests": plan.switch}, timeout
            )
        except (APIError, GoogleConnectionError) as e:
            ambiguous = isinstance(e, GoogleConnectionError) or e.code in AMBIGUOUS_STATUS
            if not ambiguous:
                raise
            # Applied or not? Look: switched sheets carry their final titles.
            log.warning("Свод: ответ Google на переключение не получен — проверяю.")
            titles = {s.sheet_id: s.title for s in self._master_sheets(sid)}
            if all(titles.get(k) == v for k, v in plan.staging.items()):
                return
            self._master_post(
                SPREADSHEET_BATCH_UPDATE_URL % sid, {"requests": plan.switch}, timeout
            )

    def _marks_unchanged_or_drop(self, sid: str, staging: dict[int, str], timeout: float) -> None:
        """Read the marks again just before the switch: a mark typed since read_marks would be
        deleted with the old «Мероприятия». Then the new sheets are dropped and the master
        stays as it is until the next run, which reads the new marks."""
        if self._marks_read is None or self._marks_read[0] != sid:
            return
        answer = self._marks_values(sid)
        grid = (answer.get("valueRanges") or [{}])[0].get("values", []) if answer else []
        if answer is not None and _typed_as_formula(grid):
            grid = self._typed_formulas(sid, grid)
        if _marks_signature(grid) == self._marks_read[1]:
            return
        log.warning("Свод: %s.", MARKS_CHANGED)
        try:
            drop = [{"deleteSheet": {"sheetId": k}} for k in staging]
            self._master_post(SPREADSHEET_BATCH_UPDATE_URL % sid, {"requests": drop}, timeout)
        except _GOOGLE_ERRORS as e:  # left hidden; the next run's build deletes them
            log.warning("Свод: черновые листы не удалены: %s", self._explain(e)[0])
        raise GoogleMasterError(MARKS_CHANGED, spreadsheet_url(sid))

    def _master_sheets(self, sid: str) -> list[ExistingSheet]:
        answer = self.http.request(
            "get", SPREADSHEET_URL % sid, params={"fields": MASTER_GET_FIELDS}
        ).json()
        return existing_sheets(answer)

    def _master_post(
        self, url: str, body: dict[str, Any], timeout: float, *, idempotent: bool | None = None
    ) -> None:
        self.master_bodies.append(body_bytes(body))
        self.http.request("post", url, json=body, timeout=timeout, idempotent=idempotent)

    # -- create (distribute) -------------------------------------------------------------

    def create(self, school: School, spec: TemplateSpec, plan: Plan, built_at: datetime) -> bool:
        """Create the school's spreadsheet unless it has one (registered or found in the folder).

        No password: Google protects ranges by account.
        """
        try:
            return self._create(school, spec, plan, built_at)
        except _GOOGLE_ERRORS as e:
            self._stop_if_signed_out(e)
            message, _ = self._explain(e)
            raise GoogleDistributeError(
                f"Таблица школы «{school.name}» не создана: {message} Запустите distribute ещё"
                " раз: уже созданные таблицы не будут созданы заново."
            ) from None

    def _create(self, school: School, spec: TemplateSpec, plan: Plan, built_at: datetime) -> bool:
        sid = self.spreadsheet_id(school)
        entry = self.registry.schools.get(school.id)
        if sid and (entry is None or entry.spreadsheet_id != sid or entry.status == READY):
            self._warn_if_gone(school, sid)
            return False
        if not sid:
            found = self._recognise(school)
            if found:
                self.registry.record(school.id, found, status=READY)
                log.info("%s: найдена таблица %s, записана в реестр.", school.id, found)
                return False
            sid = self._create_file(
                f"Дорожная карта — {school.name}",
                {
                    APP_SCHOOL: school.id,
                    APP_ROLE: "coordinator" if school.is_coordinator else "school",
                },
            )
            self.registry.record(school.id, sid, status=NEW, name=school.name)
            entry = self.registry.schools[school.id]
        if entry is not None and entry.status == NEW:
            self._format(sid, school, spec, plan, built_at)
            self.registry.record(school.id, sid, status=FORMATTED)
        shared = all(
            self._share(sid, email, "writer", self.settings.invitation)
            for email in dict.fromkeys([*school.emails, *self.settings.coordinators])
        )
        self.registry.record(school.id, sid, status=READY if shared else FORMATTED)
        return True

    def _warn_if_gone(self, school: School, sid: str) -> None:
        listing = self._listing_now()
        if sid in listing:
            return
        found = self._file(sid)
        if found is None or found.trashed:
            log.warning(
                "%s: таблица %s удалена или недоступна. Новая не создаётся, чтобы у школы не"
                " стало двух таблиц: верните таблицу из корзины или удалите запись школы из"
                " реестра %s и запустите distribute снова.",
                school.id,
                sid,
                self.settings.registry_path.name,
            )

    def _create_file(self, name: str, app: dict[str, str]) -> str:
        """A new, empty spreadsheet in the folder. A create that may have happened despite an
        error is looked for (by its appProperties) before trying again: never two files."""
        body = {
            "name": name,
            "mimeType": SPREADSHEET_MIME,
            "parents": [self._ensure_folder()],
            "appProperties": app,
        }
        for attempt in range(1, self.settings.retry.max_tries + 1):
            try:
                answer = self.http.request(
                    "post", DRIVE_FILES_API_V3_URL, params=self._drive_params(), json=body
                ).json()
                return str(answer["id"])
            except (APIError, GoogleConnectionError) as e:
                ambiguous = isinstance(e, GoogleConnectionError) or e.code in (500, 502, 504)
                if not ambiguous or attempt == self.settings.retry.max_tries:
                    raise
                made = self._find_by_app(app)
                if made:
                    return made
        raise AssertionError("unreachable")

    def _find_by_app(self, app: dict[str, str]) -> str:
        clauses = " and ".join(
            f"appProperties has {{ key='{k}' and value='{v}' }}" for k, v in sorted(app.items())
        )
        q = f"'{self.folder_id}' in parents and trashed = false and {clauses}"
        page = self.http.request(
            "get",
            DRIVE_FILES_API_V3_URL,
            params=self._drive_params(
                q=q, fields="files(id,createdTime)", includeItemsFromAllDrives="true"
            ),
        ).json()
        files = sorted(page.get("files", []), key=lambda f: f.get("createdTime", ""))
        return str(files[0]["id"]) if files else ""

    def _format(
        self, sid: str, school: School, spec: TemplateSpec, plan: Plan, built_at: datetime
    ) -> None:
        """Build the whole template in one batchUpdate (on the sheet a new spreadsheet has)."""
        answer = self.http.request(
            "get", SPREADSHEET_URL % sid, params={"fields": "sheets(properties(sheetId,title))"}
        ).json()
        sheets = [s.get("properties", {}) for s in answer.get("sheets", [])]
        titles = {str(p.get("title", "")) for p in sheets}
        if normalize_header(spec.meta_sheet) in {normalize_header(t) for t in titles}:
            return  # formatted by an earlier distribute that stopped before recording it
        first = int(sheets[0].get("sheetId", 0)) if sheets else 0
        requests = school_requests(
            spec,
            plan,
            school,
            built_at=built_at,
            editors=self.editors,
            timezone=self.timezone,
            soon_days=self.soon_days,
            main_sheet_id=first,
        )
        self.http.request("post", SPREADSHEET_BATCH_UPDATE_URL % sid, json={"requests": requests})

    def _share(self, file_id: str, email: str, role: str, message: str) -> bool:
        """Give one address access; False (and a warning) when Google refuses. The account
        the program acts as (the signed-in coordinator) owns the file already."""
        if email.strip().lower() == self.account.lower():
            return True
        params = self._drive_params(
            sendNotificationEmail="true" if self.settings.notify else "false"
        )
        if self.settings.notify:
            params["emailMessage"] = message
        try:
            self.http.request(
                "post",
                f"{DRIVE_FILES_API_V3_URL}/{file_id}/permissions",
                params=params,
                json={"type": "user", "role": role, "emailAddress": email},
                idempotent=True,  # the same permission twice is one permission
            )
        except (APIError, GoogleConnectionError) as e:
            log.warning(
                "Доступ для %s к таблице %s не выдан: %s", email, file_id, self._explain(e)[0]
            )
            return False
        return True

    def _recognise(self, school: School) -> str:
        """A spreadsheet in the folder that belongs to the school though the registry lost it:
        by its appProperties, its developer metadata, or its hidden service sheet."""
        listing = self._listing_now()
        tagged = [f for f in listing.values() if f.app.get(APP_SCHOOL) == school.id]
        if tagged:
            return self._choose(school, tagged).id
        if self._claims is None:
            self._claims = {}
            known = {e.spreadsheet_id for e in self.registry.schools.values()}
            known |= set(self.settings.school_ids.values()) | {self.registry.master}
            for f in listing.values():
                if f.id in known or f.app.get(APP_ROLE) == "master":
                    continue
                owner = self._owner_of(f.id)
                if owner:
                    self._claims[f.id] = owner
        mine = [listing[fid] for fid, owner in self._claims.items() if owner == school.id]
        return self._choose(school, mine).id if mine else ""

    def _owner_of(self, spreadsheet_id: str) -> str:
        """The school id a spreadsheet says it belongs to (developer metadata, then the
        service sheet), "" when it says nothing."""
        answer = self.http.request(
            "get",
            SPREADSHEET_URL % spreadsheet_id,
            params={
                "fields": "developerMetadata(metadataKey,metadataValue),sheets(properties(title))"
            },
        ).json()
        for m in answer.get("developerMetadata", []):
            if m.get("metadataKey") == METADATA_PREFIX + "school_id":
                return str(m.get("metadataValue", ""))
        titles = [str(s.get("properties", {}).get("title", "")) for s in answer.get("sheets", [])]
        meta = next(
            (t for t in titles if normalize_header(t) == normalize_header(self.spec.meta_sheet)),
            None,
        )
        if meta is None:
            return ""
        values = self.http.request(
            "get",
            SPREADSHEET_VALUES_BATCH_URL % spreadsheet_id,
            params={"ranges": f"'{meta}'!A1:B20"},
        ).json()
        for line in (values.get("valueRanges") or [{}])[0].get("values", []):
            if len(line) > 1 and str(line[0]).strip() == "school_id":
                return str(line[1]).strip()
        return ""


def _marks_signature(grid: list[list[Any]]) -> tuple[tuple[str, ...], ...]:
    """What of «Мероприятия» the coordinators may change, to compare two reads: the mark,
    comment and row-key columns, found by their headers (all of it when they are not found)."""
    header = [normalize_header(str(h)) for h in grid[0]] if grid else []
    wanted = {normalize_header(h) for h in (MARK_HEADER, COMMENT_HEADER, KEY_HEADER)}
    cols = [c for c, h in enumerate(header) if h in wanted]
    if len(cols) < len(wanted):
        return tuple(tuple(str(v) for v in line) for line in grid)
    return tuple(
        tuple(str(line[c]).strip() if c < len(line) else "" for c in cols) for line in grid[1:]
    )


def _typed_as_formula(grid: list[list[Any]]) -> bool:
    """Whether a cell of the coordinator's columns (found by header) shows a formula's error."""
    for top, line in enumerate(grid[:30]):
        cols = [c for c, v in enumerate(line) if v in (MARK_HEADER, COMMENT_HEADER)]
        if cols:
            return any(
                c < len(row) and row[c] in FORMULA_ERRORS for row in grid[top + 1 :] for c in cols
            )
    return False


def _credentials(key: ServiceAccountKey) -> service_account.Credentials:
    try:
        credentials: service_account.Credentials = (
            service_account.Credentials.from_service_account_info(
                dict(key.info), scopes=list(SCOPES)
            )
        )
        return credentials
    except (ValueError, KeyError):
        # The library's message may quote the key: say what is wrong without it.
        raise ConfigError(
            f"Ключ сервисного аккаунта ({key.source}) повреждён: закрытый ключ не читается."
            " Скачайте новый ключ в Google Cloud."
        ) from None


def _is_auth(error: BaseException) -> bool:
    """The key itself is refused: every further call would fail the same way."""
    return isinstance(error, auth_exceptions.GoogleAuthError) or (
        isinstance(error, APIError) and error.code == 401
    )
