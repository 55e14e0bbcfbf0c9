"""Write-back: the zip patch against the openpyxl load and save it replaced and the calamine read
of the same file. Prints a table headed by the machine.

    .venv/bin/python bench/bench_writeback.py [--schools 40] [--repeat 5]

Every phase runs on the same demo workbooks, interleaved (one pass of every phase, then the next),
in one process; the table shows each phase's median pass, per school.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from machine import machine_lines


def openpyxl_load_and_save(data: bytes, paint: Any) -> bytes:
    """What write-back did before the patch: load the whole workbook, set the controls, fills and
    notes, save the whole workbook again (without the cached-values repair it also needed)."""
    from openpyxl import load_workbook
    from openpyxl.comments import Comment
    from openpyxl.styles import PatternFill

    wb = load_workbook(io.BytesIO(data))
    ws = wb[paint.main_sheet]
    for row, control in paint.controls:
        cell = ws.cell(row, paint.control_col)
        cell.value = control.value
        cell.fill = (
            PatternFill("solid", start_color=control.fill, end_color=control.fill)
            if control.fill
            else PatternFill(fill_type=None)
        )
    for (sheet, ref), text in paint.notes.items():
        wb[sheet][ref].comment = Comment(text, "roadmap-sync")
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--schools", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    from sync.backends.folder import FolderBackend
    from sync.backends.xlsxio import read_sheets
    from sync.backends.xlsxpatch import patch_workbook
    from sync.demo import DEMO_TODAY, make_demo
    from sync.model import SchoolReport
    from sync.paint import paint_school
    from sync.pipeline import load_context
    from sync.reader import locate
    from sync.validation import check_school

    with tempfile.TemporaryDirectory() as tmp:
        config = make_demo(Path(tmp) / "demo", args.schools)
        spec, plan = load_context(config)
        backend = FolderBackend(config.master_path, config.backups_dir, config.keep_backups)

        # Two dates whose controls differ: every write-back measured changes what the file shows,
        # as in a run (write-back is only called when the paint changed).
        days = [DEMO_TODAY, DEMO_TODAY - timedelta(days=120)]
        turn = [0]

        def paints() -> list[tuple[Any, Any]]:
            """Each workbook as the next run reads it, and what that run paints (not timed)."""
            out = []
            day = days[turn[0] % 2]
            for school in config.all_workbooks():
                raw = backend.read(school)
                sheet = locate(raw, spec)
                rows, problems = check_school(sheet, school, plan, spec, day, config.soon_days)
                report = SchoolReport(school, rows, dict(sheet.passport), problems)
                out.append((school, paint_school(report, sheet, spec)))
            return out

        books = paints()
        size = statistics.median(Path(s.source).stat().st_size for s, _ in books)

        def calamine_read() -> None:
            for school, _ in books:
                read_sheets(Path(school.source).read_bytes())

        def patch_in_memory() -> None:
            for school, paint in books:
                patch_workbook(Path(school.source).read_bytes(), paint, "roadmap-sync")

        def write_back() -> None:
            for school, paint in books:
                digest = hashlib.sha256(Path(school.source).read_bytes()).hexdigest()
                start, cpu = time.perf_counter(), time.process_time()
                write = backend.write_back(school, paint, digest)
                timed[0] += time.perf_counter() - start
                timed[1] += time.process_time() - cpu
                assert write.status == "written", write.status
                changed[0] += write.fingerprint != digest

        def openpyxl_save() -> None:
            for school, paint in books:
                openpyxl_load_and_save(Path(school.source).read_bytes(), paint)

        timed = [0.0, 0.0]
        changed = [0]  # write-backs that replaced the file (the rest found nothing to change)
        phases: dict[str, Callable[[], None]] = {
            "calamine read of the same file (every sheet)": calamine_read,
            "zip patch, in memory (read + patch)": patch_in_memory,
            "write_back: patch + verified backup + fsync + swap": write_back,
            "openpyxl load + save (what the patch replaced)": openpyxl_save,
        }
        runs: dict[str, list[float]] = {name: [] for name in phases}
        cpus: dict[str, list[float]] = {name: [] for name in phases}
        write_back()  # once before measuring: the first write creates our styles and notes
        for _ in range(args.repeat):
            turn[0] += 1
            books[:] = paints()  # the other date: this pass changes every file's controls
            for name, phase in phases.items():
                timed[0] = timed[1] = 0.0
                start, cpu = time.perf_counter(), time.process_time()
                phase()
                total, cpu = time.perf_counter() - start, time.process_time() - cpu
                inner = name.startswith("write_back")
                runs[name].append(timed[0] if inner else total)
                cpus[name].append(timed[1] if inner else cpu)

    n = len(books)
    floor_name = "calamine read of the same file (every sheet)"
    floor = statistics.median(runs[floor_name]) / n
    cpu_floor = statistics.median(cpus[floor_name]) / n
    print(*machine_lines(["python-calamine", "openpyxl", "lxml"]), sep="\n")
    print(
        f"- {n} workbooks (demo municipality, {args.schools} schools and the coordinator),"
        f" median size {size / 1024:.0f} KB; {args.repeat} interleaved passes, median pass;"
        f" {changed[0]} of {n * (args.repeat + 1)} write-backs replaced the file"
    )
    print()
    print(
        "| phase | per school ms | runs ms (per school) | × calamine read"
        " | CPU ms per school | × calamine CPU |"
    )
    print("|---|---:|---|---:|---:|---:|")
    for name, times in runs.items():
        per = statistics.median(times) / n
        cpu_per = statistics.median(cpus[name]) / n
        shown = " / ".join(f"{t / n * 1000:.2f}" for t in times)
        print(
            f"| {name} | {per * 1000:.2f} | {shown} | {per / floor:.1f}×"
            f" | {cpu_per * 1000:.2f} | {cpu_per / cpu_floor:.1f}× |"
        )
    print()
    for label, clock, base in (("wall", runs, floor), ("CPU", cpus, cpu_floor)):
        patch = statistics.median(clock["zip patch, in memory (read + patch)"]) / n / base
        whole = statistics.median(clock["write_back: patch + verified backup + fsync + swap"])
        whole = whole / n / base
        print(
            f"- Goal (issue 9), write-back ≤ 3× the calamine read, by {label} time: patch"
            f" {patch:.1f}× ({'met' if patch <= 3 else 'NOT met'}); whole write_back with its"
            f" verified backup, fsyncs and compare-and-swap {whole:.1f}×"
            f" ({'met' if whole <= 3 else 'NOT met'})."
        )


if __name__ == "__main__":
    main()
