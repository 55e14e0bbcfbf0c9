"""Unchanged schools checked ahead of the run's loop, in a helper process.

On a quiet night nearly every school is unchanged: the run decodes its last snapshot from the
history and checks it against the plan and today's date, about half of the loop's time. A
helper process does that for the unchanged schools ahead of the loop, in the run's order, and
hands each result over a pipe. The loop takes a result when it is there and does the work
itself when it is not (the helper is late on a busy machine, or gone); it tells the helper
where it is, so the helper skips what the loop has done. Nothing depends on the helper: it
computes the same function of the same inputs, a plan or template that differs between its
load and the run's drops everything it sends, and any failure of it only means the loop does
the work itself.

The helper is forked (Linux, a process with no other thread: sync.backends.isolated.fork_safe)
before the run opens its history, so it inherits no SQLite connection: it opens its own, and
only reads. Where forking is not safe (Windows, macOS, the service with its threads, a process
already holding the history open) the run simply goes without it.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import multiprocessing as mp
import os
import pickle
import sys
import time
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from sync.config import Config
from sync.history import History, LastRead, controls_json, problems_json
from sync.model import Plan, PlanItem, Problem, RowReport
from sync.spec import TemplateSpec
from sync.spool import (
    SpoolError,
    SpoolFile,
    item_indexes,
    pack_rows,
    put_record,
    unpack_rows,
)

log = logging.getLogger(__name__)

MIN_SCHOOLS = 40  # below this the helper's start costs more than it saves
WAIT_FOR_GO = 120.0  # seconds the helper waits for the run to say which schools are unchanged
_WAITING, _GO, _CANCEL = 0, 1, 2


@dataclass
class Prepared:
    """One school's last read and its rows checked as the loop would check them."""

    last: LastRead
    rows: list[RowReport]
    problems: list[Problem]
    encoded: tuple[str, str]  # the problems and controls as the history keeps them
    # The rows and the passport as SchoolSpool keeps them, in the helper's file: (file, rows'
    # offset and size, passport's offset and size).
    stored: tuple[SpoolFile, int, int, int, int]


class Helper:
    """The helper process of one run, seen from the run: `bind`, `go`, then `take(i)` for
    the loop's i-th school, and `close`."""

    def __init__(
        self, process: Any, conn: Any, state: Any, wanted: Any, position: Any, records: SpoolFile
    ) -> None:
        self.process, self.conn = process, conn
        self.records = records  # where the helper writes each school's spool record
        self.state, self.wanted, self.position = state, wanted, position
        self.used = 0  # schools whose check the loop took from the helper
        self._held: tuple[int, Any] | None = None
        self._items: list[PlanItem] = []
        self._expected: Any = None
        self._alive = True

    def bind(self, plan: Plan, spec: TemplateSpec) -> None:
        """The run's plan and template. The helper loaded them too and sends what it loaded
        first: if that differs (a file changed between the two loads), nothing it sends is used
        (checked by `take` when it comes: the run never waits for it)."""
        self._items = list(plan.items)
        self._expected = (plan.period, tuple(plan.items), spec)

    def go(self, unchanged: Collection[int]) -> None:
        """Which of the run's schools (by their place in its order) are unchanged: the helper
        prepares those only."""
        if not self._alive:
            return
        for i in unchanged:
            self.wanted[i] = 1
        self.state.value = _GO

    def take(self, i: int) -> Prepared | None:
        """The helper's result for the loop's i-th school, if it is there now (never waits)."""
        found = None
        while self._alive:
            if self._held is None:
                try:
                    if not self.conn.poll(0):
                        break
                    self._held = self.conn.recv()
                except (EOFError, OSError):
                    self._alive = False
                    break
            assert self._held is not None
            index, message = self._held
            if index == -1:  # what the helper loaded, sent before any result
                self._held = None
                if message != self._expected:
                    self.close()
                continue
            if index < i:  # done by the loop itself meanwhile
                self._held = None
                continue
            if index == i:
                self._held = None
                found = message
            break
        self.position.value = i + 1  # the helper skips what is behind the loop
        if found is None:
            return None
        last, packed, problems, encoded, (at, size, p_at, p_size) = found
        rows = unpack_rows(packed, self._items)
        self.used += 1
        return Prepared(last, rows, problems, encoded, (self.records, at, size, p_at, p_size))

    def close(self) -> None:
        """Stop the helper (whatever it is doing) and wait for it to go."""
        self._alive = False
        self._held = None
        self.state.value = _CANCEL
        with contextlib.suppress(OSError):
            self.conn.close()
        with contextlib.suppress(OSError, ValueError, AssertionError):
            if self.process.is_alive():
                self.process.kill()
            self.process.join(5)


def start(config: Config, today: date) -> Helper | None:
    """The helper for this run, or None where it is not worth it or cannot be forked safely.

    Called before the run opens its history: a process that holds the history database open
    (any connection, any thread) is not forked, SQLite's locks do not survive a fork."""
    from sync.backends.isolated import fork_safe

    schools = len(config.all_workbooks())
    if schools < MIN_SCHOOLS or not fork_safe() or _holds_open(config.history_path):
        return None
    try:
        records = SpoolFile()  # made before the fork: the helper writes, the run reads
    except SpoolError:
        return None
    try:
        ctx = mp.get_context("fork")
        conn, child = ctx.Pipe(duplex=False)
        state = ctx.RawValue("b", _WAITING)
        wanted = ctx.RawArray("b", schools)
        position = ctx.RawValue("q", 0)
        process = ctx.Process(
            target=_helper_main,
            args=(child, config, today, state, wanted, position, records.fileno()),
            daemon=True,
            name="roadmap-sync-helper",
        )
        process.start()
    except (OSError, ValueError) as e:
        records.close()
        log.info("Помощник синхронизации не запущен (%s): школы проверяются по очереди.", e)
        return None
    child.close()
    return Helper(process, conn, state, wanted, position, records)


@contextlib.contextmanager
def started(config: Config, today: date) -> Iterator[Helper | None]:
    """`start`, closed when the block ends however it ends."""
    helper = start(config, today)
    try:
        yield helper
    finally:
        if helper is not None:
            helper.close()


def _holds_open(path: Path) -> bool:
    """Whether this process has the database (or its -wal or -shm file) open. Linux only."""
    try:
        names = {str(Path(path).resolve()) + tail for tail in ("", "-wal", "-shm", "-journal")}
        for fd in os.listdir("/proc/self/fd"):
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/self/fd/{fd}") in names:
                    return True
    except OSError:
        return True  # cannot tell: do not fork
    return False


def _helper_main(
    conn: Any, config: Config, today: date, state: Any, wanted: Any, position: Any, records: int
) -> None:
    """In the helper: load what the run loads, wait for its list, send each unchanged
    school's last read and check in the run's order."""
    from sync.backends.isolated import leave_parent
    from sync.pipeline import load_context
    from sync.validation import check_school

    leave_parent(conn, keep=(records,))
    gc.freeze()  # what was forked is the run's: no collection walks it
    parent = os.getppid()
    try:
        spec, plan = load_context(config)
        conn.send((-1, (plan.period, tuple(plan.items), spec)))
        waited = time.monotonic()
        while state.value == _WAITING:
            if os.getppid() != parent or time.monotonic() - waited > WAIT_FOR_GO:
                return
            time.sleep(0.002)
        if state.value != _GO:
            return
        index = item_indexes(plan.items)
        end = 0  # the records file's end: this process is its only writer
        with History.open(config.history_path) as history:
            for i, school in enumerate(config.all_workbooks()):
                if state.value != _GO:
                    return
                if not wanted[i] or i < position.value:
                    continue
                last = history.last_read(school.id)
                if last is None:
                    continue
                rows, problems = check_school(
                    last.sheet, school, plan, spec, today, config.soon_days
                )
                packed = pack_rows(rows, index)
                stored = put_record(
                    records,
                    end,
                    pickle.dumps(packed, pickle.HIGHEST_PROTOCOL),
                    pickle.dumps(dict(last.sheet.passport), pickle.HIGHEST_PROTOCOL),
                )
                end = stored[2] + stored[3]
                encoded = (
                    problems_json(problems),
                    controls_json({r.sheet_row: r.control.key for r in rows}),
                )
                conn.send((i, (last, packed, problems, encoded, stored)))
    except BaseException:  # the run does the work itself: nothing is lost
        pass
    finally:
        with contextlib.suppress(OSError):
            conn.close()
        sys.stdout.flush()
        os._exit(0)
