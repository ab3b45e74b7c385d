"""Text files built a column at a time with Arrow's compute functions.

The synthetic exports run to tens of millions of rows; formatting them row by row in
Python cost more than simulating them. Here each field is escaped or quoted for a whole
batch at once, the fields are joined into lines, and the lines' bytes go to the file in
one write. The rules are those of Python's ``csv`` module (minimal quoting) and of
``json.dumps(..., ensure_ascii=False)``, so the files read the same as before.
"""

from __future__ import annotations

import json
from typing import TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

Column: TypeAlias = pa.Array | pa.ChunkedArray
#: What ``lines`` joins: columns of text (no nulls) and literal text between them.
Part: TypeAlias = Column | str

# JSON strings must escape the quote, the backslash and control characters.
_CONTROL = r"[\x00-\x1f]"


def lines(parts: list[Part], end: str) -> pa.Buffer | bytes:
    """The UTF-8 bytes of every row's parts joined, each row ending with ``end``."""
    columns = [p for p in parts if not isinstance(p, str)]
    if not columns or len(columns[0]) == 0:
        return b""
    merged: list[Part] = []  # neighbouring literal texts as one: fewer arguments to join
    for p in [*parts, end]:
        if isinstance(p, str) and merged and isinstance(merged[-1], str):
            merged[-1] += p
        else:
            merged.append(p)
    joined = pc.binary_join_element_wise(*merged, "")
    if isinstance(joined, pa.ChunkedArray):
        joined = joined.combine_chunks()
    return _data(joined)


def _data(arr: pa.Array) -> pa.Buffer:
    """The character data of a string array without nulls, as one buffer."""
    if arr.null_count:
        raise ValueError("text lines cannot be null")
    width = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    offsets = np.frombuffer(
        arr.buffers()[1], dtype=width, count=len(arr) + 1, offset=arr.offset * width().itemsize
    )
    first, last = int(offsets[0]), int(offsets[-1])
    return arr.buffers()[2].slice(first, last - first)


def csv_field(col: Column, plain: bool = False) -> Column:
    """A text column as a CSV field: null as empty, quoted where a comma, quote or line
    break needs it, with quotes doubled (``csv.QUOTE_MINIMAL``). ``plain`` says the
    values cannot hold any of those (references, codes, dates), saving the search."""
    text = pc.fill_null(pc.cast(col, pa.string()), "")
    if plain:
        return text
    needs = pc.match_substring_regex(text, '[,"\r\n]')
    if not pc.any(needs).as_py():
        return text
    quoted = pc.binary_join_element_wise('"', pc.replace_substring(text, '"', '""'), '"', "")
    return pc.if_else(needs, quoted, text)


def json_value(col: Column, plain: bool = False) -> Column:
    """A text column as JSON values: strings quoted and escaped, null as ``null``.
    ``plain`` says the values hold no quote, backslash or control character."""
    text = pc.cast(col, pa.string())
    if plain:
        return pc.fill_null(pc.binary_join_element_wise('"', text, '"', ""), "null")
    escaped = pc.replace_substring(pc.replace_substring(text, "\\", "\\\\"), '"', '\\"')
    if pc.any(pc.match_substring_regex(escaped, _CONTROL)).as_py():
        # Rare enough (notes and names hold none) to leave to the json module.
        quoted = pa.array(
            [None if v is None else json.dumps(v, ensure_ascii=False) for v in text.to_pylist()],
            pa.string(),
        )
    else:
        quoted = pc.binary_join_element_wise('"', escaped, '"', "")
    return pc.fill_null(quoted, "null")


def mapped(col: Column, codes: dict[str, str]) -> Column:
    """Each value replaced by its code; a value without one is an error, not a null."""
    keys = pa.array(list(codes), pa.string())
    index = pc.index_in(col, value_set=keys)
    if index.null_count > col.null_count:
        unknown = pc.filter(col, pc.and_(pc.is_null(index), pc.is_valid(col)))
        raise ValueError(f"no code for {unknown[0].as_py()!r}: expected one of {list(codes)}")
    return pa.array(list(codes.values()), pa.string()).take(index)


def numbered(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """``f"{prefix}{n:0{width}d}"`` for every number."""
    if len(numbers) and numbers.min() >= 0 and numbers.max() < 10**width:
        return _fixed(len(numbers), [prefix, (numbers, width)])
    # Wider than ``width`` or negative: not fixed width (never, for the references).
    digits = pc.utf8_lpad(pa.array(numbers, pa.int64()).cast(pa.string()), width, "0")
    return pc.binary_join_element_wise(prefix, digits, "") if prefix else digits


# Dates and times are fixed width, so their text is written digit by digit into one byte
# array with NumPy: about a tenth of the cost of Arrow's casts to text and slicing (and
# Arrow's strftime costs four times those).

#: What ``_fixed`` lays out: literal ASCII text, or numbers and how many digits each takes.
Piece: TypeAlias = str | tuple[np.ndarray, int]


def _fixed(n: int, pieces: list[Piece], valid: Column | None = None) -> pa.Array:
    """Text of one width for ``n`` rows, laid out as ``pieces`` (numbers zero-padded, and
    in range: the caller checks); null where ``valid`` (a column) is null."""
    width = sum(len(p) if isinstance(p, str) else p[1] for p in pieces)
    out = np.empty((n, width), np.uint8)
    at = 0
    for p in pieces:
        if isinstance(p, str):
            out[:, at : at + len(p)] = np.frombuffer(p.encode("ascii"), np.uint8)
            at += len(p)
            continue
        values, digits = p
        for i in range(at + digits - 1, at - 1, -1):
            values, d = np.divmod(values, 10)
            out[:, i] = d + 48  # "0" is 48
        at += digits
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    text = pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(out))
    if valid is None or valid.null_count == 0:
        return text
    return pc.if_else(pc.is_valid(valid), text, pa.scalar(None, pa.string()))


def _civil(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Year, month and day of days since 1970-01-01 in the proleptic Gregorian calendar
    (H. Hinnant, "chrono-Compatible Low-Level Date Algorithms", civil_from_days)."""
    z = days + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = np.where(mp < 10, mp + 3, mp - 9)
    return yoe + era * 400 + (month <= 2), month, day


def _fields(col: Column) -> tuple[list[np.ndarray], Column] | None:
    """Year, month, day (and hour, minute, second for timestamps) of a date or timestamp
    column, with the column itself for its nulls; None for what is left to Arrow: years
    outside 0-9999, times below the second or in a zone other than UTC."""
    if pa.types.is_timestamp(col.type) and col.type.tz in (None, "UTC"):
        per = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}[col.type.unit]
        ticks = pc.fill_null(pc.cast(col, pa.int64()), 0).to_numpy()
        seconds, below = np.divmod(ticks, per)
        if below.any():
            return None
        days, second = np.divmod(seconds, 86_400)
        clock = [second // 3600, second // 60 % 60, second % 60]
    elif pa.types.is_date32(col.type):
        days = pc.fill_null(pc.cast(col, pa.int32()), 0).to_numpy().astype(np.int64)
        clock = []
    else:
        return None
    year, month, day = _civil(days)
    if len(year) and (year.min() < 0 or year.max() > 9999):
        return None
    return [year, month, day, *clock], col


def iso(col: Column) -> Column:
    """Dates as ``YYYY-MM-DD``; timestamps as ``YYYY-MM-DDTHH:MM:SS`` (``Z`` after it
    where the type is UTC), to the second."""
    got = _fields(col)
    if got is None:
        return _iso_arrow(col)
    f, valid = got
    pieces: list[Piece] = [(f[0], 4), "-", (f[1], 2), "-", (f[2], 2)]
    if len(f) > 3:
        pieces += ["T", (f[3], 2), ":", (f[4], 2), ":", (f[5], 2)]
        if col.type.tz is not None:
            pieces.append("Z")
    return _fixed(len(col), pieces, valid)


def _iso_arrow(col: Column) -> Column:
    if pa.types.is_timestamp(col.type):
        seconds = pc.cast(col, pa.timestamp("s", col.type.tz))
        return pc.utf8_replace_slice(pc.cast(seconds, pa.string()), 10, 11, "T")
    return pc.cast(col, pa.string())


def day_first(col: Column) -> Column:
    """Dates as ``DD/MM/YYYY``; timestamps as ``DD/MM/YYYY HH:MM``."""
    got = _fields(col)
    if got is not None:
        f, valid = got
        pieces: list[Piece] = [(f[2], 2), "/", (f[1], 2), "/", (f[0], 4)]
        if len(f) > 3:
            pieces += [" ", (f[3], 2), ":", (f[4], 2)]
        return _fixed(len(col), pieces, valid)
    text = _iso_arrow(col)

    def part(start: int, stop: int) -> Column:
        return pc.utf8_slice_codeunits(text, start, stop)

    parts = [part(8, 10), "/", part(5, 7), "/", part(0, 4)]
    if pa.types.is_timestamp(col.type):
        parts += [" ", part(11, 16)]
    return pc.binary_join_element_wise(*parts, "")
