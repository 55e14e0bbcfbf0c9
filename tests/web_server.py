"""The web intake on a real loopback socket for the tests: uvicorn in a thread."""

from __future__ import annotations

import dataclasses
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import uvicorn
from openpyxl import load_workbook

from sync.cli_web import uvicorn_config
from sync.config import Config, load_config
from sync.demo import DEMO_TODAY, make_demo
from sync.web.app import Intake, create_app
from sync.web.links import IssuedLink, issue_links
from sync.web.settings import WebSettings, load_web
from sync.web.store import WebStore


def demo_with_web(directory: Path, schools: int, web: str = "") -> Config:
    """The demo municipality with a [web] table appended (state beside the history)."""
    config = make_demo(directory, schools, DEMO_TODAY)
    text = config.path.read_text(encoding="utf-8")
    wait = "" if "sync_wait" in web else "sync_wait = 30\n"
    config.path.write_text(text + "\n[web]\n" + wait + web + "\n", encoding="utf-8")
    return load_config(config.path)


@dataclass
class Running:
    config: Config
    settings: WebSettings
    base: str
    links: dict[str, str]  # subject (school id or "coordinator") -> URL
    intake: Intake

    def school_url(self, school_id: str) -> str:
        return self.links[school_id]

    @property
    def coordinator_url(self) -> str:
        return self.links["coordinator"]


@contextmanager
def serve(config: Config, today: date = DEMO_TODAY) -> Iterator[Running]:
    """Start the intake on 127.0.0.1 on a free port; links issued for everyone; stop after."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    settings = dataclasses.replace(load_web(config), host="127.0.0.1", port=port)
    with WebStore(settings.store_path, config.history_path) as store:
        issued: list[IssuedLink] = issue_links(
            config, settings, store, datetime.now().astimezone(), everyone=True
        )
    app = create_app(config, settings, today)
    server = uvicorn.Server(uvicorn_config(app, settings))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the web intake did not start")
        time.sleep(0.02)
    try:
        yield Running(
            config,
            settings,
            f"http://127.0.0.1:{port}",
            {x.subject: x.url for x in issued},
            app.state.intake,
        )
    finally:
        server.should_exit = True
        thread.join(timeout=60)
        sock.close()


def set_status(source: Path, target: Path, old: str, new: str) -> int:
    """Copy a workbook replacing one status value, as a school would fix it; returns how many."""
    wb = load_workbook(source)
    n = 0
    for row in wb.worksheets[0].iter_rows():
        for cell in row:
            if cell.value == old:
                cell.value = new
                n += 1
    wb.save(target)
    return n
