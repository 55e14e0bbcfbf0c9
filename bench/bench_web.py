"""Benchmark of the web intake: upload -> result shown, and uploads per second sustained.

One `roadmap-sync web` process (one uvicorn worker) serves a demo municipality on 127.0.0.1;
this script is the clients (httpx). Measured for [web] sync = "now" (the upload is checked,
stored and the school plus the master synced before the answer) and "night" (checked and
stored; the sync is left to the night):

- latency: one school at a time uploads a normal workbook; time from the POST to the result
  page received (the redirect followed), median and p90;
- a refused upload (another school's workbook): the check alone;
- sustained: C clients upload continuously for T seconds; uploads per second accepted.

    .venv/bin/python bench/bench_web.py [--schools 50] [--uploads 20] [--clients 8] [--seconds 30]

Bounded: loopback only, a fixed number of requests or seconds, the server is stopped at the end.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

import httpx
from machine import machine_lines

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


MODES = {
    # name: (sync, sync_wait)
    "now": ("now", 0),  # the default: checked and answered at once, synced right after
    "now-wait": ("now", 600),  # the answer waits until the school and the master are synced
    "night": ("night", 0),
}


def prepare(folder: Path, schools: int, mode: str, port: int) -> tuple[Path, dict[str, str]]:
    from sync.config import load_config
    from sync.demo import DEMO_TODAY, make_demo
    from sync.web.links import issue_links
    from sync.web.settings import load_web
    from sync.web.store import WebStore

    config = make_demo(folder, schools, DEMO_TODAY)
    text = config.path.read_text(encoding="utf-8")
    config.path.write_text(
        text + f'\n[web]\nport = {port}\nsync = "{MODES[mode][0]}"\nsync_wait = {MODES[mode][1]}\n'
        "uploads_per_minute = 100000\nrequests_per_minute = 1000000\n",
        encoding="utf-8",
    )
    config = load_config(config.path)
    settings = load_web(config)
    with WebStore(settings.store_path, config.history_path) as store:
        issued = issue_links(config, settings, store, datetime.now().astimezone(), everyone=True)
    return config.path, {x.subject: x.url for x in issued}


def start(config: Path, port: int) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-c", "from sync.cli import main; main()", "web", "--config", str(config)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).text == "ok":
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("the web intake did not start")


def upload(client: httpx.Client, url: str, data: bytes) -> tuple[float, str]:
    page = client.get(url)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf
    began = time.perf_counter()
    answer = client.post(
        f"{url}/upload",
        data={"csrf": csrf.group(1)},
        files={"workbook": ("книга.xlsx", data, "application/octet-stream")},
        follow_redirects=True,
    )
    took = time.perf_counter() - began
    if "Книга принята" in answer.text:
        return took, "accepted"
    return took, "refused" if answer.status_code == 422 else f"http {answer.status_code}"


LABELS = {
    "now": 'sync = "now", answer at once',
    "now-wait": 'sync = "now", answer after the sync',
    "night": 'sync = "night"',
}


def wait_synced(config: Path) -> int:
    """Wait until no upload is still being stored or synced; how many ended synced."""
    import sqlite3

    db = config.parent / "history.sqlite"  # the demo's; uploads are recorded in the history
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        with sqlite3.connect(db) as conn:
            busy = conn.execute(
                "SELECT COUNT(*) FROM web_uploads WHERE state IN ('pending', 'syncing')"
            ).fetchone()[0]
            synced = conn.execute(
                "SELECT COUNT(*) FROM web_uploads WHERE state='synced'"
            ).fetchone()[0]
        if not busy:
            return int(synced)
        time.sleep(0.1)
    raise SystemExit("uploads still not synced after 10 minutes")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(args: argparse.Namespace, mode: str, work: Path) -> list[list[str]]:
    port = free_port()
    config, links = prepare(work / mode, args.schools, mode, port)
    from sync.config import load_config

    cfg = load_config(config)
    sources = {s.id: Path(s.source).read_bytes() for s in cfg.schools}
    ids = list(sources)
    clean = [sid for sid in ids if int(sid[-4:]) % 5 not in (0, 1, 3, 4)] or ids
    proc = start(config, port)
    rows = []
    try:
        with httpx.Client(timeout=120) as client:
            upload(client, links[ids[0]], sources[ids[0]])  # warm up
            times = []
            for i in range(args.uploads):
                sid = clean[i % len(clean)]
                took, outcome = upload(client, links[sid], sources[sid])
                assert outcome == "accepted", outcome
                times.append(took)
            rows.append(
                [
                    f"upload -> result shown, {LABELS[mode]}",
                    str(args.uploads),
                    f"{statistics.median(times) * 1000:.0f}",
                    f"{pct(times, 0.9) * 1000:.0f}",
                    "",
                ]
            )
            refused = []
            for i in range(args.uploads):
                sid, other = ids[i % len(ids)], ids[(i + 1) % len(ids)]
                took, outcome = upload(client, links[sid], sources[other])
                assert outcome == "refused", outcome
                refused.append(took)
            rows.append(
                [
                    "refused (another school's workbook): the check alone",
                    str(args.uploads),
                    f"{statistics.median(refused) * 1000:.0f}",
                    f"{pct(refused, 0.9) * 1000:.0f}",
                    "",
                ]
            )
        before = wait_synced(config)
        done: list[float] = []
        lock = threading.Lock()
        stop_at = time.monotonic() + args.seconds

        def client_loop(k: int) -> None:
            with httpx.Client(timeout=300) as c:
                i = k
                while time.monotonic() < stop_at:
                    sid = ids[i % len(ids)]
                    took, outcome = upload(c, links[sid], sources[sid])
                    if outcome == "accepted":
                        with lock:
                            done.append(took)
                    i += args.clients

        began = time.monotonic()
        threads = [threading.Thread(target=client_loop, args=(k,)) for k in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - began
        rows.append(
            [
                f"sustained, {args.clients} clients, {LABELS[mode]}: answered",
                str(len(done)),
                f"{statistics.median(done) * 1000:.0f}",
                f"{pct(done, 0.9) * 1000:.0f}",
                f"{len(done) / elapsed:.1f}",
            ]
        )
        if MODES[mode][0] == "now":
            settled = wait_synced(config) - before
            total = time.monotonic() - began
            rows.append(
                [
                    f"sustained, {args.clients} clients, {LABELS[mode]}: synced",
                    str(settled),
                    "",
                    "",
                    f"{settled / total:.1f}",
                ]
            )
    finally:
        proc.terminate()
        proc.wait(timeout=120)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--schools", type=int, default=50)
    parser.add_argument("--uploads", type=int, default=20)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--modes", nargs="+", choices=list(MODES), default=list(MODES))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-web-") as tmp:
        rows = []
        for mode in args.modes:
            rows += measure(args, mode, Path(tmp))
    print(f"## Web intake: {args.schools} schools, one `roadmap-sync web` process on loopback")
    print()
    for line in machine_lines(["starlette", "uvicorn", "python-calamine", "openpyxl", "httpx"]):
        print(line)
    print()
    print("| measurement | uploads | median ms | p90 ms | uploads/s |")
    print("|---|---:|---:|---:|---:|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
