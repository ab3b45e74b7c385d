"""A column as its distinct values: each value normalised and encoded once, not per row.

Names, dates of birth and postcodes repeat a great deal, and even a value met once is
cheaper to handle through Arrow than through a Python loop over rows. A column is read
with Arrow's dictionary encoding into its distinct raw values and, for every row, the
index of its value; the Python work (normalising, hashing) runs over the distinct values
only, and the results are spread back onto the rows with Arrow's ``take``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from joinedup.privacy import _normalise as norm
from joinedup.privacy._errors import PrivacyError


@dataclass(frozen=True)
class Distinct:
    """A column's distinct normalised values, and which one each row holds (-1: none)."""

    values: list[Any]
    codes: np.ndarray  # int64, one per row

    def spread(self, per_value: Sequence[Any], type: pa.DataType | None = None) -> pa.Array:
        """The row-wise array of one item per distinct value (a row without a value, or
        whose item is None, is null)."""
        items = pa.array(per_value, type or pa.string())
        return pc.take(items, pa.array(self.codes, pa.int64(), mask=self.codes < 0))


def _encoded(col: pa.ChunkedArray | pa.Array) -> pa.DictionaryArray:
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    return arr.dictionary_encode()


def _codes(enc: pa.DictionaryArray) -> np.ndarray:
    return enc.indices.fill_null(-1).to_numpy().astype(np.int64)


def raw_values(col: pa.ChunkedArray | pa.Array) -> tuple[list[Any], np.ndarray]:
    """The distinct values of a column (nulls left out) and, per row, the index of its
    value (-1 for null)."""
    enc = _encoded(col)
    return enc.dictionary.to_pylist(), _codes(enc)


#: A normalising rule applied to many ASCII values at once, in Arrow.
Bulk = Callable[[pa.Array], "pa.Array | list[Any]"]


def normalised(
    col: pa.ChunkedArray, fn: Callable[[str], Any], bulk: Bulk | None = None
) -> Distinct:
    """A text column normalised by ``fn``; a value ``fn`` makes empty counts as missing.

    ``bulk``, the same rule in Arrow for ASCII text, normalises the ASCII values of a
    text column at once; the others go through ``fn`` one by one.
    """
    enc = _encoded(col)
    raw = enc.dictionary
    if bulk is None or not (pa.types.is_string(raw.type) or pa.types.is_large_string(raw.type)):
        return _regroup([fn(str(v)) or None for v in raw.to_pylist()], _codes(enc))
    ascii = pc.string_is_ascii(raw).to_numpy(zero_copy_only=False)
    fast = bulk(raw.filter(ascii))
    fast_list = fast if isinstance(fast, list) else fast.to_pylist()
    if len(fast_list) == len(raw):  # all ASCII, as most data is
        return _regroup([v or None for v in fast_list], _codes(enc))
    fast_values = iter(fast_list)
    values = [
        next(fast_values) if is_ascii else fn(v)
        for v, is_ascii in zip(raw.to_pylist(), ascii.tolist(), strict=True)
    ]
    return _regroup([v or None for v in values], _codes(enc))


def dates(col: pa.ChunkedArray, column: str) -> tuple[Distinct, str | None]:
    """A date-of-birth column as dates; text dates must share one layout, which the note
    names."""
    raw, codes = raw_values(col)
    if pa.types.is_date(col.type):
        return _regroup(raw, codes), None
    if pa.types.is_timestamp(col.type):
        return _regroup([v.date() for v in raw], codes), None
    text = [str(v).strip() or None for v in raw]
    present = sorted({v for v in text if v is not None})
    if not present:
        return _regroup(text, codes), None
    layout = norm.detect_date_layout(present)
    if layout is None:
        bad = next(v for v in present if norm.detect_date_layout([v]) is None)
        raise PrivacyError(
            f"column {column!r}: cannot read {bad!r} as a date; expected one layout for the "
            "whole column: " + ", ".join(norm.DATE_LAYOUTS)
        )
    parsed: list[date | None] = [None if v is None else norm.parse_date(v, layout) for v in text]
    return _regroup(parsed, codes), f"{column}: dates read as {layout}"


def _regroup(values: list[Any], codes: np.ndarray) -> Distinct:
    """Rows re-pointed at the distinct values of ``values`` (several raw values may
    normalise to one; None is missing)."""
    index: dict[Any, int] = {}
    remap = np.full(len(values) + 1, -1, dtype=np.int64)  # the last entry serves code -1
    for i, v in enumerate(values):
        if v is not None:
            remap[i] = index.setdefault(v, len(index))
    return Distinct(list(index), remap[codes])
