"""Shared test helpers: a small municipality on disk, filled as schools fill it."""

from __future__ import annotations

import shutil
from datetime import date, datetime
from pathlib import Path

from sync.config import Config, load_config

ROOT = Path(__file__).resolve().parents[1]
KALAR_PLAN = ROOT / "config" / "kalar-plan.tsv"
TODAY = date(2022, 1, 10)
BUILT_AT = datetime(2021, 9, 1, 9, 0)

SCHOOLS = [
    ("s1", "МОУ СОШ № 1 с. Чара", "ШНОР"),
    ("s2", "МОУ СОШ № 2 с. Куанда", "ШНСУ"),
    ("s3", "МОУ СОШИ № 4 с. Кюсть-Кемда", "ШНОР и ШНСУ"),
]


def municipality(tmp_path: Path, schools: list[tuple[str, str, str]] = SCHOOLS) -> Config:
    """A config with the Kalar plan, the given schools and the coordinator, in tmp_path."""
    shutil.copyfile(KALAR_PLAN, tmp_path / "plan.tsv")
    lines = [
        "[municipality]",
        'name = "Тестовый округ"',
        'timezone = "Asia/Chita"',
        'period = "2021-09-01..2022-08-31"',
        "[plan]",
        'file = "plan.tsv"',
        "[storage]",
        'schools_dir = "schools"',
        'master = "master/Свод.xlsx"',
        'history = "history.sqlite"',
        'backups = "backups"',
        "keep_backups = 3",
        "[coordinator]",
        'name = "МОУО"',
    ]
    for sid, name, category in schools:
        lines += ["[[schools]]", f'id = "{sid}"', f'name = "{name}"', f'category = "{category}"']
    path = tmp_path / "config.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return load_config(path)


PASSPORT = {
    "full_name": "Муниципальное общеобразовательное учреждение СОШ № 1",
    "category": "ШНОР",
    "head": "Карнакова Л. Г.",
    "phone": "8 (30261) 4-12-34",
    "email": "school1@example.ru",
    "quality_officer": "Иванова Н. П., заместитель директора по УВР",
    "quality_order": "Приказ № 101 от 01.09.2021",
    "pupils": 320,
    "teachers": 28,
    "locality": "с. Чара",
}
