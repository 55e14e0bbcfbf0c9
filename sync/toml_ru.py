"""TOML syntax errors explained in Russian, with the line and its text.

tomllib reports «Invalid statement (at line 4, column 1)»; a coordinator editing the settings in
Notepad needs to know, in Russian, which line is wrong and what TOML expected there.
"""

from __future__ import annotations

import re
import tomllib

_WHERE = re.compile(
    r"^(?P<msg>.*) \(at (?:line (?P<line>\d+), column (?P<col>\d+)|end of document)\)$"
)

# (tomllib's message, a Russian explanation); the first pattern that matches wins.
EXPLANATIONS: list[tuple[str, str]] = [
    (
        r"Invalid statement",
        "строка не похожа ни на «ключ = значение», ни на заголовок раздела вида [раздел]"
        " (комментарий начинается с #)",
    ),
    (
        r"Expected '=' after a key in a key/value pair",
        'после имени ключа ожидается «=» и значение; текст пишется в кавычках: ключ = "значение"',
    ),
    (
        r"Invalid value",
        'значение не распознано: текст пишется в кавычках ("…"), числа и true/false — без кавычек,'
        " список — в [ ]",
    ),
    (r"Unterminated string", "не закрыта кавычка: текст должен начинаться и кончаться кавычкой"),
    (r"Unclosed array", "список не закрыт: не хватает «]» или запятой между элементами"),
    (r"Unclosed inline table", "таблица в { } не закрыта: не хватает «}» или запятой"),
    (r"Cannot declare (?P<key>.+) twice", "раздел объявлен дважды"),
    (r"Cannot overwrite a value", "ключ задан дважды (или раздел совпадает с ключом)"),
    (r"Cannot (?:mutate immutable|redefine) namespace .*", "ключ или раздел задан повторно"),
    (r"Duplicate inline table key .*", "ключ повторяется в таблице { }"),
    (r"Expected '\]' at the end of a table declaration", "заголовок раздела не закрыт «]»"),
    (r"Expected '\]\]' at the end of an array declaration", "заголовок [[раздела]] не закрыт «]]»"),
    (r"Invalid initial character for a key part", "имя ключа начинается с недопустимого символа"),
    (r"Found invalid character .*", "недопустимый символ в имени ключа"),
    (
        r"Illegal character .*",
        "недопустимый (управляющий) символ; в путях Windows пишите / или \\\\ вместо \\",
    ),
    (
        r"Unescaped '\\' in a string",
        "одиночная «\\» в тексте в двойных кавычках: пишите путь в одинарных кавычках"
        " ('C:\\папка') или удвойте «\\\\»",
    ),
    (r"Invalid hex value|Escaped character .*", "неверный код символа «\\u…» в тексте"),
    (r"Invalid date or datetime", "неверная дата или время"),
    (r"Expected .*", "строка не закончена: не хватает закрывающего символа"),
]


def explain(error: tomllib.TOMLDecodeError, text: str, file_name: str) -> str:
    """'Ошибка в настройках (config.toml, строка 4): <what> — «<the line>».'"""
    raw = str(error)
    m = _WHERE.match(raw)
    message, line = (m.group("msg"), m.group("line")) if m else (raw, None)
    what = next(
        (ru for pattern, ru in EXPLANATIONS if re.fullmatch(pattern, message)),
        "неверная запись TOML",
    )
    if line is None and m is not None:  # "end of document": the last line that has text
        filled = [n for n, t in enumerate(text.splitlines(), start=1) if t.strip()]
        line = str(filled[-1]) if filled else None
    where = f"{file_name}, строка {line}" if line else file_name
    shown = ""
    if line:
        lines = text.splitlines()
        number = int(line)
        if 0 < number <= len(lines) and lines[number - 1].strip():
            shown = f": «{lines[number - 1].strip()}»"
    return f"Ошибка в настройках ({where}): {what}{shown}."
