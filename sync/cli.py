"""The command line: parses arguments and calls the core. Every message here is Russian."""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Callable
from datetime import date
from pathlib import Path

import click

from sync import cli_ru

cli_ru.install()  # before the decorators below: some of click's help texts are made at import

from sync.cli_common import (  # noqa: E402
    EXIT_CODES_HELP,
    EXIT_INVALID,
    EXIT_OK,
    EXIT_UNREADABLE,
    RunExit,
    config_option,
    date_option,
    failure_line,
    friendly_errors,
    run_exit_code,
)
from sync.config import Config, ConfigError, load_config  # noqa: E402
from sync.history import HistoryError  # noqa: E402
from sync.model import SEVERITY_RU, Period, Severity  # noqa: E402
from sync.plan import PlanFileError  # noqa: E402


def _period(_ctx: click.Context, _param: click.Parameter, value: str | None) -> Period | None:
    if value is None:
        return None
    try:
        return Period.parse(value)
    except ValueError:
        raise click.BadParameter(
            f"«{value}» — ожидается период вида 2021-09-01..2022-08-31."
        ) from None


today_option = click.option(
    "--today",
    callback=date_option,
    metavar="ДАТА",
    help="Считать сегодняшним днём эту дату (ГГГГ-ММ-ДД); по умолчанию — сегодня в часовом"
    " поясе муниципалитета.",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(
    package_name="roadmap-sync",
    message="roadmap-sync %(version)s",
    help="Показать версию программы и выйти.",
)
def main() -> None:
    """roadmap-sync: дорожные карты поддержки ШНОР и ШНСУ — шаблон, проверка и свод.

    Школы заполняют свои книги, синхронизация проверяет их, собирает муниципальный свод
    и возвращает в каждую книгу цвета контроля и замечания.
    """
    root = logging.getLogger()
    if not root.handlers:
        # Commands print their own Russian summaries and errors; without a handler Python's
        # last-resort one would print library warnings with tracebacks. `serve` installs its
        # own file and console handlers (sync.service.log).
        root.addHandler(logging.NullHandler())


@main.command("deadline")
@click.argument("phrase", metavar="ФРАЗА")
@click.option(
    "--period",
    callback=_period,
    required=True,
    metavar="НАЧАЛО..КОНЕЦ",
    help="Период дорожной карты, например 2021-09-01..2022-08-31.",
)
def deadline_command(phrase: str, period: Period) -> None:
    """Разобрать срок, записанный словами, и напечатать его как JSON."""
    from sync.deadlines import parse

    click.echo(json.dumps(parse(phrase, period).to_json(), ensure_ascii=False))


def _config_beside(file: Path) -> Config | None:
    """The settings of the municipality this workbook belongs to, found next to it.

    A *.toml in the workbook's folder or the folder above whose schools are kept in that folder
    (or which names this very file); unreadable candidates are passed over in silence.
    """
    target = file.resolve()
    for folder in (target.parent, target.parent.parent):
        try:
            candidates = sorted(folder.glob("*.toml"))
        except OSError:
            continue
        for candidate in candidates:
            try:
                config = load_config(candidate)
            except (ConfigError, OSError):
                continue
            sources = {Path(s.source).resolve() for s in config.all_workbooks()}
            if target in sources or config.schools_dir.resolve() == target.parent:
                return config
    return None


@main.command("validate")
@click.argument("file", type=click.Path(path_type=Path), metavar="ФАЙЛ")
@click.option("--json", "as_json", is_flag=True, help="Напечатать замечания списком JSON.")
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    metavar="ФАЙЛ",
    help="Файл настроек муниципалитета: «сегодня» считается в его часовом поясе. По умолчанию —"
    " настройки (*.toml), найденные рядом с книгой или на папку выше.",
)
@click.option(
    "--today",
    callback=date_option,
    metavar="ДАТА",
    help="Считать сегодняшним днём эту дату (ГГГГ-ММ-ДД); по умолчанию — сегодня в часовом"
    " поясе муниципалитета, а без настроек — по часам компьютера (команда скажет, какой день"
    " взят).",
)
@friendly_errors
def validate_command(
    file: Path, as_json: bool, config_path: Path | None, today: date | None
) -> None:
    """Проверить книгу школы. Код выхода: 0 — ошибок нет, 1 — есть ошибки, 2 — файл не читается."""
    from sync.backends.base import SourceError
    from sync.reader import UnreadableWorkbook
    from sync.spec import load_spec
    from sync.workbook_check import check_workbook_file

    config = load_config(config_path) if config_path is not None else _config_beside(file)
    spec = load_spec(config.template if config else None)
    if today is not None:
        today_note = f"Сегодня считается {today:%d.%m.%Y} (--today)."
    elif config is not None:
        today = config.today()
        today_note = (
            f"Сегодня считается {today:%d.%m.%Y} — по часовому поясу муниципалитета"
            f" ({config.timezone}, настройки {config.path.name})."
        )
    else:
        today = date.today()
        today_note = (
            f"Сегодня считается {today:%d.%m.%Y} — по часам этого компьютера: настройки"
            " муниципалитета не указаны (--config) и не найдены рядом с книгой."
        )
    plan = None
    if config is not None:  # the same checks as `run`: the municipality's plan and settings
        from sync.plan import load_plan

        plan = load_plan(config.plan_file, config.period)
    try:
        checked = check_workbook_file(
            file,
            spec,
            today,
            plan=plan,
            known={s.id: s for s in config.all_workbooks()} if config else None,
            soon_days=config.soon_days if config else None,
        )
        problems = checked.problems
    except (SourceError, UnreadableWorkbook) as e:
        if as_json:
            click.echo(json.dumps({"error": str(e)}, ensure_ascii=False))
        else:
            click.echo(f"Файл не читается: {e}", err=True)
        sys.exit(EXIT_UNREADABLE)
    errors = [p for p in problems if p.severity is Severity.ERROR]
    if as_json:
        click.echo(json.dumps([p.to_json() for p in problems], ensure_ascii=False, indent=2))
        click.echo(today_note, err=True)
    else:
        for p in problems:
            where = f"{p.sheet}!{p.cell}" if p.cell else p.sheet
            click.echo(f"{SEVERITY_RU[p.severity]:>14}  {where:<24} {p.message}")
        warnings = len(problems) - len(errors)
        verdict = "Ошибок нет." if not errors else f"Ошибок: {len(errors)}."
        click.echo(f"{file.name}: {verdict} Предупреждений: {warnings}.")
        click.echo(today_note)
    sys.exit(EXIT_INVALID if errors else EXIT_OK)


@main.command("distribute")
@config_option
@friendly_errors
def distribute_command(config_path: Path) -> None:
    """Создать книги школ (и МОУО) по плану. Существующие книги не перезаписываются."""
    from sync.distribute import distribute
    from sync.pipeline import backend_for

    config = load_config(config_path)
    backend = backend_for(config)
    created, kept = distribute(config, backend)
    for school in created:
        click.echo(f"создана   {backend.location(school)}")
    for school in kept:
        click.echo(f"уже есть  {backend.location(school)} (не изменена)")
    click.echo(f"Создано книг: {len(created)}, оставлено без изменений: {len(kept)}.")


def _progress(quiet: bool, total: int) -> tuple[Callable[..., None] | None, Callable[[], None]]:
    """A progress bar on stderr when a person watches a long run."""
    if quiet or total < 20 or not sys.stderr.isatty():
        return None, lambda: None
    bar = click.progressbar(length=total, label="Синхронизация", file=sys.stderr)
    bar.__enter__()

    def step(_school: object, _i: int, _n: int) -> None:
        bar.update(1)

    return step, lambda: bar.__exit__(None, None, None)


@main.command("run", epilog=EXIT_CODES_HELP)
@config_option
@today_option
@click.option("--quiet", "-q", is_flag=True, help="Не печатать ничего, кроме одной строки о сбое.")
@click.option("--json", "as_json", is_flag=True, help="Итог синхронизации в JSON.")
@friendly_errors
def run_command(config_path: Path, today: date | None, quiet: bool, as_json: bool) -> None:
    """Синхронизировать все школы один раз и обновить свод."""
    sys.exit(_run_and_report(load_config(config_path), today, quiet, as_json))


def _run_and_report(config: Config, today: date | None, quiet: bool, as_json: bool) -> int:
    """One sync with a progress bar when someone watches; prints the summary, returns exit code."""
    from sync.pipeline import run
    from sync.report import run_summary, run_text
    from sync.service.scheduler import stop_on_signals
    from sync.spec import load_spec

    progress, done = _progress(quiet or as_json, len(config.all_workbooks()))
    stop = threading.Event()  # SIGTERM or Ctrl+C: stop after the current school, as `serve` does
    try:
        with stop_on_signals(stop):
            result = run(config, today=today, progress=progress, stop=stop)
    except (ConfigError, PlanFileError, HistoryError):
        raise  # friendly_errors: a message and code 2
    except Exception as e:  # recorded in the history as "crashed" by the pipeline
        click.echo(f"Синхронизация остановлена ошибкой: {type(e).__name__}: {e}", err=True)
        return int(RunExit.INCOMPLETE)
    finally:
        done()

    if as_json:
        spec = load_spec(config.template)
        click.echo(json.dumps(run_summary(result, spec), ensure_ascii=False, indent=2))
    elif not quiet:
        click.echo(run_text(result, config, load_spec(config.template)))
    else:
        line = failure_line(result)
        if line:
            click.echo(line, err=True)
    return int(run_exit_code(result))


@main.command("demo", epilog=EXIT_CODES_HELP)
@click.option(
    "--dir",
    "directory",
    type=click.Path(path_type=Path),
    metavar="ПАПКА",
    default=Path("demo"),
    show_default=True,
    help="Папка демонстрационного муниципалитета.",
)
@click.option(
    "--schools",
    "count",
    type=cli_ru.IntRange(1, 5000),
    metavar="N",
    default=8,
    show_default=True,
    help="Сколько школ создать.",
)
@today_option
@click.option("--quiet", "-q", is_flag=True, help="Не печатать ничего, кроме одной строки о сбое.")
@click.option("--json", "as_json", is_flag=True, help="Итог синхронизации в JSON.")
@click.option(
    "--web",
    is_flag=True,
    help="Затем запустить веб-приём книг на 127.0.0.1 и напечатать ссылки школы и координатора.",
)
@click.option(
    "--web-port",
    type=cli_ru.IntRange(1, 65535),
    metavar="ПОРТ",
    default=8080,
    show_default=True,
    help="Порт веб-приёма для --web.",
)
@friendly_errors
def demo_command(
    directory: Path,
    count: int,
    today: date | None,
    quiet: bool,
    as_json: bool,
    web: bool,
    web_port: int,
) -> None:
    """Создать демонстрационный муниципалитет, заполнить книги школ и выполнить синхронизацию."""
    from sync.demo import DEMO_TODAY, make_demo

    today = today or DEMO_TODAY
    try:
        config = make_demo(directory, count, today)
    except FileExistsError as e:
        click.echo(str(e), err=True)
        sys.exit(EXIT_UNREADABLE)
    except OSError as e:
        click.echo(f"Не удалось создать демо в папке {directory}: {e.strerror or e}", err=True)
        sys.exit(EXIT_UNREADABLE)
    if not quiet and not as_json:
        click.echo(
            f"Демо: {config.municipality}, школ: {count}, сегодня считается {today:%d.%m.%Y}."
        )
        click.echo(f"Настройки: {config.path}")
    code = _run_and_report(config, today, quiet, as_json)
    if web:
        from sync.demo import serve_demo_web

        serve_demo_web(config, today, web_port)
    sys.exit(code)


@main.command("history")
@click.argument("school_id", metavar="ШКОЛА")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Все снимки в JSON.")
@click.option(
    "--marks",
    is_flag=True,
    help="Только отметки МОУО «Принято» / «На доработке» (история проверки).",
)
@click.option("--row", "row", default="", metavar="№", help="Отметки одной строки (по № п/п).")
@friendly_errors
def history_command(
    school_id: str, config_path: Path, as_json: bool, marks: bool, row: str
) -> None:
    """Показать, что школа вносила в свою книгу: каждый сохранённый снимок и что в нём менялось,
    и отметки МОУО (кто, когда, какая, комментарий, откуда)."""
    from sync.history import History
    from sync.report import history_json, history_text
    from sync.spec import load_spec

    config = load_config(config_path)
    known = {s.id: s for s in config.all_workbooks()}
    if school_id not in known:
        click.echo(f"Школы «{school_id}» нет в настройках. Есть: {', '.join(known)}.", err=True)
        sys.exit(EXIT_UNREADABLE)
    if not config.history_path.exists():
        click.echo("История пуста: синхронизация ещё не запускалась.", err=True)
        sys.exit(EXIT_INVALID)
    if marks or row:
        from sync.cli_review import show_trail

        show_trail(config, known[school_id], row, as_json)
        return
    with History.open(config.history_path) as history:
        entries = list(history.snapshots(school_id))
    if as_json:
        text = json.dumps(
            history_json(entries, load_spec(config.template), config.zone),
            ensure_ascii=False,
            indent=2,
        )
        click.echo(text)
    else:
        click.echo(history_text(known[school_id], entries, load_spec(config.template), config.zone))
        from sync.cli_review import show_trail

        click.echo("")
        show_trail(config, known[school_id], "", False)


@main.command("import-plan")
@click.argument("file", type=click.Path(path_type=Path), metavar="ФАЙЛ")
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    required=True,
    metavar="ПЛАН",
    help="Куда записать план (.tsv, .csv или .xlsx).",
)
@click.option(
    "--period",
    callback=_period,
    metavar="НАЧАЛО..КОНЕЦ",
    help="Период дорожной карты; по умолчанию — из текста документа.",
)
def import_plan_command(file: Path, output: Path, period: Period | None) -> None:
    """Импортировать утверждённую дорожную карту (.docx, .xlsx, PDF, скан, текст) в план."""
    from sync.importer import import_plan_command as do_import

    code, text = do_import(file, output, period)
    click.echo(text, err=code != 0)
    sys.exit(code)


def _register_commands() -> None:
    """Commands defined beside the modules they drive (service, Excel add-in)."""
    from sync.cli_addin import build_addin_command
    from sync.cli_google import google_login_command
    from sync.cli_report import report_command
    from sync.cli_service import serve_command, status_command
    from sync.cli_web import links_command, web_command

    main.add_command(serve_command)
    main.add_command(status_command)
    main.add_command(build_addin_command)
    main.add_command(report_command)
    main.add_command(web_command)
    main.add_command(links_command)
    main.add_command(google_login_command)


_register_commands()
cli_ru.russify(main)

if __name__ == "__main__":  # pragma: no cover
    main()
