"""Everything the command line prints is Russian: help, usage, option errors, unknown commands.

Every command's --help and a set of wrong calls run through the real `main` group; the output may
hold no English word except the program's own names: command and option names, config keys,
file names, metavars and a short list of technical words a coordinator types as they are.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from sync.cli import main
from tests.fixtures import ROOT, municipality

# Technical words the user types or sees as they are (formats, programs, signals, log levels).
ALLOWED = {
    "roadmap", "sync", "toml", "json", "excel", "vba", "smtp", "sigterm", "ctrl", "windows",
    "cron", "systemd", "google", "iana", "git", "gsheets", "folder", "true", "false", "sqlite",
    "starttls", "ssl", "none", "debug", "info", "warning", "error", "python", "demo", "xlam",
    "xlsm", "xlsx", "docx", "tsv", "csv", "eml", "dist", "addin", "mouo", "env", "password",
    "roadmap_smtp_password", "log", "logs", "once", "module", "word", "libreoffice",
    "nginx", "https", "sha", "now", "night", "ssh", "localhost", "pdf",
}  # fmt: skip
WORD = re.compile(r"[A-Za-z][A-Za-z_]{2,}")


def config_keys() -> set[str]:
    """Every key and table name of the example configurations (`[schedule] log_file`)."""
    keys: set[str] = set()

    def walk(value: object) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                keys.update([*k.lower().split("_"), k.lower()])
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    for name in ("example.toml", "example-gsheets.toml"):
        walk(tomllib.loads((ROOT / "config" / name).read_text(encoding="utf-8")))
    return keys


KEYS = config_keys()


def english_words(text: str) -> list[str]:
    """Latin words that are not names the program itself uses."""
    words = []
    for name in sorted(main.commands, key=len, reverse=True):
        text = text.replace(name, " ")
    for token in text.split():
        token = token.strip("«»()[]{},.;:!?\"'`…")
        if token.startswith("-") or "/" in token or "\\" in token or "." in token:
            continue  # an option, a path or a file name
        for word in WORD.findall(token):
            if word.lower() not in ALLOWED and word.lower() not in KEYS:
                words.append(word)
    return words


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), prog_name="roadmap-sync")
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.output


def assert_russian(output: str, typed: tuple[str, ...] = ()) -> None:
    """Russian, once the user's own input echoed back in the message is set aside."""
    assert re.search("[а-яА-Я]", output), output
    for text in typed:
        output = output.replace(f"«{text}»", "«»")
    assert english_words(output) == [], output


@pytest.mark.parametrize("name", sorted(main.commands))
def test_help_of_every_command_is_russian(name: str) -> None:
    code, out = invoke(name, "--help")
    assert code == 0
    assert out.startswith("Использование: roadmap-sync ")
    assert "Параметры:" in out
    assert_russian(out)


def test_the_main_help_and_usage_are_russian() -> None:
    for args in (["--help"], ["-h"]):
        code, out = invoke(*args)
        assert code == 0 and "Команды:" in out and "[ПАРАМЕТРЫ] КОМАНДА [АРГУМЕНТЫ]" in out
        assert_russian(out)
    code, out = invoke("--version")
    assert code == 0 and out.startswith("roadmap-sync ")


@pytest.mark.parametrize("name", sorted(main.commands))
def test_errors_of_every_command_are_russian(name: str, tmp_path: Path) -> None:
    calls = [[name, "--no-such-option"], [name, "a", "b", "c", "d", "e"]]
    command = main.commands[name]
    if any(p.required for p in command.params):
        calls.append([name])
    for call in calls:
        code, out = invoke(*call)
        assert code == 2, (call, out)
        assert "Ошибка: " in out and "Справка: roadmap-sync" in out, out
        assert_russian(out, tuple(call))


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["nosuch"], "Ошибка: нет команды «nosuch»."),
        (["run"], "Ошибка: не указан параметр «--config»."),
        (["validate"], "Ошибка: не указан аргумент «ФАЙЛ»."),
        (["demo", "--schools", "0"], "0 — вне допустимого диапазона от 1 до 5000."),
        (["demo", "--schools", "x"], "«x» — не целое число."),
        (["status", "--config", "c.toml", "--runs", "0"], "вне допустимого диапазона"),
        (["serve", "--config", "c.toml", "--log-level", "loud"], "допустимы только"),
        (["run", "--config", "c.toml", "--today", "вчера"], "«--today»"),
        (["run", "--config"], "после параметра «--config» нужно значение."),
        (["run", "--jsno"], "Может быть, «--json»?"),
    ],
)
def test_the_errors_people_make_most(args: list[str], expected: str) -> None:
    code, out = invoke(*args)
    assert code == 2
    assert expected in out, out
    assert_russian(out, tuple(args))


def test_path_type_errors_are_russian(tmp_path: Path) -> None:
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    code, out = invoke("build-addin", "--out", str(a_file))
    assert code == 2 and "— это файл, а нужна папка." in out, out
    assert_russian(out.replace(str(a_file), ""))
    code, out = invoke("serve", "--config", "c.toml", "--env-file", str(tmp_path))
    assert code == 2 and "— это папка, а нужен файл." in out, out


def test_a_toml_syntax_error_is_explained_in_russian_with_the_line(tmp_path: Path) -> None:
    config = municipality(tmp_path)
    text = config.path.read_text(encoding="utf-8").splitlines()
    text.insert(3, "это не ключ")
    config.path.write_text("\n".join(text) + "\n", encoding="utf-8")
    code, out = invoke("run", "--config", str(config.path))
    assert code == 2
    assert "строка 4" in out and "«это не ключ»" in out, out
    assert_russian(out)


@pytest.mark.parametrize(
    ("toml", "line", "words"),
    [
        ("a = b", 1, "текст пишется в кавычках"),
        ('a = "x', 1, "не закрыта кавычка"),
        ("x = 1\nx = 2", 2, "ключ задан дважды"),
        ("[a]\n[a]", 2, "раздел объявлен дважды"),
        ('p = "C:\\new\\q"', 1, "одинарных кавычках"),
        ("a = [1, 2", 1, "список не закрыт"),
        ("[a\nb = 1", 1, "не закрыт «]»"),
    ],
)
def test_toml_mistakes_are_explained(toml: str, line: int, words: str) -> None:
    from sync.toml_ru import explain

    with pytest.raises(tomllib.TOMLDecodeError) as e:
        tomllib.loads(toml)
    text = explain(e.value, toml, "c.toml")
    assert f"(c.toml, строка {line})" in text and words in text, text
    assert english_words(text.replace(toml.splitlines()[line - 1].strip(), "")) == [], text


def test_the_example_configuration_is_commented_in_russian_and_correct() -> None:
    from sync.config import load_config
    from sync.service.config import load_schedule

    path = ROOT / "config" / "example.toml"
    lines = path.read_text(encoding="utf-8").splitlines()
    comments = [line for line in lines if line.startswith("#")]
    assert comments
    for line in comments:
        text = line.lstrip("# ").strip("-").strip()
        if text:
            assert re.search("[а-яА-Я]", text), line
            assert english_words(text) == [], line
    # Every key of the first table of each kind has a comment just above it (or above its group).
    seen_tables: set[str] = set()
    table, first = "", False
    for n, line in enumerate(lines):
        header = re.match(r"^\[\[?([^\]]+)\]\]?", line)
        if header:
            table = header.group(1)
            first = table not in seen_tables
            seen_tables.add(table)
            continue
        if first and re.match(r"^[a-z_]+\s*=", line):
            above = lines[n - 1]
            assert above.startswith("#") or re.match(r"^[a-z_]+\s*=", above), (table, line)
    # Logs and trial mail stay with this municipality's data, not in another folder.
    config = load_config(path)
    data_dir = config.history_path.parent.resolve()
    assert load_schedule(config).log_file.resolve().parent.parent == data_dir  # type: ignore[union-attr]
    dry_run = config.raw["smtp"]["dry_run_dir"]
    assert (path.parent / dry_run).resolve().parent == data_dir
    assert "later versions" not in path.read_text(encoding="utf-8")
