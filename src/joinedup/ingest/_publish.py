"""The quality report as it may be shown outside the secure setting.

The quality report counts records of one organisation's export (3 rows with an
impossible date). It is that organisation's to see in full; shown to anyone else, or
written where others may read it, its counts pass the agreement's output rules: a count
below the threshold is withheld (the ``[c]`` marker) and the others are rounded to the
base. The measures are separate counts, not cells of one table that add up to a
published total, so there is nothing for secondary suppression to protect.

Two departures from the rules for tables of people, each because the figure says
nothing about any person:

- a **zero** is shown: "no record failed this check" is a statement about the export;
  withholding it would make a clean column look like a broken one;
- **timeliness** is shown as measured: it is a judgement on the delivery (its newest
  record's date), not a count of records.

The score is worked out again from the published counts, and the detail sentence (which
repeats the exact counts) is left out wherever a count is withheld or rounded.
"""

from __future__ import annotations

import math

import pyarrow as pa

from joinedup.governance import MARKER, Disclosed, OutputRules

__all__ = ["publish_quality"]


def _shown(n: int, rules: OutputRules) -> int | None:
    if n == 0:
        return 0
    if n < rules.threshold:
        return None
    return int(math.floor(n / rules.rounding_base + 0.5) * rules.rounding_base)


def publish_quality(report: pa.Table, *, rules: OutputRules | None = None) -> Disclosed:
    """The quality report (as :func:`joinedup.ingest.quality` returns it) with its counts
    under disclosure control, and the footnotes to print with it.

    ``failed`` and ``checked`` are null where withheld, with ``failed_marker`` and
    ``checked_marker`` holding ``[c]``; ``score`` is recomputed from what is shown.
    """
    rules = rules or OutputRules()
    rows = report.to_pylist()
    withheld = 0
    failed_m: list[str | None] = []
    checked_m: list[str | None] = []
    for r in rows:
        if r["dimension"] == "timeliness":
            failed_m.append(None)
            checked_m.append(None)
            continue
        f, c = _shown(r["failed"], rules), _shown(r["checked"], rules)
        exact = f == r["failed"] and c == r["checked"]
        withheld += (f is None) + (c is None)
        failed_m.append(MARKER if f is None else None)
        checked_m.append(MARKER if c is None else None)
        r["failed"], r["checked"] = f, c
        r["score"] = None if f is None or not c else max(0.0, 1 - f / c)
        if not exact:
            r["detail"] = None
    fields = list(report.schema)
    at = report.schema.get_field_index("checked") + 1
    fields[at:at] = [
        pa.field("failed_marker", pa.string()),
        pa.field("checked_marker", pa.string()),
    ]
    for r, fm, cm in zip(rows, failed_m, checked_m, strict=True):
        r["failed_marker"], r["checked_marker"] = fm, cm
    schema = pa.schema([f.with_nullable(True) for f in fields])
    table = pa.Table.from_pylist(rows, schema=schema)
    notes = [
        f"{MARKER} confidential: a count of records under {rules.threshold} is withheld "
        f"({withheld} value{'s' if withheld != 1 else ''} withheld). Zeros are shown: they say "
        "no record failed a check."
    ]
    if rules.rounding_base > 1:
        notes.append(
            f"Counts are rounded to the nearest {rules.rounding_base}; scores are worked out "
            "from the rounded counts."
        )
    return Disclosed(table, notes)
