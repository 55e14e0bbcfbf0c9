"""The `report` command: the справка as .docx (and .xlsx), a thin shell over sync.spravka."""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime
from pathlib import Path

import click

from sync.cli_common import (
    EXIT_OK,
    EXIT_UNREADABLE,
    config_option,
    date_option,
    friendly_errors,
)
from sync.config import load_config

CONTEXT = {"help_option_names": ["-h", "--help"]}


@click.command("report", context_settings=CONTEXT)
@config_option
@click.option(
    "--as-of",
    "as_of",
    callback=date_option,
    metavar="ДАТА",
    help="Справка на эту дату (ГГГГ-ММ-ДД): по последнему прочтению каждой книги не позднее её;"
    " по умолчанию — сегодня в часовом поясе муниципалитета.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    metavar="ФАЙЛ",
    help="Куда записать справку (.docx); по умолчанию — «Справки/Справка на ДАТА.docx»"
    " рядом со сводом ([report] folder).",
)
@click.option(
    "--xlsx",
    "xlsx",
    is_flag=False,
    flag_value="",
    default=None,
    metavar="[ФАЙЛ]",
    help="Записать те же таблицы книгой Excel; без имени — рядом со справкой, с расширением .xlsx.",
)
@click.option(
    "--final/--draft",
    "final",
    default=None,
    help="Окончательная справка (следующие справки показывают изменения по сравнению с ней)"
    " или черновик (в имени файла «(черновик)», для сравнения не берётся). По умолчанию"
    " окончательная — справка в отчётный период ([report] dates и days_before), иначе черновик.",
)
@friendly_errors
def report_command(
    config_path: Path,
    as_of: date | None,
    output: Path | None,
    xlsx: str | None,
    final: bool | None,
) -> None:
    """Аналитическая справка по итогам реализации дорожной карты (.docx по шаблону МОУО).

    Показатели, таблицы по разделам и школам, диаграммы, просроченные и невыполненные мероприятия
    с пояснениями школ и изменения со времени предыдущей справки — по тем же данным, что и свод.
    Шаблон — [report] template в настройках (по умолчанию — встроенный).
    """
    from sync.spravka.make import default_output, make_spravka
    from sync.spravka.render import SpravkaError
    from sync.spravka.settings import load_report_settings

    config = load_config(config_path)
    now = datetime.now(UTC).astimezone(config.zone)
    day = as_of or config.today(now)
    settings = load_report_settings(config)
    if final is None:
        final = settings.due_now(day) is not None
    path = output or default_output(settings, config, day, draft=not final)
    xlsx_path = None
    if xlsx is not None:
        xlsx_path = Path(xlsx) if xlsx else path.with_suffix(".xlsx")
    try:
        made = make_spravka(
            config, day, now, output=path, xlsx=xlsx_path, settings=settings, final=final
        )
    except SpravkaError as e:
        click.echo(str(e), err=True)
        sys.exit(EXIT_UNREADABLE)
    t = made.spravka.total
    kind = "окончательная" if final else "черновик, для сравнения не берётся"
    click.echo(f"Справка на {day:%d.%m.%Y} ({kind}): {made.path}")
    if made.xlsx:
        click.echo(f"Таблицы справки: {made.xlsx}")
    click.echo(
        f"Школ {made.spravka.schools_count}, мероприятий {t.activities}, выполнено {t.done}"
        f" ({t.percent}), просрочено {t.overdue}, не выполнено {t.not_done}."
    )
    if made.spravka.previous is not None:
        click.echo(
            f"Изменения — по сравнению со справкой на {made.spravka.previous.as_of:%d.%m.%Y}."
        )
    sys.exit(EXIT_OK)
