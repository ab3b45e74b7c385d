"""Pick the contacts an analyst should label next: those the model is least sure of.

Uncertainty sampling by margin: the smaller the gap between the model's two most
probable categories, the more one label teaches it. Identical notes are offered once,
and notes the model cannot read at all (empty, another language) are left out: a label
on them would not teach the English model anything.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from joinedup.demand._settings import DemandSettings
from joinedup.demand._text import TextModel, clean, load_model
from joinedup.workspace import Workspace

COLUMNS = ("event_id", "org", "channel", "note", "suggested", "confidence", "margin", "category")
_BATCH = 50_000


def review_sample(
    ws: Workspace,
    out: Path | str,
    *,
    n: int = 50,
    model: TextModel | None = None,
    settings: DemandSettings | None = None,
) -> int:
    """Write the ``n`` most uncertain contacts to ``out`` (CSV, with an empty ``category``
    column to fill in); returns how many were written."""
    s = settings or DemandSettings()
    m = model or load_model()
    eng = ws.engine
    expr = eng.sql(
        "SELECT event_id, org, channel, note FROM events "
        "WHERE direction = 'in' AND note IS NOT NULL ORDER BY event_id"
    )
    best: dict[str, tuple[float, list[object]]] = {}
    for batch in eng.to_batches(expr, batch_size=_BATCH):
        notes = batch.column("note").to_pylist()
        cleaned = [clean(t) for t in notes]
        p = m.proba(cleaned)
        ok = m.readable(cleaned, s.min_known)
        if len(notes) == 0:
            continue
        top2 = np.sort(p, axis=1)[:, -2:]
        margin = top2[:, 1] - top2[:, 0]
        arg = p.argmax(axis=1)
        ids = batch.column("event_id").to_pylist()
        orgs = batch.column("org").to_pylist()
        chans = batch.column("channel").to_pylist()
        for i in np.argsort(margin)[: 4 * n]:
            if not ok[i] or cleaned[i] in best:
                continue
            row = [
                ids[i],
                orgs[i],
                chans[i],
                notes[i],
                m.classes[int(arg[i])],
                round(float(top2[i, 1]), 3),
                round(float(margin[i]), 3),
                "",
            ]
            best[cleaned[i]] = (float(margin[i]), row)
    chosen = sorted(best.values(), key=lambda mr: mr[0])[:n]
    with Path(out).open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(COLUMNS)
        w.writerows(row for _, row in chosen)
    return len(chosen)
