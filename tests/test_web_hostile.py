"""A tiny workbook that claims a cell at XFD1048576: the reader must not try to allocate the
whole sheet (calamine asked for ~549 GB and the intake died). The intake runs here as its own
process (`roadmap-sync web`), so a crash shows as a dead server, not a dead test run; its
address space is capped so that the attempt cannot hurt the machine.

EXPECTED TO FAIL until FolderBackend.read_file runs in the isolated worker with limits (another
branch); the intake reads only through sync.workbook_check -> FolderBackend.read_file.
"""

from __future__ import annotations

import os
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from openpyxl import Workbook, load_workbook

from sync.config import Config
from sync.web.links import issue_links
from sync.web.settings import load_web
from sync.web.store import WebStore
from tests.fixtures import digest, school_path, text_of, upload
from tests.web_server import demo_with_web

ROOT = Path(__file__).resolve().parents[1]
SCHOOL = "school0001"
ADDRESS_SPACE = 8 * 1024**3  # far below 549 GB, far above what the intake needs


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cap() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


class Server:
    def __init__(self, process: subprocess.Popen[bytes], base: str, school_url: str):
        self.process, self.base, self.school_url = process, base, school_url

    def alive(self) -> bool:
        if self.process.poll() is not None:
            return False
        try:
            return httpx.get(f"{self.base}/healthz", timeout=10).text == "ok"
        except httpx.HTTPError:
            return False


@pytest.fixture
def town(tmp_path: Path) -> Config:
    return demo_with_web(tmp_path / "demo", 2, "uploads_per_minute = 1000\nsync_wait = 0\n")


@pytest.fixture
def server(town: Config, tmp_path: Path) -> Iterator[Server]:
    port = _free_port()
    settings = load_web(town)
    with WebStore(settings.store_path, town.history_path) as store:
        issued = issue_links(town, settings, store, datetime.now().astimezone(), everyone=True)
    path = next(x.url for x in issued if x.subject == SCHOOL).split("/s/", 1)[1]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    log = (tmp_path / "web.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from sync.cli import main; main()",
            "web",
            "--config",
            str(town.path),
            "--port",
            str(port),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=_cap,
    )
    base = f"http://127.0.0.1:{port}"
    running = Server(process, base, f"{base}/s/{path}")
    deadline = time.monotonic() + 60
    while not running.alive():
        assert process.poll() is None, (tmp_path / "web.log").read_text(errors="replace")
        assert time.monotonic() < deadline, "the intake did not start"
        time.sleep(0.1)
    try:
        yield running
    finally:
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def _far_cell_alone(path: Path) -> bytes:
    wb = Workbook()
    wb.active["XFD1048576"] = "x"
    wb.save(path)
    return path.read_bytes()


def _far_cell_in_the_schools_own(source: Path, path: Path) -> bytes:
    wb = load_workbook(source)
    wb.worksheets[0]["XFD1048576"] = "x"
    wb.save(path)
    return path.read_bytes()


@pytest.mark.parametrize("kind", ["alone", "school"])
def test_a_far_cell_is_refused_and_the_intake_stays_up(
    kind: str, town: Config, server: Server, tmp_path: Path
) -> None:
    source = school_path(town, SCHOOL)
    before = digest(source)
    hostile = tmp_path / "far.xlsx"
    if kind == "alone":
        data = _far_cell_alone(hostile)
        assert len(data) < 16 * 1024  # a few KB that would claim 16384 x 1048576 cells
    else:
        data = _far_cell_in_the_schools_own(source, hostile)
    with httpx.Client(timeout=120) as client:
        try:
            answer = upload(client, server.school_url, data)
        except httpx.HTTPError as e:
            pytest.fail(f"the intake did not answer ({type(e).__name__}); it died on the upload")
        assert server.alive(), "the intake died on a workbook with a cell at XFD1048576"
        assert answer.status_code in (413, 422), text_of(answer.text)[:400]
        text = text_of(answer.text)
        assert "Книга не принята" in text or "отклонена" in text
    assert digest(source) == before  # nothing stored
    assert server.alive()
