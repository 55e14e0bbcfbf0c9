"""System errors (a full disk, no rights, a read-only disk) as Russian words for people."""

from __future__ import annotations

import errno
import sqlite3

_WORDS = {
    errno.ENOSPC: "на диске нет свободного места",
    errno.EDQUOT: "исчерпана квота на диске",
    errno.EACCES: "нет прав на запись",
    errno.EPERM: "операция не разрешена",
    errno.EROFS: "диск доступен только для чтения",
    errno.ENOENT: "папка или файл не найдены",
    errno.EIO: "ошибка ввода-вывода (диск или сетевая папка недоступны)",
    errno.EFBIG: "файл превысил допустимый размер",
    errno.ENOTDIR: "часть пути — файл, а не папка",
    errno.ENAMETOOLONG: "слишком длинное имя файла",
    errno.ELOOP: "символические ссылки указывают по кругу",
    errno.EISDIR: "это папка, а не файл",
}


def describe(e: BaseException) -> str:
    """A Russian reason for an OSError or an SQLite error; English only as a last resort."""
    if isinstance(e, OSError):
        words = _WORDS.get(e.errno or 0) or e.strerror or str(e)
        return f"{words} ({e.filename})" if e.filename else words
    if isinstance(e, sqlite3.Error):
        text = str(e).lower()
        if "disk is full" in text or "disk full" in text:
            return _WORDS[errno.ENOSPC]
        if "readonly" in text or "read-only" in text:
            return _WORDS[errno.EROFS]
        if "disk i/o" in text:
            return _WORDS[errno.EIO]
        return f"ошибка базы истории ({e})"
    return str(e)


def is_disk_full(e: BaseException) -> bool:
    if isinstance(e, OSError):
        return e.errno in (errno.ENOSPC, errno.EDQUOT)
    return isinstance(e, sqlite3.Error) and "full" in str(e).lower()
