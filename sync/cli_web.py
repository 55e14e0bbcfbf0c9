"""The web intake's commands, `web` and `links`: thin shells over sync.web."""

from __future__ import annotations

import logging
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any

import click

from sync import cli_ru
from sync.cli_common import EXIT_INVALID, EXIT_OK, EXIT_UNREADABLE, config_option, friendly_errors
from sync.config import Config, load_config

CONTEXT = {"help_option_names": ["-h", "--help"]}


def uvicorn_config(app: Any, settings: Any) -> Any:
    """How uvicorn serves the intake: our access log (tokens redacted) instead of its own,
    the client's address taken from X-Forwarded-For only when nginx on a trusted address sets it.
    """
    import uvicorn

    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        access_log=False,
        proxy_headers=True,
        forwarded_allow_ips=list(settings.trusted_proxies),
        server_header=False,
        # The intake answers a Russian 503 past 200 requests at once (SecurityMiddleware);
        # uvicorn's own limit, whose 503 is English, is only a far backstop.
        limit_concurrency=2000,
        timeout_keep_alive=5,
        log_level="warning",
        lifespan="on",
    )


def serve_web(
    config: Config, host: str | None = None, port: int | None = None, today: date | None = None
) -> None:
    """Run the intake with uvicorn until Ctrl+C or SIGTERM."""
    import dataclasses

    import uvicorn

    from sync.web.app import create_app
    from sync.web.settings import load_web

    settings = load_web(config)
    settings = dataclasses.replace(settings, host=host or settings.host, port=port or settings.port)
    web_log = logging.getLogger("roadmap_sync.web")  # the access log and the intake's events
    if not web_log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        web_log.addHandler(handler)
        web_log.setLevel(logging.INFO)
    app = create_app(config, settings, today)
    uvicorn.Server(uvicorn_config(app, settings)).run()


def demo_links(config: Config, port: int) -> tuple[str, str]:
    """Fresh links for the demo: the first school's and the coordinator's."""
    import dataclasses

    from sync.web.links import issue_links
    from sync.web.settings import load_web
    from sync.web.store import WebStore

    settings = dataclasses.replace(load_web(config), host="127.0.0.1", port=port)
    with WebStore(settings.store_path, config.history_path) as store:
        issued = issue_links(config, settings, store, datetime.now().astimezone(), everyone=True)
    school = next(x.url for x in issued if x.role == "school")
    coordinator = next(x.url for x in issued if x.role == "coordinator")
    return school, coordinator


@click.command("web", context_settings=CONTEXT)
@config_option
@click.option("--host", metavar="АДРЕС", help="Адрес, на котором слушать (по умолчанию из [web]).")
@click.option(
    "--port", type=cli_ru.IntRange(1, 65535), metavar="ПОРТ", help="Порт (по умолчанию из [web])."
)
@friendly_errors
def web_command(config_path: Path, host: str | None, port: int | None) -> None:
    """Веб-приём книг: школы скачивают и загружают книги по своим ссылкам, координатор видит
    состояние всех школ. Ссылки выдаёт команда links. Снаружи — только через nginx с HTTPS
    (docs/web.md).
    """
    config = load_config(config_path)
    from sync.web.settings import load_web

    settings = load_web(config)
    click.echo(
        f"Приём книг: http://{host or settings.host}:{port or settings.port}/"
        f" (ссылки в письмах: {settings.public_url}). Остановить — Ctrl+C."
    )
    serve_web(config, host, port)


@click.command("links", context_settings=CONTEXT)
@config_option
@click.option(
    "--reissue",
    multiple=True,
    metavar="ШКОЛА",
    help="Выдать школе новую ссылку (старая перестаёт работать); «coordinator» — координатору.",
)
@click.option("--all", "everyone", is_flag=True, help="Выдать новые ссылки всем.")
@click.option(
    "--revoke",
    multiple=True,
    metavar="ШКОЛА",
    help="Отозвать ссылку школы (или «coordinator»), не выдавая новой.",
)
@click.option(
    "--export",
    type=click.Path(path_type=Path),
    metavar="ФАЙЛ",
    help="Сохранить выданные ссылки в таблицу .csv или .xlsx.",
)
@click.option("--email", is_flag=True, help="Отправить каждой школе её новую ссылку ([smtp]).")
@friendly_errors
def links_command(
    config_path: Path,
    reissue: tuple[str, ...],
    everyone: bool,
    revoke: tuple[str, ...],
    export: Path | None,
    email: bool,
) -> None:
    """Личные ссылки школ и координатора на веб-приём книг.

    Без параметров выдаёт ссылку каждой школе, у которой её ещё нет, и печатает новые ссылки.
    Ссылка показывается только при выдаче: хранится лишь её отпечаток (sha256).
    """
    from sync.service.config import load_smtp
    from sync.web.links import COORDINATOR, email_links, export_links, issue_links
    from sync.web.settings import load_web
    from sync.web.store import WebStore

    config = load_config(config_path)
    settings = load_web(config)
    known = {s.id for s in config.schools} | {COORDINATOR}
    unknown = [x for x in (*reissue, *revoke) if x not in known]
    if unknown:
        click.echo(f"Нет таких школ в настройках: {', '.join(unknown)}.", err=True)
        sys.exit(EXIT_UNREADABLE)
    smtp = load_smtp(config) if email else None
    if email and smtp is None:
        click.echo(
            "Почта не настроена: включите [smtp] enabled = true (docs/service.md).", err=True
        )
        sys.exit(EXIT_UNREADABLE)
    now = datetime.now().astimezone()
    with WebStore(settings.store_path, config.history_path) as store:
        for subject in revoke:
            role = "coordinator" if subject == COORDINATOR else "school"
            n = store.revoke(role, subject, now)
            click.echo(f"отозвана  {subject}" if n else f"не было   {subject}")
        issued = issue_links(
            config,
            settings,
            store,
            now,
            reissue=set(reissue),
            everyone=everyone,
            skip=set(revoke),
        )
        active = store.active()
    for link in issued:
        click.echo(f"{link.subject:<14} {link.name}\n    {link.url}")
    click.echo(
        f"Выдано ссылок: {len(issued)}; действующих: {len(active)}."
        + ("" if issued else " Новую ссылку выдаёт --reissue ШКОЛА.")
    )
    if export is not None:
        export_links(export, issued, config.zone)
        click.echo(f"Таблица ссылок: {export}")
    code = EXIT_OK
    if smtp is not None and issued:
        sent, failed = email_links(issued, config, smtp, now)
        mode = "записано в папку (пробный режим)" if smtp.dry_run_dir else "отправлено"
        click.echo(f"Писем {mode}: {len(sent)}.")
        for subject, why in failed:
            click.echo(f"не отправлено {subject}: {why}", err=True)
        code = EXIT_INVALID if failed else EXIT_OK
    sys.exit(code)
