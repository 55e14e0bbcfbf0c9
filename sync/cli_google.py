"""`roadmap-sync google-login`: sign in once as the coordinator (a thin shell over
sync.backends.google.login); sync.cli registers it on the main group."""

from __future__ import annotations

import webbrowser
from pathlib import Path

import click

from sync.cli_common import config_option, friendly_errors
from sync.config import ConfigError, load_config

CONTEXT = {"help_option_names": ["-h", "--help"]}


@click.command("google-login", context_settings=CONTEXT)
@config_option
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default=True,
    metavar="ПОРТ",
    help="Порт на этом компьютере, куда Google вернёт браузер после входа (0 — любой"
    " свободный). На сервере без браузера укажите порт и пробросьте его:"
    " ssh -L ПОРТ:localhost:ПОРТ.",
)
@click.option(
    "--no-browser",
    is_flag=True,
    help="Не открывать браузер, только напечатать ссылку для входа (сервер без графики).",
)
@friendly_errors
def google_login_command(config_path: Path, port: int, no_browser: bool) -> None:
    """Войти в Google под учётной записью координатора (для [google] auth = "user").

    Откроется страница Google: выберите учётную запись и нажмите «Разрешить». Программа
    получает доступ только к файлам, которые сама создаёт в вашем Google Диске (drive.file).
    Ключ входа сохраняется рядом с настройками, доступный только владельцу файла.
    """
    from sync.backends.google.config import load_settings
    from sync.backends.google.login import login

    config = load_config(config_path)
    if config.storage != "gsheets":
        raise ConfigError(
            f"В настройках {config_path} не выбраны Google Таблицы ([storage] kind = «gsheets»):"
            " вход в Google не нужен."
        )
    settings = load_settings(config)
    if settings.auth != "user":
        raise ConfigError(
            f"В настройках {config_path} выбран сервисный аккаунт (auth = «{settings.auth}»):"
            ' вход координатора нужен только при auth = "user" в [google].'
        )

    def show(url: str) -> None:
        click.echo("Откройте в браузере ссылку и разрешите доступ:")
        click.echo(url)
        if not no_browser:
            webbrowser.open(url, new=1)
        click.echo("Жду ответа Google…")

    token = login(config, settings, port=port, show_url=show)
    click.echo(
        f"Вход выполнен: {token.account}. Ключ входа сохранён в {settings.token_path}"
        " (прочитать его может только владелец файла). Теперь distribute, run и serve"
        " работают от имени этой учётной записи."
    )
