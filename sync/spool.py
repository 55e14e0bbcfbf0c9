"""Records kept in an anonymous temporary file while a run goes on, so its memory stays flat.

A run at 3000 schools makes about 80 000 lines of «Мероприятия» and as many row reports; held as
Python objects they cost some 30 KB a school. The run hands them here as it makes them and reads
them back in order (the master's writer) or one school at a time (the summaries, e-mails and
tests that ask for a school's rows after the run). The file is deleted by the operating system
when it is closed or the process ends, however it ends.
"""

from __future__ import annotations

import os
import pickle
import tempfile
import threading
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import IO, Any, overload

from sync.consolidate import Lines, LinesFills, RowFills
from sync.fileio import write_all
from sync.model import CellValue, PlanItem, RowReport

CHUNK = 256  # records pickled together: repeated texts (school names, activities) once a chunk


_PREAD: Callable[[int, int, int], bytes] | None = getattr(os, "pread", None)  # not on Windows


class SpoolError(OSError):
    """The run's temporary file could not be made, written or read (a full or missing TMPDIR)."""


def _spool_error(e: OSError) -> SpoolError:
    return SpoolError(
        f"не удалось записать или прочитать временный файл синхронизации в каталоге"
        f" {tempfile.gettempdir()}: {e.strerror or e}. Освободите место на диске или укажите"
        " другой каталог в переменной окружения TMPDIR."
    )


class SpoolFile:
    """An anonymous temporary file written at its end and read at any offset (pread, which
    leaves the write position where it is)."""

    def __init__(self) -> None:
        try:
            # A 64 KB buffer (8 KB by default): few writes to the system however many small puts.
            self._file: IO[bytes] | None = tempfile.TemporaryFile(buffering=1 << 16)  # noqa: SIM115
        except OSError as e:
            raise _spool_error(e) from None
        self._end = 0
        self._unflushed = False
        self._lock = threading.Lock()

    def put(self, data: bytes) -> tuple[int, int]:
        if self._file is None:
            raise ValueError("spool closed")
        try:
            with self._lock:  # Windows reads move the position (see get)
                at = self._end
                self._file.write(data)
                self._end += len(data)
        except OSError as e:
            raise _spool_error(e) from None
        self._unflushed = True
        return at, len(data)

    def fileno(self) -> int:
        if self._file is None:
            raise ValueError("spool closed")
        return self._file.fileno()

    def get(self, at: int, size: int) -> bytes:
        if self._file is None:
            raise ValueError("spool closed")
        try:
            if self._unflushed:
                self._file.flush()
                self._unflushed = False
            if _PREAD is not None:
                data = _PREAD(self._file.fileno(), size, at)
            else:  # Windows has no pread: seek, read, and back to the end for the next put
                with self._lock:
                    self._file.seek(at)
                    data = self._file.read(size)
                    self._file.seek(self._end)
        except OSError as e:
            raise _spool_error(e) from None
        if len(data) != size:
            raise _spool_error(OSError(0, "файл короче записанного"))
        return data

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class SpooledLines:
    """A master sheet's lines and their fills, spooled: `add` in order, read back as often as
    asked, in that order or in any order given to `parts` (read back through buckets of the
    new order, see _Reordered). `parts` gives the views a MasterSheet holds
    (sync.consolidate.LineStore)."""

    def __init__(self, *, random_access: bool = False) -> None:
        # random_access: kept for the LineStore protocol; every store can be reordered.
        self._file = SpoolFile()
        self._at = array("q")  # each chunk's offset and size in the file
        self._size = array("q")
        self._pending: list[tuple[list[CellValue], RowFills]] = []
        self._count = 0
        self.width = 0  # the longest line's number of cells
        self._derived: list[_Reordered] = []  # the same lines in another order

    def add(self, values: list[CellValue], fills: RowFills) -> None:
        self._pending.append((values, fills or None))
        self._count += 1
        if len(values) > self.width:
            self.width = len(values)
        if len(self._pending) >= CHUNK:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            at, size = self._file.put(pickle.dumps(self._pending, pickle.HIGHEST_PROTOCOL))
            self._at.append(at)
            self._size.append(size)
            self._pending = []

    def __len__(self) -> int:
        return self._count

    def records(self) -> Iterator[tuple[list[CellValue], RowFills]]:
        """Every line with its fills, in the order added."""
        self._flush()
        get = self._file.get
        for at, size in zip(self._at, self._size, strict=True):
            yield from pickle.loads(get(at, size))

    def parts(
        self, order: Sequence[int] | None = None
    ) -> tuple[Sequence[list[CellValue]], Mapping[tuple[int, int], str]]:
        if order is not None:
            reordered = _Reordered(self, order)
            self._derived.append(reordered)
            return reordered, LinesFills(reordered)
        rows = SpooledRows(self)
        return rows, LinesFills(rows)

    def close(self) -> None:
        self._pending = []
        self._file.close()
        for store in self._derived:
            store.close()


BUCKET = 2048  # lines of a reordered sheet held at once (see _Reordered)
BUCKET_FLUSH = 64  # lines a bucket gathers before they go to its file


class _Reordered(Lines):
    """Spooled lines in another order, memory bounded: one pass over the lines in the order
    added sends each to the bucket of its new place (BUCKET consecutive places a bucket);
    each pass of the writer then reads a bucket at a time and puts its lines in place."""

    def __init__(self, lines: SpooledLines, order: Sequence[int]) -> None:
        self.width = lines.width
        self._count = count = len(order)
        place = array("q", bytes(8 * len(lines)))  # line -> its new place
        for new, old in enumerate(order):
            place[old] = new
        self._file = SpoolFile()
        buckets = (count + BUCKET - 1) // BUCKET
        self._chunks: list[list[tuple[int, int]]] = [[] for _ in range(buckets)]
        pending: list[list[tuple[int, tuple[list[CellValue], RowFills]]]] = [
            [] for _ in range(buckets)
        ]
        wanted = set(order) if count < len(lines) else None
        for old, record in enumerate(lines.records()):
            if wanted is not None and old not in wanted:
                continue
            new = place[old]
            bucket = pending[new // BUCKET]
            bucket.append((new, record))
            if len(bucket) >= BUCKET_FLUSH:
                self._put(new // BUCKET, bucket)
        for b, bucket in enumerate(pending):
            self._put(b, bucket)

    def _put(self, b: int, bucket: list[tuple[int, tuple[list[CellValue], RowFills]]]) -> None:
        if bucket:
            self._chunks[b].append(self._file.put(pickle.dumps(bucket, pickle.HIGHEST_PROTOCOL)))
            bucket.clear()

    def records(self) -> Iterator[tuple[list[CellValue], RowFills]]:
        get = self._file.get
        for b, chunks in enumerate(self._chunks):
            base = b * BUCKET
            slots: list[tuple[list[CellValue], RowFills] | None] = [None] * min(
                BUCKET, self._count - base
            )
            for at, size in chunks:
                for new, record in pickle.loads(get(at, size)):
                    slots[new - base] = record
            for record in slots:
                assert record is not None  # every place of the order holds a line
                yield record

    def __len__(self) -> int:
        return self._count

    def close(self) -> None:
        self._file.close()


class SpooledRows(Lines):
    """The lines of a spooled sheet, read from the file on each pass."""

    def __init__(self, lines: SpooledLines) -> None:
        self.lines = lines

    @property
    def width(self) -> int:  # type: ignore[override]
        return self.lines.width

    def records(self) -> Iterator[tuple[list[CellValue], RowFills]]:
        """Each line with its fills by column, in the sheet's order."""
        return self.lines.records()

    def __len__(self) -> int:
        return len(self.lines)


def pack_rows(rows: Sequence[RowReport], item_index: Mapping[PlanItem, int]) -> list[Any]:
    """A school's rows as SchoolSpool keeps them: a row's plan item as its index in the run's
    plan (every school's rows point at the same items), the rest as it is."""
    packed: list[tuple[Any, ...]] = []
    for r in rows:
        item: int | PlanItem | None = None
        if r.item is not None:
            found = item_index.get(r.item)
            item = found if found is not None else r.item
        packed.append((item, r.sheet_row, r.values, r.control, r.occurrence))
    return packed


def unpack_rows(packed: Iterable[Any], items: Sequence[PlanItem]) -> list[RowReport]:
    """A school's rows back from `pack_rows`, their plan items the run's own."""
    return [
        RowReport(
            items[item] if type(item) is int else item, sheet_row, values, control, occurrence
        )
        for item, sheet_row, values, control, occurrence in packed
    ]


def item_indexes(items: Sequence[PlanItem]) -> dict[PlanItem, int]:
    """Each plan item's index, by value (an equal item of another load of the plan too)."""
    found: dict[PlanItem, int] = {}
    for i, item in enumerate(items):
        found.setdefault(item, i)
    return found


def put_record(fd: int, end: int, rows: bytes, passport: bytes) -> tuple[int, int, int, int]:
    """Append a school's pickled rows and passport to a spool file at `end` from another process
    (sync.prepare's helper, the file's only writer): their offsets and sizes."""
    write_all(fd, rows)
    write_all(fd, passport)
    return end, len(rows), end + len(rows), len(passport)


class SchoolSpool:
    """Each school's row reports and passport, pickled once the master has them, loaded on use.

    A row's plan item is stored as its index in the run's plan (every school's rows point at the
    same plan items), the rest as it is. A record can also be one the run's helper process wrote
    to a file of its own (`adopt`, `put(..., stored=...)`): the same format, not pickled again.
    """

    def __init__(self, items: Sequence[PlanItem]) -> None:
        self._file = SpoolFile()
        self._items = list(items)
        self._item_index = item_indexes(self._items)
        self._others: list[SpoolFile] = []  # files written by the helper, kept with the records

    def adopt(self, file: SpoolFile) -> None:
        """Keep a file the helper writes records to (closed with this spool)."""
        self._others.append(file)

    def put(
        self,
        rows: Sequence[RowReport],
        passport: Mapping[str, CellValue],
        stored: tuple[SpoolFile, int, int, int, int] | None = None,
    ) -> tuple[SpooledRowReports, SpooledPassport]:
        """Spool a school's rows and passport; what it returns loads them again on each use.
        `stored`: the same rows and passport, already in an adopted file (file, offsets, sizes)."""
        if stored is not None:
            file, at, size, p_at, p_size = stored
            return (
                SpooledRowReports(self, at, size, len(rows), file),
                SpooledPassport(self, p_at, p_size, file),
            )
        put, dump = self._file.put, pickle.dumps
        at, size = put(dump(pack_rows(rows, self._item_index), pickle.HIGHEST_PROTOCOL))
        p_at, p_size = put(dump(dict(passport), pickle.HIGHEST_PROTOCOL))
        return SpooledRowReports(self, at, size, len(rows)), SpooledPassport(self, p_at, p_size)

    def rows(self, at: int, size: int, file: SpoolFile | None = None) -> list[RowReport]:
        return unpack_rows(pickle.loads((file or self._file).get(at, size)), self._items)

    def passport(self, at: int, size: int, file: SpoolFile | None = None) -> dict[str, CellValue]:
        found: dict[str, CellValue] = pickle.loads((file or self._file).get(at, size))
        return found

    def close(self) -> None:
        self._file.close()
        for file in self._others:
            file.close()


class SpooledRowReports(Sequence[RowReport]):
    """A school's row reports in the spool: loaded afresh on each pass, never held."""

    def __init__(
        self, spool: SchoolSpool, at: int, size: int, count: int, file: SpoolFile | None = None
    ) -> None:
        self._spool, self._at, self._size, self._count = spool, at, size, count
        self._file = file

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[RowReport]:
        return iter(self._spool.rows(self._at, self._size, self._file))

    @overload
    def __getitem__(self, i: int) -> RowReport: ...
    @overload
    def __getitem__(self, i: slice) -> list[RowReport]: ...
    def __getitem__(self, i: int | slice) -> RowReport | list[RowReport]:
        return self._spool.rows(self._at, self._size, self._file)[i]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]


class SpooledPassport(Mapping[str, CellValue]):
    """A school's passport in the spool: loaded afresh on each use, never held."""

    def __init__(
        self, spool: SchoolSpool, at: int, size: int, file: SpoolFile | None = None
    ) -> None:
        self._spool, self._at, self._size, self._file = spool, at, size, file

    def _loaded(self) -> dict[str, CellValue]:
        return self._spool.passport(self._at, self._size, self._file)

    def __getitem__(self, key: str) -> CellValue:
        return self._loaded()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._loaded())

    def __len__(self) -> int:
        return len(self._loaded())
