"""The review trail of a school, for `roadmap-sync history`: every mark, who, when, where from,
and whether the row changed after it (text and JSON)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import tzinfo
from typing import Any

from sync.consolidate import row_key
from sync.model import RowReport
from sync.report import local_time
from sync.review import MARK_RU, SOURCE_RU, RecordedMark, RowKey, row_digest, split_nth

CHANGED_AFTER = "строка изменена после отметки"
NO_MARK = "отметка снята"


def row_label(key: RowKey) -> str:
    """How a person names the row: its № (and section), or the school's own activity's text."""
    no, n = split_nth(key.no)
    again = f", повтор {n}" if n > 1 else ""
    if no.startswith("own:"):
        return f"своё мероприятие «{no[4:][:60]}»" + (f" ({again[2:]})" if again else "")
    if key.section or again:
        return f"№ {no} ({key.section}{again})" if key.section else f"№ {no} ({again[2:]})"
    return f"№ {no}"


def matches_row(key: RowKey, row: str) -> bool:
    """Whether `row` (what a person typed after --row) names this row: its № or own text
    (every repeat of it too)."""
    wanted = row.strip().rstrip(".").lower()
    no = split_nth(key.no)[0]
    return no.rstrip(".").lower() == wanted or no.lower() == f"own:{wanted}"


def digests_now(school_id: str, rows: Sequence[RowReport]) -> dict[RowKey, str]:
    """Each row's digest in the school's newest snapshot (what a mark is compared with)."""
    return {row_key(school_id, r): row_digest(r.values) for r in rows}


def trail_json(
    marks: Sequence[RecordedMark], now: dict[RowKey, str], zone: tzinfo | None = None
) -> list[dict[str, Any]]:
    """The trail as JSON-ready data, oldest first; times in the municipality's zone."""
    return [
        {
            "at": local_time(m.at, zone).isoformat(timespec="seconds"),
            "row": {"section": m.key.section, "no": m.key.no},
            "mark": m.mark.value if m.mark is not None else None,
            "mark_text": MARK_RU[m.mark] if m.mark is not None else "",
            "comment": m.comment,
            "by": m.by,
            "source": m.source,
            "run_id": m.run_id,
            "row_digest": m.row_digest,
            "changed_after": m.key in now and now[m.key] != m.row_digest,
        }
        for m in marks
    ]


def trail_text(
    school_name: str,
    marks: Sequence[RecordedMark],
    now: dict[RowKey, str],
    zone: tzinfo | None = None,
    row: str = "",
) -> str:
    """The trail in Russian, one line a mark, oldest first."""
    where = f", строка {row}" if row else ""
    if not marks:
        return f"{school_name}{where}: отметок МОУО нет."
    lines = [f"{school_name}{where}: отметки МОУО ({len(marks)})."]
    for m in marks:
        what = f"«{MARK_RU[m.mark]}»" if m.mark is not None else NO_MARK
        who = m.by or "неизвестно кто"
        source = SOURCE_RU.get(m.source, m.source)
        line = (
            f"  {local_time(m.at, zone):%d.%m.%Y %H:%M} — {row_label(m.key)}: {what};"
            f" {who} ({source}, синхронизация № {m.run_id})"
        )
        if m.comment:
            comment = m.comment if len(m.comment) <= 300 else m.comment[:299] + "…"
            line += f"; комментарий: «{comment}»"
        if m.key in now and now[m.key] != m.row_digest:
            line += f"; {CHANGED_AFTER}"
        lines.append(line)
    return "\n".join(lines)
