"""Render a master workbook's sheets to PNG: the first printed page of each sheet.

    python scripts/render_master.py Свод.xlsx OUT_DIR [WORK_DIR]

Headless LibreOffice prints the workbook to PDF (as a coordinator would print it); each page's
header names its sheet, so the first page of every sheet becomes OUT_DIR/<sheet>.png at 60 dpi
(small enough to commit). Used by scripts/render-docs.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# File names without Cyrillic, for links that survive any web view.
FILE_NAMES = {
    "Обзор": "obzor",
    "Свод": "svod",
    "Школы": "shkoly",
    "Изменения": "izmeneniya",
    "Мероприятия": "meropriyatiya",
    "На проверке": "na-proverke",
    "Просрочено": "prosrocheno",
    "Ошибки": "oshibki",
    "Паспорта": "pasporta",
}
DPI = 60


def to_pdf(src: Path, outdir: Path) -> Path:
    exe = shutil.which("soffice") or shutil.which("libreoffice")
    if not exe:
        raise SystemExit("Нужен LibreOffice (soffice): установите его (scripts/system-deps).")
    profile = outdir / "lo-profile"
    subprocess.run(
        [
            exe,
            f"-env:UserInstallation={profile.as_uri()}",
            "--headless",
            "--norestore",
            "--convert-to",
            "pdf",
            "--outdir",
            str(outdir),
            str(src),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return outdir / f"{src.stem}.pdf"


def page_sheets(pdf: Path) -> list[str]:
    """The sheet each page belongs to: the known sheet name its first (page header) line ends
    with (a name may have several words, «На проверке»)."""
    names = []
    pages = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True
    ).stdout.split("\f")
    for text in pages:
        lines = [x for x in text.splitlines() if x.strip()]
        head = " ".join(lines[0].split()) if lines else ""
        names.append(next((n for n in FILE_NAMES if head.endswith(n)), ""))
    return names[: len(names) - 1] if names and not names[-1] else names


def main() -> None:
    src, out = Path(sys.argv[1]), Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(sys.argv[3]) if len(sys.argv) > 3 else Path(tmp)
        pdf = to_pdf(src, work)
        seen: set[str] = set()
        for number, sheet in enumerate(page_sheets(pdf), start=1):
            if sheet in seen or sheet not in FILE_NAMES:
                continue
            seen.add(sheet)
            target = out / FILE_NAMES[sheet]
            subprocess.run(
                [
                    *("pdftoppm", "-png", "-r", str(DPI), "-singlefile"),
                    *("-f", str(number), "-l", str(number), str(pdf), str(target)),
                ],
                check=True,
            )


if __name__ == "__main__":
    main()
