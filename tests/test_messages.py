"""What people read when something is off: Russian, one message, never a traceback."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from sync.builders.fill import fill_workbook
from sync.cli_common import RunExit
from sync.distribute import distribute
from sync.spec import load_spec
from tests.fixtures import BUILT_AT, PASSPORT, ROOT, municipality

SPEC = load_spec()
CLI = "from sync.cli import main; main()"


def _env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(ROOT))


def _cli(*args: str, stdout: int | None = subprocess.PIPE) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", CLI, *args],
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
        timeout=300,
    )


def _clean(stderr: str) -> None:
    assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr


def _inside_a_file(p: Path) -> Path:
    (p / "a.xlsx").write_bytes(b"x")
    return p / "a.xlsx" / "b.xlsx"


def _fifo(p: Path) -> Path:
    os.mkfifo(p / "pipe.xlsx")  # reading it would wait forever
    return p / "pipe.xlsx"


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda p: p / "нет такой.xlsx", "не найден"),
        (lambda p: p, "папка"),
        (_inside_a_file, "часть пути"),
        (_fifo, "не обычный файл"),
    ],
    ids=["missing", "directory", "inside-a-file", "fifo"],
)
def test_validate_on_a_path_it_cannot_read_answers_in_russian_with_exit_2(
    tmp_path: Path, make: Callable[[Path], Path], words: str
) -> None:
    path = make(tmp_path)
    done = _cli("validate", str(path))
    assert done.returncode == 2
    assert "Файл не читается" in done.stderr and words in done.stderr, done.stderr
    _clean(done.stderr)


def test_a_full_disk_under_the_output_is_a_russian_message_without_noise(tmp_path: Path) -> None:
    config = municipality(tmp_path)
    distribute(config, built_at=BUILT_AT)
    with open("/dev/full", "w") as full:  # every write there fails with ENOSPC
        done = _cli("run", "--config", str(config.path), "--json", stdout=full.fileno())
    assert done.returncode == 2, done.stderr
    assert "на диске нет свободного места" in done.stderr
    _clean(done.stderr)


def test_sigterm_to_run_is_recorded_as_interrupted(tmp_path: Path) -> None:
    schools = [(f"s{i}", f"Школа № {i}", "ШНОР") for i in range(1, 41)]
    config = municipality(tmp_path, schools)
    distribute(config, built_at=BUILT_AT)
    for school in config.schools:
        fill_workbook(Path(school.source), SPEC, {"3": {"status": "В работе"}}, PASSPORT)
    proc = subprocess.Popen(
        [sys.executable, "-c", CLI, "run", "--config", str(config.path), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    reads = 0
    while time.monotonic() < deadline and reads == 0:
        time.sleep(0.05)
        if config.history_path.exists():
            try:
                with sqlite3.connect(config.history_path) as db:
                    reads = db.execute("SELECT COUNT(*) FROM reads").fetchone()[0]
            except sqlite3.Error:
                pass
    assert reads > 0, "the run never started reading"
    os.killpg(proc.pid, signal.SIGTERM)  # as systemd stops a service: the whole group
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == RunExit.INCOMPLETE, err  # a stopped run is not a finished one
    _clean(err)
    summary = json.loads(out)
    assert summary["outcome"] == "interrupted"
    # The reader workers got the signal too: they let the run decide, no school is blamed.
    assert all(r["outcome"] != "failed" for r in summary["schools"]), summary["schools"]
    with sqlite3.connect(config.history_path) as db:
        outcome, message = db.execute("SELECT outcome, message FROM runs").fetchone()
    assert outcome == "interrupted" and "остановлена по запросу" in message


def _problems(path: Path) -> list[dict[str, object]]:
    done = _cli("validate", str(path), "--json")
    assert done.returncode in (0, 1), done.stderr
    _clean(done.stderr)
    return list(json.loads(done.stdout))


def test_a_status_with_a_latin_lookalike_or_an_invisible_character_names_it(
    tmp_path: Path,
) -> None:
    config = municipality(tmp_path)
    distribute(config, built_at=BUILT_AT)
    path = Path(config.schools[0].source)
    rows = {
        "3": {"status": "Bыполнено"},
        "4": {"status": "В рабoте"},
        "5": {"status": "В работе\u200b"},
    }
    fill_workbook(path, SPEC, rows, PASSPORT)
    messages = [str(p["message"]) for p in _problems(path) if p["code"] == "unknown_status"]
    assert any("латинская «B» вместо русской «В» (1-й знак)" in m for m in messages), messages
    assert any("латинская «o» вместо русской «о» (6-й знак)" in m for m in messages), messages
    assert any("U+200B «пробел нулевой ширины» (9-й знак)" in m for m in messages), messages


def test_a_date_cell_shows_what_the_school_typed_and_no_number_breaks_anything(
    tmp_path: Path,
) -> None:
    from openpyxl import load_workbook

    from sync.pipeline import run

    config = municipality(tmp_path)
    distribute(config, built_at=BUILT_AT)
    path = Path(config.schools[0].source)
    fill_workbook(path, SPEC, {n: {"status": "В работе"} for n in ("3", "4", "5")}, PASSPORT)
    wb = load_workbook(path)
    ws = wb[SPEC.main_sheet]
    header = {c.value: c.column for c in ws[1]}
    col = header[SPEC.column("done_on").header]
    typed = {}
    for r in range(2, ws.max_row + 1):
        if ws.cell(r, header[SPEC.column("status").header]).value == "В работе":
            typed[r] = None
    for (r, _), value in zip(typed.items(), (-1, 15092021, 1e308), strict=False):
        ws.cell(r, col).value = value
        ws.cell(r, col).number_format = "DD.MM.YYYY"
    wb.save(path)
    before = _typed_cells(path, col, typed)
    assert len(before) == 3 and all("<v>" in c for c in before.values()), before
    messages = [str(p["message"]) for p in _problems(path) if p["code"] == "date_invalid"]
    assert any("«-1» не дата" in m for m in messages), messages
    assert any("«15092021» не дата (возможно, 15.09.2021?)" in m for m in messages), messages
    assert any("«1e+308» не дата" in m for m in messages), messages
    assert not any("00:00" in m or "15092021.0" in m for m in messages), messages
    result = run(config, today=date(2022, 1, 10))
    assert result.outcome == "ok" and Path(result.master).exists()
    report = next(r for r in result.reports if r.school.id == "s1")
    assert report.outcome == "synced"
    # Write-back patches only «Контроль»: the cells the school typed are byte for byte the same
    # XML (openpyxl's save turned them into #VALUE!).
    assert result.writes["s1"].status == "written"
    assert _typed_cells(path, col, typed) == before


def _typed_cells(path: Path, col: int, rows: dict[int, None]) -> dict[str, str]:
    """The raw XML of the given cells of the main sheet (the first worksheet part)."""
    import re
    import zipfile

    from openpyxl.utils import get_column_letter

    with zipfile.ZipFile(path) as z:
        xml = z.read("xl/worksheets/sheet1.xml").decode()
    refs = [f"{get_column_letter(col)}{r}" for r in rows]
    return {
        ref: m.group(0)
        for ref in refs
        if (m := re.search(rf'<c r="{ref}"[^>]*?(?:/>|>.*?</c>)', xml))
    }
