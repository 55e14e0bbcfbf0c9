"""Issue 10's smaller items: passport e-mail and config category are checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from sync.config import ConfigError, load_config
from sync.model import Severity
from sync.validation import bad_emails
from tests.fixtures import VALID_PASSPORT, codes, municipality, only
from tests.fixtures import check_sample as check


@pytest.mark.parametrize(
    "value",
    ["school1@example.ru", "sosh1@почта.рф", "a.b-c+d@mail.ru, e@f.ru", "x@y.org; z@w.com"],
)
def test_real_addresses_pass(value: str) -> None:
    assert bad_emails(value) == []
    _, problems = check(passport={**VALID_PASSPORT, "email": value})
    assert "passport_email" not in codes(problems)


@pytest.mark.parametrize(
    ("value", "wrong"),
    [
        ("sosh1-at-mail.ru", "sosh1-at-mail.ru"),
        ("sosh1@mail", "sosh1@mail"),
        ("@mail.ru", "@mail.ru"),
        ("good@mail.ru, bad@@mail.ru", "bad@@mail.ru"),
        ("—", "—"),
    ],
)
def test_a_passport_email_that_is_not_an_address_is_an_error(value: str, wrong: str) -> None:
    _, problems = check(passport={**VALID_PASSPORT, "email": value})
    p = only(problems, "passport_email")
    assert (p.severity, p.field) == (Severity.ERROR, "email")
    assert f"«{wrong}»" in p.message and "Электронная почта" in p.message


def _with_category(tmp_path: Path, category: str) -> Path:
    config = municipality(tmp_path)
    text = config.path.read_text(encoding="utf-8").replace(
        'category = "ШНОР"', f'category = "{category}"', 1
    )
    config.path.write_text(text, encoding="utf-8")
    return config.path


def test_an_unknown_category_in_the_settings_names_the_key_and_line(tmp_path: Path) -> None:
    path = _with_category(tmp_path, "шнсу школа")
    with pytest.raises(ConfigError) as e:
        load_config(path)
    message = str(e.value)
    assert "«шнсу школа»" in message and "schools[1].category" in message
    assert "строка" in message and "«ШНОР и ШНСУ»" in message


def test_a_category_in_another_case_is_spelled_as_the_template_does(tmp_path: Path) -> None:
    config = load_config(_with_category(tmp_path, " шнор  и шнсу "))
    assert config.schools[0].category == "ШНОР и ШНСУ"
