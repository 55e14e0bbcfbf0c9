"""Acting as a person: the installed-app OAuth sign-in (`google-login`) and its refresh token.

Since 2025 a service account cannot own files in a personal «Мой диск», and shared drives need
Google Workspace, which Russian municipalities mostly do not have. So the coordinator signs in
once with their own Google account: Google's installed-app flow with a loopback redirect (the
copy-the-code flow is blocked), PKCE, and the narrowest scope that works, drive.file. The refresh
token is kept beside the configuration, readable by its owner only; every command then acts as
that person, and the spreadsheets live in their «Мой диск».
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from google.auth import exceptions as auth_exceptions
from google.oauth2.credentials import Credentials as UserCredentials

from sync.backends.google.config import USER_SCOPES, GoogleSettings
from sync.backends.google.http import endpoint_problem, is_loopback
from sync.config import Config, ConfigError
from sync.fileio import write_atomically

TOKEN_KIND = "roadmap-sync/google-user"
ABOUT_FIELDS = "user(emailAddress,displayName)"


class GoogleLoginError(ConfigError):
    """No usable sign-in (none yet, revoked, expired): the Russian message says to sign in again.

    A ConfigError, so that a command shows it without a traceback and a run stops before it
    reads, writes or consolidates anything.
    """


def login_again(config_path: Path, why: str) -> str:
    """The Russian message that asks for google-login again."""
    return (
        f"{why} Войдите в Google заново: roadmap-sync google-login --config {config_path}"
        " (нужен браузер; на сервере без браузера — см. docs/google.md, «Сервер без браузера»)."
    )


@dataclass(frozen=True)
class UserToken:
    """What google-login keeps: the OAuth client, the refresh token and who signed in.

    repr() shows neither secret.
    """

    client_id: str
    client_secret: str
    refresh_token: str
    account: str
    scopes: tuple[str, ...]

    def __repr__(self) -> str:
        return f"UserToken({self.account!r})"

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": TOKEN_KIND,
            "type": "authorized_user",  # what google-auth's own loaders call it
            "account": self.account,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "refresh_token": self.refresh_token,
            "scopes": list(self.scopes),
        }


def read_token(settings: GoogleSettings, config_path: Path) -> UserToken:
    """The stored sign-in; GoogleLoginError (Russian) when there is none or it is damaged."""
    path = settings.token_path
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GoogleLoginError(
            login_again(config_path, f"Вход в Google ещё не выполнен (нет файла {path}).")
        ) from None
    except (OSError, ValueError):
        raise GoogleLoginError(
            login_again(config_path, f"Файл входа в Google {path} не читается или повреждён.")
        ) from None
    fields = ("client_id", "client_secret", "refresh_token", "account")
    if not isinstance(data, dict) or any(not isinstance(data.get(k), str) for k in fields):
        raise GoogleLoginError(login_again(config_path, f"Файл входа в Google {path} повреждён."))
    return UserToken(
        data["client_id"],
        data["client_secret"],
        data["refresh_token"],
        data["account"],
        tuple(data.get("scopes") or USER_SCOPES),
    )


def write_token(path: Path, token: UserToken) -> None:
    """Atomically, readable and writable by the owner only (0600), whatever the umask."""
    text = json.dumps(token.to_json(), ensure_ascii=False, indent=2)
    write_atomically(path, lambda f: f.write(text.encode("utf-8")), mode=0o600)


def user_credentials(token: UserToken, token_uri: str) -> UserCredentials:
    """Credentials that refresh at the configured token endpoint.

    Built directly rather than through `from_authorized_user_file`, which puts Google's own
    token endpoint in when the file names none: an emulator or proxy set in the configuration
    must stay the endpoint.
    """
    return UserCredentials(
        token=None,
        refresh_token=token.refresh_token,
        client_id=token.client_id,
        client_secret=token.client_secret,
        token_uri=token_uri,
        scopes=list(token.scopes),
    )


def is_revoked(error: BaseException) -> bool:
    """A refresh the token endpoint refused for good (revoked, expired, wrong client)."""
    return isinstance(error, auth_exceptions.RefreshError) and not getattr(
        error, "retryable", False
    )


# --- google-login -------------------------------------------------------------------------


def load_client(settings: GoogleSettings, config: Config) -> dict[str, Any]:
    """The Desktop-app OAuth client file from Google Cloud, checked; its endpoints overridden
    by the configuration's token_uri (an emulator, a proxy)."""
    path = settings.client_secret_path
    g = config.section("google")
    if path is None:
        raise g.fail(
            "client_secret_file",
            "для входа нужен файл клиента OAuth (client_secret_….json, тип «Приложение для"
            " компьютера»), скачанный в Google Cloud: укажите его в client_secret_file.",
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise g.fail("client_secret_file", f"файл не найден: {path}") from None
    except (OSError, ValueError):
        raise g.fail("client_secret_file", f"файл {path} не читается как JSON.") from None
    if not isinstance(data, dict) or "installed" not in data:
        kind = next(iter(data), "?") if isinstance(data, dict) else "?"
        raise g.fail(
            "client_secret_file",
            f"это не клиент типа «Приложение для компьютера» (в файле «{kind}»): создайте в"
            " Google Cloud клиент OAuth типа Desktop app и скачайте его JSON.",
        )
    client = dict(data["installed"])
    for key in ("client_id", "client_secret", "auth_uri"):
        if not client.get(key):
            raise g.fail("client_secret_file", f"в файле клиента нет поля {key}.")
    problem = endpoint_problem(str(client["auth_uri"]))
    if problem:
        raise g.fail("client_secret_file", f"auth_uri отклонён: {problem}")
    client["token_uri"] = settings.endpoints.token_uri  # the configured endpoint wins
    return {"installed": client}


@contextlib.contextmanager
def _loopback_transport(*urls: str) -> Iterator[None]:
    """oauthlib refuses http:// token endpoints; an emulator on this computer is allowed (the
    configuration accepts http only to loopback), for the sign-in only."""
    insecure = any(
        urlsplit(u).scheme == "http" and is_loopback(urlsplit(u).hostname or "") for u in urls
    )
    if not insecure:
        yield
        return
    old = os.environ.get("OAUTHLIB_INSECURE_TRANSPORT")
    os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("OAUTHLIB_INSECURE_TRANSPORT", None)
        else:
            os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = old


SUCCESS_PAGE = (
    "Вход выполнен: roadmap-sync получил доступ к таблицам, которые он создаёт в вашем Google"
    " Диске. Это окно можно закрыть."
)


def login(
    config: Config,
    settings: GoogleSettings,
    *,
    host: str = "localhost",
    port: int = 0,
    show_url: Callable[[str], object],
    timeout: float | None = 600,
) -> UserToken:
    """Run the installed-app flow: `show_url` gets the consent page's address (opens a browser
    or prints it), Google redirects the browser to http://host:port/ here, the code is
    exchanged (with PKCE) for a refresh token, which is written beside the configuration."""
    from google_auth_oauthlib.flow import InstalledAppFlow, WSGITimeoutError

    client = load_client(settings, config)

    class Flow(InstalledAppFlow):  # type: ignore[misc]  # google_auth_oauthlib ships no type hints
        def authorization_url(self, **kwargs: Any) -> tuple[str, str]:
            url, state = super().authorization_url(**kwargs)
            show_url(url)
            return url, state

    flow = Flow.from_client_config(
        client, scopes=list(USER_SCOPES), autogenerate_code_verifier=True
    )
    installed = client["installed"]
    try:
        with _loopback_transport(installed["token_uri"], installed["auth_uri"]):
            creds = flow.run_local_server(
                host=host,
                port=port,
                open_browser=False,
                authorization_prompt_message="",
                success_message=SUCCESS_PAGE,
                timeout_seconds=timeout,
                access_type="offline",
                prompt="consent",
            )
    except WSGITimeoutError:
        raise GoogleLoginError(
            "Вход в Google не выполнен: браузер не вернулся на этот компьютер за отведённое"
            " время. Запустите google-login ещё раз."
        ) from None
    except OSError as e:
        raise GoogleLoginError(
            f"Вход в Google не выполнен: порт {port} на {host} занят или недоступен"
            f" ({e.strerror or e}). Укажите другой: --port."
        ) from None
    except Exception as e:  # oauthlib's errors: access_denied, invalid_grant, mismatched state
        reason = getattr(e, "error", "") or getattr(e, "description", "") or type(e).__name__
        denied = "access_denied" in str(reason) or "access_denied" in str(e)
        raise GoogleLoginError(
            "Вход в Google не выполнен: "
            + (
                "доступ не разрешён на странице Google (нажмите «Разрешить» / «Продолжить»)."
                if denied
                else f"Google отказал ({reason})."
            )
        ) from None
    if not creds.refresh_token:
        raise GoogleLoginError(
            "Google не выдал долгосрочный ключ (refresh token): удалите доступ приложения в"
            " myaccount.google.com → Безопасность → Сторонние приложения и войдите снова."
        )
    account = _who(settings, creds.token)
    token = UserToken(
        client["installed"]["client_id"],
        client["installed"]["client_secret"],
        creds.refresh_token,
        account,
        tuple(creds.scopes or USER_SCOPES),
    )
    write_token(settings.token_path, token)
    return token


def _who(settings: GoogleSettings, access_token: str) -> str:
    """The signed-in person's address (Drive's about.get works with drive.file)."""
    try:
        answer = requests.get(
            settings.endpoints.drive.rstrip("/") + "/drive/v3/about",
            params={"fields": ABOUT_FIELDS},
            headers={"Authorization": f"Bearer {access_token}"},
            timeout=settings.timeout,
        )
        answer.raise_for_status()
        return str(answer.json()["user"]["emailAddress"])
    except (requests.RequestException, KeyError, ValueError):
        raise GoogleLoginError(
            "Вход выполнен, но Google не сообщил адрес учётной записи: запустите google-login"
            " ещё раз."
        ) from None
