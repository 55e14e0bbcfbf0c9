"""The web intake over real HTTP on loopback: pages, uploads, every refusal, links, security."""

from __future__ import annotations

import hashlib
import io
import logging
import re
import sqlite3
import time
import zipfile
from collections.abc import Iterator
from email import message_from_bytes
from email import policy as email_policy
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

from sync.cli import main
from sync.config import Config
from sync.history import History
from sync.web.security import redact
from sync.web.store import WebStore
from tests.fixtures import csrf_of, digest, school_path, text_of, upload
from tests.web_server import Running, demo_with_web, serve, set_status

SCHOOL = "school0001"  # the demo gives it a wrong status («Сделано»): one error
OTHER = "school0002"


@pytest.fixture(scope="module")
def town(tmp_path_factory: pytest.TempPathFactory) -> Config:
    return demo_with_web(
        tmp_path_factory.mktemp("web") / "demo",
        4,
        "max_upload_mb = 1\nuploads_per_minute = 1000\nrequests_per_minute = 10000\n"
        "misses_per_minute = 1000",
    )


@pytest.fixture(scope="module")
def running(town: Config) -> Iterator[Running]:
    with serve(town) as r:
        yield r


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=60) as c:
        yield c


class Untouched:
    """Asserts that a refusal stored nothing: the school's file, its backups, the staging."""

    def __init__(self, r: Running, sid: str):
        self.path = school_path(r.config, sid)
        self.backups = r.config.backups_dir / sid
        self.staging = r.settings.staging_dir
        self.before = (digest(self.path), self._listing())

    def _listing(self) -> tuple[list[str], list[str]]:
        listed = sorted(p.name for p in self.backups.glob("*")) if self.backups.exists() else []
        staged = sorted(p.name for p in self.staging.glob("*")) if self.staging.exists() else []
        return listed, staged

    def check(self) -> None:
        assert (digest(self.path), self._listing()) == self.before


def refused(r: Running, client: httpx.Client, data: bytes, status: int, phrase: str) -> str:
    guard = Untouched(r, SCHOOL)
    answer = upload(client, r.school_url(SCHOOL), data)
    assert answer.status_code == status, text_of(answer.text)[:400]
    assert phrase in text_of(answer.text)
    guard.check()
    return text_of(answer.text)


def test_the_school_page_and_its_download(running: Running, client: httpx.Client) -> None:
    page = client.get(running.school_url(SCHOOL))
    assert page.status_code == 200
    assert "МОУ СОШ № 1 с. Чара" in page.text and "Скачать книгу" in page.text
    got = client.get(f"{running.school_url(SCHOOL)}/workbook")
    assert got.status_code == 200
    assert "attachment" in got.headers["content-disposition"]
    wb = load_workbook(io.BytesIO(got.content))
    meta = wb[wb.sheetnames[-1]]
    assert any(row[1] == SCHOOL for row in meta.iter_rows(values_only=True) if len(row) > 1)
    # Today's «Контроль»: the wrong status is marked as an error in the download.
    values = [c for row in wb.worksheets[0].iter_rows(values_only=True) for c in row]
    assert "Ошибка" in values and "Просрочено" in values


def test_a_workbook_with_mistakes_then_the_fixed_one(
    running: Running, client: httpx.Client, tmp_path: Path
) -> None:
    path = school_path(running.config, SCHOOL)
    original = path.read_bytes()
    backups = running.config.backups_dir / SCHOOL
    before = len(list(backups.glob("*"))) if backups.exists() else 0
    answer = upload(client, running.school_url(SCHOOL), original)
    assert answer.status_code == 200
    text = text_of(answer.text)
    assert "Книга принята, но в ней ошибок: 1" in text
    assert "Дорожная карта!H" in text and "«Сделано» не из списка" in text
    assert "сохранена, свод обновлён" in text

    fixed = tmp_path / "fixed.xlsx"
    assert set_status(path, fixed, "Сделано", "В работе") == 1
    answer = upload(client, running.school_url(SCHOOL), fixed.read_bytes())
    assert "Книга принята, ошибок нет." in text_of(answer.text)
    # Stored in the schools folder (then painted by the sync), the previous one backed up.
    assert len(list(backups.glob("*"))) >= before + 2
    cells = [
        c for row in load_workbook(path).worksheets[0].iter_rows(values_only=True) for c in row
    ]
    assert "Сделано" not in cells and "Ошибка" not in cells
    with History.open(running.config.history_path) as history:
        state = history.school_states()[SCHOOL]
    assert not [p for p in state.problems if p["severity"] == "error"]
    # The master was written again with the school's new state.
    master = load_workbook(running.config.master_path, read_only=True)
    assert "Ошибки" in master.sheetnames
    with WebStore(running.settings.store_path, running.config.history_path) as store:
        states = [u.state for u in store.uploads_of(SCHOOL)[:2]]
    assert states == ["synced", "synced"]
    with sqlite3.connect(running.config.history_path) as conn:  # recorded in the history
        outcomes = conn.execute(
            "SELECT outcome, state FROM web_uploads WHERE school_id=? ORDER BY id DESC LIMIT 2",
            (SCHOOL,),
        ).fetchall()
    assert outcomes == [("accepted", "synced")] * 2
    coordinator = client.get(running.coordinator_url)
    row = re.search(r'<tr id="school-school0001".*?</tr>', coordinator.text, re.S)
    assert row and "принята" in row.group(0)


def test_another_schools_workbook_is_refused(running: Running, client: httpx.Client) -> None:
    other = school_path(running.config, OTHER).read_bytes()
    text = refused(running, client, other, 422, "Это книга другой школы")
    assert "МОУ СОШ № 2 с. Новая Чара" in text


def test_foreign_files_are_refused(running: Running, client: httpx.Client) -> None:
    refused(running, client, b"%PDF-1.4 not a workbook at all", 422, "Это не книга Excel")
    ole = bytes.fromhex("d0cf11e0a1b11ae1") + b"\0" * 512
    refused(running, client, ole, 422, "старом формате .xls")
    docx = io.BytesIO()
    with zipfile.ZipFile(docx, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", "<document/>")
    refused(running, client, docx.getvalue(), 422, "не книга Excel")
    refused(running, client, b"", 422, "Файл пуст")


def test_hostile_files_are_refused(running: Running, client: httpx.Client) -> None:
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("xl/workbook.xml", "<workbook/>")
        z.writestr("xl/worksheets/sheet1.xml", b"\0" * (60 * 1024 * 1024))
    assert len(bomb.getvalue()) < 1024 * 1024
    refused(running, client, bomb.getvalue(), 422, "zip-бомбу")
    truncated = school_path(running.config, OTHER).read_bytes()[:3000]
    refused(running, client, truncated, 422, "Файл повреждён")
    entity = io.BytesIO()
    doctype = b'<!DOCTYPE worksheet [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    with (
        zipfile.ZipFile(school_path(running.config, SCHOOL)) as src,
        zipfile.ZipFile(entity, "w") as out,
    ):
        for info in src.infolist():
            body = src.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                head, _, rest = body.partition(b"?>")
                body = head + b"?>" + doctype + rest if rest else doctype + body
                body = body.replace(b"</sheetData>", b"</sheetData><!-- &xxe; -->", 1)
            out.writestr(info, body)
    refused(running, client, entity.getvalue(), 422, "DOCTYPE")


def test_an_oversized_file_is_refused_while_streaming(
    running: Running, client: httpx.Client
) -> None:
    big = b"PK\x03\x04" + bytes(1536 * 1024)
    refused(running, client, big, 413, "Файл слишком большой")
    # Without a Content-Length (chunked): the cap holds while the body arrives.
    url = running.school_url(SCHOOL)
    csrf = csrf_of(client, url)
    boundary = "x1234"

    def body() -> Iterator[bytes]:
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="csrf"\r\n\r\n{csrf}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="workbook";'
            ' filename="a.xlsx"\r\n\r\n'
        ).encode()
        for _ in range(64):  # 4 MB in 64 KB pieces, never announced
            yield b"PK" + bytes(65534)
        yield f"\r\n--{boundary}--\r\n".encode()

    guard = Untouched(running, SCHOOL)
    answer = client.post(
        f"{url}/upload",
        content=body(),
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
    )
    assert answer.status_code == 413
    assert "Файл слишком большой" in text_of(answer.text)
    guard.check()


def test_csrf_and_origin(running: Running, client: httpx.Client) -> None:
    data = school_path(running.config, SCHOOL).read_bytes()
    guard = Untouched(running, SCHOOL)
    assert upload(client, running.school_url(SCHOOL), data, csrf="0.forged").status_code == 403
    foreign = upload(client, running.school_url(SCHOOL), data, Origin="https://evil.example")
    assert foreign.status_code == 403 and "чужого сайта" in foreign.text
    fetched = upload(client, running.school_url(SCHOOL), data, **{"Sec-Fetch-Site": "cross-site"})
    assert fetched.status_code == 403
    # A token for another school's link does not open this one's form.
    other_csrf = csrf_of(client, running.school_url(OTHER))
    assert upload(client, running.school_url(SCHOOL), data, csrf=other_csrf).status_code == 403
    guard.check()


def test_a_wrong_link_is_an_ordinary_404(running: Running, client: httpx.Client) -> None:
    plain = client.get(f"{running.base}/nothing/here")
    assert plain.status_code == 404
    real = running.school_url(SCHOOL)
    for url in (
        real[:-1] + ("A" if real[-1] != "A" else "B"),
        f"{running.base}/s/short",
        running.coordinator_url.replace("/c/", "/s/"),  # the coordinator's token is no school's
        real.replace("/s/", "/c/"),
        f"{real.replace('/s/', '/c/')}/master",
    ):
        answer = client.get(url)
        assert answer.status_code == 404
        assert answer.text == plain.text
    assert client.post(f"{running.base}/s/wrong/upload").status_code == 404


def test_security_headers_and_a_log_without_tokens(
    running: Running, client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="roadmap_sync.web.access"):
        page = client.get(running.school_url(SCHOOL))
        client.get(running.coordinator_url)
    headers = page.headers
    assert "default-src 'none'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-frame-options"] == "DENY"
    assert "server" not in headers
    lines = [r.getMessage() for r in caplog.records if r.name == "roadmap_sync.web.access"]
    assert any('"GET /s/…"' in line for line in lines)
    assert any('"GET /c/…"' in line for line in lines)
    tokens = [u.rsplit("/", 1)[1] for u in running.links.values()]
    assert not [line for line in lines if any(t in line for t in tokens)]
    assert redact("/s/abc/upload?u=1") == "/s/…/upload?u=1"


def test_the_store_keeps_only_hashes(running: Running) -> None:
    conn = sqlite3.connect(running.settings.store_path)
    dump = "\n".join(conn.iterdump())
    conn.close()
    for url in running.links.values():
        token = url.rsplit("/", 1)[1]
        assert token not in dump
        assert hashlib.sha256(token.encode()).hexdigest() in dump


def test_the_coordinator_page_and_downloads(running: Running, client: httpx.Client) -> None:
    page = client.get(running.coordinator_url)
    assert page.status_code == 200
    for school in running.config.schools:
        assert school.name in page.text
    assert "<svg" in page.text and "Скачать свод" in page.text
    master = client.get(f"{running.coordinator_url}/master")
    assert master.status_code == 200 and master.content[:2] == b"PK"
    assert client.get(f"{running.coordinator_url}/report").status_code == 404
    reports = running.config.path.parent / "reports"
    reports.mkdir(exist_ok=True)
    try:
        (reports / "Справка 2022-01.docx").write_bytes(b"PK\x03\x04 " + "справка".encode())
        object.__setattr__(running.intake.settings, "reports_dir", reports)
        page = client.get(running.coordinator_url)
        assert "Скачать справку" in page.text
        got = client.get(f"{running.coordinator_url}/report")
        assert got.status_code == 200 and got.content.endswith("справка".encode())
    finally:
        object.__setattr__(running.intake.settings, "reports_dir", None)


def test_rate_limit_on_uploads(tmp_path: Path) -> None:
    town = demo_with_web(tmp_path / "demo", 1, "uploads_per_minute = 2")
    with serve(town) as r, httpx.Client(timeout=60) as client:
        garbage = b"not a workbook"
        codes = [upload(client, r.school_url("school0001"), garbage).status_code for _ in range(3)]
        assert codes == [422, 422, 429]


def test_night_mode_stores_without_a_run(tmp_path: Path) -> None:
    town = demo_with_web(tmp_path / "demo", 2, 'sync = "night"')
    with History.open(town.history_path) as history:
        runs_before = len(history.runs(100))
    with serve(town) as r, httpx.Client(timeout=60) as client:
        path = school_path(town, "school0002")
        data = path.read_bytes()
        answer = upload(client, r.school_url("school0002"), data)
        assert "в свод попадёт при следующей синхронизации" in text_of(answer.text)
    with History.open(town.history_path) as history:
        assert len(history.runs(100)) == runs_before
        kept = list((r.settings.backups_dir / "school0002").glob("*.xlsx"))
    assert len(kept) == 1  # the intake's own backup of the replaced version
    assert not (town.backups_dir / "school0002").exists()  # the sync's slots are not used


def test_links_command(tmp_path: Path) -> None:
    town = demo_with_web(tmp_path / "demo", 2)
    mail_dir = tmp_path / "outbox"
    town.path.write_text(
        town.path.read_text(encoding="utf-8")
        + f'\n[smtp]\nenabled = true\nfrom = "mouo@example.ru"\ndry_run_dir = "{mail_dir}"\n',
        encoding="utf-8",
    )
    runner = CliRunner()
    cfg = str(town.path)
    first = runner.invoke(main, ["links", "--config", cfg, "--export", str(tmp_path / "l.csv")])
    assert first.exit_code == 0, first.output
    urls = re.findall(r"http://127\.0\.0\.1:8080/[sc]/[\w-]{43}", first.output)
    assert len(urls) == 3  # two schools and the coordinator
    table = (tmp_path / "l.csv").read_text(encoding="utf-8-sig")
    assert all(u in table for u in urls) and table.startswith("Код;Школа;Ссылка")
    again = runner.invoke(main, ["links", "--config", cfg])
    assert "Выдано ссылок: 0; действующих: 3." in again.output
    xlsx = tmp_path / "l.xlsx"
    new = runner.invoke(
        main,
        ["links", "--config", cfg, "--reissue", "school0001", "--export", str(xlsx), "--email"],
    )
    assert new.exit_code == 0, new.output
    (fresh,) = re.findall(r"http://127\.0\.0\.1:8080/s/[\w-]{43}", new.output)
    assert fresh not in urls
    cells = [c for row in load_workbook(xlsx).active.iter_rows(values_only=True) for c in row]
    assert fresh in cells
    (mail,) = mail_dir.glob("*.eml")
    letter = message_from_bytes(mail.read_bytes(), policy=email_policy.default)
    assert fresh in letter.get_body().get_content()  # type: ignore[union-attr]
    assert letter["To"].addresses[0].addr_spec == "school1@example.ru"
    with WebStore(town.path.parent / "web" / "web.sqlite", town.history_path) as store:
        old_token = urls[0].rsplit("/", 1)[1]
        new_token = fresh.rsplit("/", 1)[1]
        assert store.resolve(old_token, "school") is None
        assert store.resolve(new_token, "school") is not None
        revoked = runner.invoke(main, ["links", "--config", cfg, "--revoke", "school0001"])
        assert "отозвана  school0001" in revoked.output
        assert "Выдано ссылок: 0" in revoked.output
        assert store.resolve(new_token, "school") is None
    bad = runner.invoke(main, ["links", "--config", cfg, "--revoke", "nobody"])
    assert bad.exit_code == 2 and "nobody" in bad.output


def test_the_answer_comes_at_once_and_the_page_follows_the_sync(tmp_path: Path) -> None:
    town = demo_with_web(tmp_path / "demo", 2, "sync_wait = 0")
    with serve(town) as r, httpx.Client(timeout=60) as client:
        data = school_path(town, "school0002").read_bytes()
        answer = upload(client, r.school_url("school0002"), data)
        assert answer.status_code == 200 and "Книга принята" in text_of(answer.text)
        url = str(answer.url)
        page = answer.text
        for _ in range(300):
            if "свод обновлён" in text_of(page):
                break
            assert '<meta http-equiv="refresh" content="2">' in page
            assert "сохраняется…" in page or "свод обновляется…" in page
            time.sleep(0.1)
            page = client.get(url).text
        assert "сохранена, свод обновлён" in text_of(page)
        assert 'http-equiv="refresh"' not in page


def test_a_check_that_crashes_is_a_refusal_not_a_crash(
    running: Running, client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sync.web.intake

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("a bug in a check")

    monkeypatch.setattr(sync.web.intake, "check_workbook_file", broken)
    data = school_path(running.config, SCHOOL).read_bytes()
    refused(running, client, data, 422, "внутренняя ошибка")
    monkeypatch.undo()
    assert client.get(f"{running.base}/healthz").text == "ok"
