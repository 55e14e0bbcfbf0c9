"""The review's findings on the web intake, each as a school or a coordinator would meet it."""

from __future__ import annotations

import hashlib
import io
import re
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook

from sync.config import load_config
from sync.demo import DEMO_TODAY
from sync.model import School
from sync.pipeline import run
from sync.spravka.make import make_spravka
from sync.spravka.settings import load_report_settings
from sync.web.intake import SyncWorker
from sync.web.settings import load_web
from sync.web.store import WebStore
from sync.web.versions import WebBackups, lost_changes
from tests.fixtures import edit, school_path, text_of, upload
from tests.web_server import Running, demo_with_web, serve

SCHOOL = "school0002"  # no errors in the demo


def wait_for(predicate: Callable[[], bool], seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def state_of(r: Running, upload_id: int) -> Any:
    found = r.intake.store.upload(upload_id)
    assert found is not None
    return found


def last_upload_id(r: Running, sid: str = SCHOOL) -> int:
    return r.intake.store.uploads_of(sid, 1)[0].id


def cell_text(path: Path, ref: str) -> Any:
    sheet, a1 = ref.split("!")
    return load_workbook(path)[sheet][a1].value


@pytest.fixture
def town(tmp_path: Path) -> Any:
    return demo_with_web(
        tmp_path / "demo",
        3,
        "uploads_per_minute = 1000\nrequests_per_minute = 10000\nopen_retry_seconds = 0.3\n",
    )


def test_an_open_workbook_is_not_replaced_the_upload_waits(town: Any, tmp_path: Path) -> None:
    """Finding 2: someone has the school's file open; the upload waits and is stored after."""
    target = school_path(town, SCHOOL)
    lock = target.with_name(f".~lock.{target.name}#")
    lock.write_text("someone,host,2026")
    before = target.read_bytes()
    with serve(town) as r, httpx.Client(timeout=60) as client:
        data = before
        changed = tmp_path / "changed.xlsx"
        ref = edit(data, "comment", 0, "Правка, пока файл открыт", r, changed)
        began = time.monotonic()
        answer = upload(client, r.school_url(SCHOOL), changed.read_bytes())
        assert answer.status_code == 200
        assert time.monotonic() - began < 20  # told at once, not after sync_wait (30 s)
        upload_id = last_upload_id(r)
        assert state_of(r, upload_id).state == "waiting"
        assert "книга открыта" in text_of(answer.text)
        page = text_of(client.get(str(answer.url)).text)
        assert "книга открыта" in page and "сохранится" in page
        time.sleep(1.0)  # several retries while the lock is there
        assert target.read_bytes() == before
        assert state_of(r, upload_id).state == "waiting"
        lock.unlink()
        wait_for(lambda: state_of(r, upload_id).state == "synced")
        assert cell_text(target, ref) == "Правка, пока файл открыт"


def test_uploads_from_one_download_do_not_lose_edits_silently(town: Any, tmp_path: Path) -> None:
    """Finding 3: A and B made from the same download; B lacks A's edit: the school is told."""
    target = school_path(town, SCHOOL)
    with serve(town) as r, httpx.Client(timeout=60) as client:
        url = r.school_url(SCHOOL)
        base = client.get(f"{url}/workbook").content
        a, b = tmp_path / "a.xlsx", tmp_path / "b.xlsx"
        ref_a = edit(base, "comment", 0, "Правка А", r, a)
        ref_b = edit(base, "comment", 1, "Правка Б", r, b)
        first = upload(client, url, a.read_bytes())
        first_id = last_upload_id(r)
        assert "конфликт версий" not in text_of(first.text)
        assert state_of(r, first_id).warning == ""
        assert "версию из папки школ" in state_of(r, first_id).replaced

        second = upload(client, url, b.read_bytes())
        text = text_of(second.text)
        second_id = last_upload_id(r)
        assert f"Заменила загрузку № {first_id}" in text
        assert "Внимание: после того как вы скачали книгу, её изменили" in text
        assert ref_a in text and ref_b not in state_of(r, second_id).warning
        assert "конфликт версий" in text
        # Stored (the newest arrival), the version with A's edit kept in the intake's backups.
        assert cell_text(target, ref_b) == "Правка Б"
        kept = list((r.settings.backups_dir / SCHOOL).glob("*-web-*.xlsx"))
        assert any(cell_text(k, ref_a) == "Правка А" for k in kept)
        coordinator = text_of(client.get(r.coordinator_url).text)
        assert ref_a in coordinator and "Внимание" in coordinator

        # A fresh download carries A and B; an upload made from it warns of nothing.
        fresh = client.get(f"{url}/workbook").content
        c = tmp_path / "c.xlsx"
        edit(fresh, "comment", 2, "Правка В", r, c)
        third = upload(client, url, c.read_bytes())
        assert "Внимание" not in text_of(third.text)
        assert state_of(r, last_upload_id(r)).warning == ""


def test_a_save_into_the_folder_after_the_download_is_not_lost_silently(
    town: Any, tmp_path: Path
) -> None:
    """Finding 3: the coordinator saved into the folder after the school downloaded."""
    target = school_path(town, SCHOOL)
    with serve(town) as r, httpx.Client(timeout=60) as client:
        url = r.school_url(SCHOOL)
        base = client.get(f"{url}/workbook").content
        saved = tmp_path / "saved.xlsx"
        ref = edit(target.read_bytes(), "comment", 3, "Правка координатора", r, saved)
        target.write_bytes(saved.read_bytes())
        mine = tmp_path / "mine.xlsx"
        edit(base, "comment", 0, "Правка школы", r, mine)
        text = text_of(upload(client, url, mine.read_bytes()).text)
        assert "Заменила версию из папки школ" in text
        assert "Внимание" in text and ref in text


def test_uploads_are_stored_in_arrival_order(
    town: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finding 3: the first upload's check is slow; the second must still be stored after it."""
    import sync.web.app

    real = sync.web.app.check_upload

    def slow_for_first(path: Path, *args: Any) -> Any:
        if b"SLOW" in _sheet_xml(path):
            time.sleep(1.5)
        return real(path, *args)

    monkeypatch.setattr(sync.web.app, "check_upload", slow_for_first)
    target = school_path(town, SCHOOL)
    with serve(town) as r:
        url = r.school_url(SCHOOL)
        first, second = tmp_path / "first.xlsx", tmp_path / "second.xlsx"
        data = target.read_bytes()
        ref = edit(data, "comment", 0, "SLOW первая", r, first)
        edit(data, "comment", 0, "вторая", r, second)
        answers: dict[str, int] = {}

        def send(name: str, path: Path) -> None:
            with httpx.Client(timeout=60) as c:
                answers[name] = upload(c, url, path.read_bytes()).status_code

        t1 = threading.Thread(target=send, args=("first", first))
        t1.start()
        time.sleep(0.5)  # the first has arrived and is being checked
        send("second", second)
        t1.join()
        assert answers == {"first": 200, "second": 200}
        ids = [u.id for u in r.intake.store.uploads_of(SCHOOL, 2)]
        wait_for(lambda: all(state_of(r, i).state == "synced" for i in ids))
        assert cell_text(target, ref) == "вторая"


def _sheet_xml(path: Path) -> bytes:
    import zipfile

    with zipfile.ZipFile(path) as z:
        return b"".join(z.read(n) for n in z.namelist() if n.startswith("xl/"))


def test_the_worker_takes_a_schools_jobs_in_ticket_order(town: Any) -> None:
    settings = load_web(town)
    with WebStore(settings.store_path, town.history_path) as store:
        worker = SyncWorker(town, settings, store)
        school = School(SCHOOL, "Школа", source="x.xlsx")
        other = School("school0003", "Другая", source="y.xlsx")
        t1, t2 = worker.arrive(SCHOOL), worker.arrive(SCHOOL)
        t3 = worker.arrive(other.id)
        worker.submit(2, school, None, t2)
        worker.submit(3, other, None, t3)
        with worker.cond:
            assert [j.upload_id for j in worker._ready()] == [3]  # 2 waits for ticket 1
        worker.submit(1, school, None, t1)
        with worker.cond:
            assert [j.upload_id for j in worker._ready()] == [1, 2]
        t4, t5 = worker.arrive(SCHOOL), worker.arrive(SCHOOL)
        worker.submit(5, school, None, t5)
        worker.abandon(SCHOOL, t4)  # the earlier one was refused: the later need not wait
        with worker.cond:
            assert [j.upload_id for j in worker._ready()] == [5]


def test_uploads_keep_their_own_backups_and_the_schools_version(town: Any, tmp_path: Path) -> None:
    """Finding 4: uploads no longer eat the sync's keep_backups slots twice; the school's own
    version from before the web is kept in the intake's backups."""
    target = school_path(town, SCHOOL)
    original = target.read_bytes()
    sync_backups = town.backups_dir / SCHOOL
    before = len(list(sync_backups.glob("*"))) if sync_backups.exists() else 0
    with serve(town) as r, httpx.Client(timeout=60) as client:
        url = r.school_url(SCHOOL)
        for n in range(3):
            data = target.read_bytes()
            out = tmp_path / f"{n}.xlsx"
            edit(data, "comment", 0, f"Правка {n}", r, out)
            assert "Книга принята" in text_of(upload(client, url, out.read_bytes()).text)
        ours = r.settings.backups_dir / SCHOOL
        schools = list(ours.glob("*-school-*.xlsx"))
        assert [p.read_bytes() for p in schools] == [original]
        assert len(list(ours.glob("*-web-*.xlsx"))) == 2
    after = len(list(sync_backups.glob("*")))
    assert after == min(town.keep_backups, before + 3)  # one per sync paint, none per upload


def test_web_backups_skip_identical_and_expire_by_age(tmp_path: Path) -> None:
    backups = WebBackups(tmp_path, days=30)
    now = datetime(2026, 12, 1, 12, 0).astimezone()
    old = now - timedelta(days=100)
    school_v = backups.keep("s", b"school version", "school", old)
    web_old = backups.keep("s", b"web one", "web", old + timedelta(days=1))
    assert backups.keep("s", b"web one", "web", now) == web_old  # identical: kept once
    web_new = backups.keep("s", b"web two", "web", now)  # expires the old ones
    assert not web_old.exists()
    assert school_v.exists()  # the newest version not from the web is never dropped
    assert web_new.exists()
    newer_school = backups.keep("s", b"school again", "school", now)
    backups.expire("s", now)
    assert not school_v.exists() and newer_school.exists()
    assert backups.find("s", hashlib.sha256(b"web two").hexdigest()) == web_new


def test_lost_changes() -> None:
    base = {"A!L5": "", "A!L6": "", "A!L7": "x"}
    current = {"A!L5": "правка", "A!L6": "", "A!L7": "x"}
    assert lost_changes(base, current, {"A!L5": "", "A!L6": "моя", "A!L7": "x"}) == ["A!L5"]
    assert lost_changes(base, current, {"A!L5": "правка", "A!L6": "моя", "A!L7": "x"}) == []


def test_a_sync_cut_short_by_a_restart_is_finished(town: Any) -> None:
    """Finding 5: kill -9 during an upload's sync left it «свод обновляется…» forever."""
    settings = load_web(town)
    with WebStore(settings.store_path, town.history_path) as store:
        upload_id = store.add_upload(
            SCHOOL,
            datetime.now().astimezone(),
            size=1,
            sha256="",
            outcome="accepted",
            message="Книга принята, ошибок нет.",
            state="syncing",
        )
    with serve(town) as r:
        wait_for(lambda: state_of(r, upload_id).state == "synced")


def test_the_coordinator_finds_the_spravka_where_report_writes_it(town: Any) -> None:
    """Finding 6: by default `report` writes to <master folder>/Справки; the page looks there."""
    settings = load_web(town)
    assert settings.reports_dir == load_report_settings(town).folder
    assert run(town, today=DEMO_TODAY).outcome == "ok"
    made = make_spravka(town, DEMO_TODAY, datetime.now().astimezone())
    assert made.path.parent == settings.reports_dir
    with serve(town) as r, httpx.Client(timeout=60) as client:
        page = client.get(r.coordinator_url).text
        assert made.path.name in text_of(page)
        got = client.get(f"{r.coordinator_url}/report")
        assert got.status_code == 200 and got.content == made.path.read_bytes()


def test_a_mistake_in_report_settings_does_not_stop_the_intake(tmp_path: Path) -> None:
    town = demo_with_web(tmp_path / "demo", 1)
    text = town.path.read_text(encoding="utf-8")
    town.path.write_text(text + '\n[report]\ndates = ["15 января"]\n', encoding="utf-8")
    config = load_config(town.path)
    assert load_web(config).reports_dir == config.master_path.parent / "Справки"


def test_wrong_links_from_one_address_do_not_lock_out_a_right_one(tmp_path: Path) -> None:
    """Finding 7: a shared NAT address: misses are slowed down, a valid link still opens."""
    town = demo_with_web(tmp_path / "demo", 1, "misses_per_minute = 3")
    with serve(town) as r, httpx.Client(timeout=60) as client:
        r.intake.miss_delay = 0.05
        codes = [client.get(f"{r.base}/s/{'x' * 43}").status_code for _ in range(6)]
        assert codes[:3] == [404] * 3 and codes[-1] == 429
        began = time.monotonic()
        page = client.get(r.school_url("school0001"))
        assert page.status_code == 200 and "Скачать книгу" in page.text
        assert client.get(f"{r.school_url('school0001')}/workbook").status_code == 200
        assert time.monotonic() - began < 5
        assert client.get(r.coordinator_url).status_code == 200


def test_the_download_names_its_version(town: Any) -> None:
    with serve(town) as r, httpx.Client(timeout=60) as client:
        got = client.get(f"{r.school_url(SCHOOL)}/workbook").content
        wb = load_workbook(io.BytesIO(got))
        meta = wb[wb.sheetnames[-1]]
        stamp = {row[0]: row[1] for row in meta.iter_rows(values_only=True) if len(row) > 1}
        disk = hashlib.sha256(school_path(town, SCHOOL).read_bytes()).hexdigest()
        assert stamp.get("web_base") == disk
        assert re.fullmatch(r"[0-9a-f]{64}", disk)
        assert r.intake.worker.backups.find(SCHOOL, disk) is not None
