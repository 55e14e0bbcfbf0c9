"""The command line, as a user meets it: help, exit codes, Russian messages, JSON."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from sync.builders.fill import fill_workbook
from sync.cli import main
from sync.distribute import distribute
from sync.spec import load_spec
from tests.fixtures import BUILT_AT, PASSPORT, ROOT, TODAY, municipality

SPEC = load_spec()
CYRILLIC = re.compile("[а-яА-Я]")


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("name", sorted(main.commands))
def test_every_command_has_russian_help(name: str) -> None:
    code, _out, _ = invoke(name, "--help")
    assert code == 0
    assert CYRILLIC.search(main.commands[name].help or "")
    for param in main.commands[name].params:
        if param.name != "help" and getattr(param, "help", None) is not None:
            assert CYRILLIC.search(param.help or ""), f"{name} {param.name}"  # type: ignore[attr-defined]


def test_every_command_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in main.commands:
        assert f"roadmap-sync {name}" in readme, name


def test_deadline_prints_exactly_the_five_keys() -> None:
    code, out, _ = invoke("deadline", "До 1 октября 2021 г", "--period", "2021-09-01..2022-08-31")
    assert code == 0
    data = json.loads(out)
    assert list(data) == ["kind", "start", "end", "every", "month"]
    assert data == {"kind": "by", "start": None, "end": "2021-10-01", "every": None, "month": None}


def test_deadline_with_a_bad_period_is_a_russian_usage_error() -> None:
    code, _, err = invoke("deadline", "Февраль", "--period", "2021")
    assert code == 2
    assert "2021-09-01..2022-08-31" in err


def test_validate_exit_codes(tmp_path: Path) -> None:
    config = municipality(tmp_path)
    distribute(config, built_at=BUILT_AT)
    path = Path(config.schools[0].source)
    fill_workbook(path, SPEC, {"3": {"status": "В работе"}}, PASSPORT)
    code, out, _ = invoke("validate", str(path), "--today", "2022-01-10")
    assert code == 0, out
    assert "Ошибок нет" in out

    fill_workbook(path, SPEC, {"3": {"status": "Выполнено", "done_on": datetime(2022, 3, 1)}})
    code, out, _ = invoke("validate", str(path), "--today", "2022-01-10", "--json")
    assert code == 1
    problems = json.loads(out)
    assert {"date_in_future", "done_without_evidence"} <= {p["code"] for p in problems}
    assert all(
        set(p) == {"code", "severity", "sheet", "cell", "field", "message"} for p in problems
    )
    future = next(p for p in problems if p["code"] == "date_in_future")
    assert future["sheet"] == SPEC.main_sheet and re.fullmatch(r"[A-Z]+\d+", future["cell"])

    broken = tmp_path / "broken.xlsx"
    broken.write_text("это не книга", encoding="utf-8")
    code, _, err = invoke("validate", str(broken))
    assert code == 2
    assert "не является книгой Excel" in err
    code, _, err = invoke("validate", str(tmp_path / "missing.xlsx"))
    assert code == 2 and "не найден" in err


def test_run_json_and_history(tmp_path: Path) -> None:
    config = municipality(tmp_path)
    distribute(config, built_at=BUILT_AT)
    path = Path(config.schools[0].source)
    fill_workbook(
        path,
        SPEC,
        {"3": {"status": "Выполнено", "done_on": datetime(2021, 9, 20), "evidence": "Приказ № 45"}},
        PASSPORT,
    )
    code, out, _ = invoke("run", "--config", str(config.path), "--today", "2022-01-10", "--json")
    assert code == 0
    summary = json.loads(out)
    assert summary["counts"]["synced"] == 4
    s1 = next(s for s in summary["schools"] if s["id"] == "s1")
    assert s1["done"] == 1 and s1["errors"] == 0

    fill_workbook(path, SPEC, {"3": {"evidence": None}})
    later = (TODAY + timedelta(days=1)).isoformat()
    code, out, _ = invoke("run", "--config", str(config.path), "--today", later)
    assert code == 0
    assert "Свод:" in out and "прочитана" in out

    code, out, _ = invoke("history", "s1", "--config", str(config.path))
    assert code == 0
    assert "Приказ № 45" in out  # what the school deleted is still shown
    assert "было «Приказ № 45», стало «»" in out

    code, _, err = invoke("history", "nobody", "--config", str(config.path))
    assert code == 2 and "nobody" in err


def test_a_config_mistake_is_a_message_not_a_traceback(tmp_path: Path) -> None:
    config = municipality(tmp_path)
    text = config.path.read_text(encoding="utf-8").replace("Asia/Chita", "Asia/Nowhere")
    config.path.write_text(text, encoding="utf-8")
    code, _, err = invoke("run", "--config", str(config.path))
    assert code == 2
    assert "Traceback" not in err
    assert "часовой пояс" in err and "строка 3" in err


def test_demo(tmp_path: Path) -> None:
    code, out, _ = invoke("demo", "--dir", str(tmp_path / "demo"), "--schools", "5")
    assert code == 0
    assert "Свод:" in out
    master = tmp_path / "demo" / "master" / "Свод.xlsx"
    assert master.exists()
    # Varied fills: something done, something overdue, some errors.
    code, out, _ = invoke("demo", "--dir", str(tmp_path / "demo"), "--schools", "5", "--json")
    assert code == 0
    summary = json.loads(out)
    assert sum(s["done"] for s in summary["schools"]) > 0
    assert sum(s["overdue"] for s in summary["schools"]) > 0
    assert sum(s["errors"] for s in summary["schools"]) > 0


def test_demo_refuses_a_folder_it_did_not_make(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("важное", encoding="utf-8")
    code, _, err = invoke("demo", "--dir", str(tmp_path))
    assert code == 2
    assert (tmp_path / "precious.txt").exists()
    assert "не пуста" in err


def test_import_plan_from_a_seed(tmp_path: Path, shared_dir: Path) -> None:
    seed = next((shared_dir / "seeds").glob("002_*.txt"))
    out = tmp_path / "plan.tsv"
    code, text, _ = invoke("import-plan", str(seed), "-o", str(out))
    assert code == 0
    assert "20" in text and "2021-09-01" in text
    from sync.model import Period
    from sync.plan import load_plan

    plan = load_plan(out, Period.parse("2021-09-01..2022-08-31"))
    assert len(plan.items) == 20

    junk = tmp_path / "junk.txt"
    junk.write_text("Просто текст без таблицы.\n", encoding="utf-8")
    code, _, err = invoke("import-plan", str(junk), "-o", str(tmp_path / "x.tsv"))
    assert code == 1
    assert not (tmp_path / "x.tsv").exists()
    assert err.strip()


def test_demo_never_cleans_a_real_municipality(tmp_path: Path) -> None:
    """A folder with a config.toml of its own is not a demo, whatever it is called."""
    real = tmp_path / "real"
    (real / "schools").mkdir(parents=True)
    (real / "schools" / "my-school.xlsx").write_bytes(b"precious")
    (real / "config.toml").write_text((ROOT / "config" / "example.toml").read_text("utf-8"))
    code, _, err = invoke("demo", "--dir", str(real))
    assert code == 2 and "не пуста" in err
    assert (real / "schools" / "my-school.xlsx").read_bytes() == b"precious"
    assert "Каларский муниципальный округ" in (real / "config.toml").read_text("utf-8")


def test_demo_into_a_file_is_a_message(tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    code, _, err = invoke("demo", "--dir", str(afile / "sub"))
    assert code == 2 and "Не удалось создать демо" in err and "Traceback" not in err


def test_a_broken_history_file_is_a_message(tmp_path: Path) -> None:
    config = municipality(tmp_path)
    config.history_path.write_text("это не база данных", encoding="utf-8")
    code, _, err = invoke("run", "--config", str(config.path))
    assert code == 2
    assert "истории" in err and "Traceback" not in err


def test_validate_knows_a_schools_own_rows_and_refuses_the_master(tmp_path: Path) -> None:
    code, _, _ = invoke("demo", "--dir", str(tmp_path / "d"), "--schools", "2", "--quiet")
    assert code == 0
    # School 2 of the demo added an activity of its own below the plan.
    code, out, _ = invoke("validate", str(tmp_path / "d" / "schools" / "school0002.xlsx"), "--json")
    problems = json.loads(out)
    assert code == 0
    assert [p["code"] for p in problems] == ["extra_row"]
    code, _, err = invoke("validate", str(tmp_path / "d" / "master" / "Свод.xlsx"))
    assert code == 2 and "муниципальный свод" in err
