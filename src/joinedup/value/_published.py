"""The value stage's figures as they may leave the workspace: through disclosure control.

The ledger's tables stay in the workspace. What is written or printed for people to read
— the cost-shunting heat map and printout, the ledger and what-if printouts, the deal
sheet — passes :func:`joinedup.governance.disclose` under the output rules (the
defaults, or an agreement's): a count under the threshold, and any count that would let
one be worked out from the totals, is withheld as ``[c]`` with a footnote, and the other
counts are rounded. An amount of money is shown only where the count of contacts behind
it is shown: it is that count times unit costs, so it would give a withheld count away.

For the matrix the contributors behind the money are people (the dominance rule: two
people must not make up most of a cell's cost), counted in the engine, so that ten
million contacts never pass through Python; the table is the one
:func:`joinedup.governance.tabulate` makes from one row per contact.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import pyarrow as pa

from joinedup.engine import Engine
from joinedup.governance import MARKER, OutputRules, disclose
from joinedup.governance._disclosure import TOTAL
from joinedup.value._contacts import UNKNOWN, _lit
from joinedup.value._costs import UNITS_PER_GBP

#: The staged failure contacts per matrix cell, root cause and person (a temporary table).
FAILURES = "_value_failures"
#: How many causes each published matrix cell names.
TOP_CAUSES = 3

Cell = int | None


def failures_sql(contacts: str) -> str:
    """Failure contacts per causing and absorbing organisation, root cause and person
    (``n`` contacts, ``units`` of cost), from the priced contacts' SQL. A contact whose
    record is not linked counts as a person of its own record."""
    return f"""
    SELECT coalesce(c.caused_by_org, {_lit(UNKNOWN)}) AS caused_by_org,
           c.org AS absorbed_by_org,
           coalesce(c.cause, {_lit(UNKNOWN)}) AS cause,
           coalesce(l.person_id, c.org || '|' || coalesce(c.local_person_ref, c.event_id))
               AS person,
           count(*) AS n, CAST(sum(c.cost_units) AS BIGINT) AS units
    FROM ({contacts}) c
    LEFT JOIN (SELECT org, local_person_ref, min(person_id) AS person_id
               FROM links GROUP BY org, local_person_ref) l
      ON l.org = c.org AND l.local_person_ref = c.local_person_ref
    WHERE c.demand_type = 'failure'
    GROUP BY ALL
    """


def _cells_sql(contributors: int) -> str:
    # What governance.tabulate(by=[caused_by_org, absorbed_by_org], money=[cost_gbp],
    # unit=person) gives: contacts, people, cost and its largest contributions.
    return f"""
    WITH p AS (
        SELECT caused_by_org, absorbed_by_org, person, sum(n) AS n, sum(units) AS units,
               row_number() OVER (PARTITION BY caused_by_org, absorbed_by_org
                                  ORDER BY sum(units) DESC, person) AS rank
        FROM "{FAILURES}" GROUP BY caused_by_org, absorbed_by_org, person
    )
    SELECT caused_by_org, absorbed_by_org,
           CAST(sum(n) AS BIGINT) AS contacts,
           CAST(count(*) AS BIGINT) AS units,
           sum(units) / {UNITS_PER_GBP}.0 AS cost_gbp,
           coalesce(sum(units) FILTER (WHERE rank <= {contributors}), 0) / {UNITS_PER_GBP}.0
               AS cost_gbp_top
    FROM p GROUP BY caused_by_org, absorbed_by_org
    ORDER BY caused_by_org, absorbed_by_org
    """


_CAUSES_SQL = f"""
    SELECT caused_by_org, absorbed_by_org, cause,
           CAST(sum(n) AS BIGINT) AS contacts, CAST(count(DISTINCT person) AS BIGINT) AS people
    FROM "{FAILURES}" GROUP BY caused_by_org, absorbed_by_org, cause
    ORDER BY contacts DESC, cause
"""


@dataclass(frozen=True)
class MatrixCell:
    """One published cell of the cost-shunting matrix (``Total`` for a margin)."""

    caused_by_org: str
    absorbed_by_org: str
    contacts: Cell  # rounded; None where withheld
    cost_gbp: float | None  # None where withheld
    top_causes: tuple[str, ...]  # names only, each behind at least threshold contacts

    @property
    def withheld(self) -> bool:
        return self.contacts is None


@dataclass(frozen=True)
class PublishedMatrix:
    """The cost-shunting matrix under disclosure control, with its margins."""

    cells: tuple[MatrixCell, ...]
    notes: tuple[str, ...]
    unit_costs: str

    def to_arrow(self) -> pa.Table:
        return pa.Table.from_pylist(
            [
                {
                    "caused_by_org": c.caused_by_org,
                    "absorbed_by_org": c.absorbed_by_org,
                    "contacts": c.contacts,
                    "cost_gbp": c.cost_gbp,
                    "top_causes": "; ".join(c.top_causes),
                    "withheld": MARKER if c.withheld else None,
                }
                for c in self.cells
            ]
        )


def publish_matrix(engine: Engine, unit_costs: str, rules: OutputRules) -> PublishedMatrix:
    """Publish the matrix from the staged :data:`FAILURES` table."""
    cells = engine.to_arrow(engine.sql(_cells_sql(rules.dominance.contributors)))
    if cells.num_rows == 0:
        return PublishedMatrix((), (), unit_costs)
    safe = disclose(
        cells,
        by=["caused_by_org", "absorbed_by_org"],
        counts=["contacts"],
        money=["cost_gbp"],
        units="units",
        rules=rules,
        totals=True,
    )
    named: dict[tuple[str, str], list[str]] = {}
    for r in engine.to_arrow(engine.sql(_CAUSES_SQL)).to_pylist():
        # A cause is named only when enough contacts and people are behind it; its
        # count is never shown (the rest of the cell would be a small remainder).
        if r["contacts"] >= rules.threshold and r["people"] >= rules.threshold:
            named.setdefault((r["caused_by_org"], r["absorbed_by_org"]), []).append(r["cause"])
    out = []
    for r in safe.table.to_pylist():
        key = (r["caused_by_org"], r["absorbed_by_org"])
        shown = r["contacts"] is not None
        out.append(
            MatrixCell(
                caused_by_org=r["caused_by_org"],
                absorbed_by_org=r["absorbed_by_org"],
                contacts=r["contacts"],
                cost_gbp=r["cost_gbp"] if shown else None,
                top_causes=tuple(named.get(key, [])[:TOP_CAUSES]) if shown else (),
            )
        )
    return PublishedMatrix(tuple(out), tuple(safe.notes), unit_costs)


@dataclass(frozen=True)
class ByOrg:
    """Counts by organisation under disclosure control, with their total."""

    values: dict[str, Cell]
    total: Cell
    notes: tuple[str, ...]


def publish_by_org(counts: Mapping[str, int], rules: OutputRules) -> ByOrg:
    """One count per organisation (contacts that add up to a total), protected with
    their total: a small count is withheld, and so is another where the total would give
    it away.

    Stricter than :func:`~joinedup.governance.disclose` alone in one way: when the
    withheld counts together come to fewer than the threshold, the total is withheld
    too. The money printed beside these counts is exact, so the total's money less the
    shown organisations' would otherwise be a figure resting on too few contacts.
    """
    if not counts:
        return ByOrg({}, 0, ())
    table = pa.table(
        {
            "org": list(counts),
            "n": pa.array([int(v) for v in counts.values()], pa.int64()),
        }
    )
    safe = disclose(table, by=["org"], counts=["n"], rules=rules, totals=True)
    values: dict[str, Cell] = {}
    total: Cell = None
    for r in safe.table.to_pylist():
        if r["org"] == TOTAL:
            total = r["n"]
        else:
            values[r["org"]] = r["n"]
    hidden = sum(n for org, n in counts.items() if values.get(org) is None)
    if 0 < hidden < rules.threshold:
        total = None
    return ByOrg(values, total, tuple(safe.notes))


def publish_count(n: int, rules: OutputRules) -> Cell:
    """A single count: withheld under the threshold (zero included when the rules say
    so), else rounded to the base."""
    if n < rules.threshold and (n > 0 or rules.suppress_zeros):
        return None
    return int(math.floor(n / rules.rounding_base + 0.5) * rules.rounding_base)


def shown(value: Cell | float, fmt: str = "{:,}") -> str:
    """A published value as text: the number, or the withheld marker."""
    return MARKER if value is None else fmt.format(value)


_WITHHELD_NOTE = re.compile(r"^(.*) \((\d+) values? withheld\)\.$")


def merge_notes(notes: Iterable[str]) -> list[str]:
    """Footnotes of several protected tables as one list: repeats dropped, and the
    "withheld" notes made one (the widest reason, the counts summed)."""
    out: list[str] = []
    reason, withheld, at = "", 0, -1
    for note in notes:
        m = _WITHHELD_NOTE.match(note)
        if m is None:
            if note not in out:
                out.append(note)
            continue
        if at < 0:
            at = len(out)
            out.append("")
        if len(m.group(1)) > len(reason):
            reason = m.group(1)
        withheld += int(m.group(2))
    if at >= 0:
        out[at] = f"{reason} ({withheld} value{'s' if withheld != 1 else ''} withheld)."
    return out
