"""Read a scanned roadmap (a PDF of page images, or PNG/JPEG/TIFF) through Tesseract OCR.

Each page is rasterised (pypdfium2, the PDF engine pdfplumber already brings) at 300 dpi and
turned to black and white. The table's ruling lines are found with numpy: a horizontal line is a
long run of ink in a pixel row; between two horizontal lines, a vertical line is a pixel column
inked over nearly the whole band, so a cell merged across the table (a section title) simply has
no vertical lines inside its band. The lines are then painted out and every cell is cropped to
its own image; all the cells of the document go through one Tesseract process (a list of images,
TSV output with a confidence for every word), and so does the text around the tables (the order's
prose, for the period). Cells become lines (sync.importer.layout) with the words' confidence,
rows are assembled exactly as for a PDF with a text layer.

Tesseract is an outside program (Debian: tesseract-ocr, tesseract-ocr-rus); without it the
reader raises OcrUnavailable with a Russian message saying how to install it.
"""

from __future__ import annotations

import csv
import io
import itertools
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sync.importer.layout import Line, PageRow, assemble
from sync.importer.types import Block

DPI = 300
SINGLE_LINE = 60  # pixels at 300 dpi: ink no taller than this is one line of text
LANGUAGE = "rus"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")

INSTALL_HINT = (
    "Для распознавания сканов нужна программа Tesseract с русским языком. "
    "Debian/Ubuntu: «sudo apt-get install tesseract-ocr tesseract-ocr-rus» "
    "(или «bash scripts/system-deps»); Windows: установщик Tesseract от UB Mannheim "
    "(github.com/UB-Mannheim/tesseract/wiki), при установке отметьте язык «Russian» и добавьте "
    "папку Tesseract в PATH; macOS: «brew install tesseract tesseract-lang». "
    "Или импортируйте документ с текстом (.docx, PDF с текстовым слоем)."
)


class OcrUnavailable(Exception):
    """Tesseract (or its Russian language) is missing; the message is Russian."""


def tesseract() -> str:
    """The tesseract executable with Russian installed, or OcrUnavailable."""
    exe = shutil.which("tesseract")
    if exe is None:
        raise OcrUnavailable("Tesseract не найден. " + INSTALL_HINT)
    try:
        listed = subprocess.run(
            [exe, "--list-langs"], capture_output=True, text=True, timeout=60
        ).stdout
    except (OSError, subprocess.SubprocessError) as e:
        raise OcrUnavailable(f"Tesseract не запускается ({e}). " + INSTALL_HINT) from None
    if LANGUAGE not in listed.split():
        raise OcrUnavailable("У Tesseract нет русского языка (rus). " + INSTALL_HINT)
    return exe


# --- pages -----------------------------------------------------------------------------------


def page_images(path: Path) -> list[Any]:
    """The document's pages as greyscale PIL images at about DPI."""
    from PIL import Image, ImageSequence

    if path.suffix.lower() == ".pdf":
        import pypdfium2 as pdfium

        pdf = pdfium.PdfDocument(str(path))
        try:
            return [page.render(scale=DPI / 72).to_pil().convert("L") for page in pdf]
        finally:
            pdf.close()
    with Image.open(path) as image:
        pages = []
        for frame in ImageSequence.Iterator(image):
            page = frame.convert("L")
            dpi = frame.info.get("dpi", (DPI, DPI))[0] or DPI
            if dpi and abs(dpi - DPI) > 30 and 50 <= dpi <= 1200:  # photos: bring to 300 dpi
                page = page.resize((round(page.width * DPI / dpi), round(page.height * DPI / dpi)))
            pages.append(page)
        return pages


def ink_level(grey: Any) -> int:
    """The grey level below which a pixel is ink (Otsu's threshold, kept within sane bounds)."""
    import numpy as np

    hist = np.bincount(grey.ravel(), minlength=256).astype(np.float64)
    total = hist.sum()
    if total == 0:
        return 140
    levels = np.arange(256)
    weight = np.cumsum(hist)
    mean = np.cumsum(hist * levels)
    between = (mean[-1] * weight - mean * total) ** 2 / np.maximum(weight * (total - weight), 1)
    return int(min(200, max(90, int(np.argmax(between)) + 1)))


def deskew(page: Any) -> Any:
    """The page turned straight: a scan is rarely put on the glass at exactly 0°.

    The angle (within ±3°, to 0.1°) is the one that makes the rows of ink sharpest: the
    horizontal projection of a straight page has the highest variance (text lines and ruling
    lines fall into few pixel rows). Measured on a quarter-size copy.
    """
    import numpy as np
    from PIL import Image

    small = page.resize((max(1, page.width // 4), max(1, page.height // 4)))
    dark = Image.fromarray(((np.asarray(small) < 160) * 255).astype(np.uint8))

    def sharpness(angle: float) -> float:
        turned = np.asarray(dark.rotate(angle, resample=Image.Resampling.NEAREST, fillcolor=0))
        return float(turned.sum(axis=1, dtype=np.float64).var())

    coarse = max((a / 2 for a in range(-6, 7)), key=sharpness)  # ±3° by 0.5°
    best = max((coarse + a / 10 for a in range(-4, 5)), key=sharpness)  # then by 0.1°
    if abs(best) < 0.1 or sharpness(best) < sharpness(0.0) * 1.05:
        return page  # straight already: turning it would only slant its lines
    return page.rotate(best, resample=Image.Resampling.BICUBIC, expand=False, fillcolor=255)


@dataclass
class _Table:
    rows: list[int]  # y of each horizontal line, top to bottom
    columns: list[int]  # x of each vertical line that occurs anywhere in the table
    x0: int
    x1: int
    # per band (between rows[i] and rows[i+1]): the indexes into columns present in that band
    present: list[list[int]]


def _runs(mask: Any, length: int) -> Any:
    """Per pixel row: whether it holds a run of at least `length` inked pixels."""
    import numpy as np

    c = np.zeros((mask.shape[0], mask.shape[1] + 1), dtype=np.int32)
    np.cumsum(mask, axis=1, out=c[:, 1:])
    return ((c[:, length:] - c[:, :-length]) == length).any(axis=1)


def _clusters(values: list[int], gap: int) -> list[list[int]]:
    groups: list[list[int]] = []
    for v in sorted(values):
        if groups and v - groups[-1][-1] <= gap:
            groups[-1].append(v)
        else:
            groups.append([v])
    return groups


def find_tables(ink: Any) -> list[_Table]:
    """Tables from ruling lines: horizontal runs, then the vertical lines inside each band."""
    import numpy as np

    _height, width = ink.shape
    min_run = max(40, width // 8)
    rows_with_run = np.nonzero(_runs(ink, min_run))[0].tolist()
    lines = []
    for group in _clusters(rows_with_run, 3):
        y = group[len(group) // 2]
        band = ink[group[0] : group[-1] + 1].any(axis=0)
        xs = np.nonzero(band)[0]
        lines.append((y, int(xs[0]), int(xs[-1])))
    # Lines of one table share their left and right ends.
    tables: list[_Table] = []
    used = [False] * len(lines)
    for i, (_, x0, x1) in enumerate(lines):
        if used[i] or x1 - x0 < width * 0.3:
            continue
        members = [
            j
            for j, (_, a, b) in enumerate(lines)
            if not used[j] and abs(a - x0) <= 12 and abs(b - x1) <= 12
        ]
        if len(members) < 2:
            continue
        for j in members:
            used[j] = True
        ys = [lines[j][0] for j in members]
        tables.append(_table(ink, ys, x0, x1))
    return [t for t in tables if len(t.columns) >= 2]


def _table(ink: Any, ys: list[int], x0: int, x1: int) -> _Table:
    import numpy as np

    found: list[list[int]] = []
    for top, bottom in itertools.pairwise(ys):
        inner = ink[top + 4 : bottom - 3, max(0, x0 - 3) : x1 + 4]
        if inner.shape[0] < 6:
            found.append([])
            continue
        # a line a pixel or two off the vertical (a scan turned straight) still counts
        wide = inner.copy()
        for shift in (1, 2):
            wide[:, shift:] |= inner[:, :-shift]
            wide[:, :-shift] |= inner[:, shift:]
        share = wide.mean(axis=0)
        # a line two or three pixels wide: take the best of neighbouring columns
        xs = np.nonzero(share >= 0.9)[0] + max(0, x0 - 3)
        found.append([g[len(g) // 2] for g in _clusters(xs.tolist(), 4)])
    columns = [g[len(g) // 2] for g in _clusters(sorted(x for band in found for x in band), 10)]
    present = [
        sorted({min(range(len(columns)), key=lambda k: abs(columns[k] - x)) for x in band})
        for band in found
    ]
    return _Table(rows=ys, columns=columns, x0=x0, x1=x1, present=present)


# --- OCR -------------------------------------------------------------------------------------


@dataclass
class _Crop:
    page: int
    box: tuple[int, int, int, int]  # left, top, right, bottom on the page
    image: Any
    single: bool = False  # one line of text
    offset: int = 0  # where the image starts, from the cell's left edge (x)


def _erase_lines(grey: Any, ink: Any, tables: list[_Table]) -> Any:
    """The page with the tables' ruling lines painted white (their pixels confuse OCR)."""
    import numpy as np

    clean = np.array(grey)
    for t in tables:
        for y in t.rows:
            span = slice(max(0, y - 4), y + 5)
            clean[span, t.x0 - 2 : t.x1 + 3][ink[span, t.x0 - 2 : t.x1 + 3]] = 255
        for b, (top, bottom) in enumerate(zip(t.rows, t.rows[1:], strict=False)):
            for k in t.present[b]:  # only where the line is: merged cells keep their text
                x = t.columns[k]
                clean[top : bottom + 1, max(0, x - 4) : x + 5] = 255
    return clean


def _run_tesseract(exe: str, images: list[Any], psm: int) -> list[list[dict[str, Any]]]:
    """One Tesseract process for many images: per image, its words (text, box, confidence)."""
    if not images:
        return []
    with tempfile.TemporaryDirectory(prefix="roadmap-ocr-") as tmp:
        names = []
        for n, image in enumerate(images):
            name = Path(tmp) / f"{n:05d}.png"
            image.save(name)
            names.append(str(name))
        listing = Path(tmp) / "images.txt"
        listing.write_text("\n".join(names) + "\n", encoding="utf-8")
        done = subprocess.run(
            [exe, str(listing), "stdout", "-l", LANGUAGE, "--psm", str(psm), "tsv"],
            capture_output=True,
            timeout=60 + 10 * len(images),
        )
    if done.returncode != 0:
        raise OcrUnavailable(
            "Tesseract завершился с ошибкой: "
            + done.stderr.decode("utf-8", "replace").strip()[-300:]
        )
    words: list[list[dict[str, Any]]] = [[] for _ in images]
    reader = csv.DictReader(
        io.StringIO(done.stdout.decode("utf-8", "replace")), delimiter="\t", quoting=csv.QUOTE_NONE
    )
    for row in reader:
        try:
            page = int(row["page_num"]) - 1
            conf = float(row["conf"])
        except (KeyError, TypeError, ValueError):
            continue
        text = (row.get("text") or "").strip()
        if conf < 0 or not text or not 0 <= page < len(words):
            continue
        words[page].append(
            {
                "text": text,
                "conf": conf,
                "left": int(row["left"]),
                "top": int(row["top"]),
                "width": int(row["width"]),
                "height": int(row["height"]),
                "line": (row["block_num"], row["par_num"], row["line_num"]),
            }
        )
    return words


def _lines_of(words: list[dict[str, Any]], right: int) -> list[Line]:
    """Words of one image as lines (Tesseract's own line grouping), with their confidence."""
    grouped: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for w in words:
        grouped.setdefault(w["line"], []).append(w)
    lines = []
    for ws in sorted(grouped.values(), key=lambda ws: min(w["top"] for w in ws)):
        ws.sort(key=lambda w: w["left"])
        text = " ".join(w["text"] for w in ws)
        first = ws[0]
        lines.append(
            Line(
                text,
                float(right - (ws[-1]["left"] + ws[-1]["width"])),
                first["width"] / max(1, len(first["text"])),
                confidence=sum(w["conf"] for w in ws) / len(ws),
            )
        )
    return lines


def read_scan(path: Path) -> list[Block]:
    """Prose and table rows of a scanned document, each table row with its OCR confidence."""
    import numpy as np
    from PIL import Image

    exe = tesseract()
    crops: list[_Crop] = []
    prose_pages = []
    # per page: its tables and, per table and band, (left edge, crop index or -1) of each cell
    layout: list[tuple[int, list[_Table], list[list[list[tuple[int, int]]]]]] = []
    for number, page in enumerate(page_images(Path(path)), start=1):
        page = deskew(page)
        grey = np.asarray(page)
        level = ink_level(grey)
        ink = grey < level
        tables = find_tables(ink)
        clean = _erase_lines(grey, ink, tables)
        cells_of_page: list[list[list[tuple[int, int]]]] = []
        for t in tables:
            bands = []
            for b, (top, bottom) in enumerate(zip(t.rows, t.rows[1:], strict=False)):
                cuts = [t.columns[k] for k in t.present[b]] or [t.x0, t.x1]
                if cuts[0] - t.x0 > 15:
                    cuts.insert(0, t.x0)
                if t.x1 - cuts[-1] > 15:
                    cuts.append(t.x1)
                indexes = []
                for left, right in itertools.pairwise(cuts):
                    box = (left + 5, top + 5, right - 4, bottom - 4)
                    if box[2] - box[0] < 8 or box[3] - box[1] < 8:
                        indexes.append(-1)
                        continue
                    region = clean[box[1] : box[3], box[0] : box[2]]
                    if not (region < level).any():
                        indexes.append(-1)  # an empty cell: nothing to read
                        continue
                    rows_inked = np.nonzero((region < level).any(axis=1))[0]
                    single = rows_inked[-1] - rows_inked[0] < SINGLE_LINE * DPI / 300
                    image = Image.fromarray(np.pad(region, 20, constant_values=255))
                    crops.append(_Crop(number, box, image, single, -20))
                    indexes.append(len(crops) - 1)
                bands.append(list(zip(cuts[:-1], indexes, strict=True)))
            cells_of_page.append(bands)
        outside = clean.copy()
        for t in tables:
            outside[max(0, t.rows[0] - 6) : t.rows[-1] + 7, max(0, t.x0 - 6) : t.x1 + 7] = 255
        prose_pages.append(Image.fromarray(outside))
        layout.append((number, tables, cells_of_page))

    # A one-line cell (a number, a date, "МОУО") reads better as one line (psm 7) than as a block.
    single = [k for k, c in enumerate(crops) if c.single]
    block = [k for k, c in enumerate(crops) if not c.single]
    cell_words: list[list[dict[str, Any]]] = [[] for _ in crops]
    for ks, psm in ((single, 7), (block, 6)):
        for k, words in zip(
            ks, _run_tesseract(exe, [crops[k].image for k in ks], psm), strict=True
        ):
            cell_words[k] = words
    prose_words = _run_tesseract(exe, prose_pages, psm=4)
    _fix_case([*cell_words, *prose_words])

    items: list[tuple[int, float, str | PageRow]] = []
    for (number, tables, cells_of_page), words in zip(layout, prose_words, strict=True):
        for line in _prose_lines(words):
            items.append((number, line[0], line[1]))
        for t, bands in zip(tables, cells_of_page, strict=True):
            for b, band in enumerate(bands):
                row = PageRow([], page=number, last_page=number)
                for left in t.columns[:-1] or [t.x0]:  # each grid column's left edge
                    k = next((k for x, k in band if abs(x - left) <= 10), None)
                    if k is None:  # covered by the cell to its left: merged across
                        row.merged.add(len(row.cells))
                        row.cells.append([])
                        continue
                    if k < 0:
                        row.cells.append([])
                        continue
                    crop = crops[k]
                    width = crop.box[2] - crop.box[0] - crop.offset  # the cell's right edge
                    row.cells.append(_lines_of(cell_words[k], width))
                items.append((number, float(t.rows[b]), row))
    items.sort(key=lambda x: (x[0], x[1]))
    return assemble(items)


def _prose_lines(words: list[dict[str, Any]]) -> list[tuple[float, str]]:
    grouped: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for w in words:
        grouped.setdefault(w["line"], []).append(w)
    out = []
    for ws in grouped.values():
        ws.sort(key=lambda w: w["left"])
        out.append((float(min(w["top"] for w in ws)), " ".join(w["text"] for w in ws)))
    return sorted(out)


# Cyrillic capitals drawn like their small letters: Tesseract often reads "низкими" as "НИЗКИМИ".
_SAME_SHAPE = frozenset("ВЗИЙКМНОПСТХШЩЪЬЫЭЮЯЖЛЕЁ")


def _fix_case(pages: list[list[dict[str, Any]]]) -> None:
    """Lower a capitalised word whose letters look alike in both cases when the document
    writes the same word in small letters elsewhere (abbreviations such as «МСОКО» stay)."""
    small = {
        w["text"].strip(".,;:()«»").lower()
        for words in pages
        for w in words
        if w["text"].strip(".,;:()«»")[1:].islower()
    }
    for words in pages:
        for i, w in enumerate(words):
            core = w["text"].strip(".,;:()«»")
            if not core.isupper() or not set(core) <= _SAME_SHAPE:
                continue
            between = (
                0 < i < len(words) - 1
                and words[i - 1]["line"] == w["line"] == words[i + 1]["line"]
                and words[i - 1]["text"][-1:].islower()
                and words[i + 1]["text"][:1].islower()
            )
            if (
                (len(core) >= 3 and core.lower() in small)
                or (len(core) == 1 and between)  # "школ С низкими"
                or core[0] in "ЬЫЪ"
                or core[:2] == "ЛЬ"  # the end of a broken word: no word starts so
            ):
                w["text"] = w["text"].replace(core, core.lower())
