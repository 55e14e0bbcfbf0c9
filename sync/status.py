"""The Контроль column: a row's status and due date against today (pure, today is a parameter)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from functools import lru_cache

from sync.model import CellValue, Control
from sync.spec import TemplateSpec
from sync.states import ControlKey
from sync.text import fold as fold  # the folding rule lives in sync.text; callers import it here


def canonical_choice(value: CellValue, choices: Iterable[str]) -> str | None:
    """The choice a value means, tolerating case and spaces; None for an empty or unknown value."""
    if value is None:
        return None
    return _canonical(value, tuple(choices))


@lru_cache(maxsize=1 << 14, typed=True)
def _canonical(value: CellValue, choices: tuple[str, ...]) -> str | None:
    folded = fold(value)
    return next((c for c in choices if fold(c) == folded), None) if folded else None


def normalize_status(value: CellValue, spec: TemplateSpec) -> str | None:
    """The canonical status text, None for an empty cell, the stripped text itself if unknown."""
    if value is None or not str(value).strip():
        return None
    choices = spec.status_choices
    return canonical_choice(value, choices) or str(value).strip()


def control(
    status: str | None,
    due: date | None,
    today: date,
    has_error: bool,
    spec: TemplateSpec,
    soon_days: int | None = None,
) -> Control:
    """The control of one row; the first rule that applies wins (see templates/roadmap.toml)."""
    status = normalize_status(status, spec)
    soon = spec.soon_days if soon_days is None else soon_days
    if has_error:
        key = ControlKey.ERROR
    elif status == spec.statuses["done"]:
        key = ControlKey.DONE
    elif status == spec.statuses["not_needed"] or due is None:
        key = ControlKey.NONE
    elif due < today:
        key = ControlKey.OVERDUE
    elif (due - today).days <= soon:
        key = ControlKey.SOON
    else:
        key = ControlKey.ON_TIME
    c = spec.controls[key]
    return _control(key, c.value, c.fill)


@lru_cache(maxsize=256)
def _control(key: ControlKey, value: str, fill: str | None) -> Control:
    """One (frozen) Control per kind, shared by every row that has it."""
    return Control(key, value, fill)


def rework_control(current: Control, spec: TemplateSpec) -> Control:
    """A row the coordinator sent back («На доработке»): its own control, an error still first."""
    if current.key == ControlKey.ERROR:
        return current
    c = spec.controls[ControlKey.REWORK]
    late = current.late or current.key == ControlKey.OVERDUE
    return Control(ControlKey.REWORK, c.value, c.fill, late)


def is_overdue(current: Control) -> bool:
    """Past its due date and not done: «Просрочено», or «На доработке» that was overdue (a row
    sent back still counts as overdue in the master, its counts, the справка and reminders)."""
    return current.key == ControlKey.OVERDUE or (current.key == ControlKey.REWORK and current.late)
