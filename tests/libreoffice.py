"""Headless LibreOffice for tests: it must be there (scripts/setup installs it), never skipped."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

XLSX_FILTER = "xlsx:Calc MS Excel 2007 XML"
CSV_ALL_SHEETS = "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,true,false,false,-1"


def soffice() -> str:
    exe = shutil.which("soffice") or shutil.which("libreoffice")
    assert exe, "LibreOffice is missing: run scripts/setup --with-system"
    return exe


def convert(src: Path, target: str, outdir: Path, profile: Path) -> Path:
    """Open src in headless LibreOffice and save it through the given filter into outdir."""
    outdir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [
            soffice(),
            f"-env:UserInstallation={profile.as_uri()}",
            "--headless",
            "--norestore",
            "--convert-to",
            target,
            "--outdir",
            str(outdir),
            str(src),
        ],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr
    ext = target.split(":")[0]
    out = outdir / f"{src.stem}.{ext}"
    if ext == "csv":
        return outdir
    assert out.exists(), f"LibreOffice wrote nothing: {proc.stdout} {proc.stderr}"
    return out
