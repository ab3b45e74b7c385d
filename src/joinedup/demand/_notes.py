"""Notes as Arrow string arrays: cleaned, and their words counted, a batch at a time.

The text model reads millions of notes; a Python loop per note (a regular expression
here, a set lookup there) cost more than the model itself. Here a batch is cleaned with
Arrow's compute functions and a byte table in NumPy, and its words are cut from the
UTF-8 bytes and looked up in the vocabulary with Arrow's hash set, giving what
:func:`joinedup.demand._text.clean` and a loop over ``_WORD.findall`` give, note for note.

What Arrow would do differently from Python is routed back to Python rather than
approximated: a note with HTML (``<``) or an entity (``&``), or with a character that
Python lower-cases, reads as a space or as a digit (Python's ``lower``, ``\\s`` and
``\\d`` know all of Unicode; the vectorised path folds ASCII only). Those are few, and
:func:`clean` cleans them one by one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from joinedup.demand._hashing import padded, utf8_bytes

#: Python's ``\s`` within ASCII (``str.isspace``: tab to carriage return, the four
#: separators 0x1C to 0x1F, and space).
_SPACE = np.zeros(256, dtype=bool)
_SPACE[[9, 10, 11, 12, 13, 28, 29, 30, 31, 32]] = True
#: Byte for byte: a space character to a space, ASCII upper case to lower case, and
#: every digit to 0.
_FOLD = np.arange(256, dtype=np.uint8)
_FOLD[ord("A") : ord("Z") + 1] += 32
_FOLD[ord("0") : ord("9") + 1] = ord("0")
_FOLD[_SPACE] = ord(" ")
_APOSTROPHE = ord("'")


def as_notes(texts: Sequence[Any] | pa.Array | pa.ChunkedArray) -> pa.Array:
    """Notes as one Arrow string array: None and NaN become null, anything else not a
    string becomes its ``str``, as :func:`clean` reads them."""
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    if isinstance(texts, pa.Array):
        return texts.cast(pa.large_string())
    return pa.array(
        [
            t
            if t is None or isinstance(t, str)
            else (None if isinstance(t, float) and t != t else str(t))
            for t in texts
        ],
        pa.large_string(),
    )


def _python_only(notes: pa.Array) -> np.ndarray:
    """Which notes the vectorised cleaning would not clean exactly as Python does."""
    data, at = utf8_bytes(notes)
    flagged = np.flatnonzero((data == ord("<")) | (data == ord("&")))
    slow = np.zeros(len(notes), dtype=bool)
    slow[np.searchsorted(at, flagged, side="right") - 1] = True
    # Bytes of non-ASCII characters are all >= 0x80, so these are whole characters.
    wide = data[data >= 0x80].tobytes().decode("utf-8")
    odd = sorted(c for c in set(wide) if c.lower() != c or c.isspace() or c.isdigit())
    if odd:
        klass = "[" + "".join(f"\\x{{{ord(c):x}}}" for c in odd) + "]"
        slow |= pc.match_substring_regex(notes, klass).to_numpy(zero_copy_only=False)
    return slow


def _spaces(data: np.ndarray) -> np.ndarray:
    """Which bytes are Python spaces (``_SPACE``), by comparisons: faster than a table."""
    out: np.ndarray = (data == 32) | ((data >= 9) & (data <= 13)) | ((data >= 28) & (data <= 31))
    return out


def _clean_fast(text: pa.Array) -> pa.Array:
    """clean() for notes with no HTML, entity or odd character: ``s[:12_000]``, runs of
    spaces to one space, stripped, lower-cased, digits to 0; on the bytes."""
    text = pc.utf8_slice_codeunits(text, 0, 12_000)
    data, at = utf8_bytes(text)
    full = at[:-1] < at[1:]
    starts, ends = at[:-1][full], at[1:][full] - 1  # first and last byte of each note
    space = _spaces(data)
    # A space goes when it follows a space of the same note, or begins or ends a note
    # (for a trailing run: its first space, the one the rest would have left).
    repeat = space.copy()
    repeat[:1] = False
    repeat[1:] &= space[:-1]
    repeat[starts] = False
    drop = [np.flatnonzero(repeat), starts[space[starts]]]
    trailing = ends[space[ends]]
    if len(trailing):
        last_word = np.maximum.accumulate(np.where(space, -1, np.arange(len(data))))
        first = starts[np.searchsorted(starts, trailing, "right") - 1]
        drop.append(np.maximum(last_word[trailing] + 1, first))
    gone = np.unique(np.concatenate(drop))
    if len(gone):
        keep = np.ones(len(data), dtype=bool)
        keep[gone] = False
        data = data[keep]
        lost = np.bincount(np.searchsorted(at, gone, "right") - 1, minlength=len(text))
        at = at - np.concatenate(([0], np.cumsum(lost)))
    return pa.Array.from_buffers(
        pa.large_string(),
        len(text),
        [None, pa.py_buffer(at), pa.py_buffer(np.take(_FOLD, data))],
    )


def clean_notes(notes: pa.Array, clean: Callable[[object], str]) -> pa.Array:
    """``[clean(t) for t in notes]`` as an Arrow array (a null note cleans to "")."""
    notes = pc.fill_null(notes.cast(pa.large_string()), "")
    slow = _python_only(notes)
    if not slow.any():
        return _clean_fast(notes)
    fast_at, slow_at = np.flatnonzero(~slow), np.flatnonzero(slow)
    done = pa.array([clean(t) for t in notes.take(slow_at).to_pylist()], pa.large_string())
    order = np.empty(len(notes), dtype=np.int64)
    order[np.concatenate([fast_at, slow_at])] = np.arange(len(notes))
    return pa.concat_arrays([_clean_fast(notes.take(fast_at)), done]).take(order)


def count_words(cleaned: pa.Array, vocab: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """For each cleaned note, how many words of more than one letter it has and how many
    of those are in ``vocab``; a word as ``[a-z]+(?:'[a-z]+)?`` finds it, scanning from
    the left."""
    raw, starts = padded(cleaned)
    n = len(cleaned)
    letter = (raw >= ord("a")) & (raw <= ord("z"))
    edge = np.diff(np.concatenate(([False], letter, [False])).astype(np.int8))
    s = np.flatnonzero(edge == 1)  # runs of letters: [s, e)
    e = np.flatnonzero(edge == -1)
    if len(s) == 0:
        return np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    # A run followed by one apostrophe and another run makes one word with it; in a
    # chain of such runs the scan pairs them from the left: (1, 2), (3, 4), ...
    link = np.zeros(len(s), dtype=bool)
    link[:-1] = (s[1:] == e[:-1] + 1) & (raw[np.minimum(e[:-1], len(raw) - 1)] == _APOSTROPHE)
    idx = np.arange(len(s))
    chain = np.maximum.accumulate(np.where(np.concatenate(([True], ~link[:-1])), idx, 0))
    head = (idx - chain) % 2 == 0
    end = np.where(head & link, np.append(e[1:], 0), e)
    w_s, w_e = s[head], end[head]
    long = w_e - w_s > 1
    w_s, w_e = w_s[long], w_e[long]
    doc = np.searchsorted(starts, w_s, side="right") - 1
    # The words' bytes, one after another, as an Arrow string array.
    size = w_e - w_s
    offsets = np.zeros(len(size) + 1, dtype=np.int64)
    np.cumsum(size, out=offsets[1:])
    at = np.repeat(w_s - offsets[:-1], size) + np.arange(int(offsets[-1]), dtype=np.int64)
    words = pa.Array.from_buffers(
        pa.large_string(),
        len(size),
        [None, pa.py_buffer(offsets), pa.py_buffer(raw[at].tobytes())],
    )
    known = pc.is_in(words, value_set=vocab).to_numpy(zero_copy_only=False)
    return np.bincount(doc, minlength=n), np.bincount(doc[known], minlength=n)
