"""The service's log: rotated UTF-8 files an administrator can read, and the console (journald).

One line per event, timestamps in the municipality's zone with their UTC offset, so a server kept
in UTC and a coordinator's PC in Чита read the same times as the schedule in the configuration.
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sync.config import ConfigError
from sync.env_file import os_reason

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
LOGGER = "roadmap_sync"
FORMAT = "%(asctime)s %(levelname)-7s %(message)s"


class LogFileError(ConfigError):
    """The log file cannot be created or written; str() is Russian and names the file."""


class ZoneFormatter(logging.Formatter):
    """Timestamps in a given zone: '2022-01-15 02:00:03 +0900'."""

    def __init__(self, zone: ZoneInfo, fmt: str = FORMAT) -> None:
        super().__init__(fmt)
        self.zone = zone

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        moment = datetime.fromtimestamp(record.created, self.zone)
        return moment.strftime(datefmt or "%Y-%m-%d %H:%M:%S %z")


@contextlib.contextmanager
def service_logging(
    zone: ZoneInfo,
    level: str = "INFO",
    log_file: Path | None = None,
    max_mb: int = 5,
    files: int = 5,
    console: bool = True,
) -> Iterator[logging.Logger]:
    """Send the `roadmap_sync` loggers to a rotated file and stderr while the block runs.

    The handlers are removed and closed afterwards (Windows cannot rotate or delete an open log).
    """
    logger = logging.getLogger(LOGGER)
    formatter = ZoneFormatter(zone)
    handlers: list[logging.Handler] = []
    if log_file is not None:
        try:
            log_file.parent.mkdir(parents=True, exist_ok=True)
            handlers.append(
                logging.handlers.RotatingFileHandler(
                    log_file, maxBytes=max_mb * 1024 * 1024, backupCount=files, encoding="utf-8"
                )
            )
        except OSError as e:
            raise LogFileError(
                f"Журнал службы не записывается в {log_file}: {os_reason(e)}. Укажите файл,"
                " доступный для записи пользователю службы: [schedule] log_file в настройках"
                " или --log-file."
            ) from None
    if console:
        handlers.append(logging.StreamHandler(sys.stderr))  # journald, or the admin's terminal
    for handler in handlers:
        handler.setFormatter(formatter)
        logger.addHandler(handler)
    old_level, old_propagate = logger.level, logger.propagate
    logger.setLevel(level.upper())
    logger.propagate = False  # no duplicates through a root handler someone else installed
    # The schedule package logs each job at DEBUG in English; keep it at the same level.
    logging.getLogger("schedule").setLevel(max(logging.INFO, logger.level))
    try:
        yield logger
    finally:
        for handler in handlers:
            logger.removeHandler(handler)
            handler.close()
        logger.setLevel(old_level)
        logger.propagate = old_propagate
