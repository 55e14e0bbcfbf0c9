"""A demo municipality: config, the Kalar plan, N schools with realistic, varied fills."""

from __future__ import annotations

import random
import shutil
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from pathlib import Path

from sync.config import Config, load_config
from sync.model import CellValue, PlanItem
from sync.plan import load_plan
from sync.resources import resource_dir
from sync.spec import load_spec

# The Kalar roadmap runs 2021-09-01..2022-08-31; the demo looks at it just before the
# 15 January half-year report, when some rows are done, some overdue and some due soon.
DEMO_TODAY = date(2022, 1, 10)
EXAMPLE_PLAN = resource_dir("config") / "kalar-plan.tsv"
DEMO_MARKER = ".roadmap-sync-demo"

VILLAGES = [
    "Чара",
    "Новая Чара",
    "Куанда",
    "Кюсть-Кемда",
    "Икабья",
    "Чапо-Олого",
    "Средний Калар",
    "Неляты",
    "Ингамакит",
    "Удокан",
]
HEADS = [
    "Карнакова Л. Г.",
    "Белоусова С. В.",
    "Иванова Н. П.",
    "Петров А. С.",
    "Сидорова Е. В.",
    "Кузнецова О. И.",
    "Смирнов Д. А.",
    "Васильева Т. Н.",
]
CATEGORIES = ["ШНОР", "ШНСУ", "ШНОР и ШНСУ"]


def demo_config_text(count: int) -> str:
    lines = [
        "# Demo municipality made by `roadmap-sync demo`. Paths are relative to this file.",
        "[municipality]",
        'name = "Каларский муниципальный округ (демо)"',
        'timezone = "Asia/Chita"',
        'period = "2021-09-01..2022-08-31"',
        "",
        "[plan]",
        'file = "plan.tsv"',
        "",
        "[storage]",
        'kind = "folder"',
        'schools_dir = "schools"',
        'master = "master/Свод.xlsx"',
        'history = "history.sqlite"',
        'backups = "backups"',
        "",
        "[coordinator]",
        'name = "Отдел управления образованием"',
        'workbook = "mouo.xlsx"',
        'emails = ["obrazovanie@example.ru"]',
    ]
    for n in range(1, count + 1):
        village = VILLAGES[(n - 1) % len(VILLAGES)]
        lines += [
            "",
            "[[schools]]",
            f'id = "school{n:04d}"',
            f'name = "МОУ СОШ № {n} с. {village}"',
            f'category = "{CATEGORIES[(n - 1) % len(CATEGORIES)]}"',
            f'emails = ["school{n}@example.ru"]',
        ]
    return "\n".join(lines) + "\n"


def make_demo(directory: Path, count: int, today: date = DEMO_TODAY, seed: int = 7) -> Config:
    """Create (or re-create) the demo folder and fill every workbook as a school would."""
    from sync.builders.fill import fill_workbook
    from sync.distribute import distribute

    directory = Path(directory)
    config_path = directory / "config.toml"
    marker = directory / DEMO_MARKER
    if marker.exists():
        # Only ever clean a folder this command made (it leaves the marker file).
        for sub in ("schools", "master", "backups", "web"):
            shutil.rmtree(directory / sub, ignore_errors=True)
        for f in ("history.sqlite", "history.sqlite-wal", "history.sqlite-shm"):
            (directory / f).unlink(missing_ok=True)
    elif directory.exists() and any(directory.iterdir()):
        raise FileExistsError(
            f"Папка {directory} не пуста и не похожа на демо: выберите другую (--dir)."
        )
    directory.mkdir(parents=True, exist_ok=True)
    marker.write_text(
        "Эту папку создала команда roadmap-sync demo; она может её пересоздать.\n", encoding="utf-8"
    )
    shutil.copyfile(EXAMPLE_PLAN, directory / "plan.tsv")
    config_path.write_text(demo_config_text(count), encoding="utf-8")
    config = load_config(config_path)
    distribute(config, built_at=datetime.combine(today, datetime.min.time()))
    spec = load_spec(config.template)
    plan = load_plan(config.plan_file, config.period)
    rng = random.Random(seed)
    for n, school in enumerate(config.all_workbooks(), start=1):
        items = plan.for_audience(school.audience)
        rows = {i.no: school_fill(i, today, rng) for i in items}
        flaw = None if school.is_coordinator else n % 5
        _add_flaw(flaw, rows, today, rng)
        # The МОУО's own workbook has no passport: nothing to fill (nor to hide with «—»).
        passport = (
            None if school.is_coordinator else demo_passport(n, school.name, school.category, rng)
        )
        if flaw == 3 and passport is not None:
            passport["phone"] = None
        own: list[Mapping[str, CellValue]] | None = (
            [
                {
                    "no": "С1",
                    "activity": "Родительский лекторий «Успешный ученик»",
                    "responsible": "Администрация ОО",
                    "deadline_text": "Декабрь 2021 г.",
                    "status": "Выполнено",
                    "done_on": datetime(2021, 12, 17),
                    "evidence": "Протокол № 3 от 17.12.2021",
                }
            ]
            if n % 4 == 2
            else None
        )
        fill_workbook(Path(school.source), spec, rows, passport, own)
    return config


def school_fill(item: PlanItem, today: date, rng: random.Random) -> dict[str, CellValue]:
    """A plausible state for one row: mostly done when the deadline passed, some slipping."""
    due = item.due
    roll = rng.random()
    executor = rng.choice(HEADS)
    if due is not None and due < today:
        if roll < 0.7:
            return _done(due - timedelta(days=rng.randint(0, 20)), executor, rng)
        if roll < 0.85:
            return {"status": "В работе", "executor": executor}
        if roll < 0.95:
            return {"status": "Не начато"}
        return {
            "status": "Не выполнено",
            "executor": executor,
            "comment": "Перенесено решением педсовета на II полугодие",
        }
    if due is not None:
        if roll < 0.25:
            return _done(today - timedelta(days=rng.randint(1, 30)), executor, rng)
        if roll < 0.7:
            return {"status": "В работе", "executor": executor}
        return {"status": "Не начато"}
    # Recurring, continuous or external: in progress, sometimes reported done.
    if roll < 0.6:
        return {"status": "В работе", "executor": executor}
    if roll < 0.8:
        return _done(today - timedelta(days=rng.randint(1, 90)), executor, rng)
    return {}


def _done(on: date, executor: str, rng: random.Random) -> dict[str, CellValue]:
    evidence = rng.choice(
        [
            f"Приказ № {rng.randint(10, 180)} от {on:%d.%m.%Y}",
            f"Справка от {on:%d.%m.%Y}",
            "https://school.example.ru/docs/roadmap/" + str(rng.randint(100, 999)),
            f"Протокол педсовета № {rng.randint(1, 9)}",
        ]
    )
    return {
        "status": "Выполнено",
        "done_on": datetime.combine(on, datetime.min.time()),
        "evidence": evidence,
        "executor": executor,
    }


def _add_flaw(
    flaw: int | None, rows: dict[str, dict[str, CellValue]], today: date, rng: random.Random
) -> None:
    """Every fifth school makes one of the mistakes schools really make."""
    if not rows or flaw is None:
        return
    no = rng.choice(sorted(rows))
    if flaw == 0:
        rows[no] = {"status": "Выполнено", "evidence": "Приказ № 12"}  # no date
    elif flaw == 1:
        rows[no] = {"status": "Сделано", "comment": '=HYPERLINK("http://example.ru","отчёт")'}
    elif flaw == 4:
        rows[no] = {"status": "Не требуется"}  # no reason given


def demo_passport(n: int, name: str, category: str, rng: random.Random) -> dict[str, CellValue]:
    return {
        "full_name": name,
        "category": category or "—",
        "head": HEADS[n % len(HEADS)],
        "phone": f"8 (30261) {rng.randint(20, 99)}-{rng.randint(10, 99)}-{rng.randint(10, 99)}",
        "email": f"school{n}@example.ru",
        "quality_officer": f"{HEADS[(n + 3) % len(HEADS)]}, заместитель директора по УВР",
        "quality_order": f"Приказ № {rng.randint(50, 150)} от 01.09.2021",
        "pupils": rng.randint(40, 600),
        "teachers": rng.randint(6, 45),
        "locality": VILLAGES[(n - 1) % len(VILLAGES)],
    }


def serve_demo_web(config: Config, today: date, port: int = 8080) -> None:
    """`demo --web`: links for every school and the coordinator, then the intake on 127.0.0.1."""
    import click

    from sync.cli_web import demo_links, serve_web

    school_url, coordinator_url = demo_links(config, port)
    click.echo(f"Веб-приём книг: ссылка школы  {school_url}")
    click.echo(f"                ссылка координатора  {coordinator_url}")
    click.echo("Остановить — Ctrl+C.")
    serve_web(config, "127.0.0.1", port, today)
