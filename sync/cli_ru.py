"""click in Russian: help headings, usage, option errors and path checks a coordinator reads.

click marks its messages for gettext (`from gettext import gettext as _` in each module) but ships
no translations, and gettext would pick a language from the machine's locale. The CLI is Russian
whatever the locale, so `install()` points click's `_` and `ngettext` at the catalogue below.
Error texts quote names as «…» instead of click's '…'. A message missing here stays English; the
test that runs every command's help and error paths (tests/test_cli_russian.py) finds it.
"""

from __future__ import annotations

import re
from types import ModuleType
from typing import Any

import click

OPTIONS_METAVAR = "[ПАРАМЕТРЫ]"
SUBCOMMAND_METAVAR = "КОМАНДА [АРГУМЕНТЫ]..."

CATALOGUE: dict[str, str] = {
    # help and usage
    "Usage:": "Использование:",
    "Options": "Параметры",
    "Commands": "Команды",
    "Positional arguments": "Аргументы",
    "Show this message and exit.": "Показать эту справку и выйти.",
    "Show the version and exit.": "Показать версию программы и выйти.",
    "%(prog)s, version %(version)s": "%(prog)s, версия %(version)s",
    "default: {default}": "по умолчанию: {default}",
    "env var: {var}": "переменная окружения: {var}",
    "(dynamic)": "(вычисляется)",
    "required": "обязательно",
    "deprecated": "устарело",
    "Aborted!": "Прервано.",
    # errors
    "Error: {message}": "Ошибка: {message}",
    "Try '{command} {option}' for help.": "Справка: {command} {option}",
    "Missing command.": "не указана команда.",
    "Missing argument": "не указан аргумент",
    "Missing option": "не указан параметр",
    "Missing parameter": "не указан параметр",
    "Missing {param_type}": "не указан {param_type}",
    "Missing parameter: {param_name}": "не указан параметр: {param_name}",
    "No such option {name!r}.": "нет параметра {name!r}.",
    "No such command {name!r}.": "нет команды {name!r}.",
    "Invalid value: {message}": "неверное значение: {message}",
    "Invalid value for {param_hint}: {message}": "неверное значение {param_hint}: {message}",
    "Option {name!r} does not take a value.": "параметр {name!r} пишется без значения.",
    "Option {name!r} requires an argument.": "после параметра {name!r} нужно значение.",
    "Argument {name!r} takes {nargs} values.": "аргумент {name!r} требует значений: {nargs}.",
    "Invalid start character for option ({option})": "неверный первый символ параметра ({option})",
    "Could not open file {filename!r}: {message}": (
        "не удалось открыть файл {filename!r}: {message}"
    ),
    "unknown error": "неизвестная ошибка",
    "Value must be an iterable.": "Нужен список значений.",
    "Name '{name}' defined twice": "Имя «{name}» задано дважды",
    # values
    "Choose from:\n\t{choices}": "Выберите одно из:\n\t{choices}",
    "{value!r} is not a valid {number_type}.": "{value!r} — не {number_type}.",
    "{value} is not in the range {range}.": "{value} — вне допустимого диапазона {range}.",
    "{value!r} is not a valid boolean. Recognized values: {states}": (
        "{value!r} — не да/нет. Допустимые значения: {states}"
    ),
    "{value!r} is not a valid UUID.": "{value!r} — не UUID.",
    "file": "файл",
    "directory": "папка",
    "path": "путь",
    "{name} {filename!r} does not exist.": "{name} {filename!r} не существует.",
    "{name} {filename!r} is a file.": "{name} {filename!r} — это файл, а нужна папка.",
    "{name} {filename!r} is a directory.": "{name} {filename!r} — это папка, а нужен файл.",
    "{name} {filename!r} is not readable.": "{name} {filename!r} не читается: нет прав на чтение.",
    "{name} {filename!r} is not writable.": "{name} {filename!r} недоступен для записи.",
    "{name} {filename!r} is not executable.": "{name} {filename!r} не запускается.",
    "Do you want to continue?": "Продолжить?",
    "Repeat for confirmation": "Повторите для подтверждения",
    "Error: The two entered values do not match.": "Ошибка: введённые значения не совпадают.",
    "Error: invalid input": "Ошибка: неверный ввод",
    "Press any key to continue...": "Нажмите любую клавишу…",
}

# ngettext: (singular, plural) -> (one, few, many), Russian plural forms.
PLURALS: dict[tuple[str, str], tuple[str, str, str]] = {
    ("Got unexpected extra argument ({args})", "Got unexpected extra arguments ({args})"): (
        "лишний аргумент ({args})",
        "лишние аргументы ({args})",
        "лишние аргументы ({args})",
    ),
    ("Option {name!r} requires an argument.", "Option {name!r} requires {nargs} arguments."): (
        "после параметра {name!r} нужно значение.",
        "после параметра {name!r} нужно {nargs} значения.",
        "после параметра {name!r} нужно {nargs} значений.",
    ),
    ("{value!r} is not {choice}.", "{value!r} is not one of {choices}."): (
        "{value!r} — допустимо только {choice}.",
        "{value!r} — допустимы только {choices}.",
        "{value!r} — допустимы только {choices}.",
    ),
    ("Did you mean {possibility}?", "(Did you mean one of: {possibilities}?)"): (
        "Может быть, {possibility}?",
        "(Может быть, одно из: {possibilities}?)",
        "(Может быть, одно из: {possibilities}?)",
    ),
    (
        "{value!r} does not match the format {format}.",
        "{value!r} does not match the formats {formats}.",
    ): (
        "{value!r} не подходит под формат {format}.",
        "{value!r} не подходит ни под один из форматов {formats}.",
        "{value!r} не подходит ни под один из форматов {formats}.",
    ),
    ("Takes {nargs} values but 1 was given.", "Takes {nargs} values but {len} were given."): (
        "Нужно значений: {nargs}, а дано одно.",
        "Нужно значений: {nargs}, а дано {len}.",
        "Нужно значений: {nargs}, а дано {len}.",
    ),
}

_QUOTED = re.compile(r"'([^'\n]+)'")
TYPE_NAMES = {
    "integer": "целое число",
    "integer range": "целое число",
    "float": "число",
    "float range": "число",
    "boolean": "да/нет",
    "text": "текст",
}


def _russian_argument(key: str, value: Any) -> Any:
    """click's own words inside a message: type names and ranges ('1<=x<=5000')."""
    if key == "number_type" and isinstance(value, str):
        return TYPE_NAMES.get(value, value)
    return value


class IntRange(click.IntRange):
    """click's IntRange, its range described in Russian ('от 1 до 5000', not '1<=x<=5000')."""

    def _describe_range(self) -> str:
        low = f"от {self.min}" if self.min is not None else ""
        high = f"до {self.max}" if self.max is not None else ""
        return " ".join(p for p in (low, high) if p)


class _Template(str):
    """A translated template whose formatted text quotes names as «…» (click writes '…')."""

    __slots__ = ()

    def format(self, *args: Any, **kwargs: Any) -> str:
        kwargs = {k: _russian_argument(k, v) for k, v in kwargs.items()}
        return guillemets(str.format(self, *args, **kwargs))


def guillemets(text: str) -> str:
    """'--config' -> «--config» (click's repr()-quoted names, values and paths)."""
    return _QUOTED.sub(r"«\1»", text)


def gettext(message: str) -> str:
    translated = CATALOGUE.get(message)
    return message if translated is None else _Template(translated)


def _plural_form(n: int) -> int:
    if n % 10 == 1 and n % 100 != 11:
        return 0
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return 1
    return 2


def ngettext(singular: str, plural: str, n: int) -> str:
    forms = PLURALS.get((singular, plural))
    if forms is None:
        return singular if n == 1 else plural
    return _Template(forms[_plural_form(n)])


def _click_modules() -> list[ModuleType]:
    import importlib

    names = ("core", "decorators", "exceptions", "formatting", "parser", "termui", "types", "utils")
    return [importlib.import_module(f"click.{name}") for name in names]


def install() -> None:
    """Make click speak Russian in this process (the CLI's only user-facing library)."""
    for module in _click_modules():
        if hasattr(module, "_"):
            module._ = gettext  # type: ignore[attr-defined]
        if hasattr(module, "ngettext"):
            module.ngettext = ngettext  # type: ignore[attr-defined]


def russify(group: click.Group) -> None:
    """Russian metavars in every usage line: [ПАРАМЕТРЫ], КОМАНДА [АРГУМЕНТЫ]...."""
    group.options_metavar = OPTIONS_METAVAR
    group.subcommand_metavar = SUBCOMMAND_METAVAR
    for command in group.commands.values():
        command.options_metavar = OPTIONS_METAVAR
        if isinstance(command, click.Group):
            russify(command)
