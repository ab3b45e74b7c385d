"""Compiled loops over a log's events, for the in-memory path (``_ordered.py``).

Each is one or two passes over the events with no sort of the whole log: case runs read
straight from Arrow's string buffers, a counting sort by case when the rows are not
grouped, the directly-follows counts and durations grouped by a counting sort of the
pairs, each pair's median and 95th percentile by selection rather than sorting, and
variants by a hash table that checks every case against its group's first case, event by
event. Numba compiles them and keeps them on disk after the first run (beside this file,
in the user's cache folder, or where neither can be written in a folder of the user's in
the temporary directory); they run on one core: the work is a few memory passes. Large
arrays are made by the caller, with NumPy, which asks the kernel for huge pages: on a
virtual machine, first touching fresh memory in small pages costs as much as the work,
and random probes into a large table miss the address cache less.
"""

from __future__ import annotations

from typing import Any

import numba as nb
import numpy as np
from numba.core import types
from numba.extending import intrinsic

from joinedup._numba import use_cache_beside

use_cache_beside(__file__)

_JIT: dict[str, Any] = {"nogil": True, "cache": True, "error_model": "numpy"}


@nb.njit(**_JIT)
def string_runs(offsets: np.ndarray, data: np.ndarray, starts: np.ndarray) -> tuple[int, bool]:
    """Write in ``starts`` where each run of equal strings starts (``offsets`` has one
    more entry than there are strings); return how many runs, and whether the strings
    never decrease (byte order, which is code point order for UTF-8)."""
    n = offsets.shape[0] - 1
    m = 0
    if n > 0:
        starts[0] = 0
        m = 1
    for i in range(1, n):
        a0, a1, b1 = offsets[i - 1], offsets[i], offsets[i + 1]
        la, lb = a1 - a0, b1 - a1
        c = 0
        for j in range(min(la, lb)):
            x, y = data[a0 + j], data[a1 + j]
            if x != y:
                c = 1 if x > y else -1
                break
        if c == 0 and la != lb:
            c = 1 if la > lb else -1
        if c != 0:
            starts[m] = i
            m += 1
            if c > 0:
                return m, False
    return m, True


@nb.njit(**_JIT)
def times_ordered(us: np.ndarray, first: np.ndarray) -> bool:
    """Whether each case's times never decrease."""
    n = us.shape[0]
    for c in range(first.shape[0]):
        end = first[c + 1] if c + 1 < first.shape[0] else n
        for i in range(first[c] + 1, end):
            if us[i] < us[i - 1]:
                return False
    return True


@nb.njit(**_JIT)
def _after(us: np.ndarray, tie: np.ndarray, has_tie: bool, i: int, j: int) -> bool:
    """Whether event i comes after event j: later, or as late and later in tie-break."""
    if us[i] != us[j]:
        return us[i] > us[j]
    return has_tie and tie[i] > tie[j]


@nb.njit(**_JIT)
def _sort_run(
    us: np.ndarray, codes: np.ndarray, tie: np.ndarray, has_tie: bool, a: int, b: int
) -> None:
    """Stable sort of events ``a … b-1`` (times, codes and tie-breaks together) by time and
    tie-break: insertion sort for a short run or one nearly in order, merge sorts
    otherwise."""
    inversions = 0
    for i in range(a + 1, b):
        if _after(us, tie, has_tie, i - 1, i):
            inversions += 1
    if inversions == 0:
        return
    if b - a <= 32 or inversions <= 8:
        for i in range(a + 1, b):
            t, c = us[i], codes[i]
            r = tie[i] if has_tie else 0
            j = i - 1
            while j >= a and (us[j] > t or (us[j] == t and has_tie and tie[j] > r)):
                us[j + 1], codes[j + 1] = us[j], codes[j]
                if has_tie:
                    tie[j + 1] = tie[j]
                j -= 1
            us[j + 1], codes[j + 1] = t, c
            if has_tie:
                tie[j + 1] = r
        return
    # two stable sorts: by the tie-break, then by time
    idx = np.arange(b - a)
    if has_tie:
        idx = idx[np.argsort(tie[a:b], kind="mergesort")]
    idx = idx[np.argsort(us[a:b][idx], kind="mergesort")]
    us[a:b] = us[a:b][idx]
    codes[a:b] = codes[a:b][idx]
    if has_tie:
        tie[a:b] = tie[a:b][idx]


@nb.njit(**_JIT)
def order_by_case(
    case: np.ndarray,
    cases: int,
    us: np.ndarray,
    codes: np.ndarray,
    tie: np.ndarray,
    has_tie: bool,
    out_us: np.ndarray,
    out_codes: np.ndarray,
    out_tie: np.ndarray,
) -> np.ndarray:
    """Write the events' times, codes and (``has_tie``) tie-breaks into ``out_*`` in
    (case, time, tie-break) order, cases numbered ``0 … cases-1`` in the order they are
    to come; return where each case starts. Rows of one case keep their order where time
    and tie-break are equal. The rows are scattered to their places (a counting sort):
    stores to scattered places cost less than loads from them."""
    n = case.shape[0]
    first = np.zeros(cases + 1, np.int64)
    for i in range(n):
        first[case[i] + 1] += 1
    for c in range(cases):
        first[c + 1] += first[c]
    at = first[:cases].copy()
    for i in range(n):
        c = case[i]
        p = at[c]
        out_us[p] = us[i]
        out_codes[p] = codes[i]
        if has_tie:
            out_tie[p] = tie[i]
        at[c] = p + 1
    for c in range(cases):
        if first[c + 1] - first[c] > 1:
            _sort_run(out_us, out_codes, out_tie, has_tie, first[c], first[c + 1])
    return first[:cases].copy()


@nb.njit(**_JIT)
def _kth(run: np.ndarray, kth: int, low: int, high: int, spare: np.ndarray) -> int:
    """The value a sort of ``run`` would put at ``kth``, all values being in
    ``low … high``: a radix selection. Each round counts the values by their leading
    bits above ``low``, keeps only the bucket holding ``kth`` (copied to ``spare``, with
    no branch) and goes on inside it, until the bucket holds one value or a few."""
    m = run.shape[0]
    src = run
    while True:
        if low == high:
            return low
        if m <= 32:
            part = np.sort(src[:m])
            return part[kth]
        span = high - low
        digit = 3
        while digit < 11 and (1 << (digit + 2)) < m:
            digit += 1
        shift = 0
        while (span >> shift) >= (1 << digit):
            shift += 1
        count = np.zeros((span >> shift) + 1, np.int64)
        for i in range(m):
            count[(src[i] - low) >> shift] += 1
        bucket = 0
        while kth >= count[bucket]:
            kth -= count[bucket]
            bucket += 1
        c = 0
        for i in range(m):
            v = src[i]
            spare[c] = v
            c += ((v - low) >> shift) == bucket
        src = spare
        m = c
        low, high = low + (bucket << shift), min(high, low + ((bucket + 1) << shift) - 1)


@nb.njit(**_JIT)
def _quantile(run: np.ndarray, q: float, low: int, high: int, spare: np.ndarray) -> float:
    """The ``q`` quantile of ``run`` (values in ``low … high``), interpolating linearly
    between the closest ranks (NumPy's default percentile, and SQL's ``quantile_cont``),
    in the same float operations as the NumPy form this replaced."""
    count = run.shape[0]
    h = (count - 1) * q
    lo = np.int64(np.floor(h))
    frac = h - lo
    below = _kth(run, lo, low, high, spare)
    above = below
    if lo + 1 < count:
        # the next rank: the same value if it repeats that far, else the next one up
        at_most = 0
        nxt = high
        for i in range(count):
            v = run[i]
            at_most += v <= below
            nxt = min(nxt, v if v > below else high)
        above = below if at_most > lo + 1 else nxt
    return np.float64(below) + (np.float64(above) - np.float64(below)) * frac


@nb.njit(**_JIT)
def directly_follows(
    codes: np.ndarray,
    us: np.ndarray,
    first: np.ndarray,
    k: int,
    pair_id: np.ndarray,
    buf: np.ndarray,
) -> tuple[np.ndarray, ...]:
    """Counts, exact sums (high and low 32 bits) and median and 95th percentile of the
    gaps of each directly-follows pair of sorted events; start and end counts by code.

    A pair is ``source * k + target`` when ``pair_id`` is empty, else ``pair_id[i]`` for
    the pair of events i and i+1 (activities too many for a k × k table). ``buf`` has
    room for every pair's gap (events less cases)."""
    n = codes.shape[0]
    dense = pair_id.shape[0] == 0
    pairs = k * k if dense else (pair_id.max() + 1 if n > 0 else 0)
    count = np.zeros(pairs + 1, np.int64)
    high = np.zeros(pairs, np.int64)
    low = np.zeros(pairs, np.int64)
    starts = np.zeros(k, np.int64)
    ends = np.zeros(k, np.int64)
    cases = first.shape[0]
    for c in range(cases):
        a = first[c]
        b = first[c + 1] if c + 1 < cases else n
        starts[codes[a]] += 1
        ends[codes[b - 1]] += 1
        for i in range(a, b - 1):
            p = codes[i] * k + codes[i + 1] if dense else pair_id[i]
            g = us[i + 1] - us[i]
            count[p + 1] += 1
            high[p] += g >> 32
            low[p] += g & 0xFFFFFFFF
    for p in range(pairs):
        count[p + 1] += count[p]
    at = count[:pairs].copy()
    # buf: the gaps, pair by pair
    least = np.full(pairs, np.iinfo(np.int64).max, np.int64)
    most = np.zeros(pairs, np.int64)
    for c in range(cases):
        a = first[c]
        b = first[c + 1] if c + 1 < cases else n
        for i in range(a, b - 1):
            p = codes[i] * k + codes[i + 1] if dense else pair_id[i]
            g = us[i + 1] - us[i]
            buf[at[p]] = g
            at[p] += 1
            least[p] = min(least[p], g)
            most[p] = max(most[p], g)
    seen = np.flatnonzero(count[1:] - count[:pairs])
    median = np.empty(seen.shape[0], np.float64)
    p95 = np.empty(seen.shape[0], np.float64)
    freq = count[seen + 1] - count[seen]
    spare = np.empty(freq.max() if seen.shape[0] else 0, np.int64)
    for j in range(seen.shape[0]):
        p = seen[j]
        run = buf[count[p] : count[p + 1]]
        median[j] = _quantile(run, 0.5, least[p], most[p], spare)
        p95[j] = _quantile(run, 0.95, least[p], most[p], spare)
    return seen, freq, high[seen], low[seen], median, p95, starts, ends


@nb.njit(**_JIT)
def _mix(x: np.uint64) -> np.uint64:
    """SplitMix64's finaliser: a bijection on 64-bit integers that scatters nearby inputs."""
    z = x + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@nb.njit(**_JIT)
def variant_groups(
    codes: np.ndarray,
    first: np.ndarray,
    mask: np.uint64,
    table: np.ndarray,
    rep: np.ndarray,
    counts: np.ndarray,
) -> int:
    """Cases grouped by their exact activity sequence: one case of each variant (its
    first) and its number of cases, in order of first appearance.

    Cases are found in ``table`` (a power of two of slots, more than twice the cases,
    each the hash and the variant, -1 when free) by a hash of their sequence (``& mask``:
    tests pass 0 so every case collides); a case joins a variant only if it equals the
    variant's first case event by event, so a collision never merges two sequences.
    Writes each variant's case and count in ``rep`` and ``counts``; returns how many."""
    n = codes.shape[0]
    cases = first.shape[0]
    size = table.shape[0]
    groups = 0
    for c in range(cases):
        a = first[c]
        b = first[c + 1] if c + 1 < cases else n
        h = np.uint64(b - a)
        for i in range(a, b):
            h = (h ^ np.uint64(codes[i])) * np.uint64(0x100000001B3)  # FNV-1a's step
        h = _mix(h) & mask
        slot = np.int64(h & np.uint64(size - 1))
        while True:
            g = table[slot, 1]
            if g < 0:
                table[slot, 0] = np.int64(h)
                table[slot, 1] = groups
                rep[groups] = c
                counts[groups] = 1
                groups += 1
                break
            if table[slot, 0] == np.int64(h):
                r = rep[g]
                ra = first[r]
                rb = first[r + 1] if r + 1 < cases else n
                same = rb - ra == b - a
                if same:
                    for i in range(b - a):
                        if codes[ra + i] != codes[a + i]:
                            same = False
                            break
                if same:
                    counts[g] += 1
                    break
            slot = (slot + 1) & (size - 1)
    return groups


@nb.njit(**_JIT)
def gather_cases(
    codes: np.ndarray, first: np.ndarray, chosen: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The activity codes of the chosen cases, one after another, and the offsets where
    each starts (one more than there are cases)."""
    n = codes.shape[0]
    cases = first.shape[0]
    offsets = np.zeros(chosen.shape[0] + 1, np.int64)
    for j in range(chosen.shape[0]):
        c = chosen[j]
        b = first[c + 1] if c + 1 < cases else n
        offsets[j + 1] = offsets[j] + b - first[c]
    out = np.empty(offsets[-1], codes.dtype)
    for j in range(chosen.shape[0]):
        a = first[chosen[j]]
        out[offsets[j] : offsets[j + 1]] = codes[a : a + offsets[j + 1] - offsets[j]]
    return out, offsets


@nb.njit(**_JIT)
def _sequence_before(
    steps: np.ndarray, starts: np.ndarray, ends: np.ndarray, rank: np.ndarray, x: int, y: int
) -> bool:
    """Whether list ``x`` of codes (``steps[starts[x]:ends[x]]``) comes before list ``y``,
    comparing the codes' ranks in turn (a list before any longer list it begins)."""
    a, b = starts[x], starts[y]
    la, lb = ends[x] - a, ends[y] - b
    for i in range(min(la, lb)):
        ra, rb = rank[steps[a + i]], rank[steps[b + i]]
        if ra != rb:
            return ra < rb
    return la < lb


@nb.njit(**_JIT)
def sequence_keys(
    steps: np.ndarray, starts: np.ndarray, ends: np.ndarray, rank: np.ndarray
) -> np.ndarray:
    """For each list of codes, its first codes' ranks packed into one 64-bit key that
    sorts as the lists do as far as it reaches (0 marks the end of a list)."""
    m = starts.shape[0]
    k = rank.max() + 2 if rank.shape[0] else 1
    bits = 1
    while (1 << bits) < k:
        bits += 1
    width = 63 // bits
    key = np.zeros(m, np.int64)
    for j in range(m):
        a, b = starts[j], ends[j]
        v = np.int64(0)
        for i in range(width):
            v <<= bits
            if a + i < b:
                v |= rank[steps[a + i]] + 1
        key[j] = v
    return key


@nb.njit(**_JIT)
def settle_ties(
    order: np.ndarray,
    cases: np.ndarray,
    key: np.ndarray,
    steps: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    rank: np.ndarray,
) -> None:
    """In ``order`` (sorted by cases, then key), put each run of equal cases and key in
    order by the whole lists of codes."""
    m = order.shape[0]
    start = 0
    for i in range(1, m + 1):
        if i < m and cases[order[i]] == cases[order[start]] and key[order[i]] == key[order[start]]:
            continue
        if i - start > 1:
            _sort_sequences(order, start, i, steps, starts, ends, rank)
        start = i


@nb.njit(**_JIT)
def _sort_sequences(
    order: np.ndarray,
    a: int,
    b: int,
    steps: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    rank: np.ndarray,
) -> None:
    """Sort ``order[a:b]`` by the lists of codes they name (a merge sort)."""
    src = order[a:b].copy()
    dst = np.empty_like(src)
    m = b - a
    width = 1
    while width < m:
        for lo in range(0, m, 2 * width):
            mid = min(lo + width, m)
            hi = min(lo + 2 * width, m)
            i, j, t = lo, mid, lo
            while i < mid and j < hi:
                if _sequence_before(steps, starts, ends, rank, src[j], src[i]):
                    dst[t] = src[j]
                    j += 1
                else:
                    dst[t] = src[i]
                    i += 1
                t += 1
            dst[t : t + mid - i] = src[i:mid]
            t += mid - i
            dst[t : t + hi - j] = src[j:hi]
        src, dst = dst, src
        width *= 2
    order[a:b] = src


def _load8_typed(typingctx: Any, data: Any, at: Any) -> Any:
    """Eight bytes of ``data`` from byte ``at`` as one little-endian word, wherever they
    lie (an unaligned load)."""

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        array = context.make_array(sig.args[0])(context, builder, args[0])
        where = builder.gep(array.data, [args[1]])
        word = builder.bitcast(where, context.get_value_type(types.uint64).as_pointer())
        return builder.load(word, align=1)

    return types.uint64(data, types.int64), codegen


# Called as _load8(data, at) inside compiled code (see _dice.py for why it is typed Any).
_load8: Any = intrinsic(_load8_typed)


@nb.njit(**_JIT)
def _word(data: np.ndarray, a: int, length: int) -> np.uint64:
    """Up to 8 bytes from ``a`` as one word, the bytes past ``length`` zero."""
    if a + 8 <= data.shape[0]:
        w = _load8(data, a)
        if length < 8:
            w &= (np.uint64(1) << np.uint64(8 * length)) - np.uint64(1)
        return w
    w = np.uint64(0)
    for j in range(min(length, 8)):
        w |= np.uint64(data[a + j]) << np.uint64(8 * j)
    return w


@nb.njit(**_JIT)
def _same_bytes(x: np.ndarray, a: int, y: np.ndarray, b: int, length: int) -> bool:
    for j in range(0, length - 7, 8):
        if _load8(x, a + j) != _load8(y, b + j):
            return False
    for j in range(length - length % 8, length):  # noqa: SIM110 (a generator does not compile)
        if x[a + j] != y[b + j]:
            return False
    return True


@nb.njit(**_JIT)
def text_codes(
    offsets: np.ndarray,
    data: np.ndarray,
    table: np.ndarray,
    store: np.ndarray,
    store_at: np.ndarray,
    found: int,
    codes: np.ndarray,
) -> int:
    """Codes for a text column of few distinct values (activities), numbered in order of
    first appearance, one chunk at a time; returns how many values are known, or -1 when
    there are more than ``table`` and ``store`` take (Arrow's dictionary encoding then
    does it).

    ``table`` (slots of length, first 8 bytes, last 8 bytes, code; -1 when free) and
    ``store`` (each value's bytes, from ``store_at[code]``) carry over between chunks. A
    value is looked up by its length and first and last 8 bytes, which are all of it up to
    16 bytes; a longer one is also compared in full with the stored value."""
    n = offsets.shape[0] - 1
    size = table.shape[0]
    for i in range(n):
        a, b = offsets[i], offsets[i + 1]
        length = b - a
        head = _word(data, a, length)
        tail = _word(data, b - 8, 8) if length > 8 else np.uint64(0)
        h = (np.uint64(length) * np.uint64(0x9E3779B97F4A7C15)) ^ head
        h = _mix(h ^ (tail * np.uint64(0xBF58476D1CE4E5B9)))
        slot = np.int64(h & np.uint64(size - 1))
        while True:
            code = table[slot, 3]
            if code < 0:
                at = store_at[found]
                if 2 * (found + 1) > size or at + length + 8 > store.shape[0]:
                    return -1
                store[at : at + length] = data[a:b]
                store_at[found + 1] = at + length
                table[slot, 0] = length
                table[slot, 1] = np.int64(head)
                table[slot, 2] = np.int64(tail)
                table[slot, 3] = found
                codes[i] = found
                found += 1
                break
            if (
                table[slot, 0] == length
                and table[slot, 1] == np.int64(head)
                and table[slot, 2] == np.int64(tail)
                and (length <= 16 or _same_bytes(store, store_at[code], data, a, length))
            ):
                codes[i] = code
                break
            slot = (slot + 1) & (size - 1)
    return found
