"""The states a run, a school and a write-back end in, the Контроль keys, and their Russian labels.

Each is a `StrEnum`: a member equals its string, so the history, the log and JSON keep the
plain words ("synced", "master_failed", …) and values read back from them compare equal.

>>> RunOutcome.MASTER_FAILED == "master_failed"
True
>>> label(SchoolOutcome, "locked")
'открыта, контроль не записан'
>>> label(RunOutcome, "something new")
'something new'
>>> counts_sentence({"synced": 3, "unchanged": 1, "failed": 0, "locked": 2})
'прочитано 3, без изменений 1, не прочитано 0, открыто (контроль не записан) 2'
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum


class SchoolOutcome(StrEnum):
    """What a run did with one school's workbook."""

    SYNCED = "synced"  # read (its content changed) and checked
    UNCHANGED = "unchanged"  # the same content as last time: not read again
    FAILED = "failed"  # not read: the master keeps the last good snapshot
    LOCKED = "locked"  # read, but open in Excel: the Контроль column not written


class RunOutcome(StrEnum):
    """How a whole run ended, as the history, the log and `status` name it."""

    OK = "ok"
    INTERRUPTED = "interrupted"  # stopped on request or by a signal
    MASTER_FAILED = "master_failed"  # the schools are recorded, the master is not written
    CRASHED = "crashed"  # an unexpected error
    BUSY = "busy"  # not started: another run holds the lock
    ABORTED = "aborted"  # found unfinished by the next run (power cut, kill -9)
    RUNNING = "running"  # in the history while it runs


class WriteStatus(StrEnum):
    """What painting the Контроль column back into a school's source did."""

    WRITTEN = "written"
    UNCHANGED = "unchanged"  # nothing to change
    LOCKED = "locked"  # open in Excel
    CHANGED = "changed"  # the school saved it meanwhile: its version kept, not overwritten
    FAILED = "failed"
    READONLY = "readonly"


class ControlKey(StrEnum):
    """The Контроль column's rule that applied to a row (see templates/roadmap.toml)."""

    ERROR = "error"
    REWORK = "rework"  # the coordinator's «На доработке»: not done until reviewed again
    DONE = "done"
    NONE = "none"  # «Не требуется», or no due date
    OVERDUE = "overdue"
    SOON = "soon"
    ON_TIME = "on_time"


# Runs that did not get through all schools and the master.
UNFINISHED_RUNS = (
    RunOutcome.MASTER_FAILED,
    RunOutcome.CRASHED,
    RunOutcome.INTERRUPTED,
    RunOutcome.ABORTED,
)
# Write-backs that left a school's Контроль column as it was.
NOT_WRITTEN = (WriteStatus.FAILED, WriteStatus.LOCKED, WriteStatus.CHANGED, WriteStatus.READONLY)

# The one table of Russian labels, per kind of state.
LABELS_RU: dict[type[StrEnum], dict[str, str]] = {
    SchoolOutcome: {
        SchoolOutcome.SYNCED: "прочитана",
        SchoolOutcome.UNCHANGED: "без изменений",
        SchoolOutcome.FAILED: "не прочитана",
        SchoolOutcome.LOCKED: "открыта, контроль не записан",
    },
    RunOutcome: {
        RunOutcome.OK: "завершена",
        RunOutcome.INTERRUPTED: "прервана",
        RunOutcome.MASTER_FAILED: "свод не записан",
        RunOutcome.CRASHED: "остановлена ошибкой",
        RunOutcome.ABORTED: "оборвалась",
        RunOutcome.RUNNING: "идёт",
        RunOutcome.BUSY: "не запущена: идёт другая",
    },
}


def label(kind: type[StrEnum], value: str) -> str:
    """The Russian label of a state of `kind`; an unknown value (a newer history) as it is."""
    return LABELS_RU[kind].get(value, value)


def counts_sentence(counts: Mapping[str, int], *, short: bool = False) -> str:
    """The run's counts of schools by outcome, as every summary words them.

    `short` (the log line) leaves out why the open ones count apart.
    """
    locked = "открыто" if short else "открыто (контроль не записан)"
    return (
        f"прочитано {counts[SchoolOutcome.SYNCED]},"
        f" без изменений {counts[SchoolOutcome.UNCHANGED]},"
        f" не прочитано {counts[SchoolOutcome.FAILED]}, {locked} {counts[SchoolOutcome.LOCKED]}"
    )
