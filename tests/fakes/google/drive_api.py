"""Drive v3 on the fake: files (list with q and paging, get, create, copy, update, delete) and
permissions, with Google's answer shapes and Drive's error body."""

from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tests.fakes.google import fieldmask
from tests.fakes.google.sheets_model import ApiError

FOLDER = "application/vnd.google-apps.folder"
SPREADSHEET = "application/vnd.google-apps.spreadsheet"
DEFAULT_FILE_FIELDS = "kind,id,name,mimeType"
DEFAULT_LIST_FIELDS = "kind,incompleteSearch,nextPageToken,files(kind,id,name,mimeType)"


def rfc3339(seconds: float) -> str:
    """Drive's time format: UTC with milliseconds."""
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass
class DriveFile:
    id: str
    name: str
    mime_type: str
    owner: str
    created: float
    modified: float
    parents: list[str] = field(default_factory=list)
    version: int = 1
    trashed: bool = False
    app_properties: dict[str, str] = field(default_factory=dict)
    permissions: list[dict[str, Any]] = field(default_factory=list)
    last_modifier: str = ""
    drive_id: str = ""  # the shared drive it lives in ("" in someone's «Мой диск»)
    app_client: str = ""  # the OAuth client that created it (what drive.file grants access to)

    def touch(self, user: str, now: float) -> None:
        """A change by `user`: Drive's modifiedTime, version and last modifying user move."""
        self.modified = max(now, self.modified + 0.001)
        self.version += 1
        self.last_modifier = user

    def to_json(self, me: str) -> dict[str, Any]:
        user = self.last_modifier or self.owner
        out: dict[str, Any] = {
            "kind": "drive#file",
            "id": self.id,
            "name": self.name,
            "mimeType": self.mime_type,
            "parents": list(self.parents),
            "createdTime": rfc3339(self.created),
            "modifiedTime": rfc3339(self.modified),
            "version": str(self.version),
            "trashed": self.trashed,
            "lastModifyingUser": {
                "kind": "drive#user",
                "displayName": user.split("@")[0],
                "emailAddress": user,
                "me": user == me,
                "permissionId": permission_id(user),
            },
            "owners": [
                {
                    "kind": "drive#user",
                    "displayName": self.owner.split("@")[0],
                    "emailAddress": self.owner,
                    "me": self.owner == me,
                    "permissionId": permission_id(self.owner),
                }
            ],
            "webViewLink": f"https://docs.google.com/spreadsheets/d/{self.id}/edit"
            if self.mime_type == SPREADSHEET
            else f"https://drive.google.com/drive/folders/{self.id}",
        }
        if self.app_properties:
            out["appProperties"] = dict(self.app_properties)
        if self.drive_id:
            out["driveId"] = self.drive_id
            del out["owners"]  # files in a shared drive belong to the drive, not to a person
        return out


def permission_id(email: str) -> str:
    """A stable numeric id per address, as Drive's permission ids look."""
    digest = hashlib.sha256(email.lower().encode()).hexdigest()
    return str(int(digest[:16], 16) % 10**20).rjust(20, "0")


def permission_json(p: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "drive#permission", **copy.deepcopy(p)}


# --- q ------------------------------------------------------------------------------------

_STRING = r"""(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")"""
_CLAUSES = [
    ("in_parents", re.compile(rf"^{_STRING}\s+in\s+parents$")),
    ("parents_in", re.compile(rf"^parents\s+in\s+{_STRING}$")),
    ("trashed", re.compile(r"^trashed\s*(=|!=)\s*(true|false)$")),
    ("mime", re.compile(rf"^mimeType\s*(=|!=)\s*{_STRING}$")),
    ("name_eq", re.compile(rf"^name\s*=\s*{_STRING}$")),
    ("name_contains", re.compile(rf"^name\s+contains\s+{_STRING}$")),
    (
        "app",
        re.compile(
            rf"^appProperties\s+has\s*\{{\s*key\s*=\s*{_STRING}\s+and\s+value\s*=\s*{_STRING}\s*\}}$"
        ),
    ),
]


def _text(m: re.Match[str], first: int) -> str:
    raw = m.group(first) if m.group(first) is not None else m.group(first + 1)
    return re.sub(r"\\(.)", r"\1", raw)


def _split_and(q: str) -> list[str]:
    parts, depth, start = [], 0, 0
    quote = ""
    i = 0
    while i < len(q):
        ch = q[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif depth == 0 and q[i : i + 5].lower() == " and ":
            parts.append(q[start:i].strip())
            start = i + 5
            i += 4
        i += 1
    parts.append(q[start:].strip())
    return [p for p in parts if p]


def _invalid_q() -> ApiError:
    return ApiError(400, "Invalid Value", drive_reason="invalid")


def _clause(kind: str, m: re.Match[str]) -> Callable[[DriveFile], bool]:
    """One q clause as a predicate."""
    if kind in ("in_parents", "parents_in"):
        parent = _text(m, 1)
        return lambda f: parent in f.parents
    if kind == "trashed":
        want, eq = m.group(2) == "true", m.group(1) == "="
        return lambda f: (f.trashed == want) == eq
    if kind == "mime":
        eq, mime = m.group(1) == "=", _text(m, 2)
        return lambda f: (f.mime_type == mime) == eq
    if kind == "name_eq":
        name = _text(m, 1)
        return lambda f: f.name == name
    if kind == "name_contains":
        part = _text(m, 1).lower()
        return lambda f: part in f.name.lower()
    key, value = _text(m, 1), _text(m, 3)
    return lambda f: f.app_properties.get(key) == value


def matcher(q: str) -> Callable[[DriveFile], bool]:
    """A predicate over DriveFile for the supported q clauses (joined by 'and'); else 400."""
    tests: list[Callable[[DriveFile], bool]] = []
    if " or " in f" {q.lower()} " or q.strip().lower().startswith("not "):
        raise _invalid_q()
    for clause in _split_and(q):
        found = next(((k, p.match(clause)) for k, p in _CLAUSES if p.match(clause)), None)
        if found is None:
            raise _invalid_q()
        kind, m = found
        assert m is not None
        tests.append(_clause(kind, m))
    return lambda f: all(t(f) for t in tests)


def list_files(files: list[DriveFile], params: dict[str, Any], me: str) -> dict[str, Any]:
    """files.list: the matching files, a page at a time (pageSize up to 1000)."""
    q = str(params.get("q") or "trashed = false")
    pred = matcher(q)
    try:
        size = int(params.get("pageSize") or 100)
    except ValueError:
        raise ApiError(400, "Invalid Value", drive_reason="invalid") from None
    size = max(1, min(size, 1000))
    try:
        offset = int(params.get("pageToken") or 0)
    except ValueError:
        raise ApiError(400, "Invalid Value", drive_reason="invalid") from None
    found = sorted((f for f in files if pred(f)), key=lambda f: (f.created, f.id))
    page = found[offset : offset + size]
    out: dict[str, Any] = {
        "kind": "drive#fileList",
        "incompleteSearch": False,
        "files": [f.to_json(me) for f in page],
    }
    if offset + size < len(found):
        out["nextPageToken"] = str(offset + size)
    mask = fieldmask.parse(str(params.get("fields") or DEFAULT_LIST_FIELDS))
    return fieldmask.select(out, mask)


def file_answer(f: DriveFile, params: dict[str, Any], me: str) -> dict[str, Any]:
    mask = fieldmask.parse(str(params.get("fields") or DEFAULT_FILE_FIELDS))
    return fieldmask.select(f.to_json(me), mask)
