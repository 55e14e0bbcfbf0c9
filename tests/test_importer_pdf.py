"""import-plan of PDFs and scans made in the test run from the shared seed roadmaps.

Each seed is imported as text (the truth), written into a Word order (tests/seed_docs.py:
sections as bold rows merged across the table, the header repeated on every page), printed to PDF
by headless LibreOffice (a text layer, rows cut by page breaks) and rasterised by pdftoppm into a
scanned PDF or page images that only OCR can read.
"""

from __future__ import annotations

import csv
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sync.importer import (
    CHECK_COLUMN,
    CONFIDENCE_THRESHOLD,
    ImportResult,
    import_file,
    import_plan_command,
    summary,
)
from sync.importer.ocr_reader import find_tables
from sync.plan import load_plan
from tests.libreoffice import convert
from tests.seed_docs import write_order_docx

SEEDS = ("000", "001", "002", "004")
FIELDS = ("section", "no", "activity", "responsible", "deadline_text", "planned_result")


@pytest.fixture(scope="session")
def seed_path(shared_dir: Path) -> Callable[[str], Path]:
    def find(prefix: str) -> Path:
        found = sorted((shared_dir / "seeds").glob(f"{prefix}_*.txt"))
        assert found, f"seed {prefix}_*.txt not found"
        return found[0]

    return find


@pytest.fixture(scope="session")
def pdfs(
    seed_path: Callable[[str], Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[ImportResult, Path]]:
    """Per seed: the truth (the seed imported as text) and the PDF LibreOffice printed."""
    work = tmp_path_factory.mktemp("pdfs")
    out = {}
    for prefix in SEEDS:
        truth = import_file(seed_path(prefix))
        docx = write_order_docx(seed_path(prefix), truth, work / f"{prefix}.docx")
        out[prefix] = (truth, convert(docx, "pdf", work, work / "profile"))
    return out


def scan_pages(pdf: Path, out: Path, dpi: int = 300) -> list[Path]:
    """The PDF "printed and scanned": one greyscale PNG per page."""
    subprocess.run(
        ["pdftoppm", "-r", str(dpi), "-gray", "-png", str(pdf), str(out / pdf.stem)],
        check=True,
        capture_output=True,
    )
    return sorted(out.glob(f"{pdf.stem}-*.png"))


def scanned_pdf(pages: list[Path], target: Path, dpi: int = 300) -> Path:
    images = [Image.open(p) for p in pages]
    images[0].save(target, save_all=True, append_images=images[1:], resolution=dpi)
    return target


def distance(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


# --- a text layer --------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", SEEDS)
def test_text_pdf_gives_every_cell_of_the_seed(
    pdfs: dict[str, tuple[ImportResult, Path]], prefix: str
):
    truth, pdf = pdfs[prefix]
    result = import_file(pdf)
    assert result.found_table
    assert not result.recognised
    assert result.period == truth.period
    assert result.sections == truth.sections
    assert [(i.section, i.no) for i in result.items] == [(i.section, i.no) for i in truth.items]
    loose = 0
    for want, got in zip(truth.items, result.items, strict=True):
        for field in FIELDS:
            a, b = getattr(want, field), getattr(got, field)
            # Every character right; a space lost or added where a word wrapped is the only
            # difference allowed, and it must stay rare.
            assert a.replace(" ", "") == b.replace(" ", ""), (want.no, field, a, b)
            loose += a != b
        assert got.deadline == want.deadline and got.due == want.due
        assert got.audience is want.audience
    assert loose <= len(truth.items) * len(FIELDS) // 50, loose
    assert result.unplaced == []


def test_text_pdf_rows_cut_by_page_breaks_are_joined(pdfs: dict[str, tuple[ImportResult, Path]]):
    truth, pdf = pdfs["000"]
    import pdfplumber

    with pdfplumber.open(str(pdf)) as doc:
        assert len(doc.pages) >= 3  # the table runs over pages: the case is really there
        headers = sum(
            1 for p in doc.pages if "Мероприятие" in (p.extract_text() or "") and p.find_tables()
        )
    result = import_file(pdf)
    assert any(f"строки заголовков на новых страницах: {headers - 1}" in n for n in result.notes)
    assert [i.activity for i in result.items] == [i.activity for i in truth.items]
    # The reader joined the cut rows itself: nothing was left for the importer to guess about.
    assert not any("разрыв" in u for u in result.unsure)


def test_command_writes_the_plan_of_a_text_pdf(
    pdfs: dict[str, tuple[ImportResult, Path]], tmp_path: Path
):
    truth, pdf = pdfs["002"]
    out = tmp_path / "plan.tsv"
    code, text = import_plan_command(pdf, out, None)
    assert code == 0, text
    assert "Мероприятий: 20" in text and "Период: 2021-09-01..2022-08-31" in text
    assert "распознан" not in text
    assert truth.period is not None
    assert list(load_plan(out, truth.period).items) == truth.items


def test_pdf_table_without_lines_is_read_from_its_spaced_text(tmp_path: Path):
    from docx import Document

    doc = Document()
    doc.add_paragraph("Приказ от 01.09.2021. План мероприятий на 2021-2022 учебный год")
    table = doc.add_table(rows=1, cols=4)  # python-docx's default table: no borders
    for cell, name in zip(
        table.rows[0].cells, ["№", "Мероприятие", "Срок", "Ответственный"], strict=False
    ):
        cell.text = name
    for row in (
        ["1.", "Совещание директоров", "Сентябрь 2021 г.", "МОУО"],
        ["2.", "Отчёт школ", "Май 2022 г.", "ОО"],
    ):
        for cell, value in zip(table.add_row().cells, row, strict=True):
            cell.text = value
    doc.save(str(tmp_path / "plain.docx"))
    pdf = convert(tmp_path / "plain.docx", "pdf", tmp_path, tmp_path / "profile")
    result = import_file(pdf)
    assert [(i.no, i.activity, i.deadline_text, i.responsible) for i in result.items] == [
        ("1", "Совещание директоров", "Сентябрь 2021 г.", "МОУО"),
        ("2", "Отчёт школ", "Май 2022 г.", "ОО"),
    ]


# --- scans ---------------------------------------------------------------------------------


def _accuracy(truth: ImportResult, result: ImportResult, field: str) -> float:
    right = total = 0
    for want, got in zip(truth.items, result.items, strict=True):
        a, b = getattr(want, field), getattr(got, field)
        total += len(a)
        right += max(0, len(a) - distance(a, b))
    return right / total if total else 1.0


def test_scanned_pdf_through_ocr(pdfs: dict[str, tuple[ImportResult, Path]], tmp_path: Path):
    truth, pdf = pdfs["000"]  # sections, five pages, rows cut by page breaks
    scan = scanned_pdf(scan_pages(pdf, tmp_path), tmp_path / "scan.pdf")
    import pdfplumber

    with pdfplumber.open(str(scan)) as doc:
        assert sum(len(p.chars) for p in doc.pages) == 0  # no text layer at all
    out = tmp_path / "plan.tsv"
    code, text = import_plan_command(scan, out, None)
    assert code == 0, text
    result = import_file(scan)
    assert result.recognised
    assert result.period == truth.period  # the order's date and "до 2024 года", read by OCR
    assert result.sections == truth.sections
    assert len(result.items) == len(truth.items)
    # A number OCR got wrong must not pass unseen: its row is below the threshold, «проверьте».
    checked = {id(i) for i, _ in result.to_check}
    for want, got in zip(truth.items, result.items, strict=True):
        assert got.no == want.no or id(got) in checked, (want.no, got.no)
    for field in ("activity", "responsible", "deadline_text", "planned_result"):
        assert _accuracy(truth, result, field) >= 0.95, field
    assert len(result.confidence) == len(result.items)
    assert all(c is not None and 0 <= c <= 100 for c in result.confidence)
    assert "Текст распознан с изображения" in text

    with out.open(encoding="utf-8") as f:
        rows = list(csv.reader(f, delimiter="\t"))
    assert rows[0][0] == CHECK_COLUMN
    flagged = {(r[1], r[2]) for r in rows[1:] if r[0].startswith("проверьте")}
    assert flagged == {(i.section, i.no) for i, _ in result.to_check}
    assert result.period is not None
    assert [i.activity for i in load_plan(out, result.period).items] == [
        i.activity for i in result.items
    ]


def test_scanned_page_images_and_a_smudged_row_to_check(
    pdfs: dict[str, tuple[ImportResult, Path]], tmp_path: Path
):
    _truth, pdf = pdfs["001"]
    pages = scan_pages(pdf, tmp_path)
    first = Image.open(pages[1] if len(pages) > 1 else pages[0]).convert("L")
    # A bad photocopy of one row: blurred down to a quarter of the resolution, speckled.
    ink = np.asarray(first) < 140
    table = find_tables(ink)[0]
    top, bottom = table.rows[3], table.rows[4]
    pixels = np.array(first)
    band = Image.fromarray(pixels[top + 3 : bottom - 2])
    small = band.resize((band.width // 5, max(1, band.height // 5)))
    pixels[top + 3 : bottom - 2] = np.asarray(small.resize(band.size))
    rng = np.random.default_rng(7)
    noise = rng.random(pixels[top + 3 : bottom - 2].shape) < 0.04
    pixels[top + 3 : bottom - 2][noise] = 0
    image = tmp_path / "page.tiff"
    Image.fromarray(pixels).save(image, dpi=(300, 300))

    result = import_file(image)
    assert result.recognised
    assert len(result.items) >= 3
    by_no = {i.no: c for i, c in zip(result.items, result.confidence, strict=True)}
    clean = [c for no, c in by_no.items() if c is not None and c >= CONFIDENCE_THRESHOLD]
    assert clean, by_no  # the untouched rows read confidently
    assert result.to_check, by_no  # the smudged row is listed
    worst = min(c for c in result.confidence if c is not None)
    assert worst < CONFIDENCE_THRESHOLD
    text = summary(result)
    assert "Проверьте (" in text and f"{worst:.0f}%" in text
    # Without a period in the page (the order's first page is not there): asked for, not guessed.
    code, message = import_plan_command(image, tmp_path / "plan.xlsx", None)
    if result.period is None:
        assert code == 1 and "--period" in message
    else:
        assert code == 0


def test_scan_without_tesseract_says_how_to_install_it(
    pdfs: dict[str, tuple[ImportResult, Path]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    _, pdf = pdfs["001"]
    pages = scan_pages(pdf, tmp_path, dpi=100)
    image = tmp_path / "scan.png"
    Image.open(pages[0]).save(image)
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))  # a machine without Tesseract
    code, text = import_plan_command(image, tmp_path / "plan.tsv", None)
    assert code == 2
    assert "Tesseract" in text and "tesseract-ocr-rus" in text
    assert "Traceback" not in text
    assert not re.search(r"[A-Za-z]+Error", text)
    assert not (tmp_path / "plan.tsv").exists()


def test_a_skewed_scan_is_turned_straight(
    pdfs: dict[str, tuple[ImportResult, Path]], tmp_path: Path
):
    truth, pdf = pdfs["002"]
    pages = scan_pages(pdf, tmp_path)
    page = Image.open(pages[1]).convert("L")  # a page of the table alone
    skewed = tmp_path / "skewed.jpg"
    page.rotate(-1.4, resample=Image.Resampling.BICUBIC, fillcolor=255).save(
        skewed, dpi=(300, 300), quality=85
    )
    result = import_file(skewed, truth.period)
    assert len(result.items) >= 2
    numbers = [i.no for i in truth.items]
    assert [i.no for i in result.items] == numbers[
        numbers.index(result.items[0].no) : numbers.index(result.items[0].no) + len(result.items)
    ]
    wanted = {i.no: i for i in truth.items}
    for got in result.items[:-1]:  # the page's last row may go on over the next page
        want = wanted[got.no]
        assert distance(want.activity, got.activity) <= max(3, len(want.activity) // 20)


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("broken.png", lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n not really")),
        ("broken.pdf", lambda p: p.write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog >>\n%%EOF")),
        ("blank.png", lambda p: Image.new("L", (1240, 1754), 255).save(p)),
        (
            "noise.tif",
            lambda p: Image.fromarray(
                (np.random.default_rng(3).random((900, 700)) < 0.5).astype(np.uint8) * 255
            ).save(p),
        ),
    ],
)
def test_hostile_pictures_and_pdfs(tmp_path: Path, name: str, make: Callable[[Path], None]):
    path = tmp_path / name
    make(path)
    out = tmp_path / "plan.tsv"
    code, text = import_plan_command(path, out, None)
    assert code in (1, 2), text
    assert name in text
    assert "Traceback" not in text
    assert not out.exists()


def test_searchable_scan_is_read_from_its_picture(
    pdfs: dict[str, tuple[ImportResult, Path]], tmp_path: Path
):
    """A scanner's "searchable PDF": the page image with Tesseract's own hidden text under it
    (no ruling lines in the text layer, so no table there)."""
    truth, pdf = pdfs["001"]
    page = scan_pages(pdf, tmp_path)[1]
    subprocess.run(
        ["tesseract", str(page), str(tmp_path / "searchable"), "-l", "rus", "pdf"],
        check=True,
        capture_output=True,
    )
    searchable = tmp_path / "searchable.pdf"
    import pdfplumber

    with pdfplumber.open(str(searchable)) as doc:
        assert len(doc.pages[0].chars) > 100  # the hidden text is there
    result = import_file(searchable, truth.period)
    assert result.recognised
    assert any("скан с распознанным текстом" in n for n in result.notes)
    numbers = [i.no for i in truth.items]
    got = [i.no for i in result.items]
    assert len(got) >= 3 and set(got) <= set(numbers)
