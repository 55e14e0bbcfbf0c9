"""A bounded loopback load test: 50 schools upload at once, plus misdirected uploads.

Every accepted upload must be stored and synced into its own school's workbook and history,
nothing lost or mixed up, and the server must still answer afterwards. Bounded: one request
per school plus ten refusals, each with a timeout; the server stops at the end.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx
from openpyxl import load_workbook

from sync.history import History
from sync.spec import load_spec, normalize_header
from sync.web.store import WebStore
from tests.web_server import demo_with_web, serve

SCHOOLS = 50
MISDIRECTED = 10


def marked_copy(source: Path, target: Path, marker: str) -> None:
    """The school's workbook with `marker` in its first row's «Комментарий» cell."""
    spec = load_spec()
    wanted = normalize_header(spec.column("comment").header)
    wb = load_workbook(source)
    ws = wb.worksheets[0]
    for row in ws.iter_rows(min_row=1, max_row=30):
        for cell in row:
            if normalize_header(cell.value) == wanted:
                ws.cell(cell.row + 1, cell.column).value = marker
                wb.save(target)
                return
    raise AssertionError("no «Комментарий» header")


async def post(client: httpx.AsyncClient, url: str, data: bytes, name: str) -> tuple[int, str]:
    page = await client.get(url)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf
    answer = await client.post(
        f"{url}/upload",
        data={"csrf": csrf.group(1)},
        files={"workbook": (name, data, "application/octet-stream")},
        follow_redirects=True,
    )
    return answer.status_code, answer.text


def test_fifty_schools_upload_at_once(tmp_path: Path) -> None:
    town = demo_with_web(
        tmp_path / "demo",
        SCHOOLS,
        "sync_wait = 240\nuploads_per_minute = 1000\nrequests_per_minute = 100000",
    )
    files = {}
    for school in town.schools:
        target = tmp_path / f"{school.id}.xlsx"
        marked_copy(Path(school.source), target, f"MARK-{school.id}")
        files[school.id] = target.read_bytes()
    ids = [s.id for s in town.schools]
    with serve(town) as running:

        async def everyone() -> list[tuple[str, str, int, str]]:
            limits = httpx.Limits(max_connections=SCHOOLS + MISDIRECTED)
            async with httpx.AsyncClient(timeout=300, limits=limits) as client:
                jobs = [
                    (sid, sid, post(client, running.school_url(sid), files[sid], "книга.xlsx"))
                    for sid in ids
                ]
                for i in range(MISDIRECTED):  # another school's workbook on this link
                    link, other = ids[i], ids[-1 - i]
                    jobs.append(
                        (link, other, post(client, running.school_url(link), files[other], "x"))
                    )
                answers = await asyncio.wait_for(
                    asyncio.gather(*(job for _, _, job in jobs)), timeout=600
                )
            return [(a, b, *answer) for (a, b, _), answer in zip(jobs, answers, strict=True)]

        results = asyncio.run(everyone())
        for link, sent, status, text in results:
            if link == sent:
                assert status == 200 and "Книга принята" in text, (link, status, text[:300])
            else:
                assert status == 422 and "Это книга другой школы" in text, (link, status)
        health = httpx.get(f"{running.base}/healthz", timeout=30)
        assert health.status_code == 200 and health.text == "ok"
        assert running.intake.worker.thread.is_alive()
        runs = running.intake.worker.runs
    assert 1 <= runs < SCHOOLS  # uploads that arrived during a run were synced together

    with WebStore(running.settings.store_path, town.history_path) as store:
        for sid in ids:
            uploads = store.uploads_of(sid)
            accepted = [u for u in uploads if u.outcome == "accepted"]
            assert len(accepted) == 1 and accepted[0].state == "synced", (sid, accepted)
    assert not list(running.settings.staging_dir.glob("*"))
    with History.open(town.history_path) as history:
        for school in town.schools:
            last = history.last_read(school.id)
            assert last is not None
            assert last.sheet.meta["school_id"] == school.id
            comments = [r.values.get("comment") for r in last.sheet.rows]
            assert f"MARK-{school.id}" in comments
            markers = {c for c in comments if isinstance(c, str) and c.startswith("MARK-")}
            assert markers == {f"MARK-{school.id}"}  # nothing from another school
            # The file itself holds it, painted by the sync, its old version backed up.
            cells = [
                c
                for row in load_workbook(school.source, read_only=True)
                .worksheets[0]
                .iter_rows(values_only=True)
                for c in row
            ]
            assert f"MARK-{school.id}" in cells
            assert list((town.backups_dir / school.id).glob("*.xlsx"))
