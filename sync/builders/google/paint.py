"""What the sync writes back into a school's Google spreadsheet, as batchUpdate requests (pure):
only what differs from what it shows now (`sync.paint.Shown`); notes by `sync.notes`' rule."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sync import notes
from sync.builders.google.common import NOTE_SEPARATOR, Request, _runs, cell_range, rgb, text_cell
from sync.cells import a1, parse_a1
from sync.notes import NOTE_MARK
from sync.paint import Paint, Shown
from sync.spec import normalize_header

# --- what the sync writes back --------------------------------------------------------------


def sheet_title_for(name: str, titles: Sequence[str], default: str) -> str:
    """The actual title of a sheet named `name`, folded as the reader folds names."""
    want = normalize_header(name).replace(" ", "")
    for title in titles:
        if normalize_header(title).replace(" ", "") == want:
            return title
    return default


def main_title_for(paint_sheet: str, titles: Sequence[str]) -> str:
    """The sheet the paint goes to: the template's main sheet by name, else the first sheet."""
    return sheet_title_for(paint_sheet, titles, titles[0] if titles else paint_sheet)


def is_ours(note: str) -> bool:
    """A note the sync wrote, by sync.notes' rule: Sheets shows only its text (its mark)."""
    return notes.is_ours(note)


def compose_note(school_part: str, ours: str | None) -> str:
    """Our note as it is written: the mark, then the text ("" when there is nothing to say).

    `school_part` is kept for callers of the older shape; a school's words are never composed
    into a note of ours any more.
    """
    if not ours:
        return school_part
    tagged = f"{NOTE_MARK}\n{ours}"
    return f"{school_part}{NOTE_SEPARATOR}{tagged}" if school_part else tagged


def note_targets(
    paint: Paint, titles: Sequence[str], main: str, review_col: int | None = None
) -> dict[tuple[str, str], str]:
    """Where each of the paint's notes goes, and its text naming the cell it is about.

    Every note goes on a Контроль cell: a row's problems on that row's cell, the rest on the
    column's header. The template protects the column from the school, so no note the school
    types can be there to be written over, even while our write is in flight. The coordinator's
    comment stays on its «Отметка МОУО» cell when that column is confirmed ours (`review_col`,
    protected from the school the same way).
    """
    col = paint.control_col
    if not col:
        return {}  # no Контроль column: nowhere to write that is not the school's
    header = (main, a1(paint.header_row, col))
    out: dict[tuple[str, str], list[str]] = {}
    for (sheet, ref), text in sorted(paint.notes.items()):
        title = sheet_title_for(sheet, titles, main)
        row, _ = parse_a1(ref)
        if title == main and (
            ref == a1(row, col)
            or (review_col and row > paint.header_row and ref == a1(row, review_col))
        ):
            target, where = (main, ref), ""
        elif title == main and row > paint.header_row:
            target, where = (main, a1(row, col)), f"{ref}: "
        else:
            target = header
            where = f"{ref}: " if title == main else f"лист «{title}», {ref}: "
        lines = [f"{where}{line}" for line in text.splitlines() if line.strip()]
        out.setdefault(target, []).extend(lines)
    return {k: "\n".join(dict.fromkeys(v)) for k, v in out.items()}


def wanted_notes(paint: Paint, titles: Sequence[str], shown: Shown) -> dict[tuple[str, str], str]:
    """Every note cell the paint touches, with the note it should end up with ("" = none).

    Only cells whose note is empty or ours: a note someone else wrote (a coordinator on a
    Контроль cell, a school anywhere) is never written over.
    """
    ours = note_targets(paint, titles, shown.main_title, _review_col(paint, shown))
    out: dict[tuple[str, str], str] = {}
    for key in set(ours) | {k for k, v in shown.notes.items() if is_ours(v)}:
        current = shown.notes.get(key, "")
        if current and not is_ours(current):
            continue
        out[key] = compose_note("", ours.get(key))
    return out


def paint_requests(paint: Paint, sheet_ids: Mapping[str, int], shown: Shown) -> list[Request]:
    """The batchUpdate requests that make the spreadsheet show the paint: only what differs.

    An empty list means the school already sees exactly this paint: nothing is sent.
    """
    titles = list(sheet_ids)
    main_id = sheet_ids[shown.main_title]
    out: list[Request] = []
    if paint.control_col:
        changed = {
            row: control
            for row, control in paint.controls
            if shown.controls.get(row) != (control.value, control.fill)
        }
        for first, end in _runs(changed):
            rows = []
            for row in range(first, end + 1):
                control = changed[row]
                fmt = {"backgroundColor": rgb(control.fill)} if control.fill else {}
                rows.append({"values": [text_cell(control.value, **fmt)]})
            out.append(
                {
                    "updateCells": {
                        "range": cell_range(main_id, first, paint.control_col, end - first + 1),
                        "rows": rows,
                        "fields": "userEnteredValue,userEnteredFormat.backgroundColor",
                    }
                }
            )
    review_col = _review_col(paint, shown)
    if review_col:
        marks = {row: text for row, text in paint.reviews if shown.reviews.get(row, "") != text}
        for first, end in _runs(marks):
            # Text cells: a mark or anything else never becomes a formula; "" clears the cell.
            rows = [
                {"values": [text_cell(marks[row]) if marks[row] else {}]}
                for row in range(first, end + 1)
            ]
            out.append(
                {
                    "updateCells": {
                        "range": cell_range(main_id, first, review_col, end - first + 1),
                        "rows": rows,
                        "fields": "userEnteredValue",
                    }
                }
            )
    for (title, ref), note in sorted(wanted_notes(paint, titles, shown).items()):
        if shown.notes.get((title, ref), "") == note:
            continue
        row, col = parse_a1(ref)
        out.append(
            {
                "updateCells": {
                    "range": cell_range(sheet_ids[title], row, col),
                    "rows": [{"values": [{"note": note}]}],
                    "fields": "note",
                }
            }
        )
    return out


def shown_after(paint: Paint, shown: Shown, titles: Sequence[str]) -> Shown:
    """What the spreadsheet shows once the paint's requests are applied."""
    controls = dict(shown.controls)
    if paint.control_col:
        controls.update({row: (c.value, c.fill) for row, c in paint.controls})
    notes = dict(shown.notes)
    for key, text in wanted_notes(paint, titles, shown).items():
        if text:
            notes[key] = text
        else:
            notes.pop(key, None)
    review_col = _review_col(paint, shown)
    reviews = dict(shown.reviews)
    if review_col:
        for row, text in paint.reviews:
            if text:
                reviews[row] = text
            else:
                reviews.pop(row, None)
    return Shown(shown.main_title, paint.control_col, controls, notes, shown.review_col, reviews)


def _review_col(paint: Paint, shown: Shown) -> int | None:
    """The paint's «Отметка МОУО» column when the spreadsheet confirms it (`Shown.review_col`)."""
    return paint.review_col if paint.review_col and paint.review_col == shown.review_col else None


def review_rows(paint: Paint, shown: Shown) -> tuple[int, ...]:
    """The sheet rows whose «Отметка МОУО» the paint's requests set: none when the spreadsheet
    does not confirm the column (then nothing is written there and nothing may be recorded)."""
    if _review_col(paint, shown) is None:
        return ()
    return tuple(row for row, _text in paint.reviews)
