"""Load the template spec (templates/roadmap.toml) into typed values."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path

from sync.resources import resource_dir
from sync.text import fold

TEMPLATE_DIR = resource_dir("templates")
DEFAULT_TEMPLATE = TEMPLATE_DIR / "roadmap.toml"


@lru_cache(maxsize=1 << 16, typed=True)
def normalize_header(text: object) -> str:
    """Fold a header for matching: case, 'ё', spaces, line breaks and trailing punctuation.

    Cached: a thousand schools' workbooks repeat the same few hundred texts.
    """
    return fold(text or "").rstrip(":.").strip()


@dataclass(frozen=True)
class ColumnSpec:
    key: str
    header: str
    filled_by: str  # plan, school, sync, coordinator
    type: str  # text, date, choice
    width: float
    choices: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()

    def names(self) -> tuple[str, ...]:
        """Every header text this column is recognised by, normalised."""
        return tuple(normalize_header(n) for n in (self.header, *self.aliases))


@dataclass(frozen=True)
class ControlSpec:
    key: str
    value: str
    fill: str | None


@dataclass(frozen=True)
class PassportField:
    key: str
    label: str
    required: bool
    type: str = "text"
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class TemplateSpec:
    version: str
    main_sheet: str
    passport_sheet: str
    instructions_sheet: str
    meta_sheet: str
    columns: tuple[ColumnSpec, ...]
    statuses: dict[str, str]  # meaning -> Russian value
    controls: dict[str, ControlSpec]
    soon_days: int
    passport: tuple[PassportField, ...]
    instructions_title: str
    instructions: tuple[str, ...]

    _by_key: dict[str, tuple[int, ColumnSpec]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_key = {c.key: (i, c) for i, c in enumerate(self.columns, start=1)}
        object.__setattr__(self, "_by_key", by_key)

    def column(self, key: str) -> ColumnSpec:
        return self._by_key[key][1]

    def index(self, key: str) -> int:
        """1-based position of a column in the built template."""
        return self._by_key[key][0]

    def keys(self, filled_by: str) -> tuple[str, ...]:
        return tuple(c.key for c in self.columns if c.filled_by == filled_by)

    @property
    def status_choices(self) -> tuple[str, ...]:
        return self.column("status").choices


def load_spec(path: Path | None = None) -> TemplateSpec:
    """Read a template spec file; the standard template when no path is given."""
    return _load(Path(path) if path else DEFAULT_TEMPLATE)


@cache
def _load(path: Path) -> TemplateSpec:
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    sheets = raw["sheets"]
    controls_raw = dict(raw["controls"])
    soon_days = int(controls_raw.pop("soon_days", 14))
    # Templates made before review marks lack «На доработке»: it gets the standard look.
    controls_raw.setdefault("rework", {"value": "На доработке", "fill": "D9D2E9"})
    return TemplateSpec(
        version=str(raw["version"]),
        main_sheet=sheets["main"],
        passport_sheet=sheets["passport"],
        instructions_sheet=sheets["instructions"],
        meta_sheet=sheets["meta"],
        columns=tuple(
            ColumnSpec(
                key=c["key"],
                header=c["header"],
                filled_by=c["filled_by"],
                type=c.get("type", "text"),
                width=float(c.get("width", 12)),
                choices=tuple(c.get("choices", ())),
                aliases=tuple(c.get("aliases", ())),
            )
            for c in raw["columns"]
        ),
        statuses=dict(raw["statuses"]),
        controls={
            k: ControlSpec(k, v["value"], v.get("fill") or None) for k, v in controls_raw.items()
        },
        soon_days=soon_days,
        passport=tuple(
            PassportField(
                key=p["key"],
                label=p["label"],
                required=bool(p.get("required", False)),
                type=p.get("type", "text"),
                choices=tuple(p.get("choices", ())),
            )
            for p in raw["passport"]
        ),
        instructions_title=raw["instructions"]["title"],
        instructions=tuple(raw["instructions"]["lines"]),
    )
