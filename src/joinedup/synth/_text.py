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
    digits = pc.utf8_lpad(pa.array(numbers, pa.int64()).cast(pa.string()), width, "0")
    return pc.binary_join_element_wise(prefix, digits, "") if prefix else digits


# Arrow's strftime costs about 2 us a value; casting to ISO 8601 text and moving the
# pieces costs a quarter of that.


def iso(col: Column) -> Column:
    """Dates as ``YYYY-MM-DD``; timestamps as ``YYYY-MM-DDTHH:MM:SS`` (``Z`` after it
    where the type is UTC), to the second."""
    if pa.types.is_timestamp(col.type):
        seconds = pc.cast(col, pa.timestamp("s", col.type.tz))
        return pc.utf8_replace_slice(pc.cast(seconds, pa.string()), 10, 11, "T")
    return pc.cast(col, pa.string())


def day_first(col: Column) -> Column:
    """Dates as ``DD/MM/YYYY``; timestamps as ``DD/MM/YYYY HH:MM``."""
    text = iso(col)

    def part(start: int, stop: int) -> Column:
        return pc.utf8_slice_codeunits(text, start, stop)

    parts = [part(8, 10), "/", part(5, 7), "/", part(0, 4)]
    if pa.types.is_timestamp(col.type):
        parts += [" ", part(11, 16)]
    return pc.binary_join_element_wise(*parts, "")
