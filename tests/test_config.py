from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from sync.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parents[1]

GOOD = """\
[municipality]
name = "Тестовый округ"
timezone = "Asia/Chita"
period = "2021-09-01..2022-08-31"

[plan]
file = "plan.tsv"

[storage]
schools_dir = "schools"

[[schools]]
id = "s1"
name = "СОШ № 1"
category = "ШНОР"
emails = ["s1@example.ru"]

[[schools]]
id = "s2"
name = "СОШ № 2"
workbook = "other.xlsx"
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "config.toml"
    p.write_text(text, encoding="utf-8")
    return p


def test_example_config_loads_with_paths_relative_to_it() -> None:
    config = load_config(ROOT / "config" / "example.toml")
    assert config.municipality == "Каларский муниципальный округ"
    assert config.plan_file == ROOT / "config" / "kalar-plan.tsv"
    assert config.plan_file.exists()
    assert [s.id for s in config.schools] == ["chsosh1", "ksoshi4"]
    assert config.coordinator is not None and config.coordinator.is_coordinator
    assert str(config.period) == "2021-09-01..2022-08-31"


def test_good_config(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    assert config.schools[0].source == str(tmp_path / "schools" / "s1.xlsx")
    assert config.schools[1].source == str(tmp_path / "schools" / "other.xlsx")
    assert config.schools[0].emails == ("s1@example.ru",)
    assert config.master_path == tmp_path / "master" / "Свод.xlsx"
    assert config.coordinator is None
    assert config.soon_days == 14


def test_today_is_local_to_the_municipality(tmp_path: Path) -> None:
    chita = load_config(write(tmp_path, GOOD))
    kalin = load_config(write(tmp_path, GOOD.replace("Asia/Chita", "Europe/Kaliningrad")))
    # 20:00 UTC on 14 January is already 15 January in Chita (UTC+9), not in Kaliningrad (UTC+2).
    instant = datetime(2022, 1, 14, 20, 0, tzinfo=UTC)
    assert chita.today(instant) == date(2022, 1, 15)
    assert kalin.today(instant) == date(2022, 1, 14)


@pytest.mark.parametrize(
    ("old", "new", "line", "key", "words"),
    [
        (
            'period = "2021-09-01..2022-08-31"',
            'period = "сентябрь"',
            4,
            "municipality.period",
            "2021-09-01..2022-08-31",
        ),
        (
            'timezone = "Asia/Chita"',
            'timezone = "Asia/Chitaa"',
            3,
            "municipality.timezone",
            "часовой пояс",
        ),
        ('id = "s2"', 'id = "s1"', 19, "schools[2].id", "уже есть"),
        (
            'emails = ["s1@example.ru"]',
            'emails = ["нет адреса"]',
            16,
            "schools[1].emails",
            "электронной почты",
        ),
        ('name = "СОШ № 2"', "name = 2", 20, "schools[2].name", "строка"),
        (
            'schools_dir = "schools"',
            'schools_dir = "schools"\nkind = "ftp"',
            11,
            "storage.kind",
            "хранилище",
        ),
    ],
)
def test_mistakes_name_the_key_and_the_line(
    tmp_path: Path, old: str, new: str, line: int, key: str, words: str
) -> None:
    assert old in GOOD
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path, GOOD.replace(old, new, 1)))
    message = str(e.value)
    assert f"строка {line}" in message
    assert f"«{key}»" in message
    assert words in message


def test_missing_required_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="нет обязательного ключа «file»"):
        load_config(write(tmp_path, GOOD.replace('file = "plan.tsv"', "")))


def test_toml_syntax_error_has_a_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"строка 2.*«name =»"):
        load_config(write(tmp_path, "[municipality]\nname = \n"))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="не найден"):
        load_config(tmp_path / "nope.toml")


def test_no_schools(tmp_path: Path) -> None:
    text = GOOD[: GOOD.index("[[schools]]")]
    with pytest.raises(ConfigError, match=r"\[\[schools\]\]"):
        load_config(write(tmp_path, text))


@pytest.mark.parametrize(
    ("old", "new", "key", "words"),
    [
        (
            'schools_dir = "schools"',
            'schools_dir = "schools"\nkeep_backups = 0',
            "keep_backups",
            "хотя бы одну",
        ),
        (
            'schools_dir = "schools"',
            'schools_dir = "schools"\nmaster = "master"',
            "master",
            ".xlsx",
        ),
        ('id = "s2"', 'id = ".."', "id", "только буквы"),
        ('workbook = "other.xlsx"', 'workbook = "other.ods"', "workbook", ".xlsx"),
    ],
)
def test_dangerous_storage_settings_are_refused(
    tmp_path: Path, old: str, new: str, key: str, words: str
) -> None:
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path, GOOD.replace(old, new, 1)))
    assert key in str(e.value) and words in str(e.value)


def test_the_coordinator_id_cannot_leave_the_backups_folder(tmp_path: Path) -> None:
    text = GOOD + '\n[coordinator]\nid = "../../x"\n'
    with pytest.raises(ConfigError, match=r"coordinator\.id"):
        load_config(write(tmp_path, text))


@pytest.mark.parametrize(
    ("change", "key", "words"),
    [
        (
            ('schools_dir = "schools"', 'schools_dir = "schools"\nmaster = "schools/s1.xlsx"'),
            "storage.master",
            "совпадает с книгой школы «s1»",
        ),
        (
            ('workbook = "other.xlsx"', 'workbook = "s1.xlsx"'),
            "schools[2].workbook",
            "одной и той же книгой",
        ),
        (
            ('workbook = "other.xlsx"', 'workbook = "./../schools/s1.xlsx"'),
            "schools[2].workbook",
            "одной и той же книгой",
        ),
        (
            ('workbook = "other.xlsx"', 'workbook = "../elsewhere/other.xlsx"'),
            "schools[2].workbook",
            "вне папки школ",
        ),
        (
            ('schools_dir = "schools"', 'schools_dir = "schools"\nmaster = "/tmp/Свод.xlsx"'),
            "storage.master",
            "вне папки муниципалитета",
        ),
    ],
    ids=[
        "master-is-a-school",
        "shared-workbook",
        "shared-by-another-name",
        "outside",
        "master-out",
    ],
)
def test_config_mistakes_that_would_damage_data_are_errors_naming_the_key(
    tmp_path: Path, change: tuple[str, str], key: str, words: str
) -> None:
    text = GOOD.replace(*change)
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path, text))
    assert f"«{key}»" in str(e.value) and words in str(e.value)


def test_allow_outside_lets_workbooks_and_the_master_live_elsewhere(tmp_path: Path) -> None:
    text = GOOD.replace('workbook = "other.xlsx"', 'workbook = "../elsewhere/other.xlsx"')
    text = text.replace(
        'schools_dir = "schools"', 'schools_dir = "schools"\nmaster = "/tmp/Свод.xlsx"'
    )
    with pytest.raises(ConfigError):
        load_config(write(tmp_path, text))
    text = text.replace('schools_dir = "schools"', 'schools_dir = "schools"\nallow_outside = true')
    config = load_config(write(tmp_path, text))
    assert config.schools[1].source == str(tmp_path / "schools" / ".." / "elsewhere" / "other.xlsx")
    # Sharing one workbook stays an error even then: it would mix two schools' data.
    shared = text.replace('workbook = "../elsewhere/other.xlsx"', 'workbook = "s1.xlsx"')
    with pytest.raises(ConfigError, match="одной и той же книгой"):
        load_config(write(tmp_path, shared))


def test_a_hard_link_to_another_school_s_workbook_is_the_same_workbook(tmp_path: Path) -> None:
    (tmp_path / "schools").mkdir()
    (tmp_path / "schools" / "s1.xlsx").write_bytes(b"PK")
    (tmp_path / "schools" / "other.xlsx").hardlink_to(tmp_path / "schools" / "s1.xlsx")
    with pytest.raises(ConfigError, match="одной и той же книгой"):
        load_config(write(tmp_path, GOOD))
