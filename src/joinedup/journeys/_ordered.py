"""The process map of a log held in memory, from its events in (case, time, tie-break)
order.

Once the events are in that order, each event's successor is the next row. A log that
arrives in order — each case's rows together, in time order, as a frame sorted for
another tool is — is checked in one pass and not sorted again; otherwise one counting
sort by case puts it in order (each case's few rows then sorted by time and tie-break).
Activities become integer codes (Arrow's dictionary encoding); the graph, its durations
and the variants are then compiled loops (``_kernels.py``). Every duration is computed on
whole microseconds (exact integers) and equals what the SQL in ``_dfg.py`` computes.
"""

from __future__ import annotations

import itertools
import sys
from dataclasses import dataclass
from types import ModuleType

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]
F64 = npt.NDArray[np.float64]

#: Above this many activities (k) the k × k table of pairs would be large: pairs are
#: numbered by a sort of those that occur instead.
_DENSE_ACTIVITIES = 1024
_NO_TIE = np.empty(0, np.int64)
#: Microseconds in one unit of an Arrow time type.
_US_PER = {"s": 1_000_000, "ms": 1_000, "us": 1}


def compiled() -> ModuleType:
    """The compiled loops (the C library, or Numba's where it is missing), loaded when
    first needed rather than when the package is."""
    from joinedup.journeys import _kernels

    return _kernels


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
    """Sort a log ``(case_id, activity, us, ord)`` read back from the engine, rows in any
    order; None if a column has a missing value (the SQL path decides what those mean)."""
    if any(table.column(c).null_count for c in table.column_names):
        return None
    return arrange(
        table.column("case_id"),
        table.column("activity"),
        _int64(table.column("us")),
        _int64(table.column("ord")),
    )


def arrange(
    case: pa.ChunkedArray, activity: pa.ChunkedArray, us: I64, tie: I64 | None = None
) -> Ordered:
    """The events in (case, time, tie-break) order; the tie-break is ``tie`` or, without
    it, the rows' own order. No column may have missing values."""
    codes, names = activity_codes(activity)
    numbered: tuple[I32, int] | None = None
    if tie is None:
        first, numbered = _grouped(case)
        if first is not None and compiled().times_ordered(us, first):
            return Ordered(codes=codes, us=us, first=first, names=names)
    case_no, cases = numbered or _dense(case)
    n = len(us)
    out_us, out_codes = np.empty(n, np.int64), np.empty(n, codes.dtype)
    out_tie = np.empty(n if tie is not None else 0, np.int64)
    first = compiled().order_by_case(
        case_no,
        cases,
        us,
        codes,
        _NO_TIE if tie is None else tie,
        tie is not None,
        out_us,
        out_codes,
        out_tie,
    )
    return Ordered(codes=out_codes, us=out_us, first=first, names=names)


def activity_codes(column: pa.ChunkedArray) -> tuple[I32, pa.Array]:
    """Dense integer codes for the activities, and the names (text) they stand for."""
    if pa.types.is_dictionary(column.type) and column.num_chunks:
        column = column.unify_dictionaries()
        names = column.chunk(0).dictionary
        if names.null_count == 0 and pc.count_distinct(names).as_py() == len(names):
            codes = _indices(column)
            return codes, names.cast(pa.string())
        column = column.cast(column.type.value_type)
    if _is_text(column.type) and sys.byteorder == "little":  # the loop reads words
        few = _few_texts(column)
        if few is not None:
            return few
    codes, names = _dense_codes(column)
    return codes, names.cast(pa.string())


def _few_texts(column: pa.ChunkedArray) -> tuple[I32, pa.Array] | None:
    """Codes for a text column of up to 512 distinct values (as activities are), read
    from its buffers; None for more."""
    table = np.full((1024, 4), -1, np.int64)
    store = np.empty(1 << 16, np.uint8)
    store_at = np.zeros(513, np.int64)
    codes = np.empty(len(column), np.int32)
    found, at = 0, 0
    for chunk in column.chunks:
        found = compiled().text_codes(
            *_text_buffers(chunk), table, store, store_at, found, codes[at : at + len(chunk)]
        )
        if found < 0:
            return None
        at += len(chunk)
    bounds, text = store_at[: found + 1].copy(), store[: store_at[found]].copy()
    names = pa.Array.from_buffers(
        pa.large_string(), found, [None, pa.py_buffer(bounds), pa.py_buffer(text)]
    )
    return codes, names.cast(pa.string())


def _text_buffers(chunk: pa.Array) -> tuple[np.ndarray, npt.NDArray[np.uint8]]:
    """A text array's offsets (from its own start) and bytes, without a copy."""
    _, off_buf, data_buf = chunk.buffers()
    width = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
    offsets = np.frombuffer(off_buf, width)[chunk.offset : chunk.offset + len(chunk) + 1]
    data = np.frombuffer(data_buf, np.uint8) if data_buf is not None else np.empty(0, np.uint8)
    return offsets, data


def _dense_codes(column: pa.ChunkedArray) -> tuple[I32, pa.Array]:
    """Codes numbering the values in order of first appearance, and the values."""
    encoded = pc.dictionary_encode(column)
    if encoded.num_chunks == 0:
        return np.empty(0, np.int32), pa.array([], column.type)
    # every chunk carries the whole dictionary built so far; the last has all of it
    return _indices(encoded), encoded.chunk(encoded.num_chunks - 1).dictionary


def _indices(column: pa.ChunkedArray) -> I32:
    parts = [c.indices.to_numpy(zero_copy_only=False) for c in column.chunks]
    out = parts[0] if len(parts) == 1 else np.concatenate(parts)
    return out.astype(np.int32, copy=False)


def _dense(case: pa.ChunkedArray) -> tuple[I32, int]:
    codes, values = _dense_codes(case)
    return codes, len(values)


def case_starts(case: pa.ChunkedArray) -> I64 | None:
    """Where each case's rows start when every case's rows are together; None when a
    case's rows are apart."""
    return _grouped(case)[0]


def _grouped(case: pa.ChunkedArray) -> tuple[I64 | None, tuple[I32, int] | None]:
    """Where each case's rows start when every case's rows are together (else None);
    and the cases numbered in order of first appearance, when that was needed to tell.

    Case ids that never decrease are grouped, which one pass over them shows (it stops
    at the first decrease). Otherwise the cases are numbered by Arrow's dictionary
    encoding, in order of first appearance: the rows are grouped exactly when each row's
    number is its predecessor's or the next one."""
    n = len(case)
    if n == 0:
        return np.empty(0, np.int64), None
    if _is_text(case.type):
        starts = _text_runs(case)
        if starts is not None:
            return starts, None
    elif pa.types.is_integer(case.type):
        values = _int64(case)
        if bool((values[1:] >= values[:-1]).all()):
            change = np.flatnonzero(values[1:] != values[:-1]) + 1
            return np.concatenate(([0], change)).astype(np.int64), None
    case_no, cases = _dense(case)
    step = np.diff(case_no)
    if bool(((step == 0) | (step == 1)).all()):
        return np.concatenate(([0], np.flatnonzero(step) + 1)).astype(np.int64), (case_no, cases)
    return None, (case_no, cases)


def _is_text(t: pa.DataType) -> bool:
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t))


def _text_runs(case: pa.ChunkedArray) -> I64 | None:
    """Where each run of equal values in a text column starts, read from its buffers,
    when the values never decrease; None at the first decrease."""
    found: list[I64] = []
    at = 0
    previous: str | None = None
    for chunk in case.chunks:
        if len(chunk) == 0:
            continue
        head = chunk[0].as_py()
        if previous is not None and head < previous:
            return None
        starts = np.empty(len(chunk), np.int64)  # pages never written are never touched
        runs, up = compiled().string_runs(*_text_buffers(chunk), starts)
        if not up:
            return None
        starts = starts[:runs].copy()
        if previous is not None and head == previous:
            starts = starts[1:]  # the run goes on from the chunk before
        found.append(starts + at)
        at += len(chunk)
        previous = chunk[len(chunk) - 1].as_py()
    return np.concatenate(found)


def _int64(column: pa.ChunkedArray) -> I64:
    if column.num_chunks == 1:
        values = column.chunk(0).to_numpy(zero_copy_only=False)
    else:
        values = column.to_numpy()
    return np.asarray(values.view(np.int64) if values.dtype.kind == "M" else values, np.int64)


def microseconds(column: pa.ChunkedArray) -> I64 | None:
    """A time column as whole microseconds since 1970 (UTC for times with a zone, as
    written for times without one); None for a type that is not a time."""
    t = column.type
    if pa.types.is_date32(t) or pa.types.is_date64(t):
        column, t = column.cast(pa.timestamp("ms")), pa.timestamp("ms")
    if not pa.types.is_timestamp(t):
        return None
    values = _int64(column)
    if t.unit == "ns":
        # whole microseconds towards zero, as the engine's cast does
        return np.where(values < 0, -(-values // 1000), values // 1000)
    per = _US_PER[t.unit]
    return values * per if per != 1 else values


@dataclass
class Graph:
    """Directly-follows pairs (codes) with counts and durations in microseconds."""

    source: I64
    target: I64
    frequency: I64
    mean_us: F64
    median_us: F64
    p95_us: F64
    starts: I64  # cases starting with each code
    ends: I64


def graph(log: Ordered) -> Graph:
    """The directly-follows graph with durations, and start and end activities."""
    k = len(log.names)
    if k <= _DENSE_ACTIVITIES:
        pair_id = _NO_TIE
        pair_of = None
    else:
        same = np.ones(max(len(log.codes) - 1, 0), bool)
        same[log.first[1:] - 1] = False
        pairs = log.codes[:-1].astype(np.int64) * k + log.codes[1:]
        pair_of, pair_id = np.unique(np.where(same, pairs, -1), return_inverse=True)
        pair_id = pair_id.astype(np.int64)
    gaps = np.empty(len(log.codes) - len(log.first), np.int64)
    seen, freq, high, low, median, p95, starts, ends = compiled().directly_follows(
        log.codes, log.us, log.first, k, pair_id, gaps
    )
    if pair_of is not None:
        seen = pair_of[seen]  # back to source * k + target
        keep = seen >= 0  # -1 marks a case's last event, which has no successor
        seen, freq, high, low, median, p95 = (x[keep] for x in (seen, freq, high, low, median, p95))
    return Graph(
        source=seen // k,
        target=seen % k,
        frequency=freq,
        mean_us=_means(high, low, freq),
        median_us=median,
        p95_us=p95,
        starts=starts,
        ends=ends,
    )


def _means(high: I64, low: I64, count: I64) -> F64:
    """Each pair's mean, from its exact integer sum (kept as two 32-bit halves)."""
    if len(high) == 0 or int(high.max()) < 2**30:
        return ((high << 32) + low) / count
    # a sum past 2^62 microseconds (146,000 years) is added up in Python integers
    return np.array(
        [((int(h) << 32) + int(lo)) / int(c) for h, lo, c in zip(high, low, count, strict=True)],
        np.float64,
    )


def variants(log: Ordered, *, mask: int = 2**64 - 1) -> tuple[I64, I64]:
    """For each variant, one case of it (the first) and its number of cases, in order
    of first appearance. ``mask`` weakens the hash, for tests: the grouping must stay
    exact whatever it is."""
    cases = len(log.first)
    size = 1 << max(2 * cases, 1).bit_length()
    rep, counts = np.empty(cases, np.int64), np.zeros(cases, np.int64)
    table = np.full((size, 2), -1, np.int64)
    found = compiled().variant_groups(log.codes, log.first, np.uint64(mask), table, rep, counts)
    return rep[:found].copy(), counts[:found].copy()


def by_cases_and_name(log: Ordered, rep: I64, cases: I64, separator: str) -> I64:
    """The order of variants (given by one case each) by cases, most first, then by
    their activities joined by ``separator``, as text sorts."""
    by_name = pc.sort_indices(log.names).to_numpy()
    if _prefix_free(log.names.take(pa.array(by_name)).to_pylist()):
        # No name begins another: lists of names sort as their joined texts do. Each
        # variant's list is read where its case lies in the log.
        rank = np.empty(len(by_name), np.int64)
        rank[by_name] = np.arange(len(by_name))
        starts = log.first[rep]
        ends = np.append(log.first[1:], len(log.codes))[rep]
        kernels = compiled()
        key = kernels.sequence_keys(log.codes, starts, ends, rank)
        by_key = np.argsort(key)
        order = by_key[np.argsort(-cases[by_key], kind="stable")]
        kernels.settle_ties(order, cases, key, log.codes, starts, ends, rank)
        return order
    steps, offsets = compiled().gather_cases(log.codes, log.first, rep)
    _, joined = _lists(log, steps, offsets, separator)
    return pc.sort_indices(
        pa.table({"cases": cases, "variant": joined}),
        sort_keys=[("cases", "descending"), ("variant", "ascending")],
    ).to_numpy()


def _prefix_free(sorted_names: list[str]) -> bool:
    return not any(b.startswith(a) for a, b in itertools.pairwise(sorted_names))


def activities(log: Ordered, cases: I64, separator: str) -> tuple[pa.ListArray, pa.Array]:
    """The activities of the given cases, in order, one list a case; and the same joined
    into one text each by ``separator``."""
    steps, offsets = compiled().gather_cases(log.codes, log.first, cases)
    return _lists(log, steps, offsets, separator)


def _lists(log: Ordered, steps: I32, offsets: I64, separator: str) -> tuple[pa.ListArray, pa.Array]:
    lists = pa.ListArray.from_arrays(
        pa.array(offsets.astype(np.int32)), log.names.take(pa.array(steps))
    )
    return lists, pc.binary_join(lists, separator)
