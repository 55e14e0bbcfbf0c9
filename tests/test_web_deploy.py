"""The web intake's deploy files: the systemd unit verifies and runs a command `web` accepts;
the nginx site passes `nginx -t` (where nginx is installed) and keeps tokens out of its log."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sync.cli_web import web_command
from tests.web_server import demo_with_web

ROOT = Path(__file__).resolve().parents[1]
UNIT = ROOT / "deploy" / "roadmap-sync-web.service"
SITE = ROOT / "deploy" / "nginx" / "roadmap-sync-web.conf"
GUIDE = ROOT / "docs" / "web.md"
INSTALL_ROOT = "/opt/roadmap-sync"
ETC_CONFIG = "/etc/roadmap-sync/config.toml"


def test_unit_runs_a_web_command_the_cli_accepts() -> None:
    text = UNIT.read_text(encoding="utf-8")
    exec_start = re.search(r"(?m)^ExecStart=(\S+) (.+)$", text)
    assert exec_start is not None
    assert exec_start.group(1) == f"{INSTALL_ROOT}/.venv/bin/roadmap-sync"
    args = shlex.split(exec_start.group(2))
    assert args[0] == "web"
    ctx = web_command.make_context("web", args[1:])
    assert ctx.params["config_path"] == Path(ETC_CONFIG)
    assert "Restart=on-failure" in text and "NoNewPrivileges=yes" in text


def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze not installed")
    config = demo_with_web(tmp_path / "demo", 1)
    unit = tmp_path / "roadmap-sync-web.service"
    unit.write_text(
        UNIT.read_text(encoding="utf-8")
        .replace(INSTALL_ROOT, str(ROOT))
        .replace(ETC_CONFIG, str(config.path)),
        encoding="utf-8",
    )
    done = subprocess.run([tool, "verify", str(unit)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "" and done.stderr.strip() == "", done.stderr


def test_nginx_site_redacts_tokens_and_caps_the_body() -> None:
    text = SITE.read_text(encoding="utf-8")
    assert "proxy_pass http://127.0.0.1:8080;" in text
    assert "client_max_body_size 11m;" in text
    assert "Strict-Transport-Security" in text and "ssl_protocols TLSv1.2 TLSv1.3;" in text
    # Every access_log uses the redacted format; the map turns a token into «-».
    logs = re.findall(r"(?m)^\s*access_log\s+([^;]+);", text)
    assert logs and all(line.split()[-1] == "roadmap_redacted" for line in logs)
    pattern = re.search(
        r'"~\^/\(\?<roadmap_kind>\[sc\]\)/\[\^/\]\+\(\?<roadmap_rest>\.\*\)\$"', text
    )
    assert pattern
    regex = re.compile(r"^/(?P<kind>[sc])/[^/]+(?P<rest>.*)$")
    assert regex.sub(r"/\g<kind>/-\g<rest>", "/s/SECRET/upload") == "/s/-/upload"
    assert "$request_uri" not in text.split("log_format", 1)[1].split(";", 1)[0]


def _self_signed(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "karta.example.ru")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    crt, pem = folder / "fullchain.pem", folder / "privkey.pem"
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return crt, pem


def test_nginx_accepts_the_site(tmp_path: Path) -> None:
    nginx = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if nginx is None:
        pytest.skip("nginx is not installed (Debian: nginx-light)")
    crt, pem = _self_signed(tmp_path)
    site = (
        SITE.read_text(encoding="utf-8")
        .replace("/etc/letsencrypt/live/karta.example.ru/fullchain.pem", str(crt))
        .replace("/etc/letsencrypt/live/karta.example.ru/privkey.pem", str(pem))
        .replace("/var/log/nginx/", f"{tmp_path}/")
        .replace("/var/www/letsencrypt", str(tmp_path))
    )
    (tmp_path / "site.conf").write_text(site, encoding="utf-8")
    temp = tmp_path / "temp"
    temp.mkdir()
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{\n client_body_temp_path {temp}/body;\n proxy_temp_path {temp}/proxy;\n"
        f" fastcgi_temp_path {temp}/fcgi;\n uwsgi_temp_path {temp}/uwsgi;\n"
        f" scgi_temp_path {temp}/scgi;\n access_log off;\n include {tmp_path}/site.conf;\n}}\n",
        encoding="utf-8",
    )
    done = subprocess.run(
        [
            nginx,
            "-t",
            "-p",
            str(tmp_path),
            "-c",
            str(tmp_path / "nginx.conf"),
            "-e",
            str(tmp_path / "error.log"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr


def test_the_guide_names_the_deploy_files() -> None:
    guide = GUIDE.read_text(encoding="utf-8")
    for name in ("roadmap-sync-web.service", "roadmap-sync-web.conf", "roadmap-sync links"):
        assert name in guide


def test_nginx_error_log_keeps_no_tokens() -> None:
    """nginx writes the request line (a link's token) into its error messages: every server
    logs only `crit`, to its own file."""
    text = SITE.read_text(encoding="utf-8")
    servers = text.split("server {")[1:]
    assert len(servers) == 2
    for server in servers:
        logs = re.findall(r"(?m)^\s*error_log\s+([^;]+);", server)
        assert logs == ["/var/log/nginx/roadmap-sync-web.error.log crit"]
    guide = GUIDE.read_text(encoding="utf-8")
    assert "roadmap-sync-web.error.log" in guide and "crit" in guide


def test_nginx_answers_its_own_errors_in_russian() -> None:
    text = SITE.read_text(encoding="utf-8")
    pages = dict(re.findall(r"(?m)^\s*error_page\s+(\d{3})\s+(\S+);", text))
    assert set(pages) == {"413", "429", "502", "503", "504"}
    root = re.search(r"location \^~ /roadmap-errors/ \{[^}]*root (\S+);", text)
    assert root and root.group(1) == f"{INSTALL_ROOT}/deploy/nginx"
    assert "internal;" in text and "proxy_intercept_errors" not in text.replace(
        "no proxy_intercept_errors", ""
    )
    for code, uri in pages.items():
        page = ROOT / "deploy" / "nginx" / uri.lstrip("/")
        html = page.read_text(encoding="utf-8")
        assert '<html lang="ru">' in html and '<meta charset="utf-8">' in html
        words = re.sub(r"<[^>]+>|\{[^}]*\}", " ", html.split("<body>", 1)[1])
        assert re.search(r"[а-яё]{4}", words) and not re.search(
            r"\b(Service|Error|Request)\b", words
        )
        assert code in html


def test_overload_is_answered_in_russian() -> None:
    """Past the in-flight limit the intake answers 503 itself, in Russian (uvicorn's own
    limit would answer «Service Unavailable»)."""
    import asyncio

    from sync.web.security import RateLimiter, SecurityMiddleware

    release = asyncio.Event()

    async def slow_app(scope: dict, receive: object, send: object) -> None:  # type: ignore[type-arg]
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})  # type: ignore[operator]
        await send({"type": "http.response.body", "body": b"ok"})  # type: ignore[operator]

    async def scenario() -> list[tuple[int, bytes]]:
        app = SecurityMiddleware(slow_app, RateLimiter(), 1000, max_in_flight=2)
        answers: list[tuple[int, bytes]] = []

        async def call() -> None:
            sent: list[dict] = []  # type: ignore[type-arg]

            async def send(message: dict) -> None:  # type: ignore[type-arg]
                sent.append(message)

            async def receive() -> dict:  # type: ignore[type-arg]
                return {"type": "http.request", "body": b""}

            scope = {"type": "http", "method": "GET", "path": "/", "client": ("10.0.0.1", 1)}
            await app(scope, receive, send)
            answers.append((sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])))

        tasks = [asyncio.create_task(call()) for _ in range(3)]
        await asyncio.sleep(0.05)
        release.set()
        await asyncio.gather(*tasks)
        return answers

    answers = asyncio.run(scenario())
    statuses = sorted(code for code, _ in answers)
    assert statuses == [200, 200, 503]
    body = next(b for code, b in answers if code == 503).decode()
    assert "Сервер занят" in body and "Service Unavailable" not in body
