"""The report's figures as they may be published: through disclosure control.

Every table the report or the web service shows passes
:func:`joinedup.governance.disclose` (threshold, zeros, secondary suppression, rounding),
and the single figures (totals) are read from the protected tables' margins, so no page
shows a number the control would withhold. A withheld value is ``None`` here and is shown
as the marker with a footnote, never as a number.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

import pyarrow as pa

from joinedup.governance import MARKER, OutputRules, disclose
from joinedup.governance._disclosure import TOTAL
from joinedup.report._figures import Figures

Cell = int | None


@dataclass
class Published:
    """Disclosure-controlled figures: ``None`` where a value is withheld."""

    controlled: bool
    contacts: Cell
    actions: Cell
    person_records: Cell
    contacts_by_org: dict[str, Cell]
    contacts_by_channel: dict[str, Cell]
    contacts_by_org_channel: dict[str, dict[str, Cell]]
    records_by_org: dict[str, Cell]
    contacts_by_month: dict[str, dict[str, Cell]]
    quarantined: Cell
    quarantine_by_source: dict[str, dict[str, Cell]]
    notes: list[str] = field(default_factory=list)
    rules: OutputRules = field(default_factory=OutputRules)
    marker: str = MARKER
    #: Headline figures added by the later stages' sections (failure share, cost of
    #: failure demand, median days per need, needs met at first contact).
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["rules"] = self.rules.model_dump()
        return d

    def footnotes(self) -> list[str]:
        """The notes, with the per-table "(n values withheld)" notes made one, summed."""
        withheld = re.compile(r"^(.*) \((\d+) values? withheld\)\.$")
        out: list[str] = []
        totals: dict[str, int] = {}
        for note in self.notes:
            m = withheld.match(note)
            if m is None:
                out.append(note)
                continue
            if m.group(1) not in totals:
                out.append(m.group(1))
            totals[m.group(1)] = totals.get(m.group(1), 0) + int(m.group(2))
        return [
            f"{n} ({totals[n]} value{'s' if totals[n] != 1 else ''} withheld in all)."
            if n in totals
            else n
            for n in out
        ]


def grid(
    cells: dict[str, dict[str, int]], rules: OutputRules, enabled: bool
) -> tuple[dict[str, dict[str, Cell]], list[str]]:
    """A two-way table with its margins (key ``Total``), disclosure-controlled."""
    rows = [(a, b, n) for a, inner in cells.items() for b, n in inner.items()]
    if not rows:
        return {}, []
    table = pa.table(
        {
            "a": [r[0] for r in rows],
            "b": [r[1] for r in rows],
            "n": pa.array([r[2] for r in rows], pa.int64()),
        }
    )
    if not enabled:
        out: dict[str, dict[str, Cell]] = {TOTAL: {}}
        for a, b, n in rows:
            row, margin = out.setdefault(a, {}), out[TOTAL]
            row[b] = n
            row[TOTAL] = (row.get(TOTAL) or 0) + n
            margin[b] = (margin.get(b) or 0) + n
        out[TOTAL][TOTAL] = sum(r[2] for r in rows)
        return out, []
    safe = disclose(table, by=["a", "b"], counts=["n"], rules=rules, totals=True)
    out = {}
    for r in safe.table.to_pylist():
        out.setdefault(r["a"], {})[r["b"]] = r["n"]
    return out, safe.notes


def publish(fig: Figures, *, rules: OutputRules | None = None, enabled: bool = True) -> Published:
    """Apply disclosure control to the report's figures (``enabled=False`` only inside a
    secure setting: the caller must record that it was turned off)."""
    rules = rules or OutputRules()
    notes: list[str] = []

    def note(more: list[str]) -> None:
        notes.extend(n for n in more if n not in notes)

    by_oc, n1 = grid(fig.contacts_by_org_channel, rules, enabled)
    note(n1)
    # Organisations' own actions and person records, as a two-way table against a
    # single column, so they are protected the same way and have a margin.
    recs, n2 = grid({o: {"records": n} for o, n in fig.records_by_org.items()}, rules, enabled)
    note(n2)
    acts, n3 = grid({"all": {"actions": fig.actions}} if fig.actions else {}, rules, enabled)
    note(n3)
    monthly, n4 = grid(fig.contacts_by_month, rules, enabled)
    note(n4)
    quar, n5 = grid(fig.quarantine_by_source, rules, enabled)
    note(n5)

    def strip(grid: dict[str, dict[str, Cell]]) -> dict[str, dict[str, Cell]]:
        return {
            a: {b: v for b, v in inner.items() if b != TOTAL}
            for a, inner in grid.items()
            if a != TOTAL
        }

    total_row = by_oc.get(TOTAL, {})
    return Published(
        controlled=enabled,
        contacts=total_row.get(TOTAL) if by_oc else 0,
        actions=acts.get(TOTAL, {}).get(TOTAL) if acts else 0,
        person_records=recs.get(TOTAL, {}).get(TOTAL) if recs else 0,
        contacts_by_org={o: inner.get(TOTAL) for o, inner in by_oc.items() if o != TOTAL},
        contacts_by_channel={c: v for c, v in total_row.items() if c != TOTAL},
        contacts_by_org_channel=strip(by_oc),
        records_by_org={o: inner.get("records") for o, inner in recs.items() if o != TOTAL},
        contacts_by_month=strip(monthly),
        quarantined=quar.get(TOTAL, {}).get(TOTAL) if quar else 0,
        quarantine_by_source=strip(quar),
        notes=notes,
        rules=rules,
    )
