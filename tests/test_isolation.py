"""Hostile school workbooks are read in isolated workers: each is its school's failure, never
the run's. Every hostile file is generated here, in the test run (tests/hostile.py)."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from openpyxl import load_workbook

from sync.backends import isolated
from sync.backends.isolated import (
    ReaderPool,
    ReadFailure,
    ReadLimits,
    TooBig,
    check_package,
    read_workbook_here,
    scan_sheet,
)
from sync.builders.fill import fill_workbook
from sync.distribute import distribute
from sync.spec import load_spec, normalize_header
from tests import hostile
from tests.fixtures import BUILT_AT, PASSPORT, ROOT, municipality

SPEC = load_spec()
MAIN, PASSPORT_SHEET, META = SPEC.main_sheet, SPEC.passport_sheet, SPEC.meta_sheet

# name -> (how to spoil a good workbook, words the Russian message must hold)
HOSTILE: dict[str, tuple[Callable[[Path], None], str]] = {
    "xfd-main": (lambda p: hostile.far_cell(p, MAIN, "XFD1048576"), "XFD1048576"),
    "xfd-passport": (lambda p: hostile.far_cell(p, PASSPORT_SHEET, "XFD1048576"), "Паспорт ОО"),
    "xfd-hidden": (lambda p: hostile.far_cell(p, META, "XFD1048576"), "скрыт: покажите его"),
    "xfd4000": (lambda p: hostile.far_cell(p, MAIN, "XFD4000"), "XFD4000"),
    # a small grid area, but 16 384 columns of every row would reach the parent
    "xfd100": (lambda p: hostile.far_cell(p, MAIN, "XFD100"), "слишком широк"),
    "whitespace-2gb": (lambda p: hostile.whitespace_bomb(p, MAIN), "слишком большой"),
    "text-cell-1gb": (
        lambda p: hostile.huge_text_cell(p, MAIN, "P3", 1100 << 20),
        "слишком большой",
    ),
    "text-cell-300mb": (
        lambda p: hostile.huge_text_cell(p, MAIN, "P3", 300 << 20),
        "слишком большой",
    ),
    "ods-renamed": (hostile.ods_renamed, "OpenDocument (.ods)"),
    "xls-renamed": (hostile.xls_renamed, "старом формате .xls"),
}


def _school_workbooks(tmp_path: Path, extra: list[str]) -> tuple[Path, list[Path]]:
    """A municipality of two good schools plus one per name in `extra`, all filled."""
    schools = [("good1", "МОУ СОШ № 1", "ШНОР"), ("good2", "МОУ СОШ № 2", "ШНСУ")]
    schools += [(name, f"Школа «{name}»", "ШНОР") for name in extra]
    config = municipality(tmp_path, schools)
    distribute(config, built_at=BUILT_AT)
    paths = []
    for school in config.schools:
        path = Path(school.source)
        fill_workbook(
            path, SPEC, {"3": {"status": "В работе", "comment": "начали"}, "5": {}}, PASSPORT
        )
        paths.append(path)
    return config.path, paths


def _deep_copy(good: Path, tmp_path: Path) -> Path:
    """deep.xlsx: a good workbook with a value a million rows down (it passes the checks and
    needs about 0.5 GB to parse, so a worker capped at 300 MB dies on it)."""
    deep = tmp_path / "deep.xlsx"
    shutil.copyfile(good, deep)
    wb = load_workbook(deep)
    wb[MAIN].cell(1_000_000, 14).value = "далеко внизу"
    wb.save(deep)
    return deep


def _cells(path: Path) -> dict[tuple[str, str], object]:
    """Every cell a school typed, all sheets, except the Контроль column the sync writes."""
    wb = load_workbook(path)
    out: dict[tuple[str, str], object] = {}
    for ws in wb.worksheets:
        control = None
        if ws.title == MAIN:
            for cell in ws[1]:
                if normalize_header(cell.value) == normalize_header("Контроль"):
                    control = cell.column
        for row in ws.iter_rows():
            for cell in row:
                if cell.value is not None and cell.column != control:
                    out[(ws.title, cell.coordinate)] = cell.value
    return out


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-c", "from sync.cli import main; main()", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


@pytest.fixture(scope="module")
def town(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Path], dict[str, Path]]:
    """Two good schools and one school per hostile file, generated once for the module."""
    tmp = tmp_path_factory.mktemp("hostile")
    config_path, paths = _school_workbooks(tmp, sorted(HOSTILE))
    good = {p.stem: p for p in paths[:2]}
    bad = {p.stem: p for p in paths[2:]}
    for name, path in bad.items():
        HOSTILE[name][0](path)
    return config_path, good, bad


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_validate_answers_exit_2_in_russian_never_a_signal(
    town: tuple[Path, dict[str, Path], dict[str, Path]], name: str
) -> None:
    _config, _good, bad = town
    done = _cli("validate", str(bad[name]))
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    assert "Файл не читается" in done.stderr and HOSTILE[name][1] in done.stderr
    assert "Traceback" not in done.stderr and "panicked" not in done.stderr
    assert len(done.stderr) < 2000  # one message, no backtrace from the parser


def test_a_run_with_every_hostile_file_syncs_the_others_and_keeps_memory_bounded(
    town: tuple[Path, dict[str, Path], dict[str, Path]],
) -> None:
    config_path, good, bad = town
    typed = {name: _cells(path) for name, path in good.items()}
    spoiled = {name: path.read_bytes() for name, path in bad.items()}
    script = (
        "import json, sys\n"
        # VmHWM, not ru_maxrss: Linux carries a parent's high-water mark into ru_maxrss
        "def peak_mb():\n"
        "    for line in open('/proc/self/status'):\n"
        "        if line.startswith('VmHWM:'):\n"
        "            return int(line.split()[1]) / 1024\n"
        "from sync.config import load_config\n"
        "from sync.pipeline import run\n"
        "from datetime import date\n"
        "r = run(load_config(sys.argv[1]), today=date(2022, 1, 10))\n"
        "print(json.dumps({'outcome': r.outcome, 'master': r.master,"
        " 'reports': {x.school.id: [x.outcome, x.message] for x in r.reports},"
        " 'rss_mb': peak_mb()}))\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-c", script, str(config_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["outcome"] == "ok"
    assert Path(result["master"]).exists()
    reports = result["reports"]
    assert reports["good1"][0] == "synced" and reports["good2"][0] == "synced"
    assert reports["mouo"][0] == "synced"
    for name in bad:
        outcome, message = reports[name]
        assert outcome == "failed" and HOSTILE[name][1] in message, (name, message)
        assert bad[name].read_bytes() == spoiled[name]  # never written, never "repaired"
    for name, path in good.items():
        assert _cells(path) == typed[name]  # nothing a school typed changed
    # The parent never parsed a hostile file: a run of this town stays far below one bomb.
    assert result["rss_mb"] < 300, result["rss_mb"]
    assert "Traceback" not in done.stderr


def test_merged_cells_over_a_row_are_read_and_validated(tmp_path: Path) -> None:
    _config, paths = _school_workbooks(tmp_path, ["merged"])
    hostile.merged_over_row(paths[2], MAIN, ("L3:N3", "M4:M6"))
    done = _cli("validate", str(paths[2]), "--json")
    assert done.returncode in (0, 1), done.stderr
    json.loads(done.stdout)


def test_a_worker_killed_by_its_file_is_replaced_and_the_next_file_reads(tmp_path: Path) -> None:
    _config, paths = _school_workbooks(tmp_path, [])
    good = paths[0]
    deep = _deep_copy(good, tmp_path)
    pool = ReaderPool(2, ReadLimits(memory=300 << 20))
    try:
        items = [("a", good, ()), ("deep", deep, ()), ("b", paths[1], ()), ("c", good, ())]
        results = dict(pool.read_many(items))
        assert list(results) == ["a", "deep", "b", "c"]
        failure = results["deep"]
        assert isinstance(failure, ReadFailure)
        assert "deep.xlsx" in str(failure) and "аварийно остановлено" in str(failure)
        for key in ("a", "b", "c"):
            assert not isinstance(results[key], ReadFailure)
        assert pool.read(good).sheets[MAIN][0][0] is not None  # the pool still works
    finally:
        pool.close()


def test_read_many_keeps_the_order_and_reads_in_two_processes(tmp_path: Path) -> None:
    _config, paths = _school_workbooks(tmp_path, [])
    pool = ReaderPool(2)
    try:
        items = [(i, paths[i % 2], ()) for i in range(12)] + [("missing", tmp_path / "no.xlsx", ())]
        got = list(pool.read_many(items))
        assert [k for k, _ in got] == [*range(12), "missing"]
        assert all(not isinstance(r, ReadFailure) for _, r in got[:12])
        assert isinstance(got[12][1], ReadFailure) and "не найден" in str(got[12][1])
        assert len({w.process.pid for w in pool._workers}) == 2
    finally:
        pool.close()


def test_a_worker_killed_mid_batch_blames_its_file_and_the_batch_is_read_again(
    tmp_path: Path,
) -> None:
    _config, paths = _school_workbooks(tmp_path, [])
    deep = _deep_copy(paths[0], tmp_path)
    expected = {p.name: read_workbook_here(p).sheets for p in paths}
    pool = ReaderPool(2, ReadLimits(memory=300 << 20))
    try:
        # Several files a message: the deep ones sit mid-batch, with files read before them
        # in the same batch whose answers die with the worker.
        files = [paths[i % 2] for i in range(16)]
        files[4] = files[10] = files[11] = deep
        got = list(pool.read_many([(i, f, ()) for i, f in enumerate(files)]))
        assert [k for k, _ in got] == list(range(16))
        for (i, result), f in zip(got, files, strict=True):
            if f == deep:
                assert isinstance(result, ReadFailure), i
                assert "deep.xlsx" in str(result) and "аварийно остановлено" in str(result)
            else:
                assert not isinstance(result, ReadFailure), (i, result)
                assert result.sheets == expected[f.name], i  # its own file's content
    finally:
        pool.close()


def test_the_wall_watchdog_blames_the_stuck_file_and_reads_the_rest(tmp_path: Path) -> None:
    _config, paths = _school_workbooks(tmp_path, [])
    pool = ReaderPool(1, ReadLimits(wall_seconds=1.0))
    try:
        assert not isinstance(pool.read(paths[0]), ReadFailure)
        os.kill(pool._workers[0].process.pid, signal.SIGSTOP)  # stuck, as in an endless parse
        got = dict(pool.read_many([("a", paths[0], ()), ("b", paths[1], ()), ("c", paths[0], ())]))
        assert isinstance(got["a"], ReadFailure) and "заняло больше 1 с" in str(got["a"])
        assert paths[0].name in str(got["a"])
        assert not isinstance(got["b"], ReadFailure) and not isinstance(got["c"], ReadFailure)
    finally:
        pool.close()


def test_prestarted_workers_are_the_ones_that_read_and_a_killed_one_blames_its_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Where fork is unsafe (the service's threads), the fork server starts them in the background.
    monkeypatch.setattr(isolated, "fork_safe", lambda: False)
    _config, paths = _school_workbooks(tmp_path, [])
    good = paths[0]
    deep = _deep_copy(good, tmp_path)
    pool = ReaderPool(2, ReadLimits(memory=300 << 20))
    try:
        pool.prestart()
        pool.prestart()  # a second call while the first is starting: no more workers
        assert pool._starter is not None
        pool._starter.join(60)
        started = {w.process.pid for w in pool._started}
        assert len(started) == 2 and pool._workers == []  # started, not yet adopted
        items = [("a", good, ()), ("deep", deep, ()), ("b", paths[1], ()), ("c", good, ())]
        results = dict(pool.read_many(items))
        assert list(results) == ["a", "deep", "b", "c"]
        failure = results["deep"]
        assert isinstance(failure, ReadFailure) and "deep.xlsx" in str(failure)
        assert all(not isinstance(results[k], ReadFailure) for k in ("a", "b", "c"))
        pids = {w.process.pid for w in pool._workers}
        assert len(pids) == 2 and len(pids & started) == 1  # the killed one was replaced
        pool.prestart()  # the workers are up: nothing to start
        assert pool._starter is None
    finally:
        pool.close()
    assert all(not w.process.is_alive() for w in pool._started + pool._workers)


def test_a_prestart_never_leaves_more_workers_than_the_pool_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(isolated, "fork_safe", lambda: False)
    _config, paths = _school_workbooks(tmp_path, [])
    pool = ReaderPool(1)
    try:
        assert not isinstance(pool.read(paths[0]), ReadFailure)  # one worker up
        first = pool._workers[0]
        pool._workers = []  # as if the read had not kept it: prestart starts one more
        pool.prestart()
        pool._workers = [first]
        got = list(pool.read_many([(i, paths[i % 2], ()) for i in range(4)]))
        assert [k for k, _ in got] == [0, 1, 2, 3]
        assert pool._workers == [first]  # the extra started worker was stopped, not used
    finally:
        pool.close()


# A run (one thread) forks its workers; this script is such a run: it holds the run's lock
# (flock) and its history open, has its own SIGTERM handler, and reads through the pool.
FORKED_RUN = r"""
import fcntl, json, os, signal, sqlite3, sys, time
from pathlib import Path
from sync.backends.isolated import ReaderPool, ReadFailure, ReadLimits, fork_safe
good, lock_path, db_path, marker = (Path(a) for a in sys.argv[1:5])
lock = os.open(lock_path, os.O_RDWR | os.O_CREAT)
fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
db = sqlite3.connect(db_path)
db.execute("CREATE TABLE IF NOT EXISTS t (x)")
signal.signal(signal.SIGTERM, lambda *_: Path(marker).write_text(str(os.getpid())))
import socket
listening = socket.create_server(("127.0.0.1", 0))  # a port the run serves (as the web does)
ballast = bytearray(400 << 20)  # a large run: its workers start this large
safe = fork_safe()
pool = ReaderPool(2)
pool.prestart()  # forked workers start with the first read
assert pool._workers == [] and pool._starter is None
ok = [not isinstance(r, ReadFailure) for _, r in pool.read_many([(i, good, ()) for i in range(6)])]
pids = [w.process.pid for w in pool._workers]
fds = {pid: sorted(os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd"))
       for pid in pids}
parents = {pid: int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1]) for pid in pids}
caps = {pid: next(int(line.split()[3]) for line in open(f"/proc/{pid}/limits")
                  if line.startswith("Max address space")) for pid in pids}
os.kill(pids[0], signal.SIGTERM)
pool._workers[0].process.join(10)
code = pool._workers[0].process.exitcode
after = pool.read(good)
fcntl.flock(lock, fcntl.LOCK_UN)  # the run ends; its workers live on
print(json.dumps({"safe": safe, "pids": pids, "ok": ok, "fds": fds, "parents": parents,
                  "caps": caps, "memory": ReadLimits().memory, "run_size": len(ballast),
                  "me": os.getpid(), "code": code, "after": not isinstance(after, ReadFailure),
                  "live": os.path.exists(f"/proc/{pids[1]}")}))
sys.stdout.flush()
time.sleep(2)  # the other process takes the lock meanwhile
"""


def test_a_run_forks_its_workers_and_they_keep_nothing_of_the_run(tmp_path: Path) -> None:
    """fork() starts a worker in milliseconds (the fork server first starts an interpreter);
    the forked worker keeps none of the run's descriptors (its lock is free the moment the run
    lets it go, whatever the workers do) and none of its signal handlers."""
    _config, paths = _school_workbooks(tmp_path, [])
    lock, db, marker = tmp_path / "run.lock", tmp_path / "history.sqlite", tmp_path / "term"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    run = subprocess.Popen(
        [sys.executable, "-c", FORKED_RUN, str(paths[0]), str(lock), str(db), str(marker)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert run.stdout is not None
        line = run.stdout.readline()
        got = json.loads(line) if line else {"stderr": run.stderr.read() if run.stderr else ""}
        assert got.get("safe") is True, got
        assert got["ok"] == [True] * 6 and got["after"] is True
        assert all(parent == got["me"] for parent in got["parents"].values())  # forked by the run
        for pid, fds in got["fds"].items():
            held = [f for f in fds if f.startswith(str(tmp_path))]
            assert held == [], (pid, held)  # no lock, no database, no workbook
            # One socket, its own pipe to the run: not the run's port, not a sibling's pipe.
            assert sum(f.startswith("socket:") for f in fds) == 1, (pid, fds)
            # A file gets the same room as in a fresh worker: the run's size is added to the cap.
            assert got["caps"][pid] >= got["memory"] + got["run_size"], got["caps"]
        # SIGTERM kills a worker as it would any process: the run's own handler is not its.
        assert got["code"] == -signal.SIGTERM and not marker.exists()
        assert got["live"] is True
        # The run released its lock while a worker is still alive: another run can take it.
        import fcntl

        fd = os.open(lock, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)
    finally:
        run.kill()
        run.wait(10)


def _xml(body: str) -> io.BytesIO:
    return io.BytesIO(body.encode())


def test_the_scan_follows_cells_without_references_and_ignores_a_lying_dimension() -> None:
    limits = ReadLimits()
    xml = (
        '<x:worksheet xmlns:x="s"><x:dimension ref="A1:B2"/><x:sheetData>'
        '<x:row r="7"><x:c><x:v>1</x:v></x:c><x:c t="s"><x:v>2</x:v></x:c><x:c s="3"/></x:row>'
        '<x:row><x:c r="D9"><x:v>1</x:v></x:c></x:row>'
        "</x:sheetData></x:worksheet>"
    )
    scan = scan_sheet(_xml(xml), limits, chunk=7)  # tiny chunks: tags split across reads
    assert (scan.max_row, scan.max_col, scan.cells, scan.dimension) == (9, 4, 3, "A1:B2")
    big = (
        '<worksheet><dimension ref="A1:XFD1048576"/><sheetData>'
        '<row r="1"><c r="A1"><v>1</v></c></row></sheetData></worksheet>'
    )
    assert scan_sheet(_xml(big), limits).max_col == 1  # the parser sizes from cells, not this


def test_the_central_directory_alone_rejects_a_zip_bomb() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("xl/worksheets/sheet1.xml", b" " * (5 << 20))
    with zipfile.ZipFile(out) as z, pytest.raises(TooBig, match="сжата в"):
        check_package(z, ReadLimits())
    with zipfile.ZipFile(out) as z, pytest.raises(TooBig, match="занимает"):
        check_package(z, ReadLimits(max_part=1 << 20))
