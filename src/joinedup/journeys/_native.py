"""The C kernels (``_ckernels.c``, compiled when the package is built), loaded with ctypes.

Each function here has the signature of the Numba kernel of the same name in ``_jit.py``
and gives the same result, bit for bit: it allocates what the Numba kernel allocates and
hands every array to C as a pointer. Loading the library takes a few milliseconds, where
importing Numba and loading its compiled kernels takes about half a CPU second: that was
most of the first mining in a fresh process. ``library()`` is None when the library was
not built (no C compiler when the package was installed) or was built from another
version of the source; ``_kernels.py`` then uses the Numba kernels.
"""

from __future__ import annotations

import ctypes
from pathlib import Path
from typing import Any

import numpy as np

from joinedup.journeys._cbuild import LIBRARY, SOURCE, source_hash

_HERE = Path(__file__).parent
_P = ctypes.c_void_p
_I = ctypes.c_int64
_SIGNATURES: dict[str, tuple[Any, list[Any]]] = {
    "joinedup_source_hash": (ctypes.c_char_p, []),
    "string_runs_32": (_I, [_P, _I, _P, _P, _P]),
    "string_runs_64": (_I, [_P, _I, _P, _P, _P]),
    "times_ordered": (ctypes.c_int32, [_P, _I, _P, _I]),
    "order_by_case": (ctypes.c_int32, [_P, _I, _I, _P, _P, _P, ctypes.c_int32, _P, _P, _P, _P]),
    "quantile": (ctypes.c_double, [_P, _I, ctypes.c_double, _I, _I, _P]),
    "follows_count": (ctypes.c_int32, [_P, _P, _I, _P, _I, _I, _P, _I, *[_P] * 8]),
    "follows_quantiles": (None, [_P, _P, _I, _P, _P, _P, _P, _P, _P]),
    "variant_groups": (_I, [_P, _I, _P, _I, ctypes.c_uint64, _P, _I, _P, _P]),
    "gather_offsets": (None, [_I, _P, _I, _P, _I, _P]),
    "gather_codes": (None, [_P, _P, _P, _I, _P, _P]),
    "sequence_keys": (None, [_P, _P, _P, _I, _P, _I, _P]),
    "settle_ties": (ctypes.c_int32, [_P, _I, _P, _P, _P, _P, _P, _P]),
    "text_codes_32": (_I, [_P, _I, _P, _I, _P, _I, _P, _I, _P, _I, _P]),
    "text_codes_64": (_I, [_P, _I, _P, _I, _P, _I, _P, _I, _P, _I, _P]),
}


def _load(folder: Path) -> Any:
    """The library in ``folder`` with its functions typed, or None when it is missing,
    cannot be loaded, or was built from a source other than the one beside it."""
    path = folder / LIBRARY
    if not path.is_file():
        return None
    try:
        lib = ctypes.CDLL(str(path))
        for name, (restype, argtypes) in _SIGNATURES.items():
            fn = getattr(lib, name)
            fn.restype, fn.argtypes = restype, argtypes
    except (OSError, AttributeError):
        return None
    source = folder / SOURCE
    if source.is_file() and lib.joinedup_source_hash().decode() != source_hash(source.read_bytes()):
        return None  # stale: the C source was edited after the build
    return lib


_LIB = _load(_HERE)


def library() -> Any:
    """The loaded library, or None (see the module's docstring)."""
    return _LIB


def _in(a: np.ndarray, dtype: type) -> np.ndarray:
    """``a`` as a C-ordered array of ``dtype`` (no copy when it is one already); an
    array whose values ``dtype`` might not hold is refused."""
    if not np.can_cast(a.dtype, dtype, "safe"):
        raise TypeError(f"expected {np.dtype(dtype)} values, got {a.dtype}")
    return np.ascontiguousarray(a, dtype)


def _out(a: np.ndarray, dtype: type) -> np.ndarray:
    """``a``, which C writes into: it must already be C-ordered and of ``dtype``."""
    if a.dtype != dtype or not a.flags.c_contiguous or not a.flags.writeable:
        raise TypeError(f"expected a writeable C-ordered {np.dtype(dtype)} array, got {a.dtype}")
    return a


def _ptr(a: np.ndarray) -> int:
    return int(a.ctypes.data)


def _checked(status: int) -> None:
    if status < 0:
        raise MemoryError("the C kernels could not allocate memory")


def string_runs(offsets: np.ndarray, data: np.ndarray, starts: np.ndarray) -> tuple[int, bool]:
    """See ``_jit.string_runs``."""
    wide = offsets.dtype == np.int64
    offsets = _in(offsets, np.int64 if wide else np.int32)
    data, starts = _in(data, np.uint8), _out(starts, np.int64)
    up = ctypes.c_int32(1)
    fn = _LIB.string_runs_64 if wide else _LIB.string_runs_32
    runs = fn(_ptr(offsets), len(offsets) - 1, _ptr(data), _ptr(starts), ctypes.byref(up))
    return int(runs), bool(up.value)


def times_ordered(us: np.ndarray, first: np.ndarray) -> bool:
    """See ``_jit.times_ordered``."""
    us, first = _in(us, np.int64), _in(first, np.int64)
    return bool(_LIB.times_ordered(_ptr(us), len(us), _ptr(first), len(first)))


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
    """See ``_jit.order_by_case``."""
    case, us, codes = _in(case, np.int32), _in(us, np.int64), _in(codes, np.int32)
    tie = _in(tie, np.int64)
    out_us, out_codes = _out(out_us, np.int64), _out(out_codes, np.int32)
    out_tie = _out(out_tie, np.int64)
    first = np.zeros(cases + 1, np.int64)
    _checked(
        _LIB.order_by_case(
            _ptr(case),
            len(case),
            cases,
            _ptr(us),
            _ptr(codes),
            _ptr(tie),
            int(has_tie),
            _ptr(out_us),
            _ptr(out_codes),
            _ptr(out_tie),
            _ptr(first),
        )
    )
    return first[:cases].copy()


def _quantile(run: np.ndarray, q: float, low: int, high: int, spare: np.ndarray) -> float:
    """See ``_jit._quantile``."""
    run, spare = _in(run, np.int64), _out(spare, np.int64)
    return float(_LIB.quantile(_ptr(run), len(run), q, low, high, _ptr(spare)))


def directly_follows(
    codes: np.ndarray,
    us: np.ndarray,
    first: np.ndarray,
    k: int,
    pair_id: np.ndarray,
    buf: np.ndarray,
) -> tuple[np.ndarray, ...]:
    """See ``_jit.directly_follows``."""
    codes, us, first = _in(codes, np.int32), _in(us, np.int64), _in(first, np.int64)
    pair_id, buf = _in(pair_id, np.int64), _out(buf, np.int64)
    n = len(codes)
    dense = len(pair_id) == 0
    pairs = k * k if dense else (int(pair_id.max()) + 1 if n > 0 else 0)
    count = np.zeros(pairs + 1, np.int64)
    high, low = np.zeros(pairs, np.int64), np.zeros(pairs, np.int64)
    starts, ends = np.zeros(k, np.int64), np.zeros(k, np.int64)
    least, most = np.empty(pairs, np.int64), np.empty(pairs, np.int64)
    _checked(
        _LIB.follows_count(
            _ptr(codes),
            _ptr(us),
            n,
            _ptr(first),
            len(first),
            k,
            None if dense else _ptr(pair_id),
            pairs,
            *(_ptr(a) for a in (count, high, low, starts, ends, buf, least, most)),
        )
    )
    seen = np.flatnonzero(count[1:] - count[:pairs])
    freq = count[seen + 1] - count[seen]
    median = np.empty(len(seen), np.float64)
    p95 = np.empty(len(seen), np.float64)
    spare = np.empty(int(freq.max()) if len(seen) else 0, np.int64)
    _LIB.follows_quantiles(
        *(_ptr(a) for a in (count, seen)),
        len(seen),
        *(_ptr(a) for a in (buf, least, most, spare, median, p95)),
    )
    return seen, freq, high[seen], low[seen], median, p95, starts, ends


def variant_groups(
    codes: np.ndarray,
    first: np.ndarray,
    mask: np.uint64,
    table: np.ndarray,
    rep: np.ndarray,
    counts: np.ndarray,
) -> int:
    """See ``_jit.variant_groups``."""
    codes, first = _in(codes, np.int32), _in(first, np.int64)
    table, rep, counts = _out(table, np.int64), _out(rep, np.int64), _out(counts, np.int64)
    return int(
        _LIB.variant_groups(
            _ptr(codes),
            len(codes),
            _ptr(first),
            len(first),
            int(mask),
            _ptr(table),
            len(table),
            _ptr(rep),
            _ptr(counts),
        )
    )


def gather_cases(
    codes: np.ndarray, first: np.ndarray, chosen: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """See ``_jit.gather_cases``."""
    dtype = codes.dtype
    codes, first = _in(codes, np.int32), _in(first, np.int64)
    chosen = _in(chosen, np.int64)
    offsets = np.empty(len(chosen) + 1, np.int64)
    _LIB.gather_offsets(
        len(codes), _ptr(first), len(first), _ptr(chosen), len(chosen), _ptr(offsets)
    )
    out = np.empty(int(offsets[-1]), np.int32)
    _LIB.gather_codes(_ptr(codes), _ptr(first), _ptr(chosen), len(chosen), _ptr(offsets), _ptr(out))
    return out.astype(dtype, copy=False), offsets


def sequence_keys(
    steps: np.ndarray, starts: np.ndarray, ends: np.ndarray, rank: np.ndarray
) -> np.ndarray:
    """See ``_jit.sequence_keys``."""
    steps, starts = _in(steps, np.int32), _in(starts, np.int64)
    ends, rank = _in(ends, np.int64), _in(rank, np.int64)
    k = int(rank.max()) + 2 if len(rank) else 1
    key = np.empty(len(starts), np.int64)
    _LIB.sequence_keys(_ptr(steps), _ptr(starts), _ptr(ends), len(starts), _ptr(rank), k, _ptr(key))
    return key


def settle_ties(
    order: np.ndarray,
    cases: np.ndarray,
    key: np.ndarray,
    steps: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    rank: np.ndarray,
) -> None:
    """See ``_jit.settle_ties``."""
    order = _out(order, np.int64)
    cases, key = _in(cases, np.int64), _in(key, np.int64)
    steps, starts = _in(steps, np.int32), _in(starts, np.int64)
    ends, rank = _in(ends, np.int64), _in(rank, np.int64)
    _checked(
        _LIB.settle_ties(
            _ptr(order), len(order), *(_ptr(a) for a in (cases, key, steps, starts, ends, rank))
        )
    )


def text_codes(
    offsets: np.ndarray,
    data: np.ndarray,
    table: np.ndarray,
    store: np.ndarray,
    store_at: np.ndarray,
    found: int,
    codes: np.ndarray,
) -> int:
    """See ``_jit.text_codes``."""
    wide = offsets.dtype == np.int64
    offsets = _in(offsets, np.int64 if wide else np.int32)
    data = _in(data, np.uint8)
    table, store = _out(table, np.int64), _out(store, np.uint8)
    store_at, codes = _out(store_at, np.int64), _out(codes, np.int32)
    fn = _LIB.text_codes_64 if wide else _LIB.text_codes_32
    return int(
        fn(
            _ptr(offsets),
            len(offsets) - 1,
            _ptr(data),
            len(data),
            _ptr(table),
            len(table),
            _ptr(store),
            len(store),
            _ptr(store_at),
            found,
            _ptr(codes),
        )
    )
