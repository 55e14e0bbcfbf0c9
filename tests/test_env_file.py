"""The service's secrets file, read by roadmap-sync itself: values literal, errors in Russian."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from sync.cli import main
from sync.env_file import EnvFileError, load_env_file, parse_env
from tests.fixtures import municipality


def test_values_are_taken_literally() -> None:
    text = (
        "# the mail password\n"
        "\n"
        "ROADMAP_SMTP_PASSWORD=pa$HOME`id`$(id)\\n#x\n"
        "export SPACED='  two spaces  '\n"
        'DOUBLE="it\'s $ literal"\n'
        "EMPTY=\n"
        "EQUALS=a=b==\n"
    )
    assert parse_env(text) == {
        "ROADMAP_SMTP_PASSWORD": "pa$HOME`id`$(id)\\n#x",
        "SPACED": "  two spaces  ",
        "DOUBLE": "it's $ literal",
        "EMPTY": "",
        "EQUALS": "a=b==",
    }


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("just a password", "строка 2"),
        ("1ABC=x", "ИМЯ=значение"),
        ("PASS='unclosed", "не закрыта"),
    ],
)
def test_a_bad_line_is_named_in_russian(line: str, words: str) -> None:
    with pytest.raises(EnvFileError) as e:
        parse_env("# ok\n" + line + "\n")
    assert words in str(e.value) and "строка 2" in str(e.value)


def test_the_environment_wins_and_a_missing_file_is_not_an_error(tmp_path: Path) -> None:
    env = {"A": "from the environment"}
    path = tmp_path / "secrets.env"
    path.write_text("A=file\nB=file\n", encoding="utf-8")
    assert load_env_file(path, env) == (["B"], True)
    assert env == {"A": "from the environment", "B": "file"}
    assert load_env_file(tmp_path / "none.env", env) == ([], False)


def test_serve_reads_the_file_and_refuses_a_broken_one(tmp_path: Path) -> None:
    config = municipality(tmp_path)
    broken = tmp_path / "secrets.env"
    broken.write_text("ROADMAP_SMTP_PASSWORD = 'x\n", encoding="utf-8")
    args = ["serve", "--once", "--env-file", str(broken), "--config", str(config.path)]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 2
    assert "файле секретов" in result.stderr and "строка 1" in result.stderr
    assert "Traceback" not in result.output


def test_an_unwritable_log_path_is_a_russian_message(tmp_path: Path) -> None:
    config = municipality(tmp_path)
    blocker = tmp_path / "logs-is-a-file"
    blocker.write_text("")
    args = ["serve", "--once", "--config", str(config.path), "--log-file"]
    result = CliRunner().invoke(main, [*args, str(blocker / "x.log")], catch_exceptions=False)
    assert result.exit_code == 2
    assert "Журнал службы не записывается" in result.stderr
    assert "на месте папки уже лежит файл" in result.stderr
    assert "Traceback" not in result.output
