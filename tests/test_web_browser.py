"""The web intake as a person uses it: Debian's chromium driven by Playwright over loopback.

A school opens its link, downloads its workbook, uploads it with its mistake, sees the cell and
the message, drops the fixed workbook onto the page and sees it accepted; the coordinator sees
the school updated. Screenshots go to tmp (and to $ROADMAP_WEB_SCREENSHOTS when set, for docs/).
"""

from __future__ import annotations

import base64
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.web_server import Running, demo_with_web, serve, set_status

sync_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")


@pytest.fixture
def browser_context(tmp_path: Path) -> Iterator[object]:
    with sync_api.sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=ARGS,
            accept_downloads=True,
            locale="ru-RU",
            viewport={"width": 1100, "height": 900},
        )
        try:
            yield context
        finally:
            context.close()


def shot(page: object, tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
    assert path.stat().st_size > 10_000
    target = os.environ.get("ROADMAP_WEB_SCREENSHOTS")
    if target:
        shutil.copyfile(path, Path(target) / name)


def test_a_school_fixes_its_workbook_and_the_coordinator_sees_it(
    tmp_path: Path, browser_context: object
) -> None:
    town = demo_with_web(tmp_path / "demo", 4)
    with serve(town) as running:
        run_the_story(running, browser_context, tmp_path)


def run_the_story(running: Running, context: object, tmp_path: Path) -> None:
    page = context.new_page()  # type: ignore[attr-defined]
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))

    page.goto(running.school_url("school0001"))
    assert page.inner_text("h1") == "МОУ СОШ № 1 с. Чара"
    shot(page, tmp_path, "web-school.png")

    # Download the workbook as the school would, then send it back with its mistake in it.
    with page.expect_download() as got:
        page.click("text=Скачать книгу")
    downloaded = tmp_path / "from-the-site.xlsx"
    got.value.save_as(downloaded)
    assert got.value.suggested_filename.startswith("Дорожная карта — МОУ СОШ № 1")
    page.set_input_files("#file", str(downloaded))
    assert "from-the-site.xlsx" in page.inner_text("#chosen")
    page.click("button[type=submit]")
    page.wait_for_load_state()
    assert page.locator("#result").count() == 1, page.inner_text("main")
    result = page.inner_text("#result")
    assert "Книга принята, но в ней ошибок: 1" in result
    assert re.search(r"Дорожная карта!H\d+", result)
    assert "«Сделано» не из списка" in result
    shot(page, tmp_path, "web-school-errors.png")

    # Fix it and drop the file onto the page (the drag-and-drop path of upload.js).
    fixed = tmp_path / "fixed.xlsx"
    assert set_status(downloaded, fixed, "Сделано", "В работе") == 1
    payload = base64.b64encode(fixed.read_bytes()).decode()
    with page.expect_navigation():
        page.evaluate(
            """(b64) => {
                const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
                const file = new File([bytes], "Дорожная карта (исправлено).xlsx");
                const dt = new DataTransfer();
                dt.items.add(file);
                const drop = document.getElementById("drop");
                drop.dispatchEvent(new DragEvent("dragover", {dataTransfer: dt, bubbles: true}));
                drop.dispatchEvent(new DragEvent("drop", {dataTransfer: dt, bubbles: true}));
            }""",
            payload,
        )
    page.wait_for_selector("#result")
    result = page.inner_text("#result")
    assert "Книга принята, ошибок нет." in result
    assert "сохранена, свод обновлён" in result
    rows = page.locator("table.uploads tbody tr")
    assert rows.count() == 2
    shot(page, tmp_path, "web-school-accepted.png")

    phone = context.new_page()  # type: ignore[attr-defined]
    phone.set_viewport_size({"width": 390, "height": 844})
    phone.goto(running.school_url("school0001"))
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    shot(phone, tmp_path, "web-school-phone.png")

    page.goto(running.coordinator_url)
    row = page.inner_text("#school-school0001")
    assert "принята" in row and "сохранена, свод обновлён" in row
    cells = page.locator("#school-school0001 td").all_inner_texts()
    assert cells[3] == "0"  # errors
    assert page.locator("svg.chart rect.bar").count() == len(running.config.schools)
    shot(page, tmp_path, "web-coordinator.png")
    assert not problems, problems  # no script errors, no CSP violations


def test_a_school_is_told_its_upload_lacks_a_later_edit(
    tmp_path: Path, browser_context: object
) -> None:
    """Two copies made from one download: the second upload lacks the first one's edit. It is
    stored, and the page says which version it replaced and which cells it lacks."""
    import httpx

    from tests.fixtures import edit

    town = demo_with_web(tmp_path / "demo", 3)
    with serve(town) as running:
        page = browser_context.new_page()  # type: ignore[attr-defined]
        url = running.school_url("school0002")
        page.goto(url)
        with page.expect_download() as got:
            page.click("text=Скачать книгу")
        base = tmp_path / "base.xlsx"
        got.value.save_as(base)
        a, b = tmp_path / "Книга Ивановой.xlsx", tmp_path / "Книга Петрова.xlsx"
        ref_a = edit(base.read_bytes(), "comment", 0, "Правка Ивановой", running, a)
        edit(base.read_bytes(), "comment", 1, "Правка Петрова", running, b)
        for path in (a, b):
            page.goto(url)
            page.set_input_files("#file", str(path))
            page.click("button[type=submit]")
            page.wait_for_load_state()
            page.wait_for_selector("#result")
        result = page.inner_text("#result")
        assert "Заменила загрузку №" in result
        assert "Внимание: после того как вы скачали книгу, её изменили" in result
        assert ref_a in result
        assert page.locator("table.uploads .conflict").count() == 1
        shot(page, tmp_path, "web-school-conflict.png")
        with httpx.Client(timeout=60) as client:
            assert ref_a in client.get(running.coordinator_url).text
