"""Create every school's workbook (and the coordinator's) from the template and the plan."""

from __future__ import annotations

from datetime import datetime

from sync.backends.base import Backend
from sync.config import Config
from sync.model import School


def distribute(
    config: Config, backend: Backend | None = None, built_at: datetime | None = None
) -> tuple[list[School], list[School]]:
    """Build the missing workbooks, never overwriting one. Returns (created, kept)."""
    from sync.pipeline import backend_for, load_context

    spec, plan = load_context(config)
    backend = backend or backend_for(config)
    built_at = built_at or datetime.now(config.zone)
    created: list[School] = []
    kept: list[School] = []
    for school in config.all_workbooks():
        made = backend.create(school, spec, plan, built_at)
        (created if made else kept).append(school)
    return created, kept
