"""The deploy recipes, tested as far as this machine allows.

The systemd unit passes `systemd-analyze verify` with its paths pointed at this checkout; the cron
line runs as cron would run it (/bin/sh, cron's PATH); the Windows task's XML parses and its
command line is accepted by the `serve` command itself. Nothing here installs anything.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from sync.cli_service import serve_command, status_command
from sync.history import History
from tests.fixtures import ROOT, setup

DEPLOY = ROOT / "deploy"
UNIT = DEPLOY / "roadmap-sync.service"
CRON = DEPLOY / "roadmap-sync.cron"
TASK = DEPLOY / "windows" / "roadmap-sync-task.xml"
PS1 = DEPLOY / "windows" / "install-task.ps1"
GUIDE = ROOT / "docs" / "service.md"
NS = {"t": "http://schemas.microsoft.com/windows/2004/02/mit/task"}

INSTALL_ROOT = "/opt/roadmap-sync"
ETC_CONFIG = "/etc/roadmap-sync/config.toml"
ETC_SECRETS = "/etc/roadmap-sync/secrets.env"


def _accepts(command: object, args: list[str]) -> None:
    """The click command parses these arguments (options exist, values fit)."""
    import click

    assert isinstance(command, click.Command)
    try:
        ctx = command.make_context(str(command.name), list(args))
    except click.exceptions.Exit as e:  # --help
        assert e.exit_code == 0
        return
    ctx.close()


def _systemd_analyze() -> str | None:
    found = shutil.which("systemd-analyze")
    if found is None and os.environ.get("CI"):
        pytest.fail("systemd-analyze is missing: install Debian's `systemd` package")
    return found


def test_systemd_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    tool = _systemd_analyze()
    if tool is None:
        pytest.skip("systemd-analyze not installed on this developer machine")
    config = setup(tmp_path)
    text = UNIT.read_text(encoding="utf-8")
    assert (
        f"ExecStart={INSTALL_ROOT}/.venv/bin/roadmap-sync serve --env-file {ETC_SECRETS}"
        f" --config {ETC_CONFIG}"
    ) in text
    assert "EnvironmentFile" not in text  # roadmap-sync reads the secrets itself
    # The same unit, pointed at this checkout's virtualenv and a real configuration.
    unit = tmp_path / "roadmap-sync.service"
    unit.write_text(
        text.replace(INSTALL_ROOT, str(ROOT)).replace(ETC_CONFIG, str(config.path)),
        encoding="utf-8",
    )
    done = subprocess.run([tool, "verify", str(unit)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    # verify prints warnings (an unknown key, a bad user name) but still exits 0: none allowed.
    assert done.stdout.strip() == "" and done.stderr.strip() == "", done.stderr


def test_systemd_unit_command_is_one_serve_accepts() -> None:
    exec_start = re.search(r"(?m)^ExecStart=(\S+) (.+)$", UNIT.read_text(encoding="utf-8"))
    assert exec_start is not None
    args = shlex.split(exec_start.group(2))
    assert args[0] == "serve"
    _accepts(serve_command, args[1:])
    text = UNIT.read_text(encoding="utf-8")
    assert "KillSignal=SIGTERM" in text and "TimeoutStopSec=" in text
    assert "Restart=on-failure" in text


def test_cron_line_runs_as_cron_runs_it_and_only_when_due(tmp_path: Path) -> None:
    lines = [
        line
        for line in CRON.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#") and "=" not in line.split()[0]
    ]
    assert len(lines) == 1
    minute, hour, day, month, weekday, user, command = lines[0].split(None, 6)
    assert (minute, hour, day, month, weekday) == ("*/15", "*", "*", "*", "*")
    assert user == "roadmap-sync"
    assert "%" not in command  # cron would cut the command there
    from sync.cli import main

    assert "serve" in main.commands, "register serve and status in sync/cli.py (main.add_command)"

    config = setup(tmp_path)
    secrets = tmp_path / "secrets.env"
    # A password a shell would expand or run: sourced through `sh`, it would create `pwned`.
    pwned = tmp_path / "pwned"
    secrets.write_text(
        f"ROADMAP_SMTP_PASSWORD=a$HOME`touch {pwned}`$(touch {pwned})\n", encoding="utf-8"
    )
    assert ". " not in command and "source" not in command and "--env-file" in command
    real = (
        command.replace(INSTALL_ROOT, str(ROOT))
        .replace(ETC_CONFIG, str(config.path))
        .replace(ETC_SECRETS, str(secrets))
    )
    cron_env = {"PATH": "/usr/bin:/bin", "SHELL": "/bin/sh", "HOME": str(tmp_path), "TZ": "UTC"}
    if os.environ.get("PYTHONPATH"):  # a developer's worktree sharing another checkout's venv
        cron_env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    for _ in range(2):  # the second call, 15 minutes later, finds the work done
        done = subprocess.run(
            ["/bin/sh", "-c", real], env=cron_env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout == done.stderr == ""  # cron would mail any output
    with History.open(config.history_path) as history:
        assert [r["outcome"] for r in history.runs()] == ["ok"]
    log = (tmp_path / "logs" / "roadmap-sync.log").read_text(encoding="utf-8")
    assert log.count("наступило: запуск") == 1
    assert not pwned.exists()


def test_windows_task_xml_is_what_task_scheduler_imports() -> None:
    raw = TASK.read_bytes()
    assert raw.startswith(b"\xff\xfe")  # UTF-16 LE with BOM, as Task Scheduler exports
    text = raw.decode("utf-16")
    assert "\r\n" in text
    root = ET.fromstring(text.encode("utf-16"))
    assert root.tag == f"{{{NS['t']}}}Task" and root.get("version") == "1.2"
    command = root.findtext("t:Actions/t:Exec/t:Command", namespaces=NS)
    arguments = root.findtext("t:Actions/t:Exec/t:Arguments", namespaces=NS)
    assert command == r"C:\roadmap-sync\.venv\Scripts\roadmap-sync.exe"
    assert arguments is not None
    args = [a.strip('"') for a in shlex.split(arguments, posix=False)]
    assert args[:2] == ["serve", "--once"]
    _accepts(serve_command, args[1:])
    settings = root.find("t:Settings", NS)
    assert settings is not None
    assert settings.findtext("t:StartWhenAvailable", namespaces=NS) == "true"
    assert settings.findtext("t:MultipleInstancesPolicy", namespaces=NS) == "IgnoreNew"
    assert settings.findtext("t:DisallowStartIfOnBatteries", namespaces=NS) == "false"
    interval = root.findtext("t:Triggers/t:CalendarTrigger/t:Repetition/t:Interval", namespaces=NS)
    assert interval == "PT15M"
    assert root.find("t:Triggers/t:LogonTrigger", NS) is not None


def test_windows_install_script_registers_the_same_command() -> None:
    raw = PS1.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # Windows PowerShell 5.1 needs the BOM for Cyrillic
    text = raw.decode("utf-8-sig")
    assert 'Argument "serve --once --config `"$Config`""' in text
    assert "-StartWhenAvailable" in text and "-MultipleInstances IgnoreNew" in text
    assert "New-TimeSpan -Minutes $EveryMinutes" in text
    assert "status --config $Config" in text
    _accepts(status_command, ["--config", "x.toml"])


def test_the_admin_guide_covers_every_recipe_and_its_commands_parse() -> None:
    guide = GUIDE.read_text(encoding="utf-8")
    for path in (UNIT, CRON, TASK, PS1):
        assert str(path.relative_to(ROOT)) in guide, path
    commands = {"serve": serve_command, "status": status_command}
    found = re.findall(r"roadmap-sync(?:\.exe)? (serve|status)((?: [^\s`|>]+)*)", guide)
    assert {name for name, _ in found} == {"serve", "status"}
    for name, rest in found:
        if rest.strip():  # a bare `roadmap-sync status` is the command's name in a sentence
            _accepts(commands[name], [a.strip('"') for a in shlex.split(rest, posix=False)])
