"""Writing a file so that nobody ever sees half of it."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def write_atomically(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Write through a temporary file in the same folder, flushed to disk, then os.replace.

    os.open applies the umask, so the file gets the folder's usual permissions (mkstemp would
    make it 0600, unreadable to the schools and the coordinator sharing the folder).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".~tmp-{os.getpid()}-{secrets.token_hex(4)}{path.suffix}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
