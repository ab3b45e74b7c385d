"""The text model's reading of a workspace's notes: each distinct note once, in batches,
in this process or in worker processes.

A batch's reading is an Arrow record batch (the note's number, the text's category,
type and best guess, its confidences rounded as the demand table stores them, and the
organisations the note names), so a worker hands back a few columns of numbers and
short strings, never a Python object per note.
"""

from __future__ import annotations

import multiprocessing
import re
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from joinedup.demand._settings import DemandSettings
from joinedup.demand._text import TextModel
from joinedup.engine import Engine

_BATCH = 50_000


def alias_patterns(settings: DemandSettings) -> list[tuple[str, str]]:
    return [
        (org, r"\b(?:" + "|".join(re.escape(a) for a in names) + r")\b")
        for org, names in settings.org_aliases.items()
        if names
    ]


def _named(notes: pa.Array, settings: DemandSettings) -> tuple[np.ndarray, np.ndarray]:
    """:func:`named_orgs` with each organisation as its position in the settings."""
    text = pc.utf8_slice_codeunits(pc.utf8_lower(notes.cast(pa.string())), 0, 3000)
    rows: list[np.ndarray] = []
    orgs: list[np.ndarray] = []
    for k, (_org, pattern) in enumerate(alias_patterns(settings)):
        hit = pc.fill_null(pc.match_substring_regex(text, pattern), False)
        found = np.flatnonzero(hit.to_numpy(zero_copy_only=False))
        rows.append(found)
        orgs.append(np.full(len(found), k, dtype=np.int32))
    if not rows:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int32)
    # In note order, and within a note in the settings' order, as a loop over notes gives.
    idx = np.concatenate(rows)
    order = np.argsort(idx, kind="stable")
    return idx[order], np.concatenate(orgs)[order]


def named_orgs(notes: pa.Array, settings: DemandSettings) -> tuple[np.ndarray, list[str]]:
    """Which organisations each note names (by the aliases in the settings): the indices
    of the notes and the organisation each names, a pair per mention. Matched on the
    lower-cased first 3,000 characters of the whole batch at once (Arrow's RE2: a word
    boundary is between an ASCII letter, digit or underscore and anything else)."""
    at, org = _named(notes, settings)
    names = [o for o, _ in alias_patterns(settings)]
    return at, [names[k] for k in org.tolist()]


def _round4(x: np.ndarray) -> np.ndarray:
    """``round(v, 4)`` for each value, as Python rounds (half to even on the exact
    binary value). ``rint(v * 10^4) / 10^4`` gives the same except where ``v * 10^4``
    is within rounding error of a half: those few go through Python."""
    y = x * 1e4
    out: np.ndarray = np.rint(y) / 1e4
    near = np.flatnonzero(np.abs(y - np.floor(y) - 0.5) < 1e-6)
    out[near] = [round(v, 4) for v in x[near].tolist()]
    return out


@dataclass(frozen=True)
class Reader:
    """What a process needs to read batches of notes: the model and the settings."""

    model: TextModel
    settings: DemandSettings

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """The text's verdict on each distinct note of the batch, and the organisations
        each names (as a list of positions in the settings' aliases)."""
        s, m = self.settings, self.model
        notes = batch.column("note")
        r = m.read(
            notes, threshold=s.threshold, type_threshold=s.type_threshold, min_known=s.min_known
        )
        failure = r.demand_type == r.types.index("failure")
        at, org = _named(notes, s)
        mentions = np.bincount(at, minlength=len(notes))
        offsets = np.zeros(len(notes) + 1, dtype=np.int32)
        np.cumsum(mentions, out=offsets[1:])
        labels = pa.array(r.labels, pa.string())
        types = pa.array(r.types, pa.string())
        return pa.record_batch(
            {
                "note_id": batch.column("note_id"),
                "text_cat": labels.take(pa.array(r.category)),
                "text_type": types.take(pa.array(r.demand_type)),
                "text_best": labels.take(pa.array(r.best)),
                "confidence": _round4(r.confidence),
                # A rule's own confidence is 0.9; the text's, when it says failure and is
                # surer (rounding is monotone, so rounding first changes nothing).
                "rule_confidence": np.maximum(_round4(np.where(failure, r.confidence, 0.0)), 0.9),
                "refines": r.best_p >= s.text_refines_rule,
                "named": pa.ListArray.from_arrays(pa.array(offsets), pa.array(org)),
            }
        )


_READER: Reader | None = None


def _start_worker(reader: Reader) -> None:
    global _READER
    _READER = reader


def _work(batch: pa.RecordBatch) -> pa.RecordBatch:
    assert _READER is not None
    return _READER(batch)


def read_notes(
    eng: Engine,
    reader: Reader,
    workers: int,
    progress: Callable[[int, int], None] | None,
    total: int,
) -> pa.Table:
    """Every distinct note's reading, from ``_demand_notes``, in one process or several."""
    batches = eng.to_batches(eng.table("_demand_notes"), batch_size=_BATCH)
    out: list[pa.RecordBatch] = []
    done = 0

    def keep(b: pa.RecordBatch) -> None:
        nonlocal done
        out.append(b)
        done += b.num_rows
        if progress:
            progress(done, total)

    if workers == 1:
        for batch in batches:
            keep(reader(batch))
    else:
        # Spawned, not forked: the engine's threads must not be copied mid-query.
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, ctx, _start_worker, (reader,)) as pool:
            for b in _in_order(pool, batches, 2 * workers):
                keep(b)
    schema = out[0].schema if out else reader(_empty_notes()).schema
    return pa.Table.from_batches(out, schema=schema)


def _in_order(
    pool: ProcessPoolExecutor, batches: Iterator[pa.RecordBatch], ahead: int
) -> Iterator[pa.RecordBatch]:
    """The pool's results for ``batches``, with at most ``ahead`` batches in flight (so
    the notes waiting in memory stay few)."""
    waiting: list[Future[pa.RecordBatch]] = []
    for batch in batches:
        waiting.append(pool.submit(_work, batch))
        if len(waiting) >= ahead:
            yield waiting.pop(0).result()
    for f in waiting:
        yield f.result()


def _empty_notes() -> pa.RecordBatch:
    return pa.record_batch({"note_id": pa.array([], pa.int64()), "note": pa.array([], pa.string())})
