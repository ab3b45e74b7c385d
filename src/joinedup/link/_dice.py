"""The Dice coefficient of Bloom filters, compiled: the similarity kernel of privacy mode.

``dice(a, b) = 2 · popcount(a & b) / (popcount(a) + popcount(b))``, the same definition
the Splink comparison levels write in SQL (``_model._dice``), over the same 64-bit words,
with the same IEEE division, so the values are equal bit for bit (tests/link/test_dice.py
checks them against DuckDB). Numba compiles it to the machine's POPCNT instruction and
runs it on every core (``prange``), with the interpreter lock released.

It serves work on many pairs at once outside a SQL engine: candidate pairs given as index
arrays, all pairs of two blocks, and the benchmark against the machine's popcount limit.
Splink's comparison levels keep the SQL form, on DuckDB and on Spark alike, because:

- a level's condition is SQL over the two records' columns, evaluated where Splink joins
  the candidate pairs; the only way in for compiled code is a user function of the
  engine. As a DuckDB vectorised (Arrow) function taking the 18 columns it ran at 2.3 to
  2.7 million Dice a second against 4.7 million for the SQL form, on 2 million pairs
  (2 threads, 2026-11-29): DuckDB hands a Python function 2,048 rows at a time and
  holds the interpreter lock while the columns cross over, which costs more than the
  popcounts. DuckDB also computes a Dice that a ladder repeats only once.
- a function registered on one connection exists nowhere else: Spark has no such
  function, and the saved model (``linkage_model.json``) would name a function that a
  reader of the model cannot run.

A missing filter (pop -1 here, NULL in the file) gives NaN, as NULL fails every level.
Two empty filters (0 / 0, which pseudonymise never writes: every value has q-grams) give
NaN, as in DuckDB; note that DuckDB orders NaN above every number, so ``NaN >= t`` is
true there and false here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numba as nb
import numpy as np
import pyarrow as pa
from numba.core import types
from numba.extending import intrinsic

from joinedup._numba import use_cache_beside
from joinedup.link._errors import LinkageError

use_cache_beside(__file__)


def _ctpop(typingctx: Any, x: Any) -> Any:
    """One ``ctpop`` of a 64-bit word: LLVM lowers it to POPCNT (or a vector form)."""

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        return builder.ctpop(args[0])

    return types.uint64(types.uint64), codegen


# Called as _popcount(word) inside compiled code; typed Any because the intrinsic's own
# signature includes the typing context, which the compiler supplies.
_popcount: Any = intrinsic(_ctpop)


@dataclass(frozen=True)
class Filters:
    """One field's Bloom filters for a set of records, laid out for the kernel.

    ``words`` is (records, words per filter) unsigned 64-bit, one record's filter in one
    contiguous run (64 bytes, one cache line, for 512 bits); ``pops`` is each filter's
    popcount, -1 where the value is missing.
    """

    words: np.ndarray
    pops: np.ndarray

    def __len__(self) -> int:
        return int(self.pops.shape[0])

    @classmethod
    def from_words(cls, words: np.ndarray, missing: np.ndarray | None = None) -> Filters:
        """Filters from a (records, words) integer array; popcounts are computed."""
        w = np.ascontiguousarray(words).view(np.uint64)
        if w.ndim != 2:
            raise LinkageError(f"Bloom filters must be a 2-D array of words, got {w.ndim}-D")
        pops = np.bitwise_count(w).sum(axis=1, dtype=np.int32)
        if missing is not None:
            pops[missing] = -1
        return cls(w, pops)

    @classmethod
    def from_table(cls, table: pa.Table, name: str) -> Filters:
        """The filters of field ``name`` in an encoded table (``name__bf0`` … ``name__pop``)."""
        cols = sorted(
            (c for c in table.column_names if c.startswith(f"{name}__bf")),
            key=lambda c: int(c.rsplit("bf", 1)[1]),
        )
        if not cols or f"{name}__pop" not in table.column_names:
            raise LinkageError(
                f"no Bloom filters for field {name!r}: expected columns {name}__bf0 … and "
                f"{name}__pop (is this an encoded file made with a secret?)"
            )
        n = table.num_rows
        words = np.empty((n, len(cols)), dtype=np.int64)
        for k, c in enumerate(cols):
            words[:, k] = table.column(c).fill_null(0).to_numpy()
        pop = table.column(f"{name}__pop")
        pops = pop.fill_null(-1).to_numpy().astype(np.int32)
        return cls(words.view(np.uint64), pops)


# The popcount of the AND is summed over a filter's words in one register; the division
# is the same IEEE division SQL does (2.0 * common / total).

#: Words of the standard 512-bit filter. With the count known when compiling, LLVM
#: unrolls the word loop and keeps the pair in registers: about 1.5 times the pairs per
#: second of the loop over a count read at run time, which serves other filter sizes.
_STANDARD_WORDS = 8


@nb.njit(nogil=True, inline="always", error_model="numpy")
def _common(a: np.ndarray, x: int, b: np.ndarray, y: int) -> Any:
    c = np.uint64(0)
    if a.shape[1] == _STANDARD_WORDS:
        for w in range(_STANDARD_WORDS):
            c += _popcount(a[x, w] & b[y, w])
    else:
        for w in range(a.shape[1]):
            c += _popcount(a[x, w] & b[y, w])
    return c


@nb.njit(nogil=True, inline="always", error_model="numpy")
def _one(a: np.ndarray, pa_: np.ndarray, x: int, b: np.ndarray, pb: np.ndarray, y: int) -> float:
    # Computed before the test, not behind a branch, so the loop stays free of jumps;
    # hence error_model="numpy": a zero total gives NaN here rather than an exception.
    px, py = pa_[x], pb[y]
    d = 2.0 * np.float64(_common(a, x, b, y)) / np.float64(px + py)
    return d if px >= 0 and py >= 0 and px + py > 0 else np.nan


@nb.njit(parallel=True, nogil=True, cache=True, error_model="numpy")
def _pairs(
    a: np.ndarray, pa_: np.ndarray, b: np.ndarray, pb: np.ndarray, i: np.ndarray, j: np.ndarray
) -> np.ndarray:
    out = np.empty(i.shape[0], dtype=np.float64)
    for k in nb.prange(i.shape[0]):
        out[k] = _one(a, pa_, i[k], b, pb, j[k])
    return out


_TILE = 4096  # rows of b per tile: 4,096 × 64 bytes stays in L2 beside a's rows


@nb.njit(parallel=True, nogil=True, cache=True, error_model="numpy")
def _block(a: np.ndarray, pa_: np.ndarray, b: np.ndarray, pb: np.ndarray) -> np.ndarray:
    out = np.empty((a.shape[0], b.shape[0]), dtype=np.float64)
    for t in range(0, b.shape[0], _TILE):
        end = min(t + _TILE, b.shape[0])
        for x in nb.prange(a.shape[0]):
            for y in range(t, end):
                out[x, y] = _one(a, pa_, x, b, pb, y)
    return out


@nb.njit(parallel=True, nogil=True, cache=True, error_model="numpy")
def _count_block(
    a: np.ndarray, pa_: np.ndarray, b: np.ndarray, pb: np.ndarray, least: np.ndarray
) -> int:
    # ``least[s]``: the fewest common bits for which a pair of total popcount s reaches
    # the threshold (see _least_common), so no pair needs a division.
    total = 0
    for t in range(0, b.shape[0], _TILE):
        end = min(t + _TILE, b.shape[0])
        for x in nb.prange(a.shape[0]):
            n = 0
            px = pa_[x]
            for y in range(t, end):
                py = pb[y]
                ok = px >= 0 and py >= 0
                need = least[px + py] if ok else least[0]
                n += ok and np.int64(_common(a, x, b, y)) >= need
            total += n
    return total


def _least_common(bits: int, threshold: float) -> np.ndarray:
    """For each total popcount s of a pair (0 … 2·bits), the fewest common bits c with
    ``2.0 * c / s >= threshold`` under the very division the SQL does (so the count is
    exact, not a rearranged inequality with its own rounding); beyond any c if none."""
    c = np.arange(bits + 1, dtype=np.float64)
    least = np.full(2 * bits + 1, bits + 1, dtype=np.int64)
    for total in range(1, 2 * bits + 1):
        reach = np.flatnonzero(2.0 * c / np.float64(total) >= threshold)
        if reach.size:
            least[total] = reach[0]
    return least  # least[0] stays out of reach: 0 / 0 is NaN, which reaches nothing


@nb.njit(parallel=True, nogil=True, cache=True, error_model="numpy")
def _and_popcount_block(a: np.ndarray, b: np.ndarray) -> Any:
    # The machine's limit for this work: the AND and popcount of every pair's words, in
    # the same order, with no popcount lookup, missing-value test or division.
    total = np.uint64(0)
    for t in range(0, b.shape[0], _TILE):
        end = min(t + _TILE, b.shape[0])
        for x in nb.prange(a.shape[0]):
            c = np.uint64(0)
            for y in range(t, end):
                c += _common(a, x, b, y)
            total += c
    return total


def _check(a: Filters, b: Filters) -> None:
    if a.words.shape[1] != b.words.shape[1]:
        raise LinkageError(
            f"Bloom filters of different lengths ({64 * a.words.shape[1]} and "
            f"{64 * b.words.shape[1]} bits) cannot be compared: encode both with the same "
            "linkage schema settings"
        )


def dice_pairs(a: Filters, b: Filters, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Dice of the candidate pairs ``(a[i[k]], b[j[k]])``, as float64 (NaN if missing)."""
    _check(a, b)
    ii, jj = np.asarray(i, dtype=np.int64), np.asarray(j, dtype=np.int64)
    if ii.shape != jj.shape or ii.ndim != 1:
        raise LinkageError("pair index arrays must be one-dimensional and of equal length")
    if ii.size and (ii.min() < 0 or ii.max() >= len(a) or jj.min() < 0 or jj.max() >= len(b)):
        raise LinkageError(
            f"pair indices out of range: {len(a)} and {len(b)} records, indices up to "
            f"{int(ii.max())} and {int(jj.max())}"
        )
    return _pairs(a.words, a.pops, b.words, b.pops, ii, jj)


def dice_block(a: Filters, b: Filters) -> np.ndarray:
    """Dice of every pair of ``a`` × ``b``, as a (len(a), len(b)) float64 matrix."""
    _check(a, b)
    return _block(a.words, a.pops, b.words, b.pops)


def count_at_least(a: Filters, b: Filters, threshold: float) -> int:
    """How many pairs of ``a`` × ``b`` have Dice >= ``threshold`` (nothing materialised)."""
    _check(a, b)
    least = _least_common(64 * a.words.shape[1], float(threshold))
    return int(_count_block(a.words, a.pops, b.words, b.pops, least))


def and_popcount(a: Filters, b: Filters) -> int:
    """The AND-and-popcount of every pair of ``a`` × ``b``, summed: the popcount work a
    Dice kernel cannot avoid, so its pairs per second bound any kernel on this machine."""
    _check(a, b)
    return int(_and_popcount_block(a.words, b.words))
