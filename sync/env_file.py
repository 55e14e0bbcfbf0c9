"""Secrets for the service (the SMTP password) from an env file that roadmap-sync reads itself.

cron used to source the file through `sh`, which expands `$` and runs backticks inside a password.
Here every line is `NAME=value` taken literally: nothing is expanded or executed. A value may be
wrapped in single or double quotes (kept leading or trailing spaces, a `#`); inside them it is
still literal. Lines starting with `#` and blank lines are skipped; `export NAME=value` is accepted
so the same file can be typed by hand in a shell.
"""

from __future__ import annotations

import os
import re
from collections.abc import MutableMapping
from pathlib import Path

from sync.config import ConfigError

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class EnvFileError(ConfigError):
    """The env file cannot be read or has a malformed line; str() is Russian with the line."""


def parse_env(text: str, name: str = "secrets.env") -> dict[str, str]:
    """NAME=value lines -> a dict, every value literal (no `$`, no backticks, no escapes)."""
    out: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("export "):
            stripped = stripped[len("export ") :].lstrip()
        key, eq, value = stripped.partition("=")
        key = key.strip()
        if not eq or not NAME.fullmatch(key):
            raise EnvFileError(
                f"Ошибка в файле секретов ({name}, строка {n}): ожидается строка вида"
                " ИМЯ=значение (имя — латинские буквы, цифры и «_»)."
            )
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        elif value[:1] in ("'", '"'):
            raise EnvFileError(
                f"Ошибка в файле секретов ({name}, строка {n}): кавычка в начале значения"
                f" «{key}» не закрыта в конце строки."
            )
        out[key] = value
    return out


def load_env_file(
    path: Path, environ: MutableMapping[str, str] | None = None
) -> tuple[list[str], bool]:
    """Put the file's variables into `environ` (os.environ), not overriding ones already set.

    Returns the names taken from the file and whether the file exists (a missing file is not an
    error: a service without a mail password needs none).
    """
    environ = os.environ if environ is None else environ
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        return [], False
    except OSError as e:
        raise EnvFileError(
            f"Файл секретов {path} не читается: {os_reason(e)}."
            " Он должен быть доступен пользователю службы (и только ему: chmod 600)."
        ) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise EnvFileError(f"Файл секретов {path} не в кодировке UTF-8.") from None
    taken = []
    for key, value in parse_env(text, Path(path).name).items():
        if key not in environ:
            environ[key] = value
            taken.append(key)
    return taken, True


def os_reason(e: OSError) -> str:
    """An OS error in Russian words, for the messages a user reads."""
    import errno

    reasons = {
        errno.EACCES: "нет прав доступа",
        errno.EPERM: "нет прав доступа",
        errno.EROFS: "файловая система только для чтения",
        errno.ENOENT: "нет такого файла или папки",
        errno.ENOTDIR: "часть пути — файл, а не папка",
        errno.EEXIST: "на месте папки уже лежит файл",
        errno.EISDIR: "это папка, а не файл",
        errno.ENOSPC: "нет места на диске",
    }
    return reasons.get(e.errno or 0, e.strerror or str(e))
