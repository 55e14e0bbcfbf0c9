"""Pieces every command module shares: the --config option and Russian errors, not tracebacks."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from sync.config import ConfigError
from sync.history import HistoryError
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


def friendly_errors(func: F) -> F:
    """Turn the errors a user can cause into a Russian message and exit code 2, not a traceback."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (ConfigError, PlanFileError, HistoryError) as e:
            click.echo(str(e), err=True)
            sys.exit(EXIT_UNREADABLE)

    return wrapper  # type: ignore[return-value]
