"""`roadmap-sync demo --web` as a newcomer runs it, and an accepted upload surviving a restart."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import httpx

from sync.web.settings import load_web
from sync.web.store import WebStore
from tests.web_server import demo_with_web, serve, set_status

ROOT = Path(__file__).resolve().parents[1]


def test_demo_web_prints_two_links_that_open(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from sync.cli import main; main()",
            "demo",
            "--dir",
            str(tmp_path / "demo"),
            "--schools",
            "2",
            "--web",
            "--web-port",
            str(port),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = []
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            assert line, "".join(lines)
            lines.append(line)
            if "ссылка координатора" in line:
                break
        output = "".join(lines)
        school = re.search(rf"ссылка школы\s+(http://127\.0\.0\.1:{port}/s/\S+)", output)
        coordinator = re.search(
            rf"ссылка координатора\s+(http://127\.0\.0\.1:{port}/c/\S+)", output
        )
        assert school and coordinator, output
        page = None
        for _ in range(100):
            try:
                page = httpx.get(school.group(1), timeout=10)
                break
            except httpx.ConnectError:
                time.sleep(0.1)
        assert page is not None and page.status_code == 200
        assert "МОУ СОШ № 1 с. Чара" in page.text
        board = httpx.get(coordinator.group(1), timeout=10)
        assert board.status_code == 200 and "10.01.2022" in board.text  # the demo's today
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_an_accepted_upload_is_stored_after_a_restart(tmp_path: Path) -> None:
    town = demo_with_web(tmp_path / "demo", 2)
    school = town.schools[1]
    settings = load_web(town)
    settings.staging_dir.mkdir(parents=True)
    staged = settings.staging_dir / "0123456789abcdef.xlsx"
    assert set_status(Path(school.source), staged, "В работе", "Не начато") >= 1
    wanted = hashlib.sha256(staged.read_bytes()).hexdigest()
    with WebStore(
        settings.store_path, town.history_path
    ) as store:  # accepted, then the server went down
        upload_id = store.add_upload(
            school.id,
            datetime.now().astimezone(),
            size=staged.stat().st_size,
            sha256=wanted,
            outcome="accepted",
            message="Книга принята, ошибок нет.",
            state="pending",
            staged=staged.name,
        )
    backup = tmp_path / "before.xlsx"
    shutil.copyfile(school.source, backup)
    with serve(town):
        for _ in range(600):
            with WebStore(settings.store_path, town.history_path) as store:
                upload = store.upload(upload_id)
            assert upload is not None
            if upload.state == "synced":
                break
            time.sleep(0.1)
    assert upload.state == "synced"
    assert not staged.exists()
    from openpyxl import load_workbook

    values = [
        c
        for row in load_workbook(school.source).worksheets[0].iter_rows(values_only=True)
        for c in row
    ]
    assert "В работе" not in values and "Не начато" in values
    assert list((town.backups_dir / school.id).glob("*.xlsx"))
