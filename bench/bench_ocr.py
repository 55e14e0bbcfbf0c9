"""Accuracy (and time) of import-plan on PDFs and scans made from the shared seed roadmaps.

For every seed in ../shared/seeds: the seed is imported as text (the truth), written into a Word
order (tests/seed_docs.py), printed to PDF by headless LibreOffice, and that PDF rasterised by
pdftoppm at the given resolutions into a scanned PDF (page images only). Each document goes
through `sync.importer.import_file`; per field the table shows the characters right
(1 - edit distance / length of the truth, summed over rows) and the rows whose field is exactly
right, plus rows found, rows marked «проверьте» and the seconds the import took.

    .venv/bin/python bench/bench_ocr.py [--dpi 300 200] [--seeds 000 002] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from machine import machine_lines  # noqa: E402

from sync.importer import ImportResult, import_file  # noqa: E402
from tests.libreoffice import convert  # noqa: E402
from tests.seed_docs import write_order_docx  # noqa: E402

FIELDS = ("section", "no", "activity", "responsible", "deadline_text", "planned_result")
TITLES = {
    "section": "Раздел",
    "no": "№",
    "activity": "Мероприятие",
    "responsible": "Ответственные",
    "deadline_text": "Сроки",
    "planned_result": "Результат",
}


def distance(a: str, b: str) -> int:
    """Levenshtein distance."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def scan(pdf: Path, dpi: int, out: Path) -> Path:
    """The PDF printed and scanned: page images only, greyscale, at dpi."""
    from PIL import Image

    stem = out / f"{pdf.stem}-{dpi}"
    subprocess.run(
        ["pdftoppm", "-r", str(dpi), "-gray", "-png", str(pdf), str(stem)],
        check=True,
        capture_output=True,
    )
    pages = sorted(out.glob(f"{stem.name}-*.png"))
    images = [Image.open(p) for p in pages]
    target = out / f"{pdf.stem}-scan{dpi}.pdf"
    images[0].save(target, save_all=True, append_images=images[1:], resolution=dpi)
    return target


def score(truth: ImportResult, got: ImportResult) -> dict[str, tuple[int, int, int, int]]:
    """Per field: (characters right, characters, rows exactly right, rows) — rows paired by
    position within the same section and number when possible."""
    found = {(i.section, i.no): i for i in got.items}
    by_position = list(got.items)
    out: dict[str, tuple[int, int, int, int]] = {}
    for f in FIELDS:
        right = total = exact = 0
        for n, item in enumerate(truth.items):
            other = found.get((item.section, item.no))
            if other is None and n < len(by_position):
                other = by_position[n]
            want = getattr(item, f)
            have = getattr(other, f) if other is not None else ""
            total += len(want)
            right += max(0, len(want) - distance(want, have))
            exact += want == have
        out[f] = (right, total, exact, len(truth.items))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dpi", type=int, nargs="+", default=[300, 200])
    parser.add_argument("--seeds", nargs="+", default=None, help="seed prefixes (000 001 …)")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    seeds_dir = ROOT.parent / "shared" / "seeds"
    if not seeds_dir.is_dir():
        seeds_dir = Path("/work/shared/seeds")
    seeds = sorted(seeds_dir.glob("*.txt"))
    if args.seeds:
        seeds = [s for s in seeds if s.name[:3] in args.seeds]
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-ocr-"))
    work.mkdir(parents=True, exist_ok=True)

    print("# import-plan: PDF and scans from the seed roadmaps\n")
    print("\n".join(machine_lines(["pdfplumber", "pypdfium2", "numpy", "pillow"])))
    tess = subprocess.run(["tesseract", "--version"], capture_output=True, text=True)
    print(f"- {(tess.stdout or tess.stderr).splitlines()[0]} (rus)\n")
    header = "| seed | document | rows found | «проверьте» | s | " + " | ".join(
        TITLES[f] for f in FIELDS
    )
    print(header + " |")
    print("|" + "---|" * (5 + len(FIELDS)))
    totals: dict[str, dict[str, list[int]]] = {}
    for seed in seeds:
        truth = import_file(seed)
        docx = write_order_docx(seed, truth, work / f"{seed.name[:3]}.docx")
        pdf = convert(docx, "pdf", work, work / "profile")
        documents = [("PDF, текстовый слой", pdf)]
        documents += [(f"скан {dpi} dpi", scan(pdf, dpi, work)) for dpi in args.dpi]
        for label, path in documents:
            start = time.perf_counter()
            got = import_file(path)
            seconds = time.perf_counter() - start
            scores = score(truth, got)
            row = totals.setdefault(label, {f: [0, 0, 0, 0] for f in FIELDS})
            for f in FIELDS:
                for k in range(4):
                    row[f][k] += scores[f][k]
            cells = [
                f"{r / t:.1%} chars, {e}/{n} rows" if t else f"—, {e}/{n} rows"
                for r, t, e, n in (scores[f] for f in FIELDS)
            ]
            print(
                f"| {seed.name[:3]} | {label} | {len(got.items)}/{len(truth.items)} | "
                f"{len(got.to_check)} | {seconds:.1f} | " + " | ".join(cells) + " |"
            )
    for label, row in totals.items():
        cells = [
            f"**{r / t:.1%}** chars, **{e}/{n}** rows" if t else f"—, {e}/{n} rows"
            for r, t, e, n in (row[f] for f in FIELDS)
        ]
        print(f"| all | {label} | | | | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
