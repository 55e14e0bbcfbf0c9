"""Benchmark of the folder backend at municipal scale: N synthetic, filled school workbooks.

Prints one Markdown table per run: time and peak memory of our read + validate + consolidate
phase beside the raw read of the same files by python-calamine (the floor) and by openpyxl in
read-only mode, then the master write, the write-back and a whole `sync.pipeline.run` (cold and
warm). Every measurement runs in a fresh child process; see bench/README.md.

    .venv/bin/python bench/bench_folder.py [--schools 200 1000] [--repeat 3] [--workdir DIR]

The parent process imports nothing of the product (it stays small: on Linux a child's ru_maxrss
starts at its parent's high-water mark, see `_rss`); generation and every phase run as children
of this same script (`--child MODE`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from machine import machine_lines

ROOT = Path(__file__).resolve().parents[1]
GENERATOR_VERSION = "1"  # bump when the generated files should change
# Sources the generated workbooks depend on: a change to any of them makes a new cache entry.
GENERATOR_SOURCES = (
    "sync/builders/school_xlsx.py",
    "sync/builders/fill.py",
    "sync/demo.py",
    "sync/distribute.py",
    "templates/roadmap.toml",
    "config/kalar-plan.tsv",
)
# 30 = lcm of the demo's 3 categories and 10 villages: a copy keeps its school's category.
DEFAULT_VARIANTS = 30
GOAL_RATIO = 2.0
GOAL_PEAK_MB = 300.0
GOAL_AT = 1000

PHASES = {
    "calamine": "calamine floor: read every sheet",
    "read-old": "read phase, one process, unchecked (read_file before isolation)",
    "read-one": "read phase, one process, checked (limits + calamine)",
    "read-workers": "read phase, isolated workers (FolderBackend.read_many)",
    "read-started": "read phase, isolated workers started during the survey (as in a run)",
    "openpyxl": "openpyxl read-only: iterate every sheet",
    "ours": "ours: read + validate + consolidate",
    "master": "master write (write_master_xlsx)",
    "writeback": "write-back (paint + write_back)",
    "cold": "pipeline.run, cold (fresh history)",
    "warm": "pipeline.run, warm (all unchanged)",
}
# What each phase's child imports before its clock starts; an idle child imports the same.
READ_IMPORTS = ("sync.config", "sync.backends.folder", "sync.backends.isolated")
IMPORTS = {
    "calamine": ("python_calamine",),
    "read-old": READ_IMPORTS,
    "read-one": READ_IMPORTS,
    "read-workers": READ_IMPORTS,
    "read-started": READ_IMPORTS,
    "openpyxl": ("openpyxl",),
    "ours": (
        "sync.config",
        "sync.pipeline",
        "sync.backends.folder",
        "sync.reader",
        "sync.validation",
        "sync.consolidate",
    ),
    "master": ("pickle", "sync.consolidate", "sync.builders.master_xlsx"),
    "writeback": (
        "sync.config",
        "sync.pipeline",
        "sync.backends.folder",
        "sync.reader",
        "sync.validation",
        "sync.paint",
    ),
    "pipeline": (
        "sync.config",
        "sync.pipeline",
        "sync.backends.folder",
        "sync.builders.master_xlsx",
    ),
}
IMPORT_SET = {"cold": "pipeline", "warm": "pipeline"}  # phases sharing another's imports


# --- the machine -----------------------------------------------------------------------------


def source_hashes() -> dict[str, str]:
    """The product's code and template, file by file: shows what changed during a run."""
    files = [*(ROOT / "sync").rglob("*.py"), *(ROOT / "templates").glob("*")]
    return {
        str(path.relative_to(ROOT)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(files)
    }


def sources_digest(hashes: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(hashes, sort_keys=True).encode()).hexdigest()[:10]


def code_line() -> str:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], capture_output=True, text=True, cwd=ROOT, check=False)
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD") or "?"
    changed = len(git("status", "--porcelain", "--", "sync", "templates").splitlines())
    return (
        f"- code: commit {commit}, {changed} uncommitted file(s) under sync/ and templates/, "
        f"sources digest {sources_digest(source_hashes())}"
    )


# --- children --------------------------------------------------------------------------------


def _rss() -> dict[str, float]:
    """Peak RSS of this process in MB, native (Rust) allocations included.

    VmHWM is the high-water mark of this process image. ru_maxrss is reported beside it: Linux
    carries the parent's high-water mark into a child across exec, so ru_maxrss can never be
    lower than the parent's peak, while VmHWM starts afresh at exec.
    """
    import resource

    out = {"ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                out["peak_mb"] = int(line.split()[1]) / 1024
    except OSError:
        pass
    out.setdefault("peak_mb", out["ru_maxrss_mb"])
    return out


def _workbooks(directory: Path) -> list[Path]:
    return sorted((directory / "schools").glob("*.xlsx"))


def child_calamine(directory: Path, _args: dict[str, Any]) -> dict[str, Any]:
    from python_calamine import CalamineWorkbook

    files = _workbooks(directory)
    cells = 0
    start = time.perf_counter()
    for path in files:
        wb = CalamineWorkbook.from_path(str(path))
        try:
            for name in wb.sheet_names:
                grid = wb.get_sheet_by_name(name).to_python(skip_empty_area=False)
                cells += sum(len(line) for line in grid)
        finally:
            wb.close()
    return {"seconds": time.perf_counter() - start, "files": len(files), "cells": cells}


def _read_phase(directory: Path, mode: str) -> dict[str, Any]:
    """Every workbook the pipeline would read, read as `mode` does; errors counted, not raised."""
    import hashlib

    from sync.backends.isolated import ReadFailure, read_workbook_here
    from sync.backends.xlsxio import read_sheets
    from sync.config import load_config
    from sync.pipeline import backend_for

    config = load_config(directory / "config.toml")
    backend = backend_for(config)
    skip = backend.skip_sheets  # type: ignore[attr-defined]
    schools = config.all_workbooks()
    cells = failed = 0
    if mode == "read-started":
        # What pipeline.run does before its reads: the survey of the schools' files, which
        # starts the reader workers in the background (the read phase's clock starts after it;
        # the survey ran before the reads in the old pipeline too).
        backend.survey(schools)
    start = time.perf_counter()
    cpu_start = time.process_time()
    if mode in ("read-workers", "read-started"):
        for _school, raw in backend.read_many(schools):
            if isinstance(raw, Exception):
                failed += 1
            else:
                cells += sum(len(line) for grid in raw.sheets.values() for line in grid)
    else:
        for school in schools:
            path = Path(school.source)
            try:
                if mode == "read-old":  # what FolderBackend.read_file did before isolation
                    data = path.read_bytes()
                    sheets, _ = read_sheets(data, skip=skip)
                    hashlib.sha256(data).hexdigest()
                else:
                    sheets = read_workbook_here(path, skip).sheets
            except ReadFailure:
                failed += 1
                continue
            cells += sum(len(line) for grid in sheets.values() for line in grid)
    seconds = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    if mode in ("read-workers", "read-started"):
        from sync.backends.isolated import shared_pool

        cpu += sum(_cpu_of(w.process.pid) for w in shared_pool()._workers)
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "files": len(schools),
        "cells": cells,
        "failed": failed,
    }


def _cpu_of(pid: int | None) -> float:
    """User + system CPU seconds of a live process (Linux /proc; 0 elsewhere)."""
    import os

    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def child_read_old(directory: Path, _args: dict[str, Any]) -> dict[str, Any]:
    return _read_phase(directory, "read-old")


def child_read_one(directory: Path, _args: dict[str, Any]) -> dict[str, Any]:
    return _read_phase(directory, "read-one")


def child_read_workers(directory: Path, _args: dict[str, Any]) -> dict[str, Any]:
    return _read_phase(directory, "read-workers")


def child_read_started(directory: Path, _args: dict[str, Any]) -> dict[str, Any]:
    return _read_phase(directory, "read-started")


def child_openpyxl(directory: Path, _args: dict[str, Any]) -> dict[str, Any]:
    from openpyxl import load_workbook

    files = _workbooks(directory)
    cells = 0
    start = time.perf_counter()
    for path in files:
        wb = load_workbook(path, read_only=True, data_only=True)
        try:
            for ws in wb.worksheets:
                for line in ws.iter_rows(values_only=True):
                    cells += len(line)
        finally:
            wb.close()
    return {"seconds": time.perf_counter() - start, "files": len(files), "cells": cells}


def _read_validate_consolidate(directory: Path) -> tuple[Any, dict[str, Any]]:
    """Phase 3 as the pipeline does it for a changed school, without history or write-back."""
    from datetime import datetime

    from sync.config import load_config
    from sync.consolidate import consolidate
    from sync.demo import DEMO_TODAY
    from sync.model import SchoolReport
    from sync.pipeline import backend_for, load_context
    from sync.reader import locate
    from sync.validation import check_school

    clock = time.perf_counter
    parts = Counter[str]()
    start = clock()
    config = load_config(directory / "config.toml")
    spec, plan = load_context(config)
    backend = backend_for(config)  # the product's own read path (it skips the instructions)
    at = datetime.now().astimezone()
    parts["load config, spec, plan"] = clock() - start
    reports = []
    t0 = clock()
    # As the pipeline does: the isolated workers read ahead while this process checks.
    for school, raw in backend.read_many(config.all_workbooks()):
        if isinstance(raw, Exception):
            raise raw
        t1 = clock()
        sheet = locate(raw, spec)
        t2 = clock()
        rows, problems = check_school(sheet, school, plan, spec, DEMO_TODAY, config.soon_days)
        t3 = clock()
        reports.append(
            SchoolReport(
                school, rows, dict(sheet.passport), problems, "synced", "", raw.modified, at
            )
        )
        parts["read_many (waiting for the workers)"] += t1 - t0
        parts["locate"] += t2 - t1
        parts["check_school"] += t3 - t2
        t0 = clock()
    t4 = clock()
    master = consolidate(reports, plan, spec, DEMO_TODAY, config.municipality)
    end = clock()
    parts["consolidate"] += end - t4
    parts["the rest (SchoolReport, loop)"] = end - start - sum(parts.values())
    codes = Counter(p.code for r in reports for p in r.problems)
    info = {
        "seconds": end - start,
        "parts": dict(parts),
        "files": len(reports),
        "rows": sum(len(r.rows) for r in reports),
        "problems": dict(sorted(codes.items())),
        "master_rows": {s.name: len(s.rows) for s in master.sheets},
    }
    return master, info


def child_ours(directory: Path, _args: dict[str, Any]) -> dict[str, Any]:
    return _read_validate_consolidate(directory)[1]


def child_prep_master(directory: Path, args: dict[str, Any]) -> dict[str, Any]:
    """Consolidate once and pickle the master, so the master-write child only writes."""
    import pickle

    master, info = _read_validate_consolidate(directory)
    Path(args["out"]).write_bytes(pickle.dumps(master, protocol=pickle.HIGHEST_PROTOCOL))
    return info


def child_master(directory: Path, args: dict[str, Any]) -> dict[str, Any]:
    import pickle

    from sync.builders.master_xlsx import write_master_xlsx

    master = pickle.loads(Path(args["master"]).read_bytes())
    target = directory / "master" / "Свод.xlsx"
    start = time.perf_counter()
    write_master_xlsx(master, target)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "bytes": target.stat().st_size}


def child_writeback(directory: Path, _args: dict[str, Any]) -> dict[str, Any]:
    """paint_school + FolderBackend.write_back per school; reading and checking are not timed."""
    from datetime import datetime

    from sync.backends.folder import FolderBackend
    from sync.config import load_config
    from sync.demo import DEMO_TODAY
    from sync.model import SchoolReport
    from sync.paint import paint_school
    from sync.pipeline import load_context
    from sync.reader import locate
    from sync.validation import check_school

    config = load_config(directory / "config.toml")
    spec, plan = load_context(config)
    backend = FolderBackend(config.master_path, config.backups_dir, config.keep_backups)
    at = datetime.now().astimezone()
    seconds = 0.0
    statuses = Counter[str]()
    for school in config.all_workbooks():
        raw = backend.read(school)
        sheet = locate(raw, spec)
        rows, problems = check_school(sheet, school, plan, spec, DEMO_TODAY, config.soon_days)
        report = SchoolReport(
            school, rows, dict(sheet.passport), problems, "synced", "", raw.modified, at
        )
        start = time.perf_counter()
        paint = paint_school(report, sheet, spec)
        write = backend.write_back(school, paint, raw.fingerprint)
        seconds += time.perf_counter() - start
        statuses[write.status] += 1
    return {"seconds": seconds, "writes": dict(statuses)}


def child_pipeline(directory: Path, _args: dict[str, Any]) -> dict[str, Any]:
    from sync.config import load_config
    from sync.demo import DEMO_TODAY
    from sync.pipeline import run

    start = time.perf_counter()
    result = run(load_config(directory / "config.toml"), today=DEMO_TODAY)
    seconds = time.perf_counter() - start
    writes = Counter(w.status for w in result.writes.values())
    return {"seconds": seconds, "counts": result.counts, "writes": dict(writes)}


def child_generate(directory: Path, args: dict[str, Any]) -> dict[str, Any]:
    """N schools' workbooks: `variants` built and filled as the demo does, the rest copied.

    A copy of variant v for school n gets school n's id, name and e-mail in every XML part, so
    its hidden service sheet says it is school n's file and it validates as school n's.
    """
    from sync.backends.folder import FolderBackend
    from sync.config import load_config
    from sync.demo import EXAMPLE_PLAN, demo_config_text, make_demo
    from sync.reader import locate
    from sync.spec import load_spec

    n, k = int(args["n"]), int(args["variants"])
    variants_dir = Path(args["variants_dir"])
    ready = variants_dir / ".ready.json"
    if not ready.exists():
        start = time.perf_counter()
        made = make_demo(variants_dir, k)
        seconds = time.perf_counter() - start
        ready.write_text(json.dumps({"seconds": seconds, "workbooks": len(made.all_workbooks())}))
    built = json.loads(ready.read_text())
    variants = load_config(variants_dir / "config.toml")

    start = time.perf_counter()
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(EXAMPLE_PLAN, directory / "plan.tsv")
    (directory / "config.toml").write_text(demo_config_text(n), encoding="utf-8")
    config = load_config(directory / "config.toml")
    (directory / "schools").mkdir(exist_ok=True)
    for i, school in enumerate(config.schools):
        source = variants.schools[i % len(variants.schools)]
        _copy_patched(
            Path(source.source),
            Path(school.source),
            [
                (f">{source.id}<", f">{school.id}<"),  # the service sheet's school_id
                (_email_of(source.id), _email_of(school.id)),  # the passport's e-mail
                *_name_forms(source.name, school.name),
            ],
        )
    assert variants.coordinator is not None and config.coordinator is not None
    shutil.copyfile(variants.coordinator.source, config.coordinator.source)
    copied = time.perf_counter() - start

    # Every file must be its own school's: the id and name in its service sheet.
    spec = load_spec()
    for school in config.all_workbooks():
        meta = locate(FolderBackend.read_file(Path(school.source)), spec).meta
        if (meta.get("school_id"), meta.get("school_name")) != (school.id, school.name):
            raise SystemExit(f"generated {school.source} is not {school.id}'s: {meta}")
    return {
        "built_seconds": built["seconds"],
        "built": built["workbooks"],
        "copied_seconds": copied,
        "copied": len(config.schools),
        "files": len(config.all_workbooks()),
        "bytes": sum(p.stat().st_size for p in _workbooks(directory)),
    }


def _email_of(school_id: str) -> str:
    return f"school{int(school_id.removeprefix('school'))}@"


def _name_forms(old: str, new: str) -> list[tuple[str, str]]:
    """A name as UTF-8 text and as the numeric character references openpyxl may write."""

    def refs(s: str) -> str:
        return "".join(c if ord(c) < 128 else f"&#{ord(c)};" for c in s)

    return [(old, new), (refs(old), refs(new))]


def _copy_patched(src: Path, dst: Path, pairs: list[tuple[str, str]]) -> None:
    """Copy an xlsx, replacing text in its XML parts; entries keep their order and options."""
    import zipfile

    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename.endswith(".xml"):
                text = data.decode("utf-8")
                for old, new in pairs:
                    text = text.replace(old, new)
                data = text.encode("utf-8")
            zout.writestr(info, data)


CHILDREN: dict[str, Callable[[Path, dict[str, Any]], dict[str, Any]]] = {
    "calamine": child_calamine,
    "read-old": child_read_old,
    "read-one": child_read_one,
    "read-workers": child_read_workers,
    "read-started": child_read_started,
    "openpyxl": child_openpyxl,
    "ours": child_ours,
    "master": child_master,
    "writeback": child_writeback,
    "cold": child_pipeline,
    "warm": child_pipeline,
    "generate": child_generate,
    "prep-master": child_prep_master,
}


def child_main(mode: str, directory: Path, args: dict[str, Any], idle: bool) -> None:
    import importlib

    for module in IMPORTS.get(IMPORT_SET.get(mode, mode), ()):
        importlib.import_module(module)
    result = {} if idle else CHILDREN[mode](directory, args)
    print(json.dumps(result | _rss(), ensure_ascii=False))


def spawn(
    mode: str, directory: Path, args: dict[str, Any] | None = None, *, idle: bool = False
) -> dict[str, Any]:
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        mode,
        "--dir",
        str(directory),
        "--child-args",
        json.dumps(args or {}),
    ]
    if idle:
        command.append("--idle")
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)
    if done.returncode != 0:
        raise SystemExit(f"child {mode} failed ({done.returncode}):\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- the parent ------------------------------------------------------------------------------


def cache_key(variants: int) -> str:
    h = hashlib.sha256(f"{GENERATOR_VERSION}:{variants}".encode())
    for name in GENERATOR_SOURCES:
        h.update((ROOT / name).read_bytes())
    return h.hexdigest()[:10]


def generate(workdir: Path, n: int, variants: int) -> tuple[Path, dict[str, Any]]:
    """The N-school municipality in workdir, made once per N and generator sources."""
    key = cache_key(variants)
    target = workdir / f"n{n}-{key}"
    ready = target / ".ready.json"
    if ready.exists():
        return target, json.loads(ready.read_text()) | {"cached": True}
    shutil.rmtree(target, ignore_errors=True)
    info = spawn(
        "generate",
        target,
        {
            "n": n,
            "variants": variants,
            "variants_dir": str(workdir / f"variants{variants}-{key}"),
        },
    )
    ready.write_text(json.dumps(info))
    return target, info | {"cached": False}


def fresh_copy(source: Path, runs: Path) -> Path:
    """The municipality without history, backups or master: what write-back may modify."""
    shutil.rmtree(runs, ignore_errors=True)
    runs.mkdir(parents=True)
    shutil.copyfile(source / "config.toml", runs / "config.toml")
    shutil.copyfile(source / "plan.tsv", runs / "plan.tsv")
    shutil.copytree(source / "schools", runs / "schools")
    return runs


def warm_page_cache(directory: Path) -> None:
    for path in _workbooks(directory):
        path.read_bytes()


def measure(
    directory: Path, n: int, phases: list[str], repeat: int, scratch: Path
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, list[float]]]:
    """Every phase `repeat` times, interleaved: repeat r runs each phase once, in order."""
    results: dict[str, list[dict[str, Any]]] = {p: [] for p in phases}
    idle: dict[str, list[float]] = {}
    master_pickle = scratch / f"master-{n}.pickle"
    if "master" in phases:
        spawn("prep-master", directory, {"out": str(master_pickle)})
    warm_page_cache(directory)
    for r in range(repeat):
        for phase in phases:
            if phase == "warm" and "cold" in phases:
                continue  # runs right after its cold run, in the same folder
            print(f"  N={n} run {r + 1}/{repeat}: {phase}", file=sys.stderr, flush=True)
            if phase in (
                "calamine",
                "openpyxl",
                "ours",
                "read-old",
                "read-one",
                "read-workers",
                "read-started",
            ):
                results[phase].append(spawn(phase, directory))
            elif phase == "master":
                target = scratch / "master-out"
                shutil.rmtree(target, ignore_errors=True)
                results[phase].append(spawn(phase, target, {"master": str(master_pickle)}))
                shutil.rmtree(target, ignore_errors=True)
            else:  # these modify the files: each works on a fresh copy
                run_dir = fresh_copy(directory, scratch / "run")
                if phase == "warm":
                    spawn("cold", run_dir)  # a warm run needs the history of a cold one
                results[phase].append(spawn(phase, run_dir))
                if phase == "cold" and "warm" in phases:
                    results["warm"].append(spawn("warm", run_dir))
                shutil.rmtree(run_dir, ignore_errors=True)
        for key in dict.fromkeys(IMPORT_SET.get(p, p) for p in phases):
            idle.setdefault(key, []).append(spawn(key, scratch, idle=True)["peak_mb"])
    master_pickle.unlink(missing_ok=True)
    return results, idle


def table(
    rows: list[tuple[int, dict[str, list[dict[str, Any]]], dict[str, list[float]]]],
) -> list[str]:
    out = [
        "| phase | N | median s | runs s | per school ms | peak RSS MB | idle RSS MB "
        "| Δ RSS MB | × calamine floor |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for n, results, idle in rows:
        floor = _median(results["calamine"]) if results.get("calamine") else None
        for phase, runs in results.items():
            if not runs:
                continue
            seconds = _median(runs)
            files = runs[0].get("files", n + 1)
            peak = max(r["peak_mb"] for r in runs)
            base = statistics.median(idle[IMPORT_SET.get(phase, phase)])
            ratio = f"{seconds / floor:.1f}×" if floor else "–"
            spread = " / ".join(f"{r['seconds']:.2f}" for r in runs)
            out.append(
                f"| {PHASES[phase]} | {n} | {seconds:.2f} | {spread} | {1000 * seconds / files:.1f}"
                f" | {peak:.0f} | {base:.0f} | {peak - base:.0f} | {ratio} |"
            )
    return out


def _median(runs: list[dict[str, Any]]) -> float:
    return statistics.median(r["seconds"] for r in runs)


def details(n: int, results: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Where the time of our phase goes, and what each phase saw (so a wrong run shows)."""
    out = []
    if results.get("ours"):
        runs = results["ours"]
        total = _median(runs)
        parts = {k: statistics.median(r["parts"][k] for r in runs) for k in runs[0]["parts"]}
        shares = ", ".join(
            f"{k} {v:.2f} s ({100 * v / total:.0f}%)"
            for k, v in sorted(parts.items(), key=lambda kv: -kv[1])
        )
        last = runs[-1]
        out.append(f"- N={n} ours, where the time goes (median): {shares}")
        out.append(
            f"- N={n} ours saw {last['files']} workbooks, {last['rows']} rows; problems by code: "
            f"{last['problems']}; master rows: {last['master_rows']}"
        )
    if results.get("calamine"):
        out.append(
            f"- N={n} cells read per run: calamine {results['calamine'][-1]['cells']}"
            + (f", openpyxl {results['openpyxl'][-1]['cells']}" if results.get("openpyxl") else "")
        )
    if results.get("master"):
        out.append(f"- N={n} master file: {results['master'][-1]['bytes'] / 1e6:.1f} MB")
    maxrss = {p: max(r["ru_maxrss_mb"] for r in runs) for p, runs in results.items() if runs}
    out.append(
        f"- N={n} ru_maxrss MB of the same children (never below the parent's peak): "
        + ", ".join(f"{p} {v:.0f}" for p, v in maxrss.items())
    )
    cpu = {
        p: statistics.median(r["cpu_seconds"] for r in runs)
        for p, runs in results.items()
        if runs and "cpu_seconds" in runs[0]
    }
    if cpu:
        out.append(
            f"- N={n} read phase CPU seconds, this process and its reader workers (median): "
            + ", ".join(f"{p} {v:.2f}" for p, v in cpu.items())
        )
    for phase in ("writeback", "cold", "warm"):
        if results.get(phase):
            last = results[phase][-1]
            seen = {k: last[k] for k in ("counts", "writes") if k in last}
            out.append(f"- N={n} {phase}: {seen}")
    return out


def goals(
    rows: list[tuple[int, dict[str, list[dict[str, Any]]], dict[str, list[float]]]],
) -> list[str]:
    out = []
    for n, results, _ in rows:
        old = results.get("read-old")
        for phase in ("read-workers", "read-started"):
            if old and results.get(phase):
                ratio = _median(results[phase]) / _median(old)
                met = "met" if ratio < 1 else "NOT met"
                out.append(
                    f"- N={n}: read phase {phase} / read-old (one process, unchecked) ="
                    f" {ratio:.2f} (issue 9: faster on this machine, goal < 1: {met})"
                )
        if not (results.get("ours") and results.get("calamine")):
            continue
        ratio = _median(results["ours"]) / _median(results["calamine"])
        peak = max(r["peak_mb"] for r in results["ours"])
        met = "met" if ratio <= GOAL_RATIO else "NOT met"
        line = f"- N={n}: ours / calamine floor = {ratio:.1f}× (goal ≤ {GOAL_RATIO:g}×: {met})"
        if n >= GOAL_AT:
            ok = "met" if peak < GOAL_PEAK_MB else "NOT met"
            line += f"; peak RSS {peak:.0f} MB (goal < {GOAL_PEAK_MB:g} MB at {GOAL_AT}: {ok})"
        else:
            line += f"; peak RSS {peak:.0f} MB"
        out.append(line)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--schools", type=int, nargs="+", default=[200, 1000])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each phase (median)")
    parser.add_argument("--workdir", type=Path, help="keep generated workbooks here between runs")
    parser.add_argument(
        "--variants",
        type=int,
        default=DEFAULT_VARIANTS,
        help="workbooks built and filled with openpyxl; the rest are copies",
    )
    parser.add_argument("--phases", nargs="+", choices=list(PHASES), default=list(PHASES))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--child-args", default="{}", help=argparse.SUPPRESS)
    parser.add_argument("--idle", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(args.child, args.dir, json.loads(args.child_args), args.idle)
        return

    phases = [p for p in PHASES if p in args.phases]
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="roadmap-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    code_before, sources_before = code_line(), source_hashes()
    rows = []
    notes = []
    try:
        for n in args.schools:
            directory, made = generate(workdir, n, min(args.variants, n))
            per_built = made["built_seconds"] / made["built"]
            notes.append(
                f"- N={n}: {made['files']} workbooks, {made['bytes'] / 1e6:.1f} MB"
                + (" (cached)" if made["cached"] else "")
                + f"; {made['built']} variants built + filled with openpyxl (sync.demo.make_demo)"
                f" at {1000 * per_built:.0f} ms each (all {made['files']} that way:"
                f" ~{per_built * made['files']:.0f} s); {made['copied']} schools copied from them"
                f" with their own id, name and e-mail patched in, {made['copied_seconds']:.1f} s"
            )
            scratch = workdir / "scratch"
            scratch.mkdir(exist_ok=True)
            results, idle = measure(directory, n, phases, args.repeat, scratch)
            rows.append((n, results, idle))
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            shutil.rmtree(workdir / "scratch", ignore_errors=True)

    print("## roadmap-sync folder backend benchmark\n")
    print(*machine_lines(["python-calamine", "openpyxl"]), sep="\n")
    print(code_before)
    sources_after = source_hashes()
    changed = sorted(
        name
        for name in sources_before.keys() | sources_after.keys()
        if sources_before.get(name) != sources_after.get(name)
    )
    if changed:
        print(
            "- WARNING: the product's code changed during this run, runs before and after the"
            f" change measured different code: {', '.join(changed)}"
        )
    print(
        f"- {args.repeat} run(s) per phase, interleaved; median time, highest peak RSS; "
        f"total {time.perf_counter() - began:.0f} s\n"
    )
    print(*table(rows), sep="\n")
    print(
        "\nPer school = per workbook: N schools + the coordinator's. Peak RSS: the child's VmHWM"
        " (native allocations included); idle: a child that only imports the same modules.\n"
    )
    print("### Goals\n")
    print(*goals(rows), sep="\n")
    print("\n### Details\n")
    print(*notes, sep="\n")
    for n, results, _ in rows:
        print(*details(n, results), sep="\n")


if __name__ == "__main__":
    main()
