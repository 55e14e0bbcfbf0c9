"""The pipeline over the in-memory backend: the run's rules without files (sync.backends.memory)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sync.backends.base import Backend, Survey
from sync.backends.folder import FolderBackend
from sync.backends.memory import LOCKED_MESSAGE, MemoryBackend
from sync.config import Config
from sync.pipeline import run
from tests.fixtures import TODAY, setup


def seeded(tmp_path: Path) -> tuple[Config, MemoryBackend]:
    """The pipeline tests' municipality, its workbooks read once into memory."""
    config = setup(tmp_path)
    memory = MemoryBackend()
    for school in config.all_workbooks():
        memory.put(school.id, FolderBackend.read_file(Path(school.source)))
    return config, memory


def test_a_run_reads_paints_and_consolidates_in_memory(tmp_path: Path) -> None:
    config, memory = seeded(tmp_path)
    ids = [s.id for s in config.all_workbooks()]
    result = run(config, today=TODAY, backend=memory)
    assert result.outcome == "ok" and result.master == "memory:master"
    assert sorted(memory.reads) == sorted(ids)
    assert result.counts["synced"] == len(ids)
    assert len(memory.masters) == 1
    s2 = memory.paints["s2"][-1]  # the school with mistakes: its problems become notes
    assert s2.notes and s2.controls
    assert all(w.status == "written" for w in result.writes.values())

    again = run(config, today=TODAY, backend=memory)
    assert again.outcome == "ok"
    assert sorted(memory.reads) == sorted(ids)  # nothing read a second time: stamps unchanged
    assert again.counts["unchanged"] == len(ids) and not again.writes
    assert len(memory.masters) == 2


def test_a_school_that_saved_is_read_again_and_the_others_are_not(tmp_path: Path) -> None:
    config, memory = seeded(tmp_path)
    run(config, today=TODAY, backend=memory)
    memory.reads.clear()
    memory.put("s1", memory.books["s1"])  # saved again, same values
    result = run(config, today=TODAY, backend=memory)
    assert memory.reads == ["s1"]
    assert {r.school.id: r.outcome for r in result.reports}["s1"] == "unchanged"


def test_an_open_workbook_is_reported_locked_and_painted_later(tmp_path: Path) -> None:
    config, memory = seeded(tmp_path)
    memory.open_for_editing.add("s2")
    first = run(config, today=TODAY, backend=memory)
    s2 = next(r for r in first.reports if r.school.id == "s2")
    assert s2.outcome == "locked" and s2.message == LOCKED_MESSAGE
    assert "s2" not in memory.paints
    memory.open_for_editing.clear()
    second = run(config, today=TODAY, backend=memory)
    assert second.writes["s2"].status == "written" and memory.paints["s2"]


def test_a_missing_school_fails_alone(tmp_path: Path) -> None:
    config, memory = seeded(tmp_path)
    del memory.books["s3"]
    result = run(config, today=TODAY, backend=memory)
    outcomes = {r.school.id: r.outcome for r in result.reports}
    assert outcomes["s3"] == "failed" and outcomes["s1"] == "synced"
    assert result.outcome == "ok" and len(memory.masters) == 1


def test_a_master_refused_is_master_failed_with_the_backends_reason(tmp_path: Path) -> None:
    config, memory = seeded(tmp_path)
    memory.master_error = "нет места на диске"
    result = run(config, today=TODAY, backend=memory)
    assert result.outcome == "master_failed"
    assert result.message == "Свод не записан: нет места на диске."
    assert result.counts["synced"] == len(config.all_workbooks())  # the schools still count


@pytest.mark.parametrize(
    "backend_class",
    [
        "sync.backends.memory.MemoryBackend",
        "sync.backends.folder.FolderBackend",
        "sync.backends.google.backend.GoogleBackend",
        "sync.backends.excel.backend.OpenMasterBackend",
        "sync.read_ahead.ReadAhead",
    ],
)
def test_every_backend_offers_the_whole_protocol(backend_class: str) -> None:
    import importlib

    module, name = backend_class.rsplit(".", 1)
    cls = getattr(importlib.import_module(module), name)
    methods = [m for m, v in vars(Backend).items() if callable(v) and not m.startswith("_")]
    assert "location" in methods and "write_master" in methods
    for member in methods:
        assert callable(getattr(cls, member, None)), f"{name} lacks {member}"


def test_survey_is_a_mapping_of_states_with_no_run_state_in_memory(tmp_path: Path) -> None:
    config, memory = seeded(tmp_path)
    schools = config.all_workbooks()
    memory.books.pop("s2")
    survey = memory.survey(schools)
    assert isinstance(survey, Survey) and survey.run is None  # memory keeps nothing per run
    assert list(survey) == [s.id for s in schools] and len(survey) == len(schools)
    assert survey["s1"].exists and survey["s1"].stamp == "v1"
    assert not survey["s2"].exists and survey.get("nobody") is None
