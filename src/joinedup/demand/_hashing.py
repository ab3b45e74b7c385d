"""Hashed character and word n-grams for a batch of notes, vectorised with NumPy.

scikit-learn's ``HashingVectorizer`` builds n-grams in a Python loop per note (about
3,500 notes/s for character n-grams here); a million notes in two minutes needs several
times that. Here every n-gram of a whole batch is hashed at once from polynomial prefix
hashes of the batch's UTF-8 bytes:

    H[i] = sum_{j<i} (b_j + 1) * P^j            (mod 2^64, NumPy's wrapping uint64)
    hash(a, b) = (H[b] - H[a]) * P^(-a)         (P odd, so P^(-1) mod 2^64 exists)

which gives the same value for the same bytes wherever they sit, in O(1) per n-gram
(Karp–Rabin fingerprints). Words are maximal runs of letters, digits and apostrophes
(and any non-ASCII byte); a word bigram combines its two words' hashes. The top bits of
a mixed hash pick the column. Each block (characters, words) is binary and has unit
length per note, as ``HashingVectorizer(binary=True, norm="l2")`` would give.
"""

from __future__ import annotations

import numpy as np
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
    return (x >> np.uint64(64 - bits)).astype(np.int64)


def _block(rows: np.ndarray, cols: np.ndarray, n_docs: int, width: int) -> sp.csr_matrix:
    """Binary, row-normalised (L2) sparse block from (row, column) pairs."""
    m = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(n_docs, width))
    m.sum_duplicates()
    m.data[:] = 1.0
    nnz = np.diff(m.indptr)
    norms = np.sqrt(np.maximum(nnz, 1)).astype(np.float32)
    m.data /= np.repeat(norms, nnz)
    return m


def hashed_ngrams(
    docs: list[str],
    *,
    char_bits: int,
    word_bits: int,
    char_ngrams: tuple[int, int],
    word_ngrams: tuple[int, int],
) -> sp.csr_matrix:
    """A (len(docs), 2^char_bits + 2^word_bits) matrix of hashed n-gram features."""
    n_docs = len(docs)
    width_c, width_w = 2**char_bits, 2**word_bits
    if n_docs == 0:
        return sp.csr_matrix((0, width_c + width_w), dtype=np.float32)
    # Each note is padded with a space either side and followed by a newline that no
    # n-gram may cross.
    enc = [f" {d} ".encode() for d in docs]
    lengths = np.fromiter((len(e) + 1 for e in enc), dtype=np.int64, count=n_docs)
    raw = np.frombuffer(b"\n".join(enc) + b"\n", dtype=np.uint8)
    total = len(raw)
    starts = np.zeros(n_docs + 1, dtype=np.int64)
    np.cumsum(lengths, out=starts[1:])
    doc_of = np.repeat(np.arange(n_docs, dtype=np.int64), lengths)

    pw, pinv = _powers(total + 1)
    with np.errstate(over="ignore"):
        prefix = np.zeros(total + 1, dtype=np.uint64)
        np.cumsum((raw.astype(np.uint64) + np.uint64(1)) * pw[:total], out=prefix[1:])

        def span(a: np.ndarray, b: np.ndarray) -> np.ndarray:
            out: np.ndarray = (prefix[b] - prefix[a]) * pinv[a]
            return out

        # Character n-grams: every window inside one note (the newline is excluded).
        rows_c: list[np.ndarray] = []
        cols_c: list[np.ndarray] = []
        last = starts[1:] - 1  # index of each note's newline
        for n in range(char_ngrams[0], char_ngrams[1] + 1):
            a = np.arange(total - n + 1, dtype=np.int64)
            ok = a + n <= last[doc_of[a]]
            a = a[ok]
            rows_c.append(doc_of[a])
            cols_c.append(_column(span(a, a + n), char_bits))
        char = _block(np.concatenate(rows_c), np.concatenate(cols_c), n_docs, width_c)

        # Words: runs of token bytes.
        tok = _TOKEN[raw]
        edge = np.diff(np.concatenate(([False], tok, [False])).astype(np.int8))
        w_start = np.flatnonzero(edge == 1)
        w_end = np.flatnonzero(edge == -1)
        w_doc = doc_of[w_start] if len(w_start) else np.zeros(0, dtype=np.int64)
        w_hash = span(w_start, w_end) + _SALT_WORD
        rows_w: list[np.ndarray] = []
        cols_w: list[np.ndarray] = []
        lo, hi = word_ngrams
        if lo <= 1 <= hi:
            rows_w.append(w_doc)
            cols_w.append(_column(w_hash, word_bits))
        for n in range(max(lo, 2), hi + 1):
            if len(w_hash) < n:
                break
            same = w_doc[: len(w_doc) - n + 1] == w_doc[n - 1 :]
            h = w_hash[: len(w_hash) - n + 1].copy()
            for k in range(1, n):
                h = h * _PAIR + w_hash[k : len(w_hash) - n + 1 + k]
            rows_w.append(w_doc[: len(w_doc) - n + 1][same])
            cols_w.append(_column(h[same], word_bits))
        if rows_w:
            word = _block(np.concatenate(rows_w), np.concatenate(cols_w), n_docs, width_w)
        else:
            word = sp.csr_matrix((n_docs, width_w), dtype=np.float32)
    return sp.hstack([char, word], format="csr")
