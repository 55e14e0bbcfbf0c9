"""The service's commands, `serve` and `status`: thin shells over sync.service.scheduler and
sync.service.status. They are standalone click commands; sync.cli registers them on the main group.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from sync.cli_common import (
    EXIT_CODES_HELP,
    EXIT_INVALID,
    RunExit,
    config_option,
    failure_line,
    friendly_errors,
    run_exit_code,
)
from sync.cli_ru import OPTIONS_METAVAR, IntRange
from sync.config import load_config
from sync.service.log import LEVELS

CONTEXT = {"help_option_names": ["-h", "--help"]}


@click.command(
    "serve",
    context_settings=CONTEXT,
    options_metavar=OPTIONS_METAVAR,
    epilog=EXIT_CODES_HELP + " (для --once)",
)
@config_option
@click.option(
    "--log-level",
    type=click.Choice(LEVELS, case_sensitive=False),
    default="INFO",
    show_default=True,
    help="Подробность журнала: DEBUG — всё, INFO — по строке на каждую школу в каждой"
    " синхронизации, WARNING — только сбои, ERROR — только ошибки.",
)
@click.option(
    "--log-file",
    type=click.Path(path_type=Path),
    metavar="ФАЙЛ",
    help="Файл журнала (старые файлы переименовываются в .1, .2, …); по умолчанию — из"
    " [schedule] log_file или logs/roadmap-sync.log рядом с историей.",
)
@click.option(
    "--once",
    is_flag=True,
    help="Выполнить синхронизацию, только если по расписанию её время уже наступило, и выйти"
    " (для cron и Планировщика заданий Windows).",
)
@click.option(
    "--verbose",
    "-v",
    is_flag=True,
    help="С --once: сказать, почему синхронизация не запущена (время ещё не наступило).",
)
@click.option(
    "--env-file",
    type=click.Path(path_type=Path, dir_okay=False),
    metavar="ФАЙЛ",
    help="Файл секретов (строки ИМЯ=значение, например ROADMAP_SMTP_PASSWORD=...): читается"
    " самой программой, значения берутся как есть, без подстановок ($ и ` не раскрываются).",
)
@friendly_errors
def serve_command(
    config_path: Path,
    log_level: str,
    log_file: Path | None,
    once: bool,
    verbose: bool,
    env_file: Path | None,
) -> None:
    """Служба: синхронизация каждую ночь и по расписанию, напоминания школам по почте.

    Время в настройках — местное время муниципалитета ([municipality] timezone), а не
    компьютера. Одновременно идёт только одна синхронизация. Ctrl+C или SIGTERM останавливают
    службу после текущей школы; синхронизация отмечается как прерванная, следующая прочитает всё.
    """
    from sync.env_file import load_env_file
    from sync.service.config import load_schedule
    from sync.service.log import service_logging
    from sync.service.scheduler import AlreadyServing, Service, stop_on_signals

    env_found = load_env_file(env_file)[1] if env_file is not None else True
    config = load_config(config_path)
    settings = load_schedule(config)
    log_to = log_file or settings.log_file
    with service_logging(config.zone, log_level, log_to, settings.log_max_mb, settings.log_files):
        if not env_found:
            logging.getLogger("roadmap_sync.service").warning(
                "Файл секретов %s не найден: пароль почты из него не задан.", env_file
            )
        service = Service(config)
        with stop_on_signals(service.stop):
            if not once:
                try:
                    service.serve_forever()
                except AlreadyServing:
                    sys.exit(EXIT_INVALID)  # the service has said why, in the log and on stderr
                return
            due, result = service.run_if_due()
            if due is None and verbose:
                click.echo(service.not_due_reason(), err=True)
    if due is None:
        sys.exit(int(RunExit.OK))  # nothing to do
    if result is None:
        click.echo(
            "Синхронизация не завершена: она остановлена ошибкой (подробности — в журнале).",
            err=True,
        )
        sys.exit(int(RunExit.INCOMPLETE))
    if verbose:
        line = failure_line(result)
        click.echo(line or "Синхронизация выполнена.", err=True)
    sys.exit(int(run_exit_code(result)))


@click.command("status", context_settings=CONTEXT, options_metavar=OPTIONS_METAVAR)
@config_option
@click.option("--json", "as_json", is_flag=True, help="Состояние в JSON.")
@click.option(
    "--runs",
    type=IntRange(1, 1000),
    metavar="N",
    default=10,
    show_default=True,
    help="Сколько последних синхронизаций показать.",
)
@friendly_errors
def status_command(config_path: Path, as_json: bool, runs: int) -> None:
    """Показать последние синхронизации и состояние каждой школы: когда менялась, когда прочитана,
    сколько в ней ошибок и просроченных мероприятий, идёт ли синхронизация сейчас.
    """
    from sync.service.status import collect_status, status_text

    config = load_config(config_path)
    data = collect_status(config, datetime.now(UTC), runs)
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        click.echo(status_text(data))
