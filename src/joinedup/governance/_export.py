"""Writing a table of figures to a file, through disclosure control, into the audit log.

:func:`write_disclosed` is the one call a stage needs to publish counts and money as CSV,
Parquet or JSON: it runs :func:`joinedup.governance.disclose`, writes the safe table with
its footnotes, and appends an ``export`` entry (who, which file, how many values were
withheld, whether control was on) to the workspace's audit log. Turning control off
needs the audit log and, for a :class:`User`, an administrator's role; it is recorded as
``disclosure.off`` as well.

Footnotes travel with the table: beside a CSV file as ``<name>.notes.txt`` (a CSV file
has nowhere else to hold them, and a line of text inside it would break every reader),
inside a Parquet file's schema metadata (key ``joinedup.notes``), and inside a JSON
file's ``notes``.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal, NamedTuple

import pyarrow as pa
import pyarrow.parquet as pq

from joinedup.governance._agreement import OutputRules
from joinedup.governance._audit import AuditLog
from joinedup.governance._disclosure import MARKER, disclose
from joinedup.governance._errors import DisclosureError
from joinedup.governance._policy import User

__all__ = ["NOTES_KEY", "Exported", "write_disclosed"]

#: Parquet schema-metadata key holding the footnotes (a JSON list of strings).
NOTES_KEY = b"joinedup.notes"
_FORMATS = {".csv": "csv", ".parquet": "parquet", ".json": "json"}
#: Text a spreadsheet would run as a formula (CSV injection, OWASP); such cells are
#: written with a leading apostrophe. The same rule as the quarantine export's.
_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n", "|", "%")


class Exported(NamedTuple):
    """What :func:`write_disclosed` wrote."""

    path: Path
    #: the footnotes' own file (CSV), else None: they are inside ``path``
    notes_path: Path | None
    table: pa.Table
    notes: list[str]
    #: cells withheld (each cell counted once, whatever its number of value columns)
    withheld: int


def write_disclosed(
    table: pa.Table,
    path: Path | str,
    *,
    audit: AuditLog | None,
    by: Sequence[str],
    counts: Sequence[str] = (),
    money: Sequence[str] = (),
    units: str | None = None,
    keep: Sequence[str] = (),
    rests_on: Mapping[str, Sequence[str]] | None = None,
    rules: OutputRules | None = None,
    totals: bool = False,
    enabled: bool = True,
    who: str | User | None = None,
    notes: Sequence[str] = (),
) -> Exported:
    """Disclosure-control ``table`` and write it to ``path`` (``.csv``, ``.parquet`` or
    ``.json``), recording the export in ``audit``.

    ``by``, ``counts``, ``money``, ``units``, ``rules``, ``totals``, ``keep`` and
    ``rests_on`` are as for :func:`disclose` (``keep``: other statistics of the same
    cells, such as a median duration, withheld wherever the cell is). ``enabled=False`` is the
    ``--no-disclosure-control`` flag. ``notes`` are footnotes of the caller's own, written
    after those of disclosure control. ``audit=None`` is only for figures of data from
    outside any workspace (an event log file given to ``journeys dfg``): nothing is
    recorded then, and control cannot be turned off.

    CSV is written for people: withheld values are the marker ``[c]`` in place and text
    that a spreadsheet would run as a formula is escaped. Parquet and JSON keep value
    columns numeric (null where withheld) with a ``<column>_marker`` column beside each.
    """
    path = Path(path)
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise DisclosureError(
            f"{path}: write figures as .csv, .parquet or .json, not {path.suffix or 'no suffix'}"
        )
    markers: Literal["column", "inline"] = "inline" if fmt == "csv" else "column"
    # With control on, the export entry below says what disclose() did: no second entry.
    safe, notes_of_control = disclose(
        table,
        by=by,
        counts=counts,
        money=money,
        units=units,
        rules=rules,
        totals=totals,
        markers=markers,
        enabled=enabled,
        audit=None if enabled else audit,
        who=who,
        output=None if enabled else str(path),
        keep=keep,
        rests_on=rests_on,
    )
    footnotes = [*notes_of_control, *notes]
    withheld = _withheld(safe, [*counts, *money], markers) if enabled else 0
    user = who.username if isinstance(who, User) else who
    path.parent.mkdir(parents=True, exist_ok=True)
    notes_path = None
    if fmt == "csv":
        _write_csv(safe, path)
        notes_path = path.with_suffix(".notes.txt")
        notes_path.write_text("".join(n + "\n" for n in footnotes), encoding="utf-8")
    elif fmt == "parquet":
        meta = dict(safe.schema.metadata or {})
        meta[NOTES_KEY] = json.dumps(footnotes).encode()
        pq.write_table(safe.replace_schema_metadata(meta), path)
    else:
        doc = {"notes": footnotes, "columns": safe.column_names, "rows": safe.to_pylist()}
        path.write_text(json.dumps(doc, default=str, indent=1) + "\n", encoding="utf-8")
    if audit is None:
        return Exported(path, notes_path, safe, footnotes, withheld)
    audit.append(
        user,
        "export",
        {
            "output": str(path),
            "format": fmt,
            "rows": safe.num_rows,
            "by": by,
            "columns": [*counts, *money, *keep],
            "disclosure_control": enabled,
            "withheld": withheld,
            **({"rules": (rules or OutputRules()).model_dump()} if enabled else {}),
        },
    )
    return Exported(path, notes_path, safe, footnotes, withheld)


def _withheld(safe: pa.Table, values: list[str], markers: str) -> int:
    if not values:
        return 0
    col = values[0] if markers == "inline" else values[0] + "_marker"
    return sum(1 for v in safe.column(col).to_pylist() if v == MARKER)


def _cell_text(value: object) -> object:
    if isinstance(value, str) and value.startswith(_TRIGGERS):
        return "'" + value
    return value


def _write_csv(table: pa.Table, path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow([_cell_text(c) for c in table.column_names])
        for batch in table.to_batches():
            for row in batch.to_pylist():
                out.writerow(["" if v is None else _cell_text(v) for v in row.values()])
