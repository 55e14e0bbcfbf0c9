"""Writing files so that nobody ever sees half of one, and replacing a school's file without ever
losing a save the school made meanwhile (compare-and-swap).

Temporary files are named `.~tmp-<pid>-<8 hex>…` (content we made) or `.~old-<pid>-<8 hex>…`
(content swapped out of a workbook); `remove_stale_temps` removes those of dead processes.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import hashlib
import os
import platform
import re
import secrets
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

TEMP_PREFIX = ".~tmp-"
OLD_PREFIX = ".~old-"
_TEMP_NAME = re.compile(r"^\.~(tmp|old)-(\d+)-[0-9a-f]{8}(?:[.-].*)?$")
# Names of temp files an older version made (mkstemp: 8 random characters, no pid).
_LEGACY_TEMP = re.compile(r"^\.~tmp-[A-Za-z0-9_]{8}\.xlsx$")
STALE_AFTER = 3600.0  # seconds; a temp file this old is stale even if its pid was reused


def temp_name(path: Path, prefix: str = TEMP_PREFIX) -> Path:
    return path.with_name(f"{prefix}{os.getpid()}-{secrets.token_hex(4)}{path.suffix}")


def write_atomically(path: Path, write: Callable[[BinaryIO], object], mode: int = 0o666) -> str:
    """Write through a temporary file in the same folder, flushed to disk, then os.replace.
    Returns the sha256 of what was written, taken before the replace (a save by someone else
    right after it is never mistaken for ours).

    os.open applies the umask, so the file gets the folder's usual permissions (mkstemp would
    make it 0600, unreadable to the schools and the coordinator sharing the folder); a secret
    passes mode=0o600 (the umask can only take permissions away, so it stays the owner's).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_name(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        digest = sha256_file(tmp)
        os.replace(tmp, path)
        return digest
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def write_all(fd: int, data: bytes) -> None:
    """Write all of `data` to a descriptor (os.write may take part of it)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def fsync_dir(folder: Path) -> None:
    if sys.platform == "win32":
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# --- stale temp files ----------------------------------------------------------------------------


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    if sys.platform == "win32":
        return True  # no cheap check: age decides
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temps(
    folders: Iterable[Path],
    now: float | None = None,
    rescue: Path | None = None,
    kept: Callable[[], set[str]] | None = None,
) -> list[Path]:
    """Remove our temp files left by a killed run: ours by name, stale by a dead pid or by age.

    A `.~old-` file may hold a school's save swapped out in the last instant before a kill: unless
    its content is kept elsewhere already (`kept()`: sha256 digests, asked once), it is moved
    into `rescue` (the backups folder) rather than deleted, so nothing is ever lost.
    """
    now = time.time() if now is None else now
    removed = []
    known: set[str] | None = None
    for folder in dict.fromkeys(Path(f) for f in folders):
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            m = _TEMP_NAME.match(entry.name)
            legacy = _LEGACY_TEMP.match(entry.name)
            if not (m or legacy):
                continue
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            old = now - st.st_mtime > STALE_AFTER
            if m and not old and _pid_alive(int(m.group(2))):
                continue
            if legacy and not old:
                continue
            path = Path(entry.path)
            try:
                if m and m.group(1) == "old" and rescue is not None:
                    if known is None:
                        known = kept() if kept is not None else set()
                    if sha256_file(path) in known:
                        path.unlink()
                    else:
                        rescue.mkdir(parents=True, exist_ok=True)
                        os.replace(path, rescue / entry.name.lstrip("."))
                else:
                    path.unlink()
                removed.append(path)
            except OSError:
                continue
    return removed


# --- compare-and-swap ----------------------------------------------------------------------------

RENAME_EXCHANGE = 2  # linux/fs.h
_AT_FDCWD = -100
_RENAMEAT2_SYSCALL = {"x86_64": 316, "aarch64": 276, "i386": 353, "i686": 353, "armv7l": 382}


class SwapUnsupported(OSError):
    """The file system or the OS cannot exchange two names atomically."""


def _libc() -> ctypes.CDLL | None:
    if sys.platform == "win32":
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    except OSError:
        return None


_LIBC = _libc()


def exchange(a: Path, b: Path) -> None:
    """Swap two names atomically: after it `a` names b's file and `b` names a's file.

    Linux: renameat2(RENAME_EXCHANGE) (kernel 3.15+; ext4, xfs, btrfs, tmpfs…); macOS:
    renamex_np(RENAME_SWAP). Raises SwapUnsupported elsewhere.
    """
    if _LIBC is None:
        raise SwapUnsupported(errno.ENOSYS, "no atomic exchange on this OS")
    fa, fb = os.fsencode(a), os.fsencode(b)
    if sys.platform == "darwin":
        fn = getattr(_LIBC, "renamex_np", None)
        if fn is None:
            raise SwapUnsupported(errno.ENOSYS, "renamex_np is missing")
        rc = fn(fa, fb, ctypes.c_uint(0x00000002))  # RENAME_SWAP
    else:
        fn = getattr(_LIBC, "renameat2", None)
        if fn is not None:
            rc = fn(_AT_FDCWD, fa, _AT_FDCWD, fb, ctypes.c_uint(RENAME_EXCHANGE))
        else:  # glibc older than 2.28 has no wrapper: the system call itself
            number = _RENAMEAT2_SYSCALL.get(platform.machine())
            if number is None:
                raise SwapUnsupported(errno.ENOSYS, "renameat2 is unknown on this machine")
            rc = _LIBC.syscall(number, _AT_FDCWD, fa, _AT_FDCWD, fb, ctypes.c_uint(RENAME_EXCHANGE))
    if rc != 0:
        err = ctypes.get_errno()
        if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise SwapUnsupported(err, os.strerror(err))
        raise OSError(err, os.strerror(err), str(b))


if sys.platform == "win32":
    _REPLACEFILE_IGNORE_MERGE_ERRORS = 0x00000002

    def _replace_file(target: Path, replacement: Path, backup: Path) -> None:
        """ReplaceFileW: `target` gets the replacement's content and keeps its own attributes,
        ACL and owner; its previous content is moved to `backup`. Fails (sharing violation)
        while Excel holds the file open."""
        kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
        ok = kernel32.ReplaceFileW(
            str(target), str(replacement), str(backup), _REPLACEFILE_IGNORE_MERGE_ERRORS, None, None
        )
        if not ok:
            raise ctypes.WinError(ctypes.get_last_error())


def _swap(held: Path, target: Path) -> None:
    """`target` gets what `held` names; `held` then names what `target` named."""
    if sys.platform == "win32":
        backup = temp_name(target, OLD_PREFIX)
        _replace_file(target, held, backup)
        os.replace(backup, held)
    else:
        exchange(held, target)


def _identity(path: Path) -> object:
    """What tells two files apart: the inode on POSIX, the content on Windows."""
    if sys.platform == "win32":
        return sha256_file(path)
    st = os.lstat(path)
    return (st.st_dev, st.st_ino)


def sha256_file(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


@dataclass(frozen=True)
class SwapResult:
    replaced: bool  # our file is in place of the one that was read
    kept: Path | None = None  # a school's save we could not put back in place (never deleted)
    method: str = "exchange"  # exchange (Linux, macOS), replacefile (Windows), link (fallback)


MAX_SWAPS = 64


def swap_in(target: Path, new: Path, expected: str) -> SwapResult:
    """Replace `target` by `new` only if target's content is still `expected` (sha256).

    The replaced file is checked after an atomic exchange: if it is not what was read, a school
    saved meanwhile, and its save is swapped back in place. A save that lands in between is
    seen too (its file comes out of the next exchange) and is put in place, so the workbook ends
    with the school's newest save and ours is dropped. Nothing a school saved is ever deleted
    unless a later save of the school replaced it.
    """
    try:
        seen = {_identity(new)}
        _swap(new, target)
    except SwapUnsupported:
        return _swap_by_link(target, new, expected)
    except OSError:
        new.unlink(missing_ok=True)  # nothing was swapped: it holds only what we made
        raise
    # From here on `new` may hold a school's save: an error leaves it for remove_stale_temps.
    first, conflict = True, False
    for _ in range(MAX_SWAPS):
        out = _identity(new)
        if out in seen or (first and sha256_file(new) == expected):
            new.unlink()  # the new name's durability is the file system's: either file is whole
            return SwapResult(
                not conflict, method="replacefile" if sys.platform == "win32" else "exchange"
            )
        first, conflict = False, True
        seen.add(out)  # a school's save, newer than anything seen so far: put it in place
        _swap(new, target)
    # A program that saves again every instant: keep what we hold beside it, visible.
    kept = target.with_name(f"{target.stem} (сохранено во время синхронизации){target.suffix}")
    os.replace(new, kept)
    return SwapResult(False, kept=kept)


def _swap_by_link(target: Path, new: Path, expected: str) -> SwapResult:
    """Without an atomic exchange: move the workbook aside, check it, link ours in.

    link() never replaces a name, so a save that lands while the name is free wins and ours is
    dropped; a changed workbook is linked back, unless a newer save took the name. The price: for
    a moment the workbook's name does not exist (a program opening it then sees no file).
    """
    hold = temp_name(target, OLD_PREFIX)
    os.rename(target, hold)
    try:
        if sha256_file(hold) == expected:
            try:
                os.link(new, target)
            except FileExistsError:
                hold.unlink()
                return SwapResult(False, method="link")  # a save took the name: it stays
            hold.unlink()
            return SwapResult(True, method="link")
        with contextlib.suppress(FileExistsError):  # a newer save took it: ours holds an older one
            os.link(hold, target)
        hold.unlink()
        return SwapResult(False, method="link")
    except OSError:
        # No hard links here (FAT, some shares): put the workbook back as it was, unless a save
        # took the name meanwhile (then ours and the held one are kept aside, not deleted).
        if hold.exists():
            if not target.exists():
                os.rename(hold, target)
            else:
                os.replace(hold, hold.with_name(hold.name.lstrip(".")))
        raise
    finally:
        with contextlib.suppress(OSError):
            new.unlink()
