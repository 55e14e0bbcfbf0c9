"""The [web] table of the configuration: where the intake listens and its limits."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sync.config import Config, ConfigError
from sync.spravka.settings import DEFAULT_FOLDER, load_report_settings

SYNC_MODES = ("now", "night")


@dataclass(frozen=True)
class WebSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    base_url: str = ""  # the public address in the links, e.g. https://karta.example.ru
    max_upload_mb: float = 10.0
    sync: str = "now"  # now: the school and the master are synced at once; night: stored only
    # Seconds an upload's answer waits for its sync; 0: the result is shown at once and the
    # page refreshes itself until the sync is done.
    sync_wait: float = 0.0
    requests_per_minute: int = 120  # per client, every request
    uploads_per_minute: int = 10  # per client, uploads
    misses_per_minute: int = 20  # per client, wrong links (404) before it is slowed down
    trusted_proxies: tuple[str, ...] = ("127.0.0.1",)
    state_dir: Path = Path("web")
    reports_dir: Path | None = None  # where the справка lies, when there is one
    backup_days: int = 60  # the intake's own copies of replaced workbooks are kept this long
    open_retry: float = 30.0  # seconds between tries to store an upload whose file is open

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def public_url(self) -> str:
        return (self.base_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def store_path(self) -> Path:
        return self.state_dir / "web.sqlite"

    @property
    def staging_dir(self) -> Path:
        return self.state_dir / "incoming"

    @property
    def backups_dir(self) -> Path:
        return self.state_dir / "backups"


def _report_folder(config: Config) -> Path | None:
    """Where `roadmap-sync report` writes; a mistake elsewhere in [report] (its template, its
    dates) is the справка's to report and does not keep the intake from starting."""
    try:
        return load_report_settings(config).folder
    except ConfigError:
        return config.master_path.parent / DEFAULT_FOLDER


def load_web(config: Config) -> WebSettings:
    """Read [web]; every key has a default, so a configuration without it works."""
    s = config.section("web")
    host = s.text_value("host", "127.0.0.1")
    port = s.get("port", int, 8080)
    if not 0 < port < 65536:
        raise s.fail("port", f"{port} — номер порта от 1 до 65535.")
    base_url = s.text_value("base_url", "", required=False).strip()
    if base_url and not base_url.startswith(("https://", "http://")):
        raise s.fail("base_url", f"«{base_url}» — адрес должен начинаться с https://.")
    max_mb = s.get("max_upload_mb", float, 10.0)
    if not 0 < max_mb <= 200:
        raise s.fail("max_upload_mb", "размер файла — от 0,1 до 200 МБ.")
    sync = s.text_value("sync", "now")
    if sync not in SYNC_MODES:
        raise s.fail("sync", f"«{sync}» — ожидается «now» (сразу) или «night» (ночью).")
    sync_wait = s.get("sync_wait", float, 0.0)
    limits = {}
    for key, default in (
        ("requests_per_minute", 120),
        ("uploads_per_minute", 10),
        ("misses_per_minute", 20),
    ):
        limits[key] = s.get(key, int, default)
        if limits[key] < 1:
            raise s.fail(key, "ожидается целое число не меньше 1.")
    proxies = s.get("trusted_proxies", list, ["127.0.0.1"])
    default_state = str(config.history_path.parent / "web")
    # By default the справка is looked for where `roadmap-sync report` writes it.
    reports = s.path_value("reports_dir") if "reports_dir" in s.data else _report_folder(config)
    backup_days = s.get("backup_days", int, 60)
    if backup_days < 1:
        raise s.fail("backup_days", "ожидается целое число дней не меньше 1.")
    open_retry = s.get("open_retry_seconds", float, 30.0)
    if not 0 < open_retry <= 3600:
        raise s.fail("open_retry_seconds", "ожидается число секунд от 0,1 до 3600.")
    return WebSettings(
        host=host,
        port=port,
        base_url=base_url,
        max_upload_mb=max_mb,
        sync=sync,
        sync_wait=max(0.0, sync_wait),
        requests_per_minute=limits["requests_per_minute"],
        uploads_per_minute=limits["uploads_per_minute"],
        misses_per_minute=limits["misses_per_minute"],
        trusted_proxies=tuple(str(p) for p in proxies),
        state_dir=s.path_value("state_dir", default_state),
        reports_dir=reports,
        backup_days=backup_days,
        open_retry=open_retry,
    )
