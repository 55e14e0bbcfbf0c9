"""`roadmap-sync build-addin`: the Excel add-in and macro-enabled school workbooks, from macros/.

The build itself lives beside its sources in macros/build.py (also runnable as a script); this
command only parses options, calls it and reports in Russian.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import click

import sync.cli_common  # noqa: F401  (importing it makes click speak Russian)
from sync.cli_ru import OPTIONS_METAVAR
from sync.resources import resource_dir

MACROS_DIR = resource_dir("macros")
EXIT_OK, EXIT_FAILED = 0, 2


def macros_build() -> ModuleType:
    """macros/build.py as a module (macros/ sits beside the package, like templates/)."""
    name = "roadmap_sync_macros_build"
    if name in sys.modules:
        return sys.modules[name]
    path = MACROS_DIR / "build.py"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise click.ClickException(f"Не найден сценарий сборки {path}.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


@click.command(
    "build-addin",
    context_settings={"help_option_names": ["-h", "--help"]},
    options_metavar=OPTIONS_METAVAR,
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("dist/addin"),
    show_default=True,
    metavar="ПАПКА",
    help="Куда записать надстройку, исходные тексты для импорта вручную и книги школ.",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    metavar="ФАЙЛ",
    help="Файл настроек (TOML): собрать и книги школ с кнопками (.xlsm) по плану муниципалитета.",
)
@click.option(
    "--school",
    "school_ids",
    multiple=True,
    metavar="ШКОЛА",
    help="Собрать книгу только этой школы (можно указать несколько раз); нужен --config.",
)
def build_addin_command(
    out_dir: Path, config_path: Path | None, school_ids: tuple[str, ...]
) -> None:
    """Собрать надстройку Excel «Дорожная карта» (.xlam) и книги школ с кнопками (.xlsm).

    Надстройка добавляет в Excel вкладку «Дорожная карта» с кнопками «Проверить», «Обновить
    статусы», «Отправить», «Синхронизировать» и «Открыть школу». Рядом записываются модуль VBA
    и лента для установки вручную. С --config для каждой школы собирается её книга с кнопками
    (существующие книги не перезаписываются). Установка: docs/addin.md.
    """
    from sync.config import ConfigError, load_config
    from sync.plan import PlanFileError

    if school_ids and config_path is None:
        raise click.UsageError("--school указывают вместе с --config.")
    build = macros_build()
    try:
        # The settings first: a mistake in them must not leave half a build behind.
        config = load_config(config_path) if config_path is not None else None
        addin = build.build_addin(out_dir)
        click.echo(f"надстройка          {addin}")
        click.echo(f"для импорта вручную {out_dir / build.MANUAL_DIR}")
        if config is not None:
            created, kept = build.build_school_workbooks(config, out_dir, school_ids)
            for path in created:
                click.echo(f"создана             {path}")
            for path in kept:
                click.echo(f"уже есть            {path} (не изменена)")
            click.echo(f"Книг школ создано: {len(created)}, оставлено без изменений: {len(kept)}.")
    except (build.BuildError, ConfigError, PlanFileError) as e:
        click.echo(str(e), err=True)
        sys.exit(EXIT_FAILED)
    except OSError as e:
        click.echo(f"Не удалось записать {e.filename or out_dir}: {e.strerror or e}", err=True)
        sys.exit(EXIT_FAILED)
    click.echo("Установка на компьютеры школ и координатора: docs/addin.md.")
