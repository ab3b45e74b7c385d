"""The process map of a log held in memory, from one sort of its events.

Once the events are sorted by case, time and tie-break, each event's successor is the
next row: the directly-follows pairs are two shifted views of the activity codes, their
counts one ``bincount``, their durations one sort by (pair, gap). Variants are a hash of
each case's code sequence, checked event by event against one case of each group, so two
different sequences are never merged. Every figure is computed on whole microseconds
(exact integers) and equals what the SQL in ``_dfg.py`` computes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]
U64 = npt.NDArray[np.uint64]


@dataclass
class Ordered:
    """A log's events sorted by case, time and tie-break: activity codes and times, where
    each case starts, and the activity names the codes stand for."""

    codes: I32
    us: I64
    first: I64  # index of each case's first event
    names: pa.Array

    @property
    def lengths(self) -> I64:
        return np.diff(np.append(self.first, len(self.codes)))


def order(table: pa.Table) -> Ordered | None:
    """Sort a log ``(case_id, activity, us, ord)``; None if a column has a missing value
    (the SQL path decides what those mean)."""
    if any(table.column(c).null_count for c in table.column_names):
        return None
    case = _codes(table.column("case_id"))[0]
    codes, names = _codes(table.column("activity"))
    names = names.cast(pa.string())
    if len(case) == 0:
        return Ordered(codes, np.empty(0, np.int64), np.empty(0, np.int64), names)
    packed = _packed(case, table.column("us"), table.column("ord"))
    if packed is not None:
        perm, case_of, us = packed
    else:
        us, tie = _int64(table.column("us")), _int64(table.column("ord"))
        perm = np.lexsort((tie, us, case))
        case_of, us = case[perm].astype(np.int64), us[perm]
    codes = codes[perm]
    first = np.concatenate(([0], np.flatnonzero(case_of[1:] != case_of[:-1]) + 1))
    return Ordered(codes=codes, us=us, first=first.astype(np.int64), names=names)


def _codes(column: pa.ChunkedArray) -> tuple[I32, pa.Array]:
    """Dense integer codes for a column's values, and the values they stand for."""
    encoded = pc.dictionary_encode(column.combine_chunks())
    indices = encoded.indices.to_numpy(zero_copy_only=False)
    return indices.astype(np.int32, copy=False), encoded.dictionary


def _int64(column: pa.ChunkedArray) -> I64:
    return np.asarray(column.combine_chunks().to_numpy(zero_copy_only=False), dtype=np.int64)


def _from_smallest(column: pa.ChunkedArray, out: I64) -> int:
    """Write each value less the column's smallest into ``out``; the smallest."""
    low = int(pc.min(column).as_py())
    at = 0
    for chunk in column.chunks:
        part = np.asarray(chunk.to_numpy(zero_copy_only=False), dtype=np.int64)
        np.subtract(part, low, out=out[at : at + len(part)])
        at += len(part)
    return low


def _bits(n: int) -> int:
    return max(int(n).bit_length(), 1)


def _packed(
    case: I32, us_column: pa.ChunkedArray, tie_column: pa.ChunkedArray
) -> tuple[I64, I64, I64] | None:
    """Events sorted by (case, time, tie-break) through one integer key, when it fits in
    63 bits: the permutation, each sorted event's case number and its time. None when it
    does not fit.

    Times are counted from the first in their coarsest common unit (minutes, seconds or
    milliseconds, when every time is whole in it), the tie-break from its smallest. Case
    and time are read back from the sorted keys, and the key is built in place: on this
    kind of machine, fresh memory costs as much as the arithmetic.
    """
    key = np.empty(len(case), np.int64)
    first_us = _from_smallest(us_column, key)
    scratch = np.empty_like(key)
    unit = 1
    for step in (60_000_000, 1_000_000, 1_000):
        if not np.remainder(key, step, out=scratch).any():
            key //= step
            unit = step
            break
    c_bits, t_bits = _bits(int(case.max())), _bits(int(key.max()))
    _from_smallest(tie_column, scratch)
    o_bits = _bits(int(scratch.max()))
    if c_bits + t_bits + o_bits <= 63:
        low = o_bits  # where the time starts in the key
        key <<= low
        key |= scratch
    elif c_bits + t_bits <= 63 and bool((scratch[1:] >= scratch[:-1]).all()):
        low = 0  # rows already in tie-break order: a stable sort keeps it
    else:
        return None
    scratch[:] = case
    scratch <<= t_bits + low
    key |= scratch
    # with the tie-break in it, keys are unique unless rows repeat: no order to keep
    perm = np.argsort(key, kind="stable" if low == 0 else None)
    np.take(key, perm, out=scratch)  # the sorted keys
    case_of = key  # reused: each sorted event's case number
    np.right_shift(scratch, t_bits + low, out=case_of)
    scratch >>= low
    scratch &= (1 << t_bits) - 1
    scratch *= unit
    scratch += first_us
    return perm, case_of, scratch


@dataclass
class Graph:
    """Directly-follows pairs (codes) with counts and durations in microseconds."""

    source: I64
    target: I64
    frequency: I64
    mean_us: npt.NDArray[np.float64]
    median_us: npt.NDArray[np.float64]
    p95_us: npt.NDArray[np.float64]
    starts: I64  # cases starting with each code
    ends: I64


def graph(log: Ordered) -> Graph:
    """The directly-follows graph with durations, and start and end activities."""
    k = len(log.names)
    n = len(log.codes)
    last = np.append(log.first[1:] - 1, n - 1) if n else log.first
    starts = np.bincount(log.codes[log.first], minlength=k).astype(np.int64)
    ends = np.bincount(log.codes[last], minlength=k).astype(np.int64)
    same = np.ones(max(n - 1, 0), bool)
    same[log.first[1:] - 1] = False  # the last event of a case has no successor
    pair = (log.codes[:-1].astype(np.int64) * k + log.codes[1:])[same]
    gap = np.diff(log.us)[same]
    # Sorted by (pair, gap): each pair's gaps are then a run, in order, for the quantiles.
    if len(gap) == 0:
        empty = np.empty(0, np.int64)
        nothing = np.empty(0, np.float64)
        return Graph(empty, empty, empty, nothing, nothing, nothing, starts, ends)
    g_bits = _bits(int(gap.max()))
    if _bits(k * k) + g_bits <= 63:
        packed = np.sort((pair << g_bits) | gap)
        pair, gap = packed >> g_bits, packed & ((1 << g_bits) - 1)
    else:
        perm = np.lexsort((gap, pair))
        pair, gap = pair[perm], gap[perm]
    run = np.concatenate(([0], np.flatnonzero(np.diff(pair)) + 1))
    count = np.diff(np.append(run, len(pair)))
    return Graph(
        source=pair[run] // k,
        target=pair[run] % k,
        frequency=count,
        mean_us=_means(gap, run, count),
        median_us=_quantile(gap, run, count, 0.5),
        p95_us=_quantile(gap, run, count, 0.95),
        starts=starts,
        ends=ends,
    )


def _means(gap: I64, run: I64, count: I64) -> npt.NDArray[np.float64]:
    """Each run's mean, from its exact integer sum."""
    if int(gap.max()) * int(count.max()) < 2**63:
        totals = np.add.reduceat(gap, run)
        return totals / count
    # a sum that could pass 2^63 microseconds (292,000 years) is added in Python integers
    ends = np.append(run[1:], len(gap))
    return np.array(
        [
            int(np.sum(gap[a:b], dtype=object)) / int(c)
            for a, b, c in zip(run, ends, count, strict=True)
        ]
    )


def _quantile(gap: I64, run: I64, count: I64, q: float) -> npt.NDArray[np.float64]:
    """Each run's ``q`` quantile with linear interpolation between closest ranks: NumPy's
    default percentile (pm4py's) and SQL's ``quantile_cont``."""
    h = (count - 1) * q
    lo = np.floor(h).astype(np.int64)
    frac = h - lo
    below = gap[run + lo].astype(np.float64)
    above = gap[run + np.minimum(lo + 1, count - 1)].astype(np.float64)
    return below + (above - below) * frac


def variant_ids(log: Ordered, hash_fn: Callable[[U64], U64] | None = None) -> I64:
    """A variant number for each case: equal numbers exactly when the cases' activity
    sequences are equal."""
    lengths = log.lengths
    n = len(log.codes)
    if n == 0:
        return np.empty(0, np.int64)
    k = len(log.names)
    pos = np.arange(n, dtype=np.int64) - np.repeat(log.first, lengths)
    # Each (position, activity) step gets a pseudo-random 64-bit value; a case's hash is
    # the wrapping sum of its steps' values, with its length.
    steps = (pos * k + log.codes).astype(np.uint64)
    mixed = (hash_fn or _mix)(steps)
    h = np.add.reduceat(mixed, log.first) ^ _mix(lengths.astype(np.uint64))
    _, rep_of, group = np.unique(h, return_index=True, return_inverse=True)
    rep = rep_of[group]  # one case of each hash group, the first in order
    # Check every case against its group's representative, event by event.
    wrong = lengths != lengths[rep]
    event_rep = np.repeat(rep, lengths)
    shorter = np.repeat(wrong, lengths)
    at = np.where(shorter, 0, log.first[event_rep] + pos)
    differs = (log.codes != log.codes[at]) & ~shorter
    if differs.any():
        wrong |= np.bincount(
            np.repeat(np.arange(len(lengths)), lengths)[differs], minlength=len(lengths)
        ).astype(bool)
    if not wrong.any():
        return group.astype(np.int64)
    # A collision: the groups it touched are split by their exact sequences.
    clash = np.unique(group[wrong])
    ids = group.astype(np.int64)
    fresh = int(group.max()) + 1
    seen: dict[tuple[int, ...], int] = {}
    for case in np.flatnonzero(np.isin(group, clash)):
        a = int(log.first[case])
        seq = tuple(log.codes[a : a + int(lengths[case])].tolist())
        if seq not in seen:
            seen[seq] = fresh
            fresh += 1
        ids[case] = seen[seq]
    return ids


def _mix(x: U64) -> U64:
    """SplitMix64's finaliser: a bijection on 64-bit integers that scatters nearby inputs."""
    with np.errstate(over="ignore"):
        z = x + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def variants(ids: I64) -> tuple[I64, I64]:
    """For each variant, one case of it (the first) and its number of cases."""
    _, rep, cases = np.unique(ids, return_index=True, return_counts=True)
    return rep.astype(np.int64), cases.astype(np.int64)


def activities(log: Ordered, cases: I64) -> pa.ListArray:
    """The activities of the given cases, in order, one list a case."""
    lengths = log.lengths[cases]
    offsets = np.concatenate(([0], np.cumsum(lengths)))
    at = np.repeat(log.first[cases] - offsets[:-1], lengths) + np.arange(offsets[-1])
    names = log.names.take(pa.array(log.codes[at]))
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), names)
