from dataclasses import replace
from datetime import date, timedelta

import pytest

from sync.spec import load_spec
from sync.status import control, normalize_status

SPEC = load_spec()
TODAY = date(2021, 11, 15)


def days(n: int) -> date:
    return TODAY + timedelta(days=n)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Выполнено", "Выполнено"),
        ("  выполнено ", "Выполнено"),
        ("ВЫПОЛНЕНО", "Выполнено"),
        ("не  начато", "Не начато"),
        ("Не\u00a0требуется", "Не требуется"),
        ("в\nработе", "В работе"),
        (" Готово ", "Готово"),  # unknown: the school's own text, stripped
        ("", None),
        ("   ", None),
        (None, None),
    ],
)
def test_normalize_status(value, expected):
    assert normalize_status(value, SPEC) == expected


def test_normalize_status_uses_the_statuses_of_the_spec_it_is_given():
    column = replace(SPEC.column("status"), choices=("Сделано", "В процессе"))
    other = replace(SPEC, columns=tuple(column if c.key == "status" else c for c in SPEC.columns))
    assert normalize_status("сделано", other) == "Сделано"
    assert normalize_status("выполнено", other) == "выполнено"  # not a status of that template
    assert normalize_status("выполнено", SPEC) == "Выполнено"


@pytest.mark.parametrize(
    ("status", "due", "has_error", "key"),
    [
        ("Выполнено", days(-30), True, "error"),  # an error beats done
        ("В работе", None, True, "error"),
        ("Выполнено", days(-30), False, "done"),
        (" выполнено", None, False, "done"),
        ("Не требуется", days(-30), False, "none"),
        ("не требуется", days(3), False, "none"),
        ("В работе", None, False, "none"),
        (None, None, False, "none"),
        ("Не выполнено", None, False, "none"),
        ("В работе", days(-1), False, "overdue"),
        ("Не выполнено", days(-1), False, "overdue"),
        (None, days(-400), False, "overdue"),
        ("В работе", days(0), False, "soon"),
        ("Не начато", days(14), False, "soon"),
        ("Не начато", days(15), False, "on_time"),
        ("", days(200), False, "on_time"),
        ("Готово", days(-1), False, "overdue"),  # unknown text alone does not make it done
    ],
)
def test_control_rules(status, due, has_error, key):
    result = control(status, due, TODAY, has_error, SPEC)
    assert result.key == key
    assert result.value == SPEC.controls[key].value
    assert result.fill == SPEC.controls[key].fill


def test_control_values_and_fills_come_from_the_spec():
    assert control("Выполнено", None, TODAY, False, SPEC).fill == "C6EFCE"
    assert control(None, days(-1), TODAY, False, SPEC).value == "Просрочено"
    assert control(None, None, TODAY, False, SPEC).fill is None


def test_soon_days_can_be_set_per_run():
    assert control(None, days(3), TODAY, False, SPEC, soon_days=2).key == "on_time"
    assert control(None, days(2), TODAY, False, SPEC, soon_days=2).key == "soon"
    assert control(None, days(20), TODAY, False, SPEC, soon_days=30).key == "soon"
    assert control(None, days(1), TODAY, False, SPEC, soon_days=0).key == "on_time"
    assert control(None, days(0), TODAY, False, SPEC, soon_days=0).key == "soon"
