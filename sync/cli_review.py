"""`history --marks`: the review trail of a school (or one row), from the history database."""

from __future__ import annotations

import json

import click

from sync.config import Config
from sync.history import History
from sync.model import School
from sync.review import RowKey
from sync.review_report import digests_now, matches_row, trail_json, trail_text


def show_trail(config: Config, school: School, row: str, as_json: bool) -> None:
    """Print the school's marks, oldest first; with `row`, only that row's."""
    from sync.pipeline import load_context
    from sync.validation import check_school

    with History.open(config.history_path) as history:
        marks = history.review_trail(school.id)
        last = history.last_read(school.id)
    if row:
        marks = [m for m in marks if matches_row(m.key, row)]
    now: dict[RowKey, str] = {}
    if last is not None:
        spec, plan = load_context(config)
        rows, _ = check_school(last.sheet, school, plan, spec, config.today())
        now = digests_now(school.id, rows)
    if as_json:
        data = trail_json(marks, now, config.zone)
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        click.echo(trail_text(school.name, marks, now, config.zone, row))
