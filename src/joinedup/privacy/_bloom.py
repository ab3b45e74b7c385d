"""Bloom filters of many values at once, with NumPy.

A filter is the OR of the bit masks of its value's q-grams. A field has few distinct
q-grams (at most a few thousand character bigrams), so each q-gram's mask is computed
once, as a row of 64-bit words, and a value's filter is the OR of the rows of its
q-grams (``np.bitwise_or.reduceat``). The bigrams of plain ASCII text are read straight
from Arrow's string buffer, without a Python string per q-gram; other text, and dates,
take their q-gram sets value by value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

#: Values handled at a time: bounds the q-gram rows held at once (about 40 a value).
CHUNK = 50_000
#: Text whose bigrams can be read from its bytes: printable ASCII words parted by one
#: space, as normalisation leaves names, addresses and postcodes.
_PLAIN_WORDS = r"^[!-~]+( [!-~]+)*$"
_SPACE = ord(" ")


def filters(
    mask: Callable[[str], int],
    bits: int,
    texts: list[str] | None = None,
    grams: Callable[[int], Iterable[str]] | None = None,
    count: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """The filters (``uint64`` words, one row a value) and their popcounts (``int32``).

    Either ``texts``, whose q-grams are the padded bigrams of each word, or ``grams``
    giving the q-grams of value ``i`` of ``count``. ``mask`` gives the bits of one q-gram
    as an integer of ``bits`` bits.
    """
    table = _MaskTable(mask, bits)
    n = len(texts) if texts is not None else count
    parts = []
    for lo in range(0, n, CHUNK):
        hi = min(n, lo + CHUNK)
        if texts is not None:
            arr = pa.array(texts[lo:hi], pa.string())
            if pc.all(pc.match_substring_regex(arr, _PLAIN_WORDS)).as_py():
                ids, rows = table.ids_of_codes(*_bigram_codes(arr))
            else:
                ids, rows = table.ids_of_sets(bigrams(t.split()) for t in texts[lo:hi])
        else:
            assert grams is not None
            ids, rows = table.ids_of_sets(grams(i) for i in range(lo, hi))
        parts.append(table.union(ids, rows, hi - lo))
    words = np.concatenate(parts) if parts else np.zeros((0, bits // 64), np.uint64)
    pops = np.bitwise_count(words).sum(axis=1, dtype=np.int32)
    return words, pops


def bigrams(words: Sequence[str]) -> set[str]:
    """Padded character bigrams of each word (``_j``, ``jo`` … ``n_``), as one set."""
    grams: set[str] = set()
    for w in words:
        padded = f"_{w}_"
        grams.update(padded[i : i + 2] for i in range(len(padded) - 1))
    return grams


def _bigram_codes(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Every padded bigram of every word (``_j``, ``jo`` … ``n_``) as ``256 * first +
    second`` byte, and the value it comes from."""
    padded = pc.binary_join_element_wise("_", pc.replace_substring(arr, " ", "_ _"), "_", "")
    padded = padded.combine_chunks() if isinstance(padded, pa.ChunkedArray) else padded
    ends = np.frombuffer(padded.buffers()[1], np.int32)[padded.offset :][: len(padded) + 1]
    data = np.frombuffer(padded.buffers()[2], np.uint8)[ends[0] : ends[-1]]
    row = np.repeat(np.arange(len(padded), dtype=np.int64), np.diff(ends))
    first, second = data[:-1], data[1:]
    # A bigram lies within one word: same value, and no space on either side.
    keep = (row[:-1] == row[1:]) & (first != _SPACE) & (second != _SPACE)
    codes = (first.astype(np.int32) << 8) | second
    return codes[keep], row[:-1][keep]


class _MaskTable:
    """The masks of the q-grams met so far, as rows of 64-bit words."""

    def __init__(self, mask: Callable[[str], int], bits: int) -> None:
        self._mask, self._bytes = mask, bits // 8
        self._index: dict[str, int] = {}
        self._rows: list[np.ndarray] = []
        self._codes: dict[int, int] = {}

    def _id(self, gram: str) -> int:
        i = self._index.get(gram)
        if i is None:
            i = self._index[gram] = len(self._rows)
            m = self._mask(gram).to_bytes(self._bytes, "little")
            self._rows.append(np.frombuffer(m, dtype="<u8").astype(np.uint64))
        return i

    def ids_of_codes(self, codes: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # Bigram codes are below 2**16: a lookup table numbers them without a sort.
        present = np.zeros(1 << 16, dtype=bool)
        present[codes] = True
        found = np.flatnonzero(present)
        lookup = np.zeros(1 << 16, dtype=np.int64)
        lookup[found] = [self._id(chr(c >> 8) + chr(c & 255)) for c in found.tolist()]
        return lookup[codes], rows

    def ids_of_sets(self, sets: Iterable[Iterable[str]]) -> tuple[np.ndarray, np.ndarray]:
        ids: list[int] = []
        rows: list[int] = []
        for r, grams in enumerate(sets):
            for g in grams:
                ids.append(self._id(g))
                rows.append(r)
        return np.array(ids, np.int64), np.array(rows, np.int64)

    def union(self, ids: np.ndarray, rows: np.ndarray, n: int) -> np.ndarray:
        """Each value's filter: the OR of its q-grams' rows (``rows`` in value order)."""
        starts = np.flatnonzero(np.diff(rows, prepend=-1))
        if len(starts) != n:
            raise ValueError("every value needs at least one q-gram")
        table = np.stack(self._rows)
        out = np.empty((n, table.shape[1]), dtype=np.uint64)
        # Word by word: gathering one word per q-gram is ten times faster than gathering
        # whole rows and reducing them along an axis.
        for w in range(table.shape[1]):
            out[:, w] = np.bitwise_or.reduceat(table[:, w][ids], starts)
        return out
