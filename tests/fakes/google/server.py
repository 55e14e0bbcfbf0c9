"""The fake Google: OAuth token endpoint, Sheets v4 and Drive v3 over real HTTP on 127.0.0.1.

One FakeGoogle holds every spreadsheet and Drive file in memory. It answers like Google (shapes,
status words, error bodies), counts quota per user per minute on a clock the test moves
(429 RESOURCE_EXHAUSTED beyond it), injects faults (an error status, a slow answer, an answer
lost after the request was applied, tokens expiring mid-run), and counts every request per
spreadsheet. People are simulated too: `type` changes cells as someone typing in the browser
would, through protections and dropdowns, and moves modifiedTime and the last modifying user.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import json
import random
import socket
import string
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from cryptography.hazmat.primitives.asymmetric import rsa

from tests.fakes.google import auth, fieldmask, sheets_api
from tests.fakes.google.clock import VirtualClock
from tests.fakes.google.drive_api import (
    FOLDER,
    SPREADSHEET,
    DriveFile,
    file_answer,
    list_files,
    permission_id,
    permission_json,
)
from tests.fakes.google.sheets_model import (
    ApiError,
    Box,
    Sheet,
    Spreadsheet,
    box_of_grid_range,
    effective,
    is_empty,
    parse_a1_box,
    user_entered,
)

SHEETS_SCOPES = {
    "https://www.googleapis.com/auth/spreadsheets",
    "https://www.googleapis.com/auth/drive",
    "https://www.googleapis.com/auth/drive.file",
}
DRIVE_SCOPES = {
    "https://www.googleapis.com/auth/drive",
    "https://www.googleapis.com/auth/drive.file",
}
ROLE_RANK = {
    "reader": 1,
    "commenter": 2,
    "writer": 3,
    "fileOrganizer": 3,
    "organizer": 4,
    "owner": 5,
}
MAX_BODY = 10485760  # bytes: Google refuses larger request bodies with a 400
STORAGE_QUOTA = (
    "Service Accounts do not have storage quota. Leverage shared drives"
    " (https://developers.google.com/workspace/drive/api/guides/about-shareddrives), or use OAuth"
    " delegation (http://support.google.com/a/answer/7281227) instead."
)
READ_VERBS = (":batchGet", ":batchGetByDataFilter", ":getByDataFilter", "developerMetadata:search")
QUOTA_NAMES = {
    "read": ("Read requests", "sheets.googleapis.com"),
    "write": ("Write requests", "sheets.googleapis.com"),
    "drive": ("Queries", "drive.googleapis.com"),
}
WWW_AUTHENTICATE = 'Bearer realm="https://accounts.google.com/", error="invalid_token"'
UNAUTHENTICATED = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie"
    " or other valid authentication credential. See"
    " https://developers.google.com/identity/sign-in/web/devconsole-project."
)


class PersonError(Exception):
    """What the browser refuses a person: a protected cell, a value not on the dropdown."""


@dataclass
class Fault:
    """An injected failure for the next `times` requests that match.

    status: answer with this error; delay: wait this many real seconds before answering (the
    client's timeout fires); apply: carry the request out, then lose the answer (the status is
    sent instead); expire_tokens: every token issued so far stops working; action: something
    that happens just before the request is served (a person typing in the middle of a run).
    """

    status: int | None = None
    delay: float = 0.0
    times: int = 1
    method: str | None = None
    path: str | None = None  # a substring of the request path
    bucket: str | None = None  # read, write or drive
    target: str | None = None  # a spreadsheet or file id
    retry_after: str | None = None
    apply: bool = False
    expire_tokens: bool = False
    action: Callable[[], None] | None = None  # runs before the request is served
    hits: int = 0

    def matches(self, method: str, path: str, bucket: str, target: str) -> bool:
        return (
            self.times > 0
            and (self.method is None or self.method.upper() == method.upper())
            and (self.path is None or self.path in path)
            and (self.bucket is None or self.bucket == bucket)
            and (self.target is None or self.target == target)
        )


@dataclass(frozen=True)
class Record:
    """One API request as the fake saw it."""

    method: str
    path: str
    op: str  # get, batchUpdate, values.batchGet, files.list, permissions.create, ...
    bucket: str
    status: int
    user: str
    target: str  # spreadsheet or file id ("" for a listing)
    at: float
    body: Any = None
    size: int = 0  # request body bytes


@dataclass
class Answer:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class FakeGoogle:
    """Google's Sheets, Drive and OAuth, in memory. Call reset() between tests."""

    def __init__(self, clock: VirtualClock | None = None, seed: int = 7):
        self.lock = threading.RLock()
        self.url = ""
        self.seed = seed
        self.reset(clock)

    # -- setup -------------------------------------------------------------------------

    def reset(self, clock: VirtualClock | None = None) -> None:
        """Forget everything: files, accounts, tokens, quotas, faults and counters."""
        with self.lock:
            self.clock = clock or VirtualClock()
            self.rng = random.Random(self.seed)
            self.accounts: dict[str, rsa.RSAPublicKey] = {}
            self.tokens: dict[str, auth.Token] = {}
            self.token_lifetime = 3600.0
            self.files: dict[str, DriveFile] = {}
            self.spreadsheets: dict[str, Spreadsheet] = {}
            self.quotas: dict[str, int] = {"read": 60, "write": 60, "drive": 12000}
            self.project_quotas: dict[str, int] = {"read": 300, "write": 300, "drive": 120000}
            self._windows: dict[tuple[str, str], deque[float]] = {}
            self.faults: list[Fault] = []
            self.log: list[Record] = []
            self.grants: list[str] = []  # emails that got a token
            self.notifications: list[tuple[str, str, str]] = []  # (file id, email, message)
            self.non_google: set[str] = set()  # addresses without a Google account
            self.keep_bodies = False
            self.clients: dict[str, auth.OAuthClient] = {}
            self.codes: dict[str, auth.AuthCode] = {}
            self.refresh_tokens: dict[str, auth.Refresh] = {}
            self.signed_in = ""  # the person signed in to Google in "the browser"
            self.consents = True  # whether that person presses «Разрешить» on the consent screen
            self.max_body = MAX_BODY
            self._ctx = threading.local()  # the OAuth client of the request being served
            self.in_flight = getattr(self, "in_flight", 0)

    def add_service_account(self, email: str, *, forged: bool = False) -> dict[str, Any]:
        """Register a service account; returns its key file's contents (token_uri: this fake)."""
        with self.lock:
            self.accounts[email] = auth.public_key()
        return auth.service_account_info(email, f"{self.url}/token", forged=forged)

    def add_folder(
        self, name: str, owner: str, writers: Sequence[str] = (), *, parent: str | None = None
    ) -> str:
        """A Drive folder owned by a person (in a shared drive when `parent` is one or in one),
        shared with the given accounts as editors."""
        with self.lock:
            folder = self._new_file(name, FOLDER, owner, [parent] if parent else [])
            for email in writers:
                self._grant(folder, email, "writer")
            return folder.id

    def add_shared_drive(self, name: str, members: Mapping[str, str]) -> str:
        """A shared drive (Google Workspace) with its members' roles; its id is a folder id."""
        with self.lock:
            drive = self._new_file(name, FOLDER, "", [])
            drive.drive_id = drive.id
            drive.permissions = []
            for email, role in members.items():
                self._grant(drive, email, role)
            return drive.id

    def add_oauth_client(self) -> dict[str, Any]:
        """A Desktop-app OAuth client; returns its client secret file's contents."""
        with self.lock:
            client = auth.new_client()
            self.clients[client.client_id] = client
        return auth.client_secret_json(client, self.url)

    def sign_in(self, client_id: str, email: str, scopes: Sequence[str]) -> str:
        """A refresh token as if `email` had gone through the consent page (test setup)."""
        with self.lock:
            refresh = auth.new_refresh()
            self.refresh_tokens[refresh] = auth.Refresh(client_id, email, frozenset(scopes))
            return refresh

    def revoke(self, email: str) -> None:
        """The person removes the app's access (myaccount.google.com → Безопасность)."""
        with self.lock:
            for r in self.refresh_tokens.values():
                if r.email == email:
                    r.revoked = True
            for t in self.tokens.values():
                if t.email == email and t.client:
                    t.expires = min(t.expires, self.clock.time())

    def share(self, file_id: str, email: str, role: str = "writer") -> None:
        with self.lock:
            self._grant(self.files[file_id], email, role)

    def _new_id(self) -> str:
        alphabet = string.ascii_letters + string.digits + "-_"
        return "1" + "".join(self.rng.choice(alphabet) for _ in range(43))

    def _new_file(self, name: str, mime: str, owner: str, parents: list[str]) -> DriveFile:
        now = self.clock.time()
        in_drive = [self.files[p].drive_id for p in parents if p in self.files]
        f = DriveFile(
            drive_id=next((d for d in in_drive if d), ""),
            app_client=getattr(self._ctx, "client", ""),
            id=self._new_id(),
            name=name,
            mime_type=mime,
            owner=owner,
            created=now,
            modified=now,
            parents=list(parents),
            last_modifier=owner,
        )
        f.permissions.append(
            {"id": permission_id(owner), "type": "user", "role": "owner", "emailAddress": owner}
        )
        self.files[f.id] = f
        if mime == SPREADSHEET:
            self.spreadsheets[f.id] = Spreadsheet(
                f.id,
                {
                    "title": name,
                    "locale": "en_US",
                    "autoRecalc": "ON_CHANGE",
                    "timeZone": "Etc/GMT",
                    "defaultFormat": {
                        "backgroundColor": {"red": 1, "green": 1, "blue": 1},
                        "padding": {"top": 2, "right": 3, "bottom": 2, "left": 3},
                        "verticalAlignment": "BOTTOM",
                        "wrapStrategy": "OVERFLOW_CELL",
                        "textFormat": {
                            "foregroundColor": {},
                            "fontFamily": "arial,sans,sans-serif",
                            "fontSize": 10,
                            "bold": False,
                            "italic": False,
                            "strikethrough": False,
                            "underline": False,
                        },
                    },
                },
                [
                    Sheet(
                        {
                            "sheetId": 0,
                            "title": "Sheet1",
                            "index": 0,
                            "sheetType": "GRID",
                            "gridProperties": {"rowCount": 1000, "columnCount": 26},
                        }
                    )
                ],
            )
        return f

    def _grant(self, f: DriveFile, email: str, role: str) -> dict[str, Any]:
        for p in f.permissions:
            if p.get("emailAddress", "").lower() == email.lower():
                if ROLE_RANK[role] > ROLE_RANK[p["role"]]:
                    p["role"] = role
                return p
        p = {"id": permission_id(email), "type": "user", "role": role, "emailAddress": email}
        f.permissions.append(p)
        return p

    # -- access ------------------------------------------------------------------------

    def role(self, file_id: str, email: str, _seen: frozenset[str] = frozenset()) -> int:
        """The user's rank on a file: its own permissions or any parent folder's."""
        f = self.files.get(file_id)
        if f is None or file_id in _seen:
            return 0
        best = max(
            (
                ROLE_RANK[p["role"]]
                for p in f.permissions
                if p.get("emailAddress", "").lower() == email.lower()
            ),
            default=0,
        )
        for parent in f.parents:
            best = max(best, self.role(parent, email, _seen | {file_id}))
        return best

    # -- inspection ----------------------------------------------------------------------

    def records(self, target: str | None = None, *, user: str | None = None) -> list[Record]:
        with self.lock:
            return [
                r
                for r in self.log
                if (target is None or r.target == target) and (user is None or r.user == user)
            ]

    def counts(self, target: str | None = None) -> Counter[str]:
        """Requests per operation (for one spreadsheet or file when given)."""
        return Counter(r.op for r in self.records(target))

    def mark(self) -> int:
        """A point in the request log; `since(mark)` gives what came after it."""
        with self.lock:
            return len(self.log)

    def since(self, mark: int) -> list[Record]:
        with self.lock:
            return list(self.log[mark:])

    def spreadsheet(self, spreadsheet_id: str) -> Spreadsheet:
        return self.spreadsheets[spreadsheet_id]

    def sheet(self, spreadsheet_id: str, title: str) -> Sheet:
        return self.spreadsheets[spreadsheet_id].sheet_by_title(title)

    def cell(self, spreadsheet_id: str, title: str, ref: str) -> dict[str, Any]:
        box = parse_a1_box(ref)
        return copy.deepcopy(self.sheet(spreadsheet_id, title).cells.get((box.row0, box.col0), {}))

    def value(self, spreadsheet_id: str, title: str, ref: str) -> Any:
        """The effective value of one cell (str, float, bool, "#REF!"), "" when empty."""
        ss = self.spreadsheets[spreadsheet_id]
        value, _ = effective(self.cell(spreadsheet_id, title, ref), ss.today(self.clock.now()))
        return sheets_api.render(value or {}, None, "en_US", "UNFORMATTED_VALUE") if value else ""

    def grid(self, spreadsheet_id: str, title: str) -> list[list[Any]]:
        """A sheet's effective values as rows (trailing empties trimmed)."""
        ss = self.spreadsheets[spreadsheet_id]
        sheet = ss.sheet_by_title(title)
        rng = sheets_api.value_range(
            ss,
            f"'{title}'",
            {"valueRenderOption": "UNFORMATTED_VALUE"},
            ss.today(self.clock.now()),
        )
        del sheet
        return [list(r) for r in rng.get("values", [])]

    def in_folder(self, folder_id: str) -> list[DriveFile]:
        return [f for f in self.files.values() if folder_id in f.parents and not f.trashed]

    # -- people --------------------------------------------------------------------------

    def type(
        self,
        spreadsheet_id: str,
        title: str,
        cells: Mapping[str, Any],
        *,
        user: str,
        force: bool = False,
    ) -> None:
        """Type values into cells as `user` in the browser: text, "=1+1" (a formula), "'=1+1"
        (text), numbers and dd.mm.yyyy dates as Sheets recognises them. Protected cells and
        values outside a strict dropdown are refused (PersonError) unless `force` (a paste)."""
        with self.lock:
            f = self.files[spreadsheet_id]
            if self.role(spreadsheet_id, user) < ROLE_RANK["writer"]:
                raise PersonError(f"{user} cannot edit {spreadsheet_id}")
            ss = self.spreadsheets[spreadsheet_id]
            sheet = ss.sheet_by_title(title)
            for ref, value in cells.items():
                box = parse_a1_box(ref)
                r, c = box.row0, box.col0
                if not force:
                    self._check_person(f, sheet, r, c, user, value)
                cell = dict(sheet.cells.get((r, c), {}))
                entered, fmt = user_entered(value, ss.locale)
                if entered is None:
                    cell.pop("userEnteredValue", None)
                else:
                    cell["userEnteredValue"] = entered
                if fmt and "numberFormat" not in cell.get("userEnteredFormat", {}):
                    cell["userEnteredFormat"] = {
                        **cell.get("userEnteredFormat", {}),
                        "numberFormat": fmt,
                    }
                if is_empty(cell):
                    sheet.cells.pop((r, c), None)
                else:
                    sheet.cells[(r, c)] = cell
            f.touch(user, self.clock.time())

    def write_note(
        self, spreadsheet_id: str, title: str, ref: str, note: str, *, user: str
    ) -> None:
        """A person adds (or, with "", removes) a note on a cell."""
        with self.lock:
            sheet = self.spreadsheets[spreadsheet_id].sheet_by_title(title)
            box = parse_a1_box(ref)
            self._check_person(self.files[spreadsheet_id], sheet, box.row0, box.col0, user, None)
            cell = dict(sheet.cells.get((box.row0, box.col0), {}))
            if note:
                cell["note"] = note
            else:
                cell.pop("note", None)
            sheet.cells[(box.row0, box.col0)] = cell
            self.files[spreadsheet_id].touch(user, self.clock.time())

    def _check_person(
        self, f: DriveFile, sheet: Sheet, r: int, c: int, user: str, value: Any
    ) -> None:
        if user != f.owner:
            for pr in sheet.protected_ranges:
                if not box_of_grid_range(pr["range"]).contains(r, c):
                    continue
                if any(
                    box_of_grid_range(u).contains(r, c) for u in pr.get("unprotectedRanges", [])
                ):
                    continue
                if user not in pr.get("editors", {}).get("users", []):
                    raise PersonError(
                        "You are trying to edit a protected cell or object. Please contact the"
                        " spreadsheet owner to remove protection if you need to edit."
                    )
        rule = sheet.cells.get((r, c), {}).get("dataValidation")
        if rule and rule.get("strict") and value not in (None, ""):
            condition = rule.get("condition", {})
            if condition.get("type") == "ONE_OF_LIST":
                allowed = [v.get("userEnteredValue") for v in condition.get("values", [])]
                if str(value) not in allowed:
                    raise PersonError(f"Input must be an item on the specified list: {value!r}")

    def copy_as(self, user: str, file_id: str, name: str, parent: str | None = None) -> str:
        """A person makes a copy ("File → Make a copy"): metadata and sheets come along."""
        with self.lock:
            src = self.files[file_id]
            f = self._new_file(name, src.mime_type, user, [parent] if parent else list(src.parents))
            if src.mime_type == SPREADSHEET:
                self.spreadsheets[f.id] = self.spreadsheets[file_id].clone(f.id)
                self.spreadsheets[f.id].properties["title"] = name
            return f.id

    def trash(self, file_id: str, user: str) -> None:
        with self.lock:
            f = self.files[file_id]
            f.trashed = True
            f.touch(user, self.clock.time())

    def rename_sheet(self, spreadsheet_id: str, title: str, new: str, *, user: str) -> None:
        with self.lock:
            self.spreadsheets[spreadsheet_id].sheet_by_title(title).properties["title"] = new
            self.files[spreadsheet_id].touch(user, self.clock.time())

    def insert_rows(
        self, spreadsheet_id: str, title: str, before: int, count: int, *, user: str
    ) -> None:
        """Insert `count` empty rows before sheet row `before` (1-based); everything below moves."""
        with self.lock:
            sheet = self.spreadsheets[spreadsheet_id].sheet_by_title(title)
            at = before - 1
            sheet.cells = {
                ((r + count if r >= at else r), c): cell for (r, c), cell in sheet.cells.items()
            }
            sheet.properties["gridProperties"]["rowCount"] += count
            # Ranges may be shared with copies of this spreadsheet: change copies of them.
            sheet.protected_ranges = copy.deepcopy(sheet.protected_ranges)
            sheet.conditional_formats = copy.deepcopy(sheet.conditional_formats)
            sheet.basic_filter = copy.deepcopy(sheet.basic_filter)

            def shift(gr: dict[str, Any]) -> None:
                # A range below moves down; a range the new rows fall inside grows.
                if gr.get("startRowIndex", 0) >= at and "startRowIndex" in gr:
                    gr["startRowIndex"] += count
                if "endRowIndex" in gr and gr["endRowIndex"] > at:
                    gr["endRowIndex"] += count

            for pr in sheet.protected_ranges:
                shift(pr["range"])
                for u in pr.get("unprotectedRanges", []):
                    shift(u)
            for rule in sheet.conditional_formats:
                for gr in rule["ranges"]:
                    shift(gr)
            if sheet.basic_filter:
                shift(sheet.basic_filter["range"])
            self.files[spreadsheet_id].touch(user, self.clock.time())

    # -- faults and time -----------------------------------------------------------------

    def inject(self, fault: Fault) -> Fault:
        with self.lock:
            self.faults.append(fault)
        return fault

    def expire_tokens(self) -> None:
        """Every token issued so far stops working now (as if an hour went by)."""
        with self.lock:
            for t in self.tokens.values():
                t.expires = min(t.expires, self.clock.time())

    # -- HTTP --------------------------------------------------------------------------

    def handle(self, method: str, raw_path: str, headers: Mapping[str, str], body: bytes) -> Answer:
        """Answer one HTTP request (called by the server's threads)."""
        with self.lock:
            self.in_flight += 1
        try:
            if len(body) > self.max_body:
                path = urlsplit(raw_path).path
                drive = path.startswith("/drive/")
                self._record(method, path, "too-large", "", 400, "", self._target(path), b"")
                message = f"Request payload size exceeds the limit: {self.max_body} bytes."
                return Answer(400, ApiError(400, message).body(drive))
            return self._handle(method, raw_path, headers, body)
        finally:
            with self.lock:
                self.in_flight -= 1

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Wait (real time) until no request is being answered: a slow answer the client gave up
        on is still being served after the client moved on."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if self.in_flight == 0:
                    return
            time.sleep(0.01)
        raise TimeoutError("the fake Google is still answering")

    def _handle(
        self, method: str, raw_path: str, headers: Mapping[str, str], body: bytes
    ) -> Answer:
        split = urlsplit(raw_path)
        path = split.path
        query = {
            k: v if len(v) > 1 else v[0]
            for k, v in parse_qs(split.query, keep_blank_values=True).items()
        }
        if path.endswith("/token") and method == "POST":
            return self._token(body, headers)
        if path == "/o/oauth2/auth" and method == "GET":
            return self._authorize(query)
        drive = path.startswith("/drive/") or path.startswith("/upload/")
        user, problem = self._user(headers, drive)
        bucket = self._bucket(method, path)
        target = self._target(path)
        if problem is not None:
            self._record(
                method, path, self._op(method, path), bucket, problem.status, "", target, b""
            )
            return problem
        fault = self._fault(method, path, bucket, target)
        if fault is not None and fault.action is not None:
            fault.action()
        if fault is not None and fault.delay:
            time.sleep(fault.delay)
        if fault is not None and fault.status and not fault.apply:
            answer = self._fault_answer(fault, drive)
            self._record(method, path, "fault", bucket, answer.status, user, target, body)
            return answer
        with self.lock:
            limited = self._quota(user, bucket, drive)
            if limited is not None:
                self._record(method, path, self._op(method, path), bucket, 429, user, target, body)
                return limited
            try:
                payload = json.loads(body) if body else {}
            except ValueError:
                answer = Answer(400, ApiError(400, "Invalid JSON payload received.").body(drive))
            else:
                try:
                    if drive:
                        answer = self._drive(method, path, query, payload, user)
                    else:
                        answer = self._sheets(method, path, query, payload, user)
                except ApiError as e:
                    answer = Answer(e.code, e.body(drive), e.headers)
            self._record(
                method, path, self._op(method, path), bucket, answer.status, user, target, body
            )
        if fault is not None and fault.apply and fault.status:
            return self._fault_answer(fault, drive)
        return answer

    def _record(
        self,
        method: str,
        path: str,
        op: str,
        bucket: str,
        status: int,
        user: str,
        target: str,
        body: bytes,
    ) -> None:
        with self.lock:
            self.log.append(
                Record(
                    method,
                    path,
                    op,
                    bucket,
                    status,
                    user,
                    target,
                    self.clock.time(),
                    json.loads(body) if (self.keep_bodies and body) else None,
                    len(body),
                )
            )

    def _fault(self, method: str, path: str, bucket: str, target: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.matches(method, path, bucket, target):
                    fault.times -= 1
                    fault.hits += 1
                    if fault.expire_tokens:
                        self.expire_tokens()
                    return fault
        return None

    def _fault_answer(self, fault: Fault, drive: bool) -> Answer:
        assert fault.status
        message = {
            429: "Quota exceeded.",
            500: "Internal error encountered.",
            502: "Bad Gateway",
            503: "The service is currently unavailable.",
            504: "Deadline exceeded.",
        }.get(fault.status, "Injected failure.")
        headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
        return Answer(fault.status, ApiError(fault.status, message).body(drive), headers)

    def _token(self, body: bytes, headers: Mapping[str, str]) -> Answer:
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        grant = form.get("grant_type")
        if grant in (auth.CODE_GRANT, auth.REFRESH_GRANT):
            return self._person_token(grant, form, headers)
        if grant != auth.JWT_GRANT:
            return Answer(
                400,
                {
                    "error": "unsupported_grant_type",
                    "error_description": f"Invalid grant_type: {form.get('grant_type', '')}",
                },
            )
        with self.lock:
            try:
                claims = auth.verify_assertion(form.get("assertion", ""), self.accounts)
            except auth.GrantError as e:
                return Answer(400, {"error": e.error, "error_description": e.description})
            token = auth.new_token()
            self.tokens[token] = auth.Token(
                str(claims["iss"]),
                frozenset(str(claims["scope"]).split()),
                self.clock.time() + self.token_lifetime,
            )
            self.grants.append(str(claims["iss"]))
        return Answer(
            200,
            {
                "access_token": token,
                "expires_in": int(self.token_lifetime) - 1,
                "token_type": "Bearer",
            },
        )

    def _client_of(self, form: Mapping[str, str], headers: Mapping[str, str]) -> auth.OAuthClient:
        """The OAuth client, authenticated by the form's fields or HTTP Basic (both are used)."""
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        header = headers.get("Authorization") or headers.get("authorization") or ""
        if header.startswith("Basic "):
            pair = base64.b64decode(header[6:]).decode()
            client_id, _, secret = (unquote(x) for x in pair.partition(":"))
        client = self.clients.get(client_id)
        if client is None or client.secret != secret:
            raise auth.GrantError("invalid_client", "Unauthorized")
        return client

    def _person_token(
        self, grant: str, form: Mapping[str, str], headers: Mapping[str, str]
    ) -> Answer:
        """The authorization-code grant (after the loopback redirect) and the refresh grant."""
        with self.lock:
            try:
                client = self._client_of(form, headers)
                refresh = ""
                if grant == auth.CODE_GRANT:
                    code = self.codes.pop(form.get("code", ""), None)
                    if code is None or code.expires <= self.clock.time():
                        raise auth.GrantError("invalid_grant", "Malformed auth code.")
                    if code.client_id != client.client_id:
                        raise auth.GrantError("invalid_grant", "Unauthorized")
                    if form.get("redirect_uri") != code.redirect_uri:
                        raise auth.GrantError("redirect_uri_mismatch", "Bad Request")
                    if not auth.pkce_matches(
                        form.get("code_verifier", ""), code.challenge, code.method
                    ):
                        raise auth.GrantError("invalid_grant", "Invalid code verifier.")
                    email, scopes = code.email, code.scopes
                    refresh = auth.new_refresh()
                    self.refresh_tokens[refresh] = auth.Refresh(client.client_id, email, scopes)
                else:
                    held = self.refresh_tokens.get(form.get("refresh_token", ""))
                    if held is None or held.revoked or held.client_id != client.client_id:
                        raise auth.GrantError("invalid_grant", auth.REVOKED)
                    email, scopes = held.email, held.scopes
            except auth.GrantError as e:
                return Answer(400, {"error": e.error, "error_description": e.description})
            token = auth.new_token()
            self.tokens[token] = auth.Token(
                email, scopes, self.clock.time() + self.token_lifetime, client.client_id
            )
            self.grants.append(email)
        answer: dict[str, Any] = {
            "access_token": token,
            "expires_in": int(self.token_lifetime) - 1,
            "scope": " ".join(sorted(scopes)),
            "token_type": "Bearer",
        }
        if refresh:
            answer["refresh_token"] = refresh
        return Answer(200, answer)

    def _authorize(self, query: Mapping[str, Any]) -> Answer:
        """The consent page: the signed-in person allows the app; the browser is sent (302) to
        the app's loopback address with a code, as Google does for a Desktop app."""
        redirect = str(query.get("redirect_uri", ""))
        target = urlsplit(redirect)
        with self.lock:
            client = self.clients.get(str(query.get("client_id", "")))
            if client is None:
                return Answer(401, {"error": "invalid_client", "error_description": "not found"})
            if target.scheme != "http" or target.hostname not in ("127.0.0.1", "localhost", "::1"):
                # Google has blocked the out-of-band (copy the code) flow: loopback only.
                return Answer(400, {"error": "invalid_request", "error_description": redirect})
            if query.get("response_type") != "code" or not query.get("scope"):
                return Answer(400, {"error": "invalid_request", "error_description": "scope"})
            scopes = frozenset(str(query["scope"]).split())
            state = str(query.get("state", ""))
            if not self.signed_in or not self.consents:
                params = {"error": "access_denied", "state": state}
            else:
                code = auth.new_code()
                self.codes[code] = auth.AuthCode(
                    client.client_id,
                    self.signed_in,
                    scopes,
                    redirect,
                    str(query.get("code_challenge", "")),
                    str(query.get("code_challenge_method", "plain")),
                    self.clock.time() + 600,
                )
                params = {"state": state, "code": code, "scope": " ".join(sorted(scopes))}
        return Answer(302, None, {"Location": f"{redirect}?{urlencode(params)}"})

    def _user(self, headers: Mapping[str, str], drive: bool) -> tuple[str, Answer | None]:
        header = headers.get("Authorization") or headers.get("authorization") or ""
        token = header[7:] if header.startswith("Bearer ") else ""
        with self.lock:
            t = self.tokens.get(token)
            if t is None or t.expires <= self.clock.time():
                return "", Answer(
                    401,
                    ApiError(401, UNAUTHENTICATED).body(drive),
                    {"WWW-Authenticate": WWW_AUTHENTICATE},
                )
            needed = DRIVE_SCOPES if drive else SHEETS_SCOPES
            if not (t.scopes & needed):
                return "", Answer(
                    403,
                    ApiError(403, "Request had insufficient authentication scopes.").body(drive),
                )
            # A token with drive.file alone reaches only the files its own app created.
            full = t.scopes & (SHEETS_SCOPES - {auth.DRIVE_FILE})
            self._ctx.client = "" if full else t.client
            self._ctx.app_only = not full
            return t.email, None

    @staticmethod
    def _bucket(method: str, path: str) -> str:
        if path.startswith("/drive/") or path.startswith("/upload/"):
            return "drive"
        if method == "GET" or path.endswith(READ_VERBS):
            return "read"
        return "write"

    @staticmethod
    def _target(path: str) -> str:
        parts = path.split("/")
        if path.startswith("/v4/spreadsheets/") and len(parts) > 3:
            return unquote(parts[3]).split(":")[0]
        if path.startswith("/drive/v3/files/") and len(parts) > 4:
            return unquote(parts[4])
        return ""

    @staticmethod
    def _op(method: str, path: str) -> str:
        if path == "/drive/v3/about":
            return "about.get"
        if path.startswith("/drive/v3/files"):
            rest = path[len("/drive/v3/files") :].strip("/").split("/")
            if rest == [""]:
                return {"GET": "files.list", "POST": "files.create"}.get(method, "files.?")
            if len(rest) == 1:
                return {"GET": "files.get", "PATCH": "files.update", "DELETE": "files.delete"}.get(
                    method, "files.?"
                )
            if rest[1] == "copy":
                return "files.copy"
            if rest[1] == "permissions":
                return {
                    "GET": "permissions.list",
                    "POST": "permissions.create",
                    "DELETE": "permissions.delete",
                }.get(method, "permissions.?")
            return "drive.?"
        if path.endswith(":batchUpdate") and "/values" not in path:
            return "batchUpdate"
        if "/values:" in path:
            return "values." + path.rsplit(":", 1)[1]
        if "/values/" in path:
            if path.endswith(":clear"):
                return "values.clear"
            if path.endswith(":append"):
                return "values.append"
            return {"GET": "values.get", "PUT": "values.update"}.get(method, "values.?")
        return "get" if method == "GET" else "sheets.?"

    def _quota(self, user: str, bucket: str, drive: bool) -> Answer | None:
        now = self.clock.time()
        for who, limits in ((user, self.quotas), ("*project*", self.project_quotas)):
            window = self._windows.setdefault((who, bucket), deque())
            while window and window[0] <= now - 60:
                window.popleft()
            if len(window) >= limits[bucket]:
                metric, service = QUOTA_NAMES[bucket]
                scope = "user" if who == user else "project"
                message = (
                    f"Quota exceeded for quota metric '{metric}' and limit '{metric} per minute"
                    f" per {scope}' of service '{service}' for consumer 'project_number:424242'."
                )
                error = ApiError(
                    429,
                    message,
                    drive_reason="userRateLimitExceeded"
                    if scope == "user"
                    else "rateLimitExceeded",
                    details=[
                        {
                            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                            "reason": "RATE_LIMIT_EXCEEDED",
                            "domain": "googleapis.com",
                            "metadata": {"quota_metric": metric, "service": service},
                        }
                    ],
                )
                return Answer(429, error.body(drive))
        for who in (user, "*project*"):
            self._windows[(who, bucket)].append(now)
        return None

    # -- Sheets --------------------------------------------------------------------------

    def _app_sees(self, f: DriveFile) -> bool:
        """drive.file: only the files created by the request's OAuth client."""
        return not getattr(self._ctx, "app_only", False) or (
            bool(f.app_client) and f.app_client == getattr(self._ctx, "client", "")
        )

    def _access(self, file_id: str, user: str, need: str) -> None:
        f = self.files.get(file_id)
        if (
            f is None
            or f.mime_type != SPREADSHEET
            or file_id not in self.spreadsheets
            or not self._app_sees(f)
        ):
            raise ApiError(404, "Requested entity was not found.")
        if self.role(file_id, user) < ROLE_RANK[need]:
            raise ApiError(403, "The caller does not have permission")

    def _sheets(
        self, method: str, path: str, query: dict[str, Any], body: Any, user: str
    ) -> Answer:
        rest = path[len("/v4/spreadsheets") :]
        if not rest.startswith("/"):
            raise ApiError(404, "Method not found.")
        head, _, tail = rest[1:].partition("/")
        sid, _, verb = unquote(head).partition(":")
        today = None
        if tail == "" and verb == "" and method == "GET":
            self._access(sid, user, "reader")
            ss = self.spreadsheets[sid]
            mask = fieldmask.parse(query["fields"]) if query.get("fields") else None
            ranges = query.get("ranges")
            ranges = [ranges] if isinstance(ranges, str) else ranges
            return Answer(
                200,
                sheets_api.spreadsheet_json(
                    ss,
                    include_grid=str(query.get("includeGridData", "false")).lower() == "true",
                    ranges=ranges,
                    mask=mask,
                    today=ss.today(self.clock.now()),
                    user=user,
                    owners={self.files[sid].owner},
                ),
            )
        if tail == "" and verb == "batchUpdate" and method == "POST":
            self._access(sid, user, "writer")
            ss = self.spreadsheets[sid]
            today = ss.today(self.clock.now())
            new, replies = sheets_api.batch_update(
                ss, body, user, today, lambda: self.rng.randrange(1, 2**31 - 1)
            )
            self.spreadsheets[sid] = new
            self.files[sid].touch(user, self.clock.time())
            self.files[sid].name = str(new.properties.get("title", self.files[sid].name))
            answer: dict[str, Any] = {"spreadsheetId": sid, "replies": replies}
            if body.get("includeSpreadsheetInResponse"):
                ranges = body.get("responseRanges") or None
                answer["updatedSpreadsheet"] = sheets_api.spreadsheet_json(
                    new,
                    include_grid=bool(body.get("responseIncludeGridData")),
                    ranges=ranges,
                    mask=None,
                    today=today,
                    user=user,
                    owners={self.files[sid].owner},
                )
            if query.get("fields"):
                answer = sheets_api.trim_grid(
                    fieldmask.select(answer, fieldmask.parse(query["fields"]))
                )
            return Answer(200, answer)
        if tail.startswith("values"):
            return self._values(method, sid, tail, query, body, user)
        raise ApiError(404, "Method not found.")

    def _values(
        self, method: str, sid: str, tail: str, query: dict[str, Any], body: Any, user: str
    ) -> Answer:
        ss = self.spreadsheets.get(sid)
        if tail.startswith("values:"):
            verb = tail[len("values:") :]
            if verb == "batchGet" and method == "GET":
                self._access(sid, user, "reader")
                assert ss is not None
                ranges = query.get("ranges") or []
                ranges = [ranges] if isinstance(ranges, str) else ranges
                today = ss.today(self.clock.now())
                return Answer(
                    200,
                    {
                        "spreadsheetId": sid,
                        "valueRanges": [
                            sheets_api.value_range(ss, r, query, today) for r in ranges
                        ],
                    },
                )
            if verb == "batchUpdate" and method == "POST":
                self._access(sid, user, "writer")
                assert ss is not None
                work = ss.clone(sid)
                option = str(body.get("valueInputOption", ""))
                owners = {self.files[sid].owner}
                responses = [
                    sheets_api.write_values(work, d, option, f"data[{i}]", user=user, owners=owners)
                    for i, d in enumerate(body.get("data", []))
                ]
                self.spreadsheets[sid] = work
                self.files[sid].touch(user, self.clock.time())
                return Answer(
                    200,
                    {
                        "spreadsheetId": sid,
                        "totalUpdatedRows": sum(r["updatedRows"] for r in responses),
                        "totalUpdatedColumns": max(
                            (r["updatedColumns"] for r in responses), default=0
                        ),
                        "totalUpdatedCells": sum(r["updatedCells"] for r in responses),
                        "totalUpdatedSheets": len(
                            {r["updatedRange"].rsplit("!", 1)[0] for r in responses}
                        ),
                        "responses": responses,
                    },
                )
            if verb == "batchClear" and method == "POST":
                self._access(sid, user, "writer")
                assert ss is not None
                cleared = [
                    sheets_api.clear_values(ss, r)["clearedRange"] for r in body.get("ranges", [])
                ]
                self.files[sid].touch(user, self.clock.time())
                return Answer(200, {"spreadsheetId": sid, "clearedRanges": cleared})
            raise ApiError(404, "Method not found.")
        text = unquote(tail[len("values/") :])
        if text.endswith(":clear") and method == "POST":
            self._access(sid, user, "writer")
            assert ss is not None
            answer = sheets_api.clear_values(ss, text[: -len(":clear")])
            self.files[sid].touch(user, self.clock.time())
            return Answer(200, answer)
        if method == "GET":
            self._access(sid, user, "reader")
            assert ss is not None
            return Answer(200, sheets_api.value_range(ss, text, query, ss.today(self.clock.now())))
        if method == "PUT":
            self._access(sid, user, "writer")
            assert ss is not None
            work = ss.clone(sid)
            answer = sheets_api.write_values(
                work,
                {**body, "range": text},
                str(query.get("valueInputOption", "")),
                user=user,
                owners={self.files[sid].owner},
            )
            self.spreadsheets[sid] = work
            self.files[sid].touch(user, self.clock.time())
            return Answer(200, answer)
        raise ApiError(404, "Method not found.")

    # -- Drive ---------------------------------------------------------------------------

    def _visible(self, file_id: str, user: str) -> DriveFile:
        f = self.files.get(file_id)
        if f is None or self.role(file_id, user) == 0 or not self._app_sees(f):
            raise ApiError(404, f"File not found: {file_id}.", drive_reason="notFound")
        return f

    def _drive(self, method: str, path: str, query: dict[str, Any], body: Any, user: str) -> Answer:
        if path == "/drive/v3/about" and method == "GET":
            about = {"kind": "drive#about", "user": self._person_json(user)}
            return Answer(200, fieldmask.select(about, fieldmask.parse(str(query["fields"]))))
        if not path.startswith("/drive/v3/files"):
            raise ApiError(404, "Not Found", drive_reason="notFound")
        rest = [unquote(p) for p in path[len("/drive/v3/files") :].strip("/").split("/") if p]
        if not rest:
            if method == "GET":
                visible = [
                    f
                    for f in self.files.values()
                    if self.role(f.id, user) > 0 and self._app_sees(f)
                ]
                return Answer(200, list_files(visible, query, user))
            if method == "POST":
                return Answer(200, self._create(body, query, user))
            raise ApiError(405, "Method not allowed", drive_reason="methodNotAllowed")
        f = self._visible(rest[0], user)
        if len(rest) == 1:
            if method == "GET":
                return Answer(200, file_answer(f, query, user))
            if method == "PATCH":
                return Answer(200, self._update(f, body, query, user))
            if method == "DELETE":
                if f.owner != user:
                    raise ApiError(
                        403,
                        "The user does not have sufficient permissions for this file.",
                        drive_reason="insufficientFilePermissions",
                    )
                del self.files[f.id]
                self.spreadsheets.pop(f.id, None)
                return Answer(204, None)
        if len(rest) == 2 and rest[1] == "copy" and method == "POST":
            return Answer(200, self._copy(f, body, query, user))
        if len(rest) >= 2 and rest[1] == "permissions":
            return self._permissions(f, method, rest[2:], body, query, user)
        raise ApiError(404, "Not Found", drive_reason="notFound")

    def _parents_for(self, parents: Any, user: str) -> list[str]:
        out = []
        for p in parents or []:
            parent = self._visible(str(p), user)
            if parent.mime_type != FOLDER:
                raise ApiError(
                    400, "The specified parent is not a folder.", drive_reason="invalidParent"
                )
            if self.role(parent.id, user) < ROLE_RANK["writer"]:
                raise ApiError(
                    403,
                    "The user does not have sufficient permissions for this file.",
                    drive_reason="insufficientFilePermissions",
                )
            out.append(parent.id)
        return out

    def _create(self, body: dict[str, Any], query: dict[str, Any], user: str) -> dict[str, Any]:
        name = str(body.get("name") or "Untitled")
        mime = str(body.get("mimeType") or "application/octet-stream")
        parents = self._parents_for(body.get("parents"), user)
        self._check_storage(user, mime, parents)
        f = self._new_file(name, mime, user, parents)
        f.app_properties = {str(k): str(v) for k, v in (body.get("appProperties") or {}).items()}
        return file_answer(f, query, user)

    def _copy(
        self, src: DriveFile, body: dict[str, Any], query: dict[str, Any], user: str
    ) -> dict[str, Any]:
        parents = (
            self._parents_for(body.get("parents"), user)
            if body.get("parents")
            else list(src.parents)
        )
        self._check_storage(user, src.mime_type, parents)
        f = self._new_file(
            str(body.get("name") or f"Copy of {src.name}"), src.mime_type, user, parents
        )
        f.app_properties = {str(k): str(v) for k, v in (body.get("appProperties") or {}).items()}
        if src.mime_type == SPREADSHEET:
            self.spreadsheets[f.id] = self.spreadsheets[src.id].clone(f.id)
            self.spreadsheets[f.id].properties["title"] = f.name
        return file_answer(f, query, user)

    def _check_storage(self, user: str, mime: str, parents: Sequence[str]) -> None:
        """Since 2025 a service account owns no storage: a file of its own outside a shared
        drive is refused with Google's 403 storageQuotaExceeded (folders take no quota)."""
        if user not in self.accounts or mime == FOLDER:
            return
        if not any(self.files[p].drive_id for p in parents):
            raise ApiError(
                403,
                STORAGE_QUOTA,
                drive_reason="storageQuotaExceeded",
                drive_domain="usageLimits",
            )

    @staticmethod
    def _person_json(user: str) -> dict[str, Any]:
        return {
            "kind": "drive#user",
            "displayName": user.split("@")[0],
            "emailAddress": user,
            "me": True,
            "permissionId": permission_id(user),
        }

    def _update(
        self, f: DriveFile, body: dict[str, Any], query: dict[str, Any], user: str
    ) -> dict[str, Any]:
        if self.role(f.id, user) < ROLE_RANK["writer"]:
            raise ApiError(
                403,
                "The user does not have sufficient permissions for this file.",
                drive_reason="insufficientFilePermissions",
            )
        if "name" in body:
            f.name = str(body["name"])
            if f.id in self.spreadsheets:
                self.spreadsheets[f.id].properties["title"] = f.name
        for k, v in (body.get("appProperties") or {}).items():
            if v is None:
                f.app_properties.pop(k, None)
            else:
                f.app_properties[str(k)] = str(v)
        if "trashed" in body:
            f.trashed = bool(body["trashed"])
        for p in str(query.get("removeParents") or "").split(","):
            if p in f.parents:
                f.parents.remove(p)
        for p in self._parents_for(
            [x for x in str(query.get("addParents") or "").split(",") if x], user
        ):
            if p not in f.parents:
                f.parents.append(p)
        f.touch(user, self.clock.time())
        return file_answer(f, query, user)

    def _permissions(
        self,
        f: DriveFile,
        method: str,
        rest: list[str],
        body: dict[str, Any],
        query: dict[str, Any],
        user: str,
    ) -> Answer:
        if method == "GET" and not rest:
            return Answer(
                200,
                {
                    "kind": "drive#permissionList",
                    "permissions": [permission_json(p) for p in f.permissions],
                },
            )
        if self.role(f.id, user) < ROLE_RANK["writer"]:
            raise ApiError(
                403,
                "The user does not have sufficient permissions for this file.",
                drive_reason="insufficientFilePermissions",
            )
        if method == "POST" and not rest:
            email = str(body.get("emailAddress", ""))
            role = str(body.get("role", ""))
            if body.get("type") != "user" or role not in ROLE_RANK or "@" not in email:
                raise ApiError(
                    400, "Invalid sharing request.", drive_reason="invalidSharingRequest"
                )
            notify = str(query.get("sendNotificationEmail", "true")).lower() != "false"
            if email in self.non_google and not notify:
                raise ApiError(
                    400,
                    f'Bad Request. User message: "You are trying to invite {email}. Since there is'
                    " no Google account associated with this email address, you must check the"
                    " 'Notify people' box to invite this recipient.\"",
                    drive_reason="invalidSharingRequest",
                )
            p = self._grant(f, email, role)
            if notify:
                self.notifications.append((f.id, email, str(query.get("emailMessage", ""))))
            return Answer(
                200, {"kind": "drive#permission", "id": p["id"], "type": "user", "role": p["role"]}
            )
        if method == "DELETE" and rest:
            f.permissions = [p for p in f.permissions if p["id"] != rest[0]]
            return Answer(204, None)
        raise ApiError(404, "Not Found", drive_reason="notFound")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes: without this, Nagle and delayed ACKs add ~40 ms
        # to every answer on a kept-alive connection.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        answer = self.server.fake.handle(self.command, self.path, dict(self.headers.items()), body)
        data = b"" if answer.body is None else json.dumps(answer.body, ensure_ascii=False).encode()
        try:
            self.send_response(answer.status)
            if answer.body is not None:
                self.send_header("Content-Type", "application/json; charset=UTF-8")
            for k, v in answer.headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting (a slow-answer fault)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, fake: FakeGoogle):
        self.fake = fake
        super().__init__(("127.0.0.1", 0), _Handler)


@contextlib.contextmanager
def serving(fake: FakeGoogle) -> Iterator[FakeGoogle]:
    """Serve the fake on 127.0.0.1 (a free port) while the block runs."""
    server = _Server(fake)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="fake-google", daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()


_SESSION: tuple[FakeGoogle, contextlib.ExitStack] | None = None
_SESSION_LOCK = threading.Lock()


def session_fake() -> FakeGoogle:
    """The one fake server of this test process, started on first use (stopped at exit)."""
    global _SESSION
    with _SESSION_LOCK:
        if _SESSION is None:
            import atexit

            stack = contextlib.ExitStack()
            fake = stack.enter_context(serving(FakeGoogle()))
            atexit.register(stack.close)
            _SESSION = (fake, stack)
        return _SESSION[0]


def a1_box(ref: str) -> Box:
    """Re-exported for tests: an A1 reference as a 0-based box."""
    return parse_a1_box(ref)
