"""The half-year справка: numbers off the master, the .docx through LibreOffice, the service."""

from __future__ import annotations

import io
import re
import subprocess
import zipfile
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from docx import Document
from docx.oxml.ns import qn
from openpyxl import load_workbook

from sync.builders.fill import fill_workbook
from sync.cli import main
from sync.config import Config, ConfigError
from sync.consolidate import HEADER_ROW
from sync.demo import DEMO_TODAY, make_demo
from sync.history import History
from sync.pipeline import load_context, run
from sync.service.config import load_smtp
from sync.service.scheduler import NIGHTLY, Service
from sync.spec import load_spec
from sync.spravka.data import gather, ru_date
from sync.spravka.make import make_spravka
from sync.spravka.record import all_spravki, previous_spravka
from sync.spravka.render import SMALL_TABLE_CM, SpravkaError, table_height_cm
from sync.spravka.service import write_if_due
from sync.spravka.settings import load_report_settings
from sync.spravka.template import DEFAULT_TEMPLATE, build_default_template
from tests.fixtures import utc, with_tables
from tests.libreoffice import convert
from tests.smtp_server import smtp_server

NOW = datetime(2022, 1, 10, 9, 0).astimezone()
HOSTILE = "{{ 7*7 }} & <b>не тег</b> {% if x %}"


def _demo(folder: Path, schools: int = 4) -> Config:
    config = make_demo(folder, schools)
    # A school's own words reach the document as text, never as template code or XML.
    _, plan = load_context(config)
    first = plan.for_audience(config.schools[0].audience)[0]
    fill_workbook(
        Path(config.schools[0].source),
        load_spec(),
        {first.no: {"status": "Не выполнено", "comment": HOSTILE}},
    )
    result = run(config, today=DEMO_TODAY)
    assert result.outcome == "ok"
    return config


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Config:
    return _demo(tmp_path_factory.mktemp("demo"))


@pytest.fixture(scope="module")
def rendered(demo: Config, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """The default справка as of the demo's day, converted to PDF by LibreOffice, and its text."""
    out = tmp_path_factory.mktemp("pdf")
    made = make_spravka(demo, DEMO_TODAY, NOW, output=out / "Справка.docx", record=False)
    pdf = convert(made.path, "pdf", out, tmp_path_factory.mktemp("lo-profile"))
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    yield pdf, text


def _pages(pdf: Path) -> int:
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True)
    return int(next(x for x in info.stdout.splitlines() if x.startswith("Pages:")).split()[-1])


def _master_schools(config: Config) -> dict[str, tuple[int, int, int]]:
    """The written master's «Школы» sheet: school -> (activities, done, overdue)."""
    wb = load_workbook(config.master_path, read_only=True)
    rows = list(wb["Школы"].iter_rows(min_row=HEADER_ROW, values_only=True))  # below the title
    head = list(rows[0])
    col = [head.index(h) for h in ("Мероприятий", "Выполнено", "Просрочено")]
    return {
        str(r[0]): (int(r[col[0]] or 0), int(r[col[1]] or 0), int(r[col[2]] or 0)) for r in rows[1:]
    }


def test_numbers_agree_with_the_master_the_sync_wrote(demo: Config) -> None:
    spec, plan = load_context(demo)
    with History.open(demo.history_path) as history:
        spravka, run_id = gather(demo, history, plan, spec, DEMO_TODAY)
    assert run_id == 1
    master = _master_schools(demo)
    assert {s.name: (s.activities, s.done, s.overdue) for s in spravka.schools} == master
    assert spravka.total.done == sum(v[1] for v in master.values()) > 0
    assert spravka.total.overdue == sum(v[2] for v in master.values()) > 0
    assert spravka.schools_count == len(demo.schools)
    # The sections split the same rows.
    assert sum(s.activities for s in spravka.sections) == spravka.total.activities
    assert sum(s.done for s in spravka.sections) == spravka.total.done
    # «Не выполнено» rows carry the school's reason; the hostile one among them.
    assert HOSTILE in [a.comment for a in spravka.not_done]
    assert spravka.total.not_done == len(spravka.not_done)
    # Without review marks every done row waits for the coordinator.
    assert spravka.on_review == spravka.total.done and spravka.accepted == spravka.rework == 0


def test_the_docx_renders_in_libreoffice_with_the_masters_numbers(
    demo: Config, rendered: tuple[Path, str]
) -> None:
    pdf, text = rendered
    flat = " ".join(text.split())
    assert _pages(pdf) >= 4
    assert "АНАЛИТИЧЕСКАЯ СПРАВКА" in flat
    assert "Каларский муниципальный округ (демо)" in flat
    assert f"с {ru_date(demo.period.start)} по {ru_date(DEMO_TODAY)}" in flat
    for n in range(1, 6):
        assert f"Таблица {n} —" in flat
    assert "Рисунок 1 —" in flat and "Рисунок 2 —" in flat
    master = _master_schools(demo)
    total_done = sum(v[1] for v in master.values())
    total = sum(v[0] for v in master.values())
    assert f"Выполнено {total_done} (" in flat
    assert f"Мероприятий в книгах школ и МОУО, всего {total}" in flat
    table3 = text.split("Таблица 3")[1].split("Рисунок 2")[0]
    seen = set()
    for line in table3.splitlines():
        # Each school's line in Таблица 3: its name (perhaps wrapped), category, then numbers.
        for name, (activities, done, overdue) in master.items():
            if line.strip().startswith(name.split(" с. ")[0] + " ") and "%" in line:
                numbers = [int(x) for x in line.split() if x.isdigit()]
                assert numbers[-5:-2] == [activities, done, overdue], line  # then not done, %
                seen.add(name)
    assert len(seen) == len(demo.schools)
    raw = subprocess.run(
        ["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert HOSTILE in " ".join(raw.split())
    assert "49" not in flat.split("Таблица 5")[1].split("6.")[0]  # {{ 7*7 }} not evaluated
    assert "Это первая справка" in flat


def test_official_style_times_new_roman_14_and_12_in_tables(demo: Config, tmp_path: Path) -> None:
    made = make_spravka(demo, DEMO_TODAY, NOW, output=tmp_path / "s.docx", record=False)
    doc = Document(str(made.path))
    normal = doc.styles["Normal"]
    assert normal.font.name == "Times New Roman" and normal.font.size.pt == 14
    table_style = doc.styles["Текст таблицы"]
    assert table_style.font.size.pt == 12
    cell = doc.tables[2].rows[1].cells[0].paragraphs[0]
    assert cell.style.name == "Текст таблицы"
    section = doc.sections[0]
    assert round(section.left_margin.mm) == 30 and round(section.page_width.mm) == 210
    # Two charts are embedded as pictures.
    with zipfile.ZipFile(made.path) as z:
        assert len([n for n in z.namelist() if n.startswith("word/media/")]) == 2


def test_the_committed_default_template_is_what_the_code_builds() -> None:
    assert DEFAULT_TEMPLATE.read_bytes() == build_default_template()


def test_the_departments_own_template(demo: Config, tmp_path: Path) -> None:
    own = Document()
    own.add_paragraph("КОМИТЕТ ОБРАЗОВАНИЯ КАЛАРСКОГО ОКРУГА, бланк")
    own.add_paragraph("Выполнено {{ total.done }} из {{ total.activities }} на {{ date }}.")
    own.add_paragraph("{{ chart_schools }}")
    own.add_paragraph("Подписал: {{ signer }}")
    own.save(str(tmp_path / "бланк.docx"))
    config = with_tables(
        demo_copy(demo, tmp_path),
        '[report]\ntemplate = "бланк.docx"\nsigner = "Т. Н. Васильева"',
    )
    (config.path.parent / "бланк.docx").write_bytes((tmp_path / "бланк.docx").read_bytes())
    made = make_spravka(config, DEMO_TODAY, NOW, output=tmp_path / "out.docx", record=False)
    text = "\n".join(p.text for p in Document(str(made.path)).paragraphs)
    t = made.spravka.total
    assert "КОМИТЕТ ОБРАЗОВАНИЯ КАЛАРСКОГО ОКРУГА" in text
    assert f"Выполнено {t.done} из {t.activities} на {ru_date(DEMO_TODAY)}." in text
    assert "Подписал: Т. Н. Васильева" in text


def demo_copy(demo: Config, tmp_path: Path) -> Config:
    """A config file in tmp_path pointing at the demo's data (the demo's own stays untouched)."""
    text = demo.path.read_text(encoding="utf-8")
    base = demo.path.parent.as_posix()
    text = text.replace('file = "plan.tsv"', f'file = "{base}/plan.tsv"')
    for key in ("schools_dir", "master", "history", "backups"):
        text = text.replace(f'{key} = "', f'{key} = "{base}/')
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    from sync.config import load_config

    return load_config(path)


def test_a_broken_template_is_a_russian_message(demo: Config, tmp_path: Path) -> None:
    bad = Document()
    bad.add_paragraph("Выполнено {{ total.done ")
    bad.save(str(tmp_path / "плохой.docx"))
    (tmp_path / "не-шаблон.docx").write_text("это не документ", encoding="utf-8")
    config = with_tables(demo_copy(demo, tmp_path), '[report]\ntemplate = "плохой.docx"')
    with pytest.raises(SpravkaError, match=r"Ошибка в шаблоне справки плохой\.docx"):
        make_spravka(config, DEMO_TODAY, NOW, output=tmp_path / "o.docx", record=False)
    assert not (tmp_path / "o.docx").exists()
    config = with_tables(demo_copy(demo, tmp_path), '[report]\ntemplate = "не-шаблон.docx"')
    with pytest.raises(SpravkaError, match="не открывается как документ Word"):
        make_spravka(config, DEMO_TODAY, NOW, output=tmp_path / "o.docx", record=False)
    config = with_tables(demo_copy(demo, tmp_path), '[report]\ntemplate = "нет.docx"')
    with pytest.raises(ConfigError, match=r"report\.template.*не найден"):
        load_report_settings(config)


def test_report_settings_dates_and_mistakes(demo: Config, tmp_path: Path) -> None:
    settings = load_report_settings(demo_copy(demo, tmp_path))
    assert settings.due_now(date(2022, 1, 11)) is None
    assert settings.due_now(date(2022, 1, 12)) == date(2022, 1, 15)
    assert settings.due_now(date(2022, 1, 15)) == date(2022, 1, 15)
    assert settings.due_now(date(2022, 6, 8)) == date(2022, 6, 10)
    assert settings.due_now(date(2022, 6, 11)) is None
    config = with_tables(
        demo_copy(demo, tmp_path), '[report]\ndates = ["2022-07-25"]\ndays_before = 7'
    )
    settings = load_report_settings(config)
    assert settings.due_now(date(2022, 7, 18)) == date(2022, 7, 25)
    assert settings.due_now(date(2023, 7, 20)) is None
    config = with_tables(demo_copy(demo, tmp_path), '[report]\ndates = ["15 января"]')
    with pytest.raises(ConfigError, match=r"строка \d+, ключ «report.dates».*01-15"):
        load_report_settings(config)


def _fresh(tmp_path: Path) -> Config:
    return _demo(tmp_path / "m", schools=3)


def test_what_changed_since_the_previous_spravka(tmp_path: Path) -> None:
    config = _fresh(tmp_path)
    first = make_spravka(config, DEMO_TODAY, NOW, output=tmp_path / "1.docx", xlsx=None)
    assert first.spravka.previous is None
    # A school reports every row done; the next night's sync reads it.
    school = config.schools[1]
    spec, plan = load_context(config)
    done = {
        i.no: {"status": "Выполнено", "done_on": datetime(2022, 1, 20), "evidence": "Приказ"}
        for i in plan.for_audience(school.audience)
    }
    fill_workbook(Path(school.source), spec, done)
    later = DEMO_TODAY + timedelta(days=14)
    assert run(config, today=later).outcome == "ok"
    second = make_spravka(config, later, NOW, output=tmp_path / "2.docx", xlsx=tmp_path / "2.xlsx")
    s = second.spravka
    assert s.previous is not None and s.previous.as_of == DEMO_TODAY
    line = next(c for c in s.changes if c.name == school.name)
    before = next(x for x in first.spravka.schools if x.name == school.name)
    now = next(x for x in s.schools if x.name == school.name)
    assert now.done == now.activities >= len(done)  # every row done (its own row was already)
    assert (line.done_before, line.done_now) == (before.done, now.done)
    assert line.overdue_now == 0 and line.done_delta == f"+{now.done - before.done}"
    total = s.changes[-1]
    assert (total.done_before, total.done_now) == (first.spravka.total.done, s.total.done)
    body = "\n".join(p.text for p in Document(str(second.path)).paragraphs)
    assert f"По сравнению со справкой на {ru_date(DEMO_TODAY)}" in body
    assert f"было {first.spravka.total.done}, стало {s.total.done}" in body
    # An --as-of before the first справка compares with nothing; the records are kept.
    with History.open(config.history_path) as history:
        assert [x.as_of for x in all_spravki(history)] == [DEMO_TODAY, later]
    # The workbook twin holds the same tables.
    wb = load_workbook(tmp_path / "2.xlsx", read_only=True)
    assert wb.sheetnames == [
        "Показатели",
        "Разделы",
        "Школы",
        "Просрочено",
        "Не выполнено",
        "Изменения",
    ]
    rows = list(wb["Школы"].iter_rows(min_row=HEADER_ROW, values_only=True))
    assert {r[0]: (r[2], r[3], r[4]) for r in rows[1:-1]} == {
        x.name: (x.activities, x.done, x.overdue) for x in s.schools
    }
    assert rows[-1][0] == "Итого" and rows[-1][3] == s.total.done


def test_the_report_command(tmp_path: Path) -> None:
    config = _fresh(tmp_path)
    runner = CliRunner()
    out = tmp_path / "справка.docx"
    result = runner.invoke(
        main,
        ["report", "--config", str(config.path), "--as-of", "10.01.2022", "-o", str(out), "--xlsx"],
    )
    assert result.exit_code == 0, result.output
    assert out.is_file() and out.with_suffix(".xlsx").is_file()
    assert "Справка на 10.01.2022" in result.output and "выполнено" in result.output
    # Before any sync had read a book there is nothing to report: a Russian message, code 2.
    result = runner.invoke(
        main, ["report", "--config", str(config.path), "--as-of", "2021-09-01", "-o", str(out)]
    )
    assert result.exit_code == 2
    assert "ни одна книга ещё не прочитана" in result.output
    result = runner.invoke(main, ["report", "--config", str(config.path), "--as-of", "вчера"])
    assert result.exit_code == 2 and "ожидается дата" in result.output
    assert "справка" in runner.invoke(main, ["report", "--help"]).output.lower()


def test_drafts_are_never_the_baseline_of_what_changed(tmp_path: Path) -> None:
    """Every `report` run was recorded and the next справка compared with the newest of them,
    drafts included. Now only final справки (a reporting date, or --final) are a baseline."""
    config = _fresh(tmp_path)
    runner = CliRunner()
    cfg = str(config.path)
    first = runner.invoke(main, ["report", "--config", cfg, "--as-of", "2022-01-10", "--final"])
    assert first.exit_code == 0, first.output
    assert "(окончательная)" in first.output
    later = DEMO_TODAY + timedelta(days=14)
    assert run(config, today=later).outcome == "ok"
    # Not in a reporting period ([report] dates 01-15 and 06-10, 3 days before): a draft.
    draft = runner.invoke(main, ["report", "--config", cfg, "--as-of", "2022-01-24"])
    assert draft.exit_code == 0, draft.output
    assert "черновик" in draft.output
    folder = load_report_settings(config).folder
    assert folder is not None and (folder / "Справка на 2022-01-24 (черновик).docx").is_file()
    assert "Изменения — по сравнению со справкой на 10.01.2022" in draft.output
    again = runner.invoke(main, ["report", "--config", cfg, "--as-of", "2022-01-25", "--draft"])
    assert "по сравнению со справкой на 10.01.2022" in again.output  # not with the draft of 24.01
    final = runner.invoke(main, ["report", "--config", cfg, "--as-of", "2022-01-26", "--final"])
    assert "по сравнению со справкой на 10.01.2022" in final.output
    assert (folder / "Справка на 2022-01-26.docx").is_file()
    # In the reporting period the справка is final by default; the next compares with it.
    due = runner.invoke(main, ["report", "--config", cfg, "--as-of", "2022-06-08"])
    assert "(окончательная)" in due.output and "справкой на 26.01.2022" in due.output
    with History.open(config.history_path) as history:
        kinds = [(x.as_of.isoformat(), x.final) for x in all_spravki(history)]
        assert previous_spravka(history, date(2022, 6, 9)).as_of == date(2022, 6, 8)  # type: ignore[union-attr]
    assert kinds == [
        ("2022-01-10", True),
        ("2022-01-24", False),
        ("2022-01-25", False),
        ("2022-01-26", True),
        ("2022-06-08", True),
    ]


def test_headings_captions_and_the_signature_keep_with_what_follows(
    demo: Config, tmp_path: Path
) -> None:
    """The layout review: a heading ended a page while its caption started the next, and the
    signature stood alone on the last page. Headings, intros, captions and charts keep with
    the next paragraph; the conclusions keep with the signature; a small table is never split,
    a long one breaks only between rows."""
    made = make_spravka(demo, DEMO_TODAY, NOW, output=tmp_path / "s.docx", record=False)
    doc = Document(str(made.path))
    paragraphs = doc.paragraphs
    texts = [p.text for p in paragraphs]

    def keeps(p: Any) -> bool:
        return bool(p.paragraph_format.keep_with_next or p.style.paragraph_format.keep_with_next)

    for i, p in enumerate(paragraphs):
        if re.match(r"^\d\. ", p.text) or p.text.startswith(("Таблица ", "Справка подготовлена")):
            assert keeps(p), p.text
        if p.text.startswith(("Исполнение мероприятий", "Мероприятия, ")):
            assert keeps(p), p.text
        if p.text.startswith("Рисунок"):
            assert keeps(paragraphs[i - 1]), "the chart must stay with its caption"
    conclusions = texts.index("7. Выводы и предложения")
    assert all(keeps(p) for p in paragraphs[conclusions:]), "conclusions apart from the signature"
    signature = doc.tables[-1]
    assert "____________" in signature.rows[0].cells[1].text
    body = list(doc.element.body.iterchildren())
    assert body.index(signature._tbl) == body.index(paragraphs[-1]._p) + 1
    for table in doc.tables[:-1]:
        for row in table.rows:
            assert row._tr.trPr is not None and row._tr.trPr.find(qn("w:cantSplit")) is not None
        kept = [
            all(p.paragraph_format.keep_with_next for c in row.cells for p in c.paragraphs)
            for row in table.rows[:-1]
        ]
        small = table_height_cm(table) <= SMALL_TABLE_CM
        assert all(kept) if small else not any(kept)
    assert table_height_cm(doc.tables[0]) <= SMALL_TABLE_CM  # the headline table: kept whole


def test_no_page_ends_with_a_heading_or_a_caption(rendered: tuple[Path, str]) -> None:
    _pdf, text = rendered
    pages = [p for p in text.split("\f") if p.strip()]
    for n, page in enumerate(pages, start=1):
        lines = [line.strip() for line in page.splitlines() if line.strip()]
        last = lines[-1]
        assert not re.match(r"^\d\. [А-ЯЁ]", last), f"page {n} ends with the heading «{last}»"
        assert not last.startswith("Таблица "), f"page {n} ends with the caption «{last}»"
    last_page = pages[-1]
    assert "____________" in last_page and "7. Выводы и предложения" in last_page


def _attachments(msg: EmailMessage) -> dict[str, bytes]:
    return {
        str(part.get_filename()): part.get_content()
        for part in msg.iter_attachments()
        if isinstance(part, EmailMessage)
    }


def test_the_nightly_service_writes_and_mails_it_before_the_reporting_date(
    tmp_path: Path,
) -> None:
    config = _fresh(tmp_path)
    with smtp_server() as box:
        config = with_tables(
            config,
            "[smtp]\nenabled = true\n"
            'from = "Отдел образования <mouo@example.ru>"\n'
            f'host = "{box.host}"\nport = {box.port}\nsecurity = "none"\n'
            'coordinators = ["coord@example.ru"]\ninterval_days = 30\n'
            '[report]\ndays_before = 3\nsigner = "Т. Н. Васильева"',
        )
        folder = config.master_path.parent / "Справки"
        # 11 January: four days before the 15th — nothing yet.
        service = Service(config, clock=lambda: utc(2022, 1, 10, 17))
        assert service.run_now(NIGHTLY) is not None
        assert not folder.exists()
        assert not box.to("coord@example.ru") or all(
            "Справка" not in r.message["Subject"] for r in box.to("coord@example.ru")
        )
        # 12 January, 02:00 in Чита: the справка is written and mailed to the coordinators.
        service = Service(config, clock=lambda: utc(2022, 1, 11, 17))
        assert service.run_now(NIGHTLY) is not None
        docx = folder / "Справка на 2022-01-12.docx"
        assert docx.is_file() and docx.with_suffix(".xlsx").is_file()
        mails = [r for r in box.to("coord@example.ru") if "Справка" in r.message["Subject"]]
        assert len(mails) == 1
        files = _attachments(mails[0].message)
        assert files["Справка на 2022-01-12.docx"] == docx.read_bytes()
        assert "Справка на 2022-01-12.xlsx" in files
        assert "15 января 2022 г." in mails[0].body
        doc = Document(io.BytesIO(files["Справка на 2022-01-12.docx"]))
        assert any("Т. Н. Васильева" in c.text for t in doc.tables for r in t.rows for c in r.cells)
        # The next night: written and mailed once per reporting date.
        service = Service(config, clock=lambda: utc(2022, 1, 12, 17))
        assert service.run_now(NIGHTLY) is not None
        assert (
            len([r for r in box.to("coord@example.ru") if "Справка" in r.message["Subject"]]) == 1
        )
        assert sorted(p.name for p in folder.iterdir()) == [
            "Справка на 2022-01-12.docx",
            "Справка на 2022-01-12.xlsx",
        ]


def test_a_mail_that_could_not_go_is_tried_again_the_next_night(tmp_path: Path) -> None:
    config = _fresh(tmp_path)
    config = with_tables(
        config,
        "[smtp]\nenabled = true\n"
        'from = "mouo@example.ru"\nhost = "127.0.0.1"\nport = 9\nsecurity = "none"\n'
        'coordinators = ["coord@example.ru"]\ntimeout = 2\n',
    )
    result = run(config, today=date(2022, 1, 13))
    smtp = load_smtp(config)
    assert smtp is not None
    with History.open(config.history_path) as history:
        written = write_if_due(config, smtp, result, history, NOW)
        assert written is not None and written.is_file()
        assert all_spravki(history)[0].mailed == ""
    # The server is back (a dry run stands for it): the same file goes, and only once.
    config = with_tables(config, "")
    text = config.path.read_text(encoding="utf-8").replace(
        "port = 9\n", 'port = 9\ndry_run_dir = "outbox"\n'
    )
    config.path.write_text(text, encoding="utf-8")
    from sync.config import load_config

    config = load_config(config.path)
    smtp = load_smtp(config)
    assert smtp is not None
    result = run(config, today=date(2022, 1, 14))
    with History.open(config.history_path) as history:
        assert write_if_due(config, smtp, result, history, NOW) == written
        assert write_if_due(config, smtp, result, history, NOW) is None
        assert "dry-run" in all_spravki(history)[0].mailed
    emls = list((config.path.parent / "outbox").glob("*.eml"))
    assert len(emls) == 1
    msg = message_from_bytes(emls[0].read_bytes(), policy=policy.default)
    assert isinstance(msg, EmailMessage)
    assert _attachments(msg)["Справка на 2022-01-13.docx"] == written.read_bytes()


def test_the_example_configuration_documents_the_report_table() -> None:
    from sync.config import load_config

    example = load_config(Path(__file__).resolve().parents[1] / "config" / "example.toml")
    settings = load_report_settings(example)
    assert settings.dates == ((1, 15), (6, 10)) and settings.days_before == 3
    assert settings.template is None and settings.signer


def test_a_chart_of_many_schools_shows_those_furthest_behind() -> None:
    from sync.spravka.chart import MAX_BARS, chart_lines, progress_chart
    from sync.spravka.data import Line

    lines = [Line(f"Школа {n}", 10, n % 11, 0, 0, 10) for n in range(120)]
    shown, title = chart_lines(lines, "По школам")
    assert len(shown) == MAX_BARS and max(x.done for x in shown) <= 4
    assert title == f"По школам: {MAX_BARS} с наименьшей долей выполненных из 120"
    png = progress_chart(lines, "По школам")
    assert png.startswith(b"\x89PNG") and png == progress_chart(lines, "По школам")


def test_a_late_row_sent_back_counts_as_overdue_in_its_section() -> None:
    from dataclasses import replace

    from sync.consolidate import consolidate
    from sync.model import Control
    from sync.spravka.data import build_spravka
    from sync.states import ControlKey
    from tests.fixtures import A1, MASTER_PLAN, MASTER_TODAY, SPEC, school_two

    two = school_two()
    assert two.rows[0].item == A1 and two.rows[0].control.key == ControlKey.OVERDUE
    rework = Control(ControlKey.REWORK, "На доработке", "D9D2E9", late=True)
    two.rows[0] = replace(two.rows[0], control=rework)
    master = consolidate([two], MASTER_PLAN, SPEC, MASTER_TODAY)
    s = build_spravka(
        master, [two], SPEC, "Район", MASTER_PLAN.period.start, MASTER_PLAN.period.end, MASTER_TODAY
    )
    section = next(line for line in s.sections if line.name == A1.section)
    assert section.overdue == 1
    assert s.total.overdue == 1 and [a.activity for a in s.overdue] == [A1.activity]
