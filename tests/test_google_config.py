"""The [google] table and the service-account key: Russian errors with key and line, no leaks."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

from sync.backends.google.backend import GoogleBackend
from sync.backends.google.config import KEY_ENV, load_key, load_settings
from sync.config import ConfigError, load_config
from sync.pipeline import backend_for
from tests.fakes.google import FakeGoogle
from tests.fakes.google.municipality import GoogleTown, fake_google, google_town

__all__ = ["fake_google"]


def rewrite(town: GoogleTown, old: str, new: str) -> GoogleTown:
    path = town.config.path
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")
    return town.reload()


def line_of(town: GoogleTown, needle: str) -> int:
    lines = town.config.path.read_text(encoding="utf-8").splitlines()
    return next(i for i, line in enumerate(lines, start=1) if needle in line)


@pytest.mark.parametrize(
    "url",
    [
        "http://sheets.googleapis.com",
        "http://10.0.0.5:8080",
        "ftp://127.0.0.1",
        "https://user:secret@proxy.example",
        "https://proxy.example/?key=1",
        "not a url",
    ],
)
def test_an_endpoint_neither_https_nor_loopback_is_refused(
    tmp_path: Path, fake_google: FakeGoogle, url: str
) -> None:
    town = google_town(tmp_path, fake_google)
    town = rewrite(town, f'sheets_endpoint = "{fake_google.url}"', f'sheets_endpoint = "{url}"')
    with pytest.raises(ConfigError) as e:
        load_settings(town.config)
    message = str(e.value)
    assert f"строка {line_of(town, 'sheets_endpoint')}" in message
    assert "google.sheets_endpoint" in message
    assert "secret" not in message or "user:secret" not in message.split("указано")[0]


@pytest.mark.parametrize(
    "url",
    [
        "https://sheets.example.ru/google",
        "http://127.0.0.1:9",
        "http://[::1]:9",
        "http://localhost",
    ],
)
def test_https_and_loopback_endpoints_are_accepted(
    tmp_path: Path, fake_google: FakeGoogle, url: str
) -> None:
    town = google_town(tmp_path, fake_google)
    town = rewrite(town, f'drive_endpoint = "{fake_google.url}"', f'drive_endpoint = "{url}/"')
    assert load_settings(town.config).endpoints.drive == url


def test_the_pipeline_builds_the_google_backend_from_the_config(
    tmp_path: Path, fake_google: FakeGoogle
) -> None:
    town = google_town(tmp_path, fake_google)
    backend = backend_for(town.config)
    assert isinstance(backend, GoogleBackend)
    assert backend.http.endpoints.sheets == fake_google.url
    assert backend.settings.coordinators[-1] == "mouo@obrazovanie.example.ru"
    assert backend.settings.registry_path == tmp_path / "config.google.json"


def test_budgets_and_retries_are_checked(tmp_path: Path, fake_google: FakeGoogle) -> None:
    town = google_town(tmp_path, fake_google, google={"reads_per_minute": 0})
    with pytest.raises(ConfigError, match="reads_per_minute"):
        load_settings(town.config)
    town = google_town(tmp_path, fake_google, google={"max_tries": "пять"})
    with pytest.raises(ConfigError, match="целое число"):
        load_settings(town.config)
    town = google_town(tmp_path, fake_google, google={"coordinators": ["не адрес"]})
    with pytest.raises(ConfigError, match="электронной почты"):
        load_settings(town.config)


def test_a_mistyped_key_is_not_silently_ignored(tmp_path: Path, fake_google: FakeGoogle) -> None:
    town = google_town(tmp_path, fake_google, google={"reads_per_minut": 20})
    with pytest.raises(ConfigError) as e:
        load_settings(town.config)
    assert "google.reads_per_minut" in str(e.value) and "reads_per_minute" in str(e.value)


def test_every_documented_key_is_known() -> None:
    """config/example-gsheets.toml and docs/google.md name only keys the backend reads."""
    import re
    import tomllib

    from sync.backends.google.config import KNOWN_KEYS

    root = Path(__file__).resolve().parents[1]
    text = (root / "config" / "example-gsheets.toml").read_text(encoding="utf-8")
    assert set(tomllib.loads(text)["google"]) <= set(KNOWN_KEYS)
    commented = set(re.findall(r"^# (\w+) = ", text, flags=re.M))
    assert commented - {"spreadsheet_id"} <= set(KNOWN_KEYS)
    docs = (root / "docs" / "google.md").read_text(encoding="utf-8")
    for key in ("key_file", "folder_id", "coordinators", "notify", "spreadsheet_id"):
        assert key in docs


def test_a_spreadsheet_id_can_be_given_per_school(tmp_path: Path, fake_google: FakeGoogle) -> None:
    town = google_town(tmp_path, fake_google)
    town = rewrite(town, 'id = "s2"', 'id = "s2"\nspreadsheet_id = "1abc"')
    assert load_settings(town.config).school_ids == {"s2": "1abc"}


def test_the_key_from_the_environment(
    tmp_path: Path, fake_google: FakeGoogle, monkeypatch: pytest.MonkeyPatch
) -> None:
    town = google_town(tmp_path, fake_google, google={"key_file": None})
    monkeypatch.delenv(KEY_ENV, raising=False)
    with pytest.raises(ConfigError, match=KEY_ENV):
        load_key(town.config, f"{fake_google.url}/token")
    monkeypatch.setenv(KEY_ENV, str(town.key_path))
    assert load_key(town.config, f"{fake_google.url}/token").email.endswith("gserviceaccount.com")
    monkeypatch.setenv(KEY_ENV, town.key_path.read_text(encoding="utf-8"))
    key = load_key(town.config, f"{fake_google.url}/token")
    assert key.source == f"переменная {KEY_ENV}"
    assert "PRIVATE" not in repr(key)


def test_a_broken_key_is_refused_without_quoting_it(
    tmp_path: Path, fake_google: FakeGoogle
) -> None:
    town = google_town(tmp_path, fake_google)
    good = json.loads(town.key_path.read_text(encoding="utf-8"))
    town.key_path.write_text(town.key_path.read_text(encoding="utf-8")[:-40], encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        GoogleBackend.from_config(town.config)
    assert "JSON" in str(e.value) and "PRIVATE" not in str(e.value)
    town.key_path.write_text(json.dumps({**good, "type": "authorized_user"}), encoding="utf-8")
    with pytest.raises(ConfigError, match="не ключ сервисного аккаунта"):
        GoogleBackend.from_config(town.config)
    broken = {**good, "private_key": good["private_key"].replace("A", "B", 30)}
    town.key_path.write_text(json.dumps(broken), encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        GoogleBackend.from_config(town.config)
    assert "повреждён" in str(e.value) and good["private_key"][40:80] not in str(e.value)
    town.key_path.unlink()
    with pytest.raises(ConfigError, match="не найден"):
        GoogleBackend.from_config(town.config)


def test_a_key_s_own_token_uri_must_be_https_or_loopback(
    tmp_path: Path, fake_google: FakeGoogle
) -> None:
    town = google_town(tmp_path, fake_google, google={"token_uri": None})
    key = json.loads(town.key_path.read_text(encoding="utf-8"))
    town.key_path.write_text(json.dumps({**key, "token_uri": "http://evil.example/token"}))
    with pytest.raises(ConfigError, match="token_uri"):
        GoogleBackend.from_config(town.config)


def test_a_key_readable_by_others_is_warned_about(
    tmp_path: Path, fake_google: FakeGoogle, caplog: pytest.LogCaptureFixture
) -> None:
    if os.name != "posix":
        pytest.skip("file modes are POSIX")
    town = google_town(tmp_path, fake_google, key_mode=0o644)
    with caplog.at_level(logging.WARNING, logger="roadmap_sync.google"):
        GoogleBackend.from_config(town.config)
    assert "chmod 600" in caplog.text and str(town.key_path) in caplog.text
    assert "PRIVATE" not in caplog.text
    caplog.clear()
    os.chmod(town.key_path, 0o600)
    with caplog.at_level(logging.WARNING, logger="roadmap_sync.google"):
        GoogleBackend.from_config(town.config)
    assert "chmod" not in caplog.text


def test_a_damaged_registry_is_a_clear_error(tmp_path: Path, fake_google: FakeGoogle) -> None:
    town = google_town(tmp_path, fake_google)
    town.registry_path.write_text("{ not json", encoding="utf-8")
    with pytest.raises(ConfigError, match="Реестр"):
        GoogleBackend.from_config(town.config)


def test_the_example_config_is_valid(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parents[1] / "config" / "example-gsheets.toml"
    config = load_config(example)
    assert config.storage == "gsheets"
    settings = load_settings(config)
    assert settings.endpoints.sheets == "https://sheets.googleapis.com"
    assert settings.budgets.reads == 55 and settings.budgets.writes == 55
