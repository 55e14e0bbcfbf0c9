"""Signing in as a person (auth = "user"): google-login's installed-app flow against the fake,
driven through the loopback redirect with real HTTP; the refresh grant at the configured token
endpoint; a revoked sign-in stops a run before anything is done; a service account in a
personal «Мой диск» meets Google's 403 storageQuotaExceeded, explained in Russian."""

from __future__ import annotations

import json
import os
import stat
import threading
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner

from sync.backends.google.config import USER_SCOPES, load_settings
from sync.backends.google.login import GoogleLoginError, login, read_token
from sync.cli import main
from sync.distribute import distribute
from sync.pipeline import run
from tests.fakes.google import FakeGoogle
from tests.fakes.google.municipality import (
    COORDINATOR,
    GoogleTown,
    fake_google,
    google_town,
    school_email,
    school_types,
)
from tests.fixtures import BUILT_AT, PASSPORT, SPEC, TODAY

__all__ = ["fake_google"]


def consent_in_browser(url: str, seen: dict[str, Any]) -> None:
    """What the person's browser does: open Google's consent page, which redirects (302) to
    the program's loopback address; follow it there, as a browser would."""
    seen["url"] = url
    answer = requests.get(url, timeout=10, allow_redirects=False)
    seen["consent"] = answer.status_code
    seen["redirect"] = answer.headers.get("Location", "")
    if answer.status_code == 302:
        seen["page"] = requests.get(seen["redirect"], timeout=10).text


def login_in_thread(town: GoogleTown, seen: dict[str, Any]) -> Any:
    """Run google-login's flow; the browser part runs in another thread once the URL is shown
    (the loopback server is listening by then)."""
    settings = load_settings(town.config)
    browsers: list[threading.Thread] = []

    def show(url: str) -> None:
        t = threading.Thread(target=consent_in_browser, args=(url, seen), daemon=True)
        t.start()
        browsers.append(t)

    try:
        return login(town.config, settings, host="127.0.0.1", port=0, show_url=show, timeout=10)
    finally:
        for t in browsers:
            t.join(10)


def user_town(tmp_path: Path, fake: FakeGoogle, **kwargs: Any) -> GoogleTown:
    return google_town(tmp_path, fake, auth="user", **kwargs)


def test_google_login_runs_the_loopback_flow_and_keeps_the_token_to_its_owner(
    tmp_path: Path, fake_google: FakeGoogle
) -> None:
    town = user_town(tmp_path, fake_google)
    token_path = tmp_path / "config.google-token.json"
    token_path.unlink()  # not signed in yet
    fake_google.signed_in = COORDINATOR
    seen: dict[str, Any] = {}
    old_umask = os.umask(0o022)
    try:
        token = login_in_thread(town, seen)
    finally:
        os.umask(old_umask)
    assert token.account == COORDINATOR
    # The consent page asked for drive.file alone, offline, with PKCE, and sent the browser
    # back to this computer.
    query = requests.utils.urlparse(seen["url"]).query
    params = dict(p.split("=", 1) for p in query.split("&"))
    assert requests.utils.unquote(params["scope"]) == " ".join(USER_SCOPES)
    assert params["access_type"] == "offline" and params["code_challenge_method"] == "S256"
    assert seen["consent"] == 302 and seen["redirect"].startswith("http://127.0.0.1:")
    assert "Вход выполнен" in seen["page"]
    # Stored beside the config, owner-only, with the refresh token (never the access token).
    assert stat.S_IMODE(token_path.stat().st_mode) == 0o600
    stored = json.loads(token_path.read_text(encoding="utf-8"))
    assert stored["account"] == COORDINATOR and stored["refresh_token"].startswith("1//")
    assert "access_token" not in stored and "token" not in stored
    assert read_token(load_settings(town.config), town.config.path).account == COORDINATOR
    assert "ya29" not in repr(token) and token.refresh_token not in repr(token)


def test_google_login_refused_consent_is_a_russian_message_and_no_token(
    tmp_path: Path, fake_google: FakeGoogle
) -> None:
    town = user_town(tmp_path, fake_google)
    token_path = tmp_path / "config.google-token.json"
    token_path.unlink()
    fake_google.signed_in, fake_google.consents = COORDINATOR, False
    with pytest.raises(GoogleLoginError, match="Разрешить"):
        login_in_thread(town, {})
    assert not token_path.exists()


def test_google_login_command_needs_user_auth_and_a_client_file(
    tmp_path: Path, fake_google: FakeGoogle
) -> None:
    (tmp_path / "sa").mkdir()
    sa = google_town(tmp_path / "sa", fake_google)
    out = CliRunner().invoke(main, ["google-login", "--config", str(sa.config.path)])
    assert out.exit_code == 2 and "сервисный аккаунт" in out.output
    (tmp_path / "u").mkdir()
    town = user_town(tmp_path / "u", fake_google)
    (tmp_path / "u" / "client_secret.json").unlink()
    out = CliRunner().invoke(main, ["google-login", "--config", str(town.config.path)])
    assert out.exit_code == 2 and "client_secret_file" in out.output and "не найден" in out.output


def test_a_person_distributes_and_runs_in_their_own_drive(
    tmp_path: Path, fake_google: FakeGoogle
) -> None:
    fake = fake_google
    town = user_town(tmp_path, fake)
    created, kept = distribute(town.config, backend=town.backend(), built_at=BUILT_AT)
    assert len(created) == 4 and not kept
    registry = json.loads(town.registry_path.read_text(encoding="utf-8"))
    folder = registry["folder"]
    # Everything lives in the coordinator's «Мой диск», owned by them, made by this app.
    assert fake.files[folder].owner == COORDINATOR and not fake.files[folder].drive_id
    made = fake.in_folder(folder)
    assert len(made) == 4 and {f.owner for f in made} == {COORDINATOR}
    sid = town.spreadsheet_id("s1")
    school_types(fake, sid, SPEC, {"3": {"status": "Выполнено"}}, PASSPORT, user=school_email("s1"))
    mark = fake.mark()
    result = run(town.config, today=TODAY, backend=town.backend())
    assert result.outcome == "ok", result.message
    assert result.counts["synced"] == 4
    # Every request as the coordinator; the token came from the configured (fake) endpoint by
    # the refresh grant.
    assert {r.user for r in fake.since(mark)} == {COORDINATOR}
    assert fake.grants and set(fake.grants) == {COORDINATOR}
    master = json.loads(town.registry_path.read_text(encoding="utf-8"))["master"]
    assert fake.files[master].owner == COORDINATOR and master in {
        f.id for f in fake.in_folder(folder)
    }
    # A second distribute finds the folder and every spreadsheet: nothing new.
    created, kept = distribute(town.config, backend=town.backend(), built_at=BUILT_AT)
    assert not created and len(kept) == 4


def test_drive_file_sees_only_what_the_app_made(tmp_path: Path, fake_google: FakeGoogle) -> None:
    """The narrow scope is real in the fake: a spreadsheet the coordinator made by hand (or
    another app made) is invisible to the program, and the run says so in Russian."""
    fake = fake_google
    town = user_town(tmp_path, fake)
    distribute(town.config, backend=town.backend(), built_at=BUILT_AT)
    folder = json.loads(town.registry_path.read_text(encoding="utf-8"))["folder"]
    by_hand = fake.copy_as(COORDINATOR, town.spreadsheet_id("s1"), "Копия", parent=folder)
    reg = json.loads(town.registry_path.read_text(encoding="utf-8"))
    reg["schools"]["s1"]["spreadsheet_id"] = by_hand
    town.registry_path.write_text(json.dumps(reg), encoding="utf-8")
    result = run(town.config, today=TODAY, backend=town.backend())
    s1 = next(r for r in result.reports if r.school.id == "s1")
    assert s1.outcome == "failed"
    assert "не найден" in s1.message


def test_revoked_sign_in_stops_the_run_before_anything_is_done(
    tmp_path: Path, fake_google: FakeGoogle
) -> None:
    fake = fake_google
    town = user_town(tmp_path, fake)
    distribute(town.config, backend=town.backend(), built_at=BUILT_AT)
    first = run(town.config, today=TODAY, backend=town.backend())
    assert first.outcome == "ok"
    master = town.master_id()
    before = {t: fake.grid(master, t) for t in ("Свод", "Школы")}
    fake.revoke(COORDINATOR)
    mark = fake.mark()
    with pytest.raises(GoogleLoginError) as e:
        run(town.config, today=TODAY, backend=town.backend())
    text = str(e.value)
    assert "google-login" in text and str(town.config.path) in text and "отозвал" in text
    # Nothing read, written or consolidated: no API request at all got through.
    assert [r for r in fake.since(mark) if r.status == 200] == []
    assert {t: fake.grid(master, t) for t in ("Свод", "Школы")} == before
    # The CLI says the same in Russian, without a traceback.
    out = CliRunner().invoke(
        main, ["run", "--config", str(town.config.path), "--today", "2022-01-10"]
    )
    assert out.exit_code != 0 and "google-login" in out.output and "Traceback" not in out.output


def test_a_missing_token_file_says_to_sign_in(tmp_path: Path, fake_google: FakeGoogle) -> None:
    town = user_town(tmp_path, fake_google)
    (tmp_path / "config.google-token.json").unlink()
    out = CliRunner().invoke(
        main, ["distribute", "--config", str(town.config.path)], catch_exceptions=False
    )
    assert out.exit_code == 2
    assert "google-login" in out.output and "Traceback" not in out.output


def test_service_account_in_a_personal_drive_gets_googles_403_explained(
    tmp_path: Path, fake_google: FakeGoogle
) -> None:
    town = google_town(tmp_path, fake_google, shared_drive=False)
    out = CliRunner().invoke(main, ["distribute", "--config", str(town.config.path)])
    assert out.exit_code != 0
    assert "storageQuotaExceeded" in out.output and 'auth = "user"' in out.output
    assert "общий диск" in out.output
    # Google's own answer, as the fake gives it.
    last = [r for r in fake_google.log if r.op == "files.create"][-1]
    assert last.status == 403


def test_the_configured_token_endpoint_is_kept(tmp_path: Path, fake_google: FakeGoogle) -> None:
    """google-auth's own loader of an authorized-user file puts Google's endpoint in; ours
    builds the credentials with the configured one."""
    from sync.backends.google.login import user_credentials

    town = user_town(tmp_path, fake_google)
    settings = load_settings(town.config)
    token = read_token(settings, town.config.path)
    creds = user_credentials(token, settings.endpoints.token_uri)
    assert creds.token_uri == f"{fake_google.url}/token"
    assert creds.scopes == list(USER_SCOPES)
