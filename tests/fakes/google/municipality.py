"""A municipality on the fake Google: a config with storage "gsheets", a key, a shared folder."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from google.oauth2 import service_account

from sync.backends.google.backend import GoogleBackend
from sync.backends.google.config import SCOPES, USER_SCOPES
from sync.backends.google.http import (
    Budgets,
    Endpoints,
    GoogleHTTPClient,
    RateLimiter,
    RetryPolicy,
)
from sync.backends.google.login import UserToken, write_token
from sync.config import Config, load_config
from sync.distribute import distribute
from sync.spec import TemplateSpec, load_spec, normalize_header
from tests.fakes.google.server import FakeGoogle, session_fake
from tests.fixtures import BUILT_AT, KALAR_PLAN, PASSPORT, SCHOOLS

SERVICE_ACCOUNT = "roadmap-sync@roadmap-test.iam.gserviceaccount.com"
COORDINATOR = "coordinator@obrazovanie.example.ru"


@pytest.fixture
def fake_google() -> Iterator[FakeGoogle]:
    """The session's fake Google server, emptied for this test."""
    fake = session_fake()
    fake.wait_idle()
    fake.reset()
    yield fake
    fake.wait_idle()
    fake.reset()


@dataclass
class GoogleTown:
    """A test municipality on the fake: its config, key file, Drive folder and the fake."""

    config: Config
    fake: FakeGoogle
    folder_id: str
    key_path: Path

    def backend(self, **kwargs: Any) -> GoogleBackend:
        """A backend on the fake's virtual clock (quota waits and retries cost no real time)."""
        return GoogleBackend.from_config(
            self.config, clock=self.fake.clock.time, sleep=self.fake.clock.sleep, **kwargs
        )

    def spreadsheet_id(self, school_id: str) -> str:
        data = json.loads(self.registry_path.read_text(encoding="utf-8"))
        return str(data["schools"][school_id]["spreadsheet_id"])

    @property
    def registry_path(self) -> Path:
        return self.config.path.with_name(f"{self.config.path.stem}.google.json")

    def master_id(self) -> str:
        return str(json.loads(self.registry_path.read_text(encoding="utf-8"))["master"])

    def reload(self) -> GoogleTown:
        self.config = load_config(self.config.path)
        return self


def school_email(school_id: str) -> str:
    return f"{school_id}@school.example.ru"


def google_town(
    tmp_path: Path,
    fake: FakeGoogle,
    schools: Sequence[tuple[str, str, str]] = SCHOOLS,
    *,
    google: Mapping[str, Any] | None = None,
    key_mode: int = 0o600,
    with_coordinator: bool = True,
    auth: str = "service_account",
    shared_drive: bool = True,
) -> GoogleTown:
    """A config (storage "gsheets") whose Google endpoints are the fake.

    auth "service_account": a key, and a folder on a shared drive the account is a member of
    (in a personal «Мой диск» when not `shared_drive`: Google refuses it files there).
    auth "user": a Desktop OAuth client and the coordinator signed in (the token file written as
    google-login writes it); the program makes its folder in the coordinator's «Мой диск».
    """
    shutil.copyfile(KALAR_PLAN, tmp_path / "plan.tsv")
    key_path = tmp_path / "service-account.json"
    settings: dict[str, Any]
    if auth == "user":
        client = fake.add_oauth_client()
        secret_path = tmp_path / "client_secret.json"
        secret_path.write_text(json.dumps(client), encoding="utf-8")
        client_id = client["installed"]["client_id"]
        refresh = fake.sign_in(client_id, COORDINATOR, USER_SCOPES)
        token = UserToken(
            client_id, client["installed"]["client_secret"], refresh, COORDINATOR, USER_SCOPES
        )
        write_token(tmp_path / "config.google-token.json", token)
        folder = ""
        settings = {"auth": "user", "client_secret_file": "client_secret.json"}
    else:
        key = fake.add_service_account(SERVICE_ACCOUNT)
        key_path.write_text(json.dumps(key), encoding="utf-8")
        os.chmod(key_path, key_mode)
        parent = (
            fake.add_shared_drive(
                "Управление образования", {COORDINATOR: "organizer", SERVICE_ACCOUNT: "writer"}
            )
            if shared_drive
            else None
        )
        folder = fake.add_folder(
            "Дорожные карты", COORDINATOR, writers=[SERVICE_ACCOUNT], parent=parent
        )
        settings = {"key_file": "service-account.json", "folder_id": folder}
    settings |= {
        "coordinators": [COORDINATOR],
        "sheets_endpoint": fake.url,
        "drive_endpoint": fake.url,
        "token_uri": f"{fake.url}/token",
        "notify": False,
        "timeout": 5.0,
        **(google or {}),
    }
    lines = [
        "[municipality]",
        'name = "Тестовый округ"',
        'timezone = "Asia/Chita"',
        'period = "2021-09-01..2022-08-31"',
        "[plan]",
        'file = "plan.tsv"',
        "[storage]",
        'kind = "gsheets"',
        'history = "history.sqlite"',
        "[google]",
    ]
    for k, v in settings.items():
        if v is None:
            continue
        lines.append(f"{k} = {json.dumps(v, ensure_ascii=False)}")
    if with_coordinator:
        lines += ["[coordinator]", 'name = "МОУО"', 'emails = ["mouo@obrazovanie.example.ru"]']
    for sid, name, category in schools:
        lines += [
            "[[schools]]",
            f'id = "{sid}"',
            f'name = "{name}"',
            f'category = "{category}"',
            f'emails = ["{school_email(sid)}"]',
        ]
    path = tmp_path / "config.toml"
    path.write_text(
        "\n".join(lines).replace("True", "true").replace("False", "false") + "\n", encoding="utf-8"
    )
    return GoogleTown(load_config(path), fake, folder, key_path)


def header_columns(fake: FakeGoogle, spreadsheet_id: str, spec: TemplateSpec) -> dict[str, str]:
    """Column key -> column letters on a school's main sheet, found by header (as a person)."""
    from tests.fakes.google.sheets_model import col_letters

    header = fake.grid(spreadsheet_id, spec.main_sheet)[0]
    by_name = {normalize_header(h): i for i, h in enumerate(header)}
    return {
        c.key: col_letters(by_name[normalize_header(c.header)])
        for c in spec.columns
        if normalize_header(c.header) in by_name
    }


def school_types(
    fake: FakeGoogle,
    spreadsheet_id: str,
    spec: TemplateSpec,
    rows: Mapping[str, Mapping[str, Any]],
    passport: Mapping[str, Any] | None = None,
    *,
    user: str,
    force: bool = False,
) -> None:
    """A school fills its spreadsheet in the browser: rows by №, passport fields by key."""
    letters = header_columns(fake, spreadsheet_id, spec)
    grid = fake.grid(spreadsheet_id, spec.main_sheet)
    no_col = ord(letters["no"]) - 65
    cells: dict[str, Any] = {}
    for r, line in enumerate(grid[1:], start=2):
        no = str(line[no_col]).strip() if no_col < len(line) else ""
        for key, value in (rows.get(no) or {}).items():
            cells[f"{letters[key]}{r}"] = value
    if cells:
        fake.type(spreadsheet_id, spec.main_sheet, cells, user=user, force=force)
    if passport:
        labels = {f.key: f.label for f in spec.passport}
        pgrid = fake.grid(spreadsheet_id, spec.passport_sheet)
        pcells = {}
        for r, line in enumerate(pgrid[1:], start=2):
            label = str(line[0]).rstrip(" *") if line else ""
            for key, value in passport.items():
                if labels.get(key) == label:
                    pcells[f"B{r}"] = value
        fake.type(spreadsheet_id, spec.passport_sheet, pcells, user=user, force=force)


# --- scenarios shared by the Google tests ---------------------------------------------------

SPEC = load_spec()
S1_ROWS: dict[str, dict[str, Any]] = {
    "3": {
        "status": "Выполнено",
        "done_on": "20.09.2021",
        "evidence": "Приказ № 45 от 20.09.2021",
        "executor": "Иванова Н. П.",
    },
    "4": {
        "status": "Выполнено",
        "done_on": "28.09.2021",
        "evidence": '\'=HYPERLINK("http://x.example","отчёт")',
    },
    "5": {"status": "В работе", "comment": "'=1+1"},
}
S2_ROWS: dict[str, dict[str, Any]] = {
    "3": {"status": "Выполнено", "evidence": "Справка"},
    "6": {"status": "Не требуется"},
}


def three_schools(tmp_path: Path, fake: FakeGoogle, **kwargs: Any) -> GoogleTown:
    """Three schools and the МОУО on the fake: s1 careful, s2 with mistakes, s3 empty."""
    town = google_town(tmp_path, fake, **kwargs)
    created, kept = distribute(town.config, backend=town.backend(), built_at=BUILT_AT)
    assert len(created) == 4 and not kept
    s1, s2, s3 = (town.spreadsheet_id(s) for s in ("s1", "s2", "s3"))
    school_types(fake, s1, SPEC, S1_ROWS, PASSPORT, user=school_email("s1"))
    school_types(fake, s2, SPEC, S2_ROWS, PASSPORT | {"phone": None}, user=school_email("s2"))
    # An unknown status only gets in by a paste past the dropdown.
    school_types(fake, s2, SPEC, {"4": {"status": "Сделано"}}, user=school_email("s2"), force=True)
    school_types(fake, s3, SPEC, {}, PASSPORT, user=school_email("s3"))
    return town


def row_of(fake: FakeGoogle, spreadsheet_id: str) -> dict[str, int]:
    return {
        str(line[0]): r
        for r, line in enumerate(fake.grid(spreadsheet_id, SPEC.main_sheet), start=1)
        if line
    }


def many(n: int) -> list[tuple[str, str, str]]:
    return [(f"s{i:02d}", f"МОУ СОШ № {i}", "ШНОР") for i in range(1, n + 1)]


def town_with(tmp_path: Path, fake: FakeGoogle, n: int = 3, **google: Any) -> GoogleTown:
    town = google_town(tmp_path, fake, many(n), google=google or None, with_coordinator=False)
    distribute(town.config, backend=town.backend(), built_at=BUILT_AT)
    return town


def fill_all(town: GoogleTown, status: str = "В работе") -> None:
    """Every school changes row 3 (so every school is read next run)."""
    for school in town.config.schools:
        school_types(
            town.fake,
            town.spreadsheet_id(school.id),
            SPEC,
            {"3": {"status": status, "executor": f"Исполнитель {status}"}},
            PASSPORT,
            user=school_email(school.id),
        )


def statuses(result: Any) -> dict[str, str]:
    return {r.school.id: r.outcome for r in result.reports}


DRIVE = "https://www.googleapis.com/drive/v3/files"


# --- the real clients pointed at the fake ----------------------------------------------------


def client(fake: FakeGoogle, key: dict[str, Any] | None = None, **policy: Any) -> GoogleHTTPClient:
    """Real gspread + google-auth, pointed at the fake, on its virtual clock."""
    key = key or fake.add_service_account(SERVICE_ACCOUNT)
    credentials = service_account.Credentials.from_service_account_info(key, scopes=list(SCOPES))
    return GoogleHTTPClient(
        credentials,
        endpoints=Endpoints(fake.url, fake.url, f"{fake.url}/token"),
        limiter=RateLimiter(Budgets(1000, 1000, 1000), fake.clock.time, fake.clock.sleep),
        policy=RetryPolicy(**policy),
        sleep=fake.clock.sleep,
        timeout=5,
    )


def new_spreadsheet(http: GoogleHTTPClient, name: str = "Test") -> str:
    """A spreadsheet the service account creates on a shared drive (it may own none elsewhere)."""
    drive = session_fake().add_shared_drive("Общий диск", {SERVICE_ACCOUNT: "organizer"})
    answer = http.request(
        "post",
        DRIVE,
        json={
            "name": name,
            "mimeType": "application/vnd.google-apps.spreadsheet",
            "parents": [drive],
        },
    ).json()
    return str(answer["id"])
