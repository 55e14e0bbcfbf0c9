"""The embedded default storage: a folder of .xlsx workbooks, one per school."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import os
import re
import stat
import sys
import zipfile
from collections.abc import Collection, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING

from sync.backends.base import (
    MasterReadError,
    MasterWriteError,
    SourceError,
    SourceState,
    Survey,
    TransientSourceError,
    WriteResult,
)
from sync.backends.isolated import ReadFailure, shared_pool
from sync.backends.xlsxpatch import PatchError, patch_workbook
from sync.fileio import (
    OLD_PREFIX,
    remove_stale_temps,
    sha256_file,
    swap_in,
    temp_name,
    write_atomically,
)
from sync.model import Plan, RawWorkbook, School
from sync.notes import NOTE_AUTHOR
from sync.oserrors import describe
from sync.paint import Paint
from sync.review import MasterMark, MasterMarks, RowKey, line_changed
from sync.spec import TemplateSpec
from sync.states import WriteStatus

if TYPE_CHECKING:
    from sync.consolidate import Master


LOCKED_MESSAGE = (
    "файл открыт для редактирования — контроль не записан, повторим при следующей синхронизации"
)
CHANGED_MESSAGE = "файл изменился во время синхронизации — контроль будет записан в следующий раз"
SAVED_MEANWHILE_MESSAGE = (
    "школа сохранила файл во время синхронизации — её версия сохранена, контроль будет записан"
    " в следующий раз"
)


UNREADABLE_HINT = (
    ". Он оставлен как есть, новый свод записан рядом с ним (с датой в имени)."
    " Откройте его в Excel или LibreOffice и сохраните заново — отметки МОУО из него будут"
    " прочитаны при следующей синхронизации; если отметок в нём нет, уберите его из папки."
)
# In <backups>/_свод: the sha256 of the last masters this backend wrote. A master on disk that is
# byte for byte one of them shows no line the coordinator changed (every line's key cell carries
# the token of the mark it shows), so its marks need not be parsed: the warm run's largest read.
# Whoever can write the backups folder could list a master here and so hide its marks from the
# run; the backups (like the history) are the department's own, not the schools' folder.
WRITTEN_MASTERS = ".written-masters.json"
KEEP_WRITTEN = 16
SAVED_DURING_RUN = (
    "свод «{name}» сохранён во время синхронизации — он не перезаписан, чтобы не потерять"
    " отметки МОУО; новый свод будет записан при следующей синхронизации"
)


class _FileState:
    """A file's size, time and contents' hash as read: was it saved since?"""

    def __init__(self, size: int, mtime_ns: int, digest: str):
        self.size, self.mtime_ns, self.digest = size, mtime_ns, digest

    @classmethod
    def of(cls, path: Path) -> _FileState | None:
        try:
            st = path.stat()
            return cls(st.st_size, st.st_mtime_ns, sha256_file(path))
        except OSError:
            return None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _FileState) and (self.size, self.mtime_ns, self.digest) == (
            other.size,
            other.mtime_ns,
            other.digest,
        )

    __hash__ = None  # type: ignore[assignment]


def _digest(state: _FileState | None) -> str | None:
    return state.digest if state is not None else None


def _dated_name(path: Path) -> Path:
    now = datetime.now()
    target = path.with_name(f"{path.stem} ({now:%Y-%m-%d %H-%M}){path.suffix}")
    n = 1
    while target.exists():  # two runs in a minute: a new copy, never one the coordinator uses
        tail = f"-{n}" if n > 1 else ""
        target = path.with_name(f"{path.stem} ({now:%Y-%m-%d %H-%M-%S}{tail}){path.suffix}")
        n += 1
    return target


def dated_copies(path: Path, since_ns: int | None) -> list[Path]:
    """The master's dated copies beside it («Свод (2026-12-01 10-30).xlsx»), newest first;
    only those saved after `since_ns` (the master's time) when given."""
    pattern = re.compile(
        re.escape(path.stem)
        + r" \(\d{4}-\d{2}-\d{2} \d{2}-\d{2}(?:-\d{2}(?:-\d+)?)?\)"
        + re.escape(path.suffix)
    )
    found: list[tuple[int, Path]] = []
    try:
        entries = list(path.parent.iterdir())
    except OSError:
        return []
    for p in entries:
        if not pattern.fullmatch(p.name):
            continue
        try:
            mtime = p.stat().st_mtime_ns
        except OSError:
            continue
        if since_ns is None or mtime > since_ns:
            found.append((mtime, p))
    return [p for _, p in sorted(found, reverse=True)]


def merge_marks(main: MasterMarks, copies: list[MasterMarks], problems: list[str]) -> MasterMarks:
    """The master's lines with the dated copies' (newest first): a line the coordinator changed
    in a copy wins over an unchanged one; a row only a copy has is taken from it."""
    if not copies:
        if not problems:
            return main
        return replace(main, problems=(*problems, *main.problems))
    lines = list(main.marks)
    first: dict[RowKey, int] = {}
    for i, line in enumerate(lines):
        first.setdefault(line.key, i)
    taken: set[RowKey] = set()  # rows a changed copy line already won
    for got in copies:
        problems.extend(got.problems)
        for line in got.marks:
            if line.key in taken:
                continue
            j = first.get(line.key)
            if j is None:
                first[line.key] = len(lines)
                lines.append(line)
            elif _changed(line) and not _changed(lines[j]):
                lines[j] = line
            else:
                continue
            if _changed(line):
                taken.add(line.key)
    newest = max(copies, key=lambda m: m.at or datetime.min.replace(tzinfo=UTC))
    by, at = (
        (main.by, main.at)
        if main.at and (not newest.at or main.at > newest.at)
        else (
            newest.by,
            newest.at,
        )
    )
    return MasterMarks(
        tuple(lines), by, at, main.source or newest.source, (*problems, *main.problems)
    )


def _changed(line: MasterMark) -> bool:
    """The coordinator changed this line since the master showing it was written."""
    return line_changed(line, None) if line.shown is not None else False


def lock_files(path: Path) -> list[Path]:
    """The files Excel and LibreOffice leave beside a workbook while it is open."""
    name = path.name
    return [
        path.with_name("~$" + name),
        path.with_name("~$" + name[2:]),  # Excel trims long names
        path.with_name(f".~lock.{name}#"),
    ]


def is_open(path: Path) -> bool:
    return any(p.exists() for p in lock_files(path))


def _is_open(link: Path, path: Path) -> bool:
    """Open in a spreadsheet program under its own name or, for a link, its target's."""
    return is_open(link) or (path != link and is_open(path))


def stamp_of(path: Path) -> str:
    return _stamp(path.stat())


def _stamp(st: os.stat_result) -> str:
    return f"{st.st_mtime_ns}:{st.st_size}"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_WHOLE: set[tuple[str, int, int]] = set()  # backups seen whole: (path, size, mtime)


def _backup_ok(path: Path) -> bool:
    """A backup counts only when whole: not empty, and a complete zip when it is one (a copy cut
    short by a full disk has the zip's start but not its end)."""
    try:
        st = path.stat()
        key = (str(path), st.st_size, st.st_mtime_ns)
        if key in _WHOLE:
            return True
        with open(path, "rb") as f:
            head = f.read(4)
        whole = bool(head) and (head != b"PK\x03\x04" or zipfile.is_zipfile(path))
    except OSError:
        return False
    if whole:
        _seen_whole(key)
    return whole


def _seen_whole(key: tuple[str, int, int]) -> None:
    if len(_WHOLE) > 100_000:
        _WHOLE.clear()
    _WHOLE.add(key)


def _whole_bytes(data: bytes) -> bool:
    """_backup_ok for bytes in memory."""
    return bool(data) and (data[:4] != b"PK\x03\x04" or zipfile.is_zipfile(io.BytesIO(data)))


def keep_backup(
    data: bytes, target: Path, folder: Path, keep: int, zone: tzinfo | None = None
) -> Path:
    """Copy a workbook's previous version into its backups folder, keeping the newest `keep`.

    The copy is written beside under a temp name, read back and compared before it gets its real
    name: only a verified copy counts and only then are old ones rotated out. It is not fsynced:
    the workbook that replaces the original is, and it holds all the original held. A failed
    copy (a full disk) leaves nothing behind. Names carry the municipality's local time.
    Raises OSError: a caller that cannot back up must not replace the file.
    """
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.now(zone) if zone is not None else datetime.now().astimezone()
    final = folder / f"{target.stem}.{now:%Y%m%d-%H%M%S-%f}{target.suffix}"
    tmp = temp_name(folder.parent / f"backup{target.suffix}")  # where stale temps are swept
    try:
        with open(tmp, "xb") as f:  # a full disk fails write() or close(): nothing is renamed
            f.write(data)
        # Read back through a new descriptor: what the file system now holds, byte for byte,
        # and (being equal to the workbook) a whole zip when the workbook is one.
        with open(tmp, "rb") as f:
            st = os.fstat(f.fileno())
            written = f.read()
        if written != data or not _whole_bytes(written):
            raise OSError(errno.EIO, "резервная копия не совпала с книгой после записи")
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _seen_whole((str(final), st.st_size, st.st_mtime_ns))  # verified: not read again below
    pattern = re.compile(re.escape(target.stem) + r"\.\d{8}-\d{6}-\d{6}" + re.escape(target.suffix))
    kept = sorted(p for p in folder.iterdir() if pattern.fullmatch(p.name))
    good = [p for p in kept if _backup_ok(p)]
    for bad in set(kept) - set(good):  # left by an older version on a full disk: never a backup
        bad.unlink(missing_ok=True)
    for old in good[: max(0, len(good) - max(1, keep))]:
        old.unlink(missing_ok=True)
    return final


def _not_writable(path: Path) -> str:
    """Why a workbook must not be written (Russian), or "" when it may."""
    try:
        st = path.stat()
        folder = path.parent.stat()
    except OSError as e:
        return f"файл недоступен ({e.strerror})"
    if not st.st_mode & 0o222 or not os.access(path, os.W_OK):
        return (
            "файл только для чтения — контроль не записан. Чтобы синхронизация отмечала"
            " контроль, снимите атрибут «только чтение»"
        )
    if not folder.st_mode & 0o222 or not os.access(path.parent, os.W_OK | os.X_OK):
        return (
            f"нет прав на запись в папку «{path.parent.name}» — контроль не записан."
            " Дайте синхронизации право записи в эту папку"
        )
    return ""


def _os_message(e: OSError) -> str:
    if e.errno == errno.ENOSPC or e.errno == errno.EDQUOT:
        return "на диске нет места"
    if isinstance(e, PermissionError):
        return "нет прав на запись"
    return e.strerror or str(e)


def _keep_owner_and_mode(fd: int, st: os.stat_result) -> str:
    """Give the new file the workbook's owner, group and mode; Russian reason if impossible."""
    if sys.platform == "win32":
        return ""  # ReplaceFileW keeps the replaced file's owner and ACL
    mine = os.fstat(fd)
    if (mine.st_uid, mine.st_gid) != (st.st_uid, st.st_gid):
        try:
            os.fchown(fd, st.st_uid, st.st_gid)
        except PermissionError:
            return (
                "у синхронизации нет прав сохранить владельца файла — контроль не записан,"
                " чтобы файл остался доступен школе"
            )
    os.fchmod(fd, stat.S_IMODE(st.st_mode))
    return ""


def _source_result(result: RawWorkbook | ReadFailure) -> RawWorkbook | SourceError:
    if isinstance(result, ReadFailure):
        kind = TransientSourceError if result.transient else SourceError
        return kind(str(result))
    return result


class FolderBackend:
    """School workbooks in a folder, the master as an .xlsx file, backups beside."""

    master_is_workbook = True
    takes_sent_copies = True  # a school's «Отправить» copies its workbook into the folder

    def __init__(
        self,
        master_path: Path,
        backups_dir: Path,
        keep_backups: int = 10,
        skip_sheets: Collection[str] = (),
        zone: tzinfo | None = None,
        password: str = "",
    ):
        self.master_path = Path(master_path)
        self.backups_dir = Path(backups_dir)
        self.keep_backups = keep_backups
        self.skip_sheets = tuple(skip_sheets)  # sheets the core never needs (the instructions)
        self.zone = zone  # the municipality's: backup names carry its local time
        self.password = password  # protects the sheets of the workbooks `create` builds
        # What read_marks found, for write_master: the master as read, whether it was readable,
        # and the dated copies whose marks were taken.
        self._read_done = False
        self._read_main: _FileState | None = None
        self._unreadable = ""
        self._copies_read: list[tuple[Path, _FileState]] = []

    def location(self, school: School) -> str:
        """The school's workbook path."""
        return school.source

    @staticmethod
    def where_to_open(school: School) -> str:
        """The school's workbook (or the link its source names). Raises SourceError."""
        source = school.source
        if source.startswith(("http://", "https://")):
            return source
        path = Path(source)
        if not path.is_file():
            raise SourceError(f"Книга школы «{school.name}» не найдена: {path}.")
        return str(path)

    def remove_stale_temps(self, schools: Sequence[School]) -> list[Path]:
        """Temp files a killed run left in the schools', the master's and the backups' folders."""
        folders = {self.master_path.parent, self.backups_dir}
        for school in schools:
            folders.add(Path(school.source).parent)
            folders.add(Path(os.path.realpath(school.source)).parent)

        def kept() -> set[str]:
            """Digests of what is safe already: every workbook and its newest backup."""
            digests = set()
            for school in schools:
                backups = sorted((self.backups_dir / school.id).glob("*.*"))
                for p in [Path(school.source), *backups[-1:]]:
                    with contextlib.suppress(OSError):
                        digests.add(sha256_file(p))
            return digests

        return remove_stale_temps(folders, rescue=self.backups_dir / "_recovered", kept=kept)

    def survey(self, schools: Sequence[School]) -> Survey:
        shared_pool().prestart()  # the readers start while the files are surveyed
        self.remove_stale_temps(schools)  # the first step of every run
        states: dict[str, SourceState] = {}
        for school in schools:
            path = Path(school.source)
            try:
                st = path.stat()
            except OSError:
                states[school.id] = SourceState(exists=False)
                continue
            states[school.id] = SourceState(
                exists=True,
                stamp=f"{st.st_mtime_ns}:{st.st_size}",
                modified=datetime.fromtimestamp(st.st_mtime).astimezone(),
                is_open=is_open(path),
            )
        return Survey(states)  # no per-run state: each call stands alone

    def read(self, school: School) -> RawWorkbook:
        return self.read_file(Path(school.source), self.skip_sheets)

    def read_many(
        self, schools: Sequence[School]
    ) -> Iterator[tuple[School, RawWorkbook | SourceError]]:
        """Every school's workbook, read in parallel by the isolated workers, in order."""
        items = [(school, Path(school.source), self.skip_sheets) for school in schools]
        for school, result in shared_pool().read_many(items):
            yield school, _source_result(result)

    @staticmethod
    def read_file(path: Path, skip_sheets: Collection[str] = ()) -> RawWorkbook:
        """Every sheet of a workbook by value; SourceError (Russian message) if it can't.

        The file is untrusted: it is checked and parsed in a worker process with hard limits
        (sync.backends.isolated), so no workbook can take the caller down.
        """
        try:
            return shared_pool().read(Path(path), skip_sheets)
        except ReadFailure as e:
            kind = TransientSourceError if e.transient else SourceError
            raise kind(str(e)) from None

    def write_back(self, school: School, paint: Paint, fingerprint: str) -> WriteResult:
        """Patch the controls and notes into the school's file, replacing it by compare-and-swap.

        A symlink's target is written (the link stays); owner, group and mode are kept; a
        read-only file or folder is not written. Nothing but our parts of the package changes.
        """
        link = Path(school.source)
        try:
            # A link's target is what gets written; a plain file is its own target (one lstat,
            # not one per folder of the path).
            plain = link.is_absolute() and not stat.S_ISLNK(os.lstat(link).st_mode)
            path = link if plain else link.resolve(strict=True)
        except FileNotFoundError:
            return WriteResult(
                WriteStatus.FAILED, message="файл школы не найден — контроль не записан"
            )
        except (OSError, RuntimeError):
            return WriteResult(WriteStatus.FAILED, message="ссылка на файл школы никуда не ведёт")
        if _is_open(link, path):
            return WriteResult(WriteStatus.LOCKED, message=LOCKED_MESSAGE)
        why = _not_writable(path)
        if why:
            return WriteResult(WriteStatus.READONLY, message=why)
        try:
            with open(path, "rb") as f:
                st = os.fstat(f.fileno())
                data = f.read()
        except OSError as e:
            return WriteResult(
                WriteStatus.FAILED, message=f"не удалось открыть для записи: {e.strerror}"
            )
        if hashlib.sha256(data).hexdigest() != fingerprint:
            return WriteResult(WriteStatus.CHANGED, message=CHANGED_MESSAGE)
        try:
            patch = patch_workbook(data, paint, NOTE_AUTHOR)
        except PatchError as e:
            return WriteResult(WriteStatus.FAILED, message=f"контроль не записан: {e}")
        remarks = "; ".join(patch.remarks)
        if patch.data == data:
            return WriteResult(
                WriteStatus.WRITTEN,
                stamp_of(path),
                fingerprint,
                remarks,
                bool(remarks),
                tuple(patch.reviews_shown),
            )
        try:
            keep_backup(data, path, self.backups_dir / school.id, self.keep_backups, self.zone)
        except OSError as e:
            return WriteResult(
                WriteStatus.FAILED,
                message=f"не удалось сохранить резервную копию ({_os_message(e)}) —"
                " контроль не записан, чтобы ничего не потерять",
            )
        # `.~old-`: once swapped, this name may hold a school's save; a killed run's is rescued.
        tmp = temp_name(path, OLD_PREFIX)
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(patch.data)
                f.flush()
                why = _keep_owner_and_mode(f.fileno(), st)
                os.fsync(f.fileno())
                ours = os.fstat(f.fileno())
            if _is_open(link, path):
                why = why or LOCKED_MESSAGE
        except OSError as e:
            tmp.unlink(missing_ok=True)
            return WriteResult(
                WriteStatus.FAILED,
                message=f"контроль не записан: {_os_message(e)}; файл школы не изменён",
            )
        if why:
            tmp.unlink(missing_ok=True)
            return WriteResult(
                WriteStatus.LOCKED if why == LOCKED_MESSAGE else WriteStatus.FAILED, message=why
            )
        try:
            # Our file's stamp, taken before the swap: a school's save right after it must not
            # pass for ours in the next run's listing.
            stamp = _stamp(ours)
            swap = swap_in(path, tmp, fingerprint)  # it removes tmp, or keeps it on an error
        except OSError as e:
            return WriteResult(
                WriteStatus.FAILED,
                message=f"контроль не записан: {_os_message(e)}; версия школы сохранена",
            )
        if not swap.replaced:
            return WriteResult(WriteStatus.CHANGED, message=SAVED_MEANWHILE_MESSAGE)
        written = hashlib.sha256(patch.data).hexdigest()
        shown = tuple(patch.reviews_shown)
        return WriteResult(WriteStatus.WRITTEN, stamp, written, remarks, bool(remarks), shown)

    def read_marks(self) -> MasterMarks:
        """The coordinator's marks in the master as saved on disk: the file, also while it is
        open in Excel (what is typed and not saved yet is read next time; the new master then
        goes beside it), and the dated copies written beside it while it was open, when saved
        after it (the coordinator may have marked there). No master yet: no marks.

        An unreadable master is left untouched: its problem is reported and the new master goes
        beside it (write_master). What was read is remembered, so that a master saved during
        the run is not replaced."""
        from sync.backends.xlsxmarks import read_master_marks

        path = self.master_path
        self._read_main = _FileState.of(path)
        self._read_done = True
        self._unreadable = ""
        self._copies_read = []
        main = MasterMarks()
        problems: list[str] = []
        ours = set(self._written())
        try:
            if self._read_main is not None and self._read_main.digest in ours:
                data = None  # unchanged since we wrote it: no mark to read
            else:
                data = path.read_bytes()
                modified = datetime.fromtimestamp(path.stat().st_mtime).astimezone()
        except FileNotFoundError:
            data = None
        except OSError as e:  # not the book's contents: nothing to write beside, say why
            raise MasterReadError(f"файл свода «{path.name}» не читается: {describe(e)}") from None
        if data is not None:
            try:
                main = read_master_marks(data, path.name, modified)
            except MasterReadError as e:
                self._unreadable = str(e)
        if self._unreadable:
            self._unreadable = self._unreadable.rstrip(".") + UNREADABLE_HINT
            problems.append(self._unreadable)
        since = self._read_main.mtime_ns if self._read_main else None  # copies saved after it
        copies: list[MasterMarks] = []
        for copy in dated_copies(path, since):
            state = _FileState.of(copy)
            if state is not None and state.digest in ours:
                self._copies_read.append((copy, state))  # ours, unchanged: nothing to read
                continue
            try:
                got = read_master_marks(
                    copy.read_bytes(),
                    copy.name,
                    datetime.fromtimestamp(copy.stat().st_mtime).astimezone(),
                )
            except (OSError, MasterReadError) as e:
                why = describe(e) if isinstance(e, OSError) else str(e)
                problems.append(f"Копия свода «{copy.name}» не прочитана: {why}.")
                continue
            copies.append(got)
            if state is not None:
                self._copies_read.append((copy, state))
        return merge_marks(main, copies, problems)

    def write_master(self, master: Master) -> str:
        from sync.builders.master_xlsx import write_master_xlsx

        target = self.master_path
        if is_open(target) or self._unreadable:
            # The coordinator has it open, or it cannot be read: leave theirs alone, write a
            # dated copy beside it.
            target = _dated_name(target)
        elif self._read_done and _digest(_FileState.of(target)) != _digest(self._read_main):
            # Saved since its marks were read: replacing it would lose the marks typed since.
            raise MasterWriteError(SAVED_DURING_RUN.format(name=target.name))
        try:
            digest = write_master_xlsx(master, target, password=self.password)
        except OSError as e:
            raise MasterWriteError(describe(e)) from e
        self._remember_written(digest)
        self._tidy_copies(target)
        return str(target)

    @property
    def _master_backups(self) -> Path:
        """<backups>/_свод: the dated copies read and moved away, the record of written masters."""
        return self.backups_dir / "_свод"

    def _written(self) -> list[str]:
        """The digests of the masters this backend wrote last, newest first (WRITTEN_MASTERS)."""
        path = self._master_backups / WRITTEN_MASTERS
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        try:
            fd = os.open(path, flags)  # never a link, never a pipe that would block the run
            with open(fd, "rb") as f:
                if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                    return []
                value = json.loads(f.read(1 << 16))
        except (OSError, ValueError, RecursionError):  # none, unreadable, damaged: read them all
            return []
        if not isinstance(value, list):
            return []
        return [v for v in value if isinstance(v, str) and len(v) == 64]

    def _remember_written(self, digest: str) -> None:
        keep = [digest, *(d for d in self._written() if d != digest)][:KEEP_WRITTEN]
        path = self._master_backups / WRITTEN_MASTERS
        with contextlib.suppress(OSError):  # not remembered: the next run reads the master
            write_atomically(path, lambda f: f.write(json.dumps(keep).encode()))

    def _tidy_copies(self, written: Path) -> None:
        """The dated copies whose marks this run read move to the backups (their marks are in
        the master just written); one still open or saved meanwhile stays."""
        read, self._copies_read = self._copies_read, []
        folder = self._master_backups
        for copy, state in read:
            if copy == written or is_open(copy) or _FileState.of(copy) != state:
                continue
            try:
                folder.mkdir(parents=True, exist_ok=True)
                os.replace(copy, folder / copy.name)
            except OSError:
                continue  # read again next run: the shown tokens keep its old lines harmless

    def create(self, school: School, spec: TemplateSpec, plan: Plan, built_at: datetime) -> bool:
        path = Path(school.source)
        if path.exists():
            return False
        # Imported here: openpyxl (with numpy) costs a run that builds no workbook ~0.3 s.
        from sync.builders.school_xlsx import build_school_workbook

        wb = build_school_workbook(spec, plan, school, built_at=built_at, password=self.password)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = temp_name(path)
        try:
            wb.save(tmp)
            os.chmod(tmp, 0o666 & ~_umask())  # the folder's usual mode: schools share it
            os.link(tmp, path)  # fails if a workbook appeared meanwhile: never overwrite one
        except FileExistsError:
            return False
        finally:
            Path(tmp).unlink(missing_ok=True)
        return True
