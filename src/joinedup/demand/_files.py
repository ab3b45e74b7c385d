"""Classify a file of notes with no workspace: copy its columns, add the labels."""

from __future__ import annotations

import csv
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from joinedup.demand._errors import DemandError
from joinedup.demand._settings import DemandSettings
from joinedup.demand._text import TextModel, load_model

ADDED = ("demand_type", "category", "confidence", "decided_by")
_CHUNK = 20_000

# Notes of 100 KB and more are legitimate in a CSV cell; the csv module's default cap
# (128 KB) would refuse them.
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


def _chunks(reader: Iterator[dict[str, str]], size: int) -> Iterator[list[dict[str, str]]]:
    chunk: list[dict[str, str]] = []
    for row in reader:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def classify_file(
    source: Path | str,
    out: Path | str,
    *,
    text_col: str = "note",
    model: TextModel | Path | str | None = None,
    settings: DemandSettings | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict[str, int]:
    """Write ``out``: every column of ``source`` plus demand_type, category, confidence
    and decided_by. Returns counts by category."""
    settings = settings or DemandSettings()
    m = model if isinstance(model, TextModel) else load_model(model)
    src = Path(source)
    if not src.is_file():
        raise DemandError(f"no input file at {src}")
    counts: dict[str, int] = {}
    done = 0
    with (
        src.open("r", encoding="utf-8-sig", newline="") as fin,
        Path(out).open("w", encoding="utf-8", newline="") as fout,
    ):
        reader = csv.DictReader(fin)
        cols = list(reader.fieldnames or [])
        if text_col not in cols:
            raise DemandError(
                f"{src}: no column {text_col!r}; columns are {', '.join(cols) or '(none)'} "
                "(choose one with --text-col)"
            )
        clash = [c for c in ADDED if c in cols]
        if clash:
            raise DemandError(f"{src} already has column(s) {', '.join(clash)}: rename them first")
        writer = csv.DictWriter(fout, fieldnames=[*cols, *ADDED])
        writer.writeheader()
        for chunk in _chunks(reader, _CHUNK):
            pred = m.predict(
                [r.get(text_col) or "" for r in chunk],
                threshold=settings.threshold,
                type_threshold=settings.type_threshold,
                min_known=settings.min_known,
            )
            for i, row in enumerate(chunk):
                row.pop(None, None)  # type: ignore[call-overload]  # extra cells of ragged rows
                row["demand_type"] = pred.demand_type[i]
                row["category"] = pred.category[i]
                row["confidence"] = f"{pred.confidence[i]:.3f}"
                row["decided_by"] = "model"
                counts[pred.category[i]] = counts.get(pred.category[i], 0) + 1
            writer.writerows(chunk)
            done += len(chunk)
            if progress:
                progress(done)
    return counts
