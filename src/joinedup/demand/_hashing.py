"""Hashed character and word n-grams for a batch of notes, vectorised with NumPy.

scikit-learn's ``HashingVectorizer`` builds n-grams in a Python loop per note (about
3,500 notes/s for character n-grams here); millions of notes need many times that.
Here every n-gram of a whole batch is hashed at once from polynomial prefix hashes of
the batch's UTF-8 bytes:

    H[i] = sum_{j<i} (b_j + 1) * P^j            (mod 2^64, NumPy's wrapping uint64)
    hash(a, b) = (H[b] - H[a]) * P^(-a)         (P odd, so P^(-1) mod 2^64 exists)

which gives the same value for the same bytes wherever they sit, in O(1) per n-gram
(Karp–Rabin fingerprints). Words are maximal runs of letters, digits and apostrophes
(and any non-ASCII byte); a word bigram combines its two words' hashes. The top bits of
a mixed hash pick the column. Each block (characters, words) is binary and has unit
length per note, as ``HashingVectorizer(binary=True, norm="l2")`` would give.

The matrix is assembled from one sorted array of (note, column) keys rather than by
scipy's COO-to-CSR conversion: scipy sorts each row's indices one row at a time, which
took most of the time; one vectorised sort of the whole batch gives the same matrix
(the same columns in the same order, the same values) several times faster.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp  # type: ignore[import-untyped]

_P = np.uint64(0x100000001B3)  # the 64-bit FNV prime: odd, so invertible mod 2^64
_P_INV = np.uint64(pow(0x100000001B3, -1, 2**64))
_MIX = np.uint64(0xBF58476D1CE4E5B9)  # splitmix64's multiplier
_PAIR = np.uint64(0x9E3779B97F4A7C15)  # golden-ratio constant, to combine two word hashes
_SALT_WORD = np.uint64(0x632BE59BD9B4E019)

_TOKEN = np.zeros(256, dtype=bool)
for _c in b"abcdefghijklmnopqrstuvwxyz0123456789'":
    _TOKEN[_c] = True
_TOKEN[128:] = True  # bytes of non-ASCII characters belong to words

_POW_CACHE: dict[str, np.ndarray] = {}


def _powers(n: int) -> tuple[np.ndarray, np.ndarray]:
    """P^i and P^(-i) for i < n (mod 2^64), grown as needed."""
    have = _POW_CACHE.get("p")
    if have is None or len(have) < n:
        size = max(n, 1 << 16)
        with np.errstate(over="ignore"):
            p = np.full(size, _P, dtype=np.uint64)
            p[0] = 1
            pinv = np.full(size, _P_INV, dtype=np.uint64)
            pinv[0] = 1
            _POW_CACHE["p"] = np.cumprod(p, dtype=np.uint64)
            _POW_CACHE["pinv"] = np.cumprod(pinv, dtype=np.uint64)
    return _POW_CACHE["p"][:n], _POW_CACHE["pinv"][:n]


def _column(h: np.ndarray, bits: int) -> np.ndarray:
    with np.errstate(over="ignore"):
        x = (h ^ (h >> np.uint64(31))) * _MIX
    return x >> np.uint64(64 - bits)


def utf8_bytes(text: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """The UTF-8 bytes of a large_string array, from its first string's first byte, and
    its n + 1 offsets into them (a null is empty)."""
    at = np.frombuffer(text.buffers()[1], dtype=np.int64)[text.offset :][: len(text) + 1]
    data = text.buffers()[2]
    values = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, np.uint8)
    return values[at[0] : at[-1]], at - at[0]


def padded(docs: list[str] | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """The notes' UTF-8 bytes, each padded with a space either side and followed by a
    newline that no n-gram may cross; and where each note starts (n + 1 offsets)."""
    s = pa.large_string()
    arr = docs if isinstance(docs, pa.Array) else pa.array(docs, s)
    arr = pc.fill_null(arr.cast(s), "")
    space, end, none = pa.scalar(" ", s), pa.scalar(" \n", s), pa.scalar("", s)
    return utf8_bytes(pc.binary_join_element_wise(space, arr, end, none))


def hashed_ngrams(
    docs: list[str] | pa.Array,
    *,
    char_bits: int,
    word_bits: int,
    char_ngrams: tuple[int, int],
    word_ngrams: tuple[int, int],
) -> sp.csr_matrix:
    """A (len(docs), 2^char_bits + 2^word_bits) matrix of hashed n-gram features.

    ``docs`` are cleaned notes, as a list or an Arrow string array (a null reads as an
    empty note).
    """
    n_docs = len(docs)
    width_c, width_w = 2**char_bits, 2**word_bits
    width = width_c + width_w
    if n_docs == 0:
        return sp.csr_matrix((0, width), dtype=np.float32)
    raw, starts = padded(docs)
    total = len(raw)
    # Each (note, column) pair as one integer key, note in the high bits: sorted, the
    # keys are the matrix's entries in CSR order.
    col_bits = int(width - 1).bit_length()
    kt = np.uint32 if n_docs.bit_length() + col_bits <= 32 else np.uint64
    doc_key = np.repeat(np.arange(n_docs, dtype=kt) << np.array(col_bits, kt), np.diff(starts))
    keys: list[np.ndarray] = []

    pw, pinv = _powers(total + 1)
    with np.errstate(over="ignore"):
        prefix = np.zeros(total + 1, dtype=np.uint64)
        np.cumsum((raw.astype(np.uint64) + np.uint64(1)) * pw[:total], out=prefix[1:])

        # Character n-grams: every window inside one note (the newline is excluded).
        # room[a]: how many bytes from a to its note's newline.
        room = np.repeat(starts[1:] - 1, np.diff(starts)) - np.arange(total, dtype=np.int64)
        for n in range(char_ngrams[0], char_ngrams[1] + 1):
            m = total - n + 1
            if m <= 0:
                break
            ok = room[:m] >= n
            h = ((prefix[n:] - prefix[:m]) * pinv[:m])[ok]
            keys.append(doc_key[:m][ok] | _column(h, char_bits).astype(kt))

        # Words: runs of token bytes.
        tok = _TOKEN[raw]
        edge = np.diff(np.concatenate(([False], tok, [False])).astype(np.int8))
        w_start = np.flatnonzero(edge == 1)
        w_end = np.flatnonzero(edge == -1)
        w_key = doc_key[w_start]
        w_hash = (prefix[w_end] - prefix[w_start]) * pinv[w_start] + _SALT_WORD
        lo, hi = word_ngrams
        offset = np.uint64(width_c)
        if lo <= 1 <= hi:
            keys.append(w_key | (_column(w_hash, word_bits) + offset).astype(kt))
        for n in range(max(lo, 2), hi + 1):
            if len(w_hash) < n:
                break
            m = len(w_hash) - n + 1
            same = w_key[:m] == w_key[n - 1 :]
            h = w_hash[:m].copy()
            for k in range(1, n):
                h = h * _PAIR + w_hash[k : m + k]
            keys.append(w_key[:m][same] | (_column(h[same], word_bits) + offset).astype(kt))
    return _matrix(np.concatenate(keys), n_docs, col_bits, width_c, width)


def _matrix(
    keys: np.ndarray, n_docs: int, col_bits: int, width_c: int, width: int
) -> sp.csr_matrix:
    """The binary, per-block L2-normalised matrix from unsorted (note, column) keys."""
    kt = keys.dtype.type
    keys.sort()
    if len(keys):
        keep = np.empty(len(keys), dtype=bool)
        keep[0] = True
        np.not_equal(keys[1:], keys[:-1], out=keep[1:])
        keys = keys[keep]
    # Where each note's characters, and then its words, begin among the sorted keys.
    first = np.arange(n_docs + 1, dtype=kt) << kt(col_bits)
    at = np.searchsorted(keys, first)
    at_w = np.searchsorted(keys, first[:-1] | kt(width_c))
    nnz_c = at_w - at[:-1]
    nnz_w = at[1:] - at_w
    # As the per-block matrices were: 1 / sqrt(entries in the note's block), in float32.
    norms = np.sqrt(np.maximum(np.stack([nnz_c, nnz_w], axis=1), 1)).astype(np.float32)
    data = np.repeat(np.float32(1.0) / norms.ravel(), np.stack([nnz_c, nnz_w], axis=1).ravel())
    index_type = np.int32 if len(keys) < 2**31 else np.int64
    cols = (keys & kt((1 << col_bits) - 1)).astype(index_type)
    return sp.csr_matrix((data, cols, at.astype(index_type)), shape=(n_docs, width))
