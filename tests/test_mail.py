"""Reminders through a real SMTP server on loopback: who, subject, Russian text, intervals."""

from __future__ import annotations

import logging
import re
import threading
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from sync.config import Config, ConfigError, load_config
from sync.history import History
from sync.pipeline import RunResult, run
from sync.service.config import load_smtp
from sync.service.mail import COORDINATORS, days, plural, send_reminders
from sync.service.scheduler import Service
from tests.fixtures import TODAY, FakeClock, setup, utc, with_tables
from tests.smtp_server import Mailbox, make_certificate, smtp_server

NOW = datetime(2022, 1, 10, 2, 5).astimezone()
PASSWORD = "Пароль-не-для-журнала-42"


def with_emails(config: Config) -> Config:
    """Give each school an address (s1@example.ru, ...) and the coordinator two."""
    text = config.path.read_text(encoding="utf-8")
    text = re.sub(r'(?m)^id = "(s\d)"$', r'id = "\1"' + '\nemails = ["\\1@example.ru"]', text)
    config.path.write_text(text, encoding="utf-8")
    return load_config(config.path)


def smtp_table(box: Mailbox | None, **extra: object) -> str:
    lines = [
        "[smtp]",
        "enabled = true",
        'from = "Отдел образования <mouo@example.ru>"',
        "reminder_days = 30",
        "interval_days = 7",
        'coordinators = ["coord@example.ru", "head@example.ru"]',
        "timeout = 10",
    ]
    if box is not None:
        lines += [f'host = "{box.host}"', f"port = {box.port}", 'security = "none"']
    for key, value in extra.items():
        lines.append(f"{key} = {value!r}".replace("'", '"'))
    return "\n".join(lines)


@pytest.fixture
def synced(tmp_path: Path) -> tuple[Config, RunResult]:
    """The filled municipality of the pipeline tests, with addresses, after one run."""
    config = with_emails(setup(tmp_path))
    return config, run(config, today=TODAY)


def send(config: Config, result: RunResult, now: datetime = NOW):  # type: ignore[no-untyped-def]
    settings = load_smtp(config)
    assert settings is not None
    with History.open(config.history_path) as history:  # a new History each time: a restart
        return send_reminders(config, settings, result, history, now)


def test_each_school_gets_its_digest_and_the_coordinators_a_summary(
    synced: tuple[Config, RunResult],
) -> None:
    config, result = synced
    with smtp_server() as box:
        config = with_tables(config, smtp_table(box))
        report = send(config, result)
    assert sorted(report.sent) == [COORDINATORS, "s1", "s2", "s3"]
    assert report.failed == []
    assert len(box.received) == 4

    (s1,) = box.to("s1@example.ru")
    assert s1.rcpt_tos == ["s1@example.ru"]
    assert s1.mail_from == "mouo@example.ru"
    msg = s1.message
    assert msg["Subject"].startswith("Дорожная карта: просрочено")
    assert msg["Subject"].endswith("— МОУ СОШ № 1 с. Чара")
    assert msg["To"].addresses[0].display_name == "МОУ СОШ № 1 с. Чара"
    assert msg["From"].addresses[0].display_name == "Отдел образования"
    assert msg.get_content_charset() == "utf-8"
    assert msg["Message-ID"] and msg["Date"] and msg["Auto-Submitted"] == "auto-generated"
    # Headers travel encoded (7-bit), the Russian text comes back whole.
    assert all(ord(c) < 128 for c in s1.raw.decode("ascii"))
    body = s1.body
    assert "Здравствуйте!" in body
    # Row 5 «Сентябрь - ноябрь 2021 г.» is due 30.11.2021: 41 days overdue on 10.01.2022.
    assert re.search(
        r"№ 5 «.+» — срок 30\.11\.2021 \(Сентябрь - ноябрь 2021 г\.\), просрочено на 41 день",
        body,
    )
    assert "Просрочено (" in body
    assert "Выполнено" not in body.split("Отметьте")[0]  # done rows are not listed

    (s2,) = box.to("s2@example.ru")
    body2 = s2.body
    assert "Что исправить в книге" in body2
    assert "Сделано" in body2  # the unknown status it typed, with where it is
    assert re.search(r"лист «Дорожная карта», ячейка H\d+ \(ошибка\)", body2)
    assert "ошибок" in s2.message["Subject"]

    (summary,) = box.to("coord@example.ru")
    assert summary.rcpt_tos == ["coord@example.ru", "head@example.ru"]
    assert summary.message["Subject"] == "Дорожная карта: сводка на 10.01.2022 — Тестовый округ"
    text = summary.body
    for name in ("МОУ СОШ № 1 с. Чара", "МОУ СОШ № 2 с. Куанда", "МОУ СОШИ № 4 с. Кюсть-Кемда"):
        assert name in text
    assert "Напоминания отправлены: 3" in text
    assert "Мероприятия МОУО («МОУО»), просроченные и к сроку:" in text  # its own rows too
    assert f"Синхронизация № {result.run_id}: завершена" in text


def test_at_most_one_digest_per_interval_even_across_restarts(
    synced: tuple[Config, RunResult],
) -> None:
    config, result = synced
    with smtp_server() as box:
        config = with_tables(config, smtp_table(box))
        assert len(send(config, result).sent) == 4
        again = send(config, result)  # the same night, the service restarted
        assert again.sent == [] and sorted(again.skipped) == [COORDINATORS, "s1", "s2", "s3"]

        three_days = run(config, today=TODAY + timedelta(days=3))
        later = send(config, three_days, NOW + timedelta(days=3))
        assert later.sent == [COORDINATORS]  # the summary is daily, the digests weekly

        a_week = run(config, today=TODAY + timedelta(days=7))
        assert sorted(send(config, a_week, NOW + timedelta(days=7)).sent) == [
            COORDINATORS,
            "s1",
            "s2",
            "s3",
        ]
    assert len(box.to("s1@example.ru")) == 2
    assert len(box.to("coord@example.ru")) == 3


def test_dry_run_writes_eml_files_and_sends_nothing(
    synced: tuple[Config, RunResult], tmp_path: Path
) -> None:
    config, result = synced
    config = with_tables(config, smtp_table(None, dry_run_dir="outbox"))
    settings = load_smtp(config)
    assert settings is not None and settings.mode == "dry-run" and not settings.host
    report = send(config, result)
    files = sorted((tmp_path / "outbox").glob("*.eml"))
    assert [f.name for f in files] == [
        "2022-01-10_coordinators.eml",
        "2022-01-10_s1.eml",
        "2022-01-10_s2.eml",
        "2022-01-10_s3.eml",
    ]
    msg = message_from_bytes(files[1].read_bytes(), policy=policy.default)
    assert msg["To"].addresses[0].addr_spec == "s1@example.ru"
    body = msg.get_body(("plain",))
    assert body is not None and "просрочено на 41 день" in body.get_content()  # type: ignore[attr-defined]
    assert sorted(report.sent) == [COORDINATORS, "s1", "s2", "s3"]
    # A trial does not use up the interval of real mail.
    with History.open(config.history_path) as history:
        assert history.last_reminder("s1", "dry-run") == TODAY
        assert history.last_reminder("s1", "smtp") is None
    from sync.service.status import collect_status

    status = collect_status(config, NOW)
    assert status["reminders"] == "dry-run"
    assert {s["id"]: s["last_reminder"] for s in status["schools"]}["s1"] == "2022-01-10"


def test_starttls_and_login_with_the_password_from_the_environment(
    synced: tuple[Config, RunResult],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    config, result = synced
    cert = make_certificate(tmp_path)
    monkeypatch.setenv("ROADMAP_TEST_SMTP_PASSWORD", PASSWORD)
    caplog.set_level(logging.DEBUG)
    with smtp_server(starttls=cert, users={"mouo": PASSWORD}) as box:
        table = smtp_table(box).replace('security = "none"', 'security = "starttls"')
        config = with_tables(
            config,
            table + f'\nuser = "mouo"\npassword_env = "ROADMAP_TEST_SMTP_PASSWORD"'
            f'\nca_file = "{cert[0]}"',
        )
        report = send(config, result)
    assert sorted(report.sent) == [COORDINATORS, "s1", "s2", "s3"]
    assert {r.login for r in box.received} == {"mouo"}
    assert box.logins == [("mouo", PASSWORD)]  # one connection for every message
    assert PASSWORD not in caplog.text
    assert PASSWORD not in config.path.read_text(encoding="utf-8")


def test_implicit_tls_on_its_own_port(synced: tuple[Config, RunResult], tmp_path: Path) -> None:
    config, result = synced
    cert = make_certificate(tmp_path)
    with smtp_server(implicit_tls=cert) as box:
        table = smtp_table(box).replace('security = "none"', 'security = "ssl"')
        config = with_tables(config, table + f'\nca_file = "{cert[0]}"')
        assert len(send(config, result).sent) == 4
    assert len(box.received) == 4


def test_an_untrusted_certificate_is_refused(
    synced: tuple[Config, RunResult], tmp_path: Path
) -> None:
    config, result = synced
    cert = make_certificate(tmp_path)
    with smtp_server(starttls=cert) as box:
        table = smtp_table(box).replace('security = "none"', 'security = "starttls"')
        config = with_tables(config, table)  # no ca_file: the self-signed one is not trusted
        report = send(config, result)
    assert report.sent == [] and box.received == []
    assert len(report.failed) == 4
    assert "нет связи с почтовым сервером" in report.failed[0][1]


def test_a_wrong_or_missing_password_fails_politely_and_is_retried_next_night(
    synced: tuple[Config, RunResult], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, result = synced
    cert = make_certificate(tmp_path)
    with smtp_server(starttls=cert, users={"mouo": PASSWORD}) as box:
        table = smtp_table(box).replace('security = "none"', 'security = "starttls"')
        config = with_tables(
            config,
            table + '\nuser = "mouo"\npassword_env = "ROADMAP_TEST_SMTP_PASSWORD"'
            f'\nca_file = "{cert[0]}"',
        )
        monkeypatch.delenv("ROADMAP_TEST_SMTP_PASSWORD", raising=False)
        missing = send(config, result)
        assert "ROADMAP_TEST_SMTP_PASSWORD" in missing.failed[0][1]
        monkeypatch.setenv("ROADMAP_TEST_SMTP_PASSWORD", "wrong")
        wrong = send(config, result)
        assert "не принял" in wrong.failed[0][1]
        monkeypatch.setenv("ROADMAP_TEST_SMTP_PASSWORD", PASSWORD)
        assert len(send(config, result).sent) == 4  # nothing was recorded as sent before
    assert len(box.received) == 4


def test_the_nightly_service_sends_and_extra_runs_do_not(tmp_path: Path) -> None:
    config = with_emails(setup(tmp_path))
    config = with_tables(
        config,
        '[schedule]\ncatch_up = false\n[[schedule.extra]]\nfrom = "01-09"\nto = "01-11"'
        '\nevery_hours = 12\nhours = "12:00-12:00"\n' + smtp_table(None, dry_run_dir="outbox"),
    )
    stop = threading.Event()
    start = utc(2022, 1, 9, 0)  # 09:00 in Чита: the extra run at 12:00 comes first
    clock = FakeClock(start, start + timedelta(hours=18), stop)
    service = Service(config, clock=clock, sleep=clock.sleep, stop=stop, max_idle=3600)
    service.serve_forever()
    assert [r.outcome for r in service.results] == ["ok", "ok"]
    outbox = sorted(p.name for p in (tmp_path / "outbox").glob("*.eml"))
    assert outbox == [
        "2022-01-10_coordinators.eml",
        "2022-01-10_s1.eml",
        "2022-01-10_s2.eml",
        "2022-01-10_s3.eml",
    ]


def test_no_mail_unless_the_configuration_asks(synced: tuple[Config, RunResult]) -> None:
    config, _ = synced
    assert load_smtp(config) is None
    config = with_tables(config, '[smtp]\nhost = "mail.example.ru"\nfrom = "a@example.ru"')
    assert load_smtp(config) is None  # a table without `enabled = true` sends nothing


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ('host = "h"\nfrom = "a@b.ru"\npassword = "secret"', "password_env"),
        ('host = "h"\nfrom = "a@b.ru"\nuser = "u"', "password_env"),
        ('host = "h"\nfrom = "a@b.ru"\nuser = "u"\npassword_env = "P"\nsecurity = "none"', "шифр"),
        ('host = "h"\nfrom = "нет адреса"', "smtp.from"),
        ('from = "a@b.ru"', "smtp.host"),
        ('host = "h"\nfrom = "a@b.ru"\nsecurity = "tls"', "starttls"),
        ('host = "h"\nfrom = "a@b.ru"\ncoordinators = ["x"]', "smtp.coordinators"),
    ],
)
def test_smtp_mistakes_name_the_key(tmp_path: Path, extra: str, words: str) -> None:
    from tests.fixtures import municipality

    config = with_tables(municipality(tmp_path), "[smtp]\nenabled = true\n" + extra)
    with pytest.raises(ConfigError) as e:
        load_smtp(config)
    assert words in str(e.value) and "строка" in str(e.value)


def test_coordinators_default_to_the_coordinator_emails(tmp_path: Path) -> None:
    from tests.fixtures import municipality

    config = municipality(tmp_path)
    text = config.path.read_text(encoding="utf-8").replace(
        'name = "МОУО"', 'name = "МОУО"\nemails = ["mouo@example.ru"]'
    )
    config.path.write_text(text, encoding="utf-8")
    config = with_tables(
        load_config(config.path), '[smtp]\nenabled = true\nfrom = "a@b.ru"\ndry_run_dir = "o"'
    )
    settings = load_smtp(config)
    assert settings is not None and settings.coordinators == ("mouo@example.ru",)


def test_russian_plurals() -> None:
    assert [days(n) for n in (1, 2, 5, 11, 12, 21, 22, 25, 101, 111)] == [
        "1 день",
        "2 дня",
        "5 дней",
        "11 дней",
        "12 дней",
        "21 день",
        "22 дня",
        "25 дней",
        "101 день",
        "111 дней",
    ]
    assert plural(3, "школа", "школы", "школ") == "3 школы"
