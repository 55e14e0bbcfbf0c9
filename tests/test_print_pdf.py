"""Print the master and a school's workbook to PDF with headless LibreOffice and look at the pages.

From the PDF's words and their boxes (poppler's `pdftotext -bbox`): no cell text is clipped
(text cut by a row too short or a column too narrow is drawn over the next cell's text, so two
words' boxes overlap; a line LibreOffice drops shows as letters missing from the page), and
every page carries the workbook's title and «Страница N из M».
"""

from __future__ import annotations

import html
import re
import subprocess
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import pytest

from sync.builders import master_xlsx
from sync.builders.master_xlsx import write_master_xlsx
from sync.config import Config
from sync.consolidate import Master, MasterSheet, consolidate
from sync.demo import make_demo
from sync.distribute import distribute
from sync.pipeline import load_context, run
from tests.fixtures import municipality
from tests.libreoffice import convert

TODAY = date(2022, 1, 10)


@dataclass(frozen=True)
class Word:
    x0: float
    y0: float
    x1: float
    y1: float
    text: str


def pdf_pages(pdf: Path) -> list[list[Word]]:
    out = subprocess.run(
        ["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    pages = []
    for page in re.findall(r"<page [^>]*>(.*?)</page>", out, re.S):
        words = re.findall(
            r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">(.*?)</word>',
            page,
        )
        pages.append([Word(*map(float, w[:4]), html.unescape(w[4])) for w in words])
    return pages


def overlapping(words: list[Word]) -> list[tuple[str, str]]:
    """Pairs of words drawn over each other (more than a fifth of the smaller one covered)."""
    found = []
    ordered = sorted(words, key=lambda w: w.y0)
    for i, a in enumerate(ordered):
        for b in ordered[i + 1 :]:
            if b.y0 >= a.y1:
                break
            w = min(a.x1, b.x1) - max(a.x0, b.x0)
            h = min(a.y1, b.y1) - max(a.y0, b.y0)
            if w > 0.5 and h > 0.5:
                smaller = min((a.x1 - a.x0) * (a.y1 - a.y0), (b.x1 - b.x0) * (b.y1 - b.y0))
                if w * h > 0.2 * smaller:
                    found.append((a.text, b.text))
    return found


def letters(texts: list[str]) -> Counter[str]:
    return Counter(c for t in texts for c in t if c.isalpha())


def printed_columns(sheet: MasterSheet) -> list[int]:
    """The columns paper shows: the first print_columns (all when None), hidden ones left out."""
    n = len(sheet.headers) if sheet.print_columns is None else sheet.print_columns
    return [c for c in range(n) if c not in sheet.hidden_columns]


def master_letters(master: Master) -> Counter[str]:
    """Every letter of every printed text cell (and header) of the master's tables."""
    texts = []
    for s in master.sheets:
        cols = printed_columns(s)
        texts += [s.headers[c] for c in cols]
        texts += [row[c] for row in s.rows for c in cols if isinstance(row[c], str)]
    return letters(texts)


def check_pages(pdf: Path, title: str) -> tuple[list[list[Word]], dict[int, list[tuple[str, str]]]]:
    pages = pdf_pages(pdf)
    assert pages
    clipped = {}
    for n, words in enumerate(pages, start=1):
        text = " ".join(w.text for w in words)
        assert title[:30] in text, f"page {n} has no title"
        assert f"Страница {n} из {len(pages)}" in text, f"page {n} has no page number"
        found = overlapping(words)
        if found:
            clipped[n] = found
    return pages, clipped


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Config, Master]:
    """The demo municipality (real plan texts, long activity names) after one run."""
    config = make_demo(tmp_path_factory.mktemp("print") / "demo", 8)
    run(config, today=TODAY)
    spec, plan = load_context(config)
    result = run(config, today=TODAY)
    master = consolidate(
        result.reports,
        plan,
        spec,
        TODAY,
        config.municipality,
        as_of=datetime(2022, 1, 10, 6, 30),
    )
    return config, master


@pytest.fixture(scope="module")
def printed(demo: tuple[Config, Master], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo master printed to PDF by LibreOffice."""
    _config, master = demo
    tmp_path = tmp_path_factory.mktemp("printed")
    path = tmp_path / "Свод.xlsx"
    write_master_xlsx(master, path)
    return convert(path, "pdf", tmp_path / "pdf", tmp_path / "lo")


def test_master_prints_whole_with_title_and_page_numbers(
    demo: tuple[Config, Master], printed: Path
) -> None:
    _config, master = demo
    pages, clipped = check_pages(printed, master.title)
    assert clipped == {}
    # Every letter of every cell is on paper (a line cut off would be missing).
    printed = letters([w.text for page in pages for w in page])
    missing = master_letters(master) - printed
    assert not missing, missing
    # Every sheet printed, each page's header naming its sheet.
    names = {page[-1].text for page in pages if page} | {
        w.text for page in pages for w in page if w.y0 < 40
    }
    assert {word for s in master.sheets for word in s.name.split()} <= names  # «На проверке»
    # Text stays readable: nothing printed smaller than 8 pt (word box height ~ font size).
    body = [w for page in pages for w in page if 40 < w.y0 < 540]
    assert min(w.y1 - w.y0 for w in body) >= 7.5


def sheet_pages(pages: list[list[Word]], name: str) -> list[list[Word]]:
    """The pages of one sheet: the page header names the sheet top right."""
    return [p for p in pages if any(w.text == name and w.y0 < 40 for w in p)]


def rows_on_page(page: list[Word], first: str, last: str) -> dict[float, list[str]]:
    """Words of one column by line: the column runs from header word `first` to header word
    `last` (cells are top-aligned, so the first lines of a row's cells share y)."""
    start = next(w for w in page if w.text == first)
    end = next(w for w in page if w.text == last and abs(w.y0 - start.y0) < 15)
    header_bottom = max(w.y1 for w in page if abs(w.y0 - start.y0) < 15 and w.x0 >= start.x0)
    found: dict[float, list[str]] = {}
    for w in sorted(page, key=lambda w: (w.y0, w.x0)):
        if start.x0 - 3 <= w.x0 < end.x0 - 3 and w.y0 > header_bottom + 1 and w.y0 < 540:
            found.setdefault(round(w.y0), []).append(w.text)
    return found


def first_lines(column: dict[float, list[str]], rows: list[float]) -> dict[float, str]:
    """For each row top, the column's words on that line (within 1.5 pt)."""
    return {
        y: " ".join(w for yy, ws in column.items() if abs(yy - y) <= 1.5 for w in ws) for y in rows
    }


@pytest.mark.parametrize("name", ["Мероприятия", "Просрочено"])
def test_each_printed_row_shows_deadline_status_control_and_mark(
    demo: tuple[Config, Master], printed: Path, name: str
) -> None:
    # Every printed page of the row sheets holds, for each row on it, the school, the activity,
    # its deadline, status, «Контроль» and the review mark: one page across, no column bands.
    _config, master = demo
    sheet = master.sheet(name)
    pages = sheet_pages(pdf_pages(printed), name)
    assert pages
    head = ("Школа", "№", "Мероприятие", "Сроки", "Срок", "Статус", "Контроль", "Отметка")
    controls = []
    for n, page in enumerate(pages, start=1):
        texts = {w.text for w in page}
        assert set(head) <= texts, (name, n, set(head) - texts)
        assert "Ключ" not in texts  # the hidden row key is not printed
        control = rows_on_page(page, "Контроль", "Отметка")
        rows = sorted(control)  # every row has a «Контроль» value: one top line per row
        school = first_lines(rows_on_page(page, "Школа", "№"), rows)
        deadline = first_lines(rows_on_page(page, "Сроки", "Срок"), rows)
        for y in rows:
            assert school[y] and deadline[y], (name, n, y, school[y], deadline[y])
        controls += [" ".join(control[y]) for y in rows]
    # Each row of the sheet printed once, with its own «Контроль» beside its deadline.
    want = [str(r[sheet.headers.index("Контроль")]) for r in sheet.rows]
    assert controls == want


def test_rows_too_short_are_caught(
    demo: tuple[Config, Master], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The check above can fail: rows left one line high cut the wrapped activities.
    _config, master = demo
    monkeypatch.setattr(master_xlsx, "_lines_pt", lambda lines, line=12.75: line + 1)
    path = tmp_path / "Свод.xlsx"
    write_master_xlsx(master, path)
    pdf = convert(path, "pdf", tmp_path / "pdf", tmp_path / "lo")
    pages, clipped = check_pages(pdf, master.title)
    printed = letters([w.text for page in pages for w in page])
    assert clipped or master_letters(master) - printed


def test_school_workbook_prints_whole_with_title_and_page_numbers(tmp_path: Path) -> None:
    config = municipality(tmp_path)
    distribute(config, built_at=datetime(2021, 9, 1))
    school = config.schools[0]
    pdf = convert(Path(school.source), "pdf", tmp_path / "pdf", tmp_path / "lo")
    pages, clipped = check_pages(pdf, f"Дорожная карта: {school.name}")
    assert clipped == {}
    spec, plan = load_context(config)
    texts = [c.header for c in spec.columns]
    texts += [i.activity for i in plan.for_audience(school.audience)]
    missing = letters(texts) - letters([w.text for page in pages for w in page])
    assert not missing, missing
