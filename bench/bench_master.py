"""Benchmark of the master write: XlsxWriter (the product) beside the previous openpyxl writer.

    .venv/bin/python bench/bench_master.py [--schools 200 1000 3000] [--repeat 3]

A synthetic municipality (the Kalar plan, every school with every row, statuses, controls and
fills as a real run has them, some problems) is consolidated once per size and pickled; each
writer then writes it in a fresh child process. Prints one Markdown table: median seconds, CPU
seconds, peak RSS of the child and the file size. The product writes the large sheets' data
rows as XML itself (sync.builders.master_xlsx.FAST_ROWS) and everything else through XlsxWriter;
beside it, the same builder with every cell through XlsxWriter's API (what it did before) and
the openpyxl writer before that.
"""

from __future__ import annotations

import argparse
import json
import pickle
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from machine import machine_lines

ROOT = Path(__file__).resolve().parents[1]
WRITERS = {
    "rows-xml": "XlsxWriter + rows as XML (product)",
    "xlsxwriter": "XlsxWriter, every cell through its API (before)",
    "openpyxl": "openpyxl write-only (the writer before that)",
}


def make_master(n: int, out: Path) -> dict[str, Any]:
    import random
    from datetime import date, datetime

    from sync.consolidate import Baseline, consolidate
    from sync.model import Control, Period, Problem, RowReport, School, SchoolReport, Severity
    from sync.plan import load_plan
    from sync.spec import load_spec

    spec = load_spec()
    plan = load_plan(ROOT / "config" / "kalar-plan.tsv", Period.parse("2021-09-01..2022-08-31"))
    today = date(2022, 1, 10)
    rng = random.Random(7)
    controls = {k: Control(k, c.value, c.fill) for k, c in spec.controls.items()}
    keys = list(controls)
    reports = []
    for i in range(1, n + 1):
        school = School(id=f"s{i}", name=f"МОУ СОШ № {i} с. Населённый пункт {i % 37}")
        rows = []
        for r, item in enumerate(plan.for_audience(school.audience), start=2):
            key = rng.choice(keys)
            values = {
                "status": "Выполнено" if key == "done" else rng.choice(["В работе", None]),
                "done_on": datetime(2021, 10, rng.randint(1, 28)) if key == "done" else None,
                "evidence": f"Приказ № {rng.randint(1, 300)} от 01.10.2021"
                if key == "done"
                else None,
                "executor": "Иванова М. П., заместитель директора по УВР",
                "comment": "Проведено совещание с педагогами" if rng.random() < 0.3 else None,
            }
            rows.append(RowReport(item, r, values, controls[key]))
        problems = [
            Problem("x", Severity.ERROR, spec.main_sheet, f"H{r}", "done_on", "Нет даты выполнения")
            for r in range(2, 2 + rng.randint(0, 3))
        ]
        reports.append(
            SchoolReport(
                school,
                rows,
                {"category": "ШНОР", "pupils": 412},
                problems,
                "unchanged",
                "",
                datetime(2022, 1, 9, 17, 5),
                datetime(2022, 1, 10, 2),
            )
        )
    master = consolidate(
        reports,
        plan,
        spec,
        today,
        "Каларский муниципальный округ",
        Baseline(None),
        as_of=datetime(2022, 1, 10, 6, 0),
    )
    out.write_bytes(pickle.dumps(master, protocol=pickle.HIGHEST_PROTOCOL))
    cells = sum(len(s.rows) * len(s.headers) for s in master.sheets)
    fills = sum(len(s.fills) for s in master.sheets)
    return {"cells": cells, "fills": fills}


def child(writer: str, master_path: Path, target: Path) -> dict[str, Any]:
    master = pickle.loads(master_path.read_bytes())
    if writer == "openpyxl":
        sys.path.insert(0, str(Path(__file__).parent))
        from openpyxl_master import write_master_xlsx
    else:
        import sync.builders.master_xlsx as mx

        mx.FAST_ROWS = writer == "rows-xml"
        write_master_xlsx = mx.write_master_xlsx
    start, cpu = time.perf_counter(), time.process_time()
    write_master_xlsx(master, target)
    return {
        "seconds": time.perf_counter() - start,
        "cpu": time.process_time() - cpu,
        "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "bytes": target.stat().st_size,
    }


def spawn(*args: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, *args],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--schools", type=int, nargs="+", default=[200, 1000, 3000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--make", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], Path(args.child[1]), Path(args.child[2]))))
        return
    if args.make:
        print(json.dumps(make_master(int(args.make[0]), Path(args.make[1]))))
        return
    lines = ["## Master write: XlsxWriter vs openpyxl", ""]
    lines += machine_lines(["XlsxWriter", "openpyxl"])
    lines += [
        f"- {args.repeat} run(s) per writer and size, each in a fresh process; median wall time",
        "",
        "| writer | schools | cells | fills | median s | CPU s | peak RSS MB | file MB"
        " | × openpyxl |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.schools:
            pkl = Path(tmp) / f"master-{n}.pickle"
            info = spawn("--make", str(n), str(pkl))
            results: dict[str, list[dict[str, Any]]] = {w: [] for w in WRITERS}
            for _ in range(args.repeat):
                for w in WRITERS:  # interleaved: a busy moment hurts every writer alike
                    results[w].append(spawn("--child", w, str(pkl), str(Path(tmp) / f"{w}.xlsx")))
            base = statistics.median(r["seconds"] for r in results["openpyxl"])
            for w, label in WRITERS.items():
                runs = results[w]
                sec = statistics.median(r["seconds"] for r in runs)
                lines.append(
                    f"| {label} | {n} | {info['cells']} | {info['fills']} | {sec:.2f} |"
                    f" {statistics.median(r['cpu'] for r in runs):.2f} |"
                    f" {max(r['rss'] for r in runs):.0f} | {runs[0]['bytes'] / 1e6:.1f} |"
                    f" {base / sec:.1f} |"
                )
            print(f"  N={n} done", file=sys.stderr)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
