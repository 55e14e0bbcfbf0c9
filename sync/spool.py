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
from array import array
from collections.abc import Iterator, Mapping, Sequence
from typing import IO, Any, overload

from sync.model import CellValue, Control, PlanItem, RowReport

CHUNK = 256  # records pickled together: repeated texts (school names, activities) once a chunk

RowFills = dict[int, str] | None  # a line's fills by column (0-based), None for none


class _File:
    """An anonymous temporary file written at its end and read at any offset (pread)."""

    def __init__(self) -> None:
        self._file: IO[bytes] | None = tempfile.TemporaryFile()  # noqa: SIM115  # closed in close()
        self._end = 0

    def put(self, data: bytes) -> tuple[int, int]:
        if self._file is None:
            raise ValueError("spool closed")
        at = self._end
        self._file.seek(at)
        self._file.write(data)
        self._end += len(data)
        return at, len(data)

    def get(self, at: int, size: int) -> bytes:
        if self._file is None:
            raise ValueError("spool closed")
        self._file.flush()
        return os.pread(self._file.fileno(), size, at)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class SpooledLines:
    """A master sheet's lines and their fills, spooled: `add` in order, read back as often as
    asked, in that order or (`random_access`: each line stored on its own) in any order given.
    `parts` gives the views a MasterSheet holds (sync.consolidate.LineStore)."""

    def __init__(self, *, random_access: bool = False) -> None:
        self._file = _File()
        self._chunk = 1 if random_access else CHUNK
        self._at = array("q")  # each chunk's offset and size in the file
        self._size = array("q")
        self._pending: list[tuple[list[CellValue], RowFills]] = []
        self._count = 0
        self.width = 0  # the longest line's number of cells

    def add(self, values: list[CellValue], fills: RowFills) -> None:
        self._pending.append((values, fills or None))
        self._count += 1
        if len(values) > self.width:
            self.width = len(values)
        if len(self._pending) >= self._chunk:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            at, size = self._file.put(pickle.dumps(self._pending, pickle.HIGHEST_PROTOCOL))
            self._at.append(at)
            self._size.append(size)
            self._pending = []

    def __len__(self) -> int:
        return self._count

    def records(
        self, order: Sequence[int] | None = None
    ) -> Iterator[tuple[list[CellValue], RowFills]]:
        """Every line with its fills, in the order added or in `order` (indexes of lines)."""
        self._flush()
        get = self._file.get
        if order is None:
            for at, size in zip(self._at, self._size, strict=True):
                yield from pickle.loads(get(at, size))
            return
        if self._chunk != 1:
            raise ValueError("lines spooled in chunks are read in order")
        for i in order:
            yield pickle.loads(get(self._at[i], self._size[i]))[0]

    def parts(
        self, order: Sequence[int] | None = None
    ) -> tuple[Sequence[list[CellValue]], Mapping[tuple[int, int], str]]:
        return SpooledRows(self, order), SpooledFills(self, order)

    def close(self) -> None:
        self._pending = []
        self._file.close()


class SpooledRows(Sequence[list[CellValue]]):
    """The lines of a spooled sheet, read from the file on each pass (random access reads
    every line up to the one asked for: the writers go in order)."""

    def __init__(self, lines: SpooledLines, order: Sequence[int] | None = None) -> None:
        self.lines, self.order = lines, order

    def records(self) -> Iterator[tuple[list[CellValue], RowFills]]:
        """Each line with its fills by column, in the sheet's order."""
        return self.lines.records(self.order)

    def __len__(self) -> int:
        return len(self.lines)

    def __iter__(self) -> Iterator[list[CellValue]]:
        for values, _ in self.records():
            yield values

    @overload
    def __getitem__(self, i: int) -> list[CellValue]: ...
    @overload
    def __getitem__(self, i: slice) -> list[list[CellValue]]: ...
    def __getitem__(self, i: int | slice) -> list[CellValue] | list[list[CellValue]]:
        return list(self)[i]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]


class SpooledFills(Mapping[tuple[int, int], str]):
    """The fills of a spooled sheet by (line, column), gathered when first asked for (the
    xlsx writer reads them line by line from `SpooledRows.records` instead)."""

    def __init__(self, lines: SpooledLines, order: Sequence[int] | None = None) -> None:
        self.lines, self.order = lines, order
        self._all: dict[tuple[int, int], str] | None = None

    def _gathered(self) -> dict[tuple[int, int], str]:
        if self._all is None:
            self._all = {
                (r, c): rgb
                for r, (_, fills) in enumerate(self.lines.records(self.order))
                if fills
                for c, rgb in fills.items()
            }
        return self._all

    def __getitem__(self, key: tuple[int, int]) -> str:
        return self._gathered()[key]

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return iter(self._gathered())

    def __len__(self) -> int:
        return len(self._gathered())

    def __bool__(self) -> bool:
        return any(fills for _, fills in self.lines.records(self.order))


class RowSpool:
    """Each school's row reports, pickled once the master has them, loaded on request.

    A row's plan item and control are stored as their index in the run's tables (every school's
    rows point at the same plan items and a handful of controls), its values as they are.
    """

    def __init__(self, items: Sequence[PlanItem]) -> None:
        self._file = _File()
        self._items = list(items)
        self._item_index = {id(item): i for i, item in enumerate(self._items)}
        self._controls: list[Control] = []
        self._control_index: dict[Control, int] = {}

    def put(self, rows: Sequence[RowReport]) -> SpooledRowReports:
        """Spool a school's rows; the returned sequence loads them again on each use."""
        packed: list[tuple[Any, ...]] = []
        for r in rows:
            item: int | PlanItem | None = None
            if r.item is not None:
                found = self._item_index.get(id(r.item))
                item = found if found is not None else r.item
            control = self._control_index.get(r.control)
            if control is None:
                control = self._control_index[r.control] = len(self._controls)
                self._controls.append(r.control)
            packed.append((item, r.sheet_row, r.values, control, r.occurrence))
        ref = self._file.put(pickle.dumps(packed, pickle.HIGHEST_PROTOCOL))
        return SpooledRowReports(self, ref, len(packed))

    def load(self, ref: tuple[int, int]) -> list[RowReport]:
        items, controls = self._items, self._controls
        return [
            RowReport(
                items[item] if type(item) is int else item,
                sheet_row,
                values,
                controls[control],
                occurrence,
            )
            for item, sheet_row, values, control, occurrence in pickle.loads(self._file.get(*ref))
        ]

    def close(self) -> None:
        self._file.close()


class SpooledRowReports(Sequence[RowReport]):
    """A school's row reports in the spool: loaded afresh on each pass, never held."""

    def __init__(self, spool: RowSpool, ref: tuple[int, int], count: int) -> None:
        self._spool, self._ref, self._count = spool, ref, count

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[RowReport]:
        return iter(self._spool.load(self._ref))

    @overload
    def __getitem__(self, i: int) -> RowReport: ...
    @overload
    def __getitem__(self, i: slice) -> list[RowReport]: ...
    def __getitem__(self, i: int | slice) -> RowReport | list[RowReport]:
        return self._spool.load(self._ref)[i]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]
