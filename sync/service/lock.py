"""One run at a time: a lock file beside the history database.

The lock is an OS lock on the file (flock on Linux and macOS, msvcrt.locking on Windows), so the
operating system releases it when the holding process dies, however it dies. The file also holds
who took it (pid, computer, start time, command) for the messages and for `status`. When a run
finds that text left behind by a process that no longer exists, it was killed: the new run says so
and takes over. Where the file system cannot lock (some network shares), the holder's liveness
decides instead.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

log = logging.getLogger("roadmap_sync.lock")

# Windows locks a byte range and forbids reading it: lock one byte far past the holder text.
_WINDOWS_LOCK_OFFSET = 1 << 30
_BUSY_ERRNOS = {errno.EACCES, errno.EAGAIN, errno.EWOULDBLOCK, errno.EDEADLK}


@dataclass(frozen=True)
class LockHolder:
    """Who holds (or last held) the lock."""

    pid: int
    host: str
    started: datetime | None
    command: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "host": self.host,
            "started": self.started.isoformat(timespec="seconds") if self.started else None,
            "command": self.command,
        }

    @classmethod
    def from_text(cls, text: str) -> LockHolder | None:
        """The holder written in a lock file; None for an empty or unreadable one."""
        try:
            d = json.loads(text)
            started = datetime.fromisoformat(d["started"]) if d.get("started") else None
            return cls(int(d["pid"]), str(d.get("host", "")), started, str(d.get("command", "")))
        except (ValueError, KeyError, TypeError):
            return None

    @property
    def on_this_host(self) -> bool:
        return self.host == socket.gethostname()

    def alive(self) -> bool | None:
        """Whether the holder process still exists; None when it ran on another computer."""
        return pid_alive(self.pid) if self.on_this_host else None

    def describe(self, zone: tzinfo | None = None) -> str:
        """Russian: 'процесс 1234 на компьютере srv, с 15.01.2022 02:00 (serve)'.

        The time is shown in `zone` (the municipality's), whatever zone the holder wrote.
        """
        started = self.started
        if started is not None and zone is not None:
            started = (started if started.tzinfo else started.astimezone()).astimezone(zone)
        since = f", с {started:%d.%m.%Y %H:%M}" if started else ""
        what = f" ({self.command})" if self.command else ""
        return f"процесс {self.pid} на компьютере {self.host or '?'}{since}{what}"


class LockBusy(Exception):
    """Another run holds the lock; str() is a Russian message for the person who started this."""

    def __init__(self, holder: LockHolder | None, waited: float, zone: tzinfo | None = None):
        self.holder, self.waited = holder, waited
        who = holder.describe(zone) if holder else "другой процесс"
        waited_text = f" Ожидание: {round(waited)} с." if waited >= 1 else ""
        super().__init__(
            f"Синхронизация уже идёт ({who}); одновременно может идти только одна."
            f"{waited_text} Дождитесь её окончания и запустите снова"
            " (roadmap-sync status покажет, когда она закончится)."
        )


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists on this computer."""
    if pid <= 0:
        return False
    if sys.platform == "win32":
        import ctypes

        kernel32 = ctypes.windll.kernel32
        handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return False
        try:
            code = ctypes.c_ulong()
            kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
            return code.value == 259  # STILL_ACTIVE
        finally:
            kernel32.CloseHandle(handle)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    return True


def _try_os_lock(fd: int) -> bool:
    """Take the OS lock without waiting: True when taken, False when another holds it.

    Raises OSError when this file system cannot lock at all.
    """
    try:
        if sys.platform == "win32":
            import msvcrt

            os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        if e.errno in _BUSY_ERRNOS:
            return False
        raise
    return True


def _os_unlock(fd: int) -> None:
    if sys.platform == "win32":
        import msvcrt

        os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
    else:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_UN)


def read_holder(path: Path) -> LockHolder | None:
    """Who wrote the lock file last and has not released it (None: free, or no file)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    return LockHolder.from_text(text) if text.strip() else None


class RunLock:
    """The lock for one history database. Use `acquire` then `release`, or `with lock:`."""

    def __init__(self, path: Path, command: str = "", zone: tzinfo | None = None) -> None:
        self.path = Path(path)
        self.command = command
        self.zone = zone  # the municipality's: the holder's start time is written and shown in it
        self.fd: int | None = None
        self.os_locked = False
        self.taken_over: LockHolder | None = None  # a dead holder whose lock this one replaced

    def acquire(
        self,
        wait: float = 0.0,
        *,
        stop: threading.Event | None = None,
        poll: float = 0.25,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> RunLock:
        """Take the lock, waiting up to `wait` seconds (or until `stop` is set); else LockBusy."""
        if self.fd is not None:
            raise RuntimeError("lock already held by this object")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        began = clock()
        while True:
            if self._try_once():
                return self
            waited = clock() - began
            if waited >= wait or (stop is not None and stop.is_set()):
                raise LockBusy(read_holder(self.path), waited, self.zone)
            pause = min(poll, max(0.0, wait - waited))
            if stop is not None:
                stop.wait(pause)
            else:
                sleep(pause)

    def _try_once(self) -> bool:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o644)
        try:
            try:
                got = _try_os_lock(fd)
                self.os_locked = got
            except OSError as e:
                # No locking on this file system: the holder's liveness decides.
                log.debug("блокировка файла не поддерживается (%s); проверка по процессу", e)
                holder = self._holder_of(fd)
                got = holder is None or holder.alive() is False
                self.os_locked = False
            if not got:
                os.close(fd)
                return False
            previous = self._holder_of(fd)
            # With the OS lock taken, any holder text left is a dead process's (or a reused pid's).
            if previous is not None and (self.os_locked or previous.alive() is False):
                self.taken_over = previous
                log.warning(
                    "Предыдущая синхронизация не завершилась (%s): процесса больше нет;"
                    " блокировка снята.",
                    previous.describe(self.zone),
                )
            started = datetime.now(self.zone) if self.zone else datetime.now().astimezone()
            me = LockHolder(os.getpid(), socket.gethostname(), started, self.command)
            self._write(fd, json.dumps(me.to_json(), ensure_ascii=False))
            self.fd = fd
            return True
        except BaseException:
            with contextlib.suppress(OSError):
                os.close(fd)
            raise

    @staticmethod
    def _holder_of(fd: int) -> LockHolder | None:
        os.lseek(fd, 0, os.SEEK_SET)
        data = os.read(fd, 4096)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return None
        return LockHolder.from_text(text) if text.strip() else None

    @staticmethod
    def _write(fd: int, text: str) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        os.ftruncate(fd, 0)
        os.write(fd, text.encode("utf-8"))
        with contextlib.suppress(OSError):
            os.fsync(fd)

    def release(self) -> None:
        """Clear the holder text and release; the file stays (removing it would race a waiter)."""
        fd, self.fd = self.fd, None
        if fd is None:
            return
        try:
            with contextlib.suppress(OSError):
                self._write(fd, "")
            if self.os_locked:
                with contextlib.suppress(OSError):
                    _os_unlock(fd)
        finally:
            os.close(fd)

    @property
    def held(self) -> bool:
        return self.fd is not None

    def __enter__(self) -> RunLock:
        if self.fd is None:
            self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def lock_path_for(history_path: Path) -> Path:
    """The lock file of a history database: `history.sqlite.lock` beside it."""
    return history_path.with_name(history_path.name + ".lock")


def service_lock_path_for(history_path: Path) -> Path:
    """The file `serve` holds for its whole life: one service per history database."""
    return history_path.with_name(history_path.name + ".serve.lock")
