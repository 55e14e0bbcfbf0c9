"""Pieces every command module shares: the --config option and Russian errors, not tracebacks."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from sync.config import ConfigError
from sync.history import HistoryError
from sync.oserrors import describe
from sync.plan import PlanFileError

F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK, EXIT_INVALID, EXIT_UNREADABLE = 0, 1, 2

config_option = click.option(
    "--config",
    "config_path",
    required=True,
    type=click.Path(path_type=Path),
    metavar="ФАЙЛ",
    help="Файл настроек (TOML).",
)


def _say(message: str) -> None:
    with contextlib.suppress(OSError):  # stderr itself is gone: the exit code still tells
        click.echo(message, err=True)


def _flush_stdout() -> None:
    """Flush what the command printed now, so a full disk is a message and not Python's
    «Exception ignored» at exit."""
    try:
        sys.stdout.flush()
    except OSError as e:
        with contextlib.suppress(OSError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())  # the lost output cannot be flushed again
            os.close(devnull)
        _say(f"Не удалось вывести итог: {describe(e)}.")
        if sys.exc_info()[0] is None:
            sys.exit(EXIT_UNREADABLE)
    except ValueError:
        pass  # stdout closed


def friendly_errors(func: F) -> F:
    """Turn the errors a user can cause into a Russian message and exit code 2, not a traceback."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (ConfigError, PlanFileError, HistoryError) as e:
            click.echo(str(e), err=True)
            sys.exit(EXIT_UNREADABLE)
        except (OSError, sqlite3.Error) as e:
            # A full disk or a folder without rights: the reason in Russian, no traceback.
            _say(f"Команда не выполнена: {describe(e)}.")
            sys.exit(EXIT_UNREADABLE)
        finally:
            _flush_stdout()

    return wrapper  # type: ignore[return-value]
