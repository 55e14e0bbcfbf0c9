"""The [google] table of the configuration and the service-account key, checked with Russian errors.

The key is read from the file named by `key_file` or, when that is not set, by the environment
variable ROADMAP_GOOGLE_KEY (a path, or the key's JSON itself). Its contents never reach a log or
an error message; a key file other users of the machine can read is reported as a warning.
"""

from __future__ import annotations

import json
import logging
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sync.backends.google.http import (
    GOOGLE_APIS,
    GOOGLE_SHEETS,
    GOOGLE_TOKEN_URI,
    Budgets,
    Endpoints,
    RetryPolicy,
    endpoint_problem,
)
from sync.config import Config, ConfigError, SectionReader

log = logging.getLogger("roadmap_sync.google")

KEY_ENV = "ROADMAP_GOOGLE_KEY"
SCOPES = (
    "https://www.googleapis.com/auth/spreadsheets",
    "https://www.googleapis.com/auth/drive",
)
# A person's sign-in asks only for drive.file: every file the product itself created (the
# folder, the schools' spreadsheets, the master), in Drive and in the Sheets API, and nothing
# else of the coordinator's Drive. It is also a "non-sensitive" scope: no Google review needed.
USER_SCOPES = ("https://www.googleapis.com/auth/drive.file",)
AUTH_KINDS = ("service_account", "user")
_KEY_FIELDS = ("type", "client_email", "private_key", "token_uri")
KNOWN_KEYS = (
    "auth",
    "client_secret_file",
    "token_file",
    "folder_name",
    "key_file",
    "folder_id",
    "coordinators",
    "master_spreadsheet_id",
    "master_name",
    "registry",
    "notify",
    "invitation",
    "reads_per_minute",
    "writes_per_minute",
    "drive_per_minute",
    "max_tries",
    "max_backoff",
    "timeout",
    "sheets_endpoint",
    "drive_endpoint",
    "token_uri",
)


@dataclass(frozen=True)
class GoogleSettings:
    """Everything the Google backend needs from the configuration (the key excepted)."""

    folder_id: str
    coordinators: tuple[str, ...]
    master_spreadsheet_id: str
    registry_path: Path
    state_path: Path
    endpoints: Endpoints
    budgets: Budgets
    retry: RetryPolicy
    timeout: float
    notify: bool
    invitation: str
    master_name: str
    school_ids: Mapping[str, str]  # school id -> spreadsheet id set in the configuration
    auth: str = "service_account"  # or "user": act as the coordinator who ran google-login
    token_path: Path = Path()  # the signed-in person's refresh token (auth = "user")
    client_secret_path: Path | None = None  # the Desktop-app OAuth client (auth = "user")
    folder_name: str = ""  # the folder made in «Мой диск» when folder_id is not set
    limiter_path: Path = Path()  # the quota state every process of this account shares


@dataclass(frozen=True)
class ServiceAccountKey:
    """The parsed key. repr() never shows the private key."""

    info: Mapping[str, Any]
    source: str  # where it came from, for messages: a path or the variable's name

    @property
    def email(self) -> str:
        return str(self.info["client_email"])

    def __repr__(self) -> str:
        return f"ServiceAccountKey({self.email!r}, from {self.source})"


def _endpoint(section: SectionReader, key: str, default: str) -> str:
    url = section.text_value(key, default).strip().rstrip("/")
    problem = endpoint_problem(url)
    if problem:
        raise section.fail(key, problem)
    return url


def _positive(section: SectionReader, key: str, default: int | float, high: float) -> Any:
    kind = float if isinstance(default, float) else int
    value = section.get(key, kind, default)
    if not 0 < value <= high:
        raise section.fail(key, f"ожидается число больше 0 и не больше {high:g}, указано {value}.")
    return value


def load_settings(config: Config) -> GoogleSettings:
    """Read and check the [google] table (and spreadsheet ids given per school)."""
    g = config.section("google")
    for key in g.data:
        if key not in KNOWN_KEYS:
            raise g.fail(key, f"неизвестный ключ; в [google] бывают: {', '.join(KNOWN_KEYS)}.")
    auth = g.text_value("auth", "service_account", required=False).strip()
    if auth not in AUTH_KINDS:
        raise g.fail(
            "auth",
            f"ожидается «user» (вход под учётной записью координатора, команда google-login)"
            f" или «service_account» (сервисный аккаунт и общий диск), указано «{auth}».",
        )
    # A person's sign-in may leave the folder to the program: it makes one in «Мой диск».
    folder_id = g.text_value("folder_id", "" if auth == "user" else ..., required=auth != "user")
    coordinators = g.get("coordinators", list, [])
    for address in coordinators:
        if not isinstance(address, str) or "@" not in address:
            raise g.fail("coordinators", f"«{address}» не похоже на адрес электронной почты.")
    if config.coordinator:
        coordinators = [*coordinators, *config.coordinator.emails]
    stem = config.path.stem
    registry = (
        g.path_value("registry")
        if "registry" in g.data
        else config.path.with_name(f"{stem}.google.json")
    )
    state = config.history_path.with_name(f"{config.history_path.stem}.google-state.sqlite")
    token = (
        g.path_value("token_file")
        if "token_file" in g.data
        else config.path.with_name(f"{stem}.google-token.json")
    )
    secret = g.path_value("client_secret_file") if "client_secret_file" in g.data else None
    school_ids: dict[str, str] = {}
    for i, school in enumerate(config.schools):
        table = config.school_table(i)
        sid = table.text_value("spreadsheet_id", "", required=False).strip()
        if sid:
            school_ids[school.id] = sid
    if config.coordinator:
        sid = config.section("coordinator").text_value("spreadsheet_id", "", required=False)
        if sid.strip():
            school_ids[config.coordinator.id] = sid.strip()
    return GoogleSettings(
        folder_id=folder_id.strip(),
        coordinators=tuple(dict.fromkeys(a.strip() for a in coordinators)),
        master_spreadsheet_id=g.text_value("master_spreadsheet_id", "", required=False).strip(),
        registry_path=registry,
        state_path=state,
        endpoints=Endpoints(
            sheets=_endpoint(g, "sheets_endpoint", GOOGLE_SHEETS),
            drive=_endpoint(g, "drive_endpoint", GOOGLE_APIS),
            token_uri=_endpoint(g, "token_uri", GOOGLE_TOKEN_URI),
        ),
        budgets=Budgets(
            reads=_positive(g, "reads_per_minute", 55, 300),
            writes=_positive(g, "writes_per_minute", 55, 300),
            drive=_positive(g, "drive_per_minute", 600, 12000),
        ),
        retry=RetryPolicy(
            max_tries=_positive(g, "max_tries", 5, 20),
            max_backoff=_positive(g, "max_backoff", 32.0, 600),
        ),
        timeout=_positive(g, "timeout", 60.0, 600),
        notify=g.get("notify", bool, True),
        invitation=g.text_value(
            "invitation",
            "Дорожная карта вашей школы: заполните таблицу по инструкции на листе «Инструкция».",
            required=False,
        ),
        master_name=g.text_value(
            "master_name", f"Свод дорожной карты — {config.municipality}", required=False
        ),
        school_ids=school_ids,
        auth=auth,
        token_path=token,
        client_secret_path=secret,
        folder_name=g.text_value(
            "folder_name", f"Дорожные карты — {config.municipality}", required=False
        ),
        limiter_path=config.history_path.with_name(f"{config.history_path.stem}.google-quota.json"),
    )


def load_key(config: Config, token_uri: str) -> ServiceAccountKey:
    """The service-account key from `key_file` or ROADMAP_GOOGLE_KEY, checked but never shown."""
    g = config.section("google")
    if "key_file" in g.data:
        path = g.path_value("key_file")
        return _key_from_file(path, token_uri, lambda m: g.fail("key_file", m))
    env = os.environ.get(KEY_ENV, "").strip()
    if not env:
        raise g.fail(
            None,
            f"не указан ключ сервисного аккаунта: задайте key_file в [google] или переменную"
            f" окружения {KEY_ENV}.",
        )
    if env.startswith("{"):
        return _key_from_text(env, f"переменная {KEY_ENV}", token_uri, ConfigError)
    return _key_from_file(Path(env), token_uri, lambda m: ConfigError(f"{KEY_ENV}: {m}"))


def _key_from_file(path: Path, token_uri: str, fail: Any) -> ServiceAccountKey:
    try:
        text = path.read_text(encoding="utf-8")
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise fail(f"файл ключа не найден: {path}") from None
    except OSError as e:
        raise fail(f"файл ключа {path} не читается: {e.strerror}") from None
    if os.name == "posix" and mode & (stat.S_IRGRP | stat.S_IROTH):
        log.warning(
            "Файл ключа сервисного аккаунта %s могут прочитать другие пользователи этого"
            " компьютера (права %s): выполните chmod 600 %s",
            path,
            stat.filemode(mode),
            path,
        )
    return _key_from_text(text, str(path), token_uri, fail)


def _key_from_text(text: str, source: str, token_uri: str, fail: Any) -> ServiceAccountKey:
    try:
        info = json.loads(text)
    except ValueError:
        # Never quote the text: it may be a key with one character missing.
        raise fail(
            f"ключ ({source}) не в формате JSON: скачайте его заново в Google Cloud."
        ) from None
    if not isinstance(info, dict) or any(not info.get(k) for k in _KEY_FIELDS):
        raise fail(
            f"ключ ({source}) не похож на ключ сервисного аккаунта: нужны поля "
            + ", ".join(_KEY_FIELDS)
            + "."
        )
    if info.get("type") != "service_account":
        raise fail(f"ключ ({source}) — не ключ сервисного аккаунта (type = «{info.get('type')}»).")
    if token_uri != GOOGLE_TOKEN_URI:
        # A token endpoint set in the configuration (an emulator, a proxy) wins over the key's.
        info = {**info, "token_uri": token_uri}
    else:
        problem = endpoint_problem(str(info["token_uri"]))
        if problem:
            raise fail(f"token_uri в ключе ({source}) отклонён: {problem}")
    return ServiceAccountKey(info, source)
