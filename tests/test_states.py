"""The states' enums keep their plain words, and every state people see has a Russian label."""

import doctest
import json

import sync.states
from sync.states import (
    LABELS_RU,
    ControlKey,
    RunOutcome,
    SchoolOutcome,
    WriteStatus,
    counts_sentence,
    label,
)


def test_the_module_examples_hold() -> None:
    assert doctest.testmod(sync.states).failed == 0


def test_every_outcome_has_a_russian_label() -> None:
    for kind in (SchoolOutcome, RunOutcome):
        assert set(LABELS_RU[kind]) == set(kind)
        assert all(label(kind, member) != member.value for member in kind)


def test_states_are_stored_as_their_plain_words() -> None:
    data = {"outcome": RunOutcome.MASTER_FAILED, ControlKey.ON_TIME: WriteStatus.READONLY}
    assert json.dumps(data) == '{"outcome": "master_failed", "on_time": "readonly"}'
    assert f"{SchoolOutcome.LOCKED}" == "locked"
    assert SchoolOutcome("unchanged") is SchoolOutcome.UNCHANGED


def test_an_unknown_outcome_is_shown_as_it_is() -> None:
    assert label(RunOutcome, "paused") == "paused"


def test_one_counts_sentence_long_and_short() -> None:
    counts = {"synced": 1, "unchanged": 2, "failed": 3, "locked": 4}
    assert counts_sentence(counts) == (
        "прочитано 1, без изменений 2, не прочитано 3, открыто (контроль не записан) 4"
    )
    assert counts_sentence(counts, short=True).endswith(", открыто 4")
