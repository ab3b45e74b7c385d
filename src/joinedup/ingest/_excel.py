"""Excel workbooks, read with fastexcel (calamine, a Rust reader) straight into Arrow.

Every cell is read as text, as a CSV field would be, so the contract decides what a
value means and a value that is not what it expects is quarantined rather than guessed
at. fastexcel writes a number without a fraction as an integer (``12345``, not
``12345.0``: an identifier a spreadsheet turned into a number keeps its digits, and
``zero_pad`` can restore its lost zeros) and a date or time as ``YYYY-MM-DD hh:mm:ss``,
with milliseconds when there are any. No Python object is made per cell: a million-row
sheet is one Arrow table.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import fastexcel
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from joinedup.ingest._contract import ContractError

#: A date and time with milliseconds, as fastexcel writes one whose serial number has a
#: fraction of a second (Excel keeps times as fractions of a day, so float noise too).
_MILLIS = r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}$"


def sheet_names(path: Path) -> list[str]:
    """The workbook's sheets, in order."""
    return list(_open(path).sheet_names)


def _open(path: Path) -> fastexcel.ExcelReader:
    try:
        return fastexcel.read_excel(str(path))
    except fastexcel.FastExcelError as exc:
        raise ContractError(f"{path}: cannot be read as an Excel workbook: {_first(exc)}") from exc


def _first(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _sheets(names: list[str], sheet: str | None, path: Path) -> list[str]:
    if sheet is None:
        return names[:1]
    if sheet not in names:
        raise ContractError(f"{path}: no sheet named {sheet!r}; the workbook has {names}")
    # A sheet that outgrew Excel's row limit continues in "<sheet> 2", "<sheet> 3" …
    more = [n for n in names if n.startswith(f"{sheet} ") and n[len(sheet) + 1 :].isdigit()]
    return [sheet, *sorted(more, key=lambda n: int(n[len(sheet) + 1 :]))]


def column_names(cells: list[str | None]) -> list[str]:
    """Column names from a header row (of a CSV file or a sheet): an empty one becomes
    ``column<n>`` and a repeated one gets ``_2``, ``_3`` …, so no column is lost."""
    names: list[str] = []
    for i, cell in enumerate(cells, start=1):
        base = (cell or "").strip() or f"column{i}"
        name, n = base, 1
        while name in names:
            n += 1
            name = f"{base}_{n}"
        names.append(name)
    return names


def _text(values: pa.Array) -> pa.Array:
    """A column of cells as text: an empty cell is NULL, a date and time is rounded to
    the second (half a second up)."""
    values = values.cast(pa.string())
    if len(values) == 0:
        return values
    values = pc.if_else(pc.equal(values, ""), pa.scalar(None, pa.string()), values)
    timed = pc.match_substring_regex(values, _MILLIS)
    if not pc.any(timed).as_py():
        return values
    shown = pc.filter(values, timed)
    seconds = pc.strptime(pc.utf8_slice_codeunits(shown, 0, 19), "%Y-%m-%d %H:%M:%S", "s")
    up = pc.greater_equal(pc.utf8_slice_codeunits(shown, 20, 23), "500")
    rounded = pc.if_else(up, pc.add(seconds, pa.scalar(1, pa.duration("s"))), seconds)
    return pc.replace_with_mask(values, timed, pc.strftime(rounded, "%Y-%m-%d %H:%M:%S"))


def _load(path: Path, name: str, limit: int | None) -> pa.Table:
    """One sheet as an Arrow table of text, header row included. Each call opens the
    workbook itself: a reader serves one thread at a time."""
    try:
        return (
            _open(path)
            .load_sheet(
                name, header_row=None, dtypes="string", n_rows=None if limit is None else limit + 1
            )
            .to_arrow()
        )
    except fastexcel.FastExcelError as exc:
        raise ContractError(f"{path}: sheet {name!r} cannot be read: {_first(exc)}") from exc


#: Sheets read at once. calamine reads a sheet without holding Python's lock, so a
#: workbook whose contacts run over several sheets is read on both cores of a small
#: machine (a million-row sheet takes about 6 CPU seconds).
_READERS = max(1, min(2, os.cpu_count() or 1))


def _loaded(path: Path, names: list[str], limit: int | None) -> Iterator[tuple[str, pa.Table]]:
    """Each sheet of ``names`` with its table, in order, the next ones read meanwhile."""
    with ThreadPoolExecutor(max_workers=_READERS) as pool:
        ahead: deque[tuple[str, Future[pa.Table]]] = deque()
        todo = iter(names)
        for name in todo:
            ahead.append((name, pool.submit(_load, path, name, limit)))
            if len(ahead) < _READERS:
                continue
            done, table = ahead.popleft()
            yield done, table.result()
        while ahead:
            done, table = ahead.popleft()
            yield done, table.result()


def read_excel(path: Path, sheet: str | None, limit: int | None = None) -> Iterator[pa.Table]:
    """A sheet (and its continuations) as Arrow tables of text, one a sheet, with
    ``_file`` and ``_row`` (the row's number among the data rows of all of them); with
    ``limit``, the first ``limit`` rows of each sheet only."""
    book = _open(path)
    header: list[str] | None = None
    row_no = 0
    for name, rows in _loaded(path, _sheets(list(book.sheet_names), sheet, path), limit):
        if rows.num_rows == 0:
            continue
        cells = [rows.column(i)[0].as_py() for i in range(rows.num_columns)]
        names = column_names(cells)
        # The sheets' headers must agree; a blank header cell at the end is not a column
        # unless a sheet has values under it (missing columns are empty when combined).
        while cells and not (cells[-1] or "").strip():
            cells.pop()
        if header is None:
            header = names[: len(cells)]
        elif names[: len(cells)] != header:
            raise ContractError(
                f"{path}: sheet {name!r} has columns {names[: len(cells)]}, expected {header}"
            )
        n = rows.num_rows - 1
        cols: dict[str, pa.Array] = {
            "_row": pa.array(np.arange(row_no + 1, row_no + n + 1, dtype=np.int64)),
            # One copy of the name, not one a row.
            "_file": pa.DictionaryArray.from_arrays(
                pa.array(np.zeros(n, dtype=np.int32)), pa.array([str(path)])
            ),
        }
        for i, col in enumerate(names):
            cols[col] = _text(rows.column(i).slice(1))
        yield pa.table(cols)
        row_no += n
