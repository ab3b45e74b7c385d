"""Excel workbooks, read with calamine (a fast Rust reader) into Arrow text columns."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pyarrow as pa
from python_calamine import CalamineWorkbook

from joinedup.ingest._contract import ContractError


def _text(v: object) -> str | None:
    if v is None or v == "":
        return None
    if isinstance(v, datetime):
        # Excel stores times as fractions of a day; round away the float noise.
        v = (v + timedelta(microseconds=500_000)).replace(microsecond=0)
        return v.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(v, date):
        return datetime.combine(v, time()).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _sheets(book: CalamineWorkbook, sheet: str | None, path: Path) -> list[str]:
    names: list[str] = list(book.sheet_names)
    if sheet is None:
        return names[:1]
    if sheet not in names:
        raise ContractError(f"{path}: no sheet named {sheet!r}; the workbook has {names}")
    # A sheet that outgrew Excel's row limit continues in "<sheet> 2", "<sheet> 3" …
    more = [n for n in names if n.startswith(f"{sheet} ") and n[len(sheet) + 1 :].isdigit()]
    return [sheet, *sorted(more, key=lambda n: int(n[len(sheet) + 1 :]))]


def read_excel(path: Path, sheet: str | None, batch_rows: int = 200_000) -> Iterator[pa.Table]:
    """A sheet (and its continuations) as Arrow tables of text, with ``_file`` and ``_row``."""
    book = CalamineWorkbook.from_path(str(path))
    header: list[str] | None = None
    row_no = 0
    for name in _sheets(book, sheet, path):
        rows = book.get_sheet_by_name(name).iter_rows()
        first = next(rows, None)
        if first is None:
            continue
        this_header = [str(c) for c in first]
        if header is None:
            header = this_header
        elif this_header != header:
            raise ContractError(
                f"{path}: sheet {name!r} has columns {this_header}, expected {header}"
            )
        batch: list[Sequence[object]] = []
        for r in rows:
            batch.append(r)
            if len(batch) >= batch_rows:
                yield _to_arrow(header, batch, path, row_no)
                row_no += len(batch)
                batch = []
        if batch:
            yield _to_arrow(header, batch, path, row_no)
            row_no += len(batch)


def _to_arrow(header: list[str], rows: list[Sequence[object]], path: Path, first: int) -> pa.Table:
    cols: dict[str, list[object]] = {
        "_row": list(range(first + 1, first + len(rows) + 1)),
        "_file": [str(path)] * len(rows),
    }
    for i, name in enumerate(header):
        cols[name] = [_text(r[i]) if i < len(r) else None for r in rows]
    return pa.table(cols)
