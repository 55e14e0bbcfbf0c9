"""The header of a school spreadsheet is located once, by the core (`sync.reader.locate`): the
Google backend keeps what a spreadsheet shows under the paint's header row and columns, and a
school read but not painted, or painted without success, is still painted later without a read."""

from __future__ import annotations

import ast
from collections import Counter
from datetime import date
from pathlib import Path

import pytest

import sync.backends.google
import sync.reader
from sync.pipeline import run
from sync.spec import TemplateSpec, load_spec
from tests.fakes.google import FakeGoogle, Fault
from tests.fakes.google.municipality import fake_google, school_email, school_types
from tests.fakes.google.municipality import three_schools as setup
from tests.fixtures import TODAY

__all__ = ["fake_google"]

SPEC = load_spec()


def sheets_ops(fake: FakeGoogle, mark: int, target: str) -> Counter[str]:
    return Counter(r.op for r in fake.since(mark) if r.target == target)


def test_no_module_of_the_google_backend_imports_the_reader() -> None:
    package = Path(sync.backends.google.__file__).parent
    for path in sorted(package.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                assert node.module != "sync.reader", path.name
            elif isinstance(node, ast.Import):
                assert all(a.name != "sync.reader" for a in node.names), path.name


def test_a_run_looks_for_each_school_s_header_once(
    tmp_path: Path, fake_google: FakeGoogle, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = fake_google
    town = setup(tmp_path, fake)
    searched: list[TemplateSpec] = []
    names = sync.reader._column_names  # every header search, by whoever calls it, starts here

    def counted(spec: TemplateSpec) -> object:
        searched.append(spec)
        return names(spec)

    monkeypatch.setattr(sync.reader, "_column_names", counted)
    result = run(town.config, today=TODAY, backend=town.backend())
    assert {r.school.id: r.outcome for r in result.reports} == dict.fromkeys(
        ("s1", "s2", "s3", "mouo"), "synced"
    )
    assert {k: w.status for k, w in result.writes.items()} == dict.fromkeys(
        ("s1", "s2", "s3", "mouo"), "written"
    )
    # Four schools, each main sheet searched once: by `locate`, not again by the backend.
    assert len(searched) == 4


def test_a_school_whose_write_failed_is_painted_next_time_without_a_read(
    tmp_path: Path, fake_google: FakeGoogle
) -> None:
    """Its state was recorded from the paint, though the backend had none before the read."""
    fake = fake_google
    town = setup(tmp_path, fake)
    run(town.config, today=TODAY, backend=town.backend())
    town.backend().settings.state_path.unlink()  # the cache lost: no header row known to it
    s3 = town.spreadsheet_id("s3")
    school_types(
        fake,
        s3,
        SPEC,
        {"3": {"status": "Выполнено", "done_on": "01.10.2021", "evidence": "Приказ № 7"}},
        user=school_email("s3"),
    )
    fault = fake.inject(Fault(status=400, target=s3, path=":batchUpdate", times=100))
    mark = fake.mark()
    failed = run(town.config, today=TODAY, backend=town.backend())
    fault.times = 0
    assert failed.writes["s3"].status == "failed"
    assert sheets_ops(fake, mark, s3)["get"] == 1

    mark = fake.mark()
    again = run(town.config, today=TODAY, backend=town.backend())
    assert {r.school.id: r.outcome for r in again.reports}["s3"] == "unchanged"
    assert again.writes["s3"].status == "written"
    assert sheets_ops(fake, mark, s3) == {"batchUpdate": 1}


def test_a_school_read_but_not_painted_is_painted_later_without_a_read(
    tmp_path: Path, fake_google: FakeGoogle
) -> None:
    """Read with no listing, then read again and its paint skipped: the state stays usable."""
    fake = fake_google
    town = setup(tmp_path, fake)
    run(town.config, today=TODAY, backend=town.backend())
    listing = fake.inject(Fault(status=400, method="GET", path="/drive/v3/files", times=100))
    blind = run(town.config, today=TODAY, backend=town.backend())
    listing.times = 0
    assert {w.status for w in blind.writes.values()} == {"unchanged"}

    # Listed again: every school is read (the last read had no stamp), none is painted.
    mark = fake.mark()
    seen = run(town.config, today=TODAY, backend=town.backend())
    assert seen.counts["unchanged"] == 4 and seen.writes == {}
    for school_id in ("s1", "s2", "s3", "mouo"):
        assert sheets_ops(fake, mark, town.spreadsheet_id(school_id)) == {"get": 1}

    # Weeks later the МОУО's February row comes due: written without a read.
    mark = fake.mark()
    later = run(town.config, today=date(2022, 2, 20), backend=town.backend())
    assert {k: w.status for k, w in later.writes.items()} == {"mouo": "written"}
    assert sheets_ops(fake, mark, town.spreadsheet_id("mouo")) == {"batchUpdate": 1}
